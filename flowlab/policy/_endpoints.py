"""The two ends of observed connections, as NetworkPolicy sees them (labels, host network, named ports).

:func:`connections` groups flow records into one row per observed
connection key (client, server, server port, protocol) with its evidence;
:class:`ClusterView` answers, from the inventory, what a policy needs to
know about either end.

Flow records without ports (ICMP) have no client/server orientation; they are
keyed src -> dst with a null port.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from flowlab.exceptions import SchemaError
from flowlab.k8s.enrich import enrich
from flowlab.k8s.inventory import Inventory
from flowlab.k8s.networkpolicy import PolicyObjects
from flowlab.policy import _evidence

__all__ = ["SIDE_FIELDS", "ClusterView", "Endpoint", "connections"]

SIDE_FIELDS = ("kind", "namespace", "pod", "workload", "node", "service")

#: labels that differ between the pods of one workload (never used in a podSelector).
_POD_SPECIFIC = (
    "pod-template-hash",
    "statefulset.kubernetes.io/pod-name",
    "controller-revision-hash",
    "pod-template-generation",
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
    "job-name",
    "batch.kubernetes.io/job-name",
    "apps.kubernetes.io/pod-index",
    "deployment",
    "deploymentconfig",
)


@dataclass(frozen=True)
class Endpoint:
    """One end of a connection: ``kind`` is pod, node, service or external."""

    kind: str
    ip: str | None
    namespace: str | None = None
    pod: str | None = None
    workload: str | None = None
    node: str | None = None
    service: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    host_network: bool = False
    named: Mapping[tuple[str, int], int] = field(default_factory=dict)

    @property
    def pod_network(self) -> bool:
        """A pod on the pod network (what podSelectors and namespaceSelectors can select)."""
        return self.kind == "pod" and not self.host_network

    def text(self) -> str:
        """``namespace/workload`` for pods, the node name, or the address."""
        if self.kind == "pod":
            return f"{self.namespace}/{self.workload or self.pod}"
        if self.kind == "node":
            return f"node {self.node or self.ip}"
        if self.kind == "service":
            return f"service {self.namespace}/{self.service}"
        return str(self.ip)


class ClusterView:
    """What policy evaluation needs from an :class:`~flowlab.k8s.Inventory` (or nothing, without one)."""

    def __init__(self, inventory: Inventory | None) -> None:
        self.inventory = inventory
        objs = inventory.policy_objects if inventory is not None else PolicyObjects()
        self.objects = objs
        self.labels: dict[tuple[str, str], dict[str, str]] = {}
        self.workload_of: dict[tuple[str, str], str] = {}
        self.host_network: set[tuple[str, str]] = set()
        self.node_ips: dict[str, list[str]] = {}
        self.pod_ip: dict[tuple[str, str], str] = {}
        if inventory is not None:
            cols = ["namespace", "name", "workload", "labels"]
            for ns, pod, wl, labels in inventory.pods.select(*cols).iter_rows():
                self.labels[(ns, pod)] = json.loads(labels or "{}")
                self.workload_of[(ns, pod)] = wl
            for ns, pod, ip in inventory.pods.select("namespace", "name", "ip").iter_rows():
                self.pod_ip[(ns, pod)] = ip
            for ns, pod, wl, labels in inventory.host_ports.select(*cols).unique().iter_rows():
                self.labels[(ns, pod)] = json.loads(labels or "{}")
                self.workload_of[(ns, pod)] = wl
                self.host_network.add((ns, pod))
            for name, ip in inventory.nodes.select("name", "ip").iter_rows():
                self.node_ips.setdefault(name, []).append(ip)
        self.named: dict[tuple[str, str], dict[tuple[str, int], int]] = {}
        for ns, pod, name, port, proto in objs.named_ports.iter_rows():
            self.named.setdefault((ns, pod), {})[(name, proto)] = port

    # ------------------------------------------------------------------ pods and workloads
    def namespace_labels(self, namespace: str | None) -> dict[str, str]:
        """The Namespace's labels (``kubernetes.io/metadata.name`` always set, as the API server does)."""
        if namespace is None:
            return {}
        labels = dict(self.objects.namespace_labels.get(namespace, {}))
        labels["kubernetes.io/metadata.name"] = namespace
        return labels

    def _members(self, namespace: str, workload: str) -> list[tuple[str, str]]:
        if not hasattr(self, "_by_workload"):
            self._by_workload: dict[tuple[str, str], list[tuple[str, str]]] = {}
            for key, wl in self.workload_of.items():
                self._by_workload.setdefault((key[0], wl), []).append(key)
        return self._by_workload.get((namespace, workload), [])

    def workload_labels(self, namespace: str, workload: str) -> dict[str, str]:
        """The labels every pod of the workload carries, less the pod-specific ones."""
        common: dict[str, str] | None = None
        for ns, pod in self._members(namespace, workload):
            labels = self.labels.get((ns, pod), {})
            common = (
                dict(labels)
                if common is None
                else {k: v for k, v in common.items() if labels.get(k) == v}
            )
        return {k: v for k, v in (common or {}).items() if k not in _POD_SPECIFIC}

    def workload_ports(self, namespace: str, workload: str) -> dict[tuple[int, int], str]:
        """``(port, protocol) -> name`` of the ports every pod of the workload names alike."""
        out: dict[tuple[int, int], str] = {}
        for key in self._members(namespace, workload):
            for (name, proto), port in self.named.get(key, {}).items():
                out.setdefault((port, proto), name)
        return out

    def pods_of(self, namespace: str) -> list[tuple[str, str]]:
        """(namespace, pod) of the pod-network pods in `namespace`."""
        return [k for k in self.labels if k[0] == namespace and k not in self.host_network]

    def resident(self, client: Endpoint, server: Endpoint) -> bool:
        """The client is the server pod's own node (kubelet probes: never blocked by NetworkPolicy)."""
        if server.node is None:
            return False
        if client.kind == "node" and client.node == server.node:
            return True
        return self.objects.node_local.get(str(client.ip)) == server.node

    def service_backends(self, namespace: str, service: str) -> tuple[list[Endpoint], list[int]]:
        """The pods behind a Service (its endpointslices) and their endpoint ports."""
        cache: dict[tuple[str, str], tuple[list[Endpoint], list[int]]]
        cache = self.__dict__.setdefault("_backends", {})
        if (namespace, service) not in cache:
            cache[(namespace, service)] = self._backends_of(namespace, service)
        return cache[(namespace, service)]

    def _backends_of(self, namespace: str, service: str) -> tuple[list[Endpoint], list[int]]:
        if self.inventory is None:
            return [], []
        memb = self.inventory.membership.filter(
            (pl.col("namespace") == namespace) & (pl.col("service") == service)
        )
        ports = sorted({p for p in memb["port"].to_list() if p is not None})
        pods = []
        for key in sorted(set(memb["key"].to_list())):
            if key.startswith("pod:"):
                ns, _, name = key[4:].partition("/")
                pods.append(self.pod(ns, name, self.pod_ip.get((ns, name))))
            else:
                pods.append(Endpoint("node", key.removeprefix("ip:")))
        return pods, ports

    def pod(
        self,
        namespace: str,
        name: str,
        ip: str | None,
        node: str | None = None,
        workload: str | None = None,
    ) -> Endpoint:
        """The pod `namespace`/`name` as an :class:`Endpoint`."""
        key = (namespace, name)
        return Endpoint(
            "pod",
            ip,
            namespace,
            name,
            workload or self.workload_of.get(key, name),
            node,
            None,
            self.labels.get(key, {}),
            key in self.host_network,
            self.named.get(key, {}),
        )

    def endpoint(self, row: Mapping[str, Any], side: str) -> Endpoint:
        """The `side` (``client``/``server``) of a :func:`connections` row."""
        ip = row[f"__{side}_ip"]
        kind = row.get(f"{side}_kind")
        ns, pod = row.get(f"{side}_namespace"), row.get(f"{side}_pod")
        node = row.get(f"{side}_node")
        if kind == "pod" and ns is not None and pod is not None:
            return self.pod(ns, pod, ip, node, row.get(f"{side}_workload"))
        if kind == "service":
            return Endpoint("service", ip, ns, service=row.get(f"{side}_service"))
        if kind == "node":
            return Endpoint("node", ip, node=node)
        return Endpoint("external", ip)


