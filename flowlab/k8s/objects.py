"""Kubernetes objects (as ``oc get -o json`` writes them) turned into Polars tables.

This module knows the shape of Kubernetes objects and nothing about flows:
it reads pods, nodes, services, endpointslices and the workload controllers
and returns five small tables that :class:`flowlab.k8s.Inventory` keeps.

Owner resolution (the ``workload`` of a pod), following the controller
``ownerReference``:

========================  =============================================
pod owned by              workload (workload_kind)
========================  =============================================
ReplicaSet                its Deployment if the ReplicaSet has one,
                          else the ReplicaSet; a ReplicaSet missing from
                          the inventory whose name ends in the pod's
                          ``pod-template-hash`` label is taken as
                          owned by the Deployment named by the rest
ReplicationController     its DeploymentConfig if any (OpenShift), else it
StatefulSet, DaemonSet    itself
Job                       its CronJob if the Job has one, else the Job
Node (static/mirror pod)  the pod name without ``-<node name>``
                          (``StaticPod``)
anything else             the owner's name and kind
no owner                  the pod itself (``Pod``)
========================  =============================================

Examples
--------
>>> pod = {"kind": "Pod", "metadata": {"name": "web-7d4b9-x2x", "namespace": "shop",
...        "labels": {"pod-template-hash": "7d4b9"},
...        "ownerReferences": [{"kind": "ReplicaSet", "name": "web-7d4b9", "controller": True}]},
...        "spec": {"nodeName": "worker-0"}, "status": {"podIP": "10.128.2.5"}}
>>> t = tables([pod])
>>> t.addresses.select("ip", "kind", "workload", "workload_kind").row(0)
('10.128.2.5', 'pod', 'web', 'Deployment')
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import polars as pl

from flowlab.exceptions import KubernetesError

__all__ = [
    "ADDRESS_SCHEMA",
    "HOST_PORT_SCHEMA",
    "MEMBERSHIP_SCHEMA",
    "PORT_NAME_SCHEMA",
    "SERVICE_PORT_SCHEMA",
    "Tables",
    "parse_time",
    "tables",
]

TIME = pl.Datetime("ms", "UTC")

#: what names the object behind an address or a host port (labels as sorted JSON)
_OBJECT_COLUMNS = {
    "namespace": pl.String(),
    "name": pl.String(),
    "workload": pl.String(),
    "workload_kind": pl.String(),
    "node": pl.String(),
    "labels": pl.String(),
    "uid": pl.String(),
}

#: IP -> object table: one row per (ip, validity interval).
ADDRESS_SCHEMA = pl.Schema(
    {
        "ip": pl.String(),
        "valid_from": TIME,
        "valid_to": TIME,
        "kind": pl.String(),
        **_OBJECT_COLUMNS,
    }
)

#: host-network pods by (node ip, port, protocol).
HOST_PORT_SCHEMA = pl.Schema(
    {
        "ip": pl.String(),
        "port": pl.UInt16(),
        "protocol": pl.UInt8(),
        "valid_from": TIME,
        "valid_to": TIME,
        **_OBJECT_COLUMNS,
    }
)

#: ClusterIP service ports.
SERVICE_PORT_SCHEMA = pl.Schema(
    {
        "ip": pl.String(),
        "port": pl.UInt16(),
        "protocol": pl.UInt8(),
        "namespace": pl.String(),
        "service": pl.String(),
        "port_name": pl.String(),
    }
)

#: endpointslice membership: which service a backend (pod or bare address) serves, on which port.
MEMBERSHIP_SCHEMA = pl.Schema(
    {
        "key": pl.String(),
        "port": pl.UInt16(),
        "namespace": pl.String(),
        "service": pl.String(),
    }
)

#: the cluster's own names of server ports: a pod's containerPort, an endpointslice port,
#: a ClusterIP Service port (``key`` as in membership; ``rank``: 0 pod, 1 endpointslice, 2 Service).
PORT_NAME_SCHEMA = pl.Schema(
    {
        "key": pl.String(),
        "port": pl.UInt16(),
        "protocol": pl.UInt8(),
        "name": pl.String(),
        "rank": pl.UInt8(),
    }
)

_PROTOCOLS = {"TCP": 6, "UDP": 17, "SCTP": 132}


@dataclass(frozen=True)
class Tables:
    """The inventory tables (Polars frames, schemas above)."""

    addresses: pl.DataFrame
    host_ports: pl.DataFrame
    service_ports: pl.DataFrame
    membership: pl.DataFrame
    port_names: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PORT_NAME_SCHEMA))


def parse_time(text: str | None) -> datetime | None:
    """Parse a Kubernetes RFC 3339 timestamp (``2024-05-01T10:00:00Z``) to an aware datetime.

    Examples
    --------
    >>> parse_time("2024-05-01T10:00:00Z")
    datetime.datetime(2024, 5, 1, 10, 0, tzinfo=datetime.timezone.utc)
    >>> parse_time(None) is None
    True
    """
    if not text:
        return None
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError as exc:
        msg = f"bad timestamp {text!r}: expected RFC 3339 like 2024-05-01T10:00:00Z"
        raise KubernetesError(msg) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _controller(meta: Mapping[str, Any]) -> Mapping[str, Any] | None:
    refs = [r for r in meta.get("ownerReferences") or [] if isinstance(r, Mapping)]
    for ref in refs:
        if ref.get("controller"):
            return ref
    return refs[0] if refs else None


class _Owners:
    """Controller objects by (kind, namespace, name) -> their own controller reference."""

    def __init__(self, objects: Iterable[Mapping[str, Any]]) -> None:
        self._refs: dict[tuple[str, str, str], Mapping[str, Any] | None] = {}
        for obj in objects:
            meta = _meta(obj)
            key = (str(obj.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name")))
            self._refs[key] = _controller(meta)

    def resolve(self, pod: Mapping[str, Any]) -> tuple[str, str]:
        meta = _meta(pod)
        name = str(meta.get("name"))
        ns = str(meta.get("namespace") or "")
        ref = _controller(meta)
        if ref is None:
            return name, "Pod"
        kind, owner = str(ref.get("kind")), str(ref.get("name"))
        if kind == "Node":
            node = str((pod.get("spec") or {}).get("nodeName") or owner)
            base = name[: -len(node) - 1] if name.endswith("-" + node) else name
            return base, "StaticPod"
        parents = {"ReplicaSet": "Deployment", "ReplicationController": "DeploymentConfig"}
        if kind in parents or kind == "Job":
            key = (kind, ns, owner)
            if key in self._refs:
                up = self._refs[key]
                if up is not None:
                    return str(up.get("name")), str(up.get("kind"))
                return owner, kind
            labels = meta.get("labels") or {}
            tmpl = labels.get("pod-template-hash")
            if kind == "ReplicaSet" and tmpl and owner.endswith("-" + str(tmpl)):
                return owner[: -len(str(tmpl)) - 1], "Deployment"
        return owner, kind


def _pod_ips(pod: Mapping[str, Any]) -> list[str]:
    status = pod.get("status") or {}
    ips = [str(p.get("ip")) for p in status.get("podIPs") or [] if p.get("ip")]
    if not ips and status.get("podIP"):
        ips = [str(status["podIP"])]
    return ips


def _labels(meta: Mapping[str, Any]) -> str:
    return json.dumps(meta.get("labels") or {}, sort_keys=True, separators=(",", ":"))


def _interval(meta: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    return parse_time(meta.get("creationTimestamp")), parse_time(meta.get("deletionTimestamp"))


def _protocol(port: Mapping[str, Any]) -> int:
    return _PROTOCOLS.get(str(port.get("protocol") or "TCP").upper(), 6)


def _named_container_ports(pod: Mapping[str, Any]) -> list[tuple[int, int, str]]:
    spec = pod.get("spec") or {}
    out: set[tuple[int, int, str]] = set()
    for group in ("initContainers", "containers"):
        for c in spec.get(group) or []:
            for p in c.get("ports") or []:
                if p.get("name") and p.get("containerPort"):
                    out.add((int(p["containerPort"]), _protocol(p), str(p["name"])))
    return sorted(out)


def _strings(value: Any) -> list[str]:
    """Every string in a parsed annotation value (a string, a list, or maps of them)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in _strings(v)]
    if isinstance(value, list):
        return [t for v in value for t in _strings(v)]
    return []


