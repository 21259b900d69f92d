"""The monitors replayed over the history: building blocks against hand-worked values and designs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import reference  # tests/ is on sys.path

from analysis.investigation.monitor_charts import (
    EvaluationPlan,
    chart_monitors,
    standardize,
    threshold_monitor,
    weekly_evaluation,
)

T0 = pd.Timestamp("2026-01-05T00:00:00Z")
H = pd.Timedelta(hours=1)


def _rate_series(n: np.ndarray, k: np.ndarray) -> pd.DataFrame:
    return reference.hourly_rate_series(n, k, start=T0)


def test_threshold_monitor_rolling_mean_hand_worked():
    # windows (n, successes): (10, 1) (10, 1) (10, 5) (0, 0) (10, 9); rolling sum over 2 windows:
    # 1/10, 2/20, 6/20, 5/10 (the empty window adds nothing), 9/10 -> above 0.25 from the third on
    s = _rate_series(np.array([10, 10, 10, 0, 10]), np.array([1, 1, 5, 0, 9]))
    val, alarm = threshold_monitor(s, kind="rate", alternative="greater", threshold=0.25, rolling=2)
    np.testing.assert_allclose(val, [0.1, 0.1, 0.3, 0.5, 0.9])
    assert alarm.tolist() == [False, False, True, True, True]
    with pytest.raises(ValueError, match="`alternative`"):
        threshold_monitor(s, kind="rate", alternative="over", threshold=0.2)


def test_standardize_pure_binomial_has_unit_variance():
    # Binomial windows with varying n at a constant rate: the z-scores have mean ~0 and sd ~1
    # (dispersion floor 1); tolerance 0.1 covers the sampling error of an sd over 2000 windows.
    rng = np.random.default_rng(3)
    n = rng.integers(20, 200, size=2000)
    k = rng.binomial(n, 0.1)
    z, info = standardize(_rate_series(n, k), "rate", np.ones(2000, dtype=bool))
    assert abs(np.nanmean(z)) < 0.05
    assert np.nanstd(z) == pytest.approx(1.0, abs=0.1)
    assert info["level"] == pytest.approx(k.sum() / n.sum())
    # Over-dispersed windows (the rate itself varies): divided by the dispersion, sd back near 1.
    p = np.clip(rng.normal(0.1, 0.03, size=2000), 0.01, 0.5)
    k2 = rng.binomial(n, p)
    z2, info2 = standardize(_rate_series(n, k2), "rate", np.ones(2000, dtype=bool))
    # expected dispersion sqrt((0.1*0.9/110 + 0.03**2) / (0.1*0.9/110)) ~ 1.45 at the mean n
    assert info2["dispersion"] > 1.3
    assert np.nanstd(z2) == pytest.approx(1.0, abs=0.1)


def test_weekly_evaluation_runs_and_bar():
    # 30 days of hourly events, failures only from day 20 on: runs at days 7, 14, 21, 28 after
    # the start; the last two sample the failing period (50% failures) and fail the 95% bar.
    ts = pd.date_range(T0, periods=30 * 24, freq="1h", tz="UTC")
    ev = pd.DataFrame({"event_id": [f"e{i}" for i in range(len(ts))], "ts": ts})
    fail = pd.Series((ts >= T0 + pd.Timedelta(days=20)) & (np.arange(len(ts)) % 2 == 0), index=ev.index)
    alarms, table = weekly_evaluation(ev, fail, start=T0, end=T0 + pd.Timedelta(days=30), plan=EvaluationPlan(seed=1))
    assert list(table["run_at"]) == [T0 + pd.Timedelta(days=d) for d in (7, 14, 21, 28)]
    assert alarms == [T0 + pd.Timedelta(days=21), T0 + pd.Timedelta(days=28)]
    assert (table["sampled"] == 24).all()  # a day of hourly events: fewer than 50 available


def test_chart_design_false_alarm_rate_near_one_a_month():
    # In-control binomial windows (p = 0.1, n 40-80): the one-sided CUSUM designed with
    # spc.cusum_h_for_arl(720) should raise about one false alarm per 720 windows. Over 20 seeded
    # histories of 2160 windows (60 expected alarms at the design) the observed mean must lie in
    # [0.5, 2] per 720 windows: the Gaussian design is approximate for a skewed binomial.
    counts = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        n = rng.integers(40, 80, size=2160)
        s = _rate_series(n, rng.binomial(n, 0.1))
        out = chart_monitors(s, kind="rate", alternative="greater", baseline_mask=np.ones(2160, dtype=bool), window=H, arl0=720)
        counts.append(len(out["cusum"][0]))
    per_720 = np.mean(counts) / 3
    assert 0.5 <= per_720 <= 2.0, per_720
