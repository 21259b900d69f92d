"""Helpers shared by the statistics benchmarks: timing and the plain-text table printer."""

from __future__ import annotations

import gc
import statistics
import time
from typing import Callable


def median_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls of ``fn`` and the result of the last call.

    The previous result is dropped before each call, so at most one result is alive at a time.
    """
    times, out = [], None
    for _ in range(repeats):
        out = None
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def print_table(rows: list[dict]) -> None:
    """Print dicts as left-aligned columns (union of keys, in first-seen order) and a blank line."""
    if not rows:
        return
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    widths = {k: max(len(k), *(len(str(r.get(k, ""))) for r in rows)) for k in keys}
    print("  ".join(k.ljust(widths[k]) for k in keys))
    for r in rows:
        print("  ".join(str(r.get(k, "")).ljust(widths[k]) for k in keys))
    print()
