"""Input checks of the control charts: each names the parameter and the bad value."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

__all__ = [
    "ChartPath",
    "as_1d_float",
    "check_finite",
    "check_positive",
    "check_nonnegative",
    "check_open_unit",
    "check_lam",
    "check_rates",
    "check_arl0",
    "check_bool",
    "check_flags",
    "check_rules",
    "frozen",
    "scalar",
]


def as_1d_float(x: ArrayLike, name: str) -> np.ndarray:
    """``x`` as a 1-D float64 array (missing values as NaN); infinities are refused."""
    if hasattr(x, "to_numpy"):
        arr = np.asarray(x.to_numpy(dtype="float64", na_value=np.nan), dtype="float64")
    else:
        try:
            arr = np.asarray(x, dtype="float64")
        except TypeError:  # object arrays holding pd.NA
            arr = pd.array(np.asarray(x, dtype=object).ravel(), dtype="Float64").to_numpy(
                dtype="float64", na_value=np.nan
            )
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be one-dimensional, got shape {arr.shape}")
    if arr.size and np.isinf(arr).any():
        i = int(np.flatnonzero(np.isinf(arr))[0])
        raise ValueError(f"`{name}` must hold finite values or NaN, got {arr[i]} at index {i}")
    return arr


def check_finite(name: str, value: Any) -> float:
    """``value`` as a finite float, or a ``ValueError`` naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a finite number, got {value!r}") from None
    if not np.isfinite(v):
        raise ValueError(f"`{name}` must be a finite number, got {value!r}")
    return v


def check_positive(name: str, value: Any) -> float:
    """``value`` as a float > 0."""
    v = check_finite(name, value)
    if v <= 0:
        raise ValueError(f"`{name}` must be > 0, got {value!r}")
    return v


def check_nonnegative(name: str, value: Any) -> float:
    """``value`` as a float >= 0."""
    v = check_finite(name, value)
    if v < 0:
        raise ValueError(f"`{name}` must be >= 0, got {value!r}")
    return v


def check_open_unit(name: str, value: Any) -> float:
    """``value`` as a float in (0, 1)."""
    v = check_finite(name, value)
    if not 0.0 < v < 1.0:
        raise ValueError(f"`{name}` must be in (0, 1), got {value!r}")
    return v


def check_lam(lam: Any) -> float:
    """The EWMA weight ``lam`` in (0, 1]."""
    v = check_finite("lam", lam)
    if not 0.0 < v <= 1.0:
        raise ValueError(f"`lam` must be in (0, 1], got {lam!r}")
    return v


def check_rates(p0: Any, p1: Any) -> tuple[float, float]:
    """The in-control and out-of-control rates ``p0`` != ``p1``, both in (0, 1)."""
    p0 = check_open_unit("p0", p0)
    p1 = check_open_unit("p1", p1)
    if p0 == p1:
        raise ValueError(f"`p1` must differ from `p0`, got p0 = p1 = {p0!r}")
    return p0, p1


def check_arl0(arl0: Any) -> float:
    """The wanted in-control average run length, in (1, 1e8]."""
    v = check_finite("arl0", arl0)
    if not 1.0 < v <= 1e8:
        raise ValueError(f"`arl0` must be in (1, 1e8], got {arl0!r}")
    return v


def check_bool(name: str, value: Any) -> bool:
    """``value`` when it is a boolean (numpy booleans included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be True or False, got {value!r}")
    return bool(value)


def check_flags(flags: np.ndarray, name: str) -> None:
    """Refuse 0/1 outcomes that hold another value (NaN is a missing outcome)."""
    ok = np.isnan(flags) | (flags == 0) | (flags == 1)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise ValueError(f"`{name}` must hold 0/1 (or booleans, NaN), got {flags[i]} at index {i}")


def check_rules(rules: Any) -> tuple[int, ...]:
    """The Western Electric rule numbers (1-4) as a sorted tuple."""
    try:
        out = tuple(sorted({int(r) for r in rules}))
    except (TypeError, ValueError):
        raise ValueError(f"`rules` must be a collection of rule numbers 1-4, got {rules!r}") from None
    if not out or any(r not in (1, 2, 3, 4) for r in out):
        raise ValueError(f"`rules` must be a non-empty collection of rule numbers 1-4, got {rules!r}")
    return out

def frozen(d: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only copy of a chart's parameters."""
    return MappingProxyType(dict(d))

def scalar(x: Any, name: str) -> float:
    """One streaming observation as a float (None, NA, NaT: NaN); infinities are refused."""
    if x is None or x is pd.NA or x is pd.NaT:
        return np.nan
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a number or missing, got {x!r}") from None
    if np.isinf(v):
        raise ValueError(f"`{name}` must be finite or NaN, got {x!r}")
    return v


@dataclass(frozen=True)
class ChartPath:
    """What every chart's result carries besides its path: the chart's name (``method``), the
    parameters used, the series length ``n`` and its non-missing points ``n_observed``."""

    method: str
    params: Mapping[str, Any]
    n: int
    n_observed: int
