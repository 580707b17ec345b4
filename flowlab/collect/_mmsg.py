"""Linux ``recvmmsg(2)`` / ``sendmmsg(2)`` through ctypes: many datagrams per system call.

Python's socket module reads one datagram per call, holding the GIL between
calls; at a few hundred thousand datagrams per second that loop costs a whole
core. ``recvmmsg`` fills up to ``vlen`` datagrams per call, and ctypes releases
the GIL while the call blocks, so the receive thread barely competes with the
decoder. Where the calls are missing (not Linux), :data:`AVAILABLE` is false
and callers fall back to ``recvfrom_into`` / ``send``.

Each message gets two I/O vectors: a ``slot``-byte region of the caller's
buffer (datagrams land at ``pos + i * slot``) and a private overflow area, so
a datagram longer than ``slot`` is still received whole (the caller then
re-joins it, see :meth:`MultiReceive.joined`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import socket

import numpy as np

__all__ = ["AVAILABLE", "MAX_DATAGRAM", "MultiReceive", "Outbox"]

#: Largest UDP payload (IPv4: 65535 - 8 - 20); IPv6 jumbograms are not supported.
MAX_DATAGRAM = 65536
_NAME = 128  # sizeof(struct sockaddr_storage)
MSG_DONTWAIT = 0x40
MSG_WAITFORONE = 0x10000
MSG_TRUNC = 0x20


class _IOVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.c_void_p),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint)]


def _load() -> tuple[object, object] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        recv = libc.recvmmsg
        send = libc.sendmmsg
    except (OSError, AttributeError, TypeError):
        return None
    recv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    recv.restype = ctypes.c_int
    send.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
    send.restype = ctypes.c_int
    return recv, send


_FUNCS = _load()
#: Whether recvmmsg/sendmmsg can be used on this platform.
AVAILABLE = _FUNCS is not None

_SIZE = ctypes.sizeof(_MMsgHdr)
_OFF_NAMELEN = _MsgHdr.msg_namelen.offset
_OFF_FLAGS = _MsgHdr.msg_flags.offset
_OFF_LEN = _MMsgHdr.msg_len.offset


class MultiReceive:
    """Reusable ``recvmmsg`` state for one socket.

    Parameters
    ----------
    vlen : int
        Datagrams per call at most.
    slot : int
        Bytes reserved in the caller's buffer per datagram; longer datagrams
        spill into the overflow area and are reported by :attr:`oversize`.
    """

    def __init__(self, vlen: int = 256, slot: int = 2048) -> None:
        if _FUNCS is None:  # pragma: no cover - Linux always has it
            msg = "recvmmsg is not available on this platform"
            raise OSError(msg)
        self.vlen = vlen
        self.slot = slot
        self._msgs = (_MMsgHdr * vlen)()
        self._iov = (_IOVec * (2 * vlen))()
        self._names = np.zeros((vlen, _NAME), dtype=np.uint8)
        self._overflow = np.zeros((vlen, MAX_DATAGRAM - slot), dtype=np.uint8)
        iov_base = ctypes.addressof(self._iov)
        names = self._names.ctypes.data
        for i in range(vlen):
            hdr = self._msgs[i].msg_hdr
            hdr.msg_name = names + i * _NAME
            hdr.msg_iov = iov_base + 2 * i * ctypes.sizeof(_IOVec)
            hdr.msg_iovlen = 2
        raw = np.frombuffer(memoryview(self._msgs), dtype=np.uint8).reshape(vlen, _SIZE)
        self._namelen = raw[:, _OFF_NAMELEN : _OFF_NAMELEN + 4].view(np.uint32)
        self._flags = raw[:, _OFF_FLAGS : _OFF_FLAGS + 4].view(np.int32)
        self._len = raw[:, _OFF_LEN : _OFF_LEN + 4].view(np.uint32)
        iov = np.frombuffer(memoryview(self._iov), dtype=np.uint64).reshape(2 * vlen, 2)
        self._iov_base = iov[:, 0]
        self._iov_len = iov[:, 1]
        self._iov_len[0::2] = slot
        self._iov_base[1::2] = self._overflow.ctypes.data + np.arange(vlen, dtype=np.uint64) * (
            MAX_DATAGRAM - slot
        )
        self._iov_len[1::2] = MAX_DATAGRAM - slot
        self._steps = np.arange(vlen, dtype=np.uint64) * np.uint64(slot)

    def recv(self, fd: int, address: int, count: int, *, wait: bool) -> int:
        """Receive up to `count` datagrams into slots starting at memory `address`.

        Returns the number received, 0 when none is waiting (``EAGAIN``; with
        ``wait=True`` after the socket's receive timeout), or raises ``OSError``.
        """
        assert _FUNCS is not None
        count = min(count, self.vlen)
        self._iov_base[0 : 2 * count : 2] = np.uint64(address) + self._steps[:count]
        self._namelen[:count] = _NAME
        flags = MSG_WAITFORONE if wait else MSG_DONTWAIT
        n: int = _FUNCS[0](fd, ctypes.addressof(self._msgs), count, flags, None)  # type: ignore[operator]
        if n < 0:
            err = ctypes.get_errno()
            if err in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                return 0
            raise OSError(err, f"recvmmsg: {errno.errorcode.get(err, err)}")
        return n

    def lengths(self, n: int) -> np.ndarray:
        """Byte lengths of the last `n` datagrams received."""
        return self._len[:n, 0].astype(np.int64)

    def names(self, n: int) -> np.ndarray:
        """Raw ``sockaddr`` bytes (first 28) of the last `n` datagrams' senders."""
        return self._names[:n, :28]

    def truncated(self, n: int) -> np.ndarray:
        """Mask of datagrams the kernel cut (longer than the buffers offered)."""
        return (self._flags[:n, 0] & MSG_TRUNC) != 0

    def overflow(self, i: int, length: int) -> np.ndarray:
        """The part of datagram `i` beyond its slot."""
        return self._overflow[i, : max(0, length - self.slot)]


class Outbox:
    """A fixed set of datagrams laid out once, sent with ``sendmmsg`` on a connected socket.

    Building the message vectors once keeps the per-datagram cost of sending
    in the kernel, which matters for replay benchmarks.

    Examples
    --------
    >>> import socket
    >>> rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rx.bind(("127.0.0.1", 0))
    >>> tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); tx.connect(rx.getsockname())
    >>> Outbox([b"a", b"bc"]).send(tx)
    2
    >>> rx.recv(10), rx.recv(10)
    (b'a', b'bc')
    >>> rx.close(); tx.close()
    """

    def __init__(self, datagrams: list[bytes]) -> None:
        self.count = len(datagrams)
        lengths = np.fromiter((len(d) for d in datagrams), dtype=np.int64, count=self.count)
        #: All datagrams back to back (writable: callers may patch them between sends).
        self.buffer = np.frombuffer(bytearray(b"".join(datagrams)), dtype=np.uint8)
        #: Offset of each datagram in :attr:`buffer`.
        self.starts = np.zeros(self.count, dtype=np.int64)
        np.cumsum(lengths[:-1], out=self.starts[1:])
        self._ends = self.starts + lengths
        if _FUNCS is None or not datagrams:  # pragma: no cover - Linux always has it
            return
        self._iov = (_IOVec * self.count)()
        iov = np.frombuffer(memoryview(self._iov), dtype=np.uint64).reshape(self.count, 2)
        iov[:, 0] = np.uint64(self.buffer.ctypes.data) + self.starts.astype(np.uint64)
        iov[:, 1] = lengths.astype(np.uint64)
        self._msgs = (_MMsgHdr * self.count)()
        raw = np.frombuffer(memoryview(self._msgs), dtype=np.uint8).reshape(self.count, _SIZE)
        iov_ptr = raw[:, _MsgHdr.msg_iov.offset : _MsgHdr.msg_iov.offset + 8].view(np.uint64)
        iov_ptr[:, 0] = np.uint64(ctypes.addressof(self._iov)) + np.arange(
            self.count, dtype=np.uint64
        ) * np.uint64(ctypes.sizeof(_IOVec))
        iovlen = raw[:, _MsgHdr.msg_iovlen.offset : _MsgHdr.msg_iovlen.offset + 8].view(np.uint64)
        iovlen[:, 0] = 1

    def send(self, sock: socket.socket, start: int = 0, count: int | None = None) -> int:
        """Send datagrams ``start .. start+count`` (default: all from `start`); returns how many."""
        end = self.count if count is None else min(self.count, start + count)
        if _FUNCS is None:  # pragma: no cover - Linux always has it
            for i in range(start, end):
                sock.send(self.buffer[self.starts[i] : self._ends[i]].tobytes())
            return max(0, end - start)
        fd = sock.fileno()
        base = ctypes.addressof(self._msgs)
        pos = start
        while pos < end:
            n = _FUNCS[1](fd, base + pos * _SIZE, min(1024, end - pos), 0)  # type: ignore[operator]
            if n < 0:
                err = ctypes.get_errno()
                if err in (errno.EAGAIN, errno.EINTR, errno.ENOBUFS):
                    continue
                raise OSError(err, f"sendmmsg: {errno.errorcode.get(err, err)}")
            pos += n
        return end - start
