"""The scope step (Q3): isolated or systematic? Every segment's failures in the failure window against
its baseline, with its risk tier's tolerance; the verdict; and the affected events, written whole to
a file by the engine.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.engine import Engine, Metric, Where
from analysis.engine.query import quote_literal
from analysis.investigation.signature_scan import failure_signatures
from analysis.investigation.ranking import Q2Result
from analysis.investigation.drill_down import drill_down
from analysis.investigation.findings import period_totals
from analysis.investigation.onset import TOO_FEW_DATA
from analysis.investigation.scope import SCAN_COLUMNS, Q3Result, baseline_envelope, scan_segments, scope_verdict
from analysis.investigation.aggregate import Aggregates
from analysis.investigation.context import Context, Failure
from analysis.investigation.mix_shift import mix_adjusted, mix_column, mix_shift_facts, name_traffic_change
from analysis.investigation.onset_scan import OnsetFinding
from analysis.investigation.what_changed import WhatChanged
from analysis.schema import SEGMENT_COLUMNS

__all__ = ["AFFECTED_IN_MEMORY", "ScopeFinding", "RiskTiers", "sample_scan", "empty_affected"]

#: Affected events kept in memory for the report; all of them are written to affected_events.csv.
AFFECTED_IN_MEMORY = 10_000


@dataclass(frozen=True, eq=False)
class ScopeFinding:
    """Q3's answer, Q2 as the scope leaves it (a traffic-mix shift names the change that brought the
    traffic first), and the notes of the drill-down."""

    q3: Q3Result
    q2: Q2Result
    notes: list[str]


@dataclass(frozen=True)
class _Affected:
    """The affected events: how many, the file holding all of them, the first ones, their share of the failure window."""

    n: int
    path: str | None
    head: pd.DataFrame
    share: float


class RiskTiers:
    """Risk tier of a segment: its value for ``risk_category``, else the strictest tier holding >= 25% of
    its events in the failure window (one engine query per segment column, cached)."""

    def __init__(self, eng: Engine, in_cur: Where, thr: Mapping[str, float], default: str) -> None:
        self.eng, self.in_cur, self.thr, self.default = eng, in_cur, thr, default
        self.by_col: dict[str, pd.DataFrame] = {}

    def __call__(self, col: str, seg: str) -> str:
        thr, default = self.thr, self.default
        if col == "risk_category":
            return seg if seg in thr else default
        if not self.eng.has("risk_category") or col == "__all__" or not self.eng.has(col):
            return default
        if col not in self.by_col:
            self.by_col[col] = self.eng.totals(by=[col, "risk_category"], where=self.in_cur)
        t = self.by_col[col]
        t = t[t[col] == seg]
        if int(t["n"].sum()) == 0:
            return default
        t = t[t["risk_category"] != "__missing__"]
        shares = t.set_index("risk_category")["n"] / max(int(t["n"].sum()), 1)
        ok = [tier for tier in shares.index if tier in thr and shares[tier] >= 0.25]
        if not ok:
            return default
        return min(ok, key=lambda tier: thr[tier])


def _segments_kept(eng: Engine, seg_cols: Sequence[str]) -> list[str]:
    """The canonical segment columns present, then the other scanned ones (the application's own)."""
    return list(dict.fromkeys([*[c for c in SEGMENT_COLUMNS if eng.has(c)], *[c for c in seg_cols if eng.has(c)]]))


def _canonical_affected(head: pd.DataFrame) -> pd.DataFrame:
    out = head.copy()
    out["ts"] = pd.to_datetime(out["ts"], utc=True).astype("datetime64[ns, UTC]")
    for c in out.columns:
        if c != "ts":
            out[c] = out[c].astype("string[pyarrow]")
    for c in ("input_text", "output_text"):
        if c not in out.columns:
            out[c] = pd.Series(pd.NA, index=out.index, dtype="string[pyarrow]")
    cols = [c for c in out.columns if c != "why"] + ["why"]
    return out[cols].reset_index(drop=True)


def empty_affected(eng: Engine, seg_cols: Sequence[str] = ()) -> pd.DataFrame:
    """No affected events, with the columns the affected events would have."""
    cols = ["event_id", "ts", *_segments_kept(eng, seg_cols), "input_text", "output_text", "why"]
    out = pd.DataFrame({c: pd.Series([], dtype="string[pyarrow]") for c in cols})
    out["ts"] = pd.Series([], dtype="datetime64[ns, UTC]")
    return out


def _scan_input(ctx: Context, aggs: Aggregates, failure: str, baseline: tuple, cur: tuple) -> pd.DataFrame:
    """Per segment: failures and requests in the baseline and in the failure window, the risk tier,
    where the baseline comes from, and the baseline's envelope (one engine query)."""
    w, (b0, b1) = aggs.window, baseline
    fagg = ctx.eng.window_aggregates(window=w, segment_by=aggs.segment_columns, metrics={"__failure": Metric("rate", failure)},
                                     where=ctx.upto, start=aggs.agg.start, end=aggs.agg.end)
    fb = period_totals(fagg.table, b0, b1)
    fc = period_totals(fagg.table, cur[0], cur[1] + pd.Timedelta(microseconds=1))
    cols = {"__failure__n": "n", "__failure__sum": "failures"}
    scan_in = fb[["segment_column", "segment", *cols]].rename(columns={k: f"{v}_baseline" for k, v in cols.items()}).merge(
        fc[["segment_column", "segment", *cols]].rename(columns={k: f"{v}_current" for k, v in cols.items()}),
        on=["segment_column", "segment"], how="outer").fillna(0.0)
    scan_in = scan_in[scan_in["segment"] != "__missing__"].copy()
    tiers = RiskTiers(ctx.eng, Where.of(cur[0], cur[1], end_inclusive=True), ctx.risk_thresholds, ctx.default_tier)
    scan_in["tier"] = [tiers(c, s) for c, s in zip(scan_in["segment_column"], scan_in["segment"])]
    # a segment absent from the baseline (new traffic) is held to all traffic's baseline rate
    all_row = scan_in[scan_in["segment_column"] == "__all__"]
    scan_in["baseline_source"] = "own"
    if len(all_row):
        small = scan_in["n_baseline"] < 20
        scan_in.loc[small, "baseline_source"] = "all traffic (segment absent from the baseline)"
        scan_in.loc[small, "failures_baseline"] = float(all_row["failures_baseline"].iat[0])
        scan_in.loc[small, "n_baseline"] = float(all_row["n_baseline"].iat[0])
    length = max(int(np.ceil((cur[1] - cur[0]) / w)), 1)
    env = baseline_envelope(fagg.table, metric="__failure", baseline=baseline, length=length, quantile=1 - ctx.params.alpha)
    return scan_in.merge(env, on=["segment_column", "segment"], how="left")


def _verdict(ctx: Context, aggs: Aggregates, scan_in: pd.DataFrame, failure: str, baseline: tuple, cur: tuple,
             mix_col: str | None) -> tuple[pd.DataFrame, str, str, dict[str, Any] | None]:
    """The scan, the verdict and its reason. With a ``mix_col`` (the segment column along which the
    aggregate moved by mix), every segment is held to its mix-adjusted baseline
    (:func:`~analysis.investigation.scope.mix_expected_rates`): when the raw scan finds segments above their baselines and
    the adjusted scan finds none, the aggregate moved by mix alone: ``no_incident``, and the
    returned mix shift describes the traffic shift."""
    thr, alpha, tier = ctx.risk_thresholds, ctx.params.alpha, ctx.default_tier
    scan = scan_segments(scan_in, risk_thresholds=thr, alpha=alpha, default_tier=tier)
    verdict, reason = scope_verdict(scan)
    if mix_col is None:
        return scan, verdict, reason, None
    adj_in = mix_adjusted(ctx.eng, scan_in, failure, aggs.segment_columns, mix_col, baseline, cur)
    adj = scan_segments(adj_in, risk_thresholds=thr, alpha=alpha, default_tier=tier)
    adj_verdict, adj_reason = scope_verdict(adj)
    if verdict == "systematic" and adj_verdict != "systematic":
        shift = mix_shift_facts(ctx.eng, mix_col, baseline, cur, failure, n_moved=int((scan["status"] == "systematic").sum()))
        reason = (f"traffic mix shift, not a behaviour regression: {shift['text']}; held to its mix-adjusted baseline, no "
                  f"segment's failure rate moved beyond it ({len(adj)} segments scanned)")
        return adj, "no_incident", reason, shift
    return adj, adj_verdict, adj_reason, None


#: The drill-down starts from all traffic when no systematic segment holds this share of all
#: traffic's excess failures (a failure spread over many segments, such as every topic).
CONCENTRATED = 0.5


def _affected(ctx: Context, aggs: Aggregates, scan: pd.DataFrame, failure: Failure, baseline: tuple,
              cur: tuple) -> tuple[_Affected, list[str]]:
    """The affected events: drilled down from the segment with (nearly) the most excess failures,
    the smallest such one, and written whole to a file by the engine."""
    eng = ctx.eng
    sys_rows = scan[(scan["status"] == "systematic") & (scan["segment_column"] != "__all__")]
    whole = scan[(scan["status"] == "systematic") & (scan["segment_column"] == "__all__")]
    if len(sys_rows) == 0 or (len(whole) and sys_rows["excess_events"].max() < CONCENTRATED * whole["excess_events"].max()):
        # no segment holds most of all traffic's excess failures: the failure is not one segment's
        sys_rows = scan[scan["status"] == "systematic"]
        if len(whole):
            sys_rows = whole
    top_ex = sys_rows["excess_events"].max()
    start_row = sys_rows[sys_rows["excess_events"] >= 0.9 * top_ex].sort_values("n_current").iloc[0]
    conds, awhere, notes = drill_down(eng, failure.sql, start_segment=(start_row["segment_column"], start_row["segment"]),
                                            current=cur, baseline=baseline, columns=aggs.segment_columns, alpha=ctx.params.alpha)
    desc = " and ".join(f"{c} in [{', '.join(v)}]" if len(v) > 1 else f"{c}={v[0]}" for c, v in conds.items()) or "all traffic"
    src = str(start_row.get("baseline_source", "own"))
    where = f"{start_row['segment_column']}={start_row['segment']}" if src == "own" else "all traffic; the segment is new"
    why = f"{desc}: {failure.definition} in the failure window (baseline rate {float(start_row['baseline_rate']):.2%} in {where})"
    workdir = ctx.params.workdir
    folder = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="forensics-affected-"))
    in_cur = Where.of(cur[0], cur[1], end_inclusive=True)
    columns = ["event_id", "ts", *_segments_kept(eng, aggs.segment_columns), *[c for c in ("input_text", "output_text") if eng.has(c)]]
    rows = eng.rows(where=in_cur.and_(awhere).and_(Where(expr=f"COALESCE({failure.sql}, FALSE)")), columns=columns,
                    path=folder / "affected_events.parquet", limit=AFFECTED_IN_MEMORY, extra={"why": quote_literal(why)})
    share = rows.n / max(eng.count(in_cur), 1)
    return _Affected(rows.n, str(rows.path), _canonical_affected(rows.head), float(share)), notes


