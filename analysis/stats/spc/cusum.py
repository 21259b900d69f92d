"""CUSUM charts: tabular (Page) for a mean, Bernoulli and binomial for a rate, and their streaming twins.

One recursion serves them all: :func:`lindley` (``S_t = max(0, S_{t-1} + y_t)`` from a start state)
computes the batch paths chunk by chunk, the streaming charts' :class:`CusumState` one point at a
time, and the monitors of :mod:`analysis.prevention.monitors` one window at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from numpy.typing import ArrayLike

from analysis.stats.spc.checks import (
    ChartPath,
    as_1d_float,
    check_bool,
    check_finite,
    check_flags,
    check_nonnegative,
    check_positive,
    check_rates,
    frozen,
    scalar,
)
from analysis.stats.spc._blocks import collect, expand, observed_points, orig_index, scan_with_reset, sides

__all__ = [
    "CusumResult",
    "lindley",
    "tabular_cusum",
    "llr_steps",
    "bernoulli_cusum",
    "binomial_cusum",
    "CusumState",
    "CusumChart",
    "BernoulliCusumChart",
]


@dataclass(frozen=True)
class CusumResult(ChartPath):
    """Path and alarms of a CUSUM chart (tabular, Bernoulli or binomial).

    Attributes
    ----------
    upper, lower
        One-sided statistics at every position (``C+`` and ``C-``, both >= 0). Tabular CUSUM: in the
        units of ``x``. Bernoulli/binomial: log-likelihood ratio; the chart's single side is in
        ``upper`` when ``p1 > p0`` and in ``lower`` when ``p1 < p0``, the other side is all zero.
    run_length_upper, run_length_lower
        Montgomery's ``N+`` / ``N-``: observed points since the side was last zero (or restarted).
    alarms
        Sorted 0-based indices where the chart signals.
    side
        ``"upper"``, ``"lower"`` or ``"both"`` for each alarm.
    first_alarm
        ``alarms[0]`` or None.
    shift_start
        Index of the first point of the estimated shift at the first alarm (the alarm index minus the
        run length plus one, counted in observed points), or None.
    new_mean
        Estimated process level after the shift at the first alarm: Montgomery's
        ``mu0 + K + C+/N+`` (``mu0 - K - C-/N-`` on the lower side); for Bernoulli/binomial charts
        the observed rate over ``shift_start .. first_alarm``. None without an alarm.
    method, params, n, n_observed
        Chart name, parameters used, series length and number of non-missing points.
    """

    upper: np.ndarray
    lower: np.ndarray
    run_length_upper: np.ndarray
    run_length_lower: np.ndarray
    alarms: np.ndarray
    side: np.ndarray
    first_alarm: int | None
    shift_start: int | None
    new_mean: float | None

    @property
    def statistic(self) -> np.ndarray:
        """The larger of the two one-sided statistics at every position."""
        return np.maximum(self.upper, self.lower)

    @property
    def first_alarm_side(self) -> str | None:
        return None if self.first_alarm is None else str(self.side[0])


def lindley(y: np.ndarray | float, start: float = 0.0, out: np.ndarray | None = None) -> np.ndarray | float:
    """The one-sided CUSUM recursion ``S_t = max(0, S_{t-1} + y_t)`` from ``S_0 = start``.

    This is the only CUSUM recursion of the kit: the batch charts call it on chunks of
    increments, :class:`CusumState` (the streaming charts) and the monitors of
    :mod:`analysis.prevention.monitors` on one increment at a time, each from the state where
    the last call stopped. A reset is a restart from ``start=0``.

    Parameters
    ----------
    y
        Increments (1-D float array), or one increment as a float.
    start
        The statistic before the first increment (>= 0).
    out
        Optional array to write the path into.

    Returns
    -------
    numpy.ndarray or float
        The path ``S_1 .. S_n`` (a float for a float ``y``).

    Notes
    -----
    The solution is :math:`S_t = Y_t - \\min(-S_0, \\min_{u \\le t} Y_u)` with :math:`Y` the
    cumulative sum of :math:`y`, computed without a Python loop over points (call it on chunks so
    that :math:`Y` stays small). On one point it is :math:`\\max(0, S_0 + y_1)` to the last bit.

    References
    ----------
    Lindley, D. V. (1952). The theory of queues with a single server. Proc. Cambridge Philos.
    Soc. 48(2), 277-289. Page, E. S. (1954). Continuous inspection schemes. Biometrika 41, 100-115.
    """
    if isinstance(y, float):
        # One point (the streaming charts, the monitors): the same closed form on a float; numpy's
        # per-call overhead would make a streaming update ~5x slower (measured 50 us against 10 us).
        return y - min(y, -start)
    c = np.cumsum(y)
    m = np.minimum.accumulate(c)
    np.minimum(m, -start, out=m)
    return np.subtract(c, m, out=out)


def _cusum_core(
    increments: Callable[[int, int], tuple[np.ndarray | None, np.ndarray | None]],
    m: int,
    h: float,
    reset: bool,
    scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Upper and lower CUSUMs over ``m`` observed points, computed chunk by chunk.

    ``increments(a, b)`` returns the increments of the upper and lower sides on ``[a, b)`` (None for
    a side the chart does not have). Returns the paths multiplied by ``scale``, the alarm indices,
    whether each alarm is on the upper / lower side, and the run lengths ``N+``, ``N-`` (observed
    points since the side was last zero or restarted). Everything for a chunk is done while it is
    in cache.
    """
    up, lo = np.zeros(m), np.zeros(m)
    n_up, n_lo = np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64)

    def block(a: int, b: int, st: tuple[float, float, int, int]):
        yu, yl = increments(a, b)
        idx = np.arange(a, b, dtype=np.int64)
        code = np.zeros(b - a, dtype=np.int8)
        end = list(st)
        for i, (y, path, runs) in enumerate(((yu, up, n_up), (yl, lo, n_lo))):
            if y is None:
                continue
            s = lindley(y, st[i])
            code[s > h] += i + 1
            last = np.where(s == 0.0, idx, -1)
            last[0] = max(last[0], st[2 + i])
            np.maximum.accumulate(last, out=last)
            np.subtract(idx, last, out=runs[a:b])
            end[i], end[2 + i] = float(s[-1]), int(last[-1])
            if scale != 1.0:
                s *= scale
            path[a:b] = s
        return code, tuple(end)

    init = (0.0, 0.0, -1, -1)
    if reset:
        alarms, codes = scan_with_reset(m, block, lambda j: (0.0, 0.0, j, j), init)
    else:
        alarms, codes = collect(m, block, init)
    return up, lo, alarms, (codes & 1) > 0, (codes & 2) > 0, n_up, n_lo


