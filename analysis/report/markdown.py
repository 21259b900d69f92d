"""``report.md``: the postmortem draft for a ticket, and Markdown-safe text from the data.

:func:`postmortem_markdown` writes the report from ``report.json``'s dictionary
(:meth:`~analysis.report.postmortem.Postmortem.to_dict`), one function per section. Text from the
data is redacted (unless ``redact=False``), its markup and Markdown metacharacters escaped
(:func:`md_text`, :func:`md_code`); numbers are written for people (:mod:`analysis.numbers`).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis import numbers as num
from analysis.investigation.onset import TOO_FEW_DATA
from analysis.redact import safe_text

__all__ = ["md_text", "md_code", "gap_sentence", "durations_sentence", "postmortem_markdown"]

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
# Data text is always inline (after a bullet's label or inside a table cell, newlines folded), so
# only the inline metacharacters need escaping. Markdown renders inline HTML: a `<` that could open
# a tag, a comment or an autolink (before a letter, `/`, `!` or `?`) becomes `&lt;` (without one
# nothing opens, so `>` and "p < 0.001" stay as they are), and `&` becomes `&amp;` where it would
# start an entity (`&lt;` in the data stays `&lt;` on the page).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_ENTITY_START = re.compile(r"&(?=#?\w+;)")
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")

#: a table cell computed from its row, already text for people (numbers: no escaping needed)
Cell = Callable[[Mapping[str, Any]], str]


def md_text(text: Any, *, redact: bool = True, max_len: int | None = 300) -> str:
    """Text from the data made safe for Markdown: redacted, markup neutralised, metacharacters escaped.

    ``<script>`` becomes ``&lt;script>`` (``a < b`` stays), ``**bold**`` ``\\*\\*bold\\*\\*``, ``a|b`` ``a\\|b``
    (a table cell stays one cell); newlines are folded into spaces. ``max_len`` shortens it
    (``None``: never), for quoted prompts and answers, not for the kit's own sentences.
    """
    if text is None:
        return ""
    try:
        if pd.isna(text):
            return ""
    except (TypeError, ValueError):
        pass
    t = safe_text(str(text), redact=redact, max_len=max_len)
    t = _TAG_START.sub("&lt;", _ENTITY_START.sub("&amp;", t))
    t = _MD_SPECIAL.sub(r"\\\1", t)
    return t.replace("\r", " ").replace("\n", " ")


def md_code(text: Any, *, redact: bool = True) -> str:
    """A name from the data (a change id, a column) as inline code, or as :func:`md_text` when it
    holds a character a code span cannot carry safely (a backtick, ``|``, ``<``, ``&``)."""
    t = "" if text is None else str(safe_text(str(text), redact=redact, max_len=300)).replace("\r", " ").replace("\n", " ")
    if not t.strip() or any(c in t for c in "`|<&"):
        return md_text(text, redact=redact)
    return f"`{t}`"


def _cell(v: Any, redact: bool) -> str:
    """One table cell by its type: numbers and times for people, data text escaped, nothing blank."""
    if v is None or v is pd.NA:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (pd.Timestamp, _dt.datetime)) or (isinstance(v, str) and _ISO.match(v)):
        return num.timestamp(v)
    if isinstance(v, (float, int, np.floating, np.integer)):
        return num.number(v)
    if isinstance(v, Mapping):
        return md_text(_seg_text(v), redact=redact)
    if isinstance(v, (list, tuple)):
        return md_text(", ".join(map(str, v)), redact=redact)
    return md_text(v, redact=redact)


def _md_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, redact: bool, max_rows: int = 30,
              cells: Mapping[str, Cell] | None = None) -> str:
    """A Markdown table of ``columns``; ``cells`` computes a column's text from the row (numbers
    for people, see :mod:`analysis.numbers`), the others go through :func:`_cell`."""
    if not rows:
        return "_(none)_\n"
    cells = cells or {}
    head = "| " + " | ".join(columns) + " |\n| " + " | ".join("---" for _ in columns) + " |\n"
    body = []
    for r in list(rows)[:max_rows]:
        body.append("| " + " | ".join(cells[c](r) if c in cells else _cell(r.get(c), redact) for c in columns) + " |")
    more = f"\n_({len(rows) - max_rows} more rows in the JSON/CSV)_\n" if len(rows) > max_rows else "\n"
    return head + "\n".join(body) + more


def _col(key: str, fmt: Callable[[Any], str]) -> Cell:
    """A cell that formats the row's ``key`` with ``fmt``."""
    return lambda r: fmt(r.get(key))


