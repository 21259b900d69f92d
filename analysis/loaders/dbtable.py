"""A table in a database, read in chunks as Arrow record batches.

``--events`` (and :func:`~analysis.loaders.load_events`) takes ``sqlite:///file.db?table=T``,
``duckdb:///file.duckdb?table=T`` and ``postgresql://user@host:port/db?table=T`` (``sqlite:///x.db``
is the relative path ``x.db``, ``sqlite:////abs/x.db`` an absolute one). A SQLite or DuckDB file
holding one table (say ``df.to_sql("traces", con)``) is read without a URL. The table's rows are
handed, as Arrow batches, to the reader a Parquet file of the same columns goes to
(:mod:`.frames`): a canonical events table, a Phoenix spans dataframe, a LangSmith runs frame.

DuckDB files are read with DuckDB itself. DuckDB's ``sqlite`` and ``postgres`` scanners are
extensions downloaded at first use, which is not possible offline, so SQLite is read with Python's
``sqlite3`` and Postgres with ``psycopg`` (when installed), ``fetchmany`` a chunk at a time. Values
that SQLite holds as bytes are read as UTF-8 text; bytes that are not text (what pandas' ``to_sql``
stores for a column of lists or dicts: the array's raw memory) are read as missing and counted in a
warning that names the column.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import duckdb
import pyarrow as pa

from ..engine.query import quote_ident
from .mlflow_spans import is_mlflow_tables
from .phoenix_db import PHOENIX_TABLES, sqlite_tables
from .result import LoadError

__all__ = ["TableRef", "DbTable", "is_table_url", "is_db_url", "table_ref", "open_table", "DB_KINDS"]

#: URL schemes -> the database kind.
DB_KINDS = {"sqlite": "sqlite", "duckdb": "duckdb", "postgres": "postgres", "postgresql": "postgres",
            "postgresql+psycopg": "postgres", "postgresql+psycopg2": "postgres"}
_SQLITE_MAGIC = b"SQLite format 3\x00"
_DUCKDB_MAGIC = b"DUCK"  # at byte 8 of a DuckDB file
_SQLITE_INTERNAL = ("sqlite_sequence", "sqlite_stat1", "sqlite_stat2", "sqlite_stat3", "sqlite_stat4")
_PG_DRIVER = "pip install 'psycopg[binary]'"


@dataclass(frozen=True)
class TableRef:
    """Where a table lies.

    Attributes
    ----------
    kind
        ``sqlite``, ``duckdb`` or ``postgres``.
    location
        The database file, or the Postgres connection URL without the ``table`` parameter.
    table
        The table (or view) name; ``None`` for a file read without a URL (its lone table).
    label
        How errors and the load report name it: the URL as given (password hidden) or the path.
    """

    kind: str
    location: str
    table: str | None
    label: str


def _scheme(text: str) -> str | None:
    head, sep, _ = text.partition("://")
    return head.lower() if sep and head.lower() in DB_KINDS else None


def is_table_url(path: Any) -> bool:
    """True for ``sqlite://``/``duckdb://`` URLs and ``postgresql://`` URLs naming a ``table``."""
    if not isinstance(path, str):
        return False
    kind = DB_KINDS.get(_scheme(path) or "")
    if kind in ("sqlite", "duckdb"):
        return True
    return kind == "postgres" and any(k == "table" for k, _ in parse_qsl(urlsplit(path).query))


def is_db_url(path: Any) -> bool:
    """True for any database URL: a table's, or Phoenix's Postgres database (not a file path)."""
    return isinstance(path, str) and _scheme(path) is not None


def _redact(url: str) -> str:
    head, sep, rest = url.partition("://")
    cred, at, host = rest.rpartition("@")
    if at and ":" in cred:
        return f"{head}{sep}{cred.split(':', 1)[0]}:***@{host}"
    return url


