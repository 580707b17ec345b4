"""Filters: endpoints, services, ports, protocols, time (:func:`where`, :class:`Filter`).

:func:`where` filters a frame now; a :class:`Filter` holds the same criteria
(IPs and CIDRs only) to be translated into an Elasticsearch query
(:mod:`flowlab.elastic.query`) and re-applied exactly with :func:`filter_frame`.

An *endpoint spec* names one end of a flow, in any of these forms:

==========================  ===========================================================
``"10.128.2.7"``            that IP (IPv4 or IPv6)
``"172.30.0.1:443"``        that IP and port (``[fd00::1]:443`` for IPv6); the port is
                            the side's own (client_port, service_port, src/dst_port)
``"10.128.0.0/14"``         any IP in the network
``"openshift-etcd/"``       anything in that namespace (enriched flows)
``"openshift-etcd/etcd"``   pod, workload or Service ``etcd`` in that namespace
``"node/master-0"``         the node itself (host address, enriched flows)
``"kubernetes-api"``        a bare name: the flow's service name (server side), or a
                            Service, workload, pod or node of that name (enriched)
==========================  ===========================================================

A list of specs matches any of them. Sides: ``client``, ``server``, ``src``,
``dst``, or ``ip=`` for either end (src or dst).

Examples
--------
>>> import polars as pl
>>> from flowlab import schema, services
>>> rows = {"src_ip": ["10.0.0.5", "10.0.0.6"], "dst_ip": ["172.30.0.1", "10.0.0.3"],
...         "src_port": [40000, 40001], "dst_port": [443, 2379], "protocol": [6, 6]}
>>> f = services.orient_frame(schema.conform(pl.DataFrame(rows)))
>>> where(f, server="172.30.0.1:443").collect()["src_ip"].to_list()
['10.0.0.5']
>>> where(f, service="etcd-client").collect()["src_ip"].to_list()
['10.0.0.6']
"""

from __future__ import annotations

import difflib
import ipaddress
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import polars as pl

from flowlab._time import TimeLike, parse_window
from flowlab.exceptions import ConfigError, FlowlabWarning
from flowlab.services import protocol_number
from flowlab.vocabulary.networks import in_networks

__all__ = [
    "SIDES",
    "Filter",
    "Spec",
    "describe",
    "filter_frame",
    "match",
    "unmatched",
    "where",
]

#: the canonical columns each :class:`Filter` criterion reads
_FILTER_COLUMNS = {
    "client": ("client_ip",),
    "server": ("server_ip",),
    "ip": ("src_ip", "dst_ip"),
    "exporter": ("exporter",),
    "service": ("service_name",),
    "port": ("service_port",),
    "protocol": ("protocol",),
}
#: an endpoint spec (see the module docstring), or a list of them (any matches)
Spec = str | Sequence[str]
#: the sides a spec can name
SIDES = ("client", "server", "src", "dst")
_PORT = {"client": "client_port", "server": "service_port", "src": "src_port", "dst": "dst_port"}


def _tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, int)):
        return (value,)
    return tuple(value)


def _networks(values: Iterable[Any], what: str) -> tuple[str, ...]:
    out = []
    for value in values:
        text = str(value).strip()
        try:
            if "/" in text:
                ipaddress.ip_network(text, strict=False)
            else:
                ipaddress.ip_address(text)
        except ValueError:
            msg = f"{what} filter expects IP addresses or CIDRs like 10.128.0.0/14, found {text!r}"
            raise ConfigError(msg) from None
        out.append(text)
    return tuple(out)


