"""Small shared helpers (like scipy's ``_common.py``): timestamps in and out of results, JSON-able values,
parameter checks."""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["to_utc", "iso_z", "json_safe", "check_alpha", "check_duration", "check_timestamp"]


def to_utc(value: Any) -> pd.Timestamp | None:
    """A timestamp in UTC, or ``None`` for a missing value (``None``, ``NaN``, ``NaT``, ``pd.NA``).

    A naive timestamp is taken as UTC: inside the kit every timestamp is already UTC (the loaders
    reject naive input unless told its zone), so a naive one can only be UTC that lost its zone.
    """
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):  # lists and other containers
        pass
    t = pd.Timestamp(value)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def iso_z(value: Any) -> str | None:
    """ISO 8601 text with a ``Z`` suffix (``2026-01-26T06:00:00Z``), or ``None`` when missing."""
    t = to_utc(value)
    return None if t is None else t.isoformat().replace("+00:00", "Z")


def json_safe(obj: Any) -> Any:
    """Recursively turn ``obj`` into JSON-able values: NaN/NA -> None, timestamps -> ISO 8601 ``Z``."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (pd.Timestamp, _dt.datetime, np.datetime64)):
        return iso_z(obj)
    if isinstance(obj, (pd.Timedelta, _dt.timedelta)):
        return pd.Timedelta(obj).total_seconds() / 3600.0
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, pd.DataFrame):
        return [json_safe(r) for r in obj.to_dict("records")]
    if isinstance(obj, pd.Series):
        return [json_safe(v) for v in obj.tolist()]
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, np.ndarray)):
        return [json_safe(v) for v in (obj.tolist() if isinstance(obj, np.ndarray) else obj)]
    if hasattr(obj, "to_dict"):
        return json_safe(obj.to_dict())
    try:
        if pd.isna(obj):
            return None
    except (TypeError, ValueError):
        pass
    return str(obj)


def check_alpha(alpha: Any) -> float:
    """``alpha`` as a float in (0, 1), or a ``ValueError`` naming the parameter and the bad value."""
    if not isinstance(alpha, (int, float, np.floating)) or not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"`alpha` must be in (0, 1), got {alpha!r}")
    return float(alpha)


def check_duration(value: Any, name: str = "window") -> pd.Timedelta:
    """A positive duration (``"1h"``, ``"15min"``, a Timedelta), or a ``ValueError`` naming the parameter."""
    try:
        w = pd.Timedelta(value)
    except (ValueError, TypeError):
        raise ValueError(f"`{name}` must be a positive duration such as '1h' or '15min', got {value!r}") from None
    if pd.isna(w) or w <= pd.Timedelta(0):
        raise ValueError(f"`{name}` must be a positive duration, got {value!r}")
    return w


def check_timestamp(value: Any, name: str) -> pd.Timestamp | None:
    """A timezone-aware timestamp in UTC (``None`` for a missing value), or a ``ValueError`` naming the
    parameter: unparseable text and a timestamp without an offset are both refused."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    try:
        t = pd.Timestamp(value)
    except (TypeError, ValueError):
        t = None
    if t is None or t.tzinfo is None:
        raise ValueError(f"`{name}` must be a timezone-aware timestamp (e.g. '2026-03-01T12:00Z'), got {value!r}")
    return t.tz_convert("UTC")
