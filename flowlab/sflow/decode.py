"""Vectorised sFlow v5 decoder: many datagrams in one buffer -> canonical frames.

:func:`decode` takes a buffer holding many datagrams (UDP payloads) and their
offsets/lengths, and returns a :class:`Decoded`: the canonical flow frame (one
row per flow sample, client/server oriented), the canonical counters frame
(one row per counter sample with generic-interface and/or ethernet counters)
and :class:`~flowlab.decoding.stats.DecodeStats`. It never raises on bad bytes:
a datagram is either decoded entirely or counted under one reason.

How it is fast: no Python loop runs per datagram, sample or record. The
structural walk (:mod:`flowlab.sflow._walk`) handles the k-th sample of every
datagram at once, the packet headers are parsed column-wise
(:mod:`flowlab.sflow._headers`), and addresses are formatted once per distinct
value (:mod:`flowlab.decoding.addresses`).

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

import functools
import threading
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import polars as pl

from flowlab import _accel, schema
from flowlab._arrays import I64, B
from flowlab._series import series
from flowlab.decoding.addresses import Endpoints, address_codes, factorize, text_of
from flowlab.decoding.batch import BufferLike, Datagrams, Peers
from flowlab.decoding.decoded import Decoded
from flowlab.decoding.sequence import SequenceTracker
from flowlab.decoding.stats import DecodeStats
from flowlab.exceptions import SFlowError
from flowlab.services import default_table, server_is_dst
from flowlab.sflow import _compiled
from flowlab.sflow import _spec as r
from flowlab.sflow._columns import REASONS, Cols, Walked, split_bare

__all__ = ["CHUNK_DATAGRAMS", "DECODER", "Decoded", "SFlowDecoder", "decode"]

_KIND_NAMES = {
    r.SAMPLE_FLOW: "flow",
    r.SAMPLE_COUNTERS: "counters",
    r.SAMPLE_FLOW_EXPANDED: "flow_expanded",
    r.SAMPLE_COUNTERS_EXPANDED: "counters_expanded",
    0: "unknown",
}
#: datagrams per internal chunk: keeps the numpy temporaries cache-sized (no page faults)
CHUNK_DATAGRAMS = 2048
# the word buffer is reused from call to call (per thread): no fresh pages for every batch
_SCRATCH = threading.local()


#: a column on its way into the frame: its values, and which rows hold one (None: every row)
_Column = tuple["np.ndarray | pl.Series", "B | None"]


def _tag_counts(tags: npt.NDArray[np.uint32]) -> dict[tuple[int, int], int]:
    lo, hi = int(tags.min()), int(tags.max())
    if hi - lo < 1 << 16:  # the usual few formats: a count per value, no sort
        counts = np.bincount(tags - np.uint32(lo))
        u = np.flatnonzero(counts)
        u, c = u + lo, counts[u]
    else:
        u, c = np.unique(tags, return_counts=True)
    return {(int(t) >> 12, int(t) & 0xFFF): int(k) for t, k in zip(u, c)}


def decode(
    buffer: BufferLike,
    offsets: npt.ArrayLike,
    lengths: npt.ArrayLike,
    *,
    received_ms: npt.ArrayLike,
    peers: Peers = None,
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
    peers : sequence of str or polars.Series, optional
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
        ``flows`` (:data:`flowlab.schema.FLOW_SCHEMA`, one row per flow
        sample, oriented), ``counters`` (:data:`flowlab.schema.COUNTER_SCHEMA`,
        one row per counter sample carrying generic-interface and/or ethernet
        counters) and ``stats``.

    Raises
    ------
    SFlowError
        Only for wrong arguments: a buffer that is not bytes, locators that are
        not integers, lie outside the buffer or differ in number, a wrong
        ``received_ms``, ``peers``, ``source`` or ``state``. Bad datagram bytes
        never raise: each bad datagram is counted under one reason.

    Notes
    -----
    In each sample the first record of each kind is used (raw header,
    sampled IPv4, sampled IPv6, extended switch; generic and ethernet
    counters); repeats and unknown records are counted in
    ``stats.records_skipped``. Fields come from the raw header; when it yields
    no IP, from the sampled IPv4 (else IPv6) record, where ICMP type/code are
    taken from the port fields. ``vlan`` is the header's outer tag, else the
    extended switch ``src_vlan`` (0 means none). ``frame_length`` is the raw
    header's, else the sampled record's IP length.

    Rows are in wire order, but for one case: a *bare* flow sample, one that gives no packet
    field (no raw header that reaches a MAC or an ethertype, and no sampled IPv4/IPv6 record),
    follows the batch's other rows. Its row holds its sample's fields (rate, interfaces, and
    the frame length and VLAN when sent) and nulls for the packet's. Real agents do not send
    such samples, but a sender can pack one into every 40 bytes: they are written into narrow
    columns of their own, so that they cost what they carry, not a whole row of nulls.
    """
    datagrams = Datagrams.of(
        buffer, offsets, lengths, received_ms=received_ms, peers=peers, error=SFlowError
    )
    return _decode(datagrams, source, state)


