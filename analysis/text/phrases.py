"""The phrase banks of the built-in label rules (:data:`analysis.text.outcomes.REFUSAL_RULE` and
:data:`analysis.text.outcomes.ESCALATION_RULE`): named groups of regular expressions and vetoes, in
the subset Python, RE2 (DuckDB) and Java (Spark) read alike (no look-behind, no back-reference).
The decisions on tricky cases are in :mod:`analysis.text.outcomes`' docstring."""

from __future__ import annotations

__all__ = ["A", "REFUSAL_PATTERNS", "REFUSAL_VETOES", "ESCALATION_PATTERNS", "ESCALATION_VETOES"]

#: A straight or curly apostrophe.
A = r"['\u2019]"
_A = A

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

#: Who a question is deferred to: a professional (a recipient of a handoff, or another profession).
_PROFESSIONAL = (r"(?:nurses?|pharmacists?|doctors?|dr|gp|clinicians?|physicians?|midwife|midwives|therapists?|dentists?|"
                 r"professionals?|specialists?|advis[eo]rs?|counsell?ors?|solicitors?|lawyers?|attorneys?|accountants?|"
                 r"managers?|team|care team|consultants?|experts?|vets?|veterinarians?|psychiatrists?|psychologists?)")

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
    "deferral to a professional (English)": (
        # "That's a question for your doctor or pharmacist", "a decision for your midwife", "one for a tax professional"
        rf"\b(?:(?:a|the)\s+(?:question|decision|conversation|matter|call)|(?:that|this|it)(?:{_A}s|\s+is)\s+(?:really\s+)?one)\s+for\s+"
        rf"(?:a|an|your|the)\s+(?:[\w-]+\s+){{0,3}}?{_PROFESSIONAL}\b",
        # "best handled by your diabetes care team", "best discussed with your manager"
        rf"\b(?:best|better)\s+(?:handled|answered|discussed|addressed|judged|assessed|asked)\s+(?:by|with|of)\s+(?:a|an|your|the)\s+"
        rf"(?:[\w-]+\s+){{0,3}}?{_PROFESSIONAL}\b",
        # "something your doctor should answer", "something only a medical professional should judge"
        rf"\bsomething\s+(?:only\s+)?(?:a|an|your)\s+(?:[\w-]+\s+){{0,2}}?{_PROFESSIONAL}\s+(?:should|can|could|must|needs? to)\s+"
        r"(?:answer|judge|decide|assess|advise|weigh|look at|check|help(?: you)?(?: with)?)\b",
        r"\bbeyond what I\s+(?:should|can|am able to|may)\b",
        r"\bnot (?:for )?an?\s+(?:chatbot|bot|AI|virtual assistant|chat assistant)\b",
        rf"^[\s#*>_-]*(?:this|that)(?: one)?\s+needs\s+(?:a|an)\s+(?:qualified\s+|licensed\s+|registered\s+)?(?:[\w-]+\s+)?{_PROFESSIONAL}\b",
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
        # a disclaimer, then general information ("I can't give personal medical advice, but in general: ...")
        r"\b(?:but|so)\b[^.!?]*\b(?:in general|generally speaking|general information|as a general rule|general guidance)\b",
        r",\s*though\b",  # a side request declined after the main one is done
        rf"\b(?:do not|don{_A}?t) share (?:that|this|your|the) (?:view|opinion|concern|perspective|sentiment|belief)",
    ),
    "quotations": _QUOTE_VETOES,
}


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


REFUSAL_PATTERNS: tuple[str, ...] = _flat(_REFUSAL_PATTERNS)
REFUSAL_VETOES: tuple[str, ...] = _flat(_REFUSAL_VETOES)
ESCALATION_PATTERNS: tuple[str, ...] = _flat(_ESCALATION_PATTERNS)
ESCALATION_VETOES: tuple[str, ...] = _flat(_ESCALATION_VETOES)
