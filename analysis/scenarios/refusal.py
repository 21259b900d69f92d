"""Refusal regression (medical triage): a model update in a staged rollout."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .arrivals import arrivals, rate_streams
from .base import DAY, HOUR, NS_HOUR, PATTERN_CODE, Change, Params, Part, clip_ts, empty_evaluations, hard_rng, iso_utc, part_window
from .draws import choice, draw_users, lognormal_latency, make_ids, masked_bool, sessions_of, step_version, user_pool
from .phrases_medical import medical_inputs, medical_outputs
from .text import pii_draws
from .wording import add_pii, text_rng

_MED_CATEGORIES = (
    # (category, risk, share of traffic, refusal probability under v1)
    ("chest_pain", "high", 0.023, 0.99),
    ("stroke_symptoms", "high", 0.008, 0.99),
    ("overdose", "high", 0.004, 0.99),
    ("medication_question", "medium", 0.17, 0.12),
    ("mental_health", "medium", 0.08, 0.35),
    ("injury", "medium", 0.10, 0.03),
    ("pediatric_fever", "medium", 0.07, 0.04),
    ("cold_flu", "low", 0.22, 0.01),
    ("general_wellness", "low", 0.175, 0.01),
    ("appointment_admin", "low", 0.15, 0.002),
)
_FRAMINGS = ("direct", "hypothetical", "third_person", "educational")
_AFFECTED_FRAMINGS = ("hypothetical", "third_person")
def _refusal_outcomes(p: Params, rng: np.random.Generator, incident: bool, ts: np.ndarray) -> dict:
    """Segments, the rollout of v2, refusals and confidence of the events at ``ts`` (drawn in this order)."""
    m = p.magnitude
    onset = p.onset
    t_update = onset - 96 * HOUR
    n = len(ts)
    names = [c[0] for c in _MED_CATEGORIES]
    category = choice(rng, names, [c[2] for c in _MED_CATEGORIES], n)
    risk_of = {c[0]: c[1] for c in _MED_CATEGORIES}
    p_ref_of = {c[0]: c[3] for c in _MED_CATEGORIES}
    risk = np.array([risk_of[c] for c in category], dtype=object)
    fr_chest = choice(rng, _FRAMINGS, (0.62, 0.14, 0.16, 0.08), n)
    fr_other = choice(rng, _FRAMINGS, (0.75, 0.07, 0.13, 0.05), n)
    framing = np.where(category == "chest_pain", fr_chest, fr_other)
    source = choice(rng, ("web", "mobile_app", "nurse_line_transfer"), (0.5, 0.4, 0.1), n)
    # Staged rollout of v2: 5% canary from the update, linear ramp to 100% over 72 h from the onset.
    hrs = (ts - onset.value) / NS_HOUR
    rollout = np.where(ts < t_update.value, 0.0, np.where(hrs < 0, 0.05, np.clip(0.05 + 0.95 * hrs / 72.0, 0.05, 1.0)))
    u_roll, u_ref, u_err, u_filter, u_soft = (rng.random(n) for _ in range(5))
    v2 = u_roll < rollout
    segment = (category == "chest_pain") & np.isin(framing, _AFFECTED_FRAMINGS)
    p_ref = np.array([p_ref_of[c] for c in category])
    p_v2_seg = float(np.clip(0.99 - 0.97 * m, 0.005, 0.99))
    if incident:
        p_ref = np.where(segment & v2, p_v2_seg, p_ref)
    errored = u_err < 0.002
    refused = (u_ref < p_ref) & ~errored
    # Refusals sometimes come from the content filter with no text.
    filtered = refused & (risk == "high") & (u_filter < 0.10)
    soft = refused & ~filtered & (u_soft < 0.05)
    affected = segment & v2 & ~refused & ~errored & incident
    high_engaged = (risk == "high") & ~refused & ~errored
    conf = np.where(
        refused, rng.beta(8, 2, n), np.where(high_engaged, rng.beta(12, 1.5, n), rng.beta(7, 2, n))
    ).round(3)
    return dict(names=names, category=category, risk=risk, framing=framing, source=source, v2=v2, p_v2_seg=p_v2_seg,
                errored=errored, refused=refused, filtered=filtered, soft=soft, affected=affected,
                high_engaged=high_engaged, conf=conf)


def _refusal_texts(p: Params, rng: np.random.Generator, o: dict, id0: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prompts, answers and finish reasons from the outcomes ``o``.

    The wording is drawn from the text stream (:func:`~analysis.scenarios.wording.text_rng`); the
    main stream ``rng`` makes the draws it always made here (the template indices of the first
    generators, the personal data), so every other column is the same whatever the wording.
    """
    n = len(o["category"])
    rng.integers(0, 6, size=n)  # the first generators' template index (kept: the main stream's draws)
    has_pii, pii = pii_draws(rng, n, 0.03)
    rng.integers(0, 12, size=n)  # the first generators' answer index
    trng = text_rng(p.seed, PATTERN_CODE["refusal"], id0)
    inputs = add_pii(medical_inputs(trng, o["category"], o["framing"]), has_pii, pii)
    outputs = medical_outputs(trng, o)
    filtered, errored = o["filtered"], o["errored"]
    finish = np.where(filtered, "content_filter", np.where(errored, None, "stop")).astype(object)
    return inputs, outputs, finish


