"""The three sample reports as their readers open them: ``report.html`` in headless Chromium.

One investigation per case study in ``sample_data/``, written as the notebooks write it
(``Postmortem.write``), is loaded at a 1280x800 viewport over the DevTools protocol
(``tests/_chromium.py``). The first screen must hold the headline, the impact, the four answers and
the timeline figure, show no markup as text, and the page must raise no console error.

With ``FORENSICS_SCREENSHOTS=DIR`` the tests also save each first screen, reduced to 960 pixels
wide, as ``DIR/<case>.png`` (the README's screenshots come from ``docs/screenshots``).

The executed notebook's interactive tables and figure, in JupyterLab and in ``notebook.html``, are
tested in ``tests/test_browser_notebook.py``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from analysis.report import CASES

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 1280, 800
QUESTIONS = ["output", "cause", "scope", "gap"]
# Markup shown as text: a tag, or an entity escaped twice.
RAW_MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?>|&(lt|gt|amp|quot|#\d+);")

# The positions and texts the checks read, in one evaluation.
LAYOUT_JS = """JSON.stringify((() => {
  const box = e => { if (!e) return null; const r = e.getBoundingClientRect();
                     return {top: r.top, bottom: r.bottom, text: e.innerText}; };
  const img = document.querySelector('#timeline-figure img');
  return {
    headline: box(document.querySelector('#headline')),
    impact: [...document.querySelectorAll('#impact > div')].map(box),
    answers: [...document.querySelectorAll('#answers > li')].map(e => ({...box(e), key: e.dataset.question})),
    figure: box(img), figureLoaded: img ? img.complete && img.naturalWidth > 0 : false,
    firstScreenText: document.querySelector('#first-screen').innerText,
    pageText: document.body.innerText,
    scripts: document.scripts.length,
    sections: [...document.querySelectorAll('section > h2')].map(h => h.innerText),
  };
})())"""


@pytest.fixture(scope="session")
def sample_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``report.html`` of each case study: one investigation per case, written as the notebooks write it."""
    from analysis import investigate
    from analysis.loaders import load_changes, load_evaluations

    out: dict[str, Path] = {}
    for case, pattern in CASES.items():
        data = ROOT / "sample_data" / case
        evals = data / "evaluations.csv"
        pm = investigate(str(data / "events.parquet"), load_changes(data / "changes.csv").frame, pattern=pattern, progress=False,
                         evaluations=load_evaluations(evals).frame if evals.is_file() else None)
        out[case] = pm.write(tmp_path_factory.mktemp(case))["report.html"]
    return out


@pytest.fixture(scope="session")
def layouts(chromium: Any, sample_reports: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Each report loaded once at 1280x800: its layout, its console errors, its first screen's screenshot."""
    import json

    shots = Path(os.environ["FORENSICS_SCREENSHOTS"]) if os.environ.get("FORENSICS_SCREENSHOTS") else None
    out = {}
    for case, path in sample_reports.items():
        page = chromium.load(path.as_uri(), width=WIDTH, height=HEIGHT)
        try:
            layout = json.loads(page.evaluate(LAYOUT_JS))
            png = page.screenshot(tmp_path_factory.mktemp("shots") / f"{case}.png")
            page.evaluate("1")  # read the events raised after the load
            layout["errors"] = list(page.errors)
        finally:
            page.close()
        if shots is not None:
            _save_small(png, shots / f"{case}.png")
        out[case] = layout
    return out


def _save_small(png: Path, dest: Path) -> None:
    """The screenshot at 960 pixels wide with a 256-colour palette, small enough to commit."""
    from PIL import Image

    dest.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(png) as im:
        small = im.convert("RGB").resize((960, round(im.height * 960 / im.width)), Image.LANCZOS)
        small.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(dest, optimize=True)


def _on_first_screen(box: dict[str, Any] | None) -> bool:
    return box is not None and 0 <= box["top"] and box["bottom"] <= HEIGHT


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_the_first_screen_holds_the_headline_the_impact_and_the_four_answers(layouts: dict[str, Any], case: str) -> None:
    lay = layouts[case]
    assert _on_first_screen(lay["headline"]) and len(lay["headline"]["text"]) > 40, lay["headline"]
    assert len(lay["impact"]) == 4 and all(_on_first_screen(b) for b in lay["impact"]), lay["impact"]
    assert [a["key"] for a in lay["answers"]] == QUESTIONS
    for a in lay["answers"]:
        assert _on_first_screen(a), a
        assert "confidence:" in a["text"], a["text"]


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_the_timeline_figure_is_on_the_first_screen(layouts: dict[str, Any], case: str) -> None:
    lay = layouts[case]
    assert lay["figureLoaded"]
    assert _on_first_screen(lay["figure"]), lay["figure"]


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_no_markup_shows_as_text_and_the_page_runs_no_script(layouts: dict[str, Any], case: str) -> None:
    lay = layouts[case]
    assert not RAW_MARKUP.search(lay["firstScreenText"]), RAW_MARKUP.search(lay["firstScreenText"])
    assert not re.search(r"&(lt|gt|amp|quot|#\d+);", lay["pageText"])  # nothing escaped twice anywhere
    assert lay["scripts"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_no_console_errors(layouts: dict[str, Any], case: str) -> None:
    assert layouts[case]["errors"] == []


@pytest.mark.slow
def test_the_sections_follow_the_postmortem_template(layouts: dict[str, Any]) -> None:
    expected = ["Summary", "Impact", "Root cause", "Trigger", "Detection", "Resolution", "Action items", "Timeline",
                "The four questions in detail", "Appendix: set-up and parameters"]
    for case, lay in layouts.items():
        assert lay["sections"] == expected, case
