"""Numbers for people (analysis/numbers.py): each formatter against values worked out by hand.

The expected strings are written from the rule in each function's docstring, not from its output:
0.0003333 is 0.03333%, two decimals below 1% -> "0.03%"; 116.8 h is 4 days (96 h) and 20.8 h, the
last unit rounded -> "4 d 21 h"; and so on in the comments.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis import numbers as n


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (0.0003333, "0.03%"),  # 0.03333% -> 2 decimals below 1%
        (0.1967, "19.7%"),  # 19.67% -> 1 decimal from 1%
        (0.00434, "0.43%"),
        (0.9885, "98.9%"),
        (1, "100%"),  # 100.0 -> trailing zero dropped
        (0.05, "5%"),
        (0, "0%"),
        (0.0000123, "0.001%"),  # 0.00123%: one significant digit below 0.01%
        (1e-9, "< 0.0001%"),
        (np.float64(0.914), "91.4%"),
    ],
)
def test_rate(x, expected):
    assert n.rate(x) == expected


@pytest.mark.parametrize(
    ("x", "expected"),
    [(-0.0003333, "-0.03 pts"), (0.186, "+18.6 pts"), (-0.1852, "-18.5 pts"), (0, "0 pts"), (1e-9, "0 pts")],
)
def test_points_are_signed_percentage_points(x, expected):
    assert n.points(x) == expected


@pytest.mark.parametrize(
    ("p", "expected"),
    [(1.968e-09, "< 0.001"), (3.824e-06, "< 0.001"), (0.000999, "< 0.001"), (0.001, "0.001"), (0.26, "0.26"),
     (0.01234, "0.012"), (0.05, "0.05"), (1.0, "1"), (0.8475, "0.85")],
)
def test_pvalue(p, expected):
    assert n.pvalue(p) == expected


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        (116.8, "4 d 21 h"),  # 96 h + 20.8 h
        (141.59533, "5 d 22 h"),  # 120 h + 21.6 h
        (63.6, "2 d 16 h"),  # 48 h + 15.6 h
        (48, "2 d"),  # no "0 h"
        (35 / 60, "35 min"),
        (1.5, "1 h 30 min"),
        (5, "5 h"),
        (0.004, "< 1 min"),  # 0.24 min
        (0, "0 min"),
        (-78, "-3 d 6 h"),  # an alarm 78 h before the onset
    ],
)
def test_duration(hours, expected):
    assert n.duration(hours) == expected


@pytest.mark.parametrize(
    ("x", "expected"),
    [(29854, "29,854"), (29854.0, "29,854"), (1_234_567, "1,234,567"), (58, "58"), (52.52, "52.5")],
)
def test_count(x, expected):
    assert n.count(x) == expected


@pytest.mark.parametrize(
    ("x", "expected"),
    [(1378.223, "1,378"), (0.5237, "0.524"), (0.012289, "0.0123"), (448.1, "448"), (12.5, "12.5"),
     (0.1, "0.1"), (-0.0003333, "-0.000333"), (3.824e-06, "3.8\u00d710\u207b\u2076"), (0, "0")],
)
def test_number_has_no_exponent(x, expected):
    assert n.number(x) == expected


def test_signed_effect_value_difference_interval_with_units():
    assert n.signed(448.1) == "+448" and n.signed(-0.0123) == "-0.0123" and n.signed(0) == "0"
    assert n.effect(-0.7044, "rate") == "h = -0.70"  # Cohen's h
    assert n.effect(0.5237, "mean") == "d = 0.52"  # Cohen's d
    assert n.effect(0.013231) == "0.01"
    assert n.metric_unit("latency_ms") == "ms" and n.metric_unit("refused") == ""
    assert n.value(0.989, "rate", "refused") == "98.9%"
    assert n.value(1378.223, "mean", "latency_ms") == "1,378 ms"
    assert n.difference(448.1, "mean", "latency_ms") == "+448 ms"
    assert n.difference(-0.1852, "rate") == "-18.5 pts"
    assert n.interval(-0.2342, -0.1427, "rate") == "-23.4 to -14.3 pts"
    assert n.interval(295.756, 600.522, "mean", "latency_ms") == "+296 to +601 ms"


@pytest.mark.parametrize("missing", [None, float("nan"), np.nan, pd.NA, pd.NaT, math.inf])
def test_missing_is_na_never_a_dash_or_nan(missing):
    outs = [n.rate(missing), n.points(missing), n.pvalue(missing), n.duration(missing), n.count(missing),
            n.number(missing), n.effect(missing, "rate"), n.value(missing, "mean", "latency_ms"),
            n.difference(missing, "rate"), n.interval(missing, 1)]
    assert set(outs) == {"n/a"}
    assert n.duration(None, missing="not mitigated yet") == "not mitigated yet"


def test_timestamp():
    assert n.timestamp("2026-01-26T06:00:00Z") == "2026-01-26 06:00 UTC"
    assert n.timestamp("2026-01-18T21:15:06.811000+00:00") == "2026-01-18 21:15:06 UTC"
    assert n.timestamp(pd.NaT) == "n/a"


def test_evidence_items_split_at_top_level_semicolons_only():
    text = ("116.8 h before the onset; refused with model_version=v2 vs the rest (a, framing in [x; y]): "
            "0.0154 vs 0.989; share grew from 3.1% to 71.2%")
    assert n.evidence_items(text) == [
        "116.8 h before the onset",
        "refused with model_version=v2 vs the rest (a, framing in [x; y]): 0.0154 vs 0.989",
        "share grew from 3.1% to 71.2%",
    ]
    assert n.evidence_items(None) == [] and n.evidence_items("") == [] and n.evidence_items("one") == ["one"]
