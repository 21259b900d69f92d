"""Benchmark of ``analysis.stats.changepoint.detect`` (part of ``benchmarks/stats.py``).

PELT with the ``l2`` cost on a piecewise-constant signal with 5 changes plus N(0, 1) noise, penalty
``3 ln n``, ``min_size=2``, timed through the public ``detect()`` (location intervals included),
each against a reference run in the same process on the same signal:

* n = 2,000: ruptures ``Pelt(model="l2", jump=1, min_size=2)`` (pure Python); target >= 100x;
* n = 100,000: ruptures ``KernelCPD(kernel="linear", min_size=2).predict(pen=...)`` (its C
  implementation of PELT for the same cost); target >= 5x.

Both must also return the same breakpoints. A last row times ``detect()`` with its defaults
(``normal_mean`` cost, ``penalty="auto"``) on the n = 100,000 signal, without a reference.

``run()`` returns one dict per figure with the keys ``benchmark``, ``value``, ``unit``,
``reference``, ``reference_value``, ``ratio``, ``target``, ``ok``, ``detail``.
Run alone: ``.venv/bin/python benchmarks/_stats_changepoint.py``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.stats.changepoint import detect  # noqa: E402
from _stats_common import median_time, print_table  # noqa: E402

LEVELS = (0.0, 2.0, -1.0, 1.5, -0.5, 1.0)
FRACTIONS = (0.17, 0.33, 0.52, 0.66, 0.84)  # where the 5 changes fall


def make_signal(n: int, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """5 changes at fixed fractions of ``n``, levels ``LEVELS``, N(0, 1) noise."""
    cuts = [int(f * n) for f in FRACTIONS]
    sig = np.repeat(np.asarray(LEVELS), np.diff([0, *cuts, n]))
    return sig + np.random.default_rng(seed).normal(size=n), cuts


def _row(name, ours, ref_name, ref_t, target_ratio, same, extra) -> dict:
    ratio = ref_t / ours
    return {
        "benchmark": name,
        "value": round(ours, 4),
        "unit": "s",
        "reference": ref_name,
        "reference_value": round(ref_t, 3),
        "ratio": round(ratio, 1),
        "target": f">= {target_ratio}x, same breakpoints",
        "ok": bool(ratio >= target_ratio and same),
        "detail": f"same breakpoints: {same}; {extra}",
    }


def run() -> list[dict]:
    import ruptures as rpt  # test dependency, only needed here

    rows = []

    n = 2_000
    x, _ = make_signal(n)
    pen = 3 * math.log(n)
    t_ours, ours = median_time(lambda: detect(x, cost="l2", penalty=pen, min_size=2), 7)
    t_ref, ref = median_time(lambda: rpt.Pelt(model="l2", jump=1, min_size=2).fit(x).predict(pen=pen), 3)
    same = list(ours.change_points) == [int(b) for b in ref[:-1]]
    rows.append(
        _row(
            f"PELT l2, n={n:,}, 5 changes",
            t_ours,
            'ruptures Pelt(model="l2", jump=1)',
            t_ref,
            100,
            same,
            f"medians of 7 / 3 runs; found {list(ours.change_points)}",
        )
    )

    n = 100_000
    x, cuts = make_signal(n)
    pen = 3 * math.log(n)
    t_ours, ours = median_time(lambda: detect(x, cost="l2", penalty=pen, min_size=2), 5)
    t_ref, ref = median_time(lambda: rpt.KernelCPD(kernel="linear", min_size=2).fit(x).predict(pen=pen), 3)
    same = list(ours.change_points) == [int(b) for b in ref[:-1]]
    rows.append(
        _row(
            f"PELT l2, n={n:,}, 5 changes",
            t_ours,
            'ruptures KernelCPD(kernel="linear") (C)',
            t_ref,
            5,
            same,
            f"medians of 5 / 3 runs; found {list(ours.change_points)}, true {cuts}",
        )
    )

    t_def, res = median_time(lambda: detect(x), 3)
    rows.append(
        {
            "benchmark": f"detect() defaults, n={n:,}, 5 changes",
            "value": round(t_def, 4),
            "unit": "s",
            "reference": "",
            "reference_value": float("nan"),
            "ratio": float("nan"),
            "target": "",
            "ok": list(res.change_points) == list(ours.change_points),
            "detail": f"normal_mean, penalty auto; found {list(res.change_points)}; median of 3",
        }
    )
    return rows


def main() -> None:
    print_table(run())


if __name__ == "__main__":
    main()
