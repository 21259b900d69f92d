"""The parameters of an investigation: one spec, checked once, typed values downstream.

:data:`PARAMETERS` is the single spec of the ``investigate`` parameters: the command line's options
(``python -m analysis investigate --help``), the notebooks' ``parameters`` cell and its validation
(:func:`validate_parameters`) are all built from it. :class:`InvestigationParams` is the frozen,
typed object the investigation runs on, built by :meth:`InvestigationParams.build` from keywords
(``analysis.investigate(events, changes, window="1h")``) or from the notebook's validated
:class:`Parameters`. Everything downstream gets a ``pd.Timedelta`` window, a tuple of segment
columns, a UTC timestamp: nothing after this module checks or parses a parameter again.

This module sits at the bottom of the package: it imports only :mod:`analysis._common` and
:mod:`analysis.redact`.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import os
import re
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from analysis._common import check_alpha, check_duration, check_timestamp
from analysis.redact import escape_html

__all__ = [
    "PATTERNS", "ENGINES", "DEFAULT_MEMORY_LIMIT", "ParameterError", "Param", "PARAMETERS", "NOTEBOOK_PARAMETERS",
    "Parameters", "InvestigationParams", "validate_parameters", "default_parameters", "add_arguments", "arguments_to_raw",
    "repo_root", "resolve_input_path", "resolve_output_dir", "check_risk_thresholds", "DEFAULT_RISK_THRESHOLDS",
    "PATTERN_RISK_THRESHOLDS", "DEFAULT_TIER", "format_duration", "DB_URL", "resolve_db_url", "is_url",
]

#: ``auto`` scans every outcome metric; the others are the three case-study patterns.
PATTERNS = ("auto", "retrieval", "refusal", "escalation")
#: The engines that read the events.
ENGINES = ("duckdb", "spark")
#: When the investigation reads topics from the input text: ``auto`` when the events carry none of
#: the canonical segment columns, ``on`` always, ``off`` never.
TOPICS = ("auto", "on", "off")
DEFAULT_MEMORY_LIMIT = "1GB"

#: Tolerated excess failure rate above the segment's own baseline, per risk tier (the sample scan of
#: Q3 and the rollout gate). A segment whose failure rate exceeds ``baseline + threshold`` (exact
#: binomial test, Holm-adjusted) is a systematic failure. 0.1% for high-risk (medical advice: one
#: unsafe answer in a thousand is already a pattern), 1% for medium, 5% for low-risk (creative
#: writing) traffic.
DEFAULT_RISK_THRESHOLDS: dict[str, float] = {"high": 0.001, "medium": 0.01, "low": 0.05}
#: Per-pattern defaults (the real cases): a medical triage assistant uses the defaults; a legal RAG
#: assistant tolerates a little more noise on low-stakes look-ups; a support bot's escalation rate
#: swings by several points over a day, so its tiers are wider.
PATTERN_RISK_THRESHOLDS: dict[str, dict[str, float]] = {
    "refusal": {"high": 0.001, "medium": 0.01, "low": 0.05},
    "retrieval": {"high": 0.005, "medium": 0.02, "low": 0.05},
    "escalation": {"high": 0.02, "medium": 0.05, "low": 0.10},
}
#: Tier of a segment whose events carry no ``risk_category`` among the threshold's keys.
DEFAULT_TIER = "medium"


class ParameterError(ValueError):
    """A notebook or command parameter is unknown, of the wrong type or has a bad value."""


# ----------------------------------------------------------------------------------------------
# Paths
# ----------------------------------------------------------------------------------------------


def repo_root() -> Path | None:
    """The checkout holding ``analysis/`` and ``notebooks/``, or ``None`` (installed package).

    Looked up from the package's own location first (an editable install or a checkout), then
    upwards from the working directory.
    """
    here = Path(__file__).resolve().parent.parent
    candidates = [here, *Path.cwd().resolve().parents]
    candidates.insert(1, Path.cwd().resolve())
    for c in candidates:
        if (c / "notebooks").is_dir() and (c / "analysis").is_dir():
            return c
    return None


def resolve_input_path(path: str | os.PathLike[str], *, name: str = "path", allow_dir: bool = False) -> Path:
    """An existing file: absolute, or relative to the working directory, or to the repo root.

    ``allow_dir`` also accepts a directory (a Langfuse export is a folder of files). Raises
    :class:`ParameterError` naming the parameter when nothing is found.
    """
    p = Path(os.path.expanduser(str(path)))
    tried: list[Path] = []
    if p.is_absolute():
        tried.append(p)
    else:
        tried.append(Path.cwd() / p)
        root = repo_root()
        if root is not None:
            tried.append(root / p)
    for t in tried:
        if t.is_file() or (allow_dir and t.is_dir()):
            return t.resolve()
    where = " or ".join(str(t) for t in tried)
    raise ParameterError(f"`{name}`: file not found: {str(path)!r} (looked for {where})")


def resolve_output_dir(path: str | os.PathLike[str]) -> Path:
    """An output directory: absolute, or relative to the repo root (the working directory when
    the kit is not run from a checkout). Not created here."""
    p = Path(os.path.expanduser(str(path)))
    if p.is_absolute():
        return p
    root = repo_root()
    return ((root if root is not None else Path.cwd()) / p).resolve()


# ----------------------------------------------------------------------------------------------
# One check per parameter: raw text (command line, notebook) or a typed value (Python) in, typed out
# ----------------------------------------------------------------------------------------------


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


#: A database URL (a table, or Phoenix's Postgres database) given where a file is expected.
DB_URL = re.compile(r"^(sqlite|duckdb|postgres|postgresql(\+\w+)?)://", re.IGNORECASE)


def resolve_db_url(text: str, *, name: str = "path") -> str:
    """A database URL with its file (``sqlite:///``, ``duckdb:///``) made absolute; a server's URL as it is."""
    m = DB_URL.match(text)
    scheme = m.group(1).lower() if m else ""
    if scheme not in ("sqlite", "duckdb"):
        return text
    path, sep, query = text[m.end():].partition("?")
    path = path[1:] if path.startswith("/") else path  # sqlite:///rel.db -> rel.db; sqlite:////abs.db -> /abs.db
    found = resolve_input_path(path, name=name)
    return f"{scheme}:///{found}" + (sep + query if sep else "")


def _path_check(name: str, what: str, *, required: bool, allow_dir: bool = False,
                allow_url: bool = False) -> Callable[[Any, Mapping[str, Any]], Path | str | None]:
    def check(value: Any, _: Mapping[str, Any]) -> Path | str | None:
        if _blank(value):
            if required:
                raise ParameterError(f"`{name}` is required ({what})")
            return None
        if allow_url and DB_URL.match(str(value).strip()):
            return resolve_db_url(str(value).strip(), name=name)
        return resolve_input_path(str(value).strip(), name=name, allow_dir=allow_dir)

    return check


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def is_url(value: Any) -> bool:
    """True for a database URL such as ``postgresql://user@host/db`` (read by the loaders, never a file path)."""
    return isinstance(value, str) and bool(_URL.match(value.strip()))


def _check_project(value: Any, _: Mapping[str, Any]) -> str | None:
    return None if _blank(value) else str(value).strip()


def _check_bound(name: str) -> Callable[[Any, Mapping[str, Any]], pd.Timestamp | None]:
    """``start`` or ``end``: a time (UTC when written without a zone), ``start`` before ``end``."""
    def check(value: Any, values: Mapping[str, Any]) -> pd.Timestamp | None:
        if _blank(value):
            return None
        try:
            ts = pd.Timestamp(value.strip() if isinstance(value, str) else value)
        except (ValueError, TypeError):
            ts = None
        if ts is None or pd.isna(ts):
            raise ParameterError(f"`{name}` must be a time such as '2026-03-02T00:00:00Z', got {value!r}")
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        if name == "end" and not _blank(values.get("start")):
            start = _check_bound("start")(values["start"], {})
            if start is not None and start >= ts:
                raise ParameterError(f"`start` ({values['start']}) must be before `end` ({value})")
        return ts

    return check


def _check_assume_tz(value: Any, _: Mapping[str, Any]) -> str | None:
    if _blank(value):
        return None
    tz = str(value).strip()
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ParameterError(f"`assume_tz` must be an IANA time zone such as 'UTC' or 'Europe/Paris', got {value!r}") from None
    return tz


def _check_reported_at(value: Any, values: Mapping[str, Any]) -> pd.Timestamp | None:
    if _blank(value) or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    try:
        ts = pd.Timestamp(value.strip() if isinstance(value, str) else value)
    except (ValueError, TypeError):
        ts = None
    if ts is None or ts is pd.NaT or pd.isna(ts):
        raise ParameterError(f"`reported_at` must be an ISO 8601 timestamp such as '2026-03-01T12:00:00Z', got {value!r}")
    if ts.tzinfo is None:
        tz = _check_assume_tz(values.get("assume_tz"), values)
        if tz is None:
            raise ParameterError(
                f"`reported_at` has no UTC offset: {value!r}; write it with one (e.g. '{text}Z') or set `assume_tz`"
            )
        ts = ts.tz_localize(tz)
    return ts.tz_convert("UTC")


def _check_pattern(value: Any, _: Mapping[str, Any]) -> str:
    v = str(value).strip()
    if v not in PATTERNS:
        raise ParameterError(f"`pattern` must be one of {', '.join(PATTERNS)}, got {value!r}")
    return v


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def _check_metric(value: Any, _: Mapping[str, Any]) -> str | None:
    if _blank(value):
        return None
    v = str(value).strip()
    if not _IDENT.match(v):
        raise ParameterError(f"`metric` must be a column name such as 'refused', got {value!r}")
    return v


def _check_segment_by(value: Any, _: Mapping[str, Any]) -> tuple[str, ...] | None:
    """Comma-separated text (the notebook), or a column name or a sequence of them (Python)."""
    if _blank(value):
        return None
    cols = tuple(c.strip() for c in value.split(",")) if isinstance(value, str) else tuple(str(c).strip() for c in value)
    bad = [c for c in cols if not _IDENT.match(c)]
    if bad or not cols:
        raise ParameterError(
            f"`segment_by` must be comma-separated column names such as 'risk_category,framing', got {value!r}"
        )
    return tuple(dict.fromkeys(cols))


def _check_window(value: Any, _: Mapping[str, Any]) -> pd.Timedelta | None:
    if _blank(value):
        return None
    try:
        return check_duration(value.strip() if isinstance(value, str) else value, "window")
    except ValueError:
        raise ParameterError(f"`window` must be a positive duration such as '1h' or '30min', got {value!r}") from None


def _check_out_dir(value: Any, _: Mapping[str, Any]) -> Path:
    if _blank(value):
        raise ParameterError("`out_dir` must name a directory for the report, got ''")
    return resolve_output_dir(str(value).strip())


def _check_topics(value: Any, _: Mapping[str, Any]) -> str:
    v = "auto" if _blank(value) else str(value).strip().lower()
    if v not in TOPICS:
        raise ParameterError(f"`topics` must be one of {', '.join(TOPICS)}, got {value!r}")
    return v


def _check_engine(value: Any, _: Mapping[str, Any]) -> str:
    v = str(value).strip()
    if v not in ENGINES:
        raise ParameterError(f"`engine` must be one of {', '.join(ENGINES)}, got {value!r}")
    return v


_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


def _check_memory_limit(value: Any, _: Mapping[str, Any]) -> str:
    v = DEFAULT_MEMORY_LIMIT if value is None else str(value).strip()
    if not _MEMORY.match(v):
        raise ParameterError(f"`memory_limit` must be a size such as '1GB' or '512MB', got {value!r}")
    return v


_SPARK_MASTER = re.compile(r"^(local(\[(\*|\d+)\])?|spark://\S+|yarn|k8s://\S+|mesos://\S+)$")


def _check_spark_master(value: Any, _: Mapping[str, Any]) -> str:
    v = str(value).strip()
    if not _SPARK_MASTER.match(v):
        raise ParameterError(f"`spark_master` must be a Spark master URL such as 'local[*]' or 'spark://host:7077', got {value!r}")
    return v


def _check_seed(value: Any, _: Mapping[str, Any]) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
        raise ParameterError(f"`seed` must be a non-negative integer, got {value!r}")
    return int(value)


def _check_monitor_budget(value: Any, _: Mapping[str, Any]) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if isinstance(value, bool) or not (np.isfinite(v) and v > 0):
        raise ParameterError(f"`monitor_budget` must be a positive number of false pages per 30 days, got {value!r}")
    return v


# ----------------------------------------------------------------------------------------------
# The spec
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One parameter: its plain type, help text, value check, default and command-line flag.

    ``check(value, values)`` returns the typed value (``""`` -> ``None``, a resolved path, a
    ``pd.Timedelta``) or raises :class:`ParameterError`; ``values`` holds the raw values of all
    parameters. ``default`` is the raw value when not given (``""``: none / the pattern's default).
    ``flag`` is the command line's option (``None``: not an option), ``metavar`` its value's name.
    """

    name: str
    type: type
    help: str
    check: Callable[[Any, Mapping[str, Any]], Any] | None = None
    default: Any = ""
    flag: str | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None


PARAMETERS: tuple[Param, ...] = (
    Param("events_path", str, "events file (Parquet, JSONL, CSV, a trace export; a folder for Langfuse; a database URL)",
          _path_check("events_path", "the events file: Parquet, JSONL, CSV or a trace export", required=True, allow_dir=True,
                      allow_url=True),
          flag="--events", metavar="FILE"),
    Param("project", str, "Phoenix database: the project to read; empty: every project", _check_project,
          flag="--project", metavar="NAME"),
    Param("start", str, "Phoenix database: only spans starting at or after this time (ISO 8601; UTC without a zone); "
          "empty: no bound", _check_bound("start"), flag="--start", metavar="TIME"),
    Param("end", str, "Phoenix database: only spans starting before this time (ISO 8601; UTC without a zone); empty: no bound",
          _check_bound("end"), flag="--end", metavar="TIME"),
    Param("changes_path", str, "change log (CSV, JSONL, YAML or Parquet)",
          _path_check("changes_path", "the change log: CSV, JSONL, YAML or Parquet", required=True), flag="--changes", metavar="FILE"),
    Param("reported_at", str, "when the incident was reported, ISO 8601 with offset; empty: the last event", _check_reported_at,
          flag="--reported-at", metavar="TS"),
    Param("pattern", str, "auto, retrieval, refusal or escalation", _check_pattern, "auto", flag="--pattern", choices=PATTERNS),
    Param("metric", str, "outcome column to investigate; empty: the pattern's default", _check_metric, flag="--metric", metavar="COL"),
    Param("segment_by", str, "comma-separated segment columns; empty: the pattern's default", _check_segment_by,
          flag="--segment-by", metavar="COL"),
    Param("window", str, "aggregation window such as 1h or 30min; empty: the pattern's default", _check_window,
          flag="--window", metavar="DUR"),
    Param("out_dir", str, "report directory; a relative path is taken from the working directory (command) or the repository root (notebook)",
          _check_out_dir, flag="--out", metavar="DIR"),
    Param("redact", bool, "redact emails, phone numbers and similar personal data in the reports", None, True, flag="--no-redact"),
    Param("assume_tz", str, "time zone of timestamps without an offset (e.g. UTC); empty: reject them", _check_assume_tz,
          flag="--assume-tz", metavar="TZ"),
    Param("mapping_path", str, "column mapping file (YAML or JSON) for non-canonical exports; empty: none",
          _path_check("mapping_path", "", required=False), flag="--mapping", metavar="FILE"),
    Param("rules_path", str,
          "rules (YAML) that derive missing labels and grounding from the text, in place of the built-in ones per column; empty: the built-in rules",
          _path_check("rules_path", "", required=False), flag="--rules", metavar="FILE"),
    Param("taxonomy_path", str,
          "taxonomy (YAML: tier -> phrases, patterns or topics) that assigns risk tiers from the text when the events carry none; empty: none",
          _path_check("taxonomy_path", "", required=False), flag="--taxonomy", metavar="FILE"),
    Param("topics", str, "read topics from the input text as a segment: auto (when the events carry no segment column), on or off",
          _check_topics, "auto", flag="--topics", choices=TOPICS),
    Param("evaluations_path", str,
          "offline evaluation history (CSV, JSONL or Parquet with ts and passed); empty: simulate a weekly evaluation",
          _path_check("evaluations_path", "", required=False), flag="--evaluations", metavar="FILE"),
    Param("seed", int, "seed for the sampled parts of the analysis", _check_seed, 0, flag="--seed", metavar="N"),
    Param("monitor_budget", float, "false pages per 30 days for the whole monitors.yaml, split across its charts",
          _check_monitor_budget, 1.0, flag="--monitor-budget", metavar="PAGES"),
    Param("engine", str, "engine that reads the events: duckdb (embedded) or spark", _check_engine, "duckdb", flag="--engine",
          choices=ENGINES),
    Param("memory_limit", str, "DuckDB memory limit; past it DuckDB spills to disk", _check_memory_limit, DEFAULT_MEMORY_LIMIT,
          flag="--memory-limit", metavar="SIZE"),
    Param("spark_master", str, "Spark master URL when engine is spark", _check_spark_master, "local[*]", flag="--spark-master",
          metavar="URL"),
)

#: The parameters every notebook takes (same names, types and meaning in all four notebooks).
NOTEBOOK_PARAMETERS: dict[str, Param] = {p.name: p for p in PARAMETERS}


def default_parameters(**values: Any) -> dict[str, Any]:
    """Raw values for every notebook parameter: each :attr:`Param.default`, updated with ``values``.

    The paths (``events_path``, ``changes_path``, ``out_dir``) default to ``""``, which
    :func:`validate_parameters` rejects: give them. ``values`` is not checked here.
    """
    return {**{name: p.default for name, p in NOTEBOOK_PARAMETERS.items()}, **values}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``investigate`` command's options, from :data:`PARAMETERS` (same names, help, defaults)."""
    for p in PARAMETERS:
        if p.flag is None:
            continue
        required = p.check is not None and p.default == "" and p.name in ("events_path", "changes_path")
        if p.type is bool:
            parser.add_argument(p.flag, dest=p.name, action="store_false", help=f"do not {p.help} (default: do)")
        elif p.name == "segment_by":
            parser.add_argument(p.flag, dest=p.name, nargs="+", default=[], metavar=p.metavar,
                                help=f"{p.help.replace('comma-separated ', '')}, e.g. {p.flag} risk_category framing")
        else:
            default = "reports/investigation" if p.name == "out_dir" else p.default
            parser.add_argument(p.flag, dest=p.name, required=required, default=default, metavar=p.metavar, choices=p.choices,
                                type=p.type, help=p.help + (f" (default: {default})" if default not in ("", None) else ""))


def arguments_to_raw(args: argparse.Namespace) -> dict[str, Any]:
    """The raw parameter values of parsed :func:`add_arguments` options (paths made absolute from the
    user's working directory, not the notebook's)."""
    raw = {p.name: getattr(args, p.name) for p in PARAMETERS if p.flag is not None}
    raw["segment_by"] = ",".join(raw["segment_by"])
    for name in ("events_path", "changes_path", "mapping_path", "rules_path", "taxonomy_path", "evaluations_path", "out_dir"):
        if raw[name] and DB_URL.match(str(raw[name])):
            continue  # a database URL (events only): its file is resolved when the parameters are validated
        raw[name] = str(Path(raw[name]).expanduser().resolve()) if raw[name] else ""
    return raw


# ----------------------------------------------------------------------------------------------
# Validated notebook parameters
# ----------------------------------------------------------------------------------------------

# Names IPython puts in the user namespace; never parameters.
_IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython", "open", "display"})
_IPYTHON_PRIVATE = re.compile(r"^(_+|_i+|_i\d+|_\d+|_ih|_oh|_dh|__\w+__)$")


class Parameters(Mapping[str, Any]):
    """Validated, typed parameters: a read-only mapping with attribute access.

    ``p.events_path`` is a resolved :class:`~pathlib.Path`, ``p.reported_at`` a UTC Timestamp or
    ``None``, ``p.window`` a ``pd.Timedelta`` or ``None``, ``p.segment_by`` a tuple of column names
    or ``None``; empty strings become ``None``. ``p.raw`` holds the values as given (JSON-able, for
    the report's ``parameters``); :attr:`investigation` is the :class:`InvestigationParams` they set.
    """

    __slots__ = ("_values", "_raw")

    def __init__(self, values: Mapping[str, Any], raw: Mapping[str, Any]):
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "_raw", dict(raw))

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("Parameters are read-only")

    @property
    def raw(self) -> dict[str, Any]:
        return dict(self._raw)

    @property
    def investigation(self) -> InvestigationParams:
        """The investigation's own parameters (already checked: nothing is parsed again)."""
        v = self._values
        return InvestigationParams(pattern=v["pattern"], metric=v["metric"], segment_by=v["segment_by"], window=v["window"],
                                   reported_at=v["reported_at"], seed=v["seed"], monitor_budget=v["monitor_budget"], engine=v["engine"],
                                   memory_limit=v["memory_limit"], spark_master=v["spark_master"], progress=False,
                                   rules_path=v["rules_path"], taxonomy_path=v["taxonomy_path"], topics=v["topics"])

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"Parameters({inner})"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{escape_html(k)}</th><td>{escape_html(_display_value(v))}</td></tr>"
            for k, v in self._values.items()
        )
        return f"<table>{rows}</table>"


