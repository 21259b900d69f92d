"""The aggregate change between two periods split into a mix (composition) effect and a
within-segment (rate) effect, with a Simpson's-paradox check (:func:`decompose`): pure statistics
on one small table per period."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis import numbers as num

__all__ = ["Decomposition", "decompose"]

# ----------------------------------------------------------------------------------------------
# decomposition of an aggregate change: mix shift against within-segment change
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decomposition:
    """Kitagawa decomposition of the change of an aggregate rate (or mean) between two periods.

    Attributes
    ----------
    statistic
        The aggregate change :math:`R_1 - R_0`.
    mix, within
        Composition (mix-shift) and rate (within-segment) effects; ``mix + within == statistic``.
    mix_share
        :math:`|mix| / (|mix| + |within|)`: how much of the movement is traffic moving between
        segments (NaN when nothing moved).
    simpson
        True when every segment with data in both periods moved one way and the aggregate moved
        the other way (Simpson's paradox).
    reversal
        True when the aggregate and the within-segment effect have opposite signs (the aggregate
        tells the wrong story about behaviour inside the segments).
    by_segment
        One row per segment: ``segment``, ``n_baseline``, ``n_current``, ``share_baseline``,
        ``share_current``, ``value_baseline``, ``value_current``, ``mix``, ``within``.
    """

    statistic: float
    mix: float
    within: float
    mix_share: float
    simpson: bool
    reversal: bool
    aggregate_baseline: float
    aggregate_current: float
    by_segment: pd.DataFrame
    segment_column: str = ""
    metric: str = ""
    method: str = "Kitagawa (1955) two-factor decomposition"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (report.json's ``q2_what_changed.decomposition``)."""
        return {
            "segment_column": self.segment_column, "metric": self.metric, "statistic": self.statistic, "mix": self.mix,
            "within": self.within, "mix_share": self.mix_share, "simpson": self.simpson, "reversal": self.reversal,
            "aggregate_baseline": self.aggregate_baseline, "aggregate_current": self.aggregate_current,
            "summary": self.summary(), "method": self.method, "by_segment": self.by_segment.to_dict("records"),
        }

    def summary(self) -> str:
        """One line for the report."""
        parts = [
            f"{self.metric or 'metric'} moved {num.signed(self.statistic)} by {self.segment_column or 'segment'}: "
            f"mix shift {num.signed(self.mix)}, within-segment {num.signed(self.within)}"
        ]
        if self.simpson:
            parts.append("Simpson's paradox: every segment moved the other way than the aggregate")
        elif self.reversal:
            parts.append("the within-segment change and the aggregate change have opposite signs")
        return "; ".join(parts)


def _aligned(baseline: pd.DataFrame, current: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The two periods' segments side by side: the merged table, the weights and the rates (NaN
    where a segment has no request)."""
    for name, fr in (("baseline", baseline), ("current", current)):
        missing = {"segment", "n", "value"} - set(fr.columns)
        if missing:
            raise ValueError(f"`{name}` must have columns segment, n, value; missing {sorted(missing)}")
    b = baseline[["segment", "n", "value"]].copy()
    c = current[["segment", "n", "value"]].copy()
    b["segment"] = b["segment"].astype(str)
    c["segment"] = c["segment"].astype(str)
    m = b.merge(c, on="segment", how="outer", suffixes=("_baseline", "_current"))
    n0 = pd.to_numeric(m["n_baseline"], errors="coerce").fillna(0.0).to_numpy(float)
    n1 = pd.to_numeric(m["n_current"], errors="coerce").fillna(0.0).to_numpy(float)
    r0 = pd.to_numeric(m["value_baseline"], errors="coerce").to_numpy(float)
    r1 = pd.to_numeric(m["value_current"], errors="coerce").to_numpy(float)
    if (n0 < 0).any() or (n1 < 0).any():
        raise ValueError("`n` must be non-negative")
    if n0.sum() <= 0 or n1.sum() <= 0:
        raise ValueError("both periods need at least one request with a label")
    return m, n0, n1, np.where(n0 > 0, r0, np.nan), np.where(n1 > 0, r1, np.nan)


def _simpson(n0: np.ndarray, n1: np.ndarray, r0: np.ndarray, r1: np.ndarray, total: float, min_size: int) -> bool:
    """Simpson's paradox: every segment present in both periods moved one way, the aggregate the other."""
    both = (n0 >= max(min_size, 1)) & (n1 >= max(min_size, 1))
    d = np.sign(r1[both] - r0[both])
    return bool(both.sum() >= 2 and abs(total) > 1e-12 and (np.all(d > 0) or np.all(d < 0)) and np.sign(total) == -d[0])


def _carried(n0: np.ndarray, n1: np.ndarray, r0: np.ndarray, r1: np.ndarray) -> tuple[np.ndarray, ...]:
    """The shares, and the rates with a segment's rate carried over to the period where it has no traffic."""
    r0f = np.nan_to_num(np.where(np.isfinite(r0), r0, r1))
    r1f = np.nan_to_num(np.where(np.isfinite(r1), r1, r0))
    return n0 / n0.sum(), n1 / n1.sum(), r0f, r1f


def decompose(
    baseline: pd.DataFrame,
    current: pd.DataFrame,
    *,
    segment_column: str = "",
    metric: str = "",
    min_size: int = 1,
) -> Decomposition:
    """Split the change of an aggregate rate into mix shift and within-segment change.

    Parameters
    ----------
    baseline, current
        One row per segment with columns ``segment``, ``n`` (weight: requests with a label) and
        ``value`` (the segment's rate or mean in that period).
    segment_column, metric
        Names kept for the report.
    min_size
        Segments need at least this many requests in *both* periods to take part in the Simpson
        check (the decomposition itself uses every segment).

    Returns
    -------
    Decomposition

    Notes
    -----
    With segment shares :math:`w_{i}` and rates :math:`r_{i}` in the baseline (0) and current (1)
    period, the aggregate :math:`R = \\sum_i w_i r_i` changes by

    .. math::
        R_1 - R_0 = \\underbrace{\\sum_i (w_{1i} - w_{0i})\\,\\frac{r_{0i} + r_{1i}}{2}}_{\\text{mix}}
                  + \\underbrace{\\sum_i (r_{1i} - r_{0i})\\,\\frac{w_{0i} + w_{1i}}{2}}_{\\text{within}}

    exactly (Kitagawa's symmetric two-factor decomposition, the Oaxaca-Blinder decomposition for
    group means with averaged weights). A segment that exists in one period only (new traffic)
    has no rate in the other: its rate is carried over (:math:`r_{0i} := r_{1i}`), so all of its
    contribution is mix shift -- new traffic arriving is a mix change, not a behaviour change.

    References
    ----------
    Kitagawa, E. M. (1955). Components of a difference between two rates. JASA 50(272), 1168-1194.
    Oaxaca, R. (1973). Male-female wage differentials in urban labor markets. Int. Econ. Rev. 14(3).
    Simpson, E. H. (1951). The interpretation of interaction in contingency tables. JRSS B 13(2).
    """
    m, n0, n1, r0, r1 = _aligned(baseline, current)
    w0, w1, r0f, r1f = _carried(n0, n1, r0, r1)
    mix_i = (w1 - w0) * (r0f + r1f) / 2
    within_i = (r1f - r0f) * (w0 + w1) / 2
    agg0 = float(np.sum(w0 * r0f))
    agg1 = float(np.sum(w1 * r1f))
    total = agg1 - agg0
    mix, within = float(mix_i.sum()), float(within_i.sum())
    denom = abs(mix) + abs(within)
    mix_share = abs(mix) / denom if denom > 0 else float("nan")
    simpson = _simpson(n0, n1, r0, r1, total, min_size)
    eps = 1e-12
    reversal = bool(abs(total) > eps and abs(within) > eps and np.sign(total) != np.sign(within))
    by = pd.DataFrame({"segment": m["segment"].astype(str), "n_baseline": n0, "n_current": n1, "share_baseline": w0,
                       "share_current": w1, "value_baseline": r0, "value_current": r1, "mix": mix_i, "within": within_i})
    by = by.sort_values("segment", kind="stable").reset_index(drop=True)
    return Decomposition(statistic=total, mix=mix, within=within, mix_share=mix_share, simpson=simpson, reversal=reversal,
                         aggregate_baseline=agg0, aggregate_current=agg1, by_segment=by, segment_column=segment_column, metric=metric)

