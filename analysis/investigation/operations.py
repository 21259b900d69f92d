"""Events of other operations kept apart: the investigation's metrics read the chat events only.

A trace export holds embedding calls beside the chat calls (``operation = "embeddings"``, see
:mod:`analysis.loaders`). They are inference calls of their own kind: their latency, errors and
missing outcome labels must not enter the chat metrics, but their model is the RAG application's
embedding model, whose switch is a candidate cause even when the change log forgot it.

:func:`set_apart` is run on the open engine before anything reads it: it reads the embedding
model's versions from the embedding events (inferred changes ``inferred:embedding_model:<value>``)
and then restricts the engine to the chat events (``operation`` missing or one of
:data:`CHAT_OPERATIONS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.engine import MISSING, Engine, Where
from analysis.investigation.changes import empty_changes, infer_changes

__all__ = ["CHAT_OPERATIONS", "SetApart", "set_apart", "merge_inferred"]

#: ``operation`` values that are chat (or completion) calls; a missing value is a chat call too.
CHAT_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "completion"})


@dataclass(frozen=True)
class SetApart:
    """What :func:`set_apart` kept out of the investigation's metrics.

    Attributes
    ----------
    counts
        Events kept apart, by ``operation`` value (empty when every event is a chat event).
    inferred
        Changes inferred from the embedding events' ``embedding_model`` (canonical ``changes``
        columns, as :func:`analysis.investigation.changes.infer_changes` returns them).
    """

    counts: dict[str, int] = field(default_factory=dict)
    inferred: pd.DataFrame = field(default_factory=empty_changes)

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    def notes(self) -> list[str]:
        """report.json's note saying what was kept apart (none when nothing was)."""
        if not self.counts:
            return []
        kinds = ", ".join(f"{n} {op} event(s)" for op, n in sorted(self.counts.items(), key=lambda x: (-x[1], x[0])))
        models = ""
        if len(self.inferred):
            models = "; their embedding model's versions are candidate changes (" + ", ".join(self.inferred["change_id"].astype(str)) + ")"
        return [f"{kinds} kept apart: the metrics read the chat events only (operation missing or one of "
                f"{', '.join(sorted(CHAT_OPERATIONS))}){models}"]


def _chat_values(eng: Engine) -> tuple[list[str], dict[str, int]]:
    """The ``operation`` values of chat events (``MISSING`` for a null) and the other values' counts."""
    vc = eng.value_counts(["operation"])
    chat, others = [], {}
    for value, n in zip(vc["value"].astype(str), vc["n"]):
        if value == MISSING or value.strip().lower() in CHAT_OPERATIONS or not value.strip():
            chat.append(value)
        else:
            others[value] = others.get(value, 0) + int(n)
    return chat, others


def set_apart(eng: Engine, changes: pd.DataFrame | None, reported_at: Any = None) -> SetApart:
    """Keep the events of other operations apart: read their embedding model's versions, then
    restrict ``eng`` to the chat events.

    Parameters
    ----------
    eng
        The open engine; from now on its ``events`` hold the chat events only.
    changes
        The logged changes: an embedding model already announced there is not inferred again.
    reported_at
        Only the events up to the report (inclusive) are read for the inferred changes.

    Raises
    ------
    ValueError
        When no chat event is left: there is nothing the investigation's metrics can read.
    """
    if not eng.has("operation"):
        return SetApart()
    chat, others = _chat_values(eng)
    if not others:
        return SetApart()
    if not chat:
        kinds = ", ".join(f"{n} {op}" for op, n in sorted(others.items()))
        raise ValueError(f"`events` holds no chat event ({kinds} event(s), told by the `operation` column): the investigation "
                         "reads the outcomes of chat calls; give it the chat spans of the same application")
    other = Where.of(None, reported_at, end_inclusive=True, conditions={"operation": sorted(others)})
    inferred = infer_changes(eng, changes, columns=["embedding_model"], where=other) if eng.has("embedding_model") else empty_changes()
    eng.restrict(Where.of(conditions={"operation": chat}).sql())
    return SetApart(counts=others, inferred=inferred)


def merge_inferred(inferred: pd.DataFrame, apart: SetApart, reported_at: pd.Timestamp) -> pd.DataFrame:
    """The changes inferred from the chat events and those read from the events kept apart (up to
    the report), one row per change id (the earliest)."""
    extra = apart.inferred
    if not len(extra):
        return inferred
    extra = extra[extra["ts"] <= reported_at]
    if not len(extra):
        return inferred
    both = pd.concat([inferred, extra], ignore_index=True) if len(inferred) else extra.copy()
    both = both.sort_values("ts", kind="stable").drop_duplicates("change_id", keep="first")
    return both.reset_index(drop=True)
