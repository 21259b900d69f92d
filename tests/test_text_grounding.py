"""RAG grounding: ``ungrounded_citation``, a citation in the answer that no retrieved document holds.

References: hand-worked answers and documents (the expected labels written by hand below), the
generator's hidden ``hallucinated`` label on the retrieval case (a fabricated citation is, by the
case's construction, one its retrieved chunks do not hold), and the rule's SQL evaluated by DuckDB
and Spark against its Python form.
"""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.engine import open_engine
from analysis.scenarios import generate
from analysis.text.grounding import GROUNDING_RULE, GroundingRule
from analysis.text.outcomes import derive_missing

BAKER = "Baker v. Nguyen, 734 F.d 342 (2d Cir. 1999): class certification requires actual harm."
REYES = "Reyes v. Meridian Bank, 744 F.d 1144 (1st Cir. 2010)."
#: (answer, retrieved documents' text, retrieved ids, expected label), worked by hand.
CASES = [
    ("In Baker v. Nguyen, 734 F.d 342 (2d Cir. 1999), the court held so. See also Reyes, 744 F.d 1144.", [BAKER, REYES], ["d1", "d2"], False),
    ("In Baker v. Nguyen, 734 F.d 342, the court held so. See also Osei v. Park, 999 F.3d 12.", [BAKER], ["d1"], True),
    ("No authority is cited here; see Fig. 3 on page 12 Fig. 3 of the brief.", [BAKER], ["d1"], False),
    ("The rule is in 550 U.S. 544 and 73 F. Supp. 3d 1020.", ["Bell Atlantic v. Twombly, 550 U.S. 544 (2007)."], ["d1"], True),
    ("The rule is in 550 U.S. 544.", ["bell atlantic v. twombly, 550 u.s. 544 (2007)."], ["d1"], False),
    ("See https://example.com/a/b. And doc-00042 says so.", ["see HTTPS://EXAMPLE.COM/a/b for details"], ["doc-00042"], False),
    ("See https://example.com/zzz for the policy.", ["see https://example.com/a/b"], ["d1"], True),
    ("As doc-7 explains, the deadline is 21 days.", ["the deadline is 21 days"], ["doc-7"], False),
    ("As doc-8 explains, the deadline is 21 days.", ["the deadline is 21 days"], ["doc-7"], True),
    ("The court held in 550 U.S. 544 that ...", [], [], True),  # cited while nothing was retrieved
    ("The court held in 550 U.S. 544 that ...", None, None, None),  # nothing retrieved was logged
    (None, [BAKER], ["d1"], None),  # no answer (an errored request)
    ("   ", [BAKER], ["d1"], None),
]


def _frame(cases: list[tuple]) -> pd.DataFrame:
    n = len(cases)
    return pd.DataFrame({
        "event_id": [f"e{i}" for i in range(n)],
        "ts": pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC"),
        "output_text": pd.array([c[0] for c in cases], dtype="string"),
        "retrieval_documents": [c[1] for c in cases],
        "retrieval_doc_ids": [c[2] for c in cases],
    })


def _expected(cases: list[tuple]) -> list:
    return [None if c[3] is None else bool(c[3]) for c in cases]


def _labels(series: pd.Series) -> list:
    return [None if pd.isna(v) else bool(v) for v in series]


def test_hand_worked_answers():
    assert _labels(GROUNDING_RULE.predict(_frame(CASES))) == _expected(CASES)


def test_citations_found_in_an_answer():
    text = ("Twombly, 550 U.S. 544 (2007); Iqbal, 129 S. Ct. 1937; Smith, 73 F. Supp. 3d 1020; Doe, 831 F.4d 657; "
            "see https://law.example.org/op/12. Also doc-00042 and chunk#3. Not 12 Fig. 3 nor 2019 Smith.")
    assert GROUNDING_RULE.citations(text) == [
        "550 u.s. 544", "129 s. ct. 1937", "73 f. supp. 3d 1020", "831 f.4d 657", "https://law.example.org/op/12", "doc-00042",
        "chunk#3"]
    # with only the retrieved ids logged, only the id-like citations are read
    assert GROUNDING_RULE.citations(text, with_text=False) == ["doc-00042", "chunk#3"]


def test_only_ids_logged_checks_only_id_citations():
    cases = [("As doc-7 says, see 550 U.S. 544.", None, ["doc-7"], False), ("As doc-8 says.", None, ["doc-7"], True)]
    frame = _frame(cases).drop(columns=["retrieval_documents"])
    assert _labels(GROUNDING_RULE.predict(frame)) == _expected(cases)
    with open_engine(frame) as eng:
        got = eng.sql(f"SELECT event_id, {GROUNDING_RULE.sql(set(frame.columns))} AS g FROM events ORDER BY event_id")
    assert _labels(got["g"]) == _expected(cases)


def test_a_rule_needs_patterns_that_compile():
    with pytest.raises(ValueError, match="invalid regular expression"):
        GroundingRule(patterns=("(unclosed",))
    with pytest.raises(ValueError, match="must be given"):
        GroundingRule(patterns=(), id_patterns=())
    own = GroundingRule(patterns=(r"\bKB-\d{4}\b",), id_patterns=())
    frame = _frame([("See KB-1234 and KB-9999.", ["KB-1234: reset the router"], ["d1"], True)])
    assert _labels(own.predict(frame)) == [True]


def _retrieval_sample() -> pd.DataFrame:
    ev = generate("retrieval", seed=5, scale=0.15).events
    return ev[["event_id", "ts", "output_text", "retrieval_documents", "retrieval_doc_ids", "hallucinated"]]


def test_on_the_retrieval_case_grounding_is_the_hidden_fabrication_label():
    ev = _retrieval_sample()
    got = GROUNDING_RULE.predict(ev)
    has = ev["hallucinated"].notna()
    assert has.sum() > 1000 and ev.loc[has, "hallucinated"].sum() > 30
    assert (got[has].astype(bool) == ev.loc[has, "hallucinated"].astype(bool)).all()
    assert got[~has].isna().all()  # errored requests: no answer, no label


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_the_rule_as_sql_gives_the_python_labels(engine):
    if engine == "spark":
        from test_engine import spark_or_skip

        spark_or_skip()
    frame = pd.concat([_frame(CASES), _retrieval_sample().drop(columns=["hallucinated"]).head(3000)], ignore_index=True)
    expected = _labels(GROUNDING_RULE.predict(frame))
    with open_engine(frame, engine=engine) as eng:
        got = eng.sql(f"SELECT event_id, {GROUNDING_RULE.sql(set(frame.columns))} AS g FROM events")
    got = got.set_index("event_id")["g"].reindex(frame["event_id"])
    assert _labels(got) == expected
    assert sum(v is True for v in expected) > 20 and sum(v is False for v in expected) > 20


def test_derive_missing_adds_the_column_where_the_rows_lie():
    frame = _frame(CASES)
    with open_engine(frame) as eng:
        assert derive_missing(eng, ["ungrounded_citation"]) == ["ungrounded_citation"]
        got = eng.sql("SELECT event_id, ungrounded_citation FROM events").set_index("event_id").reindex(frame["event_id"])
    assert _labels(got["ungrounded_citation"]) == _expected(CASES)
    # nothing retrieved was logged: nothing to derive
    with open_engine(frame.drop(columns=["retrieval_documents", "retrieval_doc_ids"])) as eng:
        assert derive_missing(eng, ["ungrounded_citation"]) == []
