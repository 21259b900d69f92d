"""The exported monitors against their design: detection delay on fresh incidents, false alarms on twins.

Run: ``.venv/bin/python benchmarks/monitors.py [--seeds 20] [--patterns ...]`` (about five minutes).

For each case-study pattern, the postmortem of seed 0 writes ``monitors.yaml`` (every monitor is
designed for one false alarm per 30 days on that investigation's baseline). Then, for seeds
1..N, the monitors run (``analysis.prevention.monitors.run_monitors``, as ``python -m analysis
monitor`` does) on

* the fresh incident's logs: the incident-segment monitor's detection delay, from the truth's
  onset to its first alarm at or after the onset (or after the cause, for a slow rollout: the
  refusal case's canary), and whether it alarmed before the report;
* the no-incident twin's logs (the same traffic, nothing wrong): every monitor's false alarms per
  30 days, against the designed 1.

Printed per pattern and monitor: median and p90 delay (hours), the share detected before the
report, and the false alarms per 30 days (mean over seeds, with the share of twins with none).
Nothing here asserts: read the figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis import scenarios  # noqa: E402
from analysis.engine import open_engine  # noqa: E402
from analysis import investigate  # noqa: E402
from analysis.prevention import monitors as mon  # noqa: E402


def _design(pattern: str, out: Path) -> list[mon.MonitorSpec]:
    sc = scenarios.generate(pattern, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm = investigate(sc.events, sc.changes, pattern=pattern, reported_at=sc.truth.reported_at, progress=False,
                         evaluations=sc.evaluations)
    paths = pm.write(out / pattern)
    return mon.load_config(paths["monitors.yaml"])[1]


def _days(events: pd.DataFrame) -> float:
    return float((events["ts"].max() - events["ts"].min()) / pd.Timedelta(days=1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--patterns", nargs="*", default=list(scenarios.PATTERNS))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for pattern in args.patterns:
            specs = _design(pattern, Path(tmp))
            delays, before, fa = [], [], {s.name: [] for s in specs}
            for seed in range(1, args.seeds + 1):
                inc = scenarios.generate(pattern, seed=seed)
                twin = scenarios.generate(pattern, seed=seed, incident=False)
                res = mon.run_monitors(open_engine(inc.events), [s for s in specs if s.name == "incident_segment"] or specs[:1])
                tr = inc.truth
                start = min(tr.onset, pd.Timestamp(inc.changes.set_index("change_id").loc[tr.cause_change_id, "ts"]))
                hits = [a.window_end for a in res.alarms if a.window_end >= start]
                if hits:
                    delays.append((hits[0] - tr.onset) / pd.Timedelta(hours=1))
                before.append(bool(hits) and hits[0] <= tr.reported_at)
                res_t = mon.run_monitors(open_engine(twin.events), specs)
                days = _days(twin.events)
                for s in specs:
                    n = sum(1 for a in res_t.alarms if a.monitor == s.name)
                    fa[s.name].append(30 * n / days)
            print(f"== {pattern} ({len(specs)} monitors from seed 0's postmortem, seeds 1..{args.seeds}) ==")
            if delays:
                print(f"  incident_segment detection delay from the onset: median {statistics.median(delays):+.1f} h, "
                      f"p90 {np.percentile(delays, 90):+.1f} h (negative: it alarmed during the rollout, before the onset)")
            print(f"  detected before the report: {100 * np.mean(before):.0f}% ({sum(before)}/{len(before)})")
            print("  false alarms per 30 days on the no-incident twins (designed: 1):")
            for name, xs in fa.items():
                print(f"    {name:<28} mean {np.mean(xs):5.2f}, median {np.median(xs):5.2f}, twins without any {100 * np.mean([x == 0 for x in xs]):.0f}%")
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
