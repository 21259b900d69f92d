"""Format detection by content: what a file (or folder) holds, whatever its extension.

:func:`sniff` reads the head of a file (decompressing gzip and zstd) and finds its layout
(Parquet, CSV, JSON Lines, a JSON document, length-prefixed protobuf, SQLite) and its first
record; :func:`classify_record` tells from a record's keys which export wrote it. A file that
matches no supported format gets one :class:`LoadError` naming the file, what it looks like
(its first keys or columns) and the formats accepted, never a row-by-row rejection of its text.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pyarrow.parquet as pq

from ._jsonio import HEAD_BYTES, compression_of, json_layout, read_head
from .dbtable import TableRef, open_table, table_ref
from .langsmith import looks_langsmith
from .mlflow_spans import MLFLOW_TABLES, is_mlflow_columns, is_mlflow_record
from .mlflow_store import mlflow_store_path
from .phoenix_db import PHOENIX_TABLES, is_phoenix_url, sqlite_tables
from .result import LoadError

__all__ = [
    "detect_format", "EVENT_FORMATS", "CHANGE_FORMATS", "normalize_format", "sniff", "Sniffed", "classify_record",
    "ACCEPTED_FORMATS", "TRACE_FORMATS", "unknown_format_error", "detect_dir", "detect_table", "TABLE_CONTENTS",
]

EVENT_FORMATS = ("parquet", "jsonl", "json", "csv", "table", "otlp", "oteljs", "phoenix", "langfuse", "openai", "langsmith", "mlflow")
TRACE_FORMATS = ("otlp", "oteljs", "phoenix", "langfuse", "openai", "langsmith", "mlflow")
CHANGE_FORMATS = ("csv", "jsonl", "json", "yaml", "parquet")
_ALIASES = {
    "ndjson": "jsonl", "yml": "yaml", "pq": "parquet", "otel": "otlp", "otlp-json": "otlp", "otlp-proto": "otlp",
    "otel-js": "oteljs", "vercel-ai": "oteljs", "openai-batch": "openai", "langsmith-runs": "langsmith", "mlflow3": "mlflow",
}
_HEAD = HEAD_BYTES  # bytes sniffed for line-oriented files
_DOC_LIMIT = 64 << 20  # a JSON document up to this size is parsed whole to classify it

#: What the loaders accept, for the unknown-format error.
ACCEPTED_FORMATS = (
    "a canonical events table (Parquet, JSON Lines, a JSON array, JSON rows back to back or CSV with columns event_id and ts); "
    "OTLP traces (JSON, JSON Lines, documents back to back, a bare Span, a JSON array of spans, ResourceSpans/ScopeSpans fragments, "
    "Phoenix's snake_case variant, the collector's length-prefixed protobuf, gzip or zstd, a folder of them); "
    "an OpenTelemetry JS span dump (Vercel AI SDK names too); Phoenix spans (dataframe as Parquet or JSONL, "
    "JSONL download, its SQLite database); Langfuse exports (single-trace download, observations/scores/traces "
    "files, API pages, a blob-export folder); OpenAI Batch output (with its input file), chat-completion or "
    "Responses objects one per line; LangSmith bulk-export runs (Parquet with id, trace_id, run_type, start_time); "
    "MLflow traces (its SQLite tracking store with the table trace_info, the search_traces() frame as Parquet or JSON "
    "with columns trace_id/request_id, trace/spans and request_time/state, Trace.to_json() lines); "
    "a table in a database (sqlite:///file.db?table=T, duckdb:///file.duckdb?table=T, postgresql://...?table=T, or a "
    "SQLite or DuckDB file holding one table) holding canonical events, a Phoenix spans dataframe, LangSmith runs or an MLflow frame"
)


@dataclass(frozen=True)
class Sniffed:
    """What the head of a file shows.

    Attributes
    ----------
    layout
        ``dir``, ``parquet``, ``csv``, ``jsonl``, ``json`` (one document, or documents back to back),
        ``proto`` (length-prefixed protobuf messages), ``sqlite``, ``yaml`` or ``unknown``.
    compression
        ``gzip``, ``zstd`` or None.
    first
        The first record (JSON value) when the layout is JSON; for ``json`` the first document.
    keys
        The first record's keys, or the columns of a table.
    """

    layout: str
    compression: str | None = None
    first: Any = None
    keys: tuple[str, ...] = ()
    note: str = ""


def normalize_format(fmt: str, path: Path, table: str, *, mapped: Iterable[str] = ()) -> str:
    """Check a caller-given ``format``; ``openinference`` and ``canonical`` are resolved from the file."""
    allowed = EVENT_FORMATS if table == "events" else CHANGE_FORMATS
    f = _ALIASES.get(str(fmt).lower(), str(fmt).lower())
    ref = table_ref(path) if table == "events" else None
    if ref is not None:
        return _table_format(f, fmt, ref)
    if f == "openinference":
        found = detect_format(path, table, mapped=mapped)
        if found not in ("otlp", "phoenix"):
            raise LoadError(f"`format`='openinference' but the file holds neither OTLP spans nor Phoenix spans (it looks like {found!r}).", source=str(path))
        return found
    if f == "canonical":
        f = _by_extension(path) or "jsonl"
    if f not in allowed:
        raise LoadError(f"`format` must be one of {list(allowed) + ['openinference', 'canonical']}, got {fmt!r}.", source=str(path))
    return f


#: What a database table may hold: canonical events (``table``) or a frame format.
TABLE_CONTENTS = ("table", "phoenix", "langsmith", "mlflow")


def _table_format(f: str, given: str, ref: TableRef) -> str:
    """A caller-given ``format`` for a database table: canonical events or a frame format."""
    if f in ("canonical", "parquet", "table"):
        return "table"
    if f == "openinference":
        return "phoenix"
    if f not in TABLE_CONTENTS:
        raise LoadError(f"is a database table: `format` must be one of {list(TABLE_CONTENTS) + ['canonical']}, got {given!r}.",
                        source=ref.label)
    return f


def _by_extension(path: Path) -> str | None:
    suffixes = [s.lower().lstrip(".") for s in path.suffixes]
    while suffixes and suffixes[-1] in ("gz", "zst", "zstd"):
        suffixes.pop()
    ext = suffixes[-1] if suffixes else ""
    return {"parquet": "parquet", "pq": "parquet", "jsonl": "jsonl", "ndjson": "jsonl", "json": "json",
            "csv": "csv", "yaml": "yaml", "yml": "yaml"}.get(ext)


# --------------------------------------------------------------------------------------------
# What a record is
# --------------------------------------------------------------------------------------------


def _has(d: dict[str, Any], *names: str) -> bool:
    return any(n in d for n in names)


def _looks_langfuse_observation(d: dict[str, Any]) -> bool:
    return "type" in d and _has(d, "start_time", "startTime") and _has(d, "id", "trace_id", "traceId")


def _looks_langfuse_score(d: dict[str, Any]) -> bool:
    return "name" in d and _has(d, "data_type", "dataType") and _has(d, "trace_id", "traceId", "observation_id", "observationId")


def _looks_langfuse_trace(d: Any) -> bool:
    return isinstance(d, dict) and "id" in d and _has(d, "timestamp", "projectId", "project_id")


def _is_attribute_list(v: Any) -> bool:
    return isinstance(v, list) and (not v or (isinstance(v[0], dict) and "key" in v[0]))


def _is_hrtime(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)


def _looks_otlp_span(d: dict[str, Any]) -> bool:
    """A bare OTLP ``Span`` message (protojson or the OTLP/JSON mapping, camelCase or snake_case)."""
    if _has(d, "startTimeUnixNano", "start_time_unix_nano", "spanId", "span_id", "traceId", "trace_id") and "name" in d:
        return True
    kind = d.get("kind")
    if isinstance(kind, str) and kind.startswith("SPAN_KIND_"):
        return True
    return "name" in d and _is_attribute_list(d.get("attributes")) and _has(d, "kind", "status", "flags", "events")


def _looks_oteljs_span(d: dict[str, Any]) -> bool:
    if _has(d, "spanContext", "_spanContext"):
        return True
    return "name" in d and (_is_hrtime(d.get("startTime")) or _is_hrtime(d.get("endTime")))


def _looks_openai(d: dict[str, Any]) -> bool:
    if "custom_id" in d and _has(d, "response", "error", "body"):
        return True
    obj = d.get("object")
    if obj in ("chat.completion", "response", "text_completion"):
        return True
    return "model" in d and (("choices" in d and "created" in d) or ("output" in d and "created_at" in d))


def classify_record(d: Any, *, required: Iterable[str] = ("event_id", "ts")) -> str | None:
    """The format whose records look like ``d``; ``canonical`` for an events row; None when unknown.

    ``required`` are the names an events row must carry (the required columns, or the mapping's
    sources for them).
    """
    if isinstance(d, list):
        return classify_record(d[0], required=required) if d else None
    if not isinstance(d, dict):
        return None
    if is_mlflow_record(d):  # before OTLP: a frame row's `spans` look like bare OTLP spans
        return "mlflow"
    if _has(d, "resourceSpans", "resource_spans", "scopeSpans", "scope_spans", "instrumentationLibrarySpans"):
        return "otlp"
    spans = d.get("spans")
    if isinstance(spans, list) and (_has(d, "scope", "instrumentationLibrary") or (spans and isinstance(spans[0], dict) and _looks_otlp_span(spans[0]))):
        return "otlp"  # a bare ScopeSpans
    if _has(d, "context.span_id", "context.trace_id") or any(str(k).startswith("attributes.") for k in d):
        return "phoenix"
    if isinstance(d.get("context"), dict) and "span_id" in d["context"]:
        return "phoenix"
    if "observations" in d or ("trace" in d and _looks_langfuse_trace(d.get("trace"))):
        return "langfuse"
    data = d.get("data")
    if isinstance(data, list) and data and isinstance(data[0], dict):
        inner = classify_record(data[0], required=())
        if inner in ("langfuse", "otlp"):
            return inner
    if _looks_langfuse_observation(d) or _looks_langfuse_score(d):
        return "langfuse"
    if _looks_oteljs_span(d):
        return "oteljs"
    if _looks_otlp_span(d):
        return "otlp"
    if _looks_openai(d):
        return "openai"
    req = list(required)
    if req and any(r in d for r in req):  # a table missing a required column: its loader names it
        return "canonical"
    return None


def _classify_columns(cols: Iterable[str], required: Iterable[str]) -> str | None:
    cols = {str(c).strip() for c in cols}
    if is_mlflow_columns(cols):
        return "mlflow"
    if "context.span_id" in cols or any(c.startswith("attributes.") for c in cols):
        return "phoenix"
    if looks_langsmith(cols):
        return "langsmith"
    if "type" in cols and ({"start_time", "startTime"} & cols):
        return "langfuse"
    if "name" in cols and ({"data_type", "dataType"} & cols) and ({"trace_id", "traceId"} & cols):
        return "langfuse"
    if any(r in cols for r in required):
        return "canonical"
    return None


# --------------------------------------------------------------------------------------------
# What a file looks like
# --------------------------------------------------------------------------------------------

_KEY = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:|[{}\[\]]')


def top_keys(text: str, limit: int = 20) -> list[str]:
    """The keys of the outermost object of (possibly truncated) JSON text, in order."""
    depth = 0
    keys: list[str] = []
    pos = 0
    strings = re.compile(r'"(?:[^"\\]|\\.)*"')
    while pos < len(text) and len(keys) < limit:
        m = _KEY.search(text, pos)
        if m is None:
            break
        tok = m.group(0)
        if tok in "{[":
            depth += 1
        elif tok in "}]":
            depth -= 1
        elif depth == 1:
            keys.append(m.group(1))
        pos = m.end()
        # skip a string value so its content is never read as structure
        s = strings.match(text, _skip_ws(text, pos)) if tok.endswith(":") else None
        if s is not None:
            pos = s.end()
    return keys


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _proto_frames_plausible(head: bytes) -> bool:
    """The collector's proto files: a 4-byte big-endian length (under 256 MiB, so never text), then
    a TracesData message (field 1), a zstd frame or a JSON object."""
    if len(head) < 6 or head[0] >= 0x10:
        return False
    n = int.from_bytes(head[:4], "big")
    return n > 0 and (head[4] == 0x0A or head[4:8] == b"\x28\xb5\x2f\xfd" or head[4:5] == b"{")


def _first_json_line(text: str, max_lines: int = 50) -> tuple[Any, bool, int]:
    """(first parsed value, whether the first non-blank line is a complete value, lines parsed)."""
    first_ok = None
    value = None
    parsed = 0
    for line in text.split("\n", max_lines)[:max_lines]:
        t = line.strip()
        if not t:
            continue
        try:
            v = json.loads(t)
        except json.JSONDecodeError:
            if first_ok is None:
                first_ok = False
            continue
        if first_ok is None:
            first_ok = True
        if parsed == 0:
            value = v
        parsed += 1
    return value, bool(first_ok), parsed


def _json_document(text: str, complete: bool) -> tuple[Any, tuple[str, ...], str]:
    """The first document of ``text`` (and its keys); or its first keys when it cannot be parsed."""
    dec = json.JSONDecoder()
    start = _skip_ws(text, 0)
    try:
        value, _ = dec.raw_decode(text, start)
    except json.JSONDecodeError as e:
        keys = tuple(top_keys(text[start:]))
        note = f"malformed JSON at line {e.lineno} column {e.colno}: {e.msg}" if complete else ""
        return None, keys, note
    if isinstance(value, dict):
        return value, tuple(value), ""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value, tuple(value[0]), ""
    return value, (), ""


def sniff(path: str | Path) -> Sniffed:
    """The layout, compression and first record of ``path`` (a file or a folder)."""
    p = Path(path)
    if p.is_dir():
        return Sniffed("dir")
    comp = compression_of(p)
    size = p.stat().st_size
    head = read_head(p, _HEAD)
    if head[:4] == b"PAR1":
        try:
            names = tuple(pq.ParquetFile(p).schema_arrow.names) if comp is None else ()
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types for corrupt files
            raise LoadError(f"cannot read as Parquet: {e}", source=str(p)) from None
        return Sniffed("parquet", comp, keys=names)
    if head.startswith(b"SQLite format 3\x00"):
        return Sniffed("sqlite", comp, keys=tuple(sqlite_tables(p) or ()) if comp is None else ())
    if _proto_frames_plausible(head):
        return Sniffed("proto", comp)
    ext = _by_extension(p)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    if ext == "yaml":
        return Sniffed("yaml", comp)
    if ext == "csv":
        return Sniffed("csv", comp, keys=tuple(c.strip() for c in next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])))
    stripped = text.lstrip()
    if stripped[:1] not in ("{", "[") and ext != "jsonl":
        if ext is None and "," in text.split("\n", 1)[0]:
            return Sniffed("csv", comp, keys=tuple(c.strip() for c in next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])))
        return Sniffed("unknown", comp, note=_describe_bytes(head))
    complete = len(head) < _HEAD
    if json_layout(stripped, complete) == "documents":  # pretty-printed, or documents back to back, whatever the extension
        return _json_sniffed(p, text, comp, complete, size)
    value, first_complete, parsed = _first_json_line(text)
    if ext == "jsonl" or (first_complete and (parsed > 1 or isinstance(value, dict))):
        keys = tuple(value) if isinstance(value, dict) else tuple(value[0]) if isinstance(value, list) and value and isinstance(value[0], dict) else ()
        if not parsed and len(head) == _HEAD and "\n" not in stripped.rstrip("\n"):
            # a first line longer than the head (a collector's batch of thousands of spans): its first keys
            keys = tuple(top_keys(stripped))
        return Sniffed("jsonl", comp, value, keys)
    return _json_sniffed(p, text, comp, complete, size)


def _json_sniffed(p: Path, text: str, comp: str | None, complete: bool, size: int) -> Sniffed:
    """A JSON document, or documents back to back: the first one (read on up to :data:`_DOC_LIMIT`
    bytes when the head cuts it), or its first keys."""
    value, keys, note = _json_document(text, complete)
    if value is None and not complete and size <= _DOC_LIMIT:
        text = read_head(p, _DOC_LIMIT).decode("utf-8", errors="replace").lstrip("\ufeff")
        value, keys, note = _json_document(text, True)
    return Sniffed("json", comp, value, keys, note)


def _describe_bytes(head: bytes) -> str:
    if not head:
        return "no data"
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head[:200])
    if printable >= 0.9 * min(len(head), 200):
        return "text starting with " + repr(head[:60].decode("utf-8", errors="replace"))
    return "binary data starting with bytes " + head[:8].hex(" ")


def describe(s: Sniffed) -> str:
    """What the file looks like, for an error message."""
    comp = f" ({s.compression}-compressed)" if s.compression else ""
    keys = ", ".join(repr(k) for k in list(s.keys)[:12]) + (" ..." if len(s.keys) > 12 else "")
    if s.layout == "parquet":
        return f"a Parquet file{comp} with columns {keys or '(none)'}"
    if s.layout == "csv":
        return f"a CSV file{comp} with columns {keys or '(none)'}"
    if s.layout in ("jsonl", "json"):
        what = "JSON Lines" if s.layout == "jsonl" else "a JSON document"
        if isinstance(s.first, list):
            inner = f"an array of {len(s.first)} value(s)" + (f" whose first has keys {keys}" if keys else "")
            return f"{what}{comp}: {inner}"
        if keys:
            return f"{what}{comp} whose first record has keys {keys}"
        if s.note:
            return f"{what}{comp} ({s.note})"
        return f"{what}{comp} holding a {type(s.first).__name__}"
    if s.layout == "unknown":
        return s.note + comp
    if s.layout == "sqlite":
        return (f"a SQLite database{comp} with tables {keys or '(none)'} (a Phoenix database has the tables projects, "
                "traces and spans; an MLflow tracking store the table trace_info)")
    return s.layout + comp


def unknown_format_error(path: Path, s: Sniffed, *, required: Iterable[str] = ("event_id", "ts")) -> LoadError:
    req = [r for r in required if r not in s.keys]
    canon = f" (as a canonical events table it lacks the required column(s) {', '.join(req)})" if req and s.keys and s.layout != "sqlite" else ""
    return LoadError(
        f"matches no supported format: it is {describe(s)}{canon}. Formats accepted: {ACCEPTED_FORMATS}. "
        "Give `format=` to read it as one of them, or a `mapping` naming its id and time columns.",
        source=str(path),
    )


# --------------------------------------------------------------------------------------------
# Folders
# --------------------------------------------------------------------------------------------

_LANGFUSE_TABLES = ("observations_v2", "observations", "scores", "traces", "manifests")


def data_files(root: Path) -> list[Path]:
    """Every non-hidden file under ``root``, sorted by path."""
    return sorted(f for f in root.rglob("*") if f.is_file() and not any(part.startswith(".") for part in f.relative_to(root).parts))


def detect_dir(p: Path, required: list[str]) -> str:
    """The trace format of a folder (``langfuse``, ``otlp`` or ``openai``) from its layout and first files.

    ``required`` are the columns a canonical table must have (for classifying the files); a folder
    matching no trace export layout raises :class:`LoadError`.
    """
    subdirs = {d.name for d in p.iterdir() if d.is_dir()}
    if subdirs & {"observations_v2", "manifests"} or any((p / d / t).is_dir() for d in subdirs for t in _LANGFUSE_TABLES):
        return "langfuse"
    names = [f.name.lower() for f in p.iterdir() if f.is_file()]
    if any(n.startswith(("observations", "scores", "traces")) for n in names) and not any(n.startswith(("events",)) for n in names):
        return "langfuse"
    files = data_files(p)
    if not files:
        raise LoadError("is an empty folder: no files to read.", source=str(p))
    kinds = []
    for f in files[:20]:
        if f.stat().st_size == 0:
            continue
        s = sniff(f)
        kinds.append(_classify_sniffed(s, required) if s.layout != "proto" else "otlp")
    found = [k for k in kinds if k]
    if found and all(k == "otlp" for k in found):
        return "otlp"
    if found and all(k == "openai" for k in found):
        return "openai"
    if "langfuse" in found:
        return "langfuse"
    raise LoadError(
        f"is a folder whose files match no trace export layout (first files: {', '.join(str(f.relative_to(p)) for f in files[:5])}). "
        f"Folders accepted: a Langfuse blob export (observations_v2/, scores/, traces/, manifests/) or CSV/JSON export, "
        "OTLP files as the collector's S3 exporter lays them out (year=/month=/day=/hour=/minute=), an OpenAI Batch "
        "input and output file; a canonical Parquet folder opens with open_events.",
        source=str(p),
    )


def _classify_sniffed(s: Sniffed, required: list[str]) -> str | None:
    if s.layout in ("parquet", "csv"):
        return _classify_columns(s.keys, required)
    if s.layout in ("jsonl", "json"):
        first = s.first
        if first is None and s.keys:
            first = {k: None for k in s.keys}
        if s.layout == "json" and isinstance(first, dict):
            for k in ("events", "rows"):
                if isinstance(first.get(k), list) and first[k]:
                    return classify_record(first[k], required=required)
        return classify_record(first, required=required)
    if s.layout == "proto":
        return "otlp"
    if s.layout == "sqlite":
        if all(t in s.keys for t in PHOENIX_TABLES):
            return "phoenix"
        return "mlflow" if all(t in s.keys for t in MLFLOW_TABLES) else None
    return None


def detect_format(path: str | Path, table: str = "events", *, mapped: Iterable[str] = ()) -> str:
    """The format of ``path``: one of :data:`EVENT_FORMATS` (or :data:`CHANGE_FORMATS`).

    Decided by content (the extension only breaks ties): Parquet, CSV, JSON Lines or a JSON
    document whose first record has ``event_id`` and ``ts`` (or the sources ``mapped`` onto them)
    is a canonical table; records with ``resourceSpans``/``scopeSpans`` or bare ``Span`` messages,
    and length-prefixed protobuf, are OTLP; ``spanContext`` and hrtime pairs are an OTel-JS dump;
    ``context.span_id``/``attributes.*``, a SQLite file with Phoenix's ``projects``/``traces``/``spans``
    tables or a Postgres URL are Phoenix; ``id``, ``trace_id``, ``run_type`` and ``start_time`` columns
    are LangSmith runs; a database table (a ``sqlite://``, ``duckdb://`` or ``postgresql://...?table=``
    URL, or a SQLite or DuckDB file holding one table) is classified by its columns as a file's would
    be (:func:`detect_table`); Langfuse observations,
    scores, traces or a single-trace download are Langfuse; ``custom_id`` lines and chat-completion
    or Responses objects are OpenAI; a SQLite file with MLflow's ``trace_info`` table, a frame with
    ``trace_id``/``request_id``, ``trace``/``spans`` and ``request_time``/``state`` columns (``timestamp_ms``/
    ``status`` in MLflow 2), or ``{info, data}`` documents (``Trace.to_json()``) are MLflow. A folder is a Langfuse export, an S3-exporter OTLP folder or
    an OpenAI Batch pair. Anything else raises :class:`LoadError` naming the file, what it looks
    like and the formats accepted.
    """
    if table == "events" and mlflow_store_path(path) is not None:
        return "mlflow"  # its SQLite file, or its tracking URI sqlite:///mlflow.db
    ref = table_ref(path)
    if ref is not None:
        if table != "events":
            raise LoadError("is a database table; a change log is one CSV, JSONL, JSON or YAML file.", source=ref.label)
        return detect_table(ref, list(mapped) or ["event_id", "ts"])
    if is_phoenix_url(path):
        if table != "events":
            raise LoadError("is a database URL; a change log is one CSV, JSONL, JSON or YAML file.", source=str(path))
        return "phoenix"
    p = Path(path)
    required = list(mapped) or ["event_id", "ts"]
    if table != "events":
        return _detect_change_format(p)
    if p.is_dir():
        return detect_dir(p, required)
    s = sniff(p)
    if s.layout == "yaml":
        raise LoadError("YAML is read only for change logs; events come as Parquet, JSONL, JSON, CSV or a trace export.", source=str(p))
    kind = _classify_sniffed(s, required)
    if kind == "canonical":
        if s.compression:
            raise LoadError(f"is a {s.compression}-compressed canonical table; decompress it first (trace exports may be compressed).", source=str(p))
        return s.layout
    if kind is not None:
        return kind
    if s.layout == "json" and s.note and _by_extension(p) == "json":
        return "json"  # a malformed document: the canonical reader names the line and column
    if s.layout == "jsonl" and not s.keys:
        return "jsonl"  # no line is an object: each is rejected with its reason
    raise unknown_format_error(p, s, required=required)


def detect_table(ref: TableRef, required: list[str]) -> str:
    """What a database table holds, by its columns: ``table`` (canonical events) or a frame format."""
    with open_table(ref) as t:
        cols, source = t.columns, t.source
    kind = _classify_columns(cols, required)
    if kind == "canonical":
        return "table"
    if kind in TABLE_CONTENTS:
        return kind
    shown = ", ".join(repr(c) for c in cols[:12]) + (" ..." if len(cols) > 12 else "")
    req = [r for r in required if r not in cols]
    what = f"a {kind} export, which is read from its files, not from a table" if kind else "no supported format"
    phoenix = " (Phoenix's own database has the tables projects, traces and spans)" if ref.kind == "sqlite" else ""
    raise LoadError(
        f"matches {what}: it is a table with columns {shown or '(none)'}{phoenix}; as canonical events it lacks "
        f"{', '.join(req) or 'nothing'}. A table may hold canonical events (columns event_id and ts), a Phoenix spans "
        "dataframe (context.span_id, attributes.*), LangSmith runs (id, trace_id, run_type, start_time) or an MLflow "
        "search_traces() frame (trace_id, trace or spans, request_time or state). "
        "Give `format=` to read it as one of them, or a `mapping` naming its id and time columns.",
        source=source,
    )


def _detect_change_format(p: Path) -> str:
    if p.is_dir():
        raise LoadError("is a directory; a change log is one CSV, JSONL, JSON or YAML file.", source=str(p))
    ext = _by_extension(p)
    if ext in ("parquet", "yaml", "csv", "json", "jsonl"):
        return ext
    head = read_head(p, _HEAD)
    if head[:4] == b"PAR1":
        return "parquet"
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff").lstrip()
    if text[:1] == "[":
        return "json"
    if text[:1] == "{":
        return "jsonl"
    return "csv"
