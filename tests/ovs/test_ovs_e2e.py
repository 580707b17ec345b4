"""End to end with a real exporter: Open vSwitch sFlow -> flowlab's collector -> enriched pod graph.

One experiment (module fixture ``run``, ~30 s) builds an OVS lab from scratch
(ovsdb-server and ovs-vswitchd started by hand, a userspace bridge, six pod
namespaces joined by veth pairs), starts flowlab's :class:`Collector` on
127.0.0.1 *before* any traffic (OVS sends from a connected UDP socket), and
runs two phases into the same collector:

A. ``sampling=1 polling=2``: every packet entering the bridge is sampled, so
   the flows must match, 5-tuple by 5-tuple, what each pod's own capture says
   it sent -- exactly, in packets and bytes -- and counters arrive every 2 s.
B. agent and target only, as OVN-Kubernetes configures it (OVS defaults:
   1-in-400, 128-byte headers, 30-s polling), with a few MB of bulk traffic;
   estimates must fall within binomial/normal bounds at alpha = 1e-6.

The same lab then runs IPFIX and NetFlow (``FLOW_RUNS``, the plans of
``make_captures.FLOW_PLANS``), each into its own collector (fixture ``flow_runs``):
IPFIX as OVN-Kubernetes configures it (1-in-400, cache off) within binomial bounds,
IPFIX at sampling 1 exact per direction, NetFlow v5 exact for IPv4.

Changing the configuration restarts OVS's datagram sequence at 1, which the
decoder must count as a restart and not as loss. A ``tcpdump`` on ``lo`` sees
every datagram OVS sent; its independent census (``ovs_truth.sflow_census``)
is what the collector's statistics are checked against. The other tests only
read the result, so the lab lives for the data collection alone and is torn
down (daemons, namespaces, veths, bridge) even when that fails.

Needs root and Debian's openvswitch-switch, iproute2, ethtool, tcpdump,
iputils-ping, curl. Without them the tests skip -- except under CI (``CI`` set),
where they fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import ovs_expect as expect
import ovs_truth as truth
import polars as pl
import pytest
from ovs_lab import OvsLab, missing_requirements
from ovs_traffic import (
    APISERVER,
    BULK,
    DNS,
    E2E_PODS,
    ETCD,
    GRAFANA,
    OPENSHIFT_APISERVER,
    PROMETHEUS,
    SMALL,
    Capture,
    NsCaptures,
    Servers,
    inventory,
    run_traffic,
)

pytestmark = [pytest.mark.ovs, pytest.mark.slow, pytest.mark.timeout(300)]

ALPHA = 1e-6  # false-alarm probability of each statistical check, before Bonferroni
POLLING_A = 2  # counter polling in phase A, seconds
LAB_IPS = [ip for p in E2E_PODS for ip in (p.ip, p.ip6) if ip]
OVS_COUNTER_RECORDS = (
    1004,
    1005,
    2203,
    2207,
)  # OpenFlow port, port name, app resources, OVS datapath


# --------------------------------------------------------------------------- collector adapter
# The only place that knows the collector's Python API (flowlab/collect/collector.py).


@contextlib.contextmanager
def collector(out: Path, protocol: str = "sflow") -> Iterator[Any]:
    """flowlab's live collector on 127.0.0.1 (a free port), writing Parquet under `out`."""
    from flowlab.collect.collector import Collector

    col = Collector("127.0.0.1:0", out_dir=out, protocol=protocol)
    col.start()
    try:
        yield col
    finally:
        col.stop()


def collector_port(col: Any) -> int:
    return int(col.address[1])


# --------------------------------------------------------------------------- the experiment


@dataclass
class Run:
    """Everything the experiment observed; the tests only read it."""

    flows: pl.DataFrame
    counters: pl.DataFrame
    stats: Any  # flowlab.collect.collector.CollectorStats
    capture_dir: Path  # the collector's Parquet output
    census: truth.Census
    truth_a: pl.DataFrame  # per 5-tuple, phase A (sampling=1)
    truth_b: pl.DataFrame  # per 5-tuple, phase B (OVS defaults)
    ifindex: dict[str, int]  # pod short name -> ifIndex of its bridge port
    mac: dict[str, str]
    link_a: dict[str, tuple[dict[str, int], dict[str, int]]]  # pod -> (after traffic, after linger)
    a_end: datetime  # phase A's sFlow configuration was removed just before this
    inventory_path: Path
    clients: dict[str, Any] = field(default_factory=dict)


