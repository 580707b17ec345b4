"""Write NetFlow v5, NetFlow v9 and IPFIX datagrams (tests, the demo).

Two levels: :func:`message`, :func:`template_set`, :func:`options_template_set`
and :func:`data_set` build any datagram from templates and field values
(bytes); :func:`ipfix_datagram`, :func:`netflow9_datagram` and
:func:`netflow5_datagram` write simple :class:`Flow` records with a
built-in template.

Examples
--------
>>> wire = ipfix_datagram([Flow("10.0.0.1", "10.0.0.2", 6, 40000, 443)], sequence=7)
>>> wire[:2], int.from_bytes(wire[2:4], "big") == len(wire)
(b'\\x00\\n', True)
>>> len(netflow5_datagram([Flow("10.0.0.1", "10.0.0.2", 1, 0, 2048)]))
72
"""

from __future__ import annotations

import functools
import ipaddress
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from flowlab.exceptions import ConfigError
from flowlab.netflow import elements as e
from flowlab.netflow import records as r
from flowlab.netflow.templates import Template

__all__ = [
    "Flow",
    "data_set",
    "flow_template",
    "flow_values",
    "ipfix_datagram",
    "message",
    "netflow5_datagram",
    "netflow9_datagram",
    "options_template_set",
    "template_set",
    "variable",
]


@dataclass(frozen=True)
class Flow:
    """A simple flow record: addresses (IPv4 or IPv6), ports, protocol, counts, times (epoch ms)."""

    src: str
    dst: str
    protocol: int
    src_port: int = 0
    dst_port: int = 0
    packets: int = 1
    octets: int = 64
    tcp_flags: int = 0
    start_ms: int = 0
    end_ms: int = 0
    in_if: int = 0
    out_if: int = 0
    tos: int = 0
    direction: int = 0


def variable(value: bytes) -> bytes:
    """A variable-length field value with its length prefix (RFC 7011 7)."""
    if len(value) < 255:
        return bytes([len(value)]) + value
    return b"\xff" + struct.pack("!H", len(value)) + value


def _field_spec(f: tuple[int, int, int], version: int) -> bytes:
    eid, pen, length = f
    if pen and pen != -1:
        return struct.pack("!HHI", eid | 0x8000, length, pen)
    return struct.pack("!HH", eid, length)


def _pad(body: bytes) -> bytes:
    return body + bytes(-len(body) % 4)


def template_set(templates: Sequence[Template], version: int = r.IPFIX) -> bytes:
    """A template set (IPFIX id 2, v9 id 0); a template without fields is an IPFIX withdrawal."""
    body = b"".join(
        struct.pack("!HH", t.id, len(t.fields))
        + b"".join(_field_spec(f, version) for f in t.fields)
        for t in templates
    )
    return struct.pack("!HH", r.TEMPLATE_SET[version], 4 + len(body)) + body


def options_template_set(templates: Sequence[Template], version: int = r.IPFIX) -> bytes:
    """An options template set (IPFIX id 3, v9 id 1, padded)."""
    parts = []
    for t in templates:
        specs = b"".join(_field_spec(f, version) for f in t.fields)
        if version == r.IPFIX:
            parts.append(struct.pack("!HHH", t.id, len(t.fields), t.scope_count) + specs)
        else:
            scope = 4 * t.scope_count
            parts.append(struct.pack("!HHH", t.id, scope, 4 * len(t.fields) - scope) + specs)
    body = _pad(b"".join(parts)) if version == r.NETFLOW9 else b"".join(parts)
    return struct.pack("!HH", r.OPTIONS_SET[version], 4 + len(body)) + body


def data_set(template_id: int, records: Sequence[Sequence[bytes]], *, pad: int = 0) -> bytes:
    """A data set: each record is its fields' encoded values, in template order."""
    body = b"".join(b"".join(values) for values in records) + bytes(pad)
    return struct.pack("!HH", template_id, 4 + len(body)) + body


def message(
    sets: Sequence[bytes],
    *,
    version: int = r.IPFIX,
    sequence: int = 0,
    domain: int = 0,
    export_s: int = 1_700_000_000,
    uptime_ms: int = 100_000,
) -> bytes:
    """An IPFIX message or NetFlow v9 packet around `sets`."""
    body = b"".join(sets)
    if version == r.IPFIX:
        head = struct.pack("!HHIII", r.IPFIX, 16 + len(body), export_s, sequence, domain)
    else:
        head = struct.pack("!HHIIII", r.NETFLOW9, len(sets), uptime_ms, export_s, sequence, domain)
    return head + body


def _ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


#: sizes other than the element's data type: tcpControlBits as 16 bits (RFC 7125)
_SIZES = {e.TCP_CONTROL_BITS: 2}


@functools.cache
def _flow_fields(ipv6: bool, version: int) -> tuple[tuple[int, int, int], ...]:
    addresses = (
        (e.SOURCE_IPV6_ADDRESS, e.DESTINATION_IPV6_ADDRESS)
        if ipv6
        else (e.SOURCE_IPV4_ADDRESS, e.DESTINATION_IPV4_ADDRESS)
    )
    times = (
        (e.FLOW_START_MILLISECONDS, e.FLOW_END_MILLISECONDS)
        if version == r.IPFIX
        else (e.FLOW_START_SYS_UP_TIME, e.FLOW_END_SYS_UP_TIME)
    )
    elements = (
        *addresses,
        e.SOURCE_TRANSPORT_PORT,
        e.DESTINATION_TRANSPORT_PORT,
        e.PROTOCOL_IDENTIFIER,
        e.TCP_CONTROL_BITS,
        e.OCTET_DELTA_COUNT,
        e.PACKET_DELTA_COUNT,
        *times,
        e.INGRESS_INTERFACE,
        e.EGRESS_INTERFACE,
        e.IP_CLASS_OF_SERVICE,
        e.FLOW_DIRECTION,
    )
    # all fixed-size types
    return tuple((eid, 0, _SIZES.get(eid) or e.fixed_size(eid) or 0) for eid in elements)


