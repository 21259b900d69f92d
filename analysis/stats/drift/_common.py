"""Small pieces shared by the drift tests: input checks, samples and counts, the ECDF comparison,
reference-quantile histograms and the effect thresholds.

Every name here is public to the package's modules (one test per module, as in ``scipy.stats``'s
``_common.py``); users import the tests from :mod:`analysis.stats.drift`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

__all__ = [
    "DEFAULT_EFFECT_THRESHOLDS",
    "ECDFCompare",
    "Histograms",
    "align_counts",
    "binned_counts",
    "check_bins",
    "ecdf_compare",
    "given_counts",
    "histograms",
    "is_numeric_values",
    "label_counts",
    "looks_like_counts",
    "normalise",
    "numeric_sample",
    "quantile_edges",
    "quantile_sorted",
    "resolve_thresholds",
    "robust_spread",
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

_IQR_TO_SIGMA = 2 * stats.norm.ppf(0.75)  # 1.3489795...: IQR of a standard normal


def check_bins(bins: int) -> int:
    """``bins`` as a positive int, or a ``ValueError`` naming it."""
    if isinstance(bins, (bool, np.bool_)) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"`bins` must be a positive integer, got {bins!r}")
    return int(bins)


def numeric_sample(x: ArrayLike, name: str) -> np.ndarray:
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


def is_numeric_values(x: Any) -> bool:
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


def label_counts(x: Any, name: str) -> pd.Series:
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


def given_counts(x: Any, name: str) -> pd.Series:
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


def looks_like_counts(x: Any) -> bool:
    """True for counts per label: a mapping, or a numeric Series indexed by labels."""
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


def align_counts(ref: pd.Series, cur: pd.Series) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """Union of labels (reference order first, then labels new in current) and aligned counts."""
    new = cur.index[~cur.index.isin(ref.index)]
    labels = ref.index.append(new)
    r = ref.reindex(labels, fill_value=0).to_numpy(dtype=np.int64)
    c = cur.reindex(labels, fill_value=0).to_numpy(dtype=np.int64)
    return labels.tolist(), r, c


# ----------------------------------------------------------------------------------------------
# Kolmogorov-Smirnov and Wasserstein on sorted samples
# ----------------------------------------------------------------------------------------------


def quantile_sorted(xs: np.ndarray, q: np.ndarray | float) -> np.ndarray:
    """``np.quantile(xs, q)`` (linear interpolation) for an already sorted array."""
    q = np.asarray(q, dtype=float)
    h = (xs.size - 1) * q
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, xs.size - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def robust_spread(xs: np.ndarray) -> tuple[float, str]:
    """IQR / 1.349 of a sorted sample, or its standard deviation when the IQR is zero."""
    q25, q75 = quantile_sorted(xs, np.array([0.25, 0.75]))
    spread = float(q75 - q25) / _IQR_TO_SIGMA
    if spread > 0:
        return spread, "iqr/1.349"
    sd = float(np.std(xs, ddof=1)) if xs.size > 1 else 0.0
    return sd, "std"


@dataclass(frozen=True)
class ECDFCompare:
    """Both one-sided KS distances, where they are reached, and the Wasserstein-1 distance."""

    d_plus: float  # max(F_ref - F_cur)
    d_minus: float  # max(F_cur - F_ref)
    loc_plus: float
    loc_minus: float
    wasserstein: float


def ecdf_compare(xs: np.ndarray, ys: np.ndarray) -> ECDFCompare:
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
    return ECDFCompare(d_plus, d_minus, float(se[i_max]), float(se[i_min]), w)


def normalise(raw: float, scale: float) -> float:
    """``raw / scale``; with ``scale == 0``: 0 when ``raw`` is 0, else ``inf``."""
    if scale > 0:
        # A tiny spread (subnormal) with a large shift overflows to inf, which is the right answer.
        with np.errstate(over="ignore"):
            return float(np.float64(raw) / np.float64(scale))
    return 0.0 if raw == 0 else math.inf


def quantile_edges(xs_sorted: np.ndarray, bins: int) -> np.ndarray:
    """Inner bin edges at the reference quantiles; ties collapse edges."""
    q = quantile_sorted(xs_sorted, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    inner = np.unique(q)
    return inner[inner > xs_sorted[0]]


def binned_counts(values: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Counts of ``values`` in the bins cut at the ``inner`` edges (outer bins open)."""
    idx = np.searchsorted(inner, values, side="right")
    return np.bincount(idx, minlength=inner.size + 1).astype(np.int64)


@dataclass(frozen=True)
class Histograms:
    """Counts per bin of the reference and the current sample, and how the bins were cut."""

    kind: str
    ref: np.ndarray
    cur: np.ndarray
    edges: tuple[float, ...] | None
    categories: tuple[Any, ...] | None
    note: str


def histograms(reference: Any, current: Any, bins: int) -> Histograms:
    """Aligned histograms of two samples: reference-quantile bins for numbers, categories for labels."""
    ref_num, cur_num = is_numeric_values(reference), is_numeric_values(current)
    if ref_num != cur_num:
        raise ValueError(
            "`reference` and `current` must both be numeric or both categorical, got "
            f"{'numeric' if ref_num else 'categorical'} and {'numeric' if cur_num else 'categorical'}"
        )
    if ref_num:
        xs = np.sort(numeric_sample(reference, "reference"))
        ys = numeric_sample(current, "current")
        inner = quantile_edges(xs, bins)
        note = ""
        if inner.size != bins - 1:
            note = f"ties in the reference leave {inner.size + 1} bins of {bins}"
        return Histograms(
            "numeric",
            binned_counts(xs, inner),
            binned_counts(ys, inner),
            (-math.inf, *map(float, inner), math.inf),
            None,
            note,
        )
    labels, r, c = align_counts(label_counts(reference, "reference"), label_counts(current, "current"))
    return Histograms("categorical", r, c, None, tuple(labels), "")


def resolve_thresholds(effect_threshold: float | Mapping[str, float] | None) -> dict[str, float]:
    """Effect thresholds per test: the defaults, one number for all, or a dict overriding some."""
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
