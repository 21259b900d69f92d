"""The exported monitor set against its family false-page budget, on no-incident twins and fresh incidents.

Run: ``.venv/bin/python benchmarks/monitors.py [--seeds 5 | --full] [--patterns ...] [--budget 1] [--write]``
(``--full``: 20 seeds per pattern, 60 investigations, about 20 minutes on one core).

For each case-study pattern and seed ``s`` in ``1..N``:

* the postmortem of incident ``s`` designs ``monitors.yaml`` (the set, for ``--budget`` false pages
  per 30 days in all, split across its charts: :mod:`analysis.investigation.monitor_set`);
* the set runs (``analysis.prevention.monitors.run_monitors``, as ``python -m analysis monitor``
  does) on the no-incident twin of ``s`` (the same traffic, nothing wrong; the first part of it is
  the baseline the set was fitted on): every alarm there is a false page;
* the set runs on a fresh incident, seed ``s + N`` (another seed's volumes and onset): each
  monitor's detection delay from the truth's onset to its first alarm at or after the earlier of
  the onset and the cause, and whether it alarmed before the report;
* the same charts designed *per chart* (each for the whole budget, as before the family budget)
  run on the same twin and fresh incident: what the split costs in delay, and what per-chart
  budgets cost in pages.

Printed per pattern: the set's false pages per 30 days over all twins (pooled: pages / days, with a
Poisson 95% interval) against the budget; per monitor its share, its pages per 30 days against the
share, its median delay on the fresh incidents and how often it alarmed before the report, split
and per chart. ``--write`` writes ``benchmarks/logs/monitors.json`` (one row per run, the
command, the commit) and ``benchmarks/logs/monitors.md`` (the printed tables). Nothing here
asserts: read the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis import investigate, scenarios  # noqa: E402
from analysis.engine import open_engine  # noqa: E402
from analysis.investigation.monitor_set import arl0_for_share  # noqa: E402
from analysis.prevention import monitors as mon  # noqa: E402
from analysis.stats import spc  # noqa: E402

LOGS = ROOT / "benchmarks" / "logs"


def _design(sc: Any, pattern: str, budget: float, folder: Path) -> tuple[dict[str, Any], list[mon.MonitorSpec]]:
    """The monitor set of the incident's postmortem: the document and its specs as the ``monitor`` command reads them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm = investigate(sc.events, sc.changes, pattern=pattern, reported_at=sc.truth.reported_at, progress=False,
                         evaluations=sc.evaluations, monitor_budget=budget)
    path = mon.dump_config(pm.monitors, folder / "monitors.yaml")
    return mon.load_config(path)


def _per_chart(spec: mon.MonitorSpec, sizes: list[int] | None, budget: float) -> mon.MonitorSpec:
    """The same chart designed for the whole budget on its own (one false alarm per ``30 days / budget``);
    ``sizes``: the window sizes its binomial design used (``parameters.window_sizes``)."""
    p = dict(spec.params)
    arl0 = arl0_for_share(budget, spec.window)
    if spec.chart == "binomial_cusum":
        share_nonempty = p["arl0_nonempty"] / p["arl0"]
        h = spc.binomial_cusum_h_for_arl(max(arl0 * share_nonempty, 2.0), p0=p["p0"], p1=p["p1"], n=sizes)
        p.update(h=h * p["dispersion"], h_binomial=h)
    else:
        p["h"] = spc.cusum_h_for_arl(arl0, k=p["k"], two_sided=False)
    p["arl0"] = arl0
    return mon.MonitorSpec(spec.name, spec.chart, spec.metric, spec.window, p, spec.segment, spec.alternative, spec.description)


def _pages(specs: list[mon.MonitorSpec], events: pd.DataFrame) -> dict[str, int]:
    res = mon.run_monitors(open_engine(events), specs)
    return {s.name: sum(1 for a in res.alarms if a.monitor == s.name) for s in specs}


def _delays(specs: list[mon.MonitorSpec], sc: Any) -> dict[str, dict[str, Any]]:
    """Per monitor on a fresh incident: hours from the onset to the first alarm from the detection start on, and before the report."""
    tr = sc.truth
    cause = sc.changes.set_index("change_id").loc[tr.cause_change_id, "ts"]
    start = min(tr.onset, pd.Timestamp(cause))
    res = mon.run_monitors(open_engine(sc.events), specs)
    out = {}
    for s in specs:
        hits = [a.window_end for a in res.alarms if a.monitor == s.name and a.window_end >= start]
        out[s.name] = {"delay_h": (hits[0] - tr.onset) / pd.Timedelta(hours=1) if hits else None,
                       "before_report": bool(hits) and hits[0] <= tr.reported_at}
    return out


def _run_seed(pattern: str, seed: int, fresh_seed: int, budget: float, folder: Path) -> dict[str, Any]:
    sc = scenarios.generate(pattern, seed=seed)
    t0 = time.perf_counter()
    doc, specs = _design(sc, pattern, budget, folder)
    design_s = time.perf_counter() - t0
    sizes = {m["name"]: m["parameters"].get("window_sizes") for m in doc["monitors"]}
    per_chart = [_per_chart(s, sizes[s.name], budget) for s in specs]
    twin = scenarios.generate(pattern, seed=seed, incident=False)
    fresh = scenarios.generate(pattern, seed=fresh_seed)
    days = float((twin.events["ts"].max() - twin.events["ts"].min()) / pd.Timedelta(days=1))
    shares = {m["name"]: m["false_alarm_rate"]["share_per_30_days"] for m in doc["monitors"]}
    return {"pattern": pattern, "seed": seed, "fresh_seed": fresh_seed, "twin_days": days, "design_seconds": design_s,
            "lead": doc["false_page_budget"]["lead"], "shares": shares,
            "pages": _pages(specs, twin.events), "pages_per_chart": _pages(per_chart, twin.events),
            "delays": _delays(specs, fresh), "delays_per_chart": _delays(per_chart, fresh)}


