"""sFlow v5: records, encoder and vectorised decoder.

Layered like the wire format (transport -> datagram -> sample -> record ->
packet header): :mod:`~flowlab.sflow.records` holds the spec constants,
:mod:`~flowlab.sflow.encode` writes datagrams, :mod:`~flowlab.sflow.decode`
turns buffers of datagrams into canonical frames, :mod:`flowlab.capture`
reads capture files, :mod:`flowlab.collect` owns the UDP socket.

Examples
--------
>>> from flowlab.sflow import Datagram, FlowSample, raw_header, encode_datagram, decode
>>> rec = raw_header("10.128.2.7", "10.129.2.9", 6, 51000, 9091, payload_length=1000)
>>> d = Datagram(agent="10.0.0.21", sequence=1, uptime_ms=5000, samples=[
...     FlowSample(sequence=1, source_id=3, sampling_rate=400, sample_pool=400, records=[rec])])
>>> wire = encode_datagram(d)
>>> out = decode(wire, [0], [len(wire)], received_ms=[0])
>>> out.flows.select("src_ip", "dst_ip", "service_name", "packets").row(0)
('10.128.2.7', '10.129.2.9', 'xmltec-xmlmail', 400)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowlab import _lazy
from flowlab.decoding.sequence import SequenceTracker
from flowlab.decoding.stats import DecodeStats
from flowlab.sflow.decode import Decoded, decode

if TYPE_CHECKING:
    from flowlab.sflow.encode import encode_datagram, encode_record, encode_sample
    from flowlab.sflow.packet import build_frame, raw_header
    from flowlab.sflow.records import (
        CounterSample,
        Datagram,
        EthernetCounters,
        ExtendedSwitch,
        FlowSample,
        GenericInterfaceCounters,
        RawPacketHeader,
        SampledIPv4,
        SampledIPv6,
        UnknownRecord,
    )

#: the writing side and the record classes, imported on first use: reading captures (the
#: decoder's first use) skips them
_LAZY = {
    "flowlab.sflow.encode": ("encode_datagram", "encode_record", "encode_sample"),
    "flowlab.sflow.packet": ("build_frame", "raw_header"),
    "flowlab.sflow.records": (
        "CounterSample",
        "Datagram",
        "EthernetCounters",
        "ExtendedSwitch",
        "FlowSample",
        "GenericInterfaceCounters",
        "RawPacketHeader",
        "SampledIPv4",
        "SampledIPv6",
        "UnknownRecord",
    ),
}

__getattr__, __dir__ = _lazy.attach(globals(), _LAZY)

__all__ = [
    "CounterSample",
    "Datagram",
    "DecodeStats",
    "Decoded",
    "EthernetCounters",
    "ExtendedSwitch",
    "FlowSample",
    "GenericInterfaceCounters",
    "RawPacketHeader",
    "SampledIPv4",
    "SampledIPv6",
    "SequenceTracker",
    "UnknownRecord",
    "build_frame",
    "decode",
    "encode_datagram",
    "encode_record",
    "encode_sample",
    "raw_header",
]
