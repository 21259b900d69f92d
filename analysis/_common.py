"""Small shared helpers (like scipy's ``_common.py``): timestamps in and out of results."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["to_utc", "iso_z"]


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
