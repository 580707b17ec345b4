"""What a walked batch is, whichever core walked it: per-datagram arrays and per-row columns.

The pure path (:mod:`flowlab.sflow._walk`, :mod:`flowlab.sflow._fields`) and the compiled core
(:mod:`flowlab.sflow._compiled`) both hand :mod:`flowlab.sflow.decode` a :class:`Walked`:
columns as ``{name: (values, valid)}`` with one entry per output row, addresses as integers.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from flowlab import schema
from flowlab._arrays import I64, U32, B

__all__ = [
    "BARE_FIELDS",
    "BARE_OPTIONAL",
    "COUNTER_FIELDS",
    "ETHERNET_WORDS",
    "FLOW_FIELDS",
    "GENERIC_COUNTERS",
    "GENERIC_WORDS",
    "PACKET_FIELDS",
    "REASONS",
    "Cols",
    "Walked",
    "counter_columns",
    "split_bare",
]

#: datagram rejection reasons; index 0 means "ok" (``native/sflow.c`` numbers them alike)
REASONS: tuple[str, ...] = (
    "",
    "outside_buffer",
    "truncated_header",
    "wrong_version",
    "unknown_agent_type",
    "implausible_count",
    "sample_overrun",
    "unaligned_length",
    "sample_too_short",
    "record_overrun",
    "record_too_short",
)

Cols = dict[str, tuple[np.ndarray, B]]


class Walked(NamedTuple):
    """A walked batch: per-datagram arrays, flow and counter columns, and what was skipped.

    What the pure path (:func:`flow_fields`, :func:`counter_fields`) and the compiled core
    (:mod:`flowlab.sflow._compiled`) both give :mod:`flowlab.sflow.decode`.
    """

    reason: npt.NDArray[np.uint8]
    header_ok: B
    agent: U32
    agent_v6: B
    sub_agent: U32
    sequence: U32
    #: the flow rows with a packet field (:data:`PACKET_FIELDS`), in wire order
    flows: Cols
    #: the bare flow rows (none of those fields): :data:`BARE_FIELDS` only, in wire order
    bare: Cols
    counters: Cols
    #: samples of each kind (0 = unknown, 1-4 = the sample formats)
    kinds: I64
    #: tags of the unknown samples and of the skipped records, one per sample/record
    unknown: U32
    skipped: U32


#: numpy-stage flow columns and their dtypes (addresses as integers, MACs as uint64)
FLOW_FIELDS: dict[str, type] = {
    "dg": np.int64,
    "sample_sequence": np.uint32,
    "source_id": np.uint32,
    "sampling_rate": np.uint32,
    "in_if": np.uint32,
    "out_if": np.uint32,
    "ip_version": np.uint8,
    "src4": np.uint32,
    "dst4": np.uint32,
    "src6": np.uint32,
    "dst6": np.uint32,
    "frame_length": np.uint32,
    "protocol": np.uint8,
    "src_port": np.uint16,
    "dst_port": np.uint16,
    "tcp_flags": np.uint16,
    "icmp_type": np.uint8,
    "icmp_code": np.uint8,
    "tos": np.uint8,
    "ttl": np.uint8,
    "ethertype": np.uint16,
    "vlan": np.uint16,
    "src_mac": np.uint64,
    "dst_mac": np.uint64,
    "supported": np.bool_,
    "sampled": np.bool_,
}
#: the flow fields only a sampled packet gives (a raw header that reaches a MAC or an ethertype,
#: or a sampled IPv4/IPv6 record, which also sets ``sampled``)
PACKET_FIELDS: tuple[str, ...] = (
    "ip_version",
    "src4",
    "dst4",
    "src6",
    "dst6",
    "protocol",
    "src_port",
    "dst_port",
    "tcp_flags",
    "icmp_type",
    "icmp_code",
    "tos",
    "ttl",
    "ethertype",
    "src_mac",
    "dst_mac",
    "sampled",
)
#: the columns of a *bare* flow row, a flow sample that gave none of :data:`PACKET_FIELDS` (no
#: record real agents send, but cheap to craft: 40 bytes a row); they are walked into these narrow
#: columns of their own, so such a row costs its few values, not a whole row of nulls
BARE_FIELDS: tuple[str, ...] = (
    "dg",
    "sample_sequence",
    "source_id",
    "sampling_rate",
    "in_if",
    "out_if",
    "frame_length",
    "vlan",
    "supported",
)
#: the bare columns that may lack a value (the others always have one)
BARE_OPTIONAL: tuple[str, ...] = ("frame_length", "vlan", "supported")

#: the generic-interface counters (record 0:1) in wire order, as the counter schema names them
_NAMES = list(schema.COUNTER_SCHEMA)
GENERIC_COUNTERS: tuple[str, ...] = tuple(
    _NAMES[_NAMES.index("if_index") : _NAMES.index("promiscuous_mode") + 1]
)
_WIDE = {"if_speed", "in_octets", "out_octets"}
# a counter the agent cannot know is sent as all ones (Open vSwitch does this for most dot3 counters)
_UNKNOWN32 = np.uint32(0xFFFFFFFF)
_UNKNOWN64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_ETHERNET = tuple(c.name for c in schema.COUNTER_COLUMNS if c.name.startswith("dot3_"))
#: words of the generic-interface and ethernet counter records
GENERIC_WORDS, ETHERNET_WORDS = 22, 13
#: numpy-stage counter columns (dg = datagram index)
COUNTER_FIELDS = ("dg", "sample_sequence", "source_id", *GENERIC_COUNTERS, *_ETHERNET)


def counter_columns(
    dg: I64,
    sequence: U32,
    source_id: U32,
    generic: U32,
    has_generic: B,
    ethernet: U32,
    has_ethernet: B,
) -> Cols:
    """Named counter columns of counter rows from the words of their generic-interface and
    ethernet records (``(rows, 22)`` and ``(rows, 13)``; zeros where a row has none)."""
    every = np.ones(dg.size, dtype=bool)
    c: Cols = {
        "dg": (dg, every),
        "sample_sequence": (sequence, every),
        "source_id": (source_id, every),
    }
    for vals, have, names in (
        (generic, has_generic, GENERIC_COUNTERS),
        (ethernet, has_ethernet, _ETHERNET),
    ):
        i = 0
        for name in names:
            if name in _WIDE:
                v = (vals[:, i].astype(np.uint64) << np.uint64(32)) | vals[:, i + 1]
                c[name] = (v, have & (v != _UNKNOWN64))
                i += 2
            else:
                c[name] = (vals[:, i], have & (vals[:, i] != _UNKNOWN32))
                i += 1
    return c


def split_bare(c: Cols) -> tuple[Cols, Cols]:
    """The flow rows of `c` with a packet field, and the bare ones (:data:`BARE_FIELDS` only),
    each in their order: what the compiled core writes apart, for columns made of every row."""
    known = np.zeros(c["dg"][0].size, dtype=bool)
    for name in PACKET_FIELDS:
        known |= c[name][1]
    if known.all():
        return c, {name: (c[name][0][:0], c[name][1][:0]) for name in BARE_FIELDS}
    bare = ~known
    return (
        {name: (v[known], ok[known]) for name, (v, ok) in c.items()},
        {name: (c[name][0][bare], c[name][1][bare]) for name in BARE_FIELDS},
    )
