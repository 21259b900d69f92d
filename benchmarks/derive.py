"""Labels derived where the rows lie, at scale: the refusal case without its outcome labels.

For the refusal case made by the kit's generator at ``--events`` rows (default 10M, made once
under ``benchmarks/_data/`` by ``benchmarks/scale.py``'s generator) and a label-less copy of it
(every outcome label dropped, written once by DuckDB), prints on DuckDB:

* the hourly refusal-rate aggregation on the logged label (the reference, same process) and on the
  label derived by the rule (``analysis.text.outcomes.derive_missing``: the rule is one SQL
  expression, evaluated by the engine, no row collected): median wall times of ``--repeat`` runs
  and their ratio;
* the rule measured against the logged label on every row (``measure_rule``: one query);
* the peak resident memory of this process (``ru_maxrss``);
* with ``--investigate``, ``python -m analysis investigate --pattern refusal`` on both files: wall
  time and peak memory of the command (``/usr/bin/time -v``), their ratio, and whether each names
  the cause, the onset and the verdict right (the derived labels are evaluated once by the engine
  and kept in a temporary Parquet file, not re-evaluated by every query);

and with ``--spark``, the same on Spark local mode over the first ``--spark-events`` rows, with
the derived hourly counts compared to DuckDB's. Nothing here asserts: read medians and ratios.

    .venv/bin/python benchmarks/derive.py [--events 10000000] [--repeat 3] [--spark] [--spark-events 1000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from scale import _gen, _right, _timed

from analysis.engine import open_engine
from analysis.engine.query import quote_literal
from analysis.text.outcomes import REFUSAL_RULE, derive_missing, measure_rule

LABELS = ("refused", "escalated", "correct", "hallucinated", "quality_score", "confidence", "expected_output")


def _labelless(case: Path, limit: int | None = None) -> Path:
    """A copy of the case's events without the outcome labels (written once by DuckDB)."""
    out = case / (f"events_labelless_{limit}.parquet" if limit else "events_labelless.parquet")
    if not out.exists():
        src = quote_literal(str(case / "events.parquet"))
        lim = f" LIMIT {int(limit)}" if limit else ""
        con = duckdb.connect(config={"memory_limit": "2GB", "threads": 2, "temp_directory": str(case / "_duckdb_tmp")})
        con.execute(f"COPY (SELECT * EXCLUDE ({', '.join(LABELS)}) FROM read_parquet({src}) ORDER BY ts{lim}) "
                    f"TO {quote_literal(str(out))} (FORMAT PARQUET)")
        con.close()
    return out


def _hourly(eng) -> object:
    return eng.sql("SELECT date_trunc('hour', ts) AS h, COUNT(*) AS n, SUM(CASE WHEN refused THEN 1 ELSE 0 END) AS k "
                   "FROM events GROUP BY 1 ORDER BY 1")


def _time_run(path: Path, derive: bool, engine: str = "duckdb") -> tuple[float, object]:
    t = time.perf_counter()
    with open_engine(str(path), engine=engine) as eng:
        if derive:
            assert derive_missing(eng, ["refused"]) == ["refused"]
        out = _hourly(eng)
    return time.perf_counter() - t, out


def _bench(labelled: Path, labelless: Path, repeat: int, engine: str) -> tuple[object, object]:
    ref, der = [], []
    for _ in range(repeat):
        s, a = _time_run(labelled, False, engine)
        ref.append(s)
        s, b = _time_run(labelless, True, engine)
        der.append(s)
    r, d = statistics.median(ref), statistics.median(der)
    print(f"  [{engine}] hourly refusal rate, logged label: median {r:.1f} s; derived by the rule: median {d:.1f} s; ratio {d / r:.2f}x"
          f" ({repeat} runs each)", flush=True)
    return a, b


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--spark", action="store_true")
    ap.add_argument("--spark-events", type=int, default=1_000_000)
    ap.add_argument("--investigate", action="store_true", help="also the whole command on both files")
    args = ap.parse_args(argv)
    case = _gen(args.events, partition=False)
    labelless = _labelless(case)
    with open_engine(str(case / "events.parquet")) as eng:
        n = eng.profile().rows
    print(f"refusal case, {n:,} events ({case / 'events.parquet'}); label-less copy {labelless.stat().st_size / 2**20:.0f} MiB", flush=True)
    a, b = _bench(case / "events.parquet", labelless, args.repeat, "duckdb")
    rate_a, rate_b = a["k"].sum() / a["n"].sum(), b["k"].sum() / b["n"].sum()
    print(f"  refusal rate overall: logged {rate_a:.4f}, derived {rate_b:.4f}", flush=True)
    t = time.perf_counter()
    with open_engine(str(case / "events.parquet")) as eng:
        m = measure_rule(eng, REFUSAL_RULE)
    print(f"  the rule against the logged label on {m.n:,} rows ({time.perf_counter() - t:.1f} s, one query): "
          f"precision {m.precision:.4f} {m.precision_ci}, recall {m.recall:.4f} {m.recall_ci}", flush=True)
    if args.investigate:
        runs = {}
        for name, path in (("logged labels", case / "events.parquet"), ("label-less", labelless)):
            out = case.parent / f"report-{path.stem}"
            r = _timed([sys.executable, "-m", "analysis", "investigate", "--events", str(path), "--changes", str(case / "changes.csv"),
                        "--pattern", "refusal", "--out", str(out), "--quiet"])
            r["report"] = json.loads((out / "report.json").read_text())
            r["truth"] = json.loads((case / "truth.json").read_text())
            runs[name] = r
            print(f"  investigate, {name}: {r['wall_s']:.0f} s, peak {r['peak_gib']:.2f} GiB; {_right(r)}; "
                  f"derived {r['report']['derived_metrics']}", flush=True)
        print(f"  ratio label-less / logged: {runs['label-less']['wall_s'] / runs['logged labels']['wall_s']:.2f}x", flush=True)
    if args.spark:
        small_l = _labelless(case, args.spark_events)
        small = case / f"events_{args.spark_events}.parquet"
        if not small.exists():
            con = duckdb.connect(config={"temp_directory": str(case / "_duckdb_tmp")})
            con.execute(f"COPY (SELECT * FROM read_parquet({quote_literal(str(case / 'events.parquet'))}) ORDER BY ts "
                        f"LIMIT {int(args.spark_events)}) TO {quote_literal(str(small))} (FORMAT PARQUET)")
            con.close()
        _, sb = _bench(small, small_l, 1, "spark")
        _, db = _time_run(small_l, True, "duckdb")
        same = sb.reset_index(drop=True)[["n", "k"]].astype(int).equals(db.reset_index(drop=True)[["n", "k"]].astype(int))
        print(f"  Spark's derived hourly counts equal DuckDB's on {args.spark_events:,} rows: {same}", flush=True)
    print(f"peak resident memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
