"""The Internet checksum (RFC 1071) of IPv4, TCP, UDP and ICMP headers.

Shared by the capture writer (:func:`flowlab.capture.pcap_write.udp_frame`)
and the protocol encoders that build sampled frames (:mod:`flowlab.sflow.packet`).

Examples
--------
>>> hex(internet_checksum(bytes.fromhex("4500003c1c4640004006 0000 ac100a63ac100a0c".replace(" ", ""))))
'0xb1e6'
"""

from __future__ import annotations

import struct

__all__ = ["internet_checksum"]


def internet_checksum(data: bytes) -> int:
    """The RFC 1071 ones'-complement checksum of IPv4, TCP, UDP and ICMP headers."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
