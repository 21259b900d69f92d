"""``drift_scan``: one drift test of a column per time window against a reference period."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis._common import check_alpha, check_duration
from analysis.stats.drift._common import (
    DEFAULT_EFFECT_THRESHOLDS,
    align_counts,
    binned_counts,
    ecdf_compare,
    is_numeric_values,
    label_counts,
    normalise,
    numeric_sample,
    quantile_edges,
    resolve_thresholds,
    robust_spread,
)
from analysis.stats.drift.chi_square import chi_square_from_counts
from analysis.stats.drift.distances import js_distance
from analysis.stats.drift.ks import ks_sorted
from analysis.stats.drift.proportion import proportion_test
from analysis.stats.drift.psi import psi_contributions
from analysis.stats.drift.table import KIND_TEST, bool_counts, series_kind
from analysis.stats.multitest import benjamini_hochberg

__all__ = ["DriftScanResult", "drift_scan"]

_SCAN_TESTS = ("auto", "ks", "chi-square", "proportion", "psi", "jensen-shannon", "wasserstein")


@dataclass(frozen=True, eq=False)
class DriftScanResult:
    """A drift statistic per time window against a reference period (see :func:`drift_scan`).

    ``frame`` has one row per window (empty windows kept, their numbers missing).
    """

    frame: pd.DataFrame
    column: str
    test: str
    effect_name: str
    window: pd.Timedelta
    step: pd.Timedelta
    reference: tuple[pd.Timestamp, pd.Timestamp] | None
    n_reference: int
    alpha: float
    effect_threshold: float
    params: Mapping[str, Any] = field(default_factory=dict)


def _as_bound(value: Any, tz: Any, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` bounds must be timestamps, got {value!r}") from None
    if pd.isna(ts):
        raise ValueError(f"`{name}` bounds must be timestamps, got {value!r}")
    if (ts.tzinfo is None) != (tz is None):
        raise ValueError(
            f"`{name}` bound {value!r} and the events' timestamps must both carry a time zone "
            "or both not (give bounds like '2026-03-01T00:00Z')"
        )
    return ts


class _Counted:
    """Categorical values given as counts (one row a label and its count), e.g. an engine's value counts."""

    def __init__(self, values: pd.Series, weights: Any) -> None:
        w = pd.to_numeric(pd.Series(weights), errors="coerce").to_numpy(dtype=float)
        ok = values.notna().to_numpy() & np.isfinite(w) & (w > 0)
        s = pd.Series(w[ok], index=pd.Index(values[ok].astype(object).to_numpy(), dtype=object))
        self.counts = s.groupby(level=0, sort=False).sum().sort_values(ascending=False, kind="stable")

    def notna_sum(self) -> int:
        return int(round(self.counts.sum()))


def _counts_of(x: Any, name: str) -> pd.Series:
    if isinstance(x, _Counted):
        if x.counts.size == 0:
            raise ValueError(f"`{name}` has no values once missing values are dropped")
        return x.counts
    return label_counts(x, name)


