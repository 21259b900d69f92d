"""The four questions as steps: onset and what changed (:mod:`.attribution`), isolated or systematic
(:mod:`.scope`), the detection gap (:mod:`.backtest`), the timeline (:mod:`.timeline`), and
:func:`investigate`, which chains them over the engine's small tables."""

from analysis.investigation.pipeline import AUTO_METRICS, PATTERN_DEFAULTS, PATTERNS, investigate

__all__ = ["investigate", "PATTERN_DEFAULTS", "AUTO_METRICS", "PATTERNS"]