def _display_value(v: Any) -> str:
    if v is None:
        return "(default)"
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(v, pd.Timedelta):
        return format_duration(v)
    if isinstance(v, tuple):
        return ", ".join(map(str, v))
    return str(v)


def _type_ok(value: Any, typ: type) -> bool:
    if typ is bool:
        return isinstance(value, bool)
    if typ is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if typ is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, typ)


def _injected_names(namespace: Mapping[str, Any]) -> list[str] | None:
    """Names assigned by papermill's injected-parameters cell, from IPython's input history.

    papermill injects a cell whose source starts with ``# Parameters``; the most recent such cell
    in ``In`` is the one of this run. ``None`` when ``namespace`` is not an IPython namespace or no
    parameters were injected.
    """
    history = namespace.get("In")
    if not isinstance(history, list):
        return None
    for source in reversed(history):
        if isinstance(source, str) and source.lstrip().startswith("# Parameters"):
            try:
                tree = ast.parse(source)
            except SyntaxError:
                return None
            names: list[str] = []
            for node in tree.body:
                targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
                names.extend(t.id for t in targets if isinstance(t, ast.Name))
            return names
    return []


def _candidate_names(namespace: Mapping[str, Any]) -> list[str]:
    """Names in ``namespace`` that could be parameters (plain JSON-able values, not IPython's)."""
    injected = _injected_names(namespace)
    if injected is not None:
        return injected
    out = []
    for k, v in namespace.items():
        if k in _IPYTHON_NAMES or _IPYTHON_PRIVATE.match(k):
            continue
        if isinstance(v, ModuleType) or callable(v):
            continue
        out.append(k)
    return out


