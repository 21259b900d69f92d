"""Evidence for one change: the metric stratified by the change's own column, concurrently, so that
time does not confound it (:func:`stratified_comparison`), a step at the change (:func:`step_test`),
and version staleness (:func:`staleness`: an index built before its corpus)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from analysis.stats.drift import cohen_h
from analysis.engine import MISSING, Engine, Where, as_engine
from analysis.stats.compare import compare_windows
from analysis.investigation.changes import last_logged_value

__all__ = ["StratifiedResult", "staleness", "step_test", "stratified_comparison", "value_share"]

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


def stratified_comparison(
    events: Any,
    *,
    metric: str,
    kind: str,
    attribute: str,
    new_value: str | None,
    old_values: Sequence[str] | None = None,
    start: Any,
    end: Any,
    window: str | pd.Timedelta = "1h",
    where: Where | None = None,
    segment: str = "all traffic",
) -> StratifiedResult | None:
    """Compare ``metric`` between ``attribute == new_value`` and the other requests, concurrently.

    ``events`` is a canonical table or an engine; ``where`` narrows to a segment. Returns None
    when the attribute is not in the events or neither arm has labelled requests.
    """
    from scipy import stats

    eng = as_engine(events)
    if not eng.has(attribute) or not eng.has(metric) or new_value is None:
        return None
    w = pd.Timedelta(window)
    rng = Where.of(start, end).and_(where)
    n_sel, first, _ = eng.time_range(rng)
    if n_sel == 0:
        return None
    agg = eng.window_aggregates(window=w, metrics={metric: kind}, version=attribute, where=rng, start=first.floor(w),
                                end=pd.Timestamp(end) + w)
    t = agg.table[agg.table["segment_column"] == "__all__"].copy()
    vals = t["version"].astype(str)
    is_new = (vals == str(new_value)).to_numpy()
    if old_values:
        is_old = vals.isin([str(v) for v in old_values]).to_numpy()
    else:
        is_old = ~is_new & ((vals != MISSING).to_numpy() if attribute != "traffic_source" else True)
    t["segment"] = np.where(is_new, "new", "old")
    t = t[is_new | is_old]
    if not len(t) or t["n"].sum() == 0:
        return None
    n_col, s_col, ss_col = f"{metric}__n", f"{metric}__sum", f"{metric}__sumsq"
    t = t.astype({c: "float64" for c in (n_col, s_col, ss_col) if c in t.columns})
    piv = t.pivot_table(index="window_start", columns="segment", values=[n_col, s_col] + ([ss_col] if kind == "mean" else []),
                        aggfunc="sum", fill_value=0.0)
    def col(name: str, arm: str) -> np.ndarray:
        try:
            return piv[(name, arm)].to_numpy(float)
        except KeyError:
            return np.zeros(len(piv))
    n1, n0 = col(n_col, "new"), col(n_col, "old")
    s1, s0 = col(s_col, "new"), col(s_col, "old")
    both = (n1 > 0) & (n0 > 0)
    tot_new, tot_old = float(n1.sum()), float(n0.sum())
    base = dict(attribute=attribute, new_value=str(new_value), segment=segment, n_new=tot_new, n_old=tot_old)
    lvl_new = float(s1.sum() / tot_new) if tot_new else np.nan
    lvl_old = float(s0.sum() / tot_old) if tot_old else np.nan
    if not both.any():
        return StratifiedResult(np.nan, np.nan, np.nan, np.nan, lvl_new, lvl_old, windows_shared=0, **base)
    n1, n0, s1, s0 = n1[both], n0[both], s1[both], s0[both]
    m1, m0 = s1 / n1, s0 / n0
    W = n1 * n0 / (n1 + n0)
    if kind == "rate":
        p = (s1 + s0) / (n1 + n0)
        v = p * (1 - p) * (1 / n1 + 1 / n0)
        sd_pool = np.sqrt(max(float(((s0.sum() + s1.sum()) / (n0.sum() + n1.sum())) * (1 - (s0.sum() + s1.sum()) / (n0.sum() + n1.sum()))), 1e-12))
    else:
        ss1, ss0 = col(ss_col, "new")[both], col(ss_col, "old")[both]
        var1 = np.where(n1 > 1, (ss1 - n1 * m1**2) / np.maximum(n1 - 1, 1), np.nan)
        var0 = np.where(n0 > 1, (ss0 - n0 * m0**2) / np.maximum(n0 - 1, 1), np.nan)
        N = n1.sum() + n0.sum()
        grand = (s1.sum() + s0.sum()) / N
        tot_ss = ss1.sum() + ss0.sum() - N * grand**2
        sd_pool = np.sqrt(max(tot_ss / max(N - 1, 1), 1e-12))
        fill = sd_pool**2
        var1 = np.where(np.isfinite(var1), np.maximum(var1, 0), fill)
        var0 = np.where(np.isfinite(var0), np.maximum(var0, 0), fill)
        v = var1 / n1 + var0 / n0
    D = float((W * (m1 - m0)).sum() / W.sum())
    se = float(np.sqrt((W**2 * v).sum()) / W.sum())
    z = D / se if se > 0 else (0.0 if D == 0 else np.sign(D) * np.inf)
    pv = float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else 0.0
    if kind == "rate":
        p_old = float(s0.sum() / n0.sum())
        eff = float(cohen_h(p_old, p_old + D))
    else:
        eff = D / sd_pool if sd_pool > 0 else np.nan
    return StratifiedResult(float(z), pv, eff, D, lvl_new, lvl_old, windows_shared=int(both.sum()), **base)


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

