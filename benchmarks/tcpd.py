"""Score ``analysis.stats.changepoint.detect`` on the annotated TCPD series.

Protocol of van den Burg and Williams (2020), as ``benchmarks/data/tcpd/README.md`` states it:
z-score each series (missing values kept as missing), run each detector with its default
settings, add index 0 to the annotators' sets and to the prediction, then

* F1 with margin 5: precision against the union of the annotators' sets, recall averaged over
  annotators, a true point matched to the closest unused prediction within 5 observations;
* cover: for each annotator's partition, the length-weighted best Jaccard overlap with the
  predicted partition, averaged over annotators.

Detectors compared:

* ``detect()``: :func:`analysis.stats.changepoint.detect` with its defaults (segments flat or
  straight lines, MBIC per change, noise scale of the no-change fit; no constant chosen from data);
* ``pelt_mbic``: PELT, Gaussian mean cost with unit variance on the z-scored series (R
  changepoint's ``cpt.mean`` convention), penalty ``3 ln n``, ``min_size=1`` (R's ``minseglen``
  default), run through ``detect(cost="l2", penalty=3 ln n, min_size=1)``;
* ``zero``: no change point at all.

A multivariate series is z-scored column by column and given to ``detect()`` as a 2-D array; the
``pelt_mbic`` baseline sums the unit-variance cost over columns the same way.

Leave-one-series-out (LOSO): the defaults have no constant chosen from data, so their LOSO scores
are their plain scores. As a check that the penalty level generalises, ``loso_k`` picks the
multiplier ``k`` of ``penalty = k ln n`` (``noise_scale="null"``, the default's scale) from
:data:`K_GRID` on the 16 other series (best mean of cover and F1; ties: the smaller ``k``) and
scores the held-out series with it; ``loso_pelt`` does the same for the PELT baseline.

Run: ``.venv/bin/python benchmarks/tcpd.py [--data DIR]``. Prints one row per series and the
averages (all series, and the short ones: ``n <= 30`` and ``n <= 60``), the LOSO table, then the averages of a few
other settings of ``detect()`` for comparison. The series'
sources and licences are listed in the dataset's README (collection: van den Burg and Williams,
"An Evaluation of Change Point Detection Algorithms", 2020, MIT-licensed code).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.stats.changepoint import detect  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parent / "data" / "tcpd"  # copied from the TCPD, with its LICENSE
MARGIN = 5
SHORT = (30, 60)  # series with n <= each of these are also averaged on their own line
K_GRID = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0)  # penalty multipliers k of k ln n for LOSO


# ---------------------------------------------------------------------------- data


def load_series(data_dir: Path) -> dict[str, tuple[np.ndarray, dict[str, list[int]]]]:
    """``name -> (values (n,) or (n, d) with NaN for null, {annotator: [change points]})``."""
    annotations = json.loads((data_dir / "annotations.json").read_text())
    out = {}
    for name in sorted(annotations):
        path = data_dir / name / f"{name}.json"
        if not path.exists():
            continue
        doc = json.loads(path.read_text())
        cols = [np.array([np.nan if v is None else float(v) for v in s["raw"]]) for s in doc["series"]]
        x = cols[0] if len(cols) == 1 else np.column_stack(cols)
        if x.shape[0] != doc["n_obs"]:
            raise ValueError(f"{name}: n_obs {doc['n_obs']} but {x.shape[0]} values")
        out[name] = (x, {str(k): [int(i) for i in v] for k, v in annotations[name].items()})
    return out


def zscore(x: np.ndarray) -> np.ndarray:
    """Column-wise z-score ignoring missing values (ddof=0 as in the TCPD code)."""
    mu = np.nanmean(x, axis=0)
    sd = np.nanstd(x, axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (x - mu) / sd


# ---------------------------------------------------------------------------- metrics


def _true_positives(truth: Iterable[int], pred: Iterable[int], margin: int = MARGIN) -> int:
    """Greedy matching of the TCPD code: each true point takes the closest unused prediction."""
    available = set(pred)
    hits = 0
    for tau in sorted(set(truth)):
        close = sorted((abs(tau - x), x) for x in available if abs(tau - x) <= margin)
        if close:
            hits += 1
            available.remove(close[0][1])
    return hits


def f_measure(annotations: dict[str, list[int]], predictions: Iterable[int], margin: int = MARGIN) -> float:
    """F1 of the TCPD benchmark (``metrics.f_measure``, alpha = 0.5)."""
    sets = [set(v) | {0} for v in annotations.values()]
    pred = set(int(p) for p in predictions) | {0}
    union = set().union(*sets)
    precision = _true_positives(union, pred, margin) / len(pred)
    recall = float(np.mean([_true_positives(s, pred, margin) / len(s) for s in sets]))
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _partition(cps: Iterable[int], n: int) -> list[tuple[int, int]]:
    edges = sorted({c for c in cps if 0 < c < n} | {0, n})
    return list(zip(edges[:-1], edges[1:]))


def _cover_single(pred: list[tuple[int, int]], truth: list[tuple[int, int]], n: int) -> float:
    total = 0.0
    for a, b in truth:
        best = 0.0
        for c, d in pred:
            inter = max(0, min(b, d) - max(a, c))
            if inter:
                best = max(best, inter / (max(b, d) - min(a, c)))
        total += (b - a) * best
    return total / n


def covering(annotations: dict[str, list[int]], predictions: Iterable[int], n: int) -> float:
    """Cover of the TCPD benchmark (``metrics.covering``), averaged over annotators."""
    pred = _partition(predictions, n)
    return float(np.mean([_cover_single(pred, _partition(v, n), n) for v in annotations.values()]))


# ---------------------------------------------------------------------------- detectors


def det_default(x: np.ndarray) -> list[int]:
    return list(detect(x).change_points)


def det_pelt_mbic(x: np.ndarray) -> list[int]:
    n_obs = int(np.sum(np.isfinite(x) if x.ndim == 1 else np.isfinite(x).all(axis=1)))
    return list(detect(x, cost="l2", penalty=3.0 * math.log(n_obs), min_size=1).change_points)


def det_zero(x: np.ndarray) -> list[int]:
    return []


def _n_obs(x: np.ndarray) -> int:
    return int(np.sum(np.isfinite(x) if x.ndim == 1 else np.isfinite(x).all(axis=1)))


def det_trend_k(k: float) -> Callable[[np.ndarray], list[int]]:
    """``detect()``'s default model and noise scale with penalty ``k ln n``."""
    return lambda x: list(detect(x, penalty=k * math.log(_n_obs(x)), noise_scale="null").change_points)


