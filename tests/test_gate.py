"""The rollout gate (analysis/prevention/gate.py, analysis/stats/sequential.py).

Checked against independent values: the mixture likelihood ratio by numerical integration
(scipy.integrate.quad), the beta-binomial martingale as a ratio of scipy's beta-binomial and binomial
pmfs, the confidence-sequence bounds by brentq on those pmfs; error rates by seeded simulation,
with the naive fixed-sample z test (scipy.stats.norm) as the contrast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, stats

from analysis import cli
from analysis.prevention.gate import GateInputError, default_tolerances, evaluate_gate
from analysis import params as scope  # the tier tolerances live with the parameters
from analysis.scenarios import generate
from analysis.stats import sequential as seq

REPO = Path(__file__).resolve().parents[1]
CASE = REPO / "sample_data" / "refusal_regression"
TWIN = REPO / "sample_data" / "refusal_regression_baseline"
V1, V2 = "model_version=medtriage-v1", "model_version=medtriage-v2"


def _ramp_start(folder: Path) -> str:
    """The ramp begins at the truth's onset (the canary runs 96 h before it)."""
    return json.loads((folder / "truth.json").read_text())["onset"]


# ----------------------------------------------------------------------------------------------
# (c) values of the statistics, checked independently
# ----------------------------------------------------------------------------------------------


def test_harm_and_variance_by_hand() -> None:
    # treatment 3/10, control 20/100; smoothed 4/12 and 21/102
    harm, var = seq.harm_and_variance(3, 10, 20, 100, "greater")
    assert harm == pytest.approx(0.3 - 0.2)
    assert var == pytest.approx((4 / 12) * (8 / 12) / 10 + (21 / 102) * (81 / 102) / 100)
    harm_down, var_down = seq.harm_and_variance(3, 10, 20, 100, "less")
    assert harm_down == pytest.approx(-0.1) and var_down == pytest.approx(var)
    assert np.isnan(seq.harm_and_variance(0, 0, 1, 5)[0])


@pytest.mark.parametrize("harm,var,theta0,tau", [(0.12, 0.002, 0.0, 0.1), (0.05, 0.01, 0.02, 0.2), (-0.03, 0.004, 0.0, 0.05)])
def test_mixture_lr_matches_numerical_integration(harm: float, var: float, theta0: float, tau: float) -> None:
    # half-normal mixture over theta > theta0 of N(harm; theta, V) / N(harm; theta0, V)
    def integrand(theta: float) -> float:
        return 2 * stats.norm.pdf(theta, theta0, tau) * stats.norm.pdf(harm, theta, np.sqrt(var)) / stats.norm.pdf(harm, theta0, np.sqrt(var))

    lr, _ = integrate.quad(integrand, theta0, theta0 + 12 * tau)
    assert float(seq.log_mixture_lr(harm, var, theta0, tau)) == pytest.approx(np.log(lr), rel=1e-7)


def test_mixture_radius_is_where_the_lr_crosses_one_over_alpha() -> None:
    var, tau, alpha = 0.003, 0.1, 0.05 / 3
    r = float(seq.mixture_radius(var, tau, alpha))

    def integrand(theta: float) -> float:  # LR at theta0 = harm - r, for harm = 0
        return 2 * stats.norm.pdf(theta, -r, tau) * stats.norm.pdf(0.0, theta, np.sqrt(var)) / stats.norm.pdf(0.0, -r, np.sqrt(var))

    lr, _ = integrate.quad(integrand, -r, -r + 12 * tau)
    assert lr == pytest.approx(1 / alpha, rel=1e-6)


@pytest.mark.parametrize("x,n,p", [(7, 35, 0.011), (0, 20, 0.3), (659, 662, 0.99), (56, 405, 0.13)])
def test_beta_binomial_martingale_is_the_ratio_of_pmfs(x: int, n: int, p: float) -> None:
    ratio = stats.betabinom.pmf(x, n, 1, 1) / stats.binom.pmf(x, n, p)
    assert float(seq.log_beta_binomial_martingale(p, x, n)) == pytest.approx(np.log(ratio), rel=1e-9)


