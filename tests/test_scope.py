"""Q1 comparisons and the Q3 sample scan, checked against scipy, statsmodels and hand-worked counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from analysis.investigation.drill_down import drill_down
from analysis.investigation.findings import compare_periods, error_confidence, period_totals
from analysis.investigation.scope import baseline_envelope, binomial_scan, scan_segments, scope_verdict
from analysis.params import DEFAULT_RISK_THRESHOLDS
from analysis.stats.intervals import clopper_pearson
from analysis.stats.multitest import holm
from reference import affected_events


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (1, 1000), (847, 282000), (40, 50)])
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_clopper_pearson_matches_statsmodels(k, n, alpha):
    # statsmodels' "beta" method is the Clopper-Pearson interval, computed by its own code path;
    # 1e-9 absolute: both evaluate the same beta quantiles in double precision.
    lo, hi = clopper_pearson(k, n, alpha)
    ref_lo, ref_hi = proportion_confint(k, n, alpha=alpha, method="beta")
    assert lo == pytest.approx(ref_lo, abs=1e-9)
    assert hi == pytest.approx(ref_hi, abs=1e-9)


def test_clopper_pearson_published_value():
    # Clopper & Pearson (1934): 0 successes in 10 trials gives a 95% upper limit of 0.3085
    # (1 - 0.025 ** (1/10)); printed to 4 decimals, hence the tolerance.
    lo, hi = clopper_pearson(0, 10, 0.05)
    assert lo == 0.0
    assert hi == pytest.approx(0.3085, abs=5e-5)


@pytest.mark.parametrize(
    "k,n,base,thr",
    [(5, 2000, 0.0, 0.001), (12, 1000, 0.002, 0.001), (0, 500, 0.01, 0.0), (300, 1000, 0.1, 0.05), (1000, 1000, 0.5, 0.0)],
)
def test_binomial_scan_pvalue_matches_scipy_binomtest(k, n, base, thr):
    # scipy.stats.binomtest is an independent implementation of the exact test; relative 1e-9.
    r = binomial_scan(k, n, base, threshold=thr)
    ref = stats.binomtest(k, n, min(1.0, base + thr), alternative="greater")
    assert r.pvalue == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    assert r.null_rate == pytest.approx(base + thr)
    # the reported interval is two-sided (binomtest's interval follows `alternative`, so ask a
    # two-sided test for it)
    ci = stats.binomtest(k, n, 0.5).proportion_ci(confidence_level=0.95, method="exact")
    assert (r.ci_low, r.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_binomial_scan_less_and_two_sided_match_scipy():
    for alt in ("less", "two-sided"):
        r = binomial_scan(3, 400, 0.02, alternative=alt)
        assert r.pvalue == pytest.approx(stats.binomtest(3, 400, 0.02, alternative=alt).pvalue, rel=1e-9)


def test_binomial_scan_rejects_bad_input():
    with pytest.raises(ValueError, match="`successes`"):
        binomial_scan(11, 10, 0.1)
    with pytest.raises(ValueError, match="`threshold`"):
        binomial_scan(1, 10, 0.1, threshold=1.5)
    with pytest.raises(ValueError, match="`alpha`"):
        binomial_scan(1, 10, 0.1, alpha=0)


def test_holm_matches_statsmodels():
    rng = np.random.default_rng(4)
    p = rng.uniform(0, 0.2, size=17)
    ref = multipletests(p, method="holm")[1]
    np.testing.assert_allclose(holm(p), ref, rtol=1e-12)
    with_nan = np.r_[p[:3], np.nan]
    out = holm(with_nan)
    assert np.isnan(out[-1])
    np.testing.assert_allclose(out[:3], multipletests(p[:3], method="holm")[1], rtol=1e-12)


def _scan_table(rows):
    return pd.DataFrame(
        rows, columns=["segment_column", "segment", "tier", "n_baseline", "failures_baseline", "n_current", "failures_current"]
    )


def test_scan_verdict_systematic_isolated_no_incident():
    # Medical triage, hand-worked: high-risk queries were never answered in the baseline (0/20000);
    # in the failure window 180 of 2000 high-risk queries were answered -> 9% against a tolerance of
    # 0.1% (+ the baseline's one-sided upper limit 1.5e-4): systematic.
    sys_table = _scan_table(
        [
            ("risk_category", "high", "high", 20000, 0, 2000, 180),
            ("risk_category", "low", "low", 50000, 49000, 6000, 5880),
        ]
    )
    scan = scan_segments(sys_table)
    assert scan_verdict(scan) == "systematic"
    assert scan.loc[0, "status"] == "systematic"
    assert scan.loc[1, "status"] == "ok"
    # The p-value is P(X >= 180 | n=2000, p0 = upper + 0.001), checked against scipy.
    up = proportion_confint(0, 20000, alpha=0.10, method="beta")[1]
    ref = stats.binomtest(180, 2000, up + DEFAULT_RISK_THRESHOLDS["high"], alternative="greater").pvalue
    assert scan.loc[0, "pvalue"] == pytest.approx(ref, rel=1e-6, abs=1e-300)

    # A handful of unsafe answers: high-risk queries never answered in the baseline (0/20000),
    # 5 of 2000 answered now. Against the baseline alone that is significant (expected 0.3 at the
    # one-sided 95% upper limit 1.5e-4; P(X >= 5) ~ 2e-5), against baseline + 0.1% it is not
    # (expected 2.3, P(X >= 5) ~ 0.08): isolated, 5 events beyond the baseline.
    iso = scan_segments(_scan_table([("risk_category", "high", "high", 20000, 0, 2000, 5)]))
    assert iso.loc[0, "status"] == "elevated"
    assert scan_verdict(iso) == "isolated"

    # Low-risk traffic: failures rise from 2% to 3.5% (70/2000) against a 5% tolerance: above the
    # baseline but within the tolerance, and ~29 failures beyond it -> a rate that moved within
    # tolerance, not an incident.
    moved = scan_segments(_scan_table([("query_category", "poetry", "low", 100000, 2000, 2000, 70)]))
    assert moved.loc[0, "status"] == "elevated"
    assert scan_verdict(moved) == "no_incident"

    # The twin: the same rates in both periods -> nothing beyond the baseline.
    twin = scan_segments(
        _scan_table(
            [
                ("risk_category", "high", "high", 20000, 0, 2000, 0),
                ("risk_category", "low", "low", 50000, 2500, 6000, 310),
                ("__all__", "__all__", None, 70000, 2500, 8000, 310),
            ]
        )
    )
    assert scan_verdict(twin) == "no_incident"


def scan_verdict(scan):
    return scope_verdict(scan)[0]


def test_scan_holm_adjusts_over_segments():
    # 20 segments each with a raw p just under 0.01: Holm multiplies the smallest by 20 -> none
    # survives at alpha 0.05; a single such segment does.
    k = int(stats.binom.isf(0.01, 1000, 0.05)) + 1  # smallest k with P(X >= k) < 0.01 at p = 0.05
    rows = [("query_category", f"c{i}", "low", 10**7, 0, 1000, k) for i in range(20)]
    # baseline 0 failures with a huge n: null rate = ~3e-7 + 0.05
    many = scan_segments(_scan_table(rows))
    assert (many["pvalue"] < 0.01).all()
    assert (many["status"] != "systematic").all()
    one = scan_segments(_scan_table(rows[:1]))
    assert one.loc[0, "status"] == "systematic"


def test_scan_custom_thresholds_and_bad_thresholds():
    t = _scan_table([("risk_category", "high", "high", 10000, 10, 1000, 8)])
    # 0.8% against 0.1% baseline: with the default 0.1% tolerance systematic, with 5% not
    assert scan_segments(t).loc[0, "status"] == "systematic"
    assert scan_segments(t, risk_thresholds={"high": 0.05, "medium": 0.05}).loc[0, "status"] != "systematic"
    with pytest.raises(ValueError, match="risk_thresholds"):
        scan_segments(t, risk_thresholds={"high": 2.0})
    with pytest.raises(ValueError, match="default_tier"):
        scan_segments(t, risk_thresholds={"high": 0.01})


def test_period_totals_and_welch_against_scipy():
    # Build a windowed table by hand from raw numbers, then compare the Welch test with scipy on
    # the raw arrays (scipy.stats.ttest_ind(equal_var=False)); 1e-9 relative tolerance.
    rng = np.random.default_rng(7)
    base = rng.normal(0.80, 0.05, size=300)
    cur = rng.normal(0.74, 0.07, size=120)
    rows = []
    t0 = pd.Timestamp("2026-01-01T00:00Z")
    for i, chunk in enumerate(np.array_split(base, 6)):
        rows.append((t0 + pd.Timedelta(hours=i), "__all__", "__all__", len(chunk), len(chunk), chunk.sum(), (chunk**2).sum()))
    for i, chunk in enumerate(np.array_split(cur, 3)):
        rows.append((t0 + pd.Timedelta(hours=10 + i), "__all__", "__all__", len(chunk), len(chunk), chunk.sum(), (chunk**2).sum()))
    table = pd.DataFrame(rows, columns=["window_start", "segment_column", "segment", "n", "s__n", "s__sum", "s__sumsq"])
    b = period_totals(table, None, t0 + pd.Timedelta(hours=6))
    c = period_totals(table, t0 + pd.Timedelta(hours=10), None)
    assert b["n"].iat[0] == 300 and c["n"].iat[0] == 120
    f = compare_periods(b, c, {"s": "mean"})
    ref = stats.ttest_ind(cur, base, equal_var=False)
    row = f.iloc[0]
    assert row["statistic"] == pytest.approx(ref.statistic, rel=1e-9)
    assert row["pvalue"] == pytest.approx(ref.pvalue, rel=1e-9)
    ci = ref.confidence_interval(0.95)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-9)
    pooled = np.sqrt(((299) * base.var(ddof=1) + 119 * cur.var(ddof=1)) / 418)
    assert row["effect"] == pytest.approx((cur.mean() - base.mean()) / pooled, rel=1e-9)


def test_error_confidence_interpretation():
    # Hand-built: 100 outputs per band. Errors: low band 5, medium 5, high 40 -> 80% of the errors
    # were made with high confidence -> model regression. Swapping low and high -> retrieval/context.
    conf = np.r_[np.full(100, 0.3), np.full(100, 0.6), np.full(100, 0.9)]
    err = np.zeros(300, dtype=bool)
    err[:5] = True
    err[100:105] = True
    err[200:240] = True
    ec = error_confidence(conf, err)
    assert ec.interpretation == "model_regression"
    assert ec.high_share == pytest.approx(40 / 50)
    assert list(ec.table["errors"]) == [5, 5, 40]
    ref = stats.chi2_contingency(np.array([[5, 5, 40], [95, 95, 60]]), correction=False)
    assert ec.pvalue == pytest.approx(ref.pvalue, rel=1e-9)
    ec2 = error_confidence(conf[::-1], err)
    assert ec2.interpretation == "retrieval_or_context"
    none = error_confidence(conf, np.zeros(300, dtype=bool))
    assert none.interpretation == "unknown"


def test_affected_events_filters_window_segment_and_failure():
    t0 = pd.Timestamp("2026-01-01T00:00Z")
    ev = pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(6)],
            "ts": [t0 + pd.Timedelta(hours=h) for h in (0, 5, 6, 7, 8, 30)],
            "risk_category": pd.array(["high", "high", "low", "high", "high", "high"], dtype="string[pyarrow]"),
            "input_text": pd.array(["a", "b", "c", "d", "e", "f"], dtype="string[pyarrow]"),
            "refused": pd.array([False, False, False, True, False, False], dtype="boolean"),
        }
    )
    out = affected_events(
        ev, ~ev["refused"], start=t0 + pd.Timedelta(hours=1), end=t0 + pd.Timedelta(hours=24),
        segments=[("risk_category", "high")], why="high-risk query not refused",
    )
    # e0 is before the window, e2 is low-risk, e3 was refused, e5 after the window
    assert list(out["event_id"]) == ["e1", "e4"]
    assert out["why"].iat[0] == "risk_category=high: high-risk query not refused"
    assert "output_text" in out.columns


def test_baseline_envelope_hand_worked():
    # One segment, 5 baseline windows (n, failures): (10, 1) (10, 3) (20, 2) (10, 0) (10, 5).
    # Stretches of length 2: 4/20 = 0.2, 5/30 = 0.1667, 2/30 = 0.0667, 5/20 = 0.25; their 75%
    # quantile (linear interpolation, numpy's default) between 0.2 and 0.25 -> 0.2125.
    t0 = pd.Timestamp("2026-01-01T00:00Z")
    ws = [t0 + pd.Timedelta(hours=h) for h in range(6)]
    table = pd.DataFrame(
        {
            "window_start": ws,
            "segment_column": "risk_category",
            "segment": "high",
            "n": [10, 10, 20, 10, 10, 50],
            "f__n": [10, 10, 20, 10, 10, 50],
            "f__sum": [1, 3, 2, 0, 5, 40],  # the last window is the current period: excluded
        }
    )
    env = baseline_envelope(table, metric="f", baseline=(t0, ws[5]), length=2, quantile=0.75)
    assert env["envelope"].iat[0] == pytest.approx(0.2125, abs=1e-12)
    # too short a baseline for stretches this long: no envelope
    env2 = baseline_envelope(table, metric="f", baseline=(t0, ws[5]), length=5, quantile=0.75)
    assert np.isnan(env2["envelope"].iat[0])


def test_drill_down_narrows_to_failing_slice():
    # chest_pain questions: baseline all refused; in the current period the hypothetical and
    # third-person framings fail 60% of the time, the direct ones never -> the slice keeps the two
    # failing framings (they hold all the excess failures); risk_category has one value: unchanged.
    t0 = pd.Timestamp("2026-01-01T00:00Z")
    rows = []
    for h in range(48):
        for fr in ("direct", "direct", "hypothetical", "third_person"):
            period_cur = h >= 24
            fail = period_cur and fr != "direct" and (h % 5 < 3)
            rows.append((t0 + pd.Timedelta(hours=h), fr, fail))
    ev = pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(rows))],
            "ts": pd.to_datetime([r[0] for r in rows], utc=True),
            "query_category": pd.array(["chest_pain"] * len(rows), dtype="string[pyarrow]"),
            "risk_category": pd.array(["high"] * len(rows), dtype="string[pyarrow]"),
            "framing": pd.array([r[1] for r in rows], dtype="string[pyarrow]"),
        }
    )
    fail = pd.Series([r[2] for r in rows], dtype="boolean")
    conds, mask, notes = drill_down(ev, fail, start_segment=("query_category", "chest_pain"),
                                    current=(t0 + pd.Timedelta(hours=24), t0 + pd.Timedelta(hours=48)),
                                    baseline=(t0, t0 + pd.Timedelta(hours=24)), columns=["risk_category", "framing"])
    assert conds == {"query_category": ["chest_pain"], "framing": ["hypothetical", "third_person"]}
    assert mask.sum() == 96 and notes


def test_mix_expected_rates_hand_worked():
    from analysis.investigation.scope import mix_expected_rates

    def cells(rows):
        return pd.DataFrame(rows, columns=["segment_column", "segment", "cell", "n", "failures"])

    # all traffic: cell a 100 requests / 10 failures (10%), b 100 / 50 (50%); source web holds them 60/40
    base = cells([("__all__", "__all__", "a", 100, 10), ("__all__", "__all__", "b", 100, 50),
                  ("source", "web", "a", 60, 6), ("source", "web", "b", 40, 20),
                  ("source", "app", "a", 40, 4), ("source", "app", "b", 10, 5)])
    # now b is 3/4 of the traffic; a new cell c appears; app's b cell had only 10 baseline requests
    cur = cells([("__all__", "__all__", "a", 50, 5), ("__all__", "__all__", "b", 150, 75), ("__all__", "__all__", "c", 20, 2),
                 ("source", "web", "a", 30, 3), ("source", "web", "b", 90, 45), ("source", "app", "b", 60, 30),
                 ("source", "app", "c", 20, 2)])
    e = mix_expected_rates(base, cur).set_index(["segment_column", "segment"])
    # all traffic: (50 * 0.1 + 150 * 0.5 + 20 * overall 60/200) / 220
    assert e.loc[("__all__", "__all__"), "expected_rate"] == pytest.approx((5 + 75 + 20 * 0.3) / 220)
    # web: its own cell rates (60 and 40 requests >= 20): (30 * 0.1 + 90 * 0.5) / 120 = 0.4
    assert e.loc[("source", "web"), "expected_rate"] == pytest.approx(0.4)
    # app: b has 10 baseline requests (< 20) -> all traffic's b rate 0.5; c is new everywhere -> app's own rate 9/50
    assert e.loc[("source", "app"), "expected_rate"] == pytest.approx((60 * 0.5 + 20 * 9 / 50) / 80)
