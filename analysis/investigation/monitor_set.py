"""The monitors a postmortem exports, designed as a set for one false-page budget.

The on-call is paged by the set, not by one chart: ``monitors.yaml`` is designed for a family
budget of false pages (by default one per 30 days for the whole file), split across its charts.

The set: the failure's binomial CUSUM in the incident's segment (the chart that closes the gap)
and on all traffic, one per risk tier (the rarer side of the flag there), the retrieval-relevance
chart when ``retrieval_top1_score`` is logged, and the traffic-mix chart after a mix shift. A
candidate with fewer than 30 baseline requests, or whose flag is the norm (``p0 >= 0.95``), is left
out before the split.

The split (:func:`split_budget`): the *lead* chart, the one that watches the incident's own metric
in its own segment (``incident_segment``; ``all_traffic`` or ``retrieval_relevance`` for an
incident on all traffic), takes :data:`LEAD_SHARE` of the budget; the others share the rest
equally. Without an incident, or alone, the budget is split equally. Each chart is designed for
one false alarm per ``ARL0 = 30 days / window / share`` windows
(:func:`analysis.investigation.monitor_charts.design_binomial`, ``spc.cusum_h_for_arl``).

The set is planned once, in the detection-gap step: the Q4 replay charts its members with these
designs (``cusum`` on all traffic, ``segment_cusum``), and
:func:`analysis.prevention.monitors.design_monitors` writes them to ``monitors.yaml`` as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.engine import Engine, Metric, Where
from analysis.engine.query import quote_ident, quote_literal
from analysis.investigation.monitor_charts import design_binomial, standardize
from analysis.investigation.series import series as metric_series
from analysis.stats import spc

__all__ = ["FAMILY_BUDGET_PER_30_DAYS", "LEAD_SHARE", "SPLIT_RULE", "SetScope", "PlannedMonitor", "MonitorSet",
           "split_budget", "arl0_for_share", "plan_monitor_set"]

#: False pages per 30 days for the whole monitor set, by default.
FAMILY_BUDGET_PER_30_DAYS = 1.0
#: The lead chart's share of the budget (the rest is split equally among the others).
LEAD_SHARE = 0.5
SPLIT_RULE = (f"the lead chart (the incident's own metric in its own segment) takes {LEAD_SHARE:.0%} of the budget, "
              "the other charts share the rest equally; without an incident, or alone, the budget is split equally")
_MIN_BASELINE_REQUESTS = 30
_DAYS_30 = pd.Timedelta(days=30)


@dataclass(frozen=True)
class SetScope:
    """What the set watches: the failure flag, the incident's metric and segment, a mix shift.

    ``segment`` is the incident's segment as column -> values (``{}``: all traffic, or no
    incident); ``mix_shift`` Q3's traffic-mix shift (``column``, ``segment``) or None.
    """

    failure: str
    failure_definition: str
    metric: str
    incident: bool
    segment: Mapping[str, list[str]] = field(default_factory=dict)
    segment_label: str = ""
    mix_shift: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class PlannedMonitor:
    """One chart of the set: what it watches, its design and its share of the budget."""

    name: str
    chart: str  # binomial_cusum or mean_cusum
    metric: str
    alternative: str
    segment: dict[str, list[str]]
    description: str
    params: dict[str, Any]
    share_per_30_days: float
    arl0_windows: float
    lead: bool = False


@dataclass(frozen=True)
class MonitorSet:
    """The planned set: its budget, the split and the charts (lead first)."""

    budget_per_30_days: float
    lead: str | None
    window: pd.Timedelta
    baseline: tuple[pd.Timestamp, pd.Timestamp]
    monitors: tuple[PlannedMonitor, ...]
    rule: str = SPLIT_RULE

    def get(self, name: str) -> PlannedMonitor | None:
        """The planned monitor of that name (None when the set has none)."""
        return next((m for m in self.monitors if m.name == name), None)


def split_budget(names: Sequence[str], lead: str | None, budget_per_30_days: float) -> dict[str, float]:
    """Each chart's share of the family budget (false pages per 30 days); the shares sum to the budget.

    The ``lead`` chart takes :data:`LEAD_SHARE` of it and the others share the rest equally; without
    a lead (or a lead alone) the budget is split equally.
    """
    if not np.isfinite(budget_per_30_days) or budget_per_30_days <= 0:
        raise ValueError(f"`budget_per_30_days` must be a positive number of false pages, got {budget_per_30_days!r}")
    names = list(names)
    if not names:
        return {}
    if lead is None or lead not in names or len(names) == 1:
        return {n: budget_per_30_days / len(names) for n in names}
    rest = (1.0 - LEAD_SHARE) * budget_per_30_days / (len(names) - 1)
    return {n: LEAD_SHARE * budget_per_30_days if n == lead else rest for n in names}


def arl0_for_share(share_per_30_days: float, window: pd.Timedelta) -> float:
    """In-control ARL in windows for ``share`` false alarms per 30 days (4 significant digits, at least 20)."""
    return float(f"{max(_DAYS_30 / pd.Timedelta(window) / max(share_per_30_days, 1e-9), 20.0):.4g}")


def _candidates(eng: Engine, scope: SetScope, baseline: tuple[pd.Timestamp, pd.Timestamp]) -> list[tuple]:
    """``(name, chart, metric, alternative, segment, description)`` of every monitor worth designing."""
    failure, definition = scope.failure, scope.failure_definition
    prof = eng.profile()
    cands: list[tuple[str, str, str, str, dict[str, list[str]], str]] = []
    seg = {str(c): [str(v) for v in vals] for c, vals in scope.segment.items()}
    if seg:
        cands.append(("incident_segment", "binomial_cusum", failure, "greater", seg, f"{definition} in {scope.segment_label}"))
    cands.append(("all_traffic", "binomial_cusum", failure, "greater", {}, f"{definition} on all traffic"))
    if prof.present("risk_category"):
        # per tier, the rare side of the flag: the failure where it is rare (a high tier's unsafe
        # answers), its complement where the failure is the norm (a low tier's refusals rising)
        rates = eng.totals(by=["risk_category"], metrics={"f": Metric("rate", failure)}, where=Where.of(*baseline))
        for r in rates.sort_values("risk_category").to_dict("records"):
            v = str(r["risk_category"])
            if v == "__missing__" or not r["f__n"]:
                continue
            if r["f__sum"] / r["f__n"] <= 0.5:
                cands.append((f"risk_tier:{v}", "binomial_cusum", failure, "greater", {"risk_category": [v]},
                              f"{definition} in risk tier {v}"))
            else:
                cands.append((f"risk_tier:{v}", "binomial_cusum", f"NOT ({failure})", "greater", {"risk_category": [v]},
                              f"not ({definition}) in risk tier {v}: the rarer side there"))
    if prof.present("retrieval_top1_score"):
        cands.append(("retrieval_relevance", "mean_cusum", "retrieval_top1_score", "less", {}, "retrieval relevance (top-1 score) falling"))
    if scope.mix_shift:
        col, val = str(scope.mix_shift["column"]), str(scope.mix_shift["segment"])
        cands.append((f"traffic_mix:{col}={val}", "binomial_cusum", f"COALESCE(CAST({quote_ident(col)} AS VARCHAR) = {quote_literal(val)}, FALSE)",
                      "greater", {}, f"share of traffic with {col}={val} growing"))
    return cands


def _baseline_windows(eng: Engine, metric: Metric | str, column: str, where: Where, window: pd.Timedelta,
                      baseline: tuple[pd.Timestamp, pd.Timestamp]) -> pd.DataFrame:
    """The baseline's windows (empty ones included) of one metric in one segment."""
    return eng.window_aggregates(window=window, metrics={column: metric}, where=where.and_(Where.of(*baseline)),
                                 start=pd.Timestamp(baseline[0]).floor(window), end=pd.Timestamp(baseline[1]).ceil(window))


