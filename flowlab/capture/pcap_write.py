"""Write capture files of UDP datagrams (sFlow, ...): pcap and pcapng, several link types.

Used by the tests, the benchmarks and anyone who wants to save simulated
traffic for Wireshark. :func:`udp_frame` wraps a payload in Ethernet (or
Linux cooked, raw IP, BSD null) + IPv4/IPv6 + UDP with correct checksums;
:func:`sflow_packets` does that for a list of datagrams with timestamps.

Examples
--------
>>> import tempfile, os
>>> frame = udp_frame(b"hello", "192.0.2.1", "192.0.2.9", 40000, 6343)
>>> len(frame), frame[12:14].hex()
(47, '0800')
>>> path = os.path.join(tempfile.mkdtemp(), "a.pcapng")
>>> write_pcapng(path, [(1.5, frame)])
>>> os.path.getsize(path) > 47
True
"""

from __future__ import annotations

import ipaddress
import os
import struct
from collections.abc import Iterable, Sequence
from typing import Literal

from flowlab.capture.checksum import internet_checksum
from flowlab.exceptions import ConfigError

__all__ = ["LINKS", "sflow_packets", "udp_frame", "write_pcap", "write_pcapng"]

Link = Literal["ethernet", "vlan", "linux_sll", "linux_sll2", "raw", "null"]
#: link names -> pcap LINKTYPE values
LINKS: dict[str, int] = {
    "ethernet": 1,
    "vlan": 1,
    "linux_sll": 113,
    "linux_sll2": 276,
    "raw": 101,
    "null": 0,
}
Packet = tuple[float | tuple[int, int], bytes]


