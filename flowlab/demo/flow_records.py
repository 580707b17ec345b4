"""The simulated samples as the IPFIX or NetFlow v9 each node's Open vSwitch would send.

Open vSwitch configured for IPFIX or NetFlow by OVN-Kubernetes samples packets
like its sFlow agent and, with its flow cache off (OVN-Kubernetes' default),
exports every sampled packet at once as its own flow record, already scaled:
``packetDeltaCount`` = the sampling rate N, ``octetDeltaCount`` = N x the frame
length, no sampling interval. So every sampled packet of
:func:`~flowlab.demo.sampling.sample_packets` becomes one record (ingress,
``flowDirection`` 0; start = end = the packet's time), and the estimated bytes
and packets equal the sFlow demo's exactly (the octets use the frame length
the sFlow header reports). Records are packed into messages as the sFlow datagrams are
(:func:`~flowlab.demo.datagrams.send_batches`: at most 1400 bytes, at least once a
second); the templates (IPv4 and IPv6) come with a node's first message and
again every 600 s, as Open vSwitch refreshes them.

Each node is one observation domain (IPFIX) / source id (v9): its index + 1.
Unlike sFlow, these protocols carry no agent address: a collector names the
exporter by the datagram's UDP source address, so the demo sends each node's
datagrams from a loopback address of its own (:func:`exporter_address`,
``10.0.0.11`` -> ``127.0.0.11``); interface counters are sFlow's alone.

Examples
--------
>>> from flowlab.demo import simulate
>>> sim = simulate(30, protocol="ipfix")
>>> sim.datagrams[0].data[:2], sim.flow_samples == sim.samples.height
(b'\\x00\\n', True)
>>> exporter_address(sim.cluster.nodes[0])
'127.0.0.11'
"""

from __future__ import annotations

import ipaddress

import numpy as np
import polars as pl

from flowlab.demo.cluster import Cluster, Node
from flowlab.demo.datagrams import SentDatagram, send_batches
from flowlab.exceptions import ConfigError
from flowlab.netflow import records as r
from flowlab.netflow.encode import Flow, data_set, flow_template, flow_values, message, template_set

__all__ = [
    "FLOW_PROTOCOLS",
    "TEMPLATE_REFRESH_MS",
    "build_flow_records",
    "check_protocol",
    "exporter_address",
]

#: ``--protocol`` -> the export version the demo sends ("netflow" is NetFlow v9)
FLOW_PROTOCOLS = {"ipfix": r.IPFIX, "netflow": r.NETFLOW9}
#: Open vSwitch re-sends its templates every 600 s
TEMPLATE_REFRESH_MS = 600_000
_FCS = 4  # the sFlow header's frame length counts the Ethernet FCS
_U32 = (1 << 32) - 1
#: room in every message for the two templates and two data set headers
_ROOM = 4 + 2 * (4 + 4 * len(flow_template().fields)) + 2 * 4


def check_protocol(protocol: str) -> None:
    """Raise :class:`~flowlab.exceptions.ConfigError` unless the demo can send `protocol`."""
    if protocol != "sflow" and protocol not in FLOW_PROTOCOLS:
        msg = f"the demo sends sflow, {', '.join(FLOW_PROTOCOLS)}; found {protocol!r}"
        raise ConfigError(msg)


def exporter_address(node: Node) -> str:
    """The loopback address the demo sends `node`'s IPFIX/NetFlow from (its IP's last octet)."""
    return f"127.0.0.{ipaddress.IPv4Address(node.ip).packed[-1]}"


def _flows(samples: pl.DataFrame, rates: list[int], start_ms: int) -> list[tuple[int, int, Flow]]:
    out = []
    for row in samples.iter_rows(named=True):
        a, t = row["agent"], row["time_ms"]
        n = rates[a]
        when = start_ms + t
        flow = Flow(
            row["src_ip"],
            row["dst_ip"],
            row["protocol"],
            row["src_port"] or 0,
            row["dst_port"] or 0,
            packets=n,
            octets=n * (row["frame_size"] + _FCS),
            tcp_flags=row["tcp_flags"] or 0,
            start_ms=when,
            end_ms=when,
            in_if=row["in_if"] or 0,
            out_if=row["out_if"] or 0,
        )
        out.append((a, t, flow))
    return out


def _record_size(version: int, ipv6: bool) -> int:
    fields = flow_template(ipv6=ipv6, version=version).fields
    return sum(length for _, _, length in fields)


def _node_messages(
    agent: int, flows: list[tuple[int, Flow]], version: int, start_ms: int, boot_ms: int
) -> list[SentDatagram]:
    """One node's records (in time order) -> messages: sent every second, or when full."""
    out: list[SentDatagram] = []
    sizes = {v6: _record_size(version, v6) for v6 in (False, True)}
    sequence = 0  # IPFIX: data records sent before; v9: packets sent before
    templates_at = -TEMPLATE_REFRESH_MS
    head = (16 if version == r.IPFIX else 20) + _ROOM
    for at_ms, pending in send_batches(flows, lambda f: sizes[":" in f.src], head=head):
        sets = []
        if at_ms - templates_at >= TEMPLATE_REFRESH_MS:
            ts = [flow_template(256 + v6, ipv6=bool(v6), version=version) for v6 in (0, 1)]
            sets.append(template_set(ts, version))
            templates_at = at_ms
        export_ms = start_ms + at_ms
        times = {"export_s": export_ms // 1000}
        if version == r.NETFLOW9:
            times["uptime_ms"] = (export_ms // 1000 * 1000 - boot_ms) & _U32
        for v6 in (False, True):
            group = [f for f in pending if (":" in f.src) == v6]
            if group:
                values = [flow_values(f, version=version, **times) for f in group]
                sets.append(data_set(256 + v6, values))
        domain = agent + 1
        wire = message(sets, version=version, sequence=sequence & _U32, domain=domain, **times)
        sequence += len(pending) if version == r.IPFIX else 1
        out.append(SentDatagram(at_ms, agent, sequence & _U32, wire, len(pending), 0))
    return out


def build_flow_records(
    cluster: Cluster, samples: pl.DataFrame, *, protocol: str, start_ms: int, seed: int
) -> list[SentDatagram]:
    """Every node's sampled packets as IPFIX messages or NetFlow v9 packets, sorted by send time.

    Parameters
    ----------
    cluster, samples
        From :func:`~flowlab.demo.cluster.build_cluster` and
        :func:`~flowlab.demo.sampling.sample_packets`.
    protocol : {"ipfix", "netflow"}
        IPFIX, or NetFlow v9.
    start_ms : int
        Epoch milliseconds of the window's start (the records carry absolute times).
    seed : int
        Seeds the nodes' uptimes (NetFlow v9 counts times from boot).
    """
    check_protocol(protocol)
    version = FLOW_PROTOCOLS[protocol]
    rng = np.random.default_rng([seed, 0xF10])
    boot_ms = start_ms - rng.integers(3 * 86_400_000, 40 * 86_400_000, len(cluster.nodes))
    rates = [n.sampling_rate for n in cluster.nodes]
    by_agent: list[list[tuple[int, Flow]]] = [[] for _ in cluster.nodes]
    for a, t, f in _flows(samples, rates, start_ms):
        by_agent[a].append((t, f))
    out: list[SentDatagram] = []
    for a, flows in enumerate(by_agent):
        out += _node_messages(a, flows, version, start_ms, int(boot_ms[a]))
    out.sort(key=lambda d: (d.time_ms, d.agent))
    return out
