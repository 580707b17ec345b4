"""Host-network pods behind node addresses.

A host-network pod (kube-apiserver, etcd, node-exporter...) uses its node's
IP. As a *server* its declared port names it (``master-0:2379`` -> etcd); as
a *client* it sends from an ephemeral port, so a flow can only name the node.
:func:`host_pods` lists, for each node address in a result, the host-network
pods running on that node: the candidates for what sent the traffic (e.g. the
kube-apiservers as the etcd-client originators).

Examples
--------
>>> import polars as pl
>>> from flowlab.k8s import Inventory
>>> inv = Inventory.from_objects([
...     {"kind": "Node", "metadata": {"name": "m0"},
...      "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.11"}]}},
...     {"kind": "Pod", "metadata": {"name": "kube-apiserver-m0", "namespace": "openshift-kube-apiserver"},
...      "spec": {"nodeName": "m0", "hostNetwork": True,
...               "containers": [{"name": "a", "ports": [{"containerPort": 6443}]}]},
...      "status": {"podIP": "10.0.0.11", "phase": "Running"}}])
>>> host_pods(pl.DataFrame({"client": ["10.0.0.11", "10.128.0.5"]}), inv, column="client")["host_pods"].to_list()
[['openshift-kube-apiserver/kube-apiserver-m0'], None]
"""

from __future__ import annotations

import polars as pl

from flowlab.k8s import Inventory

__all__ = ["host_pods"]


def host_pods(frame: pl.DataFrame, inventory: Inventory, *, column: str = "client") -> pl.DataFrame:
    """Add a ``host_pods`` list column: host-network pods on the node whose address is `column`.

    Rows whose address is not a node's keep null. Pods are ``namespace/name``, sorted.
    """
    hosts = (
        inventory.host_ports.select(
            pl.col("ip").cast(pl.String),
            pl.format("{}/{}", "namespace", "name").alias("pod"),
        )
        .unique()
        .group_by("ip")
        .agg(pl.col("pod").sort().alias("host_pods"))
    )
    return frame.join(
        hosts,
        left_on=pl.col(column).cast(pl.String),
        right_on="ip",
        how="left",
        maintain_order="left",
    ).drop("ip", strict=False)
