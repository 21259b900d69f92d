"""MLflow tracing: its spans and assessments, whichever way a trace was saved.

MLflow (3.x; 2.x where cheap) writes a trace as ``info`` (the trace id ``tr-...``, the request time,
the state, ``trace_metadata`` with ``mlflow.trace.session``/``mlflow.trace.user``, ``tags``,
``assessments``) and ``data.spans``. A span is OTLP-like (``Span.to_dict()``): base64 ``span_id``,
``parent_span_id``, ``start_time_unix_nano``, ``status: {code: STATUS_CODE_ERROR}``, ``events`` and
``attributes`` whose values are JSON text (``mlflow.spanType`` ``"\\"LLM\\""``,
``mlflow.spanInputs``, ``mlflow.spanOutputs``, ``mlflow.chat.tokenUsage``, ``mlflow.llm.model``);
MLflow 2 wrote ``context: {span_id, trace_id}`` (``0x`` hex), ``parent_id``, ``start_time``,
``status_code``. An assessment is feedback (``feedback: {value}``, from a judge or a human) or an
expectation (``expectation: {value}``), on the trace or on one span (``span_id``).

:func:`mlflow_trace_batch` turns one trace (its info and span dicts) into a :class:`SpanBatch`: the
spans, read by :data:`MLFLOW` (``LLM`` and ``CHAT_MODEL`` spans are the requests, ``RETRIEVER`` and
``EMBEDDING`` spans are folded in), and the assessments as columns of the events they judge.
:func:`frame_row_trace` reads a row of the ``search_traces()`` frame (MLflow 3 or 2 column names,
nested values or JSON text) so that a Parquet file, JSON records and a database table share it.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from ._messages import document_text, finish_reason_of, first_output_text, last_user_text, maybe_json
from ._spans import EMBEDDING, INFERENCE, OTHER, RETRIEVAL, Dialect, Span, SpanEvent, first_value, jsonable, param_value
from .otlp import base_fields, exception_type, norm_id
from .stream import SpanBatch

__all__ = [
    "MLflowDialect", "MLFLOW", "is_mlflow_columns", "is_mlflow_record", "frame_row_trace", "mlflow_trace_batch", "MlflowTrace",
    "AssessmentTally", "DEFAULT_ASSESSMENT_OUTCOMES", "norm_assessment", "MLFLOW_FRAME_IDS", "MLFLOW_TABLES", "is_mlflow_tables",
]

#: The tables that make a SQLite file an MLflow tracking store holding traces.
MLFLOW_TABLES = ("trace_info",)

#: The id column of a ``search_traces()`` frame (MLflow 3, MLflow 2).
MLFLOW_FRAME_IDS = ("trace_id", "request_id")
_FRAME_SPANS = ("trace", "spans")
_FRAME_INFO = ("request_time", "timestamp_ms", "state", "status", "execution_duration", "execution_time_ms")
_ROLES = {"LLM": INFERENCE, "CHAT_MODEL": INFERENCE, "RETRIEVER": RETRIEVAL, "EMBEDDING": EMBEDDING}
_USED = {
    "mlflow.spanType", "mlflow.spanInputs", "mlflow.spanOutputs", "mlflow.chat.tokenUsage", "mlflow.llm.model",
    "mlflow.llm.provider", "invocation_params", "session.id", "user.id",
}
_SESSION, _USER = "mlflow.trace.session", "mlflow.trace.user"


def is_mlflow_tables(tables: Iterable[str]) -> bool:
    """The table names of an MLflow tracking store (its ``trace_info``)."""
    names = set(tables)
    return all(t in names for t in MLFLOW_TABLES)


def is_mlflow_columns(cols: Iterable[Any]) -> bool:
    """The columns of a ``search_traces()`` frame: an id, the trace or its spans, and its time or state."""
    c = {str(x) for x in cols}
    return "event_id" not in c and bool(c & set(MLFLOW_FRAME_IDS)) and bool(c & set(_FRAME_SPANS)) and bool(c & set(_FRAME_INFO))


def is_mlflow_record(d: Any) -> bool:
    """A ``Trace.to_json()`` document (``info`` with a trace id, ``data``) or a row of the frame."""
    if not isinstance(d, dict):
        return False
    info = d.get("info")
    if isinstance(info, dict) and isinstance(d.get("data"), dict) and any(k in info for k in MLFLOW_FRAME_IDS):
        return True
    return is_mlflow_columns(d)


# --------------------------------------------------------------------------------------------
# The dialect
# --------------------------------------------------------------------------------------------


def _dict(v: Any) -> dict[str, Any]:
    v = maybe_json(v)
    return v if isinstance(v, dict) else {}


def _usage(a: dict[str, Any], out: dict[str, Any]) -> tuple[Any, Any]:
    """Input and output tokens: ``mlflow.chat.tokenUsage``, else the response body's ``usage``."""
    u = _dict(a.get("mlflow.chat.tokenUsage"))
    if u:
        return u.get("input_tokens"), u.get("output_tokens")
    body = _dict(out.get("usage"))
    return first_value(body, "prompt_tokens", "input_tokens"), first_value(body, "completion_tokens", "output_tokens")


