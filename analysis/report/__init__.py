"""The report: the :class:`Postmortem` result, its writers, and the notebooks that show it.

This package owns what an investigation hands to people: the :class:`Postmortem` (the four answers)
and its files (``report.json``, ``report.md`` in :mod:`~analysis.report.markdown`, ``report.html`` in
:mod:`~analysis.report.page` with its first screen in words from :mod:`~analysis.report.answers`, the CSVs,
``monitors.yaml`` in :mod:`~analysis.report.monitors_yaml`, the regression cases in
:mod:`~analysis.report.regression`); the notebooks of each pattern (:mod:`~analysis.report.paths`; their parameters are
:mod:`analysis.params`, re-exported here for the notebook cells), running a
notebook with papermill and rendering it to HTML (:mod:`~analysis.report.notebook`), the escaped,
redacted display helpers of the notebook cells (:mod:`~analysis.report.html`) and the figures
(:mod:`~analysis.report.plots`, imported on its own: ``from analysis.report import plots``). It may
import ``analysis._common``, ``analysis.redact`` (whose ``csv_safe`` and ``csv_safe_frame`` it
re-exports), ``analysis.params`` and the investigation's results (``Postmortem`` is an
:class:`~analysis.investigation.Investigation` with writers); it never imports ``analysis.prevention``,
``analysis.api`` or ``analysis.cli``, which import it.
The notebooks use it as ``import analysis.report as report``.
"""

from __future__ import annotations

from analysis.redact import csv_safe, csv_safe_frame
from analysis.params import (
    NOTEBOOK_PARAMETERS,
    PATTERNS,
    Param,
    ParameterError,
    Parameters,
    default_parameters,
    repo_root,
    resolve_input_path,
    resolve_output_dir,
    validate_parameters,
)
from typing import Any

from analysis.report import answers, html, markdown, monitors_yaml, notebook, page, paths, regression
from analysis.report.answers import Answer, FirstScreen, Impact, QUESTIONS, first_screen
from analysis.report.html import (
    HtmlBlock,
    inputs_summary,
    load_summary,
    show_candidates,
    show_drift,
    show_error_confidence,
    show_files,
    show_findings,
    show_headline,
    show_monitors,
    show_monitors_to_deploy,
    show_runbook,
    show_scope,
    show_table,
    write_rejected,
)
from analysis.report.markdown import gap_sentence, md_text, postmortem_markdown
from analysis.report.monitors_yaml import dump_monitors
from analysis.report.notebook import (
    CASES,
    InvestigationRun,
    NotebookFailed,
    QuietKernelManager,
    neutralise_outputs,
    render_html,
    run_investigation,
    run_notebook,
)
from analysis.report.page import postmortem_page, write_page
from analysis.report.paths import NOTEBOOK_HTML, PATTERN_NOTEBOOKS, notebook_for_pattern, notebooks_dir
from analysis.report.regression import REGRESSION_COLUMNS, regression_cases, write_regression_cases

# Every public name of the modules above (plots excepted: it is imported on its own, for matplotlib).
__all__ = [
    "csv_safe",
    "csv_safe_frame",
    # the notebook parameters, from the one spec of analysis.params
    "NOTEBOOK_PARAMETERS", "PATTERNS", "Param", "ParameterError", "Parameters", "default_parameters", "repo_root",
    "resolve_input_path", "resolve_output_dir", "validate_parameters",
    *paths.__all__,
    *notebook.__all__,
    *html.__all__,
    "Postmortem",
    "SCHEMA_VERSION",
    *markdown.__all__,
    *answers.__all__,
    *page.__all__,
    *monitors_yaml.__all__,
    *regression.__all__,
]


def __getattr__(name: str) -> Any:
    # the Postmortem (and report.json's schema version) on first use: it brings the whole
    # investigation (scipy, statsmodels, the engine), which the command's own process, running a
    # notebook, never needs
    if name in ("Postmortem", "SCHEMA_VERSION"):
        from analysis.report import postmortem

        return getattr(postmortem, name)
    raise AttributeError(f"module 'analysis.report' has no attribute {name!r}")
