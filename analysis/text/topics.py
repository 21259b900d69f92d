"""Topics of the requests: what people ask about, read from the input text, as a segment column.

A real export carries the question, never a ``query_category``. The kit fits topics on a bounded
sample of the questions and assigns every request where the rows lie, so ``topic`` is a segment
like any other (scanned in Q3, in the mix-shift decomposition and the drift tests), and a topic that
appears or grows is a traffic shift with a time (:func:`topic_shifts`).

How topics are fitted
---------------------
* **The sample**: at most ``sample_size`` requests, the same number from every day (time-stratified,
  so a kind of traffic that only exists in the last days is in it), chosen by the portable hash
  ``MD5(event_id:seed)`` (:meth:`analysis.engine.Engine.sample_rows`): every engine, and any order of
  the rows, gives the same sample.
  Half the sample is the same size from every day (a quiet day is in it), half is in proportion to
  the traffic (a burst of a new kind of traffic is in it).
* **Features**: TF-IDF of the words (``[a-z]{2,}`` after lower-casing, English stop words and chat
  filler removed, words in at least :data:`MIN_DF` of the sample and at most half of it; sublinear
  term frequency), scikit-learn's :class:`~sklearn.feature_extraction.text.TfidfVectorizer`.
* **Topics**: non-negative matrix factorisation (:class:`~sklearn.decomposition.NMF`, NNDSVDa start,
  seeded: the fit is deterministic) for each ``k`` of :data:`K_GRID` up to ``max_topics``.
* **The number of topics**: the ``k`` whose assignment has the highest mean silhouette (cosine
  distance on the TF-IDF vectors, on a seeded subsample of at most 3,000 requests); ties go to the
  smaller ``k``. The silhouette of every ``k`` tried is kept in :attr:`TopicModel.criterion`.
* **The assignment**: each topic keeps its :data:`TERMS_PER_TOPIC` heaviest words, weighted by
  their NMF loading times their IDF. A request belongs to the topic whose words it holds with the
  greatest total weight (each word counted once), and to ``other`` when it holds none. The same
  rule assigns the sample (:meth:`TopicModel.assign`) and every row on the engine
  (:meth:`TopicModel.assign_sql`: tokens, a join on the word table, a group-by and an arg-max, on
  Spark; on DuckDB the same as a correlated subquery per row, :meth:`TopicModel.assign_expr`), so
  the topics named in the report are the ones scanned.
* **Names**: a topic is named by its three heaviest words, ``"chest · pain · jaw"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from analysis.engine import Engine, Where
from analysis.engine.query import quote_ident, quote_literal

__all__ = ["TopicModel", "Topic", "fit_topics", "tokens_of", "topic_shifts", "K_GRID", "TERMS_PER_TOPIC", "OTHER", "TOKEN"]

#: The numbers of topics tried (those up to ``max_topics``).
K_GRID = (6, 10, 16, 24)
#: Words kept per topic for its assignment.
TERMS_PER_TOPIC = 25
#: A word is a feature when at least this share of the sample holds it (and 3 requests).
MIN_DF = 0.002
#: The topic of a request that holds none of the topics' words.
OTHER = "other"
#: A word, the same in Python, RE2 (DuckDB) and Java (Spark): ASCII letters after lower-casing.
TOKEN = "[a-z]{2,}"
#: Greetings, thanks and sign-offs that say nothing of the topic (added to scikit-learn's English stop words).
CHAT_FILLER = ("hi", "hello", "hey", "thanks", "thank", "thx", "ty", "please", "pls", "quick", "question", "cheers", "ok",
               "okay", "just", "sorry", "bother", "regards", "kind", "best", "dear", "team", "help", "appreciate", "appreciated",
               "advance", "sent", "iphone", "phone", "android", "outlook", "get", "got", "know", "like", "want", "need", "does",
               "im", "ive", "dont", "cant", "isnt", "doesnt", "thanks", "morning", "evening", "afternoon", "good", "great")


@dataclass(frozen=True)
class Topic:
    """One topic: its name, its words and their weights, and its share of the sample."""

    name: str
    terms: tuple[str, ...]
    weights: tuple[float, ...]
    share: float


@dataclass(frozen=True)
class TopicModel:
    """Topics fitted on a sample of the requests' text (see the module's notes)."""

    column: str
    topics: tuple[Topic, ...]
    k: int
    criterion: dict[int, float]
    sample_size: int
    seed: int
    other_share: float = 0.0
    notes: tuple[str, ...] = field(default=())

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.topics]

    def term_table(self) -> pd.DataFrame:
        """``term, topic, w``: every topic's words and weights (a tiny tie-breaker keeps the arg-max deterministic)."""
        rows = [(term, t.name, float(w) + 1e-9 * (len(self.topics) - i))
                for i, t in enumerate(self.topics) for term, w in zip(t.terms, t.weights)]
        return pd.DataFrame(rows, columns=["term", "topic", "w"])

    def assign(self, texts: Sequence[Any]) -> list[str | None]:
        """The topic of each text, by the rule the engine applies (:meth:`assign_sql`); None for a missing text."""
        return self.assign_tokens(tokens_of(texts))

    def assign_tokens(self, token_sets: Sequence[set[str] | None]) -> list[str | None]:
        """:meth:`assign` on texts already split into their sets of words (:func:`tokens_of`)."""
        by_term: dict[str, list[tuple[str, float]]] = {}
        for term, topic, w in self.term_table().itertuples(index=False):
            by_term.setdefault(term, []).append((topic, w))
        out: list[str | None] = []
        for toks in token_sets:
            if toks is None:
                out.append(None)
                continue
            score: dict[str, float] = {}
            for tok in toks:
                for topic, w in by_term.get(tok, ()):
                    score[topic] = score.get(topic, 0.0) + w
            out.append(max(score.items(), key=lambda kv: kv[1])[0] if score else OTHER)
        return out

    def assign_sql(self, *, alias: str = "topic") -> str:
        """A table ``event_id, <alias>`` over ``events``: the topic of every request with text (the
        engine tokenizes, joins on the word table, sums and takes the arg-max); requests that
        hold no topic word are absent (the caller fills ``other``)."""
        col = quote_ident(self.column)
        values = ", ".join(f"({quote_literal(t)}, {quote_literal(p)}, {w!r})" for t, p, w in self.term_table().itertuples(index=False))
        return (f"SELECT s.event_id, ARG_MAX(s.topic, s.score) AS {quote_ident(alias)} FROM ("
                f"SELECT k.event_id, tt.topic, SUM(tt.w) AS score FROM ("
                f"SELECT event_id, UNNEST(LIST_DISTINCT(REGEXP_EXTRACT_ALL(LOWER({col}), {quote_literal(TOKEN)}, 0))) AS term "
                f"FROM events WHERE {col} IS NOT NULL) k "
                f"JOIN (VALUES {values}) AS tt(term, topic, w) ON k.term = tt.term GROUP BY k.event_id, tt.topic) s GROUP BY s.event_id")

    def assign_expr(self) -> str:
        """The topic of the row's text as one SQL expression (DuckDB: a correlated subquery over the
        row's words; the same rule as :meth:`assign_sql` without the join of every word of every
        row, ten times cheaper); ``other`` when the text holds no topic word, missing when it is missing."""
        col = quote_ident(self.column)
        values = ", ".join(f"({quote_literal(t)}, {quote_literal(p)}, {w!r})" for t, p, w in self.term_table().itertuples(index=False))
        best = (f"(SELECT ARG_MAX(s.topic, s.score) FROM (SELECT tt.topic, SUM(tt.w) AS score "
                f"FROM UNNEST(LIST_DISTINCT(REGEXP_EXTRACT_ALL(LOWER({col}), {quote_literal(TOKEN)}, 0))) AS k(term) "
                f"JOIN (VALUES {values}) AS tt(term, topic, w) ON k.term = tt.term GROUP BY tt.topic) s)")
        return f"CASE WHEN {col} IS NULL THEN NULL ELSE COALESCE({best}, {quote_literal(OTHER)}) END"

    def describe(self) -> list[dict[str, Any]]:
        """report.json's words: each topic's name, share of the sample and words."""
        return [{"topic": t.name, "share_of_sample": t.share, "terms": list(t.terms[:10])} for t in self.topics]

    @property
    def description(self) -> str:
        crit = ", ".join(f"k={k}: {v:.3f}" for k, v in sorted(self.criterion.items()))
        return (f"topic from {self.column}: {self.k} topics (NMF on TF-IDF of a time-stratified sample of {self.sample_size:,} "
                f"requests; k by the highest silhouette: {crit}); a request's topic is the one whose words it holds with the "
                f"greatest weight, {OTHER!r} when it holds none")


