"""The simulated OpenShift cluster: nodes, workloads, pods and services.

A small but realistic OVN-Kubernetes cluster, the same for a given seed: three
masters and three workers (``10.0.0.11-13``, ``10.0.0.21-23``), pod network
``10.128.0.0/14`` cut into one ``/23`` per node, service network
``172.30.0.0/16``. Workloads follow OpenShift: ``openshift-monitoring``
(grafana at 10.128.2.7, prometheus-k8s-0 at 10.129.2.9, prometheus-k8s-1,
alertmanager-main-0/1, node-exporter on the host network, kube-state-metrics,
prometheus-operator), ``openshift-etcd`` and ``openshift-kube-apiserver``
(static pods on the masters' host network), ``openshift-ingress``
(router-default), ``openshift-dns`` (dns-default on every node) and two
applications: ``shop`` (frontend -> cart -> redis) and ``payments``
(payments-api -> postgres, plus a reconcile CronJob).

The seed decides names (ReplicaSet hashes, pod suffixes), UIDs, MAC
addresses of the hosts, service IPs and the pod IPs not pinned above.

Examples
--------
>>> c = build_cluster(seed=7)
>>> c.pod_by_ip["10.128.2.7"].name.startswith("grafana-"), len(c.nodes)
(True, 6)
>>> c.service("default", "kubernetes").cluster_ip
'172.30.0.1'
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Cluster", "Node", "Pod", "Port", "Service", "Workload", "build_cluster"]

_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes uses for generated names


@dataclass(frozen=True)
class Port:
    """A container or service port."""

    name: str
    port: int
    protocol: str = "TCP"
    target: int = 0  # services: the backend port (0 = same as port)


@dataclass
class Node:
    """A cluster node; its IP is also the sFlow agent address of its Open vSwitch."""

    name: str
    ip: str
    role: str
    subnet: ipaddress.IPv4Network
    mac: str
    uid: str
    sampling_rate: int

    @property
    def gateway_ip(self) -> str:
        """The node subnet's OVN router port (``.1``)."""
        return str(self.subnet.network_address + 1)

    @property
    def mgmt_ip(self) -> str:
        """The management port ``ovn-k8s-mp0`` (``.2``): source of kubelet probes."""
        return str(self.subnet.network_address + 2)


@dataclass
class Workload:
    """A controller object: Deployment, ReplicaSet, StatefulSet, DaemonSet, CronJob or Job."""

    kind: str
    name: str
    namespace: str
    uid: str
    labels: dict[str, str]
    replicas: int = 1
    owner: Workload | None = None
    ports: tuple[Port, ...] = ()
    host_network: bool = False


@dataclass
class Pod:
    """A pod; ``ifindex`` is its Open vSwitch port on its node (0 for host-network pods)."""

    name: str
    namespace: str
    node: Node
    ip: str
    uid: str
    labels: dict[str, str]
    owner: Workload | None
    ports: tuple[Port, ...]
    host_network: bool = False
    phase: str = "Running"
    ifindex: int = 0
    port_name: str = ""

    @property
    def app(self) -> str:
        """The ``app`` label (what the traffic model talks about)."""
        return self.labels.get("app", self.name)

    @property
    def mac(self) -> str:
        """OVN-Kubernetes derives pod MACs from the IP (``0a:58:`` + IP bytes)."""
        if self.host_network:
            return self.node.mac
        return "0a:58:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(self.ip).packed)


@dataclass
class Service:
    """A Service; ``cluster_ip`` is ``"None"`` for a headless one."""

    name: str
    namespace: str
    uid: str
    cluster_ip: str
    ports: tuple[Port, ...]
    selector: dict[str, str]
    endpoints: list[Pod] = field(default_factory=list)
    host_endpoints: list[Node] = field(default_factory=list)

    def target(self, port: int) -> int:
        """The backend port behind service `port`."""
        for p in self.ports:
            if p.port == port:
                return p.target or p.port
        return port


