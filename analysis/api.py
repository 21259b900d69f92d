"""``analysis.investigate()``: the whole job in one call, from events to the postmortem.

It builds the parameter object once (:class:`analysis.params.InvestigationParams`), opens the events
on the engine, runs the investigation's steps (:func:`analysis.investigation.investigate`), designs
the monitors that would have closed the gap (:mod:`analysis.prevention.monitors`) while the engine
is open, and returns the :class:`analysis.report.postmortem.Postmortem` with its writers. This module sits at
the top of the package, beside the command line.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from analysis._version import __version__
from analysis.engine import Engine, Profile, open_engine
from analysis.investigation.pipeline import investigate as run_steps
from analysis.investigation.context import FromText, metric_candidates
from analysis.investigation.operations import set_apart
from analysis.params import InvestigationParams
from analysis.prevention import monitors as mon
from analysis.report.postmortem import Postmortem
from analysis.schema import CHANGES, validate
from analysis.text import outcomes as labels
from analysis.text.rules import rules_with
from analysis.text.segments import derive_segments

__all__ = ["investigate"]


def _rules_to_apply(prof: Profile, params: InvestigationParams, rules: Mapping[str, Any]) -> list[Any]:
    """The derivations the investigation needs: for a pattern's metric (or the metric asked for),
    those of its candidates up to the first one the events hold (the retrieval pattern's relevance
    score, else ``hallucinated``, else ``ungrounded_citation`` from the answers and the retrieved
    documents); scanning every metric of a log that carries no outcome label at all, every rule
    (:func:`analysis.text.outcomes.derive_missing` then derives what the text allows)."""
    wanted = metric_candidates(params)
    sparse = labels.SPARSE_LABELS
    if params.metric is None and params.pattern == "auto":
        if any(prof.coverage(m) >= sparse for m in ("refused", "escalated", "correct", "hallucinated", "ungrounded_citation")):
            return []  # scanning every metric of a log that carries outcome labels: derive nothing
        return [rules[m] for m in wanted if m in rules and prof.coverage(m) < sparse]
    need = []
    for m in wanted:
        if prof.coverage(m) >= sparse or (m not in rules and prof.present(m)):
            break
        if m in rules:
            need.append(rules[m])
    return need


def _derive_labels(eng: Engine, params: InvestigationParams, prof: Profile) -> tuple[list[str], dict[str, str], dict[str, dict[str, Any]]]:
    """Derive the missing labels from the text where the rows lie (computed by the caller's
    ``materialize``): the derived metrics, their rules' descriptions, and each rule measured on the
    rows that carry its label (a reviewed sample)."""
    every = rules_with(params.rules_path)
    rules = _rules_to_apply(prof, params, {r.column: r for r in every})
    measured = {r.column: labels.measure_rule(eng, r, alpha=params.alpha) for r in rules}
    derived = labels.derive_missing(eng, [r.column for r in rules], every, materialize=False, profile=prof)
    quality = {c: _quality(m) for c, m in measured.items() if m is not None and c in derived}
    return derived, {r.column: r.description for r in rules if r.column in derived}, quality


def _quality(m: labels.RuleEvaluation) -> dict[str, Any]:
    """report.json's words for a rule measured on the rows that carry its label."""
    keys = ("rule", "n_labelled", "n", "tp", "fp", "fn", "tn", "precision", "recall", "precision_ci", "recall_ci", "n_without_evidence")
    return {k: (list(getattr(m, k)) if k.endswith("_ci") else getattr(m, k)) for k in keys}


def _check_frame(events: pd.DataFrame) -> None:
    if "ts" not in events.columns or "event_id" not in events.columns:
        raise ValueError("`events` must be a canonical events DataFrame with `event_id` and `ts`")
    if len(events) == 0:
        raise ValueError("`events` is empty: nothing to investigate")
    if not isinstance(events["ts"].dtype, pd.DatetimeTZDtype):
        raise ValueError("`events.ts` must be timezone-aware (UTC)")


def investigate(events: Any, changes: pd.DataFrame | None = None, params: InvestigationParams | None = None, *,
                evaluations: pd.DataFrame | None = None, inputs: Mapping[str, Any] | None = None, **kwargs: Any) -> Postmortem:
    """Investigate an incident in LLM application logs: the four questions, the timeline, the runbook.

    Parameters
    ----------
    events
        The canonical ``events`` (:mod:`analysis.schema`): an in-memory table, a Parquet file, a
        glob or a (Hive-partitioned) folder of Parquet files, a Spark table name (``engine="spark"``),
        or an open :class:`analysis.engine.Engine`. Only the engine reads its rows. An in-memory
        table whose metric is missing but whose text is there gets it derived
        (:func:`analysis.text.outcomes.derive_outcomes`), marked as derived in the report.
    changes
        The canonical ``changes`` table; may be None or empty.
    params
        The checked parameters; or give them as keywords (``pattern="refusal", window="1h"``, see
        :class:`analysis.params.InvestigationParams`), checked here once.
    evaluations
        An offline evaluation history (``ts``, ``passed``, ...; e.g. ``Scenario.evaluations``),
        replayed as the ``weekly_evaluation`` monitor instead of a simulated one.
    inputs
        report.json's ``inputs`` (paths, hashes, row counts; the command fills it).

    Returns
    -------
    Postmortem
    """
    if params is None:
        params = InvestigationParams.build(**kwargs)
    elif kwargs:
        params = params.replace(**kwargs)
    if isinstance(events, pd.DataFrame):
        _check_frame(events)
    if changes is not None and len(changes):
        # a change log read with pandas (string times) is refused here, by name, not deep in a step
        validate(changes, CHANGES, source="`changes`")
    owned = not isinstance(events, Engine)
    eng = open_engine(events, engine=params.engine, memory_limit=params.memory_limit, spark_master=params.spark_master,
                      max_result_rows=params.max_result_rows) if owned else events
    try:
        apart = set_apart(eng, changes, params.reported_at)  # embedding calls never enter the chat metrics
        prof = eng.profile()  # before any derivation: every decision reads it, nothing is computed twice
        # the topics first: their sample is read before any derived column is in the view
        segs = derive_segments(eng, topics=params.topics, taxonomy_path=params.taxonomy_path, seed=params.seed, materialize=False,
                               profile=prof)
        derived, rules, quality = _derive_labels(eng, params, prof)
        if derived or segs.derived:
            eng.materialize()  # the labels, topics and tiers read from the text: computed once, together
            derived = [c for c in derived if eng.profile().present(c)]
            rules = {c: d for c, d in rules.items() if c in derived}
            quality = {c: q for c, q in quality.items() if c in derived}
        text = FromText(derived=tuple(derived), label_rules=rules, label_quality=quality, segments=segs.report())
        inv = run_steps(eng, changes, params, text=text, evaluations=evaluations, inputs=inputs, apart=apart)
        monitors = mon.design_monitors(eng, inv, budget_per_30_days=params.monitor_budget, title=params.title or "",
                                       kit_version=__version__)
    finally:
        if owned:
            eng.close()
    return Postmortem.of(inv, monitors=monitors)
