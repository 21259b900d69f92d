"""Failure signatures in the investigation (Q1 and Q3): what the failing requests ask and what their
answers say, against the same segment's baseline.

Two bounded samples are drawn by the engine with the portable hash: failing requests of the onset's
segment in the failure window, and requests of the same segment in the baseline period.
:func:`analysis.text.signatures.find_signatures` ranks their input phrases (Q3) and their output
phrases (Q1) by the log-odds ratio with an informative Dirichlet prior, under a Benjamini-Hochberg
control; the output lengths are compared by :func:`analysis.text.signatures.length_shift`.

Each significant input signature is then a **candidate segment** (``input matches "..."``), tested
where the rows lie like the other segments: its failure rate in the failure window against its own
baseline rate (one engine query per signature, one-sided two-proportion z test), with Holm's
adjustment over the signatures tested. A phrase no baseline request holds (a new kind of request) is
held to the segment's baseline rate instead. A signature whose slice did not fail more than before
marks the failing requests without marking a change (the phrase was always there). Every signature comes
with three failing and three baseline requests holding it (redacted when written).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from analysis.engine import Metric, Where
from analysis.engine.query import epoch_us, quote_ident, quote_literal
from analysis.investigation.context import Context
from analysis.investigation.onset_scan import OnsetFinding
from analysis.text.signatures import find_signatures, length_shift, signature_pattern

__all__ = ["SignatureFinding", "failure_signatures", "SIGNATURE_SAMPLE", "SIGNATURES_SCANNED", "EXAMPLES"]

#: Requests drawn per group (failing, baseline).
SIGNATURE_SAMPLE = 3000
#: Input signatures tested as candidate segments at most.
SIGNATURES_SCANNED = 5
#: Failing (and baseline) requests needed at least.
MIN_FAILING = 10
#: Examples shown per signature and group.
EXAMPLES = 3
_COLUMNS = ("phrase", "n_fail", "n_base", "share_fail", "share_base", "delta", "z", "q", "q_holm")


@dataclass(frozen=True)
class SignatureFinding:
    """The signatures of the failing requests (``inputs``, with their scan as segments) and answers
    (``outputs``), the answers' length shift, and the examples of each signature."""

    segment: str
    n_fail: int
    n_base: int
    inputs: pd.DataFrame
    outputs: pd.DataFrame
    length: dict[str, Any] | None = None
    examples: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def to_dict(self, txt: Any) -> dict[str, Any]:
        """report.json's words (``txt`` redacts and escapes the texts from the data)."""
        def rows(t: pd.DataFrame, side: str) -> list[dict[str, Any]]:
            out = []
            for r in t.to_dict("records"):
                ex = self.examples.get(f"{side}:{r['phrase']}", {})
                out.append({**r, "phrase": txt(r["phrase"]), "examples": {k: [txt(x) for x in v] for k, v in ex.items()}})
            return out

        return {"segment": self.segment, "n_failing_sampled": self.n_fail, "n_baseline_sampled": self.n_base,
                "inputs": rows(self.inputs, "input"), "outputs": rows(self.outputs, "output"), "output_length": self.length}


def _table(sigs: list[Any]) -> pd.DataFrame:
    return pd.DataFrame([{c: getattr(s, c) for c in _COLUMNS} for s in sigs], columns=list(_COLUMNS))


def _examples(fail: pd.Series, base: pd.Series, phrase: str) -> dict[str, list[str]]:
    pat = re.compile(signature_pattern([phrase]))
    return {"failure": [str(x) for x in fail if pat.search(str(x))][:EXAMPLES],
            "baseline": [str(x) for x in base if pat.search(str(x))][:EXAMPLES]}


