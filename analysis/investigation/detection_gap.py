"""The detection-gap step (Q4): every monitor replayed over the history; detections count from the
earlier of the onset and the most likely cause."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from analysis.investigation.series import series
from analysis.engine import Metric, Where
from analysis.investigation.ranking import RETRIEVAL_METRICS
from analysis.investigation import backtest
from analysis.investigation.aggregate import Aggregates
from analysis.investigation.context import Context
from analysis.investigation.monitor_set import MonitorSet, SetScope, plan_monitor_set
from analysis.investigation.onset import TOO_FEW_DATA
from analysis.investigation.onset_scan import OnsetFinding
from analysis.investigation.what_changed import WhatChanged

__all__ = ["detection_gap"]


def detection_gap(ctx: Context, aggs: Aggregates, found: OnsetFinding, changed: WhatChanged, incident: bool,
                  mix_shift: Mapping[str, Any] | None = None) -> backtest.Q4Result:
    """Q4: which monitor would have caught it, and how much earlier.

    The monitor set exported with the postmortem is planned here (:func:`plan_monitor_set`, for
    the family budget ``ctx.params.monitor_budget``), so that the replay charts its members
    (``cusum`` on all traffic, ``segment_cusum``, ``relevance_cusum``) with the same designs.
    """
    eng, prof, onset, rep = ctx.eng, ctx.prof, found.onset, ctx.reported_at
    metric = onset.metric
    detect_from = None
    if incident:
        detect_from = onset.ts if changed.top_ts is None else min(onset.ts, changed.top_ts)
    fa_base = (aggs.t0, detect_from if detect_from is not None else rep)
    extra = {}
    if metric != "retrieval_top1_score" and prof.present("retrieval_top1_score") and metric in RETRIEVAL_METRICS:
        extra["relevance"] = ("retrieval_top1_score", "mean", series(aggs.agg, "retrieval_top1_score"))
    flag = ctx.failure(metric, onset.kind, onset.alternative)
    failure = flag.sql
    fb = eng.totals(metrics={"f": Metric("rate", failure)}, where=Where.of(*fa_base).and_(found.segment_where))
    base_fail = float(fb["f__sum"].sum() / fb["f__n"].sum()) if int(fb["f__n"].sum()) else float("nan")
    watched = backtest.WatchedMetric(
        metric=metric, kind=onset.kind, alternative=onset.alternative, all_series=found.all_series,
        segment_series=found.segment_series if onset.segment_column != "__all__" else None, segment_label=onset.label,
        failure=failure, failure_where=found.segment_where, baseline_failure_rate=base_fail if np.isfinite(base_fail) else 0.0,
        extra_series=extra,
    )
    periods = backtest.ReplayPeriods(baseline=fa_base, detect_from=detect_from, reported_at=rep if incident else None,
                                      window=aggs.window)
    scope = SetScope(failure=failure, failure_definition=flag.definition, metric=metric, incident=incident,
                     segment=_incident_segment(onset) if incident else {}, segment_label=onset.label, mix_shift=mix_shift)
    mset = plan_monitor_set(eng, scope, window=aggs.window, baseline=changed.baseline, budget_per_30_days=ctx.params.monitor_budget)
    design = backtest.MonitorDesign(
        thresholds=ctx.params.thresholds, seed=ctx.params.seed,
        drift_columns=[c for c in ("query_category", "traffic_source", "topic", "confidence") if prof.present(c)],
        cusum_designs=_set_designs(mset, onset.kind, metric), monitor_set=mset,
    )
    q4 = backtest.replay_monitors(watched, periods, events=eng, where=ctx.upto, design=design, evaluations=ctx.evaluations)
    if onset.too_few_data:
        q4 = dataclasses.replace(q4, gap_explanation=f"{TOO_FEW_DATA}: {onset.reason}; no onset, so nothing to detect")
    return q4 if incident else backtest.with_reported_at(q4, rep)


def _incident_segment(onset: Any) -> dict[str, list[str]]:
    """The onset's segment (or slice) as column -> values; empty for all traffic."""
    if onset.conditions:
        return {str(c): [str(v) for v in vals] for c, vals in onset.conditions.items()}
    return {} if onset.segment_column == "__all__" else {str(onset.segment_column): [str(onset.segment)]}


def _set_designs(mset: MonitorSet, kind: str, metric: str) -> dict[str, dict[str, Any]]:
    """Replayed series prefix -> the design of the set's chart on the same series (rates: the failure flag)."""
    pairs = {"": "all_traffic", "segment_": "incident_segment"} if kind == "rate" else {}
    if metric == "retrieval_top1_score":
        pairs[""] = "retrieval_relevance"
    pairs["relevance_"] = "retrieval_relevance"
    out = {}
    for prefix, name in pairs.items():
        planned = mset.get(name)
        if planned is not None:
            out[prefix] = planned.params
    return out
