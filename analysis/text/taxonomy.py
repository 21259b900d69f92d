"""Risk tiers read from the request text by the user's taxonomy file, for logs without a tier column.

The kit sets its per-tier thresholds from ``risk_category``; real logs rarely carry one. A taxonomy
names the tiers and the words that put a request in each, and fills the column from the text::

    column: risk_category        # the column it fills (default risk_category)
    text_column: input_text      # the request text it reads (default input_text)
    topic_column: topic          # where `topics` look (default topic; only when the events have it)
    default: low                 # the tier of a request no tier matches (required)
    tiers:                       # in order: the first tier that matches wins (put the most severe first)
      high:
        phrases: ["chest pain", "overdose", "can't breathe"]     # whole words, case-insensitive, any white space
        patterns: ["\\\\bstroke\\\\b", "\\\\bslurred speech\\\\b"]   # regular expressions (portable subset)
        topics: ["chest"]                                          # optional: a request whose topic holds one of these words
      medium:
        phrases: ["dose", "sprained"]

A request is put in the first tier (top to bottom) one of whose phrases or patterns occurs in its
text, or (when the events have the topic column) one of whose topics occurs in its topic as a whole
word; a request that no tier matches gets ``default`` (which may itself be a tier); a request
without text (missing, empty or only blanks) gets no tier (``NULL``).

Phrases are literal: each is matched case-insensitively as whole words, with any run of white space
(line breaks included) between its words; regular-expression characters in a phrase are plain
characters (``"c++"``, ``"$5"``); an apostrophe matches a straight or a curly one (``can't``,
``can’t``). A phrase's first and last character must sit at a word boundary when they are letters,
digits or ``_`` (``"dose"`` does not match ``"doses"``: list both, or write a pattern). Patterns are
regular expressions, case-insensitive, in the subset Python, RE2 (DuckDB) and Java (Spark) read alike
(no look-around, no back-reference; see :func:`analysis.text.rules.portable_strings`).

:meth:`Taxonomy.sql` is one SQL expression the engine evaluates where the rows lie (DuckDB's dialect,
transpiled to Spark); :meth:`Taxonomy.assign` decides the same in Python. Known differences between the
engines, as for the outcome rules: a non-ASCII letter next to a phrase's edge ("naïve" for the phrase
"ve") is a word boundary for RE2 but not for Python and Java; white space other than ASCII (a
non-breaking space between two words) matches ``\\s`` in Python only; Spark folds the case of ASCII
letters only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import yaml

from analysis.engine.query import quote_ident, quote_literal
from analysis.text.rules import portable_strings, read_yaml, string_list

__all__ = ["Tier", "Taxonomy", "load_taxonomy", "phrase_pattern"]

_TOP_KEYS = ("column", "text_column", "topic_column", "default", "tiers")
_TIER_KEYS = ("phrases", "patterns", "topics")
#: A text holding none of these characters is blank (spelled out: ``\\s`` differs between the engines).
_NOT_BLANK = r"[^ \t\n\r\f]"
_NOT_BLANK_RE = re.compile(_NOT_BLANK)
_ASCII_WORD = re.compile(r"[A-Za-z0-9_]")
_APOSTROPHE = "['\u2019]"


def phrase_pattern(phrase: str) -> str:
    """A literal phrase as a regular expression: its words escaped, ``\\s+`` between them, an apostrophe
    straight or curly, and a word boundary at each end that is an ASCII letter, digit or ``_``."""
    words = phrase.split()
    if not words:
        raise ValueError(f"a phrase must hold a word, got {phrase!r}")
    body = r"\s+".join(re.sub(r"['\u2019]", _APOSTROPHE, re.escape(w)) for w in words)
    start = r"\b" if _ASCII_WORD.match(words[0][0]) else ""
    end = r"\b" if _ASCII_WORD.match(words[-1][-1]) else ""
    return f"{start}{body}{end}"


def _joined(patterns: Sequence[str]) -> str | None:
    return "|".join(f"(?:{p})" for p in patterns) if patterns else None


def _sql_regex(pattern: str) -> str:
    """A Python pattern as a case-insensitive SQL regex literal (``\\uXXXX`` as ``\\x{XXXX}``, read by RE2 and Java)."""
    return quote_literal("(?i)" + re.sub(r"\\u([0-9a-fA-F]{4})", r"\\x{\1}", pattern))


@dataclass(frozen=True)
class Tier:
    """One tier of a :class:`Taxonomy`: the phrases, patterns and topic words that put a request in it."""

    name: str
    phrases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    _text: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)
    _topic: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"a tier's name must be a non-empty string, got {self.name!r}")
        for key in _TIER_KEYS:
            object.__setattr__(self, key, tuple(getattr(self, key)))
        if not (self.phrases or self.patterns or self.topics):
            raise ValueError(f"tier {self.name!r} has no phrase, pattern or topic: nothing would put a request in it")
        for key in _TIER_KEYS:
            for i, p in enumerate(getattr(self, key)):
                if key == "patterns":
                    try:
                        re.compile(p)
                    except re.error as exc:
                        raise ValueError(f"{key}[{i}]: {p!r} is not a valid regular expression: {exc}") from None
                else:
                    try:
                        phrase_pattern(p)
                    except ValueError as exc:
                        raise ValueError(f"{key}[{i}]: {exc}") from None
        text, topic = self.text_regex, self.topic_regex
        try:
            object.__setattr__(self, "_text", re.compile(text, re.IGNORECASE) if text else None)
        except re.error as exc:  # e.g. a global flag such as (?i) inside one of the patterns
            raise ValueError(f"patterns: {exc} (patterns are case-insensitive already: drop any (?i) flag)") from None
        object.__setattr__(self, "_topic", re.compile(topic, re.IGNORECASE) if topic else None)

    @property
    def text_regex(self) -> str | None:
        """The phrases and patterns as one regular expression (``None`` when the tier has neither)."""
        return _joined([phrase_pattern(p) for p in self.phrases] + list(self.patterns))

    @property
    def topic_regex(self) -> str | None:
        """The topic words as one regular expression (``None`` when the tier has none)."""
        return _joined([phrase_pattern(p) for p in self.topics])

    def matches(self, text: str, topic: str | None = None) -> bool:
        """Whether the text (or, when given, the topic) puts a request in this tier."""
        if self._text is not None and self._text.search(text):
            return True
        return topic is not None and self._topic is not None and self._topic.search(topic) is not None


def _text_or_none(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    return str(value)


@dataclass(frozen=True)
class Taxonomy:
    """Tiers assigned from the request text (see the module docstring); ``source`` is the file it came from."""

    column: str
    text_column: str
    default: str
    tiers: tuple[Tier, ...]
    source: str
    topic_column: str = "topic"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiers", tuple(self.tiers))
        for key in ("column", "text_column", "default", "topic_column"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"`{key}` must be a non-empty string, got {value!r}")
        if not self.tiers or not all(isinstance(t, Tier) for t in self.tiers):
            raise ValueError(f"`tiers` must be a non-empty sequence of Tier objects, got {self.tiers!r}")
        names = [t.name for t in self.tiers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"tier(s) {twice} named twice")
        if self.column in (self.text_column, self.topic_column):
            raise ValueError(f"`column` {self.column!r} would overwrite the text the tiers are read from")

    def sql(self, *, has_topic: bool = False) -> str:
        """The taxonomy as one SQL expression over the events (DuckDB's dialect; the Spark engine transpiles
        it): the first matching tier's name, ``default`` when none matches, ``NULL`` without text. Topic
        words count only when ``has_topic`` (the events have :attr:`topic_column`)."""
        text = f"CAST({quote_ident(self.text_column)} AS VARCHAR)"
        topic = f"CAST({quote_ident(self.topic_column)} AS VARCHAR)"
        whens = []
        for tier in self.tiers:
            conds = []
            if tier.text_regex:
                conds.append(f"regexp_matches({text}, {_sql_regex(tier.text_regex)})")
            if has_topic and tier.topic_regex:
                conds.append(f"COALESCE(regexp_matches({topic}, {_sql_regex(tier.topic_regex)}), FALSE)")
            if conds:
                whens.append(f"WHEN {' OR '.join(conds)} THEN {quote_literal(tier.name)}")
        blank = f"{text} IS NULL OR NOT regexp_matches({text}, {quote_literal(_NOT_BLANK)})"
        return f"CASE WHEN {blank} THEN NULL {' '.join(whens)} ELSE {quote_literal(self.default)} END"

    def assign(self, texts: Sequence[str | None], topics: Sequence[str | None] | None = None) -> list[str | None]:
        """The tier of each text, as :meth:`sql` decides it (``topics``, one per text, as ``has_topic=True``)."""
        texts = list(texts)
        tops = [None] * len(texts) if topics is None else [_text_or_none(t) for t in topics]
        if len(tops) != len(texts):
            raise ValueError(f"`topics` must hold one value per text: {len(tops)} topics for {len(texts)} texts")
        seen: dict[tuple[str, str | None], str] = {}
        out: list[str | None] = []
        for raw, topic in zip(texts, tops):
            text = _text_or_none(raw)
            if text is None or not _NOT_BLANK_RE.search(text):
                out.append(None)
                continue
            key = (text, topic)
            if key not in seen:
                seen[key] = next((t.name for t in self.tiers if t.matches(text, topic)), self.default)
            out.append(seen[key])
        return out

    @property
    def description(self) -> str:
        """One line for a report: the column, the file, each tier's first phrases and counts, the default."""
        parts = []
        for t in self.tiers:
            shown = list(t.phrases[:3]) or list(t.patterns[:3]) or [f"topic {w}" for w in t.topics[:3]]
            more = ", ..." if len(t.phrases) + len(t.patterns) + len(t.topics) > len(shown) else ""
            counts = [_count(len(t.phrases), "phrase"), _count(len(t.patterns), "pattern")]
            counts += [_count(len(t.topics), "topic")] if t.topics else []
            parts.append(f"{t.name} = {', '.join(shown)}{more} ({', '.join(counts)})")
        return f"{self.column} from taxonomy {self.source}: {'; '.join(parts)}; else {self.default}"


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _duplicates(node: Any, where: str) -> tuple[str, str, int] | None:
    """The first key given twice in a mapping of the YAML node tree: (where, key, line)."""
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else None
            if key is not None and key in seen:
                return where, str(key), k.start_mark.line + 1
            seen.add(key)
            found = _duplicates(v, f"{where}.{key}" if where else str(key))
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            found = _duplicates(v, f"{where}[{i}]")
            if found:
                return found
    return None


