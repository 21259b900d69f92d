"""Evidence for one change: the metric stratified by the change's own column, concurrently, so that
time does not confound it (:func:`stratified_comparison`), a step at the change (:func:`step_test`),
and version staleness (:func:`staleness`: an index built before its corpus)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from analysis.engine import MISSING, Engine, Where, as_engine
from analysis.stats.compare import stratified_difference, compare_windows
from analysis.investigation.changes import last_logged_value

__all__ = ["Arms", "StratifiedResult", "staleness", "step_test", "stratified_comparison", "value_share"]

# ----------------------------------------------------------------------------------------------
# evidence for one change
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StratifiedResult:
    """The metric among requests with the change's new value against the others, window by window.

    Only windows where both arms have requests count, so that time (the incident itself, daily
    cycles) cannot masquerade as an effect of the change: a rollout, a canary or a new traffic
    source can be compared concurrently, an instant switch cannot (``windows_shared == 0``).

    Notes
    -----
    Per shared window :math:`w`: difference :math:`d_w = \\bar y_{new,w} - \\bar y_{old,w}`,
    weight :math:`W_w = n_{new,w} n_{old,w} / (n_{new,w} + n_{old,w})` and variance
    :math:`v_w = s^2_{new,w}/n_{new,w} + s^2_{old,w}/n_{old,w}` (for rates with the window's
    pooled rate). The combined difference and its z statistic are

    .. math:: D = \\sum_w W_w d_w / \\sum_w W_w, \\qquad z = D / \\sqrt{\\sum_w W_w^2 v_w} \\big/ \\sum_w W_w

    (the Mantel-Haenszel risk-difference weights; Greenland & Robins 1985). ``effect`` is
    standardized: Cohen's h between the pooled old rate and old rate + D (rates) or D over the
    pooled standard deviation (means).

    References
    ----------
    Greenland, S. and Robins, J. M. (1985). Estimation of a common effect parameter from sparse
    follow-up data. Biometrics 41, 55-68.
    """

    statistic: float
    pvalue: float
    effect: float
    difference: float
    level_new: float
    level_old: float
    n_new: float
    n_old: float
    windows_shared: int
    attribute: str
    new_value: str
    segment: str
    method: str = "Mantel-Haenszel weighted difference over shared windows"


def _offset(td: pd.Timedelta) -> str:
    secs = int(pd.Timedelta(td).total_seconds())
    if secs % 86400 == 0:
        return f"{secs // 86400}D"
    if secs % 3600 == 0:
        return f"{secs // 3600}h"
    if secs % 60 == 0:
        return f"{secs // 60}min"
    return f"{secs}s"


@dataclass(frozen=True)
class Arms:
    """The two arms of a concurrent comparison: requests with ``attribute == new_value`` against
    those with one of ``old_values`` (default: every other logged value; for ``traffic_source``,
    every other request)."""

    attribute: str
    new_value: str | None
    old_values: Sequence[str] | None = None


def _arm_windows(eng: Engine, metric: str, kind: str, arms: Arms, rng: Where, w: pd.Timedelta, end: Any) -> pd.DataFrame | None:
    """Per window and arm (``new``/``old``): the requests, sums (and sums of squares) of ``metric``."""
    n_sel, first, _ = eng.time_range(rng)
    if n_sel == 0:
        return None
    agg = eng.window_aggregates(window=w, metrics={metric: kind}, version=arms.attribute, where=rng, start=first.floor(w),
                                end=pd.Timestamp(end) + w)
    t = agg.table[agg.table["segment_column"] == "__all__"].copy()
    vals = t["version"].astype(str)
    is_new = (vals == str(arms.new_value)).to_numpy()
    if arms.old_values:
        is_old = vals.isin([str(v) for v in arms.old_values]).to_numpy()
    else:
        is_old = ~is_new & ((vals != MISSING).to_numpy() if arms.attribute != "traffic_source" else True)
    t["segment"] = np.where(is_new, "new", "old")
    t = t[is_new | is_old]
    if not len(t) or t["n"].sum() == 0:
        return None
    cols = [f"{metric}__n", f"{metric}__sum"] + ([f"{metric}__sumsq"] if kind == "mean" else [])
    t = t.astype({c: "float64" for c in cols})
    return t.pivot_table(index="window_start", columns="segment", values=cols, aggfunc="sum", fill_value=0.0)


def stratified_comparison(events: Any, *, metric: str, kind: str, arms: Arms, period: tuple[Any, Any],
                          window: str | pd.Timedelta = "1h", where: Where | None = None,
                          segment: str = "all traffic") -> StratifiedResult | None:
    """Compare ``metric`` between the two :class:`Arms`, concurrently, over ``period`` (start, end).

    ``events`` is a canonical table or an engine; ``where`` narrows to a segment. Returns None
    when the attribute is not in the events or neither arm has labelled requests. The statistic is
    :func:`analysis.stats.compare.stratified_difference` over the windows both arms hold.
    """
    eng = as_engine(events)
    if not eng.has(arms.attribute) or not eng.has(metric) or arms.new_value is None:
        return None
    start, end = period
    piv = _arm_windows(eng, metric, kind, arms, Where.of(start, end).and_(where), pd.Timedelta(window), end)
    if piv is None:
        return None

    def col(name: str, arm: str) -> np.ndarray:
        try:
            return piv[(f"{metric}__{name}", arm)].to_numpy(float)
        except KeyError:
            return np.zeros(len(piv))

    n1, n0, s1, s0 = col("n", "new"), col("n", "old"), col("sum", "new"), col("sum", "old")
    tot_new, tot_old = float(n1.sum()), float(n0.sum())
    lvl_new = float(s1.sum() / tot_new) if tot_new else np.nan
    lvl_old = float(s0.sum() / tot_old) if tot_old else np.nan
    ss = (col("sumsq", "new"), col("sumsq", "old")) if kind == "mean" else (None, None)
    d = stratified_difference(n1, s1, n0, s0, kind=kind, ss_new=ss[0], ss_old=ss[1])
    return StratifiedResult(d.statistic, d.pvalue, d.effect, d.difference, lvl_new, lvl_old, windows_shared=d.windows_shared,
                            attribute=arms.attribute, new_value=str(arms.new_value), segment=segment, n_new=tot_new, n_old=tot_old)


def step_test(
    series: pd.DataFrame,
    *,
    kind: str,
    at: pd.Timestamp,
    before: tuple[pd.Timestamp, pd.Timestamp],
    after: tuple[pd.Timestamp, pd.Timestamp],
    min_windows: int = 3,
) -> dict[str, float] | None:
    """The metric's level in ``after`` against ``before`` (pooled over the windows of a series)."""
    ws = series["window_start"]
    n = pd.to_numeric(series["n"], errors="coerce").fillna(0).to_numpy(float)
    pre = np.flatnonzero(((ws >= before[0]) & (ws < before[1])).to_numpy() & (n > 0))
    post = np.flatnonzero(((ws >= after[0]) & (ws < after[1])).to_numpy() & (n > 0))
    if pre.size < min_windows or post.size < min_windows:
        return None
    b, c, eff, stat, pv, n0, n1 = compare_windows(series.reset_index(drop=True), kind, pre, post)
    return {"baseline": b, "current": c, "effect": eff, "statistic": stat, "pvalue": pv, "n_before": n0, "n_after": n1}


