"""OTLP JSON with the OTel GenAI conventions.

The reference is the OpenTelemetry SDK itself: the fixtures were written by
``tests/fixtures/make_fixtures.py`` from spans recorded by the SDK's in-memory exporter, and the
tests below regenerate those spans and compare the loaded events with the SDK's span objects.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.loaders import LoadError, detect_format, load_events
from analysis.loaders.otlp import norm_id
from analysis.schema import EVENTS, validate

from fixtures import make_fixtures as mf  # tests/ is on sys.path (rootdir-relative imports)

FIX = Path(__file__).parent / "fixtures"

LAYOUTS = ["otlp_genai_request.json", "otlp_genai_collector.jsonl", "otlp_genai_resourcespans.json"]


@pytest.fixture(scope="module")
def sdk_spans():
    return mf.genai_spans()


@pytest.fixture(scope="module")
def loaded():
    return {f: load_events(FIX / f) for f in LAYOUTS}


@pytest.mark.parametrize("name", LAYOUTS)
def test_layouts_are_detected(name):
    assert detect_format(FIX / name) == "otlp"


def test_three_layouts_give_the_same_events(loaded):
    # base64 ids + enum names, hex ids + integer enums, pretty-printed bare ResourceSpans
    frames = [r.frame.sort_values("event_id").reset_index(drop=True) for r in loaded.values()]
    for f in frames[1:]:
        pd.testing.assert_frame_equal(f[EVENTS.names], frames[0][EVENTS.names])
    for r in loaded.values():
        validate(r.frame, EVENTS)
        assert r.rows_read == r.rows_loaded == 12 + 10 and len(r.rejected) == 0  # 12 chat calls, 10 embedding calls
        assert r.frame["operation"].value_counts().to_dict() == {"chat": 12, "embeddings": 10}


def test_events_match_the_sdk_spans(loaded, sdk_spans):
    f = loaded["otlp_genai_request.json"].frame.set_index("event_id")
    f = f[f["operation"] == "chat"]
    chats = [s for s in sdk_spans if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert len(chats) == len(f) == 12
    for s in chats:
        e = f.loc[format(s.context.span_id, "016x")]
        a = s.attributes
        assert e["trace_id"] == format(s.context.trace_id, "032x")
        assert e["ts"] == pd.Timestamp(s.start_time, unit="ns", tz="UTC")
        assert e["latency_ms"] == pytest.approx((s.end_time - s.start_time) / 1e6)
        assert e["model_version"] == a["gen_ai.response.model"]
        assert e["model_requested"] == a["gen_ai.request.model"]
        assert e["provider"] == a["gen_ai.provider.name"]
        assert e["input_tokens"] == a["gen_ai.usage.input_tokens"]
        assert e["output_tokens"] == a["gen_ai.usage.output_tokens"]
        assert e["finish_reason"] == ",".join(a["gen_ai.response.finish_reasons"])
        assert e["session_id"] == a["gen_ai.conversation.id"]
        if "openai.response.system_fingerprint" in a:
            assert e["upstream_fingerprint"] == a["openai.response.system_fingerprint"]
            assert e["temperature"] == a["gen_ai.request.temperature"] and e["seed"] == a["gen_ai.request.seed"]
            msgs = json.loads(a["gen_ai.input.messages"])
            assert e["input_text"] == msgs[-1]["parts"][0]["content"]
            assert e["output_text"] == json.loads(a["gen_ai.output.messages"])[0]["parts"][0]["content"]
            assert e["service.version"] == "2.3.1" and e["deployment.environment"] == "prod"


def test_retrieval_and_embedding_spans_are_folded(loaded, sdk_spans):
    f = loaded["otlp_genai_request.json"].frame.set_index("event_id")
    by_trace = {}
    for s in sdk_spans:
        by_trace.setdefault(s.context.trace_id, []).append(s)
    for spans in by_trace.values():
        chats = sorted((s for s in spans if s.attributes.get("gen_ai.operation.name") == "chat"), key=lambda s: s.start_time)
        for r in (s for s in spans if s.attributes.get("gen_ai.operation.name") == "retrieval"):
            if not chats:
                continue
            # the chat call that follows the retrieval gets its documents, best first
            target = next(c for c in chats if c.start_time >= r.start_time)
            docs = sorted(json.loads(r.attributes["gen_ai.retrieval.documents"]), key=lambda d: -d["score"])
            e = f.loc[format(target.context.span_id, "016x")]
            assert list(e["retrieval_scores"]) == [d["score"] for d in docs]
            assert list(e["retrieval_doc_ids"]) == [d["id"] for d in docs]
            assert e["retrieval_top1_score"] == docs[0]["score"]
    # the agent trace's first chat came before the retrieval: it has none
    first_agent_chat = [s for s in sdk_spans if s.attributes.get("gen_ai.response.finish_reasons") == ("tool_calls",)][0]
    assert pd.isna(f.loc[format(first_agent_chat.context.span_id, "016x"), "retrieval_scores"])
    emb = f.loc[f["operation"] == "chat", "embedding_model"].dropna()
    assert len(emb) == 10 and set(emb) == {"text-embedding-3-large"}


def test_embedding_spans_are_events_of_their_own(loaded, sdk_spans):
    f = loaded["otlp_genai_request.json"].frame.set_index("event_id")
    embs = [s for s in sdk_spans if s.attributes.get("gen_ai.operation.name") == "embeddings"]
    assert len(embs) == 10
    for s in embs:
        e = f.loc[format(s.context.span_id, "016x")]
        assert e["operation"] == "embeddings" and e["ts"] == pd.Timestamp(s.start_time, unit="ns", tz="UTC")
        assert e["embedding_model"] == e["model_version"] == "text-embedding-3-large"  # make_fixtures: requested, no response model
        assert e["input_tokens"] == 14 and e["latency_ms"] == pytest.approx(35.0) and pd.isna(e["output_text"])


def test_nothing_is_dropped_silently(loaded, sdk_spans):
    r = loaded["otlp_genai_collector.jsonl"]
    assert sum(r.spans_by_kind.values()) == len(sdk_spans) == 46
    assert r.spans_by_kind == {"inference": 12, "retrieval_folded": 11, "retrieval_unused": 1, "embedding": 10, "other": 12}
    assert any("1 retrieval span(s) are in traces with no inference span" in w for w in r.warnings)


def test_errors_and_evaluations(loaded):
    f = loaded["otlp_genai_request.json"].frame
    err = f[f["status"] == "error"]
    assert len(err) == 1 and err["error_type"].iloc[0] == "timeout"
    ev = f.dropna(subset=["eval.citation_accuracy"]).sort_values("ts")
    # make_fixtures: requests 0, 2, 4 pass (1.0), 6 and 8 fail (0.0)
    assert ev["eval.citation_accuracy"].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert ev["eval.citation_accuracy.label"].tolist() == ["pass", "pass", "pass", "fail", "fail"]
    assert "refused" in f and f["refused"].isna().all()  # no labels invented


def test_mapping_reads_ancestor_attributes():
    res = load_events(FIX / "otlp_genai_request.json", mapping={
        "app.risk_tier": "risk_category",
        "app.index_version": "index_version",
        "eval.citation_accuracy.label": {"column": "correct", "values": {"pass": True, "fail": False}},
    })
    f = res.frame[res.frame["operation"] == "chat"].sort_values("ts")
    # root span attribute of requests 0..9: "high" when i % 3 == 0; agent root says "low"
    assert f["risk_category"].tolist()[:10] == ["high" if i % 3 == 0 else "low" for i in range(10)]
    assert set(f["index_version"].dropna()) == {"idx-2026-01-02"}  # from the folded retrieval span
    assert f["correct"].sum() == 3 and (~f["correct"].dropna()).sum() == 2


def test_older_attribute_names():
    res = load_events(FIX / "otlp_genai_legacy.jsonl", mapping={"guardrail.blocked": "refused"})
    f = res.frame.sort_values("ts").reset_index(drop=True)
    assert res.rows_loaded == 6
    assert (f["provider"] == "OpenAI").all() and (f["model_version"] == "gpt-3.5-turbo-0125").all()
    assert f["input_tokens"].tolist() == [50, 51, 52, 53, 54, 55]
    assert f["output_tokens"].tolist() == [20, 21, 22, 23, 24, 25]
    assert (f["upstream_fingerprint"] == "fp_3bc1b5746c").all()
    assert f["input_text"].iloc[0] == "My order 1000 has not arrived." and (f["finish_reason"] == "stop").all()
    assert f["refused"].tolist() == [False, False, False, True, False, False]


def test_ids_hex_and_base64():
    assert norm_id("zWE+MNjxat+Rt1hKImWx9Q==", 16) == "cd613e30d8f16adf91b7584a2265b1f5"  # python: base64.b64decode(...).hex()
    assert norm_id("CD613E30D8F16ADF91B7584A2265B1F5", 16) == "cd613e30d8f16adf91b7584a2265b1f5"
    assert norm_id("Hi/riUFMNDw=", 8) == "1e2feb89414c343c"
    assert norm_id("", 8) is None and norm_id("0000000000000000", 8) is None


def test_malformed_line_and_bad_bytes(tmp_path):
    lines = (FIX / "otlp_genai_collector.jsonl").read_bytes().splitlines()
    bad = tmp_path / "traces.jsonl"
    lines[1] = lines[1][:100]  # truncate the second batch
    lines[2] = lines[2].replace(b"legal-rag", b"legal-r\xe9g", 1)
    bad.write_bytes(b"\n".join(lines) + b"\n")
    res = load_events(bad)
    assert list(res.rejected["row"]) == [2] and "malformed JSON" in res.rejected["reason"].iloc[0]
    assert "spans in this record are lost" in res.rejected["reason"].iloc[0]
    assert res.rows_read == res.rows_loaded + 1
    assert any("not UTF-8" in w and "3" in w for w in res.warnings)


def test_missing_start_time_rejects_the_span(tmp_path):
    doc = json.loads((FIX / "otlp_genai_collector.jsonl").read_text().splitlines()[0])
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    chat = next(s for s in spans if s["name"].startswith("chat"))
    del chat["startTimeUnixNano"]
    p = tmp_path / "t.jsonl"
    p.write_text(json.dumps(doc) + "\n")
    res = load_events(p)
    assert len(res.rejected) == 1 and "ts: required value is missing" in res.rejected["reason"].iloc[0]
    assert json.loads(res.rejected["raw"].iloc[0])["spanId"] == chat["spanId"]


def test_no_inference_spans_is_an_error(tmp_path):
    p = tmp_path / "t.json"
    p.write_text(json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": [
        {"traceId": "0" * 31 + "1", "spanId": "0" * 15 + "1", "name": "GET /", "startTimeUnixNano": "1", "endTimeUnixNano": "2"}]}]}]}))
    with pytest.raises(LoadError, match="no inference span"):
        load_events(p)


# --------------------------------------------------------------------------------------------
# The collector's binary and compressed files, and the S3 exporter's folder
# (written by make_fixtures.write_genai_proto with the SDK's encode_spans)
# --------------------------------------------------------------------------------------------

BINARY = ["otlp_genai.pb", "otlp_genai.pb.zst", "otlp_genai_zstd_frames.pb", "otlp_genai.jsonl.gz", "otlp_s3"]


@pytest.mark.parametrize("name", BINARY)
def test_binary_compressed_and_folder_layouts_give_the_same_events(loaded, name):
    assert detect_format(FIX / name) == "otlp"
    res = load_events(FIX / name)
    ref = loaded["otlp_genai_request.json"].frame.sort_values("event_id").reset_index(drop=True)
    got = res.frame.sort_values("event_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got[EVENTS.names], ref[EVENTS.names])
    assert res.rows_read == res.rows_loaded == 12 + 10 and len(res.rejected) == 0
    assert sum(res.spans_by_kind.values()) == 46


def test_truncated_proto_file_is_a_clear_rejection(tmp_path):
    data = (FIX / "otlp_genai.pb").read_bytes()
    first = int.from_bytes(data[:4], "big")
    p = tmp_path / "cut.pb"
    p.write_bytes(data[: len(data) - 100])  # the last message is cut short
    res = load_events(p)
    bad = res.rejected
    assert len(bad) == 1 and bad["row"].iloc[0] == 3
    assert "truncated file: message 3" in bad["reason"].iloc[0] and "the spans in this message are lost" in bad["reason"].iloc[0]
    assert res.rows_loaded > 0 and res.rows_read == res.rows_loaded + 1
    # a message that is not TracesData
    p.write_bytes(data[: 4 + first] + (5).to_bytes(4, "big") + b"\x0a\xff\xff\xff\xff")
    res = load_events(p)
    assert "message 2" in res.rejected["reason"].iloc[0] and "not an OTLP TracesData message" in res.rejected["reason"].iloc[0]


def test_truncated_zstd_stream_is_an_error(tmp_path):
    data = (FIX / "otlp_genai.pb.zst").read_bytes()
    p = tmp_path / "cut.pb.zst"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(LoadError, match=r"cut.pb.zst.*cannot decompress \(zstd\)"):
        load_events(p)


def test_retrieved_documents_text_from_a_genai_retrieval_span(tmp_path):
    # written by the SDK: a retrieval span whose documents carry their text, then the chat call
    from google.protobuf.json_format import MessageToJson
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    provider, exporter = mf._provider(3, "legal-rag", "1.0")
    tracer = provider.get_tracer("rag")
    docs = [{"id": "case-1", "score": 0.61, "content": "Doe v. Roe, 831 F.4d 657 (2d Cir. 2020)."},
            {"id": "case-2", "score": 0.83, "content": "Twombly, 550 U.S. 544 (2007)."}]
    with tracer.start_as_current_span("POST /ask", kind=trace.SpanKind.SERVER, start_time=mf.T0, end_on_exit=False) as root:
        r = tracer.start_span("retrieval idx", kind=trace.SpanKind.CLIENT, start_time=mf.T0 + mf.MS, attributes={
            "gen_ai.operation.name": "retrieval", "gen_ai.retrieval.documents": json.dumps(docs)})
        r.end(end_time=mf.T0 + 2 * mf.MS)
        c = tracer.start_span("chat m", kind=trace.SpanKind.CLIENT, start_time=mf.T0 + 3 * mf.MS, attributes={
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "gen_ai.response.model": "m-1",
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "See 550 U.S. 544."}]}])})
        c.end(end_time=mf.T0 + 9 * mf.MS)
        root.end(end_time=mf.T0 + 10 * mf.MS)
    p = tmp_path / "traces.json"
    p.write_text(MessageToJson(encode_spans(list(exporter.get_finished_spans()))))
    e = load_events(p).frame.iloc[0]
    # best first, the text beside its id and score
    assert list(e["retrieval_doc_ids"]) == ["case-2", "case-1"] and list(e["retrieval_scores"]) == [0.83, 0.61]
    assert list(e["retrieval_documents"]) == [docs[1]["content"], docs[0]["content"]]
