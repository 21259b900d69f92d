"""The canonical tables: ``events`` and ``changes``.

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

* :func:`coerce` turns a raw frame (strings, JSON arrays, mixed types) into the canonical one,
  row by row: a value that cannot be parsed rejects its row with a reason, it never becomes a
  silent missing value. Table-level problems (a missing required column, timestamps without an
  offset) raise :class:`SchemaError`.
* :func:`validate` checks an already-canonical frame and raises :class:`SchemaError` naming the
  source, the column, a few offending rows and what was expected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = [
    "Column",
    "TableSchema",
    "SchemaError",
    "EVENTS",
    "CHANGES",
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
        parts.append(message)
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:5])
            more = f" (and {len(self.rows) - 5} more)" if len(self.rows) > 5 else ""
            parts.append(f"rows {shown}{more}.")
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
# Coercion: raw values -> canonical dtypes, row by row, with reasons
# --------------------------------------------------------------------------------------------

_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


def _is_missing_scalar(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    if isinstance(v, str) and v.strip() == "":
        return True
    return False


def _missing_mask(s: pd.Series) -> np.ndarray:
    if isinstance(s.dtype, pd.ArrowDtype) or s.dtype != object:
        m = s.isna().to_numpy(dtype=bool).copy()
        if pd.api.types.is_string_dtype(s.dtype):
            m |= (s.fillna("x").astype(str).str.strip() == "").to_numpy(dtype=bool)
        return m
    return np.fromiter((_is_missing_scalar(v) for v in s), dtype=bool, count=len(s))


def _coerce_string(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if isinstance(s.dtype, pd.StringDtype) or (
        isinstance(s.dtype, pd.ArrowDtype) and pa.types.is_string(s.dtype.pyarrow_dtype)
    ) or s.dtype == "str":
        out = s.astype(STRING)
        return out, np.zeros(len(s), dtype=bool)
    if s.dtype == object:
        def conv(v: Any) -> Any:
            if _is_missing_scalar(v):
                return None
            if isinstance(v, str):
                return v
            if isinstance(v, (dict, list)):
                return json.dumps(v, sort_keys=True, default=str)
            if isinstance(v, float) and v.is_integer():
                return str(int(v))
            return str(v)

        return pd.Series([conv(v) for v in s], index=s.index, dtype=STRING), np.zeros(len(s), bool)
    if pd.api.types.is_float_dtype(s.dtype):
        vals = s.to_numpy()
        txt = [None if np.isnan(v) else (str(int(v)) if float(v).is_integer() else repr(float(v))) for v in vals]
        return pd.Series(txt, index=s.index, dtype=STRING), np.zeros(len(s), bool)
    return s.astype(str).where(s.notna(), None).astype(STRING), np.zeros(len(s), bool)


def _coerce_float(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    missing = _missing_mask(s)
    if pd.api.types.is_bool_dtype(s.dtype):
        out = s.astype("Float64").astype("float64", errors="ignore")
        return pd.to_numeric(out, errors="coerce").astype("float64"), np.zeros(len(s), bool)
    out = pd.to_numeric(s.astype(object).where(~missing, None) if s.dtype == object else s, errors="coerce")
    out = out.astype("float64")
    bad = out.isna().to_numpy() & ~missing
    return out, bad


def _coerce_int(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    f, bad = _coerce_float(s)
    vals = f.to_numpy()
    frac = np.zeros(len(vals), dtype=bool)
    ok = ~np.isnan(vals)
    frac[ok] = vals[ok] != np.round(vals[ok])
    bad = bad | frac
    out = f.where(~bad)
    return out.round().astype("Int64"), bad


def _coerce_bool(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if isinstance(s.dtype, pd.BooleanDtype) or s.dtype == bool:
        return s.astype("boolean"), np.zeros(len(s), bool)
    if isinstance(s.dtype, pd.ArrowDtype) and pa.types.is_boolean(s.dtype.pyarrow_dtype):
        return s.astype("boolean"), np.zeros(len(s), bool)
    n = len(s)
    vals = np.empty(n, dtype=object)
    bad = np.zeros(n, dtype=bool)
    for i, v in enumerate(s.to_numpy(dtype=object)):
        if _is_missing_scalar(v):
            vals[i] = pd.NA
        elif isinstance(v, (bool, np.bool_)):
            vals[i] = bool(v)
        elif isinstance(v, (int, float, np.integer, np.floating)) and v in (0, 1):
            vals[i] = bool(v)
        elif isinstance(v, str) and v.strip().lower() in _TRUE:
            vals[i] = True
        elif isinstance(v, str) and v.strip().lower() in _FALSE:
            vals[i] = False
        else:
            vals[i] = pd.NA
            bad[i] = True
    return pd.Series(vals, index=s.index, dtype="boolean"), bad


def _coerce_list(s: pd.Series, kind: str) -> tuple[pd.Series, np.ndarray]:
    target = dtype_for(kind)
    if isinstance(s.dtype, pd.ArrowDtype) and pa.types.is_list(s.dtype.pyarrow_dtype) or (
        isinstance(s.dtype, pd.ArrowDtype) and pa.types.is_large_list(s.dtype.pyarrow_dtype)
    ):
        try:
            arr = pa.array(s.array).cast(target.pyarrow_dtype)  # type: ignore[union-attr]
            return pd.Series(pd.arrays.ArrowExtensionArray(arr), index=s.index), np.zeros(len(s), bool)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    n = len(s)
    out: list[Any] = [None] * n
    bad = np.zeros(n, dtype=bool)
    conv = float if kind == "list_float" else str
    for i, v in enumerate(s.to_numpy(dtype=object)):
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            continue
        if isinstance(v, str):
            t = v.strip()
            if t == "":
                continue
            try:
                v = json.loads(t)
            except json.JSONDecodeError:
                bad[i] = True
                continue
        if isinstance(v, np.ndarray):
            v = v.tolist()
        if not isinstance(v, (list, tuple)):
            bad[i] = True
            continue
        try:
            out[i] = [None if x is None else conv(x) for x in v]
        except (TypeError, ValueError):
            bad[i] = True
    arr = pa.array(out, type=target.pyarrow_dtype)
    return pd.Series(pd.arrays.ArrowExtensionArray(arr), index=s.index), bad


def _coerce_timestamp(
    s: pd.Series, *, column: str, source: str | None, assume_tz: str | None
) -> tuple[pd.Series, np.ndarray]:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC").astype(TIMESTAMP), np.zeros(len(s), bool)
    if pd.api.types.is_datetime64_dtype(s.dtype):
        if assume_tz is None:
            raise SchemaError(
                "timestamps have no UTC offset.",
                source=source,
                column=column,
                expected="timestamps with an offset (e.g. 2026-03-01T12:00:00Z), or pass "
                "assume_tz='UTC' (command line: --assume-tz UTC) to say which zone they are in",
            )
        return s.dt.tz_localize(assume_tz).dt.tz_convert("UTC").astype(TIMESTAMP), np.zeros(len(s), bool)
    missing = _missing_mask(s)
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        # Epoch numbers: pick the unit from the magnitude (s, ms, us, ns).
        v = pd.to_numeric(s, errors="coerce").astype("float64")
        mag = np.nanmedian(np.abs(v.to_numpy())) if (~np.isnan(v.to_numpy())).any() else 0
        unit = "s" if mag < 1e11 else "ms" if mag < 1e14 else "us" if mag < 1e17 else "ns"
        out = pd.to_datetime(v, unit=unit, utc=True, errors="coerce")
        return out.astype(TIMESTAMP), out.isna().to_numpy() & ~missing
    text = s.astype(object).where(~missing, None)
    strs = pd.Series([None if m else str(x).strip() for x, m in zip(text, missing)], index=s.index, dtype=object)
    # An offset is present when the string ends in Z or +hh:mm / -hh:mm / +hhmm.
    has_offset = strs.str.contains(r"(?:[Zz]|[+-]\d{2}:?\d{2})$", regex=True, na=False).to_numpy()
    # purely numeric strings are epoch values
    numeric = strs.str.fullmatch(r"-?\d+(?:\.\d+)?", na=False).to_numpy()
    candidates = ~missing & ~has_offset & ~numeric
    # Only strings that do parse as a date are naive timestamps; the others are bad rows.
    naive_parsed = pd.to_datetime(strs.where(candidates, None), errors="coerce", format="ISO8601")
    naive = candidates & naive_parsed.notna().to_numpy()
    if naive.any() and assume_tz is None:
        rows = list(np.flatnonzero(naive)[:5])
        raise SchemaError(
            "timestamps have no UTC offset: "
            + ", ".join(repr(strs.iloc[r]) for r in rows[:3])
            + ".",
            source=source,
            column=column,
            expected="timestamps with an offset (e.g. 2026-03-01T12:00:00Z), or pass "
            "assume_tz='UTC' (command line: --assume-tz UTC) to say which zone they are in",
        )
    out = pd.Series(pd.NaT, index=s.index, dtype=TIMESTAMP)
    aware = ~missing & has_offset
    if aware.any():
        out[aware] = pd.to_datetime(strs[aware], utc=True, errors="coerce", format="ISO8601").astype(TIMESTAMP)
    if naive.any():
        loc = pd.to_datetime(strs[naive], errors="coerce", format="ISO8601")
        if isinstance(loc.dtype, pd.DatetimeTZDtype):  # mixed input; already aware
            out[naive] = loc.dt.tz_convert("UTC").astype(TIMESTAMP)
        else:
            out[naive] = loc.dt.tz_localize(assume_tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC").astype(TIMESTAMP)
    if numeric.any():
        v = pd.to_numeric(strs[numeric], errors="coerce").astype("float64")
        mag = np.nanmedian(np.abs(v.to_numpy()))
        unit = "s" if mag < 1e11 else "ms" if mag < 1e14 else "us" if mag < 1e17 else "ns"
        out[numeric] = pd.to_datetime(v, unit=unit, utc=True, errors="coerce").astype(TIMESTAMP)
    bad = out.isna().to_numpy() & ~missing
    return out, bad


def coerce(
    frame: pd.DataFrame,
    schema: TableSchema,
    *,
    source: str | None = None,
    assume_tz: str | None = None,
    row_labels: pd.Series | np.ndarray | None = None,
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

    Returns
    -------
    (canonical, rejected)
        ``canonical`` holds every row that parsed, with canonical dtypes, the derived retrieval
        columns and unique keys. ``rejected`` has one row per rejected input row with
        ``row`` (source line or row number), ``reason`` and ``raw`` (the row as JSON text).

    Raises
    ------
    SchemaError
        When a required column is missing, or timestamps have no offset and ``assume_tz`` is
        not given.
    """
    frame = frame.reset_index(drop=True)
    if row_labels is None:
        labels = np.arange(1, len(frame) + 1)
    else:
        labels = np.asarray(row_labels)
    missing_cols = [c for c in schema.required if c not in frame.columns]
    if missing_cols:
        raise SchemaError(
            f"missing required column{'s' if len(missing_cols) > 1 else ''} "
            f"{', '.join(repr(c) for c in missing_cols)}; columns found: "
            f"{', '.join(repr(c) for c in frame.columns) or 'none'}.",
            source=source,
            column=missing_cols[0],
            expected=f"the {schema.name} table's required columns {schema.required}",
        )
    n = len(frame)
    reasons: list[list[str]] = [[] for _ in range(n)]
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
            conv, bad = _coerce_timestamp(s, column=col.name, source=source, assume_tz=assume_tz)
        else:
            conv, bad = _coerce_list(s, col.kind)
        for i in np.flatnonzero(bad):
            raw = frame[col.name].iloc[i]
            reasons[i].append(f"{col.name}: cannot parse {str(raw)[:80]!r} as {_EXPECTED[col.kind]}")
        if col.name in schema.ranges:
            lo, hi = schema.ranges[col.name]
            v = conv.to_numpy(dtype="float64", na_value=np.nan)
            oob = ~np.isnan(v) & ((v < lo) | (v > hi))
            for i in np.flatnonzero(oob):
                reasons[i].append(f"{col.name}: {v[i]!r} is outside [{lo}, {hi}]")
        if col.name in schema.allowed_values:
            allowed = schema.allowed_values[col.name]
            vals = conv.to_numpy(dtype=object, na_value=None)
            for i, v in enumerate(vals):
                if v is not None and v not in allowed:
                    reasons[i].append(f"{col.name}: {v!r} is not one of {sorted(allowed)}")
        if col.required:
            miss = conv.isna().to_numpy() & ~bad
            for i in np.flatnonzero(miss):
                reasons[i].append(f"{col.name}: required value is missing")
        out[col.name] = conv
    canonical = frame.copy()
    for name, conv in out.items():
        canonical[name] = conv
    for col in schema.columns:
        if col.name not in canonical.columns:
            canonical[col.name] = pd.Series(pd.NA if col.kind not in ("float", "timestamp") else np.nan, index=canonical.index).astype(col.dtype)
    ordered = schema.names + [c for c in frame.columns if c not in schema.names]
    canonical = canonical[ordered]
    bad_rows = np.array([bool(r) for r in reasons], dtype=bool)
    # Duplicate keys: the first valid occurrence is kept, the others rejected.
    key = canonical[schema.key]
    dup = np.zeros(n, dtype=bool)
    valid_idx = np.flatnonzero(~bad_rows)
    if len(valid_idx):
        d = key.iloc[valid_idx].duplicated(keep="first").to_numpy()
        first_pos = {}
        for i in valid_idx:
            k = key.iloc[i]
            first_pos.setdefault(k, i)
        for i in valid_idx[d]:
            dup[i] = True
            reasons[i].append(
                f"{schema.key}: duplicate of {key.iloc[i]!r} first seen at row {labels[first_pos[key.iloc[i]]]}; kept once"
            )
    reject = bad_rows | dup
    rejected = rejected_frame(
        rows=labels[reject],
        reasons=["; ".join(reasons[i]) for i in np.flatnonzero(reject)],
        raws=[_row_json(frame.iloc[i]) for i in np.flatnonzero(reject)],
    )
    canonical = canonical.loc[~reject].reset_index(drop=True)
    if schema is EVENTS or schema.name == "events":
        canonical = derive_retrieval_columns(canonical)
    return canonical, rejected


