"""What the notebook cells display, and the load reports: escaped, redacted HTML.

The display helpers show text from the data: they redact personal data (unless asked not to) and
escape HTML (:func:`show_table`, :func:`show_runbook`, ...); the section views select, order and
escape the :class:`~analysis.report.postmortem.Postmortem`'s tables for the notebooks
(:func:`show_findings`, :func:`show_scope`, ...). :func:`load_summary` and :func:`inputs_summary`
report what each loader read, and :func:`write_rejected` writes the rows it rejected.
"""

from __future__ import annotations

import csv
import html
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import numbers as num
from analysis.investigation.onset import TOO_FEW_DATA
from analysis.redact import csv_safe_frame, escape_html, safe_text

__all__ = [
    "HtmlBlock",
    "inputs_summary",
    "load_summary",
    "write_rejected",
    "show_table",
    "show_runbook",
    "show_headline",
    "show_findings",
    "show_error_confidence",
    "show_candidates",
    "show_drift",
    "show_scope",
    "show_monitors",
    "show_monitors_to_deploy",
    "show_files",
]


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


def _score(v: Any) -> str:
    return num.MISSING if num.is_missing(v) else f"{float(v):.2f}"


def _relative(hours: Any) -> str:
    text = num.duration(hours)
    return text if text.startswith("-") or text in (num.MISSING, "0 min") else "+" + text


#: Columns whose numbers have a known meaning, written for people wherever a table shows them.
_BY_NAME: dict[str, Any] = {
    **dict.fromkeys(("pvalue", "p_adjusted", "q", "slice_p_holm", "pvalue_baseline", "p_adjusted_baseline"), num.pvalue),
    **dict.fromkeys(("baseline_rate", "current_rate", "error_rate", "share_of_errors", "share_fail", "share_base",
                     "slice_rate_baseline", "slice_rate_current", "threshold", "mix_share", "affected_share"), num.rate),
    **dict.fromkeys(("lead_hours", "lead_time_hours", "lead time (h)"), num.duration),
    "t_rel_hours": _relative,
    "score": _score,
}


def _fmt_cell(v: Any, redact: bool, max_len: int | None, column: str = "") -> str | tuple[str, ...]:
    """A cell's text: numbers for people (:mod:`analysis.numbers`, by the column's name when it has
    a known meaning), times in UTC, data text redacted and shortened; a tuple is a list of items
    (each whole, never shortened)."""
    if isinstance(v, tuple):
        return tuple(str(safe_text(str(x), redact=redact, max_len=None)) for x in v)
    if v is None or (not isinstance(v, (list, dict)) and _isna(v)):
        return num.MISSING if column in _BY_NAME else ""
    if column in _BY_NAME and not isinstance(v, (str, bool, np.bool_)):
        return _BY_NAME[column](v)
    if isinstance(v, pd.Timestamp):
        return num.timestamp(v)
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return num.count(v)
    if isinstance(v, (float, np.floating)):
        return num.number(v)
    if isinstance(v, (dict, list)):
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
             "lead time": num.duration(m["history"]["lead_time_hours"]), "description": m.get("description", "")}
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
    cells = [[_fmt_cell(v, redact, max_len, c) for v, c in zip(row, cols)] for row in shown.itertuples(index=False, name=None)]
    head = "".join(f"<th>{escape_html(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_cell_html(c)}</td>" for c in row) + "</tr>" for row in cells)
    more = len(df) - len(shown)
    foot = f"<p><em>{more} more rows not shown</em></p>" if more > 0 else ""
    cap = f"<caption>{escape_html(caption)}</caption>" if caption else ""
    html_text = f"<table class='dataframe'>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{foot}"
    plain_df = pd.DataFrame([["; ".join(c) if isinstance(c, tuple) else c for c in row] for row in cells], columns=cols)
    plain = plain_df.to_string(index=False, max_colwidth=60) + (f"\n... {more} more rows" if more > 0 else "")
    if caption:
        plain = caption + "\n" + plain
    return HtmlBlock(html_text, html.escape(plain, quote=False))


