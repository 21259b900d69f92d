"""The accuracy benchmark's log: its summaries, its Markdown tables and the README block they fill.

``benchmarks/accuracy.py --write`` writes ``benchmarks/logs/accuracy.json`` (``--easy``:
``accuracy_easy.json``) and ``accuracy.md``; ``--readme`` replaces the README's block between
:data:`BEGIN` and :data:`END` with :func:`render` of the committed logs. ``tests/test_accuracy_log.py``
checks that the README block is what the logs render, so the tables are never copied by hand.
Nothing here runs an investigation (the test imports it).
"""

from __future__ import annotations

import json
import statistics
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LOG_DIR = REPO / "benchmarks" / "logs"
LOG = LOG_DIR / "accuracy.json"
EASY_LOG = LOG_DIR / "accuracy_easy.json"
MARKDOWN = LOG_DIR / "accuracy.md"
README = REPO / "README.md"
BEGIN = "<!-- accuracy:begin -->"
END = "<!-- accuracy:end -->"

#: Seeds the benchmark never runs: tests/test_heldout.py sweeps them in CI, so that the seeds the
#: figures come from are not the only ones the kit is checked on.
HELD_OUT_SEEDS = (1000, 1001, 1002)

PATTERNS = ("retrieval", "refusal", "escalation")
#: The scoring window: a detected onset counts as on time within (before, after) hours of the
#: truth's onset: 2 analysis windows before to 3 after (retrieval's windows are 6 h, the rest 1 h).
#: The truths' own windows are wider (retrieval -24/+96 h, refusal -12/+36 h); both are reported.
TIGHT_HOURS = {"retrieval": (12.0, 18.0)}
TIGHT_DEFAULT = (2.0, 3.0)


def tight_window(pattern: str) -> tuple[float, float]:
    """``(before, after)`` hours of the scoring window of ``pattern`` (a case study or a kind)."""
    return TIGHT_HOURS.get(pattern, TIGHT_DEFAULT)


def git_state(repo: Path = REPO) -> tuple[str, bool]:
    """``(short commit, dirty)``: ``git rev-parse --short HEAD``, and whether tracked or new files
    differ from it outside ``benchmarks/logs/`` (the logs a run writes do not make it dirty)."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True,
                            check=True).stdout.strip()
    status = subprocess.run(["git", "status", "--porcelain", "--", ".", ":(exclude)benchmarks/logs"], cwd=repo,
                            capture_output=True, text=True, check=True).stdout
    return commit, bool(status.strip())


def _count(xs: Sequence[bool]) -> list[int]:
    return [int(sum(bool(x) for x in xs)), len(xs)]


def _median(xs: Sequence[float]) -> float | None:
    return float(statistics.median(xs)) if xs else None


def _p90(xs: Sequence[float]) -> float | None:
    return float(np.percentile(xs, 90)) if xs else None


def summarize(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The figures of a set of runs: counts as ``[k, n]``, hours and seconds as numbers (``None``: no run)."""
    inc = [r for r in rows if r["incident"]]
    twin = [r for r in rows if not r["incident"]]
    errs = [abs(r["onset_error_h"]) for r in inc if r.get("onset_error_h") is not None]
    ranks = [r["cause_rank"] for r in inc if r.get("cause_rank") is not None]
    margins = [r["margin"] for r in inc if r.get("margin") is not None]
    return {
        "incidents": len(inc),
        "twins": len(twin),
        "cause_first": _count([r["cause_first"] for r in inc]),
        "cause_rank_median": _median(ranks),
        "cause_rank_worst": max(ranks) if ranks else None,
        "cause_unranked": sum(r.get("cause_rank") is None for r in inc),
        "logged_decoy_above": _count([bool(r["logged_decoys_above"]) for r in inc]),
        "top_when_wrong": sorted({r["top"] or "none" for r in inc if not r["cause_first"]}),
        "margin_median": _median(margins),
        "onset_found": _count([r.get("onset_error_h") is not None for r in inc]),
        "onset_error_median_h": _median(errs),
        "onset_error_p90_h": _p90(errs),
        "onset_in_tight_window": _count([r["onset_in_tight"] for r in inc]),
        "onset_in_truth_window": _count([r["onset_in_window"] for r in inc]),
        "systematic": _count([r["verdict"] == "systematic" for r in inc]),
        "told_apart": _count([r["separable"] for r in inc if r.get("separable") is not None]),
        "false_incidents": _count([r["verdict"] != "no_incident" for r in twin]),
        "fact_found": _count([r["fact_found"] for r in twin if r.get("fact_found") is not None]),
        "seconds_median": _median([r["seconds"] for r in rows]),
        "seconds_max": max((r["seconds"] for r in rows), default=None),
    }


