"""Live UDP collection: sockets, the recvmmsg receive loop (in a thread or a child
process), and the collector that decodes batches and writes the Parquet capture store.

Not tied to one flow protocol: the collector hands received datagrams to a
protocol decoder. Importing the package is light (the receive process imports
only its own modules); :class:`Collector` is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowlab.collect.collector import Collector, CollectorStats

__all__ = ["Collector", "CollectorStats"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from flowlab.collect import collector

        return getattr(collector, name)
    msg = f"module 'flowlab.collect' has no attribute {name!r}"
    raise AttributeError(msg)
