"""The pandas reference (tests/reference.py, the engine's second opinion) against hand-worked cases
and plain pandas group-bys (never against values produced by the code under test)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.engine.query import ALL, MISSING
from analysis.investigation.series import rate_series
from reference import aggregate, events_frame as _frame  # tests/ is on sys.path (rootdir-relative imports)


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


def test_bounds_add_empty_windows_and_drop_outside_rows(small):
    agg = aggregate(
        small, window="30min", metrics=("refused",), start="2026-03-01T09:00:00Z", end="2026-03-01T12:30:00Z"
    )
    r = rate_series(agg, "refused")
    # 09:00 ... 12:00: 7 half-hour windows; the 12:30 and 12:45 rows are outside [start, end).
    assert len(r) == 7 and r["n"].sum() == 3 and agg.n_events == 4
    assert r["window_start"].iloc[0] == pd.Timestamp("2026-03-01T09:00:00Z")
    assert r["n"].iloc[:2].tolist() == [0, 0] and r["rate"].iloc[:2].isna().all()


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
