"""Hostile datagrams and hostile arguments for the decoder (#11 items 6, 9, 10; floods).

Real Open vSwitch datagrams from tests/data, mutated; the flood goes through a
live collector over loopback UDP.
"""

from __future__ import annotations

import random
import socket
import struct

import numpy as np
import pytest
from fault_data import ovs_datagrams, renumbered, replay

from flowlab.collect.collector import Collector
from flowlab.decoding.sequence import SequenceTracker
from flowlab.exceptions import SFlowError
from flowlab.sflow.decode import decode

T0 = 1_733_300_000_000


def batch(grams: list[bytes]) -> tuple[bytes, list[int], list[int]]:
    offsets, pos = [], 0
    for g in grams:
        offsets.append(pos)
        pos += len(g)
    return b"".join(grams), offsets, [len(g) for g in grams]


def one_agent(n: int) -> list[bytes]:
    """`n` real OVS datagrams of one agent stream, numbered 1..n."""
    grams = ovs_datagrams()
    return renumbered([grams[i % len(grams)] for i in range(n)], 1)


def corrupt(gram: bytes, sequence: int) -> bytes:
    """The datagram with another sequence number and its last sample cut (a sample overrun)."""
    b = bytearray(gram)
    struct.pack_into("!I", b, 16, sequence)
    return bytes(b[:-8])