#: annotations holding a node's own address on an OVN-Kubernetes switch (JSON)
_OVN_IFADDRS = (
    "k8s.ovn.org/node-gateway-router-lrp-ifaddr",  # join switch, default 100.64.0.0/16
    "k8s.ovn.org/node-gateway-router-lrp-ifaddrs",
    "k8s.ovn.org/node-transit-switch-port-ifaddr",  # interconnect transit switch, 100.88.0.0/16
)


def _ovn_addresses(node: Mapping[str, Any]) -> list[str]:
    """The node's own addresses in OVN-Kubernetes' overlay, from its annotations.

    ``k8s.ovn.org/node-subnets`` gives the node's pod subnet: its ``.1`` is the
    node's port on ``ovn_cluster_router`` (the pods' gateway) and its ``.2`` the
    management port ``ovn-k8s-mp0``, the source of the host's traffic to pods
    (ovn-kubernetes ``util.GetNodeGatewayIfAddr``/``GetNodeManagementIfAddr``);
    the annotations of :data:`_OVN_IFADDRS` give its gateway router's address on
    the join switch and its port on the transit switch.

    Examples
    --------
    >>> _ovn_addresses({"metadata": {"annotations": {
    ...     "k8s.ovn.org/node-subnets": '{"default":["10.128.0.0/23"]}',
    ...     "k8s.ovn.org/node-gateway-router-lrp-ifaddr": '{"ipv4":"100.64.0.2/16"}',
    ...     "k8s.ovn.org/node-transit-switch-port-ifaddr": '["100.88.0.4/16"]'}}})
    ['10.128.0.1', '10.128.0.2', '100.64.0.2', '100.88.0.4']
    """
    notes = _meta(node).get("annotations") or {}

    def parsed(key: str) -> list[str]:
        try:
            return _strings(json.loads(notes[key])) if key in notes else []
        except (TypeError, ValueError):
            return []

    out: list[str] = []
    for cidr in parsed("k8s.ovn.org/node-subnets"):
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            continue
        out += [str(net.network_address + 1), str(net.network_address + 2)]
    for key in _OVN_IFADDRS:
        for cidr in parsed(key):
            try:
                out.append(str(ipaddress.ip_interface(cidr).ip))
            except ValueError:
                continue
    return list(dict.fromkeys(out))


