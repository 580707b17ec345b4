"""communication_graph: totals preserved at every level and orient, node identities, attributes."""

from __future__ import annotations

import polars as pl
import pytest

from flowlab.exceptions import ConfigError, SchemaError
from flowlab.graph import LEVELS, ORIENTS, communication_graph, edge_frame
from tests import clusterdata as cd


@pytest.fixture(scope="module")
def flows() -> pl.DataFrame:
    return cd.enriched()


@pytest.mark.parametrize("orient", ORIENTS)
@pytest.mark.parametrize("level", LEVELS)
def test_edge_totals_equal_flow_totals(flows: pl.DataFrame, level: str, orient: str) -> None:
    g = communication_graph(flows, level=level, orient=orient)
    for key in ("bytes", "packets", "flows"):
        got = sum(d[key] for _, _, d in g.edges(data=True))
        want = flows.height if key == "flows" else flows[key].sum()
        assert got == want, (level, orient, key)
    # the edge frame has the same totals and no null endpoints
    ef = edge_frame(flows, level=level, orient=orient).collect()
    assert ef["bytes"].sum() == flows["bytes"].sum()
    assert ef["source"].null_count() == 0 and ef["target"].null_count() == 0
    d = max(g.edges(data=True), key=lambda e: e[2]["bytes"])[2]
    assert d["weight"] == d["bytes"]
    assert d["first_seen"] <= d["last_seen"]


def test_workload_level_identities(flows: pl.DataFrame) -> None:
    g = communication_graph(flows, level="workload")
    assert g.has_edge("openshift-monitoring/grafana", "openshift-monitoring/prometheus-k8s")
    assert g.has_edge(
        "node/master-0", "openshift-etcd/etcd"
    )  # host-network apiserver -> etcd pod by port
    assert g.has_edge("shop/frontend", "shop/cart")  # via the reused IP, at cart's time
    assert g.has_edge("shop/cleanup", "52.1.2.3")  # the IP's first owner, at its time
    assert g.has_edge("10.130.0.20", "192.168.50.10")  # between owners: an unknown address
    e = g.edges["openshift-monitoring/grafana", "openshift-monitoring/prometheus-k8s"]
    assert e["ports"] == [9091] and e["protocols"] == [6]
    want = flows.filter(
        (pl.col("client_ip") == cd.GRAFANA) & pl.col("server_workload").eq("prometheus-k8s")
    )
    assert (e["bytes"], e["packets"], e["flows"]) == (
        want["bytes"].sum(),
        want["packets"].sum(),
        want.height,
    )
    n = g.nodes["openshift-monitoring/prometheus-k8s"]
    assert (n["kind"], n["namespace"], n["workload_kind"], n["label"]) == (
        "pod",
        "openshift-monitoring",
        "StatefulSet",
        "prometheus-k8s",
    )
    assert n["ips"] == [cd.PROM0, cd.PROM1]
    assert g.graph == {"level": "workload", "orient": "client-server", "weight": "bytes"}


def test_other_levels(flows: pl.DataFrame) -> None:
    ns = communication_graph(flows, level="namespace")
    assert ns.has_edge("openshift-monitoring", "default") and ns.has_edge("shop", "openshift-dns")
    node = communication_graph(flows, level="node")
    assert node.has_edge(
        "node/worker-0", "node/worker-1"
    )  # grafana (worker-0) -> prometheus-k8s-0 (worker-1)
    svc = communication_graph(flows, level="service")
    assert svc.has_edge("openshift-monitoring/grafana", "openshift-monitoring/prometheus-k8s")
    assert svc.has_edge("shop/frontend", "shop/cart")
    ip = communication_graph(cd.flows(), level="ip")  # ip level needs no enrichment
    assert ip.has_edge(cd.GRAFANA, cd.PROM0)


def test_src_dst_orient_follows_packets(flows: pl.DataFrame) -> None:
    g = communication_graph(flows, level="ip", orient="src-dst")
    back = flows.filter((pl.col("src_ip") == cd.PROM0) & (pl.col("dst_ip") == cd.GRAFANA))
    assert g.edges[cd.PROM0, cd.GRAFANA]["bytes"] == back["bytes"].sum() > 0
    cs = communication_graph(flows, level="ip")
    assert not cs.has_edge(cd.PROM0, cd.GRAFANA)


def test_pod_labels_from_inventory(flows: pl.DataFrame) -> None:
    g = communication_graph(flows, level="pod", inventory=cd.inventory())
    assert g.nodes["openshift-monitoring/prometheus-k8s-0"]["labels"] == {
        "app.kubernetes.io/name": "prometheus"
    }
    assert g.nodes["openshift-monitoring/prometheus-k8s-0"]["label"] == "prometheus-k8s-0"


def test_inventory_enriches_raw_flows() -> None:
    g = communication_graph(cd.flows(), level="workload", inventory=cd.inventory())
    assert g.has_edge("openshift-monitoring/grafana", "openshift-monitoring/prometheus-k8s")


def test_errors() -> None:
    with pytest.raises(SchemaError, match="enrich"):
        communication_graph(cd.flows(), level="pod")
    with pytest.raises(ConfigError, match="level"):
        communication_graph(cd.flows(), level="cluster")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="orient"):
        communication_graph(cd.flows(), level="ip", orient="up")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="weight"):
        communication_graph(cd.flows(), level="ip", weight="rows")  # type: ignore[arg-type]


def test_empty_flows() -> None:
    g = communication_graph(cd.enriched().head(0), level="workload")
    assert g.number_of_nodes() == 0 and g.number_of_edges() == 0


def test_fold_external(flows: pl.DataFrame) -> None:
    g = communication_graph(flows, level="workload", fold_external=True)
    assert g.has_edge("payments/payments-api", "external/public")
    assert g.has_edge("shop/frontend", "external/private")  # the ICMP to 192.168.50.10
    assert not any(n.startswith("52.") for n in g)
    assert sum(d["bytes"] for *_, d in g.edges(data=True)) == flows["bytes"].sum()
    assert g.nodes["external/public"]["ips"] == [cd.PUBLIC]
    ip = communication_graph(flows, level="ip", fold_external=True)  # no folding at the ip level
    assert cd.PUBLIC in ip
