"""Seeded generators of incidents and no-incident twins, with their ground truth.

This package owns the synthetic data: the three case studies (:mod:`~analysis.scenarios.retrieval`,
:mod:`~analysis.scenarios.refusal`, :mod:`~analysis.scenarios.escalation`, run by
:func:`generate`), the other incident kinds (:mod:`~analysis.scenarios.kinds`,
:func:`generate_kind`), their shared traffic model (arrivals with a daily and weekly cycle, users,
sessions, texts) and the writers of the sample data (:mod:`~analysis.scenarios.write`). It may
import ``analysis.schema`` and ``analysis._common`` only: the generators know nothing of the
investigation that later reads their output.

Each generator writes a canonical ``events`` table (it passes
``analysis.schema.validate(events, EVENTS)``), a canonical ``changes`` table and a
:class:`GroundTruth`. The traffic is realistic enough to make the investigation honest:

* arrivals are Poisson in 5-minute bins with a daily cycle, a weekly cycle and a little
  hour-to-hour over-dispersion (a Gamma-mixed rate, i.e. negative-binomial counts);
* several segments (``query_category``, ``risk_category``, ``traffic_source``, ``framing``),
  confidence scores, latency and token counts, prompts and answers (about 3% of prompts
  carry fake e-mail addresses or phone numbers, a few carry HTML markup) written from phrase
  grammars (:mod:`~analysis.scenarios.wording`): many phrasings per segment and outcome,
  boilerplate shared by every segment, typos, the kinds' five languages, drawn from a random
  stream of their own so that every other column is the same whatever the wording;
* version columns (``model_version``, ``prompt_template_version``, ``index_version``,
  ``corpus_version``, ``classifier_version``, ``upstream_fingerprint``, ...) move exactly when
  a change happens, so stratifying by the changed column works; one version
  (``upstream_fingerprint``) changes *without* a change event, to be inferred from the logs;
* decoy changes that did nothing: a prompt rewording, an unrelated deploy and a configuration
  change placed *nearer* to the onset than the true cause (plus pattern-specific ones).

The no-incident twin (``incident=False``) draws exactly the same random numbers: the same
traffic, the same texts, the same changes (the true cause's change event included), but the
cause has no effect on the outcome.

Patterns (see ``/shared/DESIGN.md``):

``retrieval``
    Legal RAG assistant. A ``corpus_update`` adds ~14,000 filings six weeks before the report;
    the embedding index is not rebuilt (``index_version`` stays ``ann-v41`` while
    ``corpus_version`` moves to ``filings-v42``). Queries about the new filings (a share that
    jumps at the update and grows as users ask about recent cases) retrieve poorly: top-1
    cosine relevance ~0.60 instead of ~0.815; the rolling mean crosses the 0.72 reliability
    threshold about a month later; fabricated citations (``hallucinated``) follow, concentrated
    in low-relevance, low-confidence answers. ``Scenario.evaluations`` holds the weekly
    50-question citation evaluation (95% bar); its question set is refreshed by one question a
    week, so it lags the traffic.
``refusal``
    Medical triage assistant. A ``model_update`` (``medtriage-v1`` -> ``medtriage-v2``) starts a
    staged rollout 96 hours before the failure window: a 5% canary, then a ramp to 100% over 72
    hours. v2 engages with high-risk chest-pain questions framed hypothetically or in the third
    person: their refusal rate falls from ~99% to ~2% (magnitude 1). About 0.3% of all traffic
    in the failure window is affected (847 queries at the real volume; ``scale=1`` is ~1/20 of
    it). Other refusal segments are unchanged.
``escalation``
    Support bot. A ``traffic_source_change`` (a competitor's blog post) brings account-less,
    general queries (``traffic_source="blog_referral"``, ``query_category="general_info"``,
    ``has_account=False``) 48 hours before the storm; the routing classifier
    (``classifier_version`` unchanged) was not trained on them (low ``confidence``) and escalates
    them. The post goes viral at the onset and escalation goes from the usual 8-12% to ~95-100%
    within 6 hours.

``generate(pattern, seed=s)`` varies the onset (date and hour), the magnitude, the volume
and the history length with the seed when they are not given, for the accuracy benchmark.

The accuracy benchmark also turns on two hard options (``generate(..., logged_decoys=True,
cause_lead=True)``, the same keywords for :func:`generate_kind`; default off, and off every draw
is what it was: their draws come from their own random streams). ``logged_decoys`` adds decoys
that the requests log as they log the cause (a prompt change near the onset, the kinds' deploy on
an ``app_version`` column), so the requests' exposure no longer singles out the cause;
``cause_lead`` lands the cause 2-18 h before the metric moves (``truth.cause_ts`` < ``truth.onset``).
See :class:`~analysis.scenarios.base.Hard`. The chunked writer does not take them.

``write_events(pattern, out_dir, ...)`` writes the same scenario at any volume with bounded
memory: the parameters (onset, changes, ground-truth window) are resolved once, then the events
are drawn and streamed to Parquet one time slice at a time (UTC days, halved while a slice is
expected to hold more than ``max_chunk_events``), each slice with its own seeded generator. Every
per-event draw depends only on the event's time, so the slices add up to the scenario; the rows
differ from :func:`generate`'s, the changes, onset, ground truth and rates do not.
``write_sample_data(..., chunked=True)`` (``python -m analysis generate`` above ``--scale 10``)
uses it for every case.
"""

from __future__ import annotations

from .arrivals import expected_events
from .base import CASE_NAMES, DAYS, PATTERNS, GroundTruth, Part, Scenario, resolve
from .cases import GENERATORS, generate
from .frames import events_frame, events_table
from .kinds import INCIDENT_KINDS, KINDS, NO_INCIDENT_KINDS, generate_kind
from .write import WrittenEvents, chunk_edges, write_events, write_events_jsonl, write_parquet, write_sample_data

__all__ = [
    "PATTERNS",
    "CASE_NAMES",
    "GroundTruth",
    "Scenario",
    "generate",
    "write_events",
    "WrittenEvents",
    "write_sample_data",
    "INCIDENT_KINDS",
    "NO_INCIDENT_KINDS",
    "KINDS",
    "generate_kind",
    # The building blocks the tests and the benchmarks reach for.
    "DAYS",
    "GENERATORS",
    "Part",
    "chunk_edges",
    "events_frame",
    "events_table",
    "expected_events",
    "resolve",
    "write_events_jsonl",
    "write_parquet",
]
