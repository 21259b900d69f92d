"""The postmortem: the four answers assembled, and the report writers.

:func:`investigate` runs the whole investigation on a canonical ``events`` table and a ``changes``
table and returns a :class:`Postmortem`; ``Postmortem.write(out_dir)`` writes ``report.json`` (the
machine-readable contract of DESIGN.md), ``report.md`` (for a ticket), ``timeline.csv`` and
``affected_events.csv``. Text that comes from the data (prompts, responses, change descriptions)
is redacted (emails, phone numbers, ...) unless ``redact=False``, and escaped in Markdown.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import html
import json
import math
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis._common import check_duration, iso_z
from analysis.engine import DEFAULT_MEMORY_LIMIT, Engine, Metric, Profile, Where, open_engine
from analysis.engine.query import quote_ident, quote_literal
from analysis.redact import safe_text

__all__ = ["Postmortem", "investigate", "json_safe", "SCHEMA_VERSION", "PATTERN_DEFAULTS"]

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
        if q4 and q4.get("earliest_alarm"):
            L.append(f"- **Detection gap:** {_fmt(q4.get('gap_hours'), 1)} h ({md_text(q4.get('gap_category'))}); "
                     f"earliest alarm {_fmt_iso(q4.get('earliest_alarm'))} by {md_text(q4.get('closing_monitor'))}\n")
        elif q4:
            L.append(f"- **Detection gap:** no replayed monitor alarmed ({md_text(q4.get('gap_category')) or 'no gap category'})\n")
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
        if d["q2_what_changed"]["decomposition"]:
            L.append("Decomposition of the aggregate change (mix shift against within-segment change):\n")
            L.append(_md_table(d["q2_what_changed"]["decomposition"], ["segment_column", "statistic", "mix", "within", "mix_share", "simpson"], redact=redact))
        if d["q2_what_changed"]["drift"]:
            L.append("Query-mix drift, failure window against baseline:\n")
            L.append(_md_table(d["q2_what_changed"]["drift"], ["column", "test", "statistic", "pvalue", "effect", "drifted"], redact=redact))
        L.append("## 3. Isolated or systematic?\n")
        if q3:
            L.append(f"**{q3['verdict']}** -- {md_text(q3.get('reason'), redact=redact, max_len=500)}\n")
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
            L.append(f"Gap **{_fmt(q4.get('gap_hours'), 1)} h**, category **{md_text(q4.get('gap_category'))}**: {md_text(q4.get('gap_explanation'), redact=False, max_len=600)}\n")
            L.append(_md_table(q4["monitors"], ["name", "metric", "segment", "first_alarm", "lead_time_hours", "false_alarms_baseline"], redact=redact))
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
        from analysis.report import csv_safe_frame

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
        return paths


def _stream_csv(src: Path, dst: Path, *, like: pd.DataFrame, redact: bool) -> None:
    """All the affected events from the engine's Parquet file into a safe CSV, one batch at a time."""
    import pyarrow.parquet as pq

    from analysis.report import csv_safe_frame

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

#: Per pattern: the metric, the way it goes wrong, the default window, the failure used by the
#: sample scan (Q3) and the error-by-confidence split, and the risk-tier tolerances.
PATTERN_DEFAULTS: dict[str, dict[str, Any]] = {
    "retrieval": {"metric": "retrieval_top1_score", "fallbacks": ("hallucinated", "correct"), "direction": "down", "window": "6h",
                  "current_if_none": "7D"},
    "refusal": {"metric": "refused", "fallbacks": (), "direction": "down", "window": "1h", "current_if_none": "72h"},
    "escalation": {"metric": "escalated", "fallbacks": (), "direction": "up", "window": "1h", "current_if_none": "24h"},
    "auto": {"metric": None, "fallbacks": (), "direction": "both", "window": None, "current_if_none": "72h"},
}
#: Metrics ``pattern="auto"`` scans (outcome labels and the quality signals that stand for them).
AUTO_METRICS = ("refused", "escalated", "hallucinated", "correct", "retrieval_top1_score", "quality_score")
PATTERNS = ("auto", "retrieval", "refusal", "escalation")
_MAX_SEGMENT_VALUES = 40
#: Rows per period the Q2 drift table tests at most (a bounded md5-keyed sample of the engine's rows).
DRIFT_TABLE_SAMPLE = 20_000
#: Affected events kept in memory for the report; all of them are written to affected_events.csv.
AFFECTED_IN_MEMORY = 10_000


def _check_pattern(pattern: str) -> str:
    if pattern not in PATTERNS:
        raise ValueError(f"`pattern` must be one of {PATTERNS}, got {pattern!r}")
    return pattern


