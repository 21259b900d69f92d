"""What changed? The onset, and every change event scored on evidence.

Three steps, each a pure function on small tables:

1. **Onset** (:func:`detect_onset`, :func:`scan_onsets`): change-point detection
   (:func:`analysis.stats.changepoint.detect`, binomial cost for rates, Gaussian mean cost for means) on
   the metric's windowed series per segment; the onset is the first change point after which the
   metric stays away from its baseline level in the bad direction. ``scan_onsets`` runs it over
   every metric and segment and ranks the changes by standardized effect.
2. **Decomposition** (:func:`decompose`): the aggregate change between two periods split into a
   mix (composition) effect and a within-segment (rate) effect, with a Simpson's-paradox check.
3. **Candidates** (:func:`infer_changes`, :func:`score_candidates`): every logged change, plus the
   versions that changed in the logs without a change event, scored on evidence: timing against the
   onset and its interval, the metric stratified by the change's own column (concurrently, so that
   time does not confound it), a step in the metric at the change, query-mix drift starting at the
   change, a growing share of the new value, version staleness (index against corpus).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd

from analysis._common import iso_z
from analysis.stats.drift import cohen_h
from analysis.engine import MISSING, Engine, Where, as_engine
from analysis.engine.query import epoch_us
from analysis.schema import VERSION_COLUMNS
from analysis.stats import changepoint
from analysis.stats import drift as drift_mod
from analysis.stats.compare import compare_windows, pooled_level
from analysis.investigation.own_time import SEPARATION_LOGLIK, StepProfile, own_step, step_profile

__all__ = [
    "BAD_DIRECTION",
    "MIN_EFFECT",
    "Onset",
    "detect_onset",
    "Decomposition",
    "decompose",
    "infer_changes",
    "StratifiedResult",
    "stratified_comparison",
    "step_test",
    "staleness",
    "score_candidates",
    "Q2Result",
    "segment_dict",
    "segment_label",
]


# ----------------------------------------------------------------------------------------------
# decomposition of an aggregate change: mix shift against within-segment change
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decomposition:
    """Kitagawa decomposition of the change of an aggregate rate (or mean) between two periods.

    Attributes
    ----------
    statistic
        The aggregate change :math:`R_1 - R_0`.
    mix, within
        Composition (mix-shift) and rate (within-segment) effects; ``mix + within == statistic``.
    mix_share
        :math:`|mix| / (|mix| + |within|)`: how much of the movement is traffic moving between
        segments (NaN when nothing moved).
    simpson
        True when every segment with data in both periods moved one way and the aggregate moved
        the other way (Simpson's paradox).
    reversal
        True when the aggregate and the within-segment effect have opposite signs (the aggregate
        tells the wrong story about behaviour inside the segments).
    by_segment
        One row per segment: ``segment``, ``n_baseline``, ``n_current``, ``share_baseline``,
        ``share_current``, ``value_baseline``, ``value_current``, ``mix``, ``within``.
    """

    statistic: float
    mix: float
    within: float
    mix_share: float
    simpson: bool
    reversal: bool
    aggregate_baseline: float
    aggregate_current: float
    by_segment: pd.DataFrame
    segment_column: str = ""
    metric: str = ""
    method: str = "Kitagawa (1955) two-factor decomposition"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (report.json's ``q2_what_changed.decomposition``)."""
        return {
            "segment_column": self.segment_column, "metric": self.metric, "statistic": self.statistic, "mix": self.mix,
            "within": self.within, "mix_share": self.mix_share, "simpson": self.simpson, "reversal": self.reversal,
            "aggregate_baseline": self.aggregate_baseline, "aggregate_current": self.aggregate_current,
            "summary": self.summary(), "method": self.method, "by_segment": self.by_segment.to_dict("records"),
        }

    def summary(self) -> str:
        """One line for the report."""
        parts = [
            f"{self.metric or 'metric'} moved {self.statistic:+.4g} by {self.segment_column or 'segment'}: "
            f"mix shift {self.mix:+.4g}, within-segment {self.within:+.4g}"
        ]
        if self.simpson:
            parts.append("Simpson's paradox: every segment moved the other way than the aggregate")
        elif self.reversal:
            parts.append("the within-segment change and the aggregate change have opposite signs")
        return "; ".join(parts)


def decompose(
    baseline: pd.DataFrame,
    current: pd.DataFrame,
    *,
    segment_column: str = "",
    metric: str = "",
    min_size: int = 1,
) -> Decomposition:
    """Split the change of an aggregate rate into mix shift and within-segment change.

    Parameters
    ----------
    baseline, current
        One row per segment with columns ``segment``, ``n`` (weight: requests with a label) and
        ``value`` (the segment's rate or mean in that period).
    segment_column, metric
        Names kept for the report.
    min_size
        Segments need at least this many requests in *both* periods to take part in the Simpson
        check (the decomposition itself uses every segment).

    Returns
    -------
    Decomposition

    Notes
    -----
    With segment shares :math:`w_{i}` and rates :math:`r_{i}` in the baseline (0) and current (1)
    period, the aggregate :math:`R = \\sum_i w_i r_i` changes by

    .. math::
        R_1 - R_0 = \\underbrace{\\sum_i (w_{1i} - w_{0i})\\,\\frac{r_{0i} + r_{1i}}{2}}_{\\text{mix}}
                  + \\underbrace{\\sum_i (r_{1i} - r_{0i})\\,\\frac{w_{0i} + w_{1i}}{2}}_{\\text{within}}

    exactly (Kitagawa's symmetric two-factor decomposition, the Oaxaca-Blinder decomposition for
    group means with averaged weights). A segment that exists in one period only (new traffic)
    has no rate in the other: its rate is carried over (:math:`r_{0i} := r_{1i}`), so all of its
    contribution is mix shift -- new traffic arriving is a mix change, not a behaviour change.

    References
    ----------
    Kitagawa, E. M. (1955). Components of a difference between two rates. JASA 50(272), 1168-1194.
    Oaxaca, R. (1973). Male-female wage differentials in urban labor markets. Int. Econ. Rev. 14(3).
    Simpson, E. H. (1951). The interpretation of interaction in contingency tables. JRSS B 13(2).
    """
    for name, fr in (("baseline", baseline), ("current", current)):
        missing = {"segment", "n", "value"} - set(fr.columns)
        if missing:
            raise ValueError(f"`{name}` must have columns segment, n, value; missing {sorted(missing)}")
    b = baseline[["segment", "n", "value"]].copy()
    c = current[["segment", "n", "value"]].copy()
    b["segment"] = b["segment"].astype(str)
    c["segment"] = c["segment"].astype(str)
    m = b.merge(c, on="segment", how="outer", suffixes=("_baseline", "_current"))
    n0 = pd.to_numeric(m["n_baseline"], errors="coerce").fillna(0.0).to_numpy(float)
    n1 = pd.to_numeric(m["n_current"], errors="coerce").fillna(0.0).to_numpy(float)
    r0 = pd.to_numeric(m["value_baseline"], errors="coerce").to_numpy(float)
    r1 = pd.to_numeric(m["value_current"], errors="coerce").to_numpy(float)
    if (n0 < 0).any() or (n1 < 0).any():
        raise ValueError("`n` must be non-negative")
    if n0.sum() <= 0 or n1.sum() <= 0:
        raise ValueError("both periods need at least one request with a label")
    r0 = np.where(n0 > 0, r0, np.nan)
    r1 = np.where(n1 > 0, r1, np.nan)
    # carry the rate of a segment over to the period where it has no traffic
    r0f = np.where(np.isfinite(r0), r0, r1)
    r1f = np.where(np.isfinite(r1), r1, r0)
    r0f = np.nan_to_num(r0f)
    r1f = np.nan_to_num(r1f)
    w0, w1 = n0 / n0.sum(), n1 / n1.sum()
    mix_i = (w1 - w0) * (r0f + r1f) / 2
    within_i = (r1f - r0f) * (w0 + w1) / 2
    agg0 = float(np.sum(w0 * r0f))
    agg1 = float(np.sum(w1 * r1f))
    total = agg1 - agg0
    mix, within = float(mix_i.sum()), float(within_i.sum())
    denom = abs(mix) + abs(within)
    mix_share = abs(mix) / denom if denom > 0 else float("nan")
    both = (n0 >= max(min_size, 1)) & (n1 >= max(min_size, 1))
    d = np.sign(r1[both] - r0[both])
    eps = 1e-12
    simpson = bool(
        both.sum() >= 2
        and abs(total) > eps
        and (np.all(d > 0) or np.all(d < 0))
        and np.sign(total) == -d[0]
    )
    reversal = bool(abs(total) > eps and abs(within) > eps and np.sign(total) != np.sign(within))
    by = pd.DataFrame(
        {
            "segment": m["segment"].astype(str),
            "n_baseline": n0,
            "n_current": n1,
            "share_baseline": w0,
            "share_current": w1,
            "value_baseline": r0,
            "value_current": r1,
            "mix": mix_i,
            "within": within_i,
        }
    )
    by = by.sort_values("segment", kind="stable").reset_index(drop=True)
    return Decomposition(
        statistic=total,
        mix=mix,
        within=within,
        mix_share=mix_share,
        simpson=simpson,
        reversal=reversal,
        aggregate_baseline=agg0,
        aggregate_current=agg1,
        by_segment=by,
        segment_column=segment_column,
        metric=metric,
    )


# ----------------------------------------------------------------------------------------------
# onset: change-point detection on a windowed series
# ----------------------------------------------------------------------------------------------

#: The direction in which each known metric gets worse ("both" when either way is an incident).
BAD_DIRECTION: dict[str, str] = {
    "refused": "both",
    "escalated": "up",
    "hallucinated": "up",
    "correct": "down",
    "retrieval_top1_score": "down",
    "retrieval_mean_score": "down",
    "quality_score": "down",
    "confidence": "down",
    "latency_ms": "up",
}


def _check_direction(direction: str) -> str:
    if direction not in ("up", "down", "both"):
        raise ValueError(f"`direction` must be 'up', 'down' or 'both', got {direction!r}")
    return direction




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
    direction: str
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
            "direction": self.direction,
            "baseline": _num(self.baseline_level),
            "current": _num(self.current_level),
            "effect": _num(self.effect),
            "pvalue": _num(self.pvalue),
            "change_points": [iso_z(t) for t in self.change_points],
            "significant": bool(self.significant),
            "reason": self.reason,
        }


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def _bad_strength(effect: float, direction: str) -> float:
    if not np.isfinite(effect):
        return 0.0
    if direction == "up":
        return max(effect, 0.0)
    if direction == "down":
        return max(-effect, 0.0)
    return abs(effect)


