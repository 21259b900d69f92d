"""OpenInference (Arize Phoenix): span attributes, and Phoenix's spans dataframe export.

OpenInference spans reach us two ways: as OTLP spans carrying ``openinference.span.kind``
(read by :mod:`.otlp`, which hands them to :data:`OPENINFERENCE`), or as the spans dataframe
that Phoenix exports (``px.Client().get_spans_dataframe()`` saved as Parquet or JSON Lines):
columns ``name``, ``span_kind``, ``parent_id``, ``start_time``, ``end_time``, ``status_code``,
``status_message``, ``events``, ``context.span_id``, ``context.trace_id`` and one
``attributes.<key>`` column per attribute, where list-valued conventions (``retrieval.documents``,
``llm.input_messages``) hold lists of dicts keyed ``document.score``, ``message.content`` etc.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._jsonio import read_json_records
from ._messages import content_text, finish_reason_of, first_output_text, last_user_text, maybe_json
from ._spans import EMBEDDING, INFERENCE, OTHER, RETRIEVAL, Dialect, Span, SpanEvent, first_value, jsonable, param_value
from .otlp import GENAI, base_fields, exception_type
from .stream import SpanBatch
from .vercel import VERCEL_AI, is_vercel_span

__all__ = ["OpenInferenceDialect", "OPENINFERENCE", "spans_from_phoenix", "phoenix_span", "flatten", "phoenix_frame_spans",
           "phoenix_limit_warnings"]

PHOENIX_DEFAULT_LIMIT = 1000

_OI_USED = {
    "openinference.span.kind", "llm.model_name", "llm.provider", "llm.system", "llm.invocation_parameters",
    "llm.token_count.prompt", "llm.token_count.completion", "llm.token_count.total", "llm.prompt_template.version",
    "session.id", "user.id", "metadata", "input.mime_type", "output.mime_type",
}
_OI_CONTENT = re.compile(
    r"^(llm\.(input|output)_messages\..*|input\.value|output\.value|llm\.prompt_template\.(template|variables)"
    r"|retrieval\.documents\..*|reranker\..*documents\..*|embedding\.embeddings\..*|llm\.tools\..*|llm\.prompts\..*"
    r"|llm\.token_count\.(prompt|completion)_details\..*)$"
)


def _indexed(a: dict[str, Any], prefix: str) -> dict[int, dict[str, Any]]:
    """``prefix.N.rest`` keys grouped by N: {N: {rest: value}}."""
    out: dict[int, dict[str, Any]] = {}
    p = prefix + "."
    for k, v in a.items():
        if k.startswith(p):
            n, _, rest = k[len(p):].partition(".")
            if n.isdigit():
                out.setdefault(int(n), {})[rest] = v
    return out


def _oi_messages(a: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    msgs = []
    for _, m in sorted(_indexed(a, prefix).items()):
        content = m.get("message.content")
        if content is None:
            parts = [v for k, v in sorted(m.items()) if k.startswith("message.contents.") and k.endswith("message_content.text")]
            content = "\n".join(str(p) for p in parts) if parts else None
        msgs.append({"role": m.get("message.role"), "content": content})
    return msgs


def _input_model(a: dict[str, Any]) -> Any:
    """The model named in a JSON ``input.value`` request body (error spans carry it only there)."""
    body = maybe_json(a.get("input.value"))
    return body.get("model") if isinstance(body, dict) else None


class OpenInferenceDialect(Dialect):
    name = "openinference"

    def role(self, span: Span) -> str:
        k = str(span.attrs.get("openinference.span.kind", "")).upper()
        return {"LLM": INFERENCE, "RETRIEVER": RETRIEVAL, "EMBEDDING": EMBEDDING}.get(k, OTHER)

    def fields(self, span: Span) -> dict[str, Any]:
        a = span.attrs
        rec = base_fields(span)
        params = maybe_json(a.get("llm.invocation_parameters"))
        params = params if isinstance(params, dict) else {}
        out_body = maybe_json(a.get("output.value"))
        out_body = out_body if isinstance(out_body, dict) else {}
        in_msgs = _oi_messages(a, "llm.input_messages")
        out_msgs = _oi_messages(a, "llm.output_messages")
        rec.update(
            {
                "model_version": first_value(a, "llm.model_name") or out_body.get("model"),
                "model_requested": params.get("model") or _input_model(a),
                "provider": first_value(a, "llm.provider", "llm.system"),
                "upstream_fingerprint": out_body.get("system_fingerprint"),
                "temperature": param_value(params.get("temperature")),
                "top_p": param_value(params.get("top_p")),
                "top_k": param_value(params.get("top_k")),
                "max_tokens": param_value(first_value(params, "max_tokens", "max_completion_tokens", "max_output_tokens")),
                "seed": param_value(params.get("seed")),
                "input_tokens": a.get("llm.token_count.prompt"),
                "output_tokens": a.get("llm.token_count.completion"),
                "prompt_template_version": a.get("llm.prompt_template.version"),
                "session_id": a.get("session.id"),
                "user_id": a.get("user.id"),
                "finish_reason": finish_reason_of(out_body) if out_body else None,
                "error_type": exception_type(span) if span.status == "error" else None,
                "input_text": last_user_text(in_msgs) if in_msgs else last_user_text(a.get("input.value")),
                "output_text": (content_text(out_msgs[0]["content"]) if out_msgs else None)
                or first_output_text(a.get("output.value")),
            }
        )
        for k, v in self._metadata(a).items():
            rec.setdefault(k, jsonable(v))
        for k, v in a.items():
            if k in _OI_USED or _OI_CONTENT.match(k) or k.startswith("metadata.") or k in rec:
                continue
            rec[k] = jsonable(v)
        return rec

    @staticmethod
    def _metadata(a: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in a.items() if k.startswith("metadata.")}
        m = maybe_json(a.get("metadata"))
        if isinstance(m, dict):
            out.update(flatten("metadata", m))
        return out

    def retrieval_docs(self, span: Span) -> list[tuple[Any, Any, Any]]:
        docs = _indexed(span.attrs, "retrieval.documents")
        return [(d.get("document.id"), d.get("document.score"), d.get("document.content")) for _, d in sorted(docs.items())]

    def embedding_model(self, span: Span) -> str | None:
        v = span.attrs.get("embedding.model_name")
        return str(v) if v else None

    def embedding_text(self, span: Span) -> str | None:
        texts = [e.get("embedding.text") for _, e in sorted(_indexed(span.attrs, "embedding.embeddings").items())]
        return next((str(t) for t in texts if t is not None and t != ""), None)

    def inherited(self, span: Span) -> dict[str, Any]:
        return {"session_id": span.attrs.get("session.id"), "user_id": span.attrs.get("user.id")}

    def context(self, span: Span) -> dict[str, Any]:
        ctx = dict(span.attrs)
        ctx.update(self._metadata(span.attrs))
        return ctx


OPENINFERENCE = OpenInferenceDialect()


def dialect_for(span: Span) -> Dialect:
    """The attribute conventions a span follows: OpenInference when it names its span kind, the
    Vercel AI SDK's for ``ai.*`` spans, else OTel GenAI."""
    if "openinference.span.kind" in span.attrs:
        return OPENINFERENCE
    return VERCEL_AI if is_vercel_span(span) else GENAI


