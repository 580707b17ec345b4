"""A small, obviously-correct sFlow v5 decoder used only by the tests.

One datagram at a time, with :mod:`struct`, following the rules written in
:mod:`flowlab.sflow._walk` (rejection levels), :mod:`flowlab.sflow._headers`
(header fields) and :mod:`flowlab.decoding.sequence` (sequence gaps). The tests
check that the vectorised :func:`flowlab.sflow.decode.decode` gives the same
frames and stats on random valid and corrupted input. It is slow on purpose:
clarity over speed.
"""

from __future__ import annotations

import ipaddress
import struct
from collections import Counter
from collections.abc import Sequence
from typing import Any

import polars as pl

from flowlab import schema
from flowlab.decoding.sequence import REORDER_WINDOW
from flowlab.decoding.stats import DecodeStats
from flowlab.services import orient
from flowlab.sflow._walk import MAX_RECORDS, MAX_SAMPLES
from flowlab.sflow.decode import Decoded
from flowlab.sflow.records import GENERIC_COUNTER_NAMES

__all__ = ["decode_reference", "has_packet"]

_FIXED = {1: 32, 2: 12, 3: 44, 4: 16}
_FLOW_MIN = {1: 16, 3: 32, 4: 56, 1001: 16}
_COUNTER_MIN = {1: 88, 2: 52}
_PORTS = (6, 17, 33, 132, 136)
_KIND = {1: "flow", 2: "counters", 3: "flow_expanded", 4: "counters_expanded"}


