"""Statistical process control: CUSUM (mean and Bernoulli/binomial), EWMA, Shewhart, rolling k-sigma.

One chart per module (``cusum``, ``ewma``, ``shewhart``, ``rolling``), the design of limits from a
wanted in-control run length in ``arl``, input checks in ``checks`` and the block machinery of the
vectorised charts in ``_blocks``. Batch charts are pure functions returning frozen results that carry
the whole path (statistic at every step, limits, alarm indices, parameters); plots and reports draw
from them. Each chart has a streaming twin beside it, with ``update(x)`` and an ``alarm`` property,
that gives the same path on the same data. The CUSUMs (batch, streaming and the monitors of
:mod:`analysis.prevention.monitors`) share one recursion, :func:`lindley`. The design helpers turn a
wanted in-control average run length (ARL0, the mean number of points between false alarms) into
the chart's decision limit: "one false alarm a month at hourly windows" is ``arl0 = 720``. The
package imports only numpy, scipy and pandas (and threadpoolctl, to keep the ARL chains' small solves on one BLAS thread).

Conventions shared by every chart

* Indices are 0-based positions in the input.
* Missing values (NaN, ``None``, ``pd.NA``) are skipped: the statistic is carried over unchanged, no
  alarm is raised at a missing point, and run lengths and EWMA ages count observed points only.
* A chart signals when its statistic is strictly beyond the limit (``C > H``, ``z > UCL``), as in
  Montgomery and the NIST handbook.
* Without ``reset`` every observed point beyond the limit is in ``alarms`` (Montgomery's example
  signals at periods 29 and 30). With ``reset=True`` the chart restarts from its initial state after
  each alarm, so ``alarms`` are the renewal points a monitor would raise, and their count over an
  in-control stream is about ``n / ARL0``.
"""

from analysis.stats.spc import arl
from analysis.stats.spc.arl import (
    bernoulli_cusum_arl,
    bernoulli_cusum_h_for_arl,
    binomial_cusum_arl,
    binomial_cusum_h_for_arl,
    cusum_arl,
    cusum_h_for_arl,
    ewma_arl,
    ewma_L_for_arl,
    rate_cusum_arl0_approx,
)
from analysis.stats.spc.cusum import (
    BernoulliCusumChart,
    CusumChart,
    CusumResult,
    CusumState,
    bernoulli_cusum,
    binomial_cusum,
    lindley,
    tabular_cusum,
)
from analysis.stats.spc.ewma import EwmaChart, EwmaResult, ewma_chart
from analysis.stats.spc.rolling import RollingSigmaResult, rolling_sigma_alarm
from analysis.stats.spc.shewhart import ShewhartChart, ShewhartResult, shewhart

__all__ = [
    "CusumResult",
    "EwmaResult",
    "ShewhartResult",
    "RollingSigmaResult",
    "tabular_cusum",
    "bernoulli_cusum",
    "binomial_cusum",
    "ewma_chart",
    "shewhart",
    "rolling_sigma_alarm",
    "CusumChart",
    "BernoulliCusumChart",
    "CusumState",
    "EwmaChart",
    "ShewhartChart",
    "lindley",
    *arl.__all__,
]

#: The submodules' docstring examples, so that ``doctest.testmod(analysis.stats.spc)`` runs them
#: (doctest only collects objects defined in the module it is given, and these are re-exported).
__test__ = {name: globals()[name] for name in __all__}
