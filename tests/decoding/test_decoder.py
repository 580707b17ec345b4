"""The decoder interface: capture files and the collector take a decoder by protocol."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flowlab.capture import read_pcap
from flowlab.capture.pcap_write import sflow_packets, write_pcap
from flowlab.collect import Collector
from flowlab.decoding import Datagrams, Decoded, Decoder, get_decoder, protocol_names, register
from flowlab.decoding import decoder as registry
from flowlab.exceptions import ConfigError, SFlowError, UsageError
from flowlab.sflow import Datagram, FlowSample, encode_datagram, raw_header
from flowlab.sflow.decode import DECODER, decode


def _datagrams(n: int) -> list[bytes]:
    return [
        encode_datagram(
            Datagram(
                "192.0.2.1",
                i + 1,
                i,
                [FlowSample(i, 3, 10, 10, [raw_header("10.0.0.1", "10.0.0.2", 6, 1000 + i, 80)])],
            )
        )
        for i in range(n)
    ]


@dataclass(frozen=True)
class Counting:
    """A protocol on another port that decodes with sFlow and counts its calls (a test protocol)."""

    name: str = "test-counting"
    port: int = 9996
    calls: list[int] = None  # type: ignore[assignment]

    def decode(self, datagrams: Datagrams, *, source: str = "test", state: Any = None) -> Decoded:
        self.calls.append(len(datagrams))
        return DECODER.decode(datagrams, source=source, state=state)


def test_sflow_is_the_builtin_protocol() -> None:
    d = get_decoder("sflow")
    assert isinstance(d, Decoder)
    assert (d.name, d.port) == ("sflow", 6343)
    assert "sflow" in protocol_names()
    with pytest.raises(ConfigError, match="unknown flow protocol 'netflow8'"):
        get_decoder("netflow8")
    with pytest.raises(ConfigError, match="needs name, port and decode"):
        register(object())  # type: ignore[arg-type]


def test_read_pcap_takes_the_protocol_and_its_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _datagrams(4)
    path = tmp_path / "a.pcap"
    # two datagrams on the test protocol's port, two on sFlow's
    write_pcap(
        path, sflow_packets(data[:2], port=9996) + sflow_packets(data[2:], start_s=1_700_000_001.0)
    )
    proto = Counting(calls=[])
    monkeypatch.setitem(registry._LOADED, proto.name, proto)
    got = read_pcap(path, protocol="test-counting")
    assert proto.calls == [2]
    assert got.flows["src_port"].sort().to_list() == [1000, 1001]
    assert got.stats.packets_skipped == {"other_port": 2}
    plain = read_pcap(path)  # port 6343 by default: sFlow, as before
    assert plain.flows["src_port"].sort().to_list() == [1002, 1003]
    assert read_pcap(path, port=9996).flows.height == 2  # an explicit port still wins


def test_the_collector_decodes_with_the_given_protocol() -> None:
    proto = Counting(calls=[])
    data = _datagrams(3)
    with Collector("127.0.0.1:0", protocol=proto, receive="thread") as col:
        host, port = col.address
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for d in data:
                s.sendto(d, (host, port))
        deadline = time.monotonic() + 10
        while col.stats.datagrams < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        col.flush()
        flows = col.flows()
    assert sum(proto.calls) == 3
    assert flows["src_port"].sort().to_list() == [1000, 1001, 1002]


def test_datagrams_are_checked_once_and_a_subset_keeps_its_peers() -> None:
    dgs = _datagrams(3)
    buffer = b"".join(dgs)
    lengths = [len(d) for d in dgs]
    offsets = [0, lengths[0], lengths[0] + lengths[1]]
    batch = Datagrams.of(buffer, offsets, lengths, received_ms=7, peers=["a", "b", "c"])
    assert len(batch) == 3 and batch.received_ms.tolist() == [7, 7, 7]
    part = batch.take([2, 0])
    assert (part.offsets.tolist(), part.lengths.tolist()) == (
        [offsets[2], offsets[0]],
        [lengths[2], lengths[0]],
    )
    assert part.peers == ["c", "a"] and part.buffer is batch.buffer
    # the decoders read a Datagrams as the public function reads its arguments
    whole = DECODER.decode(batch, source="x")
    public = decode(buffer, offsets, lengths, received_ms=7, peers=["a", "b", "c"], source="x")
    assert whole.flows.equals(public.flows) and whole.stats == public.stats
    assert DECODER.decode(part).flows["exporter"].to_list() == ["192.0.2.1", "192.0.2.1"]
    # the checks and their messages: UsageError by default, the public sFlow function's SFlowError
    with pytest.raises(UsageError, match=r"datagram 0 \(offset 2, length 3\) ends beyond"):
        Datagrams.of(b"abcd", [2], [3], received_ms=0)
    with pytest.raises(SFlowError, match=r"offsets \(1\), lengths \(1\) and peers \(2\)"):
        decode(buffer, [0], [lengths[0]], received_ms=0, peers=["a", "b"])
    with pytest.raises(UsageError, match="received_ms must be integers"):
        Datagrams.of(buffer, [0], [1], received_ms="now")