def parse_table_url(text: str) -> TableRef:
    """The :class:`TableRef` of a database URL (see the module docstring)."""
    kind = DB_KINDS[_scheme(text) or ""]
    parts = urlsplit(text)
    query = parse_qsl(parts.query, keep_blank_values=True)
    tables = [v for k, v in query if k == "table"]
    table = tables[-1].strip() if tables else None
    if tables and not table:
        raise LoadError("names an empty table (`?table=`): give the table to read, e.g. ?table=traces.", source=_redact(text))
    if kind == "postgres":
        rest = urlencode([(k, v) for k, v in query if k != "table"])
        url = urlunsplit(("postgresql", parts.netloc, parts.path, rest, ""))
        return TableRef(kind, url, table, _redact(text))
    path = unquote(text.partition("://")[2].split("?", 1)[0])
    if path.startswith("/") and not path.startswith("//"):
        path = path[1:]  # sqlite:///rel.db -> rel.db (SQLAlchemy's rule); sqlite:////abs.db -> /abs.db
    elif path.startswith("//"):
        path = path[1:]
    if not path:
        raise LoadError(f"names no database file: write {kind}:///path/to/file?table=NAME.", source=text)
    return TableRef(kind, path, table, text)


def _file_kind(p: Path) -> str | None:
    try:
        with open(p, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if head == _SQLITE_MAGIC:
        return "sqlite"
    return "duckdb" if head[8:12] == _DUCKDB_MAGIC else None


def table_ref(path: Any) -> TableRef | None:
    """The table a URL names, or the lone table of a SQLite or DuckDB file; ``None`` otherwise.

    A SQLite file holding Phoenix's own tables is not a table (it is read by :mod:`.phoenix_db`), nor
    is MLflow's tracking store (:mod:`.mlflow_store`).
    """
    if is_table_url(path):
        return parse_table_url(str(path))
    if isinstance(path, str) and _scheme(path):
        return None  # a Postgres URL without a table: Phoenix's database
    p = Path(path)
    if not p.is_file():
        return None
    kind = _file_kind(p)
    if kind is None:
        return None
    if kind == "sqlite":
        tables = sqlite_tables(p) or []
        if all(t in tables for t in PHOENIX_TABLES) or is_mlflow_tables(tables):
            return None
    return TableRef(kind, str(p), None, str(p))


# --------------------------------------------------------------------------------------------
# An open table
# --------------------------------------------------------------------------------------------


@dataclass
class DbTable:
    """An open table: its name, its columns, and its rows as Arrow batches (:meth:`batches`)."""

    ref: TableRef
    con: Any
    table: str
    columns: list[str]
    binary: Counter = field(default_factory=Counter)  # column -> values that were bytes, not text

    @property
    def source(self) -> str:
        return self.ref.label if self.ref.table is not None else f"{self.ref.label} (table {self.table!r})"

    def batches(self, chunksize: int) -> Iterator[pa.RecordBatch]:
        """The rows, ``chunksize`` at a time, in the database's order."""
        if self.ref.kind == "duckdb":
            reader = self.con.sql(f"SELECT * FROM {_qualified(self.table)}").to_arrow_reader(chunksize)
            yield from reader
            return
        cur = self.con.cursor(name="forensics_table") if self.ref.kind == "postgres" else self.con.cursor()
        cur.execute(f"SELECT * FROM {_qualified(self.table)}")
        while rows := cur.fetchmany(chunksize):
            yield _arrow_batch(rows, self.columns, self)

    def warnings(self) -> list[str]:
        """What the reader replaced: binary values read as missing."""
        return [f"column {c!r} of table {self.table!r}: {n} value(s) are binary data, not text, and were read as missing "
                "(pandas' to_sql stores a column of lists or dicts as raw memory: store such columns as JSON text)"
                for c, n in sorted(self.binary.items())]

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> DbTable:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _qualified(table: str) -> str:
    """``schema.table`` (a dot splits the schema off) or ``table``, quoted."""
    if "." in table and not table.startswith('"'):
        schema, _, name = table.partition(".")
        return f"{quote_ident(schema)}.{quote_ident(name)}"
    return quote_ident(table)


def _text_or_none(v: bytes, column: str, t: DbTable) -> str | None:
    if not v:
        return None
    try:
        s = bytes(v).decode("utf-8")
    except UnicodeDecodeError:
        s = None
    if s is None or any(ord(ch) < 32 and ch not in "\t\n\r" for ch in s):
        t.binary[column] += 1
        return None
    return s


def _arrow_column(values: list[Any], column: str, t: DbTable) -> pa.Array:
    """One column of Python values as Arrow: inferred; mixed types as text."""
    if any(isinstance(v, (bytes, bytearray, memoryview)) for v in values):
        values = [_text_or_none(v, column, t) if isinstance(v, (bytes, bytearray, memoryview)) else v for v in values]
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        import json  # values of several types (SQLite columns take any): as text

        return pa.array([None if v is None else v if isinstance(v, str) else json.dumps(v, default=str)
                         if isinstance(v, (dict, list)) else str(v) for v in values], pa.string())


def _arrow_batch(rows: list[tuple[Any, ...]], columns: list[str], t: DbTable) -> pa.RecordBatch:
    cols = list(zip(*rows)) if rows else [[] for _ in columns]
    return pa.RecordBatch.from_arrays([_arrow_column(list(c), name, t) for c, name in zip(cols, columns)], names=columns)


# --------------------------------------------------------------------------------------------
# Connecting
# --------------------------------------------------------------------------------------------


def _connect(ref: TableRef) -> Any:
    if ref.kind == "postgres":
        try:
            # an optional driver (the `postgres` extra): imported when a Postgres URL is read
            import psycopg  # type: ignore[import-not-found]
        except ImportError:
            raise LoadError(f"is a Postgres URL: reading a table from Postgres needs a Postgres driver: {_PG_DRIVER}.",
                            source=ref.label) from None
        try:
            return psycopg.connect(ref.location)
        except Exception as e:  # noqa: BLE001 - the driver's own error types
            raise LoadError(f"cannot connect to the Postgres database: {e}", source=ref.label) from None
    p = Path(ref.location).expanduser()
    if not p.is_file():
        raise LoadError(f"database file not found: {p}.", source=ref.label)
    if _file_kind(p) != ref.kind:
        raise LoadError(f"is not a {'SQLite' if ref.kind == 'sqlite' else 'DuckDB'} database file.", source=ref.label)
    try:
        if ref.kind == "sqlite":
            return sqlite3.connect(f"file:{p.resolve()}?mode=ro", uri=True)
        return duckdb.connect(str(p), read_only=True)
    except (sqlite3.Error, duckdb.Error) as e:
        raise LoadError(f"cannot open the database: {e}", source=ref.label) from None


def _tables(con: Any, kind: str) -> list[str]:
    if kind == "sqlite":
        rows = con.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name").fetchall()
        return [r[0] for r in rows if r[0] not in _SQLITE_INTERNAL]
    if kind == "duckdb":
        rows = con.execute("SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2").fetchall()
        return [n if s == "main" else f"{s}.{n}" for s, n in rows]
    cur = con.cursor()
    cur.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN "
                "('pg_catalog', 'information_schema') ORDER BY 1, 2")
    return [n if s == "public" else f"{s}.{n}" for s, n in cur.fetchall()]


