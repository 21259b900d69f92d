"""``drift_table``: the fitting drift test on every column of two frames, BH-adjusted; and the
column kinds that choose the test."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis._common import check_alpha
from analysis.stats.drift._common import align_counts, label_counts, numeric_sample, resolve_thresholds
from analysis.stats.drift.chi_square import chi_square_from_counts
from analysis.stats.drift.embedding import embedding_drift
from analysis.stats.drift.ks import ks_sorted
from analysis.stats.drift.proportion import proportion_test
from analysis.stats.multitest import benjamini_hochberg

__all__ = ["MAX_CATEGORIES", "KIND_TEST", "drift_table", "series_kind", "bool_counts"]

#: :func:`drift_table` with ``columns=None`` skips string columns with more distinct values than
#: this (identifiers and free text); name a column explicitly to test it anyway.
MAX_CATEGORIES = 200


def _is_list_dtype(dtype: Any) -> bool:
    return isinstance(dtype, pd.ArrowDtype) and (
        pa.types.is_list(dtype.pyarrow_dtype)
        or pa.types.is_large_list(dtype.pyarrow_dtype)
        or pa.types.is_fixed_size_list(dtype.pyarrow_dtype)
    )


def series_kind(s: pd.Series) -> str:
    """'boolean', 'numeric', 'categorical', 'embedding', 'list', 'datetime' or 'other'."""
    dt = s.dtype
    if _is_list_dtype(dt):
        vt = dt.pyarrow_dtype.value_type
        return "embedding" if (pa.types.is_floating(vt) or pa.types.is_integer(vt)) else "list"
    if pd.api.types.is_bool_dtype(dt):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dt) or pd.api.types.is_timedelta64_dtype(dt):
        return "datetime"
    if isinstance(dt, pd.ArrowDtype) and (
        pa.types.is_timestamp(dt.pyarrow_dtype) or pa.types.is_duration(dt.pyarrow_dtype)
    ):
        return "datetime"
    if pd.api.types.is_numeric_dtype(dt):
        return "numeric"
    if dt == object:
        first = s.dropna().head(1).tolist()
        if first and isinstance(first[0], (list, tuple, np.ndarray, dict, set)):
            return "list"
        inferred = pd.api.types.infer_dtype(s, skipna=True)
        if inferred in ("string", "categorical", "mixed"):
            return "categorical"
        if inferred == "boolean":
            return "boolean"
        if inferred in ("floating", "integer", "mixed-integer-float", "decimal"):
            return "numeric"
        if inferred == "empty":
            return "empty"
        return "other"
    if isinstance(dt, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dt):
        return "categorical"
    return "other"


#: The test :func:`drift_table` and :func:`drift_scan` run on a column of each kind.
KIND_TEST = {"numeric": "ks", "categorical": "chi-square", "boolean": "proportion", "embedding": "mmd"}


def bool_counts(s: pd.Series) -> tuple[int, int]:
    """(trues, non-missing values) of a boolean column; a column mixing other values is refused."""
    v = s.dropna()
    if v.dtype == object:
        if not v.map(lambda e: isinstance(e, (bool, np.bool_))).all():
            raise ValueError(f"column {s.name!r} mixes booleans with other values")
    arr = v.to_numpy(dtype=bool)
    return int(arr.sum()), int(arr.size)

_TABLE_COLUMNS = {
    "column": "string",
    "test": "string",
    "statistic": "float64",
    "pvalue": "float64",
    "effect": "float64",
    "drifted": "bool",
    "pvalue_raw": "float64",
    "effect_name": "string",
    "threshold": "float64",
    "n_reference": "int64",
    "n_current": "int64",
    "missing_reference": "float64",
    "missing_current": "float64",
    "note": "string",
}


def _sample_rows(frame: pd.DataFrame, max_sample: int | None, rng: np.random.Generator) -> pd.DataFrame:
    if max_sample is None or len(frame) <= max_sample:
        return frame
    pos = np.sort(rng.choice(len(frame), max_sample, replace=False))
    return frame.iloc[pos]


def _missing_share(s: pd.Series) -> float:
    return float(s.isna().mean()) if len(s) else math.nan


class _TooManyCategories(Exception):
    pass


_EMBEDDING_ROWS = 1000  # rows a side that drift_table hands to embedding_drift


def _sample_embeddings(s: pd.Series, rng: np.random.Generator) -> pd.Series:
    pos = np.flatnonzero(s.notna().to_numpy())
    if pos.size > _EMBEDDING_ROWS:
        pos = np.sort(rng.choice(pos, _EMBEDDING_ROWS, replace=False))
    return s.iloc[pos]


def _test_column(
    kind: str,
    ref: pd.Series,
    cur: pd.Series,
    *,
    seed: int | None,
    max_categories: int | None = None,
) -> tuple[str, float, float, float, str, int, int, str]:
    """(test, statistic, pvalue, effect, effect_name, n_ref, n_cur, note) for one column."""
    if kind == "numeric":
        xs = np.sort(numeric_sample(ref, "reference"))
        ys = np.sort(numeric_sample(cur, "current"))
        r = ks_sorted(xs, ys)
        return "ks", r.statistic, r.pvalue, r.effect, r.effect_name, r.n_reference, r.n_current, ""
    if kind == "categorical":
        labels, rc, cc = align_counts(label_counts(ref, "reference"), label_counts(cur, "current"))
        if max_categories is not None and len(labels) > max_categories:
            raise _TooManyCategories(
                f"{len(labels)} distinct values (> MAX_CATEGORIES = {max_categories}): "
                "an identifier or free text? name the column to test it anyway"
            )
        r = chi_square_from_counts(labels, rc, cc, 5.0)
        return ("chi-square", r.statistic, r.pvalue, r.effect, r.effect_name,
                r.n_reference, r.n_current, r.note)
    if kind == "boolean":
        xa, na = bool_counts(ref)
        xb, nb = bool_counts(cur)
        if na == 0 or nb == 0:
            side = "reference" if na == 0 else "current"
            raise ValueError(f"`{side}` has no values once missing values are dropped")
        r = proportion_test(xa, na, xb, nb)
        note = f"rate {r.rate_a:.4g} -> {r.rate_b:.4g}"
        return "proportion", r.statistic, r.pvalue, r.effect, r.effect_name, na, nb, note
    if kind == "embedding":
        rng = np.random.default_rng(seed)
        n_r, n_c = int(ref.notna().sum()), int(cur.notna().sum())
        r = embedding_drift(
            _sample_embeddings(ref, rng), _sample_embeddings(cur, rng), seed=seed, max_sample=None
        )
        note = (
            f"MMD on {r.n_reference} + {r.n_current} sampled rows; "
            f"centroid cosine distance {r.centroid_distance:.4g} (on the sample)"
        )
        return "mmd", r.statistic, r.pvalue, r.effect, r.effect_name, n_r, n_c, note
    raise AssertionError(kind)


def _column_plan(
    reference_frame: pd.DataFrame, current_frame: pd.DataFrame, columns: Sequence[str] | None
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    skipped: dict[str, str] = {}
    plan: list[tuple[str, str]] = []
    explicit = columns is not None
    if columns is None:
        names = [c for c in reference_frame.columns if c in current_frame.columns]
        for c in reference_frame.columns:
            if c not in current_frame.columns:
                skipped[str(c)] = "missing from current_frame"
        for c in current_frame.columns:
            if c not in reference_frame.columns:
                skipped[str(c)] = "missing from reference_frame"
    else:
        if isinstance(columns, str):
            columns = [columns]
        names = list(columns)
        for c in names:
            for frame, fname in ((reference_frame, "reference_frame"), (current_frame, "current_frame")):
                if c not in frame.columns:
                    raise ValueError(f"`columns` names {c!r}, which is not in `{fname}`")
    for c in names:
        k_ref = series_kind(reference_frame[c])
        k_cur = series_kind(current_frame[c])
        # An all-missing side has no kind of its own: take the other side's.
        if k_ref == "empty" or reference_frame[c].isna().all():
            k_ref = k_cur if k_cur != "empty" else k_ref
        if k_cur == "empty" or current_frame[c].isna().all():
            k_cur = k_ref
        if k_ref != k_cur:
            msg = f"column {c!r} is {k_ref} in reference_frame but {k_cur} in current_frame"
            if explicit:
                raise ValueError(msg)
            skipped[str(c)] = msg
            continue
        kind = k_ref
        if kind not in KIND_TEST:
            reason = {
                "datetime": "timestamps differ between periods by construction",
                "list": "list column (only pyarrow lists of numbers are tested, as embeddings)",
                "empty": "no values on either side",
            }.get(kind, "unsupported dtype")
            if explicit:
                raise ValueError(f"column {c!r} cannot be tested: {reason}")
            skipped[str(c)] = reason
            continue
        if kind == "embedding" and not explicit and c != "query_embedding":
            skipped[str(c)] = "list column (only `query_embedding` is tested by default; name others)"
            continue
        plan.append((str(c), kind))
    return plan, skipped


def drift_table(
    reference_frame: pd.DataFrame,
    current_frame: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    alpha: float = 0.05,
    effect_threshold: float | Mapping[str, float] | None = None,
    seed: int | None = 0,
    max_sample: int | None = None,
) -> pd.DataFrame:
    """Test every column of ``current_frame`` against ``reference_frame``; one row a column.

    Parameters
    ----------
    reference_frame, current_frame
        The two samples, e.g. the events of a baseline week and of the incident window.
    columns
        Columns to test. ``None``: every column in both frames except timestamps, list columns
        other than ``query_embedding``, and string columns with more than :data:`MAX_CATEGORIES`
        distinct values (identifiers, free text). Named columns are tested whatever they hold,
        and a column that cannot be tested raises ``ValueError``.
    alpha
        False discovery rate for the Benjamini-Hochberg adjusted p-values.
    effect_threshold
        ``None`` for :data:`DEFAULT_EFFECT_THRESHOLDS`, one number for every test, or a dict
        ``test -> threshold`` overriding some of them.
    seed
        Seed of ``np.random.default_rng`` for ``max_sample`` and the embedding permutations.
    max_sample
        Test at most this many rows of each frame, drawn without replacement (``None``: all).

    Returns
    -------
    pandas.DataFrame
        One row per tested column, in frame order: ``column``, ``test``, ``statistic``,
        ``pvalue`` (BH-adjusted over the rows), ``effect``, ``drifted``, and ``pvalue_raw``,
        ``effect_name``, ``threshold``, ``n_reference``, ``n_current`` (non-missing values),
        ``missing_reference``, ``missing_current`` (shares of missing values, which the tests
        ignore), ``note``. ``attrs["skipped"]`` maps each skipped column to the reason;
        ``attrs["alpha"]`` and ``attrs["effect_threshold"]`` keep the parameters.

        ============  =========================================  ==========================  =======
        column kind   test                                       effect                      default
        ============  =========================================  ==========================  =======
        numeric       ``ks`` (:func:`ks_test`)                   Wasserstein / ref. spread   0.1
        string, cat.  ``chi-square`` (:func:`chi_square_test`)   Cramér's V, equal weights   0.05
        boolean       ``proportion`` (:func:`proportion_test`)   Cohen's h (signed)          0.02
        embedding     ``mmd`` (:func:`embedding_drift`)          MMD^2                       0
        ============  =========================================  ==========================  =======

        ``drifted`` = ``pvalue <= alpha`` and ``|effect| >= threshold``. A side with no values
        gives a row with missing numbers, ``drifted`` False and a note.

    Notes
    -----
    The p-value alone would flag any trivial difference on a million rows; the effect sizes are
    independent of the sample sizes, so the thresholds keep their meaning at any n. Two samples of
    1,000,000 rows from one distribution flag nothing; a 0.5-sigma mean shift (effect 0.5), a
    10-point shift of a category share (effect >= 0.1) and a 10% -> 15% rate (h = 0.15) are
    flagged.
    """
    _check_frames(reference_frame, current_frame)
    alpha = check_alpha(alpha)
    thresholds = resolve_thresholds(effect_threshold)
    _check_max_sample(max_sample)
    rng = np.random.default_rng(seed)
    ref_frame = _sample_rows(reference_frame, max_sample, rng)
    cur_frame = _sample_rows(current_frame, max_sample, rng)
    plan, skipped = _column_plan(ref_frame, cur_frame, columns)
    explicit = columns is not None
    rows = []
    for name, kind in plan:
        row = _table_row(name, kind, ref_frame[name], cur_frame[name], thresholds, seed, explicit, skipped)
        if row is not None:
            rows.append(row)
    return _table_frame(rows, alpha, thresholds, skipped)


def _check_frames(reference_frame: Any, current_frame: Any) -> None:
    """Check that both samples are DataFrames."""
    if not isinstance(reference_frame, pd.DataFrame):
        raise ValueError(f"`reference_frame` must be a DataFrame, got {type(reference_frame).__name__}")
    if not isinstance(current_frame, pd.DataFrame):
        raise ValueError(f"`current_frame` must be a DataFrame, got {type(current_frame).__name__}")


def _check_max_sample(max_sample: Any) -> None:
    """Check ``max_sample``: a positive integer or ``None``."""
    if max_sample is not None and (
        isinstance(max_sample, bool) or not isinstance(max_sample, (int, np.integer)) or max_sample < 1
    ):
        raise ValueError(f"`max_sample` must be a positive integer or None, got {max_sample!r}")


def _table_row(
    name: str,
    kind: str,
    ref: pd.Series,
    cur: pd.Series,
    thresholds: Mapping[str, float],
    seed: int | None,
    explicit: bool,
    skipped: dict[str, str],
) -> dict[str, Any] | None:
    """The row of one column; ``None`` (and the reason in ``skipped``) when it is skipped.

    A side without values gives a row with missing numbers and a note, not an error.
    """
    row = {
        "column": name,
        "threshold": thresholds[KIND_TEST[kind]],
        "missing_reference": _missing_share(ref),
        "missing_current": _missing_share(cur),
    }
    try:
        test, stat, p, eff, eff_name, n_r, n_c, note = _test_column(
            kind, ref, cur, seed=seed, max_categories=None if explicit else MAX_CATEGORIES
        )
    except _TooManyCategories as exc:
        skipped[name] = str(exc)
        return None
    except ValueError as exc:
        if "unhashable" in str(exc) and not explicit:
            skipped[name] = str(exc)
            return None
        if "no values" not in str(exc) and "at least 2 vectors" not in str(exc):
            raise
        test, stat, p, eff, eff_name = KIND_TEST[kind], math.nan, math.nan, math.nan, ""
        n_r, n_c = int(ref.notna().sum()), int(cur.notna().sum())
        note = f"not tested: {exc}"
    row.update(
        test=test, statistic=stat, pvalue_raw=p, effect=eff, effect_name=eff_name,
        n_reference=n_r, n_current=n_c, note=note,
    )
    return row


def _table_frame(
    rows: list[dict[str, Any]], alpha: float, thresholds: Mapping[str, float], skipped: dict[str, str]
) -> pd.DataFrame:
    """The table from its rows: p-values BH-adjusted, ``drifted``, the dtypes and the ``attrs``."""
    out = pd.DataFrame(rows, columns=list(_TABLE_COLUMNS))
    out["pvalue"] = benjamini_hochberg(out["pvalue_raw"].to_numpy(dtype=float)) if len(out) else []
    with np.errstate(invalid="ignore"):
        out["drifted"] = (out["pvalue"] <= alpha) & (out["effect"].abs() >= out["threshold"])
    out = out.astype(_TABLE_COLUMNS)
    out.attrs["skipped"] = skipped
    out.attrs["alpha"] = alpha
    out.attrs["effect_threshold"] = thresholds
    return out