def _require_lab() -> None:
    why = missing_requirements()
    if why is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the Open vSwitch end-to-end test must run in CI but cannot: {why}")
    pytest.skip(f"Open vSwitch end-to-end test skipped: {why}")


def _phase(
    lab: OvsLab,
    target: str,
    workdir: Path,
    *,
    volume: Any,
    linger: float,
    sampling: int | None = None,
    polling: int | None = None,
) -> tuple[
    pl.DataFrame, dict[str, Any], dict[str, tuple[dict[str, int], dict[str, int]]], datetime
]:
    """Captures on, sFlow on, traffic, linger, sFlow off, captures off; return the truth."""
    workdir.mkdir()
    caps = NsCaptures(lab, workdir)
    try:
        lab.set_sflow(target, sampling=sampling, polling=polling)
        clients = run_traffic(lab, volume)
        after_traffic = {s: lab.link_stats(s) for s in lab.attached}
        time.sleep(linger)  # OVS flushes samples every second; counters every `polling`
        lab.clear_sflow()  # returns once ovs-vswitchd applied it: no poll after this
        after_linger = {s: lab.link_stats(s) for s in lab.attached}
        time.sleep(0.2)  # let the collector take in the last datagrams of the phase
        end = datetime.now(timezone.utc)
    finally:
        drops = caps.close()
    assert drops == dict.fromkeys(lab.attached, 0), (
        f"tcpdump in the namespaces dropped frames: {drops}"
    )
    frames = caps.frames()
    links = {s: (after_traffic[s], after_linger[s]) for s in lab.attached}
    return expect.flow_truth(frames, LAB_IPS), clients, links, end


@pytest.fixture(scope="module")
def lab() -> Iterator[OvsLab]:
    """One lab (bridge, pods, their servers) for the whole module, reconfigured per protocol."""
    _require_lab()
    with contextlib.ExitStack() as stack:
        the_lab = stack.enter_context(OvsLab(E2E_PODS))
        servers = Servers(the_lab)
        stack.callback(servers.close)
        yield the_lab


@pytest.fixture(scope="module")
def run(lab: OvsLab, tmp_path_factory: pytest.TempPathFactory) -> Run:
    work = tmp_path_factory.mktemp("ovs-e2e")
    inv_path = work / "inventory.json"
    inv_path.write_text(json.dumps(inventory(E2E_PODS), indent=1))
    with contextlib.ExitStack() as stack:
        col = stack.enter_context(collector(work / "capture"))
        port = collector_port(col)
        target = f"127.0.0.1:{port}"
        lo = Capture(work / "lo.pcap", "lo", ["udp", "dst", "port", str(port)])
        stack.callback(lo.close)
        truth_a, clients_a, link_a, a_end = _phase(
            lab,
            target,
            work / "a",
            volume=SMALL,
            linger=2 * POLLING_A + 1.5,
            sampling=1,
            polling=POLLING_A,
        )
        truth_b, clients_b, _, _ = _phase(lab, target, work / "b", volume=BULK, linger=2.5)
        time.sleep(0.5)
        lo_drops = lo.close()
        stats = col.stop()  # reads what the socket holds, decodes and flushes all of it
        flows, counters = col.flows(), col.counters()
        ifindex = {s: a.ifindex for s, a in lab.attached.items()}
        mac = {s: a.mac for s, a in lab.attached.items()}
    assert lo_drops == 0, (
        f"tcpdump on lo dropped {lo_drops} packets: the census would be incomplete"
    )
    census = truth.sflow_census(truth.udp_payloads(work / "lo.pcap", port))
    return Run(
        flows=flows,
        counters=counters,
        stats=stats,
        capture_dir=work / "capture",
        census=census,
        truth_a=truth_a,
        truth_b=truth_b,
        ifindex=ifindex,
        mac=mac,
        link_a=link_a,
        a_end=a_end,
        inventory_path=inv_path,
        clients={"a": clients_a, "b": clients_b},
    )


