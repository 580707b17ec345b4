"""Differential tests: the vectorised decoder against the one-datagram-at-a-time reference.

Each runs with both decoder cores, compiled and pure (the ``core`` fixture, tests/cores.py).
Both must give identical flow frames, counter frames and stats on random valid datagrams and
on the same datagrams truncated, bit-flipped, with words overwritten by hostile values, or
replaced by random bytes. Also the fuzzing
properties: nothing raises, and ok + bad datagrams add up to the total.
"""

from __future__ import annotations

import struct
from dataclasses import asdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from sflow_helpers import T0, decode_many
from sflow_strategies import Case, cases

from flowlab.decoding.sequence import SequenceTracker
from flowlab.sflow.decode import Decoded
from flowlab.sflow.encode import encode_datagram
from tests.sflow.reference import decode_reference

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
HOSTILE = [0, 1, 2, 3, 4, 5, 8, 12, 16, 28, 32, 44, 88, 0x7FFFFFFF, 0xFFFFFFFF, 0x3FFFFFFF]


@st.composite
def corrupted(draw: st.DrawFn, data: bytes) -> bytes:
    how = draw(st.sampled_from(["keep", "truncate", "flip", "word", "splice", "random"]))
    if how == "keep" or not data:
        return data
    if how == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    if how == "flip":
        b = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(b) - 1))
            b[i] ^= 1 << draw(st.integers(0, 7))
        return bytes(b)
    if how == "word":
        b = bytearray(data)
        i = draw(st.integers(0, max(0, len(b) // 4 - 1))) * 4
        value = draw(st.sampled_from(HOSTILE) | st.integers(0, 2**32 - 1))
        b[i : i + 4] = struct.pack(">I", value)[: len(b) - i]
        return bytes(b)
    if how == "splice":
        i = draw(st.integers(0, len(data)))
        return data[:i] + draw(st.binary(max_size=12)) + data[i + draw(st.integers(0, 12)) :]
    return draw(st.binary(max_size=200))


def both(datagrams: list[bytes], batches: int = 1) -> tuple[Decoded, Decoded]:
    """Decode with the vectorised decoder (in `batches` batches, one tracker) and the reference."""
    tracker = SequenceTracker()
    size = max(1, -(-len(datagrams) // batches))
    parts = [
        decode_many(datagrams[i : i + size], state=tracker) for i in range(0, len(datagrams), size)
    ]
    fast = Decoded.concat(parts)
    # the reference in the same batches (bare rows follow the other rows of their batch), with
    # the helpers' batch-local receive times and one sequence state
    last: dict[tuple[str, int], tuple[int, int]] = {}
    ref = Decoded.concat([
        decode_reference(datagrams[i : i + size], [T0 + j for j in range(len(datagrams[i : i + size]))], last=last)
        for i in range(0, len(datagrams), size)
    ])  # fmt: skip
    return fast, ref


def assert_same(fast: Decoded, ref: Decoded) -> None:
    assert_frame_equal(fast.flows, ref.flows)
    assert_frame_equal(fast.counters, ref.counters)
    assert asdict(fast.stats) == asdict(ref.stats)
    s = fast.stats
    assert s.datagrams == s.datagrams_ok + s.bad


@SETTINGS
@given(st.lists(cases(), min_size=1, max_size=10), st.integers(1, 3))
def test_valid_datagrams_agree(core: str, items: list[Case], batches: int) -> None:
    fast, ref = both([encode_datagram(c.datagram) for c in items], batches)
    assert_same(fast, ref)
    assert fast.stats.datagrams_ok == len(items)


@SETTINGS
@given(st.data())
def test_corrupted_datagrams_agree(core: str, data: st.DataObject) -> None:
    items = data.draw(st.lists(cases(max_samples=4), min_size=1, max_size=8))
    raw = [data.draw(corrupted(encode_datagram(c.datagram))) for c in items]
    fast, ref = both(raw, data.draw(st.integers(1, 2)))
    assert_same(fast, ref)


@st.composite
def deep_datagram(draw: st.DrawFn) -> bytes:
    """A datagram deeper than the level loop walks (over 16 samples, or a sample with over 16
    records): unknown samples with 0-12 byte bodies and flow samples of empty records."""
    samples = []
    for _ in range(draw(st.integers(1, 40))):
        if draw(st.booleans()):
            body = bytes(4 * draw(st.integers(0, 3)))
            samples.append(struct.pack("!II", 99, len(body)) + body)
        else:
            records = draw(st.integers(0, 40))
            body = struct.pack("!8I", 1, 3, 400, 400, 0, 3, 4, records)
            body += struct.pack("!II", 9, 0) * records
            samples.append(struct.pack("!II", 1, len(body)) + body)
    return struct.pack("!7I", 5, 1, 0x0A000001, 0, 1, 100, len(samples)) + b"".join(samples)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_deep_datagrams_agree(core: str, data: st.DataObject) -> None:
    """The chain walk (what is left after 16 levels, or fewer than 64 items still walking),
    intact and corrupted, alone and in a batch of 80 (wide enough for the level loop first)."""
    raw = [
        data.draw(corrupted(data.draw(deep_datagram())))
        for _ in range(data.draw(st.integers(1, 80)))
    ]
    fast, ref = both(raw, data.draw(st.integers(1, 2)))
    assert_same(fast, ref)


@SETTINGS
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_random_bytes_never_raise_and_counts_add_up(core: str, raw: list[bytes]) -> None:
    fast, ref = both(raw)
    assert_same(fast, ref)
    assert fast.stats.datagrams == len(raw)


@SETTINGS
@given(
    st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 300), min_size=1, max_size=60),
    st.integers(1, 4),
)
def test_sequence_tracking_agrees(core: str, seqs: list[int], batches: int) -> None:
    from flowlab.sflow.records import Datagram

    agents = ["10.0.0.1", "10.0.0.2"]
    data = [
        encode_datagram(Datagram(agents[i % 2 if i % 5 else 0], s, 0)) for i, s in enumerate(seqs)
    ]
    fast, ref = both(data, batches)
    assert_same(fast, ref)


def test_monotone_sequences_lose_nothing(core: str) -> None:
    from flowlab.sflow.records import Datagram

    data = [encode_datagram(Datagram("10.0.0.1", s, 0)) for s in range(100, 400)]
    fast, ref = both(data, 7)
    assert fast.stats.lost == ref.stats.lost == 0
    assert fast.stats.late_datagrams == fast.stats.duplicate_datagrams == 0
