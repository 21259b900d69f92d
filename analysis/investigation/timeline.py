"""The incident timeline and its durations.

The timeline is one small table, one row per thing that happened, in time order::

    ts  t_rel_hours  kind  source  description  evidence

``kind`` is one of :data:`KINDS`: a logged ``change``, an ``inferred_change`` (a version that
changed in the logs without a change event), a ``data_quality`` fact (a logging gap, a
label-coverage drop, a duplicate burst: never an incident), the ``onset`` (with its interval in
``evidence``), each monitor's first ``alarm``, the ``report``, the ``mitigation`` and ``note`` rows. ``t_rel_hours`` counts hours
from the onset (from the report when no onset was found), so that "the update came 96 hours
before the failure window" reads straight off the table.

The durations are the ones a postmortem quotes: time to detect (onset to report), the detection
gap (earliest alarm a monitor would have raised, to the report), alarm delay (onset to earliest
alarm), time to mitigate (report to mitigation) and the incident's length (onset to mitigation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from analysis._common import check_timestamp, iso_z

__all__ = ["KINDS", "TIMELINE_COLUMNS", "Durations", "Timeline", "OnsetMark", "MitigationMark", "build_timeline", "durations",
           "hours_between"]

TIMELINE_COLUMNS = ("ts", "t_rel_hours", "kind", "source", "description", "evidence")
KINDS = ("change", "inferred_change", "data_quality", "onset", "alarm", "report", "mitigation", "note")
# Same-instant rows are ordered the way a reader tells the story: cause, effect, detection, response.
_KIND_ORDER = {k: i for i, k in enumerate(KINDS)}


def hours_between(start: Any, end: Any) -> float | None:
    """``end - start`` in hours, or None when either end is missing."""
    a, b = check_timestamp(start, "start"), check_timestamp(end, "end")
    if a is None or b is None:
        return None
    return (b - a) / pd.Timedelta(hours=1)


@dataclass(frozen=True)
class Durations:
    """The durations of an incident, in hours (None where an end point is unknown).

    Attributes
    ----------
    time_to_detect_hours
        ``reported_at - onset``: how long the incident ran before anyone reported it.
    detection_gap_hours
        ``reported_at - earliest_alarm``: how much earlier the best replayed monitor would have
        raised the alarm (negative when even the best monitor alarms after the report).
    alarm_delay_hours
        ``earliest_alarm - onset``: the best monitor's own detection delay.
    time_to_mitigate_hours
        ``mitigated_at - reported_at``.
    incident_duration_hours
        ``mitigated_at - onset``.
    """

    onset: pd.Timestamp | None
    earliest_alarm: pd.Timestamp | None
    reported_at: pd.Timestamp | None
    mitigated_at: pd.Timestamp | None
    time_to_detect_hours: float | None
    detection_gap_hours: float | None
    alarm_delay_hours: float | None
    time_to_mitigate_hours: float | None
    incident_duration_hours: float | None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in self.__dict__.items():
            out[k] = v.isoformat().replace("+00:00", "Z") if isinstance(v, pd.Timestamp) else v
        return out


def durations(
    *,
    onset: Any = None,
    earliest_alarm: Any = None,
    reported_at: Any = None,
    mitigated_at: Any = None,
) -> Durations:
    """The incident's durations from its four instants (any of which may be unknown).

    Examples
    --------
    >>> d = durations(onset="2026-03-01T00:00Z", earliest_alarm="2026-03-01T06:00Z",
    ...               reported_at="2026-03-03T00:00Z")
    >>> d.time_to_detect_hours, d.detection_gap_hours, d.alarm_delay_hours
    (48.0, 42.0, 6.0)
    """
    o = check_timestamp(onset, "onset")
    a = check_timestamp(earliest_alarm, "earliest_alarm")
    r = check_timestamp(reported_at, "reported_at")
    m = check_timestamp(mitigated_at, "mitigated_at")
    return Durations(
        onset=o,
        earliest_alarm=a,
        reported_at=r,
        mitigated_at=m,
        time_to_detect_hours=hours_between(o, r),
        detection_gap_hours=hours_between(a, r),
        alarm_delay_hours=hours_between(o, a),
        time_to_mitigate_hours=hours_between(r, m),
        incident_duration_hours=hours_between(o, m),
    )


@dataclass(frozen=True)
class Timeline:
    """The timeline table (:data:`TIMELINE_COLUMNS`), its time origin and the durations."""

    frame: pd.DataFrame
    reference: pd.Timestamp | None
    durations: Durations


def _change_rows(changes: pd.DataFrame | None, kind: str, reported_at: pd.Timestamp | None) -> list[dict]:
    rows: list[dict] = []
    if changes is None or len(changes) == 0:
        return rows
    for rec in changes.to_dict("records"):
        ts = check_timestamp(rec.get("ts"), "changes.ts")
        if ts is None:
            continue
        parts = [str(rec.get("change_type") or "change")]
        attr, frm, to = rec.get("attribute"), rec.get("from_value"), rec.get("to_value")
        if isinstance(attr, str) and attr:
            parts.append(f"{attr}: {frm if isinstance(frm, str) else '?'} -> {to if isinstance(to, str) else '?'}")
        desc = rec.get("description")
        if isinstance(desc, str) and desc:
            parts.append(desc)
        row_kind = kind
        # A change made after the report is the response to the incident, not a candidate cause.
        if reported_at is not None and ts >= reported_at and kind == "change":
            row_kind = "mitigation"
        rows.append(
            {
                "ts": ts,
                "kind": row_kind,
                "source": str(rec.get("change_id")),
                "description": "; ".join(parts),
                "evidence": rec.get("evidence") if isinstance(rec.get("evidence"), str) else "",
            }
        )
    return rows


@dataclass(frozen=True)
class OnsetMark:
    """The detected onset as the timeline shows it.

    Attributes
    ----------
    ts
        The onset.
    interval
        Its interval ``(lo, hi)`` (shown as the row's evidence), or None.
    description
        The row's text (default ``"onset"``).
    """

    ts: Any
    interval: tuple[Any, Any] | None = None
    description: str = ""


@dataclass(frozen=True)
class MitigationMark:
    """When the incident was mitigated (if known) and what the timeline calls it."""

    ts: Any
    description: str = "mitigation"


def _onset_rows(onset: pd.Timestamp | None, mark: OnsetMark | None) -> list[dict]:
    if onset is None or mark is None:
        return []
    lo, hi = (None, None) if mark.interval is None else (
        check_timestamp(mark.interval[0], "onset_interval"),
        check_timestamp(mark.interval[1], "onset_interval"),
    )
    ev = f"interval {iso_z(lo)} .. {iso_z(hi)}" if lo is not None and hi is not None else ""
    return [{"ts": onset, "kind": "onset", "source": "changepoint", "description": mark.description or "onset", "evidence": ev}]


def _alarm_rows(alarms: pd.DataFrame | None, onset: pd.Timestamp | None) -> tuple[list[dict], pd.Timestamp | None]:
    """One row per monitor's first alarm, and the earliest detection (the first alarm at or after the onset)."""
    rows: list[dict] = []
    earliest: pd.Timestamp | None = None
    if alarms is None or not len(alarms):
        return rows, earliest
    for rec in alarms.to_dict("records"):
        ts = check_timestamp(rec.get("first_alarm"), "alarms.first_alarm")
        if ts is None:
            continue
        what = " ".join(str(rec[k]) for k in ("metric", "segment") if isinstance(rec.get(k), str) and rec.get(k))
        lead = rec.get("lead_time_hours")
        ev = f"lead time {lead:.1f} h before the report" if isinstance(lead, (int, float)) and np.isfinite(lead) else ""
        rows.append(
            {
                "ts": ts,
                "kind": "alarm",
                "source": str(rec.get("name")),
                "description": f"first alarm of {rec.get('name')}" + (f" on {what}" if what else ""),
                "evidence": ev,
            }
        )
        # Only alarms at or after the onset count as detections; earlier ones are false alarms.
        if (onset is None or ts >= onset) and (earliest is None or ts < earliest):
            earliest = ts
    return rows, earliest


def _extra_rows(kind: str, items: Iterable[Mapping[str, Any]]) -> list[dict]:
    rows: list[dict] = []
    for n in items:
        ts = check_timestamp(n.get("ts"), f"{kind}.ts")
        if ts is None:
            continue
        rows.append(
            {
                "ts": ts,
                "kind": kind,
                "source": str(n.get("source", "note")),
                "description": str(n.get("description", "")),
                "evidence": str(n.get("evidence", "")),
            }
        )
    return rows


def _frame(rows: list[dict], ref: pd.Timestamp | None) -> pd.DataFrame:
    """The rows as the timeline table, in time order (ties in story order), hours from ``ref``."""
    frame = pd.DataFrame(rows, columns=["ts", "kind", "source", "description", "evidence"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True).astype("datetime64[ns, UTC]")
    frame["_order"] = frame["kind"].map(_KIND_ORDER).astype("int64")
    frame = frame.sort_values(["ts", "_order"], kind="stable").drop(columns="_order").reset_index(drop=True)
    if ref is not None:
        frame["t_rel_hours"] = ((frame["ts"] - ref) / pd.Timedelta(hours=1)).astype("float64")
    else:
        frame["t_rel_hours"] = np.nan
    for col in ("kind", "source", "description", "evidence"):
        frame[col] = frame[col].astype("string[pyarrow]")
    return frame[list(TIMELINE_COLUMNS)]


def build_timeline(
    *,
    changes: pd.DataFrame | None = None,
    inferred: pd.DataFrame | None = None,
    onset: OnsetMark | None = None,
    alarms: pd.DataFrame | None = None,
    reported_at: Any = None,
    mitigation: MitigationMark | None = None,
    notes: Iterable[Mapping[str, Any]] = (),
    facts: Iterable[Mapping[str, Any]] = (),
) -> Timeline:
    """Build the incident timeline from the change log, the onset, the monitors and the report.

    Parameters
    ----------
    changes, inferred
        Canonical ``changes`` rows (logged) and inferred change events (same columns). A logged
        change at or after ``reported_at`` is listed as a ``mitigation``.
    onset
        The detected onset, its interval and description; None (or ``onset.ts=None``) when
        nothing changed.
    alarms
        One row per monitor with ``name`` and ``first_alarm`` (NaT/None when it never fired) and
        optionally ``metric``, ``segment``, ``lead_time_hours``.
    reported_at, mitigation
        When the incident was reported and (if known) mitigated.
    notes
        Extra rows (``ts``, ``description``, optional ``source``/``evidence``), kind ``note``.
    facts
        Data-quality facts (logging gaps, label-coverage drops, duplicate bursts; same keys),
        kind ``data_quality``: on the timeline, never incidents.

    Returns
    -------
    Timeline
        ``frame`` sorted by time (ties ordered change, onset, alarm, report, mitigation),
        ``t_rel_hours`` measured from the onset, or from the report when there is no onset.
    """
    o = check_timestamp(None if onset is None else onset.ts, "onset")
    r = check_timestamp(reported_at, "reported_at")
    m = check_timestamp(None if mitigation is None else mitigation.ts, "mitigated_at")
    rows = _change_rows(changes, "change", r) + _change_rows(inferred, "inferred_change", None) + _onset_rows(o, onset)
    alarm_rows, earliest = _alarm_rows(alarms, o)
    rows += alarm_rows
    if r is not None:
        rows.append({"ts": r, "kind": "report", "source": "report", "description": "incident reported", "evidence": ""})
    if m is not None:
        rows.append({"ts": m, "kind": "mitigation", "source": "mitigation", "description": mitigation.description, "evidence": ""})
    rows += _extra_rows("note", notes) + _extra_rows("data_quality", facts)
    if m is None:
        mit = [row["ts"] for row in rows if row["kind"] == "mitigation"]
        m = min(mit) if mit else None
    ref = o if o is not None else r
    return Timeline(frame=_frame(rows, ref), reference=ref,
                    durations=durations(onset=o, earliest_alarm=earliest, reported_at=r, mitigated_at=m))
