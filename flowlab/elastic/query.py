"""The Elasticsearch queries that filters (:class:`flowlab.vocabulary.Filter`) become.

A :class:`Filter` selects flows by client, server or either endpoint (IP or
CIDR), service name, service port, protocol and exporter. It is applied twice
when loading: as an Elasticsearch query that returns a *superset* of the rows
(on the raw source/destination fields, so it does not depend on how
ElastiFlow oriented client and server), then exactly, on the canonical columns
flowlab computed (:func:`filter_frame`). Push-down aggregations cannot
post-filter, so :func:`build_query` with ``exact=True`` queries the stored
client/server/service fields instead.

Examples
--------
>>> f = Filter(server="10.0.0.0/8", service="etcd-client", protocol="tcp")
>>> f.server, f.protocol
(('10.0.0.0/8',), (6,))
>>> from flowlab.elastic.profiles import PROFILES
>>> q = build_query(PROFILES["flowlab"], start="2021-07-01", end=None, where=Filter(port=2379))
>>> q["bool"]["filter"][0]
{'range': {'time': {'gte': '2021-07-01', 'format': 'strict_date_optional_time||epoch_millis'}}}
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from flowlab.elastic.profiles import Profile
from flowlab.exceptions import ConfigError
from flowlab.services import PROTOCOL_NAMES, default_table
from flowlab.vocabulary.filters import Filter, filter_frame

__all__ = ["Filter", "TimeLike", "build_query", "filter_frame", "service_ports", "time_bound"]

log = logging.getLogger("flowlab.elastic")

TimeLike = dt.datetime | dt.date | str | int | None

_DECORATED = re.compile(r"^(?P<proto>[A-Za-z0-9.+_-]+|UNKNOWN\(\d+\))/(?P<port>\d+)$")


def time_bound(value: TimeLike) -> str | int | None:
    """An Elasticsearch range bound: ISO text (UTC), epoch ms, or date math passed through.

    Examples
    --------
    >>> time_bound(dt.datetime(2021, 7, 1, 12, 0, tzinfo=dt.timezone.utc))
    '2021-07-01T12:00:00.000Z'
    >>> time_bound("now-15m"), time_bound(1625140800000)
    ('now-15m', 1625140800000)
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        utc = aware.astimezone(dt.timezone.utc)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        msg = f"a time bound cannot be a bool, found {value!r}"
        raise ConfigError(msg)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip():
        return value.strip()
    msg = (
        f"a time bound must be a datetime, date, ISO string, date math or epoch ms, found {value!r}"
    )
    raise ConfigError(msg)


def service_ports(names: Iterable[str]) -> dict[str, set[int]]:
    """Ports each service name stands for, from the service table (``'TCP/10250'`` -> 10250)."""
    table = default_table().frame()
    out: dict[str, set[int]] = {}
    for name in names:
        ports: set[int] = set()
        m = _DECORATED.match(name)
        if m:
            ports.add(int(m.group("port")))
        keys = table.filter(pl.col("name") == name)["key"].to_list()
        ports.update(int(k) & 0xFFFF for k in keys)
        if not ports:
            log.warning("service %r is not in the service table: no flow can match it", name)
        out[name] = ports
    return out


def _terms(field: str, values: Iterable[Any]) -> dict[str, Any]:
    vals = list(dict.fromkeys(values))
    return {"term": {field: vals[0]}} if len(vals) == 1 else {"terms": {field: vals}}


