"""Failure signatures: the word phrases (1- to 3-grams) that mark failing requests against a baseline.

Given a bounded sample of texts of failing requests and of baseline requests (pulled from the engine
by the caller), :func:`find_signatures` ranks every phrase by how much more often failing requests
contain it, tests it, controls the false discovery rate over all the phrases tested, prunes phrases
that say the same thing, and returns the few that are significant; :func:`signature_pattern` turns
them into one regular expression that Python, DuckDB (RE2) and Spark (Java) read alike, so that the
engine can count the requests they match; :func:`length_shift` compares the texts' lengths.

The statistic
-------------
Monroe, Colaresi & Quinn (2008), "Fightin' words", section 3.5: the log-odds ratio of a word between
two groups with an informative Dirichlet prior :math:`\\alpha` (eq. 16),

.. math::

    \\hat\\delta_w = \\log\\frac{y_{aw} + \\alpha_w}{n_a + \\alpha_0 - y_{aw} - \\alpha_w}
                  - \\log\\frac{y_{bw} + \\alpha_w}{n_b + \\alpha_0 - y_{bw} - \\alpha_w},
    \\qquad \\sigma^2(\\hat\\delta_w) \\approx \\frac{1}{y_{aw} + \\alpha_w} + \\frac{1}{y_{bw} + \\alpha_w},

and its z-score :math:`\\hat\\delta_w / \\sigma` (eqs. 18-20), computed by :func:`log_odds_dirichlet`.

Here the unit is the request, not the word: :math:`y_{aw}` is the number of failing requests whose
text contains phrase :math:`w` (binary presence, so one text repeating a phrase counts once), and each
phrase is set against its own absence, a vocabulary of two categories (*contains w*, *does not*), so
that :math:`n_a` is the number of failing requests and :math:`\\hat\\delta_w` is the log-odds ratio of
the *share of requests* containing the phrase, the quantity the report shows (``share_fail`` against
``share_base``) and the one a regular expression counting requests measures. The variance is the sum
of Monroe's approximation over both categories, :math:`\\sum_{c \\in \\{w, \\bar w\\}} 1/(y_{ac} +
\\alpha_c) + 1/(y_{bc} + \\alpha_c)` (Woolf's variance of a log-odds ratio with the prior's
pseudo-counts added): with two categories the second term is not negligible, as it is over a whole
vocabulary. Per-word rates over a vocabulary (Monroe's own unit) would flag every common phrase of
failing texts that are merely *shorter* than the baseline's, with equal shares in both groups.

The prior (section 3.5.1, the informative Dirichlet prior) is the pooled share of requests
containing the phrase, :math:`\\alpha_w = \\alpha_0 (y_{aw} + y_{bw}) / (N_a + N_b)` with its
complement :math:`\\alpha_0 - \\alpha_w`: both groups are shrunk toward what they share, which is the
null hypothesis, so the prior only ever pulls a phrase toward "no difference". Its weight
:math:`\\alpha_0` (``prior_scale``, in pseudo-requests added to each group) defaults to
:func:`default_prior_scale`: a tenth of the pooled number of requests (Monroe's "background
corpus" taken to be the two samples themselves, at a tenth of their weight), the lightest of the
weights tried that found no signature in groups drawn alike when the failing sample is much smaller
than the baseline (``benchmarks/signature_prior.py``).

Testing
-------
One-sided: a phrase is a signature when failing requests contain it *more* often, ``p = norm.sf(z)``.
Phrases in fewer than ``min_count`` requests of the two groups together are not tested at all (an
independent filter: under the null hypothesis the pooled count says nothing about which group the
requests fall in, Bourgon, Gentleman & Huber 2010), nor are phrases made only of stop words. The
Benjamini-Hochberg adjustment runs over every phrase tested (``q``), Holm's too (``q_holm``, the
family-wise error); a phrase is significant when ``q <= alpha`` and at least ``min_count`` failing
requests contain it. The log-odds z is conservative for sparse phrases (a phrase no baseline request
contains carries the prior's small pseudo-count as its whole variance), and the dependence between
overlapping n-grams is positive, under which Benjamini-Hochberg keeps its level.

Shares of requests are not corrected for length: when failing texts are much longer than the
baseline's, common words are in more of them and can come out as signatures. :func:`length_shift`
says whether they are; compare texts of like length (or read the signatures against it) when so.

Phrases
-------
Texts are lower-cased, the curly apostrophe read as ``'``; a word is a run of ASCII letters with
inner apostrophes (``what's``), and a phrase is 1 to 3 consecutive words separated by ASCII
whitespace only: punctuation, digits, other scripts and any other character break the run, so that
every phrase is matched by :func:`signature_pattern` in the text it came from. The converse holds
but for one case: a pattern also matches a phrase whose last word goes on with an apostrophe
(``my father`` in "my father's", counted as the words ``my father's``), so the engine's count of
requests matching a signature can exceed ``n_fail`` by those. The phrases are counted by
scikit-learn's ``CountVectorizer(binary=True, min_df=min_count)`` with this analyzer in place of its
``token_pattern`` (whose n-grams run across punctuation) and of its ``stop_words`` (which drops stop
words before forming n-grams, turning "my father" into "father"): a phrase made only of stop words
(or single letters) is dropped, and stop words inside or at the edge of a longer phrase are kept.

References
----------
Monroe, B. L., Colaresi, M. P., Quinn, K. M. (2008). Fightin' words: lexical feature selection and
evaluation for identifying the content of political conflict. Political Analysis 16(4), 372-403.
Bourgon, R., Gentleman, R., Huber, W. (2010). Independent filtering increases detection power for
high-throughput experiments. PNAS 107(21), 9546-9551.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import sparse
from scipy import stats as sps

from analysis._common import check_alpha
from analysis.stats.multitest import benjamini_hochberg, holm

__all__ = ["Signature", "log_odds_dirichlet", "default_prior_scale", "phrase_runs", "score_phrases", "find_signatures",
           "signature_pattern", "length_shift", "DEFAULT_PRIOR_FRACTION", "REDUNDANT_OVERLAP"]

#: The default prior's weight as a fraction of the pooled number of requests (:func:`default_prior_scale`).
DEFAULT_PRIOR_FRACTION = 0.1
#: Two nested phrases (one inside the other) are one signature when the failing requests of the
#: rarer are at least this share of the failing requests of the commoner.
REDUNDANT_OVERLAP = 0.9

_TOKEN = re.compile(r"[\w']+|[^\w' \t\n\r\f]+")  # a word-like run, or a run of what breaks phrases
_WORD = re.compile(r"[a-z](?:[a-z']*[a-z])?")
_PUNCT = frozenset("\\.^$|?*+()[]{}-&~#/!\"%,:;<=>@`")


@dataclass(frozen=True)
class Signature:
    """A phrase that marks failing requests (one row of :func:`find_signatures`).

    Attributes
    ----------
    phrase
        Lower-case 1- to 3-gram, words joined by one space.
    n_fail, n_base
        Failing and baseline requests whose text contains it (document frequency).
    share_fail, share_base
        ``n_fail`` and ``n_base`` over the number of failing and baseline requests.
    delta
        Log-odds ratio of the share of requests containing it, failing against baseline, smoothed by
        the informative Dirichlet prior (Monroe et al. 2008, eq. 16).
    z
        ``delta / sqrt(variance)``.
    p
        One-sided p-value of ``z`` (failing contain it more): ``scipy.stats.norm.sf(z)``.
    q
        Benjamini-Hochberg adjusted p-value over every phrase tested.
    significant
        ``q <= alpha`` and ``n_fail >= min_count``.
    q_holm
        Holm adjusted p-value over every phrase tested (family-wise error).
    """

    phrase: str
    n_fail: int
    n_base: int
    share_fail: float
    share_base: float
    delta: float
    z: float
    p: float
    q: float
    significant: bool
    q_holm: float = math.nan


def log_odds_dirichlet(y_a: np.ndarray, y_b: np.ndarray,
                       prior: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log-odds ratio with an informative Dirichlet prior, its variance and z-score, per word.

    Parameters
    ----------
    y_a, y_b
        Counts of each word in groups *a* and *b* (same shape). Two-dimensional arrays are read as
        one vocabulary per row (the sums below run along the last axis).
    prior
        The Dirichlet prior :math:`\\alpha_w \\ge 0`, same shape.

    Returns
    -------
    delta, variance, z : numpy.ndarray
        Per word, Monroe, Colaresi & Quinn (2008), eq. 16 and 18-20:
        ``delta = log((y_a + a) / (n_a + a0 - y_a - a)) - log((y_b + a) / (n_b + a0 - y_b - a))``,
        ``variance = 1 / (y_a + a) + 1 / (y_b + a)``, ``z = delta / sqrt(variance)``, with
        ``n_a = y_a.sum()``, ``n_b = y_b.sum()`` and ``a0 = prior.sum()``.
    """
    y_a, y_b, a = (np.asarray(x, dtype=float) for x in (y_a, y_b, prior))
    if not (y_a.shape == y_b.shape == a.shape):
        raise ValueError(f"`y_a`, `y_b` and `prior` must have the same shape, got {y_a.shape}, {y_b.shape}, {a.shape}")
    if (y_a < 0).any() or (y_b < 0).any() or (a < 0).any():
        raise ValueError("counts and prior must be non-negative")
    n_a, n_b, a0 = (x.sum(axis=-1, keepdims=True) for x in (y_a, y_b, a))
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.log((y_a + a) / (n_a + a0 - y_a - a)) - np.log((y_b + a) / (n_b + a0 - y_b - a))
        variance = 1.0 / (y_a + a) + 1.0 / (y_b + a)
        z = delta / np.sqrt(variance)
    return delta, variance, z


