"""The investigation's result: the four answers (typed), the timeline, the runbook, and what the
plots need. :class:`analysis.report.Postmortem` adds the writers (report.json, Markdown, CSV)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.investigation.series import series
from analysis.investigation.onset import TOO_FEW_DATA, Onset, segment_label
from analysis.investigation.ranking import Q2Result
from analysis.investigation import data_quality as dq
from analysis.investigation import timeline as tl_mod
from analysis.investigation.aggregate import Aggregates
from analysis.investigation.backtest import Q4Result
from analysis.investigation.context import Context
from analysis.investigation.mix_shift import mix_shift_note
from analysis.investigation.onset_scan import OnsetFinding
from analysis.investigation.runbook import runbook
from analysis.investigation.sample_scan import ScopeFinding
from analysis.investigation.findings import Q1Result
from analysis.investigation.scope import Q3Result
from analysis.investigation.what_changed import WhatChanged
from analysis.params import format_duration

__all__ = ["Investigation", "assemble"]


@dataclass(frozen=True, eq=False)
class Investigation:
    """The four answers and what the report draws from them.

    ``onset`` is the onset as report.json writes it (``ts`` ``None`` when there is no incident),
    ``onset_result`` the :class:`~analysis.investigation.onset.Onset` itself; ``failure`` the
    per-event failure as SQL (the monitors chart it); ``metric_series`` and ``segment_series`` the
    windowed series the plots draw.
    """

    title: str
    pattern: str
    parameters: dict[str, Any]
    inputs: dict[str, Any]
    onset: dict[str, Any]
    q1: Q1Result
    q2: Q2Result
    q3: Q3Result
    q4: Q4Result
    timeline: pd.DataFrame
    affected_events: pd.DataFrame
    runbook: list[dict[str, Any]]
    metric_series: pd.DataFrame | None = None
    changepoint: Any = None
    charts: dict[str, Any] = field(default_factory=dict)
    drift_scans: dict[str, Any] = field(default_factory=dict)
    segment_series: dict[str, pd.DataFrame] = field(default_factory=dict)
    derived_metrics: list[str] = field(default_factory=list)
    durations: tl_mod.Durations | None = None
    onset_result: Onset | None = None
    onset_scan: pd.DataFrame | None = None
    generated_at: pd.Timestamp | None = None
    label_rules: dict[str, Any] = field(default_factory=dict)
    label_quality: dict[str, Any] = field(default_factory=dict)
    text_segments: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    data_quality: list[dq.DataQualityFact] = field(default_factory=list)
    monitors: dict[str, Any] | None = None
    failure: str = ""
    window: pd.Timedelta | None = None

    @property
    def incident(self) -> bool:
        """An incident was found: a verdict other than ``no_incident`` and an onset."""
        return self.onset.get("ts") is not None


def _timeline(ctx: Context, aggs: Aggregates, found: OnsetFinding, changed: WhatChanged, q3: Q3Result, q4: Q4Result,
              incident: bool) -> tuple[tl_mod.Timeline, tl_mod.Durations]:
    onset = found.onset
    alarms = q4.monitors[["name", "metric", "segment", "first_alarm", "lead_time_hours"]] if incident else None
    mark = tl_mod.OnsetMark(onset.ts, interval=onset.interval,
                            description=f"{onset.metric} starts moving in {onset.label}" if onset.ts is not None else "")
    tl = tl_mod.build_timeline(
        changes=ctx.changes, inferred=changed.q2.inferred, onset=mark if incident else None, alarms=alarms,
        reported_at=ctx.reported_at, mitigation=tl_mod.MitigationMark(ctx.params.mitigated_at),
        facts=dq.facts_note(aggs.facts) + mix_shift_note(q3.mix_shift, onset),
    )
    # the detection gap counts from the earliest detection Q4 found (from the cause on, not only the onset)
    durs = tl_mod.durations(onset=onset.ts if incident else None, earliest_alarm=q4.earliest_alarm, reported_at=ctx.reported_at,
                            mitigated_at=tl.durations.mitigated_at)
    return tl, durs


def _parameters(ctx: Context, aggs: Aggregates, found: OnsetFinding, changed: WhatChanged) -> dict[str, Any]:
    p, (b0, b1), cur = ctx.params, changed.baseline, found.current
    return {
        "pattern": p.pattern, "metric": found.onset.metric, "requested_metric": p.metric, "segment_by": aggs.segment_columns,
        "segment_columns": aggs.segment_choice, "window": format_duration(aggs.window), "reported_at": ctx.reported_at,
        "baseline": {"start": b0, "end": b1}, "current": {"start": cur[0], "end": cur[1]}, "risk_thresholds": ctx.risk_thresholds,
        "default_tier": ctx.default_tier, "alpha": p.alpha, "seed": p.seed, "mitigated_at": p.mitigated_at, "engine": ctx.eng.name,
    }


def _segment_series(aggs: Aggregates, found: OnsetFinding, q1: Q1Result, *, max_panels: int = 6) -> dict[str, pd.DataFrame]:
    """Small multiples for the plots: the segments that matter, largest effect first, then all traffic.

    The segments are the values of the onset's segment column (or of the first segment column when
    the onset is on all traffic) whose Q1 difference on the onset's metric is significant, ordered
    by the absolute effect; when none is, the three largest effects. At most ``max_panels``.
    """
    onset, seg_cols = found.onset, aggs.segment_columns
    show_col = onset.segment_column if onset.segment_column != "__all__" else (seg_cols[0] if seg_cols else None)
    out: dict[str, pd.DataFrame] = {}
    if show_col is not None:
        for v in _values_by_effect(q1, onset.metric, show_col, found, max_panels):
            out[segment_label(show_col, v)] = series(aggs.agg, onset.metric, segment_column=show_col, segment=v)
    out["all traffic"] = found.all_series
    return out


def _values_by_effect(q1: Q1Result, metric: str, column: str, found: OnsetFinding, max_panels: int) -> list[Any]:
    """The values of ``column`` whose difference on ``metric`` matters, largest absolute effect first."""
    f = q1.findings if q1 is not None and q1.findings is not None else pd.DataFrame()
    seen = set(found.segment_table.loc[found.segment_table["segment_column"] == column, "segment"])
    if len(f):
        f = f[(f["metric"] == metric) & (f["segment_column"] == column) & f["segment"].isin(seen - {"__missing__"})]
    if not len(f):
        return []
    f = f.assign(_abs=-f["effect"].abs()).sort_values("_abs", kind="stable")
    sig = f[f["significant"].astype("boolean").fillna(False).to_numpy(bool)]
    return (sig if len(sig) else f.head(3))["segment"].head(max_panels).tolist()


def assemble(ctx: Context, aggs: Aggregates, found: OnsetFinding, changed: WhatChanged, scoped: ScopeFinding, q1: Q1Result,
             q4: Q4Result) -> Investigation:
    """The steps' results as one :class:`Investigation`, with the timeline and the runbook."""
    onset, q2, q3 = found.onset, scoped.q2, scoped.q3
    incident = q3.verdict != "no_incident" and onset.ts is not None
    tl, durs = _timeline(ctx, aggs, found, changed, q3, q4, incident)
    onset_d = onset.to_dict() if incident else {**onset.to_dict(), "ts": None, "interval": None}
    onset_d["derived"] = onset.metric in ctx.derived
    onset_d["segment_label"] = onset.label
    title = ctx.params.title or (f"Incident postmortem (draft): {onset.metric} in {onset.label}" if incident
                                 else f"Investigation: {TOO_FEW_DATA} ({onset.reason})" if onset.too_few_data
                                 else "Investigation: no incident found")
    return Investigation(
        title=title, pattern=ctx.params.pattern, parameters=_parameters(ctx, aggs, found, changed), inputs=dict(ctx.inputs),
        onset=onset_d, q1=q1, q2=q2, q3=q3, q4=q4, timeline=tl.frame, affected_events=q3.affected_events,
        runbook=runbook(onset, q2.candidates, q3, q4, ctx.derived, q2.stratified, incident), metric_series=found.all_series,
        changepoint=onset.changepoint, charts=q4.charts,
        drift_scans={k.split(":", 1)[1]: r.chart for k, r in q4.runs.items() if r.kind == "drift"},
        segment_series=_segment_series(aggs, found, q1), derived_metrics=list(ctx.derived), durations=durs, onset_result=onset,
        onset_scan=found.scan, generated_at=pd.Timestamp.now(tz="UTC").floor("s"), label_rules=dict(ctx.label_rules),
        label_quality=dict(ctx.label_quality), text_segments=dict(ctx.text_segments),
        notes=[*ctx.apart.notes(), *scoped.notes], data_quality=aggs.facts, failure=ctx.failure(onset.metric, onset.kind, onset.alternative).sql,
        window=aggs.window,
    )
