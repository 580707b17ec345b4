"""Index templates with explicit mappings for the two layouts the sink writes.

``flowlab``
    Canonical column names; IP columns ``ip``, text ``keyword``, numbers
    ``long``, ``time`` a ``date``; ``dynamic: strict`` so stray fields are
    rejected rather than guessed.
``elastiflow``
    ElastiFlow 3.5.0's template (``elastiflow-3.5.0``, pattern
    ``elastiflow-3.5.0-*``, 3 shards, 1 replica, ``best_compression``,
    ``numeric_detection``, strings -> ``keyword``), with the ``flow.*``,
    ``node.*``, ``event.*`` and ``sflow.*`` types ElastiFlow maps, so the
    seed's Kibana dashboards read flowlab's documents like Logstash's.

Examples
--------
>>> FLOWLAB_MAPPING["properties"]["src_ip"], FLOWLAB_MAPPING["properties"]["bytes"]
({'type': 'ip'}, {'type': 'long'})
>>> ELASTIFLOW_MAPPING["properties"]["flow"]["properties"]["service_port"]
{'type': 'long'}
"""

from __future__ import annotations

from typing import Any

import polars as pl

from flowlab.elastic._fields import ELASTIFLOW35
from flowlab.schema import FLOW_SCHEMA

__all__ = [
    "ELASTIFLOW_INDEX_PREFIX",
    "ELASTIFLOW_MAPPING",
    "ELASTIFLOW_SETTINGS",
    "ELASTIFLOW_TEMPLATE",
    "FLOWLAB_MAPPING",
    "IP_COLUMNS",
    "field_types",
]

IP_COLUMNS = ("exporter", "src_ip", "dst_ip", "client_ip", "server_ip")
ELASTIFLOW_TEMPLATE = "elastiflow-3.5.0"
ELASTIFLOW_INDEX_PREFIX = "elastiflow-3.5.0-"


def _flowlab_type(name: str, dtype: pl.DataType) -> dict[str, Any]:
    if isinstance(dtype, pl.Datetime):  # time, and a flow record's flow_start / flow_end
        return {"type": "date", "format": "strict_date_optional_time||epoch_millis"}
    if name in IP_COLUMNS:
        return {"type": "ip"}
    if dtype == pl.String:
        return {"type": "keyword"}
    return {"type": "long"}


FLOWLAB_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "_meta": {"flowlab_layout": "flowlab", "schema_version": 1},
    "properties": {name: _flowlab_type(name, dtype) for name, dtype in FLOW_SCHEMA.items()},
}


def _props(types: dict[str, str]) -> dict[str, Any]:
    return {name: {"type": t} for name, t in types.items()}


def _types(prefix: str) -> dict[str, str]:
    """``{name after prefix: type}`` of the mapped ElastiFlow 3.5 fields under `prefix`."""
    return {
        f.name[len(prefix) :]: f.es_type
        for f in ELASTIFLOW35
        if f.es_type and f.name.startswith(prefix)
    }


ELASTIFLOW_MAPPING: dict[str, Any] = {
    "numeric_detection": True,
    "dynamic_templates": [
        {"string_fields": {"match_mapping_type": "string", "mapping": {"type": "keyword"}}}
    ],
    "properties": {
        **_props({f.name: f.es_type for f in ELASTIFLOW35 if f.es_type and "." not in f.name}),
        **{
            group: {"properties": _props(_types(f"{group}."))}
            for group in ("event", "node", "flow", "sflow", "netflow", "ipfix")
        },
    },
}

ELASTIFLOW_SETTINGS: dict[str, Any] = {
    "index": {
        "number_of_shards": 3,
        "number_of_replicas": 1,
        "refresh_interval": "10s",
        "codec": "best_compression",
        "mapping": {"total_fields": {"limit": 5000}},
        "query": {
            "default_field": [
                "@version",
                "event.type",
                "event.host",
                "node.hostname",
                "node.ipaddr",
                "flow.src_hostname",
                "flow.dst_hostname",
                "flow.client_hostname",
                "flow.server_hostname",
                "flow.service_name",
                "flow.src_port_name",
                "flow.dst_port_name",
                "flow.ip_protocol",
                "flow.ip_version",
                "flow.tcp_flags",
                "flow.traffic_locality",
                "flow.direction",
                "flow.input_ifname",
                "flow.output_ifname",
                "tags",
            ]
        },
    }
}


def field_types(mapping: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten a mapping's ``properties`` into ``{dotted field: type}``.

    Examples
    --------
    >>> field_types({"properties": {"node": {"properties": {"ipaddr": {"type": "ip"}}}}})
    {'node.ipaddr': 'ip'}
    """
    out: dict[str, str] = {}
    for name, spec in (mapping.get("properties") or {}).items():
        if "properties" in spec:
            out.update(field_types(spec, prefix=f"{prefix}{name}."))
        elif "type" in spec:
            out[f"{prefix}{name}"] = spec["type"]
    return out
