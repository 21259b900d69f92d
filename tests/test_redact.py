"""Redaction and escaping of text from the data (analysis/redact.py).

References are hand-worked cases and published example identifiers:
- card numbers: the Visa test number 4111 1111 1111 1111 published by payment processors (passes
  the Luhn check); changing its last digit breaks the check (hand-worked: the Luhn sum of
  4111111111111111 is 30, of ...1112 is 31);
- IBAN: DE89 3704 0044 0532 0130 00, the example IBAN of the ECBS standard (EBS204);
- phone numbers: +44 20 7946 0958 is in Ofcom's range reserved for drama; 555-01xx is the range
  North American numbering sets aside for fiction;
- HTML escaping is compared with the standard library's ``html.escape``.
"""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.redact import escape_html, redact_text, safe_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to jane.doe@example.com today", "write to [EMAIL] today"),
        ("JANE.DOE+tag@Sub.Example.co.uk", "[EMAIL]"),
        ("see https://example.com/a?b=c for details", "see [URL] for details"),
        ("IBAN DE89 3704 0044 0532 0130 00", "IBAN [IBAN]"),
        ("card 4111 1111 1111 1111 expired", "card [CARD] expired"),
        ("card 4111-1111-1111-1111", "card [CARD]"),
        ("card 4111111111111111", "card [CARD]"),
        ("ssn 123-45-6789", "ssn [SSN]"),
        ("from 192.168.10.1 again", "from [IP] again"),
        ("call +44 20 7946 0958", "call [PHONE]"),
        ("call +1 (555) 010-0199 now", "call [PHONE] now"),
        ("call 555-0199", "call [PHONE]"),
        ("call (555) 010 0199", "call [PHONE]"),
        ("portable 06 12 34 56 78", "portable [PHONE]"),
        ("+33612345678", "[PHONE]"),
    ],
)
def test_personal_data_is_replaced_by_its_label(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # Dates, times and versions are not phone numbers.
        "reported 2026-03-01 12:00:00 UTC",
        "2026-03-01T12:00:00Z",
        "model gpt-4o-2024-08-06",
        "index 2026.03.01 rebuilt",
        "python 3.11.4 build 2.0",
        # Numbers from an analysis are not personal data.
        "14,000 filings, score 0.72, 1,234,567 rows",
        "ticket #4521-88",
        # 16 digits failing the Luhn check are not a card number.
        "order 4111 1111 1111 1112",
        # A 19-digit epoch-nanosecond timestamp fails the Luhn check (hand-worked sum 31).
        "ts 1767225600000000000",
        # Too few digits for a phone number (E.164: 7 to 15).
        "room 12 34",
    ],
)
def test_things_that_look_like_personal_data_but_are_not_are_kept(text: str) -> None:
    assert redact_text(text) == text


def test_email_is_not_half_eaten_by_other_patterns() -> None:
    # An address made of digits would also look like a phone number.
    assert redact_text("555.0199.123@example.com") == "[EMAIL]"


@pytest.mark.parametrize("value", [None, 3, 2.5, ["a@b.co"], {"k": "a@b.co"}])
def test_non_strings_pass_through(value: object) -> None:
    assert redact_text(value) is value


@pytest.mark.parametrize(
    "text",
    ["<script>alert(1)</script>", "a & b", "\"quoted\" and 'single'", "<img src=x onerror=alert(1)>", ""],
)
def test_escape_html_matches_the_standard_library(text: str) -> None:
    assert escape_html(text) == html.escape(text, quote=True)


def test_escape_html_of_none_is_empty_and_of_numbers_is_their_text() -> None:
    assert escape_html(None) == ""
    assert escape_html(0.72) == "0.72"


def test_safe_text_redacts_by_default_and_not_when_asked() -> None:
    text = "mail jane.doe@example.com"
    assert safe_text(text) == "mail [EMAIL]"
    assert safe_text(text, redact=False) == text


def test_safe_text_shortens_to_max_len_with_an_ellipsis() -> None:
    out = safe_text("x" * 1000, max_len=10)
    assert len(out) == 10 and out.endswith("\u2026")
    assert safe_text("x" * 1000, max_len=None) == "x" * 1000


def test_safe_text_does_not_escape_that_is_the_writers_job() -> None:
    assert safe_text("<b>") == "<b>"


_local = st.from_regex(r"[a-z][a-z0-9._]{0,15}[a-z0-9]", fullmatch=True)
_domain = st.from_regex(r"[a-z][a-z0-9\-]{0,10}[a-z0-9]\.(com|org|example|co\.uk)", fullmatch=True)
_filler = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="@"), max_size=40)


@settings(max_examples=200, deadline=None)
@given(local=_local, domain=_domain, before=_filler, after=_filler)
def test_any_email_in_any_text_is_removed(local: str, domain: str, before: str, after: str) -> None:
    email = f"{local}@{domain}"
    out = redact_text(f"{before} {email} {after}")
    assert email not in out
    assert "[EMAIL]" in out


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80))
def test_redaction_is_idempotent(text: str) -> None:
    once = redact_text(text)
    assert redact_text(once) == once


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80))
def test_escaped_text_holds_no_markup(text: str) -> None:
    out = escape_html(text)
    assert "<" not in out and ">" not in out
    assert html.unescape(out) == text
    # Every & in the output starts an entity.
    assert all(re.match(r"&(amp|lt|gt|quot|#x27);", out[i:]) for i in range(len(out)) if out[i] == "&")
