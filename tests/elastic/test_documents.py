"""Frames -> sink documents, field by field (no server needed)."""

from __future__ import annotations

import json

import polars as pl

import flowlab.schema as fs
from flowlab.elastic._documents import documents_ndjson, elastiflow_lines, flowlab_lines
from flowlab.elastic._mappings import ELASTIFLOW_MAPPING, FLOWLAB_MAPPING, field_types
from flowlab.services import orient_frame


def _frame(**columns) -> pl.DataFrame:
    base = {
        "time": [1625140803512],
        "exporter": ["10.0.0.5"],
        "src_ip": ["10.128.0.5"],
        "dst_ip": ["10.130.0.9"],
        "src_port": [51000],
        "dst_port": [2379],
        "protocol": [6],
        "tcp_flags": [24],
        "sampling_rate": [1000],
        "frame_length": [1514],
        "ip_version": [4],
        "tos": [0xB9],
        "ttl": [64],
        "in_if": [3],
        "out_if": [0x3FFFFFFF],
    }
    base.update(columns)
    frame = pl.DataFrame(base).with_columns(pl.from_epoch("time", "ms").dt.replace_time_zone("UTC"))
    b, p = fs.scale_expr()
    return fs.conform(orient_frame(fs.conform(frame.with_columns(b, p))))


def _doc(frame: pl.DataFrame, prefix: str = "elastiflow-3.5.0-") -> tuple[dict, str]:
    lines, indices = elastiflow_lines(frame, prefix=prefix)
    return json.loads(lines[0]), indices[0]


def test_documents_leave_nulls_out_and_carry_a_column():
    frame = pl.DataFrame({"a.b": [1, None, None], "c": [None, "x", None], "i": [1, 2, 3]})
    lines, carried = documents_ndjson(frame, carry="i")
    assert sorted(zip(carried, lines)) == [(1, b'{"a":{"b":1}}'), (2, b'{"c":"x"}'), (3, b"{}")]


def test_tcp_document_like_elastiflow_35():
    doc, index = _doc(_frame(), prefix="flows-")
    assert index == "flows-2021.07.01"
    flow, sflow = doc["flow"], doc["sflow"]
    assert doc["@timestamp"] == "2021-07-01T12:00:03.512Z" and doc["@version"] == "3.5.0"
    assert doc["event"] == {"type": "sflow", "host": "10.0.0.5"}
    assert doc["node"] == {"ipaddr": "10.0.0.5", "hostname": "10.0.0.5"}
    assert flow["bytes"] == 1514000 and flow["packets"] == flow["sampling_interval"] == 1000
    assert flow["tcp_flags"] == ["PSH", "ACK"] and flow["ip_protocol"] == "TCP"
    assert flow["tos"] == str(0xB9 >> 2) and sflow["ip_ecn"] == str(0xB9 & 3)
    assert flow["service_port"] == "2379" and flow["service_name"] == "etcd-client (TCP/2379)"
    assert (
        flow["dst_port_name"] == "etcd-client (TCP/2379)" and flow["src_port_name"] == "TCP/51000"
    )
    assert (flow["client_addr"], flow["server_addr"]) == ("10.128.0.5", "10.130.0.9")
    assert flow["input_snmp"] == "3" and flow["output_snmp"] == "1073741823"
    assert flow["traffic_locality"] == "private" and flow["server_autonomous_system"] == "private"
    assert sflow["frame_length"] == "1514" and sflow["ip_ttl"] == "64"
    assert "vlan" not in flow and "src_mac" not in flow  # nulls are absent, not null


def test_flag_zero_udp_icmp_ns_and_unknown_protocols():
    zero, _ = _doc(_frame(tcp_flags=[0]))
    assert zero["flow"]["tcp_flags"] == "none"
    ns, _ = _doc(_frame(tcp_flags=[256 + 2]))
    assert ns["flow"]["tcp_flags"] == ["SYN"]  # ElastiFlow knows no NS flag
    udp, _ = _doc(_frame(protocol=[17], tcp_flags=[None], src_port=[5353], dst_port=[53]))
    assert "tcp_flags" not in udp["flow"] and udp["flow"]["service_name"] == "dns (UDP/53)"
    icmp, _ = _doc(_frame(protocol=[1], tcp_flags=[None], src_port=[None], dst_port=[None]))
    assert icmp["flow"]["ip_protocol"] == "ICMP" and icmp["flow"]["src_port_name"] == "ICMP/0"
    assert not {"src_port", "client_addr", "service_name", "service_port"} & set(icmp["flow"])
    odd, _ = _doc(_frame(protocol=[99], tcp_flags=[None], src_port=[None], dst_port=[None]))
    assert odd["flow"]["ip_protocol"] == "UNKNOWN(99)"
    kubelet, _ = _doc(_frame(dst_port=[10250]))
    assert kubelet["flow"]["service_name"] == "TCP/10250"


def test_public_addresses_and_ipv6():
    public, _ = _doc(_frame(dst_ip=["8.8.8.8"], dst_port=[443]))
    assert public["flow"]["traffic_locality"] == "public"
    assert public["flow"]["dst_autonomous_system"] == "public"
    assert public["flow"]["src_autonomous_system"] == "private"
    cgnat, _ = _doc(_frame(dst_ip=["100.64.0.1"]))  # OVN join subnet: NOT private for ElastiFlow
    assert cgnat["flow"]["traffic_locality"] == "public"
    v6, _ = _doc(_frame(src_ip=["fd01::5"], dst_ip=["fd02::9"], ip_version=[6]))
    assert v6["flow"]["ip_version"] == "IPv6" and v6["flow"]["traffic_locality"] == "private"


def test_daily_index_uses_utc():
    late = _frame(time=[1625183999999])  # 2021-07-01T23:59:59.999Z
    early = _frame(time=[1625184000000])
    assert _doc(late)[1] == "elastiflow-3.5.0-2021.07.01"
    assert _doc(early)[1] == "elastiflow-3.5.0-2021.07.02"


def test_flowlab_documents_use_canonical_names_and_mapped_fields_only():
    frame = _frame()
    doc = json.loads(flowlab_lines(frame)[0])
    assert doc["time"] == "2021-07-01T12:00:03.512Z"
    assert set(doc) <= set(field_types(FLOWLAB_MAPPING))
    assert doc["service_name"] == "etcd-client" and doc["bytes"] == 1514000


def test_elastiflow_documents_only_use_mapped_fields():
    frame = _frame()
    lines, _ = elastiflow_lines(frame)
    mapped = set(field_types(ELASTIFLOW_MAPPING))

    def leaves(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from leaves(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}"

    assert set(leaves(json.loads(lines[0]))) <= mapped
