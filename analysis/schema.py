"""The canonical tables: ``events``, ``changes`` and the offline ``evaluations`` history.

Every loader returns these tables and every downstream module reads them. A column's *kind*
fixes its pandas dtype:

============  ==========================================  ==================
kind          dtype                                       missing value
============  ==========================================  ==================
string        ``string[pyarrow]``                         ``pd.NA``
timestamp     ``datetime64[ns, UTC]``                     ``NaT``
float         ``float64``                                 ``NaN``
int           ``Int64`` (nullable)                        ``pd.NA``
bool          ``boolean`` (nullable)                      ``pd.NA``
list_float    ``list<double>[pyarrow]``                   ``pd.NA``
list_string   ``list<string>[pyarrow]``                   ``pd.NA``
============  ==========================================  ==================

Two entry points:

* :func:`coerce` turns a raw frame (strings, JSON arrays, mixed types) into the canonical one:
  a value that cannot be parsed rejects its row with a reason naming the column, the value and
  what was expected; it never becomes a silent missing value. Table-level problems (a missing
  required column, timestamps without an offset) raise :class:`SchemaError`. Coercion is
  vectorised: columns that already have their dtype cost nothing, Arrow-backed strings are
  parsed with Arrow kernels, and only object columns are read value by value (1,000,000
  canonical rows coerce in about 0.3 s).
* :func:`validate` checks an already-canonical frame and raises :class:`SchemaError` naming the
  source, the column, a few offending rows and what was expected.

Timestamps: ISO 8601 with an offset (``Z``, ``+01:00``, ``+0100``), or epoch numbers (seconds,
ms, us or ns, told apart by magnitude), or timezone-aware datetimes. Timestamps without an
offset raise unless ``assume_tz`` names their zone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "Column",
    "TableSchema",
    "SchemaError",
    "EVENTS",
    "CHANGES",
    "EVALUATIONS",
    "CHANGE_TYPES",
    "OUTCOME_COLUMNS",
    "VERSION_COLUMNS",
    "SEGMENT_COLUMNS",
    "TEXT_COLUMNS",
    "dtype_for",
    "empty_frame",
    "coerce",
    "validate",
    "derive_retrieval_columns",
    "rejected_frame",
    "REJECTED_COLUMNS",
    "check_required_columns",
    "coerce_rows",
    "Coerced",
    "arrow_types_mapper",
]

STRING = pd.StringDtype("pyarrow")
LIST_FLOAT = pd.ArrowDtype(pa.list_(pa.float64()))
LIST_STRING = pd.ArrowDtype(pa.list_(pa.string()))
TIMESTAMP = pd.DatetimeTZDtype("ns", "UTC")

_DTYPES: dict[str, Any] = {
    "string": STRING,
    "timestamp": TIMESTAMP,
    "float": np.dtype("float64"),
    "int": pd.Int64Dtype(),
    "bool": pd.BooleanDtype(),
    "list_float": LIST_FLOAT,
    "list_string": LIST_STRING,
}

_EXPECTED: dict[str, str] = {
    "string": "a string",
    "timestamp": "an ISO 8601 timestamp with a UTC offset (e.g. 2026-03-01T12:00:00Z) or epoch seconds",
    "float": "a number",
    "int": "a whole number",
    "bool": "true/false (also 1/0, yes/no)",
    "list_float": "a list of numbers (in CSV, a JSON array such as [0.81, 0.74])",
    "list_string": "a list of strings (in CSV, a JSON array such as [\"doc-1\", \"doc-2\"])",
}


def dtype_for(kind: str) -> Any:
    """The pandas dtype of a column kind."""
    try:
        return _DTYPES[kind]
    except KeyError:
        raise ValueError(f"`kind` must be one of {sorted(_DTYPES)}, got {kind!r}") from None


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    required: bool = False
    doc: str = ""

    @property
    def dtype(self) -> Any:
        return dtype_for(self.kind)


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[Column, ...]
    key: str
    allowed_values: Mapping[str, frozenset[str]] = field(default_factory=dict)
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"`{self.name}` has no column {name!r}")

    def kind(self, name: str) -> str | None:
        for c in self.columns:
            if c.name == name:
                return c.kind
        return None

    def columns_of_kind(self, *kinds: str) -> list[str]:
        return [c.name for c in self.columns if c.kind in kinds]


class SchemaError(ValueError):
    """A table does not match its canonical schema.

    The message names the source (file), the column, a few offending rows and what was
    expected; the same facts are kept as attributes for programs.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        column: str | None = None,
        rows: Iterable[Any] = (),
        expected: str | None = None,
    ) -> None:
        self.source = source
        self.column = column
        self.rows = list(rows)
        self.expected = expected
        parts = []
        if source:
            parts.append(f"{source}:")
        if column:
            parts.append(f"column {column!r}:")
        text = message.rstrip(". ")
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:5])
            more = f" and {len(self.rows) - 5} more" if len(self.rows) > 5 else ""
            text += f" (row{'s' if len(self.rows) > 1 else ''} {shown}{more})"
        parts.append(text + ".")
        if expected:
            parts.append(f"Expected {expected}.")
        super().__init__(" ".join(parts))


