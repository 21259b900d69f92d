"""Derived outcome labels: ``refused`` and ``escalated`` from the response text when missing.

Real trace exports rarely carry a ``refused`` or ``escalated`` column, but they do carry the
response text and the finish reason. This module fills a *missing* label from them with small,
transparent rules, and measures a rule against the rows that do carry a label
(:func:`evaluate_rule`), so a report can say "refusal rate (derived; precision 0.99, recall
0.95 on 1,234 labelled rows)". A label that is present is never overwritten.

The rules (``DEFAULT_RULES``)
-----------------------------
A rule looks at the response one sentence at a time (sentences split at ``.``, ``!``, ``?``
and line breaks). A sentence counts when it matches one of the rule's patterns and none of its
vetoes; the row is ``True`` when any sentence counts or the finish reason is one of the rule's
finish reasons, ``False`` when there is response text and nothing counts, and stays missing
when there is neither text nor a deciding finish reason (an errored request has no outcome).

``refused`` (rule ``refusal-phrases``)
    * ``finish_reason == "content_filter"`` (the provider blocked the answer);
    * a first-person decline of the request: *I* + *can't / cannot / won't / will not (be able to) /
      am not able, allowed, permitted, authorised to / am unable to / am not in a position to / am
      not going to / must decline to / would rather not* + (one optional word) + a decline verb
      (*help, assist, provide, give, offer, answer, recommend, advise, diagnose, discuss, share,
      suggest, prescribe, comply, tell you, confirm, process, book, change, access, look up,
      guarantee, issue, override, write, generate, reveal, approve, apply, cancel, reverse, refund,
      waive, reset, ... do that*): "I can't help with that", "I'm not able to tell you whether this
      mole is cancerous", "I'm afraid I can't change the price", "Sorry, but I can't process that";
      *we* with the same modals ("We're not able to offer refunds on downloads"); *I don't* only
      with *provide, give, offer, answer, discuss, share, diagnose, prescribe* ("I don't give
      medical advice"), because "I don't recommend ibuprofen for babies" is advice;
    * the service declining ("This service cannot provide personalised financial advice", "This
      assistant is not authorised to process payroll changes"), a decline without a subject
      ("Unable to help with that", "Sorry, can't do that") or in the passive ("This request can't
      be completed", "Gift cards cannot be exchanged for cash");
    * idioms: "I must decline", "not something I can help with", "As an AI, I can't ...", "outside
      what I can do", "Sorry, I can't." (nothing after the modal), "I'm going to hold off", "I'll pass on this one", "I'm afraid that's not
      possible", a "Request declined" heading;
    * the commonest first-person declines in French ("je ne peux pas", "je ne suis pas en mesure
      de"), German ("ich kann Ihnen ... nicht", "das kann ich leider nicht", "ich darf keine"),
      Spanish ("no puedo"), Portuguese ("não posso"), Italian ("non posso", "non sono in grado"),
      Dutch ("ik kan ... niet", "dat kan ik niet"), Japanese ("お答えできません", "いたしかねます") and
      Chinese ("我无法", "抱歉……不能").

    Decisions on tricky cases. Emphasis idioms are **not** refusals: "I can't stress enough how
    important it is to call 911" (the assistant engaged; a veto drops any *can't stress /
    emphasise / overstate / recommend ... enough* sentence), "I can't help but wonder", "I can't
    wait", "I can't tell you how glad I am", "je ne peux pas m'empêcher de ..."; nor are hedges
    followed by an answer: "I can't say for certain, but ..." (*say* is not a decline verb), "I can't
    give you an exact date, but usually ...", "I can't confirm it from a photo, but these look like
    insect bites" (a decline of certainty, then the likely answer), "I'm not a doctor, but ...". A
    question for missing information is not a refusal ("I can't look that up without your order
    number"), nor a side request declined after the main one is done ("..., though"), nor "I don't
    share that view, but ...". A decline inside quotation marks is not the assistant's: "Your bot
    replies 'I'm sorry, I can't help with that'" (a veto drops a sentence where a word such as
    *says, replies, reads, message, email, banner, error* opens a quotation, or where a quotation
    closes after punctuation). A safety referral without a decline ("These symptoms need urgent
    assessment. Call 911 now.") is not a refusal either. Soft redirects without a decline phrase
    ("This needs a clinician, not a chatbot.", "That's one for a tax professional.") are missed on
    purpose (the rule prefers precision); :func:`evaluate_rule` measures what that costs in recall.
    A partial refusal whose decline is not marked as a side request ("I won't write the whole
    thesis for you, but here's how to structure it") counts as a refusal.

``escalated`` (rule ``handoff-phrases``)
    * a hand-off tool call in the response: ``handoff_to_human``, ``transfer_to_agent``,
      ``transfer_to_human``, ``escalate_to_human``, ``escalate_to_agent``, ``human_handoff``, any
      JSON tool name (``"name": "..."``) holding *handoff, hand_off, transfer, escalat, route_to_,
      human* or *on_call* (``page_on_call_nurse``, ``route_to_specialist``) and ticket tools
      (``create_support_ticket``, ``create_incident``); ``finish_reason == "tool_calls"`` alone is
      not enough (order lookups are tool calls too);
    * a first-person hand-off in progress or done, a hand-off verb (*transfer you, connect you, hand
      over, pass on, escalate, forward, route, refer, flag, assign, notify, page, put you through,
      contact / inform the ...*) and a recipient later in the sentence (*human, agent,
      representative, specialist, team, nurse, pharmacist, doctor, manager, supervisor, adjuster,
      engineer, technician, advisor, counsellor, solicitor, ...*): "I'm transferring you to a triage
      nurse now", "Let me connect you with our support team", "I've escalated your complaint to our
      customer care manager"; "I've escalated ..." with no recipient; a call-back or consultation
      booked with a person ("I've booked a call-back with a nurse"), a person asked to join ("I've
      asked a nurse to join the conversation");
    * a ticket raised ("I've opened a ticket with the network team", "P1 incident raised");
    * a hand-off without a subject ("Connecting you to a live agent now", "Transferring you now",
      "Escalated to L2"), in the passive ("Your conversation has been forwarded to our claims team",
      "This chat is being transferred", "The on-call engineer has been paged", "has been
      escalated"), and a person taking over ("A nurse from our team will join this chat", "An agent
      will be with you shortly", "Someone from our team will get back to you");
    * the commonest hand-offs in French ("je vous transfère", "je vous mets en relation", "j'ai
      transmis votre dossier à un conseiller"), German ("ich verbinde Sie", "ich leite Sie ...
      weiter", "an das Team weitergeleitet"), Spanish ("le transfiero", "he escalado su solicitud al
      equipo"), Portuguese, Italian, Dutch ("ik verbind u door"), Japanese ("担当者におつなぎします",
      "担当者に引き継ぎました") and Chinese ("为您转接人工", "转交给相关团队").

    Offers, questions and conditionals are **not** escalations: "If you'd like, I can connect you
    with a human agent", "I can connect you with a specialist", "you can ask to speak with a human
    agent at any time", "Would you like me to transfer you?", "Shall I open a ticket?", "I'll connect
    you with an agent if that doesn't work", "If the payment hasn't arrived by Friday, I'll raise it
    with the payments team", and the same offers in the other languages ("¿Desea que le transfiera
    ...?", "需要我为您转接人工吗"). Nor are feedback passed along ("I'll pass your feedback to the
    product team"), quoted hand-offs ("The email saying 'your case has been escalated' was sent
    automatically"), something sent to the user rather than to a person ("He enviado el enlace a su
    correo"), and lookalikes: "privilege escalation", "costs have escalated", "a test case", money
    or a domain transferred, a ``transfer_funds`` tool.

Every pattern means the same in Python, RE2 (DuckDB) and Java (Spark); one known difference is left:
an English word run straight into CJK text without a space ("私はI can't help") has a word boundary
for Python and Java but not for RE2, so the SQL form on DuckDB may differ there.

Rules are data (:class:`Rule`): pass your own to :func:`derive_outcomes` and
:func:`evaluate_rule` for another product's phrasing or language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Container, Iterable, Sequence

import numpy as np
import pandas as pd

from analysis.engine import Engine
from analysis.engine.query import quote_ident, quote_literal
from analysis.stats.intervals import wilson_interval
from analysis.text import phrases
from analysis.text.grounding import GROUNDING_RULE, GroundingRule

__all__ = [
    "Rule",
    "REFUSAL_RULE",
    "ESCALATION_RULE",
    "DEFAULT_RULES",
    "DERIVATION_RULES",
    "DerivedOutcomes",
    "RuleEvaluation",
    "derive_outcomes",
    "derive_missing",
    "measure_rule",
    "SPARSE_LABELS",
    "evaluate_rule",
]

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
#: The same split in SQL (RE2 and Java regular expressions have no look-behind: the punctuation goes with the break).
SQL_SENTENCE_SPLIT = r"[.!?]\s+|\n+"


#: What an anchor of a sentence's pattern becomes in the whole text's: a sentence starts at the text's
#: start or after a break of :data:`SQL_SENTENCE_SPLIT`, and ends at the text's end or where a break begins.
_WHOLE_TEXT_ANCHOR = {"^": r"(?:^|[.!?]\s+|\n)", "$": r"(?:$|[.!?]\s|\n)"}


def whole_text_pattern(pattern: str) -> str:
    """``pattern`` (read on one sentence) made to match a whole text wherever it matches one of its
    sentences: each ``^`` or ``$`` anchor (not escaped, not in a character class) also matches at a
    sentence break. It may match where no sentence does (a pre-filter, never the decision)."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            # a ']' right after '[' or '[^' is a literal, not the class's end
            in_class = not (ch == "]" and not (pattern[i - 1] == "[" or pattern[i - 2:i] == "[^"))
            out.append(ch)
        elif ch == "[":
            in_class = True
            out.append(ch)
        else:
            out.append(_WHOLE_TEXT_ANCHOR.get(ch, ch))
        i += 1
    return "".join(out)