def _read(path: Path) -> dict[str, Any]:
    p, text, doc = read_yaml(path, "taxonomy")
    dup = _duplicates(yaml.compose(text, Loader=yaml.SafeLoader), "")  # parsed once already: valid YAML
    if dup is not None:
        where, key, line = dup
        if where == "tiers":
            raise ValueError(f"{p}: tiers: tier {key!r} is named twice (line {line})")
        raise ValueError(f"{p}: {where or 'top level'}: key {key!r} is given twice (line {line})")
    if not isinstance(doc, dict):
        raise ValueError(f"{p}: expected a mapping with `default:` and `tiers:`, got {type(doc).__name__}")
    unknown = sorted(str(k) for k in set(doc) - set(_TOP_KEYS))
    if unknown:
        raise ValueError(f"{p}: unknown key(s) {unknown}; a taxonomy takes {list(_TOP_KEYS)}")
    for key in ("default", "tiers"):
        if doc.get(key) is None:
            raise ValueError(f"{p}: missing `{key}:` (a taxonomy needs `default:` and `tiers:`)")
    for key in ("column", "text_column", "topic_column", "default"):
        if key in doc and (not isinstance(doc[key], str) or not doc[key].strip()):
            raise ValueError(f"{p}: `{key}` must be a name (quote it if YAML reads it as another type), got {doc[key]!r}")
    if not isinstance(doc["tiers"], dict) or not doc["tiers"]:
        raise ValueError(f"{p}: `tiers` must be a mapping of tier name -> phrases, patterns, topics, got {doc['tiers']!r}")
    return doc


