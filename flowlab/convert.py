"""Convert a capture file of sFlow datagrams into Parquet, CSV or a capture directory.

:func:`convert_pcap` streams the batches of :func:`flowlab.capture.pcap.iter_pcap`
(bounded memory) into the chosen output; what could not be decoded is
counted and reported, never silently dropped. Single-file outputs appear
atomically (:class:`flowlab._atomic.AtomicFile`: written under a temporary name, then renamed).

Output kinds, by the path given:

- ``*.parquet``: one Parquet file in the canonical schema;
- ``*.csv``: CSV with a header row;
- an existing directory or a path without suffix: a capture directory (``flows/`` and ``counters/``
  partitioned by hour, as ``flowlab collect`` writes; read it with
  :func:`flowlab.store.read_capture`).
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from flowlab._atomic import AtomicFile
from flowlab.decoding.stats import DecodeStats
from flowlab.exceptions import ConfigError
from flowlab.schema import empty, empty_counters
from flowlab.store import CaptureWriter

__all__ = ["ConvertReport", "FrameSink", "convert_pcap"]


class FrameSink:
    """Append canonical frames to one ``.parquet`` or ``.csv`` file, made visible on close.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from flowlab.schema import conform
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "flows.csv"
    >>> with FrameSink(path, empty()) as sink:
    ...     sink.write(conform(pl.DataFrame({"src_ip": ["10.0.0.1"]})))
    >>> path.read_text().splitlines()[1].split(",")[2]
    '10.0.0.1'
    """

    def __init__(self, path: Path, template: pl.DataFrame) -> None:
        suffix = path.suffix.lower()
        if suffix not in (".parquet", ".csv"):
            msg = f"output {path} must end in .parquet or .csv (or be a directory)"
            raise ConfigError(msg)
        self.path = path
        self.rows = 0
        self._csv = suffix == ".csv"
        self._out = AtomicFile(path)
        self._template = template
        self._schema: pa.Schema = template.to_arrow().schema
        self._parquet: pq.ParquetWriter | None = None
        if not self._csv:
            self._parquet = self._out.run(
                lambda fh: pq.ParquetWriter(fh, self._schema, compression="zstd")
            )

    def __enter__(self) -> FrameSink:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, frame: pl.DataFrame) -> None:
        """Append rows.

        Raises
        ------
        OutputError
            If the file cannot be written (it is dropped; the message names the cause).
        """
        if frame.height == 0:
            return
        if self._csv:
            self._out.run(lambda fh: frame.write_csv(fh, include_header=self.rows == 0))
        else:
            parquet = self._parquet
            assert parquet is not None
            self._out.run(lambda fh: parquet.write_table(frame.to_arrow().cast(self._schema)))
        self.rows += frame.height

    def close(self) -> None:
        """Finish the file and rename it into place."""
        if self._out.closed:
            return
        if self._csv and self.rows == 0:
            self._out.run(self._template.write_csv)
        parquet = self._parquet
        if parquet is not None:
            self._out.run(lambda fh: parquet.close())
        self._out.commit()
        self._parquet = None

    def abort(self) -> None:
        """Drop the unfinished file."""
        self._parquet = None
        self._out.abort()


@dataclass
class ConvertReport:
    """What :func:`convert_pcap` read, wrote and skipped."""

    source: Path
    out: Path
    counters_out: Path | None
    stats: DecodeStats = field(default_factory=DecodeStats)
    flows: int = 0
    counters: int = 0

    def __str__(self) -> str:
        s = self.stats
        lines = [
            f"read {self.source}: {s.packets:,} packets, {s.datagrams:,} sFlow datagrams "
            f"({s.datagrams_ok:,} decoded, {s.bad:,} bad), {sum(s.samples.values()):,} samples",
            f"wrote {self.flows:,} flows to {self.out}"
            + (
                f" and {self.counters:,} counters to {self.counters_out}"
                if self.counters_out
                else ""
            ),
        ]
        skipped = {
            **{f"packets {k}": v for k, v in s.packets_skipped.items()},
            **{f"bad datagrams {k}": v for k, v in s.datagrams_bad.items()},
        }
        records = Counter({f"{e}:{f}": n for (e, f), n in s.records_skipped.items()})
        if skipped:
            lines.append("skipped: " + ", ".join(f"{k} {v:,}" for k, v in sorted(skipped.items())))
        if records:
            lines.append(
                "records skipped (enterprise:format): "
                + ", ".join(f"{k} x{v:,}" for k, v in sorted(records.items()))
            )
        if s.lost:
            lines.append(f"sequence gaps: {s.lost:,} datagrams missing from the capture")
        return "\n".join(lines)


def convert_pcap(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    counters: str | os.PathLike[str] | None = None,
    port: int | None = None,
    progress: bool = False,
    protocol: str = "sflow",
) -> ConvertReport:
    """Decode a pcap/pcapng file of flow datagrams into `out` (see the module docstring).

    Parameters
    ----------
    source : path
        The capture file.
    out : path
        Flows output (``.parquet``, ``.csv``) or a capture directory (an existing directory or a
        path without suffix; it gets flows and counters).
    counters : path, optional
        Counters output for single-file flows outputs (``.parquet`` or ``.csv``).
    port : int, optional
        UDP port of the datagrams (default: the protocol's, 6343 for sFlow).
    progress : bool
        Show a progress bar.
    protocol : str
        ``"sflow"``, ``"ipfix"``, ``"netflow"`` (both read NetFlow v5/v9 and IPFIX) or ``"auto"``
        (all three, on their usual ports): see :func:`flowlab.decoding.get_decoder`.

    Raises
    ------
    PcapError
        If `source` is not a pcap/pcapng file.
    ConfigError
        For an output path of an unknown kind.
    """
    from flowlab.capture.pcap import iter_pcap

    src, dst = Path(source), Path(out)
    cpath = Path(counters) if counters is not None else None
    report = ConvertReport(src, dst, cpath)
    suffix = dst.suffix.lower()
    as_directory = dst.is_dir() or not suffix
    if not as_directory and suffix not in (".parquet", ".csv"):
        msg = f"output {dst} must end in .parquet or .csv, or be a directory (no suffix)"
        raise ConfigError(msg)
    if as_directory and cpath is not None:
        msg = "--counters is only for .parquet/.csv outputs; a capture directory holds both"
        raise ConfigError(msg)
    batches = iter(iter_pcap(src, port=port, protocol=protocol, progress=progress))
    first = next(batches, None)  # a file that is not a capture fails here, before any output exists
    sinks: list[Any] = []
    try:
        if as_directory:
            writer = CaptureWriter(dst, roll_seconds=1e9)
            sinks.append(writer)
        else:
            flows_sink = FrameSink(dst, empty())
            sinks.append(flows_sink)
            counters_sink = FrameSink(cpath, empty_counters()) if cpath else None
            if counters_sink is not None:
                sinks.append(counters_sink)
        for batch in itertools.chain([first] if first is not None else [], batches):
            report.stats = report.stats.merge(batch.stats)
            report.flows += batch.flows.height
            if as_directory:
                writer.write(flows=batch.flows, counters=batch.counters)
                report.counters += batch.counters.height
            else:
                flows_sink.write(batch.flows)
                if counters_sink is not None:
                    counters_sink.write(batch.counters)
                    report.counters += batch.counters.height
    except BaseException:
        for sink in sinks:
            if isinstance(sink, FrameSink):
                sink.abort()
        raise
    for sink in sinks:
        sink.close()
    return report
