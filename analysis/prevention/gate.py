"""The rollout gate: a canary compared with control per tier, with tests that stay valid at every look.

:func:`evaluate_gate` reads per-tier, per-arm counts of a boolean outcome through the engine (one
``window_aggregates`` query per arm, cumulated per look in pandas on that small table), and at
each look bounds each tier's *harm* (the rate difference in the bad direction) with a confidence
sequence: bounds that hold at every look at once. Then

- ``hold``: some tier's lower bound of the harm is above its tolerance (the treatment is worse
  than control beyond what the tier tolerates);
- ``promote``: every tier's upper bound is below its tolerance;
- ``continue``: neither yet.

The first look that says ``hold`` or ``promote`` stops the gate. Looks are hourly by default
(``every``), from the first treatment request, and every look is replayed. Three methods:

``obf`` (default; :mod:`analysis.stats.group_sequential`)
    A group-sequential non-inferiority test per tier: the Farrington-Manning score statistic of
    ``harm <= tolerance`` (the tolerance is the margin), with Lan-DeMets O'Brien-Fleming-type
    alpha spending over the planned ``horizon`` at ``alpha / K`` per side (``K`` tiers). A look
    whose arms expect fewer than 10 outcome or non-outcome events uses the exact unconditional
    test of the same statistic (Chan 1998) against the look's nominal level, and says so. Chosen
    by measurement (``benchmarks/gate.py``): it decides within the canaries people run, where
    the two below cannot.
``exact``
    Robbins' beta-binomial mixture confidence sequence per arm and tier at ``alpha / (2K)``,
    combined by a union bound (:mod:`analysis.stats.sequential`). No normal approximation, valid
    at any looks whatever the horizon, but wide.
``msprt``
    The one-sided mixture SPRT of Johari et al. (2017/2022) on the normal approximation of the
    difference (plug-in, Laplace-smoothed variance), half-normal mixing scale ``tau``, each side
    at ``alpha / K``. Approximate for small arms.

All three control the family-wise error over the tiers (Bonferroni): a false ``hold`` (no tier
worse beyond its tolerance) and a false ``promote`` (some tier worse beyond it) each happen with
probability at most ``alpha`` (``obf``: over the looks of the planned horizon, by the normal
approximation and simulation; the other two at any looks, for ever). Assumptions: within the
canary, each arm's requests in a tier are independent with one rate (no drift), and the treatment
share and the looks' times do not depend on the outcomes.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis._common import check_alpha, check_duration, check_timestamp, iso_z
from analysis.engine import Engine, Metric, Where, as_engine
from analysis.schema import BAD_ALTERNATIVE, alternative_of
from analysis.params import DEFAULT_RISK_THRESHOLDS, DEFAULT_TIER, PATTERN_RISK_THRESHOLDS
from analysis.stats import group_sequential as gsq
from analysis.stats import sequential as seq

__all__ = [
    "GateInputError", "TierEvidence", "Look", "GateResult", "evaluate_gate", "default_alternative", "default_tolerances",
    "parse_arm", "parse_tolerances", "DECISIONS", "EXIT_CODES", "METHODS", "DEFAULT_TAU", "DEFAULT_EVERY", "DEFAULT_HORIZON",
]

DECISIONS = ("promote", "hold", "continue")
#: Exit codes of ``python -m analysis gate`` (2 is bad input).
EXIT_CODES = {"promote": 0, "hold": 1, "continue": 3}
METHODS = ("obf", "exact", "msprt")
#: Looks: hourly, from the first treatment request.
DEFAULT_EVERY = "1h"
#: The planned canary (``obf`` spends its level over it) when neither ``horizon`` nor ``end`` is given.
DEFAULT_HORIZON = "24h"
#: Mixing scale of the harm for ``msprt``: most powerful for rate differences of about 10 points.
DEFAULT_TAU = 0.1
#: The pattern whose tier tolerances (:data:`analysis.params.PATTERN_RISK_THRESHOLDS`) apply to a metric.
_METRIC_PATTERN = {"refused": "refusal", "escalated": "escalation", "hallucinated": "retrieval", "ungrounded_citation": "retrieval",
                   "correct": "retrieval"}


class GateInputError(ValueError):
    """The gate's input is wrong: a missing column, a value not in the data, a bad option."""


