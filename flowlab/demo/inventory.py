"""The simulated cluster as Kubernetes objects, the way ``oc get ... -o json`` writes them.

:func:`inventory` returns the document that
``oc get nodes,pods,services,endpointslices,replicasets,deployments,statefulsets,daemonsets,jobs,networkpolicies -A -o json``
prints for the cluster of :func:`flowlab.demo.cluster.build_cluster`: a
``{"apiVersion": "v1", "kind": "List", "items": [...]}`` whose items are full
objects with ``apiVersion``, ``kind``, ``metadata`` (uid, labels,
ownerReferences, creationTimestamp), ``spec`` and ``status`` (see
docs/architecture.md for the fields flowlab reads).

Examples
--------
>>> from flowlab.demo.cluster import build_cluster
>>> doc = inventory(build_cluster(0))
>>> doc["kind"], sorted({item["kind"] for item in doc["items"]})[:3]
('List', ['DaemonSet', 'Deployment', 'EndpointSlice'])
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from pathlib import Path
from typing import Any

from flowlab.demo.cluster import Cluster, Node, Pod, Service, Workload

__all__ = ["inventory", "write_inventory"]

_API = {
    "Deployment": "apps/v1",
    "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "Node": "v1",
}
_KIND_ORDER = (
    "Node",
    "Pod",
    "Service",
    "EndpointSlice",
    "ReplicaSet",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "NetworkPolicy",
)

Obj = dict[str, Any]


class _Clock:
    """Creation timestamps and resource versions, increasing in build order."""

    def __init__(self, created: str) -> None:
        self.t = dt.datetime.fromisoformat(created.replace("Z", "+00:00")) - dt.timedelta(days=30)
        self.version = 41_000

    def stamp(self, minutes: float = 7) -> str:
        self.t += dt.timedelta(minutes=minutes)
        return self.t.strftime("%Y-%m-%dT%H:%M:%SZ")

    def rv(self) -> str:
        self.version += 137
        return str(self.version)


def _owner(kind: str, name: str, uid: str) -> list[Obj]:
    return [
        {
            "apiVersion": _API.get(kind, "v1"),
            "kind": kind,
            "name": name,
            "uid": uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def _node(node: Node, clock: _Clock) -> Obj:
    role = f"node-role.kubernetes.io/{node.role}"
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
        role: "",
        "node.openshift.io/os_id": "rhcos",
    }
    if node.role == "master":
        labels["node-role.kubernetes.io/control-plane"] = ""
    subnets = json.dumps({"default": [str(node.subnet)]}, separators=(",", ":"))
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "uid": node.uid,
            "labels": labels,
            "annotations": {
                "k8s.ovn.org/node-subnets": subnets,
                "k8s.ovn.org/node-primary-ifaddr": json.dumps({"ipv4": f"{node.ip}/24"}),
            },
            "creationTimestamp": clock.stamp(2),
            "resourceVersion": clock.rv(),
        },
        "spec": {
            "taints": [{"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}]
            if node.role == "master"
            else []
        },
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": node.ip},
                {"type": "Hostname", "address": node.name},
            ],
            "capacity": {"cpu": "8", "memory": "32827820Ki", "pods": "250"},
            "allocatable": {"cpu": "7500m", "memory": "31676844Ki", "pods": "250"},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                },
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "containerRuntimeVersion": "cri-o://1.29.4",
                "kubeletVersion": "v1.29.5+58452d8",
                "operatingSystem": "linux",
                "osImage": "Red Hat Enterprise Linux CoreOS 416.94.202406172220-0",
            },
        },
    }


def _workload(w: Workload, clock: _Clock) -> Obj:
    meta: Obj = {
        "name": w.name,
        "namespace": w.namespace,
        "uid": w.uid,
        "labels": dict(w.labels),
        "creationTimestamp": clock.stamp(),
        "resourceVersion": clock.rv(),
        "generation": 1,
    }
    if w.owner is not None:
        meta["ownerReferences"] = _owner(w.owner.kind, w.owner.name, w.owner.uid)
    selector = {"matchLabels": dict(w.labels)}
    template = {"metadata": {"labels": dict(w.labels)}, "spec": {"hostNetwork": w.host_network}}
    spec: Obj
    status: Obj
    if w.kind == "Job":
        spec = {"completions": 1, "parallelism": 1, "template": template}
        status = {
            "succeeded": 1,
            "startTime": meta["creationTimestamp"],
            "completionTime": clock.stamp(1),
        }
    elif w.kind == "DaemonSet":
        spec = {"selector": selector, "template": template}
        status = {
            "desiredNumberScheduled": w.replicas,
            "currentNumberScheduled": w.replicas,
            "numberReady": w.replicas,
            "numberAvailable": w.replicas,
        }
    else:
        spec = {"replicas": w.replicas, "selector": selector, "template": template}
        if w.kind == "StatefulSet":
            spec["serviceName"] = {
                "prometheus-k8s": "prometheus-operated",
                "alertmanager-main": "alertmanager-operated",
            }.get(w.name, w.name)
        status = {
            "replicas": w.replicas,
            "readyReplicas": w.replicas,
            "availableReplicas": w.replicas,
        }
    return {
        "apiVersion": _API[w.kind],
        "kind": w.kind,
        "metadata": meta,
        "spec": spec,
        "status": status,
    }


def _pod(p: Pod, clock: _Clock) -> Obj:
    started = clock.stamp(1)
    meta: Obj = {
        "name": p.name,
        "namespace": p.namespace,
        "uid": p.uid,
        "labels": dict(p.labels),
        "creationTimestamp": started,
        "resourceVersion": clock.rv(),
    }
    if p.owner is not None:
        meta["ownerReferences"] = _owner(p.owner.kind, p.owner.name, p.owner.uid)
    elif p.host_network:  # static pods are mirrored, owned by their node
        meta["ownerReferences"] = [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "name": p.node.name,
                "uid": p.node.uid,
                "controller": True,
            }
        ]
    if not p.host_network:
        meta["annotations"] = {
            "k8s.ovn.org/pod-networks": json.dumps(
                {
                    "default": {
                        "ip_addresses": [f"{p.ip}/23"],
                        "mac_address": p.mac,
                        "gateway_ips": [p.node.gateway_ip],
                    }
                },
                separators=(",", ":"),
            )
        }
    container = {
        "name": p.labels.get("app", p.name),
        "image": f"quay.io/flowlab-demo/{p.labels.get('app', p.name)}:1.0",
        "ports": [
            {"name": port.name, "containerPort": port.port, "protocol": port.protocol}
            for port in p.ports
        ],
    }
    ready = "True" if p.phase == "Running" else "False"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "nodeName": p.node.name,
            "hostNetwork": p.host_network,
            "containers": [container],
            "restartPolicy": "OnFailure" if p.phase == "Succeeded" else "Always",
            "serviceAccountName": p.labels.get("app", "default"),
        },
        "status": {
            "phase": p.phase,
            "hostIP": p.node.ip,
            "hostIPs": [{"ip": p.node.ip}],
            "podIP": p.ip,
            "podIPs": [{"ip": p.ip}],
            "startTime": started,
            "conditions": [{"type": "Ready", "status": ready}],
        },
    }


def _service(s: Service, clock: _Clock) -> Obj:
    spec: Obj = {
        "clusterIP": s.cluster_ip,
        "clusterIPs": [s.cluster_ip],
        "ports": [
            {
                "name": p.name,
                "port": p.port,
                "protocol": p.protocol,
                "targetPort": p.target or p.port,
            }
            for p in s.ports
        ],
        "type": "ClusterIP",
        "sessionAffinity": "None",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "internalTrafficPolicy": "Cluster",
    }
    if s.selector:
        spec["selector"] = dict(s.selector)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": s.name,
            "namespace": s.namespace,
            "uid": s.uid,
            "labels": dict(s.selector),
            "creationTimestamp": clock.stamp(),
            "resourceVersion": clock.rv(),
        },
        "spec": spec,
        "status": {"loadBalancer": {}},
    }


def _endpoint_slice(s: Service, clock: _Clock, suffix: str) -> Obj:
    endpoints: list[Obj] = []
    for p in s.endpoints:
        endpoints.append(
            {
                "addresses": [p.ip],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": p.node.name,
                "targetRef": {
                    "kind": "Pod",
                    "name": p.name,
                    "namespace": p.namespace,
                    "uid": p.uid,
                },
            }
        )
    for n in s.host_endpoints:
        endpoints.append({"addresses": [n.ip], "conditions": {"ready": True}})
    managed = (
        "endpointslice-controller.k8s.io"
        if s.selector
        else "endpointslicemirroring-controller.k8s.io"
    )
    meta: Obj = {
        "name": s.name if not s.selector else f"{s.name}-{suffix}",
        "namespace": s.namespace,
        "uid": str(uuid.uuid5(uuid.UUID(s.uid), "endpointslice")),
        "labels": {
            "kubernetes.io/service-name": s.name,
            "endpointslice.kubernetes.io/managed-by": managed,
        },
        "creationTimestamp": clock.stamp(0.1),
        "resourceVersion": clock.rv(),
        "ownerReferences": _owner("Service", s.name, s.uid),
    }
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": meta,
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [
            {"name": p.name, "port": p.target or p.port, "protocol": p.protocol} for p in s.ports
        ],
    }


#: The cluster's own NetworkPolicies: (namespace, name, podSelector, policyTypes, ingress rules).
_POLICIES: tuple[tuple[str, str, Obj, list[str], list[Obj]], ...] = (
    # the shop admits the ingress routers and itself (OpenShift's "allow-from-openshift-ingress"
    # and "allow-same-namespace" samples)
    ("shop", "allow-from-openshift-ingress", {}, ["Ingress"],
     [{"from": [{"namespaceSelector": {"matchLabels": {
         "kubernetes.io/metadata.name": "openshift-ingress"}}}]}]),
    ("shop", "allow-same-namespace", {}, ["Ingress"], [{"from": [{"podSelector": {}}]}]),
    # postgres only from its own namespace, on its named port
    ("payments", "postgres-from-payments", {"matchLabels": {"app": "postgres"}}, ["Ingress"],
     [{"from": [{"podSelector": {}}], "ports": [{"protocol": "TCP", "port": "postgresql"}]}]),
)  # fmt: skip


def _network_policies(cluster: Cluster, clock: _Clock) -> list[Obj]:
    out = []
    for namespace, name, selector, types, ingress in _POLICIES:
        uid = str(uuid.uuid5(uuid.UUID(int=cluster.seed), f"networkpolicy/{namespace}/{name}"))
        meta = {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "creationTimestamp": clock.stamp(),
            "resourceVersion": clock.rv(),
            "generation": 1,
        }
        spec = {"podSelector": selector, "policyTypes": types, "ingress": ingress}
        out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy"} | {
            "metadata": meta, "spec": json.loads(json.dumps(spec))})  # fmt: skip
    return out


def inventory(cluster: Cluster) -> dict[str, Any]:
    """The cluster as an ``oc get ... -A -o json`` List document (deterministic for a seed).

    Examples
    --------
    >>> from flowlab.demo.cluster import build_cluster
    >>> doc = inventory(build_cluster(0))
    >>> pods = [i for i in doc["items"] if i["kind"] == "Pod"]
    >>> grafana = next(p for p in pods if p["status"]["podIP"] == "10.128.2.7")
    >>> grafana["metadata"]["ownerReferences"][0]["kind"]
    'ReplicaSet'
    """
    clock = _Clock(cluster.created)
    items: list[Obj] = [_node(n, clock) for n in cluster.nodes]
    items += [_workload(w, clock) for w in cluster.workloads if w.kind != "CronJob"]
    items += [_pod(p, clock) for p in cluster.pods]
    for i, s in enumerate(cluster.services):
        items.append(_service(s, clock))
        suffix = "".join("bcdfghjklmnpqrstvwxz2456789"[(i * 7 + k * 11) % 27] for k in range(5))
        items.append(_endpoint_slice(s, clock, suffix))
    items += _network_policies(cluster, clock)
    items.sort(key=lambda o: _KIND_ORDER.index(o["kind"]))
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


def write_inventory(cluster: Cluster, path: str | os.PathLike[str]) -> Path:
    """Write :func:`inventory` as JSON to `path` (atomically); returns the path."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(inventory(cluster), indent=2) + "\n")
    os.replace(tmp, target)
    return target
