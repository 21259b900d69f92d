"""AI incident forensics kit.

Data flows one way: load -> validate -> aggregate -> test and detect -> attribute -> report.

``analysis.investigate(events, changes, ...)`` (:mod:`analysis.api`) runs the whole investigation and returns
an :class:`analysis.report.postmortem.Postmortem` (imported lazily, so ``import analysis`` stays light).
"""

from __future__ import annotations

from typing import Any

from analysis._version import __version__

__all__ = ["__version__", "investigate", "Postmortem"]


def __getattr__(name: str) -> Any:
    # imported on first use, so that ``import analysis`` (the loaders, the engine) stays light
    if name == "investigate":
        from analysis.api import investigate

        return investigate
    if name == "Postmortem":
        from analysis.report.postmortem import Postmortem

        return Postmortem
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
