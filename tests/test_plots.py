"""Figures (analysis/report/plots.py) draw what the result objects hold, and nothing recomputed.

The reference values are the result objects themselves, built here independently of the plots:
control charts from :mod:`analysis.stats.spc` run on a seeded series, windowed series written by hand,
and one real :class:`~analysis.report.postmortem.Postmortem` from a seeded scenario. Each test reads the
drawn artists back (line data, scatter offsets, mesh values) and compares them with those objects.
"""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display in tests

import matplotlib.dates as mdates  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection, QuadMesh  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analysis.report import plots  # noqa: E402
from analysis.stats import spc  # noqa: E402
from analysis.investigation.backtest import MonitorRun  # noqa: E402

T0 = pd.Timestamp("2026-01-01T00:00:00Z")
N = 96
STARTS = pd.date_range(T0, periods=N, freq="1h")
ONSET = T0 + pd.Timedelta(hours=60)
INTERVAL = (T0 + pd.Timedelta(hours=57), T0 + pd.Timedelta(hours=63))
REPORTED = T0 + pd.Timedelta(hours=95)
CAUSE_TS = T0 + pd.Timedelta(hours=40)


def _num(t: pd.Timestamp) -> float:
    return float(mdates.date2num(t.tz_convert("UTC").tz_localize(None).to_datetime64()))


