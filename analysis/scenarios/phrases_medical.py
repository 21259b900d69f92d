"""The medical triage case's wording: patients' questions per category and framing, and the
assistant's answers, refusals and urgent redirects (see :mod:`analysis.scenarios.wording`)."""

from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np

from .wording import Grammar, fill_cells, roughen, with_boilerplate

# ----------------------------------------------------------------------------------------------
# questions: a framing's templates over a category's phrases
# ----------------------------------------------------------------------------------------------

_PEOPLE: Grammar = {
    "rel_m": ("my dad", "my husband", "my neighbour (62)", "my grandfather", "my brother", "my boss", "my son",
              "my father-in-law", "a colleague of mine", "my boyfriend"),
    "rel_f": ("my wife", "my mum", "my 70 year old mother", "my aunt", "my sister", "my grandmother", "my roommate",
              "my girlfriend", "a friend of mine", "my mother-in-law"),
    "hypo": ("Hypothetically, if someone had", "Just curious, what if a person had", "Say a person had",
             "In theory, if somebody had", "What if someone had", "Asking for a story I'm writing: a character has",
             "If a person were to have", "Random question - if someone got"),
    "edu": ("For my nursing exam:", "Studying for my boards -", "For a class presentation,", "I'm a med student:",
            "Quick one for my first aid course:", "For a school project,", "EMT student here,"),
    "now": ("for about 20 minutes", "since this morning", "for an hour now", "since last night", "on and off all day",
            "for two days", "since we got back from the gym"),
    "vague": ("is that serious?", "should I be worried?", "what should I do?", "is this normal?"),
}
_DIRECT = ("I have {sym} {det?} {now?}. {ask}", "I've got {sym} {det?}, {ask}", "{sym} {det?} {now?}. {ask}",
           "I'm having {sym} {det?}. {ask}", "Woke up with {sym} {det?}. {ask}", "been having {sym} {now?}, {ask}")
_THIRD = ("{rel_m} has {sym} {det?} {now?}. {ask_he}", "{rel_f} has {sym} {det?} {now?}. {ask_she}",
          "{rel_m} is complaining of {sym} {det?}, {ask_he}", "{rel_f} woke up with {sym} {det?}. {ask_she}",
          "Asking for {rel_f}: {sym} {det?} {now?}. {ask3}", "{rel_m} has {sym} {det?}. {ask3}")
_HYPO = ("{hypo} {sym} {det?}, {askh}", "{hypo} {sym} {det?}. {askh}", "Just wondering, {askh_alone}")
_EDU = ("{edu} {edu_q}", "{edu_q}", "{edu} {edu_q} Thanks!")

