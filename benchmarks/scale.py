"""Scale benchmark of the engine issue: investigate end to end at production volume.

Prints, for the refusal-regression case made by the kit's own generator:

* 10M events in one Parquet file against the same investigation at ~60k events, timed in the same
  run: both wall times, their ratio (target <= 4x) and the peak resident memory of the whole
  command, notebook kernel included (target <= 2 GiB);
* 100M events in a Hive-partitioned folder by day (``--hundred``): time and peak (target <= 4 GiB);
* Spark local mode on 1M events (``--spark``): time, and whether its answers equal DuckDB's;
* the three sample-data demos (``--demo``): time of ``python -m analysis demo``;
* text only (``--text-only``): the large case as an export carries it (outcome labels, ``confidence``
  and the segment columns removed; written once by DuckDB) investigated with the case's taxonomy
  and the triage team's rules (labels derived, topics and tiers read from the text), against the
  same investigation with the labels and segments given, timed in the same run: both wall times,
  their ratio (target <= 2x) and the peak memory (target <= 2 GiB); with ``--spark``, the text-only
  copy of 1M events on Spark against DuckDB (the same answers?);

and for each run whether the answer is right: the cause ranked first, the onset in the truth
window, a systematic verdict. Peak memory is ``ru_maxrss`` of the command's process tree, read by
``/usr/bin/time -v`` (the largest process: the CLI or the papermill kernel). Nothing here asserts:
the machines are shared and noisy, so read medians and ratios.

    .venv/bin/python benchmarks/scale.py [--events 10000000] [--hundred] [--spark] [--demo] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "_data"
PY = sys.executable
EVENTS_AT_SCALE_1 = 66_477  # the refusal case at --scale 1 (sample_data/refusal_regression)


def _gen(n_events: int, partition: bool) -> Path:
    """The refusal case with about ``n_events`` events (made once, kept in benchmarks/_data/)."""
    scale = max(n_events / EVENTS_AT_SCALE_1, 1.0)
    name = f"refusal_{n_events // 1_000_000}M{'_hive' if partition else ''}" if n_events >= 1_000_000 else "refusal_small"
    out = DATA / name
    case = out / "refusal_regression"
    if not (case / "truth.json").exists():
        cmd = [PY, "-m", "analysis", "generate", "--out", str(out), "--case", "refusal_regression", "--scale", f"{scale:.4f}",
               "--no-baseline"]
        if partition:
            cmd += ["--partition-by", "day"]
        print("generating:", " ".join(cmd[1:]), flush=True)
        t = time.perf_counter()
        gen = _timed(cmd)
        print(f"  generated in {time.perf_counter() - t:.0f} s, peak {gen['peak_gib']:.2f} GiB", flush=True)
    return case


def _timed(cmd: list[str]) -> dict:
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-3000:] + p.stderr[-3000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    return {"wall_s": wall, "peak_gib": kb / 2**20, "stdout": p.stdout}


def _events_path(case: Path) -> Path:
    return case / "events" if (case / "events").is_dir() else case / "events.parquet"


#: What an export does not carry (``--text-only``).
TEXT_ONLY_DROP = ("refused", "escalated", "hallucinated", "correct", "quality_score", "confidence", "expected_output",
                  "query_category", "risk_category", "framing", "traffic_source")


def _text_only(case: Path) -> Path:
    """A case folder beside ``case`` whose events lack the labels and segments (written once by DuckDB)."""
    import duckdb

    out = case.parent / "refusal_textonly"
    ev = out / "events.parquet"
    if not ev.exists():
        out.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(config={"memory_limit": "2GB", "threads": 2, "temp_directory": str(out / "_duckdb_tmp")})
        con.execute(f"COPY (SELECT * EXCLUDE ({', '.join(TEXT_ONLY_DROP)}) FROM read_parquet('{case / 'events.parquet'}') ORDER BY ts) "
                    f"TO '{ev}' (FORMAT PARQUET)")
        con.close()
        for name in ("changes.csv", "truth.json"):
            (out / name).write_text((case / name).read_text())
    return out


def _text_options() -> list[str]:
    sample = ROOT / "sample_data" / "refusal_regression"
    return ["--taxonomy", str(sample / "taxonomy.yaml"), "--rules", str(sample / "rules.yaml")]


def _investigate(case: Path, out: Path, *extra: str) -> dict:
    cmd = [PY, "-m", "analysis", "investigate", "--events", str(_events_path(case)), "--changes", str(case / "changes.csv"),
           "--pattern", "refusal", "--out", str(out), "--quiet", *extra]
    r = _timed(cmd)
    r["report"] = json.loads((out / "report.json").read_text())
    r["truth"] = json.loads((case / "truth.json").read_text())
    return r


def _right(r: dict) -> str:
    rep, truth = r["report"], r["truth"]
    cands = rep["q2_what_changed"]["candidates"]
    cause = truth.get("cause_change_id") or truth.get("cause", {}).get("change_id")
    top = cands[0]["change_id"] if cands else None
    onset = rep["onset"]["ts"]
    win = truth.get("onset_window") or [truth.get("onset_earliest"), truth.get("onset_latest")]
    in_window = onset is not None and win[0] is not None and win[0] <= onset <= win[1]
    verdict = rep["q3_scope"]["verdict"]
    ok = top == cause and in_window and verdict == "systematic"
    return (f"{'right' if ok else 'WRONG'}: top cause {top} (truth {cause}), onset {onset} "
            f"({'in' if in_window else 'outside'} {win[0]}..{win[1]}), {verdict}, "
            f"{rep['q3_scope']['affected_events']} affected, rows loaded {rep['inputs']['events']['rows_loaded']}")


def _answers(rep: dict) -> tuple:
    return (rep["onset"]["ts"], json.dumps(rep["onset"]["segment"], sort_keys=True),
            tuple(c["change_id"] for c in rep["q2_what_changed"]["candidates"]), rep["q3_scope"]["verdict"],
            rep["q3_scope"]["affected_events"], rep["inputs"]["events"]["rows_loaded"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=10_000_000, help="events of the large run (default 10M)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each investigation; medians are printed")
    ap.add_argument("--hundred", action="store_true", help="also 100M events in a Hive-partitioned folder by day")
    ap.add_argument("--spark", action="store_true", help="also Spark local mode against DuckDB on 1M events")
    ap.add_argument("--demo", action="store_true", help="also time the three sample-data demos")
    ap.add_argument("--skip-large", action="store_true", help="skip the 10M run")
    ap.add_argument("--text-only", action="store_true",
                    help="the large case without labels and segments (derived from the text) against it with them, same run")
    args = ap.parse_args()
    out = DATA / "reports"
    small = ROOT / "sample_data" / "refusal_regression"
    if args.text_only:
        large = _gen(args.events, partition=False)
        text = _text_only(large)
        rl, rt = [], []
        for _ in range(args.repeat):
            rl.append(_investigate(large, out / "labelled"))
            rt.append(_investigate(text, out / "text_only", *_text_options()))
        tl, tt = statistics.median(r["wall_s"] for r in rl), statistics.median(r["wall_s"] for r in rt)
        print(f"\ninvestigate, refusal case at {args.events:,} events, DuckDB (median of {args.repeat})")
        print(f"  labels and segments given: {tl:7.1f} s, peak {max(r['peak_gib'] for r in rl):.2f} GiB   {_right(rl[0])}")
        print(f"  text only (derived):       {tt:7.1f} s, peak {max(r['peak_gib'] for r in rt):.2f} GiB   {_right(rt[0])}")
        print(f"  time ratio {tt / tl:.2f}x (target <= 2x); peak target <= 2 GiB")
        if args.spark:
            one = _text_only(_gen(1_000_000, partition=False))
            d = _investigate(one, out / "text_duckdb", *_text_options())
            s = _investigate(one, out / "text_spark", "--engine", "spark", *_text_options())
            print(f"\nSpark local[*], text only, {s['report']['inputs']['events']['rows_loaded']:,} events: {s['wall_s']:.0f} s "
                  f"(DuckDB {d['wall_s']:.0f} s); same answers as DuckDB: {_answers(d['report']) == _answers(s['report'])}")
            print(f"  DuckDB {_right(d)}\n  Spark  {_right(s)}")
        return
    if not args.skip_large:
        large = _gen(args.events, partition=False)
        rs, rl = [], []
        for i in range(args.repeat):
            rs.append(_investigate(small, out / "small"))
            rl.append(_investigate(large, out / "large"))
        ts, tl = statistics.median(r["wall_s"] for r in rs), statistics.median(r["wall_s"] for r in rl)
        n_small = rs[0]["report"]["inputs"]["events"]["rows_loaded"]
        n_large = rl[0]["report"]["inputs"]["events"]["rows_loaded"]
        print(f"\ninvestigate, refusal case, DuckDB (median of {args.repeat})")
        print(f"  {n_small:>11,} events: {ts:7.1f} s, peak {max(r['peak_gib'] for r in rs):.2f} GiB   {_right(rs[0])}")
        print(f"  {n_large:>11,} events: {tl:7.1f} s, peak {max(r['peak_gib'] for r in rl):.2f} GiB   {_right(rl[0])}")
        print(f"  time ratio {tl / ts:.2f}x for {n_large / n_small:.0f}x the events (target <= 4x); peak target <= 2 GiB")
    if args.hundred:
        big = _gen(100_000_000, partition=True)
        r = _investigate(big, out / "hundred", "--memory-limit", "2GB")
        n = r["report"]["inputs"]["events"]["rows_loaded"]
        print(f"\n100M, Hive-partitioned by day: {n:,} events in {r['wall_s']:.0f} s, peak {r['peak_gib']:.2f} GiB "
              f"(target <= 4 GiB)   {_right(r)}")
    if args.spark:
        one = _gen(1_000_000, partition=False)
        d = _investigate(one, out / "spark_duckdb")
        s = _investigate(one, out / "spark", "--engine", "spark")
        same = _answers(d["report"]) == _answers(s["report"])
        print(f"\nSpark local[*] on {s['report']['inputs']['events']['rows_loaded']:,} events: {s['wall_s']:.0f} s "
              f"(DuckDB {d['wall_s']:.0f} s), peak {s['peak_gib']:.2f} GiB; same answers as DuckDB: {same}   {_right(s)}")
    if args.demo:
        r = _timed([PY, "-m", "analysis", "demo", "--out", str(out / "demo"), "--quiet"])
        print(f"\nmake demo (three sample-data cases): {r['wall_s']:.1f} s, peak {r['peak_gib']:.2f} GiB (before the engine: 28.5 s)")


if __name__ == "__main__":
    main()
