"""Tables for people and for files: readable display in notebooks, CSV/Parquet/JSON files.

The analysis functions (:mod:`flowlab.analysis`) return plain Polars frames;
:func:`show` wraps one for display, and :func:`readable` turns it into text
columns a person reads at a glance:

- names first (``talker``/``client``/``server``/..., then namespace, workload, ...),
  volumes after;
- bytes as ``1.5 MiB`` and, when the window is known, the rate over it as
  ``bits/s`` (``12.3 kbit/s``);
- protocol numbers as names (``TCP``), lists as ``a, b``, times as
  ``2025-01-06 09:00:12 UTC``, counts with thousands separators;
- every row: a table of 247 rows says "247 rows" and shows 247, in a
  scrollable box (HTML) or in full (text, up to `limit`).

CSV has no lists or time zones: :func:`plain` turns list columns into
comma-separated text and datetimes into ISO 8601 UTC strings, the form
spreadsheets and Vega-Lite read as they are. Parquet keeps the real dtypes.

Examples
--------
>>> import polars as pl
>>> plain(pl.DataFrame({"services": [["dns", "https"]]}))["services"].to_list()
['dns, https']
>>> t = show(pl.DataFrame({"bytes": [3_000_000], "server": ["10.0.0.1"], "protocol": [6]}), seconds=60)
>>> t.frame.row(0)
('10.0.0.1', 'TCP', '2.9 MiB', '400.0 kbit/s')
>>> t
1 row
server    protocol  bytes    bits/s
10.0.0.1  TCP       2.9 MiB  400.0 kbit/s
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from flowlab.exceptions import ConfigError

__all__ = [
    "Table",
    "human_bytes",
    "human_rate",
    "human_time",
    "human_window",
    "plain",
    "readable",
    "show",
    "write_table",
]

#: columns holding byte totals (shown human, with a rate when the window is known)
BYTE_COLUMNS = ("bytes", "bytes_sent", "bytes_received", "bytes_in", "bytes_out")
#: name-like columns, in the order they come first in a readable table
NAME_COLUMNS = (
    "talker",
    "client",
    "server",
    "peer",
    "node",
    "source",
    "target",
    "service",
    "service_name",
    "server_port_name",
    "port_names",
    "namespace",
    "workload",
    "pod",
    "kind",
    "role",
    "protocol",
    "protocols",
    "ports",
    "services",
)


def plain(frame: pl.DataFrame) -> pl.DataFrame:
    """Lists -> comma text, datetimes -> ISO 8601 UTC text, categoricals -> text."""
    out = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.List):
            out.append(col.cast(pl.List(pl.String)).list.join(", "))
        elif isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                col = col.dt.convert_time_zone("UTC")
            out.append(col.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"))
        elif isinstance(dtype, (pl.Categorical, pl.Enum)):
            out.append(col.cast(pl.String))
        else:
            out.append(col)
    return frame.select(out)


def write_table(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write `frame` by suffix: ``.csv`` (flattened by :func:`plain`), ``.parquet``, ``.json``.

    Raises
    ------
    ConfigError
        For another suffix.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        plain(frame).write_csv(p)
    elif suffix == ".parquet":
        frame.write_parquet(p)
    elif suffix == ".json":
        plain(frame).write_json(p)
    else:
        msg = f"cannot write a table as {suffix!r}; use .csv, .parquet or .json"
        raise ConfigError(msg)
    return p


def human_bytes(n: float | None) -> str:
    """``1536`` -> ``'1.5 KiB'`` (binary units).

    Examples
    --------
    >>> human_bytes(1536), human_bytes(3 * 2**30), human_bytes(None)
    ('1.5 KiB', '3.0 GiB', '')
    """
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"  # pragma: no cover


def human_rate(bits_per_second: float | None) -> str:
    """``12_300`` -> ``'12.3 kbit/s'`` (SI units, as link speeds are given).

    Examples
    --------
    >>> human_rate(950), human_rate(12_300), human_rate(2.5e9)
    ('950 bit/s', '12.3 kbit/s', '2.5 Gbit/s')
    """
    if bits_per_second is None:
        return ""
    value = float(bits_per_second)
    for unit in ("bit/s", "kbit/s", "Mbit/s", "Gbit/s"):
        if abs(value) < 1000 or unit == "Gbit/s":
            return f"{value:.0f} {unit}" if unit == "bit/s" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} Tbit/s"  # pragma: no cover


def human_time(value: dt.datetime | None) -> str:
    """A time as a person reads it: ``2025-01-06 09:00:12 UTC`` (milliseconds when there are some).

    Examples
    --------
    >>> human_time(dt.datetime(2025, 1, 6, 9, 0, 12, tzinfo=dt.timezone.utc))
    '2025-01-06 09:00:12 UTC'
    >>> human_time(dt.datetime(2025, 1, 6, 9, 0, 12, 250000))
    '2025-01-06 09:00:12.250 UTC'
    """
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc)
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text + " UTC"


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def human_window(start: dt.datetime | None, end: dt.datetime | None) -> str:
    """``2025-01-06 09:00:00 → 10:00:00 UTC (60 min)``; the date is repeated only when it changes.

    Examples
    --------
    >>> utc = dt.timezone.utc
    >>> human_window(dt.datetime(2025, 1, 6, 9, tzinfo=utc), dt.datetime(2025, 1, 6, 10, tzinfo=utc))
    '2025-01-06 09:00:00 → 10:00:00 UTC (60 min)'
    >>> human_window(None, None)
    'no time window'
    """
    if start is None or end is None:
        return human_time(start or end) or "no time window"
    first, last = human_time(start)[:-4], human_time(end)[:-4]
    if first[:10] == last[:10]:
        last = last[11:]
    return f"{first} → {last} UTC ({_span((end - start).total_seconds())})"


def _seconds(window: Any) -> float | None:
    if window is None:
        return None
    if isinstance(window, (int, float)):
        return float(window) if window > 0 else None
    if isinstance(window, dt.timedelta):
        return window.total_seconds() or None
    start, end = window
    if start is None or end is None:
        return None
    return (end - start).total_seconds() or None


def readable(
    frame: pl.DataFrame,
    *,
    window: tuple[dt.datetime | None, dt.datetime | None] | dt.timedelta | float | None = None,
    seconds: float | None = None,
) -> pl.DataFrame:
    """`frame` as text columns for people (see the module docstring).

    Parameters
    ----------
    frame : polars.DataFrame
        Any analysis result.
    window, seconds : optional
        The time the volumes were counted over (``(start, end)``, a timedelta
        or seconds, e.g. ``ds.window``): adds ``bits/s`` after each byte column.
    """
    from flowlab.services import PROTOCOL_NAMES

    secs = seconds if seconds is not None else _seconds(window)
    names = [c for c in NAME_COLUMNS if c in frame.columns]
    rest = [c for c in frame.columns if c not in names]
    out: list[pl.Expr] = []
    for name in [*names, *rest]:
        dtype = frame.schema[name]
        col = pl.col(name)
        if name in ("protocol", "protocols") and (
            dtype.is_integer() or (isinstance(dtype, pl.List) and dtype.inner.is_integer())
        ):
            mapping = {k: v for k, v in PROTOCOL_NAMES.items()}
            as_name = pl.element().replace_strict(mapping, default=pl.element().cast(pl.String))
            col = (
                col.list.eval(as_name)
                if isinstance(dtype, pl.List)
                else col.replace_strict(
                    mapping, default=col.cast(pl.String), return_dtype=pl.String
                )
            )
            dtype = pl.List(pl.String) if isinstance(dtype, pl.List) else pl.String()
        if name in BYTE_COLUMNS and dtype.is_numeric():
            out.append(col.map_elements(human_bytes, return_dtype=pl.String).alias(name))
            if secs:
                rate = (col.cast(pl.Float64) * 8 / secs).map_elements(
                    human_rate, return_dtype=pl.String
                )
                label = "bits/s" if name == "bytes" else f"{name} bits/s"
                out.append(rate.alias(label))
        elif isinstance(dtype, pl.List):
            out.append(col.cast(pl.List(pl.String)).list.join(", ").alias(name))
        elif isinstance(dtype, pl.Datetime):
            out.append(col.map_elements(human_time, return_dtype=pl.String).alias(name))
        elif dtype.is_integer() and name not in ("port", "service_port", "src_port", "dst_port"):
            out.append(col.map_elements(lambda v: f"{v:,}", return_dtype=pl.String).alias(name))
        elif isinstance(dtype, (pl.Categorical, pl.Enum)):
            out.append(col.cast(pl.String))
        else:
            out.append(col)
    return frame.select(out) if out else frame


class Table:
    """A frame shown for people: every row, readable columns, a row count (see :func:`show`).

    Attributes
    ----------
    frame : polars.DataFrame
        The readable (text) frame that is displayed.
    data : polars.DataFrame
        The frame it was made from (real dtypes).
    caption : str
        Title line above the table.
    """

    def __init__(self, data: pl.DataFrame, frame: pl.DataFrame, caption: str, limit: int) -> None:
        self.data, self.frame, self.caption, self.limit = data, frame, caption, limit

    def _head(self) -> str:
        n = self.data.height
        count = f"{n:,} row" + ("" if n == 1 else "s")
        shown = f" (showing the first {self.limit:,})" if n > self.limit else ""
        return f"{self.caption}: {count}{shown}" if self.caption else count + shown

    def __repr__(self) -> str:
        rows = self.frame.head(self.limit)
        widths = [
            max([len(c), *(len(str(v)) for v in rows[c].fill_null("").to_list())])
            for c in rows.columns
        ]
        lines = ["  ".join(c.ljust(w) for c, w in zip(rows.columns, widths)).rstrip()]
        for row in rows.iter_rows():
            cells = ("" if v is None else str(v) for v in row)
            lines.append("  ".join(v.ljust(w) for v, w in zip(cells, widths)).rstrip())
        return "\n".join([self._head(), *lines])

    def _repr_html_(self) -> str:
        rows = self.frame.head(self.limit)
        numeric = {c for c in self.data.columns if self.data.schema[c].is_numeric()}
        numeric |= {c for c in rows.columns if c.endswith("bits/s")}

        def cell(tag: str, value: Any, column: str) -> str:
            style = ' style="text-align:right"' if column in numeric else ""
            text = "" if value is None else html.escape(str(value))
            return f"<{tag}{style}>{text}</{tag}>"

        head = "".join(cell("th", c, c) for c in rows.columns)
        body = "".join(
            "<tr>" + "".join(cell("td", v, c) for c, v in zip(rows.columns, row)) + "</tr>"
            for row in rows.iter_rows()
        )
        return (
            f'<div class="flowlab-table"><p><b>{html.escape(self._head())}</b></p>'
            '<div style="max-height:28em;overflow:auto">'
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div></div>"
        )


def show(
    frame: pl.DataFrame,
    caption: str = "",
    *,
    window: tuple[dt.datetime | None, dt.datetime | None] | dt.timedelta | float | None = None,
    seconds: float | None = None,
    columns: Sequence[str] | None = None,
    limit: int = 10_000,
) -> Table:
    """Wrap `frame` for display in a notebook (HTML) or a terminal (text): see :func:`readable`.

    Parameters
    ----------
    frame : polars.DataFrame
        An analysis result (it is not changed; the analysis functions keep returning frames).
    caption : str
        Shown before the row count (``"top servers: 12 rows"``).
    window, seconds : optional
        The time the volumes were counted over, for the ``bits/s`` columns
        (``window=ds.window``).
    columns : sequence of str, optional
        Only these columns.
    limit : int
        Rows rendered at most (the count above the table always tells the truth).
    """
    if columns is not None:
        frame = frame.select(columns)
    return Table(frame, readable(frame, window=window, seconds=seconds), caption, limit)
