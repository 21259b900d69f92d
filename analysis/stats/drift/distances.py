"""Distances between two samples without a p-value: Jensen-Shannon and Wasserstein-1."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from analysis.stats.drift._common import (
    check_bins,
    ecdf_compare,
    histograms,
    normalise,
    numeric_sample,
    robust_spread,
)

__all__ = ["DistanceResult", "jensen_shannon", "wasserstein", "js_distance"]


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


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2) of two share vectors; see :func:`jensen_shannon`."""
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
    bins = check_bins(bins)
    h = histograms(reference, current, bins)
    d = js_distance(h.ref / h.ref.sum(), h.cur / h.cur.sum())
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
    xs = np.sort(numeric_sample(reference, "reference"))
    ys = np.sort(numeric_sample(current, "current"))
    raw = ecdf_compare(xs, ys).wasserstein
    scale, how = robust_spread(xs)
    return DistanceResult(
        statistic=normalise(raw, scale),
        method="wasserstein",
        raw=raw,
        scale=scale,
        scale_method=how,
        n_reference=int(xs.size),
        n_current=int(ys.size),
    )