def _scan(ctx: Context, phrases: list[str], failure_sql: str, seg: Where | None, baseline: tuple, cur: Where) -> pd.DataFrame:
    """Each signature's slice: its failure rate in the failure window against its baseline rate."""
    flag = Metric("rate", f"COALESCE({failure_sql}, FALSE)")
    whole = ctx.eng.totals(metrics={"f": flag}, where=Where.of(*baseline).and_(seg))
    seg_base = (float(whole["f__n"].sum()), float(whole["f__sum"].sum())) if len(whole) else (0.0, 0.0)
    b0, b1 = (epoch_us(t) for t in baseline)
    c0, c1 = epoch_us(cur.start), epoch_us(cur.end)
    in_cur = f"EPOCH_US(ts) >= {c0}"
    both = Where(expr=f"(EPOCH_US(ts) >= {b0} AND EPOCH_US(ts) < {b1}) OR (EPOCH_US(ts) >= {c0} AND EPOCH_US(ts) <= {c1})")
    rows = []
    for phrase in phrases:
        match = f"regexp_matches(COALESCE({quote_ident('input_text')}, ''), {quote_literal(signature_pattern([phrase]))})"
        # one query: the slice's requests in the baseline and in the failure window, by side
        t = ctx.eng.totals(metrics={"f": flag}, exprs={"__cur": in_cur}, where=both.and_(seg).and_(Where(expr=match)))
        side = t["__cur"].str.lower() == "true"
        counts = [(float(t.loc[m, "f__n"].sum()), float(t.loc[m, "f__sum"].sum())) for m in (~side, side)]
        (n0, f0), (n1, f1) = counts
        source = "own"
        if n0 == 0:  # a new kind of request: held to its segment's baseline rate
            (n0, f0), source = seg_base, "segment"

        p0, p1 = (f0 / n0 if n0 else np.nan), (f1 / n1 if n1 else np.nan)
        pvalue = 1.0
        if n0 and n1 and 0 < f0 + f1 < n0 + n1:
            pvalue = float(proportions_ztest([f1, f0], [n1, n0], alternative="larger")[1])  # pooled, one-sided
        rows.append({"phrase": phrase, "slice_n_baseline": n0, "slice_rate_baseline": p0, "slice_n_current": n1,
                     "slice_rate_current": p1, "slice_baseline": source, "slice_p": pvalue})
    out = pd.DataFrame(rows)
    if len(out):
        out["slice_p_holm"] = multipletests(out["slice_p"].to_numpy(float), method="holm")[1]
        out["slice_failed_more"] = out["slice_p_holm"] <= ctx.params.alpha
    return out


def failure_signatures(ctx: Context, found: OnsetFinding, baseline: tuple[pd.Timestamp, pd.Timestamp],
                       failure_sql: str) -> SignatureFinding | None:
    """The signatures of the failing requests of the onset's segment (see the module's notes);
    None without an onset, text, or enough failing requests."""
    eng = ctx.eng
    if found.onset.ts is None or not (eng.has("input_text") or eng.has("output_text")):
        return None
    seg, cur = found.segment_where, found.in_current
    cols = [c for c in ("input_text", "output_text") if eng.has(c)]
    fail = eng.sample_rows(cols, size=SIGNATURE_SAMPLE, seed=ctx.params.seed,
                           where=cur.and_(seg).and_(Where(expr=f"COALESCE({failure_sql}, FALSE)")))
    base = eng.sample_rows(cols, size=SIGNATURE_SAMPLE, seed=ctx.params.seed, where=Where.of(*baseline).and_(seg))
    if len(fail) < MIN_FAILING or len(base) < MIN_FAILING:
        return None
    tables, examples = {}, {}
    for side, col in (("input", "input_text"), ("output", "output_text")):
        if col not in fail.columns:
            tables[side] = _table([])
            continue
        f, b = fail[col].dropna().astype(str), base[col].dropna().astype(str)
        sigs = find_signatures(f.tolist(), b.tolist(), alpha=ctx.params.alpha) if min(len(f), len(b)) >= MIN_FAILING else []
        tables[side] = _table(sigs)
        for s in sigs[:EXAMPLES]:
            examples[f"{side}:{s.phrase}"] = _examples(f, b, s.phrase)
    inputs = tables["input"]
    if len(inputs):
        scan = _scan(ctx, inputs["phrase"].head(SIGNATURES_SCANNED).tolist(), failure_sql, seg, baseline, cur)
        inputs = inputs.merge(scan, on="phrase", how="left")
    length = None
    if "output_text" in fail.columns:
        fl, bl = fail["output_text"].dropna().astype(str).str.len(), base["output_text"].dropna().astype(str).str.len()
        length = length_shift(fl.to_numpy(), bl.to_numpy()) if len(fl) >= 2 and len(bl) >= 2 else None
    return SignatureFinding(segment=found.onset.label, n_fail=len(fail), n_base=len(base), inputs=inputs, outputs=tables["output"],
                            length=length, examples=examples)
