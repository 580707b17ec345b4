"""Templates done right: waiting data, expiry, withdrawal, redefinition, exporters, domains,
options sampling, sequence numbers, persistence, variable-length and enterprise fields."""

from __future__ import annotations

import copy
import pickle
import struct

import polars as pl
import pytest
from netflow_helpers import T0, decode_many

from flowlab.decoding import get_decoder, new_state
from flowlab.exceptions import ConfigError
from flowlab.netflow import Flow, NetFlowState, Template, TemplateCache, decode
from flowlab.netflow import elements as e
from flowlab.netflow.encode import (
    data_set,
    flow_template,
    flow_values,
    ipfix_datagram,
    message,
    netflow5_datagram,
    netflow9_datagram,
    options_template_set,
    template_set,
    variable,
)
from flowlab.netflow.records import IPFIX, NETFLOW9

F1 = Flow("10.0.0.1", "10.0.0.2", 6, 40000, 443, packets=3, octets=180)
F2 = Flow("10.0.0.3", "10.0.0.4", 17, 5353, 53, packets=1, octets=80)


def test_registry_and_state() -> None:
    assert get_decoder("ipfix").port == 4739 and get_decoder("netflow").port == 2055
    assert isinstance(new_state(get_decoder("ipfix")), NetFlowState)


def test_records_pickle_copy_and_compare_as_values() -> None:
    """The public records (plain classes, not dataclasses) survive pickle and deepcopy equal and
    hash alike; the frozen ones refuse assignment; a cache keeps its templates and waiting bytes."""
    t = Template(256, ((8, 0, 4), (12, 0, 4), (82, 0, 65535)))
    frozen = [t, e.element(8), e.element(999, 6876), get_decoder("ipfix"), get_decoder("netflow")]
    for obj in frozen:
        for again in (pickle.loads(pickle.dumps(obj)), copy.deepcopy(obj)):
            assert again == obj and hash(again) == hash(obj) and repr(again) == repr(obj)
        with pytest.raises(AttributeError):
            obj.id = 1  # type: ignore[misc]
    assert t.record_length == 9 and t.variable
    assert Template(256, t.fields) == t and Template(257, t.fields) != t
    cache = TemplateCache(max_pending=7)
    cache.add("10.0.0.1", 3, t)
    again = pickle.loads(pickle.dumps(cache))
    assert again == cache and again.get("10.0.0.1", 3, 256) == t and again.max_pending == 7
    assert "max_pending=7" in repr(cache)
    with pytest.raises(TypeError):
        hash(cache)  # mutable: unhashable, as a dataclass


def test_data_before_its_template_waits_and_is_decoded_when_it_comes() -> None:
    state = NetFlowState()
    first = decode_many([ipfix_datagram([F1], with_template=False)], peers=["p"], state=state)
    assert first.flows.height == 0 and first.stats.samples == {"data_waiting": 1}
    assert first.stats.datagrams_ok == 1
    later = decode_many([ipfix_datagram([F2])], peers=["p"], state=state)
    assert sorted(later.flows["src_ip"].to_list()) == ["10.0.0.1", "10.0.0.3"]
    assert later.flows.filter(pl.col("src_ip") == "10.0.0.1")["time"][0].timestamp() * 1000 == T0


def test_waiting_data_expires_and_is_counted() -> None:
    state = NetFlowState(TemplateCache(pending_ms=1000))
    decode_many([ipfix_datagram([F1], with_template=False)], peers=["p"], state=state)
    out = decode_many(
        [ipfix_datagram([F2], template_id=300)], peers=["p"], state=state, received_ms=[T0 + 5000]
    )
    assert out.stats.sets_skipped == {"template_expired": 1}
    assert len(state.templates.pending) == 0


def test_waiting_data_is_bounded() -> None:
    state = NetFlowState(TemplateCache(max_pending=3))
    out = decode_many([ipfix_datagram([F1], with_template=False)] * 5, peers=["p"] * 5, state=state)
    assert out.stats.sets_skipped == {"pending_overflow": 2}
    assert len(state.templates.pending) == 3


