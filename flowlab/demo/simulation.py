"""One simulated window of the demo cluster, and the fast in-memory path to its frames.

:func:`simulate` builds the cluster, its conversations, the sampled packets
and the encoded sFlow datagrams (or, with ``protocol="ipfix"``/``"netflow"``,
the same samples as IPFIX / NetFlow v9 flow records, see
:mod:`flowlab.demo.flow_records`); :func:`load` decodes those datagrams
directly with the real decoder (no sockets) and returns the flows with the
Kubernetes inventory, for notebooks and tests. ``flowlab demo``
(:func:`flowlab.demo.run`) sends the same datagrams over UDP instead.

Time: in the in-memory path a datagram's ``time`` is its simulated send time
(``start`` + offset in the window), so an hour of traffic spans an hour. In
``flowlab demo`` the hour is sent in a few seconds and the collector stamps each
datagram with that same simulated send time (``Collector(clock=...)``), so the
capture holds the same rows at the same times.

Examples
--------
>>> flows, inv = load(seconds=60, seed=0)
>>> flows.filter(flows["src_ip"] == "10.128.2.7")["dst_ip"].n_unique() >= 1
True
>>> inv["kind"]
'List'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import polars as pl

from flowlab.decoding import Datagrams, Decoded, get_decoder, new_state
from flowlab.demo.cluster import Cluster, build_cluster
from flowlab.demo.datagrams import SentDatagram, build_datagrams
from flowlab.demo.flow_records import build_flow_records, check_protocol, exporter_address
from flowlab.demo.inventory import inventory
from flowlab.demo.sampling import sample_packets
from flowlab.demo.traffic import Conversation, conversations
from flowlab.exceptions import ConfigError

__all__ = ["DEFAULT_START", "DemoData", "Simulation", "flows", "load", "simulate"]

#: Start of the in-memory demo window unless another is given (deterministic results).
DEFAULT_START = dt.datetime(2025, 1, 6, 9, 0, tzinfo=dt.timezone.utc)


@dataclass
class Simulation:
    """Everything one simulated window produced.

    Attributes
    ----------
    cluster : Cluster
    conversations : list of Conversation
    samples : polars.DataFrame
        The sampled packets (see :func:`flowlab.demo.sampling.sample_packets`).
    datagrams : list of SentDatagram
        Encoded datagrams in send order.
    seconds : float
    seed : int
    protocol : str
        What the datagrams are: ``"sflow"``, ``"ipfix"`` or ``"netflow"`` (NetFlow v9).
    """

    cluster: Cluster
    conversations: list[Conversation]
    samples: pl.DataFrame
    datagrams: list[SentDatagram]
    seconds: float
    seed: int
    protocol: str = "sflow"

    @property
    def what(self) -> str:
        """The protocol's name for people (``sFlow``, ``IPFIX``, ``NetFlow v9``)."""
        return {"sflow": "sFlow", "ipfix": "IPFIX", "netflow": "NetFlow v9"}[self.protocol]

    def senders(self) -> list[str] | None:
        """The address each node sends from when the protocol names exporters by it (else None)."""
        if self.protocol == "sflow":  # the agent address is in the datagram
            return None
        return [exporter_address(n) for n in self.cluster.nodes]

    @property
    def flow_samples(self) -> int:
        """Flow samples in all datagrams."""
        return sum(d.flow_samples for d in self.datagrams)

    @property
    def counter_samples(self) -> int:
        """Counter samples in all datagrams."""
        return sum(d.counter_samples for d in self.datagrams)

    def inventory(self) -> dict[str, Any]:
        """The cluster's Kubernetes inventory document."""
        return inventory(self.cluster)

    def decode(self, start: dt.datetime = DEFAULT_START) -> Decoded:
        """Decode every datagram in memory; ``time`` = `start` + simulated send time.

        (IPFIX/NetFlow records also carry their own start and end, from the window's
        start given to :func:`simulate`.)
        """
        if start.tzinfo is None:
            msg = f"start must be timezone-aware (UTC), found naive {start!r}"
            raise ConfigError(msg)
        data = b"".join(d.data for d in self.datagrams)
        lengths = np.fromiter((len(d.data) for d in self.datagrams), np.int64, len(self.datagrams))
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        start_ms = int(start.timestamp() * 1000)
        times = np.fromiter((d.time_ms for d in self.datagrams), np.int64, len(self.datagrams))
        senders = self.senders()
        peers = None if senders is None else [senders[d.agent] for d in self.datagrams]
        decoder = get_decoder(self.protocol)
        datagrams = Datagrams.of(data, offsets, lengths, received_ms=start_ms + times, peers=peers)
        return decoder.decode(datagrams, source="demo", state=new_state(decoder))


def simulate(
    seconds: float = 3600.0,
    seed: int = 0,
    *,
    protocol: str = "sflow",
    start: dt.datetime = DEFAULT_START,
) -> Simulation:
    """Simulate `seconds` of the demo cluster's traffic (deterministic for `seed`).

    `protocol` says what Open vSwitch sends: ``"sflow"`` (flow and counter samples),
    ``"ipfix"`` or ``"netflow"`` (NetFlow v9): one flow record per sampled packet, whose
    record times count from `start`.

    Raises
    ------
    ConfigError
        If `seconds` is not positive or longer than a day, or `protocol` is not one of these.
    """
    if not 0 < seconds <= 86_400:
        msg = f"seconds must be in (0, 86400], found {seconds}"
        raise ConfigError(msg)
    check_protocol(protocol)
    cluster = build_cluster(seed)
    convs = conversations(cluster)
    samples = sample_packets(cluster, convs, seconds=seconds, seed=seed)
    if protocol == "sflow":
        grams = build_datagrams(cluster, convs, samples, seconds=seconds, seed=seed)
    else:
        start_ms = int(start.timestamp() * 1000)
        grams = build_flow_records(
            cluster, samples, protocol=protocol, start_ms=start_ms, seed=seed
        )
    return Simulation(cluster, convs, samples, grams, seconds, seed, protocol)


class DemoData(NamedTuple):
    """What :func:`load` returns: the flow frame and the inventory document."""

    flows: pl.DataFrame
    inventory: dict[str, Any]


def load(
    seconds: float = 3600.0,
    seed: int = 0,
    *,
    start: dt.datetime = DEFAULT_START,
    protocol: str = "sflow",
) -> DemoData:
    """The demo's flows and inventory, decoded in memory (no sockets, a few seconds).

    Parameters
    ----------
    seconds : float
        Simulated duration.
    seed : int
        Same seed, same cluster and same flows.
    start : datetime
        Timestamp of the window's start (UTC).
    protocol : {"sflow", "ipfix", "netflow"}
        What the nodes send (see :func:`simulate`).
    """
    sim = simulate(seconds, seed, protocol=protocol, start=start)
    return DemoData(sim.decode(start).flows, sim.inventory())


def flows(
    seconds: float = 3600.0, seed: int = 0, *, start: dt.datetime = DEFAULT_START
) -> pl.DataFrame:
    """Just the flows of :func:`load`."""
    return load(seconds, seed, start=start).flows
