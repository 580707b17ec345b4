"""Communication graphs: flows aggregated in Polars, then handed to NetworkX.

Node identity per ``level`` is one rule for every side of every flow, shared with
the analyses and charts: :func:`flowlab.vocabulary.endpoint_id` (its table).

A Service named like its workload (the usual case: Service ``shop/cart`` in
front of Deployment ``shop/cart``) shares its id at the workload and service
levels, so traffic to the ClusterIP and to the pods behind it meet in one node
(with ``kinds = ["pod", "service"]``, see below).

``orient="client-server"`` draws client -> server (ElastiFlow's orientation);
rows without ports (ICMP, ...) have no client/server and are drawn src -> dst,
so that every row is counted exactly once. ``orient="src-dst"`` uses the
packet direction.

Edges carry ``bytes``, ``packets``, ``flows`` (record count), ``weight`` (the
chosen metric), ``services`` (IANA names), ``port_names`` (the cluster's
names, ``server_port_name``, on enriched flows), ``ports``, ``protocols`` (sorted lists),
``first_seen``/``last_seen`` (UTC datetimes): sums and complete sets over
the rows behind the edge, never one row's value. Nodes carry ``label`` (short
display name), ``ips`` (sorted list), with an inventory at pod level
``labels`` (dict), and the enrichment fields by one rule: a node has
``kind``, ``namespace``, ``pod``, ``workload``, ``workload_kind``,
``service``, ``node`` or ``scope`` only when **every** flow side behind it
has that same value; otherwise it has the summary of :data:`SUMMARIES`
instead: ``pods`` (the number of distinct pods), or the sorted distinct
values (``nodes = ["worker-1", "worker-2"]``, ``namespaces``, ``kinds``, ...).
So ``node/master-0`` at the node level has no ``namespace`` (its host
traffic has none, its pods several), and a two-pod workload on two nodes has
``nodes``, not ``node``. The lists flatten like the others in the graph files
(:mod:`flowlab.graph.export`).

Examples
--------
>>> import polars as pl
>>> from flowlab.schema import conform
>>> from flowlab.services import orient_frame
>>> f = orient_frame(conform(pl.DataFrame({"src_ip": ["10.0.0.1", "10.0.0.2"],
...     "dst_ip": ["10.0.0.9", "10.0.0.9"], "src_port": [40000, 40001], "dst_port": [443, 443],
...     "protocol": [6, 6], "bytes": [100, 50], "packets": [1, 1]})))
>>> g = communication_graph(f, level="ip")
>>> sorted(g.edges(data="bytes"))
[('10.0.0.1', '10.0.0.9', 100), ('10.0.0.2', '10.0.0.9', 50)]
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

import networkx as nx
import polars as pl

from flowlab.exceptions import ConfigError, SchemaError
from flowlab.vocabulary.endpoints import LEVELS, endpoint_id
from flowlab.vocabulary.keys import METRICS

if TYPE_CHECKING:
    from flowlab.k8s import Inventory

__all__ = ["LEVELS", "ORIENTS", "SUMMARIES", "communication_graph", "edge_frame", "endpoint_id"]

Level = Literal["ip", "pod", "workload", "namespace", "node", "service"]
Orient = Literal["client-server", "src-dst"]
#: edge directions: client -> server, or packet direction
ORIENTS: tuple[str, ...] = ("client-server", "src-dst")
_WEIGHTS = METRICS  # edge weights: the metrics


def _sides(orient: str) -> tuple[pl.Expr, str, str, str, str]:
    if orient == "client-server":
        return pl.col("client_ip").is_not_null(), "client", "server", "src", "dst"
    if orient == "src-dst":
        return pl.lit(True), "src", "dst", "src", "dst"
    msg = f"unknown orient {orient!r}; expected 'client-server' or 'src-dst'"
    raise ConfigError(msg)


def _require(lf: pl.LazyFrame, level: str, inventory: Inventory | None) -> pl.LazyFrame:
    endpoint_id("src", level)  # validates the level
    names = lf.collect_schema().names()
    if level == "ip" or "src_kind" in names:
        return lf
    if inventory is not None:
        from flowlab.k8s import enrich

        return enrich(lf, inventory)
    msg = f"level {level!r} needs enriched flows (src_kind, src_namespace, ...): call flowlab.k8s.enrich(flows, inventory) first or pass inventory="
    raise SchemaError(msg)


_FIELDS = ("kind", "namespace", "pod", "workload", "workload_kind", "service", "node", "scope")


def _stage1(lf: pl.LazyFrame, orient: str) -> pl.LazyFrame:
    """Rows grouped by everything that names both ends (``s_*``, ``t_*``), with the metrics.

    Grouping on the (categorical) name columns and the IPs first, then naming
    the nodes on this much smaller frame, is what keeps graph building fast.
    Rows with and without a client/server are grouped separately (each on its
    own columns, no per-row choice) and the two results concatenated.
    """
    oriented, a, b, a0, b0 = _sides(orient)
    names = set(lf.collect_schema().names())
    fields = [f for f in _FIELDS if all(f"{x}_{f}" in names for x in (a, b, a0, b0))]
    port_names = (
        [pl.col("server_port_name").cast(pl.String).drop_nulls().unique().alias("port_names")]
        if "server_port_name" in names
        else []
    )
    metrics = [
        *port_names,
        pl.col("bytes").sum().cast(pl.UInt64),
        pl.col("packets").sum().cast(pl.UInt64),
        pl.len().cast(pl.UInt64).alias("flows"),
        pl.col("service_name").drop_nulls().unique().alias("services"),
        pl.col("service_port").drop_nulls().unique().alias("ports"),
        pl.col("protocol").drop_nulls().unique().alias("protocols"),
        pl.col("time").min().alias("first_seen"),
        pl.col("time").max().alias("last_seen"),
    ]

    def grouped(subset: pl.LazyFrame, s: str, t: str) -> pl.LazyFrame:
        keys = [
            pl.col(f"{side}_{f}").alias(f"{role}_{f}")
            for role, side in (("s", s), ("t", t))
            for f in ("ip", *fields)
        ]
        return subset.group_by(keys).agg(metrics)

    if a == a0:
        return grouped(lf, a, b)
    return pl.concat([grouped(lf.filter(oriented), a, b), grouped(lf.filter(~oriented), a0, b0)])


def _edges(stage1: pl.LazyFrame, level: str, fold: bool) -> pl.LazyFrame:
    def merged(name: str) -> pl.Expr:
        return pl.col(name).explode().drop_nulls().unique().sort()

    return (
        stage1.with_columns(
            endpoint_id("s", level, fold_external=fold).alias("source"),
            endpoint_id("t", level, fold_external=fold).alias("target"),
        )
        .group_by("source", "target")
        .agg(
            pl.col("bytes", "packets", "flows").sum(),
            merged("services"),
            *([merged("port_names")] if "port_names" in stage1.collect_schema().names() else []),
            merged("ports"),
            merged("protocols"),
            pl.col("first_seen").min(),
            pl.col("last_seen").max(),
        )
        .sort("bytes", "source", "target", descending=[True, False, False], nulls_last=True)
    )


#: the summary attribute a node gets for a field its members disagree on
SUMMARIES: dict[str, str] = {
    "kind": "kinds",
    "namespace": "namespaces",
    "pod": "pods",
    "workload": "workloads",
    "workload_kind": "workload_kinds",
    "service": "k8s_services",
    "node": "nodes",
    "scope": "scopes",
}


def _nodes(stage1: pl.LazyFrame, level: str, fold: bool) -> pl.LazyFrame:
    """One row per node: its IPs and, per field, the distinct values of its members (nulls kept)."""
    names = stage1.collect_schema().names()
    fields = [f for f in _FIELDS if f"s_{f}" in names]
    parts = [
        stage1.select(
            endpoint_id(role, level, fold_external=fold).alias("id"),
            pl.col(f"{role}_ip").alias("ip"),
            *(pl.col(f"{role}_{f}").cast(pl.String).alias(f) for f in fields),
            *(
                [pl.format("{}/{}", f"{role}_namespace", f"{role}_pod").alias("__pod")]
                if "pod" in fields
                else []
            ),
        )
        for role in ("s", "t")
    ]
    aggs = [pl.col("ip").drop_nulls().unique().sort().alias("ips")]
    aggs += [pl.col(f).unique().sort(nulls_last=True) for f in fields]
    if "pod" in fields:
        aggs.append(pl.col("__pod").drop_nulls().n_unique().alias("__pods"))
    return pl.concat(parts).group_by("id").agg(aggs)


def _node_attrs(row: dict[str, Any]) -> dict[str, Any]:
    """A node's attributes by the agreement rule (module docstring)."""
    attrs: dict[str, Any] = {"ips": row["ips"]}
    for field, summary in SUMMARIES.items():
        values = row.get(field)
        if values is None:
            continue
        if len(values) == 1 and values[0] is not None:
            attrs[field] = values[0]
        elif field == "pod":
            if row["__pods"]:
                attrs[summary] = row["__pods"]
        elif known := [v for v in values if v is not None]:
            attrs[summary] = known
    return attrs


