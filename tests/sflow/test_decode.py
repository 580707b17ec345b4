"""Decoder: encoder -> decoder round trips, and the behaviour the issue asks for, one case each."""

from __future__ import annotations

import struct

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import has_packet
from sflow_helpers import T0, assert_rows, decode_many
from sflow_strategies import Case, cases

from flowlab import schema
from flowlab.decoding.sequence import SequenceTracker
from flowlab.exceptions import SFlowError
from flowlab.sflow import records as r
from flowlab.sflow.decode import Decoded, decode
from flowlab.sflow.encode import encode_datagram
from flowlab.sflow.packet import build_frame, raw_header


def one_flow(*recs: r.FlowRecord, agent: str = "10.0.0.1", rate: int = 400) -> bytes:
    return encode_datagram(r.Datagram(agent, 1, 1, [r.FlowSample(1, 3, rate, rate, list(recs))]))


def flow_row(*recs: r.FlowRecord) -> dict[str, object]:
    out = decode_many([one_flow(*recs)])
    assert out.stats.datagrams_ok == 1
    return out.flows.row(0, named=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(cases(), min_size=1, max_size=8), st.lists(st.integers(0, 7), min_size=8, max_size=8)
)
def test_round_trip_random_datagrams(items: list[Case], gaps: list[int]) -> None:
    data = [encode_datagram(c.datagram) for c in items]
    out = decode_many(data, gaps=gaps[: len(data)])
    schema.validate(out.flows)
    schema.validate_counters(out.counters)
    assert out.stats.datagrams == out.stats.datagrams_ok == len(items)
    flows = [(T0 + i, row) for i, c in enumerate(items) for row in c.flows]
    # rows in wire order, the bare ones (no packet field) after the others
    flows = [f for f in flows if has_packet(f[1])] + [f for f in flows if not has_packet(f[1])]
    assert_rows(out.flows, [row for _, row in flows])
    assert_rows(out.counters, [row for c in items for row in c.counters])
    assert sum(out.stats.records_skipped.values()) == sum(c.skipped_records for c in items)
    assert out.flows["time"].dt.epoch("ms").to_list() == [t for t, _ in flows]
    n_unknown = sum(isinstance(s, r.UnknownSample) for c in items for s in c.datagram.samples)
    assert out.stats.samples.get("unknown", 0) == n_unknown


def test_bare_flow_samples_follow_the_batch_s_other_rows_with_their_own_fields(core: str) -> None:
    """A flow sample that gives no packet field is a row after the batch's others (decode's
    Notes): its sample's fields and its datagram's, frame length and VLAN when sent, and nulls
    for every packet column, by either core."""
    full = raw_header("10.128.2.7", "10.129.2.9", 6, 40000, 9091, payload_length=100)
    samples = [
        r.FlowSample(1, 3, 400, 400, [], input_if=7, output_if=8),  # no record at all
        r.FlowSample(2, 3, 200, 400, [full], input_if=3),
        r.FlowSample(3, 5, 100, 400, [r.ExtendedSwitch(src_vlan=42)], expanded=True),
        r.FlowSample(4, 3, 50, 400, [r.RawPacketHeader(1500, b"", protocol=2)]),  # unknown header
        r.FlowSample(5, 3, 10, 400, [r.RawPacketHeader(60, b"\x01\x02\x03")]),  # under a MAC
        r.FlowSample(6, 3, 20, 400, [r.SampledIPv4(80, 17, "10.0.0.1", "10.0.0.2", 5353, 53)]),
        r.FlowSample(7, 3, 30, 400, [r.RawPacketHeader(90, bytes(14))]),  # MACs, ethertype 0
    ]
    out = decode_many([encode_datagram(r.Datagram("192.0.2.1", 77, 1000, samples, sub_agent_id=9))])
    schema.validate(out.flows)
    f = out.flows
    assert f["sample_sequence"].to_list() == [2, 6, 7, 1, 3, 4, 5]
    assert f["src_ip"].to_list() == ["10.128.2.7", "10.0.0.1", None, None, None, None, None]
    assert f["src_mac"].null_count() == 5 and f["ethertype"].to_list()[:3] == [0x0800, 0x0800, 0]
    bare = f.tail(4)
    assert bare["packets"].to_list() == [400, 100, 50, 10]
    assert bare["sampling_rate"].to_list() == [400, 100, 50, 10]
    assert bare["frame_length"].to_list() == [None, None, 1500, 60]
    assert bare["bytes"].to_list() == [None, None, 1500 * 50, 60 * 10]
    assert bare["vlan"].to_list() == [None, 42, None, None]
    assert bare["in_if"].to_list()[0] == 7 and bare["out_if"].to_list()[0] == 8
    assert bare["source_id"].to_list() == [3, 5, 3, 3]
    assert set(bare["exporter"]) == {"192.0.2.1"} and set(bare["sequence"]) == {77}
    assert set(bare["sub_agent_id"]) == {9} and set(bare["time"].dt.epoch("ms")) == {T0}
    assert set(bare["source"]) == {"sflow"} and set(bare["flow_format"]) == {"sflow"}
    packet = ["src_ip", "dst_ip", "src_port", "dst_port", "protocol", "ip_version", "tcp_flags",
              "icmp_type", "icmp_code", "tos", "ttl", "ethertype", "src_mac", "dst_mac",
              "client_ip", "server_ip", "client_port", "service_port", "service_name",
              "flow_start", "flow_end", "direction", "observation_domain"]  # fmt: skip
    assert bare.select(pl.col(packet).null_count()).row(0) == (4,) * len(packet)
    # counted like any row without a header or an IP: the bare ones, and the one with MACs only
    assert (out.stats.flows_without_header, out.stats.flows_without_ip) == (3, 5)
    # only bare rows: a frame of them alone; and a batch without any has no second chunk
    alone = decode_many([encode_datagram(r.Datagram("192.0.2.1", 78, 1000, [samples[0]]))])
    assert alone.flows.height == 1 and alone.flows["packets"].to_list() == [400]
    none = decode_many([encode_datagram(r.Datagram("192.0.2.1", 79, 1000, [samples[1]]))])
    assert none.flows.n_chunks() == 1


