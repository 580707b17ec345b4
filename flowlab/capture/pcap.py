"""Read flow datagrams (sFlow by default) from pcap and pcapng capture files.

:func:`iter_pcap` reads the file in fixed-size chunks (bounded memory however
large the file), finds the UDP datagrams sent to the protocol's port and decodes
them in batches with its decoder (:func:`flowlab.decoding.get_decoder`); :func:`read_pcap`
concatenates the batches. The ``time`` column is the capture timestamp; the
``exporter`` is the agent address in the datagram (the UDP source address
when the agent address is unspecified).

Formats: classic pcap (either byte order, microsecond and nanosecond
timestamps) and pcapng (several sections and interfaces, per-interface
``if_tsresol``/``if_tsoffset``; enhanced, simple and obsolete packet blocks;
other blocks are skipped). Link types: see
:data:`flowlab.capture._linktypes.LINK_TYPES`.

IP fragments (IPv4, and IPv6 fragment headers) are reassembled, also when a
datagram's fragments fall in different chunks (:mod:`flowlab.capture._reassembly`);
fragments whose datagram never completes are counted as ``fragment``. Packets
that are not sFlow (other ports, not UDP, unsupported link types) are counted
in ``stats.packets_skipped``, never errors. A file cut
in the middle of a record decodes everything before the cut and counts the
rest (``truncated_file``); a pcapng block too short for its own fixed fields
is counted as ``short_block``, a packet whose time lies outside 1970-9999 (say
``if_tsresol=0`` with a 64-bit timestamp) as ``bad_timestamp``. Only a file
that is not pcap/pcapng at all raises
:class:`~flowlab.exceptions.PcapError`.

Examples
--------
>>> import tempfile, os
>>> from flowlab.capture.pcap_write import write_pcap, sflow_packets
>>> from flowlab.sflow.encode import encode_datagram
>>> from flowlab.sflow.packet import raw_header
>>> from flowlab.sflow.records import Datagram, FlowSample
>>> rec = raw_header("10.0.0.1", "10.0.0.2", 6, 40000, 443, payload_length=100)
>>> d = encode_datagram(Datagram("192.0.2.1", 1, 0, [FlowSample(1, 3, 400, 400, [rec])]))
>>> path = os.path.join(tempfile.mkdtemp(), "x.pcap")
>>> write_pcap(path, sflow_packets([d], agent="192.0.2.1", start_s=1_700_000_000.25))
>>> out = read_pcap(path)
>>> out.flows.select("time", "exporter", "dst_port").row(0)
(datetime.datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=zoneinfo.ZoneInfo(key='UTC')), '192.0.2.1', 443)
>>> out.stats.packets, out.stats.datagrams_ok
(1, 1)
"""

from __future__ import annotations

import logging
import os
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from flowlab import _accel
from flowlab._arrays import I64
from flowlab._pool import buffer
from flowlab.capture._linktypes import SKIP_REASONS, Located, locate
from flowlab.capture._reassembly import Reassembler, fragment_of
from flowlab.decoding import Datagrams, Decoded, Decoder, DecodeStats, get_decoder, new_state
from flowlab.decoding.addresses import address_text
from flowlab.decoding.decoder import batch_datagrams as batch_size
from flowlab.exceptions import PcapError

__all__ = ["iter_pcap", "read_pcap"]

log = logging.getLogger("flowlab.capture.pcap")

_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000),
    b"\xa1\xb2\xc3\xd4": (">", 1_000_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000),
    b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000),
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
_MAX_RECORD = 1 << 24  # larger captured lengths mean a corrupt file
#: smallest total length of the pcapng blocks read (interface, obsolete packet, simple, enhanced)
_MIN_BLOCK = {1: 20, 2: 32, 3: 16, 6: 32}
#: packet times flowlab accepts (ms since 1970): up to the year 9999, as the time column holds
_MAX_MS = 253_402_300_800_000