def _finish_cusum(
    core: tuple[np.ndarray, ...],
    observed: np.ndarray | None,
    orig_idx: np.ndarray | None,
    scale: float,
    new_level: Callable[[str, int, int, float, int], float],
    method: str,
    params: dict[str, Any],
    n: int,
) -> CusumResult:
    up, lo, comp_alarms, up_al, lo_al, n_up, n_lo = core
    side = sides(up_al, lo_al)
    first = shift = new = None
    if comp_alarms.size:
        j = int(comp_alarms[0])
        s = "lower" if side[0] == "lower" else "upper"
        run = int(n_up[j] if s == "upper" else n_lo[j])
        stat = float(up[j] if s == "upper" else lo[j]) / scale
        start = j - run + 1
        first, shift = int(orig_index(np.array([j]), orig_idx)[0]), int(orig_index(np.array([start]), orig_idx)[0])
        new = float(new_level(s, start, j, stat, run))
    return CusumResult(
        upper=expand(up, observed, 0.0),
        lower=expand(lo, observed, 0.0),
        run_length_upper=expand(n_up, observed, 0),
        run_length_lower=expand(n_lo, observed, 0),
        alarms=orig_index(comp_alarms, orig_idx),
        side=side,
        first_alarm=first,
        shift_start=shift,
        new_mean=new,
        method=method,
        params=frozen(params),
        n=n,
        n_observed=int(up.size),
    )


# --------------------------------------------------------------------------------------------------
# CUSUM
# --------------------------------------------------------------------------------------------------


