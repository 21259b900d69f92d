"""Command line: ``python -m analysis {investigate,demo,generate,convert}``.

* ``investigate`` papermill-executes the pattern's notebook (``auto`` -> ``triage.ipynb``) with the
  given files and options, then renders ``report.html`` (inputs hidden) next to the notebook's
  ``report.json``, ``report.md`` and ``timeline.csv``, and saves the executed notebook there.
* ``demo`` does that for the three case studies in ``sample_data/`` into ``reports/<case>/``.
* ``generate`` writes ``sample_data/`` (the case studies and their no-incident twins); above
  ``--scale 10`` (or with ``--chunked``) it streams them day by day with bounded memory.
* ``convert`` turns an events export into canonical Parquet once, for the engine to read directly.

Bad input (a missing file, a timestamp without an offset, an unknown pattern) ends with a one-line
``error: ...`` on stderr and exit code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["main", "build_parser", "EXIT_USAGE", "EXIT_FAILED"]

EXIT_USAGE = 2  # bad input: files, timestamps, options, data that cannot be read
EXIT_FAILED = 1  # the investigation itself failed

# `generate` streams the events in time slices (analysis.scenarios.write_events) above this scale:
# in memory, a case takes ~1.6 kB per event (scale 10: ~0.66M refusal events, ~1.2 GB).
CHUNKED_SCALE = 10.0
_CASES = ("retrieval_degradation", "refusal_regression", "escalation_storm")

# Exceptions raised inside the notebook that mean "your input is wrong", not "the kit failed".
_INPUT_ERRORS = {"ParameterError", "SchemaError", "LoadError", "FileNotFoundError", "LoaderError", "MappingError"}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``error: ... (see `python -m analysis investigate --help`)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m analysis",
        description="AI incident forensics kit: reconstruct an LLM incident and draft its postmortem.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    inv = sub.add_parser(
        "investigate",
        help="run the pattern's notebook on your logs and write the incident report",
        description=(
            "Execute the pattern's notebook with papermill on EVENTS and CHANGES and write report.json, "
            "report.md, report.html (code hidden), timeline.csv, affected_events.csv, the executed "
            "notebook and the rejected rows (when any) into DIR."
        ),
    )
    inv.add_argument("--events", required=True, metavar="FILE", help="events: Parquet, JSONL, CSV, OTLP JSON, Phoenix or Langfuse export")
    inv.add_argument("--changes", required=True, metavar="FILE", help="change log: CSV, JSONL, YAML or Parquet")
    inv.add_argument(
        "--reported-at",
        default="",
        metavar="TS",
        help="when the incident was reported, ISO 8601 with offset (e.g. 2026-03-01T12:00:00Z); default: the last event",
    )
    inv.add_argument(
        "--pattern",
        default="auto",
        choices=["auto", "retrieval", "refusal", "escalation"],
        help="incident pattern; auto scans every outcome metric and segment (default: auto)",
    )
    inv.add_argument("--metric", default="", metavar="COL", help="outcome column to investigate (default: the pattern's)")
    inv.add_argument(
        "--segment-by",
        nargs="+",
        default=[],
        metavar="COL",
        help="segment columns, e.g. --segment-by risk_category framing (default: the pattern's)",
    )
    inv.add_argument("--window", default="", metavar="DUR", help="aggregation window such as 1h or 30min (default: the pattern's)")
    inv.add_argument("--out", default="reports/investigation", metavar="DIR", help="output directory (default: reports/investigation)")
    inv.add_argument(
        "--assume-tz",
        default="",
        metavar="TZ",
        help="time zone of timestamps without an offset, e.g. UTC or Europe/Paris (default: reject them)",
    )
    inv.add_argument("--mapping", default="", metavar="FILE", help="column mapping file (YAML or JSON) for non-canonical exports")
    inv.add_argument(
        "--evaluations",
        default="",
        metavar="FILE",
        help="offline evaluation history (CSV, JSONL or Parquet with ts and passed), replayed as the weekly "
        "evaluation monitor (default: simulate a weekly evaluation)",
    )
    inv.add_argument("--seed", type=int, default=0, help="seed for the sampled parts of the analysis (default: 0)")
    inv.add_argument(
        "--no-redact",
        dest="redact",
        action="store_false",
        help="keep emails, phone numbers and similar personal data in the reports (default: redact)",
    )
    inv.add_argument("--engine", default="duckdb", choices=("duckdb", "spark"),
                     help="engine that reads the events: duckdb (embedded, default) or spark")
    inv.add_argument("--memory-limit", default="1GB", metavar="SIZE",
                     help="DuckDB memory limit, e.g. 4GB; past it DuckDB spills to disk (default: 1GB)")
    inv.add_argument("--spark-master", default="local[*]", metavar="URL",
                     help="Spark master URL with --engine spark (default: local[*])")
    inv.add_argument("--quiet", action="store_true", help="no progress bar")

    demo = sub.add_parser(
        "demo",
        help="investigate the three case studies in sample_data/ into reports/<case>/",
        description="Run the three case studies (retrieval degradation, refusal regression, escalation storm).",
    )
    demo.add_argument("--out", default="reports", metavar="DIR", help="parent directory of the reports (default: reports)")
    demo.add_argument("--data", default="sample_data", metavar="DIR", help="case-study data (default: sample_data)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")

    conv = sub.add_parser(
        "convert",
        help="turn any supported events export into canonical Parquet once (read directly by the engine afterwards)",
        description="Stream an events export (canonical Parquet/JSONL/CSV, OTLP, Phoenix, Langfuse) into one canonical "
                    "Parquet file, sorted by ts and with one row per event_id; rejected rows go to OUT.rejected.csv.",
    )
    conv.add_argument("--events", required=True, metavar="FILE", help="the export to convert")
    conv.add_argument("--out", required=True, metavar="FILE", help="the canonical Parquet file to write")
    conv.add_argument("--format", default=None, metavar="FMT", help="input format (default: detected)")
    conv.add_argument("--assume-tz", default=None, metavar="TZ", help="IANA zone of timestamps written without an offset")
    conv.add_argument("--mapping", default=None, metavar="FILE", help="column mapping file (YAML or JSON)")
    conv.add_argument("--memory-limit", default="512MB", metavar="SIZE",
                      help="DuckDB memory limit for the de-duplication and the sort (default: 512MB; it spills to disk past it)")
    conv.add_argument("--project", default=None, metavar="NAME", help="Phoenix database: the project to read (default: every project)")
    conv.add_argument("--start", default=None, metavar="TIME", help="Phoenix database: only spans starting at or after TIME (ISO; UTC without a zone)")
    conv.add_argument("--end", default=None, metavar="TIME", help="Phoenix database: only spans starting before TIME (ISO; UTC without a zone)")

    gen = sub.add_parser(
        "generate",
        help="write the case-study data (and no-incident twins) to sample_data/",
        description=(
            "Generate the three seeded case studies with their ground truth and no-incident twins. Above "
            f"--scale {CHUNKED_SCALE:g} (or with --chunked) the events are generated and written in time slices "
            "of at most --max-chunk-events events, so memory stays bounded (about 1 GB) whatever the volume; "
            "the scenario (changes, onset, ground truth, rates) is the same, the rows are not those of the "
            "in-memory generator."
        ),
    )
    gen.add_argument("--out", default="sample_data", metavar="DIR", help="output directory (default: sample_data)")
    gen.add_argument("--scale", type=float, default=1.0, help="traffic volume multiplier (default: 1.0; 1.0 is ~66,000 refusal events)")
    gen.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    gen.add_argument(
        "--case",
        nargs="+",
        choices=[*_CASES, "all"],
        default=["all"],
        metavar="CASE",
        help=f"case(s) to write: {', '.join(_CASES)} or all (default: all)",
    )
    gen.add_argument("--no-baseline", dest="baselines", action="store_false", help="skip the no-incident twins (<case>_baseline/)")
    mode = gen.add_mutually_exclusive_group()
    mode.add_argument(
        "--chunked",
        dest="chunked",
        action="store_const",
        const=True,
        default=None,
        help=f"stream the events in time slices with bounded memory (default above --scale {CHUNKED_SCALE:g})",
    )
    mode.add_argument(
        "--in-memory",
        dest="chunked",
        action="store_const",
        const=False,
        help=f"generate each case in memory, as at small scales (default up to --scale {CHUNKED_SCALE:g})",
    )
    gen.add_argument(
        "--partition-by",
        choices=["day"],
        default=None,
        help="write events/day=YYYY-MM-DD/part-0.parquet (a Hive-partitioned folder) instead of events.parquet; implies --chunked",
    )
    gen.add_argument(
        "--max-chunk-events",
        type=int,
        default=400_000,
        metavar="N",
        help="chunked: split the days into slices of at most ~N expected events (the memory bound; default: 400000)",
    )
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _error(message: str, code: int = EXIT_USAGE) -> int:
    text = " ".join(str(message).split())
    print(f"error: {text}", file=sys.stderr)
    return code


def _abs(path: str) -> str:
    """User paths are relative to the user's working directory (not the notebook's)."""
    return str(Path(path).expanduser().resolve()) if path else ""


def _investigate(args: argparse.Namespace) -> int:
    from analysis.report import NotebookFailed, ParameterError, run_investigation

    events, changes = Path(args.events).expanduser(), Path(args.changes).expanduser()
    if not events.exists():  # a file, or a folder for a Langfuse export
        return _error(f"--events: file not found: {events}")
    for flag, path in (
        ("--changes", changes),
        ("--mapping", Path(args.mapping).expanduser() if args.mapping else None),
        ("--evaluations", Path(args.evaluations).expanduser() if args.evaluations else None),
    ):
        if path is not None and not path.is_file():
            return _error(f"{flag}: file not found: {path}")
    params: dict[str, Any] = {
        "events_path": _abs(args.events),
        "changes_path": _abs(args.changes),
        "reported_at": args.reported_at,
        "pattern": args.pattern,
        "metric": args.metric,
        "segment_by": ",".join(args.segment_by),
        "window": args.window,
        "out_dir": _abs(args.out),
        "redact": bool(args.redact),
        "assume_tz": args.assume_tz,
        "mapping_path": _abs(args.mapping),
        "evaluations_path": _abs(args.evaluations),
        "seed": int(args.seed),
        "engine": args.engine,
        "memory_limit": args.memory_limit,
        "spark_master": args.spark_master,
    }
    try:
        run = run_investigation(params, progress=not args.quiet)
    except ParameterError as exc:
        return _error(_cli_names(str(exc)))
    except NotebookFailed as exc:
        where = f" (executed notebook: {exc.notebook})" if exc.notebook else ""
        code = EXIT_USAGE if exc.ename in _INPUT_ERRORS else EXIT_FAILED
        return _error(f"{exc.ename}: {_cli_names(exc.evalue)}{where}", code)
    print(f"Report written to {run.out_dir}")
    for line in run.lines():
        print(line)
    return 0


_CLI_FLAGS = {
    "`events_path`": "--events",
    "`changes_path`": "--changes",
    "`reported_at`": "--reported-at",
    "`segment_by`": "--segment-by",
    "`assume_tz`": "--assume-tz",
    "`mapping_path`": "--mapping",
    "`evaluations_path`": "--evaluations",
    "`out_dir`": "--out",
    "`pattern`": "--pattern",
    "`metric`": "--metric",
    "`window`": "--window",
    "`seed`": "--seed",
    "`engine`": "--engine",
    "`memory_limit`": "--memory-limit",
    "`spark_master`": "--spark-master",
}


def _cli_names(message: str) -> str:
    """Name the command-line flag instead of the notebook parameter in an error message."""
    for param, flag in _CLI_FLAGS.items():
        message = message.replace(param, flag)
    return message


def _convert(args: argparse.Namespace) -> int:
    from analysis.loaders.convert import convert_events
    from analysis.loaders.phoenix_db import is_phoenix_url
    from analysis.schema import SchemaError

    try:
        events = args.events if is_phoenix_url(args.events) else Path(args.events).expanduser()
        res = convert_events(events, Path(args.out).expanduser(), format=args.format, assume_tz=args.assume_tz,
                             mapping=args.mapping, memory_limit=args.memory_limit, project=args.project, start=args.start, end=args.end)
    except (SchemaError, ValueError) as exc:
        return _error(str(exc))
    for line in res.lines():
        print(line)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from analysis.report import CASES, NotebookFailed, ParameterError, default_parameters, run_investigation

    data = Path(args.data).expanduser().resolve()
    out = Path(args.out).expanduser().resolve()
    missing = [c for c in CASES if not (data / c / "changes.csv").is_file()]
    if missing:
        return _error(f"no case-study data in {data} (missing {', '.join(missing)}): run `python -m analysis generate` first")
    runs = []
    bar = tqdm(list(CASES.items()), desc="demo", unit="case", disable=args.quiet)
    for case, pattern in bar:
        bar.set_postfix_str(case)
        events = _case_events(data / case)
        if events is None:
            return _error(f"no events file in {data / case}")
        evaluations = data / case / "evaluations.csv"
        params = default_parameters(
            events_path=str(events),
            changes_path=str(data / case / "changes.csv"),
            pattern=pattern,
            out_dir=str(out / case),
            evaluations_path=str(evaluations) if evaluations.is_file() else "",
        )
        try:
            runs.append(
                run_investigation(params, progress=False if args.quiet else {"desc": case, "leave": False, "position": 1})
            )
        except ParameterError as exc:
            return _error(str(exc))
        except NotebookFailed as exc:
            where = f" (executed notebook: {exc.notebook})" if exc.notebook else ""
            return _error(f"{case}: {exc.ename}: {exc.evalue}{where}", EXIT_FAILED)
    bar.close()
    for run in runs:
        print(f"{run.out_dir.name}: {run.html}")
        for line in run.lines():
            print(line)
    return 0


def _case_events(folder: Path) -> Path | None:
    for name in ("events.parquet", "events.jsonl", "events.csv"):
        if (folder / name).is_file():
            return folder / name
    return None


def _generate(args: argparse.Namespace) -> int:
    if args.scale <= 0:
        return _error(f"--scale must be positive, got {args.scale}")
    if args.seed < 0:
        return _error(f"--seed must be a non-negative integer, got {args.seed}")
    if args.max_chunk_events < 1:
        return _error(f"--max-chunk-events must be a positive integer, got {args.max_chunk_events}")
    partition = args.partition_by == "day"
    if partition and args.chunked is False:
        return _error("--partition-by day needs the chunked writer: drop --in-memory")
    chunked = args.chunked if args.chunked is not None else (partition or args.scale > CHUNKED_SCALE)
    try:
        from analysis.scenarios import write_sample_data
    except ImportError as exc:  # pragma: no cover - depends on the install
        return _error(f"cannot import analysis.scenarios: {exc}", EXIT_FAILED)
    out = Path(args.out).expanduser().resolve()
    # Only the options that differ from the defaults, so that a plain `generate` is today's call.
    extra: dict[str, Any] = {}
    if "all" not in args.case:
        extra["cases"] = tuple(dict.fromkeys(args.case))
    if not args.baselines:
        extra["baselines"] = False
    if chunked:
        extra.update(chunked=True, partition_by_day=partition, max_chunk_events=args.max_chunk_events)
    try:
        written = write_sample_data(out, scale=args.scale, seed=args.seed, progress=not args.quiet, **extra)
    except (ValueError, FileExistsError) as exc:
        return _error(str(exc))
    print(f"Sample data written to {out}")
    if isinstance(written, dict):
        for key, value in written.items():
            names = sorted(Path(str(v)).name for v in value.values()) if isinstance(value, dict) else [str(value)]
            print(f"  {key}: {', '.join(names)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    handler = {"investigate": _investigate, "demo": _demo, "generate": _generate, "convert": _convert}[args.command]
    try:
        return handler(args)
    except KeyboardInterrupt:
        return _error("interrupted", 130)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