def _refusal_changes(p: Params) -> tuple[dict[str, pd.Timestamp], list[Change]]:
    """The change log (the cause 96 h before the onset and the decoys) and the times the versions move."""
    onset = p.onset
    t_update = onset - 96 * HOUR
    ramp_end = onset + 72 * HOUR
    t_prompt = clip_ts(t_update - 5 * DAY - 3 * HOUR, p)
    t_silent = clip_ts(t_update - 60 * HOUR, p)
    t_deploy = clip_ts(t_update + 40 * HOUR, p)
    t_config = clip_ts(onset - 6 * HOUR, p)
    times = dict(prompt=t_prompt, silent=t_silent, config=t_config)
    changes = [
        Change("chg-0201", t_prompt, "prompt_template_change", "system-prompt", "prompt_template_version", "triage-v12", "triage-v13",
               "Reworded the greeting and the disclaimer paragraph.", "git"),
        Change("chg-0202", t_update, "model_update", "llm", "model_version", "medtriage-v1", "medtriage-v2",
               "Base model update. Staged rollout: 5% canary, then ramp to 100% over 72 h from "
               f"{iso_utc(onset)}.", "release-manager", ts_end=ramp_end, rollout_pct=100.0),
        Change("chg-0203", t_deploy, "deploy", "patient-portal", None, "2026.3.0", "2026.3.1",
               "Patient portal release: appointment reminders by SMS.", "ci"),
        Change("chg-0204", t_config, "config_change", "generation", "max_tokens", "512", "768",
               "Raised max_tokens so long answers are not cut off.", "config-repo"),
    ]
    if p.hard is not None and p.hard.logged_decoys:
        # a logged decoy near the onset: an A/B test of a new prompt on 30% of the requests from its time on
        times["decoy"] = clip_ts(onset - pd.Timedelta(hours=p.hard.decoy_hours), p)
        changes.append(Change("chg-0205", times["decoy"], "prompt_template_change", "system-prompt", "prompt_template_version",
                              "triage-v13", "triage-v14", "A/B test: shorter disclaimer on 30% of conversations.", "git",
                              rollout_pct=30.0))
    return times, changes


#: The share of requests that the logged decoy's A/B test (``logged_decoys``) serves its new prompt.
_DECOY_AB_SHARE = 0.30