# --------------------------------------------------------------------------- IPFIX and NetFlow
# The same lab, reconfigured: each plan (tests/ovs/make_captures.py FLOW_PLANS, which made the
# fixtures tests/data/ovs-ipfix-*.pcap and ovs-netflow.pcap) runs into its own live collector.
FLOW_RUNS = ("ipfix-ovnk", "ipfix-sampling1", "netflow")
ETHERNET = 14  # OVS IPFIX octet counts are L3: + 14 per packet gives tcpdump's frame bytes


@dataclass
class FlowRun:
    """One IPFIX or NetFlow plan run into flowlab's live collector."""

    flows: pl.DataFrame
    stats: Any  # flowlab.collect.collector.CollectorStats
    truth: pl.DataFrame  # per 5-tuple, the pods' own captures
    datagrams_sent: int  # tcpdump on lo


def _flow_run(lab: OvsLab, work: Path, name: str) -> FlowRun:
    """Collector on, captures on, OVS configured, traffic, linger, OVS off, collector off."""
    from make_captures import FLOW_PLANS

    plan: dict[str, Any] = FLOW_PLANS[name]
    protocol, config = plan["protocol"], plan["config"]
    work.mkdir()
    with contextlib.ExitStack() as stack:
        col = stack.enter_context(collector(work / "capture", protocol))
        port = collector_port(col)
        target = f"127.0.0.1:{port}"
        lo = Capture(work / "lo.pcap", "lo", ["udp", "dst", "port", str(port)])
        stack.callback(lo.close)
        caps = NsCaptures(lab, work)
        try:
            if protocol == "ipfix":
                lab.set_ipfix(target, **config)
            else:
                lab.set_netflow(target, **config)
            run_traffic(lab, plan["volume"])
            # IPFIX: removing the setting flushes the cache. NetFlow: removing it drops
            # pending records, so the linger outlasts the datapath's 10-s idle expiry.
            time.sleep(plan["linger"])
            if protocol == "ipfix":
                lab.clear_ipfix()
            else:
                lab.clear_netflow()
            time.sleep(0.5)
        finally:
            drops = caps.close()
        assert drops == dict.fromkeys(lab.attached, 0), f"tcpdump dropped frames: {drops}"
        lo_drops = lo.close()
        assert lo_drops == 0, f"tcpdump on lo dropped {lo_drops} packets"
        stats = col.stop()
        flows = col.flows()
    sent = len(truth.udp_payloads(work / "lo.pcap", port))
    return FlowRun(flows, stats, expect.flow_truth(caps.frames(), LAB_IPS), sent)


@pytest.fixture(scope="module")
def flow_runs(lab: OvsLab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, FlowRun]:
    work = tmp_path_factory.mktemp("ovs-e2e-flows")
    return {name: _flow_run(lab, work / name, name) for name in FLOW_RUNS}


# --------------------------------------------------------------------------- helpers

SHORT_BY_IP = {ip: p.short for p in E2E_PODS for ip in (p.ip, p.ip6) if ip}


def _observed(flows: pl.DataFrame) -> pl.DataFrame:
    """flowlab's rows between lab pods, per 5-tuple: samples, estimated packets/bytes, frame bytes."""
    return (
        expect.lab_ip_frames(flows, LAB_IPS)
        .group_by(expect.KEY)
        .agg(
            samples=pl.len().cast(pl.Int64),
            est_packets=pl.col("packets").cast(pl.Int64).sum(),
            est_bytes=pl.col("bytes").cast(pl.Int64).sum(),
            frame_bytes_seen=pl.col("frame_length").cast(pl.Int64).sum(),
        )
    )


def _keys(frame: pl.DataFrame) -> set[tuple[Any, ...]]:
    return set(frame.select(expect.KEY).iter_rows())


# --------------------------------------------------------------------------- tests


