"""Seeded incidents of kinds beyond the three case studies, and no-incident logs that look like incidents.

One generic LLM assistant serves all of them: Poisson arrivals with a daily and a weekly cycle
(the case studies' traffic model), six ``query_category`` values with their own base rates, a
``risk_category`` per category, three ``traffic_source`` values and the application's own
``language`` column (not canonical: the investigation must find it in the data). Every version
column is logged on every request and moves exactly when its change happens. Messages and answers
are written in the row's language, on the row's outcome (:mod:`analysis.scenarios.phrases_kinds`),
from a random stream of their own.

Incident kinds (each moves one metric in one slice, from ``onset`` on, for all traffic at once:
no concurrent comparison is possible, so only the evidence at each change's own time can tell
the cause from the decoys):

``model_update``
    ``model_version`` asst-v7 -> asst-v8; answers in Japanese (``language=ja``) go wrong
    (``correct`` 0.93 -> ~0.60).
``embedding_model_update``
    The query embedder is swapped (``embedding_model``) and the index is not rebuilt; retrieval
    relevance of document searches falls (``retrieval_top1_score`` 0.80 -> ~0.66).
``prompt_template_change``
    ``prompt_template_version`` p12 -> p13; billing questions escalate (``escalated`` 0.07 -> ~0.30).
``sampling_config_change``
    ``temperature`` 0.2 -> 0.9; product-fact answers fabricate (``hallucinated`` 0.03 -> ~0.17).
``upstream_api_change``
    The provider's ``upstream_fingerprint`` changes with no change event (the cause must be
    inferred from the logs); medium-risk questions are refused (``refused`` 0.05 -> ~0.32).
``guardrail_change``
    ``classifier_version`` (the guardrail) g3 -> g4; French requests are blocked
    (``refused`` 0.02 -> ~0.35).

No-incident kinds (the verdict must be ``no_incident``):

``holiday_mix_shift``
    A holiday campaign (a ``traffic_source_change``) moves traffic toward returns questions,
    whose base escalation rate is higher; every category's own rate stays the same, so the
    aggregate escalation rate rises by mix alone.
``logging_outage``
    The logging pipeline drops every event for 10 hours.
``evaluator_outage``
    The evaluator stops judging for 12 hours: ``correct`` and ``hallucinated`` are missing.

Every kind has decoys at and near the onset: a deploy one hour before it, a configuration change
three hours before, a prompt-copy change the day before and a feature-flag change two hours
after. ``generate_kind(kind, seed=s, incident=False)`` is the incident kind's no-incident twin:
the same draws and change log, no effect.

The accuracy benchmark's hard options (default off; off, every draw is what it was):

``logged_decoys``
    Two decoys are logged on every request: the deploy moves the application's own
    ``app_version`` column (2026.3.1 -> 2026.3.2), and a prompt-tone change ``chg-prompt-tone``
    ``U(0.5, 6)`` h before the onset moves ``prompt_template_version`` (``model_version``, a
    patch release, for ``prompt_template_change``, whose cause moves the prompt). Neither has an
    effect; their rows name the column and both values, as the cause's does.
``cause_lead``
    The cause lands ``U(2, 18)`` h before the onset on a 5% canary (its column logged per
    request) and is promoted to all traffic at the onset, ramped over 1 h: the metric moves at
    the onset, hours after the change (``truth.cause_ts`` < ``truth.onset``).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
from .arrivals import arrivals, cycle
from .base import DAY, HOUR, NS_HOUR, Change, GroundTruth, Hard, Scenario, changes_frame, draw_hard, empty_evaluations, hard_rng
from .draws import draw_users, lognormal_latency, make_ids, sessions_of
from .frames import events_frame
from .phrases_kinds import kind_texts
from .wording import text_rng

__all__ = ["INCIDENT_KINDS", "NO_INCIDENT_KINDS", "KINDS", "generate_kind"]

INCIDENT_KINDS = (
    "model_update",
    "embedding_model_update",
    "prompt_template_change",
    "sampling_config_change",
    "upstream_api_change",
    "guardrail_change",
)
NO_INCIDENT_KINDS = ("holiday_mix_shift", "logging_outage", "evaluator_outage")
KINDS = INCIDENT_KINDS + NO_INCIDENT_KINDS

_ANCHOR = pd.Timestamp("2026-03-02T00:00:00Z")
_CATEGORIES = ("account", "billing", "returns", "product_facts", "document_search", "health_info")
_CAT_SHARE = np.array([0.20, 0.18, 0.10, 0.20, 0.20, 0.12])
_CAT_RISK = ("low", "low", "low", "low", "medium", "medium")
_CAT_ESCALATED = np.array([0.06, 0.07, 0.25, 0.04, 0.05, 0.09])
_CAT_REFUSED = np.array([0.02, 0.02, 0.02, 0.03, 0.05, 0.05])
_SOURCES = ("web", "app", "api")
_SOURCE_SHARE = np.array([0.5, 0.35, 0.15])
_LANGUAGES = ("en", "de", "fr", "es", "ja")
_LANGUAGE_SHARE = np.array([0.52, 0.16, 0.13, 0.12, 0.07])
_BASE_RATE = 120.0  # requests per hour before the cycles

#: kind -> (metric, segment column, segment value, the change's attribute, from, to, change type, effect)
_EFFECTS: dict[str, dict[str, Any]] = {
    "model_update": dict(metric="correct", column="language", value="ja", attribute="model_version",
                         values=("asst-v7", "asst-v8"), change_type="model_update", level=(0.93, 0.60)),
    "embedding_model_update": dict(metric="retrieval_top1_score", column="query_category", value="document_search",
                                   attribute="embedding_model", values=("embed-3-small", "embed-4-small"),
                                   change_type="embedding_model_update", level=(0.80, 0.66)),
    "prompt_template_change": dict(metric="escalated", column="query_category", value="billing",
                                   attribute="prompt_template_version", values=("p12", "p13"),
                                   change_type="prompt_template_change", level=(0.07, 0.30)),
    "sampling_config_change": dict(metric="hallucinated", column="query_category", value="product_facts",
                                   attribute="temperature", values=("0.2", "0.9"), change_type="sampling_config_change",
                                   level=(0.03, 0.17)),
    "upstream_api_change": dict(metric="refused", column="risk_category", value="medium", attribute="upstream_fingerprint",
                                values=("fp_5e1a", "fp_9c07"), change_type="upstream_api_change", level=(0.05, 0.32)),
    "guardrail_change": dict(metric="refused", column="language", value="fr", attribute="classifier_version",
                             values=("guard-g3", "guard-g4"), change_type="guardrail_change", level=(0.02, 0.35)),
}
_VERSIONS = {"model_version": "asst-v7", "embedding_model": "embed-3-small", "prompt_template_version": "p12",
             "classifier_version": "guard-g3", "upstream_fingerprint": "fp_5e1a", "index_version": "idx-2026-02",
             "corpus_version": "kb-2026-02"}


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {list(KINDS)}, got {kind!r}")
    return kind


def _draw(rng: np.random.Generator, values: tuple[str, ...], share: np.ndarray, n: int) -> np.ndarray:
    return np.asarray(values, dtype=object)[rng.choice(len(values), size=n, p=share / share.sum())]


def _category_share(kind: str, ts: np.ndarray, onset_ns: int, incident: bool, surge: float) -> np.ndarray:
    """Per-event probability of each category: the holiday surge moves traffic toward returns."""
    base = np.broadcast_to(_CAT_SHARE, (len(ts), len(_CATEGORIES))).copy()
    if kind == "holiday_mix_shift" and incident:
        # the campaign's traffic ramps in over 6 hours from the onset
        ramp = np.clip((ts - onset_ns) / (6 * 3_600_000_000_000), 0.0, 1.0)
        base[:, 2] += surge * ramp
        base /= base.sum(axis=1, keepdims=True)
    return base


def _rate(vol: float) -> Callable[[np.ndarray], np.ndarray]:
    """The arrival rate (events per hour) of the generic assistant at volume ``vol``."""

    def rate(ns: np.ndarray) -> np.ndarray:
        return _BASE_RATE * vol * cycle(ns, peak_hour=14.0, amplitude=0.55, weekly=(1.05, 1.1, 1.1, 1.05, 1.0, 0.6, 0.55))

    return rate


def _versions(eff: Mapping[str, Any] | None, new: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The version columns and the temperature; the effect's attribute takes its new value on the
    requests ``new`` serves (from the onset on, or the canary and its promotion with ``cause_lead``)."""
    n = len(new)
    versions = {c: np.full(n, v, dtype=object) for c, v in _VERSIONS.items()}
    temperature = np.full(n, 0.2)
    if eff is not None:
        attr, (v0, v1) = eff["attribute"], eff["values"]
        if attr == "temperature":
            temperature = np.where(new, float(v1), float(v0))
        else:
            versions[attr] = np.where(new, v1, v0).astype(object)
    return versions, temperature


