"""The sFlow walk and columns from the compiled core (``flowlab._native``, ``native/sflow.c``).

One call, ``sflow_decode``, checks every datagram and writes the rows of the accepted ones
into columns allocated here with room for any batch of that many bytes (numpy's untouched
pages cost no memory). The rules and results are those of the pure path
(:mod:`flowlab.sflow._walk`, :mod:`flowlab.sflow._fields`): the tests run both against the
reference decoder.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from flowlab._arrays import I64, U8
from flowlab.sflow._fields import (
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
    values: list[np.ndarray] = [
        np.empty((rf, 4) if n6 else rf, dtype=FLOW_FIELDS[k]) for k, n6 in names
    ]
    valid = [np.empty(rf, dtype=bool) for _ in values]
    counters: list[np.ndarray] = [
        np.empty(rc, dtype=np.int64),
        np.empty(rc, dtype=np.uint32),
        np.empty(rc, dtype=np.uint32),
        np.empty((rc, GENERIC_WORDS), dtype=np.uint32),
        np.empty(rc, dtype=bool),
        np.empty((rc, ETHERNET_WORDS), dtype=np.uint32),
        np.empty(rc, dtype=bool),
    ]
    unknown = np.empty(re, dtype=np.uint32)
    skipped = np.empty(re, dtype=np.uint32)
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
