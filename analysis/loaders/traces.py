"""Trace formats (OTLP, Phoenix, Langfuse) -> events, with the load report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..schema import EVENTS, coerce_rows, rejected_frame
from ._spans import Span, assemble
from .langfuse import attach_scores, read_langfuse
from .mapping import MappingState
from .openinference import dialect_for, spans_from_phoenix
from .detect import data_files
from .otlp import otlp_file_records, spans_from_otlp
from .result import LoadError, LoadResult, file_sha256

__all__ = ["load_trace_format", "dialect_for"]


def _otlp_spans(path: Path) -> tuple[list[Span], list[tuple[int, str, str]], list[str]]:
    """Spans of an OTLP file, or of every file of a folder (the S3 exporter's layout)."""
    if not path.is_dir():
        return _otlp_file_spans(path, "")
    spans: list[Span] = []
    bad: list[tuple[int, str, str]] = []
    warnings: list[str] = []
    files = [f for f in data_files(path) if f.stat().st_size > 0]
    for f in files:
        s, b, w = _otlp_file_spans(f, f"{f.relative_to(path)}: ")
        spans += s
        bad += b
        warnings += w
    warnings.insert(0, f"read {len(files)} file(s) under the folder")
    return spans, bad, warnings


def _otlp_file_spans(path: Path, label: str) -> tuple[list[Span], list[tuple[int, str, str]], list[str]]:
    recs, warnings = otlp_file_records(path)
    warnings = [label + w for w in warnings]
    spans: list[Span] = []
    bad: list[tuple[int, str, str]] = []
    for r in recs:
        if r.error is not None:
            lost = "" if "lost" in r.error else " (the spans in this record are lost)"
            bad.append((r.line, label + r.error + lost, r.raw))
            continue
        s, problems = spans_from_otlp(r.value, r.line, dialect_for)
        if not s and problems:
            bad.append((r.line, label + "; ".join(problems[:3]), r.raw[:2000]))
        elif problems:
            warnings.append(f"{label}line {r.line}: " + "; ".join(problems[:3]))
        spans += s
    return spans, bad, warnings


#: What one record of each format is called in the load report.
RECORD_NAMES = {"otlp": "span", "oteljs": "span", "phoenix": "span", "langfuse": "observation", "openai": "response"}


def _missing(v: object) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip())


def _unplaceable_reason(event_id: object, ts: object, what: str) -> str | None:
    """Why a record cannot become an event (no start time, no id), or None."""
    if _missing(ts):
        ids = f"; it has no id either (ids and times were stripped?)" if _missing(event_id) else ""
        return f"ts: required value is missing: this {what} has no start time and cannot be placed on a timeline{ids}"
    if _missing(event_id):
        return f"event_id: required value is missing: this {what} has no id, so it cannot be told apart from the others"
    return None


def split_unplaceable(frame: pd.DataFrame, labels: list[int], raws: list[str], what: str) -> tuple[pd.DataFrame, list[int], list[str], list[tuple[int, str, str]]]:
    """The records that can be placed on a timeline, and the others as rejected ``(row, reason, raw)``."""
    if not len(frame):
        return frame, labels, raws, []
    ids = frame["event_id"].tolist() if "event_id" in frame else [None] * len(frame)
    tss = frame["ts"].tolist() if "ts" in frame else [None] * len(frame)
    reasons = [_unplaceable_reason(e, t, what) for e, t in zip(ids, tss)]
    bad = [(labels[i], r, raws[i]) for i, r in enumerate(reasons) if r is not None]
    if not bad:
        return frame, labels, raws, []
    keep = [r is None for r in reasons]
    kept = frame.loc[keep].reset_index(drop=True)
    return kept, [x for x, k in zip(labels, keep) if k], [x for x, k in zip(raws, keep) if k], bad


def _kinds_text(spans: list[Span], roles_other: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in sorted(roles_other.items(), key=lambda x: -x[1]))


