"""Coarse graph nodes carry true attributes: a field is set only when every flow row behind it agrees.

The property: for any subset of the flows, any level and orientation, every
enrichment field a node has equals that field on every flow row side behind
the node; a field it lacks is replaced by a summary listing exactly the
distinct values behind it. Edge lists are exactly the sets over their rows.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import networkx as nx
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowlab import demo
from flowlab.graph import LEVELS, ORIENTS, communication_graph, endpoint_id, read_node_link
from flowlab.graph.build import SUMMARIES
from flowlab.graph.export import unflatten, write_gexf, write_graphml, write_node_link
from flowlab.k8s import Inventory, enrich
from tests import clusterdata as cd

COARSE = [lvl for lvl in LEVELS if lvl != "ip"]


@cache
def _frames() -> dict[str, pl.DataFrame]:
    data = demo.load(seconds=120, seed=3)
    return {
        "clusterdata": cd.enriched(),
        "demo": enrich(data.flows, Inventory.from_objects(data.inventory["items"])),
    }


def _members(flows: pl.DataFrame, level: str, orient: str) -> pl.DataFrame:
    """One row per (flow row, end): the node id that end becomes and its enrichment fields."""
    has = pl.col("client_ip").is_not_null() if orient == "client-server" else pl.lit(False)
    parts = []
    for a, a0 in (("client", "src"), ("server", "dst")):
        a = a if orient == "client-server" else a0

        def pick(f: str, a: str = a, a0: str = a0) -> pl.Expr:
            return pl.when(has).then(pl.col(f"{a}_{f}")).otherwise(pl.col(f"{a0}_{f}"))

        ident = pl.when(has).then(endpoint_id(a, level)).otherwise(endpoint_id(a0, level))
        parts.append(
            flows.select(ident.alias("id"), *(pick(f).cast(pl.String).alias(f) for f in SUMMARIES))
        )
    return pl.concat(parts)


def _check_nodes(g: nx.DiGraph, members: pl.DataFrame) -> None:
    by_id = members.partition_by("id", as_dict=True)
    assert set(g.nodes) == {k[0] for k in by_id}
    for (node,), rows in by_id.items():
        attrs = g.nodes[node]
        for field, summary in SUMMARIES.items():
            values = rows[field]
            distinct = sorted(v for v in values.unique().to_list() if v is not None)
            if field in attrs:
                # the property: this value on every row behind the node
                assert (values == attrs[field]).all() and values.null_count() == 0, (node, field)
                assert summary not in attrs, (node, field)
                continue
            assert values.n_unique() > 1 or values.null_count() == rows.height, (node, field)
            if field == "pod":
                pods = rows.filter(pl.col("pod").is_not_null()).select("namespace", "pod")
                assert attrs.get(summary, 0) == pods.n_unique(), node
            else:
                assert attrs.get(summary, []) == distinct, (node, field)


def _check_edges(g: nx.DiGraph, flows: pl.DataFrame, level: str, orient: str) -> None:
    members = _members(flows, level, orient)
    n = flows.height
    pairs = flows.select(
        members["id"].head(n).alias("source"),
        members["id"].tail(n).alias("target"),
        "service_name",
        "service_port",
        pl.col("server_port_name").cast(pl.String),
        "protocol",
    )
    for (s, t), rows in pairs.partition_by("source", "target", as_dict=True).items():
        d = g.edges[s, t]
        assert d["flows"] == rows.height
        pairs_ = (("services", "service_name"), ("ports", "service_port"))
        for attr, col in (*pairs_, ("port_names", "server_port_name")):
            assert d[attr] == sorted(rows[col].drop_nulls().unique().to_list()), (s, t, attr)
        assert d["protocols"] == sorted(rows["protocol"].drop_nulls().unique().to_list())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=st.sampled_from(["clusterdata", "demo"]),
    level=st.sampled_from(COARSE),
    orient=st.sampled_from(ORIENTS),
    seed=st.integers(0, 2**32 - 1),
    share=st.floats(0.02, 1.0),
)
def test_node_attributes_hold_for_every_row_behind_the_node(
    source: str, level: str, orient: str, seed: int, share: float
) -> None:
    frame = _frames()[source]
    flows = frame.sample(fraction=share, seed=seed) if share < 1 else frame
    g = communication_graph(flows, level=level, orient=orient)  # type: ignore[arg-type]
    _check_nodes(g, _members(flows, level, orient))
    _check_edges(g, flows, level, orient)


@pytest.mark.parametrize("level", COARSE)
@pytest.mark.parametrize("orient", ORIENTS)
def test_every_level_on_all_flows(level: str, orient: str) -> None:
    for flows in _frames().values():
        g = communication_graph(flows, level=level, orient=orient)  # type: ignore[arg-type]
        _check_nodes(g, _members(flows, level, orient))


def test_demo_nodes_named_in_the_issue() -> None:
    """The values the old code copied from one member are gone; the summaries say what is there."""
    flows = _frames()["demo"]
    node = communication_graph(flows, level="node").nodes["node/master-0"]
    assert "namespace" not in node and "pod" not in node
    assert node["node"] == "master-0"
    assert node["pods"] >= 2 and "openshift-dns" in node["namespaces"]
    ns = communication_graph(flows, level="namespace").nodes["openshift-monitoring"]
    assert ns["namespace"] == "openshift-monitoring"
    assert "pod" not in ns and "workload_kind" not in ns
    assert "DaemonSet" in ns["workload_kinds"] and "StatefulSet" in ns["workload_kinds"]
    wl = communication_graph(flows, level="workload").nodes["openshift-monitoring/prometheus-k8s"]
    assert "node" not in wl and wl["nodes"] == ["worker-1", "worker-2"] and wl["pods"] == 2
    assert wl["workload_kind"] == "StatefulSet"


@pytest.mark.parametrize("writer", [write_graphml, write_gexf, write_node_link])
def test_summaries_export(writer: Any, tmp_path: Any) -> None:
    g = communication_graph(_frames()["demo"], level="namespace")
    path = tmp_path / "g"
    writer(g, path)
    back = {
        write_graphml: lambda p: nx.read_graphml(p),
        write_gexf: lambda p: nx.read_gexf(p),
        write_node_link: read_node_link,
    }[writer](path)
    got = unflatten(back).nodes["openshift-monitoring"]
    want = g.nodes["openshift-monitoring"]
    assert got["nodes"] == want["nodes"] and got["workload_kinds"] == want["workload_kinds"]
    assert int(got["pods"]) == want["pods"]


def test_drawn_legend_uses_the_true_attributes() -> None:
    """The graph view colours and tooltips say what is behind a node, not one member's namespace."""
    from flowlab.views.graphview import graph_frames

    g = communication_graph(_frames()["demo"], level="node")
    nodes, edges = graph_frames(g, max_edges=None)
    master = nodes.filter(pl.col("id") == "node/master-0").row(0, named=True)
    assert master["namespace"] == "(several namespaces)" and master["kind"] == "node+pod"
    assert "openshift-dns" not in nodes.filter(pl.col("id").str.starts_with("node/"))["namespace"]
    assert edges["port_names"].str.contains("etcd").any()
