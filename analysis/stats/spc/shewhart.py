"""Shewhart individuals chart with the Western Electric rules, and its streaming twin."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from analysis.stats.spc.checks import ChartPath, as_1d_float, check_finite, check_positive, check_rules, frozen, scalar
from analysis.stats.spc._blocks import observed_points, sides

__all__ = ["ShewhartResult", "shewhart", "ShewhartChart"]


@dataclass(frozen=True)
class ShewhartResult(ChartPath):
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

    @property
    def statistic(self) -> np.ndarray:
        """Standardised values ``(x - target) / sigma``."""
        return (self.values - self.center) / self.params["sigma"]


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
    target = check_finite("target", target)
    sigma = check_positive("sigma", sigma)
    rules = check_rules(rules)
    arr = as_1d_float(x, "x")
    _, xc, orig_idx = observed_points(arr)
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
        side=sides(any_up[comp], any_lo[comp]),
        rule_alarms=frozen(rule_alarms),
        first_alarm=int(orig_idx[comp[0]]) if comp.size else None,
        first_rule=int(first_rule[comp[0]]) if comp.size else None,
        method="shewhart_western_electric",
        params=frozen(params),
        n=arr.size,
        n_observed=m,
    )


class ShewhartChart:
    """Streaming twin of :func:`shewhart` (keeps the last eight observed points)."""

    def __init__(self, *, target: float, sigma: float, rules: Sequence[int] = (1, 2, 3, 4)) -> None:
        self.target = check_finite("target", target)
        self.sigma = check_positive("sigma", sigma)
        self.rules = check_rules(rules)
        self._last: deque[float] = deque(maxlen=8)
        self.n_seen = self.n_observed = self.n_alarms = 0
        self.alarm = False
        self.side: str | None = None
        self.rule: int | None = None
        self.rules_fired: tuple[int, ...] = ()

    def update(self, x: float) -> "ShewhartChart":
        """Add one observation (NaN/None is skipped) and return the chart."""
        v = scalar(x, "x")
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
