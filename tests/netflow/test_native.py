"""The compiled NetFlow/IPFIX core (``native/netflow.c``) against the pure numpy path: the same
frames and stats on the real Open vSwitch captures, on mutated and truncated copies of their
datagrams, and on crafted sets; the C parts (prewalk, locate, read_uint) against their pure
twins on random bytes. A flood of hostile datagrams goes through the C path without a crash.

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
import pytest
from netflow_helpers import DATA, decode_many, udp_payloads
from polars.testing import assert_frame_equal

from flowlab import _accel
from flowlab.decoding import Decoded
from flowlab.netflow import NetFlowState, TemplateCache, _columns, _known, _prewalk
from flowlab.netflow import elements as e
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
    """prewalk, locate and read_uint of the compiled core equal their pure twins on noise."""
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
        lengths = tuple(int(x) for x in rng.choice([1, 2, 4, 6, 8, 16, 65535], rng.integers(1, 6)))
        t = Template(256, tuple((k + 1, 0, length) for k, length in enumerate(lengths)))
        if t.record_length == 0:
            continue
        starts = np.sort(rng.integers(0, max(data.size, 1), 10))
        ends = np.minimum(starts + rng.integers(0, 300, 10), data.size)
        wanted = {(0, k + 1) for k in range(len(lengths)) if rng.random() < 0.7}
        args = (data, starts, ends, t, wanted)
        pure_loc, fast_loc = _pure_and_native(native, _columns.locate, *args)
        np.testing.assert_array_equal(fast_loc.set_index, pure_loc.set_index)
        np.testing.assert_array_equal(fast_loc.bad_sets, pure_loc.bad_sets)
        for j, length in enumerate(lengths):
            value = fast_loc.value(j)
            if 1 <= length <= 8 and (0, j + 1) in wanted:
                assert value is not None
                _accel._module = None
                expect = _columns.read_uint(data, pure_loc.offsets(j), length)
                np.testing.assert_array_equal(value, expect)
            elif not 1 <= length <= 8:
                assert value is None
                np.testing.assert_array_equal(fast_loc.offsets(j), pure_loc.offsets(j))
        if data.size:
            at = rng.integers(-2, data.size + 2, 50)
            for length in range(1, 9):
                pure_u, fast_u = _pure_and_native(native, _columns.read_uint, data, at, length)
                np.testing.assert_array_equal(fast_u, pure_u)


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
