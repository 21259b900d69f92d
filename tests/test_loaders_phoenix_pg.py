"""Phoenix on PostgreSQL: the database the real ``arize-phoenix`` server wrote on Postgres
(``tests/fixtures/make_phoenix_pg.py``, committed as a ``pg_dump``), restored into a throw-away
cluster on 127.0.0.1 (the ``postgres`` fixture, tests/conftest.py), read as ``postgresql://`` and
investigated through the command.

The dump holds the same spans and annotations as ``phoenix.db`` (the same script functions, seeds
and start times), so the two give the same events. The expected answers are read from the
database with ``psql`` and from the fixture script: ``support-bot`` has 24 LLM spans, every two
hours from 2026-03-02 00:07Z; all ``correct`` the first day, 8 of the 12 of the second day
``incorrect`` (the first at 2026-03-03 02:07Z); ``chg-1`` switches the model at 2026-03-03 00:00Z.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis import cli
from analysis.loaders import LoadError, load_events
from analysis.params import ParameterError, arguments_to_raw, validate_parameters
from test_loaders_phoenix_db import assert_says_too_few_data  # tests/ is on sys.path

REPO = Path(__file__).resolve().parents[1]
PHOENIX = REPO / "tests" / "fixtures" / "real" / "phoenix"
DUMP = PHOENIX / "phoenix_pg.sql.gz"
SQLITE = PHOENIX / "phoenix.db"
CHANGES = ("changes:\n  - {change_id: chg-1, ts: '2026-03-03T00:00:00Z', change_type: model_update, component: llm, "
           "attribute: model_version, from_value: gpt-4o-2024-08-06, to_value: gpt-4o-2024-11-20}\n")
LLM_SPANS = ("SELECT {what} FROM spans s JOIN traces t ON s.trace_rowid = t.id JOIN projects p ON t.project_rowid = p.id "
             "WHERE s.span_kind = 'LLM' {more}")


@pytest.fixture(scope="module")
def phoenix_pg(postgres):
    """The URL of the restored Phoenix database, and the cluster."""
    return postgres.restore(DUMP, "phoenix_fixture"), postgres


def _psql(cluster, sql: str) -> list[list[str]]:
    out = cluster.client("psql", "-X", "-A", "-t", "-F", "\t", "-d", "phoenix_fixture", "-c", sql).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def _frame(res) -> pd.DataFrame:
    f = res.frame.sort_values("event_id").reset_index(drop=True)
    return f[sorted(f.columns)]


def test_the_server_s_postgres_database_gives_the_events_of_its_sqlite_database(phoenix_pg) -> None:
    url, cluster = phoenix_pg
    assert _psql(cluster, LLM_SPANS.format(what="COUNT(*)", more="")) == [["30"]]
    pg, lite = load_events(url), load_events(SQLITE)
    assert pg.format == lite.format == "phoenix"
    assert pg.rows_read == pg.rows_loaded == lite.rows_read == 30 and len(pg.rejected) == 0
    assert pg.spans_by_kind == lite.spans_by_kind == {"inference": 30, "retrieval_folded": 24, "other": 24}
    a, b = _frame(pg), _frame(lite)
    assert list(a.columns) == list(b.columns)
    nested = [c for c in a.columns if a[c].map(lambda x: isinstance(x, (list, tuple)) or hasattr(x, "tolist")).any()]
    flat = [c for c in a.columns if c not in nested]
    pd.testing.assert_frame_equal(a[flat], b[flat], check_dtype=False)
    def lists(s: pd.Series) -> list:
        return [None if x is None or x is pd.NA else list(x) for x in s]

    for c in nested:
        assert lists(a[c]) == lists(b[c]), c
    # values read from the database itself: the span ids and the correctness labels
    labels = dict(_psql(cluster, "SELECT s.span_id, a.label FROM span_annotations a JOIN spans s ON a.span_rowid = s.id "
                                 "WHERE a.name = 'correctness'"))
    sb = a[a["phoenix.project"] == "support-bot"]
    assert dict(zip(sb["event_id"], sb["annotation.correctness.label"])) == labels
    assert "forensics-test" not in pg.source  # the password is not repeated


def test_project_and_time_range_are_pushed_down_into_the_query(phoenix_pg) -> None:
    url, cluster = phoenix_pg
    more = ("AND p.name = 'support-bot' AND s.start_time >= '2026-03-02T12:00:00Z' "
            "AND s.start_time < '2026-03-03T06:00:00Z'")
    assert _psql(cluster, LLM_SPANS.format(what="COUNT(*)", more=more)) == [["9"]]
    before = cluster.log.read_text(errors="replace")
    res = load_events(url, project="support-bot", start="2026-03-02T12:00:00Z", end="2026-03-03 06:00")
    assert res.rows_read == res.rows_loaded == 9 and set(res.frame["phoenix.project"]) == {"support-bot"}
    assert res.frame["ts"].min() >= pd.Timestamp("2026-03-02T12:00Z") and res.frame["ts"].max() < pd.Timestamp("2026-03-03T06:00Z")
    # the server ran the filter: the spans' query names the project and both bounds in its WHERE
    ran = cluster.log.read_text(errors="replace")[len(before):]
    query = next(line for line in ran.splitlines() if "FROM spans s JOIN traces t" in line)
    assert "WHERE t.project_rowid = $1 AND s.start_time >= $2 AND s.start_time < $3" in query
    with pytest.raises(LoadError, match=r"no Phoenix project named 'nope'.*'support-bot' \(72 spans\).*'playground' \(6 spans\)"):
        load_events(url, project="nope")


def test_a_wrong_password_is_one_error_without_the_password(phoenix_pg) -> None:
    url, _ = phoenix_pg
    bad = url.replace("forensics-test", "not-the-password")
    with pytest.raises(LoadError, match="cannot connect to the Postgres database") as e:
        load_events(bad)
    assert "not-the-password" not in str(e.value)


def test_investigate_takes_the_url_the_project_and_the_time_range() -> None:
    args = cli.build_parser().parse_args(["investigate", "--events", "postgresql://u@127.0.0.1:5432/phoenix", "--changes",
                                          str(SQLITE), "--project", "support-bot", "--start", "2026-03-02T12:00",
                                          "--end", "2026-03-03T06:00:00+01:00"])
    raw = arguments_to_raw(args)
    assert raw["events_path"] == "postgresql://u@127.0.0.1:5432/phoenix"  # a URL is not made a path
    p = validate_parameters(raw)
    assert p.events_path == "postgresql://u@127.0.0.1:5432/phoenix" and p.project == "support-bot"
    assert p.start == pd.Timestamp("2026-03-02T12:00Z") and p.end == pd.Timestamp("2026-03-03T05:00Z")  # no zone: UTC
    with pytest.raises(ParameterError, match=r"`start` \(2026-03-03\) must be before `end` \(2026-03-02\)"):
        validate_parameters({**raw, "start": "2026-03-03", "end": "2026-03-02"})
    with pytest.raises(ParameterError, match="`end` must be a time"):
        validate_parameters({**raw, "end": "yesterday-ish"})


def _investigate(url: str, password: str, out: Path, *args: str) -> dict:
    """``python -m analysis investigate`` on the URL (the password in PGPASSWORD, not in the URL)."""
    changes = out.parent / "changes.yaml"
    changes.write_text(CHANGES)
    env = dict(os.environ, PGPASSWORD=password)
    run = subprocess.run([sys.executable, "-m", "analysis", "investigate", "--events", url, "--changes", str(changes),
                          "--out", str(out), "--quiet", *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "report.html" in run.stdout
    return json.loads((out / "report.json").read_text())


@pytest.mark.slow
def test_investigate_through_the_command_finds_the_model_switch(phoenix_pg, tmp_path: Path) -> None:
    url, cluster = phoenix_pg
    no_pw = url.replace(":forensics-test@", "@")
    doc = _investigate(no_pw, "forensics-test", tmp_path / "r", "--project", "support-bot", "--window", "2h")
    inp = doc["inputs"]["events"]
    assert inp["format"] == "phoenix" and inp["path"] == no_pw and inp["rows_read"] == inp["rows_loaded"] == 24
    incorrect = _psql(cluster, "SELECT s.span_id, s.start_time FROM span_annotations a JOIN spans s ON a.span_rowid = s.id "
                               "WHERE a.name = 'correctness' AND a.label = 'incorrect' ORDER BY s.start_time")
    assert len(incorrect) == 8 and incorrect[0][1].startswith("2026-03-03 02:07")
    # Q1-Q4 answer it: the onset is the window of the first incorrect answer, the model switch before it is
    # the cause, the failure is all traffic's, and the affected events are exactly the incorrect answers
    assert doc["title"] == "Incident postmortem (draft): correct in all traffic"
    assert doc["onset"]["ts"] == "2026-03-03T02:00:00Z" and doc["onset"]["metric"] == "correct"
    top = doc["q2_what_changed"]["candidates"][0]
    assert top["change_id"] == "chg-1" and top["score"] > 0
    q3 = doc["q3_scope"]
    assert q3["verdict"] == "systematic" and q3["affected_events"] == 8
    affected = pd.read_csv(tmp_path / "r" / "affected_events.csv", dtype=str)
    assert set(affected["event_id"]) == {sid for sid, _ in incorrect}


@pytest.mark.slow
def test_investigate_on_too_few_windows_says_so_in_every_section(phoenix_pg, tmp_path: Path) -> None:
    url, _ = phoenix_pg
    no_pw = url.replace(":forensics-test@", "@")
    doc = _investigate(no_pw, "forensics-test", tmp_path / "r", "--project", "support-bot", "--start", "2026-03-02T12:00Z")
    assert doc["inputs"]["events"]["rows_read"] == 18  # 6 spans of the first day start before noon
    assert_says_too_few_data(doc, (tmp_path / "r" / "report.md").read_text())
