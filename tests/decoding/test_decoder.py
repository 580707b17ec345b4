"""The decoder interface: capture files and the collector take a decoder by protocol."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from flowlab.capture import read_pcap
from flowlab.capture.pcap_write import sflow_packets, write_pcap
from flowlab.collect import Collector
from flowlab.decoding import Decoded, Decoder, get_decoder, protocol_names, register
from flowlab.decoding import decoder as registry
from flowlab.exceptions import ConfigError
from flowlab.sflow import Datagram, FlowSample, encode_datagram, raw_header
from flowlab.sflow.decode import DECODER


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

    def decode(self, buffer, offsets, lengths, **kwargs) -> Decoded:  # type: ignore[no-untyped-def]
        self.calls.append(len(offsets))
        return DECODER.decode(buffer, offsets, lengths, **kwargs)


def test_sflow_is_the_builtin_protocol() -> None:
    d = get_decoder("sflow")
    assert isinstance(d, Decoder)
    assert (d.name, d.port) == ("sflow", 6343)
    assert "sflow" in protocol_names()
    with pytest.raises(ConfigError, match="unknown flow protocol 'ipfix'"):
        get_decoder("ipfix")
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
