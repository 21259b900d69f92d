"""Generate the four notebook templates (outputs stripped). Run from the repo root: .venv/bin/python notebooks/_make_notebooks.py notebooks"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CASES = {
    "retrieval_degradation": dict(
        pattern="retrieval",
        data="retrieval_degradation",
        evaluations="sample_data/retrieval_degradation/evaluations.csv",
        title="Retrieval degradation: a legal RAG assistant cites cases that do not exist",
        intro=(
            "The assistant fabricates case citations. No errors, no latency change. The usual cause: the corpus "
            "grew (here by about 14,000 new filings) but the embedding index was not rebuilt, so queries about the "
            "new filings retrieve poorly and the model fills the gap.\n\n"
            "What to look for: the rolling mean top-1 retrieval relevance crossing the **0.72 reliability "
            "threshold**, its change point following the **corpus update**, the index version stale against the "
            "corpus version, hallucinations concentrated in **low-relevance, low-confidence** answers, and the "
            "weekly 50-question evaluation (95% citation-accuracy bar) that caught it late."
        ),
        q1="High-confidence errors point to a model regression; **low-confidence errors point to retrieval or "
        "context assembly** -- the breakdown below says which one this is.",
        q2="A corpus update without an index rebuild shows as a stale `index_version` against a new "
        "`corpus_version`; the relevance series moves at the corpus update, not at the nearer decoys.",
        q3="Fabricated citations are systematic when the hallucination rate rises beyond the baseline in the "
        "segments that query the new filings.",
        q4="A fixed threshold on retrieval relevance (a quality signal that was logged but not watched) would "
        "have alarmed long before the weekly evaluation.",
    ),
    "refusal_regression": dict(
        pattern="refusal",
        data="refusal_regression",
        title="Refusal regression: a medical triage assistant stops refusing high-risk questions",
        intro=(
            "The refusal rate of high-risk (chest pain) queries fell from about 100% to under 5% over 72 hours. "
            "A base-model version update had rolled out 96 hours before; the new version engages with high-risk "
            "queries framed in specific ways.\n\n"
            "What to look for: the refusal rate **per risk category and per framing**; stratified by "
            "`model_version` the regression is visible from the update on, **days before the aggregate moved**; "
            "the 2-sigma rolling-baseline alarm; and the list of queries in the failure window that should have "
            "been refused (about 0.3% of volume), exported to `affected_events.csv` for manual review."
        ),
        q1="A refusal regression hides in the aggregate: compare the high-risk segments, not all traffic.",
        q2="The model update ranks first on evidence (refusal stratified by `model_version`), even though a "
        "config change and a deploy came nearer to the onset.",
        q3="For medical advice 0.1% is already systematic: the risk tier's own threshold decides.",
        q4="A per-segment SPC chart on the refusal rate of the high-risk tier would have closed the gap.",
    ),
    "escalation_storm": dict(
        pattern="escalation",
        data="escalation_storm",
        title="Escalation storm: a support bot hands every ticket to a human",
        intro=(
            "The escalation rate went from the usual 8-12% to 100% within 6 hours. A competitor's blog post 48 "
            "hours earlier had brought general, account-less queries that the routing classifier was not "
            "trained on.\n\n"
            "What to look for: the escalation rate **per query category**; the **query-mix shift** (chi-square "
            "and PSI on category and traffic source, KS on classifier confidence) starting at the traffic change, "
            "long before the storm; and the **lead time** a traffic-pattern monitor would have bought."
        ),
        q1="Low classifier confidence on the new traffic is the tell: the errors are not the model's.",
        q2="The traffic change ranks first because the query mix drifts from it on; the decomposition separates "
        "mix shift (traffic moved between segments) from within-segment change.",
        q3="The storm is systematic: escalation rises beyond the baseline in every affected category.",
        q4="A drift monitor on the query mix fires at the traffic change, long before the escalation rate moves.",
    ),
    "triage": dict(
        pattern="auto",
        data="refusal_regression",
        title="Triage: investigate any LLM incident",
        intro=(
            "For any request log and change log. With `pattern = \"auto\"` the kit scans every outcome metric "
            "(refused, escalated, correct, hallucinated, and labels derived from the text where missing) and every "
            "segment, and investigates the strongest change. Set `pattern` to `retrieval`, `refusal` or "
            "`escalation` when the symptom is known, or `metric` and `segment_by` to focus.\n\n"
            "The defaults run on the refusal-regression case study in `sample_data/`."
        ),
        q1="Each outcome metric, baseline against the failure window, with intervals and effect sizes.",
        q2="Every change event (and every version that changed in the logs without one) scored on evidence.",
        q3="A sample scan per segment against the baseline, with each risk tier's own threshold.",
        q4="Each monitor replayed over the history: its first alarm, its lead time, its false alarms.",
    ),
}

def params_source(data: str, pattern: str, out: str, evaluations: str = "") -> str:
    """The parameters cell: one typed, commented line per parameter; the help comes from the spec."""
    import json

    from analysis.params import NOTEBOOK_PARAMETERS, default_parameters

    defaults = default_parameters(
        events_path=f"sample_data/{data}/events.parquet",
        changes_path=f"sample_data/{data}/changes.csv",
        pattern=pattern,
        out_dir=f"reports/{out}",
        evaluations_path=evaluations,
    )
    lines = [
        "# Notebook parameters (papermill -p NAME VALUE; list them with papermill --help-notebook).",
        "# Relative paths are looked up from the working directory, then from the repository root.",
    ]
    for name, spec in NOTEBOOK_PARAMETERS.items():
        v = defaults[name]
        lit = json.dumps(v) if isinstance(v, str) else repr(v)
        assert "=" not in spec.help and "#" not in spec.help and "=" not in lit
        lines.append(f"{name}: {spec.type.__name__} = {lit}  # {spec.help}")
    return "\n".join(lines) + "\n"


def build(name: str, spec: dict[str, str]) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": {"name": "python"},
    }
    how = (
        f"**Run it** from the repository root:\n\n"
        f"```\npython -m analysis investigate --pattern {spec['pattern']} --events EVENTS --changes CHANGES --out DIR\n"
        f"papermill notebooks/{name}.ipynb out.ipynb -p events_path EVENTS -p changes_path CHANGES\n```\n\n"
        f"`papermill --help-notebook notebooks/{name}.ipynb` lists the parameters. In JupyterLab, edit the "
        "parameters cell and run all. The cells below only call into the `analysis` package."
    )
    cells = [
        new_markdown_cell(f"# {spec['title']}\n\n{spec['intro']}\n\n{how}"),
        new_code_cell(params_source(spec["data"], spec["pattern"], name, spec.get("evaluations", ""))),
        new_code_cell(
            "# papermill injects unknown and ill-typed parameters silently: reject them here, before anything runs.\n"
            "import analysis.report as report\n"
            "from analysis import params\n"
            "\n"
            "p = params.validate_parameters(globals(), params.NOTEBOOK_PARAMETERS)\n"
            "p"
        ),
        new_markdown_cell(
            "## Load\n\nThe events are opened on the engine (DuckDB, or Spark with `engine=\"spark\"`), which reads "
            "canonical Parquet where it lies and validates it with queries; other formats are mapped by their loaders. "
            "The loaders map every format onto the canonical `events` and `changes` tables (and the "
            "offline evaluation history, when `evaluations_path` is given, onto `evaluations`). Rows that "
            "cannot be read are not dropped silently: they are counted here and written to "
            "`rejected_<table>.csv` in the report directory, with the reason."
        ),
        new_code_cell(
            "%matplotlib inline\n"
            "import analysis\n"
            "from analysis.report import explore, plots\n"
            "from analysis.loaders import load_changes, load_evaluations, open_events\n"
            "\n"
            "events = open_events(p.events_path, engine=p.engine, memory_limit=p.memory_limit, spark_master=p.spark_master,\n"
            "                     assume_tz=p.assume_tz, mapping=p.mapping_path, project=p.project, start=p.start, end=p.end)\n"
            "changes = load_changes(p.changes_path, assume_tz=p.assume_tz)\n"
            "explore.init()  # interactive tables and figures, offline\n"
            "evaluations = load_evaluations(p.evaluations_path, assume_tz=p.assume_tz) if p.evaluations_path else None\n"
            "rejected_files = report.write_rejected(p.out_dir, redact=p.redact, events=events, changes=changes, "
            "evaluations=evaluations)\n"
            "report.load_summary(events=events, changes=changes, evaluations=evaluations)"
        ),
        new_markdown_cell(
            "## Investigate\n\nOne call runs the whole investigation; the sections below read its answers to the "
            "four questions."
        ),
        new_code_cell(
            "pm = analysis.investigate(\n"
            "    events.engine,\n"
            "    changes.frame,\n"
            "    p.investigation,\n"
            "    evaluations=evaluations.frame if evaluations else None,\n"
            "    inputs=report.inputs_summary(events=events, changes=changes, evaluations=evaluations),\n"
            ")\n"
            "report.show_headline(pm, redact=p.redact)"
        ),
        new_markdown_cell(f"## 1. What was the output, and what should it have been?\n\n{spec['q1']}"),
        new_code_cell("report.show_findings(pm, redact=p.redact)"),
        new_code_cell("explore.timeline_figure(pm)  # zoom, pan, hover: the change log is on the figure"),
        new_code_cell("plots.plot_metric_timeline(pm)"),
        new_code_cell("report.show_error_confidence(pm, redact=p.redact)"),
        new_markdown_cell(f"## 2. What changed?\n\n{spec['q2']}"),
        new_code_cell("report.show_candidates(pm, redact=p.redact)"),
        new_code_cell("report.show_drift(pm, redact=p.redact)"),
        new_code_cell("plots.plot_drift_heatmap(pm)"),
        new_markdown_cell(f"## 3. Isolated or systematic?\n\n{spec['q3']}"),
        new_code_cell("report.show_scope(pm, redact=p.redact)"),
        new_code_cell("plots.plot_segments(pm)"),
        new_code_cell(
            "explore.table(pm.affected_events, redact=p.redact, "
            "caption=\"Affected events (sort, search; all of them in affected_events.csv)\")"
        ),
        new_markdown_cell(
            "### Dig in: the requests behind a segment, before and after\n\n"
            "A sample of the segment's requests in the baseline beside a sample from the failure window, pulled "
            "through the engine (at most `n` rows a period, the same rows on every engine). Name another segment "
            "or a topic: `\"topic=3\"`, `\"query_category=chest_pain\"`, `{\"framing\": [\"hypothetical\"]}`; "
            "`None` is all traffic."
        ),
        new_code_cell(
            "pairs = explore.requests_before_after(events.engine, pm, \"onset\", n=5, redact=p.redact)\n"
            "explore.table(pairs, redact=p.redact, caption=f\"{pairs.attrs['segment']}: {pairs.attrs['n_before']} requests \"\n"
            "              f\"in the baseline, {pairs.attrs['n_after']} in the failure window (5 of each)\")"
        ),
        new_markdown_cell(f"## 4. What was the detection gap?\n\n{spec['q4']}"),
        new_code_cell("report.show_monitors(pm, redact=p.redact)"),
        new_code_cell("plots.plot_detection_gap(pm)"),
        new_code_cell("plots.plot_control_charts(pm)"),
        new_markdown_cell(
            "## Timeline\n\nChange events, the onset with its interval, each monitor's first alarm and the report, "
            "with hours relative to the onset."
        ),
        new_code_cell("explore.table(pm.timeline, redact=p.redact, page_length=25)"),
        new_markdown_cell(
            "## Runbook\n\nTriage, scope, mitigate, post-incident. Items the data can answer are ticked (or marked "
            "*no*) with the evidence; the others are left for you to check by hand."
        ),
        new_code_cell("report.show_runbook(pm.runbook, redact=p.redact)"),
        new_markdown_cell(
            "## Write the report\n\n`report.json` (the machine-readable contract), `report.md` (for a ticket), "
            "`timeline.csv` and `affected_events.csv`, and the prevention artifacts: `monitors.yaml` (run it on new "
            "logs with `python -m analysis monitor`) and `regression_cases.csv`/`.jsonl` (the affected requests as an "
            "evaluation dataset). The command adds `report.html` and this executed notebook."
        ),
        new_code_cell(
            "written = pm.write(p.out_dir, redact=p.redact)\n"
            "report.show_files(written, rejected_files)"
        ),
        new_markdown_cell("## Monitors to deploy\n\nEach chart's design and what it did on this history."),
        new_code_cell("report.show_monitors_to_deploy(pm.monitors, redact=p.redact)"),
    ]
    cells[1].metadata["tags"] = ["parameters"]
    nb.cells = cells
    for i, c in enumerate(nb.cells):
        c.id = f"{name.replace('_', '-')}-{i:02d}"
    return nb


def main(out: str) -> None:
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, spec in CASES.items():
        nb = build(name, spec)
        nbformat.validator.normalize(nb)
        nbformat.write(nb, out_dir / f"{name}.ipynb")
        print(out_dir / f"{name}.ipynb")


if __name__ == "__main__":
    main(sys.argv[1])
