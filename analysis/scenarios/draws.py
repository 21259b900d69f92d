"""Small seeded draws shared by the generators: categorical choices, version columns, ids,
users and their sessions, latencies."""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import pandas as pd

from .base import NS_DAY

# Per pattern: (minimum, events per user) of the user population.
_USER_POOL = {"retrieval": (200, 60), "refusal": (500, 6), "escalation": (300, 5)}


def choice(rng: np.random.Generator, values: Sequence[str], p: Sequence[float], n: int) -> np.ndarray:
    """``n`` values drawn from ``values`` with probabilities ``p`` (normalised)."""
    p = np.asarray(p, dtype=float)
    return np.asarray(values, dtype=object)[rng.choice(len(values), size=n, p=p / p.sum())]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def step_version(ts: np.ndarray, steps: Sequence[tuple[pd.Timestamp, str]], initial: str) -> np.ndarray:
    """A version column that takes ``value`` from each ``(ts, value)`` on."""
    out = np.full(len(ts), initial, dtype=object)
    for when, value in sorted(steps, key=lambda x: x[0]):
        out[ts >= when.value] = value
    return out


def pick(rng: np.random.Generator, pool: Sequence[str], n: int) -> np.ndarray:
    """``n`` values drawn uniformly from ``pool``."""
    return np.asarray(pool, dtype=object)[rng.integers(0, len(pool), size=n)]

def make_ids(prefix: str, n: int, start: int = 0) -> np.ndarray:
    """``n`` ids ``<prefix>-0000000`` numbered from ``start``."""
    return np.array([f"{prefix}-{i:07d}" for i in range(start, start + n)], dtype=object)


@functools.lru_cache(maxsize=4)
def user_perm(pool: int) -> np.ndarray:
    """The fixed permutation of user numbers of a population of ``pool`` users."""
    # Cached: the chunked writer asks for the same (large) pool once per chunk.
    perm = np.random.default_rng(pool).permutation(pool)
    perm.setflags(write=False)
    return perm


def user_pool(pattern: str, n: int) -> int:
    """Size of the user population for ``n`` events (a few heavy users, a long tail)."""
    floor, per_user = _USER_POOL[pattern]
    return max(floor, n // per_user)


def draw_users(rng: np.random.Generator, n: int, prefix: str, pool: int) -> np.ndarray:
    """``n`` user ids of a population of ``pool`` with Zipf-like activity."""
    # Zipf-like activity: a few heavy users, a long tail.
    ranks = np.minimum(rng.zipf(1.3, size=n), pool) - 1
    perm = user_perm(pool)
    # Format each distinct user once (heavy users repeat).
    uniq, inverse = np.unique(ranks, return_inverse=True)
    names = np.array([f"{prefix}{perm[r]:05d}" for r in uniq], dtype=object)
    return names[inverse.reshape(-1)]


def sessions_of(users: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """One session per user and UTC day: ``<user>-<day number mod 100000>`` (``None`` for no user)."""
    day = np.asarray(ts, dtype=np.int64) // NS_DAY
    out = np.full(len(day), None, dtype=object)
    if not len(day):
        return out
    codes, uniq = pd.factorize(np.asarray(users, dtype=object), use_na_sentinel=True)
    has = codes >= 0
    d0 = int(day.min())
    span = int(day.max()) - d0 + 1
    # Format each distinct (user, day) once.
    pairs, inverse = np.unique(codes[has].astype(np.int64) * span + (day[has] - d0), return_inverse=True)
    names = np.array([f"{uniq[k // span]}-{(k % span + d0) % 100000:05d}" for k in pairs.tolist()], dtype=object)
    out[has] = names[inverse.reshape(-1)]
    return out


def lognormal_latency(rng: np.random.Generator, base: np.ndarray, sigma: float = 0.25) -> np.ndarray:
    """Latencies in ms: ``base`` times a lognormal factor, to 0.1 ms."""
    return np.round(base * rng.lognormal(0.0, sigma, size=len(base)), 1)


def masked_bool(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Booleans as objects, ``None`` where ``missing``."""
    out = np.asarray(values, dtype=object).copy()
    out[missing] = None
    return out
