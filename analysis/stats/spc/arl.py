"""Chart design: average run lengths (Brook-Evans Markov chains) and the limits that give a wanted
in-control ARL0.
"""

from __future__ import annotations

import math
import functools
import warnings
from typing import Callable, Sequence

import numpy as np
from scipy import linalg, optimize, sparse, special, stats
from scipy.sparse.linalg import spsolve
from threadpoolctl import threadpool_limits

from analysis.stats.spc.checks import (
    check_arl0,
    check_bool,
    check_finite,
    check_lam,
    check_nonnegative,
    check_open_unit,
    check_positive,
    check_rates,
)
from analysis.stats.spc.cusum import llr_steps

__all__ = [
    "cusum_arl",
    "cusum_h_for_arl",
    "ewma_arl",
    "ewma_L_for_arl",
    "bernoulli_cusum_arl",
    "bernoulli_cusum_h_for_arl",
    "rate_cusum_arl0_approx",
    "binomial_cusum_arl",
    "binomial_cusum_h_for_arl",
]


# Brook-Evans states per chain; the ARL is Richardson-extrapolated from m and 2m states. Checked
# against a Gauss-Legendre (Nystrom) solution of the ARL integral equation: relative error < 1e-5
# for k in [0, 1], h in [0.5, 12], shifts in [-1, 3], ARL < 1e8.
_BE_STATES = 100


def _cusum_arl_one_sided(k: float, h: float, shift: float, m: int) -> float:
    """Brook-Evans Markov chain: ARL of ``S = max(0, S + X - k)``, ``X ~ N(shift, 1)``, from S = 0."""
    w = 2.0 * h / (2 * m - 1)
    centre = np.arange(m) * w
    upper_edge = (np.arange(m) + 0.5) * w  # last edge is h: beyond it the chain is absorbed
    cdf = special.ndtr(upper_edge[None, :] - centre[:, None] + k - shift)
    p = np.diff(cdf, axis=1, prepend=0.0)
    arl = linalg.solve(np.eye(m) - p, np.ones(m), check_finite=False)
    return float(arl[0])


def _richardson(fn: Callable[[int], float], m: int) -> float:
    # the midpoint discretisation error of these chains falls as 1/m^2
    return (4.0 * fn(2 * m) - fn(m)) / 3.0


def cusum_arl(k: float, h: float, shift: float = 0.0, *, two_sided: bool = True) -> float:
    """Zero-state average run length of a tabular CUSUM on N(shift, 1) data.

    Parameters
    ----------
    k, h
        Reference value and decision interval in sigma units (as in :func:`tabular_cusum`).
    shift
        True mean minus target, in sigma units (0 gives the in-control ARL0).
    two_sided
        ARL of the two-sided chart (both ``C+`` and ``C-``); False gives the upper one-sided chart
        (use a negative ``shift`` for the lower one).

    Notes
    -----
    One-sided ARLs come from the Brook-Evans Markov chain: ``[0, h]`` is cut into ``m`` states of
    width :math:`w = 2h/(2m-1)` (state 0 holds the atom at zero), transitions are normal
    probabilities, and :math:`\\mathrm{ARL} = [(I - P)^{-1}\\mathbf 1]_0`. The result is
    Richardson-extrapolated from 100 and 200 states (relative error below 1e-5 for ARLs under
    1e8). Two sides are combined by :math:`1/\\mathrm{ARL} = 1/\\mathrm{ARL}^+ + 1/\\mathrm{ARL}^-`
    (Montgomery, eq. 9.9), which is what Montgomery's Table 9.3 lists: k = 0.5, h = 5 gives 465
    in control (one side: 931) and 10.4 at a 1-sigma shift.

    References
    ----------
    Brook, D. and Evans, D. A. (1972). An approach to the probability distribution of CUSUM run
    length. Biometrika 59(3), 539-549.
    Montgomery, D. C. Introduction to Statistical Quality Control, section 9.1.4 and Table 9.3.
    """
    k = check_nonnegative("k", k)
    h = check_positive("h", h)
    shift = check_finite("shift", shift)
    two_sided = check_bool("two_sided", two_sided)

    def one(s: float) -> float:
        with warnings.catch_warnings():
            # (I - P) is near-singular when the ARL is astronomically long (the far side of a
            # shift); such a side adds nothing to the two-sided ARL
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            arl = _richardson(lambda m: _cusum_arl_one_sided(k, h, s, m), _BE_STATES)
        return arl if np.isfinite(arl) and 1.0 <= arl < 1e15 else np.inf

    up = one(shift)
    if not two_sided:
        return up
    return 1.0 / (1.0 / up + 1.0 / one(-shift))


