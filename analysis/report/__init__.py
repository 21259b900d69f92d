"""The report: the :class:`Postmortem` result, its writers, and the notebooks that show it.

This package owns what an investigation hands to people: the :class:`Postmortem` (the four answers)
and its files (``report.json``, ``report.md`` in :mod:`~analysis.report.markdown`, the CSVs,
``monitors.yaml`` in :mod:`~analysis.report.monitors_yaml`, the regression cases in
:mod:`~analysis.report.regression`); the notebook parameters and their validation
(:mod:`~analysis.report.parameters`), path resolution (:mod:`~analysis.report.paths`), running a
notebook with papermill and rendering it to HTML (:mod:`~analysis.report.notebook`), the escaped,
redacted display helpers of the notebook cells (:mod:`~analysis.report.html`) and the figures
(:mod:`~analysis.report.plots`, imported on its own: ``from analysis.report import plots``). It may
import ``analysis._common``, ``analysis.redact`` (whose ``csv_safe`` and ``csv_safe_frame`` it
re-exports) and the engine (the ``engine`` parameter's
values); it never imports ``analysis.investigation`` or ``analysis.prevention``, which import it.
The notebooks use it as ``import analysis.report as report``.
"""

from __future__ import annotations

from analysis.redact import csv_safe, csv_safe_frame
from analysis.report import html, markdown, monitors_yaml, notebook, parameters, paths, postmortem, regression
from analysis.report.errors import ParameterError
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
from analysis.report.parameters import (
    NOTEBOOK_PARAMETERS,
    Param,
    Parameters,
    default_parameters,
    validate_parameters,
)
from analysis.report.paths import (
    PATTERN_NOTEBOOKS,
    PATTERNS,
    notebook_for_pattern,
    notebooks_dir,
    repo_root,
    resolve_input_path,
    resolve_output_dir,
)
from analysis.report.postmortem import SCHEMA_VERSION, Postmortem
from analysis.report.regression import REGRESSION_COLUMNS, regression_cases, write_regression_cases

# Every public name of the modules above (plots excepted: it is imported on its own, for matplotlib).
__all__ = [
    "csv_safe",
    "csv_safe_frame",
    *paths.__all__,
    *parameters.__all__,  # with ParameterError (defined in errors, below paths)
    *notebook.__all__,
    *html.__all__,
    *postmortem.__all__,
    *markdown.__all__,
    *monitors_yaml.__all__,
    *regression.__all__,
]