def groups(rows: Sequence[Mapping[str, Any]], incident_kinds: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The summaries the log holds: per pattern or kind, the case studies, the incident kinds and all runs."""
    names = list(dict.fromkeys(r["pattern"] for r in rows))
    out = {name: summarize([r for r in rows if r["pattern"] == name]) for name in names}
    sets = {"case studies": [r for r in rows if r["pattern"] in PATTERNS],
            "incident kinds": [r for r in rows if r["pattern"] in incident_kinds],
            "all": list(rows)}
    out.update({k: summarize(v) for k, v in sets.items() if v})
    return out


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def _frac(c: Sequence[int] | None) -> str:
    return "" if not c or not c[1] else f"{c[0]}/{c[1]}"


def _pct(c: Sequence[int] | None) -> str:
    return "" if not c or not c[1] else f"{100 * c[0] / c[1]:.0f}%"


def _num(x: float | None, fmt: str = ".1f") -> str:
    return "-" if x is None else format(x, fmt)


def _err(s: Mapping[str, Any]) -> str:
    if not s["onset_found"][0]:
        return "no onset"
    miss = s["onset_found"][1] - s["onset_found"][0]
    return f"{_num(s['onset_error_median_h'])} / {_num(s['onset_error_p90_h'])}" + (f" ({miss} without an onset)" if miss else "")


def _rank(s: Mapping[str, Any]) -> str:
    if s["cause_rank_median"] is None:
        return "-"
    out = f"{_num(s['cause_rank_median'], 'g')} / {s['cause_rank_worst']}"
    return out + (f" ({s['cause_unranked']} not ranked)" if s["cause_unranked"] else "")


def _window(pattern: str) -> str:
    b, a = tight_window(pattern)
    return f"-{b:g}/+{a:g} h"


def _provenance(log: Mapping[str, Any]) -> str:
    seeds = log["seeds"]
    span = f"seeds {seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}"
    dirty = "with uncommitted changes" if log["dirty"] else "clean tree"
    return (f"{log['mode']} scenarios, {span} per case study and kind, {len(log['rows'])} investigations in "
            f"{log['total_seconds']:.0f} s; produced by `{log['command']}` at commit `{log['commit']}` ({dirty}) on "
            f"{log['date'][:10]}")


def _patterns_table(log: Mapping[str, Any]) -> list[str]:
    s = log["summaries"]
    cols = [p for p in PATTERNS if p in s]
    if not cols:
        return []
    every = s.get("case studies")
    head = [" ", *cols, "case studies"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def row(label: str, f: Any, total: Any = None) -> None:
        lines.append("| " + " | ".join([label, *(f(s[c]) for c in cols), "" if total is None else total(every)]) + " |")

    row("true cause ranked first (target >= 95%)", lambda x: _frac(x["cause_first"]), lambda x: _pct(x["cause_first"]))
    row("rank of the cause, median / worst", _rank)
    row("a logged decoy ranked above the cause", lambda x: _frac(x["logged_decoy_above"]), lambda x: _pct(x["logged_decoy_above"]))
    row("onset error, median / p90 of \\|error\\| (hours)", _err, _err)
    row("onset inside the scoring window (" + ", ".join(f"{c} {_window(c)}" for c in cols) + ")",
        lambda x: _frac(x["onset_in_tight_window"]), lambda x: _pct(x["onset_in_tight_window"]))
    row("onset inside the truth's wider window", lambda x: _frac(x["onset_in_truth_window"]),
        lambda x: _pct(x["onset_in_truth_window"]))
    row("verdict `systematic`", lambda x: _frac(x["systematic"]), lambda x: _pct(x["systematic"]))
    row("false incidents on the twins (target <= 5%)", lambda x: _frac(x["false_incidents"]), lambda x: _pct(x["false_incidents"]))
    row("median time per investigation", lambda x: f"{_num(x['seconds_median'])} s")
    return lines


def _kinds_table(log: Mapping[str, Any]) -> list[str]:
    s = log["summaries"]
    kinds = [k for k in log.get("kinds", []) if k in s]
    if not kinds:
        return []
    head = ("| kind | cause first | rank of the cause, median / worst | logged decoy above the cause | "
            f"onset error median / p90 (h) | onset within {_window(kinds[0])} | systematic | told apart | false incidents (twins) |")
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]
    for k in kinds:
        x = s[k]
        if x["incidents"]:
            lines.append(f"| {k} | {_frac(x['cause_first'])} | {_rank(x)} | {_frac(x['logged_decoy_above'])} | {_err(x)} | "
                         f"{_frac(x['onset_in_tight_window'])} | {_frac(x['systematic'])} | {_frac(x['told_apart'])} | "
                         f"{_frac(x['false_incidents'])} |")
        else:
            fact = f", fact stated {_frac(x['fact_found'])}" if x["fact_found"][1] else ""
            lines.append(f"| {k} (no incident) | | | | | | | | {_frac(x['false_incidents'])}{fact} |")
    x = s.get("incident kinds")
    if x:
        lines.append(f"| all incident kinds | {_pct(x['cause_first'])} | {_rank(x)} | {_pct(x['logged_decoy_above'])} | {_err(x)} | "
                     f"{_pct(x['onset_in_tight_window'])} | {_pct(x['systematic'])} | {_pct(x['told_apart'])} | "
                     f"{_pct(x['false_incidents'])} |")
    return lines


def _comparison_table(log: Mapping[str, Any], easy: Mapping[str, Any]) -> list[str]:
    lines = ["| | cause first, easy / hard | onset error median / p90 (h), easy | hard | false incidents, easy / hard |",
             "|---|---|---|---|---|"]
    for name in ("case studies", "incident kinds", "all"):
        h, e = log["summaries"].get(name), easy["summaries"].get(name)
        if h and e:
            lines.append(f"| {name} | {_pct(e['cause_first'])} / {_pct(h['cause_first'])} | {_err(e)} | {_err(h)} | "
                         f"{_pct(e['false_incidents'])} / {_pct(h['false_incidents'])} |")
    return lines


def render(log: Mapping[str, Any], easy: Mapping[str, Any] | None = None) -> str:
    """The accuracy tables of ``log`` (and the comparison with the ``easy`` run when given), in Markdown."""
    parts = [f"These tables: {_provenance(log)}.", "", *_patterns_table(log)]
    kinds = _kinds_table(log)
    if kinds:
        parts += ["", *kinds]
    if easy is not None:
        parts += ["", f"Against the easy scenarios ({_provenance(easy)}):", "", *_comparison_table(log, easy)]
    return "\n".join(parts) + "\n"


def dumps(log: Mapping[str, Any]) -> str:
    """The log as JSON: the header indented, then one line per run."""
    head = json.dumps({k: v for k, v in log.items() if k != "rows"}, indent=1)
    rows = ",\n".join("  " + json.dumps(r) for r in log["rows"])
    return head[:-2] + ',\n "rows": [\n' + rows + "\n ]\n}\n"


def markdown(log: Mapping[str, Any], easy: Mapping[str, Any] | None = None) -> str:
    """``benchmarks/logs/accuracy.md``: :func:`render` under a title."""
    return "# Accuracy benchmark\n\n" + render(log, easy)


def readme_block(text: str) -> str:
    """What the README holds between :data:`BEGIN` and :data:`END` (without the markers' lines)."""
    i, j = text.index(BEGIN), text.index(END)
    return text[i + len(BEGIN):j].strip("\n") + "\n"


def splice(text: str, block: str) -> str:
    """``text`` with its block between the markers replaced by ``block``."""
    i, j = text.index(BEGIN), text.index(END)
    return text[:i + len(BEGIN)] + "\n" + block.rstrip("\n") + "\n" + text[j:]
