"""Details of one endpoint or one service: peers, service breakdown, the flow records.

Examples
--------
>>> import polars as pl
>>> from flowlab.schema import conform
>>> from flowlab.services import orient_frame
>>> f = orient_frame(conform(pl.DataFrame({"src_ip": ["10.128.2.7", "10.129.2.9"],
...     "dst_ip": ["10.129.2.9", "10.128.2.7"], "src_port": [40000, 9091], "dst_port": [9091, 40000],
...     "protocol": [6, 6], "bytes": [100, 900], "packets": [1, 1]})))
>>> peers(f, "10.128.2.7").select("peer", "role", "bytes").rows()
[('10.129.2.9', 'server', 1000)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from flowlab.analysis.toplists import _NAMES, finish, volume
from flowlab.services import PROTOCOL_NAMES
from flowlab.vocabulary.endpoints import endpoint_id
from flowlab.vocabulary.filters import Spec, match, unmatched, where

__all__ = ["Breakdown", "flow_records", "peers", "service_breakdown"]


def peers(
    flows: pl.DataFrame | pl.LazyFrame,
    who: Spec,
    *,
    by: str = "ip",
    interval: str | None = None,
    intervals: bool = False,
    **filters: Any,
) -> pl.DataFrame:
    """Everything `who` talked with (the seed's Traffic Details: grafana 10.128.2.7 -> its peers).

    Parameters
    ----------
    who : endpoint spec
        IP, CIDR, ``ns/name``, ... (see :mod:`flowlab.vocabulary.filters`).
    by : str
        What a peer is: ``"ip"`` or a graph level.
    interval : str, optional
        With ``"1m"``, ``"5m"``, ... : bytes over time per peer instead
        (``time, peer, bytes, packets, flows``).
    intervals : bool
        Add 95 % intervals, ``samples`` and ``low_evidence`` (:mod:`flowlab.estimate`).

    Returns
    -------
    ``peer``, [names], ``role`` (the peer's role: ``server``, ``client``, or
    ``server+client``; ``src``/``dst`` for rows without ports), ``services``,
    ``bytes, packets, flows, first_seen, last_seen``; by bytes.
    """
    lf = where(flows, **filters)
    if isinstance(flows, pl.DataFrame) and flows.height:
        unmatched(flows, ip=who)
    names = lf.collect_schema().names()
    parts = []
    for me, other in (("src", "dst"), ("dst", "src")):
        mine = match(me, who, names)
        peer_is_server = pl.col("server_ip").is_not_null() & (
            (pl.col("server_ip") == pl.col(f"{other}_ip"))
            & (pl.col("service_port") == pl.col(f"{other}_port"))
        )
        role = (
            pl.when(pl.col("server_ip").is_null())
            .then(pl.lit(other))
            .when(peer_is_server)
            .then(pl.lit("server"))
            .otherwise(pl.lit("client"))
        )
        cols = [endpoint_id(other, by).alias("peer"), role.alias("role")]
        if f"{other}_kind" in names:
            fields = _NAMES if by == "ip" else ("namespace", "kind")
            cols += [pl.col(f"{other}_{f}").alias(f) for f in fields]
        parts.append(
            lf.filter(mine & ~match(other, who, names)).select(
                *cols, "service_name", "bytes", "packets", "sampling_rate", "time"
            )
        )
    both = pl.concat(parts)
    if interval is not None:
        per_time = both.group_by(pl.col("time").dt.truncate(interval), "peer")
        return finish(per_time.agg(*volume(intervals))).sort("time", "peer").collect()
    extra = [c for c in both.collect_schema().names() if c in _NAMES]
    out = both.group_by("peer").agg(
        *[pl.col(c).drop_nulls().first() for c in extra],
        pl.col("role").unique().sort(descending=True).str.join("+"),
        pl.col("service_name").drop_nulls().unique().sort().alias("services"),
        *volume(intervals),
        pl.col("time").min().alias("first_seen"),
        pl.col("time").max().alias("last_seen"),
    )
    return finish(out).sort(["bytes", "peer"], descending=[True, False]).collect()


@dataclass(frozen=True)
class Breakdown:
    """:func:`service_breakdown`'s answer: four frames, each by bytes."""

    #: one row: service, protocols, ports, bytes, packets, flows, clients, servers
    totals: pl.DataFrame
    #: who originated it: client, [names], bytes, packets, flows
    clients: pl.DataFrame
    #: which servers answered: server, [names], ports, bytes, packets, flows
    servers: pl.DataFrame
    #: client -> server pairs with protocol and ports
    pairs: pl.DataFrame

    def _tables(self) -> list[Any]:
        from flowlab.tables import show

        return [
            show(self.totals, "totals"),
            show(self.clients, "clients"),
            show(self.servers, "servers"),
            show(self.pairs, "client -> server pairs"),
        ]

    def __repr__(self) -> str:
        return "\n\n".join(repr(t) for t in self._tables())

    def _repr_html_(self) -> str:
        return "".join(t._repr_html_() for t in self._tables())


def service_breakdown(
    flows: pl.DataFrame | pl.LazyFrame,
    service: str | Sequence[str],
    *,
    by: str = "ip",
    intervals: bool = False,
    **filters: Any,
) -> Breakdown:
    """Who originated `service` (e.g. ``"etcd-client"``), which servers, volumes, protocol and ports.

    With `intervals`, every frame has 95 % intervals, ``samples`` and ``low_evidence``.
    """
    lf = where(flows, service=service, **filters).filter(pl.col("client_ip").is_not_null())
    names = lf.collect_schema().names()
    proto = (
        pl.col("protocol")
        .drop_nulls()
        .unique()
        .sort()
        .replace_strict(PROTOCOL_NAMES, default=None, return_dtype=pl.String)
        .alias("protocols")
    )
    ports = pl.col("service_port").drop_nulls().unique().sort().alias("ports")

    def side(name: str) -> tuple[pl.Expr, list[pl.Expr]]:
        extra = []
        if f"{name}_kind" in names:
            fields = _NAMES if by == "ip" else ("namespace", "kind")
            extra = [pl.col(f"{name}_{f}").drop_nulls().first().alias(f) for f in fields]
        return endpoint_id(name, by).alias(name), extra

    c_key, c_extra = side("client")
    s_key, s_extra = side("server")
    label = service if isinstance(service, str) else ",".join(service)
    totals = lf.select(
        pl.lit(label).alias("service"),
        proto.implode(),
        ports.implode(),
        *volume(intervals),
        c_key.n_unique().cast(pl.UInt32).alias("clients"),
        s_key.n_unique().cast(pl.UInt32).alias("servers"),
    )
    totals = finish(totals)
    clients = finish(lf.group_by(c_key).agg(*c_extra, *volume(intervals))).sort(
        ["bytes", "client"], descending=[True, False]
    )
    servers = finish(lf.group_by(s_key).agg(*s_extra, ports, *volume(intervals))).sort(
        ["bytes", "server"], descending=[True, False]
    )
    pairs = finish(lf.group_by(c_key, s_key).agg(proto, ports, *volume(intervals))).sort(
        ["bytes", "client", "server"], descending=[True, False, False]
    )
    t, c, s, p = pl.collect_all([totals, clients, servers, pairs])
    return Breakdown(totals=t, clients=c, servers=s, pairs=p)


def flow_records(
    flows: pl.DataFrame | pl.LazyFrame,
    *,
    columns: Sequence[str] | None = None,
    limit: int | None = 1000,
    newest_first: bool = True,
    **filters: Any,
) -> pl.DataFrame:
    """The flow records matching `filters` (the dashboards' raw table), newest first.

    `columns` defaults to time, exporter, client/server (or src/dst), ports,
    protocol, service, bytes, packets and, on enriched flows, the client and
    server workload and namespace.
    """
    lf = where(flows, **filters)
    names = lf.collect_schema().names()
    if columns is None:
        columns = [
            "time",
            "exporter",
            "src_ip",
            "src_port",
            "dst_ip",
            "dst_port",
            "protocol",
            "client_ip",
            "server_ip",
            "service_port",
            "service_name",
            "bytes",
            "packets",
            "tcp_flags",
        ]
        columns += [
            c
            for c in (
                "client_namespace",
                "client_workload",
                "server_namespace",
                "server_workload",
                "server_service",
            )
            if c in names
        ]
    missing = [c for c in columns if c not in names]
    if missing:
        from flowlab.exceptions import ConfigError

        msg = f"unknown columns {missing}; the frame has {', '.join(names)}"
        raise ConfigError(msg)
    out = lf.select(columns)
    if "time" in columns:
        out = out.sort("time", descending=newest_first, nulls_last=True)
    return (out.head(limit) if limit is not None else out).collect()
