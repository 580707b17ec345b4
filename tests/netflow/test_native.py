"""The compiled NetFlow/IPFIX core (``native/netflow.c``) against the pure numpy path: the same
frames and stats on the real Open vSwitch captures, on mutated and truncated copies of their
datagrams, and on crafted sets; the C parts (prewalk, records, read_uint, template fields)
against their pure twins on random bytes. A flood of hostile datagrams goes through the C path without a crash.

The core is switched by setting ``flowlab._accel._module`` (None: the pure path).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import asdict
from types import ModuleType
from typing import TypeVar

import numpy as np
import polars as pl
import pytest
from netflow_helpers import DATA, T0, decode_many, udp_payloads
from polars.testing import assert_frame_equal

from flowlab import _accel
from flowlab.decoding import Decoded
from flowlab.netflow import NetFlowState, TemplateCache, _columns, _known, _prewalk, _walk
from flowlab.netflow import elements as e
from flowlab.netflow._columns import Records
from flowlab.netflow.encode import data_set, message, template_set
from flowlab.netflow.templates import Template

T = TypeVar("T")

CAPTURES = ("ovs-ipfix-ovnk", "ovs-ipfix-netobserv", "ovs-ipfix-sampling1", "ovs-netflow")
REAL = {name: [d for d, _, _ in udp_payloads(DATA / f"{name}.pcap")] for name in CAPTURES}


@pytest.fixture(scope="module")
def native() -> ModuleType:
    module = _accel.native()
    if module is None:
        pytest.skip("flowlab._native is not built here (or FLOWLAB_NATIVE=0)")
    return module


@pytest.fixture
def switch(native: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test may set ``_accel._module``; it is restored after."""
    monkeypatch.setattr(_accel, "_module", native)


def _decode(core: ModuleType | None, batches: list[list[bytes]]) -> list[Decoded]:
    """Decode the batches in order with one state, by `core` (None: pure)."""
    _accel._module = core
    state = NetFlowState(TemplateCache(max_pending=64))
    return [decode_many(b, peers=["192.0.2.7"] * len(b), state=state) for b in batches]


def _same(native: ModuleType, batches: list[list[bytes]]) -> list[Decoded]:
    """Both cores give equal frames and stats for every batch; the native results."""
    pure = _decode(None, batches)
    fast = _decode(native, batches)
    for p, f in zip(pure, fast):
        assert_frame_equal(f.flows, p.flows)
        assert asdict(f.stats) == asdict(p.stats)
    return fast


@pytest.mark.parametrize("name", CAPTURES)
def test_real_captures_equal(native: ModuleType, switch: None, name: str) -> None:
    grams = REAL[name]
    (whole,) = _same(native, [grams])
    assert whole.flows.height > 0 and not whole.stats.datagrams_bad
    _same(native, [grams[k : k + 7] for k in range(0, len(grams), 7)])  # templates across batches


def _mutants(seed: int, count: int, pool: list[bytes] | None = None) -> Iterator[bytes]:
    """Damaged copies of the real datagrams (or of `pool`): flipped bytes, absurd lengths,
    truncations."""
    rng = random.Random(seed)
    pool = pool or [d for grams in REAL.values() for d in grams]
    for _ in range(count):
        d = bytearray(rng.choice(pool))
        for _ in range(rng.randint(1, 6)):
            kind = rng.random()
            if not d:
                break
            if kind < 0.5:
                d[rng.randrange(len(d))] = rng.randrange(256)
            elif kind < 0.8:
                at = rng.randrange(max(1, len(d) - 1))
                d[at : at + 2] = struct.pack("!H", rng.choice([0, 1, 3, 4, 255, 256, 65535]))
            else:
                d = d[: rng.randrange(len(d) + 1)]
        yield bytes(d)


@pytest.mark.parametrize("seed", range(4))
def test_mutated_and_truncated_equal(native: ModuleType, switch: None, seed: int) -> None:
    """Each real stream's templates first, then its datagrams mixed with damaged ones."""
    rng = random.Random(seed)
    batches = []
    for grams in REAL.values():
        mixed = grams + list(_mutants(seed * 7 + len(grams), 300))
        rng.shuffle(mixed)
        batches += [grams[:60], mixed[:400], mixed[400:]]
    out = _same(native, batches)
    assert sum(o.stats.bad for o in out) > 0  # the damage was seen and counted


