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

_A = r"['\u2019]"  # straight or curly apostrophe
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
#: ``^`` or ``$`` as an anchor (not escaped, not a character class's negation).
_ANCHOR = re.compile(r"(?<![\\\[])\^|(?<!\\)\$")
#: The same split in SQL (RE2 and Java regular expressions have no look-behind: the punctuation goes with the break).
SQL_SENTENCE_SPLIT = r"[.!?]\s+|\n+"


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

    def sql(self, columns: Container[str] = ("output_text", "finish_reason")) -> str:
        """The rule as one SQL expression over the events (DuckDB's dialect; the Spark engine
        transpiles it), evaluated where the rows lie: ``TRUE``, ``FALSE`` or ``NULL`` per row, as
        :meth:`predict` decides them.

        The text is split into sentences at ``.``, ``!`` or ``?`` followed by white space, and at
        line breaks (the punctuation itself is dropped, which no pattern or veto reads); a sentence
        counts when it matches a pattern (case-insensitive) and no veto. A text no pattern matches
        as a whole is ``FALSE`` without being split (a sentence's match is a match in its text, for
        patterns without ``^``/``$``): the split runs on the few texts that match. ``columns`` are
        the columns the events have: a missing text or finish-reason column reads as missing values.
        """
        text = quote_ident(self.text_column) if self.text_column in columns else "CAST(NULL AS VARCHAR)"
        hit = "FALSE"
        if self.patterns:
            cond = f"regexp_matches(s, {_sql_regex(self.patterns)})"
            if self.vetoes:
                cond += f" AND NOT regexp_matches(s, {_sql_regex(self.vetoes)})"
            hit = (f"array_length(list_filter(string_split_regex({text}, {quote_literal(SQL_SENTENCE_SPLIT)}), lambda s: {cond})) "
                   "> 0")
            if not any(_ANCHOR.search(p) for p in self.patterns):
                # a sentence matches only where the whole text does: the split runs on the few texts that match
                hit = f"CASE WHEN NOT regexp_matches({text}, {_sql_regex(self.patterns)}) THEN FALSE ELSE {hit} END"
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


# ----------------------------------------------------------------------------------------------
# The default rules. Every pattern must mean the same in Python's ``re``, RE2 (DuckDB) and Java
# (Spark): no look-around, no back-references; ``\b`` and ``\w`` only next to ASCII letters of the
# pattern (RE2 reads both as ASCII, Python as Unicode, Java ``\w`` as ASCII and ``\b`` as Unicode);
# accented letters written with both cases (``[éÉ]``: Java's ``(?i)`` folds ASCII only); CJK written
# as it is (no case).
# ----------------------------------------------------------------------------------------------


