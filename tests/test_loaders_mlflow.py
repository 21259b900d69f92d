"""MLflow 3 traces in the three forms a user saves them, all written by the real ``mlflow`` package
(3.17.2, ``tests/fixtures/make_mlflow.py``): its SQLite tracking store, the ``search_traces()`` frame
(Parquet and JSON lines) and ``Trace.to_json()`` lines.

Expected values are read from each file here, independently of the loader: a direct ``sqlite3``
query of the store, the frame's own columns with pandas, ``json.loads`` of the lines.
"""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from analysis.loaders import LoadError, load_events
from analysis.loaders.detect import detect_format
from analysis.loaders.mlflow_spans import frame_row_trace, mlflow_span

FIX = Path(__file__).parent / "fixtures" / "real" / "mlflow"
DB, PARQUET, FRAME_JSONL, TRACES_JSONL = (FIX / n for n in ("mlflow.db", "search_traces.parquet", "search_traces.jsonl", "traces.jsonl"))
FORMS = [DB, PARQUET, FRAME_JSONL, TRACES_JSONL]
INFERENCE = ("LLM", "CHAT_MODEL")
SWITCH = pd.Timestamp("2026-03-02T08:00Z")  # make_mlflow.py: the model changes at this hour
MODELS = ("gpt-4o-2024-08-06", "gpt-4o-2024-11-20")


def _hex(b64: str) -> str:
    return base64.b64decode(b64).hex()


def _sql(query: str, *params: object) -> list[tuple]:
    con = sqlite3.connect(f"file:{DB}?mode=ro", uri=True)
    try:
        return con.execute(query, params).fetchall()
    finally:
        con.close()


def _expected_from_db() -> tuple[dict[str, tuple], dict[str, str]]:
    """span id -> (trace id, model, start ns, status, input tokens, output tokens); span id -> correctness."""
    spans = {}
    for sid, tid, model, start, status, content in _sql(
            "SELECT span_id, trace_id, model_name, start_time_unix_nano, status, content FROM spans WHERE type IN (?, ?)", *INFERENCE):
        usage = json.loads(json.loads(content)["attributes"].get("mlflow.chat.tokenUsage", "{}"))
        spans[sid] = (tid, model, start, status.lower(), usage.get("input_tokens"), usage.get("output_tokens"))
    correct = {sid: json.loads(v) for sid, v in _sql("SELECT span_id, value FROM assessments WHERE name = 'correctness'")}
    return spans, correct


def _expected_from_spans(traces: list[tuple[str, list[dict], list[dict]]]) -> tuple[dict[str, tuple], dict[str, str]]:
    """The same from (trace id, span dicts, assessment dicts) as ``Span.to_dict()`` and ``Assessment.to_dictionary()`` write them."""
    spans, correct = {}, {}
    for tid, span_dicts, assessments in traces:
        for d in span_dicts:
            a = {k: json.loads(v) for k, v in d["attributes"].items() if v is not None}
            if a["mlflow.spanType"] not in INFERENCE:
                continue
            usage = a.get("mlflow.chat.tokenUsage", {})
            status = d["status"]["code"].removeprefix("STATUS_CODE_").lower()
            spans[_hex(d["span_id"])] = (tid, a["mlflow.llm.model"], d["start_time_unix_nano"], status,
                                         usage.get("input_tokens"), usage.get("output_tokens"))
        correct.update({a["span_id"]: a["feedback"]["value"] for a in assessments if a["assessment_name"] == "correctness"})
    return spans, correct


def _expected(path: Path) -> tuple[dict[str, tuple], dict[str, str]]:
    if path == DB:
        return _expected_from_db()
    if path == TRACES_JSONL:
        docs = [json.loads(line) for line in path.read_text().splitlines()]
        return _expected_from_spans([(d["info"]["trace_id"], d["data"]["spans"], d["info"].get("assessments", [])) for d in docs])
    df = pd.read_parquet(path) if path == PARQUET else pd.read_json(path, lines=True)
    rows = []
    for _, r in df.iterrows():
        spans = [{**s, "attributes": dict(s["attributes"])} for s in r["spans"]]
        assessments = json.loads(r["assessments"]) if isinstance(r["assessments"], str) else r["assessments"]
        rows.append((r["trace_id"], spans, assessments))
    return _expected_from_spans(rows)


