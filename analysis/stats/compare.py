"""Two-sample comparisons of a rate or a mean: from windowed series, and from moments.

A windowed series (one row a window: ``n`` and ``successes`` for a rate, ``n``, ``mean`` and
``std`` for a mean) is pooled over a set of windows; two such sets are compared with the pooled
two-proportion z test (rates, effect Cohen's h) or Welch's t test (means, effect Cohen's d).
:func:`welch_from_moments` does Welch's test on counts, sums and sums of squares (vectorised over
segments), and :func:`binomial_pvalue` the exact binomial test of counts against rates.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from analysis.stats.checks import check_alternative
from analysis.stats.drift.proportion import cohen_h

__all__ = ["StratifiedDifference", "stratified_difference", "PooledLevel", "WindowComparison", "WelchResult", "pooled_level", "compare_windows",
           "welch_from_moments", "binomial_pvalue"]


class PooledLevel(NamedTuple):
    """A rate's or a mean's level pooled over windows (unpacks as ``level, n, sd``)."""

    level: float
    n: float
    sd: float


class WindowComparison(NamedTuple):
    """Two sets of windows compared (unpacks as the seven fields, in this order)."""

    baseline: float
    current: float
    effect: float
    statistic: float
    pvalue: float
    n_baseline: float
    n_current: float


class WelchResult(NamedTuple):
    """Welch's test of ``mean1 - mean0`` from moments (arrays; unpacks in this order)."""

    mean0: np.ndarray
    mean1: np.ndarray
    statistic: np.ndarray
    pvalue: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    effect: np.ndarray


def pooled_level(series: pd.DataFrame, kind: str, idx: np.ndarray) -> PooledLevel:
    """Level, size and standard deviation of the rows ``idx`` of a rate or mean series, pooled.

    Parameters
    ----------
    series
        One row a window: ``n`` and ``successes`` (``kind="rate"``), or ``n``, ``mean`` and
        optionally ``std`` (``kind="mean"``; a missing ``std`` counts as 0).
    kind
        ``"rate"`` or ``"mean"``.
    idx
        Positions of the windows to pool.

    Notes
    -----
    A rate pools to :math:`\\hat p = \\sum k / \\sum n` with :math:`sd = \\sqrt{\\hat p(1-\\hat p)}`.
    A mean pools to :math:`\\mu = \\sum n_i m_i / N` with the total sum of squares (within plus
    between windows) over :math:`N - 1`.
    """
    s = series.iloc[idx]
    n = s["n"].to_numpy(float)
    if kind == "rate":
        k = s["successes"].to_numpy(float)
        N = n.sum()
        p = k.sum() / N if N > 0 else np.nan
        return PooledLevel(p, N, np.sqrt(p * (1 - p)) if np.isfinite(p) else np.nan)
    m = s["mean"].to_numpy(float)
    sd = s["std"].to_numpy(float) if "std" in s.columns else np.zeros_like(m)
    ok = (n > 0) & np.isfinite(m)
    n, m, sd = n[ok], m[ok], np.nan_to_num(sd[ok])
    N = n.sum()
    if N <= 0:
        return PooledLevel(np.nan, 0.0, np.nan)
    mu = float((n * m).sum() / N)
    # total sum of squares = within-window + between-window
    ss = float(((n - 1).clip(min=0) * sd**2).sum() + (n * (m - mu) ** 2).sum())
    var = ss / (N - 1) if N > 1 else np.nan
    return PooledLevel(mu, N, np.sqrt(var))


def compare_windows(series: pd.DataFrame, kind: str, pre: np.ndarray, post: np.ndarray) -> WindowComparison:
    """Compare the windows ``post`` with the windows ``pre`` of a rate or mean series.

    Returns
    -------
    WindowComparison
        ``baseline``, ``current`` (pooled levels, :func:`pooled_level`), ``effect`` (Cohen's h for
        a rate, Cohen's d for a mean), ``statistic`` (pooled z, Welch's t), two-sided ``pvalue``,
        and the pooled sizes. Without data on a side everything but the levels is NaN; two
        constant and equal sides give effect 0, statistic 0, p-value 1.

    Notes
    -----
    Rates: :math:`z = (\\hat p_1 - \\hat p_0)/\\sqrt{\\bar p(1-\\bar p)(1/n_0 + 1/n_1)}` with the
    pooled rate :math:`\\bar p`. Means: Welch's :math:`t` with the Welch-Satterthwaite degrees of
    freedom, and :math:`d` over the pooled standard deviation.
    """
    p0, n0, sd0 = pooled_level(series, kind, pre)
    p1, n1, sd1 = pooled_level(series, kind, post)
    if not (n0 > 0 and n1 > 0) or not (np.isfinite(p0) and np.isfinite(p1)):
        return WindowComparison(p0, p1, np.nan, np.nan, np.nan, n0, n1)
    if kind == "rate":
        pooled = (p0 * n0 + p1 * n1) / (n0 + n1)
        var = pooled * (1 - pooled) * (1 / n0 + 1 / n1)
        z = (p1 - p0) / np.sqrt(var) if var > 0 else 0.0
        pv = float(2 * stats.norm.sf(abs(z)))
        return WindowComparison(p0, p1, float(cohen_h(p0, p1)), float(z), pv, n0, n1)
    se = np.sqrt(sd0**2 / n0 + sd1**2 / n1) if n0 > 1 and n1 > 1 else np.nan
    sp = np.sqrt(((n0 - 1) * sd0**2 + (n1 - 1) * sd1**2) / (n0 + n1 - 2)) if n0 + n1 > 2 else np.nan
    if not np.isfinite(se) or se == 0:
        same = p0 == p1
        return WindowComparison(p0, p1, 0.0 if same else np.nan, 0.0, 1.0 if same else np.nan, n0, n1)
    t = (p1 - p0) / se
    df = se**4 / ((sd0**2 / n0) ** 2 / max(n0 - 1, 1) + (sd1**2 / n1) ** 2 / max(n1 - 1, 1))
    pv = float(2 * stats.t.sf(abs(t), df))
    return WindowComparison(p0, p1, float((p1 - p0) / sp) if sp > 0 else np.nan, float(t), pv, n0, n1)


