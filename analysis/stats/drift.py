"""Two-sample drift tests and distances, with effect sizes beside the p-values.

"What changed?" is often the traffic itself: a new query mix, a new traffic source, a shift in the
classifier's confidence. This module compares a *reference* sample with a *current* one:

==========================  ==========================  ===========================================
function                    data                        statistic / effect
==========================  ==========================  ===========================================
:func:`ks_test`             numeric                     KS ``D``, p-value / Wasserstein per spread
:func:`chi_square_test`     categorical (or counts)     Pearson chi-square / Cramér's V
:func:`proportion_test`     two rates                   pooled z and Fisher exact / Cohen's h
:func:`psi`                 numeric or categorical      population stability index
:func:`jensen_shannon`      numeric or categorical      Jensen-Shannon distance (base 2)
:func:`wasserstein`         numeric                     earth mover's distance / reference spread
:func:`embedding_drift`     vectors (embeddings)        MMD^2 (RBF), permutation p-value
==========================  ==========================  ===========================================

:func:`drift_table` runs the fitting test on every column of two frames and adjusts the p-values
with Benjamini-Hochberg; :func:`drift_scan` runs one test per time window against a reference
period. On large samples every trivial difference is significant, so both call a column *drifted*
only when the adjusted p-value is at most ``alpha`` **and** the effect reaches a per-test threshold
(:data:`DEFAULT_EFFECT_THRESHOLDS`). All effects used for that decision are free of the sample
sizes and of their ratio, so a long reference period against a short window is judged the same way
as two equal samples.

Missing values (``NaN``, ``None``, ``pd.NA``) are dropped before testing and the sample sizes
reported are those after dropping. An input that is empty after dropping raises ``ValueError``
naming the parameter.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import ArrayLike
from scipy import stats

from analysis._common import check_alpha as _check_alpha
from analysis._common import check_duration
from analysis.stats.intervals import newcombe_interval, wilson_interval

__all__ = [
    "DEFAULT_EFFECT_THRESHOLDS",
    "PSI_EPSILON",
    "KS_EXACT_MAX_N",
    "MAX_CATEGORIES",
    "MERGED_LABEL",
    "KSResult",
    "ChiSquareResult",
    "PSIResult",
    "DistanceResult",
    "ProportionResult",
    "EmbeddingDriftResult",
    "DriftScanResult",
    "ks_test",
    "chi_square_test",
    "psi",
    "jensen_shannon",
    "wasserstein",
    "proportion_test",
    "benjamini_hochberg",
    "cohen_h",
    "embedding_drift",
    "drift_table",
    "drift_scan",
]

#: Effect a column must reach (besides a BH-adjusted p-value <= alpha) to count as drifted.
#: Keys are the ``test`` names used by :func:`drift_table` and :func:`drift_scan`.
#:
#: * ``ks``: Wasserstein distance in units of the reference's robust spread; 0.1 is a tenth of
#:   a standard deviation (a 0.5-sigma shift scores 0.5).
#: * ``chi-square``: Cramér's V of the two share vectors (weighted equally, see
#:   :func:`chi_square_test`); a 10-point shift of one category's share scores at least 0.1.
#: * ``proportion``: absolute Cohen's h; 10% -> 15% scores 0.152, a doubling of a 0.1% rate 0.026.
#:   Rates are the kit's first-class metrics, so this cut-off is low on purpose.
#: * ``mmd``: 0. The permutation test runs on at most ``max_sample`` rows a side, which bounds its
#:   power: significance alone decides.
#: * ``psi``, ``jensen-shannon``, ``wasserstein`` (distances without a p-value, only in
#:   :func:`drift_scan`): 0.1, the common "moderate shift" cut-off for PSI.
DEFAULT_EFFECT_THRESHOLDS: Mapping[str, float] = {
    "ks": 0.1,
    "chi-square": 0.05,
    "proportion": 0.02,
    "mmd": 0.0,
    "psi": 0.1,
    "jensen-shannon": 0.1,
    "wasserstein": 0.1,
}

#: Shares below this are raised to it before PSI takes logarithms (empty bins stay finite).
PSI_EPSILON = 1e-4

#: Like scipy's ``ks_2samp(method="auto")``: exact p-values up to this sample size, asymptotic above.
KS_EXACT_MAX_N = 10_000

#: :func:`drift_table` with ``columns=None`` skips string columns with more distinct values than
#: this (identifiers and free text); name a column explicitly to test it anyway.
MAX_CATEGORIES = 200

#: Label of the cell into which :func:`chi_square_test` merges sparse categories.
MERGED_LABEL = "(other)"

_IQR_TO_SIGMA = 2 * stats.norm.ppf(0.75)  # 1.3489795...: IQR of a standard normal
_ALTERNATIVES = ("two-sided", "less", "greater")
_SCAN_TESTS = ("auto", "ks", "chi-square", "proportion", "psi", "jensen-shannon", "wasserstein")


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KSResult:
    """Two-sample Kolmogorov-Smirnov test (see :func:`ks_test`)."""

    statistic: float
    pvalue: float
    method: str
    alternative: str
    n_reference: int
    n_current: int
    effect: float
    effect_name: str = "wasserstein/spread"
    statistic_location: float = math.nan
    statistic_sign: int = 1


@dataclass(frozen=True)
class ChiSquareResult:
    """Pearson chi-square test of homogeneity on a 2 x k table (see :func:`chi_square_test`)."""

    statistic: float
    pvalue: float
    dof: int
    method: str
    effect: float
    cramers_v: float
    categories: tuple[Any, ...]
    merged: tuple[Any, ...]
    note: str
    counts_reference: tuple[int, ...]
    counts_current: tuple[int, ...]
    n_reference: int
    n_current: int
    min_expected: float
    effect_name: str = "cramers_v_balanced"

    def shares(self) -> pd.DataFrame:
        """Reference and current share of each tested cell (merged bucket last)."""
        ref = np.asarray(self.counts_reference, float)
        cur = np.asarray(self.counts_current, float)
        return pd.DataFrame(
            {"reference": ref / ref.sum(), "current": cur / cur.sum()},
            index=pd.Index(list(self.categories), name="category"),
        )


@dataclass(frozen=True)
class PSIResult:
    """Population stability index (see :func:`psi`)."""

    statistic: float
    method: str
    kind: str
    bins: int
    edges: tuple[float, ...] | None
    categories: tuple[Any, ...] | None
    reference_share: tuple[float, ...]
    current_share: tuple[float, ...]
    contributions: tuple[float, ...]
    epsilon: float
    n_reference: int
    n_current: int
    note: str = ""


@dataclass(frozen=True)
class DistanceResult:
    """A distance between two samples without a p-value (:func:`jensen_shannon`, :func:`wasserstein`).

    ``statistic`` is the headline (normalised) value, ``raw`` the distance before normalisation and
    ``scale`` the divisor (1.0 when nothing is normalised).
    """

    statistic: float
    method: str
    raw: float
    scale: float
    scale_method: str
    n_reference: int
    n_current: int
    bins: int | None = None
    edges: tuple[float, ...] | None = None
    categories: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class ProportionResult:
    """Comparison of two rates ``a`` (reference) and ``b`` (current) (see :func:`proportion_test`)."""

    statistic: float
    pvalue: float
    pvalue_fisher: float
    method: str
    alternative: str
    alpha: float
    rate_a: float
    rate_b: float
    ci_a: tuple[float, float]
    ci_b: tuple[float, float]
    difference: float
    ci_difference: tuple[float, float]
    effect: float
    odds_ratio: float
    successes_a: int
    n_a: int
    successes_b: int
    n_b: int
    effect_name: str = "cohen_h"


@dataclass(frozen=True)
class EmbeddingDriftResult:
    """Kernel two-sample test on embeddings (see :func:`embedding_drift`)."""

    statistic: float
    pvalue: float
    method: str
    bandwidth: float
    n_permutations: int
    seed: int | None
    centroid_distance: float
    n_reference: int
    n_current: int
    n_reference_total: int
    n_current_total: int
    dim: int
    effect: float
    effect_name: str = "mmd2"


@dataclass(frozen=True, eq=False)
class DriftScanResult:
    """A drift statistic per time window against a reference period (see :func:`drift_scan`).

    ``frame`` has one row per window (empty windows kept, their numbers missing).
    """

    frame: pd.DataFrame
    column: str
    test: str
    effect_name: str
    window: pd.Timedelta
    step: pd.Timedelta
    reference: tuple[pd.Timestamp, pd.Timestamp] | None
    n_reference: int
    alpha: float
    effect_threshold: float
    params: Mapping[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------


def _check_alternative(alternative: str) -> str:
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"`alternative` must be one of {_ALTERNATIVES}, got {alternative!r}")
    return alternative


def _check_bins(bins: int) -> int:
    if isinstance(bins, (bool, np.bool_)) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"`bins` must be a positive integer, got {bins!r}")
    return int(bins)


def _numeric_sample(x: ArrayLike, name: str) -> np.ndarray:
    """1-D float64 array without missing values; rejects text, infinities and empty input."""
    if isinstance(x, (pd.Series, pd.Index)):
        if not (pd.api.types.is_numeric_dtype(x.dtype) or pd.api.types.is_bool_dtype(x.dtype)):
            raise ValueError(f"`{name}` must be numeric, got dtype {x.dtype}")
        arr = x.to_numpy(dtype="float64", na_value=np.nan)
    else:
        arr = np.asarray(x)
        if arr.dtype == object:
            try:
                arr = pd.to_numeric(pd.Series(arr.ravel())).to_numpy(dtype="float64", na_value=np.nan)
            except (TypeError, ValueError):
                raise ValueError(f"`{name}` must be numeric, got non-numeric values") from None
        elif arr.dtype.kind not in "biuf":
            raise ValueError(f"`{name}` must be numeric, got dtype {arr.dtype}")
        else:
            if arr.ndim != 1:
                raise ValueError(f"`{name}` must be one-dimensional, got shape {arr.shape}")
            arr = arr.astype("float64", copy=False)
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be one-dimensional, got shape {arr.shape}")
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        raise ValueError(f"`{name}` has no values once missing values are dropped")
    if not np.isfinite(arr).all():
        raise ValueError(f"`{name}` contains infinite values")
    return arr


def _is_numeric_values(x: Any) -> bool:
    """True for numbers (not booleans); False for labels (strings, booleans, categories)."""
    if isinstance(x, (pd.Series, pd.Index)):
        dt = x.dtype
        return bool(pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt))
    arr = np.asarray(x)
    if arr.dtype.kind in "iuf":
        return True
    if arr.dtype == object:
        kind = pd.api.types.infer_dtype(arr.ravel(), skipna=True)
        return kind in ("floating", "integer", "mixed-integer-float", "decimal")
    return False


def _label_counts(x: Any, name: str) -> pd.Series:
    """Counts per label of raw categorical values, missing values dropped, zero counts removed."""
    if isinstance(x, pd.Series):
        s = x
    elif isinstance(x, (pd.Index, pd.Categorical)):
        s = pd.Series(x)
    else:
        arr = np.asarray(x, dtype=object) if not isinstance(x, np.ndarray) else x
        if arr.ndim != 1:
            raise ValueError(f"`{name}` must be one-dimensional, got shape {arr.shape}")
        s = pd.Series(arr)
    try:
        vc = s.value_counts(dropna=True, sort=True)
    except TypeError:
        raise ValueError(f"`{name}` holds unhashable values (lists?); cannot count categories") from None
    vc = vc[vc.to_numpy() > 0]
    if vc.size == 0:
        raise ValueError(f"`{name}` has no values once missing values are dropped")
    return pd.Series(vc.to_numpy(dtype=np.int64), index=pd.Index(vc.index, dtype=object))


def _given_counts(x: Any, name: str) -> pd.Series:
    """Counts given as a mapping/Series label -> count."""
    if not isinstance(x, (Mapping, pd.Series)):
        raise ValueError(f"`{name}` counts must be a dict or Series label -> count, got {type(x).__name__}")
    s = pd.Series(dict(x)) if isinstance(x, Mapping) else x
    vals = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    if np.isnan(vals).any() or (vals < 0).any() or not np.isfinite(vals).all():
        raise ValueError(f"`{name}` counts must be finite non-negative numbers")
    if (vals != np.round(vals)).any():
        raise ValueError(f"`{name}` counts must be whole numbers")
    if not s.index.is_unique:
        raise ValueError(f"`{name}` counts repeat a label")
    out = pd.Series(vals.astype(np.int64), index=pd.Index(s.index, dtype=object))
    out = out[out.to_numpy() > 0]
    if out.size == 0:
        raise ValueError(f"`{name}` has no observations (all counts are zero)")
    return out


def _looks_like_counts(x: Any) -> bool:
    if isinstance(x, Mapping):
        return True
    if isinstance(x, pd.Series):
        return bool(
            pd.api.types.is_numeric_dtype(x.dtype)
            and not pd.api.types.is_bool_dtype(x.dtype)
            and not isinstance(x.index, pd.RangeIndex)
            and x.index.is_unique
        )
    return False


def _align_counts(ref: pd.Series, cur: pd.Series) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """Union of labels (reference order first, then labels new in current) and aligned counts."""
    new = cur.index[~cur.index.isin(ref.index)]
    labels = ref.index.append(new)
    r = ref.reindex(labels, fill_value=0).to_numpy(dtype=np.int64)
    c = cur.reindex(labels, fill_value=0).to_numpy(dtype=np.int64)
    return labels.tolist(), r, c


# ----------------------------------------------------------------------------------------------
# Kolmogorov-Smirnov and Wasserstein on sorted samples
# ----------------------------------------------------------------------------------------------


def _quantile_sorted(xs: np.ndarray, q: np.ndarray | float) -> np.ndarray:
    """``np.quantile(xs, q)`` (linear interpolation) for an already sorted array."""
    q = np.asarray(q, dtype=float)
    h = (xs.size - 1) * q
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, xs.size - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def _robust_spread(xs: np.ndarray) -> tuple[float, str]:
    """IQR / 1.349 of a sorted sample, or its standard deviation when the IQR is zero."""
    q25, q75 = _quantile_sorted(xs, np.array([0.25, 0.75]))
    spread = float(q75 - q25) / _IQR_TO_SIGMA
    if spread > 0:
        return spread, "iqr/1.349"
    sd = float(np.std(xs, ddof=1)) if xs.size > 1 else 0.0
    return sd, "std"


@dataclass(frozen=True)
class _ECDFCompare:
    d_plus: float  # max(F_ref - F_cur)
    d_minus: float  # max(F_cur - F_ref)
    loc_plus: float
    loc_minus: float
    wasserstein: float


def _ecdf_compare(xs: np.ndarray, ys: np.ndarray) -> _ECDFCompare:
    """Both one-sided KS distances and the Wasserstein-1 distance of two sorted samples.

    One stable merge of the sorted samples gives both empirical CDFs at every pooled value;
    CDF differences are kept as exact integers ``c_ref * n_cur - c_cur * n_ref``.
    """
    n1, n2 = xs.size, ys.size
    pooled = np.concatenate([xs, ys])
    order = np.argsort(pooled, kind="stable")  # two sorted runs: one merge pass
    s = pooled[order]
    del pooled
    c1 = np.cumsum(order < n1, dtype=np.int64)
    del order
    # c2 = (i + 1) - c1; diff = c1 * n2 - c2 * n1 = c1 * (n1 + n2) - (i + 1) * n1
    diff = c1 * (n1 + n2)
    del c1
    diff -= np.arange(1, n1 + n2 + 1, dtype=np.int64) * n1
    # Evaluate the CDFs only at the last element of each group of tied values.
    ends = np.empty(s.size, dtype=bool)
    np.not_equal(s[1:], s[:-1], out=ends[:-1])
    ends[-1] = True
    de = diff[ends]
    se = s[ends]
    del ends
    i_max, i_min = int(np.argmax(de)), int(np.argmin(de))
    nn = float(n1) * float(n2)
    d_plus = max(float(de[i_max]), 0.0) / nn
    d_minus = max(-float(de[i_min]), 0.0) / nn
    # W1 = integral |F - G| dx; the widths between tied values are zero.
    widths = np.diff(s)
    np.abs(diff[:-1], out=diff[:-1])
    w = float(np.dot(diff[:-1].astype(np.float64), widths)) / nn
    return _ECDFCompare(d_plus, d_minus, float(se[i_max]), float(se[i_min]), w)


def _ks_pvalue(
    d: float, n1: int, n2: int, alternative: str, method: str, xs: np.ndarray, ys: np.ndarray
) -> tuple[float, str]:
    """P-value exactly as scipy's ``ks_2samp`` computes it for the chosen method."""
    if method == "auto":
        method = "exact" if max(n1, n2) <= KS_EXACT_MAX_N else "asymp"
    if method == "exact":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = stats.ks_2samp(xs, ys, alternative=alternative, method="exact")
        fell_back = any("Switching" in str(w.message) for w in caught)
        return float(res.pvalue), ("asymp" if fell_back else "exact")
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    if alternative == "two-sided":
        prob = float(stats.kstwo.sf(d, np.round(en)))
    else:
        # Hodges (1958), eq. 5.3, as in scipy; m is the larger sample.
        z = math.sqrt(en) * d
        prob = math.exp(-2 * z**2 - 2 * z * (m + 2 * n) / math.sqrt(m * n * (m + n)) / 3.0)
    return min(max(prob, 0.0), 1.0), "asymp"


