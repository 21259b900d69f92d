"""What changed: decomposition, onset, inferred changes and candidate ranking."""

from __future__ import annotations

from fractions import Fraction as F

import pandas as pd
import pytest

from analysis.stats.decomposition import decompose


def _period(rows):
    return pd.DataFrame(rows, columns=["segment", "n", "value"])


def test_decomposition_kidney_stones_simpsons_paradox():
    # Charig et al. (1986), BMJ 292:879, the textbook Simpson's paradox (kidney stones):
    #   treatment B ("baseline"): small stones 234/270, large 55/80  -> 289/350 = 82.6%
    #   treatment A ("current"):  small stones  81/87,  large 192/263 -> 273/350 = 78.0%
    # A is better within both strata yet worse overall. Hand-worked Kitagawa decomposition with
    # exact fractions:
    #   w0 = (270/350, 80/350), w1 = (87/350, 263/350); r0 = (13/15, 11/16), r1 = (27/29, 192/263)
    #   mix    = sum (w1 - w0)(r0 + r1)/2 = (183/350) * [ (11/16 + 192/263)/2 - (13/15 + 27/29)/2 ]
    #   within = sum (r1 - r0)(w0 + w1)/2 = (27/29 - 13/15)(357/700) + (192/263 - 11/16)(343/700)
    #   total  = 273/350 - 289/350 = -16/350
    r0 = (F(234, 270), F(55, 80))
    r1 = (F(81, 87), F(192, 263))
    mix = F(183, 350) * ((r0[1] + r1[1]) / 2 - (r0[0] + r1[0]) / 2)
    within = (r1[0] - r0[0]) * F(357, 700) + (r1[1] - r0[1]) * F(343, 700)
    assert mix + within == F(-16, 350)  # the hand-worked pieces add up exactly
    # printed values (4 significant digits): mix = -0.09939, within = +0.05367, total = -0.04571
    assert float(mix) == pytest.approx(-0.09939, abs=5e-6)
    assert float(within) == pytest.approx(0.05367, abs=5e-6)

    d = decompose(
        _period([("small", 270, 234 / 270), ("large", 80, 55 / 80)]),
        _period([("small", 87, 81 / 87), ("large", 263, 192 / 263)]),
        segment_column="stone_size",
        metric="success",
    )
    # double precision against exact fractions: 1e-12
    assert d.statistic == pytest.approx(-16 / 350, abs=1e-12)
    assert d.mix == pytest.approx(float(mix), abs=1e-12)
    assert d.within == pytest.approx(float(within), abs=1e-12)
    assert d.aggregate_baseline == pytest.approx(289 / 350, abs=1e-12)
    assert d.aggregate_current == pytest.approx(273 / 350, abs=1e-12)
    assert d.simpson and d.reversal
    assert d.mix_share == pytest.approx(abs(float(mix)) / (abs(float(mix)) + abs(float(within))), abs=1e-12)
    assert "Simpson" in d.summary()


def test_decomposition_pure_mix_and_pure_within():
    # Escalation storm shape: rates unchanged inside each category, the new "general" traffic
    # (escalated 100% of the time) did not exist before -> everything is mix shift.
    base = _period([("billing", 900, 0.10), ("tech", 100, 0.12)])
    cur = _period([("billing", 450, 0.10), ("tech", 50, 0.12), ("general", 500, 1.0)])
    d = decompose(base, cur)
    # aggregate 0.102 -> 0.5*... = 0.45*0.1 + 0.05*0.12 + 0.5*1.0 = 0.551; all of it mix
    assert d.statistic == pytest.approx(0.551 - 0.102, abs=1e-12)
    assert d.within == pytest.approx(0.0, abs=1e-12)
    assert d.mix_share == pytest.approx(1.0)
    assert not d.simpson
    # Refusal regression shape: same mix, the rate inside one segment collapsed -> all within.
    base = _period([("high", 100, 1.0), ("low", 900, 0.02)])
    cur = _period([("high", 100, 0.05), ("low", 900, 0.02)])
    d = decompose(base, cur)
    assert d.mix == pytest.approx(0.0, abs=1e-12)
    assert d.within == pytest.approx(-0.095, abs=1e-12)
    assert d.mix_share == pytest.approx(0.0, abs=1e-12)


