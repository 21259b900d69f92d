"""``rows_read == rows_loaded + rejected`` for every trace format, under hypothesis.

Each example takes the real-tool fixtures of one format, breaks some of its records (no start
time, no id, a value that does not parse, a malformed line, a truncated proto file) and checks
that every record is loaded or rejected, and that the report counts the format's own records.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from analysis.loaders import LoadError, load_events

FIX = Path(__file__).parent / "fixtures"
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
BREAKS = st.sampled_from(["keep", "no_start", "no_id", "bad_number", "garbage"])


def _check(path: Path, n_records: int) -> None:
    try:
        res = load_events(path)
    except LoadError:
        return  # nothing left to load is one clear error, not a silent loss
    assert res.rows_read == res.rows_loaded + len(res.rejected)
    assert res.rows_read <= n_records and res.frame["event_id"].is_unique


@SETTINGS
@given(st.lists(BREAKS, min_size=1, max_size=8))
def test_openai_lines(breaks):
    lines = (FIX / "openai_batch" / "batch_output.jsonl").read_text().splitlines()
    out = []
    for line, b in zip(lines, breaks + ["keep"] * len(lines)):
        d = json.loads(line)
        body = (d.get("response") or {}).get("body") or {}
        if b == "no_start":
            body.pop("created", None)
        elif b == "no_id":
            body.pop("id", None)
            d.pop("id", None)
        elif b == "bad_number" and "usage" in body:
            body["usage"]["prompt_tokens"] = "lots"
        out.append("{garbage" if b == "garbage" else json.dumps(d))
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "out.jsonl"
        p.write_text("\n".join(out) + "\n")
        res = load_events(p)
        assert res.rows_read == res.rows_loaded + len(res.rejected) == len(out)  # one record per line


@SETTINGS
@given(st.lists(BREAKS, min_size=1, max_size=12))
def test_langfuse_observations(breaks):
    doc = json.loads((FIX / "real" / "langfuse" / "claude-agent-2025-12-22.trace.json").read_text())
    for o, b in zip(doc["observations"], breaks):
        if b == "no_start":
            o.pop("startTime", None)
        elif b == "no_id":
            o["id"] = None
        elif b == "bad_number":
            o["usageDetails"] = {"input": "many"}
        elif b == "garbage":
            o["modelParameters"] = {"temperature": "null", "top_p": None}
    n_gen = sum(o["type"] == "GENERATION" for o in doc["observations"])
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "t.json"
        p.write_text(json.dumps(doc, indent=2))
        res = load_events(p)
        assert res.rows_read == res.rows_loaded + len(res.rejected) == n_gen  # generations, not text lines


@SETTINGS
@given(st.lists(BREAKS, min_size=1, max_size=20), st.integers(0, 400))
def test_otlp_proto_and_json(breaks, cut):
    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

    lines = (FIX / "otlp_genai_collector.jsonl").read_text().splitlines()
    docs = [json.loads(x) for x in lines]
    spans = [s for d in docs for rs in d["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    for s, b in zip(spans, breaks):
        if b == "no_start":
            s.pop("startTimeUnixNano", None)
        elif b == "no_id":
            s.pop("spanId", None)
        elif b == "bad_number":
            s["attributes"].append({"key": "gen_ai.usage.input_tokens", "value": {"stringValue": "lots"}})
    with tempfile.TemporaryDirectory() as tmp:
        j = Path(tmp) / "t.jsonl"
        j.write_text("\n".join(json.dumps(d) for d in docs) + "\n")
        _check(j, len(spans))
        def b64(d):  # protobuf wants base64 ids
            import base64
            out = json.loads(json.dumps(d))
            for rs in out["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    for s in ss["spans"]:
                        for k in ("traceId", "spanId", "parentSpanId"):
                            if s.get(k):
                                s[k] = base64.b64encode(bytes.fromhex(s[k])).decode()
            return out
        msgs = [ParseDict(b64(d), TracesData()).SerializeToString() for d in docs]
        data = b"".join(len(m).to_bytes(4, "big") + m for m in msgs)
        p = Path(tmp) / "t.pb"
        p.write_bytes(data[: max(6, len(data) - cut)])
        _check(p, len(spans))
