"""NetFlow v5, NetFlow v9 and IPFIX datagrams -> the canonical flow frame (one row per flow record).

:func:`decode` takes many datagrams in one buffer (as :mod:`flowlab.capture`
and :mod:`flowlab.collect` give them) and tells the versions apart by the
first 16 bits (5, 9, 10). Templates, data sets waiting for their template,
sampling rates and sequence numbers live in a :class:`NetFlowState` passed
from batch to batch (``decoder.new_state()``).

How it is fast: the datagrams without templates (nearly all of a stream) are read all at once
(:mod:`flowlab.netflow._prewalk`), the others one by one (:mod:`flowlab.netflow._walk`); the
data records of each template are located and read as columns for all its sets together
(:mod:`flowlab.netflow._columns`).

Volumes: ``bytes``/``packets`` are the record's octet/packet delta counts
multiplied by the sampling rate that applies (from an options record, a
sampling field of the record, or the v5 header); where none is known
``sampling_rate`` is null and the counts are taken as sent — Open vSwitch's
IPFIX already scales them and sends no rate. Open vSwitch reports every
sampled packet twice (ingress and egress, ``direction`` 0 and 1): count one
direction (:func:`one_direction`).

Examples
--------
>>> from flowlab.netflow.encode import ipfix_datagram, Flow
>>> wire = ipfix_datagram([Flow("10.0.0.1", "10.0.0.2", 6, 40000, 443, packets=3, octets=180)])
>>> out = decode(wire, [0], [len(wire)], received_ms=[1_700_000_000_000], peers=["192.0.2.1"])
>>> out.flows.select("exporter", "src_ip", "service_port", "bytes", "packets", "flow_format").row(0)
('192.0.2.1', '10.0.0.1', 443, 180, 3, 'ipfix')
>>> out.flows["sampling_rate"][0] is None   # no rate sent: unknown, counts taken as sent
True
"""

from __future__ import annotations

import bisect
import functools
import math
from collections import Counter
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from flowlab import schema
from flowlab._arrays import I64, B
from flowlab._plain import Frozen, set_fields
from flowlab._series import series
from flowlab.decoding.addresses import Endpoints, factorize, text_of
from flowlab.decoding.batch import BufferLike, Datagrams, Peers
from flowlab.decoding.decoded import Decoded
from flowlab.decoding.stats import DecodeStats
from flowlab.netflow import elements as e
from flowlab.netflow import records as r
from flowlab.netflow._columns import Records, read_uint, read_words, records
from flowlab.netflow._known import classes, in_force, known_serial, recall, remember
from flowlab.netflow._prewalk import prewalk
from flowlab.netflow._walk import Header, Malformed, SetRef, parse_datagram, walk_records
from flowlab.netflow.templates import NetFlowState, PendingSet, Template, TemplateCache
from flowlab.services import default_table, server_is_dst

__all__ = [
    "DECODER",
    "IPFIX_DECODER",
    "NetFlowDecoder",
    "decode",
    "infer_sampling_rate",
    "one_direction",
]

_NTP_EPOCH = 2_208_988_800  # seconds from 1900 (NTP) to 1970 (Unix)
#: protocols with ports (TCP, UDP, SCTP, UDP-Lite, DCCP)
_PORTED = np.array([6, 17, 132, 136, 33], dtype=np.int64)
_ICMP = np.array([1, 58], dtype=np.int64)


class _Column:
    """Values added one at a time (the per-datagram walk) or as numpy runs (the vector pass),
    read back as one array; a single value by its index (bisecting the runs)."""

    __slots__ = ("_dtype", "_ends", "_runs", "_size", "_tail")

    def __init__(self, dtype: type = np.int64) -> None:
        self._dtype = dtype
        self._runs: list[np.ndarray] = []
        self._ends: list[int] = []  # each run's end index
        self._tail: list[Any] = []
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, value: float) -> None:
        self._tail.append(value)
        self._size += 1

    def extend(self, values: np.ndarray) -> None:
        self._flush()
        if values.size:
            self._runs.append(values)
            self._ends.append(self._size + values.size)
            self._size += values.size

    def _flush(self) -> None:
        if self._tail:
            self._runs.append(np.asarray(self._tail, dtype=self._dtype))
            self._ends.append(self._size)
            self._tail = []

    def __getitem__(self, k: int) -> Any:
        self._flush()
        j = bisect.bisect_right(self._ends, k)
        return self._runs[j][k - (self._ends[j - 1] if j else 0)].item()

    def array(self) -> np.ndarray:
        """All the values as one array (kept as the one run)."""
        self._flush()
        if len(self._runs) != 1:
            whole: np.ndarray = (
                np.concatenate(self._runs).astype(self._dtype, copy=False)
                if self._runs
                else np.zeros(0, dtype=self._dtype)
            )
            self._runs, self._ends = [whole], [whole.size]
        return self._runs[0]


class _Dgram:
    """Per-datagram facts (datagrams of the batch, then released waiting sets). (A plain class,
    as :class:`flowlab.netflow._walk.Header` says why.)"""

    __slots__ = (
        "_arrays", "_names", "batch", "domain", "export_ns", "export_s", "exporter", "rate",
        "recv", "sequence", "uptime", "version",
    )  # fmt: skip

    def __init__(self) -> None:
        self.recv, self.domain, self.version = _Column(), _Column(), _Column()
        self.export_s, self.export_ns, self.uptime = _Column(), _Column(), _Column()
        self.sequence = _Column()
        self.exporter: list[str] = []
        self.rate = _Column(np.float64)  # NaN: unknown (v5: from the header)
        self.batch = _Column()  # index in the batch, -1 for released sets
        self._arrays: dict[str, np.ndarray] = {}
        self._names: list[str] = []

    def array(self, name: str) -> np.ndarray:
        """A column as a numpy array (int64; ``rate`` float64): call after the walk."""
        column: _Column = getattr(self, name)
        return column.array()

    def exporters(self) -> tuple[list[str], I64]:
        """The exporters' names (sorted) and each datagram's index among them (-1: none)."""
        if "__exporter" not in self._arrays:
            if self.exporter and self.exporter.count(self.exporter[0]) == len(self.exporter):
                self._names = [self.exporter[0]]
                self._arrays["__exporter"] = np.full(
                    len(self.exporter), 0 if self._names[0] else -1
                )
                return self._names, self._arrays["__exporter"]
            names = sorted(set(self.exporter))
            index = {x: k for k, x in enumerate(names)}
            self._arrays["__exporter"] = np.fromiter(
                (index[x] if x else -1 for x in self.exporter), dtype=np.int64,
                count=len(self.exporter),
            )  # fmt: skip
            self._names = names
        return self._names, self._arrays["__exporter"]

    def add(self, recv: int, exporter: str, head: Header, batch: int) -> int:
        self.recv.append(recv)
        self.exporter.append(exporter)
        self.domain.append(head.domain)
        self.version.append(head.version)
        self.export_s.append(head.export_s)
        self.export_ns.append(head.export_ns)
        self.uptime.append(head.uptime_ms)
        self.sequence.append(head.sequence)
        interval = head.sampling & 0x3FFF
        self.rate.append(float(interval or 1) if head.version == r.NETFLOW5 else math.nan)
        self.batch.append(batch)
        return len(self.recv) - 1


