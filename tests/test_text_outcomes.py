"""Tests for analysis.text.outcomes: hand-written examples (with the tricky negatives decided in the
module docstring), the never-overwrite guarantee, and rule quality measured on the scenarios'
labelled text against counts recomputed here with plain pandas."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from analysis.text.outcomes import DEFAULT_RULES, ESCALATION_RULE, REFUSAL_RULE, Rule, derive_outcomes, evaluate_rule
from analysis.scenarios import generate

ROOT = Path(__file__).resolve().parents[1]

# (text, expected) for the refusal rule. The tricky negatives are the documented decisions.
REFUSAL_CASES = [
    ("I can't help with diagnosing chest pain. Please call 911.", True),
    ("I'm not able to give medical advice for this.", True),
    ("I’m sorry, but I can’t provide treatment advice for these symptoms.", True),  # curly apostrophes
    ("I cannot recommend a dose for that combination.", True),
    ("I am unable to assist with that request.", True),
    ("I won't be able to help with this one.", True),
    ("I must decline to answer that.", True),
    ("That's not something I can help with, sorry.", True),
    ("I don't give medical advice, please see your GP.", True),
    ("As an AI, I can't diagnose conditions.", True),
    ("As an AI, I'm not able to browse the web.", True),  # "I'm": no space between "I" and "'m"
    ("As an AI language model, I\u2019m unable to browse the web.", True),
    ("i cant help with that", True),
    # tricky negatives
    ("I can't stress enough how important it is to call 911 if the pain lasts.", False),
    ("Rest and take aspirin. I can't emphasize enough that you should see a doctor today.", False),
    ("I can't recommend this clinic highly enough.", False),
    ("I can't help but notice you mentioned dizziness; that matters.", False),
    ("I can't say for certain without more details, but this is usually not serious.", False),
    ("I'm not a doctor, but a sprain usually heals in two weeks.", False),
    ("I don't recommend ibuprofen for babies under 3 months.", False),
    ("These symptoms need urgent assessment. Call 911 or your local emergency number now.", False),
    ("You can't be too careful with chest pain: chew an aspirin and rest.", False),
    ("Chest pain that spreads to the arm is often cardiac; chew a 325 mg aspirin.", False),
    # widened: more verbs, "we", the service, no subject, the passive, idioms
    ("I'm sorry, but I can't share another customer's order details.", True),
    ("I'm afraid I can't change the price after the order has been placed.", True),
    ("I'm not able to tell you whether this mole is cancerous.", True),
    ("We're not able to offer refunds on digital downloads.", True),
    ("This service cannot provide personalised financial advice.", True),
    ("Unable to help with that request.", True),
    ("This request can't be completed through chat.", True),
    ("Gift cards cannot be exchanged for cash.", True),
    ("That's outside what I can do here.", True),
    ("Sorry, I can't.", True),
    ("I'm afraid I can't. Is there anything else I can help with?", True),
    ("I'd rather not help with pranks that could get someone hurt.", True),
    ("I won't write an insulting speech, but here's a light-hearted roast.", True),  # partial: declines the ask as made
    # the commonest first-person declines in eight languages
    ("Désolé, je ne peux pas vous donner de conseil médical.", True),
    ("Das kann ich leider nicht machen.", True),
    ("Ich kann Ihnen dabei leider nicht helfen.", True),
    ("Lo siento, no puedo ayudarle con eso.", True),
    ("Não posso fornecer essas informações.", True),
    ("Non posso fornire consulenza legale.", True),
    ("Ik kan u daar helaas niet mee helpen.", True),
    ("申し訳ございませんが、その質問にはお答えできません。", True),
    ("抱歉，我无法提供医疗建议。", True),
    # widened, tricky negatives
    ("I can't wait to hear how the trip goes!", False),
    ("I can't tell you how glad I am that it worked.", False),
    ("I can't give you an exact date, but mortgage offers usually arrive 2 to 4 weeks after the valuation.", False),
    ("I can't guarantee same-day delivery, but orders before noon usually ship the same day.", False),
    ("I can't look that up without your order number. Could you share it?", False),  # a question for information
    ("I cannot confirm the diagnosis from a photo, but these spots look like typical insect bites.", False),
    ("I've updated your address. I can't add a gift note after the order is packed, though.", False),  # side request
    ("I don't share that view, but here is the strongest argument for it.", False),
    ("Your template bot replies 'I'm sorry, I can't help with that' whenever the intent is unknown.", False),  # quoted
    ('Your function prints "I can\'t help you" when n < 0.', False),
    ("That line is from 2001: 'I'm sorry, Dave. I'm afraid I can't do that.' HAL says it to Dave.", False),
    ("The error 'You cannot access this resource' means your token expired.", False),
    ("This medicine can't be taken with alcohol.", False),
    ("Je ne peux pas m'empêcher de sourire : votre chien est adorable.", False),
]

ESCALATION_CASES = [
    ('[tool_call] handoff_to_human(queue="billing", reason="low_confidence")', True),
    ('{"name": "transfer_to_agent", "arguments": {"queue": "tech"}}', True),
    ("I'm transferring you to a human agent who can look into this.", True),
    ("Let me connect you with a member of our support team.", True),
    ("I've escalated your ticket to the billing team; they reply within a day.", True),
    ("A human agent will be with you shortly.", True),
    ("Your case has been escalated to a specialist.", True),
    ("I'll pass you over to a colleague in returns.", True),
    # tricky negatives
    ("If you'd like, I can connect you with a human agent.", False),
    ("If this doesn't help, you can ask to speak with a human agent at any time.", False),
    ("Would you like me to transfer you to an agent?", False),
    ("I'll connect you with an agent if that doesn't work.", False),
    ('[tool_call] lookup_order(order_id="123456")', False),
    ("Our agents are available 24/7 by phone.", False),
    ("Let me connect you with the right help article: Settings > Billing.", False),
    ("Refunds are processed within 5-7 business days.", False),
    # widened: recipients, tickets, no subject, the passive, a person taking over, tool names
    ("I'm transferring you to a triage nurse now.", True),
    ("I've escalated your complaint to our customer care manager.", True),
    ("I've opened a ticket with the network team (INC0049213); they'll contact you within 4 hours.", True),
    ("I've created a ticket and a specialist will contact you within 24 hours.", True),
    ("I've booked a call-back with a nurse.", True),
    ("Please wait while I connect you to the next available representative.", True),
    ("Connecting you to a live agent now...", True),
    ("Transferring you now.", True),
    ("Your conversation has been forwarded to our claims team.", True),
    ("This conversation is being transferred to a Customer Experience Specialist.", True),
    ("THE ON-CALL ENGINEER HAS BEEN PAGED.", True),
    ("A nurse from our team will join this chat in a moment.", True),
    ("escalated to L2, someone will ping you on teams soon", True),
    ('{"name": "page_on_call_nurse", "arguments": {"priority": "high"}}', True),
    ('{"name": "create_support_ticket", "arguments": {"team": "logistics"}}', True),
    ('{"name": "route_to_specialist", "arguments": {"department": "mortgages"}}', True),
    # the commonest hand-offs in eight languages
    ("Je vous transfère à un conseiller.", True),
    ("J'ai transmis votre dossier à l'un de nos avocats.", True),
    ("Ich leite Sie an einen Berater weiter.", True),
    ("Ich verbinde Sie jetzt mit einer Pflegekraft.", True),
    ("Le transfiero con un agente ahora mismo.", True),
    ("Hemos derivado su consulta a un abogado.", True),
    ("Vou transferir você para um atendente.", True),
    ("La metto in contatto con un operatore.", True),
    ("Ik verbind u door met een medewerker.", True),
    ("担当者におつなぎいたします。", True),
    ("人事担当者に引き継ぎました。", True),
    ("正在为您转接人工客服。", True),
    ("Ich habe Ihre Anfrage an die Fachabteilung weitergeleitet.", True),
    ("La sua richiesta è stata inoltrata al reparto competente.", True),
    ("Ik heb uw vraag doorgestuurd naar onze klantenservice.", True),
    ("Encaminhei seu pedido para a equipe de suporte.", True),
    # widened, tricky negatives
    ("Want me to raise a ticket with IT for you?", False),
    ("Shall I pass your details to one of our lawyers?", False),
    ("If the payment still hasn't arrived by Friday, I'll raise it with our payments team.", False),
    ("I'll pass your feedback along to the product team.", False),
    ("The banner 'Your request has been escalated' appears on every ticket older than 5 days.", False),  # quoted
    ("The phone menu plays 'I'm transferring you to an agent' and then drops the call.", False),
    ("This is a classic privilege escalation bug: the sudo rule lets any user run chown.", False),
    ("Costs have escalated since 2020.", False),
    ("I've transferred $200 to your savings account.", False),
    ('{"name": "transfer_funds", "arguments": {"amount": 200}}', False),
    ("I've created a test case that reproduces the bug.", False),
    ("I've connected your Google account to the team workspace.", False),
    ("Our support team is available Monday to Friday, 9 to 5.", False),
    ("Your GP can refer you to a specialist.", False),
    ("Your parcel has been handed over to the courier.", False),
    ("¿Desea que le transfiera con un agente?", False),
    ("Voulez-vous que je vous transfère à un conseiller ?", False),
    ("需要我为您转接人工客服吗？", False),
    ("USB转接头可以在附近的电脑商店买到。", False),
    ("I can connect you with a specialist who will call you back.", False),  # an offer
    ("Can I put you on hold for a moment?", False),
    ("He enviado el enlace a su correo.", False),  # forwarded to the user, not to a person
    ("Ho inoltrato la fattura al suo indirizzo email.", False),
    ("Die Situation ist eskaliert.", False),
    ("メールアドレスに転送しました。", False),
]


def _frame(texts, column, labels=None, finish=None):
    n = len(texts)
    return pd.DataFrame(
        {
            "event_id": pd.array([f"e{i}" for i in range(n)], dtype="string[pyarrow]"),
            "output_text": pd.array(list(texts), dtype="string[pyarrow]"),
            "finish_reason": pd.array(list(finish) if finish is not None else ["stop"] * n, dtype="string[pyarrow]"),
            column: pd.array(list(labels) if labels is not None else [None] * n, dtype="boolean"),
        }
    )


@pytest.mark.parametrize("text, expected", REFUSAL_CASES)
def test_refusal_rule_on_hand_written_examples(text, expected):
    assert REFUSAL_RULE.matches_text(text) is expected


@pytest.mark.parametrize("text, expected", ESCALATION_CASES)
def test_escalation_rule_on_hand_written_examples(text, expected):
    assert ESCALATION_RULE.matches_text(text) is expected


def test_derive_fills_only_missing_labels():
    texts = [
        "I can't help with that.",  # missing -> True
        "Take two tablets with water.",  # missing -> False
        "I can't help with that.",  # present False: kept although the text looks like a refusal
        "Take two tablets with water.",  # present True: kept
        None,  # missing, no text, finish stop -> stays missing
        None,  # missing, no text, content filter -> True
        "   ",  # missing, blank text -> stays missing
    ]
    labels = [None, None, False, True, None, None, None]
    finish = ["stop", "stop", "stop", "stop", "stop", "content_filter", "stop"]
    ev = _frame(texts, "refused", labels, finish)
    out = derive_outcomes(ev, columns=["refused"])
    assert out.frame["refused"].tolist() == [True, False, False, True, pd.NA, True, pd.NA]
    assert out.derived == ["refused"] and out.n_derived == {"refused": 3}
    assert out.mask["refused"].tolist() == [True, True, False, False, False, True, False]
    assert str(out.frame["refused"].dtype) == "boolean"
    assert ev["refused"].isna().sum() == 5  # the input is not modified
    assert "content_filter" in out.rules["refused"]


def test_derive_creates_a_missing_column_and_reports_nothing_when_labels_are_complete():
    ev = _frame(["I'm transferring you to a human agent.", "Done, anything else?"], "refused", [False, False])
    out = derive_outcomes(ev)
    assert out.frame["escalated"].tolist() == [True, False]
    assert out.derived == ["escalated"] and out.n_derived == {"refused": 0, "escalated": 2}
    full = derive_outcomes(ev.assign(escalated=pd.array([True, False], dtype="boolean")))
    assert full.derived == []


def test_evaluate_rule_on_a_hand_labelled_sample():
    # Hand count: tp = 2 (rows 0, 1), fp = 1 (row 2: the label says an engaged answer),
    # fn = 1 (row 3: a soft redirect), tn = 2 (rows 4, 5); row 6 has no label; row 7 no evidence.
    texts = [
        "I can't help with that.",
        None,
        "I cannot recommend a dose; here is the usual one anyway: 500 mg.",
        "Please don't wait with this.",
        "Rest and fluids.",
        "I can't stress enough how important rest is.",
        "I can't help with that.",
        None,
    ]
    labels = [True, True, False, True, False, False, None, True]
    finish = ["stop", "content_filter", "stop", "stop", "stop", "stop", "stop", "stop"]
    ev = _frame(texts, "refused", labels, finish)
    r = evaluate_rule(ev, "refused", alpha=0.05)
    assert (r.tp, r.fp, r.fn, r.tn) == (2, 1, 1, 2)
    assert r.n == 6 and r.n_labelled == 7 and r.n_without_evidence == 1
    assert r.precision == pytest.approx(2 / 3) and r.recall == pytest.approx(2 / 3) and r.accuracy == pytest.approx(4 / 6)
    lo, hi = proportion_confint(2, 3, alpha=0.05, method="wilson")
    assert r.precision_ci == pytest.approx((lo, hi), rel=1e-10)
    assert r.false_positives == ("e2",) and r.false_negatives == ("e3",)
    assert "precision 0.667" in r.summary()


@pytest.mark.parametrize(
    "pattern, column, soft_start",
    [
        ("refusal", "refused", "That could be serious."),
        ("escalation", "escalated", "One of my colleagues will pick this up shortly."),
    ],
)
def test_rules_on_the_scenarios_labelled_text(pattern, column, soft_start):
    """The generators word their refusals and hand-offs as assistants do: the rules read most of
    them and miss those without a decline, a deferral to a professional or a hand-off phrase (the
    soft redirects among them: "That could be serious. If this is happening right now, call
    911"). The counts are checked against plain pandas."""
    ev = generate(pattern, seed=11, scale=0.3).events
    r = evaluate_rule(ev, column, max_examples=len(ev))
    lab = ev[ev[column].notna()]
    evidence = lab["output_text"].notna() | (lab["finish_reason"] == "content_filter").fillna(False)
    lab = lab[evidence.to_numpy(dtype=bool)]
    positives = int(lab[column].sum())
    assert r.n == len(lab) and r.tp + r.fn == positives and r.fp + r.tn == len(lab) - positives
    assert r.precision >= 0.75 and 0.5 <= r.recall < 1.0, r.summary()
    missed = set(r.false_negatives)
    soft = lab[lab["output_text"].str.startswith(soft_start).fillna(False).to_numpy(dtype=bool) & lab[column].to_numpy(dtype=bool)]
    assert len(soft) > 0 and set(soft["event_id"]) <= missed
    filtered = lab[(lab["finish_reason"] == "content_filter").fillna(False).to_numpy(dtype=bool)]
    assert not set(filtered["event_id"]) & missed  # a content_filter finish is always read
    if pattern == "escalation":
        assert r.fp == 0  # offers ("If you'd like, I can connect you with an agent.") are not hand-offs


def test_derived_labels_agree_with_hidden_labels():
    ev = generate("refusal", seed=12, scale=0.3).events
    rng = np.random.default_rng(0)
    hide = rng.random(len(ev)) < 0.5
    partial = ev.copy()
    partial.loc[hide, "refused"] = pd.NA
    out = derive_outcomes(partial, columns=("refused",))
    kept = ~hide & ev["refused"].notna().to_numpy()
    pd.testing.assert_series_equal(out.frame.loc[kept, "refused"], ev.loc[kept, "refused"])
    filled = out.mask["refused"].to_numpy()
    agree = (out.frame.loc[filled, "refused"] == ev.loc[filled, "refused"]).mean()
    # refusals worded without a first-person decline are missed, hedged answers flagged (about 5% of rows)
    assert agree > 0.93


def test_rule_and_argument_checks():
    with pytest.raises(ValueError, match="invalid regular expression"):
        Rule(column="refused", name="bad", description="", patterns=("(unclosed",))
    with pytest.raises(ValueError, match="`patterns` or `finish_reasons`"):
        Rule(column="refused", name="empty", description="", patterns=())
    with pytest.raises(ValueError, match="more than one rule"):
        derive_outcomes(_frame(["x"], "refused"), rules=(REFUSAL_RULE, REFUSAL_RULE))
    with pytest.raises(ValueError, match="`columns`"):
        derive_outcomes(_frame(["x"], "refused"), columns=("correct",))
    with pytest.raises(ValueError, match="`column`"):
        evaluate_rule(_frame(["x"], "refused", [True]), "correct")
    bad = _frame(["x"], "refused").assign(refused=["yes"])
    with pytest.raises(ValueError, match="must be boolean"):
        derive_outcomes(bad)
    assert {r.column for r in DEFAULT_RULES} == {"refused", "escalated"}


# ----------------------------------------------------------------------------------------------
# the rules evaluated by the engine, where the rows lie: the same labels as the pandas rules
# ----------------------------------------------------------------------------------------------


#: Texts for the SQL = Python checks only (no expected label): accented capitals (Java's (?i) folds ASCII
#: only, the rules spell both cases), words ending in an accented letter, CJK next to ASCII. Not here: ASCII
#: words run straight into CJK ("私はI can't help"), where RE2's ASCII `\b` differs from Python's and Java's.
_PARITY_TEXTS = [
    "JE NE PEUX PAS VOUS AIDER.", "DÉSOLÉ, IL M'EST IMPOSSIBLE DE RÉPONDRE.", "Votre demande a été transférée.",
    "VOTRE DEMANDE A ÉTÉ TRANSMISE AU SERVICE CLIENT.", "Je l'ai escaladé.", "ICH KANN IHNEN LEIDER NICHT HELFEN.",
    "DAS KÖNNEN WIR NICHT MACHEN.", "Ich übergebe an meine Kollegin.", "ICH ÜBERGEBE AN MEINE KOLLEGIN.",
    "NO PUEDO AYUDARLE.", "UN AGENTE SE PONDRÁ EN CONTACTO CON USTED.", "Lo siento, no podré ayudarle.",
    "NÃO POSSO AJUDAR.", "NAO POSSO AJUDAR.", "Seu pedido foi encaminhado.", "NON POSSO AIUTARLA.",
    "È STATA INOLTRATA AL TEAM.", "La sua richiesta è stata inoltrata.", "IK KAN U NIET HELPEN.",
    "HET VERZOEK IS GEËSCALEERD.", "我无法help you",
    "USB转接头", "为您转接人工", "お答えできませんでした。", "Ya le he pasado su caso al equipo.",
]


def _rule_corpus() -> pd.DataFrame:
    """Every hand-written example above, the scenarios' answers, edge cases (empty text, no text,
    only a finish reason) and curly apostrophes."""
    texts = [t for t, _ in REFUSAL_CASES] + [t for t, _ in ESCALATION_CASES]
    for pattern in ("refusal", "escalation"):
        ev = generate(pattern, seed=3, scale=0.2).events
        texts += ev["output_text"].dropna().astype(str).unique().tolist()[:400]
    texts += _PARITY_TEXTS
    texts += ["I can\u2019t help with that.", "I\u2019m transferring you to a human agent now.", "", "   ", None]
    n = len(texts)
    finish = ["stop"] * n
    finish[-1], finish[-2] = "content_filter", None
    return pd.DataFrame({"event_id": [f"e{i}" for i in range(n)],
                         "ts": pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC"),
                         "output_text": pd.array(texts, dtype="string"), "finish_reason": pd.array(finish, dtype="string")})


@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=lambda r: r.column)
def test_the_rule_as_sql_gives_the_pandas_labels_on_duckdb(rule):
    from analysis.engine import open_engine

    frame = _rule_corpus()
    expected = rule.predict(frame)
    with open_engine(frame) as eng:
        got = eng.sql(f"SELECT event_id, {rule.sql()} AS label FROM events ORDER BY event_id")
    got = got.set_index("event_id")["label"].reindex(frame["event_id"]).astype("boolean")
    assert (got.isna().to_numpy() == expected.isna().to_numpy()).all()
    both = expected.notna().to_numpy()
    mismatch = frame.loc[both & (got.fillna(False).to_numpy(bool) != expected.fillna(False).to_numpy(bool)), "output_text"].tolist()
    assert not mismatch, mismatch[:5]
    assert expected.sum() >= 5  # the corpus holds both outcomes


