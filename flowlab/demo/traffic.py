"""The simulated cluster's traffic: conversations, and the packets Open vSwitch samples from them.

Each :class:`Conversation` is a client talking to one server backend at given
packet rates in each direction. Like Open vSwitch, every node samples the
packets *entering its bridge* at its sampling rate: a request is sampled on
the client's node, a reply on the server's node. A request to a ClusterIP
service is sampled before OVN's load balancer rewrites it, so it shows the
service IP and port; the reply shows the backend pod that answered (what OVS
really exports; :mod:`flowlab.k8s` maps both back to names).

The shape follows the questions flowlab's analyses ask: grafana (10.128.2.7)
talks to exactly three peers (prometheus-k8s-0 10.129.2.9, prometheus-k8s-1
and alertmanager-main-0); many pods and every node reach the Kubernetes API
(``172.30.0.1:443`` and the apiservers' ``:6443``); only the apiservers open
etcd-client (TCP 2379) connections, to the etcd members on the other masters;
etcd members talk to each other on 2380; DNS from every pod; ingress routers
in front of the shop; app-internal traffic; node-to-node ICMP; kubelet probes
from each node's management port; occasional pure SYNs of new connections.

:func:`sample_packets` draws, for a simulated window, how many packets of
each conversation direction get sampled (Poisson, at least one per direction
so that short windows still show every conversation) and their fields, as one
Polars frame, deterministically for a seed.

Examples
--------
>>> from flowlab.demo.cluster import build_cluster
>>> cluster = build_cluster(0)
>>> convs = conversations(cluster)
>>> sorted({c.server.ip for c in convs if c.client.ip == "10.128.2.7"})[:1]
['10.129.2.9']
>>> samples = sample_packets(cluster, convs, seconds=60, seed=0)
>>> samples.height > 0, samples["time_ms"].max() < 60_000
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from flowlab.demo.cluster import Cluster, Node, Pod
from flowlab.services import default_table

__all__ = [
    "GENEVE_IF",
    "MGMT_IF",
    "UPLINK_IF",
    "Conversation",
    "End",
    "conversations",
    "port_rates",
    "sample_packets",
]

#: Open vSwitch port numbers (ifIndex) of every node's bridge besides the pods' ports.
UPLINK_IF, MGMT_IF, GENEVE_IF = 1, 2, 3
_POD_MTU_FRAME, _HOST_MTU_FRAME = 1414, 1514  # largest frames: OVN pod MTU 1400, hosts 1500


@dataclass(frozen=True)
class End:
    """One side of a conversation: address, node (None outside the cluster), bridge port, MAC."""

    ip: str
    node: Node | None
    ifindex: int
    mac: str
    host: bool = False

    @classmethod
    def of_pod(cls, pod: Pod) -> End:
        """A pod (host-network pods are their node)."""
        if pod.host_network:
            return cls.of_node(pod.node)
        return cls(pod.ip, pod.node, pod.ifindex, pod.mac)

    @classmethod
    def of_node(cls, node: Node) -> End:
        """A node's host network stack."""
        return cls(node.ip, node, MGMT_IF, node.mac, host=True)


@dataclass(frozen=True)
class Conversation:
    """A client talking to one server backend.

    ``dst_ip``/``dst_port`` are what the client addresses (a service IP and
    port, or the server itself); the server answers from ``server.ip`` and
    ``server_port``. Rates are packets per second on the wire; sizes are
    (small frame, large frame, share of large frames); ``per_conn`` is the
    packets of one connection (the share of SYNs and FINs).
    """

    name: str
    client: End
    server: End
    dst_ip: str
    dst_port: int
    server_port: int
    protocol: int
    req_pps: float
    rsp_pps: float
    req_size: tuple[int, int, float] = (90, 600, 0.1)
    rsp_size: tuple[int, int, float] = (66, 1414, 0.5)
    per_conn: float = 2000.0
    active: tuple[float, float] = (0.0, 1.0)


def _conv(name: str, client: End, server: End, port: int, proto: int, req: float, rsp: float,
          *, vip: tuple[str, int] | None = None, **kw: object) -> Conversation:  # fmt: skip
    dst_ip, dst_port = vip if vip else (server.ip, port)
    return Conversation(name, client, server, dst_ip, dst_port, port, proto, req, rsp, **kw)  # type: ignore[arg-type]


