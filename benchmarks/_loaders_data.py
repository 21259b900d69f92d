"""Synthetic canonical events for the loader benchmark (written to benchmarks/_data/, gitignored)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

DATA = Path(__file__).resolve().parent / "_data"

_QUERIES = [
    "What is the statute of limitations for a breach of contract claim in {x}?",
    "I have chest pain and shortness of breath since {x}, what should I do?",
    "How do I reset the password of my account {x}?",
    "Summarise the holding of the case cited in paragraph {x} of the brief.",
    "Can I take ibuprofen together with {x}?",
    "Why was my card charged twice on {x}?",
]
_ANSWERS = [
    "Under the applicable rules the limitation period is generally six years from the date of the breach; "
    "see the cited authority {x} and check whether any tolling applies to your situation.",
    "I can't give medical advice for these symptoms. Chest pain with shortness of breath can be an emergency: "
    "call your local emergency number now. Reference {x}.",
    "You can reset it from Settings > Security > Reset password. If you no longer have access to the e-mail "
    "on file, contact support with ticket {x}.",
]


def make_events(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` canonical events with realistic columns (strings, numbers, booleans, a score list)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-01-01", tz="UTC").value
    ts = np.sort(start + rng.integers(0, 30 * 86400 * 10**9, n))
    ids = rng.integers(0, 2**63, n, dtype=np.int64)
    k = 5
    scores = np.sort(rng.beta(8, 3, size=(n, k)), axis=1)[:, ::-1].round(4)
    offsets = np.arange(0, n * k + 1, k, dtype=np.int32)
    nums = rng.integers(0, 10**6, n)
    frame = pd.DataFrame(
        {
            "event_id": pd.array([f"ev-{i:016x}" for i in ids.tolist()], dtype="string[pyarrow]"),
            "ts": pd.DatetimeIndex(ts.view("M8[ns]")).tz_localize("UTC"),
            "trace_id": pd.array([f"{i:016x}{j:016x}" for i, j in zip(ids.tolist(), nums.tolist())], dtype="string[pyarrow]"),
            "session_id": pd.array([f"sess-{i % 200_000:06d}" for i in nums.tolist()], dtype="string[pyarrow]"),
            "user_id": pd.array([f"user-{i % 50_000:05d}" for i in nums.tolist()], dtype="string[pyarrow]"),
            "model_version": pd.array(rng.choice(["gpt-4o-2024-08-06", "gpt-4o-2024-11-20"], n), dtype="string[pyarrow]"),
            "provider": pd.array(np.full(n, "openai"), dtype="string[pyarrow]"),
            "upstream_fingerprint": pd.array(rng.choice(["fp_a7d06e42a7", "fp_5f20662549", "fp_831e067d82"], n), dtype="string[pyarrow]"),
            "prompt_template_version": pd.array(rng.choice(["v12", "v13"], n), dtype="string[pyarrow]"),
            "embedding_model": pd.array(np.full(n, "text-embedding-3-large"), dtype="string[pyarrow]"),
            "index_version": pd.array(rng.choice(["idx-2026-01-02", "idx-2026-01-16"], n), dtype="string[pyarrow]"),
            "temperature": rng.choice([0.0, 0.2, 0.7], n),
            "top_p": np.full(n, 1.0),
            "max_tokens": pd.array(rng.choice([512, 1024], n), dtype="Int64"),
            "query_category": pd.array(rng.choice(["billing", "account", "legal", "medical", "other"], n), dtype="string[pyarrow]"),
            "risk_category": pd.array(rng.choice(["low", "medium", "high"], n, p=[0.7, 0.25, 0.05]), dtype="string[pyarrow]"),
            "traffic_source": pd.array(rng.choice(["app", "web", "api", "partner"], n), dtype="string[pyarrow]"),
            "input_text": pd.array([_QUERIES[i % 6].format(x=i) for i in nums.tolist()], dtype="string[pyarrow]"),
            "output_text": pd.array([_ANSWERS[i % 3].format(x=i) for i in nums.tolist()], dtype="string[pyarrow]"),
            "refused": pd.array(rng.random(n) < 0.05, dtype="boolean"),
            "escalated": pd.array(rng.random(n) < 0.1, dtype="boolean"),
            "correct": pd.array(np.where(rng.random(n) < 0.8, rng.random(n) < 0.9, pd.NA), dtype="boolean"),
            "confidence": rng.beta(6, 2, n).round(4),
            "retrieval_scores": pd.Series(
                pd.arrays.ArrowExtensionArray(pa.ListArray.from_arrays(offsets, pa.array(scores.ravel())))
            ),
            "latency_ms": rng.gamma(4, 300, n).round(1),
            "input_tokens": pd.array(rng.integers(50, 3000, n), dtype="Int64"),
            "output_tokens": pd.array(rng.integers(20, 800, n), dtype="Int64"),
            "finish_reason": pd.array(rng.choice(["stop", "length"], n, p=[0.97, 0.03]), dtype="string[pyarrow]"),
            "status": pd.array(rng.choice(["ok", "error"], n, p=[0.99, 0.01]), dtype="string[pyarrow]"),
        }
    )
    return frame


def write_files(n: int, seed: int = 0, *, directory: Path = DATA) -> dict[str, Path]:
    """Write the events as Parquet, JSONL and CSV (once; reused while ``n`` is unchanged)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {fmt: directory / f"events_{n}.{fmt}" for fmt in ("parquet", "jsonl", "csv")}
    if all(p.exists() for p in paths.values()):
        return paths
    frame = make_events(n, seed)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, paths["parquet"], row_group_size=128 * 1024)
    text = frame.copy()
    text["ts"] = frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    text["retrieval_scores"] = [json.dumps(x) for x in frame["retrieval_scores"].array._pa_array.to_pylist()]  # noqa: SLF001
    text.to_csv(paths["csv"], index=False)
    with open(paths["jsonl"], "w", encoding="utf-8") as f:
        cols = list(frame.columns)
        obj = frame.astype(object).where(frame.notna(), None)
        obj["ts"] = text["ts"]
        obj["retrieval_scores"] = frame["retrieval_scores"].array._pa_array.to_pylist()  # noqa: SLF001
        for row in obj.itertuples(index=False, name=None):
            f.write(json.dumps(dict(zip(cols, row))) + "\n")
    return paths


