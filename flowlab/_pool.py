"""Output arrays reused from batch to batch, one pool per decoder and thread; buffers on huge pages.

A decoder's compiled core writes a batch's rows into arrays allocated by the caller. Fresh
arrays would have their pages faulted in again at every batch (glibc hands large freed blocks
back to the system; a page fault costs about 3 µs here, a batch's outputs are thousands of
pages), so the arrays are views of buffers kept from batch to batch. That is safe because a
batch's columns are copied into its frame (:func:`flowlab._series.series`) before its decode
returns: nothing a decode hands out refers to a pool.

Buffers of 2 MiB and more (:func:`buffer`) are asked of the kernel on transparent huge pages:
a fresh process's first batch then backs its outputs with a page fault per 2 MiB (0.1 ms for
4 MiB here) rather than one per 4 KiB (about 3 ms).

Examples
--------
>>> import numpy as np
>>> pool = pool_of("example")
>>> a = pool.take((3,), np.int64)
>>> b = pool_of("example").take((2,), np.int64)  # the next batch: the same buffer
>>> np.shares_memory(a, b)
True
"""

from __future__ import annotations

import mmap
import threading

import numpy as np

__all__ = ["Pool", "buffer", "pool_of"]

_HUGE_PAGE = 2 << 20
#: private anonymous mappings (a shared one would be shmem, which the kernel does not back with
#: huge pages unless told to system-wide) where the platform has them
_FLAGS = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)
_ADVICE = getattr(mmap, "MADV_HUGEPAGE", None)


def buffer(size: int) -> np.ndarray:
    """`size` uninitialised bytes; from 2 MiB on, on a 2 MiB boundary with huge pages asked for.

    Where the kernel has transparent huge pages (``madvise`` or ``always`` mode), each 2 MiB of
    the buffer is then one page fault when first written; elsewhere it is an ordinary buffer.

    >>> b = buffer(5 << 20)
    >>> b.size, b.dtype.name, b.ctypes.data % (2 << 20) == 0 or _ADVICE is None
    (5242880, 'uint8', True)
    """
    if size < _HUGE_PAGE or _ADVICE is None or not _FLAGS:
        return np.empty(size, dtype=np.uint8)
    try:
        mapped = mmap.mmap(-1, size + _HUGE_PAGE, flags=_FLAGS)
        mapped.madvise(_ADVICE)
    except (OSError, ValueError):  # no such mapping or advice here: an ordinary buffer
        return np.empty(size, dtype=np.uint8)
    raw = np.frombuffer(mapped, dtype=np.uint8)  # keeps the mapping while a view lives
    skip = -raw.ctypes.data % _HUGE_PAGE
    return raw[skip : skip + size]


class Pool:
    """Buffers handed out in order, each grown when too small."""

    def __init__(self) -> None:
        self._buffers: list[np.ndarray] = []
        self._next = 0

    def start(self, at: int = 0) -> Pool:
        """Hand out the buffers from the `at`-th again (a new batch, or a second try)."""
        self._next = at
        return self

    def take(self, shape: tuple[int, ...], dtype: type, *, sparse: bool = False) -> np.ndarray:
        """An array of `shape` and `dtype` on the next buffer, grown when too small.

        `sparse`: room for the worst case, of which a batch writes a small prefix: on ordinary
        pages (a huge page would back 2 MiB for every few KiB written).
        """
        need = int(np.prod(shape)) * np.dtype(dtype).itemsize
        i, self._next = self._next, self._next + 1
        if i == len(self._buffers):
            self._buffers.append(np.empty(0, dtype=np.uint8))
        if self._buffers[i].size < need:
            size = need + need // 4 + 64
            self._buffers[i] = np.empty(size, dtype=np.uint8) if sparse else buffer(size)
        return self._buffers[i][:need].view(dtype).reshape(shape)


_LOCAL = threading.local()


def pool_of(decoder: str) -> Pool:
    """The calling thread's pool of `decoder` (``"sflow"``, ``"netflow"``), from its first buffer."""
    pools: dict[str, Pool] | None = getattr(_LOCAL, "pools", None)
    if pools is None:
        pools = _LOCAL.pools = {}
    pool = pools.get(decoder)
    if pool is None:
        pool = pools[decoder] = Pool()
    return pool.start()
