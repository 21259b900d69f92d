"""Langfuse's scheduled blob export, read through DuckDB.

Layout: ``{prefix}{projectId}/{table}/{YYYY-MM-DDTHH-MM-SS}.{ext}`` with ``table`` in
``observations_v2`` (or the legacy ``observations``), ``scores`` and ``traces``, each file Parquet
(the default), JSON (one array), JSONL or CSV, optionally gzipped; ``manifests/`` holds one JSON per
run listing its files (``files: [{key, table, format, rowCount}]``). Runs overlap at their window
edges, so a row can appear in two files: DuckDB scans every file of a table at once and keeps one
row per ``id`` (the latest ``updated_at``, else the latest file). Text timestamps are UTC without
an offset. A manifest naming a file that is not there is an error: the export is incomplete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from ..engine.query import quote_ident, quote_literal
from ._jsonio import snake
from .result import LoadError

__all__ = ["read_blob_export", "TABLES"]

TABLES = {"observations_v2": "observation", "observations": "observation", "scores": "score", "traces": "trace"}
_READERS = {
    ".parquet": "read_parquet({files}, union_by_name = true, filename = true, binary_as_string = true)",
    ".csv": "read_csv({files}, union_by_name = true, filename = true, header = true, all_varchar = true)",
    ".json": "read_json_auto({files}, union_by_name = true, filename = true, format = 'auto')",
    ".jsonl": "read_json_auto({files}, union_by_name = true, filename = true, format = 'newline_delimited')",
}


def _ext(f: Path) -> str:
    suffixes = [s.lower() for s in f.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    ext = suffixes[-1] if suffixes else ""
    return ".jsonl" if ext == ".ndjson" else ext


def _table_dirs(root: Path) -> dict[str, list[Path]]:
    """Table name -> its folders (under the root, or under each ``{projectId}/`` prefix)."""
    out: dict[str, list[Path]] = {}
    for d in [root] + [d for d in sorted(root.iterdir()) if d.is_dir() and d.name not in TABLES and d.name != "manifests"]:
        for t in TABLES:
            if (d / t).is_dir():
                out.setdefault(t, []).append(d / t)
    return out


def check_manifests(root: Path) -> list[str]:
    """Raise when a run's manifest names a file that is missing; returns warnings (row counts that differ)."""
    warnings: list[str] = []
    for m in sorted(root.rglob("manifests/*.json")):
        try:
            doc = json.loads(m.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise LoadError(f"manifest {m.relative_to(root)} is not valid JSON: {e}", source=str(root)) from None
        for entry in doc.get("files", []) if isinstance(doc, dict) else []:
            key = str(entry.get("key", ""))
            parts = Path(key).parts
            candidates = [root / Path(*parts[i:]) for i in range(len(parts))] if parts else []
            if not any(c.is_file() for c in candidates):
                raise LoadError(
                    f"manifest {m.relative_to(root)} names {key!r} ({entry.get('table')}, {entry.get('rowCount')} rows), which is not "
                    "in the export: the copy is incomplete; fetch the missing file or remove the run's manifest.",
                    source=str(root),
                )
    return warnings


def _read_table(con: duckdb.DuckDBPyConnection, dirs: list[Path], table: str) -> tuple[list[dict[str, Any]], int, int]:
    """Rows of one table, deduplicated by id on the engine; plus the rows scanned and files read."""
    files = sorted(f for d in dirs for f in d.rglob("*") if f.is_file() and _ext(f) in _READERS and f.stat().st_size > 0)
    if not files:
        return [], 0, 0
    parts = []
    by_ext: dict[str, list[str]] = {}
    for f in files:
        by_ext.setdefault(_ext(f), []).append(str(f))
    for ext, fs in by_ext.items():
        parts.append(f"SELECT * FROM {_READERS[ext].format(files='[' + ', '.join(quote_literal(x) for x in fs) + ']')}")
    src = " UNION ALL BY NAME ".join(parts)
    con.sql(f"CREATE OR REPLACE TEMP VIEW raw_{table} AS {src}")
    cols = [r[0] for r in con.sql(f"DESCRIBE raw_{table}").fetchall()]
    scanned = int(con.sql(f"SELECT COUNT(*) FROM raw_{table}").fetchall()[0][0])
    order = (f"{quote_ident('updated_at')} DESC NULLS LAST, " if "updated_at" in cols else "") + "filename DESC"
    key = "id" if "id" in cols else None
    dedup = (f"SELECT * EXCLUDE (rn__, filename) FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY {quote_ident(key)} ORDER BY {order}) AS rn__ "
             f"FROM raw_{table}) WHERE rn__ = 1" if key else f"SELECT * EXCLUDE (filename) FROM raw_{table}")
    rows = con.sql(dedup).to_arrow_table().to_pylist()
    return [_normalise(r) for r in rows], scanned, len(files)


def _normalise(r: dict[str, Any]) -> dict[str, Any]:
    """Parquet maps come as lists of (key, value) pairs: make them dicts; JSON text stays text."""
    out = {}
    for k, v in r.items():
        if isinstance(v, list) and v and all(isinstance(x, tuple) and len(x) == 2 for x in v):
            v = {str(a): b for a, b in v}
        out[k] = v
    return out


def read_blob_export(root: Path) -> tuple[list[tuple[int, dict[str, Any]]], list[dict[str, Any]], dict[str, dict[str, Any]], list[str]]:
    """(observations with their row numbers, scores, traces by id, warnings) of a blob export folder."""
    warnings = check_manifests(root)
    dirs = _table_dirs(root)
    if not any(t in dirs for t in ("observations_v2", "observations")):
        raise LoadError("is a Langfuse blob export without an observations_v2/ (or observations/) folder: there are no observations to read.", source=str(root))
    con = duckdb.connect()
    try:
        con.sql("SET TimeZone = 'UTC'")
        data: dict[str, list[dict[str, Any]]] = {}
        for t in ("observations_v2", "observations", "scores", "traces"):
            if t not in dirs:
                continue
            rows, scanned, nfiles = _read_table(con, dirs[t], t)
            data[t] = rows
            if scanned > len(rows):
                warnings.append(f"{t}: {scanned - len(rows)} row(s) repeated across overlapping runs were kept once (by id, the latest)")
            warnings.append(f"{t}: {len(rows)} row(s) from {nfiles} file(s)")
    finally:
        con.close()
    obs = data.get("observations_v2") or data.get("observations") or []
    observations = [(i + 1, snake(o)) for i, o in enumerate(obs)]
    scores = [snake(s) for s in data.get("scores", [])]
    traces = {str(t["id"]): snake(t) for t in data.get("traces", []) if t.get("id")}
    return observations, scores, traces, warnings