class _Job:
    """The data sets of one template (object) found in the batch."""

    __slots__ = ("dg", "ends", "starts", "template")

    def __init__(self, template: Template) -> None:
        self.template = template
        self.starts, self.ends, self.dg = _Column(), _Column(), _Column()


def decode(
    buffer: BufferLike,
    offsets: npt.ArrayLike,
    lengths: npt.ArrayLike,
    *,
    received_ms: npt.ArrayLike,
    peers: Peers = None,
    source: str = "netflow",
    state: NetFlowState | Any | None = None,
) -> Decoded:
    """Decode the NetFlow v5/v9 and IPFIX datagrams at ``buffer[offsets[i] : offsets[i] + lengths[i]]``.

    Parameters
    ----------
    buffer : bytes, bytearray, memoryview or numpy uint8 array
        Datagrams (UDP payloads).
    offsets, lengths : array-like of int
        Where each datagram is.
    received_ms : array-like of int, or int
        Receive time of each datagram (UTC epoch ms) -> ``time``.
    peers : sequence of str, optional
        UDP source address of each datagram: the ``exporter`` (these protocols
        carry no agent address), and with the observation domain the key of
        the templates.
    source : str
        Value of the ``source`` column.
    state : NetFlowState, optional
        Templates, waiting data sets, sampling rates and sequence numbers;
        pass the same one with every batch, in arrival order. Without it each
        call starts afresh (data before its template in the same call is still
        decoded).

    Returns
    -------
    Decoded
        ``flows`` (one row per flow record), empty ``counters``, ``stats``.

    Raises
    ------
    UsageError
        Only for inconsistent arguments; bad bytes are counted, never raised.
    """
    datagrams = Datagrams.of(buffer, offsets, lengths, received_ms=received_ms, peers=peers)
    return _decode(datagrams, source, state)


