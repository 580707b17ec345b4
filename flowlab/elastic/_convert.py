"""Flat frames of stored fields -> the canonical flow frame, with a layout's conversions.

:func:`to_canonical` converts the columns :func:`flowlab.elastic._pages.parse_page`
produced, with a :class:`~flowlab.elastic.profiles.Profile`: strings become
numbers (ElastiFlow stores ``"2379"``), protocol names numbers, TCP flag names
a bit-set, ElastiFlow's DSCP plus ECN a TOS byte; then client/server are
oriented (:func:`flowlab.services.orient`). Each value is converted once, by a
cheap path for the common form and a thorough one only for what that missed.
Values that cannot be converted become null and are *counted* in
:class:`ConversionStats`, never dropped silently. A single-valued field that
holds an array (``"src_ip": ["10.0.0.1", "10.0.0.3"]``) gives its *first*
element, and the documents where other elements were dropped are counted too
(``ConversionStats.multi``); only ``flow.tcp_flags`` is a list by design.

Examples
--------
>>> from flowlab.elastic._pages import parse_page
>>> from flowlab.elastic.profiles import PROFILES
>>> raw = (b'{"hits":{"hits":[{"_source":{"@timestamp":"2021-07-01T12:00:03.512Z",'
...        b'"flow":{"src_addr":"10.0.0.1","dst_addr":"10.0.0.2","src_port":51000,'
...        b'"dst_port":2379,"ip_protocol":"TCP","bytes":1514000,"packets":1000,'
...        b'"tcp_flags":["ACK","PSH"]}},"sort":[7]}]}}')
>>> row = to_canonical(parse_page(raw).frame, PROFILES["elastiflow3"]).row(0, named=True)
>>> row["protocol"], row["tcp_flags"], row["service_name"], row["server_ip"]
(6, 24, 'etcd-client', '10.0.0.2')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from flowlab.elastic.profiles import ORIENTED as _ORIENTED
from flowlab.elastic.profiles import FieldSource, Profile
from flowlab.schema import FLOW_SCHEMA, scale_expr
from flowlab.services import PROTOCOL_NAMES, orient

__all__ = ["TCP_FLAG_BITS", "ConversionStats", "to_canonical"]

#: TCP flag name -> bit, as ElastiFlow names them (``none`` = no flag).
TCP_FLAG_BITS: dict[str, int] = {
    "FIN": 1,
    "SYN": 2,
    "RST": 4,
    "PSH": 8,
    "ACK": 16,
    "URG": 32,
    "ECE": 64,
    "CWR": 128,
    "NS": 256,
    "NONE": 0,
}

_PROTO_BY_NAME: dict[str, int] = {name.upper(): num for num, name in PROTOCOL_NAMES.items()}
_PROTO_BY_NAME.update({"ICMPV6": 58, "IPV6-ICMP": 58})


@dataclass
class ConversionStats:
    """Values that could not be converted, by stored field (they became null)."""

    lost: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)
    python_pages: int = 0
    #: documents whose single-valued field held several values (the first was kept)
    multi: dict[str, int] = field(default_factory=dict)
    multi_examples: dict[str, str] = field(default_factory=dict)

    def add(self, other: ConversionStats) -> None:
        """Accumulate another page's counts."""
        for name, count in other.lost.items():
            self.lost[name] = self.lost.get(name, 0) + count
        for name, example in other.examples.items():
            self.examples.setdefault(name, example)
        for name, count in other.multi.items():
            self.multi[name] = self.multi.get(name, 0) + count
        for name, example in other.multi_examples.items():
            self.multi_examples.setdefault(name, example)
        self.python_pages += other.python_pages

    @property
    def total(self) -> int:
        """Number of values set to null."""
        return sum(self.lost.values())

    @property
    def total_multi(self) -> int:
        """Number of documents where only the first of several values was kept."""
        return sum(self.multi.values())

    def describe(self) -> str:
        """One line per field, for warnings."""
        return "; ".join(
            f"{name}: {count} (e.g. {self.examples.get(name, '?')!r})"
            for name, count in sorted(self.lost.items())
        )

    def describe_multi(self) -> str:
        """One line per field with arrays, for warnings."""
        return "; ".join(
            f"{name}: {count} (e.g. {self.multi_examples.get(name, '?')})"
            for name, count in sorted(self.multi.items())
        )