def rejected_frame(rows: Iterable[Any] = (), reasons: Iterable[str] = (), raws: Iterable[str] = ()) -> pd.DataFrame:
    """The rejected-rows table: ``row`` (source line or row number), ``reason``, ``raw``."""
    return pd.DataFrame(
        {
            "row": pd.Series(list(rows), dtype="Int64"),
            "reason": pd.Series(list(reasons), dtype=object),
            "raw": pd.Series(list(raws), dtype=object),
        }
    )


def _row_json(row: pd.Series) -> str:
    def clean(v: Any) -> Any:
        if isinstance(v, (np.ndarray, list, tuple)):
            return [clean(x) for x in v]
        if _is_missing_scalar(v) if not isinstance(v, (list, dict)) else False:
            return None
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, (np.floating,)):
            return float(v)
        if isinstance(v, pd.Timestamp):
            return v.isoformat()
        return v

    return json.dumps({str(k): clean(v) for k, v in row.items()}, default=str, ensure_ascii=False)


def derive_retrieval_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill ``retrieval_top1_score`` and ``retrieval_mean_score`` from ``retrieval_scores``.

    Values already present are kept; only missing ones are derived. ``top1`` is the maximum
    score (exports do not always keep the best-first order), ``mean`` the mean of the list.
    """
    if "retrieval_scores" not in frame.columns:
        return frame
    s = frame["retrieval_scores"]
    if not isinstance(s.dtype, pd.ArrowDtype):
        s, _ = _coerce_list(s, "list_float")
    arr = pa.chunked_array([pa.array(s.array)]) if not isinstance(s.array, pd.arrays.ArrowExtensionArray) else s.array._pa_array  # noqa: SLF001
    import pyarrow.compute as pc

    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
    lengths = np.where(pd.isna(lengths), 0, lengths).astype(np.int64)
    flat = pc.list_flatten(arr).to_numpy(zero_copy_only=False).astype("float64")
    n = len(frame)
    top1 = np.full(n, np.nan)
    mean = np.full(n, np.nan)
    has = lengths > 0
    if has.any():
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        idx = starts[has]
        top1[has] = np.fmax.reduceat(flat, idx)
        sums = np.add.reduceat(np.nan_to_num(flat), idx)
        counts = np.add.reduceat((~np.isnan(flat)).astype(np.int64), idx)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean[has] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    frame = frame.copy()
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
        Naming the source, the column, a few offending rows and what was expected: a missing
        required column, a wrong dtype, a missing required value, a duplicate key, a value
        outside its range or set.
    """
    missing_cols = [c for c in schema.required if c not in frame.columns]
    if missing_cols:
        raise SchemaError(
            f"missing required column {missing_cols[0]!r}; columns found: {list(frame.columns)}.",
            source=source,
            column=missing_cols[0],
            expected=f"the {schema.name} table's required columns {schema.required}",
        )
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
                raise SchemaError("required value is missing in", source=source, column=col.name, rows=bad, expected="a value in every row")
        if col.name in schema.ranges:
            lo, hi = schema.ranges[col.name]
            v = s.to_numpy(dtype="float64", na_value=np.nan)
            bad = np.flatnonzero(~np.isnan(v) & ((v < lo) | (v > hi)))
            if len(bad):
                raise SchemaError("values out of range in", source=source, column=col.name, rows=bad, expected=f"values in [{lo}, {hi}]")
        if col.name in schema.allowed_values:
            allowed = schema.allowed_values[col.name]
            vals = s.to_numpy(dtype=object, na_value=None)
            bad = [i for i, v in enumerate(vals) if v is not None and v not in allowed]
            if bad:
                raise SchemaError(f"unknown value {vals[bad[0]]!r} in", source=source, column=col.name, rows=bad, expected=f"one of {sorted(allowed)}")
    dup = np.flatnonzero(frame[schema.key].duplicated().to_numpy())
    if len(dup):
        raise SchemaError("duplicate keys in", source=source, column=schema.key, rows=dup, expected="unique values")
    return frame