def _too_few(ctx: Context, aggs: Aggregates, found: OnsetFinding, changed: WhatChanged, failure: Failure) -> ScopeFinding:
    """Q3 when the data are too few to answer: no failure window, so no segment scanned and no affected event."""
    reason = (f"{TOO_FEW_DATA}: {found.onset.reason}; no onset can be placed, so there is no failure window to scope "
              "and no segment was scanned")
    q3 = Q3Result(verdict="too_few_data", reason=reason, segments=pd.DataFrame(columns=list(SCAN_COLUMNS)),
                  affected_events=empty_affected(ctx.eng, aggs.segment_columns), affected_share=0.0,
                  failure_definition=failure.definition, risk_thresholds=ctx.risk_thresholds, period=found.current,
                  alpha=ctx.params.alpha, affected_total=0)
    return ScopeFinding(q3=q3, q2=changed.q2, notes=[])


def sample_scan(ctx: Context, aggs: Aggregates, found: OnsetFinding, changed: WhatChanged) -> ScopeFinding:
    """Q3: the per-segment binomial scan, the verdict and the affected events (``too_few_data`` when the
    onset's series had too few windows to search: then nothing is scanned)."""
    onset, cur, base = found.onset, found.current, changed.baseline
    failure = ctx.failure(onset.metric, onset.kind, onset.alternative)
    if onset.too_few_data:
        return _too_few(ctx, aggs, found, changed, failure)
    bad_sign = 1.0 if onset.alternative == "greater" else -1.0
    mix_col = mix_column(changed.decompositions, aggs.segment_columns, bad_sign) if onset.ts is not None else None
    scan_in = _scan_input(ctx, aggs, failure.sql, base, cur)
    scan, verdict, reason, shift = _verdict(ctx, aggs, scan_in, failure.sql, base, cur, mix_col)
    affected, notes = _Affected(0, None, empty_affected(ctx.eng, aggs.segment_columns), 0.0), []
    if verdict == "systematic":
        affected, notes = _affected(ctx, aggs, scan, failure, base, cur)
    q2 = changed.q2
    if shift is not None:
        ranked, shift = name_traffic_change(q2.candidates, shift, onset)
        q2 = dataclasses.replace(q2, candidates=ranked, separation=None)
    q3 = Q3Result(verdict=verdict, reason=reason, segments=scan, affected_events=affected.head, affected_share=affected.share,
                        failure_definition=failure.definition, risk_thresholds=ctx.risk_thresholds, period=cur,
                        alpha=ctx.params.alpha, affected_total=affected.n, affected_file=affected.path, mix_shift=shift,
                        signatures=failure_signatures(ctx, found, base, failure.sql))
    return ScopeFinding(q3=q3, q2=q2, notes=list(notes))
