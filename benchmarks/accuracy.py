"""Accuracy of the whole investigation on generated incidents and their no-incident twins.

Run: ``.venv/bin/python benchmarks/accuracy.py`` (the three case-study patterns and the nine kinds
of :mod:`analysis.scenarios.kinds`, 20 seeds each, incident and twin: 480 investigations, one to
two hours on one core; run it alone). ``--seeds N``, ``--first-seed S``, ``--patterns`` and
``--kinds`` make other runs (``--patterns`` with no value skips the case studies).

The scenarios are hard by default: the generators' ``logged_decoys`` and ``cause_lead`` options
(:class:`analysis.scenarios.base.Hard`) log decoys on the requests as the cause is logged, and
land the cause hours before the metric moves. ``--easy`` runs the scenarios without them (the
decoys known only from the change log, the retrieval and kinds' causes at the onset).

The seeds are ``first-seed .. first-seed + N - 1``. The held-out seeds 1000-1002 are never run
here: ``tests/test_heldout.py`` sweeps them in CI; a range that overlaps them is refused.

The kinds run with ``pattern="auto"`` (every metric and every low-cardinality column scanned, the
application's ``language`` included). A no-incident kind (a holiday mix shift, a logging outage,
an evaluator outage) counts as right when the verdict is ``no_incident``; its fact (the traffic
shift, the logging gap, the coverage drop) counts as found when the report states it.

Printed, per pattern and kind and overall:

* how often the true cause ranks first (target >= 95%), the cause's rank (median, worst), and
  how often a *logged* decoy (one whose column the requests log) ranks above it,
* onset error in hours (detected minus true onset, the time the metric moves): median and 90th
  percentile of the absolute error; how often the onset falls inside the scoring window (2
  analysis windows before to 3 after the truth's onset: -12/+18 h for retrieval, -2/+3 h for the
  rest) and inside the truth's own, wider ``onset_window``,
* the scope verdict on incidents (``systematic`` expected),
* the false incident rate on the twins (verdict other than ``no_incident``; target <= 5%),
* the median time per investigation (seconds).

``--write`` writes ``benchmarks/logs/accuracy.json`` (``--easy``: ``accuracy_easy.json``): one row
per run, the summaries, the git commit, whether the tree had uncommitted changes, the date, the
exact command and the seeds; and ``benchmarks/logs/accuracy.md``, the tables rendered from the
logs. ``--readme`` renders the committed logs into README.md between ``<!-- accuracy:begin -->``
and ``<!-- accuracy:end -->`` (no runs). Nothing here asserts: read the figures.

``--text-only`` runs every scenario with only what a real export carries: the outcome labels,
``confidence``, ``quality_score``, ``expected_output``, the segment columns (``query_category``,
``risk_category``, ``framing``, ``traffic_source``, ``has_account``) and, for the retrieval
pattern, the relevance scores removed. The labels are derived from the text and the topics read
from it; each row also carries the derived labels' precision and recall against the hidden labels
(:func:`analysis.text.outcomes.measure_rule` on the full events). Its log is
``benchmarks/logs/accuracy_text.json``. Every run records the affected set's Jaccard index against
the truth's affected events.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _accuracy_log as acc_log

from analysis import investigate, scenarios
from analysis.engine import open_engine
from analysis.scenarios import kinds as scenario_kinds
from analysis.text import outcomes as text_outcomes

_FACT_FOUND = {
    "holiday_mix_shift": lambda pm: pm.q3.mix_shift is not None,
    "logging_outage": lambda pm: any(f.kind == "logging_gap" for f in pm.data_quality),
    "evaluator_outage": lambda pm: any(f.kind == "label_coverage_drop" for f in pm.data_quality),
}
_HOUR = pd.Timedelta(hours=1)
SAMPLES = Path(__file__).resolve().parents[1] / "sample_data"
#: What a real trace export does not carry (``--text-only``).
TEXT_ONLY_DROP = ("refused", "escalated", "hallucinated", "correct", "quality_score", "confidence", "expected_output",
                  "query_category", "risk_category", "framing", "traffic_source", "has_account")
RAG_SCORES = ("retrieval_scores", "retrieval_top1_score", "retrieval_mean_score")


def _text_only(sc: scenarios.Scenario) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The events as an export carries them, and the derived labels' precision/recall against the hidden ones."""
    drop = [*TEXT_ONLY_DROP, *(RAG_SCORES if sc.pattern == "retrieval" else ())]
    quality: dict[str, Any] = {}
    with open_engine(sc.events) as eng:
        for rule in text_outcomes.DERIVATION_RULES:
            if eng.profile().present(rule.column):
                m = text_outcomes.measure_rule(eng, rule)
                if m is not None and m.n:
                    quality[rule.column] = {"precision": m.precision, "recall": m.recall, "n": m.n}
    return sc.events.drop(columns=[c for c in drop if c in sc.events.columns]), quality


