"""Vectorised parsing of sampled packet headers (sFlow raw-header records).

All headers of a batch are parsed at once: Ethernet, up to three 802.1Q/802.1ad
tags, IPv4 or IPv6 (with up to eight extension headers: hop-by-hop, routing,
fragment, destination options, AH), then TCP/UDP/SCTP/DCCP/UDP-Lite ports, TCP
flags and ICMP/ICMPv6 type/code. Every field carries its own validity mask: a
header cut short yields the fields that fit and nulls for the rest.

Rules (shared with :mod:`tests.sflow.reference`):

- header_protocol 1 is Ethernet; 11/12 are bare IPv4/IPv6; others give nothing.
- ``vlan`` is the outermost tag's VLAN id; id 0 (priority tag) counts as none.
- ``ethertype`` is the type after the tags (a TPID if the header ends inside a
  tag); for bare IP it is 0x0800/0x86DD when the version nibble matches.
- IPv4 needs version nibble 4 (IPv6: 6). Transport fields need IHL >= 5 and a
  first fragment (offset 0) and a complete extension-header chain.
- ``protocol`` is the IPv4 protocol, or the IPv6 next header reached at the end
  of the extension chain (the upper protocol for fragments).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from flowlab._arrays import I64, B
from flowlab.sflow import _spec as r
from flowlab.sflow._buffer import Buffer

__all__ = ["PORT_PROTOCOLS", "HeaderFields", "parse_headers"]


#: IP protocols whose first four transport bytes are source and destination ports
PORT_PROTOCOLS = (6, 17, 33, 132, 136)
_HAS_PORTS = np.isin(np.arange(256), PORT_PROTOCOLS)  # uint8 protocol -> has ports (one gather)
_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
_IPV6_EXT = (0, 43, 44, 51, 60)


@dataclass
class HeaderFields:
    """Parsed fields, one row per header; ``*_ok`` masks say which values are real."""

    ip_version: npt.NDArray[np.uint8]
    src4: npt.NDArray[np.uint32]
    dst4: npt.NDArray[np.uint32]
    src4_ok: B
    dst4_ok: B
    src6: npt.NDArray[np.uint32]
    dst6: npt.NDArray[np.uint32]
    src6_ok: B
    dst6_ok: B
    protocol: npt.NDArray[np.uint8]
    protocol_ok: B
    src_port: npt.NDArray[np.uint16]
    src_port_ok: B
    dst_port: npt.NDArray[np.uint16]
    dst_port_ok: B
    tcp_flags: npt.NDArray[np.uint16]
    tcp_flags_ok: B
    icmp_type: npt.NDArray[np.uint8]
    icmp_type_ok: B
    icmp_code: npt.NDArray[np.uint8]
    icmp_code_ok: B
    tos: npt.NDArray[np.uint8]
    tos_ok: B
    ttl: npt.NDArray[np.uint8]
    ttl_ok: B
    ethertype: npt.NDArray[np.uint16]
    ethertype_ok: B
    vlan: npt.NDArray[np.uint16]
    vlan_ok: B
    src_mac: npt.NDArray[np.uint64]
    src_mac_ok: B
    dst_mac: npt.NDArray[np.uint64]
    dst_mac_ok: B


def _mac(buf: Buffer, pos: I64) -> npt.NDArray[np.uint64]:
    hi = buf.u16(pos).astype(np.uint64)
    lo = buf.u32(pos + 2).astype(np.uint64)
    return (hi << np.uint64(32)) | lo


#: Ethernet + IPv6 without extension headers + the first 14 transport bytes = 68 bytes
_FAST_WORDS = 17
_IPV6_NEXT_EXT = np.isin(np.arange(256), _IPV6_EXT)  # next header -> is an extension header


def parse_headers(buf: Buffer, hp: npt.NDArray[np.uint32], start: I64, hlen: I64) -> HeaderFields:
    """Parse the headers at ``buf[start : start + hlen]`` (header_protocol `hp`).

    Untagged Ethernet + IPv4 without options (what most samples are), and
    untagged Ethernet + IPv6 without extension headers, take fast paths: the
    first 68 bytes in one gather, every field at a fixed offset. Everything
    else goes through the general parser; all follow the same rules (the
    differential tests check them against the reference).
    """
    w = buf.u32x(start, _FAST_WORDS)
    eth = hp == r.HEADER_PROTOCOL_ETHERNET
    fast = eth & (hlen >= 34) & ((w[:, 3] >> 8) == 0x080045)
    out = _fast(w, hlen)
    if fast.all():
        return out
    empty = hlen <= 0
    if empty.any():  # no bytes (or no header record at all): every field null
        i0 = np.flatnonzero(empty)
        out.ip_version[i0] = 0
        for name in HeaderFields.__dataclass_fields__:
            if name.endswith("_ok"):
                getattr(out, name)[i0] = False
        fast |= empty
    fast6 = eth & (hlen >= 54) & ((w[:, 3] >> 12) == 0x86DD6) & ~_IPV6_NEXT_EXT[w[:, 5] >> 24]
    if fast6.any():
        i6 = np.flatnonzero(fast6)
        six = _fast6(w[i6], hlen[i6])
        for name in HeaderFields.__dataclass_fields__:
            getattr(out, name)[i6] = getattr(six, name)
        fast |= fast6
    if not fast.all():  # the others (VLAN, options, extension headers, bare IP, short): general
        si = np.flatnonzero(~fast)
        slow = _general(buf, hp[si], start[si], hlen[si])
        for name in HeaderFields.__dataclass_fields__:
            getattr(out, name)[si] = getattr(slow, name)
    return out


def _untagged_ethernet(w: npt.NDArray[np.uint32], ethertype: int) -> dict[str, np.ndarray]:
    """The Ethernet fields of untagged headers from their first words, each array fresh (the
    caller's rows are overwritten in place)."""
    n = w.shape[0]
    u64 = w[:, :3].astype(np.uint64)
    return {
        "ethertype": np.full(n, ethertype, dtype=np.uint16),
        "ethertype_ok": np.ones(n, dtype=bool),
        "vlan": np.zeros(n, dtype=np.uint16),
        "vlan_ok": np.zeros(n, dtype=bool),
        "dst_mac": (u64[:, 0] << np.uint64(16)) | (u64[:, 1] >> np.uint64(16)),
        "dst_mac_ok": np.ones(n, dtype=bool),
        "src_mac": ((u64[:, 1] & np.uint64(0xFFFF)) << np.uint64(32)) | u64[:, 2],
        "src_mac_ok": np.ones(n, dtype=bool),
    }


def _transport(
    w: npt.NDArray[np.uint32], at: int, hlen: I64, proto: npt.NDArray[np.uint8], l4_ok: B
) -> dict[str, np.ndarray]:
    """Ports, TCP flags and ICMP type/code of a transport header at byte ``4 * at + 2`` of the
    words `w` (Ethernet + IPv4 without options: ``at`` 8; + IPv6 without extensions: 13)."""
    l4 = 4 * at + 2
    ports = l4_ok & _HAS_PORTS[proto]
    icmp = l4_ok & ((proto == 1) | (proto == 58))
    flags = w[:, at + 3]
    return {
        "src_port": (w[:, at] & 0xFFFF).astype(np.uint16),
        "src_port_ok": ports & (hlen >= l4 + 2),
        "dst_port": (w[:, at + 1] >> 16).astype(np.uint16),
        "dst_port_ok": ports & (hlen >= l4 + 4),
        "tcp_flags": ((((flags >> 8) & 1) << 8) | (flags & 0xFF)).astype(np.uint16),
        "tcp_flags_ok": l4_ok & (proto == 6) & (hlen >= l4 + 14),
        "icmp_type": ((w[:, at] >> 8) & 0xFF).astype(np.uint8),
        "icmp_type_ok": icmp & (hlen >= l4 + 1),
        "icmp_code": (w[:, at] & 0xFF).astype(np.uint8),
        "icmp_code_ok": icmp & (hlen >= l4 + 2),
    }


def _fast(w: npt.NDArray[np.uint32], hlen: I64) -> HeaderFields:
    """Fields of untagged Ethernet/IPv4 (IHL 5) headers of >= 34 bytes from their first 12 words.

    Every array is freshly allocated (callers overwrite the rows that are not this layout).
    """
    n = w.shape[0]
    frag = w[:, 5] >> 16
    proto = (w[:, 5] & 0xFF).astype(np.uint8)
    first = (frag & 0x1FFF) == 0

    def yes() -> B:
        return np.ones(n, dtype=bool)

    def no() -> B:
        return np.zeros(n, dtype=bool)

    return HeaderFields(
        ip_version=np.full(n, 4, dtype=np.uint8),
        src4=(((w[:, 6] & 0xFFFF) << 16) | (w[:, 7] >> 16)).astype(np.uint32),
        dst4=(((w[:, 7] & 0xFFFF) << 16) | (w[:, 8] >> 16)).astype(np.uint32),
        src4_ok=yes(),
        dst4_ok=yes(),
        src6=np.zeros((n, 4), dtype=np.uint32),
        dst6=np.zeros((n, 4), dtype=np.uint32),
        src6_ok=no(),
        dst6_ok=no(),
        protocol=proto,
        protocol_ok=yes(),
        **_transport(w, 8, hlen, proto, first),
        tos=(w[:, 3] & 0xFF).astype(np.uint8),
        tos_ok=yes(),
        ttl=((w[:, 5] >> 8) & 0xFF).astype(np.uint8),
        ttl_ok=yes(),
        **_untagged_ethernet(w, 0x0800),
    )


def _fast6(w: npt.NDArray[np.uint32], hlen: I64) -> HeaderFields:
    """Fields of untagged Ethernet/IPv6 headers without extension headers, of >= 54 bytes."""
    n = w.shape[0]
    nh = (w[:, 5] >> 24).astype(np.uint8)

    def yes() -> B:
        return np.ones(n, dtype=bool)

    def no() -> B:
        return np.zeros(n, dtype=bool)

    zeros = np.zeros(n, dtype=np.uint32)
    return HeaderFields(
        ip_version=np.full(n, 6, dtype=np.uint8),
        src4=zeros,
        dst4=zeros,
        src4_ok=no(),
        dst4_ok=no(),
        src6=(((w[:, 5:9] & 0xFFFF) << 16) | (w[:, 6:10] >> 16)).astype(np.uint32),
        dst6=(((w[:, 9:13] & 0xFFFF) << 16) | (w[:, 10:14] >> 16)).astype(np.uint32),
        src6_ok=yes(),
        dst6_ok=yes(),
        protocol=nh,
        protocol_ok=yes(),
        **_transport(w, 13, hlen, nh, np.ones(nh.size, dtype=bool)),
        tos=((w[:, 3] >> 4) & 0xFF).astype(np.uint8),
        tos_ok=yes(),
        ttl=((w[:, 5] >> 16) & 0xFF).astype(np.uint8),
        ttl_ok=yes(),
        **_untagged_ethernet(w, 0x86DD),
    )


def _general(buf: Buffer, hp: npt.NDArray[np.uint32], start: I64, hlen: I64) -> HeaderFields:
    """Any header: Ethernet/VLAN/bare IP, IPv4 options, IPv6 extension chains, truncation."""
    n = start.size

    def fits(rel: I64, size: int) -> B:
        return np.asarray(rel + size <= hlen)

    eth = hp == r.HEADER_PROTOCOL_ETHERNET
    zero = np.zeros(n, dtype=np.int64)
    dst_mac_ok = eth & fits(zero, 6)
    src_mac_ok = eth & fits(zero, 12)
    dst_mac = _mac(buf, start)
    src_mac = _mac(buf, start + 6)
    et = buf.u16(start + 12)
    et_ok = eth & fits(zero, 14)
    l3 = np.where(eth, 14, 0).astype(np.int64)
    vlan = np.zeros(n, dtype=np.uint16)
    vlan_seen = np.zeros(n, dtype=bool)
    for _ in range(3):
        tagged = et_ok & np.isin(et, _VLAN_TPIDS)
        if not tagged.any():
            break
        has = tagged & fits(l3, 4)
        tci = buf.u16(start + l3)
        first = has & ~vlan_seen
        vlan[first] = tci[first] & 0x0FFF
        vlan_seen |= has
        et = np.where(has, buf.u16(start + l3 + 2), et)
        l3 = np.where(has, l3 + 4, l3)
    vlan_ok = vlan_seen & (vlan != 0)

    b0 = buf.u8(start + l3)
    b0_ok = fits(l3, 1)
    v4 = (
        ((eth & et_ok & (et == 0x0800)) | (hp == r.HEADER_PROTOCOL_IPV4)) & b0_ok & ((b0 >> 4) == 4)
    )
    v6 = (
        ((eth & et_ok & (et == 0x86DD)) | (hp == r.HEADER_PROTOCOL_IPV6)) & b0_ok & ((b0 >> 4) == 6)
    )
    ip_version = np.where(v4, 4, np.where(v6, 6, 0)).astype(np.uint8)
    ethertype = np.where(
        hp == r.HEADER_PROTOCOL_IPV4, 0x0800, np.where(hp == r.HEADER_PROTOCOL_IPV6, 0x86DD, et)
    ).astype(np.uint16)
    ethertype_ok = et_ok | v4 | v6

    # IPv4
    ihl = (b0 & 0x0F).astype(np.int64) * 4
    tos4 = buf.u8(start + l3 + 1)
    frag = buf.u16(start + l3 + 6)
    ttl4 = buf.u8(start + l3 + 8)
    proto4 = buf.u8(start + l3 + 9)
    src4 = buf.u32(start + l3 + 12)
    dst4 = buf.u32(start + l3 + 16)
    src4_ok = v4 & fits(l3, 16)
    dst4_ok = v4 & fits(l3, 20)
    l4_ok4 = v4 & (ihl >= 20) & fits(l3, 10) & ((frag & 0x1FFF) == 0)

    # IPv6 and its extension headers
    word = buf.u32(start + l3)
    tc6 = ((word >> 20) & 0xFF).astype(np.uint8)
    nh = buf.u8(start + l3 + 6)
    hop = buf.u8(start + l3 + 7)
    src6_ok = v6 & fits(l3, 24)
    dst6_ok = v6 & fits(l3, 40)
    src6 = np.zeros((n, 4), dtype=np.uint32)
    dst6 = np.zeros((n, 4), dtype=np.uint32)
    i6 = np.flatnonzero(v6)
    if i6.size:
        at = start[i6] + l3[i6]
        for k in range(4):
            src6[i6, k] = buf.u32(at + 8 + 4 * k)
            dst6[i6, k] = buf.u32(at + 24 + 4 * k)
    proto6 = nh.copy()
    cur = l3 + 40
    chain = v6 & fits(l3, 7)
    for _ in range(8):
        ext = chain & np.isin(proto6, _IPV6_EXT)
        if not ext.any():
            break
        have2 = ext & fits(cur, 2)
        nxt = buf.u8(start + cur)
        elen = buf.u8(start + cur + 1).astype(np.int64)
        isfrag = proto6 == 44
        frag_off = buf.u16(start + cur + 2) >> 3
        size = np.where(isfrag, 8, np.where(proto6 == 51, (elen + 2) * 4, (elen + 1) * 8))
        stop = (ext & ~have2) | (isfrag & have2 & (~fits(cur, 4) | (frag_off != 0)))
        proto6 = np.where(have2, nxt, proto6)
        cur = np.where(have2, cur + size, cur)
        chain &= ~stop
    chain &= ~np.isin(proto6, _IPV6_EXT)

    protocol = np.where(v4, proto4, proto6).astype(np.uint8)
    protocol_ok = (v4 & fits(l3, 10)) | (v6 & fits(l3, 7))
    l4 = np.where(v4, l3 + ihl, cur)
    l4_ok = l4_ok4 | chain
    ports = l4_ok & np.isin(protocol, PORT_PROTOCOLS)
    is_tcp = l4_ok & (protocol == 6)
    is_icmp = l4_ok & ((protocol == 1) | (protocol == 58))
    flags = ((buf.u8(start + l4 + 12).astype(np.uint16) & 1) << 8) | buf.u8(start + l4 + 13)
    return HeaderFields(
        ip_version=ip_version,
        src4=src4,
        dst4=dst4,
        src4_ok=src4_ok,
        dst4_ok=dst4_ok,
        src6=src6,
        dst6=dst6,
        src6_ok=src6_ok,
        dst6_ok=dst6_ok,
        protocol=protocol,
        protocol_ok=protocol_ok,
        src_port=buf.u16(start + l4),
        src_port_ok=ports & fits(l4, 2),
        dst_port=buf.u16(start + l4 + 2),
        dst_port_ok=ports & fits(l4, 4),
        tcp_flags=flags.astype(np.uint16),
        tcp_flags_ok=is_tcp & fits(l4, 14),
        icmp_type=buf.u8(start + l4),
        icmp_type_ok=is_icmp & fits(l4, 1),
        icmp_code=buf.u8(start + l4 + 1),
        icmp_code_ok=is_icmp & fits(l4, 2),
        tos=np.where(v4, tos4, tc6).astype(np.uint8),
        tos_ok=(v4 & fits(l3, 2)) | (v6 & fits(l3, 2)),
        ttl=np.where(v4, ttl4, hop).astype(np.uint8),
        ttl_ok=(v4 & fits(l3, 9)) | (v6 & fits(l3, 8)),
        ethertype=ethertype,
        ethertype_ok=ethertype_ok,
        vlan=vlan,
        vlan_ok=vlan_ok,
        src_mac=src_mac,
        src_mac_ok=src_mac_ok,
        dst_mac=dst_mac,
        dst_mac_ok=dst_mac_ok,
    )
