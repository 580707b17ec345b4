"""Top-N tables of the Kibana dashboards: clients, servers, services, talkers, conversations.

Every function takes a DataFrame or LazyFrame of canonical (optionally
enriched) flows and the filters of :func:`flowlab.analysis.where`, and returns
a DataFrame sorted by ``bytes`` (largest first), with ``bytes`` and
``packets`` summed (estimated totals) and ``flows`` = the number of records.

``by`` picks what one row is: ``"ip"`` (default; on enriched flows the
namespace/pod/workload/kind of the address come along) or a graph level
(``"pod"``, ``"workload"``, ``"namespace"``, ``"node"``, ``"service"``; ids
as in :mod:`flowlab.graph.build`).

Examples
--------
>>> import polars as pl
>>> from flowlab.schema import conform
>>> from flowlab.services import orient_frame
>>> f = orient_frame(conform(pl.DataFrame({"src_ip": ["10.0.0.5", "10.0.0.6", "10.0.0.6"],
...     "dst_ip": ["172.30.0.1"] * 3, "src_port": [40000, 40001, 40002], "dst_port": [443] * 3,
...     "protocol": [6] * 3, "bytes": [100, 300, 50], "packets": [1, 2, 1]})))
>>> top_clients(f, server="172.30.0.1:443").rows()
[('10.0.0.6', 350, 3, 2), ('10.0.0.5', 100, 1, 1)]
"""

from __future__ import annotations

from typing import Any

import polars as pl

from flowlab.services import PROTOCOL_NAMES
from flowlab.vocabulary.endpoints import endpoint_id
from flowlab.vocabulary.filters import where

__all__ = [
    "conversations",
    "entity",
    "port_names",
    "service_label",
    "top_clients",
    "top_servers",
    "top_services",
    "top_talkers",
    "volume",
]

_NAMES = ("namespace", "pod", "workload", "kind")


def volume() -> list[pl.Expr]:
    """The three volume aggregations: bytes, packets (sums) and flows (record count)."""
    return [
        pl.col("bytes").sum().cast(pl.UInt64),
        pl.col("packets").sum().cast(pl.UInt64),
        pl.len().cast(pl.UInt64).alias("flows"),
    ]


def entity(side: str, by: str, names: list[str], alias: str) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """(group-key expressions, descriptive aggregations) naming one side at level `by`."""
    key = endpoint_id(side, by).alias(alias)
    extra: list[pl.Expr] = []
    if f"{side}_kind" in names:
        fields = _NAMES if by == "ip" else ("namespace", "kind")
        extra = [pl.col(f"{side}_{f}").drop_nulls().sort().first().alias(f) for f in fields]
    return [key], extra


def port_names(names: list[str]) -> list[pl.Expr]:
    """``port_names``: the cluster's names of the server ports (enriched flows only)."""
    if "server_port_name" not in names:
        return []
    col = pl.col("server_port_name").cast(pl.String)
    return [col.drop_nulls().unique().sort().alias("port_names")]


def service_label(names: list[str]) -> pl.Expr:
    """Expression ``service_label``: how a person names the server port of a row.

    The cluster's name with the port (``web (9090)``, ``kubelet-https-metrics (10250)``)
    when ``server_port_name`` is known, else the IANA ``service_name``.
    """
    iana = pl.col("service_name")
    if "server_port_name" not in names:
        return iana.alias("service_label")
    named = pl.format("{} ({})", pl.col("server_port_name").cast(pl.String), "service_port")
    return pl.coalesce(named, iana).alias("service_label")


def _sorted(frame: pl.LazyFrame, keys: list[str], n: int | None) -> pl.DataFrame:
    out = frame.sort(["bytes", *keys], descending=[True] + [False] * len(keys), nulls_last=True)
    return (out.head(n) if n is not None else out).collect()


def top_clients(
    flows: pl.DataFrame | pl.LazyFrame,
    *,
    server: Any = None,
    n: int | None = 10,
    by: str = "ip",
    **filters: Any,
) -> pl.DataFrame:
    """Clients by bytes, e.g. of the Kubernetes API: ``server=["172.30.0.1:443", "kubernetes-api"]``.

    Columns: ``client``, [names], ``bytes, packets, flows``. Rows without a client
    (no ports) are left out.
    """
    lf = where(flows, server=server, **filters).filter(pl.col("client_ip").is_not_null())
    keys, extra = entity("client", by, lf.collect_schema().names(), "client")
    return _sorted(lf.group_by(keys).agg(*extra, *volume()), ["client"], n)