class MLflowDialect(Dialect):
    """MLflow's span attributes (``mlflow.spanType``, ``mlflow.spanInputs``, ``mlflow.chat.tokenUsage``, ...)."""

    name = "mlflow"

    def role(self, span: Span) -> str:
        return _ROLES.get(str(span.attrs.get("mlflow.spanType") or "").upper(), OTHER)

    def kind_label(self, span: Span) -> str:
        return str(span.attrs.get("mlflow.spanType") or "span without mlflow.spanType")

    def fields(self, span: Span) -> dict[str, Any]:
        a = span.attrs
        rec = base_fields(span)
        trace_ctx = {k: rec.pop(k, None) for k in (_SESSION, _USER)}
        inputs = maybe_json(a.get("mlflow.spanInputs"))
        outputs = maybe_json(a.get("mlflow.spanOutputs"))
        params = inputs if isinstance(inputs, dict) else {}
        inv = _dict(a.get("invocation_params")) or _dict(params.get("invocation_params"))
        out = outputs if isinstance(outputs, dict) else {}
        requested = first_value(params, "model", "model_name") or first_value(inv, "model", "model_name")
        n_in, n_out = _usage(a, out)
        rec.update({
            "model_version": first_value(out, "model") or first_value(a, "mlflow.llm.model") or requested,
            "model_requested": requested or first_value(a, "mlflow.llm.model"),
            "provider": first_value(a, "mlflow.llm.provider"),
            "upstream_fingerprint": out.get("system_fingerprint"),
            "temperature": param_value(first_value(params, "temperature") or inv.get("temperature")),
            "top_p": param_value(first_value(params, "top_p") or inv.get("top_p")),
            "max_tokens": param_value(first_value(params, "max_tokens", "max_completion_tokens", "max_output_tokens")
                                      or first_value(inv, "max_tokens", "max_completion_tokens")),
            "seed": param_value(first_value(params, "seed") or inv.get("seed")),
            "input_tokens": n_in,
            "output_tokens": n_out,
            "finish_reason": finish_reason_of(out) if out else None,
            "session_id": first_value(a, "session.id") or trace_ctx[_SESSION],
            "user_id": first_value(a, "user.id") or trace_ctx[_USER],
            "error_type": exception_type(span) if span.status == "error" else None,
            "input_text": last_user_text(inputs),
            "output_text": first_output_text(outputs),
        })
        for k, v in a.items():
            if k in _USED or k.startswith("mlflow.") or k in rec:
                continue
            rec[k] = jsonable(v)
        return rec

    def retrieval_docs(self, span: Span) -> list[tuple[Any, Any, Any]]:
        docs = maybe_json(span.attrs.get("mlflow.spanOutputs"))
        out = []
        for d in docs if isinstance(docs, list) else []:
            if isinstance(d, dict):
                meta = _dict(d.get("metadata"))
                out.append((first_value(d, "id") or first_value(meta, "doc_uri", "id"),
                            first_value(d, "score") if "score" in d else first_value(meta, "score", "relevance_score"), document_text(d)))
        return out

    def embedding_model(self, span: Span) -> str | None:
        v = first_value(span.attrs, "mlflow.llm.model") or first_value(_dict(span.attrs.get("mlflow.spanInputs")), "model", "model_name")
        return None if v is None else str(v)

    def inherited(self, span: Span) -> dict[str, Any]:
        return {"session_id": span.attrs.get("session.id"), "user_id": span.attrs.get("user.id")}