def test_crafted_sets_equal(native: ModuleType, switch: None) -> None:
    """Variable-length fields (short and long length prefixes), padding, overrunning records,
    several templates in one datagram, and a field wider than its column."""
    var = Template(
        300, ((e.SOURCE_IPV4_ADDRESS, 0, 4), (82, 0, 65535), (e.PROTOCOL_IDENTIFIER, 0, 1))
    )
    wide = Template(301, ((e.PROTOCOL_IDENTIFIER, 0, 8), (e.PACKET_DELTA_COUNT, 0, 4)))
    tmpl = message([template_set([var, wide])], sequence=0)
    rec = b"\x0a\x00\x00\x01" + b"\x03eth" + b"\x06"
    long_rec = b"\x0a\x00\x00\x02" + b"\xff\x01\x00" + b"x" * 256 + b"\x11"

    def raw(tid: int, body: bytes) -> bytes:
        return data_set(tid, [[body]])

    grams = [
        tmpl,
        message([raw(300, rec * 3 + long_rec + b"\x00")], sequence=1),  # padding after
        message([raw(300, rec + b"\x0a\x00\x00\x03\x09ab")], sequence=5),  # overruns
        message([raw(300, rec + b"\x0a\x00\x00\x03\xff\x00")], sequence=6),  # cut prefix
        message([raw(301, struct.pack("!QI", (1 << 40) + 6, 9)), raw(300, rec)], sequence=7),
    ]
    (out,) = _same(native, [grams])
    assert out.stats.datagrams_bad == {"record_overrun": 2}
    protocols = out.flows["protocol"].to_list()
    assert protocols.count(6) == 4 and protocols.count(17) == 1 and None in protocols


def _pure_and_native(native: ModuleType, fn: Callable[..., T], *args: object) -> tuple[T, T]:
    _accel._module = None
    pure = fn(*args)
    _accel._module = native
    return pure, fn(*args)


def test_parts_equal_on_random_bytes(native: ModuleType, switch: None) -> None:
    """prewalk, records and read_uint of the compiled core equal their pure twins on noise:
    sets inside and outside the buffer, of several templates, fields read as values and as
    offsets."""
    rng = np.random.default_rng(5)
    for _ in range(200):
        data = rng.integers(0, 256, int(rng.integers(0, 3000)), dtype=np.uint8)
        for k in range(0, data.size - 2, 97):  # plausible versions and lengths now and then
            data[k : k + 2] = rng.choice([[0, 5], [0, 9], [0, 10], [0, 10]])
        n = int(rng.integers(0, 40))
        off = rng.integers(-5, max(data.size, 1), n)
        ln = rng.integers(-3, 400, n)
        pure, fast = _pure_and_native(native, _prewalk.prewalk, data, off, ln)
        for name in _prewalk.Prewalk.__slots__:
            np.testing.assert_array_equal(getattr(fast, name), getattr(pure, name), err_msg=name)
        templates = []
        for tid in range(int(rng.integers(1, 4))):  # records of several templates, interleaved
            lengths = [int(x) for x in rng.choice([1, 2, 4, 6, 8, 16, 65535], rng.integers(1, 6))]
            t = Template(256 + tid, tuple((k + 1, 0, ln) for k, ln in enumerate(lengths)))
            if t.record_length:
                templates.append(t)
        if not templates:
            continue
        starts = np.sort(rng.integers(0, max(data.size, 1), 10))
        ends = np.minimum(starts + rng.integers(0, 300, 10), data.size)
        which = rng.integers(0, len(templates), 10)
        columns, nv, no = [], 0, 0
        for t in templates:  # some fields as values, some as offsets, some left out
            cols = []
            for _, _, length in t.fields:
                pick = rng.random()
                if 1 <= length <= 8 and pick < 0.6:
                    cols.append(nv)
                    nv += 1
                else:
                    cols.append(-2 - no if pick < 0.8 else -1)  # an offset row, numbered below
                    no += pick < 0.8
            columns.append(cols)
        columns = [[c if c >= -1 else nv + (-2 - c) for c in cols] for cols in columns]
        args = (data, starts, ends, which, templates, columns, nv, no)
        pure_rec, fast_rec = _pure_and_native(native, _columns.records, *args)
        for name in Records.__slots__:
            got, want = getattr(fast_rec, name), getattr(pure_rec, name)
            np.testing.assert_array_equal(got, want, err_msg=name)
        if data.size:
            at = rng.integers(-2, data.size + 2, 50)
            for length in range(1, 9):
                pure_u, fast_u = _pure_and_native(native, _columns.read_uint, data, at, length)
                np.testing.assert_array_equal(fast_u, pure_u)


