"""What the text says: outcomes and segments read from the requests' input and output text.

This package owns everything read from the prompts and responses themselves: derived outcome
labels (:mod:`.outcomes`: ``refused`` and ``escalated`` from the response text when a log lacks
them, and how well a rule agrees with the rows that carry a label), risk tiers from the user's
taxonomy file (:mod:`.taxonomy`), and later topics, failure signatures and grounding checks. It
sits above the statistics and below the investigation: it may import :mod:`analysis.schema`,
:mod:`analysis.engine`, :mod:`analysis.stats` and :mod:`analysis._common`, never the
investigation, reports or prevention.
"""

from __future__ import annotations

from analysis.text.outcomes import (DEFAULT_RULES, ESCALATION_RULE, REFUSAL_RULE, DerivedOutcomes, Rule, RuleEvaluation,
                                     derive_outcomes, evaluate_rule)

__all__ = ["Rule", "REFUSAL_RULE", "ESCALATION_RULE", "DEFAULT_RULES", "DerivedOutcomes", "RuleEvaluation", "derive_outcomes",
           "evaluate_rule"]
