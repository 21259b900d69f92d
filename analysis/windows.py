"""Time-bucketed metrics per segment: the only module that reads raw event rows in bulk.

:func:`aggregate` turns an ``events`` table into a small long table of per-window,
per-segment sufficient statistics (counts, label counts, sums and sums of squares) plus a
bounded random sample of raw values per window and segment. Everything downstream (drift tests,
control charts, change points, attribution) works on those small tables, so this one step can
later run as a single query on the engine where the logs live (DuckDB, Spark, BigQuery,
Snowflake) without touching the rest. The SQL shape, for ``window='1h'`` and
``segment_by=('query_category',)``::

    WITH w AS (
      SELECT *, TIME_BUCKET(INTERVAL '1 hour', ts, TIMESTAMP :start) AS window_start
      FROM events WHERE ts >= :start AND ts < :end
    ), seg AS (
      SELECT window_start, '__all__' AS segment_column, '__all__' AS segment, * EXCLUDE (window_start) FROM w
      UNION ALL
      SELECT window_start, 'query_category', COALESCE(CAST(query_category AS VARCHAR), '__missing__'),
             * EXCLUDE (window_start) FROM w
    ), agg AS (
      SELECT window_start, segment_column, segment, COUNT(*) AS n,
             COUNT(refused) AS refused__n, SUM(CAST(refused AS INT)) AS refused__sum,
             COUNT(confidence) AS confidence__n, SUM(confidence) AS confidence__sum,
             SUM(confidence * confidence) AS confidence__sumsq
      FROM seg GROUP BY ALL
    ), grid AS (            -- every window x every segment seen: empty windows stay as n = 0
      SELECT g.window_start, s.segment_column, s.segment
      FROM GENERATE_SERIES(TIMESTAMP :start, TIMESTAMP :end - INTERVAL '1 hour', INTERVAL '1 hour') g(window_start)
      CROSS JOIN (SELECT DISTINCT segment_column, segment FROM seg) s
    )
    SELECT grid.*, COALESCE(n, 0) AS n, COALESCE(refused__n, 0) AS refused__n, ...
    FROM grid LEFT JOIN agg USING (window_start, segment_column, segment);

    -- samples: per (window, segment, column) the rows with the smallest seeded hash of event_id
    SELECT window_start, segment_column, segment, 'confidence' AS column, confidence AS value
    FROM seg WHERE confidence IS NOT NULL
    QUALIFY ROW_NUMBER() OVER (PARTITION BY window_start, segment_column, segment
                               ORDER BY HASH(event_id, :seed)) <= :sample_size;

Rates and means are derived from the sums (:func:`rate_series`, :func:`mean_series`); an empty
window has ``n = 0`` and a missing (NaN) rate or mean, never 0.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import stats

from analysis._common import check_alpha as _check_alpha
from analysis._common import check_duration, check_timestamp
from analysis.stats.intervals import wilson_interval

__all__ = [
    "ALL",
    "MISSING",
    "DEFAULT_RATE_METRICS",
    "DEFAULT_MEAN_METRICS",
    "WindowedAggregates",
    "aggregate",
    "rate_series",
    "mean_series",
    "series",
]

ALL = "__all__"
MISSING = "__missing__"
DEFAULT_RATE_METRICS = ("refused", "escalated", "correct", "hallucinated")
DEFAULT_MEAN_METRICS = (
    "confidence",
    "quality_score",
    "retrieval_top1_score",
    "retrieval_mean_score",
    "latency_ms",
    "input_tokens",
    "output_tokens",
)
_KINDS = ("rate", "mean")


@dataclass(frozen=True)
class WindowedAggregates:
    """Per-window, per-segment sufficient statistics.

    Attributes
    ----------
    table
        Long table: ``window_start`` (UTC), ``segment_column`` (``"__all__"`` for the whole
        traffic), ``segment`` (the value as a string; ``"__all__"``; ``"__missing__"`` for a null),
        ``n`` (rows), and per rate metric ``m``: ``m__n`` (rows with a label), ``m__sum`` (true
        count); per mean metric ``m``: ``m__n`` (non-missing values), ``m__sum``, ``m__sumsq``.
        Every window of ``[start, end)`` appears for every ``(segment_column, segment)`` seen.
    samples
        ``window_start``, ``segment_column``, ``segment``, ``column``, ``value``: at most
        ``sample_size`` non-missing raw values per window, segment and mean metric, chosen by a
        seeded hash of ``event_id`` (the same rows whatever the input order).
    window
        The window length as an offset string (e.g. ``"1h"``).
    metrics
        Metric name -> ``"rate"`` or ``"mean"``.
    segment_by, start, end, sample_size, seed
        The parameters used (``start``/``end`` resolved).
    n_events
        Events that fell in ``[start, end)``.
    """

    table: pd.DataFrame
    samples: pd.DataFrame
    window: str
    metrics: dict[str, str]
    segment_by: tuple[str, ...] = ()
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    sample_size: int = 256
    seed: int = 0
    n_events: int = 0
    windows: pd.DatetimeIndex = field(default_factory=lambda: pd.DatetimeIndex([], tz="UTC"))

    def segments(self, segment_column: str | None = None) -> pd.DataFrame:
        """The distinct ``(segment_column, segment)`` pairs with their total ``n``."""
        t = self.table if segment_column is None else self.table[self.table["segment_column"] == segment_column]
        return t.groupby(["segment_column", "segment"], sort=False, as_index=False)["n"].sum()


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _check_events(events: Any) -> pd.Series:
    if not isinstance(events, pd.DataFrame):
        raise TypeError(f"`events` must be a pandas DataFrame, got {type(events).__name__}")
    for col in ("ts", "event_id"):
        if col not in events.columns:
            raise ValueError(f"`events` must have a {col!r} column; columns found: {list(events.columns)}")
    ts = events["ts"]
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        raise ValueError(
            f"`events['ts']` must be timezone-aware timestamps (datetime64[ns, UTC]), got dtype {ts.dtype}; "
            "load files with analysis.loaders or call analysis.schema.coerce"
        )
    return ts.dt.tz_convert("UTC")


def _check_segment_by(events: pd.DataFrame, segment_by: Any) -> tuple[str, ...]:
    if segment_by is None:
        return ()
    if isinstance(segment_by, str):
        segment_by = (segment_by,)
    cols = tuple(segment_by)
    for c in cols:
        if not isinstance(c, str) or c not in events.columns:
            raise ValueError(f"`segment_by` names a column that `events` does not have: {c!r}")
        if c == ALL:
            raise ValueError(f"`segment_by` cannot use the reserved name {ALL!r}")
    if len(set(cols)) != len(cols):
        raise ValueError(f"`segment_by` has duplicates: {list(cols)}")
    return cols


def _metric_kind(s: pd.Series) -> str | None:
    if pd.api.types.is_bool_dtype(s.dtype):
        return "rate"
    if pd.api.types.is_numeric_dtype(s.dtype):
        return "mean"
    return None


def _check_metrics(events: pd.DataFrame, metrics: Any) -> dict[str, str]:
    if metrics is None:
        # "Present" means the column exists and holds at least one value.
        def present(m: str, kind: str) -> bool:
            return m in events.columns and _metric_kind(events[m]) == kind and bool(events[m].notna().any())

        out = {m: "rate" for m in DEFAULT_RATE_METRICS if present(m, "rate")}
        out.update({m: "mean" for m in DEFAULT_MEAN_METRICS if present(m, "mean")})
        return out
    if isinstance(metrics, str):
        metrics = (metrics,)
    items: Iterable[tuple[str, str | None]]
    if isinstance(metrics, Mapping):
        items = metrics.items()
    else:
        items = ((m, None) for m in metrics)
    out = {}
    for name, kind in items:
        if name not in events.columns:
            raise ValueError(f"`metrics` names a column that `events` does not have: {name!r}")
        inferred = _metric_kind(events[name])
        if kind is None:
            if inferred is None:
                raise ValueError(
                    f"`metrics`: column {name!r} has dtype {events[name].dtype}; a metric must be boolean (a rate) "
                    "or numeric (a mean)"
                )
            kind = inferred
        if kind not in _KINDS:
            raise ValueError(f"`metrics`: the kind of {name!r} must be 'rate' or 'mean', got {kind!r}")
        if kind == "rate" and inferred != "rate":
            raise ValueError(f"`metrics`: {name!r} is not boolean (dtype {events[name].dtype}); it cannot be a rate")
        if kind == "mean" and inferred is None:
            raise ValueError(f"`metrics`: {name!r} is not numeric (dtype {events[name].dtype}); it cannot be a mean")
        out[name] = kind
    return out


def _check_sample_size(sample_size: Any) -> int:
    if isinstance(sample_size, bool) or not isinstance(sample_size, (int, np.integer)) or sample_size < 0:
        raise ValueError(f"`sample_size` must be a non-negative integer, got {sample_size!r}")
    return int(sample_size)


def _offset_string(w: pd.Timedelta) -> str:
    secs = int(w.total_seconds())
    if w == pd.Timedelta(seconds=secs):
        for unit, size in (("D", 86400), ("h", 3600), ("min", 60)):
            if secs % size == 0:
                return f"{secs // size}{unit}"
        return f"{secs}s"
    return f"{w.value}ns"


# --------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------


def _segment_codes(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and sorted string labels of a segment column (null -> ``__missing__``)."""
    missing = s.isna().to_numpy(dtype=bool)
    as_str = s.astype("string").astype(object).to_numpy()
    as_str = np.where(missing, MISSING, as_str)
    labels, codes = np.unique(as_str.astype(str), return_inverse=True)
    return codes.astype(np.int64), labels


