"""Segment costs for change-point detection (one class a cost, as ruptures' ``costs``), vectorised
through cumulative sums.

Each cost is fitted once to the (missing-free) data and then evaluates the cost of any set of
segments ``(t, s]`` -- the observations ``t, ..., s-1`` in 0-based Python slicing -- in one numpy
call: ``cost.cost(t, s)`` broadcasts integer arrays ``t`` and ``s``. Every cost except ``l2`` is a
-2 log-likelihood with the segment parameters at their maximum-likelihood values, so penalties
such as BIC (:math:`p \\ln n` per change) apply on the same scale.

A small factory, :func:`make_cost`, picks a cost by name (as ruptures' ``cost_factory`` does).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from analysis.stats.changepoint.noise import robust_sigma, robust_sigma_trend

__all__ = [
    "CostL2",
    "CostNormalMean",
    "CostNormalMeanVar",
    "CostNormalTrend",
    "CostBinomial",
    "COSTS",
    "make_cost",
]


class _GaussianBase:
    """Cumulative sums of a centred ``(n, d)`` signal."""

    model = ""
    n_params = 1  # parameters per segment that change (for BIC-type penalties)

    def __init__(self) -> None:
        self.n = 0
        self.d = 1
        self.y: np.ndarray | None = None

    def fit(self, y: np.ndarray) -> "_GaussianBase":
        y = np.asarray(y, dtype=float)
        if y.ndim == 1:
            y = y[:, None]
        self.y = y
        self.n, self.d = y.shape
        # Centring first keeps S2 - S1^2/len accurate on long series far from zero.
        yc = self._transform(y - y.mean(axis=0)) if self.n else y
        self._yc = yc
        z = np.zeros((1, self.d))
        s1 = np.concatenate([z, np.cumsum(yc, axis=0)])
        s2 = np.concatenate([z, np.cumsum(yc * yc, axis=0)])
        if self.d == 1:
            self._s1, self._s2 = s1[:, 0], s2[:, 0]
        else:
            self._s1, self._s2 = s1, s2
        return self

    def _transform(self, yc: np.ndarray) -> np.ndarray:
        return yc

    def _rss(self, t: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Residual sum of squares of each segment, per column (last axis when d > 1)."""
        t = np.asarray(t)
        s = np.asarray(s)
        length = np.maximum(s - t, 1).astype(float)
        if self.d == 1:
            d1 = self._s1[s] - self._s1[t]
            return (self._s2[s] - self._s2[t]) - d1 * d1 / length
        d1 = self._s1[s] - self._s1[t]
        return (self._s2[s] - self._s2[t]) - d1 * d1 / length[..., None]

    def level_spread(self, t: int, s: int) -> tuple[float, float]:
        """Mean and standard deviation (ddof=1; NaN for one point) of segment ``(t, s]``."""
        seg = self.y[t:s]
        level = float(seg.mean()) if self.d == 1 else float(seg.mean(axis=0).mean())
        if s - t < 2:
            return level, math.nan
        spread = float(seg.std(ddof=1)) if self.d == 1 else float(seg.std(axis=0, ddof=1).mean())
        return level, spread


class CostL2(_GaussianBase):
    """Sum of squared deviations from the segment mean (ruptures' ``CostL2``).

    Notes
    -----
    With cumulative sums :math:`S_1[t] = \\sum_{i<t} y_i` and :math:`S_2[t] = \\sum_{i<t} y_i^2`,

    .. math:: c(t, s) = S_2[s] - S_2[t] - \\frac{(S_1[s] - S_1[t])^2}{s - t},

    summed over the columns of a multivariate signal.
    """

    model = "l2"

    def cost(self, t: np.ndarray, s: np.ndarray) -> np.ndarray:
        r = self._rss(t, s)
        return r if self.d == 1 else r.sum(axis=-1)

    def noise_variance(self, total_rss: float, n_free: int) -> float:
        """Pooled residual variance used to turn the l2 cost into a -2 log-likelihood."""
        return total_rss / max(n_free, 1)


class CostNormalMean(CostL2):
    """Gaussian mean change with a robust noise variance: the l2 cost divided by :math:`\\hat\\sigma^2`.

    Notes
    -----
    :math:`c(t, s) = \\sum_j \\mathrm{RSS}_j(t, s) / \\hat\\sigma_j^2` with :math:`\\hat\\sigma_j` from
    :func:`robust_sigma`: -2 log-likelihood of a Gaussian segment with known variance, up to a
    constant. Invariant to shift and scale of the data.
    """

    model = "normal_mean"

    def __init__(self, sigma: np.ndarray | float | None = None) -> None:
        super().__init__()
        self._sigma_given = sigma

    def fit(self, y: np.ndarray) -> "CostNormalMean":
        y2 = np.asarray(y, dtype=float)
        if y2.ndim == 1:
            y2 = y2[:, None]
        if self._sigma_given is not None:
            sig = np.broadcast_to(np.asarray(self._sigma_given, dtype=float), (y2.shape[1],))
        else:
            sig = robust_sigma(y2) if y2.shape[0] else np.ones(y2.shape[1])
        self.sigma = np.where(sig > 0, sig, 1.0)
        return super().fit(y)

    def _transform(self, yc: np.ndarray) -> np.ndarray:
        return yc / self.sigma

    def noise_variance(self, total_rss: float, n_free: int) -> float:
        return 1.0


