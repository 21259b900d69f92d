"""Tests of analysis.stats.drift against scipy, statsmodels and hand-worked values.

Tolerances: statistics computed by the same formula as the reference library agree to rounding
(rtol 1e-12, a few ulp after sums of up to 2e6 terms); p-values are smooth functions of those
statistics and get the same tolerance unless stated otherwise.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import cdist, jensenshannon, pdist
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
)

from analysis.stats import drift
from analysis.stats.drift import (
    DEFAULT_EFFECT_THRESHOLDS,
    MERGED_LABEL,
    PSI_EPSILON,
    benjamini_hochberg,
    chi_square_test,
    drift_scan,
    drift_table,
    embedding_drift,
    jensen_shannon,
    ks_test,
    proportion_test,
    psi,
    wasserstein,
)

RTOL = 1e-12
IQR_TO_SIGMA = 1.3489795003921634  # 2 * Phi^{-1}(0.75)


# ------------------------------------------------------------------------------------------
# KS and Wasserstein against scipy
# ------------------------------------------------------------------------------------------

KS_CASES = [
    # (n_ref, n_cur, shift, discrete): small sizes use scipy's exact p-value, large the asymptotic
    (40, 60, 0.3, False),
    (500, 500, 0.1, False),
    (20_000, 15_000, 0.03, False),
    (30_000, 30_000, 0.0, True),  # heavy ties
    (7, 1, 0.0, False),
]


@pytest.mark.parametrize("n1,n2,shift,discrete", KS_CASES)
@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_ks_matches_scipy(n1, n2, shift, discrete, alternative):
    rng = np.random.default_rng(n1 + n2)
    x, y = rng.normal(size=n1), rng.normal(shift, size=n2)
    if discrete:
        x, y = np.round(x * 2), np.round(y * 2)
    ours = ks_test(x, y, alternative=alternative)
    ref = stats.ks_2samp(x, y, alternative=alternative)  # scipy's default method="auto"
    assert ours.statistic == pytest.approx(ref.statistic, rel=RTOL, abs=1e-15)
    assert ours.pvalue == pytest.approx(ref.pvalue, rel=RTOL, abs=1e-300)
    assert ours.method == ("exact" if max(n1, n2) <= 10_000 else "asymp")
    assert ours.statistic_sign == ref.statistic_sign
    assert (ours.n_reference, ours.n_current) == (n1, n2)


def test_ks_asymp_method_matches_scipy_asymp():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=3000), rng.normal(0.1, size=2000)
    ours = ks_test(x, y, method="asymp")
    ref = stats.ks_2samp(x, y, method="asymp")
    assert ours.method == "asymp"
    assert ours.pvalue == pytest.approx(ref.pvalue, rel=RTOL)


def test_wasserstein_matches_scipy_and_is_normalised_by_robust_spread():
    rng = np.random.default_rng(5)
    x, y = rng.lognormal(0, 0.7, 4000), rng.lognormal(0.2, 0.7, 3000)
    res = wasserstein(x, y)
    assert res.raw == pytest.approx(stats.wasserstein_distance(x, y), rel=RTOL)
    assert res.scale == pytest.approx(stats.iqr(x) / IQR_TO_SIGMA, rel=RTOL)
    assert res.scale_method == "iqr/1.349"
    assert res.statistic == pytest.approx(res.raw / res.scale, rel=RTOL)
    # KSResult.effect is the same number.
    assert ks_test(x, y).effect == pytest.approx(res.statistic, rel=RTOL)


def test_half_sigma_shift_scores_half():
    # W1 of N(0,1) vs N(0.5,1) is exactly 0.5 and IQR/1.349 estimates sigma = 1; with 200,000 draws
    # a side both estimates have standard errors below 0.005, so 0.02 is a >4-sigma margin.
    rng = np.random.default_rng(11)
    res = ks_test(rng.normal(size=200_000), rng.normal(0.5, size=200_000))
    assert res.effect == pytest.approx(0.5, abs=0.02)
    # KS D of a 0.5-sigma shift is 2 Phi(0.25) - 1 = 0.197.
    assert res.statistic == pytest.approx(2 * stats.norm.cdf(0.25) - 1, abs=0.01)


def test_constant_reference_effect():
    assert wasserstein([2.0, 2.0, 2.0], [2.0, 2.0]).statistic == 0.0
    assert wasserstein([2.0, 2.0, 2.0], [2.0, 3.0]).statistic == math.inf
    same = ks_test([1.0] * 5, [1.0] * 3)
    assert (same.statistic, same.pvalue) == (0.0, 1.0)


def test_ks_accepts_nullable_and_drops_missing():
    x = pd.Series([1.0, 2.0, None, 4.0, 5.0], dtype="Float64")
    y = pd.array([2, 3, None, 9], dtype="Int64")
    ours = ks_test(x, y)
    ref = stats.ks_2samp([1.0, 2.0, 4.0, 5.0], [2.0, 3.0, 9.0])
    assert ours.statistic == pytest.approx(ref.statistic, rel=RTOL)
    assert ours.pvalue == pytest.approx(ref.pvalue, rel=RTOL)
    assert (ours.n_reference, ours.n_current) == (4, 3)


@pytest.mark.parametrize(
    "ref,cur,param",
    [
        ([], [1.0], "reference"),
        ([1.0], [np.nan, np.nan], "current"),
        ([1.0, np.inf], [1.0], "reference"),
        (["a", "b"], [1.0], "reference"),
        (np.ones((2, 2)), [1.0], "reference"),
    ],
)
def test_ks_bad_inputs_name_the_parameter(ref, cur, param):
    with pytest.raises(ValueError, match=f"`{param}`"):
        ks_test(ref, cur)


def test_ks_bad_options():
    with pytest.raises(ValueError, match="`alternative`"):
        ks_test([1.0], [2.0], alternative="bigger")
    with pytest.raises(ValueError, match="`method`"):
        ks_test([1.0], [2.0], method="fast")


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
maybe_nan = st.one_of(finite, st.just(float("nan")))


@pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation unsuccessful:RuntimeWarning")
@settings(max_examples=150, deadline=None)
@given(st.lists(maybe_nan, max_size=25), st.lists(maybe_nan, max_size=25))
def test_ks_and_wasserstein_edge_cases_agree_with_scipy_or_raise(a, b):
    """Length 0, 1, all-NaN, constant: a ValueError naming the side, or scipy's answer."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    x_ok, y_ok = x[~np.isnan(x)], y[~np.isnan(y)]
    if x_ok.size == 0 or y_ok.size == 0:
        side = "reference" if x_ok.size == 0 else "current"
        with pytest.raises(ValueError, match=f"`{side}`"):
            ks_test(x, y)
        for fn in (wasserstein, psi, jensen_shannon):
            with pytest.raises(ValueError, match=f"`{side}`"):
                fn(x, y)
        return
    ours, ref = ks_test(x, y), stats.ks_2samp(x_ok, y_ok)
    assert ours.statistic == pytest.approx(ref.statistic, rel=RTOL, abs=1e-15)
    assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    assert 0.0 <= ours.pvalue <= 1.0
    w = wasserstein(x, y)
    assert w.raw == pytest.approx(stats.wasserstein_distance(x_ok, y_ok), rel=1e-9, abs=1e-9)
    assert w.statistic >= 0
    p = psi(x, y)
    assert math.isfinite(p.statistic) and p.statistic >= 0
    assert sum(p.reference_share) == pytest.approx(1.0) and sum(p.current_share) == pytest.approx(1.0)
    assert 0.0 <= jensen_shannon(x, y).statistic <= 1.0