def _decode(datagrams: Datagrams, source: str, state: SequenceTracker | None) -> Decoded:
    """:func:`decode` of checked `datagrams` (``source`` and ``state`` are checked here)."""
    data, off, ln = datagrams.buffer, datagrams.offsets, datagrams.lengths
    recv, peers = datagrams.received_ms, datagrams.peers
    n = off.size
    if not isinstance(source, str):
        msg = f"source must be a str, found {type(source).__name__}"
        raise SFlowError(msg)
    if state is not None and not isinstance(state, SequenceTracker):
        msg = f"state must be a SequenceTracker, found {type(state).__name__}"
        raise SFlowError(msg)

    core = _accel.native()
    w = _compiled.columns(core, data, off, ln) if core is not None else _walked(data, off, ln)
    reason, header_ok, agent, agent_v6 = w.reason, w.header_ok, w.agent, w.agent_v6
    sub_agent, sequence = w.sub_agent, w.sequence

    stats = DecodeStats(datagrams=n)
    counts = np.bincount(reason, minlength=len(REASONS))
    stats.datagrams_ok = int(counts[0])
    stats.datagrams_bad = {REASONS[i]: int(c) for i, c in enumerate(counts) if i and c}
    for k, c in enumerate(w.kinds.tolist()):
        if c:  # kinds in ascending order, as np.unique gave them
            stats.samples[_KIND_NAMES[k]] = c
    if w.unknown.size:
        stats.samples_skipped = _tag_counts(w.unknown)
    if w.skipped.size:
        stats.records_skipped = _tag_counts(w.skipped)

    ex_codes, ex_series = address_codes(
        agent[:, 0], header_ok & ~agent_v6, agent, header_ok & agent_v6
    )
    exporter = text_of(ex_series, ex_codes)
    ex_texts: list[str] = ex_series.to_list()  # a batch's few agents
    if peers is not None:
        unspecified = header_ok & ~agent.any(axis=1)
        if unspecified.any():  # agent 0.0.0.0 or ::: the UDP sender stands in for it
            mixed = np.where(unspecified, np.asarray(peers, dtype=object), exporter.to_numpy())
            exporter = pl.Series(mixed, dtype=pl.String)
            ex_codes, uniq = factorize(mixed)
            ex_texts = [str(u) for u in uniq]
    # only accepted datagrams move the sequence state: a corrupt one must not fake a gap or a restart
    _sequences(stats, state, ex_codes, ex_texts, reason == 0, sub_agent, sequence)

    accepted = ex_codes[reason == 0]
    one = (
        ex_texts[int(accepted[0])]
        if accepted.size and accepted[0] >= 0 and accepted.min() == accepted.max()
        else None
    )
    heads = _Heads(exporter, recv, sequence, sub_agent, source, one)
    flows = _flow_frame(w.flows, stats, heads) if n else schema.empty()
    if n and w.bare["dg"][0].size:  # after the rows with a packet field (see decode's Notes)
        bare = _bare_frame(w.bare, stats, heads)
        flows = pl.concat([flows, bare], rechunk=False) if flows.height else bare
    counters = _counter_frame(w.counters, heads) if n else None
    stats.flows = flows.height
    counters = counters if counters is not None else schema.empty_counters()
    stats.counters = counters.height
    return Decoded(flows=flows, counters=counters, stats=stats)


