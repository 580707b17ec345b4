"""The lab's pods, their servers, known traffic between them, and captures of it.

The pods stand for an OpenShift cluster's: grafana -> prometheus-k8s-0 on 9090
(HTTP), kube-apiserver -> etcd on 2379, prometheus -> kube-apiserver on 6443,
grafana -> dns-default on UDP 53, and ICMP echo prometheus -> grafana (IPv4 and
IPv6). :func:`run_traffic` generates it; :class:`NsCaptures` records, inside
every namespace, what each pod sent (``tcpdump -Q out``), which is the ground
truth the sFlow results are compared with.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ovs_truth as truth
import polars as pl
from ovs_lab import LabError, OvsLab, Pod, run, spawn, stop, wait_for

log = logging.getLogger("flowlab.tests.ovs")

PEERS = Path(__file__).with_name("ovs_peers.py")

GRAFANA = Pod(
    name="grafana-5b8c7f9d6-k2xqp",
    namespace="openshift-monitoring",
    ip="10.128.2.7",
    ip6="fd01:0:0:5::7",
    short="grafana",
    node="worker-0",
    labels={"app.kubernetes.io/name": "grafana", "app.kubernetes.io/component": "grafana"},
    owner=("ReplicaSet", "grafana-5b8c7f9d6"),
)
PROMETHEUS = Pod(
    name="prometheus-k8s-0",
    namespace="openshift-monitoring",
    ip="10.129.2.9",
    ip6="fd01:0:0:6::9",
    short="prom",
    node="worker-1",
    labels={"app.kubernetes.io/name": "prometheus", "prometheus": "k8s"},
    owner=("StatefulSet", "prometheus-k8s"),
)
ETCD = Pod(
    name="etcd-master-1",
    namespace="openshift-etcd",
    ip="10.0.0.3",
    short="etcd",
    node="master-1",
    host_network=True,
    labels={"app": "etcd", "etcd": "true"},
    owner=("Node", "master-1"),
    ports=(2379, 2380),
)
APISERVER = Pod(
    name="kube-apiserver-master-0",
    namespace="openshift-kube-apiserver",
    ip="10.0.0.4",
    short="apisrv",
    node="master-0",
    host_network=True,
    labels={"app": "openshift-kube-apiserver", "apiserver": "true"},
    owner=("Node", "master-0"),
    ports=(6443,),
)
# The OpenShift API server: a regular pod (pod IP), and an etcd client too.
OPENSHIFT_APISERVER = Pod(
    name="apiserver-6b7c9d8f4-x7k2m",
    namespace="openshift-apiserver",
    ip="10.130.0.12",
    short="oapi",
    node="master-2",
    labels={"app": "openshift-apiserver-a", "apiserver": "true"},
    owner=("ReplicaSet", "apiserver-6b7c9d8f4"),
    ports=(8443,),
)
DNS = Pod(
    name="dns-default-7xk2p",
    namespace="openshift-dns",
    ip="10.128.0.5",
    short="dns",
    node="master-0",
    labels={"dns.operator.openshift.io/daemonset-dns": "default"},
    owner=("DaemonSet", "dns-default"),
)
#: the pods of the committed fixtures (tests/data/ovs-*.pcap)
PODS = (GRAFANA, PROMETHEUS, ETCD, APISERVER, DNS)
#: the pods of the end-to-end test
E2E_PODS = (*PODS, OPENSHIFT_APISERVER)

NODES = {
    "master-0": "10.0.0.4",
    "master-1": "10.0.0.3",
    "master-2": "10.0.0.5",
    "worker-0": "10.0.0.6",
    "worker-1": "10.0.0.7",
}

# which pod serves what
SERVERS = {
    "prom": ["--http", "9090"],
    "etcd": ["--tcp", "2379"],
    "apisrv": ["--tcp", "6443"],
    "dns": ["--udp", "53"],
}
# Bulk senders are paced: the userspace datapath drops (does not queue) what it
# cannot keep up with, and a dropped frame is neither forwarded nor sampled.
PACE = 8_000_000  # bytes/s


@dataclass(frozen=True)
class Volume:
    """How much of each kind of traffic :func:`run_traffic` sends."""

    http_gets: int = 3
    http_bytes: int = 20_000
    http6_bytes: int = 5_000
    etcd_conns: int = 5
    etcd_send: int = 300
    etcd_reply: int = 2_000
    api_conns: int = 3
    api_send: int = 500
    api_reply: int = 8_000
    dns_queries: int = 5
    pings: int = 5
    pings6: int = 3


SMALL = Volume()
# A few MB through the bridge, so that 1-in-400 sampling sees a few hundred packets.
BULK = Volume(
    http_gets=4, http_bytes=6_000_000, etcd_conns=4, etcd_send=3_000_000, etcd_reply=4_000
)


def _meta(name: str, namespace: str | None, **extra: object) -> dict[str, object]:
    meta: dict[str, object] = {
        "name": name,
        "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{namespace}/{name}")),
        "creationTimestamp": "2024-05-01T08:00:00Z",
    }
    if namespace:
        meta["namespace"] = namespace
    meta.update(extra)
    return meta


def inventory(pods: Sequence[Pod]) -> dict[str, object]:
    """The lab as ``oc get nodes,pods,replicasets,deployments,statefulsets,daemonsets -A -o json`` would show it."""
    items: list[dict[str, object]] = []
    for node, ip in NODES.items():
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": _meta(node, None),
                "status": {
                    "addresses": [
                        {"type": "InternalIP", "address": ip},
                        {"type": "Hostname", "address": node},
                    ]
                },
            }
        )
    for pod in pods:
        meta = _meta(pod.name, pod.namespace, labels=dict(pod.labels))
        if pod.owner:
            kind, owner = pod.owner
            api = "v1" if kind == "Node" else "apps/v1"
            meta["ownerReferences"] = [
                {
                    "apiVersion": api,
                    "kind": kind,
                    "name": owner,
                    "controller": True,
                    "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{kind}/{owner}")),
                }
            ]
            if kind == "ReplicaSet":
                deployment = owner.rsplit("-", 1)[0]
                items.append(
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "metadata": _meta(
                            owner,
                            pod.namespace,
                            ownerReferences=[
                                {
                                    "apiVersion": "apps/v1",
                                    "kind": "Deployment",
                                    "name": deployment,
                                    "controller": True,
                                    "uid": str(
                                        uuid.uuid5(uuid.NAMESPACE_DNS, f"Deployment/{deployment}")
                                    ),
                                }
                            ],
                        ),
                    }
                )
                items.append(
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "metadata": _meta(deployment, pod.namespace),
                    }
                )
            elif kind in ("StatefulSet", "DaemonSet"):
                items.append(
                    {"apiVersion": "apps/v1", "kind": kind, "metadata": _meta(owner, pod.namespace)}
                )
        ips = [{"ip": pod.ip}] + ([{"ip": pod.ip6}] if pod.ip6 else [])
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": meta,
                "spec": {
                    "nodeName": pod.node,
                    "hostNetwork": pod.host_network,
                    "containers": [
                        {
                            "name": pod.short,
                            "image": f"quay.io/openshift/{pod.short}:4.16",
                            "ports": [{"containerPort": p, "protocol": "TCP"} for p in pod.ports],
                        }
                    ],
                },
                "status": {
                    "phase": "Running",
                    "podIP": pod.ip,
                    "podIPs": ips,
                    "hostIP": NODES[pod.node],
                    "startTime": "2024-05-01T08:00:00Z",
                },
            }
        )
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


class Servers:
    """Start the lab's servers (one ``ovs_peers.py serve`` per serving pod); stop them on close."""

    def __init__(self, lab: OvsLab, *, lifetime: float = 300.0, pace: int = PACE) -> None:
        self.lab = lab
        self.procs: list[subprocess.Popen[bytes]] = []
        try:
            for short, args in SERVERS.items():
                if short not in lab.attached:
                    continue
                proc = spawn(
                    [
                        sys.executable,
                        str(PEERS),
                        "serve",
                        *args,
                        "--lifetime",
                        str(lifetime),
                        "--pace",
                        str(pace),
                    ],
                    netns=lab.ns(short),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
                self.procs.append(proc)
                self._await_ready(short, proc)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _await_ready(short: str, proc: subprocess.Popen[bytes]) -> None:
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout=10)
        if not line or line[0].strip() != b"ready":
            err = proc.stderr.read() if proc.poll() is not None and proc.stderr else b""
            msg = f"server in {short} did not get ready: {err.decode(errors='replace')[-500:]}"
            raise LabError(msg)

    def close(self) -> None:
        for proc in self.procs:
            stop(proc)
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        self.procs.clear()