# ------------------------------------------------------------------------------------------
# Chi-square
# ------------------------------------------------------------------------------------------


def _table(ref_labels, cur_labels):
    ct = pd.crosstab(
        np.r_[np.zeros(len(ref_labels)), np.ones(len(cur_labels))], np.r_[ref_labels, cur_labels]
    )
    return ct.to_numpy()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chi_square_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    cats = list("abcdef")
    a = rng.choice(cats, 800, p=[0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    b = rng.choice(cats, 500, p=[0.2, 0.25, 0.3, 0.1, 0.1, 0.05])
    ours = chi_square_test(a, b)
    table = _table(a, b)
    ref = stats.chi2_contingency(table, correction=False)
    assert ours.merged == ()
    assert ours.statistic == pytest.approx(ref.statistic, rel=RTOL)
    assert ours.pvalue == pytest.approx(ref.pvalue, rel=RTOL)
    assert ours.dof == ref.dof
    assert ours.cramers_v == pytest.approx(
        stats.contingency.association(table, method="cramer", correction=False), rel=RTOL
    )
    # The balanced V is Cramér's V of the table with both rows scaled to the same total:
    # 800 and 500 -> multiply the rows by 5 and 8 (integers, so scipy accepts the table).
    balanced = table * np.array([[5], [8]])
    assert ours.effect == pytest.approx(
        stats.contingency.association(balanced, method="cramer", correction=False), rel=RTOL
    )


def test_chi_square_counts_input_equals_raw_input():
    rng = np.random.default_rng(4)
    a = pd.Series(rng.choice(list("xyz"), 300), dtype="string[pyarrow]")
    b = pd.Series(rng.choice(list("xyz"), 200), dtype="string[pyarrow]")
    raw = chi_square_test(a, b)
    from_series = chi_square_test(a.value_counts(), b.value_counts())
    from_dict = chi_square_test(a.value_counts().to_dict(), b.value_counts().to_dict())
    for r in (from_series, from_dict):
        assert r.statistic == pytest.approx(raw.statistic, rel=RTOL)
        assert r.pvalue == pytest.approx(raw.pvalue, rel=RTOL)
    with pytest.raises(ValueError, match="both be raw values or both be counts"):
        chi_square_test(a, b.value_counts())


def test_chi_square_categories_missing_on_one_side():
    # 'new' only in current, 'gone' only in reference: zero counts on the other side.
    ref = {"a": 40, "b": 40, "gone": 20}
    cur = {"a": 40, "b": 40, "new": 20}
    ours = chi_square_test(ref, cur)
    assert set(ours.categories) == {"a", "b", "gone", "new"}
    table = np.array([[40, 40, 20, 0], [40, 40, 0, 20]])
    expected = stats.chi2_contingency(table, correction=False)
    assert ours.statistic == pytest.approx(expected.statistic, rel=RTOL)
    assert ours.pvalue == pytest.approx(expected.pvalue, rel=RTOL)
    # Shares (0.4, 0.4, 0.2, 0) vs (0.4, 0.4, 0, 0.2): V_bal^2 = 0.5 * (0.04/0.2 + 0.04/0.2) = 0.2
    assert ours.effect == pytest.approx(math.sqrt(0.2), rel=RTOL)


def test_chi_square_merges_sparse_categories_hand_worked():
    # N = 200, both rows 100: a category needs a total of 5 * 200 / 100 = 10 for expected >= 5.
    # c (4), d (2), e (4) are sparse; merged they total 10, which is enough.
    ref = {"a": 50, "b": 45, "c": 3, "d": 2}
    cur = {"a": 40, "b": 55, "c": 1, "e": 4}
    ours = chi_square_test(ref, cur)
    assert set(ours.merged) == {"c", "d", "e"}
    assert ours.categories == ("a", "b", MERGED_LABEL)
    assert ours.counts_reference == (50, 45, 5)
    assert ours.counts_current == (40, 55, 5)
    assert "merged 3 sparse categories" in ours.note
    expected = stats.chi2_contingency(np.array([[50, 45, 5], [40, 55, 5]]), correction=False)
    assert ours.statistic == pytest.approx(expected.statistic, rel=RTOL)
    assert ours.pvalue == pytest.approx(expected.pvalue, rel=RTOL)
    assert ours.dof == 2


def test_chi_square_merging_uses_the_smaller_sample():
    # Rows 100 and 50, N = 150: expected >= 5 in the smaller row needs a total of 5 * 150 / 50 = 15.
    # c (10) and d (8) are sparse (d's expected count in `current` would be 8 * 50 / 150 = 2.7).
    ours = chi_square_test({"a": 60, "b": 30, "c": 6, "d": 4}, {"a": 30, "b": 12, "c": 4, "d": 4})
    assert set(ours.merged) == {"c", "d"}
    table = np.array([ours.counts_reference, ours.counts_current])
    assert stats.contingency.expected_freq(table).min() >= 5
    expected = stats.chi2_contingency(np.array([[60, 30, 10], [30, 12, 8]]), correction=False)
    assert ours.statistic == pytest.approx(expected.statistic, rel=RTOL)


def test_chi_square_merged_cell_takes_next_category_when_still_sparse():
    # Need 10 per category; only 'c' (3) is sparse, so the merged cell also takes 'b' (12).
    ours = chi_square_test({"a": 90, "b": 6, "c": 2}, {"a": 90, "b": 6, "c": 1})
    assert set(ours.merged) == {"b", "c"}
    expected = stats.chi2_contingency(np.array([[90, 8], [90, 7]]), correction=False)
    assert ours.statistic == pytest.approx(expected.statistic, rel=RTOL)


def test_chi_square_single_category_is_well_defined():
    # scipy gives the same for a 2 x 1 table: statistic 0, p-value 1, dof 0.
    ref = stats.chi2_contingency(np.array([[5], [3]]), correction=False)
    ours = chi_square_test(["a"] * 5, ["a"] * 3)
    assert (ours.statistic, ours.pvalue, ours.dof) == (ref.statistic, ref.pvalue, ref.dof)
    assert ours.effect == 0.0 and "only one category" in ours.note


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from("abc"), st.none()), max_size=30),
    st.lists(st.one_of(st.sampled_from("abcd"), st.none()), max_size=30),
)
def test_chi_square_edge_cases(a, b):
    a_ok, b_ok = [v for v in a if v is not None], [v for v in b if v is not None]
    if not a_ok or not b_ok:
        with pytest.raises(ValueError, match="`reference`" if not a_ok else "`current`"):
            chi_square_test(a, b)
        return
    res = chi_square_test(a, b, min_expected=0)
    if len(set(a_ok) | set(b_ok)) == 1:
        assert (res.statistic, res.pvalue) == (0.0, 1.0)
    else:
        ref = stats.chi2_contingency(_table(a_ok, b_ok), correction=False)
        assert res.statistic == pytest.approx(ref.statistic, rel=1e-10, abs=1e-12)
        assert res.pvalue == pytest.approx(ref.pvalue, rel=1e-10, abs=1e-300)
    assert 0.0 <= res.effect <= 1.0 + 1e-12
    merged = chi_square_test(a, b)
    assert 0.0 <= merged.pvalue <= 1.0
    if merged.dof >= 1:  # every tested cell meets the rule (scipy's expected counts) ...
        table = np.array([merged.counts_reference, merged.counts_current])
        exp = stats.contingency.expected_freq(table)
        # ... except a category seen on one side only whose expected count where it is absent
        # reaches the bound: it keeps its own cell (a new category is the drift).
        absent_row = (table == 0).argmax(axis=0)
        one_sided = (table == 0).any(axis=0) & (exp[absent_row, np.arange(table.shape[1])] >= 5)
        one_sided &= np.array([lab != drift.MERGED_LABEL for lab in merged.categories])
        assert exp[:, ~one_sided].min(initial=np.inf) >= 5


