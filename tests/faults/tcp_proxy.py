"""A small threaded TCP fault proxy on loopback, put between flowlab and a real server.

It forwards bytes both ways until told to misbehave:

- :meth:`FaultProxy.stall` (or ``stall_after_bytes=``): stop forwarding on every
  connection, keep them open, and accept new connections without ever answering
  (a server that stopped answering, or a network that swallows packets);
- :meth:`FaultProxy.reset` (or ``reset_after_bytes=``): reset every connection
  (TCP RST) and every new one;
- :meth:`FaultProxy.stop_server` (or ``stop_after_bytes=``): close every connection
  and the listening socket, so that new connections are refused (a server that
  was stopped);
- :meth:`FaultProxy.delay_response`: forward a chosen request (e.g. ``b"/_bulk"``)
  to the server at once but hold its response back for N seconds, so that the
  server applies it while the client times out.

``*_after_bytes`` counts bytes sent from the server to the client, so a fault can
strike in the middle of a load (after the first pages). ``silent()`` is a server
that accepts connections and never answers. Faults are real (sockets, TCP resets,
refused connections); nothing in flowlab is patched.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["FaultProxy", "silent_server"]

_CHUNK = 65536


@dataclass
class _Delay:
    marker: bytes
    seconds: float
    remaining: int


def _rst(sock: socket.socket) -> None:
    """Close with a TCP RST (linger 0); SHUT_RD first wakes a thread blocked reading it."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        sock.close()


class _Pair:
    """One client connection and its upstream connection."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.delay_next: float = 0.0
        self.closed = False

    def close(self, *, reset: bool = False) -> None:
        self.closed = True
        for sock in (self.client, self.upstream):
            if reset:
                _rst(sock)
            else:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()

    def pump(self, src: socket.socket, dst: socket.socket, *, downstream: bool) -> None:
        proxy = self.proxy
        while not self.closed:
            try:
                data = src.recv(_CHUNK)
            except OSError:
                break
            if not data:
                break
            if not downstream:
                proxy._check_delay(self, data)
            elif self.delay_next:
                delay, self.delay_next = self.delay_next, 0.0
                proxy.delayed += 1
                time.sleep(delay)
            while proxy.mode == "stall" and not self.closed:
                time.sleep(0.05)  # swallow: hold the bytes, answer nothing
            if self.closed:
                break
            try:
                dst.sendall(data)
            except OSError:
                break
            if downstream:
                proxy._count(len(data))
        if not self.closed and proxy.mode == "forward":
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)


class FaultProxy:
    """Forward ``127.0.0.1:<port>`` to `upstream` (host, port), with faults on demand.

    Use as a context manager; :attr:`url` is the proxy's ``http://`` URL.
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        stall_after_bytes: int | None = None,
        reset_after_bytes: int | None = None,
        stop_after_bytes: int | None = None,
    ) -> None:
        self.upstream = upstream
        self.mode = "forward"  # forward | stall | reset | stopped
        self.downstream_bytes = 0
        self.delayed = 0
        self.connections = 0
        self._trigger: list[tuple[int, Callable[[], None]]] = [
            (n, action)
            for n, action in (
                (stall_after_bytes, self.stall),
                (reset_after_bytes, self.reset),
                (stop_after_bytes, self.stop_server),
            )
            if n is not None
        ]
        self._delays: list[_Delay] = []
        self._pairs: list[_Pair] = []
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.fault_at: float | None = None
        self._thread = threading.Thread(target=self._accept, daemon=True, name="fault-proxy")
        self._thread.start()

    # -- faults ----------------------------------------------------------------------------

    def stall(self) -> None:
        """Stop forwarding; keep connections open; accept new ones silently."""
        with self._lock:
            self.mode = "stall"
            self.fault_at = self.fault_at or time.monotonic()

    def reset(self) -> None:
        """Reset (RST) every open connection and every new one."""
        with self._lock:
            self.mode = "reset"
            self.fault_at = self.fault_at or time.monotonic()
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            pair.close(reset=True)

    def stop_server(self) -> None:
        """Close every connection and stop listening: new connections are refused."""
        with self._lock:
            self.mode = "stopped"
            self.fault_at = self.fault_at or time.monotonic()
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            pair.close()
        with contextlib.suppress(OSError):
            self._listener.close()

    def delay_response(self, marker: bytes, seconds: float, *, times: int = 1) -> None:
        """Hold back the response to the next `times` requests whose first bytes hold `marker`."""
        with self._lock:
            self._delays.append(_Delay(marker, seconds, times))

    # -- internals ---------------------------------------------------------------------------

    def _check_delay(self, pair: _Pair, data: bytes) -> None:
        head = data[:2048]
        with self._lock:
            for delay in self._delays:
                if delay.remaining > 0 and delay.marker in head:
                    delay.remaining -= 1
                    pair.delay_next = delay.seconds
                    return

    def _count(self, n: int) -> None:
        fire: list[tuple[int, Callable[[], None]]] = []
        with self._lock:
            self.downstream_bytes += n
            keep: list[tuple[int, Callable[[], None]]] = []
            for limit, action in self._trigger:
                (fire if self.downstream_bytes >= limit else keep).append((limit, action))
            self._trigger = keep
        for _, action in fire:
            action()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            mode = self.mode
            if mode in ("reset", "stopped"):  # stopped: raced with the listener's close
                _rst(client)
                continue
            if mode == "stall":
                self._held.append(client)  # accepted, never answered
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=10)
                upstream.settimeout(None)
            except OSError:
                _rst(client)
                continue
            pair = _Pair(self, client, upstream)
            with self._lock:
                self._pairs.append(pair)
            for src, dst, down in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(
                    target=pair.pump, args=(src, dst), kwargs={"downstream": down}, daemon=True
                ).start()

    def close(self) -> None:
        """Close everything."""
        with self._lock:
            self.mode = "closed"
            pairs, self._pairs = self._pairs, []
        with contextlib.suppress(OSError):
            self._listener.close()
        for pair in pairs:
            pair.close()
        for sock in self._held:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A server that accepts TCP connections and never answers; yields its URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True, name="silent-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()
        for conn in held:
            conn.close()
