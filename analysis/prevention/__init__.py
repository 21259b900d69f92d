"""Prevention: the artifacts that close the detection gap (DESIGN.md, "Beyond the postmortem: prevention").

* :mod:`analysis.prevention.monitors`: the monitors of ``monitors.yaml`` (designed from every
  postmortem; the file is written by :mod:`analysis.report.monitors_yaml`), and the ``monitor``
  command that runs them on new logs;
* :mod:`analysis.prevention.gate`: the rollout gate, a canary against control per tier.

The affected requests as ``regression_cases.jsonl`` / ``.csv`` are written with the report
(:mod:`analysis.report.regression`). This package may import every layer below it (engine, stats,
investigation, report); only :mod:`analysis.api` (which designs the monitors of each
investigation) and the command line import it.
"""
