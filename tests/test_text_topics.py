"""Topics read from the input text (:mod:`analysis.text.topics`) and the upward steps of a share
(:mod:`analysis.stats.changepoint.share`): checked on seeded corpora whose topics are known, the
engine's assignment against the Python one, and the likelihood ratio against scipy's binomial."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.engine import open_engine
from analysis.stats.changepoint.share import share_steps
from analysis.text.segments import derive_segments
from analysis.text.topics import OTHER, fit_topics, topic_shifts

#: Three kinds of questions with their own words, and filler every kind shares.
VOCAB = {
    "billing": ["invoice", "charged", "refund", "payment", "card", "statement", "billing"],
    "shipping": ["parcel", "delivery", "tracking", "courier", "shipped", "address", "arrive"],
    "login": ["password", "login", "locked", "reset", "account", "email", "factor"],
}
FILLER = ["hello", "today", "please", "thanks", "quick", "issue", "problem", "again"]


def _corpus(n: int, rng: np.random.Generator, kinds=("billing", "shipping", "login"), p=None) -> tuple[list[str], list[str]]:
    labels = rng.choice(list(kinds), size=n, p=p)
    texts = [" ".join([*rng.choice(VOCAB[k], size=3, replace=False), *rng.choice(FILLER, size=3)]) for k in labels]
    return texts, list(labels)


def _events(texts: list[str], start: str = "2026-01-01", hours: float = 24 * 10) -> pd.DataFrame:
    n = len(texts)
    ts = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(np.linspace(0, hours * 3600, n, endpoint=False), unit="s")
    return pd.DataFrame({"event_id": [f"e{i:06d}" for i in range(n)], "ts": ts, "input_text": texts})


def test_topics_recover_the_kinds_of_questions_and_the_engine_assigns_as_python_does() -> None:
    rng = np.random.default_rng(0)
    texts, labels = _corpus(3000, rng)
    with open_engine(_events(texts)) as eng:
        model = fit_topics(eng, sample_size=2000, seed=0)
        assert model is not None and model.k in (4, 6) and set(model.criterion) <= {4, 6, 10, 16}
        # every topic is (almost) pure in one kind, and every kind is covered
        py = model.assign(texts)
        t = pd.crosstab(pd.Series(py, name="topic"), pd.Series(labels, name="kind"))
        purity = (t.max(axis=1) / t.sum(axis=1))
        assert (purity[purity.index != OTHER] >= 0.95).all()
        assert set(t.idxmax(axis=1)) == set(VOCAB)
        # the engine's assignment is the Python one, row for row
        on_engine = eng.sql(model.assign_sql()).set_index("event_id")["topic"]
        got = pd.Series([on_engine.get(f"e{i:06d}", OTHER) for i in range(len(texts))])
        assert (got.to_numpy() == np.asarray(py, dtype=object)).all()
        # and so is the per-row expression DuckDB derives the column with
        expr = eng.sql(f"SELECT event_id, {model.assign_expr()} AS topic FROM events").set_index("event_id")["topic"]
        assert (expr.reindex([f"e{i:06d}" for i in range(len(texts))]).to_numpy() == np.asarray(py, dtype=object)).all()
        # names are the topics' three heaviest words, and each is one of its kind's words
        for tp in model.topics:
            words = tp.name.split(" · ")
            assert len(words) == 3 and words == list(tp.terms[:3])


def test_the_fit_is_deterministic_under_the_seed_and_the_same_on_any_row_order() -> None:
    rng = np.random.default_rng(1)
    texts, _ = _corpus(1500, rng)
    ev = _events(texts)
    with open_engine(ev) as a, open_engine(ev.sample(frac=1.0, random_state=3)) as b:
        ma, mb = fit_topics(a, sample_size=1000, seed=7), fit_topics(b, sample_size=1000, seed=7)
    assert ma is not None and mb is not None
    assert ma.names == mb.names and ma.criterion == mb.criterion


def test_derive_segments_adds_topic_only_when_the_log_has_no_segment_column() -> None:
    rng = np.random.default_rng(2)
    texts, _ = _corpus(1200, rng)
    ev = _events(texts)
    ev.loc[5, "input_text"] = None
    with open_engine(ev) as eng:
        segs = derive_segments(eng)
        assert segs.derived == ("topic",) and eng.has("topic")
        t = eng.sql("SELECT event_id, topic FROM events ORDER BY event_id")
        assert t["topic"].isna().sum() == 1 and pd.isna(t.loc[t["event_id"] == "e000005", "topic"]).all()
        assert segs.report()["topics"]["k"] == segs.topics.k
    with open_engine(ev.assign(query_category="x")) as eng:
        assert derive_segments(eng).derived == () and not eng.has("topic")
    with open_engine(ev.assign(query_category="x")) as eng:
        assert derive_segments(eng, topics="on").derived == ("topic",)


def test_a_new_kind_of_traffic_is_a_topic_shift_at_its_time() -> None:
    rng = np.random.default_rng(3)
    before, _ = _corpus(2400, rng, kinds=("billing", "shipping"))
    after, _ = _corpus(1200, rng, kinds=("billing", "shipping", "login"), p=[0.4, 0.4, 0.2])
    ev = _events(before + after, hours=24 * 9)  # the login questions start at day 6
    with open_engine(ev) as eng:
        derive_segments(eng)
        shifts = topic_shifts(eng)
    assert len(shifts)
    first = shifts[shifts["first"]].iloc[0]
    assert abs(first["ts"] - pd.Timestamp("2026-01-07", tz="UTC")) <= pd.Timedelta(hours=2)
    assert first["share_before"] < 0.01 and first["share_after"] > 0.1


def test_share_steps_finds_a_step_and_its_likelihood_ratio_is_the_binomial_ones() -> None:
    rng = np.random.default_rng(4)
    n = np.full(120, 1000.0)
    p = np.where(np.arange(120) < 70, 0.01, 0.05)
    c = rng.binomial(n.astype(int), p).astype(float)
    steps = share_steps(c, n)
    assert len(steps) == 1 and abs(steps[0].at - 70) <= 1 and steps[0].first
    at = steps[0].at
    # the log-likelihood ratio by scipy: two shares against one (dispersion 1 on binomial data)
    p0, p1, pa = c[:at].sum() / n[:at].sum(), c[at:].sum() / n[at:].sum(), c.sum() / n.sum()
    ll2 = stats.binom.logpmf(c[:at], n[:at], p0).sum() + stats.binom.logpmf(c[at:], n[at:], p1).sum()
    ll1 = stats.binom.logpmf(c, n, pa).sum()
    # scaled down by the Pearson dispersion (at least 1, about 1 on binomial data)
    assert (ll2 - ll1) / 1.5 <= steps[0].llr <= (ll2 - ll1) * (1 + 1e-9)
    assert steps[0].before == pytest.approx(p0) and steps[0].after == pytest.approx(p1)


def test_share_steps_stays_quiet_on_a_constant_share_and_ignores_a_fall() -> None:
    hits = 0
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        n = rng.integers(200, 2000, size=200).astype(float)
        c = rng.binomial(n.astype(int), 0.03).astype(float)
        hits += bool(share_steps(c, n, alpha=0.01))
    assert hits <= 1
    n = np.full(100, 1000.0)
    c = np.where(np.arange(100) < 50, 60.0, 5.0)
    assert share_steps(c, n) == []
    with pytest.raises(ValueError, match="counts and totals"):
        share_steps(np.array([5.0, 1.0]), np.array([1.0, 1.0]))


def test_spark_assigns_the_topics_duckdb_assigns() -> None:
    from test_engine import spark_or_skip

    spark_or_skip()
    rng = np.random.default_rng(5)
    texts, _ = _corpus(600, rng)
    ev = _events(texts)
    with open_engine(ev) as eng:
        model = fit_topics(eng, sample_size=600, seed=0)
        duck = eng.sql(model.assign_sql()).sort_values("event_id").reset_index(drop=True)
    with open_engine(ev, engine="spark") as sp:
        spark = sp.sql(model.assign_sql()).sort_values("event_id").reset_index(drop=True)
        sp.attach("topic", model.assign_sql(), fill=OTHER, source="input_text")
        assert sp.has("topic")
    assert duck["event_id"].tolist() == spark["event_id"].tolist()
    assert duck["topic"].tolist() == spark["topic"].tolist()
