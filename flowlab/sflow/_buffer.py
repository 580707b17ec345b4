"""Vectorised big-endian reads at many positions of one byte buffer.

sFlow is XDR: every field of the datagram structure is a 32-bit word at a
multiple of 4 from the datagram start. :func:`aligned` lays the datagrams
out at multiples of 4 (copying only when the caller's offsets are not), and
:class:`Buffer` converts the span once into native uint32 words, so each XDR
field read is one fast gather. Packet-header fields are byte-granular and
are read with uint8 gathers. Reads clip to the buffer, so an unchecked
position never raises; callers mask what they did not check.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["Buffer", "aligned", "as_uint8"]

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]
_PAD = 128  # > the widest multi-word read (generic interface counters, 88 bytes)


def as_uint8(buffer: bytes | bytearray | memoryview | npt.NDArray[np.uint8]) -> U8:
    """View `buffer` as a 1-D uint8 array (no copy when possible)."""
    if isinstance(buffer, np.ndarray):
        arr = buffer.reshape(-1)
        if arr.dtype != np.uint8:
            arr = arr.view(np.uint8)
        return np.ascontiguousarray(arr)
    return np.frombuffer(buffer, dtype=np.uint8)


def aligned(data: U8, offsets: I64, lengths: I64) -> tuple[U8, I64]:
    """Return a buffer and offsets where every datagram starts at a multiple of 4.

    Datagrams whose locator falls outside `data` get offset -1 (the walk
    rejects them). No copy when the offsets are already aligned.

    Examples
    --------
    >>> import numpy as np
    >>> data, off = aligned(np.frombuffer(b"xabcdefgyz", dtype=np.uint8),
    ...                     np.array([1, 8]), np.array([7, 2]))
    >>> off.tolist(), bytes(data[off[1] : off[1] + 2])
    ([0, 8], b'yz')
    """
    inside = (offsets >= 0) & (lengths >= 0) & (offsets + lengths <= data.size)
    if not (offsets[inside] % 4).any():
        return data, np.where(inside, offsets, -1)
    idx = np.flatnonzero(inside)
    start = offsets[idx]
    padded = (lengths[idx] + 3) & ~3
    new = np.full(offsets.size, -1, dtype=np.int64)
    if idx.size:
        new[idx] = np.concatenate([[0], np.cumsum(padded)[:-1]])
    view = memoryview(data.data)
    fill = b"\x00\x00\x00"
    parts = [view[a : a + n].tobytes() + fill[: p - n] for a, n, p in zip(
        start.tolist(), lengths[idx].tolist(), padded.tolist()
    )]  # fmt: skip
    return np.frombuffer(b"".join(parts), dtype=np.uint8), new


class Buffer:
    """Native uint32 words of an aligned buffer, plus byte-granular reads.

    Examples
    --------
    >>> import numpy as np
    >>> b = Buffer(np.frombuffer(bytes(range(12)), dtype=np.uint8))
    >>> b.u32(np.array([0, 8])).tolist(), b.u16(np.array([1])).tolist(), b.u32b(np.array([1])).tolist()
    ([66051, 134810123], [258], [16909060])
    """

    def __init__(self, data: U8, scratch: U32 | None = None) -> None:
        self.size = stop = data.size
        words = -(-stop // 4)
        need = words + _PAD // 4
        if scratch is not None and scratch.size >= need:
            raw = scratch[:need]  # reused between chunks: no new pages to fault in
            raw[words:] = 0
        else:
            raw = np.zeros(need, dtype=np.uint32)
        full = stop // 4
        if full:
            raw[:full] = data[: full * 4].view(">u4")
        if stop > full * 4:
            tail = bytes(data[full * 4 : stop]).ljust(4, b"\x00")
            raw[full] = int.from_bytes(tail, "big")
        self.words = raw
        self.data = data if data.size >= _PAD else np.concatenate([data, np.zeros(_PAD, np.uint8)])
        self._lim_w = raw.size - 1
        self._lim_b = self.data.size - 1

    def u32(self, pos: I64) -> U32:
        """32-bit words at byte positions `pos` (multiples of 4)."""
        return self.words[np.minimum(pos >> 2, self._lim_w)]

    def u32x(self, pos: I64, words: int) -> U32:
        """`words` consecutive words from each position (multiples of 4): shape ``(len(pos), words)``."""
        idx = (pos >> 2)[:, None] + np.arange(words, dtype=np.int64)
        return self.words[np.minimum(idx, self._lim_w)]

    def u8(self, pos: I64) -> U8:
        """Bytes at any positions."""
        return self.data[np.minimum(pos, self._lim_b)]

    def u16(self, pos: I64) -> npt.NDArray[np.uint16]:
        """16-bit big-endian values at any byte positions."""
        hi = self.u8(pos).astype(np.uint16)
        return np.asarray((hi << 8) | self.u8(pos + 1), dtype=np.uint16)

    def u32b(self, pos: I64) -> U32:
        """32-bit big-endian values at any byte positions."""
        i = np.minimum(pos >> 2, self._lim_w - 1)
        pair = (self.words[i].astype(np.uint64) << np.uint64(32)) | self.words[i + 1]
        shift = (np.uint64(32) - ((pos & 3).astype(np.uint64) << np.uint64(3))).astype(np.uint64)
        return (pair >> shift).astype(np.uint32)
