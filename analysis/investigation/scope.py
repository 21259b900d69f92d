"""Q3's statistics, "isolated or systematic?": a sample scan (:func:`scan_segments`,
:func:`scope_verdict`). In each segment the failures of the current period are tested against the
segment's own baseline failure rate plus the tolerance of the segment's risk tier
(:data:`analysis.params.DEFAULT_RISK_THRESHOLDS`), with an exact binomial test and a
Clopper-Pearson interval; the baseline's envelope (:func:`baseline_envelope`) and the mix-adjusted
expected rates (:func:`mix_expected_rates`) say what the baseline explains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from analysis import numbers as num
from analysis._common import check_alpha as _check_alpha
from analysis.params import DEFAULT_TIER, check_risk_thresholds
from analysis.stats.checks import check_alternative
from analysis.stats.compare import binomial_pvalue
from analysis.stats.drift import cohen_h
from analysis.stats.intervals import clopper_pearson
from analysis.stats.multitest import holm

__all__ = ["VERDICTS", "BinomialScanResult", "binomial_scan", "SCAN_COLUMNS", "scan_segments", "mix_expected_rates", "scope_verdict", "Q3Result", "baseline_envelope"]




#: ``too_few_data``: the onset could not be searched (too few non-empty windows), so no failure window is scoped.
VERDICTS = ("systematic", "isolated", "no_incident", "too_few_data")


# ----------------------------------------------------------------------------------------------
# exact binomial machinery
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BinomialScanResult:
    """An exact binomial test of a failure count against a baseline rate plus a tolerance.

    Attributes
    ----------
    statistic
        The failure count :math:`k`.
    pvalue
        Exact binomial p-value of :math:`H_0: p \\le p_0` (``alternative="greater"``).
    n, rate
        Sample size and observed failure rate :math:`k/n`.
    baseline_rate, threshold, null_rate
        :math:`p_0 = \\min(1, \\text{baseline\\_rate} + \\text{threshold})`.
    ci_low, ci_high
        Clopper-Pearson interval of the rate at level ``1 - alpha``.
    effect
        Cohen's h of the observed rate against the null rate.
    """

    statistic: int
    pvalue: float
    n: int
    rate: float
    baseline_rate: float
    threshold: float
    null_rate: float
    ci_low: float
    ci_high: float
    effect: float
    alpha: float
    alternative: str
    method: str = "exact binomial test, Clopper-Pearson interval"

    @property
    def excess(self) -> float:
        """Observed rate minus the baseline rate."""
        return self.rate - self.baseline_rate

    @property
    def excess_events(self) -> float:
        """Failures beyond what the null rate explains: :math:`k - n p_0`."""
        return self.statistic - self.n * self.null_rate


def binomial_scan(
    successes: int,
    n: int,
    baseline_rate: float,
    *,
    threshold: float = 0.0,
    alpha: float = 0.05,
    alternative: str = "greater",
) -> BinomialScanResult:
    """Exact binomial test of ``successes`` failures in ``n`` against ``baseline_rate + threshold``.

    Parameters
    ----------
    successes, n
        Failures and sample size in the current period.
    baseline_rate
        The segment's failure rate in the baseline period.
    threshold
        Tolerated excess rate of the segment's risk tier (e.g. 0.001 for medical advice).
    alpha
        One minus the coverage of the Clopper-Pearson interval.
    alternative
        ``"greater"`` (default: more failures than the baseline explains), ``"less"``, ``"two-sided"``.

    Notes
    -----
    :math:`p_0 = \\min(1, \\pi_0 + \\tau)` and, for ``"greater"``,
    :math:`p = P(X \\ge k) = \\sum_{j \\ge k} \\binom{n}{j} p_0^j (1-p_0)^{n-j}`.

    References
    ----------
    Same p-value as ``scipy.stats.binomtest(k, n, p0, alternative=...)``; interval as
    ``statsmodels.stats.proportion.proportion_confint(k, n, alpha, method="beta")``.
    """
    _check_alpha(alpha)
    check_alternative(alternative)
    k, nn = int(successes), int(n)
    if nn < 0 or k < 0 or k > nn:
        raise ValueError(f"`successes` must be in [0, n], got successes={successes!r}, n={n!r}")
    if not 0.0 <= baseline_rate <= 1.0:
        raise ValueError(f"`baseline_rate` must be in [0, 1], got {baseline_rate!r}")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"`threshold` must be in [0, 1), got {threshold!r}")
    p0 = min(1.0, baseline_rate + threshold)
    pv = float(binomial_pvalue(np.array([k]), np.array([nn]), np.array([p0]), alternative)[0])
    lo, hi = clopper_pearson(k, nn, alpha)
    rate = k / nn if nn else float("nan")
    return BinomialScanResult(
        statistic=k,
        pvalue=pv,
        n=nn,
        rate=rate,
        baseline_rate=float(baseline_rate),
        threshold=float(threshold),
        null_rate=p0,
        ci_low=float(lo),
        ci_high=float(hi),
        effect=float(cohen_h(p0, rate)) if nn else float("nan"),
        alpha=alpha,
        alternative=alternative,
    )


# ----------------------------------------------------------------------------------------------
# Q3: the sample scan
# ----------------------------------------------------------------------------------------------

SCAN_COLUMNS = (
    "segment_column", "segment", "tier", "threshold", "n_baseline", "failures_baseline", "baseline_rate",
    "baseline_upper", "n_current", "failures_current", "current_rate", "ci_low", "ci_high", "null_rate",
    "excess", "excess_events", "effect", "pvalue", "p_adjusted", "pvalue_baseline", "p_adjusted_baseline", "status",
)


def _with_tiers(table: pd.DataFrame, thr: Mapping[str, float], default_tier: str) -> pd.DataFrame:
    """The scan's table with each segment's tier (unknown tiers: ``default_tier``) and tolerance."""
    t = table.copy()
    if "tier" not in t.columns:
        t["tier"] = default_tier
    t["tier"] = [x if isinstance(x, str) and x in thr else default_tier for x in t["tier"]]
    t["threshold"] = t["tier"].map(thr).astype(float)
    return t


def _baseline_upper(t: pd.DataFrame, alpha: float) -> np.ndarray:
    """Sets the rates and the current period's Clopper-Pearson interval on ``t``; returns what the
    baseline explains: its one-sided upper limit (the two-sided limit at ``2 alpha``), or the
    baseline's own variation over stretches as long as the current period (``envelope``) when larger."""
    n0, k0 = t["n_baseline"].to_numpy(float), t["failures_baseline"].to_numpy(float)
    n1, k1 = t["n_current"].to_numpy(float), t["failures_current"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t["baseline_rate"] = np.where(n0 > 0, k0 / n0, np.nan)
        t["current_rate"] = np.where(n1 > 0, k1 / n1, np.nan)
    _, up = clopper_pearson(k0, n0, min(2 * alpha, 0.999))
    t["ci_low"], t["ci_high"] = clopper_pearson(k1, n1, alpha)
    base = np.where(np.isfinite(up), up, 0.0)
    if "envelope" in t.columns:
        env = pd.to_numeric(t["envelope"], errors="coerce").to_numpy(float)
        base = np.where(np.isfinite(env), np.maximum(base, env), base)
    return base


def scan_segments(
    table: pd.DataFrame,
    *,
    risk_thresholds: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    default_tier: str = DEFAULT_TIER,
    min_excess_events: float = 3.0,
) -> pd.DataFrame:
    """Exact binomial scan of the current failures against each segment's baseline.

    Parameters
    ----------
    table
        One row per segment: ``segment_column``, ``segment``, ``n_baseline``,
        ``failures_baseline``, ``n_current``, ``failures_current`` and optionally ``tier``,
        ``envelope`` (:func:`baseline_envelope`: the baseline's own variation) and
        ``baseline_source`` (kept as is: where the baseline counts came from).
    risk_thresholds
        Tier -> tolerated excess rate (default :data:`DEFAULT_RISK_THRESHOLDS`).
    alpha
        Family-wise error rate (Holm over the segments) and the interval level.
    default_tier
        Tier of segments with no or an unknown ``tier``.
    min_excess_events
        A segment is only called ``systematic`` when it has at least this many failures beyond
        the null rate: a rate shift is made of more than one or two unlucky requests.

    Returns
    -------
    DataFrame
        Columns :data:`SCAN_COLUMNS`. ``status`` is ``systematic`` (failure rate significantly
        above baseline + the tier's tolerance), ``elevated`` (significantly above the baseline,
        within the tolerance), or ``ok``.

    Notes
    -----
    The baseline rate is itself an estimate: the null rate uses its one-sided upper
    Clopper-Pearson limit :math:`\\pi_0^+` (level ``1 - alpha``), so that a short or quiet baseline
    does not turn noise into an incident; with an ``envelope`` :math:`e` the null uses
    :math:`\\max(\\pi_0^+, e)`:

    .. math:: H_0: p \\le \\min(1, \\pi_0^+ + \\tau_{tier}), \\qquad
              p\\text{-value} = P(X \\ge k \\mid n, \\pi_0^+ + \\tau_{tier}).

    The p-values are Holm-adjusted over the segments (family-wise error ``alpha``).
    """
    _check_alpha(alpha)
    thr = check_risk_thresholds(risk_thresholds)
    if default_tier not in thr:
        raise ValueError(f"`default_tier` must be one of the tiers {sorted(thr)}, got {default_tier!r}")
    t = _with_tiers(table, thr, default_tier)
    n0 = t["n_baseline"].to_numpy(float)
    n1, k1 = t["n_current"].to_numpy(float), t["failures_current"].to_numpy(float)
    base = _baseline_upper(t, alpha)
    t["baseline_upper"] = base
    null = np.minimum(1.0, base + t["threshold"].to_numpy(float))
    valid = (n0 > 0) & (n1 > 0)
    t["null_rate"] = np.where(valid, null, np.nan)
    t["excess"] = t["current_rate"] - t["baseline_rate"]
    t["excess_events"] = np.where(valid, k1 - n1 * null, np.nan)
    t["effect"] = np.where(valid, cohen_h(null, t["current_rate"].fillna(0)), np.nan)
    t["pvalue"] = np.where(valid, binomial_pvalue(k1, n1, null, "greater"), np.nan)
    t["pvalue_baseline"] = np.where(valid, binomial_pvalue(k1, n1, np.minimum(1.0, base), "greater"), np.nan)
    t["p_adjusted"] = holm(t["pvalue"].to_numpy())
    t["p_adjusted_baseline"] = holm(t["pvalue_baseline"].to_numpy())
    sys_ = (t["p_adjusted"] < alpha) & (t["excess_events"] >= min_excess_events)
    elev = ~sys_ & (t["p_adjusted_baseline"] < alpha) & (k1 - n1 * base >= 1)
    t["status"] = np.where(sys_, "systematic", np.where(elev, "elevated", "ok"))
    for c in ("n_baseline", "failures_baseline", "n_current", "failures_current"):
        t[c] = t[c].astype("float64")
    extra = [c for c in ("baseline_source",) if c in t.columns]
    return t[[*SCAN_COLUMNS, *extra]].reset_index(drop=True)


def mix_expected_rates(baseline: pd.DataFrame, current: pd.DataFrame, *, min_n: float = 20.0) -> pd.DataFrame:
    """Indirect standardisation: each segment's failure rate in the current period had every cell of
    the mix column kept its baseline rate (the change the traffic mix alone explains).

    Parameters
    ----------
    baseline, current
        Failure counts per segment and mix cell: ``segment_column``, ``segment``, ``cell``, ``n``,
        ``failures``. The ``__all__`` segment's rows give each cell's rate over all traffic.
    min_n
        A (segment, cell) baseline rate is used when it rests on at least this many requests; else
        the cell's rate over all traffic, else the segment's own baseline rate, else all traffic's.

    Returns
    -------
    DataFrame
        ``segment_column``, ``segment``, ``n_current``, ``expected_failures``, ``expected_rate``
        (:math:`\\sum_k n^{cur}_{s,k}\\, r^{base}_{s,k} / n^{cur}_s`).
    """
    key = ["segment_column", "segment"]
    b = baseline.copy()
    b["rate"] = b["failures"] / b["n"].where(b["n"] > 0)
    cell_all = b[b["segment_column"] == "__all__"].set_index("cell")
    seg_tot = b.groupby(key)[["n", "failures"]].sum()
    seg_rate = (seg_tot["failures"] / seg_tot["n"].where(seg_tot["n"] > 0)).rename("seg_rate")
    all_tot = seg_tot.loc[("__all__", "__all__")] if ("__all__", "__all__") in seg_tot.index else seg_tot.sum()
    overall = float(all_tot["failures"] / all_tot["n"]) if float(all_tot["n"]) > 0 else 0.0
    c = current.merge(b[[*key, "cell", "n", "rate"]].rename(columns={"n": "n_base"}), on=[*key, "cell"], how="left")
    c = c.merge(seg_rate.reset_index(), on=key, how="left")
    own = np.where(c["n_base"].fillna(0).to_numpy(float) >= min_n, c["rate"].to_numpy(float), np.nan)
    cell_n = c["cell"].map(cell_all["n"]).fillna(0).to_numpy(float)
    cell_r = np.where(cell_n >= min_n, c["cell"].map(cell_all["rate"]).to_numpy(float), np.nan)
    seg_r = c["seg_rate"].to_numpy(float)
    r = np.where(np.isfinite(own), own, np.where(np.isfinite(cell_r), cell_r, np.where(np.isfinite(seg_r), seg_r, overall)))
    c["expected_failures"] = c["n"].to_numpy(float) * r
    out = c.groupby(key, as_index=False).agg(n_current=("n", "sum"), expected_failures=("expected_failures", "sum"))
    out["expected_rate"] = out["expected_failures"] / out["n_current"].where(out["n_current"] > 0)
    return out


def _seg(row: Mapping[str, Any]) -> str:
    if row["segment_column"] == "__all__":
        return "all traffic"
    return f"{row['segment_column']}={row['segment']}"


def scope_verdict(scan: pd.DataFrame, *, max_isolated: float = 10.0) -> tuple[str, str]:
    """``(verdict, reason)`` from a :func:`scan_segments` table.

    * ``systematic``: some segment's failure rate exceeds its baseline plus its tier's tolerance;
    * ``isolated``: failures exceed the baseline somewhere, within every tolerance, and they are
      few -- at most ``max_isolated`` beyond what the baseline explains (a handful of unsafe
      answers, not a rate shift);
    * ``no_incident``: nothing moved beyond what the baseline explains, or a rate moved but stayed
      within its tier's tolerance (traffic moving between segments, not failures).
    """
    if len(scan) == 0:
        return "no_incident", "no segment had data in both periods"
    sys_ = scan[scan["status"] == "systematic"]
    if len(sys_):
        top = sys_.sort_values("p_adjusted").iloc[0]
        return "systematic", (
            f"{len(sys_)} segment(s) above baseline + tier tolerance; strongest {_seg(top)}: "
            f"{num.count(top['failures_current'])}/{num.count(top['n_current'])} = {num.rate(top['current_rate'])} "
            f"against baseline {num.rate(top['baseline_rate'])} + {num.rate(top['threshold'])} ({top['tier']} tier), "
            f"Holm-adjusted {num.p_clause(top['p_adjusted'])}"
        )
    el = scan[scan["status"] == "elevated"]
    if len(el):
        beyond = el["failures_current"] - el["n_current"] * el["baseline_upper"]
        few = beyond <= max_isolated
        if few.any():
            top = el[few].sort_values("p_adjusted_baseline").iloc[0]
            return "isolated", (
                f"a few failures above the baseline in {int(few.sum())} segment(s), within every tier tolerance; strongest "
                f"{_seg(top)}: {top['failures_current']:.0f}/{top['n_current']:.0f} against baseline "
                f"{top['baseline_rate']:.4f} (tolerance {top['threshold']:.4f})"
            )
        top = el.sort_values("p_adjusted_baseline").iloc[0]
        return "no_incident", (
            f"the failure rate moved in {len(el)} segment(s) but stayed within the tier tolerances (strongest {_seg(top)}: "
            f"{top['current_rate']:.4f} against baseline {top['baseline_rate']:.4f}, tolerance {top['threshold']:.4f})"
        )
    return "no_incident", "no segment's failure rate moved beyond what its baseline explains"




@dataclass(frozen=True)
class Q3Result:
    """Q3: isolated or systematic?

    ``segments`` is the :func:`scan_segments` table; ``affected_events`` the events to review
    (the first ones when there are many: ``affected_total`` counts them all and
    ``affected_file`` holds them all, as Parquet); ``affected_share`` their share of all requests
    in the failure window; ``period`` is the failure window itself (start, end).
    """

    verdict: str
    reason: str
    segments: pd.DataFrame
    affected_events: pd.DataFrame
    affected_share: float
    failure_definition: str
    risk_thresholds: dict[str, float]
    period: tuple[pd.Timestamp, pd.Timestamp]
    alpha: float = 0.05
    affected_total: int | None = None
    affected_file: str | None = None
    mix_shift: dict[str, Any] | None = None
    signatures: Any = None

    @property
    def n_affected(self) -> int:
        """How many events are affected (all of them, not only those kept in memory)."""
        return int(self.affected_total) if self.affected_total is not None else int(len(self.affected_events))


# ----------------------------------------------------------------------------------------------
# what the baseline explains, and the drill-down to the affected slice
# ----------------------------------------------------------------------------------------------


def baseline_envelope(
    table: pd.DataFrame,
    *,
    metric: str,
    baseline: tuple[Any, Any],
    length: int,
    quantile: float = 0.95,
    min_windows: int = 3,
) -> pd.DataFrame:
    """The highest failure rate the baseline itself shows over stretches as long as the current period.

    Parameters
    ----------
    table
        ``WindowedAggregates.table`` holding ``<metric>__n`` and ``<metric>__sum``.
    metric
        The failure flag (a rate metric).
    baseline
        ``(start, end)`` of the baseline period.
    length
        Length of the current period in windows.
    quantile
        Quantile of the rolling rates taken as "what the baseline explains".

    Returns
    -------
    DataFrame
        ``segment_column``, ``segment``, ``envelope`` (NaN where the baseline is shorter than
        ``min_windows`` stretches).

    Notes
    -----
    Real traffic varies from day to day more than binomial sampling allows (a support bot's
    escalation rate moves between 8 and 12% with the day's mix). The rate of every stretch of
    ``length`` consecutive baseline windows is computed (count-weighted); its ``quantile`` is the
    level the current period must clear before its failures count as unexplained.
    """
    b0, b1 = pd.Timestamp(baseline[0]), pd.Timestamp(baseline[1])
    t = table[(table["window_start"] >= b0) & (table["window_start"] < b1)]
    L = max(int(length), 1)
    rows = []
    for (col, seg), g in t.groupby(["segment_column", "segment"], sort=False, observed=True):
        g = g.sort_values("window_start")
        n = pd.to_numeric(g[f"{metric}__n"], errors="coerce").fillna(0).to_numpy(float)
        k = pd.to_numeric(g[f"{metric}__sum"], errors="coerce").fillna(0).to_numpy(float)
        env = np.nan
        if n.size >= L + min_windows - 1:
            cn = np.convolve(n, np.ones(L), mode="valid")
            ck = np.convolve(k, np.ones(L), mode="valid")
            ok = cn > 0
            if ok.sum() >= min_windows:
                env = float(np.quantile(ck[ok] / cn[ok], quantile))
        rows.append({"segment_column": str(col), "segment": str(seg), "envelope": env})
    return pd.DataFrame(rows, columns=["segment_column", "segment", "envelope"])


