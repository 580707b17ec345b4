"""Kubernetes names for every flow row, as Polars joins.

:func:`enrich` adds, for each side ``src``, ``dst``, ``client`` and
``server``, the columns of :data:`ENRICHED_COLUMNS`::

    <side>_kind           pod | node | service | external
    <side>_namespace      namespace of the pod or Service
    <side>_pod            pod name (also for a host-network pod matched by its port)
    <side>_workload       owning workload (Deployment, StatefulSet, ...; the pod if bare;
                          the node for a node address)
    <side>_workload_kind  Deployment, StatefulSet, DaemonSet, Job, CronJob, StaticPod, Pod, Node, ...
    <side>_node           node name (of the pod, or the node itself)
    <side>_service        Service name: the ClusterIP's Service, or the Service an
                          endpointslice says the pod backs (on that port if one matches,
                          else any; first by name when several); a bare endpoint address
                          (no targetRef, e.g. a master behind ``kubernetes``) only on
                          the endpoint port
    <side>_scope          private | public | loopback | link-local | multicast | ...

and ``server_port_name``, the cluster's own name of the server port (see
:data:`ENRICHED_COLUMNS`): ``9090`` is ``web`` where the Prometheus pod names
its containerPort so, and ``prometheus-web`` from the built-in table
(:func:`flowlab.services.cluster_port_table`) where the inventory names none,
while ``service_name`` stays ElastiFlow's IANA name (``hbase-thrift``).

A node's address (host network: kubelet, crio, a host-network pod's client
side, OVN-Kubernetes' ``.1``/``.2``/join addresses of the node) is named after
the node: ``kind = "node"``, ``node`` and ``workload`` = the node's name,
``workload_kind = "Node"``.

They extend the canonical schema (:data:`flowlab.schema.FLOW_SCHEMA`) and come
after its columns. ``client_*``/``server_*`` are the ``src_*``/``dst_*`` of the
side :func:`flowlab.services.orient` chose, null where it chose none (no ports).

**Time-aware matching** (default): a pod IP belongs to the pod that held it at
the flow's ``time`` (``creationTimestamp <= time < deletionTimestamp``); a
flow outside every known interval of an address gets ``kind = "external"``.
Rows with a null ``time`` match the latest owner. Implementation: each address
with several owners is given a gap-filled partition of the time axis, so one
equi-join on the IP plus one interval filter keeps exactly one row per flow —
no sort, no per-row Python, fully lazy. ``time_aware=False`` matches every
flow to the address's latest owner.

Examples
--------
>>> import polars as pl
>>> from flowlab.k8s import Inventory
>>> from flowlab.schema import conform
>>> from flowlab.services import orient_frame
>>> inv = Inventory.from_objects([{"kind": "Pod", "metadata": {"name": "grafana-0",
...     "namespace": "openshift-monitoring"}, "spec": {"nodeName": "worker-1"},
...     "status": {"podIP": "10.128.2.7"}}])
>>> flows = orient_frame(conform(pl.DataFrame({"src_ip": ["10.128.2.7"], "dst_ip": ["1.1.1.1"],
...     "src_port": [40000], "dst_port": [443], "protocol": [6]})))
>>> enrich(flows, inv).select("client_pod", "client_node", "server_kind", "server_scope").row(0)
('grafana-0', 'worker-1', 'external', 'public')
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TypeVar

import polars as pl

from flowlab.exceptions import SchemaError
from flowlab.k8s.addresses import ip_scope
from flowlab.k8s.inventory import Inventory
from flowlab.schema import Column
from flowlab.services import cluster_port_table

__all__ = ["ENRICHED_COLUMNS", "ENRICHED_SCHEMA", "FIELDS", "SIDES", "enrich"]

SIDES = ("src", "dst", "client", "server")

_FIELDS: tuple[tuple[str, str], ...] = (
    ("kind", "pod, node, service or external"),
    ("namespace", "namespace of the pod or Service"),
    ("pod", "pod name"),
    ("workload", "owning workload name (the pod itself when bare; the node for a node address)"),
    (
        "workload_kind",
        "Deployment, StatefulSet, DaemonSet, Job, CronJob, StaticPod, Pod, Node, ...",
    ),
    ("node", "node the pod runs on, or the node itself"),
    ("service", "Service of the ClusterIP, or the Service the endpoint backs"),
    ("scope", "address scope: private, public, loopback, link-local, multicast, ..."),
)
FIELDS: tuple[str, ...] = tuple(f for f, _ in _FIELDS)

#: The columns :func:`enrich` adds, in order (all Categorical: few distinct values, cheap joins).
ENRICHED_COLUMNS: tuple[Column, ...] = (
    *(
        Column(f"{side}_{field}", pl.Categorical(), f"{side} side: {meaning}")
        for side in SIDES
        for field, meaning in _FIELDS
    ),
    Column(
        "server_port_name",
        pl.Categorical(),
        "the cluster's name of the server port: the pod's containerPort name, else the "
        "endpointslice's port name, else the ClusterIP Service's port name, else for an "
        "in-cluster server the well-known name (flowlab/data/cluster_ports.csv: 9090 "
        "prometheus-web, 10250 kubelet-https-metrics, ...); service_name keeps the IANA name",
    ),
)
#: the columns and dtypes enrichment adds
ENRICHED_SCHEMA: pl.Schema = pl.Schema({c.name: c.dtype for c in ENRICHED_COLUMNS})

_NEEDED: tuple[str, ...] = ("time", "src_ip", "dst_ip", "src_port", "dst_port", "protocol")
_NEEDED += ("client_ip", "server_ip", "client_port", "service_port")
_ATTRS = ("kind", "namespace", "name", "workload", "workload_kind", "node")
_FAR = datetime(9999, 1, 1, tzinfo=timezone.utc)

F = TypeVar("F", pl.DataFrame, pl.LazyFrame)


def _partition(table: pl.DataFrame, keys: list[str], time_aware: bool) -> pl.LazyFrame:
    """One row per key (latest owner), or a gap-filled partition of time per multi-owner key."""
    if not time_aware:
        latest = table.sort([*keys, "valid_from"], nulls_last=False)
        latest = latest.unique(subset=keys, keep="last", maintain_order=True)
        return latest.with_columns(
            pl.lit(None, dtype=table.schema["valid_from"]).alias("valid_from"),
            pl.lit(None, dtype=table.schema["valid_to"]).alias("valid_to"),
            pl.lit(1, dtype=pl.UInt32).alias("n"),
        ).lazy()
    t = table.sort([*keys, "valid_from"], nulls_last=False)
    t = t.unique(subset=[*keys, "valid_from"], keep="last", maintain_order=True)
    t = t.filter(
        pl.col("valid_from").is_null()
        | pl.col("valid_to").is_null()
        | (pl.col("valid_to") > pl.col("valid_from"))
    )
    t = t.with_columns(pl.len().over(keys).cast(pl.UInt32).alias("n"))
    multi = t.filter(pl.col("n") > 1).with_columns(
        pl.int_range(pl.len()).over(keys).alias("__i"),
        pl.col("valid_to").shift(1).over(keys).alias("__prev_to"),
        (pl.int_range(pl.len()).over(keys) == pl.len().over(keys) - 1).alias("__last"),
    )
    blank = {c: pl.lit(None, dtype=t.schema[c]) for c in t.columns if c not in (*keys, "n")}
    lead = multi.filter((pl.col("__i") == 0) & pl.col("valid_from").is_not_null()).select(
        *keys, **(blank | {"valid_to": pl.col("valid_from")}), n=pl.col("n")
    )
    mid = multi.filter(
        (pl.col("__i") > 0)
        & pl.col("__prev_to").is_not_null()
        & (pl.col("__prev_to") < pl.col("valid_from"))
    ).select(
        *keys,
        **(blank | {"valid_from": pl.col("__prev_to"), "valid_to": pl.col("valid_from")}),
        n=pl.col("n"),
    )
    tail = multi.filter(pl.col("__last") & pl.col("valid_to").is_not_null()).select(
        *keys, **(blank | {"valid_from": pl.col("valid_to")}), n=pl.col("n")
    )
    gaps = pl.concat([lead, mid, tail]).select(t.columns)
    return pl.concat([t, gaps]).lazy()


def _membership(memb: pl.DataFrame) -> dict[str, pl.LazyFrame]:
    """Endpointslice membership as three join tables (first Service by name wins)."""
    memb = memb.drop("namespace")  # the Service namespace; a pod key carries its own
    pods = (
        memb.filter(pl.col("key").str.starts_with("pod:"))
        .with_columns(
            pl.col("key")
            .str.slice(4)
            .str.split_exact("/", 1)
            .struct.rename_fields(["namespace", "pod"])
            .alias("__k")
        )
        .unnest("__k")
    )
    pods = pods.with_columns(pl.col("namespace", "pod").cast(pl.Categorical))
    ips = memb.filter(pl.col("key").str.starts_with("ip:")).with_columns(
        pl.col("key").str.slice(3).alias("ip")
    )
    first = pl.col("service").sort().first()
    return {
        "pod_port": pods.drop_nulls("port").group_by("namespace", "pod", "port").agg(first).lazy(),
        "pod_any": pods.group_by("namespace", "pod").agg(first).lazy(),
        "ip_port": ips.drop_nulls("port").group_by("ip", "port").agg(first).lazy(),
    }


def _tables(inventory: Inventory, time_aware: bool) -> dict[str, pl.LazyFrame]:
    cache: dict[bool, dict[str, pl.LazyFrame]] = inventory.__dict__.setdefault("_enrich_cache", {})
    if time_aware not in cache:
        addr = inventory.addresses.select("ip", "valid_from", "valid_to", *_ATTRS)
        host = inventory.host_ports.select(
            "ip", "port", "protocol", "valid_from", "valid_to", *_ATTRS[1:]
        )
        cat = pl.col(*_ATTRS[1:]).cast(pl.Categorical)  # gathered per row: keep them cheap
        addr, host = addr.with_columns(cat), host.with_columns(cat)
        memb = inventory.membership.sort("key", "service")
        names = (
            inventory.port_names.sort("key", "port", "protocol", "rank", "name")
            .unique(subset=["key", "port", "protocol"], keep="first", maintain_order=True)
            .select("key", "port", "protocol", pl.col("name").alias("__pn"))
        )
        tabs = {
            "addresses": _partition(addr, ["ip"], time_aware),
            "host_ports": _partition(host, ["ip", "port", "protocol"], time_aware),
            "port_names": names.lazy(),
            **_membership(memb),
        }
        # the interval filter is only needed where an address had several owners
        for name in ("addresses", "host_ports"):
            multi = tabs[name].select((pl.col("n") > 1).any()).collect().item()
            tabs[f"{name}_multi"] = pl.LazyFrame({"multi": [bool(multi)]})
        cache[time_aware] = tabs
    return cache[time_aware]


def _side(
    lf: pl.LazyFrame, side: str, port: str, tabs: dict[str, pl.LazyFrame], time_aware: bool
) -> pl.LazyFrame:
    ip = f"{side}_ip"
    when = pl.col("time").fill_null(_FAR)

    def joined(name: str, keys: dict[str, str], prefix: str) -> pl.LazyFrame:
        tab = tabs[name]
        rename = {c: f"{prefix}{c}" for c in tab.collect_schema().names() if c not in keys}
        return tab.rename({**rename, **keys})

    def inside(prefix: str) -> pl.Expr:
        vf, vt = pl.col(f"{prefix}valid_from"), pl.col(f"{prefix}valid_to")
        return (vf.is_null() | (when >= vf)) & (vt.is_null() | (when < vt))

    for name, keys, prefix in (
        ("addresses", {"ip": ip}, "__a_"),
        ("host_ports", {"ip": ip, "port": port, "protocol": "protocol"}, "__h_"),
    ):
        lf = lf.join(
            joined(name, keys, prefix), on=list(keys.values()), how="left", maintain_order="left"
        )
        multi = tabs[f"{name}_multi"].collect().item()
        if time_aware and multi:
            n = pl.col(f"{prefix}n")
            lf = lf.filter(n.is_null() | (n == 1) | inside(prefix))
        ok = inside(prefix) if time_aware else pl.lit(True)
        lf = lf.with_columns(
            pl.when(ok).then(pl.col(f"{prefix}{a}")).otherwise(None).alias(f"{prefix}{a}")
            for a in (_ATTRS if prefix == "__a_" else _ATTRS[1:])
        )
    a_kind = pl.col("__a_kind")
    host = pl.col("__h_name").is_not_null() & (a_kind.is_null() | (a_kind == "node"))

    def pick(attr: str) -> pl.Expr:
        return pl.when(host).then(pl.col(f"__h_{attr}")).otherwise(pl.col(f"__a_{attr}"))

    kind = pl.when(host).then(pl.lit("pod")).otherwise(a_kind.cast(pl.String))
    lf = lf.with_columns(
        kind.alias("__kind"),
        pick("namespace").cast(pl.Categorical).alias("__ns"),
        pl.when(kind == "pod").then(pick("name")).cast(pl.Categorical).alias("__pod"),
        pick("workload").alias("__wl"),
        pick("workload_kind").alias("__wk"),
        pick("node").alias("__node"),
    )
    # the Service a pod backs (on this port, else any), or a bare endpoint address on this port
    lf = lf.join(
        tabs["pod_port"].rename({"port": port, "service": "__s1"}),
        left_on=["__ns", "__pod", port],
        right_on=["namespace", "pod", port],
        how="left",
        maintain_order="left",
    )
    lf = lf.join(
        tabs["pod_any"].rename({"service": "__s2"}),
        left_on=["__ns", "__pod"],
        right_on=["namespace", "pod"],
        how="left",
        maintain_order="left",
    )
    lf = lf.join(
        tabs["ip_port"].rename({"ip": ip, "port": port, "service": "__s3"}),
        on=[ip, port],
        how="left",
        maintain_order="left",
    )
    service = (
        pl.when(pl.col("__kind") == "service")
        .then(pl.col("__a_name"))
        .otherwise(pl.coalesce("__s1", "__s3", "__s2"))
    )
    out = {
        "kind": pl.col("__kind").fill_null("external"),
        "namespace": pl.col("__ns"),
        "pod": pl.col("__pod"),
        "workload": pl.when(pl.col("__kind") == "node").then(pl.col("__node")).otherwise("__wl"),
        "workload_kind": pl.when(pl.col("__kind") == "node").then(pl.lit("Node")).otherwise("__wk"),
        "node": pl.col("__node"),
        "service": service,
        "scope": ip_scope(ip),
    }
    lf = lf.with_columns(expr.cast(pl.Categorical).alias(f"{side}_{f}") for f, expr in out.items())
    temp = [c for c in lf.collect_schema().names() if c.startswith("__")]
    return lf.drop(temp)


def _server_port_name(lf: pl.LazyFrame, tabs: dict[str, pl.LazyFrame]) -> pl.LazyFrame:
    """``server_port_name``: the inventory's name of the port, else the well-known one."""
    kind = pl.col("server_kind").cast(pl.String)
    key = (
        pl.when(kind == "pod")
        .then(pl.format("pod:{}/{}", "server_namespace", "server_pod"))
        .otherwise(pl.format("ip:{}", "server_ip"))
    )
    known = cluster_port_table().frame().rename({"key": "__wk_key", "name": "__wn"})
    wk_key = pl.col("protocol").cast(pl.UInt32) * 65536 + pl.col("service_port").cast(pl.UInt32)
    lf = lf.with_columns(key.alias("__pk"), wk_key.alias("__wk_key"))
    lf = lf.join(
        tabs["port_names"],
        left_on=["__pk", "service_port", "protocol"],
        right_on=["key", "port", "protocol"],
        how="left",
        maintain_order="left",
    ).join(known.lazy(), on="__wk_key", how="left", maintain_order="left")
    in_cluster = kind.is_in(["pod", "node", "service"])
    name = pl.coalesce("__pn", pl.when(in_cluster).then(pl.col("__wn")))
    name = pl.when(pl.col("service_port").is_not_null()).then(name)
    return lf.with_columns(name.cast(pl.Categorical).alias("server_port_name")).drop(
        "__pk", "__wk_key", "__pn", "__wn"
    )


