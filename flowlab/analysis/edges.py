"""``edges(flows, by=..., metrics=...)``: the local twin of the Elasticsearch push-down.

Same semantics as ``flowlab.elastic``'s composite-aggregation ``edges`` so the
two can be compared frame for frame:

- group keys: ``client`` -> client_ip, ``server`` -> server_ip, ``service`` ->
  service_name, ``src`` -> src_ip, ``dst`` -> dst_ip, ``exporter``,
  ``protocol``, ``service_port``; output columns are named by the keys;
- metrics: ``bytes`` (sum), ``packets`` (sum), ``flows`` (record count), all UInt64;
- rows whose key is null form their own group (null key), like a composite
  aggregation with ``missing_bucket``;
- sorted by bytes (largest first, if asked for), then by the keys.

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

from flowlab.exceptions import ConfigError
from flowlab.vocabulary.keys import KEYS, METRICS, aggregate, key_expr, metric_expr

__all__ = ["KEYS", "METRICS", "edges", "key_expr", "metric_expr"]


def edges(
    flows: pl.DataFrame | pl.LazyFrame,
    by: Sequence[str] = ("client", "server", "service"),
    metrics: Sequence[str] = ("bytes", "packets", "flows"),
) -> pl.DataFrame:
    """Group flows by `by` keys and aggregate `metrics` (see the module docstring)."""
    keys = list(by)
    if not keys:
        msg = "edges needs at least one group key"
        raise ConfigError(msg)
    for k in keys:
        key_expr(k)  # validates the key
    for m in metrics:
        metric_expr(m)  # validates the metric
    return aggregate(flows, keys, metrics)
