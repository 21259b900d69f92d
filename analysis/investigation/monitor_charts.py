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
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.engine import MISSING, DuckDBEngine, Engine, Where, as_engine
from analysis.stats import drift, spc

__all__ = [
    "DRIFT_MONITOR_SAMPLE",
    "EvaluationPlan",
    "standardize",
    "threshold_monitor",
    "chart_monitors",
    "binomial_chart",
    "design_binomial",
    "SIZE_QUANTILES",
    "CUSUM_K",
    "EWMA_LAMBDA",
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


def _standardized_as(series: pd.DataFrame, design: Mapping[str, Any]) -> np.ndarray:
    """Window means standardized with a designed monitor's baseline (``level, sd, dispersion, z_centre``)."""
    n = pd.to_numeric(series["n"], errors="coerce").to_numpy(float)
    m = pd.to_numeric(series["mean"], errors="coerce").to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (m - design["level"]) / (max(float(design["sd"]), 1e-12) / np.sqrt(n))
    return np.where(n > 0, z / max(float(design["dispersion"]), 1e-12) - float(design["z_centre"]), np.nan)


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


#: Reference value of the replayed tabular CUSUM (half a standard deviation) and weight of the EWMA.
CUSUM_K = 0.5
EWMA_LAMBDA = 0.2


def chart_monitors(
    series: pd.DataFrame,
    *,
    kind: str,
    alternative: str,
    baseline_mask: np.ndarray,
    window: pd.Timedelta,
    arl0: float,
    cusum_design: Mapping[str, Any] | None = None,
) -> dict[str, tuple[list[pd.Timestamp], Any, dict[str, Any]]]:
    """CUSUM, EWMA and rolling 2-sigma on one series; name -> (alarm times, chart, design).

    The tabular CUSUM's reference is :data:`CUSUM_K`, the EWMA's weight :data:`EWMA_LAMBDA`.

    ``cusum_design``: the CUSUM of a designed monitor set (its ``p0, p1, h`` for a rate, its
    ``k, h`` for a mean), charted as it is instead of being designed here for ``arl0``.
    """
    k, lam = CUSUM_K, EWMA_LAMBDA
    z, info = standardize(series, kind, baseline_mask)
    starts = series["window_start"].reset_index(drop=True)
    out: dict[str, tuple[list[pd.Timestamp], Any, dict[str, Any]]] = {}
    if kind == "rate" and alternative in ("greater", "less"):
        out["cusum"] = binomial_chart(series, alternative, baseline_mask, starts, window, arl0, design=cusum_design)
    else:
        # one false alarm per arl0 windows on the side that matters (both sides when either is bad); a set's
        # binomial design (p0, p1, h: a one-sided rate chart) does not fit a two-sided chart, which is designed here for
        # the same share of the set's budget (its arl0)
        if cusum_design is not None and "k" not in cusum_design:
            arl0, cusum_design = float(cusum_design.get("arl0", arl0)), None
        kk, h = (float(cusum_design["k"]), float(cusum_design["h"])) if cusum_design is not None else (
            k, float(spc.cusum_h_for_arl(arl0, k=k, two_sided=alternative == "two-sided")))
        zc = z if cusum_design is None or "level" not in cusum_design else _standardized_as(series, cusum_design)
        cus = spc.tabular_cusum(zc, target=0.0, sigma=1.0, k=kk, h=h, reset=True)
        a0 = float(cusum_design.get("arl0", arl0)) if cusum_design is not None else arl0
        out["cusum"] = (_alarm_times(starts, cus.alarms, cus.side, alternative, window), cus,
                        {"chart": "tabular CUSUM on standardized windows", "k": kk, "h": h, "arl0": a0, **info})
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
                   window: pd.Timedelta, arl0: float, design: Mapping[str, Any] | None = None) -> tuple[list[pd.Timestamp], Any, dict[str, Any]]:
    """Binomial CUSUM on the failures per window (exact for sparse slices, where z-scores are not).

    Returns ``(alarm times, chart, design)``: the alarms at the close of their window, the
    :func:`analysis.stats.spc.binomial_cusum` result and its design (:func:`design_binomial`, or
    ``design`` when given: a chart of a designed monitor set, charted as it is). ``series`` has
    ``n`` and ``successes`` per window, ``baseline_mask`` marks the in-control windows, ``starts``
    their starts. Failures are the successes (``alternative="greater"``) or the non-successes (``"less"``).
    """
    n = pd.to_numeric(series["n"], errors="coerce").fillna(0).to_numpy(float)
    k = pd.to_numeric(series["successes"], errors="coerce").fillna(0).to_numpy(float)
    fails = k if alternative == "greater" else n - k
    d = dict(design) if design is not None else design_binomial(n, fails, baseline_mask, arl0)
    res = spc.binomial_cusum(fails, n, p0=d["p0"], p1=d["p1"], h=d["h"], reset=True)
    alarms = [pd.Timestamp(starts.iat[int(i)]) + window for i in res.alarms]
    return alarms, res, {"chart": "binomial CUSUM on failures", **d}