def edge_frame(
    flows: pl.DataFrame | pl.LazyFrame,
    *,
    level: Level = "workload",
    orient: Orient = "client-server",
    inventory: Inventory | None = None,
    fold_external: bool = False,
) -> pl.LazyFrame:
    """The graph's edges as a lazy frame (``source, target, bytes, packets, flows, ...``).

    This is all the work of :func:`communication_graph` except building the
    NetworkX object; use it directly when a frame is enough.
    """
    lf = _require(flows.lazy(), level, inventory)
    return _edges(_stage1(lf, orient), level, fold_external)


def _label(node_id: str, attrs: dict[str, Any], level: str) -> str:
    kinds = [attrs["kind"]] if "kind" in attrs else attrs.get("kinds", [])
    if level in ("pod", "workload", "service") and "pod" in kinds:
        return node_id.split("/", 1)[-1]
    return node_id


def communication_graph(
    flows: pl.DataFrame | pl.LazyFrame,
    level: Level = "workload",
    orient: Orient = "client-server",
    weight: Literal["bytes", "packets", "flows"] = "bytes",
    *,
    inventory: Inventory | None = None,
    fold_external: bool = False,
) -> nx.DiGraph:
    """Build the directed communication graph of `flows` at `level`.

    Parameters
    ----------
    flows : polars.DataFrame or polars.LazyFrame
        Canonical flows; enriched (:func:`flowlab.k8s.enrich`) for every level but ``ip``.
    level : {"pod", "workload", "namespace", "node", "service", "ip"}
        What a graph node is (see the module docstring).
    orient : {"client-server", "src-dst"}
        Edge direction.
    weight : {"bytes", "packets", "flows"}
        Copied into each edge's ``weight`` attribute (used by the metrics).
    inventory : Inventory, optional
        Enriches un-enriched flows, and gives pod nodes their ``labels``.
    fold_external : bool
        One node per scope (``external/public``, ``external/private``) for all
        external addresses instead of one per IP (not at the ``ip`` level).

    Returns
    -------
    networkx.DiGraph
        Graph attributes ``level``, ``orient``, ``weight``.
    """
    if weight not in _WEIGHTS:
        msg = f"unknown weight {weight!r}; expected one of {', '.join(_WEIGHTS)}"
        raise ConfigError(msg)
    lf = _require(flows.lazy(), level, inventory)
    stage1 = _stage1(lf, orient).collect().lazy()
    edges, nodes = pl.collect_all(
        [_edges(stage1, level, fold_external), _nodes(stage1, level, fold_external)]
    )
    g = nx.DiGraph(level=level, orient=orient, weight=weight)
    labels: dict[str, Any] = {}
    if inventory is not None and level == "pod":
        pods = inventory.pods.select(pl.format("{}/{}", "namespace", "name").alias("id"), "labels")
        labels = {k: json.loads(v) for k, v in pods.iter_rows()}
    for row in nodes.iter_rows(named=True):
        attrs = _node_attrs(row)
        attrs["label"] = _label(row["id"], attrs, level)
        if row["id"] in labels:
            attrs["labels"] = labels[row["id"]]
        g.add_node(row["id"], **attrs)
    for row in edges.iter_rows(named=True):
        s, t = row.pop("source"), row.pop("target")
        row["weight"] = row[weight]
        g.add_edge(s, t, **row)
    return g
