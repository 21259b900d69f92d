"""Rates and means per window, read from the engine's aggregates (small tables, never raw rows).

:func:`rate_series` (with Wilson intervals), :func:`mean_series` (with t intervals) and
:func:`series` (whichever the metric's kind is) turn a :class:`~analysis.engine.aggregates.WindowedAggregates`
into one row per window for one segment; :func:`smoothed_series` pools neighbouring windows of such a
series so that each point of a chart rests on enough requests. They live above both the engine (the aggregates) and
:mod:`analysis.stats` (the intervals), which must not import each other.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis._common import check_alpha
from analysis.engine.aggregates import WindowedAggregates
from analysis.engine.query import ALL, MISSING
from analysis.stats.intervals import wilson_interval

__all__ = ["rate_series", "mean_series", "series", "smoothed_series"]


def _select(agg: WindowedAggregates, metric: str, kind: str | None, segment_column: str, segment: Any) -> pd.DataFrame:
    if not isinstance(agg, WindowedAggregates):
        raise TypeError(f"`agg` must be a WindowedAggregates (from Engine.window_aggregates()), got {type(agg).__name__}")
    if metric not in agg.metrics:
        raise ValueError(f"`metric` {metric!r} was not aggregated; available: {sorted(agg.metrics)}")
    if kind is not None and agg.metrics[metric] != kind:
        other = "mean_series" if kind == "rate" else "rate_series"
        raise ValueError(f"`metric` {metric!r} is a {agg.metrics[metric]} metric, not a {kind}; use {other}() or series()")
    if segment_column != ALL and segment_column not in agg.segment_by:
        raise ValueError(f"`segment_column` {segment_column!r} was not aggregated; available: {[ALL, *agg.segment_by]}")
    seg = MISSING if segment is None else str(segment)
    t = agg.table
    sel = t[(t["segment_column"] == segment_column) & (t["segment"] == seg)]
    if sel.empty and len(agg.windows):
        seen = sorted(t.loc[t["segment_column"] == segment_column, "segment"].unique().tolist())
        raise ValueError(f"`segment` {segment!r} does not occur in {segment_column!r}; seen: {seen[:20]}")
    return sel.sort_values("window_start")


def rate_series(agg: WindowedAggregates, metric: str, *, segment_column: str = ALL, segment: Any = ALL,
                alpha: float = 0.05) -> pd.DataFrame:
    """The rate of a boolean metric per window, with Wilson intervals.

    Returns
    -------
    DataFrame
        ``window_start``, ``n`` (rows with a label), ``successes``, ``rate``, ``ci_low``,
        ``ci_high``; ``rate`` and the interval are NaN where ``n == 0``.

    Notes
    -----
    :math:`\\hat p = x / n` with the Wilson score interval
    (:func:`analysis.stats.intervals.wilson_interval`).
    """
    check_alpha(alpha)
    sel = _select(agg, metric, "rate", segment_column, segment)
    n = sel[f"{metric}__n"].to_numpy(dtype=np.int64)
    x = sel[f"{metric}__sum"].to_numpy(dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, x / np.maximum(n, 1), np.nan)
    lo, hi = wilson_interval(x, n, alpha)
    return pd.DataFrame({"window_start": sel["window_start"].reset_index(drop=True), "n": n, "successes": x, "rate": rate,
                         "ci_low": np.asarray(lo, dtype=float), "ci_high": np.asarray(hi, dtype=float)})


def mean_series(agg: WindowedAggregates, metric: str, *, segment_column: str = ALL, segment: Any = ALL,
                alpha: float = 0.05) -> pd.DataFrame:
    """The mean of a numeric metric per window, with its standard error and a t interval.

    Returns
    -------
    DataFrame
        ``window_start``, ``n``, ``mean``, ``std`` (sample, ``ddof=1``), ``se``, ``ci_low``,
        ``ci_high``. ``mean`` is NaN where ``n == 0``; ``std``, ``se`` and the interval are NaN
        where ``n < 2``.

    Notes
    -----
    From :math:`S_1 = \\sum x`, :math:`S_2 = \\sum x^2`:
    :math:`\\bar x = S_1/n`, :math:`s^2 = (S_2 - n \\bar x^2)/(n-1)` (clipped at 0 against
    rounding), :math:`se = s/\\sqrt n`, interval :math:`\\bar x \\pm t_{1-\\alpha/2, n-1}\\, se`.
    The one-pass formula loses precision when :math:`|\\bar x| \\gg s` (e.g. epoch
    timestamps); the metrics here (scores, latencies, tokens) are far from that regime.
    """
    check_alpha(alpha)
    sel = _select(agg, metric, "mean", segment_column, segment)
    n = sel[f"{metric}__n"].to_numpy(dtype=np.int64)
    s1 = sel[f"{metric}__sum"].to_numpy(dtype=float)
    s2 = sel[f"{metric}__sumsq"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, s1 / np.maximum(n, 1), np.nan)
        var = np.where(n > 1, np.maximum(s2 - n * mean**2, 0.0) / np.maximum(n - 1, 1), np.nan)
        std = np.sqrt(var)
        se = std / np.sqrt(n)
        tq = np.where(n > 1, stats.t.ppf(1 - alpha / 2, np.maximum(n - 1, 1)), np.nan)
    return pd.DataFrame({"window_start": sel["window_start"].reset_index(drop=True), "n": n, "mean": mean, "std": std, "se": se,
                         "ci_low": mean - tq * se, "ci_high": mean + tq * se})


def series(agg: WindowedAggregates, metric: str, *, segment_column: str = ALL, segment: Any = ALL,
           alpha: float = 0.05) -> pd.DataFrame:
    """:func:`rate_series` or :func:`mean_series`, whichever the metric's kind is.

    Both frames have ``window_start``, ``n``, ``ci_low``, ``ci_high``; the value column is
    ``rate`` for a rate and ``mean`` for a mean. A ``value`` column (the same numbers) is added
    so callers can treat both alike.
    """
    if not isinstance(agg, WindowedAggregates):
        raise TypeError(f"`agg` must be a WindowedAggregates (from Engine.window_aggregates()), got {type(agg).__name__}")
    if metric not in agg.metrics:
        raise ValueError(f"`metric` {metric!r} was not aggregated; available: {sorted(agg.metrics)}")
    if agg.metrics[metric] == "rate":
        out = rate_series(agg, metric, segment_column=segment_column, segment=segment, alpha=alpha)
        return out.assign(value=out["rate"])
    out = mean_series(agg, metric, segment_column=segment_column, segment=segment, alpha=alpha)
    return out.assign(value=out["mean"])


def _span(n: np.ndarray, min_n: int, max_span: int) -> int:
    """The smallest odd number of windows whose centred sums reach ``min_n`` requests in the median window."""
    n = np.asarray(n, dtype=float)
    busy = n > 0
    for k in range(1, max_span + 1, 2):
        sums = pd.Series(n).rolling(k, center=True, min_periods=1).sum().to_numpy()
        if not busy.any() or float(np.median(sums[busy])) >= min_n:
            return k
    return max_span if max_span % 2 else max(1, max_span - 1)


def smoothed_series(frame: pd.DataFrame, *, min_n: int = 30, alpha: float = 0.05, max_share: float = 1 / 6) -> pd.DataFrame:
    """A windowed series pooled over a centred run of neighbouring windows, so each point has enough requests.

    Parameters
    ----------
    frame
        A series of :func:`rate_series` (``n``, ``successes``) or :func:`mean_series` (``n``,
        ``mean``, ``std``), one row per window in time order.
    min_n
        The requests the median (non-empty) point should rest on; the span grows, one window on
        each side at a time, until it does.
    alpha
        One minus the interval's coverage.
    max_share
        The span never exceeds this share of the windows, so the line keeps the series' shape.

    Returns
    -------
    DataFrame
        ``window_start``, ``n`` (requests pooled), ``value`` (the pooled rate or mean),
        ``ci_low``, ``ci_high`` and ``span`` (windows pooled, odd; 1 when each window already
        has enough requests). The frame's own columns are not kept.

    Notes
    -----
    For point :math:`t` and span :math:`k = 2m + 1`, the pooled counts are
    :math:`N_t = \\sum_{|s-t| \\le m} n_s` (fewer windows at the ends). A rate is
    :math:`\\sum x_s / N_t` with its Wilson interval; a mean is
    :math:`\\sum n_s \\bar x_s / N_t` with the pooled variance
    :math:`(\\sum [(n_s - 1) s_s^2 + n_s \\bar x_s^2] - N_t \\bar x^2) / (N_t - 1)` and a t interval.
    This is a centred moving (boxcar) pooling, not an exponential one: each point is a plain
    estimate over the requests of its span, so its interval is the ordinary one.
    """
    check_alpha(alpha)
    if min_n < 1:
        raise ValueError(f"`min_n` must be a positive count of requests, got {min_n!r}")
    n = frame["n"].to_numpy(dtype=float)
    k = _span(n, min_n, max(1, int(len(frame) * max_share)))
    roll = lambda v: pd.Series(np.asarray(v, dtype=float)).rolling(k, center=True, min_periods=1).sum().to_numpy()  # noqa: E731
    pooled_n = roll(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        if "successes" in frame.columns:
            x = roll(frame["successes"].to_numpy(dtype=float))
            value = np.where(pooled_n > 0, x / np.maximum(pooled_n, 1), np.nan)
            lo, hi = wilson_interval(x, pooled_n, alpha)
        else:
            mean = np.nan_to_num(frame["mean"].to_numpy(dtype=float))
            var = np.nan_to_num(frame["std"].to_numpy(dtype=float) ** 2) if "std" in frame.columns else np.zeros(len(frame))
            s1, s2 = roll(n * mean), roll((np.maximum(n - 1, 0)) * var + n * mean**2)
            value = np.where(pooled_n > 0, s1 / np.maximum(pooled_n, 1), np.nan)
            sd = np.sqrt(np.where(pooled_n > 1, np.maximum(s2 - pooled_n * value**2, 0.0) / np.maximum(pooled_n - 1, 1), np.nan))
            half = np.where(pooled_n > 1, stats.t.ppf(1 - alpha / 2, np.maximum(pooled_n - 1, 1)), np.nan) * sd / np.sqrt(pooled_n)
            lo, hi = value - half, value + half
    return pd.DataFrame({"window_start": frame["window_start"].reset_index(drop=True), "n": pooled_n.astype(np.int64),
                         "value": value, "ci_low": np.asarray(lo, dtype=float), "ci_high": np.asarray(hi, dtype=float), "span": k})
