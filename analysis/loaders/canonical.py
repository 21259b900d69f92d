"""Canonical tables as Parquet, JSON Lines, JSON or CSV, streamed in chunks.

Each chunk is read by Arrow (Parquet row-group batches, JSON blocks, CSV blocks), converted to
pandas with canonical dtypes and coerced; memory stays at about the loaded frame plus one chunk.
A JSON block that Arrow cannot parse (a malformed line, bytes that are not UTF-8, a value whose
type changes) is split in halves until the bad part is small, and only that part is read line by
line with Python's ``json``, so one bad line costs milliseconds, not the fast path for the file.
A JSON document (an array of rows), or row documents back to back (pretty-printed, whatever the
extension), is parsed document by document as it is read.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from ..schema import (
    SchemaError,
    TableSchema,
    arrow_types_mapper,
    check_required_columns,
    coerce_rows,
    duplicate_reasons,
    empty_frame,
    rejected_frame,
    row_json,
)
from ._jsonio import HEAD_BYTES, iter_json_records, json_layout, read_head
from .dbtable import open_table, table_ref
from .mapping import MappingState
from .result import DEFAULT_CHUNKSIZE, LoadError, LoadResult, file_sha256

__all__ = ["Collector", "read_parquet", "read_arrow_batches", "read_table", "read_jsonl", "read_json_documents", "read_csv", "read_canonical"]

_SMALL_BLOCK_LINES = 2048  # below this a failing JSON block is read line by line


class Collector:
    """Coerces chunks as they come, keeps the load report, de-duplicates keys at the end."""

    def __init__(self, schema: TableSchema, source: str, assume_tz: str | None, mapping: MappingState) -> None:
        self.schema = schema
        self.source = source
        self.assume_tz = assume_tz
        self.mapping = mapping
        self.frames: list[pd.DataFrame] = []
        self.labels: list[np.ndarray] = []
        self.rejected: list[pd.DataFrame] = []
        self.rows_read = 0
        self.columns_checked = False
        self.chunks = 0
        self.warnings: list[str] = []  # the reader's (bytes replaced)

    def reject(self, rows: Sequence[int], reasons: Sequence[str], raws: Sequence[str]) -> None:
        if len(rows):
            self.rejected.append(rejected_frame(rows, reasons, raws))
            self.rows_read += len(rows)

    def add(self, df: pd.DataFrame, labels: np.ndarray, raw_text: Callable[[int], str] | Sequence[str] | None = None) -> None:
        self.chunks += 1
        self.rows_read += len(df)
        df = self.mapping.apply(df)
        if not self.columns_checked:
            check_required_columns(df.columns, self.schema, source=self.source)
            self.columns_checked = True
        else:
            missing = [c for c in self.schema.required if c not in df.columns]
            if missing:  # a JSONL chunk whose rows all lack a key the file has elsewhere
                df = df.assign(**{c: pd.Series([None] * len(df), dtype=object) for c in missing})
        res = coerce_rows(
            df, self.schema, source=self.source, assume_tz=self.assume_tz, row_labels=labels, raw_text=raw_text, dedupe=False
        )
        if len(res.frame):
            self.frames.append(res.frame)
            self.labels.append(res.kept_labels)
        if len(res.rejected):
            self.rejected.append(res.rejected)

    def finish(self, fmt: str, sha256: str | None = None) -> LoadResult:
        """The load result: the de-duplicated frame, every rejected row and the warnings.

        ``sha256`` is the file's hash when the reader computed it while reading; else it is computed here.
        """
        warnings: list[str] = list(self.warnings)
        if self.frames:
            frame = self.frames[0] if len(self.frames) == 1 else pd.concat(self.frames, ignore_index=True)
            labels = np.concatenate(self.labels)
        else:
            frame = empty_frame(self.schema)
            labels = np.zeros(0, dtype=np.int64)
        self.frames = []
        key = self.schema.key
        dups = duplicate_reasons(frame[key], labels, np.ones(len(frame), dtype=bool), key) if len(frame) else {}
        if dups:
            idx = np.array(sorted(dups))
            self.rejected.append(
                rejected_frame(labels[idx], [dups[int(i)] for i in idx], [row_json(frame.iloc[int(i)]) for i in idx])
            )
            keep = np.ones(len(frame), dtype=bool)
            keep[idx] = False
            frame = frame.loc[keep].reset_index(drop=True)
            warnings.append(f"{len(idx)} row(s) repeat an earlier {key}: kept once, the repeats are in `rejected`")
        rejected = pd.concat(self.rejected, ignore_index=True) if self.rejected else rejected_frame()
        if len(rejected):
            rejected = rejected.sort_values("row", kind="stable").reset_index(drop=True)
        warnings += self.mapping.warnings()
        return LoadResult(
            frame=frame,
            rows_read=self.rows_read,
            rows_loaded=len(frame),
            rejected=rejected,
            warnings=warnings,
            source=self.source,
            format=fmt,
            sha256=sha256 if sha256 is not None else file_sha256(Path(self.source)),
        )


# --------------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------------


def read_arrow_batches(batches: Iterable[pa.RecordBatch], names: Sequence[str], col: Collector) -> None:
    """Rows coming as Arrow record batches (a Parquet file's, a database table's) with columns ``names``."""
    cols = col.mapping.apply(pd.DataFrame(columns=list(names))).columns
    check_required_columns(cols, col.schema, source=col.source)
    start = 1
    for batch in batches:
        df = pa.Table.from_batches([batch]).to_pandas(types_mapper=arrow_types_mapper)
        n = len(df)
        col.add(df, np.arange(start, start + n, dtype=np.int64))
        start += n


def read_parquet(path: Path, col: Collector, chunksize: int) -> None:
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a corrupt file
        raise LoadError(f"cannot read as Parquet: {e}", source=str(path)) from None
    if not pf.metadata.num_rows:
        return
    read_arrow_batches(pf.iter_batches(batch_size=chunksize, use_threads=True), pf.schema_arrow.names, col)


def read_table(path: Any, col: Collector, chunksize: int) -> str:
    """A canonical events table in a database (a URL, or a file holding one table); returns the
    file's SHA-256 ("" for a server)."""
    ref = table_ref(path)
    if ref is None:  # pragma: no cover - guarded by the caller
        raise LoadError("is not a database table.", source=str(path))
    with open_table(ref) as t:
        col.source = t.source
        read_arrow_batches(t.batches(chunksize), t.columns, col)
        col.warnings += t.warnings()
    return file_sha256(Path(ref.location)) if ref.kind != "postgres" else ""


