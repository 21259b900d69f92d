"""Seeded generators of the three case-study incidents, with ground truth and no-incident twins.

Each generator writes a canonical ``events`` table (it passes
``analysis.schema.validate(events, EVENTS)``), a canonical ``changes`` table and a
:class:`GroundTruth`. The traffic is realistic enough to make the investigation honest:

* arrivals are Poisson in 5-minute bins with a daily cycle, a weekly cycle and a little
  hour-to-hour over-dispersion (a Gamma-mixed rate, i.e. negative-binomial counts);
* several segments (``query_category``, ``risk_category``, ``traffic_source``, ``framing``),
  confidence scores, latency and token counts, short prompts and answers (about 3% of prompts
  carry fake e-mail addresses or phone numbers, a few carry HTML markup);
* version columns (``model_version``, ``prompt_template_version``, ``index_version``,
  ``corpus_version``, ``classifier_version``, ``upstream_fingerprint``, ...) move exactly when
  a change happens, so stratifying by the changed column works; one version
  (``upstream_fingerprint``) changes *without* a change event, to be inferred from the logs;
* decoy changes that did nothing: a prompt rewording, an unrelated deploy and a configuration
  change placed *nearer* to the onset than the true cause (plus pattern-specific ones).

The no-incident twin (``incident=False``) draws exactly the same random numbers: the same
traffic, the same texts, the same changes (the true cause's change event included), but the
cause has no effect on the outcome.

Patterns (see ``/shared/DESIGN.md``):

``retrieval``
    Legal RAG assistant. A ``corpus_update`` adds ~14,000 filings six weeks before the report;
    the embedding index is not rebuilt (``index_version`` stays ``ann-v41`` while
    ``corpus_version`` moves to ``filings-v42``). Queries about the new filings (a share that
    jumps at the update and grows as users ask about recent cases) retrieve poorly: top-1
    cosine relevance ~0.60 instead of ~0.815; the rolling mean crosses the 0.72 reliability
    threshold about a month later; fabricated citations (``hallucinated``) follow, concentrated
    in low-relevance, low-confidence answers. ``Scenario.evaluations`` holds the weekly
    50-question citation evaluation (95% bar); its question set is refreshed by one question a
    week, so it lags the traffic.
``refusal``
    Medical triage assistant. A ``model_update`` (``medtriage-v1`` -> ``medtriage-v2``) starts a
    staged rollout 96 hours before the failure window: a 5% canary, then a ramp to 100% over 72
    hours. v2 engages with high-risk chest-pain questions framed hypothetically or in the third
    person: their refusal rate falls from ~99% to ~2% (magnitude 1). About 0.3% of all traffic
    in the failure window is affected (847 queries at the real volume; ``scale=1`` is ~1/20 of
    it). Other refusal segments are unchanged.
``escalation``
    Support bot. A ``traffic_source_change`` (a competitor's blog post) brings account-less,
    general queries (``traffic_source="blog_referral"``, ``query_category="general_info"``,
    ``has_account=False``) 48 hours before the storm; the routing classifier
    (``classifier_version`` unchanged) was not trained on them (low ``confidence``) and escalates
    them. The post goes viral at the onset and escalation goes from the usual 8-12% to ~95-100%
    within 6 hours.

``generate(pattern, seed=s)`` varies the onset (date and hour), the magnitude, the volume
and the history length with the seed when they are not given, for the accuracy benchmark.

``write_events(pattern, out_dir, ...)`` writes the same scenario at any volume with bounded
memory: the parameters (onset, changes, ground-truth window) are resolved once, then the events
are drawn and streamed to Parquet one time slice at a time (UTC days, halved while a slice is
expected to hold more than ``max_chunk_events``), each slice with its own seeded generator. Every
per-event draw depends only on the event's time, so the slices add up to the scenario; the rows
differ from :func:`generate`'s, the changes, onset, ground truth and rates do not.
``write_sample_data(..., chunked=True)`` (``python -m analysis generate`` above ``--scale 10``)
uses it for every case.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis import schema
from analysis._common import check_timestamp
from analysis.schema import CHANGES, EVENTS

__all__ = [
    "PATTERNS",
    "CASE_NAMES",
    "GroundTruth",
    "Scenario",
    "generate",
    "write_events",
    "WrittenEvents",
    "write_sample_data",
]

PATTERNS = ("retrieval", "refusal", "escalation")
CASE_NAMES = {
    "retrieval": "retrieval_degradation",
    "refusal": "refusal_regression",
    "escalation": "escalation_storm",
}
_PATTERN_CODE = {"retrieval": 1, "refusal": 2, "escalation": 3}

HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)
_NS_HOUR = 3_600_000_000_000
_NS_DAY = 24 * _NS_HOUR
# The seed-varied onsets fall in a five-week span starting on this Monday.
_ANCHOR = pd.Timestamp("2026-01-05T00:00:00Z")

# Per pattern: default history length, seed-varied range, minimum (days); base volume (events per
# hour at scale 1, before the daily and weekly cycles).
_DAYS = {"retrieval": (56, (52, 60), 49), "refusal": (14, (12, 17), 11), "escalation": (14, (11, 17), 6)}
_BASE_RATE = {"retrieval": 26.0, "refusal": 210.0, "escalation": 70.0}
# Per pattern: (minimum, events per user) of the user population.
_USER_POOL = {"retrieval": (200, 60), "refusal": (500, 6), "escalation": (300, 5)}


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


def _iso(ts: Any) -> Any:
    if ts is None or (isinstance(ts, float) and math.isnan(ts)) or ts is pd.NaT:
        return None
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _jsonable(v: Any) -> Any:
    if isinstance(v, pd.Timestamp):
        return _iso(v)
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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict: timestamps as ISO 8601 with ``Z``, tuples as lists."""
        out = {}
        for name in self.__dataclass_fields__:
            out[name] = _jsonable(getattr(self, name))
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "GroundTruth":
        """Inverse of :meth:`to_dict` (reads ``truth.json``)."""

        def ts(v: Any) -> pd.Timestamp | None:
            return None if v is None else pd.Timestamp(v)

        kw = dict(d)
        for k in ("onset", "reported_at"):
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


_EVAL_COLUMNS = {
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


def _empty_evaluations() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=schema.dtype_for(k)) for c, k in _EVAL_COLUMNS.items()})


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


def _check_pattern(pattern: str) -> str:
    if pattern not in PATTERNS:
        raise ValueError(f"`pattern` must be one of {PATTERNS}, got {pattern!r}")
    return pattern


def _check_positive(name: str, value: float | None) -> None:
    if value is None:
        return
    if not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be a positive number, got {value!r}")


@dataclass(frozen=True)
class _Params:
    pattern: str
    seed: int
    scale: float
    magnitude: float
    days: float
    onset: pd.Timestamp
    start: pd.Timestamp
    reported_at: pd.Timestamp
    jitter: float  # in [0, 1): pattern-specific position of the report after the onset


def _resolve(pattern: str, seed: int, scale: float | None, onset: Any, magnitude: float | None, days: float | None) -> _Params:
    _check_pattern(pattern)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer, got {seed!r}")
    _check_positive("scale", scale)
    _check_positive("magnitude", magnitude)
    _check_positive("days", days)
    onset_ts = check_timestamp(onset, "onset")
    # Always draw every value, in the same order, so that passing one does not move the others.
    prng = np.random.default_rng([int(seed), _PATTERN_CODE[pattern], 7])
    r_scale = float(prng.uniform(0.6, 1.5))
    r_mag = float(prng.uniform(0.75, 1.3))
    lo, hi = _DAYS[pattern][1]
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
    min_days = _DAYS[pattern][2]
    if days_v < min_days:
        raise ValueError(f"`days` must be at least {min_days} for pattern {pattern!r} (the story needs it), got {days!r}")
    start = (reported - pd.Timedelta(days=days_v)).floor("min")
    return _Params(pattern, int(seed), scale_v, mag_v, days_v, onset_v, start, reported, jitter)


# --------------------------------------------------------------------------------------------
# Traffic
# --------------------------------------------------------------------------------------------


def _hour_of_day(ns: np.ndarray) -> np.ndarray:
    return (ns % _NS_DAY) / _NS_HOUR