#: Smallest standardized effect an onset must have: Cohen's "small" effect for h (0.2) and a
#: slightly larger one for d on noisy continuous scores.
MIN_EFFECT: dict[str, float] = {"rate": 0.2, "mean": 0.3}


def detect_onset(
    series: pd.DataFrame,
    *,
    metric: str,
    kind: str,
    segment_column: str = "__all__",
    segment: str = "__all__",
    direction: str = "both",
    window: str | pd.Timedelta = "1h",
    penalty: Any = "auto",
    min_size: int = 3,
    min_effect: float | None = None,
    alpha: float = 0.05,
    n_tests: int = 1,
    end: Any = None,
) -> Onset:
    """Find when ``metric`` started to move in one segment.

    Parameters
    ----------
    series
        ``windows.rate_series`` (``window_start, n, successes, rate``) or ``windows.mean_series``
        (``window_start, n, mean, std``) output. Empty windows (``n == 0``) are skipped.
    metric, kind
        Metric name and ``"rate"`` or ``"mean"``.
    segment_column, segment
        The segment the series belongs to (for the report).
    direction
        Which way is bad: ``"up"``, ``"down"`` or ``"both"``.
    window
        Window length (to turn the change-point interval into times).
    penalty, min_size
        Passed to :func:`analysis.stats.changepoint.detect` (PELT; binomial cost for rates with the
        window counts as trials, Gaussian mean cost for means).
    min_effect
        Smallest standardized effect (|h| for rates, |d| for means) for an onset;
        default :data:`MIN_EFFECT`.
    alpha, n_tests
        The baseline/current comparison must have ``pvalue < alpha / n_tests`` (Bonferroni over
        the metrics and segments scanned).
    end
        Ignore windows starting at or after ``end`` (the report time).

    Returns
    -------
    Onset

    Notes
    -----
    With change points :math:`\\tau_1 < \\dots < \\tau_m`, the onset is the first :math:`\\tau_j`
    such that every segment from :math:`\\tau_j` to the end lies on the bad side of the pooled
    level before :math:`\\tau_j` by at least half of ``min_effect`` (the first of them by three
    quarters: a 5% canary is not yet the incident), and the pooled level after
    :math:`\\tau_j` differs from the level before by at least ``min_effect`` with
    :math:`p < \\alpha / n_{tests}` (two-proportion z test for rates, Welch's t test for
    means). Persistence is what separates an incident from a daily cycle: a cycle's segments
    return to the baseline level, an incident's do not (until it is mitigated).

    A gradual change (a rollout ramp) is located twice: the change point (where the fitted level
    has clearly jumped, late for a ramp) and the knot of a broken-stick fit (:func:`_ramp_start`,
    where the ramp starts, noisy when its first hours move few requests). The onset is reported
    midway between them and the interval is widened to hold both; for a step they coincide.
    """
    _check_direction(direction)
    if kind not in ("rate", "mean"):
        raise ValueError(f"`kind` must be 'rate' or 'mean', got {kind!r}")
    min_eff = MIN_EFFECT[kind] if min_effect is None else float(min_effect)
    w = pd.Timedelta(window)
    s = series.copy()
    if end is not None:
        s = s[s["window_start"] < pd.Timestamp(end)]
    s = s[pd.to_numeric(s["n"], errors="coerce").fillna(0).to_numpy(float) > 0].reset_index(drop=True)
    value_col = "successes" if kind == "rate" else "mean"
    s = s[np.isfinite(pd.to_numeric(s[value_col], errors="coerce").to_numpy(float))].reset_index(drop=True)
    cost = "binomial" if kind == "rate" else "normal_mean"
    method = f"PELT change points ({cost} cost) on {w} windows"
    empty = Onset(
        ts=None, interval=None, metric=metric, kind=kind, segment_column=str(segment_column), segment=str(segment),
        direction=direction, baseline_level=np.nan, current_level=np.nan, effect=np.nan, strength=0.0,
        statistic=np.nan, pvalue=np.nan, n_baseline=0.0, n_current=0.0, change_points=(), method=method,
        penalty=np.nan, significant=False, reason="", series=s,
    )
    if len(s) < 2 * min_size + 1:
        return _replace(empty, reason=f"too few non-empty windows ({len(s)})")
    x = pd.to_numeric(s[value_col], errors="coerce").to_numpy(float)
    kwargs: dict[str, Any] = {"method": "pelt", "cost": cost, "penalty": penalty, "min_size": min_size}
    if kind == "rate":
        kwargs["trials"] = s["n"].to_numpy(float)
    res = changepoint.detect(x, **kwargs)
    cps = [int(c) for c in res.change_points]
    starts = s["window_start"]
    cp_times = tuple(pd.Timestamp(starts.iat[c]) for c in cps)
    empty = _replace(empty, change_points=cp_times, penalty=float(getattr(res, "penalty", np.nan)), changepoint=res)
    if not cps:
        return _replace(empty, reason="no change point")
    bounds = [0, *cps, len(s)]
    seg_idx = [np.arange(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
    all_idx = np.arange(len(s))
    best_fallback: tuple[float, Onset] | None = None
    for j, cp in enumerate(cps):
        pre = all_idx[:cp]
        post = all_idx[cp:]
        base, cur, eff, stat, pv, n0, n1 = compare_windows(s, kind, pre, post)
        strength = _bad_strength(eff, direction)
        if not np.isfinite(eff):
            continue
        sign = np.sign(eff) if direction == "both" else (1.0 if direction == "up" else -1.0)
        # every later segment stays on the bad side of the baseline by at least half the effect
        persistent = True
        for k_, si in enumerate(seg_idx[j + 1 :]):
            _, _lvl, e_i, *_ = compare_windows(s, kind, pre, si)
            floor = 0.75 * min_eff if k_ == 0 else min_eff / 2
            if not np.isfinite(e_i) or sign * e_i < floor:
                persistent = False
                break
        significant = bool(pv < alpha / max(n_tests, 1))
        if strength >= min_eff and persistent and significant:
            knot, step_like = _ramp_start(s, kind, cp, w, stop=bounds[j + 2] - 1 if j + 2 < len(bounds) else len(s) - 2)
            # the knot is where a ramp starts (noisy when its first hours move few requests), the
            # change point where the level has clearly jumped (late for a ramp): report midway.
            # A knot after the change point means the jump came before the trend (a canary, a
            # staircase fit of a ramp): the knot locates the trend's start.
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
            return _replace(
                empty,
                ts=pd.Timestamp(starts.iat[start]),
                interval=lo_hi,
                baseline_level=base,
                current_level=pooled_level(s, kind, seg_idx[-1])[0],
                effect=eff,
                strength=strength,
                statistic=stat,
                pvalue=pv,
                n_baseline=n0,
                n_current=n1,
                significant=True,
                reason=f"first persistent change in the bad direction of {len(cps)} change point(s)",
            )
        if best_fallback is None or strength > best_fallback[0]:
            best_fallback = (strength, _replace(empty, baseline_level=base, current_level=cur, effect=eff, strength=strength,
                                                statistic=stat, pvalue=pv, n_baseline=n0, n_current=n1))
    reason = "no change point moved the metric persistently in the bad direction"
    if best_fallback is not None:
        return _replace(best_fallback[1], reason=reason)
    return _replace(empty, reason=reason)


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
    import dataclasses

    return dataclasses.replace(obj, **kw)


# ----------------------------------------------------------------------------------------------
# inferred change events: versions that changed in the logs without a change event
# ----------------------------------------------------------------------------------------------

#: Change type of an inferred change, by the column that changed.
INFERRED_TYPES: dict[str, str] = {
    "model_version": "model_update",
    "model_requested": "model_update",
    "provider": "upstream_api_change",
    "upstream_fingerprint": "upstream_api_change",
    "prompt_template_version": "prompt_template_change",
    "embedding_model": "embedding_model_update",
    "index_version": "index_rebuild",
    "corpus_version": "corpus_update",
    "classifier_version": "classifier_update",
    "traffic_source": "traffic_source_change",
}


def infer_changes(
    events: Any,
    changes: pd.DataFrame | None,
    *,
    columns: Sequence[str] | None = None,
    min_count: int = 5,
    min_share: float = 0.01,
    match_within: str | pd.Timedelta = "24h",
    where: Where | None = None,
) -> pd.DataFrame:
    """Change events inferred from the logs: a value of a version column that appears after the start.

    Parameters
    ----------
    events
        Canonical events, or an :class:`analysis.engine.Engine` over them.
    changes
        The logged changes; a value already announced by a change on the same ``attribute``
        (same ``to_value``, or any change on that attribute within ``match_within``) is not
        inferred again.
    columns
        Columns to watch; default the version columns and ``traffic_source``.
    min_count, min_share
        A new value needs at least ``min_count`` events and ``min_share`` of the traffic after its
        first appearance (a handful of odd requests is not a change).
    match_within
        Tolerance between a logged change and the first appearance of its value.
    where
        Only the events matching this filter (e.g. those before the report).

    Returns
    -------
    DataFrame
        Canonical ``changes`` columns with ``change_id = "inferred:<column>:<value>"``,
        ``ts`` = first appearance, ``source = "inferred from logs"``.
    """
    eng = as_engine(events)
    where = where or Where()
    cols = [c for c in (list(columns) if columns is not None else [*VERSION_COLUMNS, "traffic_source"]) if eng.has(c)]
    tol = pd.Timedelta(match_within)
    n_all, t_start, t_end = eng.time_range(where)
    if n_all == 0 or not cols:
        return empty_changes()
    warmup = t_start + min((t_end - t_start) * 0.05, pd.Timedelta(hours=6))
    vc = eng.value_counts(cols, where=where)
    vc = vc[vc["value"] != MISSING]
    rows = []
    for col, value, count, t0 in vc[["column", "value", "n", "first_seen"]].itertuples(index=False):
        if t0 <= warmup:
            continue
        if count < min_count:
            continue
        after_n = eng.count(where.and_(Where(start=t0)))
        if count / max(after_n, 1) < min_share:
            continue
        if changes is not None and len(changes) and "attribute" in changes.columns:
            same_attr = changes[(changes["attribute"].astype("string") == col).fillna(False).to_numpy(dtype=bool)]
            if len(same_attr):
                to_match = (same_attr["to_value"].astype("string") == str(value)).fillna(False).any()
                near = ((same_attr["ts"] - t0).abs() <= tol).any()
                if to_match or near:
                    continue
            # the same new value announced on a sibling column (model_requested moves with
            # model_version): already logged
            sibling = ((changes["to_value"].astype("string") == str(value)).fillna(False).to_numpy(dtype=bool)
                       & ((changes["ts"] - t0).abs() <= tol).to_numpy(dtype=bool))
            if sibling.any():
                continue
        frm = _last_value(eng, col, where.and_(Where(end=t0)))
        rows.append(
            {
                "change_id": f"inferred:{col}:{value}",
                "ts": t0,
                "change_type": INFERRED_TYPES.get(col, "other"),
                "component": col,
                "attribute": col,
                "from_value": frm,
                "to_value": str(value),
                "description": f"{col} changed from {frm} to {value} in the logs without a change event",
                "source": "inferred from logs",
            }
        )
    if not rows:
        return empty_changes()
    out = pd.DataFrame(rows)
    out["ts"] = pd.to_datetime(out["ts"], utc=True).astype("datetime64[ns, UTC]")
    for c in ("change_id", "change_type", "component", "attribute", "from_value", "to_value", "description", "source"):
        out[c] = out[c].astype("string[pyarrow]")
    return out.sort_values("ts", kind="stable").reset_index(drop=True)


def _last_value(eng: Engine, column: str, where: Where) -> str | None:
    """The value of ``column`` on the last event matching ``where`` that has one (None if none)."""
    vc = eng.value_counts([column], where=where)
    vc = vc[vc["value"] != MISSING]
    if not len(vc):
        return None
    return str(vc.sort_values(["last_seen", "value"], kind="stable")["value"].iat[-1])


def empty_changes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "change_id": pd.Series([], dtype="string[pyarrow]"),
            "ts": pd.Series([], dtype="datetime64[ns, UTC]"),
            "change_type": pd.Series([], dtype="string[pyarrow]"),
            "component": pd.Series([], dtype="string[pyarrow]"),
            "attribute": pd.Series([], dtype="string[pyarrow]"),
            "from_value": pd.Series([], dtype="string[pyarrow]"),
            "to_value": pd.Series([], dtype="string[pyarrow]"),
            "description": pd.Series([], dtype="string[pyarrow]"),
            "source": pd.Series([], dtype="string[pyarrow]"),
        }
    )


