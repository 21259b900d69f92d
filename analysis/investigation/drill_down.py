"""The drill-down from a failing segment to the slice that holds its failures (chest pain questions
framed hypothetically): the segment's other columns' values whose failures stand out against the
segment's baseline, added one column at a time (:func:`drill_down`)."""

from __future__ import annotations

from dataclasses import dataclass

from typing import Any, Sequence

import numpy as np
import pandas as pd

from analysis.stats.compare import binomial_pvalue
from analysis.engine import MISSING, DuckDBEngine, Engine, Metric, Where
from analysis.stats.multitest import holm

__all__ = ["drill_down"]




@dataclass(frozen=True)
class _Drill:
    """One drill-down: where it starts, the two periods, the columns it may narrow, its level and
    the share of the excess failures a kept slice must hold."""

    start_segment: tuple[str, str]
    current: tuple[Any, Any]
    baseline: tuple[Any, Any]
    columns: tuple[str, ...]
    alpha: float
    keep_excess: float


def drill_down(
    events: Any,
    failure: Any,
    *,
    start_segment: tuple[str, str],
    current: tuple[Any, Any],
    baseline: tuple[Any, Any],
    columns: Sequence[str],
    alpha: float = 0.05,
    keep_excess: float = 0.9,
) -> tuple[dict[str, list[str]], Any, list[str]]:
    """Narrow a systematic segment to the slice that holds its excess failures.

    Starting from ``start_segment``, for each other column in turn, keep only the values whose
    current failure count exceeds their baseline rate significantly (exact binomial, Holm
    within the column, against the value's own baseline rate inside the slice) -- when those
    values hold at least ``keep_excess`` of the slice's excess failures. A value with fewer than
    20 baseline requests in the slice is compared with the slice's baseline rate.

    Parameters
    ----------
    events, failure
        A canonical events table and its boolean failure flag (one per row); or an
        :class:`analysis.engine.Engine` and the failure as SQL (``"NOT refused"``) or a
        :class:`analysis.engine.Metric`.

    Returns
    -------
    (conditions, mask_or_filter, notes)
        ``{column: [values]}`` (the start segment included); for a table, the boolean mask of its
        events in the slice, for an engine the slice as a :class:`analysis.engine.Where`; and one
        note per refinement.
    """
    task = _Drill(start_segment, current, baseline, tuple(columns), alpha, keep_excess)
    if isinstance(events, Engine):
        return _drill_down(events, failure, task)
    f = pd.Series(failure, index=events.index).astype("boolean")
    frame = events.assign(__failure=f.to_numpy())
    with DuckDBEngine(frame) as eng:
        conds, _, notes = _drill_down(eng, Metric("rate", '"__failure"'), task)
    mask = np.ones(len(events), dtype=bool)
    for col, vals in conds.items():
        mask &= events[col].astype("string").fillna(MISSING).isin(vals).to_numpy(dtype=bool)
    return conds, mask, notes


def _drill_down(eng: Engine, failure: Any, task: _Drill) -> tuple[dict[str, list[str]], Where, list[str]]:
    start_segment, current, baseline, columns = task.start_segment, task.current, task.baseline, task.columns
    alpha, keep_excess, where = task.alpha, task.keep_excess, None
    fm = {"f": failure if isinstance(failure, Metric) else Metric("rate", str(failure))}
    cur = Where.of(current[0], current[1], end_inclusive=True).and_(where)
    base = Where.of(baseline[0], baseline[1]).and_(where)
    col0, val0 = start_segment
    conds: dict[str, list[str]] = {}
    if col0 != "__all__" and eng.has(col0):
        conds[col0] = [val0]
    notes: list[str] = []

    def slice_(w: Where) -> Where:
        return w.and_(Where.of(conditions=conds))

    tb = eng.totals(metrics=fm, where=slice_(base))
    nb, kb = int(tb["f__n"].sum()), int(tb["f__sum"].sum())
    if nb:
        p_slice = kb / nb
    else:
        ta = eng.totals(metrics=fm, where=base)
        p_slice = float(ta["f__sum"].sum() / ta["f__n"].sum()) if int(ta["f__n"].sum()) else 0.0
    for col in columns:
        if col in conds or not eng.has(col):
            continue
        tc = eng.totals(by=[col], metrics=fm, where=slice_(cur))
        tc = tc[tc["f__n"] > 0]
        if int(tc["f__n"].sum()) == 0:
            break
        # the values in the order they first appear in the failure window
        tc = tc.sort_values(["first_seen", col], kind="stable")
        t0 = eng.totals(by=[col], metrics=fm, where=slice_(base)).set_index(col)
        stats_rows = []
        for v, n1, k1 in tc[[col, "f__n", "f__sum"]].itertuples(index=False):
            n0 = int(t0["f__n"].get(v, 0))
            k0 = int(t0["f__sum"].get(v, 0))
            p0 = k0 / n0 if n0 >= 20 else p_slice
            stats_rows.append((v, int(n1), int(k1), p0, int(k1) - int(n1) * p0))
        if len(stats_rows) < 2:
            continue
        pv = binomial_pvalue(np.array([r[2] for r in stats_rows]), np.array([r[1] for r in stats_rows]),
                           np.array([r[3] for r in stats_rows]), "greater")
        adj = holm(pv)
        excess = np.array([max(r[4], 0.0) for r in stats_rows])
        total = excess.sum()
        keep = [r[0] for r, a in zip(stats_rows, adj) if a < alpha and r[4] > 0]
        if not keep or total <= 0 or len(keep) == len(stats_rows):
            continue
        kept = sum(max(r[4], 0.0) for r in stats_rows if r[0] in keep)
        if kept >= keep_excess * total:
            conds[col] = [str(k) for k in keep]
            notes.append(f"{col} in {keep} holds {kept / total:.0%} of the excess failures")
    return conds, Where.of(conditions=conds), notes
