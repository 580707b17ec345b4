"""server_port_name: the cluster's own name of the server port; OVN-Kubernetes addresses are their node."""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from flowlab import demo
from flowlab.k8s import Inventory, enrich
from flowlab.schema import conform
from flowlab.services import cluster_port_table, orient_frame

NODE_IP, POD_IP, SVC_IP, OTHER_POD = "10.0.0.5", "10.128.2.9", "172.30.4.4", "10.128.2.10"


def _objects() -> list[dict[str, Any]]:
    node = {
        "kind": "Node",
        "metadata": {
            "name": "worker-0",
            "annotations": {
                "k8s.ovn.org/node-subnets": '{"default":["10.128.2.0/23"]}',
                "k8s.ovn.org/node-gateway-router-lrp-ifaddr": '{"ipv4":"100.64.0.4/16"}',
            },
        },
        "status": {"addresses": [{"type": "InternalIP", "address": NODE_IP}]},
    }
    prom = {
        "kind": "Pod",
        "metadata": {"name": "prometheus-k8s-0", "namespace": "mon"},
        "spec": {
            "nodeName": "worker-0",
            "containers": [
                {"name": "p", "ports": [{"name": "web", "containerPort": 9090}]},
                {"name": "q", "ports": [{"containerPort": 8080}]},  # unnamed here
            ],
        },
        "status": {"podIP": POD_IP},
    }
    other = {
        "kind": "Pod",
        "metadata": {"name": "plain", "namespace": "mon"},
        "spec": {"nodeName": "worker-0", "containers": [{"name": "x"}]},
        "status": {"podIP": OTHER_POD},
    }
    svc = {
        "kind": "Service",
        "metadata": {"name": "prometheus-k8s", "namespace": "mon"},
        "spec": {"clusterIP": SVC_IP, "ports": [{"name": "web-svc", "port": 9091}]},
    }
    slice_ = {
        "kind": "EndpointSlice",
        "metadata": {
            "name": "prometheus-k8s-abc",
            "namespace": "mon",
            "labels": {"kubernetes.io/service-name": "prometheus-k8s"},
        },
        "endpoints": [
            {
                "addresses": [POD_IP],
                "targetRef": {"kind": "Pod", "name": "prometheus-k8s-0", "namespace": "mon"},
            }
        ],
        "ports": [{"name": "http-es", "port": 8080, "protocol": "TCP"}],
    }
    return [node, prom, other, svc, slice_]


def _flows(rows: list[tuple[str, str, int]], proto: int = 6) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "src_ip": [r[0] for r in rows],
            "dst_ip": [r[1] for r in rows],
            "src_port": [50000] * len(rows),
            "dst_port": [r[2] for r in rows],
            "protocol": [proto] * len(rows),
            "tcp_flags": [2] * len(rows),  # SYN: the destination is the server
            "bytes": [100] * len(rows),
            "packets": [1] * len(rows),
        }
    )
    return orient_frame(conform(frame))


def test_server_port_name_from_the_inventory_then_the_built_in_table() -> None:
    inv = Inventory.from_objects(_objects())
    rows = [
        (OTHER_POD, POD_IP, 9090),  # the pod's containerPort name
        (OTHER_POD, POD_IP, 8080),  # unnamed containerPort, named by the endpointslice
        (OTHER_POD, SVC_IP, 9091),  # the ClusterIP Service's port name
        (POD_IP, NODE_IP, 10250),  # the node: nothing in the inventory, the built-in table
        (POD_IP, OTHER_POD, 9100),  # a pod without named ports: the built-in table
        (POD_IP, "1.1.1.1", 9090),  # outside the cluster: no name guessed
        (POD_IP, OTHER_POD, 40404),  # unknown everywhere
    ]
    out = enrich(_flows(rows), inv)
    assert out["server_port_name"].cast(pl.String).to_list() == [
        "web",
        "http-es",
        "web-svc",
        "kubelet-https-metrics",
        "node-exporter-https",
        None,
        None,
    ]
    # service_name stays ElastiFlow's IANA name
    assert out["service_name"][0] == "hbase-thrift"


