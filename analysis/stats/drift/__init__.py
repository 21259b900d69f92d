"""Two-sample drift tests and distances, with effect sizes beside the p-values.

"What changed?" is often the traffic itself: a new query mix, a new traffic source, a shift in the
classifier's confidence. This package compares a *reference* sample with a *current* one, one test
per module:

==========================  ==========================  ===========================================
function (module)           data                        statistic / effect
==========================  ==========================  ===========================================
:func:`ks_test` (ks)        numeric                     KS ``D``, p-value / Wasserstein per spread
:func:`chi_square_test`     categorical (or counts)     Pearson chi-square / Cramér's V
:func:`proportion_test`     two rates                   pooled z and Fisher exact / Cohen's h
:func:`psi` (psi)           numeric or categorical      population stability index
:func:`jensen_shannon`      numeric or categorical      Jensen-Shannon distance (base 2)
:func:`wasserstein`         numeric                     earth mover's distance / reference spread
:func:`embedding_drift`     vectors (embeddings)        MMD^2 (RBF), permutation p-value
==========================  ==========================  ===========================================

:func:`drift_table` (``table``) runs the fitting test on every column of two frames and adjusts the
p-values with Benjamini-Hochberg; :func:`drift_scan` (``scan``) runs one test per time window
against a reference period. On large samples every trivial difference is significant, so both call
a column *drifted* only when the adjusted p-value is at most ``alpha`` **and** the effect reaches a
per-test threshold (:data:`DEFAULT_EFFECT_THRESHOLDS`). All effects used for that decision are free
of the sample sizes and of their ratio, so a long reference period against a short window is judged
the same way as two equal samples. Shared helpers live in ``_common``.

Missing values (``NaN``, ``None``, ``pd.NA``) are dropped before testing and the sample sizes
reported are those after dropping. An input that is empty after dropping raises ``ValueError``
naming the parameter.

The package imports only numpy, scipy, statsmodels, pandas, pyarrow, :mod:`analysis._common` and
the other :mod:`analysis.stats` modules (intervals, multiple testing, checks).
"""

from analysis.stats.drift._common import DEFAULT_EFFECT_THRESHOLDS
from analysis.stats.drift.chi_square import MERGED_LABEL, ChiSquareResult, chi_square_test
from analysis.stats.drift.distances import DistanceResult, jensen_shannon, wasserstein
from analysis.stats.drift.embedding import EmbeddingDriftResult, embedding_drift
from analysis.stats.drift.ks import KS_EXACT_MAX_N, KSResult, ks_test
from analysis.stats.drift.proportion import ProportionResult, cohen_h, proportion_test
from analysis.stats.drift.psi import PSI_EPSILON, PSIResult, psi
from analysis.stats.drift.scan import DriftScanResult, drift_scan
from analysis.stats.drift.table import MAX_CATEGORIES, drift_table
from analysis.stats.multitest import benjamini_hochberg

__all__ = [
    "DEFAULT_EFFECT_THRESHOLDS",
    "PSI_EPSILON",
    "KS_EXACT_MAX_N",
    "MAX_CATEGORIES",
    "MERGED_LABEL",
    "KSResult",
    "ChiSquareResult",
    "PSIResult",
    "DistanceResult",
    "ProportionResult",
    "EmbeddingDriftResult",
    "DriftScanResult",
    "ks_test",
    "chi_square_test",
    "psi",
    "jensen_shannon",
    "wasserstein",
    "proportion_test",
    "benjamini_hochberg",
    "cohen_h",
    "embedding_drift",
    "drift_table",
    "drift_scan",
]
