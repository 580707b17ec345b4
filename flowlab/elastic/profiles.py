"""Field layouts ("profiles") of flow documents in Elasticsearch, and their detection.

A :class:`Profile` says, for each canonical column (:mod:`flowlab.schema`),
which Elasticsearch fields hold it and how to convert them, plus which stored
fields Elasticsearch can group by for push-down aggregations. Four layouts are
built in:

``elastiflow3``
    ElastiFlow 3.x (Logstash) documents: ``flow.src_addr``, ``flow.bytes``
    (already scaled by ``flow.sampling_interval``), ``flow.ip_protocol`` as a
    name, ``flow.tcp_flags`` as a list of names, ``node.ipaddr``, numbers
    stored as strings in ``_source``.
``codex``
    ElastiFlow's unified collector ("CODEX" naming): ``flow.src.ip.addr``,
    ``flow.src.l4.port.id``, ``l4.proto.name``, ``flow.export.ip.addr``.
``ecs``
    Elastic Common Schema flow documents: ``source.ip``, ``destination.ip``,
    ``network.bytes``, ``network.transport``, ``network.iana_number``.
``flowlab``
    What :func:`flowlab.elastic.write_flows` writes: canonical column names.

The profile of an index pattern is detected from its mapping (field
capabilities); :func:`custom_profile` builds one from a ``field_map``.

Examples
--------
>>> from flowlab.elastic.profiles import PROFILES, detect_profile
>>> PROFILES["elastiflow3"].sources("src_ip")[0].field
'flow.src_addr'
>>> detect_profile({"@timestamp": {"date"}, "source.ip": {"ip"}, "destination.ip": {"ip"}}).name
'ecs'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import polars as pl

from flowlab.elastic._fields import COLUMN_FIELDS, DIMENSION_FIELDS, ELASTIFLOW35
from flowlab.exceptions import ConfigError, UnknownLayoutError
from flowlab.schema import FLOW_SCHEMA
from flowlab.vocabulary.keys import KEYS

__all__ = [
    "DIMENSIONS",
    "ORIENTED",
    "PROFILES",
    "FieldSource",
    "Kind",
    "Profile",
    "all_fields",
    "custom_profile",
    "detect_profile",
    "layout_error",
]

#: How a stored value becomes a canonical value (see :mod:`flowlab.elastic._convert`).
Kind = Literal[
    "date",
    "text",
    "int",
    "proto",
    "ip_version",
    "tcp_flags",
    "mac",
    "dscp",
    "direction",
    "flow_format",
    "usec_before_time",
    "rate",
    "v5_sampling",
]

#: Dimensions push-down aggregations can group by: the group keys of :mod:`flowlab.vocabulary`.
DIMENSIONS: dict[str, str] = KEYS

#: Canonical columns computed by :func:`flowlab.services.orient`.
ORIENTED = ("client_ip", "server_ip", "client_port", "service_port", "service_name")


@dataclass(frozen=True)
class FieldSource:
    """One stored field that can fill a canonical column."""

    field: str
    kind: Kind


@dataclass(frozen=True)
class Profile:
    """A layout of flow documents.

    Attributes
    ----------
    name : str
        Profile name.
    time_field : str
        The document time (used for the time window and date histograms).
    columns : mapping of str to tuple of FieldSource
        Canonical column -> candidate fields, first non-null wins per document.
        The pseudo-column ``_ecn`` holds the ECN bits that complete a ``dscp``
        ``tos`` (ElastiFlow stores the DSCP in ``flow.tos``, ECN in ``sflow.ip_ecn``).
    required : tuple of str
        Fields that must all be mapped for the layout to be detected.
    dimensions : mapping of str to str
        Push-down dimension (:data:`DIMENSIONS`) -> aggregatable stored field.
    metrics : mapping of str to str
        ``"bytes"``/``"packets"`` -> stored field summed by push-down.
    source_value : str
        Value of the canonical ``source`` column when no field provides it.
    orient : bool
        Recompute client/server/service with :func:`flowlab.services.orient`
        (stored client/server fields are then only used for push-down).
    multi_fields : tuple of str
        Fields stored as a list or a single value (wrapped into a list).
    decorated_services : bool
        Stored service names carry ElastiFlow's `` (TCP/2379)`` suffix.
    direction_formats : tuple of str
        When set, ``direction`` is kept only on rows of these ``flow_format`` values
        (ElastiFlow writes a constant ``ingress`` for sFlow and NetFlow v5).
    tos_formats : tuple of str
        ``flow_format`` values whose ``dscp`` field holds the whole TOS byte, not the DSCP
        (ElastiFlow: NetFlow's ``src_tos`` and IPFIX's ``ipClassOfService`` become ``flow.tos``
        as they are; sFlow's DSCP is shifted back and completed with ``_ecn``).
    counts_as_sent : bool
        The stored ``bytes``/``packets`` are the exporter's counts, not yet multiplied by its
        sampling rate (Filebeat's netflow input): the estimates are the counts x
        ``sampling_rate`` where a rate is known; where none is, the counts as sent, with
        ``sampling_rate`` null (unknown, as the NetFlow decoder leaves it).
    """

    name: str
    time_field: str
    columns: Mapping[str, tuple[FieldSource, ...]]
    required: tuple[str, ...]
    dimensions: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, str] = field(default_factory=dict)
    source_value: str = "elasticsearch"
    orient: bool = True
    multi_fields: tuple[str, ...] = ()
    decorated_services: bool = False
    direction_formats: tuple[str, ...] = ()
    tos_formats: tuple[str, ...] = ()
    counts_as_sent: bool = False

    def sources(self, column: str) -> tuple[FieldSource, ...]:
        """Candidate fields of a canonical column (empty when the layout lacks it)."""
        return self.columns.get(column, ())

    def needed(self, columns: Iterable[str] | None = None) -> set[str]:
        """Canonical columns to read to build `columns` (their inputs included)."""
        wanted = set(FLOW_SCHEMA) if columns is None else set(columns)
        if self.orient and wanted & set(ORIENTED):
            wanted |= {"src_ip", "dst_ip", "src_port", "dst_port", "protocol", "tcp_flags"}
        if wanted & {"bytes", "packets"}:
            wanted |= {"frame_length", "sampling_rate"}
        if "tos" in wanted:
            wanted.add("_ecn")
            if self.tos_formats:
                wanted.add("flow_format")
        if "direction" in wanted and self.direction_formats:
            wanted.add("flow_format")
        return wanted

    def fields(self, columns: Iterable[str] | None = None) -> list[str]:
        """Stored fields needed to build `columns` (default: all), time field first."""
        wanted = self.needed(columns)
        out = [self.time_field]
        for column in [*FLOW_SCHEMA, "_ecn"]:
            if column in wanted:
                out.extend(s.field for s in self.sources(column) if s.field not in out)
        return out

    def restricted(self, mapped: Mapping[str, object]) -> Profile:
        """This profile without the candidate fields the mapping does not have."""
        cols = {c: tuple(s for s in srcs if s.field in mapped) for c, srcs in self.columns.items()}
        return Profile(
            name=self.name,
            time_field=self.time_field,
            columns={c: s for c, s in cols.items() if s},
            required=self.required,
            dimensions=self.dimensions,
            metrics=self.metrics,
            source_value=self.source_value,
            orient=self.orient,
            multi_fields=self.multi_fields,
            decorated_services=self.decorated_services,
            direction_formats=self.direction_formats,
            tos_formats=self.tos_formats,
            counts_as_sent=self.counts_as_sent,
        )


def _src(*pairs: tuple[str, Kind]) -> tuple[FieldSource, ...]:
    return tuple(FieldSource(f, k) for f, k in pairs)


def _elastiflow_columns() -> dict[str, tuple[FieldSource, ...]]:
    """Canonical column -> the ElastiFlow 3.5 fields that fill it, from the one field table."""
    columns: dict[str, tuple[FieldSource, ...]] = {}
    for f in ELASTIFLOW35:
        if f.column:
            columns[f.column] = (*columns.get(f.column, ()), FieldSource(f.name, f.kind))  # type: ignore[arg-type]
    return columns


ELASTIFLOW3 = Profile(
    name="elastiflow3",
    time_field=COLUMN_FIELDS["time"],
    columns=_elastiflow_columns(),
    required=tuple(COLUMN_FIELDS[c] for c in ("time", "src_ip", "dst_ip", "bytes")),
    dimensions=dict(DIMENSION_FIELDS),
    metrics={m: COLUMN_FIELDS[m] for m in ("bytes", "packets")},
    multi_fields=(COLUMN_FIELDS["tcp_flags"],),
    decorated_services=True,
    direction_formats=("netflow9", "ipfix"),
    tos_formats=("netflow5", "netflow9", "ipfix"),
)


def _grouping_as_read(
    name: str,
    columns: dict[str, tuple[FieldSource, ...]],
    *,
    client: str,
    server: str,
    service_port: str,
) -> Profile:
    """A layout that groups and sums the fields it reads each column from first.

    Time, required fields, dimensions and metrics come from `columns`; only
    the client, server and service port fields, stored apart from any column,
    are named.
    """
    first = {column: sources[0].field for column, sources in columns.items()}
    dimensions = {"client": client, "server": server, "service_port": service_port}
    for dim, column in DIMENSIONS.items():
        if column in first:
            dimensions.setdefault(dim, first[column])
    return Profile(
        name=name,
        time_field=first["time"],
        columns=columns,
        required=(first["time"], first["src_ip"], first["dst_ip"]),
        dimensions=dimensions,
        metrics={m: first[m] for m in ("bytes", "packets")},
    )


CODEX = _grouping_as_read(
    "codex",
    {
        "time": _src(("@timestamp", "date")),
        "exporter": _src(("flow.export.ip.addr", "text")),
        "src_ip": _src(("flow.src.ip.addr", "text")),
        "dst_ip": _src(("flow.dst.ip.addr", "text")),
        "src_port": _src(("flow.src.l4.port.id", "int")),
        "dst_port": _src(("flow.dst.l4.port.id", "int")),
        "protocol": _src(("l4.proto.name", "proto")),
        "bytes": _src(("flow.bytes", "int")),
        "packets": _src(("flow.packets", "int")),
        "sampling_rate": _src(("flow.meter.packet_select.interval.packets", "int")),
        "ip_version": _src(("ip.version.name", "ip_version")),
        "tcp_flags": _src(("tcp.flags.bits", "tcp_flags")),
        "vlan": _src(("flow.in.vlan.tag.id", "int")),
        "in_if": _src(("flow.in.netif.index", "int")),
        "out_if": _src(("flow.out.netif.index", "int")),
    },
    client="flow.client.ip.addr",
    server="flow.server.ip.addr",
    service_port="flow.server.l4.port.id",
)

ECS = _grouping_as_read(
    "ecs",
    {
        "time": _src(("@timestamp", "date")),
        "exporter": _src(("observer.ip", "text")),
        "src_ip": _src(("source.ip", "text")),
        "dst_ip": _src(("destination.ip", "text")),
        "src_port": _src(("source.port", "int")),
        "dst_port": _src(("destination.port", "int")),
        "protocol": _src(("network.iana_number", "proto"), ("network.transport", "proto")),
        "bytes": _src(("network.bytes", "int")),
        "packets": _src(("network.packets", "int")),
        # Filebeat: the record's samplingInterval (IE 34), samplerRandomInterval (IE 50),
        # samplingPacketInterval (IE 305); NetFlow v5: the header's 14-bit interval (0: none)
        "sampling_rate": _src(
            ("netflow.sampling_interval", "rate"),
            ("netflow.sampler_random_interval", "rate"),
            ("netflow.sampling_packet_interval", "rate"),
            ("netflow.exporter.sampling_interval", "v5_sampling"),
        ),
        "ip_version": _src(("network.type", "ip_version")),
        "tcp_flags": _src(("netflow.tcp_control_bits", "tcp_flags")),
        "vlan": _src(("network.vlan.id", "int")),
        "src_mac": _src(("source.mac", "mac")),
        "dst_mac": _src(("destination.mac", "mac")),
        "in_if": _src(
            ("observer.ingress.interface.id", "int"), ("netflow.ingress_interface", "int")
        ),
        "out_if": _src(
            ("observer.egress.interface.id", "int"), ("netflow.egress_interface", "int")
        ),
        # Filebeat's netflow input (x-pack/filebeat/input/netflow/convert.go): event.start/end
        # from the sysUpTime fields, the IPFIX timestamps as netflow.flow_start_*, the header
        # as netflow.exporter.*
        "flow_start": _src(
            ("event.start", "date"),
            ("netflow.flow_start_milliseconds", "date"),
            ("netflow.flow_start_seconds", "date"),
            ("netflow.flow_start_delta_microseconds", "usec_before_time"),
        ),
        "flow_end": _src(
            ("event.end", "date"),
            ("netflow.flow_end_milliseconds", "date"),
            ("netflow.flow_end_seconds", "date"),
            ("netflow.flow_end_delta_microseconds", "usec_before_time"),
        ),
        "direction": _src(("netflow.flow_direction", "direction")),
        "observation_domain": _src(("netflow.exporter.source_id", "int")),
        "flow_format": _src(("netflow.exporter.version", "flow_format")),
    },
    client="client.ip",
    server="server.ip",
    service_port="server.port",
)
ECS = replace(ECS, counts_as_sent=True)  # Filebeat stores the counts as the exporter sent them


def _canonical_kind(column: str) -> Kind:
    if column == "time" or isinstance(FLOW_SCHEMA[column], pl.Datetime):
        return "date"
    if column == "protocol":
        return "proto"
    if column == "ip_version":
        return "ip_version"
    if column == "tcp_flags":
        return "tcp_flags"
    if column in ("src_mac", "dst_mac"):
        return "mac"
    return "text" if FLOW_SCHEMA[column] == FLOW_SCHEMA["src_ip"] else "int"


FLOWLAB = Profile(
    name="flowlab",
    time_field="time",
    columns={c: (FieldSource(c, _canonical_kind(c)),) for c in FLOW_SCHEMA},
    required=("time", "src_ip", "dst_ip", "bytes", "sampling_rate", "service_name"),
    dimensions={d: c for d, c in DIMENSIONS.items()},
    metrics={"bytes": "bytes", "packets": "packets"},
    source_value="elasticsearch",
    orient=False,
)

#: The built-in profiles, in detection order.
PROFILES: dict[str, Profile] = {p.name: p for p in (FLOWLAB, ELASTIFLOW3, CODEX, ECS)}


def all_fields() -> list[str]:
    """Every stored field any built-in profile reads or groups by."""
    out: list[str] = []
    for profile in PROFILES.values():
        names = [s.field for srcs in profile.columns.values() for s in srcs]
        names += [*profile.dimensions.values(), *profile.metrics.values()]
        out.extend(n for n in names if n not in out)
    return out


def layout_error(
    seen: Iterable[str], *, profile: str | None = None, missing: Iterable[str] = ()
) -> UnknownLayoutError:
    """The error for documents no profile (or not the requested one) can read."""
    names = sorted(set(seen))
    shown = ", ".join(names[:60]) + (f", ... ({len(names)} fields)" if len(names) > 60 else "")
    if profile:
        head = f"the documents lack the fields the {profile} layout needs ({', '.join(missing)})"
    else:
        head = "the documents match no known flow layout (elastiflow3, codex, ecs, flowlab)"
    msg = (
        f"{head}; fields seen: {shown or 'none'}. Pass field_map={{canonical column: field}}, e.g. "
        "field_map={'time': '@timestamp', 'src_ip': 'src', 'dst_ip': 'dst', 'bytes': 'octets'}"
    )
    return UnknownLayoutError(msg)


def detect_profile(mapped: Mapping[str, object], *, seen: Iterable[str] = ()) -> Profile:
    """The first built-in profile whose required fields are all mapped.

    Parameters
    ----------
    mapped : mapping
        Field name -> its mapped types (from field capabilities).
    seen : iterable of str
        All field names of the pattern, for the error message.

    Raises
    ------
    UnknownLayoutError
        Listing the fields seen and how to pass a ``field_map``.
    """
    for profile in PROFILES.values():
        if all(f in mapped for f in profile.required):
            return profile
    raise layout_error([*seen, *mapped])


def custom_profile(
    field_map: Mapping[str, str], *, base: Profile | None = None, time_field: str | None = None
) -> Profile:
    """A profile from ``{canonical column: stored field}``, on top of `base` if given.

    Examples
    --------
    >>> p = custom_profile({"time": "ts", "src_ip": "sa", "dst_ip": "da", "bytes": "octets"})
    >>> p.time_field, p.sources("bytes")[0]
    ('ts', FieldSource(field='octets', kind='int'))
    """
    unknown = [c for c in field_map if c not in FLOW_SCHEMA]
    if unknown:
        msg = f"field_map names unknown canonical columns {unknown}; known: {list(FLOW_SCHEMA)}"
        raise ConfigError(msg)
    columns = dict(base.columns) if base else {}
    for column, name in field_map.items():
        columns[column] = (FieldSource(name, _canonical_kind(column)),)
    tfield = time_field or field_map.get("time") or (base.time_field if base else None)
    if not tfield or not {"src_ip", "dst_ip"} <= set(columns):
        msg = "a custom field_map needs at least 'time', 'src_ip' and 'dst_ip'"
        raise ConfigError(msg)
    dims = dict(base.dimensions) if base else {}
    for dim, column in DIMENSIONS.items():
        if column in field_map:
            dims[dim] = field_map[column]
    metrics = dict(base.metrics) if base else {}
    for metric in ("bytes", "packets"):
        if metric in field_map:
            metrics[metric] = field_map[metric]
    return Profile(
        name=f"{base.name}+field_map" if base else "custom",
        time_field=tfield,
        columns=columns,
        required=(tfield, columns["src_ip"][0].field, columns["dst_ip"][0].field),
        dimensions=dims,
        metrics=metrics,
        source_value=base.source_value if base else "elasticsearch",
        orient=base.orient if base else True,
        multi_fields=base.multi_fields if base else (),
        decorated_services=base.decorated_services if base else False,
        direction_formats=base.direction_formats if base else (),
        tos_formats=base.tos_formats if base else (),
        counts_as_sent=base.counts_as_sent if base else False,
    )
