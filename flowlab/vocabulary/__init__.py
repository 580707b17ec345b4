"""The words flows are described in: group keys and metrics, filters, CIDR matching, endpoint identity.

One place for what ``client``, ``bytes``, ``server="10.0.0.0/8"`` or "the
workload this address belongs to" mean. :mod:`flowlab.analysis`,
:mod:`flowlab.graph`, :mod:`flowlab.views` and :mod:`flowlab.report` use it on
frames; :mod:`flowlab.elastic` only translates it into Elasticsearch queries
and aggregations. It imports no other flowlab package (only :mod:`flowlab.exceptions`
and the port/protocol tables of :mod:`flowlab.services`).

- :mod:`~flowlab.vocabulary.keys` — :data:`KEYS`, :data:`METRICS`, :func:`key_expr`, :func:`metric_expr`,
  :func:`aggregate` (the one local group-by) and :func:`sort_aggregated` (its order, which
  push-down results share);
- :mod:`~flowlab.vocabulary.filters` — :func:`where`, :func:`match`, :func:`describe`,
  :class:`Filter`, :func:`filter_frame`;
- :mod:`~flowlab.vocabulary.networks` — :func:`in_networks`, :func:`parse_network`;
- :mod:`~flowlab.vocabulary.endpoints` — :func:`endpoint_id`, :data:`LEVELS`.
"""

from __future__ import annotations

from flowlab.vocabulary.endpoints import LEVELS, NO_IP, endpoint_id
from flowlab.vocabulary.filters import SIDES, Filter, Spec, describe, filter_frame, match, where
from flowlab.vocabulary.keys import (
    KEYS,
    METRICS,
    aggregate,
    key_expr,
    metric_expr,
    sort_aggregated,
)
from flowlab.vocabulary.networks import in_networks, map_distinct, parse_network

__all__ = [
    "KEYS",
    "LEVELS",
    "METRICS",
    "NO_IP",
    "SIDES",
    "Filter",
    "Spec",
    "aggregate",
    "describe",
    "endpoint_id",
    "filter_frame",
    "in_networks",
    "key_expr",
    "map_distinct",
    "match",
    "metric_expr",
    "parse_network",
    "sort_aggregated",
    "where",
]
