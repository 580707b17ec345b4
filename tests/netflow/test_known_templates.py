"""Template datagrams sent again (as Open vSwitch does every 600 s) are counted without a walk
only while their templates are the ones in force: a re-sent definition that was replaced in the
meantime must be applied again, in order, within a batch and across batches."""

from __future__ import annotations

import struct

import pytest
from netflow_helpers import decode_many

from flowlab.netflow import NetFlowState, Template
from flowlab.netflow import elements as e
from flowlab.netflow.encode import data_set, message, template_set

A = Template(300, ((e.SOURCE_IPV4_ADDRESS, 0, 4), (e.PACKET_DELTA_COUNT, 0, 4)))
B = Template(300, ((e.PACKET_DELTA_COUNT, 0, 4), (e.SOURCE_IPV4_ADDRESS, 0, 4)))
RECORD = [bytes([10, 0, 0, 1]), struct.pack("!I", 5)]  # as A: 10.0.0.1, 5 packets


def _stream(rounds: int) -> list[bytes]:
    """A, data, B, data, A again (byte for byte, other header), data; `rounds` times."""
    out = []
    for k in range(rounds):
        seq = 3 * k
        out += [
            message([template_set([A])], sequence=seq, export_s=1 + k),
            message([data_set(300, [RECORD])], sequence=seq),
            message([template_set([B])], sequence=seq + 1, export_s=2 + k),
            message([data_set(300, [RECORD])], sequence=seq + 1),
            message([template_set([A])], sequence=seq + 2, export_s=3 + k),
            message([data_set(300, [RECORD])], sequence=seq + 2),
        ]
    return out


@pytest.mark.parametrize("batch", [1, 2, 5, 18])
def test_resent_template_is_applied_again_after_a_redefinition(batch: int) -> None:
    grams = _stream(3)
    state = NetFlowState()
    rows = []
    for k in range(0, len(grams), batch):
        part = grams[k : k + batch]
        out = decode_many(part, peers=["192.0.2.1"] * len(part), state=state)
        assert out.stats.bad == 0
        rows += list(zip(out.flows["src_ip"].to_list(), out.flows["packets"].to_list()))
    # read with A: 10.0.0.1 and 5 packets; with B the same bytes are 0x0a000001 packets from 0.0.0.5
    a, b = ("10.0.0.1", 5), ("0.0.0.5", 0x0A000001)
    assert rows == [a, b, a] * 3
    assert state.templates.get("192.0.2.1", 0, 300) == A


def test_resent_templates_in_force_are_counted() -> None:
    grams = [message([template_set([A])], sequence=0, export_s=s) for s in range(4)]
    out = decode_many(grams, peers=["192.0.2.1"] * 4, state=NetFlowState())
    assert out.stats.samples == {"template": 4} and out.stats.bad == 0