# ----------------------------------------------------------------------------------------------
# evidence for one change
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StratifiedResult:
    """The metric among requests with the change's new value against the others, window by window.

    Only windows where both arms have requests count, so that time (the incident itself, daily
    cycles) cannot masquerade as an effect of the change: a rollout, a canary or a new traffic
    source can be compared concurrently, an instant switch cannot (``windows_shared == 0``).

    Notes
    -----
    Per shared window :math:`w`: difference :math:`d_w = \\bar y_{new,w} - \\bar y_{old,w}`,
    weight :math:`W_w = n_{new,w} n_{old,w} / (n_{new,w} + n_{old,w})` and variance
    :math:`v_w = s^2_{new,w}/n_{new,w} + s^2_{old,w}/n_{old,w}` (for rates with the window's
    pooled rate). The combined difference and its z statistic are

    .. math:: D = \\sum_w W_w d_w / \\sum_w W_w, \\qquad z = D / \\sqrt{\\sum_w W_w^2 v_w} \\big/ \\sum_w W_w

    (the Mantel-Haenszel risk-difference weights; Greenland & Robins 1985). ``effect`` is
    standardized: Cohen's h between the pooled old rate and old rate + D (rates) or D over the
    pooled standard deviation (means).

    References
    ----------
    Greenland, S. and Robins, J. M. (1985). Estimation of a common effect parameter from sparse
    follow-up data. Biometrics 41, 55-68.
    """

    statistic: float
    pvalue: float
    effect: float
    difference: float
    level_new: float
    level_old: float
    n_new: float
    n_old: float
    windows_shared: int
    attribute: str
    new_value: str
    segment: str
    method: str = "Mantel-Haenszel weighted difference over shared windows"


