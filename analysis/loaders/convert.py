"""``convert``: any supported events export into canonical Parquet, once, with bounded memory.

Canonical Parquet, JSONL, JSON and CSV tables are streamed: each chunk is coerced and appended to
a staging Parquet file, then DuckDB de-duplicates ``event_id`` (the first row wins) and sorts by
``ts`` into the output, spilling to disk past its memory limit. Trace exports are streamed the
same way (:mod:`.stream`): OTLP JSON (JSON Lines, documents back to back) and Phoenix's database
are parsed as they are read, whole traces at a time, and each chunk of events is written as a row
group of its own, so memory stays bounded whatever the size of the export (the largest OTLP
document aside; a protobuf file, OTel-JS, Langfuse and OpenAI files are parsed whole first). The rejected rows (with their reason) go to
``<out>.rejected.csv``. Afterwards ``investigate --events OUT`` reads the Parquet
file directly on the engine.
"""

from __future__ import annotations

import ctypes
import gc
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..engine.query import quote_literal
from ..redact import csv_safe_frame
from ..schema import EVENTS, rejected_frame
from .canonical import Collector, read_canonical
from .detect import TRACE_FORMATS, detect_format, normalize_format
from .mapping import MappingState, load_mapping, required_sources
from .result import DEFAULT_CHUNKSIZE, LoadError, check_path
from .dbtable import is_db_url
from .phoenix_db import source_text
from .stream import Tally
from .traces import RECORD_NAMES, TraceOptions, load_trace_format, stream_trace_format

__all__ = ["ConvertResult", "convert_events"]

#: DuckDB's share of memory for the de-duplication and the sort (it spills to disk past it); the
#: parser holds about 150 MB more than the imports, so a conversion peaks near 1 GB in all.
CONVERT_MEMORY_LIMIT = "512MB"

_ROW = "__source_row"
_SEQ = "__seq"


@dataclass(frozen=True)
class ConvertResult:
    """What ``convert`` did: rows read, written and rejected, and where they went."""

    source: str
    format: str
    out: Path
    rows_read: int
    rows_written: int
    rows_rejected: int
    rejected_path: Path | None
    warnings: tuple[str, ...] = ()
    spans_by_kind: dict[str, int] = field(default_factory=dict, compare=False)
    rejected: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    def lines(self) -> list[str]:
        out = [f"{self.source} ({self.format}): {self.rows_read} rows read, {self.rows_written} written to {self.out}, "
               f"{self.rows_rejected} rejected" + (f" (in {self.rejected_path})" if self.rejected_path else "")]
        return out + [f"warning: {w}" for w in self.warnings]


class _ChunkWriter:
    """Canonical chunks appended to staging Parquet files, one file per schema (columns vary between
    trace chunks: DuckDB reads them back by name); ``__seq`` keeps the input order."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.writers: dict[pa.Schema, pq.ParquetWriter] = {}
        self.written = 0

    def write(self, frame: pd.DataFrame, labels: np.ndarray) -> None:
        if not len(frame):
            return
        seq = np.arange(self.written, self.written + len(frame), dtype=np.int64)
        t = pa.Table.from_pandas(frame.assign(**{_ROW: np.asarray(labels, dtype=np.int64), _SEQ: seq}), preserve_index=False)
        t = t.replace_schema_metadata(None)
        w = self.writers.get(t.schema)
        if w is None:
            w = pq.ParquetWriter(self.directory / f"part-{len(self.writers):05d}.parquet", t.schema, coerce_timestamps="us",
                                 allow_truncated_timestamps=True)
            self.writers[t.schema] = w
        w.write_table(t)
        self.written += len(frame)

    @property
    def started(self) -> bool:
        return bool(self.writers)

    def close(self) -> None:
        for w in self.writers.values():
            w.close()


class _StreamingCollector(Collector):
    """A :class:`Collector` that writes each coerced chunk to the staging files instead of keeping it."""

    def __init__(self, *args: Any, writer: _ChunkWriter, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.writer = writer

    def add(self, df: pd.DataFrame, labels: np.ndarray, raw_text: Any = None) -> None:
        super().add(df, labels, raw_text)
        for frame, lab in zip(self.frames, self.labels):
            self.writer.write(frame, lab)
        self.frames.clear()
        self.labels.clear()


@dataclass
class _Staged:
    rows_read: int
    rejected: list[pd.DataFrame]
    warnings: list[str]
    spans_by_kind: dict[str, int]


def _stage_trace(p: Any, fmt: str, writer: _ChunkWriter, *, assume_tz: str | None, state: MappingState, chunksize: int,
                 options: TraceOptions) -> _Staged:
    """A trace export's events written chunk by chunk (OpenAI files are parsed whole)."""
    if fmt == "openai":
        lr = load_trace_format(p, fmt, assume_tz=assume_tz, mapping=state, chunksize=chunksize, options=options)
        writer.write(lr.frame, np.arange(1, len(lr.frame) + 1))
        return _Staged(lr.rows_read, [lr.rejected] if len(lr.rejected) else [], list(lr.warnings), dict(lr.spans_by_kind))
    tally = Tally(RECORD_NAMES.get(fmt, "record"))
    rejected: list[pd.DataFrame] = []
    for chunk in stream_trace_format(p, fmt, assume_tz=assume_tz, mapping=state, tally=tally, options=options):
        writer.write(chunk.frame, chunk.labels)
        if len(chunk.rejected):
            rejected.append(chunk.rejected)
    return _Staged(tally.rows_read, rejected, tally.warnings() + state.warnings(), dict(tally.spans_by_kind))


