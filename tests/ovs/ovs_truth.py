"""Ground truth for the OVS lab, computed independently of flowlab's decoder.

* :func:`frames` parses the pcap that ``tcpdump -Q out`` wrote inside a pod's
  namespace into one row per Ethernet frame (addresses, ports, protocol,
  length) -- what that pod put on the wire, hence what entered the bridge on
  its port.
* :func:`sflow_census` walks the sFlow datagrams of a capture on ``lo`` just
  far enough to count samples and record formats by type and to list datagram
  sequence numbers per agent. It is a second, deliberately simple reading used
  to document the fixtures and to cross-check the decoder's skip counts.

A small per-packet Python loop is fine here: these are test oracles over a few
thousand packets, not the product's hot path.
"""

from __future__ import annotations

import ipaddress
import itertools
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

LINKTYPE_ETHERNET = 1

FRAME_SCHEMA = {
    "src_mac": pl.String,
    "dst_mac": pl.String,
    "src_ip": pl.String,
    "dst_ip": pl.String,
    "protocol": pl.UInt8,
    "src_port": pl.UInt16,
    "dst_port": pl.UInt16,
    "icmp_type": pl.UInt8,
    "tcp_flags": pl.UInt16,
    "ethertype": pl.UInt16,
    "wire_len": pl.UInt32,
}


def pcap_records(path: str | Path) -> Iterator[tuple[float, int, bytes]]:
    """Yield (timestamp, original length, captured bytes) from a classic pcap file."""
    data = Path(path).read_bytes()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        msg = f"{path}: not a classic pcap file (magic {magic.hex()})"
        raise ValueError(msg)
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    (linktype,) = struct.unpack_from(endian + "I", data, 20)
    if linktype != LINKTYPE_ETHERNET:
        msg = f"{path}: link type {linktype}, expected Ethernet (1)"
        raise ValueError(msg)
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack_from(endian + "IIII", data, off)
        off += 16
        yield sec + frac / (1e9 if nano else 1e6), orig, data[off : off + incl]
        off += incl


def parse_frame(frame: bytes, wire_len: int) -> dict[str, object]:
    """Fields of one Ethernet frame (VLAN tags skipped; IPv6 hop-by-hop skipped)."""
    row: dict[str, object] = dict.fromkeys(FRAME_SCHEMA)
    row["wire_len"] = wire_len
    row["dst_mac"] = frame[0:6].hex(":")
    row["src_mac"] = frame[6:12].hex(":")
    off = 12
    (etype,) = struct.unpack_from("!H", frame, off)
    off += 2
    while etype in (0x8100, 0x88A8) and len(frame) >= off + 4:
        (etype,) = struct.unpack_from("!H", frame, off + 2)
        off += 4
    row["ethertype"] = etype
    if etype == 0x0800 and len(frame) >= off + 20:
        ihl = (frame[off] & 0x0F) * 4
        proto = frame[off + 9]
        row["src_ip"] = str(ipaddress.IPv4Address(frame[off + 12 : off + 16]))
        row["dst_ip"] = str(ipaddress.IPv4Address(frame[off + 16 : off + 20]))
        off += ihl
    elif etype == 0x86DD and len(frame) >= off + 40:
        proto = frame[off + 6]
        row["src_ip"] = str(ipaddress.IPv6Address(frame[off + 8 : off + 24]))
        row["dst_ip"] = str(ipaddress.IPv6Address(frame[off + 24 : off + 40]))
        off += 40
        while proto in (0, 43, 60) and len(frame) >= off + 2:  # hop-by-hop, routing, dest opts
            proto, hlen = frame[off], (frame[off + 1] + 1) * 8
            off += hlen
    else:
        return row
    row["protocol"] = proto
    if proto in (6, 17) and len(frame) >= off + 4:
        row["src_port"], row["dst_port"] = struct.unpack_from("!HH", frame, off)
        if proto == 6 and len(frame) >= off + 14:
            row["tcp_flags"] = ((frame[off + 12] & 0x01) << 8) | frame[off + 13]
    elif proto in (1, 58) and len(frame) > off:
        row["icmp_type"] = frame[off]
    return row


def frames(path: str | Path) -> pl.DataFrame:
    """One row per frame of an Ethernet pcap (see :data:`FRAME_SCHEMA`)."""
    rows = [parse_frame(data, orig) for _, orig, data in pcap_records(path)]
    return pl.DataFrame(rows, schema=FRAME_SCHEMA, orient="row")


def udp_payloads(path: str | Path, port: int) -> list[bytes]:
    """UDP payloads sent to `port` (IPv4 or IPv6 over Ethernet, e.g. a capture on ``lo``)."""
    out = []
    for _, _, frame in pcap_records(path):
        (etype,) = struct.unpack_from("!H", frame, 12)
        if etype == 0x0800:
            ihl = (frame[14] & 0x0F) * 4
            if frame[23] != 17:
                continue
            udp = 14 + ihl
        elif etype == 0x86DD:
            if frame[20] != 17:
                continue
            udp = 54
        else:
            continue
        (dport,) = struct.unpack_from("!H", frame, udp + 2)
        if dport == port:
            out.append(frame[udp + 8 :])
    return out


SAMPLE_KINDS = {1: "flow", 2: "counters", 3: "flow_expanded", 4: "counters_expanded"}


