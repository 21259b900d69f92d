"""Test configuration shared by every test file."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import settings

from analysis.scenarios import generate
from _require import skip_or_fail  # tests/ is on sys.path (rootdir-relative imports)
from reference import events_frame

# Seed every random generator: hypothesis too. The "ci" profile (the default) derandomizes it, so
# a run is reproducible on any machine; HYPOTHESIS_PROFILE=explore searches anew on each run.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# Events for the window-aggregate tests (test_reference.py, test_series.py).
@pytest.fixture(scope="module")
def small():
    # Hand-worked case: hours 10:00, 11:00 (empty), 12:00; segments high/low/null.
    return events_frame(
        [
            ("2026-03-01T10:05:00Z", "high", True, 0.9),
            ("2026-03-01T10:20:00Z", "high", False, 0.5),
            ("2026-03-01T10:59:59Z", "low", None, 0.7),
            ("2026-03-01T12:00:00Z", "low", True, np.nan),
            ("2026-03-01T12:30:00Z", None, False, 0.2),
            ("2026-03-01T12:45:00Z", "high", True, 0.4),
        ]
    )


@pytest.fixture(scope="module")
def refusal():
    return generate("refusal", seed=4, scale=0.25, magnitude=1.0, days=12).events


# A throw-away PostgreSQL cluster on 127.0.0.1 (tests/_postgres.py), started once per session when a
# test asks for it. Without the server binaries the test is skipped, except under
# FORENSICS_REQUIRE_POSTGRES=1 (which .ci/run sets, after installing Debian's postgresql), where it fails.
@pytest.fixture(scope="session")
def postgres():
    import _postgres

    skip_or_fail("FORENSICS_REQUIRE_POSTGRES", "PostgreSQL", _postgres.why_not())
    cluster = _postgres.start()
    try:
        yield cluster
    finally:
        cluster.stop()


# A headless Chromium driven over the DevTools protocol (tests/_chromium.py), started once per session
# when a test asks for it. Without Chromium (or websocket-client) the test is skipped, except under
# FORENSICS_REQUIRE_CHROMIUM=1 (which .ci/run sets, after installing Debian's chromium), where it fails.
@pytest.fixture(scope="session")
def chromium():
    import _chromium

    skip_or_fail("FORENSICS_REQUIRE_CHROMIUM", "Chromium", _chromium.why_not())
    browser = _chromium.open_browser()
    try:
        yield browser
    finally:
        browser.close()