def _flat(groups: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(p for group in groups.values() for p in group)


_OPEN_Q = "['\u2018\"\u201c`]"  # an opening quotation mark (straight, curly, back-tick)
_CLOSE_Q = "['\u2019\"\u201d]"
_ANY_Q = "'\u2018\u2019\"\u201c\u201d`"

#: Quotation vetoes (both rules): a sentence that quotes a message ("the email saying 'your case has
#: been escalated'", "Your bot replies 'I'm sorry, I can't help with that'") or closes a quotation.
_QUOTE_VETOES = (
    r"\b(?:says?|said|saying|reads?|reading|repl(?:y|ies|ied|ying)|plays?|playing|prints?|printed|printing|"
    r"shows?|showing|displays?|displayed|wr(?:ote|ites?|itten)|stat(?:es|ed|ing)|noted|quot(?:e|es|ed|ing)|"
    r"message|messages|banner|notice|notification|e-?mail|letter|leaflet|line|comment|error|note|text|wording|"
    r"template|phrase|heading|subject|pop-?up|prompt|label|status|clause)\b"
    rf"[^{_ANY_Q}.!?]{{0,15}}[\s:]{_OPEN_Q}",
    rf"[.!?,]{_CLOSE_Q}(?:\s|$)",
)

# --- refused ------------------------------------------------------------------------------------

#: Decline verbs after a first-person modal ("I can't <verb>"). ``tell`` only as "tell you" ("I can't
#: tell which ..." is a question for missing information more often than a decline); ``do`` only as
#: "do that / this / it / so".
_DECLINE_VERB = (
    r"(?:help|as+ist|provide|give|offer|answer|recommend|advi[cs]e|diagnose|discuss|share|suggest|prescribe|comply|"
    r"tell\s+(?:you|u)|confirm|process|book|change|access|look\s+(?:\w+\s+)?up|guarantee|issue|override|draft|write|"
    r"generate|create|reveal|disclose|disable|approve|authori[sz]e|ap+ly|cancel|reverse|refund|waive|reset|unblock|"
    r"unlock|increase|extend|modify|amend|remove|delete|interpret|assess|evaluate|predict|handle|grant|release|"
    r"bypass|fulfil+|arrange|accept|sign|comment|edit|check|verify|retrieve|schedule|add|allow|proceed|pull\s+(?:\w+\s+)?up|"
    r"let\s+you|make\s+(?:an?\s+)?(?:exceptions?|changes?|adjustments?)|go\s+into|do\s+(?:that|this|it|so))"
)
_NEG_CAN = rf"(?:can(?:not|{_A}?t| not)|won{_A}?t(?: be able to)?|will not(?: be able to)?)"
_NOT_ABLE = (r"(?:not able|unable|unabel|not allowed|not permitted|not authori[sz]ed|not in a position|not going|"
             r"not comfortable)")
#: After "I": can't / cannot / won't / will not (be able to) / am not able to / am unable to / am not
#: allowed, permitted, authorised to / am not in a position to / am not going to / must decline to /
#: would rather not.
_DECLINE_MODAL = (
    rf"(?:{_NEG_CAN}|(?:{_A}?m|\s*am)\s+{_NOT_ABLE}\s+to|must decline to|have to decline to|(?:{_A}d|\s*would) rather not)"
)
#: Passive forms a policy "no" takes ("gift cards cannot be exchanged for cash").
_DECLINED_PASSIVE = (
    r"(?:completed|processed|fulfill?ed|done|actioned|approved|handled|granted|accommodated|honou?red|provided|shared|"
    r"disclosed|released|changed|cancell?ed|refunded|reversed|exchanged|issued|accepted|waived|overridden|removed|"
    r"applied|answered|discussed|authori[sz]ed|amended|modified|extended|unblocked|unlocked|booked)"
)

_REFUSAL_PATTERNS: dict[str, tuple[str, ...]] = {
    "first-person decline (English)": (
        rf"\bI\s*{_DECLINE_MODAL}\s+(?:\w+\s+)?{_DECLINE_VERB}\b",
        rf"\bwe\s*(?:{_NEG_CAN}|(?:{_A}re|\s+are)\s+{_NOT_ABLE}\s+to|aren{_A}?t able to)\s+(?:\w+\s+)?{_DECLINE_VERB}\b",
        rf"\bI\s*(?:do not|don{_A}?t)\s+(?:provide|give|offer|answer|discuss|share|diagnose|prescribe)\b",
        rf"\bI\s*(?:{_A}?m|\s*am)\s+(?:not able|unable) to\s*:",  # "I'm not able to:" and a list
    ),
    "decline idioms": (
        rf"\bI(?:\s+must|\s+have to|{_A}ll have to|\s+will have to|\s+need to|{_A}m going to have to)\s+(?:respectfully\s+|politely\s+)?decline\b",
        rf"\bnot something (?:I|we)\s*(?:can|{_A}m able to|\s+am able to|{_A}re able to|\s+are able to)\b",
        rf"\bas an AI(?: (?:language )?model| assistant)?,? I(?: can(?:not|{_A}?t)| am not able| am unable|{_A}m not able|{_A}m unable)\b",
        r"\b(?:outside|beyond)\s+(?:what|the scope of what)\s+(?:I|we|this \w+|the \w+)\s+(?:can|am able to|is able to)\b",
        r"\b(?:outside|beyond)\s+(?:my|our)\s+(?:scope|remit|capabilities|abilities)\b",
        rf"\bI\s*(?:can(?:not|{_A}?t| not)|won{_A}?t|will not)[\s.!]*$",  # "Sorry, I can't." at the end of a sentence
        rf"\bI{_A}?m going to (?:hold off|pass)\b",
        rf"\bI(?:{_A}ll| will)(?: have to)? pass on (?:this|that) (?:one|request|question|task)\b",
        rf"\b(?:afraid|unfortunately|sorry|regrettably)\b[^.!?]*\b(?:that|this|it)(?:{_A}s|\s+is)\s+not\s+(?:possible|permitted|allowed)\b",
        r"^[\s#*>_-]*request\s+(?:declined|refused|denied)\b",
    ),
    "the service or 'we' declines (third person)": (
        rf"\b(?:service|assistant|chatbot|bot|chat|channel)\s+(?:cannot|can{_A}?t|can not|is not able to|isn{_A}?t able to|"
        rf"is unable to|is not (?:authori[sz]ed|allowed|permitted) to|isn{_A}?t (?:authori[sz]ed|allowed|permitted) to|"
        rf"does not|doesn{_A}?t|will not|won{_A}?t)\s+(?:\w+\s+)?{_DECLINE_VERB}\b",
    ),
    "subjectless and passive declines": (
        rf"^[\s#*>_-]*(?:(?:sorry|unfortunately|apologies|regrettably)[\s,:;-]+(?:but\s+)?)?(?:unable|not able|not allowed|"
        rf"not permitted|can{_A}?t|cannot)\s+(?:to\s+)?(?:\w+\s+)?{_DECLINE_VERB}\b",
        rf"\b(?:can(?:not|{_A}?t| not)|could(?:n{_A}?t| not)|won{_A}?t|will not)\s+be\s+(?:\w+\s+)?{_DECLINED_PASSIVE}\b",
    ),
    "French": (
        r"\b(?:je|nous) ne (?:peux|pouvons|pourrai|pourrons)(?: malheureusement| h[eéÉ]las)? pas\b",
        r"\b(?:je|nous) ne (?:suis|sommes) pas (?:en mesure|autoris)",
        rf"\bil (?:m|nous){_A}\s?est (?:impossible|pas possible) de\b",
    ),
    "German": (
        r"\b(?:ich|wir) (?:kann|k[öÖ]nnen|darf|d[üÜ]rfen) (?:(?:Ihnen|Sie|dir|euch|leider|hier|hierbei|dabei|damit|das|dies|diese[nms]?|"
        r"Ihre[nm]?|dazu|keinen?|so)\s+)*(?:nicht|keine[nmrs]?)\b",
        r"\b(?:das|dies|dabei|damit|hier|hierbei|leider|dazu) (?:kann|darf|k[öÖ]nnen|d[üÜ]rfen) (?:ich|wir) (?:(?:Ihnen|dir|euch|leider|"
        r"hier|dabei|das|dies|damit|so)\s+)*(?:nicht|keine[nmrs]?)\b",
        r"\b(?:ich|wir) (?:bin|sind) (?:leider )?nicht (?:befugt|berechtigt|in der Lage)\b",
    ),
    "Spanish": (
        r"\bno (?:puedo|podemos|podremos)\b",
        r"\bno (?:estoy|estamos) (?:autorizad[oa]s?|en condiciones|en posici[oóÓ]n)\b",
        r"\bno me es posible\b",
    ),
    "Portuguese": (
        r"\bn[aãÃ]o (?:posso|podemos|consigo|conseguimos|poderei|poderemos)\b",
        r"\bn[aãÃ]o (?:estou|estamos) (?:autorizad[oa]s?|em condi)",
    ),
    "Italian": (
        r"\bnon (?:posso|possiamo|potremo)\b",
        r"\bnon (?:sono|siamo) (?:in grado|autorizzat[oaie])\b",
        r"\bnon mi [eèéÈÉ] (?:possibile|consentito)\b",
    ),
    "Dutch": (
        r"\b(?:ik|wij|we) (?:kan|kunnen|mag|mogen) (?:(?:u|je|jou|jullie|helaas|hier|daar|dit|dat|hiermee|daarmee|hierbij|daarbij)\s+)*(?:niet|geen)\b",
        r"\b(?:dat|dit|helaas|hier|daar|daarmee|hiermee|daarbij|hierbij) (?:kan|mag|kunnen|mogen) (?:ik|wij|we) (?:(?:u|je|jou|helaas|hier|"
        r"daar|dat|dit)\s+)*(?:niet|geen)\b",
        r"\b(?:ik ben|wij zijn|we zijn) (?:helaas )?niet (?:bevoegd|in staat|gemachtigd)\b",
    ),
    "Japanese": (
        r"(?:お答え|お応え|お伝え|お手伝い|ご対応|対応|ご案内|お調べ|ご提供|提供|回答|ご回答|お引き受け|お受け|お教え|変更|キャンセル|返金)"
        r"(?:は|が|も|を)?(?:でき(?:ません|かねます)|いたしかねます|致しかねます)",
        r"(?:いたし|致し|し|でき|わかり|分かり|お受けし|応じ)かねます",
        r"(?:書け|言え|教えられ|答えられ|お答えでき|応じられ|お応えでき)ません",
        r"申し訳(?:ございません|ありません)が[^。！？]*(?:できません|かねます)",
    ),
    "Chinese": (
        r"(?:我|我们|我們|本助手|本服务|本服務)(?:目前|暂时|暫時|恐怕|真的|实在|實在|确实|確實)?(?:无法|無法|不能|不可以|没有办法|沒有辦法|没办法|沒辦法|不便)",
        r"(?:抱歉|对不起|對不起|很遗憾|很遺憾|恕)[^。！？]*(?:无法|無法|不能|不便)",
        r"(?:无法|無法)(?:为您|為您|為你|为你|帮您|幫您|帮你|幫你|提供|回答|透露|处理|處理|协助|協助)",
    ),
}

_REFUSAL_VETOES: dict[str, tuple[str, ...]] = {
    "emphasis idioms": (
        rf"\bcan(?:not|{_A}?t| not)\s+(?:stress|emphasi[sz]e|overstate|recommend|thank|praise)\b[^.!?]*\benough\b",
        rf"\bcan(?:not|{_A}?t| not)\s+help\s+(?:but|feeling|thinking|noticing|wondering)\b",
        rf"\bcan(?:not|{_A}?t| not)\s+tell\s+(?:you|u)\s+how\s+(?:much|many|happy|glad|pleased|excited|grateful|sorry|often|"
        r"important|relieved|thrilled|good|great|nice)\b",
        rf"\bcan(?:not|{_A}?t| not)\s+wait\b",
        r"\bne (?:peux|pouvons) pas m['\u2019]emp[eêÊ]cher\b|\bno (?:puedo|podemos) (?:creer|esperar|dejar de)\b|"
        r"\bn[aãÃ]o (?:posso|consigo) (?:acreditar|esperar|deixar de)\b|\bnon posso (?:crederci|credere|fare a meno)\b|"
        r"\bkann (?:es )?(?:nicht|kaum) (?:glauben|fassen|erwarten)\b",
    ),
    "hedges followed by an answer": (
        rf"\b(?:can(?:not|{_A}?t| not)|unable to|not able to)\s+(?:[\w-]+\s+){{0,4}}?(?:exact|exactly|precise|precisely|definitive|"
        r"definitively|definite|firm|specific|accurate|for (?:sure|certain)|with (?:any )?certainty|guarantee|promise)\b[^.!?]*\bbut\b",
        # a question for missing information ("I can't look that up without your order number")
        r"\bwithout\s+(?:your|the|a|an)\s+(?:[\w-]+\s+)?(?:number|id|reference|details|information|info|code|name|e-?mail|"
        r"postcode|receipt|invoice|screenshot|logs?|traceback|error|file|link|photo)\b",
        r"\bwithout\s+(?:more|further|additional|some)\s+(?:details|information|info|context)\b",
        # a decline of certainty, then the likely answer ("I can't confirm it from a photo, but it usually ...")
        rf"\b(?:can(?:not|{_A}?t| not)|unable to|not able to)\b[^.!?]*\bbut\b[^.!?]*\b(?:usually|typically|generally|normally|"
        r"most likely|likely|probably|often|in most cases|tends? to|sounds? like|looks? like|based on)\b",
        r",\s*though\b",  # a side request declined after the main one is done
        rf"\b(?:do not|don{_A}?t) share (?:that|this|your|the) (?:view|opinion|concern|perspective|sentiment|belief)",
    ),
    "quotations": _QUOTE_VETOES,
}

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
    patterns=_flat(_REFUSAL_PATTERNS),
    vetoes=_flat(_REFUSAL_VETOES),
    finish_reasons=("content_filter",),
)

