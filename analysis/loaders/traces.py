"""Trace formats (OTLP, Phoenix, Langfuse) -> events, with the load report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..schema import EVENTS, coerce_rows, rejected_frame
from ._jsonio import read_json_records
from ._spans import Span, assemble
from .langfuse import attach_scores, read_langfuse
from .mapping import MappingState
from .openinference import dialect_for, spans_from_phoenix
from .otlp import spans_from_otlp
from .result import LoadError, LoadResult, file_sha256

__all__ = ["load_trace_format", "dialect_for"]


def _otlp_spans(path: Path) -> tuple[list[Span], list[tuple[int, str, str]], list[str]]:
    recs, warnings = read_json_records(path)
    spans: list[Span] = []
    bad: list[tuple[int, str, str]] = []
    for r in recs:
        if r.error is not None:
            bad.append((r.line, r.error + " (the spans in this record are lost)", r.raw))
            continue
        s, problems = spans_from_otlp(r.value, r.line, dialect_for)
        if not s and problems:
            bad.append((r.line, "; ".join(problems[:3]), r.raw[:2000]))
        elif problems:
            warnings.append(f"line {r.line}: " + "; ".join(problems[:3]))
        spans += s
    return spans, bad, warnings


def load_trace_format(path: Path, fmt: str, *, assume_tz: str | None, mapping: MappingState, chunksize: int) -> LoadResult:
    source = str(path)
    scores: list[dict] = []
    if fmt == "otlp":
        spans, bad, warnings = _otlp_spans(path)
    elif fmt == "phoenix":
        spans, bad, warnings = spans_from_phoenix(path)
    elif fmt == "langfuse":
        spans, bad, warnings, scores = read_langfuse(path)
        assume_tz = assume_tz or "UTC"  # Langfuse timestamps without an offset are UTC
    else:  # pragma: no cover
        raise LoadError(f"not a trace format: {fmt!r}", source=source)
    asm = assemble(spans, mapping_sources=mapping.mapping.sources)
    spans_by_kind = dict(asm.spans_by_kind)
    warnings = list(warnings)
    if fmt == "langfuse":
        counts, w = attach_scores(asm.records, scores)
        spans_by_kind.update({k: v for k, v in counts.items() if v})
        warnings += w
    n_req = 0
    for r in asm.records:
        if r.pop("_model_from_request", False):
            n_req += 1
    if n_req:
        warnings.append(f"{n_req} inference span(s) have no gen_ai.response.model: their model_version is the requested model")
    if not asm.records and not bad:
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(spans_by_kind.items())) or "no spans"
        raise LoadError(
            f"holds no inference span to make events from ({kinds}). Inference spans are OTel GenAI spans with "
            "gen_ai.operation.name chat/text_completion/generate_content, OpenInference LLM spans, or Langfuse "
            "GENERATION observations.",
            source=source,
        )
    n_traces = len({s.trace_id for s in spans})
    what = "observations" if fmt == "langfuse" else "spans"
    used = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(spans_by_kind.items()))
    warnings.insert(0, f"read {len(spans)} {what} in {n_traces} trace(s): {used}")
    frame = pd.DataFrame.from_records(asm.records) if asm.records else pd.DataFrame({"event_id": [], "ts": []})
    frame = mapping.apply(frame)
    res = coerce_rows(frame, EVENTS, source=source, assume_tz=assume_tz, row_labels=asm.labels or None, raw_text=asm.raws, dedupe=True)
    parts = [rejected_frame([b[0] for b in bad], [b[1] for b in bad], [b[2] for b in bad])] if bad else []
    if len(res.rejected):
        parts.append(res.rejected)
    rejected = pd.concat(parts, ignore_index=True).sort_values("row", kind="stable").reset_index(drop=True) if parts else rejected_frame()
    dups = sum("duplicate of" in str(x) for x in res.rejected["reason"]) if len(res.rejected) else 0
    if dups:
        warnings.append(f"{dups} span(s) repeat an earlier span id: kept once, the repeats are in `rejected`")
    warnings += asm.warnings + mapping.warnings()
    return LoadResult(
        frame=res.frame,
        rows_read=len(asm.records) + len(bad),
        rows_loaded=len(res.frame),
        rejected=rejected,
        warnings=warnings,
        source=source,
        format=fmt,
        sha256=file_sha256(path),
        spans_by_kind=spans_by_kind,
    )