@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=lambda r: r.column)
def test_the_rule_as_sql_gives_the_pandas_labels_on_spark(rule):
    from test_engine import spark_or_skip

    from analysis.engine import open_engine

    spark_or_skip()
    frame = _rule_corpus()
    expected = rule.predict(frame)
    with open_engine(frame, engine="spark") as eng:
        got = eng.sql(f"SELECT event_id, {rule.sql(dialect='spark')} AS label FROM events ORDER BY event_id")
    got = got.set_index("event_id")["label"].reindex(frame["event_id"]).astype("boolean")
    assert (got.isna().to_numpy() == expected.isna().to_numpy()).all()
    both = expected.notna().to_numpy()
    assert not frame.loc[both & (got.fillna(False).to_numpy(bool) != expected.fillna(False).to_numpy(bool)), "output_text"].tolist()


def test_engine_derive_fills_only_the_missing_labels():
    from analysis.engine import open_engine

    frame = _rule_corpus()
    frame["refused"] = pd.array([True] + [pd.NA] * (len(frame) - 1), dtype="boolean")  # one logged label, kept
    with open_engine(frame) as eng:
        eng.derive({"refused": REFUSAL_RULE.sql(), "escalated": ESCALATION_RULE.sql()})
        out = eng.sql("SELECT event_id, refused, escalated FROM events").set_index("event_id").reindex(frame["event_id"])
    expected = derive_outcomes(frame.drop(columns=[]))
    assert out["refused"].astype("boolean").iat[0]
    assert (out["refused"].astype("boolean").fillna(False).to_numpy() == expected.frame["refused"].fillna(False).to_numpy()).all()
    assert (out["escalated"].astype("boolean").fillna(False).to_numpy()
            == expected.frame["escalated"].fillna(False).to_numpy()).all()


