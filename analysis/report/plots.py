"""Figures for the incident report, drawn from a :class:`~analysis.report.postmortem.Postmortem`.

Every function takes the postmortem (or the result objects it holds) and returns a
:class:`matplotlib.figure.Figure`. Nothing is recomputed here: the series, intervals, chart paths,
limits, alarms, drift statistics and change-point levels all come from the results of
:mod:`analysis.investigation.series`, :mod:`analysis.stats.spc`, :mod:`analysis.stats.drift`, :mod:`analysis.stats.changepoint`
and :mod:`analysis.investigation.backtest` that the investigation kept for this purpose.

Figures are built with :class:`matplotlib.figure.Figure` directly (not ``pyplot``), so they work
on any backend (Agg in tests and on servers), are not kept alive by pyplot's figure manager, and
display inline in a notebook after ``%matplotlib inline``.

* :func:`plot_overview` -- the report's first-screen timeline: the metric pooled with its interval,
  the onset band, the change log, the first alarms and the report, with the requests per window;
* :func:`plot_metric_timeline` -- the metric pooled over neighbouring windows with its interval (each
  window's own value as a faint dot), the change events (the most likely cause highlighted), the onset
  with its interval shaded, the report, the requests per window underneath, and a fixed
  threshold (e.g. the 0.72 retrieval-relevance bar) with its rolling value where one applies;
* :func:`plot_control_charts` -- CUSUM, EWMA and rolling 2-sigma paths with limits and alarms;
* :func:`plot_drift_heatmap` -- query-mix drift per column and window;
* :func:`plot_segments` -- the metric per segment as small multiples;
* :func:`plot_detection_gap` -- each monitor's first alarm against the onset and the report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis._common import to_utc
from analysis.investigation.series import smoothed_series
from analysis.redact import safe_text

__all__ = [
    "plot_overview",
    "plot_metric_timeline",
    "plot_control_charts",
    "plot_drift_heatmap",
    "plot_segments",
    "plot_detection_gap",
    "plot_all",
    "main_series",
    "onset_marks",
    "reported_time",
    "change_events",
    "metric_label",
    "segment_text",
]

# Colours: one meaning each, the same in every figure.
C_METRIC = "#1f4e79"
C_BAND = "#9dc3e6"
C_ONSET = "#c00000"
C_CAUSE = "#c55a11"
C_CHANGE = "#7f7f7f"
C_REPORT = "#000000"
C_ALARM = "#d62728"
C_LIMIT = "#ff7f0e"
C_THRESH = "#7030a0"

_WIDTH = 11.0
#: The requests each point of a metric line should rest on (the line pools windows until it does).
MIN_REQUESTS = 30


# ----------------------------------------------------------------------------------------------
# small accessors (tolerant of missing parts: an investigation without incident has no onset)
# ----------------------------------------------------------------------------------------------




def _naive(t: pd.Timestamp | None) -> Any:
    """Timestamps as naive UTC datetimes for matplotlib's date axis (labelled UTC)."""
    return None if t is None else t.tz_convert("UTC").tz_localize(None).to_datetime64()


def _x(series: pd.Series) -> np.ndarray:
    s = pd.to_datetime(series, utc=True)
    return s.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()


def onset_marks(pm: Any) -> tuple[pd.Timestamp | None, tuple[pd.Timestamp, pd.Timestamp] | None]:
    """The onset time and its interval (UTC), each None when the investigation has none."""
    on = getattr(pm, "onset", None) or {}
    ts = to_utc(on.get("ts")) if isinstance(on, Mapping) else None
    interval = on.get("interval") if isinstance(on, Mapping) else None
    if interval is None and getattr(pm, "onset_result", None) is not None:
        interval = getattr(pm.onset_result, "interval", None)
    iv = None
    if interval is not None and len(interval) == 2:
        lo, hi = to_utc(interval[0]), to_utc(interval[1])
        if lo is not None and hi is not None:
            iv = (lo, hi)
    return ts, iv


def reported_time(pm: Any) -> pd.Timestamp | None:
    """When the incident was reported (Q4's, else the parameters'), or None."""
    q4 = getattr(pm, "q4", None)
    t = to_utc(getattr(q4, "reported_at", None)) if q4 is not None else None
    if t is None:
        params = getattr(pm, "parameters", None) or {}
        t = to_utc(params.get("reported_at")) if isinstance(params, Mapping) else None
    return t


def change_events(pm: Any) -> pd.DataFrame:
    """Q2's candidates with their ``rank`` (empty with the columns the figures read when there are none)."""
    q2 = getattr(pm, "q2", None)
    c = getattr(q2, "candidates", None) if q2 is not None else None
    if c is None or len(c) == 0:
        return pd.DataFrame(columns=["change_id", "change_type", "ts", "rank"])
    c = c.copy()
    if "rank" not in c.columns:
        c["rank"] = np.arange(1, len(c) + 1)
    return c