def test_chi_square_bad_counts():
    with pytest.raises(ValueError, match="`reference` counts must be finite non-negative"):
        chi_square_test({"a": -1, "b": 3}, {"a": 1})
    with pytest.raises(ValueError, match="`current` counts must be whole"):
        chi_square_test({"a": 1}, {"a": 1.5})
    with pytest.raises(ValueError, match="`min_expected`"):
        chi_square_test(["a"], ["a"], min_expected=-1)


# ------------------------------------------------------------------------------------------
# PSI and Jensen-Shannon
# ------------------------------------------------------------------------------------------


def test_psi_categorical_hand_worked():
    # 50/50 -> 60/40: (0.6-0.5) ln(0.6/0.5) + (0.4-0.5) ln(0.4/0.5) = 0.1 ln 1.2 + 0.1 ln 1.25
    res = psi(["a"] * 50 + ["b"] * 50, ["a"] * 60 + ["b"] * 40)
    assert res.statistic == pytest.approx(0.1 * math.log(1.2) + 0.1 * math.log(1.25), rel=RTOL)
    assert res.kind == "categorical" and res.categories == ("a", "b")
    assert sum(res.contributions) == pytest.approx(res.statistic, rel=RTOL)


def _decile_counts(values, edges):
    # Written out independently: bin i holds edges[i] <= v < edges[i+1], outer edges infinite.
    inner = list(edges)
    counts = [0] * (len(inner) + 1)
    for v in values:
        i = 0
        while i < len(inner) and v >= inner[i]:
            i += 1
        counts[i] += 1
    return np.array(counts, float)