def test_decomposition_rejects_bad_input():
    with pytest.raises(ValueError, match="`baseline`"):
        decompose(pd.DataFrame({"segment": ["a"], "n": [1]}), _period([("a", 1, 0.5)]))
    with pytest.raises(ValueError, match="both periods"):
        decompose(_period([("a", 0, 0.5)]), _period([("a", 1, 0.5)]))


# ----------------------------------------------------------------------------------------------
# stratified comparison, inferred changes, onset
# ----------------------------------------------------------------------------------------------

import numpy as np  # noqa: E402

from analysis.investigation.changes import infer_changes  # noqa: E402
from analysis.investigation.evidence import Arms, stratified_comparison  # noqa: E402
from analysis.investigation.onset import detect_onset  # noqa: E402

T0 = pd.Timestamp("2026-01-05T00:00:00Z")


def _events(rows):
    """rows: (hour offset, model_version, refused) -> canonical-enough events."""
    return pd.DataFrame(
        {
            "event_id": pd.array([f"e{i}" for i in range(len(rows))], dtype="string[pyarrow]"),
            "ts": pd.to_datetime([T0 + pd.Timedelta(hours=h, minutes=5) for h, _, _ in rows], utc=True),
            "model_version": pd.array([v for _, v, _ in rows], dtype="string[pyarrow]"),
            "refused": pd.array([r for _, _, r in rows], dtype="boolean"),
        }
    )


def test_stratified_comparison_mantel_haenszel_hand_worked():
    # Two hourly windows where both versions answer (a rollout):
    #   hour 0: v2 refused 2/10 (0.2), v1 9/10 (0.9) -> d = -0.7, W = 10*10/20 = 5
    #   hour 1: v2 refused 1/20 (0.05), v1 18/20 (0.9) -> d = -0.85, W = 20*20/40 = 10
    # plus hour 2 with v1 only (not shared, ignored).
    # D = (5 * -0.7 + 10 * -0.85) / 15 = -0.8 (hand-worked).
    rows = []
    rows += [(0, "v2", i < 2) for i in range(10)] + [(0, "v1", i < 9) for i in range(10)]
    rows += [(1, "v2", i < 1) for i in range(20)] + [(1, "v1", i < 18) for i in range(20)]
    rows += [(2, "v1", True) for _ in range(30)]
    ev = _events(rows)
    r = stratified_comparison(ev, metric="refused", kind="rate", arms=Arms("model_version", "v2"),
                              period=(T0, T0 + pd.Timedelta(hours=3)))
    assert r.windows_shared == 2
    assert r.difference == pytest.approx(-0.8, abs=1e-12)
    assert r.n_new == 30 and r.n_old == 60
    # variance: sum W^2 p(1-p)(1/n1 + 1/n0) / (sum W)^2 with the window's pooled p
    v = (25 * 0.55 * 0.45 * 0.2 + 100 * 0.475 * 0.525 * 0.1) / 15**2
    assert r.statistic == pytest.approx(-0.8 / np.sqrt(v), rel=1e-12)
    from scipy import stats

    assert r.pvalue == pytest.approx(2 * stats.norm.sf(abs(r.statistic)), rel=1e-9)


def test_stratified_comparison_instant_switch_is_not_separable():
    # v1 before hour 10, v2 after: no window holds both -> no concurrent comparison
    rows = [(h, "v1", True) for h in range(10) for _ in range(5)] + [(h, "v2", False) for h in range(10, 20) for _ in range(5)]
    r = stratified_comparison(_events(rows), metric="refused", kind="rate", arms=Arms("model_version", "v2"),
                              period=(T0, T0 + pd.Timedelta(hours=20)))
    assert r.windows_shared == 0 and np.isnan(r.statistic)


