"""propose() on the demo cluster: policies, their evidence, YAML the kubernetes client reads back,
and the train/test answer (policies from the first half hour, replayed on the second)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest
import yaml

import flowlab
from flowlab.exceptions import ConfigError
from flowlab.k8s import Inventory
from flowlab.policy import (
    Proposal,
    network_policy,
    newly_denied,
    policies_of,
    propose,
    replay,
    to_yaml,
)
from tests.policy.smallcluster import flows as small_flows
from tests.policy.smallcluster import objects as small_inventory_objects

MID = dt.datetime(2025, 1, 6, 9, 30, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def demo() -> tuple[pl.DataFrame, Inventory]:
    ds = flowlab.load("demo")
    assert ds.inventory is not None
    return ds.flows, ds.inventory


@pytest.fixture(scope="module")
def first_half(demo: tuple[pl.DataFrame, Inventory]) -> pl.DataFrame:
    return demo[0].filter(pl.col("time") < MID)


@pytest.fixture(scope="module")
def second_half(demo: tuple[pl.DataFrame, Inventory]) -> pl.DataFrame:
    return demo[0].filter(pl.col("time") >= MID)


def by_name(p: Proposal) -> dict[str, dict[str, Any]]:
    return {q["metadata"]["name"]: q for q in p.policies}


def test_payments_policies(first_half: pl.DataFrame, demo: tuple[pl.DataFrame, Inventory]) -> None:
    p = propose(first_half, demo[1], namespaces="payments")
    pols = by_name(p)
    assert set(pols) == {"flowlab-payments-api", "flowlab-postgres"}
    api = pols["flowlab-payments-api"]
    assert api["metadata"]["namespace"] == "payments"
    assert api["spec"]["podSelector"] == {"matchLabels": {"app": "payments-api"}}
    assert api["spec"]["policyTypes"] == ["Ingress"]
    # the only client in the first half: the shop's cart, by namespace and labels, on the named port
    assert api["spec"]["ingress"] == [
        {
            "from": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}},
                    "podSelector": {"matchLabels": {"app": "cart"}},
                }
            ],
            "ports": [{"port": "https", "protocol": "TCP"}],
        }
    ]
    pg = pols["flowlab-postgres"]["spec"]["ingress"]
    assert {r["from"][0]["podSelector"]["matchLabels"]["app"] for r in pg} == {
        "payments-api",
        "reconcile",
    }
    assert all("namespaceSelector" not in r["from"][0] for r in pg)  # same namespace
    assert all(r["ports"] == [{"port": "postgresql", "protocol": "TCP"}] for r in pg)


def test_evidence_is_the_records_behind_each_rule(
    first_half: pl.DataFrame, demo: tuple[pl.DataFrame, Inventory]
) -> None:
    p = propose(first_half, demo[1], namespaces="payments")
    ev = p.evidence
    assert ev.height == sum(len(q["spec"].get("ingress", [])) for q in p.policies)
    row = ev.filter(pl.col("policy") == "flowlab-payments-api").row(0, named=True)
    assert row["peer"] == "shop/cart" and row["ports"] == "https/TCP"
    # the same count straight from the records: cart's connections to the payments-api
    # Service address and to its pods (replies)
    direct = first_half.filter(
        (pl.col("client_workload") == "cart")
        & (pl.col("server_service") == "payments-api")
        & (pl.col("protocol") == 6)
    )
    assert row["samples"] == direct.height > 10
    assert row["bytes"] == direct["bytes"].sum()
    assert row["first_seen"] == direct["time"].min() and row["last_seen"] == direct["time"].max()
    assert row["bytes_lo"] < row["bytes"] < row["bytes_hi"]
    assert 0 <= row["miss_chance"] < 1e-6  # many samples: could hardly have been missed
    # the rarest rule is the one most likely to be missed
    rare = ev.sort("samples").row(0, named=True)
    assert rare["miss_chance"] == ev["miss_chance"].max()
    note = by_name(p)["flowlab-payments-api"]["metadata"]["annotations"]
    assert note["flowlab.io/evidence.ingress.0"].startswith(
        f"flows={row['flows']} samples={row['samples']} "
    )


def test_miss_chance_is_the_chance_of_zero_samples(small_inventory: Inventory) -> None:
    f = small_flows([("b/client", "a/web", 8080, 6)], small_inventory, rate=100)
    ev = propose(f, small_inventory, namespaces="a").evidence
    assert ev.height == 1
    # two records at 1-in-100 stand for 200 packets: (1 - 1/100) ** 200
    assert ev["miss_chance"][0] == pytest.approx(0.99**200)
    assert ev["samples"][0] == 2 and ev["flows"][0] == 1


def test_replaying_the_training_window_allows_everything(
    first_half: pl.DataFrame, demo: tuple[pl.DataFrame, Inventory]
) -> None:
    p = propose(first_half, demo[1], egress=True)
    out = replay(first_half, p, demo[1])
    assert out.height > 100
    assert out.filter(~pl.col("allowed")).is_empty(), out.filter(~pl.col("allowed"))["reason"]
    # and the policies do isolate: most connections were judged by some policy
    assert out.filter(pl.col("policies").list.len() > 0).height > out.height / 2


def test_new_client_is_newly_denied(
    first_half: pl.DataFrame, second_half: pl.DataFrame, demo: tuple[pl.DataFrame, Inventory]
) -> None:
    p = propose(first_half, demo[1], namespaces="payments")
    broken = newly_denied(second_half, p, demo[1])
    assert set(broken["client"]) == {"shop/frontend"}
    assert set(broken["server"]) <= {"payments/payments-api", "service payments/payments-api"}
    assert set(broken["denied_at"]) == {"ingress"}
    assert all("no ingress rule admits shop/frontend on 8443/TCP" in r for r in broken["reason"])
    # the first half had no such connection: the proposal is not at fault for its own window
    assert newly_denied(first_half, p, demo[1]).is_empty()


def test_cluster_policies_are_read_and_replayed(demo: tuple[pl.DataFrame, Inventory]) -> None:
    flows, inv = demo
    own = policies_of(inv)
    assert {f"{q['metadata']['namespace']}/{q['metadata']['name']}" for q in own} == {
        "shop/allow-from-openshift-ingress",
        "shop/allow-same-namespace",
        "payments/postgres-from-payments",
    }
    out = replay(flows, inv, inv)
    assert out.filter(~pl.col("allowed")).is_empty()
    pg = out.filter(pl.col("server") == "payments/postgres")
    probes = pg.filter(pl.col("reason").str.contains("own node"))
    # worker-2's management port (10.131.0.2), named after its node by the enrichment
    assert probes.height == 1 and probes["client"][0] == "node worker-2"
    pg = pg.filter(~pl.col("reason").str.contains("own node"))
    assert pg.height > 0 and all(
        x == ["payments/postgres-from-payments"] for x in pg["policies"].to_list()
    )
    # without the same-namespace policy the shop's internal calls break, the router's do not
    fewer = [q for q in own if q["metadata"]["name"] != "allow-same-namespace"]
    denied = replay(flows, fewer, inv).filter(~pl.col("allowed"))
    assert {"shop/frontend", "shop/cart"} <= set(denied["client"])
    assert "openshift-ingress/router-default" not in set(denied["client"])


def test_egress_dns_and_api(first_half: pl.DataFrame, demo: tuple[pl.DataFrame, Inventory]) -> None:
    p = propose(first_half, demo[1], namespaces="openshift-monitoring", egress=True)
    ksm = by_name(p)["flowlab-kube-state-metrics"]
    assert ksm["spec"]["policyTypes"] == ["Ingress", "Egress"]
    rules = ksm["spec"]["egress"]
    dns = [r for r in rules if r["to"][0].get("namespaceSelector", {}).get("matchLabels") == {
        "kubernetes.io/metadata.name": "openshift-dns"}]  # fmt: skip
    assert len(dns) == 1
    assert {(x["port"], x["protocol"]) for x in dns[0]["ports"]} == {
        (53, "UDP"), (53, "TCP"), (5353, "UDP"), (5353, "TCP")}  # fmt: skip
    assert dns[0]["to"][0]["podSelector"] == {"matchLabels": {"app": "dns-default"}}
    api = [r for r in rules if any("ipBlock" in x for x in r["to"])]
    api = [r for r in api if {"port": 6443, "protocol": "TCP"} in r["ports"]]
    assert len(api) == 1
    cidrs = {x["ipBlock"]["cidr"] for x in api[0]["to"]}
    assert cidrs == {"10.0.0.11/32", "10.0.0.12/32", "10.0.0.13/32", "172.30.0.1/32"}
    assert {"port": 443, "protocol": "TCP"} in api[0]["ports"]
    # node-exporter runs on the host network: prometheus reaches it by the nodes' addresses
    prom = by_name(p)["flowlab-prometheus-k8s"]["spec"]["egress"]
    node_blocks = {
        x["ipBlock"]["cidr"]
        for r in prom
        if {"port": 9100, "protocol": "TCP"} in r["ports"]
        for x in r["to"]
    }
    assert {"10.0.0.21/32", "10.0.0.23/32"} <= node_blocks


def test_bare_capture_gives_ip_block_policies(demo: tuple[pl.DataFrame, Inventory]) -> None:
    flows = (
        demo[0]
        .filter(pl.col("time") < MID)
        .select(
            c
            for c in demo[0].columns
            if not c.startswith(("src_k", "dst_k", "client_k", "server_k"))
        )
    )
    bare = flows.select([c for c in flows.columns if not c.endswith(("_namespace", "_pod", "_workload", "_node", "_service", "_scope", "_workload_kind"))])  # fmt: skip
    p = propose(bare)
    pg = next(
        q
        for q in p.policies
        if q["metadata"]["annotations"].get("flowlab.io/pod-ip") == "10.129.2.9"
    )
    assert pg["spec"]["podSelector"] == {} and "namespace" not in pg["metadata"]
    peers = {x["ipBlock"]["cidr"] for r in pg["spec"]["ingress"] for x in r["from"]}
    assert "10.128.2.7/32" in peers  # grafana -> prometheus-k8s-0
    # everything with ports is admitted; portless traffic (node ICMP) has no rule and is denied
    # for the addresses a bare capture cannot tell from pods, as propose() said it skipped it
    denied = replay(bare, p).filter(~pl.col("allowed"))
    assert set(denied["protocol"]) == {1} and denied["port"].null_count() == denied.height
    assert denied.height == p.skipped["no ports (ICMP and other protocols)"]
    without = [q for q in p.policies if q is not pg] + [
        {**pg, "spec": {**pg["spec"], "ingress": [
            r for r in pg["spec"]["ingress"] if r["from"][0]["ipBlock"]["cidr"] != "10.128.2.7/32"]}}
    ]  # fmt: skip
    denied = replay(bare, without).filter(~pl.col("allowed") & pl.col("port").is_not_null())
    assert set(denied["client"]) == {"10.128.2.7"} and set(denied["server"]) == {"10.129.2.9"}


def test_yaml_reads_back_through_the_kubernetes_client(
    first_half: pl.DataFrame, demo: tuple[pl.DataFrame, Inventory]
) -> None:
    from kubernetes.client import ApiClient

    p = propose(first_half, demo[1], namespaces=["shop", "openshift-monitoring"], egress=True)
    text = p.to_yaml()
    docs = list(yaml.safe_load_all(text))
    assert docs == p.policies
    api = ApiClient()
    for doc in docs:
        model = api._ApiClient__deserialize(doc, "V1NetworkPolicy")  # type: ignore[attr-defined]
        assert type(model).__name__ == "V1NetworkPolicy"
        assert api.sanitize_for_serialization(model) == doc
    assert policies_of(text) == p.policies


def test_policies_of_rejects_bad_input(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="not YAML"):
        policies_of("kind: [unclosed\n")
    with pytest.raises(ConfigError, match="expected NetworkPolicy"):
        policies_of({"kind": "Pod", "spec": {}})
    with pytest.raises(ConfigError, match="cannot read"):
        policies_of(tmp_path / "missing.yaml")
    f = tmp_path / "p.yaml"
    f.write_text(to_yaml([network_policy("a", "x", {}, ingress=[])]))
    assert [q["metadata"]["name"] for q in policies_of(f)] == ["x"]
    # a `kind: List` of mixed objects keeps the policies
    mixed = {"kind": "List", "items": [{"kind": "Pod"}, network_policy("a", "y", {}, ingress=[])]}
    assert [q["metadata"]["name"] for q in policies_of(mixed)] == ["y"]
    # the API's NetworkPolicyList: items without kind
    api_list = {"kind": "NetworkPolicyList", "items": [{"metadata": {"name": "z"}, "spec": {}}]}
    assert [q["kind"] for q in policies_of(api_list)] == ["NetworkPolicy"]


def test_unenriched_flows_are_enriched_with_the_inventory(small_inventory: Inventory) -> None:
    conns = [("b/client", "a/web", 8080, 6), ("a/batch", "a/db", 5432, 6)]
    bare = small_flows(conns, None)
    named = small_flows(conns, small_inventory)
    a = propose(bare, small_inventory, namespaces="a")
    b = propose(named, small_inventory, namespaces="a")
    assert a.policies == b.policies and a.evidence.equals(b.evidence)
    assert {q["metadata"]["name"] for q in a.policies} == {"flowlab-web", "flowlab-db"}


def test_missing_columns_are_a_schema_error() -> None:
    from flowlab.exceptions import SchemaError

    with pytest.raises(SchemaError, match="missing columns: protocol"):
        propose(pl.DataFrame({"time": [None], "src_ip": ["10.0.0.1"], "dst_ip": ["10.0.0.2"],
                              "bytes": [1], "packets": [1]}))  # fmt: skip
    with pytest.raises(SchemaError, match="missing columns"):
        replay(pl.DataFrame({"src_ip": ["10.0.0.1"]}), [])


def test_saved_inventory_keeps_the_policy_objects(
    tmp_path: Any, small_inventory: Inventory
) -> None:
    inv = Inventory.from_objects(
        [*small_inventory_objects(), network_policy("a", "deny", {}, ingress=[])]
    )
    back = Inventory.load(inv.save(tmp_path / "inv"))
    po, again = inv.policy_objects, back.policy_objects
    assert again.network_policies == po.network_policies and len(po.network_policies) == 1
    assert again.named_ports.equals(po.named_ports) and po.named_ports.height == 4
    assert dict(again.namespace_labels) == dict(po.namespace_labels)
    assert dict(again.node_local) == dict(po.node_local) == {"10.128.0.2": "n1", "10.128.1.2": "n2"}
    f = small_flows([("b/client", "a/web", 8080, 6)], inv)
    assert replay(f, back, back).equals(replay(f, inv, inv))
