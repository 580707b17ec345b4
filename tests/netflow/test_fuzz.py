"""Fuzz: damaged real datagrams, templates withdrawn or redefined mid-stream, data before template,
absurd lengths. Every input gives rows or a counted rejection: never an exception, a hang or
unbounded memory."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netflow_helpers import DATA, decode_many, udp_payloads

from flowlab.netflow import NetFlowState, TemplateCache
from flowlab.netflow import elements as e
from flowlab.netflow.encode import data_set, message, template_set
from flowlab.netflow.templates import Template

REAL = [
    d
    for name in ("ovs-ipfix-sampling1", "ovs-netflow")
    for d, _, _ in udp_payloads(DATA / f"{name}.pcap")
]


def _accounted(out: object, n: int) -> None:
    stats = out.stats  # type: ignore[attr-defined]
    assert stats.datagrams == n == stats.datagrams_ok + stats.bad


@given(
    picks=st.lists(st.integers(0, len(REAL) - 1), min_size=1, max_size=6),
    seed=st.integers(0, 2**32),
    flips=st.integers(1, 8),
)
@settings(max_examples=150, deadline=None)
@pytest.mark.timeout(300)
def test_mutated_real_datagrams(picks: list[int], seed: int, flips: int) -> None:
    rng = random.Random(seed)
    datagrams = []
    for i in picks:
        d = bytearray(REAL[i])
        for _ in range(flips):
            if not d:
                break
            kind = rng.random()
            if kind < 0.6:
                d[rng.randrange(len(d))] = rng.randrange(256)
            elif kind < 0.8:  # an absurd length or count in a header or set header
                at = rng.randrange(0, max(1, len(d) - 2))
                d[at : at + 2] = struct.pack("!H", rng.choice([0, 1, 3, 4, 255, 65535]))
            else:
                d = d[: rng.randrange(len(d) + 1)]
        datagrams.append(bytes(d))
    state = NetFlowState(TemplateCache(max_pending=16))
    out = decode_many(datagrams, peers=["p"] * len(datagrams), state=state)
    _accounted(out, len(datagrams))
    assert len(state.templates.pending) <= 16


@given(st.binary(max_size=200))
@settings(max_examples=200, deadline=None)
def test_random_bytes(raw: bytes) -> None:
    for head in (b"\x00\x0a", b"\x00\x09", b"\x00\x05", b""):
        _accounted(decode_many([head + raw]), 1)


def test_templates_withdrawn_redefined_and_absurd_mid_stream() -> None:
    rng = random.Random(7)
    state = NetFlowState(TemplateCache(max_pending=64))
    for _ in range(300):
        tid = rng.randrange(256, 260)
        n = rng.randrange(0, 5)
        fields = tuple(
            (rng.choice([1, 2, 8, 12, 82, 891]), rng.choice([0, 0, e.VMWARE]),
             rng.choice([0, 1, 2, 4, 8, 16, e.VARIABLE_LENGTH]))
            for _ in range(n)
        )  # fmt: skip
        sets = [template_set([Template(tid, fields)])] if rng.random() < 0.5 else []
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
        sets.append(struct.pack("!HH", tid, 4 + len(body)) + body)
        if rng.random() < 0.1:
            sets.append(data_set(tid, []))
        wire = message(sets, sequence=rng.randrange(2**32), domain=rng.randrange(3))
        _accounted(decode_many([wire], peers=["p"], state=state), 1)
        assert len(state.templates.pending) <= 64


def test_one_byte_records_of_a_huge_set_are_bounded() -> None:
    """A variable-length-only template and a 65 kB set of empty values: 65 531 records, at once."""
    t = Template(256, ((82, 0, e.VARIABLE_LENGTH),))
    body = bytes(65535 - 4 - 16 - 4 - 8)
    wire = message([template_set([t]), struct.pack("!HH", 256, 4 + len(body)) + body])
    out = decode_many([wire], peers=["p"])
    _accounted(out, 1)
    assert out.flows.height == len(body)


def test_bad_arguments_raise_a_usage_error() -> None:
    from flowlab.exceptions import UsageError
    from flowlab.netflow import decode

    with pytest.raises(UsageError):
        decode(b"", [0, 1], [1], received_ms=0)
