"""Layout detection and custom field maps (no server needed)."""

from __future__ import annotations

import pytest

from flowlab.elastic._layout import Layout, type_family
from flowlab.elastic.profiles import PROFILES, custom_profile, detect_profile, layout_error
from flowlab.exceptions import ConfigError, UnknownLayoutError
from flowlab.schema import FLOW_SCHEMA


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        (["time", "src_ip", "dst_ip", "bytes", "sampling_rate", "service_name"], "flowlab"),
        (
            ["@timestamp", "flow.src_addr", "flow.dst_addr", "flow.bytes", "node.ipaddr"],
            "elastiflow3",
        ),
        (["@timestamp", "flow.src.ip.addr", "flow.dst.ip.addr", "l4.proto.name"], "codex"),
        (["@timestamp", "source.ip", "destination.ip", "network.transport"], "ecs"),
    ],
)
def test_detection(fields, name):
    assert detect_profile({f: {"keyword"} for f in fields}).name == name


def test_unknown_layout_lists_what_it_saw():
    with pytest.raises(UnknownLayoutError, match=r"fields seen: a, b\.c\. Pass field_map"):
        detect_profile({"a": {"long"}}, seen=["b.c"])
    many = layout_error([f"f{i:03d}" for i in range(100)])
    assert "(100 fields)" in str(many)
    named = layout_error(["x"], profile="ecs", missing=["source.ip"])
    assert "the ecs layout needs (source.ip)" in str(named)


def test_every_profile_reads_known_columns_with_known_kinds():
    for profile in PROFILES.values():
        assert set(profile.columns) <= {*FLOW_SCHEMA, "_ecn"}
        assert profile.fields()[0] == profile.time_field
        assert all(f in profile.fields() for f in profile.required if f in profile.fields())
    ef = PROFILES["elastiflow3"]
    assert "flow.src_port" in ef.fields(["client_ip"])  # orientation needs the raw fields
    assert "sflow.ip_ecn" in ef.fields(["tos"])
    # bytes needs its fallback inputs (frame_length x sampling rate) too
    assert ef.fields(["bytes"]) == [
        "@timestamp",
        "flow.bytes",
        "flow.sampling_interval",
        "sflow.frame_length",
    ]


def test_restricted_drops_unmapped_candidates():
    ef = PROFILES["elastiflow3"].restricted({"@timestamp": 1, "flow.tcp_flags": 1})
    assert [s.field for s in ef.sources("tcp_flags")] == ["flow.tcp_flags"]
    assert ef.sources("src_ip") == ()


def test_custom_profile():
    p = custom_profile(
        {"time": "ts", "src_ip": "sa", "dst_ip": "da", "protocol": "proto", "bytes": "octets"}
    )
    assert p.name == "custom" and p.orient
    assert p.sources("protocol")[0].kind == "proto"
    assert p.dimensions["src"] == "sa" and p.metrics == {"bytes": "octets"}
    based = custom_profile({"exporter": "agent"}, base=PROFILES["elastiflow3"])
    assert based.name == "elastiflow3+field_map"
    assert based.sources("exporter")[0].field == "agent" and based.dimensions["exporter"] == "agent"
    with pytest.raises(ConfigError, match="unknown canonical columns"):
        custom_profile({"pod": "x"})
    with pytest.raises(ConfigError, match="at least 'time', 'src_ip' and 'dst_ip'"):
        custom_profile({"bytes": "octets"})


def test_layout_helpers():
    lay = Layout(
        indices=("a", "b"),
        types={
            "x": {"keyword": ("a",), "long": ("b",)},
            "y": {"text": ()},
            "y.keyword": {"keyword": ()},
        },
        aggregatable={"x": True, "y": False, "y.keyword": True},
    )
    assert set(lay.conflicts()) == {"x"}
    assert lay.families("x") == {"string", "number"}
    assert lay.group_field("y") == "y.keyword" and lay.group_field("z") is None
    assert type_family("integer") == type_family("long") == "number"
    assert type_family("ip") == "ip" and type_family("geo_point") == "geo_point"
