"""Packet capture files: pcap/pcapng reading and writing, link types, IP reassembly.

Not tied to one flow protocol: the reader finds UDP datagrams in a capture
(reassembling IP fragments) and hands them to a protocol decoder.
"""

from __future__ import annotations

from flowlab.capture.pcap import iter_pcap, read_pcap
from flowlab.capture.pcap_write import write_pcap, write_pcapng

__all__ = ["iter_pcap", "read_pcap", "write_pcap", "write_pcapng"]