def _scipy_cs(x: int, n: int, alpha: float) -> tuple[float, float]:
    """The bounds where betabinom/binom = 1/alpha, by brentq on each side of x/n."""
    f = lambda p: np.log(stats.betabinom.pmf(x, n, 1, 1)) - stats.binom.logpmf(x, n, p) - np.log(1 / alpha)  # noqa: E731
    ph = x / n
    lo = 0.0 if x == 0 else optimize.brentq(f, 1e-12, ph, xtol=1e-13)
    hi = 1.0 if x == n else optimize.brentq(f, ph, 1 - 1e-12, xtol=1e-13)
    return lo, hi


@pytest.mark.parametrize("x,n", [(21, 27), (0, 40), (603, 606), (5, 5)])
def test_beta_binomial_cs_bounds_match_scipy(x: int, n: int) -> None:
    lo, hi = seq.beta_binomial_cs(x, n, 0.01)
    exp_lo, exp_hi = _scipy_cs(x, n, 0.01)
    assert float(lo) == pytest.approx(exp_lo, abs=1e-9)
    assert float(hi) == pytest.approx(exp_hi, abs=1e-9)


def _events(rows: list[tuple[str, str, int, int]], start: str = "2026-02-01T00:00:00Z", hours: float = 1.0) -> pd.DataFrame:
    """Events for (arm, tier, n, x): n events of which x refused, spread over ``hours``."""
    parts = []
    for arm, tier, n, x in rows:
        ts = pd.Timestamp(start) + pd.to_timedelta(np.linspace(0, hours * 3600 - 1, n), unit="s")
        parts.append(pd.DataFrame({"ts": ts, "model_version": arm, "risk_category": tier, "refused": [True] * x + [False] * (n - x)}))
    ev = pd.concat(parts, ignore_index=True).sort_values("ts", kind="stable").reset_index(drop=True)
    ev.insert(0, "event_id", [f"e{i}" for i in range(len(ev))])
    return ev


def test_gate_at_one_look_reports_counts_and_bounds_checked_with_scipy() -> None:
    ev = _events([("A", "high", 600, 597), ("B", "high", 30, 24), ("A", "low", 900, 9), ("B", "low", 50, 1)])
    r = evaluate_gate(ev, control="model_version=A", treatment="model_version=B", method="exact")
    assert len(r.looks) == 1
    high = next(t for t in r.last.tiers if t.tier == "high")
    assert (high.n_control, high.x_control, high.n_treatment, high.x_treatment) == (600, 597, 30, 24)
    assert high.harm == pytest.approx(597 / 600 - 24 / 30)
    # alternative less: harm = p_C - p_T; lower = L_C - U_T at alpha / (2 K), K = 2 tiers
    lc, _ = _scipy_cs(597, 600, 0.05 / 4)
    _, ut = _scipy_cs(24, 30, 0.05 / 4)
    assert high.lower == pytest.approx(lc - ut, abs=1e-8)
    assert high.tolerance == scope.PATTERN_RISK_THRESHOLDS["refusal"]["high"]
    assert r.decision == "hold" and high.status == "worse" and high.p_worse <= 0.05


def test_default_tolerances_are_the_scope_steps() -> None:
    assert default_tolerances("refused", ["high", "medium", "low"]) == scope.PATTERN_RISK_THRESHOLDS["refusal"]
    assert default_tolerances("escalated", ["odd"]) == {"odd": scope.PATTERN_RISK_THRESHOLDS["escalation"][scope.DEFAULT_TIER]}
    assert default_tolerances("other", ["low"]) == {"low": scope.DEFAULT_RISK_THRESHOLDS["low"]}


# ----------------------------------------------------------------------------------------------
# (a) type-I error by simulation: always valid; the naive z test at every look is not
# ----------------------------------------------------------------------------------------------


def _simulate(p_c: float, p_t: float, n_c: float, n_t: float, *, looks: int, runs: int, seed: int):
    """Cumulative counts per look x run, with Poisson arrivals per look."""
    rng = np.random.default_rng(seed)
    nc, nt = rng.poisson(n_c, (looks, runs)), rng.poisson(n_t, (looks, runs))
    xc, xt = rng.binomial(nc, p_c), rng.binomial(nt, p_t)
    return tuple(a.cumsum(axis=0) for a in (xt, nt, xc, nc))


