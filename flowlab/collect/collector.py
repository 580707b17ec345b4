"""The live collector: sFlow/NetFlow/IPFIX over UDP in, canonical frames out (Parquet, memory, sinks).

The receive loop (:mod:`flowlab.collect.receiver`) only reads datagrams into
large buffers; on Linux it runs in a child process of its own
(:mod:`flowlab.collect.receive_process`), so that nothing this interpreter does
(a notebook's long computation, the decoder itself) delays reading the socket;
elsewhere, or with a custom clock, in a thread. The decode thread decodes each batch with
:func:`flowlab.sflow.decode.decode` (or another protocol's decoder; sequence-gap state carried from batch to
batch), writes the rows to the hour-partitioned Parquet store
(:class:`flowlab.store.CaptureWriter`) or keeps them in memory, and hands
every decoded batch to the sinks (callables such as an Elasticsearch bulk
writer).

Nothing received is dropped silently: a datagram is decoded (or counted as
bad by reason), the rows are written (or, if the output fails, counted as
unwritten and the collector stops with the error), and datagrams the kernel
had to drop because the collector fell behind are read from
``/proc/net/udp`` (``kernel_drops``). :meth:`Collector.stop` stops reading,
drains what the socket holds, decodes and flushes all of it.

Examples
--------
>>> import socket
>>> from flowlab.sflow.encode import encode_datagram
>>> from flowlab.sflow.records import Datagram, CounterSample, GenericInterfaceCounters
>>> gram = encode_datagram(Datagram("10.0.0.21", 1, 1000, [CounterSample(1, 3,
...                        [GenericInterfaceCounters(if_index=3)])]))
>>> with Collector("127.0.0.1:0") as col:
...     tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
...     _ = tx.sendto(gram, col.address)
...     col.counters().select("exporter", "if_index").row(0)
('10.0.0.21', 3)
>>> tx.close()
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import polars as pl

from flowlab._atomic import AtomicFile
from flowlab.collect import receive_process
from flowlab.collect.receiver import Batch, Receiver
from flowlab.collect.udp import open_socket, udp_drops
from flowlab.decoding import Datagrams, Decoded, Decoder, DecodeStats, get_decoder, new_state
from flowlab.exceptions import CollectorError, ConfigError, OutputError
from flowlab.schema import empty, empty_counters
from flowlab.store import CaptureWriter

__all__ = ["Collector", "CollectorStats", "Sink"]

log = logging.getLogger("flowlab.collect.collector")


@runtime_checkable
class Sink(Protocol):
    """Receives every decoded batch, in order, on the collector's decode thread.

    Any callable ``sink(decoded)`` works; if it also has ``close()``, the
    collector calls it once after the last batch. A sink that raises is
    logged and counted (``sink_errors``); the collector keeps going.
    """

    def __call__(self, decoded: Decoded) -> None: ...


@dataclass(frozen=True)
class CollectorStats:
    """A snapshot of what a :class:`Collector` has seen.

    Attributes
    ----------
    datagrams : int
        Datagrams read from the socket.
    bytes : int
        Their payload bytes.
    errors : int
        Datagrams the decoder rejected (``errors_by_reason`` says why; ``internal_error``
        counts datagrams of batches that failed in flowlab itself, logged with a traceback;
        ``receive_process_died`` those a killed receive process had read but not handed over).
    flow_samples, counter_samples : int
        Samples in the decoded datagrams.
    flows, counters : int
        Rows produced.
    sequence_lost : int
        Datagrams missing from the agents' sequence numbers (lost on the way).
    kernel_drops : int or None
        Datagrams the kernel dropped because the receive buffer was full (None: unknown).
    rcvbuf : int
        Socket receive buffer size the kernel granted (bytes, as it reports it).
    stalled_seconds : float
        Time the receive thread waited for a free buffer (decoder behind).
    files, rows_written : int
        Parquet part files written and their rows.
    unwritten_rows : int
        Rows decoded but not stored because writing failed: rows dropped while
        more than the writer's ``max_held_bytes`` were held, plus, once stopped,
        rows still held when the last write failed (see ``error``).
    held_rows : int
        Rows decoded and held in memory, not yet in a file (while running).
    write_fault : str or None
        Why writing fails, while it does (the collector keeps receiving and retries).
    sink_errors : int
        Batches a sink failed on.
    busy_seconds : dict
        Time the decode thread spent decoding, writing and in sinks.
    decode : DecodeStats
        Everything the decoder counted (skipped records, resets, ...).
    error : str or None
        Why the collector stopped on its own, if it did.
    """

    datagrams: int = 0
    bytes: int = 0
    errors: int = 0
    errors_by_reason: dict[str, int] = field(default_factory=dict)
    flow_samples: int = 0
    counter_samples: int = 0
    flows: int = 0
    counters: int = 0
    sequence_lost: int = 0
    kernel_drops: int | None = None
    rcvbuf: int = 0
    stalled_seconds: float = 0.0
    files: int = 0
    rows_written: int = 0
    unwritten_rows: int = 0
    held_rows: int = 0
    write_fault: str | None = None
    sink_errors: int = 0
    busy_seconds: dict[str, float] = field(default_factory=dict)
    decode: DecodeStats = field(default_factory=DecodeStats)
    error: str | None = None

    def status_line(self) -> str:
        """One line for a terminal.

        Examples
        --------
        >>> CollectorStats(datagrams=10, flow_samples=40, kernel_drops=0).status_line()
        'datagrams 10, samples 40 (flow 40, counters 0), errors 0, sequence-gap lost 0, kernel drops 0, files 0'
        """
        drops = "?" if self.kernel_drops is None else f"{self.kernel_drops:,}"
        # NetFlow/IPFIX flow records: the flow rows that are not sFlow flow samples
        records = self.flows - self.flow_samples if "data" in self.decode.samples else 0
        line = (
            f"datagrams {self.datagrams:,}, samples {self.flow_samples + self.counter_samples:,} "
            f"(flow {self.flow_samples:,}, counters {self.counter_samples:,}), "
            + (f"flow records {records:,}, " if records else "")
            + f"errors {self.errors:,}, sequence-gap lost {self.sequence_lost:,}, "
            f"kernel drops {drops}, files {self.files:,}"
        )
        if self.write_fault is not None:
            line += f", WRITING FAILS (holding {self.held_rows:,} rows, retrying)"
        if self.unwritten_rows:
            line += f", UNWRITTEN rows {self.unwritten_rows:,}"
        if self.sink_errors:
            line += f", sink errors {self.sink_errors:,}"
        return line


class _Tagged(queue.Queue["Batch | None"]):
    """A listener's end of the shared batch queue: what its receiver puts is tagged with its index."""

    def __init__(self, into: queue.Queue[tuple[int, Batch | None]], index: int) -> None:
        super().__init__()
        self._into = into
        self._index = index

    def put(self, item: Batch | None, block: bool = True, timeout: float | None = None) -> None:
        self._into.put((self._index, item), block, timeout)