def _fields_or_reason(*args: object) -> object:
    try:
        return _walk._fields(*args)  # type: ignore[arg-type]
    except _walk.Malformed as exc:
        return exc.args[0]


def test_template_fields_equal_on_random_specifiers(native: ModuleType, switch: None) -> None:
    """A template record's field specifiers read by the core equal the pure reading: fields,
    end, or the reason of the first bad specifier (an overrun, a v9 variable length), for
    IPFIX (enterprise numbers) and v9, counts too small and too large, ends cut anywhere."""
    rng = random.Random(11)
    checked = 0
    for trial in range(3000):
        specs = bytearray()
        share = rng.choice([0.0, 0.1, 0.5, 1.0])  # of specifiers with the enterprise bit
        n = rng.randint(0, 70)
        for _ in range(n):
            eid = rng.randint(0, 0x7FFF) | (0x8000 if rng.random() < share else 0)
            length = rng.choice([1, 2, 4, 8, 16, 65535, rng.randint(0, 65535)])
            specs += struct.pack("!HH", eid, length)
            if eid & 0x8000:
                specs += struct.pack("!I", rng.getrandbits(32))
        head = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 5)))
        data = head + bytes(specs) + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 8)))
        end = rng.choice([len(head) + len(specs), len(data), rng.randint(len(head), len(data))])
        count = max(0, n + rng.choice([0, 0, 0, -1, 1, 5]))
        for version in (9, 10):
            for buf in (data, memoryview(data)):
                args = (buf, len(head), end, version, count)
                pure, fast = _pure_and_native(native, _fields_or_reason, *args)
                assert fast == pure, (trial, version, count, end)
                checked += not isinstance(pure, str)
    assert checked > 3000  # many read whole


def test_classes_equal(native: ModuleType, switch: None) -> None:
    """Byte-alike classes of template datagrams: the same partition and the same first datagram
    of each class by both cores (their numbering may differ)."""
    rng = random.Random(3)
    grams = [d for grams in REAL.values() for d in grams if d[:2] in (b"\x00\x09", b"\x00\x0a")]
    pool = []
    for gram in grams[:40] * 3:
        d = bytearray(gram)
        d[4:16] = rng.randbytes(12)  # time, sequence: left out; domain: the domain column
        if rng.random() < 0.2:
            d[rng.randrange(16, len(d))] ^= 1
        pool.append(bytes(d))
    pool += [b"\x00\x0a\x00", b"\x00\x09" + bytes(30)]  # too short; v9 of zeros
    buf = np.frombuffer(b"".join(pool), dtype=np.uint8)
    ln = np.array([len(d) for d in pool])
    off = np.concatenate([[0], np.cumsum(ln)[:-1]])
    pre = _prewalk.prewalk(buf, off, ln)
    exporter = np.array([rng.randrange(2) for _ in pool])
    which = np.flatnonzero(rng.choices([True, False], k=len(pool)) | ~pre.fast)
    args = (buf, off, ln, pre.version, pre.domain, exporter, which)
    (pure_cls, pure_reps), (fast_cls, fast_reps) = _pure_and_native(native, _known.classes, *args)
    assert sorted(fast_reps) == sorted(pure_reps)
    assert np.array_equal(fast_cls < 0, pure_cls < 0)
    inside = pure_cls >= 0
    rename = {f: p for f, p in zip(fast_cls[inside].tolist(), pure_cls[inside].tolist())}
    assert [rename[c] for c in fast_cls[inside].tolist()] == pure_cls[inside].tolist()
    assert len(rename) == len(set(rename.values())) == len(pure_reps) > 10