def flow_template(
    template_id: int = 256, *, ipv6: bool = False, version: int = r.IPFIX
) -> Template:
    """The template :func:`flow_values` fills, each element at its full size.

    Times are flowStart/EndMilliseconds (IPFIX) or SysUpTime (NetFlow v9).
    """
    return Template(template_id, _flow_fields(ipv6, version))


def _element_values(f: Flow, base_ms: int) -> dict[int, int | bytes]:
    """`f`'s value of every element the encoders write (SysUpTime: ms since `base_ms`, 32 bits)."""
    src, dst = _ip(f.src), _ip(f.dst)
    return {
        e.SOURCE_IPV4_ADDRESS: src,
        e.DESTINATION_IPV4_ADDRESS: dst,
        e.SOURCE_IPV6_ADDRESS: src,
        e.DESTINATION_IPV6_ADDRESS: dst,
        e.SOURCE_TRANSPORT_PORT: f.src_port,
        e.DESTINATION_TRANSPORT_PORT: f.dst_port,
        e.PROTOCOL_IDENTIFIER: f.protocol,
        e.TCP_CONTROL_BITS: f.tcp_flags,
        e.OCTET_DELTA_COUNT: f.octets,
        e.PACKET_DELTA_COUNT: f.packets,
        e.FLOW_START_MILLISECONDS: f.start_ms,
        e.FLOW_END_MILLISECONDS: f.end_ms,
        e.FLOW_START_SYS_UP_TIME: (f.start_ms - base_ms) % (1 << 32),
        e.FLOW_END_SYS_UP_TIME: (f.end_ms - base_ms) % (1 << 32),
        e.INGRESS_INTERFACE: f.in_if,
        e.EGRESS_INTERFACE: f.out_if,
        e.IP_CLASS_OF_SERVICE: f.tos,
        e.FLOW_DIRECTION: f.direction,
    }


def _encoded(value: int | bytes, length: int) -> bytes:
    if not isinstance(value, bytes):
        return value.to_bytes(length, "big")
    if len(value) != length:  # an IPv6 address in NetFlow v5
        msg = f"a {len(value)}-byte value for a {length}-byte field"
        raise ConfigError(msg)
    return value


def flow_values(
    f: Flow, *, version: int = r.IPFIX, export_s: int = 1_700_000_000, uptime_ms: int = 100_000
) -> list[bytes]:
    """The field values of `f` for :func:`flow_template` (v9 times relative to the uptime)."""
    values = _element_values(f, export_s * 1000 - uptime_ms)  # epoch ms of system start
    fields = _flow_fields(ipaddress.ip_address(f.src).version == 6, version)
    return [_encoded(values[eid], length) for eid, _, length in fields]


def _flow_message(
    flows: Sequence[Flow], version: int, template_id: int, with_template: bool, **head: int
) -> bytes:
    sets = []
    for ipv6 in (False, True):
        group = [f for f in flows if (ipaddress.ip_address(f.src).version == 6) == ipv6]
        if not group:
            continue
        t = flow_template(template_id + ipv6, ipv6=ipv6, version=version)
        if with_template:
            sets.append(template_set([t], version))
        times = {k: head[k] for k in ("export_s", "uptime_ms") if k in head}
        sets.append(data_set(t.id, [flow_values(f, version=version, **times) for f in group]))
    return message(sets, version=version, **head)


def ipfix_datagram(
    flows: Sequence[Flow],
    *,
    template_id: int = 256,
    with_template: bool = True,
    sequence: int = 0,
    domain: int = 0,
    export_s: int = 1_700_000_000,
) -> bytes:
    """An IPFIX message: the flow template(s) (IPv4 `template_id`, IPv6 the next) and the flows."""
    return _flow_message(
        flows, r.IPFIX, template_id, with_template,
        sequence=sequence, domain=domain, export_s=export_s,
    )  # fmt: skip


def netflow9_datagram(
    flows: Sequence[Flow],
    *,
    template_id: int = 256,
    with_template: bool = True,
    sequence: int = 0,
    source_id: int = 0,
    export_s: int = 1_700_000_000,
    uptime_ms: int = 100_000,
) -> bytes:
    """A NetFlow v9 packet: the flow template(s) and the flows (times as SysUpTime)."""
    return _flow_message(
        flows, r.NETFLOW9, template_id, with_template,
        sequence=sequence, domain=source_id, export_s=export_s, uptime_ms=uptime_ms,
    )  # fmt: skip


def netflow5_datagram(
    flows: Sequence[Flow],
    *,
    sequence: int = 0,
    export_s: int = 1_700_000_000,
    uptime_ms: int = 100_000,
    sampling: int = 0,
    engine: tuple[int, int] = (0, 0),
) -> bytes:
    """A NetFlow v5 datagram (IPv4 only; at most 30 flows; ``sampling``: the header's 16 bits)."""
    head = struct.pack(
        "!HHIIIIBBH", r.NETFLOW5, len(flows), uptime_ms, export_s, 0, sequence, *engine, sampling
    )
    base = export_s * 1000 - uptime_ms
    body = bytearray()
    for f in flows:
        values = _element_values(f, base)
        for eid, _, length in r.V5_TEMPLATE.fields:  # the rest (next hop, AS, masks, pad): 0
            body += _encoded(values.get(eid, 0), length)
    return head + body