@pytest.mark.parametrize("path", FORMS, ids=lambda p: p.name)
def test_each_form_is_detected_and_gives_one_event_per_llm_and_chat_model_span(path: Path) -> None:
    assert detect_format(path) == "mlflow"
    spans, correct = _expected(path)
    res = load_events(path)
    assert res.format == "mlflow"
    assert res.rows_read == res.rows_loaded + len(res.rejected) == len(spans) == 24
    f = res.frame.set_index("event_id")
    assert set(f.index) == set(spans)
    for sid, (tid, model, start, status, n_in, n_out) in spans.items():
        row = f.loc[sid]
        assert (row["trace_id"], row["model_version"], row["ts"].value, row["status"]) == (tid, model, start, status)
        assert (None if pd.isna(row["input_tokens"]) else int(row["input_tokens"])) == n_in
        assert (None if pd.isna(row["output_tokens"]) else int(row["output_tokens"])) == n_out
    # the retrievers are folded in, the roots counted by their span type
    assert res.spans_by_kind == {"inference": 24, "retrieval_folded": 16, "other": 16}
    assert "8 AGENT, 8 CHAIN" in res.warnings[0]
    # assessments: correctness on the answer span becomes the `correct` outcome
    assert {k: f.loc[k, "assessment.correctness"] for k in correct} == correct
    assert f["correct"].notna().sum() == len(correct) == 15
    assert {k: bool(f.loc[k, "correct"]) for k in correct} == {k: v == "yes" for k, v in correct.items()}


@pytest.mark.parametrize("path", FORMS, ids=lambda p: p.name)
def test_the_model_switch_the_failed_call_and_the_trace_context(path: Path) -> None:
    f = load_events(path).frame
    before, after = f[f["ts"] < SWITCH], f[f["ts"] >= SWITCH]
    assert set(before["model_version"]) == {MODELS[0]} and set(after["model_version"]) == {MODELS[1]}
    assert len(before) == len(after) == 12
    err = f[f["status"] == "error"]
    assert len(err) == 1 and err["error_type"].iloc[0] == "TimeoutError" and pd.isna(err["input_tokens"].iloc[0])
    assert err["ts"].iloc[0] == pd.Timestamp("2026-03-02T05:00:00.100Z") and err["latency_ms"].iloc[0] == 30_000
    assert f["session_id"].str.match(r"sess-\d\d").all() and f["user_id"].str.match(r"user-\d").all()
    assert f["input_text"].isin(["How do I reset my password?", "Where is my invoice?", "Can I change my plan?",
                                 "How do I delete my account?"]).all()
    assert (f["provider"] == "openai").all() and (f["temperature"] == 0.2).all()
    # each RETRIEVER span (one per trace) folds into the first model call starting after it
    assert f["retrieval_doc_ids"].notna().sum() == 16 and all(len(x) == 2 for x in f["retrieval_doc_ids"].dropna())
    answered = f[f["status"] == "ok"]
    assert answered["output_text"].notna().all() and (answered["finish_reason"] == "stop").all()


def test_helpfulness_on_the_trace_reaches_every_event_of_it_and_the_expectation_fills_expected_output() -> None:
    f = load_events(TRACES_JSONL).frame
    docs = [json.loads(line)["info"] for line in TRACES_JSONL.read_text().splitlines()]
    helpful = {d["trace_id"]: a["feedback"]["value"] for d in docs for a in d.get("assessments", []) if a["assessment_name"] == "helpfulness"}
    got = f.dropna(subset=["assessment.helpfulness"]).groupby("trace_id")["assessment.helpfulness"].agg(set).to_dict()
    assert got == {t: {float(v)} for t, v in helpful.items()}
    expected = [(d["trace_id"], a["expectation"]["value"]) for d in docs for a in d.get("assessments", []) if "expectation" in a]
    assert len(expected) == 1
    tid, text = expected[0]
    assert (f.loc[f["trace_id"] == tid, "expected_output"] == text).all()
    assert f["expected_output"].notna().sum() == (f["trace_id"] == tid).sum()


def test_the_three_forms_agree() -> None:
    cols = ["event_id", "trace_id", "ts", "model_version", "model_requested", "input_tokens", "output_tokens", "status",
            "error_type", "session_id", "user_id", "input_text", "output_text", "latency_ms", "correct", "expected_output",
            "assessment.correctness", "assessment.helpfulness", "retrieval_doc_ids", "retrieval_scores"]
    frames = [load_events(p).frame[cols].sort_values("event_id").reset_index(drop=True) for p in FORMS]
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other, check_dtype=False)