def _decode(datagrams: Datagrams, source: str, state: NetFlowState | Any | None) -> Decoded:
    """:func:`decode` of checked `datagrams`."""
    data, off, ln = datagrams.buffer, datagrams.offsets, datagrams.lengths
    recv, peers = datagrams.received_ms, datagrams.peers
    n = off.size
    st = state if isinstance(state, NetFlowState) else NetFlowState()
    cache = st.templates
    stats = DecodeStats(datagrams=n)
    bad: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    dgs = _Dgram()
    jobs: dict[Template, _Job] = {}  # records of equal templates are decoded together
    extra: list[bytes] = []  # bytes of released waiting sets, appended after `data`
    extra_size = [data.size]
    options_records: Counter[int] = Counter()  # options data records per datagram (sequence)
    waiting_dg: set[int] = set()  # batch datagrams with a set left waiting (record count unknown)
    ex_codes, ex_names = _codes(peers, n)
    raw = memoryview(data.data)

    def add_job(t: Template, start: int, end: int, dg: int) -> None:
        job = jobs.get(t)
        if job is None:
            job = jobs[t] = _Job(t)
        job.starts.append(start)
        job.ends.append(end)
        job.dg.append(dg)

    def data_set(exporter: str, head: Header, ref: SetRef, dg: int, view: memoryview) -> None:
        t = cache.get(exporter, head.domain, ref.set_id)
        if t is None:
            item = PendingSet(
                exporter, head.domain, ref.set_id, bytes(view[ref.start : ref.end]),
                int(dgs.recv[dg]), head.export_s, head.uptime_ms, head.version, head.sequence,
            )  # fmt: skip
            skipped["pending_overflow"] += cache.wait(item)
            kinds["data_waiting"] += 1
            if dgs.batch[dg] >= 0:
                waiting_dg.add(dgs.batch[dg])
        elif t.scope_count:
            got = _options(cache, exporter, head.domain, t, view, ref.start, ref.end, skipped)
            options_records[dg] += got
            kinds["options_data"] += 1
        else:
            add_job(t, ref.start, ref.end, dg)
            kinds["data"] += 1

    def slow(i: int) -> None:
        """One datagram the vector pass did not take: checked and walked on its own."""
        o, m = int(off[i]), int(ln[i])
        if o < 0 or m < 0 or o + m > data.size:
            bad["truncated_header"] += 1
            return
        try:
            head, sets = parse_datagram(raw, o, m)
        except (Malformed, struct_error) as exc:
            bad[str(exc.args[0]) if isinstance(exc, Malformed) else "truncated_header"] += 1
            return
        exporter = ex_names[ex_codes[i]]
        dg = dgs.add(int(recv[i]), exporter, head, i)
        if head.version == r.NETFLOW5:
            add_job(r.V5_TEMPLATE, sets[0].start, sets[0].end, dg)
            kinds["data"] += 1
            return
        if all(ref.set_id < r.FIRST_DATA_SET and not ref.withdrawn for ref in sets):
            remember(raw, o, m, head.version, [ref.templates for ref in sets])
        for ref in sets:
            if (
                ref.templates
                and not ref.withdrawn
                and in_force(cache, exporter, head.domain, ref.templates)
            ):
                kinds["options_template" if ref.templates[0].scope_count else "template"] += len(
                    ref.templates
                )  # the same templates sent again (parsed once: the same objects): no change
                continue
            for tid in ref.withdrawn:
                cache.withdraw(exporter, head.domain, tid)
                kinds["withdrawal"] += 1
            for t in ref.templates:
                cache.add(exporter, head.domain, t)
                kinds["options_template" if t.scope_count else "template"] += 1
                for item in cache.release(exporter, head.domain, t.id):
                    h = Header(item.version, item.domain, item.sequence, item.export_s)
                    h.uptime_ms = item.uptime_ms
                    pdg = dgs.add(item.received_ms, item.exporter, h, -1)
                    blob = memoryview(item.data)
                    if t.scope_count:
                        _options(cache, exporter, head.domain, t, blob, 0, len(blob), skipped)
                        continue
                    start = extra_size[0]
                    extra.append(item.data)
                    extra_size[0] += len(item.data)
                    add_job(t, start, start + len(item.data), pdg)
            if ref.set_id >= r.FIRST_DATA_SET:
                data_set(exporter, head, ref, dg, raw)

    checked: dict[tuple[int, str, int], tuple[list[list[Template]], int]] = {}

    def _no_change(known: list[list[Template]], exporter: str, domain: int) -> bool:
        """Whether a datagram of these template sets changes nothing (checked once per
        template change: by `cache.serial`)."""
        tag = (id(known), exporter, domain)
        seen = checked.get(tag)
        if seen is not None and seen[0] is known and seen[1] == cache.serial:
            return not cache.pending
        if all(in_force(cache, exporter, domain, ts) for ts in known):
            checked[tag] = (known, cache.serial)
            return True
        return False

    pre = prewalk(data, off, ln)

    def fast_run(a: int, b: int) -> None:
        """Datagrams a..b-1, all taken by the vector pass: no template among them."""
        base = len(dgs.recv)
        sl = slice(a, b)
        dgs.recv.extend(recv[sl].astype(np.int64, copy=False))
        if len(ex_names) == 1:
            dgs.exporter += ex_names * (b - a)
        else:
            dgs.exporter += [ex_names[c] for c in ex_codes[a:b].tolist()]
        dgs.domain.extend(pre.domain[sl])
        dgs.version.extend(pre.version[sl])
        dgs.export_s.extend(pre.export_s[sl])
        dgs.export_ns.extend(pre.export_ns[sl])
        dgs.uptime.extend(pre.uptime[sl])
        dgs.sequence.extend(pre.sequence[sl])
        interval = (pre.sampling[sl] & 0x3FFF).astype(np.float64)
        is5 = pre.version[sl] == r.NETFLOW5
        dgs.rate.extend(np.where(is5, np.where(interval > 0, interval, 1.0), np.nan))
        dgs.batch.extend(np.arange(a, b, dtype=np.int64))
        v5 = np.flatnonzero(is5)
        if v5.size:
            job = jobs.setdefault(r.V5_TEMPLATE, _Job(r.V5_TEMPLATE))
            starts = off[a + v5] + r.HEADER[r.NETFLOW5]
            counts = read_uint(data, off[a + v5] + 2, 2).astype(np.int64)
            job.starts.extend(starts)
            job.ends.extend(starts + counts * r.V5_RECORD)
            job.dg.extend(base + v5)
            kinds["data"] += int(v5.size)
        lo, hi = np.searchsorted(pre.set_dg, [a, b])
        if lo == hi:
            return
        dg = pre.set_dg[lo:hi]
        sid = pre.set_id[lo:hi]
        key = (ex_codes[dg] << 48) | (pre.domain[dg] << 16) | sid
        inverse, uniq = factorize(key)
        for k, u in enumerate(uniq.tolist()):
            rows = np.flatnonzero(inverse == k)
            exporter = ex_names[u >> 48]
            domain = (u >> 16) & 0xFFFFFFFF
            t = cache.get(exporter, domain, u & 0xFFFF)
            if t is not None and not t.scope_count:
                tj = jobs.get(t)
                if tj is None:
                    tj = jobs[t] = _Job(t)
                tj.starts.extend(pre.set_start[lo:hi][rows])
                tj.ends.extend(pre.set_end[lo:hi][rows])
                tj.dg.extend(base + dg[rows] - a)
                kinds["data"] += int(rows.size)
                continue
            for j in rows.tolist():  # options records, or data waiting for its template: few
                d = int(dg[j])
                head = Header(
                    int(pre.version[d]), domain, int(pre.sequence[d]), int(pre.export_s[d])
                )
                head.uptime_ms = int(pre.uptime[d])
                ref = SetRef(u & 0xFFFF, int(pre.set_start[lo + j]), int(pre.set_end[lo + j]))
                data_set(exporter, head, ref, base + d - a, raw)

    # datagrams of template sets only, alike byte for byte, as classes: those seen before whose
    # templates are all in force change nothing and stay within the vector pass
    nonfast = np.flatnonzero(~pre.fast)
    cls, reps = classes(data, off, ln, pre.version, pre.domain, ex_codes, nonfast)
    known: list[list[list[Template]] | None] = [None] * len(reps)
    noop: dict[int, bool] = {}  # class -> changes nothing, while the cache is as `seen`
    seen = (-1, -1, -1)

    def judged(c: int) -> bool:
        """Whether class `c`'s datagrams change nothing (-1: no class, they are walked)."""
        done = noop.get(c) if c >= 0 else False
        if done is None:
            i = reps[c]
            known[c] = known[c] or recall(raw, int(off[i]), int(ln[i]), int(pre.version[i]))
            sets = known[c]
            done = noop[c] = sets is not None and _no_change(
                sets, ex_names[ex_codes[i]], int(pre.domain[i])
            )
        return done

    def next_stop(p: int) -> int:
        """The first of the datagrams `p`.. (of `nonfast`) to walk: of no class, or of a class
        whose templates are not all in force. Only the classes met before it are judged (a
        batch's first datagrams of templates change the cache one after another, and each
        change would have every class judged again), in windows that double in size."""
        if p < nonfast.size and not judged(int(cls[p])):
            return p
        width = 64
        while p < nonfast.size:
            window = cls[p : p + width]
            _, first = np.unique(window, return_index=True)
            for f in np.sort(first).tolist():  # each class's first datagram in the window
                if not judged(int(window[f])):
                    return p + f
            p += window.size
            width *= 2
        return nonfast.size

    at = p = 0
    while True:
        if seen != (cache.serial, len(cache.pending), known_serial()):
            seen = (cache.serial, len(cache.pending), known_serial())
            noop.clear()
        nxt = next_stop(p)
        if nxt > p:
            for c, times in enumerate(np.bincount(cls[p:nxt], minlength=len(reps)).tolist()):
                for ts in (known[c] or []) if times else []:
                    kinds["options_template" if ts[0].scope_count else "template"] += (
                        len(ts) * times
                    )
        if nxt == nonfast.size:
            break
        i = int(nonfast[nxt])
        if at < i:
            fast_run(at, i)
        slow(i)
        at, p = i + 1, nxt + 1
    if at < n:
        fast_run(at, n)
    if n:
        skipped["template_expired"] += cache.expire(int(recv.max()))
    whole = (
        np.concatenate([data, np.frombuffer(b"".join(extra), dtype=np.uint8)]) if extra else data
    )
    flows, flow_dg, rejected = _flows(whole, jobs, dgs, cache, stats, source)
    for b in rejected:  # a data record overran its set: the datagram is rejected
        if dgs.batch[b] >= 0:
            bad["record_overrun"] += 1
        else:
            skipped["record_overrun"] += 1
    if rejected:
        keep = ~np.isin(flow_dg, list(rejected))
        flows, flow_dg = flows.filter(series(keep)), flow_dg[keep]
    _sequences(st, stats, dgs, flow_dg, rejected, waiting_dg, options_records)
    stats.datagrams_bad = dict(bad)
    stats.datagrams_ok = n - sum(bad.values())
    stats.sets_skipped = {k: v for k, v in skipped.items() if v}
    stats.samples = dict(kinds)
    frame = flows
    stats.flows = frame.height
    stats.flows_without_ip = int(frame["src_ip"].is_null().sum()) if frame.height else 0
    stats.flows_sampling_unknown = (
        int(frame["sampling_rate"].is_null().sum()) if frame.height else 0
    )
    return Decoded(flows=frame, counters=_no_counters(), stats=stats)


struct_error = __import__("struct").error


def _codes(peers: Peers, n: int) -> tuple[npt.NDArray[np.int64], list[str]]:
    """Exporter codes per datagram and their names (the UDP source addresses; "" unknown)."""
    if peers is None:
        return np.zeros(n, dtype=np.int64), [""]
    if isinstance(peers, pl.Series):  # as from a capture: no Python string per datagram
        text = peers.cast(pl.String).fill_null("")
        if not n or bool((text == text[0]).all()):
            return np.zeros(n, dtype=np.int64), text[:1].to_list() if n else []
        codes = text.rank("dense").to_numpy().astype(np.int64) - 1  # in the names' order
        return codes, text.unique().sort().to_list()
    peers = list(peers)
    if peers and peers.count(peers[0]) == len(peers):  # one exporter (pointer compares first)
        return np.zeros(len(peers), dtype=np.int64), [str(peers[0] or "")]
    names: dict[str, int] = {}
    codes = np.fromiter(
        (names.setdefault(str(x or ""), len(names)) for x in peers),
        dtype=np.int64,
        count=len(peers),
    )
    return codes, list(names)


