"""Monitors as code: ``monitors.yaml`` written beside every report, run on new logs by ``python -m analysis monitor``.

A monitor is a CUSUM chart on one metric in one segment, in fixed windows aligned to the epoch:

``binomial_cusum``
    On a failure flag (SQL over the canonical columns, e.g. ``NOT "refused"``): per window,
    :math:`S_t = \\max(0, S_{t-1} + f_t \\ln(p_1/p_0) + (n_t - f_t) \\ln((1-p_1)/(1-p_0)))` for
    ``f_t`` failures among ``n_t`` requests; an alarm when :math:`S_t > h`, then :math:`S_t = 0`.
    ``p0`` is the baseline failure rate, ``p1`` the rate to detect, ``h`` designed for one false
    alarm per ``arl0`` windows (:func:`analysis.investigation.monitor_charts.design_binomial`: the
    exact window-level ARL), times the baseline's Pearson dispersion :math:`\\phi \\ge 1` when it
    is significant (a quasi-likelihood CUSUM: real traffic can vary more between windows than
    binomial sampling).
``mean_cusum``
    On a score (``retrieval_top1_score``): the window mean standardised against the baseline,
    :math:`z_t = ((\\bar x_t - \\mu_0)/(s_0/\\sqrt{n_t}))/\\phi - c`, into a one-sided tabular CUSUM
    with reference ``k`` and limit ``h`` (``spc.cusum_h_for_arl``).

The monitors are designed as a set for a family false-page budget (one page per 30 days for the
whole file by default), split across the charts (:mod:`analysis.investigation.monitor_set`, planned
in the detection-gap step, so that the Q4 replay charts the same designs). The file holds the
budget and the split, and for each monitor its metric, segment filter, window, chart and
parameters, its share of the budget and the ARL0 designed from it, the baseline it was fitted on,
and the lead time and false alarms it had on the investigated history. People can read and edit
it; :func:`load_config` checks it.

:func:`run_monitors` evaluates the monitors on new logs through the engine (any input format the
loaders read). With a state it resumes each chart where the last run stopped: it only reads
events after the last one it saw, carries the partial last window over, and so a cron job every
few minutes never re-reads history, and chunked runs give the same alarms as one run over the
whole history. Only complete windows are charted: the window holding the newest event waits for
the next run.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis._common import check_duration, iso_z
from analysis.engine import Engine, Metric, Where
from analysis.engine.aggregates import offset_string
from analysis.engine.query import quote_ident
from analysis.investigation.monitor_set import (
    FAMILY_BUDGET_PER_30_DAYS,
    MonitorSet,
    PlannedMonitor,
    SetScope,
    plan_monitor_set,
)
from analysis.schema.metrics import alternative_of
from analysis.report.monitors_yaml import dump_monitors as dump_config  # the report package writes the file; the name stays here
from analysis.stats import spc

if TYPE_CHECKING:  # the design reads an Investigation; the runner (the cron job) never needs its steps
    from analysis.investigation.result import Investigation

__all__ = ["SCHEMA_VERSION", "MonitorSpec", "ChartState", "Alarm", "MonitorRunResult", "load_config", "dump_config",
           "run_monitors", "prometheus_text", "design_monitors", "monitor_set_of"]

#: 2: sidedness is spelled ``alternative: greater|less`` (schema 1 wrote ``direction: up|down``).
SCHEMA_VERSION = 2
#: The versions ``load_config`` reads (schema 1 with a deprecation note).
READ_VERSIONS = (1, 2)
#: The state file's own format (unchanged since its first version).
STATE_VERSION = 1
CHARTS = ("binomial_cusum", "mean_cusum")
_US = 1_000_000


@dataclass(frozen=True)
class MonitorSpec:
    """One monitor of ``monitors.yaml``."""

    name: str
    chart: str
    metric: str  # a failure flag (SQL) for binomial_cusum, a column for mean_cusum
    window: pd.Timedelta
    params: dict[str, float]
    segment: dict[str, list[str]] = field(default_factory=dict)
    alternative: str = "greater"
    description: str = ""

    def where(self) -> Where:
        return Where.of(conditions=self.segment) if self.segment else Where()


@dataclass
class ChartState:
    """Where a chart stands: its statistic, the newest event seen, the pending (incomplete) window."""

    statistic: float = 0.0
    position_us: int | None = None
    pending_start_us: int | None = None
    pending_n: float = 0.0
    pending_sum: float = 0.0
    alarms_total: int = 0
    last_window_end_us: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> "ChartState":
        return ChartState(**{k: d[k] for k in ChartState().__dict__ if k in d})


@dataclass(frozen=True)
class Alarm:
    """A chart crossed its limit when the window ``[window_start, window_end)`` closed."""

    monitor: str
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    statistic: float
    limit: float
    value: float
    n: float

    def to_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "window_start": iso_z(self.window_start), "window_end": iso_z(self.window_end),
                "statistic": self.statistic, "limit": self.limit, "value": self.value, "n": self.n}

    def line(self) -> str:
        return (f"ALARM {self.monitor}: window {iso_z(self.window_start)} .. {iso_z(self.window_end)}, value {self.value:.4g} "
                f"over {self.n:.0f} requests, statistic {self.statistic:.2f} > {self.limit:.2f}")


@dataclass(frozen=True)
class MonitorRunResult:
    """The alarms of one run, the charts' states after it, and how many complete windows each charted."""

    alarms: list[Alarm]
    states: dict[str, ChartState]
    windows: dict[str, int]


