"""The flowlab demo: a simulated OpenShift cluster whose Open vSwitch sends sFlow.

- :func:`run` (``flowlab demo``): sends the datagrams over UDP on loopback
  into the real collector and leaves flows/counters Parquet and
  ``inventory.json`` in a directory;
- :func:`load` / :func:`flows`: the same datagrams decoded in memory (no
  sockets), for notebooks and tests;
- :func:`simulate`: every intermediate (cluster, conversations, sampled
  packets, encoded datagrams).

Deterministic: the same seed gives the same inventory and the same samples.
"""

from __future__ import annotations

from flowlab.demo.cluster import Cluster, build_cluster
from flowlab.demo.inventory import inventory, write_inventory
from flowlab.demo.run import DemoResult, facts, run
from flowlab.demo.simulation import DEFAULT_START, DemoData, Simulation, flows, load, simulate

__all__ = [
    "DEFAULT_START",
    "Cluster",
    "DemoData",
    "DemoResult",
    "Simulation",
    "build_cluster",
    "facts",
    "flows",
    "inventory",
    "load",
    "run",
    "simulate",
    "write_inventory",
]
