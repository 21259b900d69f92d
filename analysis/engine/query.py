"""The engine's queries, written once in DuckDB SQL (the Spark engine transpiles them with sqlglot).

Only portable constructs are used, after the pitfalls measured on DuckDB and Spark:

- windows are integer buckets of UTC epoch microseconds (``EPOCH_US``), never ``DATE_TRUNC`` or
  ``TIME_BUCKET``, which truncate in the session time zone;
- time bounds are compared as epoch microseconds too, so no engine parses a timestamp literal;
- samples take ``ROW_NUMBER() OVER (PARTITION BY ... ORDER BY MD5(event_id || seed))``: the same
  rows on every engine (``TABLESAMPLE`` is per table, and hash functions differ by engine);
- coarser levels (all traffic, one segment column) are separate ``GROUP BY`` branches of one
  ``UNION ALL``, never ``GROUPING SETS``.

Every function here returns SQL text over a relation called ``events``; nothing runs here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pandas as pd

from analysis._common import to_utc

__all__ = ["ALL", "MISSING", "Metric", "Where", "quote_ident", "quote_literal", "epoch_us", "metric_specs"]

ALL = "__all__"
MISSING = "__missing__"
_KINDS = ("rate", "mean")


def quote_ident(name: str) -> str:
    """A column name as a quoted SQL identifier (any name, even with quotes or spaces)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a column name must be a non-empty string, got {name!r}")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: Any) -> str:
    """A value as a SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def epoch_us(value: Any) -> int:
    """A timestamp as integer UTC epoch microseconds (naive input is UTC, see ``to_utc``)."""
    t = to_utc(value)
    if t is None:
        raise ValueError(f"a time bound must be a timestamp, got {value!r}")
    return int(t.value // 1000)


def segment_expr(column: str) -> str:
    """A segment column's value as text, nulls as ``'__missing__'``."""
    return f"COALESCE(CAST({quote_ident(column)} AS VARCHAR), {quote_literal(MISSING)})"


@dataclass(frozen=True)
class Metric:
    """An aggregated metric: ``kind`` is ``"rate"`` (a boolean) or ``"mean"`` (a number).

    ``expr`` is the SQL giving the per-event value (default the column itself), e.g.
    ``NOT refused`` for a failure flag; a null value is unlabelled and is not counted in ``n``.
    """

    kind: str
    expr: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"a metric's kind must be one of {_KINDS}, got {self.kind!r}")


def metric_specs(metrics: Mapping[str, Any]) -> dict[str, Metric]:
    """Metric name -> :class:`Metric` from ``{name: "rate" | "mean" | Metric | (kind, expr)}``."""
    out: dict[str, Metric] = {}
    for name, spec in metrics.items():
        if isinstance(spec, Metric):
            out[name] = spec
        elif isinstance(spec, str):
            out[name] = Metric(spec)
        elif isinstance(spec, tuple) and len(spec) == 2:
            out[name] = Metric(spec[0], spec[1])
        else:
            raise ValueError(f"metric {name!r}: expected 'rate', 'mean' or (kind, sql), got {spec!r}")
    return out


