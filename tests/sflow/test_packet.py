"""Packet-header builder: the frames it writes, as the real tshark dissects them (checksums on)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from flowlab.capture.pcap_write import write_pcap
from flowlab.exceptions import SFlowError
from flowlab.sflow.packet import build_frame, raw_header

FIELDS = ["ieee8021ad.id", "vlan.id", "ip.src", "ipv6.dst", "ipv6.nxt", "ip.proto", "tcp.flags", "udp.dstport",
          "icmpv6.type", "ip.ttl", "ip.dsfield", "ip.checksum.status", "tcp.checksum.status",
          "udp.checksum.status", "icmpv6.checksum.status", "frame.len"]  # fmt: skip


def dissect(tmp_path: Path, frames: list[bytes]) -> list[dict[str, str]]:
    tshark = shutil.which("tshark")
    assert tshark, "tshark is required (Debian package tshark)"
    path = tmp_path / "frames.pcap"
    write_pcap(path, [(1.0 + i, f) for i, f in enumerate(frames)])
    cmd = [tshark, "-r", str(path), "-n", "-T", "fields", "-E", "separator=|", "-E", "occurrence=a",
           "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
           "-o", "udp.check_checksum:TRUE"]  # fmt: skip
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout
    return [dict(zip(FIELDS, line.split("|"))) for line in out.splitlines()]


def test_frames_dissect_as_built_with_good_checksums(tmp_path: Path) -> None:
    frames = [
        build_frame("10.128.2.7", "10.129.2.9", 6, 40000, 9091, tcp_flags=0x12, ttl=63, tos=0xB8,
                    vlans=[100, 200], payload_length=30),
        build_frame("2001:db8::1", "fd00::53", 17, 5353, 53, ipv6_extensions=[0, 43, 60],
                    payload_length=12),
        build_frame("fe80::1", "fe80::2", 58, icmp_type=135),
    ]  # fmt: skip
    a, b, c = dissect(tmp_path, frames)
    assert a["ieee8021ad.id"] == "100" and a["vlan.id"] == "200"  # QinQ: 802.1ad outer tag
    assert a["ip.src"] == "10.128.2.7" and a["ip.proto"] == "6"
    assert a["tcp.flags"] == "0x0012" and a["ip.ttl"] == "63" and a["ip.dsfield"] == "0xb8"
    assert a["ip.checksum.status"] == "1" and a["tcp.checksum.status"] == "1"  # 1 = good
    assert int(a["frame.len"]) == 14 + 8 + 20 + 20 + 30
    assert b["ipv6.dst"] == "fd00::53" and b["ipv6.nxt"] == "0" and b["udp.dstport"] == "53"
    assert b["udp.checksum.status"] == "1"
    assert c["icmpv6.type"] == "135" and c["icmpv6.checksum.status"] == "1"


def test_snaplen_and_raw_header_lengths() -> None:
    full = build_frame("10.0.0.1", "10.0.0.2", 17, 1, 2, payload_length=1000)
    assert len(full) == 14 + 20 + 8 + 1000
    assert (
        build_frame("10.0.0.1", "10.0.0.2", 17, 1, 2, payload_length=1000, snaplen=64) == full[:64]
    )
    rec = raw_header("10.0.0.1", "10.0.0.2", 17, 1, 2, payload_length=1000)
    assert (rec.frame_length, rec.stripped, rec.header) == (len(full) + 4, 4, full[:128])
    frag = build_frame("10.0.0.1", "10.0.0.2", 17, 1, 2, fragment_offset=10, payload_length=40)
    assert len(frag) == 14 + 20 + 40  # a non-first fragment has no UDP header


@pytest.mark.parametrize(
    ("args", "kwargs", "needle"),
    [
        (("10.0.0.1", "2001:db8::1"), {}, "both be IPv4 or IPv6"),
        (("10.0.0.300", "10.0.0.1"), {}, "needs IP addresses"),
        (("10.0.0.1", "10.0.0.2"), {"src_mac": "zz"}, "MAC address"),
        (("10.0.0.1", "10.0.0.2"), {"ipv6_extensions": [0]}, "only apply to IPv6"),
        (("::1", "::2"), {"ipv6_extensions": [51]}, "extension header must be one of"),
    ],
)
def test_bad_arguments_raise_sflow_error(
    args: tuple[str, str], kwargs: dict[str, object], needle: str
) -> None:
    with pytest.raises(SFlowError, match=needle):
        build_frame(*args, **kwargs)  # type: ignore[arg-type]
