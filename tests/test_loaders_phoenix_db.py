"""Phoenix's own database: a real SQLite file written by the ``arize-phoenix`` server
(``tests/fixtures/make_phoenix_db.py``), read with the project and time range pushed down into SQL,
span annotations as outcomes, and ``investigate`` end to end on it and on a Langfuse blob export."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pandas as pd
import pytest

import analysis
from analysis import cli, report
from analysis.loaders import LoadError, load_changes, load_events, open_events
from analysis.loaders.convert import convert_events
from analysis.loaders.detect import detect_format
from analysis.loaders.mapping import MappingState, Mapping
from analysis.loaders.stream import Tally
from analysis.loaders.traces import TraceOptions, stream_trace_format

FIX = Path(__file__).parent / "fixtures"
DB = FIX / "real" / "phoenix" / "phoenix.db"


def _sql(query: str, *params: object) -> list[tuple]:
    con = sqlite3.connect(f"file:{DB}?mode=ro", uri=True)
    try:
        return con.execute(query, params).fetchall()
    finally:
        con.close()


def _llm_spans(project: str | None = None, start: str | None = None, end: str | None = None) -> int:
    where, params = ["s.span_kind = 'LLM'"], []
    if project:
        where.append("p.name = ?")
        params.append(project)
    if start:
        where.append("s.start_time >= ?")
        params.append(start)
    if end:
        where.append("s.start_time < ?")
        params.append(end)
    return _sql("SELECT COUNT(*) FROM spans s JOIN traces t ON s.trace_rowid = t.id JOIN projects p ON t.project_rowid = p.id "
                f"WHERE {' AND '.join(where)}", *params)[0][0]


def test_the_database_is_detected_by_content_and_every_project_is_read() -> None:
    assert detect_format(DB) == "phoenix"
    res = load_events(DB)
    assert res.rows_read == res.rows_loaded + len(res.rejected) == _llm_spans() == 30
    f = res.frame
    assert set(f["phoenix.project"]) == {"support-bot", "playground"}
    assert res.spans_by_kind == {"inference": 30, "retrieval_folded": 24, "other": 24}
    assert "give `project` to read one" in res.warnings[1]
    # nested attributes are read like the flat OpenInference keys
    sb = f[f["phoenix.project"] == "support-bot"].sort_values("ts")
    assert set(sb["model_version"]) == {"gpt-4o-2024-08-06", "gpt-4o-2024-11-20"}
    assert sb["input_tokens"].notna().all() and (sb["temperature"] == 0.2).all()
    assert sb["session_id"].str.startswith("sess-").all()  # from the CHAIN root
    assert all(len(x) == 2 for x in sb["retrieval_scores"])  # from the folded RETRIEVER span
    err = sb[sb["status"] == "error"]
    assert len(err) == 1 and err["error_type"].iloc[0] == "RuntimeError"
    assert str(f["ts"].dtype) == "datetime64[ns, UTC]" or f["ts"].dt.tz is not None


def test_annotations_become_columns_and_correctness_the_correct_outcome_by_default() -> None:
    f = load_events(DB, project="support-bot").frame
    labels = dict(_sql("SELECT s.span_id, a.label FROM span_annotations a JOIN spans s ON a.span_rowid = s.id "
                       "WHERE a.name = 'correctness'"))
    got = dict(zip(f["event_id"], f["annotation.correctness.label"]))
    assert got == labels
    assert (f["correct"] == (f["annotation.correctness.label"] == "correct")).all()
    assert f["annotation.helpfulness"].notna().sum() == 12
    assert "hallucinated" not in f or f["hallucinated"].isna().all()


def test_a_user_mapping_replaces_the_default_outcome() -> None:
    res = load_events(DB, project="support-bot", mapping={
        "annotation.correctness.label": {"column": "correct", "values": {"correct": True}},
        "annotation.helpfulness": "quality_score",
    })
    f = res.frame
    incorrect = f["annotation.correctness"] == 0.0  # the label column became `correct`
    assert f.loc[incorrect, "correct"].isna().all() and incorrect.sum() > 0  # not in the value map: left missing
    assert f.loc[~incorrect, "correct"].all()
    assert f["quality_score"].notna().sum() == 12
    assert not any("default mapping" in w for w in res.warnings)
    assert any("not in its value map" in w and "incorrect" in w for w in res.warnings)


def test_project_and_time_range_are_pushed_down() -> None:
    res = load_events(DB, project="support-bot", start="2026-03-02T12:00:00Z", end=pd.Timestamp("2026-03-03 06:00", tz="UTC"))
    n = _llm_spans("support-bot", "2026-03-02 12:00:00.000000", "2026-03-03 06:00:00.000000")
    assert res.rows_read == res.rows_loaded == n == 9
    assert res.frame["ts"].min() >= pd.Timestamp("2026-03-02T12:00Z") and res.frame["ts"].max() < pd.Timestamp("2026-03-03T06:00Z")
    assert set(res.frame["phoenix.project"]) == {"support-bot"}
    # a naive bound is UTC
    assert load_events(DB, project="playground", start="2026-03-02 03:00").rows_read == 3


def test_a_project_the_database_does_not_hold_is_an_error_listing_the_projects() -> None:
    with pytest.raises(LoadError, match=r"no Phoenix project named 'nope'.*'support-bot' \(72 spans\).*'playground' \(6 spans\)"):
        load_events(DB, project="nope")
    with pytest.raises(LoadError, match="must be before"):
        load_events(DB, start="2026-03-03", end="2026-03-02")
    with pytest.raises(LoadError, match="must be a time"):
        load_events(DB, start="yesterday-ish")


def test_filters_on_a_file_that_is_not_phoenix_s_database_are_an_error() -> None:
    with pytest.raises(LoadError, match="filter Phoenix's database"):
        load_events(FIX / "otlp_genai_collector.jsonl", project="support-bot")


def test_a_sqlite_file_that_is_not_a_phoenix_database_gets_the_detection_error(tmp_path: Path) -> None:
    p = tmp_path / "other.db"
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE orders (id INTEGER, total REAL)")
    con.commit()
    con.close()
    with pytest.raises(LoadError, match=r"other.db \(table 'orders'\): matches no supported format: it is a table with columns "
                                         r"'id', 'total' \(Phoenix's own database has the tables projects, traces and spans\)"):
        load_events(p)


def test_a_postgres_url_without_a_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # the `postgres` extra installs psycopg; without it (None in sys.modules: the import fails) the URL gets one error
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    with pytest.raises(LoadError, match=r"pip install 'psycopg\[binary\]'") as e:
        load_events("postgresql://phoenix:secret@127.0.0.1:1/phoenix")
    assert "secret" not in str(e.value)


def test_small_fetches_and_a_small_window_give_the_same_events() -> None:
    whole = load_events(DB).frame.sort_values("event_id").reset_index(drop=True)
    tally = Tally("span")
    chunks = list(stream_trace_format(DB, "phoenix", assume_tz=None, mapping=MappingState(Mapping()), tally=tally,
                                      options=TraceOptions(batch_spans=4, window=6)))
    assert len(chunks) > 5 and tally.late_spans == 0  # rows come ordered by trace: no trace is split
    parts = pd.concat([c.frame for c in chunks], ignore_index=True).sort_values("event_id").reset_index(drop=True)
    cols = ["event_id", "ts", "model_version", "session_id", "correct", "latency_ms", "input_tokens"]
    pd.testing.assert_frame_equal(parts[cols], whole[cols])
    def lists(s: pd.Series) -> list:
        return [None if x is None or x is pd.NA else list(x) for x in s]

    assert lists(parts["retrieval_scores"]) == lists(whole["retrieval_scores"])


def test_convert_and_open_events_take_the_project(tmp_path: Path) -> None:
    out = tmp_path / "support.parquet"
    assert cli.main(["convert", "--events", str(DB), "--out", str(out), "--project", "support-bot",
                     "--start", "2026-03-03T00:00:00Z"]) == 0
    f = pd.read_parquet(out)
    assert len(f) == 12 and set(f["model_version"]) == {"gpt-4o-2024-11-20"}
    res = convert_events(DB, tmp_path / "all.parquet")
    assert res.rows_read == res.rows_written == 30
    ev = open_events(DB, project="playground")
    try:
        assert (ev.rows_read, ev.rows_loaded, ev.rows_rejected) == (6, 6, 0) and ev.engine.count() == 6
    finally:
        ev.close()


def _investigate(events_path: Path | str, changes: Path, out: Path, **kw: object) -> tuple[dict, object]:
    events = open_events(events_path, **kw)
    try:
        ch = load_changes(changes)
        pm = analysis.investigate(events.engine, ch.frame, progress=False,
                                  inputs=report.inputs_summary(events=events, changes=ch, evaluations=None))
        written = pm.write(out)
    finally:
        events.close()
    return json.loads(Path(written["report.json"] if "report.json" in written else out / "report.json").read_text()), events


def assert_says_too_few_data(doc: dict, md: str) -> None:
    """Every section of a report says the data are too few to answer; none claims an incident, a cause or a scope."""
    assert doc["title"].startswith("Investigation: too few data to answer (too few non-empty windows (2 windows of 1D")
    assert doc["onset"]["ts"] is None and doc["onset"]["reason"].startswith("too few non-empty windows")
    q3 = doc["q3_scope"]
    assert q3["verdict"] == "too_few_data" and q3["reason"].startswith("too few data to answer")
    assert q3["affected_events"] == 0 and q3["segments"] == []
    assert doc["q4_detection_gap"]["gap_category"] is None
    assert doc["q4_detection_gap"]["gap_explanation"].startswith("too few data to answer")
    assert doc["durations"]["onset"] is None
    assert [r["item"] for r in doc["runbook"] if r["section"] == "mitigate"][0].startswith("Nothing to conclude: too few data")
    summary = md.split("## 1.")[0]
    assert "systematic" not in summary and "affected events" not in summary
    for line in [x for x in summary.splitlines() if x.startswith("- **") and "Durations" not in x]:
        assert "too few data to answer" in line.lower(), line
    assert "**Too few data to answer:**" in md.split("## 1.")[1].split("## 2.")[0]


def test_investigate_on_the_phoenix_database_with_too_few_windows_says_so_in_every_section(tmp_path: Path) -> None:
    # 24 spans over two days: the default window (1 day) leaves 2 windows, too few to search for an onset.
    # The report once said "no incident found" and, in the same breath, "systematic, 67% affected".
    changes = tmp_path / "changes.yaml"
    changes.write_text("changes:\n  - {change_id: chg-1, ts: '2026-03-03T00:00:00Z', change_type: model_update, component: llm, "
                       "attribute: model_version, from_value: gpt-4o-2024-08-06, to_value: gpt-4o-2024-11-20}\n")
    doc, events = _investigate(DB, changes, tmp_path / "report", project="support-bot")
    inp = doc["inputs"]["events"]
    assert inp["format"] == "phoenix" and inp["rows_read"] == inp["rows_loaded"] + inp["rows_rejected"] == 24
    assert (tmp_path / "report" / "timeline.csv").is_file()
    assert_says_too_few_data(doc, (tmp_path / "report" / "report.md").read_text())


def test_investigate_runs_end_to_end_on_a_langfuse_blob_export(tmp_path: Path) -> None:
    blob = FIX / "langfuse_blob"
    changes = tmp_path / "changes.yaml"
    changes.write_text("changes:\n  - {change_id: chg-1, ts: '2026-03-01T12:15:00Z', change_type: prompt_update, "
                       "component: prompt, attribute: prompt_template_version, from_value: v1, to_value: v2}\n")
    doc, events = _investigate(blob, changes, tmp_path / "report")
    inp = doc["inputs"]["events"]
    assert inp["format"] == "langfuse" and inp["rows_read"] == inp["rows_loaded"] + inp["rows_rejected"] > 0
    assert (tmp_path / "report" / "report.md").is_file()