@dataclass
class Cluster:
    """The whole simulated cluster (see :func:`build_cluster`)."""

    seed: int
    nodes: list[Node]
    workloads: list[Workload]
    pods: list[Pod]
    services: list[Service]
    created: str = "2025-01-06T08:00:00Z"

    @property
    def pod_by_ip(self) -> dict[str, Pod]:
        """Pod-network pods by IP (host-network pods share their node's IP and are left out)."""
        return {p.ip: p for p in self.pods if not p.host_network and p.phase == "Running"}

    def node(self, name: str) -> Node:
        """The node called `name`."""
        return next(n for n in self.nodes if n.name == name)

    def pods_of(self, app: str, namespace: str | None = None) -> list[Pod]:
        """Running pods whose ``app`` label is `app`."""
        return [
            p
            for p in self.pods
            if p.app == app and p.phase == "Running" and namespace in (None, p.namespace)
        ]

    def service(self, namespace: str, name: str) -> Service:
        """The service `namespace`/`name`."""
        return next(s for s in self.services if s.namespace == namespace and s.name == name)

    def names(self) -> dict[str, str]:
        """IP -> a readable name (``namespace/pod``, node name, ``namespace/svc`` for service IPs)."""
        out = {n.ip: n.name for n in self.nodes}
        out.update({p.ip: f"{p.namespace}/{p.name}" for p in self.pod_by_ip.values()})
        out.update(
            {
                s.cluster_ip: f"{s.namespace}/svc/{s.name}"
                for s in self.services
                if s.cluster_ip != "None"
            }
        )
        return out


# -- the layout ---------------------------------------------------------------------------------

_NODES = (
    ("master-0", "10.0.0.11", "master", "10.128.0.0/23"),
    ("master-1", "10.0.0.12", "master", "10.130.0.0/23"),
    ("master-2", "10.0.0.13", "master", "10.129.0.0/23"),
    ("worker-0", "10.0.0.21", "worker", "10.128.2.0/23"),
    ("worker-1", "10.0.0.22", "worker", "10.129.2.0/23"),
    ("worker-2", "10.0.0.23", "worker", "10.131.0.0/23"),
)
#: The node whose Open vSwitch samples 1-in-64 instead of OVN-Kubernetes' default 1-in-400.
FAST_SAMPLED_NODE = "worker-2"

# (namespace, kind, name, app, nodes, host_network, ports, pinned IPs)
_WORKLOADS: tuple[tuple[str, str, str, str, tuple[str, ...], bool, tuple[Port, ...], tuple[str, ...]], ...] = (
    ("openshift-monitoring", "Deployment", "grafana", "grafana", ("worker-0",), False,
     (Port("https", 3000),), ("10.128.2.7",)),
    ("openshift-monitoring", "StatefulSet", "prometheus-k8s", "prometheus", ("worker-1", "worker-2"),
     False, (Port("web", 9090), Port("web-proxy", 9091), Port("tenancy", 9092)), ("10.129.2.9",)),
    ("openshift-monitoring", "StatefulSet", "alertmanager-main", "alertmanager",
     ("worker-2", "worker-1"), False,
     (Port("web", 9093), Port("mesh-tcp", 9094), Port("mesh-udp", 9094, "UDP"), Port("tenancy", 9095)), ()),
    ("openshift-monitoring", "DaemonSet", "node-exporter", "node-exporter",
     ("master-0", "master-1", "master-2", "worker-0", "worker-1", "worker-2"), True,
     (Port("https", 9100),), ()),
    ("openshift-monitoring", "Deployment", "kube-state-metrics", "kube-state-metrics", ("worker-1",),
     False, (Port("https-main", 8443), Port("https-self", 9443)), ()),
    ("openshift-monitoring", "Deployment", "prometheus-operator", "prometheus-operator", ("worker-0",),
     False, (Port("https", 8443),), ()),
    ("openshift-etcd", "Node", "etcd", "etcd", ("master-0", "master-1", "master-2"), True,
     (Port("etcd", 2379), Port("etcd-peer", 2380), Port("etcd-metrics", 9979)), ()),
    ("openshift-kube-apiserver", "Node", "kube-apiserver", "openshift-kube-apiserver",
     ("master-0", "master-1", "master-2"), True, (Port("https", 6443),), ()),
    ("openshift-ingress", "Deployment", "router-default", "router", ("worker-0", "worker-1"), False,
     (Port("http", 80), Port("https", 443), Port("metrics", 1936)), ()),
    ("openshift-dns", "DaemonSet", "dns-default", "dns-default",
     ("master-0", "master-1", "master-2", "worker-0", "worker-1", "worker-2"), False,
     (Port("dns", 5353, "UDP"), Port("dns-tcp", 5353), Port("metrics", 9154)), ()),
    ("shop", "Deployment", "frontend", "frontend", ("worker-0", "worker-2"), False,
     (Port("http", 8080),), ()),
    ("shop", "Deployment", "cart", "cart", ("worker-1", "worker-2"), False, (Port("http", 8080),), ()),
    ("shop", "StatefulSet", "redis", "redis", ("worker-1",), False, (Port("redis", 6379),), ()),
    ("payments", "Deployment", "payments-api", "payments-api", ("worker-0", "worker-1"), False,
     (Port("https", 8443),), ()),
    ("payments", "StatefulSet", "postgres", "postgres", ("worker-2",), False,
     (Port("postgresql", 5432),), ()),
    ("payments", "CronJob", "reconcile", "reconcile", ("worker-2",), False, (), ()),
)  # fmt: skip

