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
One change happens in the hour: from its second half on, the shop's frontend
also calls ``payments/payments-api`` directly (a new client of that service,
which the NetworkPolicies proposed from the first half would deny).

The sampling itself is in :mod:`flowlab.demo.sampling`.

Examples
--------
>>> from flowlab.demo.cluster import build_cluster
>>> cluster = build_cluster(0)
>>> convs = conversations(cluster)
>>> sorted({c.server.ip for c in convs if c.client.ip == "10.128.2.7"})[:1]
['10.129.2.9']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from flowlab.demo.cluster import Cluster, Node, Pod

__all__ = ["GENEVE_IF", "MGMT_IF", "UPLINK_IF", "Conversation", "End", "conversations"]

#: Open vSwitch port numbers (ifIndex) of every node's bridge besides the pods' ports.
UPLINK_IF, MGMT_IF, GENEVE_IF = 1, 2, 3


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


class _Sizes(TypedDict, total=False):
    req_size: tuple[int, int, float]
    rsp_size: tuple[int, int, float]
    per_conn: float


#: DNS: one query and one answer per "connection"
_DNS: _Sizes = {"req_size": (80, 110, 0.3), "rsp_size": (130, 400, 0.2), "per_conn": 2}


def _fixed(size: int) -> _Sizes:
    """Packets of one `size` both ways (ICMP echo, a UDP mesh)."""
    return {"req_size": (size, size, 0.0), "rsp_size": (size, size, 0.0)}


#: TCP conversations from each master to each other master: name, port, requests and
#: responses per second, request and response sizes
_MASTER_TO_MASTER = (
    ("apiserver->etcd", 2379, 220, 380, (120, 900, 0.3), (66, 1514, 0.6)),
    ("etcd-peer", 2380, 70, 45, (110, 1514, 0.2), (66, 200, 0.1)),
)


