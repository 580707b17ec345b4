"""The cluster inventory: which pod, node or Service owned an IP address, and when.

An :class:`Inventory` is built from Kubernetes objects — a ``kind: List``
document as ``oc get nodes,pods,services,endpointslices,replicasets,deployments,statefulsets,daemonsets,jobs -A -o json``
writes it, a directory of such files, a list of objects, or a live cluster
(:meth:`Inventory.from_cluster`) — and keeps five Polars tables
(:mod:`flowlab.k8s.objects` has their schemas):

``addresses``
    ``ip, valid_from, valid_to, kind (pod/node/service), namespace, name,
    workload, workload_kind, node, labels (JSON), uid``. Pods are valid from
    ``creationTimestamp`` to ``deletionTimestamp`` (open ends are null =
    unbounded). When one IP was held by several objects, each interval is cut
    at the next owner's start, so at any instant an IP has at most one owner.
``host_ports``
    host-network pods by ``(node ip, port, protocol)`` of the ports they declare.
``service_ports``
    ClusterIP:port of each Service.
``membership``
    endpointslice backends (``pod:<ns>/<name>`` or ``ip:<address>``) and the
    Service and port they serve.
``port_names``
    the cluster's own names of ports (``containerPort`` names of pods,
    endpointslice port names, ClusterIP Service port names), keyed like
    ``membership``; :func:`flowlab.k8s.enrich` gives them as ``server_port_name``.

**OVN-Kubernetes.** A node's overlay addresses are the node too (``kind =
"node"``) when its annotations give them: the ``.1`` (router port) and ``.2``
(management port ``ovn-k8s-mp0``, the source of host-to-pod traffic) of its
pod subnet (``k8s.ovn.org/node-subnets``), its join-switch address
(``k8s.ovn.org/node-gateway-router-lrp-ifaddr``, default subnet ``100.64.0.0/16``)
and its transit-switch address (``k8s.ovn.org/node-transit-switch-port-ifaddr``,
``100.88.0.0/16``). A join address no node claims stays ``external``.

**Host network.** A host-network pod's IP *is* its node's IP. The node wins
the address (``kind = "node"``); the pod is named only when the flow's port on
that address is one the pod declares (``containerPort``/``hostPort``), e.g.
``master-0:2379`` -> the etcd pod, ``master-0:6443`` -> the kube-apiserver pod.

Examples
--------
>>> inv = Inventory.from_objects([
...     {"kind": "Node", "metadata": {"name": "worker-0"},
...      "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.4"}]}},
...     {"kind": "Pod", "metadata": {"name": "dns-x", "namespace": "openshift-dns"},
...      "spec": {"nodeName": "worker-0"}, "status": {"podIP": "10.128.2.3"}}])
>>> inv
Inventory(pods=1, nodes=1, services=0, host_ports=0, endpoints=0)
>>> inv.lookup("10.128.2.3")["name"], inv.lookup("10.0.0.4")["kind"]
('dns-x', 'node')
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from flowlab.exceptions import KubernetesError
from flowlab.k8s import networkpolicy, objects
from flowlab.k8s.objects import Tables

__all__ = ["Inventory"]

log = logging.getLogger("flowlab.k8s.inventory")

_TABLES = ("addresses", "host_ports", "service_ports", "membership", "port_names")
_FORMAT = "flowlab-inventory/1"


def _cut_overlaps(frame: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Sort intervals per key and end each one no later than the next one starts."""
    if frame.is_empty():
        return frame
    nxt = pl.col("valid_from").shift(-1).over(list(keys))
    frame = frame.sort([*keys, "valid_from"], nulls_last=False)
    return frame.with_columns(
        pl.when(nxt.is_not_null() & (pl.col("valid_to").is_null() | (pl.col("valid_to") > nxt)))
        .then(nxt)
        .otherwise(pl.col("valid_to"))
        .alias("valid_to")
    )