def _walked(data: np.ndarray, off: I64, ln: I64) -> Walked:
    """The walk and the columns of a batch in pure numpy, chunk by chunk (cache-sized temporaries).

    Its modules load on first use: with the compiled core they never do.
    """
    from flowlab.sflow import _fields
    from flowlab.sflow._buffer import Buffer
    from flowlab.sflow._walk import walk

    n = off.size
    reason = np.zeros(n, dtype=np.uint8)
    header_ok = np.zeros(n, dtype=bool)
    agent = np.zeros((n, 4), dtype=np.uint32)
    agent_v6 = np.zeros(n, dtype=bool)
    sub_agent = np.zeros(n, dtype=np.uint32)
    sequence = np.zeros(n, dtype=np.uint32)
    flow_parts: list[Cols] = []
    counter_parts: list[Cols] = []
    kinds: list[np.ndarray] = []
    unknown_samples: list[np.ndarray] = []
    skipped: list[np.ndarray] = []
    scratch: npt.NDArray[np.uint32] | None = getattr(_SCRATCH, "words", None)
    for c0 in range(0, n, CHUNK_DATAGRAMS):
        c1 = min(n, c0 + CHUNK_DATAGRAMS)
        o, m = off[c0:c1], ln[c0:c1]
        inside = (o >= 0) & (m >= 0) & (o + m <= data.size)
        lo = int(o[inside].min()) if inside.any() else 0
        hi = int((o + m)[inside].max()) if inside.any() else 0
        buf = Buffer(data[lo:hi], scratch)
        if scratch is None or buf.words.base is not scratch:
            scratch = _SCRATCH.words = buf.words
        st = walk(buf, np.where(inside, o - lo, -1), m)
        reason[c0:c1] = st.reason
        header_ok[c0:c1] = st.header_ok
        agent[c0:c1] = st.agent
        agent_v6[c0:c1] = st.agent_v6
        sub_agent[c0:c1] = st.sub_agent
        sequence[c0:c1] = st.sequence
        kinds.append(st.s_kind)
        unknown_samples.append(st.s_tag[st.s_kind == 0])
        used = np.zeros(st.r_tag.size, dtype=bool)
        flow_parts.append(_fields.flow_fields(buf, st, used, c0))
        counter_parts.append(_fields.counter_fields(buf, st, used, c0))
        skipped.append(st.r_tag[~used])
    all_kinds = np.concatenate(kinds) if kinds else np.zeros(0, np.uint8)
    flows, bare = split_bare(_fields.concat(flow_parts)) if flow_parts else ({}, {})
    return Walked(
        reason=reason,
        header_ok=header_ok,
        agent=agent,
        agent_v6=agent_v6,
        sub_agent=sub_agent,
        sequence=sequence,
        flows=flows,
        bare=bare,
        counters=_fields.concat(counter_parts) if counter_parts else {},
        kinds=np.bincount(all_kinds, minlength=len(_KIND_NAMES)),
        unknown=np.concatenate(unknown_samples) if unknown_samples else np.zeros(0, np.uint32),
        skipped=np.concatenate(skipped) if skipped else np.zeros(0, np.uint32),
    )


def _sequences(
    stats: DecodeStats,
    state: SequenceTracker | None,
    ex_codes: I64,
    ex_texts: list[str],
    accepted: B,
    sub_agent: npt.NDArray[np.uint32],
    sequence: npt.NDArray[np.uint32],
) -> None:
    idx = np.flatnonzero(accepted)
    if not idx.size:
        return
    codes = ex_codes[idx].astype(np.int64)
    if codes.size and codes.min() < 0:  # no exporter at all (agent unspecified, no peer)
        codes[codes < 0] = len(ex_texts)
        ex_texts = [*ex_texts, ""]
    sid, ukeys = factorize(codes * (1 << 32) + sub_agent[idx])
    streams = [(ex_texts[int(k) >> 32], int(k) & 0xFFFFFFFF) for k in ukeys]
    tracker = state if state is not None else SequenceTracker()
    res = tracker.update(streams, np.asarray(sid, dtype=np.int64), sequence[idx])
    stats.lost_datagrams = res.lost
    stats.sequence_resets = res.resets
    stats.late_datagrams = res.late
    stats.duplicate_datagrams = res.duplicates


class _Heads(NamedTuple):
    """What every row of a datagram shares, one entry per datagram of the batch (and the source)."""

    exporter: pl.Series
    recv: I64
    sequence: npt.NDArray[np.uint32]
    sub_agent: npt.NDArray[np.uint32]
    source: str
    #: the exporter of every accepted datagram when they have one (else None)
    one_exporter: str | None


