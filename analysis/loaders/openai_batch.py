"""OpenAI Batch output (joined with its input file), and chat-completion or Responses objects one per line.

A Batch output line is ``{id, custom_id, response: {status_code, request_id, body}, error}``; an
error line has ``response: null`` and ``error: {code, message}``, or a non-2xx ``status_code`` with
``body.error``: it is rejected with that reason. The input file (``{custom_id, method, url,
body}``, given as ``batch_input=`` or lying in the same folder) joins on ``custom_id`` and gives the
requested model, the sampling parameters and the prompt. The output lines may come in any order.

One event per response: ``event_id`` the body's ``id`` (``chatcmpl-...``, ``resp_...``), ``ts`` its
``created``/``created_at`` (epoch seconds), ``model_version`` the answering snapshot (``body.model``),
``model_requested`` the input body's ``model``, ``upstream_fingerprint`` the ``system_fingerprint``,
``refused`` from ``message.refusal`` (or a ``refusal`` output item) or ``finish_reason =
content_filter``, tokens from ``usage``. A Batch output has no durations, so ``latency_ms`` is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ._jsonio import JsonRecord, read_json_records
from ._messages import content_text, last_user_text
from ._spans import jsonable, param_value
from .detect import data_files
from .result import LoadError

__all__ = ["OpenAIRead", "read_openai", "response_fields"]


@dataclass(frozen=True)
class OpenAIRead:
    """The events of an OpenAI file (as canonical records) and its load report."""

    records: list[dict[str, Any]]
    labels: list[int]
    raws: list[str]
    bad: list[tuple[int, str, str]]
    warnings: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    lines: int = 0


def _epoch_text(v: Any) -> str | None:
    try:
        return pd.Timestamp(float(v), unit="s", tz="UTC").isoformat()
    except (TypeError, ValueError, OverflowError):
        return None


def _is_input_line(d: Any) -> bool:
    return isinstance(d, dict) and "custom_id" in d and "body" in d and ("url" in d or "method" in d)


def _is_output_line(d: Any) -> bool:
    return isinstance(d, dict) and "custom_id" in d and ("response" in d or "error" in d)


def _chat_fields(body: dict[str, Any]) -> dict[str, Any]:
    choices = [c for c in body.get("choices") or [] if isinstance(c, dict)]
    msgs = [c.get("message") if isinstance(c.get("message"), dict) else {} for c in choices]
    frs = [str(c["finish_reason"]) for c in choices if c.get("finish_reason")]
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    refusal = any(m.get("refusal") for m in msgs) or "content_filter" in frs
    known = any("refusal" in m for m in msgs) or bool(frs)
    return {
        "ts": _epoch_text(body.get("created")),
        "finish_reason": ",".join(frs) or None,
        "refused": True if refusal else (False if known else None),
        "output_text": content_text(msgs[0].get("content")) if msgs and msgs[0].get("content") is not None else (msgs[0].get("refusal") if msgs else None),
        "input_tokens": usage.get("prompt_tokens"),
        "output_tokens": usage.get("completion_tokens"),
        "tool_calls": sum(len(m.get("tool_calls") or []) for m in msgs) or None,
    }


def _responses_fields(body: dict[str, Any]) -> dict[str, Any]:
    items = [o for o in body.get("output") or [] if isinstance(o, dict)]
    parts = [p for o in items if o.get("type") == "message" for p in (o.get("content") or []) if isinstance(p, dict)]
    texts = [p.get("text") for p in parts if p.get("type") == "output_text" and p.get("text")]
    refusals = [p.get("refusal") for p in parts if p.get("type") == "refusal"]
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    status = body.get("status")
    details = body.get("incomplete_details") if isinstance(body.get("incomplete_details"), dict) else {}
    finish = {"completed": "stop", "incomplete": str(details.get("reason") or "incomplete")}.get(str(status), status)
    if any(o.get("type") == "function_call" for o in items) and status == "completed":
        finish = "tool_calls"
    return {
        "ts": _epoch_text(body.get("created_at")),
        "finish_reason": finish,
        "refused": True if refusals or details.get("reason") == "content_filter" else (False if parts else None),
        "output_text": "\n".join(texts) if texts else (refusals[0] if refusals else None),
        "input_tokens": usage.get("input_tokens"),
        "output_tokens": usage.get("output_tokens"),
        "tool_calls": sum(1 for o in items if o.get("type") == "function_call") or None,
    }


def response_fields(body: dict[str, Any], request: dict[str, Any] | None = None) -> dict[str, Any]:
    """Canonical columns of one chat-completion or Responses body (and its request body, when known)."""
    request = request or {}
    is_responses = body.get("object") == "response" or ("output" in body and "created_at" in body)
    rec = {
        "event_id": body.get("id"),
        "model_version": body.get("model"),
        "model_requested": request.get("model"),
        "provider": "openai",
        "upstream_fingerprint": body.get("system_fingerprint"),
        "status": "ok",
        "service_tier": body.get("service_tier"),
    }
    rec.update(_responses_fields(body) if is_responses else _chat_fields(body))
    rec.update({
        "temperature": param_value(request.get("temperature")),
        "top_p": param_value(request.get("top_p")),
        "max_tokens": param_value(request.get("max_tokens", request.get("max_completion_tokens", request.get("max_output_tokens")))),
        "seed": param_value(request.get("seed")),
        "input_text": last_user_text(request.get("messages") if "messages" in request else request.get("input")),
    })
    meta = request.get("metadata")
    if isinstance(meta, dict):
        rec.update({f"metadata.{k}": jsonable(v) for k, v in meta.items()})
    return rec


def _error_reason(line: dict[str, Any]) -> str | None:
    """Why a Batch output line has no response, or None when it has one."""
    err = line.get("error")
    resp = line.get("response")
    if isinstance(err, dict) and err:
        return f"the request failed: {err.get('code') or 'error'}: {err.get('message') or ''}".rstrip(": ")
    if not isinstance(resp, dict):
        return "the request has no response (response is null and no error is given)"
    code = resp.get("status_code")
    body = resp.get("body") if isinstance(resp.get("body"), dict) else {}
    if isinstance(code, int) and not 200 <= code < 300:
        e = body.get("error") if isinstance(body.get("error"), dict) else {}
        return f"the request failed with HTTP {code}: {e.get('code') or e.get('type') or 'error'}: {e.get('message') or ''}".rstrip(": ")
    if not body:
        return "the response has no body"
    return None


def _read(path: Path, label: str) -> tuple[list[JsonRecord], list[str]]:
    recs, warnings = read_json_records(path)
    out: list[JsonRecord] = []
    for r in recs:  # a JSON array of objects counts each object
        if r.error is None and isinstance(r.value, list):
            out += [JsonRecord(r.line, v, raw=json.dumps(v, ensure_ascii=False)[:4000]) for v in r.value]
        else:
            out.append(r)
    return out, [label + w for w in warnings]


def _split_files(path: Path, batch_input: Path | None) -> tuple[list[Path], list[Path]]:
    """(output files, input files) of a path and the optional input file."""
    files = [f for f in data_files(path) if f.stat().st_size > 0] if path.is_dir() else [path]
    outputs, inputs = [], [] if batch_input is None else [batch_input]
    for f in files:
        recs, _ = read_json_records(f) if f.stat().st_size < (256 << 20) else ([], [])
        first = next((r.value for r in recs if r.error is None), None)
        (inputs if _is_input_line(first) else outputs).append(f)
    if not outputs:
        raise LoadError("holds OpenAI Batch input lines only ({custom_id, method, url, body}); give the batch's output file.", source=str(path))
    return outputs, inputs


def read_openai(path: Path, batch_input: Path | None = None) -> OpenAIRead:
    """Events of an OpenAI Batch output (joined with its input), or of response objects one per line."""
    outputs, inputs = _split_files(path, batch_input)
    requests: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    for f in inputs:
        recs, w = _read(f, f"{f.name}: ")
        warnings += w
        for r in recs:
            if r.error is None and _is_input_line(r.value) and isinstance(r.value.get("body"), dict):
                requests[str(r.value["custom_id"])] = r.value["body"]
    records: list[dict[str, Any]] = []
    labels: list[int] = []
    raws: list[str] = []
    bad: list[tuple[int, str, str]] = []
    counts = {"responses": 0, "failed_requests": 0}
    answered: set[str] = set()
    unmatched = batch_lines = 0
    n_lines = 0
    for f in outputs:
        prefix = f"{f.name}: " if len(outputs) > 1 or path.is_dir() else ""
        recs, w = _read(f, prefix)
        warnings += w
        for r in recs:
            n_lines += 1
            if r.error is not None:
                bad.append((r.line, prefix + r.error, r.raw))
                continue
            v = r.value
            body, req = None, None
            if _is_output_line(v):
                cid = str(v.get("custom_id"))
                answered.add(cid)
                batch_lines += 1
                why = _error_reason(v)
                if why:
                    counts["failed_requests"] += 1
                    bad.append((r.line, f"{prefix}custom_id {cid!r}: {why}", r.raw))
                    continue
                body = v["response"]["body"]
                req = requests.get(cid)
                if inputs and req is None:
                    unmatched += 1
            elif isinstance(v, dict) and (v.get("object") in ("chat.completion", "response") or "choices" in v or "output" in v):
                body = v
            else:
                keys = ", ".join(list(v)[:8]) if isinstance(v, dict) else type(v).__name__
                bad.append((r.line, f"{prefix}not an OpenAI Batch output line or response object (keys: {keys})", r.raw))
                continue
            rec = response_fields(body, req)
            if _is_output_line(v):
                rec["custom_id"] = v.get("custom_id")
                rec["request_id"] = (v.get("response") or {}).get("request_id")
                if rec.get("event_id") is None:
                    rec["event_id"] = v.get("id")
            counts["responses"] += 1
            records.append(rec)
            labels.append(r.line)
            raws.append(r.raw)
    if inputs:
        missing = len(set(requests) - answered)
        warnings.append(f"joined {counts['responses'] - unmatched} response(s) with the {len(requests)} request(s) of the input file on custom_id")
        if unmatched:
            warnings.append(f"{unmatched} response(s) have no request in the input file: their requested model and prompt are missing")
        if missing:
            warnings.append(f"{missing} request(s) of the input file have no output line (the batch expired or is still running?)")
    elif batch_lines:
        warnings.append("no Batch input file given: model_requested, sampling parameters and input_text are missing (pass batch_input= or put the input file in the same folder)")
    if counts["failed_requests"]:
        warnings.append(f"{counts['failed_requests']} request(s) failed: rejected with their error")
    return OpenAIRead(records, labels, raws, bad, warnings, {k: v for k, v in counts.items() if v}, n_lines)