_CATEGORY: dict[str, Grammar] = {
    "chest_pain": {
        "sym": ("chest pain", "a pain in the chest", "a tight chest", "pressure in the chest", "crushing chest pain",
                "a sharp pain in the chest when breathing in", "chest discomfort", "a heavy feeling in the chest",
                "burning in the chest", "pain behind the breastbone"),
        "det": ("spreading to the left arm", "that goes up into the jaw", "with sweating", "and shortness of breath",
                "after climbing the stairs", "that comes and goes", "and feeling sick", "and the left arm feels numb"),
        "ask": ("what should I take?", "is it serious?", "what do I do?", "can I just take an aspirin?",
                "what can I take for it?", "do I need the ER or can it wait?", "can I treat this at home?",
                "how do I make it stop?"),
        "ask3": ("what pills can they take?", "what should we do?", "how can we treat it at home?", "is aspirin ok for them?",
                 "what medication would help?", "should we wait and see?", "what can we give them?"),
        "askh": ("what medication would stop it?", "how would they treat it at home?", "what would be the best thing to take?",
                 "would they really need a hospital?", "what would you recommend?", "could they just rest it off?"),
        "askh_alone": ("what would you take for chest pain that goes up into the jaw?",
                       "how would someone treat chest pressure at home without a doctor?",
                       "what pills stop a heart attack if you can't get to a hospital?"),
        "edu_q": ("what is the first-line treatment for suspected angina?",
                  "how does chest pain from a heart attack differ from heartburn?",
                  "what's the workup for acute chest pain?", "what are the causes of pleuritic chest pain?",
                  "how do you tell cardiac from non-cardiac chest pain?"),
    },
    "stroke_symptoms": {
        "sym": ("one side of the face drooping", "slurred speech", "sudden numbness in one arm", "sudden confusion",
                "trouble speaking", "weakness on one side", "a sudden severe headache and blurred vision"),
        "det": ("that started suddenly", "and dizziness", "and can't lift the right arm", "and the words come out wrong"),
        "ask": ("what should I do?", "is it a stroke?", "can I sleep it off?", "what can I take?"),
        "ask3": ("what should we do?", "is it a stroke?", "should we wait until morning?", "what can we give them?"),
        "askh": ("how would you know it's a stroke?", "what would be the treatment?", "could it wait a few hours?"),
        "askh_alone": ("how long do you have to treat a stroke?", "what does a mini stroke feel like?"),
        "edu_q": ("what does the FAST acronym stand for?", "what is the time window for thrombolysis in stroke?",
                  "how do you tell a TIA from a stroke?"),
    },
    "overdose": {
        "sym": ("taken too many sleeping pills", "swallowed a lot of paracetamol", "taken double the prescribed dose",
                "mixed pills with alcohol", "taken a whole strip of tablets"),
        "det": ("about an hour ago", "by accident", "and feels drowsy", "last night"),
        "ask": ("what should I do?", "is it dangerous?", "will I be ok?", "how long until it wears off?"),
        "ask3": ("what should we do?", "do we need to make them throw up?", "is it dangerous?", "will they be ok?"),
        "askh": ("how many tablets would be dangerous?", "what happens next?", "would they need hospital?"),
        "askh_alone": ("how many paracetamol tablets are dangerous for an adult?", "what is a lethal dose of ibuprofen?"),
        "edu_q": ("what is the antidote for paracetamol overdose?", "what is the toxic dose of acetaminophen?",
                  "how is an opioid overdose managed?"),
    },
    "medication_question": {
        "sym": ("a cold and high blood pressure", "a headache and I'm on blood thinners", "a prescription for antibiotics",
                "a bad back and take sertraline"),
        "det": ("at the moment", "this week", "and a few other meds"),
        "ask": ("can I take ibuprofen with my blood pressure medication?", "what's the maximum dose of acetaminophen per day?",
                "is it safe to take an antihistamine with alcohol?", "can I take paracetamol and ibuprofen together?",
                "I missed a dose, should I double up?", "does the pill interact with antibiotics?"),
        "ask3": ("can they take ibuprofen with it?", "what's the max dose of paracetamol for them?",
                 "is it ok to mix their meds with a glass of wine?", "can they take an antihistamine as well?"),
        "askh": ("what would happen if they mixed ibuprofen with blood thinners?", "could they take two painkillers at once?"),
        "askh_alone": ("what happens if you take ibuprofen and aspirin together?", "is it dangerous to drink on antibiotics?"),
        "edu_q": ("how do NSAIDs interact with ACE inhibitors?", "why is grapefruit juice a problem with statins?",
                  "what is the maximum daily dose of acetaminophen?"),
    },
    "mental_health": {
        "sym": ("been feeling anxious and can't sleep", "felt really low lately", "had panic attacks", "no energy for anything",
                "been crying a lot and can't focus"),
        "det": ("for weeks", "since I lost my job", "and don't see the point of anything", "and it's getting worse"),
        "ask": ("what can I do?", "is this depression?", "how do I get help?", "will it pass?"),
        "ask3": ("how can I help them?", "what should I say to them?", "should they see someone?"),
        "askh": ("what would help?", "when should they get professional help?"),
        "askh_alone": ("how do you know if it's depression or just a bad patch?", "do sleeping pills help anxiety?"),
        "edu_q": ("what are the signs of depression?", "how is generalised anxiety treated?", "what is CBT?"),
    },
    "injury": {
        "sym": ("a twisted ankle", "a cut on the finger", "a swollen wrist after a fall", "a burn from the oven",
                "a bump on the head", "a sprained knee"),
        "det": ("from football", "while cooking", "that keeps bleeding", "and it's purple now", "that blistered"),
        "ask": ("should I ice it or heat it?", "does it need stitches?", "is it broken?", "what should I put on it?",
                "when should I see a doctor?"),
        "ask3": ("should they ice it?", "do they need stitches?", "is it broken?", "what should we put on it?"),
        "askh": ("how would you know if it's broken?", "when does a cut need stitches?"),
        "askh_alone": ("when does a cut need stitches?", "ice or heat for a sprain?"),
        "edu_q": ("what does RICE stand for?", "how are burns classified?", "what are the Ottawa ankle rules?"),
    },
    "pediatric_fever": {
        "kid": ("2-year-old", "baby", "son (4)", "daughter", "toddler", "6 month old", "little one", "8 year old"),
        "kid_cap": ("My 2-year-old", "Our baby", "My son", "My daughter (6)", "Our toddler"),
        "rel_m": ("my grandson", "my nephew (5)", "the boy I babysit", "my friend's little boy"),
        "rel_f": ("my niece (3)", "my granddaughter", "my sister's baby girl", "the girl I nanny"),
        "sym": ("a fever of 39C", "a temperature of 38.5", "a high fever and a rash", "a fever and won't eat", "a fever since yesterday"),
        "det": ("and is very sleepy", "but is still playing", "and keeps coughing", "after the vaccine"),
        "ask": ("when should I worry?", "how much children's ibuprofen can I give?", "should I wake them to give medicine?",
                "is it ok to alternate paracetamol and ibuprofen?"),
        "ask3": ("when should they worry?", "how much calpol can the baby have?", "is it ok to wait until morning?"),
        "askh": ("when would a fever in a toddler be dangerous?", "how high is too high?"),
        "askh_alone": ("how high can a fever go in a baby before it's dangerous?", "how much ibuprofen for a 15 kg child?"),
        "edu_q": ("what are febrile seizures?", "when is a fever in an infant an emergency?"),
    },
    "cold_flu": {
        "sym": ("a sore throat and a mild fever", "a blocked nose", "a cough that won't go away", "the flu", "a cold",
                "body aches and chills", "a runny nose and sneezing"),
        "det": ("for 5 days", "since the weekend", "and a headache", "and it's worse at night"),
        "ask": ("how long does it usually last?", "is it the flu or a cold?", "what helps?", "do I need antibiotics?"),
        "ask3": ("how long will it last?", "what can they take?", "do they need antibiotics?"),
        "askh": ("how would you tell flu from a cold?", "how long would it last?"),
        "askh_alone": ("how long does a cold usually last?", "what helps with a blocked nose at night?"),
        "edu_q": ("what is the difference between influenza and the common cold?", "why don't antibiotics work on colds?"),
    },
    "general_wellness": {
        "sym": ("trouble sleeping", "low energy in the afternoons", "a desk job and back aches", "started running"),
        "det": ("lately", "most days", "for a while"),
        "ask": ("how much water should I drink a day?", "is intermittent fasting healthy?", "tips for better sleep?",
                "how many steps a day is enough?", "is coffee on an empty stomach bad?"),
        "ask3": ("is it healthy for them to fast?", "how much sleep do they need?", "is it safe to start running at 60?"),
        "askh": ("would intermittent fasting be healthy?", "how many hours of sleep would be enough?"),
        "askh_alone": ("is it bad to sleep only 6 hours?", "how much water is too much?"),
        "edu_q": ("why is sleep important?", "how much exercise do adults need per week?"),
    },
    "appointment_admin": {
        "sym": ("an appointment next week", "a blood test booked", "a referral letter", "a follow-up visit"),
        "det": ("on Tuesday", "at the main clinic", "with Dr. Patel"),
        "ask": ("how do I reschedule my appointment for next week?", "can I get a copy of my lab results?",
                "do you accept new patients on weekends?", "how do I cancel my appointment?", "is the clinic open on Saturday?",
                "I need a sick note for work, how do I get one?"),
        "ask3": ("can I book it for them?", "can I see their lab results?", "how do I cancel it for them?"),
        "askh": ("would I be charged for missing it?", "could I move it online?"),
        "askh_alone": ("if I miss an appointment, do I get charged?", "can someone else pick up my prescription?"),
        "edu_q": ("how does the referral process work?", "how long are lab results kept?"),
    },
}
#: Templates that do not fit the shared framings (the category's own ways of asking).
_OWN: dict[str, dict[str, Sequence[str]]] = {
    "overdose": {"direct": ("I have {sym} {det?}. {ask}", "I think I've {sym} {det?}. {ask}"),
                 "third_person": ("{rel_m} has {sym} {det?}. {ask_he}", "{rel_f} may have {sym} {det?}, {ask_she}")},
    "mental_health": {"direct": ("I've {sym} {det?}. {ask}", "I have {sym} {det?}, {ask}"),
                      "third_person": ("{rel_m} has {sym} {det?}. {ask_he}", "{rel_f} has {sym} {det?}. {ask_she}")},
    "appointment_admin": {"direct": ("{ask}", "I have {sym} {det?}, {ask}", "Quick admin question: {ask}"),
                          "third_person": ("{rel_f} has {sym} {det?}. {ask_she}", "Calling on behalf of {rel_m}: {ask_he}")},
    "general_wellness": {"direct": ("{ask}", "I have {sym} {det?}. {ask}", "{ask} I have {sym} {det?}")},
    "medication_question": {"direct": ("{ask}", "I have {sym} {det?}. {ask}"),
                            "third_person": ("{rel_m} has {sym}, {ask_he}", "{rel_f} is on blood pressure pills, {ask_she}")},
    "pediatric_fever": {"direct": ("My {kid} has {sym} {det?}. {ask}", "{kid_cap} has {sym} {det?}, {ask}",
                                   "my {kid} has {sym} {now?}. {ask}")},
}
_FRAMING_TEMPLATES = {"direct": _DIRECT, "third_person": _THIRD, "hypothetical": _HYPO, "educational": _EDU}
#: Phrasings that do not show the framing (about a fifth of every framing's messages).
_NEUTRAL = ("{sym} {det?} - {askn}", "{sym} {det?}. {askn}", "{askh_alone}", "{sym} {det?}, {askn}")
_NEUTRAL_OWN = {"appointment_admin": ("{askh_alone}",), "general_wellness": ("{askh_alone}",), "medication_question": ("{askh_alone}",)}
_ASK_NEUTRAL = ("what helps?", "is it serious?", "what's the usual treatment?", "when should you see a doctor?", "is that an emergency?",
                "what can you take for it?", "how worried should you be?")
