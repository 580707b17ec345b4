"""The real Open vSwitch sFlow datagrams of ``tests/data`` as benchmark input (shared by benchmarks).

``ovs-default.pcap`` (1-in-400) and ``ovs-sampling1.pcap`` (1-in-1), made with Open vSwitch
3.1 (see ``tests/data/README.md``): 64 datagrams, 361 flow samples (raw header + extended
switch), 23 counter samples with OVS's 1004/1005/2203/2207 records.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "faults"))
from fault_data import pcap_frames, renumbered

CAPTURES = ("ovs-default", "ovs-sampling1")
UDP_PAYLOAD = 42  # Ethernet + IPv4 (no options, as captured on lo) + UDP

__all__ = ["CAPTURES", "UDP_PAYLOAD", "real_datagrams", "renumbered"]


def flow_samples(gram: bytes, *, ip_only: bool = False) -> int:
    """Flow samples (compact format 1) in an sFlow v5 datagram with an IPv4 agent; with
    `ip_only`, those whose raw header is IPv4 or IPv6 (what sfacctd accounts; not ARP, say)."""
    assert struct.unpack_from("!I", gram, 4)[0] == 1, "IPv4 agent"
    pos, flows = 28, 0
    for _ in range(struct.unpack_from("!I", gram, 24)[0]):
        kind, length = struct.unpack_from("!II", gram, pos)
        if kind == 1:
            flows += not ip_only or _ip_header(gram, pos + 8)
        pos += 8 + length
    return flows


def _ip_header(gram: bytes, sample: int) -> bool:
    """Whether the flow sample at `sample` has a raw Ethernet header carrying IPv4/IPv6."""
    pos = sample + 32  # sequence, source, rate, pool, drops, input, output, record count
    for _ in range(struct.unpack_from("!I", gram, sample + 28)[0]):
        fmt, length = struct.unpack_from("!II", gram, pos)
        if fmt == 1:  # raw packet header: protocol, frame length, stripped, header length, bytes
            eth = pos + 8 + 16
            (etype,) = struct.unpack_from("!H", gram, eth + 12)
            if etype == 0x8100:
                (etype,) = struct.unpack_from("!H", gram, eth + 16)
            return etype in (0x0800, 0x86DD)
        pos += 8 + length
    return False


def real_datagrams() -> tuple[list[bytes], list[bytes], list[int]]:
    """(frame headers with UDP checksum 0, sFlow payloads, flow samples of each) in capture order."""
    heads, grams, flows = [], [], []
    for name in CAPTURES:
        for _s, _u, frame in pcap_frames(name):
            assert frame[12:14] == b"\x08\x00" and frame[14] == 0x45, "IPv4 without options"
            head = bytearray(frame[:UDP_PAYLOAD])
            head[40:42] = b"\x00\x00"  # UDP checksum 0 (allowed in IPv4)
            heads.append(bytes(head))
            grams.append(frame[UDP_PAYLOAD:])
            flows.append(flow_samples(frame[UDP_PAYLOAD:]))
    return heads, grams, flows