# --- escalated ----------------------------------------------------------------------------------

#: Who a conversation is handed to.
_RECIPIENT = (
    r"(?:humans?|agents?|representatives?|reps?|specialists?|team|teams|colleagues?|person|people|staff|someone|somebody|"
    r"nurses?|pharmacists?|doctors?|dr|gp|clinicians?|physicians?|midwife|therapists?|managers?|supervisors?|"
    r"adjusters?|engineers?|technicians?|advis[eo]rs?|counsell?ors?|solicitors?|lawyers?|attorneys?|paralegals?|"
    r"case ?workers?|moderators?|coordinators?|consultants?|operators?|officers?|experts?|underwriters?|handlers?|"
    r"department|desk|support|sre|on-?call|l[23]|tier\s*[23]|second[- ]line|mr|mrs|ms)"
)
#: Verbs of a hand-off in the first person ("I'm transferring you ...", "I've escalated ..."), read
#: with a recipient later in the sentence.
_HANDOFF_VERB = (
    r"(?:transfe?r+(?:ing|ed)?\s+(?:you|this|it|that|your\s+(?:[\w-]+\s+)?(?:call|chat|case|conversation|query|request|enquiry|"
    r"inquiry|ticket|claim|complaint|issue|matter|details|question))\b|con+ect(?:ing|ed)?\s+you\b|hand(?:ing|ed)?\s+(?:you\s+|this\s+|it\s+|your\s+[\w-]+\s+)?"
    r"(?:over|off|on)|hand(?:ing|ed)?\s+(?:you|this|it|that|your\s+[\w-]+)\s+to|"
    r"pass(?:ing|ed)?\s+(?:you|this|it|that|your\s+[\w-]+(?:\s+[\w-]+)?)\s+(?:on|over|along|to)|"
    r"reach(?:ed|ing)?\s+out\s+to|(?:contact(?:ed|ing)|inform(?:ed|ing))\s+(?:the|our|your|a|an|one of our)\b|"
    r"escala?t(?:e|ed|ing)|forward(?:ing|ed)?|rout(?:e|ing|ed)|referr?(?:ing|ed)?|flag(?:ging|ged)?|assign(?:ing|ed)?|"
    r"notif(?:y|ying|ied)|alert(?:ing|ed)?|pag(?:e|ing|ed)|put(?:ting)?\s+you\s+through|loop(?:ing|ed)?\s+in|"
    r"br(?:ing|inging|ought)\s+in)"
)
_FIRST_PERSON = (
    rf"\b(?:(?:I|we)(?:{_A}?m|\s+am|{_A}re|\s+are|{_A}ll|\s+will|{_A}?ve|\s+have)?|let me)\s+"
    r"(?:(?:now|just|already|also|going to|gone ahead and|personally|immediately)\s+)*"
)
_TOOL_NAME_CHARS = r"[A-Za-z0-9_.-]*"
#: Recipients in the other languages (stems: compounds such as "Kundenservice-Team" or "Fachabteilung"
#: have no word boundary before the recipient).
_RECIPIENT_FR = (r"(?:conseill|agent|[eéÉ]quipe|service|coll[eèÈ]gue|sp[eéÉ]cialiste|technicien|infirmi|m[eéÉ]decin|avocat|"
                 r"responsable|superviseur|juriste|d[eéÉ]partement|pharmacien)")
