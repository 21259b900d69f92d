"""The four questions as steps over the engine's small tables.

:func:`investigate` (in :mod:`.pipeline`) reads as its steps: :mod:`.context` (parameters and
profile), :mod:`.aggregate` (windows x segments, from :mod:`.segments`), :mod:`.onset_scan` (the
onset, from :mod:`.onset`), :mod:`.what_changed` (Q2: :mod:`.changes` inferred from the logs, :mod:`.decomposition`, the :mod:`.evidence` for each change and the :mod:`.ranking`),
:mod:`.output_gap` (Q1), :mod:`.sample_scan` (Q3, with :mod:`.mix_shift` and :mod:`.scope`),
:mod:`.detection_gap` (Q4, from :mod:`.backtest`), then :mod:`.result` assembles the
:class:`Investigation` with the :mod:`.timeline` and the :mod:`.runbook`. This package may import
``params``, ``schema``, ``engine``, ``stats`` and ``text``; never ``report``, ``prevention`` or ``cli``.
"""

from typing import Any

from analysis.investigation.context import AUTO_METRICS, PATTERN_DEFAULTS
from analysis.params import PATTERNS

__all__ = ["investigate", "Investigation", "PATTERN_DEFAULTS", "AUTO_METRICS", "PATTERNS"]


def __getattr__(name: str) -> Any:
    if name not in ("investigate", "Investigation"):
        raise AttributeError(f"module 'analysis.investigation' has no attribute {name!r}")
    # the steps on first use, so that importing one building block (a monitor chart, the series)
    # does not load every step of the investigation
    from analysis.investigation import pipeline, result

    return pipeline.investigate if name == "investigate" else result.Investigation
