"""The what-changed step (Q2): the logged and inferred changes ranked on evidence, the decomposition
of the aggregate change into mix and within-segment parts, the baseline period, and the drift of the
query mix between the baseline and the failure window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import pandas as pd

from analysis.engine import Engine, Where
from analysis.investigation.changes import empty_changes, infer_changes
from analysis.investigation.operations import merge_inferred
from analysis.stats.decomposition import Decomposition, decompose
from analysis.investigation.ranking import DRIFT_COLUMNS, IncidentSignal, Q2Result, ScoringOptions, score_candidates, separation
from analysis.investigation.aggregate import Aggregates
from analysis.investigation.context import Context
from analysis.investigation.onset_scan import OnsetFinding, location_series
from analysis.investigation.segments import MAX_SEGMENT_VALUES
from analysis.schema import VERSION_COLUMNS
from analysis.stats import drift as drift_mod
from analysis.text.topics import topic_shifts

__all__ = ["WhatChanged", "what_changed", "DRIFT_TABLE_SAMPLE", "decompositions", "baseline_period"]

#: Rows per period the Q2 drift table tests at most (a bounded md5-keyed sample of the engine's rows).
DRIFT_TABLE_SAMPLE = 20_000


@dataclass(frozen=True, eq=False)
class WhatChanged:
    """Q2's answer and what the later steps take from it: the decompositions by column, the
    baseline period, and when the most likely cause happened (``None`` when none is named)."""

    q2: Q2Result
    decompositions: dict[str, Decomposition]
    baseline: tuple[pd.Timestamp, pd.Timestamp]
    top_ts: pd.Timestamp | None


def _decompose(eng: Engine, metric: str, kind: str, col: str, base: tuple, cur: tuple) -> Decomposition | None:
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


def decompositions(eng: Engine, seg_cols: Sequence[str], metric: str, kind: str, base: tuple, cur: tuple) -> dict[str, Any]:
    """The aggregate change split into mix and within-segment parts, per segment and version column."""
    prof = eng.profile()
    cols = [*seg_cols, *[c for c in VERSION_COLUMNS if prof.present(c) and (prof.distinct(c) or 0) <= MAX_SEGMENT_VALUES]]
    out = {}
    for col in dict.fromkeys(cols):
        d = _decompose(eng, metric, kind, col, base, cur)
        if d is not None:
            out[col] = d
    return out


def _top_cause_ts(onset: Any, ranked: pd.DataFrame) -> pd.Timestamp | None:
    """When the most likely cause happened, if the evidence names one (score >= 0.5, not after the onset)."""
    if onset.ts is not None and len(ranked) and ranked["score"].iat[0] >= 0.5 and not ranked["excluded"].iat[0]:
        return pd.Timestamp(ranked["ts"].iat[0])
    return None


def baseline_period(baseline: tuple[pd.Timestamp, pd.Timestamp] | None, top_ts: pd.Timestamp | None, *, t0: pd.Timestamp,
                    pre_end: pd.Timestamp, window: pd.Timedelta) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The in-control period: given, or before the onset and before the most likely cause (when it precedes the onset)."""
    if baseline is not None:
        return baseline
    b0, b1 = t0, pre_end
    if top_ts is not None and top_ts < b1 and (top_ts - b0) >= 0.5 * (b1 - b0):
        b1 = top_ts.floor(window)
    return b0, b1


def _drift_table(eng: Engine, base_period: tuple[pd.Timestamp, pd.Timestamp], in_cur: Where, *, alpha: float, seed: int) -> pd.DataFrame:
    """Q2's drift table: the query mix of the failure window against the baseline (bounded md5 samples)."""
    cols = [c for c in DRIFT_COLUMNS if eng.profile().present(c)]
    empty = pd.DataFrame(columns=["column", "test", "statistic", "pvalue", "effect", "drifted"])
    if not cols:
        return empty
    ref = eng.sample_rows(cols, size=DRIFT_TABLE_SAMPLE, where=Where.of(*base_period), seed=seed)[cols]
    now = eng.sample_rows(cols, size=DRIFT_TABLE_SAMPLE, where=in_cur, seed=seed)[cols]
    if len(ref) < 10 or len(now) < 10:
        return empty
    return drift_mod.drift_table(ref, now, cols, alpha=alpha, seed=seed, max_sample=DRIFT_TABLE_SAMPLE)


#: A logged traffic change and a topic's rise are the same event when this close.
TOPIC_MATCH = pd.Timedelta(hours=24)