def conversations(cluster: Cluster) -> list[Conversation]:
    """Every conversation of the simulated cluster (deterministic for the cluster)."""
    c = cluster
    out: list[Conversation] = []
    masters = [n for n in c.nodes if n.role == "master"]
    pod = End.of_pod

    def one(app: str, namespace: str | None = None) -> Pod:
        return c.pods_of(app, namespace)[0]

    def via(svc_ns: str, svc: str, port: int, client: End, name: str, proto: int, req: float,
            rsp: float, **kw: object) -> None:  # fmt: skip
        service = c.service(svc_ns, svc)
        target = service.target(port)
        backends = [End.of_pod(p) for p in service.endpoints] or [
            End.of_node(n) for n in service.host_endpoints
        ]
        for b in backends:
            if b.ip == client.ip:
                continue
            share = 1.0 / len(backends)
            out.append(_conv(name, client, b, target, proto, req * share, rsp * share,
                             vip=(service.cluster_ip, port), **kw))  # fmt: skip

    # -- control plane ---------------------------------------------------------------------------
    for a in masters:  # apiserver -> etcd on the other masters (local etcd is loopback: unseen)
        for e in masters:
            if a is not e:
                out.append(_conv("apiserver->etcd", End.of_node(a), End.of_node(e), 2379, 6,
                                 220, 380, req_size=(120, 900, 0.3), rsp_size=(66, 1514, 0.6)))  # fmt: skip
                out.append(_conv("etcd-peer", End.of_node(a), End.of_node(e), 2380, 6, 70, 45,
                                 req_size=(110, 1514, 0.2), rsp_size=(66, 200, 0.1)))  # fmt: skip
    for i, n in enumerate(c.nodes):  # kubelets -> apiserver (api-int balances them)
        m = masters[i % 3]
        if m is not n:
            out.append(_conv("kubelet->apiserver", End.of_node(n), End.of_node(m), 6443, 6, 30, 45))
        for other in c.nodes:  # node-to-node ICMP health checks
            if other is not n:
                out.append(_conv("icmp", End.of_node(n), End.of_node(other), 0, 1, 0.3, 0.3,
                                 req_size=(98, 98, 0.0), rsp_size=(98, 98, 0.0)))  # fmt: skip
    api_clients = [
        *c.pods_of("prometheus"),
        one("kube-state-metrics"),
        one("prometheus-operator"),
        *c.pods_of("dns-default"),
        *c.pods_of("router"),
        *c.pods_of("alertmanager"),
    ]
    for p in api_clients:
        heavy = p.app == "kube-state-metrics"
        via("default", "kubernetes", 443, pod(p), f"{p.app}->kubernetes", 6,
            60 if heavy else 12, 160 if heavy else 20)  # fmt: skip
    # -- monitoring ------------------------------------------------------------------------------
    grafana = pod(c.pod_by_ip["10.128.2.7"])
    for prom in c.pods_of("prometheus"):
        out.append(_conv("grafana->prometheus", grafana, pod(prom), 9091, 6, 6, 18,
                         req_size=(66, 700, 0.3), rsp_size=(66, 1414, 0.7), per_conn=400))  # fmt: skip
    out.append(_conv("grafana->alertmanager", grafana, pod(c.pods_of("alertmanager")[0]), 9093, 6,
                     1.5, 2, per_conn=60))  # fmt: skip
    for prom in c.pods_of("prometheus"):
        p = pod(prom)
        for n in c.nodes:
            out.append(_conv("scrape node-exporter", p, End.of_node(n), 9100, 6, 1, 3, per_conn=80))
            out.append(_conv("scrape kubelet", p, End.of_node(n), 10250, 6, 1.5, 6, per_conn=120))
        for m in masters:
            out.append(_conv("scrape etcd", p, End.of_node(m), 9979, 6, 0.5, 2, per_conn=60))
            out.append(_conv("scrape apiserver", p, End.of_node(m), 6443, 6, 1, 8, per_conn=200))
        for app, port in (("kube-state-metrics", 8443), ("router", 1936), ("dns-default", 9154),
                          ("alertmanager", 9095), ("prometheus-operator", 8443)):  # fmt: skip
            for target in c.pods_of(app):
                if target is not prom:
                    out.append(_conv(f"scrape {app}", p, pod(target), port, 6, 0.5, 1.5, per_conn=60))
    am = c.pods_of("alertmanager")
    out.append(_conv("alertmanager mesh", pod(am[0]), pod(am[1]), 9094, 6, 1, 1, per_conn=5000))
    out.append(_conv("alertmanager mesh", pod(am[1]), pod(am[0]), 9094, 17, 0.5, 0.5,
                     req_size=(120, 120, 0.0), rsp_size=(120, 120, 0.0)))  # fmt: skip
    # -- DNS: every pod-network pod but grafana asks the cluster DNS ---------------------------
    dns_clients = [
        p for p in c.pods if not p.host_network and p.phase == "Running" and p.app not in ("grafana", "dns-default")
    ]
    for p in dns_clients:
        via("openshift-dns", "dns-default", 53, pod(p), "dns", 17, 1.2, 1.2,
            req_size=(80, 110, 0.3), rsp_size=(130, 400, 0.2), per_conn=2)  # fmt: skip
    for d in c.pods_of("dns-default"):  # upstream resolver, outside the cluster
        upstream = End("10.0.0.2", None, UPLINK_IF, "52:54:00:00:00:02")
        out.append(_conv("dns upstream", pod(d), upstream, 53, 17, 0.4, 0.4,
                         req_size=(80, 110, 0.3), rsp_size=(130, 400, 0.2), per_conn=2))  # fmt: skip
    # -- kubelet probes from each node's management port ---------------------------------------
    for p in c.pods:
        if p.host_network or p.phase != "Running" or p.app == "grafana" or not p.ports:
            continue
        probe = End(p.node.mgmt_ip, p.node, MGMT_IF, p.node.mac, host=True)
        out.append(_conv("probe", probe, pod(p), p.ports[0].port, 6, 0.6, 0.5, per_conn=8))
    # -- ingress and the applications ----------------------------------------------------------
    for k in range(12):
        outside = End(f"203.0.113.{17 + 9 * k}", None, UPLINK_IF, "52:54:00:00:00:01")
        for r in c.pods_of("router"):
            out.append(_conv("ingress", outside, pod(r), 443, 6, 4, 7, per_conn=40,
                             rsp_size=(66, 1414, 0.6)))  # fmt: skip
    for r in c.pods_of("router"):
        for f in c.pods_of("frontend"):
            out.append(_conv("router->frontend", pod(r), pod(f), 8080, 6, 18, 30, per_conn=300))
    for f in c.pods_of("frontend"):
        via("shop", "cart", 8080, pod(f), "frontend->cart", 6, 14, 20, per_conn=300)
    for cart in c.pods_of("cart"):
        via("shop", "redis", 6379, pod(cart), "cart->redis", 6, 25, 25,
            req_size=(80, 300, 0.1), rsp_size=(70, 900, 0.1))  # fmt: skip
        via("payments", "payments-api", 443, pod(cart), "cart->payments", 6, 4, 5, per_conn=50)
    for api in c.pods_of("payments-api"):
        via("payments", "postgres", 5432, pod(api), "payments->postgres", 6, 8, 12,
            rsp_size=(66, 1414, 0.3))  # fmt: skip
    job = next(p for p in c.pods if p.app == "reconcile")
    job_end = End(job.ip, job.node, job.ifindex, job.mac)
    via("payments", "postgres", 5432, job_end, "reconcile->postgres", 6, 40, 60,
        rsp_size=(66, 1414, 0.6), active=(0.05, 0.12))  # fmt: skip
    return out


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


def _direction(conv: Conversation, reply: bool, seconds: float, rng: np.random.Generator,
               ports: np.ndarray, node_index: dict[str, int]) -> pl.DataFrame | None:  # fmt: skip
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
    size = _sizes(rng, n, conv.rsp_size if reply else conv.req_size,
                  _HOST_MTU_FRAME if host else _POD_MTU_FRAME)  # fmt: skip
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
    if local:
        out_if = dst.ifindex
    else:
        out_if = UPLINK_IF if host else GENEVE_IF
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


def sample_packets(cluster: Cluster, convs: list[Conversation], *, seconds: float,
                   seed: int) -> pl.DataFrame:  # fmt: skip
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


def port_rates(cluster: Cluster, convs: list[Conversation]) -> dict[tuple[int, int], tuple[float, float, float, float]]:
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
            share = (conv.active[1] - conv.active[0])
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
