"""Which way each outcome metric goes bad: the one table the onset scan, the monitors and the rollout
gate read, in the kit's one spelling of sidedness, ``alternative`` (scipy's): ``"greater"`` (a rise is
bad), ``"less"`` (a drop is bad) or ``"two-sided"`` (either way is an incident).

``refused`` goes bad both ways: a model that stops refusing what it must refuse (the medical triage
case) and a guardrail that starts refusing what it should answer are both incidents.
"""

from __future__ import annotations

import warnings

__all__ = ["ALTERNATIVES", "BAD_ALTERNATIVE", "LEGACY_SIDEDNESS", "alternative_of"]

#: The values of ``alternative``.
ALTERNATIVES = ("two-sided", "greater", "less")

#: Metric -> the way it goes bad.
BAD_ALTERNATIVE: dict[str, str] = {
    "refused": "two-sided",
    "escalated": "greater",
    "hallucinated": "greater",
    "ungrounded_citation": "greater",
    "correct": "less",
    "retrieval_top1_score": "less",
    "retrieval_mean_score": "less",
    "quality_score": "less",
    "confidence": "less",
    "latency_ms": "greater",
    "errored": "greater",
    "flagged": "greater",
}

#: The spellings of sidedness before the kit settled on ``alternative`` (``direction: up`` in a
#: ``monitors.yaml`` of schema 1, ``--direction down``, the threshold bars' ``below``/``above``).
LEGACY_SIDEDNESS: dict[str, str] = {"up": "greater", "down": "less", "both": "two-sided", "above": "greater", "below": "less"}


def alternative_of(value: str, *, source: str) -> str:
    """``value`` as an ``alternative``; an old spelling (``up``, ``down``, ``both``) is read with a
    :class:`FutureWarning` (shown to users by default) naming ``source`` (the file or option it came from)."""
    if value in ALTERNATIVES:
        return value
    if value in LEGACY_SIDEDNESS:
        new = LEGACY_SIDEDNESS[value]
        warnings.warn(f"{source}: {value!r} is the old spelling of sidedness; write alternative: {new!r}",
                      FutureWarning, stacklevel=2)
        return new
    raise ValueError(f"{source}: `alternative` must be one of {', '.join(ALTERNATIVES)}, got {value!r}")
