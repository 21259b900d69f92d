"""Data-quality facts: logging gaps, label-coverage drops and duplicate bursts, from hourly counts.

None of them is an incident; each goes on the timeline with what it does to the analysis
(DESIGN.md, "Evidence, not proximity"). They are read from the engine's hourly window table
(requests and non-missing labels per hour), never from raw rows.

* A **logging gap** is a run of hours with far fewer events than the traffic model expects. The
  model is the median count at the same hour of the day (and the same kind of day, weekday or
  weekend, with a week of history or more) over the whole history, robust to the gap itself.
  An hour is in a gap when the model expects at least :data:`MIN_EXPECTED` events, fewer than
  :data:`GAP_FRACTION` of them arrived, and a count that low has a Poisson probability below
  :data:`GAP_PVALUE`.
* A **label-coverage drop** is a run of hours in which a label (an evaluator's judgement) is
  present on far fewer requests than usual: below :data:`COVERAGE_FRACTION` of its median
  coverage, with a binomial probability below :data:`GAP_PVALUE`.
* A **duplicate burst** is a run of hours whose duplicate event ids (reported by the loader) are
  far above the usual duplicate rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis._common import iso_z

__all__ = ["DataQualityFact", "logging_gaps", "coverage_drops", "duplicate_bursts", "MIN_EXPECTED", "GAP_FRACTION",
           "GAP_PVALUE", "COVERAGE_FRACTION"]

MIN_EXPECTED = 5.0
GAP_FRACTION = 0.25
GAP_PVALUE = 1e-4
COVERAGE_FRACTION = 0.5
_HOUR = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class DataQualityFact:
    """One data-quality fact: its ``kind``, span, column, what was seen against what was expected,
    and its effect on the analysis."""

    kind: str
    start: pd.Timestamp
    end: pd.Timestamp
    column: str | None
    observed: float
    expected: float
    description: str
    effect: str

    @property
    def hours(self) -> float:
        return float((self.end - self.start) / _HOUR)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "start": iso_z(self.start), "end": iso_z(self.end), "hours": self.hours, "column": self.column,
                "observed": self.observed, "expected": self.expected, "description": self.description, "effect": self.effect}


def _hourly_grid(hourly: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, cols: Sequence[str]) -> pd.DataFrame:
    """The hourly table on every hour of ``[start, end)`` (hours without a row hold zeros)."""
    idx = pd.date_range(start.floor("h"), end, freq="h", tz="UTC", inclusive="left")
    h = hourly.copy()
    h["window_start"] = pd.to_datetime(h["window_start"], utc=True)
    h = h.groupby("window_start")[list(cols)].sum()
    return h.reindex(idx, fill_value=0).rename_axis("window_start").reset_index()


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last + 1)`` of every run of True."""
    out, i, n = [], 0, len(mask)
    while i < n:
        if mask[i]:
            j = i
            while j < n and mask[j]:
                j += 1
            out.append((i, j))
            i = j
        else:
            i += 1
    return out


def _expected_counts(ws: pd.Series, n: np.ndarray) -> np.ndarray:
    """Median count at the same hour of the day (and kind of day, weekday or weekend, with a week or more)."""
    hour = ws.dt.hour.to_numpy()
    days = (ws.iat[-1] - ws.iat[0]) / pd.Timedelta(days=1) if len(ws) else 0
    cell = hour + (24 * (ws.dt.day_of_week.to_numpy() >= 5) if days >= 7 else 0)
    med = pd.Series(n).groupby(cell).median()
    return med.reindex(cell).to_numpy(float)


def logging_gaps(hourly: pd.DataFrame, *, start: pd.Timestamp, end: pd.Timestamp) -> list[DataQualityFact]:
    """Runs of hours with far fewer events than the traffic model expects (see the module's notes).

    ``hourly`` has ``window_start`` and ``n`` (events per hour), as the engine's
    ``window_aggregates(window="1h")`` returns them; hours without a row count zero events.
    """
    g = _hourly_grid(hourly, start, end, ["n"])
    if len(g) < 48:
        return []
    n = g["n"].to_numpy(float)
    exp = _expected_counts(g["window_start"], n)
    low = (exp >= MIN_EXPECTED) & (n < GAP_FRACTION * exp) & (stats.poisson.cdf(n, np.maximum(exp, 1e-9)) < GAP_PVALUE)
    out = []
    for a, b in _runs(low):
        obs, ex = float(n[a:b].sum()), float(exp[a:b].sum())
        t0, t1 = g["window_start"].iat[a], g["window_start"].iat[b - 1] + _HOUR
        hrs = (t1 - t0) / _HOUR
        out.append(DataQualityFact(
            "logging_gap", t0, t1, None, obs, ex,
            f"logging gap: {hrs:.0f} h with {obs:.0f} events where the traffic model expects about {ex:.0f}",
            "hours without events are skipped by the change-point fit, the scans and the monitors, and the hours around "
            "the gap rest on fewer events; the gap itself is not an incident (check the logging pipeline)",
        ))
    return out


