"""The set-up: pyproject.toml and environment.yml agree; the command line lists its commands."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# Conda and PyPI name a few packages differently.
CONDA_NAMES = {"python-duckdb": "duckdb"}
# Conda-only runtime pieces that PyPI cannot carry (Spark's Java).
CONDA_ONLY = {"openjdk"}
PROJECT = "llm-incident-forensics"


def _name_and_spec(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    assert m, req
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def _pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = data["project"]["optional-dependencies"]
    reqs: list[str] = list(data["project"]["dependencies"])
    todo = ["test"]
    while todo:  # the test extra includes others through self-references ("llm-incident-forensics[spark]")
        for r in extras[todo.pop()]:
            m = re.match(rf"^{PROJECT}\[([a-z,\s]+)\]$", r)
            if m:
                todo.extend(x.strip() for x in m.group(1).split(","))
            else:
                reqs.append(r)
    return dict(_name_and_spec(r) for r in reqs)


def _environment_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out: dict[str, str] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for pip_dep in dep.get("pip", []):
                if pip_dep.startswith("-e"):
                    continue
                name, spec = _name_and_spec(pip_dep)
                out[name] = spec
            continue
        name, spec = _name_and_spec(dep)
        if name in ("python", "pip") or name in CONDA_ONLY:
            continue
        out[CONDA_NAMES.get(name, name)] = spec
    return out


def test_environment_yml_agrees_with_pyproject():
    py = _pyproject_requirements()
    env = _environment_requirements()
    assert set(py) == set(env), (
        f"only in pyproject.toml: {sorted(set(py) - set(env))}; only in environment.yml: {sorted(set(env) - set(py))}"
    )
    for name, spec in py.items():
        assert env[name] == spec, f"{name}: pyproject.toml says {spec!r}, environment.yml says {env[name]!r}"


def test_python_version_agrees():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = [d for d in env["dependencies"] if isinstance(d, str) and re.match(r"python\b(?!-)", d)]
    assert pins == [f"python{data['project']['requires-python']}"]


def test_cli_help_lists_commands():
    out = subprocess.run(
        [sys.executable, "-m", "analysis", "--help"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    for command in ("investigate", "demo", "generate", "convert"):
        assert command in out, out


def test_package_version_agrees_with_pyproject():
    import tomllib

    import analysis

    meta = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert analysis.__version__ == meta["project"]["version"]
