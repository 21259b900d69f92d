"""Loaders: every input format -> the canonical ``events``/``changes`` table plus a load report.

>>> res = load_events("traces.jsonl")               # format detected from extension and content
>>> res.frame, res.rows_read, res.rows_loaded, res.rejected, res.warnings

Formats (``format=``), detected by content (:mod:`.detect`): ``parquet``, ``jsonl``, ``json``,
``csv`` (canonical tables), ``otlp`` (OTLP JSON, bare spans, protobuf, gzip/zstd, S3-exporter
folders; GenAI, OpenInference or Vercel AI attributes), ``oteljs`` (OpenTelemetry JS span dumps),
``phoenix`` (Phoenix spans dataframe, Parquet or JSONL; its SQLite database or a Postgres URL,
with ``project``, ``start`` and ``end`` pushed down), ``langfuse`` (single-trace downloads,
observations/scores exports, a directory of them, the blob-export folder), ``openai`` (Batch
output with its input, chat-completion or Responses objects), ``langsmith`` (LangSmith bulk-export
runs, Parquet), ``mlflow`` (MLflow's SQLite tracking store, the ``search_traces()`` frame as Parquet,
JSON or a database table, ``Trace.to_json()`` lines), ``table`` (canonical events in a database table: ``sqlite:///f.db?table=T``,
``duckdb:///f.duckdb?table=T``, ``postgresql://...?table=T``, or a SQLite/DuckDB file of one table;
a table of a Phoenix dataframe, LangSmith runs or an MLflow frame is read as those, see :mod:`.dbtable`); change logs: ``csv``, ``jsonl``,
``json``, ``yaml``, ``parquet``; offline evaluation histories (:func:`load_evaluations`): ``csv``,
``jsonl``, ``json``, ``parquet``. ``openinference`` resolves to ``otlp`` or ``phoenix`` from the content.
A JSON file of any of them may hold JSON Lines, one document, or documents written back to back
(pretty-printed or not, whatever the extension): it is read document by document (:mod:`._jsonio`).

Every error on bad input is a :class:`~analysis.schema.SchemaError` (``LoadError`` for
file-level problems) whose message names the file.

This package owns reading the inputs; it may import ``analysis.schema``, ``analysis.engine`` (to
open and validate the events where they lie, and to convert exports to Parquet), ``analysis.params``
and the small shared modules, never the statistics, the investigation or the report.
"""

from __future__ import annotations

from ..schema import SchemaError
from .detect import CHANGE_FORMATS, EVENT_FORMATS, detect_format
from .evaluations import load_evaluations
from .load import load_changes, load_events
from .result import DEFAULT_CHUNKSIZE, LoadError, LoadResult
from .engine_events import EventsSource, open_events

__all__ = [
    "open_events",
    "EventsSource",
    "load_events",
    "load_changes",
    "load_evaluations",
    "LoadResult",
    "LoadError",
    "SchemaError",
    "detect_format",
    "EVENT_FORMATS",
    "CHANGE_FORMATS",
    "DEFAULT_CHUNKSIZE",
]
