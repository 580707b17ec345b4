"""Test documents shaped like real collectors write them, built one by one from canonical rows.

``elastiflow35`` follows shared/reference/elastiflow.md field by field, on its
own (it does not use flowlab's sink): what the Logstash sFlow codec leaves as
strings stays a string (``sflow.*``, ``flow.tos``, ``flow.vlan``,
``flow.input_snmp``), ``flow.service_port`` is a string (sprintf),
``flow.bytes``/``flow.packets`` are pre-scaled, ``flow.tcp_flags`` is a list
of names in bit order (``"none"`` for 0, absent for non-TCP), service names
are decorated (``etcd-client (TCP/2379)``), and client/server are decided by
ElastiFlow's rules (§5) implemented here independently of
:func:`flowlab.services.orient`. Documents are nested objects, as Logstash
sends them. ``ecs`` and ``codex`` build the other layouts (CODEX with dotted
keys, as some shippers send them).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from flowlab.services import PROTOCOL_NAMES, default_table

FLAG_NAMES = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR")

# ElastiFlow 3.5's template types (elastiflow_fields.tsv), written out independently of
# flowlab.elastic._mappings.
_EF_FLOW = {
    "src_addr": "ip", "dst_addr": "ip", "src_port": "long", "dst_port": "long",
    "ip_protocol": "keyword", "ip_version": "keyword", "bytes": "long", "packets": "long",
    "sampling_interval": "long", "direction": "keyword", "tcp_flags": "keyword", "tos": "long",
    "vlan": "long", "src_mac": "keyword", "dst_mac": "keyword", "input_snmp": "keyword",
    "output_snmp": "keyword", "input_ifname": "keyword", "output_ifname": "keyword",
    "src_hostname": "keyword", "dst_hostname": "keyword", "src_port_name": "keyword",
    "dst_port_name": "keyword", "traffic_locality": "keyword",
    "src_autonomous_system": "keyword", "dst_autonomous_system": "keyword",
    "server_addr": "ip", "server_hostname": "keyword", "server_autonomous_system": "keyword",
    "service_port": "long", "service_name": "keyword", "client_addr": "ip",
    "client_hostname": "keyword", "client_autonomous_system": "keyword",
}  # fmt: skip
_EF_SFLOW = {
    "sflow_type": "keyword", "source_id_type": "keyword", "source_id_index": "long",
    "sub_agent_id": "long", "drops": "long", "protocol": "keyword", "frame_length": "long",
    "eth_type": "long", "ip_ecn": "long", "ip_flags": "long", "ip_ttl": "long",
    "tcp_window_size": "long", "tcp_urgent_pointer": "long",
}  # fmt: skip


def elastiflow35_template(pattern: str, *, overrides: dict[str, str] | None = None) -> dict:
    """An index template body like ElastiFlow 3.5's (3 shards, 1 replica, typeless).

    `overrides` changes the type of ``flow.*`` fields (to build mapping conflicts).
    """
    flow = {**_EF_FLOW, **(overrides or {})}
    return {
        "index_patterns": [pattern],
        "template": {
            "settings": {
                "number_of_shards": 3,
                "number_of_replicas": 1,
                "codec": "best_compression",
            },
            "mappings": {
                "numeric_detection": True,
                "dynamic_templates": [
                    {"strings": {"match_mapping_type": "string", "mapping": {"type": "keyword"}}}
                ],
                "properties": {
                    "@timestamp": {"type": "date"},
                    "@version": {"type": "keyword"},
                    "event": {
                        "properties": {"type": {"type": "keyword"}, "host": {"type": "keyword"}}
                    },
                    "node": {
                        "properties": {"ipaddr": {"type": "ip"}, "hostname": {"type": "keyword"}}
                    },
                    "flow": {"properties": {k: {"type": v} for k, v in flow.items()}},
                    "sflow": {"properties": {k: {"type": v} for k, v in _EF_SFLOW.items()}},
                },
            },
        },
        "priority": 300,
    }


def _iso(t: dt.datetime) -> str:
    return (
        t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{t.microsecond // 1000:03d}Z"
    )


def _known(proto: int, port: int) -> str | None:
    return default_table().name(proto, port)


def _port_name(proto_name: str, proto: int, port: int | None) -> str:
    if port is None:
        return f"{proto_name}/0"
    name = _known(proto, port)
    return f"{name} ({proto_name}/{port})" if name else f"{proto_name}/{port}"


def elastiflow_server_is_dst(row: dict[str, Any]) -> bool:
    """ElastiFlow 3.5's client/server rule (elastiflow.md §5), row by row."""
    proto, sp, dp = row["protocol"], row["src_port"], row["dst_port"]
    if row.get("tcp_flags") == 2:
        return True
    src_known = _known(proto, sp) is not None
    dst_known = _known(proto, dp) is not None
    if src_known == dst_known:
        return dp <= sp
    return dst_known