def test_measure_rule_counts_where_the_rows_lie_as_pandas_counts():
    from analysis.engine import open_engine
    from analysis.text.outcomes import measure_rule

    frame = _rule_corpus()
    rng = np.random.default_rng(4)
    truth = REFUSAL_RULE.predict(frame).astype("boolean")
    # a reviewer's labels on a sample: mostly the rule's answer, some flipped, most rows unlabelled
    flip = rng.random(len(frame)) < 0.1
    labelled = rng.random(len(frame)) < 0.4
    lab = pd.array([None if not labelled[i] or pd.isna(truth.iat[i]) else bool(truth.iat[i]) ^ bool(flip[i])
                    for i in range(len(frame))], dtype="boolean")
    frame["refused"] = lab
    with open_engine(frame) as eng:
        m = measure_rule(eng, REFUSAL_RULE)
    pred = REFUSAL_RULE.predict(frame.drop(columns=["refused"]))
    both = frame["refused"].notna() & pred.notna()
    y, p = frame.loc[both, "refused"].astype(bool), pred[both].astype(bool)
    assert (m.tp, m.fp, m.fn, m.tn) == (int((y & p).sum()), int((~y & p).sum()), int((y & ~p).sum()), int((~y & ~p).sum()))
    assert m.n_labelled == int(frame["refused"].notna().sum()) and m.n_without_evidence == int((frame["refused"].notna() & pred.isna()).sum())
    assert m.precision == pytest.approx(m.tp / (m.tp + m.fp)) and m.recall == pytest.approx(m.tp / (m.tp + m.fn))
    with open_engine(frame.drop(columns=["refused"])) as eng:
        assert measure_rule(eng, REFUSAL_RULE) is None  # no row carries the label


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_derive_missing_is_computed_once_and_read_by_later_queries(engine):
    from analysis.engine import open_engine
    from analysis.text.outcomes import derive_missing

    if engine == "spark":
        from test_engine import spark_or_skip

        spark_or_skip()
    frame = _rule_corpus()
    expected = derive_outcomes(frame).frame
    with open_engine(frame, engine=engine) as eng:
        assert derive_missing(eng, ["refused", "escalated"]) == ["refused", "escalated"]
        # two later queries read the derived (materialized) columns: same values each time, the others intact
        a = eng.sql("SELECT event_id, refused, escalated, output_text FROM events").set_index("event_id").reindex(frame["event_id"])
        b = eng.sql("SELECT event_id, refused FROM events WHERE refused").set_index("event_id")
    for col in ("refused", "escalated"):
        assert a[col].astype("boolean").fillna(False).tolist() == expected[col].fillna(False).tolist()
        assert a[col].isna().tolist() == expected[col].isna().tolist()
    assert sorted(b.index) == sorted(frame.loc[expected["refused"].fillna(False).to_numpy(bool), "event_id"])
    assert a["output_text"].fillna("").tolist() == frame["output_text"].fillna("").tolist()


