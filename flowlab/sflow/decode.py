"""Vectorised sFlow v5 decoder: many datagrams in one buffer -> canonical frames.

:func:`decode` takes a buffer holding many datagrams (UDP payloads) and their
offsets/lengths, and returns a :class:`Decoded`: the canonical flow frame (one
row per flow sample, client/server oriented), the canonical counters frame
(one row per counter sample with generic-interface and/or ethernet counters)
and :class:`~flowlab.sflow.stats.DecodeStats`. It never raises on bad bytes:
a datagram is either decoded entirely or counted under one reason.

How it is fast: no Python loop runs per datagram, sample or record. The
structural walk (:mod:`flowlab.sflow._walk`) handles the k-th sample of every
datagram at once, the packet headers are parsed column-wise
(:mod:`flowlab.sflow._headers`), and addresses are formatted once per distinct
value (:mod:`flowlab.sflow._text`).

Examples
--------
>>> import numpy as np
>>> from flowlab.sflow.encode import encode_datagram
>>> from flowlab.sflow.packet import raw_header
>>> from flowlab.sflow.records import Datagram, FlowSample
>>> rec = raw_header("10.128.0.5", "10.0.0.3", 6, 51000, 2379, payload_length=200)
>>> dgram = encode_datagram(Datagram("192.168.1.10", 1, 1000,
...                                  [FlowSample(1, 3, 400, 400, [rec], input_if=3)]))
>>> out = decode(dgram, [0], [len(dgram)], received_ms=[1_700_000_000_000])
>>> out.flows.select("exporter", "src_ip", "dst_port", "bytes", "service_name").row(0)
('192.168.1.10', '10.128.0.5', 2379, 103200, 'etcd-client')
>>> out.stats.datagrams_ok, out.stats.flows
(1, 1)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl
import pyarrow as pa

from flowlab import schema
from flowlab.exceptions import SFlowError
from flowlab.services import orient
from flowlab.sflow._buffer import Buffer, as_uint8
from flowlab.sflow._headers import PORT_PROTOCOLS, parse_headers
from flowlab.sflow._text import address_text, mac_text
from flowlab.sflow._walk import REASONS, Structure, walk
from flowlab.sflow.sequence import SequenceTracker
from flowlab.sflow.stats import DecodeStats

__all__ = ["Decoded", "decode"]

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
_KIND_NAMES = {1: "flow", 2: "counters", 3: "flow_expanded", 4: "counters_expanded", 0: "unknown"}
_GENERIC_FIELDS = (
    "if_index",
    "if_type",
    "if_speed",
    "if_direction",
    "if_status",
    "in_octets",
    "in_ucast_pkts",
    "in_multicast_pkts",
    "in_broadcast_pkts",
    "in_discards",
    "in_errors",
    "in_unknown_protos",
    "out_octets",
    "out_ucast_pkts",
    "out_multicast_pkts",
    "out_broadcast_pkts",
    "out_discards",
    "out_errors",
    "promiscuous_mode",
)
_WIDE = {"if_speed", "in_octets", "out_octets"}
_ETHERNET_FIELDS = tuple(c.name for c in schema.COUNTER_COLUMNS if c.name.startswith("dot3_"))


@dataclass
class Decoded:
    """Result of decoding: canonical flows, canonical counters and the stats."""

    flows: pl.DataFrame = field(default_factory=schema.empty)
    counters: pl.DataFrame = field(default_factory=schema.empty_counters)
    stats: DecodeStats = field(default_factory=DecodeStats)

    @classmethod
    def concat(cls, parts: Iterable[Decoded]) -> Decoded:
        """Concatenate batches (rows in order, stats merged)."""
        items = list(parts)
        if not items:
            return cls()
        stats = DecodeStats()
        for p in items:
            stats = stats.merge(p.stats)
        return cls(
            flows=pl.concat([p.flows for p in items], rechunk=False),
            counters=pl.concat([p.counters for p in items], rechunk=False),
            stats=stats,
        )


def _col(values: np.ndarray, ok: B | None, dtype: pl.DataType) -> pl.Series:
    if ok is None or bool(ok.all()):
        return pl.Series(values).cast(dtype)
    return pl.Series(pa.array(values, mask=~ok)).cast(dtype)


def _first(owner: I64, mask: B) -> I64:
    """Index of the first masked record of each owner (records are sorted by owner)."""
    idx = np.flatnonzero(mask)
    first = np.ones(idx.size, dtype=bool)
    first[1:] = owner[idx[1:]] != owner[idx[:-1]]
    return idx[first]


def _tag_counts(tags: npt.NDArray[np.uint32]) -> dict[tuple[int, int], int]:
    u, c = np.unique(tags, return_counts=True)
    return {(int(t) >> 12, int(t) & 0xFFF): int(k) for t, k in zip(u, c)}


def _interface(fmt: npt.NDArray[np.uint32], value: npt.NDArray[np.uint32]) -> np.ndarray:
    """Expanded (format, value) interface -> the compact 32-bit form used in the frame."""
    packed = ((fmt & 3) << 30) | (value & 0x3FFFFFFF)
    return np.where(fmt == 0, value, packed).astype(np.uint32)


def decode(
    buffer: bytes | bytearray | memoryview | npt.NDArray[np.uint8],
    offsets: npt.ArrayLike,
    lengths: npt.ArrayLike,
    *,
    received_ms: npt.ArrayLike,
    peers: Sequence[str | None] | None = None,
    source: str = "sflow",
    state: SequenceTracker | None = None,
) -> Decoded:
    """Decode the sFlow v5 datagrams found at ``buffer[offsets[i] : offsets[i] + lengths[i]]``.

    Parameters
    ----------
    buffer : bytes, bytearray, memoryview or numpy uint8 array
        Datagrams (UDP payloads), anywhere in the buffer, at any alignment.
    offsets, lengths : array-like of int
        Where each datagram is.
    received_ms : array-like of int, or int
        Receive time of each datagram (UTC epoch milliseconds) -> ``time``.
    peers : sequence of str, optional
        UDP source address of each datagram; used as ``exporter`` when the
        agent address is unspecified (0.0.0.0 or ::).
    source : str
        Value of the ``source`` column.
    state : SequenceTracker, optional
        Pass the same tracker with every batch (in arrival order) to count
        sequence gaps across batches; without it each call starts afresh.

    Returns
    -------
    Decoded
        ``flows`` (:data:`flowlab.schema.FLOW_SCHEMA`), ``counters``
        (:data:`flowlab.schema.COUNTER_SCHEMA`) and ``stats``.

    Raises
    ------
    SFlowError
        Only for inconsistent arguments (array lengths differ); bad datagram
        bytes never raise.
    """
    data = as_uint8(buffer)
    off = np.asarray(offsets, dtype=np.int64).reshape(-1)
    ln = np.asarray(lengths, dtype=np.int64).reshape(-1)
    n = off.size
    try:
        recv = np.broadcast_to(np.asarray(received_ms, dtype=np.int64), (n,))
    except ValueError as exc:
        msg = f"received_ms must be one value or one per datagram ({n}), found shape {np.shape(received_ms)}"
        raise SFlowError(msg) from exc
    if ln.size != n or (peers is not None and len(peers) != n):
        msg = (
            f"offsets ({n}), lengths ({ln.size}) and peers "
            f"({'-' if peers is None else len(peers)}) must have one entry per datagram"
        )
        raise SFlowError(msg)
    buf = Buffer(data)
    st = walk(buf, off, ln)
    stats = DecodeStats(datagrams=n)
    counts = np.bincount(st.reason, minlength=len(REASONS))
    stats.datagrams_ok = int(counts[0])
    stats.datagrams_bad = {REASONS[i]: int(c) for i, c in enumerate(counts) if i and c}

    # exporters (per datagram) and sequence accounting
    h = st.header_ok
    v6 = st.agent_v6
    exporter = address_text(st.agent[:, 0], h & ~v6, st.agent, h & v6)
    if peers is not None:
        unspecified = h & ~st.agent.any(axis=1)
        if unspecified.any():
            mixed = np.where(unspecified, np.asarray(peers, dtype=object), exporter.to_numpy())
            exporter = pl.Series(mixed, dtype=pl.String)
    _sequences(stats, state, exporter, st, h)

    kinds = st.s_kind
    for k, c in zip(*np.unique(kinds, return_counts=True)):
        stats.samples[_KIND_NAMES[int(k)]] = int(c)
    if (kinds == 0).any():
        stats.samples_skipped = _tag_counts(st.s_tag[kinds == 0])

    used = np.zeros(st.r_tag.size, dtype=bool)
    flows = _flows(buf, st, used, stats, exporter, recv, source)
    counters = _counters(buf, st, used, exporter, recv, source)
    if (~used).any():
        stats.records_skipped = _tag_counts(st.r_tag[~used])
    stats.flows = flows.height
    stats.counters = counters.height
    return Decoded(flows=flows, counters=counters, stats=stats)


def _sequences(
    stats: DecodeStats, state: SequenceTracker | None, exporter: pl.Series, st: Structure, h: B
) -> None:
    idx = np.flatnonzero(h)
    if not idx.size:
        return
    ex = exporter.gather(pl.Series(idx)).to_numpy()
    codes, uniq = pd.factorize(ex)
    sid, ukeys = pd.factorize(codes.astype(np.int64) * (1 << 32) + st.sub_agent[idx])
    streams = [(str(uniq[int(k) >> 32]), int(k) & 0xFFFFFFFF) for k in ukeys]
    tracker = state if state is not None else SequenceTracker()
    res = tracker.update(streams, np.asarray(sid, dtype=np.int64), st.sequence[idx])
    stats.lost_datagrams = res.lost
    stats.sequence_resets = res.resets
    stats.late_datagrams = res.late
    stats.duplicate_datagrams = res.duplicates


def _flows(
    buf: Buffer,
    st: Structure,
    used: B,
    stats: DecodeStats,
    exporter: pl.Series,
    recv: I64,
    source: str,
) -> pl.DataFrame:
    fi = np.flatnonzero((st.s_kind == 1) | (st.s_kind == 3))
    nf = fi.size
    if not nf:
        return schema.empty()
    row_of = np.full(st.s_kind.size, -1, dtype=np.int64)
    row_of[fi] = np.arange(nf)
    w = buf.u32x(st.s_pos[fi], 10)
    compact = st.s_kind[fi] == 1
    dg = st.s_dg[fi]
    cols: dict[str, pl.Series] = {
        "sample_sequence": _col(w[:, 0], None, pl.UInt32()),
        "source_id": _col(np.where(compact, w[:, 1] & 0xFFFFFF, w[:, 2]), None, pl.UInt32()),
        "sampling_rate": _col(np.where(compact, w[:, 2], w[:, 3]), None, pl.UInt32()),
        "in_if": _col(np.where(compact, w[:, 5], _interface(w[:, 6], w[:, 7])), None, pl.UInt32()),
        "out_if": _col(np.where(compact, w[:, 6], _interface(w[:, 8], w[:, 9])), None, pl.UInt32()),
    }

    rk = st.s_kind[st.r_smp]
    std = (st.r_tag >> 12) == 0
    fmt = st.r_tag & 0xFFF
    in_flow = std & ((rk == 1) | (rk == 3))
    picks: dict[int, I64] = {}
    for code in (1, 3, 4, 1001):
        first = _first(st.r_smp, in_flow & (fmt == code))
        picks[code] = first
        used[first] = True

    # per-row field arrays (value, valid)
    f: dict[str, tuple[np.ndarray, B]] = {}

    def put(name: str, rows: I64, values: np.ndarray, ok: B, dtype: type) -> None:
        vals, valid = f.setdefault(name, (np.zeros(nf, dtype=dtype), np.zeros(nf, dtype=bool)))
        vals[rows] = values
        valid[rows] = ok

    src4 = np.zeros(nf, dtype=np.uint32)
    dst4 = np.zeros(nf, dtype=np.uint32)
    src6 = np.zeros((nf, 4), dtype=np.uint32)
    dst6 = np.zeros((nf, 4), dtype=np.uint32)
    ok = {k: np.zeros(nf, dtype=bool) for k in ("s4", "d4", "s6", "d6")}
    ipv = np.zeros(nf, dtype=np.uint8)
    supported = np.zeros(nf, dtype=bool)
    frame_len = np.zeros(nf, dtype=np.uint32)
    frame_ok = np.zeros(nf, dtype=bool)

    raw = picks[1]
    if raw.size:
        rows = row_of[st.r_smp[raw]]
        rp = st.r_pos[raw]
        hw = buf.u32x(rp, 4)
        hp = hw[:, 0]
        frame_len[rows] = hw[:, 1]
        frame_ok[rows] = True
        supported[rows] = (hp == 1) | (hp == 11) | (hp == 12)
        hf = parse_headers(buf, hp, rp + 16, hw[:, 3].astype(np.int64))
        ipv[rows] = hf.ip_version
        src4[rows], dst4[rows], src6[rows], dst6[rows] = hf.src4, hf.dst4, hf.src6, hf.dst6
        ok["s4"][rows], ok["d4"][rows] = hf.src4_ok, hf.dst4_ok
        ok["s6"][rows], ok["d6"][rows] = hf.src6_ok, hf.dst6_ok
        for name, dtype in (
            ("protocol", np.uint8),
            ("src_port", np.uint16),
            ("dst_port", np.uint16),
            ("tcp_flags", np.uint16),
            ("icmp_type", np.uint8),
            ("icmp_code", np.uint8),
            ("tos", np.uint8),
            ("ttl", np.uint8),
            ("ethertype", np.uint16),
            ("vlan", np.uint16),
            ("src_mac", np.uint64),
            ("dst_mac", np.uint64),
        ):
            put(name, rows, getattr(hf, name), getattr(hf, name + "_ok"), dtype)

    # sampled IPv4 / IPv6 records fill rows whose header gave no IP
    has_sampled = np.zeros(nf, dtype=bool)
    for fmt_id, words, version in ((3, 8, 4), (4, 14, 6)):
        recs = picks[fmt_id]
        if not recs.size:
            continue
        rows_all = row_of[st.r_smp[recs]]
        has_sampled[rows_all] = True
        need = ipv[rows_all] == 0
        recs, rows = recs[need], rows_all[need]
        if not recs.size:
            continue
        sw = buf.u32x(st.r_pos[recs], words)
        last = words - 4
        proto = sw[:, 1]
        ipv[rows] = version
        if version == 4:
            src4[rows], dst4[rows] = sw[:, 2], sw[:, 3]
            ok["s4"][rows] = ok["d4"][rows] = True
        else:
            src6[rows], dst6[rows] = sw[:, 2:6], sw[:, 6:10]
            ok["s6"][rows] = ok["d6"][rows] = True
        sport, dport, flags, tos = sw[:, last], sw[:, last + 1], sw[:, last + 2], sw[:, last + 3]
        has_ports = np.isin(proto, PORT_PROTOCOLS)
        icmp = (proto == 1) | (proto == 58)
        put("protocol", rows, proto, proto <= 255, np.uint8)
        put("src_port", rows, sport, has_ports & (sport <= 0xFFFF), np.uint16)
        put("dst_port", rows, dport, has_ports & (dport <= 0xFFFF), np.uint16)
        put("tcp_flags", rows, flags, (proto == 6) & (flags <= 0x1FF), np.uint16)
        put("icmp_type", rows, sport, icmp & (sport <= 0xFF), np.uint8)
        put("icmp_code", rows, dport, icmp & (dport <= 0xFF), np.uint8)
        put("tos", rows, tos, tos <= 0xFF, np.uint8)
        put("ttl", rows, np.zeros(rows.size), np.zeros(rows.size, dtype=bool), np.uint8)
        et = f.setdefault("ethertype", (np.zeros(nf, np.uint16), np.zeros(nf, bool)))
        fill = ~et[1][rows]
        et[0][rows[fill]] = 0x0800 if version == 4 else 0x86DD
        et[1][rows[fill]] = True
        no_frame = rows[~frame_ok[rows]]
        frame_len[no_frame] = sw[~frame_ok[rows], 0]
        frame_ok[no_frame] = True

    # extended switch: VLAN when the header carried none
    sw_recs = picks[1001]
    if sw_recs.size:
        rows = row_of[st.r_smp[sw_recs]]
        vid = buf.u32(st.r_pos[sw_recs])
        vl = f.setdefault("vlan", (np.zeros(nf, np.uint16), np.zeros(nf, bool)))
        fill = ~vl[1][rows] & (vid > 0) & (vid < 4096)
        vl[0][rows[fill]] = vid[fill]
        vl[1][rows[fill]] = True

    stats.flows_without_header = int((~supported & ~has_sampled).sum())
    src_ok = ok["s4"] | ok["s6"]
    dst_ok = ok["d4"] | ok["d6"]
    stats.flows_without_ip = int((~(src_ok & dst_ok)).sum())
    is4 = ipv == 4
    cols["src_ip"] = address_text(src4, ok["s4"] & is4, src6, ok["s6"] & ~is4)
    cols["dst_ip"] = address_text(dst4, ok["d4"] & is4, dst6, ok["d6"] & ~is4)
    cols["ip_version"] = _col(ipv, ipv > 0, pl.UInt8())
    cols["frame_length"] = _col(frame_len, frame_ok, pl.UInt32())
    dtypes = schema.FLOW_SCHEMA
    for name, (vals, valid) in f.items():
        if name.endswith("_mac"):
            cols[name] = mac_text(vals, valid)
        else:
            cols[name] = _col(vals, valid, dtypes[name])
    dgs = pl.Series(dg)
    cols["time"] = pl.Series(recv[dg]).cast(schema.TIME)
    cols["exporter"] = exporter.gather(dgs)
    cols["sequence"] = _col(st.sequence[dg], None, pl.UInt32())
    cols["sub_agent_id"] = _col(st.sub_agent[dg], None, pl.UInt32())
    frame = pl.DataFrame({k: v.alias(k) for k, v in cols.items()})
    nbytes, npackets = schema.scale_expr()
    lf = frame.lazy().with_columns(
        nbytes, npackets, pl.lit(source, dtype=pl.String).alias("source")
    )
    for name in ("protocol", "src_port", "dst_port", "tcp_flags"):
        if name not in frame.columns:
            lf = lf.with_columns(pl.lit(None, dtype=dtypes[name]).alias(name))
    return schema.conform(orient(lf).collect())


def _counters(
    buf: Buffer, st: Structure, used: B, exporter: pl.Series, recv: I64, source: str
) -> pl.DataFrame:
    ci = np.flatnonzero((st.s_kind == 2) | (st.s_kind == 4))
    if not ci.size:
        return schema.empty_counters()
    rk = st.s_kind[st.r_smp]
    std = (st.r_tag >> 12) == 0
    fmt = st.r_tag & 0xFFF
    in_ctr = std & ((rk == 2) | (rk == 4))
    gen = _first(st.r_smp, in_ctr & (fmt == 1))
    eth = _first(st.r_smp, in_ctr & (fmt == 2))
    used[gen] = True
    used[eth] = True
    smp = np.union1d(st.r_smp[gen], st.r_smp[eth])
    n = smp.size
    if not n:
        return schema.empty_counters()
    w = buf.u32x(st.s_pos[smp], 3)
    compact = st.s_kind[smp] == 2
    dg = st.s_dg[smp]
    cols: dict[str, pl.Series] = {
        "time": pl.Series(recv[dg]).cast(schema.TIME),
        "exporter": exporter.gather(pl.Series(dg)),
        "sub_agent_id": _col(st.sub_agent[dg], None, pl.UInt32()),
        "sequence": _col(st.sequence[dg], None, pl.UInt32()),
        "sample_sequence": _col(w[:, 0], None, pl.UInt32()),
        "source_id": _col(np.where(compact, w[:, 1] & 0xFFFFFF, w[:, 2]), None, pl.UInt32()),
    }
    dtypes = schema.COUNTER_SCHEMA
    for recs, names, words in ((gen, _GENERIC_FIELDS, 22), (eth, _ETHERNET_FIELDS, 13)):
        rows = np.searchsorted(smp, st.r_smp[recs])
        have = np.zeros(n, dtype=bool)
        have[rows] = True
        vals = np.zeros((n, words), dtype=np.uint32)
        vals[rows] = buf.u32x(st.r_pos[recs], words)
        i = 0
        for name in names:
            if name in _WIDE:
                v = (vals[:, i].astype(np.uint64) << np.uint64(32)) | vals[:, i + 1]
                i += 2
            else:
                v = vals[:, i]
                i += 1
            cols[name] = _col(v, have, dtypes[name])
    cols["source"] = pl.Series([source] * n, dtype=pl.String)
    frame = pl.DataFrame({k: v.alias(k) for k, v in cols.items()})
    return schema.conform(frame, counters=True)
