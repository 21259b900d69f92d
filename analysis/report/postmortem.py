"""The postmortem: the four answers assembled, and the report files.

:func:`analysis.investigate` runs the whole investigation through the engine and returns a
:class:`Postmortem`; ``Postmortem.write(out_dir)`` writes ``report.json`` (the
machine-readable contract of DESIGN.md), ``report.md`` (for a ticket, :mod:`analysis.report.markdown`), ``report.html`` (the postmortem page
people read first, :mod:`analysis.report.page`),
``timeline.csv``, ``affected_events.csv``, ``monitors.yaml`` and the regression cases. Text that comes
from the data (prompts, responses, change descriptions) is redacted (emails, phone numbers, ...)
unless ``redact=False``; each format escapes it for itself (Markdown its metacharacters and
markup, CSV formulas, JSON its own escapes), and the CSVs and JSON keep it raw.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from analysis._version import __version__
from analysis._common import json_safe
from analysis.investigation.result import Investigation
from analysis.redact import csv_safe_frame, json_text_safe, safe_text
from analysis.report.markdown import postmortem_markdown
from analysis.report.monitors_yaml import dump_monitors
from analysis.report.regression import write_regression_cases

__all__ = ["Postmortem", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1


@dataclass(frozen=True, eq=False)
class Postmortem(Investigation):
    """The investigation's result with its writers: :meth:`to_dict` is report.json, :meth:`to_markdown`
    report.md (:mod:`analysis.report.markdown`), :meth:`write` every report file. Its fields are the
    :class:`~analysis.investigation.Investigation`'s (typed ``q1``..``q4``); :meth:`of` builds one
    from an investigation and the monitors designed for it.
    """

    @classmethod
    def of(cls, investigation: Investigation, *, monitors: dict[str, Any] | None = None) -> Postmortem:
        """The postmortem of an investigation (``monitors``: the ``monitors.yaml`` document)."""
        values = {f.name: getattr(investigation, f.name) for f in fields(Investigation)}
        return cls(**{**values, "monitors": monitors if monitors is not None else investigation.monitors})

    # -- report.json ---------------------------------------------------------------------------

    def to_dict(self, *, redact: bool = True) -> dict[str, Any]:
        """report.json: DESIGN.md's contract keys (and a few more), JSON-safe, timestamps ISO ``Z``.

        Text that comes from the data (change descriptions, evidence quoting the data) is
        redacted unless ``redact=False``; the affected events themselves are in
        ``affected_events.csv`` (``q3_scope.affected_events`` is their count).
        """

        def txt(v: Any) -> Any:
            return safe_text(v, redact=redact, max_len=2000) if isinstance(v, str) else v

        q1, q2 = self.q1, self.q2
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
            "label_quality": self.label_quality,
            "text_segments": self.text_segments,
            "onset": self.onset,
            "q1_output": {
                "findings": _findings(q1, self.derived_metrics),
                "error_confidence": None if q1 is None or q1.error_confidence is None else q1.error_confidence.to_dict(),
                "baseline": None if q1 is None else {"start": q1.baseline[0], "end": q1.baseline[1]},
                "current": None if q1 is None else {"start": q1.current[0], "end": q1.current[1]},
            },
            "q2_what_changed": _q2_dict(q2, txt),
            "q3_scope": _q3_dict(self.q3, txt),
            "q4_detection_gap": _q4_dict(self.q4),
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
        return json_text_safe(json.dumps(self.to_dict(redact=redact), indent=indent, allow_nan=False))

    # -- report.md -----------------------------------------------------------------------------

    def to_markdown(self, *, redact: bool = True) -> str:
        """report.md: the postmortem draft for a ticket. Data text is redacted and escaped."""
        return postmortem_markdown(self, redact=redact)

    # -- files ---------------------------------------------------------------------------------

    def write(self, out_dir: str | Path, *, redact: bool = True) -> dict[str, Path]:
        """Write report.json, report.md, report.html (the postmortem page, :mod:`analysis.report.page`),
        timeline.csv, monitors.yaml, the regression cases and (when any) affected_events.csv.

        Returns the written paths by name. Text cells of the CSVs are redacted (unless
        ``redact=False``), raw (no HTML entities) and protected against spreadsheet formula
        injection.
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
            paths["monitors.yaml"] = dump_monitors(self.monitors, out / "monitors.yaml")
        paths.update(write_regression_cases(self, out, redact=redact))
        from analysis.report.page import write_page  # matplotlib, only when the page is written

        paths["report.html"] = write_page(self, out / "report.html", redact=redact)
        return paths


