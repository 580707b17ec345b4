"""What NetworkPolicy evaluation needs from the inventory's objects, kept beside the four tables.

:class:`flowlab.k8s.Inventory` keeps addresses, not objects. Proposing and
replaying NetworkPolicies (:mod:`flowlab.policy`) needs a little more of
what ``oc get networkpolicy,namespaces,pods,nodes -A -o json`` says:

- the ``NetworkPolicy`` objects themselves (as read, plain dicts);
- the ``Namespace`` labels (``kubernetes.io/metadata.name`` is implied when
  no Namespace object was read);
- the named container ports of every pod (``namespace, pod, name, port, protocol``);
- the OVN-Kubernetes node subnets (annotation ``k8s.ovn.org/node-subnets``),
  whose ``.2`` is the node's management port, the source of kubelet probes.

:func:`extract` builds a :class:`PolicyObjects` from the flattened items;
``Inventory.from_objects`` keeps it as ``inventory.policy_objects``.

Examples
--------
>>> po = extract([{"kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": "shop"},
...                "spec": {"podSelector": {}}},
...               {"kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop"},
...                "spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8080}]}]}}])
>>> len(po.network_policies), po.named_ports.row(0)
(1, ('shop', 'web-1', 'http', 8080, 6))
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from flowlab.exceptions import KubernetesError
from flowlab.k8s import objects

__all__ = ["NAMED_PORT_SCHEMA", "PROTOCOLS", "PolicyObjects", "extract", "load", "save"]

#: named container ports of pods.
NAMED_PORT_SCHEMA = pl.Schema(
    {
        "namespace": pl.String(),
        "pod": pl.String(),
        "name": pl.String(),
        "port": pl.UInt16(),
        "protocol": pl.UInt8(),
    }
)

#: Kubernetes port protocols -> IP protocol numbers (the inventory tables' own map).
PROTOCOLS: Mapping[str, int] = objects._PROTOCOLS


@dataclass(frozen=True)
class PolicyObjects:
    """NetworkPolicies, namespace labels, named ports and node management addresses."""

    network_policies: tuple[dict[str, Any], ...] = ()
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    named_ports: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=NAMED_PORT_SCHEMA)
    )
    node_local: Mapping[str, str] = field(default_factory=dict)
    """management-port address -> node name (OVN-Kubernetes ``.2`` of the node subnet)."""


def extract(items: Iterable[Mapping[str, Any]]) -> PolicyObjects:
    """Collect :class:`PolicyObjects` from flattened Kubernetes objects (other kinds ignored)."""
    policies: list[dict[str, Any]] = []
    namespaces: dict[str, dict[str, str]] = {}
    ports: list[tuple[str, str, str, int, int]] = []
    local: dict[str, str] = {}
    for obj in items:
        kind = obj.get("kind")
        meta = obj.get("metadata") or {}
        if kind == "NetworkPolicy":
            policies.append(dict(obj))
        elif kind == "Namespace":
            name = str(meta.get("name"))
            namespaces[name] = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        elif kind == "Pod":
            for group in ("initContainers", "containers"):
                for c in (obj.get("spec") or {}).get(group) or []:
                    for p in c.get("ports") or []:
                        if p.get("name") and p.get("containerPort"):
                            proto = PROTOCOLS.get(str(p.get("protocol") or "TCP").upper(), 6)
                            ports.append(
                                (
                                    str(meta.get("namespace")),
                                    str(meta.get("name")),
                                    str(p["name"]),
                                    int(p["containerPort"]),
                                    proto,
                                )
                            )
        elif kind == "Node":
            raw = (meta.get("annotations") or {}).get("k8s.ovn.org/node-subnets")
            try:
                subnets = json.loads(raw) if raw else {}
            except ValueError:
                subnets = {}
            values = subnets.get("default", []) if isinstance(subnets, dict) else []
            for text in [values] if isinstance(values, str) else values:
                try:
                    net = ipaddress.ip_network(str(text), strict=False)
                except ValueError:
                    continue
                local[str(net.network_address + 2)] = str(meta.get("name"))
    frame = (
        pl.DataFrame(ports, schema=NAMED_PORT_SCHEMA, orient="row").unique(maintain_order=True)
        if ports
        else pl.DataFrame(schema=NAMED_PORT_SCHEMA)
    )
    return PolicyObjects(tuple(policies), namespaces, frame, local)


_FILE = "policy-objects.json"


def save(objs: PolicyObjects, directory: Path) -> None:
    """Write `objs` beside a saved inventory's tables (``policy-objects.json``)."""
    doc = {
        "network_policies": list(objs.network_policies),
        "namespace_labels": {k: dict(v) for k, v in objs.namespace_labels.items()},
        "named_ports": objs.named_ports.rows(),
        "node_local": dict(objs.node_local),
    }
    (Path(directory) / _FILE).write_text(json.dumps(doc, indent=1))


def load(directory: Path) -> PolicyObjects:
    """Read what :func:`save` wrote; an inventory saved before it kept none: empty objects."""
    path = Path(directory) / _FILE
    if not path.is_file():
        return PolicyObjects()
    try:
        doc = json.loads(path.read_text())
        ports = [tuple(r) for r in doc.get("named_ports") or []]
        return PolicyObjects(
            tuple(doc.get("network_policies") or ()),
            doc.get("namespace_labels") or {},
            pl.DataFrame(ports, schema=NAMED_PORT_SCHEMA, orient="row")
            if ports
            else pl.DataFrame(schema=NAMED_PORT_SCHEMA),
            doc.get("node_local") or {},
        )
    except (ValueError, TypeError, AttributeError) as exc:
        msg = f"{path} is not a saved inventory's policy objects: {exc}"
        raise KubernetesError(msg) from exc