class _Prepared:
    """A reference sample prepared once for many window comparisons."""

    def __init__(self, test: str, ref: Any, bins: int = 10) -> None:
        self.test = test
        if isinstance(ref, _Counted):
            if test not in ("chi-square", "psi", "jensen-shannon"):
                raise ValueError(f"`weights` apply to categorical tests (chi-square, psi, jensen-shannon), not {test!r}")
            self.counts = _counts_of(ref, "reference")
            self.n = int(round(self.counts.sum()))
            return
        if test in ("ks", "wasserstein"):
            self.xs = np.sort(numeric_sample(ref, "reference"))
            self.spread = robust_spread(self.xs)
            self.n = self.xs.size
        elif test == "chi-square":
            self.counts = label_counts(ref, "reference")
            self.n = int(self.counts.sum())
        elif test == "proportion":
            self.x, self.n = bool_counts(ref)
            if self.n == 0:
                raise ValueError("`reference` has no values once missing values are dropped")
        elif test in ("psi", "jensen-shannon"):
            if is_numeric_values(ref):
                xs = np.sort(numeric_sample(ref, "reference"))
                self.inner = quantile_edges(xs, bins)
                self.hist = binned_counts(xs, self.inner)
                self.counts = None
                self.n = xs.size
            else:
                self.counts = label_counts(ref, "reference")
                self.n = int(self.counts.sum())
        else:
            raise AssertionError(test)

    def compare(self, cur: pd.Series) -> tuple[float, float, float]:
        """(statistic, pvalue, effect); raises ValueError when ``cur`` has no values."""
        t = self.test
        if t == "ks":
            r = ks_sorted(self.xs, np.sort(numeric_sample(cur, "current")), spread=self.spread)
            return r.statistic, r.pvalue, r.effect
        if t == "wasserstein":
            ys = np.sort(numeric_sample(cur, "current"))
            w = normalise(ecdf_compare(self.xs, ys).wasserstein, self.spread[0])
            return w, math.nan, w
        if t == "chi-square":
            labels, r_, c_ = align_counts(self.counts, _counts_of(cur, "current"))
            r = chi_square_from_counts(labels, r_, c_, 5.0)
            return r.statistic, r.pvalue, r.effect
        if t == "proportion":
            xb, nb = bool_counts(cur)
            if nb == 0:
                raise ValueError("`current` has no values once missing values are dropped")
            r = proportion_test(self.x, self.n, xb, nb)
            return r.statistic, r.pvalue, r.effect
        # psi / jensen-shannon
        if self.counts is None:
            ref_h = self.hist
            cur_h = binned_counts(numeric_sample(cur, "current"), self.inner)
        else:
            _, ref_h, cur_h = align_counts(self.counts, _counts_of(cur, "current"))
        p, q = ref_h / ref_h.sum(), cur_h / cur_h.sum()
        if t == "psi":
            v = float(np.sum(psi_contributions(p, q)))
        else:
            v = js_distance(p, q)
        return v, math.nan, v


_EFFECT_NAMES = {
    "ks": "wasserstein/spread",
    "wasserstein": "wasserstein/spread",
    "chi-square": "cramers_v_balanced",
    "proportion": "cohen_h",
    "psi": "psi",
    "jensen-shannon": "jensen-shannon",
}


def drift_scan(
    events: pd.DataFrame,
    column: str,
    *,
    reference: Any,
    window: str | pd.Timedelta,
    step: str | pd.Timedelta | None = None,
    test: str = "auto",
    ts_column: str = "ts",
    alpha: float = 0.05,
    effect_threshold: float | None = None,
    weights: str | None = None,
) -> DriftScanResult:
    """A drift test of one column in each time window against a reference period.

    Parameters
    ----------
    events
        Events holding the columns ``column`` and ``ts_column``.
    column, ts_column
        Names of the column to scan and of the timestamp column.
    reference
        ``(start, end)``: the events with ``start <= ts < end`` (bounds time-zone aware when the
        timestamps are); or a boolean mask with one value per row of ``events``.
    window, step
        Window length and distance between window starts, as pandas durations (``"6h"``); ``step``
        defaults to ``window``. Starts are aligned to multiples of ``step`` since the Unix epoch
        and cover the first to the last event.
    test
        ``"auto"`` (``ks`` for numbers, ``chi-square`` for labels, ``proportion`` for booleans),
        ``"ks"``, ``"chi-square"``, ``"proportion"``, or a distance without p-value: ``"psi"``,
        ``"jensen-shannon"``, ``"wasserstein"``.
    alpha
        False discovery rate; p-values are Benjamini-Hochberg adjusted across the windows.
    effect_threshold
        Effect a window needs to be ``drifted``; default from :data:`DEFAULT_EFFECT_THRESHOLDS`.
    weights
        A column of counts: each row stands for that many events with its value (an engine's
        value counts per window), for the categorical tests.

    Returns
    -------
    DriftScanResult
        ``frame``, one row per window: ``window_start``, ``window_end``, ``n`` (non-missing values),
        ``statistic``, ``pvalue`` (adjusted), ``pvalue_raw``, ``effect``, ``overlaps_reference``,
        ``drifted``: ``pvalue <= alpha`` and ``|effect| >= effect_threshold`` (distances: the
        effect alone), missing for an empty window (which is not "no drift").

    Notes
    -----
    Each window is compared with the whole reference, prepared once (sorted, counted or binned).
    Windows inside the reference period are compared with a sample that contains them: read them
    as a baseline, not as independent tests (``overlaps_reference``). The effects are those of
    :func:`drift_table` and do not depend on how much larger the reference is than a window.
    """
    _check_events(events, column, ts_column, test)
    alpha = check_alpha(alpha)
    window_td, step_td = _window_step(window, step)
    ts, tz = _timestamps(events, ts_column)
    values = events[column]
    ref_mask, ref_bounds = _reference_mask(reference, ts, tz, len(events))
    wts = _weights(events, weights)
    ref_values = _reference_values(values, ref_mask)
    test = _resolve_test(test, series_kind(values), column, wts is not None)
    threshold = _threshold(test, effect_threshold)
    prepared = _Prepared(test, ref_values if wts is None else _Counted(ref_values, wts[ref_mask]))
    recs = _window_records(prepared, ts, values, ref_mask, wts, (window_td, step_td))
    return DriftScanResult(
        frame=_scan_frame(recs, tz, test, alpha, threshold),
        column=str(column),
        test=test,
        effect_name=_EFFECT_NAMES[test],
        window=window_td,
        step=step_td,
        reference=ref_bounds,
        n_reference=int(prepared.n),
        alpha=alpha,
        effect_threshold=float(threshold),
        params={"ts_column": ts_column, "reference_kind": "period" if ref_bounds else "mask"},
    )


