"""Q2's ranking: every logged change, plus the versions that changed in the logs without a change
event, scored on evidence (:func:`score_candidates`): timing against the onset and the step's
location, the metric stratified by the change's own column, a step at the change, the evidence at the
change's own time, query-mix drift starting at the change, a growing share of the new value, exposure
and staleness; and whether the data can separate the first candidates (:func:`separation`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from analysis import numbers as num
from analysis.engine import Engine, Where, as_engine
from analysis.engine.query import epoch_us
from analysis.stats import drift as drift_mod
from analysis.investigation.own_time import SEPARATION_LOGLIK, StepProfile, own_step, step_profile
from analysis.stats.decomposition import Decomposition
from analysis.investigation.evidence import Arms, StratifiedResult, staleness, step_test, stratified_comparison, value_share
from analysis.investigation.onset import MIN_EFFECT, Onset

__all__ = ["IncidentSignal", "ScoringOptions", "AFTER_ONSET_FACTOR", "CANDIDATE_COLUMNS", "DRIFT_COLUMNS", "DRIFT_SAMPLE", "EVIDENCE_WEIGHT", "EXPOSURE_HOURS", "EXPOSURE_LOGLIK", "Evidence", "LOCATION_REGION", "NO_ONSET_WEIGHT", "OWN_TIME_WEIGHT", "Q2Result", "RETRIEVAL_METRICS", "Ranking", "STALENESS_WEIGHT", "Separation", "TIMING_WEIGHT", "Timing", "score_candidates", "separation"]

# ----------------------------------------------------------------------------------------------
# scoring the candidates
# ----------------------------------------------------------------------------------------------

#: Rows per period the candidates' mix-drift evidence tests at most (a bounded md5-keyed sample).
DRIFT_SAMPLE = 20_000
#: Columns whose drift the candidates' mix evidence looks at.
DRIFT_COLUMNS = ("query_category", "traffic_source", "risk_category", "framing", "topic", "confidence")
RETRIEVAL_METRICS = frozenset({"retrieval_top1_score", "retrieval_mean_score", "hallucinated", "ungrounded_citation", "correct", "quality_score"})

CANDIDATE_COLUMNS = (
    "rank", "change_id", "change_type", "ts", "score", "evidence", "inferred", "attribute", "from_value", "to_value",
    "description", "lead_hours", "timing", "association", "step", "drift", "staleness", "mechanism", "own_step", "location",
    "location_loglik", "exposure", "excluded", "evidence_detail",
)




@dataclass(frozen=True, eq=False)
class Q2Result:
    """Q2: what changed? ``candidates`` ranked (most likely cause first), ``drift`` of the query
    mix between the baseline and the current period, the decompositions of the aggregate change,
    the inferred change events and the stratified comparisons by change."""

    candidates: pd.DataFrame
    drift: pd.DataFrame
    decompositions: list[Decomposition]
    inferred: pd.DataFrame
    stratified: dict[str, StratifiedResult]
    onset: Onset | None
    notes: list[str] = field(default_factory=list)
    separation: "Separation | None" = None

    @property
    def top(self) -> dict[str, Any] | None:
        return None if len(self.candidates) == 0 else self.candidates.iloc[0].to_dict()


def _strength(effect: float, pvalue: float, bad_sign: float, *, scale: float, alpha: float, floor: float) -> float:
    """Significance-gated standardized effect in the bad direction, mapped to [0, 1]."""
    if not (np.isfinite(effect) and np.isfinite(pvalue)) or pvalue >= alpha:
        return 0.0
    e = bad_sign * effect
    if e < floor:
        return 0.0
    return float(min(1.0, e / scale))


def _pfmt(p: float) -> str:
    return num.p_clause(p)


def _drift_strengths(drift_mod: Any, ref: pd.DataFrame, cur: pd.DataFrame, cols: Sequence[str], alpha: float,
                     decompositions: Mapping[str, Decomposition], bad_sign: float, gated: bool = True) -> dict[str, tuple[float, dict]]:
    """Column -> (linked drift strength in [0, 1], the drift_table row) for one pair of samples.

    ``gated``: only drifted columns count (significant and beyond the effect threshold);
    otherwise the effect counts as it is (to measure a drift already under way).
    """
    try:
        dt = drift_mod.drift_table(ref, cur, list(cols), alpha=alpha)
    except ValueError:
        return {}
    out: dict[str, tuple[float, dict]] = {}
    for r in dt.to_dict("records"):
        row = {k: r.get(k) for k in ("column", "test", "statistic", "pvalue", "effect", "drifted")}
        strength = 0.0
        thr = float(r.get("threshold") or 0.1)
        eff = float(r["effect"]) if r.get("effect") is not None and np.isfinite(float(r["effect"])) else 0.0
        if (bool(r.get("drifted")) or not gated) and thr > 0:
            strength = min(1.0, max(eff, 0.0) / (2 * thr))
        dec = decompositions.get(r["column"])
        if dec is not None and np.isfinite(dec.mix_share) and np.sign(dec.mix) == bad_sign:
            link = float(dec.mix_share)
        elif r["column"] == "confidence":
            link = 0.5
        else:
            link = 0.0
        out[str(r["column"])] = (strength * link, row)
    return out


@dataclass(frozen=True, eq=False)
class IncidentSignal:
    """What the candidates are scored against.

    ``onset`` is the detected onset (``None``, or ``onset.ts`` ``None``, when nothing changed);
    ``metric``, ``kind`` and ``alternative`` the incident metric, ``"rate"``/``"mean"`` and its bad
    alternative; ``window`` the series' window; ``reported_at`` the report (candidates after it are
    not scored). ``segment_series``, ``segment_where`` and ``segment_label`` are the metric's
    windowed series in the onset's segment, the filter of its events (``None``: all traffic) and
    its name; ``evidence_series`` is ``(series, label)``, where the evidence at each change's own
    time is computed (default: the segment's), and ``location_series`` ``(series, window)``, the
    same on finer windows, where the step's location is profiled (default: the evidence series).
    """

    onset: Onset | None
    metric: str
    kind: str
    alternative: str
    window: pd.Timedelta
    reported_at: pd.Timestamp
    segment_series: pd.DataFrame
    segment_where: Where | None
    segment_label: str
    evidence_series: tuple[pd.DataFrame, str] | None = None
    location_series: tuple[pd.DataFrame, pd.Timedelta] | None = None


@dataclass(frozen=True)
class ScoringOptions:
    """``alpha``: the significance of every piece of evidence (Bonferroni over the candidates);
    ``step_hours``: the before/after windows around a change; ``tau_hours``: the time scale of the
    timing prior for changes long before the onset; ``progress``: a progress bar."""

    alpha: float = 0.05
    step_hours: float = 48.0
    tau_hours: float = 168.0
    progress: bool = False


def _scoring_context(candidates: pd.DataFrame, eng: Engine, changes: pd.DataFrame | None, sig: IncidentSignal,
                     decompositions: Mapping[str, Decomposition] | None, options: ScoringOptions) -> _ScoringContext:
    w = pd.Timedelta(sig.window)
    prof = eng.profile()
    evidence = sig.evidence_series or (sig.segment_series, sig.segment_label)
    return _ScoringContext.build(
        eng=eng, changes=changes, onset=sig.onset, metric=sig.metric, kind=sig.kind, alternative=sig.alternative, window=w,
        reported_at=sig.reported_at, segment_series=sig.segment_series, segment_where=sig.segment_where,
        segment_label=sig.segment_label, evidence_series=evidence, location_series=sig.location_series or (evidence[0], w),
        decompositions=dict(decompositions or {}), alpha_level=options.alpha / max(len(candidates), 1),
        step_hours=options.step_hours, tau_hours=options.tau_hours, t_first=prof.ts_min,
        drift_columns=tuple(c for c in DRIFT_COLUMNS if prof.present(c)),
    )


def _ranked(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The scored rows ranked: by score, then a logged change before an inferred one, then the nearer one."""
    out = pd.DataFrame(rows, columns=[c for c in CANDIDATE_COLUMNS if c != "rank"])
    if len(out):
        out["_abs_lead"] = out["lead_hours"].abs().fillna(np.inf)
        out = out.sort_values(["score", "inferred", "_abs_lead"], ascending=[False, True, True], kind="stable").drop(columns="_abs_lead")
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out["ts"] = pd.to_datetime(out["ts"], utc=True)
    return out.reset_index(drop=True)


def score_candidates(candidates: pd.DataFrame, *, events: Any, changes: pd.DataFrame | None, signal: IncidentSignal,
                     decompositions: Mapping[str, Decomposition] | None = None,
                     options: ScoringOptions = ScoringOptions()) -> "Ranking":
    """Score every candidate change on evidence and rank them.

    Parameters
    ----------
    candidates
        Logged and inferred changes (``changes`` columns) made before the report.
    events, changes
        Canonical events or an engine over them; the logged changes (for the staleness check).
    signal
        The onset and its metric, and the series the evidence reads (:class:`IncidentSignal`).
    decompositions
        Segment column -> :class:`Decomposition` of the aggregate change (links a drift to the
        failure: the mix shift along a drifted column must carry the change).
    options
        Significance, the before/after span and the timing prior's scale (:class:`ScoringOptions`).

    Returns
    -------
    Ranking
        ``candidates`` ranked by ``score`` with :data:`CANDIDATE_COLUMNS`, and the
        ``stratified`` comparisons by ``change_id`` (a named tuple: it unpacks as a pair).

    Notes
    -----
    Evidence, each in [0, 1]:

    * timing :math:`T`: 1 inside the onset interval, 0 after it (a change after the onset cannot
      be its cause; linear in between the onset and the interval's end), :math:`e^{-\\Delta/\\tau}`
      for a change :math:`\\Delta` hours before the interval;
    * association :math:`A`: the metric among requests with the change's new value against the
      others in the same windows (:func:`stratified_comparison`), in the onset segment and in all
      traffic;
    * step :math:`S`: the metric's level in the ``options.step_hours`` after the change against the ones
      before, cut at the onset interval (so that a change just before the onset gets no credit
      for it); not computed for a change inside the interval, which cannot be told apart from the
      onset itself;
    * drift :math:`D`: the query mix (:func:`analysis.stats.drift.drift_table`) in the same windows,
      times the share of the aggregate change that is mix shift along the drifted column, minus
      the same for the window before against the one before that (a drift already under way was
      not started by this change);
    * staleness :math:`V`: a corpus change after which the retrieval index was not rebuilt
      (counts for retrieval metrics only);
    * mechanism :math:`M`: the new value's share grows from the change to the failure window (a
      rollout, a spreading traffic source) -- what lets a change long before the onset cause it;
    * own time :math:`O` and location :math:`L` (:func:`_own_time`, :func:`_finish_scores`): the
      before/after at the change's own time and the relative likelihood of a step there, with
      the exposure :math:`X` (:func:`_exposure`, the requests log the change's new value from its
      time on) as a prior of :data:`EXPOSURE_LOGLIK` on the location. Where the location is
      profiled, :math:`T` is :math:`L` (unless the evidence is staleness or a growing share).

    With :math:`E = 1 - (1-A)(1-S)(1-D)(1-0.7V)` and :math:`T' = \\max(T, M)` when :math:`A` or
    :math:`D` is positive, the score is :math:`0.25\\,T' + 0.75\\,E` (times 0.1 for changes after
    the onset interval). Recency alone gives at most 0.25. The weights are :data:`TIMING_WEIGHT`,
    :data:`EVIDENCE_WEIGHT`, :data:`STALENESS_WEIGHT`, :data:`AFTER_ONSET_FACTOR` and
    :data:`NO_ONSET_WEIGHT`; each kind of evidence is its own function (``_timing``,
    ``_association``, ``_step``, ``_mix_drift``, ``_staleness``, ``_mechanism``).
    """
    ctx = _scoring_context(candidates, as_engine(events), changes, signal, decompositions, options)
    rows = []
    strat: dict[str, StratifiedResult] = {}
    for rec in tqdm(candidates.to_dict("records"), desc="scoring changes", leave=False, disable=not options.progress):
        row, best = _score_one(ctx, rec)
        if best is not None:
            strat[row["change_id"]] = best
        rows.append(row)
    _finish_scores(ctx, rows)
    return Ranking(_ranked(rows), strat)


class Ranking(NamedTuple):
    """The ranked candidates and the stratified comparisons behind their association evidence."""

    candidates: pd.DataFrame
    stratified: dict[str, StratifiedResult]


#: How the evidence adds up to a score (see :func:`score_candidates`): timing counts a quarter and
#: the evidence three quarters; staleness enters the evidence at 0.7; a change after the onset
#: interval keeps a tenth of its score; without an onset the score is half the evidence.
TIMING_WEIGHT = 0.25
EVIDENCE_WEIGHT = 0.75
STALENESS_WEIGHT = 0.7
AFTER_ONSET_FACTOR = 0.1
NO_ONSET_WEIGHT = 0.5
#: How much the evidence at a change's own time counts (its before/after times the relative
#: likelihood of a step located there): less than a concurrent comparison, which sees the change's
#: own requests, and enough to outrank timing alone.
OWN_TIME_WEIGHT = 0.6
#: How far before the onset's interval the step's location is profiled.
LOCATION_REGION = pd.Timedelta(hours=72)
#: The prior weight, as a log-likelihood, of a change whose new value the requests themselves log
#: (its exposure is observed) against one known only from the change log: the 95% profile
#: threshold, so that it orders only candidates the series cannot separate, never overrides it.
EXPOSURE_LOGLIK = SEPARATION_LOGLIK
#: The hours on each side of a change where its logged value's share is read.
EXPOSURE_HOURS = 6.0


@dataclass(frozen=True)
class Evidence:
    """One kind of evidence for one change: its strength in [0, 1], its sentences, its numbers."""

    value: float = 0.0
    texts: tuple[str, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Timing:
    """Where a change sits against the onset: ``value`` (T), ``after`` the interval (cannot be the
    cause), ``coincident`` with it (its own step cannot be told from the onset), ``lead`` hours."""

    value: float
    after: bool
    coincident: bool
    lead: float
    text: str


@dataclass(frozen=True)
class _ScoringContext:
    """What every piece of evidence needs: the engine, the incident, the levels."""

    eng: Engine
    changes: pd.DataFrame | None
    metric: str
    kind: str
    window: pd.Timedelta
    reported_at: pd.Timestamp
    segment_series: pd.DataFrame
    evidence_series: tuple[pd.DataFrame, str]
    location_series: tuple[pd.DataFrame, pd.Timedelta]
    segment_where: Where | None
    segment_label: str
    decompositions: dict[str, Decomposition]
    alpha_level: float
    step_hours: float
    tau_hours: float
    t_first: pd.Timestamp
    drift_columns: tuple[str, ...]
    has_onset: bool
    onset_ts: pd.Timestamp | None
    lo: pd.Timestamp | None
    hi: pd.Timestamp | None
    bad_sign: float
    min_effect: float
    profile: StepProfile | None = None

    @staticmethod
    def build(*, onset: Onset | None, alternative: str, kind: str, window: pd.Timedelta, **kw: Any) -> "_ScoringContext":
        has_onset = onset is not None and onset.ts is not None
        if has_onset:
            o = onset.ts
            lo, hi = onset.interval if onset.interval is not None else (o - window, o + window)
            bad_sign = 1.0 if alternative == "greater" else -1.0 if alternative == "less" else float(np.sign(onset.effect) or 1.0)
        else:
            o = lo = hi = None
            bad_sign = 1.0 if alternative == "greater" else -1.0
        prof = None
        if has_onset:
            # the step's location near the onset: from three days before its interval to the report
            loc, loc_w = kw["location_series"]
            prof = step_profile(loc, kind=kind, window=loc_w, region=(lo - LOCATION_REGION, kw["reported_at"]), fit_before=lo - window)
        return _ScoringContext(kind=kind, window=window, has_onset=has_onset, onset_ts=o, lo=lo, hi=hi, bad_sign=bad_sign,
                               min_effect=MIN_EFFECT.get(kind, 0.2), profile=prof, **kw)


def _level(ctx: _ScoringContext, x: float) -> str:
    """The metric's level for the evidence: a rate in %, a mean in its unit."""
    return num.value(x, ctx.kind, ctx.metric)


def _timing(ctx: _ScoringContext, t_c: pd.Timestamp) -> Timing:
    """T: 1 inside the onset interval, falling to 0 at its end, e^(-hours before / tau) before it."""
    if not ctx.has_onset:
        return Timing(0.5, False, False, np.nan, "no onset detected: timing cannot be judged")
    o, lo, hi, w = ctx.onset_ts, ctx.lo, ctx.hi, ctx.window
    lead = (o - t_c) / pd.Timedelta(hours=1)
    end_ok = hi + w
    if t_c > end_ok:
        return Timing(0.0, True, False, lead, f"after the onset interval ({num.duration(-lead)} after the onset): cannot be its cause")
    if t_c > o:
        return Timing(float(max(0.0, 1 - (t_c - o) / (end_ok - o))), False, True, lead,
                      f"{num.duration(-lead)} after the detected onset, inside its interval")
    if t_c >= lo - w:
        return Timing(1.0, False, True, lead, f"coincides with the onset ({num.duration(lead)} before it, inside its interval)")
    return Timing(float(np.exp(-((lo - t_c) / pd.Timedelta(hours=1)) / ctx.tau_hours)), False, False, lead,
                  f"{num.duration(lead)} before the onset")


def _association(ctx: _ScoringContext, attr: str | None, to_v: str | None, t_c: pd.Timestamp) -> tuple[Evidence, StratifiedResult | None]:
    """A: the metric with the change's new value against the rest in the same windows (segment, then all traffic)."""
    if attr is None or to_v is None or not ctx.eng.has(attr):
        return Evidence(), None
    A = 0.0
    best: StratifiedResult | None = None
    for where, label in ((ctx.segment_where, ctx.segment_label), (None, "all traffic")):
        if where is None and label != "all traffic":
            continue
        r = stratified_comparison(ctx.eng, metric=ctx.metric, kind=ctx.kind, arms=Arms(attr, to_v), period=(t_c, ctx.reported_at),
                                  window=ctx.window, where=where, segment=label)
        if r is None:
            continue
        s_ = (_strength(r.effect, r.pvalue, ctx.bad_sign, scale=0.5, alpha=ctx.alpha_level / 2, floor=ctx.min_effect / 2)
              if r.windows_shared >= 3 else 0.0)
        if best is None or s_ > A or (s_ == A and r.windows_shared > best.windows_shared):
            best, A = r, max(A, s_)
        if ctx.segment_where is None:
            break
    if best is None:
        return Evidence(), None
    if best.windows_shared == 0:
        text = f"{attr} switched for all traffic at once: no concurrent comparison possible"
    else:
        text = (f"{ctx.metric} with {attr}={to_v} vs the rest in the same {best.windows_shared} windows ({best.segment}): "
                f"{_level(ctx, best.level_new)} vs {_level(ctx, best.level_old)}, effect {num.effect(best.effect, ctx.kind)}, "
                f"{_pfmt(best.pvalue)}")
    return Evidence(A, (text,), {"stratified": dict(best.__dict__)}), best


def _step(ctx: _ScoringContext, t_c: pd.Timestamp, before: tuple[pd.Timestamp, pd.Timestamp], after: tuple[pd.Timestamp, pd.Timestamp]) -> Evidence:
    """S: the metric's level after the change against before it, in the onset's segment."""
    st = step_test(ctx.segment_series, kind=ctx.kind, at=t_c, before=before, after=after)
    if st is None:
        return Evidence()
    S = _strength(st["effect"], st["pvalue"], ctx.bad_sign, scale=2 * ctx.min_effect, alpha=ctx.alpha_level, floor=ctx.min_effect)
    text = (f"{ctx.metric} stepped {_level(ctx, st['baseline'])} -> {_level(ctx, st['current'])} at the change "
            f"(effect {num.effect(st['effect'], ctx.kind)}, "
            f"{_pfmt(st['pvalue'])})")
    return Evidence(S, (text,) if S > 0 else (), {"step": st})


def _own_time(ctx: _ScoringContext, t_c: pd.Timestamp) -> tuple[Evidence, float]:
    """O: the metric in the day after the change against the same hours a week (or a day) before,
    in the onset's segment; and the log-likelihood of a step located exactly at the change
    (:mod:`analysis.investigation.own_time`). Returns the evidence and the log-likelihood."""
    ll = ctx.profile.at(t_c) if ctx.profile is not None else float("nan")
    series, label = ctx.evidence_series
    st = own_step(series, kind=ctx.kind, at=t_c, window=ctx.window, end=ctx.reported_at)
    if st is None:
        return Evidence(0.0, (), {"own_step": None, "location_loglik": ll}), ll
    O = _strength(st.effect, st.pvalue, ctx.bad_sign, scale=2 * ctx.min_effect, alpha=ctx.alpha_level, floor=ctx.min_effect)
    text = (f"{ctx.metric} in the day after the change vs the {st.lag} ({label}): {_level(ctx, st.baseline)} -> "
            f"{_level(ctx, st.current)} (effect {num.effect(st.effect, ctx.kind)}, {_pfmt(st.pvalue)})")
    if O == 0:
        text += ": no step at the change's own time"
    return Evidence(O, (text,), {"own_step": dict(st.__dict__), "location_loglik": ll}), ll


def _mix_drift(ctx: _ScoringContext, t_c: pd.Timestamp, b0: pd.Timestamp, a1: pd.Timestamp) -> Evidence:
    """D: the query mix drifting at the change, linked to the failure by the decomposition, net of a
    drift already under way before it (the window before against the one before that)."""
    cols = list(ctx.drift_columns)
    if not cols or (a1 - t_c) < pd.Timedelta(hours=6) or (t_c - b0) < pd.Timedelta(hours=6):
        return Evidence()
    pre0 = max(b0 - (t_c - b0), ctx.t_first)
    # bounded samples (every row while a period holds at most DRIFT_SAMPLE of them)
    ref = ctx.eng.sample_rows(cols, size=DRIFT_SAMPLE, where=Where.of(b0, t_c))[cols]
    cur = ctx.eng.sample_rows(cols, size=DRIFT_SAMPLE, where=Where.of(t_c, a1))[cols]
    older = ctx.eng.sample_rows(cols, size=DRIFT_SAMPLE, where=Where.of(pre0, b0))[cols]
    if len(ref) < 30 or len(cur) < 30:
        return Evidence()
    now = _drift_strengths(drift_mod, ref, cur, cols, ctx.alpha_level, ctx.decompositions, ctx.bad_sign)
    before = (_drift_strengths(drift_mod, older, ref, cols, ctx.alpha_level, ctx.decompositions, ctx.bad_sign, gated=False)
              if len(older) >= 30 else {})
    best_d, best_col = 0.0, None
    for col, (sd, _) in now.items():
        net = max(0.0, sd - before.get(col, (0.0, None))[0])
        if net > best_d:
            best_d, best_col = net, col
    texts: tuple[str, ...] = ()
    if best_col is not None:
        texts = (f"the query mix started to drift at the change ({best_col}), and the mix shift along {best_col} carries the aggregate change",)
    elif any(v[0] > 0 for v in now.values()):
        texts = ("the query mix drifted after the change but was already drifting before it",)
    return Evidence(best_d, texts, {"drift": [r for _, (_, r) in now.items()]})


def _staleness(ctx: _ScoringContext, ctype: str, attr: str | None, t_c: pd.Timestamp) -> Evidence:
    """V: a corpus (or embedding) change after which the retrieval index was not rebuilt."""
    if not (ctype in ("corpus_update", "embedding_model_update") or attr in ("corpus_version", "embedding_model")):
        return Evidence()
    stl = staleness(ctx.eng, ctx.changes, at=t_c, end=ctx.reported_at)
    if stl.get("stale"):
        return Evidence(1.0 if ctx.metric in RETRIEVAL_METRICS else 0.0,
                        (f"index {stl.get('index_version')} was not rebuilt after the corpus moved to {stl.get('corpus_version')}: stale",),
                        {"staleness": stl})
    return Evidence(0.0, ("the index was rebuilt after this change",) if stl.get("checked") else (), {"staleness": stl})


def _exposure(ctx: _ScoringContext, attr: str | None, to_v: str | None, t_c: pd.Timestamp) -> Evidence:
    """X: the requests log the change's own column, and its new value appears in them at the change
    (at most 5% of the segment's requests before it, at least half after): the requests were
    observably exposed to this change, not only by the change log's word."""
    if attr is None or to_v is None or not ctx.eng.has(attr):
        return Evidence()
    h = pd.Timedelta(hours=EXPOSURE_HOURS)
    # one query: the requests of the hours around the change by side and value of the column
    t = ctx.eng.totals(by=[attr], exprs={"__after": f"EPOCH_US(ts) >= {epoch_us(t_c)}"},
                       where=Where.of(max(t_c - h, ctx.t_first), min(t_c + h, ctx.reported_at)).and_(ctx.segment_where))
    side = t["__after"].str.lower() == "true"
    new_v = t[attr] == str(to_v)
    n0, n1 = int(t.loc[~side, "n"].sum()), int(t.loc[side, "n"].sum())
    before = float(t.loc[~side & new_v, "n"].sum() / n0) if n0 else float("nan")
    after = float(t.loc[side & new_v, "n"].sum() / n1) if n1 else float("nan")
    detail = {"exposure": {"share_before": before, "share_after": after, "n_before": n0, "n_after": n1}}
    ok = n1 > 0 and np.isfinite(after) and after >= 0.5 and (n0 == 0 or (np.isfinite(before) and before <= 0.05))
    if not ok:
        return Evidence(0.0, (), detail)
    return Evidence(1.0, (f"the requests log {attr}: {to_v} on {after:.0%} of them in the {EXPOSURE_HOURS:g} h after the change "
                          f"and {0.0 if n0 == 0 else before:.0%} before it (exposure observed, not only logged as a change)",), detail)


def _mechanism(ctx: _ScoringContext, attr: str | None, to_v: str | None, t_c: pd.Timestamp, *, linked: bool) -> Evidence:
    """M: the new value's share grows from the change to the failure window (a rollout, a spreading source)."""
    if attr is None or to_v is None or not ctx.eng.has(attr):
        return Evidence()
    early, _ = value_share(ctx.eng, attr, to_v, t_c, min(t_c + pd.Timedelta(hours=24), ctx.reported_at), ctx.segment_where)
    late, _ = value_share(ctx.eng, attr, to_v, max(ctx.onset_ts, t_c), ctx.reported_at, ctx.segment_where)
    detail = {"share": {"after_change": early, "failure_window": late}}
    if np.isfinite(early) and np.isfinite(late) and late >= 0.05 and late >= 2 * max(early, 1e-9) and linked:
        return Evidence(1.0, (f"share of {attr}={to_v} grew from {early:.1%} after the change to {late:.1%} in the failure window",), detail)
    return Evidence(0.0, (), detail)


def _score_one(ctx: _ScoringContext, rec: Mapping[str, Any]) -> tuple[dict[str, Any], StratifiedResult | None]:
    """One candidate's evidence, score and row of the ranking."""
    cid = str(rec["change_id"])
    t_c = pd.Timestamp(rec["ts"])
    attr = rec.get("attribute")
    attr = str(attr) if isinstance(attr, str) and attr else None
    to_v = rec.get("to_value")
    to_v = str(to_v) if isinstance(to_v, str) and to_v else None
    ctype = str(rec.get("change_type") or "other")
    tm = _timing(ctx, t_c)
    assoc, best = _association(ctx, attr, to_v, t_c)
    b0 = max(t_c - pd.Timedelta(hours=ctx.step_hours), ctx.t_first)
    a1 = t_c + pd.Timedelta(hours=ctx.step_hours)
    # only a change before the onset interval can show its own step and drift: for one at the
    # onset they cannot be told apart from the onset itself
    separable = ctx.has_onset and not tm.coincident and not tm.after
    if separable:
        a1 = min(a1, ctx.lo - ctx.window)  # one window of margin: the onset is only known to the window
    a1 = min(a1, ctx.reported_at)
    step = _step(ctx, t_c, (b0, t_c), (t_c, a1)) if separable else Evidence()
    drift = _mix_drift(ctx, t_c, b0, a1) if separable else Evidence()
    stale = _staleness(ctx, ctype, attr, t_c)
    own, ll = _own_time(ctx, t_c) if ctx.has_onset and not tm.after else (Evidence(), float("nan"))
    expo = _exposure(ctx, attr, to_v, t_c) if ctx.has_onset and not tm.after and np.isfinite(ll) else Evidence()
    A, S, D, V = assoc.value, step.value, drift.value, stale.value
    mech = (_mechanism(ctx, attr, to_v, t_c, linked=A > 0 or D > 0) if ctx.has_onset and not tm.after else Evidence())
    M = mech.value
    E = 1 - (1 - A) * (1 - S) * (1 - D) * (1 - STALENESS_WEIGHT * V)
    T_eff = max(tm.value, M) if (A > 0 or D > 0) and not tm.after else tm.value
    detail: dict[str, Any] = {"lead_hours": tm.lead}
    texts = [tm.text]
    for ev in (assoc, step, drift, stale, own, expo, mech):
        detail.update(ev.detail)
        texts.extend(ev.texts)
    row = {
        "change_id": cid, "change_type": ctype, "ts": t_c, "score": np.nan, "_E": E, "evidence": "; ".join(texts),
        "inferred": cid.startswith("inferred:"), "attribute": attr, "from_value": rec.get("from_value"),
        "to_value": to_v, "description": rec.get("description"), "lead_hours": tm.lead, "timing": T_eff,
        "association": A, "step": S, "drift": D, "staleness": V, "mechanism": M, "own_step": own.value, "location": np.nan,
        "location_loglik": ll, "exposure": expo.value, "excluded": tm.after,
        "evidence_detail": detail,
    }
    return row, best


def _finish_scores(ctx: _ScoringContext, rows: list[dict[str, Any]]) -> None:
    """Every row's location evidence L and its score: :math:`E' = 1 - (1 - E)(1 - w\\,O\\,L)` with
    ``w`` = :data:`OWN_TIME_WEIGHT`, then timing and evidence weighted as :func:`score_candidates` says.

    L is the relative likelihood of a step at the change against one at the best-fitting
    candidate (its neighbours), when that candidate is in the 95% profile-likelihood set of the
    step's location; against the best location anywhere otherwise (no candidate is where the step
    is, so none gets full credit)."""
    lls = [r["location_loglik"] for r in rows if np.isfinite(r["location_loglik"])]
    adj = [r["location_loglik"] + EXPOSURE_LOGLIK * r["exposure"] for r in rows if np.isfinite(r["location_loglik"])]
    top = max(adj) if adj else np.nan
    if ctx.profile is not None and np.isfinite(ctx.profile.best) and not (lls and ctx.profile.best - max(lls) < SEPARATION_LOGLIK):
        top = ctx.profile.best
    for r in rows:
        ll = r["location_loglik"]
        L = float(min(1.0, np.exp(ll + EXPOSURE_LOGLIK * r["exposure"] - top))) if np.isfinite(ll) and np.isfinite(top) else 0.0
        r["location"] = L
        T_onset = r["timing"]
        # staleness or a growing share: the effect does not start as a step at the change's time
        keeps = r["staleness"] > 0 or (r["mechanism"] > 0 and (r["association"] > 0 or r["drift"] > 0))
        if np.isfinite(ll) and not keeps and not r["excluded"]:
            # the step's location on the fine windows says when the failure started better than
            # the onset's window does: a change is timely as far as a step there explains the series
            r["timing"] = L
            r["evidence"] = (f"timing from the step's location: relative likelihood {L:.2f} of a step at the change "
                             f"(onset window alone: {T_onset:.2f}); " + r["evidence"])
        E = 1 - (1 - r.pop("_E")) * (1 - OWN_TIME_WEIGHT * r["own_step"] * L)
        if ctx.has_onset:
            score = TIMING_WEIGHT * r["timing"] + EVIDENCE_WEIGHT * E
            if r["excluded"]:
                score *= AFTER_ONSET_FACTOR
        else:
            score = NO_ONSET_WEIGHT * E
        r["score"] = float(score)



@dataclass(frozen=True)
class Separation:
    """Can the data tell the first candidate from the second?

    ``margin`` is the difference of their scores; ``loglik_difference`` the difference of the
    log-likelihoods of a step located at each (NaN when either has none). ``separable`` is False
    when the first has no evidence beyond timing, or when both rest on the evidence at their own
    time alone and their step locations are in the same 95% profile-likelihood set
    (:data:`analysis.investigation.own_time.SEPARATION_LOGLIK`).
    """

    first: str | None
    second: str | None
    margin: float
    loglik_difference: float
    separable: bool
    text: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _direct(r: Mapping[str, Any]) -> float:
    """Evidence that sees the change's own requests or its mechanism (not only the series' timing)."""
    return max(float(r.get("association") or 0), float(r.get("step") or 0), float(r.get("drift") or 0),
               float(r.get("staleness") or 0), float(r.get("mechanism") or 0) * float(r.get("association") or 0))


def separation(ranked: pd.DataFrame) -> Separation | None:
    """The margin between the first two candidates (not excluded) and whether the data separate them."""
    live = ranked[~ranked["excluded"].astype(bool)] if len(ranked) else ranked
    if len(live) == 0:
        return None
    a = live.iloc[0].to_dict()
    if len(live) == 1:
        return Separation(str(a["change_id"]), None, float(a["score"]), float("nan"), True, "the only candidate before the onset")
    b = live.iloc[1].to_dict()
    margin = float(a["score"] - b["score"])
    own_a = float(a.get("own_step") or 0) * float(a.get("location") or 0)
    dll = float(a.get("location_loglik", np.nan) - b.get("location_loglik", np.nan))
    if _direct(a) == 0 and own_a == 0:
        return Separation(str(a["change_id"]), str(b["change_id"]), margin, dll, False,
                          f"no evidence beyond timing: the data cannot separate {a['change_id']} from {b['change_id']}")
    if _direct(a) == 0:
        # the first rests on its own time alone: any other candidate whose step fits about as well is a rival
        for r in live.iloc[1:].to_dict("records"):
            d_r = float(a.get("location_loglik", np.nan) - r.get("location_loglik", np.nan))
            if float(r.get("own_step") or 0) > 0 and np.isfinite(d_r) and abs(d_r) < SEPARATION_LOGLIK:
                why = ""
                if float(a.get("exposure") or 0) > float(r.get("exposure") or 0):
                    why = (f"; {a['change_id']} ranks first because the requests log its new value from its time on "
                           f"(its exposure is observed), while {r['change_id']} is known only from the change log")
                return Separation(str(a["change_id"]), str(r["change_id"]), float(a["score"] - r["score"]), d_r, False,
                                  f"both show the step at their own time and a step at either explains the series about as "
                                  f"well (log-likelihood difference {d_r:.2f} < {SEPARATION_LOGLIK:.2f}): the data cannot "
                                  f"separate {a['change_id']} from {r['change_id']}{why}")
    why = (f"log-likelihood of the step {dll:.1f} higher at {a['change_id']}" if np.isfinite(dll) and _direct(a) == 0
           else "its own requests or mechanism show the change")
    return Separation(str(a["change_id"]), str(b["change_id"]), margin, dll, True,
                      f"{a['change_id']} leads {b['change_id']} by {margin:.2f} ({why})")
