"""The structural walk: datagram -> set -> template / data set, one datagram at a time.

Headers, sets and templates are few per datagram and are read here with
:mod:`struct`; data records, the many, are only located (set bounds and the
template in force) and decoded later all at once (:mod:`flowlab.netflow._columns`).
A datagram is checked whole before anything of it is applied: a bad one
changes no template and gives no row.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from flowlab import _accel
from flowlab.netflow import records as r
from flowlab.netflow.elements import VARIABLE_LENGTH
from flowlab.netflow.templates import Field, Template

__all__ = ["V9_SCOPE", "Header", "Malformed", "SetRef", "parse_datagram", "walk_records"]

#: pseudo enterprise number of NetFlow v9 options *scope* fields (their types are not elements)
V9_SCOPE = -1
_H = struct.Struct("!H")
_HH = struct.Struct("!HH")
_I = struct.Struct("!I")


class Malformed(Exception):
    """A datagram is rejected; ``args[0]`` is the reason counted in ``DecodeStats.datagrams_bad``."""


class Header:
    """What the datagram header says (the fields a version lacks stay 0).

    Plain classes here and for the decoder's other internal records: a dataclass costs about
    0.3 ms to create, paid by every process's first NetFlow/IPFIX read.
    """

    __slots__ = (
        "count",
        "domain",
        "export_ns",
        "export_s",
        "sampling",
        "sequence",
        "uptime_ms",
        "version",
    )

    def __init__(
        self,
        version: int,
        domain: int = 0,
        sequence: int = 0,
        export_s: int = 0,
        export_ns: int = 0,
        uptime_ms: int = 0,
        count: int = 0,
        sampling: int = 0,
    ) -> None:
        self.version, self.domain, self.sequence = version, domain, sequence
        self.export_s, self.export_ns, self.uptime_ms = export_s, export_ns, uptime_ms
        self.count, self.sampling = count, sampling


class SetRef:
    """A set of a datagram: its id and body bounds in the buffer; templates parsed if any."""

    __slots__ = ("end", "set_id", "start", "templates", "withdrawn")

    def __init__(
        self,
        set_id: int,
        start: int,
        end: int,
        templates: list[Template] | None = None,
        withdrawn: list[int] | None = None,
    ) -> None:
        self.set_id, self.start, self.end = set_id, start, end
        self.templates: list[Template] = [] if templates is None else templates
        self.withdrawn: list[int] = [] if withdrawn is None else withdrawn


def parse_datagram(data: bytes | memoryview, pos: int, length: int) -> tuple[Header, list[SetRef]]:
    """Check and split one datagram at ``data[pos : pos + length]``.

    Raises
    ------
    Malformed
        With the reason of rejection.
    """
    if length < 4:
        raise Malformed("truncated_header")
    (version,) = _H.unpack_from(data, pos)
    if version not in r.HEADER:
        raise Malformed("wrong_version")
    if length < r.HEADER[version]:
        raise Malformed("truncated_header")
    if version == r.NETFLOW5:
        count, up, secs, nsecs, seq, etype, eid, samp = struct.unpack_from(
            "!HIIIIBBH", data, pos + 2
        )
        if count == 0 or count > r.V5_MAX_COUNT:
            raise Malformed("implausible_count")
        body = pos + r.HEADER[version]
        if body + count * r.V5_RECORD > pos + length:
            raise Malformed("record_overrun")
        head = Header(version, (etype << 8) | eid, seq, secs, nsecs, up, count, samp)
        return head, [SetRef(r.FIRST_DATA_SET, body, body + count * r.V5_RECORD)]
    end = pos + length
    if version == r.IPFIX:
        msg_len, secs, seq, dom = struct.unpack_from("!HIII", data, pos + 2)
        if msg_len < r.HEADER[version] or msg_len > length:
            raise Malformed("length_mismatch")
        end = pos + msg_len
        head = Header(version, dom, seq, secs)
    else:
        count, up, secs, seq, dom = struct.unpack_from("!HIIII", data, pos + 2)
        head = Header(version, dom, seq, secs, 0, up, count)
    sets: list[SetRef] = []
    p = pos + r.HEADER[version]
    while p + r.SET_HEADER <= end:
        sid, slen = _HH.unpack_from(data, p)
        if slen < r.SET_HEADER or p + slen > end:
            raise Malformed("set_overrun")
        ref = SetRef(sid, p + r.SET_HEADER, p + slen)
        if sid == r.TEMPLATE_SET[version] or sid == r.OPTIONS_SET[version]:
            _parsed_templates(data, ref, version, options=sid == r.OPTIONS_SET[version])
        elif sid < r.FIRST_DATA_SET:
            raise Malformed("reserved_set_id")
        sets.append(ref)
        p += slen
    if version == r.IPFIX and p != end:
        raise Malformed("set_overrun")
    return head, sets


#: template sets seen, by their bytes: exporters re-send the same sets (Open vSwitch: 88
#: templates every 600 s), so each distinct set is parsed once (bounded: cleared when full)
_SEEN: dict[tuple[int, bool, bytes], tuple[list[Template], list[int]] | str] = {}
_SEEN_MAX = 4096


def _parsed_templates(
    data: bytes | memoryview, ref: SetRef, version: int, *, options: bool
) -> None:
    key = (version, options, bytes(data[ref.start : ref.end]))
    found = _SEEN.get(key)
    if found is None:
        try:
            _templates(data, ref, version, options=options)
            found = (list(ref.templates), list(ref.withdrawn))
        except Malformed as exc:
            found = str(exc.args[0])
        if len(_SEEN) >= _SEEN_MAX:
            _SEEN.clear()
        _SEEN[key] = found
    if isinstance(found, str):
        raise Malformed(found)
    ref.templates, ref.withdrawn = found  # shared: read only


def _fields(
    data: bytes | memoryview, p: int, end: int, version: int, count: int
) -> tuple[tuple[Field, ...], int]:
    """`count` field specifiers from `p` (IPFIX: an enterprise number after those with the
    high bit); the fields and where they end. (The compiled core reads them when it runs: a
    fresh process's first templates, 88 of some 60 fields from Open vSwitch, are read in C.)"""
    core = _accel.native()
    if core is not None and 0 <= p <= end <= len(data):
        got = core.netflow_fields(data, p, end, version == r.IPFIX, count)
        if isinstance(got, str):
            raise Malformed(got)
        return got
    fields: list[Field] = []
    append = fields.append
    unpack, unpack_pen = _HH.unpack_from, _I.unpack_from
    ipfix = version == r.IPFIX
    for _ in range(count):
        if p + 4 > end:
            raise Malformed("template_overrun")
        eid, length = unpack(data, p)
        p += 4
        pen = 0
        if ipfix and eid & 0x8000:
            if p + 4 > end:
                raise Malformed("template_overrun")
            (pen,) = unpack_pen(data, p)
            eid &= 0x7FFF
            p += 4
        elif not ipfix and length == VARIABLE_LENGTH:
            raise Malformed("template_malformed")  # v9 has no variable-length fields
        append((eid, pen, length))
    return tuple(fields), p


def _templates(data: bytes | memoryview, ref: SetRef, version: int, *, options: bool) -> None:
    p, end = ref.start, ref.end
    while p + 4 <= end:
        tid, count = _HH.unpack_from(data, p)
        p += 4
        scope = 0
        fields: Sequence[Field] = ()
        if version == r.IPFIX:
            if count == 0:  # withdrawal (RFC 7011 8.1)
                if tid < r.FIRST_DATA_SET and tid not in (2, 3):
                    raise Malformed("template_malformed")
                ref.withdrawn.append(tid)
                continue
            if options:
                if p + 2 > end:
                    raise Malformed("template_overrun")
                (scope,) = _H.unpack_from(data, p)
                p += 2
                if scope == 0 or scope > count:
                    raise Malformed("template_malformed")
            fields, p = _fields(data, p, end, version, count)
        elif options:  # v9 options: scope and option field lengths in bytes
            scope_len, opt_len = count, 0
            if p + 2 > end:
                raise Malformed("template_overrun")
            (opt_len,) = _H.unpack_from(data, p)
            p += 2
            if scope_len % 4 or opt_len % 4 or p + scope_len + opt_len > end:
                raise Malformed("template_overrun")
            scope = scope_len // 4
            specs = []
            for k in range((scope_len + opt_len) // 4):
                (eid, length), p = _HH.unpack_from(data, p), p + 4
                specs.append((eid, V9_SCOPE if k < scope else 0, length))
            fields = specs
            if not fields:
                raise Malformed("template_malformed")
        else:
            if count == 0:
                raise Malformed("template_malformed")
            fields, p = _fields(data, p, end, version, count)
        t = Template(tid, tuple(fields), scope)
        if tid < r.FIRST_DATA_SET or t.record_length == 0:
            raise Malformed("template_malformed")
        ref.templates.append(t)
    # what is left is padding (fewer than 4 bytes)


def walk_records(
    data: bytes | memoryview, start: int, end: int, template: Template
) -> list[list[bytes]] | None:
    """Every record of a data set, each as its field values (bytes); None if a record overruns.

    The slow, obviously-correct path: used for options records (few) only.
    """
    out: list[list[bytes]] = []
    p = start
    minimum = template.record_length
    while p + minimum <= end:
        values: list[bytes] = []
        for _, _, length in template.fields:
            if length == VARIABLE_LENGTH:
                if p >= end:
                    return None
                length = data[p]
                p += 1
                if length == 255:
                    if p + 2 > end:
                        return None
                    (length,) = _H.unpack_from(data, p)
                    p += 2
            if p + length > end:
                return None
            values.append(bytes(data[p : p + length]))
            p += length
        out.append(values)
    return out
