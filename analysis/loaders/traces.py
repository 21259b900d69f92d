"""Trace formats (OTLP, OTel-JS, Phoenix, Langfuse, OpenAI, MLflow) -> events, with the load report.

Span-based formats go through :mod:`.stream`: OTLP files, Phoenix's database and MLflow's forms are parsed as they
are read and assembled whole traces at a time, so that ``convert`` keeps memory bounded; the
other formats are parsed whole and assembled as one group.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd

from ..schema import EVENTS, coerce_rows, duplicate_reasons, rejected_frame, row_json
from ._spans import Span
from .dbtable import is_db_url, table_ref
from .detect import data_files
from .frames import FRAME_FORMATS, frame_span_batches, parquet_batches, table_span_batches
from .langfuse import attach_scores, read_langfuse
from .mlflow_store import mlflow_batches
from .mapping import MappingState
from .openai_batch import read_openai
from .openinference import dialect_for, spans_from_phoenix
from .oteljs import spans_from_oteljs
from .otlp import iter_otlp_records, spans_from_otlp
from .phoenix_db import is_phoenix_db, phoenix_db_batches, source_text
from .result import LoadError, LoadResult, file_sha256
from .stream import DEFAULT_BATCH_SPANS, DEFAULT_WINDOW, EventChunk, SpanBatch, Tally, event_chunks, records_to_chunk

__all__ = ["load_trace_format", "stream_trace_format", "TraceOptions", "RECORD_NAMES", "dialect_for"]


#: What one record of each format is called in the load report.
RECORD_NAMES = {"otlp": "span", "oteljs": "span", "phoenix": "span", "langfuse": "observation", "openai": "response", "langsmith": "run",
                "mlflow": "span"}


@dataclass(frozen=True)
class TraceOptions:
    """How a trace export is read: Phoenix's database filters, and the streaming sizes.

    Attributes
    ----------
    project
        Phoenix database: the project to read (``None``: every project, with a ``phoenix.project`` column).
    start, end
        Phoenix database: only spans starting in ``[start, end)`` (timezone-aware, or UTC when naive).
    window
        Spans held while their traces may still grow (see :mod:`.stream`).
    batch_spans
        Spans parsed before they are handed on.
    """

    project: str | None = None
    start: Any = None
    end: Any = None
    window: int = DEFAULT_WINDOW
    batch_spans: int = DEFAULT_BATCH_SPANS


def _otlp_batches(path: Path, batch_spans: int) -> Iterator[SpanBatch]:
    """Span batches of an OTLP file, or of every file of a folder (the S3 exporter's layout)."""
    if not path.is_dir():
        yield from _otlp_file_batches(path, "", batch_spans)
        return
    files = [f for f in data_files(path) if f.stat().st_size > 0]
    yield SpanBatch(warnings=[f"read {len(files)} file(s) under the folder"])
    for f in files:
        yield from _otlp_file_batches(f, f"{f.relative_to(path)}: ", batch_spans)


def _otlp_file_batches(path: Path, label: str, batch_spans: int) -> Iterator[SpanBatch]:
    """Span batches of one OTLP file, its records parsed as they are read."""
    recs, warnings = iter_otlp_records(path)
    batch = SpanBatch()
    for r in recs:
        if r.error is not None:
            lost = "" if "lost" in r.error else " (the spans in this record are lost)"
            batch.bad.append((r.line, label + r.error + lost, r.raw))
        else:
            s, problems = spans_from_otlp(r.value, r.line, dialect_for)
            if not s and problems:
                batch.bad.append((r.line, label + "; ".join(problems[:3]), r.raw[:2000]))
            elif problems:
                batch.warnings.append(f"{label}line {r.line}: " + "; ".join(problems[:3]))
            batch.spans += s
        if len(batch.spans) >= batch_spans:
            yield batch
            batch = SpanBatch()
    batch.warnings += [label + w for w in warnings]
    yield batch


def _is_parquet(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PAR1"


def _whole(spans: list[Span], bad: list[tuple[int, str, str]], warnings: list[str]) -> Iterator[SpanBatch]:
    yield SpanBatch(spans, list(bad), list(warnings))


def trace_batches(path: Path | str, fmt: str, options: TraceOptions, scores: list[dict] | None = None,
                  mapped: frozenset[str] = frozenset()) -> tuple[Iterable[SpanBatch], int]:
    """The span batches of a trace export, and the window to assemble them with.

    ``scores`` receives a Langfuse export's scores; ``mapped`` are the columns and sources the
    user's mapping names (Phoenix's default annotation outcomes give way to them).
    """
    if fmt == "otlp":
        return _otlp_batches(Path(path), options.batch_spans), options.window
    if fmt == "mlflow":
        return mlflow_batches(path, skip=mapped, batch_spans=options.batch_spans), options.window
    if fmt == "phoenix" and is_phoenix_db(path):
        return phoenix_db_batches(path, project=options.project, start=options.start, end=options.end,
                                  batch_spans=options.batch_spans, skip_outcomes=mapped), options.window
    if fmt in FRAME_FORMATS:
        ref = table_ref(path)
        if ref is not None:
            return table_span_batches(ref, fmt, options.batch_spans), options.window
        if Path(path).is_file() and _is_parquet(Path(path)):
            return frame_span_batches(fmt, parquet_batches(Path(path), options.batch_spans)), options.window
    if fmt == "oteljs":
        spans, bad, warnings = spans_from_oteljs(Path(path))
    elif fmt == "phoenix":
        spans, bad, warnings = spans_from_phoenix(Path(path))
    elif fmt == "langfuse":
        spans, bad, warnings, sc = read_langfuse(Path(path))
        if scores is not None:
            scores += sc
    elif fmt in FRAME_FORMATS:
        raise LoadError(f"{fmt!r} runs are read from a Parquet file or a database table; this input is neither.", source=str(path))
    else:
        raise LoadError(f"not a trace format: {fmt!r}", source=str(path))  # pragma: no cover - guarded by the caller
    return _whole(spans, bad, warnings), max(len(spans), 1)  # read whole: assembled as one group


def _check_options(fmt: str, path: Path | str, options: TraceOptions) -> None:
    if (options.project is not None or options.start is not None or options.end is not None) and not (fmt == "phoenix" and is_phoenix_db(path)):
        raise LoadError(f"`project`, `start` and `end` filter Phoenix's database; this input holds {fmt!r}.", source=str(path))


def stream_trace_format(path: Path | str, fmt: str, *, assume_tz: str | None, mapping: MappingState, tally: Tally,
                        options: TraceOptions = TraceOptions()) -> Iterator[EventChunk]:
    """The events of a span-based trace export (OTLP, OTel-JS, Phoenix, Langfuse), chunk by chunk.

    ``tally`` keeps the load report; once the iterator is exhausted, ``tally.warnings()`` says
    what was read. Raises :class:`LoadError` at the end when the input holds no inference record.
    """
    _check_options(fmt, path, options)
    source = source_text(path)
    scores: list[dict] = []
    post = None
    if fmt == "langfuse":
        assume_tz = assume_tz or "UTC"  # Langfuse timestamps without an offset are UTC

        def post(asm: Any) -> None:
            counts, w = attach_scores(asm.records, scores)
            tally.spans_by_kind.update({k: v for k, v in counts.items() if v})
            tally.extra_warnings.extend(w)

    mapped = frozenset(e.target for e in mapping.mapping.entries) | frozenset(mapping.mapping.sources)
    batches, window = trace_batches(path, fmt, options, scores, mapped)
    yield from event_chunks(batches, source=source, assume_tz=assume_tz, mapping=mapping, tally=tally, window=window, post=post)
    if tally.rows_read == 0:
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(tally.spans_by_kind.items())) or "no spans"
        others = f" ({tally.kinds_text()})" if tally.other_kinds else ""
        raise LoadError(
            f"holds no inference {tally.what} to make events from ({kinds}{others}). Inference spans are OTel GenAI spans with "
            "gen_ai.operation.name chat/text_completion/generate_content (or embeddings), OpenInference LLM (or EMBEDDING) "
            "spans, Vercel AI SDK doGenerate/doStream (or doEmbed) spans, MLflow LLM/CHAT_MODEL spans, or Langfuse GENERATION (or EMBEDDING) observations.",
            source=source,
        )


def _load_openai(path: Path, batch_input: Path | None, *, assume_tz: str | None, mapping: MappingState) -> tuple[EventChunk, Tally, list[str]]:
    rd = read_openai(path, batch_input)
    tally = Tally("response")
    counts = dict(rd.counts)
    tally.spans_by_kind.update(counts)
    chunk = records_to_chunk(list(rd.records), list(rd.labels), list(rd.raws), list(rd.bad), source=str(path), assume_tz=assume_tz,
                             mapping=mapping, tally=tally)
    read_line = f"read {rd.lines} line(s): " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(counts.items()))
    warnings = [read_line, *rd.warnings] + tally.warnings()[1:]
    return chunk, tally, warnings


