"""The incident timeline: ordering, relative hours and durations (hand-worked cases)."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.investigation.timeline import TIMELINE_COLUMNS, OnsetMark, build_timeline, durations, hours_between

T0 = pd.Timestamp("2026-03-01T00:00:00Z")


def _changes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "change_id": ["chg-model", "chg-prompt", "chg-rollback"],
            "ts": [T0 - pd.Timedelta(hours=96), T0 - pd.Timedelta(hours=2), T0 + pd.Timedelta(hours=80)],
            "change_type": ["model_update", "prompt_template_change", "model_update"],
            "attribute": ["model_version", "prompt_template_version", "model_version"],
            "from_value": ["v1", "p3", "v2"],
            "to_value": ["v2", "p4", "v1"],
            "description": ["base model update", "rewording", "rollback"],
        }
    )


def test_durations_hand_worked():
    # onset 00:00, first alarm 06:30 the same day, report two days later at 00:00, mitigation 12 h
    # after the report: 48 h to detect, 41.5 h of detection gap, 6.5 h alarm delay, 12 h to mitigate,
    # 60 h of incident.
    d = durations(
        onset=T0,
        earliest_alarm=T0 + pd.Timedelta(hours=6, minutes=30),
        reported_at=T0 + pd.Timedelta(hours=48),
        mitigated_at=T0 + pd.Timedelta(hours=60),
    )
    assert d.time_to_detect_hours == 48.0
    assert d.detection_gap_hours == 41.5
    assert d.alarm_delay_hours == 6.5
    assert d.time_to_mitigate_hours == 12.0
    assert d.incident_duration_hours == 60.0
    assert d.to_dict()["onset"] == "2026-03-01T00:00:00Z"


def test_durations_unknown_ends_are_none():
    d = durations(onset=None, reported_at=T0)
    assert d.time_to_detect_hours is None and d.detection_gap_hours is None
    assert hours_between(T0, None) is None


def test_naive_timestamp_is_rejected_with_parameter_name():
    with pytest.raises(ValueError, match="`onset`"):
        durations(onset=pd.Timestamp("2026-03-01 00:00"))


def test_timeline_rows_order_and_relative_hours():
    alarms = pd.DataFrame(
        {
            "name": ["rolling_2sigma", "cusum", "never"],
            "metric": ["refused", "refused", "refused"],
            "first_alarm": [T0 + pd.Timedelta(hours=5), T0 - pd.Timedelta(hours=30), pd.NaT],
            "lead_time_hours": [43.0, 78.0, float("nan")],
        }
    )
    tl = build_timeline(
        changes=_changes(),
        onset=OnsetMark(T0, interval=(T0 - pd.Timedelta(hours=2), T0 + pd.Timedelta(hours=3))),
        alarms=alarms,
        reported_at=T0 + pd.Timedelta(hours=48),
    )
    f = tl.frame
    assert tuple(f.columns) == TIMELINE_COLUMNS
    assert f["ts"].is_monotonic_increasing
    # the prompt change and the onset interval are described; the never-firing monitor has no row
    assert list(f["kind"]) == ["change", "alarm", "change", "onset", "alarm", "report", "mitigation"]
    assert "never" not in set(f["source"])
    # t_rel_hours is measured from the onset: the model update 96 h before, the report 48 h after
    rel = dict(zip(f["source"], f["t_rel_hours"]))
    assert rel["chg-model"] == -96.0 and rel["report"] == 48.0 and rel["chg-rollback"] == 80.0
    # a change logged after the report is the response to it: a mitigation
    assert f.loc[f["source"] == "chg-rollback", "kind"].iat[0] == "mitigation"
    # the alarm 30 h before the onset is a false alarm: the earliest detection is the 05:00 one
    assert tl.durations.earliest_alarm == T0 + pd.Timedelta(hours=5)
    assert tl.durations.detection_gap_hours == 43.0
    assert tl.durations.time_to_mitigate_hours == 32.0
    assert "interval 2026-02-28T22:00:00Z .. 2026-03-01T03:00:00Z" in f.loc[f["kind"] == "onset", "evidence"].iat[0]


def test_timeline_without_onset_is_relative_to_report():
    tl = build_timeline(changes=_changes(), reported_at=T0)
    assert tl.reference == T0
    assert tl.frame.loc[tl.frame["kind"] == "report", "t_rel_hours"].iat[0] == 0.0
    assert tl.durations.time_to_detect_hours is None


def test_ties_keep_story_order():
    # a change, the onset, an alarm and the report at the same instant: cause before effect
    alarms = pd.DataFrame({"name": ["threshold"], "first_alarm": [T0]})
    ch = _changes().iloc[[1]].assign(ts=[T0])
    tl = build_timeline(changes=ch, onset=OnsetMark(T0), alarms=alarms, reported_at=T0 + pd.Timedelta(hours=1))
    assert list(tl.frame["kind"])[:3] == ["change", "onset", "alarm"]
