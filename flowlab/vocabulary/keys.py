"""Group keys and metrics: the words every aggregation (local or pushed down) speaks.

A *key* names what flows are grouped by and the canonical column it reads
(``client`` -> ``client_ip``); the output column is named by the key. A
*metric* is what is summed: ``bytes`` and ``packets`` (sums), ``flows`` (the
record count), all UInt64.

Examples
--------
>>> import polars as pl
>>> f = pl.DataFrame({"client_ip": ["a", "a", "b"], "bytes": [1, 2, 3]})
>>> f.group_by(key_expr("client")).agg(metric_expr("bytes"), metric_expr("flows")).sort("client").rows()
[('a', 3, 2), ('b', 3, 1)]
"""

from __future__ import annotations

import polars as pl

from flowlab.exceptions import ConfigError

__all__ = ["KEYS", "METRICS", "key_expr", "metric_expr"]

#: group key -> the canonical column it reads
KEYS: dict[str, str] = {
    "client": "client_ip",
    "server": "server_ip",
    "service": "service_name",
    "src": "src_ip",
    "dst": "dst_ip",
    "exporter": "exporter",
    "protocol": "protocol",
    "service_port": "service_port",
    "src_port": "src_port",
    "dst_port": "dst_port",
}
METRICS = ("bytes", "packets", "flows")


def key_expr(key: str) -> pl.Expr:
    """The column of group key `key`, named `key`."""
    if key not in KEYS:
        msg = f"unknown group key {key!r}; expected one of {', '.join(KEYS)}"
        raise ConfigError(msg)
    return pl.col(KEYS[key]).alias(key)


def metric_expr(metric: str) -> pl.Expr:
    """The aggregation of `metric` (bytes/packets: sum; flows: count), UInt64."""
    if metric == "flows":
        return pl.len().cast(pl.UInt64).alias("flows")
    if metric in ("bytes", "packets"):
        return pl.col(metric).sum().cast(pl.UInt64)
    msg = f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}"
    raise ConfigError(msg)
