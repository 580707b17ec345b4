"""sFlow v5 encoder: :class:`~flowlab.sflow.records.Datagram` -> XDR bytes.

Writes exactly the wire format of the sFlow v5 specification
(sflow.org/sflow_version_5.txt): big-endian 32-bit words, opaque data padded
to a multiple of 4 bytes, every sample and record preceded by its
``(enterprise << 12 | format, length)`` pair. Used by the demo, the tests and
the benchmarks; the decoder never builds these objects.

Examples
--------
>>> from flowlab.sflow.records import Datagram, CounterSample, GenericInterfaceCounters
>>> d = Datagram(agent="192.0.2.1", sequence=7, uptime_ms=5000,
...              samples=[CounterSample(sequence=1, source_id=2,
...                                     records=[GenericInterfaceCounters(if_index=2)])])
>>> data = encode_datagram(d)
>>> len(data), data[:4].hex(), data[8:12].hex()
(144, '00000005', 'c0000201')
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from dataclasses import fields

from flowlab.exceptions import SFlowError
from flowlab.sflow import records as r

__all__ = ["encode_datagram", "encode_record", "encode_sample"]

_U32 = struct.Struct(">I")
_GENERIC_IF = struct.Struct(">IIQIIQIIIIIIQIIIIII")
_ETHERNET = struct.Struct(">13I")
_SAMPLED_V4 = struct.Struct(">II4s4sIIII")
_SAMPLED_V6 = struct.Struct(">II16s16sIIII")
_SWITCH = struct.Struct(">IIII")
_RAW_HEADER = struct.Struct(">IIII")
_FLOW_SAMPLE = struct.Struct(">IIIIIIII")
_FLOW_SAMPLE_EXPANDED = struct.Struct(">IIIIIIIIIII")
_COUNTER_SAMPLE = struct.Struct(">III")
_COUNTER_SAMPLE_EXPANDED = struct.Struct(">IIII")


def _pad(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def _tagged(enterprise: int, fmt: int, body: bytes) -> bytes:
    if not 0 <= enterprise < (1 << 20) or not 0 <= fmt < (1 << 12):
        msg = (
            f"sFlow data format needs enterprise < 2**20 and format < 4096, "
            f"found enterprise={enterprise} format={fmt}"
        )
        raise SFlowError(msg)
    return struct.pack(">II", (enterprise << 12) | fmt, len(body)) + body


def _ip4(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def _ip6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


def _raw_header(rec: r.RawPacketHeader) -> bytes:
    head = _RAW_HEADER.pack(rec.protocol, rec.frame_length, rec.stripped, len(rec.header))
    fill = -len(rec.header) % 4
    if rec.padding is None or not fill:
        return head + _pad(rec.header)
    # Open vSwitch style: the XDR alignment bytes are whatever was in its buffer (non-zero).
    pad = (rec.padding * fill)[:fill] if rec.padding else b"\x00" * fill
    return head + rec.header + pad


#: records whose dataclass fields are their body, in wire order: type -> (data format, layout,
#: how the addresses (the third and fourth fields) are packed)
_FIXED: dict[type, tuple[int, struct.Struct, Callable[[str], bytes] | None]] = {
    r.SampledIPv4: (r.FLOW_SAMPLED_IPV4, _SAMPLED_V4, _ip4),
    r.SampledIPv6: (r.FLOW_SAMPLED_IPV6, _SAMPLED_V6, _ip6),
    r.ExtendedSwitch: (r.FLOW_EXTENDED_SWITCH, _SWITCH, None),
    r.GenericInterfaceCounters: (r.COUNTERS_GENERIC_IF, _GENERIC_IF, None),
    r.EthernetCounters: (r.COUNTERS_ETHERNET, _ETHERNET, None),
}


def encode_record(rec: r.FlowRecord | r.CounterRecord) -> bytes:
    """Encode one flow or counter record with its format/length prefix.

    Examples
    --------
    >>> from flowlab.sflow.records import ExtendedSwitch
    >>> encode_record(ExtendedSwitch(src_vlan=10)).hex()
    '000003e9000000100000000a000000000000000000000000'
    """
    try:
        if isinstance(rec, r.RawPacketHeader):
            return _tagged(0, r.FLOW_RAW_HEADER, _raw_header(rec))
        for kind, (fmt, layout, address) in _FIXED.items():
            if isinstance(rec, kind):
                values = [getattr(rec, f.name) for f in fields(rec)]
                if address is not None:  # src_ip, dst_ip
                    values[2:4] = map(address, values[2:4])
                return _tagged(0, fmt, layout.pack(*values))
        if isinstance(rec, r.UnknownRecord):
            return _tagged(rec.enterprise, rec.format, _pad(rec.data))
    except (struct.error, ValueError) as exc:
        msg = f"cannot encode {type(rec).__name__}: {exc}; fix the field values of {rec!r}"
        raise SFlowError(msg) from exc
    msg = f"cannot encode {type(rec).__name__}: not an sFlow record dataclass from flowlab.sflow.records"
    raise SFlowError(msg)


def _split_if(value: int) -> tuple[int, int]:
    """Compact 32-bit interface (format in the top 2 bits) -> expanded (format, value)."""
    return value >> 30, value & 0x3FFFFFFF


def encode_sample(sample: r.Sample) -> bytes:
    """Encode one sample (flow, counters or unknown) with its format/length prefix.

    Examples
    --------
    >>> from flowlab.sflow.records import CounterSample
    >>> encode_sample(CounterSample(sequence=1, source_id=5)).hex()
    '000000020000000c000000010000000500000000'
    """
    try:
        if isinstance(sample, r.FlowSample):
            recs = b"".join(encode_record(x) for x in sample.records)
            if sample.expanded:
                in_fmt, in_val = _split_if(sample.input_if)
                out_fmt, out_val = _split_if(sample.output_if)
                head = _FLOW_SAMPLE_EXPANDED.pack(
                    sample.sequence,
                    sample.source_id_type,
                    sample.source_id,
                    sample.sampling_rate,
                    sample.sample_pool,
                    sample.drops,
                    in_fmt,
                    in_val,
                    out_fmt,
                    out_val,
                    len(sample.records),
                )
                return _tagged(0, r.SAMPLE_FLOW_EXPANDED, head + recs)
            head = _FLOW_SAMPLE.pack(
                sample.sequence,
                _source_id(sample.source_id_type, sample.source_id),
                sample.sampling_rate,
                sample.sample_pool,
                sample.drops,
                sample.input_if,
                sample.output_if,
                len(sample.records),
            )
            return _tagged(0, r.SAMPLE_FLOW, head + recs)
        if isinstance(sample, r.CounterSample):
            recs = b"".join(encode_record(x) for x in sample.records)
            if sample.expanded:
                head = _COUNTER_SAMPLE_EXPANDED.pack(
                    sample.sequence, sample.source_id_type, sample.source_id, len(sample.records)
                )
                return _tagged(0, r.SAMPLE_COUNTERS_EXPANDED, head + recs)
            head = _COUNTER_SAMPLE.pack(
                sample.sequence,
                _source_id(sample.source_id_type, sample.source_id),
                len(sample.records),
            )
            return _tagged(0, r.SAMPLE_COUNTERS, head + recs)
        if isinstance(sample, r.UnknownSample):
            return _tagged(sample.enterprise, sample.format, _pad(sample.data))
    except struct.error as exc:
        msg = f"cannot encode {type(sample).__name__}: {exc}; fix the field values"
        raise SFlowError(msg) from exc
    msg = f"cannot encode {type(sample).__name__}: not an sFlow sample dataclass"
    raise SFlowError(msg)


def _source_id(kind: int, index: int) -> int:
    if not 0 <= kind < 256 or not 0 <= index < (1 << 24):
        msg = (
            f"compact samples need source_id_type < 256 and source_id < 2**24, found "
            f"{kind}:{index}; use expanded=True for larger values"
        )
        raise SFlowError(msg)
    return (kind << 24) | index


def encode_datagram(d: r.Datagram) -> bytes:
    """Encode an sFlow v5 datagram (the UDP payload an agent sends).

    Parameters
    ----------
    d : flowlab.sflow.records.Datagram
        The datagram; ``agent`` may be an IPv4 or IPv6 address.

    Returns
    -------
    bytes
        The XDR encoding.

    Raises
    ------
    SFlowError
        A field does not fit its wire type (e.g. a negative counter, a
        non-address agent); the message names the field values to fix.

    Examples
    --------
    >>> from flowlab.sflow.records import Datagram
    >>> encode_datagram(Datagram(agent="2001:db8::1", sequence=1, uptime_ms=0)).hex()[:16]
    '0000000500000002'
    """
    try:
        agent = ipaddress.ip_address(d.agent)
    except ValueError as exc:
        msg = f"datagram agent must be an IPv4 or IPv6 address, found {d.agent!r}"
        raise SFlowError(msg) from exc
    body = b"".join(encode_sample(s) for s in d.samples)
    try:
        head = (
            struct.pack(
                ">II",
                r.SFLOW_VERSION,
                r.AGENT_ADDRESS_IPV4 if agent.version == 4 else r.AGENT_ADDRESS_IPV6,
            )
            + agent.packed
            + struct.pack(">IIII", d.sub_agent_id, d.sequence, d.uptime_ms, len(d.samples))
        )
    except struct.error as exc:
        msg = f"cannot encode datagram header: {exc} (sub_agent_id, sequence, uptime_ms are u32)"
        raise SFlowError(msg) from exc
    return head + body