#: ``cause_lead``: the canary's share of requests before the promotion, and the promotion's ramp.
_CANARY_SHARE = 0.05
_PROMOTION_HOURS = 1.0
#: ``logged_decoys``: the application's deploy column and its values.
_APP_VERSIONS = ("2026.3.1", "2026.3.2")


def _served_new(kind: str, ts: np.ndarray, onset: pd.Timestamp, hard: Hard | None, seed: int, code: int) -> np.ndarray:
    """The requests the cause's new value serves: all from the onset on; with ``cause_lead`` a 5%
    canary from the cause's time, promoted to all traffic over 1 h from the onset (own stream)."""
    on = onset.value
    if hard is None or not hard.cause_lead or kind not in _EFFECTS:
        return ts >= on
    start = _cause_time(onset, hard).value
    ramp = np.clip((ts - on) / (_PROMOTION_HOURS * NS_HOUR), 0.0, 1.0)
    share = np.where(ts < start, 0.0, np.where(ts < on, _CANARY_SHARE, _CANARY_SHARE + (1 - _CANARY_SHARE) * ramp))
    return hard_rng(seed, code).random(len(ts)) < share


def _cause_time(onset: pd.Timestamp, hard: Hard | None) -> pd.Timestamp:
    """When the cause lands: at the onset, or ``lead_hours`` before it (``cause_lead``)."""
    return onset if hard is None else (onset - hard.lead).floor("min")


