"""The receive loop over real loopback UDP sockets: batches, flush, drops, back-pressure.

Each test runs the loop in a thread (:class:`Receiver`) and, where the platform
has it, in a child process (:class:`ProcessReceiver`): both must behave alike.
"""

from __future__ import annotations

import queue
import socket
import time

import numpy as np
import pytest

from flowlab.collect import _mmsg, receive_process
from flowlab.collect.receive_process import ProcessReceiver
from flowlab.collect.receiver import Batch, Receiver
from flowlab.collect.udp import open_socket, parse_listen, udp_drops
from flowlab.exceptions import CollectorError, ConfigError

LOOPBACKS = [("127.0.0.1:0", socket.AF_INET), ("[::1]:0", socket.AF_INET6)]
KINDS = ["thread", "process"]


def receiver(
    kind: str, sock: socket.socket, q: queue.Queue[Batch | None], **kw: object
) -> Receiver:
    """A thread or process receiver with the same arguments."""
    if kind == "thread":
        return Receiver(sock, q, **kw)  # type: ignore[arg-type]
    if not receive_process.AVAILABLE:
        pytest.skip("the receive process is Linux-only")
    kw.pop("multi", None)
    return ProcessReceiver(sock, q, **kw)  # type: ignore[arg-type, return-value]


@pytest.mark.parametrize(
    ("text", "family", "host", "port"),
    [
        ("0.0.0.0:6343", socket.AF_INET, "0.0.0.0", 6343),
        (":6343", socket.AF_INET, "0.0.0.0", 6343),
        ("[::]:6343", socket.AF_INET6, "::", 6343),
        ("[::1]:0", socket.AF_INET6, "::1", 0),
        ("localhost:9", None, None, 9),
    ],
)
def test_parse_listen(text: str, family: int | None, host: str | None, port: int) -> None:
    fam, address = parse_listen(text)
    assert address[1] == port
    if family is not None:
        assert fam == family and address[0] == host


@pytest.mark.parametrize("text", ["6343", "::1:6343", "1.2.3.4:70000", "host:", "[::1]6343", ""])
def test_parse_listen_rejects_bad_addresses(text: str) -> None:
    with pytest.raises(ConfigError, match="HOST:PORT"):
        parse_listen(text)


def test_port_in_use_is_a_clear_error() -> None:
    first, _ = open_socket("127.0.0.1:0")
    try:
        port = first.getsockname()[1]
        with pytest.raises(
            CollectorError, match=r"cannot listen on udp 127\.0\.0\.1:\d+: .*in use"
        ):
            open_socket(f"127.0.0.1:{port}")
    finally:
        first.close()


def collect(
    r: Receiver, q: queue.Queue[Batch | None], stop_after_ticket: bool = True
) -> tuple[list[bytes], list[str], list[int]]:
    data: list[bytes] = []
    peers: list[str] = []
    tickets: list[int] = []
    while True:
        b = q.get(timeout=10)
        if b is None:
            return data, peers, tickets
        data += [bytes(b.buffer[o : o + n]) for o, n in zip(b.offsets, b.lengths)]
        peers += list(b.peers())
        assert (b.received_ms > 1_600_000_000_000).all()
        if b.ticket:
            tickets.append(b.ticket)
            if stop_after_ticket:
                r.stop()
        r.release(b)


@pytest.mark.parametrize(
    ("kind", "multi"),
    [("thread", True), ("thread", False), ("process", True)],
    ids=["thread-recvmmsg", "thread-recvfrom", "process"],
)
@pytest.mark.parametrize(("listen", "family"), LOOPBACKS, ids=["ipv4", "ipv6"])
def test_every_datagram_arrives_whole_and_in_order(
    listen: str, family: int, kind: str, multi: bool
) -> None:
    if multi and not _mmsg.AVAILABLE:
        pytest.skip("recvmmsg is Linux-only")
    sock, _ = open_socket(listen)
    q: queue.Queue[Batch | None] = queue.Queue()
    r = receiver(kind, sock, q, multi=multi, batch_bytes=1 << 20, max_pending_bytes=8 << 20)
    r.start()
    tx = socket.socket(family, socket.SOCK_DGRAM)
    tx.connect(sock.getsockname()[:2])
    rng = np.random.default_rng(1)
    # sizes around and far beyond the 1472-byte slot, up to the UDP maximum
    sizes = [*rng.integers(1, 3000, 3000).tolist(), 1471, 1472, 1473, 2048, 9000, 65_507]
    sent = [rng.bytes(n) for n in sizes]
    _mmsg.Outbox(sent).send(tx)
    ticket = r.request_flush()
    data, peers, tickets = collect(r, q)
    tx.close()
    assert tickets == [ticket]
    assert data == sent
    assert set(peers) == {"127.0.0.1" if family == socket.AF_INET else "::1"}
    assert r.stats.datagrams == len(sent) and r.stats.bytes == sum(sizes)
    assert r.stats.truncated == 0
    assert r.final_drops == 0