@dataclass(frozen=True)
class Where:
    """A filter on events: a time range, ``column in values`` conditions and an optional SQL predicate.

    ``start`` is inclusive; ``end`` is exclusive unless ``end_inclusive``. Condition values are
    compared as text; ``"__missing__"`` matches a null.
    """

    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    end_inclusive: bool = False
    conditions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    expr: str | None = None

    @staticmethod
    def of(start: Any = None, end: Any = None, *, end_inclusive: bool = False,
           conditions: Mapping[str, Sequence[Any]] | None = None, expr: str | None = None) -> "Where":
        conds = tuple((str(c), tuple(str(v) for v in vals)) for c, vals in (conditions or {}).items())
        return Where(to_utc(start), to_utc(end), end_inclusive, conds, expr)

    def and_(self, other: "Where | None") -> "Where":
        """Both filters (the later time bounds win where both have one)."""
        if other is None:
            return self
        start = max((t for t in (self.start, other.start) if t is not None), default=None)
        ends = [(t, inc) for t, inc in ((self.end, self.end_inclusive), (other.end, other.end_inclusive)) if t is not None]
        end, inc = min(ends, key=lambda e: (e[0], e[1])) if ends else (None, False)
        exprs = [e for e in (self.expr, other.expr) if e]
        return Where(start, end, inc, self.conditions + other.conditions, " AND ".join(f"({e})" for e in exprs) or None)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.conditions)

    def sql(self) -> str:
        parts = []
        if self.start is not None:
            parts.append(f"EPOCH_US(ts) >= {epoch_us(self.start)}")
        if self.end is not None:
            parts.append(f"EPOCH_US(ts) {'<=' if self.end_inclusive else '<'} {epoch_us(self.end)}")
        for col, vals in self.conditions:
            if not vals:
                parts.append("FALSE")
            else:
                parts.append(f"{segment_expr(col)} IN ({', '.join(quote_literal(v) for v in vals)})")
        if self.expr:
            parts.append(f"({self.expr})")
        return " AND ".join(parts) if parts else "TRUE"


def _metric_selects(specs: Mapping[str, Metric]) -> list[str]:
    out = []
    for name, m in specs.items():
        x = m.expr or quote_ident(name)
        out.append(f"COUNT({x}) AS {quote_ident(name + '__n')}")
        if m.kind == "rate":
            out.append(f"SUM(CASE WHEN {x} THEN 1 ELSE 0 END) AS {quote_ident(name + '__sum')}")
        else:
            v = f"CAST({x} AS DOUBLE)"
            out.append(f"SUM({v}) AS {quote_ident(name + '__sum')}")
            out.append(f"SUM({v} * {v}) AS {quote_ident(name + '__sumsq')}")
    return out


def bucket_expr(start_us: int, window_us: int) -> str:
    return f"CAST(FLOOR((EPOCH_US(ts) - {start_us}) / {window_us}) AS BIGINT)"


def window_aggregates_sql(*, start_us: int, window_us: int, segment_by: Sequence[str], metrics: Mapping[str, Metric],
                          where: Where, version: str | None = None) -> str:
    """Per window x segment (x version): ``w`` (bucket index), ``segment_column``, ``segment``, n, sums."""
    sel = ", ".join(["COUNT(*) AS n", *_metric_selects(metrics)])
    ver = f", {segment_expr(version)} AS version" if version else ""
    ver_g = f", {segment_expr(version)}" if version else ""
    branches = [f"SELECT {bucket_expr(start_us, window_us)} AS w, {quote_literal(ALL)} AS segment_column, "
                f"{quote_literal(ALL)} AS segment{ver}, {sel} FROM events WHERE {where.sql()} "
                f"GROUP BY {bucket_expr(start_us, window_us)}{ver_g}"]
    for col in segment_by:
        cols = (col,) if isinstance(col, str) else tuple(col)
        label = pair_label(cols)
        seg = segment_expr(cols[0]) if len(cols) == 1 else (
            "CONCAT(" + f", {quote_literal(PAIR_SEPARATOR)}, ".join(segment_expr(c) for c in cols) + ")")
        branches.append(
            f"SELECT {bucket_expr(start_us, window_us)} AS w, {quote_literal(label)} AS segment_column, "
            f"{seg} AS segment{ver}, {sel} FROM events WHERE {where.sql()} "
            f"GROUP BY {bucket_expr(start_us, window_us)}, {', '.join(segment_expr(c) for c in cols)}{ver_g}")
    return "\nUNION ALL\n".join(branches)


#: How a pair of segment columns (and their values) is named: ``query_category & framing``.
PAIR_SEPARATOR = " & "


