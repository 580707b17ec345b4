"""enrich(): joins on the fixture inventory, time-aware IP reuse, host network, services, externals."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest

from flowlab.exceptions import SchemaError
from flowlab.k8s import ENRICHED_COLUMNS, Inventory, enrich
from flowlab.schema import FLOW_SCHEMA, conform
from flowlab.services import orient_frame
from tests import clusterdata as cd


def _one(
    src: str,
    dst: str,
    sport: int | None,
    dport: int | None,
    *,
    proto: int = 6,
    at: datetime | None = None,
) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "time": [at or cd.T0],
            "src_ip": [src],
            "dst_ip": [dst],
            "src_port": [sport],
            "dst_port": [dport],
            "protocol": [proto],
            "tcp_flags": [24 if proto == 6 else None],
            "bytes": [1000],
            "packets": [1],
        }
    )
    return orient_frame(conform(frame))


def test_columns_rows_and_order_preserved() -> None:
    flows = cd.flows()
    out = enrich(flows, cd.inventory())
    assert out.columns == [*FLOW_SCHEMA.names(), *(c.name for c in ENRICHED_COLUMNS)]
    assert out.select(FLOW_SCHEMA.names()).equals(flows)
    assert all(out.schema[c.name] == pl.Categorical for c in ENRICHED_COLUMNS)
    # every side is classified, no row lost or duplicated
    assert out["src_kind"].null_count() == 0 and out["dst_kind"].null_count() == 0


def test_lazy_in_lazy_out_and_reenrich_is_idempotent() -> None:
    inv = cd.inventory()
    eager = enrich(cd.flows(), inv)
    lazy = enrich(cd.flows().lazy(), inv)
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect().equals(eager)
    assert enrich(eager, inv).equals(eager)


def test_time_aware_enrichment_with_a_reused_pod_ip() -> None:
    inv = cd.inventory()
    t = cd.T0
    frames = [
        _one(cd.REUSED, cd.PUBLIC, 40000, 443, at=t + timedelta(minutes=10)),  # cleanup job's time
        _one(
            cd.REUSED, cd.PRIVATE_EXT, 40000, 8443, at=t + timedelta(minutes=30, seconds=30)
        ),  # gap
        _one(cd.FRONTEND, cd.REUSED, 40000, 8081, at=t + timedelta(minutes=45)),  # cart's time
        _one(cd.REUSED, cd.PUBLIC, 40000, 443, at=t - timedelta(minutes=5)),  # before either owner
        _one(cd.REUSED, cd.PUBLIC, 40000, 443, at=None).with_columns(
            pl.lit(None, dtype=FLOW_SCHEMA["time"]).alias("time")
        ),
    ]
    out = enrich(pl.concat(frames), inv)
    side = out.select(
        pod=pl.when(pl.col("src_ip") == cd.REUSED).then("src_pod").otherwise("dst_pod"),
        workload=pl.when(pl.col("src_ip") == cd.REUSED)
        .then("src_workload")
        .otherwise("dst_workload"),
        kind=pl.when(pl.col("src_ip") == cd.REUSED).then("src_kind").otherwise("dst_kind"),
        service=pl.when(pl.col("src_ip") == cd.REUSED).then("src_service").otherwise("dst_service"),
    )
    assert side.rows() == [
        ("cleanup-9xk2l", "cleanup", "pod", None),
        (None, None, "external", None),
        ("cart-5f6d7-abcde", "cart", "pod", "cart"),
        (None, None, "external", None),
        ("cart-5f6d7-abcde", "cart", "pod", "cart"),  # no time: the latest owner
    ]
    # without time awareness every row gets the latest owner
    naive = enrich(pl.concat(frames), inv, time_aware=False)
    assert set(
        naive.select(
            pl.when(pl.col("src_ip") == cd.REUSED).then("src_pod").otherwise("dst_pod")
        ).to_series()
    ) == {"cart-5f6d7-abcde"}


def test_host_network_node_ip_and_port() -> None:
    out = enrich(
        pl.concat(
            [
                _one("10.0.0.3", "10.0.0.4", 45000, 2379),  # apiserver (host net) -> etcd-master-1
                _one("10.0.0.6", "10.0.0.3", 45000, 6443),  # kubelet -> kube-apiserver-master-0
                _one("10.0.0.6", "10.0.0.3", 45000, 22),  # port nobody declares -> the node itself
            ]
        ),
        cd.inventory(),
    )
    cols = [
        "client_kind",
        "client_node",
        "client_pod",
        "server_kind",
        "server_pod",
        "server_workload",
        "server_workload_kind",
        "server_node",
        "server_service",
    ]
    assert out.select(cols).rows() == [
        ("node", "master-0", None, "pod", "etcd-master-1", "etcd", "StaticPod", "master-1", "etcd"),
        (
            "node",
            "worker-0",
            None,
            "pod",
            "kube-apiserver-master-0",
            "kube-apiserver",
            "StaticPod",
            "master-0",
            "kubernetes",
        ),
        # host traffic is named after its node (workload = the node, kind Node), not left empty
        ("node", "worker-0", None, "node", None, "master-0", "Node", "master-0", None),
    ]


def test_cluster_ip_service_and_backing_pod_service() -> None:
    out = enrich(
        pl.concat(
            [
                _one(cd.FRONTEND, "172.30.0.10", 40000, 53, proto=17),
                _one(cd.GRAFANA, cd.PROM0, 40000, 9091),
                _one(cd.GRAFANA, "172.30.0.1", 40000, 443),
            ]
        ),
        cd.inventory(),
    )
    assert out.select("server_kind", "server_namespace", "server_service", "server_pod").rows() == [
        ("service", "openshift-dns", "dns-default", None),
        ("pod", "openshift-monitoring", "prometheus-k8s", "prometheus-k8s-0"),
        ("service", "default", "kubernetes", None),
    ]
    # grafana backs the grafana Service (any port: it is the client here)
    assert out["client_service"].to_list() == [None, "grafana", "grafana"]
    assert out["client_workload"].to_list() == ["frontend", "grafana", "grafana"]


def test_external_private_and_public() -> None:
    out = enrich(
        pl.concat(
            [
                _one(cd.PAYMENTS, cd.PUBLIC, 40000, 443),
                _one(cd.PAYMENTS, cd.PRIVATE_EXT, 40000, 443),
            ]
        ),
        cd.inventory(),
    )
    assert out.select("server_kind", "server_scope").rows() == [
        ("external", "public"),
        ("external", "private"),
    ]
    assert out["client_scope"].to_list() == ["private", "private"]


def test_no_ports_means_no_client_server_names() -> None:
    out = enrich(_one(cd.FRONTEND, cd.PRIVATE_EXT, None, None, proto=1), cd.inventory())
    assert out.select("src_pod", "dst_kind", "client_pod", "server_kind").row(0) == (
        "frontend-84f9c6d5b7-q4w8e",
        "external",
        None,
        None,
    )


def test_client_server_are_the_oriented_sides() -> None:
    out = cd.enriched()
    is_src = (out["client_ip"] == out["src_ip"]) & (out["client_port"] == out["src_port"])
    for field in ("kind", "pod", "workload", "namespace", "service", "node"):
        client = out[f"client_{field}"]
        expect = pl.select(
            pl.when(pl.lit(is_src))
            .then(pl.lit(out[f"src_{field}"]))
            .otherwise(pl.lit(out[f"dst_{field}"]))
        ).to_series()
        mask = out["client_ip"].is_not_null()
        assert client.filter(mask).equals(expect.filter(mask), check_names=False)


def test_missing_columns_and_empty_inventory() -> None:
    with pytest.raises(SchemaError, match="missing columns: time"):
        enrich(pl.DataFrame({"src_ip": ["10.0.0.1"]}), cd.inventory())
    out = enrich(cd.flows(), Inventory.from_objects([]))
    assert set(out["src_kind"]) == {"external"}