def _naive_ever(xt, nt, xc, nc, alpha: float) -> float:
    """A one-sided pooled two-proportion z test at level alpha, checked at every look."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = (xt + xc) / (nt + nc)
        z = (xt / nt - xc / nc) / np.sqrt(p * (1 - p) * (1 / nt + 1 / nc))
    return float((np.nan_to_num(z) > stats.norm.isf(alpha)).any(axis=0).mean())


@pytest.mark.parametrize("n_c,n_t", [(95, 5), (20, 20)])
def test_msprt_never_rejects_more_than_alpha_over_100_looks(n_c: float, n_t: float) -> None:
    alpha = 0.05
    xt, nt, xc, nc = _simulate(0.3, 0.3, n_c, n_t, looks=100, runs=2000, seed=7)
    r = seq.mixture_sprt(xt, nt, xc, nc, tolerance=0.0, alternative="greater", alpha=alpha)
    ever = float(r.worse.any(axis=0).mean())
    assert ever <= alpha
    assert float((r.p_worse[-1] <= alpha).mean()) == ever  # the running p-value says the same
    assert _naive_ever(xt, nt, xc, nc, alpha) > 3 * alpha  # peeking at a fixed-sample test


@pytest.mark.parametrize("p,n_c,n_t", [(0.3, 95, 5), (0.01, 150, 8)])
def test_exact_bounds_never_reject_more_than_alpha_over_100_looks(p: float, n_c: float, n_t: float) -> None:
    alpha = 0.05
    xt, nt, xc, nc = _simulate(p, p, n_c, n_t, looks=100, runs=2000, seed=11)
    hb = seq.exact_harm_bounds(xt, nt, xc, nc, tolerance=0.0, alternative="greater", alpha=alpha)
    assert float(hb.worse.any(axis=0).mean()) <= alpha
    assert _naive_ever(xt, nt, xc, nc, alpha) > 3 * alpha


def test_the_family_over_three_case_like_tiers_keeps_alpha() -> None:
    # the refusal case's tiers (rates 0.99, 0.13, 0.006; 5% canary), no effect, Bonferroni over K = 3.
    # (msprt's normal approximation is not enough here: with a few treatment events at a 13% rate
    # its plug-in variance shrinks with the estimate, and it rejects ~5% in that tier alone.)
    alpha, k, runs = 0.05, 3, 1000
    tiers = [(0.99, 7.0, 0.37), (0.13, 95.0, 5.0), (0.006, 120.0, 6.0)]
    ever = np.zeros(runs, dtype=bool)
    for i, (p, n_c, n_t) in enumerate(tiers):
        xt, nt, xc, nc = _simulate(p, p, n_c, n_t, looks=96, runs=runs, seed=100 + i)
        ever |= seq.exact_harm_bounds(xt, nt, xc, nc, alternative="less", alpha=alpha / k).worse.any(axis=0)
    assert ever.mean() <= alpha


# ----------------------------------------------------------------------------------------------
# (b) power under the case's effect
# ----------------------------------------------------------------------------------------------


def test_holds_under_the_case_effect_at_the_real_volume() -> None:
    # high tier, magnitude 1: refusal 0.99 -> ~0.80 in v2 (a fifth of high-risk traffic stops being
    # refused); the real volume is ~20x the sample data's: ~140 control and ~7.4 treatment requests an hour
    alpha, k = 0.05, 3
    xt, nt, xc, nc = _simulate(0.99, 0.80, 140.0, 7.4, looks=96, runs=1000, seed=5)
    hb = seq.exact_harm_bounds(xt, nt, xc, nc, tolerance=0.001, alternative="less", alpha=alpha / k)
    held = hb.worse.any(axis=0)
    assert held.mean() >= 0.99
    first = hb.worse.argmax(axis=0) + 1
    assert np.median(first[held]) <= 24  # within the mandated 24-hour canary


def test_the_sample_case_canary_says_hold_but_its_twin_does_not() -> None:
    end = _ramp_start(CASE)
    case = evaluate_gate(str(CASE / "events.parquet"), control=V1, treatment=V2, every="1h", end=end)
    twin = evaluate_gate(str(TWIN / "events.parquet"), control=V1, treatment=V2, every="1h", end=end)
    assert case.decision == "hold" and case.first_hold.at < pd.Timestamp(end)
    assert [t.tier for t in case.last.tiers if t.status == "worse"] == ["high"]
    assert twin.decision == "continue"


# ----------------------------------------------------------------------------------------------
# (e) the replay on the refusal case, generated
# ----------------------------------------------------------------------------------------------


def test_replay_on_the_refusal_case_holds_before_the_ramp() -> None:
    sc = generate("refusal", seed=0)
    ramp_start = sc.truth.onset  # 5% until the onset, then the 72 h ramp
    change = sc.changes.set_index("change_id").loc[sc.truth.cause_change_id]
    assert pd.Timestamp(change["ts_end"]) - ramp_start == pd.Timedelta(hours=72)
    r = evaluate_gate(sc.events, control=V1, treatment=V2, every="1h", end=ramp_start)
    hold = r.first_hold
    assert r.decision == "hold" and hold is not None and hold.at < ramp_start
    assert r.canary_start == sc.events.loc[sc.events["model_version"] == "medtriage-v2", "ts"].min()
    affected = sc.events[sc.events["event_id"].isin(set(sc.truth.affected_event_ids))]
    prevented = int((affected["ts"] >= hold.at).sum())
    assert prevented == len(sc.truth.affected_event_ids) > 0  # every affected request came after the hold
    print(f"refusal seed 0: hold {hold.hours:.1f} h into the canary, {prevented} affected requests prevented")


# ----------------------------------------------------------------------------------------------
# decisions and errors of the API
# ----------------------------------------------------------------------------------------------


def test_promote_when_every_tier_is_within_tolerance() -> None:
    ev = _events([("A", "high", 4000, 400), ("B", "high", 4000, 400), ("A", "low", 4000, 40), ("B", "low", 4000, 40)])
    r = evaluate_gate(ev, control="model_version=A", treatment="model_version=B", tolerances={"high": 0.1, "low": 0.05})
    assert r.decision == "promote" and r.exit_code == 0
    assert all(t.upper < t.tolerance for t in r.last.tiers)


def test_a_tier_missing_from_an_arm_blocks_promote() -> None:
    ev = _events([("A", "high", 4000, 400), ("B", "high", 4000, 400), ("A", "low", 4000, 40)])
    r = evaluate_gate(ev, control="model_version=A", treatment="model_version=B", tolerances={"high": 0.1, "low": 0.05})
    assert r.decision == "continue" and r.exit_code == 3
    assert {t.tier: t.status for t in r.last.tiers}["low"] == "no_data"


def test_replay_stops_at_the_first_decision() -> None:
    ev = _events([("A", "high", 2000, 1980), ("B", "high", 400, 200)], hours=10)
    r = evaluate_gate(ev, control="model_version=A", treatment="model_version=B", every="1h")
    assert r.decision == "hold" and r.looks[-1].index == len(r.looks) < 10
    assert all(lk.decision == "continue" for lk in r.looks[:-1])


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"treatment": "model_version=C"}, "no events with model_version='C'"),
        ({"treatment": "model_version"}, "expected COLUMN=VALUE"),
        ({"by": "tier"}, "--by: column 'tier' is not in the events"),
        ({"metric": "risk_category"}, "boolean outcome"),
        ({"metric": "refused", "tolerances": {"urgent": 0.1}}, "tier(s) ['urgent'] not in"),
        ({"every": "soon"}, "--every"),
        ({"alpha": 1.5}, "--alpha"),
        ({"control": "model_version=B"}, "the same arm"),
        ({"end": "2026-02-01T00:00:00"}, "--end"),
    ],
)
def test_bad_input_names_what_is_wrong(kwargs: dict, message: str) -> None:
    ev = _events([("A", "high", 10, 9), ("B", "high", 10, 9)])
    args = {"control": "model_version=A", "treatment": "model_version=B", **kwargs}
    with pytest.raises(GateInputError, match=None) as exc:
        evaluate_gate(ev, **args)
    assert message in str(exc.value)


def test_an_unknown_metric_needs_an_explicit_alternative() -> None:
    ev = _events([("A", "high", 10, 9), ("B", "high", 10, 9)]).rename(columns={"refused": "flag"})
    with pytest.raises(GateInputError, match="pass --alternative"):
        evaluate_gate(ev, control="model_version=A", treatment="model_version=B", metric="flag")
    r = evaluate_gate(ev, control="model_version=A", treatment="model_version=B", metric="flag", alternative="greater")
    assert r.alternative == "greater"


# ----------------------------------------------------------------------------------------------
# (d) the command line: exit codes, JSON on stdout, the human line on stderr, errors
# ----------------------------------------------------------------------------------------------


def test_cli_hold_on_the_case_canary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["gate", "--events", str(CASE / "events.parquet"), "--control", V1, "--treatment", V2, "--metric", "refused",
                     "--by", "risk_category", "--every", "1h", "--end", _ramp_start(CASE), "--out", str(tmp_path)])
    out = capsys.readouterr()
    assert code == 1
    doc = json.loads(out.out)
    assert doc["decision"] == "hold" and doc["exit_code"] == 1 and doc["first_hold"]["hours_into_canary"] < 96
    assert out.err.startswith("gate: HOLD at look") and "risk_category=high" in out.err
    assert json.loads((tmp_path / "gate.json").read_text())["decision"] == "hold"
    looks = pd.read_csv(tmp_path / "gate_looks.csv")
    assert looks["look"].max() == doc["looks"] and set(looks["tier"]) == {"high", "medium", "low"}


def test_cli_continue_on_the_twin(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["gate", "--events", str(TWIN / "events.parquet"), "--control", V1, "--treatment", V2, "--end", _ramp_start(TWIN)])
    assert code == 3
    assert json.loads(capsys.readouterr().out)["decision"] == "continue"


def test_cli_promote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "canary.parquet"
    _events([("A", "high", 4000, 400), ("B", "high", 4000, 400)]).to_parquet(path)
    code = cli.main(["gate", "--events", str(path), "--control", "model_version=A", "--treatment", "model_version=B",
                     "--tolerance", "high=0.1", "--method", "msprt"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["method"] == "msprt"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--treatment", "model_version=medtriage-v9"], "error: --treatment: no events with model_version='medtriage-v9'"),
        (["--by", "tier"], "error: --by: column 'tier' is not in the events"),
        (["--metric", "latency_ms"], "error: --metric: column 'latency_ms' holds float values"),
        (["--tolerance", "high=2"], "error: --tolerance 'high=2': the tolerance must be in [0, 1)"),
        (["--every", "0h"], "error: --every"),
    ],
)
def test_cli_bad_input_exits_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = {"--events": str(CASE / "events.parquet"), "--control": V1, "--treatment": V2}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = ["gate", *[x for kv in base.items() for x in kv]]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and "Traceback" not in err


def test_cli_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["gate", "--events", str(tmp_path / "none.parquet"), "--control", V1, "--treatment", V2]) == 2
    assert "file not found" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--events", "--control", "--treatment", "--metric", "--by", "--alternative", "--alpha",
                                  "--tolerance", "--every", "--horizon", "--start", "--end", "--method", "--tau", "--out",
                                  "--engine"])
def test_cli_help_documents_every_option(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["gate", "--help"])
    assert exc.value.code == 0
    assert flag in capsys.readouterr().out


def test_python_m_analysis_gate_exit_code_and_streams() -> None:
    out = subprocess.run([sys.executable, "-m", "analysis", "gate", "--events", str(CASE / "events.parquet"), "--control", V1,
                          "--treatment", V2, "--end", _ramp_start(CASE)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 1
    assert json.loads(out.stdout)["decision"] == "hold"
    assert out.stderr.startswith("gate: HOLD") and out.stderr.count("\n") == 1


def test_cli_reads_the_old_direction_flag_with_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    """`--direction down` (before sidedness was spelled `--alternative`) still gates the same way."""
    args = ["gate", "--events", str(CASE / "events.parquet"), "--control", V1, "--treatment", V2, "--metric", "refused",
            "--end", _ramp_start(CASE)]
    new = cli.main([*args, "--alternative", "less"])
    new_doc = json.loads(capsys.readouterr().out)
    old = cli.main([*args, "--direction", "down"])
    out = capsys.readouterr()
    assert old == new and json.loads(out.out)["decision"] == new_doc["decision"]
    assert json.loads(out.out)["alternative"] == "less"
    assert "note: --direction down is deprecated; write --alternative less" in out.err


def test_cli_derives_the_missing_label_from_the_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A canary logged without `refused`: the gate derives it from the answers. The rule misses the
    soft redirects on purpose (its recall on this case's high tier is about 0.95), so the evidence is
    weaker than on the labelled log, which holds: the gate must still never promote this canary."""
    bare = tmp_path / "bare.parquet"
    import pyarrow.parquet as pq

    t = pq.read_table(CASE / "events.parquet")
    pq.write_table(t.drop_columns([c for c in ("refused", "escalated", "correct", "hallucinated") if c in t.column_names]), bare)
    args = ["--control", V1, "--treatment", V2, "--metric", "refused", "--by", "risk_category", "--every", "1h",
            "--end", _ramp_start(CASE)]
    labelled = cli.main(["gate", "--events", str(CASE / "events.parquet"), *args])
    capsys.readouterr()
    code = cli.main(["gate", "--events", str(bare), *args])
    out = capsys.readouterr()
    assert labelled == 1 and code in (1, 3) and json.loads(out.out)["decision"] in ("hold", "continue")
    assert "note: refused is not logged: derived from the text" in out.err


