"""The sFlow walk and columns from the compiled core (``flowlab._native``, ``native/sflow.c``).

One call, ``sflow_decode``, checks every datagram and writes the rows of the accepted ones
into columns allocated here: room for the densest batch's rows so far, reused from batch to
batch, else for the rows the first pass counted (:func:`columns`). The rules and results are
those of the pure path (:mod:`flowlab.sflow._walk`, :mod:`flowlab.sflow._fields`): the tests
run both against the reference decoder.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from flowlab._arrays import I64, U8
from flowlab._pool import pool_of
from flowlab.sflow._columns import (
    BARE_FIELDS,
    BARE_OPTIONAL,
    ETHERNET_WORDS,
    FLOW_FIELDS,
    GENERIC_WORDS,
    PACKET_FIELDS,
    Walked,
    counter_columns,
)

__all__ = ["columns"]

#: rows per byte of a batch, worst case: a flow sample takes at least 40 bytes on the wire (a
#: bare one, without records; with a packet field, 72), a counter row (a counter sample with a
#: generic or ethernet record) 80, an unknown sample or a skipped record 8
_WORST = (1 / 72, 1 / 40, 1 / 80, 1 / 8, 1 / 8)
#: rows per byte the first try makes room for (flows, bare flows, counters, unknown samples,
#: skipped records): then 1.25 times the densest batch's so far, so that batches of mixed density are
#: not walked twice. A room costs address space only: the arrays are views of buffers kept
#: from batch to batch, and only the pages rows are written to are backed (Open vSwitch sends
#: a flow sample per ~200 bytes)
_guess = [1 / 100, 1 / 1000, 1 / 1000, 1 / 1000, 1 / 100]
_MARGIN = 1.25


def columns(core: ModuleType, data: U8, off: I64, ln: I64) -> Walked:
    """:class:`Walked` of the datagrams ``data[off[i] : off[i] + ln[i]]`` by the compiled core.

    The outputs get room for the densest batch's rows so far (numpy arrays reused from batch
    to batch); a denser batch is walked on, counting its rows, and decoded again with room
    for them.
    """
    n = off.size
    data = np.ascontiguousarray(data)
    off = np.ascontiguousarray(off, dtype=np.int64)
    ln = np.ascontiguousarray(ln, dtype=np.int64)
    span = int(np.clip(ln, 0, data.size).sum()) if n else 0
    pool = pool_of("sflow")
    per_datagram = (
        pool.take((n,), np.uint8),
        pool.take((n,), np.bool_),
        pool.take((n, 4), np.uint32),
        pool.take((n,), np.bool_),
        pool.take((n,), np.uint32),
        pool.take((n,), np.uint32),
    )
    names = _names(core)
    take = pool.take
    room = [int(span * rate) + 16 for rate in _guess]
    for _ in range(2):  # room for the usual density; else for the rows the first pass counted
        rf, rb, rc, ru, rs = room
        values = [take((rf, 4) if n6 else (rf,), FLOW_FIELDS[k]) for k, n6 in names]
        valid = [take((rf,), np.bool_) for _ in names]
        bare = [take((rb,), FLOW_FIELDS[k]) for k in BARE_FIELDS]
        bare_valid = [take((rb,), np.bool_) for _ in BARE_OPTIONAL]
        counters = [take((rc,), t) for t in (np.int64, np.uint32, np.uint32)]
        counters += [take((rc, GENERIC_WORDS), np.uint32), take((rc,), np.bool_)]
        counters += [take((rc, ETHERNET_WORDS), np.uint32), take((rc,), np.bool_)]
        unknown, skipped = take((ru,), np.uint32), take((rs,), np.uint32)
        got = core.sflow_decode(
            data, off, ln, *per_datagram, values, valid, bare, bare_valid, counters, unknown,
            skipped,
        )  # fmt: skip
        if len(got) == 6:
            break
        room = [max(need, have) for need, have in zip(got, room)]
        pool.start(len(per_datagram))  # the same buffers, grown where needed
    else:  # pragma: no cover - the second try has room for every row the first one counted
        raise RuntimeError("flowlab._native: sflow_decode wanted more room than it counted")
    nf, nb, nc, nu, ns, kinds = got
    if span:  # the next batch's first try: room for the densest batch's rows, and a margin
        for i, rows in enumerate((nf, nb, nc, nu, ns)):
            _guess[i] = min(max(_MARGIN * rows / span, _guess[i]), _WORST[i])
    every = pool.take((nb,), np.bool_)
    every.fill(True)
    optional = dict(zip(BARE_OPTIONAL, bare_valid))
    return Walked(
        *per_datagram,
        flows={k: (v[:nf], ok[:nf]) for (k, _), v, ok in zip(names, values, valid)},
        bare={k: (v[:nb], optional.get(k, every)[:nb]) for k, v in zip(BARE_FIELDS, bare)},
        counters=counter_columns(*(c[:nc] for c in counters)),
        kinds=np.array(kinds, dtype=np.int64),
        unknown=unknown[:nu],
        skipped=skipped[:ns],
    )


_NAMES: tuple[tuple[str, bool], ...] = ()


def _names(core: ModuleType) -> tuple[tuple[str, bool], ...]:
    """The flow columns the core writes (and whether each is an IPv6 address: four words),
    checked once against :data:`FLOW_FIELDS`, and its bare rows against :data:`BARE_FIELDS`."""
    global _NAMES
    if not _NAMES:
        layout, bare, optional, packet = core.sflow_columns()
        names = tuple(name for name, _ in layout)
        if names != tuple(FLOW_FIELDS):
            msg = f"flowlab._native writes {names}, the decoder expects {tuple(FLOW_FIELDS)}"
            raise ImportError(msg)
        if (bare, optional, packet) != (BARE_FIELDS, BARE_OPTIONAL, PACKET_FIELDS):
            msg = f"flowlab._native writes bare rows of {bare} ({optional} optional; packet fields {packet})"
            raise ImportError(msg)
        for name, size in layout:
            width = 4 if name in ("src6", "dst6") else 1
            if np.dtype(FLOW_FIELDS[name]).itemsize * width != size:
                msg = f"flowlab._native writes {size} bytes per {name}"
                raise ImportError(msg)
        _NAMES = tuple((name, name in ("src6", "dst6")) for name in names)
    return _NAMES
