"""Tests for analysis.investigation.series (rates and means read from the window aggregates) against
hand-worked cases and independent pandas/scipy/statsmodels computations (never against values
produced by the code under test)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from analysis.engine.aggregates import WindowedAggregates
from analysis.investigation.series import mean_series, rate_series, series
from reference import aggregate  # tests/ is on sys.path (rootdir-relative imports)


def test_empty_windows_give_nan_not_zero(small):
    agg = aggregate(small, window="1h", segment_by="risk_category", metrics=("refused", "confidence"))
    r = rate_series(agg, "refused")
    assert r["n"].tolist() == [2, 0, 3]
    assert r["rate"].iloc[0] == pytest.approx(0.5) and r["rate"].iloc[2] == pytest.approx(2 / 3)
    assert np.isnan(r["rate"].iloc[1]) and np.isnan(r["ci_low"].iloc[1]) and np.isnan(r["ci_high"].iloc[1])
    m = mean_series(agg, "confidence", segment_column="risk_category", segment="low")
    # low: 10:00 -> one value 0.7 (mean, no std); 11:00 empty; 12:00 one row, confidence missing.
    assert m["n"].tolist() == [1, 0, 0]
    assert m["mean"].iloc[0] == pytest.approx(0.7)
    assert np.isnan(m["std"].iloc[0]) and np.isnan(m["mean"].iloc[1]) and np.isnan(m["mean"].iloc[2])
    assert series(agg, "refused")["value"].isna().tolist() == [False, True, False]


def test_rates_and_intervals_match_pandas_and_statsmodels(refusal):
    agg = aggregate(refusal, window="6h", segment_by=("risk_category",), metrics=("refused",))
    r = rate_series(agg, "refused", segment_column="risk_category", segment="high", alpha=0.1)
    ev = refusal[refusal["risk_category"] == "high"]
    start = refusal["ts"].min().floor("6h")
    g = ev.groupby(((ev["ts"] - start) // pd.Timedelta("6h")))["refused"]
    n_idx = pd.RangeIndex(len(r))
    expect_n = g.count().reindex(n_idx, fill_value=0).to_numpy()
    expect_x = g.sum().reindex(n_idx, fill_value=0).to_numpy()
    np.testing.assert_array_equal(r["n"], expect_n)
    np.testing.assert_array_equal(r["successes"], expect_x)
    # rates equal counts
    np.testing.assert_allclose(r["rate"] * r["n"], r["successes"], equal_nan=True)
    nz = expect_n > 0
    lo, hi = proportion_confint(expect_x[nz], expect_n[nz], alpha=0.1, method="wilson")
    # statsmodels' Wilson interval: same formula, floating-point agreement only
    np.testing.assert_allclose(r["ci_low"][nz], lo, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(r["ci_high"][nz], hi, rtol=1e-10, atol=1e-12)
    assert r.loc[~nz, "rate"].isna().all()


def test_means_match_pandas_and_scipy(refusal):
    agg = aggregate(refusal, window="1D", segment_by=("query_category",), metrics=("latency_ms", "confidence"))
    m = mean_series(agg, "latency_ms", segment_column="query_category", segment="chest_pain", alpha=0.05)
    ev = refusal[refusal["query_category"] == "chest_pain"]
    start = refusal["ts"].min().floor("1D")
    g = ev.groupby((ev["ts"] - start) // pd.Timedelta("1D"))["latency_ms"]
    idx = pd.RangeIndex(len(m))
    exp = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1), "n": g.count()}).reindex(idx)
    np.testing.assert_array_equal(m["n"], exp["n"].fillna(0).astype(int))
    # one-pass sums vs pandas' two-pass mean/std on latencies ~1e3: agreement to ~1e-9 relative
    np.testing.assert_allclose(m["mean"], exp["mean"], rtol=1e-9)
    np.testing.assert_allclose(m["std"], exp["std"], rtol=1e-6)
    ok = exp["n"] > 1
    lo, hi = stats.t.interval(0.95, exp["n"][ok] - 1, loc=exp["mean"][ok], scale=exp["std"][ok] / np.sqrt(exp["n"][ok]))
    np.testing.assert_allclose(m["ci_low"][ok], lo, rtol=1e-6)
    np.testing.assert_allclose(m["ci_high"][ok], hi, rtol=1e-6)


def test_series_errors_and_naive_timestamps(small):
    agg = aggregate(small, window="1h", segment_by="risk_category", metrics=("refused", "confidence"))
    assert isinstance(agg, WindowedAggregates)
    with pytest.raises(ValueError, match="mean metric"):
        rate_series(agg, "confidence")
    with pytest.raises(ValueError, match="`segment`"):
        rate_series(agg, "refused", segment_column="risk_category", segment="medium")
    with pytest.raises(ValueError, match="`segment_column`"):
        rate_series(agg, "refused", segment_column="framing", segment="x")
    naive = small.assign(ts=small["ts"].dt.tz_localize(None))
    with pytest.raises(ValueError, match="timezone-aware"):
        aggregate(naive)