# ----------------------------------------------------------------------------------------------
# parameters
# ----------------------------------------------------------------------------------------------


def parse_arm(text: str, flag: str = "--treatment") -> tuple[str, str]:
    """``"column=value"`` as ``(column, value)``."""
    col, sep, val = str(text).partition("=")
    if not sep or not col.strip() or not val.strip():
        raise GateInputError(f"{flag}: expected COLUMN=VALUE (e.g. model_version=medtriage-v2), got {text!r}")
    return col.strip(), val.strip()


def parse_tolerances(items: Sequence[str]) -> dict[str, float]:
    """``["high=0.002", ...]`` as ``{"high": 0.002}`` (each in [0, 1))."""
    out: dict[str, float] = {}
    for item in items:
        tier, sep, val = str(item).partition("=")
        if not sep or not tier.strip():
            raise GateInputError(f"--tolerance: expected TIER=RATE (e.g. high=0.001), got {item!r}")
        try:
            v = float(val)
        except ValueError:
            raise GateInputError(f"--tolerance {item!r}: the tolerance must be a number in [0, 1), got {val!r}") from None
        if not 0.0 <= v < 1.0:
            raise GateInputError(f"--tolerance {item!r}: the tolerance must be in [0, 1), got {v}")
        out[tier.strip()] = v
    return out


def default_alternative(metric: str) -> str:
    """Which way ``metric`` gets worse for the gate, from the kit's one table
    (:data:`analysis.schema.BAD_ALTERNATIVE`); no guess for an unknown metric.

    The gate tests one side. A metric that goes bad both ways (``refused``) is gated on the harm a
    model update brings in the refusal case, fewer refusals of what must be refused (``less``);
    pass ``alternative="greater"`` (``--alternative greater``) to gate on over-refusal instead.
    """
    if metric not in BAD_ALTERNATIVE:
        known = {m: a for m, a in BAD_ALTERNATIVE.items()}
        raise GateInputError(f"no default alternative for metric {metric!r}: pass --alternative greater (a rise is bad) or "
                             f"--alternative less (a drop is bad); known defaults: {known}")
    alt = BAD_ALTERNATIVE[metric]
    return "less" if alt == "two-sided" else alt


def default_tolerances(metric: str, tiers: Sequence[str]) -> dict[str, float]:
    """Each tier's tolerance from the scope step: the metric's pattern's tier tolerances
    (:data:`analysis.params.PATTERN_RISK_THRESHOLDS`, else :data:`DEFAULT_RISK_THRESHOLDS`); a tier not
    named there gets the tolerance of :data:`DEFAULT_TIER`."""
    table = PATTERN_RISK_THRESHOLDS.get(_METRIC_PATTERN.get(metric, ""), DEFAULT_RISK_THRESHOLDS)
    return {t: float(table.get(t, table[DEFAULT_TIER])) for t in tiers}


# ----------------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TierEvidence:
    """One tier at one look: counts, rates, the harm and its always-valid bounds.

    ``harm`` is the treatment-minus-control rate difference in the bad direction; ``lower`` and
    ``upper`` its bounds at the gate's level (Bonferroni over the tiers): ``obf``'s repeated
    confidence bounds (the score test inverted at the look's boundary), the other methods'
    confidence sequences. ``p_worse`` / ``p_not_worse``: the p-values of ``harm <= tolerance`` and
    of ``harm >= tolerance``; ``obf``: the look's own (normal, or exact), compared with ``level``,
    the look's nominal level from the alpha spending (``boundary`` is the same on the
    standard-normal scale); the other methods: always-valid (Bonferroni-adjusted, running minimum
    over the looks), compared with ``alpha``. ``statistic``: the score statistic (``obf``), the log
    likelihood ratio behind ``p_worse`` (``msprt``) or the log beta-binomial martingale of the
    treatment at control's upper bound plus the tolerance (``exact``). ``test``: ``normal`` or
    ``exact`` (``obf``'s test at this look; exact for tiny arms), else the method. ``status``:
    ``worse``, ``not_worse``, ``undecided`` or ``no_data`` (an arm has no labelled event in the tier yet).
    """

    tier: str
    tolerance: float
    n_control: int
    x_control: int
    n_treatment: int
    x_treatment: int
    rate_control: float | None
    rate_treatment: float | None
    harm: float | None
    lower: float | None
    upper: float | None
    statistic: float | None
    p_worse: float
    p_not_worse: float
    status: str
    boundary: float | None = None
    level: float | None = None
    test: str = ""