def _check_events(events: Any, column: str, ts_column: str, test: str) -> None:
    """Check that ``events`` is a DataFrame holding both columns, and the name of the test."""
    if not isinstance(events, pd.DataFrame):
        raise ValueError(f"`events` must be a DataFrame, got {type(events).__name__}")
    for c, pname in ((ts_column, "ts_column"), (column, "column")):
        if c not in events.columns:
            raise ValueError(f"`{pname}` {c!r} is not a column of `events`")
    if test not in _SCAN_TESTS:
        raise ValueError(f"`test` must be one of {_SCAN_TESTS}, got {test!r}")


def _window_step(window: Any, step: Any) -> tuple[pd.Timedelta, pd.Timedelta]:
    """The window length and the step between window starts (``None``: the window length)."""
    window_td = check_duration(window, "window")
    return window_td, window_td if step is None else check_duration(step, "step")


def _timestamps(events: pd.DataFrame, ts_column: str) -> tuple[pd.Series, Any]:
    """The timestamp column, checked to hold timestamps, and its time zone (``None``: naive)."""
    ts = events[ts_column]
    if not pd.api.types.is_datetime64_any_dtype(ts.dtype):
        raise ValueError(f"`ts_column` {ts_column!r} must hold timestamps, got dtype {ts.dtype}")
    return ts, getattr(ts.dtype, "tz", None)


def _reference_values(values: pd.Series, ref_mask: np.ndarray) -> pd.Series:
    """The scanned column's values in the reference, which must hold at least one value."""
    ref_values = values[ref_mask]
    if ref_values.notna().sum() == 0:
        raise ValueError("`reference` selects no events with a value in `column`")
    return ref_values


def _weights(events: pd.DataFrame, weights: str | None) -> pd.Series | None:
    """The column of counts named by ``weights``, or ``None``."""
    if weights is None:
        return None
    if weights not in events.columns:
        raise ValueError(f"`weights` {weights!r} is not a column of `events`")
    return events[weights]


def _threshold(test: str, effect_threshold: float | None) -> float:
    """The effect threshold of ``test``: the given one, or the default."""
    if effect_threshold is None:
        return DEFAULT_EFFECT_THRESHOLDS[test]
    return resolve_thresholds(effect_threshold)[test]


def _reference_mask(
    reference: Any, ts: pd.Series, tz: Any, n_events: int
) -> tuple[np.ndarray, tuple[pd.Timestamp, pd.Timestamp] | None]:
    """The reference rows as a boolean mask, and the period's bounds when one was given."""
    if isinstance(reference, tuple) and len(reference) == 2:
        start = _as_bound(reference[0], tz, "reference")
        end = _as_bound(reference[1], tz, "reference")
        if not start < end:
            raise ValueError(f"`reference` must be (start, end) with start < end, got {reference!r}")
        return ((ts >= start) & (ts < end)).fillna(False).to_numpy(dtype=bool), (start, end)
    ref_mask = np.asarray(reference)
    if ref_mask.dtype != bool or ref_mask.shape != (n_events,):
        raise ValueError(
            "`reference` must be a (start, end) pair of timestamps or a boolean mask with one "
            f"value per event ({n_events}), got {type(reference).__name__}"
        )
    return ref_mask, None


