"""k-sigma alarm against a rolling baseline (a span of points or a duration)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from analysis.stats.checks import check_alternative
from analysis.stats.spc.checks import ChartPath, as_1d_float, check_positive, frozen

__all__ = ["RollingSigmaResult", "rolling_sigma_alarm"]


@dataclass(frozen=True)
class RollingSigmaResult(ChartPath):
    """k-sigma alarm against a rolling baseline.

    Attributes
    ----------
    values
        The input as floats.
    baseline_mean, baseline_std
        Mean and sample standard deviation (ddof 1) of the baseline span before each point.
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


def _is_duration(baseline_span: Any) -> bool:
    return isinstance(baseline_span, (str, datetime.timedelta, pd.DateOffset, np.timedelta64)) or hasattr(baseline_span, "nanos")


def rolling_sigma_alarm(
    series: ArrayLike,
    *,
    baseline_span: int | str | pd.Timedelta,
    k: float = 2.0,
    min_periods: int | None = None,
    alternative: str = "two-sided",
) -> RollingSigmaResult:
    """Alarm when a value is more than ``k`` standard deviations from its rolling baseline.

    Parameters
    ----------
    series
        Values (a pandas Series keeps its index for :meth:`RollingSigmaResult.alarm_labels`).
    baseline_span
        The baseline: the previous ``baseline_span`` observed points (an int >= 2), or, when ``series`` has
        a sorted DatetimeIndex, a duration such as ``"24h"``: the observed points in
        ``[t - baseline_span, t)``. The current point is never part of its own baseline.
    k
        Band half-width in baseline standard deviations.
    min_periods
        Fewest observed baseline points needed to judge a point (>= 2); default ``baseline_span`` for a
        count and 2 for a duration.
    alternative
        ``"two-sided"``, ``"greater"`` (alarm on rises only) or ``"less"`` (falls only).

    Notes
    -----
    .. math:: |x_t - \\bar x_{B(t)}| > k\\, s_{B(t)}

    with :math:`\\bar x_B` and :math:`s_B` (ddof 1) over the baseline :math:`B(t)`. Missing values
    are skipped, both as points to judge and inside baselines. Because the baseline follows the
    series, a slow drift moves the baseline along with it; use a CUSUM or EWMA against a fixed
    target for those. With ``k = 2`` about 4.6% of in-control Gaussian points alarm, so it is a
    sensitive, noisy alarm, not a calibrated one.
    """
    k = check_positive("k", k)
    check_alternative(alternative)
    index = series.index if isinstance(series, pd.Series) else None
    arr = as_1d_float(series, "series")
    n = arr.size
    obs = ~np.isnan(arr)
    # centre on a value of the series: a constant series then has exactly zero spread
    ref = float(arr[obs][0]) if obs.any() else 0.0
    d = arr - ref
    if _is_duration(baseline_span):
        mean, std, mp, win_param = _duration_baseline(d, index, baseline_span, min_periods)
    else:
        mean, std, mp, win_param = _count_baseline(d, obs, baseline_span, min_periods)
    with np.errstate(invalid="ignore"):
        hi = d > mean + k * std
        lo = d < mean - k * std
    if alternative == "greater":
        lo[:] = False
    elif alternative == "less":
        hi[:] = False
    alarms = np.flatnonzero(hi | lo)
    base_mean = mean + ref
    params = {"baseline_span": win_param, "k": k, "min_periods": mp, "alternative": alternative}
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
        params=frozen(params),
        n=n,
        n_observed=int(obs.sum()),
        index=index,
    )


def _duration_baseline(d: np.ndarray, index: pd.Index | None, baseline_span: Any, min_periods: int | None):
    """Mean, std of the observed points in ``[t - baseline_span, t)``, the checked ``min_periods``, the baseline_span."""
    if index is None or not isinstance(index, pd.DatetimeIndex):
        raise ValueError(f"`baseline_span` {baseline_span!r} is a duration: `series` must be a Series with a DatetimeIndex")
    if not index.is_monotonic_increasing:
        raise ValueError("`series` must have a sorted DatetimeIndex for a duration `baseline_span`")
    try:
        if isinstance(baseline_span, (datetime.timedelta, np.timedelta64)):
            win = baseline_span
        else:
            win = pd.tseries.frequencies.to_offset(baseline_span)
        if pd.Timedelta(win) <= pd.Timedelta(0):
            raise ValueError
        baseline_span = pd.Timedelta(win) if not isinstance(baseline_span, str) else baseline_span
    except (ValueError, TypeError):
        raise ValueError(f"`baseline_span` must be a positive duration, got {baseline_span!r}") from None
    mp = 2 if min_periods is None else int(min_periods)
    if mp < 2:
        raise ValueError(f"`min_periods` must be >= 2, got {min_periods!r}")
    roll = pd.Series(d, index=index).rolling(baseline_span, min_periods=mp, closed="left")
    return roll.mean().to_numpy(), roll.std().to_numpy(), mp, str(baseline_span)


def _count_baseline(d: np.ndarray, obs: np.ndarray, baseline_span: Any, min_periods: int | None):
    """Mean, std of the previous ``baseline_span`` observed points, the checked ``min_periods``, the baseline_span."""
    if isinstance(baseline_span, (bool, np.bool_)) or not isinstance(baseline_span, (int, np.integer)) or baseline_span < 2:
        raise ValueError(f"`baseline_span` must be an int >= 2 or a duration string, got {baseline_span!r}")
    baseline_span = int(baseline_span)
    mp = baseline_span if min_periods is None else int(min_periods)
    if not 2 <= mp <= baseline_span:
        raise ValueError(f"`min_periods` must be in [2, baseline_span={baseline_span}], got {min_periods!r}")
    roll = pd.Series(d[obs]).rolling(baseline_span, min_periods=mp)
    # stats of the j observed points before: index j-1 of the rolling result; j = 0 -> none
    mean_c = np.concatenate([[np.nan], roll.mean().to_numpy()])
    std_c = np.concatenate([[np.nan], roll.std().to_numpy()])
    before = np.cumsum(obs) - obs  # observed points strictly before each position
    return mean_c[before], std_c[before], mp, baseline_span