def _solve_increasing(f: Callable[[float], float], target: float, lo: float, hi: float) -> float:
    """Root of an increasing ``f(x) = target`` on a log scale, growing ``hi`` until bracketed."""
    g = lambda v: np.log(f(v)) - np.log(target)  # noqa: E731
    # one BLAS thread: the chains' solves are small, and more threads only contend for the cores
    with threadpool_limits(limits=1, user_api="blas"):
        while g(hi) < 0:
            lo, hi = hi, 2 * hi
            if hi > 1e4:
                raise ValueError(f"cannot reach an in-control ARL of {target!r}")
        return float(optimize.brentq(g, lo, hi, xtol=1e-7, rtol=1e-10))


def cusum_h_for_arl(arl0: float, *, k: float = 0.5, two_sided: bool = True) -> float:
    """Decision interval ``h`` (sigma units) giving a tabular CUSUM the in-control ARL ``arl0``.

    ``arl0`` is the wanted mean number of in-control points between false alarms: with hourly
    windows and one false alarm a month, ``arl0 = 720``. Solves ``cusum_arl(k, h) = arl0``.

    Examples
    --------
    >>> round(cusum_h_for_arl(465.4, k=0.5), 2)  # Montgomery's h = 5
    5.0
    """
    return _cusum_h(check_arl0(arl0), check_nonnegative("k", k), check_bool("two_sided", two_sided))


@functools.lru_cache(maxsize=256)
def _cusum_h(arl0: float, k: float, two_sided: bool) -> float:
    # a pure function of its scalars: the replay and the export share one root search
    return _solve_increasing(lambda h: cusum_arl(k, h, two_sided=two_sided), arl0, 1e-3, 1.0)


_EWMA_STATES = 100  # per half-width; Richardson from 2*100+1 and 2*200+1 states


def _ewma_arl_chain(lam: float, L: float, shift: float, m: int) -> float:
    """Brook-Evans chain of the standardised EWMA between asymptotic limits, from z = 0."""
    u = L * np.sqrt(lam / (2.0 - lam))
    size = 2 * m + 1
    edges = np.linspace(-u, u, size + 1)
    centre = 0.5 * (edges[:-1] + edges[1:])
    cdf = special.ndtr((edges[None, :] - (1.0 - lam) * centre[:, None]) / lam - shift)
    p = np.diff(cdf, axis=1)
    arl = linalg.solve(np.eye(size) - p, np.ones(size), check_finite=False)
    return float(arl[m])