def default_prior_scale(n_fail: int, n_base: int) -> float:
    """The default weight :math:`\\alpha_0` of the prior: ``0.1 * (n_fail + n_base)`` pseudo-requests.

    Monroe et al. (2008, section 3.5.1) take the informative prior from a background corpus and
    choose its weight :math:`\\alpha_0`, which sets how far each group's estimate is pulled toward the
    background. Here the background is the pooled sample itself (the null hypothesis of no
    difference) and the prior is one vector for both groups, so :math:`\\alpha_0` pseudo-requests go
    to the small failing sample and to the large baseline alike. Measured by
    ``benchmarks/signature_prior.py`` (synthetic Zipfian corpora, 1- to 3-grams):

    * *Level.* With both groups drawn alike, :math:`\\alpha_0 = 0.1 (N_a + N_b)` found a signature in
      none of 220 runs (30 failing texts against 300 or 1,500 baseline ones, 100 against 1,000, 200
      against 200); a twentieth of the pooled texts in 2, a hundredth in 8 (5 of the 60 with 30
      against 300), a tenth of the smaller group in 12. A light prior lets the normal approximation
      of the log-odds ratio overstate phrases held by a few failing and a few baseline texts.
    * *Phrases the baseline never holds.* Their baseline variance is the prior's pseudo-count
      alone, so a light prior cannot find them: a phrase in 15% of 100 failing texts and in none of
      1,000 baseline ones came out in 30 of 30 runs at a tenth, 25 at a twentieth, none at a
      hundredth of the pooled texts.
    * *The cost.* With unbalanced groups the weight also shrinks the small failing sample: 10% of
      100 failing against 2% of 1,000 baseline texts came out in 6 of 30 runs at a tenth (median z
      3.4), 13 at a twentieth (3.8), 21 at a hundredth (4.3); with balanced groups the z is 2-7% lower
      than at a hundredth. ``prior_scale=0.05 * (n_fail + n_base)`` gives up some of the first two
      for more power here.

    Parameters
    ----------
    n_fail, n_base
        Numbers of failing and baseline requests.

    Returns
    -------
    float
        :math:`\\alpha_0`, in pseudo-requests.
    """
    return DEFAULT_PRIOR_FRACTION * float(n_fail + n_base)


