"""The Parquet capture store: hour-partitioned flow and counter files, written atomically.

A *capture directory* holds what a collector (or the demo, or ``flowlab read``)
received, one Parquet dataset per frame kind::

    DIR/flows/date=2025-01-06/hour=09/part-20250106T091502-1a2b3c-00001.parquet
    DIR/counters/date=2025-01-06/hour=09/part-...parquet

Every file follows the canonical schema (:mod:`flowlab.schema`); the
partition is the UTC date and hour of the rows' ``time``. Files appear
**atomically**: each is written to a hidden temporary name in its final
directory, flushed to disk (``fsync``) and renamed (``os.replace``)
(:class:`flowlab._atomic.AtomicFile`), so a reader never sees a half-written
file under a ``part-*.parquet`` name. When writing fails, rows stay held in
memory (up to a bound) and writing is retried.

:class:`CaptureWriter` buffers rows in memory per partition and writes a part
file when a partition's buffer reaches ``roll_bytes`` (in-memory Arrow size)
or has waited ``roll_seconds``; :func:`scan_capture` / :func:`read_capture`
read a directory back (the ``date=``/``hour=`` path segments do not leak into
the frame as columns).

Examples
--------
>>> import tempfile, datetime as dt
>>> import polars as pl
>>> from flowlab import schema
>>> rows = schema.conform(pl.DataFrame({
...     "time": [dt.datetime(2025, 1, 6, 9, 15, tzinfo=dt.timezone.utc)],
...     "src_ip": ["10.128.2.7"], "dst_ip": ["10.129.2.9"]}))
>>> root = tempfile.mkdtemp()
>>> with CaptureWriter(root) as writer:
...     _ = writer.write(flows=rows)
>>> read_capture(root).select("src_ip", "dst_ip").row(0)
('10.128.2.7', '10.129.2.9')
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import polars as pl

from flowlab._atomic import AtomicFile
from flowlab.exceptions import (
    CollectorError,
    ConfigError,
    DataLossWarning,
    DecodeError,
    OutputError,
)
from flowlab.schema import COUNTER_SCHEMA, FLOW_SCHEMA, validate, validate_counters

__all__ = ["KINDS", "CaptureWriter", "Kind", "WriterStats", "read_capture", "scan_capture"]

log = logging.getLogger("flowlab.store")

Kind = Literal["flows", "counters"]
#: The frame kinds of a capture directory, each in its own subdirectory.
KINDS: tuple[Kind, ...] = ("flows", "counters")
_SCHEMAS: dict[str, pl.Schema] = {"flows": FLOW_SCHEMA, "counters": COUNTER_SCHEMA}


@dataclass
class WriterStats:
    """What a :class:`CaptureWriter` has written so far.

    Attributes
    ----------
    files : int
        Part files made visible (renamed into place).
    rows : dict
        Rows written per kind.
    bytes : int
        Bytes of Parquet written.
    pending_rows : dict
        Rows buffered in memory per kind, not yet in a file.
    pending_bytes : int
        In-memory size of the buffered rows.
    unwritten_rows : dict
        Rows per kind dropped because writing failed while ``max_held_bytes`` were already held.
    failures : int
        Failed attempts to write a part file.
    fault : str or None
        Why the last write failed, while writing fails (None once a write succeeds).
    """

    files: int = 0
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    bytes: int = 0
    pending_rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    pending_bytes: int = 0
    unwritten_rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    failures: int = 0
    fault: str | None = None


@dataclass
class _Partition:
    kind: str
    date: str
    hour: int
    frames: list[pl.DataFrame] = field(default_factory=list)
    rows: int = 0
    size: int = 0
    opened: float = 0.0
    failed: bool = False


class CaptureWriter:
    """Buffer canonical flow/counter frames and write them as hour-partitioned Parquet.

    Parameters
    ----------
    root : str or Path
        The capture directory (created if missing; ``flows/`` and ``counters/`` inside).
    roll_seconds : float
        Write a partition's buffered rows once they have waited this long.
    roll_bytes : int
        Write a partition's buffered rows once their in-memory size reaches
        this many bytes (Parquet files are several times smaller). Memory is
        bounded by about ``roll_bytes`` per open partition (normally one or two
        per kind; more only while data for several hours arrives at once).
    compression : str
        Parquet compression (``"zstd"``, ``"lz4"``, ``"snappy"``, ``"uncompressed"``).
    max_held_bytes : int
        While writing fails (disk full, read-only, I/O error), rows stay in
        memory up to this in-memory size and writing is retried; rows beyond
        it are dropped and counted (``stats.unwritten_rows``). Default
        ``4 * roll_bytes``.
    retry_seconds : float
        After a failed write, wait this long before :meth:`roll` tries again.
    clock : callable
        Monotonic clock for the time-based roll (tests may pass their own).

    Notes
    -----
    Every failure to write a part file (``OSError``, or the Polars error that
    wraps one) takes one path: the temporary file is removed
    (:class:`flowlab._atomic.AtomicFile`), the rows stay held, and a
    :class:`~flowlab.exceptions.CollectorError` names the file and the cause.
    Thread-safe: one thread may :meth:`write` while another calls
    :meth:`pending` or :meth:`roll`. File names sort by the time of their first
    row and carry a random writer id, so several writers may share a directory.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        roll_seconds: float = 300.0,
        roll_bytes: int = 64 << 20,
        compression: str = "zstd",
        max_held_bytes: int | None = None,
        retry_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if roll_seconds <= 0:
            msg = f"roll_seconds must be > 0, found {roll_seconds}"
            raise ConfigError(msg)
        if roll_bytes <= 0:
            msg = f"roll_bytes must be > 0, found {roll_bytes}"
            raise ConfigError(msg)
        self.root = Path(root)
        self.roll_seconds = float(roll_seconds)
        self.roll_bytes = int(roll_bytes)
        self.compression = compression
        self.max_held_bytes = 4 * self.roll_bytes if max_held_bytes is None else int(max_held_bytes)
        self.retry_seconds = float(retry_seconds)
        self._retry_at = 0.0
        self._clock = clock
        self._id = secrets.token_hex(3)
        self._seq = 0
        self._parts: dict[tuple[str, str, int], _Partition] = {}
        self._lock = threading.RLock()
        self._closed = False
        self.stats = WriterStats()
        self.files: dict[str, list[Path]] = {kind: [] for kind in KINDS}
        try:
            for kind in KINDS:
                (self.root / kind).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"cannot create capture directory {self.root}: {exc.strerror or exc}; choose a writable --out directory"
            raise CollectorError(msg) from exc

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------

    def write(
        self, flows: pl.DataFrame | None = None, counters: pl.DataFrame | None = None
    ) -> list[Path]:
        """Buffer rows (canonical frames); returns the part files this call completed.

        Every row is buffered before any file is written, so a failed write
        loses nothing: the rows stay held (up to ``max_held_bytes``; rows beyond
        it are counted in ``stats.unwritten_rows``) and a later :meth:`roll`,
        :meth:`flush` or :meth:`write` tries again.

        Raises
        ------
        CollectorError
            If a part file could not be written (the message names the file and the cause).
        """
        if self._closed:
            msg = "this CaptureWriter is closed; open a new one to write more"
            raise CollectorError(msg)
        for kind, frame in (("flows", flows), ("counters", counters)):
            if frame is None or frame.height == 0:
                continue
            (validate if kind == "flows" else validate_counters)(frame)
            for part_frame, (date, hour) in _split_by_hour(frame):
                self._hold(kind, date, hour, part_frame)
        return self.roll()

    def _hold(self, kind: str, date: str, hour: int, frame: pl.DataFrame) -> None:
        size = int(frame.estimated_size())
        with self._lock:
            if (
                self.stats.fault is not None
                and self.stats.pending_bytes + size > self.max_held_bytes
            ):
                self.stats.unwritten_rows[kind] += frame.height
                log.error(
                    "%d rows of %s dropped: %d bytes already held while writing fails (%s)",
                    frame.height,
                    kind,
                    self.stats.pending_bytes,
                    self.stats.fault,
                )
                return
            part = self._parts.get((kind, date, hour))
            if part is None:
                part = _Partition(kind, date, hour, opened=self._clock())
                self._parts[(kind, date, hour)] = part
            part.frames.append(frame)
            part.rows += frame.height
            part.size += size
            self.stats.pending_rows[kind] += frame.height
            self.stats.pending_bytes += size

    def roll(self, *, now: float | None = None) -> list[Path]:
        """Write every partition that reached ``roll_bytes`` or waited ``roll_seconds``.

        After a failed write, nothing is tried again for ``retry_seconds``.
        """
        t = self._clock() if now is None else now
        with self._lock:
            if t < self._retry_at:
                return []
            due = [
                p
                for p in self._parts.values()
                if p.size >= self.roll_bytes or t - p.opened >= self.roll_seconds
            ]
            return self._write_all(due, stop_at_first=True)

    def flush(self) -> list[Path]:
        """Write every buffered row now (also while a fault lasts)."""
        with self._lock:
            return self._write_all(list(self._parts.values()), stop_at_first=False)

    def close(self) -> None:
        """Flush and refuse further writes (idempotent; a failed flush leaves the writer open)."""
        if not self._closed:
            self.flush()
            self._closed = True

    @property
    def held_rows(self) -> int:
        """Rows of every kind buffered but not yet in a file."""
        with self._lock:
            return sum(self.stats.pending_rows.values())

    def pending(self, kind: Kind = "flows") -> pl.DataFrame:
        """The buffered rows of `kind` not yet in a file (a copy)."""
        with self._lock:
            frames = [f for p in self._parts.values() if p.kind == kind for f in p.frames]
        if not frames:
            return pl.DataFrame(schema=_SCHEMAS[kind])
        return pl.concat(frames, how="vertical")

    def snapshot(self, kind: Kind = "flows") -> pl.DataFrame:
        """Everything this writer was given for `kind`: its part files read back plus the buffer."""
        with self._lock:
            files = list(self.files[kind])
            pending = self.pending(kind)
        if not files:
            return pending
        written = pl.read_parquet([str(f) for f in files], hive_partitioning=False)
        return pl.concat([written.select(list(_SCHEMAS[kind])), pending], how="vertical")

    def _write_all(self, parts: list[_Partition], *, stop_at_first: bool) -> list[Path]:
        written: list[Path] = []
        failure: CollectorError | None = None
        for part in parts:
            try:
                written.append(self._write_partition(part))
            except CollectorError as exc:
                failure = failure or exc
                if stop_at_first:
                    break
        if failure is not None:
            raise failure
        return written

    def _write_partition(self, part: _Partition) -> Path:
        frame = pl.concat(part.frames, how="vertical", rechunk=True)
        part.frames = [frame]
        first = frame["time"].min()
        stamp = first.strftime("%Y%m%dT%H%M%S") if first is not None else "unknown"  # type: ignore[union-attr]
        self._seq += 1
        directory = self.root / part.kind / f"date={part.date}" / f"hour={part.hour:02d}"
        final = directory / f"part-{stamp}-{self._id}-{self._seq:05d}.parquet"
        # Parquet bytes are made in memory (compressed, a fraction of the rows' size) and written by
        # AtomicFile itself: Polars writing to the file directly reports a full disk as "Invalid
        # thrift: transport error", without the cause
        compression: Any = self.compression

        def write(fh: IO[bytes]) -> None:
            data = io.BytesIO()
            frame.write_parquet(data, compression=compression, statistics=True)
            fh.write(data.getbuffer())

        try:
            out = AtomicFile(final)
            out.run(write)
            size = out.commit()
        except OutputError as exc:
            self.stats.failures += 1
            self.stats.fault = str(exc)
            part.failed = True
            self._retry_at = self._clock() + self.retry_seconds
            msg = (
                f"{exc}; {part.rows} rows of {part.kind} stay unwritten, held in memory and "
                "retried (free space or fix permissions)"
            )
            raise CollectorError(msg) from exc
        del self._parts[(part.kind, part.date, part.hour)]
        if self.stats.fault is not None and not any(p.failed for p in self._parts.values()):
            log.warning("writing works again (%s)", final)
            self.stats.fault = None
            self._retry_at = 0.0
        self.files[part.kind].append(final)
        self.stats.files += 1
        self.stats.bytes += size
        self.stats.rows[part.kind] += part.rows
        self.stats.pending_rows[part.kind] -= part.rows
        self.stats.pending_bytes -= part.size
        log.debug("wrote %s (%d rows, %d bytes)", final, part.rows, size)
        return final


