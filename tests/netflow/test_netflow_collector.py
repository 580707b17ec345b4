"""The live collector on IPFIX over real UDP: templates carried from batch to batch, and kept
next to the capture so that a restarted collector decodes data whose template came before."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from flowlab.collect import Collector
from flowlab.netflow import Flow, ipfix_datagram
from flowlab.store import read_capture

F1 = Flow("10.0.0.1", "10.0.0.2", 6, 40000, 443, packets=3, octets=180)
F2 = Flow("10.0.0.3", "10.0.0.4", 17, 5353, 53, packets=1, octets=80)


def _send(address: tuple[str, int], *datagrams: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for d in datagrams:
            tx.sendto(d, address)


def test_templates_survive_a_collector_restart(tmp_path: Path) -> None:
    col = Collector("127.0.0.1:0", out_dir=tmp_path, protocol="ipfix", receive="thread").start()
    _send(col.address, ipfix_datagram([F1]))
    col.flush()
    col.stop()
    saved = tmp_path / ".ipfix-state.json"
    assert json.loads(saved.read_text())["templates"][0][2] == 256
    again = Collector("127.0.0.1:0", out_dir=tmp_path, protocol="ipfix", receive="thread").start()
    _send(again.address, ipfix_datagram([F2], with_template=False))  # data only: template saved
    again.flush()
    stats = again.stop()
    assert stats.decode.samples == {"data": 1}
    assert sorted(read_capture(tmp_path)["src_ip"].to_list()) == ["10.0.0.1", "10.0.0.3"]


def test_without_a_saved_state_data_waits(tmp_path: Path) -> None:
    col = Collector("127.0.0.1:0", protocol="ipfix", receive="thread").start()
    _send(col.address, ipfix_datagram([F2], with_template=False), ipfix_datagram([F1]))
    col.flush()
    col.stop()
    assert sorted(col.flows()["src_ip"].to_list()) == ["10.0.0.1", "10.0.0.3"]