@dataclass
class Census:
    """What a set of sFlow datagrams contains, by type."""

    datagrams: int = 0
    samples: Counter[str] = field(default_factory=Counter)
    flow_records: Counter[int] = field(default_factory=Counter)
    counter_records: Counter[int] = field(default_factory=Counter)
    sampling_rates: Counter[int] = field(default_factory=Counter)
    header_lengths: Counter[int] = field(default_factory=Counter)
    sequences: dict[str, list[int]] = field(default_factory=dict)
    agents: Counter[str] = field(default_factory=Counter)

    def gaps(self) -> dict[str, int]:
        """Datagrams missing between consecutive sequence numbers, per agent/sub-agent.

        A sequence that goes *down* is a restart (new sFlow configuration), not a loss.
        """
        out = {}
        for key, seqs in self.sequences.items():
            missing = 0
            for a, b in itertools.pairwise(seqs):
                if b > a + 1:
                    missing += b - a - 1
            out[key] = missing
        return out

    def as_dict(self) -> dict[str, object]:
        return {
            "datagrams": self.datagrams,
            "agents": dict(self.agents),
            "samples": dict(self.samples),
            "flow_records": {str(k): v for k, v in sorted(self.flow_records.items())},
            "counter_records": {str(k): v for k, v in sorted(self.counter_records.items())},
            "sampling_rates": {str(k): v for k, v in sorted(self.sampling_rates.items())},
            "header_lengths": {str(k): v for k, v in sorted(self.header_lengths.items())},
            "sequence_gaps": self.gaps(),
            "sequence_restarts": {
                k: sum(1 for a, b in itertools.pairwise(s) if b <= a)
                for k, s in self.sequences.items()
            },
        }


def sflow_census(datagrams: list[bytes]) -> Census:
    """Count datagrams, samples by kind and record formats.

    Record formats are the raw 32-bit words (``enterprise << 12 | format``), so
    standard records read as their format number (1, 2, 1001, 2207, ...).
    """
    c = Census()
    for d in datagrams:
        c.datagrams += 1
        version, atype = struct.unpack_from("!II", d, 0)
        if version != 5:
            continue
        if atype == 1:
            agent = str(ipaddress.IPv4Address(d[8:12]))
            off = 12
        else:
            agent = str(ipaddress.IPv6Address(d[8:24]))
            off = 24
        sub, seq, _uptime, nsamples = struct.unpack_from("!IIII", d, off)
        off += 16
        key = f"{agent}/{sub}"
        c.agents[agent] += 1
        c.sequences.setdefault(key, []).append(seq)
        for _ in range(nsamples):
            stype, slen = struct.unpack_from("!II", d, off)
            body = off + 8
            off = body + slen
            kind = SAMPLE_KINDS.get(stype, f"other:{stype}")
            c.samples[kind] += 1
            if stype in (1, 3):
                if stype == 1:
                    rate = struct.unpack_from("!I", d, body + 8)[0]
                    nrec = struct.unpack_from("!I", d, body + 28)[0]
                    roff = body + 32
                else:
                    rate = struct.unpack_from("!I", d, body + 12)[0]
                    nrec = struct.unpack_from("!I", d, body + 44)[0]
                    roff = body + 48
                c.sampling_rates[rate] += 1
                for _ in range(nrec):
                    rfmt, rlen = struct.unpack_from("!II", d, roff)
                    c.flow_records[rfmt] += 1
                    if rfmt == 1:
                        c.header_lengths[struct.unpack_from("!I", d, roff + 20)[0]] += 1
                    roff += 8 + rlen
            elif stype in (2, 4):
                if stype == 2:
                    nrec = struct.unpack_from("!I", d, body + 8)[0]
                    roff = body + 12
                else:
                    nrec = struct.unpack_from("!I", d, body + 12)[0]
                    roff = body + 16
                for _ in range(nrec):
                    rfmt, rlen = struct.unpack_from("!II", d, roff)
                    c.counter_records[rfmt] += 1
                    roff += 8 + rlen
    return c


def sflow_samples(datagrams: list[bytes]) -> pl.DataFrame:
    """One row per compact flow sample with a raw-header record: the frame it describes.

    Columns: those of :data:`FRAME_SCHEMA` parsed from the sampled header, with
    ``wire_len`` the record's ``frame_length``; plus ``stripped``,
    ``sampling_rate``, ``in_if``, ``out_if``, ``source_id`` and the datagram
    ``sequence``.
    """
    rows = []
    for d in datagrams:
        if struct.unpack_from("!I", d, 0)[0] != 5:
            continue
        off = 12 if struct.unpack_from("!I", d, 4)[0] == 1 else 24
        _sub, seq, _up, nsamples = struct.unpack_from("!IIII", d, off)
        off += 16
        for _ in range(nsamples):
            stype, slen = struct.unpack_from("!II", d, off)
            body = off + 8
            off = body + slen
            if stype != 1:
                continue
            _sseq, src, rate, _pool, _drops, inp, outp, nrec = struct.unpack_from("!8I", d, body)
            roff = body + 32
            for _ in range(nrec):
                rfmt, rlen = struct.unpack_from("!II", d, roff)
                if rfmt == 1:
                    _hp, flen, stripped, hlen = struct.unpack_from("!4I", d, roff + 8)
                    row = parse_frame(d[roff + 24 : roff + 24 + hlen], flen)
                    row.update(
                        stripped=stripped,
                        sampling_rate=rate,
                        in_if=inp,
                        out_if=outp,
                        source_id=src,
                        sequence=seq,
                    )
                    rows.append(row)
                roff += 8 + rlen
    schema = {
        **FRAME_SCHEMA,
        **dict.fromkeys(
            ("stripped", "sampling_rate", "in_if", "out_if", "source_id", "sequence"), pl.UInt32
        ),
    }
    return pl.DataFrame(rows, schema=schema, orient="row")
