"""Inventory from `oc get -o json` files: owner resolution, host network, services, save/load."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from flowlab.exceptions import KubernetesError
from flowlab.k8s import Inventory
from tests.clusterdata import DATA, inventory


def _pod(inv: Inventory, name: str) -> dict:
    rows = inv.addresses.filter((pl.col("kind") == "pod") & (pl.col("name") == name))
    assert rows.height == 1, name
    return rows.row(0, named=True)


@pytest.mark.parametrize(
    ("pod", "workload", "kind"),
    [
        ("grafana-6b8d9f7c4-x2vqp", "grafana", "Deployment"),  # ReplicaSet -> Deployment
        ("frontend-84f9c6d5b7-q4w8e", "frontend", "Deployment"),  # ReplicaSet absent: template hash
        ("prometheus-k8s-0", "prometheus-k8s", "StatefulSet"),
        ("dns-default-1280", "dns-default", "DaemonSet"),
        ("report-28571400-7jq2m", "report", "CronJob"),  # Job -> CronJob
        ("cleanup-9xk2l", "cleanup", "Job"),  # Job without CronJob
        ("payments-api-3-h5k9d", "payments-api", "DeploymentConfig"),  # RC -> DC
        ("debug", "debug", "Pod"),  # bare pod
    ],
)
def test_owner_resolution(pod: str, workload: str, kind: str) -> None:
    row = _pod(inventory(), pod)
    assert (row["workload"], row["workload_kind"]) == (workload, kind)


def test_static_pod_on_host_network_is_found_by_port() -> None:
    inv = inventory()
    hp = inv.host_ports.filter((pl.col("ip") == "10.0.0.4") & (pl.col("port") == 2379))
    assert hp.select("name", "workload", "workload_kind", "node").row(0) == (
        "etcd-master-1",
        "etcd",
        "StaticPod",
        "master-1",
    )
    # the node owns the address itself; host-network pods never appear as address owners
    assert inv.lookup("10.0.0.4")["kind"] == "node"
    assert inv.addresses.filter(pl.col("ip") == "10.0.0.4").height == 1


def test_services_and_membership() -> None:
    inv = inventory()
    svc = inv.service_ports.filter(pl.col("ip") == "172.30.0.10").sort("protocol")
    assert svc.select("port", "protocol", "service").rows() == [
        (53, 6, "dns-default"),
        (53, 17, "dns-default"),
    ]
    m = inv.membership
    assert m.filter(pl.col("key") == "ip:10.0.0.3").select("port", "service").row(0) == (
        6443,
        "kubernetes",
    )
    assert m.filter(pl.col("key") == "pod:openshift-monitoring/prometheus-k8s-0")[
        "service"
    ].to_list() == ["prometheus-k8s"]


def test_reused_ip_has_two_intervals() -> None:
    inv = inventory()
    rows = inv.addresses.filter(pl.col("ip") == "10.130.0.20").sort("valid_from")
    assert rows["name"].to_list() == ["cleanup-9xk2l", "cart-5f6d7-abcde"]
    at = datetime(2024, 5, 1, 10, 10, tzinfo=timezone.utc)
    assert inv.lookup("10.130.0.20", at)["name"] == "cleanup-9xk2l"
    assert inv.lookup("10.130.0.20", at.replace(minute=30, second=30)) is None
    assert inv.lookup("10.130.0.20")["name"] == "cart-5f6d7-abcde"


def test_overlapping_owners_are_cut_at_the_next_start() -> None:
    def pod(name: str, created: str) -> dict:
        return {
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "ns", "creationTimestamp": created},
            "status": {"podIP": "10.128.9.9"},
        }

    # the first pod's deletion was never recorded: it ends when the second starts
    inv = Inventory.from_objects(
        [pod("a", "2024-05-01T10:00:00Z"), pod("b", "2024-05-01T11:00:00Z")]
    )
    rows = inv.addresses.sort("valid_from")
    assert rows["valid_to"][0] == rows["valid_from"][1]


def test_single_file_directory_and_objects_agree(tmp_path: Path) -> None:
    items = []
    for f in sorted(DATA.glob("*.json")):
        items += json.loads(f.read_text())["items"]
    one = tmp_path / "inventory.json"
    one.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    a, b, c = Inventory.from_file(one), Inventory.from_file(DATA), Inventory.from_objects(items)
    for name in ("addresses", "host_ports", "service_ports", "membership"):
        assert getattr(a, name).equals(getattr(b, name))
        assert getattr(a, name).equals(getattr(c, name))


def test_typed_list_items_without_kind() -> None:
    # the API's own list responses (PodList) leave `kind` off the items
    doc = {
        "kind": "PodList",
        "apiVersion": "v1",
        "items": [{"metadata": {"name": "p", "namespace": "n"}, "status": {"podIP": "10.128.0.9"}}],
    }
    assert Inventory.from_objects([doc]).lookup("10.128.0.9")["name"] == "p"


def test_save_load_roundtrip(tmp_path: Path) -> None:
    inv = inventory()
    inv.save(tmp_path / "inv")
    back = Inventory.load(tmp_path / "inv")
    for name in ("addresses", "host_ports", "service_ports", "membership"):
        assert getattr(back, name).equals(getattr(inv, name))
    assert repr(back) == repr(inv)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "does not exist"),
        ("{not json", "is not JSON"),
        ('{"items": [{"metadata": {}}]}', "without `kind`"),
        ("[1, 2]", "expected a Kubernetes object"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path: Path, content: str | None, needle: str) -> None:
    path = tmp_path / "inv.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(KubernetesError, match=needle):
        Inventory.from_file(path)


def test_bad_timestamp_and_empty_dir(tmp_path: Path) -> None:
    with pytest.raises(KubernetesError, match="RFC 3339"):
        Inventory.from_objects(
            [{"kind": "Pod", "metadata": {"name": "x", "creationTimestamp": "yesterday"}}]
        )
    with pytest.raises(KubernetesError, match=r"no \*\.json"):
        Inventory.from_file(tmp_path)
    with pytest.raises(KubernetesError, match="not a saved inventory"):
        Inventory.load(tmp_path)
