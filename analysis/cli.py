"""Command line: ``python -m analysis {investigate,demo,generate,convert,monitor,gate}``.

Each command imports what it uses when it runs (the only imports of the package's own modules
inside functions, apart from optional dependencies): the notebook commands never load the monitor
runner or the loaders' trace parsers, and ``--help`` answers at once (measured: ``import analysis.cli``
takes 0.6 s so, 2.1 s with every command's imports at the top).

* ``investigate`` papermill-executes the pattern's notebook (``auto`` -> ``triage.ipynb``) with the
  given files and options, then renders ``report.html`` (inputs hidden) next to the notebook's
  ``report.json``, ``report.md`` and ``timeline.csv``, and saves the executed notebook there.
* ``demo`` does that for the three case studies in ``sample_data/`` into ``reports/<case>/``.
* ``generate`` writes ``sample_data/`` (the case studies and their no-incident twins); above
  ``--scale 10`` (or with ``--chunked``) it streams them day by day with bounded memory.
* ``convert`` turns an events export into canonical Parquet once, for the engine to read directly.
* ``monitor`` runs a report's ``monitors.yaml`` on new logs (exit 1 on an alarm), resuming from ``--state``.
* ``gate`` evaluates a canary against control per risk tier with a group-sequential test (hourly looks) and
  exits 0 (promote), 1 (hold) or 3 (continue).

Bad input (a missing file, a timestamp without an offset, an unknown pattern) ends with a one-line
``error: ...`` on stderr and exit code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

from analysis.params import add_arguments, arguments_to_raw
from analysis.schema.metrics import LEGACY_SIDEDNESS

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

    for add in (_add_investigate, _add_demo, _add_convert, _add_monitor, _add_gate, _add_generate):
        add(sub)
    return parser


def _add_reading_options(parser: argparse.ArgumentParser, *, format_: bool) -> None:
    """How an events export is read: its format, the zone of naive timestamps, a column mapping."""
    if format_:
        parser.add_argument("--format", default=None, metavar="FMT", help="input format (default: detected)")
    parser.add_argument("--assume-tz", default=None, metavar="TZ", help="IANA zone of timestamps written without an offset")
    parser.add_argument("--mapping", default=None, metavar="FILE", help="column mapping file (YAML or JSON)")
    parser.add_argument("--rules", default=None, metavar="FILE",
                        help="rules (YAML) deriving missing labels and grounding from the text, in place of the built-in ones per column")


def _derive(engine: Any, columns: list[str], rules_path: str | None) -> None:
    """Derive the missing ``columns`` the rules cover, where the rows lie, with a note on stderr."""
    from analysis.text.outcomes import derive_missing
    from analysis.text.rules import rules_with

    for col in derive_missing(engine, columns, rules_with(Path(rules_path).expanduser() if rules_path else None)):
        print(f"note: {col} is not logged: derived from the text (analysis.text)", file=sys.stderr)


def _chat_only(engine: Any, what: str) -> None:
    """Keep the events of other operations (embedding calls) out of ``what``'s metrics, with a note on stderr."""
    from analysis.investigation.operations import set_apart

    apart = set_apart(engine, None)
    if apart.counts:
        kinds = ", ".join(f"{n} {op}" for op, n in sorted(apart.counts.items()))
        print(f"note: {kinds} event(s) kept apart: {what} read(s) the chat events only", file=sys.stderr)


