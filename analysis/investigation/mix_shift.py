"""Traffic-mix shifts: the aggregate moved because traffic moved toward segments with a different base
rate, while no segment changed within. Not a behaviour regression: the scan holds every segment to
its mix-adjusted baseline, and the report names the shift and what brought the traffic.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.engine import Engine, Metric, Where
from analysis.investigation.scope import mix_expected_rates

__all__ = ["MIX_SHARE_MIN", "mix_column", "mix_adjusted", "mix_shift_facts", "name_traffic_change", "mix_shift_note"]


def name_traffic_change(ranked: pd.DataFrame, mix_shift: dict[str, Any], onset: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Put the change that brought the traffic first: the best-scored logged ``traffic_source_change``
    (or change of the mix column) not after the onset's interval, else an inferred
    ``traffic_mix_shift`` candidate at the onset."""
    col, seg = mix_shift["column"], mix_shift["segment"]
    live = ranked[~ranked["excluded"].astype(bool)] if len(ranked) else ranked
    hit = live[(live["change_type"] == "traffic_source_change") | (live["attribute"] == col)] if len(live) else live
    text = f"brought the traffic that shifted the mix: {mix_shift['text']}"
    if len(hit):
        cid = str(hit["change_id"].iat[0])
        i = ranked.index[ranked["change_id"] == cid][0]
        row = ranked.loc[[i]].copy()
        row["evidence"] = f"{text}; " + str(row["evidence"].iat[0])
        rest = ranked.drop(index=i)
    else:
        cid = f"inferred:traffic_mix_shift:{col}={seg}"
        row = pd.DataFrame([{c: None for c in ranked.columns}])
        row = row.assign(change_id=cid, change_type="traffic_source_change", ts=onset.ts, score=np.nan, evidence=text, inferred=True,
                         attribute=col, from_value=None, to_value=seg, description=f"inferred: the share of {col}={seg} grew",
                         excluded=False, evidence_detail=[{"mix_shift": dict(mix_shift)}])
        rest = ranked
    out = pd.concat([row, rest], ignore_index=True)
    out["rank"] = np.arange(1, len(out) + 1)
    out["ts"] = pd.to_datetime(out["ts"], utc=True)
    return out, {**mix_shift, "brought_by": cid}


#: The aggregate moved by mix along a column when at least this share of its change is mix shift.
MIX_SHARE_MIN = 0.5


def mix_column(decomps: Mapping[str, Any], seg_cols: Sequence[str], bad_sign: float) -> str | None:
    """The segment column along which the aggregate moved most by mix, in the bad direction (None
    when no column's decomposition is mostly mix)."""
    best, best_mix = None, 0.0
    for col in seg_cols:
        d = decomps.get(col)
        if d is None or not np.isfinite(d.mix_share) or d.mix_share < MIX_SHARE_MIN or np.sign(d.mix) != bad_sign:
            continue
        if abs(d.mix) > best_mix:
            best, best_mix = col, abs(d.mix)
    return best


def _cells(eng: Engine, col: str, mix: str, failure: str, period: tuple[pd.Timestamp, pd.Timestamp], end_inclusive: bool) -> pd.DataFrame:
    """Failure counts per value of ``col`` (``__all__`` when ``col`` is) and cell of ``mix``."""
    by = [mix] if col == "__all__" else ([col] if col == mix else [col, mix])
    t = eng.totals(by=by, metrics={"f": Metric("rate", failure)}, where=Where.of(*period, end_inclusive=end_inclusive))
    return pd.DataFrame({"segment_column": col, "segment": "__all__" if col == "__all__" else t[col].astype(str),
                         "cell": t[mix].astype(str), "n": t["f__n"].to_numpy(float), "failures": t["f__sum"].to_numpy(float)})


def mix_adjusted(eng: Engine, scan_in: pd.DataFrame, failure: str, seg_cols: Sequence[str], mix: str,
                  baseline: tuple[pd.Timestamp, pd.Timestamp], cur: tuple[pd.Timestamp, pd.Timestamp]) -> pd.DataFrame:
    """The scan's input with every segment's baseline failures replaced by its mix-adjusted ones (the
    baseline's size kept, so its uncertainty is unchanged; the envelope scaled alike)."""
    cols = ["__all__", *seg_cols]
    base = pd.concat([_cells(eng, c, mix, failure, baseline, False) for c in cols], ignore_index=True)
    now = pd.concat([_cells(eng, c, mix, failure, cur, True) for c in cols], ignore_index=True)
    exp = mix_expected_rates(base, now)
    out = scan_in.merge(exp[["segment_column", "segment", "expected_rate"]], on=["segment_column", "segment"], how="left")
    e = out["expected_rate"].to_numpy(float)
    ok = np.isfinite(e) & (out["n_baseline"].to_numpy(float) > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = out["failures_baseline"].to_numpy(float) / out["n_baseline"].to_numpy(float)
        factor = np.where(ok & (raw > 0), e / raw, 1.0)
    out.loc[ok, "failures_baseline"] = (e * out["n_baseline"].to_numpy(float))[ok]
    if "envelope" in out.columns:
        out["envelope"] = pd.to_numeric(out["envelope"], errors="coerce") * factor
    out.loc[ok, "baseline_source"] = f"mix-adjusted ({mix}: the current mix at baseline rates)"
    return out.drop(columns="expected_rate")


def mix_shift_facts(eng: Engine, mix: str, baseline: tuple[pd.Timestamp, pd.Timestamp], cur: tuple[pd.Timestamp, pd.Timestamp],
                     failure: str, n_moved: int) -> dict[str, Any]:
    """The traffic shift: the value of ``mix`` whose share grew most, its shares and base failure rate."""
    b = _cells(eng, "__all__", mix, failure, baseline, False)
    c = _cells(eng, "__all__", mix, failure, cur, True)
    t = b.merge(c, on="cell", how="outer", suffixes=("_b", "_c")).fillna(0.0)
    t["share_b"] = t["n_b"] / max(float(t["n_b"].sum()), 1.0)
    t["share_c"] = t["n_c"] / max(float(t["n_c"].sum()), 1.0)
    g = t.sort_values("share_c", ascending=False, kind="stable")
    g = g.iloc[int(np.argmax((g["share_c"] - g["share_b"]).to_numpy()))]
    rate_b = float(g["failures_b"] / g["n_b"]) if g["n_b"] > 0 else float("nan")
    overall = float(t["failures_b"].sum() / max(float(t["n_b"].sum()), 1.0))
    text = (f"{mix}={g['cell']} grew from {g['share_b']:.1%} to {g['share_c']:.1%} of traffic, and its baseline failure rate "
            f"({rate_b:.1%}) is above all traffic's ({overall:.1%})")
    return {"column": mix, "segment": str(g["cell"]), "share_baseline": float(g["share_b"]), "share_current": float(g["share_c"]),
            "segment_baseline_rate": rate_b, "overall_baseline_rate": overall, "segments_moved_by_mix": n_moved, "text": text}


def mix_shift_note(mix_shift: dict[str, Any] | None, onset: Any) -> list[dict[str, Any]]:
    """The traffic mix shift as a timeline fact (not an incident)."""
    if mix_shift is None or onset.ts is None:
        return []
    return [{"ts": onset.ts, "source": "traffic_mix_shift", "description": f"traffic mix shift: {mix_shift['text']}",
             "evidence": f"brought by {mix_shift.get('brought_by')}; behaviour within the segments unchanged: not an incident"}]