@dataclass(frozen=True)
class Look:
    """The gate at one look: the time (end of the data it saw), hours into the canary, its decision."""

    index: int
    at: pd.Timestamp
    hours: float
    decision: str
    tiers: tuple[TierEvidence, ...]


@dataclass(frozen=True)
class GateResult:
    """The gate's decision and its evidence.

    ``looks`` runs from the first look to the one that decided (or the last one, for
    ``continue``); ``first_hold`` is the look that said ``hold`` (None otherwise). ``horizon``:
    the planned canary ``obf`` spends its level over (None for the other methods).
    """

    decision: str
    looks: tuple[Look, ...]
    metric: str
    by: str
    alternative: str
    control: tuple[str, str]
    treatment: tuple[str, str]
    alpha: float
    method: str
    tau: float | None
    tolerances: dict[str, float]
    canary_start: pd.Timestamp
    data_end: pd.Timestamp
    every: str | None
    params: dict[str, Any] = field(default_factory=dict)
    horizon: pd.Timedelta | None = None

    @property
    def last(self) -> Look:
        return self.looks[-1]

    @property
    def first_hold(self) -> Look | None:
        return next((lk for lk in self.looks if lk.decision == "hold"), None)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.decision]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the decision, the parameters, the evidence at the deciding look, every look."""
        hold = self.first_hold
        return {
            "decision": self.decision, "exit_code": self.exit_code, "line": self.line(),
            "decided_at": iso_z(self.last.at) if self.decision != "continue" else None,
            "hours_into_canary": round(self.last.hours, 4), "looks": len(self.looks),
            "first_hold": None if hold is None else {"look": hold.index, "at": iso_z(hold.at), "hours_into_canary": round(hold.hours, 4)},
            "metric": self.metric, "by": self.by, "alternative": self.alternative,
            "control": {"column": self.control[0], "value": self.control[1]},
            "treatment": {"column": self.treatment[0], "value": self.treatment[1]},
            "alpha": self.alpha, "method": self.method, "tau": self.tau, "tolerances": self.tolerances,
            "canary_start": iso_z(self.canary_start), "data_end": iso_z(self.data_end), "every": self.every,
            "horizon_hours": None if self.horizon is None else self.horizon / pd.Timedelta(hours=1),
            "method_note": _METHOD_NOTE[self.method], "exact_tiers": sorted({t.tier for lk in self.looks for t in lk.tiers
                                                                            if self.method == "obf" and t.test == "exact"}),
            "tiers": [_tier_dict(t) for t in self.last.tiers],
            "history": [{"look": lk.index, "at": iso_z(lk.at), "hours": round(lk.hours, 4), "decision": lk.decision,
                         "tiers": [_tier_dict(t) for t in lk.tiers]} for lk in self.looks],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def looks_frame(self) -> pd.DataFrame:
        """One row per look x tier."""
        rows = [{"look": lk.index, "at": lk.at, "hours": lk.hours, "decision": lk.decision, **asdict(t)}
                for lk in self.looks for t in lk.tiers]
        return pd.DataFrame(rows)

    def line(self) -> str:
        """The human line: the decision, when, and the tier(s) that decided it."""
        lk = self.last
        planned = "" if self.horizon is None else f" of {self.horizon / pd.Timedelta(hours=1):.1f} h planned"
        when = f"look {lk.index} ({iso_z(lk.at)}, {lk.hours:.1f} h into the canary{planned})"
        arms = f"{self.treatment[0]}={self.treatment[1]} vs {self.control[0]}={self.control[1]}"
        if self.decision == "hold":
            worst = [t for t in lk.tiers if t.status == "worse"]
            why = "; ".join(_tier_text(t, self) for t in worst)
            return f"gate: HOLD at {when}: {arms}, {self.by}={why}"
        if self.decision == "promote":
            return (f"gate: PROMOTE at {when}: {arms}, every {self.by} tier's upper bound of the harm is below its tolerance "
                    f"({', '.join(f'{t.tier} {t.upper:.4f} < {t.tolerance:g}' for t in lk.tiers)})")
        open_ = [t for t in lk.tiers if t.status != "not_worse"]
        return (f"gate: CONTINUE after {when}: {arms}, no {self.by} tier is worse beyond its tolerance yet; not yet shown "
                f"within it: {', '.join(_open_text(t) for t in open_)}")


_METHOD_NOTE = {
    "obf": "group-sequential non-inferiority test per tier: Farrington-Manning score statistic, Lan-DeMets "
           "O'Brien-Fleming-type alpha spending over the planned horizon at alpha/K per side, Bonferroni over the K tiers; "
           "a look whose arms expect fewer than 10 outcome or non-outcome events uses the exact unconditional score test "
           "(Chan 1998, Berger-Boos) at the look's nominal level (test: exact)",
    "exact": "beta-binomial mixture confidence sequences per arm and tier (Robbins 1970; Howard et al. 2021), "
             "at alpha/(2K) each, union bound over arms and Bonferroni over the K tiers; valid at every look",
    "msprt": "one-sided mixture SPRT on the normal approximation of the rate difference (Johari et al. 2017/2022), "
             "half-normal mixing scale tau, at alpha/K each side, Bonferroni over the K tiers; valid at every look",
}


def _tier_dict(t: TierEvidence) -> dict[str, Any]:
    d = asdict(t)
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _tier_text(t: TierEvidence, r: GateResult) -> str:
    head = (f"{t.tier}: {r.metric} {_pct(t.rate_treatment)} (treatment, n={t.n_treatment}) vs {_pct(t.rate_control)} "
            f"(control, n={t.n_control}), harm {t.harm:.3f}")
    if t.level is None or r.method != "obf":
        return f"{head}, always-valid lower bound {t.lower:.3f} > tolerance {t.tolerance:g} (p={t.p_worse:.2g})"
    return (f"{head}, worse beyond the tolerance {t.tolerance:g} by the {t.test} test (p={t.p_worse:.2g} <= "
            f"{t.level:.2g}, this look's level; repeated lower bound {t.lower:.3f})")


def _open_text(t: TierEvidence) -> str:
    if t.status == "no_data":
        return f"{t.tier} (no data in an arm: n={t.n_treatment} treatment, {t.n_control} control)"
    test = f", {t.test} test p={t.p_worse:.2g} vs level {t.level:.2g}" if t.level is not None and t.test in ("normal", "exact") else ""
    return f"{t.tier} (harm {t.harm:.3f}, bounds [{t.lower:.3f}, {t.upper:.3f}], tolerance {t.tolerance:g}{test})"


# ----------------------------------------------------------------------------------------------
# checks against the data
# ----------------------------------------------------------------------------------------------


def _check_columns(eng: Engine, metric: str, by: str, control: tuple[str, str], treatment: tuple[str, str]) -> None:
    cols = eng.columns
    for flag, col in (("--metric", metric), ("--by", by), ("--control", control[0]), ("--treatment", treatment[0])):
        if col not in cols:
            raise GateInputError(f"{flag}: column {col!r} is not in the events; columns found: {sorted(cols)}")
    if cols[metric] != "bool":
        raise GateInputError(f"--metric: column {metric!r} holds {cols[metric]} values; the gate compares rates of a "
                             "boolean outcome (true/false, e.g. refused, escalated)")
    if control == treatment:
        raise GateInputError(f"--control and --treatment are the same arm ({control[0]}={control[1]})")


def _check_values(eng: Engine, period: Where, control: tuple[str, str], treatment: tuple[str, str]) -> None:
    for flag, (col, val) in (("--treatment", treatment), ("--control", control)):
        vc = eng.value_counts([col], where=period)
        seen = [str(v) for v in vc["value"]]
        if val not in seen:
            where = "" if period.start is None and period.end is None else " in the period evaluated"
            raise GateInputError(f"{flag}: no events with {col}={val!r}{where}; values of {col!r} found: {seen[:20]}")


def _arm_where(arm: tuple[str, str]) -> Where:
    return Where.of(conditions={arm[0]: [arm[1]]})


def _period(start: Any, end: Any) -> Where:
    try:
        s, e = check_timestamp(start, "--start"), check_timestamp(end, "--end")
    except ValueError as exc:
        raise GateInputError(str(exc).replace("`--start`", "--start").replace("`--end`", "--end")) from None
    if s is not None and e is not None and e <= s:
        raise GateInputError(f"--end ({iso_z(e)}) must be after --start ({iso_z(s)})")
    return Where(s, e)


# ----------------------------------------------------------------------------------------------
# counts per look (through the engine)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Counts:
    """Cumulative labelled events ``n`` and outcome events ``x`` per look x tier, per arm."""

    tiers: tuple[str, ...]
    at: pd.DatetimeIndex
    n_c: np.ndarray
    x_c: np.ndarray
    n_t: np.ndarray
    x_t: np.ndarray


def _arm_table(eng: Engine, arm: tuple[str, str], *, metric: str, by: str, window: pd.Timedelta, start: pd.Timestamp,
               end: pd.Timestamp, period: Where) -> pd.DataFrame:
    wa = eng.window_aggregates(window=window, segment_by=[by], metrics={metric: Metric("rate")}, start=start, end=end,
                               where=_arm_where(arm).and_(period))
    t = wa.table
    t = t[t["segment_column"] == by]
    return pd.DataFrame({"window_start": t["window_start"].to_numpy(), "tier": t["segment"].astype(str).to_numpy(),
                         "n": t[f"{metric}__n"].to_numpy(dtype=np.int64), "x": t[f"{metric}__sum"].to_numpy(dtype=np.int64)})


def _cumulative(t: pd.DataFrame, starts: pd.DatetimeIndex, tiers: Sequence[str], col: str) -> np.ndarray:
    wide = t.pivot_table(index="window_start", columns="tier", values=col, aggfunc="sum", fill_value=0)
    wide = wide.reindex(index=starts, columns=list(tiers), fill_value=0)
    return wide.to_numpy(dtype=np.int64).cumsum(axis=0)


def _counts(eng: Engine, *, metric: str, by: str, control: tuple[str, str], treatment: tuple[str, str],
            every: pd.Timedelta | None, period: Where, horizon: Any = None) -> tuple[_Counts, pd.Timestamp, pd.Timestamp]:
    """Counts per look; ``horizon``: a duration (events after it are not read), ``"end"`` (up to
    ``period.end``) or None (all the data)."""
    n_t, t0, t_last = eng.time_range(_arm_where(treatment).and_(period))
    if n_t == 0 or t0 is None:
        raise GateInputError(f"--treatment: no events with {treatment[0]}={treatment[1]!r} in the period evaluated")
    _, _, c_last = eng.time_range(_arm_where(control).and_(period).and_(Where(t0, None)))
    data_end = period.end if period.end is not None else max(x for x in (t_last, c_last) if x is not None) + pd.Timedelta(microseconds=1)
    if isinstance(horizon, pd.Timedelta):
        data_end = min(data_end, t0 + horizon)
        period = period.and_(Where(None, data_end))
    window = every if every is not None else data_end - t0
    n_looks = max(int(-(-(data_end - t0) // window)), 1)
    end = t0 + n_looks * window
    arms = {name: _arm_table(eng, arm, metric=metric, by=by, window=window, start=t0, end=end, period=period)
            for name, arm in (("c", control), ("t", treatment))}
    tiers = sorted(set(arms["c"]["tier"]) | set(arms["t"]["tier"]))
    if not tiers:
        raise GateInputError(f"--by: no {by!r} values in the canary period")
    starts = pd.DatetimeIndex(t0 + np.arange(n_looks) * window)
    at = pd.DatetimeIndex(np.minimum((starts + window).asi8, data_end.value)).tz_localize("UTC")
    cum = {f"{k}_{arm}": _cumulative(arms[arm], starts, tiers, k) for arm in ("c", "t") for k in ("n", "x")}
    return _Counts(tiers=tuple(tiers), at=at, **cum), t0, data_end


# ----------------------------------------------------------------------------------------------
# the tests per look
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Evidence:
    """Per look x tier arrays: harm, bounds, statistic, adjusted running p-values, decisions."""

    harm: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    statistic: np.ndarray
    p_worse: np.ndarray
    p_not_worse: np.ndarray
    worse: np.ndarray
    not_worse: np.ndarray
    boundary: np.ndarray | None = None
    level: np.ndarray | None = None
    exact: np.ndarray | None = None


def _obf_evidence(c: _Counts, tol: np.ndarray, *, alternative: str, alpha: float, times: np.ndarray) -> _Evidence:
    r = gsq.noninferiority_looks(c.x_t, c.n_t, c.x_c, c.n_c, times=times, tolerance=tol, alternative=alternative,
                                 alpha=alpha / len(c.tiers))
    return _Evidence(r.harm, r.lower, r.upper, r.statistic, r.p_worse, r.p_not_worse, r.worse, r.not_worse,
                     boundary=r.boundary, level=r.level, exact=r.exact)


def _evidence(c: _Counts, tol: np.ndarray, *, alternative: str, alpha: float, method: str, tau: float,
              times: np.ndarray) -> _Evidence:
    k = len(c.tiers)
    if method == "obf":
        return _obf_evidence(c, tol, alternative=alternative, alpha=alpha, times=times)
    if method == "msprt":
        r = seq.mixture_sprt(c.x_t, c.n_t, c.x_c, c.n_c, tolerance=tol, alternative=alternative, alpha=alpha / k, tau=tau)
        return _Evidence(r.harm, r.lower, r.upper, r.log_lr_worse, np.minimum(1.0, k * r.p_worse),
                         np.minimum(1.0, k * r.p_not_worse), r.worse, r.not_worse)
    hb = seq.exact_harm_bounds(c.x_t, c.n_t, c.x_c, c.n_c, tolerance=tol, alternative=alternative, alpha=alpha / k)
    pw = seq.exact_p_value(c.x_t, c.n_t, c.x_c, c.n_c, tolerance=tol, alternative=alternative, side="worse")
    pn = seq.exact_p_value(c.x_t, c.n_t, c.x_c, c.n_c, tolerance=tol, alternative=alternative, side="not_worse")
    # the treatment's evidence against the worst rate control allows: log M_T(U_C + tol) (mirrored for "less")
    null_rate = np.clip(hb.control_upper + tol if alternative == "greater" else hb.control_lower - tol, 1e-12, 1 - 1e-12)
    stat = seq.log_beta_binomial_martingale(null_rate, c.x_t, c.n_t)
    run = lambda p: np.minimum(1.0, k * np.minimum.accumulate(p, axis=0))  # noqa: E731
    return _Evidence(hb.harm, hb.lower, hb.upper, stat, run(pw), run(pn), hb.worse, hb.not_worse)


def _num(v: float) -> float | None:
    return None if not np.isfinite(v) else float(v)


def _test_fields(ev: _Evidence, i: int, j: int, method: str) -> dict[str, Any]:
    if ev.level is None:
        return {"boundary": None, "level": None, "test": method}
    if not np.isfinite(ev.level[i, j]):  # no look taken yet for the tier
        return {"boundary": None, "level": None, "test": "none"}
    return {"boundary": _num(ev.boundary[i, j]), "level": float(ev.level[i, j]), "test": "exact" if ev.exact[i, j] else "normal"}


def _tier_evidence(c: _Counts, ev: _Evidence, tol: np.ndarray, i: int, j: int, method: str) -> TierEvidence:
    nc, xc, nt, xt = (int(a[i, j]) for a in (c.n_c, c.x_c, c.n_t, c.x_t))
    no_data = nc == 0 or nt == 0
    status = "no_data" if no_data else "worse" if ev.worse[i, j] else "not_worse" if ev.not_worse[i, j] else "undecided"
    p_w, p_n = (float(v) if np.isfinite(v) else 1.0 for v in (ev.p_worse[i, j], ev.p_not_worse[i, j]))
    return TierEvidence(
        tier=c.tiers[j], tolerance=float(tol[j]), n_control=nc, x_control=xc, n_treatment=nt, x_treatment=xt,
        rate_control=xc / nc if nc else None, rate_treatment=xt / nt if nt else None,
        harm=None if no_data else _num(ev.harm[i, j]), lower=None if no_data else _num(ev.lower[i, j]),
        upper=None if no_data else _num(ev.upper[i, j]), statistic=None if no_data else _num(ev.statistic[i, j]),
        p_worse=p_w, p_not_worse=p_n, status=status, **_test_fields(ev, i, j, method))


def _decision(tiers: Sequence[TierEvidence]) -> str:
    if any(t.status == "worse" for t in tiers):
        return "hold"
    if all(t.status == "not_worse" for t in tiers):
        return "promote"
    return "continue"


def _tolerance_map(metric: str, by: str, tiers: Sequence[str], tolerances: Mapping[str, float] | None) -> dict[str, float]:
    """Each tier's tolerated harm: :func:`default_tolerances`, overridden by ``tolerances`` (tiers in the data only)."""
    tol_map = default_tolerances(metric, tiers)
    unknown = sorted(set(tolerances or {}) - set(tiers))
    if unknown:
        raise GateInputError(f"--tolerance: tier(s) {unknown} not in the canary's {by!r} values {list(tiers)}")
    tol_map.update({k: float(v) for k, v in (tolerances or {}).items()})
    return tol_map