def _common_columns(dg: I64, h: _Heads, constants: dict[str, object]) -> dict[str, _Column]:
    """The columns every row takes from its datagram; one exporter for all goes to `constants`."""
    cols: dict[str, _Column] = {
        "time": (h.recv[dg], None),
        "sequence": (h.sequence[dg], None),
        "sub_agent_id": (h.sub_agent[dg], None),
    }
    if h.one_exporter is not None:
        constants["exporter"] = h.one_exporter
    else:
        cols["exporter"] = (h.exporter[series(dg.astype(np.uint32))], None)
    return cols


def _flow_frame(c: Cols, stats: DecodeStats, h: _Heads) -> pl.DataFrame:
    dg = c["dg"][0]
    if not dg.size:
        return schema.empty()
    ipv = c["ip_version"][0]
    is4 = ipv == 4
    s4, s6, d4, d6 = (c[k][1] for k in ("src4", "src6", "dst4", "dst6"))
    stats.flows_without_header = int((~c["supported"][0] & ~c["sampled"][0]).sum())
    stats.flows_without_ip = int((~((s4 | s6) & (d4 | d6))).sum())
    constants: dict[str, object] = {"source": h.source, "flow_format": "sflow"}
    cols = _sample_columns(c, h, constants)
    # addresses (sources and destinations together) become text as Endpoints: codes into their
    # distinct texts, or, when mostly distinct, each written by the core; clients and servers
    # are chosen from them by the orientation worked out on the numpy columns
    v6 = np.concatenate([s6 & ~is4, d6 & ~is4])
    ends = Endpoints(
        np.concatenate([c["src4"][0], c["dst4"][0]]),
        np.concatenate([s4 & is4, d4 & is4]),
        # IPv6 words only where some row has one (the compiled core writes no others)
        np.concatenate([c["src6"][0], c["dst6"][0]]) if v6.any() else _NO_V6,
        v6,
    )
    (smac, smac_ok), (dmac, dmac_ok) = c["src_mac"], c["dst_mac"]
    macs = Endpoints.of_macs(np.concatenate([smac, dmac]), np.concatenate([smac_ok, dmac_ok]))
    # orientation (services.orient's rule) on the numpy columns: rows with both ports only
    (proto, _), (sport, sport_ok), (dport, dport_ok) = (c["protocol"], c["src_port"], c["dst_port"])
    flags, flags_ok = c["tcp_flags"]
    ports = sport_ok & dport_ok
    to_dst = server_is_dst(proto, sport, dport, flags_ok & (flags == 2))
    service_port = np.where(to_dst, dport, sport)
    keys = (proto.astype(np.int64) << 16) | service_port
    name_codes, name_keys = factorize(np.where(ports, keys, -1))
    names = default_table().names_of(name_keys.tolist())
    if name_keys.size and name_keys[0] < 0:  # rows without ports: code 0, null
        name_codes = name_codes - 1
        names = names[1:]
    cols.update(
        src_ip=(ends.src, None),
        dst_ip=(ends.dst, None),
        src_mac=(macs.src, None),
        dst_mac=(macs.dst, None),
        client_ip=(ends.pick(to_dst, ports), None),
        server_ip=(ends.pick(~to_dst, ports), None),
        client_port=(np.where(to_dst, sport, dport), ports),
        service_port=(service_port, ports),
        service_name=(text_of(names, name_codes), None),
    )
    return _framed(cols, c, constants, counters=False)


def _bare_frame(c: Cols, stats: DecodeStats, h: _Heads) -> pl.DataFrame:
    """The rows of the bare flow samples (:data:`flowlab.sflow._columns.BARE_FIELDS`): their
    sample's fields and their datagram's; every packet column a null literal."""
    stats.flows_without_header += int((~c["supported"][0]).sum())
    stats.flows_without_ip += c["dg"][0].size
    constants: dict[str, object] = {"source": h.source, "flow_format": "sflow"}
    return _framed(_sample_columns(c, h, constants), c, constants, counters=False)


