"""``investigate()``: the four questions as a short sequence of steps over the engine's small tables.

Load (the engine opens and validates the events) -> aggregate -> onset -> what changed -> scope ->
detection gap -> timeline and runbook -> :class:`analysis.postmortem.Postmortem`.
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis._common import check_duration, check_timestamp, iso_z
from analysis.engine import DEFAULT_MEMORY_LIMIT, Engine, Metric, Profile, Where, open_engine
from analysis.engine import query as q
from analysis.engine.query import quote_ident, quote_literal
from analysis.investigation.series import series
from analysis.text import outcomes as labels
from analysis.investigation import attribution as att
from analysis.investigation import backtest, scope
from analysis.investigation import data_quality as dq
from analysis.prevention import monitors as mon
from analysis.investigation import timeline as tl_mod
from analysis.investigation.attribution import DRIFT_COLUMNS, _offset, decompose
from analysis.investigation.backtest import DEFAULT_THRESHOLDS
from analysis.schema import SEGMENT_COLUMNS, TEXT_COLUMNS, VERSION_COLUMNS
from analysis.stats import drift as drift_mod
from analysis.postmortem import Postmortem, json_safe

__all__ = ["investigate", "PATTERN_DEFAULTS", "AUTO_METRICS", "PATTERNS"]


#: Per pattern: the metric, the way it goes wrong, the default window, the failure used by the
#: sample scan (Q3) and the error-by-confidence split, and the risk-tier tolerances.
PATTERN_DEFAULTS: dict[str, dict[str, Any]] = {
    "retrieval": {"metric": "retrieval_top1_score", "fallbacks": ("hallucinated", "correct"), "direction": "down", "window": "6h",
                  "current_if_none": "7D"},
    "refusal": {"metric": "refused", "fallbacks": (), "direction": "down", "window": "1h", "current_if_none": "72h"},
    "escalation": {"metric": "escalated", "fallbacks": (), "direction": "up", "window": "1h", "current_if_none": "24h"},
    "auto": {"metric": None, "fallbacks": (), "direction": "both", "window": None, "current_if_none": "72h"},
}
#: Metrics ``pattern="auto"`` scans (outcome labels and the quality signals that stand for them).
AUTO_METRICS = ("refused", "escalated", "hallucinated", "correct", "retrieval_top1_score", "quality_score")
PATTERNS = ("auto", "retrieval", "refusal", "escalation")
_MAX_SEGMENT_VALUES = 40
#: Rows per period the Q2 drift table tests at most (a bounded md5-keyed sample of the engine's rows).
DRIFT_TABLE_SAMPLE = 20_000
#: Affected events kept in memory for the report; all of them are written to affected_events.csv.
AFFECTED_IN_MEMORY = 10_000


def _check_pattern(pattern: str) -> str:
    if pattern not in PATTERNS:
        raise ValueError(f"`pattern` must be one of {PATTERNS}, got {pattern!r}")
    return pattern


def _auto_window(eng: Engine) -> pd.Timedelta:
    """Smallest of 1h..1D with a median of >= 30 requests per (non-empty) window and <= 2000 windows."""
    prof = eng.profile()
    span = prof.ts_max - prof.ts_min
    hourly = eng.window_aggregates(window="1h").table
    hourly = hourly[hourly["n"] > 0]
    for cand in ("1h", "2h", "3h", "6h", "12h", "1D"):
        w = pd.Timedelta(cand)
        if span / w > 2000:
            continue
        # windows are epoch-aligned, so the hourly counts add up into any longer window
        counts = hourly.groupby(hourly["window_start"].dt.floor(w))["n"].sum()
        if counts.median() >= 30:
            return w
    return pd.Timedelta("1D")


#: String columns that are never segments: identifiers, free text, the outcomes written as text,
#: and the version columns (what a change moves: they are compared by the candidates' evidence).
_NOT_SEGMENTS = frozenset({"event_id", "trace_id", "session_id", "user_id", *TEXT_COLUMNS, *VERSION_COLUMNS,
                           "finish_reason", "status", "error_type"})
#: A column is scanned when it has 2.._MAX_SEGMENT_VALUES values and this many rows per value on average.
_MIN_ROWS_PER_VALUE = 50


def _segment_columns(prof: Profile, segment_by: Sequence[str] | None) -> tuple[list[str], list[dict[str, Any]]]:
    """The segment columns to scan, and for every string column why it was or was not scanned.

    Given ``segment_by``, those columns. Otherwise every low-cardinality string column, canonical or
    the application's own (``language``, ``tenant``, ...): 2 to :data:`_MAX_SEGMENT_VALUES`
    values, at least :data:`_MIN_ROWS_PER_VALUE` rows per value, not an identifier, a text, a
    version or an outcome. Canonical segment columns come first.
    """
    if segment_by is not None:
        cols = [segment_by] if isinstance(segment_by, str) else list(segment_by)
        missing = [c for c in cols if prof.kind(c) is None]
        if missing:
            raise ValueError(f"`segment_by` names columns that are not in the events: {missing}")
        return cols, [{"column": c, "distinct": prof.distinct(c), "scanned": True, "reason": "named by segment_by"} for c in cols]
    strings = [c for c in prof.columns["column"] if prof.kind(c) == "string"]
    order = [c for c in SEGMENT_COLUMNS if c in strings] + sorted(c for c in strings if c not in SEGMENT_COLUMNS)
    out, report = [], []
    for c in order:
        k = prof.distinct(c) or 0
        if c in _NOT_SEGMENTS or c.endswith("_id"):
            reason = "identifier, text, version or outcome column"
        elif not prof.present(c):
            reason = "empty"
        elif k < 2:
            reason = "a single value"
        elif k > _MAX_SEGMENT_VALUES:
            reason = f"{k} values (more than {_MAX_SEGMENT_VALUES})"
        elif prof.rows / k < _MIN_ROWS_PER_VALUE:
            reason = f"fewer than {_MIN_ROWS_PER_VALUE} rows per value"
        else:
            reason = "canonical segment" if c in SEGMENT_COLUMNS else "the application's own low-cardinality column"
            out.append(c)
        report.append({"column": c, "distinct": k, "scanned": c in out, "reason": reason})
    return out, report


#: Pairs of scanned columns are scanned too (a slice such as a category within a framing) when
#: their joint values are at most this many, with :data:`_MIN_ROWS_PER_VALUE` rows per value on
#: average; at most :data:`_MAX_PAIRS` pairs, in the columns' order.
_MAX_PAIR_CELLS = 60
_MAX_PAIRS = 6
#: The share of the scan's significance level spent on the pairs (weighted Bonferroni: the single
#: columns keep the rest, so the family-wise error stays at ``alpha``).
PAIR_ALPHA_SHARE = 0.2
#: A pair's onset replaces the single columns' when its change is this many times stronger (its
#: slice holds the failure much more sharply than either column alone).
PAIR_STRENGTH_GAIN = 1.5


def _segment_pairs(prof: Profile, seg_cols: Sequence[str], segment_by: Sequence[str] | None) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """The pairs of segment columns to scan (none when ``segment_by`` names the columns), and why
    each pair considered was or was not."""
    if segment_by is not None:
        return [], []
    out, report = [], []
    for i, a in enumerate(seg_cols):
        for b in seg_cols[i + 1:]:
            cells = (prof.distinct(a) or 0) * (prof.distinct(b) or 0)
            if cells > _MAX_PAIR_CELLS:
                reason = f"{cells} joint values at most (more than {_MAX_PAIR_CELLS})"
            elif prof.rows / max(cells, 1) < _MIN_ROWS_PER_VALUE:
                reason = f"fewer than {_MIN_ROWS_PER_VALUE} rows per joint value"
            elif len(out) >= _MAX_PAIRS:
                reason = f"more than {_MAX_PAIRS} pairs: the first {_MAX_PAIRS} in the columns' order are scanned"
            else:
                reason = "joint values of two scanned columns"
                out.append((a, b))
            report.append({"column": q.pair_label((a, b)), "distinct": cells, "scanned": (a, b) in out, "reason": reason})
    return out, report


def _pair_aggregates(eng: Engine, pairs: Sequence[tuple[str, str]], agg: Any, metrics: Mapping[str, str], where: Where,
                     report: list[dict[str, Any]]) -> Any:
    """The windowed aggregates of the pairs (one engine query); a pair where one column determines
    the other (no more joint values than either column has) is dropped as redundant."""
    if not pairs:
        return None
    pagg = eng.window_aggregates(window=pd.Timedelta(agg.window), segment_by=list(pairs), metrics=dict(metrics), where=where,
                                 start=agg.start, end=agg.end)
    seen = pagg.segments()
    single = agg.segments()
    kept = []
    for a, b in pairs:
        label = q.pair_label((a, b))
        n_joint = int(((seen["segment_column"] == label) & (seen["n"] > 0)).sum())
        n_a, n_b = (int(((single["segment_column"] == c) & (single["n"] > 0)).sum()) for c in (a, b))
        row = next(r for r in report if r["column"] == label)
        row["distinct"] = n_joint
        if n_joint <= max(n_a, n_b):
            row["scanned"], row["reason"] = False, "one column determines the other: its joint values are the single column's"
        else:
            kept.append(label)
    if not kept:
        return None
    return dataclasses.replace(pagg, table=pagg.table[pagg.table["segment_column"].isin(kept)].reset_index(drop=True),
                               segment_by=tuple(kept))


def _step_moments(table: pd.DataFrame, metric: str, kind: str, at: pd.Timestamp) -> np.ndarray:
    """``[[n, sum, sumsq] before, [n, sum, sumsq] after]`` of a metric over windowed rows split at
    ``at`` (for a rate, a 0/1 variable, the sum of squares is the sum)."""
    after = (table["window_start"] >= at).to_numpy()
    cols = [f"{metric}__n", f"{metric}__sum", f"{metric}__sumsq" if kind == "mean" else f"{metric}__sum"]
    x = table[cols].to_numpy(dtype=float)
    return np.array([x[~after].sum(axis=0), x[after].sum(axis=0)])


def _pair_is_sharper(agg: Any, pair_agg: Any, pair: Any, alpha: float) -> bool:
    """Does the pair's slice step more than the rest of each of its two single segments (a
    difference of the before/after differences, one-sided in the bad direction, at ``alpha``)?
    A slice whose step is its parent segment's step (Japanese returns questions when every
    Japanese answer broke) is not a sharper slice, however strong it looks on fewer requests."""
    from scipy import stats

    m, kind, at = pair.metric, pair.kind, pair.ts
    if at is None:
        return False
    cell_t = pair_agg.table[(pair_agg.table["segment_column"] == pair.segment_column) & (pair_agg.table["segment"] == pair.segment)]
    cell = _step_moments(cell_t, m, kind, at)
    sign = 1.0 if pair.effect > 0 else -1.0

    def diff(mo: np.ndarray) -> tuple[float, float]:
        (n0, s0, q0), (n1, s1, q1) = mo
        if min(n0, n1) < 1:
            return float("nan"), float("nan")
        m0, m1 = s0 / n0, s1 / n1
        # the variance from the moments: p(1 - p) for a rate, since its sum of squares is its sum
        v0, v1 = max(q0 / n0 - m0 * m0, 0.0), max(q1 / n1 - m1 * m1, 0.0)
        return m1 - m0, v0 / n0 + v1 / n1

    d_cell, v_cell = diff(cell)
    for col, val in q.split_pair(pair.segment_column, pair.segment).items():
        parent_t = agg.table[(agg.table["segment_column"] == col) & (agg.table["segment"] == val)]
        rest = _step_moments(parent_t, m, kind, at) - cell
        d_rest, v_rest = diff(rest)
        se = np.sqrt(v_cell + v_rest)
        if not (np.isfinite(d_cell) and np.isfinite(d_rest) and se > 0):
            return False
        if stats.norm.sf(sign * (d_cell - d_rest) / se) >= alpha:
            return False
    return True


def _kind_of(prof: Profile, col: str) -> str:
    return "rate" if prof.kind(col) == "bool" else "mean"


def _failure_flag(eng: Engine, metric: str, kind: str, direction: str) -> tuple[str, str]:
    """The per-event failure as SQL, used by the sample scan and the error-by-confidence split, and its description."""
    prof = eng.profile()
    m = quote_ident(metric)
    if kind == "rate":
        if direction == "down":
            return f"NOT {m}", f"{metric} == False"
        return f"{m}", f"{metric} == True"
    if prof.present("hallucinated"):
        return '"hallucinated"', "hallucinated == True (fabricated output)"
    if prof.present("correct"):
        return 'NOT "correct"', "correct == False"
    x = f"CAST({m} AS DOUBLE)"
    if metric in DEFAULT_THRESHOLDS:
        side, bar = DEFAULT_THRESHOLDS[metric]
        op = "<" if side == "below" else ">"
        return f"{x} {op} {float(bar)!r}", f"{metric} {op} {bar}"
    q = eng.quantile(metric, 0.05 if direction != "up" else 0.95)
    op = "<" if direction != "up" else ">"
    return f"{x} {op} {q!r}", f"{metric} beyond its overall 5% tail ({q:.4g})"


def _derive_labels(events: pd.DataFrame, metric: str | None, metrics: Sequence[str]) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    """Derive missing outcome labels from text (analysis.labels) when the wanted metric is empty."""
    def present(c: str) -> bool:
        return c in events.columns and bool(events[c].notna().any())

    want = [m for m in ([metric] if metric else list(metrics)) if m in ("refused", "escalated")]
    need = [m for m in want if not present(m)]
    if metric is None and any(present(m) for m in ("refused", "escalated", "correct", "hallucinated")):
        # scanning every metric of a log that carries outcome labels: derive nothing
        need = []
    has_text = present("output_text") or present("finish_reason")
    if not need or not has_text:
        return events, [], {}
    res = labels.derive_outcomes(events)
    derived = [m for m in getattr(res, "derived", []) if m in need or not present(m)]
    rules = getattr(res, "rules", None) or getattr(res, "descriptions", None) or getattr(res, "rule_descriptions", None) or {}
    if not isinstance(rules, Mapping):
        rules = {"rules": json_safe(rules)}
    return res.frame, list(derived), dict(rules)


def _open_events(events: Any, metric: str | None, metrics: Sequence[str], pattern: str, *, engine: str, memory_limit: str | None,
                 spark_master: str, max_result_rows: int | None) -> tuple[Engine, list[str], dict[str, Any], bool]:
    """The events on the engine, with labels derived from text first when an in-memory table lacks them.

    Returns ``(engine, derived metrics, label rules, owned)``; ``owned``: the engine was opened here.
    """
    if isinstance(events, Engine):
        return events, [], {}, False
    derived: list[str] = []
    rules: dict[str, Any] = {}
    if isinstance(events, pd.DataFrame):
        if "ts" not in events.columns or "event_id" not in events.columns:
            raise ValueError("`events` must be a canonical events DataFrame with `event_id` and `ts`")
        if len(events) == 0:
            raise ValueError("`events` is empty: nothing to investigate")
        if not isinstance(events["ts"].dtype, pd.DatetimeTZDtype):
            raise ValueError("`events.ts` must be timezone-aware (UTC)")
        events, derived, rules = _derive_labels(events, metric or (metrics[0] if pattern != "auto" else None), metrics)
    eng = open_engine(events, engine=engine, memory_limit=memory_limit or DEFAULT_MEMORY_LIMIT, spark_master=spark_master,
                      max_result_rows=max_result_rows)
    return eng, derived, rules, True


def investigate(
    events: Any,
    changes: pd.DataFrame | None,
    *,
    pattern: str = "auto",
    reported_at: Any = None,
    metric: str | None = None,
    segment_by: Sequence[str] | None = None,
    window: str | None = None,
    baseline: tuple[Any, Any] | None = None,
    risk_thresholds: Mapping[str, float] | None = None,
    seed: int = 0,
    progress: bool = True,
    inputs: Mapping[str, Any] | None = None,
    alpha: float = 0.05,
    mitigated_at: Any = None,
    evaluations: pd.DataFrame | None = None,
    thresholds: Mapping[str, tuple[str, float]] | None = None,
    title: str | None = None,
    engine: str = "duckdb",
    memory_limit: str | None = None,
    spark_master: str = "local[*]",
    max_result_rows: int | None = None,
    workdir: str | Path | None = None,
) -> Postmortem:
    """Investigate an incident in LLM application logs: the four questions, the timeline, the runbook.

    Parameters
    ----------
    events
        The canonical ``events`` (:mod:`analysis.schema`): an in-memory table, a Parquet file, a
        glob or a (Hive-partitioned) folder of Parquet files, a Spark table name (``engine="spark"``),
        or an open :class:`analysis.engine.Engine`. Only the engine reads its rows.
    changes
        The canonical ``changes`` table; may be None or empty.
    pattern
        ``"auto"`` (scan every outcome metric and segment, take the strongest change),
        ``"retrieval"``, ``"refusal"`` or ``"escalation"`` (the case-study defaults: metric,
        window, risk tiers).
    reported_at
        When the incident was reported (timezone-aware); default the last event.
    metric
        The outcome column to investigate; default the pattern's. When it is missing or empty
        but the text is there (in-memory tables), it is derived (:func:`analysis.labels.derive_outcomes`)
        and marked as derived in the report.
    segment_by
        Segment columns; default the canonical segment columns present with at most 40 values.
    window
        Aggregation window (``"1h"``); default the pattern's, or for ``auto`` the smallest window
        with a median of 30 requests.
    baseline
        ``(start, end)`` of the baseline period; default from the first event to the earlier of
        the onset and the most likely cause.
    risk_thresholds
        Risk tier -> tolerated excess failure rate for the sample scan; default
        :data:`analysis.investigation.scope.PATTERN_RISK_THRESHOLDS` for the pattern (``{"high": 0.001,
        "medium": 0.01, "low": 0.05}`` for ``auto`` and ``refusal``).
    seed
        Seed for the sampled parts (the replayed weekly evaluation, the drift samples).
    progress
        Show progress bars (tqdm) on the long steps.
    inputs
        report.json's ``inputs`` (paths, hashes, row counts; the command fills it).
    alpha
        Significance level of every test.
    mitigated_at
        When the incident was mitigated, if known (otherwise the first logged change after the
        report counts as the mitigation).
    evaluations
        An offline evaluation history (``ts``, ``passed``, ...; e.g. ``Scenario.evaluations``),
        replayed as the ``weekly_evaluation`` monitor instead of a simulated one.
    thresholds
        Fixed business bars for the threshold monitor (:data:`analysis.investigation.backtest.DEFAULT_THRESHOLDS`).
    title
        Report title.
    engine, memory_limit, spark_master
        The engine that reads the events (``"duckdb"``, embedded, or ``"spark"``), DuckDB's memory
        limit (default :data:`analysis.engine.DEFAULT_MEMORY_LIMIT`), and the Spark master URL.
    max_result_rows
        Refuse any engine query returning more rows (the tests keep the narrow waist honest with it).
    workdir
        Where the affected events are written whole (default a temporary folder); the report
        keeps the first :data:`AFFECTED_IN_MEMORY` of them.

    Returns
    -------
    Postmortem
    """
    pattern = _check_pattern(pattern)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"`seed` must be an integer, got {seed!r}")
    defaults = PATTERN_DEFAULTS[pattern]
    if metric is not None:
        candidates_metrics = [metric]
    elif pattern == "auto":
        candidates_metrics = list(AUTO_METRICS)
    else:
        candidates_metrics = [defaults["metric"], *defaults["fallbacks"]]
    eng, derived, label_rules, owned = _open_events(events, metric, candidates_metrics, pattern, engine=engine,
                                                    memory_limit=memory_limit, spark_master=spark_master,
                                                    max_result_rows=max_result_rows)
    try:
        return _investigate(
            eng, changes, pattern=pattern, reported_at=reported_at, metric=metric, candidates_metrics=candidates_metrics,
            derived=derived, label_rules=label_rules, segment_by=segment_by, window=window, baseline=baseline,
            risk_thresholds=risk_thresholds, seed=int(seed), progress=progress, inputs=inputs, alpha=alpha,
            mitigated_at=mitigated_at, evaluations=evaluations, thresholds=thresholds, title=title, workdir=workdir,
        )
    finally:
        if owned:
            eng.close()


def _investigate(eng: Engine, changes: pd.DataFrame | None, *, pattern: str, reported_at: Any, metric: str | None,
                 candidates_metrics: list[str], derived: list[str], label_rules: dict[str, Any], segment_by: Sequence[str] | None,
                 window: str | None, baseline: tuple[Any, Any] | None, risk_thresholds: Mapping[str, float] | None, seed: int,
                 progress: bool, inputs: Mapping[str, Any] | None, alpha: float, mitigated_at: Any,
                 evaluations: pd.DataFrame | None, thresholds: Mapping[str, tuple[str, float]] | None, title: str | None,
                 workdir: str | Path | None) -> Postmortem:
    prof = eng.profile()
    if prof.rows == 0:
        raise ValueError("`events` is empty: nothing to investigate")
    if prof.kind("ts") != "timestamp":
        raise ValueError("`events.ts` must be timezone-aware timestamps (UTC)")
    risk_thr = scope.check_risk_thresholds(
        risk_thresholds if risk_thresholds is not None else scope.PATTERN_RISK_THRESHOLDS.get(pattern, scope.DEFAULT_RISK_THRESHOLDS)
    )
    default_tier = scope.DEFAULT_TIER if scope.DEFAULT_TIER in risk_thr else sorted(risk_thr)[0]
    defaults = PATTERN_DEFAULTS[pattern]
    rep = check_timestamp(reported_at, "reported_at") or prof.ts_max
    if rep <= prof.ts_min:
        raise ValueError(
            f"`reported_at` ({iso_z(rep)}) is not after the first event ({iso_z(prof.ts_min)}): "
            "there is no history before the report to investigate"
        )
    mit = check_timestamp(mitigated_at, "mitigated_at")
    if changes is None:
        changes = att._empty_changes()
    ch = changes.sort_values("ts", kind="stable").reset_index(drop=True) if len(changes) else att._empty_changes()
    notes: list[str] = []
    steps = ["labels", "aggregate", "onset", "what changed", "scope", "detection gap", "report"]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(steps), desc="investigate", leave=False)

    def step(name: str) -> None:
        if bar is not None:
            bar.set_postfix_str(name)
            bar.update(1)

    # -- 1. metrics --------------------------------------------------------------------------------
    metrics = [m for m in candidates_metrics if prof.present(m)]
    if not metrics:
        raise ValueError(
            f"`metric` {metric or candidates_metrics[0]!r} is not in the events (or empty) and could not be derived from text; "
            f"columns present: {sorted(c for c in prof.columns['column'] if prof.present(c))[:30]}"
        )
    if pattern != "auto":
        metrics = metrics[:1]
    step("labels")

    # -- 2. aggregate ----------------------------------------------------------------------------
    w = check_duration(window) if window else (pd.Timedelta(defaults["window"]) if defaults["window"] else _auto_window(eng))
    seg_cols, seg_choice = _segment_columns(prof, segment_by)
    upto = Where.of(None, rep, end_inclusive=True)
    t0 = prof.ts_min.floor(w)
    _, _, last_upto = eng.time_range(upto)
    agg_end = t0 + (int((last_upto - t0) // w) + 1) * w
    all_metrics = {m: _kind_of(prof, m) for m in dict.fromkeys([*metrics, *[m for m in AUTO_METRICS if prof.present(m)],
                                                                 *[c for c in ("confidence", "retrieval_mean_score", "latency_ms") if prof.present(c)]])}
    agg = eng.window_aggregates(window=w, segment_by=seg_cols, metrics=all_metrics, where=upto, start=t0, end=agg_end)
    pairs, pair_choice = _segment_pairs(prof, seg_cols, segment_by)
    pair_agg = _pair_aggregates(eng, pairs, agg, {m: all_metrics[m] for m in metrics}, upto, pair_choice)
    seg_choice = [*seg_choice, *pair_choice]
    facts = _data_quality(eng, prof.ts_min, last_upto, upto, agg if w == pd.Timedelta(hours=1) else None)
    step("aggregate")

    # -- 3. onset ---------------------------------------------------------------------------------
    # the failure flag of a metric, computed once (for a mean metric without a bar it costs a quantile query)
    failure_of = functools.cache(lambda m, k, d: _failure_flag(eng, m, k, d))
    onset, onset_scan, seg_where, seg_series, seg_table = _find_onset(
        eng, agg, failure_of, metrics, seg_cols, pattern=pattern, derived=derived, window=w, reported_at=rep, alpha=alpha, progress=progress,
        pair_agg=pair_agg)
    ev_series, ev_label, ev_where = _evidence_series(agg, onset, onset_scan, seg_series, w, seg_where)
    metric_, kind, direction = onset.metric, onset.kind, onset.direction
    all_series = series(agg, metric_)
    seg_label = onset.label
    step("onset")

    # -- periods ---------------------------------------------------------------------------------
    if onset.ts is not None:
        cur = (onset.ts, rep)
        pre_end = onset.ts
    else:
        span = pd.Timedelta(defaults["current_if_none"])
        span = min(span, (rep - t0) * 0.25)
        cur = ((rep - span).floor(w), rep)
        pre_end = cur[0]
    in_cur = Where.of(cur[0], cur[1], end_inclusive=True)

    # -- 4. what changed --------------------------------------------------------------------------
    before_rep = ch[ch["ts"] < rep] if len(ch) else ch
    inferred = att.infer_changes(eng, ch, where=upto)
    cands = pd.concat([before_rep, inferred], ignore_index=True) if len(inferred) else before_rep.copy()
    decomps = _decompositions(eng, seg_cols, metric_, kind, (t0, pre_end), cur)
    ranked, strat = att.score_candidates(
        cands, events=eng, changes=ch, onset=onset if onset.ts is not None else None, metric=metric_, kind=kind,
        direction=direction, segment_series=seg_series, segment_where=seg_where, segment_label=seg_label, window=w,
        reported_at=rep, decompositions=decomps, evidence_series=(ev_series, ev_label),
        location_series=_location_series(eng, onset, ev_where, upto, w, t0, agg_end),
        alpha=alpha, progress=progress,
    )
    top_ts = _top_cause_ts(onset, ranked)
    b0, b1 = _baseline_period(baseline, top_ts, t0=t0, pre_end=pre_end, window=w)
    base_period = (b0, b1)
    drift_df = _drift_table(eng, base_period, in_cur, alpha=alpha, seed=seed)
    q2 = att.Q2Result(candidates=ranked, drift=drift_df, decompositions=list(decomps.values()), inferred=inferred,
                      stratified=strat, onset=onset, notes=[], separation=att.separation(ranked) if onset.ts is not None else None)
    step("what changed")

    # -- 5. Q1 and Q3 ---------------------------------------------------------------------------
    bt = scope.period_totals(agg.table, b0, b1)
    ct = scope.period_totals(agg.table, cur[0], cur[1] + pd.Timedelta(microseconds=1))
    q1_metrics = {m: k for m, k in agg.metrics.items() if m in (*AUTO_METRICS, "confidence", "retrieval_mean_score", "latency_ms")}
    findings = scope.compare_periods(bt, ct, q1_metrics, alpha=alpha)
    failure, failure_def = failure_of(metric_, kind, direction)
    ec = None
    if prof.present("confidence"):
        ec = scope.error_confidence(eng, in_cur.and_(seg_where), error_expr=failure, error_definition=f"{failure_def} in {seg_label}",
                                    alpha=alpha)
    q1 = scope.Q1Result(findings=findings, baseline=base_period, current=cur, error_confidence=ec, metrics=dict(q1_metrics),
                        derived_metrics=tuple(derived), alpha=alpha)
    bad_sign = 1.0 if direction == "up" else -1.0
    mix_col = _mix_column(decomps, seg_cols, bad_sign) if onset.ts is not None else None
    scan, verdict, reason, affected, dnotes, mix_shift = _sample_scan(
        eng, agg, failure, failure_def, seg_cols=seg_cols, window=w, baseline=base_period, current=cur,
        risk_thresholds=risk_thr, default_tier=default_tier, alpha=alpha, upto=upto, workdir=workdir, mix_column=mix_col)
    if mix_shift is not None:
        ranked, mix_shift = _name_traffic_change(ranked, mix_shift, onset)
        q2 = dataclasses.replace(q2, candidates=ranked, separation=None)
    notes.extend(dnotes)
    q3 = scope.Q3Result(verdict=verdict, reason=reason, segments=scan, affected_events=affected.head, affected_share=float(affected.share),
                        failure_definition=failure_def, risk_thresholds=risk_thr, window=cur, alpha=alpha,
                        affected_total=affected.n, affected_file=affected.path, mix_shift=mix_shift)
    step("scope")

    # -- 6. detection gap -------------------------------------------------------------------------
    incident = verdict != "no_incident" and onset.ts is not None
    q4 = _detection_gap(eng, agg, onset, all_series=all_series, seg_series=seg_series, seg_where=seg_where, seg_label=seg_label,
                        failure=failure, incident=incident, top_ts=top_ts, t0=t0, reported_at=rep, upto=upto, window=w,
                        thresholds=thresholds, evaluations=evaluations, seed=seed)
    monitors_doc = _monitors(eng, onset, q3, q4, failure=failure, failure_def=failure_def, metric=metric_, direction=direction,
                             window=w, baseline=base_period, reported_at=rep, incident=incident, title=title)
    step("detection gap")

    # -- 7. timeline, runbook, result ----------------------------------------------------------------
    alarms = q4.monitors[["name", "metric", "segment", "first_alarm", "lead_time_hours"]] if incident else None
    onset_desc = f"{metric_} starts moving in {seg_label}" if onset.ts is not None else ""
    tl = tl_mod.build_timeline(
        changes=ch, inferred=inferred, onset=onset.ts if incident else None,
        onset_interval=onset.interval if incident else None, onset_description=onset_desc, alarms=alarms,
        reported_at=rep, mitigated_at=mit, facts=dq.facts_note(facts) + _mix_shift_note(q3.mix_shift, onset),
    )
    # the detection gap counts from the earliest detection Q4 found (from the cause on, not only the onset)
    durs = tl_mod.durations(onset=onset.ts if incident else None, earliest_alarm=q4.earliest_alarm, reported_at=rep,
                            mitigated_at=tl.durations.mitigated_at)
    runbook = _runbook(onset, ranked, q3, q4, derived, strat, incident)
    onset_d = onset.to_dict() if incident else {**onset.to_dict(), "ts": None, "interval": None}
    onset_d["derived"] = metric_ in derived
    onset_d["segment_label"] = seg_label
    params = {
        "pattern": pattern, "metric": metric_, "requested_metric": metric, "segment_by": seg_cols, "segment_columns": seg_choice,
        "window": _fmt_window(w),
        "reported_at": rep, "baseline": {"start": b0, "end": b1}, "current": {"start": cur[0], "end": cur[1]},
        "risk_thresholds": risk_thr, "default_tier": default_tier, "alpha": alpha, "seed": int(seed), "mitigated_at": mit,
        "engine": eng.name,
    }
    # small multiples for the plots: every value of the onset's segment column (or of the first
    # segment column when the onset is on all traffic), largest first, plus all traffic
    seg_series_d: dict[str, pd.DataFrame] = {"all traffic": all_series}
    show_col = onset.segment_column if onset.segment_column != "__all__" else (seg_cols[0] if seg_cols else None)
    if show_col is not None:
        vals = seg_table[seg_table["segment_column"] == show_col].sort_values("n", ascending=False)["segment"].tolist()
        for v in [v for v in vals if v != "__missing__"][:12]:
            seg_series_d[att.segment_label(show_col, v)] = series(agg, metric_, segment_column=show_col, segment=v)
    the_title = title or (f"Incident postmortem (draft): {metric_} in {seg_label}" if incident else "Investigation: no incident found")
    step("report")
    if bar is not None:
        bar.close()
    return Postmortem(
        title=the_title, pattern=pattern, parameters=params, inputs=dict(inputs or {}), onset=onset_d, q1=q1, q2=q2, q3=q3, q4=q4,
        timeline=tl.frame, affected_events=affected.head, runbook=runbook, metric_series=all_series, changepoint=onset.changepoint,
        charts=q4.charts, drift_scans={k.split(":", 1)[1]: r.chart for k, r in q4.runs.items() if r.kind == "drift"},
        segment_series=seg_series_d, derived_metrics=list(derived), durations=durs, onset_result=onset, onset_scan=onset_scan,
        generated_at=pd.Timestamp.now(tz="UTC").floor("s"), label_rules=label_rules, notes=notes, data_quality=facts,
        monitors=monitors_doc,
    )


def _find_onset(
    eng: Engine,
    agg: Any,
    failure_of: Any,
    metrics: Sequence[str],
    seg_cols: Sequence[str],
    *,
    pattern: str,
    derived: Sequence[str],
    window: pd.Timedelta,
    reported_at: pd.Timestamp,
    alpha: float,
    progress: bool,
    pair_agg: Any = None,
) -> tuple[Any, pd.DataFrame, Where | None, pd.DataFrame, pd.DataFrame]:
    """Scan every metric and segment (and pair of segment columns) for the onset; narrow a segment
    to its failing slice.

    Returns ``(onset, onset_scan, segment_where, segment_series, segment_table)``; the onset's
    ``direction`` is resolved to ``up``/``down`` when it was ``both``.
    """
    w, rep = window, reported_at
    defaults = PATTERN_DEFAULTS[pattern]
    seg_table = agg.segments()
    upto_n = int(agg.n_events)
    min_seg_n = max(50, 0.002 * upto_n)

    def cells(table: pd.DataFrame, pairs: bool) -> list[tuple[str, str]]:
        return [(c, s) for c, s, n in table[["segment_column", "segment", "n"]].itertuples(index=False)
                if ((c == "__all__" and not pairs) or n >= min_seg_n) and s != "__missing__" and q.MISSING not in s.split(q.PAIR_SEPARATOR)]

    seg_list = cells(seg_table, False)
    pair_list = cells(pair_agg.segments(), True) if pair_agg is not None else []
    # weighted Bonferroni: the pairs spend PAIR_ALPHA_SHARE of alpha, the single columns the rest
    share = PAIR_ALPHA_SHARE if pair_list else 0.0
    plan = [(agg, seg_list, alpha * (1 - share), max(len(seg_list) * len(metrics), 1))]
    if pair_list:
        plan.append((pair_agg, pair_list, alpha * share, len(pair_list) * len(metrics)))
    it: Any = [(a, m, c, s, al, nt) for a, lst, al, nt in plan for m in metrics for (c, s) in lst]
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="change points", leave=False)
    scans, onsets, pair_onsets = [], [], []
    for a, m, c, s, al, nt in it:
        direction = defaults["direction"] if pattern != "auto" else att.BAD_DIRECTION.get(m, "both")
        sr = series(a, m, segment_column=c, segment=s)
        o = att.detect_onset(sr, metric=m, kind=agg.metrics[m], segment_column=c, segment=s, direction=direction, window=w,
                             alpha=al, n_tests=nt, end=rep)
        (onsets if a is agg else pair_onsets).append(o)
        scans.append(_scan_row(o, c, s))
    sig = [o for o in onsets if o.significant]
    sig_pairs = [o for o in pair_onsets if o.significant]
    best_single = max((o.strength for o in sig), default=0.0)
    pair = max(sig_pairs, key=lambda o: o.strength, default=None)
    n_tests = plan[0][3]
    pair_conds: dict[str, list[str]] | None = None
    if (pair is not None and pair.strength >= PAIR_STRENGTH_GAIN * best_single
            and _pair_is_sharper(agg, pair_agg, pair, alpha / max(len(pair_list), 1))):
        # the failure sits in a pair's slice (a category within a framing): the onset is there
        pair_conds = {k: [v] for k, v in q.split_pair(pair.segment_column, pair.segment).items()}
        c0 = next(iter(pair_conds))
        onset = dataclasses.replace(pair, segment_column=c0, segment=pair_conds[c0][0], conditions=pair_conds)
    elif sig:
        onset = max(sig, key=lambda o: (o.strength, o.segment_column == "__all__"))
        # the incident as users saw it: all traffic, unless a segment shows a much stronger change
        # (the aggregate hides it, as a 0.3%-of-traffic refusal regression does)
        whole = [o for o in sig if o.segment_column == "__all__" and o.metric == onset.metric]
        if whole and whole[0].strength >= 0.5 * onset.strength:
            onset = whole[0]
    else:
        first = next((m for m in metrics if m not in derived), metrics[0])
        onset = next((o for o in onsets if o.metric == first and o.segment_column == "__all__"), onsets[0])
    if onset.direction == "both" and onset.significant:
        onset = dataclasses.replace(onset, direction="up" if onset.effect > 0 else "down")
    metric_, kind, direction = onset.metric, onset.kind, onset.direction
    seg_where = None
    if pair_conds is not None:
        seg_where = Where.of(conditions=pair_conds)
        seg_series = series(pair_agg, metric_, segment_column=pair.segment_column, segment=pair.segment)
    else:
        if onset.segment_column != "__all__":
            seg_where = Where.of(conditions={onset.segment_column: [onset.segment]})
        seg_series = series(agg, metric_, segment_column=onset.segment_column, segment=onset.segment)
    if onset.significant and onset.segment_column != "__all__":
        # narrow the segment to the slice that carries its failures (e.g. chest pain questions
        # framed hypothetically) and locate the onset there, where the signal is strongest
        fl0, _ = failure_of(metric_, kind, direction)
        conds, dwhere, _ = scope.drill_down(eng, fl0, start_segment=(onset.segment_column, onset.segment),
                                            current=(onset.ts, rep), baseline=(eng.profile().ts_min, onset.ts), columns=seg_cols,
                                            alpha=alpha)
        if len(conds) > 1:
            sagg = eng.window_aggregates(window=w, metrics={metric_: kind}, where=dwhere.and_(Where.of(None, rep, end_inclusive=True)),
                                         start=agg.start, end=agg.end)
            s2 = series(sagg, metric_)
            o2 = att.detect_onset(s2, metric=metric_, kind=kind, segment_column=onset.segment_column, segment=onset.segment,
                                  direction=direction, window=w, alpha=alpha, n_tests=n_tests, end=rep)
            if o2.significant:
                onset = dataclasses.replace(o2, conditions=conds)
                seg_where, seg_series = dwhere, s2
                row = _scan_row(onset, "slice", onset.label)
                row["reason"] = "narrowed to the slice holding the failures"
                scans.append(row)
    onset_scan = pd.DataFrame(scans).sort_values(["significant", "strength"], ascending=[False, False], kind="stable").reset_index(drop=True)
    return onset, onset_scan, seg_where, seg_series, seg_table


def _monitors(eng: Engine, onset: Any, q3: Any, q4: Any, *, failure: str, failure_def: str, metric: str, direction: str,
              window: pd.Timedelta, baseline: tuple[pd.Timestamp, pd.Timestamp], reported_at: pd.Timestamp, incident: bool,
              title: str | None) -> dict[str, Any]:
    """``monitors.yaml``: the charts that would have closed the gap, designed on the baseline (one false alarm a month)."""
    from analysis import __version__

    seg: dict[str, list[str]] = {}
    if incident and onset.conditions:
        seg = {c: list(v) for c, v in onset.conditions.items()}
    elif incident and onset.segment_column != "__all__":
        seg = {onset.segment_column: [onset.segment]}
    return mon.design_monitors(eng, failure=failure, failure_definition=failure_def, metric=metric, direction=direction,
                               window=window, baseline=baseline, reported_at=reported_at,
                               detect_from=q4.detect_from if incident else None, segment=seg, segment_label=onset.label,
                               mix=q3.mix_shift, title=title or "", kit_version=__version__)


def _data_quality(eng: Engine, first: pd.Timestamp, last: pd.Timestamp, upto: Where,
                  hourly_agg: Any = None) -> list[dq.DataQualityFact]:
    """Logging gaps, label-coverage drops and duplicate bursts over the whole hours of the history
    (requests and labelled requests per hour: the investigation's own aggregates when its window is
    an hour, else one hourly query)."""
    prof = eng.profile()
    label_cols = [m for m in AUTO_METRICS if prof.present(m)]
    start, end = first.ceil("h"), last.floor("h")
    if end - start < pd.Timedelta(hours=48):
        return []
    if hourly_agg is None:
        hourly_agg = eng.window_aggregates(window="1h", metrics={m: _kind_of(prof, m) for m in label_cols}, where=upto, start=start, end=end)
    hourly = hourly_agg.table[hourly_agg.table["segment_column"] == "__all__"]
    ws = pd.to_datetime(hourly["window_start"], utc=True)
    hourly = hourly[(ws >= start) & (ws < end)]
    facts = dq.logging_gaps(hourly, start=start, end=end) + dq.coverage_drops(hourly, label_cols, start=start, end=end)
    if eng.duplicates_by_hour is not None:
        facts += dq.duplicate_bursts(eng.duplicates_by_hour, hourly, start=start, end=end)
    return sorted(facts, key=lambda f: f.start)


def _mix_shift_note(mix_shift: dict[str, Any] | None, onset: Any) -> list[dict[str, Any]]:
    """The traffic mix shift as a timeline fact (not an incident)."""
    if mix_shift is None or onset.ts is None:
        return []
    return [{"ts": onset.ts, "source": "traffic_mix_shift", "description": f"traffic mix shift: {mix_shift['text']}",
             "evidence": f"brought by {mix_shift.get('brought_by')}; behaviour within the segments unchanged: not an incident"}]


def _evidence_series(agg: Any, onset: Any, onset_scan: pd.DataFrame, seg_series: pd.DataFrame,
                     window: pd.Timedelta, seg_where: Where | None) -> tuple[pd.DataFrame, str, Where | None]:
    """Where the evidence at each change's own time is computed: of the segments whose change in the
    onset's metric is significant and starts within the onset's interval (give or take two windows),
    the one where it is most significant (most data on the step), else the onset's own series.
    Returns the series, its label and its filter."""
    if onset.ts is None or not onset.significant or onset.interval is None or not len(onset_scan):
        return seg_series, onset.label, seg_where
    lo, hi = onset.interval[0] - 2 * window, onset.interval[1] + 2 * window
    sc = onset_scan[(onset_scan["metric"] == onset.metric) & onset_scan["significant"].astype(bool)
                    & onset_scan["segment_column"].isin(set(agg.table["segment_column"]))]  # not a slice or a pair
    sc = sc[(pd.to_datetime(sc["onset"], utc=True) >= lo) & (pd.to_datetime(sc["onset"], utc=True) <= hi)]
    own_p = float(onset.pvalue) if np.isfinite(onset.pvalue) else 1.0
    if not len(sc) or float(sc["pvalue"].min()) >= own_p:
        return seg_series, onset.label, seg_where
    best = sc.sort_values("pvalue", kind="stable").iloc[0]
    col, seg = str(best["segment_column"]), str(best["segment"])
    where = None if col == "__all__" else Where.of(conditions={col: [seg]})
    return series(agg, onset.metric, segment_column=col, segment=seg), att.segment_label(col, seg), where


#: The step's location is profiled on windows this many times finer than the analysis window
#: (10 minutes at 1 h): a change an hour before another is told apart by the requests between them.
LOCATION_SUBDIVISION = 6


def _location_series(eng: Engine, onset: Any, where: Where | None, upto: Where, window: pd.Timedelta,
                     start: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.DataFrame, pd.Timedelta] | None:
    """The evidence segment's series on finer windows (one engine query), for the step's location."""
    if onset.ts is None or not onset.significant:
        return None
    fine = max(window / LOCATION_SUBDIVISION, pd.Timedelta(minutes=5))
    agg = eng.window_aggregates(window=fine, metrics={onset.metric: onset.kind}, where=upto.and_(where), start=start, end=end)
    return series(agg, onset.metric), fine


def _scan_row(o: Any, col: str, seg: str) -> dict[str, Any]:
    return {"metric": o.metric, "segment_column": col, "segment": seg, "onset": o.ts, "strength": o.strength, "effect": o.effect,
            "pvalue": o.pvalue, "significant": o.significant, "change_points": len(o.change_points), "reason": o.reason}


@dataclass(frozen=True)
class _Affected:
    """The affected events: how many, the file holding all of them, the first ones, their share of the failure window."""

    n: int
    path: str | None
    head: pd.DataFrame
    share: float


def _sample_scan(
    eng: Engine,
    agg: Any,
    failure: str,
    failure_def: str,
    *,
    seg_cols: Sequence[str],
    window: pd.Timedelta,
    baseline: tuple[pd.Timestamp, pd.Timestamp],
    current: tuple[pd.Timestamp, pd.Timestamp],
    risk_thresholds: Mapping[str, float],
    default_tier: str,
    alpha: float,
    upto: Where,
    workdir: str | Path | None,
    mix_column: str | None = None,
) -> tuple[pd.DataFrame, str, str, _Affected, list[str], dict[str, Any] | None]:
    """Q3: the per-segment binomial scan, the verdict and the affected events.

    With a ``mix_column`` (the segment column along which the aggregate moved by mix), every
    segment is held to its mix-adjusted baseline (:func:`scope.mix_expected_rates`): only a segment
    that moved within counts. When the raw scan finds segments above their baselines and the
    adjusted scan finds none, the aggregate moved by mix alone: the verdict is ``no_incident``
    and the returned ``mix_shift`` describes the traffic shift.

    Returns ``(scan, verdict, reason, affected, notes, mix_shift)``.
    """
    w, cur = window, current
    b0, b1 = baseline
    in_cur = Where.of(cur[0], cur[1], end_inclusive=True)
    fagg = eng.window_aggregates(window=w, segment_by=seg_cols, metrics={"__failure": Metric("rate", failure)}, where=upto,
                                 start=agg.start, end=agg.end)
    fb = scope.period_totals(fagg.table, b0, b1)
    fc = scope.period_totals(fagg.table, cur[0], cur[1] + pd.Timedelta(microseconds=1))
    cols = {"__failure__n": "n", "__failure__sum": "failures"}
    scan_in = fb[["segment_column", "segment", *cols]].rename(columns={k: f"{v}_baseline" for k, v in cols.items()}).merge(
        fc[["segment_column", "segment", *cols]].rename(columns={k: f"{v}_current" for k, v in cols.items()}),
        on=["segment_column", "segment"], how="outer").fillna(0.0)
    scan_in = scan_in[scan_in["segment"] != "__missing__"].copy()
    tiers = _Tiers(eng, in_cur, risk_thresholds, default_tier)
    scan_in["tier"] = [tiers(c, s) for c, s in zip(scan_in["segment_column"], scan_in["segment"])]
    # a segment absent from the baseline (new traffic) is held to all traffic's baseline rate
    all_row = scan_in[scan_in["segment_column"] == "__all__"]
    scan_in["baseline_source"] = "own"
    if len(all_row):
        small = scan_in["n_baseline"] < 20
        scan_in.loc[small, "baseline_source"] = "all traffic (segment absent from the baseline)"
        scan_in.loc[small, "failures_baseline"] = float(all_row["failures_baseline"].iat[0])
        scan_in.loc[small, "n_baseline"] = float(all_row["n_baseline"].iat[0])
    length = max(int(np.ceil((cur[1] - cur[0]) / w)), 1)
    env = scope.baseline_envelope(fagg.table, metric="__failure", baseline=baseline, length=length, quantile=1 - alpha)
    scan_in = scan_in.merge(env, on=["segment_column", "segment"], how="left")
    scan = scope.scan_segments(scan_in, risk_thresholds=risk_thresholds, alpha=alpha, default_tier=default_tier)
    verdict, reason = scope.scope_verdict(scan)
    mix_shift = None
    if mix_column is not None:
        adj_in = _mix_adjusted(eng, scan_in, failure, seg_cols, mix_column, baseline, cur)
        adj = scope.scan_segments(adj_in, risk_thresholds=risk_thresholds, alpha=alpha, default_tier=default_tier)
        adj_verdict, adj_reason = scope.scope_verdict(adj)
        if verdict == "systematic" and adj_verdict != "systematic":
            mix_shift = _mix_shift_facts(eng, mix_column, baseline, cur, failure, n_moved=int((scan["status"] == "systematic").sum()))
            reason = (f"traffic mix shift, not a behaviour regression: {mix_shift['text']}; held to its mix-adjusted baseline, no "
                      f"segment's failure rate moved beyond it ({len(adj)} segments scanned)")
            verdict = "no_incident"
        else:
            verdict, reason = adj_verdict, adj_reason
        scan = adj
    none = _Affected(0, None, _empty_affected(eng, seg_cols), 0.0)
    if verdict != "systematic":
        return scan, verdict, reason, none, [], mix_shift
    sys_rows = scan[(scan["status"] == "systematic") & (scan["segment_column"] != "__all__")]
    if len(sys_rows) == 0:
        sys_rows = scan[scan["status"] == "systematic"]
    # start from the segment with (nearly) the most excess failures, the smallest such one
    top_ex = sys_rows["excess_events"].max()
    start_row = sys_rows[sys_rows["excess_events"] >= 0.9 * top_ex].sort_values("n_current").iloc[0]
    conds, awhere, notes = scope.drill_down(eng, failure, start_segment=(start_row["segment_column"], start_row["segment"]),
                                            current=cur, baseline=baseline, columns=seg_cols, alpha=alpha)
    desc = " and ".join(f"{c} in [{', '.join(v)}]" if len(v) > 1 else f"{c}={v[0]}" for c, v in conds.items()) or "all traffic"
    src = str(start_row.get("baseline_source", "own"))
    where = f"{start_row['segment_column']}={start_row['segment']}" if src == "own" else "all traffic; the segment is new"
    why = f"{desc}: {failure_def} in the failure window (baseline rate {float(start_row['baseline_rate']):.2%} in {where})"
    folder = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="forensics-affected-"))
    rows = eng.rows(where=in_cur.and_(awhere).and_(Where(expr=f"COALESCE({failure}, FALSE)")), columns=_affected_columns(eng, seg_cols),
                    path=folder / "affected_events.parquet", limit=AFFECTED_IN_MEMORY, extra={"why": quote_literal(why)})
    head = _canonical_affected(rows.head, eng)
    share = rows.n / max(eng.count(in_cur), 1)
    return scan, verdict, reason, _Affected(rows.n, str(rows.path), head, float(share)), notes, None


def _name_traffic_change(ranked: pd.DataFrame, mix_shift: dict[str, Any], onset: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Put the change that brought the traffic first: the best-scored logged ``traffic_source_change``
    (or change of the mix column) not after the onset's interval, else an inferred
    ``traffic_mix_shift`` candidate at the onset."""
    col, seg = mix_shift["column"], mix_shift["segment"]
    live = ranked[~ranked["excluded"].astype(bool)] if len(ranked) else ranked
    hit = live[(live["change_type"] == "traffic_source_change") | (live["attribute"] == col)] if len(live) else live
    text = f"brought the traffic that shifted the mix: {mix_shift['text']}"
    if len(hit):
        cid = str(hit["change_id"].iat[0])
        i = ranked.index[ranked["change_id"] == cid][0]
        row = ranked.loc[[i]].copy()
        row["evidence"] = f"{text}; " + str(row["evidence"].iat[0])
        rest = ranked.drop(index=i)
    else:
        cid = f"inferred:traffic_mix_shift:{col}={seg}"
        row = pd.DataFrame([{c: None for c in ranked.columns}])
        row = row.assign(change_id=cid, change_type="traffic_source_change", ts=onset.ts, score=np.nan, evidence=text, inferred=True,
                         attribute=col, from_value=None, to_value=seg, description=f"inferred: the share of {col}={seg} grew",
                         excluded=False, evidence_detail=[{"mix_shift": dict(mix_shift)}])
        rest = ranked
    out = pd.concat([row, rest], ignore_index=True)
    out["rank"] = np.arange(1, len(out) + 1)
    out["ts"] = pd.to_datetime(out["ts"], utc=True)
    return out, {**mix_shift, "brought_by": cid}


