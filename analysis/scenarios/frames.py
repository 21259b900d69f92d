"""Assembly of the generated columns into the canonical ``events`` frame or Arrow table."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis import schema
from analysis.schema import EVENTS


def events_frame(cols: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Canonical events from numpy/object columns (missing canonical columns become NA)."""
    n = len(cols["event_id"])
    data: dict[str, Any] = {}
    for c in EVENTS.columns:
        v = cols.get(c.name)
        if c.kind == "timestamp":
            data[c.name] = pd.Series(pd.to_datetime(np.asarray(v, dtype=np.int64), utc=True)).astype(c.dtype)
        elif c.kind in ("list_float", "list_string"):
            if v is None:
                v = pa.nulls(n, type=c.dtype.pyarrow_dtype)
            data[c.name] = pd.Series(pd.arrays.ArrowExtensionArray(v))
        elif v is None:
            if c.kind == "float":
                data[c.name] = pd.Series(np.full(n, np.nan))
            else:
                data[c.name] = pd.Series(pd.array([pd.NA] * n, dtype=c.dtype))
        elif c.kind == "string":
            data[c.name] = pd.Series(pd.array(np.asarray(v, dtype=object), dtype=c.dtype))
        elif c.kind == "float":
            data[c.name] = pd.Series(np.asarray(v, dtype=float))
        elif c.kind == "int":
            arr = np.asarray(v)
            if arr.dtype == object:
                data[c.name] = pd.Series(pd.array(arr, dtype="Int64"))
            else:
                data[c.name] = pd.Series(pd.array(arr.astype(np.int64), dtype="Int64"))
        elif c.kind == "bool":
            data[c.name] = pd.Series(pd.array(np.asarray(v, dtype=object), dtype="boolean"))
    frame = pd.DataFrame(data)
    for k, v in (extra or {}).items():
        frame[k] = v
    frame = schema.derive_retrieval_columns(frame)
    schema.validate(frame, EVENTS, source="analysis.scenarios")
    return frame


_ARROW_TYPES = {
    "string": pa.large_string(),
    "timestamp": pa.timestamp("ns", tz="UTC"),
    "float": pa.float64(),
    "int": pa.int64(),
    "bool": pa.bool_(),
    "list_float": schema.dtype_for("list_float").pyarrow_dtype,
    "list_string": schema.dtype_for("list_string").pyarrow_dtype,
}


def events_table(cols: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> pa.Table:
    """The Arrow table that ``pa.Table.from_pandas(events_frame(cols, extra))`` gives, built directly.

    The chunked writer's path: about twice as fast as going through pandas string arrays, with
    the same column order and types (missing values are nulls, ``NaN`` floats included).
    """
    n = len(cols["event_id"])
    names, arrays = [], []
    for c in EVENTS.columns:
        typ = _ARROW_TYPES[c.kind]
        v = cols.get(c.name)
        if v is None:  # (derive_retrieval_columns derives nothing from a missing score list)
            arr = pa.nulls(n, type=typ)
        elif c.kind == "timestamp":
            arr = pa.array(np.asarray(v, dtype=np.int64)).cast(typ)
        elif c.kind in ("list_float", "list_string"):
            arr = v.cast(typ) if isinstance(v, pa.Array) else pa.array(v, type=typ)
        elif c.kind == "float":
            arr = pa.array(np.asarray(v, dtype=float), type=typ, from_pandas=True)
        elif c.kind == "bool" or (c.kind == "int" and np.asarray(v).dtype == object):
            obj = np.asarray(v, dtype=object)
            missing = np.equal(obj, None)
            filled = np.where(missing, 0, obj).astype(bool if c.kind == "bool" else np.int64)
            arr = pa.array(filled, type=typ, mask=missing if missing.any() else None)
        elif c.kind == "int":
            arr = pa.array(np.asarray(v).astype(np.int64), type=typ)
        else:
            arr = pa.array(np.asarray(v, dtype=object), type=typ, from_pandas=True)
        names.append(c.name)
        arrays.append(arr)
    for k, v in (extra or {}).items():
        names.append(k)
        arrays.append(pa.array(v))
    return pa.Table.from_arrays(arrays, names=names)