def _seg_text(seg: Any) -> str:
    if isinstance(seg, Mapping):
        return ", ".join(f"{k} in [{', '.join(map(str, v))}]" if isinstance(v, (list, tuple)) else f"{k}={v}"
                         for k, v in seg.items()) or "all traffic"
    return str(seg) if seg else "all traffic"


def _evidence_list(text: Any, *, redact: bool, indent: str = "  ") -> list[str]:
    """An evidence sentence as bullet points, one per part, whole (never cut)."""
    return [f"{indent}- {md_text(item, redact=redact, max_len=None)}" for item in num.evidence_items(text)]


def gap_sentence(q4: dict[str, Any], *, strong: bool = False) -> str:
    """The detection gap in one Markdown sentence, from ``report.json``'s ``q4_detection_gap``.

    Never renders an empty figure: without an alarm before the report it says so (and the gap
    category, when there is one); without an incident it says there was nothing to detect.
    """
    b = "**" if strong else ""
    cat = q4.get("gap_category")
    cat_txt = f"category {b}{md_text(cat)}{b}" if cat else "no gap category"
    if q4.get("earliest_alarm") and q4.get("gap_hours") is not None:
        return (f"Gap {b}{num.duration(q4.get('gap_hours'))}{b}, {cat_txt}; earliest alarm "
                f"{_fmt_iso(q4.get('earliest_alarm'))} by {md_text(q4.get('closing_monitor'))}")
    if cat is None:
        if str(q4.get("gap_explanation") or "").startswith(TOO_FEW_DATA):
            return "Too few data to answer, so no detection gap"
        return "No incident, so no detection gap"
    return f"No replayed monitor alarmed before the report ({cat_txt})"


def _fmt_iso(s: Any) -> str:
    return num.timestamp(s, missing="none")


def _header(pm: Any, d: Mapping[str, Any], redact: bool) -> list[str]:
    """The title, the generation line and the derived labels."""
    L: list[str] = []
    L.append(f"# {md_text(pm.title, redact=redact)}\n")
    L.append(f"_Generated {d['generated_at']} by the AI incident forensics kit {d['kit_version']}; pattern {md_code(pm.pattern)}._\n")
    if pm.derived_metrics:
        L.append(f"**Derived labels:** {', '.join(md_text(m) for m in pm.derived_metrics)} were derived from text by a documented rule, not logged.\n")
        for col, rule in (pm.label_rules or {}).items():
            L.append(f"- {md_code(col)}: {md_text(str(rule), max_len=None)}")
            q = (pm.label_quality or {}).get(col)
            if q and q.get("n"):
                L.append(f"  - measured on the {num.count(q['n'])} rows that carry the label (the rule completed the others): "
                         f"precision {num.rate(q['precision'])}, recall {num.rate(q['recall'])}")
        L.append("")
    return L


