"""``rows_read == rows_loaded + rejected`` for every trace format, under hypothesis.

Each example takes the real-tool fixtures of one format, breaks some of its records (no start
time, no id, a value that does not parse, a malformed line, a truncated proto file) and checks
that every record is loaded or rejected, and that the report counts the format's own records.

The checks fail a loader that raises :class:`LoadError` while an intact record is left, one that
loads nothing, and one whose ``rows_read`` is not the number of records written. The formats added
later carry the same property in their own files: MLflow (``test_loaders_mlflow.py``), LangSmith
(``test_loaders_langsmith.py``), OpenLLMetry (``test_loaders_openllmetry.py``).
"""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from analysis.loaders import LoadError, load_events

FIX = Path(__file__).parent / "fixtures"
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
BREAKS = st.sampled_from(["keep", "no_start", "no_id", "bad_number", "garbage"])


def _check(path: Path, n_records: int, intact: int) -> None:
    """``n_records`` records written, ``intact`` of them unbroken: a LoadError only when none is."""
    try:
        res = load_events(path)
    except LoadError:
        assert intact == 0, f"LoadError although {intact} of {n_records} records are intact"
        return  # nothing left to load is one clear error, not a silent loss
    assert res.rows_read == res.rows_loaded + len(res.rejected) == n_records
    assert res.rows_loaded >= intact and res.frame["event_id"].is_unique


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
        # the unbroken lines of requests that succeeded (the fixture holds a failed and an expired one)
        ok = [json.loads(x).get("error") is None and json.loads(x)["response"]["status_code"] == 200 for x in lines]
        assert res.rows_loaded >= sum(o and b == "keep" for o, b in zip(ok, breaks + ["keep"] * len(lines)))


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
        broken = [o["type"] == "GENERATION" and b in ("no_start", "no_id", "bad_number")
                  for o, b in zip(doc["observations"], breaks)]
        assert res.rows_loaded >= n_gen - sum(broken)


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
    # the records: chat and embedding calls (read from the attributes here, not by the loader)
    def operation(s):
        return next((a["value"].get("stringValue") for a in s["attributes"] if a["key"] == "gen_ai.operation.name"), None)

    msg_of = [i for i, d in enumerate(docs) for rs in d["resourceSpans"] for ss in rs["scopeSpans"] for _ in ss["spans"]]
    calls = [(m, b) for s, m, b in zip(spans, msg_of, breaks + ["keep"] * len(spans)) if operation(s) in ("chat", "embeddings")]
    intact = sum(b == "keep" for _, b in calls)
    with tempfile.TemporaryDirectory() as tmp:
        j = Path(tmp) / "t.jsonl"
        j.write_text("\n".join(json.dumps(d) for d in docs) + "\n")
        _check(j, len(calls), intact)
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
        kept = data[: max(6, len(data) - cut)]
        p.write_bytes(kept)
        # messages wholly kept give their records; a cut one is one rejection naming what was lost
        whole_msgs = sum(e <= len(kept) for e in itertools.accumulate(len(m) + 4 for m in msgs))
        cut_one = int(whole_msgs < len(msgs))
        _check(p, sum(m < whole_msgs for m, _ in calls) + cut_one, sum(m < whole_msgs and b == "keep" for m, b in calls))
