"""Settings for the whole test suite."""

from __future__ import annotations

import os

from hypothesis import settings

# In CI (CI set in the environment), the property tests draw hypothesis' fixed sequence of
# examples, the same on every run, so a red CI means a regression, not a lucky draw; locally
# they explore fresh random examples on every run (and keep failures in .hypothesis/).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
