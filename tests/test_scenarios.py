"""Tests for analysis.scenarios: the generated case studies agree with their own ground truth.

Every expectation is recomputed here with plain pandas from the generated rows (never read back
from the generator's internals), against the published story of each incident
(/shared/DESIGN.md case-study table and issue 4).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import schema
from analysis.redact import redact_text
from analysis.scenarios import CASE_NAMES, PATTERNS, GroundTruth, generate, write_sample_data

H = pd.Timedelta(hours=1)
D = pd.Timedelta(days=1)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cases():
    """The canonical cases (magnitude 1, scale 1, seed 0) and their twins, generated once."""
    out = {}
    for pat in PATTERNS:
        days = {"retrieval": 56, "refusal": 14, "escalation": 14}[pat]
        out[pat] = generate(pat, seed=0, scale=1.0, magnitude=1.0, days=days)
        out[pat + "_twin"] = generate(pat, seed=0, scale=1.0, magnitude=1.0, days=days, incident=False)
    return out


def _rate(s: pd.Series) -> float:
    return float(s.astype("float").mean())


# --------------------------------------------------------------------------------------------
# Contract: canonical tables, determinism, twins
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [p for p in PATTERNS] + [p + "_twin" for p in PATTERNS])
def test_tables_are_canonical(cases, key):
    sc = cases[key]
    schema.validate(sc.events, schema.EVENTS)
    schema.validate(sc.changes, schema.CHANGES)
    assert sc.events["ts"].is_monotonic_increasing
    assert sc.events["event_id"].is_unique
    t = sc.truth
    assert sc.events["ts"].max() < t.reported_at
    json.dumps(t.to_dict())  # JSON-able
    back = GroundTruth.from_dict(json.loads(json.dumps(t.to_dict())))
    assert back.affected_event_ids == t.affected_event_ids
    assert back.onset == t.onset and back.reported_at == t.reported_at
    assert sc.case == CASE_NAMES[sc.pattern] + ("" if t.incident else "_baseline")


def test_same_seed_same_frames_and_different_seed_differs():
    a = generate("escalation", seed=5, scale=0.3)
    b = generate("escalation", seed=5, scale=0.3)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.changes, b.changes)
    assert a.truth == b.truth
    c = generate("escalation", seed=6, scale=0.3)
    assert len(c.events) != len(a.events) or not c.events["ts"].equals(a.events["ts"])


def test_seed_varies_onset_magnitude_volume_and_days_when_not_given():
    params = [generate("refusal", seed=s, days=None).params for s in (1, 2, 3)]
    for key in ("onset", "magnitude", "scale"):
        assert len({str(p[key]) for p in params}) == 3, key
    assert len({p["days"] for p in params}) >= 2  # whole days in 12-17: collisions happen
    for p in params:
        assert 0.75 <= p["magnitude"] <= 1.3 and 0.6 <= p["scale"] <= 1.5 and 12 <= p["days"] <= 17
    # Explicit values win, and passing one does not move the others.
    given = pd.Timestamp("2026-02-10T08:30:00Z")
    sc = generate("escalation", seed=2, onset=given, scale=0.2)
    assert sc.truth.onset == given
    assert sc.params["magnitude"] == generate("escalation", seed=2, scale=0.2).params["magnitude"]


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"pattern": "latency"}, "pattern"),
        ({"scale": 0}, "scale"),
        ({"magnitude": -1}, "magnitude"),
        ({"days": 3}, "days"),
        ({"onset": "2026-02-01 09:00"}, "onset"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs, name):
    kw = {"pattern": "refusal", **kwargs}
    pattern = kw.pop("pattern")
    with pytest.raises(ValueError, match=f"`{name}`"):
        generate(pattern, **kw)


@pytest.mark.parametrize("pat", PATTERNS)
def test_twin_has_the_same_traffic_and_changes(cases, pat):
    inc, twin = cases[pat], cases[pat + "_twin"]
    pd.testing.assert_frame_equal(inc.changes, twin.changes)
    for col in ("event_id", "ts", "input_text", "query_category", "traffic_source", "model_version"):
        pd.testing.assert_series_equal(inc.events[col], twin.events[col])
    assert twin.truth.incident is False and twin.truth.cause_change_id is None
    assert twin.truth.affected_event_ids == ()
    assert twin.truth.candidate_change_id == inc.truth.cause_change_id
    # The true cause's change event is in the twin's change log too.
    assert inc.truth.cause_change_id in set(twin.changes["change_id"])


@pytest.mark.parametrize("pat", PATTERNS)
def test_cause_and_decoys_are_in_the_change_log(cases, pat):
    sc = cases[pat]
    t = sc.truth
    ch = sc.changes.set_index("change_id")
    assert ch.loc[t.cause_change_id, "change_type"] == t.cause_change_type
    assert set(t.decoy_change_ids) <= set(ch.index)
    assert t.cause_change_id not in t.decoy_change_ids
    assert t.onset_window[0] <= t.onset <= t.onset_window[1]
    types = set(ch.loc[list(t.decoy_change_ids), "change_type"])
    assert {"prompt_template_change", "deploy", "config_change"} <= types
    assert (ch["ts"] < t.reported_at).all() and (ch["ts"] >= sc.events["ts"].min()).all()


@pytest.mark.parametrize("pat", ["refusal", "escalation"])
def test_a_decoy_config_change_is_nearer_to_the_onset_than_the_cause(cases, pat):
    t = cases[pat].truth
    ch = cases[pat].changes.set_index("change_id")
    cause_gap = abs(ch.loc[t.cause_change_id, "ts"] - t.onset)
    configs = ch[ch["change_type"] == "config_change"]
    assert (abs(configs["ts"] - t.onset) < cause_gap).any()


@pytest.mark.parametrize("pat", PATTERNS)
def test_version_columns_move_exactly_at_their_change(cases, pat):
    ev = cases[pat].events
    ch = cases[pat].changes
    for _, c in ch[ch["attribute"].notna() & ch["attribute"].isin(ev.columns)].iterrows():
        col = c["attribute"]
        if col == "traffic_source":  # a new source appears, the others stay
            assert not (ev.loc[ev["ts"] < c["ts"], col] == c["to_value"]).any()
            assert (ev.loc[ev["ts"] >= c["ts"], col] == c["to_value"]).any()
            continue
        same = ch[(ch["attribute"] == col)].sort_values("ts")
        nxt = same[same["ts"] > c["ts"]]["ts"]
        hi = nxt.iloc[0] if len(nxt) else ev["ts"].max() + H
        prev = same[same["ts"] < c["ts"]]["ts"]
        lo = prev.iloc[-1] if len(prev) else ev["ts"].min()
        after = ev.loc[(ev["ts"] >= c["ts"]) & (ev["ts"] < hi), col].astype(str)
        before = ev.loc[(ev["ts"] >= lo) & (ev["ts"] < c["ts"]), col].astype(str)

        def norm(v):  # numeric config columns: compare as numbers
            try:
                return str(float(v))
            except ValueError:
                return v

        after, before = after.map(norm), before.map(norm)
        if pd.notna(c["rollout_pct"]):  # staged rollout: the new version only from the change on
            assert (after == norm(c["to_value"])).any() and not (before == norm(c["to_value"])).any()
        else:
            assert (after == norm(c["to_value"])).all(), c["change_id"]
            assert (before == norm(c["from_value"])).all(), c["change_id"]


@pytest.mark.parametrize("pat", PATTERNS)
def test_a_version_changes_without_a_change_event(cases, pat):
    sc = cases[pat]
    (silent,) = sc.truth.silent_changes
    col = silent["column"]
    assert col not in set(sc.changes["attribute"].dropna())
    ev = sc.events
    assert set(ev.loc[ev["ts"] < silent["ts"], col]) == {silent["from_value"]}
    assert set(ev.loc[ev["ts"] >= silent["ts"], col]) == {silent["to_value"]}


# --------------------------------------------------------------------------------------------
# Realism: cycles, segments, text
# --------------------------------------------------------------------------------------------


def test_traffic_has_daily_and_weekly_cycles(cases):
    ev = cases["retrieval"].events
    ts = ev.loc[ev["ts"] < cases["retrieval"].truth.onset, "ts"]
    by_hour = ts.dt.hour.value_counts().reindex(range(24), fill_value=0)
    assert by_hour.max() > 3 * max(by_hour.min(), 1)  # amplitude 0.75: peak/trough = 1.75/0.25
    days = ts.dt.floor("D").value_counts()
    weekday = days[days.index.day_of_week < 5].iloc[1:-1]
    weekend = days[days.index.day_of_week >= 5]
    assert weekend.mean() < 0.5 * weekday.mean()


@pytest.mark.parametrize("pat", PATTERNS)
def test_segments_scores_and_costs_are_populated(cases, pat):
    ev = cases[pat].events
    for col in ("query_category", "risk_category", "traffic_source", "framing"):
        assert ev[col].nunique() >= 2, col
    for col in ("confidence", "latency_ms", "input_tokens", "output_tokens"):
        assert ev[col].notna().mean() > 0.99, col
    assert ev["confidence"].dropna().between(0, 1).all()
    assert (ev["latency_ms"] > 0).all()


@pytest.mark.parametrize("pat", PATTERNS)
def test_some_prompts_hold_personal_data_that_redaction_removes(cases, pat):
    text = cases[pat].events["input_text"].dropna()
    pii = text[text.str.contains(r"@example\.|555[ -]01", regex=True)]
    assert 0.01 < len(pii) / len(text) < 0.06
    for t in pii.head(200):
        red = redact_text(t)
        assert "@example" not in red and "555-01" not in red and "555 01" not in red
        assert "[EMAIL]" in red or "[PHONE]" in red


# --------------------------------------------------------------------------------------------
# Retrieval degradation
# --------------------------------------------------------------------------------------------


def test_retrieval_story(cases):
    sc = cases["retrieval"]
    ev, t = sc.events, sc.truth
    ch = sc.changes.set_index("change_id")
    assert t.cause_change_type == "corpus_update" and "14,000" in ch.loc[t.cause_change_id, "description"]
    # Six weeks between the corpus update and the report (+0-36 h jitter).
    assert 42 * D <= t.reported_at - ch.loc[t.cause_change_id, "ts"] <= 42 * D + 36 * H
    # The index is stale: corpus_version moves at the cause, index_version does not.
    after = ev[ev["ts"] >= t.onset]
    assert set(after["corpus_version"]) == {"filings-v42"} and set(after["index_version"]) == {"ann-v41"}
    assert not (ch["change_type"] == "index_rebuild")[ch["ts"] >= t.onset].any()
    # Top-1 relevance: ~0.815 before, a drop at the update, the rolling mean below 0.72 at the end.
    top1 = ev.set_index("ts")["retrieval_top1_score"]
    before = top1[top1.index < t.onset]
    assert 0.80 < before.mean() < 0.83
    wk_before = top1[(top1.index >= t.onset - 7 * D) & (top1.index < t.onset)].mean()
    wk_after = top1[(top1.index >= t.onset) & (top1.index < t.onset + 7 * D)].mean()
    assert wk_before - wk_after > 0.01
    daily = top1.resample("1D").mean().rolling(7, min_periods=4).mean()
    assert daily.iloc[-1] < 0.72
    crossing = daily[daily < 0.72].index.min()
    assert t.onset + 14 * D < crossing < t.reported_at
    # retrieval_top1_score is the best of the list; the list is best first.
    first = ev["retrieval_scores"].list[0].astype(float)
    np.testing.assert_allclose(first.to_numpy(), ev["retrieval_top1_score"].to_numpy())
    # Fabricated citations concentrate in low-relevance, low-confidence answers.
    h = ev["hallucinated"].astype("float")
    low = ev["retrieval_top1_score"] < 0.72
    assert h[low].mean() > 4 * h[~low].mean()
    assert ev.loc[h == 1, "confidence"].mean() < ev.loc[h == 0, "confidence"].mean() - 0.2
    # The affected events are hallucinated answers after the update.
    aff = ev[ev["event_id"].isin(t.affected_event_ids)]
    assert aff["hallucinated"].all() and (aff["ts"] >= t.onset).all()
    assert aff["retrieval_top1_score"].mean() < 0.68


def test_retrieval_weekly_evaluation_lags(cases):
    sc = cases["retrieval"]
    ev, t = sc.evaluations, sc.truth
    assert (ev["n_questions"] == 50).all()
    np.testing.assert_allclose(ev["citation_accuracy"], ev["n_correct"] / 50)
    assert (ev["passed"] == (ev["citation_accuracy"] >= 0.95)).all()
    assert ev["ts"].diff().dropna().eq(7 * D).all()
    assert ev.loc[ev["ts"] < t.onset, "passed"].all()
    # The first failure comes weeks after the update: the evaluation lags.
    first_fail = ev.loc[~ev["passed"].astype(bool), "ts"].min()
    assert pd.isna(first_fail) or first_fail - t.onset >= 21 * D
    twin = cases["retrieval_twin"].evaluations
    assert twin["citation_accuracy"].min() >= 0.9


def test_retrieval_twin_has_no_effect(cases):
    ev = cases["retrieval_twin"].events
    t = cases["retrieval"].truth
    last = ev[ev["ts"] >= t.reported_at - 7 * D]
    first = ev[ev["ts"] < t.onset]
    assert abs(last["retrieval_top1_score"].mean() - first["retrieval_top1_score"].mean()) < 0.01
    assert abs(_rate(last["hallucinated"]) - _rate(first["hallucinated"])) < 0.015


# --------------------------------------------------------------------------------------------
# Refusal regression
# --------------------------------------------------------------------------------------------


def _refusal_segment(ev):
    return (ev["risk_category"] == "high") & (ev["query_category"] == "chest_pain") & ev["framing"].isin(
        ["hypothetical", "third_person"]
    )


def test_refusal_story(cases):
    sc = cases["refusal"]
    ev, t = sc.events, sc.truth
    ch = sc.changes.set_index("change_id")
    update = ch.loc[t.cause_change_id, "ts"]
    assert t.cause_change_type == "model_update" and t.onset - update == 96 * H
    ramp_end = ch.loc[t.cause_change_id, "ts_end"]
    assert ramp_end - t.onset == 72 * H
    seg = _refusal_segment(ev)
    # ~100% refused before the update; under 5% after the 72-hour ramp.
    assert _rate(ev.loc[seg & (ev["ts"] < update), "refused"]) >= 0.97
    assert _rate(ev.loc[seg & (ev["ts"] >= ramp_end), "refused"]) < 0.05
    # Stratified by model version the regression shows from the update on ...
    canary = ev[seg & (ev["ts"] >= update) & (ev["ts"] < t.onset)]
    assert _rate(canary.loc[canary["model_version"] == "medtriage-v2", "refused"]) < 0.2
    # ... while the segment aggregate has not moved yet (a 5% canary).
    assert _rate(canary["refused"]) > 0.85
    # Other refusal segments are unchanged: identical to the twin row for row.
    twin = cases["refusal_twin"].events
    pd.testing.assert_series_equal(ev.loc[~seg, "refused"], twin.loc[~seg, "refused"])
    # Errors in the segment come with high confidence (a model regression).
    aff = ev[ev["event_id"].isin(t.affected_event_ids)]
    assert aff["confidence"].mean() > 0.8


def test_refusal_affected_events_and_share(cases):
    sc = cases["refusal"]
    ev, t = sc.events, sc.truth
    window = (ev["ts"] >= t.onset) & (ev["ts"] < t.reported_at)
    rule = _refusal_segment(ev) & (ev["model_version"] == "medtriage-v2") & (ev["refused"] == False) & window  # noqa: E712
    assert set(ev.loc[rule.fillna(False), "event_id"]) == set(t.affected_event_ids)
    share = rule.fillna(False).sum() / window.sum()
    # The real case: 847 queries, ~0.3% of the volume.
    assert 0.002 <= share <= 0.0045
    assert share == pytest.approx(t.affected_share)


def test_refusal_twin_has_no_effect(cases):
    ev = cases["refusal_twin"].events
    t = cases["refusal"].truth
    seg = _refusal_segment(ev)
    assert _rate(ev.loc[seg & (ev["ts"] >= t.onset), "refused"]) >= 0.95


# --------------------------------------------------------------------------------------------
# Escalation storm
# --------------------------------------------------------------------------------------------


def test_escalation_story(cases):
    sc = cases["escalation"]
    ev, t = sc.events, sc.truth
    ch = sc.changes.set_index("change_id")
    traffic = ch.loc[t.cause_change_id, "ts"]
    assert t.cause_change_type == "traffic_source_change" and t.onset - traffic == 48 * H
    esc = ev.set_index("ts")["escalated"].astype("float")
    # The usual 8-12% per day before the traffic change (a little noise around it).
    daily = esc[esc.index < traffic].resample("1D").mean().iloc[1:-1]
    assert daily.between(0.06, 0.14).all() and 0.08 <= daily.mean() <= 0.12
    # ~100% within 6 hours of the onset.
    assert esc[(esc.index >= t.onset + 4 * H) & (esc.index < t.onset + 6 * H)].mean() >= 0.9
    assert esc[(esc.index >= t.onset - 24 * H) & (esc.index < t.onset)].mean() < 0.2
    # The new traffic: from the change on, account-less, general, low classifier confidence.
    blog = ev["traffic_source"] == "blog_referral"
    assert ev.loc[blog, "ts"].min() >= traffic
    pre = ev[(ev["ts"] >= traffic) & (ev["ts"] < t.onset)]
    assert 0.005 < (pre["traffic_source"] == "blog_referral").mean() < 0.06
    assert (~ev.loc[blog, "has_account"].astype(bool)).mean() > 0.9
    assert (ev.loc[blog, "query_category"] == "general_info").mean() > 0.7
    assert ev.loc[blog, "confidence"].mean() < 0.3 < 0.7 < ev.loc[~blog, "confidence"].mean()
    # The classifier did not change around the incident.
    assert ev.loc[ev["ts"] >= traffic - D, "classifier_version"].nunique() == 1
    aff = ev[ev["event_id"].isin(t.affected_event_ids)]
    assert (aff["traffic_source"] == "blog_referral").all() and aff["escalated"].all()


def test_escalation_twin_has_no_effect(cases):
    ev = cases["escalation_twin"].events
    t = cases["escalation"].truth
    storm = ev[ev["ts"] >= t.onset + 2 * H]
    assert (storm["traffic_source"] == "blog_referral").mean() > 0.8  # the traffic still came
    assert 0.06 <= _rate(storm["escalated"]) <= 0.14


# --------------------------------------------------------------------------------------------
# Sample data
# --------------------------------------------------------------------------------------------


def test_write_sample_data_round_trips(tmp_path):
    written = write_sample_data(tmp_path, scale=0.15, seed=3, progress=False, jsonl=("escalation_storm",))
    assert set(written) == {*CASE_NAMES.values(), *(c + "_baseline" for c in CASE_NAMES.values()), "README"}
    for case in CASE_NAMES.values():
        folder = tmp_path / case
        raw = pd.read_parquet(folder / "events.parquet", dtype_backend="pyarrow")
        canonical, rejected = schema.coerce(raw, schema.EVENTS, source=str(folder))
        assert len(rejected) == 0 and len(canonical) == len(raw)
        assert canonical["ts"].is_monotonic_increasing
        ch = pd.read_csv(folder / "changes.csv", dtype=str)
        ch_c, ch_rej = schema.coerce(ch, schema.CHANGES)
        assert len(ch_rej) == 0
        truth = json.loads((folder / "truth.json").read_text())
        assert truth["cause_change_id"] in set(ch_c["change_id"])
        assert truth["onset"].endswith("Z")
    lines = (tmp_path / "escalation_storm" / "events.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    n = len(pd.read_parquet(tmp_path / "escalation_storm" / "events.parquet", columns=["event_id"]))
    assert len(lines) == n and first["ts"].endswith("Z")
    assert (tmp_path / "retrieval_degradation" / "evaluations.csv").exists()
    assert "python -m analysis generate" in (tmp_path / "README.md").read_text()


def test_committed_sample_data_is_small_and_consistent():
    root = REPO / "sample_data"
    if not root.exists():
        pytest.skip("sample_data/ not generated yet")
    total = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    assert total < 10_000_000
    for case in CASE_NAMES.values():
        for folder in (root / case, root / f"{case}_baseline"):
            truth = json.loads((folder / "truth.json").read_text())
            assert truth["incident"] is (not folder.name.endswith("_baseline"))
            assert (folder / "events.parquet").exists() and (folder / "changes.csv").exists()
