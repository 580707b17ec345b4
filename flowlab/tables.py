"""Write analysis tables to files people open elsewhere (CSV, Parquet, JSON).

CSV has no lists or time zones: :func:`plain` turns list columns into
comma-separated text and datetimes into ISO 8601 UTC strings, the form
spreadsheets and Vega-Lite read as they are. Parquet keeps the real dtypes.

Examples
--------
>>> import polars as pl
>>> plain(pl.DataFrame({"services": [["dns", "https"]]}))["services"].to_list()
['dns, https']
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from flowlab.exceptions import ConfigError

__all__ = ["plain", "write_table"]


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
