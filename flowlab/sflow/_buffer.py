"""Vectorised big-endian reads at many positions of one byte buffer.

sFlow is XDR (big-endian 32-bit words), and datagrams sit at any alignment in
a capture or receive buffer. :class:`Buffer` converts the bytes once into
native uint32 words for each of the four byte phases, so that the 32-bit value
starting at *any* byte position is one gather from an aligned native array
(``words[(pos & 3) * R + (pos >> 2)]``): no per-datagram copy, no unaligned
or byte-swapping access in the hot paths. Reads clip to the buffer, so an
unchecked position never raises; callers mask what they did not check.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from flowlab._arrays import I64, U8, U32

__all__ = ["Buffer"]

_PAD_WORDS = 32  # > the widest multi-word read (generic interface counters: 22 words)


class Buffer:
    """Phase-converted native words of a byte buffer, plus byte reads.

    Parameters
    ----------
    data : numpy uint8 array
        The bytes.
    scratch : numpy uint32 array, optional
        Reused for the words when large enough (no new pages to fault in).

    Examples
    --------
    >>> import numpy as np
    >>> b = Buffer(np.frombuffer(bytes(range(12)), dtype=np.uint8))
    >>> b.u32(np.array([0, 1, 8])).tolist(), b.u16(np.array([1])).tolist(), b.u8(np.array([11])).tolist()
    ([66051, 16909060, 134810123], [258], [11])
    """

    def __init__(self, data: U8, scratch: U32 | None = None) -> None:
        self.size = n = data.size
        self.row = row = n // 4 + _PAD_WORDS
        need = 4 * row + _PAD_WORDS  # the tail pad lets a row read run past the last phase
        if scratch is not None and scratch.size >= need:
            words = scratch[:need]
        else:
            words = np.empty(need, dtype=np.uint32)
        words[4 * row :] = 0
        self.words = words
        self.data = data if n else np.zeros(1, dtype=np.uint8)
        self._lim_w = row - 2
        self._lim_b = max(n - 1, 0)
        # XDR fields sit at the datagram's phase and Ethernet-framed IP fields two bytes off,
        # so the odd phases are rarely read: they are converted on first use
        self._phase(0)
        self._phase(2)
        self._odd = False

    def _phase(self, k: int) -> None:
        data, n, row, words = self.data, self.size, self.row, self.words
        full = max(0, (n - k) // 4)
        base = k * row
        if full:
            words[base : base + full] = data[k : k + 4 * full].view(">u4")
        tail = bytes(data[k + 4 * full : n]) if n > k else b""
        words[base + full] = int.from_bytes(tail.ljust(4, b"\x00"), "big")
        words[base + full + 1 : base + row] = 0

    def _index(self, pos: I64) -> I64:
        if not self._odd and np.bitwise_and(pos, 1).any():
            self._phase(1)
            self._phase(3)
            self._odd = True
        return np.asarray((pos & 3) * self.row + np.minimum(pos >> 2, self._lim_w), dtype=np.int64)

    def u32(self, pos: I64) -> U32:
        """32-bit big-endian values at byte positions `pos` (any alignment)."""
        return self.words[self._index(pos)]

    def u32x(self, pos: I64, words: int) -> U32:
        """`words` consecutive 32-bit values from each position: shape ``(len(pos), words)``.

        One gather of ``4 * words``-byte items from an overlapping view (a
        memcpy per position, not one index per word); ``words`` is at most
        ``_PAD_WORDS``, so every row lies inside the (zero) padding.
        """
        src = self.words
        rows = np.ndarray(
            shape=(src.size - words + 1,),
            dtype=np.dtype((np.void, 4 * words)),
            buffer=src,
            strides=(4,),
        )
        return rows[self._index(pos)].view(np.uint32).reshape(-1, words)

    def u16(self, pos: I64) -> npt.NDArray[np.uint16]:
        """16-bit big-endian values at byte positions `pos`."""
        return (self.u32(pos) >> 16).astype(np.uint16)

    def u8(self, pos: I64) -> U8:
        """Bytes at positions `pos`."""
        return self.data[np.minimum(pos, self._lim_b)]
