"""The incident kinds beyond the case studies, end to end: application segments, evidence at each
change's own time, mix shifts and data-quality facts (checked against the generators' ground truth)."""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

from analysis import schema
from analysis import investigate
from analysis.investigation.own_time import SEPARATION_LOGLIK
from analysis.scenarios import INCIDENT_KINDS, KINDS, NO_INCIDENT_KINDS, generate_kind


def _investigate(sc):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return investigate(sc.events, sc.changes, pattern="auto", reported_at=sc.truth.reported_at, progress=False)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_canonical_seeded_and_has_decoys_near_the_onset(kind):
    a, b = generate_kind(kind, seed=3, days=6), generate_kind(kind, seed=3, days=6)
    pd.testing.assert_frame_equal(a.events, b.events)
    schema.validate(a.events, schema.EVENTS, source=kind)
    assert "language" in a.events.columns  # the application's own column
    t = a.truth
    on = pd.Timestamp(t.params["onset"])
    near = a.changes[a.changes["change_id"].isin(t.decoy_change_ids)]
    assert (abs(near["ts"] - on) <= pd.Timedelta(hours=3)).sum() >= 3
    if kind in INCIDENT_KINDS:
        assert t.incident and t.onset == on and len(t.affected_event_ids) > 0
        twin = generate_kind(kind, seed=3, days=6, incident=False)
        assert not twin.truth.incident and len(twin.events) == len(a.events)
    else:
        assert not t.incident and t.cause_change_id is None


def test_an_application_segment_and_the_change_at_its_own_time():
    sc = generate_kind("guardrail_change", seed=0, days=12)
    pm = _investigate(sc)
    assert pm.onset_result.segment_column == "language" and pm.onset_result.segment == "fr"
    lo, hi = sc.truth.onset_window
    assert lo <= pd.Timestamp(pm.onset["ts"]) <= hi
    scanned = {r["column"]: r for r in pm.parameters["segment_columns"]}
    assert scanned["language"]["scanned"] and "application" in scanned["language"]["reason"]
    assert not scanned["event_id"]["scanned"] and not scanned["model_version"]["scanned"]
    top = pm.q2.candidates.iloc[0]
    assert top["change_id"] == sc.truth.cause_change_id and top["own_step"] > 0 and top["location"] == pytest.approx(1.0)
    # the deploy an hour before shows the step in its own day too, but a step there explains the series worse
    deploy = pm.q2.candidates.set_index("change_id").loc["chg-deploy-api"]
    assert deploy["location"] < 0.5 and deploy["score"] < top["score"]
    assert pm.q2.separation is not None and pm.q2.separation.first == sc.truth.cause_change_id
    assert pm.q3.verdict == "systematic" and "language" in pm.affected_events.columns


def test_candidates_the_series_cannot_separate_are_ordered_by_observed_exposure():
    # seed 7: a deploy an hour before the model update; Japanese traffic is ~7% of requests, and a
    # step at either time explains the series about as well (checked below on the raw events)
    sc = generate_kind("model_update", seed=7)
    ja = sc.events[sc.events["language"] == "ja"]
    ch = sc.changes.set_index("change_id")["ts"]
    between = ja[(ja["ts"] >= ch["chg-deploy-api"]) & (ja["ts"] < ch["chg-model-update"])]
    assert len(between) < 10  # too few requests between the two to tell them apart
    pm = _investigate(sc)
    c = pm.q2.candidates.set_index("change_id")
    cause, deploy = c.loc[sc.truth.cause_change_id], c.loc["chg-deploy-api"]
    assert abs(cause["location_loglik"] - deploy["location_loglik"]) < SEPARATION_LOGLIK
    # the requests log model_version (exposure observed); nothing on them records the gateway deploy
    assert cause["exposure"] == 1.0 and deploy["exposure"] == 0.0
    assert cause["evidence_detail"]["exposure"]["share_after"] == 1.0
    assert cause["evidence_detail"]["exposure"]["share_before"] == 0.0
    assert pm.q2.candidates.iloc[0]["change_id"] == sc.truth.cause_change_id
    sep = pm.q2.separation
    assert not sep.separable and {sep.first, sep.second} == {sc.truth.cause_change_id, "chg-deploy-api"}
    assert "cannot separate" in sep.text and "exposure is observed" in sep.text
    # timing is read from the step's location, not from the onset's hour window
    assert cause["timing"] == pytest.approx(cause["location"]) and "timing from the step's location" in cause["evidence"]


