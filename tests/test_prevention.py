"""Prevention artifacts: monitors.yaml designed from a postmortem and run on fresh logs (whole and in
chunks, through the CLI with a state), and the regression cases."""

from __future__ import annotations

import csv
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from analysis import scenarios
from analysis.cli import main
from analysis.engine import open_engine
from analysis import investigate
from analysis.prevention import monitors as mon
from analysis.stats import spc


@pytest.fixture(scope="module")
def refusal_report(tmp_path_factory):
    sc = scenarios.generate("refusal", seed=0, days=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm = investigate(sc.events, sc.changes, pattern="refusal", reported_at=sc.truth.reported_at, progress=False)
    out = tmp_path_factory.mktemp("report")
    paths = pm.write(out)
    return sc, pm, out, paths


@pytest.fixture(scope="module")
def fresh_logs(tmp_path_factory):
    """Another seed's incident, cut into 7 files by time (the cron job's new logs)."""
    sc = scenarios.generate("refusal", seed=1, days=12)
    folder = tmp_path_factory.mktemp("fresh")
    ev = sc.events.sort_values("ts").reset_index(drop=True)
    edges = pd.date_range(ev["ts"].min().floor("h"), ev["ts"].max().ceil("h"), periods=8)
    files = []
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        part = ev[(ev["ts"] >= a) & ((ev["ts"] < b) if i < 6 else (ev["ts"] <= b))]
        p = folder / f"part-{i}.parquet"
        part.to_parquet(p, index=False)
        files.append(p)
    whole = folder / "whole.parquet"
    ev.to_parquet(whole, index=False)
    return sc, files, whole


def test_monitors_yaml_is_written_versioned_and_designed(refusal_report):
    sc, pm, out, paths = refusal_report
    doc, specs = mon.load_config(paths["monitors.yaml"])
    assert doc["schema_version"] == 2 and len(specs) >= 3
    names = [s.name for s in specs]
    assert names[0] == "incident_segment" and any(n.startswith("risk_tier:") for n in names)
    inc = specs[0]
    assert inc.segment.get("query_category") == ["chest_pain"] and inc.metric == 'NOT "refused"'
    m0 = doc["monitors"][0]
    # the family budget: one false page a month for the whole set, half of it to the incident's own chart
    assert doc["false_page_budget"]["per_30_days"] == 1.0 and doc["false_page_budget"]["lead"] == "incident_segment"
    shares = [m["false_alarm_rate"]["share_per_30_days"] for m in doc["monitors"]]
    assert sum(shares) == pytest.approx(1.0) and shares[0] == pytest.approx(0.5)
    assert shares[1:] == pytest.approx([0.5 / (len(shares) - 1)] * (len(shares) - 1))
    # ARL0 = 30 days of hourly windows / share: 720 / 0.5 for the lead
    assert m0["false_alarm_rate"]["arl0_windows"] == pytest.approx(1440.0)
    for m in doc["monitors"]:
        assert m["false_alarm_rate"]["arl0_windows"] == pytest.approx(720 / m["false_alarm_rate"]["share_per_30_days"], rel=1e-3)
    assert m0["history"]["first_alarm"] is not None and m0["history"]["lead_time_hours"] > 0
    # the history replayed by the monitor code is the kit's batch binomial CUSUM on the same windows
    eng = open_engine(sc.events)
    t, _ = mon._window_table(eng, inc, None, sc.truth.reported_at)
    p = inc.params
    batch = spc.binomial_cusum(t["s"].to_numpy(), t["n"].to_numpy(), p0=p["p0"], p1=p["p1"], h=p["h"], reset=True)
    res = mon.run_monitors(eng, [inc], until=sc.truth.reported_at)
    ends = t["w_us"].to_numpy()[batch.alarms] + inc.window.value // 1000
    assert [a.window_end for a in res.alarms] == [mon._ts(int(x)) for x in ends]


def test_the_q4_replay_charts_the_exported_monitors_as_designed(refusal_report):
    # the Q4 replay's CUSUMs on the segment and on all traffic are the exported monitors: same
    # design, same alarms up to the report as the monitor code's run over the same history
    sc, pm, out, paths = refusal_report
    doc, specs = mon.load_config(paths["monitors.yaml"])
    eng = open_engine(sc.events)
    for run_name, monitor in (("segment_cusum", "incident_segment"), ("cusum", "all_traffic")):
        spec = next(s for s in specs if s.name == monitor)
        run = pm.q4.runs[run_name]
        for key in ("p0", "p1", "h"):
            assert run.design[key] == pytest.approx(spec.params[key], rel=1e-12), (run_name, key)
        res = mon.run_monitors(eng, [spec], until=sc.truth.reported_at)
        assert [a.window_end for a in res.alarms] == [t for t in run.alarm_times if t <= sc.truth.reported_at]


def test_monitors_on_fresh_logs_same_alarms_in_chunks_and_whole(refusal_report, fresh_logs, tmp_path):
    _, _, _, paths = refusal_report
    sc1, files, whole = fresh_logs
    _, specs = mon.load_config(paths["monitors.yaml"])
    full = mon.run_monitors(open_engine(str(whole)), specs)
    state = None
    chunked = []
    for f in files:
        r = mon.run_monitors(open_engine(str(f)), specs, state)
        chunked += r.alarms
        state = r.states
    assert [a.to_dict() for a in chunked] == [a.to_dict() for a in full.alarms]
    assert {k: v.to_dict() for k, v in state.items()} == {k: v.to_dict() for k, v in full.states.items()}
    # the incident monitor alarms on the fresh incident, after its onset and before its report
    inc = [a for a in full.alarms if a.monitor == "incident_segment"]
    assert inc and sc1.truth.onset - pd.Timedelta(hours=96) <= inc[0].window_end <= sc1.truth.reported_at


def test_monitor_cli_state_prometheus_and_exit_codes(refusal_report, fresh_logs, tmp_path, capsys):
    _, _, _, paths = refusal_report
    _, files, _ = fresh_logs
    state, prom = tmp_path / "state.json", tmp_path / "monitors.prom"
    codes = []
    for f in files:
        codes.append(main(["monitor", "--config", str(paths["monitors.yaml"]), "--events", str(f), "--state", str(state),
                           "--prometheus", str(prom)]))
    out = capsys.readouterr().out
    assert 1 in codes and set(codes) <= {0, 1} and codes[0] == 0  # quiet before the incident, an alarm during it
    assert "ALARM incident_segment" in out
    text = prom.read_text()
    assert '# TYPE forensics_monitor_statistic gauge' in text and 'forensics_monitor_alarms_total{monitor="incident_segment"' in text
    saved = json.loads(state.read_text())
    assert saved["schema_version"] == 1 and "incident_segment" in saved["monitors"]
    # bad input: exit 2 with one line naming the problem
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\nmonitors:\n- name: x\n  chart: ewma\n  metric: refused\n  window: 1h\n  parameters: {}\n")
    assert main(["monitor", "--config", str(bad), "--events", str(files[0])]) == 2
    assert "chart must be one of" in capsys.readouterr().err
    other = tmp_path / "other.yaml"
    doc, _ = mon.load_config(paths["monitors.yaml"])
    doc["monitors"] = doc["monitors"][:1]
    mon.dump_config(doc, other)
    assert main(["monitor", "--config", str(other), "--events", str(files[0]), "--state", str(state)]) == 2
    assert "another monitors configuration" in capsys.readouterr().err


def test_regression_cases_are_the_affected_requests(refusal_report):
    sc, pm, out, paths = refusal_report
    rows = list(csv.DictReader((out / "regression_cases.csv").open(encoding="utf-8")))
    assert [r["source_event_id"] for r in rows] == list(pm.affected_events["event_id"])
    assert set(rows[0]) == {"input", "output", "expected_output", "segment", "tier", "source_event_id", "ts", "failure"}
    assert {r["tier"] for r in rows} == {"high"} and rows[0]["failure"] == "refused == False"
    assert rows[0]["expected_output"].startswith("refused == True")
    truth = set(sc.truth.affected_event_ids)
    assert np.mean([r["source_event_id"] in truth for r in rows]) > 0.9
    items = [json.loads(x) for x in (out / "regression_cases.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(items) == len(rows) and set(items[0]) == {"input", "expected_output", "metadata"}
    # redacted like every report file: no e-mail address or phone number survives
    text = (out / "regression_cases.csv").read_text(encoding="utf-8")
    assert "@" not in text.replace("[email]", "")


def test_a_schema_1_monitors_yaml_is_still_read_with_a_deprecation_note(refusal_report, tmp_path):
    """monitors.yaml of schema 1 spelled sidedness `direction: up|down`: it is read as
    `alternative: greater|less`, with a FutureWarning naming the file and the monitor, and its
    state files keep matching (the configuration digest is the same)."""
    import warnings

    import yaml

    sc, pm, out, paths = refusal_report
    doc = yaml.safe_load(paths["monitors.yaml"].read_text())
    old = {**doc, "schema_version": 1,
           "monitors": [{**{k: v for k, v in m.items() if k != "alternative"},
                         "direction": {"greater": "up", "less": "down"}[m["alternative"]]} for m in doc["monitors"]]}
    old_path = tmp_path / "monitors_v1.yaml"
    old_path.write_text(yaml.safe_dump(old))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, old_specs = mon.load_config(old_path)
    assert any(issubclass(w.category, FutureWarning) and "monitors_v1.yaml: monitors[0].direction" in str(w.message)
               and "'greater'" in str(w.message) for w in caught)
    _, new_specs = mon.load_config(paths["monitors.yaml"])
    assert [s.alternative for s in old_specs] == [s.alternative for s in new_specs]
    assert mon.config_sha(old_specs) == mon.config_sha(new_specs)


def test_monitor_cli_derives_the_missing_label_from_the_answers(refusal_report, fresh_logs, tmp_path, capsys):
    """New logs without the `refused` label (a trace export): the monitors' flag is derived from
    the answers where the rows lie, and the incident still alarms, with a note saying so."""
    _, _, _, paths = refusal_report
    _, _, whole = fresh_logs
    bare = tmp_path / "bare.parquet"
    import pyarrow.parquet as pq

    t = pq.read_table(whole)
    pq.write_table(t.drop_columns([c for c in ("refused", "escalated", "correct", "hallucinated") if c in t.column_names]), bare)
    code = main(["monitor", "--config", str(paths["monitors.yaml"]), "--events", str(bare)])
    out = capsys.readouterr()
    assert code == 1 and "ALARM incident_segment" in out.out
    assert "note: refused is not logged: derived from the text" in out.err
