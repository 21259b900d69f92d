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
  windows;
* ``segment_cusum`` -- the same CUSUM on the affected segment only (the per-segment rate monitor);
* ``drift:<column>`` -- query-mix drift (chi-square on categories, KS on confidence) in 6-hour
  windows against a reference week;
* ``weekly_evaluation`` -- a weekly evaluation of 50 sampled requests against a 95% pass bar.

The gap is named after the monitor that would have closed it (the earliest alarm among monitors
with an acceptable false-alarm rate): ``quality_signal_missing`` when it watches a quality signal
that is not an outcome label (retrieval relevance, an evaluator's score, the model's confidence),
``evaluation_lag`` when only the periodic evaluation catches it, ``spc_missing`` when a statistical
process control chart or a traffic-drift monitor on the logged outcome would have caught it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.engine import MISSING, DuckDBEngine, Engine, Where, as_engine
from analysis.stats import drift, spc

__all__ = [
    "DEFAULT_THRESHOLDS",
    "QUALITY_SIGNALS",
    "GAP_CATEGORIES",
    "MonitorRun",
    "Q4Result",
    "standardize",
    "threshold_monitor",
    "chart_monitors",
    "drift_monitors",
    "weekly_evaluation",
    "classify_gap",
    "replay_monitors",
    "with_reported_at",
]

#: Fixed business bars: metric -> (side, value). ``retrieval_top1_score`` below 0.72 is the
#: reliability threshold of the legal RAG case; 95% citation accuracy is its evaluation bar
#: (``hallucinated`` above 5%, ``correct`` below 95%); a support bot's usual escalation is 8-12%.
DEFAULT_THRESHOLDS: dict[str, tuple[str, float]] = {
    "retrieval_top1_score": ("below", 0.72),
    "hallucinated": ("above", 0.05),
    "correct": ("below", 0.95),
    "escalated": ("above", 0.20),
}
#: Metrics that are quality signals rather than outcome labels.
QUALITY_SIGNALS = frozenset({"retrieval_top1_score", "retrieval_mean_score", "quality_score", "confidence"})
GAP_CATEGORIES = ("quality_signal_missing", "evaluation_lag", "spc_missing")




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

    @property
    def charts(self) -> dict[str, dict[str, Any]]:
        """name -> {"result": spc/drift result, "series": the series it ran on} (for plots)."""
        return {k: {"result": r.chart, "series": r.series, "kind": r.kind} for k, r in self.runs.items()}


# ----------------------------------------------------------------------------------------------
# building blocks
# ----------------------------------------------------------------------------------------------


def _bad_sides(direction: str) -> set[str]:
    return {"up": {"upper"}, "down": {"lower"}}.get(direction, {"upper", "lower", "both"}) | {"both"}