def _sample_keys(event_id: pd.Series, seed: int) -> np.ndarray:
    key = hashlib.blake2b(str(int(seed)).encode(), digest_size=8).hexdigest()
    return pd.util.hash_array(event_id.astype(object).to_numpy(), hash_key=key, categorize=False)


def _ranked(group: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row order sorted by ``(group, key)`` (ties by position) and the group start flags."""
    order = np.lexsort((np.arange(len(key)), key, group))
    g = group[order]
    first = np.r_[True, g[1:] != g[:-1]] if len(g) else np.zeros(0, dtype=bool)
    return order, first


def _bottom_k(order: np.ndarray, first: np.ndarray, keep: np.ndarray, k: int) -> np.ndarray:
    """Of the rows in ``order`` (sorted by group, key), the first ``k`` per group with ``keep``."""
    kept = keep[order]
    cs = np.cumsum(kept)
    before = np.r_[0, cs[:-1]]
    starts = np.flatnonzero(first)
    lengths = np.diff(np.r_[starts, len(order)])
    rank = cs - np.repeat(before[starts], lengths)  # 1-based rank among kept rows of the group
    return order[kept & (rank <= k)]


def _strings(codes: np.ndarray, labels: Sequence[str]) -> pd.Series:
    """A ``string[pyarrow]`` Series from integer codes into ``labels`` (decoded by Arrow)."""
    arr = pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32()), pa.array(list(labels), type=pa.string()))
    return pd.Series(pd.array(arr.cast(pa.string()), dtype="string[pyarrow]"))


def aggregate(
    events: pd.DataFrame,
    *,
    window: str | pd.Timedelta = "1h",
    segment_by: Sequence[str] | str = (),
    metrics: Sequence[str] | Mapping[str, str] | None = None,
    sample_size: int = 256,
    seed: int = 0,
    start: Any = None,
    end: Any = None,
) -> WindowedAggregates:
    """Per-window, per-segment counts, label counts, sums and sums of squares.

    Parameters
    ----------
    events
        The canonical events table (``event_id`` and a timezone-aware ``ts`` are required).
    window
        A fixed duration (``"15min"``, ``"1h"``, ``"6h"``, ``"1D"``). Windows are
        ``[start + i * window, start + (i + 1) * window)``.
    segment_by
        Columns to break the traffic down by; the whole traffic is always included as
        ``segment_column == segment == "__all__"``. Values become strings, nulls ``"__missing__"``.
    metrics
        Names (kind inferred: boolean -> ``"rate"``, numeric -> ``"mean"``) or a dict name ->
        kind. ``None``: the outcome booleans present (refused, escalated, correct,
        hallucinated) and confidence, quality_score, retrieval_top1_score,
        retrieval_mean_score, latency_ms, input_tokens, output_tokens when present
        (the column exists and holds at least one value).
    sample_size
        Maximum raw values kept per window, segment and mean metric (0: no samples).
    seed
        Seeds the sample (a keyed hash of ``event_id``).
    start, end
        Timezone-aware bounds; rows outside ``[start, end)`` are dropped. ``start`` defaults to
        the first ``ts`` floored to the window (aligned to the Unix epoch), ``end`` to the end
        of the window holding the last ``ts``.

    Returns
    -------
    WindowedAggregates

    Notes
    -----
    For window :math:`w` and segment :math:`s` the table holds :math:`n_{ws}` (rows), and per
    metric :math:`m` with :math:`I_{ws}^m` the rows where :math:`m` is not missing:
    :math:`n^m_{ws} = |I^m_{ws}|`, :math:`\\sum_{i \\in I^m_{ws}} x_i` and (means only)
    :math:`\\sum x_i^2`. A rate is :math:`\\sum x_i / n^m`; a mean and variance follow from the
    sums (see :func:`mean_series`). Sums over an empty window are 0 and their ``m__n`` is 0,
    so the derived rate or mean is NaN. Counts are ``np.bincount`` over the joint code
    ``window * n_segments + segment``: one pass per segment column, no Python loop over groups.
    The sample keeps, per group and column, the non-missing values with the smallest keyed
    hash of ``event_id`` (bottom-k sampling, a uniform sample without replacement that does not
    depend on row order).
    """
    ts = _check_events(events)
    w = check_duration(window, "window")
    seg_cols = _check_segment_by(events, segment_by)
    kinds = _check_metrics(events, metrics)
    k = _check_sample_size(sample_size)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"`seed` must be an integer, got {seed!r}")
    start_ts = check_timestamp(start, "start")
    end_ts = check_timestamp(end, "end")
    tsv = ts.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    valid_ts = ~ts.isna().to_numpy()
    if start_ts is None:
        start_ts = ts.min().floor(w) if valid_ts.any() else None
    if end_ts is None:
        if valid_ts.any():
            last = ts.max()
            n_w = int((last - start_ts) // w) + 1
            end_ts = start_ts + n_w * w
        else:
            end_ts = start_ts
    if start_ts is None or end_ts is None:
        # No timestamps and no bounds: nothing to aggregate.
        start_ts = end_ts = None
        n_windows = 0
    else:
        if end_ts < start_ts:
            raise ValueError(f"`end` ({end_ts}) must not be before `start` ({start_ts})")
        n_windows = int(-(-(end_ts - start_ts) // w))  # ceil
    w_ns = w.value
    if n_windows:
        rel = tsv - start_ts.value
        inside = valid_ts & (rel >= 0) & (tsv < end_ts.value)
    else:
        rel = np.zeros(len(tsv), dtype=np.int64)
        inside = np.zeros(len(tsv), dtype=bool)
    rows = np.flatnonzero(inside)
    widx = (rel[rows] // w_ns).astype(np.int64)
    window_starts = (
        pd.DatetimeIndex(start_ts + np.arange(n_windows) * w) if n_windows else pd.DatetimeIndex([], tz="UTC")
    )
    sub = events.iloc[rows]
    # Metric arrays (over the rows inside the range).
    metric_arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for m, kind in kinds.items():
        s = sub[m]
        if kind == "rate":
            lab = s.notna().to_numpy(dtype=bool)
            val = s.fillna(False).to_numpy(dtype=bool) & lab
            metric_arrays[m] = (lab, val.astype(np.float64))
        else:
            val = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            lab = ~np.isnan(val)
            metric_arrays[m] = (lab, np.where(lab, val, 0.0))
    groups: list[tuple[str, np.ndarray, np.ndarray]] = [(ALL, np.zeros(len(rows), np.int64), np.array([ALL]))]
    for c in seg_cols:
        codes, labels = _segment_codes(sub[c])
        groups.append((c, codes, labels))
    tables = []
    keys = _sample_keys(sub["event_id"], seed) if (k and len(rows)) else None
    mean_metrics = [m for m, kind in kinds.items() if kind == "mean"]
    # Samples are collected as codes and decoded once at the end.
    parts: dict[str, list[np.ndarray]] = {"w": [], "spec": [], "seg": [], "col": [], "value": []}
    seg_labels: list[str] = []
    for spec, (col_name, codes, labels) in enumerate(groups):
        n_seg = len(labels)
        size = n_windows * n_seg
        joint = widx * n_seg + codes
        data: dict[str, Any] = {
            "window_start": window_starts.repeat(n_seg),
            "segment_column": _strings(np.zeros(size, dtype=np.int32), [col_name]),
            "segment": _strings(np.tile(np.arange(n_seg, dtype=np.int32), n_windows), labels),
            "n": np.bincount(joint, minlength=size).astype(np.int64),
        }
        for m, kind in kinds.items():
            lab, val = metric_arrays[m]
            data[f"{m}__n"] = np.bincount(joint, weights=lab, minlength=size).round().astype(np.int64)
            s1 = np.bincount(joint, weights=val, minlength=size)
            if kind == "rate":
                data[f"{m}__sum"] = s1.round().astype(np.int64)
            else:
                data[f"{m}__sum"] = s1
                data[f"{m}__sumsq"] = np.bincount(joint, weights=val * val, minlength=size)
        tables.append(pd.DataFrame(data))
        if keys is not None and mean_metrics:
            order, first = _ranked(joint, keys)
            offset = len(seg_labels)
            seg_labels.extend(labels.tolist())
            for j, m in enumerate(mean_metrics):
                lab, val = metric_arrays[m]
                pick = _bottom_k(order, first, lab, k)
                parts["w"].append(widx[pick])
                parts["spec"].append(np.full(len(pick), spec, dtype=np.int32))
                parts["seg"].append(codes[pick] + offset)
                parts["col"].append(np.full(len(pick), j, dtype=np.int32))
                parts["value"].append(val[pick])
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    table = _finish_table(table)
    if parts["w"] and sum(len(x) for x in parts["w"]):
        cat = {name: np.concatenate(v) for name, v in parts.items()}
        samples = pd.DataFrame(
            {
                "window_start": pd.Series(window_starts[cat["w"]]),
                "segment_column": _strings(cat["spec"], [g[0] for g in groups]),
                "segment": _strings(cat["seg"].astype(np.int32), seg_labels),
                "column": _strings(cat["col"], mean_metrics),
                "value": cat["value"].astype(np.float64),
            }
        )
    else:
        samples = None
    samples = _finish_samples(samples)
    return WindowedAggregates(
        table=table,
        samples=samples,
        window=_offset_string(w),
        metrics=dict(kinds),
        segment_by=seg_cols,
        start=start_ts,
        end=end_ts,
        sample_size=k,
        seed=int(seed),
        n_events=int(len(rows)),
        windows=window_starts,
    )


def _finish_table(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    if len(table.columns):
        table["window_start"] = table["window_start"].astype("datetime64[ns, UTC]")
    return table.reset_index(drop=True)


def _finish_samples(samples: pd.DataFrame | None) -> pd.DataFrame:
    if samples is None:
        samples = pd.DataFrame(
            {
                "window_start": pd.Series([], dtype="datetime64[ns, UTC]"),
                "segment_column": pd.Series([], dtype=object),
                "segment": pd.Series([], dtype=object),
                "column": pd.Series([], dtype=object),
                "value": pd.Series([], dtype=np.float64),
            }
        )
    samples["window_start"] = samples["window_start"].astype("datetime64[ns, UTC]")
    for c in ("segment_column", "segment", "column"):
        samples[c] = samples[c].astype("string[pyarrow]")
    return samples.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Series
# --------------------------------------------------------------------------------------------


def _select(agg: WindowedAggregates, metric: str, kind: str | None, segment_column: str, segment: Any) -> pd.DataFrame:
    if not isinstance(agg, WindowedAggregates):
        raise TypeError(f"`agg` must be a WindowedAggregates (from aggregate()), got {type(agg).__name__}")
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


def rate_series(
    agg: WindowedAggregates,
    metric: str,
    *,
    segment_column: str = ALL,
    segment: Any = ALL,
    alpha: float = 0.05,
) -> pd.DataFrame:
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
    _check_alpha(alpha)
    sel = _select(agg, metric, "rate", segment_column, segment)
    n = sel[f"{metric}__n"].to_numpy(dtype=np.int64)
    x = sel[f"{metric}__sum"].to_numpy(dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, x / np.maximum(n, 1), np.nan)
    lo, hi = wilson_interval(x, n, alpha)
    return pd.DataFrame(
        {
            "window_start": sel["window_start"].reset_index(drop=True),
            "n": n,
            "successes": x,
            "rate": rate,
            "ci_low": np.asarray(lo, dtype=float),
            "ci_high": np.asarray(hi, dtype=float),
        }
    )


def mean_series(
    agg: WindowedAggregates,
    metric: str,
    *,
    segment_column: str = ALL,
    segment: Any = ALL,
    alpha: float = 0.05,
) -> pd.DataFrame:
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
    _check_alpha(alpha)
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
    return pd.DataFrame(
        {
            "window_start": sel["window_start"].reset_index(drop=True),
            "n": n,
            "mean": mean,
            "std": std,
            "se": se,
            "ci_low": mean - tq * se,
            "ci_high": mean + tq * se,
        }
    )


def series(
    agg: WindowedAggregates,
    metric: str,
    *,
    segment_column: str = ALL,
    segment: Any = ALL,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """:func:`rate_series` or :func:`mean_series`, whichever the metric's kind is.

    Both frames have ``window_start``, ``n``, ``ci_low``, ``ci_high``; the value column is
    ``rate`` for a rate and ``mean`` for a mean. A ``value`` column (the same numbers) is added
    so callers can treat both alike.
    """
    if not isinstance(agg, WindowedAggregates):
        raise TypeError(f"`agg` must be a WindowedAggregates (from aggregate()), got {type(agg).__name__}")
    if metric not in agg.metrics:
        raise ValueError(f"`metric` {metric!r} was not aggregated; available: {sorted(agg.metrics)}")
    if agg.metrics[metric] == "rate":
        out = rate_series(agg, metric, segment_column=segment_column, segment=segment, alpha=alpha)
        return out.assign(value=out["rate"])
    out = mean_series(agg, metric, segment_column=segment_column, segment=segment, alpha=alpha)
    return out.assign(value=out["mean"])
