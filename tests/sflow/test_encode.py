"""Encoder: wire layout checked word by word against the sFlow v5 specification.

Round trips through the decoder and tshark cross-checks live in test_decode.py
and test_tshark.py; these tests pin the byte layout itself.
"""

from __future__ import annotations

import struct

import pytest

from flowlab.exceptions import SFlowError
from flowlab.sflow import records as r
from flowlab.sflow.encode import encode_datagram, encode_record, encode_sample


def words(data: bytes) -> tuple[int, ...]:
    assert len(data) % 4 == 0
    return struct.unpack(f">{len(data) // 4}I", data)


def test_datagram_header_ipv4_and_ipv6() -> None:
    v4 = encode_datagram(r.Datagram("192.0.2.9", sequence=77, uptime_ms=123, sub_agent_id=3))
    assert words(v4) == (5, 1, 0xC0000209, 3, 77, 123, 0)
    v6 = encode_datagram(r.Datagram("2001:db8::1", sequence=1, uptime_ms=2))
    assert v6[:8] == struct.pack(">II", 5, 2)
    assert v6[8:24] == bytes.fromhex("20010db8000000000000000000000001")
    assert words(v6[24:]) == (0, 1, 2, 0)


def test_compact_flow_sample_layout() -> None:
    rec = r.RawPacketHeader(frame_length=64, header=b"\x01" * 6, stripped=4)
    s = r.FlowSample(
        sequence=9,
        source_id=3,
        sampling_rate=400,
        sample_pool=800,
        records=[rec],
        drops=2,
        input_if=3,
        output_if=0x3FFFFFFF,
        source_id_type=0,
    )
    data = encode_sample(s)
    w = words(data)
    assert w[0] == 1 and w[1] == len(data) - 8
    assert w[2:10] == (9, 3, 400, 800, 2, 3, 0x3FFFFFFF, 1)
    # record: format 1, length 16 + 8 (6 header bytes padded to 8)
    assert w[10:16] == (1, 24, 1, 64, 4, 6)
    assert data[64:72] == b"\x01" * 6 + b"\x00\x00"


def test_expanded_flow_sample_splits_interface_format() -> None:
    s = r.FlowSample(
        sequence=1,
        source_id=70000,
        sampling_rate=1,
        sample_pool=1,
        expanded=True,
        input_if=(1 << 30) | 5,
        output_if=(2 << 30) | 3,
        source_id_type=2,
    )
    w = words(encode_sample(s))
    assert w[0] == 3
    assert w[2:13] == (1, 2, 70000, 1, 1, 0, 1, 5, 2, 3, 0)


def test_compact_source_id_overflow_is_a_clear_error() -> None:
    s = r.CounterSample(sequence=1, source_id=1 << 24)
    with pytest.raises(SFlowError, match="expanded=True"):
        encode_sample(s)
    assert words(encode_sample(r.CounterSample(1, 1 << 24, expanded=True)))[:6] == (
        4,
        16,
        1,
        0,
        1 << 24,
        0,
    )


def test_ovs_style_nonzero_padding() -> None:
    rec = r.RawPacketHeader(frame_length=100, header=b"\xee" * 5, padding=b"\xab\xcd")
    data = encode_record(rec)
    assert words(data[:24]) == (1, 24, 1, 100, 4, 5)
    assert data[24:] == b"\xee" * 5 + b"\xab\xcd\xab"
    # aligned headers get no padding at all, as in Open vSwitch
    aligned = encode_record(r.RawPacketHeader(frame_length=100, header=b"\xee" * 8, padding=b"x"))
    assert len(aligned) == 24 + 8


def test_sampled_and_switch_records() -> None:
    v4 = encode_record(r.SampledIPv4(60, 17, "10.0.0.1", "10.0.0.2", 53, 1000, 0, 0xB8))
    assert words(v4) == (3, 32, 60, 17, 0x0A000001, 0x0A000002, 53, 1000, 0, 0xB8)
    v6 = encode_record(r.SampledIPv6(80, 6, "::1", "fe80::2", 1, 2, 0x12, 5))
    assert words(v6[:16]) == (4, 56, 80, 6)
    assert v6[16:32] == bytes(15) + b"\x01"
    assert words(v6[48:]) == (1, 2, 0x12, 5)
    assert words(encode_record(r.ExtendedSwitch(10, 1, 20, 2))) == (1001, 16, 10, 1, 20, 2)


def test_counter_records() -> None:
    gen = r.GenericInterfaceCounters(
        if_index=7, in_octets=(1 << 40) + 5, out_octets=3, in_ucast_pkts=11, promiscuous_mode=1
    )
    data = encode_record(gen)
    assert words(data[:8]) == (1, 88)
    assert len(data) == 96
    idx, typ, speed, direction, status, in_oct, in_uc = struct.unpack(">IIQIIQI", data[8:44])
    assert (idx, typ, speed, direction, status, in_oct, in_uc) == (
        7,
        6,
        10_000_000_000,
        1,
        3,
        (1 << 40) + 5,
        11,
    )
    assert struct.unpack(">I", data[-4:]) == (1,)
    eth = encode_record(r.EthernetCounters(fcs_errors=4, symbol_errors=9))
    assert words(eth) == (2, 52, 0, 4, *([0] * 10), 9)


def test_unknown_record_and_sample_with_enterprise() -> None:
    data = encode_record(r.UnknownRecord(format=2207, data=b"abcde", enterprise=0))
    assert words(data[:8]) == (2207, 8)
    assert data[8:] == b"abcde\x00\x00\x00"
    vendor = encode_sample(r.UnknownSample(format=5, data=b"", enterprise=4413))
    assert words(vendor) == ((4413 << 12) | 5, 0)


@pytest.mark.parametrize(
    ("datagram", "needle"),
    [
        (r.Datagram("not-an-ip", 1, 1), "agent"),
        (r.Datagram("10.0.0.1", -1, 1), "sequence"),
        (
            r.Datagram(
                "10.0.0.1",
                1,
                1,
                [r.FlowSample(1, 1, 1, 1, [r.SampledIPv4(1, 6, "10.0.0.1", "::1", 1, 2)])],
            ),
            "SampledIPv4",
        ),
        (r.Datagram("10.0.0.1", 1, 1, [r.UnknownSample(format=5000, data=b"")]), "format < 4096"),
    ],
)
def test_bad_values_raise_sflow_error(datagram: r.Datagram, needle: str) -> None:
    with pytest.raises(SFlowError, match=needle):
        encode_datagram(datagram)
