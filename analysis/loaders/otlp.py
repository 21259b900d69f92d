"""OTLP JSON traces with the OpenTelemetry GenAI semantic conventions.

Layouts: the collector file exporter's JSON Lines of ``TracesData``, one
``ExportTraceServiceRequest`` document, ``TracesData`` or bare ``ResourceSpans`` written back to
back (pretty-printed or not, in a ``.json`` or ``.jsonl`` file), or a JSON array of any of these.
Encodings: ids as lowercase hex (the OTLP/JSON mapping) or base64 (protobuf's generic JSON
mapping); ``intValue`` and nanosecond timestamps as strings or numbers; ``kind``/``status.code``
as integers or enum names; camelCase or snake_case field names. Spans carrying
``openinference.span.kind`` are read with the OpenInference dialect (:mod:`.openinference`), the
others with the GenAI dialect below.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import pandas as pd
import pyarrow as pa

from ._jsonio import JsonRecord, iter_json_records, read_bytes, read_head
from ._messages import document_text, first_output_text, last_user_text, maybe_json
from ._spans import EMBEDDING, INFERENCE, OTHER, RETRIEVAL, Dialect, Span, SpanEvent, first_value, jsonable

__all__ = ["spans_from_otlp", "GenAIDialect", "GENAI", "any_value", "norm_id", "iter_otlp_records"]

_HEX = re.compile(r"^[0-9a-fA-F]+$")
_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS = {0: "unset", 1: "ok", 2: "error"}


def _g(d: dict[str, Any], camel: str, snake: str | None = None, default: Any = None) -> Any:
    if camel in d:
        return d[camel]
    if snake is None:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()
    return d.get(snake, default)


def any_value(v: Any) -> Any:
    """An OTLP ``AnyValue`` as a Python value."""
    if not isinstance(v, dict):
        return v
    if not v:
        return None
    for k, conv in (("stringValue", str), ("string_value", str)):
        if k in v:
            return conv(v[k])
    for k in ("boolValue", "bool_value"):
        if k in v:
            b = v[k]
            return b if isinstance(b, bool) else str(b).lower() == "true"
    for k in ("intValue", "int_value"):
        if k in v:
            try:
                return int(v[k])
            except (TypeError, ValueError):
                return v[k]
    for k in ("doubleValue", "double_value"):
        if k in v:
            try:
                return float(v[k])
            except (TypeError, ValueError):
                return v[k]
    for k in ("arrayValue", "array_value"):
        if k in v:
            return [any_value(x) for x in (v[k] or {}).get("values", [])]
    for k in ("kvlistValue", "kvlist_value"):
        if k in v:
            return attributes((v[k] or {}).get("values", []))
    for k in ("bytesValue", "bytes_value"):
        if k in v:
            return v[k]
    return None


def attributes(items: Any) -> dict[str, Any]:
    if isinstance(items, dict):  # some writers emit a plain object
        return dict(items)
    out: dict[str, Any] = {}
    for kv in items or []:
        if isinstance(kv, dict) and "key" in kv:
            out[str(kv["key"])] = any_value(kv.get("value"))
    return out


def norm_id(v: Any, nbytes: int) -> str | None:
    """Trace/span id as lowercase hex, from hex or base64; None when absent or all zeros."""
    if v is None or v == "":
        return None
    s = str(v).strip()
    if len(s) == 2 * nbytes and _HEX.match(s):
        h = s.lower()
    else:
        try:
            raw = base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == nbytes:
            h = raw.hex()
        elif _HEX.match(s):
            h = s.lower()
        else:
            return s
    return None if set(h) == {"0"} else h


def _ns(v: Any) -> int | None:
    if v is None or v == "":
        return None
    try:
        n = int(v)
    except (TypeError, ValueError):
        try:
            n = int(float(v))
        except (TypeError, ValueError):
            return None
    return n if n > 0 else None


def _enum(v: Any, table: dict[int, str], prefix: str) -> str | None:
    if v is None:
        return None
    if isinstance(v, int):
        return table.get(v, str(v))
    s = str(v)
    if s.isdigit():
        return table.get(int(s), s)
    return s.removeprefix(prefix).lower()


def _is_bare_span(d: dict[str, Any]) -> bool:
    keys = ("startTimeUnixNano", "start_time_unix_nano", "spanId", "span_id", "traceId", "trace_id", "attributes", "kind", "status")
    return "name" in d and any(k in d for k in keys) and not any(k in d for k in ("spans", "scope"))


def resource_spans_of(value: dict[str, Any]) -> list[Any] | None:
    """The ``ResourceSpans`` list of any OTLP JSON fragment, or None when it is not one.

    Accepted: ``TracesData``/``ExportTraceServiceRequest`` (``resourceSpans``), a bare
    ``ResourceSpans`` (``scopeSpans``), a bare ``ScopeSpans`` (``scope`` + ``spans``), a bare
    ``Span``, and Phoenix's ``otlpv1`` pages (``{"data": [spans], "next_cursor": ...}``).
    """
    if "resourceSpans" in value or "resource_spans" in value:
        rss = _g(value, "resourceSpans", "resource_spans")
        return rss if isinstance(rss, list) else []
    if any(k in value for k in ("scopeSpans", "scope_spans", "instrumentationLibrarySpans")):
        return [value]
    if isinstance(value.get("spans"), list):
        return [{"scopeSpans": [value]}]
    if isinstance(value.get("data"), list) and all(isinstance(x, dict) and _is_bare_span(x) for x in value["data"]):
        return [{"scopeSpans": [{"spans": value["data"]}]}]
    if _is_bare_span(value):
        return [{"scopeSpans": [{"spans": [value]}]}]
    return None


def spans_from_otlp(value: Any, row: int, dialect_for: Any) -> tuple[list[Span], list[str]]:
    """Spans in one top-level JSON value; plus problems found (as reasons)."""
    problems: list[str] = []
    if isinstance(value, list):
        out: list[Span] = []
        for v in value:
            s, p = spans_from_otlp(v, row, dialect_for)
            out += s
            problems += p
        return out, problems
    if not isinstance(value, dict):
        return [], [f"not an OTLP object: expected {{\"resourceSpans\": [...]}} or a span, got {type(value).__name__}"]
    rss = resource_spans_of(value)
    if rss is None:
        keys = ", ".join(list(value)[:8])
        return [], [f"not an OTLP object: no resourceSpans, scopeSpans or span fields (keys: {keys})"]
    spans: list[Span] = []
    for rs in rss if isinstance(rss, list) else []:
        if not isinstance(rs, dict):
            continue
        resource = attributes((rs.get("resource") or {}).get("attributes"))
        scopes = _g(rs, "scopeSpans", "scope_spans") or rs.get("instrumentationLibrarySpans") or []
        for ss in scopes:
            if not isinstance(ss, dict):
                continue
            scope = ss.get("scope") or ss.get("instrumentationLibrary") or {}
            for sp in ss.get("spans") or []:
                if not isinstance(sp, dict):
                    problems.append(f"span is not an object: {str(sp)[:80]}")
                    continue
                attrs = attributes(sp.get("attributes"))
                status = sp.get("status") or {}
                events = [
                    SpanEvent(str(e.get("name")), _ns(_g(e, "timeUnixNano")), attributes(e.get("attributes")))
                    for e in sp.get("events") or []
                    if isinstance(e, dict)
                ]
                span = Span(
                    trace_id=norm_id(_g(sp, "traceId"), 16),
                    span_id=norm_id(_g(sp, "spanId"), 8),
                    parent_id=norm_id(_g(sp, "parentSpanId"), 8),
                    name=sp.get("name"),
                    start_ns=_ns(_g(sp, "startTimeUnixNano")),
                    end_ns=_ns(_g(sp, "endTimeUnixNano")),
                    attrs=attrs,
                    row=row,
                    source=sp,
                    kind=_enum(sp.get("kind"), _KINDS, "SPAN_KIND_"),
                    events=events,
                    status=_enum(status.get("code"), _STATUS, "STATUS_CODE_") or "unset",
                    status_message=status.get("message") or None,
                    resource=resource,
                    scope=scope.get("name") if isinstance(scope, dict) else None,
                )
                span.dialect = dialect_for(span)
                spans.append(span)
    return spans, problems


# --------------------------------------------------------------------------------------------
# GenAI semantic conventions
# --------------------------------------------------------------------------------------------

_INFERENCE_OPS = {"chat", "text_completion", "generate_content", "completion"}
# OpenLLMetry (traceloop-sdk) writes the app's association properties on every span in their context
_ASSOC = "traceloop.association.properties."
_SESSION_KEYS = ("gen_ai.conversation.id", "session.id", _ASSOC + "session_id")
_USER_KEYS = ("user.id", "enduser.id", _ASSOC + "user_id")
# the older OpenLLMetry instrumentations write gen_ai.openai.system_fingerprint
_FINGERPRINT_KEYS = ("openai.response.system_fingerprint", "gen_ai.openai.response.system_fingerprint",
                     "gen_ai.openai.system_fingerprint")
# Attributes whose meaning is used below (not kept again as extra columns).
_GENAI_USED = {
    "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system", "gen_ai.request.model",
    "gen_ai.response.model", "gen_ai.request.temperature", "gen_ai.request.top_p", "gen_ai.request.top_k",
    "gen_ai.request.max_tokens", "gen_ai.request.seed", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
    "gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens", "gen_ai.response.finish_reasons",
    "error.type", *_SESSION_KEYS, *_USER_KEYS, *_FINGERPRINT_KEYS,
}
# Content (may hold personal data): read into input_text/output_text, never kept as columns.
_CONTENT = re.compile(
    r"^(gen_ai\.(input|output)\.messages|gen_ai\.system_instructions|gen_ai\.(prompt|completion)(\.\d+\..*)?"
    r"|gen_ai\.tool\.definitions|gen_ai\.retrieval\.(documents|query\.text))$"
)


def _indexed_messages(a: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """``gen_ai.prompt.0.role``/``.content`` style attributes as a list of messages."""
    msgs: dict[int, dict[str, Any]] = {}
    pat = re.compile(rf"^{re.escape(prefix)}\.(\d+)\.(\w+)$")
    for k, v in a.items():
        m = pat.match(k)
        if m:
            msgs.setdefault(int(m.group(1)), {})[m.group(2)] = v
    return [msgs[i] for i in sorted(msgs)]


def exception_type(span: Span) -> str | None:
    for ev in span.events:
        if ev.name == "exception" and ev.attrs.get("exception.type"):
            return str(ev.attrs["exception.type"])
    return None


def base_fields(span: Span) -> dict[str, Any]:
    """Columns every span-based event has: ids, times, status, resource attributes."""
    rec: dict[str, Any] = {
        "event_id": span.span_id,
        "trace_id": span.trace_id,
        "ts": span.start if span.start is not None else (
            None if span.start_ns is None else _ts_text(span.start_ns)
        ),
        "latency_ms": (span.end_ns - span.start_ns) / 1e6 if span.start_ns and span.end_ns else None,
        "status": span.status,
        "span.name": span.name,
    }
    for k, v in span.resource.items():
        rec.setdefault(k, jsonable(v))
    return rec


def _ts_text(ns: int) -> str:
    return pd.Timestamp(ns, unit="ns", tz="UTC").isoformat()


class GenAIDialect(Dialect):
    name = "genai"

    def role(self, span: Span) -> str:
        a = span.attrs
        op = a.get("gen_ai.operation.name")
        if op is not None:
            op = str(op).lower()
            if op in _INFERENCE_OPS:
                return INFERENCE
            if op == "retrieval":
                return RETRIEVAL
            if op in ("embeddings", "embedding"):
                return EMBEDDING
            return OTHER
        # Older instrumentations set no operation name, only the model and the system.
        req_type = str(a.get("llm.request.type", "")).lower()
        if req_type in ("chat", "completion"):
            return INFERENCE
        if req_type == "embedding":
            return EMBEDDING
        if a.get("gen_ai.request.model") or a.get("gen_ai.response.model"):
            return INFERENCE
        return OTHER

    def fields(self, span: Span) -> dict[str, Any]:
        a = span.attrs
        rec = base_fields(span)
        fr = a.get("gen_ai.response.finish_reasons")
        if isinstance(fr, list):
            fr = ",".join(str(x) for x in fr) or None
        rec.update(
            {
                "model_version": first_value(a, "gen_ai.response.model"),
                "model_requested": first_value(a, "gen_ai.request.model"),
                "provider": first_value(a, "gen_ai.provider.name", "gen_ai.system"),
                "upstream_fingerprint": first_value(a, *_FINGERPRINT_KEYS),
                "temperature": a.get("gen_ai.request.temperature"),
                "top_p": a.get("gen_ai.request.top_p"),
                "top_k": a.get("gen_ai.request.top_k"),
                "max_tokens": a.get("gen_ai.request.max_tokens"),
                "seed": a.get("gen_ai.request.seed"),
                "input_tokens": first_value(a, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
                "output_tokens": first_value(a, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
                "finish_reason": fr,
                "session_id": first_value(a, *_SESSION_KEYS),
                "user_id": first_value(a, *_USER_KEYS),
                "error_type": first_value(a, "error.type") or (exception_type(span) if span.status == "error" else None),
                "input_text": self._input_text(span),
                "output_text": self._output_text(span),
            }
        )
        if rec["model_version"] is None and rec["model_requested"] is not None:
            rec["model_version"] = rec["model_requested"]
            rec["_model_from_request"] = True
        if rec["finish_reason"] is None:
            outs = _indexed_messages(a, "gen_ai.completion")
            frs = [str(m["finish_reason"]) for m in outs if m.get("finish_reason")]
            rec["finish_reason"] = ",".join(frs) or None
        for k, v in a.items():
            if k in _GENAI_USED or _CONTENT.match(k) or k in rec:
                continue
            rec[k] = jsonable(v)
        return rec

    def _input_text(self, span: Span) -> str | None:
        a = span.attrs
        if a.get("gen_ai.input.messages") is not None:
            return last_user_text(a["gen_ai.input.messages"])
        msgs = _indexed_messages(a, "gen_ai.prompt")
        if msgs:
            return last_user_text(msgs)
        for ev in reversed(span.events):
            if ev.name == "gen_ai.user.message":
                return last_user_text(ev.attrs.get("content", ev.attrs.get("gen_ai.event.content")))
            if ev.name == "gen_ai.content.prompt" and "gen_ai.prompt" in ev.attrs:
                return last_user_text(ev.attrs["gen_ai.prompt"])
        return None

    def _output_text(self, span: Span) -> str | None:
        a = span.attrs
        if a.get("gen_ai.output.messages") is not None:
            return first_output_text(a["gen_ai.output.messages"])
        msgs = _indexed_messages(a, "gen_ai.completion")
        if msgs:
            return first_output_text(msgs)
        for ev in span.events:
            if ev.name == "gen_ai.choice":
                m = maybe_json(ev.attrs.get("message"))
                if m is not None:
                    return first_output_text(m)
                if "message.content" in ev.attrs:
                    return str(ev.attrs["message.content"])
            if ev.name == "gen_ai.content.completion" and "gen_ai.completion" in ev.attrs:
                return first_output_text(ev.attrs["gen_ai.completion"])
        return None

    def retrieval_docs(self, span: Span) -> list[tuple[Any, Any, Any]]:
        docs = maybe_json(span.attrs.get("gen_ai.retrieval.documents"))
        out: list[tuple[Any, Any, Any]] = []
        if isinstance(docs, list):
            for d in docs:
                d = maybe_json(d)
                if isinstance(d, dict):
                    out.append((d.get("id"), d.get("score"), document_text(d)))
        return out

    def embedding_model(self, span: Span) -> str | None:
        if self.role(span) == EMBEDDING:
            return first_value(span.attrs, "gen_ai.response.model", "gen_ai.request.model")
        return None

    def inherited(self, span: Span) -> dict[str, Any]:
        a = span.attrs
        return {"session_id": first_value(a, *_SESSION_KEYS), "user_id": first_value(a, *_USER_KEYS)}


GENAI = GenAIDialect()


# --------------------------------------------------------------------------------------------
# Files: JSON, the collector's length-prefixed protobuf, compressed, or a folder of them
# --------------------------------------------------------------------------------------------

_ZSTD = b"\x28\xb5\x2f\xfd"
_GZIP = b"\x1f\x8b"


def _decompress(data: bytes) -> bytes:
    comp = "zstd" if data.startswith(_ZSTD) else "gzip" if data.startswith(_GZIP) else None
    if comp is None:
        return data
    return pa.input_stream(pa.BufferReader(data), compression=comp).read()


def is_framed_proto(data: bytes) -> bool:
    """True when ``data`` starts like the collector's proto files: a 4-byte big-endian length and a
    ``TracesData`` message (its field 1), a zstd frame or a JSON object."""
    if len(data) < 6 or data[0] >= 0x10:
        return False
    n = int.from_bytes(data[:4], "big")
    return n > 0 and (data[4] == 0x0A or data[4:8] == _ZSTD or data[4:5] == b"{")


def _proto_dict(msg: bytes) -> dict[str, Any]:
    # the OTLP protobuf classes are loaded only for the collector's proto files, the one format
    # that needs them
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

    td = TracesData()
    td.ParseFromString(msg)
    return MessageToDict(td)


def framed_records(data: bytes) -> list[Any]:
    """The messages of a length-prefixed file as :class:`JsonRecord` (``line`` = message number)."""
    from google.protobuf.message import DecodeError  # with the proto classes, only for proto files (see _proto_dict)

    out: list[JsonRecord] = []
    pos, k = 0, 0
    while pos < len(data):
        k += 1
        if len(data) - pos < 4:
            out.append(JsonRecord(k, error=f"truncated file: {len(data) - pos} byte(s) after message {k - 1} are not a length prefix"))
            break
        n = int.from_bytes(data[pos:pos + 4], "big")
        body = data[pos + 4:pos + 4 + n]
        if len(body) < n:
            out.append(JsonRecord(k, error=f"truncated file: message {k} at byte {pos} declares {n} bytes but only {len(body)} remain "
                                           "(the spans in this message are lost)", raw=f"<{len(body)} bytes of protobuf>"))
            break
        pos += 4 + n
        try:
            body = _decompress(body)
            if body[:1] == b"{":
                out.append(JsonRecord(k, json.loads(body), raw=body[:2000].decode("utf-8", "replace")))
            else:
                out.append(JsonRecord(k, _proto_dict(body), raw=f"<{n} bytes of protobuf>"))
        except (DecodeError, OSError, ValueError) as e:
            out.append(JsonRecord(k, error=f"message {k} at byte {pos - 4 - n} is not an OTLP TracesData message ({e}); "
                                           "the spans in this message are lost", raw=f"<{n} bytes>"))
    return out


def iter_otlp_records(path: Any) -> tuple[Any, list[str]]:
    """The top-level OTLP records of a file as an iterator, and the list its warnings go to.

    JSON Lines (the collector's file exporter), one document and documents back to back (a
    receiver's pretty-printed ``ResourceSpans`` or ``TracesData``) are parsed as they are read
    (:func:`iter_json_records`), so memory stays at one block, the document being parsed and the
    spans not yet handed on; the collector's framed protobuf files are read whole.
    """
    if is_framed_proto(read_head(path, 8)):
        return iter(framed_records(read_bytes(path))), []
    warnings: list[str] = []
    return iter_json_records(path, warnings), warnings
