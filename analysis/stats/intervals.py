"""Confidence intervals for rates: Wilson score for one proportion, Newcombe for a difference.

Rates (refusal, escalation, hallucination) are the first-class metrics of the kit; both functions
are vectorised so that per-window, per-segment tables get their intervals in one call.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from analysis._common import check_alpha as _check_alpha

__all__ = ["wilson_interval", "newcombe_interval"]


def wilson_interval(successes: ArrayLike, n: ArrayLike, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion.

    Parameters
    ----------
    successes, n
        Counts (broadcast together). Where ``n == 0`` the interval is ``(nan, nan)``: an empty
        window has no rate, not a rate of zero.
    alpha
        One minus the coverage.

    Returns
    -------
    (low, high)
        Arrays (0-d for scalar input).

    Notes
    -----
    With :math:`\\hat p = x/n` and :math:`z = \\Phi^{-1}(1-\\alpha/2)`:

    .. math:: \\frac{\\hat p + z^2/2n \\pm z\\sqrt{\\hat p(1-\\hat p)/n + z^2/4n^2}}{1 + z^2/n}

    References
    ----------
    Wilson, E. B. (1927). Probable inference, the law of succession, and statistical inference.
    JASA 22(158), 209-212. Same as ``statsmodels.stats.proportion.proportion_confint(method="wilson")``.
    """
    _check_alpha(alpha)
    x = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    z = stats.norm.isf(alpha / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return low, high


def newcombe_interval(
    successes_a: ArrayLike, n_a: ArrayLike, successes_b: ArrayLike, n_b: ArrayLike, alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval for the difference of two proportions ``p_b - p_a``.

    Notes
    -----
    With Wilson limits :math:`(l_a, u_a)`, :math:`(l_b, u_b)` and :math:`d = \\hat p_b - \\hat p_a`:

    .. math:: d - \\sqrt{(\\hat p_b - l_b)^2 + (u_a - \\hat p_a)^2},\\quad
              d + \\sqrt{(u_b - \\hat p_b)^2 + (\\hat p_a - l_a)^2}

    References
    ----------
    Newcombe, R. G. (1998). Interval estimation for the difference between independent proportions:
    comparison of eleven methods. Statistics in Medicine 17, 873-890 (method 10).
    """
    xa, na = np.asarray(successes_a, float), np.asarray(n_a, float)
    xb, nb = np.asarray(successes_b, float), np.asarray(n_b, float)
    la, ua = wilson_interval(xa, na, alpha)
    lb, ub = wilson_interval(xb, nb, alpha)
    with np.errstate(invalid="ignore", divide="ignore"):
        pa, pb = xa / na, xb / nb
    d = pb - pa
    low = d - np.sqrt((pb - lb) ** 2 + (ua - pa) ** 2)
    high = d + np.sqrt((ub - pb) ** 2 + (pa - la) ** 2)
    return low, high
