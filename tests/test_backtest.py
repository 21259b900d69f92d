"""Replaying monitors: the gap classification, the replay on seeded series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import reference  # tests/ is on sys.path

from analysis.investigation.backtest import (
    DEFAULT_THRESHOLDS,
    MonitorDesign,
    MonitorRun,
    ReplayPeriods,
    WatchedMetric,
    classify_gap,
    replay_monitors,
)

T0 = pd.Timestamp("2026-01-05T00:00:00Z")
H = pd.Timedelta(hours=1)


def _rate_series(n: np.ndarray, k: np.ndarray) -> pd.DataFrame:
    return reference.hourly_rate_series(n, k, start=T0)


def _run(name, kind, signal, metric="m"):
    return MonitorRun(name, metric, "all traffic", kind, signal, (), T0, 10.0, 0, 30.0, "")


def test_classify_gap_categories():
    assert classify_gap(_run("threshold", "threshold", "quality", "retrieval_top1_score"), any_alarm_before_report=True)[0] == "quality_signal_missing"
    assert classify_gap(_run("weekly_evaluation", "evaluation", "outcome"), any_alarm_before_report=True)[0] == "evaluation_lag"
    assert classify_gap(_run("segment_cusum", "spc", "outcome", "refused"), any_alarm_before_report=True)[0] == "spc_missing"
    assert classify_gap(None, any_alarm_before_report=False)[0] == "quality_signal_missing"
    assert DEFAULT_THRESHOLDS["retrieval_top1_score"] == ("less", 0.72)


def test_replay_step_change_alarms_after_onset_and_not_before():
    # 40 days of hourly binomial windows at 10%, then from day 30 at 30% (a large step): the
    # CUSUM designed for one false alarm a month (ARL0 = 720 hourly windows) must alarm within a
    # few hours of the step; the false alarms are counted inside the baseline only.
    rng = np.random.default_rng(11)
    hours = 40 * 24
    n = rng.integers(40, 80, size=hours)
    p = np.where(np.arange(hours) >= 30 * 24, 0.30, 0.10)
    s = _rate_series(n, rng.binomial(n, p))
    onset = T0 + pd.Timedelta(days=30)
    reported = onset + pd.Timedelta(days=5)
    ev = pd.DataFrame({"event_id": ["x"], "ts": [T0]})
    q4 = replay_monitors(
        WatchedMetric(metric="escalated", kind="rate", alternative="greater", all_series=s, segment_series=None,
                      segment_label="all traffic", failure=None),
        ReplayPeriods(baseline=(T0, onset), detect_from=onset, reported_at=reported, window=H),
        events=ev, design=MonitorDesign(drift_columns=()),
    )
    m = q4.monitors.set_index("name")
    run = q4.runs["cusum"]
    assert m.loc["cusum", "false_alarms_baseline"] == sum(1 for t in run.alarm_times if t < onset)
    first = m.loc["cusum", "first_alarm"]
    assert onset <= first <= onset + pd.Timedelta(hours=6)
    assert m.loc["cusum", "lead_time_hours"] == pytest.approx((reported - first) / H)
    # the fixed 20% escalation bar on the 6-hour rolling mean also fires within hours
    assert onset <= m.loc["threshold", "first_alarm"] <= onset + pd.Timedelta(hours=6)
    # the gap is closed by an outcome chart: statistical process control was missing
    assert q4.gap_category == "spc_missing"
    assert q4.earliest_alarm == min(m["first_alarm"].dropna())
    assert q4.gap_hours == pytest.approx((reported - q4.earliest_alarm) / H)


def test_replay_without_incident_has_no_gap():
    rng = np.random.default_rng(5)
    n = rng.integers(40, 80, size=24 * 20)
    s = _rate_series(n, rng.binomial(n, 0.1))
    ev = pd.DataFrame({"event_id": ["x"], "ts": [T0]})
    end = T0 + pd.Timedelta(days=20)
    q4 = replay_monitors(
        WatchedMetric(metric="escalated", kind="rate", alternative="greater", all_series=s, segment_series=None,
                      segment_label="all traffic", failure=None),
        ReplayPeriods(baseline=(T0, end), detect_from=None, reported_at=None, window=H),
        events=ev, design=MonitorDesign(drift_columns=()),
    )
    assert q4.gap_category is None and q4.gap_hours is None
    assert q4.monitors["first_alarm"].isna().all()