def _offset(td: pd.Timedelta) -> str:
    secs = int(pd.Timedelta(td).total_seconds())
    if secs % 86400 == 0:
        return f"{secs // 86400}D"
    if secs % 3600 == 0:
        return f"{secs // 3600}h"
    if secs % 60 == 0:
        return f"{secs // 60}min"
    return f"{secs}s"


def stratified_comparison(
    events: Any,
    *,
    metric: str,
    kind: str,
    attribute: str,
    new_value: str | None,
    old_values: Sequence[str] | None = None,
    start: Any,
    end: Any,
    window: str | pd.Timedelta = "1h",
    where: Where | None = None,
    segment: str = "all traffic",
) -> StratifiedResult | None:
    """Compare ``metric`` between ``attribute == new_value`` and the other requests, concurrently.

    ``events`` is a canonical table or an engine; ``where`` narrows to a segment. Returns None
    when the attribute is not in the events or neither arm has labelled requests.
    """
    from scipy import stats

    eng = as_engine(events)
    if not eng.has(attribute) or not eng.has(metric) or new_value is None:
        return None
    w = pd.Timedelta(window)
    rng = Where.of(start, end).and_(where)
    n_sel, first, _ = eng.time_range(rng)
    if n_sel == 0:
        return None
    agg = eng.window_aggregates(window=w, metrics={metric: kind}, version=attribute, where=rng, start=first.floor(w),
                                end=pd.Timestamp(end) + w)
    t = agg.table[agg.table["segment_column"] == "__all__"].copy()
    vals = t["version"].astype(str)
    is_new = (vals == str(new_value)).to_numpy()
    if old_values:
        is_old = vals.isin([str(v) for v in old_values]).to_numpy()
    else:
        is_old = ~is_new & ((vals != MISSING).to_numpy() if attribute != "traffic_source" else True)
    t["segment"] = np.where(is_new, "new", "old")
    t = t[is_new | is_old]
    if not len(t) or t["n"].sum() == 0:
        return None
    n_col, s_col, ss_col = f"{metric}__n", f"{metric}__sum", f"{metric}__sumsq"
    t = t.astype({c: "float64" for c in (n_col, s_col, ss_col) if c in t.columns})
    piv = t.pivot_table(index="window_start", columns="segment", values=[n_col, s_col] + ([ss_col] if kind == "mean" else []),
                        aggfunc="sum", fill_value=0.0)
    def col(name: str, arm: str) -> np.ndarray:
        try:
            return piv[(name, arm)].to_numpy(float)
        except KeyError:
            return np.zeros(len(piv))
    n1, n0 = col(n_col, "new"), col(n_col, "old")
    s1, s0 = col(s_col, "new"), col(s_col, "old")
    both = (n1 > 0) & (n0 > 0)
    tot_new, tot_old = float(n1.sum()), float(n0.sum())
    base = dict(attribute=attribute, new_value=str(new_value), segment=segment, n_new=tot_new, n_old=tot_old)
    lvl_new = float(s1.sum() / tot_new) if tot_new else np.nan
    lvl_old = float(s0.sum() / tot_old) if tot_old else np.nan
    if not both.any():
        return StratifiedResult(np.nan, np.nan, np.nan, np.nan, lvl_new, lvl_old, windows_shared=0, **base)
    n1, n0, s1, s0 = n1[both], n0[both], s1[both], s0[both]
    m1, m0 = s1 / n1, s0 / n0
    W = n1 * n0 / (n1 + n0)
    if kind == "rate":
        p = (s1 + s0) / (n1 + n0)
        v = p * (1 - p) * (1 / n1 + 1 / n0)
        sd_pool = np.sqrt(max(float(((s0.sum() + s1.sum()) / (n0.sum() + n1.sum())) * (1 - (s0.sum() + s1.sum()) / (n0.sum() + n1.sum()))), 1e-12))
    else:
        ss1, ss0 = col(ss_col, "new")[both], col(ss_col, "old")[both]
        var1 = np.where(n1 > 1, (ss1 - n1 * m1**2) / np.maximum(n1 - 1, 1), np.nan)
        var0 = np.where(n0 > 1, (ss0 - n0 * m0**2) / np.maximum(n0 - 1, 1), np.nan)
        N = n1.sum() + n0.sum()
        grand = (s1.sum() + s0.sum()) / N
        tot_ss = ss1.sum() + ss0.sum() - N * grand**2
        sd_pool = np.sqrt(max(tot_ss / max(N - 1, 1), 1e-12))
        fill = sd_pool**2
        var1 = np.where(np.isfinite(var1), np.maximum(var1, 0), fill)
        var0 = np.where(np.isfinite(var0), np.maximum(var0, 0), fill)
        v = var1 / n1 + var0 / n0
    D = float((W * (m1 - m0)).sum() / W.sum())
    se = float(np.sqrt((W**2 * v).sum()) / W.sum())
    z = D / se if se > 0 else (0.0 if D == 0 else np.sign(D) * np.inf)
    pv = float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else 0.0
    if kind == "rate":
        p_old = float(s0.sum() / n0.sum())
        eff = float(cohen_h(p_old, p_old + D))
    else:
        eff = D / sd_pool if sd_pool > 0 else np.nan
    return StratifiedResult(float(z), pv, eff, D, lvl_new, lvl_old, windows_shared=int(both.sum()), **base)


def step_test(
    series: pd.DataFrame,
    *,
    kind: str,
    at: pd.Timestamp,
    before: tuple[pd.Timestamp, pd.Timestamp],
    after: tuple[pd.Timestamp, pd.Timestamp],
    min_windows: int = 3,
) -> dict[str, float] | None:
    """The metric's level in ``after`` against ``before`` (pooled over the windows of a series)."""
    ws = series["window_start"]
    n = pd.to_numeric(series["n"], errors="coerce").fillna(0).to_numpy(float)
    pre = np.flatnonzero(((ws >= before[0]) & (ws < before[1])).to_numpy() & (n > 0))
    post = np.flatnonzero(((ws >= after[0]) & (ws < after[1])).to_numpy() & (n > 0))
    if pre.size < min_windows or post.size < min_windows:
        return None
    b, c, eff, stat, pv, n0, n1 = compare_windows(series.reset_index(drop=True), kind, pre, post)
    return {"baseline": b, "current": c, "effect": eff, "statistic": stat, "pvalue": pv, "n_before": n0, "n_after": n1}


def _share(eng: Engine, attribute: str, value: str, start: Any, end: Any, where: Where | None = None) -> tuple[float, int]:
    """Share of the events in ``[start, end)`` (and ``where``) with ``attribute == value``, and their count."""
    if not eng.has(attribute):
        return float("nan"), eng.count(Where.of(start, end).and_(where))
    t = eng.totals(by=[attribute], where=Where.of(start, end).and_(where))
    n = int(t["n"].sum())
    if n == 0:
        return float("nan"), 0
    return float(t.loc[t[attribute] == str(value), "n"].sum() / n), n


def staleness(events: Any, changes: pd.DataFrame | None, *, at: pd.Timestamp, end: pd.Timestamp) -> dict[str, Any]:
    """Is the retrieval index stale against the corpus after a corpus (or embedding) change at ``at``?

    Stale when ``index_version`` did not change between ``at`` and ``end`` (in the logs) and no
    ``index_rebuild`` change was logged in that span, while the corpus moved.
    """
    out: dict[str, Any] = {"checked": False, "stale": False}
    eng = as_engine(events)
    if not eng.profile().present("index_version"):
        return out
    after = eng.value_counts(["index_version"], where=Where.of(at, end))
    after = after[after["value"] != MISSING]
    if len(after) == 0:
        return out
    idx_before = _last_value(eng, "index_version", Where.of(None, at))
    idx_after = set(after["value"].astype(str))
    rebuilt_logged = False
    if changes is not None and len(changes):
        ct = changes["change_type"].astype("string")
        # only a rebuild rebuilds: an embedding-model swap at ``at`` is what makes the index stale
        rebuilt_logged = bool(((ct == "index_rebuild") & (changes["ts"] >= at) & (changes["ts"] < end)).fillna(False).any())
    moved = idx_before is None or idx_after != {idx_before}
    corpus_after = _last_value(eng, "corpus_version", Where.of(at, end)) if eng.has("corpus_version") else None
    out.update(checked=True, stale=bool(not moved and not rebuilt_logged), index_version=idx_before,
               corpus_version=corpus_after, index_rebuilt=bool(moved or rebuilt_logged))
    return out


