"""LangSmith bulk-export runs (``tests/fixtures/langsmith_runs.parquet``, written by
``tests/fixtures/make_langsmith_runs.py`` with the ``langsmith`` SDK): the expected values below are
read from that script (12 traces; ``llm`` runs with gpt-4o-mini-2024-07-18 in traces 0-5 and
gpt-4o-2024-08-06 in 6-11; prompt tokens 40+i, completion tokens 12+i; trace 11 failed with a
RateLimitError; correctness feedback 0 on traces 7 and 9, 1 on the other traces up to 9)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from analysis.loaders import LoadError, load_events
from analysis.loaders.detect import detect_format

FIX = Path(__file__).parent / "fixtures"
RUNS = FIX / "langsmith_runs.parquet"


@pytest.fixture(scope="module")
def loaded():
    return load_events(RUNS)


def test_detected_by_columns_and_the_llm_runs_are_the_requests(loaded) -> None:
    assert detect_format(RUNS) == "langsmith"
    raw = pd.read_parquet(RUNS)
    assert len(raw) == 40 and (raw["run_type"] == "llm").sum() == 12
    assert loaded.rows_read == loaded.rows_loaded == 12 and len(loaded.rejected) == 0
    # 12 chain roots + 4 tool runs are other runs; the 12 retriever runs are folded into the requests
    assert loaded.spans_by_kind == {"inference": 12, "retrieval_folded": 12, "other": 16}
    assert "12 chain run, 4 tool run" in loaded.warnings[0]


def test_models_tokens_times_and_texts(loaded) -> None:
    f = loaded.frame.sort_values("ts").reset_index(drop=True)
    assert f["model_version"].tolist()[:10] == ["gpt-4o-mini-2024-07-18"] * 6 + ["gpt-4o-2024-08-06"] * 4
    assert f["model_version"].iloc[10] == "gpt-4o-2024-08-06"  # LangChain's generations name the response model
    assert f["model_requested"].tolist() == ["gpt-4o-mini"] * 6 + ["gpt-4o"] * 6
    assert f["provider"].eq("openai").all()
    assert f["input_tokens"].tolist()[:11] == [40 + i for i in range(11)]
    assert f["output_tokens"].tolist()[:11] == [12 + i for i in range(11)]
    assert f["ts"].iloc[0] == pd.Timestamp("2026-03-02T09:00:00.070Z")
    assert f["latency_ms"].iloc[3] == pytest.approx(830.0)
    assert f["time_to_first_token_ms"].iloc[0] == pytest.approx(300.0)
    assert f["input_text"].iloc[0] == "How do I reset my password?"  # the last user message, not the system prompt
    assert f["input_text"].iloc[10] == "Can I change my plan?"  # LangChain's serialized HumanMessage
    assert f["output_text"].iloc[2] == "Answer 2: see the help centre."
    assert f["output_text"].iloc[10] == "Answer 10: see the help centre."
    assert f["finish_reason"].iloc[4] == "length" and f["finish_reason"].iloc[0] == "stop"
    assert f["temperature"].eq(0.2).all() and f["max_tokens"].iloc[0] == 256
    assert f["upstream_fingerprint"].iloc[1] == "fp_1a1b2c3"


def test_sessions_users_documents_and_errors(loaded) -> None:
    f = loaded.frame.sort_values("ts").reset_index(drop=True)
    assert f["session_id"].tolist() == [f"sess-{i // 3}" for i in range(12)]
    assert f["user_id"].tolist() == [f"user-{i % 5}" for i in range(12)]
    assert f["retrieval_doc_ids"].iloc[1] == ["kb-1-0", "kb-1-1", "kb-1-2"]
    assert f["retrieval_scores"].iloc[1] == pytest.approx([0.9, 0.8, 0.7])
    assert f["retrieval_documents"].iloc[1][0] == "Help article 0 for question 1."
    assert f["status"].tolist() == ["ok"] * 11 + ["error"]
    assert f["error_type"].iloc[11] == "RateLimitError"
    assert pd.isna(f["input_tokens"].iloc[11]) and pd.isna(f["output_text"].iloc[11])


def test_feedback_stats_become_columns_and_correctness_the_outcome(loaded) -> None:
    f = loaded.frame.sort_values("ts").reset_index(drop=True)
    assert f["correct"].iloc[:10].tolist() == [i not in (7, 9) for i in range(10)]
    assert f["correct"].iloc[10:].isna().all()  # no feedback: no label invented
    assert f["feedback.correctness"].iloc[7] == 0.0
    assert f["feedback.helpfulness.label"].iloc[0] == "helpful"
    assert f["feedback.user_score"].iloc[1] == 0.5
    assert f["hallucinated"].isna().all() and f["quality_score"].isna().all()  # no other key is read as an outcome


def test_a_mapping_replaces_the_default_outcome() -> None:
    res = load_events(RUNS, mapping={"feedback.user_score": "quality_score"})
    f = res.frame.sort_values("ts").reset_index(drop=True)
    assert f["quality_score"].iloc[1] == 0.5 and f["quality_score"].notna().sum() == 1


def test_runs_as_json_lines_get_one_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "runs.jsonl"
    p.write_text("\n".join(json.dumps(r, default=str) for r in pd.read_parquet(RUNS).head(3).to_dict("records")))
    with pytest.raises(LoadError, match="read from a Parquet file or a database table"):
        load_events(p, format="langsmith")


SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(st.lists(st.sampled_from(["keep", "no_start", "no_id", "bad_tokens"]), min_size=1, max_size=40), st.integers(1, 40))
def test_every_llm_run_is_loaded_or_rejected(breaks, chunk):
    t = pq.read_table(RUNS)
    rows = t.to_pylist()
    for r, b in zip(rows, breaks):
        if b == "no_start":
            r["start_time"] = None
        elif b == "no_id":
            r["id"] = None
        elif b == "bad_tokens":
            r["prompt_tokens"] = None
            r["extra"] = json.dumps({"invocation_params": {"max_tokens": "lots"}})
    n_llm = sum(r["run_type"] == "llm" for r in rows)
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "runs.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=t.schema), p, row_group_size=chunk)
        try:
            res = load_events(p)
        except LoadError:
            assert all(r["run_type"] != "llm" or r["start_time"] is None or r["id"] is None for r in rows)
            return
        assert res.rows_read == res.rows_loaded + len(res.rejected) == n_llm