def _as_utc(value: Any, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        t = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be an ISO 8601 timestamp with an offset, got {value!r}") from None
    if t.tzinfo is None:
        raise ValueError(f"`{name}` must be timezone-aware (e.g. '2026-03-01T12:00Z'), got {value!r}")
    return t.tz_convert("UTC")


def _auto_window(eng: Engine) -> pd.Timedelta:
    """Smallest of 1h..1D with a median of >= 30 requests per (non-empty) window and <= 2000 windows."""
    prof = eng.profile()
    span = prof.ts_max - prof.ts_min
    hourly = eng.window_aggregates(window="1h").table
    hourly = hourly[hourly["n"] > 0]
    for cand in ("1h", "2h", "3h", "6h", "12h", "1D"):
        w = pd.Timedelta(cand)
        if span / w > 2000:
            continue
        # windows are epoch-aligned, so the hourly counts add up into any longer window
        counts = hourly.groupby(hourly["window_start"].dt.floor(w))["n"].sum()
        if counts.median() >= 30:
            return w
    return pd.Timedelta("1D")


def _segment_columns(prof: Profile, segment_by: Sequence[str] | None) -> list[str]:
    from analysis.schema import SEGMENT_COLUMNS

    if segment_by is not None:
        cols = [segment_by] if isinstance(segment_by, str) else list(segment_by)
        missing = [c for c in cols if prof.kind(c) is None]
        if missing:
            raise ValueError(f"`segment_by` names columns that are not in the events: {missing}")
        return cols
    return [c for c in SEGMENT_COLUMNS if prof.present(c) and (prof.distinct(c) or 0) <= _MAX_SEGMENT_VALUES]


def _kind_of(prof: Profile, col: str) -> str:
    return "rate" if prof.kind(col) == "bool" else "mean"


def _failure_flag(eng: Engine, metric: str, kind: str, direction: str) -> tuple[str, str]:
    """The per-event failure as SQL, used by the sample scan and the error-by-confidence split, and its description."""
    prof = eng.profile()
    m = quote_ident(metric)
    if kind == "rate":
        if direction == "down":
            return f"NOT {m}", f"{metric} == False"
        return f"{m}", f"{metric} == True"
    if prof.present("hallucinated"):
        return '"hallucinated"', "hallucinated == True (fabricated output)"
    if prof.present("correct"):
        return 'NOT "correct"', "correct == False"
    from analysis.backtest import DEFAULT_THRESHOLDS

    x = f"CAST({m} AS DOUBLE)"
    if metric in DEFAULT_THRESHOLDS:
        side, bar = DEFAULT_THRESHOLDS[metric]
        op = "<" if side == "below" else ">"
        return f"{x} {op} {float(bar)!r}", f"{metric} {op} {bar}"
    q = eng.quantile(metric, 0.05 if direction != "up" else 0.95)
    op = "<" if direction != "up" else ">"
    return f"{x} {op} {q!r}", f"{metric} beyond its overall 5% tail ({q:.4g})"


def _derive_labels(events: pd.DataFrame, metric: str | None, metrics: Sequence[str]) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    """Derive missing outcome labels from text (analysis.labels) when the wanted metric is empty."""
    def present(c: str) -> bool:
        return c in events.columns and bool(events[c].notna().any())

    want = [m for m in ([metric] if metric else list(metrics)) if m in ("refused", "escalated")]
    need = [m for m in want if not present(m)]
    if metric is None and any(present(m) for m in ("refused", "escalated", "correct", "hallucinated")):
        # scanning every metric of a log that carries outcome labels: derive nothing
        need = []
    has_text = present("output_text") or present("finish_reason")
    if not need or not has_text:
        return events, [], {}
    from analysis import labels

    res = labels.derive_outcomes(events)
    derived = [m for m in getattr(res, "derived", []) if m in need or not present(m)]
    rules = getattr(res, "rules", None) or getattr(res, "descriptions", None) or getattr(res, "rule_descriptions", None) or {}
    if not isinstance(rules, Mapping):
        rules = {"rules": json_safe(rules)}
    return res.frame, list(derived), dict(rules)


def _open_events(events: Any, metric: str | None, metrics: Sequence[str], pattern: str, *, engine: str, memory_limit: str | None,
                 spark_master: str, max_result_rows: int | None) -> tuple[Engine, list[str], dict[str, Any], bool]:
    """The events on the engine, with labels derived from text first when an in-memory table lacks them.

    Returns ``(engine, derived metrics, label rules, owned)``; ``owned``: the engine was opened here.
    """
    if isinstance(events, Engine):
        return events, [], {}, False
    derived: list[str] = []
    rules: dict[str, Any] = {}
    if isinstance(events, pd.DataFrame):
        if "ts" not in events.columns or "event_id" not in events.columns:
            raise ValueError("`events` must be a canonical events DataFrame with `event_id` and `ts`")
        if len(events) == 0:
            raise ValueError("`events` is empty: nothing to investigate")
        if not isinstance(events["ts"].dtype, pd.DatetimeTZDtype):
            raise ValueError("`events.ts` must be timezone-aware (UTC)")
        events, derived, rules = _derive_labels(events, metric or (metrics[0] if pattern != "auto" else None), metrics)
    eng = open_engine(events, engine=engine, memory_limit=memory_limit or DEFAULT_MEMORY_LIMIT, spark_master=spark_master,
                      max_result_rows=max_result_rows)
    return eng, derived, rules, True


def investigate(
    events: Any,
    changes: pd.DataFrame | None,
    *,
    pattern: str = "auto",
    reported_at: Any = None,
    metric: str | None = None,
    segment_by: Sequence[str] | None = None,
    window: str | None = None,
    baseline: tuple[Any, Any] | None = None,
    risk_thresholds: Mapping[str, float] | None = None,
    seed: int = 0,
    progress: bool = True,
    inputs: Mapping[str, Any] | None = None,
    alpha: float = 0.05,
    mitigated_at: Any = None,
    evaluations: pd.DataFrame | None = None,
    thresholds: Mapping[str, tuple[str, float]] | None = None,
    title: str | None = None,
    engine: str = "duckdb",
    memory_limit: str | None = None,
    spark_master: str = "local[*]",
    max_result_rows: int | None = None,
    workdir: str | Path | None = None,
) -> Postmortem:
    """Investigate an incident in LLM application logs: the four questions, the timeline, the runbook.

    Parameters
    ----------
    events
        The canonical ``events`` (:mod:`analysis.schema`): an in-memory table, a Parquet file, a
        glob or a (Hive-partitioned) folder of Parquet files, a Spark table name (``engine="spark"``),
        or an open :class:`analysis.engine.Engine`. Only the engine reads its rows.
    changes
        The canonical ``changes`` table; may be None or empty.
    pattern
        ``"auto"`` (scan every outcome metric and segment, take the strongest change),
        ``"retrieval"``, ``"refusal"`` or ``"escalation"`` (the case-study defaults: metric,
        window, risk tiers).
    reported_at
        When the incident was reported (timezone-aware); default the last event.
    metric
        The outcome column to investigate; default the pattern's. When it is missing or empty
        but the text is there (in-memory tables), it is derived (:func:`analysis.labels.derive_outcomes`)
        and marked as derived in the report.
    segment_by
        Segment columns; default the canonical segment columns present with at most 40 values.
    window
        Aggregation window (``"1h"``); default the pattern's, or for ``auto`` the smallest window
        with a median of 30 requests.
    baseline
        ``(start, end)`` of the baseline period; default from the first event to the earlier of
        the onset and the most likely cause.
    risk_thresholds
        Risk tier -> tolerated excess failure rate for the sample scan; default
        :data:`analysis.scope.PATTERN_RISK_THRESHOLDS` for the pattern (``{"high": 0.001,
        "medium": 0.01, "low": 0.05}`` for ``auto`` and ``refusal``).
    seed
        Seed for the sampled parts (the replayed weekly evaluation, the drift samples).
    progress
        Show progress bars (tqdm) on the long steps.
    inputs
        report.json's ``inputs`` (paths, hashes, row counts; the command fills it).
    alpha
        Significance level of every test.
    mitigated_at
        When the incident was mitigated, if known (otherwise the first logged change after the
        report counts as the mitigation).
    evaluations
        An offline evaluation history (``ts``, ``passed``, ...; e.g. ``Scenario.evaluations``),
        replayed as the ``weekly_evaluation`` monitor instead of a simulated one.
    thresholds
        Fixed business bars for the threshold monitor (:data:`analysis.backtest.DEFAULT_THRESHOLDS`).
    title
        Report title.
    engine, memory_limit, spark_master
        The engine that reads the events (``"duckdb"``, embedded, or ``"spark"``), DuckDB's memory
        limit (default :data:`analysis.engine.DEFAULT_MEMORY_LIMIT`), and the Spark master URL.
    max_result_rows
        Refuse any engine query returning more rows (the tests keep the narrow waist honest with it).
    workdir
        Where the affected events are written whole (default a temporary folder); the report
        keeps the first :data:`AFFECTED_IN_MEMORY` of them.

    Returns
    -------
    Postmortem
    """
    pattern = _check_pattern(pattern)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"`seed` must be an integer, got {seed!r}")
    defaults = PATTERN_DEFAULTS[pattern]
    if metric is not None:
        candidates_metrics = [metric]
    elif pattern == "auto":
        candidates_metrics = list(AUTO_METRICS)
    else:
        candidates_metrics = [defaults["metric"], *defaults["fallbacks"]]
    eng, derived, label_rules, owned = _open_events(events, metric, candidates_metrics, pattern, engine=engine,
                                                    memory_limit=memory_limit, spark_master=spark_master,
                                                    max_result_rows=max_result_rows)
    try:
        return _investigate(
            eng, changes, pattern=pattern, reported_at=reported_at, metric=metric, candidates_metrics=candidates_metrics,
            derived=derived, label_rules=label_rules, segment_by=segment_by, window=window, baseline=baseline,
            risk_thresholds=risk_thresholds, seed=int(seed), progress=progress, inputs=inputs, alpha=alpha,
            mitigated_at=mitigated_at, evaluations=evaluations, thresholds=thresholds, title=title, workdir=workdir,
        )
    finally:
        if owned:
            eng.close()


