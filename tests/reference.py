"""A pandas second opinion for the engine tests: window aggregates computed in numpy from raw rows.

:func:`aggregate` computes, from an in-memory ``events`` frame, the same
:class:`~analysis.engine.aggregates.WindowedAggregates` as
:meth:`analysis.engine.Engine.window_aggregates` computes with SQL on DuckDB or Spark. It is a second
implementation written another way (``np.bincount`` over joint window x segment codes, bottom-k
sampling by a keyed hash), so that the engine's numbers are checked against something other than
themselves. It lives in the tests: in the package, only the engine reads raw rows.

Rates and means are read from the result by :mod:`analysis.investigation.series`; an empty window
has ``n = 0`` and a missing (NaN) rate or mean, never 0.

For window :math:`w` and segment :math:`s` the table holds :math:`n_{ws}` (rows), and per
metric :math:`m` with :math:`I_{ws}^m` the rows where :math:`m` is not missing:
:math:`n^m_{ws} = |I^m_{ws}|`, :math:`\\sum_{i \\in I^m_{ws}} x_i` and (means only)
:math:`\\sum x_i^2`. A rate is :math:`\\sum x_i / n^m`; a mean and variance follow from the
sums (see :func:`analysis.investigation.series.mean_series`). Sums over an empty window are 0 and their ``m__n`` is 0,
so the derived rate or mean is NaN. Counts are ``np.bincount`` over the joint code
``window * n_segments + segment``: one pass per segment column, no Python loop over groups.
The sample keeps, per group and column, the non-missing values with the smallest keyed
hash of ``event_id`` (bottom-k sampling, a uniform sample without replacement that does not
depend on row order).
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis._common import check_duration, check_timestamp
from analysis.schema import SEGMENT_COLUMNS
from analysis.engine.aggregates import WindowedAggregates, finish_samples, offset_string
from analysis.engine.query import ALL, MISSING

__all__ = ["DEFAULT_RATE_METRICS", "DEFAULT_MEAN_METRICS", "aggregate", "events_frame"]

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
        The same table as :meth:`analysis.engine.Engine.window_aggregates` on the same rows.
    """
    ts = _check_events(events)
    w = check_duration(window, "window")
    seg_cols = _check_segment_by(events, segment_by)
    kinds = _check_metrics(events, metrics)
    k = _check_sample_size(sample_size)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"`seed` must be an integer, got {seed!r}")
    start_ts, end_ts, n_windows = _bounds(ts, w, check_timestamp(start, "start"), check_timestamp(end, "end"))
    rows, widx = _window_index(ts, w, start_ts, end_ts, n_windows)
    window_starts = (
        pd.DatetimeIndex(start_ts + np.arange(n_windows) * w) if n_windows else pd.DatetimeIndex([], tz="UTC")
    )
    sub = events.iloc[rows]
    metric_arrays = _metric_arrays(sub, kinds)
    groups: list[tuple[str, np.ndarray, np.ndarray]] = [(ALL, np.zeros(len(rows), np.int64), np.array([ALL]))]
    for c in seg_cols:
        codes, labels = _segment_codes(sub[c])
        groups.append((c, codes, labels))
    keys = _sample_keys(sub["event_id"], seed) if (k and len(rows)) else None
    tables = [_group_table(window_starts, g, widx, kinds, metric_arrays) for g in groups]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    table = _finish_table(table)
    samples = _group_samples(groups, widx, window_starts, kinds, metric_arrays, keys, k)
    return WindowedAggregates(
        table=table,
        samples=finish_samples(samples),
        window=offset_string(w),
        metrics=dict(kinds),
        segment_by=seg_cols,
        start=start_ts,
        end=end_ts,
        sample_size=k,
        seed=int(seed),
        n_events=int(len(rows)),
        windows=window_starts,
    )