def ewma_arl(lam: float, L: float, shift: float = 0.0) -> float:
    """Zero-state ARL of a two-sided EWMA chart with asymptotic limits on N(shift, 1) data.

    Notes
    -----
    The Markov-chain approximation of Lucas and Saccucci (1990): the interval between the limits
    :math:`\\pm L\\sqrt{\\lambda/(2-\\lambda)}` is cut into :math:`2m+1` states, the EWMA moves
    from state centre :math:`c_i` to :math:`(1-\\lambda)c_i + \\lambda X`, and
    :math:`\\mathrm{ARL} = [(I-P)^{-1}\\mathbf 1]_{\\text{middle}}`; Richardson-extrapolated from
    :math:`m` = 100 and 200. Reproduces Montgomery's Table 9.11 (from Lucas and Saccucci): e.g.
    ``lam = 0.1, L = 2.814`` gives 500 in control and 10.3 at a 1-sigma shift. Exact
    (time-varying) limits shorten the in-control ARL slightly, through the first few points only.

    References
    ----------
    Lucas, J. M. and Saccucci, M. S. (1990). Exponentially weighted moving average control
    schemes: properties and enhancements. Technometrics 32(1), 1-12.
    """
    lam = check_lam(lam)
    L = check_positive("L", L)
    shift = check_finite("shift", shift)
    if lam == 1.0:  # Shewhart chart: geometric run length
        p = stats.norm.sf(L - shift) + stats.norm.cdf(-L - shift)
        return float(1.0 / p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        return _richardson(lambda m: _ewma_arl_chain(lam, L, shift, m), _EWMA_STATES)


def ewma_L_for_arl(arl0: float, *, lam: float = 0.2) -> float:
    """Limit width ``L`` giving an EWMA chart (asymptotic limits) the in-control ARL ``arl0``.

    Examples
    --------
    >>> round(ewma_L_for_arl(500, lam=0.1), 3)  # Lucas and Saccucci: L = 2.814
    2.814
    """
    return _ewma_L(check_arl0(arl0), check_lam(lam))


@functools.lru_cache(maxsize=256)
def _ewma_L(arl0: float, lam: float) -> float:
    return _solve_increasing(lambda L: ewma_arl(lam, L), arl0, 0.05, 2.0)


_BERNOULLI_STATES = 4000


def bernoulli_cusum_arl(h: float, *, p0: float, p1: float, p: float | None = None) -> float:
    """Zero-state ARL (in events) of a Bernoulli CUSUM when the true rate is ``p`` (default ``p0``).

    Notes
    -----
    A Markov chain on a lattice of step :math:`\\delta = h/M` (:math:`M` >= 4000 states, more when
    the small log-likelihood step would span fewer than 20 lattice steps). Each of the two
    increments is split between its two neighbouring lattice points with probabilities that keep
    its mean exact, so the chain's drift equals the chart's, which is what its ARL is most
    sensitive to. The linear system :math:`(I - Q)\\,\\mathrm{ARL} = \\mathbf 1` is sparse. The
    chart itself moves on increments that are not multiples of a common step, so its ARL is a
    step function of ``h``; the lattice gives the smooth interpolation of it. Agreement with seeded
    simulation is checked in the tests (within 2%).

    References
    ----------
    Reynolds, M. R. Jr. and Stoumbos, Z. G. (1999). A CUSUM chart for monitoring a proportion when
    inspecting continuously. Journal of Quality Technology 31(1), 87-108 (Markov-chain ARLs on a
    lattice).
    """
    p0, p1 = check_rates(p0, p1)
    h = check_positive("h", h)
    p = p0 if p is None else check_open_unit("p", p)
    a, b = llr_steps(p0, p1)
    m = int(min(200_000, max(_BERNOULLI_STATES, np.ceil(20 * h / min(abs(a), abs(b))))))
    delta = h / m
    size = m + 1  # states 0..m (value m*delta = h is still in control: signal needs > h)
    s = np.arange(size)
    rows, cols, vals = [s], [s], [np.ones(size)]
    for inc, prob in ((a, p), (b, 1.0 - p)):
        u = inc / delta
        low = np.floor(u)
        frac = u - low
        for step, q in ((low, prob * (1.0 - frac)), (low + 1.0, prob * frac)):
            if q <= 0.0:
                continue
            dest = np.maximum(s + int(step), 0)
            keep = dest <= m
            rows.append(s[keep])
            cols.append(dest[keep])
            vals.append(np.full(int(keep.sum()), -q))
    mat = sparse.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(size, size)
    )
    return float(spsolve(mat, np.ones(size))[0])