class Inventory:
    """IP -> Kubernetes object tables, time-aware. Build with the ``from_*`` constructors.

    Parameters
    ----------
    tables : flowlab.k8s.objects.Tables
        The inventory tables.
    source : str
        Where it came from (for the repr and saved metadata).
    """

    def __init__(self, tables: Tables, *, source: str = "") -> None:
        self.addresses = _cut_overlaps(tables.addresses, ["ip"])
        self.host_ports = _cut_overlaps(tables.host_ports, ["ip", "port", "protocol"])
        self.service_ports = tables.service_ports
        self.membership = tables.membership
        self.port_names = tables.port_names
        self.source = source

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_objects(
        cls, items: Iterable[Mapping[str, Any]], *, source: str = "objects"
    ) -> Inventory:
        """Build from Kubernetes objects (dicts with ``kind``) or from ``kind: List`` documents.

        Examples
        --------
        >>> Inventory.from_objects([]).addresses.height
        0
        """
        flat: list[Mapping[str, Any]] = []
        for obj in items:
            flat.extend(_flatten(obj))
        inv = cls(objects.tables(flat), source=source)
        inv.policy_objects = networkpolicy.extract(flat)  # for flowlab.policy
        return inv

    @classmethod
    def from_file(cls, path: str | Path) -> Inventory:
        """Read an ``oc get ... -o json`` file, or a directory of ``*.json`` such files.

        Raises
        ------
        KubernetesError
            The file is missing, not JSON, or not Kubernetes objects.
        """
        p = Path(path)
        if p.is_dir():
            files = sorted(p.glob("*.json"))
            if not files:
                msg = f"inventory directory {p} has no *.json files; expected files written by `oc get ... -o json`"
                raise KubernetesError(msg)
        elif p.is_file():
            files = [p]
        else:
            msg = f"inventory file {p} does not exist; write one with `oc get nodes,pods,services,endpointslices,replicasets,deployments,statefulsets,daemonsets,jobs -A -o json > {p.name}`"
            raise KubernetesError(msg)
        docs = [_read_json(f) for f in files]
        return cls.from_objects(docs, source=str(p))

    @classmethod
    def from_cluster(
        cls,
        *,
        kubeconfig: str | Path | None = None,
        context: str | None = None,
        in_cluster: bool | None = None,
        namespaces: Sequence[str] | None = None,
        page_size: int = 500,
        timeout: float = 30.0,
    ) -> Inventory:
        """List the objects of a live cluster with the ``kubernetes`` client (read-only).

        Parameters
        ----------
        kubeconfig, context : optional
            Kubeconfig file and context (default: ``$KUBECONFIG`` / ``~/.kube/config``).
        in_cluster : bool, optional
            Use the pod's service account (``True``), a kubeconfig (``False``), or
            try the service account first when running in a pod (``None``).
        namespaces : sequence of str, optional
            List only these namespaces (for users without cluster-wide list rights;
            nodes are then still tried and skipped when forbidden).
        page_size : int
            Objects per request (the API's ``limit``; pages follow ``continue``).
        timeout : float
            Seconds per request.

        Notes
        -----
        Needs ``list`` on pods (required) and, for full answers, nodes,
        services, endpointslices and the workload controllers. A kind the
        account may not list is skipped and named in :attr:`skipped` and the
        log. The minimal RBAC is in ``docs/rbac.yaml``. TLS is verified as the
        kubeconfig says (verification on unless it says otherwise).
        """
        from flowlab.k8s import cluster

        with cluster.connect(kubeconfig, context, in_cluster) as api_client:
            items, skipped = cluster.list_objects(
                api_client, namespaces=namespaces, page_size=page_size, timeout=timeout
            )
        inv = cls.from_objects(items, source="cluster")
        inv.skipped = skipped
        return inv

    skipped: tuple[str, ...] = ()
    #: NetworkPolicies, namespace labels, named ports (:mod:`flowlab.k8s.networkpolicy`);
    #: kept by ``from_objects``/``from_file`` and by :meth:`save`/:meth:`load`.
    policy_objects: networkpolicy.PolicyObjects = networkpolicy.PolicyObjects()

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the tables as Parquet files in directory `path` (created); returns it."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        for name in _TABLES:
            getattr(self, name).write_parquet(out / f"{name}.parquet")
        meta = {"format": _FORMAT, "source": self.source, "skipped": list(self.skipped)}
        (out / "inventory-meta.json").write_text(json.dumps(meta, indent=1))
        networkpolicy.save(self.policy_objects, out)
        return out

    @classmethod
    def load(cls, path: str | Path) -> Inventory:
        """Read an inventory written by :meth:`save`.

        Examples
        --------
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> _ = Inventory.from_objects([]).save(d)
        >>> Inventory.load(d).source
        'objects'
        """
        p = Path(path)
        meta_file = p / "inventory-meta.json"
        if not meta_file.is_file():
            msg = f"{p} is not a saved inventory (no inventory-meta.json); use Inventory.save() or Inventory.from_file() for `oc get -o json` files"
            raise KubernetesError(msg)
        meta = json.loads(meta_file.read_text())
        if meta.get("format") != _FORMAT:
            msg = f"{p}: saved inventory format {meta.get('format')!r}, expected {_FORMAT!r}"
            raise KubernetesError(msg)
        schemas = {
            "addresses": objects.ADDRESS_SCHEMA,
            "host_ports": objects.HOST_PORT_SCHEMA,
            "service_ports": objects.SERVICE_PORT_SCHEMA,
            "membership": objects.MEMBERSHIP_SCHEMA,
            "port_names": objects.PORT_NAME_SCHEMA,
        }
        frames = {}
        for name in _TABLES:
            if name == "port_names" and not (p / f"{name}.parquet").exists():
                continue  # saved before port names were kept: none known
            frame = pl.read_parquet(p / f"{name}.parquet")
            if frame.schema != schemas[name]:
                msg = f"{p}/{name}.parquet has schema {dict(frame.schema)}, expected {dict(schemas[name])}"
                raise KubernetesError(msg)
            frames[name] = frame
        inv = cls(Tables(**frames), source=str(meta.get("source", "")))
        inv.skipped = tuple(meta.get("skipped", ()))
        inv.policy_objects = networkpolicy.load(p)
        return inv

    # ------------------------------------------------------------------ queries
    @property
    def pods(self) -> pl.DataFrame:
        """Pods with their IPs (host-network pods listed by their declared ports not included)."""
        return self.addresses.filter(pl.col("kind") == "pod")

    @property
    def nodes(self) -> pl.DataFrame:
        """Node addresses."""
        return self.addresses.filter(pl.col("kind") == "node")

    @property
    def services(self) -> pl.DataFrame:
        """ClusterIP services with their ports."""
        return self.service_ports

    def lookup(self, ip: str, time: datetime | None = None) -> dict[str, Any] | None:
        """The object owning `ip` at `time` (latest owner if `time` is None), as a dict, or None."""
        rows = self.addresses.filter(pl.col("ip") == ip)
        if time is not None:
            t = pl.lit(time).cast(objects.TIME)
            rows = rows.filter(
                (pl.col("valid_from").is_null() | (pl.col("valid_from") <= t))
                & (pl.col("valid_to").is_null() | (pl.col("valid_to") > t))
            )
        if rows.is_empty():
            return None
        return rows.sort("valid_from", nulls_last=False).row(-1, named=True)

    def __repr__(self) -> str:
        a = self.addresses
        counts = {
            "pods": a.filter(pl.col("kind") == "pod").height,
            "nodes": a.filter(pl.col("kind") == "node")["name"].n_unique(),
            "services": a.filter(pl.col("kind") == "service").height,
            "host_ports": self.host_ports.height,
            "endpoints": self.membership["key"].n_unique(),
        }
        return "Inventory(" + ", ".join(f"{k}={v}" for k, v in counts.items()) + ")"


def _flatten(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if not isinstance(obj, Mapping):
        msg = f"expected a Kubernetes object or List (a JSON object), found {type(obj).__name__}"
        raise KubernetesError(msg)
    kind = str(obj.get("kind", ""))
    if "items" in obj and (kind == "List" or kind.endswith("List") or not kind):
        item_kind = kind[:-4] if kind.endswith("List") and kind != "List" else None
        out: list[Mapping[str, Any]] = []
        for item in obj.get("items") or []:
            if item_kind and isinstance(item, Mapping) and "kind" not in item:
                item = {**item, "kind": item_kind}
            out.extend(_flatten(item))
        return out
    if not kind:
        msg = (
            "a Kubernetes object without `kind`; expected items as `oc get ... -o json` writes them"
        )
        raise KubernetesError(msg)
    return [obj]


def _read_json(path: Path) -> Any:
    try:
        with path.open("rb") as fh:
            return json.load(fh)
    except OSError as exc:
        msg = f"cannot read inventory file {path}: {exc}"
        raise KubernetesError(msg) from exc
    except json.JSONDecodeError as exc:
        msg = f"inventory file {path} is not JSON ({exc}); expected the output of `oc get ... -o json`"
        raise KubernetesError(msg) from exc
