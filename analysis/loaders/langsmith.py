"""LangSmith runs: the bulk export's Parquet files (or the same frame in a database table).

A bulk export writes one row per run with the fields of LangSmith's run data format
(``langsmith.schemas.Run``): ``id``, ``trace_id``, ``parent_run_id``, ``name``, ``run_type``
(``llm``, ``chain``, ``retriever``, ``tool``, ``embedding``, ...), ``start_time``, ``end_time``,
``first_token_time``, ``status``, ``error``, ``inputs``, ``outputs``, ``extra`` (``metadata``,
``invocation_params``), ``prompt_tokens``, ``completion_tokens``, ``total_tokens``,
``feedback_stats`` and ``tags``. The nested fields come as JSON text or as nested values.

Runs are spans of a tree (``parent_run_id``): the ``llm`` runs are the requests, ``retriever``
runs give their documents and ``embedding`` runs their model to the request that follows them in
the trace, and ancestors supply the session and user ids. ``feedback_stats`` (``{key: {n, avg,
values}}``) become ``feedback.<key>`` (the mean score) and ``feedback.<key>.label`` (the most
frequent categorical value) columns; the key ``correctness`` (or ``correct``) fills the outcome
``correct`` when every feedback point agrees (mean 1 or 0). No other key is read as an outcome:
map it yourself.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from ._messages import content_text, finish_reason_of, first_output_text, last_user_text, maybe_json
from ._spans import EMBEDDING, INFERENCE, OTHER, RETRIEVAL, Dialect, Span, first_value, jsonable, param_value, to_float
from .openinference import flatten
from .otlp import base_fields
from .stream import SpanBatch

__all__ = ["LangSmithDialect", "LANGSMITH", "langsmith_frame_spans", "LANGSMITH_COLUMNS", "looks_langsmith", "CORRECTNESS_KEYS"]

#: Columns that tell a LangSmith runs frame (with ``id`` and ``start_time``).
LANGSMITH_COLUMNS = ("run_type", "trace_id")
#: ``feedback_stats`` keys read as the outcome ``correct``.
CORRECTNESS_KEYS = ("correctness", "correct")
_ROLES = {"llm": INFERENCE, "retriever": RETRIEVAL, "embedding": EMBEDDING}
_LC_ROLES = {"HumanMessage": "user", "AIMessage": "assistant", "SystemMessage": "system", "ToolMessage": "tool",
             "FunctionMessage": "tool", "ChatMessage": None, "HumanMessageChunk": "user", "AIMessageChunk": "assistant"}
_LC_TYPES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}
_ERROR_TYPE = re.compile(r"^\s*([A-Za-z_][\w.]*)(?:\(|:|$)")


def looks_langsmith(columns: Any) -> bool:
    """A frame of LangSmith runs: ``id``, ``start_time``, ``run_type`` and ``trace_id`` columns."""
    cols = set(columns)
    return {"id", "start_time", *LANGSMITH_COLUMNS} <= cols


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float) and math.isnan(v)


def _nested(v: Any) -> Any:
    """A nested field: JSON text parsed, Arrow's lists (numpy arrays) as lists, dict values too."""
    v = maybe_json(v)
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, dict):
        return {k: _nested(x) for k, x in v.items() if not _missing(x)}
    if isinstance(v, list):
        return [_nested(x) for x in v]
    return v


def _lc_message(m: Any) -> Any:
    """A LangChain message as LangSmith stores it (``{"lc": 1, "id": [..., "HumanMessage"], "kwargs": {...}}``, or
    ``{"type": "human", "data": {...}}``) as ``{"role", "content"}``; other messages as they are."""
    if not isinstance(m, dict):
        return m
    if isinstance(m.get("kwargs"), dict) and isinstance(m.get("id"), list) and m["id"]:
        kw = m["kwargs"]
        role = _LC_ROLES.get(str(m["id"][-1])) or kw.get("role") or _LC_TYPES.get(str(kw.get("type")))
        return {"role": role, "content": kw.get("content"), "response_metadata": kw.get("response_metadata")}
    if isinstance(m.get("data"), dict) and m.get("type") in _LC_TYPES:
        return {"role": _LC_TYPES[m["type"]], "content": m["data"].get("content")}
    if "role" not in m and m.get("type") in _LC_TYPES:
        return {**m, "role": _LC_TYPES[m["type"]]}
    return m


def _input_messages(inputs: Any) -> Any:
    """The request's messages: ``inputs.messages`` (a list, or LangChain's list of lists) as role/content dicts."""
    if not isinstance(inputs, dict):
        return inputs
    msgs = inputs.get("messages")
    if isinstance(msgs, list) and msgs and isinstance(msgs[0], list):
        msgs = msgs[0]  # LangChain chat models: one list per prompt in the batch
    if isinstance(msgs, list):
        return [_lc_message(m) for m in msgs]
    prompts = inputs.get("prompts") or inputs.get("prompt") or inputs.get("input")
    if isinstance(prompts, list) and prompts:
        return prompts[-1] if isinstance(prompts[-1], str) else prompts
    return prompts if prompts is not None else inputs