def _summary(pm: Any, d: Mapping[str, Any], redact: bool) -> list[str]:
    """The summary: onset, most likely cause, scope, detection gap, durations."""
    L: list[str] = []
    on = d["onset"] or {}
    seg = _seg_text(on.get("segment"))
    L.append("## Summary\n")
    cands = d["q2_what_changed"]["candidates"]
    top = cands[0] if cands else None
    q3, q4 = d["q3_scope"], d["q4_detection_gap"]
    too_few = (q3 or {}).get("verdict") == "too_few_data"
    L.append(f"- **Onset:** {_fmt_iso(on.get('ts'))} in {md_code(on.get('metric'))} ({md_text(seg, redact=redact)})"
             + (f", interval {_fmt_iso(on['interval'][0])} .. {_fmt_iso(on['interval'][1])}" if on.get("interval") else "")
             + (f": {TOO_FEW_DATA} ({md_text(on.get('reason'))})" if too_few else "") + "\n")
    if too_few:
        L.append(f"- **Most likely cause:** none: {TOO_FEW_DATA}, so no change can be tied to an onset "
                 "(the change log is listed under question 2)\n")
    elif top and not on.get("ts"):
        L.append("- **Most likely cause:** none: no onset was detected, so no change can be tied to one "
                 "(the change log is listed under question 2)\n")
    elif top:
        L.append(f"- **Most likely cause:** {md_code(top['change_id'], redact=redact)} ({md_text(top['change_type'])}, "
                 f"{_fmt_iso(top['ts'])}), score {_score(top['score'])}. Evidence:")
        L += _evidence_list(top.get("evidence"), redact=redact)
        L.append("")
    else:
        L.append("- **Most likely cause:** none found\n")
    if q3 and too_few:
        L.append(f"- **Scope:** {q3['verdict']}: {md_text(q3.get('reason'), redact=redact, max_len=None)}\n")
    elif q3:
        L.append(f"- **Scope:** {q3['verdict']}: {md_text(q3.get('reason'), redact=redact, max_len=None)}; "
                 f"{num.count(q3['affected_events'])} affected events ({num.rate(q3.get('affected_share'))} of traffic in the "
                 "failure window)\n")
    if q4:
        L.append(f"- **Detection gap:** {gap_sentence(q4)}\n")
    dur = d.get("durations") or {}
    if dur:
        L.append(f"- **Durations:** {durations_sentence(dur)}\n")
    L.append("")
    return L


def _question_1(pm: Any, d: Mapping[str, Any], redact: bool) -> list[str]:
    """Question 1: the significant differences and the errors by confidence."""
    L: list[str] = []
    L.append("## 1. What was the output, and what should it have been?\n")
    q1 = d["q1_output"]
    if (d.get("q3_scope") or {}).get("verdict") == "too_few_data":
        L.append(f"**{TOO_FEW_DATA.capitalize()}:** {md_text((d.get('onset') or {}).get('reason'))}. There is no failure "
                 "window: the differences below compare the last period with what precedes it and describe the data; "
                 "they are not an incident's.\n")
    if q1.get("baseline"):
        L.append(f"Baseline {_fmt_iso(q1['baseline']['start'])} .. {_fmt_iso(q1['baseline']['end'])}; "
                 f"current {_fmt_iso(q1['current']['start'])} .. {_fmt_iso(q1['current']['end'])}.\n")
    sig = [f for f in q1["findings"] if f.get("significant")]
    sig.sort(key=lambda f: -abs(f.get("effect") or 0))
    L.append("Significant differences (Benjamini-Hochberg), largest effect first (rates in %, their differences in "
             "percentage points; effect: Cohen's h for rates, d for means):\n")
    L.append(_md_table(sig, ["metric", "segment", "baseline", "current", "difference (95% CI)", "effect", "p (adjusted)"],
                       redact=redact, max_rows=20, cells=_FINDING_CELLS))
    ec = q1.get("error_confidence")
    if ec:
        L.append(f"Errors by confidence ({md_text(ec.get('error_definition'))}): **{ec['interpretation']}** "
                 f"(high-confidence share {num.rate(ec.get('high_confidence_share'))}, low-confidence share "
                 f"{num.rate(ec.get('low_confidence_share'))}).\n")
        L.append(_md_table(ec.get("bands", []), ["band", "n", "errors", "error_rate", "share_of_errors"], redact=redact,
                           cells={"n": _col("n", num.count), "errors": _col("errors", num.count),
                                  "error_rate": _col("error_rate", num.rate), "share_of_errors": _col("share_of_errors", num.rate)}))
    sig = (d.get("q3_scope") or {}).get("signatures")
    L += _signatures(sig, "outputs", redact)
    ls = (sig or {}).get("output_length")
    if ls:
        L.append(f"Answer length, failing against baseline: median {num.number(ls.get('median_fail'))} against "
                 f"{num.number(ls.get('median_base'))} characters (Mann-Whitney p {num.pvalue(ls.get('p'))}, "
                 f"Kolmogorov-Smirnov p {num.pvalue(ls.get('ks_p'))}).\n")
    return L


