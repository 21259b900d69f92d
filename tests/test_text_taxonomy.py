"""Risk tiers from the request text by a taxonomy file (analysis.text.taxonomy): the errors that name the
file, the tier and the key, first-match order, phrases taken literally, the Python assignment equal to
the SQL DuckDB evaluates, and how well the sample taxonomies recover the tiers the sample logs carry."""

from __future__ import annotations

import filecmp
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlglot

from analysis.text.taxonomy import Taxonomy, Tier, load_taxonomy, phrase_pattern

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_data"
CASES = ("refusal_regression", "escalation_storm", "retrieval_degradation")

TRIAGE = """
column: risk_category
text_column: input_text
default: low
tiers:
  high:
    phrases: ["chest pain", "overdose", "can't breathe"]
    patterns: ["\\\\bstroke\\\\b", "\\\\bslurred speech\\\\b"]
    topics: ["chest"]
  medium:
    phrases: ["dose", "sprained ankle", "c++", "$5 (fee)", "a.m."]
"""


def _write(tmp_path: Path, text: str, name: str = "taxonomy.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _sql_tiers(tax: Taxonomy, frame: pd.DataFrame, *, has_topic: bool = False) -> list[str | None]:
    """The taxonomy's SQL evaluated by DuckDB over ``frame`` (row order kept)."""
    frame = frame.assign(_row=np.arange(len(frame)))
    got = duckdb.sql(f"SELECT _row, {tax.sql(has_topic=has_topic)} AS tier FROM frame ORDER BY _row").df()
    return [None if pd.isna(v) else str(v) for v in got["tier"]]


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------

def test_a_file_gives_the_tiers_in_order_with_their_phrases_patterns_and_topics(tmp_path):
    p = _write(tmp_path, TRIAGE)
    tax = load_taxonomy(p)
    assert (tax.column, tax.text_column, tax.topic_column, tax.default, tax.source) == (
        "risk_category", "input_text", "topic", "low", str(p))
    assert [t.name for t in tax.tiers] == ["high", "medium"]
    high = tax.tiers[0]
    assert high == Tier("high", phrases=("chest pain", "overdose", "can't breathe"),
                        patterns=(r"\bstroke\b", r"\bslurred speech\b"), topics=("chest",))
    assert tax.tiers[1].patterns == () and tax.tiers[1].topics == ()
    assert tax.description == (
        f"risk_category from taxonomy {p}: high = chest pain, overdose, can't breathe, ... (3 phrases, 2 patterns, "
        "1 topic); medium = dose, sprained ankle, c++, ... (5 phrases, 0 patterns); else low")


def test_defaults_and_a_default_that_is_also_a_tier(tmp_path):
    tax = load_taxonomy(_write(tmp_path, "default: routine\ntiers:\n  urgent:\n    phrases: [now]\n  routine:\n"
                                          "    patterns: ['\\broutine\\b']\n"))
    assert (tax.column, tax.text_column, tax.default) == ("risk_category", "input_text", "routine")
    assert tax.assign(["do it now", "a routine check", "anything else"]) == ["urgent", "routine", "routine"]
    assert tax.tiers[1].matches("a Routine check") and not tax.tiers[1].matches("routines")
    assert tax.description.endswith("routine = \\broutine\\b (0 phrases, 1 pattern); else routine")


@pytest.mark.parametrize(("text", "message"), [
    ("default: low\ntiers: [: bad\n", "not valid YAML"),
    ("- default: low\n", "expected a mapping with `default:` and `tiers:`"),
    ("tiers:\n  high:\n    phrases: [x]\n", r"missing `default:`"),
    ("default: low\n", r"missing `tiers:`"),
    ("default: low\ntiers: []\n", r"`tiers` must be a mapping"),
    ("default: low\ncolumns: risk\ntiers:\n  high:\n    phrases: [x]\n", r"unknown key\(s\) \['columns'\]"),
    ("default: no\ntiers:\n  high:\n    phrases: [x]\n", r"`default` must be a name .* got False"),
    ("default: low\ncolumn: input_text\ntiers:\n  high:\n    phrases: [x]\n", "would overwrite the text"),
    ("default: low\ntiers:\n  high:\n    phrase: [x]\n", r"tiers\.high: unknown key\(s\) \['phrase'\]"),
    ("default: low\ntiers:\n  high:\n    phrases: x\n", r"tiers\.high\.phrases: expected a list of strings"),
    ("default: low\ntiers:\n  high:\n    topics: [1]\n", r"tiers\.high\.topics: expected a list of strings"),
    ("default: low\ntiers:\n  high:\n    phrases: []\n", r"tiers\.high: tier 'high' has no phrase, pattern or topic"),
    ("default: low\ntiers:\n  high:\n", r"tiers\.high: expected a mapping"),
    ("default: low\ntiers:\n  high:\n    phrases: ['chest pain', ' ']\n", r"tiers\.high\.phrases\[1\]: a phrase must hold a"),
    ("default: low\ntiers:\n  high:\n    patterns: ['(?<=I )overdosed']\n", r"tiers\.high\.patterns: .*look-behind"),
    ("default: low\ntiers:\n  high:\n    patterns: ['pain(?= in)']\n", r"tiers\.high\.patterns: .*look-ahead"),
    ("default: low\ntiers:\n  high:\n    patterns: ['(a)\\\\1']\n", r"tiers\.high\.patterns: .*back-reference"),
    ("default: low\ntiers:\n  high:\n    patterns: [x, '(?i)y']\n", r"tiers\.high\.patterns: .*drop any \(\?i\) flag"),
    ("default: low\ntiers:\n  high:\n    patterns: [x, '(unclosed']\n", r"tiers\.high\.patterns\[1\]: .*not a valid regular"),
    ("default: low\ntiers:\n  high:\n    phrases: [x]\n  high:\n    phrases: [y]\n", r"tiers: tier 'high' is named twice"),
    ("default: low\ntiers:\n  high:\n    phrases: [x]\n    phrases: [y]\n", r"tiers\.high: key 'phrases' is given twice"),
    ("default: low\ndefault: high\ntiers:\n  high:\n    phrases: [x]\n", r"top level: key 'default' is given twice"),
    ("default: low\ntiers:\n  1:\n    phrases: [x]\n", r"tiers\.1: a tier's name must be text"),
])
def test_errors_name_the_file_the_tier_and_the_key(tmp_path, text, message):
    p = _write(tmp_path, text)
    with pytest.raises(ValueError, match=message) as err:
        load_taxonomy(p)
    assert str(err.value).startswith(f"{p}: ")


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="taxonomy file not found") as err:
        load_taxonomy(tmp_path / "nope.yaml")
    assert str(tmp_path / "nope.yaml") in str(err.value)