def udp_frame(
    payload: bytes,
    src: str,
    dst: str,
    sport: int,
    dport: int,
    *,
    link: Link = "ethernet",
    vlan: int = 100,
    ttl: int = 64,
) -> bytes:
    """One UDP packet as captured on `link` (IPv4 or IPv6 by the addresses)."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version != d.version:
        msg = f"source and destination must be the same IP version, found {src} and {dst}"
        raise ConfigError(msg)
    ulen = 8 + len(payload)
    if s.version == 4:
        pseudo = s.packed + d.packed + struct.pack(">xBH", 17, ulen)
    else:
        pseudo = s.packed + d.packed + struct.pack(">IxxxB", ulen, 17)
    csum = (
        internet_checksum(pseudo + struct.pack(">HHHH", sport, dport, ulen, 0) + payload) or 0xFFFF
    )
    udp = struct.pack(">HHHH", sport, dport, ulen, csum) + payload
    if s.version == 4:
        head = struct.pack(">BBHHHBBH", 0x45, 0, 20 + ulen, 0x4242, 0x4000, ttl, 17, 0)
        head += s.packed + d.packed
        ip = head[:10] + struct.pack(">H", internet_checksum(head)) + head[12:] + udp
        ethertype, family = 0x0800, 2
    else:
        ip = struct.pack(">IHBB", 6 << 28, ulen, 17, ttl) + s.packed + d.packed + udp
        ethertype, family = 0x86DD, 10
    macs = bytes.fromhex("0200000000aa0200000000bb")
    if link == "ethernet":
        return macs + struct.pack(">H", ethertype) + ip
    if link == "vlan":
        return macs + struct.pack(">HHH", 0x8100, vlan, ethertype) + ip
    if link == "linux_sll":
        return struct.pack(">HHH8sH", 0, 1, 6, macs[6:] + b"\0\0", ethertype) + ip
    if link == "linux_sll2":
        return struct.pack(">HHIHBB8s", ethertype, 0, 2, 1, 0, 6, macs[6:] + b"\0\0") + ip
    if link == "raw":
        return ip
    if link == "null":
        return struct.pack("<I", family) + ip
    msg = f"unknown link {link!r}; use one of {sorted(LINKS)}"
    raise ConfigError(msg)


def sflow_packets(
    datagrams: Sequence[bytes],
    *,
    agent: str = "192.0.2.1",
    collector: str = "192.0.2.250",
    port: int = 6343,
    start_s: float = 1_700_000_000.0,
    interval_s: float = 0.001,
    link: Link = "ethernet",
) -> list[Packet]:
    """Wrap sFlow datagrams into timestamped UDP packets from `agent` to `collector`."""
    collector_ip = collector
    if ":" in agent and ":" not in collector:
        collector_ip = "2001:db8::fa"
    return [
        (start_s + i * interval_s, udp_frame(d, agent, collector_ip, 50000, port, link=link))
        for i, d in enumerate(datagrams)
    ]


def _split(ts: float | tuple[int, int], units: int) -> tuple[int, int]:
    if isinstance(ts, tuple):
        return ts
    sec = int(ts)
    return sec, round((ts - sec) * units)


def write_pcap(
    path: str | os.PathLike[str],
    packets: Iterable[Packet],
    *,
    link: Link = "ethernet",
    nanoseconds: bool = False,
    byteorder: Literal["<", ">"] = "<",
    snaplen: int = 262144,
) -> None:
    """Write a classic pcap file.

    Parameters
    ----------
    packets : iterable of (timestamp, frame)
        Timestamp in seconds (float) or ``(seconds, fraction)`` in the file's
        units (microseconds, or nanoseconds with `nanoseconds`).
    link, nanoseconds, byteorder, snaplen :
        File header fields; frames longer than `snaplen` are cut (as a
        capture with ``-s snaplen`` would).
    """
    units = 1_000_000_000 if nanoseconds else 1_000_000
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    with open(path, "wb") as f:
        f.write(struct.pack(byteorder + "IHHiIII", magic, 2, 4, 0, 0, snaplen, LINKS[link]))
        for ts, frame in packets:
            sec, frac = _split(ts, units)
            cut = frame[:snaplen]
            f.write(struct.pack(byteorder + "IIII", sec, frac, len(cut), len(frame)) + cut)


def _block(endian: str, btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(endian + "II", btype, n) + body + struct.pack(endian + "I", n)


def write_pcapng(
    path: str | os.PathLike[str],
    packets: Iterable[Packet | tuple[float | tuple[int, int], bytes, int]],
    *,
    interfaces: Sequence[tuple[Link, int]] = (("ethernet", 6),),
    byteorder: Literal["<", ">"] = "<",
    simple: bool = False,
) -> None:
    """Write a pcapng file with one section.

    Parameters
    ----------
    packets : iterable of (timestamp, frame) or (timestamp, frame, interface)
        Timestamp in seconds (float) or an integer count of the interface's
        units given as ``(units, 0)``.
    interfaces : sequence of (link, tsresol)
        One interface description block each; ``tsresol`` is the power of 10
        of the timestamp unit (6 = microseconds, 9 = nanoseconds) or, with
        bit 7 set, a power of 2.
    simple : bool
        Write simple packet blocks (no timestamps, interface 0) instead of
        enhanced ones.
    """
    e = byteorder
    out = [_block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))]
    units: list[int] = []
    for link, resol in interfaces:
        opts = struct.pack(e + "HHB3x", 9, 1, resol) + struct.pack(e + "HH", 0, 0)
        out.append(_block(e, 1, struct.pack(e + "HHI", LINKS[link], 0, 0) + opts))
        units.append(2 ** (resol & 0x7F) if resol & 0x80 else 10**resol)
    with open(path, "wb") as f:
        f.write(b"".join(out))
        for item in packets:
            ts, frame = item[0], item[1]
            iface = item[2] if len(item) > 2 else 0
            if simple:
                f.write(_block(e, 3, struct.pack(e + "I", len(frame)) + frame))
                continue
            count = ts[0] if isinstance(ts, tuple) else round(ts * units[iface])
            head = struct.pack(
                e + "IIIII", iface, count >> 32, count & 0xFFFFFFFF, len(frame), len(frame)
            )
            f.write(_block(e, 6, head + frame))
