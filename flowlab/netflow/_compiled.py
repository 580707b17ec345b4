"""NetFlow / IPFIX from the compiled core (``flowlab._native``, ``native/netflow.c``).

:func:`prewalk` reads the datagrams' headers and data sets, :func:`classes` groups those of
template sets alike byte for byte, :func:`locate` finds the records of
a template's data sets (and reads their integer fields), :func:`read_uint` gathers a field's
integers, in C, into numpy arrays allocated here; the rules and results are those of the pure
path (:func:`flowlab.netflow._prewalk.prewalk`, :func:`flowlab.netflow._known.classes`,
:func:`flowlab.netflow._columns.locate`,
:func:`~flowlab.netflow._columns.read_uint`), which the tests run side by side.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import numpy.typing as npt

from flowlab._arrays import I64, U8

__all__ = ["classes", "locate", "prewalk", "read_uint"]


def prewalk(
    core: ModuleType, data: U8, off: I64, ln: I64, max_sets: int
) -> tuple[npt.NDArray[np.bool_], list[I64], list[I64]]:
    """Per datagram: taken whole, and (version, domain, sequence, export_s, export_ns, uptime,
    sampling); per data set: (datagram, id, start, end). The core follows at most `max_sets`
    sets a datagram (:data:`flowlab.netflow._prewalk.MAX_SETS`, which ``native/netflow.c``
    names too)."""
    n = off.size
    off = np.ascontiguousarray(off, dtype=np.int64)
    ln = np.ascontiguousarray(ln, dtype=np.int64)
    span = int(np.clip(ln, 0, None).sum()) if n else 0
    room = min(max_sets * n, span // 4) + 1  # a set takes at least its 4-byte header
    fast = np.empty(n, dtype=bool)
    head = [np.empty(n, dtype=np.int64) for _ in range(7)]
    sets = [np.empty(room, dtype=np.int64) for _ in range(4)]
    count = core.netflow_prewalk(np.ascontiguousarray(data), off, ln, fast, *head, *sets)
    return fast, head, [s[:count] for s in sets]


def classes(
    core: ModuleType,
    data: U8,
    off: I64,
    ln: I64,
    version: I64,
    domain: I64,
    exporter: I64,
    which: I64,
) -> tuple[I64, list[int]]:
    """Each datagram of `which` in its class (-1: none), and each class's first datagram."""

    def i64(a: np.ndarray) -> I64:
        return np.ascontiguousarray(a, dtype=np.int64)

    which = i64(which)
    cls = np.empty(which.size, dtype=np.int64)
    reps = np.empty(which.size, dtype=np.int64)
    count = core.netflow_classes(
        np.ascontiguousarray(data), i64(off), i64(ln), i64(version), i64(domain), i64(exporter),
        which, cls, reps,
    )  # fmt: skip
    return cls, reps[:count].tolist()


def locate(
    core: ModuleType,
    data: U8,
    starts: I64,
    ends: I64,
    lengths: I64,
    minimum: int,
    offset_fields: list[int],
    value_fields: list[int],
) -> tuple[I64, I64, npt.NDArray[np.bool_], npt.NDArray[np.uint64]]:
    """(set index, offsets, bad sets, values) of the records of the sets ``data[starts:ends]`` of
    a template of field `lengths` (at least `minimum` bytes a record): the offsets of the fields
    `offset_fields`, the big-endian integers of the fields `value_fields` (1-8 bytes each), a
    row of `values` per field."""
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    span = int(np.clip(ends - starts, 0, None).sum()) if starts.size else 0
    room = span // max(minimum, 1) + 1
    set_index = np.empty(room, dtype=np.int64)
    offset = np.empty((room, len(offset_fields)), dtype=np.int64)
    values = np.empty((len(value_fields), room), dtype=np.uint64)  # a contiguous row per field
    bad = np.empty(starts.size, dtype=bool)
    count = core.netflow_locate(
        np.ascontiguousarray(data), starts, ends, np.ascontiguousarray(lengths, dtype=np.int64),
        set_index, offset, bad, values, np.asarray(offset_fields, dtype=np.int64),
        np.asarray(value_fields, dtype=np.int64),
    )  # fmt: skip
    return set_index[:count], offset[:count], bad, values[:, :count]


def read_uint(
    core: ModuleType, data: U8, offset: I64, length: int
) -> npt.NDArray[np.uint64] | None:
    """Big-endian integers of `length` (1-8) bytes at each offset, or None if an offset's bytes
    are not all inside `data` (the pure path's clipping rule then applies)."""
    if offset.dtype != np.int64 or offset.ndim != 1 or not data.flags.c_contiguous:
        offset = np.asarray(offset, dtype=np.int64).reshape(-1)
        data = np.ascontiguousarray(data)
    out = np.empty(offset.size, dtype=np.uint64)
    return out if core.netflow_uint(data, offset, length, out) else None
