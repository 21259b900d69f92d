"""Noise scales of a series for change-point detection: robust and long-run variances (flat and
sloped segments) and the dispersion of binomial counts.

They set the penalty's and the costs' scale in :func:`analysis.stats.changepoint.detect`, so that
the same penalty means the same evidence whatever the units and the dependence of the series.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "MIN_TREND_BLOCKS",
    "robust_sigma",
    "long_run_variance",
    "robust_sigma_trend",
    "trend_block_length",
    "long_run_variance_trend",
    "trend_null_variance",
    "binomial_dispersion",
]


def robust_sigma(y: np.ndarray) -> np.ndarray:
    """Robust noise standard deviation from first differences, per column.

    Parameters
    ----------
    y
        Array of shape ``(n, d)`` without missing values.

    Returns
    -------
    numpy.ndarray
        Shape ``(d,)``; 0 for a constant column.

    Notes
    -----
    With :math:`\\Delta y_i = y_{i+1} - y_i`, a mean change affects one difference only, and for
    independent noise :math:`\\operatorname{Var}(\\Delta y) = 2\\sigma^2`, so

    .. math:: \\hat\\sigma = 1.4826\\, \\operatorname{median}|\\Delta y - \\operatorname{median}\\Delta y| / \\sqrt 2.

    When more than half the differences are equal (integer or flat data) the MAD is 0; the
    standard deviation of the differences divided by :math:`\\sqrt 2` is used instead, then the
    plain standard deviation of ``y``.

    References
    ----------
    Fryzlewicz, P. (2014). Wild binary segmentation for multiple change-point detection.
    Annals of Statistics 42(6), 2243-2281 (the MAD estimate of the noise level from differences).
    """
    n, d = y.shape
    out = np.zeros(d)
    if n < 2:
        return out
    dy = np.diff(y, axis=0)
    mad = 1.482602218505602 * np.median(np.abs(dy - np.median(dy, axis=0)), axis=0) / math.sqrt(2.0)
    sd_diff = dy.std(axis=0) / math.sqrt(2.0)
    sd = y.std(axis=0)
    out = np.where(mad > 0, mad, np.where(sd_diff > 0, sd_diff, sd))
    # Guard against values at rounding level of the data (a constant column plus float noise).
    scale = np.max(np.abs(y), axis=0)
    return np.where(out > 1e-12 * np.maximum(scale, 1e-300), out, 0.0)


def long_run_variance(y: np.ndarray, block: int | None = None) -> np.ndarray:
    r"""Robust long-run variance from differences of block means, per column.

    Parameters
    ----------
    y
        Array ``(n, d)`` without missing values.
    block
        Block length ``b``; default ``round(sqrt(n))``.

    Returns
    -------
    numpy.ndarray
        Shape ``(d,)``; 0 when there are fewer than three blocks.

    Notes
    -----
    With block means :math:`A_j` over :math:`m = \lfloor n/b \rfloor` consecutive blocks of
    length :math:`b`, for a stationary series :math:`b\operatorname{Var}(A_{j+1} - A_j) \to
    2\sigma^2_{LR}`, where :math:`\sigma^2_{LR} = \sum_k \gamma(k)` is the long-run variance
    (the variance that governs a mean over a long stretch). A level shift moves a single
    difference, so the MAD of the differences keeps the estimate robust to a few shifts:

    .. math:: \hat\sigma^2_{LR} = b\,\big(1.4826\,\operatorname{MAD}(A_{j+1} - A_j)\big)^2 / 2.

    A smooth trend or a strong positive autocorrelation makes it large; white noise gives
    :math:`\approx \sigma^2`.

    References
    ----------
    Wu, W. B. and Zhao, Z. (2007). Inference of trends in time series. JRSS B 69(3), 391-410
    (the difference-of-block-sums estimator; the MAD is this module's robust variant).
    """
    n, d = y.shape
    b = max(1, int(round(math.sqrt(n)))) if block is None else int(block)
    m = n // b if b > 0 else 0
    if m < 3:
        return np.zeros(d)
    means = y[: m * b].reshape(m, b, d).mean(axis=1)
    dm = np.diff(means, axis=0)
    mad = 1.482602218505602 * np.median(np.abs(dm - np.median(dm, axis=0)), axis=0)
    return b * mad**2 / 2.0


def robust_sigma_trend(y: np.ndarray) -> np.ndarray:
    """Robust noise standard deviation from second differences, per column of ``y`` (shape
    ``(n, d)``, no missing values): shape ``(d,)``, 0 for a column that is a straight line.

    Notes
    -----
    The analogue of :func:`robust_sigma` for a signal that is locally linear: with
    :math:`\\Delta^2 y_i = y_{i+2} - 2y_{i+1} + y_i`, a straight line gives 0, a change of level or
    slope moves at most two second differences, and for independent noise
    :math:`\\operatorname{Var}(\\Delta^2 y) = 6\\sigma^2`, so
    :math:`\\hat\\sigma = 1.4826\\,\\operatorname{MAD}(\\Delta^2 y)/\\sqrt 6`. The same fall-backs as
    :func:`robust_sigma` apply when the MAD is 0.
    """
    n, d = y.shape
    if n < 3:
        return robust_sigma(y)
    d2 = np.diff(y, n=2, axis=0)
    mad = 1.482602218505602 * np.median(np.abs(d2 - np.median(d2, axis=0)), axis=0) / math.sqrt(6.0)
    sd_d2 = d2.std(axis=0) / math.sqrt(6.0)
    out = np.where(mad > 0, mad, np.where(sd_d2 > 0, sd_d2, 0.0))
    scale = np.max(np.abs(y), axis=0)
    return np.where(out > 1e-12 * np.maximum(scale, 1e-300), out, 0.0)


#: Blocks needed by :func:`long_run_variance_trend`: five second differences, so that the two moved
#: by one change stay below the MAD's 50% breakdown point.
MIN_TREND_BLOCKS = 7


def trend_block_length(n: int) -> int:
    """Block length :math:`\\max(1, \\mathrm{round}(n^{1/3}))` of :func:`long_run_variance_trend`."""
    return max(1, int(round(n ** (1.0 / 3.0))))


def long_run_variance_trend(y: np.ndarray, block: int | None = None) -> np.ndarray:
    r"""Robust long-run variance from second differences of block means, per column.

    Parameters
    ----------
    y
        Array ``(n, d)`` without missing values.
    block
        Block length ``b``; default :func:`trend_block_length` (:math:`n^{1/3}`).

    Returns
    -------
    numpy.ndarray
        Shape ``(d,)``; 0 when there are fewer than seven blocks (see Notes).

    Notes
    -----
    With block means :math:`A_j` of :math:`m = \lfloor n/b \rfloor` blocks of length :math:`b`,
    for a stationary series around a straight line
    :math:`b\operatorname{Var}(A_{j+1} - 2A_j + A_{j-1}) \to 6\sigma^2_{LR}` (the three block means
    are nearly independent with variance :math:`\sigma^2_{LR}/b`). A line cancels; a change of level
    or slope moves only the second differences next to it, which the MAD ignores:

    .. math:: \hat\sigma^2_{LR} = b\,\big(1.4826\,\operatorname{MAD}(\Delta^2 A)\big)^2 / 6.

    Blocks of :math:`n^{1/3}` are the order that balances the bias and variance of batch-means
    estimators of the long-run variance (Carlstein 1986; Politis, Romano and Wolf 1999, ch. 9).
    A periodic series whose period is longer than a block, or strong positive autocorrelation,
    makes it large; white noise gives :math:`\approx \sigma^2`. One change moves up to two second
    differences, and the MAD ignores them only when they are fewer than half: so at least five
    second differences (seven blocks) are needed, and with fewer the estimate is 0 (not available).

    References
    ----------
    Carlstein, E. (1986). The use of subseries values for estimating the variance of a general
    statistic from a stationary sequence. Annals of Statistics 14(3), 1171-1179.
    """
    n, d = y.shape
    b = trend_block_length(n) if block is None else int(block)
    m = n // b if b > 0 else 0
    if m < MIN_TREND_BLOCKS:
        return np.zeros(d)
    means = y[: m * b].reshape(m, b, d).mean(axis=1)
    d2 = np.diff(means, n=2, axis=0)
    mad = 1.482602218505602 * np.median(np.abs(d2 - np.median(d2, axis=0)), axis=0)
    return b * mad**2 / 6.0


def _line_rss(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Residual sums of squares of the flat and of the straight-line fit to each column of ``y``."""
    n = y.shape[0]
    u = np.arange(n) - (n - 1) / 2.0
    yc = y - y.mean(axis=0)
    flat = np.sum(yc * yc, axis=0)
    sxx = float(np.sum(u * u))
    sxy = u @ yc
    line = flat - (sxy * sxy / sxx if sxx > 0 else 0.0)
    return flat, np.clip(line, 0.0, flat)


def trend_null_variance(y: np.ndarray) -> np.ndarray:
    """Noise variance of ``y`` under "no change" for :class:`CostNormalTrend`, per column.

    Parameters
    ----------
    y
        Array ``(n, d)`` without missing values.

    Returns
    -------
    numpy.ndarray
        Shape ``(d,)``: :math:`\\max(\\hat\\sigma^2_0, \\hat\\sigma^2_{LR})`, the residual variance
        :math:`\\hat\\sigma^2_0` of the single segment (flat, or a straight line when BIC prefers it:
        :math:`n \\ln(\\mathrm{RSS}_{flat}/\\mathrm{RSS}_{line}) > \\ln n`), or the robust long-run
        variance of :func:`long_run_variance_trend` when that is larger. A column whose values are a
        straight line gets its sample variance (or 1 when constant), so the cost stays finite.
    """
    n = y.shape[0]
    flat, line = _line_rss(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        use_line = (line > 0) & (n * np.log(flat / np.where(line > 0, line, 1.0)) > math.log(max(n, 2)))
    use_line |= (line == 0) & (flat > 0)
    v0 = np.where(use_line, line, flat) / max(n, 1)
    v = np.maximum(v0, long_run_variance_trend(y))
    fallback = np.where(flat > 0, flat / max(n, 1), 1.0)
    return np.where(v > 0, v, fallback)


def binomial_dispersion(successes: np.ndarray, trials: np.ndarray) -> float:
    """Robust dispersion factor of window rates against binomial noise (1 = binomial).

    Notes
    -----
    For adjacent windows with pooled rate :math:`\\bar p_i = (x_i + x_{i+1})/(N_i + N_{i+1})`,

    .. math:: z_i = \\frac{x_i/N_i - x_{i+1}/N_{i+1}}{\\sqrt{\\bar p_i(1-\\bar p_i)(1/N_i + 1/N_{i+1})}}

    is about N(0, 1) under binomial noise whatever the rate does, except at the few windows where
    it changes; :math:`\\hat\\phi = (1.4826\\,\\operatorname{MAD}(z))^2` (pairs with
    :math:`\\bar p_i \\in \\{0, 1\\}` are skipped; 1 when fewer than 5 pairs remain). Dividing the
    binomial -2 log-likelihood by :math:`\\hat\\phi` gives the quasi-likelihood of an
    over-dispersed rate.

    References
    ----------
    McCullagh, P. and Nelder, J. A. (1989). Generalized Linear Models, 2nd ed., section 4.5
    (over-dispersion and quasi-likelihood).
    """
    x = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    if x.size < 6:
        return 1.0
    pbar = (x[:-1] + x[1:]) / (n[:-1] + n[1:])
    ok = (pbar > 0) & (pbar < 1)
    if ok.sum() < 5:
        return 1.0
    se = np.sqrt(pbar[ok] * (1 - pbar[ok]) * (1 / n[:-1][ok] + 1 / n[1:][ok]))
    z = (x[:-1][ok] / n[:-1][ok] - x[1:][ok] / n[1:][ok]) / se
    mad = 1.482602218505602 * np.median(np.abs(z - np.median(z)))
    return float(mad**2)


