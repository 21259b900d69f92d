"""Each format escapes for itself: the real command on a case whose data holds markup and formula-like text.

A small escalation storm (``analysis.scenarios``, seed 1) whose incident segment value, prompts and
answers hold ``<script>alert(1)</script>``, ``**bold**``, ``|pipe|``, ``=HYPERLINK(...)``, ``+1`` and
an email address goes through ``python -m analysis investigate`` in a subprocess. Every file it
writes is then read as its own reader would:

- report.html: the markup is escaped (``&lt;script&gt;``), never live;
- report.md: ``<`` as ``&lt;``, Markdown's metacharacters backslash-escaped, every table row keeps
  its number of cells;
- the CSVs: raw text (no HTML entities), and no cell starts with ``=``, ``+``, ``-``, ``@``, a tab or
  a carriage return (OWASP): the formula-like cells carry a leading ``'``;
- report.json and regression_cases.jsonl: the raw text for a JSON reader, with no ``<`` in the file.

Everywhere the email address is redacted (the default).
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
XSS = "<script>alert(1)</script>"
EMAIL = "jane.doe@example.com"
FORMULA = '=HYPERLINK("x")'
#: the incident segment's value (traffic_source=blog_referral in the scenario), renamed
SEGMENT = f"{FORMULA} |pipe| **bold** {XSS}"
#: what starts the prompts and answers of the last day
PROMPT = f"{XSS} **bold** |pipe| write to {EMAIL} "
ANSWER = "+1 "
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    scenarios = pytest.importorskip("analysis.scenarios")
    s = scenarios.generate("escalation", seed=1, scale=0.3)
    root = tmp_path_factory.mktemp("escaping")
    ev = s.events.copy()
    ev["traffic_source"] = ev["traffic_source"].astype(object).replace("blog_referral", SEGMENT)
    last_day = ev["ts"] >= ev["ts"].max() - pd.Timedelta(days=1)
    for col, prefix in (("input_text", PROMPT), ("output_text", ANSWER)):
        ev[col] = ev[col].astype(object)
        ev.loc[last_day, col] = prefix + ev.loc[last_day, col].fillna("").astype(str)
    events = root / "events.jsonl"
    ev.to_json(events, orient="records", lines=True, date_format="iso", date_unit="ms")
    ch = s.changes.copy()
    for col in ch.columns:
        if ch[col].dtype == object or pd.api.types.is_string_dtype(ch[col].dtype):
            ch[col] = ch[col].astype(object).replace("blog_referral", SEGMENT)
    ch["description"] = ch["description"].astype(object).fillna("").astype(str) + f" {XSS} **bold** {EMAIL}"
    changes = root / "changes.csv"
    ch.to_csv(changes, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    out = root / "r"
    run = subprocess.run(
        [sys.executable, "-m", "analysis", "investigate", "--events", str(events), "--changes", str(changes),
         "--pattern", "escalation", "--out", str(out), "--quiet"],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(out.iterdir()) if p.is_file()}


@pytest.mark.slow
def test_every_report_file_is_written_and_redacted(reports: dict[str, str]) -> None:
    for name in ("report.html", "report.md", "report.json", "timeline.csv", "affected_events.csv", "regression_cases.csv",
                 "regression_cases.jsonl"):
        assert name in reports, sorted(reports)
    for name, text in reports.items():
        assert EMAIL not in text, name


@pytest.mark.slow
def test_html_escapes_markup(reports: dict[str, str]) -> None:
    html = reports["report.html"]
    assert XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the data reached the page, as text
    assert "=HYPERLINK(" in html  # no CSV guard in HTML


@pytest.mark.slow
def test_markdown_escapes_markup_and_its_metacharacters(reports: dict[str, str]) -> None:
    md = reports["report.md"]
    assert "<script" not in md and "</script" not in md
    assert "&lt;script>alert(1)&lt;/script>" in md
    assert "**bold**" not in md and "\\*\\*bold\\*\\*" in md
    assert "\\|pipe\\|" in md
    # a table row has as many cells as its header: no pipe from the data opened a column
    lines = md.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("| ---"):
            n = len(re.split(r"(?<!\\)\|", lines[i - 1]))
            for row in lines[i + 1:]:
                if not row.startswith("|"):
                    break
                assert len(re.split(r"(?<!\\)\|", row)) == n, row


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _csv_cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text)) for c in row]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["affected_events.csv", "timeline.csv", "regression_cases.csv"])
def test_csvs_hold_raw_text_with_formulas_defused(reports: dict[str, str], name: str) -> None:
    text = reports[name]
    assert "&lt;" not in text and "&amp;" not in text and "&gt;" not in text  # no HTML entities in a CSV
    cells = _csv_cells(text)
    # numeric columns hold numbers (-14.0 hours from the onset), which a spreadsheet cannot run
    assert not [c for c in cells if c.startswith(FORMULA_START) and not _is_number(c)], name
    assert any(XSS in c for c in cells), name  # the markup is there, raw


@pytest.mark.slow
def test_affected_events_csv_guards_each_formula_like_cell(reports: dict[str, str]) -> None:
    rows = list(csv.DictReader(io.StringIO(reports["affected_events.csv"])))
    assert rows
    assert {r["traffic_source"] for r in rows} == {"'" + SEGMENT}  # the failing segment: the formula defused
    assert all(r["output_text"].startswith("'+1 ") for r in rows if r["output_text"].startswith("'+"))
    assert any(r["output_text"].startswith("'+1 ") for r in rows)
    assert all(r["input_text"].startswith(XSS) for r in rows if "script" in r["input_text"])
    assert any("[EMAIL]" in r["input_text"] for r in rows)


@pytest.mark.slow
def test_json_holds_raw_text_and_no_markup_character(reports: dict[str, str]) -> None:
    text = reports["report.json"]
    assert "<" not in text and ">" not in text and "&lt;" not in text
    doc = json.loads(text)
    segments = [s["segment"].get("traffic_source") for s in doc["q3_scope"]["segments"]]
    assert SEGMENT in segments  # the raw value, as written in the data
    flat = json.dumps(doc, ensure_ascii=False)
    assert "&lt;" not in flat and "&amp;" not in flat
    lines = reports["regression_cases.jsonl"].splitlines()
    assert lines and "<" not in reports["regression_cases.jsonl"]
    first = json.loads(lines[0])
    assert first["input"].startswith(XSS) and "[EMAIL]" in first["input"]  # raw, redacted
    assert first["metadata"]["output"].startswith("+1 ")  # JSON needs no formula guard


# ----------------------------------------------------------------------------------------------
# The escapers themselves (fast), each against the form worked out by hand from its format's rules
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (XSS, "&lt;script>alert(1)&lt;/script>"),  # a `<` before a letter or `/` could open a tag
        ("p < 0.001", "p < 0.001"),  # a `<` before a space opens nothing (CommonMark 6.6)
        ("<!-- x -->", "&lt;!-- x -->"),
        ("<irc:chan>", "&lt;irc:chan>"),  # an autolink
        ("Q&A &lt; &#60;", "Q&A &amp;lt; &amp;#60;"),  # an entity in the data stays text; a bare & is text
        ("**bold** |pipe| _x_ [l](u) `c` ~s~", "\\*\\*bold\\*\\* \\|pipe\\| \\_x\\_ \\[l\\](u) \\`c\\` \\~s\\~"),
        ("line\nbreak", "line break"),
        (f"{EMAIL}", "\\[EMAIL\\]"),
    ],
)
def test_md_text(text: str, expected: str) -> None:
    from analysis.report.markdown import md_text

    assert md_text(text) == expected


def test_md_code_falls_back_to_text_for_what_a_code_span_cannot_hold() -> None:
    from analysis.report.markdown import md_code

    assert md_code("chg-0202") == "`chg-0202`"
    assert md_code("a|b") == "a\\|b" and md_code("<b>") == "&lt;b>" and md_code("x`y") == "x\\`y"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (FORMULA, "'" + FORMULA),
        ("+1 thanks", "'+1 thanks"),
        ("-0.5", "'-0.5"),  # a text cell, guarded like any other (OWASP)
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        (XSS, XSS),  # raw: a CSV is not HTML
        ("a = b", "a = b"),
        (f"mail {EMAIL}", "mail [EMAIL]"),
        (3.5, 3.5),  # not text
    ],
)
def test_csv_safe(cell: object, expected: object) -> None:
    from analysis.redact import csv_safe

    assert csv_safe(cell) == expected


def test_json_text_safe_keeps_the_values() -> None:
    from analysis.redact import json_text_safe

    doc = {"t": f"{XSS} & {FORMULA}"}
    text = json_text_safe(json.dumps(doc))
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == doc
