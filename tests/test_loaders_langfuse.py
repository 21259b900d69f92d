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
