"""Make the Open vSwitch fixtures in ``tests/data/``: sFlow (``ovs-sampling1``, ``ovs-default``),
IPFIX (``ovs-ipfix-ovnk``, ``ovs-ipfix-netobserv``, ``ovs-ipfix-sampling1``) and NetFlow
(``ovs-netflow``).

Run as root from the repository root::

    PYTHONPATH=$PWD python tests/ovs/make_captures.py --out tests/data [--only NAME]

For each capture: an OVS lab (see ``ovs_lab.py``) with five pod namespaces, a
UDP sink listening on 127.0.0.1:PORT *before* sFlow is configured (OVS sends
from a connected socket), ``tcpdump -i lo udp port PORT`` writing the pcap,
captures inside every namespace for the ground truth, then the known traffic
of ``ovs_traffic.py``. Next to each pcap a ``.expected.json`` records the OVS
version, the sFlow configuration, the pods (addresses, MACs, ifIndex), the
per-5-tuple truth from the namespace captures, and a census of sample and
record types in the pcap.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import ovs_expect as expect
import ovs_truth as truth
import polars as pl
from ovs_lab import OvsLab, missing_requirements
from ovs_traffic import (
    BULK,
    PODS,
    SMALL,
    Capture,
    NsCaptures,
    Servers,
    UdpSink,
    Volume,
    run_traffic,
)

log = logging.getLogger("flowlab.tests.ovs")


#: every address of the lab's pods (the ground truth keeps traffic between them)
LAB_IPS = [ip for p in PODS for ip in (p.ip, p.ip6) if ip]


def _pods(lab: OvsLab) -> list[dict[str, object]]:
    """The lab's pods as the ``.expected.json`` records them."""
    return [
        {
            "short": a.pod.short,
            "name": a.pod.name,
            "namespace": a.pod.namespace,
            "ip": a.pod.ip,
            "ip6": a.pod.ip6 or None,
            "mac": a.mac,
            "bridge_port": a.host_if,
            "ifindex": a.ifindex,
        }
        for a in lab.attached.values()
    ]