#: Window sizes are summarised by this many quantiles for the design (and its cache key).
SIZE_QUANTILES = 16


def design_binomial(n: np.ndarray, fails: np.ndarray, baseline_mask: np.ndarray, arl0: float) -> dict[str, float]:
    r"""The binomial CUSUM for one false alarm per ``arl0`` windows, fitted on the baseline's windows.

    Returns ``p0``, ``p1``, ``h``, ``h_binomial``, ``dispersion``, ``arl0``, ``arl0_nonempty``,
    ``requests_per_window`` and ``window_sizes``.

    Notes
    -----
    ``p0`` is the baseline failure rate (half a failure when none was seen; 4 significant
    digits: the design is cached on it), ``p1 = min(max(2 p0, p0 + 0.05), (1 + p0)/2)`` (twice
    the rate, at least 5 points more). A window without requests moves nothing, so the chart
    counts non-empty windows: ``arl0`` is scaled by the baseline's share of non-empty windows.
    ``h_binomial`` solves :func:`analysis.stats.spc.binomial_cusum_h_for_arl` exactly (a Markov
    chain over window increments, window sizes from 16 quantiles of the baseline's), so a chart
    costs one cached root search, shared by the replay and the exported monitor. When the
    baseline's windows vary more than binomial sampling allows (Pearson's statistic beyond its 1%
    chi-square quantile, with at least one expected failure a window), the chart is the
    quasi-likelihood CUSUM (the increments divided by the Pearson dispersion :math:`\phi`, i.e.
    the limit ``h = phi * h_binomial``): its increments have the mean and variance of a binomial
    chart's on windows of :math:`n/\phi` requests, so ``h_binomial`` is designed on those
    (``window_sizes`` are the sizes designed on). Otherwise :math:`\phi = 1`.
    """
    n, fails = np.asarray(n, float), np.asarray(fails, float)
    base = np.asarray(baseline_mask, bool)
    bm = base & (n > 0)
    p0 = float(fails[bm].sum() / n[bm].sum()) if n[bm].sum() > 0 else float(fails.sum() / max(n.sum(), 1))
    # no failure at all in the baseline: half a failure (a continuity correction), not zero
    p0 = float(f"{min(max(p0, 0.5 / max(float(n[bm].sum()), 1.0), 1e-4), 0.95):.4g}")
    p1 = min(max(2 * p0, p0 + 0.05), (1 + p0) / 2)
    sizes = n[bm] if bm.any() else n[n > 0]
    if sizes.size == 0:
        sizes = np.ones(1)
    quantiles = np.quantile(sizes, (np.arange(SIZE_QUANTILES) + 0.5) / SIZE_QUANTILES)
    share_nonempty = float(bm.sum() / base.sum()) if base.sum() else 1.0
    arl0_nonempty = float(f"{max(arl0 * share_nonempty, 2.0):.4g}")
    phi = float(f"{_binomial_dispersion(n[bm], fails[bm], p0):.3g}")
    # the quasi-likelihood chart (increments / phi) runs like a binomial one on windows of n / phi requests
    nodes = tuple(float(max(1.0, round(q / phi))) for q in quantiles)
    h_bin = float(spc.binomial_cusum_h_for_arl(arl0_nonempty, p0=p0, p1=p1, n=nodes))
    return {"p0": p0, "p1": p1, "h": h_bin * phi, "h_binomial": h_bin, "dispersion": phi, "arl0": float(arl0),
            "arl0_nonempty": arl0_nonempty, "requests_per_window": float(n[base].sum() / max(base.sum(), 1)),
            "window_sizes": [int(x) for x in nodes]}


def _binomial_dispersion(n: np.ndarray, f: np.ndarray, p0: float) -> float:
    """Pearson's dispersion of the windows' failure counts when significant at 1%, else 1."""
    df = n.size - 1
    if df < 10 or float(np.mean(n)) * min(p0, 1 - p0) < 1.0:
        return 1.0  # too few windows, or too few expected failures a window for Pearson's chi-square
    x2 = float(np.sum((f - n * p0) ** 2 / (n * p0 * (1 - p0))))
    if not np.isfinite(x2) or x2 <= stats.chi2.ppf(0.99, df):
        return 1.0
    return x2 / df


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
