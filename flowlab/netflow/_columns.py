"""Data records of one template, all at once: locate them, then read their fields as columns.

Records of a fixed-length template sit at fixed strides in their sets: their
offsets come from one ``repeat``/``arange``, and each field is one gather of
``length`` byte columns (a 2-D uint8 array) folded into big-endian integers.
Templates with variable-length fields (every Open vSwitch template has
``interfaceName``) are walked record by record, but across all their sets at
once: the k-th record of every set in one step.
"""

from __future__ import annotations

import functools
from collections.abc import Collection

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from flowlab import _accel
from flowlab._arrays import I64, U8, B
from flowlab.netflow import _compiled
from flowlab.netflow.elements import VARIABLE_LENGTH
from flowlab.netflow.templates import Template

__all__ = ["Located", "locate", "read_uint", "read_words"]


class Located:
    """Records of one template: the set each comes from, and its fields' offsets (or values).

    The pure path gives every field's offset (``offset_fields`` None); the compiled core gives
    the integers of the fields asked for (``values``, read as it walks the records) and the
    offsets of the variable-length and longer fields only. :meth:`offsets` and :meth:`value`
    read either. (A plain class, as :class:`flowlab.netflow._walk.Header` says why.)
    """

    __slots__ = ("bad_sets", "offset", "offset_fields", "set_index", "value_fields", "values")

    def __init__(
        self,
        set_index: I64,  # (n,) index into the sets given to locate
        offset: I64,  # (n, fields) byte offset of each field (of its value, after a length prefix)
        bad_sets: B,  # (sets,) a record overran the set: the set (its datagram) is rejected
        values: npt.NDArray[np.uint64] | None = None,  # (value fields, n): a contiguous row each
        offset_fields: dict[int, int] | None = None,  # field -> column of offset (None: the field)
        value_fields: dict[int, int] | None = None,  # field -> row of values
    ) -> None:
        self.set_index, self.offset, self.bad_sets = set_index, offset, bad_sets
        self.values, self.offset_fields = values, offset_fields
        self.value_fields: dict[int, int] = {} if value_fields is None else value_fields

    def offsets(self, j: int) -> I64:
        """The offsets of field `j` (KeyError: the compiled core read its value only)."""
        return self.offset[:, j if self.offset_fields is None else self.offset_fields[j]]

    def value(self, j: int) -> npt.NDArray[np.uint64] | None:
        """The integers of field `j` if read while locating, else None."""
        k = self.value_fields.get(j)
        return None if k is None or self.values is None else self.values[k]


def locate(
    data: U8,
    starts: I64,
    ends: I64,
    template: Template,
    wanted: Collection[tuple[int, int]] = (),
) -> Located:
    """Find every record of the sets ``data[starts[i] : ends[i]]`` of `template`.

    Bytes after the last whole record (fewer than a record) are padding. The compiled core reads
    the integers of the fields of 1-8 bytes whose (enterprise, element) is `wanted` as it walks
    the records, and gives the offsets of the other fields than 1-8 bytes long only.

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
    core = _accel.native()
    if core is not None:
        small = [1 <= f[2] <= 8 for f in template.fields]
        read = [j for j, f in enumerate(template.fields) if small[j] and (f[1], f[0]) in wanted]
        at = [j for j in range(nf) if not small[j]]
        got = _compiled.locate(core, data, starts, ends, lengths, template.record_length, at, read)
        return Located(*got, {j: k for k, j in enumerate(at)}, {j: k for k, j in enumerate(read)})
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
