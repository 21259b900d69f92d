"""The whole investigation on the generated case studies, and the report writers.

Ground truth comes from ``analysis.scenarios`` (the generator knows the cause, the onset window
and the affected events), not from the code under test. Small scale and short histories keep the
file fast.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pandas as pd
import pytest

import analysis
from analysis import scenarios
from analysis import investigate
from analysis.report.postmortem import Postmortem

# (pattern, scale, days): the shortest histories the generator allows, volumes ~0.5x
CASES = {"retrieval": (0.5, 49), "refusal": (0.6, 11), "escalation": (0.5, 7)}
_CACHE: dict = {}


def _case(pattern: str, incident: bool = True):
    key = (pattern, incident)
    if key not in _CACHE:
        scale, days = CASES[pattern]
        sc = scenarios.generate(pattern, seed=0, scale=scale, days=days, incident=incident)
        pm = investigate(sc.events, sc.changes, pattern=pattern, reported_at=sc.truth.reported_at, progress=False,
                         evaluations=sc.evaluations)
        _CACHE[key] = (sc, pm)
    return _CACHE[key]


@pytest.mark.parametrize("pattern", list(CASES))
def test_incident_cause_onset_and_scope(pattern):
    sc, pm = _case(pattern)
    tr = sc.truth
    cands = pm.q2.candidates
    # the true cause ranks first
    assert cands["change_id"].iat[0] == tr.cause_change_id, cands[["change_id", "score", "evidence"]].head()
    # the onset falls inside the generator's window of acceptable onsets
    ts = pd.Timestamp(pm.onset["ts"])
    lo, hi = tr.onset_window
    assert lo <= ts <= hi, (ts, tr.onset_window)
    assert pm.q3.verdict == "systematic"
    # every decoy ranks below the cause, including the one placed nearer to the onset
    rank = dict(zip(cands["change_id"], cands["rank"]))
    cause_rank = rank[tr.cause_change_id]
    for d in tr.decoy_change_ids:
        if d in rank:
            assert rank[d] > cause_rank, d
    before = [d for d in tr.decoy_change_ids if d in rank and pd.Timestamp(cands.loc[cands["change_id"] == d, "ts"].iat[0]) < tr.onset]
    nearest = max(before, key=lambda d: cands.loc[cands["change_id"] == d, "ts"].iat[0])
    cause_ts = cands.loc[cands["change_id"] == tr.cause_change_id, "ts"].iat[0]
    if cands.loc[cands["change_id"] == nearest, "ts"].iat[0] > cause_ts:
        assert rank[nearest] > cause_rank
    # the affected events are mostly the truth's (precision against the generator's list)
    got = set(pm.affected_events["event_id"])
    truth = set(tr.affected_event_ids)
    assert len(got & truth) >= 0.8 * len(got)
    assert len(got & truth) >= 0.6 * len(truth)
    assert pm.q4.gap_category in ("quality_signal_missing", "evaluation_lag", "spc_missing")


@pytest.mark.parametrize("pattern", list(CASES))
def test_twin_is_no_incident(pattern):
    sc, pm = _case(pattern, incident=False)
    assert pm.q3.verdict == "no_incident", pm.q3.reason
    assert len(pm.affected_events) == 0
    d = pm.to_dict()
    assert d["q3_scope"]["verdict"] == "no_incident"
    assert d["q4_detection_gap"]["gap_category"] is None


def test_silent_version_change_is_inferred():
    sc, pm = _case("refusal")
    silent = sc.truth.silent_changes[0]
    assert f"inferred:{silent['column']}:{silent['to_value']}" in set(pm.q2.candidates["change_id"])


_ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def _walk(obj, path=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, obj


def test_report_json_contract():
    sc, pm = _case("escalation")
    d = pm.to_dict()
    # DESIGN.md's report.json keys
    for k in ("schema_version", "title", "generated_at", "kit_version", "parameters", "inputs", "onset", "q1_output",
              "q2_what_changed", "q3_scope", "q4_detection_gap", "timeline"):
        assert k in d, k
    assert d["schema_version"] == 1 and d["kit_version"] == analysis.__version__
    assert set(d["onset"]) >= {"ts", "metric", "segment", "method"}
    assert set(d["q1_output"]) >= {"findings", "error_confidence"}
    f0 = d["q1_output"]["findings"][0]
    assert set(f0) >= {"metric", "segment", "baseline", "current", "ci_low", "ci_high", "effect", "pvalue"}
    c0 = d["q2_what_changed"]["candidates"][0]
    assert set(c0) >= {"change_id", "change_type", "ts", "score", "evidence"}
    scores = [c["score"] for c in d["q2_what_changed"]["candidates"]]
    assert scores == sorted(scores, reverse=True)
    assert set(d["q2_what_changed"]["drift"][0]) >= {"column", "test", "statistic", "pvalue", "effect", "drifted"}
    assert set(d["q3_scope"]) >= {"verdict", "affected_events", "affected_share", "segments"}
    assert set(d["q4_detection_gap"]) >= {"reported_at", "monitors", "earliest_alarm", "gap_hours", "gap_category"}
    m0 = d["q4_detection_gap"]["monitors"][0]
    assert set(m0) >= {"name", "metric", "segment", "first_alarm", "lead_time_hours", "false_alarms_baseline"}
    assert set(d["timeline"][0]) == {"ts", "t_rel_hours", "kind", "source", "description", "evidence"}
    # JSON-safe: no NaN anywhere, every timestamp ISO 8601 with Z
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == d
    for key in ("generated_at",):
        assert _ISO_Z.match(d[key])
    assert _ISO_Z.match(d["onset"]["ts"]) and _ISO_Z.match(d["q4_detection_gap"]["reported_at"])
    for path, v in _walk(d):
        if path.endswith((".ts", "first_alarm", "earliest_alarm")) and v is not None:
            assert _ISO_Z.match(v), (path, v)


def test_reports_escape_and_redact(tmp_path):
    sc, pm = _case("escalation")
    evil = pm.affected_events.head(3).copy()
    evil["input_text"] = pd.array(
        ["<script>alert(1)</script> write to jane.doe@example.com", "call +1 415 555 0100 now", "**bold** | pipe"],
        dtype="string[pyarrow]",
    )
    pm2 = dataclasses.replace(pm, affected_events=evil, title="Incident <b>x</b> by bob@example.org")
    paths = pm2.write(tmp_path)
    # (the prevention artifacts joined the report files in issue 10, the postmortem page in issue 19;
    # every file is checked below)
    assert set(paths) == {"report.json", "report.md", "report.html", "timeline.csv", "affected_events.csv", "monitors.yaml",
                          "regression_cases.csv", "regression_cases.jsonl"}
    for name, p in paths.items():
        text = p.read_text(encoding="utf-8")
        if not name.endswith(".csv"):  # a CSV holds the raw text (tests/test_escaping.py)
            assert "<script>" not in text, name
        assert "jane.doe@example.com" not in text and "bob@example.org" not in text, name
    md = paths["report.md"].read_text(encoding="utf-8")
    assert "&lt;script>" in md and "\\[EMAIL\\]" in md  # brackets escaped for Markdown
    page = paths["report.html"].read_text(encoding="utf-8")
    assert "Incident &lt;b&gt;x&lt;/b&gt; by [EMAIL]" in page and "<b>x</b>" not in page
    assert "415 555 0100" not in md
    # unredacted on request (still escaped)
    md_raw = pm2.to_markdown(redact=False)
    assert "jane.doe@example.com" in md_raw.replace("\\", "") and "<script>" not in md_raw


def test_lazy_exports_and_bad_parameters():
    assert analysis.investigate is investigate and analysis.Postmortem is Postmortem
    sc, _ = _case("escalation")
    with pytest.raises(ValueError, match="`pattern`"):
        investigate(sc.events, sc.changes, pattern="storm", progress=False)
    with pytest.raises(ValueError, match="`reported_at`"):
        investigate(sc.events, sc.changes, reported_at="2026-01-01 00:00", progress=False)
    with pytest.raises(ValueError, match="`window`"):
        investigate(sc.events, sc.changes, window="-1h", progress=False)
    with pytest.raises(ValueError, match="`metric`"):
        investigate(sc.events, sc.changes, metric="no_such_column", progress=False)


def test_derived_labels_are_marked():
    # The escalation log without its `escalated` column: the label is derived from the answers
    # (hand-off phrases, handoff tool calls) and marked as derived in the report.
    sc = scenarios.generate("escalation", seed=0, scale=0.5, days=7)
    ev = sc.events.drop(columns=["escalated"])
    pm = investigate(ev, sc.changes, pattern="escalation", reported_at=sc.truth.reported_at, progress=False)
    assert "escalated" in pm.derived_metrics
    d = pm.to_dict()
    assert d["onset"]["derived"] is True and "escalated" in d["derived_metrics"]
    assert pm.q2.candidates["change_id"].iat[0] == sc.truth.cause_change_id
    assert "escalated" in d["label_rules"]


@pytest.mark.parametrize(
    "events_file",
    ["otlp_genai_collector.jsonl", "phoenix_spans.parquet", "langfuse_observations.jsonl"],
)
def test_trace_exports_run_end_to_end_to_a_too_few_data_report(events_file, tmp_path):
    """A few spans written by the real OpenTelemetry SDK (and the Phoenix and Langfuse export
    layouts) go through loader -> investigate -> writers. 8 to 12 requests in one window are too few
    to search for an onset: the verdict must say so (not "no incident"), and the draft must not
    name a "most likely cause"."""
    from pathlib import Path

    from analysis.loaders import load_changes, load_events

    fixtures = Path(__file__).resolve().parent / "fixtures"
    events = load_events(fixtures / events_file)
    changes = load_changes(fixtures / "changes.yaml")
    pm = investigate(events.frame, changes.frame, progress=False)
    d = json.loads(pm.to_json())
    assert d["q3_scope"]["verdict"] == "too_few_data"
    assert d["onset"]["ts"] is None and d["onset"]["reason"].startswith("too few non-empty windows (1 window of 1D")
    assert "- **Most likely cause:** none: too few data to answer" in pm.to_markdown()
    written = pm.write(tmp_path)
    assert {"report.json", "report.md", "timeline.csv"} <= set(written)


def test_report_time_before_every_event_is_a_clear_error():
    sc = scenarios.generate("escalation", seed=0, scale=0.2)
    first = sc.events["ts"].min()
    with pytest.raises(ValueError, match="`reported_at` .* is not after the first event"):
        investigate(sc.events, sc.changes, reported_at=first - pd.Timedelta(hours=1), progress=False)


def test_detection_gap_sentence_never_renders_an_empty_figure():
    from analysis.report.markdown import gap_sentence

    alarmed = {"gap_hours": 41.5, "gap_category": "monitor_existed_not_acted_on", "earliest_alarm": "2026-01-05T06:30:00Z",
               "closing_monitor": "cusum"}
    assert gap_sentence(alarmed, strong=True) == (
        "Gap **1 d 18 h**, category **monitor\\_existed\\_not\\_acted\\_on**; earliest alarm 2026-01-05 06:30 UTC by cusum")
    silent = {"gap_hours": 0.0, "gap_category": "no_monitor", "earliest_alarm": None, "closing_monitor": None}
    assert gap_sentence(silent) == "No replayed monitor alarmed before the report (category no\\_monitor)"
    assert gap_sentence({"gap_hours": None, "gap_category": None, "earliest_alarm": None}) == "No incident, so no detection gap"
    for q4 in (alarmed, silent):
        assert "- h" not in gap_sentence(q4) and "****" not in gap_sentence(q4, strong=True)
    assert " h " not in gap_sentence({**alarmed, "gap_hours": 0.5}) and "30 min" in gap_sentence({**alarmed, "gap_hours": 0.5})


def test_a_change_log_read_with_pandas_is_refused_by_name():
    """The Python API takes canonical tables: a change log read with ``pd.read_csv`` (times as
    strings) gets an error naming the table, the column and the expected type, not a comparison
    failure deep inside a step."""
    from analysis.schema import SchemaError

    sc, _ = _case("escalation")
    raw = sc.changes.assign(ts=sc.changes["ts"].astype(str))
    with pytest.raises(SchemaError, match=r"`changes`.*ts.*datetime64"):
        investigate(sc.events, raw, pattern="escalation", progress=False)
