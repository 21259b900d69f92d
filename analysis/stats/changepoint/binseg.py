"""Binary segmentation: split where the cost drops most, while the drop beats the penalty.

References
----------
Scott, A. J. and Knott, M. (1974). A cluster analysis method for grouping means in the analysis of
variance. Biometrics 30(3), 507-512. Truong, C., Oudre, L. and Vayatis, N. (2020). Selective
review of offline change point detection methods. Signal Processing 167 (ruptures).
"""

from __future__ import annotations

import numpy as np

__all__ = ["binseg"]


def _best_split(cost, start: int, end: int, m: int) -> tuple[int | None, float]:
    """Best split of ``[start, end)`` as in ruptures' ``Binseg.single_bkp`` (ties: the later index)."""
    cand = np.arange(start + m, end - m + 1)
    if cand.size == 0:
        return None, 0.0
    whole = float(cost.cost(np.array([start]), np.array([end]))[0])
    gain = whole - cost.cost(np.full(cand.size, start), cand) - cost.cost(cand, np.full(cand.size, end))
    best = gain.max()
    i = int(np.flatnonzero(gain == best)[-1])
    return int(cand[i]), float(best)


def binseg(cost, n: int, pen: float, m: int, max_changes: int | None) -> list[int]:
    """Greedy binary segmentation with ruptures' ``Binseg`` choices (jump=1).

    Each round splits, among all current segments, the one whose best split gains most (the
    leftmost on ties); it stops when that gain is not above ``pen`` or after ``max_changes``.
    """
    bkps = [n]
    cache: dict[tuple[int, int], tuple[int | None, float]] = {}
    while max_changes is None or len(bkps) - 1 < max_changes:
        best: tuple[int | None, float] | None = None
        for a, b in zip([0] + bkps[:-1], bkps):
            if (a, b) not in cache:
                cache[(a, b)] = _best_split(cost, a, b, m)
            if best is None or cache[(a, b)][1] > best[1]:
                best = cache[(a, b)]
        bkp, gain = best
        if bkp is None or not gain > pen:
            break
        bkps = sorted(bkps + [bkp])
    return bkps[:-1]


