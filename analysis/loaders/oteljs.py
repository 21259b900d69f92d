"""OpenTelemetry JS span dumps: the JS SDK's spans written with ``JSON.stringify``.

A dump is a JSON array of spans (or spans one per line, or ``{"spans": [...]}``):
``{name, spanContext | _spanContext: {traceId, spanId}, parentSpanId | parentSpanContext, kind,
attributes (a flat object), status: {code, message}, startTime, endTime, events, resource}``, with
times as hrtime pairs ``[seconds, nanoseconds]`` (epoch milliseconds and ISO strings are accepted
too). ``kind`` follows the JS enum (0 internal, 1 server, 2 client, 3 producer, 4 consumer). Spans
are read with the Vercel AI SDK dialect when they carry ``ai.*`` names, else GenAI or OpenInference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ._jsonio import read_json_records
from ._spans import Span, SpanEvent
from .openinference import dialect_for

__all__ = ["spans_from_oteljs", "hrtime_ns"]

_JS_KINDS = {0: "internal", 1: "server", 2: "client", 3: "producer", 4: "consumer"}
_STATUS = {0: "unset", 1: "ok", 2: "error"}


def hrtime_ns(v: Any) -> int | None:
    """Nanoseconds since the epoch of an hrtime pair, epoch milliseconds or an ISO string."""
    if isinstance(v, (list, tuple)) and len(v) == 2:
        try:
            n = int(v[0]) * 1_000_000_000 + int(v[1])
        except (TypeError, ValueError):
            return None
        return n if n > 0 else None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return int(round(v * 1000)) * 1000 if v > 0 else None  # whole microseconds: no float noise
    if isinstance(v, str) and v.strip():
        try:
            t = pd.Timestamp(v)
        except ValueError:
            return None
        return (t if t.tzinfo else t.tz_localize("UTC")).value
    return None


def _attrs(v: Any) -> dict[str, Any]:
    if isinstance(v, dict):
        inner = v.get("_attributes", v.get("attributes")) if ("_attributes" in v or isinstance(v.get("attributes"), dict)) else v
        return dict(inner) if isinstance(inner, dict) else {}
    return {}


def _span(d: dict[str, Any], row: int) -> Span:
    ctx = d.get("spanContext") or d.get("_spanContext") or {}
    parent = d.get("parentSpanId") or (d.get("parentSpanContext") or {}).get("spanId") or d.get("parentId")
    status = d.get("status") if isinstance(d.get("status"), dict) else {}
    code = status.get("code")
    kind = d.get("kind")
    scope = d.get("instrumentationScope") or d.get("instrumentationLibrary") or {}
    span = Span(
        trace_id=ctx.get("traceId") or d.get("traceId") or None,
        span_id=ctx.get("spanId") or d.get("spanId") or d.get("id") or None,
        parent_id=parent or None,
        name=d.get("name"),
        start_ns=hrtime_ns(d.get("startTime")),
        end_ns=hrtime_ns(d.get("endTime")),
        attrs=_attrs(d.get("attributes")),
        row=row,
        source=d,
        kind=_JS_KINDS.get(kind, str(kind).lower()) if kind is not None else None,
        events=[SpanEvent(str(e.get("name")), hrtime_ns(e.get("time")), _attrs(e.get("attributes"))) for e in d.get("events") or [] if isinstance(e, dict)],
        status=_STATUS.get(code, str(code).lower()) if code is not None else "unset",
        status_message=status.get("message") or None,
        resource=_attrs(d.get("resource")),
        scope=scope.get("name") if isinstance(scope, dict) else None,
    )
    span.dialect = dialect_for(span)
    return span


def spans_from_oteljs(path: Path) -> tuple[list[Span], list[tuple[int, str, str]], list[str]]:
    """Spans of an OTel-JS dump; plus unparseable records and warnings."""
    recs, warnings = read_json_records(path)
    spans: list[Span] = []
    bad: list[tuple[int, str, str]] = []
    for r in recs:
        if r.error is not None:
            bad.append((r.line, r.error + " (the spans in this record are lost)", r.raw[:2000]))
            continue
        v = r.value
        items = v.get("spans") if isinstance(v, dict) and isinstance(v.get("spans"), list) else v if isinstance(v, list) else [v]
        for k, d in enumerate(items):
            row = r.line if len(items) == 1 else k + 1  # a JSON array counts its spans
            if isinstance(d, dict) and "name" in d:
                spans.append(_span(d, row))
            else:
                bad.append((row, f"not an OTel-JS span: expected an object with name, spanContext, startTime, got {type(d).__name__}", str(d)[:2000]))
    return spans, bad, warnings