def _problems(params: Mapping[str, Any], spec: Mapping[str, Param]) -> list[str]:
    problems = []
    for k in _candidate_names(params):
        if k not in spec:
            close = difflib.get_close_matches(k, list(spec), n=1)
            problems.append(f"unknown parameter `{k}`" + (f" (did you mean `{close[0]}`?)" if close else ""))
    for name, p in spec.items():
        if name not in params:
            problems.append(f"missing parameter `{name}` ({p.type.__name__})")
        elif not _type_ok(params[name], p.type):
            v = params[name]
            problems.append(f"`{name}` must be {p.type.__name__}, got {type(v).__name__} {v!r}")
    return problems


def validate_parameters(params: Mapping[str, Any], spec: Mapping[str, Param | type] | None = None) -> Parameters:
    """Check notebook parameters and return them typed.

    Parameters
    ----------
    params
        The parameter values: a plain mapping (the command line), or a notebook's ``globals()``.
        In a notebook, the names papermill injected are read from the kernel's input history (the
        cell starting with ``# Parameters``), so re-running the cell in JupyterLab does not mistake
        the notebook's own variables for parameters.
    spec
        Name -> :class:`Param` (or a plain type). Default :data:`NOTEBOOK_PARAMETERS`.

    Returns
    -------
    Parameters
        Read-only mapping with attribute access; see :class:`Parameters`.

    Raises
    ------
    ParameterError
        Naming every unknown parameter (with the close matches and the known names), every missing
        or ill-typed one (with the expected type and the value given), or the first bad value.
    """
    spec = NOTEBOOK_PARAMETERS if spec is None else spec
    spec_ = {k: (v if isinstance(v, Param) else Param(k, v, "")) for k, v in spec.items()}
    problems = _problems(params, spec_)
    if problems:
        raise ParameterError("bad notebook parameters: " + "; ".join(problems) + f". Known parameters: {', '.join(spec_)}")
    raw = {name: params[name] for name in spec_}
    values = {name: (p.check(params[name], raw) if p.check is not None else params[name]) for name, p in spec_.items()}
    return Parameters(values, raw)


