"""NumPy columns as Polars Series, nulls included, in one step.

With the compiled core (:mod:`flowlab._accel`), a column crosses through the Arrow C data
interface: its values and a validity bitmap made from the mask, in one copy, and no
numpy-to-Polars conversion runs (Polars' imports ``numpy.ma``, 15 ms, on its first use).
Without it, ``pl.Series`` takes the array and the mask sets the nulls.

>>> import numpy as np
>>> series(np.array([3, 4, 5], dtype=np.uint16), np.array([True, False, True])).to_list()
[3, None, 5]
>>> series(np.array([1_700_000_000_000]), time_ms=True, name="time").dtype
Datetime(time_unit='ms', time_zone='UTC')
"""

from __future__ import annotations

import numpy as np
import polars as pl

from flowlab import _accel, schema
from flowlab._arrays import B

__all__ = ["addresses", "series", "texts"]

#: Arrow C data interface format of each NumPy dtype the bridge takes
_FORMATS = {
    "|b1": "b",
    "|i1": "c",
    "|u1": "C",
    "<i2": "s",
    "<u2": "S",
    "<i4": "i",
    "<u4": "I",
    "<i8": "l",
    "<u8": "L",
    "<f4": "f",
    "<f8": "g",
}
_TIME_MS = "tsm:UTC"  # Arrow's timestamp[ms, UTC]: flowlab.schema.TIME


class _Column:
    """One column offered through the Arrow PyCapsule protocol (``__arrow_c_array__``), made by
    the core's `maker` (``arrow_column``, ``arrow_texts``) from `args`."""

    __slots__ = ("_args", "_maker")

    def __init__(self, maker: str, *args: object) -> None:
        self._maker, self._args = maker, args

    def __arrow_c_array__(self, requested_schema: object = None) -> tuple[object, object]:
        core = _accel.native()
        assert core is not None  # made only when the core is there
        made: tuple[object, object] = getattr(core, self._maker)(*self._args)
        return made


def series(
    values: np.ndarray, valid: B | None = None, *, name: str = "", time_ms: bool = False
) -> pl.Series:
    """`values` as a Series, null where `valid` is False; ``time_ms``: epoch milliseconds as
    the canonical time (:data:`flowlab.schema.TIME`)."""
    fmt = _FORMATS.get(values.dtype.str)
    if time_ms:
        fmt = _TIME_MS if values.dtype.str == "<i8" else None
    if valid is not None and bool(valid.all()):
        valid = None
    if _accel.native() is not None and fmt is not None and values.ndim == 1:
        mask = None if valid is None else np.ascontiguousarray(valid, dtype=bool)
        values = np.ascontiguousarray(values)
        return pl.Series(_Column("arrow_column", name, values, fmt, mask, values.shape[0]))
    out = pl.Series(name, values)
    if time_ms:
        out = out.cast(schema.TIME)
    if valid is None:
        return out
    return out.set(pl.Series(~valid), None)  # nulls by mask: no masked array, no index list


#: what :func:`texts` formats: the core's kind of each
_TEXT_KINDS = {"ipv4": 4, "mac": 48, "ipv6": 6, "ipv6, mapped dotted": 66}


def texts(values: np.ndarray, kind: str, valid: B | None = None) -> pl.Series | None:
    """The canonical texts of addresses as a String Series, written by the compiled core: IPv4
    addresses (uint32) as dotted quads, MACs (uint64) in lower-case colon form, IPv6 addresses
    (four uint32 words a row, the most significant first) as :mod:`ipaddress` writes them (its
    IPv4-mapped ones as hextets, or dotted for ``"ipv6, mapped dotted"``); null where `valid` is
    False. None without the core.

    >>> out = texts(np.array([0x0A000001], dtype=np.uint32), "ipv4")
    >>> out is None or out.to_list() == ["10.0.0.1"]
    True
    """
    if _accel.native() is None:
        return None
    dtype = np.uint64 if kind == "mac" else np.uint32
    values = np.ascontiguousarray(values, dtype=dtype)
    mask = None if valid is None else np.ascontiguousarray(valid, dtype=bool)
    return pl.Series(_Column("arrow_texts", "", _TEXT_KINDS[kind], values, mask, values.shape[0]))


def addresses(
    v4: np.ndarray, v4_ok: B, v6: np.ndarray, v6_ok: B, ipv6: str = "ipv6"
) -> pl.Series | None:
    """Each row's address as its canonical text, written by the compiled core: the IPv4 one
    (uint32) where `v4_ok`, else the IPv6 one (four uint32 words a row; `v6` may have no rows
    when no `v6_ok` is set) where `v6_ok`, else null; `ipv6` as for :func:`texts`. None without
    the core.

    >>> out = addresses(np.array([0x0A000001, 0], dtype=np.uint32), np.array([True, False]),
    ...                 np.zeros((0, 4), dtype=np.uint32), np.array([False, False]))
    >>> out is None or out.to_list() == ["10.0.0.1", None]
    True
    """
    if _accel.native() is None:
        return None
    v4 = np.ascontiguousarray(v4, dtype=np.uint32)
    return pl.Series(_Column(
        "arrow_addresses", "", v4, np.ascontiguousarray(v4_ok, dtype=bool),
        np.ascontiguousarray(v6, dtype=np.uint32), np.ascontiguousarray(v6_ok, dtype=bool),
        v4.shape[0], _TEXT_KINDS[ipv6],
    ))  # fmt: skip
