"""Langfuse exports: observations, scores and traces; or the UI's single-trace download.

Accepted inputs: a directory holding ``observations*``, ``scores*`` and ``traces*`` files (CSV,
JSON or JSONL, as the blob/bulk export writes them; ``observations_v2`` too); a single file of
observations (scores and traces may be mixed in, each record is recognised by its fields); the
public API's ``{"data": [...]}`` pages; and the single-trace JSON (``trace``, ``observations``,
``scores``). camelCase (API, UI downloads) and snake_case (bulk exports) field names are both
read. Timestamps without an offset are UTC (Langfuse's specification).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

from ._jsonio import decode_reporting, read_json_records, snake
from ._messages import document_text, finish_reason_of, first_output_text, last_user_text, maybe_json
from ._spans import EMBEDDING, INFERENCE, OTHER, RETRIEVAL, Dialect, Span, jsonable, param_value, to_float
from .langfuse_blob import read_blob_export
from .openinference import dialect_for, flatten
from .result import LoadError

__all__ = ["LangfuseDialect", "LANGFUSE", "read_langfuse", "attach_scores"]


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "") or (isinstance(v, float) and v != v)


def _first(a: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        v = a.get(k)
        if not _blank(v):
            return v
    return None


def _to_ns(v: Any) -> int | None:
    if _blank(v):
        return None
    try:
        t = pd.Timestamp(v)
    except (ValueError, TypeError):
        return None
    return (t if t.tzinfo else t.tz_localize("UTC")).value


def _kind(r: dict[str, Any]) -> str | None:
    if "type" in r and "start_time" in r:
        return "observation"
    if "name" in r and ("data_type" in r or "string_value" in r or ("value" in r and "trace_id" in r)):
        return "score"
    if "timestamp" in r and ("session_id" in r or "user_id" in r or "name" in r or "release" in r):
        return "trace"
    return None


class LangfuseDialect(Dialect):
    name = "langfuse"

    def role(self, span: Span) -> str:
        t = str(span.attrs.get("type", "")).upper()
        return {"GENERATION": INFERENCE, "RETRIEVER": RETRIEVAL, "EMBEDDING": EMBEDDING}.get(t, OTHER)

    def fields(self, span: Span) -> dict[str, Any]:
        a = span.attrs
        params = maybe_json(a.get("model_parameters"))
        params = params if isinstance(params, dict) else {}
        usage = maybe_json(_first(a, "usage_details", "usage"))
        usage = snake(usage) if isinstance(usage, dict) else {}
        cost = maybe_json(a.get("cost_details"))
        level = str(a.get("level") or "DEFAULT").upper()
        rec: dict[str, Any] = {
            "event_id": span.span_id,
            "trace_id": span.trace_id,
            "ts": span.start,
            "latency_ms": (span.end_ns - span.start_ns) / 1e6 if span.start_ns and span.end_ns else None,
            "status": "error" if level == "ERROR" else "ok",
            "model_version": _first(a, "model", "provided_model_name"),
            "temperature": param_value(params.get("temperature")),
            "top_p": param_value(params.get("top_p")),
            "top_k": param_value(params.get("top_k")),
            "max_tokens": param_value(_first(params, "max_tokens", "max_completion_tokens", "max_output_tokens")),
            "seed": param_value(params.get("seed")),
            "input_tokens": _first(usage, "input", "prompt_tokens", "input_tokens"),
            "output_tokens": _first(usage, "output", "completion_tokens", "output_tokens"),
            "prompt_template_version": None if _blank(a.get("prompt_version")) else str(a.get("prompt_version")).removesuffix(".0"),
            "session_id": _first(a, "session_id"),
            "user_id": _first(a, "user_id"),
            "input_text": last_user_text(a.get("input")),
            "output_text": first_output_text(a.get("output")),
            "finish_reason": finish_reason_of(a.get("output")),
            "span.name": a.get("name"),
            "prompt_name": a.get("prompt_name"),
            "level": level,
            "status_message": a.get("status_message"),
            "environment": a.get("environment"),
            "cost_total": (cost.get("total") if isinstance(cost, dict) else None) if cost is not None else a.get("total_cost"),
        }
        for k, v in span.resource.items():  # the trace's fields
            if k in ("session_id", "user_id"):
                if rec.get(k) is None and not _blank(v):
                    rec[k] = v
            else:
                rec.setdefault(k, jsonable(v))
        for k, v in self._metadata(span).items():
            rec.setdefault(k, jsonable(v))
        for k, v in self._from_otel_attributes(span).items():
            if _blank(rec.get(k)):
                rec[k] = v
        return {k: v for k, v in rec.items() if not _blank(v) or k in ("event_id", "ts")}

    @staticmethod
    def _from_otel_attributes(span: Span) -> dict[str, Any]:
        """Canonical columns from the instrumenting SDK's OTel attributes that Langfuse keeps in
        ``metadata.attributes`` (GenAI or OpenInference names): provider, requested model, finish
        reason, session and user when the observation lacks them."""
        m = maybe_json(span.attrs.get("metadata"))
        attrs = m.get("attributes") if isinstance(m, dict) else None
        if not isinstance(attrs, dict) or not attrs:
            return {}
        pseudo = Span(None, None, None, span.name, None, None, dict(attrs), span.row)
        fields = dialect_for(pseudo).fields(pseudo)
        return {k: v for k, v in fields.items() if k in _FROM_OTEL and not _blank(v)}

    @staticmethod
    def _metadata(span: Span) -> dict[str, Any]:
        m = maybe_json(span.attrs.get("metadata"))
        return flatten("metadata", m) if isinstance(m, dict) else {}

    def retrieval_docs(self, span: Span) -> list[tuple[Any, Any, Any]]:
        # No convention: accept an output list of {id, score, text} (or LangChain's {page_content, metadata: {id,
        # score}}), or {documents: [...]}.
        out = maybe_json(span.attrs.get("output"))
        if isinstance(out, dict):
            out = out.get("documents") or out.get("results")
        docs = []
        for d in out if isinstance(out, list) else []:
            d = maybe_json(d)
            if isinstance(d, dict):
                md = d.get("metadata") if isinstance(d.get("metadata"), dict) else {}
                docs.append((_first(d, "id", "doc_id") or md.get("id"), _first(d, "score", "similarity") or md.get("score"),
                             document_text(d)))
        return docs

    def embedding_model(self, span: Span) -> str | None:
        if self.role(span) == EMBEDDING:
            return _first(span.attrs, "model", "provided_model_name")
        return None

    def inherited(self, span: Span) -> dict[str, Any]:
        return {}

    def kind_label(self, span: Span) -> str:
        return str(span.attrs.get("type") or "observation without a type")

    def context(self, span: Span) -> dict[str, Any]:
        ctx = {k: v for k, v in span.attrs.items()}
        ctx.update(self._metadata(span))
        return ctx

    def evaluations(self, span: Span) -> list[dict[str, Any]]:
        return []


#: Columns the OTel attributes in an observation's metadata may fill.
_FROM_OTEL = ("provider", "model_requested", "finish_reason", "session_id", "user_id", "upstream_fingerprint", "error_type")

LANGFUSE = LangfuseDialect()


def _records_from_csv(path: Path, label: str) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str, str]], list[str]]:
    text, bad_lines = decode_reporting(path.read_bytes())
    warnings = []
    if bad_lines:
        warnings.append(f"{label}: bytes that are not UTF-8 were replaced with U+FFFD on line(s) {', '.join(map(str, bad_lines[:10]))}")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return [], [], warnings
    rows, bad = [], []
    line = reader.line_num
    for fields in reader:
        start, line = line + 1, reader.line_num
        if not fields or all(f == "" for f in fields):
            continue
        if len(fields) != len(header):
            bad.append((start, f"{label}: malformed CSV row: expected {len(header)} fields, found {len(fields)}", ",".join(fields)))
            continue
        rows.append((start, {h: (None if f == "" else f) for h, f in zip(header, fields)}))
    return rows, bad, warnings


def _records_from_json(path: Path, label: str) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str, str]], list[str]]:
    recs, warnings = read_json_records(path)
    warnings = [f"{label}: {w}" for w in warnings]
    rows, bad = [], []
    for r in recs:
        if r.error is not None:
            bad.append((r.line, f"{label}: {r.error}", r.raw))
            continue
        v = r.value
        items = v if isinstance(v, list) else [v]
        for x in items:
            if isinstance(x, dict) and isinstance(x.get("data"), list) and "observations" not in x:
                rows += [(r.line, y) for y in x["data"] if isinstance(y, dict)]
            elif isinstance(x, dict):
                rows.append((r.line, x))
            else:
                bad.append((r.line, f"{label}: not a JSON object: got {type(x).__name__}", json.dumps(x)[:2000]))
    return rows, bad, warnings


def _download_parts(r: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Observations, scores and trace of a single-trace download, in any of its variants.

    ``{trace, observations}`` (the trace's own ``observations`` are stubs: used only when the
    top-level list is missing; its ``scores`` are kept), and ``{observations, scores}`` without a
    trace. Scores are deduplicated by id.
    """
    t = snake(r.get("trace") or {}) if isinstance(r.get("trace"), dict) else {}
    tid = t.get("id")
    raw_obs = r.get("observations")
    if not isinstance(raw_obs, list):
        raw_obs = t.get("observations") if isinstance(t.get("observations"), list) else []
    obs = []
    for o in raw_obs:
        if isinstance(o, dict):
            o = snake(o)
            if _blank(o.get("trace_id")):
                o["trace_id"] = tid
            obs.append(o)
    scores, seen = [], set()
    for s in list(r.get("scores") or []) + list(t.get("scores") or []):
        if not isinstance(s, dict):
            continue
        s = snake(s)
        if _blank(s.get("trace_id")):
            s["trace_id"] = tid
        key = s.get("id") or id(s)
        if key in seen:
            continue
        seen.add(key)
        scores.append(s)
    return obs, scores, t