def bernoulli_cusum_h_for_arl(arl0: float, *, p0: float, p1: float) -> float:
    """Decision limit ``h`` giving a Bernoulli CUSUM the in-control ARL ``arl0`` (in events).

    Solves ``bernoulli_cusum_arl(h, p0=p0, p1=p1) = arl0`` on the exact lattice chain; the root
    search starts from the bracket that :func:`rate_cusum_arl0_approx` gives, and the result is
    cached (a pure function of ``arl0, p0, p1``).
    """
    arl0 = check_arl0(arl0)
    p0, p1 = check_rates(p0, p1)
    return _bernoulli_h(arl0, p0, p1)


@functools.lru_cache(maxsize=256)
def _bernoulli_h(arl0: float, p0: float, p1: float) -> float:
    return _solve_from_approx(lambda h: bernoulli_cusum_arl(h, p0=p0, p1=p1), arl0, p0, p1, 1.0)


def rate_cusum_arl0_approx(h: float, *, p0: float, p1: float, mean_n: float = 1.0) -> float:
    r"""Siegmund's corrected approximation of a rate CUSUM's in-control ARL (in windows of ``mean_n`` events).

    Parameters
    ----------
    h
        Decision limit of the log-likelihood-ratio CUSUM (:func:`analysis.stats.spc.binomial_cusum`).
    p0, p1
        In-control rate and the rate the chart is tuned to.
    mean_n
        Mean number of events per window (1: the Bernoulli chart, ARL in events).

    Notes
    -----
    The increments are log-likelihood ratios, so under ``p0`` :math:`E[e^{X}] = 1` exactly (the
    adjustment coefficient is 1) and Wald's approximation, with Siegmund's correction of the
    limit for the overshoot, reads

    .. math:: \mathrm{ARL}_0 \approx \frac{e^{b} - b - 1}{\bar n\,\mathrm{KL}(p_0\|p_1)},
              \qquad b = h + \max(a/2,\ 1.166\,\sigma_w),

    with :math:`a` the upward step of one event (its overshoot is about half a step, the
    Bernoulli case of Reynolds and Stoumbos, 1999) and :math:`\sigma_w = \sqrt{\bar n p_0(1-p_0)}\,|\ln\frac{p_1(1-p_0)}{p_0(1-p_1)}|`
    the standard deviation of a window's increment (Siegmund's :math:`\rho = 0.583\sigma` at each
    boundary for near-normal increments). Against the exact Markov chains
    (:func:`bernoulli_cusum_arl`, :func:`binomial_cusum_arl`), for ARLs from 100 to 1e7 on the
    tests' grid: within a factor 4 (median 15%) when a window holds at most 3 requests or at
    least 5 expected rare outcomes; between those (tens of requests, under one rare outcome a
    window: a rare large jump against a steep drift, the chart restarts almost every window) it
    is up to 40 times too short. The kit therefore uses it only to start the exact root search,
    where its error costs a few more exact evaluations, never accuracy.

    References
    ----------
    Siegmund, D. (1985). Sequential Analysis: Tests and Confidence Intervals. Springer, ch. X.
    Reynolds, M. R. Jr. and Stoumbos, Z. G. (1999). A CUSUM chart for monitoring a proportion when
    inspecting continuously. Journal of Quality Technology 31(1), 87-108.
    """
    p0, p1 = check_rates(p0, p1)
    h = check_nonnegative("h", h)
    mean_n = check_positive("mean_n", mean_n)
    a, b = llr_steps(p0, p1)
    kl = -(p0 * a + (1.0 - p0) * b)
    sigma = np.sqrt(mean_n * p0 * (1.0 - p0)) * abs(a - b)
    x = h + max(max(a, b) / 2.0, 1.166 * sigma)
    return float(np.expm1(x) - x) / (mean_n * kl)


