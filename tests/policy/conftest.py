"""The small cluster of :mod:`smallcluster` as a fixture."""

from __future__ import annotations

import pytest

from flowlab.k8s import Inventory
from tests.policy.smallcluster import objects


@pytest.fixture(scope="session")
def small_inventory() -> Inventory:
    return Inventory.from_objects(objects())
