"""Canonical flow frames -> Elasticsearch documents (NDJSON lines), in the sink's two layouts.

Everything is vectorised: Polars builds the (nested) document columns and
writes them as NDJSON; null fields are then removed from the text, so a
missing port is absent from ``_source`` (as Logstash leaves it) rather than
``null``.

The ``elastiflow`` layout follows ElastiFlow 3.5.0 field by field (see
``shared/reference/elastiflow.md``), each canonical column under the field the
one field table (:mod:`flowlab.elastic._fields`) reads it from: numbers that Logstash's sFlow codec
leaves as strings (``sflow.*``, ``flow.tos``, ``flow.vlan``,
``flow.service_port``, ``flow.input_snmp``) are strings; ``flow.bytes`` and
``flow.packets`` are the scaled estimates; ``flow.tcp_flags`` is a list of
names (``"none"`` for 0, absent for non-TCP); ``flow.tos`` is the DSCP (the
ECN bits go to ``sflow.ip_ecn``); the flow sample's sequence number is
``sflow.sample_seq_number`` (the Logstash sFlow codec's name; with
``node.ipaddr``, ``sflow.sub_agent_id``, ``sflow.source_id_index`` and
``@timestamp`` it identifies the sample, see :mod:`flowlab.elastic._ids`);
``flow.service_name`` is decorated
(``etcd-client (TCP/2379)``); the index is ``elastiflow-3.5.0-YYYY.MM.dd`` of
``@timestamp`` in UTC. NetFlow and IPFIX rows (by ``flow_format``) are written as
ElastiFlow 3.5.1 writes those types: ``event.type`` ``netflow``/``ipfix``,
``flow.tos`` the TOS byte (its ``src_tos``/``ipClassOfService``), ``flow.direction``
from ``direction`` (v9, IPFIX; v5 ``ingress``), ``flow.sampling_interval`` 0 where no
rate is known, ``netflow.version`` + ``first_switched``/``last_switched`` or
``ipfix.version`` + ``flowStartMilliseconds``/``flowEndMilliseconds`` +
``observationDomainId``, and no ``sflow.*`` field. Not written: GeoIP/ASN fields (no database), the NS
TCP flag (ElastiFlow ignores it), ICMP type/code and sequence numbers (no
ElastiFlow field).

Examples
--------
>>> import polars as pl, flowlab.schema as fs
>>> f = fs.conform(pl.DataFrame({"time": [1625140803512], "src_ip": ["10.0.0.1"],
...     "dst_ip": ["10.0.0.2"], "src_port": [51000], "dst_port": [2379], "protocol": [6],
...     "tcp_flags": [24], "bytes": [1514000], "packets": [1000], "sampling_rate": [1000],
...     "frame_length": [1514], "service_port": [2379], "service_name": ["etcd-client"],
...     "client_ip": ["10.0.0.1"], "server_ip": ["10.0.0.2"]}).with_columns(
...     pl.from_epoch("time", "ms").dt.replace_time_zone("UTC")))
>>> lines, names = elastiflow_lines(f)
>>> names
['elastiflow-3.5.0-2021.07.01']
>>> import json; doc = json.loads(lines[0])
>>> doc["flow"]["service_name"], doc["flow"]["service_port"], doc["flow"]["tcp_flags"]
('etcd-client (TCP/2379)', '2379', ['PSH', 'ACK'])
>>> doc["sflow"]["frame_length"], "tos" in doc["flow"]
('1514', False)
"""

from __future__ import annotations

import io
import ipaddress
from typing import Any

import polars as pl

from flowlab.elastic._fields import COLUMN_FIELDS, DIMENSION_FIELDS
from flowlab.elastic._mappings import ELASTIFLOW_INDEX_PREFIX
from flowlab.schema import FLOW_SCHEMA
from flowlab.services import PROTOCOL_NAMES, default_table
from flowlab.vocabulary.keys import KEYS

__all__ = ["documents_ndjson", "elastiflow_lines", "flowlab_lines"]

_ISO = "%Y-%m-%dT%H:%M:%S%.3fZ"
_FLAG_NAMES = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR")
_PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/32",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fc00::/7",
        "127.0.0.0/8",
        "::1/128",
        "169.254.0.0/16",
        "fe80::/10",
        "224.0.0.0/4",
        "ff00::/8",
        "255.255.255.255/32",
        "::/128",
    )
)