def det_pelt_k(k: float) -> Callable[[np.ndarray], list[int]]:
    """The PELT baseline with penalty ``k ln n``."""
    return lambda x: list(detect(x, cost="l2", penalty=k * math.log(_n_obs(x)), min_size=1).change_points)


DETECTORS: dict[str, Callable[[np.ndarray], list[int]]] = {
    "detect()": det_default,
    "pelt_mbic": det_pelt_mbic,
    "zero": det_zero,
}


def score(data: dict, detectors: dict[str, Callable[[np.ndarray], list[int]]] = DETECTORS) -> list[dict]:
    """One row per series: ``series``, ``n``, then ``<detector>_cover``, ``<detector>_f1``, ``<detector>_k``."""
    rows = []
    for name, (x, ann) in data.items():
        z = zscore(x)
        row: dict = {"series": name, "n": int(z.shape[0])}
        for dname, fn in detectors.items():
            cps = fn(z)
            row[f"{dname}_cover"] = covering(ann, cps, z.shape[0])
            row[f"{dname}_f1"] = f_measure(ann, cps)
            row[f"{dname}_k"] = len(cps)
        rows.append(row)
    return rows


VARIANTS: dict[str, Callable[[np.ndarray], list[int]]] = {
    'detect(penalty="mbic")  [first-difference noise scale]': lambda z: list(detect(z, penalty="mbic").change_points),
    'detect(method="binseg")': lambda z: list(detect(z, method="binseg").change_points),
    "detect(min_size=10)": lambda z: list(detect(z, min_size=10).change_points),
    'detect(cost="normal_meanvar")': lambda z: list(detect(z, cost="normal_meanvar").change_points),
}


def _averages(rows: list[dict], name: str) -> tuple[float, float, float]:
    return tuple(float(np.mean([r[f"{name}_{k}"] for r in rows])) for k in ("cover", "f1", "k"))