def _split_by_hour(frame: pl.DataFrame) -> Iterable[tuple[pl.DataFrame, tuple[str, int]]]:
    times = frame["time"]
    lo, hi = times.min(), times.max()
    if lo is not None and hi is not None:
        lo_key = (lo.strftime("%Y-%m-%d"), lo.hour)  # type: ignore[union-attr]
        hi_key = (hi.strftime("%Y-%m-%d"), hi.hour)  # type: ignore[union-attr]
        if lo_key == hi_key and times.null_count() == 0:
            return [(frame, lo_key)]
    keyed = frame.with_columns(
        pl.col("time").dt.strftime("%Y-%m-%d").fill_null("unknown").alias("__date"),
        pl.col("time").dt.hour().fill_null(0).cast(pl.Int32).alias("__hour"),
    )
    out = []
    for (date, hour), sub in keyed.partition_by(
        ["__date", "__hour"], as_dict=True, maintain_order=True
    ).items():
        out.append((sub.drop("__date", "__hour"), (str(date), int(hour))))
    return out


def _kind_dir(root: str | os.PathLike[str], kind: str) -> Path | None:
    if kind not in _SCHEMAS:
        msg = f"kind must be one of {list(KINDS)}, found {kind!r}"
        raise ConfigError(msg)
    path = Path(root)
    if not path.is_dir():
        msg = (
            f"capture directory {path} does not exist; expected a directory written by "
            "`flowlab collect --out DIR`, `flowlab demo` or `flowlab read FILE --out DIR`"
        )
        raise ConfigError(msg)
    if (path / kind).is_dir():
        return path / kind
    if path.name == kind:
        return path
    if not any(path.iterdir()):
        return None
    found = sorted(p.name for p in path.iterdir())[:5]
    msg = (
        f"{path} is not a capture directory: expected a {kind}/ subdirectory, found {found}; "
        "point at the directory given to `flowlab collect --out`"
    )
    raise ConfigError(msg)


