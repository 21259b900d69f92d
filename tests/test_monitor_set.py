"""The monitor set: the family budget's split, and the binomial CUSUM's window-level design (exact
Markov chain, Siegmund's approximation as its starting bracket, the cache) against simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.investigation.monitor_charts import design_binomial
from analysis.investigation.monitor_set import LEAD_SHARE, arl0_for_share, split_budget
from analysis.params import InvestigationParams, ParameterError
from analysis.stats import spc
from analysis.stats.spc import arl as arl_mod


def _simulated_arl(h: float, p0: float, p1: float, sizes: list[int], p: float, windows: int, seed: int) -> tuple[float, float]:
    """Mean run length (windows) of the reset binomial CUSUM over seeded in-control windows, and its standard error."""
    rng = np.random.default_rng(seed)
    n = rng.choice(np.asarray(sizes), size=windows)
    f = rng.binomial(n, p)
    alarms = spc.binomial_cusum(f, n, p0=p0, p1=p1, h=h, reset=True).alarms
    runs = np.diff(np.concatenate([[-1], alarms]))
    return float(runs.mean()), float(runs.std(ddof=1) / np.sqrt(runs.size))


def test_split_gives_the_lead_half_and_sums_to_the_budget():
    shares = split_budget(["incident_segment", "all_traffic", "risk_tier:high", "risk_tier:low", "risk_tier:medium"],
                          "incident_segment", 1.0)
    assert shares["incident_segment"] == pytest.approx(LEAD_SHARE)
    assert [shares[n] for n in ("all_traffic", "risk_tier:high", "risk_tier:low", "risk_tier:medium")] == pytest.approx([0.125] * 4)
    assert sum(shares.values()) == pytest.approx(1.0)
    # no incident, or the lead alone: an equal split
    assert split_budget(["a", "b", "c", "d"], None, 2.0) == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.5, "d": 0.5})
    assert split_budget(["a"], "a", 1.0) == {"a": 1.0}
    with pytest.raises(ValueError, match="`budget_per_30_days`"):
        split_budget(["a"], "a", 0.0)


def test_arl0_from_a_share():
    # 30 days of hourly windows is 720; a share of 0.125 a month is one false alarm per 5760 windows
    assert arl0_for_share(1.0, pd.Timedelta("1h")) == 720.0
    assert arl0_for_share(0.125, pd.Timedelta("1h")) == 5760.0
    assert arl0_for_share(0.5, pd.Timedelta("30min")) == 2880.0


def test_monitor_budget_parameter_is_checked():
    assert InvestigationParams.build(monitor_budget=2).monitor_budget == 2.0
    for bad in (0, -1, "many", float("nan"), True):
        with pytest.raises(ParameterError, match="`monitor_budget`"):
            InvestigationParams.build(monitor_budget=bad)


@pytest.mark.parametrize("p0, p1, sizes, h", [
    (0.005, 0.055, [1, 1, 2, 3], 2.5),    # a sparse segment: about 2 requests an hour
    (0.1256, 0.2512, [50, 60, 70, 80], 4.0),
    (0.908, 0.954, [150, 200, 260], 4.5),  # all traffic, the failure the norm
])
def test_window_chain_matches_simulation(p0, p1, sizes, h):
    # seeded simulation of the reset chart: the chain's ARL within 3 standard errors of the mean run
    # length over about 400-1500 renewals (the lattice's own error is far below that, < 0.5%)
    exact = spc.binomial_cusum_arl(h, p0=p0, p1=p1, n=sizes)
    mean, se = _simulated_arl(h, p0, p1, sizes, p0, 600_000, seed=7)
    assert abs(mean - exact) < 3 * se, (exact, mean, se)
    # and out of control, at p1
    exact1 = spc.binomial_cusum_arl(h, p0=p0, p1=p1, n=sizes, p=p1)
    mean1, se1 = _simulated_arl(h, p0, p1, sizes, p1, 100_000, seed=8)
    assert abs(mean1 - exact1) < 3 * se1 + 0.01 * exact1, (exact1, mean1, se1)


def test_window_chain_of_single_events_is_the_bernoulli_chain():
    # windows of one event are the Bernoulli CUSUM: the two lattice chains (400 and >= 4000 states)
    # agree within 2%. Single events are the window chain's worst case: at p0 = 0.02 the small step
    # spans about 5 of its lattice points (1.5% off; 0.1% at 1600 states); with tens of requests a
    # window its error is below 0.5%.
    for p0, p1, h in [(0.1, 0.2, 3.0), (0.02, 0.07, 4.0), (0.9, 0.95, 2.5)]:
        assert spc.binomial_cusum_arl(h, p0=p0, p1=p1, n=[1]) == pytest.approx(spc.bernoulli_cusum_arl(h, p0=p0, p1=p1), rel=0.02)


@pytest.mark.parametrize("p0, p1", [(0.005, 0.055), (0.01, 0.02), (0.1, 0.2), (0.3, 0.5), (0.5, 0.6), (0.9, 0.95), (0.98, 0.9)])
def test_siegmund_approximation_within_its_stated_tolerance(p0, p1):
    # the approximation only starts the exact root search; its docstring states a factor 4 against
    # the exact chains for ARLs in [100, 1e7] when a window holds <= 3 requests or >= 5 expected rare
    # outcomes (the near-normal and the single-event regimes), checked here on that grid
    for h in (2.0, 3.0, 4.0, 5.5, 7.0):
        exact = spc.bernoulli_cusum_arl(h, p0=p0, p1=p1)
        if 100 <= exact <= 1e7:
            assert 1 / 4 < spc.rate_cusum_arl0_approx(h, p0=p0, p1=p1) / exact < 4, ("events", h)
        for sizes in ([1, 2, 3], [10, 20], [30, 40, 50], [150, 200, 250]):
            mean_n = float(np.mean(sizes))
            if max(sizes) > 3 and mean_n * min(p0, 1 - p0) < 5:
                continue  # between the regimes: the approximation is far off, as stated
            exact = spc.binomial_cusum_arl(h, p0=p0, p1=p1, n=sizes)
            if 100 <= exact <= 1e7:
                approx = spc.rate_cusum_arl0_approx(h, p0=p0, p1=p1, mean_n=mean_n)
                assert 1 / 4 < approx / exact < 4, ("windows", sizes, h, approx, exact)


def test_binomial_h_round_trip_and_cache():
    arl_mod._binomial_h.cache_clear()
    h = spc.binomial_cusum_h_for_arl(1440, p0=0.01, p1=0.06, n=[20, 40, 60])
    assert spc.binomial_cusum_arl(h, p0=0.01, p1=0.06, n=[20, 40, 60]) == pytest.approx(1440, rel=1e-3)
    assert spc.binomial_cusum_h_for_arl(1440, p0=0.01, p1=0.06, n=[20, 40, 60]) == h
    info = arl_mod._binomial_h.cache_info()
    assert (info.hits, info.misses) == (1, 1)
    with pytest.raises(ValueError, match="`n`"):
        spc.binomial_cusum_arl(3.0, p0=0.1, p1=0.2, n=[0, 2])


def test_designed_chart_false_alarms_on_binomial_windows():
    # a baseline of 300 binomial windows (p = 0.05, 40-80 requests): the chart designed for one false
    # alarm per 1440 windows raises about that many on 400 fresh in-control histories of 1440
    # windows. Tolerance 35%: the design's own p0 is estimated from 18k requests (its error moves
    # the ARL by about 20%), plus the simulation's 5% standard error.
    rng = np.random.default_rng(11)
    n = rng.integers(40, 81, size=300).astype(float)
    d = design_binomial(n, rng.binomial(n.astype(int), 0.05).astype(float), np.ones(300, dtype=bool), 1440.0)
    assert d["dispersion"] == 1.0 and d["arl0"] == 1440.0
    fresh = rng.integers(40, 81, size=400 * 1440)
    alarms = spc.binomial_cusum(rng.binomial(fresh, 0.05), fresh, p0=d["p0"], p1=d["p1"], h=d["h"], reset=True).alarms.size
    assert alarms / 400 == pytest.approx(1.0, rel=0.35)


def test_design_uses_the_dispersion_only_when_significant():
    rng = np.random.default_rng(5)
    n = np.full(400, 200.0)
    binomial = rng.binomial(200, 0.1, size=400).astype(float)
    assert design_binomial(n, binomial, np.ones(400, dtype=bool), 720.0)["dispersion"] == 1.0
    # the rate itself wanders between windows (sd 0.03 around 0.1): Pearson's dispersion ~ 3
    wandering = rng.binomial(200, np.clip(rng.normal(0.1, 0.03, 400), 0.01, 0.5)).astype(float)
    d = design_binomial(n, wandering, np.ones(400, dtype=bool), 720.0)
    assert 2.0 < d["dispersion"] < 4.5
    assert d["h"] == pytest.approx(d["h_binomial"] * d["dispersion"])
    assert d["window_sizes"][0] == round(200 / d["dispersion"])  # designed on windows of n / phi requests


def test_windows_too_large_to_alarm_in_control_have_an_infinite_arl_not_a_singular_chain() -> None:
    """5,000 requests a window at p0 = 0.1 against p1 = 0.2: one window climbs above zero only if
    f > 5000 ln(0.9/0.8) / ln(2.25) = 726 failures, P = binom.sf(726, 5000, 0.1) (about 1e-26, scipy), so
    the in-control ARL is beyond 1 / P; the chain's matrix was singular (a 10M-event investigation failed)."""
    from scipy import stats as sps
    from analysis.stats import spc
    cut = 5000 * np.log(0.9 / 0.8) / np.log(0.2 / 0.1 * 0.9 / 0.8)
    p_up = sps.binom.sf(int(np.floor(cut)), 5000, 0.1)
    assert 0 < p_up < 1e-20
    assert spc.binomial_cusum_arl(5.0, p0=0.1, p1=0.2, n=[5000]) >= 1 / p_up
    # no limit alarms as often as wanted: the smallest one
    assert spc.binomial_cusum_h_for_arl(5760, p0=0.1, p1=0.2, n=[5000]) == pytest.approx(1e-3)