def _ks_sorted(
    xs: np.ndarray,
    ys: np.ndarray,
    *,
    alternative: str = "two-sided",
    method: str = "auto",
    spread: tuple[float, str] | None = None,
) -> KSResult:
    cmp = _ecdf_compare(xs, ys)
    if alternative == "less":
        d, loc, sign = cmp.d_minus, cmp.loc_minus, -1
    elif alternative == "greater" or cmp.d_plus >= cmp.d_minus:
        d, loc, sign = cmp.d_plus, cmp.loc_plus, 1
    else:
        d, loc, sign = cmp.d_minus, cmp.loc_minus, -1
    pvalue, used = _ks_pvalue(d, xs.size, ys.size, alternative, method, xs, ys)
    scale, _ = spread if spread is not None else _robust_spread(xs)
    return KSResult(
        statistic=d,
        pvalue=pvalue,
        method=used,
        alternative=alternative,
        n_reference=int(xs.size),
        n_current=int(ys.size),
        effect=_normalise(cmp.wasserstein, scale),
        statistic_location=loc,
        statistic_sign=sign,
    )


def _normalise(raw: float, scale: float) -> float:
    if scale > 0:
        # A tiny spread (subnormal) with a large shift overflows to inf, which is the right answer.
        with np.errstate(over="ignore"):
            return float(np.float64(raw) / np.float64(scale))
    return 0.0 if raw == 0 else math.inf


