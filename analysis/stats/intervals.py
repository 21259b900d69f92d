"""Confidence intervals for rates: Wilson score and Clopper-Pearson for one proportion, Newcombe
for a difference.

Rates (refusal, escalation, hallucination) are the first-class metrics of the kit; the functions
are vectorised so that per-window, per-segment tables get their intervals in one call. statsmodels
computes them; these wrappers give an empty window (``n == 0``) the interval ``(nan, nan)``
without warnings, and always return arrays.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from analysis._common import check_alpha

__all__ = ["wilson_interval", "newcombe_interval", "clopper_pearson"]


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
    JASA 22(158), 209-212. Computed by ``statsmodels.stats.proportion.proportion_confint(method="wilson")``.
    """
    check_alpha(alpha)
    x = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        lo, hi = proportion_confint(x, n, alpha=alpha, method="wilson")
    low = np.where(n > 0, np.clip(lo, 0.0, 1.0), np.nan)
    high = np.where(n > 0, np.clip(hi, 0.0, 1.0), np.nan)
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
    comparison of eleven methods. Statistics in Medicine 17, 873-890 (method 10). Computed by
    ``statsmodels.stats.proportion.confint_proportions_2indep(method="newcomb", compare="diff")``.
    """
    check_alpha(alpha)
    xa, na = np.asarray(successes_a, float), np.asarray(n_a, float)
    xb, nb = np.asarray(successes_b, float), np.asarray(n_b, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        low, high = confint_proportions_2indep(xb, nb, xa, na, method="newcomb", compare="diff", alpha=alpha)
    return np.asarray(low, dtype=float), np.asarray(high, dtype=float)


def clopper_pearson(successes: ArrayLike, n: ArrayLike, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson ("exact") interval for a binomial proportion, vectorised.

    Notes
    -----
    With :math:`x` successes in :math:`n` trials, the limits are beta quantiles:

    .. math:: L = B(\\alpha/2;\\, x, n-x+1), \\qquad U = B(1-\\alpha/2;\\, x+1, n-x)

    with :math:`L = 0` when :math:`x = 0` and :math:`U = 1` when :math:`x = n`. Where ``n == 0``
    the interval is ``(nan, nan)``. Computed by
    ``statsmodels.stats.proportion.proportion_confint(method="beta")``.

    References
    ----------
    Clopper, C. J. and Pearson, E. S. (1934). The use of confidence or fiducial limits illustrated
    in the case of the binomial. Biometrika 26(4), 404-413.
    """
    check_alpha(alpha)
    x = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        lo, hi = proportion_confint(x, n, alpha=alpha, method="beta")
    return np.where(n > 0, lo, np.nan), np.where(n > 0, hi, np.nan)