@dataclass
class _Packets:
    """Packets found in one chunk: offsets into the chunk, captured lengths, link types, times."""

    off: list[int] = field(default_factory=list)
    caplen: list[int] = field(default_factory=list)
    link: list[int] = field(default_factory=list)
    ms: list[int] = field(default_factory=list)
    blocks: list[tuple[np.ndarray, ...]] = field(default_factory=list)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(offsets, captured lengths, link types, times in ms) as int64 arrays."""
        parts = [*self.blocks]
        if self.off:
            parts.append(
                tuple(
                    np.array(x, dtype=np.int64) for x in (self.off, self.caplen, self.link, self.ms)
                )
            )
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty, empty
        off, cap, link, ms = (np.concatenate([p[i] for p in parts]) for i in range(4))
        return off, cap, link, ms


@dataclass
class _Interface:
    link: int
    snaplen: int
    units_per_s: int = 1_000_000
    offset_s: int = 0


def _ms(ts: int, units_per_s: int, offset_s: int = 0) -> int:
    return ts * 1000 // units_per_s + offset_s * 1000


class _Reader:
    """Sequential record parser over chunks; keeps state (format, byte order, interfaces)."""

    def __init__(self, head: bytes, path: Path) -> None:
        self.path = path
        self.skipped: dict[str, int] = {}
        self.done = False
        if head[:4] in _PCAP_MAGIC:
            self.kind = "pcap"
            self.endian, self.units = _PCAP_MAGIC[head[:4]]
            if len(head) < 24:
                msg = f"{path}: pcap global header is cut short ({len(head)} of 24 bytes); the file is truncated"
                raise PcapError(msg)
            self.link = struct.unpack_from(self.endian + "I", head, 20)[0] & 0x0FFFFFFF
            self.start = 24
        elif head[:4] == _PCAPNG_SHB:
            self.kind = "pcapng"
            self.endian = "<"
            self.interfaces: list[_Interface] = []
            self.start = 0
        else:
            found = head[:8].hex(" ") or "an empty file"
            msg = (
                f"{path} is not a pcap or pcapng capture: it starts with {found}; expected a pcap "
                "magic (d4 c3 b2 a1, a1 b2 c3 d4, 4d 3c b2 a1, a1 b2 3c 4d) or a pcapng section "
                "header (0a 0d 0d 0a). Write captures with tcpdump -w or tshark -w."
            )
            raise PcapError(msg)

    def _skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def parse(self, chunk: bytes | memoryview, pos: int, out: _Packets, final: bool) -> int:
        """Parse whole records of `chunk` from `pos`; return where the first incomplete one starts."""
        if self.kind == "pcap":
            return self._parse_pcap(chunk, pos, out, final)
        return self._parse_pcapng(chunk, pos, out, final)

    def _parse_pcap(self, chunk: bytes | memoryview, pos: int, out: _Packets, final: bool) -> int:
        unpack = struct.Struct(self.endian + "I").unpack_from
        size = len(chunk)
        head, caplen, ms, pos = _records(chunk, pos, self.endian, self.units)
        if pos + 12 <= size and (incl := unpack(chunk, pos + 8)[0]) > _MAX_RECORD:
            log.warning("%s: corrupt record length %d; stopping", self.path, incl)
            self._skip("corrupt_record")
            self.done = True
            pos = size
        if final and pos < size:
            self._skip("truncated_file")
        if head.size:
            link = np.full(head.size, self.link, dtype=np.int64)
            out.blocks.append((head + 16, caplen, link, ms))
        return pos

    def _parse_pcapng(self, chunk: bytes | memoryview, pos: int, out: _Packets, final: bool) -> int:
        size = len(chunk)
        while pos + 12 <= size:
            if bytes(chunk[pos : pos + 4]) == _PCAPNG_SHB:
                bom = bytes(chunk[pos + 8 : pos + 12])
                if bom == b"\x4d\x3c\x2b\x1a":
                    self.endian = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    self.endian = ">"
                else:
                    self._skip("corrupt_record")
                    self.done = True
                    return size
                self.interfaces = []
            btype, blen = struct.unpack_from(self.endian + "II", chunk, pos)
            if blen < 12 or blen % 4 or blen > _MAX_RECORD:
                log.warning("%s: corrupt pcapng block length %d; stopping", self.path, blen)
                self._skip("corrupt_record")
                self.done = True
                return size
            if pos + blen > size:
                break
            body = pos + 8
            if blen < _MIN_BLOCK.get(btype, 12):  # too short for its own fixed fields
                self._skip("short_block")
            elif btype == 1:  # interface description
                link, _res, snap = struct.unpack_from(self.endian + "HHI", chunk, body)
                iface = _Interface(link, snap)
                self._options(chunk, body + 8, pos + blen - 4, iface)
                self.interfaces.append(iface)
            elif btype in (6, 2, 3):
                self._packet(chunk, btype, body, pos + blen - 4, out)
            pos += blen
        if final and pos < size:
            self._skip("truncated_file")
        return pos

    def _options(self, chunk: bytes | memoryview, pos: int, end: int, iface: _Interface) -> None:
        while pos + 4 <= end:
            code, length = struct.unpack_from(self.endian + "HH", chunk, pos)
            if code == 0:
                break
            value = bytes(chunk[pos + 4 : min(pos + 4 + length, end)])
            if code == 9 and len(value) >= 1:  # if_tsresol
                v = value[0]
                iface.units_per_s = 2 ** (v & 0x7F) if v & 0x80 else 10**v
            elif code == 14 and len(value) >= 8:  # if_tsoffset, seconds
                iface.offset_s = struct.unpack(self.endian + "q", value[:8])[0]
            pos += 4 + ((length + 3) & ~3)

    def _packet(
        self, chunk: bytes | memoryview, btype: int, body: int, end: int, out: _Packets
    ) -> None:
        if btype == 3:  # simple packet block: interface 0, no timestamp
            if not self.interfaces:
                self._skip("no_interface")
                return
            iface = self.interfaces[0]
            (orig,) = struct.unpack_from(self.endian + "I", chunk, body)
            incl = min(orig, end - body - 4, iface.snaplen or orig)
            data, ts = body + 4, 0
        else:
            if btype == 6:
                if_id, hi, lo, incl, _orig = struct.unpack_from(self.endian + "IIIII", chunk, body)
                data = body + 20
            else:  # obsolete packet block
                if_id, _drops, hi, lo, incl, _orig = struct.unpack_from(
                    self.endian + "HHIIII", chunk, body
                )
                data = body + 20
            if if_id >= len(self.interfaces):
                self._skip("no_interface")
                return
            iface = self.interfaces[if_id]
            ts = (hi << 32) | lo
            incl = min(incl, end - data)
        ms = _ms(ts, iface.units_per_s, iface.offset_s)
        if not 0 <= ms < _MAX_MS:  # e.g. if_tsresol=0 (seconds) with a 64-bit timestamp
            self._skip("bad_timestamp")
            return
        out.off.append(data)
        out.caplen.append(incl)
        out.link.append(iface.link)
        out.ms.append(ms)


def _records(
    chunk: bytes | memoryview, pos: int, endian: str, units: int
) -> tuple[I64, I64, I64, int]:
    """The whole pcap records of `chunk` from `pos` (stopping before an incomplete one or one
    longer than the limit, which the caller reports): where each starts, its captured length and
    its time in ms (`units`: timestamp fractions per second); and where the walk stopped."""
    core = _accel.native()
    if core is not None:  # one pass: room for a record per 512 bytes, more when that fills
        parts, room = [], len(chunk) // 512 + 64
        while True:
            got = [np.empty(room, dtype=np.int64) for _ in range(3)]
            count, pos = core.pcap_records(chunk, pos, endian == "<", _MAX_RECORD, units, *got)
            parts.append([a[:count] for a in got])
            if count < room:
                cols = parts[0] if len(parts) == 1 else [np.concatenate(c) for c in zip(*parts)]
                return cols[0], cols[1], cols[2], pos
            room *= 2
    unpack = struct.Struct(endian + "I").unpack_from
    size = len(chunk)
    found: list[int] = []
    append = found.append
    try:  # the tightest loop CPython allows: unpack raises at the chunk's end
        while True:
            (incl,) = unpack(chunk, pos + 8)
            nxt = pos + 16 + incl
            if nxt > size or incl > _MAX_RECORD:
                break
            append(pos)
            pos = nxt
    except struct.error:
        pass
    head = np.array(found, dtype=np.int64)
    fields = np.zeros((0, 3), dtype=np.int64)
    if head.size:  # the header fields of every record at once
        data = np.frombuffer(chunk, dtype=np.uint8)
        fields = data[head[:, None] + np.arange(12)].view(endian + "u4").astype(np.int64)
    ms = fields[:, 0] * 1000 + fields[:, 1] * 1000 // units
    return head, fields[:, 2], ms, pos


def iter_pcap(
    path: str | os.PathLike[str],
    *,
    port: int | tuple[int, ...] | None = None,
    batch_datagrams: int | None = None,
    chunk_bytes: int = 8 << 20,
    source: str = "pcap",
    state: Any = None,
    progress: bool = False,
    protocol: str | Decoder = "sflow",
) -> Iterator[Decoded]:
    """Decode a pcap/pcapng file of flow datagrams (sFlow by default) batch by batch, in bounded memory.

    Parameters
    ----------
    path : path-like
        The capture file.
    port : int or tuple of int, optional
        UDP destination port(s) of the datagrams (default the protocol's: 6343 for
        sFlow; ``protocol="auto"``: 6343, 2055 and 4739).
    batch_datagrams : int, optional
        At most this many datagrams per yielded batch (default: the protocol's,
        :func:`flowlab.decoding.decoder.batch_datagrams`: 8192 for sFlow, 32768 for
        IPFIX, 4096 for NetFlow v5/v9).
    chunk_bytes : int
        Size of the file reads; memory use is a small multiple of it.
    source : str
        Value of the ``source`` column.
    state : SequenceTracker or the decoder's state, optional
        Batch-to-batch decoder state (sequence gaps; NetFlow/IPFIX templates):
        by default one per file (:func:`flowlab.decoding.new_state`).
    progress : bool
        Show a tqdm progress bar over the file's bytes.
    protocol : str or Decoder
        The flow protocol of the datagrams (:func:`flowlab.decoding.get_decoder`).

    Yields
    ------
    Decoded
        One batch each; packet counts (``stats.packets``,
        ``stats.packets_skipped``) are on the batch that read them.

    Raises
    ------
    PcapError
        The file cannot be opened, or is not pcap/pcapng.
    """
    p = Path(path)
    decoder = get_decoder(protocol)
    port = getattr(decoder, "ports", decoder.port) if port is None else port
    tracker = state if state is not None else new_state(decoder)
    batch_datagrams = batch_datagrams or batch_size(decoder)
    try:
        f = p.open("rb")
    except OSError as exc:
        msg = f"cannot open capture file {p}: {exc.strerror or exc}"
        raise PcapError(msg) from exc
    with f:
        total = os.fstat(f.fileno()).st_size
        reader = _Reader(f.read(24), p)
        f.seek(reader.start)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="B", unit_scale=True, desc=p.name)
        # one reusable buffer: the unparsed tail of a read moves to its front, the next read
        # fills the rest (no per-chunk allocation; a record longer than the buffer grows it)
        # (no bigger than the file, and not zero-filled: every byte used is read into it first)
        buf = buffer(max(1, min(chunk_bytes, total - reader.start)))  # huge pages: few faults
        view = buf.data
        reassembler = Reassembler()  # IP fragments may straddle chunks
        have = 0
        while not reader.done:
            got = f.readinto(view[have:])
            final = not got
            have += got
            if not have:
                break
            packets = _Packets()
            chunk = view[:have]
            used = reader.parse(chunk, 0, packets, final)
            if bar is not None:
                bar.update(got)
            yield from _decode_chunk(
                chunk, packets, reader, port, batch_datagrams, source, tracker, reassembler, decoder
            )
            if final:
                break
            rest = have - used
            if used == 0 and have == len(buf):  # one record larger than the buffer
                chunk.release()
                view.release()
                buf = np.concatenate([buf, np.empty_like(buf)])
                view = buf.data
            else:
                view[:rest] = view[used:have]
            have = rest
        if bar is not None:
            bar.close()
        if left := reassembler.pending_fragments:  # datagrams whose other fragments never came
            stats = DecodeStats(packets_skipped={"fragment": left})
            yield Decoded(stats=stats)


_FRAGMENT = SKIP_REASONS.index("fragment")


def _reassembled(
    chunk: bytes | memoryview,
    off: np.ndarray,
    caplen: np.ndarray,
    loc: Located,
    reassembler: Reassembler,
    port: int | tuple[int, ...],
    skipped: Counter[str],
) -> list[tuple[int, bytes, bytes]]:
    """Feed this chunk's IP fragments; returns (packet index, sFlow payload, source) per datagram
    completed, and counts the fragments of datagrams that are not sFlow."""
    done: list[tuple[int, bytes, bytes]] = []
    for i in np.flatnonzero(loc.reason == _FRAGMENT).tolist():
        start = int(off[i])
        frag = fragment_of(
            chunk, start + int(loc.l3[i]), start + int(loc.l4[i]), start + int(caplen[i]),
            bool(loc.is6[i]),
        )  # fmt: skip
        if frag is None:
            skipped["truncated_packet"] += 1
            continue
        whole = reassembler.add(frag.key, frag.offset, frag.data, more=frag.more)
        if whole is None:
            continue
        payload, count = whole
        reason = ""
        if frag.key[4] != 17 or len(payload) < 8:
            reason = "not_udp"
        elif struct.unpack_from("!H", payload, 2)[0] not in _ports(port):
            reason = "other_port"
        if reason:
            skipped[reason] += count
            continue
        (udp_len,) = struct.unpack_from("!H", payload, 4)
        end = udp_len if 8 <= udp_len <= len(payload) else len(payload)
        done.append((i, payload[8:end], frag.key[1]))
    return done


def _ports(port: int | tuple[int, ...]) -> tuple[int, ...]:
    return (port,) if isinstance(port, int) else tuple(port)


def _decode_chunk(
    chunk: bytes | memoryview,
    packets: _Packets,
    reader: _Reader,
    port: int | tuple[int, ...],
    batch: int,
    source: str,
    tracker: Any,
    reassembler: Reassembler,
    decoder: Decoder,
) -> Iterator[Decoded]:
    data = np.frombuffer(chunk, dtype=np.uint8)
    off, caplen, link, ms = packets.arrays()
    loc = locate(data, off, caplen, link, port)
    skipped = Counter(reader.skipped)
    reader.skipped.clear()
    for code, count in enumerate(np.bincount(loc.reason, minlength=len(SKIP_REASONS)).tolist()):
        if count and code and code != _FRAGMENT:  # fragments: counted once their fate is known
            skipped[SKIP_REASONS[code]] += count
    extra = _reassembled(chunk, off, caplen, loc, reassembler, port, skipped)
    if reassembler.dropped:  # given up on (memory bound, inconsistent lengths)
        skipped["fragment"] += reassembler.dropped
        reassembler.dropped = 0
    keep = np.flatnonzero(loc.reason == 0)
    buffer, p_off, p_len = data, loc.payload_off[keep], loc.payload_len[keep]
    p_ms, src4, src6, is6 = ms[keep], loc.src4[keep], loc.src6[keep], loc.is6[keep]
    if extra:  # reassembled datagrams join the others in packet order
        blob = np.frombuffer(b"".join(p for _, p, _ in extra), dtype=np.uint8)
        sizes = np.array([len(p) for _, p, _ in extra], dtype=np.int64)
        at = np.array([i for i, _, _ in extra], dtype=np.int64)
        srcs = [s for _, _, s in extra]
        e6 = np.array([len(s) == 16 for s in srcs])
        e4 = np.array([int.from_bytes(s, "big") if len(s) == 4 else 0 for s in srcs], np.uint32)
        w6 = np.zeros((len(srcs), 4), dtype=np.uint32)
        for k, s in enumerate(srcs):
            if len(s) == 16:
                w6[k] = np.frombuffer(s, dtype=">u4")
        order = np.argsort(np.concatenate([keep, at]), kind="stable")
        buffer = np.concatenate([data, blob])
        starts = data.size + np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        p_off = np.concatenate([p_off, starts])[order]
        p_len = np.concatenate([p_len, sizes])[order]
        p_ms = np.concatenate([p_ms, ms[at]])[order]
        src4 = np.concatenate([src4, e4])[order]
        src6 = np.concatenate([src6, w6])[order]
        is6 = np.concatenate([is6, e6])[order]
    first = True
    for b0 in range(0, max(p_off.size, 1), batch):
        sl = slice(b0, b0 + batch)
        peers = address_text(src4[sl], ~is6[sl], src6[sl], is6[sl])
        datagrams = Datagrams.of(buffer, p_off[sl], p_len[sl], received_ms=p_ms[sl], peers=peers)
        out = decoder.decode(datagrams, source=source, state=tracker)
        if first:
            out.stats.packets = off.size
            out.stats.packets_skipped = dict(skipped)
            first = False
        yield out


def read_pcap(
    path: str | os.PathLike[str],
    *,
    port: int | tuple[int, ...] | None = None,
    batch_datagrams: int | None = None,
    source: str = "pcap",
    progress: bool = False,
    protocol: str | Decoder = "sflow",
) -> Decoded:
    """Decode a whole pcap/pcapng file of flow datagrams (sFlow by default) into one :class:`Decoded`.

    Same parameters as :func:`iter_pcap`; for files too large for memory,
    iterate with :func:`iter_pcap` instead.
    """
    # batches are kept as they come (Polars frames, no intermediate copies) and joined once
    # without rechunking: a final rechunk would hold the whole frame twice at the peak
    flows: list[pl.DataFrame] = []
    counters: list[pl.DataFrame] = []
    stats = DecodeStats()
    for part in iter_pcap(
        path,
        port=port,
        batch_datagrams=batch_datagrams,
        source=source,
        progress=progress,
        protocol=protocol,
    ):
        if part.flows.height or not flows:
            flows.append(part.flows)
        if part.counters.height or not counters:
            counters.append(part.counters)
        stats = stats.merge(part.stats)
    return Decoded(
        flows=pl.concat(flows, rechunk=False) if len(flows) > 1 else flows[0],
        counters=pl.concat(counters, rechunk=False) if len(counters) > 1 else counters[0],
        stats=stats,
    )
