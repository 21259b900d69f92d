"""The investigation's context: the open engine, the checked parameters, and what every step reads.

:func:`open_context` is the first step: it profiles the events, resolves the report time, the
metrics to scan and the risk tiers, and returns the :class:`Context` the other steps share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import pandas as pd

from analysis._common import iso_z
from analysis.engine import Engine, Profile, Where
from analysis.engine.query import quote_ident
from analysis.investigation.changes import empty_changes
from analysis.investigation.backtest import DEFAULT_THRESHOLDS
from analysis.investigation.operations import SetApart
from analysis.params import DEFAULT_RISK_THRESHOLDS, DEFAULT_TIER, PATTERN_RISK_THRESHOLDS, InvestigationParams, check_risk_thresholds

__all__ = ["FromText", "PATTERN_DEFAULTS", "AUTO_METRICS", "SIDE_METRICS", "Context", "Failure", "open_context", "metric_candidates",
           "kind_of", "failure_flag"]

#: Per pattern: the metric (and its fallbacks), the way it goes wrong, the default window, and the
#: failure window's length when no onset is found.
PATTERN_DEFAULTS: dict[str, dict[str, Any]] = {
    "retrieval": {"metric": "retrieval_top1_score", "fallbacks": ("hallucinated", "ungrounded_citation", "correct"), "alternative": "less", "window": "6h",
                  "current_if_none": "7D"},
    "refusal": {"metric": "refused", "fallbacks": (), "alternative": "less", "window": "1h", "current_if_none": "72h"},
    "escalation": {"metric": "escalated", "fallbacks": (), "alternative": "greater", "window": "1h", "current_if_none": "24h"},
    "auto": {"metric": None, "fallbacks": (), "alternative": "two-sided", "window": None, "current_if_none": "72h"},
}
#: Metrics ``pattern="auto"`` scans (outcome labels and the quality signals that stand for them).
AUTO_METRICS = ("refused", "escalated", "hallucinated", "ungrounded_citation", "correct", "retrieval_top1_score", "quality_score")
#: Signals aggregated beside the outcomes (Q1 compares them; the error-by-confidence split reads one).
SIDE_METRICS = ("confidence", "retrieval_mean_score", "latency_ms")


@dataclass(frozen=True)
class FromText:
    """What was read from the text before the steps: the outcome labels derived (their rules'
    descriptions, and each rule measured on the rows that carry its label) and the segments
    (:meth:`analysis.text.segments.TextSegments.report`)."""

    derived: tuple[str, ...] = ()
    label_rules: Mapping[str, Any] = field(default_factory=dict)
    label_quality: Mapping[str, Any] = field(default_factory=dict)
    segments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """The per-event failure: SQL the engine evaluates, and its description for people."""

    sql: str
    definition: str


@dataclass(frozen=True, eq=False)
class Context:
    """What every step reads: the engine and its profile, the parameters, the change log sorted by
    time, the report time, the metrics to scan, the risk tiers, the labels derived from text, and
    the events of other operations kept apart (:mod:`analysis.investigation.operations`)."""

    eng: Engine
    params: InvestigationParams
    prof: Profile
    changes: pd.DataFrame
    reported_at: pd.Timestamp
    metrics: list[str]
    risk_thresholds: dict[str, float]
    default_tier: str
    derived: tuple[str, ...] = ()
    label_rules: Mapping[str, Any] = field(default_factory=dict)
    label_quality: Mapping[str, Any] = field(default_factory=dict)
    text_segments: Mapping[str, Any] = field(default_factory=dict)
    evaluations: pd.DataFrame | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    apart: SetApart = field(default_factory=SetApart)
    _failures: dict[tuple[str, str, str], Failure] = field(default_factory=dict, repr=False)

    @property
    def defaults(self) -> dict[str, Any]:
        """The pattern's defaults (:data:`PATTERN_DEFAULTS`)."""
        return PATTERN_DEFAULTS[self.params.pattern]

    @property
    def upto(self) -> Where:
        """Every event up to the report (inclusive)."""
        return Where.of(None, self.reported_at, end_inclusive=True)

    def failure(self, metric: str, kind: str, alternative: str) -> Failure:
        """The failure flag of a metric, computed once (for a mean metric without a bar it costs a quantile query)."""
        key = (metric, kind, alternative)
        if key not in self._failures:
            self._failures[key] = failure_flag(self.eng, metric, kind, alternative)
        return self._failures[key]