def _columns(con: Any, kind: str, table: str) -> list[str]:
    sql = f"SELECT * FROM {_qualified(table)} LIMIT 0"
    if kind == "duckdb":
        return [d[0] for d in con.execute(sql).description]
    cur = con.cursor()
    cur.execute(sql)
    return [d[0] for d in cur.description]


def _pick_table(ref: TableRef, tables: list[str]) -> str:
    listed = ", ".join(repr(t) for t in tables[:30]) or "none"
    if ref.table is not None:
        if ref.table in tables:
            return ref.table
        raise LoadError(f"has no table {ref.table!r}; tables present: {listed}.", source=ref.label)
    if len(tables) == 1:
        return tables[0]
    hint = f"name one: {ref.kind}:///{Path(ref.location).resolve()}?table=NAME"
    raise LoadError(f"is a {ref.kind} database holding {len(tables)} tables ({listed}) and is not a Phoenix database; {hint}.",
                    source=ref.label)


def open_table(ref: TableRef) -> DbTable:
    """Open the table of ``ref`` (its lone table when it names none).

    Raises
    ------
    LoadError
        A missing file, a file of another kind, no Postgres driver, a connection refused, a table
        that is not there (listing the tables present), several tables and none named.
    """
    con = _connect(ref)
    try:
        table = _pick_table(ref, _tables(con, ref.kind))
        return DbTable(ref, con, table, _columns(con, ref.kind, table))
    except BaseException:
        con.close()
        raise
