"""The engine (the narrow waist): DuckDB and Spark answer its queries the same way as the numpy
reference implementation (tests/reference.py, a second engine) and as each other."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import reference  # tests/ is on sys.path (rootdir-relative imports)
from _require import skip_or_fail
from analysis import loaders
from analysis.engine import DuckDBEngine, QueryLimitError, SourceError, Where, open_engine
from analysis.engine.spark import spark_available, to_spark_sql

ROOT = Path(__file__).resolve().parents[1]
REFUSAL = ROOT / "sample_data" / "refusal_regression" / "events.parquet"
RETRIEVAL = ROOT / "sample_data" / "retrieval_degradation" / "events.parquet"


def spark_or_skip():
    ok, why = spark_available()
    skip_or_fail("FORENSICS_REQUIRE_SPARK", "Spark", None if ok else why)


@pytest.fixture(scope="module")
def refusal_frame() -> pd.DataFrame:
    return loaders.load_events(REFUSAL).frame


def _same_table(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> None:
    A = a.sort_values(keys).reset_index(drop=True)
    B = b.sort_values(keys).reset_index(drop=True)
    assert list(A.columns) == list(B.columns)
    assert len(A) == len(B)
    for k in keys:
        assert (A[k].astype(str) == B[k].astype(str)).all(), k
    for c in A.columns:
        if c in keys:
            continue
        # float sums are added in another order: equal to 1e-9 relative
        np.testing.assert_allclose(A[c].astype(float), B[c].astype(float), rtol=1e-9, atol=1e-9, err_msg=c)


KEYS = ["window_start", "segment_column", "segment"]


@pytest.mark.parametrize("window", ["1h", "6h", "1D"])
def test_duckdb_window_aggregates_equal_the_numpy_reference(refusal_frame, window):
    metrics = {"refused": "rate", "confidence": "mean", "latency_ms": "mean"}
    ref = reference.aggregate(refusal_frame, window=window, segment_by=("risk_category", "framing"), metrics=metrics, sample_size=7, seed=3)
    with open_engine(REFUSAL) as eng:
        got = eng.window_aggregates(window=window, segment_by=["risk_category", "framing"], metrics=metrics, sample_size=7, seed=3)
    _same_table(got.table, ref.table, KEYS)
    assert got.n_events == ref.n_events == len(refusal_frame)
    assert got.start == ref.start and got.end == ref.end and list(got.windows) == list(ref.windows)
    # the samples are a bottom-k of a hash: same sizes per group as the reference (other hash)
    size = lambda s: s.groupby(["window_start", "segment_column", "segment", "column"]).size().sort_index()  # noqa: E731
    pd.testing.assert_series_equal(size(got.samples), size(ref.samples))


def test_a_pair_of_segment_columns_equals_a_pandas_group_by(refusal_frame):
    from analysis.engine.query import split_pair

    with open_engine(REFUSAL) as eng:
        got = eng.window_aggregates(window="6h", segment_by=["framing", ("query_category", "framing")], metrics={"refused": "rate"})
    assert got.segment_by == ("framing", "query_category & framing")
    pair = got.table[got.table["segment_column"] == "query_category & framing"]
    # the reference: pandas groups the raw rows by the 6 h bucket and both columns
    f = refusal_frame.assign(window_start=refusal_frame["ts"].dt.floor("6h"), refused=refusal_frame["refused"].fillna(False).astype(bool),
                             query_category=refusal_frame["query_category"].astype(object).fillna("__missing__"),
                             framing=refusal_frame["framing"].astype(object).fillna("__missing__"))
    ref = f.groupby(["window_start", "query_category", "framing"], observed=True)["refused"].agg(["size", "sum"]).reset_index()
    cells = pair[pair["n"] > 0].copy()
    cells[["query_category", "framing"]] = [list(split_pair("query_category & framing", v).values()) for v in cells["segment"]]
    m = cells.merge(ref, on=["window_start", "query_category", "framing"], how="outer", indicator=True)
    assert (m["_merge"] == "both").all() and len(m) == len(ref)
    assert (m["n"] == m["size"]).all() and (m["refused__sum"] == m["sum"]).all()
    # every window for every joint value seen (n = 0 when empty), as for one column
    assert pair.groupby("segment").size().nunique() == 1 and len(pair) == pair["segment"].nunique() * len(got.windows)
    with pytest.raises(ValueError, match="one value per column"):
        split_pair("a & b", "x")


def test_in_memory_table_and_bounds_and_filter(refusal_frame):
    start, end = pd.Timestamp("2026-01-20T00:00Z"), pd.Timestamp("2026-01-25T00:00Z")
    sub = refusal_frame[(refusal_frame["risk_category"] == "high").fillna(False).to_numpy()]
    ref = reference.aggregate(sub, window="2h", segment_by=("framing",), metrics={"refused": "rate"}, sample_size=0, start=start, end=end)
    with open_engine(refusal_frame) as eng:
        got = eng.window_aggregates(window="2h", segment_by=["framing"], metrics={"refused": "rate"}, start=start, end=end,
                                    where=Where.of(conditions={"risk_category": ["high"]}))
    _same_table(got.table, ref.table, KEYS)


def test_derived_metric_expression_counts_by_hand():
    ts = pd.to_datetime(["2026-01-01T00:10Z", "2026-01-01T00:20Z", "2026-01-01T01:05Z", "2026-01-01T01:50Z"], utc=True)
    ev = pd.DataFrame({"event_id": ["a", "b", "c", "d"], "ts": ts, "refused": pd.array([True, False, None, False], dtype="boolean"),
                       "seg": ["x", None, "x", "y"]})
    with open_engine(ev) as eng:
        agg = eng.window_aggregates(window="1h", segment_by=["seg"], metrics={"fail": ("rate", "NOT refused")})
    t = agg.table.set_index(["window_start", "segment_column", "segment"])
    h0, h1 = pd.Timestamp("2026-01-01T00:00Z"), pd.Timestamp("2026-01-01T01:00Z")
    # hand-worked: hour 0 has a (refused) and b (not refused); hour 1 has c (unlabelled) and d (not refused)
    assert t.loc[(h0, "__all__", "__all__"), ["n", "fail__n", "fail__sum"]].tolist() == [2, 2, 1]
    assert t.loc[(h1, "__all__", "__all__"), ["n", "fail__n", "fail__sum"]].tolist() == [2, 1, 1]
    assert t.loc[(h0, "seg", "__missing__"), ["n", "fail__sum"]].tolist() == [1, 1]
    assert t.loc[(h1, "seg", "y"), ["n", "fail__sum"]].tolist() == [1, 1]
    assert t.loc[(h0, "seg", "y"), "n"] == 0  # the grid keeps empty windows


def test_glob_and_hive_folder_read_the_same_rows(tmp_path, refusal_frame):
    table = pq.read_table(REFUSAL)
    days = refusal_frame["ts"].dt.strftime("%Y-%m-%d").to_numpy()
    hive = tmp_path / "hive"
    for d in sorted(set(days)):
        part = hive / f"day={d}"
        part.mkdir(parents=True)
        pq.write_table(table.filter(pa.array(days == d)), part / "part-0.parquet")
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, d in enumerate(sorted(set(days))):
        pq.write_table(table.filter(pa.array(days == d)), flat / f"events-{i:03d}.parquet")
    kw = dict(window="1h", segment_by=["framing"], metrics={"refused": "rate"})
    with open_engine(REFUSAL) as one, open_engine(hive) as h, open_engine(str(flat / "*.parquet")) as g:
        base = one.window_aggregates(**kw).table
        _same_table(h.window_aggregates(**kw).table, base, KEYS)
        _same_table(g.window_aggregates(**kw).table, base, KEYS)
        assert h.source.hive and "day" in h.columns


def test_value_counts_versions_totals_rows(tmp_path, refusal_frame):
    with open_engine(REFUSAL) as eng:
        vc = eng.value_counts(["model_version"])
        ref = refusal_frame["model_version"].value_counts()
        assert dict(zip(vc["value"], vc["n"])) == ref.to_dict()
        ver = eng.versions(["model_version"]).table.set_index("value")
        v2 = refusal_frame.loc[refusal_frame["model_version"] == "medtriage-v2", "ts"]
        assert ver.loc["medtriage-v2", "first_seen"] == v2.min() and ver.loc["medtriage-v2", "last_seen"] == v2.max()
        tot = eng.totals(by=["risk_category"], metrics={"fail": ("rate", "NOT refused")}).set_index("risk_category")
        hi = refusal_frame[refusal_frame["risk_category"] == "high"]
        assert tot.loc["high", "n"] == len(hi)
        assert tot.loc["high", "fail__sum"] == int((~hi["refused"].dropna()).sum())
        where = Where.of(conditions={"risk_category": ["high"]}, expr="NOT refused")
        r = eng.rows(where=where, columns=["event_id", "ts", "framing"], path=tmp_path / "rows.parquet", limit=5)
        written = pd.read_parquet(tmp_path / "rows.parquet")
        assert r.n == len(written) == int((~hi["refused"].dropna()).sum())
        assert len(r.head) == 5 and written["ts"].is_monotonic_increasing


def test_a_query_over_the_limit_is_refused():
    with open_engine(REFUSAL, max_result_rows=100) as eng:
        assert eng.count() > 100
        with pytest.raises(QueryLimitError, match="over the limit of 100"):
            eng.sql("SELECT event_id FROM events")


def test_memory_limit_and_threads_are_set():
    with DuckDBEngine(REFUSAL, memory_limit="256MB", threads=2) as eng:
        lim = eng.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        assert lim.replace(" ", "").lower() in ("256.0mib", "244.1mib", "256mb", "244mib", "244.1mb")
        assert eng.con.execute("SELECT current_setting('threads')").fetchone()[0] == 2


def test_bad_sources_name_the_path(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        open_engine(tmp_path / "nope.parquet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="holds no Parquet"):
        open_engine(tmp_path / "empty")
    with pytest.raises(SourceError, match="matches no file"):
        open_engine(str(tmp_path / "*.parquet"))
    with pytest.raises(ValueError, match="`engine` must be one of"):
        open_engine(REFUSAL, engine="bigquery")


def test_retrieval_columns_are_derived_in_the_view(tmp_path):
    ts = pd.to_datetime(["2026-01-01T00:10Z", "2026-01-01T00:20Z"], utc=True)
    t = pa.table({"event_id": ["a", "b"], "ts": pa.array(ts, pa.timestamp("us", "UTC")),
                  "retrieval_scores": pa.array([[0.9, 0.5], [0.4]], pa.list_(pa.float64()))})
    with open_engine(t) as eng:
        tot = eng.totals(metrics={"retrieval_top1_score": "mean", "retrieval_mean_score": "mean"})
    assert tot["retrieval_top1_score__sum"].iat[0] == pytest.approx(1.3)
    assert tot["retrieval_mean_score__sum"].iat[0] == pytest.approx(0.7 + 0.4)


def test_spark_sql_is_transpiled_portably():
    sql = to_spark_sql("SELECT CAST(FLOOR((EPOCH_US(ts) - 0) / 3600000000) AS BIGINT) AS w, CAST(x AS VARCHAR) FROM events")
    assert "UNIX_MICROS(ts)" in sql and "STRING" in sql and "EPOCH_US" not in sql


@pytest.mark.slow
def test_spark_answers_like_duckdb(tmp_path):
    spark_or_skip()
    kw_list = [
        dict(window="1h", segment_by=["risk_category", "framing"], metrics={"refused": "rate", "confidence": "mean",
                                                                             "fail": ("rate", "NOT refused")}, sample_size=5, seed=1),
        dict(window="6h", segment_by=[("query_category", "framing")], metrics={"refused": "rate"}),
        dict(window="6h", segment_by=["framing"], metrics={"refused": "rate"}, version="model_version",
             where=Where.of("2026-01-18T00:00Z", conditions={"risk_category": ["high"]})),
    ]
    with open_engine(REFUSAL) as d, open_engine(REFUSAL, engine="spark") as s:
        assert s.profile().rows == d.profile().rows and s.profile().ts_min == d.profile().ts_min
        for kw in kw_list:
            a, b = d.window_aggregates(**kw), s.window_aggregates(**kw)
            keys = [*KEYS, *(["version"] if "version" in kw else [])]
            _same_table(b.table, a.table, keys)
            # the same sampled rows on both engines (md5 of event_id and the seed)
            pd.testing.assert_frame_equal(a.samples, b.samples)
        pd.testing.assert_frame_equal(d.value_counts(["model_version", "framing"]), s.value_counts(["model_version", "framing"]))
        tb = ["risk_category", "framing"]
        pd.testing.assert_frame_equal(d.totals(by=tb, metrics={"refused": "rate"}), s.totals(by=tb, metrics={"refused": "rate"}))
        where = Where.of(conditions={"risk_category": ["high"]}, expr="NOT refused")
        rd = d.rows(where=where, columns=["event_id", "ts"], path=tmp_path / "d.parquet", limit=3)
        rs = s.rows(where=where, columns=["event_id", "ts"], path=tmp_path / "s.parquet", limit=3)
        assert rd.n == rs.n
        assert pd.read_parquet(tmp_path / "d.parquet")["event_id"].tolist() == pd.read_parquet(tmp_path / "s.parquet")["event_id"].tolist()


@pytest.mark.slow
def test_the_whole_investigation_runs_on_a_source_that_refuses_full_table_reads(tmp_path, refusal_frame):
    """The narrow waist: no engine query may return even half of the table's rows, and the answers
    are those of the same investigation on the in-memory table."""
    from analysis import investigate

    changes = loaders.load_changes(REFUSAL.parent / "changes.csv").frame
    limit = len(refusal_frame) // 2
    with open_engine(REFUSAL, max_result_rows=limit) as eng:
        assert eng.profile().rows > limit
        pm = investigate(eng, changes, pattern="refusal", progress=False, workdir=tmp_path)
        assert eng.queries > 20
    ref = investigate(refusal_frame, changes, pattern="refusal", progress=False)
    a, b = pm.to_dict(), ref.to_dict()
    assert a["onset"]["ts"] == b["onset"]["ts"] and a["onset"]["segment"] == b["onset"]["segment"]
    assert [c["change_id"] for c in a["q2_what_changed"]["candidates"]] == [c["change_id"] for c in b["q2_what_changed"]["candidates"]]
    assert a["q3_scope"]["verdict"] == b["q3_scope"]["verdict"] == "systematic"
    assert a["q3_scope"]["affected_events"] == b["q3_scope"]["affected_events"] > 0
    # the affected events are streamed to a file, and the report's CSV holds all of them
    assert Path(pm.q3.affected_file).exists()
    assert len(pd.read_parquet(pm.q3.affected_file)) == a["q3_scope"]["affected_events"]


@pytest.mark.slow
def test_spark_investigation_gives_duckdbs_answers(tmp_path):
    spark_or_skip()
    from analysis import investigate

    changes = loaders.load_changes(REFUSAL.parent / "changes.csv").frame
    d = investigate(REFUSAL, changes, pattern="refusal", progress=False, workdir=tmp_path / "d").to_dict()
    s = investigate(REFUSAL, changes, pattern="refusal", progress=False, engine="spark", workdir=tmp_path / "s").to_dict()
    assert s["parameters"]["engine"] == "spark"
    assert s["onset"] == d["onset"]
    assert [(c["change_id"], round(c["score"], 9)) for c in s["q2_what_changed"]["candidates"]] == \
        [(c["change_id"], round(c["score"], 9)) for c in d["q2_what_changed"]["candidates"]]
    assert s["q3_scope"]["verdict"] == d["q3_scope"]["verdict"]
    assert s["q3_scope"]["affected_events"] == d["q3_scope"]["affected_events"]
    assert [m["first_alarm"] for m in s["q4_detection_gap"]["monitors"]] == [m["first_alarm"] for m in d["q4_detection_gap"]["monitors"]]


def test_sample_rows_prefilter_keeps_the_smallest_keys(refusal_frame):
    """The per-window md5-prefix pre-filter is an optimisation only: the same rows as a full sort
    (checked against pandas: hashlib md5 of event_id:seed, smallest k per window)."""
    import hashlib

    with open_engine(REFUSAL) as eng:
        got = eng.sample_rows(["framing"], size=20, window="6h", seed=3)
        top = eng.sample_rows(["framing"], size=50, seed=3, where=Where.of("2026-01-20T00:00Z", "2026-01-22T00:00Z"))
    f = refusal_frame[["event_id", "ts"]].copy()
    f["key"] = [hashlib.md5(f"{e}:3".encode()).hexdigest() for e in f["event_id"]]
    f["w"] = f["ts"].dt.floor("6h")
    exp = f.sort_values("key").groupby("w").head(20)
    assert sorted(got["event_id"]) == sorted(exp["event_id"])
    sub = f[(f["ts"] >= pd.Timestamp("2026-01-20T00:00Z")) & (f["ts"] < pd.Timestamp("2026-01-22T00:00Z"))]
    assert sorted(top["event_id"]) == sorted(sub.sort_values("key").head(50)["event_id"])


def test_rows_head_is_the_first_rows_by_time(tmp_path):
    with open_engine(REFUSAL) as eng:
        r = eng.rows(where=Where.of(conditions={"risk_category": ["low"]}), columns=["event_id", "ts"], limit=50)
        full = eng.rows(where=Where.of(conditions={"risk_category": ["low"]}), columns=["event_id", "ts"], path=tmp_path / "r.parquet",
                        limit=0)
    written = pd.read_parquet(tmp_path / "r.parquet")
    assert full.n == len(written) > 50
    assert r.head["event_id"].tolist() == written["event_id"].head(50).tolist()


def _deferred_frame(n: int = 5000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    words = np.array(["refund", "password", "chest pain", "invoice", "sorry, I can't help"])
    return pd.DataFrame({"event_id": [f"e{i:05d}" for i in range(n)],
                         "ts": pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC"),
                         "input_text": pd.array(rng.choice(words, n), dtype="string"),
                         "latency_ms": rng.gamma(2.0, 100.0, n),
                         "refused": pd.array(np.where(rng.random(n) < 0.5, None, rng.random(n) < 0.2), dtype="boolean")})


DERIVED = {"refused": "regexp_matches(input_text, 'sorry')", "slow": "latency_ms > 400"}


@pytest.mark.parametrize("parquet", [False, True])
def test_deferred_derivations_set_back_by_position_equal_the_derivations_computed_in_place(tmp_path, parquet):
    """The derived columns computed alone and set back beside the numbered rows (DuckDB) give the
    same table as deriving in place, and the row number never shows as a column."""
    frame = _deferred_frame()
    src = frame
    if parquet:
        src = tmp_path / "events.parquet"
        frame.to_parquet(src)
    with open_engine(src) as a, open_engine(src) as b:
        a.derive(DERIVED, materialize=True)
        b.derive({"refused": DERIVED["refused"]}, materialize=False)
        b.derive({"slow": DERIVED["slow"]}, materialize=False)
        assert "rn__" not in b.columns and "rn__" not in set(b.profile().columns["column"])
        b.materialize()
        assert b.last_materialize == "by position" and "rn__" not in b.columns
        got = b.sql("SELECT * FROM events ORDER BY event_id")
        want = a.sql("SELECT * FROM events ORDER BY event_id")
    pd.testing.assert_frame_equal(got[list(want.columns)], want)
    # by hand: a missing label is filled by the rule, a present one kept
    row = frame.set_index("event_id")
    fill = row["refused"].isna()
    assert (got.set_index("event_id")["refused"][fill] == row.loc[fill, "input_text"].str.contains("sorry")).all()
    assert (got.set_index("event_id")["refused"][~fill] == row.loc[~fill, "refused"]).all()


def test_rows_filtered_between_numbering_and_materializing_take_the_plain_way():
    frame = _deferred_frame()
    with open_engine(frame) as eng:
        eng.derive({"slow": DERIVED["slow"]}, materialize=False)
        eng.restrict("latency_ms < 300")
        eng.materialize()
        assert eng.last_materialize == "whole"
        got = eng.sql("SELECT COUNT(*) AS n, SUM(CASE WHEN slow THEN 1 ELSE 0 END) AS s FROM events").iloc[0]
    assert int(got["n"]) == int((frame["latency_ms"] < 300).sum()) and int(got["s"]) == 0