# ----------------------------------------------------------------------------------------------
# The investigation's parameter object
# ----------------------------------------------------------------------------------------------


def format_duration(w: pd.Timedelta) -> str:
    """A duration as a pandas offset alias: ``1h``, ``30min``, ``6h``, ``1D`` (the one form the reports,
    ``monitors.yaml``, the engine's results and the command line use); ``ns`` below a second."""
    w = pd.Timedelta(w)
    secs = int(w.total_seconds())
    if w == pd.Timedelta(seconds=secs):
        for unit, size in (("D", 86400), ("h", 3600), ("min", 60)):
            if secs % size == 0:
                return f"{secs // size}{unit}"
        return f"{secs}s"
    return f"{w.value}ns"


def check_risk_thresholds(risk_thresholds: Mapping[str, float] | None) -> dict[str, float]:
    """Validate ``risk_thresholds`` (tier -> tolerated excess rate in [0, 1))."""
    if risk_thresholds is None:
        return dict(DEFAULT_RISK_THRESHOLDS)
    if not isinstance(risk_thresholds, Mapping) or not risk_thresholds:
        raise ValueError(f"`risk_thresholds` must be a non-empty mapping tier -> rate, got {risk_thresholds!r}")
    out: dict[str, float] = {}
    for tier, thr in risk_thresholds.items():
        try:
            v = float(thr)
        except (TypeError, ValueError):
            raise ValueError(f"`risk_thresholds[{tier!r}]` must be a number in [0, 1), got {thr!r}") from None
        if not 0.0 <= v < 1.0:
            raise ValueError(f"`risk_thresholds[{tier!r}]` must be in [0, 1), got {thr!r}")
        out[str(tier)] = v
    return out


