"""The accuracy figures in README.md come from the committed benchmark log, never by hand: the block
between the markers is what ``benchmarks/_accuracy_log.render`` makes of ``benchmarks/logs/``
(regenerate it with ``python benchmarks/accuracy.py --readme``), and the log's summaries are what
its rows say. Reads files only: no investigation runs here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import _accuracy_log as acc_log

from analysis.scenarios import INCIDENT_KINDS


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


@pytest.fixture(scope="module")
def logs() -> tuple[dict, dict | None]:
    log = _load(acc_log.LOG)
    assert log is not None, "benchmarks/logs/accuracy.json is missing: run benchmarks/accuracy.py --write"
    return log, _load(acc_log.EASY_LOG)


def test_readme_tables_are_rendered_from_the_log(logs):
    text = acc_log.README.read_text(encoding="utf-8")
    assert text.count(acc_log.BEGIN) == 1 and text.count(acc_log.END) == 1
    assert acc_log.readme_block(text) == acc_log.render(*logs), (
        "README.md's accuracy tables differ from benchmarks/logs/: run `python benchmarks/accuracy.py --readme`")


def test_markdown_log_is_rendered_from_the_log(logs):
    assert acc_log.MARKDOWN.read_text(encoding="utf-8") == acc_log.markdown(*logs)


@pytest.mark.parametrize("which", ["hard", "easy"])
def test_log_summaries_are_what_its_rows_say(logs, which):
    log = logs[0] if which == "hard" else logs[1]
    if log is None:
        pytest.skip("no easy log")
    assert log["mode"] == which and log["options"] == {"logged_decoys": which == "hard", "cause_lead": which == "hard"}
    again = json.loads(json.dumps(acc_log.groups(log["rows"], INCIDENT_KINDS)))
    assert again == log["summaries"]
    runs = {(r["pattern"], r["seed"], r["incident"] or bool(r.get("lookalike"))) for r in log["rows"]}
    assert len(runs) == len(log["rows"]) == 2 * len(log["seeds"]) * (len(log["patterns"]) + len(log["kinds"]))


def test_log_records_its_provenance_and_never_uses_the_held_out_seeds(logs):
    for log in filter(None, logs):
        assert log["command"].startswith("python benchmarks/accuracy.py")
        assert isinstance(log["dirty"], bool) and len(log["commit"]) >= 7 and log["date"]
        assert log["seeds"] == list(range(log["seeds"][0], log["seeds"][0] + len(log["seeds"])))
        assert not set(log["seeds"]) & set(acc_log.HELD_OUT_SEEDS)
        assert log["held_out_seeds"] == list(acc_log.HELD_OUT_SEEDS)
        assert {r["seed"] for r in log["rows"]} == set(log["seeds"])


def test_splice_replaces_only_the_block():
    text = f"intro\n{acc_log.BEGIN}\nold table\n{acc_log.END}\noutro\n"
    out = acc_log.splice(text, "new table\n")
    assert out == f"intro\n{acc_log.BEGIN}\nnew table\n{acc_log.END}\noutro\n"
    assert acc_log.readme_block(out) == "new table\n"


@pytest.mark.parametrize("first", [998, 1000, 1002])
def test_the_benchmark_refuses_seeds_that_overlap_the_held_out_ones(first, capsys):
    import accuracy  # benchmarks/accuracy.py (benchmarks/ is on the path above)

    with pytest.raises(SystemExit) as e:
        accuracy.main(["--first-seed", str(first), "--seeds", "3"])
    assert e.value.code == 2 and "held-out" in capsys.readouterr().err