def test_psi_and_js_numeric_against_independent_computation():
    rng = np.random.default_rng(8)
    ref = rng.normal(size=997)
    cur = rng.normal(0.4, 1.3, size=613)
    inner = np.quantile(ref, np.linspace(0, 1, 11)[1:-1])  # numpy's deciles of the reference
    r, c = _decile_counts(ref, inner), _decile_counts(cur, inner)
    p, q = r / r.sum(), c / c.sum()
    pf, qf = np.maximum(p, PSI_EPSILON), np.maximum(q, PSI_EPSILON)
    expected_psi = float(np.sum((qf - pf) * np.log(qf / pf)))
    res = psi(ref, cur)
    assert res.edges[1:-1] == pytest.approx(inner, rel=RTOL)
    assert res.edges[0] == -math.inf and res.edges[-1] == math.inf
    assert res.statistic == pytest.approx(expected_psi, rel=1e-10)
    js = jensen_shannon(ref, cur)
    assert js.statistic == pytest.approx(jensenshannon(p, q, base=2), rel=1e-10)


def test_psi_empty_bins_are_finite_and_js_bounded():
    # Every current value is above the reference range: nine empty bins, one full one.
    res = psi(np.arange(100.0), np.full(50, 1000.0))
    assert math.isfinite(res.statistic)
    # Hand-worked: 9 bins of (1e-4 - 0.1) ln(1e-4 / 0.1) plus (1 - 0.1) ln(1 / 0.1)
    expected = 9 * (PSI_EPSILON - 0.1) * math.log(PSI_EPSILON / 0.1) + 0.9 * math.log(10)
    assert res.statistic == pytest.approx(expected, rel=RTOL)
    assert jensen_shannon(["a"] * 5, ["b"] * 5).statistic == pytest.approx(1.0, rel=RTOL)
    assert jensen_shannon(["a", "b"], ["b", "a"]).statistic == 0.0


def test_js_categorical_matches_scipy_with_missing_categories():
    ref, cur = ["a"] * 30 + ["b"] * 20, ["a"] * 10 + ["c"] * 40
    # categories a, b, c: (0.6, 0.4, 0) vs (0.2, 0, 0.8)
    assert jensen_shannon(ref, cur).statistic == pytest.approx(
        jensenshannon([0.6, 0.4, 0.0], [0.2, 0.0, 0.8], base=2), rel=RTOL
    )


def test_psi_ties_collapse_bins_with_note():
    ref = np.r_[np.zeros(80), np.arange(1.0, 21.0)]
    res = psi(ref, ref)
    assert res.bins < 10 and "ties" in res.note
    assert res.statistic == 0.0