def _runs(pm: Any) -> dict[str, Any]:
    q4 = getattr(pm, "q4", None)
    runs = getattr(q4, "runs", None) if q4 is not None else None
    return dict(runs or {})


def _value_column(series: pd.DataFrame) -> str | None:
    for col in ("rate", "mean", "value"):
        if col in series.columns:
            return col
    return None


def main_series(pm: Any) -> pd.DataFrame | None:
    """The metric per window in the segment where the onset was found, else on all traffic; None when empty."""
    onset_result = getattr(pm, "onset_result", None)
    main = getattr(onset_result, "series", None) if onset_result is not None else None
    if main is None or len(main) == 0:
        main = getattr(pm, "metric_series", None)
    return None if main is None or len(main) == 0 else main


def metric_label(pm: Any) -> str:
    """The investigated metric's name."""
    on = getattr(pm, "onset", None) or {}
    metric = on.get("metric") if isinstance(on, Mapping) else None
    if not metric:
        params = getattr(pm, "parameters", None) or {}
        metric = params.get("metric") if isinstance(params, Mapping) else None
    return str(metric or "metric")


def segment_text(seg: Any) -> str:
    """A segment (column -> value) in words: ``col=value, ...``; ``all traffic`` for none."""
    if isinstance(seg, Mapping):
        return ", ".join(f"{k}={v}" for k, v in seg.items()) or "all traffic"
    if seg in (None, "", "__all__"):
        return "all traffic"
    return str(seg)


def _short(text: Any, n: int = 40) -> str:
    return str(safe_text(str(text), redact=True, max_len=n))


def _date_axis(ax: Any) -> None:
    loc = mdates.AutoDateLocator(minticks=4, maxticks=9)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc, show_offset=True))
    ax.grid(True, axis="both", color="#e6e6e6", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _empty(message: str, height: float = 2.0) -> Figure:
    fig = Figure(figsize=(_WIDTH, height), layout="constrained")
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color="#555555", transform=ax.transAxes)
    return fig


def _mark_events(ax: Any, pm: Any, *, label: bool = False) -> None:
    """Onset (line + shaded interval) and report; the change events are :func:`_mark_changes`."""
    onset, interval = onset_marks(pm)
    if interval is not None:
        ax.axvspan(_naive(interval[0]), _naive(interval[1]), color=C_ONSET, alpha=0.10, lw=0,
                   label="onset interval" if label else None)
    if onset is not None:
        ax.axvline(_naive(onset), color=C_ONSET, lw=1.4, ls="-", label="onset" if label else None)
    rep = reported_time(pm)
    if rep is not None:
        ax.axvline(_naive(rep), color=C_REPORT, lw=1.2, ls="--", label="reported" if label else None)


def _mark_changes(ax: Any, pm: Any, *, label: bool, annotate: bool, max_labels: int = 3, cause: bool = True) -> None:
    """Change events as vertical lines; labelled: the logged ones and the top-ranked inferred ones.
    ``cause=False`` (no incident) draws the first-ranked one like the others: there is no cause to name."""
    cands = change_events(pm)
    if len(cands) == 0:
        return
    ts = pd.to_datetime(cands["ts"], utc=True, errors="coerce")
    top_shown = other_shown = False
    ymax = ax.get_ylim()[1]
    for i, (t, row) in enumerate(zip(ts, cands.to_dict("records"))):
        if pd.isna(t):
            continue
        is_top = cause and int(row.get("rank", i + 1)) == 1
        colour = C_CAUSE if is_top else C_CHANGE
        lab = None
        if label and is_top and not top_shown:
            lab, top_shown = "most likely cause", True
        elif label and not is_top and not other_shown:
            lab, other_shown = "other change events", True
        ax.axvline(_naive(pd.Timestamp(t)), color=colour, lw=1.6 if is_top else 0.9, ls=":" if not is_top else "-.", label=lab)
        if annotate and (int(row.get("rank", i + 1)) <= max_labels or not bool(row.get("inferred", False))):
            ax.annotate(
                _short(row.get("change_id"), 18),
                xy=(_naive(pd.Timestamp(t)), ymax),
                xytext=(2, -2),
                textcoords="offset points",
                rotation=90,
                va="top",
                ha="left",
                fontsize=7.5,
                color=colour,
                fontweight="bold" if is_top else "normal",
            )


