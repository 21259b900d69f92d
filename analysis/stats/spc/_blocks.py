"""The block machinery shared by the vectorised charts: charts run on the observed points only,
chunk by chunk (:data:`CHUNK`), and with ``reset=True`` in blocks that double until one holds an
alarm; the paths are then mapped back onto every position.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = [
    "CHUNK",
    "FIRST_BLOCK",
    "scan_with_reset",
    "collect",
    "expand",
    "observed_points",
    "orig_index",
    "sides",
]


# Chunk length of the vectorised CUSUM: bounds the magnitude of the running sums (and so their
# rounding error) whatever the series length, at ~150 numpy calls for 10 million points.
CHUNK = 1 << 16
# First block length after a restart when ``reset=True``; doubled until an alarm is found.
FIRST_BLOCK = 256

def scan_with_reset(
    n: int,
    block_fn: Callable[[int, int, Any], tuple[np.ndarray, Any]],
    restart_state: Callable[[int], Any],
    init_state: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Run a chart that restarts after each alarm, a block at a time (no loop over points).

    ``block_fn(start, stop, state) -> (code, end_state)`` computes the chart over ``[start, stop)``
    from ``state``, writes its paths and returns an alarm code per point (0: none, 1: upper,
    2: lower, 3: both). Blocks double in length until one holds an alarm; the chart then restarts
    from ``restart_state(alarm_index)`` just after the alarm (what was written past the alarm is
    overwritten by the next blocks). Returns the alarm indices and codes.
    """
    alarms: list[int] = []
    codes: list[int] = []
    pos, state, block = 0, init_state, FIRST_BLOCK
    while pos < n:
        stop = min(n, pos + block)
        code, end_state = block_fn(pos, stop, state)
        hit = np.flatnonzero(code)
        if hit.size == 0:
            pos, state, block = stop, end_state, min(2 * block, CHUNK)
        else:
            j = pos + int(hit[0])
            alarms.append(j)
            codes.append(int(code[hit[0]]))
            # the next gap is likely similar to this one
            pos, state, block = j + 1, restart_state(j), max(FIRST_BLOCK, min(2 * (j + 1 - pos), CHUNK))
    return np.asarray(alarms, dtype=np.int64), np.asarray(codes, dtype=np.int8)


def collect(m: int, block_fn: Callable[[int, int, Any], tuple[np.ndarray, Any]], init_state: Any
             ) -> tuple[np.ndarray, np.ndarray]:
    """Run a chart without restarts chunk by chunk; returns the alarm indices and codes."""
    idx, codes = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int8)]
    st = init_state
    for a in range(0, m, CHUNK):
        code, st = block_fn(a, min(m, a + CHUNK), st)
        hit = np.flatnonzero(code)
        idx.append(hit + a)
        codes.append(code[hit])
    return np.concatenate(idx), np.concatenate(codes)

def expand(comp: np.ndarray, observed: np.ndarray | None, init: float | int) -> np.ndarray:
    """Map a path on the observed points back onto all positions, carrying values over gaps."""
    if observed is None:
        return comp
    pos = np.cumsum(observed) - 1
    out = np.full(observed.size, init, dtype=comp.dtype)
    has = pos >= 0
    out[has] = comp[pos[has]]
    return out


def observed_points(x: np.ndarray) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """(mask or None when nothing is missing, compressed values, original index or None)."""
    miss = np.isnan(x)
    if not miss.any():
        return None, x, None
    obs = ~miss
    return obs, x[obs], np.flatnonzero(obs)


def orig_index(idx: np.ndarray, orig_idx: np.ndarray | None) -> np.ndarray:
    """Positions among the observed points mapped back to positions in the input."""
    return idx if orig_idx is None else orig_idx[idx]


def sides(up: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """``upper``, ``lower`` or ``both`` per alarm, from the two sides' alarm flags."""
    out = np.where(up & lo, "both", np.where(up, "upper", "lower"))
    return out.astype("<U5")
