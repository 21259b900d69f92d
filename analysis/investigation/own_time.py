"""Evidence at a change's own time: its before/after test and where a step fits best.

For a change that switches all traffic at once no concurrent comparison exists, so nearness to
the onset would decide. Two pieces of evidence make the data decide instead (DESIGN.md,
"Evidence, not proximity"):

* :func:`own_step`: the metric in the day after the change against the same hours of the week
  one week earlier (the same hours of the day before, with less than a week of history), inside
  the affected segment. Same hours, so the daily and weekly cycle cancels out.
* :func:`step_profile`: the profile log-likelihood of the location of one step in the segment's
  windowed series near the onset, with an hour-of-day (and weekday/weekend) cycle fitted on the
  windows before it. :meth:`StepProfile.at` evaluates it at a change's exact time (the window
  holding the change is a mixture of both levels), so a change an hour before the true one
  explains the series measurably worse. Two changes whose log-likelihoods differ by less than
  :data:`SEPARATION_LOGLIK` (half the 95% point of chi-square with one degree of freedom: the
  profile-likelihood confidence set of the step's location) cannot be told apart by the series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.stats.compare import compare_windows

__all__ = ["OwnStep", "own_step", "StepProfile", "step_profile", "SEPARATION_LOGLIK"]

#: Half of chi2(1).ppf(0.95): locations within this log-likelihood of each other are in the same
#: 95% profile-likelihood confidence set.
SEPARATION_LOGLIK = float(stats.chi2.ppf(0.95, 1) / 2)
#: A rate's hour-of-day (x weekend) cycle is used only when a likelihood-ratio test at this level
#: shows it.
CYCLE_ALPHA = 0.05
_EPS = 1e-9


@dataclass(frozen=True)
class OwnStep:
    """The metric after a change against the same hours earlier (``lag``), in one segment."""

    baseline: float
    current: float
    effect: float
    pvalue: float
    n_before: float
    n_after: float
    lag: str


def _cols(series: pd.DataFrame, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(window starts as ns, n, value sum or mean, std) of a windowed series."""
    ws = pd.DatetimeIndex(pd.to_datetime(series["window_start"], utc=True)).as_unit("ns").asi8
    n = pd.to_numeric(series["n"], errors="coerce").fillna(0).to_numpy(float)
    if kind == "rate":
        v = pd.to_numeric(series["successes"], errors="coerce").fillna(0).to_numpy(float)
        sd = np.zeros_like(n)
    else:
        v = pd.to_numeric(series["mean"], errors="coerce").to_numpy(float)
        sd = pd.to_numeric(series.get("std", pd.Series(np.nan, index=series.index)), errors="coerce").to_numpy(float)
    return ws, n, v, sd


