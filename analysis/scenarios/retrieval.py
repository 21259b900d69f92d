"""Retrieval degradation (legal RAG): a corpus update without an index rebuild."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis import schema

from .arrivals import arrivals, rate_streams
from .base import DAY, EVAL_COLUMNS, HOUR, PATTERN_CODE, Change, Params, Part, clip_ts, empty_evaluations, part_window
from .draws import choice, draw_users, lognormal_latency, make_ids, masked_bool, pick, sessions_of, sigmoid, step_version, user_pool
from .phrases_legal import legal_inputs, legal_outputs
from .text import fill_templates, pii_draws
from .wording import add_pii, text_rng

_PARTIES = (
    "Smith", "Garcia", "Nguyen", "Okafor", "Whitman Holdings", "Rivera", "Patel", "Acme Logistics",
    "Baker", "Delgado", "Harlow Insurance", "Kim", "Lopez", "Meridian Bank", "Novak", "Osei", "Park",
    "Quinn", "Reyes", "Sterling Corp", "Tanaka", "United Freight", "Vasquez", "Wexford County",
)
_TOPICS = (
    "non-compete clauses", "spoliation of evidence", "personal jurisdiction over online sellers",
    "arbitration waivers", "qualified immunity", "trade secret misappropriation", "landlord retaliation",
    "FLSA overtime exemptions", "securities fraud scienter", "wrongful termination", "data breach standing",
    "adverse possession", "punitive damages caps", "class certification", "software patent eligibility",
)
_CIRCUITS = ("1st", "2d", "3d", "5th", "7th", "9th", "11th", "D.C.")
_CATEGORIES = ("case_lookup", "statute_interpretation", "procedure", "precedent_search", "recent_case_law")


def _citations(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    a = pick(rng, _PARTIES, n)
    b = pick(rng, _PARTIES, n)
    vol = rng.integers(100, 999, size=n)
    page = rng.integers(1, 1500, size=n)
    ser = rng.integers(2, 5, size=n)
    circ = pick(rng, _CIRCUITS, n)
    year = rng.integers(1998, 2026, size=n)
    case = np.array([f"{x} v. {y}" for x, y in zip(a, b)], dtype=object)
    cite = np.array(
        [f"{v} F.{'d' if s == 2 else str(s) + 'd'} {pg} ({c} Cir. {yr})" for v, s, pg, c, yr in zip(vol, ser, page, circ, year)],
        dtype=object,
    )
    return case, cite


def retrieval_evaluations(p: Params, rng: np.random.Generator, incident: bool) -> pd.DataFrame:
    """The retrieval case's weekly citation-50 evaluation history (deterministic times, drawn scores)."""
    m = p.magnitude
    t_c = p.onset
    t_old_corpus = clip_ts(t_c - 7 * DAY + 2 * HOUR, p)
    t_old_index = t_old_corpus + 6 * HOUR
    t_cause = _cause_ts(p)
    # Weekly evaluation: 50 fixed questions written before the update, one question a week
    # replaced by one about the latest filings; the eval therefore lags the traffic.
    eval_ts = pd.date_range((p.start + 6 * HOUR).floor("D"), p.reported_at, freq="W-MON") + 6 * HOUR
    eval_ts = eval_ts[(eval_ts >= p.start) & (eval_ts < p.reported_at)]
    # The first question about filings added at t_c enters the set two weekly refreshes later.
    k_new = np.clip(np.floor((eval_ts - t_c) / (7 * DAY)).astype(int) - 1, 0, 50)
    old_ok = rng.binomial(50 - k_new, 0.99)
    new_ok = rng.binomial(k_new, 0.99 if not incident else max(0.02, 1.0 - 0.5 * m))
    n_correct = old_ok + new_ok
    ev = pd.DataFrame(
        {
            "eval_id": [f"eval-{i:03d}" for i in range(len(eval_ts))],
            "ts": eval_ts,
            "suite": "citation-50",
            "n_questions": 50,
            "n_correct": n_correct,
            "citation_accuracy": n_correct / 50.0,
            "threshold": 0.95,
            "passed": n_correct / 50.0 >= 0.95,
            "n_recent_questions": k_new,
            "corpus_version": step_version(eval_ts.asi8, [(t_old_corpus, "filings-v41"), (t_cause, "filings-v42")], "filings-v40"),
            "index_version": step_version(eval_ts.asi8, [(t_old_index, "ann-v41")], "ann-v40"),
        }
    )
    ev = ev.astype({c: schema.dtype_for(k) for c, k in EVAL_COLUMNS.items()})
    return ev