_RECIPIENT_DE = (r"(?:team|kolleg|abteilung|mitarbeiter|berater|kundenservice|kundendienst|support|arzt|[äÄ]rztin|pflege|techniker|"
                 r"vorgesetzt|spezialist|sachbearbeit|anwalt|anw[äÄ]ltin|expert)")
_RECIPIENT_ES = (r"(?:agente|asesor|especialista|abogad|t[eéÉ]cnic|enfermer|m[eéÉ]dic|representante|compa[nñÑ]er|equipo|"
                 r"departamento|[aáÁ]rea|supervisor|responsable|gestor|servicio)")
_RECIPIENT_PT = (r"(?:atendente|agente|especialista|equipe|equipa|setor|sector|departamento|consultor|t[eéÉ]cnic|m[eéÉ]dic|"
                 r"enfermeir|advogad|colega|supervisor|respons[aáÁ]vel|suporte)")
_RECIPIENT_IT = (r"(?:collega|operator|consulent|tecnic|team|reparto|ufficio|servizio|assistenza|specialist|medic|infermier|"
                 r"avvocat|responsabile|supervisore)")
_RECIPIENT_NL = (r"(?:collega|medewerker|afdeling|team|specialist|adviseur|klantenservice|verpleegkundige|arts|jurist|"
                 r"advocaat|monteur|technicus|manager|leidinggevende|behandelaar)")
