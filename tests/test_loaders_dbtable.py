"""Tables in a database (``sqlite:///``, ``duckdb:///``, ``postgresql://...?table=``, a lone table in a
file): written here by pandas' ``to_sql`` and DuckDB from the committed fixtures, and read by the
same readers as the fixtures' own Parquet files."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from analysis.loaders import LoadError, load_events, open_events
from analysis.loaders.convert import convert_events
from analysis.loaders.detect import detect_format
from analysis.params import resolve_db_url

FIX = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[1]
PHOENIX = FIX / "phoenix_spans.parquet"  # 40 spans, 8 of them LLM spans
LANGSMITH = FIX / "langsmith_runs.parquet"  # 40 runs, 12 of them llm runs
NESTED = ["events", "attributes.retrieval.documents", "attributes.llm.input_messages", "attributes.llm.output_messages"]


def _json_text(v: object) -> object:
    """A nested value as JSON text (how a list column survives ``to_sql``)."""
    if v is None or isinstance(v, float):
        return None
    return json.dumps(np.asarray(v).tolist() if isinstance(v, np.ndarray) else v)


def _to_sqlite(df: pd.DataFrame, path: Path, table: str, **kw: object) -> Path:
    con = sqlite3.connect(path)
    try:
        df.to_sql(table, con, **kw)
    finally:
        con.close()
    return path


def _phoenix_sqlite(tmp_path: Path) -> Path:
    df = pd.read_parquet(PHOENIX)
    for c in NESTED:
        df[c] = df[c].map(_json_text)
    return _to_sqlite(df, tmp_path / "spans.db", "traces")


def test_a_phoenix_dataframe_in_sqlite_gives_the_events_of_the_same_dataframe_as_parquet(tmp_path: Path) -> None:
    db = _phoenix_sqlite(tmp_path)
    url = f"sqlite:///{db}?table=traces"
    assert detect_format(url) == "phoenix"
    want, got = load_events(PHOENIX), load_events(url)
    assert got.rows_read == got.rows_loaded == 16 and len(got.rejected) == 0
    assert got.spans_by_kind == want.spans_by_kind
    # SQLite has no boolean type: to_sql stores True/False as 1/0, which the span attribute keeps
    pd.testing.assert_series_equal(got.frame["guardrail.refused"], want.frame["guardrail.refused"].astype(float))
    pd.testing.assert_frame_equal(got.frame.drop(columns="guardrail.refused"), want.frame.drop(columns="guardrail.refused"))


def test_a_phoenix_dataframe_in_duckdb_gives_exactly_the_events_of_its_parquet_file(tmp_path: Path) -> None:
    df = pd.read_parquet(PHOENIX)  # noqa: F841 - read by DuckDB's replacement scan below
    db = tmp_path / "spans.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE spans AS SELECT * FROM df")
    got = load_events(f"duckdb:///{db}?table=spans")
    pd.testing.assert_frame_equal(got.frame, load_events(PHOENIX).frame)
    assert detect_format(db) == "phoenix"  # its lone table, without a URL


def test_a_lone_table_of_plain_to_sql_is_detected_and_its_binary_columns_named(tmp_path: Path) -> None:
    # df.to_sql of Phoenix's dataframe as it is: the list columns become raw memory (bytes)
    db = _to_sqlite(pd.read_parquet(PHOENIX), tmp_path / "traces.db", "traces")
    assert detect_format(db) == "phoenix"
    res = load_events(db)
    assert res.rows_read == res.rows_loaded == 16  # 8 chat calls and their 8 query embeddings
    assert res.frame["model_version"].notna().all()
    named = [w for w in res.warnings if "binary data, not text" in w]
    assert len(named) == 3 and all("of table 'traces'" in w for w in named)
    assert {w.split("'")[1] for w in named} == {"attributes.llm.input_messages", "attributes.llm.output_messages",
                                                "attributes.retrieval.documents"}
    assert res.frame["retrieval_scores"].isna().all()  # the documents were lost by to_sql, not invented


def _events_table() -> pd.DataFrame:
    return pd.DataFrame({
        "event_id": ["e1", "e2", "e3", "e4", "e5", "e6"],
        "ts": ["2026-03-01T10:00:00Z", "2026-03-01T10:01:00Z", "2026-03-01T10:02:00+01:00", "not a time",
               "2026-03-01T10:04:00Z", "2026-03-01T10:05:00Z"],
        "model_version": ["m-1", "m-1", "m-2", "m-2", "m-2", None],
        "refused": [0, 1, 0, 1, None, 0],
        "latency_ms": [120.0, 80.5, 99.0, 10.0, 300.0, 42.0],
    })


def test_a_canonical_events_table_is_read_in_chunks_and_accounted(tmp_path: Path) -> None:
    db = _to_sqlite(_events_table(), tmp_path / "events.db", "events", index=False)
    url = f"sqlite:///{db}?table=events"
    assert detect_format(url) == "table"
    res = load_events(url, chunksize=2)
    assert (res.rows_read, res.rows_loaded, len(res.rejected)) == (6, 5, 1)
    assert res.rejected["row"].tolist() == [4] and "ts" in res.rejected["reason"].iloc[0]
    f = res.frame.set_index("event_id")
    assert f.loc["e3", "ts"] == pd.Timestamp("2026-03-01T09:02:00Z")
    # SQLite keeps booleans as integers: 0/1 are read as the canonical bool column
    assert str(f["refused"].dtype) == "boolean"
    assert f["refused"].astype(object).where(f["refused"].notna(), None).tolist() == [False, True, False, None, False]
    assert f.loc["e2", "latency_ms"] == 80.5
    pd.testing.assert_frame_equal(load_events(url, chunksize=100).frame, res.frame)


def test_a_duckdb_events_table_and_a_relative_sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ev = _events_table().drop(index=3)  # noqa: F841 - read by DuckDB's replacement scan
    db = tmp_path / "store.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE llm_events AS SELECT * FROM ev")
        con.execute("CREATE TABLE other AS SELECT 1 AS x")
    res = load_events(f"duckdb:///{db}?table=llm_events")
    assert res.rows_read == res.rows_loaded == 5 and res.format == "table"
    _to_sqlite(_events_table(), tmp_path / "rel.db", "events", index=False)
    monkeypatch.chdir(tmp_path)
    assert load_events("sqlite:///rel.db?table=events").rows_read == 6  # sqlite:///rel.db is relative
    assert resolve_db_url("sqlite:///rel.db?table=events") == f"sqlite:///{(tmp_path / 'rel.db').resolve()}?table=events"


def test_a_missing_table_lists_the_tables_present(tmp_path: Path) -> None:
    db = _to_sqlite(_events_table(), tmp_path / "events.db", "events", index=False)
    with pytest.raises(LoadError, match=r"events.db\?table=evnts: has no table 'evnts'; tables present: 'events'"):
        load_events(f"sqlite:///{db}?table=evnts")


def test_a_file_of_several_tables_asks_for_one(tmp_path: Path) -> None:
    db = _to_sqlite(_events_table(), tmp_path / "two.db", "events", index=False)
    _to_sqlite(_events_table(), db, "events_copy", index=False)
    with pytest.raises(LoadError, match=r"holding 2 tables \('events', 'events_copy'\).*name one: sqlite:///.*two.db\?table=NAME"):
        load_events(db)


def test_a_table_of_no_known_columns_names_them(tmp_path: Path) -> None:
    db = _to_sqlite(pd.DataFrame({"order": [1], "total": [2.5]}), tmp_path / "orders.db", "orders", index=False)
    with pytest.raises(LoadError, match=r"orders.db\?table=orders: matches no supported format: it is a table with columns "
                                        r"'order', 'total'"):
        load_events(f"sqlite:///{db}?table=orders")


def test_a_postgres_table_without_a_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    with pytest.raises(LoadError, match=r"postgresql://forensics:\*\*\*@127.0.0.1:5432/traces\?table=spans: .*needs a Postgres "
                                        r"driver: pip install 'psycopg\[binary\]'"):
        load_events("postgresql://forensics:secret@127.0.0.1:5432/traces?table=spans")


def test_langsmith_runs_in_sqlite_give_the_events_of_the_parquet_export(tmp_path: Path) -> None:
    df = pd.read_parquet(LANGSMITH)
    df["tags"] = df["tags"].map(_json_text)
    db = _to_sqlite(df, tmp_path / "runs.db", "runs", index=False)
    got = load_events(db)
    assert got.format == "langsmith" and got.rows_read == got.rows_loaded == 12
    pd.testing.assert_frame_equal(got.frame, load_events(LANGSMITH).frame, check_dtype=False)


def test_open_events_and_convert_stream_a_table(tmp_path: Path) -> None:
    db = _phoenix_sqlite(tmp_path)
    url = f"sqlite:///{db}?table=traces"
    src = open_events(url)
    try:
        assert (src.rows_read, src.rows_loaded, src.format) == (16, 16, "phoenix")  # 8 chat calls, 8 embeddings
        assert src.sha256 == hashlib.sha256(db.read_bytes()).hexdigest()  # the database file's
    finally:
        src.close()
    res = convert_events(url, tmp_path / "out.parquet", chunksize=3)
    assert (res.rows_read, res.rows_written, res.rows_rejected) == (16, 16, 0)


def test_the_convert_command_reads_a_table_url(tmp_path: Path) -> None:
    db = _phoenix_sqlite(tmp_path)
    out = tmp_path / "events.parquet"
    proc = subprocess.run([sys.executable, "-m", "analysis", "convert", "--events", f"sqlite:///{db}?table=traces", "--out", str(out),
                           "--no-derive"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"sqlite:///{db}?table=traces (phoenix): 16 rows read, 16 written" in proc.stdout
    assert pq.ParquetFile(out).metadata.num_rows == 16


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url(postgres):
    """A fresh database on the session's Postgres server (Debian's package, 127.0.0.1; skipped without
    one, a failure under FORENSICS_REQUIRE_POSTGRES)."""
    psycopg = pytest.importorskip("psycopg")
    return postgres.createdb("dbtable"), psycopg


def test_langsmith_runs_in_a_postgres_table(postgres_url) -> None:
    url, psycopg = postgres_url
    df = pd.read_parquet(LANGSMITH)
    types = {"inputs": "jsonb", "outputs": "jsonb", "extra": "jsonb", "feedback_stats": "jsonb", "tags": "text[]"}
    cols = ", ".join(f'"{c}" ' + types.get(c, "timestamptz" if c.endswith("_time") else "bigint" if c.endswith("_tokens") else "text")
                     for c in df.columns)
    rows = [[None if v is None or v is pd.NaT or (isinstance(v, float) and np.isnan(v)) else list(v) if isinstance(v, np.ndarray)
             else int(v) if isinstance(v, float) else v for v in r.values()] for r in df.to_dict("records")]
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"CREATE TABLE runs ({cols})")
        with con.cursor() as cur:
            cur.executemany(f"INSERT INTO runs VALUES ({', '.join(['%s'] * len(df.columns))})", rows)
    res = load_events(f"{url}?table=runs", chunksize=7)
    assert res.format == "langsmith" and res.rows_read == res.rows_loaded == 12
    want = load_events(LANGSMITH).frame.sort_values("event_id").reset_index(drop=True)
    got = res.frame.sort_values("event_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got[want.columns], want, check_dtype=False)
    with pytest.raises(LoadError, match=r"\?table=nope: has no table 'nope'; tables present: 'runs'"):
        load_events(f"{url}?table=nope")
