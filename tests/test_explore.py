"""The notebooks' digging tools (``analysis.report.explore``): the requests behind a segment before and
after, checked against plain DuckDB SQL on the same file (and Spark: the same rows); the interactive
table's redaction and escaping; the interactive timeline's marks."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
REFUSAL = ROOT / "sample_data" / "refusal_regression"


@pytest.fixture(scope="module")
def investigated():
    from analysis import investigate
    from analysis.loaders import load_changes, open_events

    events = open_events(REFUSAL / "events.parquet")
    pm = investigate(events.engine, load_changes(REFUSAL / "changes.csv").frame, pattern="refusal", progress=False)
    return events.engine, pm


def _sql_count(where: str, lo: pd.Timestamp, hi: pd.Timestamp) -> int:
    con = duckdb.connect()
    return con.execute(f"SELECT COUNT(*) FROM read_parquet('{REFUSAL / 'events.parquet'}') WHERE {where} AND ts >= ? AND ts <= ?",
                       [lo.to_pydatetime(), hi.to_pydatetime()]).fetchone()[0]


def test_the_onset_segment_before_and_after_is_a_bounded_sample_of_its_requests(investigated) -> None:
    from analysis.report.explore import requests_before_after

    eng, pm = investigated
    pairs = requests_before_after(eng, pm, "onset", n=4, redact=False)
    assert pm.onset["segment"] == {"query_category": "chest_pain", "framing": ["third_person", "hypothetical"]}
    where = "query_category = 'chest_pain' AND framing IN ('third_person', 'hypothetical')"
    (b0, b1), (c0, c1) = pm.q1.baseline, pm.q1.current
    assert pairs.attrs["n_before"] == _sql_count(where, b0, b1)
    assert pairs.attrs["n_after"] == _sql_count(where, c0, c1)
    assert pairs.attrs["segment"] == pm.onset["segment_label"]
    assert len(pairs) == 4 and list(pairs.columns[:2]) == ["before: ts", "before: event_id"]
    assert {"before: input_text", "after: output_text", "after: refused"} <= set(pairs.columns)
    # each row is a request of the segment in its period (looked up by id with plain SQL)
    con = duckdb.connect()
    for side, (lo, hi) in (("before", (b0, b1)), ("after", (c0, c1))):
        ids = list(pairs[f"{side}: event_id"])
        got = con.execute(f"SELECT event_id, ts, refused, input_text FROM read_parquet('{REFUSAL / 'events.parquet'}') "
                          f"WHERE {where} AND event_id IN (SELECT unnest(?))", [ids]).df()
        assert len(got) == 4
        ts = pd.to_datetime(got["ts"])
        ts = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
        assert ts.between(lo, hi).all()
        by_id = got.set_index("event_id")
        assert [bool(by_id.loc[i, "refused"]) for i in ids] == [bool(v) for v in pairs[f"{side}: refused"]]
        assert [by_id.loc[i, "input_text"] for i in ids] == list(pairs[f"{side}: input_text"])
    # the refusals fell in this segment: the failure window's sample refuses less than the baseline's
    all_pairs = requests_before_after(eng, pm, "onset", n=60, redact=False)
    assert all_pairs["before: refused"].mean() > all_pairs["after: refused"].mean()


def test_another_segment_by_name_and_all_traffic(investigated) -> None:
    from analysis.report.explore import requests_before_after

    eng, pm = investigated
    pairs = requests_before_after(eng, pm, "query_category=chest_pain", n=3)
    (b0, b1), _ = pm.q1.baseline, pm.q1.current
    assert pairs.attrs["segment"] == "query_category=chest_pain"
    assert pairs.attrs["n_before"] == _sql_count("query_category = 'chest_pain'", b0, b1)
    everything = requests_before_after(eng, pm, None, n=2)
    assert everything.attrs["segment"] == "all traffic"
    assert everything.attrs["n_before"] == _sql_count("TRUE", b0, b1)


def test_a_segment_on_a_column_the_events_lack_is_refused_by_name(investigated) -> None:
    from analysis.report.explore import requests_before_after

    eng, pm = investigated
    with pytest.raises(ValueError, match=r"\['topic'\] not in the events"):
        requests_before_after(eng, pm, "topic=3")
    with pytest.raises(ValueError, match="expected COLUMN=VALUE"):
        requests_before_after(eng, pm, "chest_pain")


@pytest.mark.slow
def test_spark_pulls_the_same_requests(investigated) -> None:
    from test_engine import spark_or_skip

    from analysis.loaders import open_events
    from analysis.report.explore import requests_before_after

    spark_or_skip()
    eng, pm = investigated
    spark = open_events(REFUSAL / "events.parquet", engine="spark").engine
    try:
        a = requests_before_after(eng, pm, "onset", n=5)
        b = requests_before_after(spark, pm, "onset", n=5)
    finally:
        spark.close()
    assert list(a["before: event_id"]) == list(b["before: event_id"])
    assert list(a["after: event_id"]) == list(b["after: event_id"])
    assert (a.attrs["n_before"], a.attrs["n_after"]) == (b.attrs["n_before"], b.attrs["n_after"])


def test_the_interactive_table_redacts_and_escapes_the_data() -> None:
    from analysis.report.explore import table

    frame = pd.DataFrame({"input_text": ["mail me at jane.doe@example.com <img src=x onerror=alert(1)>", "=SUM(A1)"],
                          "n": [1, 2]})
    html_text = table(frame)._repr_html_()[0]
    assert "jane.doe@example.com" not in html_text
    assert "<img src=x" not in html_text and "&lt;img src=x onerror=alert(1)&gt;" in html_text
    captioned = table(frame, caption="<b>segment</b> of jane.doe@example.com")._repr_html_()[0]
    assert "<b>segment</b>" not in captioned and "&lt;b&gt;segment&lt;/b&gt;" in captioned
    assert "jane.doe@example.com" not in captioned
    shown = table(frame, redact=False)._repr_html_()[0]
    assert "jane.doe@example.com" in shown
    assert "(none)" in str(table(frame.iloc[:0])._repr_html_())


def test_the_interactive_timeline_marks_the_onset_the_changes_and_the_report(investigated) -> None:
    from analysis.report.explore import timeline_figure

    _, pm = investigated
    fig = timeline_figure(pm)
    texts = [a.text for a in fig.layout.annotations]
    assert "onset" in texts and "reported" in texts
    cands = pm.q2.candidates
    top = cands.sort_values("rank").iloc[0]["change_id"]
    assert f"{top} (most likely cause)" in texts
    for cid in cands.loc[cands["ts"].notna(), "change_id"]:
        assert any(str(t).startswith(str(cid)) for t in texts), cid
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    lo, hi = (pd.Timestamp(t) for t in pm.onset["interval"])
    assert rects and all(pd.Timestamp(r.x0) == lo and pd.Timestamp(r.x1) == hi for r in rects)
    names = [t.name for t in fig.data]
    assert {"each window", "95% interval", "requests per window"} <= set(names)
    fig.to_json()  # serialisable: what the notebook stores


def test_notebook_html_keeps_the_scripts_of_marked_outputs_only() -> None:
    """neutralise_outputs: an output carrying explore's mark (in its metadata, which the data cannot set)
    keeps its script; the same HTML without the mark is reduced to its text."""
    import nbformat

    from analysis.report.explore import MARK, table
    from analysis.report.notebook import neutralise_outputs

    html_text, md = table(pd.DataFrame({"a": ["<b>x</b>"]}))._repr_html_()
    assert md == MARK and "<script" in html_text
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": html_text, "text/plain": "t"},
                                           metadata={"text/html": MARK}),
                    nbformat.v4.new_output("display_data", data={"text/html": html_text, "text/plain": "t"})]
    nb.cells = [cell]
    assert neutralise_outputs(nb) == 1
    assert "text/html" in cell.outputs[0]["data"] and "text/html" not in cell.outputs[1]["data"]
