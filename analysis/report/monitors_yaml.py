"""``monitors.yaml``: the monitors designed from a postmortem, written for the ``monitor`` command.

The document is built by :func:`analysis.prevention.monitors.design_monitors` and read back by
:func:`analysis.prevention.monitors.load_config`; this module only writes it, so that the report
files do not depend on the prevention package.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from analysis._common import json_safe

__all__ = ["dump_monitors"]


def dump_monitors(doc: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``monitors.yaml`` (block style, keys in the order given)."""
    p = Path(path)
    p.write_text("# Monitors that would have closed this incident's detection gap; run them with\n"
                 "#   python -m analysis monitor --config monitors.yaml --events NEW_LOGS --state monitors.state.json\n"
                 + yaml.safe_dump(json_safe(doc), sort_keys=False, allow_unicode=True, width=120), encoding="utf-8")
    return p