def value_share(eng: Engine, attribute: str, value: str, start: Any, end: Any, where: Where | None = None) -> tuple[float, int]:
    """Share of the events in ``[start, end)`` (and ``where``) with ``attribute == value``, and their count."""
    if not eng.has(attribute):
        return float("nan"), eng.count(Where.of(start, end).and_(where))
    t = eng.totals(by=[attribute], where=Where.of(start, end).and_(where))
    n = int(t["n"].sum())
    if n == 0:
        return float("nan"), 0
    return float(t.loc[t[attribute] == str(value), "n"].sum() / n), n


def staleness(events: Any, changes: pd.DataFrame | None, *, at: pd.Timestamp, end: pd.Timestamp) -> dict[str, Any]:
    """Is the retrieval index stale against the corpus after a corpus (or embedding) change at ``at``?

    Stale when ``index_version`` did not change between ``at`` and ``end`` (in the logs) and no
    ``index_rebuild`` change was logged in that span, while the corpus moved.
    """
    out: dict[str, Any] = {"checked": False, "stale": False}
    eng = as_engine(events)
    if not eng.profile().present("index_version"):
        return out
    after = eng.value_counts(["index_version"], where=Where.of(at, end))
    after = after[after["value"] != MISSING]
    if len(after) == 0:
        return out
    idx_before = last_logged_value(eng, "index_version", Where.of(None, at))
    idx_after = set(after["value"].astype(str))
    rebuilt_logged = False
    if changes is not None and len(changes):
        ct = changes["change_type"].astype("string")
        # only a rebuild rebuilds: an embedding-model swap at ``at`` is what makes the index stale
        rebuilt_logged = bool(((ct == "index_rebuild") & (changes["ts"] >= at) & (changes["ts"] < end)).fillna(False).any())
    moved = idx_before is None or idx_after != {idx_before}
    corpus_after = last_logged_value(eng, "corpus_version", Where.of(at, end)) if eng.has("corpus_version") else None
    out.update(checked=True, stale=bool(not moved and not rebuilt_logged), index_version=idx_before,
               corpus_version=corpus_after, index_rebuilt=bool(moved or rebuilt_logged))
    return out

