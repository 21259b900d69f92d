"""Grounding of RAG answers: ``ungrounded_citation``, a citation in the answer that none of the
retrieved documents holds.

A legal assistant whose index is out of step with its corpus retrieves loosely related chunks and
answers anyway, citing cases it invented. No label says so in a trace export, but the answer and
the retrieved documents (OpenInference's ``retrieval.documents.N.document.content``, a GenAI
retrieval span's documents, a Langfuse retriever observation, or the canonical
``retrieval_documents`` column) are there: a citation the answer makes and no retrieved document
contains was not grounded in what the model was given.

The rule (:data:`GROUNDING_RULE`)
---------------------------------
* The citations of an answer are the matches of the rule's patterns in ``output_text``
: reporter citations (``831 F.4d 657``, ``550 U.S. 544``, ``73 F. Supp. 3d
  1020``), URLs (trailing punctuation dropped) and document ids (``doc-00123``, ``source_7``,
  ``chunk#12``).
* A citation is grounded when one retrieved document's text contains it, or one retrieved id is it
  (compared in lower case).
* ``ungrounded_citation`` is ``True`` when at least one citation is not grounded, ``False`` when
  every citation is (or the answer cites nothing), and missing when there is no answer or nothing
  retrieved was logged (neither the documents' text nor their ids). With only the ids logged, only
  the id patterns are read: a case citation cannot be checked against an id.

Patterns are data: pass your own :class:`GroundingRule` (or write them in the rules YAML) for
another citation style.
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.engine.query import quote_ident, quote_literal

__all__ = ["CASE_CITATION", "DOC_ID_CITATION", "GROUNDING_RULE", "URL_CITATION", "GroundingRule"]

#: Volume, reporter, page: "831 F.4d 657", "550 U.S. 544", "73 F. Supp. 3d 1020", "12 Cal. App. 5th 101".
CASE_CITATION = (r"\b\d{1,4} (?:U\.S\.|S\. ?Ct\.|L\. ?Ed\.(?: ?2d)?|F\. ?Supp\.(?: ?[234]d)?|F\. ?App'x|F\.(?: ?\d?d| ?\dth)?"
                 r"|(?:Cal\.(?: ?App\.)?|N\.Y\.(?: ?S\.)?|N\.[EW]\.|S\.[EW]\.|So\.|P\.|A\.)(?: ?\d?d| ?\dth)?) \d{1,5}\b")
#: A URL, without the punctuation that ends its sentence.
URL_CITATION = r"(?i:https?://[^\s<>()\[\]\"']*[^\s<>()\[\]\"'.,;:!?])"
#: A document id as RAG apps print them: doc-00123, source_7, chunk#12.
DOC_ID_CITATION = r"(?i:\b(?:doc|document|source|chunk|passage)[-_#]?\d+\b)"


@dataclass(frozen=True)
class GroundingRule:
    """A citation-grounding rule for one outcome column.

    Attributes
    ----------
    column, name, description
        The column it fills and its name and description for the report.
    patterns
        Regular expressions (case-sensitive unless they say ``(?i:...)``) whose matches in the answer are citations checked
        against the documents' text and ids.
    id_patterns
        Those also checked when only the retrieved ids are logged.
    """

    column: str = "ungrounded_citation"
    name: str = "citations-in-retrieved"
    description: str = (
        "ungrounded_citation = the answer (output_text) cites a case (volume reporter page, e.g. '831 F.4d 657'), a URL or "
        "a document id (doc-00123) that none of the retrieved documents (retrieval_documents) contains and no retrieved "
        "id (retrieval_doc_ids) is; missing when nothing retrieved was logged."
    )
    patterns: tuple[str, ...] = (CASE_CITATION, URL_CITATION)
    id_patterns: tuple[str, ...] = (DOC_ID_CITATION,)
    text_column: str = "output_text"
    documents_column: str = "retrieval_documents"
    ids_column: str = "retrieval_doc_ids"

    def __post_init__(self) -> None:
        if not self.patterns and not self.id_patterns:
            raise ValueError(f"`patterns` or `id_patterns` must be given for rule {self.name!r}")
        for p in (*self.patterns, *self.id_patterns):
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"rule {self.name!r} has an invalid regular expression {p!r}: {exc}") from None

    def can_derive(self, columns: Container[str]) -> bool:
        """Whether events with ``columns`` hold what the rule reads (the answer and the retrieved documents or ids)."""
        return self.text_column in columns and (self.documents_column in columns or self.ids_column in columns)

    def _patterns(self, with_text: bool) -> tuple[str, ...]:
        return (*self.patterns, *self.id_patterns) if with_text else self.id_patterns

    def citations(self, text: str, with_text: bool = True) -> list[str]:
        """The citations of ``text`` (in order, lower case)."""
        rx = re.compile("|".join(f"(?:{p})" for p in self._patterns(with_text)))
        return [m.group(0).lower() for m in rx.finditer(text)]

    def sql(self, columns: Container[str], *, dialect: str = "duckdb") -> str:
        """The rule as one SQL expression over the events (DuckDB's syntax in any ``dialect``: the Spark engine
        transpiles it): ``TRUE``, ``FALSE`` or ``NULL`` per row, as :meth:`predict` decides them."""
        with_text = self.documents_column in columns
        pats = self._patterns(with_text)
        if self.text_column not in columns or not pats or not (with_text or self.ids_column in columns):
            return "CAST(NULL AS BOOLEAN)"
        rx = quote_literal("|".join(f"(?:{p})" for p in pats))
        out = quote_ident(self.text_column)
        parts = [f"CAST({quote_ident(c)} AS VARCHAR[])" for c in (self.documents_column, self.ids_column) if c in columns]
        logged = " OR ".join(f"{p} IS NOT NULL" for p in parts)
        hay = parts[0] if len(parts) == 1 else f"list_concat(COALESCE({parts[0]}, []), COALESCE({parts[1]}, []))"
        missing = (f"array_length(list_filter(regexp_extract_all({out}, {rx}, 0), lambda c: "
                   f"array_length(list_filter({hay}, lambda d: instr(lower(d), lower(c)) > 0)) = 0)) > 0")
        return f"CASE WHEN {out} IS NULL OR trim({out}) = '' OR NOT ({logged}) THEN NULL ELSE {missing} END"

    def predict(self, frame: pd.DataFrame) -> pd.Series:
        """The rule's label for every row of ``frame`` (the reference the SQL form is tested against)."""
        n = len(frame)
        with_text = self.documents_column in frame.columns
        out = np.full(n, None, dtype=object)
        if self.text_column not in frame.columns:
            return pd.Series(pd.array(out, dtype="boolean"), index=frame.index, name=self.column)
        texts = frame[self.text_column].to_numpy(dtype=object)
        docs = frame[self.documents_column].to_numpy(dtype=object) if with_text else np.full(n, None, dtype=object)
        ids = frame[self.ids_column].to_numpy(dtype=object) if self.ids_column in frame.columns else np.full(n, None, dtype=object)
        for i in range(n):
            t = texts[i]
            if _missing(t) or not str(t).strip():
                continue
            logged = [list(v) for v in (docs[i], ids[i]) if not _missing(v)]
            if not logged:
                continue
            hay = [str(d).lower() for part in logged for d in part if d is not None]
            out[i] = any(not any(c in d for d in hay) for c in self.citations(str(t), with_text))
        return pd.Series(pd.array(out, dtype="boolean"), index=frame.index, name=self.column)


GROUNDING_RULE = GroundingRule()


def _missing(v: object) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
