"""Captures: read_pcap on NetFlow/IPFIX, and protocol="auto" with sFlow, NetFlow and IPFIX in one file."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from netflow_helpers import DATA, udp_payloads

from flowlab.capture import read_pcap
from flowlab.capture.pcap_write import udp_frame, write_pcap
from flowlab.netflow import Flow, ipfix_datagram, netflow5_datagram, netflow9_datagram


def test_auto_reads_all_three_protocols_of_one_capture(tmp_path: Path) -> None:
    sflow = [d for d, _, _ in udp_payloads(DATA / "ovs-sampling1.pcap")][:5]
    f = Flow("10.0.0.1", "10.0.0.2", 6, 40000, 443)
    packets = [
        (1.0 + k, udp_frame(d, "192.0.2.1", "192.0.2.9", 5000, 6343)) for k, d in enumerate(sflow)
    ]
    packets += [
        (10.0, udp_frame(ipfix_datagram([f]), "192.0.2.2", "192.0.2.9", 5000, 4739)),
        (11.0, udp_frame(netflow9_datagram([f]), "192.0.2.3", "192.0.2.9", 5000, 2055)),
        (12.0, udp_frame(netflow5_datagram([f]), "192.0.2.4", "192.0.2.9", 5000, 2055)),
        (13.0, udp_frame(ipfix_datagram([f]), "192.0.2.5", "192.0.2.9", 5000, 9999)),  # other port
    ]
    path = tmp_path / "mixed.pcap"
    write_pcap(path, packets)
    out = read_pcap(path, protocol="auto")
    assert out.stats.datagrams == 8 and out.stats.bad == 0
    assert out.stats.packets_skipped == {"other_port": 1}
    from flowlab.sflow import decode as sflow_decode

    buf = b"".join(sflow)
    offs = [sum(len(d) for d in sflow[:k]) for k in range(len(sflow))]
    alone = sflow_decode(buf, offs, [len(d) for d in sflow], received_ms=0).flows.height
    assert alone > 0
    counts = dict(out.flows["flow_format"].value_counts().iter_rows())
    assert counts == {"ipfix": 1, "netflow5": 1, "netflow9": 1, "sflow": alone}
    assert set(out.flows.filter(pl.col("flow_format") != "sflow")["exporter"]) == {
        "192.0.2.2", "192.0.2.3", "192.0.2.4",
    }  # fmt: skip
    # the ports are configurable: IPFIX on 9999 too
    both = read_pcap(path, protocol="auto", port=(6343, 2055, 4739, 9999))
    assert both.flows.filter(pl.col("flow_format") == "ipfix").height == 2


def test_sflow_rows_have_the_flow_record_columns_null() -> None:
    out = read_pcap(DATA / "ovs-sampling1.pcap")
    f = out.flows
    assert (f["flow_format"] == "sflow").all()
    for c in ("flow_start", "flow_end", "direction", "observation_domain"):
        assert f[c].null_count() == f.height
