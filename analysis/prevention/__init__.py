"""Prevention: the artifacts that close the detection gap (DESIGN.md, "Beyond the postmortem: prevention").

* :mod:`analysis.prevention.monitors`: ``monitors.yaml`` from every postmortem, and the ``monitor``
  command that runs it on new logs;
* :mod:`analysis.prevention.regression`: the affected requests as ``regression_cases.jsonl`` / ``.csv``.
"""