def _investigate(eng: Engine, changes: pd.DataFrame | None, *, pattern: str, reported_at: Any, metric: str | None,
                 candidates_metrics: list[str], derived: list[str], label_rules: dict[str, Any], segment_by: Sequence[str] | None,
                 window: str | None, baseline: tuple[Any, Any] | None, risk_thresholds: Mapping[str, float] | None, seed: int,
                 progress: bool, inputs: Mapping[str, Any] | None, alpha: float, mitigated_at: Any,
                 evaluations: pd.DataFrame | None, thresholds: Mapping[str, tuple[str, float]] | None, title: str | None,
                 workdir: str | Path | None) -> Postmortem:
    from analysis import attribution as att
    from analysis import backtest, scope, timeline as tl_mod, windows
    from analysis.schema import VERSION_COLUMNS

    prof = eng.profile()
    if prof.rows == 0:
        raise ValueError("`events` is empty: nothing to investigate")
    if prof.kind("ts") != "timestamp":
        raise ValueError("`events.ts` must be timezone-aware timestamps (UTC)")
    risk_thr = scope.check_risk_thresholds(
        risk_thresholds if risk_thresholds is not None else scope.PATTERN_RISK_THRESHOLDS.get(pattern, scope.DEFAULT_RISK_THRESHOLDS)
    )
    default_tier = scope.DEFAULT_TIER if scope.DEFAULT_TIER in risk_thr else sorted(risk_thr)[0]
    defaults = PATTERN_DEFAULTS[pattern]
    rep = _as_utc(reported_at, "reported_at") or prof.ts_max
    if rep <= prof.ts_min:
        raise ValueError(
            f"`reported_at` ({iso_z(rep)}) is not after the first event ({iso_z(prof.ts_min)}): "
            "there is no history before the report to investigate"
        )
    mit = _as_utc(mitigated_at, "mitigated_at")
    if changes is None:
        changes = att._empty_changes()
    ch = changes.sort_values("ts", kind="stable").reset_index(drop=True) if len(changes) else att._empty_changes()
    notes: list[str] = []
    steps = ["labels", "aggregate", "onset", "what changed", "scope", "detection gap", "report"]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(steps), desc="investigate", leave=False)

    def step(name: str) -> None:
        if bar is not None:
            bar.set_postfix_str(name)
            bar.update(1)

    # -- 1. metrics --------------------------------------------------------------------------------
    metrics = [m for m in candidates_metrics if prof.present(m)]
    if not metrics:
        raise ValueError(
            f"`metric` {metric or candidates_metrics[0]!r} is not in the events (or empty) and could not be derived from text; "
            f"columns present: {sorted(c for c in prof.columns['column'] if prof.present(c))[:30]}"
        )
    if pattern != "auto":
        metrics = metrics[:1]
    step("labels")

    # -- 2. aggregate ----------------------------------------------------------------------------
    w = check_duration(window) if window else (pd.Timedelta(defaults["window"]) if defaults["window"] else _auto_window(eng))
    seg_cols = _segment_columns(prof, segment_by)
    upto = Where.of(None, rep, end_inclusive=True)
    t0 = prof.ts_min.floor(w)
    _, _, last_upto = eng.time_range(upto)
    agg_end = t0 + (int((last_upto - t0) // w) + 1) * w
    all_metrics = {m: _kind_of(prof, m) for m in dict.fromkeys([*metrics, *[m for m in AUTO_METRICS if prof.present(m)],
                                                                 *[c for c in ("confidence", "retrieval_mean_score", "latency_ms") if prof.present(c)]])}
    agg = eng.window_aggregates(window=w, segment_by=seg_cols, metrics=all_metrics, where=upto, start=t0, end=agg_end)
    step("aggregate")

    # -- 3. onset ---------------------------------------------------------------------------------
    onset, onset_scan, seg_where, seg_series, seg_table = _find_onset(
        eng, agg, metrics, seg_cols, pattern=pattern, derived=derived, window=w, reported_at=rep, alpha=alpha, progress=progress)
    metric_, kind, direction = onset.metric, onset.kind, onset.direction
    all_series = windows.series(agg, metric_)
    seg_label = onset.label
    step("onset")

    # -- periods ---------------------------------------------------------------------------------
    if onset.ts is not None:
        cur = (onset.ts, rep)
        pre_end = onset.ts
    else:
        span = pd.Timedelta(defaults["current_if_none"])
        span = min(span, (rep - t0) * 0.25)
        cur = ((rep - span).floor(w), rep)
        pre_end = cur[0]
    in_cur = Where.of(cur[0], cur[1], end_inclusive=True)

    # -- 4. what changed --------------------------------------------------------------------------
    before_rep = ch[ch["ts"] < rep] if len(ch) else ch
    inferred = att.infer_changes(eng, ch, where=upto)
    cands = pd.concat([before_rep, inferred], ignore_index=True) if len(inferred) else before_rep.copy()
    base_for_decomp = (t0, pre_end)
    decomps = {}
    dec_cols = [*seg_cols, *[c for c in VERSION_COLUMNS if prof.present(c) and (prof.distinct(c) or 0) <= _MAX_SEGMENT_VALUES]]
    for col in dict.fromkeys(dec_cols):
        d_ = _decompose(eng, metric_, kind, col, base_for_decomp, cur)
        if d_ is not None:
            decomps[col] = d_
    ranked, strat = att.score_candidates(
        cands, events=eng, changes=ch, onset=onset if onset.ts is not None else None, metric=metric_, kind=kind,
        direction=direction, segment_series=seg_series, segment_where=seg_where, segment_label=seg_label, window=w,
        reported_at=rep, decompositions=decomps, alpha=alpha, progress=progress,
    )
    # baseline: before the onset and before the most likely cause (when it precedes the onset)
    top_ts = None
    if onset.ts is not None and len(ranked) and ranked["score"].iat[0] >= 0.5 and not ranked["excluded"].iat[0]:
        top_ts = pd.Timestamp(ranked["ts"].iat[0])
    if baseline is not None:
        b0, b1 = _as_utc(baseline[0], "baseline"), _as_utc(baseline[1], "baseline")
        if b0 is None or b1 is None or b1 <= b0:
            raise ValueError(f"`baseline` must be (start, end) with start < end, got {baseline!r}")
    else:
        b0 = t0
        b1 = pre_end
        if top_ts is not None and top_ts < b1 and (top_ts - b0) >= 0.5 * (b1 - b0):
            b1 = top_ts.floor(w)
    base_period = (b0, b1)
    drift_cols = [c for c in att.DRIFT_COLUMNS if prof.present(c)]
    drift_df = pd.DataFrame(columns=["column", "test", "statistic", "pvalue", "effect", "drifted"])
    if drift_cols:
        from analysis.stats import drift as drift_mod

        ref = eng.sample_rows(drift_cols, size=DRIFT_TABLE_SAMPLE, where=Where.of(b0, b1), seed=seed)[drift_cols]
        now = eng.sample_rows(drift_cols, size=DRIFT_TABLE_SAMPLE, where=in_cur, seed=seed)[drift_cols]
        if len(ref) >= 10 and len(now) >= 10:
            drift_df = drift_mod.drift_table(ref, now, drift_cols, alpha=alpha, seed=seed, max_sample=DRIFT_TABLE_SAMPLE)
    q2 = att.Q2Result(candidates=ranked, drift=drift_df, decompositions=list(decomps.values()), inferred=inferred,
                      stratified=strat, onset=onset, notes=[])
    step("what changed")

    # -- 5. Q1 and Q3 ---------------------------------------------------------------------------
    bt = scope.period_totals(agg.table, b0, b1)
    ct = scope.period_totals(agg.table, cur[0], cur[1] + pd.Timedelta(microseconds=1))
    q1_metrics = {m: k for m, k in agg.metrics.items() if m in (*AUTO_METRICS, "confidence", "retrieval_mean_score", "latency_ms")}
    findings = scope.compare_periods(bt, ct, q1_metrics, alpha=alpha)
    failure, failure_def = _failure_flag(eng, metric_, kind, direction)
    ec = None
    if prof.present("confidence"):
        ec = scope.error_confidence(eng, in_cur.and_(seg_where), error_expr=failure, error_definition=f"{failure_def} in {seg_label}",
                                    alpha=alpha)
    q1 = scope.Q1Result(findings=findings, baseline=base_period, current=cur, error_confidence=ec, metrics=dict(q1_metrics),
                        derived_metrics=tuple(derived), alpha=alpha)
    scan, verdict, reason, affected, dnotes = _sample_scan(
        eng, agg, failure, failure_def, seg_cols=seg_cols, window=w, baseline=base_period, current=cur,
        risk_thresholds=risk_thr, default_tier=default_tier, alpha=alpha, upto=upto, workdir=workdir)
    notes.extend(dnotes)
    q3 = scope.Q3Result(verdict=verdict, reason=reason, segments=scan, affected_events=affected.head, affected_share=float(affected.share),
                        failure_definition=failure_def, risk_thresholds=risk_thr, window=cur, alpha=alpha,
                        affected_total=affected.n, affected_file=affected.path)
    step("scope")

    # -- 6. detection gap -------------------------------------------------------------------------
    incident = verdict != "no_incident" and onset.ts is not None
    detect_from = None
    if incident:
        detect_from = onset.ts if top_ts is None else min(onset.ts, top_ts)
    fa_base = (t0, detect_from if detect_from is not None else rep)
    extra = {}
    if metric_ != "retrieval_top1_score" and prof.present("retrieval_top1_score") and metric_ in att.RETRIEVAL_METRICS:
        extra["relevance"] = ("retrieval_top1_score", "mean", windows.series(agg, "retrieval_top1_score"))
    fb = eng.totals(metrics={"f": Metric("rate", failure)}, where=Where.of(*fa_base).and_(seg_where))
    base_fail = float(fb["f__sum"].sum() / fb["f__n"].sum()) if int(fb["f__n"].sum()) else float("nan")
    q4 = backtest.replay_monitors(
        metric=metric_, kind=kind, direction=direction, all_series=all_series,
        segment_series=seg_series if onset.segment_column != "__all__" else None, segment_label=seg_label, events=eng,
        failure=failure, failure_where=seg_where, where=upto,
        baseline=fa_base, detect_from=detect_from, reported_at=rep if incident else None, window=w, thresholds=thresholds,
        extra_series=extra, drift_columns=[c for c in ("query_category", "traffic_source", "confidence") if prof.present(c)],
        baseline_failure_rate=base_fail if np.isfinite(base_fail) else 0.0, seed=seed, evaluations=evaluations,
    )
    if not incident:
        q4 = backtest.with_reported_at(q4, rep)
    step("detection gap")

    # -- 7. timeline, runbook, result ----------------------------------------------------------------
    alarms = q4.monitors[["name", "metric", "segment", "first_alarm", "lead_time_hours"]] if incident else None
    onset_desc = f"{metric_} starts moving in {seg_label}" if onset.ts is not None else ""
    tl = tl_mod.build_timeline(
        changes=ch, inferred=inferred, onset=onset.ts if incident else None,
        onset_interval=onset.interval if incident else None, onset_description=onset_desc, alarms=alarms,
        reported_at=rep, mitigated_at=mit,
    )
    # the detection gap counts from the earliest detection Q4 found (from the cause on, not only the onset)
    durs = tl_mod.durations(onset=onset.ts if incident else None, earliest_alarm=q4.earliest_alarm, reported_at=rep,
                            mitigated_at=tl.durations.mitigated_at)
    runbook = _runbook(onset, ranked, q3, q4, derived, strat, incident)
    onset_d = onset.to_dict() if incident else {**onset.to_dict(), "ts": None, "interval": None}
    onset_d["derived"] = metric_ in derived
    onset_d["segment_label"] = seg_label
    params = {
        "pattern": pattern, "metric": metric_, "requested_metric": metric, "segment_by": seg_cols, "window": _fmt_window(w),
        "reported_at": rep, "baseline": {"start": b0, "end": b1}, "current": {"start": cur[0], "end": cur[1]},
        "risk_thresholds": risk_thr, "default_tier": default_tier, "alpha": alpha, "seed": int(seed), "mitigated_at": mit,
        "engine": eng.name,
    }
    # small multiples for the plots: every value of the onset's segment column (or of the first
    # segment column when the onset is on all traffic), largest first, plus all traffic
    seg_series_d: dict[str, pd.DataFrame] = {"all traffic": all_series}
    show_col = onset.segment_column if onset.segment_column != "__all__" else (seg_cols[0] if seg_cols else None)
    if show_col is not None:
        vals = seg_table[seg_table["segment_column"] == show_col].sort_values("n", ascending=False)["segment"].tolist()
        for v in [v for v in vals if v != "__missing__"][:12]:
            seg_series_d[att.segment_label(show_col, v)] = windows.series(agg, metric_, segment_column=show_col, segment=v)
    the_title = title or (f"Incident postmortem (draft): {metric_} in {seg_label}" if incident else "Investigation: no incident found")
    step("report")
    if bar is not None:
        bar.close()
    return Postmortem(
        title=the_title, pattern=pattern, parameters=params, inputs=dict(inputs or {}), onset=onset_d, q1=q1, q2=q2, q3=q3, q4=q4,
        timeline=tl.frame, affected_events=affected.head, runbook=runbook, metric_series=all_series, changepoint=onset.changepoint,
        charts=q4.charts, drift_scans={k.split(":", 1)[1]: r.chart for k, r in q4.runs.items() if r.kind == "drift"},
        segment_series=seg_series_d, derived_metrics=list(derived), durations=durs, onset_result=onset, onset_scan=onset_scan,
        generated_at=pd.Timestamp.now(tz="UTC").floor("s"), label_rules=label_rules, notes=notes,
    )


def _find_onset(
    eng: Engine,
    agg: Any,
    metrics: Sequence[str],
    seg_cols: Sequence[str],
    *,
    pattern: str,
    derived: Sequence[str],
    window: pd.Timedelta,
    reported_at: pd.Timestamp,
    alpha: float,
    progress: bool,
) -> tuple[Any, pd.DataFrame, Where | None, pd.DataFrame, pd.DataFrame]:
    """Scan every metric and segment for the onset; narrow a segment to its failing slice.

    Returns ``(onset, onset_scan, segment_where, segment_series, segment_table)``; the onset's
    ``direction`` is resolved to ``up``/``down`` when it was ``both``.
    """
    from analysis import attribution as att
    from analysis import scope, windows

    w, rep = window, reported_at
    defaults = PATTERN_DEFAULTS[pattern]
    seg_table = agg.segments()
    upto_n = int(agg.n_events)
    min_seg_n = max(50, 0.002 * upto_n)
    seg_list = [(c, s) for c, s, n in seg_table[["segment_column", "segment", "n"]].itertuples(index=False)
                if (c == "__all__" or n >= min_seg_n) and s != "__missing__"]
    n_tests = max(len(seg_list) * len(metrics), 1)
    it: Any = [(m, c, s) for m in metrics for (c, s) in seg_list]
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="change points", leave=False)
    scans, onsets = [], []
    for m, c, s in it:
        direction = defaults["direction"] if pattern != "auto" else att.BAD_DIRECTION.get(m, "both")
        sr = windows.series(agg, m, segment_column=c, segment=s)
        o = att.detect_onset(sr, metric=m, kind=agg.metrics[m], segment_column=c, segment=s, direction=direction, window=w,
                             alpha=alpha, n_tests=n_tests, end=rep)
        onsets.append(o)
        scans.append(_scan_row(o, c, s))
    sig = [o for o in onsets if o.significant]
    if sig:
        onset = max(sig, key=lambda o: (o.strength, o.segment_column == "__all__"))
        # the incident as users saw it: all traffic, unless a segment shows a much stronger change
        # (the aggregate hides it, as a 0.3%-of-traffic refusal regression does)
        whole = [o for o in sig if o.segment_column == "__all__" and o.metric == onset.metric]
        if whole and whole[0].strength >= 0.5 * onset.strength:
            onset = whole[0]
    else:
        first = next((m for m in metrics if m not in derived), metrics[0])
        onset = next((o for o in onsets if o.metric == first and o.segment_column == "__all__"), onsets[0])
    if onset.direction == "both" and onset.significant:
        onset = dataclasses.replace(onset, direction="up" if onset.effect > 0 else "down")
    metric_, kind, direction = onset.metric, onset.kind, onset.direction
    seg_where = None
    if onset.segment_column != "__all__":
        seg_where = Where.of(conditions={onset.segment_column: [onset.segment]})
    seg_series = windows.series(agg, metric_, segment_column=onset.segment_column, segment=onset.segment)
    if onset.significant and onset.segment_column != "__all__":
        # narrow the segment to the slice that carries its failures (e.g. chest pain questions
        # framed hypothetically) and locate the onset there, where the signal is strongest
        fl0, _ = _failure_flag(eng, metric_, kind, direction)
        conds, dwhere, _ = scope.drill_down(eng, fl0, start_segment=(onset.segment_column, onset.segment),
                                            current=(onset.ts, rep), baseline=(eng.profile().ts_min, onset.ts), columns=seg_cols,
                                            alpha=alpha)
        if len(conds) > 1:
            sagg = eng.window_aggregates(window=w, metrics={metric_: kind}, where=dwhere.and_(Where.of(None, rep, end_inclusive=True)),
                                         start=agg.start, end=agg.end)
            s2 = windows.series(sagg, metric_)
            o2 = att.detect_onset(s2, metric=metric_, kind=kind, segment_column=onset.segment_column, segment=onset.segment,
                                  direction=direction, window=w, alpha=alpha, n_tests=n_tests, end=rep)
            if o2.significant:
                onset = dataclasses.replace(o2, conditions=conds)
                seg_where, seg_series = dwhere, s2
                row = _scan_row(onset, "slice", onset.label)
                row["reason"] = "narrowed to the slice holding the failures"
                scans.append(row)
    onset_scan = pd.DataFrame(scans).sort_values(["significant", "strength"], ascending=[False, False], kind="stable").reset_index(drop=True)
    return onset, onset_scan, seg_where, seg_series, seg_table


def _scan_row(o: Any, col: str, seg: str) -> dict[str, Any]:
    return {"metric": o.metric, "segment_column": col, "segment": seg, "onset": o.ts, "strength": o.strength, "effect": o.effect,
            "pvalue": o.pvalue, "significant": o.significant, "change_points": len(o.change_points), "reason": o.reason}


@dataclass(frozen=True)
class _Affected:
    """The affected events: how many, the file holding all of them, the first ones, their share of the failure window."""

    n: int
    path: str | None
    head: pd.DataFrame
    share: float


def _sample_scan(
    eng: Engine,
    agg: Any,
    failure: str,
    failure_def: str,
    *,
    seg_cols: Sequence[str],
    window: pd.Timedelta,
    baseline: tuple[pd.Timestamp, pd.Timestamp],
    current: tuple[pd.Timestamp, pd.Timestamp],
    risk_thresholds: Mapping[str, float],
    default_tier: str,
    alpha: float,
    upto: Where,
    workdir: str | Path | None,
) -> tuple[pd.DataFrame, str, str, _Affected, list[str]]:
    """Q3: the per-segment binomial scan, the verdict and the affected events.

    Returns ``(scan, verdict, reason, affected, notes)``.
    """
    from analysis import scope

    w, cur = window, current
    b0, b1 = baseline
    in_cur = Where.of(cur[0], cur[1], end_inclusive=True)
    fagg = eng.window_aggregates(window=w, segment_by=seg_cols, metrics={"__failure": Metric("rate", failure)}, where=upto,
                                 start=agg.start, end=agg.end)
    fb = scope.period_totals(fagg.table, b0, b1)
    fc = scope.period_totals(fagg.table, cur[0], cur[1] + pd.Timedelta(microseconds=1))
    cols = {"__failure__n": "n", "__failure__sum": "failures"}
    scan_in = fb[["segment_column", "segment", *cols]].rename(columns={k: f"{v}_baseline" for k, v in cols.items()}).merge(
        fc[["segment_column", "segment", *cols]].rename(columns={k: f"{v}_current" for k, v in cols.items()}),
        on=["segment_column", "segment"], how="outer").fillna(0.0)
    scan_in = scan_in[scan_in["segment"] != "__missing__"].copy()
    tiers = _Tiers(eng, in_cur, risk_thresholds, default_tier)
    scan_in["tier"] = [tiers(c, s) for c, s in zip(scan_in["segment_column"], scan_in["segment"])]
    # a segment absent from the baseline (new traffic) is held to all traffic's baseline rate
    all_row = scan_in[scan_in["segment_column"] == "__all__"]
    scan_in["baseline_source"] = "own"
    if len(all_row):
        small = scan_in["n_baseline"] < 20
        scan_in.loc[small, "baseline_source"] = "all traffic (segment absent from the baseline)"
        scan_in.loc[small, "failures_baseline"] = float(all_row["failures_baseline"].iat[0])
        scan_in.loc[small, "n_baseline"] = float(all_row["n_baseline"].iat[0])
    length = max(int(np.ceil((cur[1] - cur[0]) / w)), 1)
    env = scope.baseline_envelope(fagg.table, metric="__failure", baseline=baseline, length=length, quantile=1 - alpha)
    scan_in = scan_in.merge(env, on=["segment_column", "segment"], how="left")
    scan = scope.scan_segments(scan_in, risk_thresholds=risk_thresholds, alpha=alpha, default_tier=default_tier)
    verdict, reason = scope.scope_verdict(scan)
    none = _Affected(0, None, _empty_affected(eng), 0.0)
    if verdict != "systematic":
        return scan, verdict, reason, none, []
    sys_rows = scan[(scan["status"] == "systematic") & (scan["segment_column"] != "__all__")]
    if len(sys_rows) == 0:
        sys_rows = scan[scan["status"] == "systematic"]
    # start from the segment with (nearly) the most excess failures, the smallest such one
    top_ex = sys_rows["excess_events"].max()
    start_row = sys_rows[sys_rows["excess_events"] >= 0.9 * top_ex].sort_values("n_current").iloc[0]
    conds, awhere, notes = scope.drill_down(eng, failure, start_segment=(start_row["segment_column"], start_row["segment"]),
                                            current=cur, baseline=baseline, columns=seg_cols, alpha=alpha)
    desc = " and ".join(f"{c} in [{', '.join(v)}]" if len(v) > 1 else f"{c}={v[0]}" for c, v in conds.items()) or "all traffic"
    src = str(start_row.get("baseline_source", "own"))
    where = f"{start_row['segment_column']}={start_row['segment']}" if src == "own" else "all traffic; the segment is new"
    why = f"{desc}: {failure_def} in the failure window (baseline rate {float(start_row['baseline_rate']):.2%} in {where})"
    folder = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="forensics-affected-"))
    rows = eng.rows(where=in_cur.and_(awhere).and_(Where(expr=f"COALESCE({failure}, FALSE)")), columns=_affected_columns(eng),
                    path=folder / "affected_events.parquet", limit=AFFECTED_IN_MEMORY, extra={"why": quote_literal(why)})
    head = _canonical_affected(rows.head, eng)
    share = rows.n / max(eng.count(in_cur), 1)
    return scan, verdict, reason, _Affected(rows.n, str(rows.path), head, float(share)), notes