def _scenario(pattern: str, seed: int, incident: bool, hard: bool) -> scenarios.Scenario:
    opts = {"logged_decoys": hard, "cause_lead": hard}
    if pattern in scenario_kinds.KINDS:
        return scenario_kinds.generate_kind(pattern, seed=seed, incident=incident, **opts)
    return scenarios.generate(pattern, seed=seed, incident=incident, **opts)


def _cause_ts(sc: scenarios.Scenario) -> pd.Timestamp | None:
    """When the cause landed: the truth's ``cause_ts``, else its change row, else its silent change."""
    tr = sc.truth
    if tr.cause_ts is not None:
        return tr.cause_ts
    row = sc.changes.loc[sc.changes["change_id"] == tr.cause_change_id, "ts"]
    if len(row):
        return pd.Timestamp(row.iat[0])
    return pd.Timestamp(tr.silent_changes[0]["ts"]) if tr.silent_changes else None


def _ranking(sc: scenarios.Scenario, cands: pd.DataFrame) -> dict[str, Any]:
    """The cause's rank and margin, and the logged decoys (their column is on the requests) above it."""
    tr = sc.truth
    ch = sc.changes
    logged = set(ch.loc[ch["change_id"].isin(tr.decoy_change_ids) & ch["attribute"].isin(sc.events.columns), "change_id"])
    hit = cands.index[cands["change_id"] == tr.cause_change_id]
    rank = int(cands["rank"].iat[hit[0]]) if len(hit) else None
    above = cands if rank is None else cands[cands["rank"] < rank]
    others = cands.loc[cands["change_id"] != tr.cause_change_id, "score"]
    top = str(cands["change_id"].iat[0]) if len(cands) else None
    return {
        "top": top,
        "top_is": ("cause" if top == tr.cause_change_id else "logged decoy" if top in logged
                   else "decoy" if top in tr.decoy_change_ids else "other"),
        "cause": tr.cause_change_id, "cause_first": top == tr.cause_change_id, "cause_rank": rank,
        "margin": float(cands["score"].iat[hit[0]] - (others.max() if len(others) else 0.0)) if len(hit) else None,
        "logged_decoys_above": sorted(set(above["change_id"].astype(str)) & logged),
    }


def _onset(sc: scenarios.Scenario, onset: Any) -> dict[str, Any]:
    """Onset error (hours, detected minus true) and whether it is inside the scoring and truth windows."""
    tr = sc.truth
    cause_ts = _cause_ts(sc)
    out: dict[str, Any] = {"cause_lead_h": None if cause_ts is None else round((tr.onset - cause_ts) / _HOUR, 3)}
    if onset is None:
        return {**out, "onset_error_h": None, "onset_in_window": False, "onset_in_tight": False}
    ts = pd.Timestamp(onset)
    err = (ts - tr.onset) / _HOUR
    before, after = acc_log.tight_window(sc.pattern)
    lo, hi = tr.onset_window
    return {**out, "onset_error_h": round(err, 3), "onset_in_window": bool(lo <= ts <= hi),
            "onset_in_tight": bool(-before <= err <= after)}


#: What a team writes for its own domain, passed on text-only runs: the triage team's risk taxonomy
#: and its rules file (emergency redirects), as the refusal sample case ships them (the generated
#: refusal cases speak the same domain). Without a taxonomy a text-only log has no high tier.
TEXT_FILES = {"refusal": {"taxonomy_path": SAMPLES / "refusal_regression" / "taxonomy.yaml",
                          "rules_path": SAMPLES / "refusal_regression" / "rules.yaml"}}