# ----------------------------------------------------------------------------------------------
# the issue's motivating canary, through the command
# ----------------------------------------------------------------------------------------------


def _write_motivating_canary(path: Path) -> None:
    """24 hours at 25% canary, three tiers, as a user's JSONL export: in the high tier control refused
    80 of 81 questions and the new model 20 of 25; medium and low behave the same in both arms.
    Arrival times and the order of the outcomes are drawn with a fixed seed."""
    rng = np.random.default_rng(20)
    start = pd.Timestamp("2026-03-02T00:00:00Z")
    rows = []
    for arm, tier, n, x in [("medtriage-v1", "high", 81, 80), ("medtriage-v2", "high", 25, 20), ("medtriage-v1", "medium", 900, 117),
                            ("medtriage-v2", "medium", 300, 39), ("medtriage-v1", "low", 1500, 9), ("medtriage-v2", "low", 500, 3)]:
        ts = start + pd.to_timedelta(np.sort(rng.uniform(0, 24 * 3600, n)), unit="s")
        refused = rng.permutation([True] * x + [False] * (n - x))
        rows += [{"ts": t.isoformat().replace("+00:00", "Z"), "model_version": arm, "risk_category": tier, "refused": bool(r)}
                 for t, r in zip(ts, refused)]
    rows.sort(key=lambda r: r["ts"])
    path.write_text("".join(json.dumps({"event_id": f"req-{i:05d}", **r}) + "\n" for i, r in enumerate(rows)))