def _peer(lab: OvsLab, short: str, *args: str, timeout: float = 60.0) -> dict[str, object]:
    out = lab.exec(short, sys.executable, str(PEERS), *args, timeout=timeout)
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def run_traffic(lab: OvsLab, volume: Volume = SMALL) -> dict[str, object]:
    """Generate the known traffic; return what the clients saw (all exchanges must succeed).

    In order: grafana -> prometheus HTTP :9090 (IPv4, then once over IPv6),
    kube-apiserver -> etcd TCP :2379, openshift-apiserver -> etcd :2379 (when
    that pod is in the lab), prometheus -> kube-apiserver TCP :6443,
    grafana -> dns UDP :53, prometheus -> grafana ICMP echo (IPv4, IPv6).
    """
    g, p, e, a, d = GRAFANA, PROMETHEUS, ETCD, APISERVER, DNS
    done: dict[str, object] = {}
    sizes = []
    for _ in range(volume.http_gets):
        out = lab.exec(
            "grafana",
            "curl",
            "-sS",
            "--max-time",
            "60",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}",
            f"http://{p.ip}:9090/bytes/{volume.http_bytes}",
            timeout=70,
        )
        sizes.append(int(out))
    if volume.http6_bytes:
        out = lab.exec(
            "grafana",
            "curl",
            "-sS",
            "--max-time",
            "30",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}",
            f"http://[{p.ip6}]:9090/bytes/{volume.http6_bytes}",
            timeout=40,
        )
        sizes.append(int(out))
    done["http"] = sizes
    done["etcd"] = _peer(
        lab,
        "apisrv",
        "tcp",
        e.ip,
        "2379",
        "--send",
        str(volume.etcd_send),
        "--reply",
        str(volume.etcd_reply),
        "--count",
        str(volume.etcd_conns),
        "--pace",
        str(PACE),
        timeout=120,
    )
    if "oapi" in lab.attached:
        done["oapi-etcd"] = _peer(
            lab,
            "oapi",
            "tcp",
            e.ip,
            "2379",
            "--send",
            str(volume.etcd_send),
            "--reply",
            str(volume.etcd_reply),
            "--count",
            str(max(1, volume.etcd_conns // 2)),
            "--pace",
            str(PACE),
            timeout=120,
        )
    done["api"] = _peer(
        lab,
        "prom",
        "tcp",
        a.ip,
        "6443",
        "--send",
        str(volume.api_send),
        "--reply",
        str(volume.api_reply),
        "--count",
        str(volume.api_conns),
    )
    done["dns"] = _peer(lab, "grafana", "dns", d.ip, "53", "--count", str(volume.dns_queries))
    if volume.pings:
        lab.exec("prom", "ping", "-q", "-c", str(volume.pings), "-i", "0.05", "-W", "2", g.ip)
    if volume.pings6:
        lab.exec(
            "prom", "ping", "-6", "-q", "-c", str(volume.pings6), "-i", "0.05", "-W", "2", g.ip6
        )
    expected_http = [volume.http_bytes] * volume.http_gets + (
        [volume.http6_bytes] if volume.http6_bytes else []
    )
    if sizes != expected_http:
        msg = f"HTTP downloads: expected sizes {expected_http}, got {sizes}"
        raise LabError(msg)
    return done


class Capture:
    """``tcpdump`` writing a pcap, started and stopped with waits that have timeouts."""

    def __init__(
        self,
        path: Path,
        iface: str,
        bpf: list[str],
        *,
        netns: str = "",
        extra: list[str] | None = None,
    ) -> None:
        self.path = path
        self.err_path = path.with_suffix(".tcpdump.log")
        self._err = self.err_path.open("wb")
        self.proc = spawn(
            # -Z root: dropping privileges would also drop PR_SET_PDEATHSIG
            [
                "tcpdump",
                "-Z",
                "root",
                "-i",
                iface,
                "-n",
                "-U",
                "-w",
                str(path),
                *(extra or []),
                *bpf,
            ],
            netns=netns,
            stdout=subprocess.DEVNULL,
            stderr=self._err,
        )
        wait_for(
            f"tcpdump on {iface} {netns}",
            lambda: b"listening on" in self.err_path.read_bytes() or self.proc.poll() is not None,
            timeout=10,
        )
        if self.proc.poll() is not None:
            msg = f"tcpdump failed: {self.err_path.read_text(errors='replace')}"
            raise LabError(msg)

    def close(self) -> int:
        """Stop tcpdump (SIGINT flushes the file); return packets the kernel dropped."""
        stop(self.proc, sig=signal.SIGINT, timeout=10)
        self._err.close()
        text = self.err_path.read_text(errors="replace")
        for line in text.splitlines():
            if "dropped by kernel" in line:
                return int(line.split()[0])
        return 0


class NsCaptures:
    """One capture per pod namespace (both directions, headers only).

    A frame whose source MAC is the pod's own was sent by the pod into the
    bridge ("out"); any other frame was delivered by the bridge to it ("in").
    """

    def __init__(self, lab: OvsLab, outdir: Path, *, snaplen: int = 128) -> None:
        self.lab = lab
        self.caps: dict[str, Capture] = {}
        try:
            for short in lab.attached:
                self.caps[short] = Capture(
                    outdir / f"ns-{short}.pcap",
                    "eth0",
                    [],
                    netns=lab.ns(short),
                    extra=["-s", str(snaplen)],
                )
        except BaseException:
            self.close()
            raise

    def close(self) -> dict[str, int]:
        """Stop every capture; return the kernel drop count of each (all must be 0)."""
        return {short: cap.close() for short, cap in self.caps.items()}

    def frames(self) -> pl.DataFrame:
        """Every captured frame with columns ``pod`` (short name) and ``dir`` ("out"/"in")."""
        parts = []
        for short, cap in self.caps.items():
            mac = self.lab.attached[short].mac
            parts.append(
                truth.frames(cap.path).with_columns(
                    pod=pl.lit(short),
                    dir=pl.when(pl.col("src_mac") == mac)
                    .then(pl.lit("out"))
                    .otherwise(pl.lit("in")),
                )
            )
        return pl.concat(parts)


class UdpSink:
    """A bare UDP receiver on 127.0.0.1 (stands in for a collector while capturing fixtures)."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.datagrams = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sock.recv(65535)
                self.datagrams += 1
            except TimeoutError:
                continue

    def close(self) -> int:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
        return self.datagrams


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settle(seconds: float) -> None:
    """Give OVS time to flush its sample buffer (it sends at least once a second)."""
    time.sleep(seconds)


__all__ = [
    "BULK",
    "E2E_PODS",
    "PODS",
    "SMALL",
    "Capture",
    "NsCaptures",
    "Servers",
    "UdpSink",
    "Volume",
    "free_udp_port",
    "inventory",
    "run",
    "run_traffic",
    "settle",
]