def _bounds(ts: pd.Series, w: pd.Timedelta, start_ts: pd.Timestamp | None, end_ts: pd.Timestamp | None) -> tuple[Any, Any, int]:
    """``(start, end, number of windows)``: the given bounds, or the data's first and last windows."""
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
        return None, None, 0
    if end_ts < start_ts:
        raise ValueError(f"`end` ({end_ts}) must not be before `start` ({start_ts})")
    return start_ts, end_ts, int(-(-(end_ts - start_ts) // w))  # ceil


def _window_index(ts: pd.Series, w: pd.Timedelta, start_ts: Any, end_ts: Any, n_windows: int) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the rows inside ``[start, end)`` and their window numbers."""
    tsv = ts.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    valid_ts = ~ts.isna().to_numpy()
    if n_windows:
        rel = tsv - start_ts.value
        inside = valid_ts & (rel >= 0) & (tsv < end_ts.value)
    else:
        rel = np.zeros(len(tsv), dtype=np.int64)
        inside = np.zeros(len(tsv), dtype=bool)
    rows = np.flatnonzero(inside)
    return rows, (rel[rows] // w.value).astype(np.int64)


def _metric_arrays(sub: pd.DataFrame, kinds: Mapping[str, str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per metric, over the rows inside the range: (has a value, the value with 0 where missing)."""
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
    return metric_arrays


def _group_table(window_starts: pd.DatetimeIndex, group: tuple[str, np.ndarray, np.ndarray], widx: np.ndarray,
                 kinds: Mapping[str, str], metric_arrays: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """The rows of the table for one segment column: every window x every segment, with n and the sums."""
    col_name, codes, labels = group
    n_windows, n_seg = len(window_starts), len(labels)
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
    return pd.DataFrame(data)


def _group_samples(groups: Sequence[tuple[str, np.ndarray, np.ndarray]], widx: np.ndarray, window_starts: pd.DatetimeIndex,
                   kinds: Mapping[str, str], metric_arrays: Mapping[str, tuple[np.ndarray, np.ndarray]], keys: np.ndarray | None,
                   k: int) -> pd.DataFrame | None:
    """The bottom-``k`` sample per window, segment and mean metric (``None`` when there is none)."""
    mean_metrics = [m for m, kind in kinds.items() if kind == "mean"]
    if keys is None or not mean_metrics:
        return None
    # Samples are collected as codes and decoded once at the end.
    parts: dict[str, list[np.ndarray]] = {"w": [], "spec": [], "seg": [], "col": [], "value": []}
    seg_labels: list[str] = []
    for spec, (_, codes, labels) in enumerate(groups):
        order, first = _ranked(widx * len(labels) + codes, keys)
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
    if not (parts["w"] and sum(len(x) for x in parts["w"])):
        return None
    cat = {name: np.concatenate(v) for name, v in parts.items()}
    return pd.DataFrame(
        {
            "window_start": pd.Series(window_starts[cat["w"]]),
            "segment_column": _strings(cat["spec"], [g[0] for g in groups]),
            "segment": _strings(cat["seg"].astype(np.int32), seg_labels),
            "column": _strings(cat["col"], mean_metrics),
            "value": cat["value"].astype(np.float64),
        }
    )


def _finish_table(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    if len(table.columns):
        table["window_start"] = table["window_start"].astype("datetime64[ns, UTC]")
    return table.reset_index(drop=True)


def events_frame(rows):
    """A small events frame with canonical dtypes from (ts, segment, refused, confidence) rows."""
    ts, seg, ref, conf = zip(*rows)
    return pd.DataFrame(
        {
            "event_id": pd.array([f"e{i}" for i in range(len(rows))], dtype="string[pyarrow]"),
            "ts": pd.to_datetime(list(ts), utc=True).astype("datetime64[ns, UTC]"),
            "risk_category": pd.array(list(seg), dtype="string[pyarrow]"),
            "refused": pd.array(list(ref), dtype="boolean"),
            "confidence": np.array(conf, dtype=float),
        }
    )


# ----------------------------------------------------------------------------------------------
# the affected events of a failure window, read from raw rows (the engine's `rows` query in the package)
# ----------------------------------------------------------------------------------------------


def affected_events(
    events: pd.DataFrame,
    failure: Any,
    *,
    start: Any,
    end: Any,
    segments: Sequence[tuple[str, str]] = (),
    why: str = "",
    columns: Iterable[str] = (),
) -> pd.DataFrame:
    """The events to review by hand: failures in the current period within the given segments.

    Parameters
    ----------
    events
        Canonical events.
    failure
        Boolean failure flag aligned with ``events``.
    start, end
        The failure window ``[start, end]``.
    segments
        ``(segment_column, segment)`` pairs; an event is kept when it belongs to any of them
        (``("__all__", "__all__")`` or no pairs keep all traffic).
    why
        Reason text placed in the ``why`` column (the segment the event belongs to is prefixed).
    columns
        Extra columns to carry (segment columns are always carried when present).

    Returns
    -------
    DataFrame
        ``event_id``, ``ts``, the segment columns, ``input_text``, ``output_text``, ``why``.
    """
    f = pd.Series(failure, index=events.index).astype("boolean").fillna(False).to_numpy(dtype=bool)
    ts = events["ts"]
    m = f & (ts >= pd.Timestamp(start)).to_numpy() & (ts <= pd.Timestamp(end)).to_numpy()
    member = np.zeros(len(events), dtype=bool)
    labels = np.array([""] * len(events), dtype=object)
    segs = [s for s in segments if s[0] != "__all__"]
    if not segs:
        member[:] = True
        labels[:] = "all traffic"
    for col, val in segs:
        if col not in events.columns:
            continue
        hit = (events[col].astype("string") == val).fillna(False).to_numpy(dtype=bool)
        new = hit & ~member
        labels[new] = f"{col}={val}"
        member |= hit
    keep = m & member
    seg_cols = [c for c in SEGMENT_COLUMNS if c in events.columns]
    extra = [c for c in columns if c in events.columns and c not in seg_cols]
    cols = ["event_id", "ts", *seg_cols, *extra, *[c for c in ("input_text", "output_text") if c in events.columns]]
    out = events.loc[keep, cols].copy()
    out["why"] = [f"{lab}: {why}" if why else lab for lab in labels[keep]]
    for c in ("input_text", "output_text"):
        if c not in out.columns:
            out[c] = pd.Series(pd.NA, index=out.index, dtype="string[pyarrow]")
    out["why"] = out["why"].astype("string[pyarrow]")
    return out.sort_values("ts", kind="stable").reset_index(drop=True)


def hourly_rate_series(n: np.ndarray, k: np.ndarray, *, start: pd.Timestamp) -> pd.DataFrame:
    """A rate series as the engine's series functions return it (``window_start, n, successes,
    rate``; NaN for an empty window), hourly from ``start``, from the counts ``n`` and ``k``."""
    ws = pd.date_range(start, periods=len(n), freq="1h", tz="UTC")
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    return pd.DataFrame({"window_start": ws, "n": n, "successes": k, "rate": rate})