def _sklearn_text():
    """``sklearn.feature_extraction.text``, imported when first needed (a test extra of the package)."""
    try:
        from sklearn.feature_extraction import text
    except ImportError as e:
        raise ImportError("failure signatures need scikit-learn: pip install scikit-learn") from e
    return text


def _stop_set(stop_words: str | Collection[str] | None) -> frozenset[str]:
    if stop_words is None:
        return frozenset()
    if isinstance(stop_words, str):
        if stop_words != "english":
            raise ValueError(f"`stop_words` must be 'english', None or a collection of words, got {stop_words!r}")
        return frozenset(_sklearn_text().ENGLISH_STOP_WORDS)
    return frozenset(w.lower() for w in stop_words)


def phrase_runs(text: str) -> list[list[str]]:
    """A text's runs of words, the stretches a phrase may span (see the module docstring's *Phrases*).

    Parameters
    ----------
    text
        Any text; ``None`` or a missing value reads as empty.

    Returns
    -------
    list of list of str
        Lower-case words, one list per run of words separated by ASCII whitespace only.
    """
    if not isinstance(text, str):
        return []
    runs: list[list[str]] = [[]]
    for m in _TOKEN.finditer(text.replace("\u2019", "'").lower()):
        token = m.group()
        core = token.strip("'")
        word = _WORD.fullmatch(core) is not None
        if (token.startswith("'") or not word) and runs[-1]:
            runs.append([])
        if word:
            runs[-1].append(core)
        if token.endswith("'") and runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def _ngrams(text: str, lo: int, hi: int, stop: frozenset[str]) -> Iterator[str]:
    for run in phrase_runs(text):
        for n in range(lo, hi + 1):
            for i in range(len(run) - n + 1):
                words = run[i:i + n]
                if not all(w in stop or len(w) == 1 for w in words):
                    yield " ".join(words)