def test_objects_check_themselves():
    with pytest.raises(ValueError, match="has no phrase, pattern or topic"):
        Tier("high")
    with pytest.raises(ValueError, match=r"named twice"):
        Taxonomy("risk_category", "input_text", "low", (Tier("a", ("x",)), Tier("a", ("y",))), "t.yaml")
    with pytest.raises(ValueError, match="non-empty sequence of Tier"):
        Taxonomy("risk_category", "input_text", "low", (), "t.yaml")


# --------------------------------------------------------------------------------------------
# Matching: Python and SQL
# --------------------------------------------------------------------------------------------

# (text, topic, tier without topics, tier with topics): written by hand from the TRIAGE file
HAND = [
    ("I have chest pain since this morning", None, "high", "high"),
    ("CHEST   PAIN and a question about the dose", None, "high", "high"),  # first match: high before medium
    ("chest\n\tpain", None, "high", "high"),  # any white space between the words, line breaks too
    ("I can’t breathe", None, "high", "high"),  # curly apostrophe
    ("I cant breathe", None, "low", "low"),  # the apostrophe is not optional
    ("possible Stroke?", None, "high", "high"),
    ("heatstroke", None, "low", "low"),  # whole words
    ("overdoses", None, "low", "low"),
    ("what dose of ibuprofen", None, "medium", "medium"),
    ("doses", None, "low", "low"),
    ("a sprained\r\nankle", None, "medium", "medium"),
    ("learning C++ today", None, "medium", "medium"),  # metacharacters are plain characters
    ("learning cpp today", None, "low", "low"),
    ("why is there a $5 (fee)?", None, "medium", "medium"),
    ("why is there a $5 fee?", None, "low", "low"),
    ("at 9 a.m. sharp", None, "medium", "medium"),
    ("at 9 axm sharp", None, "low", "low"),
    ("a tight feeling", "Chest", "low", "high"),  # a topic counts only with has_topic
    ("a tight feeling", "chesty cough", "low", "low"),  # topics are whole words too
    ("what dose", "chest", "medium", "high"),
    ("nothing matches here", None, "low", "low"),
    ("", "chest", None, None),  # no text: no tier, whatever the topic
    ("  \n\t ", None, None, None),
    (None, "chest", None, None),
]


