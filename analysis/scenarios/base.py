"""The case studies' names and parameters, the :class:`GroundTruth` and :class:`Scenario` results,
the resolved parameters of one case, its time slices and its change log."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis import schema
from analysis._common import check_timestamp
from analysis.schema import CHANGES

PATTERNS = ("retrieval", "refusal", "escalation")
CASE_NAMES = {
    "retrieval": "retrieval_degradation",
    "refusal": "refusal_regression",
    "escalation": "escalation_storm",
}
PATTERN_CODE = {"retrieval": 1, "refusal": 2, "escalation": 3}

HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)
NS_HOUR = 3_600_000_000_000
NS_DAY = 24 * NS_HOUR
# The seed-varied onsets fall in a five-week span starting on this Monday.
_ANCHOR = pd.Timestamp("2026-01-05T00:00:00Z")

# Per pattern: default history length, seed-varied range, minimum (days); base volume (events per
# hour at scale 1, before the daily and weekly cycles).
DAYS = {"retrieval": (56, (52, 60), 49), "refusal": (14, (12, 17), 11), "escalation": (14, (11, 17), 6)}
BASE_RATE = {"retrieval": 26.0, "refusal": 210.0, "escalation": 70.0}


def iso_utc(ts: Any) -> Any:
    """A timestamp as ISO 8601 UTC with milliseconds and ``Z`` (``None`` for a missing one)."""
    if ts is None or (isinstance(ts, float) and math.isnan(ts)) or ts is pd.NaT:
        return None
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _jsonable(v: Any) -> Any:
    if isinstance(v, pd.Timestamp):
        return iso_utc(v)
    if isinstance(v, pd.Timedelta):
        return v.total_seconds() / 3600.0
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


@dataclass(frozen=True)
class GroundTruth:
    """What really happened in a generated scenario.

    Attributes
    ----------
    pattern
        ``"retrieval"``, ``"refusal"`` or ``"escalation"``.
    cause_change_id, cause_change_type
        The change event that caused the incident (``None`` for a no-incident twin).
    onset
        When the metric starts moving (``None`` for a twin).
    onset_window
        ``(lo, hi)``: the detected onsets that count as correct (``None`` for a twin).
    reported_at
        When the incident was reported (the end of the exported log).
    metric
        The primary outcome column (``"retrieval_top1_score"``, ``"refused"``, ``"escalated"``).
    segment
        Column -> value (a string, or a list of strings meaning "any of") of the affected slice.
    affected_rule
        The rule that defines the affected events, in words.
    affected_event_ids
        Event ids the incident harmed (empty for a twin).
    incident
        ``False`` for the no-incident twin.
    notes
        Free text: the story, the mechanism and the expected levels.
    candidate_change_id
        The change that is the cause in the incident version (also set on the twin, where the
        same change is present but did nothing).
    failure_window
        ``(onset, reported_at)``: the window over which ``affected_share`` is computed.
    affected_share
        ``len(affected_event_ids)`` / number of events in the failure window.
    decoy_change_ids
        Change events that did nothing.
    silent_changes
        Version changes visible in the logs without a change event: dicts with ``column``,
        ``from_value``, ``to_value``, ``ts``.
    secondary_metrics
        Other outcome columns that move (e.g. ``hallucinated`` in the retrieval case).
    params
        The resolved generator parameters (seed, scale, magnitude, days, onset).
    cause_ts
        When the cause's change lands, which may be hours before ``onset`` (the metric moves
        later). Set only when a hard option (:class:`Hard`) is on, for an incident; ``None``
        otherwise (the cause's row in the change log has it).
    """

    pattern: str
    cause_change_id: str | None
    cause_change_type: str | None
    onset: pd.Timestamp | None
    onset_window: tuple[pd.Timestamp, pd.Timestamp] | None
    reported_at: pd.Timestamp
    metric: str
    segment: dict[str, Any]
    affected_rule: str
    affected_event_ids: tuple[str, ...]
    incident: bool
    notes: str
    candidate_change_id: str = ""
    failure_window: tuple[pd.Timestamp, pd.Timestamp] | None = None
    affected_share: float = 0.0
    decoy_change_ids: tuple[str, ...] = ()
    silent_changes: tuple[dict[str, Any], ...] = ()
    secondary_metrics: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    cause_ts: pd.Timestamp | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict: timestamps as ISO 8601 with ``Z``, tuples as lists (``cause_ts`` only when set)."""
        out = {}
        for name in self.__dataclass_fields__:
            if name == "cause_ts" and self.cause_ts is None:
                continue  # the hard options' field: without them truth.json stays as it was
            out[name] = _jsonable(getattr(self, name))
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "GroundTruth":
        """Inverse of :meth:`to_dict` (reads ``truth.json``)."""

        def ts(v: Any) -> pd.Timestamp | None:
            return None if v is None else pd.Timestamp(v)

        kw = dict(d)
        for k in ("onset", "reported_at", "cause_ts"):
            kw[k] = ts(kw.get(k))
        for k in ("onset_window", "failure_window"):
            v = kw.get(k)
            kw[k] = None if v is None else (ts(v[0]), ts(v[1]))
        for k in ("affected_event_ids", "decoy_change_ids", "secondary_metrics"):
            kw[k] = tuple(kw.get(k) or ())
        kw["silent_changes"] = tuple(dict(x) for x in kw.get("silent_changes") or ())
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in kw.items() if k in known})


