"""Traffic: the daily and weekly cycle, the Poisson arrival process and each case's arrival streams."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .base import BASE_RATE, HOUR, NS_DAY, NS_HOUR, Params


def _hour_of_day(ns: np.ndarray) -> np.ndarray:
    return (ns % NS_DAY) / NS_HOUR


def _day_of_week(ns: np.ndarray) -> np.ndarray:
    # 1970-01-01 was a Thursday; Monday = 0.
    return ((ns // NS_DAY) + 3) % 7


def cycle(ns: np.ndarray, *, peak_hour: float, amplitude: float, weekly: Sequence[float]) -> np.ndarray:
    """Multiplicative daily x weekly profile, mean ~1 over a week of weekdays."""
    h = _hour_of_day(ns)
    daily = 1.0 + amplitude * np.cos(2 * np.pi * (h - peak_hour) / 24.0)
    return daily * np.asarray(weekly, dtype=float)[_day_of_week(ns)]


def arrivals(
    rng: np.random.Generator,
    start: pd.Timestamp,
    end: pd.Timestamp,
    rate_per_hour: Callable[[np.ndarray], np.ndarray],
    *,
    bin_minutes: int = 5,
    dispersion: float = 40.0,
) -> np.ndarray:
    """Sorted arrival times (int64 ns, millisecond resolution) of an inhomogeneous Poisson process.

    The rate is evaluated at the start of each bin and multiplied by an hourly Gamma(k, 1/k)
    factor (over-dispersion: real traffic is burstier than Poisson).
    """
    step = bin_minutes * 60 * 1_000_000_000
    bins = np.arange(start.value, end.value, step, dtype=np.int64)
    lam = np.maximum(rate_per_hour(bins), 0.0) * bin_minutes / 60.0
    hour = (bins - bins[0]) // NS_HOUR
    noise = rng.gamma(dispersion, 1.0 / dispersion, size=int(hour.max()) + 1)[hour]
    counts = rng.poisson(lam * noise)
    offsets = (rng.random(int(counts.sum())) * step).astype(np.int64)
    ts = np.repeat(bins, counts) + offsets
    ts = np.sort(ts)
    ts = (ts // 1_000_000) * 1_000_000
    return ts[ts < end.value]


def rate_streams(p: Params) -> list[tuple[pd.Timestamp, Callable[[np.ndarray], np.ndarray]]]:
    """The pattern's arrival streams: ``(start, rate)`` with ``rate(ns)`` in events per hour.

    Deterministic functions of the resolved parameters, shared by :func:`generate` and the
    chunked writer (which also uses them to size its slices before drawing anything).
    """
    if p.pattern == "retrieval":
        weekly = (1.0, 1.05, 1.05, 1.0, 0.9, 0.3, 0.25)
        base = BASE_RATE["retrieval"] * p.scale
        return [(p.start, lambda ns: base * cycle(ns, peak_hour=16.0, amplitude=0.75, weekly=weekly))]
    if p.pattern == "refusal":
        weekly = (1.0, 1.0, 0.98, 0.98, 0.95, 0.85, 0.85)
        base = BASE_RATE["refusal"] * p.scale
        return [(p.start, lambda ns: base * cycle(ns, peak_hour=18.0, amplitude=0.55, weekly=weekly))]
    m = p.magnitude
    onset = p.onset
    t_traffic = onset - 48 * HOUR
    weekly = (1.0, 1.0, 1.0, 1.0, 0.95, 0.7, 0.6)
    base = BASE_RATE["escalation"] * p.scale
    profile = dict(peak_hour=17.0, amplitude=0.6, weekly=weekly)

    def blog_rate(ns: np.ndarray) -> np.ndarray:
        pre = np.clip((ns - t_traffic.value) / (48 * NS_HOUR), 0.0, 1.0)
        post = np.clip(1.0 - np.exp(-(ns - onset.value) / (1.5 * NS_HOUR)), 0.0, None)
        r = np.where(ns < t_traffic.value, 0.0, 0.01 + 0.02 * pre + 30.0 * post)
        return base * m * r * np.sqrt(cycle(ns, **profile))

    return [(p.start, lambda ns: base * cycle(ns, **profile)), (t_traffic, blog_rate)]


def expected_events(p: Params, lo: int, hi: int, bin_minutes: int = 5) -> float:
    """Expected number of arrivals in ``[lo, hi)`` (ns), from the rates on the arrival bins."""
    step = bin_minutes * 60 * 1_000_000_000
    total = 0.0
    for start, rate in rate_streams(p):
        a = max(lo, start.value)
        if a < hi:
            bins = np.arange(a, hi, step, dtype=np.int64)
            total += float(np.maximum(rate(bins), 0.0).sum()) * bin_minutes / 60.0
    return total
