"""The notebook parameters: their spec (:data:`NOTEBOOK_PARAMETERS`) and their validation.

The notebooks are thin templates: a ``parameters`` cell, then a validation cell that calls
:func:`validate_parameters`. papermill injects unknown and ill-typed parameters silently, so the
validation cell rejects them with a clear message (:class:`ParameterError`). The command line
checks the same parameters the same way before a kernel starts.
"""

from __future__ import annotations

import ast
import difflib
import re
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from analysis.engine import ENGINES
from analysis.redact import escape_html
from analysis.report.errors import ParameterError
from analysis.report.paths import PATTERNS, resolve_input_path, resolve_output_dir

__all__ = [
    "ParameterError",
    "Param",
    "Parameters",
    "NOTEBOOK_PARAMETERS",
    "default_parameters",
    "validate_parameters",
]



@dataclass(frozen=True)
class Param:
    """One notebook parameter: its plain type, help text, an optional value check and its default.

    ``check(value, values)`` returns the normalised value (e.g. ``""`` -> ``None``, a resolved path)
    or raises :class:`ParameterError`; ``values`` holds the raw values of all parameters.
    ``default`` is the raw value when not given (``""``: none / the pattern's default).
    """

    name: str
    type: type
    help: str
    check: Callable[[Any, Mapping[str, Any]], Any] | None = None
    default: Any = ""


def _type_ok(value: Any, typ: type) -> bool:
    if typ is bool:
        return isinstance(value, bool)
    if typ is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if typ is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, typ)


def _opt_str(value: str, _: Mapping[str, Any]) -> str | None:
    return value.strip() or None


def _check_events_path(value: str, _: Mapping[str, Any]) -> Path:
    if not value.strip():
        raise ParameterError("`events_path` is required (the events file: Parquet, JSONL, CSV or a trace export)")
    return resolve_input_path(value.strip(), name="events_path", allow_dir=True)


def _check_changes_path(value: str, _: Mapping[str, Any]) -> Path:
    if not value.strip():
        raise ParameterError("`changes_path` is required (the change log: CSV, JSONL, YAML or Parquet)")
    return resolve_input_path(value.strip(), name="changes_path")


def _check_mapping_path(value: str, _: Mapping[str, Any]) -> Path | None:
    if not value.strip():
        return None
    return resolve_input_path(value.strip(), name="mapping_path")


def _check_evaluations_path(value: str, _: Mapping[str, Any]) -> Path | None:
    if not value.strip():
        return None
    return resolve_input_path(value.strip(), name="evaluations_path")


def _check_assume_tz(value: str, _: Mapping[str, Any]) -> str | None:
    tz = value.strip()
    if not tz:
        return None
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ParameterError(f"`assume_tz` must be an IANA time zone such as 'UTC' or 'Europe/Paris', got {value!r}") from None
    return tz


def _check_reported_at(value: str, values: Mapping[str, Any]) -> pd.Timestamp | None:
    text = value.strip()
    if not text:
        return None
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        ts = None
    if ts is None or ts is pd.NaT or pd.isna(ts):
        raise ParameterError(f"`reported_at` must be an ISO 8601 timestamp such as '2026-03-01T12:00:00Z', got {value!r}")
    if ts.tzinfo is None:
        tz = values.get("assume_tz")
        tz = tz.strip() if isinstance(tz, str) else ""
        if not tz:
            raise ParameterError(
                f"`reported_at` has no UTC offset: {value!r}; write it with one (e.g. '{text}Z') or set `assume_tz`"
            )
        ts = ts.tz_localize(_check_assume_tz(tz, values))
    return ts.tz_convert("UTC")


def _check_pattern(value: str, _: Mapping[str, Any]) -> str:
    v = value.strip()
    if v not in PATTERNS:
        raise ParameterError(f"`pattern` must be one of {', '.join(PATTERNS)}, got {value!r}")
    return v


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def _check_metric(value: str, _: Mapping[str, Any]) -> str | None:
    v = value.strip()
    if v and not _IDENT.match(v):
        raise ParameterError(f"`metric` must be a column name such as 'refused', got {value!r}")
    return v or None


def _check_segment_by(value: str, _: Mapping[str, Any]) -> tuple[str, ...] | None:
    if not value.strip():
        return None
    cols = tuple(c.strip() for c in value.split(","))
    bad = [c for c in cols if not _IDENT.match(c)]
    if bad:
        raise ParameterError(
            f"`segment_by` must be comma-separated column names such as 'risk_category,framing', got {value!r}"
        )
    return tuple(dict.fromkeys(cols))


def _check_window(value: str, _: Mapping[str, Any]) -> str | None:
    v = value.strip()
    if not v:
        return None
    try:
        td = pd.Timedelta(v)
    except (ValueError, TypeError):
        td = None
    if td is None or pd.isna(td) or td <= pd.Timedelta(0):
        raise ParameterError(f"`window` must be a positive duration such as '1h' or '30min', got {value!r}")
    return v


def _check_out_dir(value: str, _: Mapping[str, Any]) -> Path:
    if not value.strip():
        raise ParameterError("`out_dir` must name a directory for the report, got ''")
    return resolve_output_dir(value.strip())


def _check_engine(value: str, _: Mapping[str, Any]) -> str:
    v = value.strip()
    if v not in ENGINES:
        raise ParameterError(f"`engine` must be one of {', '.join(ENGINES)}, got {value!r}")
    return v


