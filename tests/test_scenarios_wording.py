"""The generators write text the way logs hold it: no segment written in the text, many phrasings
per segment and outcome, and a signal that a bag-of-words classifier reads without reading a
template (the same classifier as ``benchmarks/wording.py``, on small cases).

The floors and ceilings come from the benchmark's figures (``benchmarks/logs/wording.md``) with a
margin: the case studies' unique inputs are 0.45-0.8 of the rows (the first generators: 0.04 for
the refusal case), the segments are read with 0.93-0.97 accuracy (the first generators: 1.000
for the refusal case's category and every kind's category, read from ``[category]``)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.scenarios import generate
from analysis.scenarios.kinds import KINDS, generate_kind

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("wording_benchmark", ROOT / "benchmarks" / "wording.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

#: Floors and ceilings (see the module's docstring).
UNIQUE_INPUTS_FLOOR = 0.3
PHRASINGS_PER_CELL = 8
CEILING = 0.98
ABOVE_BASELINE = 0.1
ROWS = 4000


@pytest.fixture(scope="module")
def cases() -> dict[str, pd.DataFrame]:
    out = {p: generate(p, seed=4, scale=0.2).events for p in ("retrieval", "refusal", "escalation")}
    out["guardrail_change"] = generate_kind("guardrail_change", seed=4, days=5, scale=0.5).events
    return out


def _sample(ev: pd.DataFrame) -> pd.DataFrame:
    return ev.sample(n=min(ROWS, len(ev)), random_state=0).reset_index(drop=True)


def _phrasing(text: object) -> str:
    """A text as a phrasing: lower case, letters only (digits, personal data's numbers and punctuation dropped)."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]|\d|_", " ", str(text).lower())).strip()


@pytest.mark.parametrize("kind", KINDS)
def test_no_kind_writes_its_segment_in_the_text(kind):
    ev = generate_kind(kind, seed=1, days=3, scale=0.3).events
    cats = sorted(set(ev["query_category"].dropna()))
    text = ev["input_text"].dropna().astype(str)
    assert not text.str.contains(r"\[(?:" + "|".join(cats) + r")\]").any()
    assert not text.str.contains("|".join(c for c in cats if "_" in c)).any()  # nor the category's identifier
    assert ev["output_text"].dropna().nunique() > 50  # not one "answer"


def test_no_case_writes_its_segment_in_the_text(cases):
    for name, ev in cases.items():
        text = ev["input_text"].dropna().astype(str)
        for col in ("query_category", "framing", "traffic_source"):
            ids = [v for v in set(ev[col].dropna()) if "_" in v]
            assert not ids or not text.str.contains("|".join(ids)).any(), (name, col)
        assert not text.str.contains(r"\[[a-z_]+\]").any(), name


def test_inputs_are_mostly_distinct(cases):
    for name, ev in cases.items():
        share = ev["input_text"].nunique() / len(ev)
        assert share > UNIQUE_INPUTS_FLOOR, (name, share)


@pytest.mark.parametrize(("case", "segment", "outcome"), [
    ("refusal", ["query_category", "framing"], "refused"),
    ("escalation", ["query_category", "traffic_source"], "escalated"),
    ("retrieval", ["query_category", "framing"], "hallucinated"),
    ("guardrail_change", ["query_category", "language"], "refused"),
])
def test_every_segment_and_outcome_has_many_phrasings(cases, case, segment, outcome):
    ev = cases[case]
    ev = ev[ev[outcome].notna()]
    for col in ("input_text", "output_text"):
        phr = ev[col].map(_phrasing, na_action="ignore")
        cells = phr.groupby([ev[c].astype(str) for c in segment] + [ev[outcome].astype(bool)]).agg(["size", "nunique"])
        big = cells[cells["size"] >= 40]  # cells with enough rows to show their variety
        assert len(big) >= 4, (case, col)
        few = big[big["nunique"] < PHRASINGS_PER_CELL]
        assert few.empty, (case, col, few)


@pytest.mark.parametrize(("case", "column"), [
    ("refusal", "query_category"), ("refusal", "framing"), ("escalation", "traffic_source"), ("escalation", "query_category"),
    ("retrieval", "query_category"), ("retrieval", "framing"), ("guardrail_change", "query_category"), ("guardrail_change", "language"),
])
def test_the_segment_is_read_from_the_wording_but_not_looked_up(cases, case, column):
    ev = _sample(cases[case])
    s = bench.cv_scores(ev["input_text"].astype(object), ev[column].astype(object), seed=0)
    assert s["majority"] + ABOVE_BASELINE < s["accuracy"] < CEILING, s


@pytest.mark.parametrize("case", ["refusal", "escalation"])
def test_the_failing_slice_stays_recognisable_in_aggregate(cases, case):
    """The refusal case's chest-pain questions framed hypothetically or in the third person, the
    escalation case's blog visitors: rare or not, the wording tells them apart from the rest."""
    truth = {"refusal": {"query_category": "chest_pain", "framing": ["hypothetical", "third_person"]},
             "escalation": {"traffic_source": "blog_referral"}}[case]
    ev = cases[case]
    inside = bench.slice_of(ev, truth).to_numpy()
    # every slice row, and as many others (the classifier sees the slice, however rare)
    rng = np.random.default_rng(0)
    rows = np.concatenate([np.flatnonzero(inside), rng.choice(np.flatnonzero(~inside), size=min(int(inside.sum()) * 4, ROWS), replace=False)])
    s = bench.cv_scores(ev["input_text"].astype(object).iloc[rows].reset_index(drop=True), pd.Series(inside[rows]), seed=0)
    assert s["auc"] > 0.85 and s["balanced"] > 0.7, s
