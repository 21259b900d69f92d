"""Loading a whole table: any events or change-log format -> the canonical table and its load report.

:func:`load_events` and :func:`load_changes` detect the format (:mod:`.detect`), then read a
canonical table chunk by chunk (:mod:`.canonical`, :mod:`.changes`) or a trace export span by span
(:mod:`.traces`), and collect the rows that fit the schema and the rejected ones with their reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping as TMapping

from ..schema import CHANGES, EVENTS, TableSchema
from .canonical import Collector, read_canonical
from .changes import read_yaml
from .detect import TRACE_FORMATS, detect_format, normalize_format
from .mapping import MappingState, load_mapping, required_sources
from .result import DEFAULT_CHUNKSIZE, LoadError, LoadResult, check_path
from .dbtable import is_db_url
from .traces import TraceOptions, load_trace_format

__all__ = ["load_events", "load_changes"]


def _check_chunksize(chunksize: int) -> int:
    if not isinstance(chunksize, int) or isinstance(chunksize, bool) or chunksize < 1:
        raise ValueError(f"`chunksize` must be a positive number of rows, got {chunksize!r}")
    return chunksize


def _load_table(
    path: str | Path,
    schema: TableSchema,
    *,
    format: str | None,
    assume_tz: str | None,
    mapping: TMapping[str, Any] | str | Path | None,
    chunksize: int,
    batch_input: str | Path | None = None,
    options: TraceOptions = TraceOptions(),
) -> LoadResult:
    chunksize = _check_chunksize(chunksize)
    p = path if is_db_url(path) else check_path(path)
    table = schema.name
    mp = load_mapping(mapping, schema)
    mapped = required_sources(mp, schema)
    fmt = detect_format(p, table, mapped=mapped) if format is None else normalize_format(format, p, table, mapped=mapped)
    state = MappingState(mp)
    source = str(p)
    if batch_input is not None and fmt != "openai":
        raise LoadError(f"`batch_input` is the input file of an OpenAI Batch, but the file holds {fmt!r}.", source=source)
    if fmt in TRACE_FORMATS:
        bi = None if batch_input is None else check_path(batch_input)
        return load_trace_format(p, fmt, assume_tz=assume_tz, mapping=state, chunksize=chunksize, batch_input=bi, options=options)
    if options != TraceOptions():
        raise LoadError(f"`project`, `start` and `end` filter Phoenix's database; this input holds {fmt!r}.", source=source)
    col = Collector(schema, source, assume_tz, state)
    if fmt == "yaml":
        read_yaml(p, col)
        sha = None
    else:
        sha = read_canonical(p, fmt, col, chunksize)
    res = col.finish(fmt, sha)
    if res.rows_read == 0:
        if table == "events":
            raise LoadError("has no rows: nothing to analyse.", source=source)
        res.warnings.append("the change log has no rows")
    return res


def load_events(
    path: str | Path,
    *,
    format: str | None = None,
    assume_tz: str | None = None,
    mapping: TMapping[str, Any] | str | Path | None = None,
    chunksize: int = DEFAULT_CHUNKSIZE,
    batch_input: str | Path | None = None,
    project: str | None = None,
    start: Any = None,
    end: Any = None,
) -> LoadResult:
    """Load an events table or a trace export into the canonical ``events`` table.

    Parameters
    ----------
    path
        A file (or, for a Langfuse export, a directory holding ``observations``, ``scores`` and
        ``traces`` files; for Phoenix's database, its SQLite file or a ``postgresql://`` URL; for
        MLflow, its SQLite tracking store); or a
        table in a database: ``sqlite:///file.db?table=T``, ``duckdb:///file.duckdb?table=T``,
        ``postgresql://user@host:port/db?table=T``, or a SQLite or DuckDB file holding one table.
    format
        One of :data:`EVENT_FORMATS` (or ``openinference``); detected when ``None``.
    assume_tz
        The zone of timestamps written without an offset (e.g. ``"UTC"``); ``None`` makes them
        an error, except for Langfuse exports, whose timestamps are UTC by specification.
    mapping
        Application attributes or columns -> canonical columns (a dict or a YAML file); see
        :mod:`analysis.loaders.mapping`.
    chunksize
        Rows per chunk when streaming Parquet, JSONL, JSON and CSV tables.
    batch_input
        For an OpenAI Batch output, its input file (joined on ``custom_id``: the requested model,
        the sampling parameters, the prompt); found by itself when both lie in one folder.
    project
        For Phoenix's database: the project to read (``None``: every project; each event then
        names its project in the ``phoenix.project`` column). A name the database does not hold
        is an error listing the projects present.
    start, end
        For Phoenix's database: only the spans starting at or after ``start`` and before ``end``
        (times with a zone, or UTC when they have none); both are pushed down into the query.

    Returns
    -------
    LoadResult
        The canonical frame and the load report; ``rows_read == rows_loaded + len(rejected)``.

    Raises
    ------
    SchemaError
        A missing required column (naming it, the file and the columns found), timestamps
        without an offset and no ``assume_tz``, an empty, unreadable or unrecognised file
        (:class:`LoadError`). Bad rows are never raised: they are in ``rejected``.
    """
    return _load_table(path, EVENTS, format=format, assume_tz=assume_tz, mapping=mapping, chunksize=chunksize, batch_input=batch_input,
                       options=TraceOptions(project=project, start=start, end=end))


def load_changes(
    path: str | Path,
    *,
    format: str | None = None,
    assume_tz: str | None = None,
    mapping: TMapping[str, Any] | str | Path | None = None,
    chunksize: int = DEFAULT_CHUNKSIZE,
) -> LoadResult:
    """Load a change log (CSV, JSONL, JSON, YAML or Parquet) into the canonical ``changes`` table.

    Parameters and errors as :func:`load_events`; ``change_type`` must be one of
    :data:`analysis.schema.CHANGE_TYPES` (other values reject the row; a value map in
    ``mapping`` can translate the log's own names).
    """
    return _load_table(path, CHANGES, format=format, assume_tz=assume_tz, mapping=mapping, chunksize=chunksize)
