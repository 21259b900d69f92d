"""Events opened on the engine, validated there: the load step at any scale.

A canonical Parquet file, glob or (Hive-partitioned) folder is never read into Python: the engine
checks it with queries (the required columns, time-zone-aware timestamps, rows without an
``event_id`` or a ``ts``, repeated ``event_id``), counts and keeps the rejected rows with their
reason, and from then on answers the investigation's queries over the rows it kept. Every other
format (trace exports, CSV and JSONL tables, a mapping) goes through its streaming loader into
an in-memory canonical table the engine reads; ``python -m analysis convert`` turns such an
export into canonical Parquet once, so that a large one is not parsed again each time.
"""

from __future__ import annotations

import glob
import hashlib
import json
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ..engine import DEFAULT_MEMORY_LIMIT, Engine, Where, open_engine, resolve_source
from ..engine.query import quote_ident
from ..schema import EVENTS, SchemaError, rejected_frame
from .convert import convert_events
from .detect import detect_dir, detect_format, normalize_format
from .load import load_events
from .mapping import load_mapping, required_sources
from .dbtable import is_db_url, table_ref
from .phoenix_db import is_phoenix_db, source_text
from .result import LoadError, LoadResult, check_path, file_sha256, load_summary

__all__ = ["EventsSource", "open_events", "REJECTED_IN_MEMORY"]

#: Rejected rows kept in memory for the notebook; all of them go to rejected_events.csv.
REJECTED_IN_MEMORY = 10_000


@dataclass(frozen=True, eq=False, repr=False)
class EventsSource:
    """Events on an engine, with the load report of :class:`~analysis.loaders.LoadResult`.

    ``rejected`` holds the first :data:`REJECTED_IN_MEMORY` rejected rows (``row``, ``reason``,
    ``raw``); ``rows_rejected`` counts them all; ``rows_read == rows_loaded + rows_rejected``.
    """

    engine: Engine
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    rejected: pd.DataFrame
    warnings: list[str]
    source: str
    format: str
    sha256: str
    spans_by_kind: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rows_read != self.rows_loaded + self.rows_rejected:
            raise RuntimeError(f"internal error loading {self.source}: rows_read={self.rows_read}, rows_loaded={self.rows_loaded}, "
                               f"rows_rejected={self.rows_rejected}")

    def __repr__(self) -> str:
        return (f"EventsSource(source={self.source!r}, engine={self.engine.name!r}, rows_read={self.rows_read}, "
                f"rows_loaded={self.rows_loaded}, rejected={self.rows_rejected})")

    frame = None

    def summary(self) -> dict[str, Any]:
        return load_summary(self)

    def close(self) -> None:
        self.engine.close()


def _sha256(src: Any) -> str:
    """SHA-256 of the file, or of the sorted ``relative path  sha256`` lines of every file of a folder or glob."""
    if src.kind not in ("parquet", "csv", "jsonl"):
        return ""
    pattern = Path(src.pattern)
    if "*" not in src.pattern:
        return file_sha256(pattern)
    files = sorted(Path(f) for f in glob.glob(src.pattern, recursive=True))
    root = Path(src.label) if Path(src.label).is_dir() else Path(".")
    lines = []
    for f in files:
        try:
            rel = f.relative_to(root)
        except ValueError:
            rel = f
        lines.append(f"{rel}  {file_sha256(f)}")
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def open_events(
    path: str | Path,
    *,
    engine: str = "duckdb",
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    spark_master: str = "local[*]",
    format: str | None = None,
    assume_tz: str | None = None,
    mapping: Mapping[str, Any] | str | Path | None = None,
    project: str | None = None,
    start: Any = None,
    end: Any = None,
) -> EventsSource:
    """Open an events source on the engine and validate it there.

    Canonical Parquet (a file, a glob, a folder) without a mapping stays where it is. OTLP
    exports and Phoenix's database (``project``, ``start``, ``end`` as in
    :func:`analysis.loaders.load_events`) are streamed into a temporary canonical Parquet file
    (:func:`analysis.loaders.convert.convert_events`, memory bounded) that the engine reads and that
    is removed when the engine is closed or collected; anything else is loaded by
    :func:`analysis.loaders.load_events` first. Raises the loaders' errors on bad input (a missing
    file or column, timestamps without a zone, no rows), naming the file.
    """
    text = str(path)
    if _streams(path, format, mapping):
        return _from_convert(path, engine=engine, memory_limit=memory_limit, spark_master=spark_master, format=format,
                             assume_tz=assume_tz, mapping=mapping, project=project, start=start, end=end)
    direct = mapping is None and format in (None, "parquet") and assume_tz is None
    src = None
    if direct:
        try:
            src = resolve_source(text, allow_table_name=engine == "spark")
        except ValueError as e:
            raise LoadError(str(e).split(": ", 1)[-1] + ".", source=text) from None
        direct = src.kind in ("parquet", "table") and not _trace_folder(Path(text))
    if not direct:
        lr = load_events(path, format=format, assume_tz=assume_tz, mapping=mapping, project=project, start=start, end=end)
        return _from_load(lr, engine=engine, memory_limit=memory_limit, spark_master=spark_master)
    eng = open_engine(src, engine=engine, memory_limit=memory_limit, spark_master=spark_master)
    try:
        return _validate(eng, src, text)
    except BaseException:
        eng.close()
        raise