def test_psi_rejects_mixed_kinds_and_bad_bins():
    with pytest.raises(ValueError, match="both be numeric or both categorical"):
        psi([1.0, 2.0], ["a", "b"])
    with pytest.raises(ValueError, match="`bins`"):
        psi([1.0, 2.0], [1.0], bins=0)


# ------------------------------------------------------------------------------------------
# Proportions
# ------------------------------------------------------------------------------------------

PROP_CASES = [(1000, 10_000, 1500, 10_000), (3, 40, 9, 35), (0, 25, 4, 30), (120, 130, 99, 100)]


@pytest.mark.parametrize("xa,na,xb,nb", PROP_CASES)
@pytest.mark.parametrize(
    "alternative,sm_alt", [("two-sided", "two-sided"), ("greater", "larger"), ("less", "smaller")]
)
def test_proportion_test_matches_statsmodels_and_scipy(xa, na, xb, nb, alternative, sm_alt):
    res = proportion_test(xa, na, xb, nb, alternative=alternative)
    z, p = proportions_ztest([xb, xa], [nb, na], alternative=sm_alt)  # pooled variance, b - a
    assert res.statistic == pytest.approx(z, rel=RTOL)
    assert res.pvalue == pytest.approx(p, rel=1e-10, abs=1e-300)
    fisher = stats.fisher_exact([[xb, nb - xb], [xa, na - xa]], alternative=alternative)
    assert res.pvalue_fisher == pytest.approx(fisher.pvalue, rel=RTOL)
    assert res.ci_a == pytest.approx(proportion_confint(xa, na, alpha=0.05, method="wilson"), rel=RTOL)
    assert res.ci_b == pytest.approx(proportion_confint(xb, nb, alpha=0.05, method="wilson"), rel=RTOL)
    newcombe = confint_proportions_2indep(xb, nb, xa, na, method="newcomb", compare="diff", alpha=0.05)
    assert res.ci_difference == pytest.approx(newcombe, rel=1e-10, abs=1e-14)
    assert res.effect == pytest.approx(proportion_effectsize(xb / nb, xa / na), rel=RTOL)
    assert res.difference == pytest.approx(xb / nb - xa / na, rel=RTOL)


def test_ten_to_fifteen_percent_is_flagged():
    res = proportion_test(1000, 10_000, 1500, 10_000)
    assert res.pvalue < 1e-20 and res.pvalue_fisher < 1e-20
    assert res.ci_difference[0] > 0
    assert abs(res.effect) >= DEFAULT_EFFECT_THRESHOLDS["proportion"]
    rng = np.random.default_rng(10)
    ref = pd.DataFrame({"refused": pd.array(rng.random(10_000) < 0.10, dtype="boolean")})
    cur = pd.DataFrame({"refused": pd.array(rng.random(10_000) < 0.15, dtype="boolean")})
    row = drift_table(ref, cur).iloc[0]
    assert row["test"] == "proportion" and bool(row["drifted"])


def test_proportion_degenerate_and_bad_inputs():
    res = proportion_test(0, 10, 0, 20)
    assert (res.statistic, res.pvalue, res.pvalue_fisher, res.effect) == (0.0, 1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="`n_a` must be positive"):
        proportion_test(0, 0, 1, 2)
    with pytest.raises(ValueError, match="`successes_b`"):
        proportion_test(1, 2, 3, 2)
    with pytest.raises(ValueError, match="`successes_a` must be a whole number"):
        proportion_test(1.5, 2, 1, 2)
    with pytest.raises(ValueError, match="`alpha`"):
        proportion_test(1, 2, 1, 2, alpha=1.5)


# ------------------------------------------------------------------------------------------
# Benjamini-Hochberg
# ------------------------------------------------------------------------------------------


def test_bh_matches_statsmodels():
    rng = np.random.default_rng(12)
    p = np.r_[rng.uniform(size=40), rng.uniform(0, 1e-3, size=10), [0.02, 0.02, 0.02, 1.0, 0.0]]
    assert benjamini_hochberg(p) == pytest.approx(multipletests(p, method="fdr_bh")[1], rel=RTOL)


def test_bh_keeps_nan_out_of_the_count():
    p = np.array([0.01, np.nan, 0.04, 0.03])
    out = benjamini_hochberg(p)
    assert np.isnan(out[1])
    expected = multipletests([0.01, 0.04, 0.03], method="fdr_bh")[1]
    assert out[[0, 2, 3]] == pytest.approx(expected, rel=RTOL)
    with pytest.raises(ValueError, match="`pvalues`"):
        benjamini_hochberg([0.5, 1.5])


# ------------------------------------------------------------------------------------------
# drift_table
# ------------------------------------------------------------------------------------------


def _frame(rng, n, *, mean=0.0, cat_p=(0.5, 0.3, 0.2), rate=0.1):
    return pd.DataFrame(
        {
            "ts": pd.date_range("2026-03-01", periods=n, freq="s", tz="UTC"),
            "score": rng.normal(mean, 1.0, n),
            "tokens": pd.array(rng.poisson(100, n), dtype="Int64"),
            "category": pd.array(rng.choice(["a", "b", "c"], n, p=list(cat_p)), dtype="string[pyarrow]"),
            "refused": pd.array(rng.random(n) < rate, dtype="boolean"),
        }
    )