def _sql_regex(patterns: Sequence[str]) -> str:
    """Python patterns as one case-insensitive SQL regex literal: ``\\uXXXX`` escapes become
    ``\\x{XXXX}``, which RE2 (DuckDB) and Java (Spark) both read."""
    joined = "|".join(f"(?:{p})" for p in patterns)
    return quote_literal("(?i)" + re.sub(r"\\u([0-9a-fA-F]{4})", r"\\x{\1}", joined))


@dataclass(frozen=True)
class Rule:
    """A transparent labelling rule for one outcome column.

    Attributes
    ----------
    column
        The outcome column the rule fills (``"refused"``, ``"escalated"``).
    name, description
        Shown in reports next to the derived metric.
    patterns
        Regular expressions (case-insensitive); a sentence matching one counts...
    vetoes
        ...unless it also matches one of these.
    finish_reasons
        Finish reasons that decide ``True`` on their own (compared case-insensitively).
    text_column
        Where the response text is.
    """

    column: str
    name: str
    description: str
    patterns: tuple[str, ...]
    vetoes: tuple[str, ...] = ()
    finish_reasons: tuple[str, ...] = ()
    text_column: str = "output_text"
    _compiled: tuple[re.Pattern[str], ...] = field(default=(), init=False, repr=False, compare=False)
    _vetoes: tuple[re.Pattern[str], ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.patterns and not self.finish_reasons:
            raise ValueError(f"`patterns` or `finish_reasons` must be given for rule {self.name!r}")
        try:
            object.__setattr__(self, "_compiled", tuple(re.compile(p, re.IGNORECASE) for p in self.patterns))
            object.__setattr__(self, "_vetoes", tuple(re.compile(p, re.IGNORECASE) for p in self.vetoes))
        except re.error as exc:
            raise ValueError(f"rule {self.name!r} has an invalid regular expression: {exc}") from None

    def can_derive(self, columns: Container[str]) -> bool:
        """Whether events with ``columns`` hold what the rule reads (the answer or the finish reason)."""
        return self.text_column in columns or bool(self.finish_reasons and "finish_reason" in columns)

    def matches_text(self, text: str) -> bool:
        """Whether any sentence of ``text`` matches a pattern and no veto."""
        for sentence in _SENTENCE_SPLIT.split(text):
            if any(p.search(sentence) for p in self._compiled) and not any(v.search(sentence) for v in self._vetoes):
                return True
        return False

    def sql(self, columns: Container[str] = ("output_text", "finish_reason"), *, dialect: str = "duckdb") -> str:
        """The rule as one SQL expression over the events, evaluated where the rows lie: ``TRUE``,
        ``FALSE`` or ``NULL`` per row, as :meth:`predict` decides them.

        The text is split into sentences at ``.``, ``!`` or ``?`` followed by white space, and at
        line breaks (the punctuation itself is dropped, which no pattern or veto reads); a sentence
        counts when it matches a pattern (case-insensitive) and no veto. ``columns`` are the columns
        the events have: a missing text or finish-reason column reads as missing values.

        ``dialect`` is the engine's. DuckDB reads the sentences as rows of a correlated subquery
        (a lambda over the list recompiles the long patterns for every batch: 60x slower on a
        million answers). Other engines get a lambda over the list (DuckDB's syntax, which the
        Spark engine transpiles), and a text no pattern matches as a whole is ``FALSE`` without
        being split (:func:`whole_text_pattern`): the split runs on the few texts that match.
        """
        text = quote_ident(self.text_column) if self.text_column in columns else "CAST(NULL AS VARCHAR)"
        hit = "FALSE"
        if self.patterns:
            cond = f"regexp_matches(s, {_sql_regex(self.patterns)})"
            if self.vetoes:
                cond += f" AND NOT regexp_matches(s, {_sql_regex(self.vetoes)})"
            split = f"string_split_regex({text}, {quote_literal(SQL_SENTENCE_SPLIT)})"
            if dialect == "duckdb":
                hit = f"COALESCE((SELECT bool_or({cond}) FROM unnest({split}) AS sentences__(s)), FALSE)"
            else:
                hit = f"array_length(list_filter({split}, lambda s: {cond})) > 0"
                # a sentence matches only where the whole text does (its anchors widened to the sentence
                # breaks): the split runs on the few texts that match
                whole = _sql_regex([whole_text_pattern(p) for p in self.patterns])
                hit = f"CASE WHEN NOT regexp_matches({text}, {whole}) THEN FALSE ELSE {hit} END"
        finish = "FALSE"
        if self.finish_reasons and "finish_reason" in columns:
            values = ", ".join(quote_literal(f.lower()) for f in self.finish_reasons)
            finish = f"COALESCE(lower(trim(CAST(finish_reason AS VARCHAR))) IN ({values}), FALSE)"
        return (f"CASE WHEN {finish} THEN TRUE WHEN {text} IS NULL OR trim(CAST({text} AS VARCHAR)) = '' THEN NULL "
                f"ELSE {hit} END")

    def predict(self, frame: pd.DataFrame) -> pd.Series:
        """The rule's label for every row: ``True``/``False``, missing when there is no evidence."""
        n = len(frame)
        fr_hit = np.zeros(n, dtype=bool)
        if self.finish_reasons and "finish_reason" in frame.columns:
            fr = frame["finish_reason"].astype("string").str.strip().str.lower()
            fr_hit = fr.isin([f.lower() for f in self.finish_reasons]).fillna(False).to_numpy(dtype=bool)
        has_text = np.zeros(n, dtype=bool)
        text_hit = np.zeros(n, dtype=bool)
        if self.text_column in frame.columns:
            txt = frame[self.text_column].astype("string")
            has_text = (txt.notna() & (txt.str.strip() != "")).fillna(False).to_numpy(dtype=bool)
            if has_text.any():
                values = txt[has_text].astype(object).to_numpy()
                uniq, inv = np.unique(values.astype(str), return_inverse=True)
                hits = np.fromiter((self.matches_text(u) for u in uniq), dtype=bool, count=len(uniq))
                text_hit[has_text] = hits[inv]
        out = np.full(n, None, dtype=object)
        out[has_text] = False
        out[text_hit | fr_hit] = True
        return pd.Series(pd.array(out, dtype="boolean"), index=frame.index, name=self.column)

REFUSAL_RULE = Rule(
    column="refused",
    name="refusal-phrases",
    description=(
        "refused = finish_reason is 'content_filter', or a sentence of output_text declines: in the first person "
        "(I can't / cannot / won't / am not able, allowed, permitted to / must decline to / would rather not + a decline "
        "verb: help, provide, give, tell you, confirm, process, change, access, write ...; 'we are unable to ...'), "
        "through the service ('this service cannot provide ...'), without a subject ('Unable to help with that') or "
        "in the passive ('This request can't be processed'), idioms ('I must decline', 'not something I can help "
        "with', 'outside what I can do'), and the commonest first-person declines in French, German, Spanish, "
        "Portuguese, Italian, Dutch, Japanese and Chinese. Emphasis idioms ('I can't stress enough ...'), hedges "
        "followed by an answer ('I can't give you an exact date, but ...'), side requests ('..., though') and quoted "
        "refusals are not refusals."
    ),
    patterns=phrases.REFUSAL_PATTERNS,
    vetoes=phrases.REFUSAL_VETOES,
    finish_reasons=("content_filter",),
)

ESCALATION_RULE = Rule(
    column="escalated",
    name="handoff-phrases",
    description=(
        "escalated = output_text holds a hand-off tool call (handoff_to_human, transfer_to_agent, any JSON tool name "
        "with handoff / transfer / escalat / route_to_ / human / on_call, create_*_ticket ...), or a sentence hands "
        "off: in the first person ('I'm transferring you to a triage nurse', 'I've escalated your complaint to our "
        "manager', 'I've opened a ticket with the network team', 'I've booked a call-back with a nurse'), without a "
        "subject ('Connecting you to a live agent now', 'Your request has been referred to our Lending Team'), a person "
        "taking over ('A nurse from our team will join this chat'), and the commonest hand-offs in French, German, "
        "Spanish, Portuguese, Italian, Dutch, Japanese and Chinese. Offers, questions and conditionals ('If you'd like, "
        "I can connect you ...', 'Would you like me to transfer you?'), feedback passed along, quoted hand-offs and "
        "lookalikes ('privilege escalation', money transferred) are not escalations."
    ),
    patterns=phrases.ESCALATION_PATTERNS,
    vetoes=phrases.ESCALATION_VETOES,
)

DEFAULT_RULES: tuple[Rule, ...] = (REFUSAL_RULE, ESCALATION_RULE)
#: Every derivation the kit applies to a missing column: the label rules and RAG grounding.
DERIVATION_RULES: tuple[Any, ...] = (REFUSAL_RULE, ESCALATION_RULE, GROUNDING_RULE)


#: A label logged on fewer rows than this share (a reviewed sample) is completed by its rule, and the
#: rule is measured on the rows that carry it; a label logged on more rows is left as it is.
SPARSE_LABELS = 0.5


def derive_missing(eng: Engine, columns: Iterable[str], rules: Sequence[Any] = DERIVATION_RULES, *, materialize: bool = True,
                   profile: Any = None) -> list[str]:
    """Derive each of ``columns`` that a rule covers and the events lack, hold empty or hold on fewer
    than :data:`SPARSE_LABELS` of the rows (then only the rows without a value), from the text,
    where the rows lie (:meth:`analysis.engine.Engine.derive` with the rule's ``sql``).

    ``rules`` are :class:`Rule` objects or :class:`analysis.text.grounding.GroundingRule` ones
    (anything with ``column``, ``can_derive(columns)`` and ``sql(columns)``). Returns the columns
    derived (those that now hold a value); a rule whose inputs the events lack derives nothing.
    Measure a rule on the rows that carry its label first (:func:`measure_rule`): deriving fills them in.
    With ``materialize=False`` the columns are computed by the caller's later
    :meth:`~analysis.engine.Engine.materialize`, and every column derived is returned unchecked;
    ``profile`` is the events' profile before (default: the engine's).
    """
    prof = profile if profile is not None else eng.profile()
    by_column = {r.column: r for r in _check_rules(rules)}
    present = {c for c in prof.columns["column"] if prof.present(c)}
    todo = [by_column[c] for c in dict.fromkeys(columns) if c in by_column and prof.coverage(c) < SPARSE_LABELS]
    todo = [r for r in todo if r.can_derive(present)]
    if not todo:
        return []
    eng.derive({r.column: r.sql(present - {r.column}, dialect=eng.name) for r in todo}, materialize=materialize)
    if not materialize:
        return [r.column for r in todo]
    prof = eng.profile()
    return [r.column for r in todo if prof.present(r.column)]


def _check_rules(rules: Any) -> tuple[Rule, ...]:
    if isinstance(rules, Rule):
        rules = (rules,)
    rules = tuple(rules)
    for r in rules:
        if not isinstance(r, (Rule, GroundingRule)):
            raise TypeError(f"`rules` must hold Rule or GroundingRule objects, got {type(r).__name__}")
    cols = [r.column for r in rules]
    if len(set(cols)) != len(cols):
        raise ValueError(f"`rules` has more than one rule for the same column: {cols}")
    return rules


def _check_frame(events: Any) -> pd.DataFrame:
    if not isinstance(events, pd.DataFrame):
        raise TypeError(f"`events` must be a pandas DataFrame, got {type(events).__name__}")
    return events


@dataclass(frozen=True)
class DerivedOutcomes:
    """The events with missing outcome labels filled by rules.

    Attributes
    ----------
    frame
        A copy of the events; present labels untouched, missing ones filled where the rule
        had evidence (the column is created when it did not exist and something was derived).
    derived
        Columns in which at least one value was derived (mark these metrics as derived).
    rules
        Column -> the rule's description, for every rule applied.
    n_derived
        Column -> number of values filled.
    mask
        Boolean frame, one column per rule applied: ``True`` where the value was derived.
    """

    frame: pd.DataFrame
    derived: list[str]
    rules: dict[str, str]
    n_derived: dict[str, int]
    mask: pd.DataFrame


def derive_outcomes(
    events: pd.DataFrame,
    *,
    rules: Sequence[Rule] | Rule = DEFAULT_RULES,
    columns: Iterable[str] | None = None,
) -> DerivedOutcomes:
    """Fill missing ``refused`` / ``escalated`` labels from the response text.

    Parameters
    ----------
    events
        Events with ``output_text`` and/or ``finish_reason``.
    rules
        The rules to apply (see the module docstring for the defaults).
    columns
        Only apply the rules for these outcome columns (default: every rule).

    Returns
    -------
    DerivedOutcomes
    """
    events = _check_frame(events)
    rules = _check_rules(rules)
    if columns is not None:
        wanted = set([columns] if isinstance(columns, str) else columns)
        unknown = wanted - {r.column for r in rules}
        if unknown:
            raise ValueError(f"`columns` names outcomes no rule derives: {sorted(unknown)}; rules cover {[r.column for r in rules]}")
        rules = tuple(r for r in rules if r.column in wanted)
    frame = events.copy()
    derived: list[str] = []
    n_derived: dict[str, int] = {}
    masks: dict[str, np.ndarray] = {}
    for rule in rules:
        if rule.column in frame.columns:
            current = frame[rule.column]
            if not pd.api.types.is_bool_dtype(current.dtype) and current.notna().any():
                raise ValueError(
                    f"`events[{rule.column!r}]` must be boolean to be completed by a rule, got dtype {current.dtype}"
                )
            current = current.astype("boolean")
        else:
            current = pd.Series(pd.array([pd.NA] * len(frame), dtype="boolean"), index=frame.index)
        missing = current.isna().to_numpy(dtype=bool)
        fill = np.zeros(len(frame), dtype=bool)
        if missing.any():
            pred = rule.predict(frame.loc[missing])
            ok = pred.notna().to_numpy(dtype=bool)
            if ok.any():
                filled = current.copy()
                idx = frame.index[missing][ok]
                filled.loc[idx] = pred[ok].to_numpy()
                current = filled
                fill[np.flatnonzero(missing)[ok]] = True
        if fill.any() or rule.column in frame.columns:
            frame[rule.column] = current.astype("boolean")
        n_derived[rule.column] = int(fill.sum())
        masks[rule.column] = fill
        if fill.any():
            derived.append(rule.column)
    return DerivedOutcomes(
        frame=frame,
        derived=derived,
        rules={r.column: r.description for r in rules},
        n_derived=n_derived,
        mask=pd.DataFrame(masks, index=frame.index),
    )


@dataclass(frozen=True)
class RuleEvaluation:
    """A rule's agreement with the labels it would replace.

    ``precision = tp / (tp + fp)``, ``recall = tp / (tp + fn)``, ``accuracy = (tp + tn) / n``
    over the ``n`` rows that carry a label *and* on which the rule has evidence; each with a
    Wilson interval (``*_ci``). NaN when the denominator is 0. ``false_positives`` /
    ``false_negatives`` list a few ``event_id`` values (or index labels) for inspection.
    """

    column: str
    rule: str
    n: int
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float
    recall: float
    accuracy: float
    f1: float
    precision_ci: tuple[float, float]
    recall_ci: tuple[float, float]
    accuracy_ci: tuple[float, float]
    n_labelled: int
    n_without_evidence: int
    alpha: float
    false_positives: tuple[Any, ...] = ()
    false_negatives: tuple[Any, ...] = ()

    def summary(self) -> str:
        """One line for a report."""
        return (
            f"{self.column} derived by rule '{self.rule}': precision {self.precision:.3f}, recall {self.recall:.3f}, "
            f"accuracy {self.accuracy:.3f} on {self.n:,} labelled rows"
        )


def _ratio(a: int, b: int) -> float:
    return float(a / b) if b else float("nan")


def _ci(x: int, n: int, alpha: float) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    lo, hi = wilson_interval(x, n, alpha)
    return float(lo), float(hi)


def evaluate_rule(
    events_with_labels: pd.DataFrame,
    column: str,
    *,
    rules: Sequence[Rule] | Rule = DEFAULT_RULES,
    alpha: float = 0.05,
    max_examples: int = 10,
) -> RuleEvaluation:
    """Precision, recall and accuracy of the rule for ``column`` on the rows that have a label.

    Parameters
    ----------
    events_with_labels
        Events where ``column`` is (at least partly) present, with the response text.
    column
        ``"refused"`` or ``"escalated"`` (any column a rule in ``rules`` covers).
    rules
        The rules (the one whose ``column`` matches is evaluated).
    alpha
        One minus the coverage of the Wilson intervals.
    max_examples
        How many misclassified ids to keep.

    Returns
    -------
    RuleEvaluation
    """
    events = _check_frame(events_with_labels)
    rules = _check_rules(rules)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"`alpha` must be in (0, 1), got {alpha!r}")
    matching = [r for r in rules if r.column == column]
    if not matching:
        raise ValueError(f"`column` {column!r} has no rule; rules cover {[r.column for r in rules]}")
    if column not in events.columns:
        raise ValueError(f"`events_with_labels` has no {column!r} column to evaluate against")
    rule = matching[0]
    truth = events[column].astype("boolean")
    labelled = truth.notna().to_numpy(dtype=bool)
    sub = events.loc[labelled]
    pred = rule.predict(sub)
    has = pred.notna().to_numpy(dtype=bool)
    y = truth[labelled].to_numpy(dtype=bool, na_value=False)[has]
    p = pred.to_numpy(dtype=bool, na_value=False)[has]
    tp = int((y & p).sum())
    fp = int((~y & p).sum())
    fn = int((y & ~p).sum())
    tn = int((~y & ~p).sum())
    n = tp + fp + fn + tn
    ids = sub["event_id"].to_numpy(dtype=object)[has] if "event_id" in sub.columns else sub.index.to_numpy()[has]
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = 2 * precision * recall / (precision + recall) if (precision + recall) > 0 else float("nan")
    return RuleEvaluation(
        column=column,
        rule=rule.name,
        n=n,
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        precision=precision,
        recall=recall,
        accuracy=_ratio(tp + tn, n),
        f1=float(f1),
        precision_ci=_ci(tp, tp + fp, alpha),
        recall_ci=_ci(tp, tp + fn, alpha),
        accuracy_ci=_ci(tp + tn, n, alpha),
        n_labelled=int(labelled.sum()),
        n_without_evidence=int((~has).sum()),
        alpha=float(alpha),
        false_positives=tuple(ids[~y & p][:max_examples].tolist()),
        false_negatives=tuple(ids[y & ~p][:max_examples].tolist()),
    )