def _looks(c: _Counts, ev: _Evidence, tol: np.ndarray, t0: pd.Timestamp, method: str) -> tuple[Look, ...]:
    """The looks in order, up to the first that says ``hold`` or ``promote`` (all of them for ``continue``)."""
    looks = []
    for i, at in enumerate(c.at):
        tiers = tuple(_tier_evidence(c, ev, tol, i, j, method) for j in range(len(c.tiers)))
        looks.append(Look(index=i + 1, at=at, hours=(at - t0) / pd.Timedelta(hours=1), decision=_decision(tiers), tiers=tiers))
        if looks[-1].decision != "continue":
            break
    return tuple(looks)


def evaluate_gate(
    events: Any,
    *,
    control: tuple[str, str] | str,
    treatment: tuple[str, str] | str,
    metric: str = "refused",
    by: str = "risk_category",
    alternative: str | None = None,
    alpha: float = 0.05,
    tolerances: Mapping[str, float] | None = None,
    every: str | pd.Timedelta | None = DEFAULT_EVERY,
    start: Any = None,
    end: Any = None,
    method: str = "obf",
    tau: float = DEFAULT_TAU,
    horizon: str | pd.Timedelta | None = None,
) -> GateResult:
    """Evaluate a canary (``treatment``) against ``control`` per ``by`` tier, at one look or replayed.

    Parameters
    ----------
    events
        An :class:`~analysis.engine.Engine`, or anything it opens (a DataFrame, a Parquet path).
    control, treatment
        The arms: ``(column, value)`` or ``"column=value"``. Both are read from the first
        treatment request on (concurrent traffic only).
    metric
        A boolean outcome column; unlabelled (null) events are not counted.
    by
        The tier column (default ``risk_category``).
    alternative
        ``"greater"`` (treatment's rate above control's is bad) or ``"less"``; default per metric
        (:func:`default_alternative`: ``refused`` is ``less``).
    alpha
        Family-wise error over the tiers and all looks.
    tolerances
        Tier -> tolerated harm, overriding :func:`default_tolerances` (the scope step's tier
        tolerances); every tier named must be in the data.
    every
        Look every this long from the first treatment request, every look replayed (``None``: one look).
    start, end
        Restrict the events to ``[start, end)`` (timezone-aware).
    method
        ``"obf"`` (default), ``"exact"`` or ``"msprt"`` (see the module docstring).
    tau
        The mixing scale for ``msprt``.
    horizon
        ``obf``: the planned canary, over which the level is spent (default: up to ``end``, else 24 h).

    Returns
    -------
    GateResult
        Looks up to the first that says ``hold`` or ``promote`` (or all of them, for ``continue``).

    Raises
    ------
    GateInputError
        A column or value not in the data, a bad option.
    """
    alpha, every_td = _checked_options(alpha, method, tau, every)
    horizon_opt = _horizon_option(method, horizon, end)
    control, treatment = (parse_arm(a, f) if isinstance(a, str) else tuple(a) for a, f in ((control, "--control"), (treatment, "--treatment")))
    eng = as_engine(events)
    _check_columns(eng, metric, by, control, treatment)
    alternative = _alternative(alternative, metric)
    period = _period(start, end)
    _check_values(eng, period, control, treatment)
    counts, t0, data_end = _counts(eng, metric=metric, by=by, control=control, treatment=treatment, every=every_td, period=period,
                                   horizon=horizon_opt)
    horizon_td = (data_end - t0) if isinstance(horizon_opt, str) else horizon_opt
    tol_map = _tolerance_map(metric, by, counts.tiers, tolerances)
    tol = np.array([tol_map[t] for t in counts.tiers])
    times = np.ones(len(counts.at)) if horizon_td is None else np.asarray((counts.at - t0) / horizon_td, dtype=float)
    ev = _evidence(counts, tol, alternative=alternative, alpha=alpha, method=method, tau=float(tau), times=times)
    looks = _looks(counts, ev, tol, t0, method)
    return GateResult(decision=looks[-1].decision, looks=looks, metric=metric, by=by, alternative=alternative,
                      control=control, treatment=treatment, alpha=alpha, method=method,
                      tau=float(tau) if method == "msprt" else None, tolerances=tol_map, canary_start=t0, data_end=data_end,
                      every=None if every_td is None else str(every), params={"start": iso_z(period.start), "end": iso_z(period.end)},
                      horizon=horizon_td)


