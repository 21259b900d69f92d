"""Kernel two-sample test (MMD, RBF kernel, permutation p-value) on embeddings."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = ["EmbeddingDriftResult", "embedding_drift"]


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
    _check_sampling(n_permutations, max_sample)
    x = _embedding_matrix(reference, "reference")
    y = _embedding_matrix(current, "current")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"`reference` and `current` must have the same dimension, got {x.shape[1]} and {y.shape[1]}"
        )
    rng = np.random.default_rng(seed)
    centroid = _cosine_distance(x.mean(axis=0), y.mean(axis=0))
    m_total, n_total = x.shape[0], y.shape[0]
    x = _subsample(x, max_sample, rng)
    y = _subsample(y, max_sample, rng)
    m, n = x.shape[0], y.shape[0]
    stat, pvalue, bandwidth = _mmd_permutation_test(x, y, n_permutations, rng)
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


def _check_sampling(n_permutations: Any, max_sample: Any) -> None:
    """Check ``n_permutations`` (a positive integer) and ``max_sample`` (an integer >= 2 or None)."""
    if (
        isinstance(n_permutations, bool)
        or not isinstance(n_permutations, (int, np.integer))
        or n_permutations < 1
    ):
        raise ValueError(f"`n_permutations` must be a positive integer, got {n_permutations!r}")
    if max_sample is not None and (not isinstance(max_sample, (int, np.integer)) or max_sample < 2):
        raise ValueError(f"`max_sample` must be an integer >= 2 or None, got {max_sample!r}")


def _subsample(x: np.ndarray, max_sample: int | None, rng: np.random.Generator) -> np.ndarray:
    """At most ``max_sample`` rows of ``x``, drawn without replacement and kept in order."""
    if max_sample is not None and x.shape[0] > max_sample:
        return x[np.sort(rng.choice(x.shape[0], max_sample, replace=False))]
    return x


def _squared_distances(z: np.ndarray) -> tuple[np.ndarray, float]:
    """Pairwise squared Euclidean distances of the rows of ``z`` and the median-heuristic bandwidth."""
    sq = np.einsum("ij,ij->i", z, z)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (z @ z.T), 0.0)
    np.fill_diagonal(d2, 0.0)
    dists = np.sqrt(d2[np.triu_indices(z.shape[0], k=1)])
    bandwidth = float(np.median(dists))
    if bandwidth == 0.0:
        positive = dists[dists > 0]
        bandwidth = float(positive.mean()) if positive.size else 0.0
    return d2, bandwidth


def _mmd_permutation_test(
    x: np.ndarray, y: np.ndarray, n_permutations: int, rng: np.random.Generator
) -> tuple[float, float, float]:
    """Unbiased MMD^2 of ``x`` against ``y``, its permutation p-value and the kernel bandwidth."""
    m, n = x.shape[0], y.shape[0]
    d2, bandwidth = _squared_distances(np.vstack([x, y]))
    if bandwidth == 0.0:
        # Every vector is the same: no discrepancy to find.
        return 0.0, 1.0, bandwidth
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
    return stat, pvalue, bandwidth


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