def _plot_series(ax: Any, series: pd.DataFrame, *, colour: str = C_METRIC, label: str | None = None, band: bool = True) -> None:
    col = _value_column(series)
    if col is None or "window_start" not in series.columns:
        return
    x = _x(series["window_start"])
    y = pd.to_numeric(series[col], errors="coerce").to_numpy(float)
    if band and {"ci_low", "ci_high"} <= set(series.columns):
        lo = pd.to_numeric(series["ci_low"], errors="coerce").to_numpy(float)
        hi = pd.to_numeric(series["ci_high"], errors="coerce").to_numpy(float)
        ax.fill_between(x, lo, hi, color=C_BAND if colour == C_METRIC else colour, alpha=0.35 if colour == C_METRIC else 0.15,
                        lw=0, step="post", label="95% interval" if label else None)
    ax.step(x, y, where="post", color=colour, lw=1.0, label=label)


def _smoothed(series: pd.DataFrame) -> pd.DataFrame | None:
    """The series pooled so each point rests on enough requests (:func:`~analysis.investigation.series.smoothed_series`)."""
    if "n" not in series.columns or not ({"successes"} <= set(series.columns) or "mean" in series.columns):
        return None
    return smoothed_series(series, min_n=MIN_REQUESTS)


def _plot_pooled(ax: Any, series: pd.DataFrame, *, colour: str = C_METRIC, label: str | None = None,
                 raw: bool = True) -> pd.DataFrame:
    """Each window's value as a faint dot, and the pooled line with its 95% band; returns what the line draws.

    A window of a handful of requests has a rate of 0 or 1: the dots show them as they are, the line
    pools neighbouring windows (a centred span, named in the legend) so that the change is visible.
    """
    col = _value_column(series)
    pooled = _smoothed(series)
    if col is None or "window_start" not in series.columns:
        return series
    x = _x(series["window_start"])
    if pooled is None:  # no counts to pool by: the stored values and interval, as they are
        _plot_series(ax, series, colour=colour, label=label)
        return series
    span = int(pooled["span"].iat[0]) if len(pooled) else 1
    if raw and span > 1:
        ax.plot(x, pd.to_numeric(series[col], errors="coerce").to_numpy(float), ls="none", marker=".", ms=2.5,
                color=colour, alpha=0.25, label="per window" if label else None)
    ax.fill_between(x, pooled["ci_low"].to_numpy(float), pooled["ci_high"].to_numpy(float),
                    color=C_BAND if colour == C_METRIC else colour, alpha=0.35 if colour == C_METRIC else 0.15, lw=0,
                    label="95% interval" if label else None)
    what = f", {span} windows pooled" if span > 1 else ""
    ax.plot(x, pooled["value"].to_numpy(float), color=colour, lw=1.6, label=f"{label}{what}" if label else None)
    return pooled.assign(**{col: pooled["value"]})


def _plot_counts(ax: Any, series: pd.DataFrame, *, colour: str = "#a6a6a6") -> None:
    """Requests per window as bars under the metric, so a reader sees what each point rests on."""
    if "n" not in series.columns or "window_start" not in series.columns or len(series) == 0:
        return
    starts = pd.to_datetime(series["window_start"], utc=True)
    width = (starts.diff().median() if len(starts) > 1 else pd.Timedelta(hours=1)) / pd.Timedelta(days=1)
    ax.bar(_x(series["window_start"]), series["n"].to_numpy(float), width=float(width), align="edge", color=colour, lw=0)
    ax.set_ylabel("requests", fontsize=8)
    ax.tick_params(labelsize=7.5)


def _changepoint_levels(ax: Any, pm: Any, series: pd.DataFrame) -> None:
    """Segment levels of the change-point fit, if it ran on ``series``."""
    onset_result = getattr(pm, "onset_result", None)
    cp = getattr(onset_result, "changepoint", None) if onset_result is not None else None
    if cp is None:
        cp = getattr(pm, "changepoint", None)
    segs = getattr(cp, "segments", None)
    if segs is None or len(segs) == 0 or "window_start" not in series.columns:
        return
    starts = pd.to_datetime(series["window_start"], utc=True).reset_index(drop=True)
    frame = segs if isinstance(segs, pd.DataFrame) else pd.DataFrame(segs)
    if not {"start", "end", "level"} <= set(frame.columns):
        return
    first = True
    for r in frame.to_dict("records"):
        a, b = int(r["start"]), int(r["end"])
        if a < 0 or a >= len(starts) or b <= a:
            continue
        x0 = starts.iat[a]
        x1 = starts.iat[b] if b < len(starts) else starts.iat[-1] + (starts.iat[-1] - starts.iat[-2] if len(starts) > 1 else pd.Timedelta(hours=1))
        ax.hlines(float(r["level"]), _naive(x0), _naive(x1), color=C_ONSET, lw=2.2, alpha=0.8,
                  label="change-point segment levels" if first else None)
        first = False


# ----------------------------------------------------------------------------------------------
# 1. the metric over time
# ----------------------------------------------------------------------------------------------


