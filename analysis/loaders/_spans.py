"""Spans from any trace format, and how a trace becomes events.

Every trace format is first turned into :class:`Span` objects; a *dialect* (OTel GenAI,
OpenInference, Langfuse) says what role each span plays and which canonical columns it fills.
:func:`assemble` then makes one event per inference span (``operation = "chat"``) and one per
embedding span (``operation = "embeddings"``: an embedding call is an inference call of its own
kind, kept apart from the chat metrics by the investigation), and folds the rest of its trace in:

* retrieval spans give ``retrieval_scores``/``retrieval_doc_ids`` to the inference span that
  follows them in the same trace (the first one starting at or after the retrieval started;
  failing that, the last one before it);
* embedding spans also give ``embedding_model`` to the inference span that follows them, the same way;
* evaluation results (``gen_ai.evaluation.result`` events) become ``eval.<name>`` columns of the
  evaluated event (matched by ``gen_ai.response.id``, else the span carrying them or its nearest
  inference ancestor, else the trace's only inference span);
* ancestors (e.g. the request's root span) supply session and user ids when the inference span
  has none, and any attribute a user mapping asks for.

Nothing is dropped silently: every span is counted in ``spans_by_kind`` and spans or
evaluations that could not be attached are named in the warnings.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["Span", "SpanEvent", "Dialect", "Assembled", "assemble", "assembly_warnings", "first_value", "jsonable", "to_float", "param_value",
           "CHAT", "EMBEDDINGS"]

INFERENCE, RETRIEVAL, EMBEDDING, OTHER = "inference", "retrieval", "embedding", "other"
#: The ``operation`` of the events made from inference spans and from embedding spans.
CHAT, EMBEDDINGS = "chat", "embeddings"


@dataclass
class SpanEvent:
    name: str
    time_ns: int | None
    attrs: dict[str, Any]


@dataclass
class Span:
    trace_id: str | None
    span_id: str | None
    parent_id: str | None
    name: str | None
    start_ns: int | None
    end_ns: int | None
    attrs: dict[str, Any]
    row: int
    source: Any = None  # the record it came from, for the `raw` column of rejected rows
    kind: str | None = None
    events: list[SpanEvent] = field(default_factory=list)
    status: str | None = None
    status_message: str | None = None
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str | None = None
    dialect: Any = None
    start: Any = None  # formats with textual timestamps keep them here (coerced later)
    end: Any = None

    def raw(self) -> str:
        try:
            return json.dumps(self.source, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            return str(self.source)


class Dialect:
    """What a span means in one attribute convention. Subclasses override the hooks."""

    name = "base"

    def role(self, span: Span) -> str:
        return OTHER

    def fields(self, span: Span) -> dict[str, Any]:
        return {}

    def retrieval_docs(self, span: Span) -> list[tuple[Any, Any, Any]]:
        """The retrieved documents of a retrieval span: ``(id, score, text)`` each."""
        return []

    def embedding_model(self, span: Span) -> str | None:
        return None

    def embedding_text(self, span: Span) -> str | None:
        """The text an embedding span embedded (the first one), when the convention records it."""
        return None

    def inherited(self, span: Span) -> dict[str, Any]:
        """Columns an ancestor can supply when the event lacks them (session, user)."""
        return {}

    def context(self, span: Span) -> dict[str, Any]:
        """Keys a user mapping can name."""
        return dict(span.attrs)

    def kind_label(self, span: Span) -> str:
        """What a span that is not an inference span is, for the load report (e.g. ``CHAIN``)."""
        a = span.attrs
        v = a.get("openinference.span.kind") or a.get("gen_ai.operation.name") or a.get("traceloop.span.kind")
        if v:
            return str(v)
        return f"{span.kind} span" if span.kind else "span without a GenAI operation"

    def evaluations(self, span: Span) -> list[dict[str, Any]]:
        out = []
        for ev in span.events:
            if ev.name == "gen_ai.evaluation.result":
                out.append(ev.attrs)
        return out


def to_float(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


_NO_VALUE = frozenset({"", "null", "none", "nil", "undefined", "nan", "inf", "+inf", "-inf", "infinity", "-infinity"})


def param_value(v: Any) -> Any:
    """A model parameter as recorded, or None when it says "no value".

    SDKs write unset parameters as JSON ``null``, as the strings ``"null"``/``"None"``/
    ``"undefined"``, or as infinities (``max_tokens: Infinity``): a missing optional value never
    costs the event.
    """
    if v is None or isinstance(v, (dict, list)):
        return None
    if isinstance(v, str) and v.strip().lower() in _NO_VALUE:
        return None
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    return v


def first_value(a: dict[str, Any], *keys: str) -> Any:
    """The value of the first key that is present and neither None nor an empty string."""
    for k in keys:
        v = a.get(k)
        if v is not None and v != "":
            return v
    return None


def jsonable(v: Any) -> Any:
    """Scalars as they are; lists and dicts as JSON text (extra columns stay flat)."""
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, ensure_ascii=False, default=str, sort_keys=isinstance(v, dict))
    return v


@dataclass
class Assembled:
    records: list[dict[str, Any]]
    labels: list[int]
    raws: list[str]
    spans_by_kind: dict[str, int]
    warnings: list[str]
    other_kinds: dict[str, int] = field(default_factory=dict)
    unused: dict[str, int] = field(default_factory=dict)
    unused_traces: dict[str, list[str]] = field(default_factory=dict)
    eval_unattached: int = 0
    eval_attached: int = 0


def _order_key(s: Span) -> tuple[int, int]:
    t = s.start_ns
    if t is None and s.start is not None:
        try:
            ts = pd.Timestamp(s.start)
            t = ts.value if ts.tzinfo else ts.tz_localize("UTC").value
        except (ValueError, TypeError):
            t = None
    return (0, t) if t is not None else (1, 0)


@dataclass
class _Links:
    """What :func:`assemble` learns from the traces, per span index: role, ancestors (nearest
    first), the retrieval and embedding spans folded into each inference span, the evaluations
    attached to it; and the counts for the load report."""

    roles: list[str]
    ancestors: dict[int, list[int]] = field(default_factory=dict)
    folded: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    evals: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    counts: Counter = field(default_factory=Counter)
    other_kinds: Counter = field(default_factory=Counter)
    unused: Counter = field(default_factory=Counter)
    unused_traces: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    eval_unattached: int = 0


def assemble(spans: list[Span], *, mapping_sources: list[str] = ()) -> Assembled:
    """One event per inference and per embedding span, with the rest of its trace folded in (see the
    module docstring).

    ``mapping_sources`` are the attribute keys a user mapping reads: each is copied into the event
    from the span, its folded spans, its ancestors or its resource when the event lacks it.
    """
    links = _link_traces(spans)
    records: list[dict[str, Any]] = []
    labels: list[int] = []
    raws: list[str] = []
    eval_attached = 0
    for i, s in enumerate(spans):
        if links.roles[i] == INFERENCE:
            rec = _event_record(spans, i, links, mapping_sources)
            rec["operation"] = CHAT
        elif links.roles[i] == EMBEDDING:
            rec = _embedding_record(spans, i, links, mapping_sources)
        else:
            continue
        eval_attached += len(links.evals.get(i, []))
        records.append(rec)
        labels.append(s.row)
        raws.append(s.raw)
    unused, unused_traces = links.unused, links.unused_traces
    unused_shown = {r: sorted(set(t for t in unused_traces[r] if not t.startswith("\x00")))[:4] for r in unused}
    warnings = assembly_warnings(dict(unused), unused_shown, links.eval_unattached, eval_attached)
    return Assembled(records, labels, raws, dict(links.counts), warnings, dict(links.other_kinds), dict(unused),
                     unused_shown, links.eval_unattached, eval_attached)


def _link_traces(spans: list[Span]) -> _Links:
    """Group the spans by trace (a span without one is its own trace) and link each trace."""
    links = _Links([s.dialect.role(s) for s in spans])
    by_trace: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(spans):
        by_trace[s.trace_id if s.trace_id else f"\x00no-trace-{i}"].append(i)
    for tid, idxs in by_trace.items():
        inf = sorted((i for i in idxs if links.roles[i] == INFERENCE), key=lambda i: _order_key(spans[i]))
        _trace_ancestors(spans, idxs, links.ancestors)
        _fold_trace(spans, tid, idxs, inf, links)
        _attach_evaluations(spans, idxs, inf, links)
    return links


def _trace_ancestors(spans: list[Span], idxs: list[int], ancestors: dict[int, list[int]]) -> None:
    """Each span's ancestors within its trace, nearest first (a parent cycle is cut)."""
    by_id = {}
    for i in idxs:
        if spans[i].span_id and spans[i].span_id not in by_id:
            by_id[spans[i].span_id] = i
    for i in idxs:
        chain, seen, p = [], {i}, spans[i].parent_id
        while p and p in by_id and by_id[p] not in seen:
            j = by_id[p]
            chain.append(j)
            seen.add(j)
            p = spans[j].parent_id
        ancestors[i] = chain  # nearest first


