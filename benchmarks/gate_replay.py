"""The rollout gate on the refusal case: decision time and error rates over seeds.

Run: ``.venv/bin/python benchmarks/gate_replay.py`` (20 seeds, the incident and its no-incident twin; a
few minutes on one core). ``--seeds N``, ``--first-seed S``, ``--method obf|exact|msprt``, ``--every``.

For each seed, ``analysis.scenarios.generate("refusal", seed=s)`` draws the onset, the magnitude
(U(0.75, 1.3)) and the volume (U(0.6, 1.5) x ~210 requests an hour); its 5% canary of
``medtriage-v2`` (``--scale`` fixes the volume instead; the real one is ~20) runs from the model update to the ramp start (the truth's onset, 96 h later).
``analysis.prevention.gate.evaluate_gate`` replays it hourly (``--every 1h``), treatment ``medtriage-v2``
against control ``medtriage-v1`` per ``risk_category``, the scope step's tolerances, alpha 0.05.
Printed:

* the decision time (hours into the canary of the first ``hold``): median and 90th percentile
  over the incidents that held;
* missed holds: incidents with no ``hold`` before the ramp (under the case's effect);
* false holds: twins (``incident=False``: the same traffic, v2 behaves like v1) with a ``hold``;
* affected requests prevented: the truth's ``affected_event_ids`` at or after the hold;
* how many high-risk treatment requests the canary saw (what the power depends on).

Nothing here asserts: read the figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.prevention.gate import evaluate_gate  # noqa: E402
from analysis.scenarios import generate  # noqa: E402

V1, V2 = "model_version=medtriage-v1", "model_version=medtriage-v2"


def run_one(seed: int, incident: bool, *, method: str, every: str, scale: float | None = None) -> dict:
    sc = generate("refusal", seed=seed, incident=incident, scale=scale)
    ramp = _ramp_start(sc)
    r = evaluate_gate(sc.events, control=V1, treatment=V2, every=every, end=ramp, method=method)
    hold = r.first_hold
    ev = sc.events
    canary = ev[(ev["ts"] >= r.canary_start) & (ev["ts"] < ramp)]
    n_high_t = int(((canary["model_version"] == "medtriage-v2") & (canary["risk_category"] == "high")).sum())
    prevented = 0
    if hold is not None and incident:
        affected = ev[ev["event_id"].isin(set(sc.truth.affected_event_ids))]
        prevented = int((affected["ts"] >= hold.at).sum())
    return {"seed": seed, "incident": incident, "decision": r.decision, "hold_hours": None if hold is None else hold.hours,
            "prevented": prevented, "affected": len(sc.truth.affected_event_ids), "n_high_treatment": n_high_t,
            "magnitude": sc.params.get("magnitude"), "scale": sc.params.get("scale")}


def _ramp_start(sc) -> pd.Timestamp:
    """The ramp starts 72 h before the model update's ``ts_end`` (the incident's onset; the twin has
    the same change log but no onset in its truth)."""
    end = pd.Timestamp(sc.changes.set_index("change_id").loc[sc.truth.candidate_change_id, "ts_end"])
    return end - pd.Timedelta(hours=72)


def _q(values: list[float], q: float) -> float:
    return float(np.quantile(values, q)) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--method", default="obf", choices=("obf", "exact", "msprt"))
    ap.add_argument("--every", default="1h")
    ap.add_argument("--scale", type=float, default=None, help="fixed volume multiplier (default: drawn per seed; 20 is the real volume)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = []
    for s in range(args.first_seed, args.first_seed + args.seeds):
        for incident in (True, False):
            row = run_one(s, incident, method=args.method, every=args.every, scale=args.scale)
            rows.append(row)
            when = "-" if row["hold_hours"] is None else f"{row['hold_hours']:.0f} h"
            print(f"seed {s:3d} {'incident' if incident else 'twin    '}: {row['decision']:8s} hold {when:>6s}  "
                  f"high-risk v2 requests {row['n_high_treatment']:3d}  magnitude {row['magnitude']:.2f}  "
                  f"scale {row['scale']:.2f}  prevented {row['prevented']}/{row['affected'] if incident else 0}", flush=True)
    inc = [r for r in rows if r["incident"]]
    twin = [r for r in rows if not r["incident"]]
    held = [r for r in inc if r["hold_hours"] is not None]
    hours = [r["hold_hours"] for r in held]
    print()
    print(f"gate ({args.method}, looks every {args.every}, alpha 0.05) on the refusal case, {len(inc)} seeds:")
    print(f"  decision time (hours into the 96 h canary, incidents that held): median {_q(hours, 0.5):.1f}, "
          f"p90 {_q(hours, 0.9):.1f}")
    print(f"  missed holds under the case's effect: {len(inc) - len(held)}/{len(inc)} ({(len(inc) - len(held)) / len(inc):.0%})")
    fh = sum(r["decision"] == "hold" for r in twin)
    print(f"  false holds under no effect (twins): {fh}/{len(twin)} ({fh / len(twin):.0%}; the design bounds it by 5%)")
    prev = [r["prevented"] for r in held]
    tot = [r["affected"] for r in held]
    if held:
        print(f"  affected requests prevented when it held: {sum(prev)}/{sum(tot)} "
              f"(median per seed {statistics.median(prev):.0f})")
    nh = [r["n_high_treatment"] for r in inc]
    print(f"  high-risk treatment requests in the canary: median {statistics.median(nh):.0f} (min {min(nh)}, max {max(nh)})")
    print(f"  {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
