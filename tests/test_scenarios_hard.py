"""The generators' hard options (``logged_decoys``, ``cause_lead``) of the accuracy benchmark:
off they change nothing, on they log the decoys on the requests and move the cause away from the
onset, as the ground truth says (recomputed here from the generated rows)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis import schema
from analysis.scenarios import (
    INCIDENT_KINDS,
    PATTERNS,
    GroundTruth,
    generate,
    generate_kind,
)

H = pd.Timedelta(hours=1)
HARD = {"logged_decoys": True, "cause_lead": True}
#: small cases: these tests read rows, they run no investigation
SMALL = {"retrieval": {"days": 49, "scale": 0.3}, "refusal": {"days": 12, "scale": 0.3}, "escalation": {"days": 8, "scale": 0.3}}


def _gen(pat: str, **kw):
    return generate(pat, seed=5, **SMALL[pat], **kw)


def _kind(kind: str, **kw):
    return generate_kind(kind, seed=5, days=6, scale=0.6, **kw)


@pytest.mark.parametrize("pat", PATTERNS)
def test_options_off_are_the_default_case(pat):
    a, b = _gen(pat), _gen(pat, logged_decoys=False, cause_lead=False)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.changes, b.changes)
    assert a.truth.to_dict() == b.truth.to_dict()
    assert "cause_ts" not in a.truth.to_dict() and "logged_decoys" not in a.truth.params


def test_kind_options_off_are_the_default_case():
    a, b = _kind("model_update"), _kind("model_update", logged_decoys=False, cause_lead=False)
    pd.testing.assert_frame_equal(a.events, b.events)
    assert a.truth.to_dict() == b.truth.to_dict()


@pytest.mark.parametrize("pat", PATTERNS)
def test_hard_options_draw_from_their_own_stream(pat):
    easy, hard = _gen(pat), _gen(pat, **HARD)
    # the same traffic and outcomes: only the version columns the options move differ
    assert len(easy.events) == len(hard.events)
    moved = {"prompt_template_version", "corpus_version"}
    same = [c for c in easy.events.columns if c not in moved]
    pd.testing.assert_frame_equal(easy.events[same], hard.events[same])
    assert easy.truth.onset == hard.truth.onset and easy.truth.reported_at == hard.truth.reported_at


def _logged_decoys(sc) -> pd.DataFrame:
    ch = sc.changes
    return ch[ch["change_id"].isin(sc.truth.decoy_change_ids) & ch["attribute"].isin(sc.events.columns)]


def _share(ev: pd.DataFrame, col: str, value: str, lo: pd.Timestamp, hi: pd.Timestamp) -> float:
    sel = ev[(ev["ts"] >= lo) & (ev["ts"] < hi)]
    return float((sel[col].astype(str) == value).mean())


@pytest.mark.parametrize("pat", PATTERNS)
def test_a_logged_decoy_near_the_onset_moves_its_column_at_its_time(pat):
    sc = _gen(pat, logged_decoys=True)
    t = sc.truth
    logged = _logged_decoys(sc)
    added = {"retrieval": "chg-0107", "refusal": "chg-0205", "escalation": "chg-0306"}[pat]
    assert added in set(logged["change_id"]) and added not in set(_gen(pat).changes["change_id"])
    (c,) = logged[logged["change_id"] == added].to_dict("records")
    assert t.onset - 6 * H <= c["ts"] < t.onset
    assert c["attribute"] and c["from_value"] and c["to_value"]
    ev = sc.events
    assert _share(ev, c["attribute"], c["to_value"], c["ts"] - 6 * H, c["ts"]) == 0.0
    after = _share(ev, c["attribute"], c["to_value"], c["ts"], c["ts"] + 6 * H)
    if pd.notna(c["rollout_pct"]):  # an A/B test: its share of the requests
        assert after == pytest.approx(c["rollout_pct"] / 100, abs=0.05)
    else:
        assert after == 1.0
    # no effect: the twin's outcome is the same with and without the decoy logged
    twin, twin_hard = _gen(pat, incident=False), _gen(pat, incident=False, logged_decoys=True)
    pd.testing.assert_series_equal(twin.events[t.metric], twin_hard.events[t.metric])


def test_retrieval_cause_leads_the_onset():
    sc = _gen("retrieval", cause_lead=True)
    t = sc.truth
    lead = (t.onset - t.cause_ts) / H
    assert 2 <= lead <= 18.1 and t.params["lead_hours"] == pytest.approx(lead, abs=0.02)
    cause = sc.changes.set_index("change_id").loc[t.cause_change_id]
    assert cause["ts"] == t.cause_ts
    ev = sc.events
    assert (ev.loc[ev["ts"] >= t.cause_ts, "corpus_version"] == "filings-v42").all()
    # the degraded queries arrive at the onset, not at the change
    low = ev["retrieval_top1_score"] < 0.66
    between = (ev["ts"] >= t.cause_ts) & (ev["ts"] < t.onset)
    assert low[between].mean() < 0.01 < low[(ev["ts"] >= t.onset)].mean()
    back = GroundTruth.from_dict(json.loads(json.dumps(t.to_dict())))
    assert back.cause_ts == t.cause_ts


@pytest.mark.parametrize("kind", INCIDENT_KINDS)
def test_kind_cause_lands_on_a_canary_hours_before_the_onset(kind):
    sc = _kind(kind, **HARD)
    schema.validate(sc.events, schema.EVENTS, source=kind)
    t = sc.truth
    assert t.cause_ts is not None and 2 * H <= t.onset - t.cause_ts <= 18 * H
    ev = sc.events
    col = {"model_update": "model_version", "embedding_model_update": "embedding_model",
           "prompt_template_change": "prompt_template_version", "sampling_config_change": "temperature",
           "upstream_api_change": "upstream_fingerprint", "guardrail_change": "classifier_version"}[kind]
    first = ev[col].iloc[0]
    new = ev[col] != first
    assert not new[ev["ts"] < t.cause_ts].any()
    assert 0.0 < new[(ev["ts"] >= t.cause_ts) & (ev["ts"] < t.onset)].mean() < 0.15  # the 5% canary
    assert new[ev["ts"] >= t.onset + 2 * H].all()  # promoted
    # the failures in the affected slice: the canary's before the onset are outside the failure window
    ids = set(t.affected_event_ids)
    assert ids and ev.loc[ev["event_id"].isin(ids), "ts"].min() >= t.onset
    # every decoy row names its column and both values when the requests log it
    logged = _logged_decoys(sc)
    assert {"chg-deploy-api", "chg-prompt-tone"} <= set(logged["change_id"])
    assert logged[["attribute", "from_value", "to_value"]].notna().all().all()
    assert col not in set(logged["attribute"])
    app = ev["app_version"].astype(str)
    deploy = logged.set_index("change_id").loc["chg-deploy-api", "ts"]
    assert (app[ev["ts"] >= deploy] == "2026.3.2").all() and (app[ev["ts"] < deploy] == "2026.3.1").all()


def test_kind_twin_with_hard_options_has_no_effect():
    inc, twin = _kind("prompt_template_change", **HARD), _kind("prompt_template_change", incident=False, **HARD)
    pd.testing.assert_frame_equal(inc.changes, twin.changes)
    billing = twin.events["query_category"] == "billing"
    after = twin.events["ts"] >= twin.truth.params["onset"]
    esc = twin.events["escalated"].astype(float)
    assert abs(esc[billing & after].mean() - esc[billing & ~after].mean()) < 0.05
    assert not twin.truth.affected_event_ids and twin.truth.cause_ts is None
    assert np.isclose(inc.truth.params["lead_hours"], twin.truth.params["lead_hours"])