def test_a_mapping_naming_the_outcome_replaces_the_default() -> None:
    res = load_events(DB, mapping={"assessment.correctness": {"column": "correct", "values": {"no": True}}})
    f = res.frame.set_index("event_id")
    _, correct = _expected_from_db()
    assert {k: f.loc[k, "correct"] for k in correct if correct[k] == "no"} == {k: True for k, v in correct.items() if v == "no"}
    assert f.loc[[k for k, v in correct.items() if v == "yes"], "correct"].isna().all()  # not in the value map: left missing
    assert not any("got `correct`" in w for w in res.warnings) and any("got `expected_output`" in w for w in res.warnings)


def test_mlflow2_frame_column_names_are_read(tmp_path: Path) -> None:
    # derived from the real frame: MLflow 2 called the columns request_id, timestamp_ms, status,
    # execution_time_ms and request_metadata, and kept no `trace` JSON column
    df = pd.read_parquet(PARQUET).drop(columns=["trace"]).rename(columns={
        "trace_id": "request_id", "request_time": "timestamp_ms", "state": "status", "execution_duration": "execution_time_ms",
        "trace_metadata": "request_metadata"})
    p = tmp_path / "frame2.parquet"
    df.to_parquet(p)
    assert detect_format(p) == "mlflow"
    a, b = load_events(p).frame, load_events(PARQUET).frame
    assert sorted(a["event_id"]) == sorted(b["event_id"]) and set(a["trace_id"]) == set(df["request_id"])


def test_an_mlflow2_span_dict_is_read() -> None:
    # MLflow 2's Span.to_dict(): `context` with 0x-hex ids, `parent_id`, `start_time`/`end_time` in ns, `status_code`
    d = {"name": "chat", "context": {"span_id": "0x00000000000000aa", "trace_id": "0x" + "0" * 30 + "bb"}, "parent_id": "0x00000000000000cc",
         "start_time": 1_700_000_000_000_000_000, "end_time": 1_700_000_000_500_000_000, "status_code": "ERROR", "status_message": "boom",
         "attributes": {"mlflow.spanType": '"CHAT_MODEL"', "mlflow.llm.model": '"m1"'}, "events": []}
    s = mlflow_span(d, 1, "tr-1", {})
    assert (s.span_id, s.parent_id, s.start_ns, s.status, s.status_message) == ("00000000000000aa", "00000000000000cc", d["start_time"], "error", "boom")
    assert s.dialect.fields(s)["model_version"] == "m1"
    assert frame_row_trace({"request_id": "tr-1", "timestamp_ms": 1, "spans": json.dumps([d])}).spans == [d]


def test_a_broken_line_and_a_broken_span_row_are_rejected_with_their_place(tmp_path: Path) -> None:
    lines = TRACES_JSONL.read_text().splitlines()
    p = tmp_path / "traces.jsonl"
    p.write_text("\n".join([lines[0], "{broken", *lines[1:]]) + "\n")
    res = load_events(p)
    assert res.rows_read == res.rows_loaded + len(res.rejected) == 25
    assert list(res.rejected["row"]) == [2] and res.rows_loaded == 24  # the line, counted once; every trace still loads
    db = tmp_path / "mlflow.db"
    shutil.copy(DB, db)
    con = sqlite3.connect(db)
    rowid = con.execute("SELECT rowid FROM spans WHERE type = 'LLM' ORDER BY rowid LIMIT 1").fetchone()[0]
    con.execute("UPDATE spans SET content = '{not json' WHERE rowid = ?", (rowid,))
    con.commit()
    con.close()
    res = load_events(db)
    assert res.rows_read == res.rows_loaded + len(res.rejected) == 24 and res.rows_loaded == 23
    assert list(res.rejected["row"]) == [rowid] and f"spans row {rowid}" in res.rejected["reason"].iloc[0]


def test_a_frame_row_whose_spans_are_not_a_list_is_one_rejected_record(tmp_path: Path) -> None:
    df = pd.read_json(FRAME_JSONL, lines=True)
    df.loc[3, "spans"] = "not spans"
    df["trace"] = None  # nothing to fall back on
    p = tmp_path / "frame.jsonl"
    df.to_json(p, orient="records", lines=True, date_format="iso")
    res = load_events(p)
    assert res.rows_read == res.rows_loaded + len(res.rejected)
    assert list(res.rejected["row"]) == [4] and "`spans` must be a list" in res.rejected["reason"].iloc[0]