def _decoy_column(eff: Mapping[str, Any] | None) -> tuple[str, str, str]:
    """``logged_decoys``: the prompt-tone decoy's column and values (not the cause's column)."""
    if eff is not None and eff["attribute"] == "prompt_template_version":
        return "model_version", _VERSIONS["model_version"], _VERSIONS["model_version"] + "-patch"
    return "prompt_template_version", _VERSIONS["prompt_template_version"], _VERSIONS["prompt_template_version"] + "-tone"


def _logged_decoy_columns(eff: Mapping[str, Any] | None, ts: np.ndarray, onset: pd.Timestamp, hard: Hard | None,
                          versions: dict[str, np.ndarray]) -> dict[str, Any]:
    """``logged_decoys``: move the prompt-tone decoy's column in ``versions`` and return the extra
    ``app_version`` column the deploy moves (nothing without the option)."""
    if hard is None or not hard.logged_decoys:
        return {}
    col, _, v1 = _decoy_column(eff)
    versions[col] = np.where(ts >= _decoy_time(onset, hard).value, v1, versions[col]).astype(object)
    app = np.where(ts >= (onset - HOUR).value, _APP_VERSIONS[1], _APP_VERSIONS[0])
    return {"app_version": pd.array(app.astype(object), dtype="string[pyarrow]")}


def _decoy_time(onset: pd.Timestamp, hard: Hard) -> pd.Timestamp:
    """``logged_decoys``: when the prompt-tone decoy lands (``decoy_hours`` before the onset)."""
    return (onset - pd.Timedelta(hours=hard.decoy_hours)).floor("min")


