"""The affected requests as an evaluation dataset: ``regression_cases.jsonl`` and ``regression_cases.csv``.

One row per affected request, in the columns dataset uploads accept as they are:

============== =====================================================================
column         meaning
============== =====================================================================
input          the request (``input_text``), redacted
output         the output that was wrong (``output_text``), redacted
expected_output what it should have been: the logged ``expected_output`` when there is
               one, else the expected behaviour in words (the failure rule inverted,
               with the segment's baseline)
segment        the affected slice (``risk_category=high, framing in [...]``)
tier           the request's risk tier (its ``risk_category``, else the slice's tier)
source_event_id the ``event_id`` in the logs
ts             the request's time (ISO 8601, ``Z``)
failure        the failure rule (``refused == False``)
============== =====================================================================

Langfuse's dataset CSV import maps ``input`` and ``expected_output`` by name (the rest go to
metadata); Phoenix's dataset upload takes ``input`` as the input key, ``expected_output`` as the
output key and the other columns as metadata. The JSONL file holds the same rows as objects
``{"input", "expected_output", "metadata": {...}}``, Langfuse's dataset-item shape. Text is
redacted like every report file and kept raw in both (no HTML entities: an evaluation runs on the
request as it was); the CSV's cells are protected against formula injection, and the JSONL writes
``<``, ``>`` and ``&`` as JSON escapes (``\\u003c``...), the same text for any JSON reader.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pyarrow.parquet as pq

from analysis._common import iso_z
from analysis.redact import csv_safe_frame, json_text_safe, safe_text

__all__ = ["REGRESSION_COLUMNS", "regression_cases", "write_regression_cases"]

REGRESSION_COLUMNS = ("input", "output", "expected_output", "segment", "tier", "source_event_id", "ts", "failure")
_BATCH = 50_000


def _expected(pm: Any) -> str:
    """The expected behaviour in words: the failure rule inverted, with the slice's baseline."""
    q3 = pm.q3
    rule = str(getattr(q3, "failure_definition", "") or "")
    flip = {"== False": "== True", "== True": "== False"}
    want = rule
    for a, b in flip.items():
        if a in rule:
            want = rule.replace(a, b)
            break
    else:
        want = f"not ({rule})" if rule else "the baseline behaviour"
    seg = pm.onset.get("segment_label") or "this segment"
    return f"{want}, as {seg} behaved before the incident"


def _tier(row: pd.Series, default: str) -> str:
    v = row.get("risk_category")
    return str(v) if isinstance(v, str) and v else default


def _frames(pm: Any) -> Iterator[pd.DataFrame]:
    """The affected events, in batches (all of them: from the engine's Parquet file when there are many)."""
    full = getattr(pm.q3, "affected_file", None)
    if full and Path(full).exists() and pm.q3.n_affected > len(pm.affected_events):
        for batch in pq.ParquetFile(full).iter_batches(batch_size=_BATCH):
            yield batch.to_pandas()
    elif pm.affected_events is not None and len(pm.affected_events):
        yield pm.affected_events


def regression_cases(pm: Any, *, redact: bool = True) -> Iterator[dict[str, Any]]:
    """One dict per affected request (:data:`REGRESSION_COLUMNS`), text redacted unless ``redact=False``
    (not escaped: each file's writer escapes)."""
    expected = _expected(pm)
    seg = str(pm.onset.get("segment_label") or "all traffic")
    tier_default = str((pm.parameters or {}).get("default_tier", "medium"))
    failure = str(getattr(pm.q3, "failure_definition", "") or "")
    for frame in _frames(pm):
        for _, r in frame.iterrows():
            exp = r.get("expected_output")
            yield {
                "input": safe_text(r.get("input_text"), redact=redact, max_len=None) if pd.notna(r.get("input_text")) else "",
                "output": safe_text(r.get("output_text"), redact=redact, max_len=None) if pd.notna(r.get("output_text")) else "",
                "expected_output": safe_text(exp, redact=redact, max_len=None) if isinstance(exp, str) and exp else expected,
                "segment": seg,
                "tier": _tier(r, tier_default),
                "source_event_id": str(r.get("event_id")),
                "ts": iso_z(pd.Timestamp(r.get("ts"))),
                "failure": failure,
            }


def write_regression_cases(pm: Any, out_dir: str | Path, *, redact: bool = True) -> dict[str, Path]:
    """Write ``regression_cases.jsonl`` and ``.csv`` (none when nothing was affected). Returns the paths."""
    out = Path(out_dir)
    jl, cs = out / "regression_cases.jsonl", out / "regression_cases.csv"
    rows = list(regression_cases(pm, redact=redact))
    if not rows:
        return {}
    with jl.open("w", encoding="utf-8") as fh:
        for r in rows:
            meta = {k: r[k] for k in REGRESSION_COLUMNS if k not in ("input", "expected_output")}
            line = json.dumps({"input": r["input"], "expected_output": r["expected_output"], "metadata": meta}, ensure_ascii=False)
            fh.write(json_text_safe(line) + "\n")
    frame = pd.DataFrame(rows, columns=list(REGRESSION_COLUMNS))
    # the texts are already redacted; csv_safe_frame guards against formula injection
    csv_safe_frame(frame, redact=False).to_csv(cs, index=False)
    return {"regression_cases.jsonl": jl, "regression_cases.csv": cs}
