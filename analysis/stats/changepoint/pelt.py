"""Exact PELT with ruptures' pruning rule, block-vectorised in numpy.

PELT here reproduces ruptures' ``Pelt(model=..., jump=1, min_size=...)`` exactly -- including its
pruning rule, which with ``min_size > 1`` can discard a candidate that would have been optimal
fewer than ``min_size`` steps later, so the segmentation can cost more than the global optimum.
In a check on random signals (n 20-400, ``min_size`` 2-10, 1,600 per penalty) that happened in
32% of the signals at penalty 1, 5% at penalty 5 and 0.5% at 3 ln n.
It runs block-vectorised in numpy: steps are handled ``block`` at a time as a fixed point of the
PELT recursion, and candidates whose lower bound shows they cannot be the minimiser in a block are
skipped (their pruning status is settled exactly when they become competitive again).

References
----------
Killick, R., Fearnhead, P. and Eckley, I. A. (2012). Optimal detection of changepoints with a
linear computational cost. JASA 107(500), 1590-1598.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pelt"]


def _solve_block(cost, F: np.ndarray, s0: int, s1: int, cand: np.ndarray, k_known: int, pen: float, m: int):
    """PELT recursion over steps ``s0 .. s1-1`` as a fixed point, for candidates ``cand``.

    ``cand`` is sorted; ``F`` is known for the first ``k_known`` candidates, the others start inside
    the block. The value of step ``s`` depends only on values of earlier steps, so iterating from
    any guess reaches the exact values in at most ``s1 - s0`` rounds (nearly always 1 or 2).
    Returns the values, the arg-min row per step, which rows were pruned, the last column.
    """
    B = s1 - s0
    steps = np.arange(s0, s1)
    adm = (cand[:, None] + m) <= steps[None, :]
    C = cost.cost(cand[:, None], steps[None, :])
    C += pen
    Fc = np.empty(cand.size)
    Fc[:k_known] = F[cand[:k_known]]
    if k_known:
        Vk = Fc[:k_known, None] + C[:k_known]
        Vk[~adm[:k_known]] = np.inf
        guess = Vk.min(axis=0)
    else:
        guess = np.full(B, np.inf)
    cols = np.arange(B)
    unknown = cand[k_known:] - s0
    rounds = 0
    while True:
        rounds += 1
        Fc[k_known:] = guess[unknown]
        # ruptures sums values in this order: F[t] + (cost + pen).
        V = Fc[:, None] + C
        V[~adm] = np.inf
        # ruptures' rule: after step s keep t only if F[t] + c(t, s) + pen <= F[s] + pen.
        prune = V > (guess + pen)[None, :]
        prune &= adm
        anyp = prune.any(axis=1)
        first = np.where(anyp, prune.argmax(axis=1), B)
        V[cols[None, :] > first[:, None]] = np.inf
        arg = V.argmin(axis=0)  # first minimum: the earliest candidate, as ruptures' min()
        Fn = V[arg, cols]
        if np.array_equal(Fn, guess):
            return guess, arg, anyp, V[:, -1], rounds
        guess = Fn


def pelt(cost, n: int, pen: float, m: int, block: int = 64, max_block: int = 128) -> list[int]:
    """Change points (segment starts, 0-based) of PELT with ruptures' pruning rule.

    Steps ``s`` (ends of the prefix ``y[:s]``) run from ``m`` to ``n``; candidate ``t`` (the start
    of the last segment) enters at step ``t + m`` and is dropped by ruptures' rule the first time
    ``F[t] + c(t, s) + pen > F[s] + pen``.

    Speed-up without changing the result: a candidate admitted before a block, whose lower bound
    ``V[t, r] + c(r, s0) + c(s0, s)`` (from ``c(t, s) >= c(t, r) + c(r, s0) + c(s0, s)``, true of
    every maximum-likelihood cost) exceeds ``F[s]`` at every step of the block, cannot be the
    minimiser there, so it sits in a "group" and is not evaluated. Whether ruptures' rule would have
    pruned it meanwhile matters only if it becomes a minimiser again; its row is checked then, and
    the block solved again without it if the rule had dropped it.
    """
    F = np.empty(n + 1)
    F[0] = 0.0
    P = np.zeros(n + 1, dtype=np.int64)
    # First step at which ruptures' rule was not checked for a candidate (n + 1: checked always).
    unchecked = np.full(n + 1, n + 1, dtype=np.int64)
    active = np.zeros(0, dtype=np.int64)
    g_r: list[int] = []
    g_minv: list[float] = []
    g_mem: list[np.ndarray] = []
    demote = 0.5 * pen
    s0 = m
    while s0 <= n:
        s1 = min(s0 + block, n + 1)
        lo = max(s0 - m, 0)
        new = np.arange(lo, s1 - m, dtype=np.int64)
        if m > 1 and lo < m:
            new = new[(new == 0) | (new >= m)]
        while True:
            cand = np.concatenate([active, new])
            k_known = int(np.searchsorted(cand, s0))
            vals, arg, pruned, vlast, rounds = _solve_block(cost, F, s0, s1, cand, k_known, pen, m)
            # A minimiser must have survived ruptures' rule at the steps it spent in a group.
            winners = np.unique(cand[arg])
            doubt = winners[unchecked[winners] < s0]
            if doubt.size:
                ok = _never_pruned(cost, F, doubt, unchecked[doubt], s0, pen)
                unchecked[doubt[ok]] = n + 1
                if not ok.all():
                    active = np.setdiff1d(active, doubt[~ok])
                    continue
            woken = _wake_groups(cost, F, vals, s0, s1, pen, (g_r, g_minv, g_mem))
            if woken is None:
                break
            active = np.sort(np.concatenate([active, woken]))
        F[s0:s1] = vals
        P[s0:s1] = cand[arg]
        keep = ~pruned
        last = s1 - 1
        idle = keep & (vlast > F[last] + demote)
        if idle.any():
            d = cand[idle]
            g_r.append(last)
            g_minv.append(float(vlast[idle].min()))
            g_mem.append(d)
            unchecked[d] = np.minimum(unchecked[d], last + 1)
        active = cand[keep & ~idle]
        # Many fixed-point rounds mean many changes inside the block: use shorter blocks there.
        block = max(16, block // 2) if rounds > 3 else min(max_block, block * 2) if rounds == 1 else block
        s0 = s1
    return backtrack(P, n)


def _wake_groups(cost, F: np.ndarray, vals: np.ndarray, s0: int, s1: int, pen: float, groups) -> np.ndarray | None:
    """Candidates of the groups whose lower bound can reach the block's values: they compete again.

    ``groups`` is ``(g_r, g_minv, g_mem)``, the lists of :func:`pelt` (the step a group was
    formed at, its smallest value there, its members), updated in place: a group that fails the
    bound at ``s0`` is dissolved, its members pruned by ruptures' rule at ``s0 - 1`` dropped, the
    ones still out of reach regrouped at ``s0 - 1``. ``None`` when no candidate wakes.
    """
    g_r, g_minv, g_mem = groups
    if not g_r:
        return None
    steps = np.arange(s0, s1)
    c_blk = cost.cost(np.full(steps.size, s0), steps)
    c_blk[0] = 0.0  # empty segment
    g = float(np.max(vals - c_blk))
    thr = g + 1e-9 * (1.0 + abs(g))  # rounding margin: err on the side of evaluating
    r_arr = np.asarray(g_r, dtype=np.int64)
    lb = np.asarray(g_minv) + cost.cost(r_arr, np.full(r_arr.size, s0))
    fail = np.flatnonzero(lb <= thr)
    if fail.size == 0:
        return None
    mem = np.concatenate([g_mem[i] for i in fail])
    for i in fail[::-1]:
        del g_r[i], g_minv[i], g_mem[i]
    r2 = s0 - 1
    vm = F[mem] + (cost.cost(mem, np.full(mem.size, r2)) + pen)
    alive = vm <= F[r2] + pen  # otherwise pruned at r2 (if not before)
    mem, vm = mem[alive], vm[alive]
    c1 = float(cost.cost(np.array([r2]), np.array([s0]))[0])
    wake = vm + c1 <= thr
    if (~wake).any():
        g_r.append(r2)
        g_minv.append(float(vm[~wake].min()))
        g_mem.append(mem[~wake])
    if not wake.any():
        return None
    return mem[wake]


def backtrack(P: np.ndarray, n: int) -> list[int]:
    """The change points (segment starts) from the last-segment starts ``P[s]`` of every prefix."""
    out = []
    s = n
    while s > 0:
        t = int(P[s])
        if t > 0:
            out.append(t)
        s = t
    return out[::-1]


def _never_pruned(cost, F: np.ndarray, ts: np.ndarray, a: np.ndarray, b: int, pen: float) -> np.ndarray:
    """Whether ruptures' rule kept each candidate ``ts[i]`` at every step in ``[a[i], b)``."""
    lens = np.maximum(b - a, 0)
    ok = np.ones(ts.size, dtype=bool)
    todo = np.flatnonzero(lens > 0)
    if not todo.size:
        return ok
    # Ragged rows flattened, in chunks of about a million evaluations.
    n_chunks = int(lens[todo].sum() // 1_000_000) + 1
    for chunk in np.array_split(todo, n_chunks):
        if not chunk.size:
            continue
        ln = lens[chunk]
        rows = np.repeat(np.arange(chunk.size), ln)
        offs = np.arange(int(ln.sum())) - np.repeat(np.cumsum(ln) - ln, ln)
        ss = a[chunk][rows] + offs
        tt = ts[chunk][rows]
        bad = F[tt] + (cost.cost(tt, ss) + pen) > F[ss] + pen
        ok[chunk] = np.bincount(rows, weights=bad, minlength=chunk.size) == 0
    return ok