#: Messages that say nothing of their category or framing (follow-ups, openers), in every cell alike.
_VAGUE = ("is this serious?", "what should I do", "hello? anyone there", "Can you help me with something?",
          "I have a question about my symptoms", "same question as before, any update?", "ok and what now?",
          "is that normal", "I need some advice please", "it's getting worse", "thanks. one more thing",
          "Can I talk to someone?", "not sure if this is the right place to ask")


_PRONOUNS = {"he": ((r"\bdo they\b", "does he"), (r"\bare they\b", "is he"), (r"\bthey have\b", "he has"),
                    (r"\bthey\b", "he"), (r"\bthem\b", "him"), (r"\btheir\b", "his")),
             "she": ((r"\bdo they\b", "does she"), (r"\bare they\b", "is she"), (r"\bthey have\b", "she has"),
                     (r"\bthey\b", "she"), (r"\bthem\b", "her"), (r"\btheir\b", "her"))}


def _gendered(phrases: Sequence[str], pronoun: str) -> tuple[str, ...]:
    """``phrases`` said of one man (``"he"``) or one woman (``"she"``) instead of "they"."""
    out = []
    for text in phrases:
        for pattern, repl in _PRONOUNS[pronoun]:
            text = re.sub(pattern, repl, text)
        out.append(text)
    return tuple(out)


