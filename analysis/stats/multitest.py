"""Multiple testing: Benjamini-Hochberg (false discovery rate) and Holm (family-wise error).

Both take p-values with missing entries (NaN), which stay NaN and do not count among the
hypotheses: a segment without data is not a test.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from statsmodels.stats.multitest import multipletests

__all__ = ["benjamini_hochberg", "holm"]


def benjamini_hochberg(pvalues: ArrayLike) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate).

    Missing p-values (NaN) stay NaN and do not count among the hypotheses.

    Notes
    -----
    For the sorted p-values :math:`p_{(1)} \\le \\dots \\le p_{(m)}`:

    .. math:: \\tilde p_{(i)} = \\min\\Big(1, \\min_{j \\ge i} \\frac{m}{j} p_{(j)}\\Big)

    Reject every hypothesis with :math:`\\tilde p \\le \\alpha`. Computed by statsmodels
    ``multipletests(p, method="fdr_bh")[1]`` on the non-missing p-values.

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
    if ok.any():
        out[ok] = multipletests(p[ok], method="fdr_bh")[1]
    return out


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN entries are left out and stay NaN).

    Notes
    -----
    For the sorted p-values :math:`p_{(1)} \\le \\dots \\le p_{(m)}`:

    .. math:: \\tilde p_{(i)} = \\min\\Big(1, \\max_{j \\le i} (m - j + 1) p_{(j)}\\Big)

    The same values as statsmodels ``multipletests(p, method="holm")[1]`` (equal to the last bit
    on random inputs), computed here because statsmodels 0.15 runs ``gc.collect()`` on every
    Holm call: 60-80 ms a call whatever the number of p-values (measured on 5, 100 and 10,000
    p-values), against 6-50 us for these lines, and the scope step adjusts once per metric and
    drill-down.

    References
    ----------
    Holm, S. (1979). A simple sequentially rejective multiple test procedure. Scand. J. Statist. 6, 65-70.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return out
    q = p[ok]
    order = np.argsort(q, kind="stable")
    adj = np.maximum.accumulate((m - np.arange(m)) * q[order])
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out