def scan_capture(root: str | os.PathLike[str], *, kind: Kind = "flows") -> pl.LazyFrame:
    """Lazily read a capture directory back as a canonical frame.

    Parameters
    ----------
    root : str or Path
        The directory given to ``flowlab collect --out`` (or its ``flows/`` /
        ``counters/`` subdirectory).
    kind : {"flows", "counters"}
        Which dataset to read.

    Returns
    -------
    polars.LazyFrame
        In the canonical schema (:data:`flowlab.schema.FLOW_SCHEMA` or
        ``COUNTER_SCHEMA``); hive partition directories add no columns; an
        empty capture gives an empty frame. Files still being written
        (hidden temporary names) are never read.

    Raises
    ------
    ConfigError
        If `root` does not exist or is not a capture directory.

    Examples
    --------
    >>> import tempfile
    >>> scan_capture(tempfile.mkdtemp()).collect().height
    0
    """
    directory = _kind_dir(root, kind)
    if directory is None or not any(directory.rglob("*.parquet")):
        return pl.LazyFrame(schema=_SCHEMAS[kind])
    return _scan(str(directory / "**" / "*.parquet"), kind)


def _scan(source: str | list[str], kind: str) -> pl.LazyFrame:
    schema = _SCHEMAS[kind]
    lf = pl.scan_parquet(
        source,
        hive_partitioning=False,
        schema=dict(schema),
        missing_columns="insert",
        extra_columns="ignore",
    )
    return lf.select(list(schema))