# ----------------------------------------------------------------------------------------------
# scoring the candidates
# ----------------------------------------------------------------------------------------------

#: Rows per period the candidates' mix-drift evidence tests at most (a bounded md5-keyed sample).
DRIFT_SAMPLE = 20_000
#: Columns whose drift the candidates' mix evidence looks at.
DRIFT_COLUMNS = ("query_category", "traffic_source", "risk_category", "framing", "confidence")
RETRIEVAL_METRICS = frozenset({"retrieval_top1_score", "retrieval_mean_score", "hallucinated", "correct", "quality_score"})

CANDIDATE_COLUMNS = (
    "rank", "change_id", "change_type", "ts", "score", "evidence", "inferred", "attribute", "from_value", "to_value",
    "description", "lead_hours", "timing", "association", "step", "drift", "staleness", "mechanism", "own_step", "location",
    "location_loglik", "exposure", "excluded", "evidence_detail",
)




@dataclass(frozen=True, eq=False)
class Q2Result:
    """Q2: what changed? ``candidates`` ranked (most likely cause first), ``drift`` of the query
    mix between the baseline and the current period, the decompositions of the aggregate change,
    the inferred change events and the stratified comparisons by change."""

    candidates: pd.DataFrame
    drift: pd.DataFrame
    decompositions: list[Decomposition]
    inferred: pd.DataFrame
    stratified: dict[str, StratifiedResult]
    onset: Onset | None
    notes: list[str] = field(default_factory=list)
    separation: "Separation | None" = None

    @property
    def top(self) -> dict[str, Any] | None:
        return None if len(self.candidates) == 0 else self.candidates.iloc[0].to_dict()


def _strength(effect: float, pvalue: float, bad_sign: float, *, scale: float, alpha: float, floor: float) -> float:
    """Significance-gated standardized effect in the bad direction, mapped to [0, 1]."""
    if not (np.isfinite(effect) and np.isfinite(pvalue)) or pvalue >= alpha:
        return 0.0
    e = bad_sign * effect
    if e < floor:
        return 0.0
    return float(min(1.0, e / scale))


def _pfmt(p: float) -> str:
    if not np.isfinite(p):
        return "p=n/a"
    return "p<1e-10" if p < 1e-10 else f"p={p:.2g}"


def _drift_strengths(drift_mod: Any, ref: pd.DataFrame, cur: pd.DataFrame, cols: Sequence[str], alpha: float,
                     decompositions: Mapping[str, Decomposition], bad_sign: float, gated: bool = True) -> dict[str, tuple[float, dict]]:
    """Column -> (linked drift strength in [0, 1], the drift_table row) for one pair of samples.

    ``gated``: only drifted columns count (significant and beyond the effect threshold);
    otherwise the effect counts as it is (to measure a drift already under way).
    """
    try:
        dt = drift_mod.drift_table(ref, cur, list(cols), alpha=alpha)
    except ValueError:
        return {}
    out: dict[str, tuple[float, dict]] = {}
    for r in dt.to_dict("records"):
        row = {k: r.get(k) for k in ("column", "test", "statistic", "pvalue", "effect", "drifted")}
        strength = 0.0
        thr = float(r.get("threshold") or 0.1)
        eff = float(r["effect"]) if r.get("effect") is not None and np.isfinite(float(r["effect"])) else 0.0
        if (bool(r.get("drifted")) or not gated) and thr > 0:
            strength = min(1.0, max(eff, 0.0) / (2 * thr))
        dec = decompositions.get(r["column"])
        if dec is not None and np.isfinite(dec.mix_share) and np.sign(dec.mix) == bad_sign:
            link = float(dec.mix_share)
        elif r["column"] == "confidence":
            link = 0.5
        else:
            link = 0.0
        out[str(r["column"])] = (strength * link, row)
    return out


def score_candidates(
    candidates: pd.DataFrame,
    *,
    events: Any,
    changes: pd.DataFrame | None,
    onset: Onset | None,
    metric: str,
    kind: str,
    direction: str,
    segment_series: pd.DataFrame,
    segment_where: Where | None,
    segment_label: str,
    window: str | pd.Timedelta,
    reported_at: pd.Timestamp,
    decompositions: Mapping[str, Decomposition] | None = None,
    evidence_series: tuple[pd.DataFrame, str] | None = None,
    location_series: tuple[pd.DataFrame, pd.Timedelta] | None = None,
    alpha: float = 0.05,
    step_hours: float = 48.0,
    tau_hours: float = 168.0,
    progress: bool = False,
) -> "Ranking":
    """Score every candidate change on evidence and rank them.

    Parameters
    ----------
    candidates
        Logged and inferred changes (``changes`` columns) made before the report.
    events, changes
        Canonical events or an engine over them; the logged changes (for the staleness check).
    onset
        The detected onset (None or ``onset.ts is None`` when nothing changed).
    metric, kind, direction
        The incident metric, ``"rate"``/``"mean"``, and its bad direction.
    segment_series, segment_where, segment_label
        The metric's windowed series in the onset's segment, the filter of its events (None: all
        traffic), its name.
    window
        Window length of the series.
    reported_at
        The report time: candidates after it are not scored.
    decompositions
        Segment column -> :class:`Decomposition` of the aggregate change (links a drift to the
        failure: the mix shift along a drifted column must carry the change).
    evidence_series
        ``(series, label)``: where the evidence at each change's own time is computed (the
        segment whose change is the most significant; default: ``segment_series``).
    location_series
        ``(series, window)``: the same segment on finer windows, where the step's location is
        profiled (default: ``evidence_series`` at ``window``).
    alpha
        Significance level of every piece of evidence (Bonferroni over the candidates).
    step_hours
        Length of the before/after windows around a change.
    tau_hours
        Time scale of the timing prior for changes long before the onset.

    Returns
    -------
    Ranking
        ``candidates`` ranked by ``score`` with :data:`CANDIDATE_COLUMNS`, and the
        ``stratified`` comparisons by ``change_id`` (a named tuple: it unpacks as a pair).

    Notes
    -----
    Evidence, each in [0, 1]:

    * timing :math:`T`: 1 inside the onset interval, 0 after it (a change after the onset cannot
      be its cause; linear in between the onset and the interval's end), :math:`e^{-\\Delta/\\tau}`
      for a change :math:`\\Delta` hours before the interval;
    * association :math:`A`: the metric among requests with the change's new value against the
      others in the same windows (:func:`stratified_comparison`), in the onset segment and in all
      traffic;
    * step :math:`S`: the metric's level in the ``step_hours`` after the change against the ones
      before, cut at the onset interval (so that a change just before the onset gets no credit
      for it); not computed for a change inside the interval, which cannot be told apart from the
      onset itself;
    * drift :math:`D`: the query mix (:func:`analysis.stats.drift.drift_table`) in the same windows,
      times the share of the aggregate change that is mix shift along the drifted column, minus
      the same for the window before against the one before that (a drift already under way was
      not started by this change);
    * staleness :math:`V`: a corpus change after which the retrieval index was not rebuilt
      (counts for retrieval metrics only);
    * mechanism :math:`M`: the new value's share grows from the change to the failure window (a
      rollout, a spreading traffic source) -- what lets a change long before the onset cause it;
    * own time :math:`O` and location :math:`L` (:func:`_own_time`, :func:`_finish_scores`): the
      before/after at the change's own time and the relative likelihood of a step there, with
      the exposure :math:`X` (:func:`_exposure`, the requests log the change's new value from its
      time on) as a prior of :data:`EXPOSURE_LOGLIK` on the location. Where the location is
      profiled, :math:`T` is :math:`L` (unless the evidence is staleness or a growing share).

    With :math:`E = 1 - (1-A)(1-S)(1-D)(1-0.7V)` and :math:`T' = \\max(T, M)` when :math:`A` or
    :math:`D` is positive, the score is :math:`0.25\\,T' + 0.75\\,E` (times 0.1 for changes after
    the onset interval). Recency alone gives at most 0.25. The weights are :data:`TIMING_WEIGHT`,
    :data:`EVIDENCE_WEIGHT`, :data:`STALENESS_WEIGHT`, :data:`AFTER_ONSET_FACTOR` and
    :data:`NO_ONSET_WEIGHT`; each kind of evidence is its own function (``_timing``,
    ``_association``, ``_step``, ``_mix_drift``, ``_staleness``, ``_mechanism``).
    """
    w = pd.Timedelta(window)
    eng = as_engine(events)
    prof = eng.profile()
    ctx = _ScoringContext.build(
        eng=eng, changes=changes, onset=onset, metric=metric, kind=kind, direction=direction, window=w, reported_at=reported_at,
        segment_series=segment_series, segment_where=segment_where, segment_label=segment_label,
        evidence_series=evidence_series or (segment_series, segment_label),
        location_series=location_series or ((evidence_series or (segment_series,))[0], w), decompositions=dict(decompositions or {}), alpha_level=alpha / max(len(candidates), 1), step_hours=step_hours,
        tau_hours=tau_hours, t_first=prof.ts_min, drift_columns=tuple(c for c in DRIFT_COLUMNS if prof.present(c)),
    )
    rows = []
    strat: dict[str, StratifiedResult] = {}
    recs = candidates.to_dict("records")
    it = recs
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(recs, desc="scoring changes", leave=False)
    for rec in it:
        row, best = _score_one(ctx, rec)
        if best is not None:
            strat[row["change_id"]] = best
        rows.append(row)
    _finish_scores(ctx, rows)
    out = pd.DataFrame(rows, columns=[c for c in CANDIDATE_COLUMNS if c != "rank"])
    if len(out):
        # ties: a logged change before an inferred one, then the nearer one
        out["_abs_lead"] = out["lead_hours"].abs().fillna(np.inf)
        out = out.sort_values(["score", "inferred", "_abs_lead"], ascending=[False, True, True], kind="stable").drop(columns="_abs_lead")
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out["ts"] = pd.to_datetime(out["ts"], utc=True)
    return Ranking(out.reset_index(drop=True), strat)