_NEEDED = ("time", "src_ip", "dst_ip", "protocol", "bytes", "packets")


def connections(
    flows: pl.DataFrame | pl.LazyFrame, inventory: Inventory | None = None
) -> pl.DataFrame:
    """One row per (client, server, server port, protocol) with the enriched names and the evidence.

    Columns: ``__client_ip, __server_ip, port, protocol``, the ``client_*`` and
    ``server_*`` fields of :data:`SIDE_FIELDS` (null without enrichment), then
    the partial evidence of :func:`flowlab.policy._evidence.aggregate`. Flows
    not yet enriched are enriched with `inventory` when one is given.

    Raises
    ------
    SchemaError
        A needed column is missing.
    """
    lf = flows.lazy()
    names = lf.collect_schema().names()
    missing = [c for c in _NEEDED if c not in names]
    if missing:
        msg = f"NetworkPolicy propose/replay needs flow records; missing columns: {', '.join(missing)} (use flowlab.load or flowlab.schema.conform)"
        raise SchemaError(msg)
    if inventory is not None and "server_kind" not in names and "server_ip" in names:
        lf = enrich(lf, inventory)
        names = lf.collect_schema().names()

    def col(name: str, fallback: str | None = None) -> pl.Expr:
        if name in names and fallback and fallback in names:
            return pl.coalesce(pl.col(name), pl.col(fallback))
        if name in names:
            return pl.col(name)
        if fallback and fallback in names:
            return pl.col(fallback)
        return pl.lit(None, pl.String)

    oriented = pl.col("server_ip").is_not_null() if "server_ip" in names else pl.lit(False)
    exprs = [
        col("client_ip", "src_ip").cast(pl.String).alias("__client_ip"),
        col("server_ip", "dst_ip").cast(pl.String).alias("__server_ip"),
        pl.when(oriented).then(col("service_port")).otherwise(None).cast(pl.UInt16).alias("port"),
        pl.col("protocol").cast(pl.UInt8),
    ]
    for side, raw in (("client", "src"), ("server", "dst")):
        for f in SIDE_FIELDS:
            name = f"{side}_{f}"
            value = (
                pl.when(oriented).then(col(name)).otherwise(col(f"{raw}_{f}"))
                if name in names
                else pl.lit(None)
            )
            exprs.append(value.cast(pl.String).alias(name))
    keyed = lf.with_columns(exprs)
    keys = ["__client_ip", "__server_ip", "port", "protocol"]
    keys += [f"{s}_{f}" for s in ("client", "server") for f in SIDE_FIELDS]
    return _evidence.aggregate(keyed, keys).collect().sort(keys, nulls_last=True)
