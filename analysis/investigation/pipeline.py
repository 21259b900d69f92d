"""``investigate()``: the four questions as a short list of named steps over one context.

context -> aggregate -> onset -> what changed (Q2) -> output (Q1) -> scope (Q3) -> detection gap
(Q4) -> the assembled :class:`~analysis.investigation.result.Investigation`. Each step is a
function of its own module and returns a typed result; only the engine reads the events.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd
from tqdm.auto import tqdm

from analysis.engine import Engine
from analysis.investigation.aggregate import aggregate
from analysis.investigation.context import FromText, open_context
from analysis.investigation.detection_gap import detection_gap
from analysis.investigation.onset_scan import find_onset
from analysis.investigation.operations import SetApart, set_apart
from analysis.investigation.output_gap import output_gap
from analysis.investigation.result import Investigation, assemble
from analysis.investigation.sample_scan import sample_scan
from analysis.investigation.what_changed import what_changed
from analysis.params import InvestigationParams

__all__ = ["investigate", "STEPS"]

#: The steps, in order (the progress bar names them).
STEPS = ("context", "aggregate", "onset", "what changed", "output", "scope", "detection gap", "report")


def investigate(eng: Engine, changes: pd.DataFrame | None, params: InvestigationParams, *, text: FromText | None = None,
                evaluations: pd.DataFrame | None = None, inputs: Mapping[str, Any] | None = None,
                apart: SetApart | None = None) -> Investigation:
    """Investigate the events of an open engine against a change log.

    Parameters
    ----------
    eng
        The events, on an open :class:`analysis.engine.Engine` (the caller closes it).
    changes
        The canonical ``changes`` table (may be ``None`` or empty).
    params
        The checked parameters (:meth:`analysis.params.InvestigationParams.build`).
    text
        What was read from the text: the derived labels, their rules and measured quality, and the
        segments (:class:`analysis.investigation.context.FromText`).
    evaluations
        An offline evaluation history, replayed as the ``weekly_evaluation`` monitor.
    inputs
        report.json's ``inputs`` (paths, hashes, row counts).
    apart
        The events of other operations already kept apart (:func:`analysis.investigation.operations.set_apart`);
        when None they are kept apart here.
    """
    bar = tqdm(total=len(STEPS), desc="investigate", leave=False, disable=not params.progress)

    def done(name: str) -> None:
        bar.set_postfix_str(name)
        bar.update(1)

    apart = set_apart(eng, changes, params.reported_at) if apart is None else apart
    ctx = open_context(eng, changes, params, text=text, evaluations=evaluations, inputs=inputs, apart=apart)
    done("context")
    aggs = aggregate(ctx)
    done("aggregate")
    found = find_onset(ctx, aggs)
    done("onset")
    changed = what_changed(ctx, aggs, found)
    done("what changed")
    q1 = output_gap(ctx, aggs, found, changed)
    done("output")
    scoped = sample_scan(ctx, aggs, found, changed)
    done("scope")
    incident = scoped.q3.verdict != "no_incident" and found.onset.ts is not None
    q4 = detection_gap(ctx, aggs, found, changed, incident, mix_shift=scoped.q3.mix_shift)
    done("detection gap")
    result = assemble(ctx, aggs, found, changed, scoped, q1, q4)
    done("report")
    bar.close()
    return result
