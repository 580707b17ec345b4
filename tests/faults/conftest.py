"""The fault-injection suite: real faults against flowlab, every test marked ``faults``.

Collector, capture and decoder faults use the helpers of ``fault_data.py``:
real Open vSwitch datagrams from ``tests/data`` replayed over loopback UDP, a
tmpfs in a private mount namespace for a full or read-only disk, real
signals. Every test asserts the promise: each row is stored or counted as
unwritten, the exit status tells the truth, nothing is duplicated, and an
error names its cause.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.faults)
