"""JSON documents written back to back (pretty-printed or not, no separator or blank lines, in a
``.jsonl`` or a ``.json`` file): detected by content, read document by document, and accounted in
the format's own records, never in text lines.

Reference: spans made by the OpenTelemetry SDK (``make_fixtures.genai_spans``) and encoded by the
OTLP exporter's encoder (``encode_spans``) with protobuf's JSON mapping, as a receiver writes
them; the committed exports of every JSON format (``tests/fixtures``, real ones included) for the
property test.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from fixtures import make_fixtures as mf
from google.protobuf.json_format import MessageToDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from analysis.loaders import _jsonio as jsonio
from analysis.loaders import detect_format, load_changes, load_events
from analysis.loaders.convert import convert_events
from analysis.loaders.detect import sniff
from analysis.scenarios import write_events_jsonl

ROOT = Path(__file__).resolve().parents[1]
FIX = Path(__file__).parent / "fixtures"
COLS = ["event_id", "trace_id", "ts", "model_version", "model_requested", "input_text", "output_text", "finish_reason",
        "input_tokens", "output_tokens", "status", "retrieval_top1_score", "embedding_model"]


@pytest.fixture(scope="module")
def traces_data() -> list[dict]:
    """Four ``TracesData`` documents of the SDK's spans, as a receiver writes them: two in the
    OTLP/JSON mapping (hex ids, integer enums), two in protobuf's generic mapping (base64 ids,
    enum names); a trace's spans may lie in two documents."""
    spans = mf.genai_spans()
    batches = [spans[i:i + 12] for i in range(0, len(spans), 12)]
    assert len(batches) >= 4
    docs = []
    for k, b in enumerate(batches):
        if k % 2 == 0:
            docs.append(mf._hexify(MessageToDict(encode_spans(b), use_integers_for_enums=True)))
        else:
            docs.append(MessageToDict(encode_spans(b)))
    return docs


def _json_lines(docs: list, path: Path) -> Path:
    path.write_text("".join(json.dumps(d, separators=(",", ":")) + "\n" for d in docs))
    return path


def _pretty(docs: list, path: Path, sep: str, indent: int = 2) -> Path:
    path.write_text(sep.join(json.dumps(d, indent=indent) for d in docs) + "\n")
    return path


def _same_events(got, ref) -> None:
    assert (got.format, got.rows_read, got.rows_loaded, len(got.rejected)) == (ref.format, ref.rows_read, ref.rows_loaded, len(ref.rejected))
    pd.testing.assert_frame_equal(got.frame, ref.frame)
    assert got.spans_by_kind == ref.spans_by_kind


@pytest.mark.parametrize("bare", [False, True], ids=["TracesData", "ResourceSpans"])
@pytest.mark.parametrize("name,sep", [("t.jsonl", ""), ("t.jsonl", "\n\n"), ("t.json", ""), ("t.json", "\n")])
def test_sdk_spans_pretty_printed_back_to_back_load_as_their_json_lines(tmp_path, traces_data, bare, name, sep):
    docs = [rs for d in traces_data for rs in d["resourceSpans"]] if bare else traces_data
    ref = load_events(_json_lines(docs, tmp_path / "ref.jsonl"))
    assert ref.rows_loaded == 12 + 10 and len(ref.rejected) == 0  # 10 RAG chats (one timed out), the agent's two; 10 embedding calls
    p = _pretty(docs, tmp_path / name, sep)
    assert p.read_text().startswith("{\n") and len(p.read_text().splitlines()) > 1000
    assert detect_format(p) == "otlp" and sniff(p).keys == (("resource", "scopeSpans") if bare else ("resourceSpans",))
    res = load_events(p)
    _same_events(res, ref)
    assert res.frame["event_id"].tolist() == ref.frame["event_id"].tolist()
    for c in COLS:
        assert res.frame[c].equals(ref.frame[c]), c
    assert set(res.frame["model_version"]) == {"gpt-4o-2024-08-06", "gpt-4o-2024-11-20", "text-embedding-3-large"}
    assert res.frame["output_text"].str.startswith("The leading authority").sum() == 10
    assert res.warnings[0] == ref.warnings[0]  # the same spans read, by kind


def _convert_rows(events: Path, out: Path) -> tuple[str, pd.DataFrame]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "analysis", "convert", "--events", str(events), "--out", str(out), "--no-derive"],
                         capture_output=True, text=True, cwd=ROOT, env=env)
    assert run.returncode == 0, run.stderr
    return run.stdout, pd.read_parquet(out)