def _fold_trace(spans: list[Span], tid: str, idxs: list[int], inf: list[int], links: _Links) -> None:
    """Fold each retrieval and embedding span into an inference span of the trace, and count roles.

    The target is the first inference span (``inf``, in start order) starting at or after the
    span, failing that the last one; in a trace without inference span a retrieval span is
    unused. Embedding spans are counted as ``embedding`` (each is an event of its own too).
    """
    roles, counts = links.roles, links.counts
    for i in idxs:
        r = roles[i]
        if r == EMBEDDING:
            counts[EMBEDDING] += 1
        if r in (RETRIEVAL, EMBEDDING):
            if not inf:
                if r == EMBEDDING:
                    continue
                counts[f"{r}_unused"] += 1
                links.unused[r] += 1
                links.unused_traces[r].append(tid)
                continue
            k = _order_key(spans[i])
            after = [j for j in inf if _order_key(spans[j]) >= k]
            target = after[0] if after else inf[-1]
            links.folded[target].append(i)
            if r == RETRIEVAL:
                counts[f"{r}_folded"] += 1
        elif r == INFERENCE:
            counts[INFERENCE] += 1
        else:
            counts[OTHER] += 1
            links.other_kinds[spans[i].dialect.kind_label(spans[i])] += 1


def _attach_evaluations(spans: list[Span], idxs: list[int], inf: list[int], links: _Links) -> None:
    """Attach the evaluations recorded anywhere in the trace to its inference spans.

    By ``gen_ai.response.id``, else the span carrying them or its nearest inference ancestor, else
    the trace's only inference span; otherwise counted as unattached.
    """
    roles = links.roles
    resp_ids = {}
    for j in inf:
        rid = spans[j].attrs.get("gen_ai.response.id")
        if rid:
            resp_ids[str(rid)] = j
    for i in idxs:
        for ev in spans[i].dialect.evaluations(spans[i]):
            target = None
            rid = ev.get("gen_ai.response.id")
            if rid and str(rid) in resp_ids:
                target = resp_ids[str(rid)]
            elif roles[i] == INFERENCE:
                target = i
            else:
                target = next((a for a in links.ancestors[i] if roles[a] == INFERENCE), None)
                if target is None and len(inf) == 1:
                    target = inf[0]
            if target is None:
                links.eval_unattached += 1
            else:
                links.evals[target].append(ev)