@pytest.mark.parametrize("kind", KINDS)
def test_flush_with_nothing_received_answers_the_ticket(kind: str) -> None:
    sock, _ = open_socket("127.0.0.1:0")
    q: queue.Queue[Batch | None] = queue.Queue()
    r = receiver(kind, sock, q, batch_bytes=1 << 20)
    r.start()
    ticket = r.request_flush()
    b = q.get(timeout=5)
    assert b is not None and len(b) == 0 and b.ticket == ticket
    r.stop()
    assert q.get(timeout=5) is None


@pytest.mark.parametrize("kind", KINDS)
def test_kernel_drops_are_read_from_proc(kind: str) -> None:
    # A real full receive buffer: nobody reads, the kernel drops and counts.
    sock, granted = open_socket("127.0.0.1:0", rcvbuf=4096)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.connect(sock.getsockname())
    for _ in range(300):
        tx.send(b"x" * 1000)
    drops = udp_drops(sock)
    assert drops is not None and 0 < drops < 300
    q: queue.Queue[Batch | None] = queue.Queue()
    r = receiver(kind, sock, q, batch_bytes=1 << 20)
    r.start()
    r.request_flush()
    data, _, _ = collect(r, q)
    tx.close()
    assert len(data) + drops == 300, (len(data), drops, granted)
    assert r.final_drops == drops


@pytest.mark.parametrize("kind", KINDS)
def test_back_pressure_counts_what_the_kernel_drops(kind: str) -> None:
    # The "decoder" never gives buffers back: the receive loop stalls, the
    # kernel buffer fills and drops; every datagram is received or counted.
    sock, _ = open_socket("127.0.0.1:0", rcvbuf=64 << 10)
    q: queue.Queue[Batch | None] = queue.Queue()
    r = receiver(
        kind, sock, q, batch_bytes=256 << 10, max_pending_bytes=512 << 10, batch_seconds=0.05
    )
    r.start()
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.connect(sock.getsockname())
    total = 3000
    out = _mmsg.Outbox([b"y" * 1200] * total)
    for start in range(0, total, 100):  # paced: the receiver fills every buffer it has first
        out.send(tx, start, 100)
        time.sleep(0.01)
    deadline = time.monotonic() + 10
    while q.qsize() < 2 and time.monotonic() < deadline:  # both buffers handed over, none back
        time.sleep(0.02)
    time.sleep(0.2)  # the receive thread waits for a buffer; the kernel buffer is full
    drops = udp_drops(sock)
    assert drops is not None and drops > 0
    stuck_at = r.stats.datagrams
    assert stuck_at + drops < total  # some wait in the kernel buffer
    held: list[Batch] = []
    while not q.empty():
        b = q.get()
        assert b is not None
        held.append(b)
    for b in held:  # the decoder catches up: the rest is read
        r.release(b)
    r.request_flush()
    data, _, _ = collect(r, q)
    tx.close()
    assert sum(len(b) for b in held) + len(data) == r.stats.datagrams
    assert r.stats.datagrams + udp_drops_final(r) == total
    assert r.stats.stalled_seconds > 0


def udp_drops_final(r: Receiver | ProcessReceiver) -> int:
    assert r.final_drops is not None
    return r.final_drops


@pytest.mark.parametrize("kind", KINDS)
def test_batches_end_after_batch_seconds(kind: str) -> None:
    sock, _ = open_socket("127.0.0.1:0")
    q: queue.Queue[Batch | None] = queue.Queue()
    r = receiver(kind, sock, q, batch_seconds=0.2)
    r.start()
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.connect(sock.getsockname())
    tx.send(b"hello")
    b = q.get(timeout=5)  # no flush asked: the batch ends on its own
    assert b is not None and len(b) == 1 and b.ticket == 0
    r.release(b)
    r.stop()
    tx.close()


def test_batch_bytes_must_hold_two_datagrams() -> None:
    sock, _ = open_socket("127.0.0.1:0")
    try:
        with pytest.raises(ConfigError, match="batch_bytes"):
            Receiver(sock, queue.Queue(), batch_bytes=1000)
    finally:
        sock.close()


@pytest.mark.parametrize("kind", KINDS)
def test_dual_stack_listener_takes_ipv4_and_names_the_peer_in_ipv4(kind: str) -> None:
    sock, _ = open_socket("[::]:0")
    q: queue.Queue[Batch | None] = queue.Queue()
    r = receiver(kind, sock, q)
    r.start()
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.sendto(b"sflow?", ("127.0.0.1", sock.getsockname()[1]))
    r.request_flush()
    data, peers, _ = collect(r, q)
    tx.close()
    assert data == [b"sflow?"] and peers == ["127.0.0.1"]
