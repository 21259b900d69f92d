"""Trace exports turned into events chunk by chunk, so that memory stays bounded.

A reader yields :class:`SpanBatch` objects (the spans of some records, the records that could not
be parsed, the reader's warnings). :class:`TraceWindow` holds the spans of the traces still open
and hands back whole traces once more than ``window`` spans are pending (the traces seen longest
ago first), so that folding (retrieval and embedding spans, ancestors, evaluations) sees every span
of a trace whose spans lie within ``window`` spans of each other in the file. A span that arrives
after its trace was handed on is assembled with the other late spans of that trace and counted in
a warning. :func:`event_chunks` assembles each group of traces, applies the mapping and coerces it:
each :class:`EventChunk` holds canonical rows and rejected records, and :class:`Tally` keeps the
load report across chunks (``rows_read == rows_loaded + rejected``).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from ..schema import EVENTS, coerce_rows, rejected_frame
from ._spans import Assembled, Span, assemble, assembly_warnings
from .mapping import MappingState

__all__ = ["SpanBatch", "TraceWindow", "Tally", "EventChunk", "event_chunks", "DEFAULT_WINDOW", "DEFAULT_BATCH_SPANS"]

#: Spans held while their traces may still grow; past it the traces seen longest ago are assembled.
DEFAULT_WINDOW = 10_000
#: Spans a streaming reader parses before handing them on.
DEFAULT_BATCH_SPANS = 2_000
_MAX_READER_WARNINGS = 50


@dataclass
class SpanBatch:
    """What a reader parsed from some records of the input.

    Attributes
    ----------
    spans
        The spans, in file order.
    bad
        Records that could not be parsed at all: ``(row, reason, raw)``.
    warnings
        The reader's own warnings (a folder's files read, bytes replaced, a possible truncation).
    extra
        Columns to add to the event of a span, by span id (Phoenix's span annotations).
    """

    spans: list[Span] = field(default_factory=list)
    bad: list[tuple[int, str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)


def _trace_key(s: Span, i: int) -> Any:
    return s.trace_id if s.trace_id else ("\x00no-trace", id(s), i)


class TraceWindow:
    """Spans grouped by trace; whole traces handed on when more than ``window`` spans are pending."""

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        if window < 1:
            raise ValueError(f"`window` must be a positive number of spans, got {window!r}")
        self.window = window
        self.pending: OrderedDict[Any, list[Span]] = OrderedDict()
        self.n_pending = 0
        self.flushed: set[int] = set()
        self.late_spans = 0
        self.late_traces: set[int] = set()
        self.traces = 0

    def add(self, spans: Iterable[Span]) -> list[Span]:
        """Take ``spans``; return the spans of the traces handed on (whole traces, may be empty)."""
        for i, s in enumerate(spans):
            key = _trace_key(s, i)
            group = self.pending.get(key)
            if group is None:
                if s.trace_id:
                    h = hash(s.trace_id)
                    if h in self.flushed:
                        self.late_spans += 1
                        self.late_traces.add(h)
                    else:
                        self.traces += 1
                else:
                    self.traces += 1
                self.pending[key] = [s]
            else:
                group.append(s)
                self.pending.move_to_end(key)
            self.n_pending += 1
        if self.n_pending <= self.window:
            return []
        out: list[Span] = []
        while self.pending and self.n_pending > self.window // 2:
            out += self._pop_oldest()
        return out

    def _pop_oldest(self) -> list[Span]:
        key, group = self.pending.popitem(last=False)
        self.n_pending -= len(group)
        if isinstance(key, str):
            self.flushed.add(hash(key))
        return group

    def drain(self) -> list[Span]:
        """Every pending span (the end of the input)."""
        out: list[Span] = []
        while self.pending:
            out += self._pop_oldest()
        return out


@dataclass
class EventChunk:
    """Canonical rows (``frame``, with their source ``labels``) and the records ``rejected`` in one chunk."""

    frame: pd.DataFrame
    labels: np.ndarray
    rejected: pd.DataFrame


@dataclass
class Tally:
    """The load report of a trace export, kept across chunks."""

    what: str
    spans: int = 0
    spans_by_kind: Counter = field(default_factory=Counter)
    other_kinds: Counter = field(default_factory=Counter)
    unused: Counter = field(default_factory=Counter)
    unused_traces: dict[str, list[str]] = field(default_factory=dict)
    eval_unattached: int = 0
    eval_attached: int = 0
    model_from_request: int = 0
    unplaced: Counter = field(default_factory=Counter)
    reader_warnings: list[str] = field(default_factory=list)
    extra_warnings: list[str] = field(default_factory=list)
    reader_warnings_dropped: int = 0
    loaded: int = 0
    rejected: int = 0
    chunks: int = 0
    traces: int = 0
    late_spans: int = 0
    late_traces: int = 0

    def add_reader_warnings(self, warnings: Iterable[str]) -> None:
        for w in warnings:
            if len(self.reader_warnings) < _MAX_READER_WARNINGS:
                self.reader_warnings.append(w)
            else:
                self.reader_warnings_dropped += 1

    def absorb(self, asm: Assembled, n_spans: int) -> None:
        self.spans += n_spans
        self.spans_by_kind.update(asm.spans_by_kind)
        self.other_kinds.update(asm.other_kinds)
        self.unused.update(asm.unused)
        for r, t in asm.unused_traces.items():
            kept = self.unused_traces.setdefault(r, [])
            kept += [x for x in t if x not in kept][: max(0, 4 - len(kept))]
        self.eval_unattached += asm.eval_unattached
        self.eval_attached += asm.eval_attached

    @property
    def rows_read(self) -> int:
        return self.loaded + self.rejected

    def kinds_text(self) -> str:
        return ", ".join(f"{v} {k}" for k, v in sorted(self.other_kinds.items(), key=lambda x: -x[1]))

    def read_line(self) -> str:
        used = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(self.spans_by_kind.items()))
        others = f" (not inference {self.what}s: {self.kinds_text()})" if self.other_kinds else ""
        return f"read {self.spans} {self.what}s in {self.traces} trace(s): {used}{others}"

    def warnings(self) -> list[str]:
        """The report's warnings, the read line first (the mapping's are added by the caller)."""
        out = [self.read_line(), *self.reader_warnings]
        if self.reader_warnings_dropped:
            out.append(f"... and {self.reader_warnings_dropped} more warning(s) of the reader")
        out += self.extra_warnings
        if self.model_from_request:
            out.append(f"{self.model_from_request} inference or embedding span(s) have no gen_ai.response.model: their model_version is the requested model")
        out += assembly_warnings(dict(self.unused), self.unused_traces, self.eval_unattached, self.eval_attached)
        if self.late_spans:
            out.append(f"{self.late_spans} span(s) of {self.late_traces} trace(s) came more than {self._window} spans after the rest of their "
                       "trace and were assembled on their own (retrieval, embedding and ancestor folding may be incomplete for them)")
        if self.unplaced:
            n = sum(self.unplaced.values())
            text = "; ".join(f"{c} x {k}" for k, c in sorted(self.unplaced.items(), key=lambda x: -x[1])[:5])
            out.append(f"{n} {self.what}(s) cannot become events: {text}")
        return out

    _window: int = DEFAULT_WINDOW


def _missing(v: object) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip())


def unplaceable_reason(event_id: object, ts: object, what: str) -> str | None:
    """Why a record cannot become an event (no start time, no id), or None."""
    if _missing(ts):
        ids = "; it has no id either (ids and times were stripped?)" if _missing(event_id) else ""
        return f"ts: required value is missing: this {what} has no start time and cannot be placed on a timeline{ids}"
    if _missing(event_id):
        return f"event_id: required value is missing: this {what} has no id, so it cannot be told apart from the others"
    return None


def _raw(x: Any) -> str:
    return x() if callable(x) else x


def records_to_chunk(records: list[dict[str, Any]], labels: list[int], raws: list[Any], bad: list[tuple[int, str, str]], *,
                     source: str, assume_tz: str | None, mapping: MappingState, tally: Tally) -> EventChunk:
    """Event records (plus unparseable records) -> mapped, coerced canonical rows and rejected records."""
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame({"event_id": [], "ts": []})
    frame = mapping.apply(frame)
    ids = frame["event_id"].tolist() if "event_id" in frame else [None] * len(frame)
    tss = frame["ts"].tolist() if "ts" in frame else [None] * len(frame)
    reasons = [unplaceable_reason(e, t, tally.what) for e, t in zip(ids, tss)]
    bad = list(bad)
    if any(r is not None for r in reasons):
        keep = [r is None for r in reasons]
        for i, r in enumerate(reasons):
            if r is not None:
                bad.append((labels[i], r, _raw(raws[i])))
                tally.unplaced[r.split(": ", 1)[-1]] += 1
        frame = frame.loc[keep].reset_index(drop=True)
        labels = [x for x, k in zip(labels, keep) if k]
        raws = [x for x, k in zip(raws, keep) if k]
    if len(frame):
        res = coerce_rows(frame, EVENTS, source=source, assume_tz=assume_tz, row_labels=labels,
                          raw_text=lambda i: _raw(raws[i]), dedupe=False)
        out, kept, rej = res.frame, np.asarray(res.kept_labels, dtype=np.int64), res.rejected
    else:
        out, kept, rej = frame, np.zeros(0, dtype=np.int64), rejected_frame()
    parts = [rejected_frame([b[0] for b in bad], [b[1] for b in bad], [b[2] for b in bad])] if bad else []
    if len(rej):
        parts.append(rej)
    rejected = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0] if parts else rejected_frame()
    tally.loaded += len(out)
    tally.rejected += len(rejected)
    tally.chunks += 1
    return EventChunk(out, kept, rejected)


def _assemble_chunk(spans: list[Span], extra: dict[str, dict[str, Any]], bad: list[tuple[int, str, str]], *, source: str,
                    assume_tz: str | None, mapping: MappingState, tally: Tally,
                    post: Callable[[Assembled], None] | None) -> EventChunk:
    asm = assemble(spans, mapping_sources=mapping.mapping.sources)
    tally.absorb(asm, len(spans))
    if post is not None:
        post(asm)
    for rec in asm.records:
        if rec.pop("_model_from_request", False):
            tally.model_from_request += 1
        cols = extra.pop(str(rec.get("event_id")), None) if extra else None
        if cols:
            for k, v in cols.items():
                rec.setdefault(k, v)
    return records_to_chunk(asm.records, asm.labels, asm.raws, bad, source=source, assume_tz=assume_tz, mapping=mapping, tally=tally)


def event_chunks(batches: Iterable[SpanBatch], *, source: str, assume_tz: str | None, mapping: MappingState, tally: Tally,
                 window: int = DEFAULT_WINDOW, post: Callable[[Assembled], None] | None = None) -> Iterator[EventChunk]:
    """Events of the spans of ``batches``, whole traces at a time, at most about ``window`` spans held.

    ``post`` sees each assembled group before it is coerced (Langfuse attaches its scores there).
    """
    win = TraceWindow(window)
    tally._window = window
    extra: dict[str, dict[str, Any]] = {}
    bad: list[tuple[int, str, str]] = []
    for b in batches:
        tally.add_reader_warnings(b.warnings)
        extra.update(b.extra)
        bad += b.bad
        ready = win.add(b.spans)
        if ready or len(bad) >= DEFAULT_BATCH_SPANS:
            yield _assemble_chunk(ready, extra, bad, source=source, assume_tz=assume_tz, mapping=mapping, tally=tally, post=post)
            bad = []
    rest = win.drain()
    tally.traces, tally.late_spans, tally.late_traces = win.traces, win.late_spans, len(win.late_traces)
    if rest or bad or tally.chunks == 0:
        yield _assemble_chunk(rest, extra, bad, source=source, assume_tz=assume_tz, mapping=mapping, tally=tally, post=post)
