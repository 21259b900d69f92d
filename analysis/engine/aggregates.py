"""The engine's result type: per-window, per-segment sufficient statistics.

:meth:`analysis.engine.Engine.window_aggregates` returns a :class:`WindowedAggregates`: a small long
table of per-window, per-segment counts, label counts, sums and sums of squares, plus a bounded
sample of raw values per window and segment. Everything downstream (drift tests, control charts,
change points, attribution) works on those small tables; rates and means with their intervals are
read from them by :mod:`analysis.investigation.series`. An empty window has ``n = 0`` and a missing
(NaN) rate or mean, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.params import format_duration

__all__ = ["WindowedAggregates", "finish_samples", "offset_string"]


@dataclass(frozen=True)
class WindowedAggregates:
    """Per-window, per-segment sufficient statistics.

    Attributes
    ----------
    table
        Long table: ``window_start`` (UTC), ``segment_column`` (``"__all__"`` for the whole
        traffic), ``segment`` (the value as a string; ``"__all__"``; ``"__missing__"`` for a null),
        ``n`` (rows), and per rate metric ``m``: ``m__n`` (rows with a label), ``m__sum`` (true
        count); per mean metric ``m``: ``m__n`` (non-missing values), ``m__sum``, ``m__sumsq``.
        Every window of ``[start, end)`` appears for every ``(segment_column, segment)`` seen.
    samples
        ``window_start``, ``segment_column``, ``segment``, ``column``, ``value``: at most
        ``sample_size`` non-missing raw values per window, segment and mean metric, chosen by a
        seeded hash of ``event_id`` (the same rows whatever the input order).
    window
        The window length as an offset string (e.g. ``"1h"``).
    metrics
        Metric name -> ``"rate"`` or ``"mean"``.
    segment_by, start, end, sample_size, seed
        The parameters used (``start``/``end`` resolved).
    n_events
        Events that fell in ``[start, end)``.
    """

    table: pd.DataFrame
    samples: pd.DataFrame
    window: str
    metrics: dict[str, str]
    segment_by: tuple[str, ...] = ()
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    sample_size: int = 256
    seed: int = 0
    n_events: int = 0
    windows: pd.DatetimeIndex = field(default_factory=lambda: pd.DatetimeIndex([], tz="UTC"))

    def segments(self, segment_column: str | None = None) -> pd.DataFrame:
        """The distinct ``(segment_column, segment)`` pairs with their total ``n``."""
        t = self.table if segment_column is None else self.table[self.table["segment_column"] == segment_column]
        return t.groupby(["segment_column", "segment"], sort=False, as_index=False)["n"].sum()


def offset_string(w: pd.Timedelta) -> str:
    """The window length as a pandas offset string: ``"1h"``, ``"15min"``, ``"1D"``, ``"90s"``
    (:func:`analysis.params.format_duration`, the kit's one duration formatter)."""
    return format_duration(w)


def finish_samples(samples: pd.DataFrame | None) -> pd.DataFrame:
    """The samples table with its canonical dtypes (an empty one for ``None``), on a fresh index.

    ``window_start`` as UTC timestamps, ``segment_column``, ``segment`` and ``column`` as
    ``string[pyarrow]``: the same dtypes whichever engine (or the test reference) drew the sample.
    """
    if samples is None:
        samples = pd.DataFrame(
            {
                "window_start": pd.Series([], dtype="datetime64[ns, UTC]"),
                "segment_column": pd.Series([], dtype=object),
                "segment": pd.Series([], dtype=object),
                "column": pd.Series([], dtype=object),
                "value": pd.Series([], dtype=np.float64),
            }
        )
    samples["window_start"] = samples["window_start"].astype("datetime64[ns, UTC]")
    for c in ("segment_column", "segment", "column"):
        samples[c] = samples[c].astype("string[pyarrow]")
    return samples.reset_index(drop=True)
