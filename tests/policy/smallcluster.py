"""A small cluster (inventory objects) and flows through the real conform/orient/enrich pipeline."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from flowlab.k8s import Inventory, enrich
from flowlab.schema import conform
from flowlab.services import orient_frame

T0 = dt.datetime(2025, 1, 6, 9, 0, tzinfo=dt.timezone.utc)

# name -> (namespace, ip, node, labels, named ports [(name, port, protocol)], host network)
PODS: dict[str, tuple[str, str, str, dict[str, str], list[tuple[str, int, str]], bool]] = {
    "a/web": (
        "a",
        "10.128.0.10",
        "n1",
        {"app": "web", "tier": "front"},
        [("http", 8080, "TCP")],
        False,
    ),
    "a/db": (
        "a",
        "10.128.0.11",
        "n2",
        {"app": "db"},
        [("pg", 5432, "TCP"), ("dns", 53, "UDP")],
        False,
    ),
    "a/batch": ("a", "10.128.0.12", "n1", {"app": "batch", "tier": "back"}, [], False),
    "b/web": ("b", "10.128.0.20", "n2", {"app": "web"}, [], False),
    "b/client": ("b", "10.128.0.21", "n1", {"app": "client"}, [], False),
    "c/client": ("c", "10.128.0.30", "n1", {"app": "client"}, [], False),
    "a/agent": ("a", "10.0.0.2", "n2", {"app": "web"}, [("metrics", 9100, "TCP")], True),
}
NODES = {"n1": ("10.0.0.1", "10.128.0.0/24"), "n2": ("10.0.0.2", "10.128.1.0/24")}
NAMESPACES = {"a": {"team": "alpha"}, "b": {"team": "beta"}, "c": {"team": "gamma"}}


def objects() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for name, (ip, subnet) in NODES.items():
        items.append(
            {
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {"k8s.ovn.org/node-subnets": f'{{"default":["{subnet}"]}}'},
                },
                "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
            }
        )
    for ns, labels in NAMESPACES.items():
        items.append({"kind": "Namespace", "metadata": {"name": ns, "labels": labels}})
    for key, (ns, ip, node, labels, ports, host) in PODS.items():
        items.append(
            {
                "kind": "Pod",
                "metadata": {"name": key.split("/")[1], "namespace": ns, "labels": labels},
                "spec": {
                    "nodeName": node,
                    "hostNetwork": host,
                    "containers": [
                        {
                            "name": "c",
                            "ports": [
                                {"name": n, "containerPort": p, "protocol": proto}
                                for n, p, proto in ports
                            ],
                        }
                    ],
                },
                "status": {"podIP": ip},
            }
        )
    items.append(
        {
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "a"},
            "spec": {"clusterIP": "172.30.0.5", "ports": [{"port": 80, "protocol": "TCP"}]},
        }
    )
    items.append(
        {
            "kind": "EndpointSlice",
            "metadata": {
                "name": "web-x",
                "namespace": "a",
                "labels": {"kubernetes.io/service-name": "web"},
            },
            "endpoints": [
                {
                    "addresses": ["10.128.0.10"],
                    "targetRef": {"kind": "Pod", "name": "web", "namespace": "a"},
                }
            ],
            "ports": [{"port": 8080, "protocol": "TCP"}],
        }
    )
    return items


def ip(name: str) -> str:
    """The address of a pod (``a/web``), a node (``n1``) or a literal address."""
    if name in PODS:
        return PODS[name][1]
    if name in NODES:
        return NODES[name][0]
    return name


def flows(
    conns: list[tuple[str, str, int, int]], inventory: Inventory | None, *, rate: int = 100
) -> pl.DataFrame:
    """One request and one reply record per (client, server, server port, protocol)."""
    rows: dict[str, list[Any]] = {k: [] for k in ("src_ip", "dst_ip", "src_port", "dst_port")}
    rows |= {"protocol": [], "bytes": [], "packets": [], "sampling_rate": [], "time": []}
    for n, (client, server, port, proto) in enumerate(conns):
        for reply in (False, True):
            c, s = ip(client), ip(server)
            rows["src_ip"].append(s if reply else c)
            rows["dst_ip"].append(c if reply else s)
            rows["src_port"].append(port if reply else 40000 + n)
            rows["dst_port"].append(40000 + n if reply else port)
            rows["protocol"].append(proto)
            rows["bytes"].append(1000 * rate)
            rows["packets"].append(rate)
            rows["sampling_rate"].append(rate)
            rows["time"].append(T0 + dt.timedelta(seconds=n))
    frame = orient_frame(conform(pl.DataFrame(rows)))
    return enrich(frame, inventory) if inventory is not None else frame