def enrich(flows: F, inventory: Inventory, *, time_aware: bool = True) -> F:
    """Add Kubernetes names (:data:`ENRICHED_COLUMNS`) to a flow frame.

    Parameters
    ----------
    flows : polars.DataFrame or polars.LazyFrame
        Canonical flow frame (at least the columns time, src/dst ip and port,
        protocol, client/server ip, client_port, service_port). Enriched
        columns already present are replaced.
    inventory : Inventory
        The cluster inventory.
    time_aware : bool
        Match each flow to the owner of the address at the flow's ``time``
        (default), or to the latest owner.

    Returns
    -------
    Same type as `flows`: its columns, then the enriched ones. Row count and
    order are unchanged.

    Raises
    ------
    SchemaError
        A needed column is missing.
    """
    lazy = flows.lazy() if isinstance(flows, pl.DataFrame) else flows
    names = lazy.collect_schema().names()
    missing = [c for c in _NEEDED if c not in names]
    if missing:
        msg = f"enrich needs a canonical flow frame; missing columns: {', '.join(missing)} (use flowlab.schema.conform and flowlab.services.orient)"
        raise SchemaError(msg)
    lazy = lazy.drop([c for c in names if c in ENRICHED_SCHEMA])
    base = [c for c in names if c not in ENRICHED_SCHEMA]
    tabs = _tables(inventory, time_aware)
    lazy = _side(lazy, "src", "src_port", tabs, time_aware)
    lazy = _side(lazy, "dst", "dst_port", tabs, time_aware)
    client_is_src = (
        (pl.col("client_ip") == pl.col("src_ip")) & (pl.col("client_port") == pl.col("src_port"))
    ).fill_null(False)
    pairs = []
    for f in FIELDS:
        src, dst = pl.col(f"src_{f}"), pl.col(f"dst_{f}")
        pairs.append(
            pl.when(pl.col("client_ip").is_null())
            .then(None)
            .when(client_is_src)
            .then(src)
            .otherwise(dst)
            .alias(f"client_{f}")
        )
        pairs.append(
            pl.when(pl.col("server_ip").is_null())
            .then(None)
            .when(client_is_src)
            .then(dst)
            .otherwise(src)
            .alias(f"server_{f}")
        )
    lazy = _server_port_name(lazy.with_columns(pairs), tabs)
    lazy = lazy.select(*base, *ENRICHED_SCHEMA.names())
    # eager input: the in-memory engine runs these order-keeping joins faster than streaming
    return lazy.collect(engine="in-memory") if isinstance(flows, pl.DataFrame) else lazy