def ks_test(
    reference: ArrayLike, current: ArrayLike, *, alternative: str = "two-sided", method: str = "auto"
) -> KSResult:
    """Two-sample Kolmogorov-Smirnov test of ``current`` against ``reference``.

    Parameters
    ----------
    reference, current
        Numeric samples (array-like or Series, nullable dtypes accepted); missing values dropped.
    alternative
        ``"two-sided"``, ``"less"`` or ``"greater"``, with scipy's meaning: ``"greater"`` is the
        alternative that the reference CDF lies above the current one somewhere (current values
        tend to be larger).
    method
        ``"auto"`` (exact up to ``KS_EXACT_MAX_N`` = 10,000 observations a side, as scipy does),
        ``"exact"`` or ``"asymp"``.

    Returns
    -------
    KSResult
        ``statistic`` (``D``), ``pvalue``, ``method`` actually used, sample sizes, and ``effect``:
        the Wasserstein-1 distance divided by the reference's robust spread (IQR / 1.349, or the
        standard deviation when the IQR is zero), i.e. how far, in reference standard deviations,
        the current distribution has moved. A 0.5-sigma mean shift of a normal scores 0.5. When
        the reference is constant the effect is 0 if nothing moved and ``inf`` otherwise.

    Notes
    -----
    .. math:: D = \\sup_x |F_{ref}(x) - F_{cur}(x)|

    Both empirical CDFs come from one stable merge of the sorted samples (``O(n log n)``).
    Asymptotic p-values use the Kolmogorov distribution at ``round(n m / (n + m))``
    (``scipy.stats.kstwo``), one-sided ones Hodges' approximation; both as in
    ``scipy.stats.ks_2samp``, which also supplies the exact p-values.

    References
    ----------
    Smirnov, N. (1939). On the estimation of the discrepancy between empirical curves of
    distribution for two independent samples. Bull. Math. Univ. Moscou 2(2), 3-14.
    Hodges, J. L. (1958). The significance probability of the Smirnov two-sample test.
    Arkiv för Matematik 3, 469-486.
    """
    _check_alternative(alternative)
    if method not in ("auto", "exact", "asymp"):
        raise ValueError(f"`method` must be 'auto', 'exact' or 'asymp', got {method!r}")
    xs = np.sort(_numeric_sample(reference, "reference"))
    ys = np.sort(_numeric_sample(current, "current"))
    return _ks_sorted(xs, ys, alternative=alternative, method=method)


# ----------------------------------------------------------------------------------------------
# Chi-square
# ----------------------------------------------------------------------------------------------


def _merge_sparse(
    labels: list[Any], r: np.ndarray, c: np.ndarray, min_expected: float
) -> tuple[list[Any], np.ndarray, np.ndarray, list[Any]]:
    """Merge the categories whose smallest expected count is below ``min_expected`` into one cell.

    A category seen on one side only is never merged when its expected count on the side where
    it is absent reaches ``min_expected``: that absence is informative (a brand-new traffic source
    or query type is the very signal a drift test is for), and merging it with an established
    small category would dilute it away.
    """
    total = r + c
    n_r, n_c = int(r.sum()), int(c.sum())
    n = n_r + n_c
    # Expected count of a category's smaller row: total_j * min(n_r, n_c) / N.
    need = min_expected * n / min(n_r, n_c)
    one_sided = ((r == 0) & (c * n_r / n >= min_expected)) | ((c == 0) & (r * n_c / n >= min_expected))
    order = np.argsort(total, kind="stable")  # ascending
    sparse = [j for j in order if total[j] < need and not one_sided[j]]
    if not sparse:
        return labels, r, c, []
    merged_total = int(total[sparse].sum())
    rest = [j for j in order if total[j] >= need or one_sided[j]]
    # A merged cell that is still too small takes the next smallest category.
    while merged_total < need and any(not one_sided[j] for j in rest):
        j = next(j for j in rest if not one_sided[j])
        rest.remove(j)
        sparse.append(j)
        merged_total += int(total[j])
    keep = sorted(rest)
    new_labels = [labels[j] for j in keep] + [MERGED_LABEL]
    new_r = np.append(r[keep], r[sparse].sum())
    new_c = np.append(c[keep], c[sparse].sum())
    merged = [labels[j] for j in sorted(sparse)]
    return new_labels, new_r, new_c, merged


def _chi_square_from_counts(
    labels: list[Any], r: np.ndarray, c: np.ndarray, min_expected: float
) -> ChiSquareResult:
    n_r, n_c = int(r.sum()), int(c.sum())
    notes = []
    if min_expected > 0:
        labels, r, c, merged = _merge_sparse(labels, r, c, min_expected)
    else:
        merged = []
    if merged:
        notes.append(
            f"merged {len(merged)} sparse categories (expected count < {min_expected:g}) "
            f"into {MERGED_LABEL!r}"
        )
    k = len(labels)
    if k < 2:
        # scipy's chi2_contingency gives the same for a 2 x 1 table: no spread, nothing to test.
        notes.append(
            "only one category" + (" after merging" if merged else "") + ": nothing to compare"
        )
        stat, pvalue, dof, v, v_bal = 0.0, 1.0, 0, 0.0, 0.0
    else:
        obs = np.vstack([r, c]).astype(np.float64)
        n = obs.sum()
        expected = np.outer(obs.sum(axis=1), obs.sum(axis=0)) / n
        stat = float(np.sum((obs - expected) ** 2 / expected))
        dof = k - 1
        pvalue = float(stats.chi2.sf(stat, dof))
        v = math.sqrt(stat / n)  # min(rows, cols) - 1 = 1 for a 2 x k table
        p, q = r / n_r, c / n_c
        v_bal = math.sqrt(0.5 * float(np.sum((p - q) ** 2 / (p + q))))
    return ChiSquareResult(
        statistic=stat,
        pvalue=pvalue,
        dof=dof,
        method="pearson-chi-square",
        effect=v_bal,
        cramers_v=v,
        categories=tuple(labels),
        merged=tuple(merged),
        note="; ".join(notes),
        counts_reference=tuple(int(v_) for v_ in r),
        counts_current=tuple(int(v_) for v_ in c),
        n_reference=n_r,
        n_current=n_c,
        min_expected=float(min_expected),
    )


def _category_counts_pair(
    reference: Any, current: Any, counts: bool | None
) -> tuple[pd.Series, pd.Series]:
    if counts is None:
        ref_is, cur_is = _looks_like_counts(reference), _looks_like_counts(current)
        if ref_is != cur_is:
            raise ValueError(
                "`reference` and `current` must both be raw values or both be counts "
                f"(got {'counts' if ref_is else 'raw values'} and {'counts' if cur_is else 'raw values'}); "
                "pass `counts=True/False` to say which"
            )
        counts = ref_is
    if counts:
        return _given_counts(reference, "reference"), _given_counts(current, "current")
    return _label_counts(reference, "reference"), _label_counts(current, "current")


def chi_square_test(
    reference: Any, current: Any, *, min_expected: float = 5.0, counts: bool | None = None
) -> ChiSquareResult:
    """Pearson chi-square test that two categorical samples share one distribution.

    Parameters
    ----------
    reference, current
        Raw labels (array-like or Series; missing values dropped) **or** counts per label (a dict
        or Series ``label -> count``), the same kind on both sides. With ``counts=None`` a dict is
        counts, and so is a numeric Series whose index is not a ``RangeIndex`` (what
        ``value_counts()`` returns); anything else is raw labels. Categories seen on one side only
        get a zero count on the other.
    min_expected
        Categories whose expected count in either sample falls below this are merged, smallest
        first, into one cell labelled :data:`MERGED_LABEL` (the cell itself also reaches the
        bound, or takes the next smallest category). ``0`` disables merging. A category seen on
        one side only keeps its own cell when its expected count on the side where it is absent
        reaches ``min_expected``: a new category is the drift. (Its expected count on the other
        side may be small; the chi-square term is then large and the asymptotic p-value gives
        the order of magnitude only.)
    counts
        Force the interpretation of the inputs as counts (True) or raw labels (False).

    Returns
    -------
    ChiSquareResult
        ``statistic``, ``pvalue``, ``dof``, ``categories`` tested (merged cell last), ``merged``
        (the labels in the merged cell), ``note``, the aligned counts, and two effect sizes:

        * ``cramers_v``: Cramér's V of the 2 x k count table, :math:`\\sqrt{\\chi^2/N}`.
        * ``effect``: Cramér's V of the two *share* vectors, i.e. the same formula with both
          samples weighted equally. It equals ``cramers_v`` when the two samples have the same
          size and, unlike it, does not shrink when one sample is much larger (a long reference
          period against a short window), which makes one threshold usable everywhere. A shift of
          10 points in one category's share gives at least 0.1; disjoint supports give 1.

    Notes
    -----
    With counts :math:`O_{ij}`, :math:`E_{ij} = O_{i\\cdot} O_{\\cdot j} / N`:

    .. math:: \\chi^2 = \\sum_{ij} (O_{ij} - E_{ij})^2 / E_{ij}, \\qquad \\text{dof} = k - 1

    no continuity correction; identical to ``scipy.stats.chi2_contingency(correction=False)``
    when nothing is merged. With shares :math:`p_j, q_j` of reference and current:

    .. math:: V_{bal} = \\sqrt{\\tfrac12 \\sum_j (p_j - q_j)^2 / (p_j + q_j)}

    A single category (after merging) gives ``statistic=0``, ``pvalue=1``, ``dof=0``, as scipy.

    References
    ----------
    Pearson, K. (1900). On the criterion that a given system of deviations ... Phil. Mag. 50, 157-175.
    Cramér, H. (1946). Mathematical Methods of Statistics, 282. Princeton University Press.
    Cochran, W. G. (1954). Some methods for strengthening the common chi-square tests.
    Biometrics 10(4), 417-451 (the expected-count-of-5 rule).
    """
    if not np.isfinite(min_expected) or min_expected < 0:
        raise ValueError(f"`min_expected` must be a finite number >= 0, got {min_expected!r}")
    ref, cur = _category_counts_pair(reference, current, counts)
    labels, r, c = _align_counts(ref, cur)
    return _chi_square_from_counts(labels, r, c, float(min_expected))


# ----------------------------------------------------------------------------------------------
# PSI, Jensen-Shannon, Wasserstein
# ----------------------------------------------------------------------------------------------