def plot_metric_timeline(pm: Any) -> Figure:
    """The metric per window with its 95% interval, change events, onset and report, and the requests per window.

    Where windows hold a handful of requests the line pools neighbouring ones
    (:func:`~analysis.investigation.series.smoothed_series`, about :data:`MIN_REQUESTS` a point) and
    each window's own value is a faint dot.

    Panels: the metric in the segment where the onset was found (with the change-point segment
    levels) and, in grey, on all traffic when that differs; then one panel per fixed-threshold
    monitor on another signal (e.g. retrieval relevance against its 0.72 bar), with the monitor's
    rolling value and its alarms.
    """
    onset_result = getattr(pm, "onset_result", None)
    main = getattr(onset_result, "series", None) if onset_result is not None else None
    overall = getattr(pm, "metric_series", None)
    if main is None or len(main) == 0:
        main, overall = overall, None
    if main is None or len(main) == 0:
        return _empty("No metric series: nothing to plot.")
    metric = metric_label(pm)
    seg = segment_text((getattr(pm, "onset", None) or {}).get("segment"))

    thresholds = [r for r in _runs(pm).values() if getattr(r, "kind", None) == "threshold"]
    # On the main panel: the threshold monitor of the same metric, on the same segment if there is one.
    same_all = [r for r in thresholds if r.metric == metric]
    same = [r for r in same_all if str(getattr(r, "segment", "")) == seg] or same_all[:1]
    # One extra panel per other signal (its first threshold monitor), e.g. relevance under hallucination.
    extra: dict[str, Any] = {}
    for r in thresholds:
        if r.metric != metric:
            extra.setdefault(r.metric, r)

    n_panels = 2 + len(extra)
    fig = Figure(figsize=(_WIDTH, 4.4 + 2.6 * len(extra)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(n_panels, 1, sharex=True, height_ratios=[1.4] + [1.0] * len(extra) + [0.35]))
    ax = axes[0]
    if overall is not None and len(overall) and seg != "all traffic":
        _plot_pooled(ax, overall, colour="#a6a6a6", label="all traffic", raw=False)
    drawn = _plot_pooled(ax, main, label=f"{metric} ({seg})")
    _changepoint_levels(ax, pm, main)
    for r in same:
        _threshold_lines(ax, r)
    _fit_ylim(ax, drawn, same)
    _date_axis(ax)
    ax.set_ylabel(metric)
    _mark_events(ax, pm, label=True)
    _mark_changes(ax, pm, label=True, annotate=True)
    ax.set_title(f"{metric} per window, {seg}", loc="left", fontsize=11)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    _plot_counts(axes[-1], main)
    _date_axis(axes[-1])
    _mark_events(axes[-1], pm, label=False)

    for ax_, (m, run) in zip(axes[1:-1], extra.items()):
        series = getattr(run, "series", None)
        if series is not None and len(series):
            _plot_series(ax_, series, colour="#5b9bd5", label=f"{m} per window", band=False)
        _threshold_lines(ax_, run)
        if series is not None and len(series):
            _fit_ylim(ax_, series, [run])
        _date_axis(ax_)
        ax_.set_ylabel(m)
        _mark_events(ax_, pm, label=False)
        _mark_changes(ax_, pm, label=False, annotate=False)
        ax_.set_title(f"{m}: {run.description}", loc="left", fontsize=10)
        ax_.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    axes[-1].set_xlabel("window start (UTC)")
    return fig


def plot_overview(pm: Any) -> Figure:
    """The report's one timeline figure: the metric with its interval, the onset band, the change log,
    the alarms and the report time, with the requests per window underneath.

    A compact form of :func:`plot_metric_timeline` for the first screen of ``report.html``: one
    panel, the metric pooled so each point rests on about :data:`MIN_REQUESTS` requests, each
    logged change as a line (the most likely cause labelled), each usable monitor's first alarm as
    a triangle on the top edge (the earliest one labelled), and the legend above the axes.
    """
    main = main_series(pm)
    if main is None:
        return _empty("No metric series: nothing to plot.", height=1.6)
    metric = metric_label(pm)
    on = getattr(pm, "onset", None) or {}
    seg = str(on.get("segment_label") or segment_text(on.get("segment")))
    fig = Figure(figsize=(_WIDTH, 3.5), layout="constrained")
    ax, ax_n = fig.subplots(2, 1, sharex=True, height_ratios=[3.2, 1.0])
    drawn = _plot_pooled(ax, main, label=_short(metric, 40))
    _fit_ylim(ax, drawn, [])
    ax.set_title(f"{metric} in {seg}", loc="left", fontsize=9)
    _date_axis(ax)
    ax.set_ylabel(metric, fontsize=9)
    ax.tick_params(labelsize=8)
    _mark_events(ax, pm, label=True)
    _mark_changes(ax, pm, label=True, annotate=True, max_labels=1, cause=onset_marks(pm)[0] is not None)
    _mark_alarms(ax, pm)
    _plot_counts(ax_n, main)
    _date_axis(ax_n)
    _mark_events(ax_n, pm, label=False)
    ax_n.set_xlabel("time (UTC)", fontsize=8)
    fig.legend(loc="outside upper center", ncols=5, fontsize=7.5, frameon=False, columnspacing=1.2, handlelength=1.6)
    return fig


def _mark_alarms(ax: Any, pm: Any) -> None:
    """Each usable monitor's first alarm before the report as a triangle on the top edge; the legend names the earliest."""
    q4 = getattr(pm, "q4", None)
    table = getattr(q4, "monitors", None) if q4 is not None else None
    if table is None or len(table) == 0 or "first_alarm" not in table.columns:
        return
    usable = table["usable"].astype("boolean").fillna(True) if "usable" in table.columns else pd.Series(True, index=table.index)
    rep = reported_time(pm)  # an alarm after the report detected nothing
    firsts = sorted({t for t in (to_utc(v) for v in table.loc[usable.to_numpy(bool), "first_alarm"])
                     if t is not None and (rep is None or t <= rep)})
    if not firsts:
        return
    name = getattr(q4, "closing_monitor", None)
    trans = ax.get_xaxis_transform()  # x in data, y in axes: the triangles sit on the top edge
    xs = mdates.date2num([_naive(t) for t in firsts])  # a transform's coordinates skip the date units: numbers
    ax.scatter(xs, [0.985] * len(firsts), transform=trans, marker="v", s=34, color=C_ALARM, zorder=4,
               clip_on=False, label="first alarms" + (f" (earliest: {_short(name, 24)})" if name else ""))


def _fit_ylim(ax: Any, series: pd.DataFrame, runs: Sequence[Any]) -> None:
    """Scale the y axis to the values (and thresholds), not to the widest interval of a tiny window."""
    col = _value_column(series)
    if col is None:
        return
    y = pd.to_numeric(series[col], errors="coerce").to_numpy(float)
    y = y[np.isfinite(y)]
    if y.size == 0:
        return
    lo, hi = float(np.percentile(y, 0.5)), float(np.percentile(y, 99.5))
    for r in runs:
        bar = (getattr(r, "design", None) or {}).get("threshold")
        if bar is not None and np.isfinite(float(bar)):
            lo, hi = min(lo, float(bar)), max(hi, float(bar))
    pad = 0.12 * (hi - lo) if hi > lo else max(abs(hi) * 0.05, 0.05)
    lo, hi = lo - pad, hi + pad
    if col == "rate":
        lo, hi = max(lo, -0.02), min(hi, 1.02)
    ax.set_ylim(lo, hi)


def _threshold_lines(ax: Any, run: Any) -> None:
    design = getattr(run, "design", None) or {}
    bar = design.get("threshold")
    chart = getattr(run, "chart", None)
    series = getattr(run, "series", None)
    if isinstance(chart, Mapping) and "value" in chart and series is not None and len(series) == len(chart["value"]):
        x = _x(series["window_start"])
        ax.plot(x, np.asarray(chart["value"], float), color=C_THRESH, lw=1.6,
                label=f"rolling {design.get('rolling', '')}-window mean".replace(" -", " "))
        alarm = np.asarray(chart.get("alarm", []), bool)
        if alarm.size == len(x) and alarm.any():
            ax.scatter(x[alarm], np.asarray(chart["value"], float)[alarm], s=3, color=C_ALARM, zorder=3, label="threshold alarm")
    if bar is not None and np.isfinite(float(bar)):
        ax.axhline(float(bar), color=C_THRESH, lw=1.2, ls="--", label=f"threshold {float(bar):g} ({design.get('alternative', '')})")


# ----------------------------------------------------------------------------------------------
# 2. control charts
# ----------------------------------------------------------------------------------------------


_CHART_TYPES = ("rolling_2sigma", "cusum", "ewma")
_CHART_ORDER = {"cusum": 0, "ewma": 1, "rolling_2sigma": 2}


def _chart_key(name: str) -> tuple[int, str, int]:
    """All traffic first, then the affected segment, then other signals; CUSUM, EWMA, 2-sigma."""
    kind = next((k for k in _CHART_TYPES if name.endswith(k)), "")
    prefix = name[: len(name) - len(kind)] if kind else name
    group = 0 if prefix == "" else 1 if prefix == "segment_" else 2
    return group, prefix, _CHART_ORDER.get(kind, 3)


def _spc_runs(pm: Any) -> list[Any]:
    runs = [r for r in _runs(pm).values() if getattr(r, "kind", None) == "spc" and getattr(r, "chart", None) is not None]
    return sorted(runs, key=lambda r: _chart_key(r.name))


def plot_control_charts(pm: Any, *, names: Sequence[str] | None = None) -> Figure:
    """The replayed control charts: CUSUM (upper/lower sums against h), EWMA (statistic against
    its limits), rolling 2-sigma (values against the rolling band); alarms marked, the first one
    after the onset circled.

    ``names`` picks monitors by name (default: every chart the investigation replayed).
    """
    runs = _spc_runs(pm)
    if names is not None:
        runs = [r for r in runs if r.name in set(names)]
    if not runs:
        return _empty("No control charts were replayed (no incident metric).")
    fig = Figure(figsize=(_WIDTH, 2.3 * len(runs) + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(runs), 1, sharex=True))
    for ax, run in zip(axes, runs):
        _draw_chart(ax, run)
        _mark_events(ax, pm, label=ax is axes[0])
        _date_axis(ax)
        lead = getattr(run, "lead_time_hours", None)
        first = to_utc(getattr(run, "first_alarm", None))
        tail = (f"first alarm {first:%Y-%m-%d %H:%M} UTC, {lead:.0f} h before the report" if first is not None and lead is not None
                else "no alarm after the onset")
        ax.set_title(f"{run.name} on {run.metric} ({run.segment}): {tail}; {run.false_alarms_baseline} false alarms in the baseline",
                     loc="left", fontsize=9.5)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    axes[-1].set_xlabel("window start (UTC)")
    return fig


def _draw_chart(ax: Any, run: Any) -> None:
    chart, series = run.chart, run.series
    if series is None or "window_start" not in getattr(series, "columns", []):
        ax.text(0.5, 0.5, "no series", transform=ax.transAxes, ha="center")
        return
    x = _x(series["window_start"].reset_index(drop=True))
    alarms = np.asarray(getattr(chart, "alarms", []), dtype=int)
    alarms = alarms[(alarms >= 0) & (alarms < len(x))]
    if hasattr(chart, "upper") and hasattr(chart, "lower") and hasattr(chart, "run_length_upper"):
        # tabular CUSUM: C+ and C- (both >= 0) against the decision interval h; C- drawn negative
        h = (getattr(chart, "params", None) or {}).get("h")
        up, lo = np.asarray(chart.upper, float), np.asarray(chart.lower, float)
        ax.plot(x[: len(up)], up, color=C_METRIC, lw=1.1, label="C+ (upper sum)")
        ax.plot(x[: len(lo)], -lo, color="#5b9bd5", lw=1.1, label="C- (lower sum, drawn negative)")
        if h is not None:
            ax.axhline(float(h), color=C_LIMIT, ls="--", lw=1.0, label=f"decision interval h = {float(h):.2f}")
            ax.axhline(-float(h), color=C_LIMIT, ls="--", lw=1.0)
        side = np.asarray(getattr(chart, "side", []), dtype=object)
        ys = [-lo[i] if (j < len(side) and str(side[j]) == "lower") else up[i] for j, i in enumerate(alarms)]
        if len(alarms):
            ax.scatter(x[alarms], ys, s=10, color=C_ALARM, zorder=3, label="alarms")
        ax.set_ylabel("CUSUM (z units)")
    elif hasattr(chart, "z") and hasattr(chart, "ucl"):
        z = np.asarray(chart.z, float)
        ax.plot(x[: len(z)], z, color=C_METRIC, lw=1.1, label="EWMA statistic")
        ax.plot(x[: len(z)], np.asarray(chart.ucl, float), color=C_LIMIT, ls="--", lw=1.0, label="control limits")
        ax.plot(x[: len(z)], np.asarray(chart.lcl, float), color=C_LIMIT, ls="--", lw=1.0)
        if len(alarms):
            ax.scatter(x[alarms], z[alarms], s=10, color=C_ALARM, zorder=3, label="alarms")
        ax.set_ylabel("EWMA (z units)")
    elif hasattr(chart, "values") and hasattr(chart, "upper"):
        v = np.asarray(chart.values, float)
        ax.plot(x[: len(v)], v, color=C_METRIC, lw=1.0, label="value")
        ax.fill_between(x[: len(v)], np.asarray(chart.lower, float), np.asarray(chart.upper, float), color=C_LIMIT, alpha=0.15,
                        lw=0, label="rolling mean \u00b1 2 sd")
        if len(alarms):
            ax.scatter(x[alarms], v[alarms], s=10, color=C_ALARM, zorder=3, label="alarms")
        ax.set_ylabel(run.metric)
    else:
        ax.text(0.5, 0.5, f"{type(chart).__name__}: no path to draw", transform=ax.transAxes, ha="center")
    first = to_utc(getattr(run, "first_alarm", None))
    if first is not None:
        ax.axvline(_naive(first), color=C_ALARM, lw=0.8, alpha=0.6)


# ----------------------------------------------------------------------------------------------
# 3. drift over time
# ----------------------------------------------------------------------------------------------


def _drift_results(pm: Any) -> dict[str, Any]:
    scans = dict(getattr(pm, "drift_scans", None) or {})
    if not scans:
        for r in _runs(pm).values():
            if getattr(r, "kind", None) == "drift" and getattr(r, "chart", None) is not None:
                scans[r.metric] = r.chart
    return {k: v for k, v in scans.items() if getattr(v, "frame", None) is not None and len(v.frame)}


def plot_drift_heatmap(pm: Any) -> Figure:
    """Query-mix drift per column (rows) and window (columns), coloured by effect size.

    Each row is one drift scan against its reference period (chi-square/Cramer's V on categories,
    KS on numbers, as the scan chose); drifted windows (significant and above the scan's effect
    threshold) are dotted. A line per column underneath shows the same effect over time.
    """
    scans = _drift_results(pm)
    if not scans:
        return _empty("No drift scans: the investigation did not compare the query mix.")
    cols = list(scans)
    starts = sorted({t for s in scans.values() for t in pd.to_datetime(s.frame["window_start"], utc=True)})
    index = pd.DatetimeIndex(starts)
    grid = np.full((len(cols), len(index)), np.nan)
    drifted = np.zeros_like(grid, dtype=bool)
    for i, c in enumerate(cols):
        f = scans[c].frame
        pos = index.get_indexer(pd.to_datetime(f["window_start"], utc=True))
        grid[i, pos] = pd.to_numeric(f["effect"], errors="coerce").to_numpy(float)
        if "drifted" in f.columns:
            drifted[i, pos] = f["drifted"].astype("boolean").fillna(False).to_numpy(bool)
    fig = Figure(figsize=(_WIDTH, 1.2 + 0.55 * len(cols) + 2.4), layout="constrained")
    ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[max(1.0, 0.45 * len(cols)), 1.6])
    xnum = mdates.date2num(index.tz_convert("UTC").tz_localize(None).to_numpy())
    step = float(np.median(np.diff(xnum))) if len(xnum) > 1 else 0.25
    edges = np.concatenate([xnum, [xnum[-1] + step]])
    vmax = float(np.nanpercentile(grid, 99)) if np.isfinite(grid).any() else 1.0
    mesh = ax.pcolormesh(edges, np.arange(len(cols) + 1), np.ma.masked_invalid(grid), cmap="magma_r", vmin=0,
                         vmax=vmax if vmax > 0 else 1.0, shading="flat")
    yy, xx = np.nonzero(drifted)
    if yy.size:
        ax.scatter(xnum[xx] + step / 2, yy + 0.5, s=4, color="#00b0f0", marker="o")
    labels = [f"{c} ({getattr(scans[c], 'test', '')}, {getattr(scans[c], 'effect_name', 'effect')})" for c in cols]
    ax.set_yticks(np.arange(len(cols)) + 0.5, labels, fontsize=8)
    ax.invert_yaxis()
    fig.colorbar(mesh, ax=ax, label="effect size", fraction=0.025, pad=0.01)
    ax.set_title("Query-mix drift against the reference period" + (" (dots: drifted windows)" if yy.size else ""),
                 loc="left", fontsize=11)
    ax.xaxis_date()
    for i, c in enumerate(cols):
        f = scans[c].frame
        ax2.plot(_x(f["window_start"]), pd.to_numeric(f["effect"], errors="coerce"), lw=1.0, label=c)
        ref = getattr(scans[c], "reference", None)
        if i == 0 and ref is not None and ref[0] is not None:
            ax2.axvspan(_naive(to_utc(ref[0])), _naive(to_utc(ref[1])), color="#70ad47", alpha=0.12, lw=0, label="reference period")
    _mark_events(ax, pm, label=False)
    _mark_events(ax2, pm, label=True)
    _mark_changes(ax2, pm, label=True, annotate=False)
    _date_axis(ax2)
    ax.grid(False)
    ax2.set_ylabel("effect size")
    ax2.set_xlabel("window start (UTC)")
    ax2.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    return fig