MLFLOW = MLflowDialect()


# --------------------------------------------------------------------------------------------
# Spans
# --------------------------------------------------------------------------------------------


def _plain(v: Any) -> Any:
    """Arrow and numpy containers as Python lists and dicts."""
    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()]
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def _attr_value(v: Any) -> Any:
    """MLflow writes every attribute value as JSON text."""
    if isinstance(v, str):
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


def _id(v: Any) -> str | None:
    if _missing(v) or v == "":
        return None
    s = str(v)
    return norm_id(s[2:] if s.startswith("0x") else s, 8)


def _ns(v: Any) -> int | None:
    if _missing(v) or v == "":
        return None
    try:
        n = int(v)
    except (TypeError, ValueError):
        return None
    return n if n > 0 else None


def _status(d: dict[str, Any]) -> str:
    st = d.get("status")
    code = st.get("code") if isinstance(st, dict) else d.get("status_code", st)
    if _missing(code):
        return "unset"
    s = str(code).upper().removeprefix("STATUS_CODE_")
    return {"OK": "ok", "ERROR": "error", "UNSET": "unset"}.get(s, s.lower())


def _events(evs: Any) -> list[SpanEvent]:
    out = []
    for e in _plain(maybe_json(evs)) if isinstance(_plain(maybe_json(evs)), list) else []:
        if isinstance(e, dict):
            attrs = {k: v for k, v in _dict(e.get("attributes")).items() if v is not None}
            out.append(SpanEvent(str(e.get("name")), _ns(first_value(e, "time_unix_nano", "timestamp")), attrs))
    return out


def mlflow_span(d: dict[str, Any], row: int, trace_id: str | None, resource: dict[str, Any]) -> Span:
    """A :class:`Span` from one of MLflow's span dicts (3.x or 2.x); ``trace_id`` is the trace's ``tr-...`` id."""
    ctx = d.get("context") if isinstance(d.get("context"), dict) else {}
    attrs = {str(k): _attr_value(v) for k, v in _dict(d.get("attributes")).items() if not _missing(v)}
    status = _status(d)
    st = d.get("status")
    message = st.get("message") if isinstance(st, dict) else d.get("status_message")
    return Span(
        trace_id=trace_id or _id(first_value(d, "trace_id") or ctx.get("trace_id")),
        span_id=_id(first_value(d, "span_id") or ctx.get("span_id")),
        parent_id=_id(first_value(d, "parent_span_id", "parent_id")),
        name=None if _missing(d.get("name")) else str(d.get("name")),
        start_ns=_ns(first_value(d, "start_time_unix_nano", "start_time")),
        end_ns=_ns(first_value(d, "end_time_unix_nano", "end_time")),
        attrs=attrs,
        row=row,
        source=d,
        events=_events(d.get("events")),
        status=status,
        status_message=None if _missing(message) or message == "" else str(message),
        resource=dict(resource),
        dialect=MLFLOW,
    )


# --------------------------------------------------------------------------------------------
# Traces and their assessments
# --------------------------------------------------------------------------------------------


@dataclass
class MlflowTrace:
    """One trace as MLflow saved it: its id, experiment, session and user, span dicts and assessments
    (normalised by :func:`norm_assessment`)."""

    trace_id: str | None
    spans: list[Any]
    assessments: list[dict[str, Any]] = field(default_factory=list)
    experiment_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None


def _time_ms(v: Any) -> float:
    """An assessment's time (epoch milliseconds or ISO text) as milliseconds, for ordering."""
    if _missing(v):
        return -math.inf
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    try:
        t = pd.Timestamp(str(v))
    except (ValueError, TypeError):
        return -math.inf
    t = t.tz_localize("UTC") if t.tzinfo is None else t
    return t.value / 1e6


