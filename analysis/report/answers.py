"""The postmortem's first screen in words: the headline, the impact and the four answers, each with its confidence.

:func:`first_screen` reads a :class:`~analysis.report.postmortem.Postmortem` and returns a
:class:`FirstScreen`: one headline sentence, the :class:`Impact` (requests affected, their share,
the duration, the risk tier) and four :class:`Answer` objects, one sentence each with a confidence
(``high``, ``medium``, ``low`` or ``n/a``) and the basis it rests on. Nothing is recomputed: every
number is one the investigation stored. The strings are plain text from the data, not yet redacted
or escaped; the page (:mod:`analysis.report.page`) does that where it writes them.

The confidence rules, stated so a reader can check them:

* onset: ``high`` when the change is significant with p < 0.001 and its interval spans at most a
  day, ``medium`` when it is significant, ``low`` otherwise;
* cause: ``high`` when the data separates the first candidate from the second by a score margin of
  at least 0.5, ``medium`` when it separates them at all, ``low`` when it cannot;
* scope: ``high`` when the strongest flagged segment's Holm-adjusted p is below 0.001, ``medium``
  below ``alpha``; an ``isolated`` verdict is ``medium`` (no segment beyond its tolerance);
* detection gap: ``high`` when the monitor that closes it raised no false alarm in the baseline,
  ``medium`` when it is usable with some, ``low`` when no replayed monitor alarmed before the report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis import numbers
from analysis._common import to_utc
from analysis.investigation.onset import TOO_FEW_DATA

__all__ = ["Answer", "Impact", "FirstScreen", "first_screen", "QUESTIONS"]

#: The four questions, in the order every report asks them.
QUESTIONS = {
    "output": "What was the output, and what should it have been?",
    "cause": "What changed?",
    "scope": "Isolated or systematic?",
    "gap": "What was the detection gap?",
}


@dataclass(frozen=True)
class Answer:
    """One of the four answers: ``key`` (``output``, ``cause``, ``scope``, ``gap``), the question, one
    sentence, its ``confidence`` (``high``, ``medium``, ``low`` or ``n/a``) and the ``basis`` of that confidence."""

    key: str
    question: str
    sentence: str
    confidence: str
    basis: str


@dataclass(frozen=True)
class Impact:
    """The incident's size: requests affected (None without a scope answer), their share of the
    failure window's requests, the duration in hours (onset to mitigation, or to the report while
    ``ongoing``), and the risk tier of the strongest flagged segment with its tolerance."""

    affected: int | None
    share: float | None
    duration_hours: float | None
    ongoing: bool
    tier: str | None
    tolerance: float | None


@dataclass(frozen=True)
class FirstScreen:
    """What a reader sees before scrolling: the headline, the impact and the four answers."""

    headline: str
    impact: Impact
    answers: tuple[Answer, ...]


# ----------------------------------------------------------------------------------------------
# Numbers for people: the shared forms of analysis.numbers (report.md and the notebook write the same)
# ----------------------------------------------------------------------------------------------

pct = numbers.rate
duration = numbers.duration
pvalue = numbers.pvalue
when = numbers.timestamp


def level(v: Any, kind: str) -> str:
    """A metric's value: a percentage for a rate, three significant digits for a mean."""
    return numbers.value(v, kind)


# ----------------------------------------------------------------------------------------------
# The four answers
# ----------------------------------------------------------------------------------------------


def _kind(pm: Any) -> str:
    kind = getattr(getattr(pm, "onset_result", None), "kind", None)
    return kind if kind in ("rate", "mean") else "rate"


def _segment(pm: Any) -> str:
    on = pm.onset or {}
    return str(on.get("segment_label") or "all traffic")


def _top(pm: Any) -> dict[str, Any] | None:
    c = getattr(pm.q2, "candidates", None) if pm.q2 is not None else None
    return None if c is None or len(c) == 0 else c.iloc[0].to_dict()


def _too_few(pm: Any) -> bool:
    return getattr(pm.q3, "verdict", None) == "too_few_data"