def _run_one(pattern: str, seed: int, incident: bool, hard: bool, text_only: bool = False) -> dict[str, Any]:
    kind = pattern in scenario_kinds.KINDS
    sc = _scenario(pattern, seed, incident, hard)
    events, quality = _text_only(sc) if text_only else (sc.events, {})
    files = {k: str(v) for k, v in TEXT_FILES.get(pattern, {}).items()} if text_only else {}
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm = investigate(
            events, sc.changes, pattern="auto" if kind else pattern, reported_at=sc.truth.reported_at, progress=False,
            seed=seed, evaluations=sc.evaluations, **files,
        )
    out: dict[str, Any] = {"pattern": pattern, "seed": seed, "incident": incident, "seconds": round(time.perf_counter() - t0, 2),
                           "verdict": pm.q3.verdict, "n_events": len(sc.events), "label_quality": quality}
    cands = pm.q2.candidates
    if pattern in scenario_kinds.NO_INCIDENT_KINDS:
        # the "incident" run holds the look-alike (surge, outage); the verdict must still be no_incident
        return {**out, "incident": False, "lookalike": incident, "top": str(cands["change_id"].iat[0]) if len(cands) else None,
                "fact_found": _FACT_FOUND[pattern](pm) if incident else None}
    if not incident:
        return {**out, "top": str(cands["change_id"].iat[0]) if len(cands) else None}
    sep = pm.q2.separation
    tr = sc.truth
    ids = set(pm.affected_events["event_id"]) if len(pm.affected_events) else set()
    truth_ids = set(tr.affected_event_ids)
    return {
        **out, **_ranking(sc, cands), **_onset(sc, pm.onset.get("ts")),
        "separable": None if sep is None else bool(sep.separable),
        "affected_precision": round(len(ids & truth_ids) / len(ids), 4) if ids else None,
        "affected_recall": round(len(ids & truth_ids) / len(truth_ids), 4) if truth_ids else None,
        "affected_jaccard": round(len(ids & truth_ids) / len(ids | truth_ids), 4) if (ids | truth_ids) else None,
        "gap_category": pm.q4.gap_category,
    }


def _print_summary(label: str, s: dict[str, Any]) -> None:
    print(f"== {label} ==")
    if s["incidents"]:
        print(f"  true cause ranked first      {acc_log._frac(s['cause_first'])}   (target >= 95%)")
        print(f"  rank of the cause            median / worst {acc_log._rank(s)}")
        print(f"  logged decoy above the cause {acc_log._frac(s['logged_decoy_above'])}")
        if s["top_when_wrong"]:
            print(f"  ranked first instead        {', '.join(s['top_when_wrong'])}")
        print(f"  onset |error| hours          median / p90 {acc_log._err(s)}")
        print(f"  onset inside scoring window  {acc_log._frac(s['onset_in_tight_window'])} "
              f"(truth's wider window: {acc_log._frac(s['onset_in_truth_window'])})")
        print(f"  verdict systematic           {acc_log._frac(s['systematic'])}")
        print(f"  first two told apart         {acc_log._frac(s['told_apart'])}")
    print(f"  false incident rate (twins)  {acc_log._frac(s['false_incidents'])}   (target <= 5%)")
    if s["fact_found"][1]:
        print(f"  look-alike's fact reported   {acc_log._frac(s['fact_found'])}")
    print(f"  time per investigation       median {acc_log._num(s['seconds_median'])} s (max {acc_log._num(s['seconds_max'])} s)")


def _in_group(name: str, pattern: str) -> bool:
    return (name == "case studies" and pattern in scenarios.PATTERNS) or (name == "incident kinds" and pattern in scenario_kinds.INCIDENT_KINDS)


def _print_text(rows: list[dict[str, Any]]) -> None:
    """The affected set's Jaccard (median over incidents) and the derived labels' precision/recall."""
    jac = [r["affected_jaccard"] for r in rows if r.get("affected_jaccard") is not None]
    if jac:
        print(f"  affected set Jaccard         median {pd.Series(jac).median():.2f} (min {min(jac):.2f}, n={len(jac)})")
    for col in sorted({c for r in rows for c in (r.get("label_quality") or {})}):
        q = [r["label_quality"][col] for r in rows if col in (r.get("label_quality") or {})]
        p = pd.Series([x["precision"] for x in q], dtype=float).median()
        rc = pd.Series([x["recall"] for x in q], dtype=float).median()
        print(f"  derived {col:<20} precision {p:.3f} recall {rc:.3f} (median of {len(q)} runs)")


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _write(log: dict[str, Any], easy: bool) -> None:
    """The run's log, and accuracy.md rendered from the hard log and the easy one (when both exist)."""
    acc_log.LOG_DIR.mkdir(parents=True, exist_ok=True)
    path = acc_log.EASY_LOG if easy else acc_log.LOG
    if log.get("text_only"):
        path = acc_log.LOG_DIR / "accuracy_text.json"
        path.write_text(acc_log.dumps(log), encoding="utf-8")
        print(f"wrote {path.relative_to(acc_log.REPO)}")
        return
    path.write_text(acc_log.dumps(log), encoding="utf-8")
    hard_log, easy_log = _load(acc_log.LOG), _load(acc_log.EASY_LOG)
    main = hard_log if hard_log is not None else easy_log
    other = easy_log if hard_log is not None else None
    acc_log.MARKDOWN.write_text(acc_log.markdown(main, other), encoding="utf-8")
    print(f"wrote {path.relative_to(acc_log.REPO)} and {acc_log.MARKDOWN.relative_to(acc_log.REPO)}")