def _check_baseline(baseline: Any) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    if baseline is None:
        return None
    b0, b1 = check_timestamp(baseline[0], "baseline"), check_timestamp(baseline[1], "baseline")
    if b0 is None or b1 is None or b1 <= b0:
        raise ValueError(f"`baseline` must be (start, end) with start < end, got {baseline!r}")
    return b0, b1


def _check_thresholds(thresholds: Any) -> dict[str, tuple[str, float]] | None:
    if thresholds is None:
        return None
    if not isinstance(thresholds, Mapping):
        raise ValueError(f"`thresholds` must be a mapping metric -> (side, bar), got {thresholds!r}")
    return {str(k): (str(v[0]), float(v[1])) for k, v in thresholds.items()}


@dataclass(frozen=True)
class InvestigationParams:
    """What an investigation is asked, typed and checked once (:meth:`build`).

    Attributes
    ----------
    pattern
        ``"auto"`` (scan every outcome metric and segment, take the strongest change),
        ``"retrieval"``, ``"refusal"`` or ``"escalation"`` (the case-study defaults).
    metric
        The outcome column to investigate; ``None``: the pattern's.
    segment_by
        Segment columns; ``None``: every low-cardinality string column.
    window
        The aggregation bucket; ``None``: the pattern's, or for ``auto`` the smallest window with a
        median of 30 requests.
    reported_at, mitigated_at
        When the incident was reported (``None``: the last event) and mitigated (UTC).
    baseline
        ``(start, end)`` of the in-control period; ``None``: before the onset and the cause.
    risk_thresholds
        Risk tier -> tolerated excess failure rate; ``None``: the pattern's
        (:data:`PATTERN_RISK_THRESHOLDS`).
    thresholds
        Metric -> ``(side, bar)``, the fixed business bars of the threshold monitor.
    alpha, seed
        Significance level of every test; seed of the sampled parts.
    monitor_budget
        False pages per 30 days for the whole exported monitor set (``monitors.yaml``), split across
        its charts (:mod:`analysis.investigation.monitor_set`).
    title
        The report's title; ``None``: written from the findings.
    engine, memory_limit, spark_master, max_result_rows
        The engine that reads the events, DuckDB's memory limit, the Spark master, and a cap on
        any query's result rows (the tests keep the narrow waist honest with it).
    progress
        Show progress bars (tqdm) on the long steps.
    workdir
        Where the affected events are written whole (``None``: a temporary folder).
    rules_path
        A YAML file of derivation rules replacing the built-in ones for the columns it names
        (:mod:`analysis.text.rules`); ``None``: the built-in rules.
    taxonomy_path
        A YAML taxonomy (:mod:`analysis.text.taxonomy`) that assigns risk tiers from the text when
        the events carry none; ``None``: no tiers from text.
    topics
        ``auto`` (topics from the input text when the events carry no canonical segment column),
        ``on`` or ``off`` (:mod:`analysis.text.topics`).
    """

    pattern: str = "auto"
    metric: str | None = None
    segment_by: tuple[str, ...] | None = None
    window: pd.Timedelta | None = None
    reported_at: pd.Timestamp | None = None
    mitigated_at: pd.Timestamp | None = None
    baseline: tuple[pd.Timestamp, pd.Timestamp] | None = None
    risk_thresholds: Mapping[str, float] | None = None
    thresholds: Mapping[str, tuple[str, float]] | None = None
    alpha: float = 0.05
    seed: int = 0
    monitor_budget: float = 1.0
    title: str | None = None
    engine: str = "duckdb"
    memory_limit: str = DEFAULT_MEMORY_LIMIT
    spark_master: str = "local[*]"
    max_result_rows: int | None = None
    progress: bool = True
    workdir: Path | None = None
    rules_path: Path | None = None
    taxonomy_path: Path | None = None
    topics: str = "auto"

    @classmethod
    def build(cls, **values: Any) -> InvestigationParams:
        """Check and type every value (text or typed): the only place a parameter is checked.

        Raises
        ------
        ValueError
            (:class:`ParameterError`) naming the parameter and the bad value.
        """
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise TypeError(f"unknown investigation parameter(s): {', '.join(unknown)}")
        v = {**{f.name: f.default for f in dataclasses.fields(cls)}, **values}
        raw: dict[str, Any] = {"assume_tz": None}
        out = dict(
            pattern=_check_pattern(v["pattern"], raw), metric=_check_metric(v["metric"], raw),
            segment_by=_check_segment_by(v["segment_by"], raw), window=_check_window(v["window"], raw),
            reported_at=_check_reported_at(v["reported_at"], raw), mitigated_at=check_timestamp(v["mitigated_at"], "mitigated_at"),
            baseline=_check_baseline(v["baseline"]),
            risk_thresholds=None if v["risk_thresholds"] is None else check_risk_thresholds(v["risk_thresholds"]),
            thresholds=_check_thresholds(v["thresholds"]), alpha=check_alpha(v["alpha"]), seed=_check_seed(v["seed"], raw),
            monitor_budget=_check_monitor_budget(v["monitor_budget"], raw),
            title=None if _blank(v["title"]) else str(v["title"]), engine=_check_engine(v["engine"], raw),
            memory_limit=_check_memory_limit(v["memory_limit"], raw), spark_master=_check_spark_master(v["spark_master"], raw),
            max_result_rows=None if v["max_result_rows"] is None else int(v["max_result_rows"]), progress=bool(v["progress"]),
            workdir=None if v["workdir"] is None else Path(v["workdir"]),
            rules_path=_path_check("rules_path", "", required=False)(v["rules_path"], raw),
            taxonomy_path=_path_check("taxonomy_path", "", required=False)(v["taxonomy_path"], raw),
            topics=_check_topics(v["topics"], raw),
        )
        return cls(**out)

    def replace(self, **values: Any) -> InvestigationParams:
        """A copy with some values changed (checked like :meth:`build`)."""
        return InvestigationParams.build(**{**dataclasses.asdict(self), **values})
