"""NetFlow and IPFIX rows written to the real Elasticsearch, in both layouts, and read back: the
same canonical frame as ``read_pcap`` of the real Open vSwitch captures, idempotent ``_id`` s
(rule 2 of flowlab.elastic._ids), and ``flowlab collect --ipfix --netflow --to-elasticsearch``
restarted without a duplicate."""

from __future__ import annotations

import re
import signal
import socket
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from elasticsearch import Elasticsearch, helpers

import flowlab.elastic as fe
from flowlab.capture import read_pcap
from flowlab.schema import FLOW_SCHEMA
from flowlab.store import read_capture

pytestmark = pytest.mark.elasticsearch

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
CAPTURES = {"ipfix": "ovs-ipfix-sampling1.pcap", "netflow": "ovs-netflow.pcap"}
#: what the elastiflow layout carries for a NetFlow/IPFIX row (and must give back exactly)
ELASTIFLOW = [
    "time", "exporter", "src_ip", "dst_ip", "src_port", "dst_port", "protocol", "bytes",
    "packets", "sampling_rate", "ip_version", "tcp_flags", "tos", "in_if", "out_if",
    "flow_start", "flow_end", "direction", "flow_format", "source", "src_mac", "dst_mac", "vlan",
]  # fmt: skip


def _frame(protocol: str) -> pl.DataFrame:
    return read_pcap(DATA / CAPTURES[protocol], protocol=protocol, source=protocol).flows


def _same(loaded: pl.DataFrame, want: pl.DataFrame, cols: list[str]) -> None:
    got = loaded.select(cols).sort(cols, nulls_last=True)
    exp = want.select(cols).sort(cols, nulls_last=True)
    assert got.height == exp.height
    bad = [c for c in cols if not got[c].equals(exp[c], check_names=False)]
    assert not bad, {c: (got[c].head(3).to_list(), exp[c].head(3).to_list()) for c in bad}


@pytest.mark.parametrize("protocol", ["ipfix", "netflow"])
@pytest.mark.parametrize("layout", ["flowlab", "elastiflow"])
def test_records_round_trip(es: Elasticsearch, index_name: str, protocol: str, layout: str) -> None:
    frame = _frame(protocol)
    target = index_name + ("-" if layout == "elastiflow" else "")
    first = fe.write_flows(es, frame, target, layout=layout, refresh=True)  # type: ignore[arg-type]
    assert (first.written, first.existing, first.rejected) == (frame.height, 0, 0)
    again = fe.write_flows(es, frame, target, layout=layout, refresh=True)  # type: ignore[arg-type]
    assert (again.written, again.existing) == (0, frame.height)  # rule 2: the same _ids
    pattern = target + ("*" if layout == "elastiflow" else "")
    loaded = fe.load_flows(es, pattern, progress=False)
    if layout == "flowlab":  # every canonical column
        _same(loaded, frame, list(FLOW_SCHEMA))
        return
    cols = ELASTIFLOW + (["observation_domain"] if protocol == "ipfix" else [])
    _same(loaded, frame, cols)
    ids = [h["_id"] for h in helpers.scan(es, index=pattern, query={"query": {"match_all": {}}})]
    fmt = frame["flow_format"][0]
    assert all(re.fullmatch(rf"{fmt}/127\.0\.0\.1/\d+/\d+/\d+/\d+", i) for i in ids), ids[:3]