def read_capture(
    root: str | os.PathLike[str], *, kind: Kind = "flows", skip_corrupt: bool = False
) -> pl.DataFrame:
    """Eager form of :func:`scan_capture`.

    Parameters
    ----------
    root, kind :
        As for :func:`scan_capture`.
    skip_corrupt : bool
        Read the readable part files and skip corrupt ones, with a
        :class:`~flowlab.exceptions.DataLossWarning` that names and counts
        them (and their rows, where the file's footer still says).

    Raises
    ------
    DecodeError
        If a part file is not readable Parquet (the message names it), unless `skip_corrupt`.

    Examples
    --------
    >>> import tempfile
    >>> read_capture(tempfile.mkdtemp(), kind="counters").columns[:2]
    ['time', 'exporter']
    """
    lf = scan_capture(root, kind=kind)
    try:
        return lf.collect()
    except (pl.exceptions.PolarsError, OSError) as exc:
        failure: Exception = exc
    directory = _kind_dir(root, kind)
    assert directory is not None
    frames, bad = [], []
    files = sorted(directory.rglob("*.parquet"))
    for path in files:
        try:
            frames.append(_scan([str(path)], kind).collect())
        except (pl.exceptions.PolarsError, OSError) as exc:
            bad.append((path, exc))
    if not bad:  # no single file fails: not a corrupt file, report what failed
        msg = f"cannot read the capture {directory}: {type(failure).__name__}: {failure}"
        raise DecodeError(msg) from failure
    path, error = bad[0]
    cause = f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"
    if not skip_corrupt:
        msg = (
            f"{path} is not readable Parquet ({cause}); {len(bad)} of {len(files)} part files "
            "of this capture are corrupt. read_capture(..., skip_corrupt=True) reads the others"
        )
        raise DecodeError(msg) from error
    rows = sum(_footer_rows(p) or 0 for p, _ in bad)
    names = ", ".join(str(p) for p, _ in bad[:5]) + (" ..." if len(bad) > 5 else "")
    warnings.warn(
        f"skipped {len(bad)} corrupt part files of {len(files)} "
        f"({rows:,} rows by their footers; first: {cause}): {names}",
        DataLossWarning,
        stacklevel=2,
    )
    if not frames:
        return pl.DataFrame(schema=_SCHEMAS[kind])
    return pl.concat(frames, how="vertical")


def _footer_rows(path: Path) -> int | None:
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception:  # the footer is corrupt too
        return None
