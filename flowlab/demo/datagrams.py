"""Turn the simulated samples into the sFlow datagrams each node's Open vSwitch would send.

Like Open vSwitch's sFlow agent, every node (agent address = node IP) packs
its flow samples into datagrams of at most ~1400 bytes and sends them at
least once a second; every bridge port is polled for counters every 30 s
(generic interface + ethernet counters, plus the Open vSwitch records 1004
OpenFlow port and 1005 port name, and 2207 datapath statistics on the uplink,
which decoders skip by length). Flow samples carry a raw packet header
(first 128 bytes, padded with non-zero bytes like Open vSwitch), an extended
switch record and, for packets leaving through the Geneve tunnel, an
``extended_ipv4_tunnel_egress`` record (1023, also skipped by decoders).

Examples
--------
>>> from flowlab.demo.cluster import build_cluster
>>> from flowlab.demo.sampling import sample_packets
>>> from flowlab.demo.traffic import conversations
>>> c = build_cluster(0)
>>> convs = conversations(c)
>>> s = sample_packets(c, convs, seconds=30, seed=0)
>>> grams = build_datagrams(c, convs, s, seconds=30, seed=0)
>>> len(grams) > 6, max(len(g.data) for g in grams) <= 1400
(True, True)
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import polars as pl

from flowlab.demo.cluster import Cluster, Node
from flowlab.demo.sampling import port_rates
from flowlab.demo.traffic import GENEVE_IF, MGMT_IF, UPLINK_IF, Conversation
from flowlab.sflow.encode import encode_datagram, encode_sample
from flowlab.sflow.packet import raw_header
from flowlab.sflow.records import (
    COUNTERS_OPENFLOW_PORT,
    COUNTERS_OVS_DP,
    COUNTERS_PORT_NAME,
    CounterRecord,
    CounterSample,
    Datagram,
    EthernetCounters,
    ExtendedSwitch,
    FlowSample,
    GenericInterfaceCounters,
    RawPacketHeader,
    Sample,
    UnknownRecord,
)

__all__ = [
    "COUNTER_INTERVAL_MS",
    "MAX_DATAGRAM",
    "SentDatagram",
    "build_datagrams",
    "send_batches",
]

T = TypeVar("T")

#: Open vSwitch's sFlow datagram size limit (bytes).
MAX_DATAGRAM = 1400
#: Counter polling interval (OVN-Kubernetes default: 30 s).
COUNTER_INTERVAL_MS = 30_000
_HEADER_BYTES = 128
_TUNNEL_EGRESS = 1023
_OVS_PAD = b"\xa5\x5a\xa5"
_U32 = (1 << 32) - 1
_DATAGRAM_HEAD = 28  # IPv4 agent


@dataclass(frozen=True)
class SentDatagram:
    """One encoded datagram and when (simulated ms from the window start) its agent sends it."""

    time_ms: int
    agent: int
    sequence: int
    data: bytes
    flow_samples: int
    counter_samples: int


def _port_names(cluster: Cluster, node: Node) -> dict[int, str]:
    names = {
        UPLINK_IF: "patch-br-int-to-br-ex",
        MGMT_IF: "ovn-k8s-mp0",
        GENEVE_IF: "genev_sys_6081",
    }
    for p in cluster.pods:
        if p.node is node and p.ifindex:
            names[p.ifindex] = p.port_name
    return names


def _counter_samples(
    cluster: Cluster,
    convs: list[Conversation],
    seconds: float,
    rng: np.random.Generator,
    boot_ms: np.ndarray,
) -> list[list[tuple[int, Sample]]]:
    rates = port_rates(cluster, convs)
    out: list[list[tuple[int, Sample]]] = [[] for _ in cluster.nodes]
    for a, node in enumerate(cluster.nodes):
        datapath = int.from_bytes(rng.bytes(8), "big") >> 16
        for ifindex, name in sorted(_port_names(cluster, node).items()):
            in_pps, in_bps, out_pps, out_bps = rates.get((a, ifindex), (0.0, 0.0, 0.0, 0.0))
            phase = int(rng.integers(0, COUNTER_INTERVAL_MS))
            seq0 = int(boot_ms[a] // COUNTER_INTERVAL_MS)
            name_rec = struct.pack(">I", len(name)) + name.encode()
            for k, t in enumerate(range(phase, int(seconds * 1000), COUNTER_INTERVAL_MS)):
                up = (boot_ms[a] + t) / 1000.0
                records: list[CounterRecord] = [
                    GenericInterfaceCounters(
                        if_index=ifindex,
                        if_speed=25_000_000_000 if ifindex == UPLINK_IF else 10_000_000_000,
                        in_octets=int(in_bps / 8 * up),
                        in_ucast_pkts=int(in_pps * up) & _U32,
                        in_multicast_pkts=int(up / 60) & _U32,
                        out_octets=int(out_bps / 8 * up),
                        out_ucast_pkts=int(out_pps * up) & _U32,
                        out_broadcast_pkts=int(up / 120) & _U32,
                        in_discards=int(up / 86_400),
                    ),
                    EthernetCounters(),
                    UnknownRecord(COUNTERS_OPENFLOW_PORT, struct.pack(">QI", datapath, ifindex)),
                    UnknownRecord(COUNTERS_PORT_NAME, name_rec),
                ]
                if ifindex == UPLINK_IF:
                    hits = int(up * 900)
                    records.append(
                        UnknownRecord(
                            COUNTERS_OVS_DP,
                            struct.pack(
                                ">6I",
                                hits & _U32,
                                int(up * 3) & _U32,
                                0,
                                (hits * 2) & _U32,
                                412,
                                17,
                            ),
                        )
                    )
                out[a].append(
                    (
                        t,
                        CounterSample(
                            sequence=(seq0 + k + 1) & _U32, source_id=ifindex, records=records
                        ),
                    )
                )
    return out


def _flow_samples(
    cluster: Cluster, samples: pl.DataFrame, boot_ms: np.ndarray, rng: np.random.Generator
) -> list[list[tuple[int, Sample]]]:
    out: list[list[tuple[int, Sample]]] = [[] for _ in cluster.nodes]
    cache: dict[tuple[object, ...], RawPacketHeader] = {}
    sample_seq: dict[tuple[int, int], int] = {}
    l4 = {6: 20, 17: 8, 1: 8}
    for row in samples.iter_rows(named=True):
        a = row["agent"]
        node = cluster.nodes[a]
        proto = row["protocol"]
        key = (
            row["src_ip"],
            row["dst_ip"],
            proto,
            row["src_port"],
            row["dst_port"],
            row["tcp_flags"],
            row["ttl"],
            row["frame_size"],
            row["icmp_type"],
            row["src_mac"],
            row["dst_mac"],
        )
        header = cache.get(key)
        if header is None:
            payload = max(0, row["frame_size"] - 14 - 20 - l4.get(proto, 0))
            header = raw_header(
                row["src_ip"],
                row["dst_ip"],
                proto,
                row["src_port"],
                row["dst_port"],
                snaplen=_HEADER_BYTES,
                padding=_OVS_PAD,
                tcp_flags=row["tcp_flags"],
                ttl=row["ttl"],
                payload_length=payload,
                icmp_type=row["icmp_type"] if proto == 1 else None,
                src_mac=row["src_mac"],
                dst_mac=row["dst_mac"],
            )
            cache[key] = header
        records: list[object] = [header, ExtendedSwitch()]
        if row["tunnel_to"] is not None:
            records.append(
                UnknownRecord(
                    _TUNNEL_EGRESS,
                    struct.pack(
                        ">II4s4sIIII",
                        header.frame_length + 50,
                        17,
                        ipaddress.IPv4Address(node.ip).packed,
                        ipaddress.IPv4Address(row["tunnel_to"]).packed,
                        0,
                        6081,
                        0,
                        0,
                    ),
                )
            )
        source = row["in_if"]
        seq = sample_seq.get((a, source))
        if seq is None:
            seq = int(rng.integers(1_000, 100_000))
        seq += 1
        sample_seq[(a, source)] = seq
        rate = node.sampling_rate
        out[a].append(
            (
                row["time_ms"],
                FlowSample(
                    sequence=seq & _U32,
                    source_id=source,
                    sampling_rate=rate,
                    sample_pool=(seq * rate + int(rng.integers(0, rate))) & _U32,
                    records=records,  # type: ignore[arg-type]
                    input_if=source,
                    output_if=row["out_if"],
                ),
            )
        )
    return out


def send_batches(
    events: Iterable[tuple[int, T]], size: Callable[[T], int], *, head: int
) -> Iterator[tuple[int, list[T]]]:
    """An agent's items (in time order) as it sends them: ``(send time, items)`` per datagram.

    A datagram leaves at the end of each second (``...999`` ms) and whenever the next item
    would take it past :data:`MAX_DATAGRAM` bytes (`head` bytes + ``size(item)`` each).
    """
    pending: list[T] = []
    used = head
    bucket = -1
    for t, item in events:
        if t // 1000 != bucket:
            if pending:
                yield (bucket * 1000 + 999 if bucket >= 0 else t), pending
                pending, used = [], head
            bucket = t // 1000
        n = size(item)
        if used + n > MAX_DATAGRAM and pending:
            yield t, pending
            pending, used = [], head
        pending.append(item)
        used += n
    if pending:
        yield bucket * 1000 + 999, pending


def _pack(
    agent: str, index: int, boot_ms: int, events: list[tuple[int, Sample]]
) -> list[SentDatagram]:
    """One agent's samples (in time order) -> datagrams: a flush every second or when full."""
    out: list[SentDatagram] = []
    seq = boot_ms // 1000
    for at_ms, pending in send_batches(
        events, lambda s: len(encode_sample(s)), head=_DATAGRAM_HEAD
    ):
        seq += 1
        gram = Datagram(agent, seq & _U32, (boot_ms + at_ms) & _U32, pending)
        n_flow = sum(isinstance(s, FlowSample) for s in pending)
        out.append(
            SentDatagram(
                at_ms, index, seq & _U32, encode_datagram(gram), n_flow, len(pending) - n_flow
            )
        )
    return out


