"""The live sFlow collector: UDP in, canonical frames out (Parquet, memory, or your sinks).

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
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import polars as pl

from flowlab.collect import receive_process
from flowlab.collect.receiver import Batch, Receiver
from flowlab.collect.udp import open_socket, udp_drops
from flowlab.decoding import Decoded, Decoder, DecodeStats, SequenceTracker, get_decoder
from flowlab.exceptions import CollectorError, ConfigError
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
        counts datagrams of batches that failed in flowlab itself, logged with a traceback).
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
        line = (
            f"datagrams {self.datagrams:,}, samples {self.flow_samples + self.counter_samples:,} "
            f"(flow {self.flow_samples:,}, counters {self.counter_samples:,}), "
            f"errors {self.errors:,}, sequence-gap lost {self.sequence_lost:,}, "
            f"kernel drops {drops}, files {self.files:,}"
        )
        if self.write_fault is not None:
            line += f", WRITING FAILS (holding {self.held_rows:,} rows, retrying)"
        if self.unwritten_rows:
            line += f", UNWRITTEN rows {self.unwritten_rows:,}"
        if self.sink_errors:
            line += f", sink errors {self.sink_errors:,}"
        return line


class Collector:
    """Receive sFlow v5 on a UDP port; decode, store and hand out what arrives.

    Parameters
    ----------
    listen : str
        ``HOST:PORT`` to bind (``0.0.0.0:6343``, ``[::]:6343``; port 0 picks a free one,
        see :attr:`address`).
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
    source : str
        The ``source`` column of the rows.
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
        The flow protocol arriving on the port (:func:`flowlab.decoding.get_decoder`).

    Notes
    -----
    Memory is bounded by about ``max_pending_bytes`` (raw datagrams waiting to
    be decoded; shared between the receive process and this one) +
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
        listen: str = "0.0.0.0:6343",
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
        source: str = "sflow",
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
        self.listen = listen
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.source = source
        self.sinks = list(sinks)
        self.protocol = get_decoder(protocol)
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
        self._sock, self.rcvbuf = open_socket(listen, rcvbuf=rcvbuf)
        host, port = self._sock.getsockname()[:2]
        self.address: tuple[str, int] = (str(host), int(port))
        self._queue: queue.Queue[Batch | None] = queue.Queue()
        in_process = receive == "process" or (
            receive == "auto" and receive_process.AVAILABLE and clock is None and multi is not False
        )
        self._receiver: Receiver | receive_process.ProcessReceiver
        try:
            if in_process:
                try:
                    self._receiver = receive_process.ProcessReceiver(
                        self._sock,
                        self._queue,
                        batch_bytes=batch_bytes,
                        batch_seconds=batch_seconds,
                        max_pending_bytes=max_pending_bytes,
                    )
                except OSError as exc:  # e.g. memfd_create refused by a sandbox
                    if receive == "process":
                        msg = (
                            f"cannot set up the receive process's shared memory: {exc}; "
                            "receive='thread' works without it"
                        )
                        raise CollectorError(msg) from exc
                    log.warning("no receive process (%s); receiving in a thread", exc)
                    in_process = False
            if not in_process:
                self._receiver = Receiver(
                    self._sock,
                    self._queue,
                    batch_bytes=batch_bytes,
                    batch_seconds=batch_seconds,
                    max_pending_bytes=max_pending_bytes,
                    multi=multi,
                    clock=clock,
                )
        except BaseException:
            self._sock.close()
            raise
        #: "process" or "thread": where the receive loop runs
        self.receive = "process" if in_process else "thread"
        self._tracker = SequenceTracker()
        self._decode_stats = DecodeStats()
        self._memory: list[Decoded] = []
        self._lock = threading.Lock()
        self._done = threading.Condition()
        self._done_ticket = 0
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
        return f"Collector(address={self.address!r}{out}, {state})"

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
        self._receiver.start()
        log.info("listening on udp %s (SO_RCVBUF %d)", self.address, self.rcvbuf)
        return self

    @property
    def running(self) -> bool:
        """Whether the collector is receiving (False once it stopped on an error)."""
        return (
            self._started and not self._stopped and self._error is None and self._receiver.running
        )

    @property
    def error(self) -> BaseException | None:
        """The error that stopped the collector on its own (a failure in flowlab or the receiver).

        A failing output does not stop it: rows are held and writing retried
        (see :attr:`CollectorStats.write_fault`); :meth:`stop` raises if rows
        stayed unwritten.
        """
        return self._error or self._receiver.error

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
            self._receiver.close()
            self._sock.close()
            return self.stats
        if not self._stopped:
            self._receiver.stop(drain_seconds=drain_seconds)
            self._decoder.join()
            self._stopped = True
        if self.error is not None:
            msg = f"collector failed: {self.error}"
            raise CollectorError(msg) from self.error
        unwritten = self.unwritten_rows
        if unwritten:
            assert self._writer is not None
            cause = self._writer.stats.fault or self._last_fault
            msg = (
                f"{unwritten:,} of {self.stats.flows + self.stats.counters:,} decoded rows "
                f"were not written: {cause}"
            )
            raise CollectorError(msg)
        return self.stats

    def flush(self, timeout: float = 10.0) -> None:
        """Decode and store everything received so far (the socket is drained first)."""
        if not self.running:
            return
        ticket = self._receiver.request_flush()
        with self._done:
            if not self._done.wait_for(
                lambda: self._done_ticket >= ticket or not self.running, timeout
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
        r = self._receiver.stats
        with self._lock:
            d = self._decode_stats
        samples = d.samples
        reasons = dict(d.datagrams_bad)
        if self._failed_datagrams:
            reasons["internal_error"] = self._failed_datagrams
        drops = self._receiver.final_drops if self._stopped else udp_drops(self._sock)
        w = self._writer.stats if self._writer is not None else None
        return CollectorStats(
            datagrams=r.datagrams,
            bytes=r.bytes,
            errors=d.bad + self._failed_datagrams,
            errors_by_reason=reasons,
            flow_samples=samples.get("flow", 0) + samples.get("flow_expanded", 0),
            counter_samples=samples.get("counters", 0) + samples.get("counters_expanded", 0),
            flows=d.flows,
            counters=d.counters,
            sequence_lost=d.lost,
            kernel_drops=drops,
            rcvbuf=self.rcvbuf,
            stalled_seconds=r.stalled_seconds,
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
        try:
            while True:
                try:
                    batch = self._queue.get(timeout=0.25)
                except queue.Empty:
                    self._guarded(self._roll, "writing part files")
                    continue
                if batch is None:
                    break
                try:
                    if len(batch) and self._error is None:
                        self._process(batch)
                    elif len(batch):  # stopped by an earlier failure: counted, not decoded
                        self._failed_datagrams += len(batch)
                except Exception as exc:
                    self._failed_datagrams += len(batch)
                    self._fatal(exc, f"processing a batch of {len(batch)} datagrams")
                finally:
                    self._receiver.release(batch)
                    if batch.ticket:
                        with self._done:
                            self._done_ticket = max(self._done_ticket, batch.ticket)
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

    def _process(self, batch: Batch) -> None:
        t0 = time.perf_counter()
        decoded = self.protocol.decode(
            batch.buffer,
            batch.offsets,
            batch.lengths,
            received_ms=batch.received_ms,
            peers=list(batch.peers()),
            source=self.source,
            state=self._tracker,
        )
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