def _rate(pages: float, days: float) -> tuple[float, float, float]:
    """Pages per 30 days with an exact Poisson 95% interval."""
    lo = stats.chi2.ppf(0.025, 2 * pages) / 2 if pages > 0 else 0.0
    hi = stats.chi2.ppf(0.975, 2 * pages + 2) / 2
    return 30 * pages / days, 30 * lo / days, 30 * hi / days


def _summary(rows: list[dict[str, Any]], budget: float) -> list[str]:
    days = sum(r["twin_days"] for r in rows)
    out = []
    for label, key in (("split (family budget)", "pages"), ("per-chart budgets", "pages_per_chart")):
        total = sum(sum(r[key].values()) for r in rows)
        rate, lo, hi = _rate(total, days)
        out.append(f"  set, {label}: {total} false pages in {days:.0f} twin days = {rate:.2f} per 30 days "
                   f"[{lo:.2f}, {hi:.2f}], {rate / budget:.2f}x the budget of {budget:g}")
    names = sorted({n for r in rows for n in r["shares"]}, key=lambda n: (n != rows[0]["lead"], n))
    out.append(f"  {'monitor':<30} {'share':>6} {'pages/30d [95%]':>22} {'x share':>8} {'delay split':>12} {'per chart':>10} "
               f"{'caught split':>13} {'per chart':>10}")
    for n in names:
        rs = [r for r in rows if n in r["shares"]]
        share = float(np.mean([r["shares"][n] for r in rs]))
        d = sum(r["twin_days"] for r in rs)
        rate, lo, hi = _rate(sum(r["pages"][n] for r in rs), d)
        cols = []
        for key in ("delays", "delays_per_chart"):
            xs = [r[key][n]["delay_h"] for r in rs if n in r[key] and r[key][n]["delay_h"] is not None]
            cols.append(f"{np.median(xs):+.1f} h" if xs else "-")
        caught = [f"{sum(r[k][n]['before_report'] for r in rs if n in r[k])}/{sum(1 for r in rs if n in r[k])}"
                  for k in ("delays", "delays_per_chart")]
        out.append(f"  {n:<30} {share:6.3f} {rate:6.2f} [{lo:5.2f}, {hi:5.2f}]  {rate / share:7.2f}x {cols[0]:>12} {cols[1]:>10} "
                   f"{caught[0]:>13} {caught[1]:>10}")
    return out


def _commit() -> tuple[str, bool]:
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip())
    return sha, dirty


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="twin seeds per pattern (default 5)")
    ap.add_argument("--full", action="store_true", help="20 seeds per pattern, as the issue asks")
    ap.add_argument("--patterns", nargs="*", default=list(scenarios.PATTERNS))
    ap.add_argument("--budget", type=float, default=1.0, help="false pages per 30 days for the whole set")
    ap.add_argument("--write", action="store_true", help="write benchmarks/logs/monitors.json and monitors.md")
    args = ap.parse_args(argv)
    n = 20 if args.full else args.seeds
    t0 = time.perf_counter()
    rows, lines, failed = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for pattern in args.patterns:
            got = []
            for seed in range(1, n + 1):
                try:
                    got.append(_run_seed(pattern, seed, seed + n, args.budget, Path(tmp)))
                except Exception as e:  # an investigation that fails is reported, not a reason to lose the run
                    failed.append(f"{pattern} seed {seed}: {type(e).__name__}: {e}")
                    print(f"  {failed[-1]}", file=sys.stderr)
                    continue
                print(f"  {pattern} seed {seed}: {sum(got[-1]['pages'].values())} false pages in {got[-1]['twin_days']:.1f} days",
                      file=sys.stderr)
            block = [f"== {pattern}: sets from the postmortems of seeds 1..{n}, their twins, fresh incidents {n + 1}..{2 * n} =="]
            block += _summary(got, args.budget)
            print("\n".join(block))
            lines += block
            rows += got
    allrows = _summary(rows, args.budget)[:2] + [f"  failed (left out): {f}" for f in failed]
    print("== all patterns ==\n" + "\n".join(allrows))
    lines += ["== all patterns =="] + allrows
    elapsed = time.perf_counter() - t0
    print(f"total {elapsed:.0f} s")
    if args.write:
        sha, dirty = _commit()
        meta = {"command": "python benchmarks/monitors.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
                "commit": sha, "dirty": dirty, "date": dt.date.today().isoformat(), "seconds": round(elapsed)}
        LOGS.mkdir(parents=True, exist_ok=True)
        (LOGS / "monitors.json").write_text(json.dumps({**meta, "rows": rows, "failed": failed}, indent=1, default=str),
                                            encoding="utf-8")
        (LOGS / "monitors.md").write_text(f"# benchmarks/monitors.py\n\n`{meta['command']}` at {sha[:10]}"
                                          f"{' (uncommitted changes)' if dirty else ''}, {meta['date']}, {meta['seconds']} s\n\n```\n"
                                          + "\n".join(lines) + "\n```\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
