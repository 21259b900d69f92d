"""The postmortem: the four answers assembled, and the report writers.

:func:`analysis.investigation.investigate` runs the whole investigation through the engine and
returns a :class:`Postmortem`; ``Postmortem.write(out_dir)`` writes ``report.json`` (the
machine-readable contract of DESIGN.md), ``report.md`` (for a ticket), ``timeline.csv`` and
``affected_events.csv``. Text that comes from the data (prompts, responses, change descriptions)
is redacted (emails, phone numbers, ...) unless ``redact=False``, and escaped in Markdown.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis._common import iso_z
from analysis.redact import csv_safe_frame, safe_text

__all__ = ["Postmortem", "json_safe", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1


# ----------------------------------------------------------------------------------------------
# JSON and Markdown helpers
# ----------------------------------------------------------------------------------------------




def json_safe(obj: Any) -> Any:
    """Recursively turn ``obj`` into JSON-able values: NaN/NA -> None, timestamps -> ISO 8601 ``Z``."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (pd.Timestamp, _dt.datetime, np.datetime64)):
        return iso_z(obj)
    if isinstance(obj, (pd.Timedelta, _dt.timedelta)):
        return pd.Timedelta(obj).total_seconds() / 3600.0
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, pd.DataFrame):
        return [json_safe(r) for r in obj.to_dict("records")]
    if isinstance(obj, pd.Series):
        return [json_safe(v) for v in obj.tolist()]
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, np.ndarray)):
        return [json_safe(v) for v in (obj.tolist() if isinstance(obj, np.ndarray) else obj)]
    if hasattr(obj, "to_dict"):
        return json_safe(obj.to_dict())
    try:
        if pd.isna(obj):
            return None
    except (TypeError, ValueError):
        pass
    return str(obj)


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
# Data text is always inline (after a bullet's label or inside a table cell, newlines folded), so
# only the inline metacharacters need escaping; `<`, `>` and `&` are HTML-escaped before.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_text(text: Any, *, redact: bool = True, max_len: int | None = 300) -> str:
    """Text from the data made safe for Markdown: redacted, HTML-escaped, metacharacters escaped."""
    if text is None:
        return ""
    try:
        if pd.isna(text):
            return ""
    except (TypeError, ValueError):
        pass
    t = safe_text(str(text), redact=redact, max_len=max_len)
    t = html.escape(t, quote=False)  # markup needs <, > and &; quotes are harmless in Markdown text
    t = _MD_SPECIAL.sub(r"\\\1", t)
    return t.replace("\r", " ").replace("\n", " ")


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, (pd.Timestamp, _dt.datetime)):
        return pd.Timestamp(v).strftime("%Y-%m-%d %H:%M UTC")
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(f):
        return "-"
    if f != 0 and (abs(f) < 10 ** (-digits) or abs(f) >= 10**6):
        return f"{f:.{digits}g}"
    return f"{f:.{digits}f}".rstrip("0").rstrip(".") if "." in f"{f:.{digits}f}" else f"{f:.{digits}f}"


def _md_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, redact: bool, max_rows: int = 30) -> str:
    if not rows:
        return "_(none)_\n"
    head = "| " + " | ".join(columns) + " |\n| " + " | ".join("---" for _ in columns) + " |\n"
    body = []
    for r in list(rows)[:max_rows]:
        cells = []
        for c in columns:
            v = r.get(c)
            if isinstance(v, (float, int, np.floating, np.integer)) and not isinstance(v, bool):
                cells.append(_fmt(v))
            elif isinstance(v, (pd.Timestamp, _dt.datetime)):
                cells.append(_fmt(v))
            elif isinstance(v, Mapping):
                cells.append(md_text(_seg_text(v), redact=redact))
            elif isinstance(v, str) and _ISO.match(v):
                cells.append(_fmt_iso(v))
            else:
                cells.append(md_text(v, redact=redact))
        body.append("| " + " | ".join(cells) + " |")
    more = f"\n_({len(rows) - max_rows} more rows in the JSON/CSV)_\n" if len(rows) > max_rows else "\n"
    return head + "\n".join(body) + more


