from __future__ import annotations

import networkx as nx
import pytest

from flowlab.exceptions import ConfigError
from flowlab.graph import (
    centrality,
    clients_of,
    communication_graph,
    communities,
    namespace_subgraph,
    neighbours,
    top_talkers,
)
from tests import clusterdata as cd


@pytest.fixture(scope="module")
def g() -> nx.DiGraph:
    return communication_graph(cd.enriched(), level="workload")


def test_top_talkers_sum_in_and_out(g: nx.DiGraph) -> None:
    t = top_talkers(g, n=100)
    assert t.height == g.number_of_nodes()
    assert t["bytes"].to_list() == sorted(t["bytes"].to_list(), reverse=True)
    # each edge's bytes are counted once at each end
    assert t["bytes"].sum() == 2 * sum(d["bytes"] for *_, d in g.edges(data=True))
    row = t.filter(t["node"] == "openshift-monitoring/grafana").row(0, named=True)
    assert row["bytes_in"] == 0 and row["bytes_out"] == row["bytes"] > 0


def test_self_loop_counts_once() -> None:
    h = nx.DiGraph()
    h.add_edge("a", "a", bytes=5, packets=1, flows=1)
    assert top_talkers(h).row(0) == ("a", 5, 5, 5, 1, 1)


def test_clients_and_neighbours(g: nx.DiGraph) -> None:
    etcd = clients_of(g, "openshift-etcd/etcd")
    assert etcd["node"].to_list() == sorted(
        etcd["node"].to_list(), key=lambda n: -etcd.filter(etcd["node"] == n)["bytes"][0]
    )
    assert set(etcd["node"]) == {"node/master-0", "node/master-1", "node/master-2"}
    peers = neighbours(g, "openshift-monitoring/grafana")
    assert set(peers["node"]) == {
        "openshift-monitoring/prometheus-k8s",
        "openshift-monitoring/alertmanager-main",
    }
    assert set(peers["direction"]) == {"out"}
    with pytest.raises(ConfigError, match="similar: openshift-monitoring/grafana"):
        neighbours(g, "grafana")


def test_centrality_and_communities(g: nx.DiGraph) -> None:
    c = centrality(g)
    assert c.height == g.number_of_nodes()
    assert abs(c["pagerank"].sum() - 1.0) < 1e-6
    # the Kubernetes API service has the most clients
    top_in = c.sort("in_degree", descending=True)["node"][0]
    assert top_in == "default/kubernetes"
    for method in ("louvain", "greedy"):
        com = communities(g, method=method)
        assert sorted(com["node"]) == sorted(g.nodes)
        # the shop app chain lands in one community
        shop = com.filter(com["node"].is_in(["shop/frontend", "shop/cart"]))["community"]
        assert shop.n_unique() == 1
    with pytest.raises(ConfigError):
        communities(g, method="magic")


def test_namespace_subgraph(g: nx.DiGraph) -> None:
    sub = namespace_subgraph(g, "shop")
    assert {"shop/frontend", "shop/cart", "shop/redis"} <= set(sub)
    assert all(
        sub.nodes[a].get("namespace") == "shop" or sub.nodes[b].get("namespace") == "shop"
        for a, b in sub.edges
    )
    only = namespace_subgraph(g, "shop", neighbours=False)
    assert {only.nodes[n]["namespace"] for n in only} == {"shop"}
    with pytest.raises(ConfigError, match="namespaces:"):
        namespace_subgraph(g, "nope")