# (namespace, name, cluster IP or "" for a seeded one or "None" for headless, app selector, ports)
_SERVICES: tuple[tuple[str, str, str, str, tuple[Port, ...]], ...] = (
    ("default", "kubernetes", "172.30.0.1", "", (Port("https", 443, target=6443),)),
    ("openshift-dns", "dns-default", "172.30.0.10", "dns-default",
     (Port("dns", 53, "UDP", 5353), Port("dns-tcp", 53, "TCP", 5353), Port("metrics", 9154))),
    ("openshift-kube-apiserver", "apiserver", "", "openshift-kube-apiserver",
     (Port("https", 443, target=6443),)),
    ("openshift-etcd", "etcd", "", "etcd", (Port("etcd", 2379), Port("etcd-metrics", 9979))),
    ("openshift-monitoring", "prometheus-k8s", "", "prometheus",
     (Port("web", 9091), Port("tenancy", 9092))),
    ("openshift-monitoring", "prometheus-operated", "None", "prometheus", (Port("web", 9090),)),
    ("openshift-monitoring", "grafana", "", "grafana", (Port("https", 3000),)),
    ("openshift-monitoring", "alertmanager-main", "", "alertmanager",
     (Port("web", 9094, target=9095), Port("tenancy", 9092, target=9095))),
    ("openshift-monitoring", "alertmanager-operated", "None", "alertmanager",
     (Port("web", 9093), Port("tcp-mesh", 9094), Port("udp-mesh", 9094, "UDP"))),
    ("openshift-monitoring", "node-exporter", "None", "node-exporter", (Port("https", 9100),)),
    ("openshift-monitoring", "kube-state-metrics", "None", "kube-state-metrics",
     (Port("https-main", 8443), Port("https-self", 9443))),
    ("openshift-ingress", "router-internal-default", "", "router",
     (Port("http", 80), Port("https", 443), Port("metrics", 1936))),
    ("shop", "frontend", "", "frontend", (Port("http", 80, target=8080),)),
    ("shop", "cart", "", "cart", (Port("http", 8080),)),
    ("shop", "redis", "", "redis", (Port("redis", 6379),)),
    ("payments", "payments-api", "", "payments-api", (Port("https", 443, target=8443),)),
    ("payments", "postgres", "", "postgres", (Port("postgresql", 5432),)),
)  # fmt: skip


