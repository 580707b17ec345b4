"""The UDP side of the live collector: socket, receive thread, batches of raw datagrams.

The receive thread does nothing but read datagrams into large preallocated
buffers (``recvmmsg`` where available, many datagrams per system call, GIL
released while waiting) and record, per datagram, its offset, length, receive
time and sender. A full buffer, or one that has waited ``batch_seconds``, is
handed as a :class:`Batch` to a queue that the decode thread
(:class:`flowlab.collect.collector.Collector`) empties.

Back-pressure, when decoding cannot keep up: buffers come from a fixed pool
(``max_pending_bytes`` in all). When every buffer is waiting to be decoded the
receive thread stops reading; datagrams then wait in the kernel socket buffer
(``SO_RCVBUF``, made large) and, once that is full, the kernel drops them and
counts them: :func:`udp_drops` reads that count from ``/proc/net/udp``. So a
datagram is either decoded or counted as dropped, never silently lost. The
time the thread spent waiting is reported as ``stalled_seconds``.

Socket set-up (listen address, ``SO_RCVBUF``, kernel drop counts) is in
:mod:`flowlab.collect.udp`.
"""

from __future__ import annotations

import logging
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from flowlab.collect import _mmsg
from flowlab.collect.udp import peer_text, udp_drops
from flowlab.exceptions import CollectorError, ConfigError

__all__ = ["Batch", "Receiver", "ReceiverStats"]

log = logging.getLogger("flowlab.collect.receiver")

_MIN_DATAGRAM = 256  # sizes the per-batch index arrays: buffer bytes / this
#: buffer bytes per datagram with recvmmsg: the largest UDP payload of a 1500-byte MTU (what
#: exporters such as Open vSwitch and hsflowd send: at most 1400); longer ones are still
#: received whole, through an overflow area. Tighter slots mean less memory to decode.
SLOT = 1472
_FLUSH_DRAIN = 0.2  # a flush reads the socket until it is empty, or this long under a steady stream
#: after a ``recvmmsg`` that found few datagrams, let more gather in the socket buffer for up
#: to this long: each call then returns hundreds, and the loop's fixed cost per call stops
#: dominating (at 200k datagrams/s: ~1 core without the pause, ~0.25 with it). The pause is
#: scaled down with the granted socket buffer (full length from 8 MiB, none below 512 KiB), so
#: a small buffer never fills while the loop waits.
COALESCE_SECONDS = 0.001
_COALESCE_FULL_BUFFER = 8 << 20


def coalesce_pause(rcvbuf: int) -> float:
    """Pause after a sparse ``recvmmsg`` for a socket buffer of `rcvbuf` bytes (as granted).

    Examples
    --------
    >>> coalesce_pause(128 << 20), coalesce_pause(4 << 20), coalesce_pause(212_992)
    (0.001, 0.0005, 0.0)
    """
    pause = COALESCE_SECONDS * min(1.0, rcvbuf / _COALESCE_FULL_BUFFER)
    return pause if pause >= COALESCE_SECONDS / 16 else 0.0


def check_batch_bytes(batch_bytes: int) -> None:
    """Refuse receive buffers that cannot hold two datagrams of the largest size.

    Examples
    --------
    >>> check_batch_bytes(1000)
    Traceback (most recent call last):
    ...
    flowlab.exceptions.ConfigError: batch_bytes must be at least 131072, found 1000
    """
    if batch_bytes < 2 * _mmsg.MAX_DATAGRAM:
        msg = f"batch_bytes must be at least {2 * _mmsg.MAX_DATAGRAM}, found {batch_bytes}"
        raise ConfigError(msg)