# ----------------------------------------------------------------------------------------------
# report.json's sections
# ----------------------------------------------------------------------------------------------


def _findings(q1: Any, derived_metrics: list[str]) -> list[dict[str, Any]]:
    """Q1's findings, one dict per metric and segment."""
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
                    "derived": r["metric"] in derived_metrics,
                }
            )
    return findings


def _candidates(q2: Any, txt: Callable[[Any], Any]) -> list[dict[str, Any]]:
    """Q2's ranked candidates, data text through ``txt``."""
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
    return candidates


def _q2_dict(q2: Any, txt: Callable[[Any], Any]) -> dict[str, Any]:
    """``q2_what_changed``: candidates, their separation, drift, decomposition, inferred changes."""
    drift_rows = []
    if q2 is not None and q2.drift is not None and len(q2.drift):
        keep = [c for c in ("column", "test", "statistic", "pvalue", "effect", "drifted", "reference", "current", "effect_name") if c in q2.drift.columns]
        drift_rows = q2.drift[keep].to_dict("records")
    return {
        "candidates": _candidates(q2, txt),
        "separation": None if q2 is None or q2.separation is None else {
            k: txt(v) if isinstance(v, str) else v for k, v in q2.separation.to_dict().items()},
        "drift": drift_rows,
        "decomposition": [] if q2 is None else [d_.to_dict() for d_ in q2.decompositions],
        "inferred_changes": [] if q2 is None or q2.inferred is None else [
            {k: txt(v) for k, v in r.items()} for r in q2.inferred.to_dict("records")
        ],
    }


def _q3_dict(q3: Any, txt: Callable[[Any], Any]) -> dict[str, Any]:
    """``q3_scope``: the verdict, the affected events' count and the segment scan ({} without Q3)."""
    if q3 is None:
        return {}
    return {
        "verdict": q3.verdict,
        "reason": q3.reason,
        "affected_events": q3.n_affected,
        "affected_share": q3.affected_share,
        "failure_definition": q3.failure_definition,
        "risk_thresholds": q3.risk_thresholds,
        "period": {"start": q3.period[0], "end": q3.period[1]},
        "alpha": q3.alpha,
        "mix_shift": None if q3.mix_shift is None else {k: txt(v) if isinstance(v, str) else v for k, v in q3.mix_shift.items()},
        "signatures": None if getattr(q3, "signatures", None) is None else q3.signatures.to_dict(txt),
        "segments": [
            {**{k: v for k, v in r.items() if k not in ("segment_column", "segment")},
             "segment": _seg_dict(r["segment_column"], r["segment"])}
            for r in q3.segments.to_dict("records")
        ],
    }


def _q4_dict(q4: Any) -> dict[str, Any]:
    """``q4_detection_gap``: the replayed monitors and the gap ({} without Q4)."""
    if q4 is None:
        return {}
    return {
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


def _seg_dict(col: Any, val: Any) -> dict[str, str]:
    if col in (None, "", "__all__"):
        return {}
    return {str(col): str(val)}


def _stream_csv(src: Path, dst: Path, *, like: pd.DataFrame, redact: bool) -> None:
    """All the affected events from the engine's Parquet file into a safe CSV, one batch at a time."""
    first = True
    with dst.open("w", encoding="utf-8", newline="") as fh:
        for batch in pq.ParquetFile(src).iter_batches(batch_size=50_000):
            frame = batch.to_pandas()
            frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
            frame = frame[[c for c in like.columns if c in frame.columns]]
            csv_safe_frame(frame, redact=redact).to_csv(fh, index=False, header=first)
            first = False