def _fit(eng: Engine, cand: tuple, window: pd.Timedelta, baseline: tuple[pd.Timestamp, pd.Timestamp]) -> Any:
    """The baseline a candidate is designed on (None: too few requests, or a flag that is the norm)."""
    _, chart, m, alternative, seg, _ = cand
    where = Where.of(conditions=seg) if seg else Where()
    if chart == "binomial_cusum":
        t = _baseline_windows(eng, Metric("rate", m), "f", where, window, baseline).table
        t = t[t["segment_column"] == "__all__"]
        n, f = t["f__n"].to_numpy(float), t["f__sum"].to_numpy(float)
        if n.sum() < _MIN_BASELINE_REQUESTS or f.sum() / n.sum() >= 0.95:
            return None
        return n, f
    s = metric_series(_baseline_windows(eng, "mean", m, where, window, baseline), m)
    return s if float(pd.to_numeric(s["n"]).sum()) >= _MIN_BASELINE_REQUESTS else None


def _design(chart: str, fitted: Any, arl0: float, k: float = 0.5) -> dict[str, Any]:
    if chart == "binomial_cusum":
        n, f = fitted
        return design_binomial(n, f, np.ones(n.size, dtype=bool), arl0)
    _, info = standardize(fitted, "mean", np.ones(len(fitted), dtype=bool))
    h = float(spc.cusum_h_for_arl(arl0, k=k, two_sided=False))
    return {"level": info["level"], "sd": info["sd"], "dispersion": info["dispersion"], "z_centre": info["z_centre"], "k": k, "h": h,
            "arl0": float(arl0)}


def _lead(names: Sequence[str], scope: SetScope) -> str | None:
    """The chart that watches the incident's own metric in its own segment (None without an incident)."""
    if not scope.incident:
        return None
    for name in ("incident_segment", "retrieval_relevance" if scope.metric == "retrieval_top1_score" else "", "all_traffic"):
        if name in names:
            return name
    return None


def plan_monitor_set(eng: Engine, scope: SetScope, *, window: pd.Timedelta, baseline: tuple[pd.Timestamp, pd.Timestamp],
                     budget_per_30_days: float = FAMILY_BUDGET_PER_30_DAYS) -> MonitorSet:
    """The monitor set of one investigation, each chart designed from its share of the budget.

    Parameters
    ----------
    eng
        The investigated events.
    scope
        What the set watches (:class:`SetScope`).
    window, baseline
        The charts' window and the in-control period they are fitted on.
    budget_per_30_days
        False pages per 30 days for the whole set (:data:`FAMILY_BUDGET_PER_30_DAYS`).
    """
    w = pd.Timedelta(window)
    fitted = [(c, fit) for c in _candidates(eng, scope, baseline) if (fit := _fit(eng, c, w, baseline)) is not None]
    names = [c[0] for c, _ in fitted]
    lead = _lead(names, scope)
    shares = split_budget(names, lead, budget_per_30_days)
    monitors = []
    for (name, chart, m, alternative, seg, desc), fit in fitted:
        arl0 = arl0_for_share(shares[name], w)
        monitors.append(PlannedMonitor(name, chart, m, alternative, seg, desc, _design(chart, fit, arl0), shares[name], arl0,
                                       lead=name == lead))
    monitors.sort(key=lambda p: not p.lead)  # the lead first, the others in the candidates' order
    return MonitorSet(float(budget_per_30_days), lead, w, (pd.Timestamp(baseline[0]), pd.Timestamp(baseline[1])), tuple(monitors))