def _options(
    cache: TemplateCache,
    exporter: str,
    domain: int,
    t: Template,
    view: memoryview,
    start: int,
    end: int,
    skipped: Counter[str],
) -> int:
    """Read options records (few): sampling rates of the domain or of a sampler id; how many."""
    if not t.variable and not _gives_rates(t):  # only their count matters (sequence numbers)
        return max(end - start, 0) // t.record_length
    rows = walk_records(view, start, end, t)
    if rows is None:
        skipped["record_overrun"] += 1
        return 0
    for values in rows:
        got: dict[int, int | float] = {}
        for (eid, pen, length), raw in zip(t.fields, values):
            if pen != 0 or not raw or length > 8:
                continue
            if eid == e.SAMPLING_PROBABILITY and length in (4, 8):
                got[eid] = float(np.frombuffer(raw, dtype=">f8" if length == 8 else ">f4")[0])
            else:
                got[eid] = int.from_bytes(raw, "big")
        rate = _rate_of(got)
        if rate is None:
            continue
        sampler = next((int(got[k]) for k in e.SAMPLER_FIELDS if k in got), None)
        if sampler is None:
            cache.domain_rates[(exporter, domain)] = rate
        else:
            cache.sampler_rates[(exporter, domain, sampler)] = rate
    return len(rows)


@functools.lru_cache(maxsize=256)
def _gives_rates(t: Template) -> bool:
    """Whether an options template has a sampling-algorithm field (IANA's, not an enterprise's)."""
    return any(pen == 0 and eid in e.SAMPLING_FIELDS for eid, pen, _ in t.fields)


def _rate_of(got: dict[int, int | float]) -> float | None:
    """The 1-in-N rate an options (or data) record's sampling fields give, else None."""
    for k in (e.SAMPLING_INTERVAL, e.SAMPLER_RANDOM_INTERVAL):
        if got.get(k):
            return float(got[k])
    interval, space = got.get(e.SAMPLING_PACKET_INTERVAL), got.get(e.SAMPLING_PACKET_SPACE)
    if interval:
        return (float(interval) + float(space or 0)) / float(interval)
    p = got.get(e.SAMPLING_PROBABILITY)
    if p and 0 < float(p) <= 1:
        return 1.0 / float(p)
    return None


def _flows(
    data: npt.NDArray[np.uint8],
    jobs: dict[Template, _Job],
    dgs: _Dgram,
    cache: TemplateCache,
    stats: DecodeStats,
    source: str,
) -> tuple[pl.DataFrame, I64, set[int]]:
    """The flow frame of the jobs' data records, each row's datagram, and the datagrams rejected.

    The data sets of every template are walked together, in datagram order (of one datagram's
    sets, those of the templates met first come first): the records come out in the frame's
    order, each read field a row of one value matrix.
    """
    stats.elements_skipped = {}
    if not jobs:
        return schema.empty(), np.zeros(0, dtype=np.int64), set()
    templates = tuple(jobs)
    set_starts = [job.starts.array() for job in jobs.values()]
    sizes = [a.size for a in set_starts]
    set_dg = np.concatenate([job.dg.array() for job in jobs.values()])
    order = np.argsort(set_dg, kind="stable")  # sets in datagram order
    starts = np.concatenate(set_starts)[order]
    ends = np.concatenate([job.ends.array() for job in jobs.values()])[order]
    set_template = np.repeat(np.arange(len(templates), dtype=np.int64), sizes)[order]
    set_dg = set_dg[order]
    layout = _layout(templates)
    rec = records(
        data, starts, ends, set_template, list(templates), layout.columns,
        len(layout.value_of), len(layout.offset_of),
    )  # fmt: skip
    rejected = set(set_dg[rec.bad_sets].tolist())
    row_template = set_template[rec.set_index]
    unknown: Counter[tuple[int, int]] = Counter()
    for t, count in zip(templates, np.bincount(row_template, minlength=len(templates)).tolist()):
        for eid, pen, _ in t.fields if count else ():
            if (pen, eid) not in e.ELEMENTS and pen != -1:
                unknown[(pen, eid)] += count
    stats.elements_skipped = dict(unknown)
    if not rec.set_index.size:
        return schema.empty(), np.zeros(0, dtype=np.int64), rejected
    dg = set_dg[rec.set_index]
    frame, dg = _frame(_fields(data, rec, layout, row_template, dg, dgs, cache), dgs, source)
    return frame, dg, rejected


#: the elements :func:`_fields` reads as integers (fields of 1-8 bytes; the value rows of
#: :func:`_layout`), and the 16-byte ones it reads the offsets of (IPv6 addresses)
_READ = frozenset(
    (0, eid)
    for eid in (
        e.SOURCE_IPV4_ADDRESS, e.DESTINATION_IPV4_ADDRESS, e.PROTOCOL_IDENTIFIER,
        e.SOURCE_TRANSPORT_PORT, e.DESTINATION_TRANSPORT_PORT, e.ICMP_TYPE_CODE_IPV4,
        e.ICMP_TYPE_CODE_IPV6, e.ICMP_TYPE_IPV4, e.ICMP_TYPE_IPV6, e.ICMP_CODE_IPV4,
        e.ICMP_CODE_IPV6, e.IP_VERSION, e.ETHERNET_TYPE, e.IP_CLASS_OF_SERVICE, e.IP_TTL,
        e.VLAN_ID, e.DOT1Q_VLAN_ID, e.SOURCE_MAC_ADDRESS, e.DESTINATION_MAC_ADDRESS,
        e.INGRESS_INTERFACE, e.EGRESS_INTERFACE, e.FLOW_DIRECTION, e.TCP_CONTROL_BITS,
        e.PACKET_DELTA_COUNT, *e.TCP_FLAG_COUNTERS, e.OCTET_DELTA_COUNT, 352,
        e.SAMPLING_INTERVAL, e.SAMPLER_RANDOM_INTERVAL, *e.SAMPLER_FIELDS,
        e.SYSTEM_INIT_TIME_MILLISECONDS, e.FLOW_START_SECONDS, e.FLOW_START_MILLISECONDS,
        e.FLOW_START_MICROSECONDS, e.FLOW_START_NANOSECONDS, e.FLOW_START_DELTA_MICROSECONDS,
        e.FLOW_START_SYS_UP_TIME, e.FLOW_END_SECONDS, e.FLOW_END_MILLISECONDS,
        e.FLOW_END_MICROSECONDS, e.FLOW_END_NANOSECONDS, e.FLOW_END_DELTA_MICROSECONDS,
        e.FLOW_END_SYS_UP_TIME,
    )
)  # fmt: skip


_OFFSETS = frozenset((0, eid) for eid in (e.SOURCE_IPV6_ADDRESS, e.DESTINATION_IPV6_ADDRESS))
#: the four words of an IPv6 address no record has (broadcast, never written)
_NO_WORDS = np.zeros(4, dtype=np.uint32)
_NO_WORDS.flags.writeable = False