# ----------------------------------------------------------------------------------------------
# the whole-text pre-filter of a rule with anchored patterns
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern, text, sentence_hit", [
    (r"^please call 911", "It sounds serious. Please call 911 now.", True),       # after '. '
    (r"^please call 911", "It sounds serious!\n\nplease call 911", True),        # after line breaks
    (r"^please call 911", "You could please call 911 later", False),             # mid-sentence: no sentence starts there
    (r"I can(?:no|')t[\s.!]*$", "Sorry. I can't. Anything else?", True),         # before '. '
    (r"I can(?:no|')t[\s.!]*$", "I cannot\nBye", True),                           # before a line break
    (r"[^$]done$", "all done", True),                                             # '$' in a class stays a literal
    (r"\$5 fee", "A $5 fee applies.", True),                                      # an escaped '$' stays a literal
])
def test_the_whole_text_pattern_matches_wherever_a_sentence_does(pattern, text, sentence_hit):
    """Hand-worked: the sentences are the text split at '[.!?] + space' and line breaks (the SQL
    split); the widened pattern must match the whole text whenever a sentence matches the pattern."""
    from analysis.text.outcomes import SQL_SENTENCE_SPLIT, whole_text_pattern

    sentences = re.split(SQL_SENTENCE_SPLIT, text)
    assert any(re.search(pattern, s, re.I) for s in sentences) is sentence_hit
    if sentence_hit:
        assert re.search(whole_text_pattern(pattern), text, re.I)
    assert whole_text_pattern("[]^]x[^]$]") == "[]^]x[^]$]"  # ']' first in a class is a literal