def elastiflow35(row: dict[str, Any]) -> dict[str, Any]:
    """One ElastiFlow 3.5 sFlow document from a canonical row."""
    proto = row["protocol"]
    pname = PROTOCOL_NAMES.get(proto, f"UNKNOWN({proto})")
    flow: dict[str, Any] = {
        "src_addr": row["src_ip"],
        "dst_addr": row["dst_ip"],
        "ip_protocol": pname,
        "ip_version": f"IPv{row['ip_version']}",
        "sampling_interval": row["sampling_rate"],
        "bytes": row["frame_length"] * row["sampling_rate"],
        "packets": row["sampling_rate"],
        "direction": "ingress",
        "tos": str(row["tos"] >> 2),
        "src_mac": row["src_mac"],
        "dst_mac": row["dst_mac"],
        "input_snmp": str(row["in_if"]),
        "output_snmp": str(row["out_if"]),
        "input_ifname": f"index: {row['in_if']}",
        "output_ifname": f"index: {row['out_if']}",
        "src_hostname": row["src_ip"],
        "dst_hostname": row["dst_ip"],
        "src_port_name": _port_name(pname, proto, row["src_port"]),
        "dst_port_name": _port_name(pname, proto, row["dst_port"]),
        "traffic_locality": "private",
        "src_autonomous_system": "private",
        "dst_autonomous_system": "private",
    }
    if row["vlan"] is not None:
        flow["vlan"] = str(row["vlan"])
    if row["src_port"] is not None and row["dst_port"] is not None:
        flow["src_port"] = row["src_port"]
        flow["dst_port"] = row["dst_port"]
        dst_server = elastiflow_server_is_dst(row)
        server, client = ("dst", "src") if dst_server else ("src", "dst")
        port = row[f"{server}_port"]
        flow.update(
            server_addr=row[f"{server}_ip"],
            server_hostname=row[f"{server}_ip"],
            server_autonomous_system="private",
            client_addr=row[f"{client}_ip"],
            client_hostname=row[f"{client}_ip"],
            client_autonomous_system="private",
            service_port=str(port),
            service_name=flow[f"{server}_port_name"],
        )
    sflow: dict[str, Any] = {
        "sflow_type": "flow_sample",
        "source_id_type": "IF-MIB::ifEntry",
        "source_id_index": str(row["source_id"]),
        "sub_agent_id": str(row["sub_agent_id"]),
        "drops": "0",
        "protocol": "ETHERNET-ISO88023",
        "frame_length": str(row["frame_length"]),
        "eth_type": str(row["ethertype"]),
        "ip_ecn": str(row["tos"] & 3),
        "ip_flags": "2",
        "ip_ttl": str(row["ttl"]),
    }
    if proto == 6:
        flags = row["tcp_flags"]
        names = [n for i, n in enumerate(FLAG_NAMES) if flags >> i & 1]
        flow["tcp_flags"] = names if flags else "none"
        sflow["tcp_window_size"] = "502"
        sflow["tcp_urgent_pointer"] = "0"
    return {
        "@timestamp": _iso(row["time"]),
        "@version": "3.5.0",
        "event": {"type": "sflow", "host": row["exporter"]},
        "node": {"ipaddr": row["exporter"], "hostname": row["exporter"]},
        "flow": flow,
        "sflow": sflow,
    }


