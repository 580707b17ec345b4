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

:mod:`tests.sflow.reference` implements the same rules one datagram at a
time; the tests check that both agree.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from flowlab._arrays import I64, U32
from flowlab.sflow import _spec as r
from flowlab.sflow._buffer import Buffer
from flowlab.sflow._columns import REASONS

__all__ = [
    "MAX_RECORDS",
    "MAX_SAMPLES",
    "REASONS",
    "Structure",
    "walk",
]


OK, OUTSIDE, TRUNCATED, VERSION, AGENT, IMPLAUSIBLE = 0, 1, 2, 3, 4, 5
SAMPLE_OVERRUN, UNALIGNED, SAMPLE_SHORT, RECORD_OVERRUN, RECORD_SHORT = 6, 7, 8, 9, 10

#: most samples a datagram may hold, and records a sample: more is ``implausible_count`` (a real
#: datagram fits in 64 KiB and a real sample needs tens of bytes; goflow2 caps records likewise)
MAX_SAMPLES = 1024
MAX_RECORDS = 256
#: the level loops hand the datagrams (samples) still walking to :func:`_chains` when fewer
#: than ``_TAIL`` remain, or after ``_DEEP`` levels when that is estimated cheaper, so that a
#: deep datagram costs per byte, not one array step of the batch per level
_TAIL = 64
_DEEP = 16
#: at most this many entries left are framed by a plain loop (:func:`_tail`): cheaper than the
#: fixed cost of :func:`_chains` for the few entries small batches end with
_FEW = 256
#: cost model (seconds) of one level step (fixed, per item) and of one chain grid step per doubling
_LEVEL_COST, _ITEM_COST, _GRID_COST = 25e-6, 20e-9, 6e-9

_KINDS = (r.SAMPLE_FLOW, r.SAMPLE_COUNTERS, r.SAMPLE_FLOW_EXPANDED, r.SAMPLE_COUNTERS_EXPANDED)
assert _KINDS == (
    1,
    2,
    3,
    4,
)  # the sample tag (enterprise 0) is its kind: s_kind indexes _FIXED_LUT
_FIXED_LUT = np.array([0, *(r.SAMPLE_FIXED_LENGTH[k] for k in _KINDS)], dtype=np.int64)
_MIN_LUT = np.zeros(2 * 4096, dtype=np.int64)  # [counter formats | flow formats]
for _f, _size in r.COUNTER_RECORD_LENGTH.items():
    _MIN_LUT[_f] = _size
for _f, _size in r.FLOW_RECORD_LENGTH.items():
    _MIN_LUT[4096 + _f] = _size


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


class _Level(NamedTuple):
    """One level of (tag, length, body) entries: samples in datagrams, records in samples.

    Item ``i`` has ``counts[i]`` entries that end by ``end[i]``; entry ``j``
    goes to ``pos`` (body start), ``length`` and ``tag`` at ``base[i] + j``.
    """

    counts: I64
    base: I64
    end: I64
    pos: I64
    length: I64
    tag: U32


def _frames(buf: Buffer, lv: _Level, cur: I64) -> tuple[I64, I64, npt.NDArray[np.uint8]]:
    """Frame the entries of `lv`, which start at ``cur[i]`` (overwritten), one entry index at a time.

    Returns the items that failed, the index of the entry that failed and
    its code (SAMPLE_OVERRUN or UNALIGNED): at most one per item, whose
    later entries stay unframed.
    """
    counts, base, end, pos, length, tag = lv
    n = counts.size
    err_i: list[I64] = []
    err_k: list[I64] = []
    err_c: list[npt.NDArray[np.uint8]] = []
    act = np.flatnonzero(counts)
    k = 0
    while act.size:
        if act.size < _TAIL or (k == _DEEP and _chains_cheaper(lv, act, k, cur)):
            few = int((counts[act] - k).sum()) <= _FEW
            wrong, at, codes = (_tail if few else _chains)(buf, lv, act, k, cur)
            err_i.append(wrong)
            err_k.append(at)
            err_c.append(codes)
            break
        whole = act.size == n  # every item still has entries (the usual case): no gathers
        c = cur if whole else cur[act]
        w = buf.u32x(c, 2)
        t, ln = w[:, 0], w[:, 1].astype(np.int64)
        nxt = c + 8 + ln
        over = nxt > (end if whole else end[act])
        unal = (ln & 3) != 0
        if over.any() or unal.any():
            bad = over | unal
            err_i.append(act[bad])
            err_k.append(np.full(int(bad.sum()), k, dtype=np.int64))
            err_c.append(np.where(over[bad], SAMPLE_OVERRUN, UNALIGNED).astype(np.uint8))
            good = ~bad
            act, c, t, ln, nxt = act[good], c[good], t[good], ln[good], nxt[good]
            whole = False
        idx = (base[:-1] if whole else base[act]) + k
        pos[idx] = c + 8
        length[idx] = ln
        tag[idx] = t
        if whole:
            cur = nxt
        else:
            cur[act] = nxt
        k += 1
        act = act[counts[act] > k]
    if not err_i:
        none = np.zeros(0, dtype=np.int64)
        return none, none, np.zeros(0, dtype=np.uint8)
    return np.concatenate(err_i), np.concatenate(err_k), np.concatenate(err_c)


