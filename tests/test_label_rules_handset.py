"""The outcome label rules on the hand-labelled answers (``tests/data/labelled_answers/``).

Two sets: the **development** set (``answers.csv`` + ``real_fixtures.csv``), on which the rules are
widened, and the **held-out** set (``heldout.csv``, written blind to the rules), only measured.

* the CSV files are well formed, and the real fixtures' answers are still in their fixtures;
* precision and recall counted here with plain pandas (the rule's sentence test and finish reasons
  applied row by row, Wilson intervals from statsmodels) equal what ``evaluate_rule`` reports and
  what the committed ``benchmarks/logs/label_rules.json`` quotes, for each set, on the whole set, per
  file, per domain and per style: the figures in the README cannot go stale;
* the figures before the rules were widened (``benchmarks/logs/label_rules.v1.json``) were measured
  on the same files, and the current log quotes them;
* floors a little under the measured quality on each set, so a regression of the rules fails here;
* the SQL form of each rule on DuckDB gives the Python labels on every row of both sets.

Re-run ``python benchmarks/label_rules.py --write`` after changing a rule or the data.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from analysis.engine import open_engine
from analysis.loaders import load_events
from analysis.text.outcomes import (
    DEFAULT_RULES,
    ESCALATION_RULE,
    REFUSAL_RULE,
    Rule,
    evaluate_rule,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "labelled_answers"
LOG = ROOT / "benchmarks" / "logs" / "label_rules.json"
LOG_V1 = ROOT / "benchmarks" / "logs" / "label_rules.v1.json"
SETS = {"development": ("answers.csv", "real_fixtures.csv"), "heldout": ("heldout.csv",)}
FILES = SETS["development"]
COLUMNS = ["id", "domain", "style", "output_text", "finish_reason", "refused", "escalated", "note"]
FINISH = {"", "stop", "STOP", "length", "tool_calls", "content_filter"}

#: Floors a little under the figures measured on each set (label_rules.json): one or two more
#: misses or false alarms than today fail the test. Raise them when the rules improve. The rules
#: were widened on the development set; the held-out set was measured once before (label_rules.v1.json:
#: refused 0.750, 0.146; escalated 0.889, 0.088) and once after.
FLOORS = {
    "development": {
        "refused": {"precision": 0.98, "recall": 0.85},  # measured 1.000 (115/115), 0.865 (115/133)
        "escalated": {"precision": 0.98, "recall": 0.98},  # measured 1.000 (97/97), 1.000 (97/97)
    },
    "heldout": {
        "refused": {"precision": 0.93, "recall": 0.60},  # measured 0.955 (63/66), 0.612 (63/103)
        "escalated": {"precision": 0.97, "recall": 0.69},  # measured 1.000 (64/64), 0.703 (64/91)
    },
}


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / name, dtype=str, keep_default_na=False, encoding="utf-8")


@pytest.fixture(scope="module")
def raw() -> dict[str, pd.DataFrame]:
    return {name: _read(name) for files in SETS.values() for name in files}


def _events(raw: dict[str, pd.DataFrame], files: tuple[str, ...]) -> pd.DataFrame:
    frames = []
    for name in files:
        df = raw[name]
        frames.append(pd.DataFrame({
            "event_id": df["id"],
            "output_text": pd.array(df["output_text"], dtype="string"),
            "finish_reason": pd.array(df["finish_reason"].replace("", None), dtype="string"),
            "refused": pd.array(df["refused"] == "true", dtype="boolean"),
            "escalated": pd.array(df["escalated"] == "true", dtype="boolean"),
            "domain": df["domain"], "style": df["style"], "file": name,
        }))
    ev = pd.concat(frames, ignore_index=True)
    ev["ts"] = pd.date_range("2026-01-01", periods=len(ev), freq="min", tz="UTC")
    return ev


@pytest.fixture(scope="module")
def sets(raw) -> dict[str, pd.DataFrame]:
    """Set name -> its events (the development set's two files together)."""
    return {name: _events(raw, files) for name, files in SETS.items()}


@pytest.fixture(scope="module")
def events(sets) -> pd.DataFrame:
    return sets["development"]


@pytest.fixture(scope="module")
def log() -> dict:
    return json.loads(LOG.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------------------
# (a) the data
# ----------------------------------------------------------------------------------------------


def test_the_csv_files_are_well_formed(raw):
    answers, real = raw["answers.csv"], raw["real_fixtures.csv"]
    assert list(answers.columns) == COLUMNS
    assert list(real.columns) == [*COLUMNS, "source"]
    ids = pd.concat([answers["id"], real["id"]])
    assert ids.is_unique and (ids.str.strip() != "").all()
    for df in (answers, real):
        assert set(df["refused"]) <= {"true", "false"} and set(df["escalated"]) <= {"true", "false"}
        assert (df["output_text"].str.strip() != "").all()
        assert set(df["finish_reason"]) <= FINISH
        assert (df["domain"] != "").all() and (df["style"] != "").all()
    assert not answers["output_text"].duplicated().any()
    assert 300 <= len(answers) <= 450
    # both labels present, enough of each class
    for col, least in (("refused", 100), ("escalated", 80)):
        counts = answers[col].value_counts()
        assert counts.get("true", 0) >= least and counts.get("false", 0) >= 200, (col, counts.to_dict())
    assert answers["domain"].nunique() >= 5 and answers["style"].nunique() >= 5
    assert (answers["domain"].value_counts() >= 40).all()
    assert (answers.loc[answers["finish_reason"] == "content_filter", "refused"] == "true").all()
    # every hand-written style of the guideline is there (the tricky kinds included)
    assert {"non_english", "soft", "partial", "offer", "hedge", "emphasis", "quoted", "tool_call", "typo", "curly",
            "caps"} <= set(answers["style"])


def test_the_heldout_csv_is_well_formed(raw):
    held = raw["heldout.csv"]
    assert list(held.columns) == COLUMNS
    assert held["id"].tolist() == [f"h{i:04d}" for i in range(1, 301)]
    assert set(held["refused"]) <= {"true", "false"} and set(held["escalated"]) <= {"true", "false"}
    assert set(held["finish_reason"]) <= FINISH
    assert (held["domain"] != "").all() and (held["style"] != "").all()
    blank = held["output_text"].str.strip() == ""
    assert (held.loc[blank, "finish_reason"] == "content_filter").all()  # only a blocked answer may be empty
    assert not held.loc[~blank, "output_text"].duplicated().any()
    assert (held.loc[held["finish_reason"] == "content_filter", "refused"] == "true").all()
    # the counts HELDOUT.md gives
    assert held["refused"].value_counts().to_dict() == {"false": 197, "true": 103}
    assert held["escalated"].value_counts().to_dict() == {"false": 209, "true": 91}
    assert held["domain"].nunique() == 14 and held["style"].nunique() == 21
    assert (held["style"] == "non_english").sum() == 33
    # held out: no id and no text shared with the development set
    dev = pd.concat([raw[f] for f in FILES])
    assert not set(held["id"]) & set(dev["id"])
    assert not set(held["output_text"]) & set(dev["output_text"])


def test_the_real_fixture_answers_are_in_their_fixtures(raw):
    real = raw["real_fixtures.csv"]
    assert len(real) >= 1
    for _, row in real.iterrows():
        path = ROOT / row["source"]
        assert path.is_file(), row["source"]
        if path.suffix == ".json" and path.parent.name == "openinference-span":
            # bare spans without a start time: load_events rejects them, the text is in the attributes
            attrs = {a["key"]: a["value"].get("stringValue") for a in json.loads(path.read_text())["attributes"]}
            texts = {attrs.get("llm.output_messages.0.message.content"), attrs.get("llm.choices.0.completion.text")}
        else:
            texts = set(load_events(path).frame["output_text"].dropna())
        assert row["output_text"] in texts, (row["id"], row["source"])


# ----------------------------------------------------------------------------------------------
# (b) the figures, counted independently, against evaluate_rule and the committed log
# ----------------------------------------------------------------------------------------------


def _predict_row_by_row(rule: Rule, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(has evidence, predicted) per row, without ``Rule.predict``: the finish reason, then the sentences."""
    finish = [isinstance(f, str) and f.strip().lower() in {x.lower() for x in rule.finish_reasons}
              for f in frame["finish_reason"].astype(object).where(frame["finish_reason"].notna(), None)]
    texts = frame["output_text"].astype(object).where(frame["output_text"].notna(), None)
    has_text = [isinstance(t, str) and t.strip() != "" for t in texts]
    hit = [h and rule.matches_text(t) for h, t in zip(has_text, texts)]
    has = np.array(finish) | np.array(has_text)
    return has, np.array(finish) | np.array(hit)


def _count(rule: Rule, frame: pd.DataFrame) -> dict:
    has, pred = _predict_row_by_row(rule, frame)
    truth = frame[rule.column].to_numpy(dtype=bool)[has]
    pred = pred[has]
    tp, fp = int((truth & pred).sum()), int((~truth & pred).sum())
    fn, tn = int((truth & ~pred).sum()), int((~truth & ~pred).sum())

    def rate(x: int, n: int) -> tuple[float, tuple[float, float]]:
        if n == 0:
            return math.nan, (math.nan, math.nan)
        lo, hi = proportion_confint(x, n, alpha=0.05, method="wilson")
        return x / n, (float(lo), float(hi))

    precision, precision_ci = rate(tp, tp + fp)
    recall, recall_ci = rate(tp, tp + fn)
    return {"n": tp + fp + fn + tn, "tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": precision,
            "precision_ci": precision_ci, "recall": recall, "recall_ci": recall_ci}


def _same(a: float, b: float | None, tol: float = 1e-6) -> bool:
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return math.isnan(a)
    return abs(a - b) <= tol


def _groups(events: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    out = [("all", "all", events)]
    for key, by in (("by_file", "file"), ("by_domain", "domain"), ("by_style", "style")):
        out += [(key, str(v), g) for v, g in events.groupby(by, sort=True)]
    return out


@pytest.mark.parametrize("set_name", list(SETS))
@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=lambda r: r.column)
def test_figures_counted_here_equal_evaluate_rule_and_the_committed_log(rule, set_name, sets, log):
    events = sets[set_name]
    res = log["sets"][set_name]["results"][rule.column]
    assert res["rule"] == rule.name
    assert set(res["by_file"]) == set(events["file"])
    assert set(res["by_domain"]) == set(events["domain"]) and set(res["by_style"]) == set(events["style"])
    for key, name, g in _groups(events):
        mine = _count(rule, g)
        ev = evaluate_rule(g, rule.column, rules=(rule,), max_examples=len(g))
        logged = res[key] if key == "all" else res[key][name]
        where = f"{set_name} {rule.column} {key} {name}"
        assert (ev.n, ev.tp, ev.fp, ev.fn, ev.tn) == (mine["n"], mine["tp"], mine["fp"], mine["fn"], mine["tn"]), where
        assert tuple(logged[k] for k in ("n", "tp", "fp", "fn", "tn")) == (mine["n"], mine["tp"], mine["fp"], mine["fn"], mine["tn"]), where
        for m in ("precision", "recall"):
            assert _same(mine[m], getattr(ev, m), 1e-12) and _same(mine[m], logged[m]), (where, m)
            for i in (0, 1):
                assert _same(mine[f"{m}_ci"][i], getattr(ev, f"{m}_ci")[i], 1e-9), (where, m, i)
                assert _same(mine[f"{m}_ci"][i], logged[f"{m}_ci"][i]), (where, m, i)
        if key == "all":
            has, pred = _predict_row_by_row(rule, g)
            truth = g[rule.column].to_numpy(dtype=bool)
            ids = g["event_id"].to_numpy()
            assert logged["false_negatives"] == ids[has & truth & ~pred].tolist() == list(ev.false_negatives)
            assert logged["false_positives"] == ids[has & ~truth & pred].tolist() == list(ev.false_positives)


def test_the_log_was_made_from_these_files(log):
    assert set(log["sets"]) == set(SETS)
    for set_name, files in SETS.items():
        st = log["sets"][set_name]
        assert st["files"] == list(files)
        for name in files:
            assert st["sha256"][name] == hashlib.sha256((DATA / name).read_bytes()).hexdigest(), (
                f"{name} changed since benchmarks/logs/label_rules.json was written: run `python benchmarks/label_rules.py --write`")
        assert st["rows"] == {name: len(_read(name)) for name in files}
    assert log["clean"] is True and log["commit"] not in ("", "unknown")  # written from committed sources
    assert {c: r["name"] for c, r in log["rules"].items()} == {r.column: r.name for r in DEFAULT_RULES}


def test_the_figures_before_the_widening_are_kept(log):
    """label_rules.v1.json: the rules before they were widened, measured on these same files; the
    current log quotes its whole-set figures."""
    v1 = json.loads(LOG_V1.read_text(encoding="utf-8"))
    assert set(v1["sets"]) == set(SETS) and v1["clean"] is True
    for set_name, files in SETS.items():
        for name in files:
            assert v1["sets"][set_name]["sha256"][name] == hashlib.sha256((DATA / name).read_bytes()).hexdigest()
    before = log["before"]
    assert before["commit"] == v1["commit"] and before["log"] == "benchmarks/logs/label_rules.v1.json"
    for set_name in SETS:
        for col, res in v1["sets"][set_name]["results"].items():
            quoted = before["figures"][set_name][col]
            assert quoted == {k: res["all"][k] for k in quoted}
            assert quoted["n"] == log["sets"][set_name]["results"][col]["all"]["n"]  # the same rows
    # the widening did not cost precision or recall on either set
    for set_name in SETS:
        for col in ("refused", "escalated"):
            now, then = log["sets"][set_name]["results"][col]["all"], before["figures"][set_name][col]
            assert now["recall"] > then["recall"] and now["precision"] >= then["precision"], (set_name, col)


# ----------------------------------------------------------------------------------------------
# (c) floors: the quality measured today, less a small margin
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("set_name", list(SETS))
@pytest.mark.parametrize("rule", [REFUSAL_RULE, ESCALATION_RULE], ids=lambda r: r.column)
def test_the_rules_do_not_fall_below_the_measured_quality(rule, set_name, sets):
    events = sets[set_name]
    got = _count(rule, events)
    floor = FLOORS[set_name][rule.column]
    assert got["precision"] >= floor["precision"], got
    assert got["recall"] >= floor["recall"], got
    if set_name == "development":
        real = _count(rule, events[events["file"] == "real_fixtures.csv"])
        assert real["fp"] == 0  # nothing in the real exports is a refusal or a hand-off


# ----------------------------------------------------------------------------------------------
# (d) the SQL form on DuckDB, row by row
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])  # both SQL forms, run here on DuckDB
@pytest.mark.parametrize("set_name", list(SETS))
@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=lambda r: r.column)
def test_the_sql_form_gives_the_python_labels_on_every_row(rule, set_name, sets, dialect):
    frame = sets[set_name][["event_id", "ts", "output_text", "finish_reason"]]
    expected = rule.predict(frame)
    with open_engine(frame, threads=1) as eng:
        got = eng.sql(f"SELECT event_id, {rule.sql(dialect=dialect)} AS label FROM events")
    got = got.set_index("event_id")["label"].reindex(frame["event_id"]).astype("boolean")
    assert (got.isna().to_numpy() == expected.isna().to_numpy()).all()
    assert expected.isna().sum() <= 1  # every row has text but the held-out set's one blocked, empty answer
    differ = frame.loc[got.fillna(False).to_numpy(dtype=bool) != expected.fillna(False).to_numpy(dtype=bool), "event_id"].tolist()
    assert not differ, differ
