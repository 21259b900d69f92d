"""Change logs: YAML, CSV, JSONL and JSON; bad rows and bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.loaders import LoadError, load_changes
from analysis.schema import CHANGES, SchemaError, validate

FIX = Path(__file__).parent / "fixtures"


def test_yaml_change_log_with_line_numbers():
    res = load_changes(FIX / "changes.yaml")
    validate(res.frame, CHANGES)
    f = res.frame
    assert res.format == "yaml" and res.rows_loaded == 3 and len(res.rejected) == 0
    assert f["change_type"].tolist() == ["corpus_update", "model_update", "prompt_template_change"]
    # 14:30 at +01:00 is 13:30 UTC
    assert f["ts"].tolist()[1] == pd.Timestamp("2026-02-20T13:30:00Z")
    assert f["rollout_pct"].iloc[1] == 100.0 and f["ts_end"].iloc[2] == pd.Timestamp("2026-02-25T10:00:00Z")


def test_same_log_in_every_format(tmp_path):
    ref = load_changes(FIX / "changes.yaml").frame
    rows = json.loads(ref.drop(columns=[]).to_json(orient="records", date_format="iso"))
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "c.json").write_text(json.dumps(rows))
    pd.DataFrame(rows).to_csv(tmp_path / "c.csv", index=False)
    for name in ("c.jsonl", "c.json", "c.csv"):
        got = load_changes(tmp_path / name).frame
        pd.testing.assert_frame_equal(got[CHANGES.names], ref[CHANGES.names], check_exact=True)


def test_bad_rows_are_rejected_with_their_yaml_line(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(
        "- change_id: a\n  ts: 2026-03-01T00:00:00Z\n  change_type: deploy\n"
        "- change_id: b\n  ts: 2026-03-01T00:00:00Z\n  change_type: redeploy\n"
        "- just a string\n"
        "- change_id: a\n  ts: 2026-03-02T00:00:00Z\n  change_type: deploy\n"
    )
    res = load_changes(p)
    assert res.frame["change_id"].tolist() == ["a"]
    assert res.rejected["row"].tolist() == [4, 7, 8]
    r = res.rejected["reason"].tolist()
    assert "'redeploy' is not one of" in r[0] and "not a mapping" in r[1] and "duplicate of 'a' first seen at row 1" in r[2]


def test_value_map_translates_the_logs_own_names(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("id,when,kind\nx1,2026-03-01T00:00:00Z,model\nx2,2026-03-02T00:00:00Z,prompt\n")
    res = load_changes(p, mapping={"id": "change_id", "when": "ts",
                                   "kind": {"column": "change_type", "values": {"model": "model_update", "prompt": "prompt_template_change"}}})
    assert res.frame["change_type"].tolist() == ["model_update", "prompt_template_change"]


def test_naive_timestamps_and_missing_columns(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("- change_id: a\n  ts: 2026-03-01 09:00\n  change_type: deploy\n")
    with pytest.raises(SchemaError, match="'ts'.*no UTC offset"):
        load_changes(p)
    assert load_changes(p, assume_tz="UTC").frame["ts"].iloc[0] == pd.Timestamp("2026-03-01T09:00Z")
    q = tmp_path / "c.csv"
    q.write_text("change_id,ts\na,2026-03-01T00:00:00Z\n")
    with pytest.raises(SchemaError, match="'change_type'.*columns found: 'change_id', 'ts'"):
        load_changes(q)


def test_bad_files(tmp_path):
    (tmp_path / "e.yaml").write_text("")
    with pytest.raises(LoadError, match="e.yaml.*empty"):
        load_changes(tmp_path / "e.yaml")
    (tmp_path / "m.yaml").write_text("- change_id: a\n  ts: [\n")
    with pytest.raises(LoadError, match="malformed YAML"):
        load_changes(tmp_path / "m.yaml")
    (tmp_path / "u.yaml").write_bytes(b"- change_id: caf\xe9\n")
    with pytest.raises(LoadError, match="not valid UTF-8"):
        load_changes(tmp_path / "u.yaml")
    (tmp_path / "none.yaml").write_text("[]\n")
    res = load_changes(tmp_path / "none.yaml")  # an empty change log is a fact, not an error
    assert res.rows_loaded == 0 and "no rows" in res.warnings[-1]