def _stage_canonical(p: Path, fmt: str, writer: _ChunkWriter, *, assume_tz: str | None, state: MappingState, chunksize: int) -> _Staged:
    col = _StreamingCollector(EVENTS, str(p), assume_tz, state, writer=writer)
    read_canonical(p, fmt, col, chunksize)
    return _Staged(col.rows_read, list(col.rejected), list(col.warnings) + list(state.warnings()), {})


def convert_events(
    path: str | Path,
    out: str | Path,
    *,
    format: str | None = None,
    assume_tz: str | None = None,
    mapping: Mapping[str, Any] | str | Path | None = None,
    chunksize: int = DEFAULT_CHUNKSIZE,
    memory_limit: str = CONVERT_MEMORY_LIMIT,
    project: str | None = None,
    start: Any = None,
    end: Any = None,
) -> ConvertResult:
    """Convert an events export to one canonical Parquet file (sorted by ``ts``, one row per ``event_id``).

    Parameters
    ----------
    path, format, assume_tz, mapping, chunksize
        As :func:`analysis.loaders.load_events`.
    out
        The Parquet file to write; the rejected records go to ``<out>.rejected.csv``.
    memory_limit
        DuckDB's memory limit for the de-duplication and the sort (it spills to disk past it);
        default :data:`CONVERT_MEMORY_LIMIT`.
    project, start, end
        Phoenix's database: the project and the span start range, pushed down into the query.

    Returns
    -------
    ConvertResult
        Rows read, written and rejected (``rows_read == rows_written + rows_rejected``).
    """
    p = path if is_db_url(path) else check_path(path)
    mp = load_mapping(mapping, EVENTS)
    mapped = required_sources(mp, EVENTS)
    fmt = detect_format(p, "events", mapped=mapped) if format is None else normalize_format(format, p, "events", mapped=mapped)
    options = TraceOptions(project=project, start=start, end=end)
    if fmt not in TRACE_FORMATS and options != TraceOptions():
        raise LoadError(f"`project`, `start` and `end` filter Phoenix's database; this input holds {fmt!r}.", source=str(p))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = MappingState(mp)
    with tempfile.TemporaryDirectory(prefix="forensics-convert-") as tmp:
        writer = _ChunkWriter(Path(tmp) / "staging")
        try:
            if fmt in TRACE_FORMATS:
                st = _stage_trace(p, fmt, writer, assume_tz=assume_tz, state=state, chunksize=chunksize, options=options)
            else:
                st = _stage_canonical(p, fmt, writer, assume_tz=assume_tz, state=state, chunksize=chunksize)
        finally:
            writer.close()
        rows_read, rejected, warnings = st.rows_read, st.rejected, st.warnings
        if rows_read == 0 or not writer.started:
            raise LoadError("has no rows that can be loaded: nothing to convert.", source=str(p))
        _release_freed_memory()
        written = _dedupe_sort(Path(tmp), out, memory_limit, rejected, warnings)
    rej = pd.concat(rejected, ignore_index=True) if rejected else rejected_frame()
    rej_path = None
    if len(rej):
        rej_path = out.with_name(out.name + ".rejected.csv")
        csv_safe_frame(rej.sort_values("row", kind="stable"), redact=True).to_csv(rej_path, index=False)
    if rows_read != written + len(rej):
        raise RuntimeError(f"internal error converting {p}: read {rows_read}, wrote {written}, rejected {len(rej)}")
    return ConvertResult(source_text(p), fmt, out, int(rows_read), written, int(len(rej)), rej_path, tuple(warnings), st.spans_by_kind, rej)


def _release_freed_memory() -> None:
    """Hand the memory the parser freed back to the system before DuckDB takes its share (glibc only)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the memory is reused by the allocator anyway
        pass


def _dedupe_sort(tmp: Path, out: Path, memory_limit: str, rejected: list[pd.DataFrame], warnings: list[str]) -> int:
    """The staged rows into ``out``: one row per event_id (the first read), sorted by ts; the repeats rejected.

    The repeats are found on the narrow columns (event_id and the read order) first, so the wide
    rows go through one sort only.
    """
    con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": str(tmp), "preserve_insertion_order": False,
                                 "threads": 1})
    try:
        con.execute("SET TimeZone = 'UTC'")
        src = f"read_parquet({quote_literal(str(tmp / 'staging' / '*.parquet'))}, union_by_name = true)"
        con.execute(f"CREATE TEMP TABLE dups__ AS SELECT {_ROW}, {_SEQ}, CAST(event_id AS VARCHAR) AS id, CAST(ts AS VARCHAR) AS t FROM "
                    f"(SELECT {_ROW}, {_SEQ}, event_id, ts, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY {_SEQ}) AS rn FROM {src}) "
                    "WHERE rn > 1")
        dups = con.execute(f"SELECT {_ROW}, id, t FROM dups__ ORDER BY {_SEQ}").fetchall()
        if dups:
            rejected.append(rejected_frame([d[0] for d in dups], [f"duplicate event_id {d[1]!r}: kept once (the first row)" for d in dups],
                                           [f'{{"event_id": "{d[1]}", "ts": "{d[2]}"}}' for d in dups]))
            warnings.append(f"{len(dups)} row(s) repeat an earlier event_id: kept once, the repeats are rejected")
        keep = f" WHERE {_SEQ} NOT IN (SELECT {_SEQ} FROM dups__)" if dups else ""
        con.execute(f"COPY (SELECT * EXCLUDE ({_ROW}, {_SEQ}) FROM {src}{keep} ORDER BY ts, event_id) "
                    f"TO {quote_literal(str(out))} (FORMAT PARQUET)")
        return int(con.execute(f"SELECT COUNT(*) FROM read_parquet({quote_literal(str(out))})").fetchone()[0])
    finally:
        con.close()