def _signatures(sig: Mapping[str, Any] | None, side: str, redact: bool) -> list[str]:
    """The failure signatures of one side (``inputs`` for Q3, ``outputs`` for Q1), with examples."""
    rows = (sig or {}).get(side) or []
    if not rows:
        return []
    what = "the failing requests ask" if side == "inputs" else "the failing answers say"
    L = [f"**Failure signatures** (what {what}, against the baseline of {md_text(sig.get('segment'), redact=redact)}; "
         f"{num.count(sig.get('n_failing_sampled'))} failing and {num.count(sig.get('n_baseline_sampled'))} baseline requests sampled; log-odds "
         "ratio with an informative Dirichlet prior, Benjamini-Hochberg q):\n"]
    cols = ["phrase", "n_fail", "share_fail", "share_base", "z", "q"]
    if side == "inputs":
        cols += ["slice_rate_baseline", "slice_rate_current", "slice_p_holm"]
    L.append(_md_table(rows, cols, redact=redact, max_rows=10, cells=_SIGNATURE_CELLS))
    for r in rows[:3]:
        ex = r.get("examples") or {}
        if ex.get("failure") or ex.get("baseline"):
            L.append(f"- {md_code(r['phrase'], redact=redact)}: failing "
                     + "; ".join(f"\"{md_text(x, redact=redact, max_len=160)}\"" for x in ex.get("failure", []))
                     + (" -- baseline " + "; ".join(f"\"{md_text(x, redact=redact, max_len=160)}\"" for x in ex["baseline"])
                        if ex.get("baseline") else " -- no baseline request holds it"))
    L.append("")
    return L


def _question_2(pm: Any, d: Mapping[str, Any], redact: bool) -> list[str]:
    """Question 2: the candidates, their separation, the decomposition and the drift."""
    L: list[str] = []
    cands = d["q2_what_changed"]["candidates"]
    L.append("## 2. What changed?\n")
    L.append(_md_table(cands, ["rank", "change_id", "change_type", "ts", "score"], redact=redact, max_rows=15,
                       cells={"score": _col("score", _score)}))
    if cands:
        L.append("Evidence, by candidate:\n")
        for c in cands[:15]:
            L.append(f"- rank {num.count(c.get('rank'))}, {md_code(c.get('change_id'), redact=redact)} ({md_text(c.get('change_type'))}):")
            L += _evidence_list(c.get("evidence"), redact=redact) or ["  - no evidence beyond its time"]
        L.append("")
    sep = d["q2_what_changed"].get("separation")
    if sep:
        head = "**Margin:**" if sep.get("separable") else "**The data cannot separate the first two candidates:**"
        L.append(f"{head} {md_text(sep.get('text'), redact=redact, max_len=None)} (score margin {_score(sep.get('margin'))}).\n")
    if d["q2_what_changed"]["decomposition"]:
        L.append("Decomposition of the aggregate change (mix shift against within-segment change):\n")
        kinds = {f.get("metric"): f.get("kind") for f in d["q1_output"]["findings"]}
        L.append(_md_table(d["q2_what_changed"]["decomposition"], ["segment_column", "statistic", "mix", "within", "mix_share", "simpson"],
                           redact=redact, cells={k: _metric_col(k, kinds, num.difference) for k in ("statistic", "mix", "within")}
                           | {"mix_share": _col("mix_share", num.rate)}))
    if d["q2_what_changed"]["drift"]:
        L.append("Query-mix drift, failure window against baseline:\n")
        L.append(_md_table(d["q2_what_changed"]["drift"], ["column", "test", "statistic", "pvalue", "effect", "drifted"], redact=redact,
                           cells={"pvalue": _col("pvalue", num.pvalue), "effect": _col("effect", num.effect)}))
    return L


