"""Same answers before and after a change of the code: the sample-data reports of two revisions, diffed.

Runs ``python -m analysis demo`` on the bundled sample data with the code of an older revision (checked
out with ``git worktree`` into a temporary folder) and with the working tree, back to back, and
compares each case's outputs on the fields a restructuring must not move:

* the onset (time, metric, segment, interval, sidedness),
* the candidates (change ids, in rank order),
* the verdict, the affected share and the affected events (the ``event_id`` set of
  ``affected_events.csv``),
* the monitors of ``monitors.yaml`` (name, chart, metric, sidedness, segment, window, parameters).

It prints one line per case and field (``same`` or the two values) and the two codes' demo wall
times: ``--repeat`` runs of each, alternating old and new (old, new, new, old, ...) so that a noisy
machine's drift falls on both, with their medians and the ratio of the medians. It exits 1 when any
field differs.

Usage::

    .venv/bin/python benchmarks/compare_reports.py --old df8f098
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
#: The old spelling of sidedness in monitors.yaml, read as the new one.
OLD_SIDES = {"up": "greater", "down": "less", "both": "two-sided"}


def run_demo(code: Path, out: Path, data: Path) -> float:
    """Run the demo with the package found in ``code``; return the wall time in seconds."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "analysis", "demo", "--out", str(out), "--data", str(data), "--quiet"],
                   cwd=code, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _side(d: dict[str, Any]) -> Any:
    side = d.get("alternative", d.get("direction"))
    return OLD_SIDES.get(side, side)


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return a == b


def fields(case_dir: Path) -> dict[str, Any]:
    """The compared fields of one case's outputs."""
    rep = json.loads((case_dir / "report.json").read_text())
    onset = rep["onset"]
    out: dict[str, Any] = {
        "onset": {"ts": onset.get("ts"), "metric": onset.get("metric"), "segment": onset.get("segment"),
                  "interval": onset.get("interval"), "alternative": _side(onset)},
        "candidates": [c["change_id"] for c in rep["q2_what_changed"]["candidates"]],
        "verdict": rep["q3_scope"]["verdict"],
        "affected_share": rep["q3_scope"]["affected_share"],
    }
    affected = case_dir / "affected_events.csv"
    if affected.exists():
        with affected.open(newline="") as fh:
            out["affected_events"] = sorted(row["event_id"] for row in csv.DictReader(fh))
    monitors = case_dir / "monitors.yaml"
    if monitors.exists():
        doc = yaml.safe_load(monitors.read_text())
        out["monitors"] = [{"name": m["name"], "chart": m["chart"], "metric": m["metric"], "alternative": _side(m),
                            "segment": m.get("segment"), "window": m["window"], "parameters": m["parameters"]}
                           for m in doc["monitors"]]
    return out


def compare(old: Path, new: Path) -> list[str]:
    """One line per case and field; the lines of differing fields start with ``DIFF``."""
    lines = []
    for case in sorted(p.name for p in old.iterdir() if (p / "report.json").exists()):
        a, b = fields(old / case), fields(new / case)
        for key in sorted(a.keys() | b.keys()):
            same = _close(a.get(key), b.get(key))
            if same:
                n = len(a[key]) if isinstance(a.get(key), list) else None
                lines.append(f"{case:24s} {key:16s} same" + (f" ({n} items)" if n is not None else ""))
            else:
                lines.append(f"DIFF {case:19s} {key:16s} old={json.dumps(a.get(key))[:300]} new={json.dumps(b.get(key))[:300]}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="the older revision (a commit, branch or tag)")
    ap.add_argument("--data", default=str(ROOT / "sample_data"), help="the case-study data (default: sample_data)")
    ap.add_argument("--repeat", type=int, default=3, help="demo runs of each code for the timing (default: 3)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="compare-reports-") as tmp:
        tmp_p = Path(tmp)
        old_code = tmp_p / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old_code), args.old], check=True)
        try:
            data = Path(args.data).resolve()
            times: dict[str, list[float]] = {"old": [], "new": []}
            for i in range(max(args.repeat, 1)):
                order = ("old", "new") if i % 2 == 0 else ("new", "old")
                for which in order:
                    code = old_code if which == "old" else ROOT
                    times[which].append(run_demo(code, tmp_p / f"{which}-reports-{i}", data))
            lines = compare(tmp_p / "old-reports-0", tmp_p / "new-reports-0")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_code)], check=False)
    print("\n".join(lines))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"demo wall time over {len(times['old'])} runs each: old {args.old} median {med['old']:.1f} s "
          f"({', '.join(f'{t:.1f}' for t in times['old'])}), new (working tree) median {med['new']:.1f} s "
          f"({', '.join(f'{t:.1f}' for t in times['new'])}); ratio of the medians new/old {med['new'] / med['old']:.2f}")
    return 1 if any(line.startswith("DIFF") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