@pytest.fixture(scope="module")
def triage(tmp_path_factory) -> Taxonomy:
    return load_taxonomy(_write(tmp_path_factory.mktemp("tax"), TRIAGE))


def test_assign_gives_the_hand_written_tiers(triage):
    texts = [h[0] for h in HAND]
    topics = [h[1] for h in HAND]
    assert triage.assign(texts) == [h[2] for h in HAND]
    assert triage.assign(texts, topics) == [h[3] for h in HAND]


def test_the_sql_on_duckdb_equals_assign(triage):
    frame = pd.DataFrame({"input_text": pd.array([h[0] for h in HAND], dtype="string"),
                          "topic": pd.array([h[1] for h in HAND], dtype="string")})
    assert _sql_tiers(triage, frame) == triage.assign(frame["input_text"]) == [h[2] for h in HAND]
    assert _sql_tiers(triage, frame, has_topic=True) == triage.assign(frame["input_text"], frame["topic"]) == [h[3] for h in HAND]


def test_missing_texts_of_any_kind_get_no_tier(triage):
    values = [None, np.nan, pd.NA, "", " ", "overdose"]
    assert triage.assign(values) == [None, None, None, None, None, "high"]
    frame = pd.DataFrame({"input_text": pd.array(values, dtype="string")})
    assert _sql_tiers(triage, frame) == [None, None, None, None, None, "high"]
    with pytest.raises(ValueError, match="one value per text"):
        triage.assign(["a", "b"], ["chest"])


def test_the_first_matching_tier_wins():
    high, medium = Tier("high", phrases=("chest pain",)), Tier("medium", phrases=("dose",))
    text = ["chest pain after a dose"]
    frame = pd.DataFrame({"input_text": text})
    for tiers, expected in (((high, medium), "high"), ((medium, high), "medium")):
        tax = Taxonomy("risk_category", "input_text", "low", tiers, "t.yaml")
        assert tax.assign(text) == _sql_tiers(tax, frame) == [expected]


def test_phrases_are_literal_whole_words():
    assert phrase_pattern("chest pain") == r"\bchest\s+pain\b"
    assert phrase_pattern("  can't\nbreathe ") == r"\bcan['’]t\s+breathe\b"
    assert phrase_pattern("$5 (fee)") == r"\$5\s+\(fee\)"  # no word boundary next to punctuation
    assert phrase_pattern("c++") == r"\bc\+\+"
    with pytest.raises(ValueError, match="must hold a word"):
        phrase_pattern(" ")


def test_every_regex_metacharacter_in_a_phrase_is_plain():
    phrase = r'x-ray & #1 ~ {a} [b] | ^c$ *d? \e % _f_ @g /h "i" (j) k. 100%'
    tax = Taxonomy("tier", "txt", "no", (Tier("yes", phrases=(phrase,)),), "t.yaml")
    frame = pd.DataFrame({"txt": ["see " + phrase.replace(" ", "\n ") + " ok",  # white space of any kind between the words
                                  "X-RAY & #1 ~ {A} [B] | ^C$ *D? \\E % _F_ @G /H \"I\" (J) K. 100%",  # any case
                                  phrase.replace("\\e", "e"),  # a backslash is a backslash
                                  phrase.replace("k.", "kx"),  # a dot is a dot
                                  "xxray"]})
    assert tax.assign(frame["txt"]) == _sql_tiers(tax, frame) == ["yes", "yes", "no", "no", "no"]


def test_quotes_in_names_and_phrases_reach_sql_intact():
    tax = Taxonomy("tier's", 'the "text"', "it's low", (Tier("o'high", phrases=("o'clock", "'quoted'")),), "t.yaml")
    frame = pd.DataFrame({'the "text"': ["at 5 o’clock", "a 'quoted' word", "quoted", None]})
    assert tax.assign(frame['the "text"']) == _sql_tiers(tax, frame) == ["o'high", "o'high", "it's low", None]