def test_frames_are_canonical(run: Run) -> None:
    from flowlab.schema import validate, validate_counters

    validate(run.flows)
    validate_counters(run.counters)
    assert run.flows.height == run.census.samples["flow"]
    assert set(run.flows["exporter"].unique()) == {"127.0.0.1"}  # agent=lo
    assert set(run.flows["sampling_rate"].unique()) == {1, 400}


def test_parquet_output_holds_every_row(run: Run) -> None:
    """What the collector wrote to disk (hour-partitioned Parquet) is what it hands out."""
    files = sorted((run.capture_dir / "flows").rglob("*.parquet"))
    assert files and run.stats.files >= 1
    on_disk = pl.read_parquet(files)
    assert on_disk.height == run.flows.height
    assert on_disk.sort("sequence", "sample_sequence").equals(
        run.flows.sort("sequence", "sample_sequence")
    )


def test_lab_lost_nothing_in_the_bridge(run: Run) -> None:
    """Sanity of the ground truth: each frame a pod sent reached its peer (phase A exactly)."""
    t = run.truth_a
    assert t.height >= 25, t
    lost = t.filter(pl.col("packets") != pl.col("packets_in"))
    assert lost.is_empty(), f"frames lost inside the bridge in phase A:\n{lost}"


def test_sampling1_flows_match_what_the_pods_sent(run: Run) -> None:
    """With sampling=1 every packet is sampled once, on ingress: exact 5-tuples, packets, bytes."""
    got = _observed(run.flows.filter(pl.col("sampling_rate") == 1))
    want = run.truth_a
    assert _keys(got) == _keys(want), (
        f"missing: {_keys(want) - _keys(got)}\nunexpected: {_keys(got) - _keys(want)}"
    )
    both = want.join(got, on=expect.KEY, nulls_equal=True)
    bad = both.filter(
        (pl.col("samples") != pl.col("packets"))
        | (pl.col("est_packets") != pl.col("packets"))
        | (pl.col("frame_bytes_seen") != pl.col("frame_bytes"))
        | (pl.col("est_bytes") != pl.col("frame_bytes"))
    )
    assert bad.is_empty(), f"sampled counts differ from the pods' captures:\n{bad}"
    # the traffic that was asked for is all there
    protos = set(both["protocol"].unique())
    assert {1, 6, 17, 58} <= protos
    assert {9090, 2379, 6443, 53} <= set(both["dst_port"].drop_nulls().unique())


def test_sampled_on_ingress_of_the_input_port(run: Run) -> None:
    """in_if is the sender's bridge port and out_if the receiver's: one sample per crossing."""
    f = expect.lab_ip_frames(run.flows.filter(pl.col("sampling_rate") == 1), LAB_IPS)
    f = f.with_columns(
        want_in=pl.col("src_ip").replace_strict(SHORT_BY_IP).replace_strict(run.ifindex),
        want_out=pl.col("dst_ip").replace_strict(SHORT_BY_IP).replace_strict(run.ifindex),
    )
    bad = f.filter(
        (pl.col("in_if") != pl.col("want_in")) | (pl.col("out_if") != pl.col("want_out"))
    )
    assert bad.is_empty(), bad.select("src_ip", "dst_ip", "in_if", "want_in", "out_if", "want_out")
    # One sampler for the whole bridge: OVS's data source is index 1000 of class 2
    # (entPhysicalEntry); the flow frame keeps the index.
    assert set(run.flows["source_id"].unique()) == {1000}


def test_orientation_and_service_names(run: Run) -> None:
    f = expect.lab_ip_frames(run.flows, LAB_IPS)
    want = {
        (PROMETHEUS.ip, 9090): "hbase-thrift",
        (PROMETHEUS.ip6, 9090): "hbase-thrift",
        (ETCD.ip, 2379): "etcd-client",
        (APISERVER.ip, 6443): "kubernetes-api",
        (DNS.ip, 53): "dns",
    }
    served = f.filter(pl.col("service_port").is_not_null())
    got = {
        (s, p): set(n)
        for s, p, n in served.group_by("server_ip", "service_port")
        .agg(pl.col("service_name").unique())
        .iter_rows()
    }
    assert got == {k: {v} for k, v in want.items()}
    # ICMP has no ports, hence no client/server
    icmp = f.filter(pl.col("protocol").is_in([1, 58]))
    assert icmp.height > 0 and icmp["service_name"].null_count() == icmp.height


