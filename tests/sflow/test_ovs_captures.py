"""Real Open vSwitch captures (tests/data/ovs-*.pcap, made by the ovs stream with OVS 3.1.0).

Decoded by both decoder cores (compiled and pure, tests/cores.py), each checked three ways:
against the census and per-5-tuple ground truth recorded while the capture was made
(``ovs-*.expected.json``: tcpdump inside every pod namespace), and field by field against the
real tshark dissector.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sflow_helpers import tshark_fields

from flowlab import schema
from flowlab.capture.pcap import read_pcap
from flowlab.sflow.decode import Decoded
from tests.cores import CORES, use_core

DATA = Path(__file__).resolve().parent.parent / "data"
CAPTURES = ["ovs-sampling1", "ovs-default"]


@pytest.fixture(
    scope="module",
    params=[(name, core) for name in CAPTURES for core in CORES],
    ids=lambda p: "-".join(p),
)
def capture(request: pytest.FixtureRequest) -> tuple[str, Decoded, dict[str, Any]]:
    """The capture decoded once per decoder core, compiled and pure (tests/cores.py)."""
    name, core = request.param
    expected = json.loads((DATA / f"{name}.expected.json").read_text())
    with use_core(core):
        out = read_pcap(DATA / f"{name}.pcap")
    return name, out, expected


def test_census(capture: tuple[str, Decoded, dict[str, Any]]) -> None:
    _, out, expected = capture
    census = expected["census"]
    s = out.stats
    schema.validate(out.flows)
    schema.validate_counters(out.counters)
    assert s.packets == s.datagrams == s.datagrams_ok == census["datagrams"]
    assert s.samples == census["samples"]
    assert s.flows == census["samples"]["flow"] == out.flows.height
    ovs_only = {(0, int(k)): v for k, v in census["counter_records"].items() if k not in ("1", "2")}
    assert s.records_skipped == ovs_only  # 1004, 1005, 2203, 2207, skipped by length
    assert out.counters.height == census["counter_records"]["1"] == census["counter_records"]["2"]
    rates = out.flows.group_by("sampling_rate").len().rows()
    assert {str(r): n for r, n in rates} == census["sampling_rates"]
    assert s.lost == 0 and s.sequence_resets == {} and s.bad == 0
    assert out.flows["exporter"].unique().to_list() == ["127.0.0.1"]
    assert out.flows["source_id"].unique().to_list() == [1000]  # 0x020003e8: class 2, index 1000


def test_flows_match_ground_truth(capture: tuple[str, Decoded, dict[str, Any]]) -> None:
    name, out, expected = capture
    key = ["src_ip", "dst_ip", "protocol", "src_port", "dst_port"]
    # the ground truth's ICMP flows are the pings; neighbour discovery (ICMPv6 133-137) is apart
    echo = pl.col("icmp_type").is_null() | pl.col("icmp_type").is_in([0, 8, 128, 129])
    ours = {
        tuple(r[:5]): (r[5], r[6])
        for r in out.flows.filter(pl.col("src_ip").is_not_null() & echo)
        .group_by(key)
        .agg(pl.len(), pl.col("frame_length").sum())
        .rows()
    }
    truth = {tuple(f[k] for k in key): f for f in expected["flows"]}
    between_pods = {k: v for k, v in ours.items() if k in truth}
    assert sum(n for n, _ in between_pods.values()) == sum(f["samples"] for f in truth.values())
    for k, f in truth.items():
        if f["samples"]:
            assert ours[k] == (f["samples"], f["sampled_frame_bytes"]), k
    # everything else OVS sampled is ARP (no IP) or IPv6 neighbour discovery / MLD
    truth_keys = pl.DataFrame(
        list(truth), schema={k: out.flows.schema[k] for k in key}, orient="row"
    )
    others = out.flows.join(truth_keys, on=key, how="anti", nulls_equal=True)
    others = pl.concat([others, out.flows.filter(~echo)]).unique()
    assert set(others["ethertype"].unique().to_list()) <= {0x0806, 0x86DD}
    nd = others.filter(pl.col("ethertype") == 0x86DD)
    assert set(nd["icmp_type"].to_list()) <= {130, 131, 133, 134, 135, 136, 143}
    assert nd.height + others.filter(pl.col("ethertype") == 0x0806).height == others.height
    if name == "ovs-sampling1":  # sampling 1: every frame sampled, estimates are exact
        for k, f in truth.items():
            row = out.flows.filter(echo).join(
                truth_keys.filter(pl.struct(key) == dict(zip(key, k))), on=key, nulls_equal=True
            )
            assert row["packets"].sum() == f["packets"]
            assert row["bytes"].sum() == f["frame_bytes"]


def test_ovs_padding_and_header_lengths(capture: tuple[str, Decoded, dict[str, Any]]) -> None:
    _, out, expected = capture
    # OVS reports frame_length with the FCS; the header record's length is min(frame, 128)
    lengths = Counter(min(x - 4, 128) for x in out.flows["frame_length"].to_list())
    assert {str(k): v for k, v in lengths.items()} == expected["census"]["header_lengths"]
    # multicast/broadcast frames are sent to several ports: output = 0x80000000 | n
    multi = out.flows.filter(pl.col("out_if") >= 0x80000000)
    assert multi.height > 0 if out.stats.flows_without_ip else True
    assert (multi["dst_mac"].str.slice(0, 2) != "02").all()


def test_cross_check_with_tshark(capture: tuple[str, Decoded, dict[str, Any]]) -> None:
    name, out, _ = capture
    fields = [
        "sflow_245.sequence_number",
        "sflow.flow_sample.sequence_number",
        "sflow.flow_sample.sampling_rate",
        "sflow_245.header.frame_length",
        "eth.src",
        "ip.src",
        "tcp.srcport",
        "sflow_245.dot3StatsFCSErrors",
        "sflow_245.dot3StatsSymbolErrors",
    ]
    packets = tshark_fields(str(DATA / f"{name}.pcap"), fields)
    assert len(packets) == out.stats.datagrams
    flows = out.flows.partition_by("sequence", as_dict=True, maintain_order=True)
    counters = out.counters.partition_by("sequence", as_dict=True, maintain_order=True)
    for p in packets:
        (seq,) = (int(x) for x in p["sflow_245.sequence_number"])
        f = flows.get((seq,), out.flows.clear())
        c = counters.get((seq,), out.counters.clear())
        assert [int(x) for x in p["sflow.flow_sample.sequence_number"]] == f[
            "sample_sequence"
        ].to_list()
        assert [int(x) for x in p["sflow.flow_sample.sampling_rate"]] == f[
            "sampling_rate"
        ].to_list()
        assert [int(x) for x in p["sflow_245.header.frame_length"]] == f["frame_length"].to_list()
        assert (
            p["eth.src"][1:] == f["src_mac"].to_list()
        )  # first occurrence: the capture's own frame
        inner_ips = p["ip.src"][1:]
        assert Counter(inner_ips) == Counter(
            f.filter(pl.col("ip_version") == 4)["src_ip"].to_list()
        )
        tcp = f.filter(pl.col("protocol") == 6)["src_port"].to_list()
        assert Counter(int(x) for x in p["tcp.srcport"]) == Counter(tcp)
        # tshark 4.0 loses sync after OVS's 1004 record and abandons the rest of the datagram
        # ("Malformed Packet"), so only the first counter sample's ethernet record (which OVS
        # writes first) can be compared with it
        fcs = [int(x) for x in p["sflow_245.dot3StatsFCSErrors"]]
        symbol = [int(x) for x in p["sflow_245.dot3StatsSymbolErrors"]]
        assert len(fcs) == (1 if c.height else 0)
        assert fcs == c["dot3_fcs_errors"].to_list()[: len(fcs)]
        # OVS cannot know most dot3 counters and sends all ones: "unknown", null in flowlab
        assert symbol == [0xFFFFFFFF] * len(symbol)
        assert c["dot3_symbol_errors"].to_list()[: len(symbol)] == [None] * len(symbol)
