"""Offline evaluation histories: CSV, JSONL, JSON and Parquet; bad rows and bad files.

Expected values are worked by hand from the small files written in each test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.loaders import LoadError, load_evaluations
from analysis.schema import EVALUATIONS, SchemaError, validate

CSV = (
    "eval_id,ts,suite,n_questions,n_correct,citation_accuracy,threshold,passed,corpus_version\n"
    "e0,2026-03-02T06:00:00Z,citation-50,50,48,0.96,0.95,True,filings-v42\n"
    "e1,2026-03-09T07:00:00+01:00,citation-50,50,47,0.94,0.95,false,filings-v42\n"
    "e2,2026-03-16T06:00:00Z,citation-50,50,,,0.95,,filings-v43\n"
)
ROWS = [
    {"eval_id": "e0", "ts": "2026-03-02T06:00:00Z", "n_questions": 50, "citation_accuracy": 0.96, "passed": True, "note": "a"},
    {"eval_id": "e1", "ts": "2026-03-09T06:00:00Z", "n_questions": 50, "citation_accuracy": 0.94, "passed": False, "note": "b"},
]


def test_csv_history_typed_and_other_columns_kept(tmp_path: Path) -> None:
    p = tmp_path / "evaluations.csv"
    p.write_text(CSV, encoding="utf-8")
    res = load_evaluations(p)
    validate(res.frame, EVALUATIONS)
    f = res.frame
    assert res.format == "csv" and res.rows_read == 3 and res.rows_loaded == 2
    # 07:00 at +01:00 is 06:00 UTC
    assert f["ts"].tolist() == [pd.Timestamp("2026-03-02T06:00:00Z"), pd.Timestamp("2026-03-09T06:00:00Z")]
    assert str(f["ts"].dtype) == "datetime64[ns, UTC]" and str(f["passed"].dtype) == "boolean"
    assert f["passed"].tolist() == [True, False]
    assert str(f["n_questions"].dtype) == "Int64" and f["n_questions"].tolist() == [50, 50]
    assert f["citation_accuracy"].tolist() == [0.96, 0.94]
    assert f["corpus_version"].tolist() == ["filings-v42", "filings-v42"]  # not in the schema: kept
    # row 4 (the header is row 1) has no verdict: rejected, not counted as a pass
    assert res.rejected["row"].tolist() == [4]
    assert "passed: required value is missing" in res.rejected["reason"].iat[0]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "parquet"])
def test_same_history_in_every_format(tmp_path: Path, fmt: str) -> None:
    p = tmp_path / f"evaluations.{fmt}"
    if fmt == "jsonl":
        p.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    elif fmt == "json":
        p.write_text(json.dumps(ROWS), encoding="utf-8")
    else:
        pq.write_table(pa.Table.from_pylist(ROWS), p)
    res = load_evaluations(p)
    assert res.format == fmt and res.rows_loaded == 2 and len(res.rejected) == 0
    f = res.frame
    assert f["ts"].tolist() == [pd.Timestamp("2026-03-02T06:00:00Z"), pd.Timestamp("2026-03-09T06:00:00Z")]
    assert f["passed"].tolist() == [True, False] and f["note"].tolist() == ["a", "b"]
    assert f["citation_accuracy"].tolist() == [0.96, 0.94]


def test_bad_timestamp_and_bad_verdict_rows_are_rejected_with_reasons(tmp_path: Path) -> None:
    p = tmp_path / "e.csv"
    p.write_text(
        "ts,passed\n"
        "2026-03-02T06:00:00Z,true\n"
        "last monday,true\n"
        "2026-03-16T06:00:00Z,maybe\n"
        "2026-03-23T06:00:00Z,0\n",
        encoding="utf-8",
    )
    res = load_evaluations(p)
    assert res.rows_read == 4 and res.rows_loaded == 2
    assert res.frame["passed"].tolist() == [True, False]
    assert res.frame["eval_id"].isna().all()  # optional key absent: no row is a "duplicate"
    assert res.rejected["row"].tolist() == [3, 4]
    reasons = res.rejected["reason"].tolist()
    assert "ts: cannot parse 'last monday'" in reasons[0]
    assert "passed: cannot parse 'maybe'" in reasons[1]
    assert json.loads(res.rejected["raw"].iat[0]) == {"ts": "last monday", "passed": "true"}  # the row as read


def test_repeated_eval_id_kept_once(tmp_path: Path) -> None:
    p = tmp_path / "e.jsonl"
    p.write_text(
        '{"eval_id": "e0", "ts": "2026-03-02T06:00:00Z", "passed": true}\n'
        '{"eval_id": "e0", "ts": "2026-03-02T06:00:00Z", "passed": true}\n',
        encoding="utf-8",
    )
    res = load_evaluations(p)
    assert res.rows_loaded == 1 and res.rejected["row"].tolist() == [2]
    assert "duplicate of 'e0' first seen at row 1" in res.rejected["reason"].iat[0]


def test_missing_passed_column_names_the_file_and_column(tmp_path: Path) -> None:
    p = tmp_path / "e.csv"
    p.write_text("ts,citation_accuracy\n2026-03-02T06:00:00Z,0.96\n", encoding="utf-8")
    with pytest.raises(SchemaError) as exc:
        load_evaluations(p)
    assert exc.value.column == "passed"
    msg = str(exc.value)
    assert str(p) in msg and "missing required column 'passed'" in msg and "'citation_accuracy'" in msg


def test_naive_timestamps_need_assume_tz(tmp_path: Path) -> None:
    p = tmp_path / "e.csv"
    p.write_text("ts,passed\n2026-03-02 06:00,true\n", encoding="utf-8")
    with pytest.raises(SchemaError) as exc:
        load_evaluations(p)
    assert str(p) in str(exc.value) and "assume_tz" in str(exc.value)
    # 06:00 in Paris on 2 March (CET, UTC+1; DST starts 29 March 2026) is 05:00 UTC
    res = load_evaluations(p, assume_tz="Europe/Paris")
    assert res.frame["ts"].tolist() == [pd.Timestamp("2026-03-02T05:00:00Z")]


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="file not found"):
        load_evaluations(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(LoadError, match="empty"):
        load_evaluations(empty)
    header_only = tmp_path / "h.csv"
    header_only.write_text("ts,passed\n", encoding="utf-8")
    with pytest.raises(LoadError, match="no rows"):
        load_evaluations(header_only)
    y = tmp_path / "e.yaml"
    y.write_text("- ts: 2026-03-02T06:00:00Z\n  passed: true\n", encoding="utf-8")
    with pytest.raises(LoadError, match="YAML"):
        load_evaluations(y)


def test_sample_history_loads() -> None:
    p = Path(__file__).resolve().parents[1] / "sample_data" / "retrieval_degradation" / "evaluations.csv"
    if not p.is_file():
        pytest.skip("sample_data/ not generated")
    res = load_evaluations(p)
    raw = pd.read_csv(p)  # pandas' own CSV reader as the reference
    assert res.rows_loaded == len(raw) and len(res.rejected) == 0
    assert res.frame["passed"].tolist() == raw["passed"].tolist()
    assert res.frame["n_correct"].tolist() == raw["n_correct"].tolist()
