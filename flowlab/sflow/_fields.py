"""From a walked batch to per-row numpy columns (the numpy stage of the decoder).

Each function returns ``{name: (values, valid)}`` with one entry per output
row; :mod:`flowlab.sflow.decode` concatenates chunks and turns them into
Polars columns. Which record wins and how sampled records fill in follow the
rules of :mod:`flowlab.sflow._headers` and the docs of
:func:`flowlab.sflow.decode.decode`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from flowlab._arrays import I64, U32, B
from flowlab.sflow import _spec as r
from flowlab.sflow._buffer import Buffer
from flowlab.sflow._columns import (
    ETHERNET_WORDS,
    FLOW_FIELDS,
    GENERIC_WORDS,
    PACKET_FIELDS,
    Cols,
    counter_columns,
)
from flowlab.sflow._headers import PORT_PROTOCOLS, parse_headers
from flowlab.sflow._walk import Structure

__all__ = ["concat", "counter_fields", "flow_fields"]

#: the fields a sampled header gives besides ip_version (the VLAN too: also the extended switch's)
_HEADER_FIELDS = (*(f for f in PACKET_FIELDS if f not in ("ip_version", "sampled")), "vlan")


def _empty(n: int, name: str, dtype: type) -> tuple[np.ndarray, B]:
    shape: tuple[int, ...] = (n, 4) if name in ("src6", "dst6") else (n,)
    return np.zeros(shape, dtype=dtype), np.zeros(n, dtype=bool)


def _first(owner: I64, mask: B) -> I64:
    """Index of the first masked record of each owner (records are sorted by owner)."""
    idx = np.flatnonzero(mask)
    first = np.ones(idx.size, dtype=bool)
    first[1:] = owner[idx[1:]] != owner[idx[:-1]]
    return idx[first]


def _interface(fmt: npt.NDArray[np.uint32], value: npt.NDArray[np.uint32]) -> np.ndarray:
    """Expanded (format, value) interface -> the compact 32-bit form used in the frame."""
    packed = ((fmt & 3) << 30) | (value & 0x3FFFFFFF)
    return np.where(fmt == 0, value, packed).astype(np.uint32)


def flow_fields(buf: Buffer, st: Structure, used: B, dg_base: int) -> Cols:
    """Columns for every flow sample of `st`; marks the records it reads in `used`."""
    fi = np.flatnonzero((st.s_kind == r.SAMPLE_FLOW) | (st.s_kind == r.SAMPLE_FLOW_EXPANDED))
    nf = fi.size
    c: Cols = {name: _empty(nf, name, dt) for name, dt in FLOW_FIELDS.items()}
    if not nf:
        return c
    row_of = np.full(st.s_kind.size, -1, dtype=np.int64)
    row_of[fi] = np.arange(nf)
    w = buf.u32x(st.s_pos[fi], 10)
    compact = st.s_kind[fi] == r.SAMPLE_FLOW
    every = np.ones(nf, dtype=bool)
    c["dg"] = (st.s_dg[fi] + dg_base, every)
    c["sample_sequence"] = (w[:, 0], every)
    c["source_id"] = (np.where(compact, w[:, 1] & 0xFFFFFF, w[:, 2]), every)
    c["sampling_rate"] = (np.where(compact, w[:, 2], w[:, 3]), every)
    c["in_if"] = (np.where(compact, w[:, 5], _interface(w[:, 6], w[:, 7])), every)
    c["out_if"] = (np.where(compact, w[:, 6], _interface(w[:, 8], w[:, 9])), every)

    rk = st.s_kind[st.r_smp]
    fmt = st.r_tag & 0xFFF
    in_flow = ((st.r_tag >> 12) == 0) & ((rk == r.SAMPLE_FLOW) | (rk == r.SAMPLE_FLOW_EXPANDED))
    picks = {code: _first(st.r_smp, in_flow & (fmt == code)) for code in r.FLOW_RECORD_LENGTH}
    for first in picks.values():
        used[first] = True

    def put(name: str, rows: I64 | slice, values: np.ndarray | int, ok: B | bool) -> None:
        old, valid = c[name]
        if isinstance(rows, slice) and isinstance(values, np.ndarray) and values.dtype == old.dtype:
            # every row: take the (freshly computed) arrays instead of copying into the zeros
            c[name] = (values, ok if isinstance(ok, np.ndarray) else np.full(nf, ok))
            return
        old[rows] = values
        valid[rows] = ok

    raw = picks[r.FLOW_RAW_HEADER]
    if raw.size:
        hw = buf.u32x(st.r_pos[raw], 4)
        start = st.r_pos[raw] + 16
        has: B | bool = True
        if raw.size < nf:  # samples without a header: full-length columns, their rows empty
            rows = row_of[st.r_smp[raw]]  # (cheaper than scattering each parsed field)
            full = np.zeros((nf, 4), dtype=np.uint32)
            full[rows] = hw
            hw = full
            at = np.zeros(nf, dtype=np.int64)
            at[rows] = start
            start = at
            has = np.zeros(nf, dtype=bool)
            has[rows] = True
        every_row = slice(None)
        hp = hw[:, 0]
        put("frame_length", every_row, hw[:, 1], has)
        supported = (
            (hp == r.HEADER_PROTOCOL_ETHERNET)
            | (hp == r.HEADER_PROTOCOL_IPV4)
            | (hp == r.HEADER_PROTOCOL_IPV6)
        )
        put("supported", every_row, supported, has)
        hf = parse_headers(buf, hp, start, hw[:, 3].astype(np.int64))  # no header: length 0
        put("ip_version", every_row, hf.ip_version, hf.ip_version > 0)
        for name in _HEADER_FIELDS:
            put(name, every_row, getattr(hf, name), getattr(hf, name + "_ok"))

    # sampled IPv4 / IPv6 records fill rows whose header gave no IP
    ipv = c["ip_version"][0]
    for code, words, version in ((r.FLOW_SAMPLED_IPV4, 8, 4), (r.FLOW_SAMPLED_IPV6, 14, 6)):
        recs = picks[code]
        if not recs.size:
            continue
        rows_all = row_of[st.r_smp[recs]]
        put("sampled", rows_all, True, True)
        need = ipv[rows_all] == 0
        recs, rows = recs[need], rows_all[need]
        if not recs.size:
            continue
        sw = buf.u32x(st.r_pos[recs], words)
        proto = sw[:, 1]
        put("ip_version", rows, version, True)
        if version == 4:
            put("src4", rows, sw[:, 2], True)
            put("dst4", rows, sw[:, 3], True)
        else:
            put("src6", rows, sw[:, 2:6], True)
            put("dst6", rows, sw[:, 6:10], True)
        sport, dport, flags, tos = (sw[:, words - 4 + i] for i in range(4))
        ports = np.isin(proto, PORT_PROTOCOLS)
        icmp = (proto == 1) | (proto == 58)
        put("protocol", rows, proto, proto <= 255)
        put("src_port", rows, sport, ports & (sport <= 0xFFFF))
        put("dst_port", rows, dport, ports & (dport <= 0xFFFF))
        put("tcp_flags", rows, flags, (proto == 6) & (flags <= 0x1FF))
        put("icmp_type", rows, sport, icmp & (sport <= 0xFF))
        put("icmp_code", rows, dport, icmp & (dport <= 0xFF))
        put("tos", rows, tos, tos <= 0xFF)
        put("ttl", rows, 0, False)
        fill = rows[~c["ethertype"][1][rows]]
        put("ethertype", fill, 0x0800 if version == 4 else 0x86DD, True)
        no_frame = ~c["frame_length"][1][rows]
        put("frame_length", rows[no_frame], sw[no_frame, 0], True)

    # extended switch: VLAN when the header carried none
    recs = picks[r.FLOW_EXTENDED_SWITCH]
    if recs.size:
        rows = row_of[st.r_smp[recs]]
        vid = buf.u32(st.r_pos[recs])
        fill = ~c["vlan"][1][rows] & (vid > 0) & (vid < 4096)
        put("vlan", rows[fill], vid[fill], True)
    return c


def counter_fields(buf: Buffer, st: Structure, used: B, dg_base: int) -> Cols:
    """Columns for every counter sample with a generic-interface and/or ethernet record.

    Counters sent as all ones (2**32-1, 2**64-1: "unknown" in sFlow) become null.
    """
    rk = st.s_kind[st.r_smp]
    counter_kind = (rk == r.SAMPLE_COUNTERS) | (rk == r.SAMPLE_COUNTERS_EXPANDED)
    cand = np.flatnonzero(counter_kind)  # records of counter samples (few): work on them
    tag = st.r_tag[cand]  # enterprise 0: the tag is the format
    gen = cand[_first(st.r_smp[cand], tag == r.COUNTERS_GENERIC_IF)]
    eth = cand[_first(st.r_smp[cand], tag == r.COUNTERS_ETHERNET)]
    used[gen] = True
    used[eth] = True
    has = np.zeros(st.s_kind.size, dtype=bool)  # samples with either record, in order
    has[st.r_smp[gen]] = True
    has[st.r_smp[eth]] = True
    smp = np.flatnonzero(has)
    n = smp.size
    w = buf.u32x(st.s_pos[smp], 3)
    compact = st.s_kind[smp] == r.SAMPLE_COUNTERS
    words: list[tuple[U32, B]] = []
    for recs, width in ((gen, GENERIC_WORDS), (eth, ETHERNET_WORDS)):
        rows = np.searchsorted(smp, st.r_smp[recs])
        have = np.zeros(n, dtype=bool)
        have[rows] = True
        vals = np.zeros((n, width), dtype=np.uint32)
        vals[rows] = buf.u32x(st.r_pos[recs], width)
        words.append((vals, have))
    return counter_columns(
        st.s_dg[smp] + dg_base,
        w[:, 0],
        np.where(compact, w[:, 1] & 0xFFFFFF, w[:, 2]).astype(np.uint32),
        *words[0],
        *words[1],
    )


def concat(parts: list[Cols]) -> Cols:
    """Concatenate chunk columns in order, emptying `parts` as it goes (a smaller peak)."""
    if len(parts) == 1:
        return parts.pop()
    out: Cols = {}
    for name in list(parts[0]):
        pieces = [p.pop(name) for p in parts]
        out[name] = (
            np.concatenate([v for v, _ in pieces]),
            np.concatenate([ok for _, ok in pieces]),
        )
    parts.clear()
    return out
