"""The Vercel AI SDK's span attributes (``ai.*``), on top of the OTel GenAI conventions.

The SDK names its inference spans ``ai.generateText.doGenerate``, ``ai.streamText.doStream``,
``ai.generateObject.doGenerate`` and ``ai.streamObject.doStream`` (also in ``ai.operationId``);
the outer ``ai.generateText``/``ai.streamText`` span repeats the call and is counted as other, so
a call is one event. Embedding calls are ``ai.embed.doEmbed``/``ai.embedMany.doEmbed``. Where a
GenAI attribute is missing its ``ai.*`` twin is read: ``ai.response.model``/``ai.model.id``,
``ai.model.provider``, ``ai.usage.promptTokens``/``inputTokens``, ``ai.usage.completionTokens``/
``outputTokens``, ``ai.response.finishReason``, ``ai.settings.*``, ``ai.prompt.messages``,
``ai.response.text``; ``ai.telemetry.metadata.<key>`` becomes ``metadata.<key>``.
"""

from __future__ import annotations

import re
from typing import Any

from ._messages import last_user_text, maybe_json
from ._spans import EMBEDDING, INFERENCE, OTHER, Span, first_value, param_value
from .otlp import GenAIDialect

__all__ = ["VercelAIDialect", "VERCEL_AI", "is_vercel_span"]

_INFERENCE = re.compile(r"^ai\.\w+\.(doGenerate|doStream)$")
_EMBED = re.compile(r"^ai\.(embed|embedMany)\.doEmbed$")
_CONTENT = re.compile(r"^ai\.(prompt(\..*)?|response\.(text|toolCalls|object|reasoning)|toolCall\.(args|result)|value|values|embeddings?)$")
_SETTINGS = {"temperature": "temperature", "top_p": "topP", "top_k": "topK", "seed": "seed"}


def _operation(span: Span) -> str:
    return str(span.attrs.get("ai.operationId") or span.name or "")


def is_vercel_span(span: Span) -> bool:
    return "ai.operationId" in span.attrs or (str(span.name or "").startswith("ai.") and any(k.startswith("ai.") for k in span.attrs))


class VercelAIDialect(GenAIDialect):
    name = "vercel-ai"

    def role(self, span: Span) -> str:
        op = _operation(span)
        if _INFERENCE.match(op):
            return INFERENCE
        if _EMBED.match(op):
            return EMBEDDING
        return OTHER

    def kind_label(self, span: Span) -> str:
        return _operation(span) or "span"

    def fields(self, span: Span) -> dict[str, Any]:
        a = span.attrs
        rec = super().fields(span)
        rec.pop("_model_from_request", None)
        fill = {
            "model_version": first_value(a, "gen_ai.response.model", "ai.response.model", "ai.model.id"),
            "model_requested": first_value(a, "gen_ai.request.model", "ai.model.id"),
            "provider": first_value(a, "gen_ai.system", "gen_ai.provider.name", "ai.model.provider"),
            "input_tokens": first_value(a, "gen_ai.usage.input_tokens", "ai.usage.inputTokens", "ai.usage.promptTokens", "ai.usage.tokens"),
            "output_tokens": first_value(a, "gen_ai.usage.output_tokens", "ai.usage.outputTokens", "ai.usage.completionTokens"),
            "finish_reason": rec.get("finish_reason") or first_value(a, "ai.response.finishReason"),
            "max_tokens": param_value(first_value(a, "gen_ai.request.max_tokens", "ai.settings.maxOutputTokens", "ai.settings.maxTokens")),
            "input_text": rec.get("input_text") or self._prompt_text(a),
            "output_text": rec.get("output_text") or first_value(a, "ai.response.text"),
            "ai.response.id": first_value(a, "ai.response.id", "gen_ai.response.id"),
        }
        for col, key in _SETTINGS.items():
            fill[col] = param_value(first_value(a, f"gen_ai.request.{col}", f"ai.settings.{key}"))
        for k, v in fill.items():
            if v is not None:
                rec[k] = v
        for k in list(rec):
            if k.startswith("ai.telemetry.metadata."):
                rec["metadata." + k[len("ai.telemetry.metadata."):]] = rec.pop(k)
            elif _CONTENT.match(k) or k.startswith(("ai.settings.", "ai.usage.")) or k in ("ai.model.id", "ai.model.provider", "ai.response.model", "ai.response.finishReason"):
                rec.pop(k)
        return rec

    @staticmethod
    def _prompt_text(a: dict[str, Any]) -> str | None:
        msgs = maybe_json(a.get("ai.prompt.messages"))
        if msgs is not None:
            return last_user_text(msgs)
        p = maybe_json(a.get("ai.prompt"))
        if isinstance(p, dict):
            return last_user_text(p.get("messages")) if p.get("messages") else (p.get("prompt") if isinstance(p.get("prompt"), str) else None)
        return p if isinstance(p, str) else None

    def embedding_model(self, span: Span) -> str | None:
        if self.role(span) == EMBEDDING:
            return first_value(span.attrs, "gen_ai.response.model", "ai.model.id")
        return None

    def embedding_text(self, span: Span) -> str | None:
        v = maybe_json(first_value(span.attrs, "ai.value", "ai.values"))
        if isinstance(v, list):
            v = next((x for x in v if isinstance(x, str) and x), None)
        return v if isinstance(v, str) and v else None


VERCEL_AI = VercelAIDialect()