def _check_args(ngram_range: tuple[int, int], min_count: int, prior_scale: float | None) -> tuple[int, int]:
    lo, hi = (int(x) for x in ngram_range)
    if not 1 <= lo <= hi:
        raise ValueError(f"`ngram_range` must be (lo, hi) with 1 <= lo <= hi, got {ngram_range!r}")
    if int(min_count) < 1:
        raise ValueError(f"`min_count` must be at least 1, got {min_count!r}")
    if prior_scale is not None and not (math.isfinite(prior_scale) and prior_scale > 0):
        raise ValueError(f"`prior_scale` must be positive, got {prior_scale!r}")
    return lo, hi


def _count(texts: list[str], lo: int, hi: int, stop: frozenset[str],
           min_count: int) -> tuple[sparse.csr_matrix, list[str]]:
    """(binary document-term matrix, phrases) of the phrases in at least ``min_count`` texts."""
    CountVectorizer = _sklearn_text().CountVectorizer  # noqa: N806

    vec = CountVectorizer(analyzer=lambda t: _ngrams(t, lo, hi, stop), binary=True, min_df=int(min_count),
                          dtype=np.int32)
    try:
        x = vec.fit_transform(texts)
    except ValueError:  # no phrase at all, or none in min_count texts
        return sparse.csr_matrix((len(texts), 0), dtype=np.int32), []
    return x.tocsr(), [str(w) for w in vec.get_feature_names_out()]


def score_phrases(fail: Sequence[str], base: Sequence[str], *, ngram_range: tuple[int, int] = (1, 3),
                  prior_scale: float | None = None, min_count: int = 5,
                  stop_words: str | Collection[str] | None = "english") -> pd.DataFrame:
    """Every phrase tested, with its counts, log-odds ratio, z, p and adjusted p (unfiltered).

    Parameters
    ----------
    fail, base
        Texts of the failing and of the baseline requests (one string a request; ``None`` is empty).
    ngram_range
        Smallest and largest number of words in a phrase.
    prior_scale
        :math:`\\alpha_0`, the prior's weight in pseudo-requests; ``None`` for
        :func:`default_prior_scale`.
    min_count
        Phrases in fewer texts of both groups together are not tested.
    stop_words
        ``"english"`` (scikit-learn's list), ``None`` or a collection of words: a phrase made only of
        them (or of single letters) is not a phrase.

    Returns
    -------
    pandas.DataFrame
        One row a phrase tested, strongest ``z`` first (the longer phrase first on a tie):
        ``phrase``, ``n_words``, ``n_fail``, ``n_base``, ``share_fail``, ``share_base``, ``delta``,
        ``variance``, ``z``, ``p``, ``q`` (Benjamini-Hochberg) and ``q_holm``; ``z`` and the p-values
        are NaN for a phrase in every text of both groups (no test). ``attrs`` holds
        ``n_fail_docs``, ``n_base_docs`` and ``prior_scale``.
    """
    return _score(fail, base, ngram_range, prior_scale, min_count, stop_words)[0]


