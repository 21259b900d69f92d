"""The engine: the one layer that reads raw event rows, answering a small fixed set of queries.

Each query returns a small table (thousands of rows, not millions); everything downstream works on
those tables. :class:`Engine` holds the query logic once; a backend (:mod:`analysis.engine.duckdb`,
:mod:`analysis.engine.spark`) only runs SQL and writes rows to a file.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis._common import check_duration
from analysis.engine import query as q
from analysis.engine.query import ALL, MISSING, Metric, Where
from analysis.engine.aggregates import WindowedAggregates, finish_samples, offset_string

__all__ = ["Engine", "Profile", "RowsResult", "QueryLimitError", "Versions"]


class QueryLimitError(RuntimeError):
    """A query would bring more rows out of the engine than the caller allows."""


@dataclass(frozen=True)
class Profile:
    """What is in the source: rows, time range, and per column its kind, null count, distinct count.

    ``columns`` has ``column``, ``kind`` (``string``, ``bool``, ``float``, ``int``, ``timestamp``,
    ``list``, ``other``), ``non_null`` and ``distinct`` (string columns only, else NA).
    """

    rows: int
    ts_min: pd.Timestamp | None
    ts_max: pd.Timestamp | None
    columns: pd.DataFrame

    def kind(self, column: str) -> str | None:
        hit = self.columns.loc[self.columns["column"] == column, "kind"]
        return str(hit.iat[0]) if len(hit) else None

    def present(self, column: str) -> bool:
        """The column exists and holds at least one value."""
        hit = self.columns.loc[self.columns["column"] == column, "non_null"]
        return bool(len(hit) and int(hit.iat[0]) > 0)

    def coverage(self, column: str) -> float:
        """The share of rows holding a value in ``column`` (0 when it does not exist)."""
        hit = self.columns.loc[self.columns["column"] == column, "non_null"]
        return float(int(hit.iat[0]) / self.rows) if len(hit) and self.rows else 0.0

    def distinct(self, column: str) -> int | None:
        hit = self.columns.loc[self.columns["column"] == column, "distinct"]
        return None if not len(hit) or pd.isna(hit.iat[0]) else int(hit.iat[0])


@dataclass(frozen=True)
class RowsResult:
    """Rows matching a filter: how many, where they were written, and the first ``limit`` of them."""

    n: int
    path: Path | None
    head: pd.DataFrame


@dataclass(frozen=True)
class Versions:
    """Per version column and value: ``n``, ``first_seen``, ``last_seen`` (UTC)."""

    table: pd.DataFrame


def _us_ts(value: Any) -> pd.Timestamp | None:
    """One epoch-microsecond value as a UTC timestamp, None for a null."""
    return None if value is None or pd.isna(value) else _us_to_ts([value]).iat[0]


def _us_to_ts(values: Any) -> pd.Series:
    """Epoch microseconds as UTC timestamps (NaT for a null)."""
    s = pd.Series(values).astype("Int64")
    return pd.Series(pd.to_datetime(s * 1000, unit="ns", utc=True), dtype="datetime64[ns, UTC]")


class Engine(abc.ABC):
    """Queries over one events source. Subclasses implement :meth:`_sql`, :meth:`_kinds` and :meth:`_write`.

    Parameters
    ----------
    max_result_rows
        A query whose result has more rows than this raises :class:`QueryLimitError`: the engine
        never hands a full table to Python (the tests run whole investigations under a small limit).
    """

    name = "engine"

    def __init__(self, *, max_result_rows: int | None = None) -> None:
        self.max_result_rows = max_result_rows
        self._profile: Profile | None = None
        self.queries = 0

    # -- backend --------------------------------------------------------------------------------
    @abc.abstractmethod
    def _run(self, sql: str) -> pd.DataFrame:
        """Run DuckDB-dialect SQL over ``events`` and return the (small) result."""

    @abc.abstractmethod
    def _kinds(self) -> dict[str, str]:
        """Column name -> kind, from the source's schema."""

    @abc.abstractmethod
    def _write(self, sql: str, path: Path) -> None:
        """Write the result of ``sql`` to a Parquet file at ``path``, streaming."""

    @abc.abstractmethod
    def ts_has_zone(self) -> bool:
        """Whether the source's ``ts`` holds time-zone-aware timestamps."""

    @abc.abstractmethod
    def _redefine(self, sql: str) -> None:
        """Make ``events`` the result of ``sql`` (a query over the current ``events``)."""

    #: Repeated event ids dropped by :meth:`restrict` per UTC hour (``window_start``, ``n``), for the
    #: investigation's duplicate-burst facts; None when nothing was dropped.
    duplicates_by_hour: pd.DataFrame | None = None

    def restrict(self, valid: str, *, dedupe: bool = False) -> None:
        """From now on ``events`` holds only the rows where ``valid`` (SQL) holds, and with
        ``dedupe`` only the first row (by ``ts``) of each ``event_id``: the rows validation kept
        (the dropped repeats are counted per hour in :attr:`duplicates_by_hour`)."""
        inner = f"SELECT * FROM events WHERE {valid}"
        if dedupe:
            hour = q.bucket_expr(0, 3_600_000_000)
            t = self.sql(f"SELECT {hour} AS w, COUNT(*) AS n FROM (SELECT ts, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ts) "
                         f"AS rn__ FROM events WHERE {valid}) d WHERE rn__ > 1 GROUP BY {hour}")
            self.duplicates_by_hour = pd.DataFrame({"window_start": _us_to_ts(t["w"].astype("int64") * 3_600_000_000).to_numpy(),
                                                    "n": t["n"].astype("int64").to_numpy()})
            inner = (f"SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ts) AS rn__ FROM events "
                     f"WHERE {valid}) d WHERE rn__ = 1")
            self._redefine(inner)
            self._redefine_drop("rn__")
        else:
            self._redefine(inner)
        self._profile = None

    def derive(self, columns: Mapping[str, str], *, cast: str = "BOOLEAN", materialize: bool = True) -> None:
        """From now on ``events`` has each column filled by its SQL expression where the data leave
        it missing (``COALESCE``; the column is added when the events lack it): labels derived
        from the text, evaluated where the rows lie, never collected. ``cast`` is the SQL type of
        the columns (``VARCHAR`` for a tier read from the text). ``materialize=False`` leaves the
        computing to a later :meth:`materialize` (several derivations written once)."""
        if not materialize:
            self._defer(list(columns))
        kinds = self._kinds()
        sel = [f"COALESCE(TRY_CAST({q.quote_ident(c)} AS {cast}), {columns[c]}) AS {q.quote_ident(c)}" if c in columns
               else q.quote_ident(c) for c in kinds]
        sel += [f"{expr} AS {q.quote_ident(c)}" for c, expr in columns.items() if c not in kinds]
        self._redefine(f"SELECT {', '.join(sel)} FROM events")
        # the rules are regular expressions over the text: evaluated once, not in every later query
        if materialize:
            self._materialize()
        self._profile = None

    def attach(self, column: str, table_sql: str, *, fill: str, source: str, materialize: bool = True) -> None:
        """From now on ``events`` has ``column`` from a table ``event_id, <column>`` computed by the
        engine over ``events`` (a left join on ``event_id``): ``fill`` where the table has no row
        and ``source`` is not missing, missing where ``source`` is. Computed once (materialized)."""
        if not materialize:
            self._defer([column])
        c, src = q.quote_ident(column), q.quote_ident(source)
        cols = ", ".join(f"e.{q.quote_ident(k)}" for k in self._kinds() if k != column)
        self._redefine(f"SELECT {cols}, CASE WHEN e.{src} IS NULL THEN NULL ELSE COALESCE(b.{c}, {q.quote_literal(fill)}) END AS {c} "
                       f"FROM events e LEFT JOIN ({table_sql}) b ON e.event_id = b.event_id")
        if materialize:
            self._materialize()
        self._profile = None

    #: Columns of the views that the engine keeps for itself (never a column of the events).
    hidden: frozenset[str] = frozenset()

    def _defer(self, columns: Sequence[str]) -> None:
        """``columns`` are about to be derived, to be computed by a later :meth:`materialize`."""

    def materialize(self) -> None:
        """Compute the derived ``events`` once now (after derivations made with ``materialize=False``)."""
        self._materialize()
        self._profile = None

    def _materialize(self) -> None:
        """Compute ``events`` once where the engine keeps data (a temporary Parquet file, a cache);
        later queries read the result instead of evaluating the view again."""

    def recast(self, casts: Mapping[str, str]) -> None:
        """From now on ``events`` has the given columns cast (``TRY_CAST``) to the given SQL types."""
        cols = ", ".join(f"TRY_CAST({q.quote_ident(c)} AS {casts[c]}) AS {q.quote_ident(c)}" if c in casts else q.quote_ident(c)
                         for c in self._kinds())
        self._redefine(f"SELECT {cols} FROM events")
        self._profile = None

    def _redefine_drop(self, column: str) -> None:
        cols = ", ".join(q.quote_ident(c) for c in self._kinds() if c != column)
        self._redefine(f"SELECT {cols} FROM events")

    def close(self) -> None:
        """Release the engine's resources."""

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def sql(self, sql: str) -> pd.DataFrame:
        """Run a query (DuckDB dialect) and return its result, within ``max_result_rows``."""
        self.queries += 1
        out = self._run(sql)
        if self.max_result_rows is not None and len(out) > self.max_result_rows:
            raise QueryLimitError(f"{self.name}: a query returned {len(out)} rows, over the limit of {self.max_result_rows}")
        return out

    # -- queries --------------------------------------------------------------------------------
    @property
    def columns(self) -> dict[str, str]:
        """Column name -> kind."""
        return {c: k for c, k in self._kinds().items() if c not in self.hidden}

    def has(self, column: str) -> bool:
        return column in self.columns

    def profile(self) -> Profile:
        """Rows, time range, null counts, and distinct counts of the string columns (cached)."""
        if self._profile is None:
            kinds = self.columns
            strings = [c for c, k in kinds.items() if k == "string"]
            others = [c for c, k in kinds.items() if k != "string"]
            r = self.sql(q.profile_sql(strings=strings, others=others)).iloc[0]
            rows = []
            for i, c in enumerate([*strings, *others]):
                nd = r.get(f"nd_{i}") if c in strings else None
                rows.append({"column": c, "kind": kinds[c], "non_null": int(r[f"nn_{i}"]),
                             "distinct": pd.NA if nd is None or pd.isna(nd) else int(nd)})
            order = {c: i for i, c in enumerate(kinds)}
            cols = pd.DataFrame(rows, columns=["column", "kind", "non_null", "distinct"])
            cols = cols.sort_values("column", key=lambda s: s.map(order)).reset_index(drop=True)
            cols["distinct"] = cols["distinct"].astype("Int64")
            n = int(r["n_rows"])
            self._profile = Profile(rows=n, ts_min=_us_ts(r["ts_min_us"]), ts_max=_us_ts(r["ts_max_us"]), columns=cols)
        return self._profile

    def count(self, where: Where | None = None) -> int:
        return int(self.sql(q.count_sql(where or Where())).iat[0, 0])

    def window_aggregates(
        self,
        *,
        window: str | pd.Timedelta,
        segment_by: Sequence[str] = (),
        metrics: Mapping[str, Any] | None = None,
        start: Any = None,
        end: Any = None,
        where: Where | None = None,
        version: str | None = None,
        sample_size: int = 0,
        seed: int = 0,
    ):
        """Per window x segment (x ``version`` value) counts and sums, as :class:`analysis.engine.aggregates.WindowedAggregates`.

        The result has the same table as the tests' pandas reference (``tests/reference.py``) on the same rows:
        every window of ``[start, end)`` for every segment seen (``n = 0`` when empty). An entry
        of ``segment_by`` may be a pair of columns: its segments are their joint values, named
        ``"a & b"`` / ``"x & y"`` (:func:`analysis.engine.query.split_pair` reads them back). With
        ``version`` the table has a ``version`` column too (and only the windows where a version
        value was seen appear). ``start`` defaults to the first event floored to the window
        (aligned to the epoch), ``end`` to the end of the window holding the last event.
        """
        w = check_duration(window)
        specs = q.metric_specs(metrics or {})
        seg_cols = tuple((c,) if isinstance(c, str) else tuple(c) for c in segment_by)  # one column or a pair
        for c in (*(c for cols in seg_cols for c in cols), *([version] if version else [])):
            if not self.has(c):
                raise ValueError(f"`segment_by` names a column that is not in the events: {c!r}")
        prof = self.profile()
        if start is None:
            start = prof.ts_min.floor(w) if prof.ts_min is not None else None
        start = q.to_utc(start)
        if end is None and prof.ts_max is not None and start is not None:
            end = start + (int((prof.ts_max - start) // w) + 1) * w
        end = q.to_utc(end)
        if start is None or end is None:
            n_windows = 0
            starts = pd.DatetimeIndex([], tz="UTC")
        else:
            if end < start:
                raise ValueError(f"`end` ({end}) must not be before `start` ({start})")
            n_windows = int(-(-(end - start) // w))
            starts = pd.DatetimeIndex(start + np.arange(n_windows) * w)
        rng = Where(start, end).and_(where)
        value_cols = ["n"] + [f"{m}__{p}" for m, s in specs.items() for p in (("n", "sum") if s.kind == "rate" else ("n", "sum", "sumsq"))]
        key = ["window_start", "segment_column", "segment", *(["version"] if version else [])]
        if n_windows:
            t = self.sql(q.window_aggregates_sql(start_us=q.epoch_us(start), window_us=int(w.value // 1000), segment_by=seg_cols,
                                                 metrics=specs, where=rng, version=version))
        else:
            t = pd.DataFrame(columns=["w", "segment_column", "segment", *(["version"] if version else []), *value_cols])
        table = _grid(t, starts, specs, value_cols, version=version is not None)
        samples = self._samples(w, segment_by=[c[0] for c in seg_cols if len(c) == 1], columns=[m for m, s in specs.items() if s.kind == "mean" and s.expr is None],
                               size=sample_size, seed=seed, start=start, end=end, where=where) if sample_size and n_windows else None
        n_events = int(table.loc[table["segment_column"] == ALL, "n"].sum()) if len(table) else 0
        return WindowedAggregates(
            table=table[[*key, *value_cols]].reset_index(drop=True), samples=finish_samples(samples), window=offset_string(w),
            metrics={m: s.kind for m, s in specs.items()}, segment_by=tuple(q.pair_label(c) for c in seg_cols), start=start, end=end, sample_size=int(sample_size),
            seed=int(seed), n_events=n_events, windows=starts,
        )

    def samples(self, *, window: str | pd.Timedelta, segment_by: Sequence[str], columns: Sequence[str], size: int, seed: int = 0,
                start: Any, end: Any, where: Where | None = None) -> pd.DataFrame:
        """Up to ``size`` raw values per window x segment x column, the same rows on every engine."""
        return self._samples(check_duration(window), segment_by=segment_by, columns=columns, size=size, seed=seed, start=start,
                             end=end, where=where)

    def _samples(self, w: pd.Timedelta, *, segment_by: Sequence[str], columns: Sequence[str], size: int, seed: int,
                 start: Any, end: Any, where: Where | None) -> pd.DataFrame:
        """:meth:`samples` for a window already checked by the public entry point (``check_duration``)."""
        assert isinstance(w, pd.Timedelta), type(w)
        if not columns or not size:
            return None
        start = q.to_utc(start)
        t = self.sql(q.samples_sql(start_us=q.epoch_us(start), window_us=int(w.value // 1000), segment_by=tuple(segment_by),
                                   columns=list(columns), size=int(size), seed=int(seed), where=Where(start, end).and_(where)))
        t["window_start"] = start + pd.to_numeric(t.pop("w")).astype("int64").to_numpy() * w
        t["value"] = pd.to_numeric(t["value"]).astype("float64")
        return t[["window_start", "segment_column", "segment", "column", "value"]].sort_values(
            ["segment_column", "segment", "column", "window_start", "value"], kind="stable").reset_index(drop=True)

    def totals(self, *, by: Sequence[str] = (), metrics: Mapping[str, Any] | None = None, where: Where | None = None,
               exprs: Mapping[str, str] | None = None) -> pd.DataFrame:
        """One row per combination of the ``by`` columns' values (and of ``exprs``, name -> SQL):
        ``n``, the metric sums, and ``first_seen``; ordered by the keys."""
        specs = q.metric_specs(metrics or {})
        t = self.sql(q.totals_sql(by=list(by), metrics=specs, where=where or Where(), exprs=exprs))
        t["first_seen"] = _us_to_ts(pd.to_numeric(t.pop("first_us")).to_numpy()).to_numpy()
        keys = [*by, *(exprs or {})]
        for c in keys:
            t[c] = t[c].astype(str)
        return _numeric(t, specs).sort_values(keys or ["n"], kind="stable").reset_index(drop=True)

    def value_counts(self, columns: Sequence[str], *, where: Where | None = None, window: Any = None, start: Any = None) -> pd.DataFrame:
        """Per (window x) column x value: ``n``, ``first_seen``, ``last_seen``."""
        cols = [c for c in columns if self.has(c)]
        if not cols:
            return pd.DataFrame(columns=[*(["window_start"] if window is not None else []), "column", "value", "n", "first_seen", "last_seen"])
        if window is not None:
            w = check_duration(window)
            start = q.to_utc(start) if start is not None else self.profile().ts_min.floor(w)
            t = self.sql(q.value_counts_sql(columns=cols, where=where or Where(), start_us=q.epoch_us(start), window_us=int(w.value // 1000)))
            t["window_start"] = start + pd.to_numeric(t.pop("w")).astype("int64").to_numpy() * w
        else:
            t = self.sql(q.value_counts_sql(columns=cols, where=where or Where()))
        t["n"] = pd.to_numeric(t["n"]).astype("int64")
        t["first_seen"] = _us_to_ts(pd.to_numeric(t.pop("first_us")).to_numpy()).to_numpy()
        t["last_seen"] = _us_to_ts(pd.to_numeric(t.pop("last_us")).to_numpy()).to_numpy()
        t["value"] = t["value"].astype("string[pyarrow]")
        order = [*(["window_start"] if window is not None else []), "column", "value"]
        return t.sort_values(order, kind="stable").reset_index(drop=True)

    def versions(self, columns: Sequence[str], *, where: Where | None = None) -> Versions:
        """First and last time each value of each version column is seen, and its count."""
        t = self.value_counts(columns, where=where)
        return Versions(t[t["value"] != MISSING].reset_index(drop=True))

    def time_range(self, where: Where | None = None) -> tuple[int, pd.Timestamp | None, pd.Timestamp | None]:
        """``(rows, first ts, last ts)`` of the events matching ``where``."""
        r = self.sql(q.time_range_sql(where or Where())).iloc[0]
        return int(r["n"]), _us_ts(r["lo"]), _us_ts(r["hi"])

    def sample_rows(self, columns: Sequence[str], *, size: int, where: Where | None = None, seed: int = 0,
                    window: Any = None, start: Any = None, exprs: Mapping[str, str] | None = None) -> pd.DataFrame:
        """At most ``size`` rows (per window, when ``window`` is given) with ``event_id``, ``ts`` and ``columns``.

        Rows are chosen by ``MD5(event_id:seed)``: the same rows on every engine and in any order;
        when a window holds at most ``size`` rows, all of them.
        """
        cols = [c for c in columns if self.has(c)]
        where = where or Where()
        if window is not None:
            w = check_duration(window)
            start = q.to_utc(start) if start is not None else self.profile().ts_min.floor(w)
            start_us, w_us = q.epoch_us(start), int(w.value // 1000)
            # windows holding many more rows than the sample: keep only the keys below a prefix
            # that leaves about 4x the sample (the same smallest keys, far fewer rows sorted)
            counts = self.sql(f"SELECT {q.bucket_expr(start_us, w_us)} AS w, COUNT(*) AS n FROM events WHERE {where.sql()} "
                              f"GROUP BY {q.bucket_expr(start_us, w_us)}")
            thresholds = {}
            for wi, n in zip(pd.to_numeric(counts["w"]).astype("int64"), pd.to_numeric(counts["n"]).astype("int64")):
                t = q.hex_threshold(4.0 * size / n) if n > 8 * size else None
                if t is not None:
                    thresholds[int(wi)] = t
            sql = q.sample_rows_sql(columns=cols, where=where, size=size, seed=seed, start_us=start_us, window_us=w_us,
                                    exprs=exprs, thresholds=thresholds)
        else:
            sql = q.sample_rows_sql(columns=cols, where=where, size=size, seed=seed, exprs=exprs)
        t = self.sql(sql)
        t["ts"] = pd.to_datetime(t["ts"], utc=True).astype("datetime64[ns, UTC]")
        return t.reset_index(drop=True)

    def quantile(self, column: str, q_: float, *, where: Where | None = None) -> float:
        """The quantile of a numeric column (exact, interpolated)."""
        v = self.sql(q.quantile_sql(column=column, q=q_, where=where or Where())).iat[0, 0]
        return float("nan") if v is None or pd.isna(v) else float(v)

    def rows(self, *, where: Where, columns: Sequence[str] | None = None, path: str | Path | None = None, limit: int = 1000,
             extra: Mapping[str, str] | None = None) -> RowsResult:
        """The events matching ``where``, ordered by time: written whole to ``path`` (Parquet), the first ``limit`` returned."""
        cols = [c for c in (columns or list(self.columns)) if self.has(c)]
        sql = q.rows_sql(columns=cols, where=where, extra=extra)
        n = self.count(where)
        out = None
        if path is not None:
            out = Path(path)
            out.parent.mkdir(parents=True, exist_ok=True)
            self._write(sql, out)
        # the query ends with its ORDER BY: LIMIT on it keeps the first rows by time (a subquery would not)
        head = self.sql(f"{sql} LIMIT {int(limit)}") if limit else pd.DataFrame(columns=cols)
        return RowsResult(n=n, path=out, head=head.reset_index(drop=True))


def _numeric(t: pd.DataFrame, specs: Mapping[str, Metric]) -> pd.DataFrame:
    t = t.copy()
    t["n"] = pd.to_numeric(t["n"]).fillna(0).astype("int64")
    for m, s in specs.items():
        t[f"{m}__n"] = pd.to_numeric(t[f"{m}__n"]).fillna(0).astype("int64")
        if s.kind == "rate":
            t[f"{m}__sum"] = pd.to_numeric(t[f"{m}__sum"]).fillna(0).astype("int64")
        else:
            t[f"{m}__sum"] = pd.to_numeric(t[f"{m}__sum"]).fillna(0.0).astype("float64")
            t[f"{m}__sumsq"] = pd.to_numeric(t[f"{m}__sumsq"]).fillna(0.0).astype("float64")
    return t


def _grid(t: pd.DataFrame, starts: pd.DatetimeIndex, specs: Mapping[str, Metric], value_cols: Sequence[str], *, version: bool) -> pd.DataFrame:
    """Every window for every segment seen, empty windows as zeros, ordered like the tests' pandas reference."""
    seg_key = ["segment_column", "segment", *(["version"] if version else [])]
    if len(starts) == 0:
        empty = {"window_start": pd.Series([], dtype="datetime64[ns, UTC]"), **{c: pd.Series([], dtype=object) for c in seg_key}}
        out = pd.DataFrame(empty)
        for c in value_cols:
            out[c] = pd.Series([], dtype="int64")
        return out
    t = t.copy()
    t["w"] = pd.to_numeric(t["w"]).astype("int64")
    for c in seg_key:
        t[c] = t[c].astype(str)
    segs = t[seg_key].drop_duplicates()
    # segment order: __all__ first, then the segment columns in their order, values sorted
    col_rank = {c: i for i, c in enumerate(dict.fromkeys(t["segment_column"]))}
    segs = segs.assign(_r=segs["segment_column"].map(col_rank)).sort_values(["_r", *seg_key[1:]]).drop(columns="_r")
    if version:
        full = t
    else:
        full = segs.merge(pd.DataFrame({"w": np.arange(len(starts), dtype=np.int64)}), how="cross")
        full = full.merge(t, on=["w", *seg_key], how="left")
    for c in value_cols:
        full[c] = full[c].fillna(0)
    full = _numeric(full, specs)
    full["window_start"] = starts[full["w"].to_numpy()]
    full["_r"] = full["segment_column"].map(col_rank)
    full = full.sort_values(["_r", "w", *seg_key[1:]], kind="stable").drop(columns=["_r"])
    for c in seg_key:
        full[c] = full[c].astype("string[pyarrow]")
    return full.reset_index(drop=True)