CHANGE_TYPES = frozenset(
    {
        "model_update",
        "embedding_model_update",
        "corpus_update",
        "index_rebuild",
        "prompt_template_change",
        "sampling_config_change",
        "classifier_update",
        "guardrail_change",
        "upstream_api_change",
        "traffic_source_change",
        "deploy",
        "config_change",
        "other",
    }
)

EVENTS = TableSchema(
    name="events",
    key="event_id",
    columns=(
        Column("event_id", "string", True, "unique id of the request; duplicates are kept once"),
        Column("ts", "timestamp", True, "request start, UTC"),
        Column("trace_id", "string"),
        Column("session_id", "string"),
        Column("user_id", "string"),
        Column("model_version", "string", doc="the model that answered (response model)"),
        Column("model_requested", "string"),
        Column("provider", "string"),
        Column("upstream_fingerprint", "string"),
        Column("prompt_template_version", "string"),
        Column("embedding_model", "string"),
        Column("index_version", "string"),
        Column("corpus_version", "string"),
        Column("classifier_version", "string"),
        Column("temperature", "float"),
        Column("top_p", "float"),
        Column("top_k", "int"),
        Column("max_tokens", "int"),
        Column("seed", "int"),
        Column("query_category", "string"),
        Column("risk_category", "string"),
        Column("traffic_source", "string"),
        Column("framing", "string"),
        Column("input_text", "string", doc="may hold personal data: redacted in reports"),
        Column("output_text", "string", doc="may hold personal data: redacted in reports"),
        Column("expected_output", "string", doc="may hold personal data: redacted in reports"),
        Column("refused", "bool"),
        Column("escalated", "bool"),
        Column("correct", "bool"),
        Column("hallucinated", "bool"),
        Column("confidence", "float", doc="in [0, 1]"),
        Column("quality_score", "float"),
        Column("retrieval_scores", "list_float", doc="top-k similarity, best first"),
        Column("retrieval_doc_ids", "list_string"),
        Column("query_embedding", "list_float"),
        Column("retrieval_top1_score", "float", doc="derived from retrieval_scores when absent"),
        Column("retrieval_mean_score", "float", doc="derived from retrieval_scores when absent"),
        Column("latency_ms", "float"),
        Column("input_tokens", "int"),
        Column("output_tokens", "int"),
        Column("finish_reason", "string"),
        Column("status", "string"),
        Column("error_type", "string"),
    ),
    ranges={"confidence": (0.0, 1.0)},
)

CHANGES = TableSchema(
    name="changes",
    key="change_id",
    columns=(
        Column("change_id", "string", True),
        Column("ts", "timestamp", True, "start of the change or rollout, UTC"),
        Column("change_type", "string", True),
        Column("component", "string"),
        Column("attribute", "string", doc="the events column the change moves"),
        Column("from_value", "string"),
        Column("to_value", "string"),
        Column("ts_end", "timestamp"),
        Column("rollout_pct", "float"),
        Column("description", "string"),
        Column("source", "string"),
    ),
    allowed_values={"change_type": CHANGE_TYPES},
)