def _quantile_edges(xs_sorted: np.ndarray, bins: int) -> np.ndarray:
    """Inner bin edges at the reference quantiles; ties collapse edges."""
    q = _quantile_sorted(xs_sorted, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    inner = np.unique(q)
    return inner[inner > xs_sorted[0]]


def _binned_counts(values: np.ndarray, inner: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(inner, values, side="right")
    return np.bincount(idx, minlength=inner.size + 1).astype(np.int64)


@dataclass(frozen=True)
class _Histograms:
    kind: str
    ref: np.ndarray
    cur: np.ndarray
    edges: tuple[float, ...] | None
    categories: tuple[Any, ...] | None
    note: str


def _histograms(reference: Any, current: Any, bins: int) -> _Histograms:
    ref_num, cur_num = _is_numeric_values(reference), _is_numeric_values(current)
    if ref_num != cur_num:
        raise ValueError(
            "`reference` and `current` must both be numeric or both categorical, got "
            f"{'numeric' if ref_num else 'categorical'} and {'numeric' if cur_num else 'categorical'}"
        )
    if ref_num:
        xs = np.sort(_numeric_sample(reference, "reference"))
        ys = _numeric_sample(current, "current")
        inner = _quantile_edges(xs, bins)
        note = ""
        if inner.size != bins - 1:
            note = f"ties in the reference leave {inner.size + 1} bins of {bins}"
        return _Histograms(
            "numeric",
            _binned_counts(xs, inner),
            _binned_counts(ys, inner),
            (-math.inf, *map(float, inner), math.inf),
            None,
            note,
        )
    labels, r, c = _align_counts(_label_counts(reference, "reference"), _label_counts(current, "current"))
    return _Histograms("categorical", r, c, None, tuple(labels), "")


def _psi_contributions(r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Per-bin PSI terms of shares ``r`` (reference) and ``c`` (current), floored at PSI_EPSILON."""
    rf, cf = np.maximum(r, PSI_EPSILON), np.maximum(c, PSI_EPSILON)
    return (cf - rf) * np.log(cf / rf)


def psi(reference: Any, current: Any, bins: int = 10) -> PSIResult:
    """Population stability index of ``current`` against ``reference``.

    Parameters
    ----------
    reference, current
        Numeric samples (binned at the reference quantiles) or categorical labels (one bin per
        category seen on either side). Missing values dropped.
    bins
        Number of reference-quantile bins for numeric data (deciles by default). Ties in the
        reference collapse duplicate edges, so fewer bins may result (see ``note``). The outer
        edges are ``-inf`` and ``+inf``: every current value falls in a bin.

    Returns
    -------
    PSIResult
        ``statistic``, ``edges`` or ``categories``, unfloored ``reference_share`` and
        ``current_share``, the per-bin ``contributions`` (they sum to the statistic) and the
        ``epsilon`` used.

    Notes
    -----
    With bin shares :math:`r_i, c_i` raised to at least :math:`\\epsilon` =
    :data:`PSI_EPSILON` = 1e-4 (so an empty bin contributes a finite amount):

    .. math:: PSI = \\sum_i (c_i - r_i) \\ln(c_i / r_i)

    The usual reading is < 0.1 stable, 0.1-0.25 moderate, > 0.25 large shift. PSI is a distance,
    not a test: a 10-point shift of a 50% share scores only 0.04, so do not use it alone to decide.

    References
    ----------
    Siddiqi, N. (2006). Credit Risk Scorecards. Wiley.
    Yurdakul, B. (2018). Statistical properties of population stability index. PhD thesis,
    Western Michigan University.
    """
    bins = _check_bins(bins)
    h = _histograms(reference, current, bins)
    r = h.ref / h.ref.sum()
    c = h.cur / h.cur.sum()
    contrib = _psi_contributions(r, c)
    return PSIResult(
        statistic=float(contrib.sum()),
        method="psi",
        kind=h.kind,
        bins=int(h.ref.size),
        edges=h.edges,
        categories=h.categories,
        reference_share=tuple(map(float, r)),
        current_share=tuple(map(float, c)),
        contributions=tuple(map(float, contrib)),
        epsilon=PSI_EPSILON,
        n_reference=int(h.ref.sum()),
        n_current=int(h.cur.sum()),
        note=h.note,
    )


def _js_distance(p: np.ndarray, q: np.ndarray) -> float:
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kp = np.where(p > 0, p * np.log2(p / m), 0.0)
        kq = np.where(q > 0, q * np.log2(q / m), 0.0)
    div = 0.5 * float(kp.sum() + kq.sum())
    return math.sqrt(max(div, 0.0))


def jensen_shannon(reference: Any, current: Any, bins: int = 10) -> DistanceResult:
    """Jensen-Shannon distance between the binned distributions of two samples.

    Parameters
    ----------
    reference, current
        Numeric samples (binned as in :func:`psi`: reference quantiles, outer edges infinite) or
        categorical labels.
    bins
        Number of reference-quantile bins for numeric data.

    Returns
    -------
    DistanceResult
        ``statistic``: the distance in [0, 1] (base-2 logarithms); 0 for identical histograms,
        1 for disjoint ones. ``raw`` is the same value (nothing is normalised).

    Notes
    -----
    With bin shares :math:`p, q` and :math:`m = (p + q) / 2`:

    .. math:: JS(p, q) = \\sqrt{\\tfrac12 KL(p \\| m) + \\tfrac12 KL(q \\| m)}

    with :math:`0 \\log 0 = 0`; no epsilon needed. Same as
    ``scipy.spatial.distance.jensenshannon(p, q, base=2)``.

    References
    ----------
    Lin, J. (1991). Divergence measures based on the Shannon entropy. IEEE Trans. Inf. Theory
    37(1), 145-151. Endres, D. M., Schindelin, J. E. (2003). A new metric for probability
    distributions. IEEE Trans. Inf. Theory 49(7), 1858-1860.
    """
    bins = _check_bins(bins)
    h = _histograms(reference, current, bins)
    d = _js_distance(h.ref / h.ref.sum(), h.cur / h.cur.sum())
    return DistanceResult(
        statistic=d,
        method="jensen-shannon",
        raw=d,
        scale=1.0,
        scale_method="none",
        n_reference=int(h.ref.sum()),
        n_current=int(h.cur.sum()),
        bins=int(h.ref.size),
        edges=h.edges,
        categories=h.categories,
    )


def wasserstein(reference: ArrayLike, current: ArrayLike) -> DistanceResult:
    """Wasserstein-1 (earth mover's) distance, in units of the reference's spread.

    Parameters
    ----------
    reference, current
        Numeric samples; missing values dropped.

    Returns
    -------
    DistanceResult
        ``statistic`` = ``raw / scale``; ``raw`` is the distance in data units; ``scale`` is the
        reference's robust spread, IQR / 1.349 (the standard deviation for normal data, but not
        inflated by heavy tails such as latencies), or its standard deviation when the IQR is 0
        (``scale_method`` says which). A pure shift of the mean by ``k`` standard deviations scores
        ``k``. A constant reference gives 0 when nothing moved and ``inf`` otherwise.

    Notes
    -----
    .. math:: W_1 = \\int |F_{ref}(x) - F_{cur}(x)|\\,dx, \\qquad
              \\text{statistic} = W_1 / (\\mathrm{IQR}_{ref} / 1.349)

    :math:`W_1` equals ``scipy.stats.wasserstein_distance``.

    References
    ----------
    Ramdas, A., García Trillos, N., Cuturi, M. (2017). On Wasserstein two-sample testing and
    related families of nonparametric tests. Entropy 19(2), 47.
    """
    xs = np.sort(_numeric_sample(reference, "reference"))
    ys = np.sort(_numeric_sample(current, "current"))
    raw = _ecdf_compare(xs, ys).wasserstein
    scale, how = _robust_spread(xs)
    return DistanceResult(
        statistic=_normalise(raw, scale),
        method="wasserstein",
        raw=raw,
        scale=scale,
        scale_method=how,
        n_reference=int(xs.size),
        n_current=int(ys.size),
    )


# ----------------------------------------------------------------------------------------------
# Proportions
# ----------------------------------------------------------------------------------------------


def _check_count(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be a whole number >= 0, got {value!r}")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a whole number >= 0, got {value!r}") from None
    if not math.isfinite(f) or f < 0 or f != round(f):
        raise ValueError(f"`{name}` must be a whole number >= 0, got {value!r}")
    return int(round(f))


def cohen_h(p_a: Any, p_b: Any) -> Any:
    """Cohen's h of the change from rate ``p_a`` to rate ``p_b`` (vectorised; rates clipped to [0, 1]).

    Notes
    -----
    .. math:: h = 2\\arcsin\\sqrt{p_b} - 2\\arcsin\\sqrt{p_a}

    References
    ----------
    Cohen, J. (1988). Statistical Power Analysis for the Behavioral Sciences, 2nd ed., ch. 6.
    """
    a = np.clip(np.asarray(p_a, dtype=float), 0.0, 1.0)
    b = np.clip(np.asarray(p_b, dtype=float), 0.0, 1.0)
    return 2.0 * np.arcsin(np.sqrt(b)) - 2.0 * np.arcsin(np.sqrt(a))


def proportion_test(
    successes_a: int,
    n_a: int,
    successes_b: int,
    n_b: int,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> ProportionResult:
    """Compare rate ``b`` (current) with rate ``a`` (reference): z test, Fisher exact, intervals.

    Parameters
    ----------
    successes_a, n_a, successes_b, n_b
        Counts: events with the outcome (refused, escalated, ...) and events in total.
    alpha
        One minus the coverage of the intervals (the intervals are two-sided).
    alternative
        ``"two-sided"``, ``"greater"`` (rate b > rate a) or ``"less"``; applies to both p-values.

    Returns
    -------
    ProportionResult
        ``statistic`` (pooled z, positive when b > a), ``pvalue`` (from z), ``pvalue_fisher``,
        ``rate_a``, ``rate_b`` with Wilson intervals ``ci_a``, ``ci_b``, ``difference`` = b - a
        with Newcombe's interval ``ci_difference``, ``effect`` = Cohen's h (signed, b vs a),
        the sample ``odds_ratio`` of b against a.

    Notes
    -----
    With :math:`\\hat p = (x_a + x_b) / (n_a + n_b)`:

    .. math:: z = \\frac{\\hat p_b - \\hat p_a}{\\sqrt{\\hat p (1 - \\hat p)(1/n_a + 1/n_b)}},
              \\qquad h = 2 \\arcsin\\sqrt{\\hat p_b} - 2 \\arcsin\\sqrt{\\hat p_a}

    When both samples are all failures or all successes the pooled variance is zero and the
    rates are equal: ``statistic = 0``, ``pvalue = 1``. The Fisher p-value is
    ``scipy.stats.fisher_exact`` on ``[[x_b, n_b - x_b], [x_a, n_a - x_a]]``. Cohen's h treats
    small rates fairly (10% -> 15% scores 0.15, 1% -> 2% scores 0.07), which a plain difference
    or a fixed distance cut-off does not.

    References
    ----------
    Fleiss, J. L., Levin, B., Paik, M. C. (2003). Statistical Methods for Rates and Proportions,
    3rd ed., ch. 2-3. Wiley. Cohen, J. (1988). Statistical Power Analysis for the Behavioral
    Sciences, 2nd ed., ch. 6. Newcombe, R. G. (1998). Statistics in Medicine 17, 873-890.
    """
    alpha = _check_alpha(alpha)
    _check_alternative(alternative)
    xa, na = _check_count(successes_a, "successes_a"), _check_count(n_a, "n_a")
    xb, nb = _check_count(successes_b, "successes_b"), _check_count(n_b, "n_b")
    for x, n, xn, nn in ((xa, na, "successes_a", "n_a"), (xb, nb, "successes_b", "n_b")):
        if n == 0:
            raise ValueError(f"`{nn}` must be positive, got 0")
        if x > n:
            raise ValueError(f"`{xn}` ({x}) must not exceed `{nn}` ({n})")
    pa, pb = xa / na, xb / nb
    pooled = (xa + xb) / (na + nb)
    var = pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)
    if var > 0:
        z = (pb - pa) / math.sqrt(var)
        if alternative == "two-sided":
            pvalue = float(2.0 * stats.norm.sf(abs(z)))
        elif alternative == "greater":
            pvalue = float(stats.norm.sf(z))
        else:
            pvalue = float(stats.norm.cdf(z))
    else:
        z, pvalue = 0.0, 1.0
    fisher = stats.fisher_exact([[xb, nb - xb], [xa, na - xa]], alternative=alternative)
    la, ua = wilson_interval(xa, na, alpha)
    lb, ub = wilson_interval(xb, nb, alpha)
    ld, ud = newcombe_interval(xa, na, xb, nb, alpha)
    return ProportionResult(
        statistic=float(z),
        pvalue=min(pvalue, 1.0),
        pvalue_fisher=float(fisher.pvalue),
        method="pooled-z",
        alternative=alternative,
        alpha=alpha,
        rate_a=pa,
        rate_b=pb,
        ci_a=(float(la), float(ua)),
        ci_b=(float(lb), float(ub)),
        difference=pb - pa,
        ci_difference=(float(ld), float(ud)),
        effect=float(cohen_h(pa, pb)),
        odds_ratio=float(fisher.statistic),
        successes_a=xa,
        n_a=na,
        successes_b=xb,
        n_b=nb,
    )


# ----------------------------------------------------------------------------------------------
# Multiple testing
# ----------------------------------------------------------------------------------------------


def benjamini_hochberg(pvalues: ArrayLike) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate).

    Missing p-values (NaN) stay NaN and do not count among the hypotheses.

    Notes
    -----
    For the sorted p-values :math:`p_{(1)} \\le \\dots \\le p_{(m)}`:

    .. math:: \\tilde p_{(i)} = \\min\\Big(1, \\min_{j \\ge i} \\frac{m}{j} p_{(j)}\\Big)

    Reject every hypothesis with :math:`\\tilde p \\le \\alpha`. Same as statsmodels
    ``multipletests(p, method="fdr_bh")[1]``.

    References
    ----------
    Benjamini, Y., Hochberg, Y. (1995). Controlling the false discovery rate: a practical and
    powerful approach to multiple testing. JRSS B 57(1), 289-300.
    """
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"`pvalues` must be one-dimensional, got shape {p.shape}")
    ok = ~np.isnan(p)
    if ((p[ok] < 0) | (p[ok] > 1)).any():
        raise ValueError("`pvalues` must lie in [0, 1]")
    out = np.full(p.shape, np.nan)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    order = np.argsort(q, kind="stable")
    scaled = q[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(scaled[::-1])[::-1]
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


# ----------------------------------------------------------------------------------------------
# Embeddings
# ----------------------------------------------------------------------------------------------


def _embedding_matrix(x: Any, name: str) -> np.ndarray:
    """Rows of equal-length vectors as a 2-D float array; missing rows dropped."""
    if isinstance(x, pd.Series) and isinstance(x.dtype, pd.ArrowDtype) and pa.types.is_list(
        x.dtype.pyarrow_dtype
    ):
        arr = x.array.__arrow_array__()
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        arr = arr.filter(arr.is_valid())
        lengths = np.asarray(arr.value_lengths())
        if lengths.size and not (lengths == lengths[0]).all():
            raise ValueError(f"`{name}` vectors must all have the same length")
        flat = np.asarray(arr.flatten().to_numpy(zero_copy_only=False), dtype=float)
        mat = flat.reshape(len(arr), int(lengths[0]) if lengths.size else 0)
    else:
        if isinstance(x, pd.Series):
            x = [v for v in x.tolist() if v is not None and not (np.isscalar(v) and pd.isna(v))]
        try:
            mat = np.asarray(x, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"`{name}` must be a 2-D array or a sequence of equal-length vectors") from None
        if mat.ndim != 2:
            raise ValueError(f"`{name}` must be 2-D (rows x dimensions), got shape {mat.shape}")
    mat = mat[~np.isnan(mat).any(axis=1)]
    if mat.shape[0] < 2:
        raise ValueError(f"`{name}` needs at least 2 vectors without missing values, got {mat.shape[0]}")
    if mat.shape[1] == 0:
        raise ValueError(f"`{name}` vectors are empty")
    if not np.isfinite(mat).all():
        raise ValueError(f"`{name}` contains infinite values")
    return mat


def _cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        return math.nan
    return float(1.0 - np.dot(a, b) / (na * nb))


def embedding_drift(
    reference: Any,
    current: Any,
    *,
    n_permutations: int = 200,
    seed: int | None = 0,
    max_sample: int | None = 1000,
) -> EmbeddingDriftResult:
    """Maximum mean discrepancy between two sets of embeddings, with a permutation p-value.

    Parameters
    ----------
    reference, current
        2-D arrays (rows = vectors), sequences of equal-length vectors, or a Series of a pyarrow
        list dtype (the ``query_embedding`` column). Rows with missing values are dropped.
    n_permutations
        Label permutations for the p-value.
    seed
        Seed of ``np.random.default_rng`` for the subsample and the permutations.
    max_sample
        At most this many rows a side, drawn without replacement (``None``: all rows). The kernel
        matrix has ``(m + n)^2`` entries.

    Returns
    -------
    EmbeddingDriftResult
        ``statistic`` (unbiased MMD^2, may be slightly negative under no drift), ``pvalue``,
        ``bandwidth``, ``centroid_distance`` (cosine distance of the mean vectors of *all* rows),
        rows used and rows given on each side. ``effect`` repeats the statistic.

    Notes
    -----
    Gaussian kernel :math:`k(x, y) = \\exp(-\\|x - y\\|^2 / 2\\sigma^2)`, :math:`\\sigma` the
    median pairwise Euclidean distance of the pooled subsample (median heuristic).

    .. math:: \\mathrm{MMD}^2_u = \\frac{1}{m(m-1)}\\sum_{i \\ne j} k(x_i, x_j)
              + \\frac{1}{n(n-1)}\\sum_{i \\ne j} k(y_i, y_j) - \\frac{2}{mn}\\sum_{i,j} k(x_i, y_j)

    The p-value is :math:`(1 + \\#\\{b: \\mathrm{MMD}^2_b \\ge \\mathrm{MMD}^2\\}) / (1 + B)` over
    ``B`` random relabellings, computed for all of them at once from the kernel matrix.

    References
    ----------
    Gretton, A., Borgwardt, K. M., Rasch, M. J., Schölkopf, B., Smola, A. (2012). A kernel
    two-sample test. JMLR 13, 723-773. Garreau, D., Jitkrittum, W., Kanagawa, M. (2017). Large
    sample analysis of the median heuristic. arXiv:1707.07269.
    """
    if (
        isinstance(n_permutations, bool)
        or not isinstance(n_permutations, (int, np.integer))
        or n_permutations < 1
    ):
        raise ValueError(f"`n_permutations` must be a positive integer, got {n_permutations!r}")
    if max_sample is not None and (not isinstance(max_sample, (int, np.integer)) or max_sample < 2):
        raise ValueError(f"`max_sample` must be an integer >= 2 or None, got {max_sample!r}")
    x = _embedding_matrix(reference, "reference")
    y = _embedding_matrix(current, "current")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"`reference` and `current` must have the same dimension, got {x.shape[1]} and {y.shape[1]}"
        )
    rng = np.random.default_rng(seed)
    centroid = _cosine_distance(x.mean(axis=0), y.mean(axis=0))
    m_total, n_total = x.shape[0], y.shape[0]
    if max_sample is not None and m_total > max_sample:
        x = x[np.sort(rng.choice(m_total, max_sample, replace=False))]
    if max_sample is not None and n_total > max_sample:
        y = y[np.sort(rng.choice(n_total, max_sample, replace=False))]
    m, n = x.shape[0], y.shape[0]
    z = np.vstack([x, y])
    sq = np.einsum("ij,ij->i", z, z)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (z @ z.T), 0.0)
    np.fill_diagonal(d2, 0.0)
    iu = np.triu_indices(m + n, k=1)
    dists = np.sqrt(d2[iu])
    bandwidth = float(np.median(dists))
    if bandwidth == 0.0:
        positive = dists[dists > 0]
        bandwidth = float(positive.mean()) if positive.size else 0.0
    del dists, iu
    if bandwidth == 0.0:
        # Every vector is the same: no discrepancy to find.
        stat, pvalue = 0.0, 1.0
    else:
        kmat = np.exp(-d2 / (2.0 * bandwidth**2))
        del d2
        labels = np.zeros((m + n, n_permutations + 1))
        labels[:m, 0] = 1.0
        base = labels[:, 0].copy()
        for b in range(1, n_permutations + 1):
            labels[:, b] = rng.permutation(base)
        stat_all = _mmd2_unbiased(kmat, labels, m, n)
        stat = float(stat_all[0])
        pvalue = float((1 + np.sum(stat_all[1:] >= stat)) / (n_permutations + 1))
    return EmbeddingDriftResult(
        statistic=stat,
        pvalue=pvalue,
        method="mmd2-rbf-permutation",
        bandwidth=bandwidth,
        n_permutations=int(n_permutations),
        seed=seed,
        centroid_distance=centroid,
        n_reference=m,
        n_current=n,
        n_reference_total=m_total,
        n_current_total=n_total,
        dim=int(x.shape[1]),
        effect=stat,
    )


def _mmd2_unbiased(kmat: np.ndarray, labels: np.ndarray, m: int, n: int) -> np.ndarray:
    """Unbiased MMD^2 for each column of 0/1 labels (1 = first sample) via block sums of K."""
    ku = kmat @ labels
    rows = kmat.sum(axis=1)
    s_xx = np.einsum("ij,ij->j", labels, ku)
    s_xy = np.einsum("ij,ij->j", 1.0 - labels, ku)
    s_yy = (1.0 - labels).T @ rows - s_xy
    diag = np.diag(kmat)
    tr_x = labels.T @ diag
    tr_y = (1.0 - labels).T @ diag
    return (s_xx - tr_x) / (m * (m - 1)) + (s_yy - tr_y) / (n * (n - 1)) - 2.0 * s_xy / (m * n)


# ----------------------------------------------------------------------------------------------
# Column kinds
# ----------------------------------------------------------------------------------------------


def _is_list_dtype(dtype: Any) -> bool:
    return isinstance(dtype, pd.ArrowDtype) and (
        pa.types.is_list(dtype.pyarrow_dtype)
        or pa.types.is_large_list(dtype.pyarrow_dtype)
        or pa.types.is_fixed_size_list(dtype.pyarrow_dtype)
    )


def _series_kind(s: pd.Series) -> str:
    """'boolean', 'numeric', 'categorical', 'embedding', 'list', 'datetime' or 'other'."""
    dt = s.dtype
    if _is_list_dtype(dt):
        vt = dt.pyarrow_dtype.value_type
        return "embedding" if (pa.types.is_floating(vt) or pa.types.is_integer(vt)) else "list"
    if pd.api.types.is_bool_dtype(dt):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dt) or pd.api.types.is_timedelta64_dtype(dt):
        return "datetime"
    if isinstance(dt, pd.ArrowDtype) and (
        pa.types.is_timestamp(dt.pyarrow_dtype) or pa.types.is_duration(dt.pyarrow_dtype)
    ):
        return "datetime"
    if pd.api.types.is_numeric_dtype(dt):
        return "numeric"
    if dt == object:
        first = s.dropna().head(1).tolist()
        if first and isinstance(first[0], (list, tuple, np.ndarray, dict, set)):
            return "list"
        inferred = pd.api.types.infer_dtype(s, skipna=True)
        if inferred in ("string", "categorical", "mixed"):
            return "categorical"
        if inferred == "boolean":
            return "boolean"
        if inferred in ("floating", "integer", "mixed-integer-float", "decimal"):
            return "numeric"
        if inferred == "empty":
            return "empty"
        return "other"
    if isinstance(dt, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dt):
        return "categorical"
    return "other"


