"""The sFlow walk and columns from the compiled core (``flowlab._native``, ``native/sflow.c``).

One call, ``sflow_decode``, checks every datagram and writes the rows of the accepted ones
into columns allocated here with room for any batch of that many bytes (numpy's untouched
pages cost no memory). The rules and results are those of the pure path
(:mod:`flowlab.sflow._walk`, :mod:`flowlab.sflow._fields`): the tests run both against the
reference decoder.
"""

from __future__ import annotations

import mmap
from collections.abc import Sequence
from types import ModuleType

import numpy as np

from flowlab._arrays import I64, U8
from flowlab.sflow._columns import (
    ETHERNET_WORDS,
    FLOW_FIELDS,
    GENERIC_WORDS,
    Walked,
    counter_columns,
)

__all__ = ["columns"]

#: fewest bytes a flow sample, a counter row (a counter sample with a generic or ethernet
#: record), an unknown sample and a skipped record take on the wire: the rows' room per byte
_FLOW_BYTES, _COUNTER_BYTES, _ENTRY_BYTES = 40, 80, 8


def columns(core: ModuleType, data: U8, off: I64, ln: I64) -> Walked:
    """:class:`Walked` of the datagrams ``data[off[i] : off[i] + ln[i]]`` by the compiled core."""
    n = off.size
    data = np.ascontiguousarray(data)
    off = np.ascontiguousarray(off, dtype=np.int64)
    ln = np.ascontiguousarray(ln, dtype=np.int64)
    span = int(np.clip(ln, 0, data.size).sum()) if n else 0
    rf, rc, re = span // _FLOW_BYTES + 1, span // _COUNTER_BYTES + 1, span // _ENTRY_BYTES + 1
    reason = np.empty(n, dtype=np.uint8)
    header_ok = np.empty(n, dtype=bool)
    agent = np.empty((n, 4), dtype=np.uint32)
    agent_v6 = np.empty(n, dtype=bool)
    sub_agent = np.empty(n, dtype=np.uint32)
    sequence = np.empty(n, dtype=np.uint32)
    names = _names(core)
    room = _Room(
        [((rf, 4) if n6 else (rf,), FLOW_FIELDS[k]) for k, n6 in names]
        + [((rf,), np.bool_)] * len(names)
        + [((rc,), np.int64), ((rc,), np.uint32), ((rc,), np.uint32)]
        + [((rc, GENERIC_WORDS), np.uint32), ((rc,), np.bool_)]
        + [((rc, ETHERNET_WORDS), np.uint32), ((rc,), np.bool_)]
        + [((re,), np.uint32)] * 2
    )
    arrays = room.arrays
    values, valid = arrays[: len(names)], arrays[len(names) : 2 * len(names)]
    counters, (unknown, skipped) = arrays[2 * len(names) : -2], arrays[-2:]
    nf, nc, nu, ns, kinds = core.sflow_decode(
        data, off, ln, reason, header_ok, agent, agent_v6, sub_agent, sequence,
        values, valid, counters, unknown, skipped,
    )  # fmt: skip
    return Walked(
        reason=reason,
        header_ok=header_ok,
        agent=agent,
        agent_v6=agent_v6,
        sub_agent=sub_agent,
        sequence=sequence,
        flows={k: (v[:nf], ok[:nf]) for (k, _), v, ok in zip(names, values, valid)},
        counters=counter_columns(*(c[:nc] for c in counters)),
        kinds=np.array(kinds, dtype=np.int64),
        unknown=unknown[:nu],
        skipped=skipped[:ns],
    )


class _Room:
    """Output arrays carved from one anonymous mapping: the rows' room for a worst-case batch
    costs address space only, as pages are backed when first written (numpy's own large
    arrays would ask for transparent huge pages, backed 2 MiB at a time)."""

    def __init__(self, specs: Sequence[tuple[tuple[int, ...], type]]) -> None:
        sizes = [int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in specs]
        starts = np.concatenate([[0], np.cumsum([(size + 63) & ~63 for size in sizes])])
        self._map = mmap.mmap(-1, max(int(starts[-1]), 1))
        base = np.frombuffer(self._map, dtype=np.uint8)
        self.arrays: list[np.ndarray] = [
            base[int(a) : int(a) + size].view(dtype).reshape(shape)
            for (shape, dtype), a, size in zip(specs, starts, sizes)
        ]


_NAMES: tuple[tuple[str, bool], ...] = ()


def _names(core: ModuleType) -> tuple[tuple[str, bool], ...]:
    """The flow columns the core writes (and whether each is an IPv6 address: four words),
    checked once against :data:`FLOW_FIELDS`."""
    global _NAMES
    if not _NAMES:
        layout = core.sflow_columns()
        names = tuple(name for name, _ in layout)
        if names != tuple(FLOW_FIELDS):
            msg = f"flowlab._native writes {names}, the decoder expects {tuple(FLOW_FIELDS)}"
            raise ImportError(msg)
        for name, size in layout:
            width = 4 if name in ("src6", "dst6") else 1
            if np.dtype(FLOW_FIELDS[name]).itemsize * width != size:
                msg = f"flowlab._native writes {size} bytes per {name}"
                raise ImportError(msg)
        _NAMES = tuple((name, name in ("src6", "dst6")) for name in names)
    return _NAMES
