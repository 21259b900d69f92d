"""Detection by content, one clear error for an unknown file, and accounting in the format's own records.

Reference: the real bare OpenInference spans in ``fixtures/real/openinference-span`` (a gateway's
test recorder, ids and times stripped), and spans recorded by the OTel SDK (``make_fixtures``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.loaders import LoadError, detect_format, load_events

FIX = Path(__file__).parent / "fixtures"
REAL = FIX / "real"
BARE = ["openinference-span/chat-basic.json", "openinference-span/completion-basic.json"]


def _write_json(path: Path, obj, indent: int | None = 2) -> Path:
    path.write_text(json.dumps(obj, indent=indent) + "\n")
    return path


@pytest.mark.parametrize("name", BARE)
def test_a_bare_span_without_time_gets_one_verdict(name):
    res = load_events(REAL / name)
    assert res.format == "otlp"
    assert (res.rows_read, res.rows_loaded, len(res.rejected)) == (1, 0, 1)  # one span, not its text lines
    reason = res.rejected["reason"].iloc[0]
    assert "this span has no start time and cannot be placed on a timeline" in reason
    assert json.loads(res.rejected["raw"].iloc[0])["name"] in ("ChatCompletion", "Completion")
    assert res.spans_by_kind == {"inference": 1}
    assert any("cannot become events" in w for w in res.warnings)


def test_a_bare_span_with_ids_and_times_loads(tmp_path):
    span = json.loads((REAL / BARE[0]).read_text())
    span |= {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
             "startTimeUnixNano": "1755133833000000000", "endTimeUnixNano": "1755133835500000000"}
    res = load_events(_write_json(tmp_path / "span.json", span))
    e = res.frame.iloc[0]
    assert res.rows_loaded == 1 and e["event_id"] == "eee19b7ec3c1b174" and e["latency_ms"] == 2500.0
    assert e["model_version"] == "gpt-5-nano-2025-08-07" and e["model_requested"] == "gpt-5-nano"
    assert (e["input_tokens"], e["output_tokens"]) == (8, 377) and e["finish_reason"] == "stop"
    assert e["input_text"] == "Hello!" and e["output_text"].startswith("Hi there!")
    # the same span in a JSON array, in a ScopeSpans fragment, and as Phoenix's otlpv1 page
    for doc in ([span, span | {"spanId": "eee19b7ec3c1b175"}], {"scope": {"name": "x"}, "spans": [span]}, {"data": [span], "next_cursor": None}):
        r = load_events(_write_json(tmp_path / "doc.json", doc))
        assert r.format == "otlp" and r.rows_loaded == (2 if isinstance(doc, list) else 1)


def test_phoenix_snake_case_otlp(tmp_path):
    span = {"trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "eee19b7ec3c1b174", "name": "ChatCompletion",
            "start_time_unix_nano": 1755133833000000000, "end_time_unix_nano": 1755133834000000000, "status": {"code": 1},
            "attributes": [{"key": "openinference.span.kind", "value": {"string_value": "LLM"}},
                           {"key": "llm.model_name", "value": {"string_value": "gpt-4o-mini"}},
                           {"key": "llm.token_count.prompt", "value": {"int_value": 12}}]}
    res = load_events(_write_json(tmp_path / "p.json", {"resource_spans": [{"scope_spans": [{"spans": [span]}]}]}))
    e = res.frame.iloc[0]
    assert res.format == "otlp" and e["model_version"] == "gpt-4o-mini" and e["input_tokens"] == 12 and e["status"] == "ok"
    assert str(e["ts"]) == "2025-08-14 01:10:33+00:00"


@pytest.mark.parametrize("doc,expect", [
    ({"flags": 1, "foo": {"bar": 1}, "items": [1, 2, 3]}, "'flags', 'foo', 'items'"),
    ([{"request": "a", "when": "b"}], "'request', 'when'"),
])
def test_an_unknown_json_shape_is_one_error(tmp_path, doc, expect):
    p = _write_json(tmp_path / "mystery.json", doc)
    with pytest.raises(LoadError) as e:
        load_events(p)
    msg = str(e.value)
    assert str(p) in msg and "matches no supported format" in msg and expect in msg
    assert "OTLP" in msg and "Langfuse" in msg and "OpenAI Batch" in msg and "event_id and ts" in msg


def test_unknown_jsonl_and_csv_are_one_error(tmp_path):
    p = tmp_path / "log.jsonl"
    p.write_text("\n".join(json.dumps({"request": i, "when": "x"}) for i in range(300)) + "\n")
    with pytest.raises(LoadError, match=r"log.jsonl: matches no supported format: it is JSON Lines whose first record has keys 'request', 'when'"):
        load_events(p)
    c = tmp_path / "log.csv"
    c.write_text("request,when\n1,x\n")
    with pytest.raises(LoadError, match=r"log.csv: matches no supported format: it is a CSV file with columns 'request', 'when'"):
        load_events(c)
    b = tmp_path / "blob.bin"
    b.write_bytes(bytes(range(200, 256)) * 4)
    with pytest.raises(LoadError, match=r"binary data starting with bytes c8 c9"):
        load_events(b)


def test_a_mapping_makes_a_table_canonical(tmp_path):
    c = tmp_path / "log.csv"
    c.write_text("request,when\n1,2026-03-01T12:00:00Z\n")
    res = load_events(c, mapping={"request": "event_id", "when": "ts"})
    assert res.rows_loaded == 1 and res.format == "csv"


def test_pretty_printed_documents_are_never_read_line_by_line(tmp_path):
    # a Langfuse download whose first key holds more than the sniffed head
    doc = json.loads((REAL / "langfuse" / "google-adk-2025-08-28.trace.json").read_text())
    doc["trace"]["input"] = "x" * (3 << 20)
    p = _write_json(tmp_path / "big.trace.json", doc)
    assert detect_format(p) == "langfuse"
    res = load_events(p)
    assert res.rows_read == res.rows_loaded == 2 and len(res.rejected) == 0


def test_the_report_counts_every_kind():
    res = load_events(REAL / "langfuse" / "claude-agent-2025-12-22.trace.json")
    assert res.spans_by_kind["inference"] == 4 and res.spans_by_kind["other"] == 3
    assert "read 7 observations in 1 trace(s)" in res.warnings[0] and "2 TOOL, 1 SPAN" in res.warnings[0]


def test_a_collector_line_longer_than_the_sniffed_head_is_otlp(tmp_path):
    # the collector's file exporter writes a batch per line: thousands of spans, megabytes, one line
    from fixtures import make_fixtures as mf

    line = (FIX / "otlp_genai_collector.jsonl").read_text().splitlines()[0]
    doc = json.loads(line)
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[0]["attributes"].append({"key": "app.note", "value": {"stringValue": "x" * (2 << 20)}})
    p = tmp_path / "traces.jsonl"
    p.write_text(json.dumps(doc, separators=(",", ":")) + "\n" + "\n".join((FIX / "otlp_genai_collector.jsonl").read_text().splitlines()[1:]) + "\n")
    assert len(p.read_text().splitlines()[0]) > 2 << 20 and mf.HERE == FIX.resolve()
    assert detect_format(p) == "otlp"
    small = load_events(FIX / "otlp_genai_collector.jsonl")
    res = load_events(p)
    assert res.rows_read == res.rows_loaded == small.rows_loaded and len(res.rejected) == 0
