"""Pearson chi-square test of homogeneity for categorical samples, Cramér's V as its effect."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis.stats.drift._common import align_counts, given_counts, label_counts, looks_like_counts

__all__ = ["MERGED_LABEL", "ChiSquareResult", "chi_square_test", "chi_square_from_counts"]

#: Label of the cell into which :func:`chi_square_test` merges sparse categories.
MERGED_LABEL = "(other)"


@dataclass(frozen=True)
class ChiSquareResult:
    """Pearson chi-square test of homogeneity on a 2 x k table (see :func:`chi_square_test`)."""

    statistic: float
    pvalue: float
    dof: int
    method: str
    effect: float
    cramers_v: float
    categories: tuple[Any, ...]
    merged: tuple[Any, ...]
    note: str
    counts_reference: tuple[int, ...]
    counts_current: tuple[int, ...]
    n_reference: int
    n_current: int
    min_expected: float
    effect_name: str = "cramers_v_balanced"

    def shares(self) -> pd.DataFrame:
        """Reference and current share of each tested cell (merged bucket last)."""
        ref = np.asarray(self.counts_reference, float)
        cur = np.asarray(self.counts_current, float)
        return pd.DataFrame(
            {"reference": ref / ref.sum(), "current": cur / cur.sum()},
            index=pd.Index(list(self.categories), name="category"),
        )


def _merge_sparse(
    labels: list[Any], r: np.ndarray, c: np.ndarray, min_expected: float
) -> tuple[list[Any], np.ndarray, np.ndarray, list[Any]]:
    """Merge the categories whose smallest expected count is below ``min_expected`` into one cell.

    A category seen on one side only is never merged when its expected count on the side where
    it is absent reaches ``min_expected``: that absence is informative (a brand-new traffic source
    or query type is the very signal a drift test is for), and merging it with an established
    small category would dilute it away.
    """
    total = r + c
    n_r, n_c = int(r.sum()), int(c.sum())
    n = n_r + n_c
    # Expected count of a category's smaller row: total_j * min(n_r, n_c) / N.
    need = min_expected * n / min(n_r, n_c)
    one_sided = ((r == 0) & (c * n_r / n >= min_expected)) | ((c == 0) & (r * n_c / n >= min_expected))
    order = np.argsort(total, kind="stable")  # ascending
    sparse = [j for j in order if total[j] < need and not one_sided[j]]
    if not sparse:
        return labels, r, c, []
    merged_total = int(total[sparse].sum())
    rest = [j for j in order if total[j] >= need or one_sided[j]]
    # A merged cell that is still too small takes the next smallest category.
    while merged_total < need and any(not one_sided[j] for j in rest):
        j = next(j for j in rest if not one_sided[j])
        rest.remove(j)
        sparse.append(j)
        merged_total += int(total[j])
    keep = sorted(rest)
    new_labels = [labels[j] for j in keep] + [MERGED_LABEL]
    new_r = np.append(r[keep], r[sparse].sum())
    new_c = np.append(c[keep], c[sparse].sum())
    merged = [labels[j] for j in sorted(sparse)]
    return new_labels, new_r, new_c, merged


def chi_square_from_counts(
    labels: list[Any], r: np.ndarray, c: np.ndarray, min_expected: float
) -> ChiSquareResult:
    """The chi-square test on aligned counts ``r``, ``c`` (sparse cells merged first); see :func:`chi_square_test`."""
    n_r, n_c = int(r.sum()), int(c.sum())
    notes = []
    if min_expected > 0:
        labels, r, c, merged = _merge_sparse(labels, r, c, min_expected)
    else:
        merged = []
    if merged:
        notes.append(
            f"merged {len(merged)} sparse categories (expected count < {min_expected:g}) "
            f"into {MERGED_LABEL!r}"
        )
    k = len(labels)
    if k < 2:
        # scipy's chi2_contingency gives the same for a 2 x 1 table: no spread, nothing to test.
        notes.append(
            "only one category" + (" after merging" if merged else "") + ": nothing to compare"
        )
        stat, pvalue, dof, v, v_bal = 0.0, 1.0, 0, 0.0, 0.0
    else:
        obs = np.vstack([r, c]).astype(np.float64)
        n = obs.sum()
        expected = np.outer(obs.sum(axis=1), obs.sum(axis=0)) / n
        stat = float(np.sum((obs - expected) ** 2 / expected))
        dof = k - 1
        pvalue = float(stats.chi2.sf(stat, dof))
        v = math.sqrt(stat / n)  # min(rows, cols) - 1 = 1 for a 2 x k table
        p, q = r / n_r, c / n_c
        v_bal = math.sqrt(0.5 * float(np.sum((p - q) ** 2 / (p + q))))
    return ChiSquareResult(
        statistic=stat,
        pvalue=pvalue,
        dof=dof,
        method="pearson-chi-square",
        effect=v_bal,
        cramers_v=v,
        categories=tuple(labels),
        merged=tuple(merged),
        note="; ".join(notes),
        counts_reference=tuple(int(v_) for v_ in r),
        counts_current=tuple(int(v_) for v_ in c),
        n_reference=n_r,
        n_current=n_c,
        min_expected=float(min_expected),
    )


def _category_counts_pair(
    reference: Any, current: Any, counts: bool | None
) -> tuple[pd.Series, pd.Series]:
    if counts is None:
        ref_is, cur_is = looks_like_counts(reference), looks_like_counts(current)
        if ref_is != cur_is:
            raise ValueError(
                "`reference` and `current` must both be raw values or both be counts "
                f"(got {'counts' if ref_is else 'raw values'} and {'counts' if cur_is else 'raw values'}); "
                "pass `counts=True/False` to say which"
            )
        counts = ref_is
    if counts:
        return given_counts(reference, "reference"), given_counts(current, "current")
    return label_counts(reference, "reference"), label_counts(current, "current")


def chi_square_test(
    reference: Any, current: Any, *, min_expected: float = 5.0, counts: bool | None = None
) -> ChiSquareResult:
    """Pearson chi-square test that two categorical samples share one distribution.

    Parameters
    ----------
    reference, current
        Raw labels (array-like or Series; missing values dropped) **or** counts per label (a dict
        or Series ``label -> count``), the same kind on both sides. With ``counts=None`` a dict is
        counts, and so is a numeric Series whose index is not a ``RangeIndex`` (what
        ``value_counts()`` returns); anything else is raw labels. Categories seen on one side only
        get a zero count on the other.
    min_expected
        Categories whose expected count in either sample falls below this are merged, smallest
        first, into one cell labelled :data:`MERGED_LABEL` (the cell itself also reaches the
        bound, or takes the next smallest category). ``0`` disables merging. A category seen on
        one side only keeps its own cell when its expected count on the side where it is absent
        reaches ``min_expected``: a new category is the drift. (Its expected count on the other
        side may be small; the chi-square term is then large and the asymptotic p-value gives
        the order of magnitude only.)
    counts
        Force the interpretation of the inputs as counts (True) or raw labels (False).

    Returns
    -------
    ChiSquareResult
        ``statistic``, ``pvalue``, ``dof``, ``categories`` tested (merged cell last), ``merged``
        (the labels in the merged cell), ``note``, the aligned counts, and two effect sizes:

        * ``cramers_v``: Cramér's V of the 2 x k count table, :math:`\\sqrt{\\chi^2/N}`.
        * ``effect``: Cramér's V of the two *share* vectors, i.e. the same formula with both
          samples weighted equally. It equals ``cramers_v`` when the two samples have the same
          size and, unlike it, does not shrink when one sample is much larger (a long reference
          period against a short window), which makes one threshold usable everywhere. A shift of
          10 points in one category's share gives at least 0.1; disjoint supports give 1.

    Notes
    -----
    With counts :math:`O_{ij}`, :math:`E_{ij} = O_{i\\cdot} O_{\\cdot j} / N`:

    .. math:: \\chi^2 = \\sum_{ij} (O_{ij} - E_{ij})^2 / E_{ij}, \\qquad \\text{dof} = k - 1

    no continuity correction; identical to ``scipy.stats.chi2_contingency(correction=False)``
    when nothing is merged. With shares :math:`p_j, q_j` of reference and current:

    .. math:: V_{bal} = \\sqrt{\\tfrac12 \\sum_j (p_j - q_j)^2 / (p_j + q_j)}

    A single category (after merging) gives ``statistic=0``, ``pvalue=1``, ``dof=0``, as scipy.

    References
    ----------
    Pearson, K. (1900). On the criterion that a given system of deviations ... Phil. Mag. 50, 157-175.
    Cramér, H. (1946). Mathematical Methods of Statistics, 282. Princeton University Press.
    Cochran, W. G. (1954). Some methods for strengthening the common chi-square tests.
    Biometrics 10(4), 417-451 (the expected-count-of-5 rule).
    """
    if not np.isfinite(min_expected) or min_expected < 0:
        raise ValueError(f"`min_expected` must be a finite number >= 0, got {min_expected!r}")
    ref, cur = _category_counts_pair(reference, current, counts)
    labels, r, c = align_counts(ref, cur)
    return chi_square_from_counts(labels, r, c, float(min_expected))