# ----------------------------------------------------------------------------------------------
# the result
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Postmortem:
    """The investigation's result: the four answers, the timeline, the runbook, and what plots need.

    See ``PIPELINE_CONTRACT.md``; :meth:`to_dict` is report.json, :meth:`to_markdown` report.md.
    """

    title: str
    pattern: str
    parameters: dict[str, Any]
    inputs: dict[str, Any]
    onset: dict[str, Any]
    q1: Any
    q2: Any
    q3: Any
    q4: Any
    timeline: pd.DataFrame
    affected_events: pd.DataFrame
    runbook: list[dict[str, Any]]
    metric_series: pd.DataFrame | None = None
    changepoint: Any = None
    charts: dict[str, Any] = field(default_factory=dict)
    drift_scans: dict[str, Any] = field(default_factory=dict)
    segment_series: dict[str, pd.DataFrame] = field(default_factory=dict)
    derived_metrics: list[str] = field(default_factory=list)
    durations: Any = None
    onset_result: Any = None
    onset_scan: pd.DataFrame | None = None
    generated_at: pd.Timestamp | None = None
    label_rules: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    data_quality: list[Any] = field(default_factory=list)
    monitors: dict[str, Any] | None = None

    # -- report.json ---------------------------------------------------------------------------

    def to_dict(self, *, redact: bool = True) -> dict[str, Any]:
        """report.json: DESIGN.md's contract keys (and a few more), JSON-safe, timestamps ISO ``Z``.

        Text that comes from the data (change descriptions, evidence quoting the data) is
        redacted unless ``redact=False``; the affected events themselves are in
        ``affected_events.csv`` (``q3_scope.affected_events`` is their count).
        """
        from analysis import __version__

        def txt(v: Any) -> Any:
            return safe_text(v, redact=redact, max_len=2000) if isinstance(v, str) else v

        q1, q2, q3, q4 = self.q1, self.q2, self.q3, self.q4
        findings = []
        if q1 is not None and q1.findings is not None:
            for r in q1.findings.to_dict("records"):
                findings.append(
                    {
                        "metric": r["metric"],
                        "segment": _seg_dict(r["segment_column"], r["segment"]),
                        "baseline": r["baseline"],
                        "current": r["current"],
                        "difference": r["difference"],
                        "ci_low": r["ci_low"],
                        "ci_high": r["ci_high"],
                        "effect": r["effect"],
                        "pvalue": r["pvalue"],
                        "p_adjusted": r["p_adjusted"],
                        "significant": bool(r["significant"]),
                        "n_baseline": r["n_baseline"],
                        "n_current": r["n_current"],
                        "kind": r["kind"],
                        "test": r["test"],
                        "derived": r["metric"] in self.derived_metrics,
                    }
                )
        candidates = []
        if q2 is not None and q2.candidates is not None:
            for r in q2.candidates.to_dict("records"):
                candidates.append(
                    {
                        "rank": r.get("rank"),
                        "change_id": txt(r.get("change_id")),
                        "change_type": r.get("change_type"),
                        "ts": r.get("ts"),
                        "score": r.get("score"),
                        "evidence": txt(r.get("evidence")),
                        "inferred": bool(r.get("inferred", False)),
                        "attribute": r.get("attribute"),
                        "from_value": txt(r.get("from_value")),
                        "to_value": txt(r.get("to_value")),
                        "description": txt(r.get("description")),
                        "evidence_detail": r.get("evidence_detail") or {},
                    }
                )
        drift_rows = []
        if q2 is not None and q2.drift is not None and len(q2.drift):
            keep = [c for c in ("column", "test", "statistic", "pvalue", "effect", "drifted", "reference", "current", "effect_name") if c in q2.drift.columns]
            drift_rows = q2.drift[keep].to_dict("records")
        q3d: dict[str, Any] = {}
        if q3 is not None:
            q3d = {
                "verdict": q3.verdict,
                "reason": q3.reason,
                "affected_events": q3.n_affected,
                "affected_share": q3.affected_share,
                "failure_definition": q3.failure_definition,
                "risk_thresholds": q3.risk_thresholds,
                "window": {"start": q3.window[0], "end": q3.window[1]},
                "alpha": q3.alpha,
                "mix_shift": None if q3.mix_shift is None else {k: txt(v) if isinstance(v, str) else v for k, v in q3.mix_shift.items()},
                "segments": [
                    {**{k: v for k, v in r.items() if k not in ("segment_column", "segment")},
                     "segment": _seg_dict(r["segment_column"], r["segment"])}
                    for r in q3.segments.to_dict("records")
                ],
            }
        q4d: dict[str, Any] = {}
        if q4 is not None:
            q4d = {
                "reported_at": q4.reported_at,
                "monitors": [
                    {k: v for k, v in r.items()}
                    for r in q4.monitors.to_dict("records")
                ],
                "earliest_alarm": q4.earliest_alarm,
                "closing_monitor": q4.closing_monitor,
                "gap_hours": q4.gap_hours,
                "gap_category": q4.gap_category,
                "gap_explanation": q4.gap_explanation,
                "baseline": {"start": q4.baseline[0], "end": q4.baseline[1]} if q4.baseline else None,
                "arl0_windows": q4.arl0,
            }
        timeline = [
            {**r, "description": txt(r.get("description")), "evidence": txt(r.get("evidence"))}
            for r in self.timeline.to_dict("records")
        ] if self.timeline is not None else []
        out = {
            "schema_version": SCHEMA_VERSION,
            "title": txt(self.title),
            "generated_at": self.generated_at or pd.Timestamp.now(tz="UTC"),
            "kit_version": __version__,
            "parameters": self.parameters,
            "inputs": self.inputs,
            "pattern": self.pattern,
            "derived_metrics": list(self.derived_metrics),
            "label_rules": self.label_rules,
            "onset": self.onset,
            "q1_output": {
                "findings": findings,
                "error_confidence": None if q1 is None or q1.error_confidence is None else q1.error_confidence.to_dict(),
                "baseline": None if q1 is None else {"start": q1.baseline[0], "end": q1.baseline[1]},
                "current": None if q1 is None else {"start": q1.current[0], "end": q1.current[1]},
            },
            "q2_what_changed": {
                "candidates": candidates,
                "separation": None if q2 is None or q2.separation is None else {
                    k: txt(v) if isinstance(v, str) else v for k, v in q2.separation.to_dict().items()},
                "drift": drift_rows,
                "decomposition": [] if q2 is None else [d_.to_dict() for d_ in q2.decompositions],
                "inferred_changes": [] if q2 is None or q2.inferred is None else [
                    {k: txt(v) for k, v in r.items()} for r in q2.inferred.to_dict("records")
                ],
            },
            "q3_scope": q3d,
            "q4_detection_gap": q4d,
            "timeline": timeline,
            "durations": None if self.durations is None else self.durations.to_dict(),
            "runbook": [{**r, "evidence": txt(r.get("evidence"))} for r in self.runbook],
            "notes": [txt(n) for n in self.notes],
            "data_quality": [{k: txt(v) if isinstance(v, str) else v for k, v in f.to_dict().items()} for f in self.data_quality],
        }
        return json_safe(out)

    def to_json(self, *, redact: bool = True, indent: int = 2) -> str:
        """``report.json``'s text.

        ``<``, ``>`` and ``&`` are written as JSON escapes (``\\u003c`` ...): the data is intact for
        any JSON reader, and text from the data cannot become markup where the file is shown or
        embedded in a page.
        """
        text = json.dumps(self.to_dict(redact=redact), indent=indent, allow_nan=False)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

    # -- report.md -----------------------------------------------------------------------------

    def to_markdown(self, *, redact: bool = True) -> str:
        """report.md: the postmortem draft for a ticket. Data text is redacted and escaped."""
        d = self.to_dict(redact=redact)
        L: list[str] = []
        L.append(f"# {md_text(self.title, redact=redact)}\n")
        L.append(f"_Generated {d['generated_at']} by the AI incident forensics kit {d['kit_version']}; pattern `{self.pattern}`._\n")
        if self.derived_metrics:
            L.append(f"**Derived labels:** {', '.join(md_text(m) for m in self.derived_metrics)} were derived from text by a documented rule, not logged.\n")
        on = d["onset"] or {}
        seg = _seg_text(on.get("segment"))
        L.append("## Summary\n")
        cands = d["q2_what_changed"]["candidates"]
        top = cands[0] if cands else None
        q3, q4 = d["q3_scope"], d["q4_detection_gap"]
        L.append(f"- **Onset:** {_fmt_iso(on.get('ts'))} in `{on.get('metric')}` ({md_text(seg, redact=redact)})"
                 + (f", interval {_fmt_iso(on['interval'][0])} .. {_fmt_iso(on['interval'][1])}" if on.get("interval") else "") + "\n")
        if top and not on.get("ts"):
            L.append("- **Most likely cause:** none: no onset was detected, so no change can be tied to one "
                     "(the change log is listed under question 2)\n")
        elif top:
            L.append(f"- **Most likely cause:** `{md_text(top['change_id'], redact=redact)}` ({md_text(top['change_type'])}, "
                     f"{_fmt_iso(top['ts'])}), score {_fmt(top['score'])}: {md_text(top['evidence'], redact=redact, max_len=400)}\n")
        else:
            L.append("- **Most likely cause:** none found\n")
        if q3:
            L.append(f"- **Scope:** {q3['verdict']}: {md_text(q3.get('reason'), redact=redact, max_len=400)}; "
                     f"{q3['affected_events']} affected events ({_fmt_pct(q3.get('affected_share'))} of traffic in the failure window)\n")
        if q4:
            L.append(f"- **Detection gap:** {gap_sentence(q4)}\n")
        dur = d.get("durations") or {}
        if dur:
            L.append(f"- **Durations:** time to detect {_fmt(dur.get('time_to_detect_hours'), 1)} h, detection gap "
                     f"{_fmt(dur.get('detection_gap_hours'), 1)} h, time to mitigate {_fmt(dur.get('time_to_mitigate_hours'), 1)} h\n")
        L.append("")
        L.append("## 1. What was the output, and what should it have been?\n")
        q1 = d["q1_output"]
        if q1.get("baseline"):
            L.append(f"Baseline {_fmt_iso(q1['baseline']['start'])} .. {_fmt_iso(q1['baseline']['end'])}; "
                     f"current {_fmt_iso(q1['current']['start'])} .. {_fmt_iso(q1['current']['end'])}.\n")
        sig = [f for f in q1["findings"] if f.get("significant")]
        sig.sort(key=lambda f: -abs(f.get("effect") or 0))
        L.append("Significant differences (Benjamini-Hochberg), largest effect first:\n")
        L.append(_md_table(sig, ["metric", "segment", "baseline", "current", "ci_low", "ci_high", "effect", "pvalue"], redact=redact, max_rows=20))
        ec = q1.get("error_confidence")
        if ec:
            L.append(f"Errors by confidence ({md_text(ec.get('error_definition'))}): **{ec['interpretation']}** "
                     f"(high-confidence share {_fmt_pct(ec.get('high_confidence_share'))}, low-confidence share {_fmt_pct(ec.get('low_confidence_share'))}).\n")
            L.append(_md_table(ec.get("bands", []), ["band", "n", "errors", "error_rate", "share_of_errors"], redact=redact))
        L.append("## 2. What changed?\n")
        L.append(_md_table(cands, ["rank", "change_id", "change_type", "ts", "score", "evidence"], redact=redact, max_rows=15))
        sep = d["q2_what_changed"].get("separation")
        if sep:
            head = "**Margin:**" if sep.get("separable") else "**The data cannot separate the first two candidates:**"
            L.append(f"{head} {md_text(sep.get('text'), redact=redact, max_len=500)} (score margin {_fmt(sep.get('margin'))}).\n")
        if d["q2_what_changed"]["decomposition"]:
            L.append("Decomposition of the aggregate change (mix shift against within-segment change):\n")
            L.append(_md_table(d["q2_what_changed"]["decomposition"], ["segment_column", "statistic", "mix", "within", "mix_share", "simpson"], redact=redact))
        if d["q2_what_changed"]["drift"]:
            L.append("Query-mix drift, failure window against baseline:\n")
            L.append(_md_table(d["q2_what_changed"]["drift"], ["column", "test", "statistic", "pvalue", "effect", "drifted"], redact=redact))
        L.append("## 3. Isolated or systematic?\n")
        if q3:
            L.append(f"**{q3['verdict']}** -- {md_text(q3.get('reason'), redact=redact, max_len=500)}\n")
            ms = q3.get("mix_shift")
            if ms:
                L.append(f"**Traffic mix shift:** {md_text(ms.get('text'), redact=redact, max_len=400)}; brought by "
                         f"`{md_text(ms.get('brought_by'), redact=redact)}`. Behaviour within the segments did not change.\n")
            L.append(f"Failure: {md_text(q3.get('failure_definition'))}. Risk-tier tolerances: "
                     + ", ".join(f"{md_text(k)} {_fmt_pct(v)}" for k, v in (q3.get('risk_thresholds') or {}).items()) + ".\n")
            segs = [s for s in q3["segments"] if s.get("status") != "ok"] or q3["segments"][:10]
            L.append(_md_table(segs, ["segment", "tier", "baseline_rate", "current_rate", "ci_low", "ci_high", "p_adjusted", "status"], redact=redact))
        if len(self.affected_events):
            n_aff = self.q3.n_affected
            L.append(f"Affected events ({'first 20 of ' if n_aff > 20 else ''}{n_aff}; all in affected_events.csv):\n")
            ae = self.affected_events.head(20).to_dict("records")
            L.append(_md_table(ae, ["event_id", "ts", "input_text", "output_text", "why"], redact=redact, max_rows=20))
        L.append("## 4. What was the detection gap?\n")
        if q4:
            L.append(f"{gap_sentence(q4, strong=True)}: {md_text(q4.get('gap_explanation'), redact=False, max_len=600)}\n")
            L.append(_md_table(q4["monitors"], ["name", "metric", "segment", "first_alarm", "lead_time_hours", "false_alarms_baseline"], redact=redact))
        L.append("Prevention: `monitors.yaml` holds the monitors that would have closed this gap, designed for one false alarm a "
                 "month (run them with `python -m analysis monitor`); `regression_cases.csv` / `.jsonl` hold the affected requests "
                 "as an evaluation dataset.\n")
        if d.get("data_quality"):
            L.append("## Data quality\n")
            L.append("Facts about the logs, not incidents; each with its effect on this analysis:\n")
            for f in d["data_quality"]:
                L.append(f"- {_fmt_iso(f.get('start'))} .. {_fmt_iso(f.get('end'))}: {md_text(f.get('description'), redact=redact)}. "
                         f"Effect: {md_text(f.get('effect'), redact=redact, max_len=400)}.")
            L.append("")
        L.append("## Timeline\n")
        L.append(_md_table(d["timeline"], ["ts", "t_rel_hours", "kind", "source", "description"], redact=redact, max_rows=60))
        L.append("## Runbook\n")
        for sec in ("triage", "scope", "mitigate", "post_incident"):
            items = [r for r in d["runbook"] if r.get("section") == sec]
            if not items:
                continue
            L.append(f"### {sec.replace('_', '-')}\n")
            for r in items:
                box = {True: "[x]", False: "[ ]", None: "[ ]"}[r.get("checked")]
                tail = " _(check by hand)_" if r.get("checked") is None else ""
                ev = f" -- {md_text(r.get('evidence'), redact=redact)}" if r.get("evidence") else ""
                L.append(f"- {box} {md_text(r.get('item'), redact=False)}{tail}{ev}")
            L.append("")
        if d.get("notes"):
            L.append("## Notes\n")
            for n in d["notes"]:
                L.append(f"- {md_text(n, redact=redact)}")
        return "\n".join(L).rstrip() + "\n"

    # -- files ---------------------------------------------------------------------------------

    def write(self, out_dir: str | Path, *, redact: bool = True) -> dict[str, Path]:
        """Write report.json, report.md, timeline.csv and (when any) affected_events.csv.

        Returns the written paths by name. Text cells of the CSVs are redacted (unless
        ``redact=False``), HTML-escaped and protected against spreadsheet formula injection.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        p = out / "report.json"
        p.write_text(self.to_json(redact=redact), encoding="utf-8")
        paths["report.json"] = p
        p = out / "report.md"
        p.write_text(self.to_markdown(redact=redact), encoding="utf-8")
        paths["report.md"] = p
        p = out / "timeline.csv"
        csv_safe_frame(self.timeline, redact=redact).to_csv(p, index=False)
        paths["timeline.csv"] = p
        if self.affected_events is not None and len(self.affected_events):
            p = out / "affected_events.csv"
            full = getattr(self.q3, "affected_file", None)
            if full and Path(full).exists() and self.q3.n_affected > len(self.affected_events):
                _stream_csv(Path(full), p, like=self.affected_events, redact=redact)
            else:
                csv_safe_frame(self.affected_events, redact=redact).to_csv(p, index=False)
            paths["affected_events.csv"] = p
        if self.monitors is not None:
            from analysis.prevention.monitors import dump_config

            paths["monitors.yaml"] = dump_config(self.monitors, out / "monitors.yaml")
        from analysis.prevention.regression import write_regression_cases

        paths.update(write_regression_cases(self, out, redact=redact))
        return paths


def _stream_csv(src: Path, dst: Path, *, like: pd.DataFrame, redact: bool) -> None:
    """All the affected events from the engine's Parquet file into a safe CSV, one batch at a time."""
    import pyarrow.parquet as pq

    first = True
    with dst.open("w", encoding="utf-8", newline="") as fh:
        for batch in pq.ParquetFile(src).iter_batches(batch_size=50_000):
            frame = batch.to_pandas()
            frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
            frame = frame[[c for c in like.columns if c in frame.columns]]
            csv_safe_frame(frame, redact=redact).to_csv(fh, index=False, header=first)
            first = False


