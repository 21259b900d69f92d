"""``report.html`` (analysis/report/page.py) and its first screen in words (analysis/report/answers.py).

The numbers people read are checked by hand (116.75 h is 4 d 21 h); the confidence rules on small
stand-in results whose values are set here; the page on one real postmortem of a seeded scenario:
its sections in the SRE template's order, its action items from the runbook and ``monitors.yaml``,
and text from the data redacted and escaped wherever it lands.
"""

from __future__ import annotations

import dataclasses
import re
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from analysis.redact import escape_html
from analysis.report import answers, page

XSS = "<script>alert('pm')</script>"
EMAIL = "jane.doe@example.com"


# ----------------------------------------------------------------------------------------------
# numbers for people (the page's names for analysis.numbers: three significant digits, "n/a" for a missing value)
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("x, text", [(0.9735, "97.4%"), (0.25, "25%"), (0.00434, "0.43%"), (0.0116, "1.2%"), (0.001, "0.1%"),
                                     (0.0, "0%"), (None, "n/a"), (float("nan"), "n/a")])
def test_percentages_have_sensible_digits(x: Any, text: str) -> None:
    assert answers.pct(x) == text


@pytest.mark.parametrize("hours, text", [(116.75, "4 d 21 h"), (6.0, "6 h"), (24.0, "1 d"), (0.5, "30 min"), (-78.0, "-3 d 6 h"),
                                         (None, "n/a")])
def test_durations_read_as_days_and_hours(hours: Any, text: str) -> None:
    assert answers.duration(hours) == text


def test_p_values_below_a_thousandth_are_not_printed_in_full() -> None:
    assert answers.pvalue(3.2e-59) == "< 0.001" and answers.pvalue(0.26) == "0.26" and answers.pvalue(None) == "n/a"


# ----------------------------------------------------------------------------------------------
# the confidence rules, on stand-in results
# ----------------------------------------------------------------------------------------------


def _onset(**kw: Any) -> dict[str, Any]:
    base = {"ts": "2026-01-26T06:00:00Z", "metric": "refused", "segment_label": "query_category=chest_pain",
            "interval": ["2026-01-25T21:00:00Z", "2026-01-26T21:00:00Z"], "baseline": 0.97, "current": 0.25,
            "pvalue": 1e-9, "significant": True}
    return {**base, **kw}


@pytest.mark.parametrize("kw, confidence", [({}, "high"), ({"pvalue": 0.01}, "medium"),
                                             ({"interval": ["2026-01-24T00:00:00Z", "2026-01-26T21:00:00Z"]}, "medium"),
                                             ({"significant": False, "pvalue": 0.2}, "low")])
def test_onset_confidence(kw: dict[str, Any], confidence: str) -> None:
    pm = SimpleNamespace(onset=_onset(**kw), onset_result=SimpleNamespace(kind="rate"), q3=SimpleNamespace(verdict="systematic"))
    a = answers.answer_output(pm)
    assert a.confidence == confidence
    assert "from 97% to 25%" in a.sentence and "query_category=chest_pain" in a.sentence


def _q2(separable: bool, margin: float) -> SimpleNamespace:
    cands = pd.DataFrame({"change_id": ["chg-1", "chg-2"], "change_type": ["model_update", "deploy"],
                          "ts": pd.to_datetime(["2026-01-21T09:15Z", "2026-01-25T00:00Z"], utc=True), "lead_hours": [116.75, 30.0],
                          "attribute": ["model_version", None], "from_value": ["v1", None], "to_value": ["v2", None],
                          "inferred": [False, False]})
    return SimpleNamespace(candidates=cands, separation=SimpleNamespace(separable=separable, margin=margin, second="chg-2",
                                                                          text="chg-1 leads chg-2"))


@pytest.mark.parametrize("separable, margin, confidence", [(True, 0.9, "high"), (True, 0.2, "medium"), (False, 0.01, "low")])
def test_cause_confidence_follows_the_separation(separable: bool, margin: float, confidence: str) -> None:
    pm = SimpleNamespace(onset=_onset(), q2=_q2(separable, margin), q3=SimpleNamespace(verdict="systematic"))
    a = answers.answer_cause(pm)
    assert a.confidence == confidence
    assert "chg-1" in a.sentence and "model_version v1 -> v2" in a.sentence and "4 d 21 h before the onset" in a.sentence


@dataclasses.dataclass
class _Q4:
    gap_category: Any
    earliest_alarm: Any
    gap_hours: Any
    closing_monitor: Any
    monitors: Any
    gap_explanation: Any


