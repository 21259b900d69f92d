"""The wording of the generated texts: phrases built from small grammars, boilerplate, typos.

A text is written the way users and assistants write, not filled into a fixed sentence:

* a **grammar** (a dict of named phrase lists) expands a template such as
  ``"{have} {chest} {spread?}. {ask}"``: every ``{name}`` is replaced by one of ``grammar[name]``
  (itself expanded, so phrases nest), ``{name?}`` by one of them half of the time and by nothing
  otherwise. A segment's wording is many such templates over shared phrase lists, so no single
  sentence stands for a segment or an outcome;
* per cell (a segment, an outcome) a **pool** of phrasings is expanded once per call and the rows
  draw from it (fast at any volume, and as repetitive as real traffic: people ask the same
  things in the same few words);
* **boilerplate** shared by every segment (greetings, "thanks in advance", "sent from my
  phone", signatures) and **roughness** (lowercase messages without punctuation, typos: swapped,
  dropped and doubled letters) are added per row at rates that do not depend on the segment.

Every draw comes from the text stream (:func:`text_rng`), never from the generator's main stream,
so the non-text columns of a case do not depend on its wording.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np

#: The third key of the text stream's seed (``default_rng([seed, code, TEXT_STREAM, id0])``).
TEXT_STREAM = 0x7E47
_SLOT = re.compile(r"\{(\w+)(\??)\}")

Grammar = Mapping[str, Sequence[str]]


def text_rng(seed: int, code: int, id0: int = 0) -> np.random.Generator:
    """The text stream of one case (``code``) or one time slice of it (``id0``, its first event)."""
    return np.random.default_rng([int(seed), int(code), TEXT_STREAM, int(id0)])


def expand(rng: np.random.Generator, template: str, grammar: Grammar, depth: int = 0) -> str:
    """One expansion of ``template`` (see the module's docstring); whitespace tidied."""
    if depth > 8:
        raise ValueError(f"grammar nests too deep at {template!r}")

    def one(m: re.Match[str]) -> str:
        name, optional = m.group(1), m.group(2)
        if optional and rng.random() < 0.5:
            return ""
        options = grammar[name]
        return expand(rng, options[int(rng.integers(len(options)))], grammar, depth + 1)

    out = _SLOT.sub(one, template)
    return tidy(out) if depth == 0 else out


def tidy(text: str) -> str:
    """Collapse the spaces an empty optional slot leaves and those before punctuation; a capital after a full stop."""
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" ([,.?!:;])", r"\1", text)
    text = re.sub(r"\n ", "\n", text)
    text = re.sub(r"([.?!] )([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)
    return text.strip()


def capitalise(text: str) -> str:
    """``text`` with its first letter upper case (a tool call, ``[...]``, as it is)."""
    if text.startswith("["):
        return text
    for i, ch in enumerate(text):
        if ch.isalpha():
            return text[:i] + ch.upper() + text[i + 1:]
    return text


def pool(rng: np.random.Generator, templates: Sequence[str], grammar: Grammar, k: int) -> np.ndarray:
    """``k`` expansions of templates drawn uniformly (duplicates kept: the pool's own frequencies)."""
    idx = rng.integers(0, len(templates), size=k)
    return np.array([capitalise(expand(rng, templates[i], grammar)) for i in idx], dtype=object)


def pool_size(n: int, cap: int = 100) -> int:
    """Phrasings expanded for a cell of ``n`` rows: about one per two rows, at least 12, at most ``cap``."""
    return int(min(cap, max(12, n // 2)))


def fill_cells(rng: np.random.Generator, out: np.ndarray, cells: np.ndarray, banks: Mapping[str, tuple[Sequence[str], Grammar]],
               cap: int = 100) -> None:
    """Write into ``out`` each row's phrasing: ``cells`` holds the key (a string) of each row's bank.

    Rows whose key has no bank are left as they are. Each bank is ``(templates, grammar)``; its
    rows draw from one :func:`pool` of :func:`pool_size` phrasings.
    """
    keys = np.asarray(cells, dtype=object)
    for key in sorted({str(c) for c in keys.tolist() if c in banks}):
        sel = np.flatnonzero(keys == key)
        templates, grammar = banks[key]
        phr = pool(rng, templates, grammar, pool_size(len(sel), cap))
        out[sel] = phr[rng.integers(0, len(phr), size=len(sel))]


def fill_markers(texts: np.ndarray, values: Mapping[str, np.ndarray]) -> np.ndarray:
    """``texts`` with each marker (``"#ORDER#"``, ...) replaced by the row's value."""
    out = texts.copy()
    for i, t in enumerate(out.tolist()):
        if isinstance(t, str) and "#" in t:
            for marker, vals in values.items():
                t = t.replace(marker, str(vals[i]))
            out[i] = t
    return out


def sometimes(rng: np.random.Generator, options: Sequence[str], n: int, p: float) -> np.ndarray:
    """Per row one of ``options`` with probability ``p``, else ``""``."""
    on = rng.random(n) < p
    pick = np.asarray(options, dtype=object)[rng.integers(0, len(options), size=n)]
    return np.where(on, pick, "").astype(object)


def join_rows(*parts: np.ndarray, sep: str = " ") -> np.ndarray:
    """Row-wise join of the non-empty strings of ``parts``."""
    return np.array([sep.join(x for x in row if x) for row in zip(*parts)], dtype=object)


# ----------------------------------------------------------------------------------------------
# boilerplate and roughness of user messages (English; the kinds bring their own languages)
# ----------------------------------------------------------------------------------------------

GREETINGS = ("Hi,", "Hello,", "Hi there,", "Hey,", "Good morning,", "Good evening,", "hi", "Hello!", "Hey there!",
             "Hi, quick question.", "Sorry to bother you,", "Hi team,")
SIGN_OFFS = ("Thanks in advance!", "Thanks.", "thanks", "Thank you!", "Any help appreciated.", "Cheers", "thx",
             "Thanks in advance for your help.", "Appreciate it.", "Please help.", "ty")
SIGNATURES = ("Sent from my iPhone", "Sent from my phone", "-- Sent from Outlook for Android", "Best,\nM.", "Regards, J",
              "Kind regards,\nSam", "Get Outlook for iOS")


def with_boilerplate(rng: np.random.Generator, texts: np.ndarray, greetings: Sequence[str] = GREETINGS,
                     sign_offs: Sequence[str] = SIGN_OFFS, signatures: Sequence[str] = SIGNATURES,
                     rates: tuple[float, float, float] = (0.14, 0.12, 0.02)) -> np.ndarray:
    """``texts`` with a greeting, a sign-off and a signature added at ``rates`` (the same for every row)."""
    n = len(texts)
    g = sometimes(rng, greetings, n, rates[0])
    s = sometimes(rng, sign_offs, n, rates[1])
    sig = sometimes(rng, signatures, n, rates[2])
    body = join_rows(g, texts, s)
    return np.array([f"{b}\n\n{x}" if x else b for b, x in zip(body, sig)], dtype=object)


def misspell(rng: np.random.Generator, text: str) -> str:
    """One typo in a word of ``text``: two letters swapped, a letter dropped or doubled."""
    words = [m for m in re.finditer(r"[^\W\d_]{4,}", text)]
    if not words:
        return text
    w = words[int(rng.integers(len(words)))]
    i = w.start() + int(rng.integers(1, len(w.group()) - 1))
    kind = int(rng.integers(3))
    if kind == 0:
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    if kind == 1:
        return text[:i] + text[i + 1:]
    return text[:i] + text[i] + text[i:]


def casual(text: str) -> str:
    """``text`` as typed in a hurry: lower case, no final punctuation, apostrophes dropped."""
    text = text.lower().replace("'", "").replace("\u2019", "")
    return re.sub(r"[.?!]+$", "", text.rstrip())


def roughen(rng: np.random.Generator, texts: np.ndarray, typo_share: float = 0.06, casual_share: float = 0.1) -> np.ndarray:
    """``texts`` with typos (one or two) in ``typo_share`` of the rows and ``casual_share`` typed casually."""
    n = len(texts)
    typo = rng.random(n) < typo_share
    two = rng.random(n) < 0.3
    low = rng.random(n) < casual_share
    out = texts.copy()
    for i in np.flatnonzero(typo | low):
        t = out[i]
        if typo[i]:
            t = misspell(rng, t)
            if two[i]:
                t = misspell(rng, t)
        out[i] = casual(t) if low[i] else t
    return out


def add_pii(texts: np.ndarray, has: np.ndarray, pii: np.ndarray) -> np.ndarray:
    """``texts`` with the personal-data sentence ``pii[i]`` appended where ``has[i]``."""
    out = texts.copy()
    out[has] = [f"{t} {p}" for t, p in zip(texts[has], pii[has])]
    return out