def test_waiting_data_is_bounded_in_bytes() -> None:
    state = NetFlowState(TemplateCache(max_pending_bytes=200))
    many = [Flow("10.0.0.1", "10.0.0.2", 6, 1, 2)] * 3  # a set of 3 x 62 bytes
    out = decode_many([ipfix_datagram(many, with_template=False)] * 4, peers=["p"] * 4, state=state)
    assert out.stats.sets_skipped == {"pending_overflow": 3}
    assert len(state.templates.pending) == 1


def test_withdrawal_and_redefinition_mid_stream() -> None:
    t = flow_template(256)
    other = Template(256, ((e.SOURCE_IPV4_ADDRESS, 0, 4), (e.PACKET_DELTA_COUNT, 0, 4)))
    withdraw = Template(256, ())
    dgrams = [
        message([template_set([t]), data_set(256, [flow_values(F1)])], sequence=0),
        message([template_set([withdraw])], sequence=1),
        message([data_set(256, [flow_values(F2)])], sequence=1),  # no template: waits
        message(
            [template_set([other]), data_set(256, [[bytes([10, 9, 9, 9]), struct.pack("!I", 7)]])],
            sequence=2,
        ),
    ]
    state = NetFlowState()
    out = decode_many(dgrams, peers=["p"] * 4, state=state)
    assert out.stats.samples["withdrawal"] == 1
    # F2's set came after the withdrawal: it waited, and was read with the next definition of
    # 256 (a decoder cannot tell a set reordered from before the withdrawal); the old
    # definition was not used for it
    rows = out.flows.sort("time")
    assert rows["src_ip"][0] == "10.0.0.1" and rows["packets"][0] == 3
    assert "10.9.9.9" in rows["src_ip"].to_list()
    assert state.templates.get("p", 0, 256) == other


def test_withdraw_all_data_templates_of_a_domain() -> None:
    cache = TemplateCache()
    cache.add("p", 0, flow_template(256))
    cache.add("p", 0, flow_template(257, ipv6=True))
    cache.add("p", 1, flow_template(256))
    state = NetFlowState(cache)
    decode_many([message([template_set([Template(2, ())])])], peers=["p"], state=state)
    assert sorted(k[1:] for k in cache.templates) == [(1, 256)]


@pytest.mark.parametrize("as_series", [False, True], ids=["list", "series"])
def test_several_exporters_and_domains_keep_their_own_templates(as_series: bool) -> None:
    # peers as a capture gives them (a Series) or as a caller does (a list): the same exporters
    small = Template(256, ((e.SOURCE_IPV4_ADDRESS, 0, 4), (e.OCTET_DELTA_COUNT, 0, 4)))
    a = message([template_set([flow_template(256)]), data_set(256, [flow_values(F1)])])
    b = message(
        [template_set([small]), data_set(256, [[bytes([10, 7, 7, 7]), struct.pack("!I", 99)]])]
    )
    c = message([data_set(256, [flow_values(F2)])], domain=5)  # domain 5 has no template
    d = message([data_set(256, [flow_values(F2)])])  # no peer: an exporter of its own ("")
    peers = ["b", "a", "a", None]
    out = decode_many([b, a, c, d], peers=pl.Series(peers) if as_series else peers)
    got = dict(zip(out.flows["exporter"], out.flows["bytes"]))
    assert got == {"a": 180, "b": 99}
    assert out.stats.samples["data_waiting"] == 2  # c (domain 5), d (no template from "")


@pytest.mark.parametrize("as_series", [False, True], ids=["list", "series"])
def test_one_exporter_of_a_capture(as_series: bool) -> None:
    grams = [ipfix_datagram([F1], sequence=0), ipfix_datagram([F2], sequence=1)]
    peers = ["192.0.2.9"] * 2
    out = decode_many(grams, peers=pl.Series(peers) if as_series else peers)
    assert out.flows["exporter"].to_list() == peers and not out.stats.lost_records