class _Reject(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _u32(d: bytes, pos: int) -> int:
    return int(struct.unpack_from(">I", d, pos)[0])


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def _header_fields(hp: int, h: bytes) -> dict[str, Any]:
    """Fields of one sampled header, per the rules in flowlab.sflow._headers."""
    out: dict[str, Any] = {}
    n = len(h)
    l3 = 0
    et: int | None = None
    if hp == 1:
        if n >= 6:
            out["dst_mac"] = _mac(h[0:6])
        if n >= 12:
            out["src_mac"] = _mac(h[6:12])
        if n >= 14:
            et = struct.unpack_from(">H", h, 12)[0]
        l3 = 14
        first_tag = True
        for _ in range(3):
            if et not in (0x8100, 0x88A8, 0x9100) or l3 + 4 > n:
                break
            vid = struct.unpack_from(">H", h, l3)[0] & 0x0FFF
            if first_tag and vid:
                out["vlan"] = vid
            first_tag = False
            et = struct.unpack_from(">H", h, l3 + 2)[0]
            l3 += 4
        if et is not None:
            out["ethertype"] = et
    version = h[l3] >> 4 if l3 + 1 <= n else None
    is4 = version == 4 and ((hp == 1 and et == 0x0800) or hp == 11)
    is6 = version == 6 and ((hp == 1 and et == 0x86DD) or hp == 12)
    if is4 or is6:
        out["ip_version"] = 4 if is4 else 6
        out["ethertype"] = 0x0800 if is4 else 0x86DD
    proto: int | None = None
    l4: int | None = None
    if is4:
        ihl = (h[l3] & 0x0F) * 4
        if l3 + 2 <= n:
            out["tos"] = h[l3 + 1]
        if l3 + 9 <= n:
            out["ttl"] = h[l3 + 8]
        if l3 + 10 <= n:
            proto = h[l3 + 9]
            frag = struct.unpack_from(">H", h, l3 + 6)[0] & 0x1FFF
            if ihl >= 20 and frag == 0:
                l4 = l3 + ihl
        if l3 + 16 <= n:
            out["src_ip"] = str(ipaddress.IPv4Address(h[l3 + 12 : l3 + 16]))
        if l3 + 20 <= n:
            out["dst_ip"] = str(ipaddress.IPv4Address(h[l3 + 16 : l3 + 20]))
    elif is6:
        if l3 + 2 <= n:
            out["tos"] = (struct.unpack_from(">H", h, l3)[0] >> 4) & 0xFF
        if l3 + 8 <= n:
            out["ttl"] = h[l3 + 7]
        if l3 + 24 <= n:
            out["src_ip"] = str(ipaddress.IPv6Address(h[l3 + 8 : l3 + 24]))
        if l3 + 40 <= n:
            out["dst_ip"] = str(ipaddress.IPv6Address(h[l3 + 24 : l3 + 40]))
        if l3 + 7 <= n:
            proto = h[l3 + 6]
            cur = l3 + 40
            complete = True
            for _ in range(8):
                if proto not in (0, 43, 44, 51, 60):
                    break
                if cur + 2 > n:
                    complete = False
                    break
                nxt, elen = h[cur], h[cur + 1]
                if proto == 44:
                    if cur + 4 > n or (struct.unpack_from(">H", h, cur + 2)[0] >> 3) != 0:
                        proto, complete = nxt, False
                        break
                    size = 8
                elif proto == 51:
                    size = (elen + 2) * 4
                else:
                    size = (elen + 1) * 8
                proto, cur = nxt, cur + size
            if complete and proto not in (0, 43, 44, 51, 60):
                l4 = cur
    if proto is not None:
        out["protocol"] = proto
    if l4 is not None and proto is not None:
        if proto in _PORTS:
            if l4 + 2 <= n:
                out["src_port"] = struct.unpack_from(">H", h, l4)[0]
            if l4 + 4 <= n:
                out["dst_port"] = struct.unpack_from(">H", h, l4 + 2)[0]
        if proto == 6 and l4 + 14 <= n:
            out["tcp_flags"] = ((h[l4 + 12] & 1) << 8) | h[l4 + 13]
        if proto in (1, 58):
            if l4 + 1 <= n:
                out["icmp_type"] = h[l4]
            if l4 + 2 <= n:
                out["icmp_code"] = h[l4 + 1]
    return out


def _structure(d: bytes) -> tuple[tuple[str, int, int] | None, str, list[Any]]:
    """(header or None, reason or "", samples as (tag, pos, len, records))."""
    n = len(d)
    if n < 4:
        return None, "truncated_header", []
    if _u32(d, 0) != 5:
        return None, "wrong_version", []
    if n < 8:
        return None, "truncated_header", []
    atype = _u32(d, 4)
    if atype not in (1, 2):
        return None, "unknown_agent_type", []
    hdr = 28 if atype == 1 else 40
    if n < hdr:
        return None, "truncated_header", []
    agent_bytes = d[8:12] if atype == 1 else d[8:24]
    agent = str(ipaddress.ip_address(agent_bytes))
    if not any(agent_bytes):
        agent = ""
    sub, seq, _uptime, nsamp = struct.unpack_from(">IIII", d, hdr - 16)
    if nsamp > (n - hdr) // 8 or nsamp > MAX_SAMPLES:
        return None, "implausible_count", []
    header = (agent, sub, seq)
    try:
        samples: list[Any] = []
        pos = hdr
        for _ in range(nsamp):
            if pos + 8 > n:
                raise _Reject("sample_overrun")
            tag, slen = struct.unpack_from(">II", d, pos)
            if pos + 8 + slen > n:
                raise _Reject("sample_overrun")
            if slen % 4:
                raise _Reject("unaligned_length")
            samples.append([tag, pos + 8, slen, []])
            pos += 8 + slen
        for s in samples:
            tag, p, slen, _ = s
            if tag in _FIXED:
                if slen < _FIXED[tag]:
                    raise _Reject("sample_too_short")
                nrec = _u32(d, p + _FIXED[tag] - 4)
                if nrec > (slen - _FIXED[tag]) // 8 or nrec > MAX_RECORDS:
                    raise _Reject("implausible_count")
        for s in samples:
            tag, p, slen, recs = s
            if tag not in _FIXED:
                continue
            rp, end = p + _FIXED[tag], p + slen
            for _ in range(_u32(d, p + _FIXED[tag] - 4)):
                if rp + 8 > end:
                    raise _Reject("record_overrun")
                rtag, rlen = struct.unpack_from(">II", d, rp)
                if rp + 8 + rlen > end:
                    raise _Reject("record_overrun")
                if rlen % 4:
                    raise _Reject("unaligned_length")
                recs.append((rtag, rp + 8, rlen))
                rp += 8 + rlen
        for tag, _p, _slen, recs in samples:
            minimum = _FLOW_MIN if tag in (1, 3) else _COUNTER_MIN
            for rtag, rp, rlen in recs:
                if rlen < minimum.get(rtag, 0):
                    raise _Reject("record_too_short")
                if tag in (1, 3) and rtag == 1 and 16 + _u32(d, rp + 12) > rlen:
                    raise _Reject("record_too_short")
    except _Reject as bad:
        return header, bad.reason, []
    return header, "", samples


def _interface(fmt: int, value: int) -> int:
    return value if fmt == 0 else ((fmt & 3) << 30) | (value & 0x3FFFFFFF)


def _flow_row(
    d: bytes, tag: int, p: int, recs: list[Any], stats: DecodeStats, skip: Counter[Any]
) -> dict[str, Any]:
    w = struct.unpack_from(">10I", d.ljust(p + 40, b"\0"), p)
    if tag == 1:
        row = {"sample_sequence": w[0], "source_id": w[1] & 0xFFFFFF, "sampling_rate": w[2],
               "in_if": w[5], "out_if": w[6]}  # fmt: skip
    else:
        row = {"sample_sequence": w[0], "source_id": w[2], "sampling_rate": w[3],
               "in_if": _interface(w[6], w[7]), "out_if": _interface(w[8], w[9])}  # fmt: skip
    chosen: dict[int, int] = {}
    for rtag, rp, _rlen in recs:
        if rtag in (1, 3, 4, 1001) and rtag not in chosen:
            chosen[rtag] = rp
        else:
            skip[(rtag >> 12, rtag & 0xFFF)] += 1
    supported = False
    if 1 in chosen:
        rp = chosen[1]
        hp, flen, _stripped, hlen = struct.unpack_from(">IIII", d, rp)
        row["frame_length"] = flen
        supported = hp in (1, 11, 12)
        row.update(_header_fields(hp, d[rp + 16 : rp + 16 + hlen]))
    sampled = 3 in chosen or 4 in chosen
    if "ip_version" not in row and sampled:
        rtag = 3 if 3 in chosen else 4
        rp = chosen[rtag]
        if rtag == 3:
            length, proto, sport, dport, flags, tos = struct.unpack_from(">II8xIIII", d, rp)
            src, dst = d[rp + 8 : rp + 12], d[rp + 12 : rp + 16]
        else:
            length, proto, sport, dport, flags, tos = struct.unpack_from(">II32xIIII", d, rp)
            src, dst = d[rp + 8 : rp + 24], d[rp + 24 : rp + 40]
        for k in ("protocol", "src_port", "dst_port", "tcp_flags", "icmp_type", "icmp_code",
                  "tos", "ttl"):  # fmt: skip
            row.pop(k, None)
        row["ip_version"] = 4 if rtag == 3 else 6
        row["src_ip"] = str(ipaddress.ip_address(src))
        row["dst_ip"] = str(ipaddress.ip_address(dst))
        if proto <= 255:
            row["protocol"] = proto
        if proto in _PORTS and sport <= 0xFFFF:
            row["src_port"] = sport
        if proto in _PORTS and dport <= 0xFFFF:
            row["dst_port"] = dport
        if proto == 6 and flags <= 0x1FF:
            row["tcp_flags"] = flags
        if proto in (1, 58) and sport <= 0xFF:
            row["icmp_type"] = sport
        if proto in (1, 58) and dport <= 0xFF:
            row["icmp_code"] = dport
        if tos <= 0xFF:
            row["tos"] = tos
        row.setdefault("ethertype", 0x0800 if rtag == 3 else 0x86DD)
        row.setdefault("frame_length", length)
    if 1001 in chosen and "vlan" not in row:
        vid = _u32(d, chosen[1001])
        if 0 < vid < 4096:
            row["vlan"] = vid
    if not supported and not sampled:
        stats.flows_without_header += 1
    if row.get("src_ip") is None or row.get("dst_ip") is None:
        stats.flows_without_ip += 1
    return row


#: what only a sampled packet gives a row: a row with none of them is a bare flow sample
_PACKET_KEYS = ("ip_version", "src_ip", "dst_ip", "protocol", "src_port", "dst_port", "tcp_flags",
                "icmp_type", "icmp_code", "tos", "ttl", "ethertype", "src_mac", "dst_mac")  # fmt: skip


def has_packet(row: dict[str, Any]) -> bool:
    """Whether a row has a field only a sampled packet gives (decode puts the others last)."""
    return any(row.get(k) is not None for k in _PACKET_KEYS)


_GENERIC = struct.Struct(">IIQIIQIIIIIIQIIIIII")
_GENERIC_WIDTHS = _GENERIC.format[1:]
_ETH_NAMES = [c.name for c in schema.COUNTER_COLUMNS if c.name.startswith("dot3_")]


def _known(value: int, width: str = "I") -> int | None:
    """All ones (of the field's own width: ``I`` 32, ``Q`` 64 bits) means "unknown" for sFlow counters."""
    return None if value == (0xFFFFFFFFFFFFFFFF if width == "Q" else 0xFFFFFFFF) else value


def _counter_row(
    d: bytes, tag: int, p: int, recs: list[Any], skip: Counter[Any]
) -> dict[str, Any] | None:
    seq, sid_a, sid_b = struct.unpack_from(">III", d.ljust(p + 12, b"\0"), p)
    row: dict[str, Any] = {
        "sample_sequence": seq,
        "source_id": sid_a & 0xFFFFFF if tag == 2 else sid_b,
    }
    seen: set[int] = set()
    for rtag, rp, _rlen in recs:
        if rtag == 1 and 1 not in seen:
            row.update(
                zip(
                    GENERIC_COUNTER_NAMES, map(_known, _GENERIC.unpack_from(d, rp), _GENERIC_WIDTHS)
                )
            )
        elif rtag == 2 and 2 not in seen:
            row.update(zip(_ETH_NAMES, map(_known, struct.unpack_from(">13I", d, rp))))
        else:
            skip[(rtag >> 12, rtag & 0xFFF)] += 1
        seen.add(rtag)
    return row if seen & {1, 2} else None


def _sequence(
    stats: DecodeStats, last: dict[tuple[str, int], tuple[int, int]], key: tuple[str, int], seq: int
) -> None:
    """The rules of flowlab.decoding.sequence, one datagram at a time."""

    def signed(x: int) -> int:
        return (x + (1 << 31)) % (1 << 32) - (1 << 31)

    if key not in last:
        last[key] = (seq, seq)
        return
    high, prev = last[key]
    step = signed(seq - prev)
    if step < 0 and (-step > REORDER_WINDOW or seq <= -step):
        stats.sequence_resets[key] = stats.sequence_resets.get(key, 0) + 1
        last[key] = (seq, seq)
        return
    ahead = signed(seq - high)
    if ahead > 0:
        stats.lost_datagrams[key] = stats.lost_datagrams.get(key, 0) + ahead - 1
        high = seq
    elif ahead == 0:
        stats.duplicate_datagrams += 1
    else:
        stats.late_datagrams += 1
        stats.lost_datagrams[key] = stats.lost_datagrams.get(key, 0) - 1
    last[key] = (high, seq)


def decode_reference(
    datagrams: Sequence[bytes],
    received_ms: Sequence[int],
    *,
    peers: Sequence[str | None] | None = None,
    source: str = "sflow",
    last: dict[tuple[str, int], tuple[int, int]] | None = None,
) -> Decoded:
    """Decode datagrams one by one; same output as :func:`flowlab.sflow.decode.decode`."""
    stats = DecodeStats(datagrams=len(datagrams))
    last = {} if last is None else last
    flows: list[dict[str, Any]] = []
    counters: list[dict[str, Any]] = []
    bad: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    sskip: Counter[Any] = Counter()
    rskip: Counter[Any] = Counter()
    for i, d in enumerate(datagrams):
        header, reason, samples = _structure(bytes(d))
        if header is not None and not reason:  # only accepted datagrams move the sequence state
            agent = (
                header[0]
                or (peers[i] if peers is not None else None)
                or ("0.0.0.0" if len(d) >= 8 and _u32(d, 4) == 1 else "::")
            )
            _sequence(stats, last, (agent, header[1]), header[2])
        if reason:
            bad[reason] += 1
            continue
        assert header is not None
        stats.datagrams_ok += 1
        common = {"time": received_ms[i], "exporter": agent, "sequence": header[2],
                  "sub_agent_id": header[1], "source": source}  # fmt: skip
        for tag, p, _slen, recs in samples:
            kinds[_KIND.get(tag, "unknown")] += 1
            if tag in (1, 3):
                flows.append({**common, **_flow_row(bytes(d), tag, p, recs, stats, rskip)})
            elif tag in (2, 4):
                row = _counter_row(bytes(d), tag, p, recs, rskip)
                if row is not None:
                    counters.append({**common, **row})
            else:
                sskip[(tag >> 12, tag & 0xFFF)] += 1
    stats.datagrams_bad = dict(bad)
    stats.samples = dict(kinds)
    stats.samples_skipped = dict(sskip)
    stats.records_skipped = dict(rskip)
    stats.lost_datagrams = {k: v for k, v in stats.lost_datagrams.items() if v}
    stats.flows, stats.counters = len(flows), len(counters)
    # rows with no packet field (bare flow samples) come after the others, each in wire order
    flows = [f for f in flows if has_packet(f)] + [f for f in flows if not has_packet(f)]
    fs = {k: v for k, v in schema.FLOW_SCHEMA.items() if k not in ("bytes", "packets")}
    fs["time"] = pl.Int64()
    frame = pl.DataFrame(flows, schema={k: v for k, v in fs.items() if k in _FLOW_INPUT})
    frame = frame.with_columns(
        pl.col("time").cast(schema.TIME), *schema.scale_expr(), pl.lit("sflow").alias("flow_format")
    )
    flow_frame = schema.conform(orient(frame.lazy()).collect()) if flows else schema.empty()
    cs = dict(schema.COUNTER_SCHEMA)
    cs["time"] = pl.Int64()
    cframe = pl.DataFrame(counters, schema=cs).with_columns(pl.col("time").cast(schema.TIME))
    return Decoded(flows=flow_frame, counters=schema.conform(cframe, counters=True), stats=stats)


_FLOW_INPUT = {c.name for c in schema.FLOW_COLUMNS} - {
    "bytes",
    "packets",
    "client_ip",
    "server_ip",
    "client_port",
    "service_port",
    "service_name",
}
