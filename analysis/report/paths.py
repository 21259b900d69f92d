"""Where the notebooks, the inputs and the reports are.

Relative input paths are looked up from the working directory, then from the repository root, so
that the same defaults work from JupyterLab (cwd ``notebooks/``), papermill and nbval; a relative
``out_dir`` is taken from the repository root. :data:`PATTERN_NOTEBOOKS` names the notebook run
for each ``pattern``; :data:`NOTEBOOK_HTML` is the executed notebook's rendering beside the report.
"""

from __future__ import annotations

from pathlib import Path

from analysis.params import PATTERNS, ParameterError, repo_root

__all__ = ["PATTERN_NOTEBOOKS", "NOTEBOOK_HTML", "notebooks_dir", "notebook_for_pattern"]

#: The executed notebook's rendering, written beside ``report.html`` by the ``investigate`` command:
#: the analyst's record, which the postmortem page links to.
NOTEBOOK_HTML = "notebook.html"

#: Notebook run for each ``pattern``; ``auto`` runs the generic triage notebook.
PATTERN_NOTEBOOKS: dict[str, str] = {
    "auto": "triage.ipynb",
    "retrieval": "retrieval_degradation.ipynb",
    "refusal": "refusal_regression.ipynb",
    "escalation": "escalation_storm.ipynb",
}


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
