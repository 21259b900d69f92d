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
from analysis.investigation.series import mean_series, rate_series, series, smoothed_series
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


# ----------------------------------------------------------------------------------------------
# smoothed_series: neighbouring windows pooled so a point rests on enough requests
# ----------------------------------------------------------------------------------------------


def _sparse_rates(seed: int = 0, windows: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = rng.integers(0, 4, windows)  # a handful of requests a window, some empty
    x = rng.binomial(n, np.where(np.arange(windows) < 60, 0.95, 0.2))
    starts = pd.date_range("2026-01-01", periods=windows, freq="1h", tz="UTC")
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, x / np.maximum(n, 1), np.nan)
    return pd.DataFrame({"window_start": starts, "n": n, "successes": x, "rate": rate})


def test_pooled_rates_are_the_rates_of_the_pooled_counts():
    s = _sparse_rates()
    out = smoothed_series(s, min_n=30)
    k = int(out["span"].iat[0])
    assert k % 2 == 1 and k > 1
    # the centred sums by hand: np.convolve with a box of k ones, 'same' length (shorter runs at the ends)
    box = np.ones(k)
    n_ref = np.convolve(s["n"], box, mode="same")
    x_ref = np.convolve(s["successes"], box, mode="same")
    assert np.array_equal(out["n"].to_numpy(), n_ref.astype(int))
    assert np.median(n_ref[s["n"] > 0]) >= 30  # the span reaches the requests asked for...
    n_less = np.convolve(s["n"], np.ones(k - 2), mode="same")
    assert np.median(n_less[s["n"] > 0]) < 30  # ...and is the smallest that does
    ok = n_ref > 0
    assert np.allclose(out["value"][ok], x_ref[ok] / n_ref[ok])
    lo, hi = proportion_confint(x_ref[ok], n_ref[ok], alpha=0.05, method="wilson")
    assert np.allclose(out["ci_low"][ok], np.clip(lo, 0, 1)) and np.allclose(out["ci_high"][ok], np.clip(hi, 0, 1))


def test_pooled_means_equal_the_means_of_the_pooled_requests():
    rng = np.random.default_rng(3)
    samples = [rng.normal(0.8 if w < 20 else 0.6, 0.1, rng.integers(1, 5)) for w in range(40)]
    s = pd.DataFrame({"window_start": pd.date_range("2026-01-01", periods=40, freq="6h", tz="UTC"),
                      "n": [len(v) for v in samples], "mean": [v.mean() for v in samples],
                      "std": [v.std(ddof=1) if len(v) > 1 else np.nan for v in samples]})
    out = smoothed_series(s, min_n=10, max_share=1 / 4)
    k = int(out["span"].iat[0])
    i = 20  # a point in the middle: its span holds the windows i-m .. i+m
    pooled = np.concatenate(samples[i - k // 2: i + k // 2 + 1])
    assert out["n"].iat[i] == pooled.size
    assert out["value"].iat[i] == pytest.approx(pooled.mean())
    half = stats.t.ppf(0.975, pooled.size - 1) * pooled.std(ddof=1) / np.sqrt(pooled.size)
    assert out["ci_high"].iat[i] - out["value"].iat[i] == pytest.approx(half)


def test_windows_with_enough_requests_are_not_pooled():
    s = _sparse_rates().assign(n=lambda f: f["n"] + 100)
    out = smoothed_series(s, min_n=30)
    assert (out["span"] == 1).all() and np.array_equal(out["n"], s["n"])


def test_the_span_is_capped_and_min_n_checked():
    s = _sparse_rates(windows=30)
    assert smoothed_series(s, min_n=10_000, max_share=0.2)["span"].iat[0] <= 6
    with pytest.raises(ValueError, match="min_n"):
        smoothed_series(s, min_n=0)