def _trace_folder(p: Path) -> bool:
    """True for a folder laid out as a trace export (a Langfuse blob export holds Parquet files too)."""
    if not p.is_dir():
        return False
    try:
        return detect_dir(p, ["event_id", "ts"]) in ("langfuse", "otlp", "openai")
    except SchemaError:
        return False


def _streams(path: Any, format: str | None, mapping: Any) -> bool:
    """True for the inputs read chunk by chunk: databases (Phoenix's, a table) and OTLP exports."""
    if is_db_url(path):
        return True
    p = Path(path)
    if not p.exists() or (format in (None, "parquet") and str(p).endswith((".parquet", ".pq"))):
        return False
    if format not in (None, "otlp", "phoenix", "openinference", "otel", "otlp-json", "otlp-proto"):
        return False
    mapped = required_sources(load_mapping(mapping, EVENTS), EVENTS)
    try:
        check_path(p)
        fmt = detect_format(p, "events", mapped=mapped) if format is None else normalize_format(format, p, "events", mapped=mapped)
    except SchemaError:
        return False  # load_events raises the error
    return fmt == "otlp" or (fmt == "phoenix" and is_phoenix_db(p)) or table_ref(p) is not None


def _from_convert(path: Any, *, engine: str, memory_limit: str, spark_master: str, **load: Any) -> EventsSource:
    tmp = Path(tempfile.mkdtemp(prefix="forensics-events-"))
    try:
        res = convert_events(path, tmp / "events.parquet", memory_limit=memory_limit, **load)
        src = resolve_source(str(tmp / "events.parquet"))
        eng = open_engine(src, engine=engine, memory_limit=memory_limit, spark_master=spark_master)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    weakref.finalize(eng, shutil.rmtree, str(tmp), True)
    rej = res.rejected if res.rejected is not None else rejected_frame()
    warnings = list(res.warnings)
    if len(rej) > REJECTED_IN_MEMORY:
        warnings.append(f"{len(rej)} rows rejected; the first {REJECTED_IN_MEMORY} are listed")
        rej = rej.head(REJECTED_IN_MEMORY).reset_index(drop=True)
    ref = table_ref(path) if is_db_url(path) else None
    if ref is not None:
        sha = file_sha256(Path(ref.location)) if ref.kind != "postgres" else ""  # a table's database file
    else:
        sha = file_sha256(Path(path)) if Path(str(path)).is_file() or Path(str(path)).is_dir() else ""
    return EventsSource(engine=eng, rows_read=res.rows_read, rows_loaded=res.rows_written, rows_rejected=res.rows_rejected,
                        rejected=rej, warnings=warnings, source=source_text(path), format=res.format, sha256=sha,
                        spans_by_kind=dict(res.spans_by_kind))


def _from_load(lr: LoadResult, *, engine: str, memory_limit: str, spark_master: str) -> EventsSource:
    eng = open_engine(lr.frame, engine=engine, memory_limit=memory_limit, spark_master=spark_master)
    return EventsSource(engine=eng, rows_read=lr.rows_read, rows_loaded=lr.rows_loaded, rows_rejected=len(lr.rejected),
                        rejected=lr.rejected, warnings=list(lr.warnings), source=lr.source, format=lr.format, sha256=lr.sha256,
                        spans_by_kind=dict(lr.spans_by_kind))


