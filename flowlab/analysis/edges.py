"""``edges(flows, by=..., metrics=...)``: the local twin of the Elasticsearch push-down.

Same semantics as ``flowlab.elastic``'s composite-aggregation ``edges`` so the
two can be compared frame for frame:

- group keys: ``client`` -> client_ip, ``server`` -> server_ip, ``service`` ->
  service_name, ``src`` -> src_ip, ``dst`` -> dst_ip, ``exporter``,
  ``protocol``, ``service_port``; output columns are named by the keys;
- metrics: ``bytes`` (sum), ``packets`` (sum), ``flows`` (record count), all UInt64;
- rows whose key is null form their own group (null key), like a composite
  aggregation with ``missing_bucket``;
- sorted by bytes (largest first, if asked for), then by the keys;
- with ``intervals=True``: ``bytes_lo, bytes_hi, packets_lo, packets_hi``
  (95 %), ``samples`` and ``low_evidence`` (:mod:`flowlab.estimate`).

Examples
--------
>>> import polars as pl
>>> from flowlab.schema import conform
>>> f = conform(pl.DataFrame({"client_ip": ["a", "a", "b"], "server_ip": ["s", "s", "s"],
...     "service_name": ["https"] * 3, "bytes": [10, 20, 5], "packets": [1, 1, 1]}))
>>> edges(f).rows()
[('a', 's', 'https', 30, 2, 2), ('b', 's', 'https', 5, 1, 1)]
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from flowlab.estimate import INTERVAL_COLUMNS, evidence, with_intervals
from flowlab.exceptions import ConfigError

__all__ = ["KEYS", "METRICS", "edges", "key_expr", "metric_expr"]

KEYS: dict[str, str] = {
    "client": "client_ip",
    "server": "server_ip",
    "service": "service_name",
    "src": "src_ip",
    "dst": "dst_ip",
    "exporter": "exporter",
    "protocol": "protocol",
    "service_port": "service_port",
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


def edges(
    flows: pl.DataFrame | pl.LazyFrame,
    by: Sequence[str] = ("client", "server", "service"),
    metrics: Sequence[str] = ("bytes", "packets", "flows"),
    *,
    intervals: bool = False,
) -> pl.DataFrame:
    """Group flows by `by` keys and aggregate `metrics` (see the module docstring)."""
    keys = list(by)
    if not keys:
        msg = "edges needs at least one group key"
        raise ConfigError(msg)
    aggs = [metric_expr(m) for m in metrics]
    out = (
        flows.lazy()
        .group_by([key_expr(k) for k in keys])
        .agg(aggs + (evidence() if intervals else []))
    )
    if intervals:
        out = with_intervals(out).select(*keys, *metrics, *INTERVAL_COLUMNS)
    order = (["bytes"] if "bytes" in metrics else []) + keys
    desc = ([True] if "bytes" in metrics else []) + [False] * len(keys)
    return out.sort(order, descending=desc, nulls_last=True).collect()