def answer_output(pm: Any) -> Answer:
    """Q1: how the metric moved, where and from when."""
    on, kind, q = pm.onset or {}, _kind(pm), QUESTIONS["output"]
    metric = str(on.get("metric") or "the metric") + (" (derived from the text)" if on.get("derived") else "")
    if _too_few(pm):
        return Answer("output", q, f"{TOO_FEW_DATA.capitalize()}: {on.get('reason')}.", "n/a", "no failure window")
    if on.get("ts") is None:
        return Answer("output", q, f"No persistent change in {metric}: no incident found.", "n/a", str(on.get("reason") or ""))
    sentence = (f"{metric} went from {level(on.get('baseline'), kind)} to {level(on.get('current'), kind)} in "
                f"{_segment(pm)} from {when(on.get('ts'))}; it should have stayed near {level(on.get('baseline'), kind)}.")
    p, iv = numbers.finite(on.get("pvalue")), on.get("interval")
    width = None if not iv else (to_utc(iv[1]) - to_utc(iv[0])) / pd.Timedelta(hours=1)
    basis = f"p {pvalue(p)}" + (f"; onset located within {duration(width)} ({when(iv[0])} .. {when(iv[1])})" if width is not None else "")
    if on.get("significant") and p is not None and p < 0.001 and width is not None and width <= 24:
        return Answer("output", q, sentence, "high", basis)
    return Answer("output", q, sentence, "medium" if on.get("significant") else "low", basis)


def _change_text(top: Mapping[str, Any]) -> str:
    attr, a, b = top.get("attribute"), top.get("from_value"), top.get("to_value")
    what = f"; {attr} {'?' if _missing(a) else a} -> {'?' if _missing(b) else b}" if not _missing(attr) else ""
    return f"{top.get('change_id')} ({top.get('change_type')}{what}, {when(top.get('ts'))})"


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v == ""


def answer_cause(pm: Any) -> Answer:
    """Q2: the most likely cause, and whether the data separates it from the next one."""
    top, q = _top(pm), QUESTIONS["cause"]
    if _too_few(pm) or (pm.onset or {}).get("ts") is None:
        return Answer("cause", q, "No cause to name: without an onset no change can be tied to one.", "n/a", "no onset")
    if top is None:
        return Answer("cause", q, "No logged or inferred change came before the onset.", "low", "empty change log")
    lead = numbers.finite(top.get("lead_hours"))
    sentence = (f"Most likely {_change_text(top)}" + (f", {duration(lead)} before the onset" if lead is not None and lead >= 0 else "")
                + (" (inferred from the logs: no change-log entry)" if top.get("inferred") else "") + ".")
    sep = getattr(pm.q2, "separation", None)
    if sep is None:
        return Answer("cause", q, sentence, "medium", "the only candidate")
    margin = numbers.finite(getattr(sep, "margin", None))
    basis = f"score margin {margin:.2f} over {sep.second}" if margin is not None else str(sep.text)
    if not sep.separable:
        return Answer("cause", q, sentence, "low", f"the data cannot separate it from {sep.second}")
    return Answer("cause", q, sentence, "high" if margin is not None and margin >= 0.5 else "medium", basis)


def _strongest(q3: Any) -> dict[str, Any] | None:
    seg = getattr(q3, "segments", None)
    if seg is None or len(seg) == 0 or "status" not in seg.columns:
        return None
    flagged = seg[seg["status"].isin(["systematic", "elevated"])]
    if len(flagged) == 0:
        return None
    # the scope verdict's own order (smallest Holm-adjusted p); on ties a segment before all traffic, larger effect first
    order = flagged.assign(_all=flagged["segment_column"] == "__all__", _eff=-flagged["effect"].abs())
    return order.sort_values(["p_adjusted", "_all", "_eff"], kind="stable").iloc[0].to_dict()


def _seg_name(row: Mapping[str, Any]) -> str:
    col = row.get("segment_column")
    return "all traffic" if col in (None, "", "__all__") else f"{col}={row.get('segment')}"


def answer_scope(pm: Any) -> Answer:
    """Q3: the verdict, the requests affected and the strongest segment."""
    q3, q = pm.q3, QUESTIONS["scope"]
    if q3 is None or q3.verdict in ("no_incident", "too_few_data"):
        why = TOO_FEW_DATA if q3 is not None and q3.verdict == "too_few_data" else "no incident"
        return Answer("scope", q, f"Not assessed: {why}.", "n/a", str(getattr(q3, "reason", "") or ""))
    head = f"{q3.verdict.capitalize()}: {q3.n_affected:,} affected requests ({pct(q3.affected_share)} of the failure window)"
    s = _strongest(q3)
    if s is None:
        return Answer("scope", q, head + "; no segment beyond its risk tier's tolerance.", "medium",
                      "every segment within its tolerance")
    sentence = (f"{head}; strongest in {_seg_name(s)}, {pct(s.get('current_rate'))} failing against "
                f"{pct(s.get('baseline_rate'))} before ({s.get('tier')} tier, tolerance {pct(s.get('threshold'))}).")
    p = numbers.finite(s.get("p_adjusted"))
    basis = f"Holm-adjusted p {pvalue(p)} in {_seg_name(s)}"
    conf = "high" if p is not None and p < 0.001 else "medium" if p is not None and p < q3.alpha else "low"
    return Answer("scope", q, sentence, conf, basis)