def _tier(name: Any, entry: Any, where: str) -> Tier:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: a tier's name must be text (quote it if YAML reads it as another type), got {name!r}")
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping with `phrases`, `patterns` or `topics`, got {entry!r}")
    unknown = sorted(str(k) for k in set(entry) - set(_TIER_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; a tier takes {list(_TIER_KEYS)}")
    values = {k: (portable_strings if k == "patterns" else string_list)(entry.get(k), f"{where}.{k}") for k in _TIER_KEYS}
    try:
        return Tier(name=name, **values)
    except ValueError as exc:
        raise ValueError(f"{where}.{exc}" if re.match(r"\w+(?:\[\d+\])?: ", str(exc)) else f"{where}: {exc}") from None


def load_taxonomy(path: str | Path) -> Taxonomy:
    """The taxonomy of a YAML file (see the module docstring); errors name the file, the tier and the key."""
    p = Path(path)
    doc = _read(p)
    tiers = tuple(_tier(name, entry, f"{p}: tiers.{name}") for name, entry in doc["tiers"].items())
    try:
        return Taxonomy(column=doc.get("column", "risk_category"), text_column=doc.get("text_column", "input_text"),
                        topic_column=doc.get("topic_column", "topic"), default=doc["default"], tiers=tiers, source=str(p))
    except ValueError as exc:
        raise ValueError(f"{p}: {exc}") from None
