"""Numbers for people: one way to write rates, differences, p-values, durations, counts and effects.

Every human-facing format (``report.md``, the notebook's tables and so ``report.html``, the
sentences of the investigation's evidence) writes its numbers through these functions, so that a
rate reads ``0.03%`` everywhere and never ``0.0003333`` or ``3.3e-04``. ``report.json`` and the
CSVs keep the raw numbers: they are for machines.

The functions return plain text, not escaped (their output holds no markup characters); a missing
value (``None``, NaN, NA) is :data:`MISSING` (``n/a``), never ``-`` or ``nan``.

=================== =========================== ==========================================
function            example                     rule
=================== =========================== ==========================================
:func:`rate`        0.0003333 -> ``0.03%``      1 decimal from 1%, 2 below, 1 significant
                                                digit below 0.01%
:func:`points`      -0.0003333 -> ``-0.03 pts`` a difference of rates in percentage points
:func:`pvalue`      3.8e-06 -> ``< 0.001``      else 2 significant digits (``0.26``)
:func:`duration`    116.8 -> ``4 d 21 h``       hours in; minutes below 1 h, h + min below
                                                1 d, d + h from 1 d (rounded to the last unit)
:func:`count`       29854 -> ``29,854``         thousands separators
:func:`number`      1378.223 -> ``1,378``       3 significant digits, never an exponent
                                                above 1e-4
:func:`effect`      -0.704, rate -> ``h = -0.70`` the standardised effect (2 decimals), named
:func:`value`       0.989, rate -> ``98.9%``    a metric's value with its unit
:func:`difference`  448.1, mean, latency_ms ->  a difference with its unit and sign
                    ``+448 ms``
=================== =========================== ==========================================
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from analysis._common import to_utc

__all__ = [
    "MISSING",
    "is_missing",
    "finite",
    "rate",
    "points",
    "pvalue",
    "p_clause",
    "duration",
    "count",
    "number",
    "signed",
    "effect",
    "metric_unit",
    "value",
    "difference",
    "interval",
    "timestamp",
    "evidence_items",
]

#: What a missing number reads as.
MISSING = "n/a"

_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")
#: metric-name suffixes and the unit they carry
_UNITS = (("_ms", "ms"), ("_seconds", "s"), ("_s", "s"), ("_tokens", "tokens"), ("_usd", "USD"), ("_chars", "characters"))


def finite(x: Any) -> float | None:
    """``x`` as a finite float, or None (missing, not a number, infinite)."""
    if x is None or isinstance(x, bool):
        return None if x is None else float(x)
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def is_missing(x: Any) -> bool:
    """True for ``None``, NaN, NA, NaT and infinities."""
    return finite(x) is None


def _strip(s: str) -> str:
    """``'19.70'`` -> ``'19.7'``, ``'100.0'`` -> ``'100'``, ``'-0.00'`` -> ``'0'``."""
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _percent_text(p: float) -> str:
    """A share already in percent, with the digits :func:`rate` describes, unsigned."""
    a = abs(p)
    if a == 0:
        return "0"
    if a >= 1:
        return _strip(f"{a:.1f}")
    if a >= 0.01:
        return _strip(f"{a:.2f}")
    decimals = min(-math.floor(math.log10(a)), 4)
    return _strip(f"{a:.{decimals}f}")  # "0" below 0.00005%: the callers say so


def rate(x: Any, *, missing: str = MISSING) -> str:
    """A share (0..1) as a percentage: ``0.1967`` -> ``19.7%``, ``0.0043`` -> ``0.43%``,
    ``0.0003333`` -> ``0.03%``, ``1`` -> ``100%``."""
    f = finite(x)
    if f is None:
        return missing
    text = _percent_text(100 * f)
    if text == "0" and f != 0:
        return ("> -" if f < 0 else "< ") + "0.0001%"
    return ("-" if f < 0 and text != "0" else "") + text + "%"


def points(x: Any, *, missing: str = MISSING) -> str:
    """A difference of two shares in percentage points, signed: ``-0.0003333`` -> ``-0.03 pts``,
    ``0.186`` -> ``+18.6 pts``, ``0`` (or less than 0.00005 points) -> ``0 pts``."""
    f = finite(x)
    if f is None:
        return missing
    text = _percent_text(100 * f)
    sign = "" if text == "0" else ("+" if f > 0 else "-")
    return f"{sign}{text} pts"


def pvalue(p: Any, *, missing: str = MISSING) -> str:
    """A p-value: ``< 0.001`` below 0.001, else 2 significant digits (``0.26``, ``0.012``, ``1``)."""
    f = finite(p)
    if f is None:
        return missing
    if f < 0.001:
        return "< 0.001"
    return f"{f:.2g}"


def p_clause(p: Any) -> str:
    """A p-value in a sentence: ``p < 0.001``, ``p = 0.26``, ``p n/a``."""
    text = pvalue(p)
    return f"p {text}" if text.startswith("<") or text == MISSING else f"p = {text}"


def duration(hours: Any, *, missing: str = MISSING) -> str:
    """A duration given in hours, in the two largest units: ``0.5833`` -> ``35 min``,
    ``1.5`` -> ``1 h 30 min``, ``116.8`` -> ``4 d 21 h``, ``48`` -> ``2 d``.

    The last unit is rounded (116.8 h is 4 d 20.8 h, written ``4 d 21 h``); a zero last unit is
    left out; under half a minute is ``< 1 min``; a negative duration keeps its sign.
    """
    f = finite(hours)
    if f is None:
        return missing
    sign, a = ("-" if f < 0 else ""), abs(f)
    minutes = round(a * 60)
    if minutes == 0:
        return "0 min" if a == 0 else "< 1 min"
    if minutes < 60:
        return f"{sign}{minutes} min"
    if minutes < 24 * 60:
        h, m = divmod(minutes, 60)
        return f"{sign}{h} h" + (f" {m} min" if m else "")
    d, h = divmod(round(a), 24)
    return f"{sign}{d} d" + (f" {h} h" if h else "")


def count(n: Any, *, missing: str = MISSING) -> str:
    """A count with thousands separators: ``29854`` -> ``29,854``; a fractional one (an expected
    count) through :func:`number`."""
    f = finite(n)
    if f is None:
        return missing
    if f != round(f):
        return number(f)
    return f"{int(round(f)):,}"


def number(x: Any, digits: int = 3, *, missing: str = MISSING) -> str:
    """A plain number to ``digits`` significant digits (whole numbers to the unit), with thousands
    separators and no exponent down to 1e-4: ``1378.223`` -> ``1,378``, ``0.5237`` -> ``0.524``, ``0.012289`` -> ``0.0123``;
    smaller ones as ``3.8×10⁻⁶``."""
    f = finite(x)
    if f is None:
        return missing
    if f == 0:
        return "0"
    mag = math.floor(math.log10(abs(f)))
    if mag < -4:
        mant, exp = f"{f:.{max(digits - 2, 0)}e}".split("e")
        return f"{_strip(mant)}\u00d710{str(int(exp)).translate(_SUPERSCRIPT)}"
    if mag >= digits - 1:  # whole numbers are not rounded further: 1,378 rather than 1,380
        return _strip(f"{f:,.0f}")
    return _strip(f"{f:,.{digits - 1 - mag}f}")


def signed(x: Any, digits: int = 3, *, missing: str = MISSING) -> str:
    """:func:`number` with its sign: ``+448``, ``-0.0123``, ``0``."""
    text = number(x, digits, missing=missing)
    return text if text in (missing, "0") or text.startswith("-") else "+" + text


def effect(x: Any, kind: str | None = None, *, missing: str = MISSING) -> str:
    """A standardised effect with its name: Cohen's h for a rate (``h = -0.70``), Cohen's d for a
    mean (``d = 0.52``), else the bare number to 2 decimals."""
    f = finite(x)
    if f is None:
        return missing
    text = f"{f:.2f}" if abs(f) >= 0.005 else "0.00"
    name = {"rate": "h", "mean": "d"}.get(str(kind or ""))
    return f"{name} = {text}" if name else text


def metric_unit(metric: Any) -> str:
    """The unit a metric's name carries (``latency_ms`` -> ``ms``, ``cost_usd`` -> ``USD``), or ''."""
    name = str(metric or "").lower()
    for suffix, unit in _UNITS:
        if name.endswith(suffix):
            return unit
    return ""


