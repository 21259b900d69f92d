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


# --------------------------------------------------------------------------------------------
# Chunked writer (write_events): the same scenario, streamed in time slices
# --------------------------------------------------------------------------------------------

import pyarrow as pa  # noqa: E402
import pyarrow.dataset as pads  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from analysis import scenarios  # noqa: E402
from analysis.scenarios import write_events  # noqa: E402

# Small but not tiny: enough events per segment for loose rate comparisons, < 2 s per case.
_CHUNK_KW = {"retrieval": dict(scale=1.0, days=56), "refusal": dict(scale=1.0, days=14), "escalation": dict(scale=1.0, days=14)}
_CHUNK_SEED = 4


@pytest.fixture(scope="module")
def chunked(tmp_path_factory):
    """Per pattern: (write_events result, read-back events frame, generate() scenario), same seed."""
    root = tmp_path_factory.mktemp("chunked")
    out = {}
    for pat in PATTERNS:
        kw = dict(seed=_CHUNK_SEED, magnitude=1.0, **_CHUNK_KW[pat])
        res = write_events(pat, root / pat, progress=False, **kw)
        raw = pd.read_parquet(res.files["events"], dtype_backend="pyarrow")
        events, rejected = schema.coerce(raw, schema.EVENTS, source=pat)
        assert len(rejected) == 0
        out[pat] = (res, events, generate(pat, **kw))
    return out


def _written_schema(frame: pd.DataFrame, path: Path) -> pa.Schema:
    scenarios.write_parquet(frame, path)
    return pq.read_schema(path)


@pytest.mark.parametrize("pat", PATTERNS)
def test_chunked_writer_has_the_canonical_schema_and_one_row_group_per_slice(chunked, pat, tmp_path):
    res, events, sc = chunked[pat]
    assert pq.read_schema(res.files["events"]).equals(_written_schema(sc.events, tmp_path / "ref.parquet"))
    committed = REPO / "sample_data" / CASE_NAMES[pat] / "events.parquet"
    if committed.exists():
        assert pq.read_schema(res.files["events"]).equals(pq.read_schema(committed))
    meta = pq.ParquetFile(res.files["events"]).metadata
    assert meta.num_rows == res.n_events == len(events)
    assert 1 < meta.num_row_groups <= res.n_chunks  # slices without events write no row group
    assert events["ts"].is_monotonic_increasing and events["event_id"].is_unique
    assert events["ts"].min() >= sc.truth.params["start"] and events["ts"].max() < sc.truth.reported_at


