"""Langfuse exports: bulk CSV directory, JSONL observations, API pages, single-trace download.

Reference: the rows written by ``make_fixtures._lf_rows`` (the export schema filled by hand).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.loaders import detect_format, load_events
from analysis.schema import EVENTS, validate

from fixtures import make_fixtures as mf  # tests/ is on sys.path (rootdir-relative imports)

FIX = Path(__file__).parent / "fixtures"
TRACES, OBS, SCORES = mf._lf_rows()
GENS = [o for o in OBS if o["type"] == "GENERATION"]


def test_detection():
    assert detect_format(FIX / "langfuse_export") == "langfuse"
    assert detect_format(FIX / "langfuse_export" / "observations.csv") == "langfuse"
    assert detect_format(FIX / "langfuse_observations.jsonl") == "langfuse"
    assert detect_format(FIX / "langfuse_trace.json") == "langfuse"


def test_bulk_export_directory():
    res = load_events(FIX / "langfuse_export")
    validate(res.frame, EVENTS)
    assert res.rows_read == res.rows_loaded == 8 and len(res.rejected) == 0
    assert res.spans_by_kind["inference"] == 8 and res.spans_by_kind["scores_unattached"] == 1
    f = res.frame.set_index("event_id")
    for o in GENS:
        e = f.loc[o["id"]]
        # naive export timestamps are UTC by Langfuse's specification
        assert e["ts"] == pd.Timestamp(o["start_time"], tz="UTC")
        assert e["latency_ms"] == pytest.approx((pd.Timestamp(o["end_time"]) - pd.Timestamp(o["start_time"])).total_seconds() * 1000)
        usage = json.loads(o["usage_details"])
        assert e["input_tokens"] == usage["input"] and e["output_tokens"] == usage["output"]
        assert e["temperature"] == 0.3 and e["max_tokens"] == 512  # model_parameters, "0.3" as a string
        assert e["model_version"] == o["model"]
        assert e["prompt_template_version"] == str(o["prompt_version"])
        assert e["input_text"] == json.loads(o["input"])[-1]["content"]
        assert e["output_text"] == json.loads(o["output"])["content"]
        assert e["status"] == ("error" if o["level"] == "ERROR" else "ok")
        t = next(t for t in TRACES if t["id"] == o["trace_id"])
        assert e["session_id"] == t["session_id"] and e["user_id"] == t["user_id"]
        assert e["metadata.traffic_source"] == json.loads(t["metadata"])["traffic_source"]
        esc = next(s for s in SCORES if s.get("observation_id") == o["id"])
        assert e["score.escalated"] == esc["value"]
        assert e["score.helpfulness"] == next(s["value"] for s in SCORES if s["trace_id"] == o["trace_id"] and s["name"] == "helpfulness")
    assert f["escalated"].isna().all()  # scores become outcomes only through the mapping


def test_scores_to_outcomes_through_mapping():
    res = load_events(FIX / "langfuse_export", mapping={"score.escalated": "escalated", "metadata.query_category": "query_category"})
    f = res.frame.set_index("event_id")
    for o in GENS:
        i = int(o["id"][4:7])
        assert f.loc[o["id"], "escalated"] == (i >= 5)
        assert f.loc[o["id"], "query_category"] == ("general" if i >= 5 else "account")


def test_jsonl_observations_and_single_trace():
    a = load_events(FIX / "langfuse_observations.jsonl").frame.set_index("event_id")
    b = load_events(FIX / "langfuse_export").frame.set_index("event_id")
    for c in ("ts", "model_version", "input_tokens", "retrieval_scores", "latency_ms", "input_text"):
        assert a[c].astype(str).tolist() == b.loc[a.index, c].astype(str).tolist(), c
    one = load_events(FIX / "langfuse_trace.json")
    assert one.rows_loaded == 1
    e = one.frame.iloc[0]
    assert e["event_id"] == "obs-005-gen" and e["ts"] == pd.Timestamp("2026-03-01T12:25:00.100Z")
    assert e["score.escalated"] == 1.0 and e["session_id"] == "chat-2" and list(e["retrieval_doc_ids"]) == ["kb-5", "kb-6"]


def test_api_page_camel_case(tmp_path):
    page = {"data": [{mf._camel(k): v for k, v in o.items()} for o in OBS], "meta": {"page": 1, "totalItems": len(OBS)}}
    p = tmp_path / "observations_page.json"
    p.write_text(json.dumps(page))
    res = load_events(p)
    assert res.format == "langfuse" and res.rows_loaded == 8
    assert sorted(res.frame["event_id"]) == sorted(o["id"] for o in GENS)


def test_bad_rows_in_csv(tmp_path):
    d = tmp_path / "export"
    d.mkdir()
    text = (FIX / "langfuse_export" / "observations.csv").read_text().splitlines()
    text.insert(3, "broken,row")
    text.append(text[-1])  # a repeated GENERATION row
    (d / "observations.csv").write_text("\n".join(text) + "\n")
    res = load_events(d)
    assert res.rows_read == res.rows_loaded + len(res.rejected)
    reasons = res.rejected["reason"].tolist()
    assert any("observations.csv: malformed CSV row" in r for r in reasons)
    assert any("duplicate of 'obs-007-gen'" in r for r in reasons)


# --------------------------------------------------------------------------------------------
# Real single-trace downloads (fixtures/real/langfuse, see its NOTICE) and their variants
# --------------------------------------------------------------------------------------------

REAL = FIX / "real" / "langfuse"
REAL_FILES = {
    # file: (generations, other observations, model, tokens of the first generation by start)
    "claude-agent-2025-12-22.trace.json": (4, 3, "claude-sonnet-4-5-20250929", (19, 29)),
    "openai-agents-2025-09-30.trace.json": (2, 3, "gpt-4.1-2025-04-14", (55, 15)),
    "google-adk-2025-08-28.trace.json": (2, 3, "gemini-2.0-flash", (28, 3)),
}


def _real(name):
    return json.loads((REAL / name).read_text())


@pytest.mark.parametrize("name", sorted(REAL_FILES))
def test_real_downloads_load_right(name):
    n_gen, n_other, model, tokens = REAL_FILES[name]
    doc = _real(name)
    res = load_events(REAL / name)
    validate(res.frame, EVENTS)
    assert res.format == "langfuse" and res.rows_read == res.rows_loaded == n_gen and len(res.rejected) == 0
    assert res.spans_by_kind["inference"] == n_gen and res.spans_by_kind["other"] == n_other
    f = res.frame.sort_values("ts").reset_index(drop=True)
    gens = sorted((o for o in doc["observations"] if o["type"] == "GENERATION"), key=lambda o: o["startTime"])
    assert f["event_id"].tolist() == [o["id"] for o in gens]
    assert (f["trace_id"] == doc["trace"]["id"]).all() and (f["model_version"] == model).all()
    assert (f["input_tokens"].iloc[0], f["output_tokens"].iloc[0]) == tokens
    for e, o in zip(f.itertuples(), gens):
        assert e.ts == pd.Timestamp(o["startTime"])
        assert e.latency_ms == pytest.approx((pd.Timestamp(o["endTime"]) - pd.Timestamp(o["startTime"])).total_seconds() * 1000)
    # the trace's scores reach every generation of the trace
    for s in doc["trace"]["scores"]:
        assert (f[f"score.{s['name']}"] == s["value"]).all()


def test_real_downloads_fill_columns_from_the_sdk_attributes():
    f = load_events(REAL / "google-adk-2025-08-28.trace.json").frame
    assert set(f["provider"]) == {"google"} and set(f["finish_reason"]) == {"STOP"}
    assert set(f["session_id"]) == {"demo-session"}
    f = load_events(REAL / "openai-agents-2025-09-30.trace.json").frame.sort_values("ts")
    assert f["input_text"].iloc[0] == "What's the weather in Tokyo?"
    assert f["output_text"].iloc[1].startswith("The weather in Tokyo is currently sunny")  # a Responses body
    assert (f["temperature"] == 1.0).all() and (f["top_p"] == 1.0).all()


def _reference(name):
    return load_events(REAL / name).frame.sort_values("event_id").reset_index(drop=True)


@pytest.mark.parametrize("name", sorted(REAL_FILES))
def test_observations_scores_variant_without_trace(tmp_path, name):
    doc = _real(name)
    variant = {"observations": doc["observations"], "scores": doc["trace"]["scores"]}
    p = tmp_path / "v.json"
    p.write_text(json.dumps(variant, indent=2))
    got = load_events(p).frame.sort_values("event_id").reset_index(drop=True)
    ref = _reference(name)
    for c in ("event_id", "ts", "model_version", "input_tokens", "output_tokens", "latency_ms", "input_text", "output_text"):
        assert got[c].astype(str).tolist() == ref[c].astype(str).tolist(), c
    assert [c for c in ref if c.startswith("score.")] == [c for c in got if c.startswith("score.")]


@pytest.mark.parametrize("name", sorted(REAL_FILES))
def test_fields_as_objects_or_strings_give_the_same_events(tmp_path, name):
    doc = _real(name)
    for o in doc["observations"]:
        for k in ("input", "output", "metadata"):
            if isinstance(o.get(k), str):
                try:
                    o[k] = json.loads(o[k])
                except json.JSONDecodeError:
                    pass
        o["usageDetails"] = json.dumps(o.get("usageDetails") or {})
    p = tmp_path / "objects.json"
    p.write_text(json.dumps(doc))
    got = load_events(p).frame.sort_values("event_id").reset_index(drop=True)
    ref = _reference(name)
    for c in ("model_version", "input_tokens", "output_tokens", "input_text", "output_text", "provider", "finish_reason"):
        assert got[c].astype(str).tolist() == ref[c].astype(str).tolist(), c


@pytest.mark.parametrize("nothing", [None, "null", "None", "undefined", "", "Infinity"])
def test_null_model_parameters_never_cost_the_event(tmp_path, nothing):
    doc = _real("openai-agents-2025-09-30.trace.json")
    for o in doc["observations"]:
        if o["type"] == "GENERATION":
            o["modelParameters"] |= {"top_p": nothing, "temperature": nothing, "max_tokens": nothing, "seed": nothing}
    p = tmp_path / "nulls.json"
    p.write_text(json.dumps(doc, indent=2))
    res = load_events(p)
    assert res.rows_loaded == 2 and len(res.rejected) == 0
    assert res.frame[["top_p", "temperature", "max_tokens", "seed"]].isna().all().all()


def test_every_observation_type_and_varying_key_sets(tmp_path):
    doc = _real("claude-agent-2025-12-22.trace.json")
    gen = next(o for o in doc["observations"] if o["type"] == "GENERATION")
    extra = []
    for i, t in enumerate(["EVENT", "EVALUATOR", "GUARDRAIL", "EMBEDDING", "RETRIEVER", "CHAIN", "AGENT"]):
        o = {k: gen[k] for k in ("traceId", "startTime", "name", "metadata")}
        extra.append(o | {"id": f"{i:016x}", "type": t, "parentObservationId": gen["parentObservationId"]})
    # an SDK that writes few keys: no endTime, usage with only input and total, no cost, no model parameters
    lean = {"id": "a" * 16, "traceId": gen["traceId"], "type": "GENERATION", "startTime": gen["startTime"],
            "model": "claude-sonnet-4-5", "usageDetails": {"input": 7, "total": 10}, "input": "plain text, not JSON"}
    doc["observations"] += extra + [lean]
    p = tmp_path / "types.json"
    p.write_text(json.dumps(doc, indent=2))
    res = load_events(p)
    assert res.rows_loaded == 5 + 1 and len(res.rejected) == 0  # the EMBEDDING observation is an event of its own
    assert res.spans_by_kind["inference"] == 5 and res.spans_by_kind["embedding"] == 1
    assert res.frame["operation"].value_counts().to_dict() == {"chat": 5, "embeddings": 1}
    assert res.spans_by_kind["other"] + res.spans_by_kind.get("retrieval_folded", 0) + res.spans_by_kind["embedding"] == 3 + 7
    e = res.frame.set_index("event_id").loc["a" * 16]
    assert e["input_tokens"] == 7 and pd.isna(e["output_tokens"]) and pd.isna(e["latency_ms"])
    assert e["input_text"] == "plain text, not JSON"
    for t in ("EVENT", "EVALUATOR", "GUARDRAIL", "CHAIN", "AGENT"):
        assert t in res.warnings[0]


def test_a_generation_without_start_time_is_one_verdict(tmp_path):
    doc = _real("google-adk-2025-08-28.trace.json")
    gen = next(o for o in doc["observations"] if o["type"] == "GENERATION")
    del gen["startTime"]
    p = tmp_path / "nostart.json"
    p.write_text(json.dumps(doc, indent=2))
    res = load_events(p)
    assert (res.rows_read, res.rows_loaded, len(res.rejected)) == (2, 1, 1)
    assert "this observation has no start time" in res.rejected["reason"].iloc[0]


# --------------------------------------------------------------------------------------------
# The scheduled blob export (make_fixtures.write_langfuse_blob), read through DuckDB
# --------------------------------------------------------------------------------------------

BLOB = FIX / "langfuse_blob"


def test_blob_export_gives_the_same_events_as_the_csv_export():
    assert detect_format(BLOB) == "langfuse"
    res = load_events(BLOB)
    validate(res.frame, EVENTS)
    assert res.rows_read == res.rows_loaded == 8 and len(res.rejected) == 0
    a = res.frame.set_index("event_id").sort_index()
    b = load_events(FIX / "langfuse_export").frame.set_index("event_id").sort_index()
    for c in ("ts", "latency_ms", "model_version", "input_tokens", "output_tokens", "temperature", "max_tokens", "input_text",
              "output_text", "score.escalated", "score.helpfulness", "session_id", "metadata.query_category",
              "prompt_template_version", "retrieval_scores", "status"):
        assert a[c].astype(str).tolist() == b[c].astype(str).tolist(), c
    # the runs overlap: the repeated rows are kept once, and the report says so
    assert any("3 row(s) repeated across overlapping runs were kept once" in w for w in res.warnings)
    assert sum(v for k, v in res.spans_by_kind.items() if not k.startswith("scores")) == len(OBS)


def test_blob_scores_become_outcomes_through_the_mapping():
    f = load_events(BLOB, mapping={"score.escalated": "escalated"}).frame.set_index("event_id")
    for o in GENS:
        assert f.loc[o["id"], "escalated"] == (int(o["id"][4:7]) >= 5)


def test_blob_manifest_naming_a_missing_file_is_an_error(tmp_path):
    import shutil

    from analysis.loaders import LoadError

    d = tmp_path / "export"
    shutil.copytree(BLOB, d)
    (d / "proj-1" / "scores" / "2026-03-01T12-30-00.csv").unlink()
    with pytest.raises(LoadError, match=r"manifest .*names 'proj-1/scores/2026-03-01T12-30-00.csv' \(scores, 17 rows\), which is not in the export"):
        load_events(d)


def test_retriever_documents_text(tmp_path):
    # a retriever observation's output as LangChain writes it: Documents with page_content and metadata
    doc = json.loads((FIX / "langfuse_trace.json").read_text())
    ret = next(o for o in doc["observations"] if o["type"] == "RETRIEVER")
    ret["output"] = [{"page_content": f"Refund policy {d['id']}: 30 days.", "metadata": {"id": d["id"], "score": d["score"]}}
                     for d in ret["output"]]
    p = tmp_path / "trace.json"
    p.write_text(json.dumps(doc))
    e = load_events(p).frame.iloc[0]
    assert list(e["retrieval_doc_ids"]) == ["kb-5", "kb-6"] and list(e["retrieval_scores"]) == [0.65, 0.55]
    assert list(e["retrieval_documents"]) == ["Refund policy kb-5: 30 days.", "Refund policy kb-6: 30 days."]