def test_default_sampling_estimates_within_bounds(run: Run) -> None:
    """OVS defaults (1-in-400): estimated packets and bytes per conversation within alpha=1e-6."""
    f = run.flows.filter(pl.col("sampling_rate") == 400)
    assert f.height > 0
    scaled = f.filter(
        (pl.col("packets") != 400)
        | (pl.col("bytes") != pl.col("frame_length").cast(pl.UInt64) * 400)
    )
    assert scaled.is_empty(), "bytes/packets are not frame_length x rate / rate"
    got = _observed(f)
    phantom = _keys(got) - _keys(run.truth_b)
    assert not phantom, f"sampled 5-tuples that no pod sent: {phantom}"

    conv = ["src_ip", "dst_ip", "protocol"]
    truth_c = run.truth_b.group_by(conv).agg(
        pl.col("packets", "packets_in", "frame_bytes").sum(), pl.col("lengths").explode()
    )
    got_c = got.group_by(conv).agg(pl.col("samples", "est_bytes", "frame_bytes_seen").sum())
    both = truth_c.join(got_c, on=conv, how="left").with_columns(
        pl.col("samples", "est_bytes", "frame_bytes_seen").fill_null(0)
    )
    alpha = ALPHA / (both.height + 1)  # Bonferroni over every conversation and the total
    failures = []
    for row in both.iter_rows(named=True):
        name = (
            f"{row['src_ip']} -> {row['dst_ip']} proto {row['protocol']} ({row['packets']} packets)"
        )
        lo, hi = expect.binomial_interval(row["packets_in"], row["packets"], 400, alpha)
        if not lo <= row["samples"] <= hi:
            failures.append(f"{name}: {row['samples']} samples, outside [{lo}, {hi}]")
        # the sampled frames are frames of this conversation, as many as were counted
        blo, bhi = expect.bytes_range(row["lengths"], row["samples"], row["samples"])
        if not blo <= row["frame_bytes_seen"] <= bhi:
            failures.append(
                f"{name}: sampled frame bytes {row['frame_bytes_seen']} not in [{blo}, {bhi}]"
            )
        # hence the estimate is within the bytes of [lo, hi] frames, times the rate
        elo, ehi = expect.bytes_range(row["lengths"], lo, hi)
        if not 400 * elo <= row["est_bytes"] <= 400 * ehi:
            failures.append(
                f"{name}: estimated bytes {row['est_bytes']} not in 400 x [{elo}, {ehi}]"
            )
    total_n = int(both["packets"].sum())
    lo, hi = expect.binomial_interval(int(both["packets_in"].sum()), total_n, 400, alpha)
    total_k = int(both["samples"].sum())
    if not lo <= total_k <= hi:
        failures.append(f"all: {total_k} samples of {total_n} packets outside [{lo}, {hi}]")
    assert not failures, "\n".join(failures)
    # enough traffic for the bound to mean something: the bulk conversations were seen
    big = both.filter(pl.col("packets") > 4000)
    assert big.height >= 3 and (big["samples"] > 0).all(), big
    assert total_n > 20_000


def test_sequence_restart_is_not_loss(run: Run) -> None:
    """Every datagram OVS sent was decoded; the restart between phases is counted as such."""
    s, c = run.stats.decode, run.census
    assert run.stats.datagrams == c.datagrams and run.stats.kernel_drops == 0
    assert run.stats.sequence_lost == 0 and run.stats.errors == 0
    assert c.gaps() == {"127.0.0.1/0": 0}, "tcpdump saw a gap: OVS itself skipped a sequence number"
    assert c.as_dict()["sequence_restarts"] == {"127.0.0.1/0": 1}
    assert s.datagrams == c.datagrams
    assert s.datagrams_ok == c.datagrams and not s.datagrams_bad
    assert sum(s.lost_datagrams.values()) == 0, s.lost_datagrams
    assert sum(s.sequence_resets.values()) == 1, s.sequence_resets
    assert s.samples.get("flow", 0) == c.samples["flow"]
    assert s.samples.get("counters", 0) == c.samples["counters"]


