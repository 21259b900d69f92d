"""Trace exports streamed chunk by chunk: whole traces assembled together, late spans counted,
OTLP JSON Lines parsed as read, and ``convert`` writing each chunk with every record accounted."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.loaders import load_events
from analysis.loaders._spans import Span
from analysis.loaders.convert import convert_events
from analysis.loaders.mapping import Mapping, MappingState
from analysis.loaders._jsonio import iter_json_records
from analysis.loaders.stream import Tally, TraceWindow
from analysis.loaders.traces import TraceOptions, stream_trace_format

FIX = Path(__file__).parent / "fixtures"
COLS = ["event_id", "ts", "model_version", "session_id", "embedding_model", "latency_ms", "input_tokens"]


def _span(trace: str, i: int) -> Span:
    return Span(trace_id=trace, span_id=f"{i:016x}", parent_id=None, name="x", start_ns=i, end_ns=i + 1, attrs={}, row=i)


def test_the_window_hands_on_whole_traces_oldest_first_and_counts_late_spans() -> None:
    w = TraceWindow(window=4)
    assert w.add([_span("a", 1), _span("b", 2), _span("a", 3), _span("c", 4)]) == []
    out = w.add([_span("d", 5)])  # 5 pending > 4: hand on the traces seen longest ago, down to 2
    assert [s.trace_id for s in out] == ["b", "a", "a"]
    w.add([_span("a", 6)])  # trace a was handed on already
    rest = w.drain()
    assert sorted(s.trace_id for s in rest) == ["a", "c", "d"]
    assert (w.late_spans, len(w.late_traces), w.traces) == (1, 1, 4)
    with pytest.raises(ValueError, match="positive number of spans"):
        TraceWindow(window=0)


def _chunks(path: Path, **opts: int) -> tuple[pd.DataFrame, Tally, int]:
    tally = Tally("span")
    chunks = list(stream_trace_format(path, "otlp", assume_tz=None, mapping=MappingState(Mapping()), tally=tally,
                                      options=TraceOptions(**opts)))
    frame = pd.concat([c.frame for c in chunks], ignore_index=True).sort_values("event_id").reset_index(drop=True)
    return frame, tally, len(chunks)


def test_small_chunks_give_the_same_events_as_one_chunk() -> None:
    path = FIX / "otlp_genai_collector.jsonl"
    whole = load_events(path)
    frame, tally, n = _chunks(path, batch_spans=3, window=40)  # 46 spans; one trace ends two lines later
    assert n >= 2 and tally.late_spans == 0
    ref = whole.frame.sort_values("event_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(frame[COLS], ref[COLS])
    assert tally.rows_read == whole.rows_read and dict(tally.spans_by_kind) == whole.spans_by_kind


def test_a_trace_spread_further_than_the_window_is_assembled_in_parts_and_warned_about(tmp_path: Path) -> None:
    lines = [json.loads(x) for x in (FIX / "otlp_genai_collector.jsonl").read_text().splitlines() if x.strip()]
    spans = [sp for ln in lines for rs in ln["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]]
    # every trace's first span at the top of the file, the rest at the bottom
    first: dict[str, dict] = {}
    for sp in spans:
        first.setdefault(sp["traceId"], sp)
    order = list(first.values()) + [sp for sp in spans if first[sp["traceId"]] is not sp]
    p = tmp_path / "spread.jsonl"
    p.write_text("".join(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [sp]}]}]}) + "\n" for sp in order))
    frame, tally, _ = _chunks(p, batch_spans=1, window=2)
    assert tally.late_spans > 0
    assert any("were assembled on their own" in w for w in tally.warnings())
    assert tally.rows_read == tally.loaded + tally.rejected


def test_json_lines_are_read_block_by_block_with_bad_bytes_and_bad_lines_reported(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl.gz"
    with gzip.open(p, "wb") as f:
        f.write(b'{"a": 1}\n\n{"a": "caf\xe9"}\n{broken\n{"a": 3}')  # no final newline
    warnings: list[str] = []
    recs = list(iter_json_records(p, warnings))
    assert [r.line for r in recs] == [1, 3, 4, 5]
    assert recs[1].value == {"a": "caf\ufffd"} and recs[2].error.startswith("malformed JSON") and recs[3].value == {"a": 3}
    assert warnings == ["bytes that are not UTF-8 were replaced with U+FFFD on 1 line(s): 3"]


def test_convert_streams_an_otlp_export_and_accounts_every_record(tmp_path: Path) -> None:
    src = FIX / "otlp_genai_collector.jsonl"
    text = src.read_text()
    p = tmp_path / "big.jsonl"
    p.write_text(text + "{not json\n" + text)  # every span twice, and one broken line
    res = convert_events(p, tmp_path / "out.parquet")
    whole = load_events(src)
    assert res.rows_read == res.rows_written + res.rows_rejected
    assert res.rows_written == whole.rows_loaded and res.rows_rejected == whole.rows_loaded + 1
    rej = pd.read_csv(res.rejected_path)
    assert rej["reason"].str.contains("duplicate event_id").sum() == whole.rows_loaded
    assert rej["reason"].str.startswith("malformed JSON").sum() == 1
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out["ts"].is_monotonic_increasing and out["event_id"].is_unique
    assert set(out["model_version"]) == set(whole.frame["model_version"])
