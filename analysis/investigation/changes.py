"""Changes inferred from the logs: versions that changed without a change event (:func:`infer_changes`),
and the empty change log."""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from analysis.engine import MISSING, Engine, Where, as_engine
from analysis.schema import VERSION_COLUMNS

__all__ = ["INFERRED_TYPES", "empty_changes", "infer_changes", "last_logged_value"]

# ----------------------------------------------------------------------------------------------
# inferred change events: versions that changed in the logs without a change event
# ----------------------------------------------------------------------------------------------

#: Change type of an inferred change, by the column that changed.
INFERRED_TYPES: dict[str, str] = {
    "model_version": "model_update",
    "model_requested": "model_update",
    "provider": "upstream_api_change",
    "upstream_fingerprint": "upstream_api_change",
    "prompt_template_version": "prompt_template_change",
    "embedding_model": "embedding_model_update",
    "index_version": "index_rebuild",
    "corpus_version": "corpus_update",
    "classifier_version": "classifier_update",
    "traffic_source": "traffic_source_change",
}


def _announced(changes: pd.DataFrame | None, col: str, value: str, t0: pd.Timestamp, tol: pd.Timedelta) -> bool:
    """Is this new value already in the change log: a change on the same attribute to it (or any
    within ``tol``), or the same new value announced on a sibling column within ``tol``
    (``model_requested`` moves with ``model_version``)?"""
    if changes is None or not len(changes) or "attribute" not in changes.columns:
        return False
    same_attr = changes[(changes["attribute"].astype("string") == col).fillna(False).to_numpy(dtype=bool)]
    if len(same_attr):
        to_match = (same_attr["to_value"].astype("string") == value).fillna(False).any()
        near = ((same_attr["ts"] - t0).abs() <= tol).any()
        if to_match or near:
            return True
    sibling = ((changes["to_value"].astype("string") == value).fillna(False).to_numpy(dtype=bool)
               & ((changes["ts"] - t0).abs() <= tol).to_numpy(dtype=bool))
    return bool(sibling.any())


def infer_changes(
    events: Any,
    changes: pd.DataFrame | None,
    *,
    columns: Sequence[str] | None = None,
    min_count: int = 5,
    min_share: float = 0.01,
    match_within: str | pd.Timedelta = "24h",
    where: Where | None = None,
) -> pd.DataFrame:
    """Change events inferred from the logs: a value of a version column that appears after the start.

    Parameters
    ----------
    events
        Canonical events, or an :class:`analysis.engine.Engine` over them.
    changes
        The logged changes; a value already announced by a change on the same ``attribute``
        (same ``to_value``, or any change on that attribute within ``match_within``) is not
        inferred again.
    columns
        Columns to watch; default the version columns and ``traffic_source``.
    min_count, min_share
        A new value needs at least ``min_count`` events and ``min_share`` of the traffic after its
        first appearance (a handful of odd requests is not a change).
    match_within
        Tolerance between a logged change and the first appearance of its value.
    where
        Only the events matching this filter (e.g. those before the report).

    Returns
    -------
    DataFrame
        Canonical ``changes`` columns with ``change_id = "inferred:<column>:<value>"``,
        ``ts`` = first appearance, ``source = "inferred from logs"``.
    """
    eng = as_engine(events)
    where = where or Where()
    cols = [c for c in (list(columns) if columns is not None else [*VERSION_COLUMNS, "traffic_source"]) if eng.has(c)]
    tol = pd.Timedelta(match_within)
    n_all, t_start, t_end = eng.time_range(where)
    if n_all == 0 or not cols:
        return empty_changes()
    warmup = t_start + min((t_end - t_start) * 0.05, pd.Timedelta(hours=6))
    vc = eng.value_counts(cols, where=where)
    vc = vc[vc["value"] != MISSING]
    rows = []
    for col, value, count, t0 in vc[["column", "value", "n", "first_seen"]].itertuples(index=False):
        if t0 <= warmup:
            continue
        if count < min_count:
            continue
        after_n = eng.count(where.and_(Where(start=t0)))
        if count / max(after_n, 1) < min_share:
            continue
        if _announced(changes, col, str(value), t0, tol):
            continue
        frm = last_logged_value(eng, col, where.and_(Where(end=t0)))
        rows.append({"change_id": f"inferred:{col}:{value}", "ts": t0, "change_type": INFERRED_TYPES.get(col, "other"),
                     "component": col, "attribute": col, "from_value": frm, "to_value": str(value),
                     "description": f"{col} changed from {frm} to {value} in the logs without a change event",
                     "source": "inferred from logs"})
    if not rows:
        return empty_changes()
    out = pd.DataFrame(rows)
    out["ts"] = pd.to_datetime(out["ts"], utc=True).astype("datetime64[ns, UTC]")
    for c in ("change_id", "change_type", "component", "attribute", "from_value", "to_value", "description", "source"):
        out[c] = out[c].astype("string[pyarrow]")
    return out.sort_values("ts", kind="stable").reset_index(drop=True)


def last_logged_value(eng: Engine, column: str, where: Where) -> str | None:
    """The value of ``column`` on the last event matching ``where`` that has one (None if none)."""
    vc = eng.value_counts([column], where=where)
    vc = vc[vc["value"] != MISSING]
    if not len(vc):
        return None
    return str(vc.sort_values(["last_seen", "value"], kind="stable")["value"].iat[-1])


def empty_changes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "change_id": pd.Series([], dtype="string[pyarrow]"),
            "ts": pd.Series([], dtype="datetime64[ns, UTC]"),
            "change_type": pd.Series([], dtype="string[pyarrow]"),
            "component": pd.Series([], dtype="string[pyarrow]"),
            "attribute": pd.Series([], dtype="string[pyarrow]"),
            "from_value": pd.Series([], dtype="string[pyarrow]"),
            "to_value": pd.Series([], dtype="string[pyarrow]"),
            "description": pd.Series([], dtype="string[pyarrow]"),
            "source": pd.Series([], dtype="string[pyarrow]"),
        }
    )

