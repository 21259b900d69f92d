"""The outcome label rules measured on answers the scenario generator did not write.

Run: ``.venv/bin/python benchmarks/label_rules.py`` (a few seconds). ``--write`` also writes
``benchmarks/logs/label_rules.json`` (the figures, the git commit, the date, the command) and
``benchmarks/logs/label_rules.md`` (the same as Markdown tables). ``--set development`` or
``--set heldout`` measures one set only (``--write`` needs both).

Two sets of hand-labelled answers, in ``tests/data/labelled_answers/`` (see its README and
HELDOUT.md):

* the **development** set: ``answers.csv`` (395 answers written and labelled by hand, seven domains,
  seventeen styles) and ``real_fixtures.csv`` (the 8 answer texts of the real exports in
  ``tests/fixtures/real/``). The rules are widened by reading where they fail on it;
* the **held-out** set: ``heldout.csv`` (300 answers written and labelled by another writer, blind to
  the rules and to the development set). It is *measured*, never read to change a rule: its
  misclassified rows are listed by id in the JSON log only, not with their texts.

For each rule of ``analysis.text.outcomes.DEFAULT_RULES`` (``refused``, ``escalated``) and each set,
``evaluate_rule`` gives the confusion counts, precision and recall with Wilson 95% intervals:

* on the whole set (``all``), on each file, per ``domain`` and per ``style``;
* the misclassified rows (ids, and for the development set their texts), to read where recall and
  precision are lost.

The figures of the rules before they were widened are kept in ``benchmarks/logs/label_rules.v1.json``
(and ``.md``), written by this script on both sets at the commit before the change; the report puts
them next to the current ones.

The rules are also run as SQL on DuckDB (``Rule.sql`` through ``analysis.engine.open_engine``, as
``derive_missing`` runs them for the investigation, the monitor and the gate); the script prints
whether the SQL labels equal the Python ones on every row and the figures the SQL labels give.
A difference is a bug in ``Rule.sql``: it is printed with the rows, never hidden.

Nothing here asserts: ``tests/test_label_rules_handset.py`` checks that the committed log matches
the figures the data give now.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.engine import open_engine
from analysis.stats.intervals import wilson_interval
from analysis.text.outcomes import DEFAULT_RULES, Rule, evaluate_rule

DATA = ROOT / "tests" / "data" / "labelled_answers"
#: The sets: name -> their CSV files.
SETS: dict[str, tuple[str, ...]] = {
    "development": ("answers.csv", "real_fixtures.csv"),
    "heldout": ("heldout.csv",),
}
FILES = SETS["development"]
LOGS = ROOT / "benchmarks" / "logs"
#: The log of the rules before they were widened (both sets), shown next to the current figures.
BEFORE = LOGS / "label_rules.v1.json"
ALPHA = 0.05
#: Files whose state the figures depend on (their git status is recorded with the figures).
DEPENDS_ON = ("analysis/text/outcomes.py", "benchmarks/label_rules.py",
              *(f"tests/data/labelled_answers/{f}" for files in SETS.values() for f in files))


def load_sets(data: Path = DATA, files: tuple[str, ...] = FILES) -> pd.DataFrame:
    """The CSV files of one set as one events frame.

    Parameters
    ----------
    data
        The folder holding the CSV files.
    files
        Which files (default: the development set, ``answers.csv`` and ``real_fixtures.csv``).

    Returns
    -------
    pandas.DataFrame
        ``event_id`` (the row's ``id``), ``output_text``, ``finish_reason`` (missing when empty),
        ``refused`` and ``escalated`` (boolean), ``domain``, ``style``, ``note``, ``source`` and
        ``file`` (which CSV the row came from).
    """
    frames = []
    for name in files:
        raw = pd.read_csv(data / name, dtype=str, keep_default_na=False, encoding="utf-8")
        for col in ("refused", "escalated"):
            bad = sorted(set(raw[col]) - {"true", "false"})
            if bad:
                raise ValueError(f"{name}: `{col}` must be 'true' or 'false', got {bad}")
        frames.append(pd.DataFrame({
            "event_id": raw["id"],
            "ts": pd.Timestamp("2026-01-01", tz="UTC"),
            "output_text": pd.array(raw["output_text"], dtype="string"),
            "finish_reason": pd.array(raw["finish_reason"].replace("", None), dtype="string"),
            "refused": pd.array(raw["refused"] == "true", dtype="boolean"),
            "escalated": pd.array(raw["escalated"] == "true", dtype="boolean"),
            "domain": raw["domain"],
            "style": raw["style"],
            "note": raw["note"],
            "source": raw["source"] if "source" in raw.columns else "",
            "file": name,
        }))
    frame = pd.concat(frames, ignore_index=True)
    frame["ts"] = pd.date_range("2026-01-01", periods=len(frame), freq="min", tz="UTC")
    return frame


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 6)


def _ci(x: int, n: int) -> list[float | None]:
    lo, hi = wilson_interval(x, n, ALPHA)
    return [_num(float(lo)), _num(float(hi))]


def figures(frame: pd.DataFrame, rule: Rule) -> dict[str, Any]:
    """``evaluate_rule`` on ``frame`` as a JSON-ready dict (every misclassified id kept)."""
    r = evaluate_rule(frame, rule.column, rules=(rule,), alpha=ALPHA, max_examples=len(frame))
    return {
        "n": r.n, "positives": r.tp + r.fn, "negatives": r.fp + r.tn, "predicted_positive": r.tp + r.fp,
        "tp": r.tp, "fp": r.fp, "fn": r.fn, "tn": r.tn,
        "precision": _num(r.precision), "precision_ci": [_num(v) for v in r.precision_ci],
        "recall": _num(r.recall), "recall_ci": [_num(v) for v in r.recall_ci],
        "accuracy": _num(r.accuracy), "accuracy_ci": [_num(v) for v in r.accuracy_ci],
        "n_without_evidence": r.n_without_evidence,
        "false_positives": list(r.false_positives), "false_negatives": list(r.false_negatives),
    }


def counted(truth: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """Confusion counts, precision and recall (Wilson intervals) from two boolean arrays."""
    tp, fp = int((truth & pred).sum()), int((~truth & pred).sum())
    fn, tn = int((truth & ~pred).sum()), int((~truth & ~pred).sum())
    return {"n": tp + fp + fn + tn, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": _num(tp / (tp + fp)) if tp + fp else None, "precision_ci": _ci(tp, tp + fp),
            "recall": _num(tp / (tp + fn)) if tp + fn else None, "recall_ci": _ci(tp, tp + fn)}


def sql_labels(frame: pd.DataFrame, rule: Rule) -> pd.Series:
    """The rule's labels computed by DuckDB from ``Rule.sql`` (``TRUE``/``FALSE``/missing per row)."""
    events = frame[["event_id", "ts", "output_text", "finish_reason"]]
    with open_engine(events, threads=1) as eng:
        got = eng.sql(f"SELECT event_id, {rule.sql()} AS label FROM events")
    return got.set_index("event_id")["label"].reindex(frame["event_id"]).astype("boolean").set_axis(frame.index)


def sql_check(frame: pd.DataFrame, rule: Rule) -> dict[str, Any]:
    """The SQL form against the Python form of ``rule`` on every row, and the SQL form's figures."""
    py = rule.predict(frame)
    sq = sql_labels(frame, rule)
    same = (py.isna() == sq.isna()) & (py.fillna(False) == sq.fillna(False))
    differ = frame.loc[~same.to_numpy(dtype=bool), "event_id"].tolist()
    has = sq.notna().to_numpy(dtype=bool)
    truth = frame[rule.column].to_numpy(dtype=bool, na_value=False)[has]
    return {"rows": len(frame), "equal": len(differ) == 0, "differ": differ,
            "figures": counted(truth, sq.to_numpy(dtype=bool, na_value=False)[has])}


def measure(frame: pd.DataFrame) -> dict[str, Any]:
    """Every figure of the log: per rule, on ``all``, per file, per domain, per style, and the SQL check."""
    out: dict[str, Any] = {}
    for rule in DEFAULT_RULES:
        res: dict[str, Any] = {"rule": rule.name, "all": figures(frame, rule)}
        res["by_file"] = {f: figures(g, rule) for f, g in frame.groupby("file", sort=False)}
        res["by_domain"] = {d: figures(g, rule) for d, g in frame.groupby("domain", sort=True)}
        res["by_style"] = {s: figures(g, rule) for s, g in frame.groupby("style", sort=True)}
        res["sql_duckdb"] = sql_check(frame, rule)
        out[rule.column] = res
    return out


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _fmt_ci(est: float | None, ci: list[float | None]) -> str:
    if est is None:
        return "n/a"
    return f"{est:.3f} [{_fmt(ci[0])}, {_fmt(ci[1])}]"


def _row(label: str, f: dict[str, Any]) -> list[str]:
    return [label, str(f["n"]), str(f["positives"]), _fmt_ci(f["precision"], f["precision_ci"]),
            _fmt_ci(f["recall"], f["recall_ci"]), f"{f['tp']} / {f['fp']} / {f['fn']} / {f['tn']}"]


HEAD = ["", "n", "positives", "precision [95% CI]", "recall [95% CI]", "tp / fp / fn / tn"]


def _table(rows: list[list[str]], head: list[str] = HEAD) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _short(text: str, width: int = 110) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


SET_TITLES = {
    "development": "Development set (answers.csv + real_fixtures.csv)",
    "heldout": "Held-out set (heldout.csv)",
}


def _before_figures(path: Path = BEFORE) -> dict[str, Any] | None:
    """The whole-set figures of the rules before they were widened (``label_rules.v1.json``), if kept."""
    if not path.is_file():
        return None
    old = json.loads(path.read_text(encoding="utf-8"))
    keep = ("n", "positives", "tp", "fp", "fn", "tn", "precision", "precision_ci", "recall", "recall_ci")
    return {
        "log": str(path.relative_to(ROOT)), "commit": old["commit"], "date": old["date"],
        "rules": old["rules"],
        "figures": {name: {col: {k: res["all"][k] for k in keep} for col, res in st["results"].items()}
                    for name, st in old["sets"].items()},
    }


def _before_after(before: dict[str, Any], sets: dict[str, dict[str, Any]]) -> list[str]:
    head = ["rule", "set", "n", "positives", "precision before", "recall before", "precision now", "recall now",
            "tp / fp / fn / tn now"]
    rows = []
    for col in ("refused", "escalated"):
        for name, st in sets.items():
            b, f = before["figures"].get(name, {}).get(col), st["results"][col]["all"]
            if b is None:
                continue
            rows.append([f"`{col}`", name, str(f["n"]), str(f["positives"]), _fmt_ci(b["precision"], b["precision_ci"]),
                         _fmt_ci(b["recall"], b["recall_ci"]), _fmt_ci(f["precision"], f["precision_ci"]),
                         _fmt_ci(f["recall"], f["recall_ci"]), f"{f['tp']} / {f['fp']} / {f['fn']} / {f['tn']}"])
    return _table(rows, head)


def report(sets: dict[str, dict[str, Any]], meta: dict[str, Any], before: dict[str, Any] | None = None) -> str:
    """The figures as Markdown (also what the script prints).

    ``sets`` maps a set's name to ``{"frame": ..., "results": measure(frame), "rows": {file: n}}``.
    """
    lines = [
        "# Label rules on hand-labelled answers",
        "",
        (f"`{meta['command']}` at commit `{meta['commit']}`{'' if meta['clean'] else ' (with uncommitted changes)'}, "
         f"{meta['date']}. Data: `tests/data/labelled_answers/`: "
         + "; ".join(f"{name} set: " + ", ".join(f"`{f}` ({n} rows)" for f, n in st["rows"].items())
                     for name, st in sets.items())
         + f". Wilson {100 * (1 - ALPHA):.0f}% intervals."),
        "",
        ("The rules are changed only by reading their misses on the development set; the held-out set, written "
         "blind to the rules by another writer, is only measured (its misclassified rows are counted here, not "
         "listed; their ids are in the JSON log)."),
    ]
    if before is not None:
        lines += ["", "## Before and after", "",
                  (f"Before: the rules at commit `{before['commit']}` (`{before['log']}`, {before['date']}). "
                   "Now: the rules at this commit."), ""]
        lines += _before_after(before, sets)
    for name, st in sets.items():
        frame, results = st["frame"], st["results"]
        text = frame.set_index("event_id")["output_text"]
        style = frame.set_index("event_id")["style"]
        title = SET_TITLES.get(name, name)
        lines += ["", f"## {title}: both rules, whole set", ""]
        rows = []
        for col, res in results.items():
            rows.append(_row(f"`{col}` ({res['rule']}), all", res["all"]))
            if len(res["by_file"]) > 1:
                for f, fig in res["by_file"].items():
                    rows.append(_row(f"`{col}`, {f}", fig))
        lines += _table(rows)
        lines += [""]
        for col, res in results.items():
            s = res["sql_duckdb"]
            verdict = ("equal to the Python labels on every row" if s["equal"]
                       else f"DIFFERENT from the Python labels on {len(s['differ'])} rows: {s['differ']}")
            lines.append(f"- `{col}` as SQL on DuckDB ({s['rows']} rows): {verdict}; precision "
                         f"{_fmt_ci(s['figures']['precision'], s['figures']['precision_ci'])}, recall "
                         f"{_fmt_ci(s['figures']['recall'], s['figures']['recall_ci'])}.")
        for col, res in results.items():
            for key, what in (("by_domain", "domain"), ("by_style", "style")):
                lines += ["", f"### {name}: `{col}` per {what}", ""]
                lines += _table([_row(k, v) for k, v in res[key].items()], [what, *HEAD[1:]])
        for col, res in results.items():
            for kind in ("false_negatives", "false_positives"):
                ids = res["all"][kind]
                lines += ["", f"### {name}: `{col}`: {kind.replace('_', ' ')} ({len(ids)})", ""]
                if name == "heldout":
                    lines += ["- not listed (held out: ids in `label_rules.json`, texts in the CSV; not for tuning)"]
                else:
                    lines += [f"- `{i}` ({style[i]}): {_short(text[i])}" for i in ids] or ["- none"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="write benchmarks/logs/label_rules.json and .md")
    ap.add_argument("--set", choices=[*SETS, "both"], default="both", dest="which",
                    help="which set to measure (default: both; --write needs both)")
    args = ap.parse_args(argv)
    if args.write and args.which != "both":
        ap.error("--write measures both sets: drop --set")
    names = list(SETS) if args.which == "both" else [args.which]
    sets: dict[str, dict[str, Any]] = {}
    for name in names:
        frame = load_sets(DATA, SETS[name])
        sets[name] = {"frame": frame, "results": measure(frame),
                      "rows": {f: int((frame["file"] == f).sum()) for f in SETS[name]},
                      "sha256": {f: hashlib.sha256((DATA / f).read_bytes()).hexdigest() for f in SETS[name]}}
    dirty = _git("status", "--porcelain", "--", *DEPENDS_ON)
    meta = {
        "command": "python benchmarks/label_rules.py" + (" --write" if args.write else "")
                   + ("" if args.which == "both" else f" --set {args.which}"),
        "commit": _git("rev-parse", "--short", "HEAD") or "unknown",
        "clean": dirty == "",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "alpha": ALPHA,
    }
    before = _before_figures()
    md = report(sets, meta, before)
    print(md)
    for name, st in sets.items():
        for col, res in st["results"].items():
            s = res["sql_duckdb"]
            print(f"{name}: SQL on DuckDB vs Python, {col}: "
                  f"{'equal on all ' + str(s['rows']) + ' rows' if s['equal'] else 'DIFFER on ' + str(s['differ'])}")
    if args.write:
        LOGS.mkdir(parents=True, exist_ok=True)
        doc = {**meta, "rules": {r.column: {"name": r.name, "description": r.description} for r in DEFAULT_RULES},
               "sets": {name: {"files": list(SETS[name]), "rows": st["rows"], "sha256": st["sha256"],
                               "results": st["results"]} for name, st in sets.items()},
               "before": before}
        (LOGS / "label_rules.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        (LOGS / "label_rules.md").write_text(md, encoding="utf-8")
        print(f"wrote {LOGS / 'label_rules.json'} and {LOGS / 'label_rules.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
