"""Tests for analysis.windows against hand-worked cases and independent pandas/scipy/statsmodels
computations (never against values produced by the code under test)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from analysis.scenarios import generate
from analysis.windows import ALL, MISSING, WindowedAggregates, aggregate, mean_series, rate_series, series


def _frame(rows):
    """A small events frame with canonical dtypes from (ts, segment, refused, confidence) rows."""
    ts, seg, ref, conf = zip(*rows)
    return pd.DataFrame(
        {
            "event_id": pd.array([f"e{i}" for i in range(len(rows))], dtype="string[pyarrow]"),
            "ts": pd.to_datetime(list(ts), utc=True).astype("datetime64[ns, UTC]"),
            "risk_category": pd.array(list(seg), dtype="string[pyarrow]"),
            "refused": pd.array(list(ref), dtype="boolean"),
            "confidence": np.array(conf, dtype=float),
        }
    )


@pytest.fixture(scope="module")
def small():
    # Hand-worked case: hours 10:00, 11:00 (empty), 12:00; segments high/low/null.
    return _frame(
        [
            ("2026-03-01T10:05:00Z", "high", True, 0.9),
            ("2026-03-01T10:20:00Z", "high", False, 0.5),
            ("2026-03-01T10:59:59Z", "low", None, 0.7),
            ("2026-03-01T12:00:00Z", "low", True, np.nan),
            ("2026-03-01T12:30:00Z", None, False, 0.2),
            ("2026-03-01T12:45:00Z", "high", True, 0.4),
        ]
    )


@pytest.fixture(scope="module")
def refusal():
    return generate("refusal", seed=4, scale=0.25, magnitude=1.0, days=12).events


def test_hand_worked_counts_and_sums(small):
    agg = aggregate(small, window="1h", segment_by=("risk_category",), metrics=("refused", "confidence"))
    t = agg.table.set_index(["segment_column", "segment", "window_start"])
    h10, h11, h12 = (pd.Timestamp(f"2026-03-01T{h}:00:00Z") for h in (10, 11, 12))
    # Whole traffic.
    assert t.loc[(ALL, ALL, h10), ["n", "refused__n", "refused__sum", "confidence__n"]].tolist() == [3, 2, 1, 3]
    assert t.loc[(ALL, ALL, h10), "confidence__sum"] == pytest.approx(0.9 + 0.5 + 0.7)
    assert t.loc[(ALL, ALL, h10), "confidence__sumsq"] == pytest.approx(0.81 + 0.25 + 0.49)
    assert t.loc[(ALL, ALL, h11), ["n", "refused__n", "refused__sum", "confidence__n"]].tolist() == [0, 0, 0, 0]
    assert t.loc[(ALL, ALL, h12), ["n", "refused__n", "refused__sum", "confidence__n"]].tolist() == [3, 3, 2, 2]
    # Segments: high 10:00 -> 2 rows, 1 refused; low 12:00 -> 1 row refused, no confidence; null -> __missing__.
    assert t.loc[("risk_category", "high", h10), ["n", "refused__sum"]].tolist() == [2, 1]
    assert t.loc[("risk_category", "low", h12), ["n", "refused__n", "refused__sum", "confidence__n"]].tolist() == [1, 1, 1, 0]
    assert t.loc[("risk_category", MISSING, h12), "n"] == 1
    assert t.loc[("risk_category", MISSING, h10), "n"] == 0
    # Every (window, segment) pair: 3 windows x (1 + 3 segments).
    assert len(agg.table) == 3 * 4
    assert agg.window == "1h" and agg.n_events == 6


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


def test_bounds_add_empty_windows_and_drop_outside_rows(small):
    agg = aggregate(
        small, window="30min", metrics=("refused",), start="2026-03-01T09:00:00Z", end="2026-03-01T12:30:00Z"
    )
    r = rate_series(agg, "refused")
    # 09:00 ... 12:00: 7 half-hour windows; the 12:30 and 12:45 rows are outside [start, end).
    assert len(r) == 7 and r["n"].sum() == 3 and agg.n_events == 4
    assert r["window_start"].iloc[0] == pd.Timestamp("2026-03-01T09:00:00Z")
    assert r["n"].iloc[:2].tolist() == [0, 0] and r["rate"].iloc[:2].isna().all()


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


def test_table_has_a_row_for_every_window_and_segment(refusal):
    cols = ("query_category", "framing", "model_version", "refused")
    agg = aggregate(refusal, window="3h", segment_by=cols)
    n_windows = len(pd.date_range(refusal["ts"].min().floor("3h"), refusal["ts"].max(), freq="3h"))
    n_segments = 1 + sum(refusal[c].astype("string").fillna(MISSING).nunique() for c in cols)
    assert len(agg.table) == n_windows * n_segments
    assert not agg.table.duplicated(["window_start", "segment_column", "segment"]).any()
    # Every segment column partitions the traffic.
    per = agg.table.groupby(["segment_column", "window_start"])["n"].sum().unstack(0)
    for c in cols:
        np.testing.assert_array_equal(per[c], per[ALL])
    assert agg.table.loc[agg.table["segment_column"] == ALL, "n"].sum() == len(refusal)
    assert set(agg.table.loc[agg.table["segment_column"] == "refused", "segment"]) == {"True", "False", MISSING}


def test_default_metrics_are_the_present_ones(refusal):
    agg = aggregate(refusal, window="1D")
    assert agg.metrics == {
        "refused": "rate",
        "confidence": "mean",
        "latency_ms": "mean",
        "input_tokens": "mean",
        "output_tokens": "mean",
    }


def test_samples_are_bounded_seeded_and_order_free(refusal):
    kw = dict(window="6h", segment_by=("risk_category",), metrics=("confidence",), sample_size=20)
    a = aggregate(refusal, seed=1, **kw)
    b = aggregate(refusal, seed=1, **kw)
    c = aggregate(refusal, seed=2, **kw)
    shuffled = refusal.sample(frac=1.0, random_state=0)
    d = aggregate(shuffled, seed=1, **kw)
    pd.testing.assert_frame_equal(a.samples, b.samples)
    pd.testing.assert_frame_equal(a.samples, d.samples)
    assert not a.samples["value"].equals(c.samples["value"])
    counts = a.samples.groupby(["window_start", "segment_column", "segment"]).size()
    avail = a.table.set_index(["window_start", "segment_column", "segment"])["confidence__n"]
    np.testing.assert_array_equal(counts.reindex(avail.index, fill_value=0), np.minimum(avail, 20))
    # The sampled values are values of that window and segment.
    start = a.start
    ev = refusal.assign(w=start + ((refusal["ts"] - start) // pd.Timedelta("6h")) * pd.Timedelta("6h"))
    for (w, seg), grp in a.samples[a.samples["segment_column"] == "risk_category"].groupby(["window_start", "segment"]):
        pool = ev.loc[(ev["w"] == w) & (ev["risk_category"] == seg), "confidence"].dropna()
        assert grp["value"].isin(pool).all()
    assert len(aggregate(refusal, **{**kw, "sample_size": 0}).samples) == 0


@settings(max_examples=40, deadline=None)
@given(
    offsets=st.lists(st.integers(0, 10 * 3600), min_size=0, max_size=60),
    labels=st.lists(st.sampled_from(["a", "b", None]), min_size=60, max_size=60),
    window_min=st.sampled_from([7, 30, 60, 90]),
)
def test_counts_partition_the_rows(offsets, labels, window_min):
    base = pd.Timestamp("2026-01-01T00:00:00Z")
    rows = [(base + pd.Timedelta(seconds=o), labels[i], (o % 3 == 0) if o % 5 else None, (o % 97) / 97) for i, o in enumerate(offsets)]
    if not rows:
        rows = [(base, "a", True, 0.5)]
    ev = _frame(rows)
    agg = aggregate(ev, window=f"{window_min}min", segment_by=("risk_category",), metrics=("refused", "confidence"))
    t = agg.table
    assert t.loc[t["segment_column"] == ALL, "n"].sum() == len(ev)
    assert t.loc[t["segment_column"] == "risk_category", "n"].sum() == len(ev)
    assert t.loc[t["segment_column"] == ALL, "refused__n"].sum() == ev["refused"].notna().sum()
    assert t.loc[t["segment_column"] == ALL, "refused__sum"].sum() == ev["refused"].sum()
    assert (t["refused__sum"] <= t["refused__n"]).all() and (t["refused__n"] <= t["n"]).all()
    # window index by plain integer division
    w = pd.Timedelta(minutes=window_min)
    expect = ((ev["ts"] - ev["ts"].min().floor(w)) // w).value_counts()
    got = t[t["segment_column"] == ALL].reset_index(drop=True)["n"]
    np.testing.assert_array_equal(got[expect.index].to_numpy(), expect.to_numpy())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"window": "-1h"}, "`window` must be a positive duration, got '-1h'"),
        ({"window": "soon"}, "`window`"),
        ({"segment_by": ("nope",)}, "`segment_by`"),
        ({"metrics": ("risk_category",)}, "`metrics`"),
        ({"metrics": {"confidence": "rate"}}, "`metrics`"),
        ({"sample_size": -1}, "`sample_size`"),
        ({"start": "2026-03-01 10:00"}, "`start`"),
    ],
)
def test_bad_arguments_name_the_parameter(small, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        aggregate(small, **kwargs)


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


def test_empty_input_and_other_time_zones(small):
    empty = small.iloc[:0]
    agg = aggregate(empty, window="1h", metrics=("refused",), start="2026-03-01T00:00Z", end="2026-03-01T03:00Z")
    r = rate_series(agg, "refused")
    assert r["n"].tolist() == [0, 0, 0] and r["rate"].isna().all()
    assert len(aggregate(empty, metrics=("refused",)).table) == 0
    # The same instants in another zone fall in the same UTC windows.
    berlin = small.assign(ts=small["ts"].dt.tz_convert("Europe/Berlin"))
    a = aggregate(small, window="1h", metrics=("refused",)).table
    b = aggregate(berlin, window="1h", metrics=("refused",)).table
    pd.testing.assert_frame_equal(a, b)