def _container_ports(pod: Mapping[str, Any]) -> list[tuple[int, int]]:
    spec = pod.get("spec") or {}
    out: set[tuple[int, int]] = set()
    for group in ("initContainers", "containers"):
        for c in spec.get(group) or []:
            for p in c.get("ports") or []:
                proto = _protocol(p)
                for which in ("containerPort", "hostPort"):
                    if p.get(which):
                        out.add((int(p[which]), proto))
    return sorted(out)


def tables(items: Iterable[Mapping[str, Any]]) -> Tables:
    """Build the inventory tables from Kubernetes objects.

    Parameters
    ----------
    items : iterable of dict
        Kubernetes objects, each with ``kind`` (``Pod``, ``Node``, ``Service``,
        ``EndpointSlice``, ``ReplicaSet``, ``Deployment``, ``StatefulSet``,
        ``DaemonSet``, ``Job``, ``CronJob``, ``ReplicationController``, ...);
        other kinds are ignored.

    Returns
    -------
    Tables
        ``addresses`` (pod, node and ClusterIP addresses with validity
        intervals), ``host_ports`` (ports declared by host-network pods, on
        their node's addresses), ``service_ports``, ``membership``
        (endpointslice backends: ``pod:<ns>/<name>`` or ``ip:<address>``) and
        ``port_names`` (the named ports of pods, endpointslices and Services,
        keyed like ``membership``). A node's addresses include its OVN-Kubernetes
        overlay addresses when its annotations give them (``.1`` and ``.2`` of
        its pod subnet, its join-switch address).
    """
    by_kind: dict[str, list[Mapping[str, Any]]] = {}
    for obj in items:
        if not isinstance(obj, Mapping):
            msg = f"inventory item is a {type(obj).__name__}, expected a Kubernetes object (dict)"
            raise KubernetesError(msg)
        by_kind.setdefault(str(obj.get("kind")), []).append(obj)
    owners = _Owners(
        o for kind in ("ReplicaSet", "ReplicationController", "Job") for o in by_kind.get(kind, [])
    )
    addresses: list[dict[str, Any]] = []
    host_ports: list[dict[str, Any]] = []
    port_names: list[dict[str, Any]] = []
    node_ips: dict[str, list[str]] = {}
    for node in by_kind.get("Node", []):
        meta = _meta(node)
        name = str(meta.get("name"))
        start, end = _interval(meta)
        ips = []
        for addr in (node.get("status") or {}).get("addresses") or []:
            if addr.get("type") in ("InternalIP", "ExternalIP") and addr.get("address"):
                ips.append(str(addr["address"]))
        node_ips[name] = ips
        for ip in ips + [a for a in _ovn_addresses(node) if a not in ips]:
            addresses.append(
                {"ip": ip, "valid_from": start, "valid_to": end, "kind": "node", "namespace": None}
                | {"name": name, "workload": None, "workload_kind": None, "node": name}
                | {"labels": _labels(meta), "uid": meta.get("uid")}
            )
    for pod in by_kind.get("Pod", []):
        meta = _meta(pod)
        spec: Mapping[str, Any] = pod.get("spec") or {}
        start, end = _interval(meta)
        workload, wkind = owners.resolve(pod)
        node_name = spec.get("nodeName")
        row = {
            "valid_from": start,
            "valid_to": end,
            "namespace": meta.get("namespace"),
            "name": meta.get("name"),
            "workload": workload,
            "workload_kind": wkind,
            "node": node_name,
            "labels": _labels(meta),
            "uid": meta.get("uid"),
        }
        for port, proto, port_name in _named_container_ports(pod):
            port_names.append(
                {"key": f"pod:{meta.get('namespace')}/{meta.get('name')}", "port": port}
                | {"protocol": proto, "name": port_name, "rank": 0}
            )
        if spec.get("hostNetwork"):
            # A host-network pod shares its node's addresses: the node wins the address,
            # the pod is found only through the ports it declares (host_ports).
            shared = set(_pod_ips(pod)) | set(node_ips.get(str(node_name), []))
            for ip in sorted(shared):
                for port, proto in _container_ports(pod):
                    host_ports.append({"ip": ip, "port": port, "protocol": proto} | row)
            continue
        for ip in _pod_ips(pod):
            addresses.append({"ip": ip, "kind": "pod"} | row)
    service_ports: list[dict[str, Any]] = []
    for svc in by_kind.get("Service", []):
        meta = _meta(svc)
        spec = svc.get("spec") or {}
        start, end = _interval(meta)
        ips = [str(i) for i in spec.get("clusterIPs") or [] if i and i != "None"]
        if not ips and spec.get("clusterIP") not in (None, "", "None"):
            ips = [str(spec["clusterIP"])]
        for ip in ips:
            addresses.append(
                {"ip": ip, "valid_from": start, "valid_to": end, "kind": "service"}
                | {"namespace": meta.get("namespace"), "name": meta.get("name")}
                | {"workload": None, "workload_kind": None, "node": None}
                | {"labels": _labels(meta), "uid": meta.get("uid")}
            )
            for p in spec.get("ports") or []:
                if p.get("port") is None:
                    continue
                service_ports.append(
                    {"ip": ip, "port": int(p["port"]), "protocol": _protocol(p)}
                    | {"namespace": meta.get("namespace"), "service": meta.get("name")}
                    | {"port_name": p.get("name")}
                )
                if p.get("name"):
                    port_names.append(
                        {"key": f"ip:{ip}", "port": int(p["port"]), "protocol": _protocol(p)}
                        | {"name": p["name"], "rank": 2}
                    )
    membership: list[dict[str, Any]] = []
    for es in by_kind.get("EndpointSlice", []):
        meta = _meta(es)
        ns = meta.get("namespace")
        svc_name = (meta.get("labels") or {}).get("kubernetes.io/service-name")
        if not svc_name:
            continue
        ports = [int(p["port"]) for p in es.get("ports") or [] if p.get("port") is not None]
        for ep in es.get("endpoints") or []:
            ref = ep.get("targetRef") or {}
            keys = (
                [f"pod:{ref.get('namespace') or ns}/{ref.get('name')}"]
                if ref.get("kind") == "Pod"
                else [f"ip:{a}" for a in ep.get("addresses") or []]
            )
            for key in keys:
                for port in ports or [None]:  # type: ignore[list-item]
                    membership.append(
                        {"key": key, "port": port, "namespace": ns, "service": svc_name}
                    )
                for p in es.get("ports") or []:
                    if p.get("name") and p.get("port") is not None:
                        port_names.append(
                            {"key": key, "port": int(p["port"]), "protocol": _protocol(p)}
                            | {"name": p["name"], "rank": 1}
                        )
    return Tables(
        addresses=pl.DataFrame(addresses, schema=ADDRESS_SCHEMA)
        if addresses
        else pl.DataFrame(schema=ADDRESS_SCHEMA),
        host_ports=pl.DataFrame(host_ports, schema=HOST_PORT_SCHEMA)
        if host_ports
        else pl.DataFrame(schema=HOST_PORT_SCHEMA),
        service_ports=pl.DataFrame(service_ports, schema=SERVICE_PORT_SCHEMA)
        if service_ports
        else pl.DataFrame(schema=SERVICE_PORT_SCHEMA),
        membership=pl.DataFrame(membership, schema=MEMBERSHIP_SCHEMA).unique(maintain_order=True)
        if membership
        else pl.DataFrame(schema=MEMBERSHIP_SCHEMA),
        port_names=pl.DataFrame(port_names, schema=PORT_NAME_SCHEMA).unique(maintain_order=True)
        if port_names
        else pl.DataFrame(schema=PORT_NAME_SCHEMA),
    )
