"""OTel-JS span dumps with the Vercel AI SDK's attribute names.

Reference: the spans written by ``make_fixtures.oteljs_spans`` (the JS SDK's ReadableSpan shape,
hrtime pairs, the attribute names of the Vercel AI SDK's telemetry).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.loaders import detect_format, load_events
from analysis.loaders.oteljs import hrtime_ns
from analysis.schema import EVENTS, validate

from fixtures import make_fixtures as mf  # tests/ is on sys.path (rootdir-relative imports)

FIX = Path(__file__).parent / "fixtures"
DUMP = FIX / "oteljs_vercel_ai.json"
SPANS = mf.oteljs_spans()


def _ctx(s):
    return s.get("spanContext") or s.get("_spanContext")


def test_detection_and_counts():
    assert detect_format(DUMP) == "oteljs"
    res = load_events(DUMP)
    validate(res.frame, EVENTS)
    assert (res.rows_read, res.rows_loaded, len(res.rejected)) == (5 + 1, 5 + 1, 0)  # 5 doGenerate calls, 1 doEmbed call
    assert sum(res.spans_by_kind.values()) == len(SPANS) == 13
    emb = res.frame[res.frame["operation"] == "embeddings"].iloc[0]
    assert emb["embedding_model"] == emb["model_version"] == "text-embedding-3-small" and emb["input_tokens"] == 2
    assert "5 ai.generateText" in res.warnings[0]  # the outer span repeats the call: counted as other, never a second event


def test_inference_spans_match_the_dump():
    f = load_events(DUMP).frame.set_index("event_id")
    inner = [s for s in SPANS if s["name"] == "ai.generateText.doGenerate"]
    for s in inner:
        a = s["attributes"]
        e = f.loc[_ctx(s)["spanId"]]
        start = s["startTime"][0] * 10**9 + s["startTime"][1]
        end = s["endTime"][0] * 10**9 + s["endTime"][1]
        assert e["ts"] == pd.Timestamp(start, unit="ns", tz="UTC") and e["latency_ms"] == pytest.approx((end - start) / 1e6)
        assert e["trace_id"] == _ctx(s)["traceId"]
        assert e["model_version"] == a["ai.response.model"] and e["model_requested"] == a["ai.model.id"]
        assert e["provider"] == a["ai.model.provider"]
        assert e["input_tokens"] == a["ai.usage.promptTokens"] and e["output_tokens"] == a["ai.usage.completionTokens"]
        assert e["finish_reason"] == "stop" and e["temperature"] == 0.3
        assert e["input_text"] == json.loads(a["ai.prompt.messages"])[-1]["content"][0]["text"]
        assert e["output_text"] == a["ai.response.text"]
        assert e["metadata.tenant"] == a["ai.telemetry.metadata.tenant"] and e["service.version"] == "5.1.0"
        assert "ai.prompt.messages" not in f.columns and "ai.response.text" not in f.columns  # content is not kept as columns


def test_mapping_a_metadata_key_onto_a_new_column():
    f = load_events(DUMP, mapping={"metadata.tenant": "tenant"}).frame
    f = f[f["operation"] == "chat"]
    assert sorted(f["tenant"]) == ["acme", "acme", "globex", "globex", "globex"]


def test_hrtime():
    assert hrtime_ns([1772366400, 5_000_000]) == 1_772_366_400_005_000_000
    assert hrtime_ns(1772366400005.0) == 1_772_366_400_005_000_000  # epoch milliseconds
    assert hrtime_ns([0, 0]) is None and hrtime_ns(None) is None


def test_spans_one_per_line_and_a_span_without_time(tmp_path):
    spans = json.loads(DUMP.read_text())
    del spans[1]["startTime"]  # the first doGenerate
    p = tmp_path / "spans.jsonl"
    p.write_text("".join(json.dumps(s) + "\n" for s in spans))
    res = load_events(p)
    assert res.format == "oteljs" and (res.rows_loaded, len(res.rejected)) == (4 + 1, 1)
    assert res.rejected["row"].iloc[0] == 2 and "no start time" in res.rejected["reason"].iloc[0]