class _Names:
    """Seeded generator of Kubernetes-style names, UIDs and MACs."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def token(self, n: int) -> str:
        return "".join(_SAFE[i] for i in self.rng.integers(0, len(_SAFE), n))

    def uid(self) -> str:
        return str(uuid.UUID(bytes=self.rng.bytes(16), version=4))

    def mac(self) -> str:
        raw = bytearray(self.rng.bytes(6))
        raw[0] = (raw[0] & 0xFC) | 0x02  # locally administered, unicast
        return ":".join(f"{b:02x}" for b in raw)

    def hexid(self, n: int) -> str:
        return self.rng.bytes((n + 1) // 2).hex()[:n]


def build_cluster(seed: int = 0) -> Cluster:
    """Build the simulated cluster for `seed` (same seed, same cluster).

    Parameters
    ----------
    seed : int
        Seeds every generated name, UID, address and MAC.

    Returns
    -------
    Cluster

    Examples
    --------
    >>> a, b = build_cluster(1), build_cluster(1)
    >>> [p.name for p in a.pods] == [p.name for p in b.pods]
    True
    >>> a.pod_by_ip["10.129.2.9"].name
    'prometheus-k8s-0'
    """
    rng = np.random.default_rng([seed, 0x5EED])
    names = _Names(rng)
    nodes = [
        Node(
            name,
            ip,
            role,
            ipaddress.IPv4Network(subnet),
            names.mac(),
            names.uid(),
            64 if name == FAST_SAMPLED_NODE else 400,
        )
        for name, ip, role, subnet in _NODES
    ]
    by_name = {n.name: n for n in nodes}
    next_host: dict[str, int] = {n.name: 3 for n in nodes}  # .1 router port, .2 mgmt port
    next_if: dict[str, int] = {n.name: 10 for n in nodes}
    pinned = {ip for w in _WORKLOADS for ip in w[7]}
    workloads: list[Workload] = []
    pods: list[Pod] = []

    def pod_ip(node: Node) -> str:
        while True:
            host = next_host[node.name]
            next_host[node.name] += 1 + int(rng.integers(0, 3))
            ip = str(node.subnet.network_address + host)
            if ip not in pinned:
                return ip

    for namespace, kind, name, app, on, host_net, ports, fixed in _WORKLOADS:
        labels = {"app": app}
        if kind == "Node":  # static (mirror) pods: owned by their node
            for node in (by_name[n] for n in on):
                pods.append(
                    Pod(
                        f"{name}-{node.name}",
                        namespace,
                        node,
                        node.ip,
                        names.uid(),
                        dict(labels),
                        None,
                        ports,
                        host_network=True,
                    )
                )
            continue
        top = Workload(kind, name, namespace, names.uid(), labels, len(on), None, ports, host_net)
        workloads.append(top)
        owner = top
        pod_names: list[str]
        if kind == "Deployment":
            rs_hash = names.token(10)
            owner = Workload(
                "ReplicaSet",
                f"{name}-{rs_hash}",
                namespace,
                names.uid(),
                {**labels, "pod-template-hash": rs_hash},
                len(on),
                top,
                ports,
            )
            workloads.append(owner)
            pod_names = [f"{name}-{rs_hash}-{names.token(5)}" for _ in on]
        elif kind == "StatefulSet":
            pod_names = [f"{name}-{i}" for i in range(len(on))]
        elif kind == "CronJob":
            stamp = 28_940_460  # minutes since the epoch of the last run, as CronJob names jobs
            owner = Workload(
                "Job",
                f"{name}-{stamp}",
                namespace,
                names.uid(),
                {**labels, "job-name": f"{name}-{stamp}"},
                1,
                top,
                ports,
            )
            workloads.append(owner)
            pod_names = [f"{name}-{stamp}-{names.token(5)}"]
        else:  # DaemonSet
            pod_names = [f"{name}-{names.token(5)}" for _ in on]
        for i, (pod_name, node_name) in enumerate(zip(pod_names, on)):
            node = by_name[node_name]
            ip = node.ip if host_net else (fixed[i] if i < len(fixed) else pod_ip(node))
            pod_labels = dict(owner.labels)
            if kind == "StatefulSet":
                pod_labels["statefulset.kubernetes.io/pod-name"] = pod_name
            pod = Pod(
                pod_name,
                namespace,
                node,
                ip,
                names.uid(),
                pod_labels,
                owner,
                ports,
                host_network=host_net,
                phase="Succeeded" if kind == "CronJob" else "Running",
            )
            if not host_net:
                pod.ifindex = next_if[node_name]
                next_if[node_name] += 1
                pod.port_name = names.hexid(15)
            pods.append(pod)

    used = {"172.30.0.1", "172.30.0.10"}
    services: list[Service] = []
    for namespace, name, ip, app, ports in _SERVICES:
        if not ip:
            while True:
                ip = f"172.30.{int(rng.integers(1, 255))}.{int(rng.integers(1, 255))}"
                if ip not in used:
                    used.add(ip)
                    break
        svc = Service(name, namespace, names.uid(), ip, ports, {"app": app} if app else {})
        if app:
            svc.endpoints = [p for p in pods if p.app == app and p.phase == "Running"]
        else:  # default/kubernetes: the apiservers' host addresses, no selector
            svc.host_endpoints = [n for n in nodes if n.role == "master"]
        services.append(svc)
    return Cluster(seed, nodes, workloads, pods, services)
