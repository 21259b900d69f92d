"""The held-out seed sweep: the three case studies on the seeds the accuracy benchmark never runs
(``benchmarks/_accuracy_log.HELD_OUT_SEEDS``), at low volume, with the hard options on (decoys
the requests log, the cause hours before the metric moves): the true cause ranks first and the
no-incident twin is not an incident.

The seeds were fixed before the sweep first ran and are not to be swapped for others that pass:
a failing seed is a finding, kept here as ``xfail(strict=True)`` with its reason.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

from analysis import investigate
from analysis.scenarios import PATTERNS, generate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _accuracy_log import HELD_OUT_SEEDS

#: low volume (the benchmark draws scale 0.6-1.5) and short histories, so the sweep fits in CI
LOW = {"retrieval": {"scale": 0.5, "days": 49}, "refusal": {"scale": 0.5, "days": 12}, "escalation": {"scale": 0.5, "days": 8}}
HARD = {"logged_decoys": True, "cause_lead": True}
#: (pattern, seed, run) -> why it fails: findings, not to be fixed by choosing other seeds
KNOWN_FAILURES: dict[tuple[str, int, str], str] = {}


def _cases() -> list:
    out = []
    for pattern in PATTERNS:
        for seed in HELD_OUT_SEEDS:
            for run in ("incident", "twin"):
                why = KNOWN_FAILURES.get((pattern, seed, run))
                marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
                out.append(pytest.param(pattern, seed, run, marks=marks, id=f"{pattern}-{seed}-{run}"))
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("pattern", "seed", "run"), _cases())
def test_held_out_seed(pattern: str, seed: int, run: str) -> None:
    sc = generate(pattern, seed=seed, incident=run == "incident", **LOW[pattern], **HARD)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm = investigate(sc.events, sc.changes, pattern=pattern, reported_at=sc.truth.reported_at, progress=False,
                         seed=seed, evaluations=sc.evaluations)
    if run == "twin":
        assert pm.q3.verdict == "no_incident", pm.q3.verdict
        return
    cands = pm.q2.candidates
    assert len(cands) and cands["change_id"].iat[0] == sc.truth.cause_change_id, cands[["change_id", "score"]].head(3)
    assert pm.q3.verdict == "systematic"
