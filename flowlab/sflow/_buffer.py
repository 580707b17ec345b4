"""Vectorised big-endian reads at arbitrary byte positions of one uint8 buffer.

A stride-1 ``>u4`` (and ``>u2``) view over the bytes makes element ``i`` the
32-bit word starting at byte ``i``, so one fancy-index gathers words at any
alignment without copying the buffer. Positions must be checked by the
caller; reads clip to the buffer so an unchecked position never raises.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["Buffer", "as_uint8"]

U8 = npt.NDArray[np.uint8]
_MIN_SIZE = 128  # > the widest multi-word read (generic interface counters, 88 bytes)
I64 = npt.NDArray[np.int64]


def as_uint8(buffer: bytes | bytearray | memoryview | npt.NDArray[np.uint8]) -> U8:
    """View `buffer` as a 1-D uint8 array (no copy when possible)."""
    if isinstance(buffer, np.ndarray):
        arr = buffer.reshape(-1)
        if arr.dtype != np.uint8:
            arr = arr.view(np.uint8)
        return np.ascontiguousarray(arr)
    return np.frombuffer(buffer, dtype=np.uint8)


class Buffer:
    """Gather u8/u16/u32 big-endian values at byte positions.

    Examples
    --------
    >>> import numpy as np
    >>> b = Buffer(np.frombuffer(bytes(range(10)), dtype=np.uint8))
    >>> b.u32(np.array([0, 1, 6])).tolist(), b.u16(np.array([8])).tolist()
    ([66051, 16909060, 101124105], [2057])
    """

    def __init__(self, data: U8) -> None:
        self.size = data.size
        if data.size < _MIN_SIZE:  # tiny buffers: pad so every multi-word read stays inside
            data = np.concatenate([data, np.zeros(_MIN_SIZE - data.size, dtype=np.uint8)])
        self.data = data
        n = data.size
        self._v32: np.ndarray = np.ndarray((n - 3,), dtype=">u4", buffer=data, strides=(1,))
        self._v16: np.ndarray = np.ndarray((n - 1,), dtype=">u2", buffer=data, strides=(1,))
        self._lim32 = n - 4
        self._lim16 = n - 2
        self._lim8 = n - 1

    def u32(self, pos: I64) -> npt.NDArray[np.uint32]:
        """32-bit big-endian words at byte positions `pos`."""
        return self._v32[np.minimum(pos, self._lim32)].astype(np.uint32)

    def u16(self, pos: I64) -> npt.NDArray[np.uint16]:
        """16-bit big-endian values at byte positions `pos`."""
        return self._v16[np.minimum(pos, self._lim16)].astype(np.uint16)

    def u8(self, pos: I64) -> U8:
        """Bytes at positions `pos`."""
        return self.data[np.minimum(pos, self._lim8)]

    def u32x(self, pos: I64, words: int) -> npt.NDArray[np.uint32]:
        """`words` consecutive 32-bit words from each position: shape ``(len(pos), words)``."""
        idx = pos[:, None] + np.arange(0, 4 * words, 4, dtype=np.int64)
        return self._v32[np.minimum(idx, self._lim32)].astype(np.uint32)

    def u64(self, pos: I64) -> npt.NDArray[np.uint64]:
        """64-bit big-endian values at byte positions `pos`."""
        hi = self.u32(pos).astype(np.uint64)
        lo = self.u32(pos + 4).astype(np.uint64)
        return (hi << np.uint64(32)) | lo
