"""The small cluster of :mod:`smallcluster` as a fixture."""

from __future__ import annotations

import pytest
from tests.policy.smallcluster import objects

from flowlab.k8s import Inventory


@pytest.fixture(scope="session")
def small_inventory() -> Inventory:
    return Inventory.from_objects(objects())
