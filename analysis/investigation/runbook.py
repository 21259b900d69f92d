"""The runbook: the checklist of the investigation, its mitigation and its follow-up, each item
ticked from the evidence where the data can tick it."""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from analysis import numbers as num
from analysis.investigation.evidence import StratifiedResult
from analysis.investigation.onset import TOO_FEW_DATA, Onset
from analysis.investigation.backtest import Q4Result
from analysis.investigation.scope import Q3Result

__all__ = ["runbook"]


def runbook(onset: Onset, ranked: pd.DataFrame, q3: Q3Result, q4: Q4Result, derived: tuple[str, ...] | list[str],
            strat: Mapping[str, StratifiedResult], incident: bool) -> list[dict[str, Any]]:
    """The runbook's items: section, item, checked (``None``: for a person to check), evidence."""
    top = ranked.iloc[0].to_dict() if len(ranked) else None
    rb: list[dict[str, Any]] = []

    def add(section: str, item: str, checked: bool | None, evidence: str = "") -> None:
        rb.append({"section": section, "item": item, "checked": checked, "evidence": evidence})

    seg = onset.segment_dict
    seg_t = ", ".join(f"{k}={v}" for k, v in seg.items()) or "all traffic"
    add("triage", "Confirm the symptom in the logs (a significant, persistent change in the metric)", bool(onset.significant),
        f"{onset.metric} in {seg_t}: {num.value(onset.baseline_level, onset.kind, onset.metric)} -> "
        f"{num.value(onset.current_level, onset.kind, onset.metric)}, effect {num.effect(onset.effect, onset.kind)}"
        if onset.significant else onset.reason)
    add("triage", "Identify the changes made before the onset (logged and inferred from the logs)", bool(len(ranked)),
        f"{len(ranked)} candidate change(s)")
    add("triage", "Stratify the metric by the changed version columns", bool(strat),
        "; ".join(f"{k}: effect {num.effect(v.effect, onset.kind)} over {v.windows_shared} shared windows" if v.windows_shared
                  else f"{k}: no shared window (the column switched for all traffic at once)" for k, v in list(strat.items())[:3])
        if strat else "no version column to compare")
    add("triage", "Check that the outcome labels are logged, not derived", not derived,
        f"derived from text: {', '.join(derived)}" if derived else "labels present in the logs")
    add("scope", "Scan the failure rate per segment against the baseline with the risk-tier tolerances", q3.verdict != "too_few_data",
        f"verdict {q3.verdict}: {q3.reason}")
    add("scope", "Export the affected events for manual review", bool(q3.n_affected) if q3.verdict == "systematic" else None,
        f"{num.count(q3.n_affected)} events ({num.rate(q3.affected_share)} of the failure window)")
    add("scope", "Check the affected events for personal data before sharing", None, "reports redact emails and phone numbers by default")
    if incident and top is not None:
        add("mitigate", f"Roll back or contain the most likely cause: {top['change_id']} ({top['change_type']})", None, str(top.get("evidence", ""))[:300])
        det = top.get("evidence_detail") or {}
        if isinstance(det, Mapping) and (det.get("staleness") or {}).get("stale"):
            add("mitigate", "Rebuild the retrieval index against the current corpus", None, "index stale against the corpus")
        add("mitigate", "Confirm the metric returns to its baseline after the mitigation", None, "")
        add("post_incident", f"Add the monitor that would have closed the gap: {q4.closing_monitor or 'a quality signal'}", None,
            f"{q4.gap_category}: {q4.gap_explanation}")
        add("post_incident", "Deploy monitors.yaml (python -m analysis monitor --config monitors.yaml --events NEW --state ...)",
            None, "the incident segment's, the risk tiers' and the pattern's charts, designed for one false alarm a month")
        add("post_incident", "Add regression_cases.csv to the evaluation suite (Langfuse or Phoenix dataset upload)", None,
            f"{q3.n_affected} affected requests with the expected behaviour")
        add("post_incident", "Gate the next model update on a canary (python -m analysis gate ...)", None,
            "a sequential test per risk tier: hold, promote or continue")
        add("post_incident", "Add the change log entries that were missing (inferred changes)", None if len(ranked) else False,
            ", ".join(c for c in ranked["change_id"] if str(c).startswith("inferred:")) or "none inferred")
        add("post_incident", "Review the risk-tier tolerances with the product owner", None, "")
    elif onset.too_few_data:
        add("mitigate", f"Nothing to conclude: {TOO_FEW_DATA} ({onset.reason})", None, "")
        add("post_incident", "Read a longer period of the logs, or give a shorter window (--window), and investigate again", None, "")
    else:
        add("mitigate", "Nothing to mitigate: no incident found in the logs", None, "")
        add("post_incident", "If users still report a problem, check the labels and the segments the logs carry", None, "")
    return rb