def tokens_of(texts: Sequence[Any]) -> list[set[str] | None]:
    """Each text's set of words (:data:`TOKEN` after lower-casing, as the engine splits them); None for a missing text."""
    pat = re.compile(TOKEN)
    return [None if x is None or x is pd.NA or (isinstance(x, float) and np.isnan(x)) else set(pat.findall(str(x).lower()))
            for x in texts]


def _vectorizer(n: int) -> Any:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer  # heavy: imported when topics are fitted

    return TfidfVectorizer(token_pattern=TOKEN, lowercase=True, stop_words=sorted(ENGLISH_STOP_WORDS | set(CHAT_FILLER)),
                           min_df=max(3, int(np.ceil(MIN_DF * n))), max_df=0.5, sublinear_tf=True, dtype=np.float64)


def _topics_of(H: np.ndarray, idf: np.ndarray, terms: np.ndarray) -> list[tuple[tuple[str, ...], tuple[float, ...]]]:
    out = []
    for row in H:
        w = row * idf
        top = [i for i in np.argsort(-w, kind="stable")[:TERMS_PER_TOPIC] if w[i] > 0]
        scale = float(w[top[0]]) if top else 1.0
        out.append((tuple(str(terms[i]) for i in top), tuple(round(float(w[i] / scale), 6) for i in top)))
    return out