def _readme() -> int:
    """README.md's accuracy block rendered from the committed logs."""
    hard_log = _load(acc_log.LOG)
    if hard_log is None:
        print(f"no log at {acc_log.LOG}: run with --write first", file=sys.stderr)
        return 1
    text = acc_log.README.read_text(encoding="utf-8")
    acc_log.README.write_text(acc_log.splice(text, acc_log.render(hard_log, _load(acc_log.EASY_LOG))), encoding="utf-8")
    print(f"README.md's accuracy tables rendered from {acc_log.LOG.relative_to(acc_log.REPO)}")
    return 0


def _parser() -> argparse.ArgumentParser:
    held = acc_log.HELD_OUT_SEEDS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20, help="seeds per pattern and kind (default 20)")
    ap.add_argument("--first-seed", type=int, default=0,
                    help=f"first seed (default 0); the range may not overlap the held-out seeds {held[0]}-{held[-1]}, "
                         "which tests/test_heldout.py sweeps in CI and the benchmark never runs")
    ap.add_argument("--patterns", nargs="*", default=list(scenarios.PATTERNS))
    ap.add_argument("--kinds", nargs="*", default=list(scenario_kinds.KINDS), help="kinds of analysis.scenarios.kinds")
    ap.add_argument("--easy", action="store_true", help="without the hard options (logged_decoys, cause_lead): the old scenarios")
    ap.add_argument("--text-only", action="store_true",
                    help="labels, confidence and segment columns removed (and the retrieval scores): derived from the text")
    ap.add_argument("--write", action="store_true", help="write benchmarks/logs/accuracy.json (--easy: accuracy_easy.json) and accuracy.md")
    ap.add_argument("--readme", action="store_true", help="render README.md's accuracy tables from the committed logs, and run nothing")
    ap.add_argument("--verbose", action="store_true", help="one line per run")
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = _parser()
    args = ap.parse_args(argv)
    if args.readme:
        return _readme()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    if args.seeds < 1 or args.first_seed < 0:
        ap.error("--seeds must be at least 1 and --first-seed non-negative")
    if set(seeds) & set(acc_log.HELD_OUT_SEEDS):
        ap.error(f"seeds {seeds[0]}-{seeds[-1]} overlap the held-out seeds {list(acc_log.HELD_OUT_SEEDS)} (kept for tests/test_heldout.py)")
    commit, dirty = acc_log.git_state()
    hard = not args.easy
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    todo = [*args.patterns, *args.kinds]
    for pattern in todo:
        for seed in seeds:
            for incident in (True, False):
                r = _run_one(pattern, seed, incident, hard, args.text_only)
                rows.append(r)
                if args.verbose:
                    keys = ("pattern", "seed", "incident", "verdict", "top", "cause_rank", "logged_decoys_above", "onset_error_h",
                            "onset_in_tight", "seconds")
                    print("  ".join(f"{k}={r.get(k)}" for k in keys), flush=True)
    total = time.perf_counter() - t0
    summaries = acc_log.groups(rows, scenario_kinds.INCIDENT_KINDS)
    for name, s in summaries.items():
        _print_summary(name, s)
        _print_text([r for r in rows if name in ("all", r["pattern"]) or _in_group(name, r["pattern"])])
    print(f"total {total:.0f} s")
    if args.write:
        log = {"mode": "hard" if hard else "easy", "options": {"logged_decoys": hard, "cause_lead": hard},
               "command": shlex.join(["python", "benchmarks/accuracy.py", *argv]), "commit": commit, "dirty": dirty,
               "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "seeds": seeds,
               "held_out_seeds": list(acc_log.HELD_OUT_SEEDS), "patterns": list(args.patterns), "kinds": list(args.kinds),
               "scoring_window_hours": {p: list(acc_log.tight_window(p)) for p in todo},
               "total_seconds": round(total, 1), "summaries": summaries, "rows": rows, "text_only": bool(args.text_only)}
        _write(log, args.easy)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