def test_gap_confidence_follows_the_closing_monitors_false_alarms() -> None:
    monitors = pd.DataFrame({"name": ["cusum", "noisy"], "false_alarms_baseline": [0, 3]})
    q4 = _Q4("spc_missing", pd.Timestamp("2026-01-23T00:00Z"), 141.6, "cusum", monitors,
             "cusum would have alarmed first: a chart was missing")
    a = answers.answer_gap(SimpleNamespace(q4=q4))
    assert a.confidence == "high" and "5 d 22 h" in a.sentence and "a chart was missing" in a.sentence
    assert answers.answer_gap(SimpleNamespace(q4=dataclasses.replace(q4, closing_monitor="noisy"))).confidence == "medium"
    no_alarm = dataclasses.replace(q4, earliest_alarm=None, gap_hours=None)
    assert answers.answer_gap(SimpleNamespace(q4=no_alarm)).confidence == "low"


# ----------------------------------------------------------------------------------------------
# the page of a real postmortem
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_pm() -> Any:
    scenarios = pytest.importorskip("analysis.scenarios")
    from analysis import investigate

    s = scenarios.generate("refusal", seed=2, scale=0.3)
    return investigate(s.events, s.changes, pattern="refusal", progress=False)


@pytest.fixture(scope="module")
def real_page(real_pm: Any) -> str:
    return page.postmortem_page(real_pm)


def test_the_first_screen_comes_first_then_the_sre_sections_in_order(real_page: str) -> None:
    first = real_page.index("<header id='first-screen'>")
    for marker in ("id='headline'", "id='impact'", "id='answers'", "id='timeline-figure'"):
        assert first < real_page.index(marker) < real_page.index("</header>"), marker
    heads = re.findall(r"<section id='[^']+'><h2>([^<]+)</h2>", real_page)
    assert heads == ["Summary", "Impact", "Root cause", "Trigger", "Detection", "Resolution", "Action items", "Timeline",
                     "The four questions in detail", "Appendix: set-up and parameters"]
    assert real_page.count("data-question=") == 4
    assert "<script" not in real_page and "href='notebook.html'" in real_page


def test_the_answers_quote_the_results(real_pm: Any) -> None:
    fs = answers.first_screen(real_pm)
    assert [a.key for a in fs.answers] == ["output", "cause", "scope", "gap"]
    assert all(a.confidence in ("high", "medium", "low", "n/a") for a in fs.answers)
    assert real_pm.incident  # the seeded scenario has one: the checks below are not vacuous
    assert fs.impact.affected == real_pm.q3.n_affected
    assert f"{real_pm.q3.n_affected:,} affected requests" in fs.answers[2].sentence
    assert str(real_pm.q2.candidates.iloc[0]["change_id"]) in fs.answers[1].sentence


def test_action_items_come_from_the_runbook_and_monitors_yaml(real_pm: Any, real_page: str) -> None:
    section = real_page[real_page.index("<section id='action-items'>"):real_page.index("<section id='timeline'>")]
    for m in (real_pm.monitors or {}).get("monitors", []):
        assert f"Deploy monitor {m['name']}" in section
    for r in real_pm.runbook:
        if r["section"] in ("mitigate", "post_incident") and r.get("checked") is not True:
            assert escape_html(r["item"])[:60] in section


def test_text_from_the_data_is_redacted_and_escaped(real_pm: Any) -> None:
    hostile = f"{XSS} mail {EMAIL}"
    tl = real_pm.timeline.assign(description=real_pm.timeline["description"].astype(str) + " " + hostile)
    pm = dataclasses.replace(real_pm, title=hostile, notes=[hostile], timeline=tl,
                             runbook=[{**r, "evidence": hostile} for r in real_pm.runbook])
    text = page.postmortem_page(pm)
    assert XSS not in text and EMAIL not in text
    assert "&lt;script&gt;" in text and "[EMAIL]" in text
    kept = page.postmortem_page(pm, redact=False)
    assert XSS not in kept and EMAIL in kept


def test_a_page_without_incident_says_so_on_every_answer() -> None:
    scenarios = pytest.importorskip("analysis.scenarios")
    from analysis import investigate

    s = scenarios.generate("escalation", seed=3, scale=0.2, incident=False)  # the no-incident twin
    pm = investigate(s.events, s.changes, pattern="escalation", progress=False)
    assert not pm.incident
    fs = answers.first_screen(pm)
    assert [a.confidence for a in fs.answers] == ["n/a"] * 4
    assert fs.impact.affected is None and "no incident" in fs.headline.lower()
    text = page.postmortem_page(pm)
    assert text.count("data-question=") == 4 and "No incident: no requests affected." in text
