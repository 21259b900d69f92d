"""Benchmark of ``analysis.stats.drift.drift_table`` (part of ``benchmarks/stats.py``).

``drift_table`` on 1,000,000 vs 1,000,000 rows x 8 columns (4 numeric, 2 categorical, 2 boolean)
with two injected drifts (a 0.5-sigma mean shift of ``quality_score``, a 10-point shift of one
``query_category`` share) and two trivial differences that are significant at this n but should
not be flagged (``confidence`` moved by 0.02 sigma, ``escalated`` from 10.0% to 10.2%).
Reference, run in the same process on the same frames: the naive scipy loop, ``ks_2samp`` per
numeric column, ``chi2_contingency(correction=False)`` per categorical or boolean column, then
statsmodels' ``multipletests(method="fdr_bh")``; it flags on p-values alone.

Targets (issue 3): under 2 s and under 700 MB peak. Peak memory is the tracemalloc peak of new
allocations during one ``drift_table`` call (numpy reports its buffers to tracemalloc; the input
frames, built beforehand, are not counted); the growth of the arrow memory pool (string columns)
is printed beside it.

``run()`` returns one dict per figure with the keys ``benchmark``, ``value``, ``unit``,
``reference``, ``reference_value``, ``ratio``, ``target``, ``ok``, ``detail``.
Run alone: ``.venv/bin/python benchmarks/_stats_drift.py``.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import stats
from statsmodels.stats.multitest import multipletests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.stats.drift import drift_table  # noqa: E402
from _stats_common import median_time  # noqa: E402

N = 1_000_000
REPEATS = 3
EXPECTED_DRIFTS = {"quality_score", "query_category"}


def make_frames(n: int = N, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current frames: two material drifts, two trivial (but significant) ones."""
    rng = np.random.default_rng(seed)
    cats = np.array(["billing", "account", "technical", "shipping", "returns", "other"])
    ref_p = np.array([0.30, 0.25, 0.20, 0.10, 0.10, 0.05])
    cur_p = np.array([0.20, 0.25, 0.30, 0.10, 0.10, 0.05])  # 10 points from billing to technical
    sources = np.array(["web", "app", "email", "partner"])
    src_p = np.array([0.5, 0.3, 0.15, 0.05])

    def frame(shift: float, cat_p: np.ndarray) -> pd.DataFrame:
        # `shift` 0 for the reference, 1 for the current period.
        return pd.DataFrame(
            {
                "confidence": rng.beta(5.0, 2.0, n) + shift * 0.02 * 0.16,  # sd of Beta(5, 2) = 0.16
                "latency_ms": rng.lognormal(6.0, 0.6, n),
                "quality_score": rng.normal(0.7 + shift * 0.5 * 0.1, 0.1, n),
                "output_tokens": pd.array(rng.poisson(180, n), dtype="Int64"),
                "query_category": pd.array(rng.choice(cats, n, p=cat_p), dtype="string[pyarrow]"),
                "traffic_source": pd.array(rng.choice(sources, n, p=src_p), dtype="string[pyarrow]"),
                "refused": pd.array(rng.random(n) < 0.05, dtype="boolean"),
                "escalated": pd.array(rng.random(n) < 0.10 + shift * 0.002, dtype="boolean"),
            }
        )

    return frame(0.0, ref_p), frame(1.0, cur_p)


def naive_scipy(ref: pd.DataFrame, cur: pd.DataFrame) -> pd.DataFrame:
    """What one writes first: scipy per column, then BH from statsmodels."""
    rows = []
    for c in ref.columns:
        a, b = ref[c].dropna(), cur[c].dropna()
        if pd.api.types.is_bool_dtype(a.dtype) or not pd.api.types.is_numeric_dtype(a.dtype):
            counts = pd.concat([a.value_counts(), b.value_counts()], axis=1).fillna(0)
            res = stats.chi2_contingency(counts.to_numpy(dtype=np.int64).T, correction=False)
            rows.append((c, "chi-square", res.statistic, res.pvalue))
        else:
            res = stats.ks_2samp(a.to_numpy(dtype=float), b.to_numpy(dtype=float))
            rows.append((c, "ks", res.statistic, res.pvalue))
    out = pd.DataFrame(rows, columns=["column", "test", "statistic", "pvalue_raw"])
    out["pvalue"] = multipletests(out["pvalue_raw"], method="fdr_bh")[1]
    return out


def run() -> list[dict]:
    ref, cur = make_frames()
    t_ours, table = median_time(lambda: drift_table(ref, cur), REPEATS)
    t_naive, naive = median_time(lambda: naive_scipy(ref, cur), REPEATS)

    gc.collect()
    pool_before = pa.total_allocated_bytes()
    tracemalloc.start()
    drift_table(ref, cur)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_mb = peak / 2**20
    arrow_mb = max(pa.total_allocated_bytes() - pool_before, 0) / 2**20

    flagged = set(table.loc[table["drifted"], "column"])
    naive_flagged = set(naive.loc[naive["pvalue"] <= 0.05, "column"])
    shape = f"{N:,} vs {N:,} rows x {ref.shape[1]} columns"
    return [
        {
            "benchmark": f"drift_table time ({shape})",
            "value": t_ours,
            "unit": "s",
            "reference": "scipy loop (ks_2samp + chi2_contingency) + multipletests",
            "reference_value": t_naive,
            "ratio": t_naive / t_ours,
            "target": "< 2 s",
            "ok": t_ours < 2.0,
            "detail": f"median of {REPEATS}",
        },
        {
            "benchmark": f"drift_table peak memory ({shape})",
            "value": peak_mb,
            "unit": "MB",
            "reference": "",
            "reference_value": float("nan"),
            "ratio": float("nan"),
            "target": "< 700 MB",
            "ok": peak_mb < 700,
            "detail": f"tracemalloc peak of one call; arrow pool growth {arrow_mb:.1f} MB",
        },
        {
            "benchmark": "drift_table flags exactly the injected drifts",
            "value": float(flagged == EXPECTED_DRIFTS),
            "unit": "bool",
            "reference": "p-value-only scipy loop flags",
            "reference_value": float(len(naive_flagged)),
            "ratio": float("nan"),
            "target": ", ".join(sorted(EXPECTED_DRIFTS)),
            "ok": flagged == EXPECTED_DRIFTS,
            "detail": f"flagged: {sorted(flagged)}; scipy loop p<=0.05: {sorted(naive_flagged)}",
        },
    ]


def _print(rows: list[dict]) -> None:
    print(f"{'benchmark':<62} {'value':>10} {'reference':>10} {'ratio':>7}  {'target':<28} ok")
    for r in rows:
        ref = "" if r["reference_value"] != r["reference_value"] else f"{r['reference_value']:.3f}"
        ratio = "" if r["ratio"] != r["ratio"] else f"{r['ratio']:.1f}x"
        print(
            f"{r['benchmark']:<62} {r['value']:>8.3f} {r['unit']:<2}{ref:>9} {ratio:>7}  "
            f"{r['target']:<28} {'yes' if r['ok'] else 'NO'}"
        )
        if r["detail"]:
            print(f"    {r['detail']}" + (f" | reference: {r['reference']}" if r["reference"] else ""))


if __name__ == "__main__":
    _print(run())
