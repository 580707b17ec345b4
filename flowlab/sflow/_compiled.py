"""The sFlow walk and columns from the compiled core (``flowlab._native``, ``native/sflow.c``).

Two calls: ``sflow_scan`` checks every datagram and counts the rows of the accepted ones,
then ``sflow_fill`` writes them into columns allocated here. The rules and results are those
of the pure path (:mod:`flowlab.sflow._walk`, :mod:`flowlab.sflow._fields`): the tests run
both against the reference decoder.
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


def columns(core: ModuleType, data: U8, off: I64, ln: I64) -> Walked:
    """:class:`Walked` of the datagrams ``data[off[i] : off[i] + ln[i]]`` by the compiled core."""
    n = off.size
    data = np.ascontiguousarray(data)
    off = np.ascontiguousarray(off, dtype=np.int64)
    ln = np.ascontiguousarray(ln, dtype=np.int64)
    reason = np.empty(n, dtype=np.uint8)
    header_ok = np.empty(n, dtype=bool)
    agent = np.empty((n, 4), dtype=np.uint32)
    agent_v6 = np.empty(n, dtype=bool)
    sub_agent = np.empty(n, dtype=np.uint32)
    sequence = np.empty(n, dtype=np.uint32)
    nf, nc, nu, ns, kinds = core.sflow_scan(
        data, off, ln, reason, header_ok, agent, agent_v6, sub_agent, sequence
    )
    values = [
        np.empty((nf, 4) if name in ("src6", "dst6") else nf, dtype=FLOW_FIELDS[name])
        for name in _names(core)
    ]
    valid = [np.empty(nf, dtype=bool) for _ in values]
    counters = (
        np.empty(nc, dtype=np.int64),
        np.empty(nc, dtype=np.uint32),
        np.empty(nc, dtype=np.uint32),
        np.empty((nc, GENERIC_WORDS), dtype=np.uint32),
        np.empty(nc, dtype=bool),
        np.empty((nc, ETHERNET_WORDS), dtype=np.uint32),
        np.empty(nc, dtype=bool),
    )
    unknown = np.empty(nu, dtype=np.uint32)
    skipped = np.empty(ns, dtype=np.uint32)
    core.sflow_fill(
        data, off, ln, reason, values, valid, counters, unknown, skipped, (nf, nc, nu, ns)
    )
    return Walked(
        reason=reason,
        header_ok=header_ok,
        agent=agent,
        agent_v6=agent_v6,
        sub_agent=sub_agent,
        sequence=sequence,
        flows=dict(zip(_names(core), zip(values, valid))),
        counters=counter_columns(*counters),
        kinds=np.array(kinds, dtype=np.int64),
        unknown=unknown,
        skipped=skipped,
    )


_NAMES: tuple[str, ...] = ()


def _names(core: ModuleType) -> tuple[str, ...]:
    """The flow columns the core writes, checked once against :data:`FLOW_FIELDS`."""
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
        _NAMES = names
    return _NAMES