def _names(words: list[tuple[str, ...]]) -> list[str]:
    """Three heaviest words each; a name already taken gets the next word."""
    names, seen = [], set()
    for ws in words:
        name = " · ".join(ws[:3]) or "(no words)"
        j = 3
        while name in seen and j < len(ws):
            name = " · ".join([*ws[:2], ws[j]])
            j += 1
        seen.add(name)
        names.append(name)
    return names


def fit_topics(eng: Engine, *, column: str = "input_text", sample_size: int = 10_000, max_topics: int = 16, seed: int = 0,
               where: Where | None = None, profile: Any = None) -> TopicModel | None:
    """Fit topics on a time-stratified sample of ``column`` (see the module's notes); None when the
    text is missing or too uniform to hold two topics."""
    from sklearn.decomposition import NMF  # heavy: imported when topics are fitted
    from sklearn.metrics import silhouette_score

    if not eng.has(column):
        return None
    prof = profile if profile is not None else eng.profile()
    days = max(1, int(np.ceil((prof.ts_max - prof.ts_min) / pd.Timedelta(days=1))) + 1)
    per_day = max(50, int(np.ceil(sample_size / days)))
    w = Where(expr=f"{quote_ident(column)} IS NOT NULL").and_(where)
    # half the sample the same size from every day (a quiet day is in it), half in proportion to the
    # traffic (a burst of a new kind of traffic is in it)
    strat = eng.sample_rows([column], size=max(25, per_day // 2), window="1D", seed=seed, where=w, start=prof.ts_min.floor("1D"))
    flat = eng.sample_rows([column], size=sample_size // 2, seed=seed, where=w)
    sample = pd.concat([strat, flat], ignore_index=True).drop_duplicates("event_id").sort_values(["ts", "event_id"], kind="stable")
    texts = sample[column].astype(str).tolist()
    if len(texts) < 200:
        return None
    vec = _vectorizer(len(texts))
    try:
        X = vec.fit_transform(texts)
    except ValueError:  # no word left after the stop words and document frequencies
        return None
    terms, idf = vec.get_feature_names_out(), vec.idf_
    rng = np.random.default_rng(seed)
    sub = rng.choice(X.shape[0], size=min(3000, X.shape[0]), replace=False)
    tokens = tokens_of(texts)  # split once, assigned by every k's model
    crit: dict[int, float] = {}
    fits: dict[int, tuple[TopicModel, np.ndarray]] = {}
    for k in [k for k in K_GRID if k <= max_topics and k < X.shape[1]]:
        H = NMF(n_components=k, init="nndsvda", random_state=seed, max_iter=200, tol=1e-3).fit(X).components_
        words = _topics_of(H, idf, terms)
        model = TopicModel(column=column, k=k, criterion={}, sample_size=len(texts), seed=seed,
                           topics=tuple(Topic(n, ws, wt, 0.0) for n, (ws, wt) in zip(_names([w for w, _ in words]), words)))
        labels = np.asarray(model.assign_tokens(tokens), dtype=object)
        ok = labels[sub] != OTHER
        if len(set(labels[sub][ok])) < 2:
            continue
        crit[k] = float(silhouette_score(X[sub][ok], labels[sub][ok], metric="cosine", random_state=seed))
        fits[k] = (model, labels)
    if not crit:
        return None
    best = max(crit, key=lambda k: (round(crit[k], 6), -k))
    model, labels = fits[best]
    share = pd.Series(labels).value_counts(normalize=True)
    topics = tuple(Topic(t.name, t.terms, t.weights, float(share.get(t.name, 0.0))) for t in model.topics)
    return TopicModel(column=column, topics=topics, k=best, criterion=crit, sample_size=len(texts), seed=seed,
                      other_share=float(share.get(OTHER, 0.0)))


def topic_shifts(eng: Engine, *, column: str = "topic", where: Where | None = None, window: str = "1h", alpha: float = 0.01,
                 min_growth: float = 2.0, min_points: float = 0.003) -> pd.DataFrame:
    """Topics whose share of the requests grew at a time: a traffic shift (see :func:`share_steps`)."""
    from analysis.stats.changepoint.share import share_steps  # the statistics of a share's upward steps

    vc = eng.value_counts([column], where=where, window=window)
    if not len(vc):
        return pd.DataFrame(columns=["topic", "ts", "share_before", "share_after", "loglik_ratio", "first"])
    wide = vc.pivot_table(index="window_start", columns="value", values="n", aggfunc="sum", fill_value=0).sort_index()
    total = wide.sum(axis=1).to_numpy(float)
    rows = []
    names = [c for c in wide.columns if c != OTHER]
    for name in names:
        for step in share_steps(wide[name].to_numpy(float), total, alpha=alpha / max(len(names), 1), min_growth=min_growth,
                                min_points=min_points):
            rows.append({"topic": str(name), "ts": wide.index[step.at], "share_before": step.before, "share_after": step.after,
                         "loglik_ratio": step.llr, "first": step.first})
    out = pd.DataFrame(rows, columns=["topic", "ts", "share_before", "share_after", "loglik_ratio", "first"])
    return out.sort_values(["ts", "topic"], kind="stable").reset_index(drop=True)