def test_counters_decoded_and_ovs_records_skipped(run: Run) -> None:
    c, s = run.census, run.stats.decode
    assert run.stats.counter_samples == c.samples["counters"]
    # OVS-specific counter records: skipped by their length, each one counted
    for fmt in OVS_COUNTER_RECORDS:
        assert c.counter_records[fmt] > 0, f"OVS sent no {fmt} record: the lab changed?"
        assert s.records_skipped.get((0, fmt), 0) == c.counter_records[fmt], (
            fmt,
            s.records_skipped,
        )
    # generic interface counters: one row per port sample, every pod port present
    assert c.counter_records[1] > 0
    ports = set(run.counters["if_index"].unique())
    assert set(run.ifindex.values()) <= ports
    assert run.counters.filter(
        pl.col("if_index").is_in(list(run.ifindex.values()))
    ).height >= 2 * len(run.ifindex)
    # OVS's generic counters of a port are the kernel's counters of its veth: what
    # OVS received on a pod's port is what the pod sent. Phase A's last poll came
    # after its traffic (linger > 2 polling intervals) and before its end.
    last = (
        run.counters.filter(pl.col("time") <= run.a_end)
        .sort("time")
        .group_by("if_index")
        .agg(pl.col("in_octets", "in_ucast_pkts", "out_octets", "if_speed", "if_status").last())
    )
    by_if = {r["if_index"]: r for r in last.iter_rows(named=True)}
    for short, idx in run.ifindex.items():
        after_traffic, after_linger = run.link_a[short]
        port = by_if[idx]
        assert after_traffic["tx_bytes"] <= port["in_octets"] <= after_linger["tx_bytes"], (
            short,
            port,
        )
        assert after_traffic["tx_packets"] <= port["in_ucast_pkts"] <= after_linger["tx_packets"], (
            short,
            port,
        )
        assert after_traffic["rx_bytes"] <= port["out_octets"] <= after_linger["rx_bytes"], (
            short,
            port,
        )
        assert port["if_status"] == 3, port  # admin and oper up


def _graph_id(ip: str | None, port: int | None) -> str | None:
    """The pod-level graph node a lab address stands for (None: not a lab address).

    A host-network pod shares its node's address: it is named only on a port
    it declares (etcd :2379, kube-apiserver :6443), else the address is its node.
    """
    for p in E2E_PODS:
        if ip in (p.ip, p.ip6):
            if p.host_network and port not in p.ports:
                return f"node/{p.node}"
            return f"{p.namespace}/{p.name}"
    return None


def _expected_edges(enriched: pl.DataFrame) -> dict[tuple[str, str], tuple[int, int]]:
    """(client, server) -> (bytes, packets), aggregated here without flowlab.graph.

    Rows with ports go client -> server; rows without (ICMP) go src -> dst.
    """
    out: dict[tuple[str, str], tuple[int, int]] = {}
    cols = ["client_ip", "client_port", "server_ip", "service_port", "src_ip", "src_port"]
    cols += ["dst_ip", "dst_port", "bytes", "packets"]
    for r in enriched.select(cols).iter_rows(named=True):
        if r["client_ip"] is not None:
            a, b = (
                _graph_id(r["client_ip"], r["client_port"]),
                _graph_id(r["server_ip"], r["service_port"]),
            )
        else:
            a, b = _graph_id(r["src_ip"], r["src_port"]), _graph_id(r["dst_ip"], r["dst_port"])
        if a is None or b is None:
            continue
        nbytes, npackets = out.get((a, b), (0, 0))
        out[a, b] = (nbytes + r["bytes"], npackets + r["packets"])
    return out


