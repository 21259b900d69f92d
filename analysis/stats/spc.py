"""Statistical process control: CUSUM (mean and Bernoulli/binomial), EWMA, Shewhart, rolling k-sigma.

Batch charts are pure functions returning frozen results that carry the whole path (statistic at every
step, limits, alarm indices, parameters); plots and reports draw from them. Each chart has a streaming
twin with ``update(x)`` and an ``alarm`` property that gives the same path on the same data. The
design helpers turn a wanted in-control average run length (ARL0, the mean number of points between
false alarms) into the chart's decision limit: "one false alarm a month at hourly windows" is
``arl0 = 720``.

Conventions shared by every chart

* Indices are 0-based positions in the input.
* Missing values (NaN, ``None``, ``pd.NA``) are skipped: the statistic is carried over unchanged, no
  alarm is raised at a missing point, and run lengths and EWMA ages count observed points only.
* A chart signals when its statistic is strictly beyond the limit (``C > H``, ``z > UCL``), as in
  Montgomery and the NIST handbook.
* Without ``reset`` every observed point beyond the limit is in ``alarms`` (Montgomery's example
  signals at periods 29 and 30). With ``reset=True`` the chart restarts from its initial state after
  each alarm, so ``alarms`` are the renewal points a monitor would raise, and their count over an
  in-control stream is about ``n / ARL0``.
"""

from __future__ import annotations

import datetime
import warnings
from collections import deque
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import linalg, optimize, signal, sparse, special, stats
from scipy.sparse.linalg import spsolve

__all__ = [
    "CusumResult",
    "EwmaResult",
    "ShewhartResult",
    "RollingSigmaResult",
    "tabular_cusum",
    "bernoulli_cusum",
    "binomial_cusum",
    "ewma_chart",
    "shewhart",
    "rolling_sigma_alarm",
    "CusumChart",
    "BernoulliCusumChart",
    "EwmaChart",
    "ShewhartChart",
    "cusum_arl",
    "cusum_h_for_arl",
    "ewma_arl",
    "ewma_L_for_arl",
    "bernoulli_cusum_arl",
    "bernoulli_cusum_h_for_arl",
]

# Chunk length of the vectorised CUSUM: bounds the magnitude of the running sums (and so their
# rounding error) whatever the series length, at ~150 numpy calls for 10 million points.
_CHUNK = 1 << 16
# First block length after a restart when ``reset=True``; doubled until an alarm is found.
_FIRST_BLOCK = 256


# --------------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------------


def _as_1d_float(x: ArrayLike, name: str) -> np.ndarray:
    if hasattr(x, "to_numpy"):
        arr = np.asarray(x.to_numpy(dtype="float64", na_value=np.nan), dtype="float64")
    else:
        try:
            arr = np.asarray(x, dtype="float64")
        except TypeError:  # object arrays holding pd.NA
            arr = pd.array(np.asarray(x, dtype=object).ravel(), dtype="Float64").to_numpy(
                dtype="float64", na_value=np.nan
            )
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be one-dimensional, got shape {arr.shape}")
    if arr.size and np.isinf(arr).any():
        i = int(np.flatnonzero(np.isinf(arr))[0])
        raise ValueError(f"`{name}` must hold finite values or NaN, got {arr[i]} at index {i}")
    return arr


