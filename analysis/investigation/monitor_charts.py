"""The monitors replayed over the history, one building block each.

Each block runs one kind of monitor over a windowed series (or, for drift and the evaluation,
over the events) and returns its alarms (in the bad alternative, at the close of the window that
raised them) with what it computed:

* :func:`threshold_monitor` -- a fixed business bar on a rolling (count-weighted) mean;
* :func:`chart_monitors` -- CUSUM, EWMA and rolling 2-sigma charts on the standardized windows
  (:func:`standardize`), or a binomial CUSUM on the failures per window (:func:`binomial_chart`)
  for a rate with a known bad alternative; designed with the ARL helpers of
  :mod:`analysis.stats.spc` for one false alarm per ``arl0`` windows;
* :func:`drift_monitors` -- query-mix drift scans against a reference period;
* :func:`weekly_evaluation` -- a periodic evaluation of sampled labelled requests against a pass bar.

:mod:`analysis.investigation.backtest` replays them and names the detection gap;
:mod:`analysis.prevention.monitors` designs its monitors with :func:`binomial_chart` and
:func:`standardize`. This module imports only ``engine`` and ``stats``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from analysis.engine import MISSING, DuckDBEngine, Engine, Where, as_engine
from analysis.stats import drift, spc

__all__ = [
    "DRIFT_MONITOR_SAMPLE",
    "EvaluationPlan",
    "standardize",
    "threshold_monitor",
    "chart_monitors",
    "binomial_chart",
    "drift_monitors",
    "weekly_evaluation",
]


def _bad_sides(alternative: str) -> set[str]:
    """The chart alarm sides (``upper``/``lower``/``both``) that count for ``alternative``."""
    return {"greater": {"upper"}, "less": {"lower"}}.get(alternative, {"upper", "lower", "both"}) | {"both"}


def standardize(series: pd.DataFrame, kind: str, baseline_mask: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """Window values as z-scores against the baseline, corrected for overdispersion.

    Returns ``(z, info)``: one z-score per window (NaN for an empty window) and the baseline's
    ``level`` (rate or mean), ``sd``, ``dispersion`` and ``z_centre`` (what a monitor needs to
    standardize new windows the same way). ``baseline_mask`` marks the in-control windows.

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


def _alarm_times(starts: pd.Series, idx: Sequence[int], sides: Sequence[str] | None, alternative: str, window: pd.Timedelta) -> list[pd.Timestamp]:
    ok = _bad_sides(alternative)
    out = []
    for j, i in enumerate(idx):
        if sides is not None and str(sides[j]) not in ok:
            continue
        # the alarm is raised when the window closes
        out.append(pd.Timestamp(starts.iat[int(i)]) + window)
    return out


def threshold_monitor(
    series: pd.DataFrame,
    *,
    kind: str,
    alternative: str,
    threshold: float,
    rolling: int = 6,
) -> tuple[np.ndarray, np.ndarray]:
    """Rolling (count-weighted) mean of the last ``rolling`` windows against a fixed bar.

    Returns ``(rolling_value, alarm_mask)``; ``alternative`` is ``"less"`` (alarm below the bar)
    or ``"greater"`` (above it).
    """
    if alternative not in ("less", "greater"):
        raise ValueError(f"`alternative` must be 'less' or 'greater', got {alternative!r}")
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
    alarm = (val < threshold) if alternative == "less" else (val > threshold)
    return val, np.where(np.isfinite(val), alarm, False)


