"""The onset: change-point detection (:func:`analysis.stats.changepoint.detect`, binomial cost for
rates, Gaussian mean cost for means) on a metric's windowed series; the onset is the first change
point after which the metric stays away from its baseline level in the bad direction
(:func:`detect_onset`, returning an :class:`Onset`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from analysis._common import iso_z
from analysis.numbers import finite
from analysis.params import format_duration
from analysis.stats import changepoint
from analysis.stats.checks import check_alternative
from analysis.stats.compare import compare_windows, pooled_level

__all__ = ["OnsetSearch", "MIN_EFFECT", "Onset", "detect_onset", "segment_dict", "segment_label", "TOO_FEW_WINDOWS", "TOO_FEW_DATA"]

#: The reason of an onset whose series has too few non-empty windows to search.
TOO_FEW_WINDOWS = "too few non-empty windows"
#: What every section of the report says when the data are too few to answer (:attr:`Onset.too_few_data`).
TOO_FEW_DATA = "too few data to answer"

# ----------------------------------------------------------------------------------------------
# onset: change-point detection on a windowed series
# ----------------------------------------------------------------------------------------------



def segment_dict(segment_column: str, segment: str) -> dict[str, str]:
    """``{column: value}`` for a segment, ``{}`` for all traffic."""
    if segment_column in ("__all__", "", None):
        return {}
    return {str(segment_column): str(segment)}


def segment_label(segment_column: str, segment: str) -> str:
    if segment_column in ("__all__", "", None):
        return "all traffic"
    return f"{segment_column}={segment}"


@dataclass(frozen=True)
class Onset:
    """When the metric started to move, in which segment, and how strongly.

    ``ts`` is None when no significant, persistent change was found. ``effect`` is standardized
    (Cohen's h for rates, Cohen's d for means: current minus baseline); ``strength`` is its
    absolute value in the bad direction (0 when the metric moved the harmless way).
    """

    ts: pd.Timestamp | None
    interval: tuple[pd.Timestamp, pd.Timestamp] | None
    metric: str
    kind: str
    segment_column: str
    segment: str
    alternative: str
    baseline_level: float
    current_level: float
    effect: float
    strength: float
    statistic: float
    pvalue: float
    n_baseline: float
    n_current: float
    change_points: tuple[pd.Timestamp, ...]
    method: str
    penalty: float
    significant: bool
    reason: str = ""
    series: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    changepoint: Any = field(default=None, repr=False, compare=False)
    conditions: dict[str, list[str]] | None = None

    @property
    def segment_dict(self) -> dict[str, Any]:
        """``{column: value}`` (a list of values where the slice holds several), ``{}`` for all traffic."""
        if self.conditions:
            return {c: (v[0] if len(v) == 1 else list(v)) for c, v in self.conditions.items()}
        return segment_dict(self.segment_column, self.segment)

    @property
    def too_few_data(self) -> bool:
        """No onset because the series has too few non-empty windows to search: the data are too few to
        answer any of the four questions (not "no incident")."""
        return self.ts is None and self.reason.startswith(TOO_FEW_WINDOWS)

    @property
    def label(self) -> str:
        if self.conditions:
            return ", ".join(f"{c}={v[0]}" if len(v) == 1 else f"{c} in [{', '.join(v)}]" for c, v in self.conditions.items())
        return segment_label(self.segment_column, self.segment)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ts": iso_z(self.ts),
            "metric": self.metric,
            "segment": self.segment_dict,
            "method": self.method,
            "interval": None if self.interval is None else [iso_z(self.interval[0]), iso_z(self.interval[1])],
            "alternative": self.alternative,
            "baseline": finite(self.baseline_level),
            "current": finite(self.current_level),
            "effect": finite(self.effect),
            "pvalue": finite(self.pvalue),
            "change_points": [iso_z(t) for t in self.change_points],
            "significant": bool(self.significant),
            "reason": self.reason,
        }


def _bad_strength(effect: float, alternative: str) -> float:
    if not np.isfinite(effect):
        return 0.0
    if alternative == "greater":
        return max(effect, 0.0)
    if alternative == "less":
        return max(-effect, 0.0)
    return abs(effect)


#: Smallest standardized effect an onset must have: Cohen's "small" effect for h (0.2) and a
#: slightly larger one for d on noisy continuous scores.
MIN_EFFECT: dict[str, float] = {"rate": 0.2, "mean": 0.3}


@dataclass(frozen=True)
class OnsetSearch:
    """How the onset is searched for: ``penalty`` and ``min_size`` of the change-point search
    (:func:`analysis.stats.changepoint.detect`), the smallest standardized effect ``min_effect``
    (|h| for rates, |d| for means; default :data:`MIN_EFFECT`), and the significance: the
    baseline/current comparison must have ``pvalue < alpha / n_tests`` (Bonferroni over the metrics
    and segments scanned)."""

    penalty: Any = "auto"
    min_size: int = 3
    min_effect: float | None = None
    alpha: float = 0.05
    n_tests: int = 1


def _usable_windows(series: pd.DataFrame, kind: str, end: Any) -> pd.DataFrame:
    """The non-empty windows with a finite value, before ``end``."""
    s = series.copy()
    if end is not None:
        s = s[s["window_start"] < pd.Timestamp(end)]
    s = s[pd.to_numeric(s["n"], errors="coerce").fillna(0).to_numpy(float) > 0].reset_index(drop=True)
    value_col = "successes" if kind == "rate" else "mean"
    return s[np.isfinite(pd.to_numeric(s[value_col], errors="coerce").to_numpy(float))].reset_index(drop=True)


def _persistent(s: pd.DataFrame, kind: str, pre: np.ndarray, later: Sequence[np.ndarray], sign: float, min_eff: float) -> bool:
    """Every later segment stays on the bad side of the baseline: the first by three quarters of the
    smallest effect (a 5% canary is not yet the incident), the others by half of it."""
    for k_, si in enumerate(later):
        e_i = compare_windows(s, kind, pre, si)[2]
        floor = 0.75 * min_eff if k_ == 0 else min_eff / 2
        if not np.isfinite(e_i) or sign * e_i < floor:
            return False
    return True


def _onset_window(s: pd.DataFrame, kind: str, res: Any, j: int, bounds: list[int], w: pd.Timedelta) -> tuple[int, tuple | None]:
    """The onset's window index and its interval of times, for change point ``j``.

    The knot is where a ramp starts (noisy when its first hours move few requests), the change point
    where the level has clearly jumped (late for a ramp): report midway. A knot after the change
    point means the jump came before the trend (a canary, a staircase fit of a ramp): the knot
    locates the trend's start.
    """
    cp, starts = bounds[j + 1], s["window_start"]
    knot, step_like = _ramp_start(s, kind, cp, w, stop=bounds[j + 2] - 1 if j + 2 < len(bounds) else len(s) - 2)
    if step_like or knot >= cp:
        start = knot
    else:
        mid = starts.iat[knot] + (starts.iat[cp] - starts.iat[knot]) / 2
        start = int(np.clip(np.searchsorted(starts.to_numpy(), mid), 0, len(s) - 1))
    lo_hi = None
    if getattr(res, "intervals", None) is not None and len(res.intervals) > j:
        lo, hi = res.intervals[j]
        lo = int(np.clip(min(lo, knot, start), 0, len(s) - 1))
        hi = int(np.clip(max(hi, knot, start), 0, len(s) - 1))
        lo_hi = (pd.Timestamp(starts.iat[lo]), pd.Timestamp(starts.iat[hi]) + w)
    return start, lo_hi


def _first_persistent(s: pd.DataFrame, kind: str, res: Any, empty: Onset, w: pd.Timedelta, alternative: str,
                      search: OnsetSearch) -> Onset:
    """The first change point after which the metric stays on the bad side, significantly; else the
    strongest candidate, not significant."""
    cps = [int(c) for c in res.change_points]
    bounds = [0, *cps, len(s)]
    seg_idx = [np.arange(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
    all_idx = np.arange(len(s))
    min_eff = MIN_EFFECT[kind] if search.min_effect is None else float(search.min_effect)
    best_fallback: tuple[float, Onset] | None = None
    for j, cp in enumerate(cps):
        pre = all_idx[:cp]
        base, cur, eff, stat, pv, n0, n1 = compare_windows(s, kind, pre, all_idx[cp:])
        strength = _bad_strength(eff, alternative)
        if not np.isfinite(eff):
            continue
        sign = np.sign(eff) if alternative == "two-sided" else (1.0 if alternative == "greater" else -1.0)
        persistent = _persistent(s, kind, pre, seg_idx[j + 1:], sign, min_eff)
        significant = bool(pv < search.alpha / max(search.n_tests, 1))
        if strength >= min_eff and persistent and significant:
            start, lo_hi = _onset_window(s, kind, res, j, bounds, w)
            return _replace(empty, ts=pd.Timestamp(s["window_start"].iat[start]), interval=lo_hi, baseline_level=base,
                            current_level=pooled_level(s, kind, seg_idx[-1])[0], effect=eff, strength=strength, statistic=stat,
                            pvalue=pv, n_baseline=n0, n_current=n1, significant=True,
                            reason=f"first persistent change in the bad direction of {len(cps)} change point(s)")
        if best_fallback is None or strength > best_fallback[0]:
            best_fallback = (strength, _replace(empty, baseline_level=base, current_level=cur, effect=eff, strength=strength,
                                                statistic=stat, pvalue=pv, n_baseline=n0, n_current=n1))
    reason = "no change point moved the metric persistently in the bad direction"
    return _replace(best_fallback[1] if best_fallback is not None else empty, reason=reason)


def detect_onset(series: pd.DataFrame, *, metric: str, kind: str, segment: tuple[str, str] = ("__all__", "__all__"),
                 alternative: str = "two-sided", window: str | pd.Timedelta = "1h", end: Any = None,
                 search: OnsetSearch = OnsetSearch()) -> Onset:
    """Find when ``metric`` started to move in one segment.

    Parameters
    ----------
    series
        ``series.rate_series`` (``window_start, n, successes, rate``) or ``series.mean_series``
        (``window_start, n, mean, std``) output. Empty windows (``n == 0``) are skipped.
    metric, kind
        Metric name and ``"rate"`` or ``"mean"``.
    segment
        ``(segment column, segment)`` the series belongs to (for the report).
    alternative
        Which way is bad: ``"greater"``, ``"less"`` or ``"two-sided"``.
    window
        Window length (to turn the change-point interval into times).
    end
        Ignore windows starting at or after ``end`` (the report time).
    search
        The change-point search's penalty and minimum size, the smallest effect and the significance
        (:class:`OnsetSearch`).

    Returns
    -------
    Onset

    Notes
    -----
    With change points :math:`\\tau_1 < \\dots < \\tau_m`, the onset is the first :math:`\\tau_j`
    such that every segment from :math:`\\tau_j` to the end lies on the bad side of the pooled
    level before :math:`\\tau_j` by at least half of ``min_effect`` (the first of them by three
    quarters), and the pooled level after :math:`\\tau_j` differs from the level before by at
    least ``min_effect`` with :math:`p < \\alpha / n_{tests}` (two-proportion z test for rates,
    Welch's t test for means). Persistence is what separates an incident from a daily cycle: a
    cycle's segments return to the baseline level, an incident's do not (until it is mitigated).
    A gradual change (a rollout ramp) is located twice, by the change point and by the knot of a
    broken-stick fit (:func:`_ramp_start`); the onset is reported midway between them and the
    interval widened to hold both; for a step they coincide.
    """
    check_alternative(alternative)
    if kind not in ("rate", "mean"):
        raise ValueError(f"`kind` must be 'rate' or 'mean', got {kind!r}")
    w = pd.Timedelta(window)
    s = _usable_windows(series, kind, end)
    cost = "binomial" if kind == "rate" else "normal_mean"
    empty = Onset(
        ts=None, interval=None, metric=metric, kind=kind, segment_column=str(segment[0]), segment=str(segment[1]),
        alternative=alternative, baseline_level=np.nan, current_level=np.nan, effect=np.nan, strength=0.0,
        statistic=np.nan, pvalue=np.nan, n_baseline=0.0, n_current=0.0, change_points=(),
        method=f"PELT change points ({cost} cost) on {format_duration(w)} windows", penalty=np.nan, significant=False, reason="", series=s,
    )
    if len(s) < 2 * search.min_size + 1:
        return _replace(empty, reason=f"{TOO_FEW_WINDOWS} ({len(s)} window{'' if len(s) == 1 else 's'} of {format_duration(w)}; the search needs {2 * search.min_size + 1})")
    x = pd.to_numeric(s["successes" if kind == "rate" else "mean"], errors="coerce").to_numpy(float)
    kwargs: dict[str, Any] = {"method": "pelt", "cost": cost, "penalty": search.penalty, "min_size": search.min_size}
    if kind == "rate":
        kwargs["trials"] = s["n"].to_numpy(float)
    res = changepoint.detect(x, **kwargs)
    cp_times = tuple(pd.Timestamp(s["window_start"].iat[int(c)]) for c in res.change_points)
    empty = _replace(empty, change_points=cp_times, penalty=float(getattr(res, "penalty", np.nan)), changepoint=res)
    if not cp_times:
        return _replace(empty, reason="no change point")
    return _first_persistent(s, kind, res, empty, w, alternative, search)


def _ramp_start(s: pd.DataFrame, kind: str, cp: int, w: pd.Timedelta, stop: int | None = None,
                horizon: pd.Timedelta = pd.Timedelta(days=4)) -> tuple[int, bool]:
    r"""Where the change began and whether it is a step or a ramp: a jump-plus-ramp fit.

    A change point marks where the fitted *level* jumps; a gradual change (a rollout ramp, a
    growing share of bad traffic) starts earlier. Over the windows from ``horizon`` before the
    change point to the end, the count-weighted fit of

    .. math:: y_t = a + c\,[t \ge \tau] + b\,\min\big((t - \tau)_+,\ e - \tau\big)

    (a jump and a ramp at the same knot :math:`\tau`, the ramp ending at :math:`e` or still under
    way, :math:`e = \infty`) is computed for every knot within ``horizon`` of ``cp`` (not after
    ``stop``) and a grid of ends; the knot with the best fit (binomial deviance for rates, the
    residual sum of squares for means) is returned, with ``step=True`` when the jump :math:`c` is
    larger than what the ramp adds (a step, with or without a trend after it) and ``False`` for a
    ramp.

    References
    ----------
    Hinkley, D. V. (1971). Inference in two-phase regression. JASA 66(336), 736-743.
    """
    n = pd.to_numeric(s["n"], errors="coerce").to_numpy(float)
    if kind == "rate":
        y = pd.to_numeric(s["successes"], errors="coerce").to_numpy(float) / np.where(n > 0, n, np.nan)
    else:
        y = pd.to_numeric(s["mean"], errors="coerce").to_numpy(float)
    t = ((s["window_start"] - s["window_start"].iat[0]) / w).to_numpy(float)
    ok = np.isfinite(y) & (n > 0)
    if ok.sum() < 6 or cp <= 1:
        return cp, True
    hz = horizon / w
    idx = np.flatnonzero(ok & (t >= t[cp] - hz))
    if idx.size < 6:
        return cp, True
    tt, yy, ww = t[idx], y[idx], n[idx]
    last = cp if stop is None else max(cp, min(stop, len(t) - 2))
    starts = np.arange(1, last + 1)
    starts = starts[(t[starts] >= t[cp] - hz) & (t[starts] <= t[cp] + hz) & (t[starts] > tt.min()) & (t[starts] < tt.max())]
    if starts.size == 0:
        return cp, True
    best, best_loss, best_step = cp, np.inf, True
    ends = np.r_[np.unique(np.quantile(tt[tt > t[cp]], np.linspace(0, 1, 12))) if (tt > t[cp]).any() else [], np.inf]
    combos = [(j, e) for j in starts for e in ends if e > t[j]]
    cj = np.array([c[0] for c in combos])
    ce = np.array([c[1] for c in combos])
    for c0 in range(0, cj.size, 128):
        js = cj[c0 : c0 + 128]
        tau = t[js][:, None]
        span = (ce[c0 : c0 + 128] - t[js])[:, None]
        X = np.stack([np.ones((js.size, tt.size)), (tt[None, :] >= tau).astype(float),
                      np.minimum(np.maximum(tt[None, :] - tau, 0.0), span)], axis=2)
        XtW = X * ww[None, :, None]
        A = np.einsum("kni,knj->kij", XtW, X)
        bvec = np.einsum("kni,n->ki", XtW, yy)
        A += np.eye(3)[None] * 1e-9
        coef = np.linalg.solve(A, bvec[..., None])[..., 0]
        fit = np.einsum("kni,ki->kn", X, coef)
        if kind == "rate":
            q = np.clip(fit, 1e-6, 1 - 1e-6)
            k_ = yy * ww
            with np.errstate(divide="ignore", invalid="ignore"):
                t1 = np.where(k_ > 0, k_ * np.log(np.where(k_ > 0, yy, 1.0)[None, :] / q), 0.0)
                t2 = np.where(ww - k_ > 0, (ww - k_) * np.log(np.where(ww - k_ > 0, 1 - yy, 1.0)[None, :] / (1 - q)), 0.0)
            loss = 2 * (t1 + t2).sum(axis=1)
        else:
            loss = (ww[None, :] * (yy[None, :] - fit) ** 2).sum(axis=1)
        k = int(np.argmin(loss))
        if loss[k] < best_loss - 1e-12:
            c, b = coef[k, 1], coef[k, 2]
            best, best_loss = int(js[k]), float(loss[k])
            best_step = bool(abs(c) >= abs(b) * max(min(tt.max(), ce[c0 + k]) - t[js[k]], 0.0))
    return best, best_step


def _replace(obj: Any, **kw: Any) -> Any:
    return dataclasses.replace(obj, **kw)