def _cell_html(cell: str | tuple[str, ...]) -> str:
    """A cell's escaped HTML: a list of items as bullet points."""
    if isinstance(cell, tuple):
        return "<ul style='margin:0;padding-left:1.2em'>" + "".join(f"<li>{escape_html(x)}</li>" for x in cell) + "</ul>"
    return escape_html(cell)


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
    return num.timestamp(ts, missing="none")


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
    if q3.get("verdict") == "too_few_data":  # every line says so
        top = None
        seg_text = f"{seg_text}; {onset.get('reason')}"
    lines = [
        ("Pattern", str(d.get("pattern") or getattr(pm, "pattern", ""))),
        ("Onset", f"{_fmt_ts(onset.get('ts'))} in {onset.get('metric') or 'no metric'} ({seg_text}; "
                  f"{onset.get('method') or 'no method'})"),
        (
            "Most likely cause",
            (f"{top.get('change_id')} ({top.get('change_type')}, {_fmt_ts(top.get('ts'))}, score {_score(top.get('score'))})" if top
             else f"none: {TOO_FEW_DATA}" if q3.get("verdict") == "too_few_data" else "none found"),
        ),
        (
            "Scope",
            f"{q3.get('verdict', 'no verdict')}: {num.count(q3.get('affected_events', 0))} affected events "
            f"({num.rate(q3.get('affected_share'))} of traffic)",
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
    """The detection gap in plain text; never an empty figure (see :func:`analysis.report.markdown.gap_sentence`)."""
    alarm = q4.get("earliest_alarm")
    alarm = alarm.get("ts") if isinstance(alarm, dict) else alarm
    if alarm and q4.get("gap_hours") is not None:
        return f"{num.duration(q4.get('gap_hours'))} ({q4.get('gap_category') or 'no category'}); earliest alarm {_fmt_ts(alarm)}"
    if not q4.get("gap_category"):
        if str(q4.get("gap_explanation") or "").startswith(TOO_FEW_DATA):
            return f"{TOO_FEW_DATA}, so no detection gap"
        return "no incident, so no detection gap"
    return f"no replayed monitor alarmed before the report ({q4.get('gap_category')})"


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
        return "none"
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
    cols = ["metric", "segment", "n_baseline", "n_current", "baseline", "current", "difference", "95% CI", "effect",
            "p_adjusted", "significant"]
    order = _findings_for_people(order)
    too_few = getattr(pm.q3, "verdict", None) == "too_few_data"
    return _compose(
        _para(f"{pm.onset.get('reason')}. There is no failure window: the differences below compare the last period with "
              "what precedes it and describe the data; they are not an incident's.", redact=False,
              strong=f"{TOO_FEW_DATA.capitalize()}:") if too_few else None,
        _para(
            f"Baseline {_period(q1.baseline)} against the failure window {_period(q1.current)}: {n_sig} of {len(f)} "
            "metric/segment differences are significant after Benjamini-Hochberg (rates in %, their differences in "
            "percentage points; intervals: 95%, of current - baseline; effect: Cohen's h for rates, d for means).",
            redact=False,
        ),
        show_table(order, redact=redact, max_rows=max_rows, columns=cols),
        *_signature_parts(pm, "outputs", redact),
    )


def _findings_for_people(f: pd.DataFrame) -> pd.DataFrame:
    """Q1's findings with their values written by kind: rates in %, differences in points, means in
    the metric's unit (:mod:`analysis.numbers`)."""
    rows = list(zip(f["kind"], f["metric"].astype(str).str.replace(" (derived)", "", regex=False)))
    return f.assign(
        baseline=[num.value(v, k, m) for v, (k, m) in zip(f["baseline"], rows)],
        current=[num.value(v, k, m) for v, (k, m) in zip(f["current"], rows)],
        difference=[num.difference(v, k, m) for v, (k, m) in zip(f["difference"], rows)],
        **{"95% CI": [num.interval(lo, hi, k, m) for lo, hi, (k, m) in zip(f["ci_low"], f["ci_high"], rows)]},
        effect=[num.effect(v, k) for v, (k, _) in zip(f["effect"], rows)],
    )


def _signature_parts(pm: Any, side: str, redact: bool) -> list[Any]:
    """The failure signatures of one side (Q3: what the failing requests ask; Q1: what their answers
    say), as a table and three examples each, baseline against failure."""
    sig = getattr(pm.q3, "signatures", None) if pm.q3 is not None else None
    table = None if sig is None else (sig.inputs if side == "inputs" else sig.outputs)
    if table is None or not len(table):
        return []
    what = "the failing requests ask" if side == "inputs" else "the failing answers say"
    cols = ["phrase", "n_fail", "share_fail", "share_base", "z", "q"]
    if side == "inputs":
        cols += ["slice_rate_baseline", "slice_rate_current", "slice_p_holm"]
    parts: list[Any] = [_para(f"Failure signatures: what {what}, against the baseline of {sig.segment} ({sig.n_fail} failing and "
                              f"{sig.n_base} baseline requests sampled; log-odds ratio with an informative Dirichlet prior, "
                              "Benjamini-Hochberg q).", redact=redact),
                        show_table(table, redact=redact, max_rows=10, columns=[c for c in cols if c in table.columns])]
    key = "input" if side == "inputs" else "output"
    rows = []
    for phrase in table["phrase"].head(3):
        ex = sig.examples.get(f"{key}:{phrase}", {})
        for group in ("failure", "baseline"):
            rows += [{"phrase": phrase, "group": group, "text": t} for t in ex.get(group, [])]
    if rows:
        parts.append(show_table(pd.DataFrame(rows), redact=redact, max_rows=len(rows)))
    return parts


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
        show_table(ec.table.assign(**{c: [num.rate(v) for v in ec.table[c]] for c in ("ci_low", "ci_high") if c in ec.table}),
                   redact=redact),
    )


def show_candidates(pm: Any, *, redact: bool = True, max_rows: int = 10) -> HtmlBlock:
    """Q2: the change events ranked by evidence, most likely cause first."""
    q2 = pm.q2
    if q2 is None or q2.candidates is None or len(q2.candidates) == 0:
        return HtmlBlock("<p><em>No change event and no inferred change.</em></p>", "No candidates.")
    cols = ["rank", "change_id", "change_type", "ts", "score", "lead_hours", "inferred", "evidence"]
    shown = q2.candidates.assign(evidence=[tuple(num.evidence_items(e)) for e in q2.candidates["evidence"]])
    return show_table(shown, redact=redact, max_rows=max_rows, columns=cols, max_len=400)


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
        rows = [_decomposition_for_people(d.to_dict() if hasattr(d, "to_dict") else dict(d), pm) for d in decs]
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


def _decomposition_for_people(row: dict[str, Any], pm: Any) -> dict[str, Any]:
    """A decomposition's values by its metric's kind: a rate's in % and points, a mean's in its unit."""
    f = getattr(pm.q1, "findings", None) if pm.q1 is not None else None
    kinds = dict(zip(f["metric"], f["kind"])) if f is not None and len(f) else {}
    k, m = kinds.get(row.get("metric")), row.get("metric")
    return {**row, **{c: num.value(row.get(c), k, m) for c in ("aggregate_baseline", "aggregate_current")},
            **{c: num.difference(row.get(c), k, m) for c in ("mix", "within")}}


def show_scope(pm: Any, *, redact: bool = True, max_rows: int = 15) -> HtmlBlock:
    """Q3: the verdict with its reason, and the segment scan (flagged segments first)."""
    q3 = pm.q3
    if q3 is None:
        return HtmlBlock("<p><em>No scope analysis.</em></p>", "No scope analysis.")
    seg = _with_segment(q3.segments) if q3.segments is not None else None
    if seg is not None and len(seg) and "status" in seg.columns:
        rank = seg["status"].map({"systematic": 0, "elevated": 1}).fillna(2)
        seg = seg.assign(_r=rank).sort_values(["_r"], kind="stable")
    cols = ["segment", "tier", "threshold", "n_baseline", "baseline_rate", "n_current", "current_rate", "95% CI",
            "excess_events", "p_adjusted", "status"]
    if seg is not None and len(seg):
        seg = seg.assign(**{"95% CI": [f"{num.rate(lo)} to {num.rate(hi)}" for lo, hi in zip(seg["ci_low"], seg["ci_high"])]})
    thresholds = ", ".join(f"{k} {num.rate(v)}" for k, v in (q3.risk_thresholds or {}).items())
    return _compose(
        _para(f"{q3.reason}", redact=redact, strong=f"Verdict: {q3.verdict}."),
        _para(f"Failure: {q3.failure_definition}. Failure window {_period(q3.period)}. {num.count(q3.n_affected)} affected events "
              f"({num.rate(q3.affected_share)} of requests in the window). Risk-tier tolerances: {thresholds or 'none'}.",
              redact=redact),
        show_table(seg, redact=redact, max_rows=max_rows, columns=cols),
        *_signature_parts(pm, "inputs", redact),
    )


def show_monitors(pm: Any, *, redact: bool = True) -> HtmlBlock:
    """Q4: the gap, its category and the monitor that would have closed it; every replayed monitor."""
    q4 = pm.q4
    if q4 is None:
        return HtmlBlock("<p><em>No monitors replayed.</em></p>", "No monitors replayed.")
    head = (f"{num.duration(q4.gap_hours)} between the earliest usable alarm ({_fmt_ts(q4.earliest_alarm)}, "
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
