"""How much the generators' wording gives away: a bag-of-words classifier on the generated text.

Run: ``.venv/bin/python benchmarks/wording.py`` (about a minute on two cores). ``--write`` also
writes ``benchmarks/logs/wording.md`` (the figures, the git commit, the date and the command);
``--out FILE`` writes the same Markdown elsewhere.

For each case study (``generate(pattern, seed, scale=0.3)``) and each kind
(``generate_kind(kind, seed, days=6, scale=0.5)``), the rows are sampled down to ``--max-rows``
(seeded), then a TF-IDF bag of words (unigrams and bigrams, Latin words and single CJK characters)
and a logistic regression predict, 5-fold stratified cross-validated (seeded):

* each hidden segment column present (``query_category``, ``framing``, ``traffic_source``,
  ``risk_category``, ``language``) from ``input_text``;
* the case's failing slice (every condition of ``truth.segment`` at once) from ``input_text``;
* each outcome present (``refused``, ``escalated``) from ``output_text`` (rows with an answer).

Each row gives the cross-validated accuracy against the majority-class baseline, and the balanced
accuracy (the mean recall over the classes; 1 / classes by chance) and, for two classes, the area
under the ROC curve (0.5 by chance), which are the figures to read for a rare slice. A template lookup scores 1.0; a text that carries no signal scores the baseline.
Per case, the share of distinct texts: unique inputs / rows and unique answers / rows with one.

Nothing here asserts: ``tests/test_scenarios_wording.py`` checks a small case against floors and
ceilings chosen from these figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.scenarios import PATTERNS, generate  # noqa: E402
from analysis.scenarios.kinds import KINDS, generate_kind  # noqa: E402

LOG = ROOT / "benchmarks" / "logs" / "wording.md"
SEGMENTS = ("query_category", "framing", "traffic_source", "risk_category", "language")
OUTCOMES = ("refused", "escalated")
#: Latin words, or one CJK character at a time (Japanese is written without spaces).
TOKENS = r"(?u)[\u3040-\u30ff\u3400-\u9fff]|\b\w+\b"


def classifier(seed: int = 0) -> Any:
    """The TF-IDF bag of words and a logistic regression per class (one against the rest; the same in the test)."""
    return make_pipeline(
        TfidfVectorizer(token_pattern=TOKENS, ngram_range=(1, 2), min_df=2, sublinear_tf=True),
        OneVsRestClassifier(LogisticRegression(solver="liblinear", random_state=seed)),
    )


def cv_scores(text: pd.Series, y: pd.Series, seed: int = 0, folds: int = 5) -> dict[str, float]:
    """Cross-validated accuracy and balanced accuracy of :func:`classifier`, and the baselines.

    Parameters
    ----------
    text, y
        The texts (missing as empty) and the target (missing rows dropped first).
    seed
        Seeds the folds and the classifier.
    folds
        Stratified folds (fewer when the rarest class has fewer rows).

    Returns
    -------
    dict
        ``n``, ``classes``, ``accuracy``, ``majority`` (the majority class's share),
        ``balanced`` and ``chance`` (1 / classes), ``auc`` (two classes only: the area under the ROC
        curve of the predicted probability, 0.5 by chance, whatever the classes' sizes).
    """
    keep = y.notna().to_numpy()
    x = text[keep].fillna("").astype(str).to_numpy()
    lab = y[keep].astype(str).to_numpy()
    counts = pd.Series(lab).value_counts()
    out = {"n": int(len(lab)), "classes": int(len(counts)), "majority": float(counts.iloc[0] / len(lab)),
           "chance": 1.0 / max(len(counts), 1), "accuracy": float("nan"), "balanced": float("nan"), "auc": float("nan")}
    k = min(folds, int(counts.iloc[-1])) if len(counts) > 1 else 0
    if k < 2:
        return out
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    scoring = ("accuracy", "balanced_accuracy") + (("roc_auc",) if len(counts) == 2 else ())
    res = cross_validate(classifier(seed), x, lab, cv=cv, scoring=scoring)
    out.update(accuracy=float(res["test_accuracy"].mean()), balanced=float(res["test_balanced_accuracy"].mean()),
               auc=float(res["test_roc_auc"].mean()) if len(counts) == 2 else float("nan"))
    return out


def slice_of(events: pd.DataFrame, segment: dict[str, Any]) -> pd.Series | None:
    """Whether each row is in the truth's failing slice (every condition of ``segment``)."""
    if not segment:
        return None
    inside = pd.Series(True, index=events.index)
    for col, val in segment.items():
        vals = val if isinstance(val, (list, tuple)) else [val]
        inside &= events[col].astype(object).isin(vals).to_numpy()
    return inside


def cases(seed: int) -> Iterator[tuple[str, pd.DataFrame, dict[str, Any]]]:
    """``(name, events, truth segment)`` of every case study and kind, at a small scale."""
    for pattern in PATTERNS:
        sc = generate(pattern, seed=seed, scale=0.3)
        yield sc.case, sc.events, dict(sc.truth.segment)
    for kind in KINDS:
        sc = generate_kind(kind, seed=seed, days=6, scale=0.5)
        yield kind, sc.events, dict(sc.truth.segment)


def measure(name: str, events: pd.DataFrame, segment: dict[str, Any], seed: int, max_rows: int) -> list[dict[str, Any]]:
    """The figures of one case: one row per target, plus the distinct-text shares."""
    ev = events.sample(n=min(max_rows, len(events)), random_state=seed) if len(events) > max_rows else events
    ev = ev.reset_index(drop=True)
    inputs = ev["input_text"].astype(object)
    answered = ev["output_text"].notna().to_numpy()
    base = {"case": name, "rows": len(ev),
            "unique_inputs": float(inputs.nunique() / len(ev)),
            "unique_outputs": float(ev.loc[answered, "output_text"].nunique() / max(int(answered.sum()), 1))}
    rows = []
    targets: list[tuple[str, str, pd.Series, pd.Series]] = [
        (c, "input_text", inputs, ev[c].astype(object)) for c in SEGMENTS if c in ev.columns]
    inside = slice_of(ev, segment)
    if inside is not None and len(segment) > 1:
        targets.append(("slice: " + ", ".join(segment), "input_text", inputs, inside))
    targets += [(c, "output_text", ev.loc[answered, "output_text"].astype(object), ev.loc[answered, c].astype(object))
                for c in OUTCOMES if c in ev.columns]
    for target, source, text, y in targets:
        if y.notna().sum() == 0 or y.dropna().nunique() < 2:
            continue  # not logged, or a single value
        rows.append({**base, "target": target, "text": source, **cv_scores(text, y, seed)})
    return rows


def markdown(rows: list[dict[str, Any]], header: str) -> str:
    """The figures as Markdown: one table of classifier scores, one of distinct-text shares."""
    df = pd.DataFrame(rows)
    lines = [header, "", "| case | target | from | n | classes | majority | accuracy | chance | balanced accuracy | AUC |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in df.itertuples(index=False):
        auc = "" if np.isnan(r.auc) else f"{r.auc:.3f}"
        lines.append(f"| {r.case} | {r.target} | {r.text} | {r.n} | {r.classes} | {r.majority:.3f} | {r.accuracy:.3f} "
                     f"| {r.chance:.3f} | {r.balanced:.3f} | {auc} |")
    lines += ["", "| case | rows | unique inputs / rows | unique answers / rows answered |", "|---|---|---|---|"]
    for r in df.drop_duplicates("case").itertuples(index=False):
        lines.append(f"| {r.case} | {r.rows} | {r.unique_inputs:.3f} | {r.unique_outputs:.3f} |")
    return "\n".join(lines) + "\n"


def _commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "analysis/scenarios"], cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + (" (analysis/scenarios modified)" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    """Measure every case, print the Markdown, write it with ``--write`` or ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-rows", type=int, default=6000, help="rows sampled per case (seeded)")
    ap.add_argument("--write", action="store_true", help=f"write {LOG.relative_to(ROOT)}")
    ap.add_argument("--out", type=Path, default=None, help="write the Markdown to this file")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = []
    for name, events, segment in cases(args.seed):
        rows += measure(name, events, segment, args.seed, args.max_rows)
        print(f"{name}: {len(events)} rows", file=sys.stderr)
    cmd = "python benchmarks/wording.py " + " ".join(argv if argv is not None else sys.argv[1:])
    header = (f"# Wording: what a bag-of-words classifier reads in the generated text\n\n"
              f"commit {_commit()}, {dt.date.today().isoformat()}, `{cmd.strip()}` ({time.perf_counter() - t0:.0f} s). "
              f"Seed {args.seed}, at most {args.max_rows} rows per case, TF-IDF (1-2 grams) + logistic regression (one against the rest, liblinear), "
              "5-fold stratified cross-validation. Segments and the slice are predicted from `input_text`, outcomes "
              "from `output_text` (rows with an answer).")
    text = markdown(rows, header)
    print(text)
    for path in ([LOG] if args.write else []) + ([args.out] if args.out else []):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