def traffic_from_topics(ctx: Context, logged: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Traffic shifts read from the topics (:func:`analysis.text.topics.topic_shifts`), when the
    topics were read from the text: a logged traffic change whose own column the events lack is
    tied to the topic that rose within :data:`TOPIC_MATCH` of it (its evidence is then read on that
    topic); a rise no logged change explains becomes an inferred ``traffic_source_change``."""
    if "topic" not in (ctx.text_segments.get("derived_columns") or []):
        return logged, empty_changes()
    shifts = topic_shifts(ctx.eng, where=ctx.upto, alpha=ctx.params.alpha)
    firsts = shifts.drop_duplicates("topic", keep="first") if len(shifts) else shifts
    out, used = logged.copy(), set()
    for i, r in out.iterrows():
        attr = r.get("attribute")
        if r.get("change_type") != "traffic_source_change" or (isinstance(attr, str) and ctx.eng.has(attr)) or not len(shifts):
            continue
        near = shifts[(shifts["ts"] - r["ts"]).abs() <= TOPIC_MATCH]
        if not len(near):
            continue
        best = near.sort_values("loglik_ratio", ascending=False, kind="stable").iloc[0]
        out.loc[i, ["attribute", "to_value"]] = ["topic", str(best["topic"])]
        out.loc[i, "description"] = (f"{r.get('description') or ''} [read on the topic {best['topic']!r}, whose share rose from "
                                     f"{best['share_before']:.1%} to {best['share_after']:.1%} at {best['ts']:%Y-%m-%d %H:%M}Z]").strip()
        used.update(near["topic"].astype(str))
    rows = [{"change_id": f"inferred:topic:{s['topic']}", "ts": s["ts"], "change_type": "traffic_source_change", "component": "topic",
             "attribute": "topic", "from_value": None, "to_value": str(s["topic"]),
             "description": f"the topic {s['topic']!r} rose from {s['share_before']:.1%} to {s['share_after']:.1%} of requests "
                            "(read from the text) without a change event", "source": "inferred from the text"}
            for s in firsts.to_dict("records") if str(s["topic"]) not in used]
    inferred = pd.DataFrame(rows) if rows else empty_changes()
    if rows:
        inferred["ts"] = pd.to_datetime(inferred["ts"], utc=True).astype("datetime64[ns, UTC]")
    return out, inferred


def what_changed(ctx: Context, aggs: Aggregates, found: OnsetFinding) -> WhatChanged:
    """Rank every logged change before the report and every change inferred from the logs on the
    evidence that it moved the metric; then the baseline period and the drift table."""
    eng, ch, rep, onset = ctx.eng, ctx.changes, ctx.reported_at, found.onset
    before_rep = ch[ch["ts"] < rep] if len(ch) else ch
    inferred = merge_inferred(infer_changes(eng, ch, where=ctx.upto), ctx.apart, rep)
    before_rep, from_topics = traffic_from_topics(ctx, before_rep)
    inferred = pd.concat([inferred, from_topics], ignore_index=True) if len(from_topics) else inferred
    cands = pd.concat([before_rep, inferred], ignore_index=True) if len(inferred) else before_rep.copy()
    decomps = decompositions(eng, aggs.segment_columns, onset.metric, onset.kind, (aggs.t0, found.pre_end), found.current)
    signal = IncidentSignal(
        onset=onset if onset.ts is not None else None, metric=onset.metric, kind=onset.kind, alternative=onset.alternative,
        window=aggs.window, reported_at=rep, segment_series=found.segment_series, segment_where=found.segment_where,
        segment_label=onset.label, evidence_series=(found.evidence_series, found.evidence_label),
        location_series=location_series(ctx, aggs, found),
    )
    ranked, strat = score_candidates(cands, events=eng, changes=ch, signal=signal, decompositions=decomps,
                                     options=ScoringOptions(alpha=ctx.params.alpha, progress=ctx.params.progress))
    top_ts = _top_cause_ts(onset, ranked)
    base = baseline_period(ctx.params.baseline, top_ts, t0=aggs.t0, pre_end=found.pre_end, window=aggs.window)
    drift_df = _drift_table(eng, base, found.in_current, alpha=ctx.params.alpha, seed=ctx.params.seed)
    q2 = Q2Result(candidates=ranked, drift=drift_df, decompositions=list(decomps.values()), inferred=inferred,
                      stratified=strat, onset=onset, notes=[], separation=separation(ranked) if onset.ts is not None else None)
    return WhatChanged(q2=q2, decompositions=decomps, baseline=base, top_ts=top_ts)
