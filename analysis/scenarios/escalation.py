"""Escalation storm (support bot): new traffic the routing classifier was not trained on."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from .arrivals import arrivals, rate_streams
from .base import DAY, HOUR, NS_DAY, PATTERN_CODE, Change, Params, Part, clip_ts, empty_evaluations, part_window
from .draws import choice, draw_users, lognormal_latency, make_ids, masked_bool, pick, sessions_of, step_version, user_pool
from .phrases_support import support_inputs, support_outputs
from .text import pii_draws
from .wording import add_pii, text_rng

_SUP_CATEGORIES = ("billing", "order_status", "technical_issue", "refund", "account_access", "general_info")
_SUP_SHARE = (0.22, 0.25, 0.18, 0.12, 0.13, 0.10)
_SUP_P_ESC = (0.085, 0.04, 0.12, 0.17, 0.11, 0.045)
def _escalation_arrivals(p: Params, rng: np.random.Generator, lo: pd.Timestamp, hi: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """The merged arrivals of the usual traffic and the blog's, and which ones came from the blog."""
    t_traffic = p.onset - 48 * HOUR
    (_, main_rate), (_, blog_rate) = rate_streams(p)
    ts_main = arrivals(rng, lo, hi, main_rate)
    blog_lo = max(lo, t_traffic)
    ts_blog = arrivals(rng, blog_lo, hi, blog_rate, bin_minutes=5) if blog_lo < hi else np.empty(0, dtype=np.int64)
    ts_all = np.concatenate([ts_main, ts_blog])
    order = np.argsort(ts_all, kind="stable")
    ts = ts_all[order]
    blog = np.concatenate([np.zeros(len(ts_main), bool), np.ones(len(ts_blog), bool)])[order]
    return ts, blog


def _escalation_outcomes(p: Params, rng: np.random.Generator, incident: bool, ts: np.ndarray, blog: np.ndarray, part: Part | None) -> dict:
    """Segments, accounts, the router's confidence and escalations of the events at ``ts`` (drawn in this order)."""
    n = len(ts)
    cat_main = choice(rng, _SUP_CATEGORIES, _SUP_SHARE, n)
    cat_blog = choice(rng, ("general_info", "billing", "technical_issue"), (0.82, 0.10, 0.08), n)
    category = np.where(blog, cat_blog, cat_main)
    src_main = choice(rng, ("app", "web_direct", "email_link", "search"), (0.45, 0.30, 0.15, 0.10), n)
    source = np.where(blog, "blog_referral", src_main).astype(object)
    u_acc, u_esc, u_err = rng.random(n), rng.random(n), rng.random(n)
    has_account = np.where(blog, u_acc < 0.04, u_acc < 0.93)
    framing = np.where(blog, choice(rng, ("question", "complaint", "request"), (0.9, 0.03, 0.07), n),
                       choice(rng, ("question", "complaint", "request"), (0.6, 0.25, 0.15), n))
    risk = np.select(
        [(framing == "complaint") & np.isin(category, ("billing", "refund")), np.isin(category, ("account_access", "technical_issue"))],
        ["high", "medium"], "low",
    ).astype(object)
    # The routing classifier escalates when unsure (confidence < 0.5) or when the intent needs a human.
    conf_in = rng.beta(9, 2, n)
    conf_ood = rng.beta(1.3, 8, n)
    confidence = np.round(np.where(blog & incident, conf_ood, conf_in), 3)
    day = (ts - p.start.value) // NS_DAY
    if part is None:
        day_factor = rng.uniform(0.8, 1.2, size=int(day.max()) + 1)[day]
    else:  # one factor per day of the whole scenario, drawn once by the chunked writer
        day_factor = part.day_factor[day]
    p_cat = dict(zip(_SUP_CATEGORIES, _SUP_P_ESC))
    p_esc = np.array([p_cat[c] for c in category]) * day_factor
    p_esc = np.where(blog, 0.085 * day_factor, p_esc)
    errored = u_err < 0.002
    escalated = ((confidence < 0.5) | (u_esc < p_esc)) & ~errored
    affected = blog & incident & escalated & (confidence < 0.5)
    return dict(category=category, source=source, has_account=has_account, framing=framing, risk=risk,
                confidence=confidence, errored=errored, escalated=escalated, affected=affected)


