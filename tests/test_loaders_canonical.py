"""Canonical events tables as Parquet, JSONL, JSON and CSV; every bad-input case."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.loaders import LoadError, detect_format, load_events
from analysis.loaders import canonical as canonical_mod
from analysis.schema import EVENTS, SchemaError, validate


def _frame(n: int = 30, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "event_id": [f"ev-{i:04d}" for i in range(n)],
            "ts": pd.date_range("2026-03-01", periods=n, freq="min", tz="UTC"),
            "model_version": rng.choice(["m-1", "m-2"], n),
            "temperature": rng.choice([0.0, 0.7], n),
            "max_tokens": rng.choice([256, 512], n),
            "refused": rng.random(n) < 0.3,
            "confidence": rng.random(n).round(3),
            "retrieval_scores": [sorted(rng.random(3).round(3).tolist(), reverse=True) for _ in range(n)],
            "risk_category": rng.choice(["low", "high"], n),
            "app_region": rng.choice(["eu", "us"], n),
        }
    )


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif path.suffix == ".csv":
        f = frame.copy()
        f["ts"] = f["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        f["retrieval_scores"] = [json.dumps(x) for x in f["retrieval_scores"]]
        f.to_csv(path, index=False)
    else:
        f = frame.copy()
        f["ts"] = f["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        recs = json.loads(f.to_json(orient="records"))
        if path.suffix == ".json":
            path.write_text(json.dumps(recs))
        else:
            path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


@pytest.mark.parametrize("ext", ["parquet", "jsonl", "json", "csv"])
def test_round_trip_every_format(tmp_path, ext):
    src = _frame()
    res = load_events(_write(src, tmp_path / f"ev.{ext}"))
    assert res.format == ext and res.rows_read == res.rows_loaded == 30 and len(res.rejected) == 0
    validate(res.frame, EVENTS)
    f = res.frame
    assert list(f["event_id"]) == list(src["event_id"])
    assert (f["ts"] == src["ts"]).all()
    assert list(f["max_tokens"]) == list(src["max_tokens"])
    assert list(f["refused"]) == list(src["refused"])
    assert [list(x) for x in f["retrieval_scores"]] == list(src["retrieval_scores"])
    # derived columns against numpy on the source lists
    np.testing.assert_allclose(f["retrieval_mean_score"], [np.mean(x) for x in src["retrieval_scores"]])
    assert list(f["app_region"]) == list(src["app_region"])  # extra columns are kept
    assert len(res.sha256) == 64


def test_chunked_equals_whole_and_streams(tmp_path, monkeypatch):
    src = _frame(2000)
    calls = {"n": 0}
    real = canonical_mod.Collector.add

    def spy(self, df, labels, raw_text=None):
        calls["n"] += 1
        assert len(df) <= 400  # bounded chunks
        return real(self, df, labels, raw_text)

    for ext in ("parquet", "jsonl", "csv"):
        path = _write(src, tmp_path / f"big.{ext}")
        whole = load_events(path).frame
        calls["n"] = 0
        monkeypatch.setattr(canonical_mod.Collector, "add", spy)
        chunked = load_events(path, chunksize=200)
        monkeypatch.setattr(canonical_mod.Collector, "add", real)
        assert calls["n"] >= 5, ext
        pd.testing.assert_frame_equal(chunked.frame, whole)


def test_malformed_json_lines_are_rejected_with_line_numbers(tmp_path):
    p = tmp_path / "ev.jsonl"
    p.write_text(
        '{"event_id": "a", "ts": "2026-03-01T12:00:00Z"}\n'
        '{"event_id": "b", "ts": \n'
        "\n"
        '["not", "an", "object"]\n'
        '{"event_id": "c", "ts": "2026-03-01T12:02:00Z"}\n'
    )
    res = load_events(p)
    assert list(res.frame["event_id"]) == ["a", "c"]
    assert list(res.rejected["row"]) == [2, 4]  # line 3 is blank: not a row
    assert "malformed JSON" in res.rejected["reason"].iloc[0]
    assert res.rejected["raw"].iloc[0] == '{"event_id": "b", "ts":'
    assert "not a JSON object" in res.rejected["reason"].iloc[1]
    assert res.rows_read == 4


def test_one_bad_line_in_a_large_file_keeps_the_fast_path_for_the_rest(tmp_path):
    src = _frame(6000)
    p = _write(src, tmp_path / "ev.jsonl")
    lines = p.read_text().splitlines()
    lines[4321] = lines[4321][:-5]  # truncate line 4322
    p.write_text("\n".join(lines) + "\n")
    res = load_events(p)
    assert res.rows_loaded == 5999 and list(res.rejected["row"]) == [4322]


def test_unparseable_timestamp_and_number_reject_rows(tmp_path):
    p = tmp_path / "ev.csv"
    p.write_text(
        "event_id,ts,temperature\n"
        "a,2026-03-01T12:00:00Z,0.2\n"
        "b,yesterday,0.2\n"
        "c,2026-03-01T12:00:00Z,warm\n"
    )
    res = load_events(p)
    assert list(res.frame["event_id"]) == ["a"]
    assert list(res.rejected["row"]) == [3, 4]  # CSV: record number, the header is 1
    assert "ts: cannot parse 'yesterday'" in res.rejected["reason"].iloc[0]
    assert "temperature: cannot parse 'warm' as a number" in res.rejected["reason"].iloc[1]


def test_missing_required_column(tmp_path):
    p = tmp_path / "ev.csv"
    p.write_text("event_id,timestamp\na,2026-03-01T12:00:00Z\n")
    with pytest.raises(SchemaError) as e:
        load_events(p)
    msg = str(e.value)
    assert "'ts'" in msg and str(p) in msg and "'timestamp'" in msg
    # the mapping can supply it
    res = load_events(p, mapping={"timestamp": "ts"})
    assert res.rows_loaded == 1


@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_naive_timestamps_need_assume_tz(tmp_path, ext):
    p = tmp_path / f"ev.{ext}"
    f = pd.DataFrame({"event_id": ["a"], "ts": ["2026-03-01 12:00:00"]})
    if ext == "parquet":
        f["ts"] = pd.to_datetime(f["ts"])
        f.to_parquet(p)
    elif ext == "csv":
        f.to_csv(p, index=False)
    else:
        p.write_text(f.to_json(orient="records", lines=True))
    with pytest.raises(SchemaError) as e:
        load_events(p)
    assert "'ts'" in str(e.value) and "no UTC offset" in str(e.value)
    res = load_events(p, assume_tz="America/New_York")
    assert res.frame["ts"].iloc[0] == pd.Timestamp("2026-03-01T17:00:00Z")  # EST is UTC-5 in March before DST


def test_duplicates_kept_once_across_chunks(tmp_path):
    src = _frame(500)
    src.loc[450, "event_id"] = "ev-0003"
    p = _write(src, tmp_path / "ev.jsonl")
    res = load_events(p, chunksize=100)
    assert res.rows_loaded == 499 and list(res.rejected["row"]) == [451]
    assert "duplicate of 'ev-0003' first seen at row 4; kept once" in res.rejected["reason"].iloc[0]
    assert any("kept once" in w for w in res.warnings)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file_is_an_error_naming_it(tmp_path, content):
    p = tmp_path / "events.jsonl"
    p.write_bytes(content)
    with pytest.raises(LoadError, match="events.jsonl.*empty"):
        load_events(p)


def test_header_only_csv_has_no_rows(tmp_path):
    p = tmp_path / "events.csv"
    p.write_text("event_id,ts\n")
    with pytest.raises(LoadError, match="no rows"):
        load_events(p)


def test_non_utf8_bytes_are_rejected_rows_not_crashes(tmp_path):
    j = tmp_path / "ev.jsonl"
    j.write_bytes(b'{"event_id":"a","ts":"2026-03-01T12:00:00Z"}\n{"event_id":"b","ts":"2026-03-01T12:00:00Z","x":"caf\xe9"}\n')
    res = load_events(j)
    assert list(res.frame["event_id"]) == ["a"] and list(res.rejected["row"]) == [2]
    assert "not valid UTF-8" in res.rejected["reason"].iloc[0] and "\\xe9" in res.rejected["raw"].iloc[0]
    c = tmp_path / "ev.csv"
    c.write_bytes(b"event_id,ts,model_version\na,2026-03-01T12:00:00Z,m\nb,2026-03-01T12:00:00Z,caf\xe9\n")
    res = load_events(c)
    assert list(res.frame["event_id"]) == ["a"] and list(res.rejected["row"]) == [3]
    assert "model_version: bytes that are not UTF-8" in res.rejected["reason"].iloc[0]


def test_malformed_csv_row(tmp_path):
    p = tmp_path / "ev.csv"
    p.write_text('event_id,ts\na,2026-03-01T12:00:00Z\nb,2026-03-01T12:00:00Z,extra\n"c\nd",2026-03-01T12:00:00Z\ne,2026-03-01T12:00:00Z\n')
    res = load_events(p)
    assert list(res.frame["event_id"]) == ["a", "c\nd", "e"]
    assert list(res.rejected["row"]) == [3] and "expected 2 fields, found 3" in res.rejected["reason"].iloc[0]


def test_json_array_malformed_is_an_error(tmp_path):
    p = tmp_path / "ev.json"
    p.write_text('[{"event_id": "a", "ts": "2026-03-01T12:00:00Z"},\n {"event_id": ]')
    with pytest.raises(LoadError, match=r"ev.json.*line 2"):
        load_events(p)


def test_mapping_renames_and_value_maps(tmp_path):
    p = tmp_path / "ev.csv"
    p.write_text("request_id,time,tier,verdict\na,2026-03-01T12:00:00Z,gold,blocked\nb,2026-03-01T12:01:00Z,silver,passed\nc,2026-03-01T12:02:00Z,gold,odd\n")
    mp = tmp_path / "map.yaml"
    mp.write_text("request_id: event_id\ntime: ts\ntier: risk_category\nverdict:\n  column: refused\n  values: {blocked: true, passed: false}\nmissing.attr: framing\n")
    res = load_events(p, mapping=mp)
    assert list(res.frame["risk_category"]) == ["gold", "silver", "gold"]
    assert res.frame["refused"].tolist()[:2] == [True, False] and res.frame["refused"].isna().iloc[2]
    assert any("'odd' (1)" in w for w in res.warnings)
    assert any("'missing.attr'" in w and "not found" in w for w in res.warnings)
    # a target that is not a canonical column becomes a new column
    assert list(load_events(p, mapping=mp).frame.columns).count("risk_category") == 1
    new = load_events(p, mapping={"request_id": "event_id", "time": "ts", "tier": "language"}).frame
    assert list(new["language"]) == ["gold", "silver", "gold"] and "tier" not in new
    with pytest.raises(SchemaError, match="must name a column"):
        load_events(p, mapping={"tier": ""})
    with pytest.raises(SchemaError, match="must name a column"):
        load_events(p, mapping={"tier": 5})


def test_detect_format(tmp_path):
    src = _frame(3)
    assert detect_format(_write(src, tmp_path / "a.parquet")) == "parquet"
    assert detect_format(_write(src, tmp_path / "a.jsonl")) == "jsonl"
    assert detect_format(_write(src, tmp_path / "a.json")) == "json"
    assert detect_format(_write(src, tmp_path / "a.csv")) == "csv"
    noext = tmp_path / "events"
    noext.write_bytes((tmp_path / "a.jsonl").read_bytes())
    assert detect_format(noext) == "jsonl"
    with pytest.raises(LoadError, match="format"):
        load_events(tmp_path / "a.csv", format="xlsx")


_LINE = st.one_of(
    st.builds(lambda i, t: json.dumps({"event_id": f"e{i}", "ts": t}), st.integers(0, 30),
              st.sampled_from(["2026-03-01T12:00:00Z", "1772366400", "bad", ""])),
    st.builds(lambda i, x: json.dumps({"event_id": f"e{i}", "ts": "2026-03-01T12:00:00Z", "temperature": x}),
              st.integers(0, 30), st.sampled_from([0.1, "0.2", "x", None, True])),
    st.sampled_from(["{", "[1, 2]", "null", '{"event_id": 5, "ts": "2026-03-01T12:00:00Z"}', "", "   "]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_LINE, min_size=1, max_size=40), st.sampled_from([1, 7, 1000]))
def test_every_row_is_loaded_or_rejected(tmp_path, lines, chunksize):
    p = tmp_path / "h.jsonl"
    p.write_text("\n".join(lines) + "\n")
    nonblank = sum(1 for x in lines if x.strip())
    try:
        res = load_events(p, chunksize=chunksize)
    except LoadError:
        assert nonblank == 0 or all(x.strip() in ("",) for x in lines)
        return
    assert res.rows_read == res.rows_loaded + len(res.rejected) == nonblank
    assert res.frame["event_id"].is_unique
    assert sorted(res.rejected["row"].tolist()) == res.rejected["row"].tolist()
