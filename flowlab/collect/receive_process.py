"""The receive loop in a process of its own, handing batches over through shared memory.

:class:`ProcessReceiver` is a drop-in for :class:`~flowlab.collect.receiver.Receiver`
(same methods, same :class:`~flowlab.collect.receiver.Batch` es) whose loop runs
in a child process. The child never waits for the parent's GIL: a notebook
busy in pure Python, or a decode step holding the interpreter, no longer delays
reading the socket, which matters most where the kernel buffer is small
(unprivileged pods get at most ``net.core.rmem_max``, often a few MB: 10-20 ms
of traffic at 200k datagrams/s).

How it works:

- the parent creates one anonymous shared memory file (``memfd``) holding all
  receive buffers ("arenas") plus a small stats header, and passes it, the bound
  socket and two pipes to the child;
- the child runs the very loop of :class:`~flowlab.collect.receiver.Receiver`
  (``recvmmsg`` straight into the shared buffers) and writes one 48-byte
  message per batch: arena, datagram count, bytes used, flush ticket (datagrams
  longer than a slot follow the message);
- the parent wraps the arena as a :class:`~flowlab.collect.receiver.Batch`
  without copying, and :meth:`ProcessReceiver.release` sends the arena back.

The child imports only NumPy and a few small flowlab modules (``flowlab`` and
``flowlab.collect`` import nothing heavy until used): it starts in about 0.1 s
and uses about 30 MB besides the shared buffers. It runs in its own session
(a terminal's Ctrl-C goes to the collector, which then stops it cleanly),
and exits when told to or when its command pipe closes: when the parent
process ends, however it ends. (Not ``PR_SET_PDEATHSIG``: that follows the
thread that started the child, and a collector may be started from any thread.)
Linux only (``memfd``, ``recvmmsg``); elsewhere the collector uses the thread.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import queue
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from flowlab.collect import _mmsg
from flowlab.collect.receiver import (
    _MIN_DATAGRAM,
    SLOT,
    Batch,
    Receiver,
    ReceiverStats,
    _Arena,
    _wall_ms,
    check_batch_bytes,
)
from flowlab.collect.udp import udp_drops
from flowlab.exceptions import CollectorError

__all__ = ["AVAILABLE", "ProcessReceiver"]

log = logging.getLogger("flowlab.collect.receive_process")

#: whether this platform can run the receive loop in a child process
AVAILABLE = _mmsg.AVAILABLE and hasattr(os, "memfd_create") and sys.platform.startswith("linux")

_HEADER = 64  # stats: datagrams, bytes, batches, oversize, truncated, stalled ns; datagrams read
_TO_PARENT = struct.Struct("<6q")  # op, arena, count, used, ticket, trailing bytes
_TO_CHILD = struct.Struct("<2q")  # op, argument
_BATCH, _END, _READY = 1, 2, 3
_FREE, _FLUSH, _STOP = 1, 2, 3
_NAME = 28


def _round8(n: int) -> int:
    return (n + 7) & ~7


class _Layout:
    """Where each arena's parts sit in the shared file."""

    def __init__(self, batch_bytes: int, count: int) -> None:
        self.batch_bytes = batch_bytes
        self.count = count
        self.cap = max(64, batch_bytes // _MIN_DATAGRAM)
        self.arena_size = _round8(batch_bytes) + 3 * 8 * self.cap + _round8(_NAME * self.cap)
        self.size = _HEADER + count * self.arena_size

    def arenas(self, mem: mmap.mmap) -> list[_Arena]:
        out = []
        cap = self.cap
        for i in range(self.count):
            base = _HEADER + i * self.arena_size
            buf = np.frombuffer(mem, dtype=np.uint8, count=self.batch_bytes, offset=base)
            pos = base + _round8(self.batch_bytes)
            ints = np.frombuffer(mem, dtype=np.int64, count=3 * cap, offset=pos).reshape(3, cap)
            names = np.frombuffer(
                mem, dtype=np.uint8, count=_NAME * cap, offset=pos + 24 * cap
            ).reshape(cap, _NAME)
            out.append(_Arena(buf, ints[0], ints[1], ints[2], names, index=i))
        return out

    @staticmethod
    def header(mem: mmap.mmap) -> np.ndarray:
        return np.frombuffer(mem, dtype=np.int64, count=_HEADER // 8, offset=0)


def _read_exact(fd: int, n: int) -> bytes:
    parts = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            break
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class ProcessReceiver:
    """Read datagrams in a child process; queue them here as :class:`~flowlab.collect.receiver.Batch` es.

    Same parameters and methods as :class:`~flowlab.collect.receiver.Receiver`
    (``recvmmsg`` only; no custom clock: receive times are the wall clock).

    Examples
    --------
    >>> import queue, socket
    >>> from flowlab.collect.udp import open_socket
    >>> sock, _ = open_socket("127.0.0.1:0", rcvbuf=1 << 20)
    >>> q = queue.Queue()
    >>> rx = ProcessReceiver(sock, q, batch_bytes=1 << 20, max_pending_bytes=4 << 20)
    >>> rx.start()
    >>> tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    >>> _ = tx.sendto(b"hello", sock.getsockname())
    >>> ticket = rx.request_flush()
    >>> batch = q.get(timeout=10)
    >>> bytes(batch.buffer[batch.offsets[0] : batch.offsets[0] + batch.lengths[0]]), batch.ticket
    (b'hello', 1)
    >>> rx.release(batch)
    >>> rx.stop()
    >>> q.get(timeout=10) is None, rx.stats.datagrams
    (True, 1)
    >>> tx.close()
    """

    def __init__(
        self,
        sock: socket.socket,
        batches: queue.Queue[Batch | None],
        *,
        batch_bytes: int = 32 << 20,
        batch_seconds: float = 0.5,
        max_pending_bytes: int = 256 << 20,
        slot: int = SLOT,
    ) -> None:
        if not AVAILABLE:
            msg = "the receive process needs Linux (memfd, recvmmsg); use the receive thread"
            raise CollectorError(msg)
        check_batch_bytes(batch_bytes)
        self.sock = sock
        self.batches = batches
        self.batch_seconds = batch_seconds
        self.slot = slot
        self._layout = _Layout(batch_bytes, max(2, max_pending_bytes // batch_bytes))
        self._memfd = os.memfd_create("flowlab-receive", os.MFD_CLOEXEC)
        os.ftruncate(self._memfd, self._layout.size)
        self._mem = mmap.mmap(self._memfd, self._layout.size)
        self._arenas = self._layout.arenas(self._mem)
        self._header = self._layout.header(self._mem)
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader = threading.Thread(target=self._read, name="flowlab-receive", daemon=True)
        self._ready = threading.Event()
        self._cmd_lock = threading.Lock()
        self._tickets = 0
        self._cmd_w = -1
        self._from_child = -1
        self.error: BaseException | None = None
        self.final_drops: int | None = None
        self._final: ReceiverStats | None = None
        self._rescued = (0, 0)  # datagrams and bytes read here after the child died
        #: datagrams the child had read but not handed over when it died (lost, counted)
        self.lost = 0

    # -- the Receiver interface ----------------------------------------------------------------

    def start(self) -> None:
        """Start the child process and the thread that queues its batches."""
        cmd_r, self._cmd_w = os.pipe()
        self._from_child, out_w = os.pipe()
        root = str(Path(__file__).resolve().parents[1])
        args = [
            str(self.sock.fileno()),
            str(self._memfd),
            str(cmd_r),
            str(out_w),
            str(self._layout.batch_bytes),
            str(self._layout.count),
            repr(self.batch_seconds),
            str(self.slot),
        ]
        try:
            self._proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("_receive_main.py")), root, *args],
                pass_fds=(self.sock.fileno(), self._memfd, cmd_r, out_w),
                start_new_session=True,
            )
        except OSError as exc:
            self.batches.put(None)
            self.close()
            msg = (
                f"cannot start the receive process ({sys.executable}): {exc}; "
                "Collector(receive='thread') receives in a thread instead"
            )
            raise CollectorError(msg) from exc
        finally:
            os.close(cmd_r)
            os.close(out_w)
        self._reader.start()
        if not self._ready.wait(timeout=30) or self.error is not None:
            self.stop(drain_seconds=0)
            msg = (
                f"the receive process did not start: {self.error or 'no answer within 30 s'}; "
                "Collector(receive='thread') receives in a thread instead"
            )
            raise CollectorError(msg)

    def stop(self, *, drain_seconds: float = 5.0) -> None:
        """Stop reading: the child drains the socket (at most `drain_seconds`), hands over, exits."""
        if self._proc is None:
            return
        self._send(_STOP, int(drain_seconds * 1000))
        self._reader.join()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self.final_drops is None:
            self.final_drops = udp_drops(self.sock)
        self._final = self.stats
        self.close()

    @property
    def running(self) -> bool:
        """Whether batches may still arrive."""
        return self._reader.is_alive()

    def request_flush(self) -> int:
        """Ask the child to drain the socket and hand over its batch now; returns the ticket."""
        with self._cmd_lock:
            self._tickets += 1
            ticket = self._tickets
        self._send(_FLUSH, ticket)
        return ticket

    def release(self, batch: Batch) -> None:
        """Give a processed batch's buffer back to the child."""
        if (arena := batch._detach()) is not None:
            self._send(_FREE, arena.index)

    @property
    def stats(self) -> ReceiverStats:
        """Counts from the child (updated with every batch it hands over)."""
        if self._final is not None:
            return self._final
        h = self._header.tolist()
        return ReceiverStats(
            datagrams=h[0] + self._rescued[0] + self.lost,
            bytes=h[1] + self._rescued[1],
            batches=h[2],
            oversize=h[3],
            truncated=h[4],
            stalled_seconds=h[5] / 1e9,
        )

    # -- parent internals ----------------------------------------------------------------------

    def _send(self, op: int, arg: int) -> None:
        with self._cmd_lock:
            if self._cmd_w < 0:
                return
            with contextlib.suppress(OSError):  # the child is gone: the reader thread says why
                _write_all(self._cmd_w, _TO_CHILD.pack(op, arg))

    def _read(self) -> None:
        try:
            while True:
                head = _read_exact(self._from_child, _TO_PARENT.size)
                if len(head) < _TO_PARENT.size:
                    code = self._proc.wait() if self._proc is not None else None
                    h = self._header.tolist()
                    self.lost = max(0, h[6] - h[0])
                    rescued = self._rescue()
                    self.error = CollectorError(
                        f"the receive process exited unexpectedly (exit code {code}); "
                        f"{self.lost:,} datagrams it had read but not handed over are lost "
                        f"(counted as errors), {len(rescued):,} still in the socket were read "
                        "and decoded"
                    )
                    log.error("%s", self.error)
                    if len(rescued):
                        self.batches.put(rescued)
                    return
                op, index, count, used, ticket, more = _TO_PARENT.unpack(head)
                tail = _read_exact(self._from_child, more) if more else b""
                if op == _READY:  # the child reads the socket from now on
                    self._ready.set()
                    continue
                if op == _END:
                    if tail:
                        self.error = CollectorError(f"receive process failed: {tail.decode()}")
                        log.error("%s", self.error)
                    self.final_drops = udp_drops(self.sock)
                    return
                self.batches.put(self._batch(index, count, used, ticket, tail))
        except Exception as exc:  # reported by the collector, never swallowed
            self.error = exc
            log.error("receive reader failed: %s", exc)
        finally:
            self._ready.set()
            self.batches.put(None)

    def _rescue(self, limit: int = 1 << 20) -> Batch:
        """The datagrams a dead child left in the socket, read here so that they are not lost."""
        data = bytearray()
        offsets: list[int] = []
        lengths: list[int] = []
        peers: list[str] = []
        with contextlib.suppress(OSError):
            self.sock.setblocking(False)
            while len(offsets) < limit:
                try:
                    gram, addr = self.sock.recvfrom(65535)
                except (BlockingIOError, InterruptedError):
                    break
                offsets.append(len(data))
                lengths.append(len(gram))
                peers.append(str(addr[0]))
                data += gram
        self._rescued = (len(offsets), len(data))
        n = len(offsets)
        return Batch(
            np.frombuffer(bytes(data), dtype=np.uint8),
            np.array(offsets, dtype=np.int64),
            np.array(lengths, dtype=np.int64),
            np.full(n, _wall_ms(), dtype=np.int64),
            _peers=peers,
        )

    def _batch(self, index: int, count: int, used: int, ticket: int, tail: bytes) -> Batch:
        if index < 0:
            return Batch.empty(ticket)
        extras = [np.frombuffer(tail, dtype=np.uint8)] if tail else []
        return Batch.of(self._arenas[index], count, used, ticket, extras)

    def close(self) -> None:
        """Release the socket, pipes and shared memory file (idempotent; :meth:`stop` calls it).

        Arrays still viewing the shared buffers keep the mapping alive until they go.
        """
        with self._cmd_lock:
            for fd in (self._cmd_w, self._from_child, self._memfd):
                if fd >= 0:
                    os.close(fd)
            self._cmd_w = self._from_child = self._memfd = -1
        self.sock.close()

    def __del__(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()
        if hasattr(self, "_cmd_lock"):
            self.close()


# -- the child -------------------------------------------------------------------------------------


class _ChildReceiver(Receiver):
    """The receive loop, sending batches to the parent instead of queueing them."""

    def __init__(self, out: int, header: np.ndarray, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._out = out
        self._header = header

    def _publish(self) -> None:
        s = self.stats
        self._header[:6] = (
            s.datagrams,
            s.bytes,
            s.batches,
            s.oversize,
            s.truncated,
            int(s.stalled_seconds * 1e9),
        )

    def _received(self) -> None:
        self._header[6] = self.stats.datagrams  # read, handed over or not: what a kill would lose

    def _emit(self, arena: _Arena | None, count: int, used: int, ticket: int) -> None:
        self._publish()
        if arena is None:
            _write_all(self._out, _TO_PARENT.pack(_BATCH, -1, 0, 0, ticket, 0))
            return
        tail = b"".join(p.tobytes() for p in self._extras(arena, count, used))
        _write_all(
            self._out, _TO_PARENT.pack(_BATCH, arena.index, count, used, ticket, len(tail)) + tail
        )

    def _end(self) -> None:
        self._publish()
        text = b"" if self.error is None else repr(self.error).encode()
        with contextlib.suppress(OSError):  # the parent is gone: nobody to tell
            _write_all(self._out, _TO_PARENT.pack(_END, -1, 0, 0, 0, len(text)) + text)


def _child_main(argv: list[str]) -> None:
    sock_fd, mem_fd, cmd_fd, out_fd, batch_bytes, count = (int(x) for x in argv[:6])
    batch_seconds, slot = float(argv[6]), int(argv[7])
    layout = _Layout(batch_bytes, count)
    mem = mmap.mmap(mem_fd, layout.size)
    arenas = layout.arenas(mem)
    sock = socket.socket(fileno=sock_fd)
    rx = _ChildReceiver(
        out_fd,
        layout.header(mem),
        sock,
        queue.Queue(),
        batch_bytes=batch_bytes,
        batch_seconds=batch_seconds,
        max_pending_bytes=batch_bytes * count,
        multi=True,
        slot=slot,
        arenas=arenas,
    )

    def commands() -> None:
        while True:
            msg = _read_exact(cmd_fd, _TO_CHILD.size)
            if len(msg) < _TO_CHILD.size:  # the parent closed the pipe or died
                rx.request_stop(0.0)
                return
            op, arg = _TO_CHILD.unpack(msg)
            if op == _FREE:
                rx.recycle(arenas[arg])
            elif op == _FLUSH:  # the parent numbers the tickets
                with rx._lock:
                    rx._flush_asked = max(rx._flush_asked, arg)
            elif op == _STOP:
                rx.request_stop(arg / 1000)

    threading.Thread(target=commands, name="flowlab-receive-commands", daemon=True).start()
    rx.sock.settimeout(0.1)
    _write_all(out_fd, _TO_PARENT.pack(_READY, -1, 0, 0, 0, 0))
    rx._run()
