"""Control-chart speed (and, run alone, calibration) for ``benchmarks/stats.py``.

Run alone: ``.venv/bin/python benchmarks/_stats_spc.py`` prints the timing table and a calibration
table. Timings are medians of 3 runs. Each batch chart is compared with a plain Python loop of the
same recursion run in the same process on 200,000 points and scaled linearly to the benchmark size
(a loop over 10 million points would take ~10 s per repeat; the loop cost is linear in n). Target
from the statistics issue: tabular CUSUM and EWMA over 10,000,000 points under 1 s each.
Nothing here asserts.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.stats import spc  # noqa: E402
from _stats_common import median_time, print_table  # noqa: E402

N = 10_000_000
N_LOOP = 200_000
REPEATS = 3


def _median_time(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    return median_time(fn, repeats)[0]


def _loop_cusum(x: np.ndarray, k: float, h: float) -> int:
    cp = cm = 0.0
    alarms = 0
    for v in x.tolist():
        cp = max(0.0, cp + v - k)
        cm = max(0.0, cm - v - k)
        if cp > h or cm > h:
            alarms += 1
    return alarms


def _loop_ewma(x: np.ndarray, lam: float, L: float) -> int:
    z, alarms, t = 0.0, 0, 0
    c = lam / (2 - lam)
    for v in x.tolist():
        t += 1
        z = lam * v + (1 - lam) * z
        w = L * math.sqrt(c * (1 - (1 - lam) ** (2 * t)))
        if z > w or z < -w:
            alarms += 1
    return alarms


def _loop_bernoulli(f: np.ndarray, a: float, b: float, h: float) -> int:
    s, alarms = 0.0, 0
    for v in f.tolist():
        s = max(0.0, s + (a if v else b))
        if s > h:
            alarms += 1
    return alarms


def run() -> list[dict]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=N)
    flags = rng.random(N) < 0.1
    h_cal = spc.cusum_h_for_arl(10_000, k=0.5)
    a, b = math.log(0.05 / 0.1), math.log(0.95 / 0.9)
    rows: list[dict] = []

    def row(case: str, fn: Callable[[], object], loop: Callable[[], object] | None, target: str = "") -> None:
        t = _median_time(fn)
        r = {"case": case, "n": f"{N:,}", "median_s": f"{t:.3f}", "target": target}
        if loop is not None:
            tl = _median_time(loop, 1) * (N / N_LOOP)
            r.update({"python_loop_s (scaled)": f"{tl:.1f}", "speedup": f"{tl / t:.0f}x"})
        rows.append(r)

    row("tabular_cusum (two-sided, k=0.5, h=5)", lambda: spc.tabular_cusum(x, target=0.0, k=0.5, h=5.0),
        lambda: _loop_cusum(x[:N_LOOP], 0.5, 5.0), "< 1 s")
    row(f"tabular_cusum reset=True (h={h_cal:.2f}, ARL0 1e4)",
        lambda: spc.tabular_cusum(x, target=0.0, k=0.5, h=h_cal, reset=True), None)
    row("ewma_chart (lam=0.2, L=3, exact limits)", lambda: spc.ewma_chart(x, target=0.0, sigma=1.0),
        lambda: _loop_ewma(x[:N_LOOP], 0.2, 3.0), "< 1 s")
    row("ewma_chart reset=True", lambda: spc.ewma_chart(x, target=0.0, sigma=1.0, L=3.83, reset=True), None)
    row("bernoulli_cusum (p0=0.1, p1=0.05)", lambda: spc.bernoulli_cusum(flags, p0=0.1, p1=0.05, h=5.0),
        lambda: _loop_bernoulli(flags[:N_LOOP], a, b, 5.0))
    row("shewhart (4 Western Electric rules)", lambda: spc.shewhart(x, target=0.0, sigma=1.0), None)

    # the streaming twin: per-update cost
    chart = spc.CusumChart(target=0.0)
    xs = x[:N_LOOP].tolist()
    t0 = time.perf_counter()
    for v in xs:
        chart.update(v)
    per = (time.perf_counter() - t0) / N_LOOP
    rows.append({"case": "CusumChart.update (streaming)", "n": f"{N_LOOP:,}",
                 "median_s": f"{per * N_LOOP:.3f}", "target": f"{per * 1e6:.1f} us/update"})
    for name, fn in [
        ("cusum_h_for_arl(10000)", lambda: spc.cusum_h_for_arl(10_000)),
        ("ewma_L_for_arl(10000)", lambda: spc.ewma_L_for_arl(10_000)),
        ("bernoulli_cusum_h_for_arl(10000)", lambda: spc.bernoulli_cusum_h_for_arl(10_000, p0=0.1, p1=0.05)),
    ]:
        rows.append({"case": name, "n": "-", "median_s": f"{_median_time(fn):.3f}", "target": "design"})
    return rows


def calibration(seed: int = 11) -> list[dict]:
    """False alarms over 600,000 in-control points for charts designed for ARL0 = 10,000 (restart
    after each alarm; about 60 expected, 99.9% Poisson band [36, 87]) and the detection delay on a
    0.5-sigma shift (Bernoulli: rate 10% -> 5%), as the mean zero-state run length over a shifted
    stream against the design's ARL1."""
    n, arl0 = 600_000, 10_000
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = rng.normal(0.5, 1.0, 200_000)
    f0 = rng.random(n) < 0.10
    f1 = rng.random(200_000) < 0.05
    h = spc.cusum_h_for_arl(arl0, k=0.5)
    L = spc.ewma_L_for_arl(arl0, lam=0.2)
    hb = spc.bernoulli_cusum_h_for_arl(arl0, p0=0.10, p1=0.05)

    def delay(alarms: np.ndarray) -> str:
        rl = np.diff(np.concatenate([[-1], alarms]))
        return f"{rl.mean():.1f} +/- {rl.std(ddof=1) / math.sqrt(rl.size):.1f}"

    charts = [
        ("tabular_cusum k=0.5", f"h={h:.3f}",
         lambda v: spc.tabular_cusum(v, target=0.0, k=0.5, h=h, reset=True), spc.cusum_arl(0.5, h, 0.5)),
        ("tabular_cusum textbook", "h=5",
         lambda v: spc.tabular_cusum(v, target=0.0, k=0.5, h=5.0, reset=True), spc.cusum_arl(0.5, 5.0, 0.5)),
        ("ewma lam=0.2", f"L={L:.3f}",
         lambda v: spc.ewma_chart(v, target=0.0, sigma=1.0, lam=0.2, L=L, reset=True), spc.ewma_arl(0.2, L, 0.5)),
    ]
    rows = []
    for name, design, fn, arl1 in charts:
        rows.append({"chart": name, "design": design, "false_alarms_600k": fn(x).alarms.size,
                     "expected": round(n / (arl0 if "textbook" not in name else spc.cusum_arl(0.5, 5.0))),
                     "delay_0.5sigma (sim)": delay(fn(y).alarms), "delay (design ARL1)": f"{arl1:.1f}"})
    rows.append({"chart": "bernoulli_cusum 0.10->0.05", "design": f"h={hb:.3f}",
                 "false_alarms_600k": spc.bernoulli_cusum(f0, p0=0.1, p1=0.05, h=hb, reset=True).alarms.size,
                 "expected": n // arl0,
                 "delay_0.5sigma (sim)": delay(spc.bernoulli_cusum(f1, p0=0.1, p1=0.05, h=hb, reset=True).alarms),
                 "delay (design ARL1)": f"{spc.bernoulli_cusum_arl(hb, p0=0.1, p1=0.05, p=0.05):.1f}"})
    return rows


if __name__ == "__main__":
    print("== control charts: speed (median of 3) ==")
    print_table(run())
    print("== control charts: calibration (designed ARL0 = 10,000; 600,000 in-control points) ==")
    print_table(calibration())