def _validate(eng: Engine, src: Any, text: str) -> EventsSource:
    kinds = eng.columns
    missing = [c for c in ("event_id", "ts") if c not in kinds]
    if missing:
        raise SchemaError(f"missing required column(s) {', '.join(missing)} of the events table; columns found: "
                          f"{sorted(kinds)[:40]}", source=text)
    if kinds["ts"] != "timestamp":
        raise SchemaError(f"column `ts` must hold timestamps with a time zone (UTC), found {kinds['ts']} values: "
                          "run `python -m analysis convert` to parse them", source=text, column="ts")
    if not eng.ts_has_zone():
        raise SchemaError("column `ts` holds timestamps without a time zone; give the zone they are in "
                          "(--assume-tz UTC) or write them with one", source=text, column="ts")
    rows_read = eng.count()
    if rows_read == 0:
        raise LoadError("has no rows: nothing to analyse.", source=text)
    blank_id = "(event_id IS NULL OR TRIM(CAST(event_id AS VARCHAR)) = '')"
    # canonical columns stored with another type are cast; a value that does not cast rejects its row
    casts = _casts(kinds)
    cast_bad = [f"({quote_ident(c)} IS NOT NULL AND TRY_CAST({quote_ident(c)} AS {t}) IS NULL)" for c, t in casts.items()]
    cast_reasons = " ".join(
        f"WHEN {b} THEN CONCAT('column {c}: cannot parse ', CAST({quote_ident(c)} AS VARCHAR), ' as {_KIND_TEXT[t]}')"
        for (c, t), b in zip(casts.items(), cast_bad))
    reason = (f"CASE WHEN {blank_id} THEN 'missing required value in event_id' "
              f"WHEN ts IS NULL THEN 'missing required value in ts' {cast_reasons} END")
    invalid = " OR ".join([blank_id, "ts IS NULL", *cast_bad])
    bad = eng.count(Where(expr=invalid))
    valid = f"NOT ({invalid})"
    # distinct 64-bit hashes first (cheap): no fewer hashes than rows proves there is no repeat;
    # otherwise (a repeat, or a hash collision) count exactly
    dups = int(eng.sql(f"SELECT COUNT(*) - COUNT(DISTINCT HASH(event_id)) AS d FROM events WHERE {valid}").iat[0, 0] or 0)
    if dups:
        dups = int(eng.sql(f"SELECT COUNT(*) - COUNT(DISTINCT event_id) AS d FROM events WHERE {valid}").iat[0, 0] or 0)
    warnings: list[str] = []
    rejected = rejected_frame()
    if bad or dups or casts:
        parts = []
        if bad:
            parts.append(f"SELECT {reason} AS reason, CAST(event_id AS VARCHAR) AS event_id, CAST(ts AS VARCHAR) AS ts_text "
                         f"FROM events WHERE NOT ({valid})")
        if dups:
            parts.append(
                "SELECT CONCAT('duplicate event_id ', CAST(event_id AS VARCHAR), ': kept once (the first by ts)') AS reason, "
                "CAST(event_id AS VARCHAR) AS event_id, CAST(ts AS VARCHAR) AS ts_text FROM ("
                f"SELECT event_id, ts, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ts) AS rn__ FROM events WHERE {valid}) d "
                "WHERE rn__ > 1")
        head = (eng.sql(f"SELECT * FROM ({' UNION ALL '.join(parts)}) r LIMIT {REJECTED_IN_MEMORY}") if parts
                else pd.DataFrame({"reason": [], "event_id": [], "ts_text": []}))
        raws = [f'{{"event_id": {_json(e)}, "ts": {_json(t)}}}' for e, t in zip(head["event_id"], head["ts_text"])]
        rejected = rejected_frame(pd.array([pd.NA] * len(head), dtype="Int64"), head["reason"].tolist(), raws)
        if dups:
            warnings.append(f"{dups} row(s) repeat an earlier event_id: kept once, the repeats are in `rejected`")
        if bad + dups > REJECTED_IN_MEMORY:
            warnings.append(f"{bad + dups} rows rejected; the first {REJECTED_IN_MEMORY} are listed")
        eng.restrict(valid, dedupe=bool(dups))
    if casts:
        eng.recast(casts)
        held = [c for c in casts if eng.profile().present(c)]
        if held:
            warnings.append("columns stored with another type were cast: " + ", ".join(f"{c} -> {_KIND_TEXT[casts[c]]}" for c in held))
    rows_loaded = rows_read - bad - dups
    fmt = "parquet" if src.kind == "parquet" else "table"
    return EventsSource(engine=eng, rows_read=int(rows_read), rows_loaded=int(rows_loaded), rows_rejected=int(bad + dups),
                        rejected=rejected, warnings=warnings, source=text, format=fmt, sha256=_sha256(src))


#: Canonical column kind -> the SQL type a differently stored column is cast to.
_SQL_TYPE = {"float": "DOUBLE", "int": "BIGINT", "bool": "BOOLEAN", "string": "VARCHAR"}
_KIND_TEXT = {"DOUBLE": "a number", "BIGINT": "an integer", "BOOLEAN": "a boolean", "VARCHAR": "a string"}
_ACCEPTS = {"float": {"float", "int"}, "int": {"int"}, "bool": {"bool"}, "string": {"string"}}


def _casts(kinds: Mapping[str, str]) -> dict[str, str]:
    """Canonical columns whose stored kind differs from the schema's -> the SQL type to cast them to."""
    out = {}
    for col in EVENTS.columns:
        k = kinds.get(col.name)
        if k is None or col.name in ("event_id", "ts") or col.kind not in _SQL_TYPE:
            continue
        if k not in _ACCEPTS[col.kind]:
            out[col.name] = _SQL_TYPE[col.kind]
    return out


def _json(v: Any) -> str:
    return "null" if v is None or (isinstance(v, float) and v != v) else json.dumps(str(v))
