"""The structural walk of many sFlow v5 datagrams at once (level-synchronous).

Instead of looping over datagrams, samples and records in Python, the walk
handles "the k-th sample of every datagram that has one" (then "the k-th record
of every sample") with array operations, so the number of Python iterations is
the largest count in the batch, not the number of samples.

A datagram is either fully decoded or rejected with one reason. Checks run in
levels, and a datagram gets the reason of the first level that fails; within a
level, the first failing sample/record in wire order decides:

1. datagram header (``outside_buffer``, ``truncated_header``, ``wrong_version``,
   ``unknown_agent_type``, ``implausible_count``);
2. sample framing (``sample_overrun``, ``unaligned_length``);
3. known sample headers (``sample_too_short``, ``implausible_count``);
4. record framing inside known samples (``record_overrun``, ``unaligned_length``);
5. known record bodies (``record_too_short``).

:mod:`flowlab.sflow._reference` implements the same rules one datagram at a
time; the tests check that both agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from flowlab.sflow._buffer import Buffer

__all__ = [
    "COUNTER_MIN_LENGTH",
    "FLOW_MIN_LENGTH",
    "REASONS",
    "SAMPLE_FIXED",
    "Structure",
    "walk",
]

I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]

#: datagram rejection reasons; index 0 means "ok"
REASONS: tuple[str, ...] = (
    "",
    "outside_buffer",
    "truncated_header",
    "wrong_version",
    "unknown_agent_type",
    "implausible_count",
    "sample_overrun",
    "unaligned_length",
    "sample_too_short",
    "record_overrun",
    "record_too_short",
)
OK, OUTSIDE, TRUNCATED, VERSION, AGENT, IMPLAUSIBLE = 0, 1, 2, 3, 4, 5
SAMPLE_OVERRUN, UNALIGNED, SAMPLE_SHORT, RECORD_OVERRUN, RECORD_SHORT = 6, 7, 8, 9, 10

#: fixed part of the known sample formats (enterprise 0), the record count being its last word
SAMPLE_FIXED = {1: 32, 2: 12, 3: 44, 4: 16}
#: minimum body length of the flow/counter records the decoder reads
FLOW_MIN_LENGTH = {1: 16, 3: 32, 4: 56, 1001: 16}
COUNTER_MIN_LENGTH = {1: 88, 2: 52}


@dataclass
class Structure:
    """Where everything is: datagram fields plus sample and record locations.

    Sample and record arrays only cover datagrams that decoded (reason 0), in
    wire order. ``s_kind`` is the sample format for the four known formats
    (enterprise 0), else 0; ``r_smp`` indexes the sample arrays.
    """

    reason: npt.NDArray[np.uint8]
    header_ok: npt.NDArray[np.bool_]
    agent_v6: npt.NDArray[np.bool_]
    agent: U32
    sub_agent: U32
    sequence: U32
    uptime: U32
    s_dg: I64
    s_pos: I64
    s_len: I64
    s_tag: U32
    s_kind: npt.NDArray[np.uint8]
    r_smp: I64
    r_pos: I64
    r_len: I64
    r_tag: U32


def _first_per_group(groups: I64, order_keys: tuple[I64, ...]) -> I64:
    """Positions (into `groups`) of the first element of each group in lexicographic key order."""
    if groups.size == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort(tuple(reversed(order_keys)))
    g = groups[order]
    # stable sort by group keeps key order inside each group
    order2 = np.argsort(g, kind="stable")
    g2 = g[order2]
    first = np.ones(g2.size, dtype=bool)
    first[1:] = g2[1:] != g2[:-1]
    return np.asarray(order[order2][first], dtype=np.int64)


def _fail(reason: npt.NDArray[np.uint8], dg: I64, codes: npt.NDArray[np.uint8], *keys: I64) -> None:
    """Set the reason of each datagram in `dg` to the code of its first failure (by `keys`)."""
    if dg.size == 0:
        return
    pick = _first_per_group(dg, keys)
    target = dg[pick]
    fresh = reason[target] == OK
    reason[target[fresh]] = codes[pick][fresh]


def walk(buf: Buffer, offsets: I64, lengths: I64) -> Structure:
    """Validate and locate every datagram, sample and record of a batch."""
    n = offsets.size
    end = offsets + lengths
    reason = np.zeros(n, dtype=np.uint8)
    outside = (offsets < 0) | (lengths < 0) | (end > buf.size)
    reason[outside] = OUTSIDE
    o = np.where(outside, 0, offsets)
    ln = np.where(outside, 0, lengths)
    end = o + ln

    # 1. datagram header
    version = buf.u32(o)
    atype = buf.u32(o + 4)
    hdr = np.where(atype == 2, 40, 28).astype(np.int64)

    def mark(cond: npt.NDArray[np.bool_], code: int) -> None:
        reason[cond & (reason == OK)] = code

    mark(ln < 4, TRUNCATED)
    mark(version != 5, VERSION)
    mark(ln < 8, TRUNCATED)
    mark((atype != 1) & (atype != 2), AGENT)
    mark(ln < hdr, TRUNCATED)
    agent = buf.u32x(o + 8, 4)
    tail = o + hdr
    sub_agent = buf.u32(tail - 16)
    sequence = buf.u32(tail - 12)
    uptime = buf.u32(tail - 8)
    nsamp = buf.u32(tail - 4).astype(np.int64)
    mark(nsamp > (ln - hdr) // 8, IMPLAUSIBLE)
    header_ok = reason == OK
    agent_v6 = atype == 2
    agent[~agent_v6, 1:] = 0

    # 2. sample framing, one level per sample index k
    counts = np.where(header_ok, nsamp, 0)
    base = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=base[1:])
    total = int(base[-1])
    s_dg = np.zeros(total, dtype=np.int64)
    s_pos = np.zeros(total, dtype=np.int64)
    s_len = np.zeros(total, dtype=np.int64)
    s_tag = np.zeros(total, dtype=np.uint32)
    s_seen = np.zeros(total, dtype=bool)
    cur = tail.copy()
    act = np.flatnonzero(header_ok & (nsamp > 0))
    k = 0
    while act.size:
        c = cur[act]
        e = end[act]
        tag = buf.u32(c)
        sl = buf.u32(c + 4).astype(np.int64)
        over = (c + 8 > e) | (c + 8 + sl > e)
        unal = ~over & (sl % 4 != 0)
        reason[act[over]] = SAMPLE_OVERRUN
        reason[act[unal]] = UNALIGNED
        good = ~(over | unal)
        g = act[good]
        idx = base[g] + k
        s_dg[idx] = g
        s_pos[idx] = c[good] + 8
        s_len[idx] = sl[good]
        s_tag[idx] = tag[good]
        s_seen[idx] = True
        cur[g] = c[good] + 8 + sl[good]
        k += 1
        act = g[nsamp[g] > k]
    keep = s_seen & (reason[s_dg] == OK)
    s_dg, s_pos, s_len, s_tag = s_dg[keep], s_pos[keep], s_len[keep], s_tag[keep]

    # 3. known sample headers
    fmt = s_tag & 0xFFF
    known = ((s_tag >> 12) == 0) & (fmt >= 1) & (fmt <= 4)
    s_kind = np.where(known, fmt, 0).astype(np.uint8)
    fixed = np.zeros(s_tag.size, dtype=np.int64)
    for f, size in SAMPLE_FIXED.items():
        fixed[s_kind == f] = size
    short = known & (s_len < fixed)
    nrec = np.where(known & ~short, buf.u32(s_pos + fixed - 4), 0).astype(np.int64)
    implausible = known & ~short & (nrec > (s_len - fixed) // 8)
    bad = short | implausible
    sidx = np.arange(s_tag.size, dtype=np.int64)
    codes = np.where(short, SAMPLE_SHORT, IMPLAUSIBLE).astype(np.uint8)
    _fail(reason, s_dg[bad], codes[bad], sidx[bad])
    nrec[bad] = 0

    # 4. record framing inside known samples
    rbase = np.zeros(s_tag.size + 1, dtype=np.int64)
    np.cumsum(nrec, out=rbase[1:])
    rtotal = int(rbase[-1])
    r_smp = np.zeros(rtotal, dtype=np.int64)
    r_pos = np.zeros(rtotal, dtype=np.int64)
    r_len = np.zeros(rtotal, dtype=np.int64)
    r_tag = np.zeros(rtotal, dtype=np.uint32)
    r_seen = np.zeros(rtotal, dtype=bool)
    rcur = s_pos + fixed
    rend = s_pos + s_len
    err_s: list[I64] = []
    err_k: list[I64] = []
    err_c: list[npt.NDArray[np.uint8]] = []
    act = np.flatnonzero(nrec > 0)
    k = 0
    while act.size:
        c = rcur[act]
        e = rend[act]
        tag = buf.u32(c)
        rl = buf.u32(c + 4).astype(np.int64)
        over = (c + 8 > e) | (c + 8 + rl > e)
        unal = ~over & (rl % 4 != 0)
        if over.any() or unal.any():
            wrong = over | unal
            err_s.append(act[wrong])
            err_k.append(np.full(int(wrong.sum()), k, dtype=np.int64))
            err_c.append(np.where(over[wrong], RECORD_OVERRUN, UNALIGNED).astype(np.uint8))
        good = ~(over | unal)
        g = act[good]
        idx = rbase[g] + k
        r_smp[idx] = g
        r_pos[idx] = c[good] + 8
        r_len[idx] = rl[good]
        r_tag[idx] = tag[good]
        r_seen[idx] = True
        rcur[g] = c[good] + 8 + rl[good]
        k += 1
        act = g[nrec[g] > k]
    if err_s:
        es = np.concatenate(err_s)
        _fail(reason, s_dg[es], np.concatenate(err_c), es, np.concatenate(err_k))

    # 5. bodies of the records the decoder reads
    keep = r_seen & (reason[s_dg[r_smp]] == OK)
    r_smp, r_pos, r_len, r_tag = r_smp[keep], r_pos[keep], r_len[keep], r_tag[keep]
    rk = s_kind[r_smp]
    flow = (rk == 1) | (rk == 3)
    std = (r_tag >> 12) == 0
    rfmt = (r_tag & 0xFFF).astype(np.int64)
    need = np.zeros(r_tag.size, dtype=np.int64)
    for f, size in FLOW_MIN_LENGTH.items():
        need[std & flow & (rfmt == f)] = size
    for f, size in COUNTER_MIN_LENGTH.items():
        need[std & ~flow & (rfmt == f)] = size
    short = r_len < need
    raw = std & flow & (rfmt == 1) & ~short
    hlen = np.where(raw, buf.u32(r_pos + 12), 0).astype(np.int64)
    short |= raw & (16 + hlen > r_len)
    if short.any():
        ridx = np.flatnonzero(short)
        _fail(
            reason,
            s_dg[r_smp[ridx]],
            np.full(ridx.size, RECORD_SHORT, dtype=np.uint8),
            ridx.astype(np.int64),
        )

    # only what belongs to decoded datagrams leaves the walk
    s_ok = reason[s_dg] == OK
    remap = np.cumsum(s_ok) - 1
    r_ok = s_ok[r_smp]
    return Structure(
        reason=reason,
        header_ok=header_ok,
        agent_v6=agent_v6,
        agent=agent,
        sub_agent=sub_agent,
        sequence=sequence,
        uptime=uptime,
        s_dg=s_dg[s_ok],
        s_pos=s_pos[s_ok],
        s_len=s_len[s_ok],
        s_tag=s_tag[s_ok],
        s_kind=s_kind[s_ok],
        r_smp=remap[r_smp[r_ok]].astype(np.int64),
        r_pos=r_pos[r_ok],
        r_len=r_len[r_ok],
        r_tag=r_tag[r_ok],
    )
