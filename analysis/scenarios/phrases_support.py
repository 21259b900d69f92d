"""The support bot case's wording: customers' messages per category and framing, the blog's
visitors' questions, and the bot's answers, tool calls and hand-offs (see
:mod:`analysis.scenarios.wording`).

Order numbers, blog and competitor names and waiting times come per row from the generator's
main stream (``#ORDER#``, ``#BLOG#``, ``#COMP#``, ``#WAIT#`` in the phrases)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .wording import Grammar, fill_cells, fill_markers, roughen, with_boilerplate

_CTX: Grammar = {
    "since": ("I've been a customer for 3 years.", "I checked my bank app this morning.", "I'm on the Pro plan.",
              "It's for my small business.", "I ordered last Tuesday.", "My account email is the usual one."),
    "angry": ("This is the second time this happens.", "Very disappointed.", "Sort it out please.", "I expect a reply today.",
              "Not happy at all.", "Honestly, this is ridiculous.", "I've been waiting for days."),
    "please": ("please", "asap please", "thanks", "as soon as possible", "today if possible"),
}
_CORE: dict[str, dict[str, Sequence[str]]] = {
    "billing": {
        "question": ("Why was I charged twice this month?", "Why did my invoice go up?", "How do I update my card?",
                     "When is my next payment due?", "What is this $49 charge on my statement?",
                     "Can I get an invoice with my company's VAT number?", "Can I switch to annual billing?"),
        "complaint": ("You charged me twice this month!", "My bill went up without any notice.",
                      "I cancelled but you still took money from my account.", "I was billed for a plan I never signed up for.",
                      "Third time I'm asking about this charge."),
        "request": ("Please refund the duplicate charge.", "Update my card to the new one.", "Send me a copy of my last invoice.",
                    "Cancel my subscription at the end of this month.", "Please switch me to the monthly plan."),
    },
    "order_status": {
        "question": ("Where is my order #ORDER#?", "When will order #ORDER# ship?", "Has my package been dispatched yet?",
                     "Tracking hasn't updated in 4 days, where is it?", "Can you check the status of #ORDER#?",
                     "Is order #ORDER# going to arrive before Friday?"),
        "complaint": ("My package says delivered but it isn't here.", "Order #ORDER# is a week late!",
                      "The courier left my parcel in the rain.", "Still no parcel.", "You shipped #ORDER# to my old address!"),
        "request": ("Please send me the tracking link for #ORDER#.", "Change the delivery address on #ORDER# to my office.",
                    "Cancel order #ORDER# if it hasn't shipped.", "Please hold my parcel at the depot."),
    },
    "technical_issue": {
        "question": ("Why does the app crash when I open settings?", "How do I reset the app?", "Is there an outage right now?",
                     "Why can't I upload a file bigger than 10 MB?", "Does the app support dark mode on Android?"),
        "complaint": ("The app keeps crashing.", "Checkout shows this error: <script>alert('err')</script> and nothing happens.",
                      "I get 'Error 502 <b>Bad Gateway</b>' when I log in.", "Sync has been broken since the last update!",
                      "The page just spins forever."),
        "request": ("Please fix the login bug.", "Reset my two-factor settings.", "I need the export working before my 3pm meeting.",
                    "Turn off the new layout on my account."),
    },
    "refund": {
        "question": ("How long do refunds take?", "Can I get a refund for order #ORDER#?", "What's your refund policy for opened items?",
                     "Do I have to pay for the return shipping?"),
        "complaint": ("Still waiting for my refund after 3 weeks!", "You promised a refund and nothing happened.",
                      "The item arrived broken and I want my money back.", "The refund was for the wrong amount."),
        "request": ("I want a refund for order #ORDER#.", "Refund for a damaged item please.",
                    "Please return the money to my original card.", "Start a return for #ORDER#."),
    },
    "account_access": {
        "question": ("How do I reset my password?", "Why is my account locked?", "Can I change the email on my account?",
                     "How do I turn on two-factor?"),
        "complaint": ("I can't log in to my account and the reset email never arrives!", "Locked out again, third time this week.",
                      "Your password rules are impossible."),
        "request": ("Reset my password please.", "Unlock my account.", "Please remove the old phone number from my 2FA.",
                    "Merge my two accounts."),
    },
    "general_info": {
        "question": ("What are your opening hours?", "Do you ship to Canada?", "Which plan includes priority support?",
                     "Do you have a student discount?", "Where is your warehouse?", "Do you have a phone number I can call?"),
        "complaint": ("Your website doesn't say if you ship to Canada.", "Nobody answers the phone at your store."),
        "request": ("Send me your price list.", "Tell me the opening hours over the holidays.", "Add me to the newsletter."),
    },
}
_TEMPLATES = {
    "question": ("{core}", "{core}", "{since} {core}", "{core} {since}", "Quick question: {core}"),
    "complaint": ("{core} {angry}", "{core}", "{angry} {core}", "{core} {since} {angry}"),
    "request": ("{core} {please?}", "{since} {core}", "Can you {core_low}", "I need help. {core}"),
}
#: Visitors sent by the blog post: general questions, no account, no order.
_BLOG: Grammar = {
    "core": ("Saw the post on #BLOG#, is your product really free?", "what is this? came from the #BLOG# article",
             "How does your pricing compare to #COMP#?", "Do I need an account to try it?", "can you migrate my data from #COMP#?",
             "What does your product actually do?", "Is there a free trial?", "Do you have a free plan?",
             "Just looking around - what's the difference between the plans?", "Is it really a free alternative to #COMP#?",
             "Does it work on Linux?", "How much does the Pro plan cost?", "Can I use it without signing up?",
             "Read about you on #BLOG#. How is this different from #COMP#?", "Is my data safe with you?", "Who are you guys?",
             "How do I get started?", "Is this the tool from the #BLOG# post?", "Does it integrate with Slack?",
             "Is there a limit on the free version?"),
    "intro": ("New here.", "I'm just checking this out.", "Found you through #BLOG#.", "Not a customer yet.",
              "Never used you before."),
}
_BLOG_TEMPLATES = ("{core}", "{core}", "{intro} {core}", "{core} Thanks", "{intro} {core} {core}")


def _input_banks() -> dict[str, tuple[Sequence[str], Grammar]]:
    banks: dict[str, tuple[Sequence[str], Grammar]] = {}
    for cat, by_framing in _CORE.items():
        for framing, cores in by_framing.items():
            low = tuple(c[0].lower() + c[1:] for c in cores)
            banks[f"{cat}|{framing}"] = (_TEMPLATES[framing], {**_CTX, "core": cores, "core_low": low})
    banks["blog"] = (_BLOG_TEMPLATES, _BLOG)
    return banks


_INPUT_BANKS = _input_banks()


def support_inputs(rng: np.random.Generator, category: np.ndarray, framing: np.ndarray, blog: np.ndarray,
                   markers: Mapping[str, np.ndarray]) -> np.ndarray:
    """Customers' messages (and the blog visitors'), boilerplate and typos, markers filled."""
    n = len(category)
    keys = np.array([f"{c}|{f}" for c, f in zip(category, framing)], dtype=object)
    keys[blog] = "blog"
    out = np.empty(n, dtype=object)
    fill_cells(rng, out, keys, _INPUT_BANKS)
    return roughen(rng, with_boilerplate(rng, fill_markers(out, markers)))


# ----------------------------------------------------------------------------------------------
# answers, tool calls, hand-offs
# ----------------------------------------------------------------------------------------------

_SAY: Grammar = {
    "lead": ("Thanks for reaching out!", "Happy to help.", "Sorry about that!", "Thanks for your patience.", "Good question!",
             "I understand how frustrating that is."),
    "close": ("Anything else I can help with?", "Have a great day!", "Let me know if that works.", "Hope that helps!",
              "Is there anything else?"),
    "offer": ("If you'd like, I can connect you with an agent.", "You can also ask for a human agent at any time.",
              "Reply 'agent' if you'd rather talk to a person."),
}
_ANSWERS: dict[str, tuple[str, ...]] = {
    "billing": ("You can see every charge under Settings > Billing. A duplicate charge is usually a pending authorisation that drops "
                "off within 3 days.", "Your plan renewed at the new list price. You can switch plans under Settings > Billing.",
                "To update your card:\n1. Open Settings > Billing\n2. Click **Payment method**\n3. Enter the new card and save",
                "Invoices are under Settings > Billing > History; you can add a VAT number there before downloading."),
    "order_status": ("Your order is on its way and should arrive within 2 business days.",
                     "Carriers sometimes mark parcels delivered early. If it hasn't arrived by tomorrow, let me know.",
                     "It left our warehouse yesterday; the tracking link is in your confirmation email."),
    "technical_issue": ("Try clearing the app cache and updating to the latest version; that fixes this in most cases.",
                        "That error means the session expired. Please sign out and back in, then try again.",
                        "There's no outage on our side right now. Could you try:\n- a different browser\n- disabling extensions\n"
                        "- a private window"),
    "refund": ("Refunds are processed within 5-7 business days after we receive the item.",
               "I've started the return for you; you'll get a prepaid label by email.",
               "Opened items can be returned within 30 days as long as they're undamaged."),
    "account_access": ("I've sent a password reset link to the email on file. If this doesn't help, you can ask to speak with a human "
                       "agent at any time.", "Your account was locked after several failed attempts; it unlocks automatically in "
                       "30 minutes.", "You can change your email under Profile > Login details after confirming your password."),
    "general_info": ("We ship to most countries, including Canada. Delivery takes 5-10 days.",
                     "Our Pro plan includes priority support. You can compare plans on the pricing page.",
                     "We're open Monday to Friday, 9am to 6pm, and Saturdays until 1pm."),
    "blog": ("There's a free plan for up to 3 users, and every paid plan starts with a 14-day trial.",
             "You can try it without a credit card: sign up with your email and you're in.",
             "We import data from most tools; the migration guide is in our help centre under Getting started.",
             "The Pro plan is $12 per user per month, billed annually. The free plan covers the basics.",
             "It's a shared inbox and help desk for small teams. The pricing page compares the plans."),
}
_HANDOFF: Grammar = {
    "hand": ("I'm transferring you to a human agent who can look into this. Average wait is about #WAIT# minutes.",
             "Let me connect you with a member of our support team.", "I'm handing this over to one of our agents now.",
             "I've escalated this to our support team; someone will reply here within #WAIT# minutes.",
             "A support specialist will take over this conversation shortly.", "Let me get a human colleague to help with this.",
             "I'll pass you to our billing team, they can see more than I can.", "I'm transferring this chat to an agent."),
    "pre": ("Thanks for your patience.", "Sorry for the trouble.", "I want to make sure this gets sorted properly.",
            "I don't have enough information to help with that."),
    "post": ("Please stay in this chat.", "You'll keep your place in the queue if you close this window.",
             "They'll have the full conversation, so no need to repeat yourself."),
}
_HANDOFF_SOFT = ("One of my colleagues will pick this up shortly.", "Someone from the team will get back to you here soon.",
                 "A colleague will follow up with you by email.", "Our team will take it from here.")
_SUMMARIES = {
    "billing": ("customer disputes a charge", "duplicate charge on card", "question about invoice amount", "billing question"),
    "order_status": ("parcel not received", "order delayed", "delivery status question"),
    "technical_issue": ("app error", "login error 502", "app crashes on settings", "technical problem"),
    "refund": ("refund request", "refund not received", "damaged item return"),
    "account_access": ("locked out of account", "password reset not arriving", "2FA change"),
    "general_info": ("general question", "pricing question", "question about plans", "unclear request"),
}


def _output_banks() -> dict[str, tuple[Sequence[str], Grammar]]:
    banks: dict[str, tuple[Sequence[str], Grammar]] = {
        f"answer|{cat}": (("{body}", "{lead} {body}", "{body} {close}", "{lead} {body} {close}", "{body} {offer}"),
                          {**_SAY, "body": bodies})
        for cat, bodies in _ANSWERS.items()}
    banks["handoff"] = (("{hand}", "{pre} {hand}", "{hand} {post}", "{pre} {hand} {post}"), _HANDOFF)
    banks["handoff_soft"] = (("{soft}", "{soft} {post}"), {**_HANDOFF, "soft": _HANDOFF_SOFT})
    for cat, summaries in _SUMMARIES.items():
        banks[f"tool|{cat}"] = (('[tool_call] handoff_to_human(queue="#QUEUE#", reason="#REASON#", summary="{summary}")',
                                 '[tool_call] handoff_to_human(queue="#QUEUE#", reason="#REASON#")'), {"summary": summaries})
    return banks


_OUTPUT_BANKS = _output_banks()


def support_outputs(rng: np.random.Generator, o: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray],
                    markers: Mapping[str, np.ndarray]) -> np.ndarray:
    """The bot's answers: order lookups, hand-offs (tool calls and text, some soft) and answers.

    ``masks`` holds the rows of each kind of output the main stream drew (``lookup``, ``tool``,
    ``text``, ``soft``, ``blog``); ``markers`` the per-row values of the markers.
    """
    category = o["category"]
    keys = np.array([f"answer|{c}" for c in category], dtype=object)
    keys[masks["blog"]] = "answer|blog"
    keys[masks["tool"]] = [f"tool|{c}" for c in category[masks["tool"]]]
    keys[masks["text"]] = "handoff"
    keys[masks["soft"]] = "handoff_soft"
    out = np.empty(len(category), dtype=object)
    fill_cells(rng, out, keys, _OUTPUT_BANKS, cap=120)
    out[masks["lookup"]] = '[tool_call] lookup_order(order_id="#ORDER#")'
    out = fill_markers(out, markers)
    out[o["errored"]] = None
    return out
