"""The Parquet capture store: hour-partitioned flow and counter files, written atomically.

A *capture directory* holds what a collector (or the demo, or ``flowlab read``)
received, one Parquet dataset per frame kind::

    DIR/flows/date=2025-01-06/hour=09/part-20250106T091502-1a2b3c-00001.parquet
    DIR/counters/date=2025-01-06/hour=09/part-...parquet

Every file follows the canonical schema (:mod:`flowlab.schema`); the
partition is the UTC date and hour of the rows' ``time``. Files appear
**atomically**: each is written to a hidden temporary name in its final
directory, flushed to disk (``fsync``) and renamed (``os.replace``), so a
reader never sees a half-written file under a ``part-*.parquet`` name.

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

import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from flowlab.exceptions import CollectorError, ConfigError
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
    """

    files: int = 0
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    bytes: int = 0
    pending_rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    pending_bytes: int = 0


@dataclass
class _Partition:
    kind: str
    date: str
    hour: int
    frames: list[pl.DataFrame] = field(default_factory=list)
    rows: int = 0
    size: int = 0
    opened: float = 0.0


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
    clock : callable
        Monotonic clock for the time-based roll (tests may pass their own).

    Notes
    -----
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
        """Buffer rows (canonical frames); returns the part files this call completed."""
        if self._closed:
            msg = "this CaptureWriter is closed; open a new one to write more"
            raise CollectorError(msg)
        written: list[Path] = []
        for kind, frame in (("flows", flows), ("counters", counters)):
            if frame is None or frame.height == 0:
                continue
            (validate if kind == "flows" else validate_counters)(frame)
            for part_frame, (date, hour) in _split_by_hour(frame):
                with self._lock:
                    part = self._parts.get((kind, date, hour))
                    if part is None:
                        part = _Partition(kind, date, hour, opened=self._clock())
                        self._parts[(kind, date, hour)] = part
                    size = int(part_frame.estimated_size())
                    part.frames.append(part_frame)
                    part.rows += part_frame.height
                    part.size += size
                    self.stats.pending_rows[kind] += part_frame.height
                    self.stats.pending_bytes += size
                    if part.size >= self.roll_bytes:
                        written.append(self._write_partition(part))
        written.extend(self.roll())
        return written

    def roll(self, *, now: float | None = None) -> list[Path]:
        """Write every partition whose buffer is older than ``roll_seconds``."""
        t = self._clock() if now is None else now
        with self._lock:
            due = [p for p in self._parts.values() if t - p.opened >= self.roll_seconds]
            return [self._write_partition(p) for p in due]

    def flush(self) -> list[Path]:
        """Write every buffered row now."""
        with self._lock:
            return [self._write_partition(p) for p in list(self._parts.values())]

    def close(self) -> None:
        """Flush and refuse further writes (idempotent)."""
        if not self._closed:
            self.flush()
            self._closed = True

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

    def _write_partition(self, part: _Partition) -> Path:
        frame = pl.concat(part.frames, how="vertical", rechunk=True)
        first = frame["time"].min()
        stamp = first.strftime("%Y%m%dT%H%M%S") if first is not None else "unknown"  # type: ignore[union-attr]
        self._seq += 1
        directory = self.root / part.kind / f"date={part.date}" / f"hour={part.hour:02d}"
        name = f"part-{stamp}-{self._id}-{self._seq:05d}.parquet"
        final = directory / name
        tmp = directory / f".{name}.tmp"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                frame.write_parquet(fh, compression=self.compression, statistics=True)  # type: ignore[arg-type]
                fh.flush()
                os.fsync(fh.fileno())
            size = tmp.stat().st_size
            os.replace(tmp, final)
            _fsync_dir(directory)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            msg = (
                f"cannot write {final}: {exc.strerror or exc}; "
                f"{part.rows} rows of {part.kind} stay unwritten (free space or fix permissions)"
            )
            raise CollectorError(msg) from exc
        del self._parts[(part.kind, part.date, part.hour)]
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


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
    if not any(p for p in path.iterdir() if not p.name.startswith(".")):
        return None  # (hidden files: the collector's saved decoder state)
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
    schema = _SCHEMAS[kind]
    if directory is None or not any(directory.rglob("*.parquet")):
        return pl.LazyFrame(schema=schema)
    lf = pl.scan_parquet(
        str(directory / "**" / "*.parquet"),
        hive_partitioning=False,
        schema=dict(schema),
        missing_columns="insert",
        extra_columns="ignore",
    )
    return lf.select(list(schema))


def read_capture(root: str | os.PathLike[str], *, kind: Kind = "flows") -> pl.DataFrame:
    """Eager form of :func:`scan_capture`.

    Examples
    --------
    >>> import tempfile
    >>> read_capture(tempfile.mkdtemp(), kind="counters").columns[:2]
    ['time', 'exporter']
    """
    return scan_capture(root, kind=kind).collect()
