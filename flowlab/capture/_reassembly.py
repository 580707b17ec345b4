"""IP fragment reassembly for captures (IPv4 and IPv6), across the chunks of one file.

sFlow agents normally keep datagrams under the path MTU, but an agent that
builds larger ones (or a jumbo-frame link on the way) makes the kernel fragment
them, and a capture then holds the fragments. They are rare, so this works one
fragment at a time in Python while the unfragmented packets stay vectorised.

A datagram is complete when its fragments cover it from offset 0 to the end
given by the last fragment (``MF`` clear) without a hole. Overlaps are
accepted: of two fragments at one offset the longer is kept, and where
fragments overlap the one at the lower offset gives the bytes. Incomplete datagrams are kept
in bounded memory (``max_bytes``, oldest dropped first) and, at the end of the
file, counted as skipped fragments: never silently lost.

Examples
--------
>>> r = Reassembler()
>>> key = (4, b"\\x0a\\x00\\x00\\x01", b"\\x0a\\x00\\x00\\x02", 7, 17)
>>> r.add(key, 8, b"orld", more=False) is None
True
>>> r.add(key, 0, b"hello, w", more=True)
(b'hello, world', 2)
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass, field

__all__ = ["Fragment", "Reassembler", "fragment_of"]

#: (IP version, source address bytes, destination address bytes, identification, protocol)
Key = tuple[int, bytes, bytes, int, int]


@dataclass
class _Pending:
    parts: dict[int, bytes] = field(default_factory=dict)
    end: int | None = None
    packets: int = 0


@dataclass
class Fragment:
    """One captured IP fragment: what it belongs to, where it goes, its bytes."""

    key: Key
    offset: int
    data: bytes
    more: bool


class Reassembler:
    """Collect IP fragments until their datagram is whole (bounded memory).

    Parameters
    ----------
    max_bytes : int
        Fragment bytes kept for incomplete datagrams; beyond it the oldest
        datagram's fragments are dropped (counted in :attr:`dropped`).
    """

    def __init__(self, max_bytes: int = 32 << 20) -> None:
        self.max_bytes = max_bytes
        self._pending: OrderedDict[Key, _Pending] = OrderedDict()
        self._bytes = 0
        #: fragments given up on (memory bound reached, or inconsistent lengths)
        self.dropped = 0

    @property
    def pending_fragments(self) -> int:
        """Fragments waiting for the rest of their datagram."""
        return sum(p.packets for p in self._pending.values())

    def add(self, key: Key, offset: int, data: bytes, *, more: bool) -> tuple[bytes, int] | None:
        """Add a fragment; returns (the reassembled payload, its fragment count) once complete."""
        p = self._pending.get(key)
        if p is None:
            p = self._pending[key] = _Pending()
        if not more:
            end = offset + len(data)
            if p.end is not None and p.end != end:  # two different lasts: give up
                self._drop(key)
                self.dropped += 1
                return None
            p.end = end
        if offset not in p.parts or len(data) > len(p.parts[offset]):
            self._bytes += len(data) - len(p.parts.get(offset, b""))
            p.parts[offset] = data
        p.packets += 1
        whole = self._whole(p)
        if whole is not None:
            self._bytes -= sum(len(d) for d in p.parts.values())
            del self._pending[key]
            return whole, p.packets
        while self._bytes > self.max_bytes and self._pending:
            oldest = next(iter(self._pending))
            self.dropped += self._pending[oldest].packets
            self._drop(oldest)
        return None

    def _drop(self, key: Key) -> None:
        p = self._pending.pop(key)
        self._bytes -= sum(len(d) for d in p.parts.values())

    @staticmethod
    def _whole(p: _Pending) -> bytes | None:
        if p.end is None or 0 not in p.parts:
            return None
        out = bytearray(p.end)
        covered = 0
        for off in sorted(p.parts):
            if off > covered:
                return None  # a hole
            data = p.parts[off]
            stop = min(off + len(data), p.end)
            if stop > covered:
                out[covered:stop] = data[covered - off : stop - off]
                covered = stop
        return bytes(out) if covered >= p.end else None


def fragment_of(
    data: bytes | memoryview, l3: int, l4: int, caplen_end: int, version6: bool
) -> Fragment | None:
    """Read the fragment at IP header `l3` (`l4`: the IPv6 fragment header) of a captured packet.

    ``caplen_end`` is where the captured bytes of the packet end. None if the
    fragment is cut short by the capture (its bytes are not all there).
    """
    raw = memoryview(data)
    if version6:
        if l4 + 8 > caplen_end:
            return None
        (payload_len,) = struct.unpack_from("!H", raw, l3 + 4)
        src, dst = bytes(raw[l3 + 8 : l3 + 24]), bytes(raw[l3 + 24 : l3 + 40])
        nxt = int(raw[l4])
        (off_flags, ident) = struct.unpack_from("!HI", raw, l4 + 2)
        start, stop = l4 + 8, l3 + 40 + payload_len
        key: Key = (6, src, dst, ident, nxt)
        offset, more = off_flags & 0xFFF8, bool(off_flags & 1)
    else:
        total, ident, off_flags = struct.unpack_from("!HHH", raw, l3 + 2)
        ihl = (int(raw[l3]) & 0x0F) * 4
        src, dst = bytes(raw[l3 + 12 : l3 + 16]), bytes(raw[l3 + 16 : l3 + 20])
        start, stop = l3 + ihl, l3 + total
        key = (4, src, dst, ident, int(raw[l3 + 9]))
        offset, more = (off_flags & 0x1FFF) * 8, bool(off_flags & 0x2000)
    if stop > caplen_end or stop < start:
        return None
    return Fragment(key, offset, bytes(raw[start:stop]), more)
