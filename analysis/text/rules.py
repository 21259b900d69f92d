"""The user's derivation rules: a YAML file whose rules replace the built-in ones, column by column.

::

    rules:
      - column: refused                 # a label rule (analysis.text.outcomes.Rule)
        name: refusal-fr
        description: refused = the answer declines in French or English
        patterns: ["\\bje ne peux pas (?:vous )?(?:aider|répondre)\\b", "\\bI can(?:not|'t) help\\b"]
        vetoes: ["\\bsi vous (?:voulez|le souhaitez)\\b"]
        finish_reasons: [content_filter]
      - column: ungrounded_citation     # a grounding rule (analysis.text.grounding.GroundingRule)
        kind: grounding
        patterns: ["\\bKB-\\d{4}\\b"]
        id_patterns: []

A column the file does not name keeps its built-in rule (:data:`analysis.text.outcomes.DERIVATION_RULES`).
A label rule with ``extends: built-in`` adds its patterns, vetoes and finish reasons to the built-in
rule of its column instead of replacing it (an application's own way of refusing, on top of the
common ones)::

    rules:
      - column: refused
        extends: built-in
        name: triage-emergency-redirects
        patterns: ["^(?:please\\s+)?call\\s+(?:911|an ambulance)"]

Patterns are regular expressions in the subset Python, RE2 (DuckDB) and Java (Spark) read alike: no
look-behind, no look-ahead, no atomic group and no back-reference (:func:`portable_strings` checks them).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from analysis.text.grounding import GroundingRule
from analysis.text.outcomes import DERIVATION_RULES, Rule

__all__ = ["load_rules", "rules_with", "string_list", "read_yaml", "portable_strings"]

_LABEL_KEYS = {"column", "name", "description", "patterns", "vetoes", "finish_reasons", "text_column", "kind", "extends"}
_GROUNDING_KEYS = {"column", "name", "description", "patterns", "id_patterns", "text_column", "documents_column", "ids_column", "kind"}
#: Constructs RE2 or Java would read differently from Python, or not at all: look-behind, look-ahead, atomic
#: groups, back-references and Python's named groups.
_NOT_PORTABLE = re.compile(r"\(\?<[=!]|\(\?[=!>]|\\[1-9]|\(\?P=|\(\?P<")


def string_list(value: Any, where: str) -> tuple[str, ...]:
    """``value`` as a tuple of strings (``None`` is empty); errors start with ``where``."""
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: expected a list of strings, got {value!r}")
    return tuple(value)


def read_yaml(path: str | Path, what: str) -> tuple[Path, str, Any]:
    """The path, text and parsed document of a YAML file the user wrote; errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{p}: {what} file not found")
    text = p.read_text(encoding="utf-8")
    try:
        return p, text, yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{p}: not valid YAML: {exc}") from None


def portable_strings(value: Any, where: str) -> tuple[str, ...]:
    """``value`` as a tuple of strings (``None`` is empty), each in the subset of regular expressions Python,
    RE2 (DuckDB) and Java (Spark) read alike; errors start with ``where`` (the file, the entry and the key)."""
    value = string_list(value, where)
    for v in value:
        if _NOT_PORTABLE.search(v):
            raise ValueError(f"{where}: {v!r} uses a look-behind, a look-ahead, an atomic group or a back-reference, which "
                             "DuckDB (RE2) and Spark do not read the way Python does; rewrite it without")
    return tuple(value)


def _rule(entry: Any, where: str) -> Rule | GroundingRule:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping with `column` and `patterns`, got {entry!r}")
    kind = entry.get("kind", "label")
    if kind not in ("label", "grounding"):
        raise ValueError(f"{where}: `kind` must be 'label' or 'grounding', got {kind!r}")
    allowed = _LABEL_KEYS if kind == "label" else _GROUNDING_KEYS
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; a {kind} rule takes {sorted(allowed)}")
    column = entry.get("column")
    if not isinstance(column, str) or not column.strip():
        raise ValueError(f"{where}: `column` must name the column the rule fills, got {column!r}")
    extends = entry.get("extends")
    if extends is not None and extends != "built-in":
        raise ValueError(f"{where}.extends: the only value is 'built-in' (add to the built-in rule), got {extends!r}")
    if extends is not None and not any(isinstance(r, Rule) and r.column == column for r in DERIVATION_RULES):
        raise ValueError(f"{where}.extends: there is no built-in label rule for column {column!r} to extend")
    name = str(entry.get("name") or f"{column}-rule")
    description = str(entry.get("description") or f"{column} from the user's rule {name!r}")
    texts = {k: str(entry[k]) for k in ("text_column", "documents_column", "ids_column") if k in entry}
    try:
        if kind == "grounding":
            return GroundingRule(column=column, name=name, description=description,
                                 patterns=portable_strings(entry.get("patterns"), f"{where}.patterns"),
                                 id_patterns=portable_strings(entry.get("id_patterns"), f"{where}.id_patterns"), **texts)
        rule = Rule(column=column, name=name, description=description,
                    patterns=portable_strings(entry.get("patterns"), f"{where}.patterns"),
                    vetoes=portable_strings(entry.get("vetoes"), f"{where}.vetoes"),
                    finish_reasons=portable_strings(entry.get("finish_reasons"), f"{where}.finish_reasons"), **texts)
        return _extended(rule) if extends else rule
    except ValueError as exc:
        if str(exc).startswith(where):
            raise
        raise ValueError(f"{where}: {exc}") from None


def _extended(own: Rule) -> Rule:
    """The built-in rule of ``own``'s column with ``own``'s patterns, vetoes and finish reasons added."""
    base = next(r for r in DERIVATION_RULES if isinstance(r, Rule) and r.column == own.column)
    return Rule(column=own.column, name=f"{base.name}+{own.name}", description=f"{base.description}; and (the user's {own.name!r}) "
                f"{own.description}", patterns=base.patterns + own.patterns, vetoes=base.vetoes + own.vetoes,
                finish_reasons=tuple(dict.fromkeys(base.finish_reasons + own.finish_reasons)), text_column=own.text_column)


def load_rules(path: str | Path) -> tuple[Rule | GroundingRule, ...]:
    """The rules of a YAML file (see the module docstring); errors name the file, the rule and the key."""
    p, _, doc = read_yaml(path, "rules")
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list) or not doc["rules"]:
        raise ValueError(f"{p}: expected a mapping with a non-empty list `rules:`, got {type(doc).__name__}")
    rules = tuple(_rule(e, f"{p}: rules[{i}]") for i, e in enumerate(doc["rules"]))
    cols = [r.column for r in rules]
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise ValueError(f"{p}: more than one rule for column(s) {dup}")
    return rules


def rules_with(path: str | Path | None) -> tuple[Rule | GroundingRule, ...]:
    """The built-in derivation rules with the file's rules in place of those for the same columns."""
    if path is None or str(path) == "":
        return DERIVATION_RULES
    own = load_rules(path)
    by_column = {r.column: r for r in own}
    return tuple(by_column.pop(r.column, r) for r in DERIVATION_RULES) + tuple(by_column.values())