def _nest(names: list[str], prefix: str = "") -> list[pl.Expr]:
    """Struct expressions rebuilding nested objects from dotted column names."""
    groups: dict[str, list[str]] = {}
    for name in names:
        rest = name[len(prefix) :]
        head = rest.split(".", 1)[0]
        groups.setdefault(head, []).append(name)
    exprs = []
    for head, members in groups.items():
        full = f"{prefix}{head}"
        if members == [full]:
            exprs.append(pl.col(full).alias(head.split("#", 1)[0]))
        else:
            exprs.append(pl.struct(_nest(members, prefix=f"{full}.")).alias(head))
    return exprs


def documents_ndjson(
    leaves: pl.DataFrame, *, carry: str | None = None
) -> tuple[list[bytes], list[Any]]:
    """NDJSON documents from a frame of leaf fields named by dotted path; nulls are left out.

    Rows are grouped by which fields they have, so each group is written
    without null members (a missing port is absent, as Logstash leaves it);
    the lines come back in row order. A ``#suffix`` distinguishes variants of
    one field with different types (``flow.tcp_flags#none``). `carry` names a
    column returned beside the lines (aligned with them) instead of being written.

    Examples
    --------
    >>> f = pl.DataFrame({"a.b": [1, None], "a.c": ["x", "y"], "d": [None, 2], "ix": ["i", "j"]})
    >>> documents_ndjson(f, carry="ix")
    ([b'{"a":{"b":1,"c":"x"}}', b'{"a":{"c":"y"},"d":2}'], ['i', 'j'])
    """
    names = [c for c in leaves.columns if c != carry]
    if leaves.height == 0:
        return [], []
    if len(names) > 63:
        msg = f"too many document fields ({len(names)}) for one null mask"
        raise ValueError(msg)
    mask = pl.sum_horizontal(
        [pl.col(n).is_not_null().cast(pl.UInt64) * (1 << i) for i, n in enumerate(names)]
    ).alias("__mask")
    keyed = leaves.with_columns(mask).with_row_index("__row")
    lines: list[bytes] = [b""] * leaves.height
    for key, part in keyed.partition_by("__mask", as_dict=True).items():
        bits = int(key[0])
        present = [n for i, n in enumerate(names) if bits >> i & 1]
        if not present:
            group = [b"{}"] * part.height
        else:
            buf = io.BytesIO()
            part.select(_nest(present)).write_ndjson(buf)
            group = buf.getvalue().splitlines()
        for row, line in zip(part["__row"].to_list(), group):
            lines[row] = line
    carried = leaves[carry].to_list() if carry is not None else []
    return lines, carried


def flowlab_lines(frame: pl.DataFrame) -> list[bytes]:
    """Documents of the ``flowlab`` layout, in row order: canonical names, times as ISO-8601 UTC."""
    docs = frame.select(
        [
            _iso(pl.col(name)).alias(name) if isinstance(dtype, pl.Datetime) else pl.col(name)
            for name, dtype in FLOW_SCHEMA.items()
        ]
    )
    return documents_ndjson(docs)[0]


def _iso(when: pl.Expr) -> pl.Expr:
    """A UTC time as Logstash writes it (``2021-07-01T12:00:03.512Z``)."""
    return when.dt.convert_time_zone("UTC").dt.strftime(_ISO)


def _is_private(values: pl.Series) -> list[str]:
    private: list[str] = []
    for value in values.drop_nulls().unique().to_list():
        try:
            addr = ipaddress.ip_address(value)
        except ValueError:
            continue
        if any(addr.version == n.version and addr in n for n in _PRIVATE):
            private.append(value)
    return private


def _port_name(proto: pl.Expr, port: str, alias: str) -> pl.Expr:
    """``'etcd-client (TCP/2379)'``, ``'TCP/10250'``, or ``'ICMP/0'`` without a port."""
    name = pl.col(f"__name_{port}")
    decorated = pl.format("{} ({}/{})", name, proto, pl.col(port))
    bare = pl.format("{}/{}", proto, pl.col(port).fill_null(0))
    return pl.when(name.is_not_null()).then(decorated).otherwise(bare).alias(alias)


def _label(is_private: pl.Expr, ip: str) -> pl.Expr:
    """ElastiFlow's ``*_autonomous_system`` without a GeoIP database: private or public."""
    column = pl.col(ip)
    return (
        pl.when(column.is_null())
        .then(None)
        .when(is_private)
        .then(pl.lit("private"))
        .otherwise(pl.lit("public"))
    )