def own_step(series: pd.DataFrame, *, kind: str, at: pd.Timestamp, window: pd.Timedelta, end: pd.Timestamp,
             hours: float = 24.0, min_windows: int = 3) -> OwnStep | None:
    """The metric in ``[at, at + hours)`` (windows wholly after ``at``, before ``end``) against the
    same windows one week earlier, or one day earlier when the week is not in the series.

    Rates are compared with the two-proportion z test (effect: Cohen's h), means with Welch's t
    test on the pooled windows (effect: Cohen's d). None when fewer than ``min_windows`` windows
    with events are on either side.
    """
    ws, n, _, _ = _cols(series, kind)
    w = pd.Timedelta(window).value
    t0 = pd.Timestamp(at).value
    first = -(-t0 // w) * w  # the first window wholly after the change
    stop = min(pd.Timestamp(end).value, t0 + int(hours * 3_600_000_000_000))
    after = np.flatnonzero((ws >= first) & (ws + w <= stop) & (n > 0))
    if after.size < min_windows:
        return None
    pos = {int(x): i for i, x in enumerate(ws)}
    for lag, name in ((7 * 86_400_000_000_000, "same hours one week earlier"), (86_400_000_000_000, "same hours one day earlier")):
        before = np.array([pos.get(int(ws[i] - lag), -1) for i in after])
        ok = before >= 0
        if ok.sum() >= max(min_windows, 0.5 * after.size):
            pre, post = before[ok], after[ok]
            pre, post = pre[n[pre] > 0], post[n[pre] > 0]
            if pre.size < min_windows:
                continue
            b, c, eff, _, pv, n0, n1 = compare_windows(series.reset_index(drop=True), kind, pre, post)
            return OwnStep(float(b), float(c), float(eff), float(pv), float(n0), float(n1), name)
    return None


@dataclass(frozen=True)
class StepProfile:
    """Profile log-likelihood of one step's location over the windows of a region of a series."""

    kind: str
    starts: np.ndarray  # window starts (ns), the region's windows
    n: np.ndarray
    value: np.ndarray  # successes (rate) or means (mean)
    offset: np.ndarray  # the cycle: a multiplier of the rate, or an addend to the mean
    sigma: float
    window_ns: int
    boundaries: np.ndarray  # candidate boundaries: index k means windows >= k are after the step
    loglik: np.ndarray

    @property
    def best(self) -> float:
        return float(np.max(self.loglik)) if self.loglik.size else float("nan")

    @property
    def best_ts(self) -> pd.Timestamp | None:
        if not self.loglik.size:
            return None
        return pd.Timestamp(int(self.starts[self.boundaries[int(np.argmax(self.loglik))]]), tz="UTC")

    def at(self, ts: pd.Timestamp) -> float:
        """Log-likelihood of a step at exactly ``ts``: windows before its window at one level, after it
        at the other, its own window a mixture weighted by the share of the window after ``ts``."""
        t = pd.Timestamp(ts).value
        if not self.starts.size or t <= self.starts[0] or t >= self.starts[-1] + self.window_ns:
            return float("nan")
        j = int(np.searchsorted(self.starts, t, side="right") - 1)
        f = float((self.starts[j] + self.window_ns - t) / self.window_ns)  # share of window j after the step
        before = np.arange(self.starts.size) < j
        after = np.arange(self.starts.size) > j
        if t == self.starts[j]:  # on a boundary: window j is wholly after the step
            after[j] = True
        if not before.any() or not after.any():
            return float("nan")
        l0, l1 = self._levels(before), self._levels(after)
        lev = np.where(before, l0, l1)
        lev[j] = (1 - f) * l0 + f * l1
        return float(self._ll(lev))

    def _levels(self, mask: np.ndarray) -> float:
        if self.kind == "rate":
            e = float(np.sum(self.n[mask] * self.offset[mask]))
            return float(np.sum(self.value[mask]) / e) if e > 0 else 0.0
        wsum = float(np.sum(self.n[mask]))
        return float(np.sum(self.n[mask] * (self.value[mask] - self.offset[mask])) / wsum) if wsum > 0 else 0.0

    def _ll(self, level: np.ndarray) -> float:
        if self.kind == "rate":
            p = np.clip(level * self.offset, _EPS, 1 - _EPS)
            return float(np.sum(self.value * np.log(p) + (self.n - self.value) * np.log1p(-p)))
        r = self.value - self.offset - level
        return float(-0.5 * np.sum(self.n * r * r) / max(self.sigma**2, _EPS))


def _cycle_offset(ws: np.ndarray, n: np.ndarray, v: np.ndarray, kind: str, fit: np.ndarray) -> np.ndarray:
    """Hour-of-day (x weekday/weekend with two weeks or more) effect fitted on the ``fit`` windows,
    shrunk toward none (a multiplier for rates, an addend for means)."""
    hour = (ws // 3_600_000_000_000) % 24
    dow = ((ws // 86_400_000_000_000) + 3) % 7  # 1970-01-01 was a Thursday
    span_days = (ws[fit].max() - ws[fit].min()) / 86_400_000_000_000 if fit.any() else 0
    if span_days < 3:
        return np.ones_like(n) if kind == "rate" else np.zeros_like(n)
    cell = hour + (24 * (dow >= 5) if span_days >= 14 else 0)
    out = np.ones_like(n) if kind == "rate" else np.zeros_like(n)
    if kind == "rate":
        r_all = v[fit].sum() / max(n[fit].sum(), 1.0)
        if r_all <= 0:
            return out
        for c in np.unique(cell):
            m = fit & (cell == c)
            s, e = v[m].sum(), r_all * n[m].sum()
            out[cell == c] = (s + 5 * 1.0) / (e + 5 * 1.0) if e > 0 else 1.0  # five pseudo-events of shrinkage
        # keep the cycle only where the data show one: a likelihood-ratio test of the hour effects
        # against a flat rate on the fitted windows (a fitted cycle that is noise moves the step)
        k, nn = v[fit], n[fit]
        p_c = np.clip(r_all * out[fit], _EPS, 1 - _EPS)
        p_f = min(max(r_all, _EPS), 1 - _EPS)
        lr = 2 * float(np.sum(k * np.log(p_c / p_f) + (nn - k) * (np.log1p(-p_c) - np.log1p(-p_f))))
        df = max(len(np.unique(cell[fit])) - 1, 1)
        if lr < stats.chi2.ppf(1 - CYCLE_ALPHA, df):
            return np.ones_like(n)
        return out
    ok = fit & np.isfinite(v)
    mu = np.sum(n[ok] * v[ok]) / max(n[ok].sum(), 1.0)
    for c in np.unique(cell):
        m = ok & (cell == c)
        nn = n[m].sum()
        out[cell == c] = (np.sum(n[m] * v[m]) / nn - mu) * nn / (nn + 50.0) if nn > 0 else 0.0
    return out


def step_profile(series: pd.DataFrame, *, kind: str, window: pd.Timedelta, region: tuple[pd.Timestamp, pd.Timestamp],
                 fit_before: pd.Timestamp) -> StepProfile:
    """The profile log-likelihood of one step's location over ``region`` of a windowed series.

    The cycle is fitted on the windows before ``fit_before`` (the onset's interval); each
    candidate location splits the region's windows into a level before and a level after
    (maximum likelihood: binomial for rates with the cycle as a multiplier, Gaussian with the
    pooled within-window variance for means with the cycle as an addend).
    """
    ws, n, v, sd = _cols(series, kind)
    keep = (n > 0) & np.isfinite(v)
    ws, n, v, sd = ws[keep], n[keep], v[keep], sd[keep]
    off = _cycle_offset(ws, n, v, kind, ws < pd.Timestamp(fit_before).value)
    lo, hi = pd.Timestamp(region[0]).value, pd.Timestamp(region[1]).value
    r = (ws >= lo) & (ws < hi)
    ws, n, v, sd, off = ws[r], n[r], v[r], sd[r], off[r]
    sigma = 1.0
    if kind == "mean":
        ok = np.isfinite(sd) & (n > 1)
        sigma = float(np.sqrt(np.sum((n[ok] - 1) * sd[ok] ** 2) / max(np.sum(n[ok] - 1), 1.0))) if ok.any() else 1.0
    prof = StepProfile(kind, ws, n, v, off, sigma, pd.Timedelta(window).value, np.array([], dtype=int), np.array([]))
    if ws.size < 4:
        return prof
    ks = np.arange(1, ws.size)
    ll = np.empty(ks.size)
    idx = np.arange(ws.size)
    for i, k in enumerate(ks):
        before = idx < k
        lev = np.where(before, prof._levels(before), prof._levels(~before))
        ll[i] = prof._ll(lev)
    return StepProfile(kind, ws, n, v, off, sigma, prof.window_ns, ks, ll)
