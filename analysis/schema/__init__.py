"""The canonical tables: ``events``, ``changes`` and the offline ``evaluations`` history.

This package owns the canonical tables (columns, kinds, dtypes and the column groups, in
:mod:`~analysis.schema.tables`), the coercion of raw values to them (one converter per kind in
:mod:`~analysis.schema.converters`, timestamps in :mod:`~analysis.schema.timestamps`), the
derived retrieval columns, validation and its rejected rows (:mod:`~analysis.schema.validation`,
:mod:`~analysis.schema.rejects`). It is the bottom of the pipeline above ``analysis._common``: it
imports only numpy, pandas and pyarrow, and every other layer may import it.

Every loader returns these tables and every downstream module reads them. A column's *kind*
fixes its pandas dtype:

============  ==========================================  ==================
kind          dtype                                       missing value
============  ==========================================  ==================
string        ``string[pyarrow]``                         ``pd.NA``
timestamp     ``datetime64[ns, UTC]``                     ``NaT``
float         ``float64``                                 ``NaN``
int           ``Int64`` (nullable)                        ``pd.NA``
bool          ``boolean`` (nullable)                      ``pd.NA``
list_float    ``list<double>[pyarrow]``                   ``pd.NA``
list_string   ``list<string>[pyarrow]``                   ``pd.NA``
============  ==========================================  ==================

Two entry points:

* :func:`coerce` turns a raw frame (strings, JSON arrays, mixed types) into the canonical one:
  a value that cannot be parsed rejects its row with a reason naming the column, the value and
  what was expected; it never becomes a silent missing value. Table-level problems (a missing
  required column, timestamps without an offset) raise :class:`SchemaError`. Coercion is
  vectorised: columns that already have their dtype cost nothing, Arrow-backed strings are
  parsed with Arrow kernels, and only object columns are read value by value (1,000,000
  canonical rows coerce in about 0.3 s).
* :func:`validate` checks an already-canonical frame and raises :class:`SchemaError` naming the
  source, the column, a few offending rows and what was expected.

Timestamps: ISO 8601 with an offset (``Z``, ``+01:00``, ``+0100``), or epoch numbers (seconds,
ms, us or ns, told apart by magnitude), or timezone-aware datetimes. Timestamps without an
offset raise unless ``assume_tz`` names their zone.
"""

from __future__ import annotations

from .errors import SchemaError
from .metrics import ALTERNATIVES, BAD_ALTERNATIVE, alternative_of
from .rejects import REJECTED_COLUMNS, duplicate_reasons, rejected_frame, row_json
from .retrieval import derive_retrieval_columns
from .tables import (
    CHANGE_TYPES,
    CHANGES,
    EVALUATIONS,
    EVENTS,
    LIST_FLOAT,
    LIST_STRING,
    OUTCOME_COLUMNS,
    SEGMENT_COLUMNS,
    STRING,
    TEXT_COLUMNS,
    TIMESTAMP,
    VERSION_COLUMNS,
    Column,
    TableSchema,
    dtype_for,
    empty_frame,
)
from .validation import Coerced, check_required_columns, coerce, coerce_rows, validate
from .values import arrow_types_mapper

__all__ = [
    "ALTERNATIVES", "BAD_ALTERNATIVE", "alternative_of",
    "Column",
    "TableSchema",
    "SchemaError",
    "EVENTS",
    "CHANGES",
    "EVALUATIONS",
    "CHANGE_TYPES",
    "OUTCOME_COLUMNS",
    "VERSION_COLUMNS",
    "SEGMENT_COLUMNS",
    "TEXT_COLUMNS",
    "STRING",
    "LIST_FLOAT",
    "LIST_STRING",
    "TIMESTAMP",
    "dtype_for",
    "empty_frame",
    "coerce",
    "validate",
    "derive_retrieval_columns",
    "rejected_frame",
    "REJECTED_COLUMNS",
    "duplicate_reasons",
    "row_json",
    "check_required_columns",
    "coerce_rows",
    "Coerced",
    "arrow_types_mapper",
]
