"""The arguments every decoder takes, checked once: a buffer of datagrams and per-datagram arrays.

Examples
--------
>>> data, off, ln, recv = datagram_arrays(b"abcdef", [0, 3], [3, 3], 5, None)
>>> data.dtype.name, off.tolist(), recv.tolist()
('uint8', [0, 3], [5, 5])
>>> datagram_arrays(b"", [0, 1], [1], 0, None)
Traceback (most recent call last):
...
flowlab.exceptions.UsageError: offsets (2), lengths (1) and peers (-) must have one entry per datagram
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from flowlab.exceptions import UsageError

__all__ = ["as_uint8", "datagram_arrays"]

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]


def as_uint8(buffer: bytes | bytearray | memoryview | npt.NDArray[np.uint8]) -> U8:
    """View `buffer` as a 1-D uint8 array (no copy when possible)."""
    if isinstance(buffer, np.ndarray):
        arr = buffer.reshape(-1)
        if arr.dtype != np.uint8:
            arr = arr.view(np.uint8)
        return np.ascontiguousarray(arr)
    return np.frombuffer(buffer, dtype=np.uint8)


def datagram_arrays(
    buffer: bytes | bytearray | memoryview | npt.NDArray[np.uint8],
    offsets: npt.ArrayLike,
    lengths: npt.ArrayLike,
    received_ms: npt.ArrayLike,
    peers: Sequence[str | None] | pl.Series | None,
    error: type[UsageError] = UsageError,
) -> tuple[U8, I64, I64, I64]:
    """The buffer as uint8, offsets, lengths and receive times (one per datagram) as int64.

    Raises
    ------
    UsageError (or `error`, a subclass)
        The arrays do not have one entry per datagram.
    """
    data = as_uint8(buffer)
    off = np.asarray(offsets, dtype=np.int64).reshape(-1)
    ln = np.asarray(lengths, dtype=np.int64).reshape(-1)
    n = off.size
    try:
        recv = np.broadcast_to(np.asarray(received_ms, dtype=np.int64), (n,))
    except ValueError as exc:
        msg = f"received_ms must be one value or one per datagram ({n}), found shape {np.shape(received_ms)}"
        raise error(msg) from exc
    if ln.size != n or (peers is not None and len(peers) != n):
        msg = (
            f"offsets ({n}), lengths ({ln.size}) and peers "
            f"({'-' if peers is None else len(peers)}) must have one entry per datagram"
        )
        raise error(msg)
    return data, off, ln, recv
