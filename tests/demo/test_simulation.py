"""The demo's traffic has the shape the analyses ask about; decoded in memory with the real decoder."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from flowlab.demo import facts, load, simulate
from flowlab.demo.cluster import FAST_SAMPLED_NODE
from flowlab.exceptions import ConfigError
from flowlab.schema import validate

GRAFANA = "10.128.2.7"


@pytest.fixture(scope="module")
def sim():  # type: ignore[no-untyped-def]
    return simulate(seconds=900, seed=0)


@pytest.fixture(scope="module")
def flows(sim) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    return sim.decode().flows


def pod_ips(doc: dict[str, Any], namespace: str) -> set[str]:
    return {
        i["status"]["podIP"]
        for i in doc["items"]
        if i["kind"] == "Pod" and i["metadata"]["namespace"] == namespace
    }


def test_decodes_to_the_canonical_schema_with_nothing_lost(sim) -> None:  # type: ignore[no-untyped-def]
    out = sim.decode()
    validate(out.flows)
    s = out.stats
    assert s.datagrams == len(sim.datagrams) == s.datagrams_ok
    assert s.flows == sim.flow_samples == sim.samples.height
    assert s.counters == sim.counter_samples
    assert s.lost == 0 and s.flows_without_ip == 0
    # the Open vSwitch extras are there, and skipped by the decoder
    assert {(0, 1004), (0, 1005), (0, 2207), (0, 1023)} <= set(s.records_skipped)


def test_grafana_has_exactly_three_peers(flows: pl.DataFrame) -> None:
    f = facts(flows)
    assert len(f["grafana_peers"]) == 3  # type: ignore[arg-type]
    assert "10.129.2.9" in f["grafana_peers"]  # type: ignore[operator]


def test_etcd_clients_are_exactly_the_apiservers(sim, flows: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    apiservers = pod_ips(sim.inventory(), "openshift-kube-apiserver")
    assert facts(flows)["etcd_client_originators"] == sorted(apiservers)
    peer = flows.filter(pl.col("service_port") == 2380)
    assert peer.height > 0 and set(peer["client_ip"]) <= pod_ips(sim.inventory(), "openshift-etcd")


def test_many_kubernetes_api_clients_through_the_service_and_6443(flows: pl.DataFrame) -> None:
    assert facts(flows)["api_clients"] >= 15  # type: ignore[operator]
    vip = flows.filter((pl.col("dst_ip") == "172.30.0.1") & (pl.col("dst_port") == 443))
    direct = flows.filter(pl.col("service_port") == 6443)
    assert vip["src_ip"].n_unique() >= 8
    assert direct["client_ip"].n_unique() >= 6
    assert set(direct["server_ip"]) == {"10.0.0.11", "10.0.0.12", "10.0.0.13"}


def test_dns_icmp_handshakes_ingress_and_both_directions(flows: pl.DataFrame) -> None:
    dns = flows.filter((pl.col("protocol") == 17) & (pl.col("service_name") == "dns"))
    assert dns["client_ip"].n_unique() >= 10
    assert flows.filter((pl.col("protocol") == 17) & (pl.col("src_port") == 5353)).height > 0
    icmp = flows.filter(pl.col("protocol") == 1)
    assert set(icmp["icmp_type"].unique()) == {0, 8}
    assert icmp["src_port"].null_count() == icmp.height
    syn = flows.filter(pl.col("tcp_flags") == 2)
    assert syn.height > 0 and (syn["server_ip"] == syn["dst_ip"]).all()
    assert flows.filter(pl.col("src_ip").str.starts_with("203.0.113.")).height > 0  # ingress
    pairs = set(flows.select("src_ip", "dst_ip").unique().iter_rows())
    both = sum((b, a) in pairs for a, b in pairs)
    assert both > len(pairs) // 3


def test_sampling_like_ovn_kubernetes(sim, flows: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    fast = sim.cluster.node(FAST_SAMPLED_NODE).ip
    rates = dict(flows.group_by("exporter").agg(pl.col("sampling_rate").unique()).iter_rows())
    assert len(rates) == 6
    assert all(v == ([64] if k == fast else [400]) for k, v in rates.items())
    assert flows["frame_length"].max() <= 1518
    assert (flows["bytes"] == flows["frame_length"].cast(pl.UInt64) * flows["sampling_rate"]).all()


def test_time_spans_the_simulated_window(flows: pl.DataFrame) -> None:
    start = dt.datetime(2025, 1, 6, 9, 0, tzinfo=dt.timezone.utc)
    assert flows["time"].min() >= start
    assert flows["time"].max() <= start + dt.timedelta(seconds=901)
    assert flows["time"].max() - flows["time"].min() > dt.timedelta(seconds=800)


def test_counters_every_30_seconds_per_port(sim) -> None:  # type: ignore[no-untyped-def]
    counters = sim.decode().counters
    per_port = counters.group_by("exporter", "if_index").len()
    assert per_port["len"].min() == 30  # 900 s / 30 s
    octets = (
        counters.sort("time").group_by("exporter", "if_index").agg(pl.col("in_octets").diff().min())
    )
    assert (octets["in_octets"].drop_nulls() >= 0).all()


def test_same_seed_same_samples(sim) -> None:  # type: ignore[no-untyped-def]
    again = simulate(seconds=900, seed=0)
    assert [d.data for d in again.datagrams] == [d.data for d in sim.datagrams]
    other = simulate(seconds=900, seed=1)
    assert [d.data for d in other.datagrams] != [d.data for d in sim.datagrams]


def test_load_returns_flows_and_inventory() -> None:
    flows, inv = load(seconds=60, seed=2)
    validate(flows)
    assert flows.height > 0 and (flows["source"] == "demo").all()
    ips = {i["status"]["podIP"] for i in inv["items"] if i["kind"] == "Pod"}
    assert set(flows.filter(pl.col("src_ip").str.starts_with("10.12"))["src_ip"]) <= ips | {
        f"10.{a}.{b}.2" for a in (128, 129, 130, 131) for b in (0, 2)
    }  # pods, and the nodes' management ports (kubelet probes)


@pytest.mark.parametrize("seconds", [0, -1, 100_000])
def test_bad_durations(seconds: float) -> None:
    with pytest.raises(ConfigError, match="seconds"):
        simulate(seconds=seconds)


def test_naive_start_is_refused(sim) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="timezone"):
        sim.decode(start=dt.datetime(2025, 1, 1))