class CostNormalMeanVar(_GaussianBase):
    """Gaussian change in mean and variance (R changepoint ``cpt.meanvar``, Normal test statistic).

    Notes
    -----
    With :math:`\\hat\\sigma^2_{ts} = \\mathrm{RSS}(t, s)/(s-t)`,

    .. math:: c(t, s) = (s - t)\\,(\\ln 2\\pi + \\ln \\hat\\sigma^2_{ts} + 1),

    the -2 log-likelihood at the maximum, summed over columns. The variance is constrained to
    :math:`\\sigma^2 \\ge f`, :math:`f = 10^{-8}` times the robust noise variance of the whole
    series, so a segment with :math:`\\hat\\sigma^2_{ts} < f` costs
    :math:`(s-t)(\\ln 2\\pi + \\ln f + \\hat\\sigma^2_{ts}/f)` (R uses an absolute floor of
    :math:`10^{-11}`; a relative one keeps the cost scale invariant, and the constrained maximum keeps
    it a log-likelihood, which PELT's pruning needs).
    """

    model = "normal_meanvar"
    n_params = 2

    def fit(self, y: np.ndarray) -> "CostNormalMeanVar":
        super().fit(y)
        if self.n:
            sig = robust_sigma(self.y)
            ref = np.where(sig > 0, sig**2, np.maximum(self.y.var(axis=0), 1.0))
            self._floor = 1e-8 * ref
        else:
            self._floor = np.ones(self.d)
        if self.d == 1:
            self._floor = float(self._floor[0])
        return self

    def cost(self, t: np.ndarray, s: np.ndarray) -> np.ndarray:
        length = np.maximum(np.asarray(s) - np.asarray(t), 1).astype(float)
        r = self._rss(t, s)
        if self.d == 1:
            mle = np.maximum(r / length, 0.0)
            var = np.maximum(mle, self._floor)
            return length * (np.log(var) + mle / var + math.log(2 * math.pi))
        mle = np.maximum(r / length[..., None], 0.0)
        var = np.maximum(mle, self._floor)
        return length * ((np.log(var) + mle / var).sum(axis=-1) + self.d * math.log(2 * math.pi))

    def noise_variance(self, total_rss: float, n_free: int) -> float:
        return 1.0


