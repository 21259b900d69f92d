"""The output step (Q1): every metric, baseline against the failure window, with intervals and effect
sizes, and the confidence of the errors in the onset's segment."""

from __future__ import annotations

import pandas as pd

from analysis.investigation.findings import Q1Result, compare_periods, error_confidence, period_totals
from analysis.investigation.aggregate import Aggregates
from analysis.investigation.context import AUTO_METRICS, SIDE_METRICS, Context
from analysis.investigation.onset_scan import OnsetFinding
from analysis.investigation.what_changed import WhatChanged

__all__ = ["output_gap"]


def output_gap(ctx: Context, aggs: Aggregates, found: OnsetFinding, changed: WhatChanged) -> Q1Result:
    """Q1: what was the output, and what should it have been?"""
    b0, b1 = changed.baseline
    cur = found.current
    bt = period_totals(aggs.agg.table, b0, b1)
    ct = period_totals(aggs.agg.table, cur[0], cur[1] + pd.Timedelta(microseconds=1))
    q1_metrics = {m: k for m, k in aggs.agg.metrics.items() if m in (*AUTO_METRICS, *SIDE_METRICS)}
    findings = compare_periods(bt, ct, q1_metrics, alpha=ctx.params.alpha)
    onset = found.onset
    ec = None
    if ctx.prof.present("confidence"):
        failure = ctx.failure(onset.metric, onset.kind, onset.alternative)
        ec = error_confidence(ctx.eng, found.in_current.and_(found.segment_where), error_expr=failure.sql,
                                    error_definition=f"{failure.definition} in {onset.label}", alpha=ctx.params.alpha)
    return Q1Result(findings=findings, baseline=changed.baseline, current=cur, error_confidence=ec, metrics=dict(q1_metrics),
                          derived_metrics=tuple(ctx.derived), alpha=ctx.params.alpha)
