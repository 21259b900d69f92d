"""Upward steps in a share: when did a kind of traffic appear or grow?

:func:`share_steps` reads a series of counts ``c_t`` out of totals ``n_t`` (a topic's requests out
of all requests, per hour) as a binomial share with steps. It is binary segmentation: the single
step that most raises the binomial log-likelihood of a segment, kept when

* the likelihood ratio clears a Bonferroni bound over the positions tried,
  :math:`2\\,\\mathrm{LLR}/\\hat\\phi > \\chi^2_{1}(1 - \\alpha / m)`, with :math:`\\hat\\phi \\ge 1`
  the Pearson dispersion of the counts around the two-share fit (real traffic varies between
  hours more than sampling alone, and a step must clear that variation too);
* the share goes up by at least ``min_growth`` times and ``min_points`` of the traffic;

then again on the segment before the step (an earlier, smaller rise: when the traffic first
appeared) and after it (a later one). Only upward steps are kept: a topic that shrinks is not a
new kind of traffic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis.stats.changepoint.costs import CostBinomial

__all__ = ["ShareStep", "share_steps"]


@dataclass(frozen=True)
class ShareStep:
    """An upward step: the index of the first window after it, the shares before and after it (in
    its segment), the likelihood ratio (dispersion-scaled), and whether it is the earliest found."""

    at: int
    before: float
    after: float
    llr: float
    first: bool = False


def _best_step(c: np.ndarray, n: np.ndarray, min_size: int) -> tuple[int, float]:
    """The upward split of the segment that most raises its binomial log-likelihood (the segment
    costs of :class:`~analysis.stats.changepoint.costs.CostBinomial`, -2 log-likelihoods), and the gain."""
    ks = np.arange(min_size, len(c) - min_size + 1)
    if not len(ks):
        return -1, 0.0
    cost = CostBinomial().fit(c, n)
    zero, end = np.zeros_like(ks), np.full_like(ks, len(c))
    gain = 0.5 * (cost.cost(np.array([0]), np.array([len(c)]))[0] - cost.cost(zero, ks) - cost.cost(ks, end))
    cc, nn = np.cumsum(c), np.cumsum(n)
    x0, n0 = cc[ks - 1], nn[ks - 1]
    x1, n1 = cc[-1] - x0, nn[-1] - n0
    with np.errstate(divide="ignore", invalid="ignore"):
        up = x1 / np.maximum(n1, 1e-300) > x0 / np.maximum(n0, 1e-300)
    gain = np.where(up, gain, -np.inf)  # upward steps only
    if not np.isfinite(gain).any():
        return -1, 0.0
    i = int(np.argmax(gain))
    return int(ks[i]), float(gain[i])


def _dispersion(c: np.ndarray, n: np.ndarray, at: int) -> float:
    """Pearson's chi-square over its degrees of freedom around the two-share fit, at least 1."""
    p = np.empty_like(c)
    for lo, hi in ((0, at), (at, len(c))):
        tot = n[lo:hi].sum()
        p[lo:hi] = c[lo:hi].sum() / tot if tot > 0 else 0.0
    var = n * p * (1 - p)
    ok = (n > 0) & (var > 0)
    dof = int(ok.sum()) - 2
    if dof < 1:
        return 1.0
    return max(1.0, float(np.sum((c[ok] - n[ok] * p[ok]) ** 2 / var[ok]) / dof))


def share_steps(counts: np.ndarray, totals: np.ndarray, *, alpha: float = 0.01, min_growth: float = 2.0, min_points: float = 0.01,
                min_size: int = 3, max_steps: int = 4) -> list[ShareStep]:
    """The upward steps of ``counts / totals`` (see the module's notes), in time order; the first is flagged."""
    c = np.asarray(counts, dtype=float)
    n = np.asarray(totals, dtype=float)
    if c.shape != n.shape or np.any(c < 0) or np.any(c > n):
        raise ValueError("share_steps: counts and totals must have the same length, with 0 <= counts <= totals")
    found: list[ShareStep] = []
    todo = [(0, len(c))]
    while todo and len(found) < max_steps:
        lo, hi = todo.pop(0)
        if hi - lo < 2 * min_size:
            continue
        k, gain = _best_step(c[lo:hi], n[lo:hi], min_size)
        if k < 0:
            continue
        at = lo + k
        before = c[lo:at].sum() / max(n[lo:at].sum(), 1.0)
        after = c[at:hi].sum() / max(n[at:hi].sum(), 1.0)
        phi = _dispersion(c[lo:hi], n[lo:hi], k)
        bound = stats.chi2.isf(alpha / max(hi - lo - 2 * min_size + 1, 1), 1)
        if 2.0 * gain / phi <= bound or after < min_growth * before or after - before < min_points:
            continue
        found.append(ShareStep(at=at, before=float(before), after=float(after), llr=float(gain / phi)))
        todo += [(lo, at), (at, hi)]
    found.sort(key=lambda s: s.at)
    return [ShareStep(s.at, s.before, s.after, s.llr, first=(i == 0)) for i, s in enumerate(found)]
