"""sFlow v5 structures: spec constants and the dataclasses the encoder takes.

Names follow the sFlow v5 specification (sflow.org/sflow_version_5.txt). The
decoder does not build these objects (it decodes whole buffers into columns,
see :mod:`flowlab.sflow.decode`); they exist to *write* datagrams (demo, tests,
benchmarks) and to document the wire format in one place.

Layering, as on the wire: datagram -> sample -> record -> packet header.

Examples
--------
>>> from flowlab.sflow.records import Datagram, FlowSample, RawPacketHeader
>>> d = Datagram(agent="10.0.0.1", sequence=1, uptime_ms=1000,
...              samples=[FlowSample(sequence=1, source_id=3, sampling_rate=400, sample_pool=400,
...                                  records=[RawPacketHeader(frame_length=60, header=b"\\x00" * 60)])])
>>> d.samples[0].records[0].protocol
1
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from flowlab.sflow import _spec
from flowlab.sflow._spec import *  # noqa: F403 (the spec numbers, re-exported)
from flowlab.sflow._spec import HEADER_PROTOCOL_ETHERNET

__all__ = [  # the spec numbers first
    *_spec.__all__,
    "GENERIC_COUNTER_NAMES",
    "CounterRecord",
    "CounterSample",
    "Datagram",
    "EthernetCounters",
    "ExtendedSwitch",
    "FlowRecord",
    "FlowSample",
    "GenericInterfaceCounters",
    "RawPacketHeader",
    "Sample",
    "SampledIPv4",
    "SampledIPv6",
    "UnknownRecord",
    "UnknownSample",
]


@dataclass
class RawPacketHeader:
    """Flow record 0:1, the first bytes of a sampled packet.

    ``stripped`` is the number of bytes removed from the packet before
    sampling (e.g. the FCS, 4). ``padding`` lets tests imitate Open vSwitch,
    which pads the header to a multiple of 4 with non-zero bytes: when given,
    the XDR alignment bytes are taken (cycled) from it instead of zeros.
    """

    frame_length: int
    header: bytes
    protocol: int = HEADER_PROTOCOL_ETHERNET
    stripped: int = 4
    padding: bytes | None = None


@dataclass
class SampledIPv4:
    """Flow record 0:3, an IPv4 packet described by fields rather than bytes."""

    length: int
    protocol: int
    src_ip: str
    dst_ip: str
    src_port: int
    dst_port: int
    tcp_flags: int = 0
    tos: int = 0


@dataclass
class SampledIPv6:
    """Flow record 0:4, an IPv6 packet described by fields."""

    length: int
    protocol: int
    src_ip: str
    dst_ip: str
    src_port: int
    dst_port: int
    tcp_flags: int = 0
    priority: int = 0


@dataclass
class ExtendedSwitch:
    """Flow record 0:1001, VLAN and 802.1p priorities."""

    src_vlan: int = 0
    src_priority: int = 0
    dst_vlan: int = 0
    dst_priority: int = 0


@dataclass
class UnknownRecord:
    """Any record, given by (enterprise, format) and its opaque payload (XDR-padded on write)."""

    format: int
    data: bytes
    enterprise: int = 0


FlowRecord = RawPacketHeader | SampledIPv4 | SampledIPv6 | ExtendedSwitch | UnknownRecord


@dataclass
class GenericInterfaceCounters:
    """Counter record 0:1, the generic interface counters (RFC 2233 ifTable)."""

    if_index: int
    if_type: int = 6
    if_speed: int = 10_000_000_000
    if_direction: int = 1
    if_status: int = 3
    in_octets: int = 0
    in_ucast_pkts: int = 0
    in_multicast_pkts: int = 0
    in_broadcast_pkts: int = 0
    in_discards: int = 0
    in_errors: int = 0
    in_unknown_protos: int = 0
    out_octets: int = 0
    out_ucast_pkts: int = 0
    out_multicast_pkts: int = 0
    out_broadcast_pkts: int = 0
    out_discards: int = 0
    out_errors: int = 0
    promiscuous_mode: int = 0


#: the generic interface counters' field names, in wire order
GENERIC_COUNTER_NAMES: tuple[str, ...] = tuple(f.name for f in fields(GenericInterfaceCounters))


@dataclass
class EthernetCounters:
    """Counter record 0:2, dot3Stats (13 counters, in spec order)."""

    alignment_errors: int = 0
    fcs_errors: int = 0
    single_collision_frames: int = 0
    multiple_collision_frames: int = 0
    sqe_test_errors: int = 0
    deferred_transmissions: int = 0
    late_collisions: int = 0
    excessive_collisions: int = 0
    internal_mac_transmit_errors: int = 0
    carrier_sense_errors: int = 0
    frame_too_longs: int = 0
    internal_mac_receive_errors: int = 0
    symbol_errors: int = 0


CounterRecord = GenericInterfaceCounters | EthernetCounters | UnknownRecord


@dataclass
class FlowSample:
    """A flow sample; ``expanded=True`` writes format 3 (expanded_flow_sample).

    ``source_id`` is the ifIndex (``source_id_type`` 0); interfaces use the
    compact 32-bit encoding (format in the top 2 bits) in format 1 and the
    (format, value) pair in format 3.
    """

    sequence: int
    source_id: int
    sampling_rate: int
    sample_pool: int
    records: list[FlowRecord] = field(default_factory=list)
    drops: int = 0
    input_if: int = 0
    output_if: int = 0
    source_id_type: int = 0
    expanded: bool = False


@dataclass
class CounterSample:
    """A counters sample; ``expanded=True`` writes format 4."""

    sequence: int
    source_id: int
    records: list[CounterRecord] = field(default_factory=list)
    source_id_type: int = 0
    expanded: bool = False


@dataclass
class UnknownSample:
    """Any sample, given by (enterprise, format) and its opaque payload (XDR-padded on write).

    Decoders skip such samples by their length and count them (e.g. the
    discarded-packet sample 0:5 or vendor samples).
    """

    format: int
    data: bytes
    enterprise: int = 0


Sample = FlowSample | CounterSample | UnknownSample


@dataclass
class Datagram:
    """An sFlow v5 datagram. ``agent`` is an IPv4 or IPv6 address in text form."""

    agent: str
    sequence: int
    uptime_ms: int
    samples: list[Sample] = field(default_factory=list)
    sub_agent_id: int = 0