def _escalation_texts(p: Params, rng: np.random.Generator, o: dict, blog: np.ndarray, id0: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Prompts, answers (hand-offs as tool calls or text), finish reasons and the tool-call mask.

    The main stream ``rng`` draws what it always drew here (order numbers, the blog's and the
    competitor's names, personal data, which hand-offs are tool calls, soft or text, which
    answers look an order up, waiting times), so every other column is the same whatever the
    wording; the wording is drawn from the text stream (:func:`~analysis.scenarios.wording.text_rng`).
    """
    category, confidence, escalated, errored = o["category"], o["confidence"], o["escalated"], o["errored"]
    n = len(category)
    order_no = rng.integers(100000, 999999, size=n).astype(str)
    rng.integers(0, 6, size=n)  # the first generators' template index (kept: the main stream's draws)
    blogs = pick(rng, ("TechCrunchy", "the FreshDesk blog", "SaaS Weekly"), n)
    comp = pick(rng, ("HelpHero", "TicketLy", "Supportly"), n)
    has_pii, pii = pii_draws(rng, n, 0.03)
    u_kind, u_soft, u_lookup = rng.random(n), rng.random(n), rng.random(n)
    wait = rng.integers(2, 15, size=n)
    queue = np.where(np.isin(category, ("billing", "refund")), "billing", np.where(category == "technical_issue", "tech", "general"))
    reason = np.where(confidence < 0.5, "low_confidence", "needs_human")
    lookup = (category == "order_status") & ~escalated & (u_lookup < 0.4)
    tool = escalated & (u_kind < 0.65)
    text = escalated & ~tool
    soft = text & (u_soft < 0.12)
    markers = {"#ORDER#": order_no, "#BLOG#": blogs, "#COMP#": comp, "#WAIT#": wait, "#QUEUE#": queue, "#REASON#": reason}
    trng = text_rng(p.seed, PATTERN_CODE["escalation"], id0)
    inputs = add_pii(support_inputs(trng, category, o["framing"], blog, markers), has_pii, pii)
    outputs = support_outputs(trng, o, {"lookup": lookup, "tool": tool, "text": text, "soft": soft, "blog": blog}, markers)
    finish = np.full(n, "stop", dtype=object)
    finish[lookup | tool] = "tool_calls"
    finish[errored] = None
    return inputs, outputs, finish, tool


def _escalation_changes(p: Params) -> tuple[dict[str, pd.Timestamp], list[Change]]:
    """The change log (the cause 48 h before the storm and the decoys) and the times the versions move."""
    onset = p.onset
    t_traffic = onset - 48 * HOUR
    t_classifier = clip_ts(t_traffic - 9 * DAY, p)
    t_prompt = clip_ts(t_traffic - 4 * DAY + 3 * HOUR, p)
    t_silent = clip_ts(t_traffic - 30 * HOUR, p)
    t_deploy = clip_ts(t_traffic + 20 * HOUR, p)
    t_config = clip_ts(onset - 3 * HOUR, p)
    times = dict(classifier=t_classifier, prompt=t_prompt, silent=t_silent, config=t_config)
    changes = [
        Change("chg-0301", t_classifier, "classifier_update", "router", "classifier_version", "router-v3", "router-v4",
               "Routing classifier retrained on Q4 tickets (account holders).", "ml-platform"),
        Change("chg-0302", t_prompt, "prompt_template_change", "system-prompt", "prompt_template_version", "support-v21", "support-v22",
               "Friendlier greeting; no change to routing instructions.", "git"),
        Change("chg-0303", t_traffic, "traffic_source_change", "traffic", "traffic_source", None, "blog_referral",
               "Competitor's blog post links to our support chat as a 'free alternative'.", "marketing"),
        Change("chg-0304", t_deploy, "deploy", "mobile-app", None, "5.1.0", "5.2.0",
               "Mobile app release 5.2 (dark mode).", "app-store"),
        Change("chg-0305", t_config, "config_change", "generation", "temperature", "0.3", "0.5",
               "Raised answer temperature for more varied phrasing.", "config-repo"),
    ]
    if p.hard is not None and p.hard.logged_decoys:
        # a logged decoy near the onset: every request logs the new prompt from its time on
        times["decoy"] = clip_ts(onset - pd.Timedelta(hours=p.hard.decoy_hours), p)
        changes.append(Change("chg-0306", times["decoy"], "prompt_template_change", "system-prompt", "prompt_template_version",
                              "support-v22", "support-v23", "Added the holiday opening hours to the system prompt.", "git"))
    return times, changes


def _escalation_truth(p: Params, affected: np.ndarray, ts: np.ndarray, t_silent: pd.Timestamp, extra: dict) -> dict:
    """The generator's truth dict (see :func:`analysis.scenarios.base.ground_truth`)."""
    m = p.magnitude
    onset = p.onset
    logged = p.hard is not None and p.hard.logged_decoys
    hard = (f" Hard option logged_decoys: chg-0306 moves prompt_template_version on every request {p.hard.decoy_hours:.1f} h "
            "before the storm, with no effect." if logged else "")
    return dict(
        cause="chg-0303",
        cause_type="traffic_source_change",
        cause_ts=onset - 48 * HOUR,
        onset=onset,
        onset_window=(onset - 3 * HOUR, onset + 4 * HOUR),
        metric="escalated",
        segment={"traffic_source": "blog_referral", "query_category": "general_info"},
        affected_rule=(
            "traffic_source == 'blog_referral' (account-less, mostly general_info queries the router was not "
            "trained on) escalated because the classifier confidence was below 0.5, in the failure window"
        ),
        affected=affected & (ts >= onset.value),
        failure_from=onset,
        decoys=("chg-0301", "chg-0302", "chg-0304", "chg-0305") + (("chg-0306",) if logged else ()),
        silent=({"column": "upstream_fingerprint", "from_value": "fp_1f2e3d", "to_value": "fp_9e8d7c", "ts": t_silent},),
        secondary=("confidence",),
        extra=extra,
        notes=(
            "Support bot. chg-0303: a competitor's blog post brings account-less, general queries "
            "(traffic_source blog_referral, has_account False) 48 h before the storm, 1-3% of traffic at first; "
            "the routing classifier (router-v4, unchanged) was not trained on them: confidence ~Beta(1.3, 8), "
            "so nearly all of them escalate (confidence < 0.5). At the onset the post goes viral and that "
            f"traffic grows to ~{30 * m:.0f}x the usual volume within a few hours: escalation goes from the usual "
            "8-12% (a day-to-day factor in [0.8, 1.2]) to ~95-100% within 6 h. The query mix (category, "
            "traffic_source, has_account) and the confidence distribution shift from the traffic change on. "
            "Decoys: an earlier classifier retrain (chg-0301), a prompt rewording (chg-0302), an unrelated "
            "mobile release (chg-0304), a temperature change 3 h before the storm (chg-0305, nearer than the "
            "cause); upstream_fingerprint changes without a change event."
        ) + hard,
    )


def generate_escalation(
    p: Params, rng: np.random.Generator, incident: bool, part: Part | None = None
) -> tuple[dict, list[Change], dict, pd.DataFrame]:
    """The escalation storm's columns, change log, truth dict and (empty) evaluations; ``part``: one time slice."""
    lo, hi, id0 = part_window(p, part)
    ts, blog = _escalation_arrivals(p, rng, lo, hi)
    n = len(ts)
    o = _escalation_outcomes(p, rng, incident, ts, blog, part)
    errored, has_account = o["errored"], o["has_account"]
    inputs, outputs, finish, tool = _escalation_texts(p, rng, o, blog, id0)
    in_tok = (480 + rng.normal(35, 12, n)).round().astype(np.int64)
    out_tok = np.where(tool, rng.normal(25, 4, n), rng.normal(90, 25, n)).clip(5, 400).round().astype(np.int64)
    out_tok = np.where(errored, 0, out_tok)
    latency = lognormal_latency(rng, 180 + 14.0 * out_tok, 0.22)
    users = draw_users(rng, n, "cust-", user_pool("escalation", n) if part is None else part.user_pool)
    users = np.where(has_account, users, None).astype(object)
    anon = np.array([f"anon-{hashlib.blake2s(f'{p.seed}-{i // 3}'.encode(), digest_size=4).hexdigest()}" for i in range(id0, id0 + n)], dtype=object)
    sessions = sessions_of(np.where(has_account, users, anon), ts)
    # Changes and versions
    times, changes = _escalation_changes(p)
    classifier = step_version(ts, [(times["classifier"], "router-v4")], "router-v3")
    prompt = step_version(ts, [(times["prompt"], "support-v22")] + ([(times["decoy"], "support-v23")] if "decoy" in times else []),
                          "support-v21")
    fingerprint = step_version(ts, [(times["silent"], "fp_9e8d7c")], "fp_1f2e3d")
    temperature = np.where(ts >= times["config"].value, 0.5, 0.3)
    cols = dict(
        event_id=make_ids("sup", n, id0), ts=ts, session_id=sessions, user_id=users,
        model_version=np.full(n, "helpdesk-llm-2025-11", dtype=object), model_requested=np.full(n, "helpdesk-llm-2025-11", dtype=object),
        provider=np.full(n, "internal", dtype=object), upstream_fingerprint=fingerprint, prompt_template_version=prompt,
        classifier_version=classifier, temperature=temperature, top_p=np.full(n, 1.0), max_tokens=np.full(n, 400),
        query_category=o["category"], risk_category=o["risk"], traffic_source=o["source"], framing=o["framing"],
        input_text=inputs, output_text=outputs, escalated=masked_bool(o["escalated"], errored),
        confidence=np.where(errored, np.nan, o["confidence"]), latency_ms=latency, input_tokens=in_tok, output_tokens=out_tok,
        finish_reason=finish, status=np.where(errored, "error", "ok").astype(object),
        error_type=np.where(errored, "rate_limited", None).astype(object),
    )
    extra = {"has_account": pd.array(has_account, dtype="boolean")}
    truth = _escalation_truth(p, o["affected"], ts, times["silent"], extra)
    return cols, changes, truth, empty_evaluations()