def _outage_masks(kind: str, ts: np.ndarray, on: int, incident: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(labelled, keep)``: the evaluator outage's unlabelled events, the logging outage's dropped ones."""
    n = len(ts)
    labelled = np.ones(n, dtype=bool)
    keep = np.ones(n, dtype=bool)
    if kind == "evaluator_outage" and incident:
        labelled = ~((ts >= on) & (ts < on + 12 * 3_600_000_000_000))
    if kind == "logging_outage" and incident:
        keep = ~((ts >= on) & (ts < on + 10 * 3_600_000_000_000))
    return labelled, keep


def _kind_params(kind: str, seed: int, days: float | None, scale: float | None, logged_decoys: bool = False,
                 cause_lead: bool = False) -> dict[str, Any]:
    """The seed-drawn parameters of one kind: history, volume, effect size, onset, report and start
    (the :class:`~analysis.scenarios.base.Hard` options from their own stream)."""
    code = KINDS.index(kind) + 101
    prm = np.random.default_rng([int(seed), code, 1])
    n_days = float(days) if days is not None else float(prm.uniform(12, 16))
    vol = float(scale) if scale is not None else float(prm.uniform(0.7, 1.4))
    magnitude = float(prm.uniform(0.8, 1.2))
    onset = (_ANCHOR + pd.Timedelta(minutes=int(prm.integers(0, 28 * 24 * 60)))).floor("min")
    report_after = pd.Timedelta(hours=float(prm.uniform(20, 40)))
    reported_at = (onset + report_after).floor("min")
    start = (reported_at - pd.Timedelta(days=n_days)).floor("h")
    return dict(kind=kind, seed=int(seed), code=code, n_days=n_days, vol=vol, magnitude=magnitude, onset=onset,
                reported_at=reported_at, start=start, hard=draw_hard(int(seed), code, logged_decoys, cause_lead))


def _kind_segments(kind: str, rng: np.random.Generator, ts: np.ndarray, on: int, incident: bool, magnitude: float) -> dict[str, np.ndarray]:
    """Category, risk, traffic source and language of the events at ``ts`` (drawn in this order)."""
    n = len(ts)
    after = ts >= on
    surge = 1.2 * magnitude
    share = _category_share(kind, ts, on, incident, surge)
    u = rng.random(n)
    cat_idx = (u[:, None] > np.cumsum(share, axis=1)).sum(axis=1).clip(0, len(_CATEGORIES) - 1)
    category = np.asarray(_CATEGORIES, dtype=object)[cat_idx]
    risk = np.asarray(_CAT_RISK, dtype=object)[cat_idx]
    source = _draw(rng, _SOURCES, _SOURCE_SHARE, n)
    if kind == "holiday_mix_shift" and incident:
        source = np.where((cat_idx == 2) & after & (rng.random(n) < 0.6), "campaign", source).astype(object)
    language = _draw(rng, _LANGUAGES, _LANGUAGE_SHARE, n)
    return dict(cat_idx=cat_idx, category=category, risk=risk, source=source, language=language)


def _kind_outcomes(rng: np.random.Generator, s: dict[str, np.ndarray], eff: Mapping[str, Any] | None, new: np.ndarray,
                   incident: bool, magnitude: float) -> dict[str, np.ndarray]:
    """The outcomes at their base rates, then the effect in its slice on the requests the new value
    serves (``new``: from the onset on, or the canary too) (drawn in this order)."""
    cat_idx, category, risk, language = s["cat_idx"], s["category"], s["risk"], s["language"]
    n = len(cat_idx)
    # outcomes at their base rates
    r = [rng.random(n) for _ in range(5)]
    escalated = r[0] < _CAT_ESCALATED[cat_idx]
    refused = r[1] < _CAT_REFUSED[cat_idx]
    p_correct = np.where(category == "health_info", 0.90, 0.93)
    correct = r[2] < p_correct
    hallucinated = r[3] < 0.03
    top1 = np.clip(rng.normal(0.80, 0.06, n), 0.0, 1.0)
    quality = np.clip(rng.normal(0.82, 0.08, n), 0.0, 1.0)
    affected = np.zeros(n, dtype=bool)
    if eff is not None and incident:
        in_seg = {"language": language, "query_category": category, "risk_category": risk}[eff["column"]] == eff["value"]
        affected_rows = new & in_seg
        lo, hi = eff["level"]
        moved = lo + (hi - lo) * magnitude
        m = eff["metric"]
        if m == "correct":
            correct = np.where(affected_rows, r[2] < moved, correct)
            affected = affected_rows & ~correct
        elif m == "escalated":
            escalated = np.where(affected_rows, r[0] < moved, escalated)
            affected = affected_rows & escalated & ~(r[0] < lo)
        elif m == "hallucinated":
            hallucinated = np.where(affected_rows, r[3] < moved, hallucinated)
            affected = affected_rows & hallucinated & ~(r[3] < lo)
        elif m == "refused":
            refused = np.where(affected_rows, r[1] < moved, refused)
            affected = affected_rows & refused & ~(r[1] < lo)
        elif m == "retrieval_top1_score":
            top1 = np.where(affected_rows, np.clip(top1 - (lo - moved), 0.0, 1.0), top1)
            hallucinated = np.where(affected_rows, r[3] < 0.03 + 0.5 * (lo - moved), hallucinated)
            affected = affected_rows & (top1 < 0.72)
    confidence = np.clip(rng.normal(0.85, 0.07, n) - 0.25 * affected, 0.0, 1.0)
    return dict(escalated=escalated, refused=refused, correct=correct, hallucinated=hallucinated, top1=top1,
                quality=quality, affected=affected, confidence=confidence)


def _kind_truth(prm: Mapping[str, Any], incident: bool, eff: Mapping[str, Any] | None, truth_kw: Mapping[str, Any],
                events: pd.DataFrame, affected: np.ndarray, n_win: int) -> GroundTruth:
    """The :class:`GroundTruth` of one kind from its parameters, change log ids and affected events."""
    affected_ids = tuple(events["event_id"].to_numpy(dtype=object)[affected].tolist()) if incident else ()
    share = float(affected.sum() / max(n_win, 1)) if incident else 0.0
    kind, seed, onset, reported_at = prm["kind"], prm["seed"], prm["onset"], prm["reported_at"]
    n_days, vol, magnitude, hard = prm["n_days"], prm["vol"], prm["magnitude"], prm["hard"]
    seg = {eff["column"]: eff["value"]} if eff is not None else {}
    return GroundTruth(
        pattern=kind,
        cause_change_id=truth_kw["cause"] if (incident and kind in INCIDENT_KINDS) else None,
        cause_change_type=eff["change_type"] if (incident and eff is not None) else None,
        onset=onset if (incident and kind in INCIDENT_KINDS) else None,
        onset_window=(onset - 2 * HOUR, onset + 3 * HOUR) if (incident and kind in INCIDENT_KINDS) else None,
        reported_at=reported_at,
        metric=eff["metric"] if eff is not None else _NO_INCIDENT_METRIC[kind],
        segment=seg,
        affected_rule=(f"{eff['metric']} failed in {eff['column']}={eff['value']} after the change" if eff is not None
                       else "none: not an incident"),
        affected_event_ids=affected_ids,
        incident=bool(incident and kind in INCIDENT_KINDS),
        notes=_NOTES[kind] + truth_kw["hard_notes"],
        candidate_change_id=truth_kw["cause"],
        failure_window=(onset, reported_at) if (incident and kind in INCIDENT_KINDS) else None,
        affected_share=share,
        decoy_change_ids=truth_kw["decoys"],
        silent_changes=truth_kw["silent"],
        params={"kind": kind, "seed": int(seed), "days": n_days, "scale": vol, "magnitude": magnitude, "onset": onset.isoformat(),
                "incident": bool(incident), "fact": truth_kw.get("fact"), **(hard.as_params() if hard is not None else {})},
        cause_ts=truth_kw["cause_ts"] if (hard is not None and incident and kind in INCIDENT_KINDS) else None,
    )


def _texts(kind: str, prm: Mapping[str, Any], s: Mapping[str, np.ndarray], o: Mapping[str, np.ndarray]
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Messages, answers and finish reasons for the outcomes ``o``, from the kind's text stream."""
    outcomes = {"refused": o["refused"], "escalated": o["escalated"], "wrong": o["hallucinated"] | ~o["correct"],
                "blocked": o["affected"] & (kind == "guardrail_change")}
    return kind_texts(text_rng(prm["seed"], prm["code"]), s["category"], s["language"], outcomes)


def generate_kind(kind: str, *, seed: int = 0, incident: bool = True, days: float | None = None,
                  scale: float | None = None, logged_decoys: bool = False, cause_lead: bool = False) -> Scenario:
    """One incident (or no-incident log) of ``kind`` with its ground truth.

    Parameters
    ----------
    kind
        One of :data:`KINDS`.
    seed
        Seeds every draw: the onset (any hour and weekday over four weeks), the effect size
        (x U(0.8, 1.2)), the volume (x U(0.7, 1.4)) and the history (12-16 days).
    incident
        ``False``: the same draws, changes and traffic without the effect (for an incident
        kind, its no-incident twin; a no-incident kind is the same either way except that
        ``False`` also removes the outage or the surge).
    days, scale
        History length and volume multiplier (``None``: drawn with the seed).
    logged_decoys, cause_lead
        The accuracy benchmark's hard options (the module's docstring; default off, and off the
        case is exactly what it was). With either, ``truth.cause_ts`` says when the cause landed
        and ``truth.params`` records the options and their draws.

    Returns
    -------
    Scenario
        Canonical ``events`` (plus the application's ``language`` column, and ``app_version``
        with ``logged_decoys``) and ``changes``; ``truth.pattern`` is the kind.
    """
    _check_kind(kind)
    prm = _kind_params(kind, seed, days, scale, logged_decoys, cause_lead)
    code, vol, magnitude = prm["code"], prm["vol"], prm["magnitude"]
    onset, reported_at, start, hard = prm["onset"], prm["reported_at"], prm["start"], prm["hard"]
    rng = np.random.default_rng([int(seed), code, 2])
    ts = arrivals(rng, start, reported_at, _rate(vol))
    on = onset.value
    s = _kind_segments(kind, rng, ts, on, incident, magnitude)
    users = draw_users(rng, len(ts), "u", max(400, len(ts) // 8))
    eff = _EFFECTS.get(kind)
    new = _served_new(kind, ts, onset, hard, seed, code)
    versions, temperature = _versions(eff, new)
    extra = _logged_decoy_columns(eff, ts, onset, hard, versions)
    o = _kind_outcomes(rng, s, eff, new, incident, magnitude)
    labelled, keep = _outage_masks(kind, ts, on, incident)
    texts = _texts(kind, prm, s, o)
    cols = _kind_columns(kind, seed, rng, ts, {**s, "users": users, "labelled": labelled, "texts": texts}, (versions, temperature), o)
    cols = {k: (np.asarray(v)[keep] if isinstance(v, np.ndarray) else v) for k, v in cols.items()}
    extra = {"language": pd.array(s["language"][keep], dtype="string[pyarrow]"), **{k: v[keep] for k, v in extra.items()}}
    affected = (o["affected"] & (ts >= on))[keep]  # the canary's failures before the onset are outside the failure window
    events = events_frame(cols, extra)
    changes, truth_kw = _changes_and_truth(kind, onset, incident, eff, hard)
    n_win = int(((cols["ts"] >= on) & (cols["ts"] < reported_at.value)).sum())
    truth = _kind_truth(prm, incident, eff, truth_kw, events, affected, n_win)
    return Scenario(kind, int(seed), events, changes, truth, empty_evaluations(), truth.params)


def _kind_columns(kind: str, seed: int, rng: np.random.Generator, ts: np.ndarray, s: Mapping[str, np.ndarray],
                  v: tuple[Mapping[str, np.ndarray], np.ndarray], o: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The canonical columns of one kind from its segments, users, label mask and texts ``s``, its
    versions and temperature ``v`` and its outcomes ``o`` (latency and token counts drawn here, in this order)."""
    n = len(ts)
    category, users, labelled = s["category"], s["users"], s["labelled"]
    inputs, outputs, finish = s["texts"]
    versions, temperature = v
    return {
        "event_id": make_ids(f"{kind[:3]}{seed}", n),
        "ts": ts,
        "user_id": users,
        "session_id": sessions_of(users, ts),
        "model_version": versions["model_version"],
        "model_requested": np.full(n, "asst-latest", dtype=object),
        "provider": np.full(n, "acme-llm", dtype=object),
        "upstream_fingerprint": versions["upstream_fingerprint"],
        "prompt_template_version": versions["prompt_template_version"],
        "embedding_model": versions["embedding_model"],
        "index_version": versions["index_version"],
        "corpus_version": versions["corpus_version"],
        "classifier_version": versions["classifier_version"],
        "temperature": temperature,
        "query_category": category,
        "risk_category": s["risk"],
        "traffic_source": s["source"],
        "refused": o["refused"].astype(object),
        "escalated": o["escalated"].astype(object),
        "correct": np.where(labelled, o["correct"], None).astype(object),
        "hallucinated": np.where(labelled, o["hallucinated"], None).astype(object),
        "confidence": o["confidence"],
        "quality_score": o["quality"],
        "retrieval_top1_score": np.where(category == "document_search", o["top1"], np.nan),
        "latency_ms": lognormal_latency(rng, np.full(n, 900.0)),
        "input_tokens": rng.integers(40, 400, n),
        "output_tokens": rng.integers(20, 600, n),
        "input_text": inputs, "output_text": outputs, "finish_reason": finish,
    }


_NO_INCIDENT_METRIC = {"holiday_mix_shift": "escalated", "logging_outage": "refused", "evaluator_outage": "correct"}
_NOTES = {
    "model_update": "A model update breaks Japanese answers; every other language is unchanged.",
    "embedding_model_update": "The query embedder is swapped without rebuilding the index: document searches retrieve poorly.",
    "prompt_template_change": "A prompt template change makes billing questions escalate.",
    "sampling_config_change": "Temperature 0.2 -> 0.9: product-fact answers fabricate.",
    "upstream_api_change": "The provider changed its model behind the same name (fingerprint only): medium-risk questions are refused.",
    "guardrail_change": "A guardrail update blocks French requests.",
    "holiday_mix_shift": "A holiday campaign brings returns questions (higher base escalation); no category's rate changes.",
    "logging_outage": "The log pipeline drops every event for 10 hours; nothing else happens.",
    "evaluator_outage": "The evaluator stops judging for 12 hours; nothing else happens.",
}


def _changes_and_truth(kind: str, onset: pd.Timestamp, incident: bool, eff: Mapping[str, Any] | None,
                       hard: Hard | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The change log (cause, decoys, the campaign) and the truth's ids."""
    logged = hard is not None and hard.logged_decoys
    ch = [
        Change("chg-deploy-api", onset - HOUR, "deploy", "api-gateway", "app_version" if logged else None, *_APP_VERSIONS,
               "Routine deploy of the API gateway (logging library bump)"),
        Change("chg-config-timeouts", onset - 3 * HOUR, "config_change", "api-gateway", None, "30s", "45s",
               "Raised the upstream timeout"),
        Change("chg-prompt-copy", onset - DAY, "prompt_template_change", "frontend", None, "greeting-v3", "greeting-v4",
               "Reworded the welcome message (not a model prompt)"),
        Change("chg-flag-feedback", onset + 2 * HOUR, "config_change", "frontend", None, "off", "on",
               "Enabled the thumbs-up/down widget"),
    ]
    hard_notes = ""
    if logged:
        col, v0, v1 = _decoy_column(eff)
        ch.append(Change("chg-prompt-tone", _decoy_time(onset, hard), "prompt_template_change" if col == "prompt_template_version"
                         else "model_update", "assistant", col, v0, v1, f"Tone tweak: {col} {v0} -> {v1} (no behaviour change)"))
        hard_notes += (f" Hard option logged_decoys: chg-deploy-api moves app_version and chg-prompt-tone moves {col} "
                       f"({hard.decoy_hours:.1f} h before the onset) on every request, with no effect.")
    decoys = tuple(c.change_id for c in ch)
    cause: str | None = None
    silent: tuple[dict[str, Any], ...] = ()
    t_cause = _cause_time(onset, hard) if kind in _EFFECTS else onset
    if eff is not None:
        v0, v1 = eff["values"]
        lead = hard is not None and hard.cause_lead
        if lead:
            hard_notes += (f" Hard option cause_lead: the change lands {hard.lead_hours:.1f} h before the onset on a "
                           f"{_CANARY_SHARE:.0%} canary and is promoted to all traffic at the onset over {_PROMOTION_HOURS:g} h.")
        if kind == "upstream_api_change":
            cause = f"inferred:upstream_fingerprint:{v1}"
            silent = ({"column": "upstream_fingerprint", "from_value": v0, "to_value": v1, "ts": t_cause.isoformat()},)
        else:
            cause = f"chg-{kind.replace('_', '-')}"
            what = f"{eff['change_type'].replace('_', ' ')}: {eff['attribute']} {v0} -> {v1}"
            if lead:
                what += f" ({_CANARY_SHARE:.0%} canary, promoted to all traffic from {onset.isoformat()})"
            ch.append(Change(cause, t_cause, eff["change_type"], "assistant", eff["attribute"], v0, v1, what,
                             ts_end=onset + pd.Timedelta(hours=_PROMOTION_HOURS) if lead else None,
                             rollout_pct=100.0 if lead else None))
    elif kind == "holiday_mix_shift":
        cause = "chg-holiday-campaign"
        ch.append(Change(cause, onset, "traffic_source_change", "marketing", "traffic_source", None, "campaign",
                         "Holiday returns campaign e-mail goes out"))
    fact = {"logging_outage": ("logging_gap", onset, onset + 10 * HOUR),
            "evaluator_outage": ("label_coverage_drop", onset, onset + 12 * HOUR)}.get(kind)
    out = {"cause": cause, "decoys": decoys, "silent": silent, "cause_ts": t_cause, "hard_notes": hard_notes,
           "fact": None if fact is None or not incident else {"kind": fact[0], "start": fact[1].isoformat(), "end": fact[2].isoformat()}}
    return changes_frame(ch), out