def _series(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = rng.integers(80, 120, N)
    p = np.where(np.arange(N) < 60, 0.1, 0.4)
    k = rng.binomial(n, p)
    rate = k / n
    return pd.DataFrame(
        {"window_start": STARTS, "n": n, "successes": k, "rate": rate, "ci_low": rate - 0.05, "ci_high": rate + 0.05}
    )


def _run(name: str, kind: str, chart: Any, series: pd.DataFrame, *, metric: str = "escalated", segment: str = "all traffic",
         first: pd.Timestamp | None = None, design: dict | None = None, false_alarms: int = 0) -> MonitorRun:
    return MonitorRun(
        name=name, metric=metric, segment=segment, kind=kind, signal="outcome", alarm_times=(), first_alarm=first,
        lead_time_hours=None if first is None else (REPORTED - first) / pd.Timedelta(hours=1),
        false_alarms_baseline=false_alarms, baseline_days=2.0, description=f"{name} monitor", design=design or {},
        chart=chart, series=series,
    )


@pytest.fixture
def fake_pm() -> SimpleNamespace:
    s = _series()
    z = (s["rate"].to_numpy() - 0.1) / 0.03
    cus = spc.tabular_cusum(z, target=0.0, sigma=1.0, k=0.5, h=4.0, reset=True)
    ew = spc.ewma_chart(z, target=0.0, sigma=1.0, lam=0.2, L=2.8)
    thr_val = s["rate"].rolling(6, min_periods=1).mean().to_numpy()
    runs = {
        "cusum": _run("cusum", "spc", cus, s, first=STARTS[cus.first_alarm], design={"h": 4.0}),
        "ewma": _run("ewma", "spc", ew, s, first=STARTS[ew.first_alarm]),
        "threshold": _run("threshold", "threshold", {"value": thr_val, "alarm": thr_val > 0.2}, s,
                          design={"alternative": "greater", "threshold": 0.2, "rolling": 6}, first=STARTS[70]),
        "noisy": _run("noisy", "spc", None, s, first=STARTS[50], false_alarms=9),
    }
    monitors = pd.DataFrame(
        [
            {"name": "cusum", "segment": "all traffic", "first_alarm": STARTS[cus.first_alarm], "lead_time_hours": 30.0,
             "false_alarms_baseline": 0, "usable": True},
            {"name": "noisy", "segment": "all traffic", "first_alarm": STARTS[50], "lead_time_hours": 45.0,
             "false_alarms_baseline": 9, "usable": False},
            {"name": "never", "segment": "all traffic", "first_alarm": pd.NaT, "lead_time_hours": np.nan,
             "false_alarms_baseline": 0, "usable": True},
        ]
    )
    q4 = SimpleNamespace(runs=runs, monitors=monitors, reported_at=REPORTED, closing_monitor="cusum", gap_hours=30.0,
                         gap_category="spc_missing")
    q2 = SimpleNamespace(candidates=pd.DataFrame(
        {"rank": [1, 2], "change_id": ["chg-cause", "chg-decoy"], "change_type": ["classifier_update", "deploy"],
         "ts": [CAUSE_TS, ONSET - pd.Timedelta(hours=2)], "inferred": [False, False]}))
    scan_frame = pd.DataFrame({"window_start": STARTS[::6], "window_end": STARTS[::6] + pd.Timedelta(hours=6),
                               "effect": np.linspace(0.0, 0.8, len(STARTS[::6])),
                               "drifted": np.arange(len(STARTS[::6])) >= 10})
    scan = SimpleNamespace(frame=scan_frame, test="chi-square", effect_name="cramers_v", reference=(T0, T0 + pd.Timedelta(hours=24)))
    return SimpleNamespace(
        onset={"ts": ONSET.isoformat(), "interval": [INTERVAL[0].isoformat(), INTERVAL[1].isoformat()],
               "metric": "escalated", "segment": {"query_category": "general"}},
        onset_result=SimpleNamespace(series=s, interval=INTERVAL, changepoint=SimpleNamespace(
            segments=pd.DataFrame({"start": [0, 60], "end": [60, N], "level": [0.1, 0.4], "spread": [0.0, 0.0]}))),
        metric_series=_series(seed=1),
        q2=q2,
        q4=q4,
        parameters={"metric": "escalated"},
        drift_scans={"query_category": scan},
        segment_series={f"query_category=c{i}": _series(seed=i) for i in range(5)},
    )


def _lines(ax: Any) -> list[Any]:
    return list(ax.get_lines())


def _same(a: Any, b: Any) -> bool:
    """Same shape and values (NaN equal to NaN); dates compare to well under a second."""
    a, b = np.asarray(a, dtype=float), np.broadcast_to(np.asarray(b, dtype=float), np.shape(a))
    return a.shape == np.shape(b) and bool(np.allclose(a, b, rtol=0, atol=1e-6, equal_nan=True))


def _ys(ax: Any) -> list[np.ndarray]:
    return [np.asarray(ln.get_ydata(), dtype=float) for ln in _lines(ax)]


def _vlines_at(ax: Any, x: float) -> list[Any]:
    out = []
    for ln in _lines(ax):
        xd = np.asarray(ln.get_xdata(), dtype=float) if not np.issubdtype(np.asarray(ln.get_xdata()).dtype, np.datetime64) \
            else mdates.date2num(np.asarray(ln.get_xdata()))
        if xd.size == 2 and _same(xd, x):
            out.append(ln)
    return out


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    return buf.getvalue()


# ----------------------------------------------------------------------------------------------
# metric timeline
# ----------------------------------------------------------------------------------------------


def test_metric_timeline_draws_the_stored_series_onset_report_and_cause(fake_pm: SimpleNamespace) -> None:
    fig = plots.plot_metric_timeline(fake_pm)
    ax = fig.axes[0]
    rate = fake_pm.onset_result.series["rate"].to_numpy()
    assert any(y.size == N and _same(y, rate) for y in _ys(ax)), "the onset segment's stored rate is drawn as it is"
    assert _vlines_at(ax, _num(ONSET)) and _vlines_at(ax, _num(REPORTED))
    cause = _vlines_at(ax, _num(CAUSE_TS))
    assert cause and matplotlib.colors.same_color(cause[0].get_color(), plots.C_CAUSE)
    # the 0.2 threshold of the threshold monitor, and its stored rolling value
    assert any(y.size == 2 and _same(y, 0.2) for y in _ys(ax))
    thr = fake_pm.q4.runs["threshold"].chart["value"]
    assert any(y.size == N and _same(y, thr) for y in _ys(ax))
    # the change-point levels 0.1 then 0.4
    levels = sorted(round(float(seg[0][1]), 6) for c in ax.collections if hasattr(c, "get_segments") for seg in c.get_segments()
                    if len(seg) == 2 and seg[0][1] == seg[1][1])
    assert 0.1 in levels and 0.4 in levels
    assert "escalated" in ax.get_title(loc="left") and "query_category=general" in ax.get_title(loc="left")
    assert _png(fig).startswith(b"\x89PNG")


def test_a_threshold_on_another_signal_gets_its_own_panel(fake_pm: SimpleNamespace) -> None:
    s = _series(seed=3).rename(columns={"rate": "mean"})
    fake_pm.q4.runs["relevance_threshold"] = _run(
        "relevance_threshold", "threshold", {"value": s["mean"].to_numpy(), "alarm": np.zeros(N, bool)}, s,
        metric="retrieval_top1_score", design={"alternative": "less", "threshold": 0.72, "rolling": 6})
    fig = plots.plot_metric_timeline(fake_pm)
    assert len(fig.axes) == 3  # the metric, the other signal, the requests per window
    assert fig.axes[1].get_ylabel() == "retrieval_top1_score"
    assert fig.axes[2].get_ylabel() == "requests"
    assert any(y.size == 2 and _same(y, 0.72) for y in _ys(fig.axes[1]))


def test_sparse_windows_are_drawn_pooled_with_their_counts(fake_pm: SimpleNamespace) -> None:
    rng = np.random.default_rng(7)
    n = rng.integers(0, 4, N)
    k = rng.binomial(n, np.where(np.arange(N) < 60, 0.9, 0.2))
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    fake_pm.onset_result.series = pd.DataFrame({"window_start": STARTS, "n": n, "successes": k, "rate": rate,
                                                "ci_low": rate, "ci_high": rate})
    fig = plots.plot_overview(fake_pm)
    ax, ax_n = fig.axes[0], fig.axes[1]
    span = next(int(t.get_text().split(", ")[1].split()[0]) for t in fig.legends[0].get_texts() if "windows pooled" in t.get_text())
    box = np.ones(span)  # the pooled rate by hand: centred sums of the counts
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = np.convolve(k, box, mode="same") / np.convolve(n, box, mode="same")
    assert any(y.size == N and _same(y, pooled) for y in _ys(ax)), "the pooled line"
    assert any(y.size == N and _same(y, rate) for y in _ys(ax)), "each window's own rate, as dots"
    bars = [p.get_height() for p in ax_n.containers[0]]
    assert _same(bars, n), "the requests per window underneath"


def test_overview_marks_onset_report_cause_and_the_alarms_before_the_report(fake_pm: SimpleNamespace) -> None:
    fig = plots.plot_overview(fake_pm)
    ax = fig.axes[0]
    assert _vlines_at(ax, _num(ONSET)) and _vlines_at(ax, _num(REPORTED)) and _vlines_at(ax, _num(CAUSE_TS))
    tri = [c for c in ax.collections if isinstance(c, PathCollection)]
    xs = sorted(float(x) for c in tri for x, _ in c.get_offsets())
    # the usable monitors' first alarms: cusum's only ("noisy" is unusable, "never" never fired)
    assert _same(xs, [_num(fake_pm.q4.monitors.loc[0, "first_alarm"])])
    assert any("earliest: cusum" in t.get_text() for t in fig.legends[0].get_texts())
    assert _png(fig).startswith(b"\x89PNG")


# ----------------------------------------------------------------------------------------------
# control charts
# ----------------------------------------------------------------------------------------------


def test_control_charts_draw_the_chart_paths_limits_and_alarms(fake_pm: SimpleNamespace) -> None:
    fig = plots.plot_control_charts(fake_pm)
    cus, ew = fake_pm.q4.runs["cusum"].chart, fake_pm.q4.runs["ewma"].chart
    ax_c, ax_e = fig.axes[0], fig.axes[1]  # the run without a chart ("noisy") is not drawn
    assert len(fig.axes) == 2
    ys = _ys(ax_c)
    assert any(y.size == N and _same(y, cus.upper) for y in ys)
    assert any(y.size == N and _same(y, -cus.lower) for y in ys)  # C- drawn below zero
    assert any(y.size == 2 and _same(y, cus.params["h"]) for y in ys)
    scat = [c for c in ax_c.collections if isinstance(c, PathCollection)]
    assert scat and len(scat[0].get_offsets()) == len(cus.alarms)
    ys = _ys(ax_e)
    assert any(y.size == N and _same(y, ew.z) for y in ys)
    assert any(y.size == N and _same(y, ew.ucl) for y in ys)
    assert "cusum on escalated" in ax_c.get_title(loc="left")


def test_rolling_sigma_chart_draws_values_and_band() -> None:
    s = _series()
    vals = pd.Series(s["rate"].to_numpy(), index=pd.DatetimeIndex(STARTS))
    rs = spc.rolling_sigma_alarm(vals, baseline_span="24h", k=2.0)
    pm = SimpleNamespace(q4=SimpleNamespace(runs={"rolling_2sigma": _run("rolling_2sigma", "spc", rs, s)}, reported_at=REPORTED),
                         onset={}, onset_result=None)
    ax = plots.plot_control_charts(pm).axes[0]
    assert any(y.size == N and _same(y, rs.values) for y in _ys(ax))
    scat = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(rs.alarms) == 0 or len(scat[0].get_offsets()) == len(rs.alarms)


# ----------------------------------------------------------------------------------------------
# drift, segments, detection gap
# ----------------------------------------------------------------------------------------------


def test_drift_heatmap_shows_the_scans_effects(fake_pm: SimpleNamespace) -> None:
    fig = plots.plot_drift_heatmap(fake_pm)
    mesh = next(c for c in fig.axes[0].collections if isinstance(c, QuadMesh))
    expected = fake_pm.drift_scans["query_category"].frame["effect"].to_numpy()
    assert _same(np.asarray(mesh.get_array()).ravel(), expected)
    dots = [c for c in fig.axes[0].collections if isinstance(c, PathCollection)]
    assert len(dots[0].get_offsets()) == int(fake_pm.drift_scans["query_category"].frame["drifted"].sum())


def test_segments_one_panel_each_up_to_the_cap(fake_pm: SimpleNamespace) -> None:
    fig = plots.plot_segments(fake_pm)
    visible = [ax for ax in fig.axes if ax.axison]
    assert len(visible) == 5
    assert [ax.get_title(loc="left") for ax in visible] == list(fake_pm.segment_series)
    assert len([ax for ax in plots.plot_segments(fake_pm, max_panels=2).axes if ax.axison]) == 2


def test_detection_gap_marks_each_first_alarm(fake_pm: SimpleNamespace) -> None:
    fig = plots.plot_detection_gap(fake_pm)
    ax = fig.axes[0]
    dots = [c for c in ax.collections if isinstance(c, PathCollection)]
    xs = sorted(float(c.get_offsets()[0][0]) for c in dots)
    firsts = sorted(_num(t) for t in fake_pm.q4.monitors["first_alarm"].dropna())
    assert _same(xs, firsts)  # the monitor that never fired has no dot
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0].startswith("cusum") and labels[0].endswith("*")  # the closing monitor
    assert "[9 false alarms]" in labels[1]
    hollow = next(c for c in dots if _same(c.get_offsets()[0][0], _num(STARTS[50])))
    assert np.allclose(hollow.get_facecolor()[0][:3], [1, 1, 1])  # unusable: drawn hollow


