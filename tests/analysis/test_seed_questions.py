"""The seed dashboards' questions, answered on the fixture cluster."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from flowlab.analysis import (
    conversations,
    edges,
    flow_records,
    peers,
    service_breakdown,
    timeseries,
    top_clients,
    top_servers,
    top_services,
    top_talkers,
)
from flowlab.exceptions import ConfigError
from tests import clusterdata as cd


@pytest.fixture(scope="module")
def flows() -> pl.DataFrame:
    return cd.enriched()


def _sorted_by_bytes(frame: pl.DataFrame) -> bool:
    return frame["bytes"].to_list() == sorted(frame["bytes"].to_list(), reverse=True)


def test_grafana_has_three_peers_including_prometheus_k8s_0(flows: pl.DataFrame) -> None:
    p = peers(flows, cd.GRAFANA)
    assert p.height == 3
    assert set(p["peer"]) == {cd.PROM0, cd.PROM1, cd.ALERTMANAGER}
    prom = p.filter(pl.col("peer") == cd.PROM0).row(0, named=True)
    assert prom["pod"] == "prometheus-k8s-0" and prom["role"] == "server"
    both = flows.filter(
        ((pl.col("src_ip") == cd.GRAFANA) & (pl.col("dst_ip") == cd.PROM0))
        | ((pl.col("dst_ip") == cd.GRAFANA) & (pl.col("src_ip") == cd.PROM0))
    )
    assert (prom["bytes"], prom["packets"], prom["flows"]) == (
        both["bytes"].sum(),
        both["packets"].sum(),
        both.height,
    )
    assert _sorted_by_bytes(p)
    # the same by name, and over time: bucket sums equal the totals
    assert set(peers(flows, "openshift-monitoring/grafana")["peer"]) == set(p["peer"])
    ts = peers(flows, cd.GRAFANA, interval="10m")
    assert (
        ts.group_by("peer").agg(pl.col("bytes").sum()).sort("peer").rows()
        == p.select("peer", "bytes").sort("peer").rows()
    )


def test_kubernetes_api_clients(flows: pl.DataFrame) -> None:
    vip = top_clients(flows, server="172.30.0.1:443", n=None)
    direct = top_clients(flows, server="kubernetes-api", n=None)  # apiservers' :6443
    both = top_clients(flows, server=["172.30.0.1:443", "kubernetes-api"], n=None)
    assert set(vip["client"]) == {cd.PROM0, cd.PROM1, cd.FRONTEND, cd.ALERTMANAGER, *cd.WORKERS}
    assert set(direct["client"]) == {cd.PROM0, *cd.WORKERS}
    assert set(both["client"]) == set(vip["client"]) | set(direct["client"])
    want = flows.filter(
        ((pl.col("server_ip") == cd.K8S_API) & (pl.col("service_port") == 443))
        | (pl.col("service_name") == "kubernetes-api")
    )
    assert both["bytes"].sum() == want["bytes"].sum() and both["flows"].sum() == want.height
    assert _sorted_by_bytes(both)
    # by Kubernetes name: the `kubernetes` Service (ClusterIP) and its endpoints (masters :6443)
    named = top_clients(flows, server="default/kubernetes", n=None)
    assert set(named["client"]) == set(both["client"])
    assert top_clients(flows, server="172.30.0.1", n=2).height == 2
    wl = top_clients(flows, server="default/kubernetes", by="workload", n=None)
    assert "openshift-monitoring/prometheus-k8s" in set(wl["client"])


def test_the_apiservers_originate_etcd_client(flows: pl.DataFrame) -> None:
    b = service_breakdown(flows, "etcd-client")
    assert set(b.clients["client"]) == set(cd.MASTERS)
    assert set(b.servers["server"]) == set(cd.MASTERS)
    assert set(b.servers["workload"]) == {"etcd"}
    t = b.totals.row(0, named=True)
    assert t["protocols"] == ["TCP"] and t["ports"] == [2379]
    want = flows.filter(pl.col("service_name") == "etcd-client")
    assert (t["bytes"], t["packets"], t["flows"]) == (
        want["bytes"].sum(),
        want["packets"].sum(),
        want.height,
    )
    assert b.pairs["bytes"].sum() == t["bytes"] and b.pairs.height == 9
    assert _sorted_by_bytes(b.clients) and _sorted_by_bytes(b.pairs)


def test_top_servers_services_talkers(flows: pl.DataFrame) -> None:
    s = top_servers(flows, client=cd.FRONTEND, n=None)
    assert set(s["server"]) >= {"172.30.100.2", cd.REUSED, cd.DNS_SVC}
    svc = top_services(flows, n=None)
    assert svc["bytes"].sum() == flows.filter(pl.col("service_name").is_not_null())["bytes"].sum()
    etcd = svc.filter(pl.col("service") == "etcd-client").row(0, named=True)
    assert (etcd["clients"], etcd["servers"], etcd["ports"]) == (3, 3, [2379])
    talk = top_talkers(flows, n=None)
    assert talk["bytes"].sum() == 2 * flows["bytes"].sum()
    assert (talk["bytes_sent"] + talk["bytes_received"] == talk["bytes"]).all()
    assert _sorted_by_bytes(svc) and _sorted_by_bytes(talk)


def test_conversations_and_records(flows: pl.DataFrame) -> None:
    conv = conversations(flows)
    assert conv["bytes"].sum() == flows["bytes"].sum() and conv["flows"].sum() == flows.height
    icmp = conv.filter(pl.col("protocol") == "ICMP")
    assert icmp.select("client", "server").row(0) == (cd.FRONTEND, cd.PRIVATE_EXT)
    rec = flow_records(flows, server="openshift-etcd/", limit=5)
    assert rec.height == 5 and set(rec["server_workload"]) == {"etcd"}
    assert rec["time"].to_list() == sorted(rec["time"].to_list(), reverse=True)
    with pytest.raises(ConfigError, match="unknown columns"):
        flow_records(flows, columns=["nope"])


def test_timeseries(flows: pl.DataFrame) -> None:
    ts = timeseries(flows, interval="15m", by="service")
    assert ts["bytes"].sum() == flows["bytes"].sum()
    assert ts["time"].dt.minute().is_in([0, 15, 30, 45]).all()
    window = timeseries(flows, interval="1m", start=cd.T0, end=cd.T0 + timedelta(minutes=10))
    assert window["time"].max() < cd.T0 + timedelta(minutes=10)
    with pytest.raises(ConfigError, match="interval"):
        timeseries(flows, interval="soon")
    with pytest.raises(ConfigError, match="key"):
        timeseries(flows, by="nope")


def test_edges_semantics(flows: pl.DataFrame) -> None:
    e = edges(flows)
    assert e.columns == ["client", "server", "service", "bytes", "packets", "flows"]
    assert e["flows"].sum() == flows.height  # null keys (ICMP) are a group of their own
    assert e.filter(pl.col("client").is_null())["flows"].sum() == flows["client_ip"].null_count()
    assert _sorted_by_bytes(e)
    ex = edges(flows, by=("exporter", "protocol"), metrics=("flows",))
    assert ex.columns == ["exporter", "protocol", "flows"] and ex["flows"].sum() == flows.height
    with pytest.raises(ConfigError, match="group key"):
        edges(flows, by=("pod",))
    with pytest.raises(ConfigError, match="metric"):
        edges(flows, metrics=("rows",))