def test_elastiflow_documents_of_each_type(es: Elasticsearch, index_name: str) -> None:
    """The fields ElastiFlow 3.5.1 writes for each type (its 20_filter_20_netflow and
    20_filter_30_ipfix): event.type, the TOS byte, flowDirection as ingress/egress (v5: always
    ingress), the sampling fallback 0, the codec's version and record times."""
    frame = pl.concat([_frame("ipfix").head(40), _frame("netflow")], how="vertical")
    fe.write_flows(es, frame, index_name + "-", layout="elastiflow", refresh=True)
    docs = [h["_source"] for h in helpers.scan(es, index=index_name + "-*")]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        by_type.setdefault(d["event"]["type"], []).append(d)
    assert sorted(by_type) == ["ipfix", "netflow"]
    v5 = by_type["netflow"][0]
    assert v5["netflow"]["version"] == 5 and "sflow" not in v5 and "ipfix" not in v5
    assert v5["flow"]["direction"] == "ingress"
    # the rate the decoder found (v5: the header's, 1 when unsampled); IPFIX from OVS has none: 0
    assert v5["flow"]["sampling_interval"] == _frame("netflow")["sampling_rate"][0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", v5["netflow"]["first_switched"])
    ipfix = by_type["ipfix"]
    assert {d["flow"]["direction"] for d in ipfix} == {"ingress", "egress"}
    assert all(d["ipfix"]["version"] == 10 and "flowStartMilliseconds" in d["ipfix"] for d in ipfix)
    assert {d["flow"]["sampling_interval"] for d in ipfix} == {0}
    assert all("sflow" not in d for d in ipfix)


@pytest.mark.parametrize("layout", ["flowlab", "elastiflow"])
def test_collect_restarted_never_duplicates(
    tmp_path: Path, es: Elasticsearch, es_env: dict[str, str], index_name: str, layout: str
) -> None:
    """Two runs of ``flowlab collect --ipfix --netflow --to-elasticsearch`` (the second decodes
    IPFIX data with the templates the first saved), then the whole capture written again: every
    record once, and the index loads as read_pcap decodes the captures."""
    import os

    from tests.netflow.netflow_helpers import udp_payloads
    from tests.test_cli import start_listeners

    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FLOWLAB_ES_USERNAME": es_env["username"],
        "FLOWLAB_ES_PASSWORD": es_env["password"],
    }
    target = index_name + ("-" if layout == "elastiflow" else "")
    grams = {p: [d for d, _, _ in udp_payloads(DATA / f)] for p, f in CAPTURES.items()}
    out = tmp_path / "cap"
    for half in (0, 1):
        proc, ports = start_listeners(
            out, "--ipfix", "127.0.0.1:0", "--netflow", "127.0.0.1:0",
            "--to-elasticsearch", es_env["url"], "--es-layout", layout, "--es-index", target,
            env=env,
        )  # fmt: skip
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for protocol, datagrams in grams.items():
                cut = len(datagrams) // 2
                for d in datagrams[:cut] if half == 0 else datagrams[cut:]:
                    tx.sendto(d, ports[protocol])
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert es_env["password"] not in err
    captured = read_capture(out)
    want = {p: _frame(p) for p in CAPTURES}
    assert captured.height == sum(f.height for f in want.values())
    # the capture written again (a replay, a restarted shipper): nothing new
    replay = fe.write_flows(es, captured, target, layout=layout, refresh=True)  # type: ignore[arg-type]
    assert (replay.written, replay.existing, replay.rejected) == (0, captured.height, 0)
    pattern = target + ("*" if layout == "elastiflow" else "")
    es.indices.refresh(index=pattern)
    loaded = fe.load_flows(es, pattern, progress=False)
    assert loaded.height == captured.height
    cols = [c for c in ELASTIFLOW if c not in ("time", "source")]  # received now, not then
    for frame in want.values():
        fmt = set(frame["flow_format"])
        _same(loaded.filter(pl.col("flow_format").is_in(fmt)), frame, cols)


def test_tos_per_flow_format(es: Elasticsearch, index_name: str) -> None:
    """ElastiFlow 3.5.1 fills flow.tos differently per type: sFlow the DSCP (its ECN in
    sflow.ip_ecn), NetFlow v5/v9 ``src_tos`` and IPFIX ``ipClassOfService`` the whole TOS byte
    (20_filter_20_netflow, 20_filter_30_ipfix). Documents as it writes them, for a packet with
    DSCP EF (46) and ECN 1: the TOS byte 185 each time, read and written back the same."""
    base: dict[str, Any] = {
        "@timestamp": "2026-12-04T20:40:29.000Z",
        "node": {"ipaddr": "10.0.0.1"},
        "flow": {"src_addr": "10.1.0.1", "dst_addr": "10.1.0.2", "bytes": 100},
    }
    docs = [
        base | {"event": {"type": "sflow"}, "flow": base["flow"] | {"tos": "46"}}
        | {"sflow": {"ip_ecn": "1"}},
        base | {"event": {"type": "netflow"}, "flow": base["flow"] | {"tos": 185}}
        | {"netflow": {"version": 5}},
        base | {"event": {"type": "netflow"}, "flow": base["flow"] | {"tos": 185}}
        | {"netflow": {"version": 9}},
        base | {"event": {"type": "ipfix"}, "flow": base["flow"] | {"tos": 185}}
        | {"ipfix": {"version": 10}},
    ]  # fmt: skip
    ok, errors = helpers.bulk(
        es, [{"_index": index_name, "_source": d} for d in docs], refresh=True
    )
    assert ok == 4 and not errors
    loaded = fe.load_flows(es, index_name, progress=False).sort("flow_format", nulls_last=True)
    assert loaded["flow_format"].to_list() == ["ipfix", "netflow5", "netflow9", None]
    assert loaded["tos"].to_list() == [185, 185, 185, 185]
    # and written back in the elastiflow layout, each type as ElastiFlow writes it
    fe.write_flows(es, loaded, index_name + "-back-", layout="elastiflow", refresh=True)
    back = {
        (h["_source"]["event"]["type"], h["_source"]["flow"]["tos"])
        for h in helpers.scan(es, index=index_name + "-back-*")
    }
    assert back == {("sflow", "46"), ("netflow", "185"), ("ipfix", "185")}