def _add_investigate(sub: Any) -> None:
    """The ``investigate`` command: its options come from the one parameter spec (:mod:`analysis.params`)."""
    inv = sub.add_parser(
        "investigate",
        help="run the pattern's notebook on your logs and write the incident report",
        description=(
            "Execute the pattern's notebook with papermill on EVENTS and CHANGES and write report.json, "
            "report.md, report.html (code hidden), timeline.csv, affected_events.csv, the executed "
            "notebook and the rejected rows (when any) into DIR."
        ),
    )
    add_arguments(inv)  # the options come from the one parameter spec, as the notebooks' parameters do
    inv.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_demo(sub: Any) -> None:
    """The ``demo`` command."""
    demo = sub.add_parser(
        "demo",
        help="investigate the three case studies in sample_data/ into reports/<case>/",
        description="Run the three case studies (retrieval degradation, refusal regression, escalation storm).",
    )
    demo.add_argument("--out", default="reports", metavar="DIR", help="parent directory of the reports (default: reports)")
    demo.add_argument("--data", default="sample_data", metavar="DIR", help="case-study data (default: sample_data)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_convert(sub: Any) -> None:
    """The ``convert`` command."""
    conv = sub.add_parser(
        "convert",
        help="turn any supported events export into canonical Parquet once (read directly by the engine afterwards)",
        description="Stream an events export (canonical Parquet/JSONL/CSV, OTLP, Phoenix, Langfuse) into one canonical "
                    "Parquet file, sorted by ts and with one row per event_id; rejected rows go to OUT.rejected.csv.",
    )
    conv.add_argument("--events", required=True, metavar="FILE", help="the export to convert")
    conv.add_argument("--out", required=True, metavar="FILE", help="the canonical Parquet file to write")
    _add_reading_options(conv, format_=True)
    conv.add_argument("--no-derive", action="store_true",
                      help="do not derive the missing outcome labels and grounding from the text into the file (default: derive)")
    conv.add_argument("--memory-limit", default="512MB", metavar="SIZE",
                      help="DuckDB memory limit for the de-duplication and the sort (default: 512MB; it spills to disk past it)")
    conv.add_argument("--project", default=None, metavar="NAME", help="Phoenix database: the project to read (default: every project)")
    conv.add_argument("--start", default=None, metavar="TIME", help="Phoenix database: only spans starting at or after TIME (ISO; UTC without a zone)")
    conv.add_argument("--end", default=None, metavar="TIME", help="Phoenix database: only spans starting before TIME (ISO; UTC without a zone)")


def _add_monitor(sub: Any) -> None:
    """The ``monitor`` command."""
    mon = sub.add_parser(
        "monitor",
        help="run a report's monitors.yaml on new logs (exit 1 on an alarm, 0 without, 2 on bad input)",
        description="Evaluate the monitors of monitors.yaml on new logs through the engine. With --state, each chart "
                    "resumes where the last run stopped (only newer events are read; the newest, incomplete window "
                    "waits for the next run). Prints the alarms as JSON and one line each.",
    )
    mon.add_argument("--config", required=True, metavar="FILE", help="monitors.yaml (written beside every report)")
    mon.add_argument("--events", required=True, metavar="FILE", help="the new logs (any supported format, a glob or a folder)")
    mon.add_argument("--state", default=None, metavar="FILE", help="chart states: read if it exists, written after the run")
    mon.add_argument("--prometheus", default=None, metavar="FILE", help="write the chart states in Prometheus text format")
    mon.add_argument("--until", default=None, metavar="TS", help="chart the windows that end by this time (default: all complete ones)")
    mon.add_argument("--engine", default="duckdb", choices=["duckdb", "spark"], help="query engine (default: duckdb)")
    _add_reading_options(mon, format_=True)


def _add_generate(sub: Any) -> None:
    """The ``generate`` command."""
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



def _add_gate(sub: Any) -> None:
    gate = sub.add_parser(
        "gate",
        help="canary evaluation: hold, promote or continue a rollout per risk tier (exit 0 promote, 1 hold, 3 continue)",
        description=(
            "Compare the treatment arm (the canary) with control per tier on a boolean outcome, with tests whose "
            "error rates hold however often the gate is run. Prints the decision and its evidence as JSON on stdout "
            "and one human line on stderr; exit code 0 promote, 1 hold, 3 continue, 2 bad input."
        ),
    )
    gate.add_argument("--events", required=True, metavar="FILE", help="events: any format `investigate` reads")
    gate.add_argument("--control", required=True, metavar="COL=VALUE", help="the control arm, e.g. model_version=medtriage-v1")
    gate.add_argument("--treatment", required=True, metavar="COL=VALUE", help="the canary arm, e.g. model_version=medtriage-v2")
    gate.add_argument("--metric", default="refused", metavar="COL", help="boolean outcome column (default: refused)")
    gate.add_argument("--by", default="risk_category", metavar="COL", help="tier column (default: risk_category)")
    gate.add_argument("--alternative", default=None, choices=("greater", "less"),
                      help="which way is bad: greater (treatment's rate higher) or less; default per metric: refused less, "
                           "escalated/hallucinated greater")
    # the old spelling, still read (with a deprecation note on stderr)
    gate.add_argument("--direction", default=None, choices=("up", "down"), help=argparse.SUPPRESS)
    gate.add_argument("--alpha", type=float, default=0.05, help="family-wise error over tiers and looks (default: 0.05)")
    gate.add_argument("--tolerance", nargs="+", default=[], metavar="TIER=RATE",
                      help="tolerated harm per tier, e.g. high=0.002 (default: the scope step's tier tolerances)")
    gate.add_argument("--every", default="1h", metavar="DUR",
                      help="look every DUR from the first treatment request, every look replayed (default: 1h)")
    gate.add_argument("--horizon", default=None, metavar="DUR",
                      help="obf: the planned canary length over which the level is spent, e.g. 24h; events after it are "
                           "not read (default: up to --end when given, else 24h)")
    gate.add_argument("--start", default=None, metavar="TS", help="only events at or after TS (ISO 8601 with offset)")
    gate.add_argument("--end", default=None, metavar="TS", help="only events before TS (ISO 8601 with offset)")
    gate.add_argument("--method", default="obf", choices=("obf", "exact", "msprt"),
                      help="obf: group-sequential score test with O'Brien-Fleming-type alpha spending, exact for tiny arms "
                           "(default); exact: beta-binomial confidence sequences; msprt: normal-mixture SPRT")
    gate.add_argument("--tau", type=float, default=0.1, help="msprt: mixing scale of the harm (default: 0.1)")
    gate.add_argument("--out", default=None, metavar="DIR", help="also write gate.json and gate_looks.csv into DIR")
    gate.add_argument("--engine", default="duckdb", choices=("duckdb", "spark"), help="engine that reads the events (default: duckdb)")
    gate.add_argument("--memory-limit", default="1GB", metavar="SIZE", help="DuckDB memory limit (default: 1GB)")
    gate.add_argument("--spark-master", default="local[*]", metavar="URL", help="Spark master with --engine spark")
    _add_reading_options(gate, format_=False)


def _gate(args: argparse.Namespace) -> int:
    # loaded when the command runs (see the module docstring)
    from analysis.prevention.gate import GateInputError, evaluate_gate, parse_tolerances, write_gate
    from analysis.loaders import LoadError
    from analysis.loaders.engine_events import open_events
    from analysis.schema import SchemaError

    if not Path(args.events).expanduser().exists():
        return _error(f"--events: file not found: {Path(args.events).expanduser()}")
    try:
        tolerances = parse_tolerances(args.tolerance)
        src = open_events(Path(args.events).expanduser(), engine=args.engine, memory_limit=args.memory_limit,
                          spark_master=args.spark_master, assume_tz=args.assume_tz, mapping=args.mapping)
        _chat_only(src.engine, "the gate")
        _derive(src.engine, [args.metric], args.rules)
    except (GateInputError, LoadError, SchemaError, ValueError) as exc:
        return _error(str(exc))
    try:
        result = evaluate_gate(src.engine, control=args.control, treatment=args.treatment, metric=args.metric, by=args.by,
                               alternative=_gate_alternative(args), alpha=args.alpha, tolerances=tolerances, every=args.every,
                               start=args.start, end=args.end, method=args.method, tau=args.tau, horizon=args.horizon)
    except GateInputError as exc:
        return _error(str(exc))
    finally:
        src.close()
    if args.out:
        write_gate(result, Path(args.out).expanduser())
    print(result.to_json())
    print(result.line(), file=sys.stderr)
    return result.exit_code


def _gate_alternative(args: argparse.Namespace) -> str | None:
    """``--alternative``, or the deprecated ``--direction up|down`` read as it."""
    if args.direction is None:
        return args.alternative
    new = LEGACY_SIDEDNESS[args.direction]
    print(f"note: --direction {args.direction} is deprecated; write --alternative {new}", file=sys.stderr)
    return args.alternative or new


def _error(message: str, code: int = EXIT_USAGE) -> int:
    text = " ".join(str(message).split())
    print(f"error: {text}", file=sys.stderr)
    return code


def _abs(path: str) -> str:
    """User paths are relative to the user's working directory (not the notebook's)."""
    return str(Path(path).expanduser().resolve()) if path else ""


def _investigate(args: argparse.Namespace) -> int:
    # loaded when the command runs (see the module docstring)
    from analysis.report import NotebookFailed, ParameterError, run_investigation

    params = arguments_to_raw(args)
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
    "`project`": "--project",
    "`start`": "--start",
    "`end`": "--end",
    "`changes_path`": "--changes",
    "`reported_at`": "--reported-at",
    "`segment_by`": "--segment-by",
    "`assume_tz`": "--assume-tz",
    "`mapping_path`": "--mapping",
    "`rules_path`": "--rules",
    "`taxonomy_path`": "--taxonomy",
    "`topics`": "--topics",
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
    # loaded when the command runs (see the module docstring)
    from analysis.loaders.convert import convert_events
    from analysis.loaders.dbtable import is_db_url
    from analysis.schema import SchemaError

    try:
        events = args.events if is_db_url(args.events) else Path(args.events).expanduser()
        out = Path(args.out).expanduser()
        rules = None if args.no_derive else _rules_or_none(args.rules)
        res = convert_events(events, out, format=args.format, assume_tz=args.assume_tz,
                             mapping=args.mapping, memory_limit=args.memory_limit, project=args.project, start=args.start, end=args.end)
        derived = [] if rules is None else _derive_into(out, rules, args.memory_limit)
    except (SchemaError, ValueError) as exc:
        return _error(str(exc))
    for line in res.lines():
        print(line)
    if derived:
        print(f"derived from the text where the export does not log them (analysis.text): {', '.join(derived)}")
    return 0


def _rules_or_none(path: str | None) -> tuple[Any, ...]:
    from analysis.text.rules import rules_with

    return rules_with(Path(path).expanduser() if path else None)


def _derive_into(out: Path, rules: tuple[Any, ...], memory_limit: str) -> list[str]:
    """Write the labels the converted file lacks (and grounding), derived from its text by the engine,
    into it: one streaming rewrite, no row in Python."""
    from analysis.engine import open_engine
    from analysis.engine.query import Where
    from analysis.text.outcomes import derive_missing

    tmp = out.with_name(out.name + ".derived.parquet")
    with open_engine(str(out), memory_limit=memory_limit) as eng:
        derived = derive_missing(eng, [r.column for r in rules], rules)
        if derived:
            eng.rows(where=Where.of(None, None), path=tmp, limit=0)
    if derived:
        tmp.replace(out)
    return derived


def _monitor(args: argparse.Namespace) -> int:
    # loaded when the command runs (see the module docstring)
    import json

    from analysis._common import check_timestamp
    from analysis.loaders.engine_events import open_events
    from analysis.prevention import monitors as mon
    from analysis.schema import SchemaError

    try:
        _, specs = mon.load_config(Path(args.config).expanduser())
        state = mon.load_state(Path(args.state).expanduser(), specs) if args.state else None
        until = check_timestamp(args.until, "--until")
        src = open_events(Path(args.events).expanduser() if "*" not in args.events else args.events, engine=args.engine,
                          format=args.format, assume_tz=args.assume_tz, mapping=args.mapping)
        _chat_only(src.engine, "the monitors")
        # outcome labels the new logs lack are derived from their answers, as the investigation does
        flags = {c for s in specs if s.chart == "binomial_cusum" for c in re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', s.metric)}
        _derive(src.engine, sorted(flags), args.rules)
        missing = sorted({c for s in specs for c in [*s.segment, *([s.metric] if s.chart == "mean_cusum" else [])]
                          if not src.engine.has(c)})
        if missing:
            return _error(f"{args.events}: the monitors need columns the events do not have: {missing}")
        res = mon.run_monitors(src.engine, specs, state, until=until)
    except (SchemaError, ValueError, FileNotFoundError) as exc:
        return _error(str(exc))
    if args.state:
        mon.save_state(Path(args.state).expanduser(), specs, res.states)
    if args.prometheus:
        Path(args.prometheus).expanduser().write_text(mon.prometheus_text(specs, res), encoding="utf-8")
    print(json.dumps({"alarms": [a.to_dict() for a in res.alarms], "windows_charted": res.windows,
                      "events_read": src.rows_loaded}, indent=1))
    for a in res.alarms:
        print(a.line())
    if not res.alarms:
        print(f"no alarm: {len(specs)} monitors, {sum(res.windows.values())} windows charted")
    return 1 if res.alarms else 0


def _demo(args: argparse.Namespace) -> int:
    # loaded when the command runs (see the module docstring)
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
        from analysis.scenarios import write_sample_data  # loaded by `generate` only (see _gate)
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
    handler = {"investigate": _investigate, "demo": _demo, "generate": _generate, "convert": _convert,
               "monitor": _monitor, "gate": _gate}[args.command]
    try:
        return handler(args)
    except KeyboardInterrupt:
        return _error("interrupted", 130)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