@dataclass
class _Arena:
    buffer: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    received_ms: np.ndarray
    names: np.ndarray
    peers: list[str] = field(default_factory=list)
    extra: list[tuple[int, np.ndarray]] = field(default_factory=list)
    index: int = -1  # position in a shared pool (see flowlab.collect.receive_process)

    @classmethod
    def new(cls, size: int) -> _Arena:
        cap = max(64, size // _MIN_DATAGRAM)
        return cls(
            np.empty(size, dtype=np.uint8),
            np.empty(cap, dtype=np.int64),
            np.empty(cap, dtype=np.int64),
            np.empty(cap, dtype=np.int64),
            np.empty((cap, 28), dtype=np.uint8),
        )


@dataclass
class Batch:
    """Raw datagrams received back to back (or in fixed slots) in one buffer.

    Attributes
    ----------
    buffer : numpy.ndarray
        uint8 bytes holding the datagrams.
    offsets, lengths, received_ms : numpy.ndarray
        int64 per datagram: where it starts, how long it is, when it was read (UTC epoch ms).
    ticket : int
        Non-zero when this batch answers a flush request.
    """

    buffer: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    received_ms: np.ndarray
    ticket: int = 0
    _names: np.ndarray | None = None
    _peers: list[str] | None = None
    _arena: _Arena | None = None

    def __len__(self) -> int:
        return len(self.offsets)

    @classmethod
    def empty(cls, ticket: int) -> Batch:
        """No datagrams (a flush answered with nothing received)."""
        none = np.empty(0, dtype=np.int64)
        return cls(np.empty(0, dtype=np.uint8), none, none, none, ticket=ticket)

    @classmethod
    def of(
        cls,
        arena: _Arena,
        count: int,
        used: int,
        ticket: int,
        extras: list[np.ndarray],
        *,
        names: bool = True,
    ) -> Batch:
        """The first `count` datagrams of `arena` (``used`` bytes), plus those longer than a slot."""
        buffer = arena.buffer[:used]
        if extras:  # their offsets already point past `used`
            buffer = np.concatenate([buffer, *extras])
        return cls(
            buffer,
            arena.offsets[:count],
            arena.lengths[:count],
            arena.received_ms[:count],
            ticket=ticket,
            _names=arena.names[:count] if names else None,
            _peers=None if names else list(arena.peers[:count]),
            _arena=arena,
        )

    def _detach(self) -> _Arena | None:
        """The buffer this batch holds, once (None afterwards, or when it holds none)."""
        arena, self._arena = self._arena, None
        return arena

    def peers(self) -> np.ndarray:
        """Sender address (text) per datagram."""
        if self._peers is not None:
            return np.array(self._peers, dtype=object)
        if self._names is not None:
            return peer_text(self._names)
        return np.array([], dtype=object)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class ReceiverStats:
    """Counters of the receive thread (read without locking; monotonic)."""

    datagrams: int = 0
    bytes: int = 0
    batches: int = 0
    oversize: int = 0
    truncated: int = 0
    stalled_seconds: float = 0.0


class Receiver:
    """Read datagrams from a bound UDP socket in a thread and queue them as :class:`Batch` es.

    Parameters
    ----------
    sock : socket.socket
        A bound UDP socket (see :func:`open_socket`); the receiver closes it when stopped.
    batches : queue.Queue
        Where batches go; ``None`` is put last, after the final batch.
    batch_bytes : int
        Size of each receive buffer (a batch ends when it is full).
    batch_seconds : float
        A batch also ends once its first datagram has waited this long.
    max_pending_bytes : int
        All receive buffers together (the back-pressure bound, see the module notes).
    multi : bool
        Use ``recvmmsg`` (default where available); False reads one datagram per call.
    slot : int
        With ``recvmmsg``, buffer bytes reserved per datagram (longer ones are still received whole).
    clock : callable, optional
        Receive-time source in UTC epoch milliseconds (default: the wall clock).
    """

    def __init__(
        self,
        sock: socket.socket,
        batches: queue.Queue[Batch | None],
        *,
        batch_bytes: int = 32 << 20,
        batch_seconds: float = 0.5,
        max_pending_bytes: int = 256 << 20,
        multi: bool | None = None,
        slot: int = SLOT,
        clock: Callable[[], int] | None = None,
        arenas: list[_Arena] | None = None,
    ) -> None:
        check_batch_bytes(batch_bytes)
        self.sock = sock
        self.batches = batches
        self.clock: Callable[[], int] = clock or _wall_ms
        self.batch_bytes = batch_bytes
        self.batch_seconds = batch_seconds
        self.multi = _mmsg.AVAILABLE if multi is None else (multi and _mmsg.AVAILABLE)
        self.slot = slot
        self.stats = ReceiverStats()
        # LIFO: the buffer used last is reused first, so an unloaded collector touches few buffers
        self._pool: queue.LifoQueue[_Arena] = queue.LifoQueue()
        self._arenas = max(2, max_pending_bytes // batch_bytes)
        self._made = 0
        if arenas is not None:  # a fixed set made by the caller (shared memory)
            self._arenas = self._made = len(arenas)
            for arena in reversed(arenas):
                self._pool.put(arena)
        self._stop = threading.Event()
        self._drain_seconds = 5.0
        self._lock = threading.Lock()
        self._flush_asked = 0
        self._flush_done = 0
        self._thread = threading.Thread(target=self._run, name="flowlab-receive", daemon=True)
        self.error: BaseException | None = None
        self.final_drops: int | None = None

    def start(self) -> None:
        """Start the receive thread."""
        self.sock.settimeout(0.1)
        self._thread.start()

    def stop(self, *, drain_seconds: float = 5.0) -> None:
        """Stop reading: drain what the socket holds (at most `drain_seconds`), queue it, close."""
        self.request_stop(drain_seconds)
        if self._thread.is_alive():
            self._thread.join()

    def request_stop(self, drain_seconds: float) -> None:
        """Ask the loop to drain the socket (at most `drain_seconds`), hand over and end."""
        self._drain_seconds = drain_seconds
        self._stop.set()

    def close(self) -> None:
        """Release the socket of a receiver that was never started (:meth:`stop` does otherwise)."""
        if not self._thread.is_alive():
            self.sock.close()

    @property
    def running(self) -> bool:
        """Whether the receive thread is alive."""
        return self._thread.is_alive()

    def request_flush(self) -> int:
        """Ask the thread to drain the socket and hand over its batch now; returns the ticket."""
        with self._lock:
            self._flush_asked += 1
            return self._flush_asked

    def release(self, batch: Batch) -> None:
        """Give a processed batch's buffer back to the pool."""
        if (arena := batch._detach()) is not None:
            self.recycle(arena)

    def recycle(self, arena: _Arena) -> None:
        """Put a buffer whose batch was processed back into the pool."""
        arena.extra.clear()
        arena.peers.clear()
        self._pool.put(arena)

    # -- the thread --------------------------------------------------------------------------

    def _take(self) -> _Arena:
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            pass
        if self._made < self._arenas:
            self._made += 1
            return _Arena.new(self.batch_bytes)
        started = time.monotonic()
        while True:
            try:
                arena = self._pool.get(timeout=0.1)
                break
            except queue.Empty:
                if self._stop.is_set() and time.monotonic() - started > 30:
                    msg = "the decoder returned no receive buffer for 30 s while stopping"
                    raise CollectorError(msg) from None
        self.stats.stalled_seconds += time.monotonic() - started
        return arena

    def _run(self) -> None:
        try:
            if self.multi:
                self._loop_multi()
            else:
                self._loop_single()
        except BaseException as exc:  # reported by the collector, never swallowed
            self.error = exc
            log.error("receive thread failed: %s", exc)
        finally:
            self.final_drops = udp_drops(self.sock)
            self.sock.close()
            self._end()

    def _hand_over(self, arena: _Arena, count: int, used: int, ticket: int = 0) -> None:
        if count == 0:
            self._pool.put(arena)
            if ticket:
                self._emit(None, 0, 0, ticket)
            return
        self.stats.batches += 1
        self._emit(arena, count, used, ticket)

    def _extras(self, arena: _Arena, count: int, used: int) -> list[np.ndarray]:
        """Datagrams longer than a slot, in order; their offsets now point past `used`."""
        offsets = arena.offsets[:count]
        end = used
        parts = []
        for index, data in arena.extra:
            offsets[index] = end
            parts.append(data)
            end += len(data)
        return parts

    def _received(self) -> None:
        """Datagrams were read (a hook: the receive process publishes the count at once)."""

    def _emit(self, arena: _Arena | None, count: int, used: int, ticket: int) -> None:
        """Queue a batch (a subclass sends it elsewhere); ``arena=None``: an empty flush answer."""
        if arena is None:
            self.batches.put(Batch.empty(ticket))
            return
        extras = self._extras(arena, count, used) if arena.extra else []
        self.batches.put(Batch.of(arena, count, used, ticket, extras, names=self.multi))

    def _end(self) -> None:
        """After the last batch."""
        self.batches.put(None)

    def _flush_ticket(self) -> int:
        with self._lock:
            if self._flush_asked != self._flush_done:
                self._flush_done = self._flush_asked
                return self._flush_done
        return 0

    def _loop_multi(self) -> None:
        mr = _mmsg.MultiReceive(slot=self.slot)
        fd = self.sock.fileno()
        self.sock.setblocking(True)
        self.sock.setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(0.1)
        )  # bounded blocking for recvmmsg
        slot = self.slot
        pause = coalesce_pause(self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
        arena = self._take()
        count = used = 0
        first = 0.0
        draining_until = 0.0
        ticket = 0
        while True:
            stopping = self._stop.is_set()
            if stopping and not draining_until:
                draining_until = time.monotonic() + self._drain_seconds
            if not ticket:
                ticket = self._flush_ticket()
                asked = time.monotonic()
            k = min(mr.vlen, (len(arena.buffer) - used) // slot, len(arena.offsets) - count)
            n = 0
            if k > 0:
                n = mr.recv(fd, arena.buffer.ctypes.data + used, k, wait=not (stopping or ticket))
            if n:
                # counted before anything else: a receive process killed from here on has
                # these counted as read (lost, but not silently)
                self.stats.datagrams += n
                self._received()
                now = self.clock()
                lengths = mr.lengths(n)
                sl = slice(count, count + n)
                arena.offsets[sl] = used + np.arange(n, dtype=np.int64) * slot
                arena.lengths[sl] = lengths
                arena.received_ms[sl] = now
                arena.names[sl] = mr.names(n)
                big = np.flatnonzero(lengths > slot)
                for i in big:
                    start = used + int(i) * slot
                    head = arena.buffer[start : start + slot]
                    arena.extra.append(
                        (
                            count + int(i),
                            np.concatenate([head, mr.overflow(int(i), int(lengths[i]))]),
                        )
                    )
                self.stats.oversize += len(big)
                self.stats.truncated += int(mr.truncated(n).sum())
                if count == 0:
                    first = time.monotonic()
                count += n
                used += n * slot
                self.stats.bytes += int(lengths.sum())
                if pause and n < k // 2 and not (stopping or ticket):
                    time.sleep(pause)
            full = k == 0 or (len(arena.buffer) - used) // slot == 0
            idle = n == 0
            if full or (count and time.monotonic() - first >= self.batch_seconds):
                self._hand_over(arena, count, used)
                arena, count, used = self._take(), 0, 0
            elif ticket and (idle or time.monotonic() - asked > _FLUSH_DRAIN):
                self._hand_over(arena, count, used, ticket)
                arena, count, used, ticket = self._take(), 0, 0, 0
            if stopping and (idle or time.monotonic() > draining_until):
                self._hand_over(arena, count, used, ticket)
                return

    def _loop_single(self) -> None:
        arena = self._take()
        count = used = 0
        first = 0.0
        draining_until = 0.0
        ticket = 0
        view = memoryview(arena.buffer.data)
        while True:
            stopping = self._stop.is_set()
            if stopping and not draining_until:
                draining_until = time.monotonic() + self._drain_seconds
                self.sock.setblocking(False)
            if not ticket:
                ticket = self._flush_ticket()
                asked = time.monotonic()
                if ticket:
                    self.sock.setblocking(False)
            got = False
            if len(arena.buffer) - used >= _mmsg.MAX_DATAGRAM and count < len(arena.offsets):
                try:
                    nbytes, address = self.sock.recvfrom_into(view[used:], _mmsg.MAX_DATAGRAM)
                    got = True
                except (TimeoutError, BlockingIOError, InterruptedError):
                    pass
                if got:
                    self.stats.datagrams += 1  # first, as after recvmmsg
                    self._received()
                    arena.offsets[count] = used
                    arena.lengths[count] = nbytes
                    arena.received_ms[count] = self.clock()
                    arena.peers.append(str(address[0]).split("%")[0])
                    if count == 0:
                        first = time.monotonic()
                    count += 1
                    used += nbytes
                    self.stats.bytes += nbytes
            full = len(arena.buffer) - used < _mmsg.MAX_DATAGRAM or count >= len(arena.offsets)
            if full or (count and time.monotonic() - first >= self.batch_seconds):
                self._hand_over(arena, count, used)
                arena, count, used = self._take(), 0, 0
                view = memoryview(arena.buffer.data)
            elif ticket and (not got or time.monotonic() - asked > _FLUSH_DRAIN):
                self._hand_over(arena, count, used, ticket)
                arena, count, used, ticket = self._take(), 0, 0, 0
                view = memoryview(arena.buffer.data)
                if not stopping:
                    self.sock.settimeout(0.1)
            if stopping and (not got or time.monotonic() > draining_until):
                self._hand_over(arena, count, used, ticket)
                return


def _timeval(seconds: float) -> bytes:
    sec = int(seconds)
    usec = int((seconds - sec) * 1_000_000)
    return np.array([sec, usec], dtype=np.int64 if sys.maxsize > 2**32 else np.int32).tobytes()