def test_drift_table_null_on_a_million_rows_flags_nothing():
    rng = np.random.default_rng(20)
    table = drift_table(_frame(rng, 1_000_000), _frame(rng, 1_000_000))
    assert list(table["column"]) == ["score", "tokens", "category", "refused"]
    assert not table["drifted"].any()
    assert "ts" in table.attrs["skipped"]
    # The effects of a null are far below the thresholds (sampling noise ~1e-3).
    assert (table["effect"].abs() < table["threshold"] / 5).all()


def test_drift_table_flags_half_sigma_and_ten_point_shifts():
    rng = np.random.default_rng(21)
    ref = _frame(rng, 50_000)
    cur = _frame(rng, 50_000, mean=0.5, cat_p=(0.4, 0.4, 0.2))
    table = drift_table(ref, cur).set_index("column")
    assert table.loc["score", "drifted"] and table.loc["category", "drifted"]
    assert not table.loc["tokens", "drifted"] and not table.loc["refused", "drifted"]
    assert table.loc["score", "test"] == "ks" and table.loc["category", "test"] == "chi-square"
    # BH column equals statsmodels on the raw p-values.
    assert table["pvalue"].to_numpy() == pytest.approx(
        multipletests(table["pvalue_raw"].to_numpy(), method="fdr_bh")[1], rel=RTOL
    )
    # Each row repeats the single-column function's numbers.
    ks = ks_test(ref["score"], cur["score"])
    assert table.loc["score", "statistic"] == ks.statistic
    assert table.loc["score", "effect"] == ks.effect


def test_drift_table_ten_points_with_a_much_larger_reference():
    # 20:1 sample sizes: the textbook Cramér's V shrinks to ~0.04, the balanced one stays ~0.1.
    rng = np.random.default_rng(22)
    ref = _frame(rng, 400_000)
    cur = _frame(rng, 20_000, cat_p=(0.4, 0.4, 0.2))
    row = drift_table(ref, cur, ["category"]).iloc[0]
    assert bool(row["drifted"]) and row["effect"] >= 0.1 - 0.01


