"""Small readers of raw values shared by the converters: missing values, the Arrow array behind
a Series, blank strings, values as text, and the Arrow -> pandas dtype mapper for reading files."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .tables import STRING

__all__ = [
    "is_missing_scalar",
    "arrow_of",
    "arrow_strings",
    "blank_mask",
    "blank_mask_arrow",
    "to_bool_np",
    "object_values",
    "to_text",
    "arrow_types_mapper",
]


def is_missing_scalar(v: Any) -> bool:
    """True for None, NA, NaT, NaN and blank strings."""
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, (float, np.floating)) and np.isnan(v):
        return True
    if isinstance(v, str) and v.strip() == "":
        return True
    return False


def arrow_of(s: pd.Series) -> pa.Array | None:
    """The Arrow array behind an Arrow-backed Series, or None."""
    if isinstance(s.dtype, pd.ArrowDtype) or (
        isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow"
    ):
        arr = s.array.__arrow_array__()
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
        return arr
    return None


def arrow_strings(s: pd.Series) -> pa.Array | None:
    """The column as an Arrow string array when it holds strings, else None."""
    arr = arrow_of(s)
    if arr is not None:
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            return arr
        return None
    if isinstance(s.dtype, pd.StringDtype):  # python storage
        return pa.array(s.to_numpy(dtype=object, na_value=None), type=pa.large_string())
    return None


def blank_mask(arr: pa.Array) -> np.ndarray:
    """Null or whitespace-only strings."""
    return blank_mask_arrow(arr).to_numpy(zero_copy_only=False)


def to_bool_np(a: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow boolean array as numpy, nulls as False."""
    return pc.fill_null(a, False).to_numpy(zero_copy_only=False).astype(bool, copy=False)


def object_values(s: pd.Series) -> np.ndarray:
    """The values as a numpy object array, missing values as None."""
    return s.to_numpy(dtype=object, na_value=None)



def to_text(v: Any) -> str | None:
    """One raw value as text (None when missing): JSON for containers, ISO 8601 for datetimes."""
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, (float, np.floating)) and np.isnan(v)):
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        return str(int(v)) if float(v).is_integer() else repr(float(v))
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, sort_keys=True, default=str, ensure_ascii=False)
    if isinstance(v, (pd.Timestamp, datetime)):
        return v.isoformat()
    return str(v)


def blank_mask_arrow(arr: pa.Array) -> pa.Array:
    """Null or whitespace-only strings, as an Arrow boolean array."""
    return pc.fill_null(pc.or_kleene(pc.is_null(arr), pc.equal(pc.utf8_trim_whitespace(arr), "")), True)



def arrow_types_mapper(t: pa.DataType) -> Any:
    """Arrow -> pandas dtypes for reading files: nullable ints/bools, Arrow strings and lists."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return STRING
    if pa.types.is_integer(t) and not pa.types.is_uint64(t):
        return pd.Int64Dtype()
    if pa.types.is_boolean(t):
        return pd.BooleanDtype()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_struct(t):
        return pd.ArrowDtype(t)
    if pa.types.is_null(t):
        return pd.ArrowDtype(t)
    return None