def chart_monitors(
    series: pd.DataFrame,
    *,
    kind: str,
    alternative: str,
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
    if kind == "rate" and alternative in ("greater", "less"):
        out["cusum"] = binomial_chart(series, alternative, baseline_mask, starts, window, arl0)
    else:
        # one false alarm per arl0 windows on the side that matters (both sides when either is bad)
        h = float(spc.cusum_h_for_arl(arl0, k=k, two_sided=alternative == "two-sided"))
        cus = spc.tabular_cusum(z, target=0.0, sigma=1.0, k=k, h=h, reset=True)
        out["cusum"] = (_alarm_times(starts, cus.alarms, cus.side, alternative, window), cus,
                        {"chart": "tabular CUSUM on standardized windows", "k": k, "h": h, "arl0": arl0, **info})
    L = float(spc.ewma_L_for_arl(arl0, lam=lam))
    ew = spc.ewma_chart(z, target=0.0, sigma=1.0, lam=lam, L=L)
    out["ewma"] = (_alarm_times(starts, ew.alarms, ew.side, alternative, window), ew,
                   {"lam": lam, "L": L, "arl0": arl0, **info})
    if kind == "rate":
        vals = pd.to_numeric(series["rate"], errors="coerce") if "rate" in series.columns else (
            pd.to_numeric(series["successes"], errors="coerce") / pd.to_numeric(series["n"], errors="coerce"))
    else:
        vals = pd.to_numeric(series["mean"], errors="coerce")
    vals = pd.Series(vals.to_numpy(float), index=pd.DatetimeIndex(starts))
    rs = spc.rolling_sigma_alarm(vals, baseline_span="7D", k=2.0, alternative=alternative)
    out["rolling_2sigma"] = (_alarm_times(starts, rs.alarms, rs.side, alternative, window), rs,
                             {"k": 2.0, "baseline_span": "7D"})
    return out


def binomial_chart(series: pd.DataFrame, alternative: str, baseline_mask: np.ndarray, starts: pd.Series,
                   window: pd.Timedelta, arl0: float) -> tuple[list[pd.Timestamp], Any, dict[str, Any]]:
    """Binomial CUSUM on the failures per window (exact for sparse slices, where z-scores are not).

    Returns ``(alarm times, chart, design)``: the alarms at the close of their window, the
    :func:`analysis.stats.spc.binomial_cusum` result and its design (``p0``, ``p1``, ``h``,
    ``h_event_design``, ``arl0``, ``mean_n``). ``series`` has ``n`` and ``successes`` per window,
    ``baseline_mask`` marks the in-control windows, ``starts`` their starts.

    Failures are the successes (``alternative="greater"``) or the non-successes (``"less"``). ``p0`` is
    the baseline failure rate, ``p1 = min(max(2 p0, p0 + 0.05), (1 + p0)/2)`` (twice the rate, at
    least 5 points more); ``h`` starts from :func:`analysis.stats.spc.bernoulli_cusum_h_for_arl` for
    ``arl0`` windows times the mean window size in events (Gan 1993: a window's increment is the
    sum of its events' increments) and is calibrated to windows by :func:`_calibrate_binomial_h`.
    """
    n = pd.to_numeric(series["n"], errors="coerce").fillna(0).to_numpy(float)
    k = pd.to_numeric(series["successes"], errors="coerce").fillna(0).to_numpy(float)
    fails = k if alternative == "greater" else n - k
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


@dataclass(frozen=True)
class EvaluationPlan:
    """How the simulated periodic evaluation samples and judges requests.

    Attributes
    ----------
    sample_size
        Labelled requests sampled per run (fewer when fewer are available).
    pass_rate
        The pass bar: a run fails when its failure share exceeds ``1 - pass_rate`` above the
        normal failure rate.
    lookback
        The period before each run its requests are sampled from.
    seed
        Seed of the sample (requests are chosen by ``MD5(event_id:seed)``).
    """

    sample_size: int = 50
    pass_rate: float = 0.95
    lookback: pd.Timedelta = pd.Timedelta(days=1)
    seed: int = 0


def weekly_evaluation(
    events: Any,
    failure: Any,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    plan: EvaluationPlan = EvaluationPlan(),
    baseline_failure_rate: float = 0.0,
    where: Where | None = None,
) -> tuple[list[pd.Timestamp], pd.DataFrame]:
    """A weekly evaluation: ``plan.sample_size`` labelled requests from the day before each run.

    ``events`` and ``failure`` are a table and its failure flag per row, or an engine and the
    failure as SQL (``where`` then narrows to the evaluated slice). The requests are chosen by
    ``MD5(event_id:seed)`` (:class:`EvaluationPlan`). The run fails when the failure share exceeds
    ``max(1 - pass_rate, baseline_failure_rate + (1 - pass_rate))`` (a 95% bar over whatever the
    metric's normal failure rate is). Runs are at ``start + 7 days``, ``start + 14 days``, ...
    Returns (alarm times, one row per run).
    """
    if not isinstance(events, Engine):
        frame = events.assign(__failure=pd.Series(failure, index=events.index).astype("boolean").to_numpy())
        with DuckDBEngine(frame) as eng:
            return weekly_evaluation(eng, '"__failure"', start=start, end=end, plan=plan,
                                     baseline_failure_rate=baseline_failure_rate, where=where)
    eng = events
    bar = max(1 - plan.pass_rate, baseline_failure_rate + (1 - plan.pass_rate))
    labelled = Where(expr=f"({failure}) IS NOT NULL").and_(where)
    rows = []
    alarms = []
    t = start.normalize() + pd.Timedelta(days=7)
    while t <= end:
        pick = eng.sample_rows([], size=plan.sample_size, seed=plan.seed, where=labelled.and_(Where.of(t - plan.lookback, t)),
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
