"""Live UDP collection: sockets, the recvmmsg receive loop (in a thread or a child
process), and the collector that decodes batches and writes the Parquet capture store.

Not tied to one flow protocol: the collector hands received datagrams to a
protocol decoder.
"""

from __future__ import annotations

from flowlab.collect.collector import Collector, CollectorStats

__all__ = ["Collector", "CollectorStats"]
