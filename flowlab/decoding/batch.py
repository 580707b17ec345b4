"""The arguments every decoder takes, checked once: a buffer of datagrams and per-datagram arrays.

The transport (a capture file, a UDP socket) hands a protocol's decoder a
:class:`Datagrams`, checked once by :meth:`Datagrams.of`.

Examples
--------
>>> data, off, ln, recv = datagram_arrays(b"abcdef", [0, 3], [3, 3], 5, None)
>>> data.dtype.name, off.tolist(), recv.tolist()
('uint8', [0, 3], [5, 5])
>>> datagram_arrays(b"abcdef", [0, 1], [1], 0, None)
Traceback (most recent call last):
...
flowlab.exceptions.UsageError: offsets (2), lengths (1) and peers (-) must have one entry per datagram
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl

from flowlab._arrays import I64, U8
from flowlab.exceptions import UsageError

__all__ = ["BufferLike", "Datagrams", "Peers", "as_uint8", "datagram_arrays"]

#: the datagrams a decoder reads (UDP payloads, anywhere in it)
BufferLike: TypeAlias = bytes | bytearray | memoryview | npt.NDArray[np.uint8]
#: the UDP source address of each datagram, if known
Peers: TypeAlias = Sequence[str | None] | pl.Series | None


def as_uint8(buffer: BufferLike) -> U8:
    """View `buffer` as a 1-D uint8 array (no copy when possible)."""
    if isinstance(buffer, np.ndarray):
        arr = buffer.reshape(-1)
        if arr.dtype != np.uint8:
            arr = arr.view(np.uint8)
        return np.ascontiguousarray(arr)
    return np.frombuffer(buffer, dtype=np.uint8)


def datagram_arrays(
    buffer: BufferLike,
    offsets: npt.ArrayLike,
    lengths: npt.ArrayLike,
    received_ms: npt.ArrayLike,
    peers: Peers,
    error: type[UsageError] = UsageError,
) -> tuple[U8, I64, I64, I64]:
    """The buffer as uint8, offsets, lengths and receive times (one per datagram) as int64.

    Every datagram must lie inside the buffer; numbers must be integers that fit in 64 bits.

    Raises
    ------
    UsageError (or `error`, a subclass)
        An argument of the wrong type or out of range, or arrays without one entry per datagram.
    """
    try:
        data = as_uint8(buffer)
    except (TypeError, ValueError, BufferError) as exc:
        msg = f"buffer must be bytes, bytearray, memoryview or a uint8 array, found {type(buffer).__name__}"
        raise error(msg) from exc
    arrays = []
    for name, value in (("offsets", offsets), ("lengths", lengths)):
        arr = _integers(name, value, error)
        if arr.size and (int(arr.min()) < 0 or int(arr.max()) > data.size):
            bad = int(arr.min()) if int(arr.min()) < 0 else int(arr.max())
            msg = f"{name} must lie in [0, {data.size}] (the buffer's size), found {bad}"
            raise error(msg)
        arrays.append(arr)
    off, ln = arrays
    n = off.size
    if ln.size == n and n and int((off + ln).max()) > data.size:  # no overflow: both <= size
        i = int(np.argmax(off + ln))
        msg = (
            f"datagram {i} (offset {int(off[i])}, length {int(ln[i])}) ends beyond the "
            f"buffer ({data.size} bytes)"
        )
        raise error(msg)
    recv_in = _integers("received_ms", received_ms, error, scalar=True)
    try:
        recv = np.broadcast_to(recv_in, (n,))
    except ValueError as exc:
        msg = (
            f"received_ms must be one value or one per datagram ({n}), found shape {recv_in.shape}"
        )
        raise error(msg) from exc
    npeers = 0
    if peers is not None:
        try:
            npeers = len(peers)
        except TypeError as exc:
            msg = f"peers must be a sequence of str (or None) per datagram, found {type(peers).__name__}"
            raise error(msg) from exc
    if ln.size != n or (peers is not None and npeers != n):
        msg = (
            f"offsets ({n}), lengths ({ln.size}) and peers "
            f"({'-' if peers is None else npeers}) must have one entry per datagram"
        )
        raise error(msg)
    return data, off, ln, recv


def _integers(name: str, value: object, error: type[UsageError], *, scalar: bool = False) -> I64:
    """`value` as int64 (1-D unless `scalar` allows one number), or `error` naming `name`."""
    try:
        raw = np.asarray(value)
        if raw.size == 0:
            return np.zeros(0, dtype=np.int64)
        if raw.dtype.kind == "O" and all(isinstance(v, (int, np.integer)) for v in raw.flat):
            raw = raw.astype(np.int64)  # Python ints: OverflowError beyond 64 bits
        if raw.dtype.kind not in "iub":
            msg = f"{name} must be integers, found {type(value).__name__} of {raw.dtype}"
            raise error(msg)
        if raw.dtype.kind == "u" and int(raw.max()) > np.iinfo(np.int64).max:
            raise OverflowError(f"{int(raw.max())} does not fit")
        arr = raw.astype(np.int64)
    except (TypeError, ValueError, OverflowError) as exc:
        if isinstance(exc, error):
            raise
        msg = f"{name} must be integers that fit in 64 bits: {exc}"
        raise error(msg) from exc
    return arr if scalar and arr.ndim == 0 else arr.reshape(-1)


@dataclass(frozen=True)
class Datagrams:
    """A checked batch of datagrams (UDP payloads): what a transport hands a protocol's decoder.

    Datagram ``i`` is ``buffer[offsets[i] : offsets[i] + lengths[i]]``, received at
    ``received_ms[i]`` (UTC epoch ms) from ``peers[i]`` (the UDP source address, if known).
    Build it with :meth:`of`, which checks the arguments; a decoder then trusts them.

    Examples
    --------
    >>> dg = Datagrams.of(b"abcdef", [0, 3], [3, 3], received_ms=5, peers=["a", "b"])
    >>> len(dg), dg.buffer.dtype.name, dg.received_ms.tolist()
    (2, 'uint8', [5, 5])
    >>> part = dg.take([1])
    >>> part.offsets.tolist(), part.peers
    ([3], ['b'])
    >>> Datagrams.of(b"abc", [2], [2], received_ms=0)
    Traceback (most recent call last):
    ...
    flowlab.exceptions.UsageError: datagram 0 (offset 2, length 2) ends beyond the buffer (3 bytes)
    """

    buffer: U8
    offsets: I64
    lengths: I64
    received_ms: I64
    peers: Peers = None

    @classmethod
    def of(
        cls,
        buffer: BufferLike,
        offsets: npt.ArrayLike,
        lengths: npt.ArrayLike,
        *,
        received_ms: npt.ArrayLike,
        peers: Peers = None,
        error: type[UsageError] = UsageError,
    ) -> Datagrams:
        """Check the arguments (as :func:`datagram_arrays`) and hold them as arrays.

        Raises
        ------
        UsageError (or `error`, a subclass)
            An argument of the wrong type or out of range, or arrays without one entry per datagram.
        """
        data, off, ln, recv = datagram_arrays(buffer, offsets, lengths, received_ms, peers, error)
        return cls(data, off, ln, recv, peers)

    def __len__(self) -> int:
        return int(self.offsets.size)

    def take(self, index: npt.ArrayLike) -> Datagrams:
        """The datagrams at positions `index` (same buffer, no checks again)."""
        idx = np.asarray(index, dtype=np.intp)
        peers = None if self.peers is None else list(self.peers)
        return Datagrams(
            self.buffer,
            self.offsets[idx],
            self.lengths[idx],
            self.received_ms[idx],
            None if peers is None else [peers[i] for i in idx.tolist()],
        )
