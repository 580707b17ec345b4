"""Settings for the whole test suite."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.cores import CORES, use_core

# In CI (CI set in the environment), the property tests draw hypothesis' fixed sequence of
# examples, the same on every run, so a red CI means a regression, not a lucky draw; locally
# they explore fresh random examples on every run (and keep failures in .hypothesis/).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(params=CORES)
def core(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once per decoder core: "native" (the compiled ``flowlab._native``; skipped
    where it is not built, failed in CI) and "pure" (numpy). See tests/cores.py."""
    with use_core(request.param):
        yield request.param
