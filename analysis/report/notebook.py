"""Running the notebooks with papermill and rendering their reports.

A notebook runs on the venv's own ``python3`` kernel (:func:`run_notebook`); the executed notebook
is rendered to HTML with inputs hidden (:func:`render_html`), after outputs holding active markup
are reduced to plain text (:func:`neutralise_outputs`). :func:`run_investigation` is the whole
``investigate`` command: validate the parameters, run the pattern's notebook (whose ``pm.write``
writes ``report.html``, the postmortem page of :mod:`analysis.report.page`), and render the executed
notebook beside it as ``notebook.html``, the analyst's record.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_client import AsyncKernelManager

from analysis.params import validate_parameters
from analysis.report.paths import NOTEBOOK_HTML, notebook_for_pattern

__all__ = [
    "CASES",
    "NotebookFailed",
    "QuietKernelManager",
    "run_notebook",
    "neutralise_outputs",
    "render_html",
    "InvestigationRun",
    "run_investigation",
]

#: The three case studies in ``sample_data/``: folder name -> pattern.
CASES: dict[str, str] = {
    "retrieval_degradation": "retrieval",
    "refusal_regression": "refusal",
    "escalation_storm": "escalation",
}


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
    # papermill takes about 2 s to import; the kernels import this package for its display
    # helpers and never run a notebook, so it is imported only here.
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
            kernel_manager_class=QuietKernelManager,
        )
    except PapermillExecutionError as exc:
        evalue = str(exc.evalue).strip().splitlines()[0] if str(exc.evalue).strip() else ""
        raise NotebookFailed(exc.ename, evalue, output if output.exists() else None) from None


class QuietKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel process writes nothing to the user's terminal.

    Cell outputs and errors travel over the kernel's messaging channels, not its stderr; what the
    process itself prints there is start-up and shut-down noise (e.g. libzmq's
    ``Assertion failed: pfd.revents & POLLIN`` when a socket is torn down at exit), which would
    break the command's promise of one clear line on bad input. A kernel that dies is still
    reported by nbclient (``DeadKernelError``).
    """

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        kw.setdefault("stderr", subprocess.DEVNULL)
        return await super()._async_launch_kernel(kernel_cmd, **kw)


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
    from analysis.report.explore import is_marked

    dropped = 0
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        for out in cell.get("outputs", []):
            data = out.get("data")
            if not data or is_marked(out):
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
    # nbformat and nbconvert take about 3 s to import; only the command renders HTML (see run_notebook).
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
    """The ``investigate`` command: validate, execute the pattern's notebook, render it as ``notebook.html``.

    ``parameters`` are the notebook parameters (all of :data:`NOTEBOOK_PARAMETERS`); they are
    validated here first so that a bad path or timestamp fails before a kernel starts. The executed
    notebook is saved into ``out_dir`` under the notebook's name and rendered next to it as
    ``notebook.html``; ``report.html`` is the postmortem page the notebook's ``pm.write`` wrote (a
    notebook that writes none gets its rendering there too).
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
        rules_path=str(p.rules_path) if p.rules_path is not None else "",
        taxonomy_path=str(p.taxonomy_path) if p.taxonomy_path is not None else "",
        evaluations_path=str(p.evaluations_path) if p.evaluations_path is not None else "",
    )
    executed = out_dir / nb_path.name
    page = out_dir / "report.html"
    page.unlink(missing_ok=True)  # a page left by an earlier run must not pass for this one's
    nb = run_notebook(nb_path, executed, params, progress=progress)
    title = _report_title(out_dir) or nb_path.stem.replace("_", " ").capitalize()
    render_html(nb, out_dir / NOTEBOOK_HTML, title=f"{title} (analyst's notebook)")
    # the notebook's pm.write() wrote the postmortem page; a notebook that writes none gets its own rendering
    html_path = page if page.is_file() else render_html(nb, page, title=title)
    files = {f.name: f for f in sorted(out_dir.iterdir()) if f.is_file()}
    return InvestigationRun(out_dir=out_dir, notebook=executed, html=html_path, files=files)


def _report_title(out_dir: Path) -> str | None:
    try:
        return str(json.loads((out_dir / "report.json").read_text(encoding="utf-8")).get("title") or "") or None
    except (OSError, ValueError):
        return None
