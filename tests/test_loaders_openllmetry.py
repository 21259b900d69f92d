"""OpenLLMetry (Traceloop) spans inside OTLP, on files written by the real ``traceloop-sdk`` and
``opentelemetry-instrumentation-openai`` against a stub of the OpenAI API
(``tests/fixtures/make_openllmetry.py``): 0.47.5 writes the older indexed attributes
(``gen_ai.prompt.N.*``, ``gen_ai.completion.N.*``, ``gen_ai.usage.prompt_tokens``), 0.62.4 the
message attributes (``gen_ai.input.messages``/``gen_ai.output.messages``, ``gen_ai.usage.input_tokens``).

Expected values are the stub's answers (the ``REPLIES`` table of the script) and the app's calls,
read by hand; counts come from the raw files.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from analysis.loaders import load_events
from analysis.loaders.detect import detect_format

ROOT = Path(__file__).resolve().parents[1]
DIR = ROOT / "tests" / "fixtures" / "real" / "openllmetry"
OLD, NEW = DIR / "traceloop-sdk-0.47.5.jsonl", DIR / "traceloop-sdk-0.62.4.jsonl"
BOTH = pytest.mark.parametrize("path", [OLD, NEW], ids=["indexed-0.47.5", "messages-0.62.4"])

MINI, FOUR = ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"), ("gpt-4o", "gpt-4o-2024-08-06")
LOCKER = "Can you deliver to a locker in Bristol or to my office on Saturday morning?"
# input_text -> requested and response model, tokens in/out, output_text, finish reason, user, session
EXPECTED = {
    "ping": (*MINI, 8, 2, "pong", "stop", None, None),
    "Classify: My parcel 4411 is late.": (*MINI, 14, 3, "delivery_delay", "stop", "u-1001", "sess-a1"),
    "My parcel 4411 is late.": (*FOUR, 31, 19, "Sorry about the delay. Parcel 4411 is at the Leeds depot and arrives tomorrow.",
                                "stop", "u-1001", "sess-a1"),
    "Classify: I was charged twice for order 7302.": (*MINI, 16, 4, "billing_duplicate", "stop", "u-1002", "sess-b2"),
    "I was charged twice for order 7302.": (
        *FOUR, 33, 22, "We have refunded the second charge for order 7302. It reaches your card in 3-5 days.", "stop", "u-1002", "sess-b2"),
    f"Classify: {LOCKER}": (*MINI, 24, 5, "delivery_options locker saturday office request", "length", "u-1001", "sess-a3"),
    # refused with 429: no response, so the model is the requested one and there are no tokens
    LOCKER: ("gpt-4o", "gpt-4o", None, None, None, None, "u-1001", "sess-a3"),
}
COLUMNS = ["model_requested", "model_version", "input_tokens", "output_tokens", "output_text", "finish_reason", "user_id", "session_id"]


def _raw_spans(path: Path) -> list[tuple[str, dict, dict]]:
    """(scope name, span, attributes) of every span in the file, read with json only."""
    out = []
    for line in path.read_text().splitlines():
        for rs in json.loads(line)["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for sp in ss["spans"]:
                    attrs = {a["key"]: next(iter(a["value"].values()), None) for a in sp["attributes"]}
                    out.append((ss["scope"]["name"], sp, attrs))
    return out


def _none(v: object) -> object:
    return None if v is None or (not isinstance(v, str) and pd.isna(v)) else v


def test_the_files_hold_the_two_attribute_styles() -> None:
    old = [a for scope, _, a in _raw_spans(OLD) if scope.startswith("opentelemetry.instrumentation.openai")]
    new = [a for scope, _, a in _raw_spans(NEW) if scope.startswith("opentelemetry.instrumentation.openai")]
    assert len(old) == len(new) == 7
    assert all("gen_ai.prompt.0.content" in a and "gen_ai.input.messages" not in a for a in old)
    assert sum("gen_ai.completion.0.content" in a and "gen_ai.usage.prompt_tokens" in a for a in old) == 6
    assert all("gen_ai.input.messages" in a and "gen_ai.prompt.0.content" not in a for a in new)
    assert sum("gen_ai.output.messages" in a and "gen_ai.usage.input_tokens" in a for a in new) == 6
    assert all("llm.request.type" in a and "gen_ai.operation.name" not in a for a in old)


@BOTH
def test_every_llm_span_is_one_event_and_workflow_and_task_spans_are_not(path: Path) -> None:
    raw = _raw_spans(path)
    llm = {sp["spanId"] for scope, sp, _ in raw if scope.startswith("opentelemetry.instrumentation.openai")}
    kinds = sorted(a.get("traceloop.span.kind") for scope, _, a in raw if scope == "traceloop.tracer")
    assert len(raw) == 16 and len(llm) == 7 and kinds == ["task"] * 6 + ["workflow"] * 3
    assert detect_format(path) == "otlp"
    res = load_events(path)
    assert res.rows_read == res.rows_loaded == 7 and res.rejected.empty
    assert set(res.frame["event_id"]) == llm
    assert res.spans_by_kind == {"inference": 7, "other": 9}
    assert "6 task, 3 workflow" in res.warnings[0]
    # three workflow traces of two calls each, and the bare call alone in its trace
    assert sorted(res.frame["trace_id"].value_counts().tolist()) == [1, 2, 2, 2]


@BOTH
def test_models_tokens_texts_finish_reasons_and_association_properties(path: Path) -> None:
    f = load_events(path).frame.set_index("input_text")
    assert sorted(f.index) == sorted(EXPECTED)
    for text, want in EXPECTED.items():
        got = tuple(_none(f.at[text, c]) for c in COLUMNS)
        assert got == want, text
    assert (f["provider"] == "openai").all()
    assert f.loc[f["status"] != "error", "upstream_fingerprint"].eq("fp_stub2026").all()
    assert f.at["My parcel 4411 is late.", "temperature"] == 0.3 and f.at[f"Classify: {LOCKER}", "max_tokens"] == 5
    # the association properties are columns once, as user_id/session_id, not again under their own keys
    assert not any(c.startswith("traceloop.association.properties.") for c in f.columns)
    assert (f["traceloop.workflow.name"].dropna() == "support_ticket").sum() == 6


@BOTH
def test_the_refused_call_is_an_error_event(path: Path) -> None:
    res = load_events(path)
    err = res.frame[res.frame["status"] == "error"]
    assert len(err) == 1
    e = err.iloc[0]
    assert e["input_text"] == LOCKER and e["error_type"] == "RateLimitError"
    assert e["event_id"] == "65da8a829df37d17"  # the span whose status is 2 (error) in the file
    assert any("no gen_ai.response.model" in w for w in res.warnings)
    assert set(res.frame.loc[res.frame["status"] != "error", "status"]) == {"unset"}  # the SDK sets no OK status


@BOTH
def test_times_come_from_the_spans(path: Path) -> None:
    f = load_events(path).frame.sort_values("ts")
    # the script's clock: 2026-03-02T09:00:00Z plus 25 ms a reading, a minute between tickets
    assert f["ts"].iloc[0] == pd.Timestamp("2026-03-02T09:00:00.025Z")
    assert f["input_text"].iloc[0] == "ping"
    assert (f["latency_ms"] > 0).all()
    assert f["ts"].dt.floor("min").drop_duplicates().tolist() == [pd.Timestamp(f"2026-03-02T09:0{m}:00Z") for m in range(4)]


def test_association_properties_on_the_workflow_only_reach_its_calls(tmp_path: Path) -> None:
    """An app that sets them before the workflow starts has them on the workflow span alone."""
    lines = []
    for line in NEW.read_text().splitlines():
        d = json.loads(line)
        for rs in d["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for sp in ss["spans"]:
                    if not sp["name"].endswith(".workflow"):
                        sp["attributes"] = [a for a in sp["attributes"] if not a["key"].startswith("traceloop.association.")]
        lines.append(json.dumps(d))
    path = tmp_path / "workflow-only.jsonl"
    path.write_text("\n".join(lines) + "\n")
    f = load_events(path).frame.set_index("input_text")
    for text, want in EXPECTED.items():
        assert (_none(f.at[text, "user_id"]), _none(f.at[text, "session_id"])) == want[-2:], text


def test_convert_command_on_the_older_style(tmp_path: Path) -> None:
    out = tmp_path / "openllmetry.parquet"
    run = subprocess.run([sys.executable, "-m", "analysis", "convert", "--events", str(OLD), "--out", str(out)],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "(otlp): 7 rows read, 7 written" in run.stdout and "0 rejected" in run.stdout
    assert "6 task, 3 workflow" in run.stdout
    f = pd.read_parquet(out).set_index("input_text")
    assert len(f) == 7
    for text, want in EXPECTED.items():
        assert tuple(_none(f.at[text, c]) for c in COLUMNS) == want, text


BREAKS = st.sampled_from(["keep", "no_start", "no_id", "bad_number"])


@settings(max_examples=20, deadline=None)
@given(st.lists(BREAKS, min_size=7, max_size=7), st.integers(0, 2), st.sampled_from([OLD, NEW]))
def test_every_llm_span_is_loaded_or_rejected(breaks, garbage, path):
    """Break some LLM spans and add unparsable lines: each is one record, loaded or rejected."""
    docs = [json.loads(x) for x in path.read_text().splitlines()]
    llm = [sp for d in docs for rs in d["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]
           if ss["scope"]["name"].startswith("opentelemetry.instrumentation.openai")]
    for sp, b in zip(llm, breaks):
        if b == "no_start":
            sp.pop("startTimeUnixNano")
        elif b == "no_id":
            sp.pop("spanId")
        elif b == "bad_number":
            sp["attributes"] = [a for a in sp["attributes"] if not a["key"].startswith("gen_ai.usage.")]
            sp["attributes"].append({"key": "gen_ai.usage.input_tokens", "value": {"stringValue": "lots"}})
    lines = [json.dumps(d) for d in docs] + ['{"resourceSpans": [' for _ in range(garbage)]
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "t.jsonl"
        p.write_text("\n".join(lines) + "\n")
        res = load_events(p)
    assert res.rows_read == res.rows_loaded + len(res.rejected) == 7 + garbage
    # a token count that is not a number is a rejected event too, with its reason
    assert len(res.rejected) == len(breaks) - breaks.count("keep") + garbage
    assert res.frame["event_id"].is_unique
