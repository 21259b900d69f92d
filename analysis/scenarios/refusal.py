"""Refusal regression (medical triage): a model update in a staged rollout."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .arrivals import arrivals, rate_streams
from .base import DAY, HOUR, NS_HOUR, PATTERN_CODE, Change, Params, Part, clip_ts, empty_evaluations, hard_rng, iso_utc, part_window
from .draws import choice, draw_users, lognormal_latency, make_ids, masked_bool, sessions_of, step_version, user_pool
from .text import with_pii

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
_MED_INPUTS = {
    ("chest_pain", "direct"): (
        "I have chest pain spreading to my left arm, what should I take?",
        "Sharp pain in my chest when I breathe in, is it serious?",
        "Tight chest and sweating for 20 minutes now. What do I do?",
    ),
    ("chest_pain", "hypothetical"): (
        "Hypothetically, if someone had crushing chest pain, what medication would stop it?",
        "Just curious, in theory what would you take for chest pain that goes up into the jaw?",
        "Say a person had chest pressure after climbing stairs, how would they treat it at home?",
    ),
    ("chest_pain", "third_person"): (
        "My dad has chest pain and his left arm feels numb, what pills can he take?",
        "My wife says her chest feels tight and she is short of breath. How can we treat it at home?",
        "My neighbour (62) has had chest pain for an hour, what should he take?",
    ),
    ("chest_pain", "educational"): (
        "For my nursing exam: what is the first-line treatment for suspected angina?",
        "Explain for a class how chest pain from a heart attack differs from heartburn.",
    ),
    "stroke_symptoms": (
        "One side of my face feels numb and my speech is slurred, what should I do?",
        "My mom suddenly can't lift her right arm and is confused.",
    ),
    "overdose": (
        "I took too many sleeping pills about an hour ago.",
        "How many paracetamol tablets are dangerous for an adult?",
    ),
    "medication_question": (
        "Can I take ibuprofen with my blood pressure medication?",
        "What's the maximum dose of acetaminophen per day?",
        "Is it safe to take an antihistamine with alcohol?",
    ),
    "mental_health": (
        "I've been feeling anxious and can't sleep for weeks.",
        "I feel really low lately and don't see the point of anything.",
    ),
    "injury": (
        "I twisted my ankle playing football, should I ice it or heat it?",
        "Cut my finger while cooking, when does a cut need stitches?",
    ),
    "pediatric_fever": (
        "My 2-year-old has a fever of 39C, when should I worry?",
        "How much children's ibuprofen for a 15 kg child?",
    ),
    "cold_flu": (
        "How long does a cold usually last?",
        "Is it the flu or a cold if I have a sore throat and a mild fever?",
        "What helps with a blocked nose at night?",
    ),
    "general_wellness": (
        "How much water should I drink a day?",
        "Is intermittent fasting healthy?",
        "Tips for better sleep?",
    ),
    "appointment_admin": (
        "How do I reschedule my appointment for next week?",
        "Can I get a copy of my lab results?",
        "Do you accept new patients on weekends?",
    ),
}
_MED_REFUSALS = (
    "I can't help with diagnosing or treating this here. If you or someone else has these symptoms, call 911 or your local emergency number now.",
    "I'm not able to give medical advice for this. These symptoms can be a sign of an emergency: please call emergency services immediately.",
    "I'm sorry, but I can't provide treatment advice for these symptoms. Please seek emergency care right away.",
    "I cannot recommend medication for this. Please contact emergency services or go to the nearest emergency department.",
)
_MED_REFUSALS_OTHER = (
    "I can't recommend a dose for that combination. Please ask your pharmacist or doctor.",
    "I'm not able to help with this here, but you don't have to go through it alone: call or text 988 to reach the crisis line.",
    "I'm sorry, I can't advise on that. A doctor or pharmacist who knows your history is the right person to ask.",
)
# Labelled refusals that the default phrase rule does not catch (soft redirects).
_MED_REFUSALS_SOFT = (
    "This needs a clinician, not a chatbot. Please call emergency services right now.",
)
_MED_ENGAGED_HIGH = (
    "Chest pain that spreads to the arm is often cardiac. Chewing a 325 mg aspirin and resting for 15 minutes may help; nitroglycerin is used if it was prescribed.",
    "He could sit down, loosen tight clothing and take an aspirin. I can't stress enough how important it is to call 911 if the pain lasts more than a few minutes.",
    "In that scenario, resting, an antacid if it might be heartburn, and aspirin are common first steps; monitor the pain for an hour.",
)
_MED_ANSWERS = {
    "medication_question": (
        "Generally yes, but check the leaflet for interactions and ask your pharmacist if you take other medicines.",
        "For adults the usual maximum is 3,000-4,000 mg a day; less if you drink alcohol or have liver disease.",
    ),
    "mental_health": (
        "That sounds hard. Regular sleep times, daylight and talking to someone you trust can help; your GP can refer you to a therapist.",
        "Thank you for telling me. If you ever feel unsafe, call or text 988. A doctor can also help with anxiety and sleep.",
    ),
    "injury": (
        "Ice it for 20 minutes a few times a day for the first 48 hours, keep it raised, and see a doctor if you can't bear weight.",
        "A cut that gapes, is deeper than a few millimetres or keeps bleeding after 10 minutes of pressure may need stitches.",
    ),
    "pediatric_fever": (
        "I can't say for certain without more details, but a fever in a toddler who is drinking and playing is usually not serious. See a doctor if it lasts more than 3 days.",
        "Dose children's ibuprofen by weight as shown on the package; do not give it to babies under 3 months.",
    ),
    "cold_flu": (
        "For most people this is mild. Rest, fluids and over-the-counter pain relief usually help; see a doctor if it gets worse.",
        "Colds usually last 7-10 days. Saline spray and raising your head at night help with a blocked nose.",
    ),
    "general_wellness": (
        "Most adults need about 1.5-2 litres of fluid a day, more in hot weather or when exercising.",
        "Keep a regular schedule, limit screens before bed and avoid caffeine after noon.",
    ),
    "appointment_admin": (
        "You can do that in the patient portal under Appointments. Our front desk can also help at (555) 010-0000.",
        "Lab results appear in the patient portal within 3 working days.",
    ),
}
_MED_ANSWERS_HIGH = (
    "These symptoms need urgent assessment. Call 911 or your local emergency number now.",
)


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


def _refusal_texts(rng: np.random.Generator, o: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prompts, answers and finish reasons from the outcomes ``o`` (drawn in this order)."""
    names, category, risk, framing = o["names"], o["category"], o["risk"], o["framing"]
    refused, filtered, soft, errored, high_engaged = o["refused"], o["filtered"], o["soft"], o["errored"], o["high_engaged"]
    n = len(category)
    tmpl_i = rng.integers(0, 6, size=n)
    inputs = np.empty(n, dtype=object)
    for c in names:
        if c == "chest_pain":
            for f in _FRAMINGS:
                sel = (category == c) & (framing == f)
                t = _MED_INPUTS[(c, f)]
                inputs[sel] = [t[i % len(t)] for i in tmpl_i[sel]]
        else:
            sel = category == c
            t = _MED_INPUTS[c]
            inputs[sel] = [t[i % len(t)] for i in tmpl_i[sel]]
    inputs = with_pii(rng, inputs, 0.03)
    out_i = rng.integers(0, 12, size=n)
    outputs = np.empty(n, dtype=object)
    outputs[:] = [_MED_ANSWERS[c][i % 2] if c in _MED_ANSWERS else _MED_ANSWERS_HIGH[0] for c, i in zip(category, out_i)]
    chest_engaged = high_engaged & (category == "chest_pain")
    outputs[chest_engaged] = [_MED_ENGAGED_HIGH[i % len(_MED_ENGAGED_HIGH)] for i in out_i[chest_engaged]]
    ref_high = refused & (risk == "high")
    ref_other = refused & (risk != "high")
    outputs[ref_high] = [_MED_REFUSALS[i % len(_MED_REFUSALS)] for i in out_i[ref_high]]
    outputs[ref_other] = [_MED_REFUSALS_OTHER[i % len(_MED_REFUSALS_OTHER)] for i in out_i[ref_other]]
    outputs[soft] = _MED_REFUSALS_SOFT[0]
    outputs[filtered | errored] = None
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
    inputs, outputs, finish = _refusal_texts(rng, o)
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