def pair_label(cols: Sequence[str]) -> str:
    """The ``segment_column`` of a segment over one column or a pair of them."""
    return PAIR_SEPARATOR.join(cols)


def split_pair(segment_column: str, segment: str) -> dict[str, str]:
    """``{column: value}`` of a segment over one column or a pair (the inverse of the labels above)."""
    cols = str(segment_column).split(PAIR_SEPARATOR)
    vals = str(segment).split(PAIR_SEPARATOR, len(cols) - 1) if len(cols) > 1 else [str(segment)]
    if len(vals) != len(cols):
        raise ValueError(f"segment {segment!r} does not hold one value per column of {segment_column!r}")
    return dict(zip(cols, vals))


def totals_sql(*, by: Sequence[str], metrics: Mapping[str, Metric], where: Where, exprs: Mapping[str, str] | None = None) -> str:
    """One row per combination of ``by`` values (text, nulls ``__missing__``) and ``exprs`` (name -> SQL):
    n, the metric sums, and the first time seen (``first_us``)."""
    keys = [(segment_expr(c), quote_ident(c)) for c in by] + [(e, quote_ident(n)) for n, e in (exprs or {}).items()]
    sel = ", ".join([*(f"{e} AS {n}" for e, n in keys), "COUNT(*) AS n", *_metric_selects(metrics), "MIN(EPOCH_US(ts)) AS first_us"])
    group = f" GROUP BY {', '.join(e for e, _ in keys)}" if keys else ""
    return f"SELECT {sel} FROM events WHERE {where.sql()}{group}"


def samples_sql(*, start_us: int, window_us: int, segment_by: Sequence[str], columns: Sequence[str], size: int, seed: int,
                where: Where) -> str:
    """At most ``size`` non-missing values per window x segment x column, chosen by ``MD5(event_id:seed)``."""
    branches = []
    segs = [(quote_literal(ALL), quote_literal(ALL))] + [(quote_literal(c), segment_expr(c)) for c in segment_by]
    for col in columns:
        x = f"CAST({quote_ident(col)} AS DOUBLE)"
        for seg_col, seg in segs:
            branches.append(
                f"SELECT w, segment_column, segment, {quote_literal(col)} AS \"column\", value FROM ("
                f"SELECT {bucket_expr(start_us, window_us)} AS w, {seg_col} AS segment_column, {seg} AS segment, {x} AS value, "
                f"ROW_NUMBER() OVER (PARTITION BY {bucket_expr(start_us, window_us)}, {seg} "
                f"ORDER BY MD5(CONCAT(CAST(event_id AS VARCHAR), ':', {quote_literal(int(seed))}))) AS rn "
                f"FROM events WHERE {where.sql()} AND {quote_ident(col)} IS NOT NULL) s WHERE rn <= {int(size)}")
    return "\nUNION ALL\n".join(branches)


def value_counts_sql(*, columns: Sequence[str], where: Where, start_us: int | None = None, window_us: int | None = None) -> str:
    """Per (window x) column x value: n, first and last time seen (epoch microseconds)."""
    w_sel = f"{bucket_expr(start_us, window_us)} AS w, " if window_us else ""
    w_grp = f"{bucket_expr(start_us, window_us)}, " if window_us else ""
    branches = [
        f"SELECT {w_sel}{quote_literal(c)} AS \"column\", {segment_expr(c)} AS value, COUNT(*) AS n, "
        f"MIN(EPOCH_US(ts)) AS first_us, MAX(EPOCH_US(ts)) AS last_us FROM events WHERE {where.sql()} "
        f"GROUP BY {w_grp}{segment_expr(c)}"
        for c in columns
    ]
    return "\nUNION ALL\n".join(branches)


