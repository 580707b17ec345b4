"""Locate UDP payloads in captured packets, vectorised over all packets of a chunk.

Link types: Ethernet (with up to two 802.1Q/802.1ad tags), Linux cooked
capture v1 (SLL) and v2 (SLL2), raw IP (101, and 12/14 as some systems write
them), IPv4 (228), IPv6 (229), BSD loopback/null (0) and OpenBSD loop (108).
IPv4 and IPv6 (with hop-by-hop, routing and destination-options headers)
carrying UDP. IP fragments are marked (``fragment``) with where their IP and
IPv6 fragment headers are, for :mod:`flowlab.capture._reassembly`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np
import numpy.typing as npt

from flowlab import _accel
from flowlab._arrays import I64, U8

__all__ = ["LINK_TYPES", "SKIP_REASONS", "Located", "locate"]


#: supported link types (pcap LINKTYPE_* values) and their names
LINK_TYPES = {
    0: "null",
    1: "ethernet",
    12: "raw",
    14: "raw",
    101: "raw",
    108: "loop",
    113: "linux_sll",
    228: "ipv4",
    229: "ipv6",
    276: "linux_sll2",
}
#: why a packet carried no sFlow datagram (index 0 = it did)
SKIP_REASONS = ("", "truncated_packet", "link_type", "not_ip", "fragment", "not_udp", "other_port")
_TRUNC, _LINK, _NOT_IP, _FRAG, _NOT_UDP, _PORT = 1, 2, 3, 4, 5, 6
_NULL_FAMILIES = (2, 10, 24, 28, 30)  # AF_INET, AF_INET6 (Linux, BSDs, macOS)


@dataclass
class Located:
    """Per packet: skip reason (0 = sFlow payload found), payload offset/length, source IP.

    ``l3`` and ``l4`` are offsets from the packet's start: the IP header, and the
    transport header (for an IPv6 fragment: its fragment header).
    """

    reason: U8
    payload_off: I64
    payload_len: I64
    src4: npt.NDArray[np.uint32]
    src6: npt.NDArray[np.uint32]
    is6: npt.NDArray[np.bool_]
    l3: I64
    l4: I64


def locate(data: U8, off: I64, caplen: I64, linktype: I64, port: int | tuple[int, ...]) -> Located:
    """Find the UDP payload sent to `port` (or any of several) in each packet ``data[off : off + caplen]``.

    By the compiled core (``native/linktypes.c``) when it runs, with the same results.
    """
    core = _accel.native()
    ports = (port,) if isinstance(port, int) else tuple(port)
    if core is not None and len(ports) <= 16:
        return _compiled(core, data, off, caplen, linktype, ports)
    n = off.size
    lim = data.size - 1
    reason = np.zeros(n, dtype=np.uint8)

    def u8(rel: I64) -> U8:
        return data[np.minimum(off + rel, lim)]

    def u16(rel: I64) -> npt.NDArray[np.uint16]:
        return np.asarray((u8(rel).astype(np.uint16) << 8) | u8(rel + 1), dtype=np.uint16)

    def fail(cond: npt.NDArray[np.bool_], code: int) -> None:
        reason[cond & (reason == 0)] = code

    zero = np.zeros(n, dtype=np.int64)
    eth = linktype == 1
    sll = linktype == 113
    sll2 = linktype == 276
    bare = np.isin(linktype, (12, 14, 101, 228, 229))
    null = (linktype == 0) | (linktype == 108)
    fail(~(eth | sll | sll2 | bare | null), _LINK)

    # link layer -> (l3 offset, ethertype or "look at the version nibble")
    l3 = np.select([eth, sll, sll2, null], [14, 16, 20, 4], 0).astype(np.int64)
    et = np.select([eth, sll, sll2], [u16(zero + 12), u16(zero + 14), u16(zero)], 0)
    fail((eth & (caplen < 14)) | (sll & (caplen < 16)) | (sll2 & (caplen < 20)), _TRUNC)
    fail(null & (caplen < 4), _TRUNC)
    for _ in range(2):
        tagged = eth & ((et == 0x8100) | (et == 0x88A8))
        if not tagged.any():
            break
        fail(tagged & (caplen < l3 + 4), _TRUNC)
        et = np.where(tagged, u16(l3 + 2), et)
        l3 = np.where(tagged, l3 + 4, l3)
    if null.any():
        fam_le = u8(zero) | (u8(zero + 1).astype(np.uint32) << 8)
        fam_be = u8(zero + 3) | (u8(zero + 2).astype(np.uint32) << 8)
        known = np.isin(fam_le, _NULL_FAMILIES) | np.isin(fam_be, _NULL_FAMILIES)
        fail(null & ~known, _NOT_IP)
    nibble = u8(l3) >> 4
    by_nibble = bare | null
    v4 = np.where(by_nibble, nibble == 4, et == 0x0800) & ~(linktype == 229)
    v6 = np.where(by_nibble, nibble == 6, et == 0x86DD) & ~(linktype == 228)
    fail(~(v4 | v6), _NOT_IP)

    # IPv4
    ihl = (u8(l3) & 0x0F).astype(np.int64) * 4
    frag4 = u16(l3 + 6)
    fail(v4 & (caplen < l3 + 20), _TRUNC)
    fail(v4 & ((frag4 & 0x3FFF) != 0), _FRAG)  # MF set or offset != 0
    proto = np.where(v4, u8(l3 + 9), u8(l3 + 6)).astype(np.int64)
    l4 = np.where(v4, l3 + ihl, l3 + 40)
    fail(v4 & (ihl < 20), _NOT_IP)

    # IPv6 extension headers before UDP
    fail(v6 & (caplen < l3 + 40), _TRUNC)
    for _ in range(4):
        ext = v6 & np.isin(proto, (0, 43, 60))
        if not ext.any():
            break
        fail(ext & (caplen < l4 + 2), _TRUNC)
        size = (u8(l4 + 1).astype(np.int64) + 1) * 8
        proto = np.where(ext, u8(l4), proto)
        l4 = np.where(ext, l4 + size, l4)
    fail(v6 & (proto == 44), _FRAG)
    fail(proto != 17, _NOT_UDP)
    fail(caplen < l4 + 8, _TRUNC)
    fail(~np.isin(u16(l4 + 2), port), _PORT)
    udp_len = u16(l4 + 4).astype(np.int64)
    payload_len = np.clip(np.minimum(udp_len - 8, caplen - l4 - 8), 0, None)
    src4 = (
        (u8(l3 + 12).astype(np.uint32) << 24)
        | (u8(l3 + 13).astype(np.uint32) << 16)
        | (u8(l3 + 14).astype(np.uint32) << 8)
        | u8(l3 + 15)
    )
    src6 = np.zeros((n, 4), dtype=np.uint32)
    i6 = np.flatnonzero(v6 & (reason == 0))
    if i6.size:
        for k in range(16):
            src6[i6, k // 4] |= data[off[i6] + l3[i6] + 8 + k].astype(np.uint32) << (
                24 - 8 * (k % 4)
            )
    return Located(
        reason=reason,
        payload_off=off + l4 + 8,
        payload_len=payload_len,
        src4=src4.astype(np.uint32),
        src6=src6,
        is6=v6,
        l3=l3,
        l4=l4,
    )


def _compiled(
    core: ModuleType, data: U8, off: I64, caplen: I64, linktype: I64, ports: tuple[int, ...]
) -> Located:
    n = off.size
    out = Located(
        reason=np.empty(n, dtype=np.uint8),
        payload_off=np.empty(n, dtype=np.int64),
        payload_len=np.empty(n, dtype=np.int64),
        src4=np.empty(n, dtype=np.uint32),
        src6=np.empty((n, 4), dtype=np.uint32),
        is6=np.empty(n, dtype=bool),
        l3=np.empty(n, dtype=np.int64),
        l4=np.empty(n, dtype=np.int64),
    )
    core.linktypes_locate(
        np.ascontiguousarray(data),
        *(np.ascontiguousarray(a, dtype=np.int64) for a in (off, caplen, linktype)),
        ports,
        out.reason, out.payload_off, out.payload_len, out.src4, out.src6, out.is6, out.l3, out.l4,
    )  # fmt: skip
    return out
