"""Two rates compared: pooled z test, Fisher's exact test, Wilson and Newcombe intervals, Cohen's h."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from analysis._common import check_alpha
from analysis.stats.checks import check_alternative
from analysis.stats.intervals import newcombe_interval, wilson_interval

__all__ = ["ProportionResult", "proportion_test", "cohen_h"]


@dataclass(frozen=True)
class ProportionResult:
    """Comparison of two rates ``a`` (reference) and ``b`` (current) (see :func:`proportion_test`)."""

    statistic: float
    pvalue: float
    pvalue_fisher: float
    method: str
    alternative: str
    alpha: float
    rate_a: float
    rate_b: float
    ci_a: tuple[float, float]
    ci_b: tuple[float, float]
    difference: float
    ci_difference: tuple[float, float]
    effect: float
    odds_ratio: float
    successes_a: int
    n_a: int
    successes_b: int
    n_b: int
    effect_name: str = "cohen_h"


def _check_count(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be a whole number >= 0, got {value!r}")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a whole number >= 0, got {value!r}") from None
    if not math.isfinite(f) or f < 0 or f != round(f):
        raise ValueError(f"`{name}` must be a whole number >= 0, got {value!r}")
    return int(round(f))


def cohen_h(p_a: Any, p_b: Any) -> Any:
    """Cohen's h of the change from rate ``p_a`` to rate ``p_b`` (vectorised; rates clipped to [0, 1]).

    Notes
    -----
    .. math:: h = 2\\arcsin\\sqrt{p_b} - 2\\arcsin\\sqrt{p_a}

    References
    ----------
    Cohen, J. (1988). Statistical Power Analysis for the Behavioral Sciences, 2nd ed., ch. 6.
    """
    a = np.clip(np.asarray(p_a, dtype=float), 0.0, 1.0)
    b = np.clip(np.asarray(p_b, dtype=float), 0.0, 1.0)
    return 2.0 * np.arcsin(np.sqrt(b)) - 2.0 * np.arcsin(np.sqrt(a))


def proportion_test(
    successes_a: int,
    n_a: int,
    successes_b: int,
    n_b: int,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> ProportionResult:
    """Compare rate ``b`` (current) with rate ``a`` (reference): z test, Fisher exact, intervals.

    Parameters
    ----------
    successes_a, n_a, successes_b, n_b
        Counts: events with the outcome (refused, escalated, ...) and events in total.
    alpha
        One minus the coverage of the intervals (the intervals are two-sided).
    alternative
        ``"two-sided"``, ``"greater"`` (rate b > rate a) or ``"less"``; applies to both p-values.

    Returns
    -------
    ProportionResult
        ``statistic`` (pooled z, positive when b > a), ``pvalue`` (from z), ``pvalue_fisher``,
        ``rate_a``, ``rate_b`` with Wilson intervals ``ci_a``, ``ci_b``, ``difference`` = b - a
        with Newcombe's interval ``ci_difference``, ``effect`` = Cohen's h (signed, b vs a),
        the sample ``odds_ratio`` of b against a.

    Notes
    -----
    With :math:`\\hat p = (x_a + x_b) / (n_a + n_b)`:

    .. math:: z = \\frac{\\hat p_b - \\hat p_a}{\\sqrt{\\hat p (1 - \\hat p)(1/n_a + 1/n_b)}},
              \\qquad h = 2 \\arcsin\\sqrt{\\hat p_b} - 2 \\arcsin\\sqrt{\\hat p_a}

    When both samples are all failures or all successes the pooled variance is zero and the
    rates are equal: ``statistic = 0``, ``pvalue = 1``. The Fisher p-value is
    ``scipy.stats.fisher_exact`` on ``[[x_b, n_b - x_b], [x_a, n_a - x_a]]``. Cohen's h treats
    small rates fairly (10% -> 15% scores 0.15, 1% -> 2% scores 0.07), which a plain difference
    or a fixed distance cut-off does not.

    References
    ----------
    Fleiss, J. L., Levin, B., Paik, M. C. (2003). Statistical Methods for Rates and Proportions,
    3rd ed., ch. 2-3. Wiley. Cohen, J. (1988). Statistical Power Analysis for the Behavioral
    Sciences, 2nd ed., ch. 6. Newcombe, R. G. (1998). Statistics in Medicine 17, 873-890.
    """
    alpha = check_alpha(alpha)
    check_alternative(alternative)
    xa, na, xb, nb = _check_counts(successes_a, n_a, successes_b, n_b)
    pa, pb = xa / na, xb / nb
    z, pvalue = _pooled_z(xa, na, xb, nb, alternative)
    fisher = stats.fisher_exact([[xb, nb - xb], [xa, na - xa]], alternative=alternative)
    la, ua = wilson_interval(xa, na, alpha)
    lb, ub = wilson_interval(xb, nb, alpha)
    ld, ud = newcombe_interval(xa, na, xb, nb, alpha)
    return ProportionResult(
        statistic=float(z),
        pvalue=min(pvalue, 1.0),
        pvalue_fisher=float(fisher.pvalue),
        method="pooled-z",
        alternative=alternative,
        alpha=alpha,
        rate_a=pa,
        rate_b=pb,
        ci_a=(float(la), float(ua)),
        ci_b=(float(lb), float(ub)),
        difference=pb - pa,
        ci_difference=(float(ld), float(ud)),
        effect=float(cohen_h(pa, pb)),
        odds_ratio=float(fisher.statistic),
        successes_a=xa,
        n_a=na,
        successes_b=xb,
        n_b=nb,
    )


def _check_counts(successes_a: Any, n_a: Any, successes_b: Any, n_b: Any) -> tuple[int, int, int, int]:
    """The four counts as integers, each sample non-empty with no more successes than events."""
    xa, na = _check_count(successes_a, "successes_a"), _check_count(n_a, "n_a")
    xb, nb = _check_count(successes_b, "successes_b"), _check_count(n_b, "n_b")
    for x, n, xn, nn in ((xa, na, "successes_a", "n_a"), (xb, nb, "successes_b", "n_b")):
        if n == 0:
            raise ValueError(f"`{nn}` must be positive, got 0")
        if x > n:
            raise ValueError(f"`{xn}` ({x}) must not exceed `{nn}` ({n})")
    return xa, na, xb, nb


def _pooled_z(xa: int, na: int, xb: int, nb: int, alternative: str) -> tuple[float, float]:
    """Pooled z statistic of rate b against rate a and its normal p-value (0 and 1 without variance)."""
    pa, pb = xa / na, xb / nb
    pooled = (xa + xb) / (na + nb)
    var = pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)
    if not var > 0:
        return 0.0, 1.0
    z = (pb - pa) / math.sqrt(var)
    if alternative == "two-sided":
        return z, float(2.0 * stats.norm.sf(abs(z)))
    if alternative == "greater":
        return z, float(stats.norm.sf(z))
    return z, float(stats.norm.cdf(z))