_KIND_TEST = {"numeric": "ks", "categorical": "chi-square", "boolean": "proportion", "embedding": "mmd"}


def _bool_counts(s: pd.Series) -> tuple[int, int]:
    v = s.dropna()
    if v.dtype == object:
        if not v.map(lambda e: isinstance(e, (bool, np.bool_))).all():
            raise ValueError(f"column {s.name!r} mixes booleans with other values")
    arr = v.to_numpy(dtype=bool)
    return int(arr.sum()), int(arr.size)


def _resolve_thresholds(effect_threshold: float | Mapping[str, float] | None) -> dict[str, float]:
    out = dict(DEFAULT_EFFECT_THRESHOLDS)
    if effect_threshold is None:
        return out
    if isinstance(effect_threshold, Mapping):
        unknown = set(effect_threshold) - set(out)
        if unknown:
            raise ValueError(
                f"`effect_threshold` keys must be among {sorted(out)}, got {sorted(unknown)}"
            )
        items = dict(effect_threshold)
    else:
        items = {k: effect_threshold for k in out}
    for k, v in items.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not v >= 0:
            raise ValueError(f"`effect_threshold` must be a number >= 0 (or a dict of them), got {v!r}")
        out[k] = float(v)
    return out


# ----------------------------------------------------------------------------------------------
# drift_table
# ----------------------------------------------------------------------------------------------