def read_langfuse(path: Path) -> tuple[list[Span], list[tuple[int, str, str]], list[str], list[dict[str, Any]]]:
    """Spans (observations), unparseable records, warnings and the scores."""
    files: list[tuple[Path, str | None]] = []
    if path.is_dir() and is_blob_export(path):
        observations, scores, traces, warnings = read_blob_export(path)
        return _spans_of(observations, traces), [], warnings, scores
    if path.is_dir():
        for f in sorted(path.iterdir()):
            if not f.is_file() or f.suffix.lower() not in (".csv", ".json", ".jsonl", ".ndjson"):
                continue
            low = f.name.lower()
            role = "observation" if low.startswith("observations") else "score" if low.startswith("scores") else "trace" if low.startswith("traces") else None
            files.append((f, role))
        if not any(r == "observation" for _, r in files):
            raise LoadError("is a directory without an observations file (observations.csv/.json/.jsonl, as Langfuse exports it).", source=str(path))
    else:
        files.append((path, None))
    observations: list[tuple[int, dict[str, Any]]] = []
    scores: list[dict[str, Any]] = []
    traces: dict[str, dict[str, Any]] = {}
    bad: list[tuple[int, str, str]] = []
    warnings: list[str] = []
    ignored = 0
    for f, role in files:
        label = f.name
        if f.stat().st_size == 0:
            warnings.append(f"{label}: empty file")
            continue
        rows, b, w = (_records_from_csv if f.suffix.lower() == ".csv" else _records_from_json)(f, label)
        bad += b
        warnings += w
        for line, r in rows:
            r = snake(r)
            if "observations" in r or isinstance(r.get("trace"), dict):  # single-trace download
                obs, sc, t = _download_parts(r)
                if t.get("id"):
                    traces[str(t["id"])] = t
                observations += [(len(observations) + 1, o) for o in obs]
                scores += sc
                continue
            kind = role or _kind(r)
            if kind == "observation":
                observations.append((line, r))
            elif kind == "score":
                scores.append(r)
            elif kind == "trace":
                if r.get("id"):
                    traces[str(r["id"])] = r
            else:
                ignored += 1
                bad.append((line, f"{label}: not a Langfuse observation, score or trace (keys: {', '.join(list(r)[:8])})", json.dumps(r, default=str)[:2000]))
    return _spans_of(observations, traces), bad, warnings, scores


