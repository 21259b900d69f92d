"""The aggregate step: the window, the segment columns, and the engine's windowed aggregates of every
metric over every segment (and pair of segment columns), with the data-quality facts of the history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.engine import Engine, Where
from analysis.investigation import data_quality as dq
from analysis.investigation.context import AUTO_METRICS, SIDE_METRICS, Context, kind_of
from analysis.investigation.segments import pair_aggregates, segment_columns, segment_pairs

__all__ = ["Aggregates", "aggregate", "auto_window", "data_quality"]


@dataclass(frozen=True, eq=False)
class Aggregates:
    """The engine's windowed aggregates up to the report, and how they were cut.

    ``agg`` holds every metric per window and segment, ``pair_agg`` the scanned pairs of segment
    columns (or ``None``); ``t0`` is the first window's start, ``end`` the end of the last,
    ``last`` the last event up to the report. ``segment_choice`` says for every string column (and
    pair) why it was or was not scanned.
    """

    window: pd.Timedelta
    t0: pd.Timestamp
    end: pd.Timestamp
    last: pd.Timestamp
    agg: Any
    pair_agg: Any
    segment_columns: list[str]
    segment_choice: list[dict[str, Any]]
    facts: list[dq.DataQualityFact] = field(default_factory=list)


def auto_window(eng: Engine) -> pd.Timedelta:
    """Smallest of 1h..1D with a median of >= 30 requests per (non-empty) window and <= 2000 windows."""
    prof = eng.profile()
    span = prof.ts_max - prof.ts_min
    hourly = eng.window_aggregates(window=pd.Timedelta(hours=1)).table
    hourly = hourly[hourly["n"] > 0]
    for hours in (1, 2, 3, 6, 12, 24):
        w = pd.Timedelta(hours=hours)
        if span / w > 2000:
            continue
        # windows are epoch-aligned, so the hourly counts add up into any longer window
        counts = hourly.groupby(hourly["window_start"].dt.floor(w))["n"].sum()
        if counts.median() >= 30:
            return w
    return pd.Timedelta(days=1)


def data_quality(eng: Engine, first: pd.Timestamp, last: pd.Timestamp, upto: Where,
                 hourly_agg: Any = None) -> list[dq.DataQualityFact]:
    """Logging gaps, label-coverage drops and duplicate bursts over the whole hours of the history
    (requests and labelled requests per hour: the investigation's own aggregates when its window is
    an hour, else one hourly query)."""
    prof = eng.profile()
    label_cols = [m for m in AUTO_METRICS if prof.present(m)]
    start, end = first.ceil("h"), last.floor("h")
    if end - start < pd.Timedelta(hours=48):
        return []
    if hourly_agg is None:
        hourly_agg = eng.window_aggregates(window=pd.Timedelta(hours=1), metrics={m: kind_of(prof, m) for m in label_cols}, where=upto,
                                           start=start, end=end)
    hourly = hourly_agg.table[hourly_agg.table["segment_column"] == "__all__"]
    ws = pd.to_datetime(hourly["window_start"], utc=True)
    hourly = hourly[(ws >= start) & (ws < end)]
    facts = dq.logging_gaps(hourly, start=start, end=end) + dq.coverage_drops(hourly, label_cols, start=start, end=end)
    if eng.duplicates_by_hour is not None:
        facts += dq.duplicate_bursts(eng.duplicates_by_hour, hourly, start=start, end=end)
    return sorted(facts, key=lambda f: f.start)


def aggregate(ctx: Context) -> Aggregates:
    """Every metric (the scanned ones, the other outcomes and the side signals) per window and
    segment up to the report: one engine query, and one more for the pairs of segment columns."""
    eng, prof, p = ctx.eng, ctx.prof, ctx.params
    default = ctx.defaults["window"]
    w = p.window if p.window is not None else (pd.Timedelta(default) if default else auto_window(eng))
    seg_cols, seg_choice = segment_columns(prof, p.segment_by)
    upto = ctx.upto
    t0 = prof.ts_min.floor(w)
    _, _, last = eng.time_range(upto)
    end = t0 + (int((last - t0) // w) + 1) * w
    scanned = [*ctx.metrics, *[m for m in AUTO_METRICS if prof.present(m)], *[c for c in SIDE_METRICS if prof.present(c)]]
    metrics = {m: kind_of(prof, m) for m in dict.fromkeys(scanned)}
    agg = eng.window_aggregates(window=w, segment_by=seg_cols, metrics=metrics, where=upto, start=t0, end=end)
    pairs, pair_choice = segment_pairs(prof, seg_cols, p.segment_by)
    pair_agg = pair_aggregates(eng, pairs, agg, {m: metrics[m] for m in ctx.metrics}, upto, pair_choice, w)
    facts = data_quality(eng, prof.ts_min, last, upto, agg if w == pd.Timedelta(hours=1) else None)
    return Aggregates(window=w, t0=t0, end=end, last=last, agg=agg, pair_agg=pair_agg, segment_columns=seg_cols,
                      segment_choice=[*seg_choice, *pair_choice], facts=facts)
