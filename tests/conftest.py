"""Test configuration shared by every test file."""

from __future__ import annotations

import os

from hypothesis import settings

# Seed every random generator: hypothesis too. The "ci" profile (the default) derandomizes it, so
# a run is reproducible on any machine; HYPOTHESIS_PROFILE=explore searches anew on each run.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
