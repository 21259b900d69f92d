"""The canonical tables: coercion, validation, derived columns.

Reference values are worked by hand in the comments (epoch conversions were checked with
``date -u -d @1772366400``: 2026-03-01T12:00:00Z).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.schema import (
    CHANGES,
    EVENTS,
    LIST_FLOAT,
    SchemaError,
    coerce,
    derive_retrieval_columns,
    empty_frame,
    validate,
)

NOON = pd.Timestamp("2026-03-01T12:00:00Z")


def _events(**cols):
    n = len(next(iter(cols.values())))
    base = {"event_id": [f"e{i}" for i in range(n)], "ts": ["2026-03-01T12:00:00Z"] * n}
    base.update(cols)
    return pd.DataFrame(base)


def test_dtypes_of_every_canonical_column():
    out, rej = coerce(_events(temperature=["0.5"]), EVENTS)
    assert len(rej) == 0
    for c in EVENTS.columns:
        assert str(out[c.name].dtype) == str(c.dtype), c.name
    validate(out, EVENTS)
    validate(empty_frame(EVENTS), EVENTS)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-03-01T12:00:00Z", NOON),
        ("2026-03-01T13:30:00+01:30", NOON),  # 13:30 at +01:30 is 12:00 UTC
        ("2026-03-01 07:00:00-0500", NOON),  # 07:00 at -05:00
        ("2026-03-01T12:00:00.123456789Z", NOON + pd.Timedelta(nanoseconds=123456789)),
        ("1772366400", NOON),  # epoch seconds
        ("1772366400000", NOON),  # epoch milliseconds
        ("1772366400000000000", NOON),  # epoch nanoseconds
    ],
)
def test_timestamp_forms(text, expected):
    out, rej = coerce(_events(ts=[text]), EVENTS)
    assert len(rej) == 0
    assert out["ts"].iloc[0] == expected


def test_timestamp_without_offset_names_column_and_file():
    with pytest.raises(SchemaError) as e:
        coerce(_events(ts=["2026-03-01 12:00:00"]), EVENTS, source="events.csv")
    msg = str(e.value)
    assert "events.csv" in msg and "'ts'" in msg and "no UTC offset" in msg and "assume_tz" in msg
    assert e.value.column == "ts"


def test_assume_tz_localises_naive_timestamps():
    # 13:00 in Berlin (CET, UTC+1 on 1 March) is 12:00 UTC
    out, rej = coerce(_events(ts=["2026-03-01 13:00:00"]), EVENTS, assume_tz="Europe/Berlin")
    assert out["ts"].iloc[0] == NOON and len(rej) == 0


def test_naive_datetime64_column_needs_assume_tz():
    f = _events(ts=pd.to_datetime(["2026-03-01 12:00:00"]))
    with pytest.raises(SchemaError, match="no UTC offset"):
        coerce(f, EVENTS)
    out, _ = coerce(f, EVENTS, assume_tz="UTC")
    assert out["ts"].iloc[0] == NOON


def test_unparseable_values_reject_their_row_with_reasons():
    f = _events(
        temperature=["0.7", "warm", None, "1e-1"],
        top_k=["5", "5.0", "5.5", ""],
        refused=["yes", "0", "maybe", None],
        retrieval_scores=["[0.9, 0.8]", "[]", "[0.1, \"x\"]", None],
    )
    out, rej = coerce(f, EVENTS)
    assert list(out["event_id"]) == ["e0", "e3"]
    assert list(rej["row"]) == [2, 3]
    assert "temperature: cannot parse 'warm' as a number" in rej["reason"].iloc[0]
    r3 = rej["reason"].iloc[1]
    assert "top_k: cannot parse '5.5'" in r3 and "refused: cannot parse 'maybe'" in r3 and "retrieval_scores" in r3
    assert json.loads(rej["raw"].iloc[0])["temperature"] == "warm"
    assert out["temperature"].tolist() == [0.7, 0.1]
    assert out["refused"].tolist() == [True, pd.NA] or out["refused"].isna().iloc[1]


def test_blank_values_are_missing_not_errors():
    out, rej = coerce(_events(temperature=["", "  "], seed=[None, ""]), EVENTS)
    assert len(rej) == 0 and out["temperature"].isna().all() and out["seed"].isna().all()


def test_true_false_is_not_a_number():
    out, rej = coerce(_events(temperature=pd.array([True], dtype="boolean")), EVENTS)
    assert len(out) == 0 and "temperature" in rej["reason"].iloc[0]


def test_large_integers_survive_exactly():
    big = 2**62 + 1  # not representable as float64
    out, rej = coerce(_events(seed=[str(big)]), EVENTS)
    assert int(out["seed"].iloc[0]) == big
    out, rej = coerce(_events(seed=[2**64]), EVENTS)
    assert len(rej) == 1


def test_missing_required_column_lists_columns_found():
    with pytest.raises(SchemaError) as e:
        coerce(pd.DataFrame({"event_id": ["a"], "timestamp": ["x"]}), EVENTS, source="f.jsonl")
    msg = str(e.value)
    assert "'ts'" in msg and "f.jsonl" in msg and "'timestamp'" in msg and "'event_id'" in msg


def test_required_values_and_duplicates():
    f = _events(event_id=["a", "", "a", None, "b"], ts=["2026-03-01T12:00:00Z"] * 4 + [None])
    out, rej = coerce(f, EVENTS, row_labels=[10, 11, 12, 13, 14])
    assert list(out["event_id"]) == ["a"]
    reasons = dict(zip(rej["row"], rej["reason"]))
    assert "event_id: required value is missing" in reasons[11]
    assert "duplicate of 'a' first seen at row 10" in reasons[12]
    assert "event_id: required value is missing" in reasons[13]
    assert "ts: required value is missing" in reasons[14]


def test_confidence_range_and_change_type_set():
    out, rej = coerce(_events(confidence=[0.5, 1.2, -0.1]), EVENTS)
    assert len(out) == 1 and len(rej) == 2 and "outside [0.0, 1.0]" in rej["reason"].iloc[0]
    ch = pd.DataFrame({"change_id": ["c1", "c2"], "ts": ["2026-03-01T00:00:00Z"] * 2, "change_type": ["model_update", "vibes"]})
    out, rej = coerce(ch, CHANGES)
    assert list(out["change_id"]) == ["c1"] and "'vibes' is not one of" in rej["reason"].iloc[0]


def test_derived_retrieval_columns_by_hand():
    # [0.9, 0.7, 0.8]: top1 0.9, mean 0.8; [0.5]: 0.5, 0.5; [] and missing stay missing;
    # an explicit top1 is kept.
    f = _events(retrieval_scores=["[0.9, 0.7, 0.8]", "[0.5]", "[]", None], retrieval_top1_score=[None, 0.99, None, None])
    out, _ = coerce(f, EVENTS)
    np.testing.assert_allclose(out["retrieval_top1_score"], [0.9, 0.99, np.nan, np.nan])
    np.testing.assert_allclose(out["retrieval_mean_score"], [0.8, 0.5, np.nan, np.nan])
    assert out["retrieval_scores"].dtype == LIST_FLOAT


def test_derive_accepts_python_lists():
    f = pd.DataFrame({"retrieval_scores": [[0.2, 0.4], None]})
    out = derive_retrieval_columns(f)
    np.testing.assert_allclose(out["retrieval_mean_score"], [0.3, np.nan])


def test_validate_messages():
    out, _ = coerce(_events(confidence=[0.5]), EVENTS)
    bad = out.assign(confidence=out["confidence"].astype("float32"))
    with pytest.raises(SchemaError, match="confidence.*dtype"):
        validate(bad, EVENTS, source="x")
    dup = pd.concat([out, out], ignore_index=True)
    with pytest.raises(SchemaError, match=r"duplicate keys \(row 1\)"):
        validate(dup, EVENTS)


def test_extra_columns_kept():
    out, _ = coerce(_events(app_tier=["gold"]), EVENTS)
    assert out["app_tier"].iloc[0] == "gold"
    assert list(out.columns[: len(EVENTS.names)]) == EVENTS.names


# Arrow-backed strings take the vectorised path, object columns the per-value path: both must
# agree value for value (the per-value path is the reference here, being plain Python).
_values = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "1", "2.5", "-3", "1e3", "x", "true", "False", "0", "[0.1, 0.2]", "[]", "nan"]),
    st.text(max_size=6),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_values, min_size=1, max_size=12))
def test_vectorised_and_per_value_paths_agree(vals):
    cols = {c: vals for c in ("temperature", "top_k", "refused", "retrieval_scores", "model_version")}
    fast = _events(**{c: pd.array(v, dtype="string[pyarrow]") for c, v in cols.items()})
    slow = _events(**{c: pd.Series(v, dtype=object) for c, v in cols.items()})
    a, ra = coerce(fast, EVENTS)
    b, rb = coerce(slow, EVENTS)
    assert len(a) + len(ra) == len(vals) == len(b) + len(rb)
    pd.testing.assert_frame_equal(a, b)
    assert list(ra["row"]) == list(rb["row"])