def welch_from_moments(n0: ArrayLike, s0: ArrayLike, ss0: ArrayLike, n1: ArrayLike, s1: ArrayLike,
                       ss1: ArrayLike, alpha: float) -> WelchResult:
    """Welch's t test and interval of ``mean1 - mean0`` from counts, sums and sums of squares.

    Vectorised over segments (arrays broadcast together). Where a side has fewer than two values
    the test is NaN; where both sides are constant and equal, ``t = 0``, ``p = 1``, ``d = 0``.

    Notes
    -----
    The statistic and the two-sided p-value are ``scipy.stats.ttest_ind_from_stats(...,
    equal_var=False)``; the interval is :math:`(m_1 - m_0) \\pm t_{1-\\alpha/2,\\nu}\\, se` with
    the Welch-Satterthwaite :math:`\\nu`, and the effect Cohen's :math:`d` over the pooled
    standard deviation.

    References
    ----------
    Welch, B. L. (1947). The generalization of "Student's" problem when several different
    population variances are involved. Biometrika 34(1-2), 28-35.
    """
    n0, s0, ss0, n1, s1, ss1 = (np.asarray(a, dtype=float) for a in (n0, s0, ss0, n1, s1, ss1))
    with np.errstate(invalid="ignore", divide="ignore"):
        m0, m1 = s0 / n0, s1 / n1
        v0 = np.maximum(ss0 - n0 * m0**2, 0.0) / (n0 - 1)
        v1 = np.maximum(ss1 - n1 * m1**2, 0.0) / (n1 - 1)
        se2 = v0 / n0 + v1 / n1
        se = np.sqrt(se2)
        t, p = stats.ttest_ind_from_stats(m1, np.sqrt(v1), n1, m0, np.sqrt(v0), n0, equal_var=False)
        df = se2**2 / ((v0 / n0) ** 2 / (n0 - 1) + (v1 / n1) ** 2 / (n1 - 1))
        q = stats.t.isf(alpha / 2, df)
        pooled = np.sqrt(((n0 - 1) * v0 + (n1 - 1) * v1) / (n0 + n1 - 2))
        d = (m1 - m0) / pooled
    bad = (n0 < 2) | (n1 < 2) | ~np.isfinite(t)
    # Both periods constant and equal (se = 0): no evidence of a change.
    same = (se == 0) & (m0 == m1) & (n0 >= 2) & (n1 >= 2)
    t = np.where(same, 0.0, np.where(bad, np.nan, t))
    p = np.where(same, 1.0, np.where(bad, np.nan, p))
    d = np.where(same, 0.0, d)
    lo = np.where(bad & ~same, np.nan, (m1 - m0) - q * se)
    hi = np.where(bad & ~same, np.nan, (m1 - m0) + q * se)
    return WelchResult(m0, m1, t, p, lo, hi, d)


def binomial_pvalue(k: ArrayLike, n: ArrayLike, p: ArrayLike, alternative: str) -> np.ndarray:
    """Exact binomial p-values of ``k`` successes in ``n`` trials against rates ``p``, vectorised.

    One-sided p-values are ``scipy.stats.binom`` tail probabilities; two-sided ones
    ``scipy.stats.binomtest`` (the minimum-likelihood method), one call per entry. Where
    ``n == 0`` the p-value is NaN.
    """
    check_alternative(alternative)
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    if alternative == "greater":
        out = stats.binom.sf(k - 1, n, p)
    elif alternative == "less":
        out = stats.binom.cdf(k, n, p)
    else:
        out = np.array([stats.binomtest(int(a), int(b), float(c)).pvalue if b > 0 else np.nan
                        for a, b, c in zip(np.atleast_1d(k), np.atleast_1d(n), np.atleast_1d(np.broadcast_to(p, np.shape(k))))])
        out = out.reshape(np.shape(k))
    return np.where(n > 0, np.clip(out, 0.0, 1.0), np.nan)