@dataclass(frozen=True)
class Scenario:
    """A generated case: canonical ``events`` and ``changes``, the ``truth`` and extras.

    ``evaluations`` is the offline evaluation history (the retrieval case's weekly 50-question
    citation evaluation; an empty frame with the same columns for the other patterns).
    ``params`` holds the resolved generator parameters.
    """

    pattern: str
    seed: int
    events: pd.DataFrame
    changes: pd.DataFrame
    truth: GroundTruth
    evaluations: pd.DataFrame
    params: dict[str, Any]

    @property
    def case(self) -> str:
        """The sample-data folder name (``<case>`` or ``<case>_baseline`` for a twin)."""
        return CASE_NAMES[self.pattern] + ("" if self.truth.incident else "_baseline")


EVAL_COLUMNS = {
    "eval_id": "string",
    "ts": "timestamp",
    "suite": "string",
    "n_questions": "int",
    "n_correct": "int",
    "citation_accuracy": "float",
    "threshold": "float",
    "passed": "bool",
    "n_recent_questions": "int",
    "corpus_version": "string",
    "index_version": "string",
}


def empty_evaluations() -> pd.DataFrame:
    """A zero-row evaluations frame with the retrieval case's columns and dtypes."""
    return pd.DataFrame({c: pd.Series([], dtype=schema.dtype_for(k)) for c, k in EVAL_COLUMNS.items()})


def _check_pattern(pattern: str) -> str:
    if pattern not in PATTERNS:
        raise ValueError(f"`pattern` must be one of {PATTERNS}, got {pattern!r}")
    return pattern


def check_positive(name: str, value: float | None) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is ``None`` or a positive finite number."""
    if value is None:
        return
    if not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be a positive number, got {value!r}")


@dataclass(frozen=True)
class Hard:
    """The opt-in hard options of a generated case, for the accuracy benchmark (default off).

    Their values come from their own random stream (``np.random.default_rng([seed, code, 17])``,
    and ``[seed, code, 18]`` for per-request draws), so a case without them draws exactly what it
    always drew.

    Attributes
    ----------
    logged_decoys
        Some decoys are logged on the requests: their change row names the ``attribute`` and
        ``from_value``/``to_value``, and that column moves on the events at the decoy's time (all
        traffic, or an A/B share), with no effect on the outcome. The requests' exposure no
        longer singles out the cause.
    cause_lead
        The cause lands ``lead_hours`` before the metric moves (``GroundTruth.cause_ts`` <
        ``GroundTruth.onset``): the retrieval case's new filings are only asked about from the
        onset on; the kinds' change lands on a 5% canary and is promoted to all traffic at the
        onset (ramped over 1 h). The refusal and escalation causes already lead their onsets
        (96 h, 48 h) and are unchanged.
    lead_hours
        Drawn from U(2, 18) (0 without ``cause_lead``).
    decoy_hours
        Drawn from U(0.5, 6): how long before the onset the added logged decoy lands.
    """

    logged_decoys: bool = False
    cause_lead: bool = False
    lead_hours: float = 0.0
    decoy_hours: float = 0.0

    @property
    def lead(self) -> pd.Timedelta:
        """``lead_hours`` as a duration (zero without ``cause_lead``)."""
        return pd.Timedelta(hours=self.lead_hours) if self.cause_lead else pd.Timedelta(0)

    def as_params(self) -> dict[str, Any]:
        """The options and their draws, as the ground truth's ``params`` record them."""
        return {"logged_decoys": self.logged_decoys, "cause_lead": self.cause_lead,
                "lead_hours": self.lead_hours if self.cause_lead else 0.0,
                "decoy_hours": self.decoy_hours if self.logged_decoys else None}


