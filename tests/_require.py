"""Tests of real components (Spark, PostgreSQL, Chromium) skip where the component cannot run, except
under the project's ``FORENSICS_REQUIRE_*`` variables (which ``.ci/run`` sets), where they fail."""

from __future__ import annotations

import os

import pytest


def skip_or_fail(variable: str, component: str, why: str | None) -> None:
    """Nothing when ``why`` is empty; else fail under ``variable``, skip without it."""
    if not why:
        return
    if os.environ.get(variable):
        pytest.fail(f"{variable} is set but {component} cannot run: {why}")
    pytest.skip(f"{component} tests skipped: {why}")
