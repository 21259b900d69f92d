"""Where the notebooks, the inputs and the reports are.

Relative input paths are looked up from the working directory, then from the repository root, so
that the same defaults work from JupyterLab (cwd ``notebooks/``), papermill and nbval; a relative
``out_dir`` is taken from the repository root. :data:`PATTERN_NOTEBOOKS` names the notebook run
for each ``pattern``.
"""

from __future__ import annotations

import os
from pathlib import Path

from analysis.report.errors import ParameterError

__all__ = [
    "PATTERNS",
    "PATTERN_NOTEBOOKS",
    "repo_root",
    "notebooks_dir",
    "notebook_for_pattern",
    "resolve_input_path",
    "resolve_output_dir",
]

#: The values of the ``pattern`` parameter.
PATTERNS = ("auto", "retrieval", "refusal", "escalation")

#: Notebook run for each ``pattern``; ``auto`` runs the generic triage notebook.
PATTERN_NOTEBOOKS: dict[str, str] = {
    "auto": "triage.ipynb",
    "retrieval": "retrieval_degradation.ipynb",
    "refusal": "refusal_regression.ipynb",
    "escalation": "escalation_storm.ipynb",
}


def repo_root() -> Path | None:
    """The checkout holding ``analysis/`` and ``notebooks/``, or ``None`` (installed package).

    Looked up from the package's own location first (an editable install or a checkout), then
    upwards from the working directory.
    """
    here = Path(__file__).resolve().parents[2]  # analysis/report/paths.py -> the checkout
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
