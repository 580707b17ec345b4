"""ElastiFlow 3.5's fields: one table from which both the reading profile and the writing layout come.

Each row is one field as ElastiFlow 3.5 (Logstash) stores it (see
``shared/reference/elastiflow_fields.tsv``): its mapped type in ElastiFlow's
index template, and, where flowlab reads it, the canonical column it fills,
how a stored value becomes a canonical one (:data:`~flowlab.elastic.profiles.Kind`)
and the push-down dimension it groups by. The ``elastiflow3`` reading profile
(:mod:`flowlab.elastic.profiles`) and the ``elastiflow`` template flowlab
writes (:mod:`flowlab.elastic._mappings`) are derived from it; the document
writer (:mod:`flowlab.elastic._documents`) writes only fields it lists
(tests/elastic/test_fields.py).

Examples
--------
>>> row = FIELDS["flow.src_addr"]
>>> row.es_type, row.column, row.kind, row.dimension
('ip', 'src_ip', 'text', 'src')
>>> [f.name for f in ELASTIFLOW35 if f.column == "in_if"]
['flow.input_snmp', 'sflow.input_interface_value']
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ELASTIFLOW35", "FIELDS", "ElastiFlowField"]


@dataclass(frozen=True)
class ElastiFlowField:
    """One ElastiFlow 3.5 field.

    Attributes
    ----------
    name : str
        Dotted field name (``flow.src_addr``).
    es_type : str
        Its type in ElastiFlow's index template; ``""``: not in the template
        (mapped dynamically).
    column : str
        The canonical column it fills when read (``""``: not read). Several
        fields may fill one column: the first present wins, in table order.
    kind : str
        How a stored value becomes a canonical value (see ``profiles.Kind``).
    dimension : str
        The push-down dimension (:data:`flowlab.vocabulary.KEYS`) it groups by.
    """

    name: str
    es_type: str
    column: str = ""
    kind: str = "text"
    dimension: str = ""


_F = ElastiFlowField

#: every ElastiFlow 3.5 field flowlab maps, reads or groups by, in template order
ELASTIFLOW35: tuple[ElastiFlowField, ...] = (
    _F("@timestamp", "date", column="time", kind="date"),
    _F("@version", "keyword"),
    _F("tags", "keyword"),
    _F("event.type", "keyword", column="source"),
    _F("event.host", "keyword"),
    _F("node.ipaddr", "ip", column="exporter", dimension="exporter"),
    _F("node.hostname", "keyword"),
    _F("flow.src_addr", "ip", column="src_ip", dimension="src"),
    _F("flow.dst_addr", "ip", column="dst_ip", dimension="dst"),
    _F("flow.src_port", "long", column="src_port", kind="int", dimension="src_port"),
    _F("flow.dst_port", "long", column="dst_port", kind="int", dimension="dst_port"),
    _F("flow.ip_protocol", "keyword", column="protocol", kind="proto", dimension="protocol"),
    _F("flow.ip_version", "keyword", column="ip_version", kind="ip_version"),
    _F("flow.src_mask_len", "long"),
    _F("flow.dst_mask_len", "long"),
    _F("flow.next_hop", "ip"),
    _F("flow.tos", "long", column="tos", kind="dscp"),
    _F("flow.tcp_flags", "keyword", column="tcp_flags", kind="tcp_flags"),
    _F("flow.sampling_interval", "long", column="sampling_rate", kind="int"),
    _F("flow.bytes", "long", column="bytes", kind="int"),
    _F("flow.packets", "long", column="packets", kind="int"),
    _F("flow.direction", "keyword"),
    _F("flow.src_mac", "keyword", column="src_mac", kind="mac"),
    _F("flow.dst_mac", "keyword", column="dst_mac", kind="mac"),
    _F("flow.vlan", "long", column="vlan", kind="int"),
    _F("flow.input_snmp", "keyword", column="in_if", kind="int"),
    _F("flow.output_snmp", "keyword", column="out_if", kind="int"),
    _F("flow.input_ifname", "keyword"),
    _F("flow.output_ifname", "keyword"),
    _F("flow.src_hostname", "keyword"),
    _F("flow.dst_hostname", "keyword"),
    _F("flow.src_port_name", "keyword"),
    _F("flow.dst_port_name", "keyword"),
    _F("flow.traffic_locality", "keyword"),
    _F("flow.src_autonomous_system", "keyword"),
    _F("flow.dst_autonomous_system", "keyword"),
    _F("flow.autonomous_system", "keyword"),
    _F("flow.server_addr", "ip", dimension="server"),
    _F("flow.server_hostname", "keyword"),
    _F("flow.server_autonomous_system", "keyword"),
    _F("flow.client_addr", "ip", dimension="client"),
    _F("flow.client_hostname", "keyword"),
    _F("flow.client_autonomous_system", "keyword"),
    _F("flow.service_port", "long", dimension="service_port"),
    _F("flow.service_name", "keyword", dimension="service"),
    _F("flow.application", "keyword"),
    _F("flow.traffic_direction", "keyword"),
    _F("flow.rep_tags", "keyword"),
    _F("sflow.sflow_type", "keyword"),
    _F("sflow.source_id_type", "keyword"),
    _F("sflow.protocol", "keyword"),
    _F("sflow.source_id_index", "long", column="source_id", kind="int"),
    _F("sflow.sub_agent_id", "long", column="sub_agent_id", kind="int"),
    _F("sflow.drops", "long"),
    _F("sflow.frame_length", "long", column="frame_length", kind="int"),
    _F("sflow.eth_type", "long", column="ethertype", kind="int"),
    _F("sflow.ip_ecn", "long", column="_ecn", kind="int"),
    _F("sflow.ip_flags", "long"),
    _F("sflow.ip_ttl", "long", column="ttl", kind="int"),
    _F("sflow.tcp_window_size", "long"),
    _F("sflow.tcp_urgent_pointer", "long"),
    _F("sflow.vlan_priority", "long"),
    _F("sflow.vlan_cfi", "long"),
    _F("sflow.vlan_type", "long"),
    _F("sflow.src_vlan", "long"),
    _F("sflow.dst_vlan", "long"),
    _F("sflow.src_priority", "long"),
    _F("sflow.dst_priority", "long"),
    _F("sflow.input_interface_format", "long"),
    _F("sflow.input_interface_value", "long", column="in_if", kind="int"),
    _F("sflow.output_interface_format", "long"),
    _F("sflow.output_interface_value", "long", column="out_if", kind="int"),
    _F("sflow.packet_length", "long"),
    _F("sflow.ip_packet_length", "long"),
    _F("sflow.ip_type", "long"),
    _F("sflow.ip_next_header", "long"),
    _F("sflow.ip_priority", "long"),
    _F("tcp_flags", "", column="tcp_flags", kind="tcp_flags"),
)
#: the rows by field name
FIELDS: dict[str, ElastiFlowField] = {f.name: f for f in ELASTIFLOW35}