def value(x: Any, kind: str | None = None, metric: Any = None, *, missing: str = MISSING) -> str:
    """A metric's value: a rate as a percentage, a mean with its unit (``1,378 ms``)."""
    if kind == "rate":
        return rate(x, missing=missing)
    text = number(x, missing=missing)
    unit = metric_unit(metric)
    return f"{text} {unit}" if unit and text != missing else text


def difference(x: Any, kind: str | None = None, metric: Any = None, *, missing: str = MISSING) -> str:
    """A difference with its sign and unit: rates in percentage points (``-18.5 pts``), means in
    the metric's unit (``+448 ms``)."""
    if kind == "rate":
        return points(x, missing=missing)
    text = signed(x, missing=missing)
    unit = metric_unit(metric)
    return f"{text} {unit}" if unit and text != missing else text


def interval(low: Any, high: Any, kind: str | None = None, metric: Any = None, *, missing: str = MISSING) -> str:
    """A confidence interval of a difference: ``-23.4 to -14.3 pts``, ``+296 to +601 ms``."""
    if is_missing(low) or is_missing(high):
        return missing
    lo, hi = difference(low, kind, metric), difference(high, kind, metric)
    unit = lo.rsplit(" ", 1)[1] if " " in lo else ""
    if unit and hi.endswith(" " + unit):
        lo = lo[: -len(unit) - 1]
    return f"{lo} to {hi}"


def timestamp(ts: Any, *, missing: str = MISSING) -> str:
    """A time in UTC to the minute (``2026-01-26 06:00 UTC``), or to the second when it has seconds."""
    try:
        t = to_utc(ts)
    except (TypeError, ValueError):
        return str(ts)
    if t is None:
        return missing
    fmt = "%Y-%m-%d %H:%M UTC" if t.second == 0 and t.microsecond == 0 else "%Y-%m-%d %H:%M:%S UTC"
    return t.strftime(fmt)


_OPEN, _CLOSE = "([{", ")]}"


def evidence_items(text: Any) -> list[str]:
    """The parts of an evidence sentence (joined by ``"; "`` where it was built), one per item.

    Split only at ``"; "`` outside brackets, so that a part quoting a list stays whole; empty
    parts are dropped. A missing text has no items.
    """
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return []
    items: list[str] = []
    depth, start, s = 0, 0, str(text)
    for i, ch in enumerate(s):
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(depth - 1, 0)
        elif ch == ";" and depth == 0 and s[i + 1: i + 2] == " ":
            items.append(s[start:i])
            start = i + 2
    items.append(s[start:])
    return [it.strip() for it in items if it.strip()]

