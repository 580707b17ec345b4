"""The decoder on real Open vSwitch 3.1 IPFIX and NetFlow v5 captures, against the pods' own captures.

tests/data/README.md (IPFIX section) says how they were made. The truth
(``flows`` of each ``.expected.json``) is per 5-tuple from tcpdump in each pod:
``bytes`` are Ethernet frame bytes (no FCS), ``frame_bytes`` 4 more per packet.
"""

from __future__ import annotations

import polars as pl
import pytest
from netflow_helpers import DATA, KEY, decode_many, expected, truth, udp_payloads

from flowlab.capture import read_pcap
from flowlab.netflow import infer_sampling_rate, one_direction
from flowlab.schema import validate

ETHERNET = 14
#: ICMPv6 neighbour discovery (133-137): the pods' truth leaves it out
ND = [133, 134, 135, 136, 137]


def _per_key(frame: pl.DataFrame) -> pl.DataFrame:
    ip = frame.filter(
        pl.col("src_ip").is_not_null()
        & ~((pl.col("protocol") == 58) & pl.col("icmp_type").is_in(ND))
    )
    return ip.group_by(KEY).agg(
        pl.col("packets").sum().alias("got_packets"), pl.col("bytes").sum().alias("got_bytes")
    )


def _joined(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    return truth(name).join(_per_key(frame), on=KEY, how="full", coalesce=True, nulls_equal=True)


def test_read_pcap_equals_decoding_the_datagrams() -> None:
    path = DATA / "ovs-ipfix-sampling1.pcap"
    from_file = read_pcap(path, protocol="ipfix")
    validate(from_file.flows)
    items = udp_payloads(path)
    direct = decode_many(
        [d for d, _, _ in items], peers=[s for _, s, _ in items], received_ms=[t for *_, t in items]
    )
    assert (
        from_file.stats.datagrams
        == len(items)
        == expected("ovs-ipfix-sampling1")["datagrams_received_by_sink"]
    )
    assert from_file.stats.bad == 0
    assert from_file.flows.drop("source").equals(direct.flows.drop("source"))
    assert from_file.stats.samples["template"] == 88  # README: 88 data templates
    assert from_file.stats.flows_sampling_unknown == from_file.flows.height  # OVS sends no rate


@pytest.mark.parametrize("direction", [0, 1])
def test_sampling1_each_direction_equals_the_pods_captures(direction: int) -> None:
    """At sampling=1 each direction alone is exact: packets, and octets = L3 bytes (OVS counts
    octetDeltaCount without the Ethernet header: + 14 per packet gives the frame bytes)."""
    d = read_pcap(DATA / "ovs-ipfix-sampling1.pcap", protocol="ipfix")
    j = _joined(one_direction(d.flows, direction), "ovs-ipfix-sampling1")
    assert j.height == truth("ovs-ipfix-sampling1").height, "a 5-tuple is missing or extra"
    assert (j["got_packets"] == j["packets"]).all(), j.filter(
        pl.col("got_packets") != pl.col("packets")
    )
    l2 = j["got_bytes"] + ETHERNET * j["got_packets"]
    assert (l2 == j["bytes"]).all(), j.with_columns(l2=l2).filter(pl.col("l2") != pl.col("bytes"))


def test_sampling1_both_directions_double_every_volume() -> None:
    d = read_pcap(DATA / "ovs-ipfix-sampling1.pcap", protocol="ipfix")
    both = _per_key(d.flows)["got_packets"].sum()
    one = _per_key(one_direction(d.flows))["got_packets"].sum()
    assert both == 2 * one
    assert set(d.flows["direction"].unique().to_list()) == {0, 1}


def test_netflow5_is_exact_for_ipv4() -> None:
    """NetFlow v5 (unsampled in OVS): per 5-tuple packets and bytes equal the truth for IPv4
    (OVS's dOctets count the Ethernet frame); the IPv6 flows cannot be carried by v5."""
    d = read_pcap(DATA / "ovs-netflow.pcap", protocol="netflow")
    validate(d.flows)
    assert d.stats.bad == 0 and set(d.flows["flow_format"]) == {"netflow5"}
    assert (d.flows["sampling_rate"] == 1).all()
    j = _joined(d.flows, "ovs-netflow")
    v4 = j.filter(~pl.col("src_ip").str.contains(":"))
    assert v4["got_packets"].null_count() == 0 and v4["packets"].null_count() == 0
    assert (v4["got_packets"] == v4["packets"]).all()
    assert (v4["got_bytes"] == v4["bytes"]).all()
    assert (
        j.filter(pl.col("src_ip").str.contains(":"))["got_packets"].null_count()
        == j.filter(pl.col("src_ip").str.contains(":")).height
    )
    icmp = d.flows.filter(pl.col("protocol") == 1)
    assert icmp.height and icmp["src_port"].is_null().all()
    assert set(icmp["icmp_type"].to_list()) <= {0, 8} and (icmp["icmp_code"] == 0).all()


def test_netflow5_sequence_is_the_index_of_the_last_record() -> None:
    d = read_pcap(DATA / "ovs-netflow.pcap", protocol="netflow")
    assert d.stats.lost_records == {}


@pytest.mark.parametrize("name", ["ovs-ipfix-ovnk", "ovs-ipfix-netobserv"])
@pytest.mark.parametrize("direction", [0, 1])
def test_sampled_within_binomial_bounds(name: str, direction: int) -> None:
    """At 1-in-400 (counts already scaled by OVS: packetDeltaCount = 400 per sampled packet),
    each direction's sampled count per 5-tuple lies in the binomial interval of the truth."""
    from ovs.ovs_expect import binomial_interval  # type: ignore[import-not-found]

    d = read_pcap(DATA / f"{name}.pcap", protocol="ipfix")
    rate = 400
    assert infer_sampling_rate(d.flows) == {"127.0.0.1": rate}
    assert d.flows["sampling_rate"].is_null().all()  # not multiplied again
    j = truth(name).join(
        _per_key(one_direction(d.flows, direction)), on=KEY, how="left", nulls_equal=True
    )
    checked = 0
    for row in j.iter_rows(named=True):
        k = (row["got_packets"] or 0) / rate
        assert k == int(k)
        lo, hi = binomial_interval(row["packets"], row["packets"], rate, 1e-4)
        assert lo <= k <= hi, row
        checked += 1
    assert checked == truth(name).height
    extra = _per_key(one_direction(d.flows, direction)).join(truth(name), on=KEY, how="anti")
    assert extra.height == 0, extra


def test_inferring_the_rate_says_when_it_cannot() -> None:
    d = read_pcap(DATA / "ovs-ipfix-sampling1.pcap", protocol="ipfix")
    assert infer_sampling_rate(d.flows) == {"127.0.0.1": None}  # exact counts: nothing to infer


@pytest.mark.parametrize("name", ["ovs-ipfix-sampling1", "ovs-ipfix-ovnk", "ovs-ipfix-netobserv"])
def test_no_false_losses_from_the_shared_sequence(name: str) -> None:
    """Nothing was lost (the sink saw every datagram): one counter per exporter over all its
    observation domains, options data records counted as RFC 7011 says, gives no loss."""
    d = read_pcap(DATA / f"{name}.pcap", protocol="ipfix")
    assert d.stats.datagrams == expected(name)["datagrams_received_by_sink"]
    assert d.stats.lost_records == {} and d.stats.sequence_resets == {}
