"""The detection-gap step (Q4): every monitor replayed over the history; detections count from the
earlier of the onset and the most likely cause."""

from __future__ import annotations

import dataclasses

import numpy as np

from analysis.investigation.series import series
from analysis.engine import Metric, Where
from analysis.investigation.ranking import RETRIEVAL_METRICS
from analysis.investigation import backtest
from analysis.investigation.aggregate import Aggregates
from analysis.investigation.context import Context
from analysis.investigation.onset import TOO_FEW_DATA
from analysis.investigation.onset_scan import OnsetFinding
from analysis.investigation.what_changed import WhatChanged

__all__ = ["detection_gap"]


def detection_gap(ctx: Context, aggs: Aggregates, found: OnsetFinding, changed: WhatChanged, incident: bool) -> backtest.Q4Result:
    """Q4: which monitor would have caught it, and how much earlier."""
    eng, prof, onset, rep = ctx.eng, ctx.prof, found.onset, ctx.reported_at
    metric = onset.metric
    detect_from = None
    if incident:
        detect_from = onset.ts if changed.top_ts is None else min(onset.ts, changed.top_ts)
    fa_base = (aggs.t0, detect_from if detect_from is not None else rep)
    extra = {}
    if metric != "retrieval_top1_score" and prof.present("retrieval_top1_score") and metric in RETRIEVAL_METRICS:
        extra["relevance"] = ("retrieval_top1_score", "mean", series(aggs.agg, "retrieval_top1_score"))
    failure = ctx.failure(metric, onset.kind, onset.alternative).sql
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
    design = backtest.MonitorDesign(
        thresholds=ctx.params.thresholds, seed=ctx.params.seed,
        drift_columns=[c for c in ("query_category", "traffic_source", "topic", "confidence") if prof.present(c)],
    )
    q4 = backtest.replay_monitors(watched, periods, events=eng, where=ctx.upto, design=design, evaluations=ctx.evaluations)
    if onset.too_few_data:
        q4 = dataclasses.replace(q4, gap_explanation=f"{TOO_FEW_DATA}: {onset.reason}; no onset, so nothing to detect")
    return q4 if incident else backtest.with_reported_at(q4, rep)