def test_ipv4_tcp_through_qinq_with_ovs_padding() -> None:
    rec = raw_header(
        "10.128.2.7", "10.129.2.9", 6, 40000, 9091, tcp_flags=0x02, vlans=[100, 200],
        payload_length=1000, snaplen=127, padding=b"\xde\xad\xbe",
    )  # fmt: skip
    row = flow_row(rec, r.ExtendedSwitch(src_vlan=7))
    assert row["src_ip"] == "10.128.2.7" and row["dst_ip"] == "10.129.2.9"
    assert (row["src_port"], row["dst_port"], row["protocol"], row["tcp_flags"]) == (
        40000,
        9091,
        6,
        2,
    )
    assert row["vlan"] == 100  # outer tag wins over extended switch
    assert row["frame_length"] == 14 + 8 + 20 + 20 + 1000 + 4
    assert row["bytes"] == row["frame_length"] * 400 and row["packets"] == 400
    # only SYN: the destination is the server
    assert (row["client_ip"], row["server_ip"], row["service_port"]) == (
        "10.128.2.7", "10.129.2.9", 9091,
    )  # fmt: skip


def test_ipv6_extension_headers_and_icmpv6() -> None:
    rec = raw_header("2001:db8::1", "fe80::2", 58, ipv6_extensions=[0, 43, 44, 60], icmp_type=135)
    row = flow_row(rec)
    assert row["src_ip"] == "2001:db8::1" and row["dst_ip"] == "fe80::2"
    assert (row["protocol"], row["icmp_type"], row["icmp_code"], row["ip_version"]) == (
        58,
        135,
        0,
        6,
    )
    assert row["src_port"] is None and row["service_name"] is None


def test_non_first_fragments_have_no_ports() -> None:
    v4 = flow_row(raw_header("10.0.0.1", "10.0.0.2", 17, 5000, 53, fragment_offset=100))
    v6 = flow_row(raw_header("2001:db8::1", "2001:db8::2", 6, 1, 2, fragment_offset=10))
    for row, proto in ((v4, 17), (v6, 6)):
        assert row["protocol"] == proto and row["src_port"] is None and row["dst_port"] is None


def test_bare_ip_header_protocols_11_and_12() -> None:
    row4 = flow_row(raw_header("192.0.2.1", "192.0.2.2", 17, 68, 67, link="ip"))
    row6 = flow_row(raw_header("2001:db8::a", "2001:db8::b", 17, 546, 547, link="ip"))
    assert (row4["ip_version"], row4["ethertype"], row4["src_mac"], row4["dst_port"]) == (
        4, 0x0800, None, 67,
    )  # fmt: skip
    assert (row6["ip_version"], row6["ethertype"], row6["dst_port"]) == (6, 0x86DD, 547)


