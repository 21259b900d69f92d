"""The rollout gate's power table: hold probability and decision time per method, against the oracle.

Run: ``.venv/bin/python benchmarks/gate.py [--runs 400] [--null-runs 2000] [--seed 20]`` (a few
minutes on 2 cores; the log of the run the README quotes is ``benchmarks/logs/gate.txt``). The
refusal case's replay over generated seeds is ``benchmarks/gate_replay.py``.

One tier, looked at every hour for 24 hours. Cases: harms of 2, 5, 10 and 20 points; control
rates 0.01, 0.1, 0.5, 0.9 and 0.99 (the harm moves the treatment's rate towards 0.5: up from
0.01 and 0.1, down from 0.5, 0.9 and 0.99, as the refusal case's high tier); canaries of 5% and
25% of 1k, 3k and 10k requests a day in the tier. Arrivals are the day's volume spread evenly over
the hours (the same counts in every run, so the exact test's enumerations are shared); outcomes
are Bernoulli, seeded per case. The margin is the refusal high tier's tolerance, 0.001, and every
method runs at ``alpha / K`` = 0.05 / 3 (the gate's share for one of three tiers), like the oracle.

Methods:

* ``obf``: the gate's default (:func:`analysis.stats.group_sequential.noninferiority_looks`):
  Farrington-Manning score statistic, Lan-DeMets O'Brien-Fleming-type spending over the 24 h,
  exact unconditional score test at looks whose arms expect fewer than 10 outcome or
  non-outcome events;
* ``msprt``: the one-sided mixture SPRT (:func:`analysis.stats.sequential.mixture_sprt`) with its
  mixing scale set from the base rate and the margin: ``tau = max(margin, sqrt(V_H (-2 log a +
  log(1 - 2 log a))))``, ``V_H`` the harm's variance at the horizon at the base rate (the scale
  that makes the boundary tightest at the end, Waudby-Smith et al. 2023, eq. (14));
* ``acs``: the asymptotic confidence sequence of Waudby-Smith, Arnold, Wu, Howard & Ramdas (2023,
  "Time-uniform central limit theory", Theorem 2.2, Gaussian mixture, two-sided at ``a``) on the
  harm, ``rho`` tuned to the horizon the same way;
* ``bbcs``: the previous default, beta-binomial mixture confidence sequences per arm (union bound);
* ``oracle``: Fisher's exact one-sided test at ``a``, once, at the end of the canary (equality,
  not the margin; ``scipy.stats.hypergeom``, checked against ``scipy.stats.fisher_exact``).

Printed: per case, each method's hold probability (runs with a ``hold`` at some look) and the
median decision time in hours (runs that held); then the type-I error under hourly looks at the
margin (the least favourable null, harm = 0.001) with ``--null-runs`` runs per case, and the
summary against the issue's targets (hold probability >= 0.8 wherever the oracle's power >= 0.95;
type-I error <= a). Nothing here asserts: read the figures.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only contend
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.stats import group_sequential as gsq  # noqa: E402
from analysis.stats import sequential as seq  # noqa: E402

ALPHA, K, MARGIN, HOURS = 0.05, 3, 0.001, 24
LEVEL = ALPHA / K
EFFECTS = (0.02, 0.05, 0.10, 0.20)
BASES = (0.01, 0.1, 0.5, 0.9, 0.99)
SHARES = (0.05, 0.25)
VOLUMES = (1000, 3000, 10000)
METHODS = ("obf", "msprt", "acs", "bbcs")


def arrivals(volume: int, share: float) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative treatment and control requests at each hourly look (the day's volume spread evenly)."""
    k = np.arange(1, HOURS + 1)
    return np.round(volume * share * k / HOURS), np.round(volume * (1 - share) * k / HOURS)


def direction(base: float) -> str:
    """The harm moves the treatment's rate towards 0.5: ``greater`` below it, ``less`` from it up."""
    return "greater" if base < 0.5 else "less"


def simulate(n_t: np.ndarray, n_c: np.ndarray, p_t: float, p_c: float, runs: int, rng: np.random.Generator):
    """Cumulative outcome counts per look x run."""
    dt, dc = np.diff(n_t, prepend=0).astype(int), np.diff(n_c, prepend=0).astype(int)
    x_t = rng.binomial(dt[:, None], p_t, size=(len(dt), runs)).cumsum(axis=0)
    x_c = rng.binomial(dc[:, None], p_c, size=(len(dc), runs)).cumsum(axis=0)
    return x_t, x_c