_TABLE_COLUMNS = {
    "column": "string",
    "test": "string",
    "statistic": "float64",
    "pvalue": "float64",
    "effect": "float64",
    "drifted": "bool",
    "pvalue_raw": "float64",
    "effect_name": "string",
    "threshold": "float64",
    "n_reference": "int64",
    "n_current": "int64",
    "missing_reference": "float64",
    "missing_current": "float64",
    "note": "string",
}


def _sample_rows(frame: pd.DataFrame, max_sample: int | None, rng: np.random.Generator) -> pd.DataFrame:
    if max_sample is None or len(frame) <= max_sample:
        return frame
    pos = np.sort(rng.choice(len(frame), max_sample, replace=False))
    return frame.iloc[pos]


def _missing_share(s: pd.Series) -> float:
    return float(s.isna().mean()) if len(s) else math.nan


class _TooManyCategories(Exception):
    pass


_EMBEDDING_ROWS = 1000  # rows a side that drift_table hands to embedding_drift


def _sample_embeddings(s: pd.Series, rng: np.random.Generator) -> pd.Series:
    pos = np.flatnonzero(s.notna().to_numpy())
    if pos.size > _EMBEDDING_ROWS:
        pos = np.sort(rng.choice(pos, _EMBEDDING_ROWS, replace=False))
    return s.iloc[pos]


def _test_column(
    kind: str,
    ref: pd.Series,
    cur: pd.Series,
    *,
    seed: int | None,
    max_categories: int | None = None,
) -> tuple[str, float, float, float, str, int, int, str]:
    """(test, statistic, pvalue, effect, effect_name, n_ref, n_cur, note) for one column."""
    if kind == "numeric":
        xs = np.sort(_numeric_sample(ref, "reference"))
        ys = np.sort(_numeric_sample(cur, "current"))
        r = _ks_sorted(xs, ys)
        return "ks", r.statistic, r.pvalue, r.effect, r.effect_name, r.n_reference, r.n_current, ""
    if kind == "categorical":
        labels, rc, cc = _align_counts(_label_counts(ref, "reference"), _label_counts(cur, "current"))
        if max_categories is not None and len(labels) > max_categories:
            raise _TooManyCategories(
                f"{len(labels)} distinct values (> MAX_CATEGORIES = {max_categories}): "
                "an identifier or free text? name the column to test it anyway"
            )
        r = _chi_square_from_counts(labels, rc, cc, 5.0)
        return ("chi-square", r.statistic, r.pvalue, r.effect, r.effect_name,
                r.n_reference, r.n_current, r.note)
    if kind == "boolean":
        xa, na = _bool_counts(ref)
        xb, nb = _bool_counts(cur)
        if na == 0 or nb == 0:
            side = "reference" if na == 0 else "current"
            raise ValueError(f"`{side}` has no values once missing values are dropped")
        r = proportion_test(xa, na, xb, nb)
        note = f"rate {r.rate_a:.4g} -> {r.rate_b:.4g}"
        return "proportion", r.statistic, r.pvalue, r.effect, r.effect_name, na, nb, note
    if kind == "embedding":
        rng = np.random.default_rng(seed)
        n_r, n_c = int(ref.notna().sum()), int(cur.notna().sum())
        r = embedding_drift(
            _sample_embeddings(ref, rng), _sample_embeddings(cur, rng), seed=seed, max_sample=None
        )
        note = (
            f"MMD on {r.n_reference} + {r.n_current} sampled rows; "
            f"centroid cosine distance {r.centroid_distance:.4g} (on the sample)"
        )
        return "mmd", r.statistic, r.pvalue, r.effect, r.effect_name, n_r, n_c, note
    raise AssertionError(kind)