@pytest.mark.parametrize("batches", [1, 2, 101])
def test_a_rejected_datagram_does_not_move_the_sequence_tracker(batches: int) -> None:
    grams = one_agent(100)
    bad = corrupt(grams[50], 101 + 2**30)
    stream = [*grams[:60], bad, *grams[60:]]
    tracker = SequenceTracker()
    stats = []
    step = -(-len(stream) // batches)
    for i in range(0, len(stream), step):
        buf, offs, lens = batch(stream[i : i + step])
        stats.append(decode(buf, offs, lens, received_ms=T0, state=tracker).stats)
    assert sum(s.datagrams_bad.get("sample_overrun", 0) for s in stats) == 1
    assert sum(sum(s.lost_datagrams.values()) for s in stats) == 0
    assert sum(sum(s.sequence_resets.values()) for s in stats) == 0
    assert sum(s.late_datagrams + s.duplicate_datagrams for s in stats) == 0


def test_a_real_gap_is_still_counted_beside_a_rejected_datagram() -> None:
    grams = one_agent(100)
    stream = [*grams[:40], corrupt(grams[40], 7), *grams[45:]]  # 40..44 really lost
    buf, offs, lens = batch(stream)
    out = decode(buf, offs, lens, received_ms=T0)
    assert sum(out.stats.lost_datagrams.values()) == 5 and not out.stats.sequence_resets


GOOD = ovs_datagrams()[0]
BAD_ARGUMENTS = {
    "offset beyond 64-bit arithmetic": (GOOD, [0, 2**62], [len(GOOD), 8], T0),
    "offset too large for int64": (GOOD, [2**64], [8], T0),
    "negative length": (GOOD, [0], [-4], T0),
    "length beyond the buffer": (GOOD, [0], [len(GOOD) + 1], T0),
    "float offsets": (GOOD, [0.0], [len(GOOD)], T0),
    "text offsets": (GOOD, "0", [len(GOOD)], T0),
    "None lengths": (GOOD, [0], None, T0),
    "buffer of int": (12345, [0], [4], T0),
    "buffer of str": ("sflow", [0], [4], T0),
    "received_ms of str": (GOOD, [0], [len(GOOD)], "now"),
    "received_ms beyond 64 bits": (GOOD, [0], [len(GOOD)], 2**70),
    "received_ms of the wrong shape": (GOOD, [0], [len(GOOD)], [T0, T0]),
}


@pytest.mark.parametrize("name", sorted(BAD_ARGUMENTS))
def test_wrong_arguments_are_an_sflow_error(name: str) -> None:
    buffer, offsets, lengths, received = BAD_ARGUMENTS[name]
    with pytest.raises(SFlowError, match=r"offsets|lengths|buffer|received_ms|datagram 0"):
        decode(buffer, offsets, lengths, received_ms=received)  # type: ignore[arg-type]


def test_wrong_peers_source_and_state_are_an_sflow_error() -> None:
    for kwargs in ({"peers": 5}, {"source": 5}, {"state": {}}):
        with pytest.raises(SFlowError, match=r"peers|source|state"):
            decode(GOOD, [0], [len(GOOD)], received_ms=T0, **kwargs)  # type: ignore[arg-type]


def mutants(grams: list[bytes], n: int, seed: int) -> list[bytes]:
    """`n` mutated real datagrams: bit flips, random words, truncations, extensions, splices."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        g = bytearray(rng.choice(grams))
        how = rng.randrange(5)
        if how == 0:
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(g))
                g[i] ^= 1 << rng.randrange(8)
        elif how == 1:
            i = rng.randrange(0, len(g) - 4, 4)
            g[i : i + 4] = struct.pack(
                "!I", rng.choice([0, 1, 2**31, 2**32 - 1, rng.getrandbits(32)])
            )
        elif how == 2:
            g = g[: rng.randrange(len(g))]
        elif how == 3:
            g += bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))
        else:
            other = rng.choice(grams)
            cut = rng.randrange(len(g))
            g = g[:cut] + other[cut:]
        out.append(bytes(g))
    return out


def rejected(grams: list[bytes]) -> list[bytes]:
    """The datagrams the decoder rejects (each decoded on its own)."""
    buf, offs, lens = batch(grams)
    out = []
    for g, o, n in zip(grams, offs, lens, strict=True):
        if decode(buf, [o], [n], received_ms=T0).stats.bad:
            out.append(g)
    return out


def test_a_flood_of_mutated_datagrams_is_counted_and_never_stops_the_collector() -> None:
    # 2,000 valid datagrams of one stream, numbered 1..2000, among ~4,000 rejected mutants:
    # every mutant counted by reason, every valid row decoded, and no sequence gap invented
    valid = renumbered([ovs_datagrams()[i % 20] for i in range(2000)], 1)
    bad = rejected(mutants(ovs_datagrams() + ovs_datagrams("ovs-sampling1"), 8000, seed=11))
    assert len(bad) > 3000
    rng = random.Random(3)
    slots = set(rng.sample(range(len(valid) + len(bad)), len(bad)))
    vi, bi = iter(valid), iter(bad)
    stream = [next(bi) if i in slots else next(vi) for i in range(len(valid) + len(bad))]
    # the same datagrams in the same order, decoded offline: what the collector must report
    buf, offs, lens = batch(stream)
    offline = decode(buf, offs, lens, received_ms=T0).stats
    with Collector("127.0.0.1:0", receive="thread") as col:
        sent = replay(stream, col.address, per_second=20_000)
        col.flush()
        assert col.running and col.error is None
        stats = col.stats
    assert stats.kernel_drops == 0 and stats.datagrams == sent == len(stream)
    assert stats.errors_by_reason == offline.datagrams_bad
    assert stats.errors == offline.bad > 0
    assert (stats.flows, stats.counters) == (offline.flows, offline.counters)
    assert stats.decode.datagrams_ok == len(valid) and stats.errors == len(bad)
    assert stats.sequence_lost == 0 and not stats.decode.sequence_resets


def test_zero_and_random_datagrams_over_udp_are_counted() -> None:
    rng = np.random.default_rng(5)
    junk = [
        b"",
        b"\x00" * 4,
        b"\x00\x00\x00\x05",
        *(rng.bytes(int(k)) for k in rng.integers(1, 1400, 500)),
    ]
    with Collector("127.0.0.1:0", receive="thread") as col:
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for g in junk:
            tx.sendto(g, col.address)
        tx.close()
        col.flush()
        stats = col.stats
    assert stats.datagrams == len(junk) and stats.errors == len(junk)
    assert stats.flows == stats.counters == stats.sequence_lost == 0


def crafted(samples: int, records: int = 0) -> bytes:
    """A datagram of `samples` empty samples of an unknown format, or (with `records`) one flow
    sample holding `records` empty records: the shapes that cost the walk one level each."""
    head = struct.pack("!IIIIIII", 5, 1, 0x0A000001, 0, 1, 100, samples)
    if not records:
        return head + struct.pack("!II", 99, 0) * samples
    body = struct.pack("!8I", 1, 3, 400, 400, 0, 3, 4, records) + struct.pack("!II", 9, 0) * records
    return head + struct.pack("!II", 1, len(body)) + body


def test_datagrams_over_the_work_bound_are_counted_rejections() -> None:
    from flowlab.sflow import _walk

    max_samples, max_records = (
        getattr(_walk, "MAX_SAMPLES", 1024),
        getattr(_walk, "MAX_RECORDS", 256),
    )
    real = one_agent(200)
    hostile = [crafted(8184), crafted(max_samples + 1), crafted(1, max_records + 1)]
    within = [crafted(max_samples), crafted(1, max_records)]
    buf, offs, lens = batch([*real[:100], *hostile, *within, *real[100:]])
    out = decode(buf, offs, lens, received_ms=T0)
    assert out.stats.datagrams_bad == {"implausible_count": 3}
    assert out.stats.datagrams_ok == 200 + 2
    rb, ro, rl = batch(real)
    alone = decode(rb, ro, rl, received_ms=T0).stats
    assert out.stats.flows == alone.flows + 1  # the bare flow sample within the bound
    assert out.stats.samples_skipped == {(0, 99): max_samples}
    assert out.stats.records_skipped.get((0, 9)) == max_records
