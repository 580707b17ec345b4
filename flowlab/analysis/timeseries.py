"""Volume per time bucket, optionally split by a key (the dashboards' area charts).

Examples
--------
>>> import polars as pl
>>> from datetime import datetime, timezone
>>> from flowlab.schema import conform
>>> t = [datetime(2024, 5, 1, 10, 0, s, tzinfo=timezone.utc) for s in (5, 30, 59)]
>>> f = conform(pl.DataFrame({"time": t + [datetime(2024, 5, 1, 10, 1, tzinfo=timezone.utc)],
...                           "bytes": [1, 2, 3, 4], "packets": [1, 1, 1, 1]}))
>>> timeseries(f, interval="1m").select("bytes", "flows").rows()
[(6, 3), (4, 1)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from flowlab.exceptions import ConfigError
from flowlab.vocabulary.filters import where
from flowlab.vocabulary.keys import KEYS, aggregate

__all__ = ["timeseries"]


def timeseries(
    flows: pl.DataFrame | pl.LazyFrame,
    *,
    interval: str = "1m",
    by: str | Sequence[str] | None = None,
    metrics: Sequence[str] = ("bytes", "packets", "flows"),
    **filters: Any,
) -> pl.DataFrame:
    """Sum `metrics` per `interval` (Polars duration: ``"30s"``, ``"1m"``, ``"1h"``), per `by` key.

    `by` takes the keys of :func:`flowlab.analysis.edges` (``client``, ``server``,
    ``service``, ``src``, ``dst``, ``exporter``, ``protocol``, ``service_port``)
    or any column name. Buckets start at multiples of `interval` (UTC); empty
    buckets are absent. Columns: ``time``, the keys, the metrics; by time then keys.
    """
    keys = [by] if isinstance(by, str) else list(by or ())
    lf = where(flows, **filters)
    names = lf.collect_schema().names()
    for k in keys:
        if k not in KEYS and k not in names:
            msg = f"unknown timeseries key {k!r}; expected one of {', '.join(KEYS)} or a column"
            raise ConfigError(msg)
    try:
        return aggregate(lf, keys, metrics, every=interval)
    except pl.exceptions.InvalidOperationError as exc:
        msg = f"bad interval {interval!r}: use a Polars duration like '30s', '1m', '1h' ({exc})"
        raise ConfigError(msg) from exc