def top_servers(
    flows: pl.DataFrame | pl.LazyFrame,
    *,
    client: Any = None,
    n: int | None = 10,
    by: str = "ip",
    **filters: Any,
) -> pl.DataFrame:
    """Servers by bytes.

    Columns: ``server``, [names], on enriched flows ``port_names`` (the
    cluster's names of the ports served), ``services`` (IANA names),
    ``bytes, packets, flows``.
    """
    lf = where(flows, client=client, **filters).filter(pl.col("server_ip").is_not_null())
    keys, extra = entity("server", by, lf.collect_schema().names(), "server")
    services = pl.col("service_name").drop_nulls().unique().sort().alias("services")
    named = port_names(lf.collect_schema().names())
    return _sorted(lf.group_by(keys).agg(*extra, *named, services, *volume()), ["server"], n)


def top_services(
    flows: pl.DataFrame | pl.LazyFrame, *, n: int | None = 10, **filters: Any
) -> pl.DataFrame:
    """Services (``service_name``) by bytes, with protocol, ports and distinct clients/servers.

    On enriched flows ``port_names`` lists the cluster's names of those ports
    (``server_port_name``: ``web`` or ``prometheus-web`` where the IANA name is
    ``hbase-thrift``).
    """
    lf = where(flows, **filters).filter(pl.col("service_name").is_not_null())
    out = (
        lf.group_by("service_name")
        .agg(
            *port_names(lf.collect_schema().names()),
            pl.col("protocol")
            .drop_nulls()
            .unique()
            .sort()
            .replace_strict(PROTOCOL_NAMES, default=None, return_dtype=pl.String)
            .alias("protocols"),
            pl.col("service_port").drop_nulls().unique().sort().alias("ports"),
            pl.col("client_ip").n_unique().cast(pl.UInt32).alias("clients"),
            pl.col("server_ip").n_unique().cast(pl.UInt32).alias("servers"),
            *volume(),
        )
        .rename({"service_name": "service"})
    )
    return _sorted(out, ["service"], n)


def top_talkers(
    flows: pl.DataFrame | pl.LazyFrame, *, n: int | None = 10, by: str = "ip", **filters: Any
) -> pl.DataFrame:
    """Endpoints by bytes sent + received (each record counts for both its ends).

    Columns: ``talker``, [names], ``bytes_sent, bytes_received, bytes, packets, flows``.
    """
    lf = where(flows, **filters)
    names = lf.collect_schema().names()
    parts = []
    for side, sent in (("src", True), ("dst", False)):
        keys, _ = entity(side, by, names, "talker")
        cols = [*keys]
        if f"{side}_kind" in names:
            fields = _NAMES if by == "ip" else ("namespace", "kind")
            cols += [pl.col(f"{side}_{f}").alias(f) for f in fields]
        parts.append(
            lf.select(
                *cols,
                "bytes",
                "packets",
                pl.when(pl.lit(sent))
                .then(pl.col("bytes"))
                .otherwise(0)
                .cast(pl.UInt64)
                .alias("bytes_sent"),
                pl.when(pl.lit(sent))
                .then(0)
                .otherwise(pl.col("bytes"))
                .cast(pl.UInt64)
                .alias("bytes_received"),
            )
        )
    both = pl.concat(parts)
    extra_cols = [c for c in both.collect_schema().names() if c in _NAMES]
    out = both.group_by("talker").agg(
        *[pl.col(c).drop_nulls().sort().first() for c in extra_cols],
        pl.col("bytes_sent").sum(),
        pl.col("bytes_received").sum(),
        *volume(),
    )
    return _sorted(out, ["talker"], n)


def conversations(
    flows: pl.DataFrame | pl.LazyFrame, *, n: int | None = None, by: str = "ip", **filters: Any
) -> pl.DataFrame:
    """Client -> server conversations per service (src -> dst for rows without ports).

    Columns: ``client, server, service, protocol``, on enriched flows
    ``port_names``, then ``bytes, packets, flows, first_seen, last_seen``.
    """
    lf = where(flows, **filters)
    has = pl.col("client_ip").is_not_null()
    client = (
        pl.when(has)
        .then(endpoint_id("client", by))
        .otherwise(endpoint_id("src", by))
        .alias("client")
    )
    server = (
        pl.when(has)
        .then(endpoint_id("server", by))
        .otherwise(endpoint_id("dst", by))
        .alias("server")
    )
    proto = pl.col("protocol").replace_strict(PROTOCOL_NAMES, default=None, return_dtype=pl.String)
    out = lf.group_by(
        client, server, pl.col("service_name").alias("service"), proto.alias("protocol")
    ).agg(
        *port_names(lf.collect_schema().names()),
        *volume(),
        pl.col("time").min().alias("first_seen"),
        pl.col("time").max().alias("last_seen"),
    )
    return _sorted(out, ["client", "server", "service"], n)
