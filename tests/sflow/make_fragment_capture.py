"""Make ``tests/data/fragmented.pcap``: sFlow datagrams larger than the MTU, fragmented by Linux.

Run as root (network namespaces)::

    PYTHONPATH=$PWD python tests/sflow/make_fragment_capture.py --out tests/data

Two namespaces joined by a veth pair with a 1500-byte MTU. tcpdump inside the receiving one
captures what the kernel of the sending one puts on the wire:

- sFlow datagrams of several sizes, from below the MTU to about 9 kB, over IPv4 and IPv6, sent
  by a plain UDP socket to port 6343;
- one large datagram to another port;
- a UDP sink bound to port 6343.

Next to the capture, ``fragmented.expected.json`` lists every sFlow datagram that was sent
(base64) and how it was sent.
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flowlab.sflow.encode import encode_datagram
from flowlab.sflow.packet import raw_header
from flowlab.sflow.records import Datagram, FlowSample

NS_TX, NS_RX = "flowlab-frag-tx", "flowlab-frag-rx"
V4_TX, V4_RX = "192.0.2.1", "192.0.2.2"
V6_TX, V6_RX = "2001:db8::1", "2001:db8::2"


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True)


def datagram(sequence: int, samples: int) -> bytes:
    flows = [
        FlowSample(
            sequence=sequence * 100 + k,
            source_id=3,
            sampling_rate=400,
            sample_pool=400 * (k + 1),
            records=[
                raw_header(
                    f"10.128.2.{k % 250 + 1}", "10.129.2.9", 6, 40000 + k, 9091, payload_length=1000
                )
            ],
            input_if=3,
            output_if=1,
        )
        for k in range(samples)
    ]
    return encode_datagram(Datagram("10.0.0.21", sequence, 1000 * sequence, flows))


SENDER = """
import base64, json, socket, sys, time
plan = json.loads(sys.stdin.read())
for item in plan:
    family = socket.AF_INET6 if ":" in item["to"] else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.sendto(base64.b64decode(item["data"]), (item["to"], item["port"]))
    s.close()
    time.sleep(0.02)
"""

SINK = """
import socket, sys, time
socks = []
for family, host in ((socket.AF_INET, sys.argv[1]), (socket.AF_INET6, sys.argv[2])):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((host, 6343))
    socks.append(s)
print("ready", flush=True)
time.sleep(float(sys.argv[3]))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("tests/data"))
    args = ap.parse_args()
    plan = []
    for i, (samples, to) in enumerate(
        [(2, V4_RX), (20, V4_RX), (45, V4_RX), (3, V6_RX), (25, V6_RX), (45, V6_RX), (12, V4_RX)],
        start=1,
    ):
        plan.append({"to": to, "port": 6343, "sflow": True,
                     "data": base64.b64encode(datagram(i, samples)).decode()})  # fmt: skip
    plan.insert(3, {"to": V4_RX, "port": 9999, "sflow": False,
                    "data": base64.b64encode(bytes(range(256)) * 16).decode()})  # fmt: skip
    for ns in (NS_TX, NS_RX):
        subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
    try:
        sh("ip", "netns", "add", NS_TX)
        sh("ip", "netns", "add", NS_RX)
        sh("ip", "link", "add", "fragtx", "netns", NS_TX, "type", "veth", "peer", "fragrx",
           "netns", NS_RX)  # fmt: skip
        for ns, dev, v4, v6 in ((NS_TX, "fragtx", V4_TX, V6_TX), (NS_RX, "fragrx", V4_RX, V6_RX)):
            sh("ip", "-n", ns, "link", "set", dev, "mtu", "1500", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "addr", "add", f"{v4}/24", "dev", dev)
            sh("ip", "-n", ns, "addr", "add", f"{v6}/64", "dev", dev, "nodad")
            # real fragments on the wire: no offloads that would hand tcpdump one big packet
            subprocess.run(["ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off", "tso",
                            "off", "gso", "off", "gro", "off"], check=False, capture_output=True)  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            pcap = Path(tmp) / "fragmented.pcap"
            sink = subprocess.Popen(["ip", "netns", "exec", NS_RX, sys.executable, "-c", SINK,
                                     V4_RX, V6_RX, "10"], stdout=subprocess.PIPE, text=True)  # fmt: skip
            assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
            dump = subprocess.Popen(["ip", "netns", "exec", NS_RX, "tcpdump", "-i", "fragrx",
                                     "-w", str(pcap), "-U", "udp or ip6"],
                                    stderr=subprocess.DEVNULL)  # fmt: skip
            time.sleep(1.5)
            subprocess.run(["ip", "netns", "exec", NS_TX, sys.executable, "-c", SENDER],
                           input=json.dumps(plan), text=True, check=True)  # fmt: skip
            time.sleep(1.0)
            dump.terminate()
            dump.wait(timeout=10)
            sink.terminate()
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "fragmented.pcap").write_bytes(pcap.read_bytes())
        expected = {
            "made_with": "tests/sflow/make_fragment_capture.py (veth pair, MTU 1500, Linux "
            "fragmentation, tcpdump in the receiving namespace)",
            "sent": plan,
            "sflow_port": 6343,
        }
        (args.out / "fragmented.expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    finally:
        for ns in (NS_TX, NS_RX):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


if __name__ == "__main__":
    main()
