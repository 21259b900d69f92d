"""The narrow waist: the only code that reads raw event rows.

:func:`open_engine` opens an events source on DuckDB (embedded, the default) or Apache Spark and
returns an :class:`Engine` whose queries (profile, window aggregates, samples, totals, value
counts, versions, rows to a file) each return a small table (:class:`WindowedAggregates` for the
window aggregates). Everything after the engine works on those tables. The engine may import
:mod:`analysis._common` and the layers below it (schema, loaders), never :mod:`analysis.stats` or
anything above.
"""

from __future__ import annotations

from typing import Any

from analysis.engine.aggregates import WindowedAggregates
from analysis.engine.base import Engine, Profile, QueryLimitError, RowsResult, Versions
from analysis.engine.duckdb import DEFAULT_MEMORY_LIMIT, DuckDBEngine
from analysis.engine.query import ALL, MISSING, Metric, Where
from analysis.engine.sources import Source, SourceError, resolve_source

__all__ = [
    "ALL", "MISSING", "DEFAULT_MEMORY_LIMIT", "ENGINES", "Engine", "DuckDBEngine", "Metric", "Profile", "QueryLimitError",
    "RowsResult", "Source", "SourceError", "Versions", "Where", "WindowedAggregates", "as_engine", "open_engine", "resolve_source",
]

ENGINES = ("duckdb", "spark")


def open_engine(events: Any, *, engine: str = "duckdb", memory_limit: str = DEFAULT_MEMORY_LIMIT, threads: int | None = None,
                spark_master: str = "local[*]", spark: Any = None, max_result_rows: int | None = None) -> Engine:
    """Open ``events`` on ``engine`` (``"duckdb"`` or ``"spark"``). An :class:`Engine` passes through."""
    if isinstance(events, Engine):
        return events
    if engine == "duckdb":
        return DuckDBEngine(events, memory_limit=memory_limit, threads=threads, max_result_rows=max_result_rows)
    if engine == "spark":
        # Spark's engine (and its SQL transpiler, sqlglot) is loaded only when asked for: pyspark is optional
        from analysis.engine.spark import SparkEngine

        return SparkEngine(events, master=spark_master, spark=spark, max_result_rows=max_result_rows)
    raise ValueError(f"`engine` must be one of {ENGINES}, got {engine!r}")


def as_engine(events: Any) -> Engine:
    """``events`` as an engine: an :class:`Engine` as it is, anything else (a DataFrame, a path) on DuckDB.

    The statistics' public functions take either, so a small in-memory table goes through the
    same queries as a 500M-row lake.
    """
    return events if isinstance(events, Engine) else DuckDBEngine(events)