def _retrieval_outcomes(p: Params, rng: np.random.Generator, incident: bool, ts: np.ndarray) -> dict[str, np.ndarray]:
    """Segments, retrieval scores and labels of the events at ``ts`` (drawn in this order)."""
    m = p.magnitude
    t_c = p.onset
    n = len(ts)
    # Share of queries about the filings added at t_c: jumps at the update (the filings users were
    # waiting for), then grows as users ask about recent cases.
    span = (p.reported_at - t_c).value
    frac = np.clip((ts - t_c.value) / span, 0.0, None)
    share = np.where(ts >= t_c.value, np.clip(m * (0.08 + 0.47 * frac), 0.0, 0.9), 0.0)
    u_new, u_h, u_c, u_err = rng.random(n), rng.random(n), rng.random(n), rng.random(n)
    about_new = u_new < share
    cat_old = choice(rng, _CATEGORIES, (0.30, 0.24, 0.20, 0.16, 0.10), n)
    cat_new = choice(rng, ("recent_case_law", "case_lookup", "precedent_search"), (0.75, 0.15, 0.10), n)
    category = np.where(about_new, cat_new, cat_old)
    framing = choice(rng, ("question", "memo_request", "brief_drafting"), (0.6, 0.25, 0.15), n)
    risk = np.select([framing == "brief_drafting", framing == "memo_request"], ["high", "medium"], "low").astype(object)
    source = choice(rng, ("web", "word_addin", "api"), (0.55, 0.30, 0.15), n)
    # Retrieval: top-1 cosine relevance; the stale index has no vectors for the new filings.
    top1_ok = np.clip(rng.normal(0.815, 0.045, n), 0.55, 0.97)
    top1_bad = np.clip(rng.normal(0.60, 0.05, n), 0.35, 0.80)
    degraded = about_new & incident
    top1 = np.where(degraded, top1_bad, top1_ok)
    gaps = rng.exponential(0.018, size=(n, 4)) + 0.004
    scores = np.round(np.column_stack([top1, top1[:, None] - np.cumsum(gaps, axis=1)]), 4)
    docs_pool = 4000
    doc_idx = rng.integers(0, docs_pool, size=(n, 5))
    # Model confidence follows the retrieved evidence: low relevance -> low confidence.
    confidence = np.round(sigmoid((top1 - 0.68) / 0.05 + rng.normal(0, 0.6, n)), 3)
    p_h = 0.015 + 0.5 * sigmoid((0.68 - top1) / 0.03)
    errored = u_err < 0.002
    hallucinated = (u_h < p_h) & ~errored
    correct = ~hallucinated & (u_c < 0.94)
    quality = np.round(np.where(hallucinated, rng.beta(2, 5, n), rng.beta(8, 2, n)), 3)
    return dict(about_new=about_new, category=category, framing=framing, risk=risk, source=source, degraded=degraded,
                top1=top1, scores=scores, doc_idx=doc_idx, confidence=confidence, errored=errored,
                hallucinated=hallucinated, correct=correct, quality=quality)


