"""Output arrays reused from batch to batch, one pool per decoder and thread.

A decoder's compiled core writes a batch's rows into arrays allocated by the caller. Fresh
arrays would have their pages faulted in again at every batch (glibc hands large freed blocks
back to the system; a page fault costs about 3 µs here, a batch's outputs are thousands of
pages), so the arrays are views of buffers kept from batch to batch. That is safe because a
batch's columns are copied into its frame (:func:`flowlab._series.series`) before its decode
returns: nothing a decode hands out refers to a pool.

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

import threading

import numpy as np

__all__ = ["Pool", "pool_of"]


class Pool:
    """Buffers handed out in order, each grown when too small."""

    def __init__(self) -> None:
        self._buffers: list[np.ndarray] = []
        self._next = 0

    def start(self, at: int = 0) -> Pool:
        """Hand out the buffers from the `at`-th again (a new batch, or a second try)."""
        self._next = at
        return self

    def take(self, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        """An array of `shape` and `dtype` on the next buffer, grown when too small."""
        need = int(np.prod(shape)) * np.dtype(dtype).itemsize
        i, self._next = self._next, self._next + 1
        if i == len(self._buffers):
            self._buffers.append(np.empty(0, dtype=np.uint8))
        if self._buffers[i].size < need:
            self._buffers[i] = np.empty(need + need // 4 + 64, dtype=np.uint8)
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