def coverage_drops(hourly: pd.DataFrame, labels: Sequence[str], *, start: pd.Timestamp, end: pd.Timestamp) -> list[DataQualityFact]:
    """Runs of hours in which a label is present on far fewer requests than usual.

    ``hourly`` has ``window_start``, ``n`` and ``<label>__n`` (requests with the label) per hour.
    """
    cols = ["n", *[f"{m}__n" for m in labels if f"{m}__n" in hourly.columns]]
    g = _hourly_grid(hourly, start, end, cols)
    out = []
    if len(g) < 48:
        return out
    n = g["n"].to_numpy(float)
    for m in labels:
        col = f"{m}__n"
        if col not in g.columns:
            continue
        k = g[col].to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            cov = np.where(n > 0, k / n, np.nan)
        usual = float(np.nanmedian(cov)) if np.isfinite(cov).any() else 0.0
        if usual < 0.2:
            continue
        p = stats.binom.cdf(k, n.astype(int), usual)
        low = (n >= 10) & (cov < COVERAGE_FRACTION * usual) & (p < GAP_PVALUE)
        for a, b in _runs(low):
            kk, nn = float(k[a:b].sum()), float(n[a:b].sum())
            t0, t1 = g["window_start"].iat[a], g["window_start"].iat[b - 1] + _HOUR
            hrs = (t1 - t0) / _HOUR
            out.append(DataQualityFact(
                "label_coverage_drop", t0, t1, m, kk / nn if nn else 0.0, usual,
                f"label coverage drop: {m} present on {kk / nn:.0%} of {nn:.0f} requests for {hrs:.0f} h (usually {usual:.0%})",
                f"{m}'s rate in those hours rests on the few labelled requests (hours without labels are skipped); an "
                "evaluator that stopped judging is not a change in behaviour",
            ))
    return out


def duplicate_bursts(dup_hourly: pd.DataFrame, hourly: pd.DataFrame, *, start: pd.Timestamp, end: pd.Timestamp) -> list[DataQualityFact]:
    """Runs of hours whose duplicate event ids are far above the usual duplicate rate.

    ``dup_hourly`` has ``window_start`` and ``n`` (duplicate rows the loader dropped per hour);
    ``hourly`` the loaded events per hour.
    """
    if dup_hourly is None or not len(dup_hourly):
        return []
    g = _hourly_grid(hourly, start, end, ["n"])
    d = _hourly_grid(dup_hourly, start, end, ["n"])
    n, k = g["n"].to_numpy(float), d["n"].to_numpy(float)
    total = n + k
    usual = float(k.sum() / max(total.sum(), 1.0))
    p = stats.binom.sf(k - 1, np.maximum(total, 0).astype(int), max(usual, 1e-6))
    high = (k >= 10) & (k > 3 * usual * total) & (p < GAP_PVALUE)
    out = []
    for a, b in _runs(high):
        kk = float(k[a:b].sum())
        t0, t1 = g["window_start"].iat[a], g["window_start"].iat[b - 1] + _HOUR
        out.append(DataQualityFact(
            "duplicate_burst", t0, t1, "event_id", kk, float(usual * total[a:b].sum()),
            f"duplicate burst: {kk:.0f} duplicate event ids in {(t1 - t0) / _HOUR:.0f} h (usually {usual:.2%} of rows)",
            "duplicates were kept once, so rates and counts are not inflated; a retrying exporter is not an incident",
        ))
    return out


def facts_note(facts: Sequence[DataQualityFact]) -> list[Mapping[str, Any]]:
    """Timeline rows (``ts``, ``description``, ``source``, ``evidence``) for the facts."""
    return [{"ts": f.start, "description": f.description, "source": f.kind, "evidence": f.effect} for f in facts]
