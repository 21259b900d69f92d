"""Population stability index of a current sample against a reference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.stats.drift._common import check_bins, histograms

__all__ = ["PSI_EPSILON", "PSIResult", "psi", "psi_contributions"]

#: Shares below this are raised to it before PSI takes logarithms (empty bins stay finite).
PSI_EPSILON = 1e-4


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


def psi_contributions(r: np.ndarray, c: np.ndarray) -> np.ndarray:
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
    bins = check_bins(bins)
    h = histograms(reference, current, bins)
    r = h.ref / h.ref.sum()
    c = h.cur / h.cur.sum()
    contrib = psi_contributions(r, c)
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