@pytest.mark.parametrize(
    ("snap", "present", "absent"),
    [
        (13, ["dst_mac", "src_mac"], ["ethertype", "src_ip", "protocol"]),
        (14 + 10, ["ethertype", "protocol", "ttl", "tos"], ["src_ip", "dst_ip", "src_port"]),
        (14 + 16, ["src_ip"], ["dst_ip", "src_port"]),
        (14 + 20 + 2, ["dst_ip", "src_port"], ["dst_port", "tcp_flags"]),
        (14 + 20 + 4, ["dst_port"], ["tcp_flags"]),
        (14 + 20 + 14, ["tcp_flags"], []),
    ],
)
def test_truncated_headers_give_partial_fields(
    snap: int, present: list[str], absent: list[str]
) -> None:
    rec = raw_header("10.1.1.1", "10.1.1.2", 6, 1234, 443, snaplen=snap, payload_length=100)
    row = flow_row(rec)
    assert all(row[c] is not None for c in present), {c: row[c] for c in present}
    assert all(row[c] is None for c in absent), {c: row[c] for c in absent}
    assert row["frame_length"] == 14 + 40 + 100 + 4


def test_non_ip_frame_is_a_row_without_ip() -> None:
    arp = bytes.fromhex("ffffffffffff020000000001") + b"\x08\x06" + bytes(28)
    out = decode_many([one_flow(r.RawPacketHeader(frame_length=64, header=arp))])
    row = out.flows.row(0, named=True)
    assert (row["ethertype"], row["src_mac"], row["dst_mac"], row["src_ip"]) == (
        0x0806, "02:00:00:00:00:01", "ff:ff:ff:ff:ff:ff", None,
    )  # fmt: skip
    assert out.stats.flows_without_ip == 1 and out.stats.flows_without_header == 0


def test_sample_without_header_is_counted() -> None:
    out = decode_many([one_flow(r.ExtendedSwitch(src_vlan=12))])
    row = out.flows.row(0, named=True)
    assert (row["vlan"], row["frame_length"], row["bytes"], row["packets"]) == (12, None, None, 400)
    assert out.stats.flows_without_header == 1


def test_counters_generic_and_ethernet_make_one_row_and_ovs_records_are_skipped() -> None:
    sample = r.CounterSample(
        5, 3,
        [
            r.GenericInterfaceCounters(3, in_octets=2**40 + 1, out_ucast_pkts=9),
            r.EthernetCounters(fcs_errors=2),
            r.UnknownRecord(r.COUNTERS_OPENFLOW_PORT, bytes(16)),
            r.UnknownRecord(r.COUNTERS_PORT_NAME, b"\x00\x00\x00\x04eth0"),
        ],
    )  # fmt: skip
    dp = r.CounterSample(6, 0, [r.UnknownRecord(r.COUNTERS_OVS_DP, bytes(24)),
                                r.UnknownRecord(r.COUNTERS_APP_RESOURCES, bytes(40))])  # fmt: skip
    out = decode_many([encode_datagram(r.Datagram("10.0.0.9", 1, 1, [sample, dp]))])
    assert out.counters.height == 1
    row = out.counters.row(0, named=True)
    assert (row["if_index"], row["in_octets"], row["out_ucast_pkts"], row["dot3_fcs_errors"]) == (
        3, 2**40 + 1, 9, 2,
    )  # fmt: skip
    assert out.stats.records_skipped == {(0, 1004): 1, (0, 1005): 1, (0, 2207): 1, (0, 2203): 1}
    assert out.stats.samples == {"counters": 2}


def _header(version: int = 5, atype: int = 1, nsamp: int = 0) -> bytes:
    return struct.pack(">II4sIIII", version, atype, bytes([10, 0, 0, 1]), 0, 1, 1, nsamp)


def _sample(tag: int, body: bytes, length: int | None = None) -> bytes:
    return struct.pack(">II", tag, len(body) if length is None else length) + body


FLOW_HEAD = struct.pack(">8I", 1, 3, 400, 400, 0, 1, 2, 1)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00\x00", "truncated_header"),
        (struct.pack(">II", 4, 1) + bytes(20), "wrong_version"),
        (struct.pack(">I", 5), "truncated_header"),
        (struct.pack(">II", 5, 3) + bytes(40), "unknown_agent_type"),
        (_header()[:20], "truncated_header"),
        (_header(nsamp=1000), "implausible_count"),
        (_header(nsamp=2) + _sample(1, bytes(8)), "sample_overrun"),
        (_header(nsamp=1) + _sample(1, bytes(8), length=100), "sample_overrun"),
        (_header(nsamp=1) + _sample(2, bytes(12), length=10) + b"\0\0", "unaligned_length"),
        (_header(nsamp=1) + _sample(1, bytes(16)), "sample_too_short"),
        (_header(nsamp=1) + _sample(1, FLOW_HEAD[:-4] + struct.pack(">I", 9)), "implausible_count"),
        (
            _header(nsamp=1) + _sample(1, FLOW_HEAD + struct.pack(">II", 1, 64) + bytes(8)),
            "record_overrun",
        ),
        (
            _header(nsamp=1) + _sample(1, FLOW_HEAD + struct.pack(">II", 3, 8) + bytes(8)),
            "record_too_short",
        ),
        (
            _header(nsamp=1)
            + _sample(
                1, FLOW_HEAD + struct.pack(">II", 1, 20) + struct.pack(">IIIII", 1, 60, 4, 40, 0)
            ),
            "record_too_short",
        ),
    ],
)
def test_bad_datagrams_are_counted_by_reason(data: bytes, reason: str) -> None:
    good = one_flow(raw_header("10.0.0.1", "10.0.0.2", 17, 1, 2))
    out = decode_many([good, data, good])
    assert out.stats.datagrams == 3 and out.stats.datagrams_ok == 2
    assert out.stats.datagrams_bad == {reason: 1}
    assert out.flows.height == 2


