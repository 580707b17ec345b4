"""What sFlow costs a userspace Open vSwitch bridge, and what flowlab's collector makes of it.

Run as root from the repository root (needs the tools of ``tests/ovs``)::

    PYTHONPATH=$PWD python benchmarks/bench_ovs_bridge.py [--mb 20] [--repeat 3]

For each sFlow setting (off = the baseline of this run; OVS defaults, i.e.
1-in-400 as OVN-Kubernetes configures it; 1-in-1) it downloads ``--repeat``
times ``--mb`` MB over HTTP from the prometheus pod to the grafana pod through
the bridge, unpaced, into flowlab's :class:`~flowlab.collect.collector.Collector`
on 127.0.0.1, and prints: throughput, frames the server sent vs frames the
client received (the userspace datapath drops what it cannot keep up with),
sFlow samples and datagrams decoded, and the estimate of the frames that
crossed the bridge (samples x rate) next to the count.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "ovs"))

from ovs_lab import OvsLab, missing_requirements  # noqa: E402
from ovs_traffic import GRAFANA, PROMETHEUS, Servers  # noqa: E402

from flowlab.collect.collector import Collector  # noqa: E402


def one(lab: OvsLab, setting: str, mb: int, repeat: int) -> dict[str, float]:
    col = Collector("127.0.0.1:0").start()
    try:
        if setting == "1-in-400 (defaults)":
            lab.set_sflow(f"127.0.0.1:{col.address[1]}")
        elif setting == "1-in-1":
            lab.set_sflow(f"127.0.0.1:{col.address[1]}", sampling=1)
        tx0, rx0 = lab.link_stats("prom")["tx_packets"], lab.link_stats("grafana")["rx_packets"]
        t0 = time.perf_counter()
        for _ in range(repeat):
            got = lab.exec(
                "grafana", "curl", "-sS", "--max-time", "120", "-o", "/dev/null", "-w",
                "%{size_download}", f"http://{PROMETHEUS.ip}:9090/bytes/{mb * 1_000_000}",
                timeout=130,
            )  # fmt: skip
            assert int(got) == mb * 1_000_000, got
        seconds = time.perf_counter() - t0
        sent = lab.link_stats("prom")["tx_packets"] - tx0
        delivered = lab.link_stats("grafana")["rx_packets"] - rx0
        time.sleep(1.5)  # OVS flushes its sample buffer every second
        if setting != "off":
            lab.clear_sflow()
    finally:
        stats = col.stop()
    flows = col.flows()
    data = flows.filter(
        (flows["src_ip"] == PROMETHEUS.ip) & (flows["dst_ip"] == GRAFANA.ip)
    )  # the download direction
    return {
        "MB/s": repeat * mb / seconds,
        "sent": sent,
        "delivered": delivered,
        "lost %": 100.0 * (sent - delivered) / max(sent, 1),
        "datagrams": stats.datagrams,
        "samples": data.height,
        "est. frames": float(data["packets"].sum()) if data.height else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--mb", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    why = missing_requirements()
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    rows = {}
    with OvsLab([GRAFANA, PROMETHEUS]) as lab:
        servers = Servers(lab, pace=0)  # unpaced: find the bridge's limit
        try:
            lab.exec(
                "grafana",
                "curl",
                "-sS",
                "-o",
                "/dev/null",
                f"http://{PROMETHEUS.ip}:9090/bytes/1000",
            )
            for setting in ("off", "1-in-400 (defaults)", "1-in-1"):
                rows[setting] = one(lab, setting, args.mb, args.repeat)
        finally:
            servers.close()
        version = lab.version
    base = rows["off"]["MB/s"]
    print(f"{version}, userspace bridge, {args.repeat} x {args.mb} MB HTTP, unpaced")
    head = [
        "sFlow",
        "MB/s",
        "vs off",
        "frames sent",
        "delivered",
        "lost %",
        "datagrams",
        "samples",
        "est. frames crossed",
    ]
    print(" | ".join(head))
    for name, r in rows.items():
        print(
            f"{name} | {r['MB/s']:.1f} | {r['MB/s'] / base:.2f}x | {r['sent']:.0f} | {r['delivered']:.0f} | "
            f"{r['lost %']:.1f} | {r['datagrams']:.0f} | {r['samples']:.0f} | {r['est. frames']:.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