def _column_plan(
    reference_frame: pd.DataFrame, current_frame: pd.DataFrame, columns: Sequence[str] | None
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    skipped: dict[str, str] = {}
    plan: list[tuple[str, str]] = []
    explicit = columns is not None
    if columns is None:
        names = [c for c in reference_frame.columns if c in current_frame.columns]
        for c in reference_frame.columns:
            if c not in current_frame.columns:
                skipped[str(c)] = "missing from current_frame"
        for c in current_frame.columns:
            if c not in reference_frame.columns:
                skipped[str(c)] = "missing from reference_frame"
    else:
        if isinstance(columns, str):
            columns = [columns]
        names = list(columns)
        for c in names:
            for frame, fname in ((reference_frame, "reference_frame"), (current_frame, "current_frame")):
                if c not in frame.columns:
                    raise ValueError(f"`columns` names {c!r}, which is not in `{fname}`")
    for c in names:
        k_ref = _series_kind(reference_frame[c])
        k_cur = _series_kind(current_frame[c])
        # An all-missing side has no kind of its own: take the other side's.
        if k_ref == "empty" or reference_frame[c].isna().all():
            k_ref = k_cur if k_cur != "empty" else k_ref
        if k_cur == "empty" or current_frame[c].isna().all():
            k_cur = k_ref
        if k_ref != k_cur:
            msg = f"column {c!r} is {k_ref} in reference_frame but {k_cur} in current_frame"
            if explicit:
                raise ValueError(msg)
            skipped[str(c)] = msg
            continue
        kind = k_ref
        if kind not in _KIND_TEST:
            reason = {
                "datetime": "timestamps differ between periods by construction",
                "list": "list column (only pyarrow lists of numbers are tested, as embeddings)",
                "empty": "no values on either side",
            }.get(kind, "unsupported dtype")
            if explicit:
                raise ValueError(f"column {c!r} cannot be tested: {reason}")
            skipped[str(c)] = reason
            continue
        if kind == "embedding" and not explicit and c != "query_embedding":
            skipped[str(c)] = "list column (only `query_embedding` is tested by default; name others)"
            continue
        plan.append((str(c), kind))
    return plan, skipped


def drift_table(
    reference_frame: pd.DataFrame,
    current_frame: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    alpha: float = 0.05,
    effect_threshold: float | Mapping[str, float] | None = None,
    seed: int | None = 0,
    max_sample: int | None = None,
) -> pd.DataFrame:
    """Test every column of ``current_frame`` against ``reference_frame``; one row a column.

    Parameters
    ----------
    reference_frame, current_frame
        The two samples, e.g. the events of a baseline week and of the incident window.
    columns
        Columns to test. ``None``: every column in both frames except timestamps, list columns
        other than ``query_embedding``, and string columns with more than :data:`MAX_CATEGORIES`
        distinct values (identifiers, free text). Named columns are tested whatever they hold,
        and a column that cannot be tested raises ``ValueError``.
    alpha
        False discovery rate for the Benjamini-Hochberg adjusted p-values.
    effect_threshold
        ``None`` for :data:`DEFAULT_EFFECT_THRESHOLDS`, one number for every test, or a dict
        ``test -> threshold`` overriding some of them.
    seed
        Seed of ``np.random.default_rng`` for ``max_sample`` and the embedding permutations.
    max_sample
        Test at most this many rows of each frame, drawn without replacement (``None``: all).

    Returns
    -------
    pandas.DataFrame
        One row per tested column, in frame order: ``column``, ``test``, ``statistic``,
        ``pvalue`` (BH-adjusted over the rows), ``effect``, ``drifted``, and ``pvalue_raw``,
        ``effect_name``, ``threshold``, ``n_reference``, ``n_current`` (non-missing values),
        ``missing_reference``, ``missing_current`` (shares of missing values, which the tests
        ignore), ``note``. ``attrs["skipped"]`` maps each skipped column to the reason;
        ``attrs["alpha"]`` and ``attrs["effect_threshold"]`` keep the parameters.

        ============  =========================================  ==========================  =======
        column kind   test                                       effect                      default
        ============  =========================================  ==========================  =======
        numeric       ``ks`` (:func:`ks_test`)                   Wasserstein / ref. spread   0.1
        string, cat.  ``chi-square`` (:func:`chi_square_test`)   Cramér's V, equal weights   0.05
        boolean       ``proportion`` (:func:`proportion_test`)   Cohen's h (signed)          0.02
        embedding     ``mmd`` (:func:`embedding_drift`)          MMD^2                       0
        ============  =========================================  ==========================  =======

        ``drifted`` = ``pvalue <= alpha`` and ``|effect| >= threshold``. A side with no values
        gives a row with missing numbers, ``drifted`` False and a note.

    Notes
    -----
    The p-value alone would flag any trivial difference on a million rows; the effect sizes are
    independent of the sample sizes, so the thresholds keep their meaning at any n. Two samples of
    1,000,000 rows from one distribution flag nothing; a 0.5-sigma mean shift (effect 0.5), a
    10-point shift of a category share (effect >= 0.1) and a 10% -> 15% rate (h = 0.15) are
    flagged.
    """
    if not isinstance(reference_frame, pd.DataFrame):
        raise ValueError(f"`reference_frame` must be a DataFrame, got {type(reference_frame).__name__}")
    if not isinstance(current_frame, pd.DataFrame):
        raise ValueError(f"`current_frame` must be a DataFrame, got {type(current_frame).__name__}")
    alpha = _check_alpha(alpha)
    thresholds = _resolve_thresholds(effect_threshold)
    if max_sample is not None and (
        isinstance(max_sample, bool) or not isinstance(max_sample, (int, np.integer)) or max_sample < 1
    ):
        raise ValueError(f"`max_sample` must be a positive integer or None, got {max_sample!r}")
    rng = np.random.default_rng(seed)
    ref_frame = _sample_rows(reference_frame, max_sample, rng)
    cur_frame = _sample_rows(current_frame, max_sample, rng)
    plan, skipped = _column_plan(ref_frame, cur_frame, columns)
    explicit = columns is not None

    rows = []
    for name, kind in plan:
        ref, cur = ref_frame[name], cur_frame[name]
        row = {
            "column": name,
            "threshold": thresholds[_KIND_TEST[kind]],
            "missing_reference": _missing_share(ref),
            "missing_current": _missing_share(cur),
        }
        try:
            test, stat, p, eff, eff_name, n_r, n_c, note = _test_column(
                kind, ref, cur, seed=seed, max_categories=None if explicit else MAX_CATEGORIES
            )
        except _TooManyCategories as exc:
            skipped[name] = str(exc)
            continue
        except ValueError as exc:
            if "unhashable" in str(exc) and not explicit:
                skipped[name] = str(exc)
                continue
            if "no values" not in str(exc) and "at least 2 vectors" not in str(exc):
                raise
            test, stat, p, eff, eff_name = _KIND_TEST[kind], math.nan, math.nan, math.nan, ""
            n_r, n_c = int(ref.notna().sum()), int(cur.notna().sum())
            note = f"not tested: {exc}"
        row.update(
            test=test, statistic=stat, pvalue_raw=p, effect=eff, effect_name=eff_name,
            n_reference=n_r, n_current=n_c, note=note,
        )
        rows.append(row)

    out = pd.DataFrame(rows, columns=list(_TABLE_COLUMNS))
    out["pvalue"] = benjamini_hochberg(out["pvalue_raw"].to_numpy(dtype=float)) if len(out) else []
    with np.errstate(invalid="ignore"):
        out["drifted"] = (out["pvalue"] <= alpha) & (out["effect"].abs() >= out["threshold"])
    out = out.astype(_TABLE_COLUMNS)
    out.attrs["skipped"] = skipped
    out.attrs["alpha"] = alpha
    out.attrs["effect_threshold"] = thresholds
    return out


# ----------------------------------------------------------------------------------------------
# drift_scan
# ----------------------------------------------------------------------------------------------


def _as_bound(value: Any, tz: Any, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` bounds must be timestamps, got {value!r}") from None
    if pd.isna(ts):
        raise ValueError(f"`{name}` bounds must be timestamps, got {value!r}")
    if (ts.tzinfo is None) != (tz is None):
        raise ValueError(
            f"`{name}` bound {value!r} and the events' timestamps must both carry a time zone "
            "or both not (give bounds like '2026-03-01T00:00Z')"
        )
    return ts


class _Counted:
    """Categorical values given as counts (one row a label and its count), e.g. an engine's value counts."""

    def __init__(self, values: pd.Series, weights: Any) -> None:
        w = pd.to_numeric(pd.Series(weights), errors="coerce").to_numpy(dtype=float)
        ok = values.notna().to_numpy() & np.isfinite(w) & (w > 0)
        s = pd.Series(w[ok], index=pd.Index(values[ok].astype(object).to_numpy(), dtype=object))
        self.counts = s.groupby(level=0, sort=False).sum().sort_values(ascending=False, kind="stable")

    def notna_sum(self) -> int:
        return int(round(self.counts.sum()))


def _counts_of(x: Any, name: str) -> pd.Series:
    if isinstance(x, _Counted):
        if x.counts.size == 0:
            raise ValueError(f"`{name}` has no values once missing values are dropped")
        return x.counts
    return _label_counts(x, name)


class _Prepared:
    """A reference sample prepared once for many window comparisons."""

    def __init__(self, test: str, ref: Any, bins: int = 10) -> None:
        self.test = test
        if isinstance(ref, _Counted):
            if test not in ("chi-square", "psi", "jensen-shannon"):
                raise ValueError(f"`weights` apply to categorical tests (chi-square, psi, jensen-shannon), not {test!r}")
            self.counts = _counts_of(ref, "reference")
            self.n = int(round(self.counts.sum()))
            return
        if test in ("ks", "wasserstein"):
            self.xs = np.sort(_numeric_sample(ref, "reference"))
            self.spread = _robust_spread(self.xs)
            self.n = self.xs.size
        elif test == "chi-square":
            self.counts = _label_counts(ref, "reference")
            self.n = int(self.counts.sum())
        elif test == "proportion":
            self.x, self.n = _bool_counts(ref)
            if self.n == 0:
                raise ValueError("`reference` has no values once missing values are dropped")
        elif test in ("psi", "jensen-shannon"):
            if _is_numeric_values(ref):
                xs = np.sort(_numeric_sample(ref, "reference"))
                self.inner = _quantile_edges(xs, bins)
                self.hist = _binned_counts(xs, self.inner)
                self.counts = None
                self.n = xs.size
            else:
                self.counts = _label_counts(ref, "reference")
                self.n = int(self.counts.sum())
        else:
            raise AssertionError(test)

    def compare(self, cur: pd.Series) -> tuple[float, float, float]:
        """(statistic, pvalue, effect); raises ValueError when ``cur`` has no values."""
        t = self.test
        if t == "ks":
            r = _ks_sorted(self.xs, np.sort(_numeric_sample(cur, "current")), spread=self.spread)
            return r.statistic, r.pvalue, r.effect
        if t == "wasserstein":
            ys = np.sort(_numeric_sample(cur, "current"))
            w = _normalise(_ecdf_compare(self.xs, ys).wasserstein, self.spread[0])
            return w, math.nan, w
        if t == "chi-square":
            labels, r_, c_ = _align_counts(self.counts, _counts_of(cur, "current"))
            r = _chi_square_from_counts(labels, r_, c_, 5.0)
            return r.statistic, r.pvalue, r.effect
        if t == "proportion":
            xb, nb = _bool_counts(cur)
            if nb == 0:
                raise ValueError("`current` has no values once missing values are dropped")
            r = proportion_test(self.x, self.n, xb, nb)
            return r.statistic, r.pvalue, r.effect
        # psi / jensen-shannon
        if self.counts is None:
            ref_h = self.hist
            cur_h = _binned_counts(_numeric_sample(cur, "current"), self.inner)
        else:
            _, ref_h, cur_h = _align_counts(self.counts, _counts_of(cur, "current"))
        p, q = ref_h / ref_h.sum(), cur_h / cur_h.sum()
        if t == "psi":
            v = float(np.sum(_psi_contributions(p, q)))
        else:
            v = _js_distance(p, q)
        return v, math.nan, v


_EFFECT_NAMES = {
    "ks": "wasserstein/spread",
    "wasserstein": "wasserstein/spread",
    "chi-square": "cramers_v_balanced",
    "proportion": "cohen_h",
    "psi": "psi",
    "jensen-shannon": "jensen-shannon",
}


def drift_scan(
    events: pd.DataFrame,
    column: str,
    *,
    reference: Any,
    window: str | pd.Timedelta,
    step: str | pd.Timedelta | None = None,
    test: str = "auto",
    ts_column: str = "ts",
    alpha: float = 0.05,
    effect_threshold: float | None = None,
    weights: str | None = None,
) -> DriftScanResult:
    """A drift test of one column in each time window against a reference period.

    Parameters
    ----------
    events
        Events with a timestamp column ``ts_column`` and ``column``.
    column
        The column to scan.
    reference
        ``(start, end)``: the reference is the events with ``start <= ts < end``; or a boolean
        mask (one value per row of ``events``). Bounds must be time-zone aware when the
        timestamps are.
    window, step
        Window length and the distance between window starts, as pandas durations (``"6h"``);
        ``step`` defaults to ``window`` (adjacent windows). Window starts are aligned to
        multiples of ``step`` since the Unix epoch and cover the first to the last event.
    test
        ``"auto"`` (``ks`` for numbers, ``chi-square`` for labels, ``proportion`` for booleans),
        or one of ``"ks"``, ``"chi-square"``, ``"proportion"``, ``"psi"``, ``"jensen-shannon"``,
        ``"wasserstein"`` (the last three are distances: no p-value).
    ts_column
        Name of the timestamp column.
    alpha
        False discovery rate; p-values are Benjamini-Hochberg adjusted across the windows.
    effect_threshold
        Effect a window needs to be ``drifted``; default from :data:`DEFAULT_EFFECT_THRESHOLDS`.
    weights
        A column of counts: each row stands for that many events with its value (an engine's
        value counts per window), for the categorical tests.

    Returns
    -------
    DriftScanResult
        ``frame`` with one row per window: ``window_start``, ``window_end``, ``n`` (non-missing
        values of the column), ``statistic``, ``pvalue`` (adjusted), ``pvalue_raw``, ``effect``,
        ``drifted`` (nullable boolean) and ``overlaps_reference``. Windows without values keep
        their row with missing numbers and ``drifted`` missing: an empty window is not "no
        drift". For tests with a p-value, ``drifted`` = ``pvalue <= alpha`` and
        ``|effect| >= effect_threshold``; for distances, ``effect >= effect_threshold``.

    Notes
    -----
    Each window is compared with the whole reference, which is prepared once (sorted, counted
    or binned). Windows inside the reference period are compared with a sample that contains
    them, so read them as a baseline, not as independent tests (``overlaps_reference``).
    The effects are those of :func:`drift_table` and do not depend on how much larger the
    reference is than a window.
    """
    if not isinstance(events, pd.DataFrame):
        raise ValueError(f"`events` must be a DataFrame, got {type(events).__name__}")
    for c, pname in ((ts_column, "ts_column"), (column, "column")):
        if c not in events.columns:
            raise ValueError(f"`{pname}` {c!r} is not a column of `events`")
    if test not in _SCAN_TESTS:
        raise ValueError(f"`test` must be one of {_SCAN_TESTS}, got {test!r}")
    alpha = _check_alpha(alpha)
    window_td = check_duration(window, "window")
    step_td = window_td if step is None else check_duration(step, "step")
    ts = events[ts_column]
    if not pd.api.types.is_datetime64_any_dtype(ts.dtype):
        raise ValueError(f"`ts_column` {ts_column!r} must hold timestamps, got dtype {ts.dtype}")
    tz = getattr(ts.dtype, "tz", None)
    values = events[column]

    if isinstance(reference, tuple) and len(reference) == 2:
        start = _as_bound(reference[0], tz, "reference")
        end = _as_bound(reference[1], tz, "reference")
        if not start < end:
            raise ValueError(f"`reference` must be (start, end) with start < end, got {reference!r}")
        ref_mask = ((ts >= start) & (ts < end)).fillna(False).to_numpy(dtype=bool)
        ref_bounds: tuple[pd.Timestamp, pd.Timestamp] | None = (start, end)
    else:
        ref_mask = np.asarray(reference)
        if ref_mask.dtype != bool or ref_mask.shape != (len(events),):
            raise ValueError(
                "`reference` must be a (start, end) pair of timestamps or a boolean mask with one "
                f"value per event ({len(events)}), got {type(reference).__name__}"
            )
        ref_bounds = None
    if weights is not None and weights not in events.columns:
        raise ValueError(f"`weights` {weights!r} is not a column of `events`")
    wts = events[weights] if weights is not None else None
    ref_values = values[ref_mask]
    if ref_values.notna().sum() == 0:
        raise ValueError("`reference` selects no events with a value in `column`")

    kind = _series_kind(values)
    if wts is not None and kind != "categorical":
        raise ValueError(f"`weights` apply to a categorical column, {column!r} is {kind}")
    if test == "auto":
        if kind not in ("numeric", "categorical", "boolean"):
            raise ValueError(f"`column` {column!r} has no automatic test (kind {kind}); pass `test`")
        test = _KIND_TEST[kind]
    elif test == "proportion" and kind != "boolean":
        raise ValueError(f"`test` 'proportion' needs a boolean column, {column!r} is {kind}")
    if effect_threshold is None:
        threshold = DEFAULT_EFFECT_THRESHOLDS[test]
    else:
        threshold = _resolve_thresholds(effect_threshold)[test]
    prepared = _Prepared(test, ref_values if wts is None else _Counted(ref_values, wts[ref_mask]))

    valid = ts.notna().to_numpy()
    t_ns = np.asarray(ts[valid].dt.as_unit("ns").array.asi8)  # UTC epoch ns when tz-aware
    vals = values[valid]
    in_ref = ref_mask[valid]
    order = np.argsort(t_ns, kind="stable")
    t_sorted = t_ns[order]
    vals = vals.iloc[order]
    in_ref = in_ref[order]
    w_sorted = wts[valid].iloc[order] if wts is not None else None

    starts: list[int] = []
    if t_sorted.size:
        step_ns, win_ns = step_td.value, window_td.value
        first = t_sorted[0] - (t_sorted[0] % step_ns)
        starts = list(range(int(first), int(t_sorted[-1]) + 1, int(step_ns)))
    else:
        win_ns = window_td.value
    recs = []
    for s0 in starts:
        lo = int(np.searchsorted(t_sorted, s0, side="left"))
        hi = int(np.searchsorted(t_sorted, s0 + win_ns, side="left"))
        chunk = vals.iloc[lo:hi]
        if w_sorted is not None:
            chunk = _Counted(chunk, w_sorted.iloc[lo:hi])
            n = chunk.notna_sum()
        else:
            n = int(chunk.notna().sum())
        stat = p = eff = math.nan
        if n > 0:
            stat, p, eff = prepared.compare(chunk)
        recs.append((s0, s0 + win_ns, n, stat, p, eff, bool(in_ref[lo:hi].any())))

    frame = pd.DataFrame(
        recs,
        columns=["window_start", "window_end", "n", "statistic", "pvalue_raw", "effect", "overlaps_reference"],
    )
    for c in ("window_start", "window_end"):
        frame[c] = pd.to_datetime(frame[c].astype("int64"), unit="ns", utc=tz is not None)
        if tz is not None:
            frame[c] = frame[c].dt.tz_convert(tz)
    frame = frame.astype({"n": "int64", "statistic": "float64", "pvalue_raw": "float64", "effect": "float64",
                          "overlaps_reference": "bool"})
    frame["pvalue"] = benjamini_hochberg(frame["pvalue_raw"].to_numpy(dtype=float)) if len(frame) else []
    eff_ok = frame["effect"].abs() >= threshold
    if test in ("psi", "jensen-shannon", "wasserstein"):
        drifted = eff_ok
    else:
        drifted = (frame["pvalue"] <= alpha) & eff_ok
    frame["drifted"] = pd.array(np.where(frame["n"] > 0, drifted, False), dtype="boolean")
    frame.loc[frame["n"] == 0, "drifted"] = pd.NA
    frame = frame[["window_start", "window_end", "n", "statistic", "pvalue", "pvalue_raw", "effect",
                   "drifted", "overlaps_reference"]]
    return DriftScanResult(
        frame=frame,
        column=str(column),
        test=test,
        effect_name=_EFFECT_NAMES[test],
        window=window_td,
        step=step_td,
        reference=ref_bounds,
        n_reference=int(prepared.n),
        alpha=alpha,
        effect_threshold=float(threshold),
        params={"ts_column": ts_column, "reference_kind": "period" if ref_bounds else "mask"},
    )