def _solve_from_approx(arl: Callable[[float], float], target: float, p0: float, p1: float, mean_n: float,
                       xtol: float = 1e-6) -> float:
    """Root of the exact ``arl(h) = target``, from the approximation's root.

    The exact log-ARL grows with slope about 1 in ``h`` (:func:`rate_cusum_arl0_approx`), so one
    exact evaluation at the approximate root ``h0`` gives the other end of the bracket,
    ``h0 - 1.25 g(h0)`` with ``g = log ARL - log target``; Brent's method then needs a few more.
    """
    g_approx = lambda h: np.log(rate_cusum_arl0_approx(h, p0=p0, p1=p1, mean_n=mean_n)) - np.log(target)  # noqa: E731
    hi = 1.0
    while g_approx(hi) < 0 and hi < 1e4:
        hi *= 2
    h0 = float(optimize.brentq(g_approx, 0.0, hi, xtol=1e-4)) if g_approx(0.0) < 0 < g_approx(hi) else hi / 2
    seen: dict[float, float] = {}

    def g(h: float) -> float:
        if h not in seen:  # an ARL too long to compute counts as 1e300 windows: the root search stays finite
            seen[h] = float(np.log(min(arl(h), 1e300)) - np.log(target))
        return seen[h]

    with threadpool_limits(limits=1, user_api="blas"):
        return _brent_from(g, max(h0, 1e-3), target, xtol)


def _brent_from(g: Callable[[float], float], h0: float, target: float, xtol: float) -> float:
    """Bracket the root of the increasing ``g`` from ``h0`` by its slope-1 step, widening until it does; then Brent."""
    g0 = g(h0)
    if g0 == 0.0:
        return h0
    step = 1.25 * abs(g0) + 0.05
    other = h0 - step if g0 > 0 else h0 + step
    while other > 1e-3 and g(max(other, 1e-3)) * g0 > 0:
        other = other - step if g0 > 0 else other + step
        if other > 1e4:
            raise ValueError(f"cannot reach an in-control ARL of {target!r}")
    other = max(other, 1e-3)
    if g(other) * g0 > 0:
        return other  # even the smallest limit alarms less often than wanted
    lo, hi = min(h0, other), max(h0, other)
    return float(optimize.brentq(g, lo, hi, xtol=xtol, rtol=1e-8))


#: Lattice states of the window chain (:func:`binomial_cusum_arl`).
_BINOMIAL_STATES = 400


def _window_increments(h: float, p0: float, p1: float, n: np.ndarray, w: np.ndarray, p: float, m: int) -> tuple[np.ndarray, int]:
    """The window increment's distribution on the lattice of step ``h/m``: its pmf and lowest offset."""
    a, b = llr_steps(p0, p1)
    delta = h / m
    offs, probs = [], []
    for size, weight in zip(n, w):
        f = np.arange(int(size) + 1)
        pf = stats.binom.pmf(f, int(size), p) * weight
        keep = pf > 1e-15 * weight
        u = (f[keep] * a + (size - f[keep]) * b) / delta
        low = np.floor(u)
        frac = u - low
        # split between the two neighbouring lattice points, keeping the mean exact
        offs += [low, low + 1.0]
        probs += [pf[keep] * (1.0 - frac), pf[keep] * frac]
    # a move below -m ends at the atom from every state, one beyond m + 1 is absorbed from every state
    o = np.clip(np.concatenate(offs), -m - 1, m + 2).astype(np.int64)
    lowest = int(o.min())
    return np.bincount(o - lowest, weights=np.concatenate(probs)), lowest


