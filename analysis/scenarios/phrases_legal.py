"""The legal research case's wording: lawyers' questions per category and framing (and about
the new filings), and the assistant's cited answers (see :mod:`analysis.scenarios.wording`).

Case names, citations, topics and circuits come per row from the generator's main stream
(``#CASE#``, ``#CITE#``, ``#CASE2#``, ``#CITE2#``, ``#TOPIC#``, ``#CIRCUIT#`` in the phrases):
the retrieved documents are drawn from the same values, so an answer's citations are grounded
or not as before."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .wording import Grammar, fill_cells, fill_markers, roughen, with_boilerplate

_CORE: dict[str, tuple[str, ...]] = {
    "case_lookup": ("What did the court hold in #CASE#?", "Summarize the holding of #CASE#.", "Find the citation for #CASE#.",
                    "Was #CASE# overturned on appeal?", "Is #CASE# still good law?", "What were the facts in #CASE#?",
                    "Who wrote the majority opinion in #CASE#?", "pull up #CASE#"),
    "statute_interpretation": ("How do courts interpret the notice requirement for #TOPIC#?",
                               "Does the statute of limitations for #TOPIC# toll during appeal?",
                               "Which statutes govern #TOPIC# in the #CIRCUIT# Circuit?",
                               "What does 'willful' mean in the statute on #TOPIC#?",
                               "Is there a private right of action for #TOPIC#?", "How is 'reasonable notice' read for #TOPIC#?"),
    "procedure": ("What is the deadline to file a motion to dismiss on #TOPIC# grounds?", "How do I serve a subpoena in a #TOPIC# case?",
                  "Can I amend a complaint about #TOPIC# after the answer is filed?",
                  "What's the standard for a preliminary injunction in a #TOPIC# dispute?",
                  "How long do we have to respond to discovery in a #TOPIC# case?", "Can we remove a #TOPIC# case to federal court?"),
    "precedent_search": ("Find precedent on #TOPIC# in the #CIRCUIT# Circuit.", "Cases where courts applied the economic loss rule to #TOPIC#?",
                         "Best authority against a claim of #TOPIC#?", "Any #CIRCUIT# Circuit cases rejecting #TOPIC# arguments?",
                         "I need cases supporting our position on #TOPIC#.", "What's the strongest case for the defense on #TOPIC#?"),
    "recent_case_law": ("Any recent rulings on #TOPIC#?", "What's the latest #CIRCUIT# Circuit decision on #TOPIC#?",
                        "Summarize recent developments in #TOPIC#.", "Has anything changed on #TOPIC# this year?",
                        "Are there new cases on #TOPIC# since last term?"),
    "new": ("What did the court decide in the 2026 filing #CASE#?", "Summarize the new #CIRCUIT# Circuit filing in #CASE# on #TOPIC#.",
            "Any 2026 rulings on #TOPIC#? I saw #CASE# was just decided.", "How does the recent decision in #CASE# affect #TOPIC#?",
            "#CASE# came out last week, what does it say about #TOPIC#?", "Was there a new opinion in #CASE# this month?",
            "Give me the holding of the just-filed #CASE#.", "What's new on #TOPIC#? There was a decision in #CASE# recently."),
}
_FRAMING = {
    "question": ("{core}", "{core}", "{ctx} {core}", "{core} {ask_more?}"),
    "memo_request": ("Draft a short memo: {core}", "I need a research memo on this. {core}", "Memo for the partner, please. {core}",
                     "{core} Please write it up as a two-page memo.", "Prepare a memo answering: {core}"),
    "brief_drafting": ("Help me draft the argument section of a brief. {core}", "For our opposition brief: {core}",
                       "I'm writing a reply brief. {core} {ask_more?}", "{core} I need language I can drop into the brief.",
                       "Draft a paragraph for the motion. {core}"),
}
_CTX: Grammar = {
    "ctx": ("For a client matter:", "Background: we represent the defendant.", "We're in federal court.",
            "Opposing counsel cited this yesterday.", "Quick one before the hearing:"),
    "ask_more": ("Include pin cites.", "Keep it short.", "Bluebook format.", "Mention any contrary authority."),
}
_SIGN_OFFS = ("Thanks.", "Thanks!", "Short answer is fine.", "Need this by EOD.", "Client matter 2291-04.", "thx", "Appreciated.")
_GREETINGS = ("Hi,", "Hello,", "Morning -", "Hi there,", "Quick question:")
_SIGNATURES = ("Sent from my iPhone", "-- J. Rivera, Associate", "Privileged & Confidential", "Regards,\nA. Park")


def _input_banks() -> dict[str, tuple[Sequence[str], Grammar]]:
    return {f"{cat}|{framing}": (templates, {**_CTX, "core": cores}) for cat, cores in _CORE.items()
            for framing, templates in _FRAMING.items()}


_INPUT_BANKS = _input_banks()


def legal_inputs(rng: np.random.Generator, category: np.ndarray, framing: np.ndarray, about_new: np.ndarray,
                 markers: Mapping[str, np.ndarray]) -> np.ndarray:
    """Lawyers' questions: the category's (or the new filings') asks in the framing's templates (three in ten
    memo and brief requests say nothing of it: the mode was chosen in the app), boilerplate, typos."""
    cats = np.where(about_new, "new", category)
    shown = np.where(rng.random(len(cats)) < 0.3, "question", framing)  # the add-in's memo and brief modes, unsaid
    keys = np.array([f"{c}|{f}" for c, f in zip(cats, shown)], dtype=object)
    out = np.empty(len(keys), dtype=object)
    fill_cells(rng, out, keys, _INPUT_BANKS)
    out = with_boilerplate(rng, fill_markers(out, markers), _GREETINGS, _SIGN_OFFS, _SIGNATURES, rates=(0.1, 0.15, 0.03))
    return roughen(rng, out, typo_share=0.06, casual_share=0.1)


_SAY: Grammar = {
    "lead": ("Short answer:", "Based on the retrieved opinions,", "Here's what I found.", "Yes.", "Generally, yes.", "It depends."),
    "holding": ("the court held that #TOPIC# claims require a showing of actual harm",
                "the court applied a balancing test to #TOPIC#", "the court rejected the argument on #TOPIC#",
                "the court read the #TOPIC# standard narrowly", "the panel affirmed dismissal of the #TOPIC# claim",
                "the court found the #TOPIC# theory adequately pleaded"),
    "second": ("See also #CASE2#, #CITE2#.", "Compare #CASE2#, #CITE2#.", "It was followed in #CASE2#, #CITE2#.",
               "Accord #CASE2#, #CITE2#.", "But see #CASE2#, #CITE2# (reaching the opposite result).",
               "#CASE2#, #CITE2#, applied the same reasoning."),
    "close": ("You should confirm these are still good law before relying on them.", "Let me know if you want a fuller memo.",
              "I can pull the key passages if that helps.", "Happy to expand on any of these."),
    "circuit_view": ("Courts in the #CIRCUIT# Circuit treat #TOPIC# narrowly", "The #CIRCUIT# Circuit has not squarely addressed #TOPIC#",
                     "The #CIRCUIT# Circuit takes a broad view of #TOPIC#"),
}
_ONE = ("{lead?} In #CASE#, #CITE#, {holding}. {close?}", "{circuit_view}; see #CASE#, #CITE#. {close?}",
        "#CASE#, #CITE#, is on point: {holding}. {close?}", "{lead?} The leading authority is #CASE#, #CITE#, where {holding}.")
_TWO = ("{lead?} In #CASE#, #CITE#, {holding}. {second} {close?}",
        "The leading authority is #CASE#, #CITE#, where {holding}. {second}",
        "#CASE#, #CITE#, is on point: {holding}. {second} {close?}",
        "{lead?}\n\n- #CASE#, #CITE#: {holding}.\n- {second}\n\n{close?}")
_MEMO = ("**Question presented:** {qp}\n\n**Short answer:** In #CASE#, #CITE#, {holding}.\n\n**Discussion:** {more}",
         "MEMORANDUM\n\nIssue: {qp}\n\nConclusion: {circuit_view}; see #CASE#, #CITE#. {more}")
_MEMO_GRAMMAR: Grammar = {**_SAY, "qp": ("how courts treat #TOPIC#.", "whether the #TOPIC# claim survives a motion to dismiss.",
                                         "what authority governs #TOPIC#.")}


def _output_banks() -> dict[str, tuple[Sequence[str], Grammar]]:
    banks: dict[str, tuple[Sequence[str], Grammar]] = {}
    for framing in _FRAMING:
        for n_cites, templates in (("one", _ONE), ("two", _TWO)):
            memo = _MEMO if framing == "memo_request" else ()
            more = ("{second}",) if n_cites == "two" else ("{close}", "Further research may be needed.")
            banks[f"{n_cites}|{framing}"] = (templates + memo, {**_MEMO_GRAMMAR, "more": more})
    return banks


_OUTPUT_BANKS = _output_banks()


def legal_outputs(rng: np.random.Generator, framing: np.ndarray, second: np.ndarray, errored: np.ndarray,
                  markers: Mapping[str, np.ndarray]) -> np.ndarray:
    """The assistant's answers citing ``#CASE#`` (and ``#CASE2#`` where ``second``); ``None`` where the call failed."""
    keys = np.array([f"{'two' if s else 'one'}|{f}" for s, f in zip(second, framing)], dtype=object)
    out = np.empty(len(keys), dtype=object)
    fill_cells(rng, out, keys, _OUTPUT_BANKS, cap=160)
    out = fill_markers(out, markers)
    out[errored] = None
    return out
