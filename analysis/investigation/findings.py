"""Q1's statistics: per-period totals of the windowed aggregates, and every metric in every segment
compared between the baseline and the current period (:func:`compare_periods`: a two-proportion test
with a Newcombe interval and Cohen's h for rates, Welch's t test with a Welch-Satterthwaite interval
and Cohen's d for means). :func:`error_confidence` splits the errors of the current period by the
output's confidence: errors made with high confidence point to a model regression, errors made with
low confidence to retrieval or context assembly.

It works on per-period totals (:func:`period_totals`): for each ``(segment_column, segment)`` the
number of requests ``n`` and, per metric, ``m__n``, ``m__sum`` (and ``m__sumsq`` for numeric
metrics), summed over the windows of a period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from analysis._common import check_alpha as _check_alpha
from analysis.stats.compare import welch_from_moments
from analysis.stats.drift import benjamini_hochberg, proportion_test
from analysis.engine import Engine, Metric, Where
from analysis.stats.intervals import wilson_interval

__all__ = ["period_totals", "FINDINGS_COLUMNS", "compare_periods", "CONFIDENCE_BANDS", "ErrorConfidence", "error_confidence", "Q1Result"]




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

