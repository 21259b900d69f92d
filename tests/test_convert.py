"""convert: an export into canonical Parquet, streamed; the engine then loads the same rows as the loaders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.loaders import load_events, open_events
from analysis.loaders.convert import convert_events
from analysis.scenarios import write_events_jsonl

ROOT = Path(__file__).resolve().parents[1]
REFUSAL = ROOT / "sample_data" / "refusal_regression" / "events.parquet"


@pytest.fixture(scope="module")
def jsonl_with_bad_rows(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("convert") / "events.jsonl"
    frame = load_events(REFUSAL).frame.head(3000)
    write_events_jsonl(frame, path)
    lines = path.read_text().splitlines(keepends=True)
    with path.open("a") as f:
        f.write('{"event_id": "bad-ts", "ts": "yesterday"}\n')
        f.write(lines[10])  # a duplicate of row 11
        f.write("{not json\n")
    return path


def test_convert_keeps_every_record_accounted_for(tmp_path, jsonl_with_bad_rows):
    ref = load_events(jsonl_with_bad_rows, chunksize=700)
    res = convert_events(jsonl_with_bad_rows, tmp_path / "out.parquet", chunksize=700)
    assert res.rows_read == ref.rows_read == 3003
    assert res.rows_written == ref.rows_loaded == 3000
    assert res.rows_rejected == len(ref.rejected) == 3
    rej = pd.read_csv(res.rejected_path)
    assert sorted(rej["row"]) == sorted(ref.rejected["row"].tolist())
    out = pd.read_parquet(tmp_path / "out.parquet")
    # sorted by time, one row per event_id, the same rows and values as the in-memory loader
    assert out["ts"].is_monotonic_increasing and out["event_id"].is_unique
    exp = ref.frame.sort_values(["ts", "event_id"]).reset_index(drop=True)
    assert out["event_id"].tolist() == exp["event_id"].tolist()
    assert out["refused"].astype("boolean").equals(exp["refused"].astype("boolean"))
    # opened on the engine, nothing more is rejected
    src = open_events(tmp_path / "out.parquet")
    assert (src.rows_read, src.rows_loaded, src.rows_rejected) == (3000, 3000, 0)
    src.close()


def test_convert_command(tmp_path, jsonl_with_bad_rows):
    out = tmp_path / "cli.parquet"
    run = subprocess.run([sys.executable, "-m", "analysis", "convert", "--events", str(jsonl_with_bad_rows), "--out", str(out)],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "3003 rows read, 3000 written" in run.stdout and "3 rejected" in run.stdout
    bad = subprocess.run([sys.executable, "-m", "analysis", "convert", "--events", str(tmp_path / "nope.jsonl"), "--out", str(out)],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "nope.jsonl" in bad.stderr and "not found" in bad.stderr


def test_open_events_validates_on_the_engine(tmp_path):
    frame = pd.read_parquet(REFUSAL).head(500)
    frame.loc[3, "event_id"] = None
    frame.loc[5, "event_id"] = frame.loc[6, "event_id"]
    frame.loc[7, "ts"] = pd.NaT
    frame.to_parquet(tmp_path / "bad.parquet")
    src = open_events(tmp_path / "bad.parquet")
    assert (src.rows_read, src.rows_loaded, src.rows_rejected) == (500, 497, 3)
    assert sorted(src.rejected["reason"].str.split(" ").str[0]) == ["duplicate", "missing", "missing"]
    # the engine answers over the rows kept
    assert src.engine.count() == src.engine.profile().rows == 497
    ref = load_events(tmp_path / "bad.parquet")
    assert ref.rows_loaded == 497 and len(ref.rejected) == 3
    src.close()
    naive = frame.assign(ts=frame["ts"].dt.tz_localize(None))
    naive.to_parquet(tmp_path / "naive.parquet")
    with pytest.raises(ValueError, match=r"naive.parquet.*ts.*without a time zone"):
        open_events(tmp_path / "naive.parquet")
    frame.drop(columns=["event_id"]).to_parquet(tmp_path / "noid.parquet")
    with pytest.raises(ValueError, match=r"noid.parquet.*missing required column\(s\) event_id"):
        open_events(tmp_path / "noid.parquet")
    frame.iloc[:0].to_parquet(tmp_path / "empty.parquet")
    with pytest.raises(ValueError, match=r"empty.parquet.*no rows"):
        open_events(tmp_path / "empty.parquet")


def test_open_events_casts_and_rejects_bad_values_like_the_loader(tmp_path):
    frame = pd.read_parquet(REFUSAL).head(300)
    frame["refused"] = frame["refused"].map({True: "true", False: "false"}).astype(object)
    frame.loc[4, "refused"] = "maybe"
    frame["latency_ms"] = frame["latency_ms"].astype(str)
    frame.loc[9, "latency_ms"] = "fast"
    frame.to_parquet(tmp_path / "types.parquet")
    src = open_events(tmp_path / "types.parquet")
    ref = load_events(tmp_path / "types.parquet")
    assert (src.rows_read, src.rows_loaded, src.rows_rejected) == (ref.rows_read, ref.rows_loaded, len(ref.rejected)) == (300, 298, 2)
    assert sorted(src.rejected["reason"]) == ["column latency_ms: cannot parse fast as a number",
                                               "column refused: cannot parse maybe as a boolean"]
    assert src.engine.columns["refused"] == "bool" and src.engine.columns["latency_ms"] == "float"
    tot = src.engine.totals(metrics={"refused": "rate"})
    assert int(tot["refused__sum"].iat[0]) == int(ref.frame["refused"].sum())
    assert any("refused -> a boolean" in w for w in src.warnings)
    src.close()


def test_a_mapping_onto_a_new_column_survives_into_parquet_and_the_engine(tmp_path):
    fix = Path(__file__).parent / "fixtures"
    mapping = {"app.query_category": "language", "service.version": "app_version"}  # neither is canonical
    out = tmp_path / "events.parquet"
    res = convert_events(fix / "otlp_genai_request.json", out, mapping=mapping)
    assert res.rows_written == 12 + 10  # 12 chat calls, 10 embedding calls
    f = pd.read_parquet(out)
    assert set(f["language"].dropna()) == {"contract", "tort"} and set(f["app_version"]) == {"2.3.1"}
    src = open_events(out)
    prof = src.engine.profile()
    assert prof.kind("language") == "string" and prof.distinct("language") == 2
    by = src.engine.sql("SELECT language, COUNT(*) AS n FROM events WHERE language IS NOT NULL GROUP BY language")
    assert dict(zip(by["language"], by["n"])) == f["language"].value_counts().to_dict()
    src.close()
    lf = load_events(fix / "langfuse_export", mapping={"metadata.query_category": "topic"}).frame
    assert set(lf["topic"]) == {"account", "general"}
