"""The compiled core and the pure path decode every datagram alike, hostile ones included.

Real Open vSwitch datagrams (tests/data), 40,000 mutants of them (bit flips, random words,
truncations, extensions, splices: tests/faults), the crafted shapes of the work bound, and
datagrams with random headers and records from tests/sflow/sflow_strategies: each batch is
decoded by both cores, and the frames and every statistic must be equal. The reference decoder
(tests/sflow/reference.py) checks each core on its own in test_reference.py.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from flowlab.decoding import Decoded
from flowlab.decoding.addresses import factorize
from flowlab.sflow.decode import decode
from tests.cores import require_native, use_core

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))
from fault_data import ovs_datagrams
from test_decoder_faults import batch, crafted, mutants

T0 = 1_733_300_000_000


def both(grams: list[bytes]) -> tuple[Decoded, Decoded]:
    require_native()
    buf, offsets, lengths = batch(grams)
    peers = ["198.51.100.7"] * len(grams)
    out = []
    for name in ("native", "pure"):
        with use_core(name):
            out.append(decode(buf, offsets, lengths, received_ms=T0, peers=peers))
    return out[0], out[1]


def same(grams: list[bytes]) -> Decoded:
    native, pure = both(grams)
    assert_frame_equal(native.flows, pure.flows)
    assert_frame_equal(native.counters, pure.counters)
    assert native.stats == pure.stats
    return native


REAL = ovs_datagrams() + ovs_datagrams("ovs-sampling1")


def bare_flows(k: int) -> bytes:
    """A datagram of `k` flow samples without records: bare rows, one per 40 bytes."""
    body = struct.pack("!8I", 1, 3, 400, 400, 0, 3, 4, 0)
    head = struct.pack("!7I", 5, 1, 0x0A000001, 0, 1, 100, k)
    return head + (struct.pack("!II", 1, len(body)) + body) * k


def test_real_datagrams_decode_alike() -> None:
    out = same(REAL)
    assert out.stats.bad == 0 and out.flows.height > 300


@pytest.mark.parametrize("seed", range(4))
def test_mutated_datagrams_decode_alike(seed: int) -> None:
    grams = mutants(REAL, 10_000, seed=seed)
    out = same(grams)
    assert out.stats.bad > 1_000 and out.stats.datagrams_ok > 1_000  # both kinds were there
    for start in range(0, len(grams), 2_500):  # and in smaller batches, where other paths run
        same(grams[start : start + 2_500])


def test_crafted_and_degenerate_datagrams_decode_alike() -> None:
    grams = [crafted(k) for k in (0, 1, 8, 1024, 1025)]
    grams += [crafted(1, k) for k in (1, 255, 256, 257)]
    grams += [bare_flows(k) for k in (1, 64, 1024, 1025)]
    grams += [b"", b"\x00\x00\x00\x05", struct.pack("!II", 5, 2), REAL[0][:40], REAL[0] + b"\x00"]
    out = same(grams + REAL[:3])
    assert out.stats.datagrams_bad.get("implausible_count", 0) >= 2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=200), min_size=1, max_size=40))
def test_random_bytes_after_a_valid_header_decode_alike(tails: list[bytes]) -> None:
    head = struct.pack("!IIIIIII", 5, 1, 0x0A000001, 0, 1, 100, 2)
    same([head + t for t in tails])


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(-(2**63), 2**63 - 1), min_size=0, max_size=300),
    st.sampled_from([np.int64, np.uint32, np.uint64, np.int16, np.uint8]),
)
def test_factorize_alike(values: list[int], dtype: type) -> None:
    require_native()
    info = np.iinfo(dtype)
    arr: np.ndarray = np.array([min(max(v, info.min), info.max) for v in values], dtype=dtype)
    with use_core("native"):
        codes, uniques = factorize(arr)
    with use_core("pure"):
        want_codes, want_uniques = factorize(arr)
    assert np.array_equal(codes, want_codes) and np.array_equal(uniques, want_uniques)
    assert uniques.dtype == want_uniques.dtype
    assert np.array_equal(uniques[codes], arr)


@pytest.mark.parametrize("distinct", [1, 2, 50, 600, 70_000, None])
@pytest.mark.parametrize("dtype", [np.uint32, np.int64])
def test_factorize_alike_when_distinct_keys_outgrow_the_first_table(
    distinct: int | None, dtype: type
) -> None:
    """The core's hash table starts small and grows in the caller's working memory; a flood of
    spoofed addresses (None: every key distinct) has as many distinct keys as rows."""
    require_native()
    rng = np.random.default_rng(distinct or 0)
    info = np.iinfo(dtype)
    pool = rng.integers(info.min, info.max, distinct or 300_000, dtype=dtype, endpoint=True)
    arr = pool if distinct is None else rng.choice(pool, 300_000)
    for values in (arr, arr[:513], arr[:1]):
        with use_core("native"):
            codes, uniques = factorize(values)
        want_uniques, want_codes = np.unique(values, return_inverse=True)
        assert np.array_equal(uniques, want_uniques) and np.array_equal(codes, want_codes)
        assert uniques.dtype == values.dtype
    with use_core("native"):  # and a smaller call after a large one finds its table clean
        codes, uniques = factorize(arr[:600][::-1].copy())
    assert np.array_equal(uniques[codes], arr[:600][::-1])


def test_the_compiled_core_names_the_numbers_of_the_spec_module() -> None:
    require_native()
    from flowlab import _accel
    from flowlab.sflow import _columns, _spec, _walk, records

    names = dict(_accel.native().sflow_spec())  # type: ignore[union-attr]
    assert names.pop("REASONS") == len(_columns.REASONS)
    assert names.pop("MAX_SAMPLES") == _walk.MAX_SAMPLES
    assert names.pop("MAX_RECORDS") == _walk.MAX_RECORDS
    assert names.pop("GENERIC_WORDS") == _columns.GENERIC_WORDS
    assert names.pop("ETHERNET_WORDS") == _columns.ETHERNET_WORDS
    for record in (
        "FLOW_RAW_HEADER",
        "FLOW_SAMPLED_IPV4",
        "FLOW_SAMPLED_IPV6",
        "FLOW_EXTENDED_SWITCH",
    ):
        code = getattr(_spec, record)
        assert names.pop(f"{record}_LENGTH") == _spec.FLOW_RECORD_LENGTH[code], record
    assert names == {k: getattr(_spec, k) for k in names}
    # counter words: the record lengths, and the schema's names in the encoder's wire order
    assert _spec.COUNTER_RECORD_LENGTH[_spec.COUNTERS_GENERIC_IF] == 4 * _columns.GENERIC_WORDS
    assert _spec.COUNTER_RECORD_LENGTH[_spec.COUNTERS_ETHERNET] == 4 * _columns.ETHERNET_WORDS
    assert _columns.GENERIC_COUNTERS == records.GENERIC_COUNTER_NAMES


def test_a_batch_denser_than_the_first_room_is_walked_once_more_with_room_for_its_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flowlab import _native
    from flowlab.sflow import _compiled

    calls: list[int] = []

    class Counting:  # the compiled core, counting its walks
        def __getattr__(self, name: str) -> object:
            return getattr(_native, name)

        def sflow_decode(self, *args: object) -> object:
            calls.append(1)
            return _native.sflow_decode(*args)

    real = _compiled.columns
    monkeypatch.setattr(_compiled, "columns", lambda core, *a: real(Counting(), *a))
    # the first try runs out of room
    monkeypatch.setattr(_compiled, "_guess", [1e-9] * len(_compiled._guess))
    dense = [*REAL, crafted(512), crafted(1, 200), bare_flows(300), *mutants(REAL, 2000, seed=7)]
    out = same(dense)
    assert out.stats.samples.get("unknown", 0) >= 512 and out.stats.records_skipped
    assert out.flows["src_mac"].null_count() >= 301  # the bare rows, in columns of their own
    assert len(calls) == 2  # counted on the first walk: the second one has room for every row
    assert min(_compiled._guess) > 1e-9  # and the next batches start with more room
    # once both were seen, batches of either density are walked once each (the room follows
    # the densest batch so far), not twice whenever a denser one follows a lighter one
    same(REAL)
    calls.clear()
    for grams in (REAL, dense, REAL, dense):
        same(grams)
    assert len(calls) == 4


@pytest.mark.parametrize("seed", range(3))
def test_packets_are_located_alike(seed: int) -> None:
    # real frames (sFlow and IPFIX captures), mutated, cut, random, under every link type
    from fault_data import pcap_frames

    from flowlab.capture._linktypes import locate

    require_native()
    rng = np.random.default_rng(seed)
    frames = [f for _, _, f in pcap_frames("ovs-default") + pcap_frames("ovs-ipfix-ovnk")]
    reasons = np.zeros(7, dtype=np.int64)
    for trial in range(60):
        packets = []
        for _ in range(200):
            f = bytearray(frames[int(rng.integers(len(frames)))])
            how = int(rng.integers(5))
            if how == 0:
                for _ in range(int(rng.integers(1, 6))):
                    f[int(rng.integers(min(len(f), 80)))] = int(rng.integers(256))
            elif how == 1:
                f = f[: int(rng.integers(len(f) + 1))]
            elif how == 2:
                f = bytearray(rng.bytes(int(rng.integers(0, 120))))
            elif how == 3:
                f[12:14] = [b"\x81\x00", b"\x88\xa8", b"\x86\xdd", b"\x08\x00"][
                    int(rng.integers(4))
                ]
            packets.append(bytes(f))
        data = np.frombuffer(b"".join(packets) or b"\x00", dtype=np.uint8)
        caplen = np.array([len(p) for p in packets], dtype=np.int64)
        off = np.concatenate([[0], np.cumsum(caplen)[:-1]]).astype(np.int64)
        link = rng.choice([0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 5], len(packets))
        link[rng.random(len(packets)) < 0.5] = 1
        port: int | tuple[int, ...] = (6343, 4739) if trial % 2 else 6343
        with use_core("native"):
            got = locate(data, off, caplen, link.astype(np.int64), port)
        with use_core("pure"):
            want = locate(data, off, caplen, link.astype(np.int64), port)
        for name in ("reason", "payload_off", "payload_len", "src4", "src6", "is6", "l3", "l4"):
            a, b = getattr(got, name), getattr(want, name)
            assert a.shape == b.shape and np.array_equal(a, b.astype(a.dtype)), (trial, name)
        reasons += np.bincount(got.reason, minlength=7)
    assert (reasons > 0).all()  # every reason came up: found and each skip


def test_pcap_records_alike_when_records_outnumber_the_first_room() -> None:
    from flowlab.capture import pcap

    require_native()
    tiny = b"".join(
        struct.pack("<IIII", 1_700_000_000 + i, i * 997 % 1_000_000, 4, 4) + b"abcd"
        for i in range(5000)
    )
    cut = tiny + struct.pack("<IIII", 0, 0, 9, 9) + b"abc"  # an incomplete last record
    for chunk in (tiny, cut, tiny[:7], b""):
        for units in (1_000_000, 1_000_000_000):
            with use_core("native"):
                *got, stop = pcap._records(chunk, 0, "<", units)
            with use_core("pure"):
                *want, want_stop = pcap._records(chunk, 0, "<", units)
            assert all(np.array_equal(a, b) for a, b in zip(got, want)) and stop == want_stop
    assert got[0].size == 0
    starts, caplen, ms, _ = pcap._records(tiny, 0, "<", 1_000_000)
    assert len(starts) == 5000 and set(caplen.tolist()) == {4}
    assert ms[3] == (1_700_000_003) * 1000 + 3 * 997 // 1000
