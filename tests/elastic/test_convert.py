"""Flat columns -> canonical values: conversions, and losses counted (no server needed)."""

from __future__ import annotations

import json
from typing import Any

from flowlab.elastic._convert import ConversionStats, to_canonical
from flowlab.elastic._pages import parse_page
from flowlab.elastic.profiles import PROFILES

EF = PROFILES["elastiflow3"]


def _response(sources: list[dict[str, Any]]) -> bytes:
    hits = [{"_source": s, "sort": [i]} for i, s in enumerate(sources)]
    return json.dumps({"hits": {"hits": hits}}, separators=(",", ":")).encode()


def test_values_are_converted_or_counted():
    docs = [
        {"@timestamp": "2021-07-01T12:00:03.512+02:00", "flow": {"ip_protocol": "tcp", "src_port": "51000", "tcp_flags": ["SYN"], "ip_version": "IPv6"}},
        {"@timestamp": "2021-07-01", "flow": {"ip_protocol": "UNKNOWN(99)", "src_port": 70000, "tcp_flags": "none", "ip_version": "ipv4"}},
        {"@timestamp": "yesterday", "flow": {"ip_protocol": "bogus", "src_port": "x", "tcp_flags": ["ACK", "WAT"], "ip_version": "7"}},
        {"@timestamp": "1625140803512", "flow": {"ip_protocol": "6", "src_port": 443.0, "tcp_flags": "24", "ip_version": 4}},
    ]  # fmt: skip
    page = parse_page(_response(docs), multi=EF.multi_fields)
    stats = ConversionStats()
    out = to_canonical(
        page.frame,
        EF,
        columns=["time", "protocol", "src_port", "tcp_flags", "ip_version"],
        stats=stats,
    )
    assert out["protocol"].to_list() == [6, 99, None, 6]
    assert out["src_port"].to_list() == [51000, None, None, 443]
    assert out["tcp_flags"].to_list() == [2, 0, None, 24]
    assert out["ip_version"].to_list() == [6, 4, None, 4]
    assert out["time"].dt.epoch("ms").to_list() == [
        1625133603512,
        1625097600000,
        None,
        1625140803512,
    ]
    assert stats.lost == {
        "@timestamp": 1,
        "flow.ip_protocol": 1,
        "flow.src_port": 2,
        "flow.tcp_flags": 1,
        "flow.ip_version": 1,
    }
    assert stats.examples["flow.src_port"] in ("70000", "x")
    assert "flow.src_port: 2" in stats.describe()


def test_scaled_volume_is_derived_when_only_frame_length_and_rate_exist():
    docs = [
        {
            "@timestamp": "2021-07-01T00:00:00Z",
            "flow": {"sampling_interval": 400},
            "sflow": {"frame_length": "100"},
        }
    ]
    out = to_canonical(parse_page(_response(docs)).frame, EF, columns=["bytes", "packets"])
    assert out.row(0) == (40000, 400)