# --------------------------------------------------------------------------------------------
# A large OTLP JSON Lines export, as the collector's file exporter writes it
# --------------------------------------------------------------------------------------------

_RESOURCE = {"attributes": [
    {"key": "service.name", "value": {"stringValue": "legal-rag"}},
    {"key": "service.version", "value": {"stringValue": "2.3.1"}},
    {"key": "deployment.environment", "value": {"stringValue": "prod"}},
    {"key": "telemetry.sdk.language", "value": {"stringValue": "python"}},
    {"key": "telemetry.sdk.name", "value": {"stringValue": "opentelemetry"}},
]}
_SCOPE = {"name": "legal_rag.app", "version": "2.3.1"}


def _s(k: str, v: str) -> dict:
    return {"key": k, "value": {"stringValue": v}}


def _i(k: str, v: int) -> dict:
    return {"key": k, "value": {"intValue": str(v)}}


def _d(k: str, v: float) -> dict:
    return {"key": k, "value": {"doubleValue": v}}


_SYSTEM = ("You are a careful legal research assistant for a law firm. Answer only from the retrieved case law, cite every "
           "case you rely on by its identifier, say plainly when the retrieved cases do not answer the question, never give "
           "advice on a matter outside the firm's practice areas, and keep answers under two hundred words. Use the firm's "
           "citation style, mark quotations, and flag any case that has been overruled or distinguished since it was decided.")