# --------------------------------------------------------------------------------------------
# JSON Lines
# --------------------------------------------------------------------------------------------


def _timestamp_sources(col: Collector) -> list[str]:
    """Columns that must reach us as strings: Arrow's JSON inference would turn ISO strings into
    timestamps and lose whether they had an offset."""
    names = col.schema.columns_of_kind("timestamp")
    names += [e.source for e in col.mapping.mapping.entries if e.target in names]
    return sorted(set(names))


def _line_spans(block: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of every line of ``block`` (without the newline)."""
    nl = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
    starts = np.concatenate([[0], nl + 1])
    ends = np.concatenate([nl, [len(block)]])
    if len(block) and block.endswith(b"\n"):
        starts, ends = starts[:-1], ends[:-1]
    return starts, ends


def _nonblank(block: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    short = np.flatnonzero(ends - starts < 16)
    keep = np.ones(len(starts), dtype=bool)
    for i in short:
        if not block[starts[i]:ends[i]].strip():
            keep[i] = False
    return keep


def _arrow_json(block: bytes, explicit: pa.Schema | None) -> pa.Table:
    bs = max(1 << 20, min(len(block) + 1, 16 << 20))
    po = pajson.ParseOptions(explicit_schema=explicit, unexpected_field_behavior="infer") if explicit is not None else pajson.ParseOptions()
    try:
        return pajson.read_json(pa.BufferReader(block), read_options=pajson.ReadOptions(block_size=bs), parse_options=po)
    except pa.ArrowInvalid as e:
        if "straddl" in str(e) and bs < len(block) + 1:  # one very long line
            return pajson.read_json(pa.BufferReader(block), read_options=pajson.ReadOptions(block_size=len(block) + 1), parse_options=po)
        raise


def _fast_block(block: bytes, first_line: int, col: Collector, ts_cols: list[str]) -> bool:
    """Read a block with Arrow; False when Arrow cannot (the caller splits or goes slow)."""
    nlines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
    # Only blocks where every line starts an object go to Arrow: its reader turns a `null` line
    # into a row of nulls (and pyarrow 26 crashes on a block holding only `null`), and a
    # blank or indented line would shift the line numbers.
    if block.count(b"\n{") + (block[:1] == b"{") != nlines:
        return False
    explicit = pa.schema([(c, pa.string()) for c in ts_cols])
    try:
        table = _arrow_json(block, explicit)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # a timestamp column holding epoch numbers fails the string schema: infer instead, and
        # accept only when no timestamp column was inferred as an (offset-less) timestamp
        try:
            table = _arrow_json(block, None)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        if any(c in table.column_names and pa.types.is_timestamp(table.schema.field(c).type) for c in ts_cols):
            return False
    try:  # Arrow's JSON reader does not check UTF-8: bad bytes go to the line-by-line path
        table.validate(full=True)
    except pa.ArrowInvalid:
        return False
    for c in ts_cols:  # the explicit schema adds declared columns that the block does not have
        if c in table.column_names and table.column(c).null_count == table.num_rows and f'"{c}"'.encode() not in block:
            table = table.drop_columns([c])
    if any(pa.types.is_struct(f.type) and f.name in col.schema.names for f in table.schema):
        return False
    spans: list[tuple[np.ndarray, np.ndarray]] = []
    if table.num_rows == nlines:  # no blank lines: row i is line i
        keep_idx = None
        labels = first_line + np.arange(nlines, dtype=np.int64)
    else:
        starts, ends = _line_spans(block)
        spans.append((starts, ends))
        keep_idx = np.flatnonzero(_nonblank(block, starts, ends))
        if len(keep_idx) != table.num_rows:
            return False
        labels = first_line + keep_idx.astype(np.int64)

    def raw(i: int) -> str:
        if not spans:
            spans.append(_line_spans(block))
        starts, ends = spans[0]
        j = i if keep_idx is None else keep_idx[i]
        return block[starts[j]:ends[j]].decode("utf-8", errors="backslashreplace").strip()

    df = table.to_pandas(types_mapper=arrow_types_mapper)
    col.add(df, labels, raw_text=raw)
    return True


def _slow_block(block: bytes, first_line: int, col: Collector) -> None:
    """Line by line: every bad line is rejected with its number and the rest loads."""
    records: list[dict[str, Any]] = []
    labels: list[int] = []
    raws: list[str] = []
    bad_rows: list[int] = []
    bad_reasons: list[str] = []
    bad_raws: list[str] = []
    for j, raw in enumerate(block.split(b"\n")):
        lineno = first_line + j
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError as e:
            bad_rows.append(lineno)
            bad_reasons.append(f"line is not valid UTF-8 ({e.reason}: byte 0x{raw[e.start]:02x} at column {e.start + 1})")
            bad_raws.append(raw.decode("utf-8", errors="backslashreplace").strip())
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            bad_rows.append(lineno)
            bad_reasons.append(f"malformed JSON: {e.msg} at column {e.colno}")
            bad_raws.append(text)
            continue
        if not isinstance(obj, dict):
            bad_rows.append(lineno)
            bad_reasons.append(f"not a JSON object: a row must be {{...}}, got {type(obj).__name__}")
            bad_raws.append(text)
            continue
        records.append(obj)
        labels.append(lineno)
        raws.append(text)
    col.reject(bad_rows, bad_reasons, bad_raws)
    if records:
        df = pd.DataFrame.from_records(records)
        col.add(df, np.asarray(labels, dtype=np.int64), raw_text=raws)


def _read_block(block: bytes, first_line: int, col: Collector, ts_cols: list[str]) -> None:
    if len(block) < 4096 and not block.strip():
        return
    if _fast_block(block, first_line, col, ts_cols):
        return
    nlines = block.count(b"\n")
    if nlines <= _SMALL_BLOCK_LINES:
        _slow_block(block, first_line, col)
        return
    mid = block.find(b"\n", len(block) // 2)
    if mid < 0 or mid == len(block) - 1:
        mid = block.rfind(b"\n", 0, len(block) - 1)
    left, right = block[: mid + 1], block[mid + 1 :]
    _read_block(left, first_line, col, ts_cols)
    _read_block(right, first_line + left.count(b"\n"), col, ts_cols)


def _avg_line_bytes(path: Path) -> float:
    with open(path, "rb") as f:
        head = f.read(1 << 20)
    n = head.count(b"\n")
    return max(len(head) / max(n, 1), 16.0)


def read_jsonl(path: Path, col: Collector, chunksize: int) -> str:
    """Stream a JSON Lines file in blocks of about ``chunksize`` lines; returns the file's SHA-256."""
    ts_cols = _timestamp_sources(col)
    block_bytes = int(max(1 << 12, min(chunksize * _avg_line_bytes(path), 1 << 30)))
    h = hashlib.sha256()
    line_no = 1
    carry = b""
    with open(path, "rb") as f:
        while True:
            data = f.read(block_bytes)
            h.update(data)
            if not data:
                if carry.strip():
                    _read_block(carry, line_no, col, ts_cols)
                break
            buf = carry + data if carry else data
            cut = buf.rfind(b"\n")
            if cut < 0:
                carry = buf
                continue
            block, carry = buf[: cut + 1], buf[cut + 1 :]
            _read_block(block, line_no, col, ts_cols)
            line_no += block.count(b"\n")
    return h.hexdigest()


def _rows_of(doc: Any, table: str) -> list[Any]:
    """The rows of one JSON document: an array, ``{"events"|"changes"|"rows"|"data": [...]}``, or one row."""
    if isinstance(doc, dict):
        for k in (table, "rows", "data"):
            if isinstance(doc.get(k), list):
                return doc[k]
    return doc if isinstance(doc, list) else [doc]


def read_json_documents(path: Path, col: Collector, chunksize: int = DEFAULT_CHUNKSIZE) -> None:
    """JSON documents: one array of row objects (or ``{"events"|"changes"|"data"|"rows": [...]}``),
    or row objects (or arrays of them) back to back, pretty-printed or not, parsed as they are read
    (:func:`iter_json_records`) and added ``chunksize`` rows at a time.

    Rows are numbered from 1 across the documents. A document that does not parse is one rejected
    row naming the document, its line and byte offset; a file holding nothing else is an error.
    """
    warnings: list[str] = []
    recs = iter_json_records(path, warnings)
    first = next(recs, None)
    if first is not None and first.error is not None:
        second = next(recs, None)
        if second is None:
            raise LoadError(f"{first.error}. (In JSON Lines, or documents back to back, a malformed record is rejected and the rest loads.)",
                            source=str(path))
        recs = itertools.chain([second], recs)
    rows: list[dict[str, Any]] = []
    labels: list[int] = []
    n = 0
    for rec in itertools.chain([first] if first is not None else [], recs):
        if rec.error is not None:
            n += 1
            col.reject([n], [rec.error], [rec.raw])
            continue
        for r in _rows_of(rec.value, col.schema.name):
            n += 1
            if not isinstance(r, dict):
                col.reject([n], [f"not a JSON object: a row must be {{...}}, got {type(r).__name__}"], [json.dumps(r, ensure_ascii=False)])
                continue
            rows.append(r)
            labels.append(n)
            if len(rows) >= chunksize:
                _add_rows(col, rows, labels)
                rows, labels = [], []
    _add_rows(col, rows, labels)
    col.warnings += warnings


def _add_rows(col: Collector, rows: list[dict[str, Any]], labels: list[int]) -> None:
    if rows:
        col.add(pd.DataFrame.from_records(rows), np.array(labels, dtype=np.int64),
                raw_text=[json.dumps(r, ensure_ascii=False, default=str) for r in rows])


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


def _csv_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        try:
            header = next(csv.reader(f))
        except StopIteration:
            header = []
    header = [h.strip() for h in header]
    if not header or all(h == "" for h in header):
        raise LoadError("has no header row; a CSV table starts with a row of column names.", source=str(path))
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise LoadError(f"repeats column name(s) {dup} in its header.", source=str(path))
    return header


def _utf8_bad_rows(table: pa.Table) -> dict[int, str]:
    bad: dict[int, str] = {}
    for name in table.column_names:
        c = table.column(name)
        if not (pa.types.is_string(c.type) or pa.types.is_large_string(c.type)):
            continue
        try:
            c.validate(full=True)
            continue
        except pa.ArrowInvalid:
            pass
        for i, v in enumerate(c.cast(pa.binary()).to_pylist()):
            if v is None:
                continue
            try:
                v.decode("utf-8")
            except UnicodeDecodeError as e:
                bad.setdefault(i, f"{name}: bytes that are not UTF-8 ({e.reason}: byte 0x{v[e.start]:02x})")
    return bad


def read_csv(path: Path, col: Collector, chunksize: int) -> None:
    header = _csv_header(path)
    invalid: list[tuple[int | None, str, int, int]] = []

    def handler(row: Any) -> str:
        invalid.append((row.number, row.text, row.expected_columns, row.actual_columns))
        return "skip"

    block = int(max(1 << 12, min(chunksize * _avg_line_bytes(path), 1 << 30)))
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=block),
            parse_options=pacsv.ParseOptions(invalid_row_handler=handler, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header}, strings_can_be_null=True, check_utf8=False
            ),
        )
    except pa.ArrowInvalid as e:
        if "Empty CSV file" in str(e):
            raise LoadError("is empty.", source=str(path)) from None
        raise LoadError(f"cannot read as CSV: {e}", source=str(path)) from None
    next_rec = 2  # the header is record 1
    seen_invalid = 0
    inv_numbers: list[int] = []

    def flush_invalid() -> None:
        nonlocal seen_invalid
        new = invalid[seen_invalid:]
        seen_invalid = len(invalid)
        if not new:
            return
        rows, reasons, raws = [], [], []
        for number, text, exp, act in new:
            num = number if number is not None else -1
            inv_numbers.append(num)
            rows.append(num)
            reasons.append(f"malformed CSV row: expected {exp} fields, found {act}")
            raws.append(text)
        col.reject(rows, reasons, raws)

    try:
        for batch in reader:
            flush_invalid()
            n = batch.num_rows
            if n == 0:
                continue
            inv = np.asarray(sorted(x for x in inv_numbers if x >= next_rec), dtype=np.int64)
            cand = np.arange(next_rec, next_rec + n + len(inv), dtype=np.int64)
            labels = cand[~np.isin(cand, inv)][:n]
            next_rec = int(labels[-1]) + 1
            table = pa.Table.from_batches([batch])
            bad = _utf8_bad_rows(table)
            if bad:
                idx = np.array(sorted(bad))
                rows_txt = [
                    ",".join("" if v is None else v.decode("utf-8", errors="backslashreplace") for v in
                             [table.column(c).cast(pa.binary())[int(i)].as_py() for c in table.column_names])
                    for i in idx
                ]
                col.reject(labels[idx].tolist(), [bad[int(i)] for i in idx], rows_txt)
                keep = np.ones(n, dtype=bool)
                keep[idx] = False
                table = table.filter(pa.array(keep))
                labels = labels[keep]
            df = table.to_pandas(types_mapper=arrow_types_mapper)
            col.add(df, labels)
    except pa.ArrowInvalid as e:
        raise LoadError(f"cannot read as CSV after record {next_rec - 1}: {e}", source=str(path)) from None
    flush_invalid()
    if col.rows_read and not col.columns_checked:
        check_required_columns(col.mapping.apply(pd.DataFrame(columns=header)).columns, col.schema, source=col.source)


def _documents(path: Path) -> bool:
    """Whether a file given as JSON Lines holds JSON documents back to back (pretty-printed)."""
    head = read_head(path, HEAD_BYTES)
    return json_layout(head.decode("utf-8", errors="replace").lstrip("\ufeff"), len(head) < HEAD_BYTES) == "documents"


def read_canonical(path: Path, fmt: str, col: Collector, chunksize: int) -> str | None:
    """Dispatch on ``fmt``; returns the SHA-256 when it was computed while reading."""
    if fmt == "parquet":
        read_parquet(path, col, chunksize)
    elif fmt == "table":
        return read_table(path, col, chunksize)
    elif fmt == "jsonl" and not _documents(path):
        return read_jsonl(path, col, chunksize)
    elif fmt in ("json", "jsonl"):
        read_json_documents(path, col, chunksize)
    elif fmt == "csv":
        read_csv(path, col, chunksize)
    else:  # pragma: no cover - guarded by the caller
        raise SchemaError(f"not a canonical format: {fmt!r}", source=str(path))
    return None