@dataclass(frozen=True, init=False)
class Filter:
    """Which flows to keep; every criterion given must match (within one, any value).

    Parameters
    ----------
    client, server : str or list of str
        Client / server IP addresses or CIDRs (as oriented by flowlab).
    ip : str or list of str
        Either endpoint (source or destination).
    service : str or list of str
        Service names as in the ``service_name`` column (``"etcd-client"``, ``"TCP/10250"``).
    port : int or list of int
        Service (server-side) ports.
    protocol : str, int or list
        IP protocols, by name or number.
    exporter : str or list of str
        Exporter (sFlow agent) IP addresses or CIDRs.
    """

    client: tuple[str, ...]
    server: tuple[str, ...]
    ip: tuple[str, ...]
    service: tuple[str, ...]
    port: tuple[int, ...]
    protocol: tuple[int, ...]
    exporter: tuple[str, ...]

    def __init__(
        self,
        *,
        client: str | Iterable[str] | None = None,
        server: str | Iterable[str] | None = None,
        ip: str | Iterable[str] | None = None,
        service: str | Iterable[str] | None = None,
        port: int | Iterable[int] | None = None,
        protocol: str | int | Iterable[str | int] | None = None,
        exporter: str | Iterable[str] | None = None,
    ) -> None:
        object.__setattr__(self, "client", _networks(_tuple(client), "client"))
        object.__setattr__(self, "server", _networks(_tuple(server), "server"))
        object.__setattr__(self, "ip", _networks(_tuple(ip), "ip"))
        object.__setattr__(self, "exporter", _networks(_tuple(exporter), "exporter"))
        object.__setattr__(self, "service", tuple(str(s) for s in _tuple(service)))
        ports = []
        for p in _tuple(port):
            if not str(p).isdigit() or not 0 <= int(p) <= 65535:
                msg = f"port filter expects integers 0..65535, found {p!r}"
                raise ConfigError(msg)
            ports.append(int(p))
        object.__setattr__(self, "port", tuple(ports))
        object.__setattr__(self, "protocol", tuple(protocol_number(p) for p in _tuple(protocol)))

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def columns(self) -> set[str]:
        """The canonical columns the given criteria read (to re-check them on loaded rows).

        Examples
        --------
        >>> sorted(Filter(ip="10.0.0.0/8", port=443).columns())
        ['dst_ip', 'service_port', 'src_ip']
        """
        return {c for f in fields(self) if getattr(self, f.name) for c in _FILTER_COLUMNS[f.name]}

    def merged(self, **kwargs: Any) -> Filter:
        """A copy with the keyword criteria added (``None`` values ignored)."""
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        for key, value in kwargs.items():
            if value is None:
                continue
            if key not in current:
                msg = f"unknown filter {key!r}; known: {sorted(current)}"
                raise ConfigError(msg)
            current[key] = current[key] + _tuple(value)
        return Filter(**current)