def norm_assessment(a: Mapping[str, Any]) -> dict[str, Any]:
    """An assessment in one shape, from ``Assessment.to_dictionary()`` (``feedback``/``expectation``
    objects) or a row of the store's ``assessments`` table (``assessment_type``, ``value`` as JSON text)."""
    if "assessment_type" in a:
        kind = str(a.get("assessment_type") or "").lower()
        value = _attr_value(a.get("value"))
        error = a.get("error")
        when = first_value(a, "last_updated_timestamp", "created_timestamp")
    else:
        kind = "feedback" if "feedback" in a else "expectation" if "expectation" in a else ""
        body = _dict(a.get(kind)) if kind else {}
        value = body.get("value")
        serialized = _dict(body.get("serialized_value"))
        if value is None and serialized:
            value = _attr_value(serialized.get("value"))
        error = body.get("error") or a.get("error")
        when = first_value(a, "last_update_time", "create_time", "timestamp")
    valid = a.get("valid")
    return {"name": first_value(a, "assessment_name", "name"), "kind": kind, "value": value, "error": not _missing(error),
            "span_id": _id(a.get("span_id")), "time": _time_ms(when), "valid": valid is None or bool(valid)}


@dataclass(frozen=True)
class AssessmentOutcome:
    """A feedback whose value fills an outcome column: ``assessment`` -> ``column`` through ``values``."""

    assessment: str
    column: str
    values: Mapping[str, bool]

    @property
    def source(self) -> str:
        return f"assessment.{self.assessment}"


_YES_NO = {"yes": True, "no": False, "true": True, "false": False, "pass": True, "fail": False}
_GROUNDED = {k: not v for k, v in _YES_NO.items()}
#: The default mapping of feedback values onto outcomes (MLflow's built-in judges answer ``yes``/``no``);
#: the first present fills a column; a user mapping naming the column or the source replaces it.
DEFAULT_ASSESSMENT_OUTCOMES = (
    AssessmentOutcome("correctness", "correct", {**_YES_NO, "correct": True, "incorrect": False}),
    AssessmentOutcome("retrieval_groundedness", "hallucinated", _GROUNDED),
    AssessmentOutcome("groundedness", "hallucinated", _GROUNDED),
)
_EXPECTED = "expected_response"


@dataclass
class AssessmentTally:
    """What became of the assessments, for the load report."""

    attached: int = 0
    unattached: int = 0
    failed: int = 0
    invalid: int = 0
    filled: Counter = field(default_factory=Counter)
    unmapped: Counter = field(default_factory=Counter)
    empty_traces: int = 0

    def warnings(self) -> list[str]:
        out = []
        if self.attached:
            out.append(f"{self.attached} assessment(s) kept as assessment.<name> (feedback) and expectation.<name> columns")
        out += [f"{n} event(s) got `{col}` from {src} (the default mapping; map {src} yourself to change it)"
                for (src, col), n in sorted(self.filled.items())]
        for name in sorted({n for n, _ in self.unmapped}):
            vals = sorted(((v, c) for (n, v), c in self.unmapped.items() if n == name), key=lambda x: -x[1])
            shown = ", ".join(f"{v!r} ({c})" for v, c in vals[:5])
            out.append(f"{sum(c for _, c in vals)} {name!r} value(s) are not in the default mapping and left the outcome missing: {shown}")
        if self.unattached:
            out.append(f"{self.unattached} assessment(s) are on traces with no LLM or CHAT_MODEL span and were not used")
        if self.failed:
            out.append(f"{self.failed} feedback(s) hold an error instead of a value (a judge that failed) and were not used")
        if self.invalid:
            out.append(f"{self.invalid} assessment(s) were overridden or marked invalid and were not used")
        if self.empty_traces:
            out.append(f"{self.empty_traces} trace(s) hold no spans (saved with include_spans=False?): they give no events")
        return out


def _column_value(v: Any) -> Any:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    return jsonable(v)


def _defaults(cols: dict[str, Any], skip: frozenset[str], tally: AssessmentTally) -> None:
    """Fill the outcome columns (and ``expected_output``) from the assessments by the default mapping."""
    for o in DEFAULT_ASSESSMENT_OUTCOMES:
        if o.column in skip or o.source in skip or o.column in cols or o.source not in cols:
            continue
        v = cols[o.source]
        value = o.values.get(str(v).strip().lower()) if v is not None else None
        if value is None:
            tally.unmapped[(o.assessment, str(v))] += 1
            continue
        cols[o.column] = value
        tally.filled[(o.source, o.column)] += 1
    src = f"expectation.{_EXPECTED}"
    if src in cols and "expected_output" not in skip and src not in skip and isinstance(cols[src], str):
        cols["expected_output"] = cols[src]
        tally.filled[(src, "expected_output")] += 1


