"""The user's derivation rules (YAML): what a file may say, and the errors that name the file, the rule and the key."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis.text.grounding import GROUNDING_RULE, GroundingRule
from analysis.text.outcomes import DERIVATION_RULES, ESCALATION_RULE, Rule
from analysis.text.rules import load_rules, rules_with


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "rules.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_a_file_replaces_the_rules_of_the_columns_it_names(tmp_path):
    p = _write(tmp_path, """
rules:
  - column: refused
    name: refusal-fr
    patterns: ["\\\\bje ne peux pas\\\\b"]
    vetoes: ["\\\\bsi vous voulez\\\\b"]
    finish_reasons: [content_filter]
  - column: ungrounded_citation
    kind: grounding
    patterns: ["\\\\bKB-\\\\d{4}\\\\b"]
  - column: flagged
    patterns: ["\\\\bAS AN AI\\\\b"]
""")
    rules = rules_with(p)
    by = {r.column: r for r in rules}
    assert [r.column for r in rules] == [r.column for r in DERIVATION_RULES] + ["flagged"]
    assert isinstance(by["refused"], Rule) and by["refused"].name == "refusal-fr" and by["refused"].finish_reasons == ("content_filter",)
    assert by["escalated"] is ESCALATION_RULE  # not named: the built-in rule
    assert isinstance(by["ungrounded_citation"], GroundingRule) and by["ungrounded_citation"] != GROUNDING_RULE
    frame = pd.DataFrame({"output_text": ["Je ne peux pas.", "Je ne peux pas, si vous voulez je...", "ok"]})
    assert by["refused"].predict(frame).tolist() == [True, False, False]
    assert rules_with(None) == DERIVATION_RULES and rules_with("") == DERIVATION_RULES


@pytest.mark.parametrize(("text", "message"), [
    ("rules: []\n", "non-empty list `rules:`"),
    ("- column: refused\n", "non-empty list `rules:`"),
    ("rules: [: bad\n", "not valid YAML"),
    ("rules:\n  - patterns: ['x']\n", r"rules\[0\]: `column` must name"),
    ("rules:\n  - column: refused\n    patterns: 'x'\n", r"rules\[0\].patterns: expected a list of strings"),
    ("rules:\n  - column: refused\n    pattern: ['x']\n", r"rules\[0\]: unknown key\(s\) \['pattern'\]"),
    ("rules:\n  - column: refused\n    patterns: ['(?<=I )cannot']\n", "look-behind, a look-ahead, an atomic group or a back-reference"),
    ("rules:\n  - column: refused\n    patterns: ['cannot(?= help)']\n", r"rules\[0\].patterns: .*look-ahead"),
    ("rules:\n  - column: refused\n    patterns: ['(unclosed']\n", r"rules\[0\]: .*invalid regular expression"),
    ("rules:\n  - column: refused\n    kind: magic\n", r"`kind` must be 'label' or 'grounding'"),
    ("rules:\n  - column: refused\n    patterns: ['a']\n  - column: refused\n    patterns: ['b']\n", "more than one rule"),
    ("rules:\n  - column: refused\n", r"rules\[0\]: .*`patterns` or `finish_reasons` must be given"),
])
def test_errors_name_the_file_the_rule_and_the_key(tmp_path, text, message):
    p = _write(tmp_path, text)
    with pytest.raises(ValueError, match=message) as info:
        load_rules(p)
    assert str(p) in str(info.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="rules file not found"):
        load_rules(tmp_path / "nope.yaml")


def test_a_rule_that_extends_the_built_in_one_adds_to_it(tmp_path):
    from analysis.text.outcomes import REFUSAL_RULE

    p = _write(tmp_path, """
rules:
  - column: refused
    extends: built-in
    name: triage-redirects
    description: an answer opening with an emergency redirect
    patterns: ["^(?:please\\\\s+)?call\\\\s+(?:911|an ambulance)"]
    vetoes: ["\\\\bif it gets worse\\\\b"]
""")
    (rule,) = load_rules(p)
    assert rule.patterns == REFUSAL_RULE.patterns + ("^(?:please\\s+)?call\\s+(?:911|an ambulance)",)
    assert rule.vetoes[-1] == "\\bif it gets worse\\b" and rule.name == "refusal-phrases+triage-redirects"
    # the built-in reading is kept, the team's is added (hand-decided texts)
    assert rule.matches_text("I can't help with that.") and REFUSAL_RULE.matches_text("I can't help with that.")
    assert rule.matches_text("Call an ambulance now, and don't wait.") and not REFUSAL_RULE.matches_text("Call an ambulance now, and don't wait.")
    assert not rule.matches_text("Rest. Call 911 if it gets worse.")
    merged = {r.column: r for r in rules_with(p)}
    assert merged["refused"] == rule and merged["escalated"] == ESCALATION_RULE


@pytest.mark.parametrize("extends, column, message", [
    ("yes", "refused", "the only value is 'built-in'"),
    ("built-in", "my_label", "no built-in label rule for column 'my_label'"),
])
def test_extends_errors_name_the_rule(tmp_path, extends, column, message):
    p = _write(tmp_path, f"""
rules:
  - column: {column}
    extends: {extends}
    patterns: ["x"]
""")
    with pytest.raises(ValueError, match=message) as e:
        load_rules(p)
    assert str(p) in str(e.value) and "rules[0].extends" in str(e.value)