def _resolve_test(test: str, kind: str, column: str, weighted: bool) -> str:
    """The test to run on a column of this kind (``"auto"`` resolved), checked against the kind."""
    if weighted and kind != "categorical":
        raise ValueError(f"`weights` apply to a categorical column, {column!r} is {kind}")
    if test == "auto":
        if kind not in ("numeric", "categorical", "boolean"):
            raise ValueError(f"`column` {column!r} has no automatic test (kind {kind}); pass `test`")
        return KIND_TEST[kind]
    if test == "proportion" and kind != "boolean":
        raise ValueError(f"`test` 'proportion' needs a boolean column, {column!r} is {kind}")
    return test


def _window_records(
    prepared: _Prepared,
    ts: pd.Series,
    values: pd.Series,
    ref_mask: np.ndarray,
    wts: pd.Series | None,
    window_step: tuple[pd.Timedelta, pd.Timedelta],
) -> list[tuple]:
    """(start_ns, end_ns, n, statistic, pvalue, effect, overlaps_reference) for every window."""
    window_td, step_td = window_step
    valid = ts.notna().to_numpy()
    t_ns = np.asarray(ts[valid].dt.as_unit("ns").array.asi8)  # UTC epoch ns when tz-aware
    vals = values[valid]
    in_ref = ref_mask[valid]
    order = np.argsort(t_ns, kind="stable")
    t_sorted = t_ns[order]
    vals = vals.iloc[order]
    in_ref = in_ref[order]
    w_sorted = wts[valid].iloc[order] if wts is not None else None

    starts: list[int] = []
    win_ns = window_td.value
    if t_sorted.size:
        step_ns = step_td.value
        first = t_sorted[0] - (t_sorted[0] % step_ns)
        starts = list(range(int(first), int(t_sorted[-1]) + 1, int(step_ns)))
    recs = []
    for s0 in starts:
        lo = int(np.searchsorted(t_sorted, s0, side="left"))
        hi = int(np.searchsorted(t_sorted, s0 + win_ns, side="left"))
        chunk = vals.iloc[lo:hi]
        if w_sorted is not None:
            chunk = _Counted(chunk, w_sorted.iloc[lo:hi])
            n = chunk.notna_sum()
        else:
            n = int(chunk.notna().sum())
        stat = p = eff = math.nan
        if n > 0:
            stat, p, eff = prepared.compare(chunk)
        recs.append((s0, s0 + win_ns, n, stat, p, eff, bool(in_ref[lo:hi].any())))
    return recs


def _scan_frame(recs: list[tuple], tz: Any, test: str, alpha: float, threshold: float) -> pd.DataFrame:
    """The scan's frame: one row a window, p-values BH-adjusted, ``drifted`` missing when empty."""
    frame = pd.DataFrame(
        recs,
        columns=["window_start", "window_end", "n", "statistic", "pvalue_raw", "effect", "overlaps_reference"],
    )
    for c in ("window_start", "window_end"):
        frame[c] = pd.to_datetime(frame[c].astype("int64"), unit="ns", utc=tz is not None)
        if tz is not None:
            frame[c] = frame[c].dt.tz_convert(tz)
    frame = frame.astype({"n": "int64", "statistic": "float64", "pvalue_raw": "float64", "effect": "float64",
                          "overlaps_reference": "bool"})
    frame["pvalue"] = benjamini_hochberg(frame["pvalue_raw"].to_numpy(dtype=float)) if len(frame) else []
    eff_ok = frame["effect"].abs() >= threshold
    if test in ("psi", "jensen-shannon", "wasserstein"):
        drifted = eff_ok
    else:
        drifted = (frame["pvalue"] <= alpha) & eff_ok
    frame["drifted"] = pd.array(np.where(frame["n"] > 0, drifted, False), dtype="boolean")
    frame.loc[frame["n"] == 0, "drifted"] = pd.NA
    return frame[["window_start", "window_end", "n", "statistic", "pvalue", "pvalue_raw", "effect",
                  "drifted", "overlaps_reference"]]
