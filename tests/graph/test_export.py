"""Every export reads back (networkx readers, JSON parsers, our DOT parser) with its attributes."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest

from flowlab.exceptions import ConfigError
from flowlab.graph import (
    communication_graph,
    flatten,
    read_cytoscape,
    read_dot,
    read_node_link,
    to_dot,
    unflatten,
    write,
)
from tests import clusterdata as cd


@pytest.fixture(scope="module")
def g() -> nx.DiGraph:
    return communication_graph(cd.enriched(), level="pod", inventory=cd.inventory())


READERS = {
    "graphml": lambda p: nx.read_graphml(p),
    "gexf": lambda p: nx.read_gexf(p),
    "json": read_node_link,
    "cyjs": read_cytoscape,
    "dot": read_dot,
}


@pytest.mark.parametrize("ext", list(READERS))
def test_roundtrip_keeps_every_attribute(g: nx.DiGraph, ext: str, tmp_path: Path) -> None:
    path = write(g, tmp_path / f"graph.{ext}")
    back = READERS[ext](str(path))
    flat = flatten(g)
    assert set(back.nodes) == set(flat.nodes)
    assert set(back.edges) == set(flat.edges)
    for s, t, d in flat.edges(data=True):
        got = dict(back.edges[s, t])
        got.pop("id", None)  # GEXF adds edge ids
        got.pop("label", None)
        assert got == d, (ext, s, t)
    for n, d in flat.nodes(data=True):
        got = dict(back.nodes[n])
        if ext == "gexf":
            got.pop("label", None)
            d = {k: v for k, v in d.items() if k != "label"}
        assert got == d, (ext, n)
    # totals survive as numbers
    assert sum(d["bytes"] for *_, d in back.edges(data=True)) == sum(
        d["bytes"] for *_, d in g.edges(data=True)
    )


def test_flatten_rules(g: nx.DiGraph) -> None:
    s, t, d = next(iter(flatten(g).edges(data=True)))
    assert isinstance(d["services"], str) and isinstance(d["first_seen"], str)
    assert d["first_seen"].endswith("+00:00")
    pod = flatten(g).nodes["openshift-monitoring/prometheus-k8s-0"]
    assert json.loads(pod["labels"]) == {"app.kubernetes.io/name": "prometheus"}
    back = unflatten(flatten(g))
    assert back.edges[s, t]["services"] == g.edges[s, t]["services"]


def test_cytoscape_json_shape(g: nx.DiGraph, tmp_path: Path) -> None:
    data = json.loads(write(g, tmp_path / "g.cyjs").read_text())
    assert len(data["elements"]["nodes"]) == g.number_of_nodes()
    assert {"source", "target", "bytes"} <= set(data["elements"]["edges"][0]["data"])


def test_dot_quoting_and_errors(tmp_path: Path) -> None:
    h = nx.DiGraph()
    h.add_edge('we"ird\\name', "b\nc", note="x;y [z]", n=1.5, flag=True)
    p = tmp_path / "h.dot"
    p.write_text(to_dot(h))
    back = read_dot(p)
    assert back.edges['we"ird\\name', "b\nc"] == {"note": "x;y [z]", "n": 1.5, "flag": "true"}
    p.write_text("graph { a -- b }")
    with pytest.raises(ConfigError, match="digraph"):
        read_dot(p)
    with pytest.raises(ConfigError, match="unknown graph file type"):
        write(h, tmp_path / "h.xyz")
