"""The demo's Kubernetes inventory: `oc get -o json` shaped, consistent, deterministic."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from flowlab.demo import build_cluster, inventory, write_inventory

POD_NET = ipaddress.ip_network("10.128.0.0/14")
SVC_NET = ipaddress.ip_network("172.30.0.0/16")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return inventory(build_cluster(0))


def items(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [i for i in doc["items"] if i["kind"] == kind]


def by_uid(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["metadata"]["uid"]: i for i in doc["items"] if "uid" in i["metadata"]}


def test_list_of_full_objects(doc: dict[str, Any]) -> None:
    assert doc["apiVersion"] == "v1" and doc["kind"] == "List"
    kinds = {i["kind"] for i in doc["items"]}
    assert kinds == {
        "Node",
        "Pod",
        "Service",
        "EndpointSlice",
        "ReplicaSet",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "NetworkPolicy",
    }
    for i in doc["items"]:
        assert i["apiVersion"] and i["metadata"]["name"] and i["metadata"]["creationTimestamp"]
    assert json.loads(json.dumps(doc)) == doc


def test_nodes(doc: dict[str, Any]) -> None:
    nodes = items(doc, "Node")
    roles = sorted(
        k.rsplit("/", 1)[1]
        for n in nodes
        for k in n["metadata"]["labels"]
        if k.startswith("node-role.kubernetes.io/") and k.rsplit("/", 1)[1] in ("master", "worker")
    )
    assert roles == ["master"] * 3 + ["worker"] * 3
    subnets = []
    for n in nodes:
        ip = next(a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP")
        assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.0.0.0/24")
        subnet = json.loads(n["metadata"]["annotations"]["k8s.ovn.org/node-subnets"])["default"][0]
        subnets.append(ipaddress.ip_network(subnet))
    assert all(s.prefixlen == 23 and s.subnet_of(POD_NET) for s in subnets)  # type: ignore[arg-type]
    assert len(set(subnets)) == 6


def test_pods_addresses_and_placement(doc: dict[str, Any]) -> None:
    pods = items(doc, "Pod")
    nodes = {n["metadata"]["name"]: n for n in items(doc, "Node")}
    pod_ips = []
    for p in pods:
        node = nodes[p["spec"]["nodeName"]]
        node_ip = node["status"]["addresses"][0]["address"]
        ip = p["status"]["podIP"]
        assert p["status"]["podIPs"] == [{"ip": ip}] and p["status"]["hostIP"] == node_ip
        if p["spec"]["hostNetwork"]:
            assert ip == node_ip
        else:
            subnet = json.loads(node["metadata"]["annotations"]["k8s.ovn.org/node-subnets"])[
                "default"
            ][0]
            assert ipaddress.ip_address(ip) in ipaddress.ip_network(subnet)
            pod_ips.append(ip)
    assert len(pod_ips) == len(set(pod_ips))
    named = {p["status"]["podIP"]: p["metadata"] for p in pods if not p["spec"]["hostNetwork"]}
    assert named["10.128.2.7"]["name"].startswith("grafana-")
    assert named["10.128.2.7"]["namespace"] == "openshift-monitoring"
    assert named["10.129.2.9"]["name"] == "prometheus-k8s-0"
    namespaces = {p["metadata"]["namespace"] for p in pods}
    assert {
        "openshift-monitoring",
        "openshift-etcd",
        "openshift-kube-apiserver",
        "openshift-ingress",
        "openshift-dns",
        "shop",
        "payments",
    } <= namespaces


def owner(obj: dict[str, Any], uids: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    refs = obj["metadata"].get("ownerReferences", [])
    if not refs:
        return None
    ref = refs[0]
    if ref["uid"] in uids:
        target = uids[ref["uid"]]
        assert (target["kind"], target["metadata"]["name"]) == (ref["kind"], ref["name"])
        return target
    return {"kind": ref["kind"], "metadata": {"name": ref["name"]}}


def chain(pod: dict[str, Any], uids: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    obj: dict[str, Any] | None = pod
    while obj is not None:
        out.append(obj["kind"])
        obj = owner(obj, uids) if "metadata" in obj and obj["kind"] != "CronJob" else None
    return out


def test_owner_chains(doc: dict[str, Any]) -> None:
    uids = by_uid(doc)
    pods = {p["metadata"]["name"]: p for p in items(doc, "Pod")}
    grafana = next(p for n, p in pods.items() if n.startswith("grafana-"))
    assert chain(grafana, uids) == ["Pod", "ReplicaSet", "Deployment"]
    assert chain(pods["prometheus-k8s-1"], uids) == ["Pod", "StatefulSet"]
    dns = next(p for n, p in pods.items() if n.startswith("dns-default-"))
    assert chain(dns, uids) == ["Pod", "DaemonSet"]
    job_pod = next(p for n, p in pods.items() if n.startswith("reconcile-"))
    assert chain(job_pod, uids) == ["Pod", "Job", "CronJob"]
    assert job_pod["status"]["phase"] == "Succeeded"
    assert chain(pods["etcd-master-0"], uids) == ["Pod", "Node"]


def test_services_and_endpoint_slices(doc: dict[str, Any]) -> None:
    services = {
        (s["metadata"]["namespace"], s["metadata"]["name"]): s for s in items(doc, "Service")
    }
    kube = services[("default", "kubernetes")]["spec"]
    assert kube["clusterIP"] == "172.30.0.1" and kube["ports"][0]["port"] == 443
    assert kube["ports"][0]["targetPort"] == 6443
    assert services[("openshift-dns", "dns-default")]["spec"]["clusterIP"] == "172.30.0.10"
    for s in services.values():
        ip = s["spec"]["clusterIP"]
        assert ip == "None" or ipaddress.ip_address(ip) in SVC_NET
    slices = {}
    for es in items(doc, "EndpointSlice"):
        key = (es["metadata"]["namespace"], es["metadata"]["labels"]["kubernetes.io/service-name"])
        slices[key] = es
    assert set(slices) == set(services)
    masters = sorted(
        n["status"]["addresses"][0]["address"]
        for n in items(doc, "Node")
        if "node-role.kubernetes.io/master" in n["metadata"]["labels"]
    )
    kube_eps = slices[("default", "kubernetes")]
    assert sorted(e["addresses"][0] for e in kube_eps["endpoints"]) == masters
    assert kube_eps["ports"][0]["port"] == 6443
    pods = {p["metadata"]["uid"]: p for p in items(doc, "Pod")}
    prom = slices[("openshift-monitoring", "prometheus-k8s")]
    for e in prom["endpoints"]:
        target = pods[e["targetRef"]["uid"]]
        assert target["status"]["podIP"] == e["addresses"][0]
        assert target["metadata"]["labels"]["app"] == "prometheus"


def test_same_seed_same_inventory_and_other_seed_differs(tmp_path: Path) -> None:
    a = write_inventory(build_cluster(11), tmp_path / "a.json").read_text()
    b = write_inventory(build_cluster(11), tmp_path / "b.json").read_text()
    c = write_inventory(build_cluster(12), tmp_path / "c.json").read_text()
    assert a == b
    assert a != c
    assert json.loads(c)["items"][0]["kind"] == "Node"
    assert not list(tmp_path.glob(".*.tmp"))
