"""The canonical flow schema: one Polars schema that every source produces.

Every source (sFlow pcap, live collector, Elasticsearch, the demo) returns a
frame with exactly these columns, in this order, with these dtypes; every
analysis, graph and view consumes it. One row is one *flow record*: for sFlow
and ElastiFlow that is one sampled packet, standing for ``sampling_rate``
packets on the wire.

Volume columns are **estimated totals** (the ElastiFlow ``flow.bytes`` /
``flow.packets`` convention): a sampled packet counts as ``sampling_rate``
packets and ``frame_length * sampling_rate`` bytes. The raw observation is
kept beside the estimate in ``frame_length``. The scaling lives in one place,
:func:`scale_expr`.

Client/server orientation and service names follow ElastiFlow 3.x, so that
answers match the Kibana dashboards; see :mod:`flowlab.services`.

Examples
--------
>>> import flowlab.schema as fs
>>> frame = fs.empty()
>>> frame.columns[:4]
['time', 'exporter', 'src_ip', 'dst_ip']
>>> fs.validate(frame)
>>> fs.FLOW_SCHEMA["bytes"]
UInt64
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from flowlab.exceptions import SchemaError

__all__ = [
    "COUNTER_COLUMNS",
    "COUNTER_SCHEMA",
    "FLOW_COLUMNS",
    "FLOW_SCHEMA",
    "Column",
    "conform",
    "empty",
    "empty_counters",
    "markdown",
    "scale_expr",
    "validate",
    "validate_counters",
]

TIME = pl.Datetime("ms", "UTC")


@dataclass(frozen=True)
class Column:
    """One column of a canonical schema.

    Attributes
    ----------
    name : str
        Column name (stable: later work builds on it).
    dtype : polars.DataType
        Polars dtype.
    meaning : str
        What the value is.
    sflow : str
        Where the sFlow decoder takes it from (``""`` if derived or absent).
    elastiflow : str
        The ElastiFlow 3.x field it corresponds to (``""`` if none).
    netflow5, netflow9, ipfix : str
        Where the NetFlow v5, NetFlow v9 and IPFIX decoder takes it from
        (record field or element name (id); ``""`` if absent or derived).
    """

    name: str
    dtype: pl.DataType
    meaning: str
    sflow: str = ""
    elastiflow: str = ""
    netflow5: str = ""
    netflow9: str = ""
    ipfix: str = ""


#: where the NetFlow v5, v9 and IPFIX decoders take the client/server columns from
_ORIENTED = ("derived", "derived", "derived; the initiator where TCP flags show a SYN without ACK")

FLOW_COLUMNS: tuple[Column, ...] = (
    Column(
        "time",
        TIME,
        "when the sample was received by the collector (UTC, ms)",
        "collector clock",
        "@timestamp",
        "collector clock",
        "collector clock",
        "collector clock",
    ),
    Column(
        "exporter",
        pl.String(),
        "exporter (sFlow agent) address",
        "datagram agent_address",
        "node.ipaddr",
        "UDP source address",
        "UDP source address",
        "UDP source address",
    ),
    Column(
        "src_ip",
        pl.String(),
        "source IP, canonical text (IPv4 dotted, IPv6 RFC 5952)",
        "sampled header / sampled_ipv4, sampled_ipv6",
        "flow.src_addr",
        "srcaddr",
        "IPV4_SRC_ADDR (8) / IPV6_SRC_ADDR (27)",
        "sourceIPv4Address (8) / sourceIPv6Address (27)",
    ),
    Column(
        "dst_ip",
        pl.String(),
        "destination IP, canonical text",
        "sampled header",
        "flow.dst_addr",
        "dstaddr",
        "IPV4_DST_ADDR (12) / IPV6_DST_ADDR (28)",
        "destinationIPv4Address (12) / destinationIPv6Address (28)",
    ),
    Column(
        "src_port",
        pl.UInt16(),
        "TCP/UDP/SCTP source port (null for other protocols)",
        "sampled header",
        "flow.src_port",
        "srcport (TCP/UDP/SCTP only)",
        "L4_SRC_PORT (7)",
        "sourceTransportPort (7)",
    ),
    Column(
        "dst_port",
        pl.UInt16(),
        "TCP/UDP/SCTP destination port",
        "sampled header",
        "flow.dst_port",
        "dstport (TCP/UDP/SCTP only)",
        "L4_DST_PORT (11)",
        "destinationTransportPort (11)",
    ),
    Column(
        "protocol",
        pl.UInt8(),
        "IP protocol, IANA number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6)",
        "sampled header",
        "flow.ip_protocol (name)",
        "prot",
        "PROTOCOL (4)",
        "protocolIdentifier (4)",
    ),
    Column(
        "bytes",
        pl.UInt64(),
        "estimated bytes: frame_length x sampling_rate",
        "derived",
        "flow.bytes",
        "dOctets x header sampling interval (0: 1)",
        "IN_BYTES (1) x sampling rate",
        "octetDeltaCount (1), else layer2OctetDeltaCount (352), x sampling rate (as sent when unknown)",
    ),
    Column(
        "packets",
        pl.UInt64(),
        "estimated packets: sampling_rate",
        "derived",
        "flow.packets",
        "dPkts x sampling interval",
        "IN_PKTS (2) x sampling rate",
        "packetDeltaCount (2) x sampling rate (as sent when unknown)",
    ),
    Column(
        "sampling_rate",
        pl.UInt32(),
        "1-in-N sampling rate of the sample (1 = unsampled)",
        "flow_sample sampling_rate",
        "flow.sampling_interval",
        "header sampling_interval (low 14 bits; 0 = unsampled: 1)",
        "SAMPLING_INTERVAL (34) / options records by sampler id (48)",
        "options records: samplingInterval (34), samplerRandomInterval (50), samplingPacketInterval/Space (305/306), samplingProbability (311), per selectorId (302) / samplerId (48); null = unknown",
    ),
    Column(
        "frame_length",
        pl.UInt32(),
        "observed length of the sampled frame, bytes (unscaled)",
        "sampled_header frame_length",
        "sflow.frame_length",
        "",
        "",
        "",
    ),
    Column(
        "ip_version",
        pl.UInt8(),
        "4 or 6 (null for non-IP frames)",
        "sampled header",
        "flow.ip_version",
        "4",
        "IP_PROTOCOL_VERSION (60), else from the addresses",
        "ipVersion (60), else from the addresses",
    ),
    Column(
        "tcp_flags",
        pl.UInt16(),
        "TCP flags bit-set (FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32 "
        "ECE=64 CWR=128 NS=256); null for non-TCP",
        "sampled header",
        "flow.tcp_flags (names)",
        "tcp_flags (OR of the flow's packets)",
        "TCP_FLAGS (6)",
        "tcpControlBits (6), else the per-flag counters tcp{Syn,Fin,Rst,Psh,Ack,Urg}TotalCount (218-223) > 0 where they do not exceed the record's packets (Open vSwitch's are exporter-wide running totals: null)",
    ),
    Column(
        "icmp_type",
        pl.UInt8(),
        "ICMP/ICMPv6 type (null otherwise)",
        "sampled header",
        "",
        "dstport / 256",
        "ICMP_TYPE (32) / 176, else dstport / 256",
        "icmpTypeIPv4 (176) / icmpTypeIPv6 (178), icmpTypeCode* (32/139)",
    ),
    Column(
        "icmp_code",
        pl.UInt8(),
        "ICMP/ICMPv6 code (null otherwise)",
        "sampled header",
        "",
        "dstport % 256",
        "as icmp_type",
        "icmpCodeIPv4 (177) / icmpCodeIPv6 (179)",
    ),
    Column(
        "tos",
        pl.UInt8(),
        "IPv4 TOS byte / IPv6 traffic class",
        "sampled header",
        "flow.tos (sFlow: the DSCP, x 4 + sflow.ip_ecn; NetFlow, IPFIX: the TOS byte as sent)",
        "tos",
        "SRC_TOS (5)",
        "ipClassOfService (5)",
    ),
    Column(
        "ttl",
        pl.UInt8(),
        "IPv4 TTL / IPv6 hop limit",
        "sampled header",
        "sflow.ip_ttl",
        "",
        "",
        "ipTTL (192)",
    ),
    Column(
        "ethertype",
        pl.UInt16(),
        "Ethernet type of the sampled frame (after VLAN tags)",
        "sampled header",
        "sflow.eth_type",
        "",
        "ethernetType (256), else from ip_version",
        "ethernetType (256), else from ip_version",
    ),
    Column(
        "vlan",
        pl.UInt16(),
        "802.1Q VLAN id (header tag, else extended switch src_vlan)",
        "sampled header / extended_switch",
        "flow.vlan",
        "",
        "SRC_VLAN (58)",
        "vlanId (58), else dot1qVlanId (243)",
    ),
    Column(
        "src_mac",
        pl.String(),
        "source MAC, lower-case colon form",
        "sampled header",
        "flow.src_mac",
        "",
        "IN_SRC_MAC (56)",
        "sourceMacAddress (56)",
    ),
    Column(
        "dst_mac",
        pl.String(),
        "destination MAC",
        "sampled header",
        "flow.dst_mac",
        "",
        "IN_DST_MAC (80)",
        "destinationMacAddress (80)",
    ),
    Column(
        "in_if",
        pl.UInt32(),
        "input interface (ifIndex; 0x3FFFFFFF = internal/unknown)",
        "flow_sample input",
        "flow.input_snmp",
        "input (Open vSwitch: OpenFlow port)",
        "INPUT_SNMP (10)",
        "ingressInterface (10)",
    ),
    Column(
        "out_if",
        pl.UInt32(),
        "output interface (ifIndex; 0x3FFFFFFF = internal/unknown; "
        "top bits per sFlow: multiple/discard)",
        "flow_sample output",
        "flow.output_snmp",
        "output (Open vSwitch: OpenFlow port)",
        "OUTPUT_SNMP (14)",
        "egressInterface (14)",
    ),
    Column(
        "sequence",
        pl.UInt32(),
        "datagram sequence number (per exporter/sub-agent)",
        "datagram sequence_number",
        "",
        "header flow_sequence (Open vSwitch: index of the last record)",
        "header package sequence",
        "header sequence (data records before this message)",
    ),
    Column(
        "sub_agent_id",
        pl.UInt32(),
        "sFlow sub-agent id",
        "datagram sub_agent_id",
        "sflow.sub_agent_id",
    ),
    Column(
        "sample_sequence",
        pl.UInt32(),
        "flow sample sequence number (per source id)",
        "flow_sample sequence_number",
        "",
    ),
    Column(
        "source_id",
        pl.UInt32(),
        "data source index (ifIndex of the sampler)",
        "flow_sample source_id index",
        "sflow.source_id_index",
    ),
    Column(
        "client_ip",
        pl.String(),
        "client side IP (ElastiFlow rule; null without ports)",
        "derived",
        "flow.client_addr",
        *_ORIENTED,
    ),
    Column("server_ip", pl.String(), "server side IP", "derived", "flow.server_addr", *_ORIENTED),
    Column("client_port", pl.UInt16(), "client side port", "derived", "", *_ORIENTED),
    Column(
        "service_port", pl.UInt16(), "server side port", "derived", "flow.service_port", *_ORIENTED
    ),
    Column(
        "service_name",
        pl.String(),
        "service name of the server port: IANA name with "
        "ElastiFlow/cloud overrides (etcd-client, kubernetes-api), else 'TCP/10250'",
        "derived",
        "flow.service_name (without ' (TCP/2379)')",
        *_ORIENTED,
    ),
    Column(
        "source",
        pl.String(),
        "where the row came from: 'sflow', 'pcap', 'demo', 'elasticsearch', ...",
        "",
        "event.type",
    ),
    Column(
        "flow_start",
        TIME,
        "first packet of the flow record (UTC, ms); null for sFlow (a sampled packet)",
        "",
        "netflow.first_switched (IPFIX: ipfix.flowStart*, *DeltaMicroseconds before @timestamp)",
        "First + header unix_secs - sys_uptime",
        "flowStartSysUpTime (22) via the header's uptime",
        "flowStart{Seconds,Milliseconds,Microseconds,Nanoseconds} (150/152/154/156), "
        "flowStartDeltaMicroseconds (158) before the export time, flowStartSysUpTime (22) "
        "+ systemInitTimeMilliseconds (160)",
    ),
    Column(
        "flow_end",
        TIME,
        "last packet of the flow record (UTC, ms); null for sFlow",
        "",
        "netflow.last_switched (IPFIX: ipfix.flowEnd*)",
        "Last, as First",
        "flowEndSysUpTime (21)",
        "flowEnd* (151/153/155/157), flowEndDeltaMicroseconds (159), flowEndSysUpTime (21)",
    ),
    Column(
        "direction",
        pl.UInt8(),
        "flowDirection: 0 ingress, 1 egress (null: not sent). Open vSwitch samples each "
        "packet on input and output: count one direction (flowlab.netflow.one_direction)",
        "",
        "flow.direction",
        "",
        "DIRECTION (61)",
        "flowDirection (61)",
    ),
    Column(
        "observation_domain",
        pl.UInt32(),
        "IPFIX observation domain / NetFlow v9 source id / v5 engine_type*256+engine_id; "
        "with exporter, the scope of templates (null for sFlow)",
        "",
        "ipfix.observationDomainId (when the record carries IE 149)",
        "header engine_type, engine_id",
        "header source_id",
        "header observation domain id",
    ),
    Column(
        "flow_format",
        pl.String(),
        "what one row is: 'sflow' (one sampled packet) or 'netflow5', 'netflow9', 'ipfix' "
        "(one flow record: delta counts over flow_start..flow_end); null if the source "
        "did not say",
        "'sflow'",
        "netflow.version / ipfix.version (5, 9, 10)",
        "'netflow5'",
        "'netflow9'",
        "'ipfix'",
    ),
)

#: the canonical flow frame's columns and dtypes (see docs/schema.md)
FLOW_SCHEMA: pl.Schema = pl.Schema({c.name: c.dtype for c in FLOW_COLUMNS})

COUNTER_COLUMNS: tuple[Column, ...] = (
    Column("time", TIME, "when the counter sample was received (UTC, ms)"),
    Column("exporter", pl.String(), "exporter (sFlow agent) address"),
    Column("sub_agent_id", pl.UInt32(), "sFlow sub-agent id"),
    Column("sequence", pl.UInt32(), "datagram sequence number"),
    Column("sample_sequence", pl.UInt32(), "counter sample sequence number"),
    Column("source_id", pl.UInt32(), "data source index"),
    Column("if_index", pl.UInt32(), "ifIndex"),
    Column("if_type", pl.UInt32(), "ifType (IANA ifType, 6 = ethernetCsmacd)"),
    Column("if_speed", pl.UInt64(), "ifSpeed, bits/s"),
    Column("if_direction", pl.UInt32(), "0 unknown, 1 full-duplex, 2 half-duplex, 3 in, 4 out"),
    Column("if_status", pl.UInt32(), "bit 0 admin up, bit 1 oper up"),
    Column("in_octets", pl.UInt64(), "ifInOctets"),
    Column("in_ucast_pkts", pl.UInt32(), "ifInUcastPkts"),
    Column("in_multicast_pkts", pl.UInt32(), "ifInMulticastPkts"),
    Column("in_broadcast_pkts", pl.UInt32(), "ifInBroadcastPkts"),
    Column("in_discards", pl.UInt32(), "ifInDiscards"),
    Column("in_errors", pl.UInt32(), "ifInErrors"),
    Column("in_unknown_protos", pl.UInt32(), "ifInUnknownProtos"),
    Column("out_octets", pl.UInt64(), "ifOutOctets"),
    Column("out_ucast_pkts", pl.UInt32(), "ifOutUcastPkts"),
    Column("out_multicast_pkts", pl.UInt32(), "ifOutMulticastPkts"),
    Column("out_broadcast_pkts", pl.UInt32(), "ifOutBroadcastPkts"),
    Column("out_discards", pl.UInt32(), "ifOutDiscards"),
    Column("out_errors", pl.UInt32(), "ifOutErrors"),
    Column("promiscuous_mode", pl.UInt32(), "ifPromiscuousMode"),
    Column("dot3_alignment_errors", pl.UInt32(), "dot3StatsAlignmentErrors (ethernet record)"),
    Column("dot3_fcs_errors", pl.UInt32(), "dot3StatsFCSErrors"),
    Column("dot3_single_collision_frames", pl.UInt32(), "dot3StatsSingleCollisionFrames"),
    Column("dot3_multiple_collision_frames", pl.UInt32(), "dot3StatsMultipleCollisionFrames"),
    Column("dot3_sqe_test_errors", pl.UInt32(), "dot3StatsSQETestErrors"),
    Column("dot3_deferred_transmissions", pl.UInt32(), "dot3StatsDeferredTransmissions"),
    Column("dot3_late_collisions", pl.UInt32(), "dot3StatsLateCollisions"),
    Column("dot3_excessive_collisions", pl.UInt32(), "dot3StatsExcessiveCollisions"),
    Column("dot3_internal_mac_transmit_errors", pl.UInt32(), "dot3StatsInternalMacTransmitErrors"),
    Column("dot3_carrier_sense_errors", pl.UInt32(), "dot3StatsCarrierSenseErrors"),
    Column("dot3_frame_too_longs", pl.UInt32(), "dot3StatsFrameTooLongs"),
    Column("dot3_internal_mac_receive_errors", pl.UInt32(), "dot3StatsInternalMacReceiveErrors"),
    Column("dot3_symbol_errors", pl.UInt32(), "dot3StatsSymbolErrors"),
    Column("source", pl.String(), "where the row came from"),
)

#: the canonical counters frame's columns and dtypes
COUNTER_SCHEMA: pl.Schema = pl.Schema({c.name: c.dtype for c in COUNTER_COLUMNS})


def empty() -> pl.DataFrame:
    """Return an empty flow frame with the canonical schema.

    Examples
    --------
    >>> empty().height
    0
    """
    return pl.DataFrame(schema=FLOW_SCHEMA)


def empty_counters() -> pl.DataFrame:
    """Return an empty counters frame with the canonical counters schema."""
    return pl.DataFrame(schema=COUNTER_SCHEMA)


def _check(
    frame: pl.DataFrame | pl.LazyFrame, schema: Mapping[str, pl.DataType], what: str
) -> None:
    got = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    problems: list[str] = []
    missing = [name for name in schema if name not in got]
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    extra = [name for name in got if name not in schema]
    if extra:
        problems.append(f"unexpected columns: {', '.join(extra)}")
    for name, dtype in schema.items():
        if name in got and got[name] != dtype:
            problems.append(f"column {name!r} has dtype {got[name]}, expected {dtype}")
    if not problems and list(got) != list(schema):
        problems.append("columns are not in canonical order (use flowlab.schema.conform)")
    if problems:
        msg = f"not a canonical {what} frame: " + "; ".join(problems)
        raise SchemaError(msg)


def validate(frame: pl.DataFrame | pl.LazyFrame) -> None:
    """Check that `frame` follows the canonical flow schema exactly.

    Parameters
    ----------
    frame : polars.DataFrame or polars.LazyFrame
        The frame to check.

    Raises
    ------
    SchemaError
        Naming every missing or unexpected column and every wrong dtype.

    Examples
    --------
    >>> import polars as pl
    >>> validate(pl.DataFrame({"src_ip": ["10.0.0.1"]}))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    flowlab.exceptions.SchemaError: not a canonical flow frame: missing columns: time, exporter, ...
    """
    _check(frame, FLOW_SCHEMA, "flow")


def validate_counters(frame: pl.DataFrame | pl.LazyFrame) -> None:
    """Check that `frame` follows the canonical counters schema exactly."""
    _check(frame, COUNTER_SCHEMA, "counters")


def conform(frame: pl.DataFrame, *, counters: bool = False) -> pl.DataFrame:
    """Cast, order and complete `frame` into the canonical schema.

    Columns the schema does not know raise :class:`SchemaError`; columns it
    knows but `frame` lacks are added as nulls. Casts are strict: a value that
    does not fit its dtype raises rather than silently becoming null.

    Examples
    --------
    >>> import polars as pl
    >>> f = conform(pl.DataFrame({"src_ip": ["10.0.0.1"], "bytes": [1500]}))
    >>> f.schema["bytes"], f["dst_ip"][0] is None
    (UInt64, True)
    """
    schema = COUNTER_SCHEMA if counters else FLOW_SCHEMA
    extra = [name for name in frame.columns if name not in schema]
    if extra:
        msg = f"unknown columns for the canonical schema: {', '.join(extra)}"
        raise SchemaError(msg)
    exprs = []
    for name, dtype in schema.items():
        if name in frame.columns:
            exprs.append(pl.col(name).cast(dtype, strict=True))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    try:
        return frame.select(exprs)
    except pl.exceptions.InvalidOperationError as exc:
        msg = f"cannot cast to the canonical schema: {exc}"
        raise SchemaError(msg) from exc


def scale_expr(
    frame_length: pl.Expr | str = "frame_length", sampling_rate: pl.Expr | str = "sampling_rate"
) -> tuple[pl.Expr, pl.Expr]:
    """Return the expressions for estimated ``bytes`` and ``packets``.

    The one place where sampled observations become estimated totals: a
    sampled packet stands for ``sampling_rate`` packets and
    ``frame_length * sampling_rate`` bytes (ElastiFlow's rule; no other
    correction is applied).

    Examples
    --------
    >>> import polars as pl
    >>> b, p = scale_expr()
    >>> pl.DataFrame({"frame_length": [100], "sampling_rate": [400]}).select(b, p).row(0)
    (40000, 400)
    """
    fl = pl.col(frame_length) if isinstance(frame_length, str) else frame_length
    sr = pl.col(sampling_rate) if isinstance(sampling_rate, str) else sampling_rate
    nbytes = (fl.cast(pl.UInt64) * sr.cast(pl.UInt64)).alias("bytes")
    npackets = sr.cast(pl.UInt64).alias("packets")
    return nbytes, npackets


def markdown() -> str:
    """The schema as the Markdown tables of ``docs/schema.md`` (kept in sync by a test)."""
    lines = [
        "# The canonical flow schema",
        "",
        "Generated from `flowlab/schema.py` (`python -c 'import flowlab.schema as s; "
        'print(s.markdown(), end="")\' > docs/schema.md`).',
        "One row = one flow record: for sFlow and ElastiFlow one sampled packet, for NetFlow v5,",
        "v9 and IPFIX (`flow_format`) one flow record of the exporter (delta counts between",
        "`flow_start` and `flow_end`). `bytes` and `packets` are estimated totals: for sFlow",
        "`frame_length x sampling_rate` and `sampling_rate`; for flow records the record's counts",
        "x the sampling rate that applies, or as sent where `sampling_rate` is null (unknown:",
        "Open vSwitch's IPFIX sends counts already scaled and no rate). Open vSwitch's bridge IPFIX",
        "reports each sampled packet twice, `direction` 0 and 1: count one direction.",
        "",
        "## Flows",
        "",
        "| column | dtype | meaning | sFlow | ElastiFlow 3.x |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| `{c.name}` | {c.dtype} | {c.meaning} | {c.sflow} | {c.elastiflow} |"
        for c in FLOW_COLUMNS
    ]
    lines += [
        "",
        "### Flows from NetFlow v5, NetFlow v9 and IPFIX",
        "",
        "Columns not listed are null for these protocols.",
        "",
        "| column | NetFlow v5 | NetFlow v9 | IPFIX |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{c.name}` | {c.netflow5} | {c.netflow9} | {c.ipfix} |"
        for c in FLOW_COLUMNS
        if c.netflow5 or c.netflow9 or c.ipfix
    ]
    lines += ["", "## Counters", "", "| column | dtype | meaning |", "|---|---|---|"]
    lines += [f"| `{c.name}` | {c.dtype} | {c.meaning} |" for c in COUNTER_COLUMNS]
    return "\n".join(lines + _enrichment_markdown()) + "\n"


def _enrichment_markdown() -> list[str]:
    from flowlab.k8s.enrich import ENRICHED_COLUMNS, SIDES  # imports this module

    sides = "{" + ",".join(SIDES) + "}"
    lines = [
        "",
        "## Enrichment",
        "",
        "Added after the columns above by `flowlab.k8s.enrich(flows, inventory)` "
        "(`flowlab/k8s/enrich.py`); `client_*`/`server_*` are null for rows without ports.",
        "",
        "| column | dtype | meaning |",
        "|---|---|---|",
    ]
    seen: set[str] = set()
    for c in ENRICHED_COLUMNS:
        side, _, field = c.name.partition("_")
        if (
            side in SIDES
            and c.meaning.startswith(f"{side} side: ")
            and c.name != "server_port_name"
        ):
            if field not in seen:
                seen.add(field)
                meaning = c.meaning.removeprefix(f"{side} side: ")
                lines.append(f"| `{sides}_{field}` | {c.dtype} | {meaning} |")
        else:
            lines.append(f"| `{c.name}` | {c.dtype} | {c.meaning} |")
    return lines
