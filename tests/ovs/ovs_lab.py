"""A throw-away Open vSwitch lab: ovsdb-server + ovs-vswitchd started by hand, a
userspace bridge (``datapath_type=netdev``) and one network namespace per "pod",
each joined to the bridge by a veth pair.

Nothing here touches the machine's own network: every address lives inside the
lab's namespaces (sFlow goes to 127.0.0.1). Every wait has a timeout, and
:meth:`OvsLab.close` (also run by ``with OvsLab(...)`` and by pytest finalizers)
removes what was made, even after a failure half-way through ``start``. The
daemons get ``PR_SET_PDEATHSIG`` so they die with the process that started them,
and :func:`sweep_leftovers` removes namespaces of labs whose owner process is
gone (all lab names carry the owner's pid).

Needs root, ``ovsdb-server``/``ovs-vswitchd``/``ovs-vsctl``/``ovsdb-tool``
(Debian ``openvswitch-switch``), ``ip`` (iproute2) and ``ethtool``.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("flowlab.tests.ovs")

SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
NEEDED = (
    "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovsdb-tool", "ip", "ethtool", "tcpdump",
    "sysctl", "curl", "ping",
)  # fmt: skip
PREFIX = "flowlab"  # every netns is named flowlab-<owner pid>-<lab id>-<pod short name>
CMD_TIMEOUT = 20.0


class LabError(RuntimeError):
    """The lab could not be built or driven (the message carries the command and its output)."""


def missing_requirements() -> str | None:
    """Say why the lab cannot run here, or return None when it can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth pairs, ovs-vswitchd)"
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    if missing:
        return (
            f"missing tools: {', '.join(missing)} "
            "(apt-get install openvswitch-switch iproute2 ethtool tcpdump procps curl iputils-ping)"
        )
    if not SCHEMA.exists():
        return f"Open vSwitch schema {SCHEMA} not found (apt-get install openvswitch-switch)"
    return None


