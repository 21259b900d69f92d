"""Speed and memory of the canonical loaders on 1,000,000 events, against plain pandas readers.

Run: ``.venv/bin/python benchmarks/loaders.py [--rows N] [--repeats R]`` (or ``make bench``);
``--convert-only`` runs only the trace conversion below.
The data (Parquet, JSONL, CSV; realistic columns with a list of retrieval scores and a few text
columns) is generated once into ``benchmarks/_data/`` (gitignored).

Each measurement runs in a fresh subprocess, so its peak memory can be read: the peak resident
set size (``ru_maxrss``) after the load minus the one before it (after the imports). Times are
medians of ``--repeats`` runs. The reference readers (``pd.read_parquet(dtype_backend="pyarrow")``,
``pd.read_json(lines=True)``, ``pd.read_csv``) run the same way, for ratios. Targets from the
foundation issue (2 cores): Parquet <= 3 s, JSONL <= 20 s, peak memory <= 3x the loaded frame's
``memory_usage(deep=True)``. Nothing here asserts: read the figures.

Trace conversion (issue 8: a 1M-span OTLP JSONL export, about 1 GB, converts to canonical Parquet
with peak memory <= 1 GiB): ``--convert-spans`` spans (default 1,000,000; requests of four spans,
100 spans per line, as the collector's file exporter writes them; ``_loaders_data.write_otlp_jsonl``)
are converted by ``convert_events`` in a child process, started by a fresh helper process that
reads the child's peak resident set size with ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``
(the whole process: Python, Arrow and DuckDB).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
import pandas as pd, pyarrow  # noqa: F401
from analysis.loaders import load_events
what, fmt, path = sys.argv[1], sys.argv[2], sys.argv[3]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
if what == "kit":
    res = load_events(path)
    frame = res.frame
    extra = {{"rows_loaded": res.rows_loaded, "rejected": len(res.rejected)}}
elif fmt == "parquet":
    frame = pd.read_parquet(path, dtype_backend="pyarrow"); extra = {{}}  # plain read_parquet fails on list<double> metadata in pandas 3
elif fmt == "jsonl":
    frame = pd.read_json(path, lines=True); extra = {{}}
else:
    frame = pd.read_csv(path); extra = {{}}
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps(dict(seconds=seconds, peak_mb=peak / 1024, frame_mb=frame.memory_usage(deep=True).sum() / 2**20, **extra)))
"""


def _run(what: str, fmt: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD.format(root=str(ROOT)), what, fmt, str(path)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


_CONVERT_CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
from analysis.loaders.convert import convert_events
t = time.perf_counter()
res = convert_events(sys.argv[1], sys.argv[2])
print(json.dumps(dict(seconds=time.perf_counter() - t, rows_read=res.rows_read, rows_written=res.rows_written,
                      rows_rejected=res.rows_rejected, warnings=list(res.warnings))))
"""

_MEASURE = r"""
import json, resource, subprocess, sys
out = subprocess.run(sys.argv[1:], check=True, capture_output=True, text=True)
rec = json.loads(out.stdout.strip().splitlines()[-1])
rec["peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps(rec))
"""


def convert_figures(n_spans: int, repeats: int) -> None:
    """Time and peak memory of ``convert`` on an OTLP JSON Lines export of ``n_spans`` spans."""
    import _loaders_data

    src = _loaders_data.write_otlp_jsonl(n_spans)
    out = src.with_name(src.stem + ".converted.parquet")
    runs = []
    for _ in range(repeats):
        child = [sys.executable, "-c", _CONVERT_CHILD.format(root=str(ROOT)), str(src), str(out)]
        res = subprocess.run([sys.executable, "-c", _MEASURE, *child], check=True, capture_output=True, text=True)
        runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    secs = statistics.median(r["seconds"] for r in runs)
    peak = statistics.median(r["peak_mb"] for r in runs)
    r = runs[0]
    print(f"\nconvert: OTLP JSON Lines, {n_spans:,} spans ({src.stat().st_size / 2**20:,.0f} MiB) -> {r['rows_written']:,} events "
          f"({out.stat().st_size / 2**20:,.0f} MiB Parquet), {r['rows_rejected']} rejected; median of {repeats}: "
          f"{secs:.1f} s, peak RSS {peak:,.0f} MiB (target <= 1024 MiB)")
    assert r["rows_read"] == r["rows_written"] + r["rows_rejected"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--formats", nargs="*", default=["parquet", "jsonl", "csv"])
    ap.add_argument("--no-reference", action="store_true", help="skip the plain pandas readers")
    ap.add_argument("--convert-spans", type=int, default=1_000_000, help="spans of the OTLP export converted (0: skip)")
    ap.add_argument("--convert-only", action="store_true", help="only the trace conversion")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    import _loaders_data

    if args.convert_only:
        convert_figures(args.convert_spans, args.repeats)
        return

    paths = _loaders_data.write_files(args.rows)
    targets = {"parquet": 3.0, "jsonl": 20.0, "csv": None}
    import os

    print(f"{args.rows:,} events; medians of {args.repeats} runs, each in a fresh process; "
          f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    header = f"{'format':8} {'file MB':>8} {'kit s':>7} {'target':>7} {'ref s':>7} {'kit/ref':>8} {'frame MB':>9} {'kit peak MB':>12} {'peak/frame':>11} {'ref peak MB':>12}"
    print(header)
    print("-" * len(header))
    for fmt in args.formats:
        p = paths[fmt]
        kit = [_run("kit", fmt, p) for _ in range(args.repeats)]
        ref = [] if args.no_reference else [_run("ref", fmt, p) for _ in range(args.repeats)]
        ks = statistics.median(r["seconds"] for r in kit)
        kp = statistics.median(r["peak_mb"] for r in kit)
        fm = kit[0]["frame_mb"]
        rs = statistics.median(r["seconds"] for r in ref) if ref else float("nan")
        rp = statistics.median(r["peak_mb"] for r in ref) if ref else float("nan")
        tgt = f"{targets[fmt]:.0f}" if targets.get(fmt) else "-"
        print(
            f"{fmt:8} {p.stat().st_size / 2**20:8.0f} {ks:7.2f} {tgt:>7} {rs:7.2f} {ks / rs:8.2f} {fm:9.0f} {kp:12.0f} {kp / fm:11.2f} {rp:12.0f}"
        )
        assert kit[0]["rows_loaded"] == args.rows and kit[0]["rejected"] == 0
    print("\ntargets: Parquet <= 3 s, JSONL <= 20 s, kit peak <= 3x frame MB; "
          f"load average after: {os.getloadavg()[0]:.1f}")
    if args.convert_spans:
        convert_figures(args.convert_spans, args.repeats)


if __name__ == "__main__":
    main()