class _Tiers:
    """Risk tier of a segment: its value for ``risk_category``, else the strictest tier holding >= 25% of
    its events in the failure window (one engine query per segment column, cached)."""

    def __init__(self, eng: Engine, in_cur: Where, thr: Mapping[str, float], default: str) -> None:
        self.eng, self.in_cur, self.thr, self.default = eng, in_cur, thr, default
        self.by_col: dict[str, pd.DataFrame] = {}

    def __call__(self, col: str, seg: str) -> str:
        thr, default = self.thr, self.default
        if col == "risk_category":
            return seg if seg in thr else default
        if not self.eng.has("risk_category") or col == "__all__" or not self.eng.has(col):
            return default
        if col not in self.by_col:
            self.by_col[col] = self.eng.totals(by=[col, "risk_category"], where=self.in_cur)
        t = self.by_col[col]
        t = t[t[col] == seg]
        if int(t["n"].sum()) == 0:
            return default
        t = t[t["risk_category"] != "__missing__"]
        shares = t.set_index("risk_category")["n"] / max(int(t["n"].sum()), 1)
        ok = [tier for tier in shares.index if tier in thr and shares[tier] >= 0.25]
        if not ok:
            return default
        return min(ok, key=lambda tier: thr[tier])


def _fmt_window(w: pd.Timedelta) -> str:
    from analysis.attribution import _offset

    return _offset(w)


