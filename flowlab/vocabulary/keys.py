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

from collections.abc import Sequence

import polars as pl

from flowlab.exceptions import ConfigError

__all__ = ["KEYS", "METRICS", "aggregate", "key_expr", "metric_expr", "sort_aggregated"]

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


def sort_aggregated(
    frame: pl.LazyFrame, keys: Sequence[str], metrics: Sequence[str], *, time: bool = False
) -> pl.LazyFrame:
    """The one order of aggregated rows, local or pushed down (nulls last in every key).

    Edges: the most ``bytes`` first (when summed), then by the keys. Time
    series (`time`): by ``time``, then by the keys.
    """
    keys = list(keys)
    if time:
        return frame.sort(["time", *keys], nulls_last=True)
    by = (["bytes"] if "bytes" in metrics else []) + keys
    if not by:
        return frame
    desc = [True] * (len(by) - len(keys)) + [False] * len(keys)
    return frame.sort(by, descending=desc, nulls_last=True)


def aggregate(
    flows: pl.DataFrame | pl.LazyFrame,
    keys: Sequence[str],
    metrics: Sequence[str] = METRICS,
    *,
    every: str | None = None,
) -> pl.DataFrame:
    """Group `flows` by `keys` (group keys, or column names), sum `metrics`, sort the one way.

    With `every` (a Polars duration), rows are first bucketed by ``time``
    truncated to it (UTC) and ``time`` leads the columns. Null keys form their
    own group. The local twin of every push-down aggregation.

    Examples
    --------
    >>> f = pl.DataFrame({"client_ip": ["a", "b", None], "bytes": [1, 5, 2], "packets": [1, 1, 1]})
    >>> aggregate(f, ["client"], ["bytes", "flows"]).rows()
    [('b', 5, 1), (None, 2, 1), ('a', 1, 1)]
    """
    keys = list(keys)
    group = [key_expr(k) if k in KEYS else pl.col(k) for k in keys]
    if every is not None:
        group.insert(0, pl.col("time").dt.truncate(every).alias("time"))
    aggs = [metric_expr(m) for m in metrics]
    lf = flows.lazy()
    out = lf.group_by(group).agg(aggs) if group else lf.select(aggs)
    return sort_aggregated(out, keys, metrics, time=every is not None).collect()
