"""The package's layout, read from its source with the standard library's ``ast``: imports point down
the pipeline (no cycles, no import from a later stage), no private name crosses a module, and the
modules and functions stay small enough to read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "analysis"

#: The pipeline's stages, lowest first: a module may import its own stage and the stages before it.
#: ``params`` and the small shared modules are the floor; the command line and ``api`` the roof.
STAGES: tuple[tuple[str, ...], ...] = (
    ("analysis._common", "analysis._version", "analysis.numbers", "analysis.redact", "analysis.params"),
    ("analysis.schema",),
    ("analysis.engine",),
    ("analysis.loaders",),
    ("analysis.stats",),
    ("analysis.text",),
    ("analysis.scenarios",),
    ("analysis.investigation",),
    ("analysis.report",),
    ("analysis.prevention",),
    ("analysis.api", "analysis.cli", "analysis.__main__", "analysis"),
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _stage(module: str) -> int:
    best, best_len = None, -1
    for i, prefixes in enumerate(STAGES):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    assert best is not None, f"{module} belongs to no stage of the pipeline: add it to STAGES"
    return best


def _imports(modules: dict[str, Path]) -> dict[str, set[tuple[str, str, int]]]:
    """module -> {(imported module, imported name or '', line)} for the package's own modules."""
    out: dict[str, set[tuple[str, str, int]]] = {m: set() for m in modules}
    for m, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("analysis"):
                        out[m].add((a.name, "", node.lineno))
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("analysis"):
                for a in node.names:
                    target = f"{node.module}.{a.name}"
                    out[m].add((target, "", node.lineno) if target in modules else (node.module, a.name, node.lineno))
    return out


def test_imports_form_no_cycle() -> None:
    modules = _modules()
    graph = {m: {t for t, _, _ in deps if t in modules and t != m} for m, deps in _imports(modules).items()}
    # a package's __init__ re-exporting its modules is not an edge back into it
    graph = {m: {t for t in ts if not (m != "analysis" and t.startswith(m + "."))} for m, ts in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(u: str, stack: list[str]) -> None:
        state[u] = 1
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                cycles.append(stack[stack.index(v):] + [v])
            elif v not in state:
                visit(v, stack + [v])
        state[u] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_imports_point_down_the_pipeline() -> None:
    modules = _modules()
    upward = []
    for m, deps in _imports(modules).items():
        for target, _, line in deps:
            if target in ("analysis",):
                continue
            if _stage(target) > _stage(m):
                upward.append(f"{modules[m].relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert not upward, "imports from a later stage of the pipeline:\n" + "\n".join(sorted(upward))


def test_no_private_name_crosses_a_module() -> None:
    modules = _modules()
    crossing = []
    for m, deps in _imports(modules).items():
        for target, name, line in deps:
            leaf = name or target.rsplit(".", 1)[-1]
            if leaf.startswith("_") and not leaf.startswith("__") and leaf != "_common":
                crossing.append(f"{modules[m].relative_to(PACKAGE.parent)}:{line} imports {target}{'.' + name if name else ''}")
    assert not crossing, "private names imported across modules:\n" + "\n".join(sorted(crossing))


#: Public entry points whose keywords are a command's options (the loaders', the engine's, the
#: generators', the gate's and the statistics' own): they may take more than eight parameters.
ENTRY_POINTS = {
    "analysis.engine.base.window_aggregates", "analysis.loaders.convert.convert_events",
    "analysis.loaders.engine_events.open_events", "analysis.loaders.load.load_events",
    "analysis.prevention.gate.evaluate_gate", "analysis.scenarios.cases.generate", "analysis.scenarios.write.write_events",
    "analysis.scenarios.write.write_sample_data", "analysis.stats.changepoint.detect.detect",
    "analysis.stats.drift.scan.drift_scan", "analysis.stats.group_sequential.noninferiority_looks",
}


def _functions() -> list[tuple[str, str, ast.FunctionDef]]:
    out = []
    for m, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.append((m, str(path.relative_to(PACKAGE.parent)), node))
    return out


def test_no_module_is_over_800_lines() -> None:
    long = {str(p.relative_to(PACKAGE.parent)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 800}
    assert not long, long


def test_no_function_is_over_80_lines() -> None:
    long = [f"{path}:{f.lineno} {f.name} ({f.end_lineno - f.lineno + 1} lines)" for _, path, f in _functions()
            if f.end_lineno - f.lineno + 1 > 80]
    assert not long, "\n".join(long)


def test_no_function_takes_more_than_8_parameters_but_the_entry_points() -> None:
    many = []
    for m, path, f in _functions():
        a = f.args
        names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
        n = len(names) - (1 if names and names[0] in ("self", "cls") else 0)
        if n > 8 and f"{m}.{f.name}" not in ENTRY_POINTS:
            many.append(f"{path}:{f.lineno} {f.name} ({n} parameters)")
    assert not many, "\n".join(many)
