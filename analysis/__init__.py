"""AI incident forensics kit.

Data flows one way: load -> validate -> aggregate -> test and detect -> attribute -> report.

``analysis.investigate(events, changes, ...)`` (:mod:`analysis.api`) runs the whole investigation and returns
an :class:`analysis.report.postmortem.Postmortem` (imported lazily, so ``import analysis`` stays light).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "investigate", "Postmortem"]


def __getattr__(name: str) -> Any:
    if name == "investigate":
        from analysis.api import investigate

        return investigate
    if name == "Postmortem":
        from analysis.report.postmortem import Postmortem

        return Postmortem
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
