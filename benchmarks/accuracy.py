"""Accuracy of the whole investigation on generated incidents and their no-incident twins.

Run: ``.venv/bin/python benchmarks/accuracy.py`` (the three case-study patterns and the nine kinds
of :mod:`analysis.scenarios.kinds`, 20 seeds each, incident and twin: 480 investigations, about
an hour on one core; run it alone). ``--seeds N``, ``--first-seed S``, ``--patterns`` and
``--kinds`` make other runs (``--patterns`` with no value skips the case studies).

The kinds run with ``pattern="auto"`` (every metric and every low-cardinality column scanned, the
application's ``language`` included). A no-incident kind (a holiday mix shift, a logging outage,
an evaluator outage) counts as right when the verdict is ``no_incident``; its fact (the traffic
shift, the logging gap, the coverage drop) counts as found when the report states it.

For each pattern and seed, ``analysis.scenarios.generate(pattern, seed=s)`` draws the onset
(date and hour), the magnitude, the volume and the history length; ``analysis.investigate`` runs
in-process (no notebook) with the pattern and the report time, on the incident and on its twin.
Printed, per pattern and overall:

* how often the true cause ranks first (target >= 95%),
* onset error in hours (detected minus true onset): median and 90th percentile of the absolute
  error, and how often the onset falls inside the truth's ``onset_window``,
* the scope verdict on incidents (``systematic`` expected),
* the false incident rate on the twins (verdict other than ``no_incident``; target <= 5%),
* the median time per investigation (seconds).

Nothing here asserts: read the figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from analysis import investigate, scenarios  # noqa: E402
from analysis.scenarios import kinds as scenario_kinds  # noqa: E402

_FACT_FOUND = {
    "holiday_mix_shift": lambda pm: pm.q3.mix_shift is not None,
    "logging_outage": lambda pm: any(f.kind == "logging_gap" for f in pm.data_quality),
    "evaluator_outage": lambda pm: any(f.kind == "label_coverage_drop" for f in pm.data_quality),
}


def _run_one(pattern: str, seed: int, incident: bool) -> dict:
    kind = pattern in scenario_kinds.KINDS
    sc = scenario_kinds.generate_kind(pattern, seed=seed, incident=incident) if kind else scenarios.generate(pattern, seed=seed, incident=incident)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm = investigate(
            sc.events, sc.changes, pattern="auto" if kind else pattern, reported_at=sc.truth.reported_at, progress=False,
            seed=seed, evaluations=sc.evaluations,
        )
    elapsed = time.perf_counter() - t0
    tr = sc.truth
    if pattern in scenario_kinds.NO_INCIDENT_KINDS:
        # the "incident" run holds the look-alike (surge, outage); the verdict must still be no_incident
        found = _FACT_FOUND[pattern](pm) if incident else None
        return {"pattern": pattern, "seed": seed, "incident": False, "lookalike": incident, "seconds": elapsed,
                "verdict": pm.q3.verdict, "top": None, "n_events": len(sc.events), "fact_found": found}
    cands = pm.q2.candidates
    top = str(cands["change_id"].iat[0]) if len(cands) else None
    onset = pm.onset.get("ts")
    out = {
        "pattern": pattern, "seed": seed, "incident": incident, "seconds": elapsed, "verdict": pm.q3.verdict,
        "top": top, "n_events": len(sc.events),
    }
    if incident:
        out["cause"] = tr.cause_change_id
        out["cause_first"] = top == tr.cause_change_id
        rank = cands.index[cands["change_id"] == tr.cause_change_id]
        out["cause_rank"] = int(cands["rank"].iat[rank[0]]) if len(rank) else None
        others = cands.loc[cands["change_id"] != tr.cause_change_id, "score"]
        if len(rank):
            out["margin"] = float(cands["score"].iat[rank[0]] - (others.max() if len(others) else 0.0))
        sep = pm.q2.separation
        out["separable"] = None if sep is None else bool(sep.separable)
        if onset is not None:
            ts = pd.Timestamp(onset)
            out["onset_error_h"] = (ts - tr.onset) / pd.Timedelta(hours=1)
            lo, hi = tr.onset_window
            out["onset_in_window"] = bool(lo <= ts <= hi)
        else:
            out["onset_error_h"] = None
            out["onset_in_window"] = False
        ids = set(pm.affected_events["event_id"]) if len(pm.affected_events) else set()
        truth_ids = set(tr.affected_event_ids)
        out["affected_precision"] = len(ids & truth_ids) / len(ids) if ids else None
        out["affected_recall"] = len(ids & truth_ids) / len(truth_ids) if truth_ids else None
        out["gap_category"] = pm.q4.gap_category
    return out


def _pct(xs: list[bool]) -> str:
    return f"{100 * sum(xs) / len(xs):.0f}% ({sum(xs)}/{len(xs)})" if xs else "-"


def _summary(rows: list[dict], label: str) -> None:
    inc = [r for r in rows if r["incident"]]
    twin = [r for r in rows if not r["incident"]]
    errs = [abs(r["onset_error_h"]) for r in inc if r.get("onset_error_h") is not None]
    print(f"== {label} ==")
    if inc:
        print(f"  true cause ranked first      {_pct([r['cause_first'] for r in inc])}   (target >= 95%)")
    if errs:
        print(f"  onset |error| hours          median {statistics.median(errs):.1f}, p90 {np.percentile(errs, 90):.1f} "
              f"(onset found in {len(errs)}/{len(inc)})")
    print(f"  onset inside truth window    {_pct([r['onset_in_window'] for r in inc])}")
    margins = [r["margin"] for r in inc if r.get("margin") is not None]
    if margins:
        print(f"  score margin over next       median {statistics.median(margins):.2f}, min {min(margins):.2f} "
              "(cause score minus the best other candidate)")
    if inc:
        print(f"  verdict systematic           {_pct([r['verdict'] == 'systematic' for r in inc])}")
        seps = [r["separable"] for r in inc if r.get("separable") is not None]
        print(f"  first two told apart         {_pct(seps)} (the rest: the report says the data cannot separate them)")
    print(f"  false incident rate (twins)  {_pct([r['verdict'] != 'no_incident' for r in twin])}   (target <= 5%)")
    facts = [r["fact_found"] for r in twin if r.get("fact_found") is not None]
    if facts:
        print(f"  look-alike's fact reported   {_pct(facts)} (traffic shift, logging gap or coverage drop)")
    prec = [r["affected_precision"] for r in inc if r.get("affected_precision") is not None]
    rec = [r["affected_recall"] for r in inc if r.get("affected_recall") is not None]
    if prec:
        print(f"  affected events              precision median {statistics.median(prec):.2f}, recall median {statistics.median(rec):.2f}")
    secs = [r["seconds"] for r in rows]
    print(f"  time per investigation       median {statistics.median(secs):.1f} s (max {max(secs):.1f} s)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20, help="seeds per pattern (default 20)")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--patterns", nargs="*", default=list(scenarios.PATTERNS))
    ap.add_argument("--kinds", nargs="*", default=list(scenario_kinds.KINDS), help="kinds of analysis.scenarios.kinds")
    ap.add_argument("--verbose", action="store_true", help="one line per run")
    args = ap.parse_args(argv)
    rows: list[dict] = []
    t0 = time.perf_counter()
    todo = [*args.patterns, *args.kinds]
    for pattern in todo:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for incident in (True, False):
                r = _run_one(pattern, seed, incident)
                rows.append(r)
                if args.verbose:
                    keys = ("pattern", "seed", "incident", "verdict", "top", "cause_rank", "onset_error_h", "onset_in_window", "seconds")
                    print("  ".join(f"{k}={r.get(k) if not isinstance(r.get(k), float) else round(r.get(k), 1)}" for k in keys), flush=True)
    for pattern in todo:
        _summary([r for r in rows if r["pattern"] == pattern], pattern)
    _summary(rows, "all patterns and kinds")
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
