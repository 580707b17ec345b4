"""NetFlow / IPFIX from the compiled core (``flowlab._native``, ``native/netflow.c``).

:func:`prewalk` reads the datagrams' headers and data sets, :func:`classes` groups those of
template sets alike byte for byte, :func:`records` finds the records of a batch's data sets of
all templates (and reads their fields as columns), :func:`read_uint` gathers a field's
integers, in C, into numpy arrays allocated here (those of :func:`prewalk` and
:func:`records`, the largest, from the thread's pools, :mod:`flowlab._pool`: a batch's are
copied into its frame); the rules and results are those of the pure
path (:func:`flowlab.netflow._prewalk.prewalk`, :func:`flowlab.netflow._known.classes`,
:func:`flowlab.netflow._columns.records`,
:func:`~flowlab.netflow._columns.read_uint`), which the tests run side by side.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import numpy.typing as npt

from flowlab._arrays import I64, U8
from flowlab._pool import pool_of

__all__ = ["classes", "prewalk", "read_uint", "records"]


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
    pool = pool_of("netflow.prewalk")  # alive with the batch's records: a pool of its own
    fast = pool.take((n,), np.bool_)
    head = [pool.take((n,), np.int64) for _ in range(7)]
    sets = [pool.take((room,), np.int64, sparse=True) for _ in range(4)]  # room: 32 sets each
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


def records(
    core: ModuleType,
    data: U8,
    starts: I64,
    ends: I64,
    set_template: I64,
    template_fields: np.ndarray,
    lengths: list[int],
    columns: list[int],
    values: int,
    offsets: int,
    minimum: I64,
) -> tuple[I64, npt.NDArray[np.uint64], I64, npt.NDArray[np.bool_]]:
    """(set index, values, offsets, bad sets) of the records of the sets ``data[starts:ends]``,
    set i of template ``set_template[i]``, whose fields are
    ``lengths[template_fields[t] : template_fields[t + 1]]`` going to ``columns`` (see
    :func:`flowlab.netflow._columns.records`); `minimum`: each template's least record length."""
    spans = np.clip(ends - starts, 0, None) if starts.size else starts
    room = int((spans // minimum[set_template]).sum()) + 1 if starts.size else 1
    pool = pool_of("netflow")  # reused from batch to batch: only the pages written are backed
    set_index = pool.take((room,), np.int64)
    vals = pool.take((values, room), np.uint64)  # a contiguous row per column
    offs = pool.take((offsets, room), np.int64)
    bad = pool.take((starts.size,), np.bool_)
    count = core.netflow_records(
        np.ascontiguousarray(data), starts, ends, set_template,
        np.ascontiguousarray(template_fields, dtype=np.int64), np.asarray(lengths, dtype=np.int64),
        np.asarray(columns, dtype=np.int64), set_index, vals, offs, bad,
    )  # fmt: skip
    return set_index[:count], vals[:, :count], offs[:, :count], bad


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