def assessment_columns(assessments: list[dict[str, Any]], inference_ids: list[str], skip: frozenset[str],
                       tally: AssessmentTally) -> dict[str, dict[str, Any]]:
    """Columns per event id: an assessment on an inference span goes to that event, any other (on the
    trace, or on another span) to every event of the trace; the latest of a name wins."""
    cols: dict[str, dict[str, Any]] = {}
    for a in sorted(assessments, key=lambda x: x["time"]):
        if not a["valid"]:
            tally.invalid += 1
            continue
        if a["kind"] == "feedback" and a["value"] is None:
            tally.failed += 1
            continue
        targets = [a["span_id"]] if a["span_id"] in inference_ids else inference_ids
        if not targets or not a["name"]:
            tally.unattached += 1
            continue
        tally.attached += 1
        col = f"{'expectation' if a['kind'] == 'expectation' else 'assessment'}.{a['name']}"
        for t in targets:
            cols.setdefault(t, {})[col] = _column_value(a["value"])
    for c in cols.values():
        _defaults(c, skip, tally)
    return cols


def mlflow_trace_batch(trace: MlflowTrace, row: int, *, skip: frozenset[str], tally: AssessmentTally) -> SpanBatch:
    """The spans of one trace, its assessments as columns of its events; ``row`` labels its records."""
    resource = {"mlflow.experiment_id": trace.experiment_id, _SESSION: trace.session_id, _USER: trace.user_id}
    resource = {k: v for k, v in resource.items() if v is not None}
    spans = [mlflow_span(d, row, trace.trace_id, resource) for d in trace.spans if isinstance(d, dict)]
    warnings = []
    if len(spans) < len(trace.spans):
        warnings.append(f"row {row}: {len(trace.spans) - len(spans)} span(s) of trace {trace.trace_id} are not objects and were skipped")
    if not trace.spans:
        tally.empty_traces += 1
    inference = [s.span_id for s in spans if s.span_id and MLFLOW.role(s) == INFERENCE]
    extra = assessment_columns(trace.assessments, inference, skip, tally)
    return SpanBatch(spans, [], warnings, extra)


def _experiment(info: dict[str, Any]) -> str | None:
    loc = _dict(info.get("trace_location"))
    exp = _dict(loc.get("mlflow_experiment")).get("experiment_id") or info.get("experiment_id")
    return None if _missing(exp) else str(exp)


def _list(v: Any, what: str) -> list[Any]:
    v = _plain(maybe_json(v))
    if v is None:
        return []
    if not isinstance(v, list):
        raise ValueError(f"`{what}` must be a list (or JSON text holding one), got {type(v).__name__}")
    return v


def frame_row_trace(row: Mapping[str, Any]) -> MlflowTrace:
    """One trace from a row of the ``search_traces()`` frame (MLflow 3 or 2 columns, nested values or
    JSON text) or a ``Trace.to_json()`` document.

    Raises
    ------
    ValueError
        The row's ``spans`` (or its ``trace``) is not a list of spans; the message names the column.
    """
    row = {str(k): _plain(v) for k, v in row.items()}
    doc = _dict(row.get("trace")) if "info" not in row else row
    if "info" in row:
        info, spans = _dict(row.get("info")), _list(_dict(row.get("data")).get("spans"), "data.spans")
    else:
        info, spans = row, _list(row.get("spans"), "spans")
        if not spans and isinstance(doc.get("data"), dict):
            spans = _list(doc["data"].get("spans"), "trace.data.spans")
    inner = _dict(doc.get("info"))
    meta = _dict(first_value(info, "trace_metadata", "request_metadata")) or _dict(inner.get("trace_metadata"))
    raw_assessments = info.get("assessments") if not _missing(info.get("assessments")) else inner.get("assessments")
    assessments = [norm_assessment(a) for a in _list(raw_assessments, "assessments") if isinstance(a, dict)]
    trace_id = first_value(info, *MLFLOW_FRAME_IDS) or first_value(inner, *MLFLOW_FRAME_IDS)
    return MlflowTrace(
        trace_id=None if _missing(trace_id) else str(trace_id),
        spans=spans,
        assessments=assessments,
        experiment_id=_experiment(info) or _experiment(inner),
        session_id=first_value(meta, _SESSION),
        user_id=first_value(meta, _USER),
    )