def _question_3(pm: Any, d: Mapping[str, Any], redact: bool) -> list[str]:
    """Question 3: the verdict, the mix shift, the segments and the affected events."""
    L: list[str] = []
    q3 = d["q3_scope"]
    L.append("## 3. Isolated or systematic?\n")
    if q3:
        L.append(f"**{q3['verdict']}** -- {md_text(q3.get('reason'), redact=redact, max_len=None)}\n")
        ms = q3.get("mix_shift")
        if ms:
            L.append(f"**Traffic mix shift:** {md_text(ms.get('text'), redact=redact, max_len=None)}; brought by "
                     f"{md_code(ms.get('brought_by'), redact=redact)}. Behaviour within the segments did not change.\n")
        L.append(f"Failure: {md_text(q3.get('failure_definition'))}. Risk-tier tolerances: "
                 + ", ".join(f"{md_text(k)} {num.rate(v)}" for k, v in (q3.get('risk_thresholds') or {}).items()) + ".\n")
        segs = [s for s in q3["segments"] if s.get("status") != "ok"] or q3["segments"][:10]
        L.append(_md_table(segs, ["segment", "tier", "baseline_rate", "current_rate", "95% CI", "p (adjusted)", "status"], redact=redact,
                           cells=_SEGMENT_CELLS))
        L += _signatures(q3.get("signatures"), "inputs", redact)
    if len(pm.affected_events):
        n_aff = pm.q3.n_affected
        L.append(f"Affected events ({'first 20 of ' if n_aff > 20 else ''}{num.count(n_aff)}; all in affected_events.csv):\n")
        ae = pm.affected_events.head(20).to_dict("records")
        L.append(_md_table(ae, ["event_id", "ts", "input_text", "output_text", "why"], redact=redact, max_rows=20))
    return L


def _question_4(pm: Any, d: Mapping[str, Any], redact: bool) -> list[str]:
    """Question 4: the detection gap and the replayed monitors, and what prevents the next one."""
    L: list[str] = []
    q4 = d["q4_detection_gap"]
    L.append("## 4. What was the detection gap?\n")
    if q4:
        L.append(f"{gap_sentence(q4, strong=True)}: {md_text(q4.get('gap_explanation'), redact=False, max_len=600)}\n")
        L.append(_md_table(q4["monitors"], ["name", "metric", "segment", "first_alarm", "lead time", "false_alarms_baseline"], redact=redact,
                           cells={"first_alarm": _col("first_alarm", lambda v: num.timestamp(v, missing="none")),
                                  "lead time": _col("lead_time_hours", num.duration),
                                  "false_alarms_baseline": _col("false_alarms_baseline", num.count)}))
    L.append("Prevention: `monitors.yaml` holds the monitors that would have closed this gap, designed for one false alarm a "
             "month (run them with `python -m analysis monitor`); `regression_cases.csv` / `.jsonl` hold the affected requests "
             "as an evaluation dataset.\n")
    return L


def _data_quality(pm: Any, d: Mapping[str, Any], redact: bool) -> list[str]:
    """Facts about the logs and their effect on the analysis."""
    L: list[str] = []
    if d.get("data_quality"):
        L.append("## Data quality\n")
        L.append("Facts about the logs, not incidents; each with its effect on this analysis:\n")
        for f in d["data_quality"]:
            L.append(f"- {_fmt_iso(f.get('start'))} .. {_fmt_iso(f.get('end'))}: {md_text(f.get('description'), redact=redact)}. "
                     f"Effect: {md_text(f.get('effect'), redact=redact, max_len=None)}.")
        L.append("")
    return L


def _timeline_runbook_notes(pm: Any, d: Mapping[str, Any], redact: bool) -> list[str]:
    """The timeline, the runbook checklists and the notes."""
    L: list[str] = []
    L.append("## Timeline\n")
    L.append(_md_table(d["timeline"], ["ts", "from the onset", "kind", "source", "description"], redact=redact, max_rows=60,
                       cells={"from the onset": _col("t_rel_hours", _relative)}))
    L.append("## Runbook\n")
    for sec in ("triage", "scope", "mitigate", "post_incident"):
        items = [r for r in d["runbook"] if r.get("section") == sec]
        if not items:
            continue
        L.append(f"### {sec.replace('_', '-')}\n")
        for r in items:
            box = {True: "[x]", False: "[ ]", None: "[ ]"}[r.get("checked")]
            tail = " _(check by hand)_" if r.get("checked") is None else ""
            ev = f" -- {md_text(r.get('evidence'), redact=redact, max_len=None)}" if r.get("evidence") else ""
            L.append(f"- {box} {md_text(r.get('item'), redact=False)}{tail}{ev}")
        L.append("")
    if d.get("notes"):
        L.append("## Notes\n")
        for n in d["notes"]:
            L.append(f"- {md_text(n, redact=redact)}")
    return L