def _alternative(alternative: str | None, metric: str) -> str:
    """``alternative`` checked (``greater`` or ``less``), or the metric's default."""
    try:
        alternative = alternative_of(alternative, source="--alternative") if alternative else default_alternative(metric)
    except ValueError as exc:
        raise GateInputError(str(exc)) from None
    if alternative not in seq.DIRECTIONS:
        raise GateInputError(f"--alternative must be 'greater' or 'less', got {alternative!r}")
    return alternative


def _horizon_option(method: str, horizon: Any, end: Any) -> pd.Timedelta | str | None:
    """``obf``'s planned canary: the duration given, ``"end"`` (up to ``end``) or :data:`DEFAULT_HORIZON`."""
    if method != "obf":
        return None
    if horizon is None:
        return "end" if end is not None else _checked(check_duration, DEFAULT_HORIZON, "--horizon")
    return _checked(check_duration, horizon, "--horizon")


def _checked_options(alpha: Any, method: str, tau: Any, every: Any) -> tuple[float, pd.Timedelta | None]:
    """``alpha`` and ``every`` checked and converted, ``method`` and its ``tau`` checked; errors name the flags."""
    alpha = _checked(check_alpha, alpha, "--alpha")
    if method not in METHODS:
        raise GateInputError(f"--method must be one of {METHODS}, got {method!r}")
    if method == "msprt" and not (isinstance(tau, (int, float)) and tau > 0):
        raise GateInputError(f"--tau must be a positive number, got {tau!r}")
    every_td = None if every is None else _checked(check_duration, every, "--every")
    return alpha, every_td


def _checked(fn: Any, value: Any, flag: str) -> Any:
    try:
        return fn(value) if fn is check_alpha else fn(value, flag.lstrip("-"))
    except ValueError as exc:
        raise GateInputError(f"{flag}: {exc}") from None


def write_gate(result: GateResult, out: str | Path) -> dict[str, Path]:
    """Write ``gate.json`` and ``gate_looks.csv`` (one row per look x tier) into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "gate.json", "looks": out / "gate_looks.csv"}
    paths["json"].write_text(result.to_json() + "\n")
    frame = result.looks_frame()
    frame["at"] = frame["at"].map(iso_z)
    frame.to_csv(paths["looks"], index=False)
    return paths
