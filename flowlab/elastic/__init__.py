"""Elasticsearch: connect, load flows into the canonical frame, push-down aggregations, bulk sink.

Examples
--------
>>> import flowlab.elastic as fe
>>> sorted(fe.PROFILES)
['codex', 'ecs', 'elastiflow3', 'flowlab']
>>> fe.Filter(service="etcd-client").service
('etcd-client',)
"""

from __future__ import annotations

from flowlab.elastic._layout import Layout, inspect_layout
from flowlab.elastic._transport import ServerInfo
from flowlab.elastic.aggregate import edges, edges_local, timeseries, timeseries_local
from flowlab.elastic.collect import ElasticSink
from flowlab.elastic.connection import connect, server_info
from flowlab.elastic.load import iter_flows, load_flows, load_flows_to_parquet
from flowlab.elastic.profiles import PROFILES, FieldSource, Profile, custom_profile
from flowlab.elastic.query import Filter
from flowlab.elastic.sink import WriteResult, install_template, write_flows

__all__ = [
    "PROFILES",
    "ElasticSink",
    "FieldSource",
    "Filter",
    "Layout",
    "Profile",
    "ServerInfo",
    "WriteResult",
    "connect",
    "custom_profile",
    "edges",
    "edges_local",
    "inspect_layout",
    "install_template",
    "iter_flows",
    "load_flows",
    "load_flows_to_parquet",
    "server_info",
    "timeseries",
    "timeseries_local",
    "write_flows",
]