class Ranking(NamedTuple):
    """The ranked candidates and the stratified comparisons behind their association evidence."""

    candidates: pd.DataFrame
    stratified: dict[str, StratifiedResult]


#: How the evidence adds up to a score (see :func:`score_candidates`): timing counts a quarter and
#: the evidence three quarters; staleness enters the evidence at 0.7; a change after the onset
#: interval keeps a tenth of its score; without an onset the score is half the evidence.
TIMING_WEIGHT = 0.25
EVIDENCE_WEIGHT = 0.75
STALENESS_WEIGHT = 0.7
AFTER_ONSET_FACTOR = 0.1
NO_ONSET_WEIGHT = 0.5
#: How much the evidence at a change's own time counts (its before/after times the relative
#: likelihood of a step located there): less than a concurrent comparison, which sees the change's
#: own requests, and enough to outrank timing alone.
OWN_TIME_WEIGHT = 0.6
#: How far before the onset's interval the step's location is profiled.
LOCATION_REGION = pd.Timedelta(hours=72)
#: The prior weight, as a log-likelihood, of a change whose new value the requests themselves log
#: (its exposure is observed) against one known only from the change log: the 95% profile
#: threshold, so that it orders only candidates the series cannot separate, never overrides it.
EXPOSURE_LOGLIK = SEPARATION_LOGLIK
#: The hours on each side of a change where its logged value's share is read.
EXPOSURE_HOURS = 6.0