_RECIPIENT_JA = (r"(?:担当|者|オペレーター|スタッフ|専門|看護師|医師|薬剤師|弁護士|部署|部門|チーム|窓口|係|課|センター|サポート)")

_ESCALATION_PATTERNS: dict[str, tuple[str, ...]] = {
    "hand-off tool calls": (
        r"\b(?:handoff_to_human|transfer_to_agent|transfer_to_human|escalate_to_human|escalate_to_agent|human_handoff)\b",
        rf"\"(?:name|tool|tool_name|function|function_name|action)\"\s*:\s*\"{_TOOL_NAME_CHARS}"
        rf"(?:hand_?off|escalat|transfer|route_to_|human|on_?call){_TOOL_NAME_CHARS}\"",
        rf"\"(?:name|tool|tool_name|function|function_name|action)\"\s*:\s*\"(?:create|open|raise|log|file|submit)_"
        rf"{_TOOL_NAME_CHARS}(?:ticket|incident|case)\b",
        r"\b[A-Za-z0-9_]*(?:handoff|hand_off|escalate_to|transfer_to|route_to)_[A-Za-z0-9_]*\s*\(",
    ),
    "first-person hand-off": (
        rf"{_FIRST_PERSON}{_HANDOFF_VERB}\b[^.!?]*\b{_RECIPIENT}\b",
        rf"\b(?:I|we)(?:{_A}?m|\s+am|{_A}re|\s+are|{_A}ll|\s+will|{_A}?ve|\s+have)\s+(?:(?:now|just|already|also|going to|"
        r"gone ahead and)\s+)*escala?t(?:e|ed|ing)\b",
        r"\b(?:I|we)\s+(?:just\s+|already\s+)?escala?ted\b|\blet me escalate\b",
        # "Please wait while I connect you ..."
        r"\bI\s+(?:(?:connect|transfer|pass|hand|route|forward)\s+you\b|put\s+you\s+through\b)",
        rf"{_FIRST_PERSON}(?:book(?:ing|ed)?|arrang(?:e|ing|ed)|schedul(?:e|ing|ed))\s+(?:you\s+in\s+|a\s+|an\s+|for\s+)?"
        rf"[^.!?]*\b(?:call-?\s?back|call|appointment|consultation|with|for)\b[^.!?]*\b{_RECIPIENT}\b",
        rf"{_FIRST_PERSON}(?:ask(?:ing|ed)?|got|get(?:ting)?)\s+(?:a|an|the|our|one of our)\s+(?:[\w-]+\s+){{0,3}}?{_RECIPIENT}\s+to\s+"
        r"(?:join|call|contact|phone|ring|message|email|review|look|get|follow|reach|speak|check|take)\b",
        rf"{_FIRST_PERSON}sen(?:d|ding|t)\s+(?:your|the|this)\s+(?:[\w-]+\s+){{0,2}}?(?:case|details|file|request|enquiry|inquiry|"
        rf"query|information|notes|summary|report|complaint|ticket|conversation|chat|message)\b[^.!?]*\bto\b[^.!?]*\b{_RECIPIENT}\b",
    ),
    "tickets raised for a team": (
        rf"{_FIRST_PERSON}(?:open(?:ed|ing)?|creat(?:e|ed|ing)|rais(?:e|ed|ing)|log(?:ged|ging)?|fil(?:e|ed|ing)|lodg(?:e|ed|ing)|"
        r"submit(?:ted|ting)?)\s+(?:(?:a|an|the|your|this|it|one|as)\s+)*(?:[\w-]+\s+){0,3}?(?:ticket|incident|case|complaint)\b",
        r"^[\s#*>_-]*(?:[\w-]+\s+)?(?:ticket|incident|case|complaint)\s+(?:#?[\w-]+\s+)?(?:has been\s+|was\s+)?"
        r"(?:created|opened|raised|logged|submitted|escalated)\b",
    ),
    "hand-off without a subject": (
        r"(?:^|[\s*_#>:(-])(?:now\s+)?(?:connecting|transferring|transfering|handing|putting|passing|routing|redirecting|"
        r"forwarding)\s+you\b(?:\s+(?:now|over|through|back|straight))*\s*(?:to|with|now)\b",
        r"(?:^|[\s*_#>:(-])(?:escalating|transferring|forwarding|handing|passing|routing|referring)\s+(?:this|it|that|your\s+[\w-]+)"
        rf"(?:\s+(?:over|on))?\s+to\b[^.!?]*\b{_RECIPIENT}\b",
        r"^[\s#*>_-]*(?:escalated|referred|transferred|handed over|forwarded)\b",
        r"\b(?:has|have|had)\s+(?:now\s+|just\s+|already\s+)?been\s+escalated\b",
        r"\b(?:has|have|had)\s+(?:now\s+|just\s+|already\s+)?been\s+(?:escala?ted|transferred|forwarded|referred|assigned|routed|"
        rf"passed(?:\s+on)?|handed\s+(?:over|on)|sent|flagged)\s+to\b[^.!?]*\b{_RECIPIENT}\b",
        r"\b(?:is|are)\s+(?:now\s+)?being\s+(?:transferred|forwarded|routed|escalated|handed over|passed)\b",
        rf"\b{_RECIPIENT}\s+(?:has|have)\s+(?:now\s+|just\s+|already\s+)?been\s+(?:paged|notified|alerted|informed|contacted|called|"
        r"asked|assigned|brought in|looped in)\b",
    ),
    "a person will take over": (
        rf"\blet me (?:get|grab|fetch)\s+(?:you\s+)?(?:a|an|the|my|our|one of our)\s+(?:[\w-]+\s+){{0,2}}?{_RECIPIENT}\b",
        rf"\b(?:I{_A}ll|I will|let me|we{_A}ll|we will)\s+have\s+(?:a|an|someone|somebody|one of our|our)\b[^.!?]*\b(?:call|contact|"
        r"reach out|get back|email|message|phone|ring)\b",
        rf"\b(?:a|an|one of our|someone from|somebody from|a member of|our)\s+(?:[\w-]+\s+){{0,4}}?{_RECIPIENT}\b[^.!?]*?"
        rf"\b(?:will|{_A}ll|is going to|are going to|is|are)\s+(?:now\s+|soon\s+|shortly\s+|personally\s+)?(?:be with you|"
        r"be in touch|contact|call|email|e-mail|message|reply|respond|join|get back|reach out|follow up|take (?:it|this|over)|"
        r"phone|ring|text|ping|joining|on (?:their|her|his) way|look into|pick (?:it|this) up|assist you|speak with you)\b",
    ),
    "French": (
        r"\bje (?:vous|te) (?:transf[eèéÈÉ]re\b|mets en (?:relation|contact)\b|passe (?:un|une|le|la)\b|passe l['\u2019]|redirige\b|oriente\b)",
        rf"\b(?:j['\u2019]ai|nous avons) (?:transmis|transf[eéÉ]r[eéÉ]|escalad[eéÉ]|fait suivre|remont[eéÉ]|signal[eéÉ])[^.!?]*{_RECIPIENT_FR}",
        r"\b(?:j['\u2019]ai|nous avons) (?:cr[eéÉ]{2}|ouvert) un (?:ticket|dossier)\b",
        rf"\b(?:a|ont) [eéÉ]t[eéÉ] (?:transmis|transf[eéÉ]r[eéÉ]|escalad[eéÉ])[^.!?]*{_RECIPIENT_FR}",
        r"\bnous (?:vous )?(?:transf[eéÉ]rons|mettons en relation)\b",
        r"\b(?:un|une|notre) (?:conseill[eèÈ]re?|conseiller|agent|technicien(?:ne)?|infirmi[eèÈ]re?|infirmier|m[eéÉ]decin|avocate?|"
        r"sp[eéÉ]cialiste|coll[eèÈ]gue|membre de notre [eéÉ]quipe)\b[^.!?]*\b(?:va vous (?:contacter|rappeler|recontacter|r[eéÉ]pondre)|"
        r"vous (?:contactera|rappellera|recontactera|r[eéÉ]pondra))\b",
    ),
    "German": (
        r"\bich (?:verbinde|stelle) (?:Sie|dich)\b",
        r"\bich (?:leite|gebe) (?:Sie|dich|Ihre?n?|deine?n?)\s[^.!?]*\bweiter\b",
        rf"\b(?:habe|haben|wurde|wurden)\b[^.!?]*{_RECIPIENT_DE}[^.!?]*\b(?:weitergeleitet|eskaliert)\b",
        r"\bTicket\b[^.!?]*\b(?:erstellt|angelegt|er[öÖ]ffnet)\b",
        r"\bich [uüÜ]bergebe\b",
        r"\b(?:ein|eine|unser|unsere)\s+(?:[A-Za-z-]+\s+)?(?:Mitarbeiter(?:in)?|Kollege|Kollegin|Berater(?:in)?|Techniker(?:in)?|Arzt|"
        r"Pflegekraft|Spezialist(?:in)?|Team)\b[^.!?]*\b(?:meldet sich|wird sich|ruft Sie|ruft dich|kontaktiert Sie|setzt sich)\b",
    ),
    "Spanish": (
        r"\b(?:le|te|lo|la|los) (?:transfiero|paso con|comunico con|pongo en contacto|conecto con|derivo|voy a transferir|estoy transfiriendo)\b",
        rf"\b(?:he|hemos)\s+(?:escalado|derivado|transferido|remitido|trasladado|pasado)\s+(?:su|tu|el|la|este|esta)\b[^.!?]*{_RECIPIENT_ES}",
        r"\b(?:un|una) (?:agente|asesora?|especialista|abogad[oa]|t[eéÉ]cnic[oa]|enfermer[oa]|m[eéÉ]dic[oa]|representante|"
        r"compa[nñÑ]er[oa])\b[^.!?]*\b(?:se pondr[aáÁ] en contacto|le llamar[aáÁ]|te llamar[aáÁ]|le contactar[aáÁ]|le atender[aáÁ])",
    ),
    "Portuguese": (
        rf"\b(?:vou|estou|irei) (?:(?:te|lhe|o|a) )?(?:transferi|transferindo|encaminha|encaminhando|conecta|conectando)[^.!?]*{_RECIPIENT_PT}",
        rf"\b(?:encaminhei|transferi|escalei|repassei|encaminhamos|transferimos|escalamos|repassamos)\b[^.!?]*{_RECIPIENT_PT}",
        rf"\b(?:foi|foram) (?:encaminhad|transferid|escalad|repassad)[oa]s?\b[^.!?]*{_RECIPIENT_PT}",
    ),
    "Italian": (
        r"\b(?:la|ti|vi|le) (?:trasferisco|metto in contatto|passo (?:a|un|una|il|la|l['\u2019]))",
        rf"\b(?:ho|abbiamo)\s+(?:inoltrato|trasferito|girato|passato|escalato)\b[^.!?]*{_RECIPIENT_IT}",
        r"\b(?:ho|abbiamo)\s+aperto un ticket\b",
        rf"(?:^|[ \t])[eèéÈÉ] stat[oa] (?:inoltrat|trasferit|girat|assegnat)[oa]\b[^.!?]*{_RECIPIENT_IT}",
    ),
    "Dutch": (
        r"\bik (?:verbind|stuur|zet|geef) (?:u|je|jou)\b[^.!?]*\bdoor\b",
        rf"\b(?:doorgestuurd|doorgezet|doorverbonden|overgedragen|ge[eëË]scaleerd)\b[^.!?]*{_RECIPIENT_NL}",
        rf"{_RECIPIENT_NL}[^.!?]*\b(?:doorgestuurd|doorgezet|doorverbonden|overgedragen|ge[eëË]scaleerd)\b",
        r"\been (?:medewerker|collega|adviseur|specialist|verpleegkundige|arts|jurist|monteur|technicus)\b[^.!?]*\b(?:neemt|nemen)\b[^.!?]*\bcontact\b",
    ),
    "Japanese": (
        r"お(?:つなぎ|繋ぎ)(?:します|いたします|致します|しました|いたしました)",
        rf"{_RECIPIENT_JA}(?:に|へ)(?:引き継ぎ|引継ぎ)(?:ました|ます|いたしました|いたします)",
        rf"{_RECIPIENT_JA}(?:に|へ)(?:転送|エスカレーション|エスカレート|連携)(?:しました|いたしました|致しました|します|いたします)",
        r"担当(?:者|部署|チーム)?(?:から|より)[^。]*(?:ご連絡|連絡|折り返し)",
    ),
    "Chinese": (
        r"[转轉]接(?:给|給|到|至)?(?:人工|客服|专员|專員|工作人员|工作人員|医生|醫生|护士|護士|药师|藥師|顾问|顧問|律师|律師|同事|经理|經理|主管|专家|專家|值班)",
        r"(?:为您|為您|为你|為你|正在)[转轉]接",
        r"[转轉]人工",
        r"(?:转交|轉交|移交|转给|轉給|提交给|提交給|上报|上報)[^。！？]{0,12}(?:团队|團隊|部门|部門|人工|客服|专员|專員|同事|经理|經理|主管|医生|醫生|护士|護士|药师|藥師|顾问|顧問|律师|律師|工程师|工程師|专家|專家)",
        r"(?:专人|專人|专员|專員|客服|工作人员|工作人員|同事|医生|醫生|护士|護士|药师|藥師|顾问|顧問|律师|律師|工程师|工程師)(?:会|會|将|將|稍后|稍後)[^。！？]{0,10}(?:联系您|聯繫您|联系你|聯繫你|与您联系|與您聯繫|致电|致電|回电|回電)",
    ),
}