# ------------------------------------------------------------------------------------ the file


def _bad(path: str, msg: str) -> ValueError:
    return ValueError(f"{path}: {msg}")


def _spec(d: Mapping[str, Any], i: int, src: str) -> MonitorSpec:
    where = f"{src}: monitors[{i}]"
    for k in ("name", "chart", "metric", "window", "parameters"):
        if k not in d:
            raise _bad(where, f"missing key {k!r} (a monitor needs name, chart, metric, window, parameters)")
    chart = str(d["chart"])
    if chart not in CHARTS:
        raise _bad(where, f"chart must be one of {list(CHARTS)}, got {chart!r}")
    params = {k: float(v) for k, v in dict(d["parameters"]).items() if isinstance(v, (int, float))}
    need = {"binomial_cusum": ("p0", "p1", "h"), "mean_cusum": ("level", "sd", "dispersion", "z_centre", "k", "h")}[chart]
    missing = [k for k in need if k not in params]
    if missing:
        raise _bad(where, f"{chart} needs numeric parameters {list(need)}; missing {missing}")
    if chart == "binomial_cusum" and not (0 < params["p0"] < 1 and 0 < params["p1"] < 1 and params["p0"] != params["p1"]):
        raise _bad(where, f"p0 and p1 must be distinct rates in (0, 1), got p0={params['p0']}, p1={params['p1']}")
    seg = {str(c): [str(v) for v in (vals if isinstance(vals, (list, tuple)) else [vals])] for c, vals in dict(d.get("segment") or {}).items()}
    try:
        if "alternative" in d or "direction" not in d:
            alternative = alternative_of(str(d.get("alternative", "greater")), source=where)
        else:  # schema 1 spelled it direction: up|down
            alternative = alternative_of(str(d["direction"]), source=f"{where}.direction")
    except ValueError as e:
        raise _bad(where, str(e)) from None
    if alternative not in ("greater", "less"):
        raise _bad(where, f"alternative must be 'greater' or 'less' (a chart watches one side), got {alternative!r}")
    try:
        w = check_duration(d["window"], "window")
    except ValueError as e:
        raise _bad(where, str(e)) from None
    return MonitorSpec(str(d["name"]), chart, str(d["metric"]), w, params, seg, alternative, str(d.get("description", "")))


def load_config(path: str | Path) -> tuple[dict[str, Any], list[MonitorSpec]]:
    """Read and check ``monitors.yaml``: the document and its monitors."""
    import yaml

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such monitors file")
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise _bad(str(p), f"not valid YAML ({e})") from None
    if not isinstance(doc, dict) or "monitors" not in doc:
        raise _bad(str(p), "expected a mapping with schema_version and monitors")
    if doc.get("schema_version") not in READ_VERSIONS:
        raise _bad(str(p), f"schema_version must be one of {list(READ_VERSIONS)}, got {doc.get('schema_version')!r}")
    specs = [_spec(m, i, str(p)) for i, m in enumerate(doc["monitors"] or [])]
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise _bad(str(p), f"monitor names must be unique; repeated: {dup}")
    return doc, specs


