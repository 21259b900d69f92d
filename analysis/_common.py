"""Small shared helpers (like scipy's ``_common.py``): timestamps in and out of results, parameter checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["to_utc", "iso_z", "check_alpha", "check_duration", "check_timestamp"]


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
