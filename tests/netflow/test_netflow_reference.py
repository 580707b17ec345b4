"""Differential: the vectorised decoder gives the records the per-record reference decoder gives,
on the real captures and on hypothesis-generated datagrams of every version."""

from __future__ import annotations

import struct
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netflow_helpers import DATA, decode_many, udp_payloads
from netflow_reference import reference_rows

from flowlab.netflow import elements as e
from flowlab.netflow.encode import (
    Flow,
    data_set,
    flow_template,
    flow_values,
    message,
    netflow5_datagram,
    template_set,
    variable,
)
from flowlab.netflow.records import IPFIX, NETFLOW9
from flowlab.netflow.templates import Template

COLUMNS = [
    "exporter", "observation_domain", "sequence", "flow_format", "src_ip", "dst_ip", "protocol",
    "src_port", "dst_port", "bytes", "packets", "direction", "in_if", "out_if", "tos",
]  # fmt: skip


def _rows(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    return sorted(
        (tuple(r[c] for c in COLUMNS) for r in frame.select(COLUMNS).to_dicts()), key=repr
    )


def _ref(items: list[tuple[bytes, str]]) -> list[tuple[Any, ...]]:
    return sorted((tuple(r[c] for c in COLUMNS) for r in reference_rows(items)), key=repr)


@pytest.mark.parametrize(
    "name", ["ovs-ipfix-sampling1", "ovs-ipfix-ovnk", "ovs-ipfix-netobserv", "ovs-netflow"]
)
def test_fixtures_equal_the_reference(name: str) -> None:
    items = udp_payloads(DATA / f"{name}.pcap")
    out = decode_many([d for d, _, _ in items], peers=[s for _, s, _ in items])
    assert out.stats.bad == 0
    got = _rows(out.flows)
    assert got and got == _ref([(d, s) for d, s, _ in items])


def test_fixtures_in_small_batches_equal_one_batch() -> None:
    """The state carries templates from batch to batch: batches of 3 datagrams give the same rows."""
    from flowlab.netflow import NetFlowState

    items = udp_payloads(DATA / "ovs-ipfix-sampling1.pcap")
    state = NetFlowState()
    parts = [
        decode_many([d for d, _, _ in items[k : k + 3]], peers=[s for _, s, _ in items[k : k + 3]],
                    state=state).flows
        for k in range(0, len(items), 3)
    ]  # fmt: skip
    assert _rows(pl.concat(parts)) == _ref([(d, s) for d, s, _ in items])


ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
ipv6 = st.lists(st.integers(0, 0xFFFF), min_size=8, max_size=8).map(
    lambda w: ":".join(f"{x:x}" for x in w)
)


@st.composite
def flows(draw: st.DrawFn, *, v6: bool) -> Flow:
    return Flow(
        draw(ipv6 if v6 else ipv4),
        draw(ipv6 if v6 else ipv4),
        draw(st.sampled_from([1, 6, 17, 58, 132, 47])),
        draw(st.integers(0, 65535)),
        draw(st.integers(0, 65535)),
        packets=draw(st.integers(0, 2**32 - 1)),
        octets=draw(st.integers(0, 2**32 - 1)),
        in_if=draw(st.integers(0, 65535)),
        out_if=draw(st.integers(0, 65535)),
        tos=draw(st.integers(0, 255)),
        direction=draw(st.integers(0, 1)),
    )


@given(
    fl=st.lists(flows(v6=False), min_size=1, max_size=30),
    seq=st.integers(0, 2**32 - 1),
    sampling=st.integers(0, 0xFFFF),
)
@settings(max_examples=40, deadline=None)
def test_netflow5_equals_reference(fl: list[Flow], seq: int, sampling: int) -> None:
    wire = netflow5_datagram(fl, sequence=seq, sampling=sampling)
    out = decode_many([wire], peers=["192.0.2.1"])
    assert out.stats.bad == 0
    assert _rows(out.flows) == _ref([(wire, "192.0.2.1")])


@st.composite
def templated(draw: st.DrawFn) -> tuple[list[bytes], list[str]]:
    """Datagrams of random templates (extra variable-length and enterprise fields mixed in),
    some data sets before their template, several exporters and domains.

    A data set goes before its template only when no template of that id is in force for its
    exporter and domain: otherwise a collector rightly reads it with the template in force."""
    version = draw(st.sampled_from([IPFIX, NETFLOW9]))
    datagrams: list[bytes] = []
    peers: list[str] = []
    in_force: set[tuple[str, int, int]] = set()
    for _ in range(draw(st.integers(1, 4))):
        v6 = draw(st.booleans())
        tid = draw(st.integers(256, 260))
        base = flow_template(tid, ipv6=v6, version=version)
        fields = list(base.fields)
        extras: list[tuple[int, tuple[int, int, int]]] = []
        if version == IPFIX and draw(st.booleans()):
            extras.append((draw(st.integers(0, len(fields))), (82, 0, e.VARIABLE_LENGTH)))
        if version == IPFIX and draw(st.booleans()):
            extras.append((draw(st.integers(0, len(fields))), (e.TUNNEL_KEY, e.VMWARE, 4)))
        for at, f in sorted(extras, reverse=True):
            fields.insert(at, f)
        t = Template(tid, tuple(fields))
        recs = []
        for f in draw(st.lists(flows(v6=v6), min_size=1, max_size=8)):
            values = iter(flow_values(f, version=version))
            rec = []
            for _eid, pen, length in fields:
                if length == e.VARIABLE_LENGTH:
                    rec.append(variable(b"n" * draw(st.integers(0, 300))))
                elif pen:
                    rec.append(struct.pack("!I", draw(st.integers(0, 2**32 - 1))))
                else:
                    rec.append(next(values))
            recs.append(rec)
        peer = draw(st.sampled_from(["192.0.2.1", "192.0.2.2"]))
        domain = draw(st.integers(0, 2))
        head = {"version": version, "domain": domain, "sequence": draw(st.integers(0, 99))}
        key = (peer, domain, tid)
        if version == IPFIX and draw(st.integers(0, 4)) == 0:  # withdrawn first: data waits
            datagrams.append(message([template_set([Template(tid, ())], version)], **head))
            peers.append(peer)
            in_force.discard(key)
        if key not in in_force and draw(st.booleans()):  # data first, template next
            datagrams += [
                message([data_set(tid, recs)], **head),
                message([template_set([t], version)], **head),
            ]
            peers += [peer, peer]
        else:
            datagrams.append(message([template_set([t], version), data_set(tid, recs)], **head))
            peers.append(peer)
        in_force.add(key)
    return datagrams, peers


@given(case=templated())
@settings(max_examples=60, deadline=None)
def test_templated_datagrams_equal_reference(case: tuple[list[bytes], list[str]]) -> None:
    datagrams, peers = case
    out = decode_many(datagrams, peers=peers)
    assert out.stats.bad == 0
    assert _rows(out.flows) == _ref(list(zip(datagrams, peers)))
