"""How each node's Open vSwitch samples the simulated conversations.

:func:`sample_packets` draws, for a simulated window, how many packets of each
conversation direction a node samples (Poisson with the node's 1-in-N rate;
at least one per direction so that short windows still show every
conversation) and their fields (times, client ports, TCP flags with SYN/FIN at
the connection rate, frame sizes, bridge ports, MACs), as one Polars frame,
deterministically for a seed. :func:`port_rates` gives the average traffic
per bridge port, from which the interface counters grow.

Examples
--------
>>> from flowlab.demo.cluster import build_cluster
>>> from flowlab.demo.traffic import conversations
>>> cluster = build_cluster(0)
>>> samples = sample_packets(cluster, conversations(cluster), seconds=60, seed=0)
>>> samples.height > 0, samples["time_ms"].max() < 60_000
(True, True)
"""

from __future__ import annotations

import numpy as np
import polars as pl

from flowlab.demo.cluster import Cluster, Node
from flowlab.demo.traffic import GENEVE_IF, UPLINK_IF, Conversation
from flowlab.services import default_table

__all__ = ["port_rates", "sample_packets"]

_POD_MTU_FRAME, _HOST_MTU_FRAME = 1414, 1514  # largest frames: OVN pod MTU 1400, hosts 1500


def _ephemeral_ports() -> np.ndarray:
    """Linux's ephemeral range without registered service ports (keeps orientation unambiguous)."""
    table = default_table()
    ports = np.arange(32768, 61000)
    known = np.fromiter(
        (table.known(6, int(p)) or table.known(17, int(p)) for p in ports), bool, len(ports)
    )
    return ports[~known]


