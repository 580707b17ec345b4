"""Datagrams of template sets only, seen before: told apart byte for byte, all at once.

Exporters re-send the same templates again and again (Open vSwitch: 88 of them every
600 s, in some twenty datagrams). A datagram of template sets only, alike byte for byte
(the header's time and sequence left out) to one already walked, holds the same templates;
while those are the ones in force it changes nothing, and the decoder counts it without a
walk (:func:`classes` groups a batch's datagrams, :func:`recall` gives what one held).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from flowlab import _accel
from flowlab._arrays import I64
from flowlab.netflow import _compiled
from flowlab.netflow import records as r
from flowlab.netflow.templates import Template, TemplateCache

__all__ = ["classes", "in_force", "known_serial", "recall", "remember"]

Sets = list[list[Template]]

#: template-only datagrams walked, by their bytes: each set's templates (bounded: cleared when full)
_KNOWN: dict[bytes, Sets] = {}
_MAX = 1024
_serial = [0]


def known_serial() -> int:
    """Bumped whenever a datagram is remembered (what :func:`recall` answers may have changed)."""
    return _serial[0]


def _key(raw: memoryview, pos: int, length: int, version: int) -> bytes | None:
    head = r.HEADER.get(version)
    if head is None or length < head or pos < 0 or pos + length > len(raw):
        return None
    return bytes(raw[pos : pos + 4]) + bytes(raw[pos + head : pos + length])


def remember(raw: memoryview, pos: int, length: int, version: int, sets: Sets) -> None:
    """Keep the template sets of a datagram of template sets only, by its bytes."""
    key = _key(raw, pos, length, version)
    if key is not None and sets and key not in _KNOWN:
        if len(_KNOWN) >= _MAX:
            _KNOWN.clear()
        _KNOWN[key] = sets
        _serial[0] += 1


def recall(raw: memoryview, pos: int, length: int, version: int) -> Sets | None:
    """The template sets of a datagram seen before with these bytes, else None."""
    if version not in (r.NETFLOW9, r.IPFIX):
        return None
    key = _key(raw, pos, length, version)
    return None if key is None else _KNOWN.get(key)


def in_force(cache: TemplateCache, exporter: str, domain: int, templates: list[Template]) -> bool:
    """Whether a template set's templates are the very ones in force, none waited for."""
    if cache.pending or not templates:
        return False
    kinds = {bool(t.scope_count) for t in templates}
    got = cache.templates.get
    return len(kinds) == 1 and all(got((exporter, domain, t.id)) is t for t in templates)


def classes(
    data: npt.NDArray[np.uint8],
    off: I64,
    ln: I64,
    version: I64,
    domain: I64,
    exporter: I64,
    which: I64,
) -> tuple[I64, list[int]]:
    """Datagrams `which` (v9/IPFIX) in classes alike byte for byte, of the same exporter and domain.

    Returns each one's class (-1: not a v9/IPFIX datagram inside the buffer) and, per class,
    its first datagram (the compiled core numbers the classes in another order: any order
    serves).

    Examples
    --------
    >>> import numpy as np
    >>> d = np.frombuffer(bytes(b"\\x00\\x0a\\x00\\x14" + bytes(16)) * 2, dtype=np.uint8)
    >>> two = np.array([0, 20]); same = np.array([20, 20]); zero = np.zeros(2, dtype=np.int64)
    >>> cls, reps = classes(d, two, same, np.array([10, 10]), zero, zero, np.array([0, 1]))
    >>> cls.tolist(), reps
    ([0, 0], [0])
    """
    core = _accel.native()
    if core is not None:
        return _compiled.classes(core, data, off, ln, version, domain, exporter, which)
    cls = np.full(which.size, -1, dtype=np.int64)
    reps: list[int] = []
    o, m, v = off[which], ln[which], version[which]
    head = np.where(v == r.IPFIX, r.HEADER[r.IPFIX], r.HEADER[r.NETFLOW9])
    ok = ((v == r.IPFIX) | (v == r.NETFLOW9)) & (o >= 0) & (m >= head) & (o + m <= data.size)
    at = np.flatnonzero(ok)
    if not at.size:
        return cls, reps
    keys = np.stack([m[at], v[at], domain[which][at], exporter[which][at]], axis=1)
    _, bucket = np.unique(_rows(keys), return_inverse=True)
    for b in range(int(bucket.max()) + 1):
        rows = at[bucket == b]
        first = int(rows[0])
        length = int(m[first])
        windows = as_strided(data, shape=(data.size - length + 1, length), strides=(1, 1))
        body = windows[o[rows]]  # (rows, length) copies of the datagrams
        body[:, 4 : int(head[first])] = 0  # the header's time, sequence and domain left out
        _, index, inverse = np.unique(_rows(body), return_index=True, return_inverse=True)
        cls[rows] = len(reps) + inverse
        reps += which[rows[index]].tolist()
    return cls, reps


def _rows(matrix: np.ndarray) -> np.ndarray:
    """Each row of a 2-D array as one opaque value (compared and sorted as bytes)."""
    matrix = np.ascontiguousarray(matrix)
    return matrix.view(np.dtype((np.void, matrix.shape[1] * matrix.itemsize))).reshape(-1)