def test_no_ports_no_port_name() -> None:
    inv = Inventory.from_objects(_objects())
    frame = conform(pl.DataFrame({"src_ip": [OTHER_POD], "dst_ip": [POD_IP], "protocol": [1]}))
    out = enrich(orient_frame(frame), inv)
    assert out["server_port_name"].to_list() == [None]


def test_ovn_addresses_are_the_node() -> None:
    """.1 (router port), .2 (management port) of the node's subnet and its join address."""
    inv = Inventory.from_objects(_objects())
    rows = [
        ("10.128.2.2", POD_IP, 9090),
        ("100.64.0.4", POD_IP, 9090),
        ("10.128.2.1", POD_IP, 9090),
    ]
    out = enrich(_flows(rows), inv)
    assert out["client_kind"].cast(pl.String).to_list() == ["node"] * 3
    assert out["client_node"].cast(pl.String).to_list() == ["worker-0"] * 3
    assert out["client_workload"].cast(pl.String).to_list() == ["worker-0"] * 3
    # a pod address in the same subnet is still the pod, a stranger in 100.64/16 is not the node
    out = enrich(_flows([("10.128.2.10", POD_IP, 9090), ("100.64.0.9", POD_IP, 9090)]), inv)
    assert out["client_kind"].cast(pl.String).to_list() == ["pod", "external"]


def test_port_names_survive_save_and_load(tmp_path: Path) -> None:
    inv = Inventory.from_objects(_objects())
    back = Inventory.load(inv.save(tmp_path / "inv"))
    assert back.port_names.equals(inv.port_names) and back.port_names.height == 3
    # an inventory saved before port names were kept loads with none
    (tmp_path / "inv" / "port_names.parquet").unlink()
    assert Inventory.load(tmp_path / "inv").port_names.height == 0


def test_demo_names_its_monitoring_ports() -> None:
    data = demo.load(seconds=60, seed=1)
    out = enrich(data.flows, Inventory.from_objects(data.inventory["items"]))
    pairs = dict(
        out.filter(pl.col("service_port").is_in([9090, 9100, 10250, 2379]))
        .select("service_port", pl.col("server_port_name").cast(pl.String))
        .unique()
        .iter_rows()
    )
    assert pairs[10250] == "kubelet-https-metrics"  # no name in the inventory: built-in
    assert pairs[2379] == "etcd"
    assert out.filter(pl.col("service_port") == 9100)["service_name"][0] == "hp-pdl-datastr"


def test_built_in_table_cites_a_manifest_for_every_entry() -> None:
    path = resources.files("flowlab") / "data" / "cluster_ports.csv"
    rows = list(csv.DictReader(path.read_text().splitlines()))
    assert len(rows) == len(cluster_port_table()) > 20
    for row in rows:
        assert row["source"].split()[0].count("/") == 1, row  # owner/repo first
        assert ".yaml" in row["source"], row


@pytest.mark.parametrize(("proto", "port", "name"), [(6, 9090, "prometheus-web"), (17, 53, "dns")])
def test_built_in_lookup(proto: int, port: int, name: str) -> None:
    assert cluster_port_table().name(proto, port) == name


def test_malformed_ovn_annotations_are_ignored() -> None:
    objs = _objects()
    objs[0]["metadata"]["annotations"] = {
        "k8s.ovn.org/node-subnets": "{not json",
        "k8s.ovn.org/node-gateway-router-lrp-ifaddr": '{"ipv4":"not-an-ip"}',
        "k8s.ovn.org/node-transit-switch-port-ifaddr": '["100.88.0.4/16"]',
    }
    inv = Inventory.from_objects(objs)
    assert sorted(inv.nodes["ip"].to_list()) == ["10.0.0.5", "100.88.0.4"]