def _tail(
    buf: Buffer, lv: _Level, act: I64, k: int, cur: I64
) -> tuple[I64, I64, npt.NDArray[np.uint8]]:
    """:func:`_frames` for a few entries (at most ``_FEW``), one item and entry at a time.

    Returns the items that failed, the index of their failing entry and its code.
    """
    counts, base, end, pos, length, tag = lv
    data = buf.data
    unpack = struct.Struct(">II").unpack_from
    wrong: list[int] = []
    at: list[int] = []
    codes: list[int] = []
    for i in act.tolist():
        c, e, b = int(cur[i]), int(end[i]), int(base[i])
        view = data[c:e].tobytes()
        p = 0
        size = e - c
        for j in range(k, int(counts[i])):
            if p + 8 > size:
                code = SAMPLE_OVERRUN
            else:
                t, n = unpack(view, p)
                code = SAMPLE_OVERRUN if p + 8 + n > size else (UNALIGNED if n & 3 else OK)
            if code:
                wrong.append(i)
                at.append(j)
                codes.append(code)
                break
            pos[b + j], length[b + j], tag[b + j] = c + p + 8, n, t
            p += 8 + n
    return (
        np.array(wrong, dtype=np.int64),
        np.array(at, dtype=np.int64),
        np.array(codes, dtype=np.uint8),
    )