EVALUATIONS = TableSchema(
    name="evaluations",
    key="eval_id",
    columns=(
        Column("eval_id", "string", doc="id of the evaluation run; optional, repeats are kept once"),
        Column("ts", "timestamp", True, "when the run was made, UTC"),
        Column("passed", "bool", True, "whether the run met its bar (a failed run is an alarm)"),
        Column("suite", "string", doc="name of the evaluation suite"),
        Column("n_questions", "int"),
        Column("n_correct", "int"),
        Column("citation_accuracy", "float"),
        Column("threshold", "float", doc="the run's pass bar"),
    ),
)

OUTCOME_COLUMNS = ("refused", "escalated", "correct", "hallucinated")
VERSION_COLUMNS = (
    "model_version",
    "model_requested",
    "provider",
    "upstream_fingerprint",
    "prompt_template_version",
    "embedding_model",
    "index_version",
    "corpus_version",
    "classifier_version",
)
SEGMENT_COLUMNS = ("query_category", "risk_category", "traffic_source", "framing")
TEXT_COLUMNS = ("input_text", "output_text", "expected_output")


def empty_frame(schema: TableSchema) -> pd.DataFrame:
    """A zero-row frame with every canonical column and dtype."""
    return pd.DataFrame({c.name: pd.Series([], dtype=c.dtype) for c in schema.columns})


# --------------------------------------------------------------------------------------------
# Coercion: raw values -> canonical dtypes, vectorised, with a reason for every rejected row
# --------------------------------------------------------------------------------------------
#
# Every converter takes a Series and returns ``(converted, bad)`` where ``bad`` marks the values
# that were present but could not be parsed. Columns that already have the canonical dtype (the
# common case for Parquet, and for JSON read by Arrow) cost almost nothing; Arrow-backed strings
# are parsed with Arrow compute kernels; object columns (rows built from Python dicts) fall back
# to a per-value loop, which is only used for small frames and for chunks that failed the fast path.

_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})
_NAIVE_HINT = (
    "timestamps with an offset (e.g. 2026-03-01T12:00:00Z), or pass assume_tz='UTC' "
    "(command line: --assume-tz UTC) to say which zone they are in"
)
# An offset after a time of day: Z, +hh, +hhmm, +hh:mm, or a UTC/GMT suffix.
_OFFSET_RE = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?|UTC|GMT)$"
_EPOCH_RE = r"^\s*-?\d+(?:\.\d+)?\s*$"


def _is_missing_scalar(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, (float, np.floating)) and np.isnan(v):
        return True
    if isinstance(v, str) and v.strip() == "":
        return True
    return False


def _arrow_of(s: pd.Series) -> pa.Array | None:
    """The Arrow array behind an Arrow-backed Series, or None."""
    if isinstance(s.dtype, pd.ArrowDtype) or (
        isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow"
    ):
        arr = s.array.__arrow_array__()
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
        return arr
    return None


def _arrow_strings(s: pd.Series) -> pa.Array | None:
    """The column as an Arrow string array when it holds strings, else None."""
    arr = _arrow_of(s)
    if arr is not None:
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            return arr
        return None
    if isinstance(s.dtype, pd.StringDtype):  # python storage
        return pa.array(s.to_numpy(dtype=object, na_value=None), type=pa.large_string())
    return None


def _blank_mask(arr: pa.Array) -> np.ndarray:
    """Null or whitespace-only strings."""
    return _blank_mask_arrow(arr).to_numpy(zero_copy_only=False)


