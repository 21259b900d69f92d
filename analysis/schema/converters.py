"""Coercion of raw values to the canonical dtypes, one converter per column kind (timestamps
have their own module, :mod:`analysis.schema.timestamps`)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from .tables import STRING, dtype_for
from .values import arrow_of, arrow_strings, arrow_types_mapper, blank_mask, blank_mask_arrow, is_missing_scalar, object_values, to_bool_np, to_text

__all__ = ["coerce_string", "coerce_float", "coerce_int", "coerce_bool", "coerce_list"]

#
# Every converter takes a Series and returns ``(converted, bad)`` where ``bad`` marks the values
# that were present but could not be parsed. Columns that already have the canonical dtype (the
# common case for Parquet, and for JSON read by Arrow) cost almost nothing; Arrow-backed strings
# are parsed with Arrow compute kernels; object columns (rows built from Python dicts) fall back
# to a per-value loop, which is only used for small frames and for chunks that failed the fast path.

_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})


def coerce_string(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """A column as ``string[pyarrow]`` and its unparseable values (none: any value has a text)."""
    n = len(s)
    ok = np.zeros(n, dtype=bool)
    if isinstance(s.dtype, pd.StringDtype):
        return s.astype(STRING), ok
    arr = arrow_of(s)
    if arr is not None:
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_null(arr.type):
            return pd.Series(pd.array(arr.cast(pa.large_string()), dtype=STRING), index=s.index), ok
        s = pd.Series(arr.to_pandas(types_mapper=arrow_types_mapper), index=s.index)
    if s.dtype == object:
        vals = object_values(s)
        if pd.api.types.infer_dtype(vals, skipna=True) in ("string", "empty"):
            return pd.Series(vals, index=s.index, dtype=STRING), ok
        return pd.Series([to_text(v) for v in vals], index=s.index, dtype=STRING), ok
    if pd.api.types.is_bool_dtype(s.dtype):
        out = s.astype(object).where(s.notna(), None).map(lambda v: None if v is None else ("true" if v else "false"))
        return out.astype(STRING), ok
    if pd.api.types.is_integer_dtype(s.dtype):
        return s.astype(STRING), ok
    if pd.api.types.is_float_dtype(s.dtype):
        vals = s.to_numpy(dtype="float64", na_value=np.nan)
        txt = [None if np.isnan(v) else (str(int(v)) if v.is_integer() else repr(float(v))) for v in vals]
        return pd.Series(txt, index=s.index, dtype=STRING), ok
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype):
        txt = [None if pd.isna(v) else v.isoformat() for v in s]
        return pd.Series(txt, index=s.index, dtype=STRING), ok
    return pd.Series([to_text(v) for v in object_values(s)], index=s.index, dtype=STRING), ok



def _float_of_object(v: Any) -> tuple[float, bool]:
    """(value, bad) for one raw value."""
    if is_missing_scalar(v):
        return np.nan, False
    if isinstance(v, (bool, np.bool_)):
        return np.nan, True
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v), False
    if isinstance(v, str):
        t = v.strip()
        if "_" in t:  # float() accepts 1_000; a data file should not
            return np.nan, True
        try:
            return float(t), False
        except ValueError:
            return np.nan, True
    return np.nan, True


def coerce_float(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """A column as ``float64`` and the present values that are not numbers."""
    n = len(s)
    ok = np.zeros(n, dtype=bool)
    if s.dtype == np.float64:
        return s, ok
    if pd.api.types.is_bool_dtype(s.dtype):
        # true/false is not a number: reject rather than read it as 1/0.
        return pd.Series(np.nan, index=s.index), s.notna().to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(s.dtype):
        return pd.Series(s.to_numpy(dtype="float64", na_value=np.nan), index=s.index), ok
    arr = arrow_strings(s)
    if arr is not None:
        try:
            vals = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
            return pd.Series(vals, index=s.index), ok
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            s = pd.Series(arr.to_pylist(), index=s.index, dtype=object)
    elif arrow_of(s) is not None:
        s = pd.Series(object_values(s), index=s.index, dtype=object)
    vals = np.empty(n, dtype="float64")
    bad = np.zeros(n, dtype=bool)
    for i, v in enumerate(object_values(s)):
        vals[i], bad[i] = _float_of_object(v)
    return pd.Series(vals, index=s.index), bad


def _int_of_object(v: Any) -> tuple[Any, bool]:
    if is_missing_scalar(v):
        return None, False
    if isinstance(v, (bool, np.bool_)):
        return None, True
    if isinstance(v, (int, np.integer)):
        iv = int(v)
    elif isinstance(v, (float, np.floating)):
        if not float(v).is_integer():
            return None, True
        iv = int(v)
    elif isinstance(v, str):
        t = v.strip()
        if "_" in t:
            return None, True
        try:
            iv = int(t)
        except ValueError:
            try:
                f = float(t)
            except ValueError:
                return None, True
            if not f.is_integer():
                return None, True
            iv = int(f)
    else:
        return None, True
    if not (-(2**63) <= iv < 2**63):
        return None, True
    return iv, False


def coerce_int(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """A column as nullable ``Int64`` and the present values that are not whole numbers."""
    n = len(s)
    ok = np.zeros(n, dtype=bool)
    if isinstance(s.dtype, pd.Int64Dtype):
        return s, ok
    if pd.api.types.is_bool_dtype(s.dtype):
        return pd.Series(pd.NA, index=s.index, dtype="Int64"), s.notna().to_numpy(dtype=bool)
    arr = arrow_of(s)
    if pd.api.types.is_integer_dtype(s.dtype) and not (arr is not None and pa.types.is_uint64(arr.type)):
        return s.astype("Int64"), ok
    if pd.api.types.is_float_dtype(s.dtype):
        f = s.to_numpy(dtype="float64", na_value=np.nan)
        present = ~np.isnan(f)
        bad = present & ((f != np.round(f)) | (np.abs(f) >= 2.0**63))
        vals = np.where(present & ~bad, f, 0).astype(np.int64)
        return pd.Series(pd.arrays.IntegerArray(vals, ~present | bad), index=s.index), bad
    strs = arrow_strings(s)
    if strs is not None:
        try:
            out = pc.cast(strs, pa.int64())
            return pd.Series(out.to_pandas(types_mapper=arrow_types_mapper), index=s.index).astype("Int64"), ok
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    vals = object_values(s)
    conv = [_int_of_object(v) for v in vals]
    bad = np.fromiter((b for _, b in conv), dtype=bool, count=n)
    return pd.Series([v for v, _ in conv], index=s.index, dtype="Int64"), bad


def _bool_of_object(v: Any) -> tuple[Any, bool]:
    if is_missing_scalar(v):
        return None, False
    if isinstance(v, (bool, np.bool_)):
        return bool(v), False
    if isinstance(v, (int, float, np.integer, np.floating)):
        if v == 1 or v == 0:
            return bool(v), False
        return None, True
    if isinstance(v, str):
        t = v.strip().lower()
        if t in _TRUE:
            return True, False
        if t in _FALSE:
            return False, False
    return None, True


def coerce_bool(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """A column as nullable ``boolean`` and the present values that are not true/false."""
    n = len(s)
    ok = np.zeros(n, dtype=bool)
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("boolean"), ok
    strs = arrow_strings(s)
    if strs is not None:
        low = pc.utf8_lower(pc.utf8_trim_whitespace(strs))
        is_t = to_bool_np(pc.is_in(low, value_set=pa.array(sorted(_TRUE))))
        is_f = to_bool_np(pc.is_in(low, value_set=pa.array(sorted(_FALSE))))
        missing = blank_mask(strs)
        bad = ~missing & ~is_t & ~is_f
        return pd.Series(pd.arrays.BooleanArray(is_t, ~(is_t | is_f)), index=s.index), bad
    if pd.api.types.is_numeric_dtype(s.dtype):
        f = s.to_numpy(dtype="float64", na_value=np.nan)
        present = ~np.isnan(f)
        valid = present & ((f == 0) | (f == 1))
        return pd.Series(pd.arrays.BooleanArray(f == 1, ~valid), index=s.index), present & ~valid
    conv = [_bool_of_object(v) for v in object_values(s)]
    bad = np.fromiter((b for _, b in conv), dtype=bool, count=n)
    return pd.Series([v for v, _ in conv], index=s.index, dtype="boolean"), bad


def _list_of_object(v: Any, conv: Any) -> tuple[Any, bool]:
    if v is None or v is pd.NA or (isinstance(v, (float, np.floating)) and np.isnan(v)):
        return None, False
    if isinstance(v, str):
        t = v.strip()
        if t == "":
            return None, False
        try:
            v = json.loads(t)
        except json.JSONDecodeError:
            return None, True
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if not isinstance(v, (list, tuple)):
        return None, True
    out = []
    for x in v:
        if x is None:
            out.append(None)
        elif conv is float:
            if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, str, np.integer, np.floating)):
                return None, True
            try:
                out.append(float(x))
            except ValueError:
                return None, True
        else:
            if isinstance(x, (dict, list)):
                return None, True
            out.append(to_text(x))
    return out, False


def _json_lists_fast(strs: pa.Array, target: pa.DataType) -> pa.Array | None:
    """Parse a string column of JSON arrays with Arrow's JSON reader; None when any row fails."""
    if len(strs) == 0:
        return pa.array([], type=target)
    filled = pc.if_else(blank_mask_arrow(strs), "null", strs.cast(pa.string()))
    if pc.any(pc.match_substring(filled, "\n")).as_py():
        return None
    lines = pc.binary_join_element_wise('{"v":', filled, "}", "")
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines), "\n")
    buf = joined[0].as_buffer()
    try:
        table = pajson.read_json(
            pa.BufferReader(buf),
            parse_options=pajson.ParseOptions(explicit_schema=pa.schema([("v", target)])),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != len(strs):
        return None
    return table.column("v").combine_chunks()



def coerce_list(s: pd.Series, kind: str) -> tuple[pd.Series, np.ndarray]:
    """A column as the Arrow list dtype of ``kind`` and the present values that are not lists."""
    target = dtype_for(kind)
    n = len(s)
    ok = np.zeros(n, dtype=bool)
    arr = arrow_of(s)
    if arr is not None and (
        pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type) or pa.types.is_fixed_size_list(arr.type)
        or pa.types.is_null(arr.type)
    ):
        try:
            out = arr.cast(target.pyarrow_dtype)
            return pd.Series(pd.arrays.ArrowExtensionArray(out), index=s.index), ok
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    strs = arrow_strings(s)
    if strs is not None:
        out = _json_lists_fast(strs, target.pyarrow_dtype)
        if out is not None:
            return pd.Series(pd.arrays.ArrowExtensionArray(out), index=s.index), ok
    conv = float if kind == "list_float" else str
    vals: list[Any] = [None] * n
    bad = np.zeros(n, dtype=bool)
    for i, v in enumerate(object_values(s)):
        vals[i], bad[i] = _list_of_object(v, conv)
    out = pa.array(vals, type=target.pyarrow_dtype)
    return pd.Series(pd.arrays.ArrowExtensionArray(out), index=s.index), bad