def capture(
    out: Path,
    *,
    port: int,
    sampling: int | None,
    polling: int | None,
    volume: Volume,
    linger: float,
) -> dict[str, object]:
    """Make one capture at `out`; return what the ``.expected.json`` says."""
    work = Path(tempfile.mkdtemp(prefix="flowlab-capture-"))
    try:
        with OvsLab(PODS) as lab:
            servers = Servers(lab)
            try:
                sink = UdpSink(port)
                lo = Capture(work / "sflow.pcap", "lo", ["udp", "port", str(port)])
                ns = NsCaptures(lab, work)
                before = {s: lab.link_stats(s) for s in lab.attached}
                config = lab.set_sflow(f"127.0.0.1:{port}", sampling=sampling, polling=polling)
                t0 = time.time()
                clients = run_traffic(lab, volume)
                traffic_s = time.time() - t0
                time.sleep(linger)  # counter polls, and OVS flushes its sample buffer each second
                lab.clear_sflow()
                time.sleep(0.5)
                ns_drops = ns.close()
                after = {s: lab.link_stats(s) for s in lab.attached}
                lo_drops = lo.close()
                received = sink.close()
                frames = ns.frames()
            finally:
                servers.close()
            pods = _pods(lab)
            version = lab.version
        shutil.copyfile(work / "sflow.pcap", out)
        datagrams = truth.udp_payloads(out, port)
        census = truth.sflow_census(datagrams)
        flows = expect.flow_truth(frames, LAB_IPS)
        oracle = truth.sflow_samples(datagrams)
        sampled = (
            expect.lab_ip_frames(oracle, LAB_IPS)
            .group_by(expect.KEY)
            .agg(
                samples=pl.len().cast(pl.Int64),
                sampled_frame_bytes=pl.col("wire_len").cast(pl.Int64).sum(),
            )
        )
        flows = flows.join(sampled, on=expect.KEY, how="left", nulls_equal=True).with_columns(
            pl.col("samples", "sampled_frame_bytes").fill_null(0)
        )
        return {
            "made_with": "PYTHONPATH=$PWD python tests/ovs/make_captures.py --out tests/data",
            "ovs_version": version,
            "sflow_config": config,
            "collector": f"127.0.0.1:{port}",
            "traffic_seconds": round(traffic_s, 2),
            "clients": clients,
            "datagrams_received_by_sink": received,
            "kernel_drops": {"lo": lo_drops, **ns_drops},
            "pods": pods,
            "pod_link_deltas": {
                s: {k: after[s][k] - before[s][k] for k in after[s]} for s in after
            },
            "census": census.as_dict(),
            "flows": flows.drop("lengths").to_dicts(),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


#: IPFIX and NetFlow plans: how OVS is configured, how long to wait before removing the
#: configuration (IPFIX: removing it flushes the cache; NetFlow: removing it drops pending
#: records, so wait past the active timeout first).
FLOW_PLANS: dict[str, dict[str, object]] = {
    # OVN-Kubernetes' exportNetworkFlows.ipfix: sampling 400, active timeout 60 s, cache off
    "ipfix-ovnk": {
        "protocol": "ipfix",
        "port": 4739,
        "config": {"sampling": 400, "cache_active_timeout": 60},
        "volume": BULK,
        "linger": 2.0,
    },
    # NetObserv's FlowCollector (IPFIX agent): sampling 400, cache on (20 s, 400 flows)
    "ipfix-netobserv": {
        "protocol": "ipfix",
        "port": 4739,
        "config": {"sampling": 400, "cache_active_timeout": 20, "cache_max_flows": 400},
        "volume": BULK,
        "linger": 22.0,
    },
    # exact counts: every packet sampled, a short cache
    "ipfix-sampling1": {
        "protocol": "ipfix",
        "port": 4739,
        "config": {"sampling": 1, "cache_active_timeout": 2, "cache_max_flows": 1000},
        "volume": SMALL,
        "linger": 4.0,
    },
    # NetFlow v5 (every flow, unsampled) with a short active timeout
    "netflow": {
        "protocol": "netflow",
        "port": 2055,
        "config": {"active_timeout": 2},
        "volume": SMALL,
        # past the datapath's 10-s idle expiry, so every flow has been exported
        "linger": 12.0,
    },
}


def capture_flow_records(
    out: Path, *, protocol: str, port: int, config: dict[str, int], volume: Volume, linger: float
) -> dict[str, object]:
    """Make one IPFIX or NetFlow capture at `out`; return what the ``.expected.json`` says."""
    work = Path(tempfile.mkdtemp(prefix="flowlab-capture-"))
    try:
        with OvsLab(PODS) as lab:
            servers = Servers(lab)
            try:
                sink = UdpSink(port)
                lo = Capture(work / "flows.pcap", "lo", ["udp", "port", str(port)])
                ns = NsCaptures(lab, work)
                target = f"127.0.0.1:{port}"
                if protocol == "ipfix":
                    listed = lab.set_ipfix(target, **config)
                else:
                    listed = lab.set_netflow(target, **config)
                t0 = time.time()
                clients = run_traffic(lab, volume)
                traffic_s = time.time() - t0
                time.sleep(linger)
                if protocol == "ipfix":
                    lab.clear_ipfix()
                else:
                    lab.clear_netflow()
                time.sleep(1.0)
                ns_drops = ns.close()
                lo_drops = lo.close()
                received = sink.close()
                frames = ns.frames()
            finally:
                servers.close()
            pods = _pods(lab)
            version = lab.version
        shutil.copyfile(work / "flows.pcap", out)
        flows = expect.flow_truth(frames, LAB_IPS)
        return {
            "made_with": "PYTHONPATH=$PWD python tests/ovs/make_captures.py --out tests/data",
            "ovs_version": version,
            "protocol": protocol,
            "config": config,
            "ovs_list": listed,
            "collector": f"127.0.0.1:{port}",
            "traffic_seconds": round(traffic_s, 2),
            "clients": clients,
            "datagrams_received_by_sink": received,
            "kernel_drops": {"lo": lo_drops, **ns_drops},
            "pods": pods,
            "flows": flows.drop("lengths").to_dicts(),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, default=Path("tests/data"))
    ap.add_argument("--port", type=int, default=6343, help="sFlow target port on 127.0.0.1")
    ap.add_argument("--only", choices=["sampling1", "default", *FLOW_PLANS])
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    why = missing_requirements()
    if why:
        print(f"cannot make captures: {why}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    plans = {
        # exact counts: every packet sampled; counters every 2 s
        "sampling1": {"sampling": 1, "polling": 2, "volume": SMALL, "linger": 5.0},
        # what OVN-Kubernetes configures: agent + target only, OVS defaults
        # (1-in-400, 128-byte headers, counters every 30 s): wait out one polling interval
        "default": {"sampling": None, "polling": None, "volume": BULK, "linger": 31.0},
    }
    for name, plan in plans.items():
        if args.only and name != args.only:
            continue
        pcap = args.out / f"ovs-{name}.pcap"
        info = capture(pcap, port=args.port, **plan)  # type: ignore[arg-type]
        (args.out / f"ovs-{name}.expected.json").write_text(
            json.dumps(info, indent=1, default=str) + "\n"
        )
        print(f"{pcap}: {pcap.stat().st_size} bytes, census {json.dumps(info['census'])}")
    for name, flow_plan in FLOW_PLANS.items():
        if args.only and name != args.only:
            continue
        pcap = args.out / f"ovs-{name}.pcap"
        info = capture_flow_records(pcap, **flow_plan)  # type: ignore[arg-type]
        (args.out / f"ovs-{name}.expected.json").write_text(
            json.dumps(info, indent=1, default=str) + "\n"
        )
        print(
            f"{pcap}: {pcap.stat().st_size} bytes, {info['datagrams_received_by_sink']} datagrams"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
