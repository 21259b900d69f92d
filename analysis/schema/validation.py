"""The two entry points on whole tables: :func:`coerce` (raw -> canonical, with rejects) and
:func:`validate` (check an already-canonical table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from .converters import coerce_bool, coerce_float, coerce_int, coerce_list, coerce_string
from .errors import SchemaError
from .rejects import duplicate_reasons, raw_for, rejected_frame, short_text
from .retrieval import derive_retrieval_columns
from .tables import EXPECTED, STRING, Column, TableSchema
from .timestamps import coerce_timestamp
from .values import arrow_of, blank_mask

__all__ = ["Coerced", "coerce", "coerce_rows", "check_required_columns", "validate"]


@dataclass(frozen=True)
class Coerced:
    """What :func:`coerce_rows` returns: the canonical rows, the rejected ones, and the source
    labels of the kept rows (so that a caller coercing chunk by chunk can de-duplicate later)."""

    frame: pd.DataFrame
    rejected: pd.DataFrame
    kept_labels: np.ndarray


def coerce(frame: pd.DataFrame, schema: TableSchema, *, source: str | None = None, assume_tz: str | None = None,
           row_labels: pd.Series | np.ndarray | None = None, raw_text: Callable[[int], str] | Sequence[str] | None = None,
           dedupe: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coerce a raw frame to the canonical table.

    Parameters
    ----------
    frame
        Raw rows; canonical column names, other columns kept as they are.
    schema
        :data:`EVENTS` or :data:`CHANGES`.
    source
        The file the rows came from, for messages.
    assume_tz
        The zone of timestamps that carry no offset; ``None`` makes them an error.
    row_labels
        The source line or row number of each row (defaults to 1-based row numbers).
    raw_text
        The source text of each row (a sequence, or a function of the row position), used for
        the ``raw`` column of rejected rows; defaults to the row as JSON.
    dedupe
        Reject all but the first row of each duplicated key (``event_id``/``change_id``).

    Returns
    -------
    (canonical, rejected)
        ``canonical`` holds every row that parsed, with canonical dtypes, the derived retrieval
        columns and (with ``dedupe``) unique keys. ``rejected`` has one row per rejected input
        row with ``row`` (source line or row number), ``reason`` and ``raw``.

    Raises
    ------
    SchemaError
        When a required column is missing, or timestamps have no offset and ``assume_tz`` is
        not given.

    Notes
    -----
    A value that is present but cannot be parsed rejects its row with a reason naming the
    column, the value and what was expected; it never becomes a silent missing value. Missing
    values (null, empty or blank strings) stay missing, except in required columns, where they
    reject the row.
    """
    res = coerce_rows(frame, schema, source=source, assume_tz=assume_tz, row_labels=row_labels, raw_text=raw_text, dedupe=dedupe)
    return res.frame, res.rejected


def check_required_columns(columns: Iterable[str], schema: TableSchema, *, source: str | None) -> None:
    """Raise :class:`SchemaError` naming the missing required column(s), the file and the columns found."""
    columns = list(columns)
    missing_cols = [c for c in schema.required if c not in columns]
    if missing_cols:
        shown = ", ".join(repr(c) for c in columns[:40]) or "none"
        if len(columns) > 40:
            shown += f", ... ({len(columns)} in all)"
        raise SchemaError(
            f"missing required column{'s' if len(missing_cols) > 1 else ''} "
            f"{', '.join(repr(c) for c in missing_cols)}; columns found: {shown}.",
            source=source,
            column=missing_cols[0],
            expected=f"the {schema.name} table's required columns {schema.required}",
        )


_Reasons = dict[int, list[str]]


def _add(reasons: _Reasons, mask: np.ndarray, why: Callable[[int], str]) -> None:
    for i in np.flatnonzero(mask):
        reasons.setdefault(int(i), []).append(why(int(i)))


def _convert(col: Column, s: pd.Series, *, source: str | None, assume_tz: str | None, labels: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """One column through the converter of its kind: ``(converted, bad)``."""
    if col.kind == "string":
        return coerce_string(s)
    if col.kind == "float":
        return coerce_float(s)
    if col.kind == "int":
        return coerce_int(s)
    if col.kind == "bool":
        return coerce_bool(s)
    if col.kind == "timestamp":
        return coerce_timestamp(s, column=col.name, source=source, assume_tz=assume_tz, labels=labels)
    return coerce_list(s, col.kind)


def _check_column(reasons: _Reasons, col: Column, schema: TableSchema, s: pd.Series, conv: pd.Series, bad: np.ndarray) -> None:
    """Add the reasons of one converted column: unparseable, out of range, unknown, missing required."""
    if bad.any():
        _add(reasons, bad, lambda i, c=col, s=s: f"{c.name}: cannot parse {short_text(s.iloc[i])} as {EXPECTED[c.kind]}")
    if col.name in schema.ranges:
        lo, hi = schema.ranges[col.name]
        v = conv.to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):
            oob = ~np.isnan(v) & ((v < lo) | (v > hi))
        if oob.any():
            _add(reasons, oob, lambda i, c=col, v=v: f"{c.name}: {v[i]!r} is outside [{lo}, {hi}]")
    if col.name in schema.allowed_values:
        allowed = schema.allowed_values[col.name]
        present = conv.notna().to_numpy(dtype=bool)
        inset = conv.isin(sorted(allowed)).to_numpy(dtype=bool, na_value=False)
        unknown = present & ~inset
        if unknown.any():
            _add(reasons, unknown, lambda i, c=col, conv=conv, a=allowed: f"{c.name}: {conv.iloc[i]!r} is not one of {sorted(a)}")
    if col.required:
        miss = conv.isna().to_numpy(dtype=bool) & ~bad
        if col.kind == "string":
            arr = arrow_of(conv)
            if arr is not None:
                miss |= blank_mask(arr) & ~bad
        if miss.any():
            _add(reasons, miss, lambda i, c=col: f"{c.name}: required value is missing")