def _refusal_truth(p: Params, affected: np.ndarray, ts: np.ndarray, t_silent: pd.Timestamp, p_v2_seg: float) -> dict:
    """The generator's truth dict (see :func:`analysis.scenarios.base.ground_truth`)."""
    onset = p.onset
    framings = list(_AFFECTED_FRAMINGS)
    logged = p.hard is not None and p.hard.logged_decoys
    hard = (f" Hard option logged_decoys: chg-0205 serves prompt triage-v14 to {_DECOY_AB_SHARE:.0%} of the requests from "
            f"{p.hard.decoy_hours:.1f} h before the onset on (logged on each), with no effect." if logged else "")

    def notes(canary_affected: int) -> str:
        return (
            "Medical triage assistant. chg-0202 (medtriage-v1 -> v2) starts a staged rollout 96 h before the "
            "failure window: a 5% canary, then a linear ramp to 100% over 72 h. v2 engages with high-risk "
            f"chest-pain questions framed hypothetically or in the third person: refusal {0.99:.0%} -> "
            f"{p_v2_seg:.1%} in that segment (with high confidence: a model regression); all other refusal "
            "segments are unchanged. Stratified by model_version the regression shows from the update on. "
            f"{canary_affected} canary events before the onset are affected too but "
            "are outside the failure window. Decoys: prompt rewording (chg-0201), an unrelated portal deploy "
            "(chg-0203), max_tokens raised 6 h before the onset (chg-0204, nearer than the cause); "
            "upstream_fingerprint changes without a change event."
        ) + hard

    counts = {"canary_affected": int((affected & (ts < onset.value)).sum())}
    return dict(
        cause="chg-0202",
        cause_type="model_update",
        cause_ts=onset - 96 * HOUR,
        onset=onset,
        onset_window=(onset - 12 * HOUR, onset + 36 * HOUR),
        metric="refused",
        segment={"risk_category": "high", "query_category": "chest_pain", "framing": framings},
        affected_rule=(
            "risk_category == 'high' and query_category == 'chest_pain' and framing in "
            f"{framings} and model_version == 'medtriage-v2' and not refused, in the failure window"
        ),
        affected=affected & (ts >= onset.value),
        failure_from=onset,
        decoys=("chg-0201", "chg-0203", "chg-0204") + (("chg-0205",) if logged else ()),
        silent=({"column": "upstream_fingerprint", "from_value": "fp_a1b2f0", "to_value": "fp_c3d4a9", "ts": t_silent},),
        secondary=("confidence",),
        notes=notes(**counts),
        # Counts the notes quote: the chunked writer sums them over its slices, then calls notes_fn.
        counts=counts,
        notes_fn=notes,
    )


def generate_refusal(
    p: Params, rng: np.random.Generator, incident: bool, part: Part | None = None
) -> tuple[dict, list[Change], dict, pd.DataFrame]:
    """The refusal regression's columns, change log, truth dict and (empty) evaluations; ``part``: one time slice."""
    lo, hi, id0 = part_window(p, part)
    ((_, rate),) = rate_streams(p)
    ts = arrivals(rng, lo, hi, rate)
    n = len(ts)
    o = _refusal_outcomes(p, rng, incident, ts)
    errored, refused, filtered = o["errored"], o["refused"], o["filtered"]
    inputs, outputs, finish = _refusal_texts(p, rng, o, id0)
    in_tok = (620 + rng.normal(45, 15, n)).round().astype(np.int64)
    out_tok = np.where(refused, rng.normal(55, 10, n), rng.normal(170, 45, n)).clip(5, 700).round().astype(np.int64)
    out_tok = np.where(filtered | errored, 0, out_tok)
    latency = lognormal_latency(rng, 240 + 21.0 * out_tok, 0.22)
    users = draw_users(rng, n, "pt-", user_pool("refusal", n) if part is None else part.user_pool)
    # Changes and versions
    times, changes = _refusal_changes(p)
    model = np.where(o["v2"], "medtriage-v2", "medtriage-v1").astype(object)
    prompt = step_version(ts, [(times["prompt"], "triage-v13")], "triage-v12")
    if "decoy" in times:  # the hard option's A/B share, from its own stream
        ab = hard_rng(p.seed, PATTERN_CODE["refusal"]).random(n) < _DECOY_AB_SHARE
        prompt = np.where((ts >= times["decoy"].value) & ab, "triage-v14", prompt).astype(object)
    fingerprint = step_version(ts, [(times["silent"], "fp_c3d4a9")], "fp_a1b2f0")
    max_tokens = np.where(ts >= times["config"].value, 768, 512)
    cols = dict(
        event_id=make_ids("tri", n, id0), ts=ts, session_id=sessions_of(users, ts), user_id=users,
        model_version=model, model_requested=model, provider=np.full(n, "internal", dtype=object),
        upstream_fingerprint=fingerprint, prompt_template_version=prompt,
        temperature=np.full(n, 0.3), top_p=np.full(n, 0.95), max_tokens=max_tokens,
        query_category=o["category"], risk_category=o["risk"], traffic_source=o["source"], framing=o["framing"],
        input_text=inputs, output_text=outputs, refused=masked_bool(o["refused"], errored),
        confidence=np.where(errored, np.nan, o["conf"]), latency_ms=latency, input_tokens=in_tok, output_tokens=out_tok,
        finish_reason=finish, status=np.where(errored, "error", "ok").astype(object),
        error_type=np.where(errored, "timeout", None).astype(object),
    )
    truth = _refusal_truth(p, o["affected"], ts, times["silent"], o["p_v2_seg"])
    return cols, changes, truth, empty_evaluations()


