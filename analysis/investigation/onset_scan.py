"""The onset step: every metric and segment (and pair of segment columns) scanned for a persistent
change in the bad direction; the strongest one is the onset, narrowed to the slice that holds its
failures; the failure window runs from it to the report.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from analysis.investigation.series import series
from analysis.schema import BAD_ALTERNATIVE
from analysis.engine import Where
from analysis.engine import query as q
from analysis.investigation.onset import Onset, OnsetSearch, detect_onset, segment_label
from analysis.investigation.drill_down import drill_down
from analysis.investigation.aggregate import Aggregates
from analysis.investigation.context import Context
from analysis.investigation.segments import PAIR_ALPHA_SHARE, PAIR_STRENGTH_GAIN, pair_is_sharper

__all__ = ["OnsetFinding", "find_onset", "LOCATION_SUBDIVISION", "location_series"]

#: The step's location is profiled on windows this many times finer than the analysis window
#: (10 minutes at 1 h): a change an hour before another is told apart by the requests between them.
LOCATION_SUBDIVISION = 6


@dataclass(frozen=True, eq=False)
class OnsetFinding:
    """The onset and where it was found.

    ``onset`` is the chosen :class:`~analysis.investigation.onset.Onset` (its ``alternative``
    resolved to ``greater``/``less``); ``scan`` every metric x segment tried; ``segment_where`` and
    ``segment_series`` the onset's segment (or slice) as a filter and as its windowed series;
    ``all_series`` the metric on all traffic; ``evidence_*`` the segment where the evidence at each
    change's own time is read; ``current`` the failure window and ``pre_end`` the end of what
    precedes it.
    """

    onset: Onset
    scan: pd.DataFrame
    segment_where: Where | None
    segment_series: pd.DataFrame
    segment_table: pd.DataFrame
    all_series: pd.DataFrame
    evidence_series: pd.DataFrame
    evidence_label: str
    evidence_where: Where | None
    current: tuple[pd.Timestamp, pd.Timestamp]
    pre_end: pd.Timestamp

    @property
    def in_current(self) -> Where:
        """The failure window as a filter (its end inclusive)."""
        return Where.of(self.current[0], self.current[1], end_inclusive=True)


def _scan_row(o: Any, col: str, seg: str) -> dict[str, Any]:
    return {"metric": o.metric, "segment_column": col, "segment": seg, "onset": o.ts, "strength": o.strength, "effect": o.effect,
            "pvalue": o.pvalue, "significant": o.significant, "change_points": len(o.change_points), "reason": o.reason}


@dataclass(frozen=True)
class _Scan:
    onsets: list[Any]
    pair_onsets: list[Any]
    rows: list[dict[str, Any]]
    n_tests: int
    n_pairs: int


def _cells(table: pd.DataFrame, pairs: bool, min_n: float) -> list[tuple[str, str]]:
    """The segments worth a change-point search: all traffic, and every segment (or pair cell) with
    ``min_n`` events, no missing value among its columns."""
    return [(c, s) for c, s, n in table[["segment_column", "segment", "n"]].itertuples(index=False)
            if ((c == "__all__" and not pairs) or n >= min_n) and s != "__missing__" and q.MISSING not in s.split(q.PAIR_SEPARATOR)]


def _scan(ctx: Context, aggs: Aggregates) -> _Scan:
    """A change-point search per metric x segment (and pair cell), at a Bonferroni-shared ``alpha``:
    the pairs spend :data:`PAIR_ALPHA_SHARE` of it, the single columns the rest."""
    agg, pair_agg, alpha, metrics = aggs.agg, aggs.pair_agg, ctx.params.alpha, ctx.metrics
    min_n = max(50, 0.002 * int(agg.n_events))
    seg_list = _cells(agg.segments(), False, min_n)
    pair_list = _cells(pair_agg.segments(), True, min_n) if pair_agg is not None else []
    share = PAIR_ALPHA_SHARE if pair_list else 0.0
    plan = [(agg, seg_list, alpha * (1 - share), max(len(seg_list) * len(metrics), 1))]
    if pair_list:
        plan.append((pair_agg, pair_list, alpha * share, len(pair_list) * len(metrics)))
    todo = [(a, m, c, s, al, nt) for a, lst, al, nt in plan for m in metrics for (c, s) in lst]
    rows, onsets, pair_onsets = [], [], []
    for a, m, c, s, al, nt in tqdm(todo, desc="change points", leave=False, disable=not ctx.params.progress):
        # the pattern's way for its own metric (refusals that drop); a fallback metric goes bad its own way
        own = ctx.params.pattern != "auto" and m == ctx.defaults["metric"]
        alternative = ctx.defaults["alternative"] if own else BAD_ALTERNATIVE.get(m, "two-sided")
        sr = series(a, m, segment_column=c, segment=s)
        o = detect_onset(sr, metric=m, kind=agg.metrics[m], segment=(c, s), alternative=alternative, window=aggs.window,
                         end=ctx.reported_at, search=OnsetSearch(alpha=al, n_tests=nt))
        (onsets if a is agg else pair_onsets).append(o)
        rows.append(_scan_row(o, c, s))
    return _Scan(onsets, pair_onsets, rows, plan[0][3], len(pair_list))


def _choose(ctx: Context, aggs: Aggregates, sc: _Scan) -> tuple[Any, dict[str, list[str]] | None, Any]:
    """The onset: a pair's slice when it is much stronger and sharper than its parents, else the
    strongest significant segment (all traffic when nearly as strong), else no onset on the first
    measured metric. Returns ``(onset, pair conditions or None, the pair's onset or None)``."""
    sig = [o for o in sc.onsets if o.significant]
    best_single = max((o.strength for o in sig), default=0.0)
    pair = max((o for o in sc.pair_onsets if o.significant), key=lambda o: o.strength, default=None)
    alpha = ctx.params.alpha
    if (pair is not None and pair.strength >= PAIR_STRENGTH_GAIN * best_single
            and pair_is_sharper(aggs.agg, aggs.pair_agg, pair, alpha / max(sc.n_pairs, 1))):
        # the failure sits in a pair's slice (a category within a framing): the onset is there
        conds = {k: [v] for k, v in q.split_pair(pair.segment_column, pair.segment).items()}
        c0 = next(iter(conds))
        return dataclasses.replace(pair, segment_column=c0, segment=conds[c0][0], conditions=conds), conds, pair
    if sig:
        onset = max(sig, key=lambda o: (o.strength, o.segment_column == "__all__"))
        # the incident as users saw it: all traffic, unless a segment shows a much stronger change
        # (the aggregate hides it, as a 0.3%-of-traffic refusal regression does)
        whole = [o for o in sig if o.segment_column == "__all__" and o.metric == onset.metric]
        return (whole[0] if whole and whole[0].strength >= 0.5 * onset.strength else onset), None, None
    first = next((m for m in ctx.metrics if m not in ctx.derived), ctx.metrics[0])
    return next((o for o in sc.onsets if o.metric == first and o.segment_column == "__all__"), sc.onsets[0]), None, None


def _narrow(ctx: Context, aggs: Aggregates, onset: Any, n_tests: int) -> tuple[Any, Where, pd.DataFrame, dict[str, Any]] | None:
    """Narrow a segment's onset to the slice that carries its failures (chest pain questions framed
    hypothetically) and locate the onset there, where the signal is strongest; ``None`` when the
    slice is the segment itself or shows no significant onset."""
    eng, rep, w = ctx.eng, ctx.reported_at, aggs.window
    metric, kind = onset.metric, onset.kind
    fl0 = ctx.failure(metric, kind, onset.alternative).sql
    conds, dwhere, _ = drill_down(eng, fl0, start_segment=(onset.segment_column, onset.segment), current=(onset.ts, rep),
                                        baseline=(ctx.prof.ts_min, onset.ts), columns=aggs.segment_columns, alpha=ctx.params.alpha)
    if len(conds) <= 1:
        return None
    sagg = eng.window_aggregates(window=w, metrics={metric: kind}, where=dwhere.and_(ctx.upto), start=aggs.agg.start, end=aggs.agg.end)
    s2 = series(sagg, metric)
    o2 = detect_onset(s2, metric=metric, kind=kind, segment=(onset.segment_column, onset.segment), alternative=onset.alternative,
                      window=w, end=rep, search=OnsetSearch(alpha=ctx.params.alpha, n_tests=n_tests))
    if not o2.significant:
        return None
    narrowed = dataclasses.replace(o2, conditions=conds)
    row = _scan_row(narrowed, "slice", narrowed.label)
    row["reason"] = "narrowed to the slice holding the failures"
    return narrowed, dwhere, s2, row


def _evidence_series(aggs: Aggregates, onset: Any, onset_scan: pd.DataFrame, seg_series: pd.DataFrame,
                     seg_where: Where | None) -> tuple[pd.DataFrame, str, Where | None]:
    """Where the evidence at each change's own time is computed: of the segments whose change in the
    onset's metric is significant and starts within the onset's interval (give or take two windows),
    the one where it is most significant (most data on the step), else the onset's own series.
    Returns the series, its label and its filter."""
    if onset.ts is None or not onset.significant or onset.interval is None or not len(onset_scan):
        return seg_series, onset.label, seg_where
    lo, hi = onset.interval[0] - 2 * aggs.window, onset.interval[1] + 2 * aggs.window
    sc = onset_scan[(onset_scan["metric"] == onset.metric) & onset_scan["significant"].astype(bool)
                    & onset_scan["segment_column"].isin(set(aggs.agg.table["segment_column"]))]  # not a slice or a pair
    sc = sc[(pd.to_datetime(sc["onset"], utc=True) >= lo) & (pd.to_datetime(sc["onset"], utc=True) <= hi)]
    own_p = float(onset.pvalue) if np.isfinite(onset.pvalue) else 1.0
    if not len(sc) or float(sc["pvalue"].min()) >= own_p:
        return seg_series, onset.label, seg_where
    best = sc.sort_values("pvalue", kind="stable").iloc[0]
    col, seg = str(best["segment_column"]), str(best["segment"])
    where = None if col == "__all__" else Where.of(conditions={col: [seg]})
    return series(aggs.agg, onset.metric, segment_column=col, segment=seg), segment_label(col, seg), where


def location_series(ctx: Context, aggs: Aggregates, found: OnsetFinding) -> tuple[pd.DataFrame, pd.Timedelta] | None:
    """The evidence segment's series on finer windows (one engine query), for the step's location."""
    onset = found.onset
    if onset.ts is None or not onset.significant:
        return None
    fine = max(aggs.window / LOCATION_SUBDIVISION, pd.Timedelta(minutes=5))
    agg = ctx.eng.window_aggregates(window=fine, metrics={onset.metric: onset.kind}, where=ctx.upto.and_(found.evidence_where),
                                    start=aggs.t0, end=aggs.end)
    return series(agg, onset.metric), fine


def _periods(ctx: Context, aggs: Aggregates, onset: Any) -> tuple[tuple[pd.Timestamp, pd.Timestamp], pd.Timestamp]:
    """The failure window (from the onset, or the pattern's span before the report when there is
    none) and the end of what precedes it."""
    rep = ctx.reported_at
    if onset.ts is not None:
        return (onset.ts, rep), onset.ts
    span = min(pd.Timedelta(ctx.defaults["current_if_none"]), (rep - aggs.t0) * 0.25)
    start = (rep - span).floor(aggs.window)
    return (start, rep), start


def _segment_of(aggs: Aggregates, onset: Any, conds: dict[str, list[str]] | None, pair: Any) -> tuple[Where | None, pd.DataFrame]:
    """The onset's segment as a filter and its windowed series."""
    if conds is not None:
        return Where.of(conditions=conds), series(aggs.pair_agg, onset.metric, segment_column=pair.segment_column,
                                                          segment=pair.segment)
    where = None if onset.segment_column == "__all__" else Where.of(conditions={onset.segment_column: [onset.segment]})
    return where, series(aggs.agg, onset.metric, segment_column=onset.segment_column, segment=onset.segment)


def find_onset(ctx: Context, aggs: Aggregates) -> OnsetFinding:
    """Scan every metric and segment (and pair of segment columns) for the onset; narrow a segment
    to its failing slice; the onset's ``alternative`` is resolved to ``greater``/``less`` when it was ``two-sided``."""
    sc = _scan(ctx, aggs)
    onset, conds, pair = _choose(ctx, aggs, sc)
    if onset.alternative == "two-sided" and onset.significant:
        onset = dataclasses.replace(onset, alternative="greater" if onset.effect > 0 else "less")
    seg_where, seg_series = _segment_of(aggs, onset, conds, pair)
    rows = list(sc.rows)
    if onset.significant and onset.segment_column != "__all__":
        narrowed = _narrow(ctx, aggs, onset, sc.n_tests)
        if narrowed is not None:
            onset, seg_where, seg_series, row = narrowed
            rows.append(row)
    scan = pd.DataFrame(rows).sort_values(["significant", "strength"], ascending=[False, False], kind="stable").reset_index(drop=True)
    ev_series, ev_label, ev_where = _evidence_series(aggs, onset, scan, seg_series, seg_where)
    current, pre_end = _periods(ctx, aggs, onset)
    return OnsetFinding(onset=onset, scan=scan, segment_where=seg_where, segment_series=seg_series, segment_table=aggs.agg.segments(),
                        all_series=series(aggs.agg, onset.metric), evidence_series=ev_series, evidence_label=ev_label,
                        evidence_where=ev_where, current=current, pre_end=pre_end)