def _generation(outputs: Any) -> dict[str, Any] | None:
    """The first generation of LangChain's ``{"generations": [[{...}]]}`` outputs."""
    gens = outputs.get("generations") if isinstance(outputs, dict) else None
    if isinstance(gens, list) and gens and isinstance(gens[0], list):
        gens = gens[0]
    return gens[0] if isinstance(gens, list) and gens and isinstance(gens[0], dict) else None


def _output(outputs: Any) -> tuple[str | None, str | None, dict[str, Any]]:
    """(answer text, finish reason, response metadata) of an ``llm`` run's outputs."""
    gen = _generation(outputs)
    if gen is not None:
        msg = _lc_message(gen.get("message"))
        meta = msg.get("response_metadata") if isinstance(msg, dict) and isinstance(msg.get("response_metadata"), dict) else {}
        info = gen.get("generation_info") if isinstance(gen.get("generation_info"), dict) else {}
        text = gen.get("text") or (content_text(msg.get("content")) if isinstance(msg, dict) else None)
        return text or None, info.get("finish_reason") or meta.get("finish_reason") or meta.get("stop_reason"), meta
    if isinstance(outputs, dict) and isinstance(outputs.get("messages"), list) and outputs["messages"]:
        last = _lc_message(outputs["messages"][-1])
        return content_text(last.get("content") if isinstance(last, dict) else last), None, {}
    if isinstance(outputs, dict) and isinstance(outputs.get("output"), (str, dict)) and "choices" not in outputs:
        return first_output_text(outputs["output"]), finish_reason_of(outputs["output"]), {}
    return first_output_text(outputs), finish_reason_of(outputs), outputs if isinstance(outputs, dict) else {}


def _ms_between(a: Any, b: Any) -> float | None:
    if _missing(a) or _missing(b):
        return None
    try:
        return (pd.Timestamp(b) - pd.Timestamp(a)).total_seconds() * 1e3
    except (ValueError, TypeError):
        return None


def _feedback_columns(stats: Any) -> dict[str, Any]:
    """``feedback.<key>`` (mean score), ``feedback.<key>.label`` (most frequent value) and, for the
    correctness keys whose points all agree, ``correct``."""
    out: dict[str, Any] = {}
    if not isinstance(stats, dict):
        return out
    for key, st in stats.items():
        if not isinstance(st, dict):
            continue
        avg = to_float(st.get("avg"))
        if avg is not None:
            out[f"feedback.{key}"] = avg
        values = st.get("values")
        if isinstance(values, dict) and values:
            out[f"feedback.{key}.label"] = str(max(values.items(), key=lambda kv: (to_float(kv[1]) or 0.0, str(kv[0])))[0])
        if str(key).lower() in CORRECTNESS_KEYS and avg in (0.0, 1.0) and "correct" not in out:
            out["correct"] = avg == 1.0
    return out