def _conv(
    name: str,
    client: End,
    server: End,
    port: int,
    proto: int,
    req: float,
    rsp: float,
    *,
    vip: tuple[str, int] | None = None,
    **kw: object,
) -> Conversation:
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

    def via(
        svc_ns: str,
        svc: str,
        port: int,
        client: End,
        name: str,
        proto: int,
        req: float,
        rsp: float,
        **kw: object,
    ) -> None:
        service = c.service(svc_ns, svc)
        target = service.target(port)
        backends = [End.of_pod(p) for p in service.endpoints] or [
            End.of_node(n) for n in service.host_endpoints
        ]
        for b in backends:
            if b.ip == client.ip:
                continue
            share = 1.0 / len(backends)
            out.append(
                _conv(
                    name,
                    client,
                    b,
                    target,
                    proto,
                    req * share,
                    rsp * share,
                    vip=(service.cluster_ip, port),
                    **kw,
                )
            )

    # -- control plane ---------------------------------------------------------------------------
    for a in masters:  # apiserver -> etcd on the other masters (local etcd is loopback: unseen)
        for e in masters:
            if a is not e:
                for name, port, req, rsp, req_size, rsp_size in _MASTER_TO_MASTER:
                    out.append(
                        _conv(
                            name,
                            End.of_node(a),
                            End.of_node(e),
                            port,
                            6,
                            req,
                            rsp,
                            req_size=req_size,
                            rsp_size=rsp_size,
                        )
                    )
    for i, n in enumerate(c.nodes):  # kubelets -> apiserver (api-int balances them)
        m = masters[i % 3]
        if m is not n:
            out.append(_conv("kubelet->apiserver", End.of_node(n), End.of_node(m), 6443, 6, 30, 45))
        for other in c.nodes:  # node-to-node ICMP health checks
            if other is not n:
                out.append(
                    _conv("icmp", End.of_node(n), End.of_node(other), 0, 1, 0.3, 0.3, **_fixed(98))
                )
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
        via(
            "default",
            "kubernetes",
            443,
            pod(p),
            f"{p.app}->kubernetes",
            6,
            60 if heavy else 12,
            160 if heavy else 20,
        )
    # -- monitoring ------------------------------------------------------------------------------
    grafana = pod(c.pod_by_ip["10.128.2.7"])
    for prom in c.pods_of("prometheus"):
        out.append(
            _conv(
                "grafana->prometheus",
                grafana,
                pod(prom),
                9091,
                6,
                6,
                18,
                req_size=(66, 700, 0.3),
                rsp_size=(66, 1414, 0.7),
                per_conn=400,
            )
        )
    out.append(
        _conv(
            "grafana->alertmanager",
            grafana,
            pod(c.pods_of("alertmanager")[0]),
            9093,
            6,
            1.5,
            2,
            per_conn=60,
        )
    )
    for prom in c.pods_of("prometheus"):
        scraper = pod(prom)
        for n in c.nodes:
            out.append(
                _conv("scrape node-exporter", scraper, End.of_node(n), 9100, 6, 1, 3, per_conn=80)
            )
            out.append(
                _conv("scrape kubelet", scraper, End.of_node(n), 10250, 6, 1.5, 6, per_conn=120)
            )
        for m in masters:
            out.append(_conv("scrape etcd", scraper, End.of_node(m), 9979, 6, 0.5, 2, per_conn=60))
            out.append(
                _conv("scrape apiserver", scraper, End.of_node(m), 6443, 6, 1, 8, per_conn=200)
            )
        for app, port in (
            ("kube-state-metrics", 8443),
            ("router", 1936),
            ("dns-default", 9154),
            ("alertmanager", 9095),
            ("prometheus-operator", 8443),
        ):
            for target in c.pods_of(app):
                if target is not prom:
                    out.append(
                        _conv(f"scrape {app}", scraper, pod(target), port, 6, 0.5, 1.5, per_conn=60)
                    )
    am = c.pods_of("alertmanager")
    out.append(_conv("alertmanager mesh", pod(am[0]), pod(am[1]), 9094, 6, 1, 1, per_conn=5000))
    out.append(
        _conv("alertmanager mesh", pod(am[1]), pod(am[0]), 9094, 17, 0.5, 0.5, **_fixed(120))
    )
    # -- DNS: every pod-network pod but grafana asks the cluster DNS ---------------------------
    dns_clients = [
        p
        for p in c.pods
        if not p.host_network and p.phase == "Running" and p.app not in ("grafana", "dns-default")
    ]
    for p in dns_clients:
        via("openshift-dns", "dns-default", 53, pod(p), "dns", 17, 1.2, 1.2, **_DNS)
    for d in c.pods_of("dns-default"):  # upstream resolver, outside the cluster
        upstream = End("10.0.0.2", None, UPLINK_IF, "52:54:00:00:00:02")
        out.append(_conv("dns upstream", pod(d), upstream, 53, 17, 0.4, 0.4, **_DNS))
    # -- kubelet probes from each node's management port ---------------------------------------
    for p in c.pods:
        if p.host_network or p.phase != "Running" or p.app == "grafana" or not p.ports:
            continue
        probe = End(p.node.mgmt_ip, p.node, MGMT_IF, p.node.mac, host=True)
        out.append(_conv("probe", probe, pod(p), p.ports[0].port, 6, 0.6, 0.5, per_conn=8))
    # -- ingress and the applications ----------------------------------------------------------
    payments_api = ("payments", "payments-api", 443)  # each has two kinds of client
    postgres = ("payments", "postgres", 5432)
    for k in range(12):
        outside = End(f"203.0.113.{17 + 9 * k}", None, UPLINK_IF, "52:54:00:00:00:01")
        for r in c.pods_of("router"):
            out.append(
                _conv(
                    "ingress", outside, pod(r), 443, 6, 4, 7, per_conn=40, rsp_size=(66, 1414, 0.6)
                )
            )
    for r in c.pods_of("router"):
        for f in c.pods_of("frontend"):
            out.append(_conv("router->frontend", pod(r), pod(f), 8080, 6, 18, 30, per_conn=300))
    for f in c.pods_of("frontend"):
        via("shop", "cart", 8080, pod(f), "frontend->cart", 6, 14, 20, per_conn=300)
    for cart in c.pods_of("cart"):
        via(
            "shop",
            "redis",
            6379,
            pod(cart),
            "cart->redis",
            6,
            25,
            25,
            req_size=(80, 300, 0.1),
            rsp_size=(70, 900, 0.1),
        )
        via(*payments_api, pod(cart), "cart->payments", 6, 4, 5, per_conn=50)
    for api in c.pods_of("payments-api"):
        via(*postgres, pod(api), "payments->postgres", 6, 8, 12, rsp_size=(66, 1414, 0.3))
    job = next(p for p in c.pods if p.app == "reconcile")
    job_end = End(job.ip, job.node, job.ifindex, job.mac)
    via(
        *postgres,
        job_end,
        "reconcile->postgres",
        6,
        40,
        60,
        rsp_size=(66, 1414, 0.6),
        active=(0.05, 0.12),
    )
    # -- the change: in the second half hour the shop's frontend starts calling payments-api
    # directly (a new client of that service; listed last so the earlier conversations keep
    # their random draws)
    for f in c.pods_of("frontend"):
        via(
            *payments_api,
            pod(f),
            "frontend->payments (new)",
            6,
            3,
            4,
            per_conn=50,
            active=(0.5, 1.0),
        )
    return out
