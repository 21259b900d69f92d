"""Wall time and peak memory of the chunked case-study writer (``analysis.scenarios.write_events``).

Run: ``.venv/bin/python benchmarks/generate_scale.py --events 10000000 [--case refusal_regression]
[--partition-by day] [--out DIR] [--keep]``.

The writer runs in a fresh subprocess; the parent reads its peak resident set size from
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` once it has exited, and the wall time around it.
The scale is chosen so that the expected number of events (from the scenario's rates, before any
random draw) is ``--events``; the count written varies by about a percent. Targets (2 cores):
10M events with a peak <= 2 GiB, 100M with a peak <= 4 GiB. The output goes to a temporary folder
(``--out`` to choose it) that is deleted afterwards unless ``--keep``. Nothing here asserts:
read the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

_CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
from analysis.scenarios import write_events
kw = json.loads(sys.argv[1])
t = time.perf_counter()
res = write_events(**kw)
print(json.dumps(dict(seconds=time.perf_counter() - t, n_events=res.n_events, n_chunks=res.n_chunks,
                      affected=res.affected_count)))
"""


def _scale_for(pattern: str, events: float, seed: int, days: float) -> float:
    """The scale whose expected event count is ``events`` (the rates are proportional to the scale)."""
    sys.path.insert(0, str(ROOT))
    from analysis.scenarios import expected_events, resolve

    p = resolve(pattern, seed, 1.0, None, 1.0, days)
    return events / expected_events(p, p.start.value, p.reported_at.value)


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from analysis.scenarios import CASE_NAMES, DAYS

    patterns = {v: k for k, v in CASE_NAMES.items()}
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=float, default=10_000_000, help="target number of events (default: 10M)")
    ap.add_argument("--case", choices=sorted(patterns), default="refusal_regression")
    ap.add_argument("--partition-by", choices=["day"], default=None, help="write events/day=YYYY-MM-DD/ instead of one file")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-chunk-events", type=int, default=400_000)
    ap.add_argument("--out", default="", metavar="DIR", help="output folder (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the output")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args()

    pattern = patterns[args.case]
    days = float(DAYS[pattern][0])
    scale = _scale_for(pattern, args.events, args.seed, days)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="generate_scale_", dir=os.environ.get("TMPDIR", "/tmp")))
    kw = dict(
        pattern=pattern, out_dir=str(out / args.case), seed=args.seed, scale=scale, magnitude=1.0, days=days,
        partition_by_day=args.partition_by == "day", max_chunk_events=args.max_chunk_events, progress=not args.quiet,
    )
    print(f"{args.case}: target {args.events:,.0f} events (scale {scale:.2f}, {days:g} days), "
          f"{'partitioned by day' if kw['partition_by_day'] else 'one file'}, max {args.max_chunk_events:,} events a slice; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    t = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD.format(root=str(ROOT)), json.dumps(kw)],
                              check=True, stdout=subprocess.PIPE, text=True)
        wall = time.perf_counter() - t
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        events_path = out / args.case / ("events" if kw["partition_by_day"] else "events.parquet")
        size = _size(events_path)
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    print(f"events written   {res['n_events']:,} in {res['n_chunks']} slices ({res['affected']:,} affected)")
    print(f"wall time        {wall:,.1f} s ({res['seconds']:,.1f} s in write_events; {res['n_events'] / wall:,.0f} events/s)")
    print(f"peak RSS         {peak_kib / 2**20:.2f} GiB ({peak_kib / 1024:,.0f} MiB)")
    print(f"output           {size / 2**30:.2f} GiB ({size * 8 / max(res['n_events'], 1):.0f} bits/event)"
          + ("" if args.keep else ", deleted"))


if __name__ == "__main__":
    main()