def binomial_cusum_arl(h: float, *, p0: float, p1: float, n: Sequence[float], weights: Sequence[float] | None = None,
                       p: float | None = None) -> float:
    r"""Zero-state ARL (in windows) of a binomial CUSUM whose windows hold ``n`` events.

    Parameters
    ----------
    h, p0, p1
        As in :func:`analysis.stats.spc.binomial_cusum`.
    n
        Window sizes (positive integers): each window's size is drawn from them, with ``weights``
        (default equal), e.g. 16 quantiles of the baseline's window sizes.
    p
        True failure rate (default ``p0``: the in-control ARL).

    Notes
    -----
    A window adds :math:`X = f\ln(p_1/p_0) + (n - f)\ln((1-p_1)/(1-p_0))` with
    :math:`f \sim \mathrm{Binomial}(n, p)`. The chain lives on the lattice :math:`\{0, \delta, \dots, h\}`,
    :math:`\delta = h/400`; each increment is split between its two neighbouring lattice points
    with the probabilities that keep its mean, so the chain's drift is the chart's. Moves at or
    below zero go to the atom at zero; beyond ``h`` the chain is absorbed, and
    :math:`\mathrm{ARL} = [(I - Q)^{-1}\mathbf 1]_0`. Agreement with seeded simulation is
    checked in the tests.
    """
    p0, p1 = check_rates(p0, p1)
    h = check_positive("h", h)
    p = p0 if p is None else check_open_unit("p", p)
    sizes, w = _sizes(n, weights)
    pmf, lowest = _window_increments(h, p0, p1, sizes, w, p, _BINOMIAL_STATES)
    size = _BINOMIAL_STATES + 1
    cdf = np.cumsum(pmf)
    i = np.arange(size)
    d = i[None, :] - i[:, None] - lowest  # offset index of a move from state i to state j
    q = np.where((d >= 0) & (d < pmf.size), pmf[np.clip(d, 0, pmf.size - 1)], 0.0)
    d0 = -i - lowest  # every move at or below zero ends at the atom
    q[:, 0] = np.where(d0 >= pmf.size, 1.0, np.where(d0 >= 0, cdf[np.clip(d0, 0, pmf.size - 1)], 0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        try:
            arl = linalg.solve(np.eye(size) - q, np.ones(size), check_finite=False)
        except linalg.LinAlgError:
            # no state reaches h with a probability above the pmf's cut (1e-15): windows so large that
            # the drift below zero is many standard deviations, the chain is never absorbed
            return math.inf
    a0 = float(arl[0])
    return a0 if np.isfinite(a0) and a0 > 0 else math.inf


def _sizes(n: Sequence[float], weights: Sequence[float] | None) -> tuple[np.ndarray, np.ndarray]:
    sizes = np.asarray(n, dtype=float).ravel()
    if sizes.size == 0 or not np.all(np.isfinite(sizes)) or np.any(sizes < 1) or np.any(sizes != np.round(sizes)):
        raise ValueError(f"`n` must be positive whole window sizes, got {list(sizes)[:5]!r}")
    w = np.ones(sizes.size) if weights is None else np.asarray(weights, dtype=float).ravel()
    if w.shape != sizes.shape or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"`weights` must be {sizes.size} non-negative numbers with a positive sum, got {list(w)[:5]!r}")
    return sizes, w / w.sum()


def binomial_cusum_h_for_arl(arl0: float, *, p0: float, p1: float, n: Sequence[float],
                             weights: Sequence[float] | None = None) -> float:
    """Decision limit ``h`` giving a binomial CUSUM on windows of ``n`` events the in-control ARL ``arl0`` (in windows).

    Solves ``binomial_cusum_arl(h, ...) = arl0`` on the exact chain, from the bracket of
    :func:`rate_cusum_arl0_approx`; cached on its arguments (a chart designed for the replay is
    not designed again for the export).
    """
    arl0 = check_arl0(arl0)
    p0, p1 = check_rates(p0, p1)
    sizes, w = _sizes(n, weights)
    return _binomial_h(arl0, p0, p1, tuple(sizes.tolist()), tuple(w.tolist()))


@functools.lru_cache(maxsize=256)
def _binomial_h(arl0: float, p0: float, p1: float, sizes: tuple[float, ...], w: tuple[float, ...]) -> float:
    mean_n = float(np.dot(sizes, w))
    # h to 1e-4: the ARL to about 0.01%, far inside the uncertainty of a baseline's rate
    return _solve_from_approx(lambda h: binomial_cusum_arl(h, p0=p0, p1=p1, n=sizes, weights=w), arl0, p0, p1, mean_n, xtol=1e-4)