class _Layout:
    """Where the fields of a batch's templates go (:func:`_layout`). (A plain class, as
    :class:`flowlab.netflow._walk.Header` says why.)"""

    __slots__ = ("columns", "offset_of", "value_of", "with_offset", "with_value")

    def __init__(self, templates: tuple[Template, ...]) -> None:
        #: (enterprise, element) -> its row of values: the first field of each :data:`_READ`
        #: element in some template, if 1-8 bytes long
        self.value_of: dict[tuple[int, int], int] = {}
        #: (0, element) -> its row of offsets: the IPv6 addresses, if 16 bytes long
        self.offset_of: dict[tuple[int, int], int] = {}
        picked = []  # per template: its (field, value row) and (field, offset row) pairs
        for t in templates:
            vals, offs = [], []
            for key, j in _where(t).items():
                length = t.fields[j][2]
                if key in _READ and 1 <= length <= 8:
                    vals.append((j, self.value_of.setdefault(key, len(self.value_of))))
                elif key in _OFFSETS and length == 16:
                    offs.append((j, self.offset_of.setdefault(key, len(self.offset_of))))
            picked.append((vals, offs))
        v = len(self.value_of)
        self.columns: list[list[int]] = []  # per template, per field: value row, v + offset row
        self.with_value = np.zeros((max(v, 1), len(templates)), dtype=bool)  # element x template
        self.with_offset = np.zeros((max(len(self.offset_of), 1), len(templates)), dtype=bool)
        for k, (t, (vals, offs)) in enumerate(zip(templates, picked)):
            cols = [-1] * len(t.fields)
            for j, c in vals:
                cols[j] = c
                self.with_value[c, k] = True
            for j, c in offs:
                cols[j] = v + c
                self.with_offset[c, k] = True
            self.columns.append(cols)
        self.with_value.flags.writeable = self.with_offset.flags.writeable = False  # cached


@functools.lru_cache(maxsize=64)
def _layout(templates: tuple[Template, ...]) -> _Layout:
    """The field layout of a batch's templates (batches repeat their templates: made once)."""
    return _Layout(templates)


@functools.lru_cache(maxsize=1024)
def _where(t: Template) -> dict[tuple[int, int], int]:
    """Each (enterprise, element) of a template -> its first field (a repeated one: the first)."""
    where: dict[tuple[int, int], int] = {}
    for j, (eid, pen, _) in enumerate(t.fields):
        where.setdefault((pen, eid), j)
    return where


def _fields(
    data: npt.NDArray[np.uint8],
    rec: Records,
    layout: _Layout,
    row_template: I64,
    dg: I64,
    dgs: _Dgram,
    cache: TemplateCache,
) -> dict[str, tuple[np.ndarray, B]]:
    """The canonical columns (values, valid), plus internal ones, of a batch's records (in
    datagram order: ``__dg``, each row's datagram), from the rows of :func:`records`."""
    n = dg.size
    # an element no template of the batch has: these two, shared (read-only; callers test
    # `ok is no` to skip the work of a column that is all null)
    no = np.zeros(n, dtype=bool)
    zero = np.zeros(n, dtype=np.uint64)
    yes = np.ones(n, dtype=bool)
    no.flags.writeable = zero.flags.writeable = yes.flags.writeable = False
    used = np.bincount(row_template, minlength=layout.with_value.shape[1]) > 0  # templates here

    def valid(has: B) -> B:
        """The rows whose template has the field (`has`: per template)."""
        if has[used].all():
            return yes
        return has[row_template] if has[used].any() else no

    def uint(eid: int, pen: int = 0) -> tuple[npt.NDArray[np.uint64], B]:
        c = layout.value_of.get((pen, eid))
        if c is None:
            return zero, no
        ok = valid(layout.with_value[c])
        return (rec.values[c], ok) if ok is not no else (zero, no)

    def first(*eids: int) -> tuple[npt.NDArray[np.uint64], B]:
        vals, ok = zero, no
        for eid in eids:
            v, k = uint(eid)
            if k is no:
                continue
            if ok is no:
                vals, ok = v, k
            else:
                vals, ok = np.where(ok, vals, v), ok | k
        return vals, ok

    def addr6(eid: int) -> tuple[npt.NDArray[np.uint32], B]:
        c = layout.offset_of.get((0, eid))
        ok = no if c is None else valid(layout.with_offset[c])
        if c is None or ok is no:  # no IPv6 address: zeros that take no memory
            return np.broadcast_to(_NO_WORDS, (n, 4)), no
        vals = np.zeros((n, 4), dtype=np.uint32)
        at = rec.offsets[c]
        vals[ok] = read_words(data, at if ok is yes else at[ok])
        return vals, ok

    cols: dict[str, tuple[np.ndarray, B]] = {"__dg": (dg, yes)}
    s4, s4ok = uint(e.SOURCE_IPV4_ADDRESS)
    d4, d4ok = uint(e.DESTINATION_IPV4_ADDRESS)
    s6, s6ok = addr6(e.SOURCE_IPV6_ADDRESS)
    d6, d6ok = addr6(e.DESTINATION_IPV6_ADDRESS)
    cols |= {"__s4": (s4, s4ok), "__d4": (d4, d4ok), "__s6": (s6, s6ok), "__d6": (d6, d6ok)}
    proto, proto_ok = uint(e.PROTOCOL_IDENTIFIER)
    cols["protocol"] = (proto, proto_ok)
    ported = proto_ok & np.isin(proto.astype(np.int64), _PORTED)
    icmp = proto_ok & np.isin(proto.astype(np.int64), _ICMP)
    sp, spok = uint(e.SOURCE_TRANSPORT_PORT)
    dp, dpok = uint(e.DESTINATION_TRANSPORT_PORT)
    cols["src_port"] = (sp, spok & ported)
    cols["dst_port"] = (dp, dpok & ported)
    # ICMP type and code: their own elements, else type*256+code in the destination port (v5, v9)
    tc, tcok = first(e.ICMP_TYPE_CODE_IPV4, e.ICMP_TYPE_CODE_IPV6)
    tc, tcok = np.where(tcok, tc, dp), tcok | dpok
    ty, tyok = first(e.ICMP_TYPE_IPV4, e.ICMP_TYPE_IPV6)
    co, cook = first(e.ICMP_CODE_IPV4, e.ICMP_CODE_IPV6)
    cols["icmp_type"] = (np.where(tyok, ty, tc >> np.uint64(8)), icmp & (tyok | tcok))
    cols["icmp_code"] = (np.where(cook, co, tc & np.uint64(0xFF)), icmp & (cook | tcok))
    ver, verok = uint(e.IP_VERSION)
    ver = np.where(verok, ver, np.where(s4ok | d4ok, 4, np.where(s6ok | d6ok, 6, 0)))
    verok = verok | s4ok | d4ok | s6ok | d6ok
    cols["ip_version"] = (ver, verok)
    et, etok = uint(e.ETHERNET_TYPE)
    et_ip = np.where(ver == 6, 0x86DD, 0x0800).astype(np.uint64)
    cols["ethertype"] = (np.where(etok, et, et_ip), etok | verok)
    cols["tos"] = uint(e.IP_CLASS_OF_SERVICE)
    cols["ttl"] = uint(e.IP_TTL)
    cols["vlan"] = first(e.VLAN_ID, e.DOT1Q_VLAN_ID)
    cols["__smac"] = uint(e.SOURCE_MAC_ADDRESS)
    cols["__dmac"] = uint(e.DESTINATION_MAC_ADDRESS)
    cols["in_if"] = uint(e.INGRESS_INTERFACE)
    cols["out_if"] = uint(e.EGRESS_INTERFACE)
    cols["direction"] = uint(e.FLOW_DIRECTION)
    # TCP flags: tcpControlBits, else the per-flag counters (IEs 218-223) where they are per
    # record. Open vSwitch's are not: it fills them from exporter-wide running totals
    # (dpif_ipfix_global_stats in ofproto/ofproto-dpif-ipfix.c), so they exceed the record's
    # packet count and give no flags (tcp_flags null; the port rule orients those records).
    bits, bok = uint(e.TCP_CONTROL_BITS)
    pk, pkok = uint(e.PACKET_DELTA_COUNT)
    from_counts = np.zeros(n, dtype=np.uint64)
    cok = no
    counts: dict[int, npt.NDArray[np.uint64]] = {}
    for eid, bit in e.TCP_FLAG_COUNTERS.items():
        v, k = uint(eid)
        if k.any():
            counts[bit] = v
            np.bitwise_or(from_counts, np.uint64(bit), out=from_counts, where=v > 0)
            cok = cok | k
    if counts:  # (the largest counter, one array at a time: not a stack of six)
        cok = cok & pkok & (functools.reduce(np.maximum, counts.values()) <= pk)
    tcp = proto_ok & (proto == 6)
    flags = np.where(bok, bits & np.uint64(0x1FF), from_counts)
    flags_ok = tcp & (bok | cok)
    cols["tcp_flags"] = (flags, flags_ok)
    # the initiator: a record of SYNs without ACK is from the client (+1: the source), a
    # one-packet SYN-ACK record or one of SYN-ACKs only (counters) from the server (-1: the
    # destination initiated); else ElastiFlow's port rule
    syn, ack = counts.get(0x02), counts.get(0x10)
    synack = (flags & np.uint64(0x12)) == 0x12
    init = np.where((flags & np.uint64(0x12)) == 0x02, 1, np.where(synack & (pk == 1), -1, 0))
    if syn is not None and ack is not None:
        init = np.where(cok & (syn > 0) & (syn == ack) & (syn == pk), -1, init)
    cols["__init"] = (init.astype(np.int64), flags_ok)
    # volumes and sampling
    oc, ocok = first(e.OCTET_DELTA_COUNT, 352)  # layer2OctetDeltaCount where no L3 count
    rate = dgs.array("rate")[dg]
    own, ownok = first(e.SAMPLING_INTERVAL, e.SAMPLER_RANDOM_INTERVAL)
    rate = np.where(ownok & (own > 0), own.astype(np.float64), rate)
    sampler, sok = first(*e.SAMPLER_FIELDS)
    ex = (
        [dgs.exporter[k] for k in dg.tolist()]
        if (cache.domain_rates or cache.sampler_rates)
        else []
    )
    if ex:
        dom = dgs.array("domain")[dg]
        looked = np.array(
            [
                cache.rate(x, int(d), int(s) if k else None) or math.nan
                for x, d, s, k in zip(ex, dom.tolist(), sampler.tolist(), sok.tolist())
            ],
            dtype=np.float64,
        )
        rate = np.where(np.isnan(rate), looked, rate)
    known = ~np.isnan(rate)
    cols["bytes"] = (_scaled(oc, rate, known), ocok)
    cols["packets"] = (_scaled(pk, rate, known), pkok)
    cols["sampling_rate"] = (np.rint(np.where(known, rate, 0)), known)
    # times
    cols["flow_start"], cols["flow_end"] = _times(uint, dg, dgs, n)
    return cols