#: The aggregate moved by mix along a column when at least this share of its change is mix shift.
MIX_SHARE_MIN = 0.5


def _mix_column(decomps: Mapping[str, Any], seg_cols: Sequence[str], bad_sign: float) -> str | None:
    """The segment column along which the aggregate moved most by mix, in the bad direction (None
    when no column's decomposition is mostly mix)."""
    best, best_mix = None, 0.0
    for col in seg_cols:
        d = decomps.get(col)
        if d is None or not np.isfinite(d.mix_share) or d.mix_share < MIX_SHARE_MIN or np.sign(d.mix) != bad_sign:
            continue
        if abs(d.mix) > best_mix:
            best, best_mix = col, abs(d.mix)
    return best


def _cells(eng: Engine, col: str, mix: str, failure: str, period: tuple[pd.Timestamp, pd.Timestamp], end_inclusive: bool) -> pd.DataFrame:
    """Failure counts per value of ``col`` (``__all__`` when ``col`` is) and cell of ``mix``."""
    by = [mix] if col == "__all__" else ([col] if col == mix else [col, mix])
    t = eng.totals(by=by, metrics={"f": Metric("rate", failure)}, where=Where.of(*period, end_inclusive=end_inclusive))
    return pd.DataFrame({"segment_column": col, "segment": "__all__" if col == "__all__" else t[col].astype(str),
                         "cell": t[mix].astype(str), "n": t["f__n"].to_numpy(float), "failures": t["f__sum"].to_numpy(float)})