def test_drift_table_options_and_dtypes():
    rng = np.random.default_rng(23)
    ref, cur = _frame(rng, 5000), _frame(rng, 4000, mean=0.5)
    ref["event_id"] = pd.array([f"e{i}" for i in range(5000)], dtype="string[pyarrow]")
    cur["event_id"] = pd.array([f"f{i}" for i in range(4000)], dtype="string[pyarrow]")
    ref["doc_ids"] = pd.Series([["d1", "d2"]] * 5000, dtype=object)
    cur["doc_ids"] = pd.Series([["d3"]] * 4000, dtype=object)
    table = drift_table(ref, cur)
    assert "event_id" in table.attrs["skipped"]  # > MAX_CATEGORIES distinct values
    assert "doc_ids" in table.attrs["skipped"]  # lists held in an object column
    assert table.dtypes["drifted"] == bool and table.dtypes["n_reference"] == "int64"
    # A threshold no effect reaches turns every flag off; the dict form overrides one test.
    assert not drift_table(ref, cur, effect_threshold=10.0)["drifted"].any()
    t2 = drift_table(ref, cur, effect_threshold={"ks": 10.0}).set_index("column")
    assert not t2.loc["score", "drifted"]
    # max_sample draws rows reproducibly.
    a = drift_table(ref, cur, max_sample=1000, seed=3)
    b = drift_table(ref, cur, max_sample=1000, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert (a["n_reference"] <= 1000).all()
    with pytest.raises(ValueError, match="`columns` names 'nope'"):
        drift_table(ref, cur, ["nope"])
    with pytest.raises(ValueError, match="cannot be tested"):
        drift_table(ref, cur, ["ts"])
    with pytest.raises(ValueError, match="`effect_threshold`"):
        drift_table(ref, cur, effect_threshold={"kss": 1.0})


def test_drift_table_all_missing_side_and_missing_shares():
    ref = pd.DataFrame({"x": [1.0, 2.0, 3.0, np.nan]})
    cur = pd.DataFrame({"x": [np.nan, np.nan]})
    row = drift_table(ref, cur).iloc[0]
    assert math.isnan(row["pvalue"]) and not row["drifted"] and "not tested" in row["note"]
    assert row["missing_reference"] == 0.25 and row["missing_current"] == 1.0


def test_drift_table_embedding_column():
    rng = np.random.default_rng(24)
    dtype = pd.ArrowDtype(pa.list_(pa.float64()))
    ref = pd.DataFrame({"query_embedding": pd.Series(list(rng.normal(size=(300, 4))), dtype=dtype),
                        "retrieval_scores": pd.Series(list(rng.random((300, 3))), dtype=dtype)})
    cur = pd.DataFrame({"query_embedding": pd.Series(list(rng.normal(1.0, size=(300, 4))), dtype=dtype),
                        "retrieval_scores": pd.Series(list(rng.random((300, 3))), dtype=dtype)})
    table = drift_table(ref, cur)
    assert list(table["column"]) == ["query_embedding"]
    assert "retrieval_scores" in table.attrs["skipped"]
    assert table.iloc[0]["test"] == "mmd" and bool(table.iloc[0]["drifted"])


# ------------------------------------------------------------------------------------------
# Embeddings
# ------------------------------------------------------------------------------------------


def _naive_mmd2(x, y):
    """Gretton et al. (2012), eq. 3, written out with scipy distances."""
    z = np.vstack([x, y])
    sigma = np.median(pdist(z))
    k = lambda a, b: np.exp(-cdist(a, b, "sqeuclidean") / (2 * sigma**2))  # noqa: E731
    m, n = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return (
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2 * kxy.mean()
    ), sigma


def test_mmd_statistic_and_bandwidth_match_direct_formula():
    rng = np.random.default_rng(30)
    x, y = rng.normal(size=(120, 6)), rng.normal(0.3, size=(90, 6))
    res = embedding_drift(x, y, n_permutations=50)
    mmd2, sigma = _naive_mmd2(x, y)
    assert res.bandwidth == pytest.approx(sigma, rel=1e-10)
    assert res.statistic == pytest.approx(mmd2, rel=1e-9)
    assert res.centroid_distance == pytest.approx(
        1 - np.dot(x.mean(0), y.mean(0)) / np.linalg.norm(x.mean(0)) / np.linalg.norm(y.mean(0)), rel=1e-10
    )


def test_mmd_permutation_pvalue_behaviour():
    rng = np.random.default_rng(31)
    x = rng.normal(size=(150, 5))
    shifted = embedding_drift(x, rng.normal(0.5, size=(150, 5)), n_permutations=99, seed=1)
    assert shifted.pvalue == pytest.approx(1 / 100)  # no permutation beats a clear shift
    again = embedding_drift(x, rng.normal(0.5, size=(150, 5)), n_permutations=99, seed=1)
    assert again.pvalue == shifted.pvalue
    # Under the null the p-value is roughly uniform: over 20 independent nulls, at most a few
    # (binomial(20, 0.05): P(>= 5) = 0.3%) fall at or below 0.05.
    nulls = [
        embedding_drift(rng.normal(size=(60, 3)), rng.normal(size=(60, 3)), n_permutations=99, seed=s)
        for s in range(20)
    ]
    small = sum(r.pvalue <= 0.05 for r in nulls)
    assert small <= 4


def test_mmd_inputs():
    same = embedding_drift(np.ones((5, 3)), np.ones((4, 3)))
    assert (same.statistic, same.pvalue) == (0.0, 1.0)
    ser = pd.Series([[1.0, 0.0], None, [0.0, 1.0], [1.0, 1.0]], dtype=pd.ArrowDtype(pa.list_(pa.float64())))
    assert embedding_drift(ser, ser, n_permutations=5).n_reference == 3
    with pytest.raises(ValueError, match="same dimension"):
        embedding_drift(np.ones((3, 2)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="`current` needs at least 2 vectors"):
        embedding_drift(np.ones((3, 2)), np.ones((1, 2)))
    big = embedding_drift(np.random.default_rng(0).normal(size=(50, 2)), np.zeros((40, 2)) + 0.1,
                          max_sample=20, n_permutations=10)
    assert (big.n_reference, big.n_reference_total, big.n_current) == (20, 50, 20)


# ------------------------------------------------------------------------------------------
# drift_scan
# ------------------------------------------------------------------------------------------


def _events(rng):
    # Four days, one event a minute; from day 3 the score moves by one sigma. No events in
    # 2026-03-02 06:00-12:00 (a gap that must stay a row with missing numbers).
    ts = pd.date_range("2026-03-01", "2026-03-04 23:59", freq="min", tz="UTC")
    ts = ts[~((ts >= "2026-03-02 06:00Z") & (ts < "2026-03-02 12:00Z"))]
    shifted = ts >= pd.Timestamp("2026-03-03", tz="UTC")
    return pd.DataFrame(
        {
            "ts": ts,
            "score": rng.normal(0, 1, len(ts)) + np.where(shifted, 1.0, 0.0),
            "category": pd.array(np.where(rng.random(len(ts)) < np.where(shifted, 0.6, 0.3), "x", "y"),
                                 dtype="string[pyarrow]"),
        }
    )


def test_drift_scan_ks_windows():
    events = _events(np.random.default_rng(40))
    ref = (pd.Timestamp("2026-03-01", tz="UTC"), pd.Timestamp("2026-03-02", tz="UTC"))
    res = drift_scan(events, "score", reference=ref, window="6h")
    f = res.frame
    assert len(f) == 16 and res.test == "ks"
    assert list(f.columns) == ["window_start", "window_end", "n", "statistic", "pvalue", "pvalue_raw",
                               "effect", "drifted", "overlaps_reference"]
    gap = f["window_start"] == pd.Timestamp("2026-03-02 06:00", tz="UTC")
    assert f.loc[gap, "n"].item() == 0 and f.loc[gap, "statistic"].isna().all()
    assert f.loc[gap, "drifted"].isna().all()
    after = f["window_start"] >= pd.Timestamp("2026-03-03", tz="UTC")
    assert f.loc[after, "drifted"].all()
    assert not f.loc[~after & ~gap, "drifted"].any()
    # A window's statistic is scipy's KS of that window against the reference period.
    w0 = pd.Timestamp("2026-03-03 06:00", tz="UTC")
    in_ref = (events["ts"] >= ref[0]) & (events["ts"] < ref[1])
    in_w = (events["ts"] >= w0) & (events["ts"] < w0 + pd.Timedelta("6h"))
    expected = stats.ks_2samp(events.loc[in_ref, "score"], events.loc[in_w, "score"])
    row = f.loc[f["window_start"] == w0].iloc[0]
    assert row["statistic"] == pytest.approx(expected.statistic, rel=RTOL)
    assert row["pvalue_raw"] == pytest.approx(expected.pvalue, rel=1e-10)
    assert f["pvalue"].dropna().to_numpy() == pytest.approx(
        multipletests(f["pvalue_raw"].dropna(), method="fdr_bh")[1], rel=RTOL
    )


def test_drift_scan_mask_step_and_other_tests():
    events = _events(np.random.default_rng(41))
    mask = (events["ts"] < pd.Timestamp("2026-03-02", tz="UTC")).to_numpy()
    by_mask = drift_scan(events, "category", reference=mask, window="12h", step="6h")
    f = by_mask.frame
    assert by_mask.test == "chi-square" and by_mask.reference is None
    assert (f["window_end"] - f["window_start"] == pd.Timedelta("12h")).all()
    assert (f["window_start"].diff().dropna() == pd.Timedelta("6h")).all()
    assert f.loc[f["window_start"] >= pd.Timestamp("2026-03-03", tz="UTC"), "drifted"].all()
    for test in ("psi", "jensen-shannon", "wasserstein"):
        g = drift_scan(events, "score", reference=mask, window="1D", test=test).frame
        assert g["pvalue"].isna().all() and g["drifted"].iloc[-1]


def test_drift_scan_errors():
    events = _events(np.random.default_rng(42))
    ref = ("2026-03-01T00:00Z", "2026-03-02T00:00Z")
    with pytest.raises(ValueError, match="`window` must be a positive duration"):
        drift_scan(events, "score", reference=ref, window="-1h")
    with pytest.raises(ValueError, match="time zone"):
        drift_scan(events, "score", reference=("2026-03-01", "2026-03-02"), window="6h")
    with pytest.raises(ValueError, match="selects no events"):
        drift_scan(events, "score", reference=("2027-01-01T00:00Z", "2027-01-02T00:00Z"), window="6h")
    with pytest.raises(ValueError, match="`test`"):
        drift_scan(events, "score", reference=ref, window="6h", test="t-test")
    with pytest.raises(ValueError, match="`column`"):
        drift_scan(events, "nope", reference=ref, window="6h")


def test_results_are_frozen():
    res = ks_test([1.0, 2.0], [3.0])
    with pytest.raises(AttributeError):
        res.statistic = 0.0  # type: ignore[misc]
    assert drift.KS_EXACT_MAX_N == 10_000


def test_new_category_keeps_its_own_cell():
    # A traffic source that appears only in the current window (7 requests) must not be merged
    # into "(other)" with an established category: it is the drift. Hand-built table: with no
    # merge, the result is scipy's chi-square on the full 2 x 4 table.
    ref = {"a": 1000, "b": 1000, "c": 60}
    cur = {"a": 100, "b": 100, "c": 6, "new": 7}
    res = drift.chi_square_test(ref, cur)
    assert res.merged == ()
    assert "new" in res.categories
    table = np.array([[1000, 1000, 60, 0], [100, 100, 6, 7]])
    expected = stats.chi2_contingency(table, correction=False)
    assert res.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert res.pvalue == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    # Expected below min_expected where it is absent (2 * 2060 / 2268 = 1.8): merged like any sparse one.
    res_small = drift.chi_square_test(ref, {"a": 100, "b": 100, "c": 6, "new": 2})
    assert "new" in res_small.merged


def test_cohen_h_is_vectorised_and_matches_statsmodels():
    # statsmodels.stats.proportion.proportion_effectsize(prop1, prop2) = 2 asin sqrt(prop1) - 2 asin sqrt(prop2)
    from statsmodels.stats.proportion import proportion_effectsize

    p_a = np.array([0.10, 0.99, 0.0, 0.5])
    p_b = np.array([0.15, 0.02, 1.0, 0.5])
    np.testing.assert_allclose(drift.cohen_h(p_a, p_b), proportion_effectsize(p_b, p_a), rtol=1e-12, atol=1e-15)
