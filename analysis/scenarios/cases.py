"""The three case studies by pattern, and :func:`generate`: one case in memory with its ground truth."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import PATTERN_CODE, Scenario, ground_truth, params_dict, resolve, changes_frame
from .escalation import generate_escalation
from .frames import events_frame
from .refusal import generate_refusal
from .retrieval import generate_retrieval

__all__ = ["GENERATORS", "generate"]

GENERATORS = {"retrieval": generate_retrieval, "refusal": generate_refusal, "escalation": generate_escalation}


def generate(pattern: str, *, seed: int = 0, scale: float | None = None, incident: bool = True, onset: Any = None,
             magnitude: float | None = None, days: float | None = None, logged_decoys: bool = False,
             cause_lead: bool = False) -> Scenario:
    """Generate one case-study incident (or its no-incident twin) with its ground truth.

    Parameters
    ----------
    pattern
        ``"retrieval"``, ``"refusal"`` or ``"escalation"``.
    seed
        Seeds every random draw (``np.random.default_rng``); same seed, same frames.
    scale
        Volume multiplier. ``None``: drawn from U(0.6, 1.5) with the seed.
        At 1.0: ~26 (retrieval), ~210 (refusal), ~70 (escalation) requests per hour before the
        daily and weekly cycles (the escalation storm adds ~30x at its peak).
    incident
        ``False`` gives the no-incident twin: identical random draws, changes and traffic, but
        the cause has no effect on the outcome.
    onset
        Timezone-aware timestamp at which the metric starts moving. ``None``: drawn with the
        seed (minute resolution) over the five weeks from 2026-01-05, so any hour and weekday.
    magnitude
        Effect multiplier (``None``: drawn from U(0.75, 1.3) with the seed). Retrieval: the
        share of queries about the new filings (1.0: 8% at the update growing to 55% at the
        report). Refusal: the refusal drop in the segment (1.0: 99% -> 2%; smaller is milder).
        Escalation: the blog traffic volume (1.0: ~30x the usual traffic at the peak).
    days
        History length ending at ``reported_at``. ``None``: drawn with the seed from 52-60
        (retrieval), 12-17 (refusal), 11-17 (escalation) days; the sample data uses 56, 14, 14.
    logged_decoys, cause_lead
        The hard options of the accuracy benchmark (:class:`~analysis.scenarios.base.Hard`; default
        off, and off the case is exactly what it was). ``logged_decoys`` adds a decoy near the
        onset that every request (refusal: an A/B share) logs: a prompt change (``chg-0107``,
        ``chg-0205``, ``chg-0306``) ``U(0.5, 6)`` h before the onset. ``cause_lead`` moves the
        retrieval cause ``U(2, 18)`` h before the onset (the refusal and escalation causes
        already lead by 96 h and 48 h). With either, ``truth.cause_ts`` says when the cause
        landed and ``truth.params`` records the options and their draws.

    Returns
    -------
    Scenario
        ``events`` and ``changes`` are canonical (they pass :func:`analysis.schema.validate`).

    Notes
    -----
    Timeline per pattern (``t0`` = onset): retrieval: cause ``corpus_update`` at ``t0``, report at
    ``t0 + 42 d`` (+0-36 h). Refusal: cause ``model_update`` at ``t0 - 96 h`` (5% canary), ramp to
    100% of v2 over ``[t0, t0 + 72 h]``, report 6-18 h after the ramp. Escalation: cause
    ``traffic_source_change`` at ``t0 - 48 h``, storm from ``t0``, report 6-9 h later.
    """
    p = resolve(pattern, seed, scale, onset, magnitude, days, logged_decoys=logged_decoys, cause_lead=cause_lead)
    rng = np.random.default_rng([p.seed, PATTERN_CODE[pattern], 11])
    cols, changes, t, evaluations = GENERATORS[pattern](p, rng, bool(incident))
    events = events_frame(cols, t.get("extra"))
    changes_df = changes_frame(changes)
    ts = cols["ts"]
    win = (ts >= t["failure_from"].value) & (ts < p.reported_at.value)
    affected_ids = tuple(events["event_id"].to_numpy(dtype=object)[t["affected"]].tolist()) if incident else ()
    share = len(affected_ids) / max(int(win.sum()), 1)
    params = params_dict(p, incident)
    truth = ground_truth(p, t, incident, affected_ids, share, t["notes"], params)
    return Scenario(pattern, p.seed, events, changes_df, truth, evaluations, params)
