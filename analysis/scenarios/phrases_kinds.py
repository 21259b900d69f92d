"""The incident kinds' wording: the generic assistant's users write in the application's language
(``en``, ``de``, ``fr``, ``es``, ``ja``; some in English whatever their setting) and the model
answers in the language it was written to (now and then in English). Answers, wrong answers,
refusals and hand-offs follow the drawn outcomes (see :mod:`analysis.scenarios.wording` and
:mod:`analysis.scenarios.phrases_kinds_topics`)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .phrases_kinds_topics import TOPICS
from .wording import GREETINGS, SIGN_OFFS, SIGNATURES, Grammar, fill_cells, roughen, with_boilerplate

LANGUAGES = ("en", "de", "fr", "es", "ja")
#: Share of non-English users who write in English, and of answers to them given in English.
WRITE_ENGLISH, ANSWER_ENGLISH = 0.12, 0.05

_SAY: dict[str, Grammar] = {
    "en": {
        "ctx": ("I ordered last week.", "I'm on the annual plan.", "I bought it in your online shop.",
                "It's a gift for my daughter.", "Second time asking.", "I looked in the FAQ but couldn't find it."),
        "greet": GREETINGS, "thanks": SIGN_OFFS, "sig": SIGNATURES,
        "vague": ("hello?", "I have a question", "can you help me", "it still doesn't work", "same problem as yesterday", "hi"),
        "lead": ("Sure!", "Good question.", "Happy to help.", "Thanks for asking.", "Of course."),
        "close": ("Anything else I can help with?", "Hope that helps!", "Let me know if you have other questions."),
        "refuse": ("I'm sorry, but I can't help with that request.", "I'm not able to help with this one.",
                   "That's not something I can assist with.", "Sorry, I can't provide that information.",
                   "I'd rather not answer that, but I'm happy to help with something else.",
                   "Unfortunately I can't share details about that.", "I won't be able to answer this question.",
                   "This isn't something I can advise on; please contact a qualified professional."),
        "hand": ("Let me connect you with a member of our team.", "I'm transferring you to a human agent now.",
                 "I've passed this to our support team; someone will reply shortly.", "A colleague will take over this chat in a moment.",
                 "I'll hand this over to a specialist who can check your account.", "One of our agents will follow up with you."),
        "guard": ("Sorry, this request was blocked by our content policy.",
                  "This message can't be processed because it may violate our usage policy.",
                  "Your request was flagged by our safety system and could not be completed."),
    },
    "de": {
        "ctx": ("Ich habe letzte Woche bestellt.", "Ich habe das Jahresabo.", "Gekauft im Online-Shop.",
                "Ist ein Geschenk für meine Tochter.", "Ich frage zum zweiten Mal.", "In den FAQ habe ich nichts gefunden."),
        "greet": ("Hallo,", "Guten Tag,", "Hi,", "Moin,", "Hallo zusammen,", "Servus,"),
        "thanks": ("Danke!", "Vielen Dank im Voraus.", "Danke und Gruß", "LG", "Danke schön"),
        "sig": ("Von meinem iPhone gesendet", "Gesendet von meinem Samsung", "Mit freundlichen Grüßen\nK. Weber"),
        "vague": ("Hallo?", "Ich habe eine Frage", "Es geht immer noch nicht", "Können Sie mir helfen?", "gleiches Problem wie gestern"),
        "lead": ("Gern!", "Gute Frage.", "Danke für Ihre Nachricht.", "Natürlich."),
        "close": ("Kann ich sonst noch helfen?", "Ich hoffe, das hilft.", "Viele Grüße!"),
        "refuse": ("Das kann ich leider nicht beantworten.", "Tut mir leid, dabei kann ich nicht helfen.", "Dazu darf ich keine Auskunft geben.",
                   "Entschuldigung, diese Anfrage kann ich nicht bearbeiten.", "Hierzu kann ich Ihnen leider keine Informationen geben."),
        "hand": ("Ich verbinde Sie mit einem Mitarbeiter.", "Ich leite Ihre Anfrage an unser Support-Team weiter.",
                 "Einen Moment, ein Kollege übernimmt gleich den Chat.", "Ich übergebe das an einen Kollegen aus dem Kundenservice."),
    },
    "fr": {
        "ctx": ("J'ai commandé la semaine dernière.", "J'ai l'abonnement annuel.", "Acheté sur votre site.",
                "C'est un cadeau pour ma fille.", "Je demande pour la deuxième fois.", "Je n'ai rien trouvé dans la FAQ."),
        "greet": ("Bonjour,", "Salut,", "Bonsoir,", "Bonjour à vous,", "Hello,"),
        "thanks": ("Merci !", "Merci d'avance.", "Cordialement", "Merci beaucoup", "Bonne journée"),
        "sig": ("Envoyé de mon iPhone", "Envoyé depuis mon mobile", "Cordialement,\nC. Martin"),
        "vague": ("Bonjour ?", "J'ai une question", "Ça ne marche toujours pas", "Vous pouvez m'aider ?", "même problème qu'hier"),
        "lead": ("Bien sûr !", "Bonne question.", "Merci pour votre message.", "Avec plaisir."),
        "close": ("Puis-je vous aider pour autre chose ?", "J'espère que cela vous aide.", "Bonne journée !"),
        "refuse": ("Désolé, je ne peux pas vous aider avec cette demande.", "Je ne suis pas en mesure de répondre à cette question.",
                   "Je suis navré, mais je ne peux pas traiter cette demande.", "Malheureusement, je ne peux pas vous renseigner à ce sujet.",
                   "Cette demande ne peut pas être traitée."),
        "hand": ("Je vous mets en relation avec un conseiller.", "Je transfère votre demande à notre équipe support.",
                 "Un collègue va reprendre la conversation dans un instant.", "Je transmets votre dossier à un agent."),
    },
    "es": {
        "ctx": ("Hice el pedido la semana pasada.", "Tengo el plan anual.", "Lo compré en su tienda online.",
                "Es un regalo para mi hija.", "Es la segunda vez que pregunto.", "No encontré nada en las preguntas frecuentes."),
        "greet": ("Hola,", "Buenas,", "Buenos días,", "Hola, ¿qué tal?", "Buenas tardes,"),
        "thanks": ("¡Gracias!", "Gracias de antemano.", "Saludos", "Un saludo", "Mil gracias"),
        "sig": ("Enviado desde mi iPhone", "Enviado desde mi móvil", "Saludos,\nL. García"),
        "vague": ("¿Hola?", "Tengo una pregunta", "Sigue sin funcionar", "¿Me pueden ayudar?", "el mismo problema de ayer"),
        "lead": ("¡Claro!", "Buena pregunta.", "Gracias por escribirnos.", "Por supuesto."),
        "close": ("¿Te puedo ayudar en algo más?", "Espero que te sirva.", "¡Que tengas un buen día!"),
        "refuse": ("Lo siento, no puedo ayudarte con esa solicitud.", "No puedo responder a esa pregunta.",
                   "Disculpa, pero no estoy en condiciones de ayudar con esto.", "Lamentablemente no puedo darte esa información.",
                   "Esa consulta no la puedo atender."),
        "hand": ("Te paso con un agente de nuestro equipo.", "Voy a transferir tu consulta a un compañero.",
                 "Un agente continuará la conversación en breve.", "He enviado tu caso a nuestro equipo de soporte."),
    },
    "ja": {
        "ctx": ("先週注文しました。", "年間プランを利用しています。", "オンラインストアで購入しました。", "娘へのプレゼントです。", "2回目の問い合わせです。", "FAQを見ても分かりませんでした。"),
        "greet": ("こんにちは。", "すみません、", "お世話になっております。", "質問です。", "初めて問い合わせます。"),
        "thanks": ("よろしくお願いします。", "ありがとうございます。", "お願いします。", "助かります！", "宜しくお願い致します。"),
        "sig": ("iPhoneから送信", "Androidから送信"),
        "vague": ("すみません", "質問があります", "まだ直りません", "助けてください", "昨日と同じ問題です"),
        "lead": ("かしこまりました。", "お問い合わせありがとうございます。", "ご質問ありがとうございます。"),
        "close": ("他にご不明な点はございますか？", "お役に立てれば幸いです。", "よろしくお願いいたします。"),
        "refuse": ("申し訳ありませんが、そのご質問にはお答えできません。", "すみません、その件についてはお手伝いできません。",
                   "恐れ入りますが、このリクエストには対応いたしかねます。", "申し訳ございません。こちらではその情報をご案内できません。"),
        "hand": ("担当者におつなぎします。少々お待ちください。", "この件はサポートチームに引き継ぎます。", "オペレーターに転送いたします。",
                 "担当スタッフから折り返しご連絡いたします。"),
    },
}
_ASK = {"sp": ("{q}", "{q}", "{ctx} {q}", "{q} {ctx}"), "ja": ("{q}", "{q}", "{ctx}{q}", "{q}{ctx}")}
_ANSWER = {"sp": ("{body}", "{body}", "{lead} {body}", "{body} {close}", "{lead} {body} {close}"),
           "ja": ("{body}", "{body}", "{lead}{body}", "{body}{close}", "{lead}{body}{close}")}
_REFUSE = {"sp": ("{refuse}", "{refuse}", "{refuse} {close}"), "ja": ("{refuse}", "{refuse}{close}")}
_HAND = {"sp": ("{hand}", "{lead} {hand}"), "ja": ("{hand}", "{lead}{hand}")}
_TOOL = ('[tool_call] transfer_to_agent(reason="{why}", language="#LANG#")',)
_WHY = ("user_request", "low_confidence", "policy", "account_change")


def _banks() -> dict[str, tuple[Sequence[str], Grammar]]:
    banks: dict[str, tuple[Sequence[str], Grammar]] = {}
    for lang in LANGUAGES:
        say, style = _SAY[lang], "ja" if lang == "ja" else "sp"
        for cat, topics in TOPICS.items():
            for t, topic in enumerate(topics):
                asks, answers, (right, wrong) = topic[lang]
                banks[f"in|{cat}|{t}|{lang}"] = (_ASK[style], {**say, "q": asks})
                for key, value in (("ok", right), ("wrong", wrong)):
                    body = tuple(a.replace("{v}", value) for a in answers)
                    banks[f"{key}|{cat}|{t}|{lang}"] = (_ANSWER[style], {**say, "body": body})
        banks[f"refuse|{lang}"] = (_REFUSE[style], say)
        banks[f"hand|{lang}"] = (_HAND[style], say)
    banks["guard|en"] = (("{guard}",), _SAY["en"])
    banks["tool"] = (_TOOL, {"why": _WHY})
    return banks


_BANKS = _banks()


def _inputs(rng: np.random.Generator, keys: np.ndarray, lang: np.ndarray) -> np.ndarray:
    """Users' messages: the topic's asks (a few vague ones), the language's boilerplate, typos."""
    n = len(keys)
    out = np.empty(n, dtype=object)
    fill_cells(rng, out, keys, _BANKS)
    vague = rng.random(n) < 0.05
    for lg in LANGUAGES:
        sel = np.flatnonzero(lang == lg)
        v = _SAY[lg]["vague"]
        pick = vague[sel]
        out[sel[pick]] = np.asarray(v, dtype=object)[rng.integers(0, len(v), size=int(pick.sum()))]
        say = _SAY[lg]
        out[sel] = with_boilerplate(rng, out[sel], say["greet"], say["thanks"], say["sig"], rates=(0.2, 0.2, 0.03))
    return roughen(rng, out, typo_share=0.08, casual_share=0.12)


