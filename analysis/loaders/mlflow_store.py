"""MLflow traces where they lie: the SQL tracking store (SQLite), the saved ``search_traces()`` frame
(Parquet, JSON records or lines) and ``Trace.to_json()`` lines, read trace by trace.

The tracking store (``mlflow.set_tracking_uri("sqlite:///mlflow.db")``) keeps, as
``mlflow/store/tracking/dbmodels/models.py`` defines it in MLflow 3: ``trace_info(request_id,
experiment_id, timestamp_ms, status, session_id, ...)``, ``trace_request_metadata(request_id, key,
value)``, ``spans(trace_id, span_id, type, status, start_time_unix_nano, content)`` with ``content``
the span's JSON (``Span.to_dict()``), and ``assessments(trace_id, span_id, name, assessment_type,
value, error, last_updated_timestamp, valid, ...)``. Traces are read in start order, a chunk of
traces at a time (their spans, metadata and assessments by ``IN`` queries), so memory holds one chunk.

Every form goes through :func:`.mlflow_spans.mlflow_trace_batch`; a frame's rows through
:func:`mlflow_row_batches`, which a database table of the frame can call as well.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import pyarrow.parquet as pq

from ._jsonio import iter_json_records
from .dbtable import TableRef, open_table, table_ref
from .mlflow_spans import AssessmentTally, MlflowTrace, frame_row_trace, is_mlflow_tables, mlflow_trace_batch, norm_assessment
from .phoenix_db import sqlite_tables
from .result import LoadError
from .stream import DEFAULT_BATCH_SPANS, SpanBatch

__all__ = ["is_mlflow_db", "mlflow_store_path", "mlflow_batches", "mlflow_db_batches", "mlflow_row_batches", "mlflow_table_batches"]

_TRACES_PER_QUERY = 200
_SESSION, _USER = "mlflow.trace.session", "mlflow.trace.user"


def is_mlflow_db(path: Any) -> bool:
    """A SQLite file holding MLflow's ``trace_info`` table."""
    p = Path(path)
    if not p.is_file():
        return False
    tables = sqlite_tables(p)
    return tables is not None and is_mlflow_tables(tables)


def mlflow_store_path(path: Any) -> Path | None:
    """The SQLite file of an MLflow tracking store given as a path or as its tracking URI
    (``sqlite:///mlflow.db``, no ``table``); ``None`` for anything else."""
    if isinstance(path, str) and "://" in path:
        if not path.lower().startswith("sqlite://"):
            return None
        ref = table_ref(path)
        return Path(ref.location) if ref is not None and ref.table is None and is_mlflow_db(ref.location) else None
    return Path(path) if is_mlflow_db(path) else None


def mlflow_row_batches(rows: Iterable[tuple[int, Mapping[str, Any]]], *, skip: frozenset[str] = frozenset(),
                       raw: Any = None) -> Iterator[SpanBatch]:
    """Span batches of ``search_traces()`` frame rows (or ``Trace.to_json()`` documents), ``(label, row)`` each.

    A row whose spans cannot be read is one rejected record (its label, the reason, ``raw(row)`` or
    the row as JSON); the last batch carries the assessments' warnings.
    """
    tally = AssessmentTally()
    for label, row in rows:
        try:
            trace = frame_row_trace(row)
        except ValueError as e:
            text = raw(row) if raw is not None else json.dumps(row, default=str)[:2000]
            yield SpanBatch(bad=[(label, f"an MLflow trace whose spans cannot be read: {e}", text)])
            continue
        yield mlflow_trace_batch(trace, label, skip=skip, tally=tally)
    yield SpanBatch(warnings=tally.warnings())