def _decompose(eng: Engine, metric: str, kind: str, col: str, base: tuple, cur: tuple):
    from analysis.attribution import decompose

    if not eng.has(col) or not eng.has(metric):
        return None
    out = []
    for a, b in (base, cur):
        t = eng.totals(by=[col], metrics={metric: kind}, where=Where.of(a, b, end_inclusive=True))
        t = t[t[f"{metric}__n"] > 0]
        if len(t) == 0:
            return None
        out.append(pd.DataFrame({"segment": t[col].to_numpy(dtype=object), "n": t[f"{metric}__n"].to_numpy(),
                                 "value": (t[f"{metric}__sum"] / t[f"{metric}__n"]).to_numpy(dtype=float)}))
    try:
        return decompose(out[0], out[1], segment_column=col, metric=metric)
    except ValueError:
        return None


def _affected_columns(eng: Engine) -> list[str]:
    from analysis.schema import SEGMENT_COLUMNS

    return ["event_id", "ts", *[c for c in SEGMENT_COLUMNS if eng.has(c)], *[c for c in ("input_text", "output_text") if eng.has(c)]]


def _canonical_affected(head: pd.DataFrame, eng: Engine) -> pd.DataFrame:
    out = head.copy()
    out["ts"] = pd.to_datetime(out["ts"], utc=True).astype("datetime64[ns, UTC]")
    for c in out.columns:
        if c != "ts":
            out[c] = out[c].astype("string[pyarrow]")
    for c in ("input_text", "output_text"):
        if c not in out.columns:
            out[c] = pd.Series(pd.NA, index=out.index, dtype="string[pyarrow]")
    cols = [c for c in out.columns if c != "why"] + ["why"]
    return out[cols].reset_index(drop=True)