def _event_record(spans: list[Span], i: int, links: _Links, mapping_sources: list[str]) -> dict[str, Any]:
    """The event of inference span ``i``: its fields, what its ancestors and folded spans supply,
    its evaluations as ``eval.<name>`` columns and the keys the mapping reads."""
    s = spans[i]
    rec = s.dialect.fields(s)
    ancestors = links.ancestors.get(i, [])
    folded = links.folded.get(i, [])
    for a in ancestors:
        for k, v in spans[a].dialect.inherited(spans[a]).items():
            if rec.get(k) is None and v is not None:
                rec[k] = v
    _fold_into(rec, [spans[j] for j in folded], [links.roles[j] for j in folded])
    for ev in links.evals.get(i, []):
        name = ev.get("gen_ai.evaluation.name") or "unnamed"
        if "gen_ai.evaluation.score.value" in ev:
            rec[f"eval.{name}"] = to_float(ev.get("gen_ai.evaluation.score.value"))
        if ev.get("gen_ai.evaluation.score.label") is not None:
            rec[f"eval.{name}.label"] = ev.get("gen_ai.evaluation.score.label")
    if mapping_sources:
        ctx: dict[str, Any] = dict(s.resource)
        for a in reversed(ancestors):
            ctx.update(spans[a].dialect.context(spans[a]))
        for j in folded:
            ctx.update(spans[j].dialect.context(spans[j]))
        ctx.update(s.dialect.context(s))
        ctx.update({k: v for k, v in rec.items() if v is not None})
        for src in mapping_sources:
            if src in ctx and src not in rec:
                rec[src] = jsonable(ctx[src])
    return rec