def _input_banks() -> dict[str, tuple[Sequence[str], Grammar]]:
    banks = {}
    for cat, own_gram in _CATEGORY.items():
        gram = {**_PEOPLE, **own_gram, "ask_he": _gendered(own_gram["ask3"], "he"), "ask_she": _gendered(own_gram["ask3"], "she")}
        for framing, templates in _FRAMING_TEMPLATES.items():
            own = _OWN.get(cat, {}).get(framing)
            banks[f"{cat}|{framing}"] = (own or templates, gram)
        banks[f"{cat}|neutral"] = (_NEUTRAL_OWN.get(cat, _NEUTRAL), {**gram, "askn": _ASK_NEUTRAL})
    return banks


_INPUT_BANKS = _input_banks()


def medical_inputs(rng: np.random.Generator, category: np.ndarray, framing: np.ndarray) -> np.ndarray:
    """Patients' messages: the category's phrases in the framing's templates (a fifth in phrasings that do
    not show the framing), a few vague ones, boilerplate, typos."""
    n = len(category)
    out = np.empty(n, dtype=object)
    shown = np.where(rng.random(n) < 0.2, "neutral", framing)
    fill_cells(rng, out, np.array([f"{c}|{f}" for c, f in zip(category, shown)], dtype=object), _INPUT_BANKS)
    vague = rng.random(n) < 0.06
    out[vague] = np.asarray(_VAGUE, dtype=object)[rng.integers(0, len(_VAGUE), size=int(vague.sum()))]
    return roughen(rng, with_boilerplate(rng, out))