def _empty_affected(eng: Engine) -> pd.DataFrame:
    from analysis.schema import SEGMENT_COLUMNS

    cols = ["event_id", "ts", *[c for c in SEGMENT_COLUMNS if eng.has(c)], "input_text", "output_text", "why"]
    out = pd.DataFrame({c: pd.Series([], dtype="string[pyarrow]") for c in cols})
    out["ts"] = pd.Series([], dtype="datetime64[ns, UTC]")
    return out


def _runbook(onset, ranked, q3, q4, derived, strat, incident) -> list[dict[str, Any]]:
    top = ranked.iloc[0].to_dict() if len(ranked) else None
    rb: list[dict[str, Any]] = []

    def add(section: str, item: str, checked: bool | None, evidence: str = "") -> None:
        rb.append({"section": section, "item": item, "checked": checked, "evidence": evidence})

    seg = onset.segment_dict
    seg_t = ", ".join(f"{k}={v}" for k, v in seg.items()) or "all traffic"
    add("triage", "Confirm the symptom in the logs (a significant, persistent change in the metric)", bool(onset.significant),
        f"{onset.metric} in {seg_t}: {onset.baseline_level:.4g} -> {onset.current_level:.4g}, effect {onset.effect:+.2f}" if onset.significant else onset.reason)
    add("triage", "Identify the changes made before the onset (logged and inferred from the logs)", bool(len(ranked)),
        f"{len(ranked)} candidate change(s)")
    add("triage", "Stratify the metric by the changed version columns", bool(strat),
        "; ".join(f"{k}: effect {v.effect:+.2f} over {v.windows_shared} shared windows" for k, v in list(strat.items())[:3]) if strat else "no version column to compare")
    add("triage", "Check that the outcome labels are logged, not derived", not derived,
        f"derived from text: {', '.join(derived)}" if derived else "labels present in the logs")
    add("scope", "Scan the failure rate per segment against the baseline with the risk-tier tolerances", True, f"verdict {q3.verdict}: {q3.reason}")
    add("scope", "Export the affected events for manual review", bool(q3.n_affected) if q3.verdict == "systematic" else None,
        f"{q3.n_affected} events ({q3.affected_share:.2%} of the failure window)")
    add("scope", "Check the affected events for personal data before sharing", None, "reports redact emails and phone numbers by default")
    if incident and top is not None:
        add("mitigate", f"Roll back or contain the most likely cause: {top['change_id']} ({top['change_type']})", None, str(top.get("evidence", ""))[:300])
        det = top.get("evidence_detail") or {}
        if isinstance(det, Mapping) and (det.get("staleness") or {}).get("stale"):
            add("mitigate", "Rebuild the retrieval index against the current corpus", None, "index stale against the corpus")
        add("mitigate", "Confirm the metric returns to its baseline after the mitigation", None, "")
        add("post_incident", f"Add the monitor that would have closed the gap: {q4.closing_monitor or 'a quality signal'}", None,
            f"{q4.gap_category}: {q4.gap_explanation}")
        add("post_incident", "Add the change log entries that were missing (inferred changes)", None if len(ranked) else False,
            ", ".join(c for c in ranked["change_id"] if str(c).startswith("inferred:")) or "none inferred")
        add("post_incident", "Review the risk-tier tolerances with the product owner", None, "")
    else:
        add("mitigate", "Nothing to mitigate: no incident found in the logs", None, "")
        add("post_incident", "If users still report a problem, check the labels and the segments the logs carry", None, "")
    return rb