def _scaled(
    counts: npt.NDArray[np.uint64], rate: npt.NDArray[np.float64], known: B
) -> npt.NDArray[np.uint64]:
    """Counts x rate: exact integer products for whole rates, rounded for fractional ones."""
    r = np.where(known, rate, 1.0)
    whole = r == np.floor(r)
    exact = counts * r.astype(np.uint64)
    if whole.all():
        return exact
    return np.where(whole, exact, np.rint(counts.astype(np.float64) * r).astype(np.uint64))


def _times(
    uint: Any, dg: I64, dgs: _Dgram, n: int
) -> tuple[tuple[np.ndarray, B], tuple[np.ndarray, B]]:
    export_ms = dgs.array("export_s")[dg] * 1000
    export_ms += dgs.array("export_ns")[dg] // 1_000_000
    uptime = dgs.array("uptime")[dg]
    init, init_ok = uint(e.SYSTEM_INIT_TIME_MILLISECONDS)
    out = []
    for sec, ms, us, ns, delta, sysup in (
        (e.FLOW_START_SECONDS, e.FLOW_START_MILLISECONDS, e.FLOW_START_MICROSECONDS,
         e.FLOW_START_NANOSECONDS, e.FLOW_START_DELTA_MICROSECONDS, e.FLOW_START_SYS_UP_TIME),
        (e.FLOW_END_SECONDS, e.FLOW_END_MILLISECONDS, e.FLOW_END_MICROSECONDS,
         e.FLOW_END_NANOSECONDS, e.FLOW_END_DELTA_MICROSECONDS, e.FLOW_END_SYS_UP_TIME),
    ):  # fmt: skip
        got: list[tuple[I64, B]] = []  # of the elements a record may have, the first wins
        for eid, ms_of in (
            (ms, lambda v: v.astype(np.int64)),
            (sec, lambda v: v.astype(np.int64) * 1000),
            (us, _ntp_ms),
            (ns, _ntp_ms),
            (delta, lambda v: export_ms - (v.astype(np.int64) // 1000)),
        ):
            v, k = uint(eid)
            if k.any():
                got.append((ms_of(v), k))
        v, k = uint(
            sysup
        )  # ms of system uptime: v5/v9 from the header's, IPFIX from systemInitTime
        if k.any():
            is_v9 = dgs.array("version")[dg] != r.IPFIX
            up = v.astype(np.int64)
            got.append(
                (
                    np.where(is_v9, export_ms - (uptime - up), init.astype(np.int64) + up),
                    k & (is_v9 | init_ok),
                )
            )
        value, ok = got[0] if got else (np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool))
        for v, k in got[1:]:
            value, ok = np.where(ok, value, v), ok | k
        out.append((value, ok))
    return out[0], out[1]


def _ntp_ms(v: npt.NDArray[np.uint64]) -> I64:
    """NTP timestamps (seconds since 1900 and a 32-bit fraction) as Unix milliseconds."""
    secs = (v >> np.uint64(32)).astype(np.int64) - _NTP_EPOCH
    frac = ((v & np.uint64(0xFFFFFFFF)) * np.uint64(1000)) >> np.uint64(32)
    return secs * 1000 + frac.astype(np.int64)


def _frame(
    c: dict[str, tuple[np.ndarray, B]], dgs: _Dgram, source: str
) -> tuple[pl.DataFrame, I64]:
    """The canonical flow frame of the records' columns (:func:`_fields`) in datagram order, and
    each row's datagram.

    Built from numpy columns in one ``DataFrame``, no lazy query: addresses as codes into one
    dictionary, oriented as integers (:func:`flowlab.services.server_is_dst`), service names
    formatted once per distinct key, constant columns as literals.
    """
    dg = c["__dg"][0]  # in datagram order (waiting sets: when released)
    (s4, s4ok), (d4, d4ok), (s6, s6ok), (d6, d6ok) = (
        c[k] for k in ("__s4", "__d4", "__s6", "__d6")
    )
    six = np.concatenate([s6ok & ~s4ok, d6ok & ~d4ok])
    ends = Endpoints(
        np.concatenate([s4, d4]).astype(np.uint32),
        np.concatenate([s4ok, d4ok]),
        np.concatenate([s6, d6]) if six.any() else np.broadcast_to(_NO_WORDS, (0, 4)),
        six,
    )
    (smac, smok), (dmac, dmok) = c["__smac"], c["__dmac"]
    macs = Endpoints.of_macs(np.concatenate([smac, dmac]), np.concatenate([smok, dmok]))
    ex_texts, ex_all = dgs.exporters()
    cols: dict[str, pl.Series] = {
        "time": series(dgs.array("recv")[dg], time_ms=True),
        "exporter": text_of(ex_texts, ex_all[dg]),
        "src_ip": ends.src,
        "dst_ip": ends.dst,
        "src_mac": macs.src,
        "dst_mac": macs.dst,
        "sequence": series((dgs.array("sequence")[dg] & 0xFFFFFFFF).astype(np.uint32)),
        "observation_domain": series(dgs.array("domain")[dg].astype(np.uint32)),
        "flow_format": _format_names(dgs.array("version")[dg]),
    }
    dtypes = schema.FLOW_SCHEMA
    for name, (values, ok) in c.items():
        if name in dtypes and name not in cols and ok.any():  # all null: a literal (_canonical)
            time = name in ("flow_start", "flow_end")
            cols[name] = _series(values, ok, schema.TIME if time else dtypes[name])
    cols.update(_oriented(c, ends))  # after the casts: ports and protocol fit
    frame = pl.DataFrame([s.alias(k) for k, s in cols.items()])
    return frame.select(_canonical(tuple(zip(frame.columns, frame.dtypes)), source)), dg


@functools.lru_cache(maxsize=64)
def _canonical(have: tuple[tuple[str, pl.DataType], ...], source: str) -> list[pl.Expr]:
    """The canonical columns from a frame of `have` (name, dtype): casts only where a dtype is
    off, the others as literals (one value each: ``source``, or null). Built once per shape:
    making the ~40 expressions costs about as much as running them."""
    got = dict(have)
    return [
        (pl.col(k) if got[k] == t else pl.col(k).cast(t))
        if k in got
        else pl.lit(source if k == "source" else None, dtype=t).alias(k)
        for k, t in schema.FLOW_SCHEMA.items()
    ]


def _oriented(c: dict[str, tuple[np.ndarray, B]], ends: Endpoints) -> dict[str, pl.Series]:
    """Client, server and service columns: ElastiFlow's orientation
    (:func:`flowlab.services.server_is_dst`), told the initiator where the TCP flags show it.

    ElastiFlow's rule reads the initiator from ``tcp_flags == SYN`` (one packet); a flow record's
    flags are those of many packets, so the decoder decides (``__init``: 1 the source initiated,
    -1 the destination did) and the rule is shown the record from the initiator, with a SYN.
    """
    (proto, _), (sp, spok), (dp, dpok) = c["protocol"], c["src_port"], c["dst_port"]
    sp, dp = sp.astype(np.int64), dp.astype(np.int64)
    flags, flags_ok = c["tcp_flags"]
    init = np.where(flags_ok, c["__init"][0], 0)
    swap = init == -1
    sp, dp = np.where(swap, dp, sp), np.where(swap, sp, dp)
    ports = spok & dpok
    syn = (init != 0) | (flags_ok & (flags == 2))
    to_dst = server_is_dst(proto.astype(np.uint8), sp, dp, syn)
    service_port = np.where(to_dst, dp, sp)
    keys = (proto.astype(np.int64) << 16) | service_port
    name_codes, name_keys = factorize(np.where(ports, keys, -1))
    names = default_table().names_of(name_keys.tolist())
    if name_keys.size and name_keys[0] < 0:  # rows without ports: code 0, null
        name_codes, names = name_codes - 1, names[1:]
    return {
        # the client is the (unswapped) source where the destination serves, unless swapped
        "client_ip": ends.pick(to_dst != swap, ports),
        "server_ip": ends.pick(to_dst == swap, ports),
        "client_port": _series(np.where(to_dst, sp, dp), ports, pl.UInt16),
        "service_port": _series(service_port, ports, pl.UInt16),
        "service_name": text_of(names, name_codes),
    }


def _format_names(version: I64) -> pl.Series:
    """``flow_format`` of each row from its datagram's version."""
    versions = sorted(r.FORMAT_NAMES)
    names = pl.Series([r.FORMAT_NAMES[v] for v in versions], dtype=pl.String)
    return names[series(np.searchsorted(versions, version).astype(np.uint32))]


#: numpy dtypes of the canonical integer dtypes: columns built without a Polars cast
_NUMPY = {"UInt8": np.uint8, "UInt16": np.uint16, "UInt32": np.uint32, "UInt64": np.uint64}
_TOP = {kind: int(np.iinfo(kind).max) for kind in _NUMPY.values()}


def _series(values: np.ndarray, ok: B, dtype: Any) -> pl.Series:
    """`values` as a Series of `dtype`, null where not `ok` (:func:`flowlab._series.series`).

    Values that fit an integer dtype are converted by numpy (a Polars cast per column costs a
    query); others are cast by Polars. An integer that does not fit its column (a template field
    longer than its element, as a damaged template declares it) is no value of it: null.
    """
    kind = _NUMPY.get(str(dtype))
    if kind is not None and values.size and values.dtype.kind in "ui":
        top = _TOP[kind]
        if values.max() > top or (values.dtype.kind == "i" and values.min() < 0):
            ok = ok & (values >= 0) & (values <= top)
        return series(values.astype(kind, copy=False), ok)  # every valid value fits now
    v = values if bool(ok.all()) else np.where(ok, values, np.zeros(1, dtype=values.dtype))
    if (
        kind is not None
        and v.size
        and v.dtype.kind == "f"
        and v.min() >= 0
        and v.max() <= _TOP[kind]
    ):
        return series(v.astype(kind, copy=False), ok)
    if dtype == schema.TIME and v.dtype == np.int64:  # epoch milliseconds
        return series(v, ok, time_ms=True)
    return series(v, ok).cast(dtype)


@functools.cache
def _no_counters() -> pl.DataFrame:
    return schema.empty_counters()


def _sequences(
    st: NetFlowState,
    stats: DecodeStats,
    dgs: _Dgram,
    flow_dg: I64,
    rejected: set[int],
    waiting: set[int],
    options_records: Counter[int],
) -> None:
    """Losses: NetFlow v9 datagrams per (exporter, source id); IPFIX and v5 flow records per exporter.

    IPFIX numbers every data record, options data records included (RFC 7011 3.1).
    """
    per_dg = np.zeros(len(dgs.recv), dtype=np.int64)
    if flow_dg.size:  # flow records per datagram
        got = np.bincount(flow_dg, minlength=per_dg.size)
        per_dg[: got.size] = got[: per_dg.size]
    for k, c in options_records.items():
        per_dg[k] += c
    is_v9 = (dgs.array("version") == r.NETFLOW9) & (dgs.array("batch") >= 0)
    v9 = [k for k in np.flatnonzero(is_v9).tolist() if k not in rejected]
    if v9:
        domains = dgs.array("domain")[v9].tolist()
        keys = sorted({(dgs.exporter[k], d) for k, d in zip(v9, domains)})
        index = {key: j for j, key in enumerate(keys)}
        res = st.datagrams.update(
            keys,
            np.array([index[(dgs.exporter[k], d)] for k, d in zip(v9, domains)], dtype=np.int64),
            dgs.array("sequence")[v9],
        )
        stats.lost_datagrams = res.lost
        stats.sequence_resets = res.resets
        stats.late_datagrams += res.late
        stats.duplicate_datagrams += res.duplicates
    lost: Counter[tuple[str, int]] = Counter()
    version = dgs.array("version")
    take = (version != r.NETFLOW9) & (dgs.array("batch") >= 0)
    if rejected:
        take[list(rejected)] = False
    names, exporter = dgs.exporters()
    domain = np.where(version == r.NETFLOW5, dgs.array("domain"), 0)
    idx = np.flatnonzero(take)
    if not idx.size:
        stats.lost_records = {}
        return
    group = (exporter[idx] + 1) << 33 | domain[idx]
    seqs = dgs.array("sequence") & 0xFFFFFFFF
    held = np.isin(dgs.array("batch")[idx], list(waiting)) if waiting else None
    for g in factorize(group)[1].tolist():  # (not np.unique: it imports numpy.ma, 15 ms)
        at = np.flatnonzero(group == g)
        key = (names[(g >> 33) - 1] if g >> 33 else "", g & ((1 << 33) - 1))
        # a datagram with a set left waiting: its count is unknown, the key starts afresh after it
        cuts = [-1] if held is None else [-1, *np.flatnonzero(held[at]).tolist()]
        for a, b in zip(cuts, [*cuts[1:], at.size]):
            if a >= 0:
                st.records.pop(key, None)
            ks = idx[at[a + 1 : b]]
            if ks.size:
                _record_gaps(st, stats, lost, key, seqs[ks], per_dg[ks], version[ks] == r.NETFLOW5)
    stats.lost_records = dict(lost)


def _record_gaps(
    st: NetFlowState,
    stats: DecodeStats,
    lost: Counter[tuple[str, int]],
    key: tuple[str, int],
    seq: I64,
    count: I64,
    v5: B,
) -> None:
    """Record-sequence gaps of one key's datagrams (in arrival order) against the state before.

    A step back of more than 2^16 is a reset; a gap counts lost records, a negative one a
    late datagram. NetFlow v5's numbering (records before the datagram, or the index of its
    last record as Open vSwitch sends it) is told from the first step that shows it.
    """
    prev = st.records.get(key)
    numbering = 0 if prev is None else prev[2]
    if prev is not None:
        seq = np.concatenate([[prev[0]], seq])
        count = np.concatenate([[prev[1]], count])
        v5 = np.concatenate([[False], v5])
    if seq.size > 1:
        step = (seq[1:] - seq[:-1] + (1 << 31)) % (1 << 32) - (1 << 31)
        before, last = step - count[:-1], step - count[1:]
        numbers = np.full(step.size, numbering, dtype=np.int64)
        if numbering == 0:
            told = np.where(
                v5[1:], np.where((last == 0) & (before != 0), 2, np.where(before == 0, 1, 0)), 0
            )
            if told.any():
                at = int(np.argmax(told != 0))
                numbers[at:] = told[at]
                numbering = int(told[at])
        gap = np.where(numbers == 2, last, before)
        reset = (step < 0) & (-step > 1 << 16)
        if reset.any():
            stats.sequence_resets[key] = stats.sequence_resets.get(key, 0) + int(reset.sum())
        gone = gap[~reset & (gap > 0)]
        if gone.size:
            lost[key] += int(gone.sum())
        stats.late_datagrams += int((~reset & (gap < 0)).sum())
    st.records[key] = (int(seq[-1]), int(count[-1]), numbering)


def one_direction(frame: pl.DataFrame, direction: int = 0) -> pl.DataFrame:
    """Keep the flow records of one direction (0 ingress, 1 egress) and those without one.

    Open vSwitch's bridge IPFIX samples every packet on input *and* output, so
    each sampled packet gives two records; summing both doubles every volume.
    The rule flowlab follows: count the ingress records (``direction`` 0, or
    null for protocols without a direction). Each direction alone matches the
    traffic.

    Examples
    --------
    >>> import polars as pl
    >>> f = pl.DataFrame({"direction": [0, 1, None], "bytes": [10, 10, 5]})
    >>> one_direction(f)["bytes"].sum()
    15
    """
    return frame.filter(pl.col("direction").is_null() | (pl.col("direction") == direction))


def infer_sampling_rate(frame: pl.DataFrame, *, min_records: int = 8) -> dict[str, int | None]:
    """Infer each exporter's sampling rate from records that carry none (Open vSwitch's IPFIX).

    Open vSwitch sends no rate but scales its counts: every sampled packet
    adds N to ``packetDeltaCount`` at 1-in-N. So the packet counts of an
    exporter's records are all multiples of N, and their greatest common
    divisor is N once there are enough records. It returns None for an
    exporter where that cannot be told: fewer than `min_records` records of
    unknown rate, or a divisor of 1 (unsampled, or a rate that does not
    divide the counts: the counts are then estimates as sent).

    Examples
    --------
    >>> import polars as pl
    >>> f = pl.DataFrame({"exporter": ["a"] * 8 + ["b"] * 8,
    ...                   "packets": [400, 800, 1200, 400] * 2 + [3, 5, 1, 2] * 2,
    ...                   "sampling_rate": [None] * 16})
    >>> infer_sampling_rate(f)
    {'a': 400, 'b': None}
    """
    out: dict[str, int | None] = {}
    unknown = frame.filter(pl.col("sampling_rate").is_null() & (pl.col("packets") > 0))
    for (exporter,), group in unknown.group_by(["exporter"], maintain_order=True):
        counts = group["packets"].to_numpy().astype(np.int64)
        g = int(np.gcd.reduce(counts)) if counts.size >= min_records else 1
        out[str(exporter)] = g if g > 1 else None
    return out


class NetFlowDecoder(Frozen):
    """NetFlow v5/v9 and IPFIX as a :class:`flowlab.decoding.Decoder` (versions told apart per datagram).

    Attributes
    ----------
    name : str
        The registry name (``"netflow"``, ``"ipfix"``).
    port : int
        The UDP port a capture's datagrams go to.
    batch_datagrams : int
        Datagrams per batch from a capture. IPFIX: Open vSwitch sends one record per datagram
        with its cache off (OVN-Kubernetes' setting), so the sFlow default would make batches
        of few rows. NetFlow v5/v9 datagrams carry up to 30 records or so: the "netflow" entry
        takes 4096, which keeps a batch's working columns (a few hundred bytes a record) to
        tens of MB.
    """

    __slots__ = ("batch_datagrams", "name", "port")
    _fields = ("name", "port", "batch_datagrams")

    name: str
    port: int
    batch_datagrams: int

    def __init__(
        self, name: str = "netflow", port: int = 2055, batch_datagrams: int = 32768
    ) -> None:
        set_fields(self, name=name, port=port, batch_datagrams=batch_datagrams)

    def new_state(self) -> NetFlowState:
        """A fresh state: empty template cache, no sequence history."""
        return NetFlowState()

    def decode(self, datagrams: Datagrams, *, source: str = "", state: Any = None) -> Decoded:
        """Same as :func:`decode`, of checked `datagrams` (``source`` defaults to the decoder's name)."""
        return _decode(datagrams, source or self.name, state)


#: registry entry "netflow" (UDP 2055): NetFlow v5 and v9, and IPFIX too
DECODER = NetFlowDecoder(batch_datagrams=4096)
#: registry entry "ipfix" (UDP 4739, RFC 7011): the same decoder
IPFIX_DECODER = NetFlowDecoder("ipfix", 4739)
