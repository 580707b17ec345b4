"""A small, obviously correct NetFlow v5 / v9 / IPFIX decoder: one datagram, one record at a time.

Written from RFC 3954, RFC 7011 and Cisco's v5 layout with :mod:`struct` only,
sharing nothing with :mod:`flowlab.netflow` but the element ids in the
RFCs. The differential tests require the vectorised decoder to give the same
records. Data sets before their template wait (unbounded here) and are decoded
when it comes.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

PORTED = {6, 17, 132, 136, 33}


def _var(data: bytes, p: int) -> tuple[int, int]:
    n = data[p]
    if n < 255:
        return n, p + 1
    return struct.unpack_from("!H", data, p + 1)[0], p + 3


class Reference:
    """Decoder state: templates per (exporter, domain, id), waiting data sets."""

    def __init__(self) -> None:
        self.templates: dict[tuple[str, int, int], tuple[list[tuple[int, int, int]], int]] = {}
        self.waiting: list[tuple[str, int, int, bytes, dict[str, Any]]] = []
        self.rows: list[dict[str, Any]] = []

    def datagram(self, data: bytes, exporter: str) -> None:
        """Decode one datagram (must be valid: the reference does not check for damage)."""
        version = struct.unpack_from("!H", data)[0]
        if version == 5:
            count, _up, _secs, _ns, seq, etype, eid, samp = struct.unpack_from("!HIIIIBBH", data, 2)
            rate = (samp & 0x3FFF) or 1
            for k in range(count):
                rec = data[24 + 48 * k : 24 + 48 * (k + 1)]
                src, dst, _, i, o, pk, oc, _f, _l, sp, dp, _, fl, pr, tos = struct.unpack_from(
                    "!4s4s4sHHIIIIHHBBBB", rec
                )
                self.rows.append(
                    self._row(
                        exporter,
                        (etype << 8) | eid,
                        seq,
                        "netflow5",
                        {
                            8: src,
                            12: dst,
                            10: i,
                            14: o,
                            2: pk * rate,
                            1: oc * rate,
                            7: sp,
                            11: dp,
                            4: pr,
                            5: tos,
                            6: fl,
                        },
                    )
                )
            return
        if version == 10:
            length, _secs, seq, dom = struct.unpack_from("!HIII", data, 2)
            p, end, tset, oset = 16, length, 2, 3
        else:
            _count, _up, _secs, seq, dom = struct.unpack_from("!HIIII", data, 2)
            p, end, tset, oset = 20, len(data), 0, 1
        head = {"sequence": seq, "version": version}
        while p + 4 <= end:
            sid, slen = struct.unpack_from("!HH", data, p)
            body = data[p + 4 : p + slen]
            if sid in (tset, oset):
                self._templates(body, exporter, dom, version, options=sid == oset)
            elif sid >= 256:
                self._data(exporter, dom, sid, body, head)
            p += slen

    def _templates(
        self, body: bytes, exporter: str, dom: int, version: int, *, options: bool
    ) -> None:
        q = 0
        while q + 4 <= len(body):
            tid, count = struct.unpack_from("!HH", body, q)
            q += 4
            scope = 0
            fields = []
            if version == 10 and count == 0:
                self.templates.pop((exporter, dom, tid), None)
                continue
            if version == 9 and options:
                (olen,) = struct.unpack_from("!H", body, q)
                q += 2
                for k in range((count + olen) // 4):
                    eid, ln = struct.unpack_from("!HH", body, q)
                    q += 4
                    fields.append((eid, -1 if k < count // 4 else 0, ln))
                scope = count // 4
            else:
                if options:
                    (scope,) = struct.unpack_from("!H", body, q)
                    q += 2
                for _ in range(count):
                    eid, ln = struct.unpack_from("!HH", body, q)
                    q += 4
                    pen = 0
                    if version == 10 and eid & 0x8000:
                        (pen,) = struct.unpack_from("!I", body, q)
                        eid &= 0x7FFF
                        q += 4
                    fields.append((eid, pen, ln))
            self.templates[(exporter, dom, tid)] = (fields, scope)
            still = []
            for item in self.waiting:
                if item[:3] == (exporter, dom, tid):
                    self._data(*item)
                else:
                    still.append(item)
            self.waiting = still

    def _data(self, exporter: str, dom: int, sid: int, body: bytes, head: dict[str, Any]) -> None:
        found = self.templates.get((exporter, dom, sid))
        if found is None:
            self.waiting.append((exporter, dom, sid, body, head))
            return
        fields, scope = found
        minimum = sum(1 if ln == 65535 else ln for _, _, ln in fields)
        q = 0
        while q + minimum <= len(body):
            values: dict[int, Any] = {}
            for eid, pen, ln in fields:
                if ln == 65535:
                    ln, q = _var(body, q)
                raw = body[q : q + ln]
                q += ln
                if pen == 0 and eid not in values:
                    values[eid] = int.from_bytes(raw, "big") if ln <= 8 else raw
            if not scope:
                fmt = "ipfix" if head["version"] == 10 else "netflow9"
                self.rows.append(self._row(exporter, dom, head["sequence"], fmt, values))

    @staticmethod
    def _row(exporter: str, dom: int, seq: int, fmt: str, v: dict[int, Any]) -> dict[str, Any]:
        def ip(k4: int, k6: int) -> str | None:
            if k4 in v:
                x = v[k4]
                return str(
                    ipaddress.IPv4Address(x if isinstance(x, int) else int.from_bytes(x, "big"))
                )
            if k6 in v:
                return str(ipaddress.IPv6Address(v[k6]))
            return None

        proto = v.get(4)
        ported = proto in PORTED
        return {
            "exporter": exporter,
            "observation_domain": dom,
            "sequence": seq,
            "flow_format": fmt,
            "src_ip": ip(8, 27),
            "dst_ip": ip(12, 28),
            "protocol": proto,
            "src_port": v.get(7) if ported else None,
            "dst_port": v.get(11) if ported else None,
            "bytes": v.get(1, v.get(352)),
            "packets": v.get(2),
            "direction": v.get(61),
            "in_if": v.get(10),
            "out_if": v.get(14),
            "tos": v.get(5),
        }


def reference_rows(datagrams: list[tuple[bytes, str]]) -> list[dict[str, Any]]:
    """Decode (datagram, exporter) pairs in order; the flow rows in the order they became known."""
    ref = Reference()
    for data, exporter in datagrams:
        ref.datagram(data, exporter)
    return ref.rows