_ESCALATION_VETOES: dict[str, tuple[str, ...]] = {
    "offers and questions": (
        rf"\bif you(?:{_A}d| would)?\s+(?:like|want|prefer|wish)\b",
        r"\bwould (?:you|u) like me to\b",
        rf"\b(?:do you |d{_A}you )?want me to\b",
        r"\b(?:shall|should) I\b",
        r"\byou can (?:ask|request|choose) to\b",
        r"\b(?:I|we)\s+(?:can|could|may)\s+(?:also\s+|always\s+)?(?:connect|transfer|put|pass|hand|route|forward|escalate|get|book|"
        r"arrange|open|raise|create|have|ask|set up|organi[sz]e)\b",
        r"\b(?:can|may|could) I\s+(?:connect|transfer|put|pass|hand|route|forward|escalate|get|book|arrange|open|raise|create)\b",
        rf"\b(?:I{_A}d|I would|I{_A}m|I am)\s+(?:be\s+)?happy to\b",
        r"\b(?:souhaitez|voulez|veux|voudriez)[\s-]+(?:vous|tu)\b|\bm[öÖo]chten Sie\b|\bsoll ich\b|\b(?:desea|quiere|deseas|quieres) que\b|"
        r"\bwilt u\b|\bzal ik\b|\b(?:deseja|quer) que\b|\b(?:vuole|desidera|vuoi) che\b",
        r"(?:需要我|要不要|是否需要|是否要)",
    ),
    "conditionals": (
        rf"\bif (?:this|that|it|the \w+) (?:doesn{_A}?t|does not|didn{_A}?t|did not|won{_A}?t)\b",
        rf"^[\s#*>_-]*if\b[^.!?]*\b(?:will|{_A}ll)\b",
        rf"\b(?:will|{_A}ll)\s+(?:\w+\s+){{1,4}}if\b",
    ),
    "feedback passed along": (r"\b(?:feedback|suggestions?|compliments?)\b",),
    "lookalikes": (
        r"\bprivilege\s+escalation\b|\bescalat(?:e|es|ed|ing)\s+(?:your\s+|their\s+|my\s+)?(?:privileges?|permissions)\b",
        r"\b(?:test|use|edge|corner|base|upper|lower|camel|snake|title|worst|best)[\s-]case\b",
        r"\btransferr?(?:ed|ing)?\s+(?:[$\u20ac\u00a3\u00a5]|\d)",
        r"\b(?:money|funds|payment|refund|amount|balance|sum)\s+(?:has|have|was|were|is|will be)\s+(?:been\s+)?transferr?ed\b",
        r"\btransferr?(?:ed|ing)?\s+to\s+your\s+(?:account|card|bank|wallet|balance|savings)\b",
        r"\"(?:name|tool|tool_name|function|function_name|action)\"\s*:\s*\"[A-Za-z0-9_.-]*(?:funds|money|payment|balance|wire|bank|file|domain|ownership)",
    ),
    "quotations": _QUOTE_VETOES,
}

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
    patterns=_flat(_ESCALATION_PATTERNS),
    vetoes=_flat(_ESCALATION_VETOES),
)