def _check_finite(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a finite number, got {value!r}") from None
    if not np.isfinite(v):
        raise ValueError(f"`{name}` must be a finite number, got {value!r}")
    return v


def _check_positive(name: str, value: Any) -> float:
    v = _check_finite(name, value)
    if v <= 0:
        raise ValueError(f"`{name}` must be > 0, got {value!r}")
    return v


def _check_nonnegative(name: str, value: Any) -> float:
    v = _check_finite(name, value)
    if v < 0:
        raise ValueError(f"`{name}` must be >= 0, got {value!r}")
    return v


def _check_open_unit(name: str, value: Any) -> float:
    v = _check_finite(name, value)
    if not 0.0 < v < 1.0:
        raise ValueError(f"`{name}` must be in (0, 1), got {value!r}")
    return v


def _check_lam(lam: Any) -> float:
    v = _check_finite("lam", lam)
    if not 0.0 < v <= 1.0:
        raise ValueError(f"`lam` must be in (0, 1], got {lam!r}")
    return v


def _check_rates(p0: Any, p1: Any) -> tuple[float, float]:
    p0 = _check_open_unit("p0", p0)
    p1 = _check_open_unit("p1", p1)
    if p0 == p1:
        raise ValueError(f"`p1` must differ from `p0`, got p0 = p1 = {p0!r}")
    return p0, p1


def _check_arl0(arl0: Any) -> float:
    v = _check_finite("arl0", arl0)
    if not 1.0 < v <= 1e8:
        raise ValueError(f"`arl0` must be in (1, 1e8], got {arl0!r}")
    return v


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be True or False, got {value!r}")
    return bool(value)


def _check_flags(flags: np.ndarray, name: str) -> None:
    ok = np.isnan(flags) | (flags == 0) | (flags == 1)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise ValueError(f"`{name}` must hold 0/1 (or booleans, NaN), got {flags[i]} at index {i}")


def _check_rules(rules: Any) -> tuple[int, ...]:
    try:
        out = tuple(sorted({int(r) for r in rules}))
    except (TypeError, ValueError):
        raise ValueError(f"`rules` must be a collection of rule numbers 1-4, got {rules!r}") from None
    if not out or any(r not in (1, 2, 3, 4) for r in out):
        raise ValueError(f"`rules` must be a non-empty collection of rule numbers 1-4, got {rules!r}")
    return out


# --------------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------------


def _frozen(d: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class CusumResult:
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
    method: str
    params: Mapping[str, Any]
    n: int
    n_observed: int

    @property
    def statistic(self) -> np.ndarray:
        """The larger of the two one-sided statistics at every position."""
        return np.maximum(self.upper, self.lower)

    @property
    def first_alarm_side(self) -> str | None:
        return None if self.first_alarm is None else str(self.side[0])


@dataclass(frozen=True)
class EwmaResult:
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
    method: str
    params: Mapping[str, Any]
    n: int
    n_observed: int

    @property
    def statistic(self) -> np.ndarray:
        return self.z


@dataclass(frozen=True)
class ShewhartResult:
    """Individuals chart with the Western Electric rules.

    Attributes
    ----------
    values
        The input as floats (NaN where missing).
    center, ucl, lcl
        ``target`` and ``target +/- 3 sigma``.
    alarms
        Sorted unique indices where any selected rule fires (at the point completing the pattern).
    alarm_rule
        For each alarm, the lowest-numbered rule that fired there.
    side
        ``"upper"``, ``"lower"`` or ``"both"`` for each alarm.
    rule_alarms
        Rule number -> sorted indices where that rule fires.
    first_alarm, first_rule
        First alarm index and its rule, or None.
    """

    values: np.ndarray
    center: float
    ucl: float
    lcl: float
    alarms: np.ndarray
    alarm_rule: np.ndarray
    side: np.ndarray
    rule_alarms: Mapping[int, np.ndarray]
    first_alarm: int | None
    first_rule: int | None
    method: str
    params: Mapping[str, Any]
    n: int
    n_observed: int

    @property
    def statistic(self) -> np.ndarray:
        """Standardised values ``(x - target) / sigma``."""
        return (self.values - self.center) / self.params["sigma"]


@dataclass(frozen=True)
class RollingSigmaResult:
    """k-sigma alarm against a rolling baseline.

    Attributes
    ----------
    values
        The input as floats.
    baseline_mean, baseline_std
        Mean and sample standard deviation (ddof 1) of the baseline window before each point.
    upper, lower
        ``baseline_mean +/- k * baseline_std`` (NaN where the baseline has too few points).
    alarms, side, first_alarm
        Indices beyond the band on the selected side(s), ``"upper"``/``"lower"`` per alarm, the first.
    index
        The input's index when a pandas Series was given (``alarm_labels()`` maps alarms onto it).
    """

    values: np.ndarray
    baseline_mean: np.ndarray
    baseline_std: np.ndarray
    upper: np.ndarray
    lower: np.ndarray
    alarms: np.ndarray
    side: np.ndarray
    first_alarm: int | None
    method: str
    params: Mapping[str, Any]
    n: int
    n_observed: int
    index: pd.Index | None = field(default=None, repr=False)

    @property
    def statistic(self) -> np.ndarray:
        """Distance from the baseline mean in baseline standard deviations."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return (self.values - self.baseline_mean) / self.baseline_std

    def alarm_labels(self) -> pd.Index:
        """The index labels (e.g. timestamps) of the alarms."""
        if self.index is None:
            return pd.Index(self.alarms)
        return self.index[self.alarms]


# --------------------------------------------------------------------------------------------------
# vectorised engines (on the observed points only)
# --------------------------------------------------------------------------------------------------


def _lindley(y: np.ndarray, s0: float = 0.0, out: np.ndarray | None = None) -> np.ndarray:
    """``S_t = max(0, S_{t-1} + y_t)`` with ``S_0 = s0``, without a Python loop over points.

    The solution of this recursion is ``S_t = Y_t - min(-s0, min_{u<=t} Y_u)`` with ``Y`` the
    cumulative sum of ``y`` (call it on chunks so that ``Y`` stays small).
    """
    c = np.cumsum(y)
    m = np.minimum.accumulate(c)
    np.minimum(m, -s0, out=m)
    return np.subtract(c, m, out=out)


def _scan_with_reset(
    n: int,
    block_fn: Callable[[int, int, Any], tuple[np.ndarray, Any]],
    restart_state: Callable[[int], Any],
    init_state: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Run a chart that restarts after each alarm, a block at a time (no loop over points).

    ``block_fn(start, stop, state) -> (code, end_state)`` computes the chart over ``[start, stop)``
    from ``state``, writes its paths and returns an alarm code per point (0: none, 1: upper,
    2: lower, 3: both). Blocks double in length until one holds an alarm; the chart then restarts
    from ``restart_state(alarm_index)`` just after the alarm (what was written past the alarm is
    overwritten by the next blocks). Returns the alarm indices and codes.
    """
    alarms: list[int] = []
    codes: list[int] = []
    pos, state, block = 0, init_state, _FIRST_BLOCK
    while pos < n:
        stop = min(n, pos + block)
        code, end_state = block_fn(pos, stop, state)
        hit = np.flatnonzero(code)
        if hit.size == 0:
            pos, state, block = stop, end_state, min(2 * block, _CHUNK)
        else:
            j = pos + int(hit[0])
            alarms.append(j)
            codes.append(int(code[hit[0]]))
            # the next gap is likely similar to this one
            pos, state, block = j + 1, restart_state(j), max(_FIRST_BLOCK, min(2 * (j + 1 - pos), _CHUNK))
    return np.asarray(alarms, dtype=np.int64), np.asarray(codes, dtype=np.int8)


def _collect(m: int, block_fn: Callable[[int, int, Any], tuple[np.ndarray, Any]], init_state: Any
             ) -> tuple[np.ndarray, np.ndarray]:
    """Run a chart without restarts chunk by chunk; returns the alarm indices and codes."""
    idx, codes = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int8)]
    st = init_state
    for a in range(0, m, _CHUNK):
        code, st = block_fn(a, min(m, a + _CHUNK), st)
        hit = np.flatnonzero(code)
        idx.append(hit + a)
        codes.append(code[hit])
    return np.concatenate(idx), np.concatenate(codes)


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
    al_chunks: list[np.ndarray] = []

    def block(a: int, b: int, st: tuple[float, float, int, int]):
        yu, yl = increments(a, b)
        idx = np.arange(a, b, dtype=np.int64)
        code = np.zeros(b - a, dtype=np.int8)
        end = list(st)
        for i, (y, path, runs) in enumerate(((yu, up, n_up), (yl, lo, n_lo))):
            if y is None:
                continue
            s = _lindley(y, st[i])
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
        alarms, codes = _scan_with_reset(m, block, lambda j: (0.0, 0.0, j, j), init)
    else:
        alarms, codes = _collect(m, block, init)
    return up, lo, alarms, (codes & 1) > 0, (codes & 2) > 0, n_up, n_lo