def loso(data: dict, family: Callable[[float], Callable], grid: Iterable[float] = K_GRID) -> list[dict]:
    """Leave-one-series-out scores of ``family(k)`` with ``k`` chosen on the other series.

    Each series is scored with the ``k`` of ``grid`` that maximises the mean of cover and F1
    over all the other series (ties: the first, i.e. smallest, ``k``). Returns one row per series:
    ``series``, ``n``, ``loso_cover``, ``loso_f1``, ``loso_k`` (number of change points),
    ``loso_choice`` (the chosen ``k``).
    """
    grid = tuple(grid)
    per_k = [score(data, {"g": family(k)}) for k in grid]
    merit = np.array([[(r["g_cover"] + r["g_f1"]) / 2 for r in rows] for rows in per_k])  # (k, series)
    out = []
    for i, base in enumerate(per_k[0]):
        others = np.delete(merit, i, axis=1).mean(axis=1)
        j = int(np.argmax(others))
        r = per_k[j][i]
        out.append({"series": base["series"], "n": base["n"], "loso_cover": r["g_cover"], "loso_f1": r["g_f1"],
                    "loso_k": r["g_k"], "loso_choice": grid[j]})
    return out


def _with_loso(rows: list[dict], name: str, table: list[dict]) -> list[dict]:
    """``rows`` with the columns of a :func:`loso` table added under the detector name ``name``."""
    return [dict(row, **{f"{name}_{key}": r[f"loso_{key}"] for key in ("cover", "f1", "k", "choice")})
            for row, r in zip(rows, table)]


def _summary_line(label: str, rows: list[dict], names: list[str]) -> str:
    avg = {d: _averages(rows, d) for d in names}
    return f"{label:<20}{'':>5}" + "".join(f"  {avg[d][0]:>16.3f}{avg[d][1]:>14.3f}{avg[d][2]:>4.1f}" for d in names)


def _table(rows: list[dict], names: list[str]) -> str:
    head = f"{'series':<20}{'n':>5}" + "".join(f"  {d + ' cover':>16}{d + ' F1':>14}{'k':>4}" for d in names)
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['series']:<20}{r['n']:>5}"
            + "".join(f"  {r[d + '_cover']:>16.3f}{r[d + '_f1']:>14.3f}{r[d + '_k']:>4}" for d in names)
        )
    lines.append(_summary_line("average", rows, names))
    for limit in SHORT:
        short = [r for r in rows if r["n"] <= limit]
        if short:
            lines.append(_summary_line(f"n<={limit} ({len(short)} series)", short, names))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the TCPD series")
    args = ap.parse_args(argv)
    data = load_series(args.data)
    rows = score(data)
    print(f"TCPD: {len(rows)} series from {args.data}; F1 margin {MARGIN}; k = number of change points")
    print(_table(rows, list(DETECTORS)))
    print()
    print("Leave-one-series-out: detect() has no constant chosen from data (LOSO = plain). loso_k: detect()'s")
    print(f"model with penalty k ln n, k from {list(K_GRID)} chosen on the other 16 series; loso_pelt: the same")
    print("for the PELT baseline.")
    lrows = _with_loso(_with_loso(rows, "loso_k", loso(data, det_trend_k)), "loso_pelt", loso(data, det_pelt_k))
    print(_table(lrows, ["detect()", "loso_k", "loso_pelt", "pelt_mbic", "zero"]))
    print("k chosen (loso_k): " + ", ".join(f"{r['series']} {r['loso_k_choice']:g}" for r in lrows))
    print("k chosen (loso_pelt): " + ", ".join(f"{r['series']} {r['loso_pelt_choice']:g}" for r in lrows))
    print()
    print("Other settings of detect() (averages over the same series, for comparison):")
    var_rows = score(data, VARIANTS)
    width = max(map(len, VARIANTS))
    print(f"{'':<{width}}  {'cover':>6}  {'F1':>6}  {'k':>5}")
    for name in VARIANTS:
        c, f, k = _averages(var_rows, name)
        print(f"{name:<{width}}  {c:>6.3f}  {f:>6.3f}  {k:>5.1f}")


if __name__ == "__main__":
    main()
