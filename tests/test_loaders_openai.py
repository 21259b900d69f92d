"""OpenAI Batch output joined with its input, and chat-completion / Responses objects one per line.

Reference: the lines written by ``make_fixtures.openai_batch`` and ``openai_responses``, whose
bodies are the ``openai`` package's own pydantic types dumped as the API returns them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.loaders import LoadError, detect_format, load_events
from analysis.schema import EVENTS, validate

from fixtures import make_fixtures as mf  # tests/ is on sys.path (rootdir-relative imports)

FIX = Path(__file__).parent / "fixtures"
BATCH = FIX / "openai_batch"
INPUTS, OUTPUTS = mf.openai_batch()


def _ok_lines():
    return [o for o in OUTPUTS if o.get("response") and o["response"]["status_code"] == 200]


def test_detection():
    for p in (BATCH, BATCH / "batch_output.jsonl", FIX / "openai_responses.jsonl", FIX / "openai_chat_completions.jsonl"):
        assert detect_format(p) == "openai"


@pytest.mark.parametrize("how", ["folder", "batch_input"])
def test_batch_output_joined_with_its_input(how):
    res = load_events(BATCH) if how == "folder" else load_events(BATCH / "batch_output.jsonl", batch_input=BATCH / "batch_input.jsonl")
    validate(res.frame, EVENTS)
    assert (res.rows_read, res.rows_loaded, len(res.rejected)) == (8, 6, 2)
    f = res.frame.set_index("custom_id")
    reqs = {x["custom_id"]: x["body"] for x in INPUTS}
    for line in _ok_lines():
        body, req = line["response"]["body"], reqs[line["custom_id"]]
        e = f.loc[line["custom_id"]]
        assert e["event_id"] == body["id"] and e["ts"] == pd.Timestamp(body["created"], unit="s", tz="UTC")
        assert e["model_version"] == body["model"] and e["model_requested"] == req["model"] == "gpt-4o"
        assert e["upstream_fingerprint"] == body["system_fingerprint"]
        assert e["input_tokens"] == body["usage"]["prompt_tokens"] and e["output_tokens"] == body["usage"]["completion_tokens"]
        assert e["temperature"] == req["temperature"] and e["max_tokens"] == req["max_tokens"] and e["seed"] == req["seed"]
        assert e["input_text"] == req["messages"][-1]["content"]
        assert e["finish_reason"] == body["choices"][0]["finish_reason"]
        msg = body["choices"][0]["message"]
        assert e["refused"] == (msg["refusal"] is not None or e["finish_reason"] == "content_filter")
        assert e["metadata.queue"] == req["metadata"]["queue"] and e["request_id"] == line["response"]["request_id"]
    assert f["refused"].sum() == 2  # ticket 2 (message.refusal) and 5 (content_filter)
    reasons = dict(zip(res.rejected["row"], res.rejected["reason"]))
    rows = {o["custom_id"]: i + 1 for i, o in enumerate(OUTPUTS)}
    assert "batch_expired" in reasons[rows["ticket-006"]]
    assert "HTTP 429: rate_limit_exceeded" in reasons[rows["ticket-007"]]
    assert any("joined 6 response(s) with the 8 request(s)" in w for w in res.warnings)


def test_batch_output_alone_says_what_is_missing():
    res = load_events(BATCH / "batch_output.jsonl")
    assert res.rows_loaded == 6 and res.frame["model_requested"].isna().all()
    assert any("no Batch input file given" in w for w in res.warnings)


def test_chat_completion_objects_one_per_line():
    res = load_events(FIX / "openai_chat_completions.jsonl")
    ref = load_events(BATCH).frame.set_index("event_id")
    f = res.frame.set_index("event_id")
    assert res.rows_loaded == len(_ok_lines()) == 6
    for c in ("ts", "model_version", "upstream_fingerprint", "refused", "finish_reason", "input_tokens", "output_tokens", "output_text"):
        assert f[c].astype(str).tolist() == ref.loc[f.index, c].astype(str).tolist(), c


def test_responses_objects():
    rows = mf.openai_responses()
    res = load_events(FIX / "openai_responses.jsonl")
    f = res.frame.set_index("event_id")
    assert res.rows_loaded == 3 and list(f.index) == [r["id"] for r in rows]
    assert f["output_text"].iloc[0] == "Your parcel left the depot today."
    assert f["refused"].tolist()[:2] == [False, True] and pd.isna(f["refused"].iloc[2])
    assert f["finish_reason"].tolist() == ["stop", "stop", "tool_calls"]
    assert f["input_tokens"].tolist() == [r["usage"]["input_tokens"] for r in rows]
    assert f["ts"].iloc[1] == pd.Timestamp(rows[1]["created_at"], unit="s", tz="UTC")


def test_error_lines_and_garbage_are_counted(tmp_path):
    lines = (BATCH / "batch_output.jsonl").read_text().splitlines()
    lines.insert(2, '{"custom_id": "x", "respo')
    lines.append(json.dumps({"hello": "world"}))
    p = tmp_path / "out.jsonl"
    p.write_text("\n".join(lines) + "\n")
    res = load_events(p)
    assert (res.rows_read, res.rows_loaded, len(res.rejected)) == (10, 6, 4)
    assert any("malformed JSON" in r for r in res.rejected["reason"])
    assert any("not an OpenAI Batch output line" in r for r in res.rejected["reason"])


def test_batch_input_on_another_format_is_an_error():
    with pytest.raises(LoadError, match="batch_input"):
        load_events(FIX / "otlp_genai_request.json", batch_input=BATCH / "batch_input.jsonl")
