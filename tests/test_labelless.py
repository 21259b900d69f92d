"""Logs as people have them: no outcome label. The command derives the label from the answers where
the rows lie (the engine evaluates the rules), on a JSONL file and on a Parquet file, and names the
case's cause."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "sample_data" / "refusal_regression"
#: What a real trace export carries: no outcome labels, no generator segments but the risk tier.
DROP = ["refused", "escalated", "hallucinated", "correct", "quality_score", "confidence", "expected_output"]


@pytest.fixture(scope="module")
def labelless(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("labelless")
    ev = pd.read_parquet(CASE / "events.parquet").drop(columns=DROP, errors="ignore")
    ev.to_parquet(out / "events.parquet", index=False)
    js = ev.copy()
    js["ts"] = js["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    js.to_json(out / "events.jsonl", orient="records", lines=True, date_format="iso")
    return {"parquet": out / "events.parquet", "jsonl": out / "events.jsonl", "dir": out}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_the_command_derives_refused_and_names_the_cause(labelless: dict[str, Path], fmt: str) -> None:
    out_dir = labelless["dir"] / f"report-{fmt}"
    run = subprocess.run([sys.executable, "-m", "analysis", "investigate", "--events", str(labelless[fmt]),
                          "--changes", str(CASE / "changes.csv"), "--pattern", "refusal", "--out", str(out_dir), "--quiet"],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    rep = json.loads((out_dir / "report.json").read_text())
    truth = json.loads((CASE / "truth.json").read_text())
    assert rep["derived_metrics"] == ["refused"] and rep["onset"]["derived"] is True
    assert "refused" in rep["label_rules"]
    assert rep["q2_what_changed"]["candidates"][0]["change_id"] == truth["cause_change_id"]
    assert rep["q3_scope"]["verdict"] == "systematic"
