"""Group-sequential non-inferiority test of two proportions: Lan-DeMets alpha spending on a score statistic.

The rollout gate (:mod:`analysis.prevention.gate`) looks at a canary every hour for a planned
horizon. A fixed-sample test checked that often rejects a true null far more often than its level;
an always-valid test (:mod:`analysis.stats.sequential`) pays for looking at any time with width. A
group-sequential design spends its level ``alpha`` over the looks it plans: the Lan & DeMets (1983)
spending function of O'Brien-Fleming type

.. math:: \\alpha(t) = 2\\,\\bigl(1 - \\Phi(z_{1-\\alpha/2} / \\sqrt{t})\\bigr), \\qquad 0 < t \\le 1,

spends almost nothing early and almost all of ``alpha`` at the end (``t`` is the look's share of
the planned horizon), so its last boundary is close to the fixed-sample one and its power close to a
single test at the end; early looks still stop a large harm early.

The boundaries :math:`c_k` solve :math:`P(Z_1 < c_1, \\dots, Z_{k-1} < c_{k-1}, Z_k \\ge c_k) =
\\alpha(t_k) - \\alpha(t_{k-1})` for the joint normal law of the statistics at the looks (the score
process is a Brownian motion in the information :math:`I_k`: :math:`\\mathrm{corr}(Z_j, Z_k) =
\\sqrt{I_j / I_k}`), by the recursive numerical integration of Armitage, McPherson & Rowe (1969)
(Jennison & Turnbull 2000, ch. 19). Looks may be irregular and their number need not be fixed in
advance: only the spending at the looks taken counts (Lan & DeMets 1983).

The statistic is the score test of non-inferiority with margin :math:`\\delta` of Farrington &
Manning (1990), corrected for skewness (Gart & Nam 1990; without it, a 5% canary's one-sided type-I
error at a 10% rate is 0.020 against 0.0167 in ``benchmarks/gate.py``'s setting): for :math:`H_0: p_1 - p_2 \\le \\delta`,

.. math:: Z = \\frac{\\hat p_1 - \\hat p_2 - \\delta}{\\sqrt{\\tilde p_1(1-\\tilde p_1)/n_1 + \\tilde p_2(1-\\tilde p_2)/n_2}}

with :math:`(\\tilde p_1, \\tilde p_2)` the maximum-likelihood rates under :math:`p_1 - p_2 = \\delta`
(Miettinen & Nurminen 1985, closed form in Farrington & Manning). For arms too small for the
normal approximation, :func:`exact_score_test` compares the same statistic with its exact
distribution, maximised over the nuisance rate (Chan 1998; Barnard's test when :math:`\\delta = 0`).

References
----------
Lan, K. K. G. & DeMets, D. L. (1983). Discrete sequential boundaries for clinical trials. Biometrika 70(3).
Jennison, C. & Turnbull, B. W. (2000). Group Sequential Methods with Applications to Clinical Trials. Chapman & Hall.
Farrington, C. P. & Manning, G. (1990). Test statistics and sample size formulae for comparative binomial
trials with null hypothesis of non-zero risk difference or non-unity relative risk. Statistics in Medicine 9.
Chan, I. S. F. (1998). Exact tests of equivalence and efficacy with a non-zero lower bound for comparative
studies. Statistics in Medicine 17.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special, stats

from analysis._common import check_alpha

__all__ = ["obf_spending", "Boundaries", "spending_boundaries", "restricted_rates", "score_statistic", "score_bound",
           "ExactScoreTest", "exact_score_test", "exact_score_pvalues", "nuisance_range", "tiny_arms", "MIN_EXPECTED",
           "NoninferiorityLooks", "noninferiority_looks", "MIN_GAIN"]

#: The normal approximation is used when every arm expects at least this many outcome and non-outcome events
#: at the pooled rate; below it, :func:`exact_score_test` (the usual rule of thumb is 5; the gate asks twice that).
MIN_EXPECTED = 10.0
_Z_TOP = 9.0  # boundaries above this are treated as unreachable (tail probability < 1e-19)
_MAX_POINTS = 2001


def obf_spending(t: ArrayLike, alpha: float) -> np.ndarray:
    """The Lan-DeMets O'Brien-Fleming-type spending function: the level spent by information time ``t``.

    ``alpha(t) = 2 (1 - Phi(z_{1 - alpha/2} / sqrt(t)))`` for ``0 < t <= 1``; 0 at ``t <= 0``,
    ``alpha`` at ``t >= 1`` (one-sided ``alpha``, as gsDesign's ``sfLDOF``).
    """
    alpha = check_alpha(alpha)
    t = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        out = 2.0 * special.ndtr(-special.ndtri(1 - alpha / 2) / np.sqrt(t))
    return np.where(t > 0, np.minimum(out, alpha), 0.0)


@dataclass(frozen=True)
class Boundaries:
    """Upper boundaries of a one-sided group-sequential test.

    Attributes
    ----------
    times, information
        The looks' spending times (share of the planned horizon) and statistical information.
    spent
        The cumulative level spent by each look, ``alpha(t_k)``.
    z
        The boundary of each look on the standard-normal scale (``inf``: the look cannot reject).
    nominal
        ``1 - Phi(z)``: the nominal one-sided level of each look's test on its own.
    """

    times: np.ndarray
    information: np.ndarray
    alpha: float
    spent: np.ndarray
    z: np.ndarray
    nominal: np.ndarray


def _grid(upper_z: float, info: float, next_delta: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Simpson points and weights on the score scale, from ``-8 sd`` to the boundary ``upper_z`` (in sd)."""
    sd = np.sqrt(info)
    lo, hi = -8.0 * sd, min(upper_z, _Z_TOP) * sd
    step = 0.04 * sd if next_delta is None else min(0.04 * sd, np.sqrt(next_delta) / 6.0)
    m = int(np.clip(np.ceil((hi - lo) / step), 20, _MAX_POINTS - 1))
    m += m % 2  # even number of intervals for Simpson
    s = np.linspace(lo, hi, m + 1)
    w = np.full(m + 1, 2.0)
    w[1::2] = 4.0
    w[0] = w[-1] = 1.0
    return s, w * (hi - lo) / (3.0 * m)


def _solve_boundary(mass: np.ndarray, s: np.ndarray, delta: float, target: float, info: float) -> float:
    """The score ``b`` with ``sum(mass * P(N(0, delta) >= b - s)) = target``, as ``b / sqrt(info)``."""
    if target <= 0:
        return np.inf
    if target < 1e-12:  # earlier boundaries are out of reach: the look's own tail is the answer
        return float(-special.ndtri(target))
    sd = np.sqrt(delta)

    def excess(z: float) -> float:
        return float(np.dot(mass, special.ndtr((s - z * np.sqrt(info)) / sd))) - target

    if excess(_Z_TOP) > 0:
        return _Z_TOP
    if excess(-10.0) < 0:  # more to spend than the mass left: reject at every value
        return -np.inf
    return float(optimize.brentq(excess, -10.0, _Z_TOP, xtol=1e-10))


def spending_boundaries(times: ArrayLike, information: ArrayLike, alpha: float, *, spending=obf_spending) -> Boundaries:
    """Boundaries of a one-sided group-sequential test that spends ``spending(t, alpha)`` by each look.

    Parameters
    ----------
    times
        The looks' spending times, increasing, in ``(0, 1]`` (1 = the planned horizon; later
        looks spend nothing more).
    information
        The statistical information at each look, increasing (any scale: only the ratios matter).
    alpha
        The one-sided level spent over all the looks.
    spending
        ``f(t, alpha)`` -> level spent by time ``t`` (default :func:`obf_spending`).

    Returns
    -------
    Boundaries

    Notes
    -----
    Armitage-McPherson-Rowe recursion on the score :math:`S_k = Z_k \\sqrt{I_k}`: the sub-density of
    the paths still running is carried on a Simpson grid from look to look by the normal kernel of
    the increment :math:`N(0, I_k - I_{k-1})`, and each boundary is found by a root search on the
    mass that crosses it. Accurate to about 1e-4 on ``z`` (checked against published boundaries).
    """
    alpha = check_alpha(alpha)
    t = np.asarray(times, dtype=float)
    info = np.asarray(information, dtype=float)
    if t.ndim != 1 or t.shape != info.shape or t.size == 0:
        raise ValueError(f"`times` and `information` must be 1-d arrays of the same non-zero length, got {t.shape} and {info.shape}")
    if np.any(np.diff(t) < 0) or t[0] <= 0:
        raise ValueError(f"`times` must be positive and non-decreasing, got {t.tolist()}")
    if np.any(np.diff(info) <= 0) or info[0] <= 0:
        raise ValueError(f"`information` must be positive and increasing, got {info.tolist()}")
    spent = np.asarray(spending(t, alpha), dtype=float)
    z = np.empty(t.size)
    z[0] = -special.ndtri(spent[0]) if spent[0] > 0 else np.inf
    nxt = info[1] - info[0] if t.size > 1 else None
    s, w = _grid(z[0], info[0], nxt)
    mass = w * stats.norm.pdf(s, scale=np.sqrt(info[0]))
    for k in range(1, t.size):
        delta = info[k] - info[k - 1]
        z[k] = _solve_boundary(mass, s, delta, spent[k] - spent[k - 1], info[k])
        if k + 1 < t.size:
            s_new, w_new = _grid(z[k], info[k], info[k + 1] - info[k])
            kernel = np.exp(-0.5 * (s_new[:, None] - s[None, :]) ** 2 / delta) / np.sqrt(2.0 * np.pi * delta)
            mass, s = w_new * (kernel @ mass), s_new
    return Boundaries(times=t, information=info, alpha=alpha, spent=spent, z=z, nominal=special.ndtr(-z))


# ----------------------------------------------------------------------------------------------
# the score statistic of non-inferiority (Farrington & Manning 1990)
# ----------------------------------------------------------------------------------------------


def restricted_rates(x1: ArrayLike, n1: ArrayLike, x2: ArrayLike, n2: ArrayLike, delta: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The maximum-likelihood rates ``(p1, p2)`` under ``p1 - p2 = delta`` (Farrington & Manning 1990, closed form).

    Cells where the closed form is not finite (at the edges of the parameter space) are found by
    bisection on the score of the constrained log-likelihood, which is decreasing in ``p2``.
    """
    x1, n1, x2, n2, d = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x1, n1, x2, n2, delta)))
    with np.errstate(invalid="ignore", divide="ignore"):
        theta = n2 / n1
        a = 1.0 + theta
        q1, q2 = x1 / n1, x2 / n2
        b = -(1.0 + theta + q1 + theta * q2 + d * (theta + 2.0))
        c = d * d + d * (2.0 * q1 + theta + 1.0) + q1 + theta * q2
        e = -q1 * d * (1.0 + d)
        v = b ** 3 / (3.0 * a) ** 3 - b * c / (6.0 * a * a) + e / (2.0 * a)
        u = np.sign(v) * np.sqrt(np.maximum(b * b / (3.0 * a) ** 2 - c / (3.0 * a), 0.0))
        w = (np.pi + np.arccos(np.clip(v / u ** 3, -1.0, 1.0))) / 3.0
        p1 = 2.0 * u * np.cos(w) - b / (3.0 * a)
    p2 = p1 - d
    lo, hi = np.maximum(0.0, -d), np.minimum(1.0, 1.0 - d)
    bad = ~(np.isfinite(p2) & (p2 >= lo - 1e-12) & (p2 <= hi + 1e-12))
    if bad.any():
        p2 = np.where(bad, _bisect_restricted(x1, n1, x2, n2, d, lo, hi), p2)
    p2 = np.clip(p2, lo, hi)
    return p2 + d, p2


def _bisect_restricted(x1, n1, x2, n2, d, lo, hi, iterations: int = 80) -> np.ndarray:
    a, b = lo.copy(), hi.copy()
    for _ in range(iterations):
        m = 0.5 * (a + b)
        with np.errstate(invalid="ignore", divide="ignore"):
            g = (np.where(x1 > 0, x1 / (m + d), 0.0) - np.where(n1 > x1, (n1 - x1) / (1.0 - m - d), 0.0)
                 + np.where(x2 > 0, x2 / m, 0.0) - np.where(n2 > x2, (n2 - x2) / (1.0 - m), 0.0))
        up = g > 0
        a, b = np.where(up, m, a), np.where(up, b, m)
    return 0.5 * (a + b)


def score_statistic(x1: ArrayLike, n1: ArrayLike, x2: ArrayLike, n2: ArrayLike, delta: ArrayLike = 0.0, *,
                    skew: bool = False) -> np.ndarray:
    r"""The Farrington-Manning score statistic of ``H0: p1 - p2 <= delta`` (large: arm 1's rate is above arm 2's by more).

    ``skew=True``: corrected for the skewness of the rate difference (Gart & Nam 1990; Laud 2017's
    SCAS): with :math:`g = \gamma/6`, :math:`\gamma = \mu_3 / V^{3/2}` the skewness of
    :math:`\hat p_1 - \hat p_2` at the restricted rates (:math:`\mu_3 = \sum_i \pm \tilde p_i(1-\tilde p_i)
    (1-2\tilde p_i)/n_i^2`), the statistic is the root :math:`z_c` of the Cornish-Fisher expansion
    :math:`z = z_c + g(z_c^2 - 1)`, so that :math:`z_c` is standard normal to the next order. With
    unequal arms (a 5% canary) the plain statistic's one-sided tail is too heavy on one side.

    NaN where an arm has no events; 0 where the estimate equals ``delta`` and the restricted
    variance is 0.
    """
    x1, n1, x2, n2, d = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x1, n1, x2, n2, delta)))
    empty = (n1 <= 0) | (n2 <= 0)
    safe = [np.where(empty, 1.0, a) for a in (n1, n2)]
    p1, p2 = restricted_rates(np.where(empty, 0.0, x1), safe[0], np.where(empty, 0.0, x2), safe[1], d)
    with np.errstate(invalid="ignore", divide="ignore"):
        num = x1 / safe[0] - x2 / safe[1] - d
        var = p1 * (1.0 - p1) / safe[0] + p2 * (1.0 - p2) / safe[1]
        z = np.where(var > 0, num / np.sqrt(var), np.sign(num) * np.inf)
        if skew:
            mu3 = p1 * (1 - p1) * (1 - 2 * p1) / safe[0] ** 2 - p2 * (1 - p2) * (1 - 2 * p2) / safe[1] ** 2
            g = np.where(var > 0, mu3 / np.maximum(var, 1e-300) ** 1.5, 0.0) / 6.0
            z = np.where(np.isfinite(z), 2 * (z + g) / (1 + np.sqrt(np.maximum(1 + 4 * g * (z + g), 0.0))), z)
    z = np.where(np.abs(num) < 1e-14, 0.0, z)
    return np.where(empty, np.nan, z)


def score_bound(x1: ArrayLike, n1: ArrayLike, x2: ArrayLike, n2: ArrayLike, z: ArrayLike, iterations: int = 50, *,
                skew: bool = False) -> np.ndarray:
    """The smallest ``delta`` not rejected by the score test at boundary ``z``: a lower bound of ``p1 - p2``.

    ``score_statistic(..., delta)`` decreases in ``delta``; the bound is the ``delta`` in
    ``(-1, 1)`` where it equals ``z`` (by bisection). -1 where ``z`` is not finite; NaN where an arm
    is empty.
    """
    x1, n1, x2, n2, z = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x1, n1, x2, n2, z)))
    lo, hi = np.full(x1.shape, -1.0 + 1e-9), np.full(x1.shape, 1.0 - 1e-9)
    zz = np.where(np.isfinite(z), z, 0.0)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        above = score_statistic(x1, n1, x2, n2, mid, skew=skew) > zz
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    out = np.where(np.isfinite(z), 0.5 * (lo + hi), -1.0)
    return np.where((n1 > 0) & (n2 > 0), out, np.nan)


def tiny_arms(x1: ArrayLike, n1: ArrayLike, x2: ArrayLike, n2: ArrayLike, min_expected: float = MIN_EXPECTED) -> np.ndarray:
    """Whether some arm expects fewer than ``min_expected`` outcome or non-outcome events at the pooled rate.

    Depends on the outcomes only through the pooled rate (the same under any split of the events
    between the arms), so the choice of test says little about which arm is worse.
    """
    x1, n1, x2, n2 = (np.asarray(a, dtype=float) for a in (x1, n1, x2, n2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = (x1 + x2) / (n1 + n2)
        least = np.minimum(n1, n2) * np.minimum(p, 1.0 - p)
    return ~(least >= min_expected)


# ----------------------------------------------------------------------------------------------
# the exact test for small arms (Chan 1998; Berger & Boos 1994)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExactScoreTest:
    """The score statistic of ``H0: p1 - p2 <= delta`` and its exact unconditional p-values.

    ``pvalue`` is ``sup P(Z >= statistic)`` over the null's least favourable rates (on the boundary
    ``p1 = p2 + delta``), the larger arm's rate within its Berger-Boos confidence interval when
    ``gamma > 0`` (plus ``gamma``); ``reverse_pvalue`` the same for the other side,
    ``H0: p1 - p2 >= delta`` (``sup P(Z <= statistic)``).
    """

    statistic: float
    pvalue: float
    reverse_pvalue: float
    delta: float
    gamma: float
    n1: int
    n2: int


def nuisance_range(x1: int, n1: int, x2: int, n2: int, gamma: float) -> tuple[float, float]:
    """The nuisance rate's range: the larger arm's rate (arm 2 on a tie) anywhere in ``[0, 1]``
    (``gamma = 0``), or in its ``1 - gamma`` Clopper-Pearson interval (Berger & Boos 1994)."""
    if gamma <= 0:
        return 0.0, 1.0
    x, n = (x2, n2) if n2 >= n1 else (x1, n1)
    ci_low = special.betaincinv(x, n - x + 1, gamma / 2) if x > 0 else 0.0
    ci_high = special.betaincinv(x + 1, n - x, 1 - gamma / 2) if x < n else 1.0
    return float(ci_low), float(ci_high)


def _side_rates(q_range: tuple[float, float], delta: float, arm2_larger: bool, side: int,
                points: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The least favourable ``(p1, p2)`` of one null for each nuisance rate ``q`` (the larger arm's).

    ``side = +1``: ``H0: p1 - p2 <= delta``, the other arm at its most extreme allowed rate (on the
    boundary, clipped to [0, 1]); ``side = -1``: ``H0: p1 - p2 >= delta``. Rates ``q`` for which
    the null holds no point are left out; None when none is left.
    """
    lo, hi = q_range
    # q = p2: H0(+1) needs q + delta >= 0 (p1 = min(1, q + delta)); H0(-1) needs q + delta <= 1
    # q = p1: H0(+1) needs q - delta <= 1 (p2 = max(0, q - delta)); H0(-1) needs q - delta >= 0
    shift = delta if arm2_larger else -delta
    if (side > 0) == arm2_larger:
        lo = max(lo, -shift)
    else:
        hi = min(hi, 1.0 - shift)
    if hi < lo:
        return None
    q = lo + (hi - lo) * np.sin(0.5 * np.pi * np.linspace(0.0, 1.0, int(points))) ** 2
    other = np.clip(q + shift, 0.0, 1.0)
    return (other, q) if arm2_larger else (q, other)


def _support(n: int, p_lo: float, p_hi: float) -> np.ndarray:
    """The counts of ``Binomial(n, p)`` within 7 sd + 6 of the mean for some ``p`` in ``[p_lo, p_hi]``
    (the mass left out, below 1e-10, is added back to the tails by :func:`exact_score_pvalues`)."""
    sd = np.sqrt(n * 0.25 if p_lo <= 0.5 <= p_hi else n * max(p * (1 - p) for p in (p_lo, p_hi)))
    lo, hi = n * p_lo - 7 * sd - 6, n * p_hi + 7 * sd + 6
    return np.arange(int(max(np.floor(lo), 0)), int(min(np.ceil(hi), n)) + 1)


def _binom_pmf(k: np.ndarray, n: int, p: np.ndarray) -> np.ndarray:
    """``Binomial(n, p).pmf(k)`` for each rate (rows) and count (columns), from log-gamma functions."""
    log_c = special.gammaln(n + 1.0) - special.gammaln(k + 1.0) - special.gammaln(n - k + 1.0)
    return np.exp(log_c[None, :] + special.xlogy(k[None, :], p[:, None]) + special.xlog1py(n - k[None, :], -p[:, None]))


def _tails(z_obs: np.ndarray, n1: int, n2: int, delta: float, rates: tuple[np.ndarray, np.ndarray] | None,
           side: int) -> np.ndarray:
    """``sup`` over the rate pairs of ``P(Z >= z)`` (``side = +1``) or ``P(Z <= z)`` (``-1``), for each ``z``."""
    if rates is None:  # the null holds no rate in the range: nothing to take the sup over
        return np.zeros(z_obs.shape)
    p1, p2 = rates
    s1, s2 = _support(n1, float(p1.min()), float(p1.max())), _support(n2, float(p2.min()), float(p2.max()))
    z = score_statistic(s1[:, None], n1, s2[None, :], n2, delta)[:, :, None]
    region = (z >= z_obs - 1e-9) if side > 0 else (z <= z_obs + 1e-9)
    pmf1, pmf2 = _binom_pmf(s1, n1, p1), _binom_pmf(s2, n2, p2)
    left_out = np.clip(1.0 - pmf1.sum(axis=1) * pmf2.sum(axis=1), 0.0, 1.0)[:, None]
    a = (pmf1 @ region.reshape(len(s1), -1).astype(float)).reshape(len(p1), len(s2), -1)
    return np.minimum(1.0, ((a * pmf2[:, :, None]).sum(axis=1) + left_out).max(axis=0))


def exact_score_pvalues(z_obs: ArrayLike, n1: int, n2: int, delta: float, q_range: tuple[float, float], *,
                        points: int = 65) -> tuple[np.ndarray, np.ndarray]:
    """``sup P(Z >= z)`` under ``p1 - p2 <= delta`` and ``sup P(Z <= z)`` under ``p1 - p2 >= delta``,
    for each observed score ``z``, over the larger arm's rate in ``q_range`` (:func:`nuisance_range`).

    For each nuisance rate (``points`` of them, spaced as ``sin^2``, denser at the ends) the other
    arm's rate is the least favourable of the null (on the boundary ``p1 - p2 = delta``, clipped to
    [0, 1]); the two binomial laws are summed over the outcomes whose score statistic is at least
    (at most) ``z``, and the mass of the outcomes left out of the enumeration is added.
    """
    z_obs = np.atleast_1d(np.asarray(z_obs, dtype=float))
    arm2_larger = n2 >= n1
    return tuple(_tails(z_obs, n1, n2, delta, _side_rates(q_range, delta, arm2_larger, side, points), side)
                 for side in (1, -1))


def exact_score_test(x1: int, n1: int, x2: int, n2: int, delta: float = 0.0, *, gamma: float = 1e-6,
                     points: int = 65) -> ExactScoreTest:
    """The exact unconditional score test of ``H0: p1 - p2 <= delta`` (Chan 1998), both sides.

    Parameters
    ----------
    x1, n1, x2, n2
        Outcome events and events in arm 1 (whose larger rate is the harm) and arm 2.
    delta
        The margin: the largest ``p1 - p2`` tolerated.
    gamma
        Berger & Boos (1994): the sup over the nuisance rate runs over a ``1 - gamma`` confidence
        interval of it (:func:`nuisance_range`), and ``gamma`` is added to the p-values (still
        valid; a large control arm then costs little). ``0``: the sup over every rate (with
        ``delta = 0`` this is Barnard's test with the pooled score statistic, as
        :func:`scipy.stats.barnard_exact`).
    points
        Nuisance rates tried (65 over the narrow Berger-Boos interval; pass more with ``gamma = 0``).

    Returns
    -------
    ExactScoreTest
    """
    n1, n2, x1, x2 = int(n1), int(n2), int(x1), int(x2)
    if not (0 <= x1 <= n1 and 0 <= x2 <= n2 and n1 > 0 and n2 > 0):
        raise ValueError(f"counts must satisfy 0 <= x <= n and n > 0 in both arms, got {x1}/{n1} and {x2}/{n2}")
    z_obs = float(score_statistic(x1, n1, x2, n2, delta))
    q_range = nuisance_range(x1, n1, x2, n2, float(gamma))
    up, down = exact_score_pvalues([z_obs], n1, n2, float(delta), q_range, points=points)
    return ExactScoreTest(statistic=z_obs, pvalue=float(min(1.0, up[0] + gamma)), reverse_pvalue=float(min(1.0, down[0] + gamma)),
                          delta=float(delta), gamma=float(gamma), n1=n1, n2=n2)


# ----------------------------------------------------------------------------------------------
# the gate's test at every look
# ----------------------------------------------------------------------------------------------

#: A look is taken for a tier only when its information grew by at least this share since the last one taken.
MIN_GAIN = 0.005


@dataclass(frozen=True)
class NoninferiorityLooks:
    """The group-sequential test of each column (a tier, or a simulated canary) at each look (axis 0).

    Attributes
    ----------
    harm
        The rate difference in the bad direction, at every look.
    statistic
        The skewness-corrected score statistic of ``harm <= tolerance`` at the last look taken
        (``-statistic`` tests ``harm >= tolerance``); the exact looks use the plain one.
    boundary, level
        That look's boundary (standard-normal scale) and its nominal one-sided level ``1 - Phi(boundary)``.
    lower, upper
        Repeated confidence bounds of the harm: the score test inverted at that look's boundary
        (Jennison & Turnbull 2000, ch. 9).
    p_worse, p_not_worse
        That look's one-sided p-values (normal, or exact for tiny arms): ``worse`` when
        ``p_worse <= level``. NaN when not computed (``detail=False``).
    exact
        Whether that look used :func:`exact_score_test` (tiny arms).
    taken
        Whether the look was taken (both arms had events and the information grew; a look not
        taken keeps the previous one's evidence).
    worse, not_worse
        Decided by this look (a tier's test stops at its first decision).
    """

    harm: np.ndarray
    statistic: np.ndarray
    boundary: np.ndarray
    level: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    p_worse: np.ndarray
    p_not_worse: np.ndarray
    exact: np.ndarray
    taken: np.ndarray
    worse: np.ndarray
    not_worse: np.ndarray


def _taken(info: np.ndarray, times: np.ndarray) -> np.ndarray:
    taken = np.zeros(info.shape, dtype=bool)
    last = np.zeros(info.shape[1:])
    for k in range(info.shape[0]):
        taken[k] = (info[k] > 0) & (info[k] > last * (1.0 + MIN_GAIN)) & (times[k] > 0)
        last = np.where(taken[k], info[k], last)
    return taken


def _boundaries(info: np.ndarray, taken: np.ndarray, times: np.ndarray, alpha: float) -> np.ndarray:
    """Each column's boundaries at its looks taken (``inf`` elsewhere); columns with the same looks share them."""
    z = np.full(info.shape, np.inf)
    cache: dict[bytes, np.ndarray] = {}
    for j in range(info.shape[1]):
        rows = np.flatnonzero(taken[:, j])
        if rows.size == 0:
            continue
        t, i = np.minimum(times[rows], 1.0), info[rows, j]
        key = t.tobytes() + i.tobytes()
        if key not in cache:
            cache[key] = spending_boundaries(t, i, alpha).z
        z[rows, j] = cache[key]
    return z


def _exact_p(x1, n1, x2, n2, z, tol, cells: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact p-values of both sides at ``cells``: one enumeration per look's arm sizes, margin and
    nuisance range (the larger arm's count), for all the cells that share them."""
    pw, pn = np.full(x1.shape, np.nan), np.full(x1.shape, np.nan)
    groups: dict[tuple, list[tuple[int, int]]] = {}
    for k, j in zip(*np.nonzero(cells)):
        big = x2[k, j] if n2[k, j] >= n1[k, j] else x1[k, j]
        groups.setdefault((n1[k, j], n2[k, j], tol[j], big), []).append((k, j))
    for (a, b, d, _), where in groups.items():
        k, j = np.array(where).T
        q_range = nuisance_range(int(x1[k[0], j[0]]), int(a), int(x2[k[0], j[0]]), int(b), gamma)
        up, down = exact_score_pvalues(z[k, j], int(a), int(b), float(d), q_range)
        pw[k, j], pn[k, j] = np.minimum(1.0, up + gamma), np.minimum(1.0, down + gamma)
    return pw, pn


def _first(flags: np.ndarray) -> np.ndarray:
    return np.where(flags.any(axis=0), flags.argmax(axis=0), flags.shape[0])


def _carry(values: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """Each look's value from the last look taken (NaN before the first)."""
    idx = np.maximum.accumulate(np.where(taken, np.arange(taken.shape[0])[:, None], -1), axis=0)
    out = np.take_along_axis(values, np.maximum(idx, 0), axis=0)
    return np.where(idx >= 0, out, np.nan)


def noninferiority_looks(x_t: ArrayLike, n_t: ArrayLike, x_c: ArrayLike, n_c: ArrayLike, *, times: ArrayLike,
                         tolerance: ArrayLike, alternative: str, alpha: float, gamma: float = 1e-6,
                         detail: bool = True) -> NoninferiorityLooks:
    """The group-sequential non-inferiority test of treatment against control at every look.

    Parameters
    ----------
    x_t, n_t, x_c, n_c
        Cumulative outcome events and events per look (axis 0) and column (axis 1).
    times
        Each look's share of the planned horizon (later looks spend nothing more).
    tolerance
        Each column's margin: the harm tolerated.
    alternative
        ``"greater"`` (treatment's rate above control's is the harm) or ``"less"``.
    alpha
        The one-sided level of each side (``worse``, ``not worse``) of each column.
    gamma
        :func:`exact_score_test`'s Berger-Boos level.
    detail
        ``False``: skip what the decisions do not need (bounds; p-values of looks that cannot
        decide; exact p-values where the score is negative), for simulations.

    Returns
    -------
    NoninferiorityLooks

    Notes
    -----
    Each side spends ``alpha`` with :func:`obf_spending` over the looks taken; a look whose arms
    expect fewer than :data:`MIN_EXPECTED` outcome or non-outcome events (:func:`tiny_arms`)
    compares :func:`exact_score_test`'s p-value with the look's nominal level instead of the
    statistic with the boundary.
    """
    alpha = check_alpha(alpha)
    if alternative not in ("greater", "less"):
        raise ValueError(f"`alternative` must be 'greater' or 'less', got {alternative!r}")
    arrays = [np.atleast_2d(np.asarray(a, dtype=float)) for a in (x_t, n_t, x_c, n_c)]
    x1, n1, x2, n2 = arrays if alternative == "greater" else arrays[2:] + arrays[:2]
    t = np.asarray(times, dtype=float)
    tol = np.broadcast_to(np.asarray(tolerance, dtype=float), x1.shape[1:])
    info = np.where((n1 > 0) & (n2 > 0), n1 * n2 / np.maximum(n1 + n2, 1.0), 0.0)
    taken = _taken(info, t)
    c = _boundaries(info, taken, t, alpha)
    z = score_statistic(x1, n1, x2, n2, tol, skew=True)
    tiny = taken & tiny_arms(x1, n1, x2, n2)
    normal = taken & ~tiny
    worse, not_worse = normal & (z >= c), normal & (-z >= c)
    level = special.ndtr(-c)
    cells = tiny if detail else tiny & (level > gamma) & (np.abs(z) > 0)
    pw, pn = _exact_p(x1, n1, x2, n2, score_statistic(x1, n1, x2, n2, tol), tol, cells, gamma)
    worse |= cells & (pw <= level)
    not_worse |= cells & (pn <= level)
    pw, pn = np.where(normal, special.ndtr(-z), pw), np.where(normal, special.ndtr(z), pn)
    fw, fn = _first(worse), _first(not_worse)
    k = np.arange(x1.shape[0])[:, None]
    if detail:
        lower, upper = score_bound(x1, n1, x2, n2, c, skew=True), -score_bound(x2, n2, x1, n1, c, skew=True)
    else:
        lower = upper = np.full(x1.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        harm = np.where((n1 > 0) & (n2 > 0), x1 / np.maximum(n1, 1) - x2 / np.maximum(n2, 1), np.nan)
    return NoninferiorityLooks(
        harm=harm, statistic=_carry(z, taken), boundary=_carry(c, taken), level=_carry(level, taken),
        lower=_carry(lower, taken), upper=_carry(upper, taken), p_worse=_carry(pw, taken), p_not_worse=_carry(pn, taken),
        exact=_carry(tiny.astype(float), taken) == 1.0, taken=taken,
        worse=(k >= fw) & (fw < fn), not_worse=(k >= fn) & (fn < fw))