def _day_of_week(ns: np.ndarray) -> np.ndarray:
    # 1970-01-01 was a Thursday; Monday = 0.
    return ((ns // _NS_DAY) + 3) % 7


def _cycle(ns: np.ndarray, *, peak_hour: float, amplitude: float, weekly: Sequence[float]) -> np.ndarray:
    """Multiplicative daily x weekly profile, mean ~1 over a week of weekdays."""
    h = _hour_of_day(ns)
    daily = 1.0 + amplitude * np.cos(2 * np.pi * (h - peak_hour) / 24.0)
    return daily * np.asarray(weekly, dtype=float)[_day_of_week(ns)]


def _arrivals(
    rng: np.random.Generator,
    start: pd.Timestamp,
    end: pd.Timestamp,
    rate_per_hour: Callable[[np.ndarray], np.ndarray],
    *,
    bin_minutes: int = 5,
    dispersion: float = 40.0,
) -> np.ndarray:
    """Sorted arrival times (int64 ns, millisecond resolution) of an inhomogeneous Poisson process.

    The rate is evaluated at the start of each bin and multiplied by an hourly Gamma(k, 1/k)
    factor (over-dispersion: real traffic is burstier than Poisson).
    """
    step = bin_minutes * 60 * 1_000_000_000
    bins = np.arange(start.value, end.value, step, dtype=np.int64)
    lam = np.maximum(rate_per_hour(bins), 0.0) * bin_minutes / 60.0
    hour = (bins - bins[0]) // _NS_HOUR
    noise = rng.gamma(dispersion, 1.0 / dispersion, size=int(hour.max()) + 1)[hour]
    counts = rng.poisson(lam * noise)
    offsets = (rng.random(int(counts.sum())) * step).astype(np.int64)
    ts = np.repeat(bins, counts) + offsets
    ts = np.sort(ts)
    ts = (ts // 1_000_000) * 1_000_000
    return ts[ts < end.value]


def _rate_streams(p: _Params) -> list[tuple[pd.Timestamp, Callable[[np.ndarray], np.ndarray]]]:
    """The pattern's arrival streams: ``(start, rate)`` with ``rate(ns)`` in events per hour.

    Deterministic functions of the resolved parameters, shared by :func:`generate` and the
    chunked writer (which also uses them to size its slices before drawing anything).
    """
    if p.pattern == "retrieval":
        weekly = (1.0, 1.05, 1.05, 1.0, 0.9, 0.3, 0.25)
        base = _BASE_RATE["retrieval"] * p.scale
        return [(p.start, lambda ns: base * _cycle(ns, peak_hour=16.0, amplitude=0.75, weekly=weekly))]
    if p.pattern == "refusal":
        weekly = (1.0, 1.0, 0.98, 0.98, 0.95, 0.85, 0.85)
        base = _BASE_RATE["refusal"] * p.scale
        return [(p.start, lambda ns: base * _cycle(ns, peak_hour=18.0, amplitude=0.55, weekly=weekly))]
    m = p.magnitude
    onset = p.onset
    t_traffic = onset - 48 * HOUR
    weekly = (1.0, 1.0, 1.0, 1.0, 0.95, 0.7, 0.6)
    base = _BASE_RATE["escalation"] * p.scale
    profile = dict(peak_hour=17.0, amplitude=0.6, weekly=weekly)

    def blog_rate(ns: np.ndarray) -> np.ndarray:
        pre = np.clip((ns - t_traffic.value) / (48 * _NS_HOUR), 0.0, 1.0)
        post = np.clip(1.0 - np.exp(-(ns - onset.value) / (1.5 * _NS_HOUR)), 0.0, None)
        r = np.where(ns < t_traffic.value, 0.0, 0.01 + 0.02 * pre + 30.0 * post)
        return base * m * r * np.sqrt(_cycle(ns, **profile))

    return [(p.start, lambda ns: base * _cycle(ns, **profile)), (t_traffic, blog_rate)]


def _expected_events(p: _Params, lo: int, hi: int, bin_minutes: int = 5) -> float:
    """Expected number of arrivals in ``[lo, hi)`` (ns), from the rates on the arrival bins."""
    step = bin_minutes * 60 * 1_000_000_000
    total = 0.0
    for start, rate in _rate_streams(p):
        a = max(lo, start.value)
        if a < hi:
            bins = np.arange(a, hi, step, dtype=np.int64)
            total += float(np.maximum(rate(bins), 0.0).sum()) * bin_minutes / 60.0
    return total


@dataclass(frozen=True)
class _Part:
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


def _window(p: _Params, part: _Part | None) -> tuple[pd.Timestamp, pd.Timestamp, int]:
    return (p.start, p.reported_at, 0) if part is None else (part.lo, part.hi, part.id0)


def _choice(rng: np.random.Generator, values: Sequence[str], p: Sequence[float], n: int) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.asarray(values, dtype=object)[rng.choice(len(values), size=n, p=p / p.sum())]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _step_version(ts: np.ndarray, steps: Sequence[tuple[pd.Timestamp, str]], initial: str) -> np.ndarray:
    """A version column that takes ``value`` from each ``(ts, value)`` on."""
    out = np.full(len(ts), initial, dtype=object)
    for when, value in sorted(steps, key=lambda x: x[0]):
        out[ts >= when.value] = value
    return out


def _pick(rng: np.random.Generator, pool: Sequence[str], n: int) -> np.ndarray:
    return np.asarray(pool, dtype=object)[rng.integers(0, len(pool), size=n)]


_FIRST = ("jane", "omar", "li", "maria", "sam", "priya", "tom", "ana", "kofi", "eva", "raj", "nina")
_LAST = ("doe", "haddad", "chen", "rossi", "okafor", "patel", "berg", "silva", "mensah", "novak", "iyer", "walsh")


def _pii_sentences(rng: np.random.Generator, n: int, keep: np.ndarray | None = None) -> np.ndarray:
    """Fake personal data (reserved example.com addresses, 555-01xx numbers).

    Draws for all ``n`` rows; only the rows in the boolean ``keep`` (default: all) are written,
    the others stay ``None``.
    """
    first = _pick(rng, _FIRST, n)
    last = _pick(rng, _LAST, n)
    kind = rng.integers(0, 4, size=n)
    num = rng.integers(0, 100, size=n)
    area = _pick(rng, ("212", "415", "312", "617", "206"), n)
    out = np.empty(n, dtype=object)
    for i in range(n) if keep is None else np.flatnonzero(keep):
        if kind[i] == 0:
            out[i] = f"My email is {first[i]}.{last[i]}@example.com."
        elif kind[i] == 1:
            out[i] = f"You can call me at ({area[i]}) 555-01{num[i]:02d}."
        elif kind[i] == 2:
            out[i] = f"Reply to {first[i]}{num[i]}@example.org or text +1 {area[i]} 555 01{num[i]:02d}."
        else:
            out[i] = f"I'm {first[i].title()} {last[i].title()}, {first[i][0]}.{last[i]}@example.net."
    return out


def _fill(templates: Sequence[str], idx: np.ndarray, slots: Mapping[str, np.ndarray]) -> np.ndarray:
    """Format ``templates[idx[i]]`` with the i-th value of every slot array."""
    n = len(idx)
    out = np.empty(n, dtype=object)
    keys = list(slots)
    cols = [slots[k] for k in keys]
    for i in range(n):
        out[i] = templates[idx[i]].format(**{k: c[i] for k, c in zip(keys, cols)})
    return out


def _with_pii(rng: np.random.Generator, text: np.ndarray, share: float = 0.03) -> np.ndarray:
    has = rng.random(len(text)) < share
    pii = _pii_sentences(rng, len(text), keep=has)
    out = text.copy()
    out[has] = [f"{t} {p}" for t, p in zip(text[has], pii[has])]
    return out


def _ids(prefix: str, n: int, start: int = 0) -> np.ndarray:
    return np.array([f"{prefix}-{i:07d}" for i in range(start, start + n)], dtype=object)


@functools.lru_cache(maxsize=4)
def _user_perm(pool: int) -> np.ndarray:
    # Cached: the chunked writer asks for the same (large) pool once per chunk.
    perm = np.random.default_rng(pool).permutation(pool)
    perm.setflags(write=False)
    return perm


def _user_pool(pattern: str, n: int) -> int:
    """Size of the user population for ``n`` events (a few heavy users, a long tail)."""
    floor, per_user = _USER_POOL[pattern]
    return max(floor, n // per_user)


def _users(rng: np.random.Generator, n: int, prefix: str, pool: int) -> np.ndarray:
    # Zipf-like activity: a few heavy users, a long tail.
    ranks = np.minimum(rng.zipf(1.3, size=n), pool) - 1
    perm = _user_perm(pool)
    # Format each distinct user once (heavy users repeat).
    uniq, inverse = np.unique(ranks, return_inverse=True)
    names = np.array([f"{prefix}{perm[r]:05d}" for r in uniq], dtype=object)
    return names[inverse.reshape(-1)]


def _sessions(users: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """One session per user and UTC day: ``<user>-<day number mod 100000>`` (``None`` for no user)."""
    day = np.asarray(ts, dtype=np.int64) // _NS_DAY
    out = np.full(len(day), None, dtype=object)
    if not len(day):
        return out
    codes, uniq = pd.factorize(np.asarray(users, dtype=object), use_na_sentinel=True)
    has = codes >= 0
    d0 = int(day.min())
    span = int(day.max()) - d0 + 1
    # Format each distinct (user, day) once.
    pairs, inverse = np.unique(codes[has].astype(np.int64) * span + (day[has] - d0), return_inverse=True)
    names = np.array([f"{uniq[k // span]}-{(k % span + d0) % 100000:05d}" for k in pairs.tolist()], dtype=object)
    out[has] = names[inverse.reshape(-1)]
    return out


def _lognormal_latency(rng: np.random.Generator, base: np.ndarray, sigma: float = 0.25) -> np.ndarray:
    return np.round(base * rng.lognormal(0.0, sigma, size=len(base)), 1)


# --------------------------------------------------------------------------------------------
# Assembly
# --------------------------------------------------------------------------------------------


def _events_frame(cols: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Canonical events from numpy/object columns (missing canonical columns become NA)."""
    n = len(cols["event_id"])
    data: dict[str, Any] = {}
    for c in EVENTS.columns:
        v = cols.get(c.name)
        if c.kind == "timestamp":
            data[c.name] = pd.Series(pd.to_datetime(np.asarray(v, dtype=np.int64), utc=True)).astype(c.dtype)
        elif c.kind in ("list_float", "list_string"):
            if v is None:
                v = pa.nulls(n, type=c.dtype.pyarrow_dtype)
            data[c.name] = pd.Series(pd.arrays.ArrowExtensionArray(v))
        elif v is None:
            if c.kind == "float":
                data[c.name] = pd.Series(np.full(n, np.nan))
            else:
                data[c.name] = pd.Series(pd.array([pd.NA] * n, dtype=c.dtype))
        elif c.kind == "string":
            data[c.name] = pd.Series(pd.array(np.asarray(v, dtype=object), dtype=c.dtype))
        elif c.kind == "float":
            data[c.name] = pd.Series(np.asarray(v, dtype=float))
        elif c.kind == "int":
            arr = np.asarray(v)
            if arr.dtype == object:
                data[c.name] = pd.Series(pd.array(arr, dtype="Int64"))
            else:
                data[c.name] = pd.Series(pd.array(arr.astype(np.int64), dtype="Int64"))
        elif c.kind == "bool":
            data[c.name] = pd.Series(pd.array(np.asarray(v, dtype=object), dtype="boolean"))
    frame = pd.DataFrame(data)
    for k, v in (extra or {}).items():
        frame[k] = v
    frame = schema.derive_retrieval_columns(frame)
    schema.validate(frame, EVENTS, source="analysis.scenarios")
    return frame


_ARROW_TYPES = {
    "string": pa.large_string(),
    "timestamp": pa.timestamp("ns", tz="UTC"),
    "float": pa.float64(),
    "int": pa.int64(),
    "bool": pa.bool_(),
    "list_float": schema.dtype_for("list_float").pyarrow_dtype,
    "list_string": schema.dtype_for("list_string").pyarrow_dtype,
}


def _events_table(cols: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> pa.Table:
    """The Arrow table that ``pa.Table.from_pandas(_events_frame(cols, extra))`` gives, built directly.

    The chunked writer's path: about twice as fast as going through pandas string arrays, with
    the same column order and types (missing values are nulls, ``NaN`` floats included).
    """
    n = len(cols["event_id"])
    names, arrays = [], []
    for c in EVENTS.columns:
        typ = _ARROW_TYPES[c.kind]
        v = cols.get(c.name)
        if v is None:  # (derive_retrieval_columns derives nothing from a missing score list)
            arr = pa.nulls(n, type=typ)
        elif c.kind == "timestamp":
            arr = pa.array(np.asarray(v, dtype=np.int64)).cast(typ)
        elif c.kind in ("list_float", "list_string"):
            arr = v.cast(typ) if isinstance(v, pa.Array) else pa.array(v, type=typ)
        elif c.kind == "float":
            arr = pa.array(np.asarray(v, dtype=float), type=typ, from_pandas=True)
        elif c.kind == "bool" or (c.kind == "int" and np.asarray(v).dtype == object):
            obj = np.asarray(v, dtype=object)
            missing = np.equal(obj, None)
            filled = np.where(missing, 0, obj).astype(bool if c.kind == "bool" else np.int64)
            arr = pa.array(filled, type=typ, mask=missing if missing.any() else None)
        elif c.kind == "int":
            arr = pa.array(np.asarray(v).astype(np.int64), type=typ)
        else:
            arr = pa.array(np.asarray(v, dtype=object), type=typ, from_pandas=True)
        names.append(c.name)
        arrays.append(arr)
    for k, v in (extra or {}).items():
        names.append(k)
        arrays.append(pa.array(v))
    return pa.Table.from_arrays(arrays, names=names)


def _masked_bool(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    out = np.asarray(values, dtype=object).copy()
    out[missing] = None
    return out


@dataclass
class _Change:
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


def _changes_frame(changes: Sequence[_Change]) -> pd.DataFrame:
    rows = sorted(changes, key=lambda c: c.ts)
    raw = pd.DataFrame(
        {
            "change_id": [c.change_id for c in rows],
            "ts": [_iso(c.ts) for c in rows],
            "change_type": [c.change_type for c in rows],
            "component": [c.component for c in rows],
            "attribute": [c.attribute for c in rows],
            "from_value": [c.from_value for c in rows],
            "to_value": [c.to_value for c in rows],
            "ts_end": [_iso(c.ts_end) for c in rows],
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


def _clip_ts(ts: pd.Timestamp, p: _Params, margin: pd.Timedelta = 6 * HOUR) -> pd.Timestamp:
    return min(max(ts, p.start + margin), p.reported_at - HOUR).floor("min")


# --------------------------------------------------------------------------------------------
# Retrieval degradation (legal RAG)
# --------------------------------------------------------------------------------------------

_PARTIES = (
    "Smith", "Garcia", "Nguyen", "Okafor", "Whitman Holdings", "Rivera", "Patel", "Acme Logistics",
    "Baker", "Delgado", "Harlow Insurance", "Kim", "Lopez", "Meridian Bank", "Novak", "Osei", "Park",
    "Quinn", "Reyes", "Sterling Corp", "Tanaka", "United Freight", "Vasquez", "Wexford County",
)
_TOPICS = (
    "non-compete clauses", "spoliation of evidence", "personal jurisdiction over online sellers",
    "arbitration waivers", "qualified immunity", "trade secret misappropriation", "landlord retaliation",
    "FLSA overtime exemptions", "securities fraud scienter", "wrongful termination", "data breach standing",
    "adverse possession", "punitive damages caps", "class certification", "software patent eligibility",
)
_CIRCUITS = ("1st", "2d", "3d", "5th", "7th", "9th", "11th", "D.C.")
_RAG_INPUTS = {
    "case_lookup": (
        "What did the court hold in {case}?",
        "Summarize the holding of {case}.",
        "Find the citation for {case}.",
        "Was {case} overturned on appeal?",
    ),
    "statute_interpretation": (
        "How do courts interpret the notice requirement for {topic}?",
        "Does the statute of limitations for {topic} toll during appeal?",
        "Which statutes govern {topic} in the {circuit} Circuit?",
    ),
    "procedure": (
        "What is the deadline to file a motion to dismiss on {topic} grounds?",
        "How do I serve a subpoena in a {topic} case?",
        "Can I amend a complaint about {topic} after the answer is filed?",
    ),
    "precedent_search": (
        "Find precedent on {topic} in the {circuit} Circuit.",
        "Cases where courts applied the economic loss rule to {topic}?",
        "Best authority against a claim of {topic}?",
    ),
    "recent_case_law": (
        "Any recent rulings on {topic}?",
        "What's the latest {circuit} Circuit decision on {topic}?",
        "Summarize recent developments in {topic}.",
    ),
}
_RAG_NEW_INPUTS = (
    "What did the court decide in the 2026 filing {case}?",
    "Summarize the new {circuit} Circuit filing in {case} on {topic}.",
    "Any 2026 rulings on {topic}? I saw {case} was just decided.",
    "How does the recent decision in {case} affect {topic}?",
)
_RAG_OUTPUTS = (
    "In {case}, {cite}, the court held that {topic} claims require a showing of actual harm. See also {case2}, {cite2}.",
    "The leading authority is {case}, {cite}, which applied a balancing test to {topic}. It was followed in {case2}, {cite2}.",
    "Courts in the {circuit} Circuit treat {topic} narrowly; see {case}, {cite}.",
    "{case}, {cite}, is on point: the court rejected the argument on {topic}. Compare {case2}, {cite2}.",
)


def _citations(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    a = _pick(rng, _PARTIES, n)
    b = _pick(rng, _PARTIES, n)
    vol = rng.integers(100, 999, size=n)
    page = rng.integers(1, 1500, size=n)
    ser = rng.integers(2, 5, size=n)
    circ = _pick(rng, _CIRCUITS, n)
    year = rng.integers(1998, 2026, size=n)
    case = np.array([f"{x} v. {y}" for x, y in zip(a, b)], dtype=object)
    cite = np.array(
        [f"{v} F.{'d' if s == 2 else str(s) + 'd'} {pg} ({c} Cir. {yr})" for v, s, pg, c, yr in zip(vol, ser, page, circ, year)],
        dtype=object,
    )
    return case, cite


def _retrieval_evaluations(p: _Params, rng: np.random.Generator, incident: bool) -> pd.DataFrame:
    """The retrieval case's weekly citation-50 evaluation history (deterministic times, drawn scores)."""
    m = p.magnitude
    t_c = p.onset
    t_old_corpus = _clip_ts(t_c - 7 * DAY + 2 * HOUR, p)
    t_old_index = t_old_corpus + 6 * HOUR
    # Weekly evaluation: 50 fixed questions written before the update, one question a week
    # replaced by one about the latest filings; the eval therefore lags the traffic.
    eval_ts = pd.date_range((p.start + 6 * HOUR).floor("D"), p.reported_at, freq="W-MON") + 6 * HOUR
    eval_ts = eval_ts[(eval_ts >= p.start) & (eval_ts < p.reported_at)]
    # The first question about filings added at t_c enters the set two weekly refreshes later.
    k_new = np.clip(np.floor((eval_ts - t_c) / (7 * DAY)).astype(int) - 1, 0, 50)
    old_ok = rng.binomial(50 - k_new, 0.99)
    new_ok = rng.binomial(k_new, 0.99 if not incident else max(0.02, 1.0 - 0.5 * m))
    n_correct = old_ok + new_ok
    ev = pd.DataFrame(
        {
            "eval_id": [f"eval-{i:03d}" for i in range(len(eval_ts))],
            "ts": eval_ts,
            "suite": "citation-50",
            "n_questions": 50,
            "n_correct": n_correct,
            "citation_accuracy": n_correct / 50.0,
            "threshold": 0.95,
            "passed": n_correct / 50.0 >= 0.95,
            "n_recent_questions": k_new,
            "corpus_version": _step_version(eval_ts.asi8, [(t_old_corpus, "filings-v41"), (t_c, "filings-v42")], "filings-v40"),
            "index_version": _step_version(eval_ts.asi8, [(t_old_index, "ann-v41")], "ann-v40"),
        }
    )
    ev = ev.astype({c: schema.dtype_for(k) for c, k in _EVAL_COLUMNS.items()})
    return ev


def _gen_retrieval(
    p: _Params, rng: np.random.Generator, incident: bool, part: _Part | None = None
) -> tuple[dict, list[_Change], dict, pd.DataFrame]:
    m = p.magnitude
    t_c = p.onset
    lo, hi, id0 = _window(p, part)
    ((_, rate),) = _rate_streams(p)
    ts = _arrivals(rng, lo, hi, rate)
    n = len(ts)
    # Share of queries about the filings added at t_c: jumps at the update (the filings users were
    # waiting for), then grows as users ask about recent cases.
    span = (p.reported_at - t_c).value
    frac = np.clip((ts - t_c.value) / span, 0.0, None)
    share = np.where(ts >= t_c.value, np.clip(m * (0.08 + 0.47 * frac), 0.0, 0.9), 0.0)
    u_new, u_h, u_c, u_err = rng.random(n), rng.random(n), rng.random(n), rng.random(n)
    about_new = u_new < share
    cats = list(_RAG_INPUTS)
    cat_old = _choice(rng, cats, (0.30, 0.24, 0.20, 0.16, 0.10), n)
    cat_new = _choice(rng, ("recent_case_law", "case_lookup", "precedent_search"), (0.75, 0.15, 0.10), n)
    category = np.where(about_new, cat_new, cat_old)
    framing = _choice(rng, ("question", "memo_request", "brief_drafting"), (0.6, 0.25, 0.15), n)
    risk = np.select([framing == "brief_drafting", framing == "memo_request"], ["high", "medium"], "low").astype(object)
    source = _choice(rng, ("web", "word_addin", "api"), (0.55, 0.30, 0.15), n)
    # Retrieval: top-1 cosine relevance; the stale index has no vectors for the new filings.
    top1_ok = np.clip(rng.normal(0.815, 0.045, n), 0.55, 0.97)
    top1_bad = np.clip(rng.normal(0.60, 0.05, n), 0.35, 0.80)
    degraded = about_new & incident
    top1 = np.where(degraded, top1_bad, top1_ok)
    gaps = rng.exponential(0.018, size=(n, 4)) + 0.004
    scores = np.round(np.column_stack([top1, top1[:, None] - np.cumsum(gaps, axis=1)]), 4)
    docs_pool = 4000
    doc_idx = rng.integers(0, docs_pool, size=(n, 5))
    # Model confidence follows the retrieved evidence: low relevance -> low confidence.
    confidence = np.round(_sigmoid((top1 - 0.68) / 0.05 + rng.normal(0, 0.6, n)), 3)
    p_h = 0.015 + 0.5 * _sigmoid((0.68 - top1) / 0.03)
    errored = u_err < 0.002
    hallucinated = (u_h < p_h) & ~errored
    correct = ~hallucinated & (u_c < 0.94)
    quality = np.round(np.where(hallucinated, rng.beta(2, 5, n), rng.beta(8, 2, n)), 3)
    # Text
    case, cite = _citations(rng, n)
    case2, cite2 = _citations(rng, n)
    topic = _pick(rng, _TOPICS, n)
    circuit = _pick(rng, _CIRCUITS, n)
    tmpl_idx = rng.integers(0, 4, size=n)
    inputs = np.empty(n, dtype=object)
    for c in cats:
        sel = (category == c) & ~about_new
        if sel.any():
            tmpl = _RAG_INPUTS[c]
            inputs[sel] = _fill(tmpl, tmpl_idx[sel] % len(tmpl), {"case": case[sel], "topic": topic[sel], "circuit": circuit[sel]})
    if about_new.any():
        inputs[about_new] = _fill(_RAG_NEW_INPUTS, tmpl_idx[about_new], {"case": case[about_new], "topic": topic[about_new], "circuit": circuit[about_new]})
    inputs = _with_pii(rng, inputs, 0.025)
    out_idx = rng.integers(0, len(_RAG_OUTPUTS), size=n)
    outputs = _fill(_RAG_OUTPUTS, out_idx, {"case": case, "cite": cite, "case2": case2, "cite2": cite2, "topic": topic, "circuit": circuit})
    outputs[errored] = None
    in_tok = (1900 + rng.normal(0, 250, n)).round().astype(np.int64)
    out_tok = np.clip(rng.normal(260, 60, n), 40, 1000).round().astype(np.int64)
    latency = _lognormal_latency(rng, 320 + 0.05 * in_tok + 17.0 * out_tok, 0.2)
    users = _users(rng, n, "lawyer-", _user_pool("retrieval", n) if part is None else part.user_pool)
    # Changes and versions
    t_old_corpus = _clip_ts(t_c - 7 * DAY + 2 * HOUR, p)
    t_old_index = t_old_corpus + 6 * HOUR
    t_prompt = _clip_ts(t_c - 3 * DAY - 5 * HOUR, p)
    t_config = _clip_ts(t_c + 20 * HOUR, p)
    t_deploy = _clip_ts(t_c + 27 * DAY + 3 * HOUR, p)
    t_silent = _clip_ts(t_c + 12 * DAY + 9 * HOUR, p)
    corpus = _step_version(ts, [(t_old_corpus, "filings-v41"), (t_c, "filings-v42")], "filings-v40")
    index = _step_version(ts, [(t_old_index, "ann-v41")], "ann-v40")
    prompt = _step_version(ts, [(t_prompt, "legal-rag-v8")], "legal-rag-v7")
    temperature = np.where(ts >= t_config.value, 0.0, 0.2)
    fingerprint = _step_version(ts, [(t_silent, "fp_7c2d19e4")], "fp_3a1b88c0")
    changes = [
        _Change("chg-0101", t_old_corpus, "corpus_update", "document-store", "corpus_version", "filings-v40", "filings-v41",
                "Weekly corpus sync: +2,100 court filings.", "data-pipeline"),
        _Change("chg-0102", t_old_index, "index_rebuild", "vector-index", "index_version", "ann-v40", "ann-v41",
                "Embedding index rebuilt after the corpus sync (filings-v41).", "data-pipeline"),
        _Change("chg-0103", t_prompt, "prompt_template_change", "answer-prompt", "prompt_template_version", "legal-rag-v7", "legal-rag-v8",
                "Reworded the citation-format instruction (Bluebook style, no content change).", "git"),
        _Change("chg-0104", t_c, "corpus_update", "document-store", "corpus_version", "filings-v41", "filings-v42",
                "Bulk import of ~14,000 new federal filings (Q4 backlog).", "data-pipeline"),
        _Change("chg-0105", t_config, "config_change", "generation", "temperature", "0.2", "0.0",
                "Sampling temperature lowered to 0 for more deterministic answers.", "config-repo"),
        _Change("chg-0106", t_deploy, "deploy", "web-app", None, "2026.4.2", "2026.4.3",
                "Web app release: export answers to Word.", "ci"),
    ]
    cols = dict(
        event_id=_ids("rag", n, id0), ts=ts, session_id=_sessions(users, ts), user_id=users,
        model_version=np.full(n, "lexgen-3.1", dtype=object), model_requested=np.full(n, "lexgen-3.1", dtype=object),
        provider=np.full(n, "internal", dtype=object), upstream_fingerprint=fingerprint,
        prompt_template_version=prompt, embedding_model=np.full(n, "legal-embed-v2", dtype=object),
        index_version=index, corpus_version=corpus, temperature=temperature, top_p=np.full(n, 1.0),
        top_k=np.full(n, 5), max_tokens=np.full(n, 1024),
        query_category=category, risk_category=risk, traffic_source=source, framing=framing,
        input_text=inputs, output_text=outputs,
        correct=_masked_bool(correct, errored), hallucinated=_masked_bool(hallucinated, errored),
        confidence=np.where(errored, np.nan, confidence), quality_score=np.where(errored, np.nan, quality),
        retrieval_top1_score=scores[:, 0], retrieval_mean_score=np.round(scores.mean(axis=1), 4),
        retrieval_scores=pa.FixedSizeListArray.from_arrays(pa.array(scores.ravel()), 5).cast(pa.list_(pa.float64())),
        retrieval_doc_ids=pa.FixedSizeListArray.from_arrays(
            pa.array([f"doc-{i:05d}" for i in doc_idx.ravel()]), 5).cast(pa.list_(pa.string())),
        latency_ms=latency, input_tokens=in_tok, output_tokens=np.where(errored, 0, out_tok),
        finish_reason=np.where(errored, None, "stop").astype(object),
        status=np.where(errored, "error", "ok").astype(object),
        error_type=np.where(errored, "upstream_timeout", None).astype(object),
    )
    # The weekly evaluation is drawn after the events (the chunked writer draws it once, apart).
    ev = _retrieval_evaluations(p, rng, incident) if part is None else _empty_evaluations()
    affected = degraded & hallucinated
    truth = dict(
        cause="chg-0104",
        cause_type="corpus_update",
        onset=t_c,
        onset_window=(t_c - 24 * HOUR, t_c + 96 * HOUR),
        metric="retrieval_top1_score",
        segment={"query_category": "recent_case_law"},
        affected_rule=(
            "queries about the ~14,000 filings added by chg-0104 (not in the stale index ann-v41), answered with "
            "fabricated citations (hallucinated == True)"
        ),
        affected=affected,
        failure_from=t_c,
        decoys=("chg-0101", "chg-0102", "chg-0103", "chg-0105", "chg-0106"),
        silent=({"column": "upstream_fingerprint", "from_value": "fp_3a1b88c0", "to_value": "fp_7c2d19e4", "ts": t_silent},),
        secondary=("hallucinated", "retrieval_mean_score", "confidence", "correct"),
        notes=(
            "Legal RAG assistant. chg-0104 imports ~14,000 filings into the document store six weeks before the "
            "report; the embedding index is not rebuilt (index_version ann-v41 was built from filings-v41), so "
            "queries about the new filings retrieve old, loosely related chunks: top-1 cosine ~0.60 instead of "
            f"~0.815. Their share jumps to {0.08 * m:.0%} at the update and grows to ~{min(0.9, 0.55 * m):.0%} by the "
            "report, so the rolling mean top-1 relevance crosses 0.72 about a month after the update. "
            "Fabricated citations rise with low relevance (p = 0.015 + 0.5 sigmoid((0.68 - top1)/0.03)) and come "
            "with low confidence. Decoys: a routine corpus sync followed by an index rebuild (chg-0101/0102), a "
            "prompt rewording (chg-0103), a temperature change 20 h after the update, i.e. nearer to a detected "
            "onset that lags the update (chg-0105), an unrelated web deploy (chg-0106); upstream_fingerprint "
            "changes without a change event. Scenario.evaluations: the weekly citation-50 evaluation; one "
            "question a week is replaced by one about recent filings, so it fails late."
        ),
    )
    return cols, changes, truth, ev


# --------------------------------------------------------------------------------------------
# Refusal regression (medical triage)
# --------------------------------------------------------------------------------------------

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


def _gen_refusal(
    p: _Params, rng: np.random.Generator, incident: bool, part: _Part | None = None
) -> tuple[dict, list[_Change], dict, pd.DataFrame]:
    m = p.magnitude
    onset = p.onset
    t_update = onset - 96 * HOUR
    ramp_end = onset + 72 * HOUR
    lo, hi, id0 = _window(p, part)
    ((_, rate),) = _rate_streams(p)
    ts = _arrivals(rng, lo, hi, rate)
    n = len(ts)
    names = [c[0] for c in _MED_CATEGORIES]
    category = _choice(rng, names, [c[2] for c in _MED_CATEGORIES], n)
    risk_of = {c[0]: c[1] for c in _MED_CATEGORIES}
    p_ref_of = {c[0]: c[3] for c in _MED_CATEGORIES}
    risk = np.array([risk_of[c] for c in category], dtype=object)
    fr_chest = _choice(rng, _FRAMINGS, (0.62, 0.14, 0.16, 0.08), n)
    fr_other = _choice(rng, _FRAMINGS, (0.75, 0.07, 0.13, 0.05), n)
    framing = np.where(category == "chest_pain", fr_chest, fr_other)
    source = _choice(rng, ("web", "mobile_app", "nurse_line_transfer"), (0.5, 0.4, 0.1), n)
    # Staged rollout of v2: 5% canary from the update, linear ramp to 100% over 72 h from the onset.
    hrs = (ts - onset.value) / _NS_HOUR
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
    # Text
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
    inputs = _with_pii(rng, inputs, 0.03)
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
    in_tok = (620 + rng.normal(45, 15, n)).round().astype(np.int64)
    out_tok = np.where(refused, rng.normal(55, 10, n), rng.normal(170, 45, n)).clip(5, 700).round().astype(np.int64)
    out_tok = np.where(filtered | errored, 0, out_tok)
    latency = _lognormal_latency(rng, 240 + 21.0 * out_tok, 0.22)
    users = _users(rng, n, "pt-", _user_pool("refusal", n) if part is None else part.user_pool)
    # Changes and versions
    t_prompt = _clip_ts(t_update - 5 * DAY - 3 * HOUR, p)
    t_silent = _clip_ts(t_update - 60 * HOUR, p)
    t_deploy = _clip_ts(t_update + 40 * HOUR, p)
    t_config = _clip_ts(onset - 6 * HOUR, p)
    model = np.where(v2, "medtriage-v2", "medtriage-v1").astype(object)
    prompt = _step_version(ts, [(t_prompt, "triage-v13")], "triage-v12")
    fingerprint = _step_version(ts, [(t_silent, "fp_c3d4a9")], "fp_a1b2f0")
    max_tokens = np.where(ts >= t_config.value, 768, 512)
    changes = [
        _Change("chg-0201", t_prompt, "prompt_template_change", "system-prompt", "prompt_template_version", "triage-v12", "triage-v13",
                "Reworded the greeting and the disclaimer paragraph.", "git"),
        _Change("chg-0202", t_update, "model_update", "llm", "model_version", "medtriage-v1", "medtriage-v2",
                "Base model update. Staged rollout: 5% canary, then ramp to 100% over 72 h from "
                f"{_iso(onset)}.", "release-manager", ts_end=ramp_end, rollout_pct=100.0),
        _Change("chg-0203", t_deploy, "deploy", "patient-portal", None, "2026.3.0", "2026.3.1",
                "Patient portal release: appointment reminders by SMS.", "ci"),
        _Change("chg-0204", t_config, "config_change", "generation", "max_tokens", "512", "768",
                "Raised max_tokens so long answers are not cut off.", "config-repo"),
    ]
    cols = dict(
        event_id=_ids("tri", n, id0), ts=ts, session_id=_sessions(users, ts), user_id=users,
        model_version=model, model_requested=model, provider=np.full(n, "internal", dtype=object),
        upstream_fingerprint=fingerprint, prompt_template_version=prompt,
        temperature=np.full(n, 0.3), top_p=np.full(n, 0.95), max_tokens=max_tokens,
        query_category=category, risk_category=risk, traffic_source=source, framing=framing,
        input_text=inputs, output_text=outputs, refused=_masked_bool(refused, errored),
        confidence=np.where(errored, np.nan, conf), latency_ms=latency, input_tokens=in_tok, output_tokens=out_tok,
        finish_reason=finish, status=np.where(errored, "error", "ok").astype(object),
        error_type=np.where(errored, "timeout", None).astype(object),
    )
    framings = list(_AFFECTED_FRAMINGS)

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
        )

    counts = {"canary_affected": int((affected & (ts < onset.value)).sum())}
    truth = dict(
        cause="chg-0202",
        cause_type="model_update",
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
        decoys=("chg-0201", "chg-0203", "chg-0204"),
        silent=({"column": "upstream_fingerprint", "from_value": "fp_a1b2f0", "to_value": "fp_c3d4a9", "ts": t_silent},),
        secondary=("confidence",),
        notes=notes(**counts),
        # Counts the notes quote: the chunked writer sums them over its slices, then calls notes_fn.
        counts=counts,
        notes_fn=notes,
    )
    return cols, changes, truth, _empty_evaluations()


# --------------------------------------------------------------------------------------------
# Escalation storm (support bot)
# --------------------------------------------------------------------------------------------

_SUP_CATEGORIES = ("billing", "order_status", "technical_issue", "refund", "account_access", "general_info")
_SUP_SHARE = (0.22, 0.25, 0.18, 0.12, 0.13, 0.10)
_SUP_P_ESC = (0.085, 0.04, 0.12, 0.17, 0.11, 0.045)
_SUP_INPUTS = {
    "billing": ("I was charged twice this month.", "Why did my invoice go up?", "How do I update my card?"),
    "order_status": ("Where is my order #{order}?", "My package says delivered but it isn't here.", "When will order {order} ship?"),
    "technical_issue": (
        "The app crashes when I open settings.",
        "Checkout shows this error: <script>alert('err')</script> and nothing happens.",
        "I get 'Error 502 <b>Bad Gateway</b>' when I log in.",
    ),
    "refund": ("I want a refund for order {order}.", "How long do refunds take?", "Refund for a damaged item please."),
    "account_access": ("I can't log in to my account.", "Reset my password please.", "My account is locked."),
    "general_info": ("What are your opening hours?", "Do you ship to Canada?", "Which plan includes priority support?"),
}
_BLOG_INPUTS = (
    "Saw the post on {blog}, is your product really free?",
    "what is this? came from the {blog} article",
    "How does your pricing compare to {competitor}?",
    "Do I need an account to try it?",
    "Is this the tool {competitor} was talking about?",
    "can you migrate my data from {competitor}",
)
_SUP_ANSWERS = {
    "billing": (
        "You can see every charge under Settings > Billing. A duplicate charge is usually a pending authorisation that drops off within 3 days.",
        "Your plan renewed at the new list price. You can switch plans under Settings > Billing.",
    ),
    "order_status": (
        "Your order is on its way and should arrive within 2 business days.",
        "Carriers sometimes mark parcels delivered early. If it hasn't arrived by tomorrow, let me know.",
    ),
    "technical_issue": (
        "Try clearing the app cache and updating to the latest version; that fixes this in most cases.",
        "That error means the session expired. Please sign out and back in, then try again.",
    ),
    "refund": (
        "Refunds are processed within 5-7 business days after we receive the item.",
        "I've started the return for you; you'll get a prepaid label by email.",
    ),
    "account_access": (
        "I've sent a password reset link to the email on file. If this doesn't help, you can ask to speak with a human agent at any time.",
        "Your account was locked after several failed attempts; it unlocks automatically in 30 minutes.",
    ),
    "general_info": (
        "We ship to most countries, including Canada. Delivery takes 5-10 days.",
        "Our Pro plan includes priority support. You can compare plans on the pricing page.",
    ),
}
_SUP_LOOKUP = '[tool_call] lookup_order(order_id="{order}")'
_SUP_HANDOFF_TOOL = '[tool_call] handoff_to_human(queue="{queue}", reason="{reason}")'
_SUP_HANDOFF_TEXT = (
    "I'm transferring you to a human agent who can look into this. Average wait is about {wait} minutes.",
    "Let me connect you with a member of our support team.",
)
_SUP_HANDOFF_SOFT = "One of my colleagues will pick this up shortly."


def _gen_escalation(
    p: _Params, rng: np.random.Generator, incident: bool, part: _Part | None = None
) -> tuple[dict, list[_Change], dict, pd.DataFrame]:
    m = p.magnitude
    onset = p.onset
    t_traffic = onset - 48 * HOUR
    lo, hi, id0 = _window(p, part)
    (_, main_rate), (_, blog_rate) = _rate_streams(p)
    ts_main = _arrivals(rng, lo, hi, main_rate)
    blog_lo = max(lo, t_traffic)
    ts_blog = _arrivals(rng, blog_lo, hi, blog_rate, bin_minutes=5) if blog_lo < hi else np.empty(0, dtype=np.int64)
    ts_all = np.concatenate([ts_main, ts_blog])
    order = np.argsort(ts_all, kind="stable")
    ts = ts_all[order]
    blog = np.concatenate([np.zeros(len(ts_main), bool), np.ones(len(ts_blog), bool)])[order]
    n = len(ts)
    cat_main = _choice(rng, _SUP_CATEGORIES, _SUP_SHARE, n)
    cat_blog = _choice(rng, ("general_info", "billing", "technical_issue"), (0.82, 0.10, 0.08), n)
    category = np.where(blog, cat_blog, cat_main)
    src_main = _choice(rng, ("app", "web_direct", "email_link", "search"), (0.45, 0.30, 0.15, 0.10), n)
    source = np.where(blog, "blog_referral", src_main).astype(object)
    u_acc, u_esc, u_err = rng.random(n), rng.random(n), rng.random(n)
    has_account = np.where(blog, u_acc < 0.04, u_acc < 0.93)
    framing = np.where(blog, _choice(rng, ("question", "complaint", "request"), (0.9, 0.03, 0.07), n),
                       _choice(rng, ("question", "complaint", "request"), (0.6, 0.25, 0.15), n))
    risk = np.select(
        [(framing == "complaint") & np.isin(category, ("billing", "refund")), np.isin(category, ("account_access", "technical_issue"))],
        ["high", "medium"], "low",
    ).astype(object)
    # The routing classifier escalates when unsure (confidence < 0.5) or when the intent needs a human.
    conf_in = rng.beta(9, 2, n)
    conf_ood = rng.beta(1.3, 8, n)
    confidence = np.round(np.where(blog & incident, conf_ood, conf_in), 3)
    day = (ts - p.start.value) // _NS_DAY
    if part is None:
        day_factor = rng.uniform(0.8, 1.2, size=int(day.max()) + 1)[day]
    else:  # one factor per day of the whole scenario, drawn once by the chunked writer
        day_factor = part.day_factor[day]
    p_cat = dict(zip(_SUP_CATEGORIES, _SUP_P_ESC))
    p_esc = np.array([p_cat[c] for c in category]) * day_factor
    p_esc = np.where(blog, 0.085 * day_factor, p_esc)
    errored = u_err < 0.002
    escalated = ((confidence < 0.5) | (u_esc < p_esc)) & ~errored
    affected = blog & incident & escalated & (confidence < 0.5)
    # Text
    order_no = rng.integers(100000, 999999, size=n).astype(str)
    tmpl_i = rng.integers(0, 6, size=n)
    inputs = np.empty(n, dtype=object)
    for c in _SUP_CATEGORIES:
        sel = (category == c) & ~blog
        t = _SUP_INPUTS[c]
        inputs[sel] = _fill(t, tmpl_i[sel] % len(t), {"order": order_no[sel]})
    blogs = _pick(rng, ("TechCrunchy", "the FreshDesk blog", "SaaS Weekly"), n)
    comp = _pick(rng, ("HelpHero", "TicketLy", "Supportly"), n)
    inputs[blog] = _fill(_BLOG_INPUTS, tmpl_i[blog], {"blog": blogs[blog], "competitor": comp[blog]})
    inputs = _with_pii(rng, inputs, 0.03)
    u_kind, u_soft, u_lookup = rng.random(n), rng.random(n), rng.random(n)
    wait = rng.integers(2, 15, size=n)
    queue = np.where(np.isin(category, ("billing", "refund")), "billing", np.where(category == "technical_issue", "tech", "general"))
    reason = np.where(confidence < 0.5, "low_confidence", "needs_human")
    outputs = np.array([_SUP_ANSWERS[c][i % 2] for c, i in zip(category, tmpl_i)], dtype=object)
    finish = np.full(n, "stop", dtype=object)
    lookup = (category == "order_status") & ~escalated & (u_lookup < 0.4)
    outputs[lookup] = [_SUP_LOOKUP.format(order=o) for o in order_no[lookup]]
    finish[lookup] = "tool_calls"
    tool = escalated & (u_kind < 0.65)
    text = escalated & ~tool
    soft = text & (u_soft < 0.12)
    outputs[tool] = [_SUP_HANDOFF_TOOL.format(queue=q, reason=r) for q, r in zip(queue[tool], reason[tool])]
    finish[tool] = "tool_calls"
    outputs[text] = [_SUP_HANDOFF_TEXT[i % 2].format(wait=w) for i, w in zip(tmpl_i[text], wait[text])]
    outputs[soft] = _SUP_HANDOFF_SOFT
    outputs[errored] = None
    finish[errored] = None
    in_tok = (480 + rng.normal(35, 12, n)).round().astype(np.int64)
    out_tok = np.where(tool, rng.normal(25, 4, n), rng.normal(90, 25, n)).clip(5, 400).round().astype(np.int64)
    out_tok = np.where(errored, 0, out_tok)
    latency = _lognormal_latency(rng, 180 + 14.0 * out_tok, 0.22)
    users = _users(rng, n, "cust-", _user_pool("escalation", n) if part is None else part.user_pool)
    users = np.where(has_account, users, None).astype(object)
    anon = np.array([f"anon-{hashlib.blake2s(f'{p.seed}-{i // 3}'.encode(), digest_size=4).hexdigest()}" for i in range(id0, id0 + n)], dtype=object)
    sessions = _sessions(np.where(has_account, users, anon), ts)
    # Changes and versions
    t_classifier = _clip_ts(t_traffic - 9 * DAY, p)
    t_prompt = _clip_ts(t_traffic - 4 * DAY + 3 * HOUR, p)
    t_silent = _clip_ts(t_traffic - 30 * HOUR, p)
    t_deploy = _clip_ts(t_traffic + 20 * HOUR, p)
    t_config = _clip_ts(onset - 3 * HOUR, p)
    classifier = _step_version(ts, [(t_classifier, "router-v4")], "router-v3")
    prompt = _step_version(ts, [(t_prompt, "support-v22")], "support-v21")
    fingerprint = _step_version(ts, [(t_silent, "fp_9e8d7c")], "fp_1f2e3d")
    temperature = np.where(ts >= t_config.value, 0.5, 0.3)
    changes = [
        _Change("chg-0301", t_classifier, "classifier_update", "router", "classifier_version", "router-v3", "router-v4",
                "Routing classifier retrained on Q4 tickets (account holders).", "ml-platform"),
        _Change("chg-0302", t_prompt, "prompt_template_change", "system-prompt", "prompt_template_version", "support-v21", "support-v22",
                "Friendlier greeting; no change to routing instructions.", "git"),
        _Change("chg-0303", t_traffic, "traffic_source_change", "traffic", "traffic_source", None, "blog_referral",
                "Competitor's blog post links to our support chat as a 'free alternative'.", "marketing"),
        _Change("chg-0304", t_deploy, "deploy", "mobile-app", None, "5.1.0", "5.2.0",
                "Mobile app release 5.2 (dark mode).", "app-store"),
        _Change("chg-0305", t_config, "config_change", "generation", "temperature", "0.3", "0.5",
                "Raised answer temperature for more varied phrasing.", "config-repo"),
    ]
    cols = dict(
        event_id=_ids("sup", n, id0), ts=ts, session_id=sessions, user_id=users,
        model_version=np.full(n, "helpdesk-llm-2025-11", dtype=object), model_requested=np.full(n, "helpdesk-llm-2025-11", dtype=object),
        provider=np.full(n, "internal", dtype=object), upstream_fingerprint=fingerprint, prompt_template_version=prompt,
        classifier_version=classifier, temperature=temperature, top_p=np.full(n, 1.0), max_tokens=np.full(n, 400),
        query_category=category, risk_category=risk, traffic_source=source, framing=framing,
        input_text=inputs, output_text=outputs, escalated=_masked_bool(escalated, errored),
        confidence=np.where(errored, np.nan, confidence), latency_ms=latency, input_tokens=in_tok, output_tokens=out_tok,
        finish_reason=finish, status=np.where(errored, "error", "ok").astype(object),
        error_type=np.where(errored, "rate_limited", None).astype(object),
    )
    extra = {"has_account": pd.array(has_account, dtype="boolean")}
    truth = dict(
        cause="chg-0303",
        cause_type="traffic_source_change",
        onset=onset,
        onset_window=(onset - 3 * HOUR, onset + 4 * HOUR),
        metric="escalated",
        segment={"traffic_source": "blog_referral", "query_category": "general_info"},
        affected_rule=(
            "traffic_source == 'blog_referral' (account-less, mostly general_info queries the router was not "
            "trained on) escalated because the classifier confidence was below 0.5, in the failure window"
        ),
        affected=affected & (ts >= onset.value),
        failure_from=onset,
        decoys=("chg-0301", "chg-0302", "chg-0304", "chg-0305"),
        silent=({"column": "upstream_fingerprint", "from_value": "fp_1f2e3d", "to_value": "fp_9e8d7c", "ts": t_silent},),
        secondary=("confidence",),
        extra=extra,
        notes=(
            "Support bot. chg-0303: a competitor's blog post brings account-less, general queries "
            "(traffic_source blog_referral, has_account False) 48 h before the storm, 1-3% of traffic at first; "
            "the routing classifier (router-v4, unchanged) was not trained on them: confidence ~Beta(1.3, 8), "
            "so nearly all of them escalate (confidence < 0.5). At the onset the post goes viral and that "
            f"traffic grows to ~{30 * m:.0f}x the usual volume within a few hours: escalation goes from the usual "
            "8-12% (a day-to-day factor in [0.8, 1.2]) to ~95-100% within 6 h. The query mix (category, "
            "traffic_source, has_account) and the confidence distribution shift from the traffic change on. "
            "Decoys: an earlier classifier retrain (chg-0301), a prompt rewording (chg-0302), an unrelated "
            "mobile release (chg-0304), a temperature change 3 h before the storm (chg-0305, nearer than the "
            "cause); upstream_fingerprint changes without a change event."
        ),
    )
    return cols, changes, truth, _empty_evaluations()


_GENERATORS = {"retrieval": _gen_retrieval, "refusal": _gen_refusal, "escalation": _gen_escalation}


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _params_dict(p: _Params, incident: bool) -> dict[str, Any]:
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
    }


def _ground_truth(
    p: _Params,
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
    )


def generate(
    pattern: str,
    *,
    seed: int = 0,
    scale: float | None = None,
    incident: bool = True,
    onset: Any = None,
    magnitude: float | None = None,
    days: float | None = None,
) -> Scenario:
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
    p = _resolve(pattern, seed, scale, onset, magnitude, days)
    rng = np.random.default_rng([p.seed, _PATTERN_CODE[pattern], 11])
    cols, changes, t, evaluations = _GENERATORS[pattern](p, rng, bool(incident))
    events = _events_frame(cols, t.get("extra"))
    changes_df = _changes_frame(changes)
    ts = cols["ts"]
    win = (ts >= t["failure_from"].value) & (ts < p.reported_at.value)
    affected_ids = tuple(events["event_id"].to_numpy(dtype=object)[t["affected"]].tolist()) if incident else ()
    share = len(affected_ids) / max(int(win.sum()), 1)
    params = _params_dict(p, incident)
    truth = _ground_truth(p, t, incident, affected_ids, share, t["notes"], params)
    return Scenario(pattern, p.seed, events, changes_df, truth, evaluations, params)


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


_SAMPLE_README = """# Sample data

Generated by `analysis.scenarios` (seed {seed}, scale {scale}); do not edit by hand. Regenerate with

    python -m analysis generate --out sample_data --seed {seed} --scale {scale}

(or `python -c "from analysis.scenarios import write_sample_data; write_sample_data('sample_data')"`).
Larger volumes: `--scale 5` (not committed). Every folder holds `events.parquet` (the canonical events
table), `changes.csv` (the change log), `truth.json` (the ground truth: cause, onset and its acceptable
window, affected segment and events, decoys). A `_baseline` folder is the case's no-incident twin: the
same traffic and change log, but the change had no effect.

| folder | case | events | cause | onset | reported |
|---|---|---:|---|---|---|
{rows}

- **retrieval_degradation**: legal RAG assistant. A corpus update adds ~14,000 filings six weeks before the
  report and the embedding index is not rebuilt (`index_version` stale against `corpus_version`); queries
  about the new filings retrieve poorly (top-1 cosine relevance ~0.60), the rolling mean crosses the 0.72
  reliability threshold, fabricated citations (`hallucinated`) rise in low-relevance, low-confidence
  answers. `evaluations.csv` is the weekly 50-question citation evaluation (95% bar); its questions are
  refreshed by one a week, so it lags.
- **refusal_regression**: medical triage assistant. A base-model update (`medtriage-v1` -> `medtriage-v2`,
  5% canary then a 72-hour ramp) starts 96 hours before the failure window; refusal of high-risk
  chest-pain questions framed hypothetically or in the third person falls from ~99% to ~2%; ~0.3% of the
  traffic in the failure window is affected.
- **escalation_storm**: support bot. A competitor's blog post brings account-less, general queries 48 hours
  before the storm; the routing classifier was not trained on them; escalation goes from the usual 8-12%
  to ~100% within 6 hours.

Each case also has decoy changes that did nothing (a prompt rewording, an unrelated deploy, a
configuration change nearer to the onset than the true cause) and one version (`upstream_fingerprint`)
that changes in the logs without a change event. Prompts hold fake e-mail addresses and phone numbers
(example.com, 555-01xx) so that redaction matters.
"""


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """zstd Parquet; the sorted ``ts`` delta-encoded, ids delta-strings, the rest dictionary.

    The pandas metadata is dropped: pandas 3 cannot read back its own name for Arrow list
    dtypes (``list<item: double>[pyarrow]``), which would break ``pd.read_parquet`` with any
    backend; the Arrow types themselves carry everything (``schema.coerce`` restores dtypes).
    """
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    encodings = {"ts": "DELTA_BINARY_PACKED", "event_id": "DELTA_BYTE_ARRAY"}
    dictionary = [c for c in table.column_names if c not in encodings]
    # Nested columns are addressed by their leaf path.
    dictionary += [f"{name}.list.element" for name, typ in zip(table.column_names, table.schema.types) if pa.types.is_list(typ)]
    pq.write_table(
        table, path, compression="zstd", compression_level=12, use_dictionary=dictionary, column_encoding=encodings
    )


_EVENTS_ENCODINGS = {"ts": "DELTA_BINARY_PACKED", "event_id": "DELTA_BYTE_ARRAY"}


def _parquet_options(schema_: pa.Schema, compression_level: int) -> dict[str, Any]:
    """``_write_parquet``'s encodings for a ``ParquetWriter``: ts delta, ids delta-strings, the rest dictionary."""
    dictionary = [c for c in schema_.names if c not in _EVENTS_ENCODINGS]
    dictionary += [f"{f.name}.list.element" for f in schema_ if pa.types.is_list(f.type)]
    return dict(
        compression="zstd", compression_level=compression_level, use_dictionary=dictionary, column_encoding=_EVENTS_ENCODINGS
    )


def _chunk_edges(p: _Params, chunk: pd.Timedelta, max_chunk_events: int | None, split_days: bool) -> list[tuple[int, int]]:
    """The writer's time slices ``[lo, hi)`` (ns): on the ``chunk`` grid (and at midnight UTC with
    ``split_days``), halved (on the 5-minute grid) while one is expected to hold more than
    ``max_chunk_events`` events (the escalation storm brings ~30x the usual traffic)."""
    lo, hi = p.start.value, p.reported_at.value
    step = chunk.value
    cuts = set(range((lo // step + 1) * step, hi, step))
    if split_days:
        cuts |= set(range((lo // _NS_DAY + 1) * _NS_DAY, hi, _NS_DAY))
    points = [lo, *sorted(cuts), hi]
    stack = list(zip(points[:-1], points[1:]))[::-1]
    grid = 5 * 60 * 1_000_000_000
    out: list[tuple[int, int]] = []
    while stack:
        a, b = stack.pop()
        if max_chunk_events and _expected_events(p, a, b) > max_chunk_events:
            mid = ((a + b) // 2) // grid * grid
            if a < mid < b:
                stack += [(mid, b), (a, mid)]
                continue
        out.append((a, b))
    return out


def _remove_partitions(folder: Path) -> None:
    """Delete a previous ``events/day=*/part-*.parquet`` folder (and nothing else)."""
    if not folder.exists():
        return
    files = [f for f in folder.rglob("*") if f.is_file()]
    foreign = [f for f in files if not (f.parent.parent == folder and f.parent.name.startswith("day=") and f.suffix == ".parquet")]
    if foreign:
        raise FileExistsError(f"{folder} holds files that are not event partitions (e.g. {foreign[0]}); remove it by hand")
    shutil.rmtree(folder)


@dataclass(frozen=True)
class WrittenEvents:
    """What :func:`write_events` wrote.

    ``files``: file kind -> path (``events`` is ``events.parquet`` or the ``events/`` folder);
    ``n_events``: rows written; ``n_chunks``: time slices (row groups); ``truth``: the ground
    truth (its ``affected_event_ids`` are empty when there were more than ``inline_ids``:
    read ``affected_event_ids.parquet``).
    """

    files: dict[str, Path]
    n_events: int
    n_chunks: int
    affected_count: int
    truth: GroundTruth


def write_events(
    pattern: str,
    out_dir: str | Path,
    *,
    seed: int = 0,
    scale: float | None = None,
    incident: bool = True,
    onset: Any = None,
    magnitude: float | None = None,
    days: float | None = None,
    chunk: str | pd.Timedelta = "1D",
    max_chunk_events: int | None = 400_000,
    partition_by_day: bool = False,
    compression_level: int = 3,
    inline_ids: int = 100_000,
    progress: bool | Mapping[str, Any] = True,
) -> WrittenEvents:
    """Generate one case in time slices and stream it to Parquet: memory bounded by the slice, not the total.

    The scenario is the one :func:`generate` makes with the same arguments: the parameters are
    resolved once (same onset, changes, ground-truth window, rates), then every slice draws its
    arrivals and their labels with its own generator ``default_rng([seed, pattern, 17, i])``
    (``i`` the slice index), so the output is reproducible for a given seed and slicing, but it
    is not row for row that of :func:`generate`. Per-event draws only depend on the event's
    time; the few scenario-wide draws (the escalation case's day-to-day factor, the retrieval
    case's weekly evaluation) are made once, apart. Event ids run on across slices.

    Writes into ``out_dir`` (created): ``events.parquet`` (one row group per slice; the column
    types of :func:`write_sample_data`'s files) or, with ``partition_by_day``, a Hive folder
    ``events/day=YYYY-MM-DD/part-0.parquet`` (UTC days); ``changes.csv``; ``truth.json``;
    ``affected_event_ids.parquet`` (column ``event_id``); ``evaluations.csv`` (retrieval).
    ``truth.json`` is :meth:`GroundTruth.to_dict` plus ``n_events``, ``affected_count`` and
    ``affected_event_ids_file``; it lists the affected ids inline only when there are at most
    ``inline_ids`` of them (else ``affected_event_ids`` is empty: read the Parquet file). The
    events are written to ``*.partial`` names first and renamed at the end.

    Parameters
    ----------
    pattern, seed, scale, incident, onset, magnitude, days
        As for :func:`generate`.
    chunk
        Slice length on a grid from the epoch (``"1D"``: UTC days; ``"6h"``, ...; at least 5 min).
    max_chunk_events
        Slices expected (from the rates) to hold more events are halved until they do not:
        the memory bound. About 1.5 kB of peak memory per event of a slice; ``None``: no limit.
    partition_by_day
        Write the Hive folder instead of one file.
    compression_level
        zstd level (the committed sample data uses 12, slow at this volume).
    progress
        tqdm bar over the events (a dict: tqdm keyword arguments).
    """
    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    p = _resolve(pattern, seed, scale, onset, magnitude, days)
    try:
        step = pd.Timedelta(chunk)
    except (ValueError, TypeError):
        raise ValueError(f"`chunk` must be a duration such as '1D' or '6h', got {chunk!r}") from None
    if step < pd.Timedelta(minutes=5):
        raise ValueError(f"`chunk` must be at least 5 minutes, got {chunk!r}")
    if max_chunk_events is not None and (not isinstance(max_chunk_events, (int, np.integer)) or max_chunk_events < 1):
        raise ValueError(f"`max_chunk_events` must be a positive integer or None, got {max_chunk_events!r}")
    incident = bool(incident)
    code = _PATTERN_CODE[pattern]
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    edges = _chunk_edges(p, step, max_chunk_events, partition_by_day)
    expected = _expected_events(p, p.start.value, p.reported_at.value)
    pool = _user_pool(pattern, int(round(expected)))
    day_factor = None
    if pattern == "escalation":
        n_days = int((p.reported_at - p.start) // DAY) + 1
        day_factor = np.random.default_rng([p.seed, code, 13]).uniform(0.8, 1.2, size=n_days)

    single = folder / "events.parquet"
    parts_dir = folder / "events"
    target = parts_dir if partition_by_day else single
    partial = folder / ("events.partial" if partition_by_day else "events.parquet.partial")
    if partial.is_dir():
        _remove_partitions(partial)
    elif partial.exists():
        partial.unlink()
    ids_partial = folder / "affected_event_ids.parquet.partial"
    ids_schema = pa.schema([("event_id", pa.large_string())])
    ids_writer = pq.ParquetWriter(ids_partial, ids_schema, compression="zstd", compression_level=compression_level)

    bar_kw = dict(progress) if isinstance(progress, Mapping) else {}
    bar = tqdm(
        total=int(round(expected)), unit="ev", unit_scale=True, disable=not progress,
        **{"desc": f"{CASE_NAMES[pattern]}{'' if incident else '_baseline'}", **bar_kw},
    )
    writer = None
    writer_day = None
    table_schema = None
    n_total = n_window = n_affected = 0
    inline: list[str] | None = []
    counts: dict[str, int] = {}
    meta: tuple[list[_Change], dict] | None = None
    try:
        for i, (a, b) in enumerate(edges):
            part = _Part(pd.Timestamp(a, tz="UTC"), pd.Timestamp(b, tz="UTC"), n_total, pool, day_factor)
            rng = np.random.default_rng([p.seed, code, 17, i])
            cols, changes, t, _ = _GENERATORS[pattern](p, rng, incident, part)
            if meta is None:
                meta = (changes, t)
            for k, v in (t.get("counts") or {}).items():
                counts[k] = counts.get(k, 0) + int(v)
            ts = cols["ts"]
            n = len(ts)
            table = _events_table(cols, t.get("extra"))
            del cols
            if table_schema is None:
                table_schema = table.schema
            elif not table.schema.equals(table_schema):  # pragma: no cover - a bug in this module
                raise AssertionError(f"slice {i} has schema {table.schema}, expected {table_schema}")
            n_window += int(((ts >= t["failure_from"].value) & (ts < p.reported_at.value)).sum())
            if incident and t["affected"].any():
                ids = table.column("event_id").filter(pa.array(t["affected"]))
                n_affected += len(ids)
                ids_writer.write_table(pa.Table.from_arrays([ids.combine_chunks()], schema=ids_schema))
                if inline is not None:
                    inline.extend(ids.to_pylist())
                    if len(inline) > inline_ids:
                        inline = None
            if n:
                if partition_by_day:
                    day = pd.Timestamp(a, tz="UTC").strftime("%Y-%m-%d")
                    if day != writer_day:
                        if writer is not None:
                            writer.close()
                        path = partial / f"day={day}" / "part-0.parquet"
                        path.parent.mkdir(parents=True, exist_ok=True)
                        writer = pq.ParquetWriter(path, table_schema, **_parquet_options(table_schema, compression_level))
                        writer_day = day
                elif writer is None:
                    writer = pq.ParquetWriter(partial, table_schema, **_parquet_options(table_schema, compression_level))
                writer.write_table(table, row_group_size=max(n, 1))
            n_total += n
            bar.update(n)
            del table, ts
        if writer is None and not partition_by_day:  # no events at all: an empty file with the schema
            writer = pq.ParquetWriter(partial, table_schema, **_parquet_options(table_schema, compression_level))
        bar.total = n_total  # the bar's total was the expected count
        bar.refresh()
    finally:
        bar.close()
        if writer is not None:
            writer.close()
        ids_writer.close()
        _user_perm.cache_clear()  # up to ~130 MB at 100M events
    # Replace the previous output (and the other layout's, so that a folder holds one).
    _remove_partitions(parts_dir)
    if single.exists():
        single.unlink()
    if partition_by_day:
        partial.mkdir(exist_ok=True)
    os.replace(partial, target)
    os.replace(ids_partial, folder / "affected_event_ids.parquet")

    assert meta is not None
    changes, t = meta
    notes = t["notes_fn"](**counts) if "notes_fn" in t else t["notes"]
    share = n_affected / max(n_window, 1)
    params = {**_params_dict(p, incident), "writer": "chunked", "chunks": len(edges)}
    truth = _ground_truth(p, t, incident, tuple(inline or ()), share, notes, params)
    evaluations = (
        _retrieval_evaluations(p, np.random.default_rng([p.seed, code, 19]), incident)
        if pattern == "retrieval" else _empty_evaluations()
    )
    files: dict[str, Path] = {"events": target}
    files.update(_write_case_tables(folder, _changes_frame(changes), None, evaluations))
    doc = truth.to_dict()
    doc.update(n_events=n_total, affected_count=n_affected, affected_event_ids_file="affected_event_ids.parquet")
    files["truth"] = folder / "truth.json"
    files["truth"].write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    files["affected_event_ids"] = folder / "affected_event_ids.parquet"
    return WrittenEvents(files, n_total, len(edges), n_affected, truth)


def _write_case_tables(
    folder: Path, changes: pd.DataFrame | None, truth: GroundTruth | None, evaluations: pd.DataFrame
) -> dict[str, Path]:
    """``changes.csv``, ``truth.json`` and (when not empty) ``evaluations.csv`` of a case folder."""
    files: dict[str, Path] = {}
    if changes is not None:
        files["changes"] = folder / "changes.csv"
        ch = changes.copy()
        for c in ("ts", "ts_end"):
            ch[c] = ch[c].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        ch.to_csv(files["changes"], index=False)
    if truth is not None:
        files["truth"] = folder / "truth.json"
        files["truth"].write_text(json.dumps(truth.to_dict(), indent=2) + "\n", encoding="utf-8")
    if len(evaluations):
        files["evaluations"] = folder / "evaluations.csv"
        ev = evaluations.copy()
        ev["ts"] = ev["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        ev.to_csv(files["evaluations"], index=False)
    return files


def _write_events_jsonl(events: pd.DataFrame, path: Path) -> None:
    frame = events.copy()
    for c in frame.columns:
        if isinstance(frame[c].dtype, pd.DatetimeTZDtype):
            frame[c] = frame[c].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").str.replace(r"(\.\d{3})\d{3}Z$", r"\1Z", regex=True)
    with path.open("w", encoding="utf-8") as fh:
        for rec in frame.to_dict(orient="records"):
            clean = {}
            for k, v in rec.items():
                if isinstance(v, np.ndarray):
                    v = v.tolist()
                elif isinstance(v, (list, tuple)):
                    v = list(v)
                elif v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
                    continue
                elif isinstance(v, (np.integer,)):
                    v = int(v)
                elif isinstance(v, (np.floating,)):
                    v = float(v)
                elif isinstance(v, np.bool_):
                    v = bool(v)
                clean[k] = v
            fh.write(json.dumps(clean, ensure_ascii=False) + "\n")


def write_sample_data(
    out_dir: str | Path = "sample_data",
    *,
    scale: float = 1.0,
    seed: int = 0,
    progress: bool = True,
    jsonl: Sequence[str] = (),
    cases: Sequence[str] | None = None,
    baselines: bool = True,
    chunked: bool = False,
    partition_by_day: bool = False,
    max_chunk_events: int | None = 400_000,
) -> dict[str, dict[str, Path]]:
    """Write the three cases and their no-incident twins under ``out_dir``.

    Per case: ``<out>/<case>/events.parquet`` (zstd), ``changes.csv``, ``truth.json``; the twin
    under ``<out>/<case>_baseline/``; the retrieval case also gets ``evaluations.csv``; and
    ``<out>/README.md``. Cases use ``magnitude=1.0`` and the pattern's default history length;
    the onsets come from ``seed``.

    Parameters
    ----------
    out_dir
        Target folder (created).
    scale, seed
        Passed to :func:`generate`.
    progress
        Show a tqdm progress bar.
    jsonl
        Case folder names (e.g. ``("refusal_regression",)``) that also get ``events.jsonl``:
        the same rows as canonical JSON Lines. None by default: at scale 1 one case is
        20-45 MB of JSON Lines, too much for the committed sample data (< 10 MB in all).
        Not with ``chunked``.
    cases
        Case names (``"retrieval_degradation"``, ``"refusal_regression"``, ``"escalation_storm"``)
        or patterns to write; ``None``: all three.
    baselines
        Also write the no-incident twins.
    chunked
        Stream every case with :func:`write_events` (bounded memory: for large ``scale``)
        instead of generating it in memory; the folders then also hold
        ``affected_event_ids.parquet``. The scenarios are the same (changes, onsets, ground
        truth windows, rates), the rows are not those of the in-memory generator.
    partition_by_day, max_chunk_events
        Passed to :func:`write_events` (only with ``chunked``).

    Returns
    -------
    dict
        Case folder name -> {file kind -> path}.
    """
    from tqdm.auto import tqdm

    _check_positive("scale", scale)
    patterns = _select_patterns(cases)
    if chunked and tuple(jsonl):
        raise ValueError("`jsonl` is not available with `chunked` (JSON Lines of that volume would not fit in memory)")
    if partition_by_day and not chunked:
        raise ValueError("`partition_by_day` needs `chunked=True`")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, dict[str, Path]] = {}
    rows = []
    jobs = [(pat, inc) for pat in patterns for inc in (True, False) if inc or baselines]
    outer = tqdm(jobs, desc="sample data", disable=not progress, unit="case")
    for pat, inc in outer:
        case = CASE_NAMES[pat] + ("" if inc else "_baseline")
        folder = out / case
        folder.mkdir(parents=True, exist_ok=True)
        if chunked:
            res = write_events(
                pat, folder, seed=seed, scale=scale, incident=inc, magnitude=1.0, days=_DAYS[pat][0],
                partition_by_day=partition_by_day, max_chunk_events=max_chunk_events,
                progress={"desc": case, "leave": False, "position": 1} if progress else False,
            )
            files, n_events, t = res.files, res.n_events, res.truth
        else:
            sc = generate(pat, seed=seed, scale=scale, incident=inc, magnitude=1.0, days=_DAYS[pat][0])
            files = {}
            files["events"] = folder / "events.parquet"
            _write_parquet(sc.events, files["events"])
            files.update(_write_case_tables(folder, sc.changes, sc.truth, sc.evaluations))
            n_events, t = len(sc.events), sc.truth
        jsonl_path = folder / "events.jsonl"
        if case in tuple(jsonl):
            _write_events_jsonl(sc.events, jsonl_path)
            files["events_jsonl"] = jsonl_path
        elif jsonl_path.exists():
            jsonl_path.unlink()
        written[case] = files
        rows.append(
            f"| `{case}` | {'incident' if inc else 'no-incident twin'} | {n_events:,} | "
            f"{t.cause_change_id or '(none; ' + t.candidate_change_id + ' did nothing)'} | "
            f"{_iso(t.onset) or '-'} | {_iso(t.reported_at)} |"
        )
    readme = out / "README.md"
    readme.write_text(_SAMPLE_README.format(seed=seed, scale=scale, rows="\n".join(rows)), encoding="utf-8")
    written["README"] = {"readme": readme}
    return written


def _select_patterns(cases: Sequence[str] | str | None) -> tuple[str, ...]:
    """Patterns for case names or patterns (``None``: all, in :data:`PATTERNS` order)."""
    if cases is None:
        return PATTERNS
    if isinstance(cases, str):
        cases = (cases,)
    by_name = {**{v: k for k, v in CASE_NAMES.items()}, **{k: k for k in PATTERNS}}
    chosen = set()
    for c in cases:
        if c not in by_name:
            raise ValueError(f"`cases` must hold case names {tuple(CASE_NAMES.values())} or patterns {PATTERNS}, got {c!r}")
        chosen.add(by_name[c])
    return tuple(p for p in PATTERNS if p in chosen)


def _main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - thin wrapper
    import argparse

    ap = argparse.ArgumentParser(prog="python -m analysis.scenarios", description="Write the sample data.")
    ap.add_argument("--out", default="sample_data")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    written = write_sample_data(args.out, scale=args.scale, seed=args.seed)
    total = _dir_size(Path(args.out))
    print(f"wrote {len(written) - 1} case folders to {args.out} ({total / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