# --------------------------------------------------------------------------------------------
# Phoenix spans dataframe
# --------------------------------------------------------------------------------------------


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float) and math.isnan(v)


def flatten(prefix: str, v: Any) -> dict[str, Any]:
    """Nested dicts and lists of dicts as dotted keys (``retrieval.documents.0.document.score``)."""
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, dict):
        out: dict[str, Any] = {}
        for k, x in v.items():
            out.update(flatten(f"{prefix}.{k}" if prefix else str(k), x))
        return out
    if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
        out = {}
        for i, x in enumerate(v):
            out.update(flatten(f"{prefix}.{i}", x))
        return out
    if _missing(v):
        return {}
    return {prefix: v}


def _to_ns(v: Any) -> int | None:
    if _missing(v):
        return None
    try:
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            a = abs(float(v))
            scale = 1e9 if a < 1e11 else 1e6 if a < 1e14 else 1e3 if a < 1e17 else 1
            return int(float(v) * scale)
        t = pd.Timestamp(v)
        return (t if t.tzinfo else t.tz_localize("UTC")).value
    except (ValueError, TypeError, OverflowError):
        return None


def phoenix_span(row: dict[str, Any], line: int, dialect_for: Any) -> Span:
    """A :class:`Span` from one row of Phoenix's spans (a dataframe row or a database row), ``line`` its
    row number; ``dialect_for`` (a span -> its dialect) chooses what role the span plays."""
    attrs: dict[str, Any] = {}
    nested = row.get("attributes")
    if isinstance(nested, (dict, str)):
        nested = maybe_json(nested)
        if isinstance(nested, dict):
            attrs.update(flatten("", nested))
    ctx = row.get("context") if isinstance(row.get("context"), dict) else {}
    for k, v in row.items():
        if k.startswith("attributes."):
            attrs.update(flatten(k[len("attributes."):], maybe_json(v) if isinstance(v, str) and k.endswith(("documents", "messages")) else v))
    if "openinference.span.kind" not in attrs and not _missing(row.get("span_kind")):
        attrs["openinference.span.kind"] = row["span_kind"]
    events = []
    evs = row.get("events")
    if isinstance(evs, np.ndarray):
        evs = evs.tolist()
    evs = maybe_json(evs)
    for e in evs if isinstance(evs, list) else []:
        if isinstance(e, dict):
            ea = e.get("attributes")
            ea = maybe_json(ea) if isinstance(ea, str) else ea
            events.append(SpanEvent(str(e.get("name")), _to_ns(e.get("timestamp")), flatten("", ea) if isinstance(ea, dict) else {}))
    status = row.get("status_code")
    start, end = row.get("start_time"), row.get("end_time")
    span_id = row.get("context.span_id", ctx.get("span_id"))
    trace_id = row.get("context.trace_id", ctx.get("trace_id"))
    parent = row.get("parent_id")
    span = Span(
        trace_id=None if _missing(trace_id) else str(trace_id),
        span_id=None if _missing(span_id) else str(span_id),
        parent_id=None if _missing(parent) else str(parent),
        name=None if _missing(row.get("name")) else str(row.get("name")),
        start_ns=_to_ns(start),
        end_ns=_to_ns(end),
        attrs=attrs,
        row=line,
        source=row,
        events=events,
        status=None if _missing(status) else str(status).lower().removeprefix("status_code_"),
        status_message=None if _missing(row.get("status_message")) else row.get("status_message"),
        start=None if _missing(start) else start,
        end=None if _missing(end) else end,
    )
    span.dialect = dialect_for(span)
    return span