def _chains_cheaper(lv: _Level, act: I64, k: int, cur: I64) -> bool:
    """Whether :func:`_chains` is estimated cheaper than the levels still to walk."""
    left = int(lv.counts[act].max()) - k
    steps = int((np.maximum(lv.end[act] - cur[act], 0) // 4 + 1).sum())
    levels = left * (_LEVEL_COST + _ITEM_COST * act.size)
    return _GRID_COST * steps * max(1, left.bit_length()) < levels


def _chains(
    buf: Buffer, lv: _Level, act: I64, k: int, cur: I64
) -> tuple[I64, I64, npt.NDArray[np.uint8]]:
    """:func:`_frames` for items `act` from entry `k` on, along each item's chain of entries.

    Every 4-byte step of an item's remaining bytes is read as a possible entry
    (the chain stays on that grid while lengths are multiples of 4), linked to
    the step after it, and the links are doubled (``next^2``, ``next^4``, ...)
    so that the chains come out in ``log2(entries)`` array steps: the work is
    proportional to the bytes, however many entries an item has. Items go in
    groups of at most ``_GRID`` steps (and entries), deepest first, to bound
    the memory. Returns the items that failed, the index of their failing
    entry and its code.
    """
    counts, end = lv.counts, lv.end
    need = counts[act] - k
    steps = np.maximum(end[act] - cur[act], 0) // 4 + 1
    order = np.argsort(-need, kind="stable")
    out: list[tuple[I64, I64, npt.NDArray[np.uint8]]] = []
    i = 0
    while i < order.size:
        rest = order[i:]
        fits = int(np.searchsorted(np.cumsum(steps[rest]), _GRID, side="right"))
        take = max(1, min(fits, _GRID // int(need[rest[0]])))
        out.append(_chain_group(buf, lv, act[rest[:take]], k, cur))
        i += take
    return tuple(np.concatenate(parts) for parts in zip(*out))  # type: ignore[return-value]


#: most grid steps (and chain entries) :func:`_chains` handles in one group
_GRID = 1 << 20


def _chain_group(
    buf: Buffer, lv: _Level, act: I64, k: int, cur: I64
) -> tuple[I64, I64, npt.NDArray[np.uint8]]:
    counts, base, end, pos, length, tag = lv
    start, stop, need = cur[act], end[act], counts[act] - k
    steps = np.maximum(stop - start, 0) // 4 + 1  # grid positions of each item, its end included
    first = np.zeros(act.size + 1, dtype=np.int64)
    np.cumsum(steps, out=first[1:])
    total = int(first[-1])
    grid = np.arange(total, dtype=np.int64)
    at = np.repeat(start - 4 * first[:-1], steps) + 4 * grid
    w = buf.u32x(at, 2)
    ln = w[:, 1].astype(np.int64)
    over = at + 8 + ln > np.repeat(stop, steps)
    ok = ~over & ((ln & 3) == 0)
    # a good entry links to the step after its body (same item); a bad one to the sink
    link = np.empty(total + 1, dtype=np.int32)  # < _GRID steps: half the bytes of int64
    np.copyto(link[:-1], np.where(ok, grid + 2 + (ln >> 2), total), casting="unsafe")
    link[-1] = total
    ok = np.append(ok, False)
    chain = first[:-1, None].astype(np.int32)  # column j: the step of each item's j-th entry
    width = int(need.max())
    while chain.shape[1] < width:
        chain = np.concatenate([chain, link[chain]], axis=1)
        if chain.shape[1] < width:
            link = link[link]
    chain = chain[:, :width]
    j = np.arange(width)
    bad = ~ok[chain] & (j < need[:, None])
    failed = bad.any(axis=1)
    done = np.where(failed, bad.argmax(axis=1), need)  # entries framed per item
    rows, cols = np.nonzero(j < done[:, None])
    g = chain[rows, cols]
    dest = base[act][rows] + k + cols
    pos[dest] = at[g] + 8
    length[dest] = ln[g]
    tag[dest] = w[g, 0]
    wrong = np.flatnonzero(failed)
    g = chain[wrong, done[wrong]]
    code = np.where(over[np.minimum(g, total - 1)] | (g == total), SAMPLE_OVERRUN, UNALIGNED)
    return act[wrong], k + done[wrong], code.astype(np.uint8)


def walk(buf: Buffer, offsets: I64, lengths: I64) -> Structure:
    """Validate and locate every datagram, sample and record of a batch."""
    n = offsets.size
    end = offsets + lengths
    reason = np.zeros(n, dtype=np.uint8)
    outside = (offsets < 0) | (lengths < 0) | (end > buf.size)
    if outside.any():
        reason[outside] = OUTSIDE
        offsets = np.where(outside, 0, offsets)
        lengths = np.where(outside, 0, lengths)
        end = offsets + lengths
    o, ln = offsets, lengths

    # 1. datagram header
    version = buf.u32(o)
    atype = buf.u32(o + 4)
    hdr = np.where(atype == r.AGENT_ADDRESS_IPV6, 40, 28)

    def mark(cond: npt.NDArray[np.bool_], code: int) -> None:
        reason[cond & (reason == OK)] = code

    mark(ln < 4, TRUNCATED)
    mark(version != r.SFLOW_VERSION, VERSION)
    mark(ln < 8, TRUNCATED)
    mark((atype != r.AGENT_ADDRESS_IPV4) & (atype != r.AGENT_ADDRESS_IPV6), AGENT)
    mark(ln < hdr, TRUNCATED)
    agent = buf.u32x(o + 8, 4)
    tail = o + hdr
    head = buf.u32x(tail - 16, 4)
    sub_agent, sequence, uptime = head[:, 0], head[:, 1], head[:, 2]
    nsamp = head[:, 3].astype(np.int64)
    mark((nsamp > (ln - hdr) // 8) | (nsamp > MAX_SAMPLES), IMPLAUSIBLE)
    header_ok = reason == OK
    agent_v6 = atype == 2
    agent[~agent_v6, 1:] = 0

    # 2. sample framing, one level per sample index k
    counts = np.where(header_ok, nsamp, 0)
    base = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=base[1:])
    total = int(base[-1])
    s_dg = np.repeat(np.arange(n, dtype=np.int64), counts)
    s_pos = np.zeros(total, dtype=np.int64)
    s_len = np.zeros(total, dtype=np.int64)
    s_tag = np.zeros(total, dtype=np.uint32)
    wrong, _, codes = _frames(buf, _Level(counts, base, end, s_pos, s_len, s_tag), tail.copy())
    if wrong.size:
        reason[wrong] = codes  # their headers were fine: this is their first failure
        keep = reason[s_dg] == OK
        s_dg, s_pos, s_len, s_tag = s_dg[keep], s_pos[keep], s_len[keep], s_tag[keep]

    # 3. known sample headers (enterprise 0, formats 1-4: the tag itself is 1..4)
    known = (s_tag >= r.SAMPLE_FLOW) & (s_tag <= r.SAMPLE_COUNTERS_EXPANDED)
    s_kind = np.where(known, s_tag, 0).astype(np.uint8)
    fixed = _FIXED_LUT[s_kind]
    short = known & (s_len < fixed)
    nrec = np.where(known & ~short, buf.u32(s_pos + fixed - 4), 0).astype(np.int64)
    implausible = known & ~short & ((nrec > (s_len - fixed) // 8) | (nrec > MAX_RECORDS))
    bad = short | implausible
    if bad.any():
        sidx = np.arange(s_tag.size, dtype=np.int64)
        codes = np.where(short, SAMPLE_SHORT, IMPLAUSIBLE).astype(np.uint8)
        _fail(reason, s_dg[bad], codes[bad], sidx[bad])
        nrec[bad] = 0
        nrec[reason[s_dg] != OK] = 0

    # 4. record framing inside known samples
    rbase = np.zeros(s_tag.size + 1, dtype=np.int64)
    np.cumsum(nrec, out=rbase[1:])
    rtotal = int(rbase[-1])
    r_smp = np.repeat(np.arange(s_tag.size, dtype=np.int64), nrec)
    r_pos = np.zeros(rtotal, dtype=np.int64)
    r_len = np.zeros(rtotal, dtype=np.int64)
    r_tag = np.zeros(rtotal, dtype=np.uint32)
    records = _Level(nrec, rbase, s_pos + s_len, r_pos, r_len, r_tag)
    es, ek, codes = _frames(buf, records, s_pos + fixed)
    if es.size:
        codes = np.where(codes == SAMPLE_OVERRUN, RECORD_OVERRUN, codes).astype(np.uint8)
        _fail(reason, s_dg[es], codes, es, ek)
        keep = reason[s_dg[r_smp]] == OK
        r_smp, r_pos, r_len, r_tag = r_smp[keep], r_pos[keep], r_len[keep], r_tag[keep]

    # 5. bodies of the records the decoder reads (enterprise 0: the tag is the format)
    in_flow = (s_kind & 1).astype(bool)[r_smp]  # kinds 1 and 3 are flow samples
    need = np.where(r_tag < 4096, _MIN_LUT[(in_flow * 4096) + (r_tag & 0xFFF)], 0)
    short = r_len < need
    raw = in_flow & (r_tag == r.FLOW_RAW_HEADER) & ~short
    if raw.any():
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
    if not s_ok.all():
        remap = np.cumsum(s_ok) - 1
        r_ok = s_ok[r_smp]
        r_smp, r_pos, r_len, r_tag = remap[r_smp[r_ok]], r_pos[r_ok], r_len[r_ok], r_tag[r_ok]
        s_dg, s_pos, s_len, s_tag, s_kind = (
            s_dg[s_ok], s_pos[s_ok], s_len[s_ok], s_tag[s_ok], s_kind[s_ok],
        )  # fmt: skip
    return Structure(
        reason=reason,
        header_ok=header_ok,
        agent_v6=agent_v6,
        agent=agent,
        sub_agent=sub_agent,
        sequence=sequence,
        uptime=uptime,
        s_dg=s_dg,
        s_pos=s_pos,
        s_len=s_len,
        s_tag=s_tag,
        s_kind=s_kind,
        r_smp=r_smp,
        r_pos=r_pos,
        r_len=r_len,
        r_tag=r_tag,
    )