def _scale_at_horizon(base: float, n_t: float, n_c: float) -> float:
    """The mixing scale that makes a normal-mixture boundary tightest at the horizon."""
    v = base * (1 - base) * (1 / n_t + 1 / n_c)
    return float(np.sqrt(v * (-2 * np.log(LEVEL) + np.log(1 - 2 * np.log(LEVEL)))))


def acs_worse(x_t, n_t, x_c, n_c, alt: str, base: float) -> np.ndarray:
    """Waudby-Smith et al. (2023), Theorem 2.2: ``mean +- sqrt(2 (t s^2 r^2 + 1) / (t^2 r^2) log(sqrt(t s^2 r^2 + 1) / a))``
    on the harm, with ``t`` requests, ``s^2 = t V`` (``V`` the harm's plug-in variance) and ``r``
    optimal at the horizon's ``t*``: ``r^2 = (-2 log a + log(1 - 2 log a)) / (t* s*^2)``."""
    harm, v = seq.harm_and_variance(x_t, n_t, x_c, n_c, alt)
    t = n_t + n_c
    s2 = t * v
    t_star = n_t[-1] + n_c[-1]
    s2_star = t_star * base * (1 - base) * (1 / n_t[-1] + 1 / n_c[-1])
    r2 = (-2 * np.log(LEVEL) + np.log(1 - 2 * np.log(LEVEL))) / (t_star * s2_star)
    radius = np.sqrt(2 * (t * s2 * r2 + 1) / (t * t * r2) * np.log(np.sqrt(t * s2 * r2 + 1) / LEVEL))
    return harm - radius > MARGIN


def oracle_power(x_t, n_t, x_c, n_c, alt: str) -> float:
    """Fisher's exact one-sided test at the end: the treatment's count given the margins is hypergeometric."""
    xt, xc, nt, nc = x_t[-1], x_c[-1], int(n_t[-1]), int(n_c[-1])
    hg = stats.hypergeom(nt + nc, xt + xc, nt)
    p = hg.sf(xt - 1) if alt == "greater" else hg.cdf(xt)
    return float((p <= LEVEL).mean())


def _check_oracle() -> None:
    """The vectorised oracle against scipy.stats.fisher_exact on a few tables."""
    for xt, nt, xc, nc, alt in ((20, 25, 80, 81, "less"), (9, 50, 30, 950, "greater"), (3, 10, 1, 30, "greater")):
        table = [[xt, nt - xt], [xc, nc - xc]]
        ref = stats.fisher_exact(table, alternative=alt).pvalue
        hg = stats.hypergeom(nt + nc, xt + xc, nt)
        mine = hg.sf(xt - 1) if alt == "greater" else hg.cdf(xt)
        assert abs(mine - ref) < 1e-12 * max(1.0, ref), (table, mine, ref)


def run_case(base: float, share: float, volume: int, harm: float, runs: int, seed: tuple[int, ...]) -> dict:
    """Every method on ``runs`` simulated canaries of one case (outcomes from ``default_rng(seed)``)."""
    rng = np.random.default_rng(list(seed))
    alt = direction(base)
    p_t = base + harm if alt == "greater" else base - harm
    n_t, n_c = arrivals(volume, share)
    x_t, x_c = simulate(n_t, n_c, p_t, base, runs, rng)
    nt, nc = (np.broadcast_to(a[:, None], x_t.shape) for a in (n_t, n_c))
    tau = max(MARGIN, _scale_at_horizon(base, n_t[-1], n_c[-1]))
    worse = {
        "obf": gsq.noninferiority_looks(x_t, nt, x_c, nc, times=np.arange(1, HOURS + 1) / HOURS, tolerance=MARGIN,
                                        alternative=alt, alpha=LEVEL, detail=False).worse,
        "msprt": seq.mixture_sprt(x_t, nt, x_c, nc, tolerance=MARGIN, alternative=alt, alpha=LEVEL, tau=tau).worse,
        "acs": acs_worse(x_t, nt, x_c, nc, alt, base),
        "bbcs": seq.exact_harm_bounds(x_t, nt, x_c, nc, tolerance=MARGIN, alternative=alt, alpha=LEVEL).worse,
    }
    out = {"base": base, "share": share, "volume": volume, "harm": harm, "n_t": int(n_t[-1]), "n_c": int(n_c[-1]),
           "oracle": oracle_power(x_t, n_t, x_c, n_c, alt)}
    for m, w in worse.items():
        held = w.any(axis=0)
        hours = w.argmax(axis=0)[held] + 1
        out[m] = float(held.mean())
        out[f"{m}_hours"] = float(np.median(hours)) if held.any() else float("nan")
    return out


