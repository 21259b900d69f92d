"""What the text says: outcomes and segments read from the requests' input and output text.

This package owns everything read from the prompts and responses themselves: derived outcome
labels (:mod:`.outcomes`: ``refused`` and ``escalated`` from the response text when a log lacks
them, and how well a rule agrees with the rows that carry a label), grounding checks
(:mod:`.grounding`), topics of the requests (:mod:`.topics`), risk tiers from the user's taxonomy
file (:mod:`.taxonomy`), failure signatures (:mod:`.signatures`: the phrases that mark failing
requests against a baseline, and a regular expression the engines read alike), and the segments
read from the text before an investigation (:mod:`.segments`). It sits above the statistics and
below the investigation: it may import :mod:`analysis.schema`, :mod:`analysis.engine`,
:mod:`analysis.stats` and :mod:`analysis._common`, never the investigation, reports or prevention.
"""

from __future__ import annotations

from analysis.text.outcomes import (DEFAULT_RULES, ESCALATION_RULE, REFUSAL_RULE, DerivedOutcomes, Rule, RuleEvaluation,
                                     derive_outcomes, evaluate_rule)
from analysis.text.signatures import (Signature, find_signatures, length_shift, log_odds_dirichlet, score_phrases,
                                       signature_pattern)

__all__ = ["Rule", "REFUSAL_RULE", "ESCALATION_RULE", "DEFAULT_RULES", "DerivedOutcomes", "RuleEvaluation", "derive_outcomes",
           "evaluate_rule", "Signature", "find_signatures", "score_phrases", "signature_pattern", "length_shift",
           "log_odds_dirichlet"]
