"""Pure statistics on small arrays and tables (the engine's results): intervals (``intervals``),
multiple testing (``multitest``), two-sample comparisons of rates and means (``compare``), input
checks shared by every test (``checks``), drift tests (``drift/``, one test per module), control
charts (``spc/``: cusum, ewma, shewhart, rolling, arl; one CUSUM recursion shared by the batch
charts, their streaming twins and the monitors), change points (``changepoint/``: detect, pelt,
binseg, costs, noise) and the sequential tests of the rollout gate (``sequential``). Nothing here
reads raw event rows: the package imports only numpy, scipy, statsmodels, pandas, pyarrow and
:mod:`analysis._common`."""
