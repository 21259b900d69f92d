"""EWMA chart (exact or asymptotic limits) and its streaming twin."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import signal

from analysis.stats.spc.checks import (
    ChartPath,
    as_1d_float,
    check_bool,
    check_finite,
    check_lam,
    check_positive,
    frozen,
    scalar,
)
from analysis.stats.spc._blocks import expand, observed_points, orig_index, scan_with_reset

__all__ = ["EwmaResult", "ewma_chart", "EwmaChart"]


@dataclass(frozen=True)
class EwmaResult(ChartPath):
    """Path and alarms of an EWMA chart.

    Attributes
    ----------
    z
        The EWMA at every position (units of ``x``; starts from ``target``).
    ucl, lcl
        Control limits at every position (NaN before the first observation with exact limits).
    alarms, side, first_alarm
        Sorted indices where ``z`` is beyond a limit, ``"upper"``/``"lower"`` per alarm, the first.
    method, params, n, n_observed
        As in :class:`CusumResult`.
    """

    z: np.ndarray
    ucl: np.ndarray
    lcl: np.ndarray
    alarms: np.ndarray
    side: np.ndarray
    first_alarm: int | None

    @property
    def statistic(self) -> np.ndarray:
        return self.z


def _ewma_width(age: np.ndarray, lam: float, L: float, exact: bool) -> np.ndarray:
    """Limit half-width in sigma units after ``age`` >= 1 observations since the (re)start."""
    asym = L * np.sqrt(lam / (2.0 - lam))
    out = np.full(age.shape, asym)
    if not exact or lam == 1.0 or age.size == 0:
        return out
    # (1 - lam)^(2 t) is below 1e-17 (no effect on a double) from this age on
    settled = np.log(1e-17) / (2.0 * np.log1p(-lam))
    young = age < settled
    if young.any():
        out[young] = asym * np.sqrt(-np.expm1(2.0 * age[young] * np.log1p(-lam)))
    return out


def ewma_chart(
    x: ArrayLike,
    *,
    target: float,
    sigma: float,
    lam: float = 0.2,
    L: float = 3.0,
    exact_limits: bool = True,
    reset: bool = False,
) -> EwmaResult:
    """EWMA control chart for the mean.

    Parameters
    ----------
    x
        Observations; NaN is skipped (the EWMA and its age are carried over).
    target, sigma
        In-control mean and standard deviation of ``x``.
    lam
        Smoothing weight in (0, 1]; small values (0.05-0.2) detect small shifts.
    L
        Limit width in standard deviations of the EWMA. ``L = 3`` with ``lam = 0.2`` gives an
        in-control ARL of about 560; see :func:`ewma_L_for_arl`.
    exact_limits
        Use the time-varying limits (narrower for the first points after a start); False uses the
        asymptotic limits, which is what :func:`ewma_arl` assumes.
    reset
        Restart the EWMA at ``target`` (and its age at 0) after each alarm.

    Notes
    -----
    .. math::
        z_t = \\lambda x_t + (1 - \\lambda) z_{t-1},\\quad z_0 = \\mu_0,\\qquad
        \\mathrm{UCL/LCL}_t = \\mu_0 \\pm L\\sigma\\sqrt{\\frac{\\lambda}{2-\\lambda}
        \\left[1 - (1-\\lambda)^{2t}\\right]}

    (the bracket is 1 for asymptotic limits); signals when :math:`z_t` is beyond a limit. Without
    reset the EWMA is a first-order linear filter (``scipy.signal.lfilter``).

    References
    ----------
    Roberts, S. W. (1959). Control chart tests based on geometric moving averages. Technometrics 1(3).
    Montgomery, D. C. Introduction to Statistical Quality Control, section 9.2 (Example 9.2).
    NIST/SEMATECH e-Handbook of Statistical Methods, section 6.3.2.4.
    """
    target = check_finite("target", target)
    sigma = check_positive("sigma", sigma)
    lam = check_lam(lam)
    L = check_positive("L", L)
    exact_limits = check_bool("exact_limits", exact_limits)
    reset = check_bool("reset", reset)
    arr = as_1d_float(x, "x")
    observed, xc, orig_idx = observed_points(arr)
    e = xc - target
    e /= sigma
    m = e.size
    path = _ewma_path_reset if reset else _ewma_path
    zs, width, comp_alarms, codes = path(e, lam, L, exact_limits)
    side = np.where(codes == 1, "upper", "lower").astype("<U5")
    init_w = np.nan if exact_limits else L * np.sqrt(lam / (2.0 - lam))
    z_full = expand(zs, observed, 0.0)
    z_full *= sigma
    z_full += target
    w_full = expand(width, observed, init_w)
    w_full *= sigma
    params = {"target": target, "sigma": sigma, "lam": lam, "L": L, "exact_limits": exact_limits, "reset": reset}
    alarms = orig_index(comp_alarms, orig_idx)
    return EwmaResult(
        z=z_full,
        ucl=target + w_full,
        lcl=target - w_full,
        alarms=alarms,
        side=side,
        first_alarm=int(alarms[0]) if alarms.size else None,
        method="ewma",
        params=frozen(params),
        n=arr.size,
        n_observed=m,
    )


def _ewma_path(e: np.ndarray, lam: float, L: float, exact: bool):
    """EWMA path, half-widths, alarm positions and codes (1 upper, 2 lower) without reset.

    ``e`` holds the observed points standardised, ``(x - target) / sigma``; the path is one
    linear filter over all of them.
    """
    m = e.size
    zs = signal.lfilter([lam], [1.0, lam - 1.0], e) if m else np.zeros(0)
    if exact:
        width = _ewma_width(np.arange(1, m + 1, dtype=np.float64), lam, L, True)
        over, under = zs > width, zs < -width
    else:
        w = L * np.sqrt(lam / (2.0 - lam))
        width = np.full(m, w)
        over, under = zs > w, zs < -w
    comp_alarms = np.flatnonzero(over | under)
    return zs, width, comp_alarms, np.where(over[comp_alarms], 1, 2)


def _ewma_path_reset(e: np.ndarray, lam: float, L: float, exact: bool):
    """As :func:`_ewma_path`, restarting the EWMA at 0 (and its age) after each alarm."""
    m = e.size
    b, a = [lam], [1.0, lam - 1.0]
    zs, width = np.empty(m), np.empty(m)

    def block(a0: int, b0: int, st: tuple[float, int]):
        zb, _ = signal.lfilter(b, a, e[a0:b0], zi=[(1.0 - lam) * st[0]])
        wb = _ewma_width(np.arange(st[1] + 1, st[1] + 1 + (b0 - a0), dtype=np.float64), lam, L, exact)
        zs[a0:b0], width[a0:b0] = zb, wb
        code = (zb > wb).astype(np.int8) + 2 * (zb < -wb).astype(np.int8)
        return code, (float(zb[-1]), st[1] + (b0 - a0))

    comp_alarms, codes = scan_with_reset(m, block, lambda j: (0.0, 0), (0.0, 0))
    return zs, width, comp_alarms, codes


class EwmaChart:
    """Streaming twin of :func:`ewma_chart`."""

    def __init__(self, *, target: float, sigma: float, lam: float = 0.2, L: float = 3.0,
                 exact_limits: bool = True, reset: bool = False) -> None:
        self.target = check_finite("target", target)
        self.sigma = check_positive("sigma", sigma)
        self.lam = check_lam(lam)
        self.L = check_positive("L", L)
        self.exact_limits = check_bool("exact_limits", exact_limits)
        self.reset = check_bool("reset", reset)
        self._z = 0.0
        self._age = 0
        self._w = float(_ewma_width(np.array([0.0]), self.lam, self.L, False)[0]) if not exact_limits else np.nan
        self.n_seen = self.n_observed = self.n_alarms = 0
        self.alarm = False
        self.side: str | None = None
        self._restart = False

    def update(self, x: float) -> "EwmaChart":
        """Add one observation (NaN/None is skipped) and return the chart."""
        v = scalar(x, "x")
        self.n_seen += 1
        self.alarm, self.side = False, None
        if np.isnan(v):
            return self
        if self._restart:
            self._z, self._age, self._restart = 0.0, 0, False
        self.n_observed += 1
        self._age += 1
        e = (v - self.target) / self.sigma
        self._z = self.lam * e + (1.0 - self.lam) * self._z
        self._w = float(_ewma_width(np.array([float(self._age)]), self.lam, self.L, self.exact_limits)[0])
        if self._z > self._w or self._z < -self._w:
            self.alarm, self.side = True, ("upper" if self._z > 0 else "lower")
            self.n_alarms += 1
            self._restart = self.reset
        return self

    z = property(lambda self: self.target + self.sigma * self._z, doc="The EWMA in the units of x.")
    statistic = z
    ucl = property(lambda self: self.target + self.sigma * self._w)
    lcl = property(lambda self: self.target - self.sigma * self._w)
