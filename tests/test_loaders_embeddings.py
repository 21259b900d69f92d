"""Embedding spans (OpenInference EMBEDDING, OTel GenAI ``embeddings``) are events of their own operation.

The reference is the OpenTelemetry SDK: the fixtures were written by
``tests/fixtures/make_embedding_fixtures.py`` from spans recorded by the SDK's in-memory exporter;
the tests regenerate those spans and compare the loaded events with them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.loaders import load_events
from analysis.loaders.convert import convert_events
from analysis.schema import EVENTS, validate

from fixtures import make_embedding_fixtures as mk  # tests/ is on sys.path (rootdir-relative imports)

FIX = Path(__file__).parent / "fixtures"
RAG = FIX / "otlp_embeddings_rag.jsonl.gz"
OI = FIX / "otlp_openinference_embeddings.json"


@pytest.fixture(scope="module")
def rag():
    return load_events(RAG)


@pytest.fixture(scope="module")
def rag_spans():
    return mk.rag_spans()


def _op(s) -> str | None:
    return s.attributes.get("gen_ai.operation.name")


def test_the_mixed_file_holds_chat_and_embedding_events(rag, rag_spans):
    validate(rag.frame, EVENTS)
    n_chat = sum(_op(s) == "chat" for s in rag_spans)
    n_emb = sum(_op(s) == "embeddings" for s in rag_spans)
    assert (n_chat, n_emb) == (3 * 24 * 6, 3 * 24 * 6 + 3 * 8)  # a question every 10 minutes, a job every 3 hours, 3 days
    assert rag.rows_read == rag.rows_loaded == n_chat + n_emb and len(rag.rejected) == 0
    assert rag.frame["operation"].value_counts().to_dict() == {"chat": n_chat, "embeddings": n_emb}
    assert rag.spans_by_kind == {"inference": n_chat, "embedding": n_emb, "other": len(rag_spans) - n_chat - n_emb}


def test_embedding_events_match_the_sdk_spans(rag, rag_spans):
    f = rag.frame.set_index("event_id")
    for s in (s for s in rag_spans if _op(s) == "embeddings"):
        e = f.loc[format(s.context.span_id, "016x")]
        model = s.attributes["gen_ai.request.model"]
        assert e["operation"] == "embeddings" and e["embedding_model"] == e["model_version"] == model
        assert e["ts"] == pd.Timestamp(s.start_time, unit="ns", tz="UTC")
        assert e["latency_ms"] == pytest.approx((s.end_time - s.start_time) / 1e6)
        assert e["input_tokens"] == s.attributes["gen_ai.usage.input_tokens"] and pd.isna(e["output_text"])
        assert e["trace_id"] == format(s.context.trace_id, "032x")


def test_the_embedding_model_switches_at_the_known_time(rag):
    emb = rag.frame[rag.frame["operation"] == "embeddings"].sort_values("ts")
    switch = pd.Timestamp(mk.SWITCH, unit="ns", tz="UTC")
    assert set(emb.loc[emb["ts"] < switch, "embedding_model"]) == {mk.SMALL}
    assert set(emb.loc[emb["ts"] >= switch, "embedding_model"]) == {mk.LARGE}
    first_large = emb[emb["embedding_model"] == mk.LARGE].iloc[0]
    assert first_large["ts"] == switch + pd.Timedelta(milliseconds=1)  # the re-indexing job on the hour, its span 1 ms in
    # before the switch: 324 questions (2 minutes past each 10 minutes before 06:00 on day 3) and 18 jobs
    assert (emb["embedding_model"] == mk.SMALL).sum() == 324 + 18


def test_a_failed_embedding_call_is_an_event_with_its_error(rag):
    err = rag.frame[rag.frame["status"] == "error"]
    assert len(err) == 1 and err["operation"].iloc[0] == "embeddings" and err["error_type"].iloc[0] == "RateLimitError"


def test_chat_events_still_carry_the_embedding_model_of_their_trace(rag):
    chat = rag.frame[rag.frame["operation"] == "chat"]
    assert chat["embedding_model"].notna().all()
    switch = pd.Timestamp(mk.SWITCH, unit="ns", tz="UTC")
    assert set(chat.loc[chat["ts"] >= switch, "embedding_model"]) == {mk.LARGE}


def test_openinference_embedding_spans():
    spans = mk.openinference_spans()
    res = load_events(OI)
    embs = [s for s in spans if s.attributes.get("openinference.span.kind") == "EMBEDDING"]
    llms = [s for s in spans if s.attributes.get("openinference.span.kind") == "LLM"]
    assert (len(embs), len(llms)) == (6, 2)
    assert res.rows_read == res.rows_loaded == 6 + 2 and len(res.rejected) == 0
    assert res.spans_by_kind == {"embedding": 6, "inference": 2, "retrieval_folded": 2, "other": 2}
    f = res.frame.set_index("event_id")
    for s in embs:
        a = s.attributes
        e = f.loc[format(s.context.span_id, "016x")]
        assert e["operation"] == "embeddings" and e["embedding_model"] == e["model_version"] == a["embedding.model_name"]
        assert e["input_text"] == a["embedding.embeddings.0.embedding.text"]  # the first text embedded
        assert e["input_tokens"] == a["llm.token_count.prompt"] and e["provider"] == "openai"
        assert e["ts"] == pd.Timestamp(s.start_time, unit="ns", tz="UTC")
    assert not [c for c in f.columns if c.startswith("embedding.embeddings")]  # texts and vectors are not kept as columns
    for s in llms:
        e = f.loc[format(s.context.span_id, "016x")]
        assert e["operation"] == "chat" and e["embedding_model"] == mk.LARGE and e["model_version"] == "gpt-4o-mini-2024-07-18"


def test_an_embedding_span_without_a_start_time_gets_the_verdict_naming_the_time():
    res = load_events(FIX / "openinference_embedding_no_start.json")
    assert res.format == "otlp" and (res.rows_read, res.rows_loaded, len(res.rejected)) == (1, 0, 1)
    reason = res.rejected["reason"].iloc[0]
    assert "this span has no start time and cannot be placed on a timeline" in reason
    assert json.loads(res.rejected["raw"].iloc[0])["name"] == "CreateEmbeddings"
    assert res.spans_by_kind == {"embedding": 1}
    assert not any("no inference span" in w for w in res.warnings)


def test_convert_keeps_the_operation_column(tmp_path):
    out = tmp_path / "events.parquet"
    res = convert_events(OI, out)
    f = pd.read_parquet(out)
    assert res.rows_written == 8 and f["operation"].value_counts().to_dict() == {"embeddings": 6, "chat": 2}
