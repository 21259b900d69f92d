"""Which columns are segments: the low-cardinality string columns the scan covers, and the pairs of
them whose joint values are scanned too (a category within a framing).

The columns come from the engine's profile; a pair's slice replaces the single columns' only when it
steps more than the rest of both its parents (:func:`pair_is_sharper`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.engine import Engine, Profile, Where
from analysis.engine import query as q
from analysis.schema import SEGMENT_COLUMNS, TEXT_COLUMNS, VERSION_COLUMNS

__all__ = ["MAX_SEGMENT_VALUES", "MIN_ROWS_PER_VALUE", "PAIR_ALPHA_SHARE", "PAIR_STRENGTH_GAIN", "segment_columns", "segment_pairs",
           "pair_aggregates", "pair_is_sharper"]

#: A column is scanned when it has 2..MAX_SEGMENT_VALUES values (and MIN_ROWS_PER_VALUE rows per value on average).
MAX_SEGMENT_VALUES = 40

#: String columns that are never segments: identifiers, free text, the outcomes written as text,
#: and the version columns (what a change moves: they are compared by the candidates' evidence).
_NOT_SEGMENTS = frozenset({"event_id", "trace_id", "session_id", "user_id", *TEXT_COLUMNS, *VERSION_COLUMNS,
                           "finish_reason", "status", "error_type"})
#: A column is scanned when it has 2..MAX_SEGMENT_VALUES values and this many rows per value on average.
MIN_ROWS_PER_VALUE = 50


def segment_columns(prof: Profile, segment_by: Sequence[str] | None) -> tuple[list[str], list[dict[str, Any]]]:
    """The segment columns to scan, and for every string column why it was or was not scanned.

    Given ``segment_by``, those columns. Otherwise every low-cardinality string column, canonical or
    the application's own (``language``, ``tenant``, ...): 2 to :data:`MAX_SEGMENT_VALUES`
    values, at least :data:`MIN_ROWS_PER_VALUE` rows per value, not an identifier, a text, a
    version or an outcome. Canonical segment columns come first.
    """
    if segment_by is not None:
        cols = list(segment_by)
        missing = [c for c in cols if prof.kind(c) is None]
        if missing:
            raise ValueError(f"`segment_by` names columns that are not in the events: {missing}")
        return cols, [{"column": c, "distinct": prof.distinct(c), "scanned": True, "reason": "named by segment_by"} for c in cols]
    strings = [c for c in prof.columns["column"] if prof.kind(c) == "string"]
    order = [c for c in SEGMENT_COLUMNS if c in strings] + sorted(c for c in strings if c not in SEGMENT_COLUMNS)
    out, report = [], []
    for c in order:
        k = prof.distinct(c) or 0
        if c in _NOT_SEGMENTS or c.endswith("_id"):
            reason = "identifier, text, version or outcome column"
        elif not prof.present(c):
            reason = "empty"
        elif k < 2:
            reason = "a single value"
        elif k > MAX_SEGMENT_VALUES:
            reason = f"{k} values (more than {MAX_SEGMENT_VALUES})"
        elif prof.rows / k < MIN_ROWS_PER_VALUE:
            reason = f"fewer than {MIN_ROWS_PER_VALUE} rows per value"
        else:
            reason = "canonical segment" if c in SEGMENT_COLUMNS else "the application's own low-cardinality column"
            out.append(c)
        report.append({"column": c, "distinct": k, "scanned": c in out, "reason": reason})
    return out, report


#: Pairs of scanned columns are scanned too (a slice such as a category within a framing) when
#: their joint values are at most this many, with :data:`MIN_ROWS_PER_VALUE` rows per value on
#: average; at most :data:`_MAX_PAIRS` pairs, in the columns' order.
_MAX_PAIR_CELLS = 60
_MAX_PAIRS = 6
#: The share of the scan's significance level spent on the pairs (weighted Bonferroni: the single
#: columns keep the rest, so the family-wise error stays at ``alpha``).
PAIR_ALPHA_SHARE = 0.2
#: A pair's onset replaces the single columns' when its change is this many times stronger (its
#: slice holds the failure much more sharply than either column alone).
PAIR_STRENGTH_GAIN = 1.5


def segment_pairs(prof: Profile, seg_cols: Sequence[str], segment_by: Sequence[str] | None) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """The pairs of segment columns to scan (none when ``segment_by`` names the columns), and why
    each pair considered was or was not."""
    if segment_by is not None:
        return [], []
    out, report = [], []
    for i, a in enumerate(seg_cols):
        for b in seg_cols[i + 1:]:
            cells = (prof.distinct(a) or 0) * (prof.distinct(b) or 0)
            if cells > _MAX_PAIR_CELLS:
                reason = f"{cells} joint values at most (more than {_MAX_PAIR_CELLS})"
            elif prof.rows / max(cells, 1) < MIN_ROWS_PER_VALUE:
                reason = f"fewer than {MIN_ROWS_PER_VALUE} rows per joint value"
            elif len(out) >= _MAX_PAIRS:
                reason = f"more than {_MAX_PAIRS} pairs: the first {_MAX_PAIRS} in the columns' order are scanned"
            else:
                reason = "joint values of two scanned columns"
                out.append((a, b))
            report.append({"column": q.pair_label((a, b)), "distinct": cells, "scanned": (a, b) in out, "reason": reason})
    return out, report


def pair_aggregates(eng: Engine, pairs: Sequence[tuple[str, str]], agg: Any, metrics: Mapping[str, str], where: Where,
                    report: list[dict[str, Any]], window: pd.Timedelta) -> Any:
    """The windowed aggregates of the pairs (one engine query); a pair where one column determines
    the other (no more joint values than either column has) is dropped as redundant."""
    if not pairs:
        return None
    pagg = eng.window_aggregates(window=window, segment_by=list(pairs), metrics=dict(metrics), where=where,
                                 start=agg.start, end=agg.end)
    seen = pagg.segments()
    single = agg.segments()
    kept = []
    for a, b in pairs:
        label = q.pair_label((a, b))
        n_joint = int(((seen["segment_column"] == label) & (seen["n"] > 0)).sum())
        n_a, n_b = (int(((single["segment_column"] == c) & (single["n"] > 0)).sum()) for c in (a, b))
        row = next(r for r in report if r["column"] == label)
        row["distinct"] = n_joint
        if n_joint <= max(n_a, n_b):
            row["scanned"], row["reason"] = False, "one column determines the other: its joint values are the single column's"
        else:
            kept.append(label)
    if not kept:
        return None
    return dataclasses.replace(pagg, table=pagg.table[pagg.table["segment_column"].isin(kept)].reset_index(drop=True),
                               segment_by=tuple(kept))


def step_moments(table: pd.DataFrame, metric: str, kind: str, at: pd.Timestamp) -> np.ndarray:
    """``[[n, sum, sumsq] before, [n, sum, sumsq] after]`` of a metric over windowed rows split at
    ``at`` (for a rate, a 0/1 variable, the sum of squares is the sum)."""
    after = (table["window_start"] >= at).to_numpy()
    cols = [f"{metric}__n", f"{metric}__sum", f"{metric}__sumsq" if kind == "mean" else f"{metric}__sum"]
    x = table[cols].to_numpy(dtype=float)
    return np.array([x[~after].sum(axis=0), x[after].sum(axis=0)])


def pair_is_sharper(agg: Any, pair_agg: Any, pair: Any, alpha: float) -> bool:
    """Does the pair's slice step more than the rest of each of its two single segments (a
    difference of the before/after differences, one-sided in the bad direction, at ``alpha``)?
    A slice whose step is its parent segment's step (Japanese returns questions when every
    Japanese answer broke) is not a sharper slice, however strong it looks on fewer requests."""
    m, kind, at = pair.metric, pair.kind, pair.ts
    if at is None:
        return False
    cell_t = pair_agg.table[(pair_agg.table["segment_column"] == pair.segment_column) & (pair_agg.table["segment"] == pair.segment)]
    cell = step_moments(cell_t, m, kind, at)
    sign = 1.0 if pair.effect > 0 else -1.0

    def diff(mo: np.ndarray) -> tuple[float, float]:
        (n0, s0, q0), (n1, s1, q1) = mo
        if min(n0, n1) < 1:
            return float("nan"), float("nan")
        m0, m1 = s0 / n0, s1 / n1
        # the variance from the moments: p(1 - p) for a rate, since its sum of squares is its sum
        v0, v1 = max(q0 / n0 - m0 * m0, 0.0), max(q1 / n1 - m1 * m1, 0.0)
        return m1 - m0, v0 / n0 + v1 / n1

    d_cell, v_cell = diff(cell)
    for col, val in q.split_pair(pair.segment_column, pair.segment).items():
        parent_t = agg.table[(agg.table["segment_column"] == col) & (agg.table["segment"] == val)]
        rest = step_moments(parent_t, m, kind, at) - cell
        d_rest, v_rest = diff(rest)
        se = np.sqrt(v_cell + v_rest)
        if not (np.isfinite(d_cell) and np.isfinite(d_rest) and se > 0):
            return False
        if stats.norm.sf(sign * (d_cell - d_rest) / se) >= alpha:
            return False
    return True
