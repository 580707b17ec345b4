"""Shared data and helpers of the collector/capture/decoder fault tests (tests/faults)."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


def pcap_frames(name: str = "ovs-default") -> list[tuple[int, int, bytes]]:
    """(seconds, microseconds, Ethernet frame) of each packet of a classic little-endian pcap."""
    raw = (DATA / f"{name}.pcap").read_bytes()
    assert raw[:4] == b"\xd4\xc3\xb2\xa1"
    out, pos = [], 24
    while pos + 16 <= len(raw):
        sec, usec, incl, _orig = struct.unpack_from("<IIII", raw, pos)
        out.append((sec, usec, raw[pos + 16 : pos + 16 + incl]))
        pos += 16 + incl
    return out


def ovs_datagrams(name: str = "ovs-default") -> list[bytes]:
    """The sFlow datagrams (UDP payloads) Open vSwitch sent in a capture of ``tests/data``."""
    grams = []
    for _s, _u, frame in pcap_frames(name):
        assert frame[12:14] == b"\x08\x00"  # IPv4, as captured on lo
        ihl = (frame[14] & 0x0F) * 4
        udp = 14 + ihl
        grams.append(frame[udp + 8 : udp + struct.unpack_from("!H", frame, udp + 4)[0]])
    return grams


def renumbered(grams: Sequence[bytes], start: int) -> list[bytes]:
    """The datagrams with datagram sequence numbers ``start, start+1, ...`` per agent stream."""
    out = []
    for i, g in enumerate(grams):
        seq_at = 16 if struct.unpack_from("!I", g, 4)[0] == 1 else 28
        b = bytearray(g)
        struct.pack_into("!I", b, seq_at, (start + i) & 0xFFFFFFFF)
        out.append(bytes(b))
    return out


def replay(grams: Iterable[bytes], address: tuple[str, int], *, per_second: float = 20_000) -> int:
    """Send datagrams over loopback UDP, paced; returns how many were sent."""
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    n = 0
    t0 = time.monotonic()
    try:
        for g in grams:
            tx.sendto(g, address)
            n += 1
            ahead = n / per_second - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
    finally:
        tx.close()
    return n


def expected_rows(grams: Sequence[bytes]) -> tuple[int, int]:
    """(flows, counters) the decoder makes of these datagrams."""
    from flowlab.sflow.decode import decode

    buf = b"".join(grams)
    offsets, pos = [], 0
    for g in grams:
        offsets.append(pos)
        pos += len(g)
    out = decode(buf, offsets, [len(g) for g in grams], received_ms=1_700_000_000_000)
    return out.stats.flows, out.stats.counters


def can_mount_tmpfs() -> bool:
    """Whether this machine lets us mount a tmpfs in a private mount namespace (root, util-linux)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         "mount -t tmpfs -o size=64k flowlab-probe /mnt && umount /mnt"],
        capture_output=True, check=False,
    )  # fmt: skip
    return probe.returncode == 0


needs_tmpfs = pytest.mark.skipif(
    not can_mount_tmpfs(), reason="needs root and unshare/nsenter to mount a private tmpfs"
)