def _scalar(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    return expr.list.first() if isinstance(dtype, pl.List) else expr


def _to_int(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype.is_integer():
        return expr.cast(pl.Int64, strict=False)
    if dtype.is_float():
        return pl.when(expr == expr.round()).then(expr).cast(pl.Int64, strict=False)
    if dtype == pl.Boolean:
        return expr.cast(pl.Int64)
    text = expr.cast(pl.String).str.strip_chars()
    as_float = text.cast(pl.Float64, strict=False)
    exact = pl.when(as_float == as_float.round()).then(as_float).cast(pl.Int64, strict=False)
    return pl.coalesce(text.cast(pl.Int64, strict=False), exact)


def _to_date(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    unit = pl.Datetime("ms", "UTC")
    if isinstance(dtype, pl.Datetime):
        aware = expr if dtype.time_zone else expr.dt.replace_time_zone("UTC")
        return aware.dt.convert_time_zone("UTC").dt.cast_time_unit("ms")
    if dtype.is_numeric():
        return expr.cast(pl.Int64, strict=False).cast(unit)
    text = expr.cast(pl.String).str.strip_chars()
    iso = text.str.replace(r"[Zz]$", "+00:00")
    return pl.coalesce(
        iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", time_unit="ms", strict=False),
        iso.str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.f", time_unit="ms", strict=False
        ).dt.replace_time_zone("UTC"),
        iso.str.to_datetime("%Y-%m-%d", time_unit="ms", strict=False).dt.replace_time_zone("UTC"),
        pl.when(text.str.contains(r"^-?\d+$")).then(text.cast(pl.Int64, strict=False)).cast(unit),
    ).dt.convert_time_zone("UTC")


def _to_proto(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype.is_numeric():
        return _to_int(expr, dtype)
    text = expr.cast(pl.String).str.strip_chars().str.to_uppercase()
    by_name = text.replace_strict(_PROTO_BY_NAME, default=None, return_dtype=pl.Int64)
    unknown = text.str.extract(r"^UNKNOWN\((\d+)\)$").cast(pl.Int64, strict=False)
    return pl.coalesce(text.cast(pl.Int64, strict=False), by_name, unknown)


def _to_ip_version(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype.is_numeric():
        return _to_int(expr, dtype)
    digits = expr.cast(pl.String).str.extract(r"^\s*(?i:ipv)?\s*([46])\s*$")
    return digits.cast(pl.Int64, strict=False)


def _to_tcp_flags(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype.is_numeric():
        return _to_int(expr, dtype)
    if isinstance(dtype, pl.List):
        text = pl.element().cast(pl.String).str.strip_chars().str.to_uppercase()
        items = expr.list.eval(
            pl.coalesce(
                text.replace_strict(TCP_FLAG_BITS, default=None, return_dtype=pl.Int64),
                text.cast(pl.Int64, strict=False),
            )
        )
        valid = items.list.eval(pl.element().is_not_null()).list.all() & (expr.list.len() > 0)
        return pl.when(valid).then(items.list.unique().list.sum())
    text = expr.cast(pl.String).str.strip_chars().str.to_uppercase()
    return pl.coalesce(
        text.cast(pl.Int64, strict=False),
        text.replace_strict(TCP_FLAG_BITS, default=None, return_dtype=pl.Int64),
    )


#: flow direction words -> flowDirection (IPFIX IE 61): ElastiFlow writes ingress/egress,
#: Filebeat's ``network.direction`` inbound/outbound
_DIRECTIONS: dict[str, int] = {"INGRESS": 0, "INBOUND": 0, "EGRESS": 1, "OUTBOUND": 1}
#: NetFlow/IPFIX header version -> the canonical ``flow_format``
_FLOW_FORMATS: dict[int, str] = {5: "netflow5", 9: "netflow9", 10: "ipfix"}


def _to_direction(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype.is_numeric():
        return _to_int(expr, dtype)
    text = expr.cast(pl.String).str.strip_chars().str.to_uppercase()
    return pl.coalesce(
        text.replace_strict(_DIRECTIONS, default=None, return_dtype=pl.Int64),
        text.cast(pl.Int64, strict=False),
    )


def _to_flow_format(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    return _to_int(expr, dtype).replace_strict(_FLOW_FORMATS, default=None, return_dtype=pl.String)


def _to_mac(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    return _scalar(expr, dtype).cast(pl.String).str.to_lowercase().str.replace_all("-", ":")


def _first_values(
    flat: pl.DataFrame, fields: Sequence[str], stats: ConversionStats | None
) -> pl.DataFrame:
    """Replace arrays in single-valued `fields` by their first element, counting the documents.

    Arrays arrive as list columns, or, on a page where other documents hold a
    scalar, as the JSON text of the array (Polars widens the column to text).
    """
    fixed: list[pl.Series] = []
    for name in fields:
        series = flat[name]
        if isinstance(series.dtype, pl.List):
            several = (series.list.len() > 1).fill_null(False)
            first = series.list.first()
            examples = [str(v) for v in series.filter(several).head(1).to_list()]
        elif series.dtype == pl.String:
            text = series.str.strip_chars()
            candidates = (text.str.starts_with("[") & text.str.ends_with("]")).fill_null(False)
            if not candidates.any():
                continue
            values = series.to_list()
            hits: list[int] = []
            for i in candidates.arg_true().to_list():
                items = _json_list(values[i])
                if items is None:
                    continue  # text that merely looks like an array stays as it is
                if len(items) > 1:
                    hits.append(i)
                values[i] = None if not items or items[0] is None else str(items[0])
            first = pl.Series(name, values, dtype=pl.String)
            if not hits:
                fixed.append(first)
                continue
            several = pl.Series(name, [False] * len(values)).scatter(hits, True)
            examples = [str(series[hits[0]])]
        else:
            continue
        fixed.append(first.alias(name))
        count = int(several.sum())
        if count and stats is not None:
            stats.multi[name] = stats.multi.get(name, 0) + count
            if examples:
                stats.multi_examples.setdefault(name, examples[0])
    return flat.with_columns(fixed) if fixed else flat


def _json_list(text: str) -> list[object] | None:
    import json

    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, list) else None


def _fast(src: FieldSource, dtype: pl.DataType) -> pl.Expr | None:
    """The cheap conversion for the common form of a value, or None when there is none.

    Values it cannot convert go through :func:`_convert` (see :func:`to_canonical`).
    """
    col = pl.col(src.field)
    if dtype != pl.String:
        return None
    if src.kind == "date":  # ElastiFlow / Logstash: 2021-07-01T12:00:03.512Z
        iso = col.str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_unit="ms", strict=False)
        return iso.dt.replace_time_zone("UTC")
    if src.kind in ("int", "dscp"):
        value = col.cast(pl.Int64, strict=False)
        return value * 4 if src.kind == "dscp" else value
    if src.kind == "proto":
        return col.replace_strict(_PROTO_BY_NAME, default=None, return_dtype=pl.Int64)
    return None


def _convert(src: FieldSource, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(src.field)
    if src.kind == "tcp_flags":
        return _to_tcp_flags(col, dtype)
    col = _scalar(col, dtype)
    inner: pl.DataType = dtype
    if isinstance(dtype, pl.List) and dtype.inner is not None:
        inner = dtype.inner() if isinstance(dtype.inner, type) else dtype.inner
    if src.kind == "date":
        return _to_date(col, inner)
    if src.kind == "int":
        return _to_int(col, inner)
    if src.kind == "dscp":
        return _to_int(col, inner) * 4
    if src.kind == "proto":
        return _to_proto(col, inner)
    if src.kind == "ip_version":
        return _to_ip_version(col, inner)
    if src.kind == "mac":
        return _to_mac(col, inner)
    if src.kind == "rate":  # ElastiFlow's 0: no rate known (its fallback), not a rate
        value = _to_int(col, inner)
        return pl.when(value > 0).then(value)
    if src.kind == "v5_sampling":  # the NetFlow v5 header's mode (2 bits) and interval (14)
        interval = _to_int(col, inner) % 16384
        return pl.when(interval > 0).then(interval).otherwise(pl.when(interval == 0).then(1))
    if src.kind == "direction":
        return _to_direction(col, inner)
    if src.kind == "flow_format":
        return _to_flow_format(col, inner)
    return col.cast(pl.String)


def _before_time(src: FieldSource, flat: pl.DataFrame, time_field: str) -> pl.Expr:
    """A ``usec_before_time`` field: the document time minus that many microseconds.

    IPFIX flowStart/EndDeltaMicroseconds (IE 158/159) count back from the export
    time, which ElastiFlow stores as ``@timestamp`` (the codec's header export time).
    """
    if time_field not in flat.columns:
        return pl.lit(None, dtype=pl.Datetime("ms", "UTC"))
    when = _convert(FieldSource(time_field, "date"), flat.schema[time_field])
    micros = _to_int(_scalar(pl.col(src.field), flat.schema[src.field]), flat.schema[src.field])
    return when - pl.duration(microseconds=micros)


def to_canonical(
    flat: pl.DataFrame,
    profile: Profile,
    *,
    columns: Sequence[str] | None = None,
    stats: ConversionStats | None = None,
) -> pl.DataFrame:
    """Convert a flat frame (stored field names) into the canonical flow frame.

    Parameters
    ----------
    flat : polars.DataFrame
        From :func:`flowlab.elastic._pages.parse_page` or ``flat_from_hits``.
    profile : Profile
        The layout of the documents.
    columns : sequence of str, optional
        Canonical columns to return (default all, in canonical order).
    stats : ConversionStats, optional
        Receives the counts of values that could not be converted.
    """
    wanted = list(FLOW_SCHEMA) if columns is None else [c for c in FLOW_SCHEMA if c in columns]
    needed = profile.needed(wanted)
    single = [
        src.field
        for column in needed
        for src in profile.sources(column)
        if src.kind != "tcp_flags" and src.field in flat.columns
    ]
    flat = _first_values(flat, list(dict.fromkeys(single)), stats)
    targets = {**dict(FLOW_SCHEMA.items()), "_ecn": pl.UInt8()}
    values: list[pl.Expr] = []
    slow: dict[str, pl.Expr] = {}
    presents: list[pl.Expr] = []
    by_column: dict[str, list[str]] = {}
    checks: list[tuple[str, str, str]] = []
    for column, dtype in targets.items():
        if column not in needed:
            continue
        for src in profile.sources(column):
            if src.field not in flat.columns:
                continue
            if src.kind == "dscp" and profile.tos_formats:  # the byte or the DSCP: by row, below
                src, dtype = FieldSource(src.field, "int"), pl.Int64()
            raw_dtype = flat.schema[src.field]
            if src.kind == "usec_before_time":
                full, fast = _before_time(src, flat, profile.time_field), None
            else:
                full, fast = _convert(src, raw_dtype), _fast(src, raw_dtype)
            vname = f"__v{len(values)}"
            if dtype != pl.String and not isinstance(dtype, pl.Datetime):
                full = full.cast(dtype, strict=False)
                fast = None if fast is None else fast.cast(dtype, strict=False)
            if fast is not None:
                slow[vname] = full.alias(vname)
            values.append((full if fast is None else fast).alias(vname))
            by_column.setdefault(column, []).append(vname)
            present = pl.col(src.field).is_not_null()
            if isinstance(raw_dtype, pl.List):
                present = present & (pl.col(src.field).list.len() > 0)
            if src.kind == "rate":  # a stored 0 is "no rate", not a value lost
                stored = _to_int(_scalar(pl.col(src.field), raw_dtype), raw_dtype)
                present = present & (stored != 0).fill_null(True)
            pname = f"__p{len(presents)}"
            presents.append(present.alias(pname))
            checks.append((src.field, pname, vname))
    # each conversion is evaluated once, cheaply where it can be; the row index keeps the
    # length when no field applies
    conv = flat.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("__row"), *values, *presents)
    if slow and conv.height:
        failed = _failures(conv, [c for c in checks if c[2] in slow])
        if failed:  # the values the cheap path missed: convert those columns fully
            conv = conv.with_columns(flat.select([slow[v] for v in failed]).get_columns())
    if stats is not None and checks and conv.height:
        _count_losses(flat, conv, checks, stats)
    exprs: dict[str, pl.Expr] = {}
    for column, names in by_column.items():
        cols = [pl.col(n) for n in names]
        exprs[column] = cols[0] if len(cols) == 1 else pl.coalesce(cols)
    ecn = exprs.pop("_ecn", None)
    if "tos" in exprs and profile.tos_formats:
        tos = exprs["tos"]
        dscp = tos * 4 + (ecn.fill_null(0) if ecn is not None else 0)
        whole = exprs.get("flow_format", pl.lit(None, pl.String)).is_in(list(profile.tos_formats))
        exprs["tos"] = pl.when(whole).then(tos).otherwise(dscp).cast(pl.UInt8, strict=False)
    elif ecn is not None and "tos" in exprs:
        exprs["tos"] = exprs["tos"] + ecn.fill_null(0)
    base = conv.lazy().select(
        pl.col("__row"),
        *[exprs.get(c, pl.lit(None, dtype=FLOW_SCHEMA[c])).alias(c) for c in FLOW_SCHEMA],
    )
    nbytes, npackets = scale_expr()
    base = base.with_columns(
        pl.col("source").fill_null(profile.source_value),
        pl.coalesce(pl.col("bytes"), nbytes),
        pl.coalesce(pl.col("packets"), npackets),
    )
    if profile.counts_as_sent:  # the exporter's counts: x the rate that applies, where known
        rate = pl.col("sampling_rate").cast(pl.UInt64).fill_null(1)
        base = base.with_columns(
            pl.col("bytes").cast(pl.UInt64) * rate, pl.col("packets").cast(pl.UInt64) * rate
        )
    if profile.direction_formats and "direction" in needed:
        formats = list(profile.direction_formats)
        base = base.with_columns(
            pl.when(pl.col("flow_format").is_in(formats)).then(pl.col("direction"))
        )
    if profile.orient and needed & set(_ORIENTED):
        base = orient(base)
    return base.select([pl.col(c).cast(FLOW_SCHEMA[c]) for c in wanted]).collect()


def _failures(conv: pl.DataFrame, checks: list[tuple[str, str, str]]) -> list[str]:
    """Value columns with a stored value that did not convert."""
    if not checks:
        return []
    counts = conv.select(
        [(pl.col(p) & pl.col(v).is_null()).sum().alias(v) for _, p, v in checks]
    ).row(0)
    return [v for (_, _, v), n in zip(checks, counts) if n]


def _count_losses(
    flat: pl.DataFrame,
    conv: pl.DataFrame,
    checks: list[tuple[str, str, str]],
    stats: ConversionStats,
) -> None:
    counts = conv.select(
        [(pl.col(p) & pl.col(v).is_null()).sum().alias(p) for _, p, v in checks]
    ).row(0)
    for (name, pname, vname), count in zip(checks, counts):
        if not count:
            continue
        stats.lost[name] = stats.lost.get(name, 0) + int(count)
        if name not in stats.examples:
            column = pl.col(name)
            if isinstance(flat.schema[name], pl.List):
                column = column.list.eval(pl.element().cast(pl.String)).list.join(",")
            mask = conv[pname] & conv[vname].is_null()
            bad = flat.filter(mask).select(column.cast(pl.String, strict=False))
            stats.examples[name] = str(bad.item(0, 0)) if bad.height else "?"
