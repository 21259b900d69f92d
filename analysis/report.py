"""Running the notebooks and rendering their reports.

The notebooks in ``notebooks/`` are thin templates: a ``parameters`` cell, a validation cell that
calls :func:`validate_parameters`, then calls into :mod:`analysis`. This module holds what the
notebooks and the command line share:

* the notebook parameters (:data:`NOTEBOOK_PARAMETERS`) and their validation: papermill injects
  unknown and ill-typed parameters silently, so the validation cell rejects them with a clear
  message (:class:`ParameterError`);
* path resolution: relative input paths are looked up from the working directory, then from the
  repository root, so that the same defaults work from JupyterLab (cwd ``notebooks/``), papermill and
  nbval; a relative ``out_dir`` is taken from the repository root;
* running a notebook with papermill on the venv's own ``python3`` kernel (:func:`run_notebook`),
  rendering the executed notebook to HTML with inputs hidden (:func:`render_html`), and the whole
  ``investigate`` flow used by the command (:func:`run_investigation`);
* small display helpers for notebook cells that show text from the data: they redact personal data
  (unless asked not to) and escape HTML (:func:`show_table`, :func:`show_runbook`, ...).
"""

from __future__ import annotations

import ast
import csv
import html
import json
import os
import re
import subprocess
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from analysis._common import iso_z, to_utc
from analysis.redact import csv_safe, csv_safe_frame, escape_html, safe_text

__all__ = [
    "ParameterError",
    "Param",
    "Parameters",
    "NOTEBOOK_PARAMETERS",
    "default_parameters",
    "PATTERN_NOTEBOOKS",
    "CASES",
    "validate_parameters",
    "repo_root",
    "notebooks_dir",
    "notebook_for_pattern",
    "resolve_input_path",
    "resolve_output_dir",
    "run_notebook",
    "render_html",
    "neutralise_outputs",
    "run_investigation",
    "InvestigationRun",
    "NotebookFailed",
    "inputs_summary",
    "load_summary",
    "write_rejected",
    "csv_safe",
    "csv_safe_frame",
    "show_table",
    "show_runbook",
    "show_headline",
    "show_findings",
    "show_error_confidence",
    "show_candidates",
    "show_drift",
    "show_scope",
    "show_monitors",
    "show_files",
    "HtmlBlock",
]

PATTERNS = ("auto", "retrieval", "refusal", "escalation")

#: Notebook run for each ``pattern``; ``auto`` runs the generic triage notebook.
PATTERN_NOTEBOOKS: dict[str, str] = {
    "auto": "triage.ipynb",
    "retrieval": "retrieval_degradation.ipynb",
    "refusal": "refusal_regression.ipynb",
    "escalation": "escalation_storm.ipynb",
}

#: The three case studies in ``sample_data/``: folder name -> pattern.
CASES: dict[str, str] = {
    "retrieval_degradation": "retrieval",
    "refusal_regression": "refusal",
    "escalation_storm": "escalation",
}


class ParameterError(ValueError):
    """A notebook or command parameter is unknown, of the wrong type or has a bad value."""


# ----------------------------------------------------------------------------------------------
# Paths
# ----------------------------------------------------------------------------------------------


def repo_root() -> Path | None:
    """The checkout holding ``analysis/`` and ``notebooks/``, or ``None`` (installed package).

    Looked up from the package's own location first (an editable install or a checkout), then
    upwards from the working directory.
    """
    here = Path(__file__).resolve().parent.parent
    candidates = [here, *Path.cwd().resolve().parents]
    candidates.insert(1, Path.cwd().resolve())
    for c in candidates:
        if (c / "notebooks").is_dir() and (c / "analysis").is_dir():
            return c
    return None


def notebooks_dir() -> Path:
    """The ``notebooks/`` directory of the checkout."""
    root = repo_root()
    if root is None:
        raise FileNotFoundError("cannot find the notebooks/ directory: run from a checkout of the kit")
    return root / "notebooks"


def notebook_for_pattern(pattern: str) -> Path:
    """The notebook that investigates ``pattern`` (``auto`` -> ``triage.ipynb``)."""
    if pattern not in PATTERN_NOTEBOOKS:
        raise ParameterError(f"`pattern` must be one of {', '.join(PATTERNS)}, got {pattern!r}")
    return notebooks_dir() / PATTERN_NOTEBOOKS[pattern]


def resolve_input_path(path: str | os.PathLike[str], *, name: str = "path", allow_dir: bool = False) -> Path:
    """An existing file: absolute, or relative to the working directory, or to the repo root.

    ``allow_dir`` also accepts a directory (a Langfuse export is a folder of files). Raises
    :class:`ParameterError` naming the parameter when nothing is found.
    """
    p = Path(os.path.expanduser(str(path)))
    tried: list[Path] = []
    if p.is_absolute():
        tried.append(p)
    else:
        tried.append(Path.cwd() / p)
        root = repo_root()
        if root is not None:
            tried.append(root / p)
    for t in tried:
        if t.is_file() or (allow_dir and t.is_dir()):
            return t.resolve()
    where = " or ".join(str(t) for t in tried)
    raise ParameterError(f"`{name}`: file not found: {str(path)!r} (looked for {where})")


def resolve_output_dir(path: str | os.PathLike[str]) -> Path:
    """An output directory: absolute, or relative to the repo root (the working directory when
    the kit is not run from a checkout). Not created here."""
    p = Path(os.path.expanduser(str(path)))
    if p.is_absolute():
        return p
    root = repo_root()
    return ((root if root is not None else Path.cwd()) / p).resolve()