def test_the_issues_canary_holds_through_the_command(tmp_path: Path) -> None:
    """Fisher's one-sided exact test on the high tier's 80/81 vs 20/25 gives p = 0.0026 (scipy), below
    0.05/3; the gate must not say CONTINUE (the beta-binomial sequences could not decide)."""
    from scipy import stats

    assert stats.fisher_exact([[80, 1], [20, 5]], alternative="greater").pvalue == pytest.approx(0.0026, abs=1e-4)
    path = tmp_path / "canary.jsonl"
    _write_motivating_canary(path)
    out = subprocess.run([sys.executable, "-m", "analysis", "gate", "--events", str(path), "--control", "model_version=medtriage-v1",
                          "--treatment", "model_version=medtriage-v2", "--out", str(tmp_path / "gate")],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    assert doc["decision"] == "hold" and doc["method"] == "obf" and doc["every"] == "1h" and doc["horizon_hours"] == 24.0
    assert doc["first_hold"]["hours_into_canary"] <= 24
    high = next(t for t in doc["tiers"] if t["tier"] == "high")
    assert high["status"] == "worse" and high["test"] == "exact" and high["p_worse"] <= high["level"]
    assert "high" in doc["exact_tiers"]
    assert "risk_category=high" in out.stderr and "by the exact test" in out.stderr
    # every look replayed, each with its decision and bounds
    assert [h["look"] for h in doc["history"]] == list(range(1, doc["looks"] + 1))
    assert all(h["decision"] == "continue" for h in doc["history"][:-1])
    assert all(t["lower"] is not None for h in doc["history"] for t in h["tiers"] if t["test"] in ("normal", "exact"))
    looks = pd.read_csv(tmp_path / "gate" / "gate_looks.csv")
    assert {"boundary", "level", "test", "lower", "upper", "decision"} <= set(looks.columns)
    # at its one look at the end, with all 24 hours, the gate holds too
    full = evaluate_gate(str(path), control="model_version=medtriage-v1", treatment="model_version=medtriage-v2", every=None)
    assert full.decision == "hold" and len(full.looks) == 1
    totals = next(t for t in full.last.tiers if t.tier == "high")
    assert (totals.x_control, totals.n_control, totals.x_treatment, totals.n_treatment) == (80, 81, 20, 25)