_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


def _check_memory_limit(value: str, _: Mapping[str, Any]) -> str:
    v = value.strip()
    if not _MEMORY.match(v):
        raise ParameterError(f"`memory_limit` must be a size such as '1GB' or '512MB', got {value!r}")
    return v


def _check_spark_master(value: str, _: Mapping[str, Any]) -> str:
    v = value.strip()
    if not re.match(r"^(local(\[(\*|\d+)\])?|spark://\S+|yarn|k8s://\S+|mesos://\S+)$", v):
        raise ParameterError(f"`spark_master` must be a Spark master URL such as 'local[*]' or 'spark://host:7077', got {value!r}")
    return v


def _check_seed(value: int, _: Mapping[str, Any]) -> int:
    if value < 0:
        raise ParameterError(f"`seed` must be a non-negative integer, got {value!r}")
    return value


_PARAMS: tuple[Param, ...] = (
    Param("events_path", str, "events file (Parquet, JSONL, CSV, a trace export; a folder for Langfuse)", _check_events_path),
    Param("changes_path", str, "change log (CSV, JSONL, YAML or Parquet)", _check_changes_path),
    Param("reported_at", str, "when the incident was reported, ISO 8601 with offset; empty: the last event", _check_reported_at),
    Param("pattern", str, "auto, retrieval, refusal or escalation", _check_pattern, "auto"),
    Param("metric", str, "outcome column to investigate; empty: the pattern's default", _check_metric),
    Param("segment_by", str, "comma-separated segment columns; empty: the pattern's default", _check_segment_by),
    Param("window", str, "aggregation window such as 1h or 30min; empty: the pattern's default", _check_window),
    Param("out_dir", str, "report directory; relative: to the repository root", _check_out_dir),
    Param("redact", bool, "redact emails, phone numbers and similar personal data in the reports", None, True),
    Param("assume_tz", str, "time zone of timestamps without an offset (e.g. UTC); empty: reject them", _check_assume_tz),
    Param("mapping_path", str, "column mapping file (YAML or JSON) for non-canonical exports; empty: none", _check_mapping_path),
    Param(
        "evaluations_path",
        str,
        "offline evaluation history (CSV, JSONL or Parquet with ts and passed); empty: simulate a weekly evaluation",
        _check_evaluations_path,
    ),
    Param("seed", int, "seed for the sampled parts of the analysis", _check_seed, 0),
    Param("engine", str, "engine that reads the events: duckdb (embedded) or spark", _check_engine, "duckdb"),
    Param("memory_limit", str, "DuckDB memory limit; past it DuckDB spills to disk", _check_memory_limit, "1GB"),
    Param("spark_master", str, "Spark master URL when engine is spark", _check_spark_master, "local[*]"),
)

#: The parameters every notebook takes (same names, types and meaning in all four notebooks).
NOTEBOOK_PARAMETERS: dict[str, Param] = {p.name: p for p in _PARAMS}


def default_parameters(**values: Any) -> dict[str, Any]:
    """Raw values for every notebook parameter: each :attr:`Param.default`, updated with ``values``.

    The paths (``events_path``, ``changes_path``, ``out_dir``) default to ``""``, which
    :func:`validate_parameters` rejects: give them. ``values`` is not checked here.
    """
    return {**{name: p.default for name, p in NOTEBOOK_PARAMETERS.items()}, **values}

# Names IPython puts in the user namespace; never parameters.
_IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython", "open", "display"})
_IPYTHON_PRIVATE = re.compile(r"^(_+|_i+|_i\d+|_\d+|_ih|_oh|_dh|__\w+__)$")


class Parameters(Mapping[str, Any]):
    """Validated, normalised parameters: a read-only mapping with attribute access.

    ``p.events_path`` is a resolved :class:`~pathlib.Path`, ``p.reported_at`` a UTC Timestamp or
    ``None``, ``p.segment_by`` a tuple of column names or ``None``; empty strings become ``None``.
    ``p.raw`` holds the values as given (JSON-able, for the report's ``parameters``).
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
    if isinstance(v, tuple):
        return ", ".join(map(str, v))
    return str(v)


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


def validate_parameters(params: Mapping[str, Any], spec: Mapping[str, Param | type] | None = None) -> Parameters:
    """Check notebook parameters and return them normalised.

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
    problems: list[str] = []

    unknown = [k for k in _candidate_names(params) if k not in spec_]
    for k in unknown:
        close = difflib.get_close_matches(k, list(spec_), n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        problems.append(f"unknown parameter `{k}`{hint}")
    for name, p in spec_.items():
        if name not in params:
            problems.append(f"missing parameter `{name}` ({p.type.__name__})")
        elif not _type_ok(params[name], p.type):
            v = params[name]
            problems.append(f"`{name}` must be {p.type.__name__}, got {type(v).__name__} {v!r}")
    if problems:
        known = ", ".join(spec_)
        raise ParameterError("bad notebook parameters: " + "; ".join(problems) + f". Known parameters: {known}")

    raw = {name: params[name] for name in spec_}
    values: dict[str, Any] = {}
    for name, p in spec_.items():
        v = params[name]
        values[name] = p.check(v, raw) if p.check is not None else v
    return Parameters(values, raw)
