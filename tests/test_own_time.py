"""Evidence at a change's own time: same-hours before/after, the step's profile likelihood, separation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.investigation.ranking import separation
from analysis.investigation.own_time import SEPARATION_LOGLIK, own_step, step_profile

T0 = pd.Timestamp("2026-01-05T00:00:00Z")
H = pd.Timedelta(hours=1)


def _rate_series(n, k):
    ws = pd.date_range(T0, periods=len(n), freq="1h", tz="UTC")
    n, k = np.asarray(n, float), np.asarray(k, float)
    return pd.DataFrame({"window_start": ws, "n": n, "successes": k, "rate": k / np.maximum(n, 1)})


def _proportions_z(k0, n0, k1, n1):
    """Pooled two-proportion z test, written out (statsmodels' proportions_ztest with pooled variance)."""
    p = (k0 + k1) / (n0 + n1)
    z = (k1 / n1 - k0 / n0) / np.sqrt(p * (1 - p) * (1 / n0 + 1 / n1))
    return z, 2 * stats.norm.sf(abs(z))


def test_own_step_compares_the_same_hours_one_week_earlier():
    # 10 days of hours; the rate follows a daily cycle (10% at night, 30% by day) and jumps by 0.3 at hour 200
    hours = np.arange(240)
    base = np.where((hours % 24 >= 8) & (hours % 24 < 20), 0.3, 0.1)
    rate = base + np.where(hours >= 200, 0.3, 0.0)
    n = np.full(240, 100.0)
    s = _rate_series(n, np.round(rate * n))
    st = own_step(s, kind="rate", at=T0 + 200 * H, window=H, end=T0 + 240 * H)
    assert st.lag == "same hours one week earlier"
    # after: hours 200..223; before: hours 32..55, the same hours of the day: the cycle cancels
    k1, k0 = float(np.round(rate * n)[200:224].sum()), float(np.round(rate * n)[32:56].sum())
    assert st.current == pytest.approx(k1 / 2400) and st.baseline == pytest.approx(k0 / 2400)
    assert st.pvalue == pytest.approx(_proportions_z(k0, 2400, k1, 2400)[1], rel=1e-9, abs=1e-300)
    assert st.effect == pytest.approx(2 * np.arcsin(np.sqrt(k1 / 2400)) - 2 * np.arcsin(np.sqrt(k0 / 2400)))
    # a change in the middle of a window: the first whole window after it is the next one
    # (whole windows up to 24 h after it: hours 200..222)
    st2 = own_step(s, kind="rate", at=T0 + 199.5 * H, window=H, end=T0 + 240 * H)
    assert st2.n_after == 2300 and st2.current == pytest.approx(float(np.round(rate * n)[200:223].sum()) / 2300)
    # a change a day earlier than the step sees the cycle only: no step
    quiet = own_step(s, kind="rate", at=T0 + 170 * H, window=H, end=T0 + 194 * H)
    assert quiet.current == pytest.approx(quiet.baseline)


def test_own_step_falls_back_to_one_day_and_needs_windows():
    n = np.full(72, 50.0)
    k = np.where(np.arange(72) >= 48, 20.0, 5.0)
    s = _rate_series(n, k)
    st = own_step(s, kind="rate", at=T0 + 48 * H, window=H, end=T0 + 72 * H)
    assert st.lag == "same hours one day earlier"
    assert (st.baseline, st.current) == (pytest.approx(0.1), pytest.approx(0.4))
    assert own_step(s, kind="rate", at=T0 + 70 * H, window=H, end=T0 + 72 * H) is None  # fewer than 3 windows after


def test_step_profile_matches_scipy_and_prefers_the_exact_change_time():
    rng = np.random.default_rng(7)
    n = np.full(120, 80.0)
    t_change = 60.5  # half-way through window 60
    share_after = np.clip(np.arange(120) + 1 - t_change, 0, 1)  # share of each window after the change
    p = 0.05 + 0.30 * share_after
    k = rng.binomial(80, p).astype(float)
    s = _rate_series(n, k)
    prof = step_profile(s, kind="rate", window=H, region=(T0, T0 + 120 * H), fit_before=T0 + 50 * H)
    assert np.allclose(prof.offset, 1.0) or prof.offset.size == 120
    # the profile's differences are binomial log-likelihood differences (the binomial coefficients cancel)
    prof1 = step_profile(s, kind="rate", window=H, region=(T0, T0 + 120 * H), fit_before=T0 + 2 * H)  # no cycle fitted
    assert np.allclose(prof1.offset, 1.0)

    def scipy_ll(kb):
        p0, p1 = k[:kb].sum() / n[:kb].sum(), k[kb:].sum() / n[kb:].sum()
        return stats.binom.logpmf(k[:kb], 80, p0).sum() + stats.binom.logpmf(k[kb:], 80, p1).sum()

    i40, i61 = list(prof1.boundaries).index(40), list(prof1.boundaries).index(61)
    assert prof1.loglik[i61] - prof1.loglik[i40] == pytest.approx(scipy_ll(61) - scipy_ll(40), rel=1e-9)
    assert prof1.at(T0 + 61 * H) == pytest.approx(prof1.loglik[i61])  # on a boundary: the boundary's fit
    assert prof1.best_ts in (T0 + 60 * H, T0 + 61 * H)
    # the exact change time explains the series better than a change an hour or three earlier
    assert prof1.at(T0 + t_change * H) > prof1.at(T0 + (t_change - 1) * H) + SEPARATION_LOGLIK
    assert prof1.at(T0 + t_change * H) > prof1.at(T0 + (t_change - 3) * H)
    assert np.isnan(prof1.at(T0 - H))


def _ranked(rows):
    cols = ["change_id", "score", "association", "step", "drift", "staleness", "mechanism", "own_step", "location",
            "location_loglik", "excluded"]
    return pd.DataFrame([dict(zip(cols, r)) for r in rows])


def test_separation_names_the_rival_when_the_data_cannot_tell():
    # timing only: never separable
    sep = separation(_ranked([("a", 0.25, 0, 0, 0, 0, 0, 0, 0, np.nan, False), ("b", 0.25, 0, 0, 0, 0, 0, 0, 0, np.nan, False)]))
    assert not sep.separable and "no evidence beyond timing" in sep.text
    # both step at their own time, log-likelihoods 1.0 apart (< 1.92): cannot separate
    sep = separation(_ranked([("a", 0.70, 0, 0, 0, 0, 0, 1, 1.0, -100.0, False), ("b", 0.60, 0, 0, 0, 0, 0, 1, 0.37, -101.0, False)]))
    assert not sep.separable and sep.second == "b" and sep.loglik_difference == pytest.approx(1.0)
    # 5 log-likelihood units apart: separable, with the margin
    sep = separation(_ranked([("a", 0.70, 0, 0, 0, 0, 0, 1, 1.0, -100.0, False), ("b", 0.30, 0, 0, 0, 0, 0, 1, 0.007, -105.0, False)]))
    assert sep.separable and sep.margin == pytest.approx(0.40)
    # a concurrent comparison separates whatever the series says; an excluded change is no rival
    sep = separation(_ranked([("a", 0.9, 0.8, 0, 0, 0, 0, 1, 1.0, -100.0, False), ("b", 0.6, 0, 0, 0, 0, 0, 1, 0.9, -100.1, False)]))
    assert sep.separable
    sep = separation(_ranked([("x", 0.9, 0, 0, 0, 0, 0, 1, 1.0, -99.0, True), ("a", 0.7, 0, 0, 0, 0, 0, 1, 1.0, -100.0, False)]))
    assert sep.first == "a" and sep.second is None
    assert SEPARATION_LOGLIK == pytest.approx(stats.chi2.ppf(0.95, 1) / 2)


def test_a_rates_cycle_is_used_only_when_the_data_show_one():
    from analysis.investigation.own_time import CYCLE_ALPHA, _cycle_offset

    rng = np.random.default_rng(11)
    hours = np.arange(24 * 21)
    ws = np.array([(T0 + int(h) * H).value for h in hours])
    n = np.full(hours.size, 40.0)
    fit = np.ones(hours.size, dtype=bool)
    # a flat 7% rate: the hour effects are noise, no cycle
    flat = rng.binomial(40, 0.07, hours.size).astype(float)
    assert np.allclose(_cycle_offset(ws, n, flat, "rate", fit), 1.0)
    # a rate three times higher from 00:00 to 06:00 UTC: the cycle is kept
    p = np.where((hours % 24) < 6, 0.15, 0.05)
    cyc = rng.binomial(40, p).astype(float)
    off = _cycle_offset(ws, n, cyc, "rate", fit)
    night = (hours % 24) < 6
    assert off[night].mean() > 2 * off[~night].mean()
    # the decision is scipy's chi-square test of the likelihood ratio (hand-computed here)
    r = flat.sum() / n.sum()
    cell = (hours % 24) + 24 * ((((ws // 86_400_000_000_000) + 3) % 7) >= 5)
    o = np.array([(flat[cell == c].sum() + 5) / (r * n[cell == c].sum() + 5) for c in cell])
    pc = r * o
    lr = 2 * np.sum(flat * np.log(pc / r) + (n - flat) * (np.log1p(-pc) - np.log1p(-r)))
    assert lr < stats.chi2.ppf(1 - CYCLE_ALPHA, len(np.unique(cell)) - 1)
