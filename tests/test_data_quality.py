"""Data-quality facts from hourly counts: logging gaps, label-coverage drops, duplicate bursts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.investigation import data_quality as dq

T0 = pd.Timestamp("2026-01-05T00:00:00Z")
H = pd.Timedelta(hours=1)


def _hourly(n, **labels):
    ws = pd.date_range(T0, periods=len(n), freq="1h", tz="UTC")
    return pd.DataFrame({"window_start": ws, "n": np.asarray(n, float), **{f"{k}__n": np.asarray(v, float) for k, v in labels.items()}})


def _traffic(days=7, seed=0):
    rng = np.random.default_rng(seed)
    hours = np.arange(days * 24)
    lam = 100 * (1 + 0.6 * np.cos(2 * np.pi * (hours % 24 - 14) / 24))
    return rng.poisson(lam).astype(float)


def test_a_ten_hour_outage_is_one_gap_with_its_span():
    n = _traffic()
    n[80:90] = 0
    n[85] = 2  # a trickle inside the outage
    h = _hourly(n)
    h = h[h["n"] > 0]  # hours without events have no row: the grid must restore them
    gaps = dq.logging_gaps(h, start=T0, end=T0 + 168 * H)
    assert len(gaps) == 1
    g = gaps[0]
    assert (g.start, g.end, g.hours, g.observed) == (T0 + 80 * H, T0 + 90 * H, 10.0, 2.0)
    assert "not an incident" in g.effect
    # the same traffic without the outage has no gap (quiet nights are expected, not gaps)
    assert dq.logging_gaps(_hourly(_traffic()), start=T0, end=T0 + 168 * H) == []


def test_a_label_outage_is_a_coverage_drop():
    n = _traffic(seed=1)
    judged = np.round(n * 0.9)
    judged[100:112] = 0
    facts = dq.coverage_drops(_hourly(n, correct=judged, refused=n), ["correct", "refused"], start=T0, end=T0 + 168 * H)
    assert [(f.kind, f.column, f.start, f.end) for f in facts] == [("label_coverage_drop", "correct", T0 + 100 * H, T0 + 112 * H)]
    assert facts[0].expected == pytest.approx(np.median(judged[n > 0] / n[n > 0]))
    # a label that is rarely present (a sampled human review) has no usual coverage to drop from
    sparse = np.where(np.arange(168) % 10 == 0, n, 0)
    assert dq.coverage_drops(_hourly(n, reviewed=sparse), ["reviewed"], start=T0, end=T0 + 168 * H) == []


def test_duplicate_bursts_against_the_usual_rate():
    n = _traffic(seed=2)
    dups = np.zeros(168)
    dups[::7] = 1  # the usual trickle
    dups[50:53] = 400  # a retrying exporter
    facts = dq.duplicate_bursts(_hourly(dups), _hourly(n), start=T0, end=T0 + 168 * H)
    assert [(f.start, f.end, f.observed) for f in facts] == [(T0 + 50 * H, T0 + 53 * H, 1200.0)]
    assert dq.duplicate_bursts(pd.DataFrame(columns=["window_start", "n"]), _hourly(n), start=T0, end=T0 + 168 * H) == []