_SECTIONS = (_header, _summary, _question_1, _question_2, _question_3, _question_4, _data_quality, _timeline_runbook_notes)


def postmortem_markdown(pm: Any, *, redact: bool = True) -> str:
    """report.md for a :class:`~analysis.report.postmortem.Postmortem`: its sections in order, data text
    redacted (unless ``redact=False``) and escaped."""
    d = pm.to_dict(redact=redact)
    L = [line for section in _SECTIONS for line in section(pm, d, redact)]
    return "\n".join(L).rstrip() + "\n"


def durations_sentence(dur: Mapping[str, Any]) -> str:
    """``report.json``'s ``durations`` in words; a missing one says why (never "- h")."""
    parts = [f"time to detect {num.duration(dur.get('time_to_detect_hours'), missing='unknown (no onset)')}",
             f"detection gap {num.duration(dur.get('detection_gap_hours'), missing='none (no alarm before the report)')}"]
    if dur.get("time_to_mitigate_hours") is None:
        parts.append("time to mitigate not known (no mitigation time was given: `mitigated_at`)")
    else:
        parts.append(f"time to mitigate {num.duration(dur.get('time_to_mitigate_hours'))}")
    return ", ".join(parts)


def _score(x: Any) -> str:
    """A candidate's score (0..1) to 2 decimals."""
    return num.MISSING if num.is_missing(x) else f"{float(x):.2f}"


def _relative(hours: Any) -> str:
    """Hours from the onset as a signed duration: ``-4 d 21 h``, ``+2 d 16 h``, ``0 min``."""
    text = num.duration(hours)
    return text if text.startswith("-") or text in (num.MISSING, "0 min") else "+" + text


def _metric_col(key: str, kinds: Mapping[Any, Any], fmt: Callable[..., str]) -> Cell:
    """A cell formatting ``key`` by the row's metric and its kind (rate or mean)."""
    return lambda r: fmt(r.get(key), kinds.get(r.get("metric")), r.get("metric"))


_FINDING_CELLS: dict[str, Cell] = {
    "metric": lambda r: md_code(r.get("metric")) + (" (derived)" if r.get("derived") else ""),
    "baseline": lambda r: num.value(r.get("baseline"), r.get("kind"), r.get("metric")),
    "current": lambda r: num.value(r.get("current"), r.get("kind"), r.get("metric")),
    "difference (95% CI)": lambda r: (f"{num.difference(r.get('difference'), r.get('kind'), r.get('metric'))} "
                                      f"({num.interval(r.get('ci_low'), r.get('ci_high'), r.get('kind'), r.get('metric'))})"),
    "effect": lambda r: num.effect(r.get("effect"), r.get("kind")),
    "p (adjusted)": _col("p_adjusted", num.pvalue),
}
_SIGNATURE_CELLS: dict[str, Cell] = {
    "n_fail": _col("n_fail", num.count), "share_fail": _col("share_fail", num.rate), "share_base": _col("share_base", num.rate),
    "z": _col("z", num.number), "q": _col("q", num.pvalue), "slice_rate_baseline": _col("slice_rate_baseline", num.rate),
    "slice_rate_current": _col("slice_rate_current", num.rate), "slice_p_holm": _col("slice_p_holm", num.pvalue),
}
_SEGMENT_CELLS: dict[str, Cell] = {
    "baseline_rate": _col("baseline_rate", num.rate), "current_rate": _col("current_rate", num.rate),
    "95% CI": lambda r: f"{num.rate(r.get('ci_low'))} to {num.rate(r.get('ci_high'))}",
    "p (adjusted)": _col("p_adjusted", num.pvalue),
}
