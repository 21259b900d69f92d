"""Speed of the statistics core, each figure against a reference run in the same process.

Run: ``.venv/bin/python benchmarks/stats.py`` (or ``make bench``). Prints medians of a few repeats and
ratios; the targets come from the statistics issue. Nothing here asserts: the machines are shared and
noisy, so read the medians and ratios.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _stats_changepoint  # noqa: E402
import _stats_drift  # noqa: E402
import _stats_spc  # noqa: E402
from _stats_common import print_table  # noqa: E402


def main() -> None:
    for name, module in (("change points", _stats_changepoint), ("control charts", _stats_spc), ("drift", _stats_drift)):
        print(f"== {name} ==")
        print_table(module.run())


if __name__ == "__main__":
    main()