def load_trace_format(path: Path, fmt: str, *, assume_tz: str | None, mapping: MappingState, chunksize: int,
                      batch_input: Path | None = None) -> LoadResult:
    """Read a trace export into the events table with its load report.

    Every record the format defines (span, observation, response line) is counted: an inference
    record becomes an event or a rejected row with its reason (no start time, no id, a value that
    does not parse); the others are counted by kind in ``spans_by_kind`` and the first warning.
    """
    source = str(path)
    what = RECORD_NAMES.get(fmt, "record")
    if fmt == "openai":
        from .openai_batch import read_openai

        rd = read_openai(path, batch_input)
        records, labels, raws, bad, warnings, spans_by_kind = rd.records, rd.labels, rd.raws, list(rd.bad), list(rd.warnings), dict(rd.counts)
        read_line = f"read {rd.lines} line(s): " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(spans_by_kind.items()))
    else:
        spans, bad, warnings, scores = _read_spans(path, fmt)
        if fmt == "langfuse":
            assume_tz = assume_tz or "UTC"  # Langfuse timestamps without an offset are UTC
        asm = assemble(spans, mapping_sources=mapping.mapping.sources)
        spans_by_kind = dict(asm.spans_by_kind)
        warnings = list(warnings)
        if fmt == "langfuse":
            counts, w = attach_scores(asm.records, scores)
            spans_by_kind.update({k: v for k, v in counts.items() if v})
            warnings += w
        n_req = sum(1 for r in asm.records if r.pop("_model_from_request", False))
        if n_req:
            warnings.append(f"{n_req} inference span(s) have no gen_ai.response.model: their model_version is the requested model")
        if not asm.records and not bad:
            kinds = ", ".join(f"{k}: {v}" for k, v in sorted(spans_by_kind.items())) or "no spans"
            others = f" ({_kinds_text(spans, asm.other_kinds)})" if asm.other_kinds else ""
            raise LoadError(
                f"holds no inference {what} to make events from ({kinds}{others}). Inference spans are OTel GenAI spans with "
                "gen_ai.operation.name chat/text_completion/generate_content, OpenInference LLM spans, Vercel AI SDK "
                "doGenerate/doStream spans, or Langfuse GENERATION observations.",
                source=source,
            )
        n_traces = len({s.trace_id for s in spans})
        used = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(spans_by_kind.items()))
        others = f" (not inference {what}s: {_kinds_text(spans, asm.other_kinds)})" if asm.other_kinds else ""
        read_line = f"read {len(spans)} {what}s in {n_traces} trace(s): {used}{others}"
        records, labels, raws = asm.records, asm.labels, asm.raws
        warnings += asm.warnings
    warnings.insert(0, read_line)
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame({"event_id": [], "ts": []})
    frame = mapping.apply(frame)
    frame, labels, raws, unplaced = split_unplaceable(frame, list(labels), list(raws), what)
    bad = list(bad) + unplaced
    res = coerce_rows(frame, EVENTS, source=source, assume_tz=assume_tz, row_labels=labels or None, raw_text=raws, dedupe=True)
    parts = [rejected_frame([b[0] for b in bad], [b[1] for b in bad], [b[2] for b in bad])] if bad else []
    if len(res.rejected):
        parts.append(res.rejected)
    rejected = pd.concat(parts, ignore_index=True).sort_values("row", kind="stable").reset_index(drop=True) if parts else rejected_frame()
    dups = sum("duplicate of" in str(x) for x in res.rejected["reason"]) if len(res.rejected) else 0
    if dups:
        warnings.append(f"{dups} {what}(s) repeat an earlier id: kept once, the repeats are in `rejected`")
    if unplaced:
        warnings.append(f"{len(unplaced)} {what}(s) cannot become events: " + _reason_summary([b[1] for b in unplaced]))
    warnings += mapping.warnings()
    return LoadResult(
        frame=res.frame,
        rows_read=len(res.frame) + len(rejected),
        rows_loaded=len(res.frame),
        rejected=rejected,
        warnings=warnings,
        source=source,
        format=fmt,
        sha256=file_sha256(path),
        spans_by_kind=spans_by_kind,
    )


def _reason_summary(reasons: list[str]) -> str:
    counts: dict[str, int] = {}
    for r in reasons:
        key = r.split(": ", 1)[-1]
        counts[key] = counts.get(key, 0) + 1
    return "; ".join(f"{n} x {k}" for k, n in sorted(counts.items(), key=lambda x: -x[1])[:5])


def _read_spans(path: Path, fmt: str) -> tuple[list[Span], list[tuple[int, str, str]], list[str], list[dict]]:
    if fmt == "otlp":
        return (*_otlp_spans(path), [])
    if fmt == "oteljs":
        from .oteljs import spans_from_oteljs

        return (*spans_from_oteljs(path), [])
    if fmt == "phoenix":
        return (*spans_from_phoenix(path), [])
    if fmt == "langfuse":
        return read_langfuse(path)
    raise LoadError(f"not a trace format: {fmt!r}", source=str(path))  # pragma: no cover - guarded by the caller
