"""The common datagrams, all at once: NetFlow v5, and v9 / IPFIX datagrams of data sets only.

Most datagrams of a stream carry no template: their headers and set bounds
are read here for every datagram of a batch together (the k-th set of every
datagram per step). Whatever this pass does not accept in full (a template
or options-template set, any inconsistency) goes to the per-datagram walk of
:mod:`flowlab.netflow._walk`, which also names the reason of a rejection.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from flowlab import _accel
from flowlab._arrays import I64, B
from flowlab.netflow import _compiled
from flowlab.netflow import records as r
from flowlab.netflow._columns import read_uint

__all__ = ["Prewalk", "prewalk"]

#: sets per datagram the vector pass follows; a datagram with more goes to the per-datagram walk
MAX_SETS = 32


class Prewalk:
    """Per datagram: accepted (``fast``) and the header; per data set: datagram, id, bounds.

    (A plain class, as :class:`flowlab.netflow._walk.Header` says why.)"""

    __slots__ = (
        "domain", "export_ns", "export_s", "fast", "sampling", "sequence", "set_dg", "set_end",
        "set_id", "set_start", "uptime", "version",
    )  # fmt: skip

    def __init__(
        self, fast: B, version: I64, domain: I64, sequence: I64, export_s: I64, export_ns: I64,
        uptime: I64, sampling: I64, set_dg: I64, set_id: I64, set_start: I64, set_end: I64,
    ) -> None:  # fmt: skip
        self.fast, self.version, self.domain, self.sequence = fast, version, domain, sequence
        self.export_s, self.export_ns, self.uptime = export_s, export_ns, uptime
        self.sampling, self.set_dg, self.set_id = sampling, set_dg, set_id
        self.set_start, self.set_end = set_start, set_end


def _u(data: npt.NDArray[np.uint8], pos: I64, size: int) -> I64:
    return read_uint(data, pos, size).astype(np.int64)


def prewalk(data: npt.NDArray[np.uint8], off: I64, ln: I64) -> Prewalk:
    """Read what can be read of every datagram at once (see the module docstring)."""
    core = _accel.native()
    if core is not None:
        fast, columns, bounds = _compiled.prewalk(core, data, off, ln, MAX_SETS)
        return Prewalk(fast, *columns, *bounds)
    n = off.size
    z = np.zeros(n, dtype=np.int64)
    inside = (off >= 0) & (ln >= 24) & (off + ln <= data.size)
    pos = np.where(inside, off, 0)
    version = np.where(inside, _u(data, pos, 2), 0)
    v5 = inside & (version == r.NETFLOW5)
    v9 = inside & (version == r.NETFLOW9)
    v10 = inside & (version == r.IPFIX)
    count = _u(data, pos + 2, 2)
    fast = (
        v5
        & (count >= 1)
        & (count <= r.V5_MAX_COUNT)
        & (r.HEADER[r.NETFLOW5] + count * r.V5_RECORD <= ln)
    )
    head = Prewalk(
        fast, version, z.copy(), z.copy(), z.copy(), z.copy(), z.copy(), z.copy(),
        *(np.zeros(0, dtype=np.int64) for _ in range(4)),
    )  # fmt: skip
    # NetFlow v5: count, uptime, secs, nsecs, sequence, engine type/id, sampling
    head.uptime = np.where(v5, _u(data, pos + 4, 4), np.where(v9, _u(data, pos + 4, 4), 0))
    head.export_s = np.where(v5 | v9, _u(data, pos + 8, 4), np.where(v10, _u(data, pos + 4, 4), 0))
    head.export_ns = np.where(v5, _u(data, pos + 12, 4), 0)
    head.sequence = np.select(
        [v5, v9, v10], [_u(data, pos + 16, 4), _u(data, pos + 12, 4), _u(data, pos + 8, 4)], 0
    )
    head.domain = np.select(
        [v5, v9, v10],
        [(_u(data, pos + 20, 1) << 8) | _u(data, pos + 21, 1), _u(data, pos + 16, 4),
         _u(data, pos + 12, 4)],
        0,
    )  # fmt: skip
    head.sampling = np.where(v5, _u(data, pos + 22, 2), 0)
    # v9 / IPFIX: the sets, the k-th of every datagram per step
    end = np.where(v10, off + count, off + ln)  # IPFIX: the message length field
    ok = (v9 | (v10 & (count >= r.HEADER[r.IPFIX]) & (count <= ln))).copy()
    p = off + np.where(v10, r.HEADER[r.IPFIX], r.HEADER[r.NETFLOW9])
    sets: list[tuple[I64, I64, I64, I64]] = []
    active = np.flatnonzero(ok & (p + r.SET_HEADER <= end))
    for _ in range(MAX_SETS):
        if not active.size:
            break
        q = p[active]
        sid = _u(data, q, 2)
        slen = _u(data, q + 2, 2)
        good = (slen >= r.SET_HEADER) & (q + slen <= end[active]) & (sid >= r.FIRST_DATA_SET)
        ok[active[~good]] = False
        a = active[good]
        sets.append((a, sid[good], q[good] + r.SET_HEADER, q[good] + slen[good]))
        p[a] = q[good] + slen[good]
        active = a[p[a] + r.SET_HEADER <= end[a]]
    ok[active] = False  # more sets than followed
    ok &= np.where(v10, p == end, True)  # IPFIX: the sets fill the message exactly
    head.fast = fast | ok
    if sets:
        dg = np.concatenate([s[0] for s in sets])
        keep = ok[dg]
        order = np.lexsort((np.concatenate([s[2] for s in sets])[keep], dg[keep]))
        head.set_dg = dg[keep][order]
        head.set_id = np.concatenate([s[1] for s in sets])[keep][order]
        head.set_start = np.concatenate([s[2] for s in sets])[keep][order]
        head.set_end = np.concatenate([s[3] for s in sets])[keep][order]
    return head
