"""Coercion of raw timestamps (ISO 8601 with an offset, epoch numbers, aware datetimes) to
``datetime64[ns, UTC]``; timestamps without an offset raise unless a zone is assumed."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import SchemaError
from .tables import TIMESTAMP
from .values import arrow_of, arrow_strings, blank_mask, is_missing_scalar, object_values, to_bool_np

__all__ = ["coerce_timestamp"]

_NAIVE_HINT = (
    "timestamps with an offset (e.g. 2026-03-01T12:00:00Z), or pass assume_tz='UTC' "
    "(command line: --assume-tz UTC) to say which zone they are in"
)
# An offset after a time of day: Z, +hh, +hhmm, +hh:mm, or a UTC/GMT suffix.
_OFFSET_RE = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?|UTC|GMT)$"
_EPOCH_RE = r"^\s*-?\d+(?:\.\d+)?\s*$"


def _epoch_to_ns(v: np.ndarray) -> np.ndarray:
    """Epoch numbers to int64 nanoseconds, the unit chosen per value from its magnitude.

    Seconds, milliseconds, microseconds and nanoseconds since 1970 are told apart by size
    (a 2026 timestamp is about 1.8e9 s, 1.8e12 ms, 1.8e15 us, 1.8e18 ns).
    """
    a = np.abs(v)
    scale = np.where(a < 1e11, 1e9, np.where(a < 1e14, 1e6, np.where(a < 1e17, 1e3, 1.0)))
    with np.errstate(invalid="ignore", over="ignore"):
        ns = v * scale
    bad = ~np.isfinite(ns) | (np.abs(ns) >= 9.2e18)
    return np.where(bad, np.nan, ns), bad


def _ns_series(ns: np.ndarray, index: pd.Index) -> pd.Series:
    """float nanoseconds (NaN = missing) -> datetime64[ns, UTC]."""
    missing = np.isnan(ns)
    vals = np.where(missing, np.iinfo(np.int64).min, np.nan_to_num(ns)).astype(np.int64)
    return pd.Series(pd.DatetimeIndex(vals.view("M8[ns]")).tz_localize("UTC"), index=index).astype(TIMESTAMP)


def _naive_error(column: str, source: str | None, examples: list[str], rows: Iterable[Any]) -> SchemaError:
    shown = ", ".join(repr(e) for e in examples[:3])
    return SchemaError(
        f"timestamps have no UTC offset, e.g. {shown}",
        source=source,
        column=column,
        rows=rows,
        expected=_NAIVE_HINT,
    )


def coerce_timestamp(
    s: pd.Series,
    *,
    column: str,
    source: str | None,
    assume_tz: str | None,
    labels: np.ndarray | None = None,
) -> tuple[pd.Series, np.ndarray]:
    """A column as ``datetime64[ns, UTC]`` and the present values that are not timestamps.

    Raises :class:`SchemaError` for timestamps without an offset unless ``assume_tz`` is given;
    ``labels`` are the row labels the error names.
    """
    n = len(s)
    ok = np.zeros(n, dtype=bool)
    if labels is None:
        labels = np.arange(1, n + 1)
    arr = arrow_of(s)
    if arr is not None and pa.types.is_timestamp(arr.type):
        s = pd.Series(arr.to_pandas(), index=s.index)
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype):
        if not isinstance(s.dtype, pd.DatetimeTZDtype):
            if assume_tz is None and s.notna().any():
                first = np.flatnonzero(s.notna().to_numpy())
                raise _naive_error(column, source, [str(s.iloc[first[0]])], labels[first])
            was = s.notna().to_numpy(dtype=bool)
            s = s.dt.tz_localize(assume_tz or "UTC", ambiguous="NaT", nonexistent="NaT")
            ok = was & s.isna().to_numpy(dtype=bool)  # ambiguous or non-existent local times
        s = s.dt.tz_convert("UTC")
        try:
            return s.astype(TIMESTAMP), ok
        except (pd.errors.OutOfBoundsDatetime, OverflowError):
            conv = [_ts_of_object(v) for v in object_values(s)]
            return _ts_from_pairs(conv, s.index)
    if pd.api.types.is_bool_dtype(s.dtype):
        return pd.Series(pd.NaT, index=s.index, dtype=TIMESTAMP), s.notna().to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(s.dtype):
        v = s.to_numpy(dtype="float64", na_value=np.nan)
        ns, bad = _epoch_to_ns(v)
        bad &= ~np.isnan(v)
        return _ns_series(ns, s.index), bad
    strs = arrow_strings(s)
    if strs is None:
        # Python objects: datetimes, numbers and strings mixed.
        vals = object_values(s)
        texts: list[str | None] = []
        for v in vals:
            if is_missing_scalar(v):
                texts.append(None)
            elif isinstance(v, (pd.Timestamp, datetime)):
                texts.append(v.isoformat())
            elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
                texts.append(repr(float(v)) if isinstance(v, (float, np.floating)) else str(int(v)))
            elif isinstance(v, str):
                texts.append(v)
            else:
                texts.append("\x00unparseable")
        strs = pa.array(texts, type=pa.large_string())
    return _timestamps_from_strings(strs, s.index, column=column, source=source, assume_tz=assume_tz, labels=labels)


def _ts_of_object(v: Any) -> tuple[Any, bool]:
    if is_missing_scalar(v):
        return None, False
    try:
        t = pd.Timestamp(v)
        t = t.tz_convert("UTC") if t.tzinfo else t.tz_localize("UTC")
        return t.as_unit("ns"), False
    except (ValueError, TypeError, OverflowError, pd.errors.OutOfBoundsDatetime):
        return None, True


def _ts_from_pairs(conv: list[tuple[Any, bool]], index: pd.Index) -> tuple[pd.Series, np.ndarray]:
    bad = np.fromiter((b for _, b in conv), dtype=bool, count=len(conv))
    out = pd.Series([v if v is not None else pd.NaT for v, _ in conv], index=index, dtype=object)
    return pd.to_datetime(out, utc=True).astype(TIMESTAMP), bad


def _timestamps_from_strings(
    strs: pa.Array,
    index: pd.Index,
    *,
    column: str,
    source: str | None,
    assume_tz: str | None,
    labels: np.ndarray,
) -> tuple[pd.Series, np.ndarray]:
    n = len(strs)
    missing = blank_mask(strs)
    trimmed = pc.utf8_trim_whitespace(strs)
    has_offset = to_bool_np(pc.match_substring_regex(trimmed, _OFFSET_RE))
    numeric = to_bool_np(pc.match_substring_regex(trimmed, _EPOCH_RE))
    out = np.zeros(n, dtype=np.int64)
    present = np.zeros(n, dtype=bool)
    aware = ~missing & has_offset
    if aware.any():
        sub = trimmed if aware.all() else trimmed.filter(pa.array(aware))
        try:
            vals = pc.cast(sub, pa.timestamp("ns", "UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False)
            ok = np.ones(len(vals), dtype=bool)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # Arrow's ISO 8601 parser is strict (no "UTC" suffix, at most 9 fraction digits);
            # pandas parses the rest value by value.
            p = pd.to_datetime(pd.Series(sub.to_pylist(), dtype=object), utc=True, errors="coerce", format="ISO8601")
            ok = p.notna().to_numpy()
            vals = np.zeros(len(p), dtype=np.int64)
            vals[ok] = p[ok].dt.as_unit("ns").astype("int64").to_numpy()
        idx = np.flatnonzero(aware)
        out[idx] = vals
        present[idx] = ok
    if numeric.any():
        idx = np.flatnonzero(numeric)
        v = pc.cast(trimmed.filter(pa.array(numeric)), pa.float64()).to_numpy(zero_copy_only=False)
        ns, b = _epoch_to_ns(v)
        out[idx[~b]] = ns[~b].astype(np.int64)
        present[idx[~b]] = True
    candidates = ~missing & ~has_offset & ~numeric
    if candidates.any():
        sub = trimmed.filter(pa.array(candidates)).to_pylist()
        parsed = pd.to_datetime(pd.Series(sub, dtype=object), errors="coerce", format="ISO8601")
        parsed_ok = parsed.notna().to_numpy()
        naive_idx = np.flatnonzero(candidates)[parsed_ok]
        if len(naive_idx):
            if assume_tz is None:
                raise _naive_error(column, source, [sub[i] for i in np.flatnonzero(parsed_ok)[:3]], labels[naive_idx])
            loc = parsed[parsed_ok].dt.tz_localize(assume_tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
            loc_ok = loc.notna().to_numpy()
            out[naive_idx[loc_ok]] = loc[loc_ok].dt.as_unit("ns").astype("int64").to_numpy()
            present[naive_idx[loc_ok]] = True
    out[~present] = np.iinfo(np.int64).min  # NaT
    bad = ~missing & ~present
    series = pd.Series(pd.DatetimeIndex(out.view("M8[ns]")).tz_localize("UTC"), index=index).astype(TIMESTAMP)
    return series, bad
