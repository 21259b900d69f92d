"""Reading JSON trace files record by record, whatever their layout.

Trace exports come as JSON Lines (one record per line), as one JSON document, or as
pretty-printed objects written back to back. :func:`read_json_records` returns every top-level
value with the line it starts on; a part that does not parse becomes an error record with its
line number, and reading resumes at the next line (JSON Lines) or at the next object that starts
a line (pretty-printed streams). Bytes that are not UTF-8 are replaced with U+FFFD and reported.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from .result import LoadError

__all__ = ["JsonRecord", "read_json_records", "decode_reporting", "compression_of", "read_head", "read_bytes", "open_binary",
           "read_json_text", "snake"]

_WS = re.compile(r"\s*")
_OBJ_START = re.compile(r"\n[\[{]")


_MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake(d: dict[str, Any]) -> dict[str, Any]:
    """The record with its keys in snake_case (``startTime`` -> ``start_time``).

    Exports of one tool name the same field in camelCase (API, UI downloads) or snake_case (bulk
    exports); when both spellings are present, the first non-blank value wins.
    """
    out: dict[str, Any] = {}
    for k, v in d.items():
        s = _CAMEL.sub("_", str(k)).lower()
        if s not in out or out[s] in (None, ""):
            out[s] = v
    return out


def compression_of(path: Path) -> str | None:
    """``gzip`` or ``zstd`` when the file starts with that format's magic bytes, else None."""
    with open(path, "rb") as f:
        head = f.read(4)
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return name
    return None


def open_binary(path: Path) -> Any:
    """The file opened for reading bytes, decompressed on the fly when it is gzip or zstd."""
    comp = compression_of(path)
    if comp is None:
        return open(path, "rb")
    return pa.input_stream(str(path), compression=comp)


def read_head(path: Path, n: int) -> bytes:
    """The first ``n`` (decompressed) bytes of the file."""
    try:
        with open_binary(path) as f:
            return f.read(n)
    except OSError as e:  # a truncated or corrupt stream
        raise LoadError(f"cannot decompress ({compression_of(path)}): {e}", source=str(path)) from None


def read_bytes(path: Path) -> bytes:
    """The whole (decompressed) content of the file."""
    if compression_of(path) is None:
        return path.read_bytes()
    try:
        with open_binary(path) as f:
            return f.read()
    except OSError as e:  # a truncated or corrupt stream
        raise LoadError(f"cannot decompress ({compression_of(path)}): {e}", source=str(path)) from None


@dataclass
class JsonRecord:
    line: int
    value: Any = None
    error: str | None = None
    raw: str = ""


def decode_reporting(data: bytes) -> tuple[str, list[int]]:
    """UTF-8 text of ``data`` and the (1-based) lines where invalid bytes were replaced."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    bad: list[int] = []
    parts = []
    for i, line in enumerate(data.split(b"\n")):
        try:
            parts.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            bad.append(i + 1)
            parts.append(line.decode("utf-8", errors="replace"))
    return "\n".join(parts), bad


def _line_mode(text: str) -> bool:
    """True when the first non-blank line is a complete JSON value on its own (JSON Lines)."""
    for line in text.split("\n", 200)[:200]:
        t = line.strip()
        if not t:
            continue
        try:
            json.loads(t)
            return True
        except json.JSONDecodeError:
            return False
    return False


def read_json_records(path: Path) -> tuple[list[JsonRecord], list[str]]:
    """Every top-level JSON value of the file, with its line; plus warnings."""
    return read_json_text(read_bytes(path))


def read_json_text(data: bytes) -> tuple[list[JsonRecord], list[str]]:
    """:func:`read_json_records` of bytes already read."""
    text, bad_lines = decode_reporting(data)
    warnings = []
    if bad_lines:
        shown = ", ".join(map(str, bad_lines[:10])) + (" ..." if len(bad_lines) > 10 else "")
        warnings.append(f"bytes that are not UTF-8 were replaced with U+FFFD on {len(bad_lines)} line(s): {shown}")
    records: list[JsonRecord] = []
    if _line_mode(text):
        for i, line in enumerate(text.split("\n")):
            t = line.strip()
            if not t:
                continue
            try:
                records.append(JsonRecord(i + 1, json.loads(t), raw=t))
            except json.JSONDecodeError as e:
                records.append(JsonRecord(i + 1, error=f"malformed JSON: {e.msg} at column {e.colno}", raw=t))
        return records, warnings
    dec = json.JSONDecoder()
    pos = _WS.match(text, 0).end()
    line = 1 + text.count("\n", 0, pos)
    n = len(text)
    while pos < n:
        start_line = line
        try:
            value, end = dec.raw_decode(text, pos)
            records.append(JsonRecord(start_line, value, raw=text[pos:end]))
        except json.JSONDecodeError as e:
            m = _OBJ_START.search(text, pos + 1)
            end = m.start() + 1 if m else n
            records.append(
                JsonRecord(start_line, error=f"malformed JSON: {e.msg} at line {e.lineno} column {e.colno}", raw=text[pos:end].strip()[:2000])
            )
        line += text.count("\n", pos, end)
        nxt = _WS.match(text, end).end()
        # tolerate separators some writers put between objects
        while nxt < n and text[nxt] == ",":
            nxt = _WS.match(text, nxt + 1).end()
        line += text.count("\n", end, nxt)
        pos = nxt
    return records, warnings
