"""Control charts (analysis/spc.py) against published worked examples, published ARL tables,
plain-loop re-implementations of the textbook recursions, and seeded simulation.

Reference sources:
- tests/data/control_charts.json: Montgomery Examples 9.1 / 9.2, NIST 6.3.2.3 / 6.3.2.4.
- Montgomery, Introduction to Statistical Quality Control, Table 9.3 (two-sided tabular CUSUM ARLs,
  k = 1/2, h = 4 and 5, from Hawkins 1993) and Table 9.11 (EWMA ARLs from Lucas & Saccucci 1990).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.stats import spc

# Copied from the project's shared/reference/control_charts.json (its sources are listed in the file).
REFERENCE = Path(__file__).resolve().parent / "data" / "control_charts.json"
CASES = {c["id"]: c for c in json.loads(REFERENCE.read_text())["cases"]}


def half_unit(decimals: int) -> float:
    # A printed value v with d decimals stands for the interval v +/- 0.5 * 10^-d. The 1e-9 covers
    # exact ties (x.xx5) whose binary representation lands a hair beyond the half unit.
    return 0.5 * 10.0 ** (-decimals) + 1e-9


# ------------------------------------------------------------------------------------------------
# independent plain-loop implementations of the textbook recursions (Montgomery 9.1 / 9.2,
# Reynolds & Stoumbos 1999), written from the formulas, used as references on random data
# ------------------------------------------------------------------------------------------------


def loop_cusum(x, target, sigma, k, h, reset=False):
    K, H = k * sigma, h * sigma
    cp = cm = 0.0
    up, lo, alarms = [], [], []
    restart = False
    for i, v in enumerate(x):
        if math.isnan(v):
            up.append(cp)
            lo.append(cm)
            continue
        if restart:
            cp = cm = 0.0
            restart = False
        cp = max(0.0, v - (target + K) + cp)
        cm = max(0.0, (target - K) - v + cm)
        up.append(cp)
        lo.append(cm)
        if cp > H or cm > H:
            alarms.append(i)
            restart = reset
    return np.array(up), np.array(lo), np.array(alarms, dtype=int)


def loop_ewma(x, target, sigma, lam, L, exact=True, reset=False):
    z, t, restart = target, 0, False
    zs, ucl, alarms = [], [], []
    width = np.nan if exact else L * sigma * math.sqrt(lam / (2 - lam))
    for i, v in enumerate(x):
        if not math.isnan(v):
            if restart:
                z, t, restart = target, 0, False
            t += 1
            z = lam * v + (1 - lam) * z
            f = (1 - (1 - lam) ** (2 * t)) if exact else 1.0
            width = L * sigma * math.sqrt(lam / (2 - lam) * f)
            if abs(z - target) > width:
                alarms.append(i)
                restart = reset
        zs.append(z)
        ucl.append(target + width)
    return np.array(zs), np.array(ucl), np.array(alarms, dtype=int)


def loop_llr_cusum(s, n, p0, p1, h, reset=False):
    a, b = math.log(p1 / p0), math.log((1 - p1) / (1 - p0))
    B, path, alarms, restart = 0.0, [], [], False
    for i, (si, ni) in enumerate(zip(s, n)):
        if math.isnan(si) or math.isnan(ni) or ni == 0:
            path.append(B)
            continue
        if restart:
            B, restart = 0.0, False
        B = max(0.0, B + si * a + (ni - si) * b)
        path.append(B)
        if B > h:
            alarms.append(i)
            restart = reset
    return np.array(path), np.array(alarms, dtype=int)


# ------------------------------------------------------------------------------------------------
# published worked examples
# ------------------------------------------------------------------------------------------------


def _batch_cusum(case, sigma, k, h):
    return spc.tabular_cusum(case["data"], target=case["target"], sigma=sigma, k=k, h=h)


def _stream(chart, data, *attrs):
    """Feed ``data`` to ``chart`` one value at a time: the path of each of ``attrs``, alarm positions, sides."""
    paths = [[] for _ in attrs]
    alarms, sides = [], []
    for i, v in enumerate(data):
        chart.update(v)
        for path, a in zip(paths, attrs):
            path.append(getattr(chart, a))
        if chart.alarm:
            alarms.append(i)
            sides.append(chart.side)
    return paths, alarms, sides


def _stream_cusum(case, sigma, k, h):
    chart = spc.CusumChart(target=case["target"], sigma=sigma, k=k, h=h)
    (up, lo), alarms, _ = _stream(chart, case["data"], "upper", "lower")
    return up, lo, alarms


@pytest.mark.parametrize("mode", ["batch", "stream"])
def test_montgomery_9_1_tabular_cusum(mode):
    c = CASES["montgomery_9_1_tabular_cusum"]
    tol = half_unit(c["decimals"])
    if mode == "batch":
        r = _batch_cusum(c, c["sigma"], c["k"], c["h"])
        up, lo, alarms = r.upper, r.lower, r.alarms
    else:
        up, lo, alarms = _stream_cusum(c, c["sigma"], c["k"], c["h"])
    np.testing.assert_allclose(up, c["expected_upper"], rtol=0, atol=tol)
    np.testing.assert_allclose(lo, c["expected_lower"], rtol=0, atol=tol)
    # Montgomery: first out-of-control signal at period 29 (1-based) on C+, again at period 30
    assert alarms[0] == c["first_signal_period"] - 1
    assert list(alarms) == [28, 29]
    if mode == "batch":
        assert r.first_alarm == 28 and r.side[0] == c["signal_side"]
        # N+ = 7 at period 29: the shift began after period 22, i.e. at 0-based index 22
        assert r.run_length_upper[28] == c["run_length_at_signal"]
        assert r.shift_start == c["estimated_shift_start_after_period"]
        # mu0 + K + C+/N+ = 10 + 0.5 + 5.28 / 7 = 11.25 (printed to 2 decimals)
        assert abs(r.new_mean - c["estimated_new_mean"]) <= half_unit(2)


@pytest.mark.parametrize("mode", ["batch", "stream"])
def test_nist_6_3_2_3_tabular_cusum(mode):
    # NIST gives k and h in the units of x (k = 0.3175, h = 4.1959): sigma = 1.
    # Every printed value is reproduced by the standard recursion to half a unit in the 2nd
    # decimal. Four exact values fall on a tie, x.xx5, where the printed rounding went either way
    # because NIST worked from the rounded entries of its table: lower step 8 is 0.715 (printed
    # 0.72), lower step 10 is 0.255 (printed 0.25, i.e. 0.17 + 0.08 from the rounded rows), upper
    # step 20 is 19.035 (printed 19.04), and upper step 18 is 14.445 (kept unrounded in the JSON).
    # The half-unit tolerance (+1e-9 for the binary representation of a tie) accepts both roundings
    # of a tie and nothing more; no step needs an exception.
    c = CASES["nist_6_3_2_3_tabular_cusum"]
    tol = half_unit(c["decimals"])
    if mode == "batch":
        r = _batch_cusum(c, 1.0, c["k_abs"], c["h_abs"])
        up, lo, alarms = r.upper, r.lower, r.alarms
    else:
        up, lo, alarms = _stream_cusum(c, 1.0, c["k_abs"], c["h_abs"])
    np.testing.assert_allclose(up, c["expected_upper"], rtol=0, atol=tol)
    np.testing.assert_allclose(np.asarray(lo)[:12], c["expected_lower_first_12"], rtol=0, atol=tol)
    assert alarms[0] == c["first_signal_period"] - 1
    if mode == "batch":
        assert r.side[0] == c["signal_side"]
        # the shift is visible from group 13 on: C+ leaves zero at index 12
        assert r.shift_start == 12


@pytest.mark.parametrize("mode", ["batch", "stream"])
def test_montgomery_9_2_ewma(mode):
    c = CASES["montgomery_9_2_ewma"]
    tol = half_unit(c["decimals"])
    kw = dict(target=c["target"], sigma=c["sigma"], lam=c["lambda"], L=c["L"], exact_limits=True)
    if mode == "batch":
        r = spc.ewma_chart(c["data"], **kw)
        z, ucl, lcl, alarms = r.z, r.ucl, r.lcl, r.alarms
    else:
        (z, ucl, lcl), alarms, _ = _stream(spc.EwmaChart(**kw), c["data"], "z", "ucl", "lcl")
    for period, expected in c["expected_points"].items():
        i = int(period) - 1
        # z at periods 1-3 is printed with all its digits (9.945, 9.7495, 9.70355): exact
        assert abs(z[i] - expected["z"]) <= tol
        if "ucl" in expected:
            assert abs(ucl[i] - expected["ucl"]) <= tol
        if "lcl" in expected:
            assert abs(lcl[i] - expected["lcl"]) <= tol
    assert alarms[0] == c["first_signal_period"] - 1
    if mode == "batch":
        assert r.side[0] == c["signal_side"]


@pytest.mark.parametrize("mode", ["batch", "stream"])
def test_nist_6_3_2_4_ewma(mode):
    c = CASES["nist_6_3_2_4_ewma"]
    kw = dict(target=c["target"], sigma=c["sigma"], lam=c["lambda"], L=c["L"], exact_limits=False)
    if mode == "batch":
        r = spc.ewma_chart(c["data"], **kw)
        z, ucl, lcl, alarms = r.z, r.ucl, r.lcl, list(r.alarms)
    else:
        chart = spc.EwmaChart(**kw)
        (z,), alarms, _ = _stream(chart, c["data"], "z")
        ucl, lcl = np.full(len(z), chart.ucl), np.full(len(z), chart.lcl)
    np.testing.assert_allclose(z, c["expected_z"], rtol=0, atol=half_unit(c["decimals"]))
    # the limits are printed with 4 decimals (52.5884, 47.4116)
    np.testing.assert_allclose(ucl, c["expected_ucl"], rtol=0, atol=half_unit(4))
    np.testing.assert_allclose(lcl, c["expected_lcl"], rtol=0, atol=half_unit(4))
    assert c["first_signal_period"] is None and alarms == []


# ------------------------------------------------------------------------------------------------
# published ARL tables
# ------------------------------------------------------------------------------------------------

SHIFTS = [0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0]
# Montgomery Table 9.3 (from Hawkins 1993): ARL of the two-sided tabular CUSUM, k = 1/2
MONTGOMERY_9_3 = {
    4.0: [168, 74.2, 26.6, 13.3, 8.38, 4.75, 3.34, 2.62, 2.19, 1.71],
    5.0: [465, 139, 38.0, 17.0, 10.4, 5.75, 4.01, 3.11, 2.57, 2.01],
}


@pytest.mark.parametrize("h", [4.0, 5.0])
def test_cusum_arl_matches_montgomery_table_9_3(h):
    # The table prints 3 significant digits: half a unit of the third digit is <= 0.5% relative
    # (0.4% for 2.01 ... 0.3% for 168); 0.5% relative is used.
    for shift, expected in zip(SHIFTS, MONTGOMERY_9_3[h]):
        got = spc.cusum_arl(0.5, h, shift)
        assert got == pytest.approx(expected, rel=0.005), (h, shift, got)
    # the one-sided chart's in-control ARL is twice the two-sided (the two sides are symmetric)
    assert spc.cusum_arl(0.5, h, two_sided=False) == pytest.approx(2 * MONTGOMERY_9_3[h][0], rel=0.005)


# Montgomery Table 9.11 (from Lucas & Saccucci 1990): ARL of the EWMA with asymptotic limits
MONTGOMERY_9_11 = {
    (0.40, 3.054): [500, 224, 71.2, 28.4, 14.3, 5.9, 3.5, 2.5, 2.0, 1.4],
    (0.25, 2.998): [500, 170, 48.2, 20.1, 11.1, 5.5, 3.6, 2.7, 2.3, 1.7],
    (0.20, 2.962): [500, 150, 41.8, 18.2, 10.5, 5.5, 3.7, 2.9, 2.4, 1.9],
    (0.10, 2.814): [500, 106, 31.3, 15.9, 10.3, 6.1, 4.4, 3.4, 2.9, 2.2],
    (0.05, 2.615): [500, 84.1, 28.8, 16.4, 11.4, 7.1, 5.2, 4.2, 3.5, 2.7],
}


@pytest.mark.parametrize("lam,L", list(MONTGOMERY_9_11))
def test_ewma_arl_matches_lucas_saccucci(lam, L):
    # Lucas & Saccucci computed these with a Markov chain of finitely many states and printed 2-3
    # significant digits; values < 10 have one decimal, i.e. up to 3.6% rounding (1.4 +/- 0.05).
    # Tolerance: the printed rounding (half a unit of the last digit) plus 0.5% relative for their
    # chain's discretisation (48.2 vs the converged 48.29, 84.1 vs 84.01).
    for shift, expected in zip(SHIFTS, MONTGOMERY_9_11[(lam, L)]):
        got = spc.ewma_arl(lam, L, shift)
        last_unit = 10.0 ** (math.floor(math.log10(expected)) - (1 if expected < 10 else 2))
        assert abs(got - expected) <= 0.5 * last_unit + 0.005 * expected, (lam, L, shift, got)
    # and the inverse: L for ARL0 = 500 is the tabulated L to its 3 printed decimals
    assert spc.ewma_L_for_arl(500, lam=lam) == pytest.approx(L, abs=half_unit(3))


def test_cusum_h_for_arl_inverts_the_table():
    # Montgomery's Table 9.3 in-control ARLs belong to h = 4 and h = 5 (k = 1/2); "465" and "168"
    # are rounded, so h comes back to within the h-change that moves the ARL by half a unit (~0.002)
    assert spc.cusum_h_for_arl(465, k=0.5) == pytest.approx(5.0, abs=0.005)
    assert spc.cusum_h_for_arl(168, k=0.5) == pytest.approx(4.0, abs=0.005)
    # round trip, one- and two-sided
    for arl0, k, two in [(720, 0.5, True), (720, 0.25, False), (10_000, 1.0, True)]:
        h = spc.cusum_h_for_arl(arl0, k=k, two_sided=two)
        assert spc.cusum_arl(k, h, two_sided=two) == pytest.approx(arl0, rel=1e-6)


def _renewal_arl(alarms: np.ndarray) -> tuple[float, float]:
    """Mean and standard error of the run lengths of a chart restarted after each alarm."""
    rl = np.diff(np.concatenate([[-1], alarms]))
    return rl.mean(), rl.std(ddof=1) / math.sqrt(rl.size)


@pytest.mark.parametrize("shift", [0.0, 1.0])
def test_cusum_arl_matches_simulation(shift):
    # Restarted after each alarm, run lengths are i.i.d. zero-state run lengths; their mean
    # estimates the ARL. Tolerance: 4 standard errors (about 1 in 16,000 to fail by chance).
    # ~12,000 run lengths either way (ARL 168 in control, 8.4 at a 1-sigma shift)
    rng = np.random.default_rng(20240901)
    x = rng.normal(shift, 1.0, 2_000_000 if shift == 0 else 100_000)
    r = spc.tabular_cusum(x, target=0.0, k=0.5, h=4.0, reset=True)
    mean, se = _renewal_arl(r.alarms)
    assert abs(mean - spc.cusum_arl(0.5, 4.0, shift)) < 4 * se


def test_ewma_arl_matches_simulation():
    rng = np.random.default_rng(77)
    x = rng.normal(0.0, 1.0, 2_000_000)
    r = spc.ewma_chart(x, target=0.0, sigma=1.0, lam=0.1, L=2.7, exact_limits=False, reset=True)
    mean, se = _renewal_arl(r.alarms)
    assert abs(mean - spc.ewma_arl(0.1, 2.7)) < 4 * se


@pytest.mark.parametrize("p0,p1,h", [(0.1, 0.2, 3.0), (0.1, 0.05, 3.0), (0.5, 0.6, 2.5)])
def test_bernoulli_arl_matches_simulation(p0, p1, h):
    # The lattice chain approximates a chart whose increments are not on a lattice; 4 standard
    # errors of the simulation plus 1% for the lattice (checked at 4e7 events: within 2%).
    rng = np.random.default_rng(5)
    flags = rng.random(4_000_000) < p0
    r = spc.bernoulli_cusum(flags, p0=p0, p1=p1, h=h, reset=True)
    mean, se = _renewal_arl(r.alarms)
    arl = spc.bernoulli_cusum_arl(h, p0=p0, p1=p1)
    assert abs(mean - arl) < 4 * se + 0.01 * arl


def test_bernoulli_h_for_arl_round_trip():
    for p0, p1 in [(0.1, 0.05), (0.02, 0.04), (0.9, 0.7)]:
        h = spc.bernoulli_cusum_h_for_arl(720, p0=p0, p1=p1)
        assert spc.bernoulli_cusum_arl(h, p0=p0, p1=p1) == pytest.approx(720, rel=1e-5)


# ------------------------------------------------------------------------------------------------
# calibration: designed for ARL0 = 10,000, run over 600,000 in-control points
# ------------------------------------------------------------------------------------------------

N_CAL = 600_000
ARL0 = 10_000
# Restarting after each alarm makes the alarms a renewal process whose run lengths are close to
# geometric (for a long ARL0 the CUSUM/EWMA run length is nearly memoryless), so the count is
# close to Poisson with mean N / ARL0 = 60. The central 99.9% Poisson interval is [36, 87]: a chart
# whose real ARL0 were 40% off its design would fall outside, and a calibrated one fails 1 in 1000.
LOW, HIGH = stats.poisson.ppf(0.0005, N_CAL / ARL0), stats.poisson.isf(0.0005, N_CAL / ARL0)


def test_cusum_calibrated_false_alarms_and_delay():
    h = spc.cusum_h_for_arl(ARL0, k=0.5)
    x = np.random.default_rng(11).normal(size=N_CAL)
    count = spc.tabular_cusum(x, target=0.0, k=0.5, h=h, reset=True).alarms.size
    assert LOW <= count <= HIGH, count
    # the textbook k = 0.5, h = 5 on the same stream: ARL0 465 -> about 1,290 false alarms
    textbook = spc.tabular_cusum(x, target=0.0, k=0.5, h=5.0, reset=True).alarms.size
    assert abs(textbook - N_CAL / 465.4) < 4 * math.sqrt(N_CAL / 465.4)
    # delay on a 0.5-sigma shift: mean zero-state run length against the design's ARL1 (~ 38.5)
    y = np.random.default_rng(12).normal(0.5, 1.0, 200_000)
    mean, se = _renewal_arl(spc.tabular_cusum(y, target=0.0, k=0.5, h=h, reset=True).alarms)
    assert abs(mean - spc.cusum_arl(0.5, h, 0.5)) < 4 * se


@pytest.mark.parametrize("exact_limits", [False, True])
def test_ewma_calibrated_false_alarms_and_delay(exact_limits):
    # ewma_arl assumes asymptotic limits; exact limits are narrower only for the first few points
    # after each restart, which barely moves an ARL0 of 10,000 (same band).
    L = spc.ewma_L_for_arl(ARL0, lam=0.2)
    x = np.random.default_rng(21).normal(size=N_CAL)
    count = spc.ewma_chart(x, target=0.0, sigma=1.0, lam=0.2, L=L, reset=True, exact_limits=exact_limits).alarms.size
    assert LOW <= count <= HIGH, count
    y = np.random.default_rng(22).normal(0.5, 1.0, 200_000)
    r = spc.ewma_chart(y, target=0.0, sigma=1.0, lam=0.2, L=L, reset=True, exact_limits=False)
    mean, se = _renewal_arl(r.alarms)
    assert abs(mean - spc.ewma_arl(0.2, L, 0.5)) < 4 * se


def test_bernoulli_calibrated_false_alarms_and_delay():
    # refusal-style: in-control rate 10%, watch for a fall to 5%
    h = spc.bernoulli_cusum_h_for_arl(ARL0, p0=0.10, p1=0.05)
    flags = np.random.default_rng(31).random(N_CAL) < 0.10
    count = spc.bernoulli_cusum(flags, p0=0.10, p1=0.05, h=h, reset=True).alarms.size
    assert LOW <= count <= HIGH, count
    shifted = np.random.default_rng(32).random(200_000) < 0.05
    mean, se = _renewal_arl(spc.bernoulli_cusum(shifted, p0=0.10, p1=0.05, h=h, reset=True).alarms)
    arl1 = spc.bernoulli_cusum_arl(h, p0=0.10, p1=0.05, p=0.05)
    assert abs(mean - arl1) < 4 * se + 0.01 * arl1


# ------------------------------------------------------------------------------------------------
# vectorised paths against the plain loops (chunk boundaries, resets, NaN)
# ------------------------------------------------------------------------------------------------


def _with_shifts_and_gaps(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(10.0, 2.0, n)
    x[n // 3 : n // 2] += 3.0  # a shift: long excursions, many alarms
    x[rng.random(n) < 0.05] = np.nan
    return x


@pytest.mark.parametrize("reset", [False, True])
def test_tabular_cusum_equals_loop(reset):
    # 150,000 points cross two internal chunk boundaries (2^16)
    x = _with_shifts_and_gaps(1, 150_000)
    r = spc.tabular_cusum(x, target=10.0, sigma=2.0, k=0.5, h=4.0, reset=reset)
    up, lo, alarms = loop_cusum(x, 10.0, 2.0, 0.5, 4.0, reset)
    # the vectorised form sums differently: agreement to rounding (paths are O(10..1e4))
    np.testing.assert_allclose(r.upper, up, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(r.lower, lo, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(r.alarms, alarms)


@pytest.mark.parametrize("reset", [False, True])
@pytest.mark.parametrize("exact", [False, True])
def test_ewma_equals_loop(reset, exact):
    x = _with_shifts_and_gaps(2, 100_000)
    r = spc.ewma_chart(x, target=10.0, sigma=2.0, lam=0.1, L=2.5, exact_limits=exact, reset=reset)
    z, ucl, alarms = loop_ewma(x, 10.0, 2.0, 0.1, 2.5, exact, reset)
    np.testing.assert_allclose(r.z, z, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(r.ucl, ucl, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(r.alarms, alarms)


@pytest.mark.parametrize("reset", [False, True])
def test_bernoulli_and_binomial_equal_loop(reset):
    rng = np.random.default_rng(3)
    flags = (rng.random(120_000) < np.where(np.arange(120_000) < 60_000, 0.1, 0.2)).astype(float)
    flags[rng.random(flags.size) < 0.02] = np.nan
    r = spc.bernoulli_cusum(flags, p0=0.1, p1=0.2, h=3.0, reset=reset)
    path, alarms = loop_llr_cusum(flags, np.ones_like(flags), 0.1, 0.2, 3.0, reset)
    np.testing.assert_allclose(r.upper, path, rtol=1e-9, atol=1e-9)
    assert not r.lower.any()
    np.testing.assert_array_equal(r.alarms, alarms)

    trials = rng.integers(0, 40, 5_000).astype(float)
    trials[rng.random(trials.size) < 0.02] = np.nan
    succ = rng.binomial(np.nan_to_num(trials).astype(int), 0.9).astype(float)
    succ[np.isnan(trials)] = np.nan
    rb = spc.binomial_cusum(succ, trials, p0=0.9, p1=0.8, h=4.0, reset=reset)
    path, alarms = loop_llr_cusum(succ, trials, 0.9, 0.8, 4.0, reset)
    np.testing.assert_allclose(rb.lower, path, rtol=1e-9, atol=1e-9)
    assert not rb.upper.any()
    np.testing.assert_array_equal(rb.alarms, alarms)


def test_bernoulli_hand_worked():
    # p0 = 0.5, p1 = 0.75: a success adds ln 1.5 = 0.405465, a failure adds ln 0.5 = -0.693147
    r = spc.bernoulli_cusum([1, 1, 0, 1, 1, 1, 1], p0=0.5, p1=0.75, h=1.5)
    expected = [0.405465, 0.810930, 0.117783, 0.523248, 0.928713, 1.334178, 1.739644]
    np.testing.assert_allclose(r.upper, expected, atol=1e-6)
    assert r.first_alarm == 6 and r.side[0] == "upper"
    # C was last zero... never: the run covers all 7 events, 6 successes -> rate 6/7
    assert r.shift_start == 0 and r.new_mean == pytest.approx(6 / 7)
    # binomial with one trial per window is the Bernoulli chart
    rb = spc.binomial_cusum([1, 1, 0, 1, 1, 1, 1], [1] * 7, p0=0.5, p1=0.75, h=1.5)
    np.testing.assert_allclose(rb.upper, r.upper)


def test_bernoulli_detects_a_refusal_drop():
    rng = np.random.default_rng(9)
    # refusal of high-risk queries at 98%, falling to 60% at event 500; designed for one false
    # alarm in 100,000 events (P(false alarm in the first 500) ~ 0.5%)
    refused = np.r_[rng.random(500) < 0.98, rng.random(500) < 0.6]
    h = spc.bernoulli_cusum_h_for_arl(100_000, p0=0.98, p1=0.9)
    r = spc.bernoulli_cusum(refused, p0=0.98, p1=0.9, h=h)
    # each non-refusal adds ln(0.1/0.02) = 1.61, so ~h/1.6/0.4 ~ 15 events after the drop
    assert r.first_alarm is not None and 500 <= r.first_alarm < 540
    assert r.side[0] == "lower" and not r.upper.any()
    assert 490 <= r.shift_start <= 510
    assert r.new_mean < 0.8


def test_binomial_skips_empty_windows():
    r = spc.binomial_cusum([5, np.nan, 0, 9], [10, np.nan, 0, 10], p0=0.5, p1=0.8, h=100.0)
    path, _ = loop_llr_cusum([5, np.nan, 0, 9], [10, np.nan, 0, 10], 0.5, 0.8, 100.0)
    np.testing.assert_allclose(r.upper, path)
    assert r.n_observed == 2 and r.upper[1] == r.upper[0] == r.upper[2]


def test_nan_is_skipped_not_zero():
    x = np.array([1.0, 2.0, 3.0, 2.5, 3.5, 4.0])
    gaps = np.array([1.0, np.nan, 2.0, np.nan, np.nan, 3.0, 2.5, 3.5, 4.0])
    a = spc.tabular_cusum(x, target=0.0, k=0.5, h=8.0)
    b = spc.tabular_cusum(gaps, target=0.0, k=0.5, h=8.0)
    obs = ~np.isnan(gaps)
    np.testing.assert_allclose(b.upper[obs], a.upper)
    np.testing.assert_allclose(b.upper[1], b.upper[0])  # carried over
    np.testing.assert_array_equal(b.run_length_upper[obs], a.run_length_upper)
    assert np.flatnonzero(obs)[a.alarms].tolist() == b.alarms.tolist() == [7, 8]
    assert b.shift_start == 0 and a.shift_start == 0
    e = spc.ewma_chart(gaps, target=0.0, sigma=1.0, lam=0.3)
    e0 = spc.ewma_chart(x, target=0.0, sigma=1.0, lam=0.3)
    np.testing.assert_allclose(e.z[obs], e0.z)
    np.testing.assert_allclose(e.ucl[obs], e0.ucl)


def test_new_mean_on_the_lower_side():
    # a step down by 2 sigma from index 20: C- signals, N- counts from the step
    x = np.r_[np.zeros(20), np.full(10, -2.0)]
    r = spc.tabular_cusum(x, target=0.0, sigma=1.0, k=0.5, h=4.0)
    # C- gains 1.5 a step: 1.5, 3.0, 4.5 > 4 at index 22
    assert r.first_alarm == 22 and r.side[0] == "lower"
    assert r.run_length_lower[22] == 3 and r.shift_start == 20
    assert r.new_mean == pytest.approx(0.0 - 0.5 - 4.5 / 3)  # = -2.0, the true new level


# ------------------------------------------------------------------------------------------------
# Shewhart and the Western Electric rules (hand-built patterns, Montgomery section 5.3.6)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern,rule,index",
    [
        ([0.0, 0.5, 3.2], 1, 2),  # one point beyond 3 sigma
        ([0.0, 2.5, 0.0, 2.3], 2, 3),  # 2 of 3 beyond 2 sigma, same side
        ([1.5, 1.5, 0.0, 1.5, 1.5], 3, 4),  # 4 of 5 beyond 1 sigma
        ([0.5] * 8, 4, 7),  # 8 in a row above the centre line
    ],
)
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_western_electric_rules(pattern, rule, index, sign):
    x = np.r_[[0.0, 0.0, 0.0], sign * np.array(pattern)]  # lead-in on the centre line: no side
    r = spc.shewhart(50.0 + 2.0 * x, target=50.0, sigma=2.0)
    assert r.first_alarm == index + 3 and r.first_rule == rule
    assert r.side[0] == ("upper" if sign > 0 else "lower")
    assert index + 3 in r.rule_alarms[rule]
    # with that rule switched off, the pattern goes unnoticed
    others = tuple(q for q in (1, 2, 3, 4) if q != rule)
    assert spc.shewhart(50.0 + 2.0 * x, target=50.0, sigma=2.0, rules=others).first_alarm is None


def test_western_electric_not_fired_by_split_sides():
    # one point above +2 and one below -2: not "2 of 3 on the same side"
    r = spc.shewhart([0.0, 2.5, -2.5, 0.0], target=0.0, sigma=1.0)
    assert r.first_alarm is None


def test_shewhart_false_alarm_rate_rule_1():
    # rule 1 alone: P(|Z| > 3) = 0.0027 per point (ARL 370); 4 binomial standard deviations
    x = np.random.default_rng(4).normal(size=400_000)
    r = spc.shewhart(x, target=0.0, sigma=1.0, rules=(1,))
    p = 2 * stats.norm.sf(3.0)
    assert abs(r.alarms.size - x.size * p) < 4 * math.sqrt(x.size * p * (1 - p))


def test_shewhart_stream_equals_batch():
    x = np.random.default_rng(8).normal(0.3, 1.0, 3_000)
    x[::37] = np.nan
    r = spc.shewhart(x, target=0.0, sigma=1.0)
    chart = spc.ShewhartChart(target=0.0, sigma=1.0)
    alarms, rules = [], []
    for i, v in enumerate(x):
        if chart.update(v).alarm:
            alarms.append(i)
            rules.append(chart.rule)
    assert alarms == r.alarms.tolist() and rules == r.alarm_rule.tolist()
    assert chart.n_seen == x.size and chart.n_observed == int((~np.isnan(x)).sum())


# ------------------------------------------------------------------------------------------------
# rolling k-sigma
# ------------------------------------------------------------------------------------------------


def _loop_rolling(values, window, k, min_periods, times=None):
    mean = np.full(len(values), np.nan)
    std = np.full(len(values), np.nan)
    for i in range(len(values)):
        if times is None:
            prev = [v for v in values[:i] if not math.isnan(v)][-window:]
        else:
            prev = [v for t, v in zip(times[:i], values[:i]) if t >= times[i] - window and not math.isnan(v)]
        if len(prev) >= min_periods:
            mean[i], std[i] = np.mean(prev), np.std(prev, ddof=1)
    with np.errstate(invalid="ignore"):
        alarm = np.abs(np.asarray(values) - mean) > k * std
    return mean, std, np.flatnonzero(alarm)


def test_rolling_sigma_count_window_equals_loop():
    rng = np.random.default_rng(6)
    x = rng.normal(0.1, 0.02, 400)
    x[300:] -= 0.06
    x[rng.random(x.size) < 0.1] = np.nan
    r = spc.rolling_sigma_alarm(x, baseline_span=24, k=2.0, min_periods=12)
    mean, std, alarms = _loop_rolling(list(x), 24, 2.0, 12)
    np.testing.assert_allclose(r.baseline_mean, mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(r.baseline_std, std, rtol=1e-7, atol=1e-12)
    np.testing.assert_array_equal(r.alarms, alarms)
    # the 3-sigma drop at 300 is caught at once (earlier alarms: the 4.6% of 2-sigma noise)
    assert r.alarms[r.alarms >= 300][0] <= 302


def test_rolling_sigma_time_window_equals_loop():
    rng = np.random.default_rng(7)
    t = pd.date_range("2025-01-01", periods=300, freq="h", tz="UTC")
    t = t[np.sort(rng.choice(300, 240, replace=False))]  # irregular spacing
    x = rng.normal(0.9, 0.03, t.size)
    x[rng.random(t.size) < 0.05] = np.nan
    s = pd.Series(x, index=t)
    r = spc.rolling_sigma_alarm(s, baseline_span="24h", k=2.0, min_periods=5)
    # window "24h" = the observed points in [t - 24h, t) (pandas closed="left")
    mean, std, alarms = _loop_rolling(list(x), pd.Timedelta("24h"), 2.0, 5, times=list(t))
    np.testing.assert_allclose(r.baseline_mean, mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(r.baseline_std, std, rtol=1e-7, atol=1e-12)
    np.testing.assert_array_equal(r.alarms, alarms)
    assert list(r.alarm_labels()) == list(t[alarms])


def test_rolling_sigma_side():
    x = np.r_[np.tile([1.0, 1.2], 20), 3.0, 1.1, -1.0]
    both = spc.rolling_sigma_alarm(x, baseline_span=10)
    assert both.alarms.tolist() == [40, 42] and both.side.tolist() == ["upper", "lower"]
    assert spc.rolling_sigma_alarm(x, baseline_span=10, alternative="greater").alarms.tolist() == [40]
    assert spc.rolling_sigma_alarm(x, baseline_span=10, alternative="less").alarms.tolist() == [42]


# ------------------------------------------------------------------------------------------------
# streaming twins equal the batch functions
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reset", [False, True])
def test_cusum_chart_equals_batch(reset):
    x = _with_shifts_and_gaps(13, 20_000)
    r = spc.tabular_cusum(x, target=10.0, sigma=2.0, k=0.5, h=4.0, reset=reset)
    chart = spc.CusumChart(target=10.0, sigma=2.0, k=0.5, h=4.0, reset=reset)
    (up, lo, nu), alarms, sides = _stream(chart, x, "upper", "lower", "run_length_upper")
    np.testing.assert_allclose(up, r.upper, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(lo, r.lower, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(nu, r.run_length_upper)
    assert alarms == r.alarms.tolist() and sides == r.side.tolist()
    assert chart.n_alarms == r.alarms.size and chart.n_seen == x.size


@pytest.mark.parametrize("reset", [False, True])
def test_ewma_chart_equals_batch(reset):
    x = _with_shifts_and_gaps(14, 20_000)
    r = spc.ewma_chart(x, target=10.0, sigma=2.0, lam=0.2, L=2.8, reset=reset)
    chart = spc.EwmaChart(target=10.0, sigma=2.0, lam=0.2, L=2.8, reset=reset)
    (z, ucl), alarms, _ = _stream(chart, x, "z", "ucl")
    np.testing.assert_allclose(z, r.z, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(ucl, r.ucl, rtol=1e-12, atol=1e-9)
    assert alarms == r.alarms.tolist()


@pytest.mark.parametrize("reset", [False, True])
def test_bernoulli_chart_equals_batch(reset):
    rng = np.random.default_rng(15)
    flags = (rng.random(20_000) < np.where(np.arange(20_000) < 10_000, 0.9, 0.8)).astype(float)
    flags[::53] = np.nan
    r = spc.bernoulli_cusum(flags, p0=0.9, p1=0.8, h=3.0, reset=reset)
    chart = spc.BernoulliCusumChart(p0=0.9, p1=0.8, h=3.0, reset=reset)
    (path,), alarms, _ = _stream(chart, flags, "lower")
    np.testing.assert_allclose(path, r.lower, rtol=1e-9, atol=1e-9)
    assert alarms == r.alarms.tolist()
    # the binomial twin: update(successes, trials)
    trials = rng.integers(0, 30, 2_000).astype(float)
    succ = rng.binomial(trials.astype(int), 0.9).astype(float)
    rb = spc.binomial_cusum(succ, trials, p0=0.9, p1=0.8, h=3.0, reset=reset)
    chart = spc.BernoulliCusumChart(p0=0.9, p1=0.8, h=3.0, reset=reset)
    alarms = [i for i, (s, n) in enumerate(zip(succ, trials)) if chart.update(s, n).alarm]
    assert alarms == rb.alarms.tolist()


# ------------------------------------------------------------------------------------------------
# invariants over every chart
# ------------------------------------------------------------------------------------------------


def _run(name: str, x: np.ndarray, a: float = 1.0, b: float = 0.0):
    """Each chart on a*x + b with its parameters moved the same way (target*a + b, sigma*a)."""
    y = a * x + b
    if name == "cusum":
        return spc.tabular_cusum(y, target=b, sigma=a, k=0.5, h=4.0)
    if name == "cusum_reset":
        return spc.tabular_cusum(y, target=b, sigma=a, k=0.25, h=6.0, reset=True)
    if name == "ewma":
        return spc.ewma_chart(y, target=b, sigma=a, lam=0.2, L=2.8)
    if name == "ewma_reset":
        return spc.ewma_chart(y, target=b, sigma=a, lam=0.1, L=2.7, reset=True, exact_limits=False)
    if name == "shewhart":
        return spc.shewhart(y, target=b, sigma=a)
    if name == "rolling":
        return spc.rolling_sigma_alarm(y, baseline_span=20, k=2.0)
    raise AssertionError(name)


CHARTS = ["cusum", "cusum_reset", "ewma", "ewma_reset", "shewhart", "rolling"]


def _noisy(seed: int, n: int = 3_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, n)
    x[n // 2 :] += 1.0
    x[rng.random(n) < 0.03] = np.nan
    return x


@pytest.mark.parametrize("name", CHARTS)
def test_no_alarm_on_constant_in_control_series(name):
    for value in (0.0, 0.1, 1e-3):  # 0.1 and 1e-3 are not exact binary fractions
        r = _run(name, np.zeros(2_000), a=1.0, b=value)
        assert r.alarms.size == 0 and r.first_alarm is None
    r = spc.rolling_sigma_alarm(np.full(500, 0.37), baseline_span=24)  # any constant level
    assert r.alarms.size == 0


@pytest.mark.parametrize("name", CHARTS)
def test_same_seed_same_result_and_input_untouched(name):
    x1, x2 = _noisy(42), _noisy(42)
    keep = x1.copy()
    r1, r2 = _run(name, x1), _run(name, x2)
    np.testing.assert_array_equal(r1.alarms, r2.alarms)
    np.testing.assert_array_equal(r1.statistic, r2.statistic)
    np.testing.assert_array_equal(x1, keep)


@pytest.mark.parametrize("name", CHARTS)
def test_shift_and_scale_invariance(name):
    x = _noisy(43)
    r0, r1 = _run(name, x), _run(name, x, a=3.7, b=-120.0)
    assert r0.alarms.size > 0  # the series has a shift: the invariance is about real alarms
    np.testing.assert_array_equal(r0.alarms, r1.alarms)
    np.testing.assert_array_equal(r0.side, r1.side)
    if name.startswith("cusum"):
        np.testing.assert_allclose(r1.upper, 3.7 * r0.upper, rtol=1e-9, atol=1e-9)
        assert r1.new_mean == pytest.approx(3.7 * r0.new_mean - 120.0)
    if name.startswith("ewma"):
        np.testing.assert_allclose(r1.z, 3.7 * r0.z - 120.0, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", CHARTS)
def test_alarms_sorted_inside_and_observed(name):
    x = _noisy(44)
    r = _run(name, x)
    assert np.all(np.diff(r.alarms) > 0)
    assert r.alarms.min() >= 0 and r.alarms.max() < x.size
    assert not np.isnan(x[r.alarms]).any()
    assert r.first_alarm == r.alarms[0] and len(r.side) == r.alarms.size


def test_rate_charts_invariants():
    # all events in control at a zero rate never argue for a rise; same seed, same alarms; alarms
    # sorted, inside, never at a gap
    assert spc.bernoulli_cusum(np.zeros(5_000), p0=0.01, p1=0.05, h=3.0).first_alarm is None
    assert spc.binomial_cusum(np.zeros(500), np.full(500, 20.0), p0=0.01, p1=0.05, h=3.0).first_alarm is None

    def flags(seed):
        rng = np.random.default_rng(seed)
        f = (rng.random(20_000) < np.where(np.arange(20_000) < 10_000, 0.1, 0.15)).astype(float)
        f[rng.random(f.size) < 0.05] = np.nan
        return f

    f1, f2 = flags(3), flags(3)
    r1 = spc.bernoulli_cusum(f1, p0=0.1, p1=0.15, h=3.0)
    r2 = spc.bernoulli_cusum(f2, p0=0.1, p1=0.15, h=3.0)
    np.testing.assert_array_equal(r1.alarms, r2.alarms)
    np.testing.assert_array_equal(r1.upper, r2.upper)
    assert r1.alarms.size > 0 and np.all(np.diff(r1.alarms) > 0) and r1.alarms.max() < f1.size
    assert not np.isnan(f1[r1.alarms]).any()


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
maybe_nan = st.one_of(finite, st.just(float("nan")))


@settings(max_examples=60, deadline=None)
@given(
    xs=st.one_of(
        st.just([]),  # length 0
        st.lists(maybe_nan, min_size=1, max_size=1),  # length 1
        st.lists(st.just(float("nan")), max_size=40),  # all missing
        st.lists(maybe_nan, max_size=60),
    )
)
def test_edge_cases(xs):
    x = np.array(xs, dtype=float)
    n, obs = x.size, ~np.isnan(x)
    results = [
        spc.tabular_cusum(x, target=0.0, sigma=10.0, h=3.0),
        spc.tabular_cusum(x, target=0.0, sigma=10.0, h=3.0, reset=True),
        spc.ewma_chart(x, target=0.0, sigma=10.0),
        spc.ewma_chart(x, target=0.0, sigma=10.0, reset=True),
        spc.shewhart(x, target=0.0, sigma=10.0),
        spc.rolling_sigma_alarm(x, baseline_span=3, min_periods=2),
        spc.bernoulli_cusum(np.where(obs, (np.nan_to_num(x) > 0).astype(float), np.nan), p0=0.3, p1=0.6, h=2.0),
        spc.binomial_cusum(np.where(obs, 1.0, np.nan), np.where(obs, 3.0, 0.0), p0=0.3, p1=0.2, h=2.0),
    ]
    for r in results:
        assert r.n == n and r.n_observed == int(obs.sum())
        assert r.statistic.shape == (n,)
        assert r.alarms.dtype.kind == "i" and np.all(np.diff(r.alarms) > 0)
        assert np.all(obs[r.alarms])
        assert (r.first_alarm is None) == (r.alarms.size == 0)
    if not obs.any():
        assert all(r.first_alarm is None for r in results)
        assert np.all(results[0].upper == 0) and np.all(results[2].z == 0.0)


def test_streaming_edge_cases():
    for chart in (spc.CusumChart(target=0.0), spc.EwmaChart(target=0.0, sigma=1.0),
                  spc.ShewhartChart(target=0.0, sigma=1.0), spc.BernoulliCusumChart(p0=0.1, p1=0.2, h=2.0)):
        assert chart.alarm is False and chart.n_seen == 0
        for v in (None, float("nan"), pd.NA):
            chart.update(v)
        assert chart.alarm is False and chart.n_seen == 3 and chart.n_observed == 0


# ------------------------------------------------------------------------------------------------
# input checks name the parameter and the bad value
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: spc.tabular_cusum([1.0], target=0.0, h=-1), "`h` must be > 0, got -1"),
        (lambda: spc.tabular_cusum([1.0], target=0.0, sigma=0), "`sigma` must be > 0"),
        (lambda: spc.tabular_cusum([1.0, np.inf], target=0.0), "`x` must hold finite values"),
        (lambda: spc.tabular_cusum([[1.0]], target=0.0), "`x` must be one-dimensional"),
        (lambda: spc.tabular_cusum([1.0], target=0.0, reset="yes"), "`reset` must be True or False"),
        (lambda: spc.ewma_chart([1.0], target=0.0, sigma=1.0, lam=1.5), "`lam` must be in \\(0, 1\\]"),
        (lambda: spc.bernoulli_cusum([0, 2], p0=0.1, p1=0.2, h=1.0), "`flags` must hold 0/1"),
        (lambda: spc.bernoulli_cusum([0, 1], p0=0.1, p1=0.1, h=1.0), "`p1` must differ from `p0`"),
        (lambda: spc.bernoulli_cusum([0, 1], p0=1.0, p1=0.1, h=1.0), "`p0` must be in \\(0, 1\\)"),
        (lambda: spc.binomial_cusum([3], [2], p0=0.1, p1=0.2, h=1.0), "`successes` must be in \\[0, trials\\]"),
        (lambda: spc.shewhart([1.0], target=0.0, sigma=1.0, rules=(5,)), "`rules`"),
        (lambda: spc.rolling_sigma_alarm([1.0, 2.0], baseline_span=1), "`baseline_span` must be an int >= 2"),
        (lambda: spc.rolling_sigma_alarm([1.0, 2.0], baseline_span="1h"), "DatetimeIndex"),
        (lambda: spc.rolling_sigma_alarm(pd.Series([1.0], index=pd.DatetimeIndex(["2025-01-01"], tz="UTC")),
                                         baseline_span="-1h"), "`baseline_span` must be a positive duration"),
        (lambda: spc.rolling_sigma_alarm([1.0, 2.0], baseline_span=5, alternative="up"), "`alternative`"),
        (lambda: spc.cusum_h_for_arl(0.5), "`arl0` must be in \\(1, 1e8\\]"),
        (lambda: spc.CusumChart(target=0.0).update("abc"), "`x` must be a number"),
        (lambda: spc.BernoulliCusumChart(p0=0.1, p1=0.2, h=1.0).update(3), "`x` must be 0/1"),
    ],
)
def test_bad_input_messages(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_pandas_nullable_input():
    s = pd.Series([True, None, False, True], dtype="boolean")
    r = spc.bernoulli_cusum(s, p0=0.5, p1=0.75, h=5.0)
    assert r.n_observed == 3 and r.upper[1] == r.upper[0]
    f = pd.Series([1.0, None, 2.0], dtype="Float64")
    assert spc.tabular_cusum(f, target=0.0).n_observed == 2


def test_docstring_examples():
    # the examples in the docstrings are part of the manual: they must stay true
    import doctest

    failures, tried = doctest.testmod(spc, verbose=False)
    assert tried >= 3 and failures == 0