def kind_texts(rng: np.random.Generator, category: np.ndarray, language: np.ndarray,
               o: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Messages, answers and finish reasons of the kinds' events.

    ``o`` holds the drawn outcomes: ``refused``, ``escalated``, ``wrong`` (an incorrect or
    hallucinated answer) and ``blocked`` (the guardrail's blocks: a third without text and a
    ``content_filter`` finish, a quarter the guardrail's English notice, the others a refusal in
    the user's language). A tenth of the other refusals are ``content_filter`` finishes too, a
    quarter of the hand-offs tool calls.
    """
    n = len(category)
    lang_in = np.asarray(language, dtype=object).copy()
    lang_in[(lang_in != "en") & (rng.random(n) < WRITE_ENGLISH)] = "en"
    lang_out = lang_in.copy()
    lang_out[(lang_out != "en") & (rng.random(n) < ANSWER_ENGLISH)] = "en"
    n_topics = np.array([len(TOPICS[c]) for c in category])
    topic = (rng.random(n) * n_topics).astype(int)
    where = [f"{c}|{t}|" for c, t in zip(category, topic)]
    inputs = _inputs(rng, np.array([f"in|{w}{lg}" for w, lg in zip(where, lang_in)], dtype=object), lang_in)
    keys = np.array([f"{'wrong' if w else 'ok'}|{x}{lg}" for w, x, lg in zip(o["wrong"], where, lang_out)], dtype=object)
    u_kind, u_filter = rng.random(n), rng.random(n)
    hand = o["escalated"] & ~o["refused"]
    keys[hand] = np.where(u_kind[hand] < 0.25, "tool", [f"hand|{lg}" for lg in lang_out[hand]])
    refused, blocked = o["refused"], o["blocked"]
    keys[refused] = [f"refuse|{lg}" for lg in lang_out[refused]]
    keys[blocked & (u_kind < 0.25)] = "guard|en"
    filtered = refused & np.where(blocked, u_filter < 0.35, u_filter < 0.1)
    out = np.empty(n, dtype=object)
    fill_cells(rng, out, keys, _BANKS, cap=120)
    tool = keys == "tool"
    out[tool] = [t.replace("#LANG#", lg) for t, lg in zip(out[tool], lang_out[tool])]
    out[filtered] = None
    finish = np.where(filtered, "content_filter", np.where(tool, "tool_calls", "stop")).astype(object)
    return inputs, out, finish