def test_options_records_without_sampling_fields_count_in_the_sequence() -> None:
    """Records of an options template that gives no rate (Open vSwitch's exporting-process
    statistics) are counted, not read: the next message's sequence number shows no loss."""
    stats = Template(
        402, ((149, 0, 4), (e.OCTET_DELTA_COUNT, 0, 8), (e.PACKET_DELTA_COUNT, 0, 8)), 1
    )
    row = [struct.pack("!I", 0), struct.pack("!Q", 5), struct.pack("!Q", 1)]
    first = message([options_template_set([stats]), data_set(402, [row, row, row])], sequence=0)
    second = ipfix_datagram([F1], sequence=3)
    out = decode_many([first, second], peers=["p"] * 2)
    assert out.stats.samples["options_data"] == 1 and out.flows.height == 1
    assert not out.stats.lost_records
    gap = decode_many([first, ipfix_datagram([F1], sequence=5)], peers=["p"] * 2)
    assert gap.stats.lost_records == {("p", 0): 2}


def test_options_sampling_per_selector_and_per_domain() -> None:
    opt = Template(
        400,
        (
            (e.SELECTOR_ID, 0, 4),
            (e.SAMPLING_PACKET_INTERVAL, 0, 4),
            (e.SAMPLING_PACKET_SPACE, 0, 4),
        ),
        scope_count=1,
    )
    dom = Template(401, ((149, 0, 4), (e.SAMPLING_PROBABILITY, 0, 8)), scope_count=1)
    data_t = Template(
        256,
        ((e.SOURCE_IPV4_ADDRESS, 0, 4), (e.PACKET_DELTA_COUNT, 0, 4), (e.SELECTOR_ID, 0, 4)),
    )
    rec = [bytes([10, 0, 0, 1]), struct.pack("!I", 2), struct.pack("!I", 7)]
    rec_other = [bytes([10, 0, 0, 2]), struct.pack("!I", 2), struct.pack("!I", 8)]
    wire = message(
        [
            options_template_set([opt, dom]),
            data_set(400, [[struct.pack("!I", 7), struct.pack("!I", 1), struct.pack("!I", 99)]]),
            data_set(401, [[struct.pack("!I", 0), struct.pack("!d", 0.01)]]),
            template_set([data_t]),
            data_set(256, [rec, rec_other]),
        ]
    )
    out = decode_many([wire], peers=["p"])
    rows = dict(zip(out.flows["src_ip"], zip(out.flows["sampling_rate"], out.flows["packets"])))
    assert rows == {"10.0.0.1": (100, 200), "10.0.0.2": (100, 200)}  # selector 8: domain's 1/0.01
    assert out.stats.flows_sampling_unknown == 0


def test_netflow9_options_sampling_and_sampler_id() -> None:
    opt = Template(
        300, ((1, -1, 4), (e.SAMPLER_ID, 0, 1), (e.SAMPLING_INTERVAL, 0, 4)), scope_count=1
    )
    data_t = Template(
        256, ((e.SOURCE_IPV4_ADDRESS, 0, 4), (e.OCTET_DELTA_COUNT, 0, 4), (e.SAMPLER_ID, 0, 1))
    )
    wire = message(
        [
            options_template_set([opt], NETFLOW9),
            data_set(300, [[bytes(4), b"\x02", struct.pack("!I", 64)]], pad=3),
            template_set([data_t], NETFLOW9),
            data_set(256, [[bytes([10, 0, 0, 1]), struct.pack("!I", 100), b"\x02"]], pad=3),
        ],
        version=NETFLOW9,
    )
    out = decode_many([wire], peers=["p"])
    assert out.stats.bad == 0
    assert out.flows.select("sampling_rate", "bytes", "flow_format").row(0) == (
        64,
        6400,
        "netflow9",
    )