def is_blob_export(path: Path) -> bool:
    """A scheduled blob export: table folders (``observations_v2/``, ``scores/``...) or ``manifests/``,
    directly or under a ``{projectId}/`` prefix."""
    tables = {"observations_v2", "observations", "scores", "traces", "manifests"}
    subdirs = [d for d in path.iterdir() if d.is_dir()]
    return any(d.name in tables for d in subdirs) or any(e.is_dir() and e.name in tables for d in subdirs for e in d.iterdir())


def _spans_of(observations: list[tuple[int, dict[str, Any]]], traces: dict[str, dict[str, Any]]) -> list[Span]:
    spans = []
    for line, o in observations:
        tid = None if _blank(o.get("trace_id")) else str(o.get("trace_id"))
        t = traces.get(tid or "", {})
        res: dict[str, Any] = {}
        if t:
            for k in ("name", "release", "version", "tags", "environment"):
                if not _blank(t.get(k)):
                    res[f"trace.{k}"] = t[k]
            for k in ("session_id", "user_id"):
                if not _blank(t.get(k)):
                    res[k] = t[k]
            tm = maybe_json(t.get("metadata"))
            if isinstance(tm, dict):
                for k, v in flatten("metadata", tm).items():
                    res.setdefault(k, v)
        spans.append(
            Span(
                trace_id=tid,
                span_id=None if _blank(o.get("id")) else str(o.get("id")),
                parent_id=None if _blank(o.get("parent_observation_id")) else str(o.get("parent_observation_id")),
                name=o.get("name"),
                start_ns=_to_ns(o.get("start_time")),
                end_ns=_to_ns(o.get("end_time")),
                attrs=o,
                row=line,
                source=o,
                resource=res,
                dialect=LANGFUSE,
                start=None if _blank(o.get("start_time")) else o.get("start_time"),
                end=o.get("end_time"),
            )
        )
    return spans


