"""Format detection from the file extension and the first records."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from .result import LoadError

__all__ = ["detect_format", "EVENT_FORMATS", "CHANGE_FORMATS", "normalize_format"]

EVENT_FORMATS = ("parquet", "jsonl", "json", "csv", "otlp", "phoenix", "langfuse")
CHANGE_FORMATS = ("csv", "jsonl", "json", "yaml", "parquet")
_ALIASES = {"ndjson": "jsonl", "yml": "yaml", "pq": "parquet", "otel": "otlp", "otlp-json": "otlp"}
_HEAD = 1 << 20  # bytes sniffed


def normalize_format(fmt: str, path: Path, table: str) -> str:
    """Check a caller-given ``format``; ``openinference`` and ``canonical`` are resolved from the file."""
    allowed = EVENT_FORMATS if table == "events" else CHANGE_FORMATS
    f = _ALIASES.get(str(fmt).lower(), str(fmt).lower())
    if f == "openinference":
        found = detect_format(path, table)
        if found not in ("otlp", "phoenix"):
            raise LoadError(f"`format`='openinference' but the file holds neither OTLP spans nor a Phoenix spans dataframe (it looks like {found!r}).", source=str(path))
        return found
    if f == "canonical":
        f = _by_extension(path) or "jsonl"
    if f not in allowed:
        raise LoadError(f"`format` must be one of {list(allowed) + ['openinference', 'canonical']}, got {fmt!r}.", source=str(path))
    return f


def _by_extension(path: Path) -> str | None:
    ext = path.suffix.lower().lstrip(".")
    return {"parquet": "parquet", "pq": "parquet", "jsonl": "jsonl", "ndjson": "jsonl", "json": "json",
            "csv": "csv", "yaml": "yaml", "yml": "yaml"}.get(ext)


def _looks_langfuse_observation(d: dict[str, Any]) -> bool:
    return "type" in d and ("start_time" in d or "startTime" in d)


def _looks_langfuse_score(d: dict[str, Any]) -> bool:
    return "name" in d and ("data_type" in d or "dataType" in d) and ("trace_id" in d or "traceId" in d)


def _classify_object(d: Any) -> str | None:
    if isinstance(d, list):
        return _classify_object(d[0]) if d else None
    if not isinstance(d, dict):
        return None
    if "resourceSpans" in d or "resource_spans" in d or "scopeSpans" in d or "scope_spans" in d:
        return "otlp"
    if "context.span_id" in d or "context.trace_id" in d or any(str(k).startswith("attributes.") for k in d):
        return "phoenix"
    if isinstance(d.get("context"), dict) and "span_id" in d["context"]:
        return "phoenix"
    if "observations" in d and ("trace" in d or "scores" in d):
        return "langfuse"
    if isinstance(d.get("data"), list) and d["data"] and isinstance(d["data"][0], dict) and (
        _looks_langfuse_observation(d["data"][0]) or _looks_langfuse_score(d["data"][0])
    ):
        return "langfuse"
    if _looks_langfuse_observation(d) or _looks_langfuse_score(d):
        return "langfuse"
    return None


def _sniff_json(head: str) -> str | None:
    """Classify JSON text from its head: line by line first, then by key names."""
    for line in head.splitlines()[:50]:
        t = line.strip()
        if not t:
            continue
        try:
            obj = json.loads(t)
        except json.JSONDecodeError:
            continue
        c = _classify_object(obj)
        return c or "canonical"
    stripped = head.lstrip()
    try:  # a small whole document
        obj = json.loads(stripped)
        c = _classify_object(obj)
        return c or "canonical"
    except json.JSONDecodeError:
        pass
    if '"resourceSpans"' in head or '"scopeSpans"' in head or '"resource_spans"' in head:
        return "otlp"
    if '"observations"' in head and ('"trace"' in head or '"scores"' in head):
        return "langfuse"
    if '"context.span_id"' in head or '"attributes.' in head:
        return "phoenix"
    if ('"startTime"' in head or '"start_time"' in head) and '"type"' in head:
        return "langfuse"
    return None


def detect_format(path: str | Path, table: str = "events") -> str:
    """The format of ``path``: one of :data:`EVENT_FORMATS` (or :data:`CHANGE_FORMATS`).

    Rules: a directory is a Langfuse export; ``.parquet`` is a Phoenix spans dataframe when it
    has ``context.span_id`` or ``attributes.*`` columns, else a canonical table; ``.yaml``/
    ``.yml`` is a change log; ``.csv`` is a Langfuse observations export when its header has
    ``type`` and ``start_time``/``startTime``, else canonical; ``.json``/``.jsonl`` (and unknown
    extensions holding JSON) are classified by their first records: ``resourceSpans`` or
    ``scopeSpans`` -> OTLP, ``context.span_id``/``attributes.*`` -> Phoenix, Langfuse
    observations/scores or a single-trace download -> Langfuse, anything else -> canonical rows.
    """
    p = Path(path)
    if p.is_dir():
        if table == "events":
            return "langfuse"
        raise LoadError("is a directory; a change log is one CSV, JSONL, JSON or YAML file.", source=str(p))
    ext = _by_extension(p)
    with open(p, "rb") as f:
        head_b = f.read(_HEAD)
    if ext == "parquet" or head_b[:4] == b"PAR1":
        if table == "changes":
            return "parquet"
        import pyarrow.parquet as pq

        try:
            names = pq.ParquetFile(p).schema_arrow.names
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types for corrupt files
            raise LoadError(f"cannot read as Parquet: {e}", source=str(p)) from None
        if "context.span_id" in names or any(n.startswith("attributes.") for n in names):
            return "phoenix"
        return "parquet"
    if ext == "yaml":
        if table == "events":
            raise LoadError("YAML is read only for change logs; events come as Parquet, JSONL, JSON, CSV or a trace export.", source=str(p))
        return "yaml"
    head = head_b.decode("utf-8", errors="replace").lstrip("\ufeff")
    if ext == "csv":
        if table == "events":
            first = next(csv.reader(io.StringIO(head.split("\n", 1)[0])), [])
            cols = {c.strip() for c in first}
            if "type" in cols and ("start_time" in cols or "startTime" in cols):
                return "langfuse"
        return "csv"
    kind = _sniff_json(head)
    if table == "changes":
        if ext in ("json", "jsonl"):
            return ext
        if kind is not None:
            return "json" if head.lstrip().startswith("[") else "jsonl"
        return "csv"
    if kind in ("otlp", "phoenix", "langfuse"):
        return kind
    if ext in ("json", "jsonl"):
        if ext == "json" and head.lstrip().startswith("{") and kind is None:
            return "jsonl"
        if ext == "jsonl":
            return "jsonl"
        return "json" if head.lstrip().startswith("[") else "jsonl"
    if kind == "canonical":
        return "json" if head.lstrip().startswith("[") else "jsonl"
    if head.lstrip().startswith(("{", "[")):
        return "json" if head.lstrip().startswith("[") else "jsonl"
    return "csv"