def measure_rule(eng: Engine, rule: Any, *, alpha: float = 0.05) -> RuleEvaluation | None:
    """The rule against the rows that carry its label, counted where the rows lie (one query): what a
    report quotes beside a label the rule completed. ``None`` when no row carries the label or the
    events lack what the rule reads."""
    prof = eng.profile()
    present = {c for c in prof.columns["column"] if prof.present(c)}
    if rule.column not in present or not rule.can_derive(present):
        return None
    lab, pred = f"TRY_CAST({quote_ident(rule.column)} AS BOOLEAN)", rule.sql(present - {rule.column}, dialect=eng.name)
    cells = {"tp": "l AND p", "fp": "NOT l AND p", "fn": "l AND NOT p", "tn": "NOT l AND NOT p", "none": "p IS NULL"}
    sums = ", ".join(f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS {name}" for name, cond in cells.items())
    r = eng.sql(f"SELECT COUNT(*) AS n_labelled, {sums} FROM (SELECT {lab} AS l, {pred} AS p FROM events) t WHERE l IS NOT NULL")
    c = {k: int(0 if pd.isna(v) else v) for k, v in r.iloc[0].items()}
    tp, fp, fn, tn = c["tp"], c["fp"], c["fn"], c["tn"]
    prec, rec = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return RuleEvaluation(column=rule.column, rule=rule.name, n=tp + fp + fn + tn, tp=tp, fp=fp, fn=fn, tn=tn, precision=prec,
                          recall=rec, accuracy=_ratio(tp + tn, tp + fp + fn + tn),
                          f1=_ratio(2 * tp, 2 * tp + fp + fn), precision_ci=_ci(tp, tp + fp, alpha), recall_ci=_ci(tp, tp + fn, alpha),
                          accuracy_ci=_ci(tp + tn, tp + fp + fn + tn, alpha), n_labelled=c["n_labelled"], n_without_evidence=c["none"],
                          alpha=alpha)