def test_netflow5_header_sampling_scales() -> None:
    out = decode_many([netflow5_datagram([F1], sampling=(1 << 14) | 100)])
    assert out.flows.select("sampling_rate", "packets", "bytes").row(0) == (100, 300, 18000)


def test_netflow5_encoder_refuses_ipv6_flows() -> None:
    # v5 records hold 4-byte addresses; an IPv6 flow was silently cut to its first 4 bytes
    with pytest.raises(ConfigError, match="16-byte value for a 4-byte field"):
        netflow5_datagram([Flow("fd00::1", "fd00::2", 6, 40000, 443)])


def test_netflow9_packet_sequence_losses() -> None:
    state = NetFlowState()
    dgrams = [netflow9_datagram([F1], sequence=s) for s in (10, 11, 14)]
    out = decode_many(dgrams, peers=["p"] * 3, state=state)
    assert out.stats.lost_datagrams == {("p", 0): 2}


def test_ipfix_sequence_is_one_counter_per_exporter_over_domains() -> None:
    """Open vSwitch numbers data records once for all its domains: interleaved domains with one
    counter are no loss; a real gap is."""
    dgrams = [
        ipfix_datagram([F1, F2], domain=0, sequence=0),
        ipfix_datagram([F1], domain=1, sequence=2),
        ipfix_datagram([F2], domain=0, sequence=3),
        ipfix_datagram([F2], domain=1, sequence=9),
    ]
    out = decode_many(dgrams, peers=["p"] * 4)
    assert out.stats.lost_records == {("p", 0): 5}


def test_templates_persist_across_a_restart() -> None:
    state = NetFlowState()
    decode_many([ipfix_datagram([F1])], peers=["p"], state=state)
    state.templates.domain_rates[("p", 0)] = 10.0
    text = state.templates.to_json()
    restarted = NetFlowState(TemplateCache.from_json(text))
    out = decode_many([ipfix_datagram([F2], with_template=False)], peers=["p"], state=restarted)
    assert out.flows.select("src_ip", "sampling_rate", "bytes").row(0) == ("10.0.0.3", 10, 800)


def test_variable_length_and_enterprise_fields() -> None:
    t = Template(
        256,
        (
            (e.SOURCE_IPV4_ADDRESS, 0, 4),
            (82, 0, e.VARIABLE_LENGTH),  # interfaceName
            (e.TUNNEL_KEY, e.VMWARE, e.VARIABLE_LENGTH),
            (9999, 12345, 2),  # unknown enterprise element
            (e.PACKET_DELTA_COUNT, 0, 8),
        ),
    )
    recs = [
        [
            bytes([10, 0, 0, k]),
            variable(b"x" * n),
            variable(bytes(k)),
            b"\0\0",
            struct.pack("!Q", k),
        ]
        for k, n in ((1, 0), (2, 254), (3, 255), (4, 1000))
    ]
    out = decode_many([message([template_set([t]), data_set(256, recs)])], peers=["p"])
    assert out.flows["packets"].to_list() == [1, 2, 3, 4]
    assert out.flows["src_ip"].to_list() == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
    assert out.stats.elements_skipped == {(12345, 9999): 4}


def test_a_record_overrunning_its_set_rejects_the_datagram() -> None:
    t = Template(256, ((e.SOURCE_IPV4_ADDRESS, 0, 4), (82, 0, e.VARIABLE_LENGTH)))
    bad = message([template_set([t]), data_set(256, [[bytes(4), b"\x20abc"]])])
    good = ipfix_datagram([F1])
    out = decode_many([bad, good], peers=["p", "q"])
    assert out.stats.datagrams_bad == {"record_overrun": 1}
    assert out.flows["exporter"].to_list() == ["q"]


