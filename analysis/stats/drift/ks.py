"""Two-sample Kolmogorov-Smirnov test, with the Wasserstein distance per spread as its effect."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from analysis.stats.checks import check_alternative
from analysis.stats.drift._common import ecdf_compare, normalise, numeric_sample, robust_spread

__all__ = ["KS_EXACT_MAX_N", "KSResult", "ks_test", "ks_sorted"]

#: Like scipy's ``ks_2samp(method="auto")``: exact p-values up to this sample size, asymptotic above.
KS_EXACT_MAX_N = 10_000


@dataclass(frozen=True)
class KSResult:
    """Two-sample Kolmogorov-Smirnov test (see :func:`ks_test`)."""

    statistic: float
    pvalue: float
    method: str
    alternative: str
    n_reference: int
    n_current: int
    effect: float
    effect_name: str = "wasserstein/spread"
    statistic_location: float = math.nan
    statistic_sign: int = 1


def _ks_pvalue(
    d: float, n1: int, n2: int, alternative: str, method: str, xs: np.ndarray, ys: np.ndarray
) -> tuple[float, str]:
    """P-value exactly as scipy's ``ks_2samp`` computes it for the chosen method."""
    if method == "auto":
        method = "exact" if max(n1, n2) <= KS_EXACT_MAX_N else "asymp"
    if method == "exact":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = stats.ks_2samp(xs, ys, alternative=alternative, method="exact")
        fell_back = any("Switching" in str(w.message) for w in caught)
        return float(res.pvalue), ("asymp" if fell_back else "exact")
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    if alternative == "two-sided":
        prob = float(stats.kstwo.sf(d, np.round(en)))
    else:
        # Hodges (1958), eq. 5.3, as in scipy; m is the larger sample.
        z = math.sqrt(en) * d
        prob = math.exp(-2 * z**2 - 2 * z * (m + 2 * n) / math.sqrt(m * n * (m + n)) / 3.0)
    return min(max(prob, 0.0), 1.0), "asymp"


def ks_sorted(
    xs: np.ndarray,
    ys: np.ndarray,
    *,
    alternative: str = "two-sided",
    method: str = "auto",
    spread: tuple[float, str] | None = None,
) -> KSResult:
    """:func:`ks_test` on samples already sorted (and checked); ``spread`` reuses the reference's."""
    cmp = ecdf_compare(xs, ys)
    if alternative == "less":
        d, loc, sign = cmp.d_minus, cmp.loc_minus, -1
    elif alternative == "greater" or cmp.d_plus >= cmp.d_minus:
        d, loc, sign = cmp.d_plus, cmp.loc_plus, 1
    else:
        d, loc, sign = cmp.d_minus, cmp.loc_minus, -1
    pvalue, used = _ks_pvalue(d, xs.size, ys.size, alternative, method, xs, ys)
    scale, _ = spread if spread is not None else robust_spread(xs)
    return KSResult(
        statistic=d,
        pvalue=pvalue,
        method=used,
        alternative=alternative,
        n_reference=int(xs.size),
        n_current=int(ys.size),
        effect=normalise(cmp.wasserstein, scale),
        statistic_location=loc,
        statistic_sign=sign,
    )


def ks_test(
    reference: ArrayLike, current: ArrayLike, *, alternative: str = "two-sided", method: str = "auto"
) -> KSResult:
    """Two-sample Kolmogorov-Smirnov test of ``current`` against ``reference``.

    Parameters
    ----------
    reference, current
        Numeric samples (array-like or Series, nullable dtypes accepted); missing values dropped.
    alternative
        ``"two-sided"``, ``"less"`` or ``"greater"``, with scipy's meaning: ``"greater"`` is the
        alternative that the reference CDF lies above the current one somewhere (current values
        tend to be larger).
    method
        ``"auto"`` (exact up to ``KS_EXACT_MAX_N`` = 10,000 observations a side, as scipy does),
        ``"exact"`` or ``"asymp"``.

    Returns
    -------
    KSResult
        ``statistic`` (``D``), ``pvalue``, ``method`` actually used, sample sizes, and ``effect``:
        the Wasserstein-1 distance divided by the reference's robust spread (IQR / 1.349, or the
        standard deviation when the IQR is zero), i.e. how far, in reference standard deviations,
        the current distribution has moved. A 0.5-sigma mean shift of a normal scores 0.5. When
        the reference is constant the effect is 0 if nothing moved and ``inf`` otherwise.

    Notes
    -----
    .. math:: D = \\sup_x |F_{ref}(x) - F_{cur}(x)|

    Both empirical CDFs come from one stable merge of the sorted samples (``O(n log n)``).
    Asymptotic p-values use the Kolmogorov distribution at ``round(n m / (n + m))``
    (``scipy.stats.kstwo``), one-sided ones Hodges' approximation; both as in
    ``scipy.stats.ks_2samp``, which also supplies the exact p-values.

    References
    ----------
    Smirnov, N. (1939). On the estimation of the discrepancy between empirical curves of
    distribution for two independent samples. Bull. Math. Univ. Moscou 2(2), 3-14.
    Hodges, J. L. (1958). The significance probability of the Smirnov two-sample test.
    Arkiv för Matematik 3, 469-486.
    """
    check_alternative(alternative)
    if method not in ("auto", "exact", "asymp"):
        raise ValueError(f"`method` must be 'auto', 'exact' or 'asymp', got {method!r}")
    xs = np.sort(numeric_sample(reference, "reference"))
    ys = np.sort(numeric_sample(current, "current"))
    return ks_sorted(xs, ys, alternative=alternative, method=method)
