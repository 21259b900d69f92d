"""Text of chat messages in the shapes that trace formats use."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["maybe_json", "content_text", "last_user_text", "first_output_text", "finish_reason_of", "document_text"]

#: Where a retrieved document's text sits: GenAI and OpenInference ``content``, LangChain's
#: ``page_content``, LlamaIndex's ``text``.
DOCUMENT_TEXT_KEYS = ("content", "page_content", "text", "document.content")


def document_text(doc: dict[str, Any]) -> str | None:
    """The text of one retrieved document (a dict in a retrieval span's or observation's output)."""
    for k in DOCUMENT_TEXT_KEYS:
        v = doc.get(k)
        if isinstance(v, str) and v.strip():
            return v
    return None


def maybe_json(v: Any) -> Any:
    """Parse strings that hold a JSON object or array; return everything else unchanged."""
    if isinstance(v, str):
        t = v.strip()
        if t[:1] in ("{", "["):
            try:
                return json.loads(t)
            except json.JSONDecodeError:
                return v
    return v


def content_text(c: Any) -> str | None:
    """Text of a message content: a string, a list of parts, or a part/message object."""
    c = maybe_json(c)
    if c is None:
        return None
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        texts = [t for t in (content_text(p) for p in c) if t]
        return "\n".join(texts) if texts else None
    if isinstance(c, dict):
        if c.get("type") not in (None, "text", "input_text", "output_text"):
            return None
        for k in ("content", "text", "parts", "message_content.text"):
            if k in c:
                return content_text(c[k])
        return None
    return str(c)


def _messages(v: Any) -> list[Any] | None:
    v = maybe_json(v)
    if isinstance(v, dict):
        for k in ("messages", "input", "prompt", "contents"):
            if isinstance(v.get(k), list):
                return v[k]
        return None
    if isinstance(v, list):
        return v
    return None


def last_user_text(v: Any) -> str | None:
    """The last user message's text (or the value itself when it is plain text)."""
    v = maybe_json(v)
    if isinstance(v, str):
        return v
    msgs = _messages(v)
    if msgs is None:
        if isinstance(v, dict):
            return content_text(v)
        return None
    users = [m for m in msgs if isinstance(m, dict) and str(m.get("role", "")).lower() in ("user", "human")]
    for m in reversed(users):  # the last user message that holds text (not a tool result)
        t = content_text(m.get("content", m.get("parts")))
        if t:
            return t
    pick = None if users else (msgs[-1] if msgs else None)
    if isinstance(pick, dict):
        return content_text(pick.get("content", pick.get("parts")))
    return content_text(pick)


def first_output_text(v: Any) -> str | None:
    """The answer's text: a string, an assistant message, a list of them, or an OpenAI-style
    response body with ``choices``."""
    v = maybe_json(v)
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and isinstance(v.get("choices"), list) and v["choices"]:
        ch = v["choices"][0]
        if isinstance(ch, dict):
            return content_text((ch.get("message") or {}).get("content") if isinstance(ch.get("message"), dict) else ch.get("text"))
    if isinstance(v, dict) and isinstance(v.get("output"), list):  # a Responses API body
        texts = [content_text(item.get("content")) for item in v["output"] if isinstance(item, dict) and item.get("type") == "message"]
        texts = [t for t in texts if t]
        return "\n".join(texts) if texts else None
    if isinstance(v, dict) and isinstance(v.get("candidates"), list) and v["candidates"]:  # a Gemini body
        return first_output_text(v["candidates"][0])
    if isinstance(v, dict):
        if "content" in v or "parts" in v:
            return content_text(v.get("content", v.get("parts")))
        return None
    if isinstance(v, list) and v:
        return first_output_text(v[0])
    return None


def finish_reason_of(v: Any) -> str | None:
    """The finish reason in a response body: OpenAI ``choices[].finish_reason``, Anthropic
    ``stop_reason``, Gemini ``finish_reason``/``candidates[].finishReason``, Responses ``status``
    when incomplete."""
    v = maybe_json(v)
    if not isinstance(v, dict):
        return None
    if isinstance(v.get("choices"), list) and v["choices"]:
        frs = [str(c["finish_reason"]) for c in v["choices"] if isinstance(c, dict) and c.get("finish_reason")]
        return ",".join(frs) or None
    if isinstance(v.get("candidates"), list) and v["candidates"] and isinstance(v["candidates"][0], dict):
        return finish_reason_of(v["candidates"][0])
    for k in ("finish_reason", "finishReason", "stop_reason"):
        if v.get(k):
            return str(v[k])
    if v.get("object") == "response" and v.get("status") == "incomplete":
        details = v.get("incomplete_details") if isinstance(v.get("incomplete_details"), dict) else {}
        return str(details.get("reason") or "incomplete")
    return None
