"""What an events source is: files, a glob, a Hive-partitioned folder, an in-memory table, a Spark table."""

from __future__ import annotations

import glob as _glob
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

__all__ = ["Source", "resolve_source", "SourceError"]

_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


class SourceError(ValueError):
    """The events source cannot be opened: names the path and what was expected."""


@dataclass(frozen=True)
class Source:
    """A resolved events source.

    ``kind`` is ``parquet``, ``csv`` or ``jsonl`` (``pattern`` is a file, a glob or a folder's
    ``**/*.<ext>`` glob; ``hive`` when the folder has ``key=value`` levels), ``arrow`` (``table``),
    or ``table`` (a table name the engine knows, e.g. a Spark catalogue table).
    """

    kind: str
    pattern: str | None = None
    hive: bool = False
    table: pa.Table | None = None
    name: str | None = None
    label: str = ""


def _arrow_of(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def resolve_source(events: Any, *, allow_table_name: bool = False) -> Source:
    """A :class:`Source` from a path, a glob, a folder, a DataFrame, an Arrow table, or (Spark) a table name."""
    if isinstance(events, Source):
        return events
    if isinstance(events, pd.DataFrame):
        return Source("arrow", table=_arrow_of(events), label=f"in-memory table ({len(events)} rows)")
    if isinstance(events, pa.Table):
        return Source("arrow", table=events, label=f"in-memory table ({events.num_rows} rows)")
    if not isinstance(events, (str, Path)):
        raise SourceError(f"events: expected a path, a glob, a folder, a DataFrame or an Arrow table, got {type(events).__name__}")
    text = str(events)
    p = Path(text)
    if any(ch in text for ch in "*?["):
        hits = sorted(_glob.glob(text, recursive=True))
        if not hits:
            raise SourceError(f"{text}: the glob matches no file")
        kind = _kind_of(Path(hits[0]))
        return Source(kind, pattern=text, hive=any("=" in part for part in Path(hits[0]).parts), label=text)
    if p.is_dir():
        for suffix, kind in _SUFFIXES.items():
            files = sorted(p.rglob(f"*{suffix}"))
            if files:
                hive = any("=" in part for f in files[:50] for part in f.relative_to(p).parts[:-1])
                return Source(kind, pattern=str(p / "**" / f"*{suffix}"), hive=hive, label=str(p))
        raise SourceError(f"{p}: the folder holds no Parquet, CSV or JSONL files")
    if p.is_file():
        return Source(_kind_of(p), pattern=str(p), label=str(p))
    if allow_table_name and "/" not in text and "." not in Path(text).suffix:
        return Source("table", name=text, label=f"table {text}")
    raise SourceError(f"{p}: no such file or folder")


def _kind_of(p: Path) -> str:
    kind = _SUFFIXES.get(p.suffix.lower())
    if kind is None:
        raise SourceError(f"{p}: expected a .parquet, .csv or .jsonl file, got {p.suffix or 'no suffix'}")
    return kind