def test_no_incident_draws_placeholders_without_failing() -> None:
    pm = SimpleNamespace(onset={"ts": None}, onset_result=None, metric_series=None, q2=None,
                         q4=SimpleNamespace(runs={}, monitors=pd.DataFrame(), reported_at=REPORTED),
                         drift_scans={}, segment_series={}, parameters={})
    for fig in plots.plot_all(pm).values():
        assert isinstance(fig, Figure)
        assert _png(fig).startswith(b"\x89PNG")


# ----------------------------------------------------------------------------------------------
# a real postmortem
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_pm() -> Any:
    scenarios = pytest.importorskip("analysis.scenarios")
    from analysis import investigate

    s = scenarios.generate("escalation", seed=1, scale=0.3)
    return investigate(s.events, s.changes, pattern="escalation", progress=False)


def test_every_figure_renders_from_a_real_postmortem(real_pm: Any) -> None:
    figs = plots.plot_all(real_pm)
    assert set(figs) == {"overview", "metric_timeline", "control_charts", "drift_heatmap", "segments", "detection_gap"}
    for name, fig in figs.items():
        assert _png(fig).startswith(b"\x89PNG"), name
    ax = figs["metric_timeline"].axes[0]
    if real_pm.onset.get("ts") is not None:
        assert _vlines_at(ax, _num(pd.Timestamp(real_pm.onset["ts"])))
    n_charts = sum(1 for r in real_pm.q4.runs.values() if r.kind == "spc" and r.chart is not None)
    assert len(figs["control_charts"].axes) == n_charts