def profile_sql(*, strings: Sequence[str], others: Sequence[str]) -> str:
    """Row count, time range, per-column null counts and (HyperLogLog) distinct counts of the string columns."""
    sel = ["COUNT(*) AS n_rows", "MIN(EPOCH_US(ts)) AS ts_min_us", "MAX(EPOCH_US(ts)) AS ts_max_us"]
    for i, c in enumerate([*strings, *others]):
        sel.append(f"COUNT({quote_ident(c)}) AS nn_{i}")
    for i, c in enumerate(strings):
        sel.append(f"APPROX_COUNT_DISTINCT({quote_ident(c)}) AS nd_{i}")
    return f"SELECT {', '.join(sel)} FROM events"


def quantile_sql(*, column: str, q: float, where: Where) -> str:
    """The exact quantile with linear interpolation (Spark: ``PERCENTILE``), the same on every engine."""
    return f"SELECT QUANTILE_CONT(CAST({quote_ident(column)} AS DOUBLE), {float(q)}) AS q FROM events WHERE {where.sql()}"


def time_range_sql(where: Where) -> str:
    return f"SELECT COUNT(*) AS n, MIN(EPOCH_US(ts)) AS lo, MAX(EPOCH_US(ts)) AS hi FROM events WHERE {where.sql()}"


def sample_key(seed: int) -> str:
    """The portable sampling key: the md5 hex of ``event_id:seed`` (hex text sorts like the number)."""
    return f"MD5(CONCAT(CAST(event_id AS VARCHAR), ':', {quote_literal(int(seed))}))"


def hex_threshold(fraction: float) -> str | None:
    """The md5 prefix below which about ``fraction`` of the keys fall (None: keep every row)."""
    if fraction >= 1:
        return None
    return format(int(max(fraction, 0.0) * 16**8), "08x")


def sample_rows_sql(*, columns: Sequence[str], where: Where, size: int, seed: int, start_us: int | None = None,
                    window_us: int | None = None, exprs: Mapping[str, str] | None = None,
                    thresholds: Mapping[int, str] | None = None) -> str:
    """At most ``size`` rows (per window when ``window_us``), the ones with the smallest ``MD5(event_id:seed)``.

    ``thresholds`` (window index -> md5 prefix) pre-filters large windows to the keys below the
    prefix, chosen so that each keeps several times ``size`` rows: the same rows, fewer sorted.
    """
    key = sample_key(seed)
    names = [quote_ident(c) for c in dict.fromkeys(["event_id", "ts", *columns])]
    inner = ", ".join([*names, *(f"{e} AS {quote_ident(n)}" for n, e in (exprs or {}).items())])
    cols = ", ".join([*names, *(quote_ident(n) for n in (exprs or {}))])
    if not window_us:
        # one top-N over the whole filter: no window sort
        return (f"SELECT {cols} FROM (SELECT {inner}, {key} AS k__ FROM events WHERE {where.sql()} "
                f"ORDER BY k__ LIMIT {int(size)}) s ORDER BY ts, event_id")
    b = bucket_expr(start_us, window_us)
    pre = ""
    if thresholds:
        cases = " ".join(f"WHEN {int(w)} THEN {quote_literal(t)}" for w, t in sorted(thresholds.items()))
        pre = f" AND {key} < CASE {b} {cases} ELSE 'g' END"  # 'g' sorts after every hex digit: keep all
    return (f"SELECT {cols} FROM (SELECT {inner}, ROW_NUMBER() OVER (PARTITION BY {b} ORDER BY {key}) AS rn__ "
            f"FROM events WHERE {where.sql()}{pre}) s WHERE rn__ <= {int(size)} ORDER BY ts, event_id")


def rows_sql(*, columns: Sequence[str], where: Where, extra: Mapping[str, str] | None = None) -> str:
    cols = [quote_ident(c) for c in columns] + [f"{e} AS {quote_ident(n)}" for n, e in (extra or {}).items()]
    return f"SELECT {', '.join(cols)} FROM events WHERE {where.sql()} ORDER BY ts, event_id"


def count_sql(where: Where) -> str:
    return f"SELECT COUNT(*) AS n FROM events WHERE {where.sql()}"