def _embedding_record(spans: list[Span], i: int, links: _Links, mapping_sources: list[str]) -> dict[str, Any]:
    """The event of embedding span ``i``: its dialect's fields and its ancestors' (as for a chat
    event), ``operation = "embeddings"``, its model as ``embedding_model`` (and as
    ``model_version`` when the span names no other), the embedded text as ``input_text`` when the
    dialect has it, and no output text (the output is vectors)."""
    s = spans[i]
    rec = _event_record(spans, i, links, mapping_sources)
    model = s.dialect.embedding_model(s)
    rec["operation"] = EMBEDDINGS
    rec["embedding_model"] = model
    if rec.get("model_version") is None and model is not None:
        rec["model_version"] = model
    rec["input_text"] = s.dialect.embedding_text(s) or rec.get("input_text")
    rec["output_text"] = None
    return rec


def _fold_into(rec: dict[str, Any], folded: list[Span], roles: list[str]) -> None:
    """Fill ``rec``'s embedding model and retrieved documents (best score first: ids, scores and
    texts) from folded spans."""
    docs: list[tuple[Any, Any, Any]] = []
    for f, r in zip(folded, roles):
        if r == RETRIEVAL:
            docs += f.dialect.retrieval_docs(f)
        em = f.dialect.embedding_model(f)
        if em and rec.get("embedding_model") is None:
            rec["embedding_model"] = em
    if docs and rec.get("retrieval_scores") is None:
        docs = sorted(docs, key=lambda x: -(to_float(x[1]) if to_float(x[1]) is not None else -math.inf))
        scores = [to_float(sc) for _, sc, _ in docs]
        rec["retrieval_scores"] = scores if any(x is not None for x in scores) else None
        ids = [None if di is None else str(di) for di, _, _ in docs]
        rec["retrieval_doc_ids"] = ids if any(x is not None for x in ids) else None
    if docs and rec.get("retrieval_documents") is None:
        texts = [None if tx is None else str(tx) for _, _, tx in docs]
        rec["retrieval_documents"] = texts if any(x is not None for x in texts) else None


def assembly_warnings(unused: dict[str, int], unused_traces: dict[str, list[str]], eval_unattached: int, eval_attached: int) -> list[str]:
    """The load report's words for the spans and evaluations :func:`assemble` could not use."""
    warnings = []
    for r, n in unused.items():
        tids = unused_traces.get(r, [])
        shown = ", ".join(tids[:3])
        warnings.append(
            f"{n} {r} span(s) are in traces with no inference span and were not used"
            + (f" (traces {shown}{' ...' if len(tids) > 3 else ''})" if shown else "")
        )
    if eval_unattached:
        warnings.append(f"{eval_unattached} evaluation result(s) could not be matched to an inference span and were not used")
    if eval_attached:
        warnings.append(f"{eval_attached} evaluation result(s) kept as eval.<name> columns (outcomes only through `mapping`)")
    return warnings