def draw_hard(seed: int, code: int, logged_decoys: bool, cause_lead: bool) -> Hard | None:
    """The :class:`Hard` options of one case (``None`` when both are off), from their own stream."""
    if not (logged_decoys or cause_lead):
        return None
    rng = np.random.default_rng([int(seed), int(code), 17])
    lead = float(rng.uniform(2.0, 18.0))  # both drawn always, in this order: one option does not move the other
    decoy = float(rng.uniform(0.5, 6.0))
    return Hard(bool(logged_decoys), bool(cause_lead), lead, decoy)


def hard_rng(seed: int, code: int) -> np.random.Generator:
    """The per-request random stream of the hard options (canary and A/B membership)."""
    return np.random.default_rng([int(seed), int(code), 18])


@dataclass(frozen=True)
class Params:
    """One case's resolved parameters: every seed-drawn value fixed, the timeline computed."""

    pattern: str
    seed: int
    scale: float
    magnitude: float
    days: float
    onset: pd.Timestamp
    start: pd.Timestamp
    reported_at: pd.Timestamp
    jitter: float  # in [0, 1): pattern-specific position of the report after the onset
    hard: Hard | None = None  # the opt-in hard options (None: off)


def resolve(pattern: str, seed: int, scale: float | None, onset: Any, magnitude: float | None, days: float | None,
            *, logged_decoys: bool = False, cause_lead: bool = False) -> Params:
    """Check the arguments of :func:`generate` and resolve the seed-drawn parameters of one case
    (the :class:`Hard` options from their own stream)."""
    _check_pattern(pattern)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer, got {seed!r}")
    check_positive("scale", scale)
    check_positive("magnitude", magnitude)
    check_positive("days", days)
    onset_ts = check_timestamp(onset, "onset")
    # Always draw every value, in the same order, so that passing one does not move the others.
    prng = np.random.default_rng([int(seed), PATTERN_CODE[pattern], 7])
    r_scale = float(prng.uniform(0.6, 1.5))
    r_mag = float(prng.uniform(0.75, 1.3))
    lo, hi = DAYS[pattern][1]
    r_days = float(prng.integers(lo, hi + 1))
    r_onset = _ANCHOR + pd.Timedelta(minutes=int(prng.integers(0, 35 * 24 * 60)))
    jitter = float(prng.random())
    scale_v = float(scale) if scale is not None else r_scale
    mag_v = float(magnitude) if magnitude is not None else r_mag
    days_v = float(days) if days is not None else r_days
    onset_v = onset_ts if onset_ts is not None else r_onset.floor("min")
    if pattern == "retrieval":
        reported = onset_v + 42 * DAY + pd.Timedelta(hours=36 * jitter)
    elif pattern == "refusal":
        reported = onset_v + 72 * HOUR + pd.Timedelta(hours=6 + 12 * jitter)
    else:
        reported = onset_v + pd.Timedelta(hours=6 + 3 * jitter)
    reported = reported.floor("min")
    min_days = DAYS[pattern][2]
    if days_v < min_days:
        raise ValueError(f"`days` must be at least {min_days} for pattern {pattern!r} (the story needs it), got {days!r}")
    start = (reported - pd.Timedelta(days=days_v)).floor("min")
    hard = draw_hard(int(seed), PATTERN_CODE[pattern], logged_decoys, cause_lead)
    return Params(pattern, int(seed), scale_v, mag_v, days_v, onset_v, start, reported, jitter, hard)


@dataclass(frozen=True)
class Part:
    """A time slice ``[lo, hi)`` of a scenario, for the chunked writer.

    ``id0`` is the index of the slice's first event in the whole scenario (event ids and the
    escalation case's anonymous sessions continue across slices); ``user_pool`` the size of the
    user population of the whole scenario; ``day_factor`` the escalation case's day-to-day
    factor of the base escalation rate, one per day since ``start`` (drawn once).
    """

    lo: pd.Timestamp
    hi: pd.Timestamp
    id0: int
    user_pool: int
    day_factor: np.ndarray | None = None