def _score(fail: Sequence[str], base: Sequence[str], ngram_range: tuple[int, int], prior_scale: float | None,
           min_count: int, stop_words: str | Collection[str] | None) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """(:func:`score_phrases`' table, the failing texts holding each phrase, by index)."""
    lo, hi = _check_args(ngram_range, min_count, prior_scale)
    fail, base = list(fail), list(base)
    n_a, n_b = len(fail), len(base)
    if n_a == 0 or n_b == 0:
        raise ValueError(f"both groups need texts, got {n_a} failing and {n_b} baseline")
    a0 = default_prior_scale(n_a, n_b) if prior_scale is None else float(prior_scale)
    x, phrases = _count(fail + base, lo, hi, _stop_set(stop_words), min_count)
    y_a = np.asarray(x[:n_a].sum(axis=0)).ravel().astype(float)
    y_b = np.asarray(x[n_a:].sum(axis=0)).ravel().astype(float)
    a_w = np.minimum(a0 * (y_a + y_b) / (n_a + n_b), a0)  # a phrase in every text: a_w may round past a0
    delta, var, _ = log_odds_dirichlet(np.column_stack([y_a, n_a - y_a]), np.column_stack([y_b, n_b - y_b]),
                                       np.column_stack([a_w, a0 - a_w]))
    d, v = delta[:, 0], var.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = d / np.sqrt(v)  # NaN for a phrase in every text of both groups
    p = np.where(np.isfinite(z), sps.norm.sf(z), np.nan)
    out = pd.DataFrame({"phrase": pd.Series(phrases, dtype=object),
                        "n_words": np.array([s.count(" ") + 1 for s in phrases], dtype=int),
                        "n_fail": y_a.astype(int), "n_base": y_b.astype(int), "share_fail": y_a / n_a,
                        "share_base": y_b / n_b, "delta": d, "variance": v, "z": z, "p": p,
                        "q": benjamini_hochberg(p), "q_holm": holm(p)})
    out = out.sort_values(["z", "n_words", "phrase"], ascending=[False, False, True], na_position="last")
    out = out.reset_index(drop=True)
    out.attrs.update(n_fail_docs=n_a, n_base_docs=n_b, prior_scale=a0)
    fx = x[:n_a].tocsc()
    docs = {phrase: fx.indices[fx.indptr[j]:fx.indptr[j + 1]] for j, phrase in enumerate(phrases)}
    return out, docs


def _nested(a: str, b: str) -> bool:
    """Whether one phrase's words are a contiguous part of the other's."""
    short, long_ = sorted((a, b), key=len)
    return f" {short} " in f" {long_} "


def _prune(table: pd.DataFrame, docs: dict[str, np.ndarray], max_signatures: int) -> pd.DataFrame:
    """The rows of ``table`` (strongest first) left after dropping nested phrases with the same requests."""
    kept: list[int] = []
    for i, phrase in enumerate(table.phrase):
        mine = set(docs[phrase].tolist())
        redundant = False
        for k in kept:
            other = table.phrase.iat[k]
            theirs = set(docs[other].tolist())
            if _nested(phrase, other) and len(mine & theirs) >= REDUNDANT_OVERLAP * max(len(mine), len(theirs)):
                redundant = True
                break
        if not redundant:
            kept.append(i)
            if len(kept) >= max_signatures:
                break
    return table.iloc[kept]


def find_signatures(fail: Sequence[str], base: Sequence[str], *, ngram_range: tuple[int, int] = (1, 3),
                    alpha: float = 0.05, prior_scale: float | None = None, min_count: int = 5,
                    max_signatures: int = 10, stop_words: str | Collection[str] | None = "english") -> list[Signature]:
    """The significant phrases that mark failing requests, strongest first (see the module docstring).

    Parameters
    ----------
    fail, base
        Texts of the failing and of the baseline requests (a bounded sample; one string a request).
    ngram_range
        Smallest and largest number of words in a phrase.
    alpha
        False discovery rate (Benjamini-Hochberg over every phrase tested).
    prior_scale
        :math:`\\alpha_0`, the informative prior's weight in pseudo-requests; ``None`` for
        :func:`default_prior_scale` (a tenth of the pooled number of requests).
    min_count
        A phrase is tested when at least this many requests of both groups contain it, and is a
        signature only when at least this many *failing* requests do.
    max_signatures
        At most this many signatures are returned.
    stop_words
        ``"english"``, ``None`` or a collection: phrases made only of stop words are dropped.

    Returns
    -------
    list of Signature
        Significant phrases by decreasing ``z`` (the longer first on a tie). A phrase nested in (or
        holding) a stronger signature already kept, whose failing requests are nearly the same
        (the rarer's at least :data:`REDUNDANT_OVERLAP` of the commoner's), is dropped.
    """
    alpha = check_alpha(alpha)
    if int(max_signatures) < 1:
        raise ValueError(f"`max_signatures` must be at least 1, got {max_signatures!r}")
    table, docs = _score(fail, base, ngram_range, prior_scale, min_count, stop_words)
    kept = _prune(table[(table.q <= alpha) & (table.n_fail >= int(min_count))], docs, int(max_signatures))
    return [Signature(phrase=r.phrase, n_fail=int(r.n_fail), n_base=int(r.n_base), share_fail=float(r.share_fail),
                      share_base=float(r.share_base), delta=float(r.delta), z=float(r.z), p=float(r.p), q=float(r.q),
                      significant=True, q_holm=float(r.q_holm)) for r in kept.itertuples(index=False)]