def test_pod_graph_has_the_expected_edges(run: Run) -> None:
    from flowlab.graph import communication_graph
    from flowlab.k8s import Inventory, enrich

    inv = Inventory.from_file(run.inventory_path)
    enriched = enrich(run.flows, inv)
    g = communication_graph(enriched, level="pod")

    def pid(pod: Any) -> str:
        return f"{pod.namespace}/{pod.name}"

    want = {
        (pid(GRAFANA), pid(PROMETHEUS)): "hbase-thrift",
        (pid(OPENSHIFT_APISERVER), pid(ETCD)): "etcd-client",
        # kube-apiserver is a host-network pod: as a client (ephemeral port) its
        # address can only be named as its node; as the server of :6443 it is named.
        (f"node/{APISERVER.node}", pid(ETCD)): "etcd-client",
        (pid(PROMETHEUS), pid(APISERVER)): "kubernetes-api",
        (pid(GRAFANA), pid(DNS)): "dns",
    }
    for (a, b), service in want.items():
        assert g.has_edge(a, b), f"no edge {a} -> {b}; edges: {sorted(g.edges)}"
        assert service in g.edges[a, b]["services"], (a, b, g.edges[a, b]["services"])
    # every edge between lab endpoints carries exactly the bytes/packets of its rows
    expected = _expected_edges(enriched)
    lab_edges = {
        (a, b): (d["bytes"], d["packets"])
        for a, b, d in g.edges(data=True)
        if _is_lab_id(a) and _is_lab_id(b)
    }
    assert lab_edges == expected
    assert set(want) <= set(expected)


def _is_lab_id(node_id: str) -> bool:
    ids = {f"{p.namespace}/{p.name}" for p in E2E_PODS} | {f"node/{p.node}" for p in E2E_PODS}
    return node_id in ids


# --------------------------------------------------------------------------- IPFIX / NetFlow tests


def _lab_per_key(flows: pl.DataFrame) -> pl.DataFrame:
    """flowlab's records between lab pods, per 5-tuple: summed packets and bytes."""
    return (
        expect.lab_ip_frames(flows, LAB_IPS)
        .group_by(expect.KEY)
        .agg(
            got_packets=pl.col("packets").cast(pl.Int64).sum(),
            got_bytes=pl.col("bytes").cast(pl.Int64).sum(),
        )
    )


@pytest.mark.parametrize("name", FLOW_RUNS)
def test_flow_records_are_canonical_and_complete(flow_runs: dict[str, FlowRun], name: str) -> None:
    """Every datagram OVS sent was received and decoded: no errors, no false sequence loss."""
    from flowlab.schema import validate

    r = flow_runs[name]
    validate(r.flows)
    assert r.flows.height > 0
    assert r.datagrams_sent > 0 and r.stats.datagrams == r.datagrams_sent
    assert r.stats.errors == 0 and r.stats.kernel_drops == 0 and r.stats.sequence_lost == 0
    assert set(r.flows["exporter"].unique()) == {"127.0.0.1"}
    formats = set(r.flows["flow_format"].unique())
    assert formats == ({"netflow5"} if name == "netflow" else {"ipfix"})
    assert r.flows["flow_start"].null_count() == 0 and r.flows["flow_end"].null_count() == 0
    assert (r.flows["flow_start"] <= r.flows["flow_end"]).all()
    if name != "netflow":
        assert set(r.flows["direction"].unique().to_list()) == {0, 1}