def _expand(comp: np.ndarray, observed: np.ndarray | None, init: float | int) -> np.ndarray:
    """Map a path on the observed points back onto all positions, carrying values over gaps."""
    if observed is None:
        return comp
    pos = np.cumsum(observed) - 1
    out = np.full(observed.size, init, dtype=comp.dtype)
    has = pos >= 0
    out[has] = comp[pos[has]]
    return out


def _observed(x: np.ndarray) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """(mask or None when nothing is missing, compressed values, original index or None)."""
    miss = np.isnan(x)
    if not miss.any():
        return None, x, None
    obs = ~miss
    return obs, x[obs], np.flatnonzero(obs)


def _orig(idx: np.ndarray, orig_idx: np.ndarray | None) -> np.ndarray:
    return idx if orig_idx is None else orig_idx[idx]


def _sides(up: np.ndarray, lo: np.ndarray) -> np.ndarray:
    out = np.where(up & lo, "both", np.where(up, "upper", "lower"))
    return out.astype("<U5")


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
    side = _sides(up_al, lo_al)
    first = shift = new = None
    if comp_alarms.size:
        j = int(comp_alarms[0])
        s = "lower" if side[0] == "lower" else "upper"
        run = int(n_up[j] if s == "upper" else n_lo[j])
        stat = float(up[j] if s == "upper" else lo[j]) / scale
        start = j - run + 1
        first, shift = int(_orig(np.array([j]), orig_idx)[0]), int(_orig(np.array([start]), orig_idx)[0])
        new = float(new_level(s, start, j, stat, run))
    return CusumResult(
        upper=_expand(up, observed, 0.0),
        lower=_expand(lo, observed, 0.0),
        run_length_upper=_expand(n_up, observed, 0),
        run_length_lower=_expand(n_lo, observed, 0),
        alarms=_orig(comp_alarms, orig_idx),
        side=side,
        first_alarm=first,
        shift_start=shift,
        new_mean=new,
        method=method,
        params=_frozen(params),
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
    target = _check_finite("target", target)
    sigma = _check_positive("sigma", sigma)
    k = _check_nonnegative("k", k)
    h = _check_positive("h", h)
    reset = _check_bool("reset", reset)
    arr = _as_1d_float(x, "x")
    observed, xc, orig_idx = _observed(arr)

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


def _llr_steps(p0: float, p1: float) -> tuple[float, float]:
    """Log-likelihood ratio of one success and of one failure, p1 against p0."""
    return float(np.log(p1 / p0)), float(np.log1p(-p1) - np.log1p(-p0))


def _rate_cusum(
    successes: np.ndarray, trials: np.ndarray, *, p0: float, p1: float, h: float, reset: bool,
    method: str, n: int,
) -> CusumResult:
    """Shared body of the Bernoulli and binomial CUSUMs (``trials`` NaN or 0 marks a gap)."""
    a, b = _llr_steps(p0, p1)
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
    p0, p1 = _check_rates(p0, p1)
    h = _check_positive("h", h)
    reset = _check_bool("reset", reset)
    arr = _as_1d_float(flags, "flags")
    _check_flags(arr, "flags")
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
    p0, p1 = _check_rates(p0, p1)
    h = _check_positive("h", h)
    reset = _check_bool("reset", reset)
    s = _as_1d_float(successes, "successes")
    t = _as_1d_float(trials, "trials")
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


# --------------------------------------------------------------------------------------------------
# EWMA
# --------------------------------------------------------------------------------------------------


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
    target = _check_finite("target", target)
    sigma = _check_positive("sigma", sigma)
    lam = _check_lam(lam)
    L = _check_positive("L", L)
    exact_limits = _check_bool("exact_limits", exact_limits)
    reset = _check_bool("reset", reset)
    arr = _as_1d_float(x, "x")
    observed, xc, orig_idx = _observed(arr)
    e = xc - target
    e /= sigma
    m = e.size
    b, a = [lam], [1.0, lam - 1.0]
    if not reset:
        zs = signal.lfilter(b, a, e) if m else np.zeros(0)
        if exact_limits:
            width = _ewma_width(np.arange(1, m + 1, dtype=np.float64), lam, L, True)
            over, under = zs > width, zs < -width
        else:
            w = L * np.sqrt(lam / (2.0 - lam))
            width = np.full(m, w)
            over, under = zs > w, zs < -w
        comp_alarms = np.flatnonzero(over | under)
        codes = np.where(over[comp_alarms], 1, 2)
    else:
        zs, width = np.empty(m), np.empty(m)

        def block(a0: int, b0: int, st: tuple[float, int]):
            zb, _ = signal.lfilter(b, a, e[a0:b0], zi=[(1.0 - lam) * st[0]])
            wb = _ewma_width(np.arange(st[1] + 1, st[1] + 1 + (b0 - a0), dtype=np.float64), lam, L, exact_limits)
            zs[a0:b0], width[a0:b0] = zb, wb
            code = (zb > wb).astype(np.int8) + 2 * (zb < -wb).astype(np.int8)
            return code, (float(zb[-1]), st[1] + (b0 - a0))

        comp_alarms, codes = _scan_with_reset(m, block, lambda j: (0.0, 0), (0.0, 0))
    side = np.where(codes == 1, "upper", "lower").astype("<U5")
    init_w = np.nan if exact_limits else L * np.sqrt(lam / (2.0 - lam))
    z_full = _expand(zs, observed, 0.0)
    z_full *= sigma
    z_full += target
    w_full = _expand(width, observed, init_w)
    w_full *= sigma
    params = {"target": target, "sigma": sigma, "lam": lam, "L": L, "exact_limits": exact_limits, "reset": reset}
    alarms = _orig(comp_alarms, orig_idx)
    return EwmaResult(
        z=z_full,
        ucl=target + w_full,
        lcl=target - w_full,
        alarms=alarms,
        side=side,
        first_alarm=int(alarms[0]) if alarms.size else None,
        method="ewma",
        params=_frozen(params),
        n=arr.size,
        n_observed=m,
    )


# --------------------------------------------------------------------------------------------------
# Shewhart with Western Electric rules
# --------------------------------------------------------------------------------------------------

# rule -> (window length, points needed in the window, zone in sigma)
_WE_RULES = {1: (1, 1, 3.0), 2: (3, 2, 2.0), 3: (5, 4, 1.0), 4: (8, 8, 0.0)}


def _window_count(flag: np.ndarray, w: int) -> np.ndarray:
    """Number of True among the last ``w`` points (fewer at the start); w <= 8 shifted adds."""
    f = flag.view(np.int8)
    out = f.copy()
    for j in range(1, min(w, f.size)):
        out[j:] += f[:-j]
    return out


def shewhart(
    x: ArrayLike, *, target: float, sigma: float, rules: Sequence[int] = (1, 2, 3, 4)
) -> ShewhartResult:
    """Individuals (Shewhart) chart with the Western Electric zone rules.

    Parameters
    ----------
    x
        Observations; NaN is skipped (windows run over consecutive observed points).
    target, sigma
        Centre line and standard deviation of ``x`` in control.
    rules
        Which rules to apply:

        1. one point beyond 3 sigma;
        2. two out of three consecutive points beyond 2 sigma on the same side;
        3. four out of five consecutive points beyond 1 sigma on the same side;
        4. eight consecutive points on the same side of the centre line.

    Notes
    -----
    An alarm is reported at the point that completes the pattern. At the start of the series a
    pattern may be completed by fewer points than the window (two points beyond 2 sigma are "two
    out of three"). With all four rules the in-control ARL of individuals is about 92 (Champ and
    Woodall 1987), against 370 for rule 1 alone: the rules trade false alarms for sensitivity.

    References
    ----------
    Western Electric (1956). Statistical Quality Control Handbook.
    Montgomery, D. C. Introduction to Statistical Quality Control, section 5.3.6.
    Champ, C. W. and Woodall, W. H. (1987). Exact results for Shewhart control charts with
    supplementary runs rules. Technometrics 29(4), 393-399.
    """
    target = _check_finite("target", target)
    sigma = _check_positive("sigma", sigma)
    rules = _check_rules(rules)
    arr = _as_1d_float(x, "x")
    _, xc, orig_idx = _observed(arr)
    if orig_idx is None:
        orig_idx = np.arange(arr.size, dtype=np.int64)
    zc = (xc - target) / sigma
    m = zc.size
    fired_up = {r: np.zeros(m, bool) for r in rules}
    fired_lo = {r: np.zeros(m, bool) for r in rules}
    for r in rules:
        w, need, zone = _WE_RULES[r]
        fired_up[r] = _window_count(zc > zone, w) >= need
        fired_lo[r] = _window_count(zc < -zone, w) >= need
    any_up = np.zeros(m, bool)
    any_lo = np.zeros(m, bool)
    first_rule = np.zeros(m, np.int64)
    for r in reversed(rules):
        f = fired_up[r] | fired_lo[r]
        first_rule[f] = r
        any_up |= fired_up[r]
        any_lo |= fired_lo[r]
    comp = np.flatnonzero(any_up | any_lo)
    rule_alarms = {r: orig_idx[np.flatnonzero(fired_up[r] | fired_lo[r])] for r in rules}
    params = {"target": target, "sigma": sigma, "rules": rules}
    return ShewhartResult(
        values=arr,
        center=target,
        ucl=target + 3 * sigma,
        lcl=target - 3 * sigma,
        alarms=orig_idx[comp],
        alarm_rule=first_rule[comp],
        side=_sides(any_up[comp], any_lo[comp]),
        rule_alarms=_frozen(rule_alarms),
        first_alarm=int(orig_idx[comp[0]]) if comp.size else None,
        first_rule=int(first_rule[comp[0]]) if comp.size else None,
        method="shewhart_western_electric",
        params=_frozen(params),
        n=arr.size,
        n_observed=m,
    )


# --------------------------------------------------------------------------------------------------
# rolling k-sigma
# --------------------------------------------------------------------------------------------------


def _is_duration(window: Any) -> bool:
    return isinstance(window, (str, datetime.timedelta, pd.DateOffset, np.timedelta64)) or hasattr(window, "nanos")


def rolling_sigma_alarm(
    series: ArrayLike,
    *,
    window: int | str | pd.Timedelta,
    k: float = 2.0,
    min_periods: int | None = None,
    side: str = "both",
) -> RollingSigmaResult:
    """Alarm when a value is more than ``k`` standard deviations from its rolling baseline.

    Parameters
    ----------
    series
        Values (a pandas Series keeps its index for :meth:`RollingSigmaResult.alarm_labels`).
    window
        The baseline: the previous ``window`` observed points (an int >= 2), or, when ``series`` has
        a sorted DatetimeIndex, a duration such as ``"24h"``: the observed points in
        ``[t - window, t)``. The current point is never part of its own baseline.
    k
        Band half-width in baseline standard deviations.
    min_periods
        Fewest observed baseline points needed to judge a point (>= 2); default ``window`` for a
        count and 2 for a duration.
    side
        ``"both"``, ``"upper"`` (alarm on rises only) or ``"lower"`` (falls only).

    Notes
    -----
    .. math:: |x_t - \\bar x_{B(t)}| > k\\, s_{B(t)}

    with :math:`\\bar x_B` and :math:`s_B` (ddof 1) over the baseline :math:`B(t)`. Missing values
    are skipped, both as points to judge and inside baselines. Because the baseline follows the
    series, a slow drift moves the baseline along with it; use a CUSUM or EWMA against a fixed
    target for those. With ``k = 2`` about 4.6% of in-control Gaussian points alarm, so it is a
    sensitive, noisy alarm, not a calibrated one.
    """
    k = _check_positive("k", k)
    if side not in ("both", "upper", "lower"):
        raise ValueError(f"`side` must be 'both', 'upper' or 'lower', got {side!r}")
    index = series.index if isinstance(series, pd.Series) else None
    arr = _as_1d_float(series, "series")
    n = arr.size
    obs = ~np.isnan(arr)
    # centre on a value of the series: a constant series then has exactly zero spread
    ref = float(arr[obs][0]) if obs.any() else 0.0
    d = arr - ref
    if _is_duration(window):
        if index is None or not isinstance(index, pd.DatetimeIndex):
            raise ValueError(f"`window` {window!r} is a duration: `series` must be a Series with a DatetimeIndex")
        if not index.is_monotonic_increasing:
            raise ValueError("`series` must have a sorted DatetimeIndex for a duration `window`")
        try:
            if isinstance(window, (datetime.timedelta, np.timedelta64)):
                win = window
            else:
                win = pd.tseries.frequencies.to_offset(window)
            if pd.Timedelta(win) <= pd.Timedelta(0):
                raise ValueError
            window = pd.Timedelta(win) if not isinstance(window, str) else window
        except (ValueError, TypeError):
            raise ValueError(f"`window` must be a positive duration, got {window!r}") from None
        mp = 2 if min_periods is None else int(min_periods)
        if mp < 2:
            raise ValueError(f"`min_periods` must be >= 2, got {min_periods!r}")
        roll = pd.Series(d, index=index).rolling(window, min_periods=mp, closed="left")
        mean, std = roll.mean().to_numpy(), roll.std().to_numpy()
        win_param: Any = str(window)
    else:
        if isinstance(window, (bool, np.bool_)) or not isinstance(window, (int, np.integer)) or window < 2:
            raise ValueError(f"`window` must be an int >= 2 or a duration string, got {window!r}")
        window = int(window)
        mp = window if min_periods is None else int(min_periods)
        if not 2 <= mp <= window:
            raise ValueError(f"`min_periods` must be in [2, window={window}], got {min_periods!r}")
        dc = d[obs]
        roll = pd.Series(dc).rolling(window, min_periods=mp)
        # stats of the j observed points before: index j-1 of the rolling result; j = 0 -> none
        mean_c = np.concatenate([[np.nan], roll.mean().to_numpy()])
        std_c = np.concatenate([[np.nan], roll.std().to_numpy()])
        before = np.cumsum(obs) - obs  # observed points strictly before each position
        mean, std = mean_c[before], std_c[before]
        win_param = window
    with np.errstate(invalid="ignore"):
        hi = d > mean + k * std
        lo = d < mean - k * std
    if side == "upper":
        lo[:] = False
    elif side == "lower":
        hi[:] = False
    alarms = np.flatnonzero(hi | lo)
    base_mean = mean + ref
    params = {"window": win_param, "k": k, "min_periods": mp, "side": side}
    return RollingSigmaResult(
        values=arr,
        baseline_mean=base_mean,
        baseline_std=std,
        upper=base_mean + k * std,
        lower=base_mean - k * std,
        alarms=alarms,
        side=np.where(hi[alarms], "upper", "lower").astype("<U5"),
        first_alarm=int(alarms[0]) if alarms.size else None,
        method="rolling_sigma",
        params=_frozen(params),
        n=n,
        n_observed=int(obs.sum()),
        index=index,
    )


# --------------------------------------------------------------------------------------------------
# streaming twins
# --------------------------------------------------------------------------------------------------


def _scalar(x: Any, name: str) -> float:
    if x is None or x is pd.NA or x is pd.NaT:
        return np.nan
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a number or missing, got {x!r}") from None
    if np.isinf(v):
        raise ValueError(f"`{name}` must be finite or NaN, got {x!r}")
    return v


class _CusumState:
    """Two one-sided CUSUMs on increments, shared by the streaming CUSUM charts."""

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
            self.u = max(0.0, self.u + inc_up)
            self.nu = self.nu + 1 if self.u > 0 else 0
        if self._sides[1]:
            self.l = max(0.0, self.l + inc_lo)
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
        self.target = _check_finite("target", target)
        self.sigma = _check_positive("sigma", sigma)
        self.k = _check_nonnegative("k", k)
        self.h = _check_positive("h", h)
        self.reset = _check_bool("reset", reset)
        self._s = _CusumState(self.h, self.reset, (True, True))

    def update(self, x: float) -> "CusumChart":
        """Add one observation (NaN/None is skipped) and return the chart."""
        z = (_scalar(x, "x") - self.target) / self.sigma
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
        self.p0, self.p1 = _check_rates(p0, p1)
        self.h = _check_positive("h", h)
        self.reset = _check_bool("reset", reset)
        self._a, self._b = _llr_steps(self.p0, self.p1)
        self._up = self.p1 > self.p0
        self._s = _CusumState(self.h, self.reset, (self._up, not self._up))

    def update(self, x: Any, trials: Any = None) -> "BernoulliCusumChart":
        """Add an outcome (0/1/bool; NaN/None skipped) or ``x`` successes out of ``trials``."""
        s = _scalar(x, "x")
        if trials is None:
            if not (np.isnan(s) or s in (0.0, 1.0)):
                raise ValueError(f"`x` must be 0/1 (or a boolean, NaN) without `trials`, got {x!r}")
            t = 1.0
        else:
            t = _scalar(trials, "trials")
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


class EwmaChart:
    """Streaming twin of :func:`ewma_chart`."""

    def __init__(self, *, target: float, sigma: float, lam: float = 0.2, L: float = 3.0,
                 exact_limits: bool = True, reset: bool = False) -> None:
        self.target = _check_finite("target", target)
        self.sigma = _check_positive("sigma", sigma)
        self.lam = _check_lam(lam)
        self.L = _check_positive("L", L)
        self.exact_limits = _check_bool("exact_limits", exact_limits)
        self.reset = _check_bool("reset", reset)
        self._z = 0.0
        self._age = 0
        self._w = float(_ewma_width(np.array([0.0]), self.lam, self.L, False)[0]) if not exact_limits else np.nan
        self.n_seen = self.n_observed = self.n_alarms = 0
        self.alarm = False
        self.side: str | None = None
        self._restart = False

    def update(self, x: float) -> "EwmaChart":
        """Add one observation (NaN/None is skipped) and return the chart."""
        v = _scalar(x, "x")
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


class ShewhartChart:
    """Streaming twin of :func:`shewhart` (keeps the last eight observed points)."""

    def __init__(self, *, target: float, sigma: float, rules: Sequence[int] = (1, 2, 3, 4)) -> None:
        self.target = _check_finite("target", target)
        self.sigma = _check_positive("sigma", sigma)
        self.rules = _check_rules(rules)
        self._last: deque[float] = deque(maxlen=8)
        self.n_seen = self.n_observed = self.n_alarms = 0
        self.alarm = False
        self.side: str | None = None
        self.rule: int | None = None
        self.rules_fired: tuple[int, ...] = ()

    def update(self, x: float) -> "ShewhartChart":
        """Add one observation (NaN/None is skipped) and return the chart."""
        v = _scalar(x, "x")
        self.n_seen += 1
        self.alarm, self.side, self.rule, self.rules_fired = False, None, None, ()
        if np.isnan(v):
            return self
        self.n_observed += 1
        self._last.append((v - self.target) / self.sigma)
        pts = list(self._last)
        up = lo = False
        fired = []
        for r in self.rules:
            w, need, zone = _WE_RULES[r]
            win = pts[-w:]
            fu = sum(z > zone for z in win) >= need
            fl = sum(z < -zone for z in win) >= need
            if fu or fl:
                fired.append(r)
            up, lo = up or fu, lo or fl
        if fired:
            self.alarm, self.rule, self.rules_fired = True, fired[0], tuple(fired)
            self.side = "both" if up and lo else ("upper" if up else "lower")
            self.n_alarms += 1
        return self

    statistic = property(lambda self: self._last[-1] if self._last else np.nan,
                         doc="The last standardised value.")


# --------------------------------------------------------------------------------------------------
# design: average run lengths and limits
# --------------------------------------------------------------------------------------------------

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
    k = _check_nonnegative("k", k)
    h = _check_positive("h", h)
    shift = _check_finite("shift", shift)
    two_sided = _check_bool("two_sided", two_sided)

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
    arl0 = _check_arl0(arl0)
    k = _check_nonnegative("k", k)
    two_sided = _check_bool("two_sided", two_sided)
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
    lam = _check_lam(lam)
    L = _check_positive("L", L)
    shift = _check_finite("shift", shift)
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
    arl0 = _check_arl0(arl0)
    lam = _check_lam(lam)
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
    p0, p1 = _check_rates(p0, p1)
    h = _check_positive("h", h)
    p = p0 if p is None else _check_open_unit("p", p)
    a, b = _llr_steps(p0, p1)
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

    Solves ``bernoulli_cusum_arl(h, p0=p0, p1=p1) = arl0``; see that function for the method.
    """
    arl0 = _check_arl0(arl0)
    p0, p1 = _check_rates(p0, p1)
    return _solve_increasing(lambda h: bernoulli_cusum_arl(h, p0=p0, p1=p1), arl0, 1e-3, 1.0)