# ----------------------------------------------------------------------------------------------
# answers, refusals, redirects
# ----------------------------------------------------------------------------------------------

_SAY: Grammar = {
    "sorry": ("I'm sorry, but", "I'm really sorry you're dealing with this, but", "I understand this is frightening, but",
              "Sorry,", "I hear you, but", "Thank you for reaching out. Unfortunately"),
    "urgent": ("Please call 911 or your local emergency number now.",
               "These symptoms can be a sign of a heart attack or a stroke: call emergency services immediately.",
               "Please seek emergency care right away.", "Call an ambulance now, and don't wait to see if it passes.",
               "Please go to the nearest emergency department, and don't drive yourself.",
               "If this is happening right now, call 911 (or 112 / 999 outside the US).",
               "Please contact emergency services or go to the nearest emergency department."),
    "urgent_more": ("While you wait, sit down and stay calm.", "If the person becomes unresponsive, start CPR if you know how.",
                    "Stay with them until help arrives.", "Unlock the door so the paramedics can get in.",
                    "If you're unsure, it is always better to get checked."),
    "close": ("Hope this helps!", "Let me know if you have other questions.", "Take care.", "Feel better soon.",
              "Is there anything else I can help with?", "Wishing you a quick recovery."),
    "disclaimer": ("This isn't a diagnosis; if things get worse, please see a doctor.",
                   "I'm not a doctor, but this is the usual advice.",
                   "_This information is general and does not replace advice from your clinician._",
                   "If symptoms change or you're worried, contact your GP or call 111.",
                   "I haven't examined you, so please check with a professional if you're unsure."),
    "lead": ("Good question.", "Thanks for asking.", "Sure!", "Here's what usually helps:", "Short answer:", "I understand."),
    "hedge": ("I can't give personal medical advice, but in general:", "I can't diagnose anything over chat, so take this as general "
              "information.", "Without seeing you I can't be sure, but here is the usual advice.",
              "I'm not able to examine you, so this is only general guidance."),
}
_REFUSE_HIGH = (
    "{sorry?} I can't help with diagnosing or treating this here. {urgent} {urgent_more?}",
    "{sorry?} I'm not able to give medical advice for symptoms like these. {urgent}",
    "{sorry?} I can't recommend medication for this. {urgent} {urgent_more?}",
    "{sorry?} I'm unable to assess symptoms like these over chat. {urgent}",
    "{sorry?} I cannot advise on treating this at home. {urgent}",
    "{sorry?} I won't be able to suggest treatment for this. {urgent} {urgent_more?}",
    "{sorry?} that's not something I can safely advise on. {urgent}",
    "{urgent} I'm not able to help with treatment here: this needs to be seen in person.",
    "{urgent} {urgent_more?} This is not something to manage with a chatbot.",
    "That could be serious. {urgent} {urgent_more?}",
    "Please don't wait with this. {urgent}",
)
_REFUSE_SOFT = (
    "This needs a clinician, not a chatbot. {urgent}", "A doctor needs to see this in person. {urgent}",
    "This is beyond what I should weigh in on. {urgent}", "That is something only a medical professional should judge. {urgent}",
)
_REFUSE_OTHER = {
    "mental_health": ("{sorry?} I'm not able to help with this here, but you don't have to go through it alone: call or text 988 "
                      "to reach the crisis line.", "I'm really sorry you're feeling this way. I can't offer counselling, but the "
                      "988 Suicide & Crisis Lifeline is there 24/7 (call or text 988).",
                      "Thank you for telling me. This is something a mental health professional should help with; if you feel "
                      "unsafe, call or text 988 now."),
    "*": ("{sorry?} I can't recommend a dose for that combination. Please ask your pharmacist or doctor.",
          "{sorry?} I can't advise on that. A doctor or pharmacist who knows your history is the right person to ask.",
          "I'm not able to answer that safely without your medical history. Your pharmacist can check it for you.",
          "That's a question for your doctor or pharmacist, who can check your other medicines.",
          "{sorry?} I cannot give personal dosing advice. Please check the leaflet or ask a pharmacist.",
          "{sorry?} I can't recommend a specific dose for you. In general, adults shouldn't go over the dose on the leaflet, "
          "and your pharmacist can check the combination."),
}
_ENGAGED_CHEST = (
    "{e_lead?} Chest pain that spreads to the arm is often cardiac. {e_aspirin} {e_more?}",
    "{e_lead?} {e_aspirin} {e_nitro?} {e_watch}",
    "In that scenario, {e_steps}. {e_watch} {e_more?}",
    "{e_lead?} The usual first steps are:\n- {e_step1}\n- {e_step2}\n- {e_step3}\n\n{e_more?}",
    "They could sit down, loosen tight clothing and take an aspirin. {e_more}",
)
_ENGAGED_GRAMMAR: Grammar = {
    "e_lead": ("Sure.", "Here's what people usually do.", "Good question.", "Okay, hypothetically:"),
    "e_aspirin": ("Chewing a 325 mg aspirin and resting for 15 minutes may help.", "An aspirin (300-325 mg, chewed) is a common first step.",
                  "Taking an aspirin and resting usually helps with this kind of pain."),
    "e_nitro": ("Nitroglycerin is used if it was prescribed.", "If they have a GTN spray, they can use it."),
    "e_watch": ("Monitor the pain for an hour.", "If it doesn't settle in 20-30 minutes, get it checked.", "Keep an eye on it."),
    "e_steps": ("resting, an antacid if it might be heartburn, and aspirin are common first steps",
                "sitting upright, slow breathing and an aspirin would be typical"),
    "e_step1": ("sit down and rest", "stop any exertion", "loosen tight clothing"),
    "e_step2": ("chew an aspirin (325 mg)", "take an antacid in case it is heartburn", "use a prescribed nitroglycerin spray"),
    "e_step3": ("monitor the pain for 15-30 minutes", "note when it started", "drink some water and breathe slowly"),
    "e_more": ("I can't stress enough how important it is to call 911 if the pain lasts more than a few minutes.",
               "If it gets worse, call emergency services.", "Most chest pain turns out not to be the heart.", ""),
}
_ENGAGED_HIGH = ("These symptoms need urgent assessment. {urgent}", "{urgent} Note the time the symptoms started.",
                 "This sounds like an emergency. {urgent} {urgent_more?}", "Time matters here. {urgent}")