def test_topic_only_tiers_are_skipped_without_the_topic_column():
    tax = Taxonomy("risk_category", "input_text", "low", (Tier("high", topics=("chest",)),), "t.yaml")
    frame = pd.DataFrame({"input_text": ["chest", "x"], "topic": ["chest", None]})
    assert _sql_tiers(tax, frame) == tax.assign(frame["input_text"]) == ["low", "low"]
    assert _sql_tiers(tax, frame, has_topic=True) == tax.assign(frame["input_text"], frame["topic"]) == ["high", "low"]


def test_the_sql_transpiles_to_spark(triage):
    spark = sqlglot.transpile(triage.sql(has_topic=True), read="duckdb", write="spark")[0]
    assert spark.count("RLIKE") == 4 and "CASE WHEN" in spark and "ELSE 'low' END" in spark


def test_the_sql_on_spark_equals_assign(triage):
    from test_engine import spark_or_skip

    from analysis.engine import open_engine

    spark_or_skip()
    n = len(HAND)
    frame = pd.DataFrame({"event_id": [f"e{i:02d}" for i in range(n)],
                          "ts": pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC"),
                          "input_text": pd.array([h[0] for h in HAND], dtype="string"),
                          "topic": pd.array([h[1] for h in HAND], dtype="string")})
    with open_engine(frame, engine="spark") as eng:
        got = eng.sql(f"SELECT event_id, {triage.sql(has_topic=True)} AS tier FROM events ORDER BY event_id")
    assert [None if pd.isna(v) else v for v in got["tier"]] == [h[3] for h in HAND]


# --------------------------------------------------------------------------------------------
# The sample taxonomies against the tiers the sample logs carry
# --------------------------------------------------------------------------------------------

def _recovery(case: str) -> pd.DataFrame:
    """Per logged tier: precision and recall of the case's taxonomy, counted by DuckDB over the parquet."""
    tax = load_taxonomy(SAMPLES / case / "taxonomy.yaml")
    path = str(SAMPLES / case / "events.parquet").replace("'", "''")
    counts = duckdb.sql(f"SELECT risk_category AS logged, {tax.sql()} AS derived, COUNT(*) AS n "
                        f"FROM read_parquet('{path}') GROUP BY ALL").df()
    rows = []
    for tier in sorted(set(counts["logged"].dropna()) | set(counts["derived"].dropna())):
        tp = counts.loc[(counts["logged"] == tier) & (counts["derived"] == tier), "n"].sum()
        derived, logged = counts.loc[counts["derived"] == tier, "n"].sum(), counts.loc[counts["logged"] == tier, "n"].sum()
        rows.append({"tier": tier, "logged": int(logged), "derived": int(derived),
                     "precision": tp / derived if derived else float("nan"), "recall": tp / logged if logged else float("nan")})
    return pd.DataFrame(rows).set_index("tier")


@pytest.mark.parametrize("case", CASES)
def test_sample_taxonomies_load_and_the_baselines_hold_the_same_file(case):
    tax = load_taxonomy(SAMPLES / case / "taxonomy.yaml")
    assert tax.column == "risk_category" and tax.default == "low" and [t.name for t in tax.tiers] == ["high", "medium"]
    assert filecmp.cmp(SAMPLES / case / "taxonomy.yaml", SAMPLES / f"{case}_baseline" / "taxonomy.yaml", shallow=False)


@pytest.mark.parametrize("case", CASES)
def test_how_well_the_sample_taxonomies_recover_the_logged_tiers(case):
    figures = _recovery(case)
    print(f"\n{case}:\n{figures.round(3).to_string()}")
    if case == "refusal_regression":
        # measured at commit time: high precision 1.000, recall 0.905; medium 0.999 / 0.873; low 0.905 / 1.000
        assert figures.loc["high", "precision"] >= 0.8 and figures.loc["high", "recall"] >= 0.8


def test_assign_equals_the_sql_over_the_refusal_sample():
    tax = load_taxonomy(SAMPLES / "refusal_regression" / "taxonomy.yaml")
    path = str(SAMPLES / "refusal_regression" / "events.parquet").replace("'", "''")
    got = duckdb.sql(f"SELECT input_text, {tax.sql()} AS tier FROM read_parquet('{path}')").df()
    assert tax.assign(got["input_text"]) == [None if pd.isna(v) else v for v in got["tier"]]
