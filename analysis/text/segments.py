"""Segments read from the text when the logs carry none: ``topic`` (:mod:`.topics`) and the risk
tier of a user's taxonomy (:mod:`.taxonomy`), added to the events on the engine before the
investigation, so that every step scans them like logged columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.engine import Engine
from analysis.schema import SEGMENT_COLUMNS
from analysis.text.topics import OTHER, TopicModel, fit_topics

if TYPE_CHECKING:
    from analysis.text.taxonomy import Taxonomy

__all__ = ["TextSegments", "derive_segments", "TOPIC"]

#: The column topics are written to.
TOPIC = "topic"


@dataclass(frozen=True)
class TextSegments:
    """What was read from the text: the topic model (or None), the taxonomy (or None), and the
    columns added to the events."""

    topics: TopicModel | None = None
    taxonomy: Taxonomy | None = None
    derived: tuple[str, ...] = ()

    def report(self) -> dict[str, Any]:
        """report.json's ``text_segments``."""
        out: dict[str, Any] = {"derived_columns": list(self.derived)}
        if self.topics is not None:
            out["topics"] = {"column": TOPIC, "source": self.topics.column, "k": self.topics.k,
                             "criterion": {"name": "mean silhouette (cosine)", "by_k": {str(k): v for k, v in self.topics.criterion.items()}},
                             "sample_size": self.topics.sample_size, "other_share": self.topics.other_share,
                             "topics": self.topics.describe(), "description": self.topics.description}
        if self.taxonomy is not None:
            out["taxonomy"] = {"column": self.taxonomy.column, "source": self.taxonomy.source, "description": self.taxonomy.description}
        return out


def _wants_topics(eng: Engine, prof: Any, mode: str, column: str) -> bool:
    if mode == "off" or eng.has(TOPIC) or not prof.present(column):
        return False
    return mode == "on" or not any(prof.present(c) for c in SEGMENT_COLUMNS)


def derive_segments(eng: Engine, *, topics: str = "auto", taxonomy_path: str | Path | None = None, seed: int = 0,
                    column: str = "input_text", max_topics: int = 16, materialize: bool = True, profile: Any = None) -> TextSegments:
    """Add ``topic`` (fitted on a sample, assigned to every row by the engine) and the taxonomy's
    tier column (when the events lack it) to the events of ``eng``.

    Parameters
    ----------
    eng
        The open engine (its ``events`` are redefined, then materialized once per added column).
    topics
        ``auto``: when the events carry none of the canonical segment columns; ``on``; ``off``.
    taxonomy_path
        A taxonomy file (:func:`analysis.text.taxonomy.load_taxonomy`); its column is derived only
        when the events do not carry it.
    seed, column, max_topics
        The sample's seed, the text the topics are read from, and the cap on their number.
    materialize
        Compute the added columns once at the end (``False``: the caller does, with other derivations).
    profile
        The events' profile before any derivation (default: the engine's): the decisions read it, so
        that no derivation is computed before it is materialized.
    """
    tax = None
    if taxonomy_path not in (None, ""):
        from analysis.text.taxonomy import load_taxonomy  # read only when a taxonomy is given

        tax = load_taxonomy(taxonomy_path)
    model, derived = None, []
    prof = profile if profile is not None else eng.profile()
    if _wants_topics(eng, prof, topics, column):
        model = fit_topics(eng, column=column, seed=seed, max_topics=max_topics, profile=prof)
        if model is not None:
            if eng.name == "duckdb":  # a subquery per row, decorrelated by DuckDB: no join of every word
                eng.derive({TOPIC: model.assign_expr()}, cast="VARCHAR", materialize=False)
            else:
                eng.attach(TOPIC, model.assign_sql(alias=TOPIC), fill=OTHER, source=column, materialize=False)
            derived.append(TOPIC)
    if tax is not None and not prof.present(tax.column) and prof.present(tax.text_column):
        eng.derive({tax.column: tax.sql(has_topic=eng.has(TOPIC))}, cast="VARCHAR", materialize=False)
        derived.append(tax.column)
    if derived and materialize:
        eng.materialize()
    return TextSegments(topics=model, taxonomy=tax if tax is not None and tax.column in derived else None, derived=tuple(derived))
