"""The gate's group-sequential test (analysis/stats/group_sequential.py), checked against independent values.

References: published Lan-DeMets O'Brien-Fleming boundaries (gsDesign's ``sfLDOF``; Jennison &
Turnbull 2000), statsmodels' score test of a difference of proportions, scipy's Barnard test, a
likelihood maximised by scipy, exact enumeration of the binomial laws, and seeded simulation.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special, stats
from statsmodels.stats import proportion as sm_proportion

from analysis.stats import group_sequential as gsq


# ----------------------------------------------------------------------------------------------
# alpha spending and boundaries
# ----------------------------------------------------------------------------------------------


def test_obf_spending_by_hand() -> None:
    # alpha(t) = 2 (1 - Phi(z_{1 - alpha/2} / sqrt(t))), one-sided alpha 0.025: z_{0.9875} = 2.2414
    z = stats.norm.isf(0.0125)
    assert float(gsq.obf_spending(0.5, 0.025)) == pytest.approx(2 * stats.norm.sf(z / np.sqrt(0.5)), rel=1e-12)
    assert float(gsq.obf_spending(0.5, 0.025)) == pytest.approx(0.001525, abs=1e-6)  # 2 * (1 - Phi(3.1698)), by hand
    assert float(gsq.obf_spending(1.0, 0.025)) == pytest.approx(0.025)
    assert float(gsq.obf_spending(0.0, 0.025)) == 0.0
    assert float(gsq.obf_spending(2.0, 0.025)) == pytest.approx(0.025)  # after the horizon: nothing more to spend


# Lan-DeMets O'Brien-Fleming-type boundaries for K equally spaced looks, one-sided alpha 0.025
# (gsDesign: gsDesign(k = K, test.type = 1, alpha = 0.025, sfu = sfLDOF)$upper$bound, as printed in
# its documentation and vignettes). Published to four decimals: the tolerance is one unit in the third.
PUBLISHED = {
    3: [3.7103, 2.5114, 1.9930],
    4: [4.3326, 2.9631, 2.3590, 2.0141],
    5: [4.8769, 3.3569, 2.6803, 2.2898, 2.0310],
}


@pytest.mark.parametrize("k", sorted(PUBLISHED))
def test_boundaries_match_published_lan_demets_obf(k: int) -> None:
    t = np.arange(1, k + 1) / k
    b = gsq.spending_boundaries(t, t, 0.025)
    np.testing.assert_allclose(b.z, PUBLISHED[k], atol=1e-3)
    np.testing.assert_allclose(b.nominal, stats.norm.sf(b.z))
    np.testing.assert_allclose(b.spent, gsq.obf_spending(t, 0.025))


def test_boundaries_spend_their_increments_by_simulation() -> None:
    # 24 hourly looks with uneven information (a quiet night), alpha 0.05/3: the chance of crossing
    # by look k, for a Brownian score under the null, is alpha(t_k) (Monte Carlo, 400k paths)
    hours = np.arange(1, 25)
    rate = np.where((hours % 24 >= 1) & (hours % 24 <= 6), 0.3, 1.0)
    info = np.cumsum(rate)
    alpha = 0.05 / 3
    b = gsq.spending_boundaries(hours / 24, info, alpha)
    rng = np.random.default_rng(3)
    s = np.cumsum(rng.normal(size=(400_000, 24)) * np.sqrt(np.diff(info, prepend=0.0)), axis=1)
    crossed = np.logical_or.accumulate(s / np.sqrt(info) >= b.z, axis=1).mean(axis=0)
    se = np.sqrt(b.spent * (1 - b.spent) / 400_000)
    assert np.all(np.abs(crossed - b.spent) <= 4 * se + 1e-5)
    assert crossed[-1] == pytest.approx(alpha, abs=4 * se[-1])


# ----------------------------------------------------------------------------------------------
# the score statistic
# ----------------------------------------------------------------------------------------------

TABLES = [(80, 81, 20, 25, 0.001), (20, 25, 80, 81, -0.001), (30, 200, 18, 190, 0.02), (5, 576, 69, 11520, 0.001),
          (117, 900, 39, 300, 0.01), (0, 40, 0, 300, 0.05)]


@pytest.mark.parametrize("x1,n1,x2,n2,delta", TABLES)
def test_score_statistic_matches_statsmodels(x1: int, n1: int, x2: int, n2: int, delta: float) -> None:
    ref = sm_proportion.test_proportions_2indep(x1, n1, x2, n2, value=delta, method="score", compare="diff", alternative="larger",
                                  correction=False)
    # statsmodels 0.15's restricted rates are off the maximum likelihood by up to 2e-4 on some tables
    # (30/200 vs 18/190 at 0.02: 0.13138 where scipy's optimiser finds 0.13157, see the next test), so the
    # statistics agree to 1e-3 relative; the closed form used here is checked against the optimiser to 1e-7
    assert float(gsq.score_statistic(x1, n1, x2, n2, delta)) == pytest.approx(ref.statistic, rel=1e-3, abs=1e-6)


@pytest.mark.parametrize("x1,n1,x2,n2,delta", TABLES)
def test_restricted_rates_maximise_the_likelihood(x1: int, n1: int, x2: int, n2: int, delta: float) -> None:
    def nll(p2: float) -> float:
        p1 = p2 + delta
        return -(special.xlogy(x1, p1) + special.xlog1py(n1 - x1, -p1) + special.xlogy(x2, p2) + special.xlog1py(n2 - x2, -p2))

    lo, hi = max(0.0, -delta), min(1.0, 1.0 - delta)
    ref = optimize.minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-13}).x
    p1, p2 = gsq.restricted_rates(x1, n1, x2, n2, delta)
    assert float(p2) == pytest.approx(ref, abs=1e-7)
    assert float(p1 - p2) == pytest.approx(delta)


def test_score_bound_inverts_the_statistic() -> None:
    lower = float(gsq.score_bound(80, 81, 20, 25, 2.0))
    assert float(gsq.score_statistic(80, 81, 20, 25, lower)) == pytest.approx(2.0, abs=1e-6)


def test_tiny_arms_by_hand() -> None:
    # pooled rate 100/106: the treatment arm expects 25 * 6/106 = 1.4 non-outcome events (< 10)
    assert bool(gsq.tiny_arms(80, 81, 20, 25))
    # pooled 0.5, smaller arm 300: 150 each way
    assert not bool(gsq.tiny_arms(150, 300, 500, 1000))


# ----------------------------------------------------------------------------------------------
# the exact test for small arms
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("x1,n1,x2,n2", [(80, 81, 20, 25), (7, 12, 2, 15), (3, 30, 0, 10), (13, 14, 9, 18)])
def test_exact_score_test_is_barnards_test_at_zero_margin(x1: int, n1: int, x2: int, n2: int) -> None:
    # scipy's Barnard test with the pooled (score) statistic: columns are the two groups
    ref = stats.barnard_exact([[x1, x2], [n1 - x1, n2 - x2]], alternative="greater", pooled=True)
    r = gsq.exact_score_test(x1, n1, x2, n2, 0.0, gamma=0.0, points=513)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert r.pvalue == pytest.approx(ref.pvalue, rel=2e-3)  # the sup over a grid of 513 nuisance rates
    ref_less = stats.barnard_exact([[x1, x2], [n1 - x1, n2 - x2]], alternative="less", pooled=True)
    assert r.reverse_pvalue == pytest.approx(ref_less.pvalue, rel=2e-3)


def test_berger_boos_p_value_is_at_most_the_full_one_plus_gamma() -> None:
    full = gsq.exact_score_test(80, 81, 20, 25, 0.001, gamma=0.0, points=513).pvalue
    bb = gsq.exact_score_test(80, 81, 20, 25, 0.001, gamma=1e-6).pvalue
    assert bb <= full + 1e-6 + 1e-9
    assert bb == pytest.approx(full, rel=0.05)


@pytest.mark.parametrize("p2", [0.05, 0.3, 0.8])
def test_exact_score_test_keeps_its_level_by_enumeration(p2: float) -> None:
    # every table of n1 = 12, n2 = 30 under p1 = p2 + delta: P(p-value <= a) <= a, summed exactly
    n1, n2, delta, a = 12, 30, 0.05, 0.05
    p = np.array([[gsq.exact_score_test(x1, n1, x2, n2, delta, gamma=0.0, points=129).pvalue for x2 in range(n2 + 1)]
                  for x1 in range(n1 + 1)])
    prob = np.outer(stats.binom.pmf(np.arange(n1 + 1), n1, p2 + delta), stats.binom.pmf(np.arange(n2 + 1), n2, p2))
    assert float(prob[p <= a].sum()) <= a


# ----------------------------------------------------------------------------------------------
# the test at every look: type-I error under hourly looks, by simulation
# ----------------------------------------------------------------------------------------------


def _canaries(p_t: float, p_c: float, n_t_hour: float, n_c_hour: float, runs: int, seed: int, hours: int = 24):
    k = np.arange(1, hours + 1)
    n_t, n_c = np.round(n_t_hour * k), np.round(n_c_hour * k)
    rng = np.random.default_rng(seed)
    x_t = rng.binomial(np.diff(n_t, prepend=0).astype(int)[:, None], p_t, size=(hours, runs)).cumsum(axis=0)
    x_c = rng.binomial(np.diff(n_c, prepend=0).astype(int)[:, None], p_c, size=(hours, runs)).cumsum(axis=0)
    shape = x_t.shape
    return x_t, np.broadcast_to(n_t[:, None], shape), x_c, np.broadcast_to(n_c[:, None], shape), k / hours


@pytest.mark.parametrize("p_c,n_t,n_c,alternative", [(0.3, 5.0, 95.0, "greater"), (0.9, 25.0, 75.0, "less"),
                                                     (0.99, 1.05, 3.4, "less")])
def test_hourly_looks_keep_the_type_one_error(p_c: float, n_t: float, n_c: float, alternative: str) -> None:
    # at the margin (the least favourable null): harm = tolerance; the last case is the high
    # tier (25 treatment and 81 control requests in 24 h), where every look uses the exact test
    alpha, tol, runs = 0.05 / 3, 0.01, 3000
    p_t = p_c + tol if alternative == "greater" else p_c - tol
    x_t, nt, x_c, nc, t = _canaries(p_t, p_c, n_t, n_c, runs, seed=31)
    r = gsq.noninferiority_looks(x_t, nt, x_c, nc, times=t, tolerance=tol, alternative=alternative, alpha=alpha, detail=False)
    ever = float(r.worse.any(axis=0).mean())
    assert ever <= alpha + 2 * np.sqrt(alpha * (1 - alpha) / runs)
    # looking every hour with a fixed-sample z test at alpha each time would not
    z = gsq.score_statistic(*((x_t, nt, x_c, nc) if alternative == "greater" else (x_c, nc, x_t, nt)), tol)
    assert float((z >= stats.norm.isf(alpha)).any(axis=0).mean()) > 2 * alpha


def test_motivating_high_tier_holds_and_says_exact() -> None:
    # the high tier: control refused 80 of 81, the new model 20 of 25 in 24 h; the arms
    # grow evenly, one look an hour, alpha 0.05 over three tiers
    k = np.arange(1, 25)
    counts = [np.round(v * k / 24)[:, None] for v in (20, 25, 80, 81)]
    r = gsq.noninferiority_looks(*counts, times=k / 24, tolerance=0.001, alternative="less", alpha=0.05 / 3)
    assert bool(r.worse[-1, 0]) and bool(r.exact[-1, 0])
    assert r.p_worse[-1, 0] <= r.level[-1, 0]
    assert r.harm[-1, 0] == pytest.approx(80 / 81 - 20 / 25)


def test_skewness_correction_brings_the_one_sided_level_closer_by_enumeration() -> None:
    # a 5% canary at a 90% rate: 150 treatment and 2850 control requests; fixed-sample one-sided test of
    # harm = p_C - p_T <= 0.001 at 0.0167, its size summed exactly over both binomial laws at the margin
    n1, n2, delta, a, p2 = 2850, 150, 0.001, 0.05 / 3, 0.9 - 0.001
    x1, x2 = np.arange(n1 + 1)[:, None], np.arange(n2 + 1)[None, :]
    prob = np.outer(stats.binom.pmf(np.arange(n1 + 1), n1, p2 + delta), stats.binom.pmf(np.arange(n2 + 1), n2, p2))
    crit = stats.norm.isf(a)
    plain = float(prob[gsq.score_statistic(x1, n1, x2, n2, delta) >= crit].sum())
    corrected = float(prob[gsq.score_statistic(x1, n1, x2, n2, delta, skew=True) >= crit].sum())
    assert plain > 1.15 * a  # the plain statistic's tail is too heavy on this side
    assert abs(corrected - a) < abs(plain - a) and corrected <= 1.05 * a


def test_a_null_the_larger_arm_rules_out_gets_gamma() -> None:
    # the twin's low tier: control 58/9672 (0.6%), treatment 3/479; H0 harm >= 0.05 would need control's
    # rate at 5% or more, outside its 1 - 1e-6 interval: the p-value is gamma
    r = gsq.exact_score_test(58, 9672, 3, 479, 0.05)
    assert r.reverse_pvalue == pytest.approx(1e-6)
    assert r.pvalue == pytest.approx(1.0, abs=1e-6)
