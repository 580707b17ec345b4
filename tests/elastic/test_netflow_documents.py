"""ElastiFlow 3.x NetFlow/IPFIX documents and Filebeat netflow (ECS) documents load into the
canonical frame (real Elasticsearch).

The records are real: Open vSwitch's IPFIX (``tests/data/ovs-ipfix-sampling1.pcap``) and
NetFlow v5 (``tests/data/ovs-netflow.pcap``), decoded by flowlab. Each record becomes the
document each pipeline writes for it, built here field by field from the pipelines' code:

ElastiFlow 3.5.1 (github:robcowart/elastiflow, tag v3.5.1):
  * the Logstash netflow codec (github:logstash-plugins/logstash-codec-netflow,
    ``lib/logstash/codecs/netflow.rb``): ``@timestamp`` is the header export time (v5 with
    its nanoseconds, IPFIX whole seconds); v5 ``first_switched``/``last_switched`` are ISO
    strings computed from the header's uptime as ``decode_netflow5`` does -- including its
    unit slip (the sub-second milliseconds are subtracted as microseconds), so they differ
    from the truth by less than a second; IPFIX fields keep their IANA names
    (``flowStartDeltaMicroseconds``, OVS's timestamps, stay numbers);
  * ``logstash/elastiflow/conf.d/20_filter_20_netflow.logstash.conf`` (v5: ``flow.*`` from
    ``netflow.ipv4_src_addr`` ..., ``flow.direction`` ``"ingress"``, ``flow.sampling_interval``
    from the header, 0 when unsampled);
  * ``20_filter_30_ipfix.logstash.conf`` (``flow.direction`` from ``flowDirection``, which it
    removes; ``flow.bytes``/``flow.packets`` from the delta counts; no samplingInterval from
    OVS, so ``flow.sampling_interval`` is the dictionary fallback 0);
  * ``20_filter_90_post_process.logstash.conf`` (protocol names, TCP flag names);
    ``netflow.*``/``ipfix.*`` are kept (``ELASTIFLOW_KEEP_ORIG_DATA`` defaults to true).

Filebeat's netflow input (github:elastic/beats, ``x-pack/filebeat/input/netflow/convert.go``,
fields in ``x-pack/filebeat/module/netflow/_meta/fields.yml``, shapes as in
``x-pack/filebeat/input/netflow/testdata/golden/IPFIX-OpenBSD-pflow.golden.json``): IPFIX
names in snake case under ``netflow.*``, the header as ``netflow.exporter.{address,
source_id, timestamp, uptime_millis, version}``, ``event.start``/``event.end`` only from the
sysUpTime fields (NetFlow v5's First/Last), ``network.direction`` from flowDirection,
``network.bytes``/``packets``, ``observer.ip``, ``flow.id``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from elasticsearch import Elasticsearch, helpers
from polars.testing import assert_frame_equal

import flowlab.elastic as fe
from flowlab.capture import read_pcap
from flowlab.services import PROTOCOL_NAMES

DATA = Path(__file__).resolve().parents[1] / "data"
FLAG_NAMES = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR")
#: what both layouts carry for these records, and must load exactly
COMMON = [
    "exporter", "src_ip", "dst_ip", "src_port", "dst_port", "protocol", "bytes", "packets",
    "ip_version", "in_if", "out_if", "flow_end", "flow_format",
]  # fmt: skip
TIMED = [*COMMON, "flow_start", "direction"]
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _records(name: str, protocol: str) -> pl.DataFrame:
    """TCP/UDP records of a real OVS capture (ICMP keeps its type in the ports in v5)."""
    flows = read_pcap(DATA / name, protocol=protocol).flows
    return flows.filter(pl.col("protocol").is_in([6, 17]) & pl.col("src_ip").is_not_null())


def _ms(t: dt.datetime) -> int:
    return (t - EPOCH) // dt.timedelta(milliseconds=1)


def _iso(t: dt.datetime) -> str:  # Logstash / libbeat: milliseconds, Z
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _export_second(row: dict[str, Any]) -> dt.datetime:
    """An export time after the record's end (the header's unix_secs)."""
    return row["flow_end"].replace(microsecond=0) + dt.timedelta(seconds=1)


def _codec_v5_switched(export: dt.datetime, when: dt.datetime) -> dt.datetime:
    """logstash-codec-netflow ``decode_netflow5`` for First/Last, unit slip included."""
    millis = _ms(export) - _ms(when)  # uptime - First, with unix_nsec = 0
    seconds = int(export.timestamp()) - millis // 1000
    micros = 0 - millis % 1000
    if micros < 0:
        seconds -= 1
        micros += 1_000_000
    return EPOCH + dt.timedelta(seconds=seconds, microseconds=micros)


def _ef_flow(row: dict[str, Any]) -> dict[str, Any]:
    proto = row["protocol"]
    flow: dict[str, Any] = {
        "src_addr": row["src_ip"],
        "dst_addr": row["dst_ip"],
        "src_port": row["src_port"],
        "dst_port": row["dst_port"],
        "ip_protocol": PROTOCOL_NAMES[proto],
        "ip_version": f"IPv{row['ip_version']}",
        "bytes": row["bytes"],
        "packets": row["packets"],
        "input_snmp": row["in_if"],
        "src_hostname": row["src_ip"],
        "dst_hostname": row["dst_ip"],
        "traffic_locality": "private",
    }
    if row["out_if"] is not None:
        flow["output_snmp"] = row["out_if"]
    if proto == 6 and row["tcp_flags"] is not None:
        flags = row["tcp_flags"]
        flow["tcp_flags"] = [n for i, n in enumerate(FLAG_NAMES) if flags >> i & 1] or "none"
    return flow


def elastiflow_netflow5(row: dict[str, Any]) -> dict[str, Any]:
    export = _export_second(row)
    flow = _ef_flow(row) | {
        "direction": "ingress",
        "sampling_interval": 0,
        "tos": row["tos"],
        "src_mask_len": 0,
        "dst_mask_len": 0,
        "next_hop": "0.0.0.0",
    }
    return {
        "@timestamp": _iso(export),
        "@version": "3.5.1",
        "event": {"type": "netflow", "host": row["exporter"]},
        "node": {"ipaddr": row["exporter"], "hostname": row["exporter"]},
        "flow": flow,
        "netflow": {
            "version": 5,
            "flow_seq_num": row["sequence"],
            "engine_type": 0,
            "engine_id": 0,
            "sampling_algorithm": 0,
            "flow_records": 1,
            "first_switched": _iso(_codec_v5_switched(export, row["flow_start"])),
            "last_switched": _iso(_codec_v5_switched(export, row["flow_end"])),
            "src_as": 0,
            "dst_as": 0,
        },
    }


def _delta_us(export: dt.datetime, when: dt.datetime) -> int:
    return (_ms(export) - _ms(when)) * 1000


def elastiflow_ipfix(row: dict[str, Any]) -> dict[str, Any]:
    export = _export_second(row)
    flow = _ef_flow(row) | {
        "direction": {0: "ingress", 1: "egress"}.get(row["direction"], "unspecified"),
        "sampling_interval": 0,
    }
    return {
        "@timestamp": _iso(export),
        "@version": "3.5.1",
        "event": {"type": "ipfix", "host": row["exporter"]},
        "node": {"ipaddr": row["exporter"], "hostname": row["exporter"]},
        "flow": flow,
        "ipfix": {
            "version": 10,
            "flowStartDeltaMicroseconds": _delta_us(export, row["flow_start"]),
            "flowEndDeltaMicroseconds": _delta_us(export, row["flow_end"]),
            "flowEndReason": 2,
        },
    }


def _filebeat_common(row: dict[str, Any], version: int, export: dt.datetime) -> dict[str, Any]:
    v6 = row["ip_version"] == 6
    proto = row["protocol"]
    nf: dict[str, Any] = {
        "type": "netflow_flow",
        "exporter": {
            "address": f"{row['exporter']}:52114",
            "timestamp": _iso(export),
            "uptime_millis": 3_600_000,
            "version": version,
        },
        f"source_ipv{6 if v6 else 4}_address": row["src_ip"],
        f"destination_ipv{6 if v6 else 4}_address": row["dst_ip"],
        "source_transport_port": row["src_port"],
        "destination_transport_port": row["dst_port"],
        "protocol_identifier": proto,
        "octet_delta_count": row["bytes"],
        "packet_delta_count": row["packets"],
        "ingress_interface": row["in_if"],
    }
    if row["out_if"] is not None:
        nf["egress_interface"] = row["out_if"]
    return {
        "@timestamp": _iso(export),
        "event": {
            "created": _iso(export),
            "kind": "event",
            "category": ["network"],
            "action": "netflow_flow",
            "type": ["connection"],
        },
        "observer": {"ip": row["exporter"]},
        "netflow": nf,
        "source": {
            "ip": row["src_ip"],
            "port": row["src_port"],
            "bytes": row["bytes"],
            "packets": row["packets"],
            "locality": "internal",
        },
        "destination": {"ip": row["dst_ip"], "port": row["dst_port"], "locality": "internal"},
        "network": {
            "transport": PROTOCOL_NAMES[proto].lower(),
            "iana_number": proto,
            "bytes": row["bytes"],
            "packets": row["packets"],
            "direction": "unknown",
        },
        "flow": {"id": f"fl{row['src_port']}x{row['dst_port']}", "locality": "internal"},
        "related": {"ip": sorted({row["src_ip"], row["dst_ip"]})},
    }


def filebeat_netflow5(row: dict[str, Any]) -> dict[str, Any]:
    export = _export_second(row)
    doc = _filebeat_common(row, 5, export)
    uptime = doc["netflow"]["exporter"]["uptime_millis"]
    doc["netflow"]["exporter"] |= {"engine_type": 0, "engine_id": 0, "sampling_interval": 0}
    doc["netflow"]["flow_start_sys_up_time"] = uptime - (_ms(export) - _ms(row["flow_start"]))
    doc["netflow"]["flow_end_sys_up_time"] = uptime - (_ms(export) - _ms(row["flow_end"]))
    doc["netflow"]["ip_class_of_service"] = row["tos"]
    doc["netflow"]["tcp_control_bits"] = row["tcp_flags"]
    doc["event"] |= {
        "start": _iso(row["flow_start"]),
        "end": _iso(row["flow_end"]),
        "duration": (_ms(row["flow_end"]) - _ms(row["flow_start"])) * 1_000_000,
    }
    return doc


def filebeat_ipfix(row: dict[str, Any]) -> dict[str, Any]:
    export = _export_second(row)
    doc = _filebeat_common(row, 10, export)
    doc["netflow"]["exporter"]["source_id"] = row["observation_domain"]
    doc["netflow"]["flow_direction"] = row["direction"]
    doc["netflow"]["flow_start_delta_microseconds"] = _delta_us(export, row["flow_start"])
    doc["netflow"]["flow_end_delta_microseconds"] = _delta_us(export, row["flow_end"])
    doc["network"]["direction"] = {0: "inbound", 1: "outbound"}[row["direction"]]
    return doc


def _index(es: Elasticsearch, index: str, docs: list[dict[str, Any]]) -> None:
    ok, errors = helpers.bulk(
        es, [{"_index": index, "_source": d} for d in docs], raise_on_error=False, refresh=True
    )
    assert not errors, errors
    assert ok == len(docs)


def _compare(loaded: pl.DataFrame, want: pl.DataFrame, cols: list[str]) -> None:
    """The same multiset of rows over `cols`."""
    got = loaded.select(cols).sort(cols, nulls_last=True)
    exp = want.select(cols).cast(got.schema).sort(cols, nulls_last=True)
    assert got.height == exp.height
    bad = [c for c in cols if not got[c].equals(exp[c], check_names=False)]
    assert not bad, {c: (got[c].head(3).to_list(), exp[c].head(3).to_list()) for c in bad}


@pytest.fixture(scope="module")
def ipfix_rows() -> pl.DataFrame:
    rows = _records("ovs-ipfix-sampling1.pcap", "ipfix")
    assert rows.height > 20 and set(rows["direction"].unique()) == {0, 1}
    assert rows["ip_version"].n_unique() == 2  # IPv4 and IPv6 records
    return rows


@pytest.fixture(scope="module")
def netflow5_rows() -> pl.DataFrame:
    rows = _records("ovs-netflow.pcap", "netflow")
    assert rows.height > 10 and set(rows["flow_format"]) == {"netflow5"}
    return rows


def test_elastiflow_ipfix_documents(es, index_name, ipfix_rows):
    _index(es, index_name, [elastiflow_ipfix(r) for r in ipfix_rows.to_dicts()])
    loaded = fe.load_flows(es, index_name, progress=False)
    # flowStart/EndDeltaMicroseconds count back from @timestamp (the export time): exact
    _compare(loaded, ipfix_rows, TIMED)
    assert set(loaded["source"]) == {"ipfix"}
    assert loaded["flow_format"].unique().to_list() == ["ipfix"]
    # ElastiFlow's 0 (no samplingInterval from OVS) is no rate: unknown, as from the decoder
    assert loaded["sampling_rate"].is_null().all() and ipfix_rows["sampling_rate"].is_null().all()
    # OVS's records do not carry observationDomainId (IE 149) and the codec drops the header's
    assert loaded["observation_domain"].is_null().all()
    # each direction alone is the traffic, as from the decoder
    one = fe.load_flows(es, index_name, progress=False).filter(pl.col("direction") == 0)
    assert one["packets"].sum() == ipfix_rows.filter(pl.col("direction") == 0)["packets"].sum()


def test_elastiflow_netflow5_documents(es, index_name, netflow5_rows):
    _index(es, index_name, [elastiflow_netflow5(r) for r in netflow5_rows.to_dicts()])
    loaded = fe.load_flows(es, index_name, progress=False)
    # flow_start/flow_end: the codec's First/Last, not the decoder's; checked below
    _compare(loaded, netflow5_rows, [c for c in COMMON if c != "flow_end"] + ["tcp_flags"])
    assert set(loaded["source"]) == {"netflow"}
    assert loaded["direction"].is_null().all()  # v5's constant "ingress" is no direction
    assert loaded["sampling_rate"].is_null().all()  # ElastiFlow's 0: unsampled or unknown
    # the codec's First/Last are within a second of the truth (its unit slip), never before
    j = loaded.join(
        netflow5_rows, on=["src_ip", "dst_ip", "src_port", "dst_port", "protocol", "bytes"]
    )
    assert j.height == netflow5_rows.height
    for col in ("flow_start", "flow_end"):
        lag = (j[col] - j[f"{col}_right"]).dt.total_milliseconds()
        assert ((lag >= 0) & (lag < 1000)).all(), lag


def test_filebeat_ipfix_documents(es, index_name, ipfix_rows):
    _index(es, index_name, [filebeat_ipfix(r) for r in ipfix_rows.to_dicts()])
    loaded = fe.load_flows(es, index_name, progress=False)  # ECS, detected
    # Filebeat writes no network.type: the IP version is not carried
    _compare(loaded, ipfix_rows, [c for c in TIMED if c != "ip_version"] + ["observation_domain"])
    assert loaded["observation_domain"].null_count() == 0


def test_filebeat_netflow5_documents(es, index_name, netflow5_rows):
    _index(es, index_name, [filebeat_netflow5(r) for r in netflow5_rows.to_dicts()])
    loaded = fe.load_flows(es, index_name, progress=False)
    # event.start/end from the sysUpTime fields: exact; v5 has no direction
    cols = [c for c in COMMON if c != "ip_version"] + ["flow_start", "tcp_flags"]
    _compare(loaded, netflow5_rows, cols)
    assert loaded["direction"].is_null().all()


def test_direction_and_domain_only_where_the_documents_say(es, index_name):
    """ElastiFlow writes flow.direction "ingress" for every sFlow and NetFlow v5 document: only
    NetFlow v9 and IPFIX directions are directions. ipfix.observationDomainId is read when a
    record carries IE 149."""
    flow: dict[str, Any] = {"src_addr": "10.1.0.1", "dst_addr": "10.1.0.2", "bytes": 100}
    base: dict[str, Any] = {
        "@timestamp": "2026-12-04T20:40:29.000Z",
        "node": {"ipaddr": "10.0.0.1"},
        "flow": flow,
    }
    docs = [
        base | {"event": {"type": "sflow"}, "flow": flow | {"direction": "ingress"}},
        base
        | {
            "event": {"type": "netflow"},
            "flow": flow | {"direction": "egress"},
            "netflow": {"version": 9, "first_switched": "2026-12-04T20:40:27.480Z"},
        },
        base
        | {
            "event": {"type": "ipfix"},
            "flow": flow | {"direction": "ingress"},
            "ipfix": {
                "version": 10,
                "observationDomainId": 7,
                "flowStartMilliseconds": "2026-12-04T20:40:27.480Z",
                "flowEndMilliseconds": "2026-12-04T20:40:28.375Z",
            },
        },
    ]
    _index(es, index_name, docs)
    got = fe.load_flows(es, index_name, progress=False).sort("source")
    assert got["source"].to_list() == ["ipfix", "netflow", "sflow"]
    assert got["direction"].to_list() == [0, 1, None]
    assert got["flow_format"].to_list() == ["ipfix", "netflow9", None]
    assert got["observation_domain"].to_list() == [7, None, None]
    assert got["flow_start"].dt.strftime("%S.%3f").to_list() == ["27.480", "27.480", None]
    assert got["flow_end"].dt.strftime("%S.%3f").to_list() == ["28.375", None, None]


def test_filebeat_sampled_records_are_scaled(es, index_name, ipfix_rows, netflow5_rows):
    """Filebeat's netflow input stores the exporter's counts as sent (network.bytes/packets from
    octet/packetDeltaCount) and the sampling as it came: the record's samplingInterval (IE 34) as
    ``netflow.sampling_interval``, NetFlow v5's header word (2 bits mode, 14 bits interval) as
    ``netflow.exporter.sampling_interval``. Loading scales by the rate, as the decoder does for
    the same datagrams; without any sampling field the counts stay as sent and the rate unknown."""
    import struct

    from flowlab.netflow import decode
    from tests.netflow.netflow_helpers import udp_payloads

    # v5 sampled 1-in-100 (mode 1): the decoder's reading of the same datagrams, header changed
    grams = [g[:22] + struct.pack("!H", 0x4000 | 100) + g[24:] for g, _, _ in
             udp_payloads(DATA / "ovs-netflow.pcap")]  # fmt: skip
    buf = b"".join(grams)
    offsets = [sum(len(g) for g in grams[:i]) for i in range(len(grams))]
    sampled = decode(buf, offsets, [len(g) for g in grams], received_ms=[0] * len(grams))
    rows = sampled.flows.filter(pl.col("protocol").is_in([6, 17]))
    assert set(rows["sampling_rate"]) == {100}
    assert rows.height == netflow5_rows.height
    docs = []
    for raw in netflow5_rows.to_dicts():
        doc = filebeat_netflow5(raw)  # the counts as sent
        doc["netflow"]["exporter"]["sampling_interval"] = 0x4000 | 100
        docs.append(doc)
    # IPFIX: half the records with samplingInterval 400, half without (unknown)
    ipfix = ipfix_rows.to_dicts()
    for i, row in enumerate(ipfix):
        doc = filebeat_ipfix(row)
        if i % 2:
            doc["netflow"]["sampling_interval"] = 400
        docs.append(doc)
    _index(es, index_name, docs)
    loaded = fe.load_flows(es, index_name, progress=False)
    v5 = loaded.filter(pl.col("flow_format") == "netflow5")
    _compare(v5, rows, ["src_ip", "dst_ip", "src_port", "dst_port", "bytes", "packets"])
    assert set(v5["sampling_rate"]) == {100}
    got = loaded.filter(pl.col("flow_format") == "ipfix").sort("flow_start", "src_port", "bytes")
    assert got.height == len(ipfix)
    want = ipfix_rows.with_row_index("i").with_columns(
        pl.when(pl.col("i") % 2 == 1).then(400).alias("rate")
    )
    want = want.with_columns(
        (pl.col("bytes") * pl.col("rate").fill_null(1)).alias("bytes"),
        (pl.col("packets") * pl.col("rate").fill_null(1)).alias("packets"),
        pl.col("rate").cast(pl.UInt32).alias("sampling_rate"),
    )
    _compare(got, want, ["src_ip", "dst_ip", "src_port", "dst_port", "bytes", "packets",
                         "sampling_rate"])  # fmt: skip
    assert got["sampling_rate"].null_count() == len(ipfix) // 2 + len(ipfix) % 2  # unknown
    # push-down sums scale each document the same way
    pushed = fe.edges(es, index_name, by=("exporter",), metrics=("bytes", "packets", "flows"))
    assert pushed.select("bytes", "packets", "flows").row(0) == (
        loaded["bytes"].sum(),
        loaded["packets"].sum(),
        loaded.height,
    )
    # and their intervals are those of the loaded rows: the evidence is scaled per document's rate
    by = ("exporter", "protocol")
    iv = fe.edges(es, index_name, by=by, intervals=True).sort(by)
    local = fe.edges_local(loaded, by=by, intervals=True).sort(by)
    assert iv.columns == local.columns and iv.height == local.height > 1
    assert_frame_equal(iv, local, check_exact=False, abs_tol=1.0)
    # samples: the packets seen, as sent (not the scaled estimate over the rate twice)
    assert (iv["samples"] > 0).all() and (iv["samples"] < iv["packets"]).all()
