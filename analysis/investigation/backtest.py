"""What was the detection gap? Replay monitors over the whole history.

Each monitor is replayed on the windowed series (or, for drift and evaluation, on the events) as
if it had been running all along. For each: its alarms, its first alarm from the start of the
incident on, the lead time before the report, and its false alarms in the baseline (the period
before the most likely cause and the onset, when nothing was wrong).

Monitors (names as in the report):

* ``threshold`` -- a fixed business bar on a rolling mean (``retrieval_top1_score`` below 0.72:
  the reliability threshold of the legal RAG case; others in :data:`DEFAULT_THRESHOLDS`);
* ``rolling_2sigma`` -- a window beyond 2 standard deviations of the previous week's windows;
* ``cusum`` -- for a rate with a known bad direction, a binomial CUSUM on the failures per
  window; otherwise a tabular CUSUM on the standardized window values; ``ewma`` -- an EWMA on the
  standardized values; both designed with the ARL helpers for one false alarm per ``arl0``
  windows, except the CUSUMs that are also exported monitors (:class:`MonitorDesign`'s
  ``cusum_designs``), charted as the monitor set designed them from their share of its budget;
* ``segment_cusum`` -- the same CUSUM on the affected segment only (the per-segment rate monitor);
* ``drift:<column>`` -- query-mix drift (chi-square on categories, KS on confidence) in 6-hour
  windows against a reference week;
* ``weekly_evaluation`` -- a weekly evaluation of 50 sampled requests against a 95% pass bar.

The gap is named after the monitor that would have closed it (the earliest alarm among monitors
with an acceptable false-alarm rate): ``quality_signal_missing`` when it watches a quality signal
that is not an outcome label (retrieval relevance, an evaluator's score, the model's confidence),
``evaluation_lag`` when only the periodic evaluation catches it, ``spc_missing`` when a statistical
process control chart or a traffic-drift monitor on the logged outcome would have caught it.

The monitors themselves (threshold, charts, drift, evaluation) are in
:mod:`analysis.investigation.monitor_charts`; this module replays them and names the gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.engine import Engine, Where, as_engine
from analysis.investigation.monitor_charts import (
    EvaluationPlan,
    chart_monitors,
    drift_monitors,
    threshold_monitor,
    weekly_evaluation,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "QUALITY_SIGNALS",
    "GAP_CATEGORIES",
    "MonitorRun",
    "Q4Result",
    "WatchedMetric",
    "ReplayPeriods",
    "MonitorDesign",
    "classify_gap",
    "replay_monitors",
    "with_reported_at",
]

#: Fixed business bars: metric -> (alternative, value): ``less`` alarms below the bar, ``greater`` above it. ``retrieval_top1_score`` below 0.72 is the
#: reliability threshold of the legal RAG case; 95% citation accuracy is its evaluation bar
#: (``hallucinated`` above 5%, ``correct`` below 95%); a support bot's usual escalation is 8-12%.
DEFAULT_THRESHOLDS: dict[str, tuple[str, float]] = {
    "retrieval_top1_score": ("less", 0.72),
    "hallucinated": ("greater", 0.05),
    "ungrounded_citation": ("greater", 0.05),
    "correct": ("less", 0.95),
    "escalated": ("greater", 0.20),
}
#: Metrics that are quality signals rather than outcome labels.
QUALITY_SIGNALS = frozenset({"retrieval_top1_score", "retrieval_mean_score", "quality_score", "confidence"})
GAP_CATEGORIES = ("quality_signal_missing", "evaluation_lag", "spc_missing")
#: The segment label of the series on all traffic.
_ALL_TRAFFIC = "all traffic"


@dataclass(frozen=True, eq=False)
class MonitorRun:
    """One monitor replayed over the history.

    ``alarm_times`` are all alarms (in the bad direction), ``first_alarm`` the first at or after
    ``detect_from`` (None when it never fired then), ``lead_time_hours = reported_at -
    first_alarm``, ``false_alarms_baseline`` the alarms inside the baseline period.
    """

    name: str
    metric: str
    segment: str
    kind: str
    signal: str
    alarm_times: tuple[pd.Timestamp, ...]
    first_alarm: pd.Timestamp | None
    lead_time_hours: float | None
    false_alarms_baseline: int
    baseline_days: float
    description: str
    design: dict[str, Any] = field(default_factory=dict)
    chart: Any = field(default=None, repr=False)
    series: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def false_alarms_per_30d(self) -> float:
        return self.false_alarms_baseline / self.baseline_days * 30 if self.baseline_days > 0 else float("nan")


@dataclass(frozen=True, eq=False)
class Q4Result:
    """Q4: which monitor would have caught the incident, and how much earlier.

    ``monitors`` is one row per monitor: ``name``, ``metric``, ``segment``, ``kind``, ``signal``,
    ``first_alarm``, ``lead_time_hours``, ``false_alarms_baseline``, ``false_alarms_per_30d``,
    ``alarms_total``, ``usable``, ``description``.
    """

    monitors: pd.DataFrame
    runs: dict[str, MonitorRun]
    reported_at: pd.Timestamp | None
    earliest_alarm: pd.Timestamp | None
    closing_monitor: str | None
    gap_hours: float | None
    gap_category: str | None
    gap_explanation: str
    baseline: tuple[pd.Timestamp, pd.Timestamp] | None
    detect_from: pd.Timestamp | None
    arl0: float
    max_false_alarms_per_30d: float
    monitor_set: Any = None

    @property
    def charts(self) -> dict[str, dict[str, Any]]:
        """name -> {"result": spc/drift result, "series": the series it ran on} (for plots)."""
        return {k: {"result": r.chart, "series": r.series, "kind": r.kind} for k, r in self.runs.items()}


@dataclass(frozen=True, eq=False)
class WatchedMetric:
    """What is monitored: the incident's metric, its windowed series and its failure.

    Attributes
    ----------
    metric, kind, alternative
        The incident's metric, ``"rate"``/``"mean"`` and its bad direction (``"greater"``, ``"less"``
        or ``"two-sided"``).
    all_series, segment_series
        The metric's windowed series on all traffic and on the affected segment (or None).
    segment_label
        The affected segment (``"all traffic"`` when the incident is not in one segment).
    failure, failure_where
        The failure as SQL (for the weekly evaluation; None: no simulated evaluation) and the
        filter of the affected segment.
    baseline_failure_rate
        Normal failure rate of the evaluated slice (the simulated evaluation's bar sits above it).
    extra_series
        More series to watch with a threshold/CUSUM: name -> (metric, kind, series) (e.g. the
        retrieval relevance when the incident metric is the hallucination rate).
    """

    metric: str
    kind: str
    alternative: str
    all_series: pd.DataFrame
    segment_series: pd.DataFrame | None = None
    segment_label: str = _ALL_TRAFFIC
    failure: str | None = None
    failure_where: Where | None = None
    baseline_failure_rate: float = 0.0
    extra_series: Mapping[str, tuple[str, str, pd.DataFrame]] | None = None


@dataclass(frozen=True)
class ReplayPeriods:
    """When: the in-control baseline, the start of detection, the report and the window length.

    Attributes
    ----------
    baseline
        ``(start, end)`` of the in-control period: false alarms are counted there and the charts
        are designed from it.
    detect_from
        Alarms from here on count as detections (the earlier of the onset and the most likely
        cause); None when there was no incident.
    reported_at
        The report; lead time = ``reported_at - first_alarm``.
    window
        Window length of the series.
    """

    baseline: tuple[pd.Timestamp, pd.Timestamp]
    detect_from: pd.Timestamp | None
    reported_at: pd.Timestamp | None
    window: pd.Timedelta

    def in_baseline(self, series: pd.DataFrame) -> np.ndarray:
        """Mask of the windows of ``series`` that start inside the baseline."""
        b0, b1 = self.baseline
        ws = series["window_start"]
        return ((ws >= b0) & (ws < b1)).to_numpy()


@dataclass(frozen=True)
class MonitorDesign:
    """Which monitors are replayed and how they are designed.

    Attributes
    ----------
    thresholds
        Metric -> (``"less"``/``"greater"``, bar); default :data:`DEFAULT_THRESHOLDS`.
    drift_columns
        Columns watched for query-mix drift (those absent from the events are skipped).
    arl0
        In-control average run length of CUSUM and EWMA in windows; default one false alarm per
        30 days of windows (720 at hourly windows).
    max_false_alarms_per_30d
        Monitors noisier than this in the baseline cannot close the gap (nobody would keep them).
    seed
        Seed of the simulated evaluation's sample.
    cusum_designs
        Series prefix (``""``: the metric on all traffic, ``"segment_"``, ``"relevance_"``) -> the
        design of that series' CUSUM in the exported monitor set
        (:mod:`analysis.investigation.monitor_set`): those CUSUMs are charted as designed there,
        from their share of the family budget, instead of for ``arl0``.
    monitor_set
        The planned monitor set itself, carried to :class:`Q4Result` for the export.
    """

    thresholds: Mapping[str, tuple[str, float]] | None = None
    drift_columns: Sequence[str] = ("query_category", "traffic_source", "confidence")
    arl0: float | None = None
    max_false_alarms_per_30d: float = 4.0
    seed: int = 0
    cusum_designs: Mapping[str, Mapping[str, Any]] | None = None
    monitor_set: Any = None


@dataclass(frozen=True, eq=False)
class _Replayed:
    """What one monitor raised and computed on the history: its alarms and how to show them."""

    alarms: list[pd.Timestamp]
    description: str
    design: Mapping[str, Any]
    chart: Any = None
    series: pd.DataFrame | None = None


@dataclass(frozen=True, eq=False)
class _Series:
    """One watched series: the prefix of its monitors' names, what it measures, where, its windows."""

    prefix: str
    metric: str
    kind: str
    alternative: str
    label: str
    frame: pd.DataFrame


# ----------------------------------------------------------------------------------------------
# one monitor's run
# ----------------------------------------------------------------------------------------------


def _run(name: str, metric: str, segment: str, kind: str, signal: str, out: _Replayed, periods: ReplayPeriods) -> MonitorRun:
    """The monitor's alarms read against the periods: false alarms, first detection, lead time."""
    b0, b1 = periods.baseline
    detect_from, reported_at = periods.detect_from, periods.reported_at
    alarms = sorted(out.alarms)
    fa = sum(1 for t in alarms if b0 <= t < b1)
    first = None
    if detect_from is not None:
        after = [t for t in alarms if t >= detect_from and (reported_at is None or t <= reported_at + pd.Timedelta(days=30))]
        first = after[0] if after else None
    lead = None if first is None or reported_at is None else (reported_at - first) / pd.Timedelta(hours=1)
    days = max((b1 - b0) / pd.Timedelta(days=1), 0.0)
    return MonitorRun(
        name=name, metric=metric, segment=segment, kind=kind, signal=signal, alarm_times=tuple(alarms), first_alarm=first,
        lead_time_hours=lead, false_alarms_baseline=int(fa), baseline_days=float(days), description=out.description,
        design=dict(out.design or {}), chart=out.chart, series=out.series,
    )


def _usable(r: MonitorRun, max_per_30d: float) -> bool:
    """A monitor people would keep: at most ``max_per_30d`` false alarms a month (one is tolerated in a short baseline)."""
    if not np.isfinite(r.false_alarms_per_30d):
        return True
    return r.false_alarms_baseline <= max(1.0, max_per_30d * r.baseline_days / 30.0)


def classify_gap(run: MonitorRun | None, *, any_alarm_before_report: bool) -> tuple[str, str]:
    """Name the gap after the monitor that would have closed it; ``(category, explanation)``."""
    if run is None:
        return "quality_signal_missing", (
            "no replayed monitor on the logged signals alarmed before the report: the failure was not visible in "
            "any quality signal the logs carry; add one (an evaluator's score, retrieval relevance, a labelled sample)"
        )
    if run.kind == "evaluation":
        return "evaluation_lag", (
            f"only the periodic evaluation caught it ({run.description}); continuous monitoring of the same label "
            "would have closed the gap"
        )
    if run.signal == "quality":
        return "quality_signal_missing", (
            f"{run.name} on {run.metric} ({run.segment}) would have alarmed first: this quality signal was logged but "
            "not monitored; add it to the dashboards with this alarm"
        )
    return "spc_missing", (
        f"{run.name} on {run.metric} ({run.segment}) would have alarmed first: a statistical process control chart "
        "on the outcome (or its traffic mix) was missing"
    )


# ----------------------------------------------------------------------------------------------
# the replay
# ----------------------------------------------------------------------------------------------


def _watched_series(w: WatchedMetric) -> list[_Series]:
    """The metric on all traffic, on the affected segment (when it is one), and the extra series."""
    entries = [("", w.metric, w.kind, _ALL_TRAFFIC, w.all_series)]
    if w.segment_series is not None and w.segment_label != _ALL_TRAFFIC:
        entries.append(("segment_", w.metric, w.kind, w.segment_label, w.segment_series))
    for name, (m, kd, s) in (w.extra_series or {}).items():
        entries.append((f"{name}_", m, kd, _ALL_TRAFFIC, s))
    out = []
    for prefix, m, kd, label, s in entries:
        # an extra quality signal goes bad downwards, whatever the incident metric does
        d = w.alternative if m == w.metric else ("less" if m in QUALITY_SIGNALS else w.alternative)
        out.append(_Series(prefix, m, kd, d, label, s.reset_index(drop=True)))
    return out


def _threshold_run(s: _Series, signal: str, bar_spec: tuple[str, float], periods: ReplayPeriods) -> MonitorRun:
    """The fixed business bar on the 6-window rolling mean of one series."""
    alternative, bar = bar_spec
    val, mask = threshold_monitor(s.frame, kind=s.kind, alternative=alternative, threshold=bar, rolling=6)
    starts = s.frame["window_start"]
    alarms = [pd.Timestamp(starts.iat[i]) + periods.window for i in np.flatnonzero(mask)]
    words = {"less": "below", "greater": "above"}[alternative]
    out = _Replayed(alarms, f"rolling 6-window mean of {s.metric} {words} {bar}",
                    {"alternative": alternative, "threshold": bar, "rolling": 6},
                    chart={"value": val, "alarm": mask}, series=s.frame)
    return _run(f"{s.prefix}threshold", s.metric, s.label, "threshold", signal, out, periods)


def _chart_description(cname: str, design: Mapping[str, Any], metric: str) -> str:
    """How the report names a chart monitor and its design."""
    if cname == "cusum":
        if "p0" in design:
            return (f"binomial CUSUM on failures (p0={design.get('p0', float('nan')):.3g}, p1={design.get('p1', float('nan')):.3g}, "
                    f"h={design.get('h', float('nan')):.2f}, ARL0 {design.get('arl0', float('nan')):.0f} windows)")
        return f"tabular CUSUM (k={design.get('k')}, h={design.get('h', float('nan')):.2f}) on standardized {metric}"
    if cname == "ewma":
        return f"EWMA (lambda={design.get('lam')}, L={design.get('L', float('nan')):.2f}) on standardized {metric}"
    return f"{metric} beyond 2 sigma of the previous 7 days"


def _series_runs(s: _Series, thresholds: Mapping[str, tuple[str, float]], periods: ReplayPeriods, arl0: float,
                 cusum_design: Mapping[str, Any] | None = None) -> dict[str, MonitorRun]:
    """The threshold (when the metric has a bar) and the chart monitors on one watched series (its CUSUM
    as the monitor set designed it, when given)."""
    signal = "quality" if s.metric in QUALITY_SIGNALS else "outcome"
    runs: dict[str, MonitorRun] = {}
    if s.metric in thresholds:
        runs[f"{s.prefix}threshold"] = _threshold_run(s, signal, thresholds[s.metric], periods)
    charts = chart_monitors(s.frame, kind=s.kind, alternative=s.alternative, baseline_mask=periods.in_baseline(s.frame),
                            window=periods.window, arl0=arl0, cusum_design=cusum_design)
    for cname, (alarms, chart, design) in charts.items():
        if s.prefix and cname != "cusum":
            continue  # one chart per extra series keeps the table readable
        out = _Replayed(alarms, _chart_description(cname, design, s.metric), design, chart=chart, series=s.frame)
        runs[f"{s.prefix}{cname}"] = _run(f"{s.prefix}{cname}", s.metric, s.label, "spc", signal, out, periods)
    return runs


def _drift_runs(eng: Engine, columns: Sequence[str], where: Where | None, periods: ReplayPeriods) -> dict[str, MonitorRun]:
    """Query-mix drift against a reference week at the start of the baseline."""
    b0, b1 = periods.baseline
    ref_days = min(7.0, max((b1 - b0) / pd.Timedelta(days=1) / 2, 1.0))
    ref = (b0, b0 + pd.Timedelta(days=ref_days))
    # false alarms are counted after the reference period (the scan cannot drift from itself there)
    after_ref = replace(periods, baseline=(ref[1], b1))
    runs: dict[str, MonitorRun] = {}
    for col, (alarms, res) in drift_monitors(eng, columns=columns, reference=ref, where=where, grain=periods.window).items():
        signal = "quality" if col in QUALITY_SIGNALS else "traffic"
        out = _Replayed(alarms, f"{res.test} drift of {col} in 6 h windows against {ref_days:.0f} reference days",
                        {"reference": ref, "window": "6h", "consecutive": 2}, chart=res, series=res.frame)
        runs[f"drift:{col}"] = _run(f"drift:{col}", col, _ALL_TRAFFIC, "drift", signal, out, after_ref)
    return runs


def _logged_evaluation_run(evaluations: pd.DataFrame, metric: str, periods: ReplayPeriods) -> MonitorRun:
    """The real evaluation history (``ts``, ``passed``): every failed run is an alarm."""
    e = evaluations.sort_values("ts")
    e_ts = pd.to_datetime(e["ts"], utc=True)
    failed = ~e["passed"].astype("boolean").fillna(True).to_numpy(dtype=bool)
    alarms = [pd.Timestamp(t) for t, f in zip(e_ts, failed) if f]
    suite = str(e["suite"].iat[0]) if "suite" in e.columns and len(e) else "evaluation"
    out = _Replayed(alarms, f"the logged offline evaluation ({suite}, {len(e)} runs)", {"runs": int(len(e))},
                    chart=e.reset_index(drop=True), series=e.reset_index(drop=True))
    return _run("weekly_evaluation", metric, _ALL_TRAFFIC, "evaluation", "outcome", out, periods)


def _simulated_evaluation_run(eng: Engine, watched: WatchedMetric, where: Where | None, periods: ReplayPeriods,
                              seed: int) -> MonitorRun | None:
    """A weekly evaluation simulated on the failure flag of the affected segment (None without one)."""
    if watched.failure is None:
        return None
    n_events, t_first, t_last = eng.time_range(where)
    if not n_events:
        return None
    plan = EvaluationPlan(seed=seed)
    end = periods.reported_at if periods.reported_at is not None else t_last
    alarms, table = weekly_evaluation(eng, watched.failure, start=t_first, end=end + pd.Timedelta(days=7), plan=plan,
                                      baseline_failure_rate=watched.baseline_failure_rate,
                                      where=watched.failure_where.and_(where) if watched.failure_where is not None else where)
    out = _Replayed(alarms, f"{plan.sample_size} sampled requests from the day before, weekly, {plan.pass_rate:.0%} pass bar",
                    {"sample_size": plan.sample_size, "pass_rate": plan.pass_rate}, chart=table, series=table)
    return _run("weekly_evaluation", watched.metric, watched.segment_label, "evaluation", "outcome", out, periods)


_MONITOR_COLUMNS = ["name", "metric", "segment", "kind", "signal", "first_alarm", "lead_time_hours", "false_alarms_baseline",
                    "false_alarms_per_30d", "alarms_total", "usable", "description"]


def _monitor_table(runs: Mapping[str, MonitorRun], max_per_30d: float) -> pd.DataFrame:
    """One row per monitor (:class:`Q4Result`'s ``monitors``), earliest detection first."""
    rows = []
    for r in runs.values():
        rows.append({
            "name": r.name, "metric": r.metric, "segment": r.segment, "kind": r.kind, "signal": r.signal,
            "first_alarm": r.first_alarm, "lead_time_hours": r.lead_time_hours, "false_alarms_baseline": r.false_alarms_baseline,
            "false_alarms_per_30d": r.false_alarms_per_30d, "alarms_total": len(r.alarm_times),
            "usable": _usable(r, max_per_30d),
            "description": r.description,
        })
    table = pd.DataFrame(rows, columns=_MONITOR_COLUMNS)
    table["first_alarm"] = pd.to_datetime(table["first_alarm"], utc=True)
    table["lead_time_hours"] = pd.to_numeric(table["lead_time_hours"], errors="coerce").astype("float64")
    return table.sort_values(["first_alarm", "false_alarms_baseline"], na_position="last", kind="stable").reset_index(drop=True)


def _closing_gap(runs: Mapping[str, MonitorRun], periods: ReplayPeriods,
                 max_per_30d: float) -> tuple[MonitorRun | None, str | None, str, float | None]:
    """The closing monitor (earliest usable detection before the report), the gap's category, explanation and hours."""
    detect_from, reported_at = periods.detect_from, periods.reported_at
    if detect_from is None:
        return None, None, "no incident: nothing to detect", None
    cands = [r for r in runs.values() if r.first_alarm is not None and (reported_at is None or r.first_alarm <= reported_at)]
    usable = [r for r in cands if _usable(r, max_per_30d)]
    closing: MonitorRun | None = None
    if usable:
        # ties (same window): prefer fewer false alarms, then continuous over periodic monitors
        closing = min(usable, key=lambda r: (r.first_alarm, r.false_alarms_baseline, r.kind == "evaluation"))
    cat, expl = classify_gap(closing, any_alarm_before_report=bool(cands))
    if closing is None:
        gap: float | None = 0.0
    else:
        gap = None if reported_at is None else (reported_at - closing.first_alarm) / pd.Timedelta(hours=1)
    return closing, cat, expl, gap


def replay_monitors(
    watched: WatchedMetric,
    periods: ReplayPeriods,
    *,
    events: Any,
    where: Where | None = None,
    design: MonitorDesign = MonitorDesign(),
    evaluations: pd.DataFrame | None = None,
) -> Q4Result:
    """Replay every monitor over the history and name the detection gap.

    Parameters
    ----------
    watched
        The incident's metric, its series on all traffic and the affected segment, its failure.
    periods
        The baseline (false alarms are counted there and the charts designed from it), the start
        of detection, the report and the window length.
    events, where
        The events (a table or an engine) and the filter of the history replayed (e.g. up to the
        report).
    design
        Which monitors (thresholds, drift columns) and how they are designed (``arl0``, the
        false-alarm rate a usable monitor may have, the evaluation's seed).
    evaluations
        A real evaluation history (``ts`` and ``passed``; e.g. ``Scenario.evaluations``): replayed
        as ``weekly_evaluation`` instead of the simulated one.
    """
    thr = dict(DEFAULT_THRESHOLDS if design.thresholds is None else design.thresholds)
    eng = as_engine(events)
    arl0 = design.arl0 if design.arl0 is not None else max(pd.Timedelta(days=30) / periods.window, 20.0)
    runs: dict[str, MonitorRun] = {}
    for s in _watched_series(watched):
        runs.update(_series_runs(s, thr, periods, arl0, (design.cusum_designs or {}).get(s.prefix)))
    runs.update(_drift_runs(eng, design.drift_columns, where, periods))
    # weekly evaluation: the real history when given, else simulated on the failure flag
    if evaluations is not None and len(evaluations) and {"ts", "passed"} <= set(evaluations.columns):
        runs["weekly_evaluation"] = _logged_evaluation_run(evaluations, watched.metric, periods)
    else:
        simulated = _simulated_evaluation_run(eng, watched, where, periods, design.seed)
        if simulated is not None:
            runs["weekly_evaluation"] = simulated
    closing, cat, expl, gap = _closing_gap(runs, periods, design.max_false_alarms_per_30d)
    return Q4Result(
        monitors=_monitor_table(runs, design.max_false_alarms_per_30d), runs=runs, reported_at=periods.reported_at,
        earliest_alarm=None if closing is None else closing.first_alarm, closing_monitor=None if closing is None else closing.name,
        gap_hours=gap, gap_category=cat, gap_explanation=expl, baseline=periods.baseline, detect_from=periods.detect_from,
        arl0=float(arl0), max_false_alarms_per_30d=design.max_false_alarms_per_30d, monitor_set=design.monitor_set,
    )


def with_reported_at(q4: Q4Result, reported_at: pd.Timestamp | None) -> Q4Result:
    """The same result with ``reported_at`` set (a no-incident replay has no lead times)."""
    return replace(q4, reported_at=reported_at)