def _sizes(rng: np.random.Generator, n: int, spec: tuple[int, int, float], cap: int) -> np.ndarray:
    small, large, p_large = spec
    big = rng.random(n) < p_large
    jitter = rng.integers(0, max(1, small // 3), n)
    out = np.where(big, min(large, cap), small + jitter)
    return np.minimum(out, cap).astype(np.int64)


def _direction(
    conv: Conversation,
    reply: bool,
    seconds: float,
    rng: np.random.Generator,
    ports: np.ndarray,
    node_index: dict[str, int],
) -> pl.DataFrame | None:
    src, dst = (conv.server, conv.client) if reply else (conv.client, conv.server)
    agent = src.node if src.node is not None else dst.node
    if agent is None:
        return None
    pps = conv.rsp_pps if reply else conv.req_pps
    start, end = conv.active
    span = seconds * (end - start)
    n = max(1, int(rng.poisson(pps * span / agent.sampling_rate)))
    times = np.sort((seconds * start + rng.random(n) * span) * 1000).astype(np.int64)
    conns = int(min(5000, max(1, round(conv.req_pps * span / conv.per_conn))))
    conn_ports = rng.choice(ports, conns)
    cport = conn_ports[rng.integers(0, conns, n)]
    host = src.host or dst.host or src.node is None or dst.node is None
    size = _sizes(
        rng,
        n,
        conv.rsp_size if reply else conv.req_size,
        _HOST_MTU_FRAME if host else _POD_MTU_FRAME,
    )
    flags = np.zeros(n, dtype=np.int64)
    if conv.protocol == 6:
        u = rng.random(n)
        p_edge = 1.0 / conv.per_conn
        flags = np.where(rng.random(n) < 0.4, 0x18, 0x10)
        flags = np.where(u < 2 * p_edge, 0x11, flags)
        flags = np.where(u < p_edge, 0x12 if reply else 0x02, flags)
        size = np.where(u < p_edge, 74, size)
    if reply:
        s_ip, d_ip = conv.server.ip, conv.client.ip
        s_port, d_port = np.full(n, conv.server_port), cport
    else:
        s_ip, d_ip = conv.client.ip, conv.dst_ip
        s_port, d_port = cport, np.full(n, conv.dst_port)
    if conv.protocol not in (6, 17):
        s_port = d_port = np.zeros(n, dtype=np.int64)
    in_if = UPLINK_IF if src.node is None else src.ifindex
    local = dst.node is agent
    out_if = dst.ifindex if local else (UPLINK_IF if host else GENEVE_IF)
    if local and not dst.host:
        dst_mac = dst.mac  # switched on the node
    elif not src.host and src.node is agent:
        dst_mac = "0a:58:" + ":".join(f"{b:02x}" for b in _gw_bytes(agent))  # OVN router port
    else:
        dst_mac = dst.mac
    tunnel = dst.node.ip if (out_if == GENEVE_IF and dst.node is not None) else None
    return pl.DataFrame(
        {
            "agent": np.full(n, node_index[agent.name], dtype=np.int64),
            "time_ms": times,
            "src_ip": [s_ip] * n,
            "dst_ip": [d_ip] * n,
            "src_port": s_port.astype(np.int64),
            "dst_port": d_port.astype(np.int64),
            "protocol": np.full(n, conv.protocol, dtype=np.int64),
            "tcp_flags": flags.astype(np.int64),
            "frame_size": size,
            "icmp_type": np.full(n, 0 if reply else 8, dtype=np.int64),
            "in_if": np.full(n, in_if, dtype=np.int64),
            "out_if": np.full(n, out_if, dtype=np.int64),
            "src_mac": [src.mac] * n,
            "dst_mac": [dst_mac] * n,
            "ttl": np.full(n, 64 if src.node is not None else 52, dtype=np.int64),
            "tunnel_to": [tunnel] * n,
            "conversation": [conv.name] * n,
        },
        schema_overrides={"tunnel_to": pl.String},
    )


def _gw_bytes(node: Node) -> bytes:
    return (node.subnet.network_address + 1).packed


def sample_packets(
    cluster: Cluster, convs: list[Conversation], *, seconds: float, seed: int
) -> pl.DataFrame:
    """The packets the nodes' Open vSwitch sample in `seconds` of simulated traffic.

    Returns
    -------
    polars.DataFrame
        One row per sampled packet, sorted by (``agent``, ``time_ms``):
        agent (index into ``cluster.nodes``), time_ms (from the window start),
        addresses, ports, protocol, tcp_flags, frame_size (without FCS),
        icmp_type, in_if/out_if, MACs, ttl, tunnel_to (remote node for
        Geneve-bound packets) and the conversation name.
    """
    rng = np.random.default_rng([seed, 0x7AFF1C])
    ports = _ephemeral_ports()
    node_index = {n.name: i for i, n in enumerate(cluster.nodes)}
    parts = []
    for conv in convs:
        for reply in (False, True):
            frame = _direction(conv, reply, seconds, rng, ports, node_index)
            if frame is not None:
                parts.append(frame)
    return pl.concat(parts, how="vertical").sort(["agent", "time_ms"], maintain_order=True)


def port_rates(
    cluster: Cluster, convs: list[Conversation]
) -> dict[tuple[int, int], tuple[float, float, float, float]]:
    """Average (in_pps, in_bps, out_pps, out_bps) per (node index, bridge port), for counters."""
    rates: dict[tuple[int, int], list[float]] = {}
    index = {n.name: i for i, n in enumerate(cluster.nodes)}

    def add(node: Node | None, ifindex: int, slot: int, pps: float, size: float) -> None:
        if node is None:
            return
        acc = rates.setdefault((index[node.name], ifindex), [0.0, 0.0, 0.0, 0.0])
        acc[slot] += pps
        acc[slot + 1] += pps * size * 8

    for conv in convs:
        for src, dst, pps, spec in (
            (conv.client, conv.server, conv.req_pps, conv.req_size),
            (conv.server, conv.client, conv.rsp_pps, conv.rsp_size),
        ):
            share = conv.active[1] - conv.active[0]
            mean = spec[0] * (1 - spec[2]) + spec[1] * spec[2]
            pps = pps * share
            add(src.node, src.ifindex if src.node else UPLINK_IF, 0, pps, mean)
            if dst.node is not None and dst.node is src.node:
                add(dst.node, dst.ifindex, 2, pps, mean)
            else:
                add(src.node, GENEVE_IF if not (src.host or dst.host) else UPLINK_IF, 2, pps, mean)
                add(dst.node, GENEVE_IF if not (src.host or dst.host) else UPLINK_IF, 0, pps, mean)
                add(dst.node, dst.ifindex if dst.node else UPLINK_IF, 2, pps, mean)
    return {k: (v[0], v[1], v[2], v[3]) for k, v in rates.items()}