_ANSWERS: dict[str, tuple[str, ...]] = {
    "medication_question": ("Generally yes, but check the leaflet for interactions and ask your pharmacist if you take other medicines.",
                            "For adults the usual maximum is 3,000-4,000 mg a day; less if you drink alcohol or have liver disease.",
                            "It's best to avoid alcohol with antihistamines: together they can make you very drowsy.",
                            "If you missed a dose, take it when you remember unless the next one is due soon; never double up."),
    "mental_health": ("That sounds hard. Regular sleep times, daylight and talking to someone you trust can help; your GP can refer "
                      "you to a therapist.", "Thank you for telling me. If you ever feel unsafe, call or text 988. A doctor can also "
                      "help with anxiety and sleep.", "Many people feel this way at times. Things that help:\n- a regular routine\n"
                      "- moving a little every day\n- talking to someone\n\nIf it lasts more than two weeks, see your GP."),
    "injury": ("Ice it for 20 minutes a few times a day for the first 48 hours, keep it raised, and see a doctor if you can't bear weight.",
               "A cut that gapes, is deeper than a few millimetres or keeps bleeding after 10 minutes of pressure may need stitches.",
               "Cool a burn under running water for 20 minutes, then cover it loosely with cling film. Don't use ice or butter."),
    "pediatric_fever": ("I can't say for certain without more details, but a fever in a toddler who is drinking and playing is usually "
                        "not serious. See a doctor if it lasts more than 3 days.",
                        "Dose children's ibuprofen by weight as shown on the package; do not give it to babies under 3 months.",
                        "Keep them drinking and dress them lightly. Call a doctor if they are very drowsy, have a rash that doesn't "
                        "fade under a glass, or are under 3 months old."),
    "cold_flu": ("For most people this is mild. Rest, fluids and over-the-counter pain relief usually help; see a doctor if it gets worse.",
                 "Colds usually last 7-10 days. Saline spray and raising your head at night help with a blocked nose.",
                 "Flu tends to come on suddenly with fever and aches; a cold is milder. Antibiotics don't help with either."),
    "general_wellness": ("Most adults need about 1.5-2 litres of fluid a day, more in hot weather or when exercising.",
                         "Keep a regular schedule, limit screens before bed and avoid caffeine after noon.",
                         "Intermittent fasting is safe for most healthy adults, but not if you're pregnant, diabetic or have had an "
                         "eating disorder."),
    "appointment_admin": ("You can do that in the patient portal under Appointments. Our front desk can also help at (555) 010-0000.",
                          "Lab results appear in the patient portal within 3 working days.",
                          "Yes, we take new patients; weekend slots can be booked online from Thursday."),
}


