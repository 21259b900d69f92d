"""Always-valid comparison of two proportions: a one-sided mixture SPRT, and exact confidence sequences.

The rollout gate (:mod:`analysis.prevention.gate`) checks a canary against control at every look; a fixed-sample
test checked that often rejects a true null far more often than its level. The mixture sequential
probability ratio test (mSPRT) of Johari, Koomen, Pekelis & Walsh (2017, "Peeking at A/B tests";
2022, "Always valid inference", Operations Research 70(3)) keeps its type-I error at ``alpha`` however
often, and whenever, it is looked at: its likelihood ratio is a (super)martingale under the null, and
Ville's inequality bounds the chance that it ever crosses ``1/alpha``.

The harm :math:`\\theta` is the difference of the two rates in the bad direction
(``alternative="greater"``: :math:`p_T - p_C`; ``"less"``: :math:`p_C - p_T`), estimated by
:math:`\\hat\\theta` with variance :math:`V = \\tilde p_T(1-\\tilde p_T)/n_T + \\tilde p_C(1-\\tilde p_C)/n_C`.
For the null :math:`H_0: \\theta \\le \\theta_0` against :math:`\\theta > \\theta_0`, the likelihood
ratio of the normal approximation mixed over a half-normal :math:`\\theta - \\theta_0 \\sim |N(0, \\tau^2)|` is

.. math:: \\Lambda = 2\\sqrt{\\frac{V}{V+\\tau^2}}\\; e^{b^2/2}\\,\\Phi(b), \\qquad
          b = \\frac{(\\hat\\theta - \\theta_0)\\,\\tau}{\\sqrt{V(V+\\tau^2)}}.

Inverting it gives a one-sided confidence sequence: the lower bound :math:`L_n` with
:math:`P(\\exists n: \\theta < L_n) \\le \\alpha`, and the mirror-image upper bound :math:`U_n`.

Assumptions: independent requests with one rate per arm (no drift within the canary); counts large
enough for the normal approximation (the plug-in variance uses Laplace-smoothed rates
:math:`\\tilde p = (x+1)/(n+2)`, so a rate of exactly 0 or 1 in a small arm does not give a zero
variance); a treatment share that may change over time but not in response to the outcomes.

:func:`exact_harm_bounds` needs no normal approximation: each arm's rate gets Robbins' beta-binomial
mixture confidence sequence (exact for any rate, including rates near 0 or 1 and arms of a few
events), and the harm is bounded by combining them with a union bound. It is the gate's default: the
refusal case's tiers have rates of 0.99 and 0.006 and a 5% canary of a few dozen high-risk requests,
where the normal approximation does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from analysis._common import check_alpha

__all__ = ["DIRECTIONS", "MixtureSPRT", "mixture_sprt", "harm_and_variance", "log_mixture_lr", "mixture_radius",
           "log_beta_binomial_martingale", "beta_binomial_cs", "HarmBounds", "exact_harm_bounds"]

DIRECTIONS = ("greater", "less")
_LOG2 = float(np.log(2.0))


def _check_tau(tau: float) -> float:
    if not isinstance(tau, (int, float, np.floating)) or not float(tau) > 0 or not np.isfinite(tau):
        raise ValueError(f"`tau` (the mixing scale of the harm) must be a positive number, got {tau!r}")
    return float(tau)


def check_alternative(alternative: str) -> int:
    if alternative not in DIRECTIONS:
        raise ValueError(f"`alternative` must be 'greater' (a rise is bad) or 'less' (a drop is bad), got {alternative!r}")
    return 1 if alternative == "greater" else -1


def harm_and_variance(x_t: ArrayLike, n_t: ArrayLike, x_c: ArrayLike, n_c: ArrayLike,
                      alternative: str = "greater") -> tuple[np.ndarray, np.ndarray]:
    """The harm estimate and its plug-in variance from the counts of the two arms.

    Parameters
    ----------
    x_t, n_t, x_c, n_c
        Events with the outcome (``x``) and labelled events (``n``) in treatment and control
        (broadcast together).
    alternative
        ``"greater"``: the harm is :math:`\\hat p_T - \\hat p_C`; ``"less"``: :math:`\\hat p_C - \\hat p_T`.

    Returns
    -------
    (harm, variance)
        NaN where an arm has no events. The variance uses :math:`\\tilde p = (x+1)/(n+2)`.
    """
    sign = check_alternative(alternative)
    x_t, n_t, x_c, n_c = (np.asarray(a, dtype=float) for a in (x_t, n_t, x_c, n_c))
    if np.any((x_t < 0) | (x_c < 0) | (x_t > n_t) | (x_c > n_c)):
        raise ValueError("counts must satisfy 0 <= x <= n in both arms")
    with np.errstate(invalid="ignore", divide="ignore"):
        harm = sign * (x_t / n_t - x_c / n_c)
        pt, pc = (x_t + 1) / (n_t + 2), (x_c + 1) / (n_c + 2)
        var = pt * (1 - pt) / n_t + pc * (1 - pc) / n_c
    empty = (n_t <= 0) | (n_c <= 0)
    return np.where(empty, np.nan, harm), np.where(empty, np.nan, var)


def log_mixture_lr(harm: ArrayLike, variance: ArrayLike, theta0: ArrayLike, tau: float) -> np.ndarray:
    """Log of the half-normal mixture likelihood ratio for :math:`H_0: \\theta \\le \\theta_0`.

    ``log 2 + 0.5 log(V/(V+tau^2)) + b^2/2 + log Phi(b)`` (see the module docstring); NaN where the
    variance is NaN. For :math:`H_0: \\theta \\ge \\theta_0` pass ``-harm`` and ``-theta0``.
    """
    tau = _check_tau(tau)
    d, v, t0 = (np.asarray(a, dtype=float) for a in (harm, variance, theta0))
    t2 = tau * tau
    with np.errstate(invalid="ignore", divide="ignore"):
        b = (d - t0) * tau / np.sqrt(v * (v + t2))
        return _LOG2 + 0.5 * np.log(v / (v + t2)) + 0.5 * b * b + special.log_ndtr(b)


def _solve_b(c: np.ndarray, iterations: int = 80) -> np.ndarray:
    """The ``b >= 0`` with ``b^2/2 + log Phi(b) = c`` (``c > 0``), by bisection (vectorised).

    ``b^2/2 + log Phi(b)`` increases with ``b`` and lies in ``[b^2/2 - log 2, b^2/2]`` for ``b >= 0``,
    so the root lies in ``[sqrt(2c), sqrt(2(c + log 2))]``.
    """
    lo, hi = np.sqrt(2 * c), np.sqrt(2 * (c + _LOG2))
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        above = 0.5 * mid * mid + special.log_ndtr(mid) > c
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return 0.5 * (lo + hi)


def mixture_radius(variance: ArrayLike, tau: float, alpha: float) -> np.ndarray:
    """Half-width ``r`` of the one-sided confidence sequence: ``L = harm - r``, ``U = harm + r``.

    ``r`` is the distance :math:`\\hat\\theta - \\theta_0` at which :func:`log_mixture_lr` equals
    ``log(1/alpha)``; NaN where the variance is NaN.
    """
    tau = _check_tau(tau)
    alpha = check_alpha(alpha)
    if alpha >= 0.5:
        raise ValueError(f"`alpha` must be below 0.5 for a one-sided confidence sequence, got {alpha!r}")
    v = np.asarray(variance, dtype=float)
    t2 = tau * tau
    ok = np.isfinite(v) & (v > 0)
    vv = np.where(ok, v, 1.0)
    c = np.log(1 / alpha) - _LOG2 + 0.5 * np.log1p(t2 / vv)
    r = _solve_b(c) * np.sqrt(vv * (vv + t2)) / tau
    return np.where(ok, r, np.nan)


@dataclass(frozen=True)
class MixtureSPRT:
    """The always-valid test at each look (arrays shaped like the counts, looks along axis 0).

    Attributes
    ----------
    harm, variance
        :func:`harm_and_variance`.
    lower, upper
        The one-sided confidence sequence of the harm, each at level ``alpha``.
    log_lr_worse, log_lr_not_worse
        Log mixture likelihood ratios for ``H0: harm <= tolerance`` (evidence that the treatment
        is worse beyond the tolerance) and ``H0: harm >= tolerance`` (evidence that it is not).
    p_worse, p_not_worse
        Always-valid p-values: ``min(1, 1/LR)`` running-minimised over the looks so far.
    worse, not_worse
        ``lower > tolerance`` (i.e. ``p_worse <= alpha``), ``upper < tolerance``, at that look.
    """

    harm: np.ndarray
    variance: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    log_lr_worse: np.ndarray
    log_lr_not_worse: np.ndarray
    p_worse: np.ndarray
    p_not_worse: np.ndarray
    worse: np.ndarray
    not_worse: np.ndarray


def _running_p(log_lr: np.ndarray) -> np.ndarray:
    p = np.exp(-np.where(np.isnan(log_lr), -np.inf, np.maximum(log_lr, 0.0)))
    return np.minimum.accumulate(p, axis=0) if p.ndim else p


def mixture_sprt(x_t: ArrayLike, n_t: ArrayLike, x_c: ArrayLike, n_c: ArrayLike, *, tolerance: ArrayLike = 0.0,
                 alternative: str = "greater", alpha: float = 0.05, tau: float = 0.1) -> MixtureSPRT:
    """The one-sided mSPRT of harm against ``tolerance``, and its confidence sequence, at every look.

    Parameters
    ----------
    x_t, n_t, x_c, n_c
        Cumulative counts (outcome events, labelled events) of treatment and control; looks along
        axis 0 (a scalar is one look).
    tolerance
        The harm tolerated (same units as the rates; broadcast against the counts' trailing axes).
    alternative
        Which way is bad: ``"greater"`` (treatment's rate above control's) or ``"less"``.
    alpha
        Level of each one-sided test and bound (apply any multiplicity correction before).
    tau
        Scale of the half-normal mixing distribution of the harm beyond the tolerance: the tests
        are most powerful for effects of about this size. Any ``tau`` keeps the error guarantee.

    Returns
    -------
    MixtureSPRT
    """
    alpha = check_alpha(alpha)
    harm, var = harm_and_variance(x_t, n_t, x_c, n_c, alternative)
    tol = np.broadcast_to(np.asarray(tolerance, dtype=float), harm.shape)
    r = mixture_radius(var, tau, alpha)
    lw = log_mixture_lr(harm, var, tol, tau)
    lnw = log_mixture_lr(-harm, var, -tol, tau)
    lower, upper = harm - r, harm + r
    with np.errstate(invalid="ignore"):
        worse, not_worse = lower > tol, upper < tol
    return MixtureSPRT(harm=harm, variance=var, lower=lower, upper=upper, log_lr_worse=lw, log_lr_not_worse=lnw,
                       p_worse=_running_p(lw), p_not_worse=_running_p(lnw), worse=worse, not_worse=not_worse)


# ----------------------------------------------------------------------------------------------
# Exact: a beta-binomial mixture confidence sequence per arm
# ----------------------------------------------------------------------------------------------


def log_beta_binomial_martingale(p: ArrayLike, x: ArrayLike, n: ArrayLike, a: float = 1.0, b: float = 1.0) -> np.ndarray:
    r"""Log of Robbins' beta-binomial mixture martingale for ``H0: rate = p`` after ``x`` events in ``n``.

    .. math:: M_n(p) = \frac{B(a + x, b + n - x)}{B(a, b)\, p^x (1-p)^{n-x}}

    the likelihood ratio of the Beta(a, b) mixture of Bernoulli rates against ``p``: a nonnegative
    martingale with mean 1 under ``p``, so ``P(exists n: M_n(p) >= 1/alpha) <= alpha`` (Ville).
    """
    p, x, n = (np.asarray(v, dtype=float) for v in (p, x, n))
    return (special.betaln(a + x, b + n - x) - special.betaln(a, b)
            - special.xlogy(x, p) - special.xlog1py(n - x, -p))


def beta_binomial_cs(x: ArrayLike, n: ArrayLike, alpha: float, *, a: float = 1.0, b: float = 1.0,
                     iterations: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """The time-uniform confidence sequence ``{p : M_n(p) < 1/alpha}`` of a Bernoulli rate.

    Parameters
    ----------
    x, n
        Cumulative events with the outcome and labelled events (broadcast together).
    alpha
        ``P(the rate is ever outside the interval) <= alpha``, over all looks, with no normal
        approximation (Robbins 1970; Howard, Ramdas, McAuliffe & Sekhon 2021, section 3).
    a, b
        The Beta mixing distribution (default uniform).

    Returns
    -------
    (lower, upper)
        ``(0, 1)`` where ``n == 0``. ``log M_n(p)`` is convex in ``p`` with its minimum at ``x/n``
        (where it is <= 0), so each bound is found by bisection on its side.
    """
    return beta_binomial_cs_levels(x, n, check_alpha(alpha), a=a, b=b, iterations=iterations)


@dataclass(frozen=True)
class HarmBounds:
    """Time-uniform bounds of the harm from the two arms' confidence sequences.

    ``lower``/``upper`` bound the harm; ``rate_*`` are the arms' bounds; ``worse``/``not_worse``:
    ``lower > tolerance`` / ``upper < tolerance``.
    """

    harm: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    treatment_lower: np.ndarray
    treatment_upper: np.ndarray
    control_lower: np.ndarray
    control_upper: np.ndarray
    worse: np.ndarray
    not_worse: np.ndarray


def exact_harm_bounds(x_t: ArrayLike, n_t: ArrayLike, x_c: ArrayLike, n_c: ArrayLike, *, tolerance: ArrayLike = 0.0,
                      alternative: str = "greater", alpha: float = 0.05) -> HarmBounds:
    """Bounds of the harm that hold at every look with probability ``1 - alpha``, without approximation.

    Each arm's rate gets :func:`beta_binomial_cs` at ``alpha / 2``; by the union bound both hold at
    all looks together with probability ``>= 1 - alpha``, and then the harm lies between
    ``lower = L_T - U_C`` and ``upper = U_T - L_C`` (``alternative="greater"``; mirrored for ``"less"``).
    Exact for any rates (including the 0.99 and 0.006 of the refusal case's tiers), but a union of
    two one-arm bounds: for mid-range rates :func:`mixture_sprt` is tighter.
    """
    sign = check_alternative(alternative)
    alpha = check_alpha(alpha)
    x_t, n_t, x_c, n_c = (np.asarray(v, dtype=float) for v in (x_t, n_t, x_c, n_c))
    if np.any((x_t < 0) | (x_c < 0) | (x_t > n_t) | (x_c > n_c)):
        raise ValueError("counts must satisfy 0 <= x <= n in both arms")
    lt, ut = beta_binomial_cs_levels(x_t, n_t, alpha / 2)
    lc, uc = beta_binomial_cs_levels(x_c, n_c, alpha / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        harm = sign * (x_t / n_t - x_c / n_c)
    harm = np.where((n_t > 0) & (n_c > 0), harm, np.nan)
    lower, upper = (lt - uc, ut - lc) if sign > 0 else (lc - ut, uc - lt)
    tol = np.broadcast_to(np.asarray(tolerance, dtype=float), np.shape(harm))
    return HarmBounds(harm=harm, lower=lower, upper=upper, treatment_lower=lt, treatment_upper=ut, control_lower=lc,
                      control_upper=uc, worse=lower > tol, not_worse=upper < tol)


def exact_p_value(x_t: ArrayLike, n_t: ArrayLike, x_c: ArrayLike, n_c: ArrayLike, *, tolerance: ArrayLike = 0.0,
                  alternative: str = "greater", side: str = "worse", iterations: int = 40) -> np.ndarray:
    """The smallest ``alpha`` at which :func:`exact_harm_bounds` says ``worse`` (``side="worse"``) or
    ``not_worse``: an always-valid p-value for ``H0: harm <= tolerance`` (resp. ``>= tolerance``).

    Found by bisection on ``log alpha`` (the bounds narrow as ``alpha`` grows); 1 where even
    ``alpha = 0.999`` does not decide. Not running-minimised (do it over the looks).
    """
    if side not in ("worse", "not_worse"):
        raise ValueError(f"`side` must be 'worse' or 'not_worse', got {side!r}")

    sign = check_alternative(alternative)
    tol = np.asarray(tolerance, dtype=float)

    def decides(alpha: np.ndarray) -> np.ndarray:
        lt, ut = beta_binomial_cs_levels(x_t, n_t, alpha / 2)
        lc, uc = beta_binomial_cs_levels(x_c, n_c, alpha / 2)
        lower, upper = (lt - uc, ut - lc) if sign > 0 else (lc - ut, uc - lt)
        return (lower > tol) if side == "worse" else (upper < tol)

    shape = np.broadcast(*(np.asarray(v) for v in (x_t, n_t, x_c, n_c))).shape
    lo, hi = np.full(shape, np.log(1e-15)), np.full(shape, np.log(0.999))
    top = decides(np.exp(hi))
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        d = decides(np.exp(mid))
        lo, hi = np.where(d, lo, mid), np.where(d, mid, hi)
    return np.where(top, np.exp(hi), 1.0)


def beta_binomial_cs_levels(x: ArrayLike, n: ArrayLike, alpha: ArrayLike, *, a: float = 1.0, b: float = 1.0,
                            iterations: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """:func:`beta_binomial_cs` with one ``alpha`` per cell (an array broadcast with the counts)."""
    x, n, al = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(n, dtype=float), np.asarray(alpha, dtype=float))
    c = np.log(1 / al)
    ph = np.where(n > 0, x / np.where(n > 0, n, 1), 0.5)
    lo, hi = np.zeros_like(ph), ph.copy()
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        out = log_beta_binomial_martingale(mid, x, n, a, b) >= c
        lo, hi = np.where(out, mid, lo), np.where(out, hi, mid)
    lower = np.where((n > 0) & (x > 0), lo, 0.0)
    lo, hi = ph.copy(), np.ones_like(ph)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        out = log_beta_binomial_martingale(mid, x, n, a, b) >= c
        lo, hi = np.where(out, lo, mid), np.where(out, mid, hi)
    upper = np.where((n > 0) & (x < n), hi, 1.0)
    return lower, upper
