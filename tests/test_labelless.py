"""Logs as people have them: no outcome label. The command derives the label from the answers where
the rows lie (the engine evaluates the rules), on a JSONL file and on a Parquet file, names the
case's cause and calls the no-incident twin no incident.

The segment columns stay: finding the failing slice in logs that carry none (the refusal case's
risk tier, the escalation case's traffic source) is the work of the text segments. Without them the
refusal drop is diluted below detection in all traffic, and the escalation storm's new traffic has
no column to be exposed on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_data"
#: What a real trace export does not carry: the outcome labels and the evaluator's fields.
DROP = ["refused", "escalated", "hallucinated", "correct", "quality_score", "confidence", "expected_output"]
CASES = {"refusal_regression": ("refusal", "refused"), "escalation_storm": ("escalation", "escalated")}


def _labelless(case: str, out: Path) -> dict[str, Path]:
    ev = pd.read_parquet(SAMPLES / case / "events.parquet").drop(columns=DROP, errors="ignore")
    ev.to_parquet(out / f"{case}.parquet", index=False)
    js = ev.copy()
    js["ts"] = js["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    js.to_json(out / f"{case}.jsonl", orient="records", lines=True, date_format="iso")
    return {"parquet": out / f"{case}.parquet", "jsonl": out / f"{case}.jsonl"}


@pytest.fixture(scope="module")
def labelless(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, Path]]]:
    out = tmp_path_factory.mktemp("labelless")
    files = {case: _labelless(case, out) for base in CASES for case in (base, f"{base}_baseline")}
    return out, files


def _investigate(events: Path, case: str, pattern: str, out_dir: Path) -> dict:
    run = subprocess.run([sys.executable, "-m", "analysis", "investigate", "--events", str(events),
                          "--changes", str(SAMPLES / case / "changes.csv"), "--pattern", pattern, "--out", str(out_dir), "--quiet"],
                         check=False, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads((out_dir / "report.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize(("case", "fmt"), [("refusal_regression", "parquet"), ("refusal_regression", "jsonl"),
                                           ("escalation_storm", "parquet")])
def test_the_command_derives_the_label_and_names_the_cause(labelless, case: str, fmt: str) -> None:
    out, files = labelless
    pattern, metric = CASES[case]
    rep = _investigate(files[case][fmt], case, pattern, out / f"report-{case}-{fmt}")
    truth = json.loads((SAMPLES / case / "truth.json").read_text())
    assert metric in rep["derived_metrics"] and rep["onset"]["metric"] == metric and rep["onset"]["derived"] is True
    assert metric in rep["label_rules"]
    assert rep["q2_what_changed"]["candidates"][0]["change_id"] == truth["cause_change_id"]
    assert rep["q3_scope"]["verdict"] == "systematic"
    # the onset the derived label gives is the one the logged label gives, within the truth's window
    lo, hi = (pd.Timestamp(t) for t in truth["onset_window"])
    assert lo <= pd.Timestamp(rep["onset"]["ts"]) <= hi


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_the_label_less_twin_is_no_incident(labelless, case: str) -> None:
    out, files = labelless
    pattern, metric = CASES[case]
    twin = f"{case}_baseline"
    rep = _investigate(files[twin]["parquet"], twin, pattern, out / f"report-{twin}")
    assert metric in rep["derived_metrics"]
    assert rep["q3_scope"]["verdict"] == "no_incident" and rep["onset"]["ts"] is None


@pytest.fixture(scope="module")
def guardrail_otlp(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, dict]:
    """A guardrail incident as an instrumented application exports it: OTLP JSON Lines from the
    SDK, no outcome label (blocks are content_filter finishes or apologies), the application's
    attributes named by the user's mapping file."""
    from fixtures.otlp_scenario import write_otlp_export

    from analysis.scenarios.kinds import generate_kind

    out = tmp_path_factory.mktemp("otlp")
    sc = generate_kind("guardrail_change", seed=0, days=8)
    sc.changes.to_csv(out / "changes.csv", index=False)
    mapping = write_otlp_export(sc.events, out / "traces.jsonl")
    truth = {"cause": sc.truth.cause_change_id, "n": len(sc.events), "window": sc.truth.onset_window}
    return out / "traces.jsonl", mapping, out / "changes.csv", truth


@pytest.mark.slow
def test_the_label_less_otlp_export_is_investigated_right(guardrail_otlp) -> None:
    events, mapping, changes, truth = guardrail_otlp
    out_dir = events.parent / "report"
    run = subprocess.run([sys.executable, "-m", "analysis", "investigate", "--events", str(events), "--mapping", str(mapping),
                          "--changes", str(changes), "--pattern", "auto", "--out", str(out_dir), "--quiet"],
                         check=False, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    rep = json.loads((out_dir / "report.json").read_text())
    ins = rep["inputs"]["events"]
    assert ins["format"] == "otlp" and ins["rows_read"] == ins["rows_loaded"] == truth["n"] and ins["rows_rejected"] == 0
    assert "refused" in rep["derived_metrics"]
    assert rep["onset"]["metric"] == "refused" and rep["onset"]["segment"] == {"language": "fr"}
    lo, hi = truth["window"]
    assert lo <= pd.Timestamp(rep["onset"]["ts"]) <= hi
    assert rep["q2_what_changed"]["candidates"][0]["change_id"] == truth["cause"]
    assert rep["q3_scope"]["verdict"] == "systematic"


#: The retrieval case as a RAG trace carries it: the answer and the retrieved documents, no label and no relevance score.
RAG_DROP = [*DROP, "retrieval_scores", "retrieval_top1_score", "retrieval_mean_score"]


@pytest.mark.slow
@pytest.mark.parametrize("case", ["retrieval_degradation", "retrieval_degradation_baseline"])
def test_the_retrieval_case_is_found_from_ungrounded_citations_alone(tmp_path: Path, case: str) -> None:
    events = tmp_path / "events.parquet"
    pd.read_parquet(SAMPLES / case / "events.parquet").drop(columns=RAG_DROP).to_parquet(events, index=False)
    rep = _investigate(events, case, "retrieval", tmp_path / "report")
    truth = json.loads((SAMPLES / case / "truth.json").read_text())
    assert rep["derived_metrics"] == ["ungrounded_citation"] and rep["onset"]["metric"] == "ungrounded_citation"
    assert "retrieved documents" in rep["label_rules"]["ungrounded_citation"] or "retrieval_documents" in rep["label_rules"]["ungrounded_citation"]
    if truth["cause_change_id"] is None:
        assert rep["q3_scope"]["verdict"] == "no_incident" and rep["onset"]["ts"] is None
        return
    assert rep["onset"]["alternative"] == "greater"  # fabricated citations rising is the failure
    lo, hi = (pd.Timestamp(t) for t in truth["onset_window"])
    assert lo <= pd.Timestamp(rep["onset"]["ts"]) <= hi
    assert rep["q2_what_changed"]["candidates"][0]["change_id"] == truth["cause_change_id"]
    assert rep["q3_scope"]["verdict"] == "systematic"