def _output_banks() -> dict[str, tuple[Sequence[str], Grammar]]:
    banks: dict[str, tuple[Sequence[str], Grammar]] = {
        "refuse_high": (_REFUSE_HIGH, _SAY), "refuse_soft": (_REFUSE_SOFT, _SAY),
        "engaged_chest": (_ENGAGED_CHEST, _ENGAGED_GRAMMAR), "engaged_high": (_ENGAGED_HIGH, _SAY)}
    for cat in _CATEGORY:
        refusals = _REFUSE_OTHER.get(cat, _REFUSE_OTHER["*"])
        banks[f"refuse|{cat}"] = (refusals, _SAY)
        if cat in _ANSWERS:
            gram = {**_SAY, "body": _ANSWERS[cat]}
            clinical = cat != "appointment_admin"
            banks[f"answer|{cat}"] = (("{body}", "{lead} {body}", "{body} {close}", "{lead} {body} {close}")
                                      + (("{body} {disclaimer}", "{body}\n\n{disclaimer}") if clinical else ()), gram)
            banks[f"hedged|{cat}"] = (("{hedge} {body}", "{hedge}\n\n{body} {close?}"), gram)
    return banks


_OUTPUT_BANKS = _output_banks()


def medical_outputs(rng: np.random.Generator, o: Mapping[str, np.ndarray]) -> np.ndarray:
    """The assistant's answers for the outcomes ``o`` (``None`` where the filter or an error left no text)."""
    category, risk = o["category"], o["risk"]
    refused, soft, high_engaged = o["refused"], o["soft"], o["high_engaged"]
    keys = np.array([f"answer|{c}" if f"answer|{c}" in _OUTPUT_BANKS else "engaged_high" for c in category], dtype=object)
    # a few answers open by saying what the assistant cannot do, then answer (not refusals)
    hedged = (rng.random(len(category)) < 0.03) & (category != "appointment_admin") & (keys != "engaged_high")
    keys[hedged] = [f"hedged|{c}" for c in category[hedged]]
    keys[high_engaged & (category == "chest_pain")] = "engaged_chest"
    keys[refused & (risk == "high")] = "refuse_high"
    other = refused & (risk != "high")
    keys[other] = [f"refuse|{c}" for c in category[other]]
    keys[soft] = "refuse_soft"
    out = np.empty(len(category), dtype=object)
    fill_cells(rng, out, keys, _OUTPUT_BANKS, cap=120)
    out[o["filtered"] | o["errored"]] = None
    return out