@dataclass(eq=False)
class _Listener:
    """One socket of a collector: its protocol, receiver and decoder state."""

    index: int
    protocol: Decoder
    listen: str
    sock: socket.socket
    address: tuple[str, int]
    rcvbuf: int
    receiver: Any = None  # Receiver or receive_process.ProcessReceiver
    state: Any = None  # what the decoder carries from batch to batch
    state_file: Path | None = None
    saved_state: str = ""
    done_ticket: int = 0


def _listeners(
    listen: str | Sequence[tuple[str | Decoder, str]], protocol: str | Decoder
) -> list[tuple[Decoder, str]]:
    """``[(decoder, "HOST:PORT"), ...]`` from the collector's `listen` and `protocol` arguments."""
    if isinstance(listen, str):
        return [(get_decoder(protocol), listen)]
    pairs = [(get_decoder(p), a) for p, a in listen]
    if not pairs:
        msg = "a collector needs at least one (protocol, HOST:PORT) listener"
        raise ConfigError(msg)
    names = [d.name for d, _ in pairs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        msg = (
            f"one listener per protocol: {', '.join(twice)} given more than once "
            "(each protocol keeps one decoder state next to the capture)"
        )
        raise ConfigError(msg)
    return pairs


def _thread_receiver(
    sock: socket.socket,
    into: _Tagged,
    batch_bytes: int,
    batch_seconds: float,
    pending: int,
    multi: bool | None,
    clock: Callable[[], int] | None,
) -> Receiver:
    return Receiver(
        sock,
        into,
        batch_bytes=batch_bytes,
        batch_seconds=batch_seconds,
        max_pending_bytes=pending,
        multi=multi,
        clock=clock,
    )


class Collector:
    """Receive sFlow, NetFlow or IPFIX on one or more UDP ports; decode, store and hand out what arrives.

    Parameters
    ----------
    listen : str or sequence of (protocol, str)
        ``HOST:PORT`` to bind (``0.0.0.0:6343``, ``[::]:6343``; port 0 picks a free one,
        see :attr:`address`) for `protocol`; or several listeners at once,
        ``[("sflow", "0.0.0.0:6343"), ("ipfix", "0.0.0.0:4739"), ("netflow", "0.0.0.0:2055")]``
        (one per protocol; see :attr:`addresses`). Each listener has its own socket, receive
        loop and decoder state (NetFlow/IPFIX templates per exporter and observation domain,
        kept in ``.<protocol>-state.json`` next to the capture); all share one store, one
        writer and the sinks, and the ``flow_format`` column tells their rows apart.
    out_dir : str or Path, optional
        Capture directory for hour-partitioned Parquet (:mod:`flowlab.store`).
        Without it, rows are kept in memory (unbounded: for notebooks and tests).
    roll_seconds, roll_bytes : float, int
        When part files are written (see :class:`~flowlab.store.CaptureWriter`).
    max_held_bytes : int, optional
        While writing fails (disk full, read-only, I/O error), decoded rows
        stay in memory up to this size (default ``4 * roll_bytes``) and
        writing is retried every second; rows beyond it are dropped and
        counted (``unwritten_rows``).
    sinks : iterable of callables
        Called with every decoded batch (:class:`Sink`).
    rcvbuf : int
        Socket receive buffer to ask for (bytes).
    batch_seconds : float
        Longest time a received datagram waits before it is decoded.
    batch_bytes, max_pending_bytes : int
        Receive buffer size per batch, and for all batches waiting to be decoded.
    source : str, optional
        The ``source`` column of the rows (default: the protocol's name, ``"sflow"``, ``"ipfix"``,
        ``"netflow"``, per listener).
    multi : bool, optional
        Force (True) or avoid (False) ``recvmmsg``; default: use it where available.
    clock : callable, optional
        Receive-time source (UTC epoch milliseconds) for the ``time`` column; default the
        wall clock. The demo passes a simulated clock.
    receive : {"auto", "process", "thread"}
        Where the receive loop runs. ``"process"``: a child process
        (:mod:`flowlab.collect.receive_process`) that keeps reading the socket
        however busy this interpreter is; ``"thread"``: a thread of this
        process. ``"auto"`` (default) takes the process on Linux unless a
        ``clock`` is given or ``multi=False``.
    protocol : str or Decoder
        The flow protocol arriving on the port (:func:`flowlab.decoding.get_decoder`) when
        `listen` is one address.

    Notes
    -----
    Memory is bounded by about ``max_pending_bytes`` (raw datagrams waiting to
    be decoded; shared between the receive processes and this one, and split
    between the listeners, at least two batches each) +
    ``roll_bytes`` per open partition and kind (rows waiting to be written;
    normally one hour per kind; up to ``max_held_bytes`` in all while writing
    fails) + one batch's decoding + ~150 MB of Python and
    libraries (+ ~30 MB for the receive process): about 1 GB at the defaults
    when a backlog of ~2 s at 200k datagrams/s fills every buffer; a collector
    that keeps up touches one buffer and stays far lower. When decoding falls
    behind, the receive loop waits for a free buffer, the kernel socket buffer
    fills and the kernel drops datagrams; those drops are counted
    (``kernel_drops``) and also show as sequence gaps.
    """

    def __init__(
        self,
        listen: str | Sequence[tuple[str | Decoder, str]] = "0.0.0.0:6343",
        *,
        out_dir: str | os.PathLike[str] | None = None,
        roll_seconds: float = 300.0,
        roll_bytes: int = 64 << 20,
        max_held_bytes: int | None = None,
        sinks: Iterable[Sink] = (),
        rcvbuf: int = 64 << 20,
        batch_seconds: float = 0.5,
        batch_bytes: int = 64 << 20,
        max_pending_bytes: int = 512 << 20,
        source: str | None = None,
        compression: str = "zstd",
        multi: bool | None = None,
        clock: Callable[[], int] | None = None,
        receive: str = "auto",
        protocol: str | Decoder = "sflow",
    ) -> None:
        if receive not in ("auto", "process", "thread"):
            msg = f"receive must be 'auto', 'process' or 'thread', found {receive!r}"
            raise ConfigError(msg)
        if receive == "process" and (clock is not None or multi is False):
            msg = "the receive process reads with recvmmsg on the wall clock: use receive='thread'"
            raise ConfigError(msg)
        pairs = _listeners(listen, protocol)
        self.listen = listen if isinstance(listen, str) else ", ".join(a for _, a in pairs)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.source = source
        self.sinks = list(sinks)
        self._writer = (
            CaptureWriter(
                self.out_dir,
                roll_seconds=roll_seconds,
                roll_bytes=roll_bytes,
                compression=compression,
                max_held_bytes=max_held_bytes,
            )
            if self.out_dir is not None
            else None
        )
        self._queue: queue.Queue[tuple[int, Batch | None]] = queue.Queue()
        in_process = receive == "process" or (
            receive == "auto" and receive_process.AVAILABLE and clock is None and multi is not False
        )
        # the raw-datagram budget is shared: each listener gets its part (at least two buffers)
        pending = max(max_pending_bytes // len(pairs), 2 * batch_bytes)
        self._listeners: list[_Listener] = []
        try:
            for index, (decoder, address) in enumerate(pairs):
                sock, granted = open_socket(address, rcvbuf=rcvbuf)
                host, port = sock.getsockname()[:2]
                listener = _Listener(index, decoder, address, sock, (str(host), int(port)), granted)
                self._listeners.append(listener)
                into = _Tagged(self._queue, index)
                if in_process:
                    try:
                        listener.receiver = receive_process.ProcessReceiver(
                            sock,
                            into,
                            batch_bytes=batch_bytes,
                            batch_seconds=batch_seconds,
                            max_pending_bytes=pending,
                        )
                    except OSError as exc:  # e.g. memfd_create refused by a sandbox
                        # the first listener decides for all: they all receive alike
                        if receive == "process" or index > 0:
                            msg = (
                                f"cannot set up the receive process's shared memory: {exc}; "
                                "receive='thread' works without it"
                            )
                            raise CollectorError(msg) from exc
                        log.warning("no receive process (%s); receiving in a thread", exc)
                        in_process = False
                if not in_process:
                    listener.receiver = _thread_receiver(
                        sock, into, batch_bytes, batch_seconds, pending, multi, clock
                    )
        except BaseException:
            for done in self._listeners:
                if done.receiver is not None:
                    done.receiver.close()
                done.sock.close()
            raise
        #: "process" or "thread": where the receive loops run
        self.receive = "process" if in_process else "thread"
        for listener in self._listeners:
            self._load_state(listener)
        self._decode_stats = DecodeStats()
        self._memory: list[Decoded] = []
        self._lock = threading.Lock()
        self._done = threading.Condition()
        self._decoder = threading.Thread(
            target=self._decode_loop, name="flowlab-decode", daemon=True
        )
        self._started = self._stopped = False
        self._final_unwritten = 0
        self._last_fault = ""
        self._sink_errors = 0
        self._failed_datagrams = 0
        self._error: BaseException | None = None
        self._seconds = {"decode": 0.0, "write": 0.0, "sinks": 0.0}

    def __repr__(self) -> str:
        state = "running" if self.running else ("stopped" if self._stopped else "new")
        out = f", out_dir={str(self.out_dir)!r}" if self.out_dir else ""
        if len(self._listeners) == 1:
            return f"Collector(address={self.address!r}{out}, {state})"
        where = ", ".join(f"{n} {a}" for n, a in self.addresses)
        return f"Collector(listening=[{where}]{out}, {state})"

    # -- the listeners ---------------------------------------------------------------------------

    @property
    def addresses(self) -> list[tuple[str, tuple[str, int]]]:
        """``(protocol, (host, port))`` of every listener, in the order given."""
        return [(x.protocol.name, x.address) for x in self._listeners]

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)`` of the first listener (the only one, unless several were given)."""
        return self._listeners[0].address

    @property
    def protocol(self) -> Decoder:
        """The decoder of the first listener."""
        return self._listeners[0].protocol

    @property
    def rcvbuf(self) -> int:
        """Socket receive buffer the kernel granted (bytes, as it reports it; the smallest of all)."""
        return min(x.rcvbuf for x in self._listeners)

    @property
    def state_file(self) -> Path | None:
        """Where the first listener's decoder state (NetFlow/IPFIX templates) is kept across restarts."""
        return self._listeners[0].state_file

    def __enter__(self) -> Collector:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> Collector:
        """Start receiving (returns self)."""
        if self._started:
            msg = "this Collector was already started; create a new one"
            raise CollectorError(msg)
        self._started = True
        self._decoder.start()
        for x in self._listeners:
            x.receiver.start()
            log.info(
                "listening for %s on udp %s (SO_RCVBUF %d)", x.protocol.name, x.address, x.rcvbuf
            )
        return self

    @property
    def running(self) -> bool:
        """Whether the collector is receiving (False once it stopped on an error)."""
        return (
            self._started
            and not self._stopped
            and self._error is None
            and all(x.receiver.running for x in self._listeners)
        )

    @property
    def error(self) -> BaseException | None:
        """The error that stopped the collector on its own (a failure in flowlab or the receiver).

        A failing output does not stop it: rows are held and writing retried
        (see :attr:`CollectorStats.write_fault`); :meth:`stop` raises if rows
        stayed unwritten.
        """
        if self._error is not None:
            return self._error
        return next((x.receiver.error for x in self._listeners if x.receiver.error), None)

    @property
    def unwritten_rows(self) -> int:
        """Rows decoded but not stored (see :attr:`CollectorStats.unwritten_rows`)."""
        if self._writer is None:
            return 0
        return sum(self._writer.stats.unwritten_rows.values()) + self._final_unwritten

    def stop(self, *, drain_seconds: float = 5.0) -> CollectorStats:
        """Stop: read what the socket still holds, decode and flush everything; returns the stats.

        Idempotent. Raises :class:`~flowlab.exceptions.CollectorError` if the
        collector failed, or if rows it decoded could not be written (the
        message and the stats say how many, and why).
        """
        if not self._started:
            self._started = self._stopped = True
            for x in self._listeners:
                x.receiver.close()
                x.sock.close()
            return self.stats
        if not self._stopped:
            for x in self._listeners:  # each drains its socket; the decode thread ends after all
                x.receiver.stop(drain_seconds=drain_seconds)
            self._decoder.join()
            self._stopped = True
        unwritten = self.unwritten_rows
        lost = ""
        if unwritten:
            assert self._writer is not None
            cause = self._writer.stats.fault or self._last_fault
            lost = (
                f"{unwritten:,} of {self.stats.flows + self.stats.counters:,} decoded rows "
                f"were not written: {cause}"
            )
        if self.error is not None:
            msg = f"collector failed: {self.error}" + (f"; {lost}" if lost else "")
            raise CollectorError(msg) from self.error
        if lost:
            raise CollectorError(lost)
        return self.stats

    def flush(self, timeout: float = 10.0) -> None:
        """Decode and store everything received so far (the socket is drained first)."""
        if not self.running:
            return
        tickets = [(x, x.receiver.request_flush()) for x in self._listeners]
        with self._done:
            if not self._done.wait_for(
                lambda: all(x.done_ticket >= t for x, t in tickets) or not self.running, timeout
            ):
                msg = f"flush did not complete within {timeout} s (decoder busy or stalled)"
                raise CollectorError(msg)

    # -- what has arrived ----------------------------------------------------------------------

    def flows(self) -> pl.DataFrame:
        """Every flow row received so far, including rows not yet in a Parquet file."""
        return self._frame("flows")

    def counters(self) -> pl.DataFrame:
        """Every counters row received so far."""
        return self._frame("counters")

    def _frame(self, kind: str) -> pl.DataFrame:
        self.flush()
        if self._writer is not None:
            return self._writer.snapshot(kind)  # type: ignore[arg-type]
        with self._lock:
            parts = [getattr(d, kind) for d in self._memory]
        if not parts:
            return empty() if kind == "flows" else empty_counters()
        return pl.concat(parts, how="vertical")

    @property
    def stats(self) -> CollectorStats:
        """A snapshot of the counts (see :class:`CollectorStats`)."""
        received = [x.receiver.stats for x in self._listeners]
        with self._lock:
            d = self._decode_stats
        samples = d.samples
        reasons = dict(d.datagrams_bad)
        if self._failed_datagrams:
            reasons["internal_error"] = self._failed_datagrams
        # read by a receive process that died before handing them over
        died = sum(int(getattr(x.receiver, "lost", 0)) for x in self._listeners)
        if died:
            reasons["receive_process_died"] = died
        each = [
            x.receiver.final_drops if self._stopped else udp_drops(x.sock) for x in self._listeners
        ]
        drops = None if None in each else sum(d for d in each if d is not None)
        w = self._writer.stats if self._writer is not None else None
        return CollectorStats(
            datagrams=sum(r.datagrams for r in received),
            bytes=sum(r.bytes for r in received),
            errors=d.bad + self._failed_datagrams + died,
            errors_by_reason=reasons,
            flow_samples=samples.get("flow", 0) + samples.get("flow_expanded", 0),
            counter_samples=samples.get("counters", 0) + samples.get("counters_expanded", 0),
            flows=d.flows,
            counters=d.counters,
            sequence_lost=d.lost,
            kernel_drops=drops,
            rcvbuf=self.rcvbuf,
            stalled_seconds=sum(r.stalled_seconds for r in received),
            files=w.files if w else 0,
            rows_written=sum(w.rows.values()) if w else 0,
            unwritten_rows=self.unwritten_rows,
            held_rows=sum(w.pending_rows.values()) if w and not self._stopped else 0,
            write_fault=w.fault if w else None,
            sink_errors=self._sink_errors,
            busy_seconds=dict(self._seconds),
            decode=d,
            error=None if self.error is None else str(self.error),
        )

    # -- the decode thread ---------------------------------------------------------------------

    def _decode_loop(self) -> None:
        open_ = len(self._listeners)
        try:
            while open_:
                try:
                    index, batch = self._queue.get(timeout=0.25)
                except queue.Empty:
                    self._guarded(self._roll, "writing part files")
                    continue
                listener = self._listeners[index]
                if batch is None:  # that listener's last batch came before
                    open_ -= 1
                    continue
                try:
                    if len(batch) and self._error is None:
                        self._process(listener, batch)
                    elif len(batch):  # stopped by an earlier failure: counted, not decoded
                        self._failed_datagrams += len(batch)
                except Exception as exc:
                    self._failed_datagrams += len(batch)
                    self._fatal(exc, f"processing a batch of {len(batch)} datagrams")
                finally:
                    listener.receiver.release(batch)
                    if batch.ticket:
                        with self._done:
                            listener.done_ticket = max(listener.done_ticket, batch.ticket)
                            self._done.notify_all()
        except BaseException as exc:  # the loop itself: never die unnoticed
            self._fatal(exc, "the decode loop")
            raise
        finally:
            self._guarded(self._close_outputs, "closing the outputs")
            with self._done:
                self._done.notify_all()

    def _guarded(self, step: Callable[[], None], what: str) -> None:
        try:
            step()
        except Exception as exc:
            self._fatal(exc, what)

    def _fatal(self, exc: BaseException, what: str) -> None:
        """An unexpected failure in the decode thread: the collector stops with a CollectorError."""
        log.error("the decode thread failed while %s: %r", what, exc, exc_info=exc)
        if self._error is None:
            msg = (
                f"the decode thread failed while {what}: {type(exc).__name__}: {exc}; "
                "the collector stopped (datagrams received after it are counted as internal_error)"
            )
            error = CollectorError(msg)
            error.__cause__ = exc
            self._error = error

    def _load_state(self, listener: _Listener) -> None:
        listener.state = new_state(listener.protocol)
        if self.out_dir is None or not hasattr(listener.state, "to_json"):
            return
        # a hidden file next to the capture, one per protocol
        listener.state_file = self.out_dir / f".{listener.protocol.name}-state.json"
        if not listener.state_file.is_file():
            return
        try:
            text = listener.state_file.read_text()
            listener.state = type(listener.state).from_json(text)
            listener.saved_state = text
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("ignoring the saved decoder state %s: %s", listener.state_file, exc)

    def _save_state(self, listener: _Listener) -> None:
        """Write the decoder state when it changed (atomically: a temporary file, then rename)."""
        if listener.state_file is None:
            return
        text = listener.state.to_json()
        if text == listener.saved_state:
            return
        try:
            out = AtomicFile(listener.state_file)
            out.run(lambda fh: fh.write(text.encode()))
            out.commit()
            listener.saved_state = text
        except OutputError as exc:
            log.warning("could not save the decoder state: %s", exc)

    def _process(self, listener: _Listener, batch: Batch) -> None:
        t0 = time.perf_counter()
        datagrams = Datagrams.of(
            batch.buffer,
            batch.offsets,
            batch.lengths,
            received_ms=batch.received_ms,
            peers=list(batch.peers()),
        )
        decoded = listener.protocol.decode(
            datagrams,
            source=self.source or listener.protocol.name,
            state=listener.state,
        )
        self._save_state(listener)
        t1 = time.perf_counter()
        with self._lock:
            self._decode_stats = self._decode_stats.merge(decoded.stats)
            if self._writer is None:
                self._memory.append(decoded)
            self._seconds["decode"] += t1 - t0
        if self._writer is not None:
            self._write(lambda w: w.write(flows=decoded.flows, counters=decoded.counters))
        t2 = time.perf_counter()
        self._seconds["write"] += t2 - t1
        for sink in self.sinks:
            try:
                sink(decoded)
            except Exception as exc:
                self._sink_errors += 1
                log.warning(
                    "sink %r failed on a batch of %d flows: %s", sink, decoded.flows.height, exc
                )
        self._seconds["sinks"] += time.perf_counter() - t2

    def _write(self, step: Callable[[CaptureWriter], object]) -> None:
        """The one path of every write failure: the rows stay held and writing is retried."""
        assert self._writer is not None
        was = self._writer.stats.fault
        try:
            step(self._writer)
        except CollectorError as exc:
            self._last_fault = str(exc)
            if was is None:
                log.error(
                    "%s; %d rows held in memory (up to %d bytes), retrying every %.0f s",
                    exc,
                    self._writer.held_rows,
                    self._writer.max_held_bytes,
                    self._writer.retry_seconds,
                )

    def _roll(self) -> None:
        if self._writer is not None:
            self._write(lambda w: w.roll())

    def _close_outputs(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except CollectorError as exc:
                self._last_fault = str(exc)
                held = self._writer.held_rows
                self._final_unwritten = held
                log.error("%s; %d rows could not be written", exc, held)
        for sink in self.sinks:
            close = getattr(sink, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:
                    self._sink_errors += 1
                    log.warning("sink %r failed to close: %s", sink, exc)
