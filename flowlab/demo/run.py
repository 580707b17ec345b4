"""``flowlab demo``: send the simulated cluster's sFlow (or IPFIX, NetFlow v9) over UDP into the real collector.

:func:`run` simulates the window, starts a :class:`~flowlab.collect.collector.Collector`
on a free loopback port writing Parquet into the output directory, sends every
datagram from one UDP socket per agent (node), paced so that the simulated
window takes a few seconds, stops the collector (which drains and flushes
everything), writes ``inventory.json`` and summarises what arrived.

The output directory then holds ``flows/`` and ``counters/`` (hour-partitioned
Parquet, read them with :func:`flowlab.store.read_capture`) and
``inventory.json``. A previous demo in the same directory is replaced; any
other non-empty directory is refused. The collector stamps each datagram with
its simulated send time, so the capture holds the same rows at the same times
as :func:`flowlab.demo.load`. :func:`send` sends the datagrams to another
collector instead (``flowlab demo --send HOST:PORT``).

With ``protocol="ipfix"`` or ``"netflow"`` (``flowlab demo --protocol ipfix``)
the nodes send the same sampled packets as IPFIX or NetFlow v9 flow records
(:mod:`flowlab.demo.flow_records`), each node from a loopback address of its
own (the exporter), and the collector decodes that protocol: the capture has
the same flows and the same estimated volumes (no counters: those are sFlow's).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from tqdm.auto import tqdm

from flowlab.collect.collector import Collector, CollectorStats
from flowlab.demo.inventory import write_inventory
from flowlab.demo.simulation import DEFAULT_START, Simulation, simulate
from flowlab.exceptions import ConfigError
from flowlab.store import KINDS, read_capture

__all__ = ["GRAFANA_IP", "DemoResult", "facts", "run", "send"]

log = logging.getLogger("flowlab.demo")

GRAFANA_IP = "10.128.2.7"
_MARKER = ".flowlab-demo"


@dataclass
class DemoResult:
    """What :func:`run` did and found.

    Attributes
    ----------
    out_dir, inventory_path : Path
    seconds, seed : simulated duration and seed
    datagrams_sent, flow_samples_sent, counter_samples_sent : int
    collector : CollectorStats
        What the collector counted (received, decoded, written, lost).
    send_seconds, wall_seconds : float
        Time spent sending, and the whole run.
    grafana_peers : list of str
        Addresses grafana (10.128.2.7) exchanged packets with.
    api_clients : int
        Distinct clients of the Kubernetes API (172.30.0.1:443 or :6443).
    etcd_client_originators : list of str
        Clients of etcd-client (TCP 2379) connections.
    top_talkers : polars.DataFrame
        Top client/server pairs by estimated bytes, with names.
    protocol : str
        What was sent: ``"sflow"``, ``"ipfix"`` or ``"netflow"`` (NetFlow v9).
    """

    out_dir: Path
    inventory_path: Path
    seconds: float
    seed: int
    datagrams_sent: int
    flow_samples_sent: int
    counter_samples_sent: int
    collector: CollectorStats
    send_seconds: float
    wall_seconds: float
    grafana_peers: list[str] = field(default_factory=list)
    api_clients: int = 0
    etcd_client_originators: list[str] = field(default_factory=list)
    top_talkers: pl.DataFrame = field(default_factory=pl.DataFrame)
    protocol: str = "sflow"

    @property
    def lost(self) -> int:
        """Datagrams sent but not received (0 on a healthy run)."""
        return self.datagrams_sent - self.collector.datagrams

    def summary(self) -> str:
        """A short text summary for the terminal."""
        c = self.collector
        drops = "?" if c.kernel_drops is None else str(c.kernel_drops)
        what = {"sflow": "sFlow", "ipfix": "IPFIX", "netflow": "NetFlow v9"}[self.protocol]
        if self.protocol == "sflow":
            samples = (
                f"  samples: {c.flow_samples:,} flow (sent {self.flow_samples_sent:,}), "
                f"{c.counter_samples:,} counters (sent {self.counter_samples_sent:,})"
            )
        else:
            samples = f"  flow records: {c.flows:,} (sent {self.flow_samples_sent:,})"
        lines = [
            f"flowlab demo: {self.seconds:g} s of a 6-node OpenShift cluster (seed {self.seed}) "
            f"sent as {what} over UDP in {self.send_seconds:.1f} s",
            f"  datagrams sent {self.datagrams_sent:,}, received {c.datagrams:,}, lost {self.lost:,} "
            f"(kernel drops {drops}, sequence gaps {c.sequence_lost:,}, decode errors {c.errors:,})",
            samples,
            f"  grafana {GRAFANA_IP} talks to {len(self.grafana_peers)} peers: "
            + ", ".join(self.grafana_peers),
            f"  Kubernetes API clients (172.30.0.1:443, :6443): {self.api_clients}",
            "  etcd-client (TCP 2379) originators: " + ", ".join(self.etcd_client_originators),
            "  top talkers (estimated bytes):",
        ]
        for row in self.top_talkers.iter_rows(named=True):
            lines.append(
                f"    {row['client']:<46} -> {row['server']:<40} {row['service_name']:<14} "
                f"{_human(row['bytes'])}"
            )
        lines.append(
            f"  wrote {self.out_dir}/flows, {self.out_dir}/counters ({c.files} Parquet files) "
            f"and {self.inventory_path.name} in {self.wall_seconds:.1f} s"
        )
        return "\n".join(lines)


def _human(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:,.1f} {unit}"
        value /= 1000
    return f"{value:,.1f} TB"  # pragma: no cover


def facts(frame: pl.DataFrame, names: dict[str, str] | None = None) -> dict[str, object]:
    """The summary facts of a demo flow frame: grafana's peers, API clients, etcd originators, top talkers.

    Examples
    --------
    >>> from flowlab.demo.simulation import load
    >>> f = facts(load(seconds=120, seed=0).flows)
    >>> "10.129.2.9" in f["grafana_peers"], f["etcd_client_originators"]
    (True, ['10.0.0.11', '10.0.0.12', '10.0.0.13'])
    """
    names = names or {}
    lf = frame.lazy()
    peers = (
        lf.filter((pl.col("src_ip") == GRAFANA_IP) | (pl.col("dst_ip") == GRAFANA_IP))
        .select(
            pl.when(pl.col("src_ip") == GRAFANA_IP)
            .then(pl.col("dst_ip"))
            .otherwise(pl.col("src_ip"))
        )
        .unique()
        .collect()
        .to_series()
        .sort()
        .to_list()
    )
    api = (
        lf.filter(
            (pl.col("service_port") == 6443)
            | ((pl.col("server_ip") == "172.30.0.1") & (pl.col("service_port") == 443))
        )
        .select(pl.col("client_ip").n_unique())
        .collect()
        .item()
    )
    etcd = (
        lf.filter((pl.col("service_port") == 2379) & (pl.col("protocol") == 6))
        .select(pl.col("client_ip").unique().sort())
        .collect()
        .to_series()
        .to_list()
    )
    top = (
        lf.filter(pl.col("client_ip").is_not_null())
        .group_by("client_ip", "server_ip", "service_name")
        .agg(pl.col("bytes").sum())
        .sort("bytes", descending=True)
        .head(5)
        .collect()
    )
    label = {ip: f"{ip} ({name})" for ip, name in names.items()}
    top = top.with_columns(
        pl.col("client_ip").replace(label).alias("client"),
        pl.col("server_ip").replace(label).alias("server"),
    )
    return {
        "grafana_peers": [label.get(p, p) if names else p for p in peers],
        "api_clients": int(api),
        "etcd_client_originators": etcd,
        "top_talkers": top.select("client", "server", "service_name", "bytes"),
    }


def _prepare(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        msg = f"--out {out_dir} is a file; give a directory for the demo output"
        raise ConfigError(msg)
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not (out_dir / _MARKER).exists():
            msg = (
                f"{out_dir} is not empty and holds no previous flowlab demo; "
                "choose an empty or new --out directory"
            )
            raise ConfigError(msg)
        for kind in KINDS:
            shutil.rmtree(out_dir / kind, ignore_errors=True)
        (out_dir / "inventory.json").unlink(missing_ok=True)
        for state in out_dir.glob(".*-state.json"):  # a previous run's templates and sequences
            state.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / _MARKER).write_text(
        "written by `flowlab demo`; the directory is replaced on rerun\n"
    )


def _send(
    sim: Simulation,
    address: tuple[str, int],
    send_seconds: float,
    progress: bool,
    on_time: Callable[[int, int], None] | None = None,
) -> float:
    """Send every datagram, one UDP socket per agent, paced over `send_seconds` of wall time.

    ``on_time(time_ms, sent)`` is called before the first datagram of each new simulated
    send time, with the number of datagrams sent so far.
    """
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    senders = sim.senders()
    # a node's own loopback address names its exporter, where the collector is on loopback
    local = family == socket.AF_INET and ipaddress.ip_address(address[0]).is_loopback
    socks: list[socket.socket] = []
    for a, _ in enumerate(sim.cluster.nodes):
        s = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if senders is not None and local:
                s.bind((senders[a], 0))
            s.connect(address)
        except OSError:
            s.close()
            for done in socks:
                done.close()
            raise
        socks.append(s)
    scale = send_seconds / (sim.seconds * 1000.0)
    started = time.monotonic()
    current = -1
    try:
        with tqdm(
            total=len(sim.datagrams),
            unit="datagram",
            disable=not progress,
            desc=f"sending {sim.what}",
        ) as bar:
            for i, gram in enumerate(sim.datagrams):
                if i % 64 == 0:
                    ahead = started + gram.time_ms * scale - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
                    bar.update(64 if i else 0)
                if on_time is not None and gram.time_ms != current:
                    on_time(gram.time_ms, i)
                    current = gram.time_ms
                socks[gram.agent].send(gram.data)
            bar.update(len(sim.datagrams) % 64)
    finally:
        for s in socks:
            s.close()
    return time.monotonic() - started


class _SimulatedClock:
    """The demo collector's clock: the simulated send time of the datagrams being received.

    Before the sender moves on to a later simulated time it waits (:meth:`advance`)
    until the collector has received every datagram sent so far, so each datagram
    is stamped with exactly its own send time, as :func:`flowlab.demo.load` stamps
    it: the capture and the in-memory path give the same rows and the same series.
    A datagram lost on the way costs one wait of `patience` seconds, and is then
    counted as lost.
    """

    def __init__(self, start_ms: int, patience: float = 1.0) -> None:
        self.now_ms = start_ms
        self.start_ms = start_ms
        self.collector: Collector | None = None  # set once the collector exists
        self.patience = patience
        self.missing = 0

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, time_ms: int, sent: int) -> None:
        assert self.collector is not None
        deadline = time.monotonic() + self.patience
        while self.collector.stats.datagrams < sent - self.missing:
            if time.monotonic() > deadline:
                self.missing = sent - self.collector.stats.datagrams
                break
            time.sleep(0.00005)
        self.now_ms = self.start_ms + time_ms


def send(
    address: str,
    *,
    seconds: float = 3600.0,
    seed: int = 0,
    send_seconds: float | None = None,
    progress: bool = False,
    protocol: str = "sflow",
) -> tuple[Simulation, float]:
    """Send the demo's datagrams to another collector at `address` (``HOST:PORT``).

    The receiving collector (sfacctd, a second ``flowlab collect``, ...) stamps
    its own receive times. `protocol` is ``"sflow"``, ``"ipfix"`` or ``"netflow"``
    (NetFlow v9). Returns the simulation and the seconds spent sending.

    Raises
    ------
    ConfigError
        If `address` is not ``HOST:PORT``.
    """
    from flowlab.collect.udp import parse_listen

    _, sockaddr = parse_listen(address)
    sim = simulate(seconds, seed, protocol=protocol)
    target = (str(sockaddr[0]), int(sockaddr[1]))  # type: ignore[call-overload]
    return sim, _send(sim, target, _pace(seconds, send_seconds), progress)


def _pace(seconds: float, send_seconds: float | None) -> float:
    return send_seconds if send_seconds is not None else min(5.0, max(0.5, seconds / 720))


def run(
    out_dir: str | os.PathLike[str] = "flowlab-demo",
    *,
    seconds: float = 3600.0,
    seed: int = 0,
    send_seconds: float | None = None,
    progress: bool = False,
    protocol: str = "sflow",
) -> DemoResult:
    """Run the demo end to end over UDP; see the module docstring.

    Parameters
    ----------
    out_dir : str or Path
        Output directory (created; a previous demo there is replaced).
    seconds : float
        Simulated duration (default one hour).
    seed : int
        Same seed, same cluster, same traffic.
    send_seconds : float, optional
        Wall time over which the datagrams are paced (default: 5 s for an hour).
    progress : bool
        Show a progress bar while sending.
    protocol : {"sflow", "ipfix", "netflow"}
        What the nodes send: sFlow, IPFIX, or NetFlow v9.

    Returns
    -------
    DemoResult
    """
    began = time.monotonic()
    target = Path(out_dir)
    _prepare(target)
    sim = simulate(seconds, seed, protocol=protocol)
    pace = _pace(seconds, send_seconds)
    # The simulated window is sent in `pace` seconds; the collector stamps each datagram with
    # its simulated send time (from DEFAULT_START, as `load()` does), so the capture spans
    # exactly the simulated window and its hour partitions are the simulated hours.
    start_ms = int(DEFAULT_START.timestamp() * 1000)
    clock = _SimulatedClock(start_ms)
    collector = Collector(
        "127.0.0.1:0",
        out_dir=target,
        source="demo",
        roll_seconds=3600,
        clock=clock,
        protocol=protocol,
    )
    clock.collector = collector
    with collector:
        sent_for = _send(sim, collector.address, pace, progress, on_time=clock.advance)
    stats = collector.stats
    inventory_path = write_inventory(sim.cluster, target / "inventory.json")
    found = facts(read_capture(target), sim.cluster.names())
    result = DemoResult(
        out_dir=target,
        inventory_path=inventory_path,
        seconds=seconds,
        seed=seed,
        datagrams_sent=len(sim.datagrams),
        flow_samples_sent=sim.flow_samples,
        counter_samples_sent=sim.counter_samples,
        collector=stats,
        send_seconds=sent_for,
        wall_seconds=time.monotonic() - began,
        grafana_peers=found["grafana_peers"],  # type: ignore[arg-type]
        api_clients=found["api_clients"],  # type: ignore[arg-type]
        etcd_client_originators=found["etcd_client_originators"],  # type: ignore[arg-type]
        top_talkers=found["top_talkers"],  # type: ignore[arg-type]
        protocol=protocol,
    )
    if result.lost or stats.errors or stats.kernel_drops:
        log.warning("demo lost data: %s", stats.status_line())
    return result
