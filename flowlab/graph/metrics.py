"""Questions asked of a communication graph, answered as Polars frames or subgraphs.

Examples
--------
>>> import networkx as nx
>>> g = nx.DiGraph()
>>> g.add_edge("a", "etcd", bytes=10, packets=1, flows=1, weight=10)
>>> g.add_edge("b", "etcd", bytes=30, packets=2, flows=2, weight=30)
>>> clients_of(g, "etcd")["node"].to_list()
['b', 'a']
>>> top_talkers(g, n=1).row(0)
('etcd', 40, 0, 40, 3, 3)
"""

from __future__ import annotations

from collections.abc import Hashable

import networkx as nx
import polars as pl

from flowlab.exceptions import ConfigError

__all__ = [
    "centrality",
    "clients_of",
    "communities",
    "namespace_subgraph",
    "neighbours",
    "top_talkers",
]


def _check(g: nx.DiGraph, node: Hashable) -> None:
    if node not in g:
        near = sorted(str(n) for n in g if str(node).split("/")[-1] in str(n))[:5]
        msg = f"node {node!r} is not in the graph (level {g.graph.get('level', '?')})" + (
            f"; similar: {', '.join(near)}" if near else ""
        )
        raise ConfigError(msg)


def top_talkers(g: nx.DiGraph, n: int = 10, *, by: str = "bytes") -> pl.DataFrame:
    """Nodes by total volume (in + out), largest first.

    Columns: ``node, bytes_in, bytes_out, bytes, packets, flows`` (``bytes`` =
    in + out; with ``by="packets"`` or ``"flows"`` the ranking uses that total).
    """
    rows = []
    for node in g:
        loop = g.edges[node, node] if g.has_edge(node, node) else {}

        def total(key: str, edges: object, node: Hashable = node) -> int:
            return sum(d.get(key, 0) for _, _, d in edges)  # type: ignore[attr-defined]

        row = {
            "node": str(node),
            "bytes_in": total("bytes", g.in_edges(node, data=True)),
            "bytes_out": total("bytes", g.out_edges(node, data=True)),
        }
        for key in ("bytes", "packets", "flows"):  # a self-loop counts once
            row[key] = (
                total(key, g.in_edges(node, data=True))
                + total(key, g.out_edges(node, data=True))
                - loop.get(key, 0)
            )
        rows.append(row)
    schema = {
        "node": pl.String(),
        "bytes_in": pl.UInt64(),
        "bytes_out": pl.UInt64(),
        "bytes": pl.UInt64(),
        "packets": pl.UInt64(),
        "flows": pl.UInt64(),
    }
    frame = pl.DataFrame(rows, schema=schema)
    return frame.sort([by, "node"], descending=[True, False]).head(n)


def _peers(g: nx.DiGraph, edges: list[tuple[Hashable, Hashable, dict]], pick: int) -> pl.DataFrame:
    rows = [
        {
            "node": str(e[pick]),
            "bytes": e[2].get("bytes", 0),
            "packets": e[2].get("packets", 0),
            "flows": e[2].get("flows", 0),
            "services": list(e[2].get("services", [])),
        }
        for e in edges
    ]
    schema = pl.Schema(
        {
            "node": pl.String(),
            "bytes": pl.UInt64(),
            "packets": pl.UInt64(),
            "flows": pl.UInt64(),
            "services": pl.List(pl.String),
        }
    )
    return pl.DataFrame(rows, schema=schema).sort(["bytes", "node"], descending=[True, False])


def clients_of(g: nx.DiGraph, node: Hashable) -> pl.DataFrame:
    """Nodes with an edge into `node` (its clients in a client-server graph), by bytes."""
    _check(g, node)
    return _peers(g, list(g.in_edges(node, data=True)), 0)