class LangSmithDialect(Dialect):
    """What a LangSmith run means: its ``run_type`` says its role."""

    name = "langsmith"

    def role(self, span: Span) -> str:
        return _ROLES.get(str(span.attrs.get("run_type", "")).lower(), OTHER)

    def fields(self, span: Span) -> dict[str, Any]:
        a = span.attrs
        extra = a.get("extra") if isinstance(a.get("extra"), dict) else {}
        meta = extra.get("metadata") if isinstance(extra.get("metadata"), dict) else {}
        params = extra.get("invocation_params") if isinstance(extra.get("invocation_params"), dict) else {}
        inputs = a.get("inputs") if isinstance(a.get("inputs"), dict) else {}
        text, finish, resp = _output(a.get("outputs"))
        rec = base_fields(span)
        rec.update({
            "model_version": first_value(resp, "model_name", "model") or first_value(meta, "ls_model_name")
            or first_value(params, "model", "model_name"),
            "model_requested": first_value(params, "model", "model_name") or first_value(inputs, "model"),
            "provider": first_value(meta, "ls_provider") or first_value(params, "_type"),
            "upstream_fingerprint": first_value(resp, "system_fingerprint"),
            "temperature": param_value(first_value(params, "temperature") if "temperature" in params else meta.get("ls_temperature")),
            "top_p": param_value(params.get("top_p")),
            "top_k": param_value(params.get("top_k")),
            "max_tokens": param_value(first_value(params, "max_tokens", "max_completion_tokens", "max_output_tokens")
                                      or meta.get("ls_max_tokens")),
            "seed": param_value(params.get("seed")),
            "input_tokens": a.get("prompt_tokens"),
            "output_tokens": a.get("completion_tokens"),
            "total_tokens": a.get("total_tokens"),
            "session_id": first_value(meta, "session_id", "thread_id", "conversation_id"),
            "user_id": first_value(meta, "user_id"),
            "input_text": last_user_text(_input_messages(inputs)) if inputs else None,
            "output_text": text,
            "finish_reason": None if finish is None else str(finish),
            "error_type": self._error_type(a.get("error")) if span.status == "error" else None,
            "time_to_first_token_ms": _ms_between(span.start, a.get("first_token_time")),
            "cost_total": to_float(a.get("total_cost")),
            "tags": jsonable(a["tags"]) if isinstance(a.get("tags"), list) and a["tags"] else None,
            "run_type": a.get("run_type"),
        })
        rec.update(_feedback_columns(a.get("feedback_stats")))
        for k, v in flatten("metadata", meta).items():
            rec.setdefault(k, jsonable(v))
        return {k: v for k, v in rec.items() if v is not None or k in ("event_id", "ts")}

    @staticmethod
    def _error_type(error: Any) -> str | None:
        if not isinstance(error, str) or not error.strip():
            return None
        m = _ERROR_TYPE.match(error)
        return m.group(1) if m else None

    def retrieval_docs(self, span: Span) -> list[tuple[Any, Any, Any]]:
        out = span.attrs.get("outputs")
        docs = out.get("documents") if isinstance(out, dict) else out
        found = []
        for d in docs if isinstance(docs, list) else []:
            if not isinstance(d, dict):
                continue
            md = d.get("metadata") if isinstance(d.get("metadata"), dict) else {}
            text = d.get("page_content") if isinstance(d.get("page_content"), str) else content_text(d.get("content"))
            found.append((first_value(d, "id") or first_value(md, "id", "doc_id", "source"), first_value(md, "score", "relevance_score")
                          if first_value(d, "score") is None else d.get("score"), text))
        return found

    def embedding_model(self, span: Span) -> str | None:
        if self.role(span) != EMBEDDING:
            return None
        extra = span.attrs.get("extra") if isinstance(span.attrs.get("extra"), dict) else {}
        meta = extra.get("metadata") if isinstance(extra.get("metadata"), dict) else {}
        params = extra.get("invocation_params") if isinstance(extra.get("invocation_params"), dict) else {}
        v = first_value(meta, "ls_model_name") or first_value(params, "model", "model_name")
        return str(v) if v else None

    def inherited(self, span: Span) -> dict[str, Any]:
        extra = span.attrs.get("extra") if isinstance(span.attrs.get("extra"), dict) else {}
        meta = extra.get("metadata") if isinstance(extra.get("metadata"), dict) else {}
        return {"session_id": first_value(meta, "session_id", "thread_id", "conversation_id"), "user_id": first_value(meta, "user_id")}

    def kind_label(self, span: Span) -> str:
        return f"{span.attrs.get('run_type') or 'untyped'} run"

    def context(self, span: Span) -> dict[str, Any]:
        a = span.attrs
        ctx = {k: v for k, v in a.items() if k not in ("inputs", "outputs", "extra")}
        extra = a.get("extra") if isinstance(a.get("extra"), dict) else {}
        ctx.update(flatten("extra", extra))
        ctx.update(flatten("metadata", extra.get("metadata") if isinstance(extra.get("metadata"), dict) else {}))
        return ctx

    def evaluations(self, span: Span) -> list[dict[str, Any]]:
        return []


LANGSMITH = LangSmithDialect()


def _to_ns(v: Any) -> int | None:
    if _missing(v):
        return None
    try:
        t = pd.Timestamp(v)
    except (ValueError, TypeError):
        return None
    return (t if t.tzinfo else t.tz_localize("UTC")).value


def _text(v: Any) -> str | None:
    return None if _missing(v) or str(v).strip() == "" else str(v)


def _status(row: dict[str, Any]) -> str:
    st = _text(row.get("status"))
    if st is not None:
        return "error" if st.lower() == "error" else "ok" if st.lower() == "success" else st.lower()
    return "error" if _text(row.get("error")) else "ok"


def langsmith_run(row: dict[str, Any], line: int) -> Span:
    """A :class:`Span` of one run (a row of the frame), ``line`` its row number."""
    attrs = {k: _nested(v) for k, v in row.items() if not _missing(v) if not isinstance(v, (list, np.ndarray)) or len(v)}
    start, end = row.get("start_time"), row.get("end_time")
    span_id = _text(row.get("id"))
    span = Span(
        trace_id=_text(row.get("trace_id")) or span_id,
        span_id=span_id,
        parent_id=_text(row.get("parent_run_id")),
        name=_text(row.get("name")),
        start_ns=_to_ns(start),
        end_ns=_to_ns(end),
        attrs=attrs,
        row=line,
        source={k: jsonable(_nested(v)) for k, v in row.items() if k in ("id", "trace_id", "name", "run_type", "start_time", "error")},
        status=_status(row),
        status_message=_text(row.get("error")),
        start=None if _missing(start) else start,
        end=None if _missing(end) else end,
        dialect=LANGSMITH,
    )
    return span


def langsmith_frame_spans(df: pd.DataFrame, first_row: int) -> SpanBatch:
    """The spans of some rows of a LangSmith runs frame; ``first_row`` is the row number of the first."""
    rows = df.to_dict(orient="records")
    return SpanBatch([langsmith_run(r, first_row + i) for i, r in enumerate(rows)])