@dataclass(frozen=True)
class Evidence:
    """One kind of evidence for one change: its strength in [0, 1], its sentences, its numbers."""

    value: float = 0.0
    texts: tuple[str, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Timing:
    """Where a change sits against the onset: ``value`` (T), ``after`` the interval (cannot be the
    cause), ``coincident`` with it (its own step cannot be told from the onset), ``lead`` hours."""

    value: float
    after: bool
    coincident: bool
    lead: float
    text: str


@dataclass(frozen=True)
class _ScoringContext:
    """What every piece of evidence needs: the engine, the incident, the levels."""

    eng: Engine
    changes: pd.DataFrame | None
    metric: str
    kind: str
    window: pd.Timedelta
    reported_at: pd.Timestamp
    segment_series: pd.DataFrame
    evidence_series: tuple[pd.DataFrame, str]
    location_series: tuple[pd.DataFrame, pd.Timedelta]
    segment_where: Where | None
    segment_label: str
    decompositions: dict[str, Decomposition]
    alpha_level: float
    step_hours: float
    tau_hours: float
    t_first: pd.Timestamp
    drift_columns: tuple[str, ...]
    has_onset: bool
    onset_ts: pd.Timestamp | None
    lo: pd.Timestamp | None
    hi: pd.Timestamp | None
    bad_sign: float
    min_effect: float
    profile: StepProfile | None = None

    @staticmethod
    def build(*, onset: Onset | None, direction: str, kind: str, window: pd.Timedelta, **kw: Any) -> "_ScoringContext":
        has_onset = onset is not None and onset.ts is not None
        if has_onset:
            o = onset.ts
            lo, hi = onset.interval if onset.interval is not None else (o - window, o + window)
            bad_sign = 1.0 if direction == "up" else -1.0 if direction == "down" else float(np.sign(onset.effect) or 1.0)
        else:
            o = lo = hi = None
            bad_sign = 1.0 if direction == "up" else -1.0
        prof = None
        if has_onset:
            # the step's location near the onset: from three days before its interval to the report
            loc, loc_w = kw["location_series"]
            prof = step_profile(loc, kind=kind, window=loc_w, region=(lo - LOCATION_REGION, kw["reported_at"]), fit_before=lo - window)
        return _ScoringContext(kind=kind, window=window, has_onset=has_onset, onset_ts=o, lo=lo, hi=hi, bad_sign=bad_sign,
                               min_effect=MIN_EFFECT.get(kind, 0.2), profile=prof, **kw)


def _timing(ctx: _ScoringContext, t_c: pd.Timestamp) -> Timing:
    """T: 1 inside the onset interval, falling to 0 at its end, e^(-hours before / tau) before it."""
    if not ctx.has_onset:
        return Timing(0.5, False, False, np.nan, "no onset detected: timing cannot be judged")
    o, lo, hi, w = ctx.onset_ts, ctx.lo, ctx.hi, ctx.window
    lead = (o - t_c) / pd.Timedelta(hours=1)
    end_ok = hi + w
    if t_c > end_ok:
        return Timing(0.0, True, False, lead, f"after the onset interval ({-lead:.1f} h after the onset): cannot be its cause")
    if t_c > o:
        return Timing(float(max(0.0, 1 - (t_c - o) / (end_ok - o))), False, True, lead,
                      f"{-lead:.1f} h after the detected onset, inside its interval")
    if t_c >= lo - w:
        return Timing(1.0, False, True, lead, f"coincides with the onset ({lead:.1f} h before it, inside its interval)")
    return Timing(float(np.exp(-((lo - t_c) / pd.Timedelta(hours=1)) / ctx.tau_hours)), False, False, lead,
                  f"{lead:.1f} h before the onset")


def _association(ctx: _ScoringContext, attr: str | None, to_v: str | None, t_c: pd.Timestamp) -> tuple[Evidence, StratifiedResult | None]:
    """A: the metric with the change's new value against the rest in the same windows (segment, then all traffic)."""
    if attr is None or to_v is None or not ctx.eng.has(attr):
        return Evidence(), None
    A = 0.0
    best: StratifiedResult | None = None
    for where, label in ((ctx.segment_where, ctx.segment_label), (None, "all traffic")):
        if where is None and label != "all traffic":
            continue
        r = stratified_comparison(ctx.eng, metric=ctx.metric, kind=ctx.kind, attribute=attr, new_value=to_v, start=t_c,
                                  end=ctx.reported_at, window=ctx.window, where=where, segment=label)
        if r is None:
            continue
        s_ = (_strength(r.effect, r.pvalue, ctx.bad_sign, scale=0.5, alpha=ctx.alpha_level / 2, floor=ctx.min_effect / 2)
              if r.windows_shared >= 3 else 0.0)
        if best is None or s_ > A or (s_ == A and r.windows_shared > best.windows_shared):
            best, A = r, max(A, s_)
        if ctx.segment_where is None:
            break
    if best is None:
        return Evidence(), None
    if best.windows_shared == 0:
        text = f"{attr} switched for all traffic at once: no concurrent comparison possible"
    else:
        text = (f"{ctx.metric} with {attr}={to_v} vs the rest in the same {best.windows_shared} windows ({best.segment}): "
                f"{best.level_new:.3g} vs {best.level_old:.3g}, effect {best.effect:+.2f}, {_pfmt(best.pvalue)}")
    return Evidence(A, (text,), {"stratified": dict(best.__dict__)}), best


def _step(ctx: _ScoringContext, t_c: pd.Timestamp, before: tuple[pd.Timestamp, pd.Timestamp], after: tuple[pd.Timestamp, pd.Timestamp]) -> Evidence:
    """S: the metric's level after the change against before it, in the onset's segment."""
    st = step_test(ctx.segment_series, kind=ctx.kind, at=t_c, before=before, after=after)
    if st is None:
        return Evidence()
    S = _strength(st["effect"], st["pvalue"], ctx.bad_sign, scale=2 * ctx.min_effect, alpha=ctx.alpha_level, floor=ctx.min_effect)
    text = (f"{ctx.metric} stepped {st['baseline']:.3g} -> {st['current']:.3g} at the change (effect {st['effect']:+.2f}, "
            f"{_pfmt(st['pvalue'])})")
    return Evidence(S, (text,) if S > 0 else (), {"step": st})


def _own_time(ctx: _ScoringContext, t_c: pd.Timestamp) -> tuple[Evidence, float]:
    """O: the metric in the day after the change against the same hours a week (or a day) before,
    in the onset's segment; and the log-likelihood of a step located exactly at the change
    (:mod:`analysis.investigation.own_time`). Returns the evidence and the log-likelihood."""
    ll = ctx.profile.at(t_c) if ctx.profile is not None else float("nan")
    series, label = ctx.evidence_series
    st = own_step(series, kind=ctx.kind, at=t_c, window=ctx.window, end=ctx.reported_at)
    if st is None:
        return Evidence(0.0, (), {"own_step": None, "location_loglik": ll}), ll
    O = _strength(st.effect, st.pvalue, ctx.bad_sign, scale=2 * ctx.min_effect, alpha=ctx.alpha_level, floor=ctx.min_effect)
    text = (f"{ctx.metric} in the day after the change vs the {st.lag} ({label}): {st.baseline:.3g} -> {st.current:.3g} "
            f"(effect {st.effect:+.2f}, {_pfmt(st.pvalue)})")
    if O == 0:
        text += ": no step at the change's own time"
    return Evidence(O, (text,), {"own_step": dict(st.__dict__), "location_loglik": ll}), ll


def _mix_drift(ctx: _ScoringContext, t_c: pd.Timestamp, b0: pd.Timestamp, a1: pd.Timestamp) -> Evidence:
    """D: the query mix drifting at the change, linked to the failure by the decomposition, net of a
    drift already under way before it (the window before against the one before that)."""
    cols = list(ctx.drift_columns)
    if not cols or (a1 - t_c) < pd.Timedelta(hours=6) or (t_c - b0) < pd.Timedelta(hours=6):
        return Evidence()
    pre0 = max(b0 - (t_c - b0), ctx.t_first)
    # bounded samples (every row while a period holds at most DRIFT_SAMPLE of them)
    ref = ctx.eng.sample_rows(cols, size=DRIFT_SAMPLE, where=Where.of(b0, t_c))[cols]
    cur = ctx.eng.sample_rows(cols, size=DRIFT_SAMPLE, where=Where.of(t_c, a1))[cols]
    older = ctx.eng.sample_rows(cols, size=DRIFT_SAMPLE, where=Where.of(pre0, b0))[cols]
    if len(ref) < 30 or len(cur) < 30:
        return Evidence()
    now = _drift_strengths(drift_mod, ref, cur, cols, ctx.alpha_level, ctx.decompositions, ctx.bad_sign)
    before = (_drift_strengths(drift_mod, older, ref, cols, ctx.alpha_level, ctx.decompositions, ctx.bad_sign, gated=False)
              if len(older) >= 30 else {})
    best_d, best_col = 0.0, None
    for col, (sd, _) in now.items():
        net = max(0.0, sd - before.get(col, (0.0, None))[0])
        if net > best_d:
            best_d, best_col = net, col
    texts: tuple[str, ...] = ()
    if best_col is not None:
        texts = (f"the query mix started to drift at the change ({best_col}), and the mix shift along {best_col} carries the aggregate change",)
    elif any(v[0] > 0 for v in now.values()):
        texts = ("the query mix drifted after the change but was already drifting before it",)
    return Evidence(best_d, texts, {"drift": [r for _, (_, r) in now.items()]})


def _staleness(ctx: _ScoringContext, ctype: str, attr: str | None, t_c: pd.Timestamp) -> Evidence:
    """V: a corpus (or embedding) change after which the retrieval index was not rebuilt."""
    if not (ctype in ("corpus_update", "embedding_model_update") or attr in ("corpus_version", "embedding_model")):
        return Evidence()
    stl = staleness(ctx.eng, ctx.changes, at=t_c, end=ctx.reported_at)
    if stl.get("stale"):
        return Evidence(1.0 if ctx.metric in RETRIEVAL_METRICS else 0.0,
                        (f"index {stl.get('index_version')} was not rebuilt after the corpus moved to {stl.get('corpus_version')}: stale",),
                        {"staleness": stl})
    return Evidence(0.0, ("the index was rebuilt after this change",) if stl.get("checked") else (), {"staleness": stl})


def _exposure(ctx: _ScoringContext, attr: str | None, to_v: str | None, t_c: pd.Timestamp) -> Evidence:
    """X: the requests log the change's own column, and its new value appears in them at the change
    (at most 5% of the segment's requests before it, at least half after): the requests were
    observably exposed to this change, not only by the change log's word."""
    if attr is None or to_v is None or not ctx.eng.has(attr):
        return Evidence()
    h = pd.Timedelta(hours=EXPOSURE_HOURS)
    # one query: the requests of the hours around the change by side and value of the column
    t = ctx.eng.totals(by=[attr], exprs={"__after": f"EPOCH_US(ts) >= {epoch_us(t_c)}"},
                       where=Where.of(max(t_c - h, ctx.t_first), min(t_c + h, ctx.reported_at)).and_(ctx.segment_where))
    side = t["__after"].str.lower() == "true"
    new_v = t[attr] == str(to_v)
    n0, n1 = int(t.loc[~side, "n"].sum()), int(t.loc[side, "n"].sum())
    before = float(t.loc[~side & new_v, "n"].sum() / n0) if n0 else float("nan")
    after = float(t.loc[side & new_v, "n"].sum() / n1) if n1 else float("nan")
    detail = {"exposure": {"share_before": before, "share_after": after, "n_before": n0, "n_after": n1}}
    ok = n1 > 0 and np.isfinite(after) and after >= 0.5 and (n0 == 0 or (np.isfinite(before) and before <= 0.05))
    if not ok:
        return Evidence(0.0, (), detail)
    return Evidence(1.0, (f"the requests log {attr}: {to_v} on {after:.0%} of them in the {EXPOSURE_HOURS:g} h after the change "
                          f"and {0.0 if n0 == 0 else before:.0%} before it (exposure observed, not only logged as a change)",), detail)


def _mechanism(ctx: _ScoringContext, attr: str | None, to_v: str | None, t_c: pd.Timestamp, *, linked: bool) -> Evidence:
    """M: the new value's share grows from the change to the failure window (a rollout, a spreading source)."""
    if attr is None or to_v is None or not ctx.eng.has(attr):
        return Evidence()
    early, _ = _share(ctx.eng, attr, to_v, t_c, min(t_c + pd.Timedelta(hours=24), ctx.reported_at), ctx.segment_where)
    late, _ = _share(ctx.eng, attr, to_v, max(ctx.onset_ts, t_c), ctx.reported_at, ctx.segment_where)
    detail = {"share": {"after_change": early, "failure_window": late}}
    if np.isfinite(early) and np.isfinite(late) and late >= 0.05 and late >= 2 * max(early, 1e-9) and linked:
        return Evidence(1.0, (f"share of {attr}={to_v} grew from {early:.1%} after the change to {late:.1%} in the failure window",), detail)
    return Evidence(0.0, (), detail)


def _score_one(ctx: _ScoringContext, rec: Mapping[str, Any]) -> tuple[dict[str, Any], StratifiedResult | None]:
    """One candidate's evidence, score and row of the ranking."""
    cid = str(rec["change_id"])
    t_c = pd.Timestamp(rec["ts"])
    attr = rec.get("attribute")
    attr = str(attr) if isinstance(attr, str) and attr else None
    to_v = rec.get("to_value")
    to_v = str(to_v) if isinstance(to_v, str) and to_v else None
    ctype = str(rec.get("change_type") or "other")
    tm = _timing(ctx, t_c)
    assoc, best = _association(ctx, attr, to_v, t_c)
    b0 = max(t_c - pd.Timedelta(hours=ctx.step_hours), ctx.t_first)
    a1 = t_c + pd.Timedelta(hours=ctx.step_hours)
    # only a change before the onset interval can show its own step and drift: for one at the
    # onset they cannot be told apart from the onset itself
    separable = ctx.has_onset and not tm.coincident and not tm.after
    if separable:
        a1 = min(a1, ctx.lo - ctx.window)  # one window of margin: the onset is only known to the window
    a1 = min(a1, ctx.reported_at)
    step = _step(ctx, t_c, (b0, t_c), (t_c, a1)) if separable else Evidence()
    drift = _mix_drift(ctx, t_c, b0, a1) if separable else Evidence()
    stale = _staleness(ctx, ctype, attr, t_c)
    own, ll = _own_time(ctx, t_c) if ctx.has_onset and not tm.after else (Evidence(), float("nan"))
    expo = _exposure(ctx, attr, to_v, t_c) if ctx.has_onset and not tm.after and np.isfinite(ll) else Evidence()
    A, S, D, V = assoc.value, step.value, drift.value, stale.value
    mech = (_mechanism(ctx, attr, to_v, t_c, linked=A > 0 or D > 0) if ctx.has_onset and not tm.after else Evidence())
    M = mech.value
    E = 1 - (1 - A) * (1 - S) * (1 - D) * (1 - STALENESS_WEIGHT * V)
    T_eff = max(tm.value, M) if (A > 0 or D > 0) and not tm.after else tm.value
    detail: dict[str, Any] = {"lead_hours": tm.lead}
    texts = [tm.text]
    for ev in (assoc, step, drift, stale, own, expo, mech):
        detail.update(ev.detail)
        texts.extend(ev.texts)
    row = {
        "change_id": cid, "change_type": ctype, "ts": t_c, "score": np.nan, "_E": E, "evidence": "; ".join(texts),
        "inferred": cid.startswith("inferred:"), "attribute": attr, "from_value": rec.get("from_value"),
        "to_value": to_v, "description": rec.get("description"), "lead_hours": tm.lead, "timing": T_eff,
        "association": A, "step": S, "drift": D, "staleness": V, "mechanism": M, "own_step": own.value, "location": np.nan,
        "location_loglik": ll, "exposure": expo.value, "excluded": tm.after,
        "evidence_detail": detail,
    }
    return row, best


def _finish_scores(ctx: _ScoringContext, rows: list[dict[str, Any]]) -> None:
    """Every row's location evidence L and its score: :math:`E' = 1 - (1 - E)(1 - w\\,O\\,L)` with
    ``w`` = :data:`OWN_TIME_WEIGHT`, then timing and evidence weighted as :func:`score_candidates` says.

    L is the relative likelihood of a step at the change against one at the best-fitting
    candidate (its neighbours), when that candidate is in the 95% profile-likelihood set of the
    step's location; against the best location anywhere otherwise (no candidate is where the step
    is, so none gets full credit)."""
    lls = [r["location_loglik"] for r in rows if np.isfinite(r["location_loglik"])]
    adj = [r["location_loglik"] + EXPOSURE_LOGLIK * r["exposure"] for r in rows if np.isfinite(r["location_loglik"])]
    top = max(adj) if adj else np.nan
    if ctx.profile is not None and np.isfinite(ctx.profile.best) and not (lls and ctx.profile.best - max(lls) < SEPARATION_LOGLIK):
        top = ctx.profile.best
    for r in rows:
        ll = r["location_loglik"]
        L = float(min(1.0, np.exp(ll + EXPOSURE_LOGLIK * r["exposure"] - top))) if np.isfinite(ll) and np.isfinite(top) else 0.0
        r["location"] = L
        T_onset = r["timing"]
        # staleness or a growing share: the effect does not start as a step at the change's time
        keeps = r["staleness"] > 0 or (r["mechanism"] > 0 and (r["association"] > 0 or r["drift"] > 0))
        if np.isfinite(ll) and not keeps and not r["excluded"]:
            # the step's location on the fine windows says when the failure started better than
            # the onset's window does: a change is timely as far as a step there explains the series
            r["timing"] = L
            r["evidence"] = (f"timing from the step's location: relative likelihood {L:.2f} of a step at the change "
                             f"(onset window alone: {T_onset:.2f}); " + r["evidence"])
        E = 1 - (1 - r.pop("_E")) * (1 - OWN_TIME_WEIGHT * r["own_step"] * L)
        if ctx.has_onset:
            score = TIMING_WEIGHT * r["timing"] + EVIDENCE_WEIGHT * E
            if r["excluded"]:
                score *= AFTER_ONSET_FACTOR
        else:
            score = NO_ONSET_WEIGHT * E
        r["score"] = float(score)



@dataclass(frozen=True)
class Separation:
    """Can the data tell the first candidate from the second?

    ``margin`` is the difference of their scores; ``loglik_difference`` the difference of the
    log-likelihoods of a step located at each (NaN when either has none). ``separable`` is False
    when the first has no evidence beyond timing, or when both rest on the evidence at their own
    time alone and their step locations are in the same 95% profile-likelihood set
    (:data:`analysis.investigation.own_time.SEPARATION_LOGLIK`).
    """

    first: str | None
    second: str | None
    margin: float
    loglik_difference: float
    separable: bool
    text: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _direct(r: Mapping[str, Any]) -> float:
    """Evidence that sees the change's own requests or its mechanism (not only the series' timing)."""
    return max(float(r.get("association") or 0), float(r.get("step") or 0), float(r.get("drift") or 0),
               float(r.get("staleness") or 0), float(r.get("mechanism") or 0) * float(r.get("association") or 0))


def separation(ranked: pd.DataFrame) -> Separation | None:
    """The margin between the first two candidates (not excluded) and whether the data separate them."""
    live = ranked[~ranked["excluded"].astype(bool)] if len(ranked) else ranked
    if len(live) == 0:
        return None
    a = live.iloc[0].to_dict()
    if len(live) == 1:
        return Separation(str(a["change_id"]), None, float(a["score"]), float("nan"), True, "the only candidate before the onset")
    b = live.iloc[1].to_dict()
    margin = float(a["score"] - b["score"])
    own_a = float(a.get("own_step") or 0) * float(a.get("location") or 0)
    dll = float(a.get("location_loglik", np.nan) - b.get("location_loglik", np.nan))
    if _direct(a) == 0 and own_a == 0:
        return Separation(str(a["change_id"]), str(b["change_id"]), margin, dll, False,
                          f"no evidence beyond timing: the data cannot separate {a['change_id']} from {b['change_id']}")
    if _direct(a) == 0:
        # the first rests on its own time alone: any other candidate whose step fits about as well is a rival
        for r in live.iloc[1:].to_dict("records"):
            d_r = float(a.get("location_loglik", np.nan) - r.get("location_loglik", np.nan))
            if float(r.get("own_step") or 0) > 0 and np.isfinite(d_r) and abs(d_r) < SEPARATION_LOGLIK:
                why = ""
                if float(a.get("exposure") or 0) > float(r.get("exposure") or 0):
                    why = (f"; {a['change_id']} ranks first because the requests log its new value from its time on "
                           f"(its exposure is observed), while {r['change_id']} is known only from the change log")
                return Separation(str(a["change_id"]), str(r["change_id"]), float(a["score"] - r["score"]), d_r, False,
                                  f"both show the step at their own time and a step at either explains the series about as "
                                  f"well (log-likelihood difference {d_r:.2f} < {SEPARATION_LOGLIK:.2f}): the data cannot "
                                  f"separate {a['change_id']} from {r['change_id']}{why}")
    why = (f"log-likelihood of the step {dll:.1f} higher at {a['change_id']}" if np.isfinite(dll) and _direct(a) == 0
           else "its own requests or mechanism show the change")
    return Separation(str(a["change_id"]), str(b["change_id"]), margin, dll, True,
                      f"{a['change_id']} leads {b['change_id']} by {margin:.2f} ({why})")