def neighbours(g: nx.DiGraph, node: Hashable) -> pl.DataFrame:
    """Every node `node` talks with, either direction, with the summed volume and ``direction``."""
    _check(g, node)
    out = _peers(g, list(g.out_edges(node, data=True)), 1).with_columns(direction=pl.lit("out"))
    inn = _peers(g, list(g.in_edges(node, data=True)), 0).with_columns(direction=pl.lit("in"))
    both = pl.concat([out, inn])
    return (
        both.group_by("node")
        .agg(
            pl.col("bytes", "packets", "flows").sum(),
            pl.col("services").explode().drop_nulls().unique().sort(),
            pl.col("direction").unique().sort().str.join("+"),
        )
        .sort(["bytes", "node"], descending=[True, False])
    )


def centrality(g: nx.DiGraph, *, weight: str | None = "weight") -> pl.DataFrame:
    """Degree, weighted degree, betweenness and PageRank per node, by PageRank.

    Betweenness is unweighted (volume is not a distance); PageRank uses `weight`.
    """
    if g.number_of_nodes() == 0:
        return pl.DataFrame(
            schema={
                "node": pl.String(),
                "in_degree": pl.UInt32(),
                "out_degree": pl.UInt32(),
                "weighted_degree": pl.Float64(),
                "betweenness": pl.Float64(),
                "pagerank": pl.Float64(),
            }
        )
    between = nx.betweenness_centrality(g)
    rank = nx.pagerank(g, weight=weight)
    wdeg = dict(g.degree(weight=weight))
    return pl.DataFrame(
        {
            "node": [str(n) for n in g],
            "in_degree": [g.in_degree(n) for n in g],
            "out_degree": [g.out_degree(n) for n in g],
            "weighted_degree": [float(wdeg[n]) for n in g],
            "betweenness": [between[n] for n in g],
            "pagerank": [rank[n] for n in g],
        },
        schema_overrides={"in_degree": pl.UInt32(), "out_degree": pl.UInt32()},
    ).sort(["pagerank", "node"], descending=[True, False])


def communities(
    g: nx.DiGraph, *, method: str = "louvain", weight: str | None = "weight", seed: int = 0
) -> pl.DataFrame:
    """Community of each node (``node, community``; community 0 is the largest).

    Parameters
    ----------
    method : {"louvain", "greedy"}
        ``networkx`` Louvain (seeded, deterministic) or greedy modularity, on the
        undirected view.
    """
    u = g.to_undirected()
    if method == "louvain":
        parts = nx.community.louvain_communities(u, weight=weight, seed=seed)
    elif method == "greedy":
        parts = nx.community.greedy_modularity_communities(u, weight=weight)
    else:
        msg = f"unknown community method {method!r}; expected 'louvain' or 'greedy'"
        raise ConfigError(msg)
    ordered = sorted((sorted(str(n) for n in p) for p in parts), key=lambda p: (-len(p), p))
    rows = [(n, i) for i, part in enumerate(ordered) for n in part]
    return pl.DataFrame(rows, schema={"node": pl.String(), "community": pl.UInt32()}, orient="row")


def namespace_subgraph(g: nx.DiGraph, namespace: str, *, neighbours: bool = True) -> nx.DiGraph:
    """The nodes of `namespace` (and, by default, everything they talk with) with their edges."""
    inside = {n for n, ns in g.nodes(data="namespace") if ns == namespace}
    if not inside:
        have = sorted({ns for _, ns in g.nodes(data="namespace") if ns})
        msg = f"no node of namespace {namespace!r} in the graph; namespaces: {', '.join(have[:10])}"
        raise ConfigError(msg)
    keep = set(inside)
    if neighbours:
        for n in inside:
            keep |= set(g.successors(n)) | set(g.predecessors(n))
    sub = g.subgraph(keep).copy()
    if neighbours:  # only edges that touch the namespace
        sub.remove_edges_from(
            [(a, b) for a, b in list(sub.edges) if a not in inside and b not in inside]
        )
    return sub
