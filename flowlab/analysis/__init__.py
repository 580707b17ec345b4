"""The seed dashboards' questions as functions returning Polars frames.

Each takes a DataFrame or LazyFrame of canonical flows (enriched by
:func:`flowlab.k8s.enrich` for Kubernetes names) plus the filters of
:func:`where`; volumes are estimated ``bytes``/``packets`` and ``flows`` =
record count, sorted by bytes like the Kibana top-N tables.

- :func:`where`, :func:`match`, :func:`describe` — filters (:mod:`~flowlab.vocabulary.filters`);
- :func:`top_clients`, :func:`top_servers`, :func:`top_services`, :func:`top_talkers`,
  :func:`conversations` (:mod:`~flowlab.analysis.toplists`);
- :func:`peers`, :func:`service_breakdown`, :func:`flow_records` (:mod:`~flowlab.analysis.details`);
- :func:`host_pods` — host-network pods behind node addresses (:mod:`~flowlab.analysis.hosts`);
- :func:`timeseries` (:mod:`~flowlab.analysis.timeseries`);
- :func:`edges` — the local twin of the Elasticsearch push-down (:mod:`~flowlab.analysis.edges`).
"""

from __future__ import annotations

from flowlab.analysis.details import Breakdown, flow_records, peers, service_breakdown
from flowlab.analysis.edges import edges
from flowlab.analysis.hosts import host_pods
from flowlab.analysis.timeseries import timeseries
from flowlab.analysis.toplists import (
    conversations,
    top_clients,
    top_servers,
    top_services,
    top_talkers,
)
from flowlab.vocabulary.filters import describe, match, where

__all__ = [
    "Breakdown",
    "conversations",
    "describe",
    "edges",
    "flow_records",
    "host_pods",
    "match",
    "peers",
    "service_breakdown",
    "timeseries",
    "top_clients",
    "top_servers",
    "top_services",
    "top_talkers",
    "where",
]