def _retrieval_texts(p: Params, rng: np.random.Generator, o: dict[str, np.ndarray], id0: int
                     ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Prompts and answers, and the citations each answer makes (for the retrieved documents).

    The main stream ``rng`` draws the cases, citations, topics and circuits (in this order) and
    what it always drew here (template indices, personal data), so every other column is the
    same whatever the wording; the wording is drawn from the text stream
    (:func:`~analysis.scenarios.wording.text_rng`).
    """
    n = len(o["category"])
    case, cite = _citations(rng, n)
    case2, cite2 = _citations(rng, n)
    topic = pick(rng, _TOPICS, n)
    circuit = pick(rng, _CIRCUITS, n)
    rng.integers(0, 4, size=n)  # the first generators' template index (kept: the main stream's draws)
    has_pii, pii = pii_draws(rng, n, 0.025)
    out_idx = rng.integers(0, 4, size=n)
    second = out_idx != 2  # a quarter of the answers cite one case
    markers = {"#CASE#": case, "#CITE#": cite, "#CASE2#": case2, "#CITE2#": cite2, "#TOPIC#": topic, "#CIRCUIT#": circuit}
    trng = text_rng(p.seed, PATTERN_CODE["retrieval"], id0)
    inputs = add_pii(legal_inputs(trng, o["category"], o["framing"], o["about_new"], markers), has_pii, pii)
    outputs = legal_outputs(trng, o["framing"], second, o["errored"], markers)
    cited = {"case": case, "cite": cite, "case2": case2, "cite2": cite2, "topic": topic, "second": second}
    return inputs, outputs, cited


_DOC_SUMMARIES = (
    "{case}, {cite}. Holding: {topic} claims require a showing of actual harm.",
    "{case}, {cite}. The court applied a balancing test to {topic}.",
    "{case}, {cite}. Opinion on {topic}; the district court's ruling was affirmed.",
    "{case}, {cite}. Headnote: {topic}, standard of review, remand.",
)
_DOC_PASSAGES = (
    "Practice note on {topic}: courts weigh the notice given and the harm shown.",
    "Treatise excerpt: {topic}, elements and defenses.",
    "Circuit survey of {topic}; standards of review differ.",
)


def retrieved_documents(seed: int, id0: int, cited: dict[str, np.ndarray], grounded: np.ndarray, k: int = 5) -> pa.Array:
    """The text of the ``k`` retrieved chunks of each request (``retrieval_documents``).

    Two chunks (at drawn positions) are opinions with their citation, the others passages on the
    topic that cite nothing. A grounded answer's citations are in its opinion chunks; those of an
    answer that fabricated its citations are other cases on the same topic (loosely related chunks,
    as a stale index returns them). Drawn from a stream of their own (``seed``, ``id0``), so the
    other columns do not depend on them.
    """
    rng = np.random.default_rng([int(seed), 0x6D0C, int(id0)])
    n = len(grounded)
    topic = cited["topic"]
    other = [_citations(rng, n) for _ in range(2)]
    tmpl = rng.integers(0, len(_DOC_SUMMARIES), size=(n, k))
    pos1 = rng.integers(0, k, size=n)
    pos2 = (pos1 + rng.integers(1, k, size=n)) % k
    docs = np.empty((n, k), dtype=object)
    for j in range(k):
        docs[:, j] = fill_templates(_DOC_PASSAGES, tmpl[:, j] % len(_DOC_PASSAGES), {"topic": topic})
        for pos, (case, cite), (c_case, c_cite), ok in ((pos1, other[0], ("case", "cite"), grounded),
                                                        (pos2, other[1], ("case2", "cite2"), grounded & cited["second"])):
            at = pos == j
            if at.any():
                case, cite = case.copy(), cite.copy()
                case[ok], cite[ok] = cited[c_case][ok], cited[c_cite][ok]
                docs[at, j] = fill_templates(_DOC_SUMMARIES, tmpl[at, j], {"case": case[at], "cite": cite[at], "topic": topic[at]})
    return pa.FixedSizeListArray.from_arrays(pa.array(docs.ravel(), type=pa.string()), k).cast(pa.list_(pa.string()))


def _cause_ts(p: Params) -> pd.Timestamp:
    """When the corpus update lands: at the onset, or ``lead_hours`` before it (``cause_lead``: the
    new filings are imported, and asked about only from the onset on)."""
    return p.onset if p.hard is None else (p.onset - p.hard.lead).floor("min")


def _retrieval_changes(p: Params) -> tuple[dict[str, pd.Timestamp], list[Change]]:
    """The change log (the cause at the onset, or before it with ``cause_lead``, and the decoys) and
    the times the versions move."""
    t_c = p.onset
    t_cause = _cause_ts(p)
    t_old_corpus = clip_ts(t_c - 7 * DAY + 2 * HOUR, p)
    t_old_index = t_old_corpus + 6 * HOUR
    t_prompt = clip_ts(t_c - 3 * DAY - 5 * HOUR, p)
    t_config = clip_ts(t_c + 20 * HOUR, p)
    t_deploy = clip_ts(t_c + 27 * DAY + 3 * HOUR, p)
    t_silent = clip_ts(t_c + 12 * DAY + 9 * HOUR, p)
    changes = [
        Change("chg-0101", t_old_corpus, "corpus_update", "document-store", "corpus_version", "filings-v40", "filings-v41",
               "Weekly corpus sync: +2,100 court filings.", "data-pipeline"),
        Change("chg-0102", t_old_index, "index_rebuild", "vector-index", "index_version", "ann-v40", "ann-v41",
               "Embedding index rebuilt after the corpus sync (filings-v41).", "data-pipeline"),
        Change("chg-0103", t_prompt, "prompt_template_change", "answer-prompt", "prompt_template_version", "legal-rag-v7", "legal-rag-v8",
               "Reworded the citation-format instruction (Bluebook style, no content change).", "git"),
        Change("chg-0104", t_cause, "corpus_update", "document-store", "corpus_version", "filings-v41", "filings-v42",
               "Bulk import of ~14,000 new federal filings (Q4 backlog).", "data-pipeline"),
        Change("chg-0105", t_config, "config_change", "generation", "temperature", "0.2", "0.0",
               "Sampling temperature lowered to 0 for more deterministic answers.", "config-repo"),
        Change("chg-0106", t_deploy, "deploy", "web-app", None, "2026.4.2", "2026.4.3",
               "Web app release: export answers to Word.", "ci"),
    ]
    times = dict(cause=t_cause, old_corpus=t_old_corpus, old_index=t_old_index, prompt=t_prompt, config=t_config, silent=t_silent)
    if p.hard is not None and p.hard.logged_decoys:
        # a logged decoy near the onset: every request logs the new prompt from its time on
        times["decoy"] = clip_ts(t_c - pd.Timedelta(hours=p.hard.decoy_hours), p)
        changes.append(Change("chg-0107", times["decoy"], "prompt_template_change", "answer-prompt", "prompt_template_version",
                              "legal-rag-v8", "legal-rag-v9", "Shortened the answer-length instruction.", "git"))
    return times, changes


def _retrieval_truth(p: Params, affected: np.ndarray, t_silent: pd.Timestamp) -> dict:
    """The generator's truth dict (see :func:`analysis.scenarios.base.ground_truth`)."""
    m = p.magnitude
    t_c = p.onset
    hard = ""
    if p.hard is not None and p.hard.cause_lead:
        hard += (f" Hard option cause_lead: chg-0104 lands {p.hard.lead_hours:.1f} h before the onset; the new filings "
                 "are asked about only from the onset on (the firm's newsletter announces them then).")
    if p.hard is not None and p.hard.logged_decoys:
        hard += (f" Hard option logged_decoys: chg-0107 moves prompt_template_version on every request "
                 f"{p.hard.decoy_hours:.1f} h before the onset, with no effect.")
    return dict(
        cause="chg-0104",
        cause_type="corpus_update",
        cause_ts=_cause_ts(p),
        onset=t_c,
        onset_window=(t_c - 24 * HOUR, t_c + 96 * HOUR),
        metric="retrieval_top1_score",
        segment={"query_category": "recent_case_law"},
        affected_rule=(
            "queries about the ~14,000 filings added by chg-0104 (not in the stale index ann-v41), answered with "
            "fabricated citations (hallucinated == True)"
        ),
        affected=affected,
        failure_from=t_c,
        decoys=("chg-0101", "chg-0102", "chg-0103", "chg-0105", "chg-0106")
        + (("chg-0107",) if p.hard is not None and p.hard.logged_decoys else ()),
        silent=({"column": "upstream_fingerprint", "from_value": "fp_3a1b88c0", "to_value": "fp_7c2d19e4", "ts": t_silent},),
        secondary=("hallucinated", "retrieval_mean_score", "confidence", "correct"),
        notes=(
            "Legal RAG assistant. chg-0104 imports ~14,000 filings into the document store six weeks before the "
            "report; the embedding index is not rebuilt (index_version ann-v41 was built from filings-v41), so "
            "queries about the new filings retrieve old, loosely related chunks: top-1 cosine ~0.60 instead of "
            f"~0.815. Their share jumps to {0.08 * m:.0%} at the update and grows to ~{min(0.9, 0.55 * m):.0%} by the "
            "report, so the rolling mean top-1 relevance crosses 0.72 about a month after the update. "
            "Fabricated citations rise with low relevance (p = 0.015 + 0.5 sigmoid((0.68 - top1)/0.03)) and come "
            "with low confidence. Decoys: a routine corpus sync followed by an index rebuild (chg-0101/0102), a "
            "prompt rewording (chg-0103), a temperature change 20 h after the update, i.e. nearer to a detected "
            "onset that lags the update (chg-0105), an unrelated web deploy (chg-0106); upstream_fingerprint "
            "changes without a change event. Scenario.evaluations: the weekly citation-50 evaluation; one "
            "question a week is replaced by one about recent filings, so it fails late."
        ) + hard,
    )


def generate_retrieval(
    p: Params, rng: np.random.Generator, incident: bool, part: Part | None = None
) -> tuple[dict, list[Change], dict, pd.DataFrame]:
    """The retrieval degradation's columns, change log, truth dict and weekly evaluations; ``part``: one time slice."""
    lo, hi, id0 = part_window(p, part)
    ((_, rate),) = rate_streams(p)
    ts = arrivals(rng, lo, hi, rate)
    n = len(ts)
    o = _retrieval_outcomes(p, rng, incident, ts)
    about_new, category, errored, scores = o["about_new"], o["category"], o["errored"], o["scores"]
    hallucinated, doc_idx = o["hallucinated"], o["doc_idx"]
    inputs, outputs, cited = _retrieval_texts(p, rng, o, id0)
    in_tok = (1900 + rng.normal(0, 250, n)).round().astype(np.int64)
    out_tok = np.clip(rng.normal(260, 60, n), 40, 1000).round().astype(np.int64)
    latency = lognormal_latency(rng, 320 + 0.05 * in_tok + 17.0 * out_tok, 0.2)
    users = draw_users(rng, n, "lawyer-", user_pool("retrieval", n) if part is None else part.user_pool)
    # Changes and versions
    times, changes = _retrieval_changes(p)
    corpus = step_version(ts, [(times["old_corpus"], "filings-v41"), (times["cause"], "filings-v42")], "filings-v40")
    index = step_version(ts, [(times["old_index"], "ann-v41")], "ann-v40")
    prompt = step_version(ts, [(times["prompt"], "legal-rag-v8")] + ([(times["decoy"], "legal-rag-v9")] if "decoy" in times else []),
                          "legal-rag-v7")
    temperature = np.where(ts >= times["config"].value, 0.0, 0.2)
    fingerprint = step_version(ts, [(times["silent"], "fp_7c2d19e4")], "fp_3a1b88c0")
    cols = dict(
        event_id=make_ids("rag", n, id0), ts=ts, session_id=sessions_of(users, ts), user_id=users,
        model_version=np.full(n, "lexgen-3.1", dtype=object), model_requested=np.full(n, "lexgen-3.1", dtype=object),
        provider=np.full(n, "internal", dtype=object), upstream_fingerprint=fingerprint,
        prompt_template_version=prompt, embedding_model=np.full(n, "legal-embed-v2", dtype=object),
        index_version=index, corpus_version=corpus, temperature=temperature, top_p=np.full(n, 1.0),
        top_k=np.full(n, 5), max_tokens=np.full(n, 1024),
        query_category=category, risk_category=o["risk"], traffic_source=o["source"], framing=o["framing"],
        input_text=inputs, output_text=outputs,
        correct=masked_bool(o["correct"], errored), hallucinated=masked_bool(hallucinated, errored),
        confidence=np.where(errored, np.nan, o["confidence"]), quality_score=np.where(errored, np.nan, o["quality"]),
        retrieval_top1_score=scores[:, 0], retrieval_mean_score=np.round(scores.mean(axis=1), 4),
        retrieval_scores=pa.FixedSizeListArray.from_arrays(pa.array(scores.ravel()), 5).cast(pa.list_(pa.float64())),
        retrieval_doc_ids=pa.FixedSizeListArray.from_arrays(
            pa.array([f"doc-{i:05d}" for i in doc_idx.ravel()]), 5).cast(pa.list_(pa.string())),
        retrieval_documents=retrieved_documents(p.seed, id0, cited, ~hallucinated),
        latency_ms=latency, input_tokens=in_tok, output_tokens=np.where(errored, 0, out_tok),
        finish_reason=np.where(errored, None, "stop").astype(object),
        status=np.where(errored, "error", "ok").astype(object),
        error_type=np.where(errored, "upstream_timeout", None).astype(object),
    )
    # The weekly evaluation is drawn after the events (the chunked writer draws it once, apart).
    ev = retrieval_evaluations(p, rng, incident) if part is None else empty_evaluations()
    truth = _retrieval_truth(p, o["degraded"] & hallucinated, times["silent"])
    return cols, changes, truth, ev
