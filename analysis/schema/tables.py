"""The canonical tables: column kinds and their dtypes, the ``events``, ``changes`` and
``evaluations`` schemas, and the column groups downstream modules read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = [
    "STRING",
    "LIST_FLOAT",
    "LIST_STRING",
    "TIMESTAMP",
    "EXPECTED",
    "dtype_for",
    "Column",
    "TableSchema",
    "CHANGE_TYPES",
    "EVENTS",
    "CHANGES",
    "EVALUATIONS",
    "OUTCOME_COLUMNS",
    "VERSION_COLUMNS",
    "SEGMENT_COLUMNS",
    "TEXT_COLUMNS",
    "empty_frame",
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

#: kind -> what a value of that kind looks like, for error messages.
EXPECTED: dict[str, str] = {
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
    """One canonical column: its name, kind, whether it is required, and a note."""
    name: str
    kind: str
    required: bool = False
    doc: str = ""

    @property
    def dtype(self) -> Any:
        return dtype_for(self.kind)


@dataclass(frozen=True)
class TableSchema:
    """A canonical table: its columns, key column, allowed values and value ranges."""
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
        Column("operation", "string", doc="the call's kind: chat (or missing) for a chat or completion call, embeddings for an "
                                           "embedding call; the investigation reads the chat events only"),
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
        Column("retrieval_documents", "list_string", doc="the retrieved documents' text, in the order of retrieval_doc_ids"),
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
