"""What every loader returns, and the file-level helpers they share."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..schema import SchemaError

__all__ = ["LoadResult", "LoadError", "file_sha256", "check_path", "DEFAULT_CHUNKSIZE"]

#: Rows per chunk when streaming canonical files (Parquet batches, CSV blocks, JSONL blocks).
DEFAULT_CHUNKSIZE = 100_000


class LoadError(SchemaError):
    """A file cannot be loaded at all: it does not exist, is empty, or its format is unknown.

    A subclass of :class:`~analysis.schema.SchemaError`, so ``except SchemaError`` catches every
    error a loader raises on bad input. The message always names the file.
    """


@dataclass(frozen=True, eq=False, repr=False)
class LoadResult:
    """A loaded table and its load report.

    Attributes
    ----------
    frame
        The canonical table (``events`` or ``changes``), one row per loaded record.
    rows_read
        Records read from the file: rows of a canonical file or change log; for trace formats,
        the candidate events (inference spans, Langfuse GENERATION observations) plus the
        records that could not be parsed at all. Always ``rows_loaded + len(rejected)``.
    rows_loaded
        ``len(frame)``.
    rejected
        One row per rejected record: ``row`` (source line, or row number where the format has
        no lines), ``reason`` and ``raw`` (the source text, or the record as JSON).
    warnings
        Everything else worth knowing: spans folded or not used, values replaced, mapping keys
        not found, a possibly truncated export.
    source, format, sha256
        The path, the format that was read, and the SHA-256 of the file (of the sorted
        ``name  sha256`` lines for a directory).
    spans_by_kind
        For trace formats, how every span/observation read was used (sums to all of them);
        empty for tables.
    """

    frame: pd.DataFrame
    rows_read: int
    rows_loaded: int
    rejected: pd.DataFrame
    warnings: list[str]
    source: str
    format: str
    sha256: str
    spans_by_kind: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rows_loaded != len(self.frame) or self.rows_read != self.rows_loaded + len(self.rejected):
            raise RuntimeError(
                f"internal error in the {self.format} loader for {self.source}: rows_read={self.rows_read}, "
                f"rows_loaded={self.rows_loaded}, len(frame)={len(self.frame)}, rejected={len(self.rejected)}"
            )

    def __repr__(self) -> str:
        return (
            f"LoadResult(source={self.source!r}, format={self.format!r}, rows_read={self.rows_read}, "
            f"rows_loaded={self.rows_loaded}, rejected={len(self.rejected)}, warnings={len(self.warnings)})"
        )

    @property
    def rows_rejected(self) -> int:
        return len(self.rejected)

    def summary(self) -> dict[str, Any]:
        """The ``inputs`` entry of ``report.json``: path, sha256 and the row counts."""
        return load_summary(self)


def load_summary(res: Any) -> dict[str, Any]:
    """report.json's ``inputs`` entry of a load (a :class:`LoadResult` or an ``EventsSource``)."""
    return {
        "path": res.source,
        "format": res.format,
        "sha256": res.sha256,
        "rows_read": int(res.rows_read),
        "rows_loaded": int(res.rows_loaded),
        "rows_rejected": int(res.rows_rejected),
    }


def check_path(path: str | Path) -> Path:
    """The path, after checking that it exists and is not an empty or whitespace-only file."""
    p = Path(path)
    if not p.exists():
        raise LoadError("file not found.", source=str(p))
    if p.is_file():
        if p.stat().st_size == 0:
            raise LoadError("is empty (0 bytes).", source=str(p))
        with open(p, "rb") as f:
            head = f.read(1 << 16)
        if len(head) < (1 << 16) and not head.strip().lstrip(b"\xef\xbb\xbf").strip():
            raise LoadError("is empty (only whitespace).", source=str(p))
    return p


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, or of the sorted ``name  sha256`` lines of the files in a directory."""
    if path.is_dir():
        lines = [f"{p.name}  {file_sha256(p)}" for p in sorted(path.iterdir()) if p.is_file()]
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(8 << 20):
            h.update(block)
    return h.hexdigest()