@pytest.mark.parametrize("pat", PATTERNS)
def test_chunked_writer_has_the_same_scenario_as_generate(chunked, pat):
    res, events, sc = chunked[pat]
    folder = res.files["events"].parent
    ch = pd.read_csv(folder / "changes.csv", dtype=str)
    ch_c, ch_rej = schema.coerce(ch, schema.CHANGES)
    assert len(ch_rej) == 0
    pd.testing.assert_frame_equal(ch_c.reset_index(drop=True), sc.changes.reset_index(drop=True), check_dtype=False)
    doc = json.loads((folder / "truth.json").read_text())
    t, ref = GroundTruth.from_dict(doc), sc.truth
    expected = ref.to_dict()
    for name in ("cause_change_id", "cause_change_type", "onset", "onset_window", "failure_window", "reported_at", "metric",
                 "segment", "affected_rule", "decoy_change_ids", "silent_changes", "candidate_change_id", "incident",
                 "secondary_metrics"):
        assert doc[name] == expected[name], name
    assert {k: v for k, v in doc["params"].items() if k not in ("writer", "chunks")} == expected["params"]
    # About the same volume (the hour-to-hour over-dispersion makes it vary by ~1-3%).
    assert len(events) == pytest.approx(len(sc.events), rel=0.06)
    # The affected events are counted across slices and listed beside truth.json.
    ids = pq.read_table(folder / "affected_event_ids.parquet").column("event_id").to_pylist()
    assert len(ids) == doc["affected_count"] == len(t.affected_event_ids) and doc["n_events"] == len(events)
    assert set(ids) <= set(events["event_id"])
    window = (events["ts"] >= t.onset) & (events["ts"] < t.reported_at)
    assert t.affected_share == pytest.approx(len(ids) / window.sum())
    assert t.affected_share == pytest.approx(ref.affected_share, rel=0.5)  # refusal: ~60-80 affected events
    if pat == "retrieval":
        ev = pd.read_csv(folder / "evaluations.csv")
        assert len(ev) == len(sc.evaluations) and set(ev["ts"]) == set(sc.evaluations["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))


def test_chunked_refusal_rates_and_affected_rule_match_generate(chunked):
    res, ev, sc = chunked["refusal"]
    ref, t = sc.events, sc.truth
    update = t.onset - 96 * H
    for frame in (ev, ref):
        seg = _refusal_segment(frame)
        assert _rate(frame.loc[seg & (frame["ts"] < update), "refused"]) >= 0.97
        v2 = frame["model_version"] == "medtriage-v2"
        assert _rate(frame.loc[seg & v2 & (frame["ts"] >= t.onset), "refused"]) < 0.15
    # Refusal rate by risk category before and after the onset: close to generate()'s.
    for risk in ("high", "medium", "low"):
        for after in (False, True):
            sel = lambda f: (f["risk_category"] == risk) & ((f["ts"] >= t.onset) == after)  # noqa: E731
            assert _rate(ev.loc[sel(ev), "refused"]) == pytest.approx(_rate(ref.loc[sel(ref), "refused"]), abs=0.06), (risk, after)
    # v2's share ramps the same way.
    for lo, hi in ((update, t.onset), (t.onset + 72 * H, t.reported_at)):
        sel = lambda f: (f["ts"] >= lo) & (f["ts"] < hi)  # noqa: E731
        a = (ev.loc[sel(ev), "model_version"] == "medtriage-v2").mean()
        b = (ref.loc[sel(ref), "model_version"] == "medtriage-v2").mean()
        assert a == pytest.approx(b, abs=0.03)
    # The affected ids are exactly the rule, recomputed from the rows.
    window = (ev["ts"] >= t.onset) & (ev["ts"] < t.reported_at)
    rule = _refusal_segment(ev) & (ev["model_version"] == "medtriage-v2") & (ev["refused"] == False) & window  # noqa: E712
    ids = pq.read_table(res.files["affected_event_ids"]).column("event_id").to_pylist()
    assert set(ev.loc[rule.fillna(False), "event_id"]) == set(ids)
    # The notes quote the canary count summed over the slices.
    canary = _refusal_segment(ev) & (ev["model_version"] == "medtriage-v2") & (ev["refused"] == False) & (ev["ts"] < t.onset)  # noqa: E712
    assert f"{int(canary.fillna(False).sum())} canary events before the onset" in res.truth.notes


def test_chunked_escalation_storm_matches_generate(chunked):
    _, ev, sc = chunked["escalation"]
    ref, t = sc.events, sc.truth
    traffic = t.onset - 48 * H
    for lo, hi, tol in ((ev["ts"].min(), traffic, 0.03), (t.onset + 2 * H, t.reported_at, 0.05)):
        sel = lambda f: (f["ts"] >= lo) & (f["ts"] < hi)  # noqa: E731
        assert _rate(ev.loc[sel(ev), "escalated"]) == pytest.approx(_rate(ref.loc[sel(ref), "escalated"]), abs=tol)
    storm = ev[ev["ts"] >= t.onset + 2 * H]
    assert (storm["traffic_source"] == "blog_referral").mean() > 0.8 and _rate(storm["escalated"]) >= 0.9
    assert ev.loc[ev["traffic_source"] == "blog_referral", "ts"].min() >= traffic
    assert (~ev.loc[ev["traffic_source"] == "blog_referral", "has_account"].astype(bool)).mean() > 0.9


def test_chunked_retrieval_relevance_matches_generate(chunked):
    _, ev, sc = chunked["retrieval"]
    ref, t = sc.events, sc.truth
    for lo, hi in ((ev["ts"].min(), t.onset), (t.reported_at - 7 * D, t.reported_at)):
        sel = lambda f: (f["ts"] >= lo) & (f["ts"] < hi)  # noqa: E731
        a, b = ev.loc[sel(ev), "retrieval_top1_score"].mean(), ref.loc[sel(ref), "retrieval_top1_score"].mean()
        assert a == pytest.approx(b, abs=0.01)
        assert _rate(ev.loc[sel(ev), "hallucinated"]) == pytest.approx(_rate(ref.loc[sel(ref), "hallucinated"]), abs=0.03)
    after = ev[ev["ts"] >= t.onset]
    assert set(after["corpus_version"]) == {"filings-v42"} and set(after["index_version"]) == {"ann-v41"}


@pytest.mark.parametrize("pat", PATTERNS)
def test_chunked_version_columns_move_at_their_change(chunked, pat):
    _, ev, sc = chunked[pat]
    (silent,) = sc.truth.silent_changes
    col = silent["column"]
    assert set(ev.loc[ev["ts"] < silent["ts"], col]) == {silent["from_value"]}
    assert set(ev.loc[ev["ts"] >= silent["ts"], col]) == {silent["to_value"]}


def test_chunked_writer_is_reproducible_and_its_twin_has_the_same_traffic(tmp_path):
    kw = dict(seed=9, scale=0.4, days=12, max_chunk_events=3_000, progress=False)
    a = write_events("escalation", tmp_path / "a", **kw)
    b = write_events("escalation", tmp_path / "b", **kw)
    assert a.n_chunks > 12  # the storm's slices were halved
    assert pq.read_table(a.files["events"]).equals(pq.read_table(b.files["events"]))
    assert a.files["events"].read_bytes() == b.files["events"].read_bytes()
    assert a.files["truth"].read_text() == b.files["truth"].read_text()
    twin = write_events("escalation", tmp_path / "twin", incident=False, **kw)
    ta, tt = pq.read_table(a.files["events"]), pq.read_table(twin.files["events"])
    for col in ("event_id", "ts", "input_text", "traffic_source"):
        assert ta.column(col).equals(tt.column(col)), col
    assert twin.affected_count == 0 and json.loads(twin.files["truth"].read_text())["cause_change_id"] is None
    other = write_events("escalation", tmp_path / "c", **{**kw, "seed": 10})
    assert not pq.read_table(other.files["events"]).equals(ta)


def test_chunked_writer_partitions_by_day(tmp_path):
    kw = dict(seed=2, scale=0.3, days=14, progress=False)
    single = write_events("refusal", tmp_path / "single", **kw)
    parts = write_events("refusal", tmp_path / "parts", partition_by_day=True, **kw)
    folder = parts.files["events"]
    assert folder.is_dir() and not (tmp_path / "parts" / "events.parquet").exists()
    files = sorted(folder.glob("day=*/part-0.parquet"))
    assert len(files) >= 12
    dataset = pads.dataset(folder, format="parquet", partitioning="hive")
    assert dataset.count_rows() == parts.n_events == single.n_events
    table = dataset.to_table()
    days = pd.Series(table.column("day").to_pylist()).astype(str)
    ts = pd.Series(table.column("ts").to_pandas())
    assert (ts.dt.strftime("%Y-%m-%d") == days).all()
    # Day edges are also the single file's slice edges: the same rows.
    back = table.drop_columns(["day"]).sort_by("ts")
    assert back.equals(pq.read_table(single.files["events"]).sort_by("ts"))
    for f in files:
        assert pq.read_schema(f).equals(pq.read_schema(single.files["events"]))
    # Writing again replaces the folder (no stale days) and a single file replaces the folder.
    write_events("refusal", tmp_path / "parts", partition_by_day=True, **{**kw, "days": 12})
    assert pads.dataset(folder, partitioning="hive").count_rows() < parts.n_events
    write_events("refusal", tmp_path / "parts", **kw)
    assert not folder.exists() and (tmp_path / "parts" / "events.parquet").exists()


def test_chunked_writer_bounds_the_slices_by_their_expected_events():
    p = scenarios.resolve("escalation", 0, 5.0, None, 1.0, 14)
    edges = scenarios.chunk_edges(p, pd.Timedelta("1D"), 20_000, False)
    assert edges[0][0] == p.start.value and edges[-1][1] == p.reported_at.value
    assert all(a < b for a, b in edges) and all(b == c for (_, b), (c, _) in zip(edges, edges[1:]))
    sizes = [scenarios.expected_events(p, a, b) for a, b in edges]
    assert max(sizes) <= 20_000 and sum(sizes) == pytest.approx(scenarios.expected_events(p, p.start.value, p.reported_at.value), rel=0.01)
    assert len(edges) > 15  # the storm day is split
    with pytest.raises(ValueError, match="`chunk`"):
        write_events("refusal", "/nonexistent/never", chunk="1min")


@pytest.mark.parametrize("pat", PATTERNS)
def test_events_table_is_the_frame_as_arrow(pat):
    p = scenarios.resolve(pat, 1, 0.2, None, 1.0, None)
    part = scenarios.Part(p.onset - 6 * H, p.onset + 6 * H, 500, 1000, np.ones(40))
    cols, _, t, _ = scenarios.GENERATORS[pat](p, np.random.default_rng(0), True, part)
    assert cols["event_id"][0] == {"retrieval": "rag", "refusal": "tri", "escalation": "sup"}[pat] + "-0000500"
    a = scenarios.events_table(cols, t.get("extra"))
    b = pa.Table.from_pandas(scenarios.events_frame(cols, t.get("extra")), preserve_index=False).replace_schema_metadata(None)
    assert a.equals(b)


def test_write_sample_data_chunked_selects_cases(tmp_path):
    written = write_sample_data(tmp_path, scale=0.1, seed=1, progress=False, cases=["refusal_regression"], baselines=False, chunked=True)
    assert set(written) == {"refusal_regression", "README"}
    assert set(written["refusal_regression"]) == {"events", "changes", "truth", "affected_event_ids"}
    assert "refusal_regression" in (tmp_path / "README.md").read_text()
    with pytest.raises(ValueError, match="`cases`"):
        write_sample_data(tmp_path, cases=["latency"], progress=False)