class CostNormalTrend:
    """Gaussian segments that are flat or straight lines, the slope charged by BIC.

    Parameters
    ----------
    sigma
        Noise standard deviation per column; default :func:`robust_sigma_trend`.
    slope_penalty
        :math:`\\lambda`, the charge for fitting a slope in a segment (in -2 log-likelihood units);
        default :math:`\\ln n` (BIC: one parameter).

    Notes
    -----
    For segment :math:`(t, s]` and column :math:`j`, with :math:`R^{flat}` and :math:`R^{line}` the
    residual sums of squares about the segment mean and about its least-squares line,

    .. math:: c(t, s) = \\sum_j \\min\\big(R^{flat}_j/\\sigma_j^2,\\; R^{line}_j/\\sigma_j^2 + \\lambda\\big),

    the -2 log-likelihood (known variance, up to a constant) of the better of the two models after
    BIC's charge for the slope. :meth:`cost` returns :math:`c - d\\lambda`: that shifted cost is
    super-additive (:math:`c(t, s) \\ge c(t, r) + c(r, s)`, as PELT's pruning and the search's lower
    bounds need) because each of the two terms is, and the shift adds the same
    :attr:`segment_offset` :math:`d\\lambda` to every segment, which the search adds back to the
    penalty. Lines are fitted through cumulative sums of :math:`u`, :math:`u^2`, :math:`uy` with
    :math:`u` the centred position.
    """

    model = "normal_trend"
    n_params = 1  # a change moves the level; a slope is charged inside the cost

    def __init__(self, sigma: np.ndarray | float | None = None, slope_penalty: float | None = None) -> None:
        self.n = 0
        self.d = 1
        self._sigma_given = sigma
        self._slope_given = slope_penalty

    def fit(self, y: np.ndarray) -> "CostNormalTrend":
        y = np.asarray(y, dtype=float)
        if y.ndim == 1:
            y = y[:, None]
        self.y = y
        self.n, self.d = y.shape
        if self._sigma_given is not None:
            sig = np.broadcast_to(np.asarray(self._sigma_given, dtype=float), (self.d,))
        else:
            sig = robust_sigma_trend(y) if self.n else np.ones(self.d)
        self.sigma = np.where(sig > 0, sig, 1.0)
        lam = math.log(max(self.n, 2)) if self._slope_given is None else float(self._slope_given)
        self.slope_penalty = lam
        self.segment_offset = self.d * lam
        u = (np.arange(self.n) - (self.n - 1) / 2.0) / max(self.n, 1)
        yc = (y - y.mean(axis=0)) / self.sigma if self.n else y

        def csum(a: np.ndarray) -> np.ndarray:
            return np.concatenate([np.zeros((1,) + a.shape[1:]), np.cumsum(a, axis=0)])

        self._su, self._suu = csum(u), csum(u * u)
        self._sy, self._syy, self._suy = csum(yc), csum(yc * yc), csum(u[:, None] * yc)
        return self

    def _flat_line(self, t: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scaled residual sums of squares (flat, line), shape ``broadcast(t, s) + (d,)``."""
        t = np.asarray(t)
        s = np.asarray(s)
        length = np.maximum(s - t, 1).astype(float)[..., None]
        su = (self._su[s] - self._su[t])[..., None]
        suu = (self._suu[s] - self._suu[t])[..., None]
        sy = self._sy[s] - self._sy[t]
        syy = self._syy[s] - self._syy[t]
        suy = self._suy[s] - self._suy[t]
        flat = np.maximum(syy - sy * sy / length, 0.0)
        sxx = suu - su * su / length
        sxy = suy - su * sy / length
        ok = sxx > 1e-14 * np.maximum(suu, 1e-300)
        fit = np.where(ok, sxy * sxy / np.where(ok, sxx, 1.0), 0.0)
        line = np.clip(flat - fit, 0.0, flat)
        return flat, line

    def cost(self, t: np.ndarray, s: np.ndarray) -> np.ndarray:
        flat, line = self._flat_line(t, s)
        lam = self.slope_penalty
        return (np.minimum(flat, line + lam) - lam).sum(axis=-1)

    def uses_slope(self, t: int, s: int) -> np.ndarray:
        """Whether each column of segment ``(t, s]`` is fitted by a line (not flat)."""
        flat, line = self._flat_line(np.array([t]), np.array([s]))
        return (line[0] + self.slope_penalty) < flat[0]

    def residual_ss(self, t: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Residual sum of squares (data units) of the chosen fit, per column, shape ``(..., d)``."""
        flat, line = self._flat_line(t, s)
        chosen = np.where(line + self.slope_penalty < flat, line, flat)
        return chosen * self.sigma**2

    def noise_variance(self, total_rss: float, n_free: int) -> float:
        return 1.0

    # the same summary as the Gaussian costs' (its fitted trend aside)
    level_spread = _GaussianBase.level_spread


class CostBinomial:
    """Binomial rate change on per-window successes and trials.

    Notes
    -----
    With :math:`X = \\sum x_i` and :math:`N = \\sum N_i` over the windows of the segment and
    :math:`\\hat p = X/N`,

    .. math:: c(t, s) = -2\\,[X \\ln \\hat p + (N - X) \\ln(1 - \\hat p)],

    the -2 log-likelihood at the maximum (binomial coefficients dropped, they do not depend on
    the segmentation; :math:`0 \\ln 0 = 0`).
    """

    model = "binomial"
    n_params = 1

    def __init__(self) -> None:
        self.n = 0
        self.d = 1

    def fit(self, successes: np.ndarray, trials: np.ndarray) -> "CostBinomial":
        self.x = np.asarray(successes, dtype=float)
        self.trials = np.asarray(trials, dtype=float)
        self.n = self.x.shape[0]
        self._sx = np.concatenate([[0.0], np.cumsum(self.x)])
        self._sn = np.concatenate([[0.0], np.cumsum(self.trials)])
        return self

    def _xn(self, t: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = self._sx[s] - self._sx[t]
        n = self._sn[s] - self._sn[t]
        return x, n

    def cost(self, t: np.ndarray, s: np.ndarray) -> np.ndarray:
        x, n = self._xn(t, s)
        n = np.maximum(n, 1e-300)
        fail = np.maximum(n - x, 0.0)
        # xlogy gives 0 log 0 = 0 at rates of exactly 0 or 1.
        return -2.0 * (special.xlogy(x, x / n) + special.xlogy(fail, fail / n))

    def noise_variance(self, total_rss: float, n_free: int) -> float:
        return 1.0

    def level_spread(self, t: int, s: int) -> tuple[float, float]:
        """Pooled rate of the segment and the standard deviation (ddof=1) of its window rates."""
        x, n = float(self._sx[s] - self._sx[t]), float(self._sn[s] - self._sn[t])
        level = x / n if n > 0 else math.nan
        if s - t < 2:
            return level, math.nan
        rates = self.x[t:s] / self.trials[t:s]
        return level, float(rates.std(ddof=1))


COSTS = {
    "l2": CostL2,
    "normal_mean": CostNormalMean,
    "normal_meanvar": CostNormalMeanVar,
    "normal_trend": CostNormalTrend,
    "binomial": CostBinomial,
}


def make_cost(name: str):
    """Return an unfitted cost instance by name (one of :data:`COSTS`)."""
    try:
        return COSTS[name]()
    except KeyError:
        raise ValueError(f"`cost` must be one of {sorted(COSTS)}, got {name!r}") from None
