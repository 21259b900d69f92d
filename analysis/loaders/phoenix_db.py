"""Arize Phoenix's own database (a SQLite file, or Postgres), read where the spans live.

Tables as ``phoenix/db/models.py`` defines them: ``projects(id, name)``, ``traces(id,
project_rowid, trace_id, start_time, end_time)``, ``spans(id, trace_rowid, span_id, parent_id,
name, span_kind, start_time, end_time, attributes, events, status_code, status_message, ...)`` with
``attributes`` nested JSON (``{"llm": {"model_name": ...}}``), and ``span_annotations(span_rowid,
name, label, score, updated_at, ...)``. Times are UTC (naive text in SQLite).

The project and the time range are pushed down into SQL (``WHERE projects.name = ? AND
spans.start_time >= ? AND spans.start_time < ?``); rows come ordered by trace and are fetched in
chunks (``fetchmany``), so a trace arrives whole and memory stays at one chunk plus the traces being
assembled. DuckDB's sqlite and postgres extensions are downloaded at first use, which is not
possible offline, so SQLite is read with Python's ``sqlite3`` and Postgres with ``psycopg`` (the
``postgres`` extra); a URL's password is never repeated (:func:`source_text`). Span annotations become ``annotation.<name>`` (score) and ``annotation.<name>.label``
columns of the annotated event (the latest per name); :data:`DEFAULT_OUTCOMES` turns the labels of
Phoenix's usual evaluations into outcome columns unless the user's mapping names that outcome.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping
from urllib.parse import parse_qsl, urlsplit

import pandas as pd

from .openinference import dialect_for, phoenix_span
from .result import LoadError
from .stream import DEFAULT_BATCH_SPANS, SpanBatch

__all__ = [
    "is_phoenix_db", "is_phoenix_url", "phoenix_db_batches", "DEFAULT_OUTCOMES", "AnnotationOutcome", "sqlite_tables",
    "PHOENIX_TABLES", "redact_url", "source_text",
]

#: The tables a Phoenix database has (detection needs all three).
PHOENIX_TABLES = ("projects", "traces", "spans")
_SQLITE_MAGIC = b"SQLite format 3\x00"
_URL_PREFIXES = ("postgres://", "postgresql://", "postgresql+psycopg://", "postgresql+psycopg2://")
_IN_CHUNK = 500  # span ids per annotation query


@dataclass(frozen=True)
class AnnotationOutcome:
    """A span annotation whose label fills an outcome column: ``annotation`` -> ``column`` through ``values``."""

    annotation: str
    column: str
    values: Mapping[str, bool]

    @property
    def source(self) -> str:
        return f"annotation.{self.annotation}.label"


#: The default mapping of annotation labels onto outcomes (Phoenix's built-in evaluators' labels);
#: the first annotation present wins for a column, and a user mapping onto the column replaces it.
DEFAULT_OUTCOMES = (
    AnnotationOutcome("correctness", "correct", {"correct": True, "incorrect": False}),
    AnnotationOutcome("qa_correctness", "correct", {"correct": True, "incorrect": False}),
    AnnotationOutcome("hallucination", "hallucinated", {"hallucinated": True, "factual": False}),
)


def is_phoenix_url(path: Any) -> bool:
    """True for a Postgres URL (``postgresql://user@host/db``) that names no ``table`` (a table is read by :mod:`.dbtable`)."""
    if not (isinstance(path, str) and path.lower().startswith(_URL_PREFIXES)):
        return False
    return not any(k == "table" for k, _ in parse_qsl(urlsplit(path).query))


def source_text(path: Any) -> str:
    """How an input is named in messages and reports: a Postgres URL without its password, a path as it is."""
    return redact_url(str(path)) if is_phoenix_url(path) else str(path)


def sqlite_tables(path: Path) -> list[str] | None:
    """The table names of a SQLite file, or None when ``path`` is not one."""
    try:
        with open(path, "rb") as f:
            if f.read(16) != _SQLITE_MAGIC:
                return None
    except OSError:
        return None
    try:
        con = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
        try:
            return sorted(r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        raise LoadError(f"is a SQLite file that cannot be read: {e}", source=str(path)) from None


def is_phoenix_db(path: Any) -> bool:
    """A Postgres URL, or a SQLite file holding Phoenix's ``projects``, ``traces`` and ``spans`` tables."""
    if is_phoenix_url(path):
        return True
    p = Path(path)
    if not p.is_file():
        return False
    tables = sqlite_tables(p)
    return tables is not None and all(t in tables for t in PHOENIX_TABLES)


# --------------------------------------------------------------------------------------------
# Connections
# --------------------------------------------------------------------------------------------


@dataclass
class _Db:
    con: Any
    param: str  # the driver's placeholder
    dialect: str  # sqlite | postgres
    source: str

    def cursor(self, name: str | None = None) -> Any:
        if self.dialect == "postgres" and name:
            return self.con.cursor(name=name)  # server-side: rows come as they are fetched
        return self.con.cursor()

    def close(self) -> None:
        self.con.close()


def _connect(path: Any) -> _Db:
    if is_phoenix_url(path):
        url = str(path).replace("postgresql+psycopg2://", "postgresql://").replace("postgresql+psycopg://", "postgresql://")
        try:
            # a Postgres driver is optional (only Phoenix's Postgres store needs one): imported when a URL is read
            import psycopg  # type: ignore[import-not-found]
        except ImportError:
            psycopg = None
        if psycopg is None:
            try:
                import psycopg2 as psycopg  # type: ignore[import-not-found, no-redef]
            except ImportError:
                raise LoadError("is a Postgres URL: reading Phoenix's Postgres database needs a Postgres driver; install one "
                                "with `pip install 'psycopg[binary]'` (or copy the spans out with Phoenix's export).",
                                source=redact_url(url)) from None
        try:
            con = psycopg.connect(url)
        except Exception as e:  # noqa: BLE001 - each driver has its own error types
            raise LoadError(f"cannot connect to the Postgres database: {e}", source=redact_url(url)) from None
        return _Db(con, "%s", "postgres", redact_url(url))
    con = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    return _Db(con, "?", "sqlite", str(path))


def redact_url(url: str) -> str:
    """The URL without its password."""
    head, sep, rest = url.partition("://")
    if "@" in rest:
        cred, _, host = rest.rpartition("@")
        user = cred.split(":", 1)[0]
        return f"{head}{sep}{user}:***@{host}" if ":" in cred else url
    return url


def _check_schema(db: _Db) -> None:
    if db.dialect == "sqlite":
        cur = db.con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        cur = db.cursor()
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
    tables = {r[0] for r in cur.fetchall()}
    missing = [t for t in PHOENIX_TABLES if t not in tables]
    if missing:
        raise LoadError(f"is not a Phoenix database: it has no {', '.join(missing)} table(s) (tables found: "
                        f"{', '.join(sorted(tables)[:20]) or 'none'}).", source=db.source)


def _projects(db: _Db) -> list[tuple[int, str, int]]:
    """(id, name, spans) of every project."""
    cur = db.cursor()
    cur.execute("SELECT p.id, p.name, COUNT(s.id) FROM projects p LEFT JOIN traces t ON t.project_rowid = p.id "
                "LEFT JOIN spans s ON s.trace_rowid = t.id GROUP BY p.id, p.name ORDER BY p.id")
    return [(int(i), str(n), int(c)) for i, n, c in cur.fetchall()]


# --------------------------------------------------------------------------------------------
# Time range
# --------------------------------------------------------------------------------------------


def _bound(v: Any, name: str, db: _Db) -> Any:
    """A time bound as the database compares it (UTC text in SQLite, an aware datetime for Postgres)."""
    if v is None:
        return None
    try:
        t = pd.Timestamp(v)
    except (ValueError, TypeError):
        raise LoadError(f"`{name}` must be a time such as '2026-03-02T00:00Z', got {v!r}.", source=db.source) from None
    if t is pd.NaT:
        raise LoadError(f"`{name}` must be a time, got {v!r}.", source=db.source)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    if db.dialect == "sqlite":
        return t.strftime("%Y-%m-%d %H:%M:%S.%f")
    return t.to_pydatetime()


def _iso_utc(v: Any) -> Any:
    """A stored time as ISO text with its zone (SQLite keeps naive UTC text)."""
    if v is None:
        return None
    if isinstance(v, str):
        t = v.strip()
        return t if t.endswith(("Z", "+00:00")) or "+" in t[10:] else t + "+00:00"
    if hasattr(v, "isoformat"):
        return v.isoformat() if getattr(v, "tzinfo", None) else v.isoformat() + "+00:00"
    return v


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

_COLUMNS = ("id", "span_id", "parent_id", "name", "span_kind", "start_time", "end_time", "attributes", "events",
            "status_code", "status_message", "trace_id", "project")


def _query(db: _Db, project_id: int | None, start: Any, end: Any) -> tuple[str, list[Any]]:
    p = db.param
    where, params = [], []
    if project_id is not None:
        where.append(f"t.project_rowid = {p}")
        params.append(project_id)
    if start is not None:
        where.append(f"s.start_time >= {p}")
        params.append(start)
    if end is not None:
        where.append(f"s.start_time < {p}")
        params.append(end)
    sql = ("SELECT s.id, s.span_id, s.parent_id, s.name, s.span_kind, s.start_time, s.end_time, s.attributes, s.events, "
           "s.status_code, s.status_message, t.trace_id, pr.name FROM spans s JOIN traces t ON s.trace_rowid = t.id "
           "JOIN projects pr ON t.project_rowid = pr.id" + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY s.trace_rowid, s.start_time, s.id")
    return sql, params


def _annotations(db: _Db, rowids: list[int]) -> dict[int, dict[str, tuple[Any, Any]]]:
    """span rowid -> annotation name -> (label, score), the latest of each name."""
    out: dict[int, dict[str, tuple[Any, Any]]] = {}
    for i in range(0, len(rowids), _IN_CHUNK):
        part = rowids[i:i + _IN_CHUNK]
        marks = ", ".join([db.param] * len(part))
        cur = db.cursor()
        cur.execute(f"SELECT span_rowid, name, label, score FROM span_annotations WHERE span_rowid IN ({marks}) "
                    "ORDER BY updated_at, id", part)
        for rowid, name, label, score in cur.fetchall():
            out.setdefault(int(rowid), {})[str(name)] = (label, score)
    return out


@dataclass
class _OutcomeTally:
    """Labels of the default outcome annotations that are not in their value map."""

    unmapped: Counter = field(default_factory=Counter)
    filled: Counter = field(default_factory=Counter)
    unused: int = 0

    def warnings(self) -> list[str]:
        out = [f"{n} event(s) got `{col}` from the span annotation {ann!r} (the default mapping; map "
               f"annotation.{ann}.label yourself to change it)" for (ann, col), n in sorted(self.filled.items())]
        by: dict[str, list[tuple[str, int]]] = {}
        for (ann, label), n in self.unmapped.items():
            by.setdefault(ann, []).append((label, n))
        for ann, labels in sorted(by.items()):
            shown = ", ".join(f"{lab!r} ({n})" for lab, n in sorted(labels, key=lambda x: -x[1])[:5])
            out.append(f"{sum(n for _, n in labels)} {ann!r} annotation label(s) are not in the default mapping and were left missing: {shown}")
        if self.unused:
            out.append(f"{self.unused} span annotation(s) are on spans that are not inference spans and were not used")
        return out


def _annotation_columns(anns: dict[str, tuple[Any, Any]], skip: frozenset[str], tally: _OutcomeTally) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    for name, (label, score) in anns.items():
        if score is not None:
            cols[f"annotation.{name}"] = float(score)
        if label is not None:
            cols[f"annotation.{name}.label"] = str(label)
    for o in DEFAULT_OUTCOMES:
        if o.column in skip or o.source in skip or o.column in cols or o.annotation not in anns:
            continue
        label = anns[o.annotation][0]
        if label is None:
            continue
        value = o.values.get(str(label).strip().lower())
        if value is None:
            tally.unmapped[(o.annotation, str(label))] += 1
            continue
        cols[o.column] = value
        tally.filled[(o.annotation, o.column)] += 1
    return cols


def _row_span(r: tuple[Any, ...]) -> Any:
    row = dict(zip(_COLUMNS, r))
    attrs = row["attributes"]
    row["attributes"] = json.loads(attrs) if isinstance(attrs, (str, bytes)) else attrs
    events = row["events"]
    row["events"] = json.loads(events) if isinstance(events, (str, bytes)) else events
    row["start_time"], row["end_time"] = _iso_utc(row["start_time"]), _iso_utc(row["end_time"])
    row["context"] = {"span_id": row["span_id"], "trace_id": row["trace_id"]}
    span = phoenix_span(row, int(row["id"]), dialect_for)
    span.resource = {"phoenix.project": row["project"]}
    return span


def phoenix_db_batches(path: Any, *, project: str | None = None, start: Any = None, end: Any = None,
                       batch_spans: int = DEFAULT_BATCH_SPANS, skip_outcomes: frozenset[str] = frozenset()) -> Iterator[SpanBatch]:
    """Span batches of a Phoenix database: ``project`` (None: every project), spans starting in ``[start, end)``.

    ``row`` of a rejected record is the span's ``id`` in the ``spans`` table. ``skip_outcomes``: the
    columns and annotation sources the user's mapping names (their defaults are not applied).

    Raises
    ------
    LoadError
        Not a Phoenix database (naming the tables found); no project of that name (listing the
        projects and their spans); a Postgres URL without a driver installed.
    """
    db = _connect(path)
    try:
        _check_schema(db)
        projects = _projects(db)
        project_id = None
        if project is not None:
            ids = [i for i, n, _ in projects if n == project]
            if not ids:
                listed = ", ".join(f"{n!r} ({c} spans)" for _, n, c in projects) or "none"
                raise LoadError(f"has no Phoenix project named {project!r}; projects present: {listed}.", source=db.source)
            project_id = ids[0]
        lo, hi = _bound(start, "start", db), _bound(end, "end", db)
        if lo is not None and hi is not None and lo >= hi:
            raise LoadError(f"`start` ({start}) must be before `end` ({end}).", source=db.source)
        sql, params = _query(db, project_id, lo, hi)
        what = f"project {project!r}" if project is not None else (
            "every project (" + ", ".join(f"{n!r}: {c} spans" for _, n, c in projects if c) + "); give `project` to read one")
        rng = "" if lo is None and hi is None else f", spans starting in [{start or '...'}, {end or '...'})"
        yield SpanBatch(warnings=[f"Phoenix database: {what}{rng}"])
        cur = db.cursor("phoenix_spans")
        cur.execute(sql, params)
        outcomes = _OutcomeTally()
        while rows := cur.fetchmany(batch_spans):
            spans = [_row_span(r) for r in rows]
            anns = _annotations(db, [s.row for s in spans])
            extra: dict[str, dict[str, Any]] = {}
            for s in spans:
                a = anns.get(s.row)
                if not a:
                    continue
                if s.dialect.role(s) != "inference":
                    outcomes.unused += len(a)
                    continue
                extra[str(s.span_id)] = _annotation_columns(a, skip_outcomes, outcomes)
            yield SpanBatch(spans, extra=extra)
        yield SpanBatch(warnings=outcomes.warnings())
    finally:
        db.close()