def _trace_spans(t: int, rng: np.random.Generator, t0: int) -> list[dict]:
    """One request: a server root span, an embeddings span, a retrieval span and a chat span."""
    tid = f"{rng.integers(0, 2**63):016x}{t:016x}"
    sid = [f"{t:012x}{k:04x}" for k in range(4)]
    start = t0 + t * 2_600_000_000 + int(rng.integers(0, 10**9))
    lat = int(rng.gamma(4, 300) * 1e6)
    model = "gpt-4o-2024-08-06" if t % 7 else "gpt-4o-2024-11-20"
    q = _QUERIES[t % 6].format(x=t)
    a = _ANSWERS[t % 3].format(x=t)
    docs = [{"id": f"case-{(t * 7 + k) % 9000}", "score": round(0.9 - 0.07 * k - 0.01 * (t % 5), 4)} for k in range(3)]
    common = {"traceId": t, "status": {}, "flags": 256}
    return [
        {**common, "traceId": tid, "spanId": sid[0], "name": "POST /ask", "kind": 2, "startTimeUnixNano": str(start),
         "endTimeUnixNano": str(start + lat + 120_000_000),
         "attributes": [_s("http.request.method", "POST"), _s("url.path", "/ask"), _s("session.id", f"sess-{t // 5:07d}"),
                        _s("user.id", f"user-{t % 50_000:05d}"), _s("app.risk_tier", ("low", "medium", "high")[t % 3])]},
        {**common, "traceId": tid, "spanId": sid[1], "parentSpanId": sid[0], "name": "embeddings text-embedding-3-large", "kind": 3,
         "startTimeUnixNano": str(start + 5_000_000), "endTimeUnixNano": str(start + 40_000_000),
         "attributes": [_s("gen_ai.operation.name", "embeddings"), _s("gen_ai.provider.name", "openai"),
                        _s("gen_ai.request.model", "text-embedding-3-large"), _i("gen_ai.usage.input_tokens", 14 + t % 30)]},
        {**common, "traceId": tid, "spanId": sid[2], "parentSpanId": sid[0], "name": "retrieval case-law-index", "kind": 3,
         "startTimeUnixNano": str(start + 41_000_000), "endTimeUnixNano": str(start + 90_000_000),
         "attributes": [_s("gen_ai.operation.name", "retrieval"), _s("gen_ai.data_source.id", "case-law-index"), _i("gen_ai.request.top_k", 3),
                        _s("gen_ai.retrieval.documents", json.dumps(docs)), _s("app.index_version", "idx-2026-01-02")]},
        {**common, "traceId": tid, "spanId": sid[3], "parentSpanId": sid[0], "name": f"chat {model}", "kind": 3,
         "startTimeUnixNano": str(start + 95_000_000), "endTimeUnixNano": str(start + 95_000_000 + lat),
         "attributes": [_s("gen_ai.operation.name", "chat"), _s("gen_ai.provider.name", "openai"), _s("gen_ai.request.model", "gpt-4o"),
                        _s("gen_ai.response.model", model), _d("gen_ai.request.temperature", 0.2), _i("gen_ai.request.max_tokens", 1024),
                        _i("gen_ai.usage.input_tokens", 400 + t % 2000), _i("gen_ai.usage.output_tokens", 50 + t % 700),
                        _s("gen_ai.response.id", f"chatcmpl-{t:012d}"),
                        {"key": "gen_ai.response.finish_reasons", "value": {"arrayValue": {"values": [{"stringValue": "stop"}]}}},
                        _s("gen_ai.input.messages", json.dumps([{"role": "system", "parts": [{"type": "text", "content": _SYSTEM}]},
                                                                 {"role": "user", "parts": [{"type": "text", "content": q}]}])),
                        _s("gen_ai.output.messages", json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": a}], "finish_reason": "stop"}]))]},
    ]


def write_otlp_jsonl(n_spans: int, seed: int = 0, *, directory: Path = DATA, spans_per_line: int = 100) -> Path:
    """``n_spans`` OTLP spans (requests of four spans: server, embeddings, retrieval, chat) as the
    collector's file exporter writes them: one ``TracesData`` per line, ``spans_per_line`` spans each,
    hex ids, integer enums, int64 as strings. Written once; reused while ``n_spans`` is unchanged."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"otlp_{n_spans}.jsonl"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2026-01-01", tz="UTC").value
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        line: list[dict] = []
        written = 0
        t = 0
        while written < n_spans:
            for sp in _trace_spans(t, rng, t0)[: n_spans - written]:
                line.append(sp)
                written += 1
                if len(line) == spans_per_line:
                    f.write(json.dumps({"resourceSpans": [{"resource": _RESOURCE, "scopeSpans": [{"scope": _SCOPE, "spans": line}]}]},
                                       separators=(",", ":")) + "\n")
                    line = []
            t += 1
        if line:
            f.write(json.dumps({"resourceSpans": [{"resource": _RESOURCE, "scopeSpans": [{"scope": _SCOPE, "spans": line}]}]},
                               separators=(",", ":")) + "\n")
    tmp.rename(path)
    return path
