"""What an analyst digs with in a notebook: interactive tables, the timeline as an interactive figure,
and the requests behind a segment before and after the onset.

* :func:`init` loads the tables' and figures' JavaScript into the notebook once (offline: nothing is
  fetched from the internet; the tables and figures stay interactive in the notebook's HTML export).
* :func:`table`: a frame as an itables DataTable (sort, filter, page), its text redacted and cut,
  and escaped by DataTables (``allow_html`` stays off: markup from the data shows as text).
* :func:`timeline_figure`: the metric as a plotly figure (zoom, pan, hover) with the pooled line and
  its interval, each window's value, the requests per window, the onset band, the change log as
  annotated lines, the monitors' first alarms and the report time.
* :func:`requests_before_after`: given a segment (or a topic: ``"topic=3"``), a bounded sample of its
  requests in the baseline and in the failure window side by side, pulled through the engine
  (``Engine.sample_rows``: at most ``n`` rows a period, chosen by the portable hash, never the whole table).

An executed notebook opened in JupyterLab runs the tables' JavaScript only once it is trusted
(``jupyter trust NOTEBOOK``, or "Trust Notebook" in the command palette), as for any notebook run
by papermill; the figures render without it.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis._common import to_utc
from analysis.engine import Engine, Where
from analysis.investigation.series import smoothed_series
from analysis.redact import escape_html, safe_text
from analysis.report.html import HtmlBlock
from analysis.report.plots import (C_ALARM, C_CAUSE, C_CHANGE, C_METRIC, C_ONSET, C_REPORT, MIN_REQUESTS, change_events,
                                   main_series, metric_label, onset_marks, reported_time, segment_text)

__all__ = ["init", "table", "timeline_figure", "requests_before_after", "TEXT_COLUMNS"]

#: The text columns :func:`requests_before_after` shows beside the metric.
TEXT_COLUMNS = ("input_text", "output_text")
_MAX_TEXT = 300


#: Output metadata that marks the outputs made here. ``notebook.html`` keeps their scripts (the data in
#: them is escaped: DataTables' JSON is HTML-escaped, the figure's texts are escaped here), while any other
#: output holding a script is reduced to its text (:func:`analysis.report.notebook.neutralise_outputs`).
MARK = {"analysis.explore": "interactive"}


def is_marked(output: Mapping[str, Any]) -> bool:
    """Whether a notebook output came from this module (its metadata, at the top or under a mime type)."""
    md = output.get("metadata") or {}
    return md.get("analysis.explore") == MARK["analysis.explore"] or any(
        isinstance(v, Mapping) and v.get("analysis.explore") == MARK["analysis.explore"] for v in md.values())


def init() -> None:
    """Load itables' DataTables into the notebook, offline (nothing is fetched), marked as this module's output."""
    import itables
    from IPython.display import publish_display_data
    from IPython.utils.capture import capture_output

    with capture_output(stdout=False, stderr=False) as cap:
        itables.init_notebook_mode(all_interactive=False, connected=False)
    for out in cap.outputs:
        publish_display_data(out.data, {**(out.metadata or {}), **MARK})


def _for_display(frame: pd.DataFrame, redact: bool, max_len: int) -> pd.DataFrame:
    out = frame.copy()
    for c in out.columns:
        s = out[c]
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            out[c] = s.astype(object).map(lambda v: safe_text(v, redact=redact, max_len=max_len))
        elif isinstance(s.dtype, pd.DatetimeTZDtype):
            out[c] = s.dt.strftime("%Y-%m-%d %H:%M:%SZ")
    return out


def table(frame: pd.DataFrame | None, *, redact: bool = True, caption: str | None = None, max_len: int = _MAX_TEXT,
          page_length: int = 10) -> HtmlBlock:
    """``frame`` as an interactive DataTable: sortable, searchable, paged.

    Text cells and the caption are redacted (unless ``redact=False``), cells cut to ``max_len``
    characters; DataTables writes the cells as text and the caption and headers are escaped here, so
    markup in the data is shown, never run. Call :func:`init` once before.
    """
    import itables

    if frame is None or len(frame) == 0:
        return HtmlBlock("<p><em>(none)</em></p>", "(none)")
    shown = _for_display(frame.reset_index(drop=True), redact, max_len)
    # DataTables writes the cells as text, but the caption and the headers as HTML: escape them here
    shown.columns = [escape_html(str(c)) for c in shown.columns]
    caption = None if caption is None else escape_html(safe_text(caption, redact=redact, max_len=None))
    html_text = itables.to_html_datatable(shown, caption=caption, connected=False, pageLength=page_length,
                                          allow_html=False, showIndex=False)
    return _Marked(html_text, escape_html(shown.to_string(max_rows=20)))  # the plain text is escaped too, as everywhere


class _Marked(HtmlBlock):
    """An :class:`HtmlBlock` whose notebook output carries :data:`MARK`."""

    def _repr_html_(self) -> Any:
        return super()._repr_html_(), MARK


def _value(series: pd.DataFrame) -> np.ndarray:
    if "rate" in series.columns:
        return pd.to_numeric(series["rate"], errors="coerce").to_numpy(float)
    if "successes" in series.columns:
        return (pd.to_numeric(series["successes"], errors="coerce") / pd.to_numeric(series["n"], errors="coerce")).to_numpy(float)
    return pd.to_numeric(series["mean"], errors="coerce").to_numpy(float)


def _figure_html(fig: Any) -> str:
    """The figure as standalone HTML: plotly.js inline (offline), hidden from an AMD loader on the page.

    nbconvert's page loads require.js; plotly.js's UMD wrapper would then register itself as an
    anonymous AMD module instead of ``window.Plotly``, and the figure's call would fail.
    """
    from plotly.offline import get_plotlyjs

    return ('<script type="text/javascript">window.__forensicsDefine = window.define; window.define = undefined;</script>\n'
            f'<script type="text/javascript">{get_plotlyjs()}</script>\n'
            '<script type="text/javascript">window.define = window.__forensicsDefine;</script>\n'
            + fig.to_html(include_plotlyjs=False, full_html=False))


@functools.cache
def _figure_class() -> type:
    import plotly.graph_objects as go
    import plotly.io as pio

    class TimelineFigure(go.Figure):
        """A plotly figure shown as the plotly mime type (JupyterLab renders it without trust) and as
        standalone HTML (the notebook's HTML export), marked with :data:`MARK`."""

        def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> Any:
            import json

            data = {"application/vnd.plotly.v1+json": json.loads(pio.to_json(self, validate=False)),
                    "text/html": _figure_html(self), "text/plain": f"<timeline figure: {len(self.data)} traces>"}
            return data, dict(MARK)

        def _ipython_display_(self) -> None:  # plotly's own goes through its renderers: this bundle instead
            from IPython.display import publish_display_data

            publish_display_data(*self._repr_mimebundle_())

    return TimelineFigure


def timeline_figure(pm: Any) -> Any:
    """The incident's timeline as a plotly figure (two rows sharing the time axis).

    Top: the metric in the onset's segment, pooled so each point rests on about
    :data:`~analysis.report.plots.MIN_REQUESTS` requests
    (:func:`~analysis.investigation.series.smoothed_series`) with its 95% interval, and each window's
    own value as a faint dot; the onset with its interval as a band, each change event as a vertical
    line labelled with its id (the most likely cause in red; its type and rank on hover), the
    monitors' first alarms as triangles, the report as a dashed line. Bottom: requests per window.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    series = main_series(pm)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.04)
    metric = escape_html(metric_label(pm))
    seg = escape_html(segment_text((getattr(pm, "onset", None) or {}).get("segment")))
    fig.update_layout(title=f"{metric}" + (f" in {seg}" if seg else "") + " per window", height=520,
                      hovermode="x unified", legend=dict(orientation="h", y=-0.12), margin=dict(t=60, r=20, l=60, b=40))
    if series is None:
        fig.add_annotation(text="No metric series: nothing to plot.", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
        return _figure_class()(fig)
    x = pd.to_datetime(series["window_start"], utc=True)
    fig.add_trace(go.Scatter(x=x, y=_value(series), mode="markers", name="each window", opacity=0.3,
                             marker=dict(size=4, color=C_METRIC)), row=1, col=1)
    if "n" in series.columns and ("successes" in series.columns or "mean" in series.columns):
        pooled = smoothed_series(series, min_n=MIN_REQUESTS)
        px = pd.to_datetime(pooled["window_start"], utc=True)
        fig.add_trace(go.Scatter(x=px, y=pooled["ci_high"], mode="lines", line=dict(width=0), showlegend=False,
                                 hoverinfo="skip"), row=1, col=1)
        fig.add_trace(go.Scatter(x=px, y=pooled["ci_low"], mode="lines", line=dict(width=0), fill="tonexty",
                                 fillcolor="rgba(31,119,180,0.18)", name="95% interval", hoverinfo="skip"), row=1, col=1)
        fig.add_trace(go.Scatter(x=px, y=pooled["value"], mode="lines", name=f"{metric} (pooled)",
                                 line=dict(color=C_METRIC, width=2), customdata=pooled["n"],
                                 hovertemplate="%{y:.3g} over %{customdata:.0f} requests"), row=1, col=1)
        fig.add_trace(go.Bar(x=x, y=pd.to_numeric(series["n"], errors="coerce"), name="requests per window",
                             marker_color="#a6a6a6"), row=2, col=1)
    _mark(fig, pm)
    fig.update_yaxes(title_text=metric, row=1, col=1)
    fig.update_yaxes(title_text="requests", row=2, col=1)
    return _figure_class()(fig)


def _mark(fig: Any, pm: Any) -> None:
    """Onset band and line, change events, first alarms and the report on the figure."""
    onset, interval = onset_marks(pm)
    if interval is not None:
        fig.add_vrect(x0=interval[0], x1=interval[1], fillcolor=C_ONSET, opacity=0.10, line_width=0, row="all", col=1)
    if onset is not None:
        fig.add_vline(x=onset, line=dict(color=C_ONSET, width=1.5), row="all", col=1)
        fig.add_annotation(x=onset, y=1.0, yref="paper", text="onset", showarrow=False, yanchor="bottom",
                           font=dict(color=C_ONSET, size=11))
    incident = bool(getattr(pm, "incident", True))
    cands = change_events(pm)
    for i, row in enumerate(cands.to_dict("records")):
        t = to_utc(row.get("ts"))
        if t is None:
            continue
        top = incident and int(row.get("rank", i + 1)) == 1
        colour = C_CAUSE if top else C_CHANGE
        fig.add_vline(x=t, line=dict(color=colour, width=2 if top else 1, dash="dashdot" if top else "dot"), row="all", col=1)
        cid = escape_html(str(row.get("change_id"))[:40])
        label = cid + (" (most likely cause)" if top else "")
        hover = f"{cid}: {escape_html(str(row.get('change_type', ''))[:60])}, rank {int(row.get('rank', i + 1))}"
        fig.add_annotation(x=t, y=0.98, yref="paper", text=label, hovertext=hover, showarrow=False,
                           textangle=-90, xanchor="left", yanchor="top", font=dict(color=colour, size=10))
    q4 = getattr(pm, "q4", None)
    monitors = getattr(q4, "monitors", None) if q4 is not None else None
    rep = reported_time(pm)
    if monitors is not None and len(monitors) and "first_alarm" in monitors.columns:
        firsts = [(to_utc(t), escape_html(str(name))) for t, name in zip(monitors["first_alarm"], monitors.get("monitor", monitors.index))]
        firsts = [(t, name) for t, name in firsts if t is not None and (rep is None or t <= rep)]
        if firsts:
            import plotly.graph_objects as go

            fig.add_trace(go.Scatter(x=[t for t, _ in firsts], y=[1.0] * len(firsts), yaxis="y", mode="markers",
                                     name="first alarms", text=[n for _, n in firsts], hovertemplate="%{text}",
                                     marker=dict(symbol="triangle-down", size=10, color=C_ALARM)), row=1, col=1)
    if rep is not None:
        fig.add_vline(x=rep, line=dict(color=C_REPORT, width=1.2, dash="dash"), row="all", col=1)
        fig.add_annotation(x=rep, y=1.0, yref="paper", text="reported", showarrow=False, yanchor="bottom",
                           font=dict(color=C_REPORT, size=11))


def _conditions(segment: Any) -> dict[str, list[str]]:
    """``"col=value"``, ``{"col": value or [values]}`` or None (all traffic) as column -> values."""
    if segment is None:
        return {}
    if isinstance(segment, str):
        out: dict[str, list[str]] = {}
        for part in segment.split(","):
            if "=" not in part:
                raise ValueError(f"segment {segment!r}: expected COLUMN=VALUE (several joined by commas), e.g. \"topic=3\"")
            col, val = (s.strip() for s in part.split("=", 1))
            out.setdefault(col, []).append(val)
        return out
    if isinstance(segment, Mapping):
        return {str(c): [str(x) for x in (v if isinstance(v, (list, tuple, set)) else [v])] for c, v in segment.items()}
    raise TypeError(f"segment: expected \"COLUMN=VALUE\", a mapping or None, got {type(segment).__name__}")


def requests_before_after(
    engine: Engine,
    pm: Any,
    segment: Any = "onset",
    *,
    n: int = 5,
    columns: Sequence[str] | None = None,
    seed: int = 0,
    redact: bool = True,
    max_len: int = _MAX_TEXT,
) -> pd.DataFrame:
    """The requests of a segment before and after, side by side: ``n`` from the baseline, ``n`` from the failure window.

    Parameters
    ----------
    engine
        The engine the investigation ran on (``events.engine`` in the notebooks): its derived
        columns (labels, ``topic``, ``risk_category`` from a taxonomy) can be named.
    pm
        The investigation; its periods are the baseline and the failure window of Q1.
    segment
        ``"onset"`` (the segment where the onset was found), ``None`` (all traffic), ``"col=value"``
        (several joined by commas), or a mapping ``{column: value or [values]}``.
    n
        Rows per period, chosen by the engine's portable hash under ``seed`` (the same rows on DuckDB
        and Spark): the query returns at most ``n`` rows a period, never the table.
    columns
        What to show of each request (default: ``input_text``, ``output_text`` and the metric, those present).

    Returns
    -------
    DataFrame
        One row per pair, columns ``before: <column>`` and ``after: <column>`` (time and event id first), text
        redacted and cut. ``attrs``: ``segment``, ``n_before``, ``n_after`` (the segment's requests in
        each period), ``baseline``, ``current``.
    """
    if int(n) < 1:
        raise ValueError(f"`n` must be a positive number of rows, got {n!r}")
    label = None
    if isinstance(segment, str) and segment == "onset":
        onset = getattr(pm, "onset", None) or {}
        segment, label = onset.get("segment") or None, onset.get("segment_label")
    conds = _conditions(segment)
    label = label or ", ".join(f"{c}={v[0]}" if len(v) == 1 else f"{c} in [{', '.join(v)}]" for c, v in conds.items())
    missing = [c for c in conds if not engine.has(c)]
    if missing:
        raise ValueError(f"segment {segment!r}: column(s) {missing} not in the events (columns: {sorted(engine.columns)})")
    metric = metric_label(pm)
    wanted = list(columns) if columns is not None else [*TEXT_COLUMNS, metric]
    cols = [c for c in dict.fromkeys(wanted) if c and engine.has(c)]
    q1 = pm.q1
    out: dict[str, pd.DataFrame] = {}
    counts: dict[str, int] = {}
    for side, (lo, hi) in (("before", q1.baseline), ("after", q1.current)):
        where = Where.of(lo, hi, end_inclusive=True, conditions=conds)
        counts[side] = engine.count(where)
        rows = engine.sample_rows(cols, size=int(n), where=where, seed=seed).sort_values("ts").reset_index(drop=True)
        out[side] = rows[["ts", "event_id", *cols]].rename(columns=lambda c: f"{side}: {c}")
    frame = pd.concat([out["before"], out["after"]], axis=1)
    frame = _for_display(frame, redact, max_len)
    frame.attrs.update(segment=label or "all traffic", n_before=counts["before"], n_after=counts["after"],
                       baseline=tuple(q1.baseline), current=tuple(q1.current))
    return frame