def _score_value(s: dict[str, Any]) -> Any:
    dt = str(s.get("data_type") or "").upper()
    if dt == "CATEGORICAL":
        return _first(s, "string_value", "value")
    v = to_float(s.get("value"))
    if v is None and dt not in ("NUMERIC", "BOOLEAN"):
        return _first(s, "string_value", "value")
    return v


def attach_scores(records: list[dict[str, Any]], scores: list[dict[str, Any]]) -> tuple[dict[str, int], list[str]]:
    """Add ``score.<name>`` columns to the events; returns counts and warnings.

    A score with an ``observation_id`` of a GENERATION goes to that event; any other score of a
    trace (trace-level, or on a span) goes to every event of the trace. When one event gets the
    same score name twice, the latest (by ``timestamp``, then file order) is kept.
    """
    by_id = {r.get("event_id"): r for r in records}
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_trace.setdefault(str(r.get("trace_id")), []).append(r)
    attached = unattached = replaced = 0
    stamp: dict[tuple[int, str], Any] = {}
    for i, s in enumerate(scores):
        name = s.get("name")
        if _blank(name):
            unattached += 1
            continue
        oid = s.get("observation_id")
        targets = [by_id[oid]] if not _blank(oid) and oid in by_id else by_trace.get(str(s.get("trace_id")), [])
        if not targets:
            unattached += 1
            continue
        attached += 1
        col = f"score.{name}"
        t = (str(s.get("timestamp") or ""), i)
        for r in targets:
            key = (id(r), col)
            if key in stamp:
                replaced += 1
                if t < stamp[key]:
                    continue
            stamp[key] = t
            r[col] = _score_value(s)
    warnings = []
    if attached:
        warnings.append(f"{attached} score(s) kept as score.<name> columns (outcomes only through `mapping`)")
    if unattached:
        warnings.append(f"{unattached} score(s) refer to no GENERATION in the export and were not used")
    if replaced:
        warnings.append(f"{replaced} score value(s) were superseded by a later score of the same name on the same event")
    return {"scores_attached": attached, "scores_unattached": unattached}, warnings