def load_trace_format(path: Path, fmt: str, *, assume_tz: str | None, mapping: MappingState, chunksize: int,
                      batch_input: Path | None = None, options: TraceOptions = TraceOptions()) -> LoadResult:
    """Read a trace export into the events table with its load report.

    Every record the format defines (span, observation, response line) is counted: an inference
    record becomes an event or a rejected row with its reason (no start time, no id, a value that
    does not parse, a repeated id); the others are counted by kind in ``spans_by_kind`` and the
    first warning.
    """
    source = source_text(path)
    if fmt == "openai":
        chunk, tally, warnings = _load_openai(path, batch_input, assume_tz=assume_tz, mapping=mapping)
        chunks = [chunk]
    else:
        tally = Tally(RECORD_NAMES.get(fmt, "record"))
        chunks = list(stream_trace_format(path, fmt, assume_tz=assume_tz, mapping=mapping, tally=tally, options=options))
        warnings = tally.warnings()
    frame, rejected, dups = _concat_deduped(chunks)
    if dups:
        warnings.append(f"{dups} {tally.what}(s) repeat an earlier id: kept once, the repeats are in `rejected`")
    warnings += mapping.warnings()
    return LoadResult(
        frame=frame,
        rows_read=len(frame) + len(rejected),
        rows_loaded=len(frame),
        rejected=rejected,
        warnings=warnings,
        source=source,
        format=fmt,
        sha256=file_sha256(path) if not is_db_url(path) else "",
        spans_by_kind=dict(tally.spans_by_kind),
    )


def _concat_deduped(chunks: list[EventChunk]) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The chunks' rows as one frame, a repeated event_id rejected (the first kept), and all rejected records."""
    frames = [c.frame for c in chunks if len(c.frame)]
    if frames:
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        labels = np.concatenate([c.labels for c in chunks if len(c.frame)])
    else:
        frame = coerce_rows(pd.DataFrame({"event_id": [], "ts": []}), EVENTS, assume_tz="UTC").frame
        labels = np.zeros(0, dtype=np.int64)
    parts = [c.rejected for c in chunks if len(c.rejected)]
    dups = duplicate_reasons(frame["event_id"], labels, np.ones(len(frame), dtype=bool), "event_id") if len(frame) else {}
    if dups:
        idx = np.array(sorted(dups))
        parts.append(rejected_frame(labels[idx], [dups[int(i)] for i in idx], [row_json(frame.iloc[int(i)]) for i in idx]))
        keep = np.ones(len(frame), dtype=bool)
        keep[idx] = False
        frame = frame.loc[keep].reset_index(drop=True)
    rejected = pd.concat(parts, ignore_index=True).sort_values("row", kind="stable").reset_index(drop=True) if parts else rejected_frame()
    return frame, rejected, len(dups)