class StratifiedDifference(NamedTuple):
    """The Mantel-Haenszel weighted difference of two arms over the windows both hold.

    ``statistic`` is its z, ``pvalue`` two-sided, ``effect`` standardized (Cohen's h between the
    old arm's pooled rate and that rate + ``difference`` for rates; ``difference`` over the pooled
    standard deviation for means), ``windows_shared`` the windows where both arms have requests
    (0: no concurrent comparison, every value NaN).
    """

    statistic: float
    pvalue: float
    effect: float
    difference: float
    windows_shared: int


def _window_variances(kind: str, n1: np.ndarray, n0: np.ndarray, s1: np.ndarray, s0: np.ndarray, ss1: np.ndarray | None,
                      ss0: np.ndarray | None) -> tuple[np.ndarray, float]:
    """Per window the variance of the difference, and the pooled standard deviation."""
    m1, m0 = s1 / n1, s0 / n0
    if kind == "rate":
        p = (s1 + s0) / (n1 + n0)
        pooled = (s0.sum() + s1.sum()) / (n0.sum() + n1.sum())
        return p * (1 - p) * (1 / n1 + 1 / n0), np.sqrt(max(float(pooled * (1 - pooled)), 1e-12))
    var1 = np.where(n1 > 1, (ss1 - n1 * m1**2) / np.maximum(n1 - 1, 1), np.nan)
    var0 = np.where(n0 > 1, (ss0 - n0 * m0**2) / np.maximum(n0 - 1, 1), np.nan)
    N = n1.sum() + n0.sum()
    grand = (s1.sum() + s0.sum()) / N
    sd_pool = np.sqrt(max((ss1.sum() + ss0.sum() - N * grand**2) / max(N - 1, 1), 1e-12))
    fill = sd_pool**2
    var1 = np.where(np.isfinite(var1), np.maximum(var1, 0), fill)
    var0 = np.where(np.isfinite(var0), np.maximum(var0, 0), fill)
    return var1 / n1 + var0 / n0, sd_pool


def stratified_difference(n_new: ArrayLike, s_new: ArrayLike, n_old: ArrayLike, s_old: ArrayLike, *, kind: str,
                          ss_new: ArrayLike | None = None, ss_old: ArrayLike | None = None) -> StratifiedDifference:
    """Compare two arms window by window, only where both have requests.

    Parameters
    ----------
    n_new, s_new, n_old, s_old
        Per window: each arm's requests and the sum of its metric.
    kind
        ``"rate"`` (a 0/1 metric) or ``"mean"``.
    ss_new, ss_old
        Per window: each arm's sum of squares (means only).

    Notes
    -----
    Per shared window :math:`w`: difference :math:`d_w = \\bar y_{new,w} - \\bar y_{old,w}`,
    weight :math:`W_w = n_{new,w} n_{old,w} / (n_{new,w} + n_{old,w})` and variance
    :math:`v_w = s^2_{new,w}/n_{new,w} + s^2_{old,w}/n_{old,w}` (for rates with the window's pooled
    rate); :math:`D = \\sum_w W_w d_w / \\sum_w W_w` and
    :math:`z = D / (\\sqrt{\\sum_w W_w^2 v_w} / \\sum_w W_w)`.

    References
    ----------
    Greenland, S. and Robins, J. M. (1985). Estimation of a common effect parameter from sparse
    follow-up data. Biometrics 41, 55-68.
    """
    n1, n0, s1, s0 = (np.asarray(a, dtype=float) for a in (n_new, n_old, s_new, s_old))
    both = (n1 > 0) & (n0 > 0)
    if not both.any():
        return StratifiedDifference(np.nan, np.nan, np.nan, np.nan, 0)
    n1, n0, s1, s0 = n1[both], n0[both], s1[both], s0[both]
    ss1 = None if ss_new is None else np.asarray(ss_new, dtype=float)[both]
    ss0 = None if ss_old is None else np.asarray(ss_old, dtype=float)[both]
    v, sd_pool = _window_variances(kind, n1, n0, s1, s0, ss1, ss0)
    W = n1 * n0 / (n1 + n0)
    D = float((W * (s1 / n1 - s0 / n0)).sum() / W.sum())
    se = float(np.sqrt((W**2 * v).sum()) / W.sum())
    z = D / se if se > 0 else (0.0 if D == 0 else np.sign(D) * np.inf)
    pv = float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else 0.0
    if kind == "rate":
        p_old = float(s0.sum() / n0.sum())
        eff = float(cohen_h(p_old, p_old + D))
    else:
        eff = D / sd_pool if sd_pool > 0 else np.nan
    return StratifiedDifference(float(z), pv, eff, D, int(both.sum()))