def _mix_adjusted(eng: Engine, scan_in: pd.DataFrame, failure: str, seg_cols: Sequence[str], mix: str,
                  baseline: tuple[pd.Timestamp, pd.Timestamp], cur: tuple[pd.Timestamp, pd.Timestamp]) -> pd.DataFrame:
    """The scan's input with every segment's baseline failures replaced by its mix-adjusted ones (the
    baseline's size kept, so its uncertainty is unchanged; the envelope scaled alike)."""
    cols = ["__all__", *seg_cols]
    base = pd.concat([_cells(eng, c, mix, failure, baseline, False) for c in cols], ignore_index=True)
    now = pd.concat([_cells(eng, c, mix, failure, cur, True) for c in cols], ignore_index=True)
    exp = scope.mix_expected_rates(base, now)
    out = scan_in.merge(exp[["segment_column", "segment", "expected_rate"]], on=["segment_column", "segment"], how="left")
    e = out["expected_rate"].to_numpy(float)
    ok = np.isfinite(e) & (out["n_baseline"].to_numpy(float) > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = out["failures_baseline"].to_numpy(float) / out["n_baseline"].to_numpy(float)
        factor = np.where(ok & (raw > 0), e / raw, 1.0)
    out.loc[ok, "failures_baseline"] = (e * out["n_baseline"].to_numpy(float))[ok]
    if "envelope" in out.columns:
        out["envelope"] = pd.to_numeric(out["envelope"], errors="coerce") * factor
    out.loc[ok, "baseline_source"] = f"mix-adjusted ({mix}: the current mix at baseline rates)"
    return out.drop(columns="expected_rate")


def _mix_shift_facts(eng: Engine, mix: str, baseline: tuple[pd.Timestamp, pd.Timestamp], cur: tuple[pd.Timestamp, pd.Timestamp],
                     failure: str, n_moved: int) -> dict[str, Any]:
    """The traffic shift: the value of ``mix`` whose share grew most, its shares and base failure rate."""
    b = _cells(eng, "__all__", mix, failure, baseline, False)
    c = _cells(eng, "__all__", mix, failure, cur, True)
    t = b.merge(c, on="cell", how="outer", suffixes=("_b", "_c")).fillna(0.0)
    t["share_b"] = t["n_b"] / max(float(t["n_b"].sum()), 1.0)
    t["share_c"] = t["n_c"] / max(float(t["n_c"].sum()), 1.0)
    g = t.sort_values("share_c", ascending=False, kind="stable")
    g = g.iloc[int(np.argmax((g["share_c"] - g["share_b"]).to_numpy()))]
    rate_b = float(g["failures_b"] / g["n_b"]) if g["n_b"] > 0 else float("nan")
    overall = float(t["failures_b"].sum() / max(float(t["n_b"].sum()), 1.0))
    text = (f"{mix}={g['cell']} grew from {g['share_b']:.1%} to {g['share_c']:.1%} of traffic, and its baseline failure rate "
            f"({rate_b:.1%}) is above all traffic's ({overall:.1%})")
    return {"column": mix, "segment": str(g["cell"]), "share_baseline": float(g["share_b"]), "share_current": float(g["share_c"]),
            "segment_baseline_rate": rate_b, "overall_baseline_rate": overall, "segments_moved_by_mix": n_moved, "text": text}


class _Tiers:
    """Risk tier of a segment: its value for ``risk_category``, else the strictest tier holding >= 25% of
    its events in the failure window (one engine query per segment column, cached)."""

    def __init__(self, eng: Engine, in_cur: Where, thr: Mapping[str, float], default: str) -> None:
        self.eng, self.in_cur, self.thr, self.default = eng, in_cur, thr, default
        self.by_col: dict[str, pd.DataFrame] = {}

    def __call__(self, col: str, seg: str) -> str:
        thr, default = self.thr, self.default
        if col == "risk_category":
            return seg if seg in thr else default
        if not self.eng.has("risk_category") or col == "__all__" or not self.eng.has(col):
            return default
        if col not in self.by_col:
            self.by_col[col] = self.eng.totals(by=[col, "risk_category"], where=self.in_cur)
        t = self.by_col[col]
        t = t[t[col] == seg]
        if int(t["n"].sum()) == 0:
            return default
        t = t[t["risk_category"] != "__missing__"]
        shares = t.set_index("risk_category")["n"] / max(int(t["n"].sum()), 1)
        ok = [tier for tier in shares.index if tier in thr and shares[tier] >= 0.25]
        if not ok:
            return default
        return min(ok, key=lambda tier: thr[tier])


def _detection_gap(eng: Engine, agg: Any, onset: Any, *, all_series: pd.DataFrame, seg_series: pd.DataFrame, seg_where: Where | None,
                   seg_label: str, failure: str, incident: bool, top_ts: pd.Timestamp | None, t0: pd.Timestamp,
                   reported_at: pd.Timestamp, upto: Where, window: pd.Timedelta, thresholds: Mapping[str, tuple[str, float]] | None,
                   evaluations: pd.DataFrame | None, seed: int) -> Any:
    """Q4: every monitor replayed over the history; detections count from the earlier of the onset and the cause."""
    prof = eng.profile()
    metric, kind, direction = onset.metric, onset.kind, onset.direction
    detect_from = None
    if incident:
        detect_from = onset.ts if top_ts is None else min(onset.ts, top_ts)
    fa_base = (t0, detect_from if detect_from is not None else reported_at)
    extra = {}
    if metric != "retrieval_top1_score" and prof.present("retrieval_top1_score") and metric in att.RETRIEVAL_METRICS:
        extra["relevance"] = ("retrieval_top1_score", "mean", series(agg, "retrieval_top1_score"))
    fb = eng.totals(metrics={"f": Metric("rate", failure)}, where=Where.of(*fa_base).and_(seg_where))
    base_fail = float(fb["f__sum"].sum() / fb["f__n"].sum()) if int(fb["f__n"].sum()) else float("nan")
    q4 = backtest.replay_monitors(
        metric=metric, kind=kind, direction=direction, all_series=all_series,
        segment_series=seg_series if onset.segment_column != "__all__" else None, segment_label=seg_label, events=eng,
        failure=failure, failure_where=seg_where, where=upto,
        baseline=fa_base, detect_from=detect_from, reported_at=reported_at if incident else None, window=window, thresholds=thresholds,
        extra_series=extra, drift_columns=[c for c in ("query_category", "traffic_source", "confidence") if prof.present(c)],
        baseline_failure_rate=base_fail if np.isfinite(base_fail) else 0.0, seed=seed, evaluations=evaluations,
    )
    return q4 if incident else backtest.with_reported_at(q4, reported_at)


def _decompositions(eng: Engine, seg_cols: Sequence[str], metric: str, kind: str, base: tuple, cur: tuple) -> dict[str, Any]:
    """The aggregate change split into mix and within-segment parts, per segment and version column."""
    prof = eng.profile()
    cols = [*seg_cols, *[c for c in VERSION_COLUMNS if prof.present(c) and (prof.distinct(c) or 0) <= _MAX_SEGMENT_VALUES]]
    out = {}
    for col in dict.fromkeys(cols):
        d = _decompose(eng, metric, kind, col, base, cur)
        if d is not None:
            out[col] = d
    return out


def _top_cause_ts(onset: Any, ranked: pd.DataFrame) -> pd.Timestamp | None:
    """When the most likely cause happened, if the evidence names one (score >= 0.5, not after the onset)."""
    if onset.ts is not None and len(ranked) and ranked["score"].iat[0] >= 0.5 and not ranked["excluded"].iat[0]:
        return pd.Timestamp(ranked["ts"].iat[0])
    return None


def _baseline_period(baseline: tuple[Any, Any] | None, top_ts: pd.Timestamp | None, *, t0: pd.Timestamp, pre_end: pd.Timestamp,
                     window: pd.Timedelta) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The in-control period: given, or before the onset and before the most likely cause (when it precedes the onset)."""
    if baseline is not None:
        b0, b1 = check_timestamp(baseline[0], "baseline"), check_timestamp(baseline[1], "baseline")
        if b0 is None or b1 is None or b1 <= b0:
            raise ValueError(f"`baseline` must be (start, end) with start < end, got {baseline!r}")
        return b0, b1
    b0, b1 = t0, pre_end
    if top_ts is not None and top_ts < b1 and (top_ts - b0) >= 0.5 * (b1 - b0):
        b1 = top_ts.floor(window)
    return b0, b1


def _drift_table(eng: Engine, base_period: tuple[pd.Timestamp, pd.Timestamp], in_cur: Where, *, alpha: float, seed: int) -> pd.DataFrame:
    """Q2's drift table: the query mix of the failure window against the baseline (bounded md5 samples)."""
    cols = [c for c in DRIFT_COLUMNS if eng.profile().present(c)]
    empty = pd.DataFrame(columns=["column", "test", "statistic", "pvalue", "effect", "drifted"])
    if not cols:
        return empty
    ref = eng.sample_rows(cols, size=DRIFT_TABLE_SAMPLE, where=Where.of(*base_period), seed=seed)[cols]
    now = eng.sample_rows(cols, size=DRIFT_TABLE_SAMPLE, where=in_cur, seed=seed)[cols]
    if len(ref) < 10 or len(now) < 10:
        return empty
    return drift_mod.drift_table(ref, now, cols, alpha=alpha, seed=seed, max_sample=DRIFT_TABLE_SAMPLE)


def _fmt_window(w: pd.Timedelta) -> str:
    return _offset(w)


def _decompose(eng: Engine, metric: str, kind: str, col: str, base: tuple, cur: tuple):
    if not eng.has(col) or not eng.has(metric):
        return None
    out = []
    for a, b in (base, cur):
        t = eng.totals(by=[col], metrics={metric: kind}, where=Where.of(a, b, end_inclusive=True))
        t = t[t[f"{metric}__n"] > 0]
        if len(t) == 0:
            return None
        out.append(pd.DataFrame({"segment": t[col].to_numpy(dtype=object), "n": t[f"{metric}__n"].to_numpy(),
                                 "value": (t[f"{metric}__sum"] / t[f"{metric}__n"]).to_numpy(dtype=float)}))
    try:
        return decompose(out[0], out[1], segment_column=col, metric=metric)
    except ValueError:
        return None


def _segments_kept(eng: Engine, seg_cols: Sequence[str]) -> list[str]:
    """The canonical segment columns present, then the other scanned ones (the application's own)."""
    return list(dict.fromkeys([*[c for c in SEGMENT_COLUMNS if eng.has(c)], *[c for c in seg_cols if eng.has(c)]]))


def _affected_columns(eng: Engine, seg_cols: Sequence[str] = ()) -> list[str]:
    return ["event_id", "ts", *_segments_kept(eng, seg_cols), *[c for c in ("input_text", "output_text") if eng.has(c)]]


def _canonical_affected(head: pd.DataFrame, eng: Engine) -> pd.DataFrame:
    out = head.copy()
    out["ts"] = pd.to_datetime(out["ts"], utc=True).astype("datetime64[ns, UTC]")
    for c in out.columns:
        if c != "ts":
            out[c] = out[c].astype("string[pyarrow]")
    for c in ("input_text", "output_text"):
        if c not in out.columns:
            out[c] = pd.Series(pd.NA, index=out.index, dtype="string[pyarrow]")
    cols = [c for c in out.columns if c != "why"] + ["why"]
    return out[cols].reset_index(drop=True)


def _empty_affected(eng: Engine, seg_cols: Sequence[str] = ()) -> pd.DataFrame:
    cols = ["event_id", "ts", *_segments_kept(eng, seg_cols), "input_text", "output_text", "why"]
    out = pd.DataFrame({c: pd.Series([], dtype="string[pyarrow]") for c in cols})
    out["ts"] = pd.Series([], dtype="datetime64[ns, UTC]")
    return out


def _runbook(onset, ranked, q3, q4, derived, strat, incident) -> list[dict[str, Any]]:
    top = ranked.iloc[0].to_dict() if len(ranked) else None
    rb: list[dict[str, Any]] = []

    def add(section: str, item: str, checked: bool | None, evidence: str = "") -> None:
        rb.append({"section": section, "item": item, "checked": checked, "evidence": evidence})

    seg = onset.segment_dict
    seg_t = ", ".join(f"{k}={v}" for k, v in seg.items()) or "all traffic"
    add("triage", "Confirm the symptom in the logs (a significant, persistent change in the metric)", bool(onset.significant),
        f"{onset.metric} in {seg_t}: {onset.baseline_level:.4g} -> {onset.current_level:.4g}, effect {onset.effect:+.2f}" if onset.significant else onset.reason)
    add("triage", "Identify the changes made before the onset (logged and inferred from the logs)", bool(len(ranked)),
        f"{len(ranked)} candidate change(s)")
    add("triage", "Stratify the metric by the changed version columns", bool(strat),
        "; ".join(f"{k}: effect {v.effect:+.2f} over {v.windows_shared} shared windows" for k, v in list(strat.items())[:3]) if strat else "no version column to compare")
    add("triage", "Check that the outcome labels are logged, not derived", not derived,
        f"derived from text: {', '.join(derived)}" if derived else "labels present in the logs")
    add("scope", "Scan the failure rate per segment against the baseline with the risk-tier tolerances", True, f"verdict {q3.verdict}: {q3.reason}")
    add("scope", "Export the affected events for manual review", bool(q3.n_affected) if q3.verdict == "systematic" else None,
        f"{q3.n_affected} events ({q3.affected_share:.2%} of the failure window)")
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
    else:
        add("mitigate", "Nothing to mitigate: no incident found in the logs", None, "")
        add("post_incident", "If users still report a problem, check the labels and the segments the logs carry", None, "")
    return rb
