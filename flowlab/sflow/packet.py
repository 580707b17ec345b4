"""Build the packet headers an sFlow exporter copies into a raw-header record.

:func:`build_frame` writes Ethernet (optionally 802.1Q / QinQ tagged) or bare
IP, IPv4 or IPv6 (optionally with extension headers), and a TCP, UDP, SCTP,
ICMP or ICMPv6 header for a given 5-tuple, with the payload as zero bytes and
correct IPv4/TCP/UDP/ICMP checksums. :func:`raw_header` wraps it the way Open
vSwitch samples a packet: the first ``snaplen`` bytes, ``frame_length`` =
frame + 4 FCS bytes, ``stripped`` = 4.

Examples
--------
>>> frame = build_frame("10.0.0.1", "10.0.0.2", 6, 40000, 443, payload_length=1000)
>>> len(frame), frame[12:14].hex(), frame[23]
(1054, '0800', 6)
>>> rec = raw_header("10.0.0.1", "10.0.0.2", 6, 40000, 443, payload_length=1000)
>>> rec.frame_length, len(rec.header)
(1058, 128)
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Sequence
from typing import Literal

from flowlab.capture.checksum import internet_checksum
from flowlab.exceptions import SFlowError
from flowlab.sflow.records import (
    HEADER_PROTOCOL_ETHERNET,
    HEADER_PROTOCOL_IPV4,
    HEADER_PROTOCOL_IPV6,
    RawPacketHeader,
)

__all__ = ["IPV6_EXTENSIONS", "build_frame", "raw_header"]

#: IPv6 extension headers :func:`build_frame` can insert: hop-by-hop, routing, fragment, dest options.
IPV6_EXTENSIONS = (0, 43, 44, 60)
_PORT_PROTOCOLS = (6, 17, 33, 132, 136)


def _mac(text: str) -> bytes:
    parts = text.replace("-", ":").split(":")
    try:
        raw = bytes(int(p, 16) for p in parts)
    except ValueError:
        raw = b""
    if len(raw) != 6:
        msg = f"MAC address must look like 02:00:00:00:00:01, found {text!r}"
        raise SFlowError(msg)
    return raw


def _l4(
    protocol: int,
    src_port: int,
    dst_port: int,
    tcp_flags: int,
    icmp_type: int,
    icmp_code: int,
) -> bytes:
    if protocol == 6:
        offset_ns = (5 << 4) | ((tcp_flags >> 8) & 1)
        return struct.pack(
            ">HHIIBBHHH", src_port, dst_port, 1, 1, offset_ns, tcp_flags & 0xFF, 65535, 0, 0
        )
    if protocol in (17, 136):
        return struct.pack(">HHHH", src_port, dst_port, 0, 0)
    if protocol == 132:
        return struct.pack(">HHII", src_port, dst_port, 0, 0)
    if protocol == 33:
        return struct.pack(">HHBBHI", src_port, dst_port, 3, 0, 0, 0)
    if protocol in (1, 58):
        return struct.pack(">BBHHH", icmp_type, icmp_code, 0, 1, 1)
    return b""


def _l4_checksum_at(protocol: int) -> int | None:
    return {6: 16, 17: 6, 136: 6, 1: 2, 58: 2}.get(protocol)


def _ipv6_extension(kind: int, next_header: int, fragment_word: int, segment: bytes) -> bytes:
    if kind == 44:
        return struct.pack(">BBHI", next_header, 0, fragment_word, 0x12345678)
    if kind == 43:  # segment routing header (type 4): one segment, none left, 24 bytes
        return struct.pack(">BBBBBBH", next_header, 2, 4, 0, 0, 0, 0) + segment
    if kind in (0, 60):  # PadN option filling the 8 bytes
        return struct.pack(">BBBB4x", next_header, 0, 1, 4)
    msg = f"IPv6 extension header must be one of {IPV6_EXTENSIONS}, found {kind}"
    raise SFlowError(msg)


def _frame(
    src_ip: str,
    dst_ip: str,
    protocol: int,
    src_port: int,
    dst_port: int,
    *,
    tcp_flags: int,
    ttl: int,
    tos: int,
    payload_length: int,
    icmp_type: int | None,
    icmp_code: int,
    src_mac: str,
    dst_mac: str,
    vlans: Sequence[int],
    ipv6_extensions: Sequence[int],
    fragment_offset: int,
    more_fragments: bool,
    link: Literal["ethernet", "ip"],
) -> tuple[bytes, int]:
    """Return (all header bytes, total frame length without FCS)."""
    try:
        src = ipaddress.ip_address(src_ip)
        dst = ipaddress.ip_address(dst_ip)
    except ValueError as exc:
        msg = f"build_frame needs IP addresses, found {src_ip!r} -> {dst_ip!r}"
        raise SFlowError(msg) from exc
    if src.version != dst.version:
        msg = f"source and destination must both be IPv4 or IPv6, found {src_ip} and {dst_ip}"
        raise SFlowError(msg)
    v6 = src.version == 6
    if icmp_type is None:
        icmp_type = 128 if v6 else 8
    first_fragment = fragment_offset == 0
    l4 = (
        _l4(protocol, src_port, dst_port, tcp_flags, icmp_type, icmp_code)
        if first_fragment
        else b""
    )
    l4_len = len(l4) + payload_length
    if l4 and (at := _l4_checksum_at(protocol)) is not None:
        if v6:
            pseudo = src.packed + dst.packed + struct.pack(">IxxxB", l4_len, protocol)
        else:
            pseudo = src.packed + dst.packed + struct.pack(">xBH", protocol, l4_len)
        if protocol == 1:
            pseudo = b""
        csum = internet_checksum(pseudo + l4)
        if protocol in (17, 136) and csum == 0:
            csum = 0xFFFF
        l4 = l4[:at] + struct.pack(">H", csum) + l4[at + 2 :]
    frag_word = ((fragment_offset & 0x1FFF) << 3) | (1 if more_fragments else 0)
    if v6:
        ext = b""
        kinds = list(ipv6_extensions)
        if (fragment_offset or more_fragments) and 44 not in kinds:
            kinds.append(44)
        for i, kind in enumerate(kinds):
            nxt = kinds[i + 1] if i + 1 < len(kinds) else protocol
            ext += _ipv6_extension(kind, nxt, frag_word, dst.packed)
        first = kinds[0] if kinds else protocol
        vtf = (6 << 28) | ((tos & 0xFF) << 20) | 0x12345
        ip = struct.pack(">IHBB", vtf, len(ext) + l4_len, first, ttl) + src.packed + dst.packed
        ip += ext
        ethertype = 0x86DD
    else:
        if ipv6_extensions:
            msg = "ipv6_extensions only apply to IPv6 frames"
            raise SFlowError(msg)
        flags_frag = (0x4000 if first_fragment and not more_fragments else 0) | (
            0x2000 if more_fragments else 0
        )
        flags_frag |= fragment_offset & 0x1FFF
        total = 20 + l4_len
        head = struct.pack(">BBHHHBBH", 0x45, tos, total, 0x1234, flags_frag, ttl, protocol, 0)
        head += src.packed + dst.packed
        ip = head[:10] + struct.pack(">H", internet_checksum(head)) + head[12:]
        ethertype = 0x0800
    if link == "ip":
        return ip + l4, len(ip) + l4_len
    eth = _mac(dst_mac) + _mac(src_mac)
    tags = list(vlans)
    for i, vid in enumerate(tags):
        tpid = 0x88A8 if (len(tags) > 1 and i == 0) else 0x8100
        eth += struct.pack(">HH", tpid, vid & 0x0FFF)
    eth += struct.pack(">H", ethertype)
    return eth + ip + l4, len(eth) + len(ip) + l4_len


def build_frame(
    src_ip: str,
    dst_ip: str,
    protocol: int = 6,
    src_port: int = 0,
    dst_port: int = 0,
    *,
    tcp_flags: int = 0x18,
    ttl: int = 64,
    tos: int = 0,
    payload_length: int = 0,
    icmp_type: int | None = None,
    icmp_code: int = 0,
    src_mac: str = "02:00:00:00:00:01",
    dst_mac: str = "02:00:00:00:00:02",
    vlans: Sequence[int] = (),
    ipv6_extensions: Sequence[int] = (),
    fragment_offset: int = 0,
    more_fragments: bool = False,
    link: Literal["ethernet", "ip"] = "ethernet",
    snaplen: int | None = None,
) -> bytes:
    """Build a frame for a 5-tuple: headers plus ``payload_length`` zero bytes.

    Parameters
    ----------
    src_ip, dst_ip : str
        IPv4 or IPv6 addresses (same family).
    protocol : int
        IP protocol: 6 TCP, 17 UDP, 132 SCTP, 33 DCCP, 136 UDP-Lite, 1 ICMP,
        58 ICMPv6 get their header; others get none.
    src_port, dst_port : int
        Transport ports (ignored for ICMP).
    tcp_flags : int
        TCP flags, 9 bits (NS=256 goes into the data-offset byte).
    ttl, tos : int
        IPv4 TTL/TOS or IPv6 hop limit/traffic class.
    payload_length : int
        Bytes after the transport header.
    icmp_type, icmp_code : int
        ICMP header; type defaults to echo request (8, or 128 for ICMPv6).
    src_mac, dst_mac : str
        Ethernet addresses.
    vlans : sequence of int
        802.1Q VLAN ids, outermost first; two tags make QinQ (outer TPID 0x88a8).
    ipv6_extensions : sequence of int
        IPv6 extension headers in order, from :data:`IPV6_EXTENSIONS`.
    fragment_offset, more_fragments :
        Make the packet an IP fragment (offset in 8-byte units); a non-first
        fragment carries no transport header.
    link : {"ethernet", "ip"}
        ``"ip"`` omits the Ethernet header (sFlow header_protocol 11/12).
    snaplen : int, optional
        Return only the first `snaplen` bytes, as an exporter copies them.

    Returns
    -------
    bytes
        The frame (without FCS), or its first `snaplen` bytes.

    Examples
    --------
    >>> f = build_frame("2001:db8::1", "2001:db8::2", 17, 5353, 53, vlans=[100],
    ...                 ipv6_extensions=[0, 60])
    >>> f[12:16].hex(), f[16:18].hex(), len(f)
    ('81000064', '86dd', 82)
    """
    head, total = _frame(
        src_ip,
        dst_ip,
        protocol,
        src_port,
        dst_port,
        tcp_flags=tcp_flags,
        ttl=ttl,
        tos=tos,
        payload_length=payload_length,
        icmp_type=icmp_type,
        icmp_code=icmp_code,
        src_mac=src_mac,
        dst_mac=dst_mac,
        vlans=vlans,
        ipv6_extensions=ipv6_extensions,
        fragment_offset=fragment_offset,
        more_fragments=more_fragments,
        link=link,
    )
    size = total if snaplen is None else min(total, snaplen)
    if size <= len(head):
        return head[:size]
    return head + b"\x00" * (size - len(head))


def raw_header(
    src_ip: str,
    dst_ip: str,
    protocol: int = 6,
    src_port: int = 0,
    dst_port: int = 0,
    *,
    snaplen: int = 128,
    padding: bytes | None = None,
    **kwargs: object,
) -> RawPacketHeader:
    """Sample a frame the way Open vSwitch does: a raw-header flow record (0:1).

    Takes the arguments of :func:`build_frame`. ``frame_length`` counts the
    4-byte FCS for Ethernet frames (``stripped`` = 4), as Open vSwitch reports
    it; bare IP headers (``link="ip"``) get header_protocol 11/12 and no FCS.

    Examples
    --------
    >>> rec = raw_header("10.1.1.1", "10.1.1.2", 17, 1000, 53, payload_length=30, link="ip")
    >>> rec.protocol, rec.frame_length, rec.stripped, len(rec.header)
    (11, 58, 0, 58)
    """
    full = build_frame(src_ip, dst_ip, protocol, src_port, dst_port, **kwargs)  # type: ignore[arg-type]
    if kwargs.get("link", "ethernet") == "ip":
        proto = HEADER_PROTOCOL_IPV6 if ":" in src_ip else HEADER_PROTOCOL_IPV4
        return RawPacketHeader(
            frame_length=len(full),
            header=full[:snaplen],
            protocol=proto,
            stripped=0,
            padding=padding,
        )
    return RawPacketHeader(
        frame_length=len(full) + 4,
        header=full[:snaplen],
        protocol=HEADER_PROTOCOL_ETHERNET,
        stripped=4,
        padding=padding,
    )