def test_ipv6_agent_and_peer_fallback_for_unspecified_agent() -> None:
    rec = raw_header("10.0.0.1", "10.0.0.2", 17, 1, 2)
    a = one_flow(rec, agent="2001:DB8:0:0:0:0:0:1")
    b = one_flow(rec, agent="0.0.0.0")
    out = decode_many([a, b], peers=["192.0.2.1", "192.0.2.2"])
    assert out.flows["exporter"].to_list() == ["2001:db8::1", "192.0.2.2"]


def test_sequence_gaps_across_batches_and_restart() -> None:
    def dgram(seq: int, agent: str = "10.0.0.1", sub: int = 0) -> bytes:
        return encode_datagram(r.Datagram(agent, seq, 1, [], sub_agent_id=sub))

    state = SequenceTracker()
    first = decode_many([dgram(1), dgram(2), dgram(5), dgram(1, sub=1)], state=state)
    assert first.stats.lost_datagrams == {("10.0.0.1", 0): 2}
    second = decode_many([dgram(6), dgram(9), dgram(3, sub=1), dgram(1)], state=state)
    assert second.stats.lost_datagrams == {("10.0.0.1", 0): 2, ("10.0.0.1", 1): 1}
    assert second.stats.sequence_resets == {("10.0.0.1", 0): 1}
    total = first.stats.merge(second.stats)
    assert total.lost == 5 and total.datagrams == 8


def test_wraparound_is_not_a_restart() -> None:
    state = SequenceTracker()
    seqs = [2**32 - 2, 2**32 - 1, 1, 3]
    data = [encode_datagram(r.Datagram("10.0.0.1", s, 1)) for s in seqs]
    out = decode_many(data, state=state)
    assert out.stats.lost_datagrams == {("10.0.0.1", 0): 2}  # 0 and 2
    assert out.stats.sequence_resets == {}


def test_empty_batch_and_argument_errors() -> None:
    out = decode(b"", [], [], received_ms=[])
    assert out.flows.height == 0 and out.stats.datagrams == 0
    schema.validate(out.flows)
    with pytest.raises(SFlowError, match="one entry per datagram"):
        decode(b"abcd", [0, 1], [1], received_ms=0)
    with pytest.raises(SFlowError, match="received_ms"):
        decode(b"abcd", [0], [4], received_ms=[1, 2])


def test_locators_outside_the_buffer_are_refused() -> None:
    good = one_flow(raw_header("10.0.0.1", "10.0.0.2", 17, 1, 2))
    with pytest.raises(SFlowError, match=r"datagram 1 .* ends beyond the buffer"):
        decode(good, [0, 1], [len(good), len(good)], received_ms=T0)
    with pytest.raises(SFlowError, match=r"offsets must lie in \[0, "):
        decode(good, [0, -1], [len(good), 4], received_ms=T0)


def test_numpy_buffer_and_concat() -> None:
    d = one_flow(raw_header("10.0.0.1", "10.0.0.2", 6, 1, 2))
    arr = np.frombuffer(b"xyz" + d, dtype=np.uint8)
    a = decode(arr, [3], [len(d)], received_ms=T0)
    both = Decoded.concat([a, a])
    assert both.flows.height == 2 and both.stats.datagrams_ok == 2
    assert Decoded.concat([]).flows.height == 0
    assert isinstance(both.flows, pl.DataFrame)


def test_frame_builder_lengths() -> None:
    f = build_frame("10.0.0.1", "10.0.0.2", 6, 1, 2, payload_length=10, vlans=[5])
    assert len(f) == 14 + 4 + 20 + 20 + 10
    untagged = build_frame("10.0.0.1", "10.0.0.2", 6, 1, 2, payload_length=10)
    assert (
        build_frame("10.0.0.1", "10.0.0.2", 6, 1, 2, payload_length=10, snaplen=20) == untagged[:20]
    )