def _assemble(frame: pd.DataFrame, schema: TableSchema, out: dict[str, pd.Series], n: int) -> pd.DataFrame:
    """The canonical columns in schema order (missing ones empty), then the frame's other columns."""
    data: dict[str, Any] = {}
    for c in schema.columns:
        if c.name in out:
            data[c.name] = out[c.name]
        else:
            data[c.name] = _missing_column(c, n)
    for c in frame.columns:
        if c not in data:
            data[c] = frame[c]
    return pd.DataFrame(data, index=pd.RangeIndex(n))


def coerce_rows(frame: pd.DataFrame, schema: TableSchema, *, source: str | None = None, assume_tz: str | None = None,
                row_labels: pd.Series | np.ndarray | None = None, raw_text: Callable[[int], str] | Sequence[str] | None = None,
                dedupe: bool = True) -> Coerced:
    """:func:`coerce`, also returning the labels of the kept rows (see :class:`Coerced`)."""
    frame = frame.reset_index(drop=True)
    n = len(frame)
    labels = np.arange(1, n + 1) if row_labels is None else np.asarray(row_labels, dtype=np.int64)
    if len(labels) != n:
        raise ValueError(f"`row_labels` must have one label per row ({n}), got {len(labels)}")
    check_required_columns(frame.columns, schema, source=source)
    reasons: _Reasons = {}
    out: dict[str, pd.Series] = {}
    for col in schema.columns:
        if col.name not in frame.columns:
            continue
        s = frame[col.name]
        conv, bad = _convert(col, s, source=source, assume_tz=assume_tz, labels=labels)
        _check_column(reasons, col, schema, s, conv, bad)
        out[col.name] = conv
    canonical = _assemble(frame, schema, out, n)
    reject = np.zeros(n, dtype=bool)
    if reasons:
        reject[list(reasons)] = True
    if dedupe:
        dup_reasons = duplicate_reasons(canonical[schema.key], labels, ~reject, schema.key)
        for i, why in dup_reasons.items():
            reasons.setdefault(i, []).append(why)
            reject[i] = True
    idx = np.flatnonzero(reject)
    rejected = rejected_frame(
        rows=labels[idx],
        reasons=["; ".join(reasons[int(i)]) for i in idx],
        raws=[raw_for(frame, int(i), raw_text) for i in idx],
    )
    if len(idx):
        canonical = canonical.loc[~reject].reset_index(drop=True)
    if schema.name == "events":
        canonical = derive_retrieval_columns(canonical)
    return Coerced(canonical, rejected, labels[~reject])


def _missing_column(c: Column, n: int) -> pd.Series:
    if c.kind == "float":
        return pd.Series(np.full(n, np.nan))
    if c.kind == "timestamp":
        return pd.Series(np.full(n, np.iinfo(np.int64).min).view("M8[ns]")).dt.tz_localize("UTC")
    if c.kind in ("list_float", "list_string", "string"):
        arr = pa.nulls(n, type=c.dtype.pyarrow_dtype if c.kind != "string" else pa.large_string())
        return pd.Series(pd.array(arr, dtype=STRING) if c.kind == "string" else pd.arrays.ArrowExtensionArray(arr))
    return pd.Series(pd.NA, index=pd.RangeIndex(n), dtype=c.dtype)


def validate(frame: pd.DataFrame, schema: TableSchema, *, source: str | None = None) -> pd.DataFrame:
    """Check that ``frame`` is a canonical table; return it unchanged.

    Raises
    ------
    SchemaError
        Naming the source, the column, a few offending rows (0-based positions) and what was
        expected: a missing required column, a wrong dtype, a missing required value, a
        duplicate key, a value outside its range or set.
    """
    check_required_columns(frame.columns, schema, source=source)
    for col in schema.columns:
        if col.name not in frame.columns:
            continue
        s = frame[col.name]
        if str(s.dtype) != str(col.dtype):
            raise SchemaError(
                f"has dtype {s.dtype}.",
                source=source,
                column=col.name,
                expected=f"dtype {col.dtype} ({EXPECTED[col.kind]}); load files with "
                "analysis.loaders or call analysis.schema.coerce",
            )
        if col.required:
            bad = np.flatnonzero(s.isna().to_numpy())
            if len(bad):
                raise SchemaError("required value is missing", source=source, column=col.name, rows=bad, expected="a value in every row")
        if col.name in schema.ranges:
            lo, hi = schema.ranges[col.name]
            v = s.to_numpy(dtype="float64", na_value=np.nan)
            with np.errstate(invalid="ignore"):
                bad = np.flatnonzero(~np.isnan(v) & ((v < lo) | (v > hi)))
            if len(bad):
                raise SchemaError("values out of range", source=source, column=col.name, rows=bad, expected=f"values in [{lo}, {hi}]")
        if col.name in schema.allowed_values:
            allowed = schema.allowed_values[col.name]
            bad = np.flatnonzero(s.notna().to_numpy(dtype=bool) & ~s.isin(sorted(allowed)).to_numpy(dtype=bool, na_value=False))
            if len(bad):
                raise SchemaError(f"unknown value {s.iloc[bad[0]]!r}", source=source, column=col.name, rows=bad, expected=f"one of {sorted(allowed)}")
    keys = frame[schema.key]
    dup = np.flatnonzero((keys.duplicated() & keys.notna()).to_numpy(dtype=bool))
    if len(dup):
        raise SchemaError("duplicate keys", source=source, column=schema.key, rows=dup, expected="unique values")
    return frame
