"""Data records of a batch, all at once: locate them, then read their fields as columns.

:func:`records` gives the records of every data set of a batch, whatever its template, in the
sets' order, with the fields asked for as rows of one value matrix and one offset matrix: the
compiled core walks them in one pass (``native/netflow.c``), the pure path locates the records
of each template (:func:`locate`) and puts their fields in place.

Records of a fixed-length template sit at fixed strides in their sets: their
offsets come from one ``repeat``/``arange``, and each field is one gather of
``length`` byte columns (a 2-D uint8 array) folded into big-endian integers.
Templates with variable-length fields (every Open vSwitch template has
``interfaceName``) are walked record by record, but across all their sets at
once: the k-th record of every set in one step.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from flowlab import _accel
from flowlab._arrays import I64, U8, B
from flowlab.netflow import _compiled
from flowlab.netflow.elements import VARIABLE_LENGTH
from flowlab.netflow.templates import Template

__all__ = ["Located", "Records", "locate", "read_uint", "read_words", "records"]


class Located:
    """Records of one template: the set each comes from, and its fields' offsets. (A plain class,
    as :class:`flowlab.netflow._walk.Header` says why.)"""

    __slots__ = ("bad_sets", "offset", "set_index")

    def __init__(self, set_index: I64, offset: I64, bad_sets: B) -> None:
        self.set_index = set_index  # (n,) index into the sets given to locate
        self.offset = offset  # (n, fields) byte offset of each field (of its value, after a prefix)
        self.bad_sets = bad_sets  # (sets,) a record overran the set: the set is rejected

    def offsets(self, j: int) -> I64:
        """The offsets of field `j`."""
        return self.offset[:, j]


class Records:
    """The records of a batch's data sets (:func:`records`), in the sets' order.

    ``set_index`` (n,): each record's set; ``values`` (V, n): row c the integers of the fields
    given column c; ``offsets`` (O, n): row c the offsets of the fields given column V + c (0
    where a record's template has no such field); ``bad_sets`` (sets,): a record overran the set.
    """

    __slots__ = ("bad_sets", "offsets", "set_index", "values")

    def __init__(
        self, set_index: I64, values: npt.NDArray[np.uint64], offsets: I64, bad_sets: B
    ) -> None:
        self.set_index, self.values, self.offsets, self.bad_sets = (
            set_index, values, offsets, bad_sets,
        )  # fmt: skip


def records(
    data: U8,
    starts: I64,
    ends: I64,
    set_template: I64,
    templates: list[Template],
    columns: list[list[int]],
    values: int,
    offsets: int,
) -> Records:
    """The records of the sets ``data[starts[i] : ends[i]]``, set i of ``templates[set_template[i]]``,
    in set order, then record order.

    ``columns[t][j]`` says where field j of template t goes: -1 nowhere, c < `values` its
    big-endian integer (a field of 1-8 bytes) into row c of the value matrix, ``values + c`` its
    offset into row c of the offset matrix. Bytes after a set's last whole record are padding; a
    record that overruns its set ends the set and marks it bad.

    Examples
    --------
    >>> import numpy as np
    >>> a = Template(256, ((8, 0, 4), (7, 0, 2)))  # an IPv4 address and a port
    >>> b = Template(257, ((7, 0, 2),))
    >>> data = np.array([10, 0, 0, 1, 0, 80, 1, 187, 10, 0, 0, 2, 0, 53], dtype=np.uint8)
    >>> got = records(data, np.array([0, 6, 8]), np.array([6, 8, 14]), np.array([0, 1, 0]),
    ...               [a, b], [[0, 1], [1]], 2, 0)
    >>> got.set_index.tolist(), got.values.tolist()
    ([0, 1, 2], [[167772161, 0, 167772162], [80, 443, 53]])
    """
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    set_template = np.ascontiguousarray(set_template, dtype=np.int64)
    core = _accel.native()
    if core is not None:
        lengths = [f[2] for t in templates for f in t.fields]
        bounds = np.cumsum([0] + [len(t.fields) for t in templates])
        minimum = np.array([max(t.record_length, 1) for t in templates], dtype=np.int64)
        got = _compiled.records(
            core, data, starts, ends, set_template, bounds, lengths,
            [c for cols in columns for c in cols], values, offsets, minimum,
        )  # fmt: skip
        return Records(*got)
    parts: list[tuple[I64, int, Located]] = []  # (the sets' indexes, template, records)
    bad = np.zeros(starts.size, dtype=bool)
    for t, template in enumerate(templates):
        sel = np.flatnonzero(set_template == t)
        if sel.size:
            loc = locate(data, starts[sel], ends[sel], template)
            bad[sel] = loc.bad_sets
            parts.append((sel[loc.set_index], t, loc))
    which = [p[0] for p in parts]
    set_index = np.concatenate(which) if which else np.zeros(0, dtype=np.int64)
    order = np.argsort(set_index, kind="stable")  # a set's records are one template's, in order
    place = np.empty(set_index.size, dtype=np.int64)
    place[order] = np.arange(set_index.size, dtype=np.int64)
    vals = np.zeros((values, set_index.size), dtype=np.uint64)
    offs = np.zeros((offsets, set_index.size), dtype=np.int64)
    start = 0
    for sets, t, loc in parts:
        rows = place[start : start + sets.size]
        start += sets.size
        for j, c in enumerate(columns[t]):
            if 0 <= c < values:
                vals[c, rows] = read_uint(data, loc.offsets(j), templates[t].fields[j][2])
            elif c >= values:
                offs[c - values, rows] = loc.offsets(j)
    return Records(set_index[order], vals, offs, bad)


def locate(data: U8, starts: I64, ends: I64, template: Template) -> Located:
    """Find every record of the sets ``data[starts[i] : ends[i]]`` of `template` (the pure path of
    :func:`records`).

    Bytes after the last whole record (fewer than a record) are padding.

    Examples
    --------
    >>> import numpy as np
    >>> t = Template(256, ((8, 0, 4), (27, 0, 16)))  # an IPv4 and an IPv6 address
    >>> data = np.arange(60, dtype=np.uint8)
    >>> loc = locate(data, np.array([0, 40]), np.array([40, 60]), t)
    >>> loc.set_index.tolist(), loc.offsets(1).tolist()
    ([0, 0, 1], [4, 24, 44])
    """
    lengths = np.array([f[2] for f in template.fields], dtype=np.int64)
    nf = lengths.size
    if not template.variable:
        size = int(lengths.sum())
        counts = (ends - starts) // size
        set_index = np.repeat(np.arange(starts.size, dtype=np.int64), counts)
        first = np.cumsum(counts) - counts
        within = np.arange(set_index.size, dtype=np.int64) - first[set_index]
        rec = starts[set_index] + within * size
        field_off = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        return Located(
            set_index, rec[:, None] + field_off[None, :], np.zeros(starts.size, dtype=bool)
        )
    minimum = template.record_length
    cursor = starts.copy()
    bad = np.zeros(starts.size, dtype=bool)
    top = max(data.size - 1, 0)
    parts: list[tuple[I64, I64]] = []
    runs, var, segment, within = _segments(template)
    alive = np.flatnonzero(cursor + minimum <= ends)
    while alive.size:
        if alive.size <= _FEW:  # few sets left (one long set): a plain loop beats numpy calls
            parts.append(_walk_few(data, cursor, ends, alive, template, bad))
            break
        pos = cursor[alive]
        end = ends[alive]
        over = np.zeros(alive.size, dtype=bool)
        starts_of = [
            pos
        ]  # where each run of fixed fields starts: the record, then after each value
        var_off = np.empty((alive.size, var.size), dtype=np.int64)
        for k in range(var.size):
            pos = pos + runs[k]
            first = data[np.minimum(pos, top)].astype(np.int64)
            wide = first == 255
            second = read_uint(data, np.minimum(pos + 1, top), 2).astype(np.int64)
            head = np.where(wide, 3, 1)
            over |= pos + head > end
            var_off[:, k] = pos + head
            pos = var_off[:, k] + np.where(wide, second, first)
            starts_of.append(pos)
        pos = pos + runs[var.size]
        over |= pos > end
        off = np.stack(starts_of, axis=1)[:, segment]
        off += within
        off[:, var] = var_off
        if over.any():
            bad[alive[over]] = True
            ok = ~over
            parts.append((alive[ok], off[ok]))
            cursor[alive] = pos
            alive = alive[ok]
        else:  # the usual step: no copies of the (records, fields) matrices
            parts.append((alive, off))
            cursor[alive] = pos
        alive = alive[cursor[alive] + minimum <= ends[alive]]
    if not parts:
        return Located(np.zeros(0, dtype=np.int64), np.zeros((0, nf), dtype=np.int64), bad)
    if len(parts) == 1:  # one record per set (OVS): already in set order
        return Located(*parts[0], bad)
    set_index = np.concatenate([p[0] for p in parts])
    order = np.argsort(set_index, kind="stable")  # records in set order, then record order
    return Located(
        set_index[order],
        np.concatenate([p[1] for p in parts])[order],
        bad,
    )


@functools.lru_cache(maxsize=1024)
def _segments(template: Template) -> tuple[list[int], I64, I64, I64]:
    """A variable-length template as runs of fixed fields between its variable ones.

    Returns the byte length of each run (one more than the variable fields), the variable
    fields' indexes, and for every field the run it belongs to and its offset in that run.
    """
    runs: list[int] = [0]
    var: list[int] = []
    segment: list[int] = []
    within: list[int] = []
    for j, (_, _, length) in enumerate(template.fields):
        segment.append(len(var))
        within.append(runs[-1])
        if length == VARIABLE_LENGTH:
            var.append(j)
            runs.append(0)
        else:
            runs[-1] += length
    return runs, np.array(var, dtype=np.int64), np.array(segment), np.array(within)


#: below this many sets in a variable-length walk, records are located by a Python loop
_FEW = 4


def _walk_few(
    data: U8, cursor: I64, ends: I64, alive: I64, template: Template, bad: B
) -> tuple[I64, I64]:
    """Locate the remaining records of a few sets one by one (same rules as the vector walk)."""
    raw = data.tobytes() if data.size < (1 << 16) else memoryview(data.data)
    lengths = [f[2] for f in template.fields]
    minimum = template.record_length
    sets: list[int] = []
    offs: list[list[int]] = []
    for k in alive.tolist():
        pos, end = int(cursor[k]), int(ends[k])
        while pos + minimum <= end:
            o: list[int] = []
            for length in lengths:
                if length == VARIABLE_LENGTH:
                    if pos >= end:
                        pos = end + 1
                        break
                    length = raw[pos]
                    pos += 1
                    if length == 255:
                        if pos + 2 > end:
                            pos = end + 1
                            break
                        length = (raw[pos] << 8) | raw[pos + 1]
                        pos += 2
                o.append(pos)
                pos += length
            if pos > end:
                bad[k] = True
                break
            sets.append(k)
            offs.append(o)
    nf = len(lengths)
    return (
        np.asarray(sets, dtype=np.int64),
        np.asarray(offs, dtype=np.int64).reshape(-1, nf),
    )


def read_uint(data: U8, offset: I64, length: int) -> npt.NDArray[np.uint64]:
    """Big-endian unsigned integers of `length` (1-8) bytes at each offset (clipped to the buffer).

    Examples
    --------
    >>> import numpy as np
    >>> read_uint(np.array([1, 2, 3, 4], dtype=np.uint8), np.array([0, 2]), 2).tolist()
    [258, 772]
    """
    if not offset.size or not data.size:
        return np.zeros(offset.size, dtype=np.uint64)
    core = _accel.native()
    if core is not None and 1 <= length <= 8:
        got = _compiled.read_uint(core, data, offset, length)
        if got is not None:
            return got
    low, high = int(offset.min()), int(offset.max())
    inside = low >= 0 and high + length <= data.size
    word = 8 if length > 4 else 4
    if low >= 0 and high + word <= data.size and length >= 4:
        # one gather of big-endian words through an unaligned view of the buffer (2-3x cheaper
        # than a gather per byte or of byte rows); 5-7 bytes: the word's leading bytes
        words = np.ndarray((data.size - word + 1,), f">u{word}", data, strides=(1,))[offset]
        value = words.astype(np.uint64)
        return value >> np.uint64(8 * (word - length)) if length < word else value
    if inside and length <= 4:  # a gather per byte, folded in place
        acc = data[offset].astype(np.uint32)
        for k in range(1, length):
            acc <<= np.uint32(8)
            acc |= data[offset + k]
        return acc.astype(np.uint64)
    if inside:  # every row's bytes at once from a sliding window over the buffer
        windows = as_strided(data, shape=(data.size - length + 1, length), strides=(1, 1))
        cols = windows[offset]
    else:
        idx = np.minimum(offset[:, None] + np.arange(length, dtype=np.int64), data.size - 1)
        cols = data[idx]  # (n, length) bytes, clipped to the buffer
    if length in (1, 2, 4, 8):
        return cols.view(f">u{length}")[:, 0].astype(np.uint64)
    wide = np.zeros((offset.size, 8), dtype=np.uint8)
    wide[:, 8 - length :] = cols
    return wide.view(">u8")[:, 0].astype(np.uint64)


def read_words(data: U8, offset: I64) -> npt.NDArray[np.uint32]:
    """16-byte values (IPv6 addresses) at each offset as 4 big-endian 32-bit words per row."""
    if not offset.size or not data.size:
        return np.zeros((offset.size, 4), dtype=np.uint32)
    idx = np.minimum(offset[:, None] + np.arange(16, dtype=np.int64)[None, :], data.size - 1)
    return np.ascontiguousarray(data[idx]).view(">u4").astype(np.uint32).reshape(-1, 4)