def run(
    argv: Sequence[str], *, timeout: float = CMD_TIMEOUT, check: bool = True, netns: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run a command (optionally inside a namespace) with a timeout; raise LabError on failure."""
    full = ["ip", "netns", "exec", netns, *argv] if netns else list(argv)
    try:
        proc = subprocess.run(full, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        msg = f"timed out after {timeout:.0f}s: {' '.join(full)}"
        raise LabError(msg) from exc
    if check and proc.returncode != 0:
        msg = (
            f"command failed (exit {proc.returncode}): {' '.join(full)}\n"
            f"stdout: {proc.stdout.strip()}\nstderr: {proc.stderr.strip()}"
        )
        raise LabError(msg)
    return proc


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(argv: Sequence[str], *, netns: str = "", **kwargs: object) -> subprocess.Popen[bytes]:
    """Start a background process (dies with this process); the caller must stop it."""
    full = ["ip", "netns", "exec", netns, *argv] if netns else list(argv)
    return subprocess.Popen(full, preexec_fn=_die_with_parent, **kwargs)  # type: ignore[call-overload]


def stop(
    proc: subprocess.Popen[bytes] | None, *, sig: int = signal.SIGTERM, timeout: float = 5.0
) -> None:
    """Stop a process started by :func:`spawn`: `sig`, then SIGKILL after `timeout`."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def wait_for(
    what: str, predicate: object, *, timeout: float = 10.0, interval: float = 0.05
) -> None:
    """Poll ``predicate()`` until true, or raise LabError naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(interval)
    msg = f"timed out after {timeout:.0f}s waiting for {what}"
    raise LabError(msg)


def sweep_leftovers() -> list[str]:
    """Delete what labs of dead processes left: their namespaces (and so their veths) and bridge.

    Only a process killed with SIGKILL leaves anything (its daemons, servers and
    captures die with it through ``PR_SET_PDEATHSIG``). Returns what was removed.
    """
    proc = run(["ip", "netns", "list"], check=False)
    removed = []
    for line in proc.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(rf"{PREFIX}-(\d+)-([0-9a-f]+)-\w+", name)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            run(["ip", "netns", "delete", name], check=False)
            removed.append(name)
            bridge = f"flbr{m.group(2)}"
            if Path(f"/sys/class/net/{bridge}").exists():
                run(["ip", "link", "delete", bridge], check=False)
                removed.append(bridge)
    for d in Path(tempfile.gettempdir()).glob(f"{PREFIX}-ovs-*"):
        m = re.match(rf"{PREFIX}-ovs-(\d+)-", d.name)
        if m and d.is_dir() and not Path(f"/proc/{m.group(1)}").exists():
            shutil.rmtree(d, ignore_errors=True)
            removed.append(str(d))
    return removed


@dataclass(frozen=True)
class Pod:
    """A namespace standing for a Kubernetes pod.

    ``ip`` is its IPv4 address (for host-network pods: the node's address);
    ``ip6`` an optional IPv6 address. ``namespace``/``node``/``labels`` and
    ``owner`` (kind, name) only feed the inventory the test writes.
    """

    name: str
    namespace: str
    ip: str
    short: str
    node: str
    ip6: str = ""
    host_network: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    owner: tuple[str, str] | None = None
    ports: tuple[int, ...] = ()


@dataclass
class Attached:
    """A pod as attached to the bridge."""

    pod: Pod
    netns: str
    host_if: str
    ifindex: int = 0
    mac: str = ""


class OvsLab:
    """ovsdb-server + ovs-vswitchd + a userspace bridge + namespaces, all owned by this object.

    Use as a context manager; ``start()`` is idempotent-safe with ``close()``
    (which undoes whatever got built, in reverse order, and never raises).
    """

    def __init__(
        self, pods: Sequence[Pod], *, workdir: str | os.PathLike[str] | None = None
    ) -> None:
        self.pods = list(pods)
        self.lab_id = uuid.uuid4().hex[:6]
        self.tag = f"{os.getpid()}-{self.lab_id}"
        self.bridge = f"flbr{self.lab_id}"
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix=f"{PREFIX}-ovs-{self.tag}-"))
        self.db_sock = self.dir / "db.sock"
        self.attached: dict[str, Attached] = {}
        self._ovsdb: subprocess.Popen[bytes] | None = None
        self._vswitchd: subprocess.Popen[bytes] | None = None
        self._bridge_added = False
        self._closed = False

    # ---------------------------------------------------------------- daemons
    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(OVS_RUNDIR=str(self.dir), OVS_LOGDIR=str(self.dir), OVS_DBDIR=str(self.dir))
        return env

    def vsctl(self, *args: str, timeout: float = CMD_TIMEOUT) -> str:
        """Run ``ovs-vsctl`` against this lab's database; wait for vswitchd to apply it."""
        argv = ["ovs-vsctl", f"--db=unix:{self.db_sock}", f"--timeout={int(timeout)}", *args]
        return run(argv, timeout=timeout + 5).stdout.strip()

    def _start_daemons(self) -> None:
        d = self.dir
        run(["ovsdb-tool", "create", str(d / "conf.db"), str(SCHEMA)])
        common = ["--no-chdir", "-vconsole:off", "-vfile:info"]
        self._ovsdb = spawn(
            [
                "ovsdb-server",
                str(d / "conf.db"),
                f"--remote=punix:{self.db_sock}",
                f"--pidfile={d / 'ovsdb-server.pid'}",
                f"--unixctl={d / 'ovsdb-server.ctl'}",
                f"--log-file={d / 'ovsdb-server.log'}",
                *common,
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for("ovsdb-server socket", self.db_sock.exists, timeout=10)
        run(["ovs-vsctl", f"--db=unix:{self.db_sock}", "--no-wait", "init"])
        self._vswitchd = spawn(
            [
                "ovs-vswitchd",
                f"unix:{self.db_sock}",
                f"--pidfile={d / 'ovs-vswitchd.pid'}",
                f"--unixctl={d / 'ovs-vswitchd.ctl'}",
                f"--log-file={d / 'ovs-vswitchd.log'}",
                *common,
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for("ovs-vswitchd control socket", (d / "ovs-vswitchd.ctl").exists, timeout=15)
        for proc, name in ((self._ovsdb, "ovsdb-server"), (self._vswitchd, "ovs-vswitchd")):
            if proc.poll() is not None:
                msg = f"{name} exited with {proc.returncode}; see {d}/{name}.log"
                raise LabError(msg)

    @property
    def version(self) -> str:
        out = run(["ovs-vswitchd", "--version"]).stdout
        return out.splitlines()[0].strip()

    # ----------------------------------------------------------------- network
    def _attach(self, index: int, pod: Pod) -> Attached:
        netns = f"{PREFIX}-{self.tag}-{pod.short}"
        host_if = f"fl{self.lab_id}v{index}"
        att = Attached(pod, netns, host_if)
        run(["ip", "netns", "add", netns])
        self.attached[pod.short] = att
        run(["ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", netns])
        ns = netns
        # IPv6: no DAD, no router solicitations; keep it on so IPv6 traffic can be made.
        for key, value in (
            ("net.ipv6.conf.all.accept_dad", "0"),
            ("net.ipv6.conf.default.accept_dad", "0"),
            ("net.ipv6.conf.eth0.accept_dad", "0"),
            ("net.ipv6.conf.eth0.router_solicitations", "0"),
        ):
            run(["sysctl", "-qw", f"{key}={value}"], netns=ns)
        run(["ip", "addr", "add", f"{pod.ip}/32", "dev", "eth0"], netns=ns)
        if pod.ip6:
            run(["ip", "-6", "addr", "add", f"{pod.ip6}/128", "dev", "eth0", "nodad"], netns=ns)
        run(["ip", "link", "set", "lo", "up"], netns=ns)
        run(["ip", "link", "set", "eth0", "up"], netns=ns)
        run(["ip", "route", "add", "10.0.0.0/8", "dev", "eth0"], netns=ns)
        if pod.ip6:
            run(["ip", "-6", "route", "add", "fd00::/8", "dev", "eth0"], netns=ns)
        # TCP through the userspace datapath needs real checksums in the packets:
        # turn TX checksum offload (and with it TSO/GSO) off inside the namespace.
        run(["ethtool", "-K", "eth0", "tx", "off", "tso", "off", "gso", "off"], netns=ns)
        run(["ethtool", "-K", host_if, "gro", "off"], check=False)
        run(["ip", "link", "set", host_if, "up"])
        att.mac = run(["cat", "/sys/class/net/eth0/address"], netns=ns).stdout.strip()
        self.vsctl("add-port", self.bridge, host_if)
        att.ifindex = int(Path(f"/sys/class/net/{host_if}/ifindex").read_text())
        return att

    def start(self) -> OvsLab:
        """Build everything; on failure undo what was built and re-raise."""
        try:
            sweep_leftovers()
            self._start_daemons()
            self.vsctl(
                "add-br", self.bridge, "--", "set", "bridge", self.bridge, "datapath_type=netdev"
            )
            self._bridge_added = True
            for i, pod in enumerate(self.pods):
                self._attach(i, pod)
            log.info("OVS lab %s up: bridge %s, %d pods", self.tag, self.bridge, len(self.pods))
        except BaseException:
            self.close()
            raise
        return self

    # ------------------------------------------------------------------- sFlow
    def set_sflow(
        self,
        target: str,
        *,
        agent: str = "lo",
        sampling: int | None = None,
        polling: int | None = None,
        header: int | None = None,
    ) -> str:
        """Configure sFlow the way OVN-Kubernetes does, replacing any previous config.

        OVN-Kubernetes sets only ``agent`` and ``targets``; OVS then applies its
        defaults (sampling 1-in-400, header 128 bytes, polling 30 s, see
        ``ovs-vswitchd.conf.db(5)``). `sampling`/`polling`/`header` override them.
        A new configuration restarts the datagram sequence at 1.
        """
        self.clear_sflow()
        extra = [
            f"{k}={v}"
            for k, v in (("sampling", sampling), ("polling", polling), ("header", header))
            if v is not None
        ]
        self.vsctl(
            "--",
            "--id=@s",
            "create",
            "sflow",
            f"agent={agent}",
            f'targets="{target}"',
            *extra,
            "--",
            "set",
            "bridge",
            self.bridge,
            "sflow=@s",
        )
        return self.vsctl("list", "sflow")

    def clear_sflow(self) -> None:
        """Remove the bridge's sFlow configuration (stops exporting)."""
        self.vsctl("clear", "bridge", self.bridge, "sflow")

    # ------------------------------------------------------------ IPFIX, NetFlow
    def set_ipfix(
        self,
        target: str,
        *,
        sampling: int | None = None,
        cache_active_timeout: int | None = None,
        cache_max_flows: int | None = None,
        obs_domain_id: int | None = None,
        obs_point_id: int | None = None,
    ) -> str:
        """Configure bridge IPFIX, replacing any previous config; return ``list ipfix``.

        OVN-Kubernetes (``exportNetworkFlows.ipfix``) sets ``targets``, ``sampling``
        (400 unless ``IPFIX_SAMPLING`` says otherwise) and ``cache_active_timeout``
        (60), and leaves ``cache_max_flows`` unset, which turns the flow cache off;
        NetObserv's FlowCollector (IPFIX agent) also sets ``cache_max_flows``.
        OVS's ``other_config:enable-input-sampling``/``enable-output-sampling``
        default to true, so each sampled packet is reported once per direction.
        """
        self.clear_ipfix()
        extra = [
            f"{k}={v}"
            for k, v in (
                ("sampling", sampling),
                ("cache_active_timeout", cache_active_timeout),
                ("cache_max_flows", cache_max_flows),
                ("obs_domain_id", obs_domain_id),
                ("obs_point_id", obs_point_id),
            )
            if v is not None
        ]
        self.vsctl(
            "--", "--id=@i", "create", "ipfix", f'targets="{target}"', *extra,
            "--", "set", "bridge", self.bridge, "ipfix=@i",
        )  # fmt: skip
        return self.vsctl("list", "ipfix")

    def clear_ipfix(self) -> None:
        """Remove the bridge's IPFIX configuration (flushes OVS's flow cache)."""
        self.vsctl("clear", "bridge", self.bridge, "ipfix")

    def set_netflow(
        self, target: str, *, active_timeout: int | None = None, engine_id: int | None = None
    ) -> str:
        """Configure NetFlow (v5, every flow, unsampled), replacing any previous config."""
        self.clear_netflow()
        extra = [
            f"{k}={v}"
            for k, v in (("active_timeout", active_timeout), ("engine_id", engine_id))
            if v is not None
        ]
        self.vsctl(
            "--", "--id=@n", "create", "netflow", f'targets="{target}"', *extra,
            "--", "set", "bridge", self.bridge, "netflow=@n",
        )  # fmt: skip
        return self.vsctl("list", "netflow")

    def clear_netflow(self) -> None:
        """Remove the bridge's NetFlow configuration (pending records are dropped)."""
        self.vsctl("clear", "bridge", self.bridge, "netflow")

    # ----------------------------------------------------------------- helpers
    def ns(self, short: str) -> str:
        return self.attached[short].netns

    def exec(self, short: str, *argv: str, timeout: float = CMD_TIMEOUT) -> str:
        """Run a command inside a pod's namespace and return its stdout."""
        return run(argv, netns=self.ns(short), timeout=timeout).stdout

    def link_stats(self, short: str) -> dict[str, int]:
        """tx/rx packets and bytes of the pod's eth0 (as the pod sees them)."""
        base = "/sys/class/net/eth0/statistics"
        names = ("tx_packets", "tx_bytes", "rx_packets", "rx_bytes")
        out = self.exec(short, "cat", *(f"{base}/{n}" for n in names))
        return dict(zip(names, map(int, out.split())))

    # ----------------------------------------------------------------- cleanup
    def close(self) -> None:
        """Undo everything (never raises); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._bridge_added and self._vswitchd is not None and self._vswitchd.poll() is None:
            try:
                self.vsctl("--if-exists", "del-br", self.bridge, timeout=10)
            except LabError as exc:
                log.warning("OVS lab %s: del-br failed: %s", self.tag, exc)
        stop(self._vswitchd)
        stop(self._ovsdb)
        for att in self.attached.values():
            run(["ip", "netns", "delete", att.netns], check=False)
            run(["ip", "link", "delete", att.host_if], check=False)
        # The bridge's internal port is a tap device; remove it if vswitchd did not.
        if Path(f"/sys/class/net/{self.bridge}").exists():
            run(["ip", "link", "delete", self.bridge], check=False)
        if self._own_dir and os.environ.get("FLOWLAB_KEEP_OVS_LAB") is None:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> OvsLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