@pytest.mark.parametrize("direction", [0, 1])
def test_ipfix_ovnk_estimates_within_bounds(flow_runs: dict[str, FlowRun], direction: int) -> None:
    """As OVN-Kubernetes configures it (1-in-400, cache off): OVS scales the counts itself and
    sends no rate; the rate is inferred, and each direction's sampled count per 5-tuple lies
    within the binomial interval of what the pods sent (alpha = 1e-6, Bonferroni)."""
    from flowlab.netflow import infer_sampling_rate, one_direction

    r, rate = flow_runs["ipfix-ovnk"], 400
    assert infer_sampling_rate(r.flows) == {"127.0.0.1": rate}
    assert r.flows["sampling_rate"].is_null().all()  # not multiplied again
    got = _lab_per_key(one_direction(r.flows, direction))
    phantom = _keys(got) - _keys(r.truth)
    assert not phantom, f"records of 5-tuples no pod sent: {phantom}"
    both = r.truth.join(got, on=expect.KEY, how="left", nulls_equal=True).with_columns(
        pl.col("got_packets", "got_bytes").fill_null(0)
    )
    alpha = ALPHA / (both.height + 1)
    failures = []
    for row in both.iter_rows(named=True):
        k, rem = divmod(row["got_packets"], rate)
        if rem:
            failures.append(f"{row}: packets not a multiple of {rate}")
        lo, hi = expect.binomial_interval(row["packets_in"], row["packets"], rate, alpha)
        if not lo <= k <= hi:
            failures.append(f"{row}: {k} sampled packets outside [{lo}, {hi}]")
        # octets are L3 lengths x rate of the k sampled frames
        l3 = [n - expect.FCS - ETHERNET for n in row["lengths"]]
        blo, bhi = expect.bytes_range(l3, k, k)
        if not rate * blo <= row["got_bytes"] <= rate * bhi:
            failures.append(f"{row['got_bytes']} bytes not in {rate} x [{blo}, {bhi}]")
    total_n = int(both["packets"].sum())
    lo, hi = expect.binomial_interval(int(both["packets_in"].sum()), total_n, rate, alpha)
    total_k = int(both["got_packets"].sum()) // rate
    if not lo <= total_k <= hi:
        failures.append(f"all: {total_k} sampled of {total_n} packets outside [{lo}, {hi}]")
    assert not failures, "\n".join(failures)
    assert total_n > 20_000 and total_k > 0


@pytest.mark.parametrize("direction", [0, 1])
def test_ipfix_sampling1_each_direction_equals_the_pods_captures(
    flow_runs: dict[str, FlowRun], direction: int
) -> None:
    """Every packet sampled, a 2-s cache: per 5-tuple, one direction's packets equal what the
    pod sent and its octets + 14 per packet the frame bytes; both directions double it."""
    from flowlab.netflow import one_direction

    r = flow_runs["ipfix-sampling1"]
    got = _lab_per_key(one_direction(r.flows, direction))
    assert _keys(got) == _keys(r.truth), (
        f"missing: {_keys(r.truth) - _keys(got)}\nunexpected: {_keys(got) - _keys(r.truth)}"
    )
    both = r.truth.join(got, on=expect.KEY, nulls_equal=True)
    bad = both.filter(
        (pl.col("got_packets") != pl.col("packets"))
        | (pl.col("got_bytes") + ETHERNET * pl.col("got_packets") != pl.col("bytes"))
    )
    assert bad.is_empty(), f"IPFIX counts differ from the pods' captures:\n{bad}"
    assert {1, 6, 17, 58} <= set(both["protocol"].unique())
    assert (
        _lab_per_key(r.flows)["got_packets"].sum() == 2 * both["got_packets"].sum()
    )  # ingress and egress records


def test_netflow_is_exact_for_ipv4(flow_runs: dict[str, FlowRun]) -> None:
    """NetFlow v5 (every flow, 2-s active timeout): per IPv4 5-tuple, packets and bytes (OVS
    counts the Ethernet frame) equal what the pods sent; v5 cannot carry the IPv6 flows."""
    r = flow_runs["netflow"]
    assert (r.flows["sampling_rate"] == 1).all()
    got = _lab_per_key(r.flows)
    want = r.truth.filter(~pl.col("src_ip").str.contains(":"))
    assert _keys(got) == _keys(want), (
        f"missing: {_keys(want) - _keys(got)}\nunexpected: {_keys(got) - _keys(want)}"
    )
    both = want.join(got, on=expect.KEY, nulls_equal=True)
    bad = both.filter(
        (pl.col("got_packets") != pl.col("packets")) | (pl.col("got_bytes") != pl.col("bytes"))
    )
    assert bad.is_empty(), f"NetFlow counts differ from the pods' captures:\n{bad}"
    assert {1, 6, 17} <= set(both["protocol"].unique())
    assert r.truth.filter(pl.col("src_ip").str.contains(":")).height > 0  # IPv6 was sent
