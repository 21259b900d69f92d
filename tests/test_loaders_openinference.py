"""OpenInference spans: OTLP with OpenInference attributes, and Phoenix's spans dataframe.

Reference: the SDK spans recorded by ``make_fixtures.openinference_spans`` (attribute names from
``openinference.semconv.trace``) and the triage table ``make_fixtures.TRIAGE``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from openinference.semconv.trace import SpanAttributes

from analysis.loaders import detect_format, load_events
from analysis.schema import EVENTS, validate

from fixtures import make_fixtures as mf  # tests/ is on sys.path (rootdir-relative imports)

FIX = Path(__file__).parent / "fixtures"

FILES = ["otlp_openinference.json", "phoenix_spans.parquet", "phoenix_spans.jsonl"]


@pytest.fixture(scope="module")
def sdk_spans():
    return mf.openinference_spans()


@pytest.fixture(scope="module")
def loaded():
    return {f: load_events(FIX / f) for f in FILES}


def test_detection():
    assert [detect_format(FIX / f) for f in FILES] == ["otlp", "phoenix", "phoenix"]
    assert load_events(FIX / FILES[1], format="openinference").format == "phoenix"


def test_all_three_inputs_agree(loaded):
    frames = [r.frame.sort_values("event_id").reset_index(drop=True)[EVENTS.names] for r in loaded.values()]
    for f in frames[1:]:
        pd.testing.assert_frame_equal(f, frames[0])
    for r in loaded.values():
        validate(r.frame, EVENTS)
        assert r.rows_read == r.rows_loaded == 8 + 8 and len(r.rejected) == 0  # 8 LLM calls, 8 EMBEDDING calls
        assert r.spans_by_kind == {"inference": 8, "retrieval_folded": 8, "embedding": 8, "other": 16}
        assert r.frame["operation"].value_counts().to_dict() == {"chat": 8, "embeddings": 8}


@pytest.mark.parametrize("name", FILES)
def test_llm_spans_match_the_sdk(loaded, sdk_spans, name):
    f = loaded[name].frame.set_index("event_id")
    llms = [s for s in sdk_spans if s.attributes.get(SpanAttributes.OPENINFERENCE_SPAN_KIND) == "LLM"]
    for i, s in enumerate(sorted(llms, key=lambda s: s.start_time)):
        a = s.attributes
        e = f.loc[format(s.context.span_id, "016x")]
        params = json.loads(a[SpanAttributes.LLM_INVOCATION_PARAMETERS])
        assert e["model_version"] == a[SpanAttributes.LLM_MODEL_NAME]
        assert e["model_requested"] == params["model"]
        assert e["temperature"] == params["temperature"] and e["top_p"] == params["top_p"]
        assert e["max_tokens"] == params["max_tokens"]
        assert e["input_tokens"] == a[SpanAttributes.LLM_TOKEN_COUNT_PROMPT]
        assert e["output_tokens"] == a[SpanAttributes.LLM_TOKEN_COUNT_COMPLETION]
        assert e["prompt_template_version"] == a[SpanAttributes.LLM_PROMPT_TEMPLATE_VERSION]
        assert e["provider"] == "anthropic" and e["finish_reason"] == "stop"
        assert e["input_text"] == mf.TRIAGE[i][0]  # the last user message
        assert e["output_text"].startswith("I can't" if mf.TRIAGE[i][2] else "Here is")
        assert e["session_id"] == f"patient-session-{i // 3}" and e["user_id"] == f"user-{100 + i}"  # from the CHAIN root
        assert e["embedding_model"] == "text-embedding-3-small"
        assert e["ts"] == pd.Timestamp(s.start_time, unit="ns", tz="UTC")


def test_retriever_scores(loaded, sdk_spans):
    f = loaded["phoenix_spans.parquet"].frame
    f = f[f["operation"] == "chat"].set_index("trace_id")
    for r in (s for s in sdk_spans if s.attributes.get(SpanAttributes.OPENINFERENCE_SPAN_KIND) == "RETRIEVER"):
        scores = [r.attributes[f"retrieval.documents.{j}.document.score"] for j in range(3)]
        ids = [r.attributes[f"retrieval.documents.{j}.document.id"] for j in range(3)]
        texts = [r.attributes[f"retrieval.documents.{j}.document.content"] for j in range(3)]
        e = f.loc[format(r.context.trace_id, "032x")]
        assert list(e["retrieval_scores"]) == scores and list(e["retrieval_doc_ids"]) == ids
        assert list(e["retrieval_documents"]) == texts  # what grounding checks an answer's citations against


def test_mapping_metadata_and_guardrail():
    res = load_events(FIX / "phoenix_spans.jsonl", mapping={"metadata.risk_tier": "risk_category", "guardrail.refused": "refused"})
    f = res.frame[res.frame["operation"] == "chat"].sort_values("ts")
    assert f["risk_category"].tolist() == [t for _, t, _ in mf.TRIAGE]
    assert f["refused"].tolist() == [r for _, _, r in mf.TRIAGE]


def test_exactly_1000_spans_warns_of_truncation(tmp_path):
    df = pd.read_parquet(FIX / "phoenix_spans.parquet")
    reps = []
    for k in range(25):  # 25 copies of 40 spans = 1000
        d = df.copy()
        d["context.span_id"] = d["context.span_id"].str[:-3] + f"{k:03d}"
        d["context.trace_id"] = d["context.trace_id"].str[:-3] + f"{k:03d}"
        d["parent_id"] = d["parent_id"].where(d["parent_id"].isna(), d["parent_id"].str[:-3] + f"{k:03d}")
        reps.append(d)
    big = pd.concat(reps, ignore_index=True)
    assert len(big) == 1000
    big.to_parquet(tmp_path / "spans.parquet")
    res = load_events(tmp_path / "spans.parquet")
    assert any("exactly 1000 spans" in w and "truncated" in w for w in res.warnings)
    big.iloc[:999].to_parquet(tmp_path / "spans999.parquet")
    assert not any("truncated" in w for w in load_events(tmp_path / "spans999.parquet").warnings)
