"""Embedding events are kept apart from the chat metrics, and their model's versions are candidate changes.

On a hand-built canonical table (counts and times set here) and through the command on the RAG
export written by ``tests/fixtures/make_embedding_fixtures.py`` (the embedding model switches at a
known time; the change log forgot it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.engine import open_engine
from analysis.investigation.operations import set_apart

from fixtures import make_embedding_fixtures as mk  # tests/ is on sys.path (rootdir-relative imports)

ROOT = Path(__file__).resolve().parents[1]
FIX = Path(__file__).parent / "fixtures"
T0 = pd.Timestamp("2026-03-01T00:00:00Z")
SWITCH = T0 + pd.Timedelta(hours=30)


def _events(n_chat: int = 96, n_emb: int = 48, chat_op: str | None = "chat") -> pd.DataFrame:
    """Chat events every 30 minutes (no embedding model on them) and embedding events every hour,
    their model switching at ``SWITCH``."""
    chat = pd.DataFrame({"event_id": [f"c{i}" for i in range(n_chat)], "ts": [T0 + pd.Timedelta(minutes=30 * i) for i in range(n_chat)],
                         "operation": chat_op, "refused": [i % 10 == 0 for i in range(n_chat)], "latency_ms": 900.0})
    ts = [T0 + pd.Timedelta(hours=i, minutes=1) for i in range(n_emb)]
    emb = pd.DataFrame({"event_id": [f"e{i}" for i in range(n_emb)], "ts": ts, "operation": "embeddings", "latency_ms": 30.0,
                        "embedding_model": [mk.SMALL if t < SWITCH else mk.LARGE for t in ts]})
    return pd.concat([chat, emb], ignore_index=True)


@pytest.mark.parametrize("chat_op", ["chat", None])
def test_embedding_events_are_kept_apart_and_their_switch_inferred(chat_op):
    eng = open_engine(_events(chat_op=chat_op))
    apart = set_apart(eng, None)
    assert apart.counts == {"embeddings": 48} and eng.count() == 96  # the engine now holds the chat events only
    tot = eng.totals(metrics={"latency_ms": "mean"})
    assert int(tot["latency_ms__n"].iat[0]) == 96 and float(tot["latency_ms__sum"].iat[0]) == 96 * 900.0  # no 30 ms embedding call
    inf = apart.inferred
    assert inf["change_id"].tolist() == [f"inferred:embedding_model:{mk.LARGE}"]
    assert inf["ts"].iat[0] == SWITCH + pd.Timedelta(minutes=1) and inf["from_value"].iat[0] == mk.SMALL
    assert apart.notes() and apart.notes()[0].startswith("48 embeddings event(s) kept apart")
    eng.close()


def test_a_logged_switch_is_not_inferred_again():
    changes = pd.DataFrame({"change_id": ["emb-large"], "ts": [SWITCH], "change_type": ["embedding_model_update"],
                            "attribute": ["embedding_model"], "to_value": [mk.LARGE]})
    eng = open_engine(_events())
    assert len(set_apart(eng, changes).inferred) == 0
    eng.close()


def test_only_chat_events_or_no_operation_column_change_nothing():
    for frame in (_events(n_emb=0), _events(n_emb=0).drop(columns="operation")):
        eng = open_engine(frame)
        apart = set_apart(eng, None)
        assert apart.counts == {} and apart.notes() == [] and eng.count() == 96
        eng.close()


def test_embedding_events_alone_are_a_clear_error():
    eng = open_engine(_events(n_chat=0))
    with pytest.raises(ValueError, match=r"holds no chat event \(48 embeddings event\(s\)"):
        set_apart(eng, None)
    eng.close()


def test_the_investigation_reads_the_chat_events_only():
    import analysis

    pm = analysis.investigate(_events(), None, pattern="refusal", window="2h", progress=False)
    d = pm.to_dict()
    assert d["notes"][0].startswith("48 embeddings event(s) kept apart")
    cands = {c["change_id"]: c for c in d["q2_what_changed"]["candidates"]}
    assert f"inferred:embedding_model:{mk.LARGE}" in cands


@pytest.mark.slow
def test_the_command_names_the_forgotten_embedding_model_switch(tmp_path):
    run = subprocess.run([sys.executable, "-m", "analysis", "investigate", "--events", str(FIX / "otlp_embeddings_rag.jsonl.gz"),
                          "--changes", str(FIX / "otlp_embeddings_rag_changes.csv"), "--pattern", "auto", "--out", str(tmp_path / "r"),
                          "--quiet"], check=False, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    ins = rep["inputs"]["events"]
    assert ins["rows_read"] == ins["rows_loaded"] == 432 + 456  # make_embedding_fixtures: 432 chat calls, 456 embedding calls
    assert any(n.startswith("456 embeddings event(s) kept apart") for n in rep["notes"])
    cands = {c["change_id"]: c for c in rep["q2_what_changed"]["candidates"]}
    switch = cands[f"inferred:embedding_model:{mk.LARGE}"]
    # first seen on the re-indexing job's embedding span, 1 ms past the switch: only an embedding event says so
    assert pd.Timestamp(switch["ts"]) == pd.Timestamp(mk.SWITCH, unit="ns", tz="UTC") + pd.Timedelta(milliseconds=1)
    assert switch["from_value"] == mk.SMALL and "prompt-v3" in cands


def _canary(with_embeddings: bool) -> pd.DataFrame:
    """Chat events of two model versions refusing alike; embedding events labelled as refusals on the
    treatment's version (wrongly: were they read, the treatment would look far worse)."""
    n = 200
    chat = pd.DataFrame({"event_id": [f"c{i}" for i in range(2 * n)], "ts": [T0 + pd.Timedelta(minutes=7 * i) for i in range(2 * n)],
                         "operation": "chat", "model_version": ["v1", "v2"] * n, "refused": [i % 20 == 0 for i in range(2 * n)],
                         "risk_category": "high"})
    if not with_embeddings:
        return chat
    emb = pd.DataFrame({"event_id": [f"e{i}" for i in range(n)], "ts": [T0 + pd.Timedelta(minutes=14 * i, seconds=1) for i in range(n)],
                        "operation": "embeddings", "model_version": "v2", "refused": True, "risk_category": "high"})
    return pd.concat([chat, emb], ignore_index=True)


def test_the_gate_reads_the_chat_events_only(tmp_path, capsys):
    from analysis import cli

    outs = {}
    for name in ("chat", "mixed"):
        path = tmp_path / f"{name}.parquet"
        _canary(name == "mixed").to_parquet(path, index=False)
        code = cli.main(["gate", "--events", str(path), "--control", "model_version=v1", "--treatment", "model_version=v2",
                         "--metric", "refused", "--every", "6h"])
        out = capsys.readouterr()
        outs[name] = (code, json.loads(out.out), out.err)
    assert outs["mixed"][:2] == outs["chat"][:2]
    assert "note: 200 embeddings event(s) kept apart: the gate read(s) the chat events only" in outs["mixed"][2]
