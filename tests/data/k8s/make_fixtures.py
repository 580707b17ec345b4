"""Write the small OpenShift-like inventory used by the k8s/graph/analysis/views tests.

The files have the shape ``oc get <kinds> -A -o json`` writes (a ``kind: List``
of full objects). Run ``python tests/data/k8s/make_fixtures.py`` to regenerate;
the JSON files are committed, this script documents how they were made.

Cluster: masters 10.0.0.3-5, workers 10.0.0.6-8; pod network 10.128.0.0/14;
services 172.30.0.0/16. Host-network static pods (etcd, kube-apiserver) and a
node-exporter DaemonSet on the host network; grafana at 10.128.2.7,
prometheus-k8s-0 at 10.129.2.9; IP 10.130.0.20 reused by two pods.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
T0 = "2024-05-01T08:00:00Z"
MASTERS = {"master-0": "10.0.0.3", "master-1": "10.0.0.4", "master-2": "10.0.0.5"}
WORKERS = {"worker-0": "10.0.0.6", "worker-1": "10.0.0.7", "worker-2": "10.0.0.8"}


def uid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, name))


def meta(
    name: str,
    ns: str | None = None,
    labels: dict | None = None,
    owner: tuple | None = None,
    created: str = T0,
    deleted: str | None = None,
) -> dict[str, Any]:
    m: dict[str, Any] = {
        "name": name,
        "uid": uid(f"{ns}/{name}"),
        "resourceVersion": "1000",
        "creationTimestamp": created,
        "labels": labels or {},
    }
    if ns:
        m["namespace"] = ns
    if owner:
        kind, oname, api = owner
        m["ownerReferences"] = [
            {
                "apiVersion": api,
                "kind": kind,
                "name": oname,
                "uid": uid(f"{ns}/{oname}"),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    if deleted:
        m["deletionTimestamp"] = deleted
        m["deletionGracePeriodSeconds"] = 30
    return m


def node(name: str, ip: str, role: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": meta(
            name, labels={"kubernetes.io/hostname": name, f"node-role.kubernetes.io/{role}": ""}
        ),
        "spec": {"providerID": f"baremetal:///{name}"},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "Hostname", "address": name},
            ],
            "conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {
                "kubeletVersion": "v1.29.5+29c95f3",
                "osImage": "Red Hat Enterprise Linux CoreOS",
            },
        },
    }


def pod(
    name: str,
    ns: str,
    ip: str | None,
    node_name: str,
    *,
    ports: list[tuple[int, str]] = (),
    owner: tuple | None = None,
    labels: dict | None = None,
    host: bool = False,
    created: str = T0,
    deleted: str | None = None,
    phase: str = "Running",
) -> dict[str, Any]:
    node_ip = {**MASTERS, **WORKERS}[node_name]
    pod_ip = node_ip if host else ip
    spec: dict[str, Any] = {
        "nodeName": node_name,
        "serviceAccountName": "default",
        "restartPolicy": "Always",
        "containers": [
            {
                "name": name.split("-")[0],
                "image": f"quay.io/openshift/{name.split('-')[0]}:4.16",
                "ports": [
                    {"containerPort": p, "protocol": proto, "name": f"p{p}"} for p, proto in ports
                ],
            }
        ],
    }
    if host:
        spec["hostNetwork"] = True
    status: dict[str, Any] = {"phase": phase, "hostIP": node_ip, "startTime": created}
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta(name, ns, labels, owner, created, deleted),
        "spec": spec,
        "status": status,
    }


def controller(
    kind: str, name: str, ns: str, owner: tuple | None = None, api: str = "apps/v1"
) -> dict[str, Any]:
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": meta(name, ns, {"app": name}, owner),
        "spec": {"selector": {"matchLabels": {"app": name}}},
        "status": {},
    }


def service(
    name: str, ns: str, ip: str, ports: list[tuple[int, int, str, str]], selector: dict | None
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name, ns, {"app": name}),
        "spec": {
            "type": "ClusterIP",
            "clusterIP": ip,
            "clusterIPs": [ip],
            "selector": selector,
            "ports": [
                {"name": pn, "port": p, "targetPort": tp, "protocol": proto}
                for p, tp, proto, pn in ports
            ],
            "ipFamilies": ["IPv4"],
            "sessionAffinity": "None",
        },
    }


def slice_(
    svc: str,
    ns: str,
    ports: list[tuple[int, str, str]],
    endpoints: list[tuple[str, str | None, str]],
) -> dict[str, Any]:
    eps = []
    for ip, pod_name, node_name in endpoints:
        ep: dict[str, Any] = {
            "addresses": [ip],
            "conditions": {"ready": True, "serving": True},
            "nodeName": node_name,
        }
        if pod_name:
            ep["targetRef"] = {
                "kind": "Pod",
                "namespace": ns,
                "name": pod_name,
                "uid": uid(f"{ns}/{pod_name}"),
            }
        eps.append(ep)
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": meta(
            f"{svc}-x7k2p",
            ns,
            {
                "kubernetes.io/service-name": svc,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
            ("Service", svc, "v1"),
        ),
        "addressType": "IPv4",
        "endpoints": eps,
        "ports": [{"name": n, "port": p, "protocol": proto} for p, proto, n in ports],
    }


def build() -> dict[str, list[dict[str, Any]]]:
    nodes = [node(n, ip, "master") for n, ip in MASTERS.items()] + [
        node(n, ip, "worker") for n, ip in WORKERS.items()
    ]
    pods: list[dict[str, Any]] = []
    work: list[dict[str, Any]] = []
    for n in MASTERS:
        pods.append(
            pod(
                f"etcd-{n}",
                "openshift-etcd",
                None,
                n,
                ports=[(2379, "TCP"), (2380, "TCP")],
                owner=("Node", n, "v1"),
                labels={"app": "etcd"},
                host=True,
            )
        )
        pods.append(
            pod(
                f"kube-apiserver-{n}",
                "openshift-kube-apiserver",
                None,
                n,
                ports=[(6443, "TCP")],
                owner=("Node", n, "v1"),
                labels={"app": "openshift-kube-apiserver"},
                host=True,
            )
        )
    for i, n in enumerate([*MASTERS, *WORKERS]):
        pods.append(
            pod(
                f"node-exporter-{'abcdef'[i]}x9z",
                "openshift-monitoring",
                None,
                n,
                ports=[(9100, "TCP")],
                owner=("DaemonSet", "node-exporter", "apps/v1"),
                labels={"app": "node-exporter"},
                host=True,
            )
        )
    work.append(controller("DaemonSet", "node-exporter", "openshift-monitoring"))
    # monitoring
    work.append(controller("Deployment", "grafana", "openshift-monitoring"))
    work.append(
        controller(
            "ReplicaSet",
            "grafana-6b8d9f7c4",
            "openshift-monitoring",
            ("Deployment", "grafana", "apps/v1"),
        )
    )
    pods.append(
        pod(
            "grafana-6b8d9f7c4-x2vqp",
            "openshift-monitoring",
            "10.128.2.7",
            "worker-0",
            ports=[(3000, "TCP")],
            owner=("ReplicaSet", "grafana-6b8d9f7c4", "apps/v1"),
            labels={"app.kubernetes.io/name": "grafana", "pod-template-hash": "6b8d9f7c4"},
        )
    )
    work.append(controller("StatefulSet", "prometheus-k8s", "openshift-monitoring"))
    for name, ip, n in (
        ("prometheus-k8s-0", "10.129.2.9", "worker-1"),
        ("prometheus-k8s-1", "10.131.0.12", "worker-2"),
    ):
        pods.append(
            pod(
                name,
                "openshift-monitoring",
                ip,
                n,
                ports=[(9090, "TCP"), (9091, "TCP")],
                owner=("StatefulSet", "prometheus-k8s", "apps/v1"),
                labels={"app.kubernetes.io/name": "prometheus"},
            )
        )
    work.append(controller("StatefulSet", "alertmanager-main", "openshift-monitoring"))
    pods.append(
        pod(
            "alertmanager-main-0",
            "openshift-monitoring",
            "10.128.2.11",
            "worker-0",
            ports=[(9093, "TCP")],
            owner=("StatefulSet", "alertmanager-main", "apps/v1"),
            labels={"app.kubernetes.io/name": "alertmanager"},
        )
    )
    # dns
    work.append(controller("DaemonSet", "dns-default", "openshift-dns"))
    for ip, n in (
        ("10.128.0.5", "master-0"),
        ("10.129.0.5", "master-1"),
        ("10.128.2.5", "worker-0"),
    ):
        pods.append(
            pod(
                f"dns-default-{ip.split('.')[1]}{ip.split('.')[2]}",
                "openshift-dns",
                ip,
                n,
                ports=[(5353, "UDP"), (5353, "TCP")],
                owner=("DaemonSet", "dns-default", "apps/v1"),
                labels={"dns.operator.openshift.io/daemonset-dns": "default"},
            )
        )
    # shop: frontend (its ReplicaSet deliberately absent: pod-template-hash rule), cart, redis, cronjob
    work.append(controller("Deployment", "frontend", "shop"))
    pods.append(
        pod(
            "frontend-84f9c6d5b7-q4w8e",
            "shop",
            "10.129.2.20",
            "worker-1",
            ports=[(8080, "TCP")],
            owner=("ReplicaSet", "frontend-84f9c6d5b7", "apps/v1"),
            labels={"app": "frontend", "pod-template-hash": "84f9c6d5b7"},
        )
    )
    work.append(controller("Deployment", "cart", "shop"))
    work.append(controller("ReplicaSet", "cart-5f6d7", "shop", ("Deployment", "cart", "apps/v1")))
    pods.append(
        pod(
            "cart-5f6d7-abcde",
            "shop",
            "10.130.0.20",
            "worker-2",
            ports=[(8081, "TCP")],
            owner=("ReplicaSet", "cart-5f6d7", "apps/v1"),
            labels={"app": "cart", "pod-template-hash": "5f6d7"},
            created="2024-05-01T10:31:00Z",
        )
    )
    work.append(controller("StatefulSet", "redis", "shop"))
    pods.append(
        pod(
            "redis-0",
            "shop",
            "10.131.0.30",
            "worker-2",
            ports=[(6379, "TCP")],
            owner=("StatefulSet", "redis", "apps/v1"),
            labels={"app": "redis"},
        )
    )
    work.append(controller("CronJob", "report", "shop", api="batch/v1"))
    work.append(
        controller(
            "Job", "report-28571400", "shop", ("CronJob", "report", "batch/v1"), api="batch/v1"
        )
    )
    pods.append(
        pod(
            "report-28571400-7jq2m",
            "shop",
            "10.128.2.40",
            "worker-0",
            owner=("Job", "report-28571400", "batch/v1"),
            labels={"job-name": "report-28571400"},
            phase="Succeeded",
        )
    )
    work.append(controller("Job", "cleanup", "shop", api="batch/v1"))
    pods.append(
        pod(
            "cleanup-9xk2l",
            "shop",
            "10.130.0.20",
            "worker-2",
            owner=("Job", "cleanup", "batch/v1"),
            labels={"job-name": "cleanup"},
            created="2024-05-01T10:00:00Z",
            deleted="2024-05-01T10:30:00Z",
            phase="Succeeded",
        )
    )
    pods.append(pod("debug", "shop", "10.128.2.41", "worker-0", labels={"run": "debug"}))
    # payments: OpenShift DeploymentConfig -> ReplicationController
    work.append(
        controller("DeploymentConfig", "payments-api", "payments", api="apps.openshift.io/v1")
    )
    work.append(
        controller(
            "ReplicationController",
            "payments-api-3",
            "payments",
            ("DeploymentConfig", "payments-api", "apps.openshift.io/v1"),
            api="v1",
        )
    )
    pods.append(
        pod(
            "payments-api-3-h5k9d",
            "payments",
            "10.131.0.44",
            "worker-2",
            ports=[(8443, "TCP")],
            owner=("ReplicationController", "payments-api-3", "v1"),
            labels={"deploymentconfig": "payments-api"},
        )
    )
    services = [
        service("kubernetes", "default", "172.30.0.1", [(443, 6443, "TCP", "https")], None),
        service(
            "dns-default",
            "openshift-dns",
            "172.30.0.10",
            [(53, 5353, "UDP", "dns"), (53, 5353, "TCP", "dns-tcp")],
            {"dns.operator.openshift.io/daemonset-dns": "default"},
        ),
        service(
            "prometheus-k8s",
            "openshift-monitoring",
            "172.30.20.5",
            [(9091, 9091, "TCP", "web")],
            {"app.kubernetes.io/name": "prometheus"},
        ),
        service(
            "grafana",
            "openshift-monitoring",
            "172.30.20.7",
            [(3000, 3000, "TCP", "http")],
            {"app.kubernetes.io/name": "grafana"},
        ),
        service(
            "etcd", "openshift-etcd", "172.30.0.20", [(2379, 2379, "TCP", "etcd")], {"app": "etcd"}
        ),
        service("cart", "shop", "172.30.100.2", [(80, 8081, "TCP", "http")], {"app": "cart"}),
        service("redis", "shop", "172.30.100.3", [(6379, 6379, "TCP", "redis")], {"app": "redis"}),
    ]
    slices = [
        slice_(
            "kubernetes",
            "default",
            [(6443, "TCP", "https")],
            [(ip, None, n) for n, ip in MASTERS.items()],
        ),
        slice_(
            "dns-default",
            "openshift-dns",
            [(5353, "UDP", "dns"), (5353, "TCP", "dns-tcp")],
            [
                ("10.128.0.5", "dns-default-1280", "master-0"),
                ("10.129.0.5", "dns-default-1290", "master-1"),
                ("10.128.2.5", "dns-default-1282", "worker-0"),
            ],
        ),
        slice_(
            "prometheus-k8s",
            "openshift-monitoring",
            [(9091, "TCP", "web")],
            [
                ("10.129.2.9", "prometheus-k8s-0", "worker-1"),
                ("10.131.0.12", "prometheus-k8s-1", "worker-2"),
            ],
        ),
        slice_(
            "grafana",
            "openshift-monitoring",
            [(3000, "TCP", "http")],
            [("10.128.2.7", "grafana-6b8d9f7c4-x2vqp", "worker-0")],
        ),
        slice_(
            "etcd",
            "openshift-etcd",
            [(2379, "TCP", "etcd")],
            [(ip, f"etcd-{n}", n) for n, ip in MASTERS.items()],
        ),
        slice_(
            "cart",
            "shop",
            [(8081, "TCP", "http")],
            [("10.130.0.20", "cart-5f6d7-abcde", "worker-2")],
        ),
        slice_("redis", "shop", [(6379, "TCP", "redis")], [("10.131.0.30", "redis-0", "worker-2")]),
    ]
    return {
        "nodes": nodes,
        "pods": pods,
        "services": services,
        "endpointslices": slices,
        "workloads": work,
    }


def main() -> None:
    for name, items in build().items():
        doc = {
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {"resourceVersion": ""},
            "items": items,
        }
        (HERE / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
