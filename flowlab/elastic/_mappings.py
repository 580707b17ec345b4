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
    if name == "time":
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


_FLOW_TYPES = {
    "src_addr": "ip",
    "dst_addr": "ip",
    "src_port": "long",
    "dst_port": "long",
    "ip_protocol": "keyword",
    "ip_version": "keyword",
    "src_mask_len": "long",
    "dst_mask_len": "long",
    "next_hop": "ip",
    "tos": "long",
    "tcp_flags": "keyword",
    "sampling_interval": "long",
    "bytes": "long",
    "packets": "long",
    "direction": "keyword",
    "src_mac": "keyword",
    "dst_mac": "keyword",
    "vlan": "long",
    "input_snmp": "keyword",
    "output_snmp": "keyword",
    "input_ifname": "keyword",
    "output_ifname": "keyword",
    "src_hostname": "keyword",
    "dst_hostname": "keyword",
    "src_port_name": "keyword",
    "dst_port_name": "keyword",
    "traffic_locality": "keyword",
    "src_autonomous_system": "keyword",
    "dst_autonomous_system": "keyword",
    "autonomous_system": "keyword",
    "server_addr": "ip",
    "server_hostname": "keyword",
    "server_autonomous_system": "keyword",
    "client_addr": "ip",
    "client_hostname": "keyword",
    "client_autonomous_system": "keyword",
    "service_port": "long",
    "service_name": "keyword",
    "application": "keyword",
    "traffic_direction": "keyword",
    "rep_tags": "keyword",
}

_SFLOW_TYPES = {
    "sflow_type": "keyword",
    "source_id_type": "keyword",
    "protocol": "keyword",
    **{
        name: "long"
        for name in (
            "source_id_index",
            "sub_agent_id",
            "sample_seq_number",
            "drops",
            "frame_length",
            "eth_type",
            "ip_ecn",
            "ip_flags",
            "ip_ttl",
            "tcp_window_size",
            "tcp_urgent_pointer",
            "vlan_priority",
            "vlan_cfi",
            "vlan_type",
            "src_vlan",
            "dst_vlan",
            "src_priority",
            "dst_priority",
            "input_interface_format",
            "input_interface_value",
            "output_interface_format",
            "output_interface_value",
            "packet_length",
            "ip_packet_length",
            "ip_type",
            "ip_next_header",
            "ip_priority",
        )
    },
}

ELASTIFLOW_MAPPING: dict[str, Any] = {
    "numeric_detection": True,
    "dynamic_templates": [
        {"string_fields": {"match_mapping_type": "string", "mapping": {"type": "keyword"}}}
    ],
    "properties": {
        "@timestamp": {"type": "date"},
        "@version": {"type": "keyword"},
        "tags": {"type": "keyword"},
        "event": {"properties": _props({"type": "keyword", "host": "keyword"})},
        "node": {"properties": _props({"ipaddr": "ip", "hostname": "keyword"})},
        "flow": {"properties": _props(_FLOW_TYPES)},
        "sflow": {"properties": _props(_SFLOW_TYPES)},
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
