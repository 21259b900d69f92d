"""Texts: sentence templates filled per row, and the fake personal data a few prompts carry."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .draws import pick


_FIRST = ("jane", "omar", "li", "maria", "sam", "priya", "tom", "ana", "kofi", "eva", "raj", "nina")
_LAST = ("doe", "haddad", "chen", "rossi", "okafor", "patel", "berg", "silva", "mensah", "novak", "iyer", "walsh")


def _pii_sentences(rng: np.random.Generator, n: int, keep: np.ndarray | None = None) -> np.ndarray:
    """Fake personal data (reserved example.com addresses, 555-01xx numbers).

    Draws for all ``n`` rows; only the rows in the boolean ``keep`` (default: all) are written,
    the others stay ``None``.
    """
    first = pick(rng, _FIRST, n)
    last = pick(rng, _LAST, n)
    kind = rng.integers(0, 4, size=n)
    num = rng.integers(0, 100, size=n)
    area = pick(rng, ("212", "415", "312", "617", "206"), n)
    out = np.empty(n, dtype=object)
    for i in range(n) if keep is None else np.flatnonzero(keep):
        if kind[i] == 0:
            out[i] = f"My email is {first[i]}.{last[i]}@example.com."
        elif kind[i] == 1:
            out[i] = f"You can call me at ({area[i]}) 555-01{num[i]:02d}."
        elif kind[i] == 2:
            out[i] = f"Reply to {first[i]}{num[i]}@example.org or text +1 {area[i]} 555 01{num[i]:02d}."
        else:
            out[i] = f"I'm {first[i].title()} {last[i].title()}, {first[i][0]}.{last[i]}@example.net."
    return out


def fill_templates(templates: Sequence[str], idx: np.ndarray, slots: Mapping[str, np.ndarray]) -> np.ndarray:
    """Format ``templates[idx[i]]`` with the i-th value of every slot array."""
    n = len(idx)
    out = np.empty(n, dtype=object)
    keys = list(slots)
    cols = [slots[k] for k in keys]
    for i in range(n):
        out[i] = templates[idx[i]].format(**{k: c[i] for k, c in zip(keys, cols)})
    return out


def pii_draws(rng: np.random.Generator, n: int, share: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``n`` rows carry personal data (a ``share``), and the sentence of each of them."""
    has = rng.random(n) < share
    return has, _pii_sentences(rng, n, keep=has)


def with_pii(rng: np.random.Generator, text: np.ndarray, share: float = 0.03) -> np.ndarray:
    """``text`` with a fake personal-data sentence appended to a ``share`` of the rows."""
    has, pii = pii_draws(rng, len(text), share)
    out = text.copy()
    out[has] = [f"{t} {p}" for t, p in zip(text[has], pii[has])]
    return out