# ----------------------------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One notebook parameter: its plain type, help text, an optional value check and its default.

    ``check(value, values)`` returns the normalised value (e.g. ``""`` -> ``None``, a resolved path)
    or raises :class:`ParameterError`; ``values`` holds the raw values of all parameters.
    ``default`` is the raw value when not given (``""``: none / the pattern's default).
    """

    name: str
    type: type
    help: str
    check: Callable[[Any, Mapping[str, Any]], Any] | None = None
    default: Any = ""


def _type_ok(value: Any, typ: type) -> bool:
    if typ is bool:
        return isinstance(value, bool)
    if typ is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if typ is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, typ)


def _opt_str(value: str, _: Mapping[str, Any]) -> str | None:
    return value.strip() or None


def _check_events_path(value: str, _: Mapping[str, Any]) -> Path:
    if not value.strip():
        raise ParameterError("`events_path` is required (the events file: Parquet, JSONL, CSV or a trace export)")
    return resolve_input_path(value.strip(), name="events_path", allow_dir=True)


def _check_changes_path(value: str, _: Mapping[str, Any]) -> Path:
    if not value.strip():
        raise ParameterError("`changes_path` is required (the change log: CSV, JSONL, YAML or Parquet)")
    return resolve_input_path(value.strip(), name="changes_path")


def _check_mapping_path(value: str, _: Mapping[str, Any]) -> Path | None:
    if not value.strip():
        return None
    return resolve_input_path(value.strip(), name="mapping_path")


def _check_evaluations_path(value: str, _: Mapping[str, Any]) -> Path | None:
    if not value.strip():
        return None
    return resolve_input_path(value.strip(), name="evaluations_path")


def _check_assume_tz(value: str, _: Mapping[str, Any]) -> str | None:
    tz = value.strip()
    if not tz:
        return None
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ParameterError(f"`assume_tz` must be an IANA time zone such as 'UTC' or 'Europe/Paris', got {value!r}") from None
    return tz


def _check_reported_at(value: str, values: Mapping[str, Any]) -> pd.Timestamp | None:
    text = value.strip()
    if not text:
        return None
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        ts = None
    if ts is None or ts is pd.NaT or pd.isna(ts):
        raise ParameterError(f"`reported_at` must be an ISO 8601 timestamp such as '2026-03-01T12:00:00Z', got {value!r}")
    if ts.tzinfo is None:
        tz = values.get("assume_tz")
        tz = tz.strip() if isinstance(tz, str) else ""
        if not tz:
            raise ParameterError(
                f"`reported_at` has no UTC offset: {value!r}; write it with one (e.g. '{text}Z') or set `assume_tz`"
            )
        ts = ts.tz_localize(_check_assume_tz(tz, values))
    return ts.tz_convert("UTC")


def _check_pattern(value: str, _: Mapping[str, Any]) -> str:
    v = value.strip()
    if v not in PATTERNS:
        raise ParameterError(f"`pattern` must be one of {', '.join(PATTERNS)}, got {value!r}")
    return v


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def _check_metric(value: str, _: Mapping[str, Any]) -> str | None:
    v = value.strip()
    if v and not _IDENT.match(v):
        raise ParameterError(f"`metric` must be a column name such as 'refused', got {value!r}")
    return v or None


def _check_segment_by(value: str, _: Mapping[str, Any]) -> tuple[str, ...] | None:
    if not value.strip():
        return None
    cols = tuple(c.strip() for c in value.split(","))
    bad = [c for c in cols if not _IDENT.match(c)]
    if bad:
        raise ParameterError(
            f"`segment_by` must be comma-separated column names such as 'risk_category,framing', got {value!r}"
        )
    return tuple(dict.fromkeys(cols))


def _check_window(value: str, _: Mapping[str, Any]) -> str | None:
    v = value.strip()
    if not v:
        return None
    try:
        td = pd.Timedelta(v)
    except (ValueError, TypeError):
        td = None
    if td is None or pd.isna(td) or td <= pd.Timedelta(0):
        raise ParameterError(f"`window` must be a positive duration such as '1h' or '30min', got {value!r}")
    return v


def _check_out_dir(value: str, _: Mapping[str, Any]) -> Path:
    if not value.strip():
        raise ParameterError("`out_dir` must name a directory for the report, got ''")
    return resolve_output_dir(value.strip())


def _check_engine(value: str, _: Mapping[str, Any]) -> str:
    from analysis.engine import ENGINES

    v = value.strip()
    if v not in ENGINES:
        raise ParameterError(f"`engine` must be one of {', '.join(ENGINES)}, got {value!r}")
    return v


_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


def _check_memory_limit(value: str, _: Mapping[str, Any]) -> str:
    v = value.strip()
    if not _MEMORY.match(v):
        raise ParameterError(f"`memory_limit` must be a size such as '1GB' or '512MB', got {value!r}")
    return v


def _check_spark_master(value: str, _: Mapping[str, Any]) -> str:
    v = value.strip()
    if not re.match(r"^(local(\[(\*|\d+)\])?|spark://\S+|yarn|k8s://\S+|mesos://\S+)$", v):
        raise ParameterError(f"`spark_master` must be a Spark master URL such as 'local[*]' or 'spark://host:7077', got {value!r}")
    return v


def _check_seed(value: int, _: Mapping[str, Any]) -> int:
    if value < 0:
        raise ParameterError(f"`seed` must be a non-negative integer, got {value!r}")
    return value


_PARAMS: tuple[Param, ...] = (
    Param("events_path", str, "events file (Parquet, JSONL, CSV, a trace export; a folder for Langfuse)", _check_events_path),
    Param("changes_path", str, "change log (CSV, JSONL, YAML or Parquet)", _check_changes_path),
    Param("reported_at", str, "when the incident was reported, ISO 8601 with offset; empty: the last event", _check_reported_at),
    Param("pattern", str, "auto, retrieval, refusal or escalation", _check_pattern, "auto"),
    Param("metric", str, "outcome column to investigate; empty: the pattern's default", _check_metric),
    Param("segment_by", str, "comma-separated segment columns; empty: the pattern's default", _check_segment_by),
    Param("window", str, "aggregation window such as 1h or 30min; empty: the pattern's default", _check_window),
    Param("out_dir", str, "report directory; relative: to the repository root", _check_out_dir),
    Param("redact", bool, "redact emails, phone numbers and similar personal data in the reports", None, True),
    Param("assume_tz", str, "time zone of timestamps without an offset (e.g. UTC); empty: reject them", _check_assume_tz),
    Param("mapping_path", str, "column mapping file (YAML or JSON) for non-canonical exports; empty: none", _check_mapping_path),
    Param(
        "evaluations_path",
        str,
        "offline evaluation history (CSV, JSONL or Parquet with ts and passed); empty: simulate a weekly evaluation",
        _check_evaluations_path,
    ),
    Param("seed", int, "seed for the sampled parts of the analysis", _check_seed, 0),
    Param("engine", str, "engine that reads the events: duckdb (embedded) or spark", _check_engine, "duckdb"),
    Param("memory_limit", str, "DuckDB memory limit; past it DuckDB spills to disk", _check_memory_limit, "1GB"),
    Param("spark_master", str, "Spark master URL when engine is spark", _check_spark_master, "local[*]"),
)

#: The parameters every notebook takes (same names, types and meaning in all four notebooks).
NOTEBOOK_PARAMETERS: dict[str, Param] = {p.name: p for p in _PARAMS}


def default_parameters(**values: Any) -> dict[str, Any]:
    """Raw values for every notebook parameter: each :attr:`Param.default`, updated with ``values``.

    The paths (``events_path``, ``changes_path``, ``out_dir``) default to ``""``, which
    :func:`validate_parameters` rejects: give them. ``values`` is not checked here.
    """
    return {**{name: p.default for name, p in NOTEBOOK_PARAMETERS.items()}, **values}

# Names IPython puts in the user namespace; never parameters.
_IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython", "open", "display"})
_IPYTHON_PRIVATE = re.compile(r"^(_+|_i+|_i\d+|_\d+|_ih|_oh|_dh|__\w+__)$")


class Parameters(Mapping[str, Any]):
    """Validated, normalised parameters: a read-only mapping with attribute access.

    ``p.events_path`` is a resolved :class:`~pathlib.Path`, ``p.reported_at`` a UTC Timestamp or
    ``None``, ``p.segment_by`` a tuple of column names or ``None``; empty strings become ``None``.
    ``p.raw`` holds the values as given (JSON-able, for the report's ``parameters``).
    """

    __slots__ = ("_values", "_raw")

    def __init__(self, values: Mapping[str, Any], raw: Mapping[str, Any]):
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "_raw", dict(raw))

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("Parameters are read-only")

    @property
    def raw(self) -> dict[str, Any]:
        return dict(self._raw)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"Parameters({inner})"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{escape_html(k)}</th><td>{escape_html(_display_value(v))}</td></tr>"
            for k, v in self._values.items()
        )
        return f"<table>{rows}</table>"


def _display_value(v: Any) -> str:
    if v is None:
        return "(default)"
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(v, tuple):
        return ", ".join(map(str, v))
    return str(v)


def _injected_names(namespace: Mapping[str, Any]) -> list[str] | None:
    """Names assigned by papermill's injected-parameters cell, from IPython's input history.

    papermill injects a cell whose source starts with ``# Parameters``; the most recent such cell
    in ``In`` is the one of this run. ``None`` when ``namespace`` is not an IPython namespace or no
    parameters were injected.
    """
    history = namespace.get("In")
    if not isinstance(history, list):
        return None
    for source in reversed(history):
        if isinstance(source, str) and source.lstrip().startswith("# Parameters"):
            try:
                tree = ast.parse(source)
            except SyntaxError:
                return None
            names: list[str] = []
            for node in tree.body:
                targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
                names.extend(t.id for t in targets if isinstance(t, ast.Name))
            return names
    return []


def _candidate_names(namespace: Mapping[str, Any]) -> list[str]:
    """Names in ``namespace`` that could be parameters (plain JSON-able values, not IPython's)."""
    injected = _injected_names(namespace)
    if injected is not None:
        return injected
    out = []
    for k, v in namespace.items():
        if k in _IPYTHON_NAMES or _IPYTHON_PRIVATE.match(k):
            continue
        if isinstance(v, ModuleType) or callable(v):
            continue
        out.append(k)
    return out


def validate_parameters(params: Mapping[str, Any], spec: Mapping[str, Param | type] | None = None) -> Parameters:
    """Check notebook parameters and return them normalised.

    Parameters
    ----------
    params
        The parameter values: a plain mapping (the command line), or a notebook's ``globals()``.
        In a notebook, the names papermill injected are read from the kernel's input history (the
        cell starting with ``# Parameters``), so re-running the cell in JupyterLab does not mistake
        the notebook's own variables for parameters.
    spec
        Name -> :class:`Param` (or a plain type). Default :data:`NOTEBOOK_PARAMETERS`.

    Returns
    -------
    Parameters
        Read-only mapping with attribute access; see :class:`Parameters`.

    Raises
    ------
    ParameterError
        Naming every unknown parameter (with the close matches and the known names), every missing
        or ill-typed one (with the expected type and the value given), or the first bad value.
    """
    import difflib

    spec = NOTEBOOK_PARAMETERS if spec is None else spec
    spec_ = {k: (v if isinstance(v, Param) else Param(k, v, "")) for k, v in spec.items()}
    problems: list[str] = []

    unknown = [k for k in _candidate_names(params) if k not in spec_]
    for k in unknown:
        close = difflib.get_close_matches(k, list(spec_), n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        problems.append(f"unknown parameter `{k}`{hint}")
    for name, p in spec_.items():
        if name not in params:
            problems.append(f"missing parameter `{name}` ({p.type.__name__})")
        elif not _type_ok(params[name], p.type):
            v = params[name]
            problems.append(f"`{name}` must be {p.type.__name__}, got {type(v).__name__} {v!r}")
    if problems:
        known = ", ".join(spec_)
        raise ParameterError("bad notebook parameters: " + "; ".join(problems) + f". Known parameters: {known}")

    raw = {name: params[name] for name in spec_}
    values: dict[str, Any] = {}
    for name, p in spec_.items():
        v = params[name]
        values[name] = p.check(v, raw) if p.check is not None else v
    return Parameters(values, raw)


# ----------------------------------------------------------------------------------------------
# Running notebooks and rendering reports
# ----------------------------------------------------------------------------------------------


class NotebookFailed(RuntimeError):
    """The notebook raised; ``ename``/``evalue`` are the cell's exception, ``notebook`` the saved copy."""

    def __init__(self, ename: str, evalue: str, notebook: Path | None):
        super().__init__(f"{ename}: {evalue}")
        self.ename = ename
        self.evalue = evalue
        self.notebook = notebook


def run_notebook(
    notebook: str | os.PathLike[str],
    output: str | os.PathLike[str],
    parameters: Mapping[str, Any],
    *,
    progress: bool | dict[str, Any] = True,
    cwd: str | os.PathLike[str] | None = None,
    kernel_name: str = "python3",
) -> Any:
    """Execute ``notebook`` with papermill and save the executed copy to ``output``.

    The kernel is the environment's own ``python3`` (ipykernel's native kernel, found through
    ``sys.prefix``; nothing is registered globally). ``cwd`` defaults to the notebook's folder, as
    in JupyterLab. Raises :class:`NotebookFailed` with the failing cell's exception.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook = Path(notebook)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        return papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=dict(parameters),
            kernel_name=kernel_name,
            progress_bar=progress,
            cwd=str(cwd if cwd is not None else notebook.parent),
            log_output=False,
            # The kernel's own start-up/shut-down log lines are noise on the user's terminal;
            # errors in cells still come back through papermill.
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
            kernel_manager_class=_quiet_kernel_manager(),
        )
    except PapermillExecutionError as exc:
        evalue = str(exc.evalue).strip().splitlines()[0] if str(exc.evalue).strip() else ""
        raise NotebookFailed(exc.ename, evalue, output if output.exists() else None) from None


def _quiet_kernel_manager() -> type:
    """A kernel manager whose kernel process writes nothing to the user's terminal.

    Cell outputs and errors travel over the kernel's messaging channels, not its stderr; what the
    process itself prints there is start-up and shut-down noise (e.g. libzmq's
    ``Assertion failed: pfd.revents & POLLIN`` when a socket is torn down at exit), which would
    break the command's promise of one clear line on bad input. A kernel that dies is still
    reported by nbclient (``DeadKernelError``).
    """
    from jupyter_client import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            kw.setdefault("stderr", subprocess.DEVNULL)
            return await super()._async_launch_kernel(kernel_cmd, **kw)

    return QuietKernelManager


# Markup that has no business in a report output: scripts, frames, event handlers, javascript: URLs.
_ACTIVE_MARKUP = re.compile(
    r"<\s*(script|iframe|object|embed|link|meta|base|form)\b|\bon[a-z]+\s*=|javascript\s*:|<\s*style\b[^>]*>[^<]*expression\(",
    re.IGNORECASE,
)
_ACTIVE_MIME = ("application/javascript", "text/javascript", "application/vnd.jupyter.widget-view+json")


def neutralise_outputs(nb: Any) -> int:
    """Drop rich outputs that could run code in a browser; returns how many were dropped.

    The notebooks' display helpers escape every text from the data, so this is a second line of
    defence: an HTML or Markdown output holding a ``<script>``, a frame, an ``on...=`` handler or a
    ``javascript:`` URL loses that representation and falls back to its plain text (which nbconvert
    escapes); JavaScript outputs are removed.
    """
    dropped = 0
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        for out in cell.get("outputs", []):
            data = out.get("data")
            if not data:
                continue
            for mime in list(data):
                value = data[mime]
                text = "".join(value) if isinstance(value, list) else str(value)
                if mime in _ACTIVE_MIME or (mime in ("text/html", "text/markdown", "image/svg+xml") and _ACTIVE_MARKUP.search(text)):
                    del data[mime]
                    dropped += 1
            if not data:
                data["text/plain"] = "(output removed: it held active markup)"
    return dropped


def render_html(notebook: Any, out_path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Render an executed notebook (a path or a NotebookNode) to HTML with the code hidden.

    Uses nbconvert's ``HTMLExporter`` with ``exclude_input=True`` and the prompts removed. Text
    from the data is escaped by the display helpers that produced the outputs; as a second line
    of defence, outputs holding active markup are reduced to plain text first
    (:func:`neutralise_outputs`). (nbconvert's own ``sanitize_html`` is not used: its allow-list
    escapes table headers and paragraphs, which mangles every table.)
    """
    import copy

    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4) if isinstance(notebook, (str, os.PathLike)) else copy.deepcopy(notebook)
    neutralise_outputs(nb)
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    resources = {"metadata": {"name": title or "Incident report"}}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


@dataclass(frozen=True)
class InvestigationRun:
    """What :func:`run_investigation` wrote: the report files that exist in ``out_dir``."""

    out_dir: Path
    notebook: Path
    html: Path
    files: dict[str, Path]

    def lines(self) -> list[str]:
        width = max((len(n) for n in self.files), default=0) + 2
        return [f"  {name:<{width}}{path}" for name, path in sorted(self.files.items())]


def run_investigation(
    parameters: Mapping[str, Any],
    *,
    notebook: str | os.PathLike[str] | None = None,
    progress: bool | dict[str, Any] = True,
) -> InvestigationRun:
    """The ``investigate`` command: validate, execute the pattern's notebook, render the HTML.

    ``parameters`` are the notebook parameters (all of :data:`NOTEBOOK_PARAMETERS`); they are
    validated here first so that a bad path or timestamp fails before a kernel starts. The executed
    notebook is saved into ``out_dir`` under the notebook's name, and ``report.html`` next to it.
    """
    p = validate_parameters(parameters)
    nb_path = Path(notebook) if notebook is not None else notebook_for_pattern(p.pattern)
    out_dir: Path = p.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    # Absolute paths, so the kernel's working directory does not matter.
    params = dict(p.raw)
    params.update(
        events_path=str(p.events_path),
        changes_path=str(p.changes_path),
        out_dir=str(out_dir),
        mapping_path=str(p.mapping_path) if p.mapping_path is not None else "",
        evaluations_path=str(p.evaluations_path) if p.evaluations_path is not None else "",
    )
    executed = out_dir / nb_path.name
    nb = run_notebook(nb_path, executed, params, progress=progress)
    title = _report_title(out_dir) or nb_path.stem.replace("_", " ").capitalize()
    html_path = render_html(nb, out_dir / "report.html", title=title)
    files = {f.name: f for f in sorted(out_dir.iterdir()) if f.is_file()}
    return InvestigationRun(out_dir=out_dir, notebook=executed, html=html_path, files=files)


def _report_title(out_dir: Path) -> str | None:
    try:
        return str(json.loads((out_dir / "report.json").read_text(encoding="utf-8")).get("title") or "") or None
    except (OSError, ValueError):
        return None


# ----------------------------------------------------------------------------------------------
# Load reports and rejected rows
# ----------------------------------------------------------------------------------------------


def inputs_summary(**loads: Any) -> dict[str, dict[str, Any]]:
    """report.json's ``inputs`` from LoadResults: ``inputs_summary(events=ev, changes=ch, evaluations=evals)``;
    ``None`` entries (an input not given) are left out."""
    out: dict[str, dict[str, Any]] = {}
    for name, lr in loads.items():
        if lr is None:
            continue
        out[name] = {
            "path": str(lr.source),
            "format": getattr(lr, "format", None),
            "sha256": lr.sha256,
            "rows_read": int(lr.rows_read),
            "rows_loaded": int(lr.rows_loaded),
            "rows_rejected": int(getattr(lr, "rows_rejected", len(lr.rejected) if lr.rejected is not None else 0)),
            "warnings": [str(w) for w in (lr.warnings or [])],
        }
    return out


def load_summary(**loads: Any) -> HtmlBlock:
    """A small table of what each loader read, kept and rejected, with its warnings."""
    rows = []
    for name, lr in loads.items():
        if lr is None:
            continue
        rejected = int(getattr(lr, "rows_rejected", len(lr.rejected) if lr.rejected is not None else 0))
        rows.append(
            {
                "table": name,
                "file": Path(str(lr.source)).name,
                "format": getattr(lr, "format", ""),
                "rows read": int(lr.rows_read),
                "rows loaded": int(lr.rows_loaded),
                "rows rejected": rejected,
                "warnings": "; ".join(str(w) for w in (lr.warnings or [])) or "",
            }
        )
    return show_table(pd.DataFrame(rows), redact=True)


def write_rejected(out_dir: str | os.PathLike[str], *, redact: bool = True, **loads: Any) -> dict[str, Path]:
    """Write ``rejected_<table>.csv`` (row, reason, raw) for every load that rejected rows.

    The raw rows come from the data: they are redacted and escaped like every report. Returns the
    written paths by table name (empty when nothing was rejected).
    """
    out = Path(out_dir)
    written: dict[str, Path] = {}
    for name, lr in loads.items():
        rej = getattr(lr, "rejected", None)
        if rej is None or len(rej) == 0:
            continue
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"rejected_{name}.csv"
        csv_safe_frame(rej, redact=redact).to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL)
        written[name] = path
    return written


# ----------------------------------------------------------------------------------------------
# Display helpers for notebook cells (escaped, redacted)
# ----------------------------------------------------------------------------------------------


class HtmlBlock:
    """A display object whose HTML and plain text are built from escaped, redacted text."""

    def __init__(self, html_text: str, plain: str):
        self._html = html_text
        self._plain = plain

    def _repr_html_(self) -> str:
        return self._html

    def __repr__(self) -> str:
        return self._plain

    def __str__(self) -> str:
        return self._plain


def _fmt_cell(v: Any, redact: bool, max_len: int | None) -> str:
    if v is None or (not isinstance(v, (list, tuple, dict)) and _isna(v)):
        return ""
    if isinstance(v, pd.Timestamp):
        if v.tzinfo is not None:
            v = v.tz_convert("UTC")
        return v.strftime("%Y-%m-%d %H:%M UTC") if (v.second == 0 and v.microsecond == 0) else v.isoformat()
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.0f}" if 1e4 <= abs(v) < 1e12 else f"{v:.4g}"
    if isinstance(v, (dict, list, tuple)):
        v = json.dumps(v, default=str, ensure_ascii=False)
    return str(safe_text(str(v), redact=redact, max_len=max_len))


def _isna(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def show_monitors_to_deploy(doc: Mapping[str, Any] | None, *, redact: bool = True) -> Any:
    """The monitors of ``monitors.yaml``: chart, window, designed false-alarm rate and what each did on the history."""
    rows = [{"name": m["name"], "chart": m["chart"], "window": m["window"],
             "designed false alarms / 30 d": m["false_alarm_rate"]["designed_per_30_days"],
             "false alarms in baseline": m["history"]["false_alarms_baseline"], "first alarm": m["history"]["first_alarm"],
             "lead time (h)": m["history"]["lead_time_hours"], "description": m.get("description", "")}
            for m in (doc or {}).get("monitors", [])]
    return show_table(pd.DataFrame(rows), redact=redact)


def show_table(
    frame: pd.DataFrame | None,
    *,
    redact: bool = True,
    max_rows: int = 20,
    columns: list[str] | None = None,
    max_len: int | None = 160,
    caption: str | None = None,
) -> HtmlBlock:
    """Render a table whose cells may hold text from the data: redacted, escaped, truncated.

    Text cells are redacted (unless ``redact=False``), shortened to ``max_len`` characters and
    HTML-escaped; the plain-text form escapes ``<``, ``>`` and ``&`` too, so that no output of the
    executed notebook carries markup from the data.
    """
    if frame is None or len(frame) == 0:
        msg = "(none)" if caption is None else f"{caption}: (none)"
        return HtmlBlock(f"<p><em>{escape_html(msg)}</em></p>", msg)
    df = frame if columns is None else frame[[c for c in columns if c in frame.columns]]
    shown = df.head(max_rows)
    cols = [str(c) for c in shown.columns]
    cells = [[_fmt_cell(v, redact, max_len) for v in row] for row in shown.itertuples(index=False, name=None)]
    head = "".join(f"<th>{escape_html(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{escape_html(c)}</td>" for c in row) + "</tr>" for row in cells)
    more = len(df) - len(shown)
    foot = f"<p><em>{more} more rows not shown</em></p>" if more > 0 else ""
    cap = f"<caption>{escape_html(caption)}</caption>" if caption else ""
    html_text = f"<table class='dataframe'>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{foot}"
    plain_df = pd.DataFrame(cells, columns=cols)
    plain = plain_df.to_string(index=False, max_colwidth=60) + (f"\n... {more} more rows" if more > 0 else "")
    if caption:
        plain = caption + "\n" + plain
    return HtmlBlock(html_text, html.escape(plain, quote=False))


_MARKS = {True: ("\u2611", "done / yes"), False: ("\u2610", "not done / no"), None: ("\u2610", "check by hand")}
_SECTIONS = (
    ("triage", "Triage"),
    ("scope", "Scope"),
    ("mitigate", "Mitigate"),
    ("post_incident", "Post-incident"),
)


def show_runbook(runbook: list[Mapping[str, Any]], *, redact: bool = True) -> HtmlBlock:
    """The runbook checklists (triage, scope, mitigate, post-incident), ticked from the data.

    ``checked`` True is ticked, False is an unticked box with "no" (the data says it is not the
    case), None is an unticked box to check by hand. Evidence text is escaped and redacted.
    """
    parts_html: list[str] = []
    parts_plain: list[str] = []
    known = [s for s, _ in _SECTIONS]
    extra = sorted({str(r.get("section")) for r in runbook} - set(known))
    for section, label in [*_SECTIONS, *[(s, s.replace("_", " ").capitalize()) for s in extra]]:
        items = [r for r in runbook if str(r.get("section")) == section]
        if not items:
            continue
        parts_html.append(f"<h4>{escape_html(label)}</h4><ul style='list-style:none;padding-left:0.5em'>")
        parts_plain.append(label)
        for r in items:
            checked = r.get("checked")
            checked = None if checked is None or _isna(checked) else bool(checked)
            mark, meaning = _MARKS[checked]
            item = str(safe_text(str(r.get("item", "")), redact=redact, max_len=300))
            ev = r.get("evidence")
            ev_text = "" if ev is None or _isna(ev) or ev == "" else str(safe_text(str(ev), redact=redact, max_len=300))
            status = {True: "", False: " (no)", None: " (check by hand)"}[checked]
            parts_html.append(
                f"<li title='{escape_html(meaning)}'>{mark} {escape_html(item)}{escape_html(status)}"
                + (f"<br><small style='color:#555'>{escape_html(ev_text)}</small>" if ev_text else "")
                + "</li>"
            )
            parts_plain.append(f"  [{'x' if checked else ' '}] {item}{status}" + (f" -- {ev_text}" if ev_text else ""))
        parts_html.append("</ul>")
    if not parts_plain:
        return HtmlBlock("<p><em>(no runbook items)</em></p>", "(no runbook items)")
    return HtmlBlock("".join(parts_html), html.escape("\n".join(parts_plain), quote=False))


def _fmt_ts(ts: Any) -> str:
    t = to_utc(ts)
    return "none" if t is None else t.strftime("%Y-%m-%d %H:%M UTC")


def show_headline(pm: Any, *, redact: bool = True) -> HtmlBlock:
    """The answer in five lines: onset, most likely cause, scope verdict, detection gap."""
    onset = pm.onset or {}
    d = pm.to_dict(redact=redact)
    cands = d.get("q2_what_changed", {}).get("candidates", []) or []
    top = cands[0] if cands else None
    q3 = d.get("q3_scope", {}) or {}
    q4 = d.get("q4_detection_gap", {}) or {}
    seg = onset.get("segment")
    seg_text = ", ".join(f"{k}={v}" for k, v in seg.items()) if isinstance(seg, dict) and seg else (str(seg) if seg else "all traffic")
    lines = [
        ("Pattern", str(d.get("pattern") or getattr(pm, "pattern", ""))),
        ("Onset", f"{_fmt_ts(onset.get('ts'))} in {onset.get('metric') or '-'} ({seg_text}; {onset.get('method') or '-'})"),
        (
            "Most likely cause",
            (f"{top.get('change_id')} ({top.get('change_type')}, {_fmt_ts(top.get('ts'))}, score {_fmt_num(top.get('score'))})" if top else "none found"),
        ),
        (
            "Scope",
            f"{q3.get('verdict', '-')}: {q3.get('affected_events', 0)} affected events ({_fmt_pct(q3.get('affected_share'))} of traffic)",
        ),
        (
            "Detection gap",
            _gap_text(q4),
        ),
    ]
    lines = [(k, str(safe_text(v, redact=redact, max_len=300))) for k, v in lines]
    rows = "".join(f"<tr><th style='text-align:left'>{escape_html(k)}</th><td>{escape_html(v)}</td></tr>" for k, v in lines)
    plain = "\n".join(f"{k}: {v}" for k, v in lines)
    return HtmlBlock(f"<table>{rows}</table>", html.escape(plain, quote=False))


def _gap_text(q4: Mapping[str, Any]) -> str:
    """The detection gap in plain text; never an empty figure (see ``postmortem.gap_sentence``)."""
    alarm = q4.get("earliest_alarm")
    alarm = alarm.get("ts") if isinstance(alarm, dict) else alarm
    if alarm and q4.get("gap_hours") is not None:
        return f"{_fmt_num(q4.get('gap_hours'))} h ({q4.get('gap_category') or '-'}); earliest alarm {_fmt_ts(alarm)}"
    if not q4.get("gap_category"):
        return "no incident, so no detection gap"
    return f"no replayed monitor alarmed before the report ({q4.get('gap_category')})"


def _fmt_num(v: Any) -> str:
    if v is None or _isna(v):
        return "-"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{f:.0f}" if abs(f) >= 100 else f"{f:.3g}"


def _fmt_pct(v: Any) -> str:
    if v is None or _isna(v):
        return "-"
    return f"{100 * float(v):.2g}%"


# ----------------------------------------------------------------------------------------------
# Section views for the notebooks: the Postmortem's tables, selected, ordered, escaped
# ----------------------------------------------------------------------------------------------


def _para(text: str, *, redact: bool = True, strong: str | None = None) -> tuple[str, str]:
    body = str(safe_text(str(text), redact=redact, max_len=1200))
    lead = f"<strong>{escape_html(strong)}</strong> " if strong else ""
    return f"<p>{lead}{escape_html(body)}</p>", (f"{strong} " if strong else "") + body


def _compose(*parts: tuple[str, str] | HtmlBlock | None) -> HtmlBlock:
    html_parts: list[str] = []
    plain_parts: list[str] = []
    for part in parts:
        if part is None:
            continue
        if isinstance(part, HtmlBlock):
            html_parts.append(part._repr_html_())
            plain_parts.append(html.unescape(repr(part)))
        else:
            html_parts.append(part[0])
            plain_parts.append(part[1])
    return HtmlBlock("".join(html_parts), html.escape("\n\n".join(plain_parts), quote=False))


def _with_segment(frame: pd.DataFrame) -> pd.DataFrame:
    """Replace ``segment_column``/``segment`` by one readable ``segment`` column."""
    if frame is None or "segment_column" not in frame.columns or "segment" not in frame.columns:
        return frame
    out = frame.copy()
    out["segment"] = [
        "all traffic" if c in (None, "", "__all__") or _isna(c) else f"{c}={s}"
        for c, s in zip(out["segment_column"].astype(object), out["segment"].astype(object))
    ]
    return out.drop(columns=["segment_column"])


def _period(p: Any) -> str:
    if p is None:
        return "-"
    return f"{_fmt_ts(p[0])} .. {_fmt_ts(p[1])}"


def show_findings(pm: Any, *, redact: bool = True, max_rows: int = 15) -> HtmlBlock:
    """Q1: each metric and segment, baseline against current; significant ones first, by effect."""
    q1 = pm.q1
    if q1 is None or q1.findings is None or len(q1.findings) == 0:
        return HtmlBlock("<p><em>No findings.</em></p>", "No findings.")
    f = _with_segment(q1.findings)
    order = f.assign(_sig=~f["significant"].astype("boolean").fillna(False), _eff=-f["effect"].abs()).sort_values(
        ["_sig", "_eff"], kind="stable"
    )
    derived = set(getattr(pm, "derived_metrics", []) or [])
    order = order.assign(metric=[f"{m} (derived)" if m in derived else m for m in order["metric"]])
    n_sig = int(f["significant"].astype("boolean").fillna(False).sum())
    cols = ["metric", "segment", "n_baseline", "n_current", "baseline", "current", "difference", "ci_low", "ci_high",
            "effect", "p_adjusted", "significant"]
    return _compose(
        _para(
            f"Baseline {_period(q1.baseline)} against the failure window {_period(q1.current)}: {n_sig} of {len(f)} "
            "metric/segment differences are significant after Benjamini-Hochberg (intervals: 95%, of current - baseline; "
            "effect: Cohen's h for rates, d for means).",
            redact=False,
        ),
        show_table(order, redact=redact, max_rows=max_rows, columns=cols),
    )


def show_error_confidence(pm: Any, *, redact: bool = True) -> HtmlBlock:
    """Q1: the failure window's errors by confidence band, and what the split points to."""
    ec = getattr(pm.q1, "error_confidence", None) if pm.q1 is not None else None
    if ec is None:
        return HtmlBlock("<p><em>No confidence scores or no errors: no breakdown.</em></p>", "No breakdown by confidence.")
    meaning = {
        "model_regression": "most errors were made with high confidence: look at the model",
        "retrieval_or_context": "most errors were made with low confidence: look at retrieval and context assembly",
        "mixed": "errors are spread over confidence bands",
        "unknown": "no confidence scores or no errors",
    }.get(ec.interpretation, ec.interpretation)
    return _compose(
        _para(f"Errors ({ec.error_definition}): {ec.errors} of {ec.n}; {meaning}.", redact=redact, strong="Error by confidence."),
        show_table(ec.table, redact=redact),
    )


def show_candidates(pm: Any, *, redact: bool = True, max_rows: int = 10) -> HtmlBlock:
    """Q2: the change events ranked by evidence, most likely cause first."""
    q2 = pm.q2
    if q2 is None or q2.candidates is None or len(q2.candidates) == 0:
        return HtmlBlock("<p><em>No change event and no inferred change.</em></p>", "No candidates.")
    cols = ["rank", "change_id", "change_type", "ts", "score", "lead_hours", "inferred", "evidence"]
    return show_table(q2.candidates, redact=redact, max_rows=max_rows, columns=cols, max_len=400)


def show_drift(pm: Any, *, redact: bool = True) -> HtmlBlock:
    """Q2: query-mix drift (failure window against baseline) and the mix/within decomposition."""
    q2 = pm.q2
    parts: list[Any] = []
    if q2 is not None and q2.drift is not None and len(q2.drift):
        cols = [c for c in ("column", "test", "statistic", "pvalue", "effect_name", "effect", "drifted") if c in q2.drift.columns]
        parts += [_para("Failure window against baseline, per column:", redact=False, strong="Query-mix drift."),
                  show_table(q2.drift, redact=redact, columns=cols)]
    decs = list(getattr(q2, "decompositions", []) or []) if q2 is not None else []
    if decs:
        rows = [d.to_dict() if hasattr(d, "to_dict") else dict(d) for d in decs]
        parts += [
            _para("Aggregate change split into mix shift (traffic moved between segments) and within-segment change "
                  "(behaviour changed inside segments), with a Simpson's-paradox check:", redact=False, strong="Decomposition."),
            show_table(pd.DataFrame(rows), redact=redact,
                       columns=["segment_column", "metric", "aggregate_baseline", "aggregate_current", "mix", "within",
                                "mix_share", "simpson", "summary"], max_len=300),
        ]
    if not parts:
        return HtmlBlock("<p><em>No drift comparison.</em></p>", "No drift comparison.")
    return _compose(*parts)


def show_scope(pm: Any, *, redact: bool = True, max_rows: int = 15) -> HtmlBlock:
    """Q3: the verdict with its reason, and the segment scan (flagged segments first)."""
    q3 = pm.q3
    if q3 is None:
        return HtmlBlock("<p><em>No scope analysis.</em></p>", "No scope analysis.")
    seg = _with_segment(q3.segments) if q3.segments is not None else None
    if seg is not None and len(seg) and "status" in seg.columns:
        rank = seg["status"].map({"systematic": 0, "elevated": 1}).fillna(2)
        seg = seg.assign(_r=rank).sort_values(["_r"], kind="stable")
    cols = ["segment", "tier", "threshold", "n_baseline", "baseline_rate", "n_current", "current_rate", "ci_low", "ci_high",
            "excess_events", "p_adjusted", "status"]
    thresholds = ", ".join(f"{k} {100 * float(v):.2g}%" for k, v in (q3.risk_thresholds or {}).items())
    return _compose(
        _para(f"{q3.reason}", redact=redact, strong=f"Verdict: {q3.verdict}."),
        _para(f"Failure: {q3.failure_definition}. Window {_period(q3.window)}. {q3.n_affected} affected events "
              f"({_fmt_pct(q3.affected_share)} of requests in the window). Risk-tier tolerances: {thresholds or '-'}.",
              redact=redact),
        show_table(seg, redact=redact, max_rows=max_rows, columns=cols),
    )


def show_monitors(pm: Any, *, redact: bool = True) -> HtmlBlock:
    """Q4: the gap, its category and the monitor that would have closed it; every replayed monitor."""
    q4 = pm.q4
    if q4 is None:
        return HtmlBlock("<p><em>No monitors replayed.</em></p>", "No monitors replayed.")
    head = (f"{_fmt_num(q4.gap_hours)} h between the earliest usable alarm ({_fmt_ts(q4.earliest_alarm)}, "
            f"{q4.closing_monitor or 'none'}) and the report ({_fmt_ts(q4.reported_at)}).")
    cols = ["name", "metric", "segment", "first_alarm", "lead_time_hours", "false_alarms_baseline", "false_alarms_per_30d",
            "usable", "description"]
    return _compose(
        _para(head, redact=redact, strong=f"Detection gap: {(q4.gap_category or 'none').replace('_', ' ')}."),
        _para(q4.gap_explanation or "", redact=redact),
        show_table(q4.monitors, redact=redact, columns=cols, max_len=200),
    )


def show_files(*written: Mapping[str, Any]) -> HtmlBlock:
    """The report files written, by name."""
    rows = [{"file": Path(str(v)).name, "path": str(v)} for d in written for v in (d or {}).values()]
    return show_table(pd.DataFrame(rows, columns=["file", "path"]), redact=False, max_len=None, caption="Written")