def test_ipv6_flows_and_directions() -> None:
    f6 = Flow("fd01::1", "fd01::2", 6, 40000, 9090, direction=1)
    out = decode_many([ipfix_datagram([F1, f6])], peers=["p"])
    rows = {r["src_ip"]: r for r in out.flows.to_dicts()}
    assert rows["fd01::1"]["ip_version"] == 6 and rows["fd01::1"]["direction"] == 1
    assert rows["10.0.0.1"]["direction"] == 0


def test_flow_times() -> None:
    f = Flow("10.0.0.1", "10.0.0.2", 6, 1, 2, start_ms=T0 - 5000, end_ms=T0 - 10)
    for wire in (
        ipfix_datagram([f]),
        netflow9_datagram([f], export_s=T0 // 1000),
        netflow5_datagram([f], export_s=T0 // 1000),
    ):
        row = decode(wire, [0], [len(wire)], received_ms=T0).flows.row(0, named=True)
        assert row["flow_start"].timestamp() * 1000 == T0 - 5000
        assert row["flow_end"].timestamp() * 1000 == T0 - 10


def test_initiator_from_tcp_flags_overrides_the_port_rule() -> None:
    # client on a well-known-looking port talking to a high port: the SYN says who started
    syn = Flow("10.0.0.1", "10.0.0.2", 6, 80, 40000, tcp_flags=0x02)
    synack = Flow("10.0.0.2", "10.0.0.1", 6, 40000, 80, tcp_flags=0x12)
    out = decode_many([ipfix_datagram([syn, synack])], peers=["p"])
    assert set(out.flows["client_ip"]) == {"10.0.0.1"}
    assert set(out.flows["service_port"]) == {40000}
    assert IPFIX == 10


def test_tcp_flags_from_per_record_flag_counters() -> None:
    t = Template(
        256,
        (
            (e.SOURCE_IPV4_ADDRESS, 0, 4), (e.DESTINATION_IPV4_ADDRESS, 0, 4),
            (e.SOURCE_TRANSPORT_PORT, 0, 2), (e.DESTINATION_TRANSPORT_PORT, 0, 2),
            (e.PROTOCOL_IDENTIFIER, 0, 1), (e.PACKET_DELTA_COUNT, 0, 8),
            (e.TCP_SYN_TOTAL_COUNT, 0, 8), (e.TCP_ACK_TOTAL_COUNT, 0, 8),
        ),
    )  # fmt: skip

    def rec(src: int, sport: int, dport: int, pk: int, syn: int, ack: int) -> list[bytes]:
        return [bytes([10, 0, 0, src]), bytes([10, 0, 0, 9]), struct.pack("!H", sport),
                struct.pack("!H", dport), b"\x06", *(struct.pack("!Q", v) for v in (pk, syn, ack))]  # fmt: skip

    recs = [
        rec(1, 80, 40000, 1, 1, 0),  # a lone SYN from port 80: the source is the client
        rec(2, 40000, 80, 5, 0, 5),  # ACKs only: ElastiFlow's port rule
        rec(3, 40000, 80, 5, 20, 250),  # running totals (Open vSwitch): no flags
    ]
    out = decode_many([message([template_set([t]), data_set(256, recs)])], peers=["p"])
    rows = {r["src_ip"]: r for r in out.flows.to_dicts()}
    assert rows["10.0.0.1"]["tcp_flags"] == 0x02 and rows["10.0.0.1"]["client_ip"] == "10.0.0.1"
    assert rows["10.0.0.2"]["tcp_flags"] == 0x10 and rows["10.0.0.2"]["service_port"] == 80
    assert rows["10.0.0.3"]["tcp_flags"] is None and rows["10.0.0.3"]["service_port"] == 80


def test_open_vswitch_flag_counters_are_exporter_wide_totals() -> None:
    from netflow_helpers import DATA

    from flowlab.capture import read_pcap

    tcp = read_pcap(DATA / "ovs-ipfix-sampling1.pcap", protocol="ipfix").flows.filter(
        pl.col("protocol") == 6
    )
    assert tcp.height and tcp["tcp_flags"].null_count() == tcp.height