# ----------------------------------------------------------------------------------------------
# 4. segments
# ----------------------------------------------------------------------------------------------


def plot_segments(pm: Any, *, max_panels: int = 12, ncols: int = 3) -> Figure:
    """The metric per segment as small multiples on a shared scale, onset and report marked.

    Segments come from ``pm.segment_series`` (label -> windowed series) in the order the
    investigation ranked them (the segments that matter, largest effect first); at most
    ``max_panels`` are drawn. Each line pools neighbouring windows so a point rests on about
    :data:`MIN_REQUESTS` requests; the windows' own values are the faint dots.
    """
    segs = {k: v for k, v in (getattr(pm, "segment_series", None) or {}).items() if v is not None and len(v)}
    if not segs:
        return _empty("No per-segment series.")
    items = list(segs.items())[:max_panels]
    ncols = max(1, min(ncols, len(items)))
    nrows = math.ceil(len(items) / ncols)
    fig = Figure(figsize=(_WIDTH, 2.2 * nrows + 0.7), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)).ravel()
    metric = metric_label(pm)
    drawn = []
    for ax, (label, series) in zip(axes, items):
        drawn.append(_plot_pooled(ax, series))
        _mark_events(ax, pm, label=False)
        _date_axis(ax)
        ax.set_title(_short(label, 48), loc="left", fontsize=9)
        ax.tick_params(labelsize=7.5)
    allv = pd.concat([d[["value"]] for d in drawn if "value" in d.columns], ignore_index=True) if drawn else pd.DataFrame()
    if len(allv.columns):
        _fit_ylim(axes[0], allv, [])  # sharey: scaling one panel scales them all
    for ax in axes[len(items):]:
        ax.axis("off")
    fig.suptitle(f"{metric} per segment, largest effect first, then all traffic (windows pooled to about {MIN_REQUESTS} requests a point, "
                 "95% intervals; red: onset, dashed: report)", x=0.01, ha="left", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------
# 5. the detection gap
# ----------------------------------------------------------------------------------------------


def plot_detection_gap(pm: Any, *, max_monitors: int = 16) -> Figure:
    """Each replayed monitor's first alarm against the onset, the cause and the report.

    One row per monitor (earliest first): a dot at its first alarm after the incident started and
    a bar from there to the report (the lead time it would have bought); monitors too noisy to keep
    (more false alarms in the baseline than allowed) are drawn hollow and grey; monitors that never
    fired are listed at the bottom without a dot.
    """
    q4 = getattr(pm, "q4", None)
    table = getattr(q4, "monitors", None) if q4 is not None else None
    if table is None or len(table) == 0:
        return _empty("No monitors were replayed.")
    t = table.head(max_monitors).reset_index(drop=True)
    rep = reported_time(pm)
    onset, interval = onset_marks(pm)
    fig = Figure(figsize=(_WIDTH, 1.4 + 0.32 * len(t)), layout="constrained")
    ax = fig.subplots()
    closing = getattr(q4, "closing_monitor", None)
    for i, r in enumerate(t.to_dict("records")):
        first = to_utc(r.get("first_alarm"))
        usable = bool(r.get("usable", True))
        colour = C_ALARM if usable else "#a6a6a6"
        if first is not None:
            if rep is not None and first <= rep:
                ax.hlines(i, _naive(first), _naive(rep), color=colour, lw=4 if r.get("name") == closing else 2.2, alpha=0.55)
            ax.scatter([_naive(first)], [i], s=36, zorder=3, facecolor=colour if usable else "white", edgecolor=colour)
            lead = r.get("lead_time_hours")
            if lead is not None and np.isfinite(float(lead)):
                ax.annotate(f"{float(lead):.0f} h", xy=(_naive(first), i), xytext=(-4, 0), textcoords="offset points",
                            ha="right", va="center", fontsize=7.5, color=colour)
    names = [
        f"{r['name']} ({_short(r.get('segment', ''), 26)})" + (" *" if r.get("name") == closing else "")
        + ("" if bool(r.get("usable", True)) else f" [{int(r.get('false_alarms_baseline', 0))} false alarms]")
        for r in t.to_dict("records")
    ]
    ax.set_yticks(np.arange(len(t)), names, fontsize=8)
    ax.invert_yaxis()
    if interval is not None:
        ax.axvspan(_naive(interval[0]), _naive(interval[1]), color=C_ONSET, alpha=0.10, lw=0, label="onset interval")
    if onset is not None:
        ax.axvline(_naive(onset), color=C_ONSET, lw=1.4, label="onset")
    if rep is not None:
        ax.axvline(_naive(rep), color=C_REPORT, lw=1.2, ls="--", label="reported")
    cands = change_events(pm)
    if len(cands):
        top = to_utc(cands.iloc[0]["ts"])
        if top is not None:
            ax.axvline(_naive(top), color=C_CAUSE, lw=1.4, ls="-.", label=f"most likely cause ({_short(cands.iloc[0]['change_id'], 16)})")
    _date_axis(ax)
    gap = getattr(q4, "gap_hours", None)
    cat = getattr(q4, "gap_category", None)
    title = "Detection gap: first alarm of each replayed monitor (bar: lead time before the report)"
    if gap is not None and cat:
        title += f"\ngap {float(gap):.0f} h, {cat.replace('_', ' ')}" + (f"; * closes it: {closing}" if closing else "")
    ax.set_title(title, loc="left", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_xlabel("time (UTC)")
    return fig


def plot_all(pm: Any) -> dict[str, Figure]:
    """Every figure of the report, by name (the notebooks show them one by one)."""
    return {
        "overview": plot_overview(pm),
        "metric_timeline": plot_metric_timeline(pm),
        "control_charts": plot_control_charts(pm),
        "drift_heatmap": plot_drift_heatmap(pm),
        "segments": plot_segments(pm),
        "detection_gap": plot_detection_gap(pm),
    }