def _seg_dict(col: Any, val: Any) -> dict[str, str]:
    if col in (None, "", "__all__"):
        return {}
    return {str(col): str(val)}


def _seg_text(seg: Any) -> str:
    if isinstance(seg, Mapping):
        return ", ".join(f"{k} in [{', '.join(map(str, v))}]" if isinstance(v, (list, tuple)) else f"{k}={v}"
                         for k, v in seg.items()) or "all traffic"
    return str(seg) if seg else "all traffic"


def gap_sentence(q4: dict[str, Any], *, strong: bool = False) -> str:
    """The detection gap in one Markdown sentence, from ``report.json``'s ``q4_detection_gap``.

    Never renders an empty figure: without an alarm before the report it says so (and the gap
    category, when there is one); without an incident it says there was nothing to detect.
    """
    b = "**" if strong else ""
    cat = q4.get("gap_category")
    cat_txt = f"category {b}{md_text(cat)}{b}" if cat else "no gap category"
    if q4.get("earliest_alarm") and q4.get("gap_hours") is not None:
        return (f"Gap {b}{_fmt(q4.get('gap_hours'), 1)} h{b}, {cat_txt}; earliest alarm "
                f"{_fmt_iso(q4.get('earliest_alarm'))} by {md_text(q4.get('closing_monitor'))}")
    if cat is None:
        return "No incident, so no detection gap"
    return f"No replayed monitor alarmed before the report ({cat_txt})"


def _fmt_iso(s: Any) -> str:
    if s is None:
        return "none"
    try:
        return pd.Timestamp(s).tz_convert("UTC").strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError):
        return str(s)


def _fmt_pct(v: Any) -> str:
    if v is None:
        return "-"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "-"
    if not math.isfinite(f):
        return "-"
    return f"{100 * f:.3g}%"


# ----------------------------------------------------------------------------------------------
# investigate
# ----------------------------------------------------------------------------------------------