def build_datagrams(
    cluster: Cluster, convs: list[Conversation], samples: pl.DataFrame, *, seconds: float, seed: int
) -> list[SentDatagram]:
    """Pack and encode every agent's samples into datagrams, sorted by send time.

    Parameters
    ----------
    cluster, convs, samples
        From :func:`~flowlab.demo.cluster.build_cluster`,
        :func:`~flowlab.demo.traffic.conversations` and
        :func:`~flowlab.demo.sampling.sample_packets`.
    seconds : float
        The simulated window (counter polls happen inside it).
    seed : int
        Seeds sequence numbers, uptimes and counter phases.
    """
    rng = np.random.default_rng([seed, 0xDA7A])
    boot_ms = rng.integers(3 * 86_400_000, 40 * 86_400_000, len(cluster.nodes))
    flows = _flow_samples(cluster, samples, boot_ms, rng)
    counters = _counter_samples(cluster, convs, seconds, rng, boot_ms)
    out: list[SentDatagram] = []
    for a, node in enumerate(cluster.nodes):
        events = sorted(
            [(t, 0, s) for t, s in flows[a]] + [(t, 1, s) for t, s in counters[a]],
            key=lambda e: (e[0], e[1]),
        )
        out += _pack(node.ip, a, int(boot_ms[a]), [(t, s) for t, _, s in events])
    out.sort(key=lambda d: (d.time_ms, d.agent))
    return out
