"""The rejected-rows table and what fills it: duplicate keys, a row as JSON, a short value."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from .tables import STRING
from .values import is_missing_scalar, to_text

__all__ = ["REJECTED_COLUMNS", "rejected_frame", "duplicate_reasons", "row_json", "short_text", "raw_for"]


def duplicate_reasons(key: pd.Series, labels: np.ndarray, valid: np.ndarray, key_name: str) -> dict[int, str]:
    """Reasons for every valid row whose key was already seen in an earlier valid row."""
    valid = valid & key.notna().to_numpy(dtype=bool)  # an optional key (eval_id) may be missing
    if not valid.any():
        return {}
    pos = np.flatnonzero(valid)
    k = key.iloc[pos] if not valid.all() else key
    dup = k.duplicated(keep="first").to_numpy(dtype=bool)
    if not dup.any():
        return {}
    dup_pos = pos[dup]
    dup_keys = key.iloc[dup_pos]
    firsts = k[~dup & k.isin(set(dup_keys)).to_numpy(dtype=bool)]
    first_label = {kk: labels[i] for kk, i in zip(firsts.tolist(), pos[~dup][k[~dup].isin(set(dup_keys)).to_numpy(dtype=bool)])}
    return {
        int(i): f"{key_name}: duplicate of {kk!r} first seen at row {first_label.get(kk, '?')}; kept once"
        for i, kk in zip(dup_pos, dup_keys.tolist())
    }


def short_text(v: Any) -> str:
    """A raw value for a message: its text, repr'd, cut at 80 characters."""
    t = to_text(v)
    if t is None:
        return repr(v)
    return repr(t if len(t) <= 80 else t[:77] + "...")


def raw_for(frame: pd.DataFrame, i: int, raw_text: Callable[[int], str] | Sequence[str] | None) -> str:
    """The source text of row ``i``: from ``raw_text`` when given and readable, else the row as JSON."""
    if raw_text is not None:
        try:
            return raw_text(i) if callable(raw_text) else raw_text[i]
        except Exception:  # noqa: BLE001 - the raw text is a courtesy; fall back to the row
            pass
    return row_json(frame.iloc[i])


REJECTED_COLUMNS = ("row", "reason", "raw")


def rejected_frame(rows: Iterable[Any] = (), reasons: Iterable[str] = (), raws: Iterable[str] = ()) -> pd.DataFrame:
    """The rejected-rows table: ``row`` (source line or row number), ``reason``, ``raw``."""
    return pd.DataFrame(
        {
            "row": pd.Series(list(rows), dtype="Int64"),
            "reason": pd.Series(list(reasons), dtype=STRING),
            "raw": pd.Series(list(raws), dtype=STRING),
        }
    )


def row_json(row: pd.Series) -> str:
    """A row as a JSON object (numpy scalars as Python ones, missing values as null)."""
    def clean(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            v = v.tolist()
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if is_missing_scalar(v) and not isinstance(v, str):
            return None
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, (np.floating,)):
            return float(v)
        if isinstance(v, (np.bool_,)):
            return bool(v)
        if isinstance(v, (pd.Timestamp, datetime)):
            return v.isoformat()
        return v

    return json.dumps({str(k): clean(v) for k, v in row.items()}, default=str, ensure_ascii=False)