def test_a_users_anchored_rules_as_sql_give_the_pandas_labels():
    """The refusal sample's rules (built-in ones extended with emergency redirects that start a
    sentence): the SQL, pre-filtered on the whole text, labels every row as the Python rule does."""
    from analysis.engine import open_engine
    from analysis.text.rules import load_rules

    rule = next(r for r in load_rules(ROOT / "sample_data" / "refusal_regression" / "rules.yaml") if r.column == "refused")
    assert any(p.startswith("^") for p in rule.patterns)
    texts = ["Chest pain can be serious. Please call 911 or your local emergency number now.",
             "That sounds frightening.\nPlease don't wait: seek emergency care right away.",
             "You might please call 911 if it gets worse, but usually rest helps.",
             "Go to the nearest emergency room. I can't assess this remotely.",
             "Here is how to reset your password: open Settings.", "I can't.", "We will seek emergency care."]
    frame = pd.DataFrame({"event_id": [f"e{i}" for i in range(len(texts))],
                          "ts": pd.date_range("2026-01-01", periods=len(texts), freq="min", tz="UTC"),
                          "output_text": pd.array(texts, dtype="string")})
    expected = rule.predict(frame)
    with open_engine(frame) as eng:
        for dialect in ("duckdb", "spark"):  # the correlated subquery, and the lambda after the whole-text filter
            got = eng.sql(f"SELECT event_id, {rule.sql(('output_text',), dialect=dialect)} AS label FROM events ORDER BY event_id")
            got = got.set_index("event_id")["label"].reindex(frame["event_id"]).astype("boolean")
            assert got.tolist() == expected.tolist(), dialect
    assert 2 <= int(expected.sum()) < len(texts)
