"""Baseline against current, per segment: the output gap (Q1) and "isolated or systematic?" (Q3).

Everything here works on per-period totals of the windowed aggregates (:mod:`analysis.investigation.series`):
for each ``(segment_column, segment)`` the number of requests ``n`` and, per metric, ``m__n``,
``m__sum`` (and ``m__sumsq`` for numeric metrics), summed over the windows of a period.

Q1 (:func:`compare_periods`) compares every metric in every segment between the baseline and the
current period: a two-proportion test with a Newcombe interval and Cohen's h for rates, Welch's t
test with a Welch-Satterthwaite interval and Cohen's d for means. :func:`error_confidence` splits
the errors of the current period by the output's confidence: errors made with high confidence point
to a model regression, errors made with low confidence to retrieval or context assembly.

Q3 (:func:`scan_segments`, :func:`scope_verdict`) is a sample scan: in each segment the failures of
the current period are tested against the segment's own baseline failure rate plus the tolerance of
the segment's risk tier, with an exact binomial test and a Clopper-Pearson interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis._common import check_alpha as _check_alpha
from analysis.stats.checks import check_alternative
from analysis.stats.compare import binomial_pvalue, welch_from_moments
from analysis.stats.drift import benjamini_hochberg, cohen_h, proportion_test
from analysis.engine import MISSING, DuckDBEngine, Engine, Metric, Where
from analysis.schema import SEGMENT_COLUMNS
from analysis.stats.intervals import clopper_pearson, wilson_interval
from analysis.stats.multitest import holm

__all__ = [
    "mix_expected_rates",
    "DEFAULT_RISK_THRESHOLDS",
    "PATTERN_RISK_THRESHOLDS",
    "DEFAULT_TIER",
    "VERDICTS",
    "clopper_pearson",
    "BinomialScanResult",
    "binomial_scan",
    "holm",
    "period_totals",
    "compare_periods",
    "error_confidence",
    "ErrorConfidence",
    "scan_segments",
    "scope_verdict",
    "affected_events",
    "Q1Result",
    "Q3Result",
    "FINDINGS_COLUMNS",
    "SCAN_COLUMNS",
    "check_risk_thresholds",
    "baseline_envelope",
    "drill_down",
]

#: Tolerated excess failure rate above the segment's own baseline, per risk tier. A segment whose
#: failure rate exceeds ``baseline + threshold`` (exact binomial test, Holm-adjusted) is a
#: systematic failure. 0.1% for high-risk (medical advice: one unsafe answer in a thousand is
#: already a pattern), 1% for medium, 5% for low-risk (creative writing) traffic.
DEFAULT_RISK_THRESHOLDS: dict[str, float] = {"high": 0.001, "medium": 0.01, "low": 0.05}
#: Per-pattern defaults (the real cases): a medical triage assistant uses the defaults; a legal RAG
#: assistant tolerates a little more noise on low-stakes look-ups; a support bot's escalation rate
#: swings by several points over a day, so its tiers are wider.
PATTERN_RISK_THRESHOLDS: dict[str, dict[str, float]] = {
    "refusal": {"high": 0.001, "medium": 0.01, "low": 0.05},
    "retrieval": {"high": 0.005, "medium": 0.02, "low": 0.05},
    "escalation": {"high": 0.02, "medium": 0.05, "low": 0.10},
}
#: Tier of a segment whose events carry no ``risk_category`` among the threshold's keys.
DEFAULT_TIER = "medium"
VERDICTS = ("systematic", "isolated", "no_incident")


def check_risk_thresholds(risk_thresholds: Mapping[str, float] | None) -> dict[str, float]:
    """Validate ``risk_thresholds`` (tier -> tolerated excess rate in [0, 1))."""
    if risk_thresholds is None:
        return dict(DEFAULT_RISK_THRESHOLDS)
    if not isinstance(risk_thresholds, Mapping) or not risk_thresholds:
        raise ValueError(f"`risk_thresholds` must be a non-empty mapping tier -> rate, got {risk_thresholds!r}")
    out: dict[str, float] = {}
    for tier, thr in risk_thresholds.items():
        try:
            v = float(thr)
        except (TypeError, ValueError):
            raise ValueError(f"`risk_thresholds[{tier!r}]` must be a number in [0, 1), got {thr!r}") from None
        if not 0.0 <= v < 1.0:
            raise ValueError(f"`risk_thresholds[{tier!r}]` must be in [0, 1), got {thr!r}")
        out[str(tier)] = v
    return out


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
# period totals from the windowed aggregates
# ----------------------------------------------------------------------------------------------


def period_totals(table: pd.DataFrame, start: Any = None, end: Any = None) -> pd.DataFrame:
    """Sum a windowed aggregate table over ``start <= window_start < end`` per segment.

    Parameters
    ----------
    table
        ``WindowedAggregates.table``: ``window_start``, ``segment_column``, ``segment``, ``n``
        and the ``<metric>__n``, ``<metric>__sum``, ``<metric>__sumsq`` columns.
    start, end
        Period bounds (UTC); None for open.

    Returns
    -------
    DataFrame
        One row per ``(segment_column, segment)``: ``n`` and the summed metric columns.
    """
    t = table
    mask = np.ones(len(t), dtype=bool)
    if start is not None:
        mask &= (t["window_start"] >= pd.Timestamp(start)).to_numpy()
    if end is not None:
        mask &= (t["window_start"] < pd.Timestamp(end)).to_numpy()
    num = [c for c in t.columns if c == "n" or "__" in c]
    sub = t.loc[mask, ["segment_column", "segment", *num]].copy()
    for c in num:
        sub[c] = pd.to_numeric(sub[c], errors="coerce").astype("float64")
    keys = t[["segment_column", "segment"]].drop_duplicates()
    out = sub.groupby(["segment_column", "segment"], sort=False, observed=True)[num].sum(min_count=0).reset_index()
    out = keys.merge(out, on=["segment_column", "segment"], how="left")
    out[num] = out[num].fillna(0.0)
    for c in ("segment_column", "segment"):
        out[c] = out[c].astype(str)
    return out.reset_index(drop=True)


# ----------------------------------------------------------------------------------------------
# Q1: baseline against current per metric and segment
# ----------------------------------------------------------------------------------------------

FINDINGS_COLUMNS = (
    "metric", "kind", "segment_column", "segment", "n_baseline", "n_current", "baseline", "current",
    "difference", "ci_low", "ci_high", "effect", "statistic", "pvalue", "p_adjusted", "significant", "test",
)


def compare_periods(
    baseline_totals: pd.DataFrame,
    current_totals: pd.DataFrame,
    metrics: Mapping[str, str],
    *,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Q1 findings: every metric in every segment, baseline period against current period.

    Parameters
    ----------
    baseline_totals, current_totals
        :func:`period_totals` of the two periods.
    metrics
        Metric name -> ``"rate"`` or ``"mean"`` (``WindowedAggregates.metrics``).
    alpha
        One minus the interval coverage; ``significant`` uses Benjamini-Hochberg adjusted
        p-values over all rows at this level.

    Returns
    -------
    DataFrame
        Columns :data:`FINDINGS_COLUMNS`; ``difference = current - baseline`` with its interval
        (Newcombe for rates, Welch-Satterthwaite for means); ``effect`` is Cohen's h (rates) or
        Cohen's d (means).

    Notes
    -----
    Rates use :func:`analysis.stats.drift.proportion_test` (two-proportion z test, Newcombe interval,
    Cohen's h). Means use Welch's t test from the sufficient statistics
    :math:`(n, \\sum x, \\sum x^2)`:
    :math:`t = (\\bar x_1 - \\bar x_0)/\\sqrt{s_0^2/n_0 + s_1^2/n_1}` with Welch-Satterthwaite
    degrees of freedom.
    """
    _check_alpha(alpha)
    merged = baseline_totals.merge(current_totals, on=["segment_column", "segment"], suffixes=("_b", "_c"), how="outer")
    merged = merged.fillna(0.0)
    rows: list[dict] = []
    for metric, kind in metrics.items():
        ncol = f"{metric}__n"
        if f"{ncol}_b" not in merged.columns:
            continue
        n0 = merged[f"{ncol}_b"].to_numpy(float)
        n1 = merged[f"{ncol}_c"].to_numpy(float)
        s0 = merged[f"{metric}__sum_b"].to_numpy(float)
        s1 = merged[f"{metric}__sum_c"].to_numpy(float)
        if kind == "rate":
            for i in range(len(merged)):
                base = dict(metric=metric, kind=kind, segment_column=merged["segment_column"].iat[i],
                            segment=merged["segment"].iat[i], n_baseline=n0[i], n_current=n1[i])
                if n0[i] < 1 or n1[i] < 1:
                    rows.append({**base, "baseline": s0[i] / n0[i] if n0[i] else np.nan,
                                 "current": s1[i] / n1[i] if n1[i] else np.nan, "test": "two-proportion z"})
                    continue
                r = proportion_test(int(s0[i]), int(n0[i]), int(s1[i]), int(n1[i]), alpha=alpha, alternative="two-sided")
                lo, hi = r.ci_difference  # Newcombe interval of current - baseline
                rows.append({**base, "baseline": r.rate_a, "current": r.rate_b,
                             "difference": r.difference, "ci_low": lo, "ci_high": hi,
                             "effect": r.effect,
                             "statistic": float(r.statistic), "pvalue": float(r.pvalue), "test": "two-proportion z"})
        else:
            ss0 = merged[f"{metric}__sumsq_b"].to_numpy(float)
            ss1 = merged[f"{metric}__sumsq_c"].to_numpy(float)
            m0, m1, t, p, lo, hi, d = welch_from_moments(n0, s0, ss0, n1, s1, ss1, alpha)
            for i in range(len(merged)):
                rows.append(dict(metric=metric, kind=kind, segment_column=merged["segment_column"].iat[i],
                                 segment=merged["segment"].iat[i], n_baseline=n0[i], n_current=n1[i],
                                 baseline=m0[i], current=m1[i], difference=m1[i] - m0[i], ci_low=lo[i], ci_high=hi[i],
                                 effect=d[i], statistic=t[i], pvalue=p[i], test="Welch t"))
    out = pd.DataFrame(rows, columns=[c for c in FINDINGS_COLUMNS if c not in ("p_adjusted", "significant")])
    for c in ("n_baseline", "n_current", "baseline", "current", "difference", "ci_low", "ci_high", "effect", "statistic", "pvalue"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    out["p_adjusted"] = benjamini_hochberg(out["pvalue"].to_numpy())
    out["significant"] = (out["p_adjusted"] < alpha).astype(bool)
    return out[list(FINDINGS_COLUMNS)]


# ----------------------------------------------------------------------------------------------
# error by confidence
# ----------------------------------------------------------------------------------------------

#: Confidence bands: [0, 0.5) low, [0.5, 0.8) medium, [0.8, 1] high.
CONFIDENCE_BANDS: tuple[tuple[str, float, float], ...] = (("low", 0.0, 0.5), ("medium", 0.5, 0.8), ("high", 0.8, 1.0000001))


@dataclass(frozen=True)
class ErrorConfidence:
    """Errors of a period split by the output's confidence.

    ``table`` has one row per band: ``band``, ``n``, ``errors``, ``error_rate``, ``ci_low``,
    ``ci_high`` (Wilson), ``share_of_errors``; ``interpretation`` is ``model_regression`` (most
    errors made with high confidence), ``retrieval_or_context`` (most errors made with low
    confidence), ``mixed`` or ``unknown`` (no confidence or no errors).
    """

    table: pd.DataFrame
    interpretation: str
    high_share: float
    low_share: float
    errors: int
    n: int
    error_definition: str
    statistic: float = float("nan")
    pvalue: float = float("nan")
    method: str = "chi-square test of independence, error x confidence band"

    def to_dict(self) -> dict[str, Any]:
        return {
            "interpretation": self.interpretation,
            "error_definition": self.error_definition,
            "errors": self.errors,
            "n": self.n,
            "high_confidence_share": _nan_none(self.high_share),
            "low_confidence_share": _nan_none(self.low_share),
            "statistic": _nan_none(self.statistic),
            "pvalue": _nan_none(self.pvalue),
            "bands": [
                {k: (_nan_none(v) if isinstance(v, float) else v) for k, v in rec.items()}
                for rec in self.table.to_dict("records")
            ],
        }


def _nan_none(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, (float, np.floating)):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    return v


def error_confidence(
    confidence: Any,
    error: Any,
    *,
    error_definition: str = "error",
    alpha: float = 0.05,
    dominance: float = 0.5,
    error_expr: str | None = None,
) -> ErrorConfidence:
    """Split errors by the output's confidence band.

    Parameters
    ----------
    confidence
        Confidence of each output in [0, 1] (NaN where unknown); or an
        :class:`analysis.engine.Engine`, counted there (``error`` is then a
        :class:`analysis.engine.Where` or None and ``error_expr`` the SQL of the error flag).
    error
        Boolean error flag per output (NA where unlabelled).
    error_definition
        Human-readable definition of the error flag, kept in the report.
    dominance
        Share of errors a band must hold to name the interpretation.

    Notes
    -----
    High-confidence errors mean the model produced a wrong answer while sure of it: its behaviour
    changed (model regression). Low-confidence errors mean it answered from poor context: retrieval
    or context assembly failed. The chi-square test of independence (error x band) says whether the
    error rate depends on the band at all.
    """
    _check_alpha(alpha)
    if isinstance(confidence, Engine):
        eng, where = confidence, error if isinstance(error, Where) else Where()
        if not isinstance(error_expr, str):
            raise ValueError("error_confidence on an engine needs `error_expr` (SQL of the error flag)")
        band = " ".join(f"WHEN confidence >= {lo!r} AND confidence < {hi!r} THEN '{b}'" for b, lo, hi in CONFIDENCE_BANDS)
        t = eng.totals(exprs={"band": f"CASE {band} ELSE NULL END"}, metrics={"e": Metric("rate", error_expr)},
                       where=where.and_(Where(expr=f"confidence IS NOT NULL AND ({error_expr}) IS NOT NULL"))).set_index("band")
        counts = [(b, int(t["n"].get(b, 0)), int(t["e__sum"].get(b, 0))) for b, _, _ in CONFIDENCE_BANDS]
    else:
        c = pd.to_numeric(pd.Series(confidence), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        e_ser = pd.Series(error).astype("boolean")
        ok = np.isfinite(c) & e_ser.notna().to_numpy()
        e = e_ser.fillna(False).to_numpy(dtype=bool)
        counts = []
        for band, lo, hi in CONFIDENCE_BANDS:
            m = ok & (c >= lo) & (c < hi)
            counts.append((band, int(m.sum()), int((m & e).sum())))
    rows = []
    for band, n, k in counts:
        wl, wh = wilson_interval(k, n, alpha)
        rows.append({"band": band, "n": n, "errors": k, "error_rate": k / n if n else np.nan,
                     "ci_low": float(wl), "ci_high": float(wh)})
    table = pd.DataFrame(rows)
    total_err = int(table["errors"].sum())
    table["share_of_errors"] = table["errors"] / total_err if total_err else np.nan
    n_all = int(table["n"].sum())
    if total_err == 0 or n_all == 0:
        return ErrorConfidence(table, "unknown", float("nan"), float("nan"), total_err, n_all, error_definition)
    high = float(table.loc[table["band"] == "high", "share_of_errors"].iat[0])
    low = float(table.loc[table["band"] == "low", "share_of_errors"].iat[0])
    if high >= dominance and high > low:
        interp = "model_regression"
    elif low >= dominance and low > high:
        interp = "retrieval_or_context"
    else:
        interp = "mixed"
    obs = np.array([table["errors"].to_numpy(), (table["n"] - table["errors"]).to_numpy()], dtype=float)
    obs = obs[:, obs.sum(axis=0) > 0]
    stat, pv = float("nan"), float("nan")
    if obs.shape[1] >= 2 and (obs.sum(axis=1) > 0).all():
        res = stats.chi2_contingency(obs, correction=False)
        stat, pv = float(res.statistic), float(res.pvalue)
    return ErrorConfidence(table, interp, high, low, total_err, n_all, error_definition, stat, pv)


# ----------------------------------------------------------------------------------------------
# Q3: the sample scan
# ----------------------------------------------------------------------------------------------

SCAN_COLUMNS = (
    "segment_column", "segment", "tier", "threshold", "n_baseline", "failures_baseline", "baseline_rate",
    "baseline_upper", "n_current", "failures_current", "current_rate", "ci_low", "ci_high", "null_rate",
    "excess", "excess_events", "effect", "pvalue", "p_adjusted", "pvalue_baseline", "p_adjusted_baseline", "status",
)


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
    t = table.copy()
    if "tier" not in t.columns:
        t["tier"] = default_tier
    t["tier"] = [x if isinstance(x, str) and x in thr else default_tier for x in t["tier"]]
    t["threshold"] = t["tier"].map(thr).astype(float)
    n0 = t["n_baseline"].to_numpy(float)
    k0 = t["failures_baseline"].to_numpy(float)
    n1 = t["n_current"].to_numpy(float)
    k1 = t["failures_current"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t["baseline_rate"] = np.where(n0 > 0, k0 / n0, np.nan)
        t["current_rate"] = np.where(n1 > 0, k1 / n1, np.nan)
    # one-sided upper limit = two-sided limit at 2 * alpha
    _, up = clopper_pearson(k0, n0, min(2 * alpha, 0.999))
    lo, hi = clopper_pearson(k1, n1, alpha)
    t["ci_low"], t["ci_high"] = lo, hi
    base = np.where(np.isfinite(up), up, 0.0)
    if "envelope" in t.columns:
        # what the baseline explains: also its own variation over stretches as long as the current period
        env = pd.to_numeric(t["envelope"], errors="coerce").to_numpy(float)
        base = np.where(np.isfinite(env), np.maximum(base, env), base)
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
            f"{top['failures_current']:.0f}/{top['n_current']:.0f} = {top['current_rate']:.4f} "
            f"against baseline {top['baseline_rate']:.4f} + {top['threshold']:.4f} ({top['tier']} tier), "
            f"Holm-adjusted p = {top['p_adjusted']:.2g}"
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


def _seg(row: Mapping[str, Any]) -> str:
    if row["segment_column"] == "__all__":
        return "all traffic"
    return f"{row['segment_column']}={row['segment']}"


def affected_events(
    events: pd.DataFrame,
    failure: Any,
    *,
    start: Any,
    end: Any,
    segments: Sequence[tuple[str, str]] = (),
    why: str = "",
    columns: Iterable[str] = (),
) -> pd.DataFrame:
    """The events to review by hand: failures in the current period within the given segments.

    Parameters
    ----------
    events
        Canonical events.
    failure
        Boolean failure flag aligned with ``events``.
    start, end
        The failure window ``[start, end]``.
    segments
        ``(segment_column, segment)`` pairs; an event is kept when it belongs to any of them
        (``("__all__", "__all__")`` or no pairs keep all traffic).
    why
        Reason text placed in the ``why`` column (the segment the event belongs to is prefixed).
    columns
        Extra columns to carry (segment columns are always carried when present).

    Returns
    -------
    DataFrame
        ``event_id``, ``ts``, the segment columns, ``input_text``, ``output_text``, ``why``.
    """
    f = pd.Series(failure, index=events.index).astype("boolean").fillna(False).to_numpy(dtype=bool)
    ts = events["ts"]
    m = f & (ts >= pd.Timestamp(start)).to_numpy() & (ts <= pd.Timestamp(end)).to_numpy()
    member = np.zeros(len(events), dtype=bool)
    labels = np.array([""] * len(events), dtype=object)
    segs = [s for s in segments if s[0] != "__all__"]
    if not segs:
        member[:] = True
        labels[:] = "all traffic"
    for col, val in segs:
        if col not in events.columns:
            continue
        hit = (events[col].astype("string") == val).fillna(False).to_numpy(dtype=bool)
        new = hit & ~member
        labels[new] = f"{col}={val}"
        member |= hit
    keep = m & member
    seg_cols = [c for c in SEGMENT_COLUMNS if c in events.columns]
    extra = [c for c in columns if c in events.columns and c not in seg_cols]
    cols = ["event_id", "ts", *seg_cols, *extra, *[c for c in ("input_text", "output_text") if c in events.columns]]
    out = events.loc[keep, cols].copy()
    out["why"] = [f"{lab}: {why}" if why else lab for lab in labels[keep]]
    for c in ("input_text", "output_text"):
        if c not in out.columns:
            out[c] = pd.Series(pd.NA, index=out.index, dtype="string[pyarrow]")
    out["why"] = out["why"].astype("string[pyarrow]")
    return out.sort_values("ts", kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Q1Result:
    """Q1: what was the output, and what should it have been?

    ``findings`` (:data:`FINDINGS_COLUMNS`), the periods compared, the error-by-confidence split.
    """

    findings: pd.DataFrame
    baseline: tuple[pd.Timestamp, pd.Timestamp]
    current: tuple[pd.Timestamp, pd.Timestamp]
    error_confidence: ErrorConfidence | None
    metrics: dict[str, str] = field(default_factory=dict)
    derived_metrics: tuple[str, ...] = ()
    alpha: float = 0.05


@dataclass(frozen=True)
class Q3Result:
    """Q3: isolated or systematic?

    ``segments`` is the :func:`scan_segments` table; ``affected_events`` the events to review
    (the first ones when there are many: ``affected_total`` counts them all and
    ``affected_file`` holds them all, as Parquet); ``affected_share`` their share of all requests
    in the failure window.
    """

    verdict: str
    reason: str
    segments: pd.DataFrame
    affected_events: pd.DataFrame
    affected_share: float
    failure_definition: str
    risk_thresholds: dict[str, float]
    window: tuple[pd.Timestamp, pd.Timestamp]
    alpha: float = 0.05
    affected_total: int | None = None
    affected_file: str | None = None
    mix_shift: dict[str, Any] | None = None

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


def drill_down(
    events: Any,
    failure: Any,
    *,
    start_segment: tuple[str, str],
    current: tuple[Any, Any],
    baseline: tuple[Any, Any],
    columns: Sequence[str],
    alpha: float = 0.05,
    keep_excess: float = 0.9,
    where: Where | None = None,
) -> tuple[dict[str, list[str]], Any, list[str]]:
    """Narrow a systematic segment to the slice that holds its excess failures.

    Starting from ``start_segment``, for each other column in turn, keep only the values whose
    current failure count exceeds their baseline rate significantly (exact binomial, Holm
    within the column, against the value's own baseline rate inside the slice) -- when those
    values hold at least ``keep_excess`` of the slice's excess failures. A value with fewer than
    20 baseline requests in the slice is compared with the slice's baseline rate.

    Parameters
    ----------
    events, failure
        A canonical events table and its boolean failure flag (one per row); or an
        :class:`analysis.engine.Engine` and the failure as SQL (``"NOT refused"``) or a
        :class:`analysis.engine.Metric`.
    where
        (Engine only) a filter every count is taken within, e.g. the events before the report.

    Returns
    -------
    (conditions, mask_or_filter, notes)
        ``{column: [values]}`` (the start segment included); for a table, the boolean mask of its
        events in the slice, for an engine the slice as a :class:`analysis.engine.Where`; and one
        note per refinement.
    """
    if isinstance(events, Engine):
        return _drill_down(events, failure, start_segment=start_segment, current=current, baseline=baseline, columns=columns,
                           alpha=alpha, keep_excess=keep_excess, where=where)
    f = pd.Series(failure, index=events.index).astype("boolean")
    frame = events.assign(__failure=f.to_numpy())
    with DuckDBEngine(frame) as eng:
        conds, _, notes = _drill_down(eng, Metric("rate", '"__failure"'), start_segment=start_segment, current=current,
                                      baseline=baseline, columns=columns, alpha=alpha, keep_excess=keep_excess)
    mask = np.ones(len(events), dtype=bool)
    for col, vals in conds.items():
        mask &= events[col].astype("string").fillna(MISSING).isin(vals).to_numpy(dtype=bool)
    return conds, mask, notes


def _drill_down(eng: Engine, failure: Any, *, start_segment: tuple[str, str], current: tuple[Any, Any], baseline: tuple[Any, Any],
                columns: Sequence[str], alpha: float, keep_excess: float, where: Where | None = None
                ) -> tuple[dict[str, list[str]], Where, list[str]]:
    fm = {"f": failure if isinstance(failure, Metric) else Metric("rate", str(failure))}
    cur = Where.of(current[0], current[1], end_inclusive=True).and_(where)
    base = Where.of(baseline[0], baseline[1]).and_(where)
    col0, val0 = start_segment
    conds: dict[str, list[str]] = {}
    if col0 != "__all__" and eng.has(col0):
        conds[col0] = [val0]
    notes: list[str] = []

    def slice_(w: Where) -> Where:
        return w.and_(Where.of(conditions=conds))

    tb = eng.totals(metrics=fm, where=slice_(base))
    nb, kb = int(tb["f__n"].sum()), int(tb["f__sum"].sum())
    if nb:
        p_slice = kb / nb
    else:
        ta = eng.totals(metrics=fm, where=base)
        p_slice = float(ta["f__sum"].sum() / ta["f__n"].sum()) if int(ta["f__n"].sum()) else 0.0
    for col in columns:
        if col in conds or not eng.has(col):
            continue
        tc = eng.totals(by=[col], metrics=fm, where=slice_(cur))
        tc = tc[tc["f__n"] > 0]
        if int(tc["f__n"].sum()) == 0:
            break
        # the values in the order they first appear in the failure window
        tc = tc.sort_values(["first_seen", col], kind="stable")
        t0 = eng.totals(by=[col], metrics=fm, where=slice_(base)).set_index(col)
        stats_rows = []
        for v, n1, k1 in tc[[col, "f__n", "f__sum"]].itertuples(index=False):
            n0 = int(t0["f__n"].get(v, 0))
            k0 = int(t0["f__sum"].get(v, 0))
            p0 = k0 / n0 if n0 >= 20 else p_slice
            stats_rows.append((v, int(n1), int(k1), p0, int(k1) - int(n1) * p0))
        if len(stats_rows) < 2:
            continue
        pv = binomial_pvalue(np.array([r[2] for r in stats_rows]), np.array([r[1] for r in stats_rows]),
                           np.array([r[3] for r in stats_rows]), "greater")
        adj = holm(pv)
        excess = np.array([max(r[4], 0.0) for r in stats_rows])
        total = excess.sum()
        keep = [r[0] for r, a in zip(stats_rows, adj) if a < alpha and r[4] > 0]
        if not keep or total <= 0 or len(keep) == len(stats_rows):
            continue
        kept = sum(max(r[4], 0.0) for r in stats_rows if r[0] in keep)
        if kept >= keep_excess * total:
            conds[col] = [str(k) for k in keep]
            notes.append(f"{col} in {keep} holds {kept / total:.0%} of the excess failures")
    return conds, Where.of(conditions=conds), notes
