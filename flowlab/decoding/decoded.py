"""What every flow-protocol decoder returns: :class:`Decoded`.

Examples
--------
>>> from flowlab.decoding.stats import DecodeStats
>>> a = Decoded(stats=DecodeStats(datagrams=1, datagrams_ok=1))
>>> b = Decoded(stats=DecodeStats(datagrams=2, datagrams_bad={"wrong_version": 2}))
>>> both = Decoded.concat([a, b])
>>> both.flows.height, both.stats.datagrams, both.stats.bad
(0, 3, 2)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from flowlab import schema
from flowlab.decoding.stats import DecodeStats

__all__ = ["Decoded"]


@dataclass
class Decoded:
    """Result of decoding: canonical flows, canonical counters and the stats."""

    flows: pl.DataFrame = field(default_factory=schema.empty)
    counters: pl.DataFrame = field(default_factory=schema.empty_counters)
    stats: DecodeStats = field(default_factory=DecodeStats)

    @classmethod
    def concat(cls, parts: Iterable[Decoded]) -> Decoded:
        """Concatenate batches (rows in order, stats merged)."""
        items = list(parts)
        if not items:
            return cls()
        stats = DecodeStats()
        for p in items:
            stats = stats.merge(p.stats)
        return cls(
            flows=pl.concat([p.flows for p in items], rechunk=False),
            counters=pl.concat([p.counters for p in items], rechunk=False),
            stats=stats,
        )