def ecs(row: dict[str, Any]) -> dict[str, Any]:
    """An ECS flow document as Filebeat's netflow module writes it.

    Filebeat stores the counts as the exporter sent them (one sampled packet: its length, 1)
    and the sampling interval beside them; the reader multiplies.
    """
    rate = row["sampling_rate"] or 1
    doc: dict[str, Any] = {
        "@timestamp": _iso(row["time"]),
        "event": {"kind": "event", "category": ["network"], "action": "netflow_flow"},
        "observer": {"ip": row["exporter"]},
        "source": {"ip": row["src_ip"], "mac": row["src_mac"].upper().replace(":", "-")},
        "destination": {"ip": row["dst_ip"], "mac": row["dst_mac"].upper().replace(":", "-")},
        "network": {
            "transport": PROTOCOL_NAMES[row["protocol"]].lower(),
            "iana_number": str(row["protocol"]),
            "type": f"ipv{row['ip_version']}",
            "bytes": row["bytes"] // rate,
            "packets": row["packets"] // rate,
        },
        "netflow": {"sampling_interval": row["sampling_rate"]},
    }
    if row["src_port"] is not None:
        doc["source"]["port"] = row["src_port"]
        doc["destination"]["port"] = row["dst_port"]
    if row["tcp_flags"] is not None:
        doc["netflow"]["tcp_control_bits"] = row["tcp_flags"]
    return doc


def codex(row: dict[str, Any]) -> dict[str, Any]:
    """An ElastiFlow unified-collector ("CODEX") document, with dotted keys."""
    doc: dict[str, Any] = {
        "@timestamp": _iso(row["time"]),
        "flow.export.ip.addr": row["exporter"],
        "flow.src.ip.addr": row["src_ip"],
        "flow.dst.ip.addr": row["dst_ip"],
        "l4.proto.name": PROTOCOL_NAMES[row["protocol"]],
        "ip.version.name": f"IPv{row['ip_version']}",
        "flow.bytes": row["bytes"],
        "flow.packets": row["packets"],
        "flow.meter.packet_select.interval.packets": row["sampling_rate"],
        "flow.in.netif.index": row["in_if"],
        "flow.out.netif.index": row["out_if"],
    }
    if row["src_port"] is not None:
        doc["flow.src.l4.port.id"] = row["src_port"]
        doc["flow.dst.l4.port.id"] = row["dst_port"]
    if row["tcp_flags"] is not None:
        doc["tcp.flags.bits"] = row["tcp_flags"]
    if row["vlan"] is not None:
        doc["flow.in.vlan.tag.id"] = row["vlan"]
    return doc


#: Canonical columns each layout carries (others load as null).
ELASTIFLOW35_COLUMNS = (
    "time", "exporter", "src_ip", "dst_ip", "src_port", "dst_port", "protocol", "bytes",
    "packets", "sampling_rate", "frame_length", "ip_version", "tcp_flags", "tos", "ttl",
    "ethertype", "vlan", "src_mac", "dst_mac", "in_if", "out_if", "sub_agent_id", "source_id",
    "client_ip", "server_ip", "client_port", "service_port", "service_name", "source",
)  # fmt: skip
ECS_COLUMNS = (
    "time", "exporter", "src_ip", "dst_ip", "src_port", "dst_port", "protocol", "bytes",
    "packets", "sampling_rate", "ip_version", "tcp_flags", "src_mac", "dst_mac",
    "client_ip", "server_ip", "client_port", "service_port", "service_name",
)  # fmt: skip
CODEX_COLUMNS = (
    "time", "exporter", "src_ip", "dst_ip", "src_port", "dst_port", "protocol", "bytes",
    "packets", "sampling_rate", "ip_version", "tcp_flags", "vlan", "in_if", "out_if",
    "client_ip", "server_ip", "client_port", "service_port", "service_name",
)  # fmt: skip


def expected(frame: pl.DataFrame, carried: tuple[str, ...], source: str) -> pl.DataFrame:
    """`frame` with the columns a layout does not carry set to null and ``source`` set."""
    out = frame.with_columns(
        [pl.lit(None, dtype=frame.schema[c]).alias(c) for c in frame.columns if c not in carried]
    )
    return out.with_columns(pl.lit(source).alias("source"))


def daily_index(prefix: str, row: dict[str, Any]) -> str:
    """``prefix`` + ``YYYY.MM.dd`` of the row's time in UTC (ElastiFlow's index naming)."""
    return prefix + row["time"].astimezone(dt.timezone.utc).strftime("%Y.%m.%d")
