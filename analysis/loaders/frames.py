"""Frames of spans (a Phoenix spans dataframe, LangSmith runs), wherever the rows are kept.

A *frame format* is a table whose rows are spans, one column per field. The same frame may be
saved as Parquet or written to a database table (``df.to_sql``), so its rows reach the format's
reader the same way from either: as Arrow record batches (:func:`parquet_batches`, or
:meth:`.dbtable.DbTable.batches`), each turned into a pandas frame and handed to the format's
``spans`` function (:data:`FRAME_FORMATS`). A format added here (and to the column rules of
:func:`.detect.detect_format`) is read from Parquet files and from database tables alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .dbtable import TableRef, open_table
from .langsmith import langsmith_frame_spans
from .openinference import phoenix_frame_spans, phoenix_limit_warnings
from .result import LoadError
from .stream import DEFAULT_BATCH_SPANS, SpanBatch

__all__ = ["FrameFormat", "FRAME_FORMATS", "frame_span_batches", "parquet_batches", "table_span_batches", "arrow_frame"]


def _no_warnings(n_rows: int) -> list[str]:
    return []


@dataclass(frozen=True)
class FrameFormat:
    """How the rows of one frame format become spans.

    Attributes
    ----------
    name
        The format's name (``format=``).
    spans
        ``spans(frame, first_row)``: the spans of a pandas frame of some rows, ``first_row`` the
        row number of its first row (rows are numbered from 1 across the whole frame).
    finish
        ``finish(n_rows)``: warnings once every row is read (e.g. a possibly truncated export).
    """

    name: str
    spans: Callable[[pd.DataFrame, int], SpanBatch]
    finish: Callable[[int], list[str]] = _no_warnings


#: The frame formats by name.
FRAME_FORMATS: dict[str, FrameFormat] = {
    "phoenix": FrameFormat("phoenix", phoenix_frame_spans, phoenix_limit_warnings),
    "langsmith": FrameFormat("langsmith", langsmith_frame_spans),
}


def arrow_frame(batch: pa.RecordBatch) -> pd.DataFrame:
    """A record batch as a pandas frame (the index a pandas-written Parquet file names is restored)."""
    return pa.Table.from_batches([batch]).to_pandas()


def frame_span_batches(fmt: str, batches: Iterable[pa.RecordBatch]) -> Iterator[SpanBatch]:
    """The span batches of a frame format's rows, read batch by batch."""
    spec = FRAME_FORMATS[fmt]
    row = 1
    for b in batches:
        if b.num_rows == 0:
            continue
        yield spec.spans(arrow_frame(b), row)
        row += b.num_rows
    yield SpanBatch(warnings=spec.finish(row - 1))


def parquet_batches(path: Path, chunksize: int = DEFAULT_BATCH_SPANS) -> Iterator[pa.RecordBatch]:
    """The record batches of a Parquet file, ``chunksize`` rows at a time."""
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a corrupt file
        raise LoadError(f"cannot read as Parquet: {e}", source=str(path)) from None
    yield from pf.iter_batches(batch_size=chunksize)


def table_span_batches(ref: TableRef, fmt: str, chunksize: int = DEFAULT_BATCH_SPANS) -> Iterator[SpanBatch]:
    """The span batches of a frame format's rows kept in a database table."""
    with open_table(ref) as t:
        yield SpanBatch(warnings=[f"read table {t.table!r} ({len(t.columns)} columns) as a {fmt} frame"])
        yield from frame_span_batches(fmt, t.batches(chunksize))
        yield SpanBatch(warnings=t.warnings())