def elastiflow_lines(
    frame: pl.DataFrame, *, prefix: str = ELASTIFLOW_INDEX_PREFIX
) -> tuple[list[bytes], list[str]]:
    """Documents of the ``elastiflow`` layout and the daily index (`prefix` + ``YYYY.MM.dd``) of each.

    Returns
    -------
    lines : list of bytes
        One JSON document per row, in row order.
    indices : list of str
        ``elastiflow-3.5.0-YYYY.MM.dd`` per document (None without a time), aligned with `lines`.
    """
    if frame.height == 0:
        return [], []
    private = sorted(set(_is_private(frame["src_ip"])) | set(_is_private(frame["dst_ip"])))
    table = default_table().frame()
    proto = (
        pl.col("protocol")
        .replace_strict(PROTOCOL_NAMES, default=None, return_dtype=pl.String)
        .fill_null(pl.format("UNKNOWN({})", pl.col("protocol")))
    )
    lf = frame.lazy().with_columns(
        __proto=proto,
        __key_s=pl.col("protocol").cast(pl.UInt32) * 65536 + pl.col("src_port").cast(pl.UInt32),
        __key_d=pl.col("protocol").cast(pl.UInt32) * 65536 + pl.col("dst_port").cast(pl.UInt32),
    )
    for side, port in (("s", "src_port"), ("d", "dst_port")):
        names = table.lazy().rename({"key": f"__key_{side}", "name": f"__name_{port}"})
        lf = lf.join(names, on=f"__key_{side}", how="left", maintain_order="left")
    p = pl.col("__proto")
    src_private = pl.col("src_ip").is_in(private)
    dst_private = pl.col("dst_ip").is_in(private)
    svc_port = pl.col("service_port")
    svc_decorated = (
        pl.when(pl.col("service_name") == pl.format("{}/{}", p, svc_port))
        .then(pl.col("service_name"))
        .otherwise(pl.format("{} ({}/{})", pl.col("service_name"), p, svc_port))
    )
    flags = pl.col("tcp_flags").cast(pl.Int64)
    is_tcp = (pl.col("protocol") == 6) & flags.is_not_null()
    flag_list = pl.concat_list(
        [pl.when((flags & (1 << i)) != 0).then(pl.lit(n)) for i, n in enumerate(_FLAG_NAMES)]
    ).list.drop_nulls()
    tos = pl.col("tos").cast(pl.Int64)
    fmt = pl.col("flow_format")
    netflow = fmt.is_in(["netflow5", "netflow9"])
    ipfix = fmt == "ipfix"
    record = (netflow | ipfix).fill_null(False)  # a NetFlow/IPFIX flow record
    is_sflow = ~record
    has_addr = pl.col("src_ip").is_not_null() & pl.col("dst_ip").is_not_null()
    utc = pl.col("time").dt.convert_time_zone("UTC")

    def text(expr: pl.Expr) -> pl.Expr:
        return expr.cast(pl.String)

    def put(column: str, expr: pl.Expr | None = None, variant: str = "") -> pl.Expr:
        """`expr` (default: the column) as the field the table reads `column` from."""
        return (pl.col(column) if expr is None else expr).alias(COLUMN_FIELDS[column] + variant)

    def group(key: str, expr: pl.Expr | None = None) -> pl.Expr:
        """`expr` (default: the key's column) as the field push-down key `key` groups by."""
        return (pl.col(KEYS[key]) if expr is None else expr).alias(DIMENSION_FIELDS[key])

    leaves = [
        put("time", utc.dt.strftime(_ISO)),
        pl.lit("3.5.0").alias("@version"),
        put(
            "source",
            pl.when(netflow)
            .then(pl.lit("netflow"))
            .when(ipfix)
            .then(pl.lit("ipfix"))
            .otherwise(pl.lit("sflow")),
        ),
        pl.col("exporter").alias("event.host"),
        put("exporter"),
        pl.col("exporter").alias("node.hostname"),
        put("src_ip"),
        put("dst_ip"),
        put("src_port", pl.col("src_port").cast(pl.Int64)),
        put("dst_port", pl.col("dst_port").cast(pl.Int64)),
        put("protocol", p),
        put(
            "ip_version",
            pl.when(pl.col("ip_version") == 4)
            .then(pl.lit("IPv4"))
            .when(pl.col("ip_version") == 6)
            .then(pl.lit("IPv6")),
        ),
        put("tcp_flags", pl.when(is_tcp & (flags != 0)).then(flag_list)),
        put("tcp_flags", pl.when(is_tcp & (flags == 0)).then(pl.lit("none")), "#none"),
        # sFlow: the DSCP (ECN in sflow.ip_ecn); NetFlow src_tos / IPFIX ipClassOfService: the byte
        put("tos", text(pl.when(record).then(tos).otherwise(tos // 4))),
        # ElastiFlow's fallback for a record without a sampling interval is 0 (read back as unknown)
        put(
            "sampling_rate",
            pl.when(record)
            .then(pl.col("sampling_rate").cast(pl.Int64).fill_null(0))
            .otherwise(pl.col("sampling_rate").cast(pl.Int64)),
        ),
        put("bytes", pl.col("bytes").cast(pl.Int64)),
        put("packets", pl.col("packets").cast(pl.Int64)),
        # sFlow and NetFlow v5: always "ingress"; v9 and IPFIX: flowDirection
        put(
            "direction",
            pl.when(fmt.is_in(["netflow9", "ipfix"]))
            .then(
                pl.when(pl.col("direction").is_null())
                .then(pl.lit("unspecified"))
                .when(pl.col("direction") == 0)
                .then(pl.lit("ingress"))
                .when(pl.col("direction") == 1)
                .then(pl.lit("egress"))
                .otherwise(pl.lit("undetermined"))
            )
            .otherwise(pl.lit("ingress")),
        ),
        put("src_mac"),
        put("dst_mac"),
        put("vlan", text(pl.col("vlan"))),
        put("in_if", text(pl.col("in_if"))),
        put("out_if", text(pl.col("out_if"))),
        pl.format("index: {}", pl.col("in_if")).alias("flow.input_ifname"),
        pl.format("index: {}", pl.col("out_if")).alias("flow.output_ifname"),
        pl.col("src_ip").alias("flow.src_hostname"),
        pl.col("dst_ip").alias("flow.dst_hostname"),
        _port_name(p, "src_port", "flow.src_port_name"),
        _port_name(p, "dst_port", "flow.dst_port_name"),
        pl.when(has_addr)
        .then(
            pl.when(src_private & dst_private).then(pl.lit("private")).otherwise(pl.lit("public"))
        )
        .alias("flow.traffic_locality"),
        _label(src_private, "src_ip").alias("flow.src_autonomous_system"),
        _label(dst_private, "dst_ip").alias("flow.dst_autonomous_system"),
        group("server"),
        pl.col("server_ip").alias("flow.server_hostname"),
        _label(pl.col("server_ip").is_in(private), "server_ip").alias(
            "flow.server_autonomous_system"
        ),
        group("client"),
        pl.col("client_ip").alias("flow.client_hostname"),
        _label(pl.col("client_ip").is_in(private), "client_ip").alias(
            "flow.client_autonomous_system"
        ),
        group("service_port", text(svc_port)),
        group("service", svc_decorated),
        pl.when(is_sflow).then(pl.lit("flow_sample")).alias("sflow.sflow_type"),
        put("source_id", text(pl.col("source_id"))),
        put("sub_agent_id", text(pl.col("sub_agent_id"))),
        put("sample_sequence", text(pl.col("sample_sequence"))),
        put("frame_length", text(pl.col("frame_length"))),
        put("ethertype", text(pl.when(is_sflow).then(pl.col("ethertype")))),
        put("_ecn", text(pl.when(is_sflow).then(tos % 4))),
        put("ttl", text(pl.when(is_sflow).then(pl.col("ttl")))),
        # NetFlow/IPFIX: the codec's header version and record times, as ElastiFlow keeps them
        put(
            "flow_format",
            pl.when(fmt == "netflow5").then(pl.lit(5)).when(fmt == "netflow9").then(pl.lit(9)),
        ),
        put("flow_start", pl.when(netflow).then(_iso(pl.col("flow_start")))),
        put("flow_end", pl.when(netflow).then(_iso(pl.col("flow_end")))),
        pl.when(ipfix).then(pl.lit(10)).alias("ipfix.version"),
        pl.when(ipfix).then(pl.col("observation_domain")).alias("ipfix.observationDomainId"),
        pl.when(ipfix).then(_iso(pl.col("flow_start"))).alias("ipfix.flowStartMilliseconds"),
        pl.when(ipfix).then(_iso(pl.col("flow_end"))).alias("ipfix.flowEndMilliseconds"),
        (prefix + utc.dt.strftime("%Y.%m.%d")).alias("__index"),
    ]
    docs = lf.select(leaves).collect()
    return documents_ndjson(docs, carry="__index")