def test_pairs_of_columns_are_scanned_and_find_a_category_within_a_framing():
    # the refusal case study with pattern="auto": its slice is chest pain questions in two framings
    from analysis import scenarios

    sc = scenarios.generate("refusal", seed=0)
    pm = _investigate(sc)
    pairs = {r["column"]: r for r in pm.parameters["segment_columns"] if " & " in r["column"]}
    assert pairs["query_category & framing"]["scanned"]
    # risk_category is a function of query_category: their pair adds nothing
    assert not pairs["query_category & risk_category"]["scanned"] and "determines" in pairs["query_category & risk_category"]["reason"]
    scan = pm.onset_scan
    best_pair = scan[scan["segment_column"] == "query_category & framing"].iloc[0]
    assert best_pair["significant"] and best_pair["segment"].split(" & ")[0] == sc.truth.segment["query_category"]
    seg = pm.onset_result.segment_dict
    assert seg["query_category"] == sc.truth.segment["query_category"]
    want = sc.truth.segment["framing"]
    assert sorted(seg["framing"] if isinstance(seg["framing"], list) else [seg["framing"]]) == sorted(want if isinstance(want, list) else [want])
    assert pm.q2.candidates.iloc[0]["change_id"] == sc.truth.cause_change_id


def test_a_mix_shift_is_not_an_incident_and_names_the_traffic(tmp_path):
    sc = generate_kind("holiday_mix_shift", seed=0, days=12)
    pm = _investigate(sc)
    assert pm.q3.verdict == "no_incident"
    ms = pm.q3.mix_shift
    assert ms["column"] == "query_category" and ms["segment"] == "returns" and ms["brought_by"] == "chg-holiday-campaign"
    assert ms["share_current"] > 2 * ms["share_baseline"]
    assert pm.q2.candidates["change_id"].iat[0] == "chg-holiday-campaign"
    # no segment counts as moved: each is held to its mix-adjusted baseline
    assert not (pm.q3.segments["status"] == "systematic").any()
    assert pm.q3.segments["baseline_source"].str.startswith("mix-adjusted").any()
    d = pm.to_dict()
    assert d["q3_scope"]["mix_shift"]["segment"] == "returns"
    assert "traffic_mix_shift" in set(pm.timeline["source"])
    pm.write(tmp_path)
    assert "**Traffic mix shift:**" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize("kind,fact", [("logging_outage", "logging_gap"), ("evaluator_outage", "label_coverage_drop")])
def test_outages_are_facts_on_the_timeline_not_incidents(kind, fact, tmp_path):
    sc = generate_kind(kind, seed=1, days=10)
    pm = _investigate(sc)
    assert pm.q3.verdict == "no_incident"
    truth = sc.truth.params["fact"]
    hits = [f for f in pm.data_quality if f.kind == fact]
    assert hits
    t0, t1 = pd.Timestamp(truth["start"]), pd.Timestamp(truth["end"])
    # the fact's span is the outage's, to the hour
    assert all(abs(f.start - t0) <= pd.Timedelta(hours=1) and abs(f.end - t1) <= pd.Timedelta(hours=1) for f in hits)
    assert (pm.timeline["kind"] == "data_quality").sum() == len(pm.data_quality)
    pm.write(tmp_path)
    rep = json.loads((tmp_path / "report.json").read_text())
    assert {f["kind"] for f in rep["data_quality"]} == {fact}
    assert "## Data quality" in (tmp_path / "report.md").read_text()


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="`kind` must be one of"):
        generate_kind("solar_flare")
    assert set(NO_INCIDENT_KINDS) <= set(KINDS)


def test_a_pair_that_only_repeats_its_parent_segment_is_not_the_slice():
    # seed 11: every Japanese answer broke; by chance Japanese returns questions (a tenth of them)
    # show a much stronger change, but their step is the rest of Japanese traffic's step
    from analysis.investigation.segments import PAIR_STRENGTH_GAIN

    sc = generate_kind("model_update", seed=11)
    pm = _investigate(sc)
    scan = pm.onset_scan[pm.onset_scan["significant"].astype(bool) & (pm.onset_scan["metric"] == "correct")]
    pairs = scan[scan["segment_column"].str.contains(" & ")]
    singles = scan[~scan["segment_column"].str.contains(" & ") & (scan["segment_column"] != "slice")]
    assert pairs["strength"].max() >= PAIR_STRENGTH_GAIN * singles["strength"].max()
    assert pm.onset_result.segment_dict == sc.truth.segment == {"language": "ja"}
    assert pm.q2.candidates.iloc[0]["change_id"] == sc.truth.cause_change_id