def test_infer_changes_finds_silent_versions_only():
    rows = [(h, "v1" if h < 30 else "v2", True) for h in range(60) for _ in range(3)]
    ev = _events(rows)
    ev["upstream_fingerprint"] = pd.array(["fp_a" if h < 40 else "fp_b" for h, _, _ in rows], dtype="string[pyarrow]")
    changes = pd.DataFrame(
        {
            "change_id": pd.array(["chg-1"], dtype="string[pyarrow]"),
            "ts": pd.to_datetime([T0 + pd.Timedelta(hours=30)], utc=True),
            "change_type": pd.array(["model_update"], dtype="string[pyarrow]"),
            "attribute": pd.array(["model_version"], dtype="string[pyarrow]"),
            "from_value": pd.array(["v1"], dtype="string[pyarrow]"),
            "to_value": pd.array(["v2"], dtype="string[pyarrow]"),
        }
    )
    inf = infer_changes(ev, changes)
    # the model update is logged; the fingerprint change is not -> one inferred change at hour 40
    assert list(inf["change_id"]) == ["inferred:upstream_fingerprint:fp_b"]
    assert inf["ts"].iat[0] == T0 + pd.Timedelta(hours=40, minutes=5)
    assert inf["change_type"].iat[0] == "upstream_api_change"
    assert inf["from_value"].iat[0] == "fp_a"
    # without a change log, both are inferred
    assert len(infer_changes(ev, None)) == 2


def _changes(*rows):
    """rows: (change_id, hour offset, change_type) -> a canonical-enough change log."""
    return pd.DataFrame(
        {
            "change_id": pd.array([r[0] for r in rows], dtype="string[pyarrow]"),
            "ts": pd.to_datetime([T0 + pd.Timedelta(hours=r[1]) for r in rows], utc=True),
            "change_type": pd.array([r[2] for r in rows], dtype="string[pyarrow]"),
        }
    )


def test_staleness_an_embedding_swap_is_not_its_own_rebuild():
    from analysis.investigation.evidence import staleness

    rows = [(h, "v1", False) for h in range(40) for _ in range(3)]
    ev = _events(rows)
    ev["index_version"] = pd.array(["idx-1"] * len(ev), dtype="string[pyarrow]")
    at, end = T0 + pd.Timedelta(hours=20), T0 + pd.Timedelta(hours=40)
    # the query embedder was swapped at hour 20 and the index never rebuilt: stale
    swap = _changes(("chg-emb", 20, "embedding_model_update"))
    st = staleness(ev, swap, at=at, end=end)
    assert st["checked"] and st["stale"] and not st["index_rebuilt"]
    # a logged rebuild after the swap ends the staleness; one before it does not
    assert not staleness(ev, _changes(("chg-emb", 20, "embedding_model_update"), ("chg-idx", 25, "index_rebuild")), at=at, end=end)["stale"]
    assert staleness(ev, _changes(("chg-idx", 5, "index_rebuild"), ("chg-emb", 20, "embedding_model_update")), at=at, end=end)["stale"]
    # the index version moving in the logs is a rebuild too
    ev.loc[ev["ts"] >= T0 + pd.Timedelta(hours=30), "index_version"] = "idx-2"
    assert not staleness(ev, swap, at=at, end=end)["stale"]


def _series(n, k):
    ws = pd.date_range(T0, periods=len(n), freq="1h", tz="UTC")
    return pd.DataFrame({"window_start": ws, "n": n, "successes": k, "rate": k / np.maximum(n, 1)})


