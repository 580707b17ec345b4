"""``flowlab collect --sflow ... --ipfix ... --netflow ...``: one collector, three protocols, one
capture (real CLI subprocess, real UDP sockets, real Open vSwitch datagrams from the fixtures)."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import polars as pl
import pytest

from flowlab.capture import read_pcap
from flowlab.collect import Collector
from flowlab.exceptions import ConfigError
from flowlab.store import read_capture
from tests.netflow.netflow_helpers import udp_payloads
from tests.test_cli import ROOT, flowlab_cli, start_listeners

DATA = ROOT / "tests" / "data"
#: protocol -> the real OVS capture whose datagrams are sent to its port
CAPTURES = {
    "sflow": "ovs-default.pcap",
    "ipfix": "ovs-ipfix-sampling1.pcap",
    "netflow": "ovs-netflow.pcap",
}


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    cols = [c for c in frame.columns if frame[c].dtype != pl.List]
    return frame.sort(cols, nulls_last=True)


def test_three_protocols_at_once_into_one_capture(tmp_path: Path) -> None:
    out = tmp_path / "cap"
    proc, ports = start_listeners(
        out, "--sflow", "127.0.0.1:0", "--ipfix", "127.0.0.1:0", "--netflow", "127.0.0.1:0"
    )
    assert sorted(ports) == ["ipfix", "netflow", "sflow"]
    assert len({p for _, p in ports.values()}) == 3
    grams = {p: [d for d, _, _ in udp_payloads(DATA / f)] for p, f in CAPTURES.items()}
    # interleaved, each protocol in its own order (an IPFIX template before its data)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for i in range(max(len(g) for g in grams.values())):
            for protocol, datagrams in grams.items():
                if i < len(datagrams):
                    tx.sendto(datagrams[i], ports[protocol])
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    last = err.strip().splitlines()[-1]
    total = sum(len(g) for g in grams.values())
    assert last.startswith(f"flowlab collect: stopped: datagrams {total:,},"), last
    assert "errors 0," in last
    records = sum(
        read_pcap(DATA / CAPTURES[p], protocol=p).flows.height for p in ("ipfix", "netflow")
    )
    assert f"flow records {records:,}," in last

    for kind in ("flows", "counters"):
        got = read_capture(out, kind=kind)
        for protocol, name in CAPTURES.items():
            want = getattr(read_pcap(DATA / name, protocol=protocol, source=protocol), kind)
            if kind == "flows":
                assert want.height > 0
                mine = got.filter(pl.col("source") == protocol)
                assert set(mine["flow_format"]) == set(want["flow_format"])
            else:
                mine = got.filter(pl.col("exporter").is_in(want["exporter"].unique().implode()))
                mine = mine if want.height else mine.clear()
            # `time` is when a datagram was received: the capture's, or the collector's clock
            a, b = _sorted(mine.drop("time")), _sorted(want.drop("time"))
            assert a.height == b.height, (protocol, kind, a.height, b.height)
            assert a.equals(b), (protocol, kind)
    assert (out / ".ipfix-state.json").is_file() and (out / ".netflow-state.json").is_file()


def test_listen_and_sflow_are_one_option() -> None:
    r = flowlab_cli("collect", "--listen", "127.0.0.1:0", "--sflow", "127.0.0.1:0", "--out", "x")
    assert r.returncode == 2 and "not allowed with argument" in r.stderr


def test_one_listener_per_protocol() -> None:
    with pytest.raises(ConfigError, match="one listener per protocol: ipfix"):
        Collector([("ipfix", "127.0.0.1:0"), ("ipfix", "127.0.0.1:0")])


def test_in_memory_rows_of_several_listeners(tmp_path: Path) -> None:
    """The Python API: each listener decodes with its own state, the rows meet in one frame."""
    listeners = [("ipfix", "127.0.0.1:0"), ("netflow", "127.0.0.1:0")]
    with Collector(listeners, receive="thread") as col:
        assert [p for p, _ in col.addresses] == ["ipfix", "netflow"]
        assert "ipfix" in repr(col) and "netflow" in repr(col)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for (protocol, _), (_, address) in zip(listeners, col.addresses):
                for d, _, _ in udp_payloads(DATA / CAPTURES[protocol]):
                    tx.sendto(d, address)
        flows = col.flows()
    want = {p: read_pcap(DATA / CAPTURES[p], protocol=p).flows.height for p, _ in listeners}
    assert flows.group_by("source").len().sort("source").rows() == sorted(want.items())