def test_a_store_without_a_spans_table_gets_one_error(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    shutil.copy(DB, db)
    con = sqlite3.connect(db)
    con.execute("DROP TABLE spans")
    con.commit()
    con.close()
    with pytest.raises(LoadError, match="keeps the spans as artifact files"):
        load_events(db)


def test_convert_through_the_command(tmp_path: Path) -> None:
    out = tmp_path / "events.parquet"
    run = subprocess.run([sys.executable, "-m", "analysis", "convert", "--events", str(DB), "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    n = _sql("SELECT COUNT(*) FROM spans WHERE type IN (?, ?)", *INFERENCE)[0][0]
    assert f"(mlflow): {n} rows read, {n} written" in run.stdout
    f = pd.read_parquet(out)
    assert len(f) == n and set(f["model_version"]) == set(MODELS) and f["ts"].is_monotonic_increasing


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["keep", "no_start", "no_id", "bad_number", "garbage"]), min_size=1, max_size=16))
def test_every_span_is_loaded_or_rejected_under_breakage(tmp_path_factory: pytest.TempPathFactory, breaks: list[str]) -> None:
    """``rows_read == rows_loaded + rejected`` == the model-call spans plus the lines that do not parse."""
    lines = TRACES_JSONL.read_text().splitlines()
    out, n_records = [], 0
    for line, b in zip(lines, breaks + ["keep"] * len(lines)):
        if b == "garbage":
            out.append("{garbage")
            n_records += 1
            continue
        d = json.loads(line)
        calls = [s for s in d["data"]["spans"] if json.loads(s["attributes"]["mlflow.spanType"]) in INFERENCE]
        n_records += len(calls)
        if b == "no_start":
            calls[0].pop("start_time_unix_nano")
        elif b == "no_id":
            calls[0]["span_id"] = None
        elif b == "bad_number":
            calls[0]["attributes"]["mlflow.chat.tokenUsage"] = json.dumps({"input_tokens": "lots"})
        out.append(json.dumps(d))
    p = tmp_path_factory.mktemp("mlflow") / "traces.jsonl"
    p.write_text("\n".join(out) + "\n")
    try:
        res = load_events(p)
    except LoadError:
        assert all(b == "garbage" for b in breaks[:len(lines)]) and len(breaks) >= len(lines)  # only when nothing is left
        return
    assert res.rows_read == res.rows_loaded + len(res.rejected) == n_records
    assert res.frame["event_id"].is_unique


@pytest.mark.parametrize("layout", ["array", "pretty"])
def test_a_records_array_and_pretty_printed_documents_read_the_same(tmp_path: Path, layout: str) -> None:
    p = tmp_path / "traces.json"
    if layout == "array":  # to_json(orient="records") without lines: one JSON array of rows
        pd.read_json(FRAME_JSONL, lines=True).to_json(p, orient="records", date_format="iso")
    else:  # Trace.to_json() pretty-printed, back to back
        p.write_text("\n".join(json.dumps(json.loads(line), indent=2) for line in TRACES_JSONL.read_text().splitlines()))
    assert detect_format(p) == "mlflow"
    a, b = load_events(p).frame, load_events(TRACES_JSONL).frame
    cols = ["event_id", "ts", "model_version", "input_tokens", "correct"]
    pd.testing.assert_frame_equal(a[cols].sort_values("event_id").reset_index(drop=True), b[cols].sort_values("event_id").reset_index(drop=True))


def test_the_store_by_its_tracking_uri_and_the_frame_in_a_database_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIX)
    assert detect_format("sqlite:///mlflow.db") == "mlflow"  # the URI given to mlflow.set_tracking_uri
    assert load_events("sqlite:///mlflow.db").rows_loaded == 24
    # the frame written with df.to_sql, its nested columns as JSON text (to_sql takes no dicts or lists)
    df = pd.read_json(FRAME_JSONL, lines=True)
    for c in ("request", "response", "trace_metadata", "tags", "spans", "assessments"):
        df[c] = [json.dumps(v) for v in df[c]]
    db = tmp_path / "frames.db"
    with sqlite3.connect(db) as con:
        df.to_sql("traces", con, index=False)
    expected = load_events(FRAME_JSONL).frame.sort_values("event_id").reset_index(drop=True)
    for src in (f"sqlite:///{db}?table=traces", db):  # named, and the lone table of a file
        assert detect_format(src) == "mlflow"
        got = load_events(src).frame.sort_values("event_id").reset_index(drop=True)
        cols = ["event_id", "ts", "model_version", "input_tokens", "output_tokens", "correct", "session_id"]
        pd.testing.assert_frame_equal(got[cols], expected[cols])