def _any(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    if len(clauses) == 1:
        return clauses[0]
    return {"bool": {"should": clauses, "minimum_should_match": 1}}


def _field(profile: Profile, column: str) -> str | None:
    srcs = profile.sources(column)
    return srcs[0].field if srcs else None


def _both(profile: Profile, column_a: str, column_b: str, values: Iterable[Any]) -> dict[str, Any]:
    vals = list(values)
    clauses = [_terms(f, vals) for f in (_field(profile, column_a), _field(profile, column_b)) if f]
    if not clauses:
        msg = f"the {profile.name} layout has no {column_a}/{column_b} fields to filter on"
        raise ConfigError(msg)
    return _any(clauses)


_NUMERIC = {"long", "integer", "short", "byte", "unsigned_long", "double", "float"}


def _protocol_clause(
    profile: Profile,
    field: str | None,
    numbers: tuple[int, ...],
    types: Mapping[str, Iterable[str]],
) -> dict[str, Any]:
    names = [PROTOCOL_NAMES.get(n, f"UNKNOWN({n})") for n in numbers]
    fields_ = [field] if field else [s.field for s in profile.sources("protocol")]
    clauses = []
    for name in fields_:
        mapped = set(types.get(name, ()))
        if mapped and mapped <= _NUMERIC:
            values: list[Any] = list(numbers)
        elif mapped & _NUMERIC:  # keyword in some indices, numbers in others
            values = [str(n) for n in numbers]
        else:
            values = [*names, *(n.lower() for n in names), *(str(n) for n in numbers)]
        clauses.append(_terms(name, values))
    if not clauses:
        msg = f"the {profile.name} layout has no protocol field to filter on"
        raise ConfigError(msg)
    return _any(clauses)


def _stored(profile: Profile, dim: str, types: Mapping[str, Iterable[str]] | None = None) -> str:
    name = profile.dimensions.get(dim)
    if not name or (types is not None and name not in types):
        msg = (
            f"the {profile.name} layout stores no {dim} field, so Elasticsearch cannot filter "
            f"on it; load the flows (load_flows filters {dim} locally) instead"
        )
        raise ConfigError(msg)
    return name


def build_query(
    profile: Profile,
    *,
    start: TimeLike,
    end: TimeLike,
    where: Filter | None = None,
    exact: bool = False,
    types: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, Any]:
    """The Elasticsearch query for a time window and a filter.

    Parameters
    ----------
    profile : Profile
        Layout of the documents.
    start, end : TimeLike
        Window ``[start, end)``; ``None`` leaves a side open.
    where : Filter, optional
        Criteria.
    exact : bool
        Query the stored client/server/service fields (for push-down);
        otherwise a superset on raw endpoint fields, to be narrowed by
        :func:`filter_frame`.
    types : mapping, optional
        Field -> mapped types (:attr:`flowlab.elastic.Layout.types`), so that
        protocols are queried as numbers or names as the mapping needs.
    """
    clauses: list[dict[str, Any]] = []
    bounds: dict[str, Any] = {}
    lo, hi = time_bound(start), time_bound(end)
    if lo is not None:
        bounds["gte"] = lo
    if hi is not None:
        bounds["lt"] = hi
    if bounds:
        bounds["format"] = "strict_date_optional_time||epoch_millis"
        clauses.append({"range": {profile.time_field: bounds}})
    w = where or Filter()
    stored_orientation = exact or not profile.orient
    for dim in ("client", "server"):
        values = getattr(w, dim)
        if values:
            if stored_orientation:
                clauses.append(_terms(_stored(profile, dim, types), values))
            else:
                clauses.append(_both(profile, "src_ip", "dst_ip", values))
    if w.ip:
        clauses.append(_both(profile, "src_ip", "dst_ip", w.ip))
    if w.exporter:
        name = _field(profile, "exporter")
        if not name:
            msg = f"the {profile.name} layout has no exporter field to filter on"
            raise ConfigError(msg)
        clauses.append(_terms(name, w.exporter))
    if w.port:
        if stored_orientation:
            clauses.append(_terms(_stored(profile, "service_port", types), w.port))
        else:
            clauses.append(_both(profile, "src_port", "dst_port", w.port))
    if w.service:
        if (
            stored_orientation
            and "service" in profile.dimensions
            and (types is None or profile.dimensions["service"] in types)
        ):
            field = profile.dimensions["service"]
            shoulds: list[dict[str, Any]] = [_terms(field, w.service)]
            if profile.decorated_services:
                shoulds += [{"prefix": {field: f"{name} ("}} for name in w.service]
            clauses.append(_any(shoulds))
        else:
            ports = set().union(*service_ports(w.service).values())
            if stored_orientation:
                clauses.append(
                    _terms(_stored(profile, "service_port", types), sorted(ports) or [-1])
                )
            else:
                clauses.append(_both(profile, "src_port", "dst_port", sorted(ports) or [-1]))
    if w.protocol:
        proto_field = profile.dimensions.get("protocol") if stored_orientation else None
        clauses.append(_protocol_clause(profile, proto_field, w.protocol, types or {}))
    if not clauses:
        return {"match_all": {}}
    return {"bool": {"filter": clauses}}
