"""The retrieval columns derived from ``retrieval_scores``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .converters import coerce_list
from .values import arrow_of

__all__ = ["derive_retrieval_columns"]


def derive_retrieval_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill ``retrieval_top1_score`` and ``retrieval_mean_score`` from ``retrieval_scores``.

    Values already present are kept; only missing ones are derived. ``top1`` is the maximum
    score (exports do not always keep the best-first order), ``mean`` the mean of the
    non-missing scores; both stay missing for an empty or missing list.
    """
    if "retrieval_scores" not in frame.columns:
        return frame
    s = frame["retrieval_scores"]
    arr = arrow_of(s)
    if arr is None or not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)):
        s, _ = coerce_list(s, "list_float")
        arr = arrow_of(s)
    arr = arr.cast(pa.list_(pa.float64()))
    n = len(frame)
    lengths = pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(arr).to_numpy(zero_copy_only=False).astype("float64")
    top1 = np.full(n, np.nan)
    mean = np.full(n, np.nan)
    has = lengths > 0
    if has.any():
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        idx = starts[has]
        with np.errstate(invalid="ignore", divide="ignore"):
            top1[has] = np.fmax.reduceat(flat, idx)
            sums = np.add.reduceat(np.nan_to_num(flat), idx)
            counts = np.add.reduceat((~np.isnan(flat)).astype(np.int64), idx)
            mean[has] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    frame = frame.copy(deep=False)
    for name, derived in (("retrieval_top1_score", top1), ("retrieval_mean_score", mean)):
        if name in frame.columns:
            cur = frame[name].to_numpy(dtype="float64", na_value=np.nan)
            frame[name] = np.where(np.isnan(cur), derived, cur)
        else:
            frame[name] = derived
    return frame