def test_detect_onset_step_and_constant():
    # 300 hourly windows of binomial refusals at 99%, dropping to 60% at window 200 (seeded):
    # the onset is the step (within 2 windows), the effect is Cohen's h between the levels.
    rng = np.random.default_rng(2)
    n = rng.integers(20, 40, size=300)
    p = np.where(np.arange(300) >= 200, 0.60, 0.99)
    k = rng.binomial(n, p)
    o = detect_onset(_series(n, k), metric="refused", kind="rate", alternative="less")
    assert o.significant
    assert abs((o.ts - (T0 + pd.Timedelta(hours=200))) / pd.Timedelta(hours=1)) <= 2
    assert o.interval[0] <= o.ts <= o.interval[1]
    h = 2 * np.arcsin(np.sqrt(k[200:].sum() / n[200:].sum())) - 2 * np.arcsin(np.sqrt(k[:200].sum() / n[:200].sum()))
    assert o.effect == pytest.approx(h, abs=0.05)  # the onset may sit a window off the step
    # no onset on a constant rate (invariant: no alarm on an in-control series)
    k0 = rng.binomial(n, 0.99)
    assert not detect_onset(_series(n, k0), metric="refused", kind="rate", alternative="less").significant
    # a change the harmless way is not an incident when the bad direction is "less"
    k_up = rng.binomial(n, np.where(np.arange(300) >= 200, 0.999, 0.90))
    assert not detect_onset(_series(n, k_up), metric="refused", kind="rate", alternative="less").significant


def test_detect_onset_ramp_starts_before_the_change_point():
    # A 72-window linear ramp from 1% to 40% failures starting at window 300, then a plateau:
    # the change point alone sits inside the ramp; the reported onset must be within the first
    # third of the ramp (the benchmark's refusal window allows -12 h .. +36 h).
    rng = np.random.default_rng(8)
    N = 420
    n = rng.integers(30, 60, size=N)
    ramp = np.clip((np.arange(N) - 300) / 72, 0, 1)
    k = rng.binomial(n, 0.01 + 0.39 * ramp)
    o = detect_onset(_series(n, k), metric="escalated", kind="rate", alternative="greater")
    assert o.significant
    err = (o.ts - (T0 + pd.Timedelta(hours=300))) / pd.Timedelta(hours=1)
    assert -12 <= err <= 24, err


def test_exposure_is_observed_only_when_the_new_value_appears_at_the_change():
    from types import SimpleNamespace

    from analysis.engine import as_engine
    from analysis.investigation.ranking import _exposure

    # v2 from hour 10 on for every request: observed exposure (0% before, 100% in the 6 h after)
    rows = [(h, "v1", False) for h in range(10) for _ in range(4)] + [(h, "v2", False) for h in range(10, 20) for _ in range(4)]
    ctx = SimpleNamespace(eng=as_engine(_events(rows)), t_first=T0, reported_at=T0 + pd.Timedelta(hours=20), segment_where=None)
    at = T0 + pd.Timedelta(hours=10)
    ev = _exposure(ctx, "model_version", "v2", at)
    assert ev.value == 1.0 and ev.detail["exposure"]["share_before"] == 0.0 and ev.detail["exposure"]["n_after"] == 24
    # a change log entry claiming v2 three hours later than it appeared: already on 100% before it
    assert _exposure(ctx, "model_version", "v2", at + pd.Timedelta(hours=3)).value == 0.0
    # a value that never appears, a column the requests do not log, a change without an attribute
    assert _exposure(ctx, "model_version", "v3", at).value == 0.0
    assert _exposure(ctx, "index_version", "idx-2", at).value == 0.0 and _exposure(ctx, None, None, at).value == 0.0
    # a canary on 1 request in 4 (25% after): not the requests' exposure to a switch
    rows = [(h, "v1", False) for h in range(10) for _ in range(4)] + [(h, v, False) for h in range(10, 20) for v in ("v2", "v1", "v1", "v1")]
    ctx = SimpleNamespace(eng=as_engine(_events(rows)), t_first=T0, reported_at=T0 + pd.Timedelta(hours=20), segment_where=None)
    assert _exposure(ctx, "model_version", "v2", at).value == 0.0