def _fmt_row(r: dict) -> str:
    cells = [f"{r['base']:g}", f"{r['share']:.0%}", f"{r['volume']}", f"{r['n_t']}/{r['n_c']}", f"{r['harm']:.3f}",
             f"{r['oracle']:.2f}"]
    for m in METHODS:
        h = r[f"{m}_hours"]
        cells.append(f"{r[m]:.2f}" + ("" if np.isnan(h) else f" ({h:.0f} h)"))
    return "| " + " | ".join(cells) + " |"


def _header() -> str:
    cols = ["base", "canary", "requests/day", "n treatment/control at 24 h", "harm", "oracle power"]
    cols += [f"{m} hold (median h)" for m in METHODS]
    return "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols)


def _cases():
    return [(b, s, v) for b in BASES for s in SHARES for v in VOLUMES]


def _table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}\n")
    print(_header())
    for r in rows:
        print(_fmt_row(r), flush=True)


def summary(power: list[dict], null: list[dict], null_runs: int) -> None:
    """The issue's targets, per method."""
    print(f"\nsummary (alpha {ALPHA} over K = {K} tiers: each test at {LEVEL:.4f}; margin {MARGIN}):")
    strong = [r for r in power if r["oracle"] >= 0.95]
    se = np.sqrt(LEVEL * (1 - LEVEL) / null_runs)
    for m in METHODS:
        ok = sum(r[m] >= 0.8 for r in strong)
        worst = min(strong, key=lambda r: r[m])
        t1 = max(null, key=lambda r: r[m])
        mean_t1 = np.mean([r[m] for r in null])
        print(f"  {m:6s}: hold >= 0.8 in {ok}/{len(strong)} cases where the oracle's power >= 0.95 (lowest {worst[m]:.2f}: "
              f"base {worst['base']:g}, {worst['share']:.0%} of {worst['volume']}/day, harm {worst['harm']:.2f}); "
              f"type-I error under hourly looks: max {t1[m]:.4f} (base {t1['base']:g}, {t1['share']:.0%} of {t1['volume']}/day), "
              f"mean {mean_t1:.4f} over {len(null)} cases (target <= {LEVEL:.4f}; one case's Monte Carlo s.e. {se:.4f})")
    print(f"  oracle: Fisher's exact test once at 24 h, at {LEVEL:.4f}; its rejection rate at the margin: max "
          f"{max(r['oracle'] for r in null):.4f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=400, help="simulated canaries per power case (default 400)")
    ap.add_argument("--null-runs", type=int, default=2000, help="simulated canaries per null case (default 2000)")
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    args = ap.parse_args(argv)
    _check_oracle()
    t0 = time.perf_counter()
    tasks = []
    for i, (b, s, v) in enumerate(_cases()):
        tasks.append((b, s, v, MARGIN, args.null_runs, (args.seed, i, 0)))
        tasks += [(b, s, v, e, args.runs, (args.seed, i, j + 1)) for j, e in enumerate(EFFECTS)]
    with multiprocessing.Pool(args.jobs) as pool:
        results = pool.starmap(run_case, tasks)
    null = [r for r in results if r["harm"] == MARGIN]
    power = [r for r in results if r["harm"] != MARGIN]
    _table(f"Power: {args.runs} runs per case, hourly looks for 24 h (hold probability; median hours to hold)", power)
    _table(f"Type-I error at the margin (harm = {MARGIN}): {args.null_runs} runs per case (hold probability)", null)
    summary(power, null, args.null_runs)
    print(f"\n{time.perf_counter() - t0:.0f} s (seed {args.seed})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