def part_window(p: Params, part: Part | None) -> tuple[pd.Timestamp, pd.Timestamp, int]:
    """``(lo, hi, id0)``: the time slice to draw and its first event index (the whole case without a part)."""
    return (p.start, p.reported_at, 0) if part is None else (part.lo, part.hi, part.id0)

@dataclass
class Change:
    """One change-log row as a generator writes it (see :data:`analysis.schema.CHANGES`)."""

    change_id: str
    ts: pd.Timestamp
    change_type: str
    component: str
    attribute: str | None
    from_value: str | None
    to_value: str | None
    description: str
    source: str = "change_log"
    ts_end: pd.Timestamp | None = None
    rollout_pct: float | None = None


def changes_frame(changes: Sequence[Change]) -> pd.DataFrame:
    """The canonical ``changes`` table of a generator's change list, sorted by time."""
    rows = sorted(changes, key=lambda c: c.ts)
    raw = pd.DataFrame(
        {
            "change_id": [c.change_id for c in rows],
            "ts": [iso_utc(c.ts) for c in rows],
            "change_type": [c.change_type for c in rows],
            "component": [c.component for c in rows],
            "attribute": [c.attribute for c in rows],
            "from_value": [c.from_value for c in rows],
            "to_value": [c.to_value for c in rows],
            "ts_end": [iso_utc(c.ts_end) for c in rows],
            "rollout_pct": [c.rollout_pct for c in rows],
            "description": [c.description for c in rows],
            "source": [c.source for c in rows],
        },
        dtype=object,
    )
    canonical, rejected = schema.coerce(raw, CHANGES, source="analysis.scenarios")
    if len(rejected):  # pragma: no cover - a bug in this module
        raise AssertionError(f"generated change log has bad rows: {rejected['reason'].tolist()}")
    schema.validate(canonical, CHANGES, source="analysis.scenarios")
    return canonical


def clip_ts(ts: pd.Timestamp, p: Params, margin: pd.Timedelta = 6 * HOUR) -> pd.Timestamp:
    """``ts`` kept inside the exported log (``margin`` after its start, an hour before the report), to the minute."""
    return min(max(ts, p.start + margin), p.reported_at - HOUR).floor("min")


def params_dict(p: Params, incident: bool) -> dict[str, Any]:
    """The resolved parameters as the ground truth records them."""
    return {
        "pattern": p.pattern,
        "seed": p.seed,
        "scale": p.scale,
        "magnitude": p.magnitude,
        "days": p.days,
        "onset": p.onset,
        "start": p.start,
        "reported_at": p.reported_at,
        "incident": bool(incident),
        **(p.hard.as_params() if p.hard is not None else {}),
    }


def ground_truth(
    p: Params,
    t: Mapping[str, Any],
    incident: bool,
    affected_ids: tuple[str, ...],
    share: float,
    notes: str,
    params: dict[str, Any],
) -> GroundTruth:
    """The :class:`GroundTruth` from a generator's truth dict and the counted affected events."""
    return GroundTruth(
        pattern=p.pattern,
        cause_change_id=t["cause"] if incident else None,
        cause_change_type=t["cause_type"] if incident else None,
        onset=t["onset"] if incident else None,
        onset_window=t["onset_window"] if incident else None,
        reported_at=p.reported_at,
        metric=t["metric"],
        segment=t["segment"],
        affected_rule=t["affected_rule"],
        affected_event_ids=affected_ids,
        incident=bool(incident),
        notes=notes if incident else (
            f"No-incident twin: the same traffic and change log (including {t['cause']}, the cause in the incident "
            "version), but the change has no effect on the outcome. Nothing to find."
        ),
        candidate_change_id=t["cause"],
        failure_window=(t["failure_from"], p.reported_at) if incident else None,
        affected_share=float(share) if incident else 0.0,
        decoy_change_ids=tuple(t["decoys"]),
        silent_changes=tuple(t["silent"]),
        secondary_metrics=tuple(t["secondary"]),
        params=params,
        cause_ts=t.get("cause_ts") if (incident and p.hard is not None) else None,
    )