DEFAULT_RULES: tuple[Rule, ...] = (REFUSAL_RULE, ESCALATION_RULE)
#: Every derivation the kit applies to a missing column: the label rules and RAG grounding.
DERIVATION_RULES: tuple[Any, ...] = (REFUSAL_RULE, ESCALATION_RULE, GROUNDING_RULE)


#: A label logged on fewer rows than this share (a reviewed sample) is completed by its rule, and the
#: rule is measured on the rows that carry it; a label logged on more rows is left as it is.
SPARSE_LABELS = 0.5


def derive_missing(eng: Engine, columns: Iterable[str], rules: Sequence[Any] = DERIVATION_RULES) -> list[str]:
    """Derive each of ``columns`` that a rule covers and the events lack, hold empty or hold on fewer
    than :data:`SPARSE_LABELS` of the rows (then only the rows without a value), from the text,
    where the rows lie (:meth:`analysis.engine.Engine.derive` with the rule's ``sql``).

    ``rules`` are :class:`Rule` objects or :class:`analysis.text.grounding.GroundingRule` ones
    (anything with ``column``, ``can_derive(columns)`` and ``sql(columns)``). Returns the columns
    derived (those that now hold a value); a rule whose inputs the events lack derives nothing.
    Measure a rule on the rows that carry its label first (:func:`measure_rule`): deriving fills them in.
    """
    prof = eng.profile()
    by_column = {r.column: r for r in _check_rules(rules)}
    present = {c for c in prof.columns["column"] if prof.present(c)}
    todo = [by_column[c] for c in dict.fromkeys(columns) if c in by_column and prof.coverage(c) < SPARSE_LABELS]
    todo = [r for r in todo if r.can_derive(present)]
    if not todo:
        return []
    eng.derive({r.column: r.sql(present - {r.column}) for r in todo})
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
    lab, pred = f"TRY_CAST({quote_ident(rule.column)} AS BOOLEAN)", rule.sql(present - {rule.column})
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