def _escape(word: str) -> str:
    out = []
    for c in word:
        if c == "'" or c == "\u2019":
            out.append("['\u2019]")
        elif c in _PUNCT:
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def signature_pattern(phrases: Sequence[str]) -> str:
    """One case-insensitive regular expression matching any of the phrases as whole words.

    Parameters
    ----------
    phrases
        Phrases (words separated by whitespace); duplicates and empty ones are ignored.

    Returns
    -------
    str
        E.g. ``["hypothetically", "my father"]`` -> ``(?i:\\b(?:hypothetically|my\\s+father)\\b)``:
        words joined by ``\\s+`` (any run of whitespace, line breaks included), ASCII punctuation
        escaped, an apostrophe matching the straight or the curly one. A phrase edge that is a word
        character gets ``\\b``, one that is not (``c++``, ``u.s.``) gets ``\\B``, so that in both cases
        the phrase is not glued to a word character (``c++`` does not match ``c++x`` nor ``abc++``).
        Only constructs that Python ``re``, RE2 (DuckDB ``regexp_matches``) and Java (Spark
        ``rlike``) read alike: no look-around, no back-reference. They differ only on characters
        outside ASCII and on ``\\v``: RE2 reads ``\\b`` and ``\\s`` as ASCII, Python both as
        Unicode, Java ``\\b`` as Unicode and ``\\s`` as ASCII with ``\\v`` (so a no-break space
        between two words, or an accented letter next to a phrase's edge, may decide differently);
        a phrase is best made of ASCII words, as :func:`find_signatures`' are.
        An empty list gives a pattern that matches nothing (``(?i:[^\\s\\S])``).
    """
    groups: dict[tuple[str, str], list[str]] = {}
    seen = set()
    for phrase in phrases:
        words = str(phrase).split()
        key = " ".join(w.lower() for w in words)
        if not words or key in seen:
            continue
        seen.add(key)
        edges = ("\\b" if _is_word_char(key[0]) else "\\B", "\\b" if _is_word_char(key[-1]) else "\\B")
        groups.setdefault(edges, []).append("\\s+".join(_escape(w) for w in words))
    if not groups:
        return "(?i:[^\\s\\S])"
    return "(?i:" + "|".join(f"{lead}(?:{'|'.join(alts)}){trail}" for (lead, trail), alts in groups.items()) + ")"


def length_shift(fail_lengths: ArrayLike, base_lengths: ArrayLike) -> dict:
    """Whether failing requests' texts are longer or shorter, or differently spread, than the baseline's.

    Parameters
    ----------
    fail_lengths, base_lengths
        Lengths (characters, words or tokens) of the failing and baseline texts; NaN are dropped.

    Returns
    -------
    dict
        ``n_fail``, ``n_base``; ``median_fail``, ``median_base`` and ``median_ratio``
        (fail / base); the quartiles ``q1_fail``, ``q3_fail``, ``q1_base``, ``q3_base``; the
        Mann-Whitney U test (two-sided, ``scipy.stats.mannwhitneyu`` with its default method and
        continuity correction): ``u`` (the failing group's U), ``p``, and
        ``prob_fail_longer`` = ``u / (n_fail * n_base)``, the probability that a failing text is
        longer than a baseline one (ties count half); the two-sample Kolmogorov-Smirnov test of the
        shape: ``ks`` and ``ks_p``. The tests are NaN when a group has no length.
    """
    a = np.asarray(fail_lengths, dtype=float).ravel()
    b = np.asarray(base_lengths, dtype=float).ravel()
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    out: dict = {"n_fail": int(a.size), "n_base": int(b.size)}
    for name, x in (("fail", a), ("base", b)):
        q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75]) if x.size else (math.nan,) * 3
        out.update({f"median_{name}": float(med), f"q1_{name}": float(q1), f"q3_{name}": float(q3)})
    mb = out["median_base"]
    out["median_ratio"] = out["median_fail"] / mb if mb and math.isfinite(mb) else math.nan
    if a.size and b.size:
        mw = sps.mannwhitneyu(a, b, alternative="two-sided")
        ks = sps.ks_2samp(a, b)
        out.update(u=float(mw.statistic), p=float(mw.pvalue), prob_fail_longer=float(mw.statistic) / (a.size * b.size),
                   ks=float(ks.statistic), ks_p=float(ks.pvalue))
    else:
        out.update(u=math.nan, p=math.nan, prob_fail_longer=math.nan, ks=math.nan, ks_p=math.nan)
    return out
