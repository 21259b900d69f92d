"""Reading JSON files record by record, whatever their layout, with bounded memory.

Trace exports and tables come as JSON Lines (one record per line), as one JSON document, or as
documents written back to back (pretty-printed or not, with no separator, blank lines or commas
between them). :func:`json_layout` tells JSON Lines from documents by the head of the file, and
:func:`iter_json_records` reads either block by block: every top-level value becomes a
:class:`JsonRecord` with the line it starts on. A line that does not parse is one error record
(JSON Lines); a document that does not parse is one error record naming the file, the document's
number, its line and byte offset, and reading resumes at the next line that starts with ``{`` or
``[`` (documents). Bytes that are not UTF-8 are replaced with U+FFFD and reported in a warning.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow as pa

from .result import LoadError

__all__ = ["JsonRecord", "read_json_records", "iter_json_records", "json_layout", "decode_reporting", "compression_of", "read_head",
           "read_bytes", "open_binary", "snake", "HEAD_BYTES"]

#: Bytes of a file's head that tell its layout (JSON Lines or documents back to back).
HEAD_BYTES = 1 << 20
_BLOCK = 8 << 20  # bytes read at a time
_RAW_LIMIT = 2000  # characters of an unparseable record kept as its raw text
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


def _bad_bytes_warning(lines: list[int]) -> list[str]:
    lines = sorted(set(lines))
    if not lines:
        return []
    shown = ", ".join(map(str, lines[:10])) + (" ..." if len(lines) > 10 else "")
    return [f"bytes that are not UTF-8 were replaced with U+FFFD on {len(lines)} line(s): {shown}"]


# --------------------------------------------------------------------------------------------
# JSON Lines or documents back to back
# --------------------------------------------------------------------------------------------


def json_layout(text: str, complete: bool) -> str:
    """``lines`` when ``text`` (the head of a file; ``complete`` when it is the whole file) is JSON
    Lines, ``documents`` when it holds JSON documents back to back.

    JSON Lines: the first non-blank line is a complete JSON value on its own, or it does not parse
    and its error lies no further than the start of the next line (a bad first line, such as a
    lone ``{`` followed by lines of JSON: each line is judged on its own), or it runs past the head
    (the collector's batch of thousands of spans on one line). Documents: the first value parses
    but runs over more than its line (pretty-printed, a first line such as a lone ``{`` or ``[``),
    or is followed on it by another value (compact documents with no separator), or its error lies
    further on (a pretty-printed document broken inside, or cut by the end of the head).
    """
    start = _WS.match(text).end()
    nl = text.find("\n", start)
    first = text[start:nl if nl >= 0 else len(text)].strip()
    if not first:
        return "lines"
    if nl >= 0 or complete:
        try:
            json.loads(first)
            return "lines"
        except json.JSONDecodeError:
            pass
    dec = json.JSONDecoder()
    try:
        _, end = dec.raw_decode(text, start)
    except json.JSONDecodeError as e:
        return "documents" if nl >= 0 and e.pos > _WS.match(text, nl).end() else "lines"
    if nl >= 0 and end > nl:
        return "documents"
    try:
        dec.raw_decode(text, _WS.match(text, end).end())
        return "documents"
    except json.JSONDecodeError as e:  # garbage after the first value; or the next one cut by the head's end
        return "documents" if not complete and _may_continue(e, len(text)) else "lines"


def _line_records(text: str, lineno: int) -> list[JsonRecord]:
    """The record(s) of one line: its value, its documents when several stand on it with no
    separator, or one error."""
    try:
        return [JsonRecord(lineno, json.loads(text), raw=text)]
    except json.JSONDecodeError as e:
        if e.msg != "Extra data":
            return [JsonRecord(lineno, error=f"malformed JSON: {e.msg} at column {e.colno}", raw=text)]
    dec = json.JSONDecoder()
    out: list[JsonRecord] = []
    pos = 0
    while pos < len(text):
        try:
            value, end = dec.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            out.append(JsonRecord(lineno, error=f"malformed JSON: {e.msg} at column {e.colno}", raw=text[pos:pos + _RAW_LIMIT]))
            break
        out.append(JsonRecord(lineno, value, raw=text[pos:end]))
        pos = _WS.match(text, end).end()
    return out


def _iter_lines(head: bytes, read: Callable[[int], bytes], warnings: list[str]) -> Iterator[JsonRecord]:
    """Every non-blank line of JSON Lines as a :class:`JsonRecord`, read block by block."""
    bad_lines: list[int] = []
    lineno = 0
    rest = head
    while True:
        block = read(_BLOCK)
        data = rest + block
        if not data:
            break
        lines = data.split(b"\n")
        rest = lines.pop() if block else b""
        for raw in lines:
            lineno += 1
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            t = raw.strip()
            if not t:
                continue
            try:
                text = t.decode("utf-8")
            except UnicodeDecodeError:
                bad_lines.append(lineno)
                text = t.decode("utf-8", errors="replace")
            yield from _line_records(text, lineno)
        if not block:
            break
    warnings += _bad_bytes_warning(bad_lines)


def _utf8_cut(data: bytes) -> int:
    """Where a multi-byte UTF-8 sequence cut by the end of ``data`` starts (``len(data)`` if none)."""
    i = len(data)
    while i > 0 and len(data) - i < 3 and (data[i - 1] & 0xC0) == 0x80:
        i -= 1
    if i > 0 and data[i - 1] >= 0xC0:
        lead = data[i - 1]
        need = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        if len(data) - (i - 1) < need:
            return i - 1
    return len(data)


class _Utf8Text:
    """Bytes decoded block by block; invalid bytes replaced and their lines remembered."""

    def __init__(self) -> None:
        self.pending = b""
        self.line = 1
        self.started = False
        self.bad_lines: list[int] = []

    def decode(self, data: bytes, final: bool) -> str:
        data = self.pending + data
        if not self.started and (len(data) >= 3 or final):
            self.started = True
            data = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
        cut = len(data) if final else _utf8_cut(data) if self.started else 0
        chunk, self.pending = data[:cut], data[cut:]
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError:
            parts = chunk.split(b"\n")
            for i, p in enumerate(parts):
                try:
                    p.decode("utf-8")
                except UnicodeDecodeError:
                    self.bad_lines.append(self.line + i)
            text = chunk.decode("utf-8", errors="replace")
        self.line += chunk.count(b"\n")
        return text


def _may_continue(e: json.JSONDecodeError, n: int) -> bool:
    """Whether a document that failed to parse may only be cut by the end of the text read so far."""
    return e.msg.startswith("Unterminated string") or n - e.pos <= 16


class _Documents:
    """JSON documents back to back, parsed with ``raw_decode`` over a buffer refilled block by block.

    Memory holds the document being parsed and one block: a document longer than the buffer is
    read on (the buffer doubles, so each document is parsed at most about twice over).
    """

    def __init__(self, head: bytes, read: Callable[[int], bytes], name: str) -> None:
        self.read, self.name = read, name
        self.utf8 = _Utf8Text()
        self.buf = self.utf8.decode(head, final=False)
        self.eof = False
        self.pos = 0  # where parsing resumes
        self.mark = 0  # buf[:mark] is counted in line and byte
        self.line = 1
        self.byte = 0
        self.doc = 0

    def _advance(self, pos: int) -> None:
        seg = self.buf[self.mark:pos]
        self.line += seg.count("\n")
        self.byte += len(seg) if seg.isascii() else len(seg.encode("utf-8"))
        self.mark = pos

    def _fill(self, want: int = 0) -> bool:
        """Read about ``want`` (at least a block) more bytes, dropping the text before ``mark``; False at the end."""
        if self.eof:
            return False
        self.buf, self.pos, self.mark = self.buf[self.mark:], self.pos - self.mark, 0
        data = self.read(max(want, _BLOCK))
        self.eof = not data
        self.buf += self.utf8.decode(data, final=self.eof)
        return True

    def _next_start(self) -> int | None:
        """The start of the next document (blanks and commas between documents skipped), or None."""
        while True:
            p = _WS.match(self.buf, self.pos).end()
            while p < len(self.buf) and self.buf[p] == ",":  # separators some writers put between documents
                p = _WS.match(self.buf, p + 1).end()
            self.pos = p
            if p < len(self.buf):
                return p
            self._advance(p)
            if not self._fill():
                return None

    def _resync(self) -> tuple[int, str]:
        """After a broken document: where the next one starts (a line starting with ``{`` or ``[``),
        and the broken one's first characters (the rest of it is not kept)."""
        kept = ""
        frm = self.pos + 1
        while True:
            m = _OBJ_START.search(self.buf, frm)
            if m is not None or self.eof:
                end = m.start() + 1 if m is not None else len(self.buf)
                return end, kept + self.buf[self.pos:min(end, self.pos + _RAW_LIMIT - len(kept))]
            cut = max(self.pos, len(self.buf) - 1)  # a newline at the very end may start the next document
            kept += self.buf[self.pos:min(cut, self.pos + _RAW_LIMIT - len(kept))]
            self.pos = cut
            self._advance(cut)
            self._fill()
            frm = self.pos

    def _broken(self, e: json.JSONDecodeError) -> JsonRecord:
        start, line, byte = self.pos, self.line, self.byte
        seg = self.buf[start:e.pos]
        err_line = line + seg.count("\n")
        err_byte = byte + len(seg.encode("utf-8"))
        end, raw = self._resync()
        self.pos = end
        return JsonRecord(line, error=f"malformed JSON: document {self.doc} of {self.name}, starting at line {line} (byte {byte}): "
                                      f"{e.msg} at line {err_line} (byte {err_byte})", raw=raw.strip())

    def records(self, warnings: list[str]) -> Iterator[JsonRecord]:
        dec = json.JSONDecoder()
        while (start := self._next_start()) is not None:
            self._advance(start)
            try:
                value, end = dec.raw_decode(self.buf, start)
            except json.JSONDecodeError as e:
                if not self.eof and _may_continue(e, len(self.buf)):
                    self._fill(len(self.buf) - start)
                    continue
                self.doc += 1
                yield self._broken(e)
                continue
            if end == len(self.buf) and not self.eof and not isinstance(value, (dict, list)):
                self._fill()  # a number may go on in the next block
                continue
            self.doc += 1
            yield JsonRecord(self.line, value, raw=self.buf[start:end])
            self.pos = end
        warnings += _bad_bytes_warning(self.utf8.bad_lines)


def iter_json_records(path: Path, warnings: list[str]) -> Iterator[JsonRecord]:
    """Every top-level JSON value of the file (JSON Lines, one document, or documents back to back;
    gzip or zstd), with the line it starts on, parsed as the file is read.

    Memory holds one block and the record being parsed. The reader's warnings (bytes replaced) are
    appended to ``warnings`` once the iterator is exhausted.
    """
    p = Path(path)

    def read(n: int) -> bytes:
        try:
            return f.read(n)
        except OSError as e:  # a truncated or corrupt compressed stream
            raise LoadError(f"cannot decompress ({compression_of(p)}): {e}", source=str(p)) from None

    with open_binary(p) as f:
        head = read(HEAD_BYTES)
        text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
        if json_layout(text, complete=len(head) < HEAD_BYTES) == "lines":
            yield from _iter_lines(head, read, warnings)
        else:
            yield from _Documents(head, read, p.name).records(warnings)


def read_json_records(path: Path) -> tuple[list[JsonRecord], list[str]]:
    """Every top-level JSON value of the file, with its line (:func:`iter_json_records`); plus warnings."""
    warnings: list[str] = []
    records = list(iter_json_records(path, warnings))
    return records, warnings