def metric_candidates(params: InvestigationParams) -> list[str]:
    """The metrics to look for, in order: the one asked for, else the pattern's (and its fallbacks),
    else for ``auto`` every :data:`AUTO_METRICS`."""
    if params.metric is not None:
        return [params.metric]
    if params.pattern == "auto":
        return list(AUTO_METRICS)
    d = PATTERN_DEFAULTS[params.pattern]
    return [d["metric"], *d["fallbacks"]]


def kind_of(prof: Profile, col: str) -> str:
    """``rate`` for a boolean column, ``mean`` for a number."""
    return "rate" if prof.kind(col) == "bool" else "mean"


def failure_flag(eng: Engine, metric: str, kind: str, alternative: str) -> Failure:
    """The per-event failure as SQL, used by the sample scan and the error-by-confidence split, and its description."""
    prof = eng.profile()
    m = quote_ident(metric)
    if kind == "rate":
        if alternative == "less":
            return Failure(f"NOT {m}", f"{metric} == False")
        return Failure(f"{m}", f"{metric} == True")
    if prof.present("hallucinated"):
        return Failure('"hallucinated"', "hallucinated == True (fabricated output)")
    if prof.present("correct"):
        return Failure('NOT "correct"', "correct == False")
    x = f"CAST({m} AS DOUBLE)"
    if metric in DEFAULT_THRESHOLDS:
        side, bar = DEFAULT_THRESHOLDS[metric]
        op = "<" if side == "less" else ">"
        return Failure(f"{x} {op} {float(bar)!r}", f"{metric} {op} {bar}")
    q = eng.quantile(metric, 0.05 if alternative != "greater" else 0.95)
    op = "<" if alternative != "greater" else ">"
    return Failure(f"{x} {op} {q!r}", f"{metric} beyond its overall 5% tail ({q:.4g})")


def open_context(eng: Engine, changes: pd.DataFrame | None, params: InvestigationParams, *, text: FromText | None = None,
                 evaluations: pd.DataFrame | None = None, inputs: Mapping[str, Any] | None = None,
                 apart: SetApart | None = None) -> Context:
    """Profile the events and resolve what the parameters leave open (the report time, the metrics
    present, the risk tiers); the errors here are about the data, the parameters are already checked."""
    text = text or FromText()
    prof = eng.profile()
    if prof.rows == 0:
        raise ValueError("`events` is empty: nothing to investigate")
    if prof.kind("ts") != "timestamp":
        raise ValueError("`events.ts` must be timezone-aware timestamps (UTC)")
    rep = params.reported_at or prof.ts_max
    if rep <= prof.ts_min:
        raise ValueError(
            f"`reported_at` ({iso_z(rep)}) is not after the first event ({iso_z(prof.ts_min)}): "
            "there is no history before the report to investigate"
        )
    wanted = metric_candidates(params)
    metrics = [m for m in wanted if prof.present(m)]
    if not metrics:
        raise ValueError(
            f"`metric` {params.metric or wanted[0]!r} is not in the events (or empty) and could not be derived from text; "
            f"columns present: {sorted(c for c in prof.columns['column'] if prof.present(c))[:30]}"
        )
    if params.pattern != "auto":
        metrics = metrics[:1]
    thr = params.risk_thresholds if params.risk_thresholds is not None else \
        PATTERN_RISK_THRESHOLDS.get(params.pattern, DEFAULT_RISK_THRESHOLDS)
    risk_thr = check_risk_thresholds(thr)
    ch = empty_changes() if changes is None or not len(changes) else changes.sort_values("ts", kind="stable").reset_index(drop=True)
    return Context(eng=eng, params=params, prof=prof, changes=ch, reported_at=rep, metrics=metrics, risk_thresholds=risk_thr,
                   default_tier=DEFAULT_TIER if DEFAULT_TIER in risk_thr else sorted(risk_thr)[0], derived=tuple(text.derived),
                   label_rules=dict(text.label_rules), label_quality=dict(text.label_quality),
                   text_segments=dict(text.segments), evaluations=evaluations,
                   inputs=dict(inputs or {}), apart=apart or SetApart())