def _sample_columns(c: Cols, h: _Heads, constants: dict[str, object]) -> dict[str, _Column]:
    """The columns every flow row takes from its datagram (:func:`_common_columns`) and the
    estimates of its sample: bytes (frame length x rate) and packets (the rate)."""
    cols = _common_columns(c["dg"][0], h, constants)
    frame_length, frame_ok = c["frame_length"]
    rate = c["sampling_rate"][0].astype(np.uint64)
    cols.update(bytes=(frame_length * rate, frame_ok), packets=(rate, None))
    return cols


#: what Endpoints reads of IPv6 words when no row has any (it reads none)
_NO_V6 = np.zeros((0, 4), dtype=np.uint32)


def _framed(
    cols: dict[str, _Column], walked: Cols, constants: dict[str, object], *, counters: bool
) -> pl.DataFrame:
    """The canonical frame of `cols`, then the `walked` columns of canonical names, plus
    `constants`: each column a Series with its nulls (:func:`flowlab._series.series`), then one
    select casts to the canonical dtypes and adds the constants as literals (Polars keeps one
    value, not n); a canonical column in none of them is a null literal."""
    dtypes = schema.COUNTER_SCHEMA if counters else schema.FLOW_SCHEMA
    constants = dict(constants)
    columns: list[pl.Series] = []
    for k, t in dtypes.items():
        if k in constants:
            continue
        held = cols if k in cols else walked if k in walked else None
        if held is None:  # no row has it (a packet's, in bare rows; a flow record's, in sFlow)
            constants[k] = None
            continue
        values, ok = held.pop(k)  # released as soon as copied: a smaller peak
        if ok is not None and bool(ok.all()):
            ok = None
        if isinstance(values, pl.Series):
            columns.append(values.alias(k))
        elif t != schema.TIME and ok is None and _constant(values):  # one value: a literal
            constants[k] = values[0].item()
        else:
            columns.append(series(values, ok, name=k, time_ms=t == schema.TIME))
    frame = pl.DataFrame(columns)
    plan = (tuple(zip(frame.columns, frame.dtypes)), tuple(constants.items()), counters)
    return _conformed(frame.select(_selection(*plan)), counters=counters)


def _constant(values: np.ndarray) -> bool:
    """Whether every value is the first (a few sampled values first: most columns vary)."""
    if values.ndim != 1 or not values.size:
        return False
    first = values[0]
    return bool(values[-1] == first and (values[::61] == first).all() and (values == first).all())


@functools.lru_cache(maxsize=256)
def _selection(
    have: tuple[tuple[str, pl.DataType], ...],
    constants: tuple[tuple[str, object], ...],
    counters: bool,
) -> list[pl.Expr]:
    """The canonical columns of a frame of `have` (name, dtype) plus `constants` as literals, in
    the schema's order: built once per shape (making the ~40 expressions costs about as much as
    running them)."""
    dtypes = schema.COUNTER_SCHEMA if counters else schema.FLOW_SCHEMA
    got, const = dict(have), dict(constants)
    return [
        pl.lit(const[k], dtype=t).alias(k)
        if k in const
        else (pl.col(k) if got[k] == t else pl.col(k).cast(t))
        for k, t in dtypes.items()
        if k in const or k in got
    ]


def _conformed(frame: pl.DataFrame, *, counters: bool) -> pl.DataFrame:
    """`frame` built column by column in the canonical dtypes: casts only if one is off."""
    target = schema.COUNTER_SCHEMA if counters else schema.FLOW_SCHEMA
    # the usual case: a cheap comparison (lists: 4x cheaper than Schema's) instead of no-op casts
    if frame.columns == list(target) and frame.dtypes == list(target.values()):
        return frame
    return schema.conform(frame, counters=counters)


def _counter_frame(c: Cols, h: _Heads) -> pl.DataFrame:
    dg = c["dg"][0]
    if not dg.size:
        return schema.empty_counters()
    constants: dict[str, object] = {"source": h.source}
    return _framed(_common_columns(dg, h, constants), c, constants, counters=True)


class SFlowDecoder:
    """sFlow v5 as a :class:`flowlab.decoding.Decoder`: :func:`decode` on UDP port 6343."""

    name = "sflow"
    port = 6343

    def decode(
        self, datagrams: Datagrams, *, source: str = "sflow", state: SequenceTracker | None = None
    ) -> Decoded:
        """Same as :func:`decode`, of checked `datagrams`."""
        return _decode(datagrams, source, state)


#: the registry entry of :mod:`flowlab.decoding.decoder`
DECODER = SFlowDecoder()
