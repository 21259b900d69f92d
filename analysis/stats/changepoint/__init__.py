"""Offline change-point detection, laid out as ruptures is: the entry point :func:`detect` with its
checks, penalties, location intervals and result types (``detect``), the search methods (``pelt``:
exact PELT with ruptures' pruning rule; ``binseg``: binary segmentation), the segment costs with a
small factory (``costs``) and the noise scales that set the penalty's units (``noise``). The package
imports only numpy, scipy, pandas and :mod:`analysis._common`.
"""

from analysis.stats.changepoint import costs, noise
from analysis.stats.changepoint.costs import (
    COSTS,
    CostBinomial,
    CostL2,
    CostNormalMean,
    CostNormalMeanVar,
    CostNormalTrend,
    make_cost,
)
from analysis.stats.changepoint.detect import (
    METHODS,
    NOISE_SCALES,
    PENALTIES,
    ChangePointResult,
    Segment,
    detect,
)
from analysis.stats.changepoint.noise import (
    binomial_dispersion,
    long_run_variance,
    long_run_variance_trend,
    robust_sigma,
    robust_sigma_trend,
    trend_null_variance,
)

# the entry point, then every public name of the costs and the noise scales
__all__ = ["Segment", "ChangePointResult", "detect", "PENALTIES", "METHODS", "NOISE_SCALES", *costs.__all__, *noise.__all__]