def standardize(series: pd.DataFrame, kind: str, baseline_mask: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """Window values as z-scores against the baseline, corrected for overdispersion.

    Notes
    -----
    Rates: :math:`z_t = (\\hat p_t - p_0)/\\sqrt{p_0(1-p_0)/n_t}`; means:
    :math:`z_t = (\\bar x_t - \\mu_0)/(s_0/\\sqrt{n_t})`, with :math:`p_0, \\mu_0, s_0` pooled over
    the baseline windows. Real traffic varies more between windows than sampling alone explains,
    so the z-scores are divided by their standard deviation over the baseline windows
    (:math:`\\hat\\phi^{1/2}`, at least 1): an in-control chart then has unit variance and the
    ARL design holds approximately.
    """
    n = pd.to_numeric(series["n"], errors="coerce").to_numpy(float)
    if kind == "rate":
        k = pd.to_numeric(series["successes"], errors="coerce").to_numpy(float)
        bm = baseline_mask & (n > 0)
        p0 = k[bm].sum() / n[bm].sum() if n[bm].sum() > 0 else np.nan
        with np.errstate(invalid="ignore", divide="ignore"):
            se = np.sqrt(max(p0 * (1 - p0), 1e-12) / n)
            z = (k / n - p0) / se
        level, base_sd = p0, np.sqrt(p0 * (1 - p0)) if np.isfinite(p0) else np.nan
    else:
        m = pd.to_numeric(series["mean"], errors="coerce").to_numpy(float)
        sd = pd.to_numeric(series["std"], errors="coerce").to_numpy(float) if "std" in series.columns else np.zeros_like(m)
        bm = baseline_mask & (n > 0) & np.isfinite(m)
        N = n[bm].sum()
        mu0 = (n[bm] * m[bm]).sum() / N if N > 0 else np.nan
        ss = ((n[bm] - 1).clip(min=0) * np.nan_to_num(sd[bm]) ** 2).sum() + (n[bm] * (m[bm] - mu0) ** 2).sum()
        s0 = np.sqrt(ss / (N - 1)) if N > 1 else np.nan
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (m - mu0) / (max(s0, 1e-12) / np.sqrt(n))
        level, base_sd = mu0, s0
    z = np.where(n > 0, z, np.nan)
    zb = z[baseline_mask & np.isfinite(z)]
    phi = float(np.std(zb, ddof=1)) if zb.size > 2 else 1.0
    phi = max(phi, 1.0) if np.isfinite(phi) else 1.0
    zc = z / phi
    # centre on the baseline's own mean of z so that a chart starts in control
    centre = float(np.nanmean(zc[baseline_mask])) if np.isfinite(zc[baseline_mask]).any() else 0.0
    return zc - centre, {"level": float(level), "sd": float(base_sd), "dispersion": phi, "z_centre": centre}


def _alarm_times(starts: pd.Series, idx: Sequence[int], sides: Sequence[str] | None, direction: str, window: pd.Timedelta) -> list[pd.Timestamp]:
    ok = _bad_sides(direction)
    out = []
    for j, i in enumerate(idx):
        if sides is not None and str(sides[j]) not in ok:
            continue
        # the alarm is raised when the window closes
        out.append(pd.Timestamp(starts.iat[int(i)]) + window)
    return out


def _run(
    name: str,
    metric: str,
    segment: str,
    kind: str,
    signal: str,
    alarms: list[pd.Timestamp],
    *,
    baseline: tuple[pd.Timestamp, pd.Timestamp],
    detect_from: pd.Timestamp | None,
    reported_at: pd.Timestamp | None,
    description: str,
    design: Mapping[str, Any] | None = None,
    chart: Any = None,
    series: pd.DataFrame | None = None,
) -> MonitorRun:
    b0, b1 = baseline
    alarms = sorted(alarms)
    fa = sum(1 for t in alarms if b0 <= t < b1)
    first = None
    if detect_from is not None:
        after = [t for t in alarms if t >= detect_from and (reported_at is None or t <= reported_at + pd.Timedelta(days=30))]
        first = after[0] if after else None
    lead = None if first is None or reported_at is None else (reported_at - first) / pd.Timedelta(hours=1)
    days = max((b1 - b0) / pd.Timedelta(days=1), 0.0)
    return MonitorRun(
        name=name, metric=metric, segment=segment, kind=kind, signal=signal, alarm_times=tuple(alarms), first_alarm=first,
        lead_time_hours=lead, false_alarms_baseline=int(fa), baseline_days=float(days), description=description,
        design=dict(design or {}), chart=chart, series=series,
    )


def threshold_monitor(
    series: pd.DataFrame,
    *,
    kind: str,
    side: str,
    threshold: float,
    rolling: int = 6,
) -> tuple[np.ndarray, np.ndarray]:
    """Rolling (count-weighted) mean of the last ``rolling`` windows against a fixed bar.

    Returns ``(rolling_value, alarm_mask)``; ``side`` is ``"below"`` or ``"above"``.
    """
    if side not in ("below", "above"):
        raise ValueError(f"`side` must be 'below' or 'above', got {side!r}")
    if rolling < 1:
        raise ValueError(f"`rolling` must be a positive number of windows, got {rolling!r}")
    n = pd.to_numeric(series["n"], errors="coerce").fillna(0).to_numpy(float)
    if kind == "rate":
        s = pd.to_numeric(series["successes"], errors="coerce").fillna(0).to_numpy(float)
    else:
        s = np.nan_to_num(pd.to_numeric(series["mean"], errors="coerce").to_numpy(float) * n)
    cs = pd.Series(s).rolling(rolling, min_periods=1).sum().to_numpy()
    cn = pd.Series(n).rolling(rolling, min_periods=1).sum().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        val = np.where(cn > 0, cs / cn, np.nan)
    alarm = (val < threshold) if side == "below" else (val > threshold)
    return val, np.where(np.isfinite(val), alarm, False)


def chart_monitors(
    series: pd.DataFrame,
    *,
    kind: str,
    direction: str,
    baseline_mask: np.ndarray,
    window: pd.Timedelta,
    arl0: float,
    k: float = 0.5,
    lam: float = 0.2,
) -> dict[str, tuple[list[pd.Timestamp], Any, dict[str, Any]]]:
    """CUSUM, EWMA and rolling 2-sigma on one series; name -> (alarm times, chart, design)."""
    z, info = standardize(series, kind, baseline_mask)
    starts = series["window_start"].reset_index(drop=True)
    out: dict[str, tuple[list[pd.Timestamp], Any, dict[str, Any]]] = {}
    if kind == "rate" and direction in ("up", "down"):
        out["cusum"] = _binomial_chart(series, direction, baseline_mask, starts, window, arl0)
    else:
        # one false alarm per arl0 windows on the side that matters (both sides when either is bad)
        h = float(spc.cusum_h_for_arl(arl0, k=k, two_sided=direction == "both"))
        cus = spc.tabular_cusum(z, target=0.0, sigma=1.0, k=k, h=h, reset=True)
        out["cusum"] = (_alarm_times(starts, cus.alarms, cus.side, direction, window), cus,
                        {"chart": "tabular CUSUM on standardized windows", "k": k, "h": h, "arl0": arl0, **info})
    L = float(spc.ewma_L_for_arl(arl0, lam=lam))
    ew = spc.ewma_chart(z, target=0.0, sigma=1.0, lam=lam, L=L)
    out["ewma"] = (_alarm_times(starts, ew.alarms, ew.side, direction, window), ew,
                   {"lam": lam, "L": L, "arl0": arl0, **info})
    if kind == "rate":
        vals = pd.to_numeric(series["rate"], errors="coerce") if "rate" in series.columns else (
            pd.to_numeric(series["successes"], errors="coerce") / pd.to_numeric(series["n"], errors="coerce"))
    else:
        vals = pd.to_numeric(series["mean"], errors="coerce")
    vals = pd.Series(vals.to_numpy(float), index=pd.DatetimeIndex(starts))
    side = {"up": "upper", "down": "lower"}.get(direction, "both")
    rs = spc.rolling_sigma_alarm(vals, window="7D", k=2.0, side=side)
    out["rolling_2sigma"] = (_alarm_times(starts, rs.alarms, rs.side, direction, window), rs,
                             {"k": 2.0, "window": "7D"})
    return out


def _binomial_chart(series: pd.DataFrame, direction: str, baseline_mask: np.ndarray, starts: pd.Series,
                    window: pd.Timedelta, arl0: float) -> tuple[list[pd.Timestamp], Any, dict[str, Any]]:
    """Binomial CUSUM on the failures per window (exact for sparse slices, where z-scores are not).

    Failures are the successes (``direction="up"``) or the non-successes (``"down"``). ``p0`` is
    the baseline failure rate, ``p1 = min(max(2 p0, p0 + 0.05), (1 + p0)/2)`` (twice the rate, at
    least 5 points more); ``h`` starts from :func:`analysis.stats.spc.bernoulli_cusum_h_for_arl` for
    ``arl0`` windows times the mean window size in events (Gan 1993: a window's increment is the
    sum of its events' increments) and is calibrated to windows by :func:`_calibrate_binomial_h`.
    """
    n = pd.to_numeric(series["n"], errors="coerce").fillna(0).to_numpy(float)
    k = pd.to_numeric(series["successes"], errors="coerce").fillna(0).to_numpy(float)
    fails = k if direction == "up" else n - k
    bm = baseline_mask & (n > 0)
    p0 = float(fails[bm].sum() / n[bm].sum()) if n[bm].sum() > 0 else float(fails.sum() / max(n.sum(), 1))
    # no failure at all in the baseline: half a failure (a continuity correction), not zero
    p0 = min(max(p0, 0.5 / max(float(n[bm].sum()), 1.0), 1e-4), 0.95)
    p1 = min(max(2 * p0, p0 + 0.05), (1 + p0) / 2)
    mean_n = float(n[n > 0].mean()) if (n > 0).any() else 1.0
    try:
        h_events = float(spc.bernoulli_cusum_h_for_arl(arl0 * mean_n, p0=p0, p1=p1))
    except ValueError:
        # the event-level design did not bracket a root (extreme rates): simulate over a wide grid
        h_events = float(4 * np.log(p1 / p0))
    h = _calibrate_binomial_h(n[bm] if bm.any() else n[n > 0], p0, p1, arl0, h_events)
    res = spc.binomial_cusum(fails, n, p0=p0, p1=p1, h=h, reset=True)
    alarms = [pd.Timestamp(starts.iat[int(i)]) + window for i in res.alarms]
    return alarms, res, {"chart": "binomial CUSUM on failures", "p0": p0, "p1": p1, "h": h, "h_event_design": h_events,
                         "arl0": arl0, "mean_n": mean_n}


def _calibrate_binomial_h(n_windows: np.ndarray, p0: float, p1: float, arl0: float, h_events: float,
                          replicates: int = 32, seed: int = 20260105) -> float:
    """Decision limit giving a window-level binomial CUSUM about one false alarm per ``arl0`` windows.

    The event-level design (:func:`analysis.stats.spc.bernoulli_cusum_h_for_arl` with ``arl0`` times
    the mean window size) is conservative on window counts: the chart is only checked at window
    ends. The limit is calibrated by simulating in-control windows (window sizes resampled from
    the baseline's, failures ~ Binomial(n, p0)) for a grid of limits below the event design, and
    taking the smallest limit whose false-alarm rate per window is at most ``1 / arl0``.
    Deterministic (fixed seed).
    """
    n_windows = np.asarray(n_windows, float)
    n_windows = n_windows[n_windows > 0]
    if n_windows.size == 0 or not np.isfinite(h_events) or h_events <= 0:
        return h_events
    rng = np.random.default_rng(seed)
    steps = int(min(max(30 * arl0 / replicates, 500), 20000))
    hs = np.linspace(0.25 * h_events, 1.5 * h_events, 41)
    a, b = np.log(p1 / p0), np.log((1 - p1) / (1 - p0))
    nn = rng.choice(n_windows, size=(steps, replicates))
    kk = rng.binomial(nn.astype(np.int64), p0)
    inc = kk * a + (nn - kk) * b
    S = np.zeros((hs.size, replicates))
    alarms = np.zeros(hs.size)
    for t in range(steps):
        S = np.maximum(0.0, S + inc[t][None, :])
        hit = S > hs[:, None]
        alarms += hit.sum(axis=1)
        S[hit] = 0.0
    rate = alarms / (steps * replicates)
    ok = np.flatnonzero(rate <= 1.0 / arl0)
    return float(hs[ok[0]]) if ok.size else float(h_events)


#: Values per drift-monitor window (6 h) a numeric scan (KS) tests at most (a bounded md5-keyed
#: sample); categorical scans use exact counts.
DRIFT_MONITOR_SAMPLE = 500


def drift_monitors(
    events: Any,
    *,
    columns: Sequence[str],
    reference: tuple[pd.Timestamp, pd.Timestamp],
    window: str = "6h",
    alpha: float = 0.01,
    consecutive: int = 2,
    where: Where | None = None,
    grain: pd.Timedelta | None = None,
) -> dict[str, tuple[list[pd.Timestamp], Any]]:
    """Query-mix drift scans (``analysis.stats.drift.drift_scan``) against a reference period.

    An alarm is raised at the end of the ``consecutive``-th drifted window in a row (one drifted
    6-hour window is often a burst, two in a row is a shift). ``events`` is a table or an engine.
    A categorical column is scanned on its exact counts per ``grain`` (the window of the
    reference bounds, default one hour; a reference bound falls on it); a numeric one on a
    bounded sample of each window (:data:`DRIFT_MONITOR_SAMPLE` values).
    """
    eng = as_engine(events)
    prof = eng.profile()
    out: dict[str, tuple[list[pd.Timestamp], Any]] = {}
    g = grain if grain is not None else pd.Timedelta("1h")
    for col in columns:
        if not prof.present(col):
            continue
        if prof.kind(col) in ("string", "bool"):
            vc = eng.value_counts([col], where=where, window=g)  # windows are epoch-aligned: any start fits
            vc = vc[vc["value"] != MISSING]
            rows = pd.DataFrame({"ts": vc["window_start"].to_numpy(), col: vc["value"].astype(object).to_numpy(),
                                 "n": vc["n"].to_numpy()})
            rows["ts"] = pd.to_datetime(rows["ts"], utc=True)
            kw = {"weights": "n"}
        else:
            rows = eng.sample_rows([col], size=DRIFT_MONITOR_SAMPLE, window=window, where=where)
            kw = {}
        if not len(rows) or rows[col].notna().sum() == 0:
            continue
        try:
            res = drift.drift_scan(rows, col, reference=reference, window=window, alpha=alpha, **kw)
        except ValueError:
            continue
        f = res.frame
        flags = np.array(f["drifted"].astype("boolean").fillna(False).to_numpy(dtype=bool), dtype=bool)
        if "overlaps_reference" in f.columns:
            flags &= ~f["overlaps_reference"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        run = 0
        alarms = []
        ends = pd.to_datetime(f["window_end"], utc=True)
        for i, fl in enumerate(flags):
            run = run + 1 if fl else 0
            if run == consecutive:
                alarms.append(pd.Timestamp(ends.iat[i]))
        out[col] = (alarms, res)
    return out


def weekly_evaluation(
    events: Any,
    failure: Any,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    sample_size: int = 50,
    pass_rate: float = 0.95,
    baseline_failure_rate: float = 0.0,
    lookback: pd.Timedelta = pd.Timedelta(days=1),
    seed: int = 0,
    where: Where | None = None,
) -> tuple[list[pd.Timestamp], pd.DataFrame]:
    """A weekly evaluation: ``sample_size`` labelled requests from the day before each run.

    ``events`` and ``failure`` are a table and its failure flag per row, or an engine and the
    failure as SQL (``where`` then narrows to the evaluated slice). The requests are chosen by
    ``MD5(event_id:seed)``. The run fails when the failure share exceeds ``max(1 - pass_rate,
    baseline_failure_rate + (1 - pass_rate))`` (a 95% bar over whatever the metric's normal
    failure rate is). Runs are at ``start + 7 days``, ``start + 14 days``, ... Returns (alarm
    times, one row per run).
    """
    if not isinstance(events, Engine):
        frame = events.assign(__failure=pd.Series(failure, index=events.index).astype("boolean").to_numpy())
        with DuckDBEngine(frame) as eng:
            return weekly_evaluation(eng, '"__failure"', start=start, end=end, sample_size=sample_size, pass_rate=pass_rate,
                                     baseline_failure_rate=baseline_failure_rate, lookback=lookback, seed=seed, where=where)
    eng = events
    bar = max(1 - pass_rate, baseline_failure_rate + (1 - pass_rate))
    labelled = Where(expr=f"({failure}) IS NOT NULL").and_(where)
    rows = []
    alarms = []
    t = start.normalize() + pd.Timedelta(days=7)
    while t <= end:
        pick = eng.sample_rows([], size=sample_size, seed=seed, where=labelled.and_(Where.of(t - lookback, t)),
                               exprs={"__f": f"CASE WHEN {failure} THEN 1 ELSE 0 END"})
        if len(pick):
            fails = int(pd.to_numeric(pick["__f"]).sum())
            share = fails / len(pick)
            failed = share > bar
            rows.append({"run_at": t, "sampled": int(len(pick)), "failures": fails, "failure_share": share, "bar": bar, "failed": failed})
            if failed:
                alarms.append(t)
        t += pd.Timedelta(days=7)
    return alarms, pd.DataFrame(rows, columns=["run_at", "sampled", "failures", "failure_share", "bar", "failed"])


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


def replay_monitors(
    *,
    metric: str,
    kind: str,
    direction: str,
    all_series: pd.DataFrame,
    segment_series: pd.DataFrame | None,
    segment_label: str,
    events: Any,
    failure: str | None,
    failure_where: Where | None = None,
    where: Where | None = None,
    baseline: tuple[pd.Timestamp, pd.Timestamp],
    detect_from: pd.Timestamp | None,
    reported_at: pd.Timestamp | None,
    window: pd.Timedelta,
    thresholds: Mapping[str, tuple[str, float]] | None = None,
    extra_series: Mapping[str, tuple[str, str, pd.DataFrame]] | None = None,
    drift_columns: Sequence[str] = ("query_category", "traffic_source", "confidence"),
    arl0: float | None = None,
    max_false_alarms_per_30d: float = 4.0,
    baseline_failure_rate: float = 0.0,
    seed: int = 0,
    evaluations: pd.DataFrame | None = None,
) -> Q4Result:
    """Replay every monitor over the history and name the detection gap.

    Parameters
    ----------
    metric, kind, direction
        The incident's metric, ``"rate"``/``"mean"`` and its bad direction.
    all_series, segment_series
        The metric's windowed series on all traffic and on the affected segment (or None).
    events, failure, failure_where, where
        The events (a table or an engine), the failure as SQL (for the weekly evaluation), the
        filter of the affected segment, and the filter of the history replayed (e.g. up to the
        report).
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
    thresholds
        Metric -> (``"below"``/``"above"``, bar); default :data:`DEFAULT_THRESHOLDS`.
    extra_series
        More series to watch with a threshold/CUSUM: name -> (metric, kind, series) (e.g. the
        retrieval relevance when the incident metric is the hallucination rate).
    arl0
        In-control average run length of CUSUM and EWMA in windows; default one false alarm per
        30 days of windows (720 at hourly windows).
    max_false_alarms_per_30d
        Monitors noisier than this in the baseline cannot close the gap (nobody would keep them).
    baseline_failure_rate
        Normal failure rate of the evaluated slice (the simulated evaluation's bar sits above it).
    seed
        Seed of the simulated evaluation's sample.
    evaluations
        A real evaluation history (``ts`` and ``passed``; e.g. ``Scenario.evaluations``): replayed
        as ``weekly_evaluation`` instead of the simulated one.
    """
    thr = dict(DEFAULT_THRESHOLDS if thresholds is None else thresholds)
    eng = as_engine(events)
    n_events, t_first, t_last = eng.time_range(where)
    if arl0 is None:
        arl0 = max(pd.Timedelta(days=30) / window, 20.0)
    b0, b1 = baseline
    runs: dict[str, MonitorRun] = {}
    common = dict(baseline=baseline, detect_from=detect_from, reported_at=reported_at)
    all_label = "all traffic"

    def series_mask(s: pd.DataFrame) -> np.ndarray:
        ws = s["window_start"]
        return ((ws >= b0) & (ws < b1)).to_numpy()

    watched: list[tuple[str, str, str, str, pd.DataFrame]] = [("", metric, kind, all_label, all_series)]
    if segment_series is not None and segment_label != all_label:
        watched.append(("segment_", metric, kind, segment_label, segment_series))
    for name, (m, kd, s) in (extra_series or {}).items():
        watched.append((f"{name}_", m, kd, all_label, s))
    for prefix, m, kd, label, s in watched:
        s = s.reset_index(drop=True)
        signal = "quality" if m in QUALITY_SIGNALS else "outcome"
        d = direction if m == metric else ("down" if m in QUALITY_SIGNALS else direction)
        if m in thr:
            side, bar = thr[m]
            val, mask = threshold_monitor(s, kind=kd, side=side, threshold=bar, rolling=6)
            starts = s["window_start"]
            alarms = [pd.Timestamp(starts.iat[i]) + window for i in np.flatnonzero(mask)]
            runs[f"{prefix}threshold"] = _run(
                f"{prefix}threshold", m, label, "threshold", signal, alarms, **common,
                description=f"rolling 6-window mean of {m} {side} {bar}", design={"side": side, "threshold": bar, "rolling": 6},
                chart={"value": val, "alarm": mask}, series=s,
            )
        charts = chart_monitors(s, kind=kd, direction=d, baseline_mask=series_mask(s), window=window, arl0=arl0)
        for cname, (alarms, chart, design) in charts.items():
            if prefix and cname != "cusum":
                continue  # one chart per extra series keeps the table readable
            desc = {
                "cusum": (f"binomial CUSUM on failures (p0={design.get('p0', float('nan')):.3g}, p1={design.get('p1', float('nan')):.3g}, "
                          f"h={design.get('h', float('nan')):.2f})" if "p0" in design else
                          f"tabular CUSUM (k={design.get('k')}, h={design.get('h', float('nan')):.2f}) on standardized {m}"),
                "ewma": f"EWMA (lambda={design.get('lam')}, L={design.get('L', float('nan')):.2f}) on standardized {m}",
                "rolling_2sigma": f"{m} beyond 2 sigma of the previous 7 days",
            }[cname]
            runs[f"{prefix}{cname}"] = _run(f"{prefix}{cname}", m, label, "spc", signal, alarms, **common,
                                            description=desc, design=design, chart=chart, series=s)
    # query-mix drift against a reference week at the start of the baseline
    ref_days = min(7.0, max((b1 - b0) / pd.Timedelta(days=1) / 2, 1.0))
    ref = (b0, b0 + pd.Timedelta(days=ref_days))
    for col, (alarms, res) in drift_monitors(eng, columns=drift_columns, reference=ref, where=where, grain=window).items():
        signal = "quality" if col in QUALITY_SIGNALS else "traffic"
        base_from = ref[1]
        r = _run(f"drift:{col}", col, all_label, "drift", signal, alarms, baseline=(base_from, b1), detect_from=detect_from,
                 reported_at=reported_at, description=f"{res.test} drift of {col} in 6 h windows against {ref_days:.0f} reference days",
                 design={"reference": ref, "window": "6h", "consecutive": 2}, chart=res, series=res.frame)
        runs[r.name] = r
    # weekly evaluation: the real history when given, else simulated on the failure flag
    if evaluations is not None and len(evaluations) and {"ts", "passed"} <= set(evaluations.columns):
        e = evaluations.sort_values("ts")
        e_ts = pd.to_datetime(e["ts"], utc=True)
        failed = ~e["passed"].astype("boolean").fillna(True).to_numpy(dtype=bool)
        alarms = [pd.Timestamp(t) for t, f in zip(e_ts, failed) if f]
        suite = str(e["suite"].iat[0]) if "suite" in e.columns and len(e) else "evaluation"
        runs["weekly_evaluation"] = _run(
            "weekly_evaluation", metric, all_label, "evaluation", "outcome", alarms, **common,
            description=f"the logged offline evaluation ({suite}, {len(e)} runs)", design={"runs": int(len(e))},
            chart=e.reset_index(drop=True), series=e.reset_index(drop=True),
        )
    elif failure is not None and n_events:
        end = reported_at if reported_at is not None else t_last
        alarms, table = weekly_evaluation(eng, failure, start=t_first, end=end + pd.Timedelta(days=7),
                                          baseline_failure_rate=baseline_failure_rate, seed=seed,
                                          where=failure_where.and_(where) if failure_where is not None else where)
        runs["weekly_evaluation"] = _run(
            "weekly_evaluation", metric, segment_label, "evaluation", "outcome", alarms, **common,
            description="50 sampled requests from the day before, weekly, 95% pass bar", design={"sample_size": 50, "pass_rate": 0.95},
            chart=table, series=table,
        )
    rows = []
    for r in runs.values():
        rows.append({
            "name": r.name, "metric": r.metric, "segment": r.segment, "kind": r.kind, "signal": r.signal,
            "first_alarm": r.first_alarm, "lead_time_hours": r.lead_time_hours, "false_alarms_baseline": r.false_alarms_baseline,
            "false_alarms_per_30d": r.false_alarms_per_30d, "alarms_total": len(r.alarm_times),
            "usable": _usable(r, max_false_alarms_per_30d),
            "description": r.description,
        })
    table = pd.DataFrame(rows, columns=["name", "metric", "segment", "kind", "signal", "first_alarm", "lead_time_hours",
                                        "false_alarms_baseline", "false_alarms_per_30d", "alarms_total", "usable", "description"])
    table["first_alarm"] = pd.to_datetime(table["first_alarm"], utc=True)
    table["lead_time_hours"] = pd.to_numeric(table["lead_time_hours"], errors="coerce").astype("float64")
    # the closing monitor: earliest detection before the report among the usable monitors
    closing: MonitorRun | None = None
    if detect_from is not None:
        cands = [r for r in runs.values() if r.first_alarm is not None and (reported_at is None or r.first_alarm <= reported_at)]
        usable = [r for r in cands if _usable(r, max_false_alarms_per_30d)]
        pool = usable or []
        if pool:
            # ties (same window): prefer fewer false alarms, then continuous over periodic monitors
            closing = min(pool, key=lambda r: (r.first_alarm, r.false_alarms_baseline, r.kind == "evaluation"))
        cat, expl = classify_gap(closing, any_alarm_before_report=bool(cands))
        gap = None if closing is None or reported_at is None else (reported_at - closing.first_alarm) / pd.Timedelta(hours=1)
        if closing is None:
            gap = 0.0
    else:
        cat, expl, gap = None, "no incident: nothing to detect", None
    table = table.sort_values(["first_alarm", "false_alarms_baseline"], na_position="last", kind="stable").reset_index(drop=True)
    return Q4Result(
        monitors=table, runs=runs, reported_at=reported_at, earliest_alarm=None if closing is None else closing.first_alarm,
        closing_monitor=None if closing is None else closing.name, gap_hours=gap, gap_category=cat, gap_explanation=expl,
        baseline=baseline, detect_from=detect_from, arl0=float(arl0), max_false_alarms_per_30d=max_false_alarms_per_30d,
    )


def with_reported_at(q4: Q4Result, reported_at: pd.Timestamp | None) -> Q4Result:
    """The same result with ``reported_at`` set (a no-incident replay has no lead times)."""
    import dataclasses

    return dataclasses.replace(q4, reported_at=reported_at)