def test_hostile_flood_through_the_core(native: ModuleType, switch: None) -> None:
    """Forty thousand damaged data datagrams and random bytes, their templates known: the
    compiled core walks them (prewalk, records), all counted, no crash."""
    rng = random.Random(11)
    clean = [d for grams in REAL.values() for d in grams]
    data = [d for d in clean if d[:2] == b"\x00\x05" or struct.unpack_from("!H", d, 16)[0] >= 256]
    junk = [rng.randbytes(rng.randrange(0, 300)) for _ in range(4000)]
    for k in range(0, len(junk), 3):
        junk[k] = rng.choice([b"\x00\x0a", b"\x00\x09", b"\x00\x05"]) + junk[k]
    flood = list(_mutants(99, 36000, data)) + junk
    rng.shuffle(flood)
    _accel._module = native
    state = NetFlowState(TemplateCache(max_pending=256))
    decode_many(clean, peers=["192.0.2.7"] * len(clean), state=state)  # the templates
    rows = 0
    for k in range(0, len(flood), 10000):
        batch = flood[k : k + 10000]
        out = decode_many(batch, peers=["192.0.2.7"] * len(batch), state=state)
        assert out.stats.datagrams == len(batch) == out.stats.datagrams_ok + out.stats.bad
        rows += out.flows.height
    assert rows > 10000 and len(state.templates.pending) <= 256


def _interleaved() -> tuple[list[bytes], list[str]]:
    """The real captures' datagrams as a collector gets them from several nodes at once: taken in
    turn from each capture, each capture from an exporter of its own."""
    grams: list[bytes] = []
    peers: list[str] = []
    streams = [REAL[name] for name in CAPTURES]
    for k in range(max(len(x) for x in streams)):
        for node, stream in enumerate(streams):
            if k < len(stream):
                grams.append(stream[k])
                peers.append(f"192.0.2.{node + 1}")
    return grams, peers


@pytest.mark.parametrize("core", ["native", "pure"])
def test_a_batch_gives_the_rows_of_its_datagrams_one_by_one(
    native: ModuleType, switch: None, core: str
) -> None:
    """Records of several templates and exporters interleave in a batch (Open vSwitch's ingress
    and egress templates, nodes' datagrams in turn); each row keeps its own datagram's fields:
    the batch decoded whole gives the rows of its datagrams decoded one at a time, in order."""
    grams, peers = _interleaved()
    _accel._module = native if core == "native" else None
    state = NetFlowState(TemplateCache(max_pending=64))
    whole = decode_many(grams, peers=peers, state=state).flows
    state = NetFlowState(TemplateCache(max_pending=64))
    rows = pl.concat(
        [
            decode_many([g], peers=[p], state=state, received_ms=[T0 + i]).flows
            for i, (g, p) in enumerate(zip(grams, peers))
        ]
    )
    assert whole.height == rows.height > 300
    assert whole["exporter"].n_unique() == len(CAPTURES)
    assert_frame_equal(whole, rows)


@pytest.mark.parametrize("core", ["native", "pure"])
def test_one_template_from_several_exporters_keeps_each_row_its_own(
    native: ModuleType, switch: None, core: str
) -> None:
    """Exporters sending the same template (as every node of a cluster does) are decoded as one
    template; their datagrams alternate in the batch, and each row still gets its own record's
    fields (the data sets are walked in datagram order, not exporter by exporter)."""
    t = Template(
        256,
        (
            (e.PROTOCOL_IDENTIFIER, 0, 1),
            (e.SOURCE_TRANSPORT_PORT, 0, 2),
            (e.PACKET_DELTA_COUNT, 0, 4),
        ),
    )
    grams, peers = [], []
    for node in ("192.0.2.1", "192.0.2.2"):
        grams.append(message([template_set([t])], sequence=0))
        peers.append(node)
    for k in range(40):  # A, B, A, B, ...: port k, k packets
        node = k % 2
        grams.append(
            message([data_set(256, [[struct.pack("!BHI", 17, 1000 + k, k + 1)]])], sequence=k // 2)
        )
        peers.append(f"192.0.2.{node + 1}")
    _accel._module = native if core == "native" else None
    out = decode_many(grams, peers=peers, state=NetFlowState(TemplateCache()))
    flows = out.flows
    assert flows.height == 40 and out.stats.lost == 0
    assert flows["src_port"].to_list() == [1000 + k for k in range(40)]
    assert flows["packets"].to_list() == [k + 1 for k in range(40)]
    assert flows["exporter"].to_list() == [f"192.0.2.{k % 2 + 1}" for k in range(40)]