def test_the_convert_command_reads_the_stream_as_its_json_lines(tmp_path, traces_data):
    stream = _pretty([rs for d in traces_data for rs in d["resourceSpans"]], tmp_path / "receiver.jsonl", "")
    out, frame = _convert_rows(stream, tmp_path / "stream.parquet")
    ref_out, ref = _convert_rows(_json_lines(traces_data, tmp_path / "collector.jsonl"), tmp_path / "ref.parquet")
    assert "receiver.jsonl (otlp): 22 rows read, 22 written" in out and "0 rejected" in out  # 12 chat, 10 embedding calls
    assert "collector.jsonl (otlp): 22 rows read, 22 written" in ref_out
    assert len(frame) == len(ref) == 22
    pd.testing.assert_frame_equal(frame, ref)


@pytest.mark.parametrize("block", [None, 97], ids=["one block", "97-byte blocks"])
def test_a_broken_document_is_one_rejection_and_the_others_load(tmp_path, traces_data, monkeypatch, block):
    if block:
        monkeypatch.setattr(jsonio, "_BLOCK", block)  # the same file read in small pieces
    texts = [json.dumps(d, indent=2) for d in traces_data]
    texts[2] = texts[2][: len(texts[2]) // 2]  # the writer died in the middle of the third document
    p = tmp_path / "capture.jsonl"
    p.write_text("\n".join(texts) + "\n")
    line = 1 + sum(t.count("\n") + 1 for t in texts[:2])
    byte = sum(len(t.encode()) + 1 for t in texts[:2])
    ref = load_events(_json_lines(traces_data[:2] + traces_data[3:], tmp_path / "ref.jsonl"))
    res = load_events(p)
    assert res.rows_read == res.rows_loaded + 1 and len(res.rejected) == 1
    pd.testing.assert_frame_equal(res.frame, ref.frame)
    bad = res.rejected.iloc[0]
    assert bad["row"] == line
    assert bad["reason"].startswith(f"malformed JSON: document 3 of capture.jsonl, starting at line {line} (byte {byte}): ")
    assert "the spans in this record are lost" in bad["reason"]
    assert bad["raw"].startswith('{\n  "') and len(bad["raw"]) <= 2000
    whole = load_events(_json_lines(traces_data, tmp_path / "whole.jsonl"))
    assert res.rows_loaded < whole.rows_loaded  # the broken document's spans are lost, not read as text lines


def test_compact_documents_on_a_first_line_longer_than_the_head(tmp_path, traces_data):
    # documents with no separator at all, the first larger than the sniffed head
    docs = json.loads(json.dumps(traces_data))
    span = docs[0]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["attributes"].append({"key": "app.note", "value": {"stringValue": "x" * (jsonio.HEAD_BYTES + 1000)}})
    p = tmp_path / "one-line.json"
    p.write_text("".join(json.dumps(d, separators=(",", ":")) for d in docs))
    assert "\n" not in p.read_text() and detect_format(p) == "otlp"
    ref = load_events(_json_lines(docs, tmp_path / "ref.jsonl"))
    res = load_events(p)
    _same_events(res, ref)


@pytest.mark.parametrize("text,layout", [
    ('{"a": 1}\n{"a": 2}\n', "lines"),
    ('{\n  "a": 1\n}\n{\n  "a": 2\n}\n', "documents"),
    ('[\n  {"a": 1}\n]', "documents"),
    ('{"a": 1}{"a": 2}', "documents"),
    ('{"a": 1}  {"a": 2}\n', "documents"),
    ('{\n{"a": 2}\n', "lines"),  # a bad first line followed by JSON Lines: each line judged on its own
    ('{"a": 1} trailing\n{"a": 2}\n', "lines"),
    ('{\n  "a" 1\n}\n', "documents"),  # a pretty-printed document broken inside
])
def test_the_layout_is_told_by_content(text, layout):
    assert jsonio.json_layout(text, complete=True) == layout


# --------------------------------------------------------------------------------------------
# Every JSON export the loaders read, re-serialised as a stream of pretty-printed documents
# --------------------------------------------------------------------------------------------

EXPORTS = [
    "otlp_genai_collector.jsonl", "otlp_genai_request.json", "otlp_genai_resourcespans.json", "otlp_genai_legacy.jsonl",
    "otlp_openinference.json", "otlp_genai.jsonl.gz", "otlp_s3/year=2026/month=03/day=01/hour=12/minute=00/traces_0000.json",
    "langfuse_observations.jsonl", "langfuse_trace.json", "phoenix_spans.jsonl", "oteljs_vercel_ai.json",
    "openai_chat_completions.jsonl", "openai_responses.jsonl", "openai_batch/batch_output.jsonl",
    "real/langfuse/claude-agent-2025-12-22.trace.json", "real/langfuse/openai-agents-2025-09-30.trace.json",
    "real/langfuse/google-adk-2025-08-28.trace.json", "real/openinference-span/chat-basic.json",
    "real/openinference-span/completion-basic.json", "canonical",
]


def _documents(text: str) -> list:
    """The top-level values of a JSON text (one document, JSON Lines, or documents back to back)."""
    dec, out, pos = json.JSONDecoder(), [], 0
    while (pos := len(text) - len(text[pos:].lstrip())) < len(text):
        value, pos = dec.raw_decode(text, pos)
        out.append(value)
    return out


@pytest.fixture(scope="module")
def canonical_events(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("canonical") / "events.jsonl"
    write_events_jsonl(load_events(ROOT / "sample_data" / "refusal_regression" / "events.parquet").frame.head(40), path)
    return path


@pytest.mark.parametrize("name", EXPORTS)
@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_json_export_reads_the_same_as_pretty_printed_documents_back_to_back(name, canonical_events, data):
    src = canonical_events if name == "canonical" else FIX / name
    raw = src.read_bytes()
    docs = _documents((gzip.decompress(raw) if src.suffix == ".gz" else raw).decode("utf-8"))
    seps = data.draw(st.lists(st.sampled_from(["", "\n", "\n\n", " "]), min_size=len(docs), max_size=len(docs)), label="separators")
    indents = data.draw(st.lists(st.integers(1, 4), min_size=len(docs), max_size=len(docs)), label="indents")
    ext = data.draw(st.sampled_from([".jsonl", ".json"]), label="extension")
    text = "".join(json.dumps(d, indent=i) + s for d, i, s in zip(docs, indents, seps))
    ref = load_events(src)
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / (src.name.split(".")[0] + ext)
        p.write_text(text)
        got = load_events(p)
    assert (got.format, got.rows_read, got.rows_loaded, len(got.rejected)) == (ref.format if name != "canonical" else "json",
                                                                               ref.rows_read, ref.rows_loaded, len(ref.rejected))
    pd.testing.assert_frame_equal(got.frame, ref.frame)
    assert sorted(got.rejected["reason"]) == sorted(ref.rejected["reason"])
    assert got.spans_by_kind == ref.spans_by_kind


# --------------------------------------------------------------------------------------------
# Canonical tables and change logs
# --------------------------------------------------------------------------------------------


def test_canonical_rows_and_changes_back_to_back(tmp_path, canonical_events):
    rows = [json.loads(x) for x in canonical_events.read_text().splitlines()][:6]
    ref = load_events(canonical_events.parent / "events.jsonl").frame.head(6)
    texts = [json.dumps(r, indent=2) for r in rows]
    p = tmp_path / "rows.jsonl"
    p.write_text("\n".join(texts))
    res = load_events(p)
    assert res.format == "json" and res.rows_loaded == 6 and len(res.rejected) == 0
    pd.testing.assert_frame_equal(res.frame, ref.reset_index(drop=True))
    assert load_events(p, format="jsonl").rows_loaded == 6  # given as JSON Lines, read as what it holds
    texts[3] = texts[3][:40]
    p.write_text("\n".join(texts))
    res = load_events(p)
    assert (res.rows_read, res.rows_loaded) == (6, 5) and res.rejected["row"].tolist() == [4]
    assert res.rejected["reason"].iloc[0].startswith("malformed JSON: document 4 of rows.jsonl, starting at line ")
    changes = [{"change_id": f"c{i}", "ts": f"2026-03-0{i + 1}T12:00:00Z", "change_type": "model_update"} for i in range(3)]
    c = tmp_path / "changes.jsonl"
    c.write_text("\n\n".join(json.dumps(x, indent=4) for x in changes))
    log = load_changes(c)
    assert log.rows_loaded == 3 and log.frame["change_id"].tolist() == ["c0", "c1", "c2"]
    res = convert_events(p, tmp_path / "rows.parquet")
    assert (res.rows_read, res.rows_written, res.rows_rejected) == (6, 5, 1)