def _arrow_rows(batches: Iterable[Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    """The rows of Arrow record batches as dicts, numbered from 1."""
    n = 0
    for b in batches:
        for r in b.to_pylist():
            n += 1
            yield n, r


def _parquet_rows(path: Path, batch_rows: int) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a corrupt file
        raise LoadError(f"cannot read as Parquet: {e}", source=str(path)) from None
    yield from _arrow_rows(pf.iter_batches(batch_size=batch_rows))


def _json_rows(path: Path, bad: list[tuple[int, str, str]], warnings: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of JSON lines, documents back to back or one array (``orient="records"``): ``(line or row, record)``."""
    for r in iter_json_records(path, warnings):
        if r.error is not None:
            bad.append((r.line, r.error, r.raw))
        elif isinstance(r.value, list):
            for i, x in enumerate(r.value):
                if isinstance(x, dict):
                    yield i + 1, x
                else:
                    bad.append((i + 1, f"not an MLflow trace: got {type(x).__name__}", json.dumps(x, default=str)[:2000]))
        elif isinstance(r.value, dict):
            yield r.line, r.value
        else:
            bad.append((r.line, f"not an MLflow trace: got {type(r.value).__name__}", r.raw[:2000]))


def mlflow_table_batches(ref: TableRef, *, skip: frozenset[str] = frozenset(), chunksize: int = DEFAULT_BATCH_SPANS) -> Iterator[SpanBatch]:
    """Span batches of a ``search_traces()`` frame kept in a database table (``df.to_sql``; nested
    columns as JSON text), ``row`` the row number."""
    with open_table(ref) as t:
        yield SpanBatch(warnings=[f"read table {t.table!r} ({len(t.columns)} columns) as an MLflow search_traces() frame"])
        yield from mlflow_row_batches(_arrow_rows(t.batches(max(1, chunksize // 10))), skip=skip)
        yield SpanBatch(warnings=t.warnings())


def mlflow_batches(path: Path | str, *, skip: frozenset[str] = frozenset(), batch_spans: int = DEFAULT_BATCH_SPANS) -> Iterator[SpanBatch]:
    """Span batches of any MLflow form: the SQLite store (a path or its ``sqlite:///`` tracking URI),
    the frame as Parquet, JSON or a database table, ``Trace.to_json()`` lines."""
    store = mlflow_store_path(path)
    if store is not None:
        yield from mlflow_db_batches(store, skip=skip)
        return
    ref = table_ref(path)
    if ref is not None:
        yield from mlflow_table_batches(ref, skip=skip, chunksize=batch_spans)
        return
    p = Path(path)
    with open(p, "rb") as f:
        parquet = f.read(4) == b"PAR1"
    if parquet:
        yield from mlflow_row_batches(_parquet_rows(p, max(1, batch_spans // 10)), skip=skip)
        return
    bad: list[tuple[int, str, str]] = []
    warnings: list[str] = []
    yield from mlflow_row_batches(_json_rows(p, bad, warnings), skip=skip)
    yield SpanBatch(bad=bad, warnings=warnings)


# --------------------------------------------------------------------------------------------
# The SQLite tracking store
# --------------------------------------------------------------------------------------------


def _columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in con.execute(f"PRAGMA table_xinfo({table})")}


def _in(ids: list[str]) -> str:
    return ", ".join("?" * len(ids))


def _trace_context(con: sqlite3.Connection, ids: list[str], has_session: bool) -> dict[str, dict[str, Any]]:
    """trace id -> experiment id, session and user (the ``session_id`` column, else the trace metadata)."""
    ctx: dict[str, dict[str, Any]] = {}
    cols = "request_id, experiment_id" + (", session_id" if has_session else "")
    for r in con.execute(f"SELECT {cols} FROM trace_info WHERE request_id IN ({_in(ids)})", ids):
        ctx[r[0]] = {"experiment_id": None if r[1] is None else str(r[1]), "session_id": r[2] if has_session else None, "user_id": None}
    for tid, key, value in con.execute(f"SELECT request_id, key, value FROM trace_request_metadata WHERE request_id IN ({_in(ids)}) "
                                       "AND key IN (?, ?)", [*ids, _SESSION, _USER]):
        c = ctx.setdefault(tid, {})
        name = "session_id" if key == _SESSION else "user_id"
        if c.get(name) is None:
            c[name] = value
    return ctx


def _db_assessments(con: sqlite3.Connection, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    cols = ["trace_id", "span_id", "name", "assessment_type", "value", "error", "created_timestamp", "last_updated_timestamp", "valid"]
    out: dict[str, list[dict[str, Any]]] = {}
    for r in con.execute(f"SELECT {', '.join(cols)} FROM assessments WHERE trace_id IN ({_in(ids)}) ORDER BY last_updated_timestamp", ids):
        d = dict(zip(cols, r))
        out.setdefault(d["trace_id"], []).append(norm_assessment(d))
    return out


def _db_spans(con: sqlite3.Connection, ids: list[str], bad: list[tuple[int, str, str]]) -> dict[str, list[tuple[int, Any]]]:
    """trace id -> (rowid, span dict) of its spans; a ``content`` that is not a JSON object is a rejected record."""
    out: dict[str, list[tuple[int, Any]]] = {tid: [] for tid in ids}
    for rowid, tid, content in con.execute(f"SELECT rowid, trace_id, content FROM spans WHERE trace_id IN ({_in(ids)}) "
                                           "ORDER BY trace_id, start_time_unix_nano, rowid", ids):
        try:
            d = json.loads(content)
        except (TypeError, json.JSONDecodeError) as e:
            bad.append((int(rowid), f"spans row {rowid}: `content` must be the span as JSON text: {e}", str(content)[:2000]))
            continue
        if not isinstance(d, dict):
            bad.append((int(rowid), f"spans row {rowid}: `content` must be a JSON object, got {type(d).__name__}", str(content)[:2000]))
            continue
        out[tid].append((int(rowid), d))
    return out


def _check_store(con: sqlite3.Connection, source: str) -> set[str]:
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "spans" not in tables:
        raise LoadError("is an MLflow tracking store without a `spans` table: this MLflow version keeps the spans as artifact "
                        "files, not in the database. Save the traces with `mlflow.search_traces()` (to Parquet or JSON) or "
                        "`Trace.to_json()` and read those.", source=source)
    return tables


def mlflow_db_batches(path: Path | str, *, skip: frozenset[str] = frozenset(), traces_per_query: int = _TRACES_PER_QUERY) -> Iterator[SpanBatch]:
    """Span batches of an MLflow SQLite tracking store, traces in start order, ``traces_per_query`` at a time.

    ``row`` of a rejected record is the span's ``rowid`` in the ``spans`` table.

    Raises
    ------
    LoadError
        The store has no ``spans`` table (an MLflow version that keeps spans as artifacts).
    """
    source = str(path)
    con = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    try:
        tables = _check_store(con, source)
        has_session = "session_id" in _columns(con, "trace_info")
        tally = AssessmentTally()
        n_exp = con.execute("SELECT COUNT(DISTINCT experiment_id), COUNT(*) FROM trace_info").fetchone()
        yield SpanBatch(warnings=[f"MLflow tracking store: {n_exp[1]} trace(s) in {n_exp[0]} experiment(s)"])
        cur = con.execute("SELECT request_id FROM trace_info ORDER BY timestamp_ms, request_id")
        while chunk := cur.fetchmany(traces_per_query):
            ids = [r[0] for r in chunk]
            ctx = _trace_context(con, ids, has_session)
            assessments = _db_assessments(con, ids) if "assessments" in tables else {}
            bad: list[tuple[int, str, str]] = []
            spans = _db_spans(con, ids, bad)
            yield SpanBatch(bad=bad)
            for tid in ids:
                rows = spans[tid]
                c = ctx.get(tid, {})
                trace = MlflowTrace(tid, [d for _, d in rows], assessments.get(tid, []), c.get("experiment_id"),
                                    c.get("session_id"), c.get("user_id"))
                batch = mlflow_trace_batch(trace, rows[0][0] if rows else 0, skip=skip, tally=tally)
                for s, (rowid, _) in zip(batch.spans, rows):
                    s.row = rowid
                yield batch
        yield SpanBatch(warnings=tally.warnings())
    finally:
        con.close()
