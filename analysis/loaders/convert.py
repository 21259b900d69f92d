"""``convert``: any supported events export into canonical Parquet, once, with bounded memory.

Canonical Parquet, JSONL and CSV tables are streamed: each chunk is coerced and appended to a
staging Parquet file, then DuckDB de-duplicates ``event_id`` (the first row wins) and sorts by
``ts`` into the output, spilling to disk past its memory limit. Trace exports (OTLP, Phoenix,
Langfuse) are parsed by their loaders and written the same way. The rejected rows (with their
reason) go to ``<out>.rejected.csv``. Afterwards ``investigate --events OUT`` reads the Parquet
file directly on the engine.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..engine.duckdb import DEFAULT_MEMORY_LIMIT
from ..engine.query import quote_literal
from ..schema import EVENTS, rejected_frame
from .canonical import Collector, read_canonical
from .detect import TRACE_FORMATS, detect_format, normalize_format
from .mapping import MappingState, load_mapping, required_sources
from .result import DEFAULT_CHUNKSIZE, LoadError, check_path
from .traces import load_trace_format

__all__ = ["ConvertResult", "convert_events"]

_ROW = "__source_row"


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

    def lines(self) -> list[str]:
        out = [f"{self.source} ({self.format}): {self.rows_read} rows read, {self.rows_written} written to {self.out}, "
               f"{self.rows_rejected} rejected" + (f" (in {self.rejected_path})" if self.rejected_path else "")]
        return out + [f"warning: {w}" for w in self.warnings]


class _StreamingCollector(Collector):
    """A :class:`Collector` that writes each coerced chunk to a Parquet file instead of keeping it."""

    def __init__(self, *args: Any, staging: Path, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.staging = staging
        self.writer: pq.ParquetWriter | None = None
        self.written = 0

    def add(self, df: pd.DataFrame, labels: np.ndarray, raw_text: Any = None) -> None:
        super().add(df, labels, raw_text)
        for frame, lab in zip(self.frames, self.labels):
            self._write(frame, lab)
        self.frames.clear()
        self.labels.clear()

    def _write(self, frame: pd.DataFrame, labels: np.ndarray) -> None:
        t = pa.Table.from_pandas(frame.assign(**{_ROW: np.asarray(labels, dtype=np.int64)}), preserve_index=False)
        if self.writer is None:
            self.schema_arrow = t.schema
            self.writer = pq.ParquetWriter(self.staging, t.schema, coerce_timestamps="us", allow_truncated_timestamps=True)
        elif t.schema != self.schema_arrow:
            t = t.cast(self.schema_arrow, safe=False)
        self.writer.write_table(t)
        self.written += len(frame)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def convert_events(
    path: str | Path,
    out: str | Path,
    *,
    format: str | None = None,
    assume_tz: str | None = None,
    mapping: Mapping[str, Any] | str | Path | None = None,
    chunksize: int = DEFAULT_CHUNKSIZE,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> ConvertResult:
    """Convert an events export to one canonical Parquet file (sorted by ``ts``, one row per ``event_id``)."""
    p = check_path(path)
    mp = load_mapping(mapping, EVENTS)
    mapped = required_sources(mp, EVENTS)
    fmt = detect_format(p, "events", mapped=mapped) if format is None else normalize_format(format, p, "events", mapped=mapped)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = MappingState(mp)
    with tempfile.TemporaryDirectory(prefix="forensics-convert-") as tmp:
        staging = Path(tmp) / "staging.parquet"
        if fmt in TRACE_FORMATS:
            lr = load_trace_format(p, fmt, assume_tz=assume_tz, mapping=state, chunksize=chunksize)
            col = _StreamingCollector(EVENTS, str(p), assume_tz, state, staging=staging)
            if len(lr.frame):
                col._write(lr.frame, np.arange(1, len(lr.frame) + 1))
            col.close()
            rejected = [lr.rejected] if len(lr.rejected) else []
            rows_read, warnings = lr.rows_read, list(lr.warnings)
        else:
            col = _StreamingCollector(EVENTS, str(p), assume_tz, state, staging=staging)
            try:
                read_canonical(p, fmt, col, chunksize)
            finally:
                col.close()
            rejected = list(col.rejected)
            rows_read, warnings = col.rows_read, list(state.warnings())
        if rows_read == 0 or col.writer is None:
            raise LoadError("has no rows that can be loaded: nothing to convert.", source=str(p))
        con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": tmp})
        try:
            con.execute("SET TimeZone = 'UTC'")
            src = f"read_parquet({quote_literal(str(staging))})"
            dups = con.execute(
                f"SELECT {_ROW}, CAST(event_id AS VARCHAR), CAST(ts AS VARCHAR) FROM (SELECT {_ROW}, event_id, ts, "
                f"ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY {_ROW}) AS rn FROM {src}) WHERE rn > 1 ORDER BY {_ROW}"
            ).fetchall()
            if dups:
                rejected.append(rejected_frame([d[0] for d in dups], [f"duplicate event_id {d[1]!r}: kept once (the first row)" for d in dups],
                                               [f'{{"event_id": "{d[1]}", "ts": "{d[2]}"}}' for d in dups]))
                warnings.append(f"{len(dups)} row(s) repeat an earlier event_id: kept once, the repeats are rejected")
            con.execute(
                f"COPY (SELECT * EXCLUDE ({_ROW}) FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY {_ROW}) AS rn__ "
                f"FROM {src}) WHERE rn__ = 1 ORDER BY ts, event_id) TO {quote_literal(str(out))} (FORMAT PARQUET)"
            )
            written = int(con.execute(f"SELECT COUNT(*) FROM read_parquet({quote_literal(str(out))})").fetchone()[0])
        finally:
            con.close()
    rej = pd.concat(rejected, ignore_index=True) if rejected else rejected_frame()
    rej_path = None
    if len(rej):
        from ..report import csv_safe_frame

        rej_path = out.with_name(out.name + ".rejected.csv")
        csv_safe_frame(rej.sort_values("row", kind="stable"), redact=True).to_csv(rej_path, index=False)
    if rows_read != written + len(rej):
        raise RuntimeError(f"internal error converting {p}: read {rows_read}, wrote {written}, rejected {len(rej)}")
    return ConvertResult(str(p), fmt, out, int(rows_read), written, int(len(rej)), rej_path, tuple(warnings))