def _split_port(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if text.count(":") == 1:
        host, port = text.split(":")
        if port.isdigit():
            return host, int(port)
    return text, None


def _is_ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _enriched(names: set[str], side: str, spec: str) -> None:
    if f"{side}_kind" not in names:
        msg = f"filter {spec!r} names Kubernetes objects: enrich the flows first (flowlab.k8s.enrich(flows, inventory))"
        raise ConfigError(msg)


def _one(side: str, spec: str, names: set[str]) -> pl.Expr:
    col = lambda f: pl.col(f"{side}_{f}")  # noqa: E731
    text = spec.strip()
    host, port = _split_port(text)
    ip = _is_ip(host)
    if ip is not None:
        expr = col("ip") == ip
        return expr & (pl.col(_PORT[side]) == port) if port is not None else expr
    if "/" in text and text.rsplit("/", 1)[1].isdigit():
        return in_networks(f"{side}_ip", [text])
    if text.startswith("node/"):
        _enriched(names, side, spec)
        return (col("kind") == "node") & (col("node") == text[5:])
    if "/" in text:
        _enriched(names, side, spec)
        ns, name = text.split("/", 1)
        if not name:
            return col("namespace") == ns
        return (col("namespace") == ns) & (
            (col("pod") == name) | (col("workload") == name) | (col("service") == name)
        )
    expr = (pl.col("service_name") == text) if side == "server" else pl.lit(False)
    if f"{side}_kind" in names:
        expr = (
            expr
            | (col("service") == text)
            | (col("workload") == text)
            | (col("pod") == text)
            | (col("node") == text)
        )
    elif side != "server":
        msg = f"filter {spec!r} is not an IP, IP:port or CIDR; names need enriched flows (flowlab.k8s.enrich)"
        raise ConfigError(msg)
    return expr


def match(side: str, spec: Spec, names: Sequence[str]) -> pl.Expr:
    """Expression: the `side` end of a flow matches `spec` (see the module docstring).

    `names` are the frame's column names (to know whether it is enriched).
    """
    if side not in SIDES:
        msg = f"unknown side {side!r}; expected one of {', '.join(SIDES)}"
        raise ConfigError(msg)
    specs = [spec] if isinstance(spec, str) else list(spec)
    if not specs:
        msg = f"empty list of {side} specs"
        raise ConfigError(msg)
    have = set(names)
    expr = pl.lit(False)
    for s in specs:
        expr = expr | _one(side, s, have)
    return expr.fill_null(False)


def _known(frame: pl.DataFrame, side: str, spec: str) -> list[str]:
    """The values of `frame` a spec like `spec` could have meant (for a "did you mean")."""
    sides = ("src", "dst") if side == "ip" else (side,)
    names = set(frame.columns)
    host, _ = _split_port(spec.strip())
    if side == "service":
        cols = ["service_name", *(["server_service"] if "server_service" in names else [])]
        return _values(frame, cols)
    if _is_ip(host) is not None or (spec.count("/") == 1 and spec.rsplit("/", 1)[1].isdigit()):
        return _values(frame, [f"{s}_ip" for s in sides])
    if "/" in spec and f"{sides[0]}_kind" in names:
        known: list[str] = []
        for s in sides:
            known += _values(frame, [f"{s}_node"], prefix="node/")
            for field in ("pod", "workload", "service"):
                pairs = frame.select(
                    pl.format("{}/{}", f"{s}_namespace", f"{s}_{field}").alias("v")
                ).drop_nulls()
                known += pairs["v"].unique().to_list()
            known += [f"{ns}/" for ns in _values(frame, [f"{s}_namespace"])]
        return sorted(set(known))
    cols = ["service_name"] if "server" in sides else []
    if f"{sides[0]}_kind" in names:
        cols += [f"{s}_{f}" for s in sides for f in ("service", "workload", "pod", "node")]
    return _values(frame, cols)


def _values(frame: pl.DataFrame, cols: list[str], prefix: str = "") -> list[str]:
    out: set[str] = set()
    for c in cols:
        if c in frame.columns:
            out.update(f"{prefix}{v}" for v in frame[c].drop_nulls().unique().to_list())
    return sorted(out)


def unmatched(flows: pl.DataFrame, **specs: Spec | None) -> list[str]:
    """Warn for each spec (``client=``, ``server=``, ``src=``, ``dst=``, ``ip=``, ``service=``)
    that matches no flow of `flows`, naming the nearest values in the data.

    Returns the specs that matched nothing.

    Examples
    --------
    >>> import polars as pl, warnings
    >>> from flowlab.schema import conform
    >>> from flowlab.services import orient_frame
    >>> f = orient_frame(conform(pl.DataFrame({"src_ip": ["10.0.0.5"], "dst_ip": ["10.0.0.3"],
    ...     "src_port": [40000], "dst_port": [2379], "protocol": [6]})))
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     unmatched(f, service="etcd-clinet")
    ['etcd-clinet']
    >>> print(caught[0].message)
    service='etcd-clinet' matches no flow; did you mean 'etcd-client'?
    """
    names = flows.columns
    missing = []
    for side, spec in specs.items():
        if spec is None:
            continue
        for one in [spec] if isinstance(spec, str) else list(spec):
            if side == "service":
                cond = pl.col("service_name") == one
                if "server_service" in names:
                    cond = cond | (pl.col("server_service") == one)
            elif side == "ip":
                cond = match("src", one, names) | match("dst", one, names)
            else:
                cond = match(side, one, names)
            if not flows.lazy().filter(cond.fill_null(False)).head(1).collect().is_empty():
                continue
            missing.append(one)
            near = difflib.get_close_matches(one, _known(flows, side, one), n=3, cutoff=0.6)
            hint = (
                "did you mean " + " or ".join(repr(n) for n in near) + "?"
                if near
                else "no similar value in the data"
            )
            msg = f"{side}={one!r} matches no flow; {hint}"
            warnings.warn(msg, FlowlabWarning, stacklevel=3)
    return missing


def where(
    flows: pl.DataFrame | pl.LazyFrame,
    *,
    ip: Spec | None = None,
    client: Spec | None = None,
    server: Spec | None = None,
    src: Spec | None = None,
    dst: Spec | None = None,
    service: str | Sequence[str] | None = None,
    port: int | Sequence[int] | None = None,
    protocol: int | str | Sequence[int | str] | None = None,
    exporter: str | Sequence[str] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
) -> pl.LazyFrame:
    """Filter flows; every given condition must hold. Returns a LazyFrame.

    Parameters
    ----------
    ip : spec
        Either end (src or dst) matches.
    client, server, src, dst : spec
        That end matches.
    service : str or list
        ``service_name`` (``"etcd-client"``, ``"TCP/10250"``) or, on enriched flows,
        the server's Kubernetes Service name.
    port : int or list
        ``service_port``.
    protocol : int, str or list
        ``6``, ``"TCP"``, ``"udp"``...
    exporter : str or list
        Exporter (sFlow agent) address or CIDR.
    start, end : datetime, date or str
        ``start <= time < end``: ISO 8601 or relative (``"now-1h"``, ``"-15m"``); naive
        means UTC; an inverted window is a :class:`~flowlab.exceptions.ConfigError`.

    Warns
    -----
    FlowlabWarning
        On an eager frame, for an endpoint or service that matches no flow, with the
        nearest names in the data (:func:`unmatched`).
    """
    if isinstance(flows, pl.DataFrame) and flows.height:
        unmatched(flows, ip=ip, client=client, server=server, src=src, dst=dst, service=service)
    lf = flows.lazy()
    names = lf.collect_schema().names()
    conds: list[pl.Expr] = []
    if ip is not None:
        conds.append(match("src", ip, names) | match("dst", ip, names))
    for side, spec in (("client", client), ("server", server), ("src", src), ("dst", dst)):
        if spec is not None:
            conds.append(match(side, spec, names))
    if service is not None:
        wanted = [service] if isinstance(service, str) else list(service)
        cond = pl.col("service_name").is_in(wanted)
        if "server_service" in names:
            cond = cond | pl.col("server_service").is_in(wanted)
        conds.append(cond.fill_null(False))
    if port is not None:
        ports = [port] if isinstance(port, int) else list(port)
        conds.append(pl.col("service_port").is_in(ports).fill_null(False))
    if protocol is not None:
        protos = [protocol] if isinstance(protocol, (int, str)) else list(protocol)
        conds.append(
            pl.col("protocol").is_in([protocol_number(p) for p in protos]).fill_null(False)
        )
    if exporter is not None:
        wanted = [exporter] if isinstance(exporter, str) else list(exporter)
        cond = pl.col("exporter").is_in([e for e in wanted if "/" not in e]).fill_null(False)
        if cidrs := [e for e in wanted if "/" in e]:
            cond = cond | in_networks("exporter", cidrs)
        conds.append(cond)
    dtype = lf.collect_schema().get("time")
    for bound, op in zip(parse_window(start, end), ("ge", "lt")):
        if bound is not None:
            lit = pl.lit(bound).cast(dtype) if dtype is not None else pl.lit(bound)
            conds.append(getattr(pl.col("time"), op)(lit))
    return lf.filter(*conds) if conds else lf


def describe(**filters: Any) -> str:
    """One line saying which filters are set (for reports and titles).

    Examples
    --------
    >>> describe(server="172.30.0.1:443", protocol="TCP", client=None)
    'server=172.30.0.1:443, protocol=TCP'
    >>> from datetime import timezone
    >>> describe(service=["dns", "mdns"], start=datetime(2025, 1, 6, 9, tzinfo=timezone.utc))
    'service=dns|mdns, start=2025-01-06 09:00:00 UTC'
    """
    parts = []
    for key, value in filters.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            from flowlab.tables import human_time

            value = human_time(value)
        elif isinstance(value, (list, tuple, set, frozenset)):
            value = "|".join(str(v) for v in value)
        parts.append(f"{key}={value}")
    return ", ".join(parts) or "no filter"


_where = where  # filter_frame's argument is named like the function


def filter_frame(frame: pl.DataFrame, where: Filter) -> pl.DataFrame:
    """Keep the rows of a canonical frame that match `where` exactly (same rules as :func:`where`).

    Examples
    --------
    >>> f = pl.DataFrame({"client_ip": ["10.0.0.1", "192.168.1.1"], "service_port": [2379, 443]})
    >>> filter_frame(f, Filter(client="10.0.0.0/8"))["client_ip"].to_list()
    ['10.0.0.1']
    """
    if not where:
        return frame
    criteria = {f.name: getattr(where, f.name) or None for f in fields(where)}
    return _where(frame.lazy(), **criteria).collect()  # lazy: no "did you mean" warnings