def answer_gap(pm: Any) -> Answer:
    """Q4: how long before the report a monitor could have alarmed, and which kind was missing."""
    q4, q = pm.q4, QUESTIONS["gap"]
    if q4 is None or q4.gap_category is None:
        return Answer("gap", q, "No detection gap: there was no incident to detect.", "n/a", "no incident")
    cat = str(q4.gap_category).replace("_", " ")
    if q4.earliest_alarm is None or q4.gap_hours is None:
        return Answer("gap", q, f"No replayed monitor alarmed before the report ({cat}).", "low", "no alarm to date the gap from")
    why = str(q4.gap_explanation or "").partition(": ")[2] or cat
    sentence = (f"A monitor could have alarmed {duration(q4.gap_hours)} before the report: {q4.closing_monitor} at "
                f"{when(q4.earliest_alarm)}; {why}.")
    row = _monitor_row(q4, q4.closing_monitor)
    fa = None if row is None else int(row.get("false_alarms_baseline") or 0)
    basis = "replayed over the history" + ("" if fa is None else f": {fa} false alarm{'s' if fa != 1 else ''} in the baseline")
    return Answer("gap", q, sentence, "high" if fa == 0 else "medium", basis)


def _monitor_row(q4: Any, name: Any) -> dict[str, Any] | None:
    t = getattr(q4, "monitors", None)
    if t is None or len(t) == 0 or name is None:
        return None
    hit = t[t["name"] == name]
    return None if len(hit) == 0 else hit.iloc[0].to_dict()


# ----------------------------------------------------------------------------------------------
# Impact and headline
# ----------------------------------------------------------------------------------------------


def impact(pm: Any) -> Impact:
    """Requests affected, their share, the duration (onset to mitigation or report) and the tier."""
    q3, on, dur = pm.q3, pm.onset or {}, pm.durations
    incident = on.get("ts") is not None and getattr(q3, "verdict", None) not in ("no_incident", "too_few_data", None)
    if not incident:
        return Impact(None, None, None, False, None, None)
    onset = to_utc(on.get("ts"))
    mitigated = to_utc(getattr(dur, "mitigated_at", None)) if dur is not None else None
    end = mitigated or to_utc(getattr(pm.q4, "reported_at", None))
    hours = None if end is None or onset is None else (end - onset) / pd.Timedelta(hours=1)
    s = _strongest(q3)
    tier = str(s["tier"]) if s is not None else (pm.parameters or {}).get("default_tier")
    tolerance = numbers.finite(s["threshold"]) if s is not None else numbers.finite((q3.risk_thresholds or {}).get(tier))
    return Impact(int(q3.n_affected), numbers.finite(q3.affected_share), hours, mitigated is None, tier, tolerance)


def headline(pm: Any, answers: tuple[Answer, ...], imp: Impact) -> str:
    """One sentence: what moved, the most likely cause, how many requests, how late it was seen."""
    on, kind = pm.onset or {}, _kind(pm)
    if on.get("ts") is None or imp.affected is None:
        return answers[0].sentence
    top = _top(pm)
    cause = f" after {top.get('change_id')} ({top.get('change_type')})" if top is not None else ""
    gap = pm.q4.gap_hours if pm.q4 is not None else None
    late = f"; a monitor could have caught it {duration(gap)} before it was reported" if numbers.finite(gap) is not None else ""
    return (f"{on.get('metric')} in {_segment(pm)} went from {level(on.get('baseline'), kind)} to "
            f"{level(on.get('current'), kind)}{cause}: {imp.affected:,} requests affected{late}.")


def first_screen(pm: Any) -> FirstScreen:
    """The headline, the impact and the four answers of a postmortem."""
    answers = (answer_output(pm), answer_cause(pm), answer_scope(pm), answer_gap(pm))
    imp = impact(pm)
    return FirstScreen(headline(pm, answers, imp), imp, answers)