def config_sha(specs: Sequence[MonitorSpec]) -> str:
    """A digest of the monitors' definitions (a state file belongs to one configuration)."""
    # the digest keeps schema 1's spelling of the side (up/down), so that a state file written
    # before sidedness was spelled `alternative` still belongs to its configuration
    old = {"greater": "up", "less": "down"}
    text = json.dumps([[s.name, s.chart, s.metric, s.window.value, sorted(s.params.items()), sorted(s.segment.items()), old[s.alternative]]
                       for s in specs], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------ charting


def _increment(spec: MonitorSpec, n: float, s: float) -> float:
    """The CUSUM's increment for one complete window with ``n`` requests and sum ``s``."""
    p = spec.params
    if spec.chart == "binomial_cusum":
        a, b = math.log(p["p1"] / p["p0"]), math.log((1 - p["p1"]) / (1 - p["p0"]))
        return s * a + (n - s) * b
    mean = s / n
    z = ((mean - p["level"]) / (max(p["sd"], 1e-12) / math.sqrt(n))) / max(p["dispersion"], 1e-12) - p["z_centre"]
    return (z if spec.alternative == "greater" else -z) - p["k"]


def _chart_windows(spec: MonitorSpec, st: ChartState, table: pd.DataFrame, last_us: int) -> tuple[list[Alarm], int]:
    """Chart the complete windows of ``table`` (``w_us``, ``n``, ``s``; merged with the pending one);
    the window holding ``last_us`` stays pending."""
    w_us = spec.window.value // 1000
    h = spec.params["h"]
    alarms: list[Alarm] = []
    done = 0
    rows = table.sort_values("w_us")
    for w0, n, s in zip(rows["w_us"].to_numpy(np.int64), rows["n"].to_numpy(float), rows["s"].to_numpy(float)):
        w0 = int(w0)
        if st.pending_start_us is not None and w0 == st.pending_start_us:
            n, s = n + st.pending_n, s + st.pending_sum
        elif st.pending_start_us is not None and w0 > st.pending_start_us:
            # the pending window is complete now: chart it first
            alarms += _close(spec, st, st.pending_start_us, st.pending_n, st.pending_sum, h, w_us)
            done += 1
        st.pending_start_us, st.pending_n, st.pending_sum = None, 0.0, 0.0
        if w0 + w_us > last_us:  # still open: wait for the next run
            st.pending_start_us, st.pending_n, st.pending_sum = w0, float(n), float(s)
            continue
        alarms += _close(spec, st, w0, n, s, h, w_us)
        done += 1
    return alarms, done


def _close(spec: MonitorSpec, st: ChartState, w0: int, n: float, s: float, h: float, w_us: int) -> list[Alarm]:
    st.last_window_end_us = w0 + w_us
    if n <= 0:
        return []
    st.statistic = spc.lindley(float(_increment(spec, n, s)), st.statistic)
    if st.statistic > h:
        a = Alarm(spec.name, _ts(w0), _ts(w0 + w_us), float(st.statistic), float(h), float(s / n), float(n))
        st.statistic = 0.0
        st.alarms_total += 1
        return [a]
    return []


def _ts(us: int) -> pd.Timestamp:
    return pd.Timestamp(int(us) * 1000, tz="UTC")


def _window_table(eng: Engine, spec: MonitorSpec, after_us: int | None, until: pd.Timestamp | None) -> tuple[pd.DataFrame, int | None]:
    """Per window (aligned to the epoch): n and the metric's sum, for the events after ``after_us``."""
    cond = spec.where()
    if after_us is not None:
        cond = cond.and_(Where(expr=f"EPOCH_US(ts) > {int(after_us)}"))
    if until is not None:
        cond = cond.and_(Where.of(None, until))
    metric = Metric("rate", spec.metric) if spec.chart == "binomial_cusum" else Metric("mean", f'CAST({quote_ident(spec.metric)} AS DOUBLE)')
    n, first, last = eng.time_range(cond)
    if not n:
        return pd.DataFrame({"w_us": [], "n": [], "s": []}), None
    w = spec.window
    start = pd.Timestamp(first).floor(w)
    agg = eng.window_aggregates(window=w, metrics={"m": metric}, where=cond, start=start, end=pd.Timestamp(last).floor(w) + w)
    t = agg.table[agg.table["segment_column"] == "__all__"]
    ws = pd.DatetimeIndex(pd.to_datetime(t["window_start"], utc=True)).as_unit("us").asi8
    out = pd.DataFrame({"w_us": ws, "n": t["m__n"].to_numpy(float), "s": t["m__sum"].to_numpy(float)})
    last_us = int(pd.Timestamp(last).value // 1000)
    return out[out["n"] > 0].reset_index(drop=True), last_us


def run_monitors(eng: Engine, specs: Sequence[MonitorSpec], state: Mapping[str, ChartState] | None = None, *,
                 until: Any = None) -> MonitorRunResult:
    """Evaluate every monitor on the events of ``eng`` after where its state stopped.

    Parameters
    ----------
    eng
        The new logs on an engine (``analysis.loaders.open_events(...).engine``).
    specs
        The monitors (:func:`load_config`).
    state
        Monitor name -> :class:`ChartState` from the last run (None: start fresh, in control).
    until
        Chart only the windows that end by this time (default: all complete windows; the window
        holding the newest event stays pending either way unless it ends by ``until``).
    """
    until_ts = pd.Timestamp(until) if until is not None else None
    states = {s.name: ChartState.from_dict(state[s.name].to_dict()) if state and s.name in state else ChartState() for s in specs}
    alarms: list[Alarm] = []
    windows: dict[str, int] = {}
    for spec in specs:
        st = states[spec.name]
        table, last_us = _window_table(eng, spec, st.position_us, until_ts)
        if last_us is None:
            windows[spec.name] = 0
            continue
        edge = last_us if until_ts is None else max(last_us, int(until_ts.value // 1000) - 1)
        got, done = _chart_windows(spec, st, table, edge + (0 if until_ts is None else 1))
        st.position_us = max(last_us, st.position_us or last_us)
        alarms += got
        windows[spec.name] = done
    alarms.sort(key=lambda a: (a.window_end, a.monitor))
    return MonitorRunResult(alarms, states, windows)


def load_state(path: str | Path, specs: Sequence[MonitorSpec]) -> dict[str, ChartState] | None:
    """The charts' states from a state file (None when the file does not exist yet)."""
    p = Path(path)
    if not p.exists():
        return None
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise _bad(str(p), f"not a monitor state file (invalid JSON: {e})") from None
    if doc.get("config_sha") != config_sha(specs):
        raise _bad(str(p), "this state belongs to another monitors configuration (its config_sha differs): "
                           "start a new state file after editing monitors.yaml")
    return {k: ChartState.from_dict(v) for k, v in (doc.get("monitors") or {}).items()}


def save_state(path: str | Path, specs: Sequence[MonitorSpec], states: Mapping[str, ChartState]) -> Path:
    p = Path(path)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(json.dumps({"schema_version": STATE_VERSION, "config_sha": config_sha(specs),
                               "monitors": {k: v.to_dict() for k, v in states.items()}}, indent=1), encoding="utf-8")
    tmp.replace(p)  # atomic: a cron run killed half-way leaves the old state
    return p


def prometheus_text(specs: Sequence[MonitorSpec], result: MonitorRunResult) -> str:
    """The charts in Prometheus text exposition format (for node_exporter's textfile collector)."""
    fired = {a.monitor for a in result.alarms}

    def lab(s: MonitorSpec) -> str:
        name = s.name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
        return f'{{monitor="{name}",chart="{s.chart}"}}'

    out = []
    metrics = [
        ("forensics_monitor_statistic", "gauge", "CUSUM statistic after the last complete window", lambda s, st: st.statistic),
        ("forensics_monitor_limit", "gauge", "the chart's decision limit h", lambda s, st: s.params["h"]),
        ("forensics_monitor_alarm", "gauge", "1 when the chart alarmed in the last run", lambda s, st: 1.0 if s.name in fired else 0.0),
        ("forensics_monitor_alarms_total", "counter", "alarms since the state was started", lambda s, st: float(st.alarms_total)),
        ("forensics_monitor_last_window_end_seconds", "gauge", "end of the last charted window (Unix time)",
         lambda s, st: float(st.last_window_end_us or 0) / _US),
    ]
    for name, typ, help_, fn in metrics:
        out += [f"# HELP {name} {help_}", f"# TYPE {name} {typ}"]
        for s in specs:
            out.append(f"{name}{lab(s)} {fn(s, result.states[s.name]):.10g}")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------ design


def _history(eng: Engine, spec: MonitorSpec, baseline: tuple[pd.Timestamp, pd.Timestamp], reported_at: pd.Timestamp,
             detect_from: pd.Timestamp | None) -> dict[str, Any]:
    """The monitor replayed over the investigated history: false alarms in the baseline, first alarm, lead time."""
    res = run_monitors(eng, [spec], until=reported_at)
    b0, b1 = baseline
    fa = [a for a in res.alarms if b0 <= a.window_end < b1]
    days = max((b1 - b0) / pd.Timedelta(days=1), 1e-9)
    first = next((a for a in res.alarms if detect_from is not None and a.window_end >= detect_from), None)
    return {"false_alarms_baseline": len(fa), "false_alarms_per_30d": 30 * len(fa) / days,
            "first_alarm": None if first is None else first.window_end,
            "lead_time_hours": None if first is None else (reported_at - first.window_end) / pd.Timedelta(hours=1)}


def _set_scope(inv: Investigation) -> SetScope:
    """What the investigation's monitor set watches (as the detection-gap step planned it)."""
    onset = inv.onset_result
    seg: dict[str, list[str]] = {}
    if inv.incident and onset is not None:
        if onset.conditions:
            seg = {str(c): [str(v) for v in vals] for c, vals in onset.conditions.items()}
        elif onset.segment_column != "__all__":
            seg = {str(onset.segment_column): [str(onset.segment)]}
    return SetScope(failure=inv.failure, failure_definition=inv.q3.failure_definition, metric=str(inv.onset.get("metric") or ""),
                    incident=inv.incident, segment=seg, segment_label=onset.label if onset is not None else "",
                    mix_shift=inv.q3.mix_shift)


def monitor_set_of(eng: Engine, inv: Investigation, budget_per_30_days: float | None = None) -> MonitorSet:
    """The investigation's monitor set: the one its Q4 replay charted, or planned again for another budget."""
    planned = getattr(inv.q4, "monitor_set", None)
    if planned is not None and (budget_per_30_days is None or budget_per_30_days == planned.budget_per_30_days):
        return planned
    baseline = (inv.parameters["baseline"]["start"], inv.parameters["baseline"]["end"])
    budget = FAMILY_BUDGET_PER_30_DAYS if budget_per_30_days is None else budget_per_30_days
    return plan_monitor_set(eng, _set_scope(inv), window=pd.Timedelta(inv.window), baseline=baseline, budget_per_30_days=budget)


def _false_alarm_rate(m: PlannedMonitor) -> dict[str, Any]:
    out: dict[str, Any] = {"share_per_30_days": m.share_per_30_days, "designed_per_30_days": m.share_per_30_days,
                           "arl0_windows": m.arl0_windows}
    if "requests_per_window" in m.params:
        # the binomial chart counts requests: at k times the baseline's traffic it pages about k times as often
        out["arl0_requests"] = float(f"{m.arl0_windows * m.params['requests_per_window']:.4g}")
    return out


def design_monitors(eng: Engine, inv: Investigation, *, budget_per_30_days: float | None = None, title: str = "",
                    kit_version: str = "") -> dict[str, Any]:
    """The ``monitors.yaml`` document of one investigation.

    The monitors are the set the detection-gap step planned
    (:func:`analysis.investigation.monitor_set.plan_monitor_set`): the failure's binomial CUSUM in
    the incident's segment (the one that closes the gap) and on all traffic; one per risk tier
    (``risk_category`` values); the retrieval relevance chart when ``retrieval_top1_score`` is
    logged; and the traffic-mix monitor (the share of the segment that grew, when a mix shift was
    seen). The set is designed for ``budget_per_30_days`` false pages a month in all (default:
    the investigation's ``monitor_budget``), split across its charts; each chart is replayed
    over the history for its figures. The document states the budget, the split and each share.
    """
    mset = monitor_set_of(eng, inv, budget_per_30_days)
    baseline = mset.baseline
    reported_at = inv.parameters["reported_at"]
    detect_from = inv.q4.detect_from if inv.incident else None
    monitors = []
    for m in mset.monitors:
        spec = MonitorSpec(m.name, m.chart, m.metric, mset.window, {k: v for k, v in m.params.items() if k != "window_sizes"},
                           m.segment, m.alternative, m.description)
        monitors.append({
            "name": m.name, "description": m.description, "chart": m.chart, "metric": m.metric, "alternative": m.alternative,
            "segment": m.segment, "window": offset_string(mset.window), "parameters": dict(m.params),
            "false_alarm_rate": _false_alarm_rate(m),
            "baseline": {"start": baseline[0], "end": baseline[1]},
            "history": _history(eng, spec, baseline, reported_at, detect_from),
        })
    return {"schema_version": SCHEMA_VERSION, "generated_by": f"llm-incident-forensics {kit_version}".strip(), "incident": title,
            "reported_at": reported_at,
            "false_page_budget": {"per_30_days": mset.budget_per_30_days, "lead": mset.lead, "split": mset.rule},
            "monitors": monitors}