def phoenix_frame_spans(df: pd.DataFrame, first_row: int) -> SpanBatch:
    """The spans of some rows of a Phoenix spans dataframe (from Parquet or a database table);
    ``first_row`` is the row number of the first."""
    if df.index.name == "context.span_id" or "context.span_id" in (df.index.names or []):
        df = df.reset_index()
    rows = df.to_dict(orient="records")
    return SpanBatch([phoenix_span(r, first_row + i, dialect_for) for i, r in enumerate(rows)])


def phoenix_limit_warnings(n_spans: int) -> list[str]:
    """A dataframe of exactly Phoenix's default export limit may be truncated."""
    if n_spans != PHOENIX_DEFAULT_LIMIT:
        return []
    return [f"exactly {PHOENIX_DEFAULT_LIMIT} spans: Phoenix's export functions return at most {PHOENIX_DEFAULT_LIMIT} "
            "rows by default, so this export may be truncated; export again with a larger limit (e.g. limit=None)"]


def spans_from_phoenix(path: Path, fmt_hint: str | None = None) -> tuple[list[Span], list[tuple[int, str, str]], list[str]]:
    """Spans of a Phoenix spans dataframe in JSON (Lines); plus unparseable records and warnings.

    Parquet files are read batch by batch with :mod:`.frames`, as database tables are."""
    bad: list[tuple[int, str, str]] = []
    rows: list[tuple[int, dict[str, Any]]] = []
    recs, warnings = read_json_records(path)
    for r in recs:
        if r.error is not None:
            bad.append((r.line, r.error, r.raw))
        elif isinstance(r.value, list):
            rows += [(r.line, x) for x in r.value if isinstance(x, dict)]
        elif isinstance(r.value, dict):
            rows.append((r.line, r.value))
        else:
            bad.append((r.line, f"not a span object: got {type(r.value).__name__}", r.raw))
    spans = [phoenix_span(row, line, dialect_for) for line, row in rows]
    return spans, bad, warnings + phoenix_limit_warnings(len(spans))