def tabular_cusum(
    x: ArrayLike,
    *,
    target: float,
    sigma: float = 1.0,
    k: float = 0.5,
    h: float = 5.0,
    reset: bool = False,
) -> CusumResult:
    """Two-sided tabular (Page) CUSUM for a shift in the mean.

    Parameters
    ----------
    x
        Observations (individual values or window means); NaN is skipped.
    target
        In-control mean ``mu0``.
    sigma
        Standard deviation of ``x`` when in control. ``k`` and ``h`` are in units of ``sigma``; pass
        ``sigma=1`` to give them in the units of ``x`` (the NIST handbook's ``k`` and ``h``).
    k
        Reference value (allowance), usually half the shift to detect: 0.5 for a 1-sigma shift.
    h
        Decision interval. The textbook ``h = 5`` (with ``k = 0.5``) gives one false alarm about every
        465 points; use :func:`cusum_h_for_arl` to choose ``h`` for a wanted in-control ARL.
    reset
        Restart both sides from zero after each alarm.

    Returns
    -------
    CusumResult
        ``upper``/``lower`` in the units of ``x``, run lengths, alarms, the estimated shift start and
        new mean at the first alarm.

    Notes
    -----
    With :math:`K = k\\sigma` and :math:`H = h\\sigma`:

    .. math::
        C_t^+ = \\max(0,\\ C_{t-1}^+ + x_t - \\mu_0 - K),\\qquad
        C_t^- = \\max(0,\\ C_{t-1}^- + \\mu_0 - K - x_t),\\qquad C_0^\\pm = 0,

    signalling when :math:`C_t^+ > H` or :math:`C_t^- > H`. At the first signal the shift is
    estimated to have started :math:`N^+` observations earlier and the new mean is
    :math:`\\mu_0 + K + C^+_t / N^+_t` (lower side: :math:`\\mu_0 - K - C^-_t/N^-_t`).

    The recursion :math:`S_t = \\max(0, S_{t-1} + y_t)` is computed without a loop over points as
    :math:`S_t = Y_t - \\min(0, \\min_{u \\le t} Y_u)` with :math:`Y` the cumulative sum of :math:`y`.

    References
    ----------
    Page, E. S. (1954). Continuous inspection schemes. Biometrika 41, 100-115.
    Montgomery, D. C. Introduction to Statistical Quality Control, section 9.1 (Example 9.1).
    NIST/SEMATECH e-Handbook of Statistical Methods, section 6.3.2.3.
    """
    target = check_finite("target", target)
    sigma = check_positive("sigma", sigma)
    k = check_nonnegative("k", k)
    h = check_positive("h", h)
    reset = check_bool("reset", reset)
    arr = as_1d_float(x, "x")
    observed, xc, orig_idx = observed_points(arr)

    def increments(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        z = xc[a:b] - target
        z /= sigma
        return z - k, -z - k

    core = _cusum_core(increments, xc.size, h, reset, scale=sigma)

    def new_level(s: str, start: int, j: int, stat: float, run: int) -> float:
        step = sigma * (k + stat / run)
        return target + step if s == "upper" else target - step

    params = {"target": target, "sigma": sigma, "k": k, "h": h, "reset": reset}
    return _finish_cusum(core, observed, orig_idx, sigma, new_level, "tabular_cusum", params, arr.size)


def llr_steps(p0: float, p1: float) -> tuple[float, float]:
    """Log-likelihood ratio of one success and of one failure, ``p1`` against ``p0``."""
    return float(np.log(p1 / p0)), float(np.log1p(-p1) - np.log1p(-p0))


def _rate_cusum(
    successes: np.ndarray, trials: np.ndarray, *, p0: float, p1: float, h: float, reset: bool,
    method: str, n: int,
) -> CusumResult:
    """Shared body of the Bernoulli and binomial CUSUMs (``trials`` NaN or 0 marks a gap)."""
    a, b = llr_steps(p0, p1)
    keep = ~(np.isnan(successes) | np.isnan(trials) | (trials == 0))
    if keep.all():
        observed, orig_idx, s, t = None, None, successes, trials
    else:
        observed, orig_idx, s, t = keep, np.flatnonzero(keep), successes[keep], trials[keep]
    upward = p1 > p0

    def increments(i: int, j: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        llr = s[i:j] * a + (t[i:j] - s[i:j]) * b
        return (llr, None) if upward else (None, llr)

    core = _cusum_core(increments, s.size, h, reset)

    def new_level(side: str, start: int, j: int, stat: float, run: int) -> float:
        return float(s[start : j + 1].sum() / t[start : j + 1].sum())

    params = {"p0": p0, "p1": p1, "h": h, "reset": reset, "llr_success": a, "llr_failure": b}
    return _finish_cusum(core, observed, orig_idx, 1.0, new_level, method, params, n)


def bernoulli_cusum(
    flags: ArrayLike, *, p0: float, p1: float, h: float, reset: bool = False
) -> CusumResult:
    """Bernoulli CUSUM for a rate (refusal, escalation, hallucination) on individual outcomes.

    Parameters
    ----------
    flags
        0/1 or boolean outcomes, one per event; NaN/NA is skipped.
    p0
        In-control rate.
    p1
        Rate to detect. ``p1 > p0`` watches for a rise (statistic in ``upper``), ``p1 < p0`` for a
        fall (statistic in ``lower``), e.g. a refusal rate dropping.
    h
        Decision limit on the log-likelihood-ratio scale; see :func:`bernoulli_cusum_h_for_arl`.
    reset
        Restart from zero after each alarm.

    Notes
    -----
    .. math::
        B_t = \\max\\Big(0,\\ B_{t-1} + X_t\\ln\\frac{p_1}{p_0}
              + (1 - X_t)\\ln\\frac{1-p_1}{1-p_0}\\Big),\\qquad B_0 = 0,

    signalling when :math:`B_t > h`. This is Page's CUSUM of the log-likelihood ratio of
    :math:`p_1` against :math:`p_0`, the optimal (Moustakides 1986) detector of a step from
    :math:`p_0` to :math:`p_1`. The ``new_mean`` at the first alarm is the observed rate from the
    estimated shift start to the alarm.

    References
    ----------
    Reynolds, M. R. Jr. and Stoumbos, Z. G. (1999). A CUSUM chart for monitoring a proportion when
    inspecting continuously. Journal of Quality Technology 31(1), 87-108.
    """
    p0, p1 = check_rates(p0, p1)
    h = check_positive("h", h)
    reset = check_bool("reset", reset)
    arr = as_1d_float(flags, "flags")
    check_flags(arr, "flags")
    trials = np.where(np.isnan(arr), np.nan, 1.0)
    return _rate_cusum(arr, trials, p0=p0, p1=p1, h=h, reset=reset, method="bernoulli_cusum", n=arr.size)


def binomial_cusum(
    successes: ArrayLike, trials: ArrayLike, *, p0: float, p1: float, h: float, reset: bool = False
) -> CusumResult:
    """Binomial CUSUM on per-window counts (``successes`` out of ``trials`` in each window).

    Windows with ``trials`` equal to 0 or NaN are skipped (an empty window has no rate).

    Notes
    -----
    .. math::
        B_t = \\max\\Big(0,\\ B_{t-1} + s_t\\ln\\frac{p_1}{p_0}
              + (n_t - s_t)\\ln\\frac{1-p_1}{1-p_0}\\Big),

    the sum of the Bernoulli CUSUM increments of the window's events; signals when :math:`B_t > h`.
    With one trial per window it equals :func:`bernoulli_cusum`. Note that a limit designed for
    single events gives a different ARL (in windows) on window counts.

    References
    ----------
    Gan, F. F. (1993). An optimal design of CUSUM control charts for binomial counts. Journal of
    Applied Statistics 20(4), 445-460.
    """
    p0, p1 = check_rates(p0, p1)
    h = check_positive("h", h)
    reset = check_bool("reset", reset)
    s = as_1d_float(successes, "successes")
    t = as_1d_float(trials, "trials")
    if s.size != t.size:
        raise ValueError(f"`successes` and `trials` must have the same length, got {s.size} and {t.size}")
    with np.errstate(invalid="ignore"):
        bad = (t < 0) | (s < 0) | (s > t) | (np.isnan(s) & (t > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"`successes` must be in [0, trials] and `trials` >= 0, got successes={s[i]}, trials={t[i]} "
            f"at index {i}"
        )
    return _rate_cusum(s, t, p0=p0, p1=p1, h=h, reset=reset, method="binomial_cusum", n=s.size)


class CusumState:
    """Two one-sided CUSUMs fed one increment at a time: the state of the streaming CUSUM charts.

    ``step(inc_up, inc_lo)`` advances each watched side by :func:`lindley` from its current value;
    a NaN increment is a missing point (nothing moves, no alarm). With ``reset`` the sides restart
    from zero at the next observed point after an alarm, so the statistic read just after an alarm
    is the one that crossed ``h``.

    Parameters
    ----------
    h
        Decision limit (the sides signal when strictly above it).
    reset
        Restart after each alarm.
    sides
        Whether the upper and the lower side are watched.
    """

    def __init__(self, h: float, reset: bool, sides: tuple[bool, bool]) -> None:
        self._h, self._reset, self._sides = h, reset, sides
        self.u = self.l = 0.0
        self.nu = self.nl = 0
        self.n_seen = 0
        self.n_observed = 0
        self.n_alarms = 0
        self.alarm = False
        self.side: str | None = None
        self._restart = False

    def step(self, inc_up: float, inc_lo: float) -> None:
        """Add one point's increments (NaN: a missing point)."""
        self.n_seen += 1
        self.alarm, self.side = False, None
        if np.isnan(inc_up):
            return
        if self._restart:
            self.u = self.l = 0.0
            self.nu = self.nl = 0
            self._restart = False
        self.n_observed += 1
        if self._sides[0]:
            self.u = lindley(float(inc_up), self.u)
            self.nu = self.nu + 1 if self.u > 0 else 0
        if self._sides[1]:
            self.l = lindley(float(inc_lo), self.l)
            self.nl = self.nl + 1 if self.l > 0 else 0
        up, lo = self.u > self._h, self.l > self._h
        if up or lo:
            self.alarm = True
            self.side = "both" if up and lo else ("upper" if up else "lower")
            self.n_alarms += 1
            self._restart = self._reset


class CusumChart:
    """Streaming twin of :func:`tabular_cusum`: ``update(x)``, then read ``alarm``.

    Examples
    --------
    >>> chart = CusumChart(target=10.0, sigma=1.0, k=0.5, h=5.0)
    >>> for x in [10.2, 12.0, 12.5, 13.1]:
    ...     if chart.update(x).alarm:
    ...         print(chart.n_seen - 1, chart.side, round(chart.upper, 2))
    3 upper 6.1
    """

    def __init__(self, *, target: float, sigma: float = 1.0, k: float = 0.5, h: float = 5.0,
                 reset: bool = False) -> None:
        self.target = check_finite("target", target)
        self.sigma = check_positive("sigma", sigma)
        self.k = check_nonnegative("k", k)
        self.h = check_positive("h", h)
        self.reset = check_bool("reset", reset)
        self._s = CusumState(self.h, self.reset, (True, True))

    def update(self, x: float) -> "CusumChart":
        """Add one observation (NaN/None is skipped) and return the chart."""
        z = (scalar(x, "x") - self.target) / self.sigma
        self._s.step(z - self.k, -z - self.k)
        return self

    alarm = property(lambda self: self._s.alarm, doc="True when the last update signalled.")
    side = property(lambda self: self._s.side, doc="'upper', 'lower', 'both' or None.")
    n_seen = property(lambda self: self._s.n_seen, doc="Updates so far, missing values included.")
    n_observed = property(lambda self: self._s.n_observed)
    n_alarms = property(lambda self: self._s.n_alarms)
    upper = property(lambda self: self._s.u * self.sigma, doc="C+ in the units of x.")
    lower = property(lambda self: self._s.l * self.sigma, doc="C- in the units of x.")
    statistic = property(lambda self: max(self._s.u, self._s.l) * self.sigma)
    run_length_upper = property(lambda self: self._s.nu)
    run_length_lower = property(lambda self: self._s.nl)


class BernoulliCusumChart:
    """Streaming twin of :func:`bernoulli_cusum` (and of :func:`binomial_cusum` with ``trials``).

    ``update(flag)`` adds one 0/1 outcome; ``update(successes, trials)`` adds a window's counts.
    """

    def __init__(self, *, p0: float, p1: float, h: float, reset: bool = False) -> None:
        self.p0, self.p1 = check_rates(p0, p1)
        self.h = check_positive("h", h)
        self.reset = check_bool("reset", reset)
        self._a, self._b = llr_steps(self.p0, self.p1)
        self._up = self.p1 > self.p0
        self._s = CusumState(self.h, self.reset, (self._up, not self._up))

    def update(self, x: Any, trials: Any = None) -> "BernoulliCusumChart":
        """Add an outcome (0/1/bool; NaN/None skipped) or ``x`` successes out of ``trials``."""
        s = scalar(x, "x")
        if trials is None:
            if not (np.isnan(s) or s in (0.0, 1.0)):
                raise ValueError(f"`x` must be 0/1 (or a boolean, NaN) without `trials`, got {x!r}")
            t = 1.0
        else:
            t = scalar(trials, "trials")
            if not np.isnan(t) and not np.isnan(s) and not (t >= 0 and 0 <= s <= t):
                raise ValueError(f"need 0 <= x <= trials, got x={x!r}, trials={trials!r}")
        if np.isnan(s) or np.isnan(t) or t == 0:
            self._s.step(np.nan, np.nan)
            return self
        inc = s * self._a + (t - s) * self._b
        self._s.step(inc, inc)
        return self

    alarm = property(lambda self: self._s.alarm)
    side = property(lambda self: self._s.side)
    n_seen = property(lambda self: self._s.n_seen)
    n_observed = property(lambda self: self._s.n_observed)
    n_alarms = property(lambda self: self._s.n_alarms)
    upper = property(lambda self: self._s.u)
    lower = property(lambda self: self._s.l)
    statistic = property(lambda self: max(self._s.u, self._s.l), doc="The log-likelihood-ratio CUSUM.")
