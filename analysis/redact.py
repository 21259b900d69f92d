"""Redaction and escaping of text that comes from the data (prompts, responses).

Prompts and responses may hold personal data and markup. Every report redacts them by default
(``redact=False`` / ``--no-redact`` turns it off), and each format escapes them for itself: HTML
with :func:`escape_html`, Markdown with :func:`analysis.report.markdown.md_text`, CSV with
:func:`csv_safe_frame` (raw text, formulas defused: every CSV the kit writes, reports, rejected rows
and the regression set, goes through it), JSON as raw text.
This is the bottom module for redaction and escaping: it imports only ``analysis._common``.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pandas as pd

from analysis._common import iso_z

__all__ = ["redact_text", "escape_html", "safe_text", "csv_safe", "csv_safe_frame", "json_text_safe", "PATTERNS"]

# Order matters: the most specific patterns first, so that an email is not half-eaten by a
# phone-number pattern. CARD and PHONE matches are only candidates: they are kept as they are when
# the check beside them says they are something else (a number failing the Luhn check, a date).
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("EMAIL", re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")),
    ("URL", re.compile(r"\bhttps?://[^\s<>\"']+", re.IGNORECASE)),
    ("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){3,7}(?:[ ]?[A-Z0-9]{1,3})?\b")),
    ("CARD", re.compile(r"\b(?:\d[ \-]?){12,18}\d\b")),
    ("SSN", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    ("IP", re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")),
    (
        "PHONE",
        re.compile(
            r"(?<![\w.+\-])(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,4}\)[ .\-]?)?\d{1,4}(?:[ .\-]\d{1,5}){1,6}(?![\w]|[.\-]\d)"
            r"|(?<![\w.+\-])\(\d{1,4}\)[ .\-]?\d{3,5}(?![\w]|[.\-]\d)"
            r"|(?<![\w+])\+\d{7,15}(?!\w)"
        ),
    ),
)

# A calendar date at the start of a phone candidate (2026-03-01, 2026.03.01, 2026/03/01, 2026-03-01 12).
_DATE = re.compile(r"^(?:19|20)\d{2}[-./](?:0?[1-9]|1[0-2])[-./](?:0?[1-9]|[12]\d|3[01])(?!\d)")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _keep(label: str, match: str) -> bool:
    """True when a candidate match is not personal data after all."""
    digits = re.sub(r"\D", "", match)
    if label == "CARD":
        return not (13 <= len(digits) <= 19 and _luhn_ok(digits))
    if label == "PHONE":
        return not (7 <= len(digits) <= 15) or bool(_DATE.match(match))
    return False


def redact_text(text: Any) -> Any:
    """Replace emails, URLs, IBANs, card numbers, SSNs, IP addresses and phone numbers.

    Each match becomes ``[EMAIL]``, ``[PHONE]``, ... Non-string values are returned as they are.
    Card numbers must pass the Luhn check; phone numbers have 7 to 15 digits (E.164) and calendar
    dates such as ``2026-03-01`` are not taken for phone numbers.
    """
    if not isinstance(text, str):
        return text
    for label, pattern in PATTERNS:
        text = pattern.sub(lambda m, label=label: m.group(0) if _keep(label, m.group(0)) else f"[{label}]", text)
    return text


def escape_html(text: Any) -> str:
    """Escape ``&``, ``<``, ``>`` and quotes; ``None`` becomes an empty string."""
    if text is None:
        return ""
    return html.escape(str(text), quote=True)


def json_text_safe(text: str) -> str:
    """JSON text with ``<``, ``>`` and ``&`` written as ``\\u003c``, ``\\u003e``, ``\\u0026``.

    The same values for any JSON reader (the data stays raw), but text from the data cannot
    become markup where the file is shown or embedded in a page. Only valid on JSON text: those
    characters occur in JSON only inside strings.
    """
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def safe_text(text: Any, *, redact: bool = True, max_len: int | None = 500) -> Any:
    """Redact (by default) and shorten a value from the data for a report; not escaped.

    Escaping is the job of the format writer (HTML escapes, Markdown escapes its own
    metacharacters); see :func:`escape_html` and :func:`analysis.postmortem`.
    """
    if not isinstance(text, str):
        return text
    if redact:
        text = redact_text(text)
    if max_len is not None and len(text) > max_len:
        text = text[: max_len - 1] + "\u2026"
    return text


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any, *, redact: bool = True) -> Any:
    """A text cell from the data made safe for a CSV someone will open in a spreadsheet.

    The text stays raw (a CSV is not HTML: no entities), with personal data redacted (unless
    ``redact=False``); a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
    gets a leading ``'`` so a spreadsheet does not run it as a formula (OWASP's rule for CSV
    injection, applied to every text cell, ``-0.5`` included; numeric cells are not text and stay
    as they are). Quoting is the CSV writer's job.
    """
    if not isinstance(value, str):
        return value
    text = safe_text(value, redact=redact, max_len=None)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_safe_frame(frame: pd.DataFrame, *, redact: bool = True) -> pd.DataFrame:
    """A copy of ``frame`` for a CSV: text cells through :func:`csv_safe`, timestamps as ISO 8601 ``Z``."""
    f = frame.copy()
    for c in f.columns:
        if pd.api.types.is_datetime64_any_dtype(f[c].dtype):
            f[c] = [iso_z(v) for v in f[c]]
        elif f[c].dtype == object or pd.api.types.is_string_dtype(f[c].dtype):
            f[c] = [csv_safe(v, redact=redact) for v in f[c].astype(object)]
    return f