def _to_bool_np(a: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(a, False).to_numpy(zero_copy_only=False).astype(bool, copy=False)


def _object_values(s: pd.Series) -> np.ndarray:
    return s.to_numpy(dtype=object, na_value=None)


def _coerce_string(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    n = len(s)
    ok = np.zeros(n, dtype=bool)
    if isinstance(s.dtype, pd.StringDtype):
        return s.astype(STRING), ok
    arr = _arrow_of(s)
    if arr is not None:
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_null(arr.type):
            return pd.Series(pd.array(arr.cast(pa.large_string()), dtype=STRING), index=s.index), ok
        s = pd.Series(arr.to_pandas(types_mapper=_canonical_types_mapper), index=s.index)
    if s.dtype == object:
        vals = _object_values(s)
        if pd.api.types.infer_dtype(vals, skipna=True) in ("string", "empty"):
            return pd.Series(vals, index=s.index, dtype=STRING), ok
        return pd.Series([_to_text(v) for v in vals], index=s.index, dtype=STRING), ok
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
    return pd.Series([_to_text(v) for v in _object_values(s)], index=s.index, dtype=STRING), ok


def _to_text(v: Any) -> str | None:
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


def _float_of_object(v: Any) -> tuple[float, bool]:
    """(value, bad) for one raw value."""
    if _is_missing_scalar(v):
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


def _coerce_float(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    n = len(s)
    ok = np.zeros(n, dtype=bool)
    if s.dtype == np.float64:
        return s, ok
    if pd.api.types.is_bool_dtype(s.dtype):
        # true/false is not a number: reject rather than read it as 1/0.
        return pd.Series(np.nan, index=s.index), s.notna().to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(s.dtype):
        return pd.Series(s.to_numpy(dtype="float64", na_value=np.nan), index=s.index), ok
    arr = _arrow_strings(s)
    if arr is not None:
        try:
            vals = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
            return pd.Series(vals, index=s.index), ok
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            s = pd.Series(arr.to_pylist(), index=s.index, dtype=object)
    elif _arrow_of(s) is not None:
        s = pd.Series(_object_values(s), index=s.index, dtype=object)
    vals = np.empty(n, dtype="float64")
    bad = np.zeros(n, dtype=bool)
    for i, v in enumerate(_object_values(s)):
        vals[i], bad[i] = _float_of_object(v)
    return pd.Series(vals, index=s.index), bad


def _int_of_object(v: Any) -> tuple[Any, bool]:
    if _is_missing_scalar(v):
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


def _coerce_int(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    n = len(s)
    ok = np.zeros(n, dtype=bool)
    if isinstance(s.dtype, pd.Int64Dtype):
        return s, ok
    if pd.api.types.is_bool_dtype(s.dtype):
        return pd.Series(pd.NA, index=s.index, dtype="Int64"), s.notna().to_numpy(dtype=bool)
    arr = _arrow_of(s)
    if pd.api.types.is_integer_dtype(s.dtype) and not (arr is not None and pa.types.is_uint64(arr.type)):
        return s.astype("Int64"), ok
    if pd.api.types.is_float_dtype(s.dtype):
        f = s.to_numpy(dtype="float64", na_value=np.nan)
        present = ~np.isnan(f)
        bad = present & ((f != np.round(f)) | (np.abs(f) >= 2.0**63))
        vals = np.where(present & ~bad, f, 0).astype(np.int64)
        return pd.Series(pd.arrays.IntegerArray(vals, ~present | bad), index=s.index), bad
    strs = _arrow_strings(s)
    if strs is not None:
        try:
            out = pc.cast(strs, pa.int64())
            return pd.Series(out.to_pandas(types_mapper=_canonical_types_mapper), index=s.index).astype("Int64"), ok
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    vals = _object_values(s)
    conv = [_int_of_object(v) for v in vals]
    bad = np.fromiter((b for _, b in conv), dtype=bool, count=n)
    return pd.Series([v for v, _ in conv], index=s.index, dtype="Int64"), bad


def _bool_of_object(v: Any) -> tuple[Any, bool]:
    if _is_missing_scalar(v):
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


def _coerce_bool(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    n = len(s)
    ok = np.zeros(n, dtype=bool)
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("boolean"), ok
    strs = _arrow_strings(s)
    if strs is not None:
        low = pc.utf8_lower(pc.utf8_trim_whitespace(strs))
        is_t = _to_bool_np(pc.is_in(low, value_set=pa.array(sorted(_TRUE))))
        is_f = _to_bool_np(pc.is_in(low, value_set=pa.array(sorted(_FALSE))))
        missing = _blank_mask(strs)
        bad = ~missing & ~is_t & ~is_f
        return pd.Series(pd.arrays.BooleanArray(is_t, ~(is_t | is_f)), index=s.index), bad
    if pd.api.types.is_numeric_dtype(s.dtype):
        f = s.to_numpy(dtype="float64", na_value=np.nan)
        present = ~np.isnan(f)
        valid = present & ((f == 0) | (f == 1))
        return pd.Series(pd.arrays.BooleanArray(f == 1, ~valid), index=s.index), present & ~valid
    conv = [_bool_of_object(v) for v in _object_values(s)]
    bad = np.fromiter((b for _, b in conv), dtype=bool, count=n)
    return pd.Series([v for v, _ in conv], index=s.index, dtype="boolean"), bad


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


def _coerce_timestamp(
    s: pd.Series,
    *,
    column: str,
    source: str | None,
    assume_tz: str | None,
    labels: np.ndarray | None = None,
) -> tuple[pd.Series, np.ndarray]:
    n = len(s)
    ok = np.zeros(n, dtype=bool)
    if labels is None:
        labels = np.arange(1, n + 1)
    arr = _arrow_of(s)
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
            conv = [_ts_of_object(v) for v in _object_values(s)]
            return _ts_from_pairs(conv, s.index)
    if pd.api.types.is_bool_dtype(s.dtype):
        return pd.Series(pd.NaT, index=s.index, dtype=TIMESTAMP), s.notna().to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(s.dtype):
        v = s.to_numpy(dtype="float64", na_value=np.nan)
        ns, bad = _epoch_to_ns(v)
        bad &= ~np.isnan(v)
        return _ns_series(ns, s.index), bad
    strs = _arrow_strings(s)
    if strs is None:
        # Python objects: datetimes, numbers and strings mixed.
        vals = _object_values(s)
        texts: list[str | None] = []
        for v in vals:
            if _is_missing_scalar(v):
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
    if _is_missing_scalar(v):
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
    missing = _blank_mask(strs)
    trimmed = pc.utf8_trim_whitespace(strs)
    has_offset = _to_bool_np(pc.match_substring_regex(trimmed, _OFFSET_RE))
    numeric = _to_bool_np(pc.match_substring_regex(trimmed, _EPOCH_RE))
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
            out.append(_to_text(x))
    return out, False


def _json_lists_fast(strs: pa.Array, target: pa.DataType) -> pa.Array | None:
    """Parse a string column of JSON arrays with Arrow's JSON reader; None when any row fails."""
    import pyarrow.json as pajson

    if len(strs) == 0:
        return pa.array([], type=target)
    filled = pc.if_else(_blank_mask_arrow(strs), "null", strs.cast(pa.string()))
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


def _blank_mask_arrow(arr: pa.Array) -> pa.Array:
    return pc.fill_null(pc.or_kleene(pc.is_null(arr), pc.equal(pc.utf8_trim_whitespace(arr), "")), True)


def _coerce_list(s: pd.Series, kind: str) -> tuple[pd.Series, np.ndarray]:
    target = dtype_for(kind)
    n = len(s)
    ok = np.zeros(n, dtype=bool)
    arr = _arrow_of(s)
    if arr is not None and (
        pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type) or pa.types.is_fixed_size_list(arr.type)
        or pa.types.is_null(arr.type)
    ):
        try:
            out = arr.cast(target.pyarrow_dtype)
            return pd.Series(pd.arrays.ArrowExtensionArray(out), index=s.index), ok
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    strs = _arrow_strings(s)
    if strs is not None:
        out = _json_lists_fast(strs, target.pyarrow_dtype)
        if out is not None:
            return pd.Series(pd.arrays.ArrowExtensionArray(out), index=s.index), ok
    conv = float if kind == "list_float" else str
    vals: list[Any] = [None] * n
    bad = np.zeros(n, dtype=bool)
    for i, v in enumerate(_object_values(s)):
        vals[i], bad[i] = _list_of_object(v, conv)
    out = pa.array(vals, type=target.pyarrow_dtype)
    return pd.Series(pd.arrays.ArrowExtensionArray(out), index=s.index), bad


def _canonical_types_mapper(t: pa.DataType) -> Any:
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


arrow_types_mapper = _canonical_types_mapper


@dataclass(frozen=True)
class Coerced:
    """What :func:`coerce_rows` returns: the canonical rows, the rejected ones, and the source
    labels of the kept rows (so that a caller coercing chunk by chunk can de-duplicate later)."""

    frame: pd.DataFrame
    rejected: pd.DataFrame
    kept_labels: np.ndarray


def coerce(
    frame: pd.DataFrame,
    schema: TableSchema,
    *,
    source: str | None = None,
    assume_tz: str | None = None,
    row_labels: pd.Series | np.ndarray | None = None,
    raw_text: Callable[[int], str] | Sequence[str] | None = None,
    dedupe: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
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


def coerce_rows(
    frame: pd.DataFrame,
    schema: TableSchema,
    *,
    source: str | None = None,
    assume_tz: str | None = None,
    row_labels: pd.Series | np.ndarray | None = None,
    raw_text: Callable[[int], str] | Sequence[str] | None = None,
    dedupe: bool = True,
) -> Coerced:
    """:func:`coerce`, also returning the labels of the kept rows (see :class:`Coerced`)."""
    frame = frame.reset_index(drop=True)
    n = len(frame)
    labels = np.arange(1, n + 1) if row_labels is None else np.asarray(row_labels, dtype=np.int64)
    if len(labels) != n:
        raise ValueError(f"`row_labels` must have one label per row ({n}), got {len(labels)}")
    check_required_columns(frame.columns, schema, source=source)
    reasons: dict[int, list[str]] = {}

    def add(mask: np.ndarray, why: Callable[[int], str]) -> None:
        for i in np.flatnonzero(mask):
            reasons.setdefault(int(i), []).append(why(int(i)))

    out: dict[str, pd.Series] = {}
    for col in schema.columns:
        if col.name not in frame.columns:
            continue
        s = frame[col.name]
        if col.kind == "string":
            conv, bad = _coerce_string(s)
        elif col.kind == "float":
            conv, bad = _coerce_float(s)
        elif col.kind == "int":
            conv, bad = _coerce_int(s)
        elif col.kind == "bool":
            conv, bad = _coerce_bool(s)
        elif col.kind == "timestamp":
            conv, bad = _coerce_timestamp(s, column=col.name, source=source, assume_tz=assume_tz, labels=labels)
        else:
            conv, bad = _coerce_list(s, col.kind)
        if bad.any():
            add(bad, lambda i, c=col, s=s: f"{c.name}: cannot parse {_short(s.iloc[i])} as {_EXPECTED[c.kind]}")
        if col.name in schema.ranges:
            lo, hi = schema.ranges[col.name]
            v = conv.to_numpy(dtype="float64", na_value=np.nan)
            with np.errstate(invalid="ignore"):
                oob = ~np.isnan(v) & ((v < lo) | (v > hi))
            if oob.any():
                add(oob, lambda i, c=col, v=v: f"{c.name}: {v[i]!r} is outside [{lo}, {hi}]")
        if col.name in schema.allowed_values:
            allowed = schema.allowed_values[col.name]
            present = conv.notna().to_numpy(dtype=bool)
            inset = conv.isin(sorted(allowed)).to_numpy(dtype=bool, na_value=False)
            unknown = present & ~inset
            if unknown.any():
                add(unknown, lambda i, c=col, conv=conv, a=allowed: f"{c.name}: {conv.iloc[i]!r} is not one of {sorted(a)}")
        if col.required:
            miss = conv.isna().to_numpy(dtype=bool) & ~bad
            if col.kind == "string":
                arr = _arrow_of(conv)
                if arr is not None:
                    miss |= _blank_mask(arr) & ~bad
            if miss.any():
                add(miss, lambda i, c=col: f"{c.name}: required value is missing")
        out[col.name] = conv
    data: dict[str, Any] = {}
    for c in schema.columns:
        if c.name in out:
            data[c.name] = out[c.name]
        else:
            data[c.name] = _missing_column(c, n)
    for c in frame.columns:
        if c not in data:
            data[c] = frame[c]
    canonical = pd.DataFrame(data, index=pd.RangeIndex(n))
    reject = np.zeros(n, dtype=bool)
    if reasons:
        reject[list(reasons)] = True
    if dedupe:
        dup_reasons = _duplicate_reasons(canonical[schema.key], labels, ~reject, schema.key)
        for i, why in dup_reasons.items():
            reasons.setdefault(i, []).append(why)
            reject[i] = True
    idx = np.flatnonzero(reject)
    rejected = rejected_frame(
        rows=labels[idx],
        reasons=["; ".join(reasons[int(i)]) for i in idx],
        raws=[_raw_for(frame, int(i), raw_text) for i in idx],
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


def _duplicate_reasons(key: pd.Series, labels: np.ndarray, valid: np.ndarray, key_name: str) -> dict[int, str]:
    """Reasons for every valid row whose key was already seen in an earlier valid row."""
    valid = valid & key.notna().to_numpy(dtype=bool)  # an optional key (eval_id) may be missing
    if not valid.any():
        return {}
    pos = np.flatnonzero(valid)
    k = key.iloc[pos] if not valid.all() else key
    dup = k.duplicated(keep="first").to_numpy(dtype=bool)
    if not dup.any():
        return {}
    dup_pos = pos[dup]
    dup_keys = key.iloc[dup_pos]
    firsts = k[~dup & k.isin(set(dup_keys)).to_numpy(dtype=bool)]
    first_label = {kk: labels[i] for kk, i in zip(firsts.tolist(), pos[~dup][k[~dup].isin(set(dup_keys)).to_numpy(dtype=bool)])}
    return {
        int(i): f"{key_name}: duplicate of {kk!r} first seen at row {first_label.get(kk, '?')}; kept once"
        for i, kk in zip(dup_pos, dup_keys.tolist())
    }


def _short(v: Any) -> str:
    t = _to_text(v)
    if t is None:
        return repr(v)
    return repr(t if len(t) <= 80 else t[:77] + "...")


def _raw_for(frame: pd.DataFrame, i: int, raw_text: Callable[[int], str] | Sequence[str] | None) -> str:
    if raw_text is not None:
        try:
            return raw_text(i) if callable(raw_text) else raw_text[i]
        except Exception:  # noqa: BLE001 - the raw text is a courtesy; fall back to the row
            pass
    return _row_json(frame.iloc[i])


REJECTED_COLUMNS = ("row", "reason", "raw")


def rejected_frame(rows: Iterable[Any] = (), reasons: Iterable[str] = (), raws: Iterable[str] = ()) -> pd.DataFrame:
    """The rejected-rows table: ``row`` (source line or row number), ``reason``, ``raw``."""
    return pd.DataFrame(
        {
            "row": pd.Series(list(rows), dtype="Int64"),
            "reason": pd.Series(list(reasons), dtype=STRING),
            "raw": pd.Series(list(raws), dtype=STRING),
        }
    )


def _row_json(row: pd.Series) -> str:
    def clean(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            v = v.tolist()
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if _is_missing_scalar(v) and not isinstance(v, str):
            return None
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, (np.floating,)):
            return float(v)
        if isinstance(v, (np.bool_,)):
            return bool(v)
        if isinstance(v, (pd.Timestamp, datetime)):
            return v.isoformat()
        return v

    return json.dumps({str(k): clean(v) for k, v in row.items()}, default=str, ensure_ascii=False)


def derive_retrieval_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill ``retrieval_top1_score`` and ``retrieval_mean_score`` from ``retrieval_scores``.

    Values already present are kept; only missing ones are derived. ``top1`` is the maximum
    score (exports do not always keep the best-first order), ``mean`` the mean of the
    non-missing scores; both stay missing for an empty or missing list.
    """
    if "retrieval_scores" not in frame.columns:
        return frame
    s = frame["retrieval_scores"]
    arr = _arrow_of(s)
    if arr is None or not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)):
        s, _ = _coerce_list(s, "list_float")
        arr = _arrow_of(s)
    arr = arr.cast(pa.list_(pa.float64()))
    n = len(frame)
    lengths = pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(arr).to_numpy(zero_copy_only=False).astype("float64")
    top1 = np.full(n, np.nan)
    mean = np.full(n, np.nan)
    has = lengths > 0
    if has.any():
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        idx = starts[has]
        with np.errstate(invalid="ignore", divide="ignore"):
            top1[has] = np.fmax.reduceat(flat, idx)
            sums = np.add.reduceat(np.nan_to_num(flat), idx)
            counts = np.add.reduceat((~np.isnan(flat)).astype(np.int64), idx)
            mean[has] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    frame = frame.copy(deep=False)
    for name, derived in (("retrieval_top1_score", top1), ("retrieval_mean_score", mean)):
        if name in frame.columns:
            cur = frame[name].to_numpy(dtype="float64", na_value=np.nan)
            frame[name] = np.where(np.isnan(cur), derived, cur)
        else:
            frame[name] = derived
    return frame


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
                expected=f"dtype {col.dtype} ({_EXPECTED[col.kind]}); load files with "
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
