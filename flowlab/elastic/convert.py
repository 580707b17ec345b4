"""Search-result pages -> Polars columns -> the canonical flow frame.

Two steps, both pure (bytes or dicts in, frames out):

1. :func:`parse_page` turns the raw bytes of one search response into a
   *flat* frame: one column per stored field, named by its dotted path,
   whatever the documents' nesting (``{"flow": {"bytes": 1}}`` and
   ``{"flow.bytes": 1}`` both land in ``flow.bytes``). It lets Polars parse the
   hits as NDJSON (Arrow's JSON reader, else Polars), so no Python object is
   built per document; pages neither can type (a field that is an object in one document and a number in
   another) go through :func:`flat_from_hits`, a plain-Python path.
2. :func:`to_canonical` converts the flat frame with a
   :class:`~flowlab.elastic.profiles.Profile`: strings become numbers
   (ElastiFlow stores ``"2379"``), protocol names numbers, TCP flag names a
   bit-set, then client/server are oriented (:func:`flowlab.services.orient`).
   Values that cannot be converted become null and are *counted* in
   :class:`ConversionStats`, never dropped silently.

Examples
--------
>>> from flowlab.elastic.profiles import PROFILES
>>> raw = (b'{"hits":{"hits":[{"_source":{"@timestamp":"2021-07-01T12:00:03.512Z",'
...        b'"flow":{"src_addr":"10.0.0.1","dst_addr":"10.0.0.2","src_port":51000,'
...        b'"dst_port":2379,"ip_protocol":"TCP","bytes":1514000,"packets":1000,'
...        b'"tcp_flags":["ACK","PSH"]}},"sort":[7]}]}}')
>>> page = parse_page(raw)
>>> page.frame["flow.dst_port"].to_list(), page.last_sort
([2379], [7])
>>> row = to_canonical(page.frame, PROFILES["elastiflow3"]).row(0, named=True)
>>> row["protocol"], row["tcp_flags"], row["service_name"], row["server_ip"]
(6, 24, 'etcd-client', '10.0.0.2')
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.json as pj

from flowlab.elastic.profiles import ORIENTED as _ORIENTED
from flowlab.elastic.profiles import FieldSource, Profile
from flowlab.schema import FLOW_SCHEMA, scale_expr
from flowlab.services import PROTOCOL_NAMES, orient

__all__ = [
    "TCP_FLAG_BITS",
    "ConversionStats",
    "Page",
    "flat_from_hits",
    "parse_page",
    "to_canonical",
]

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
_HITS = b'"hits":{"hits":['
_BOUNDARY = b'},{"_source":'


@dataclass
class ConversionStats:
    """Values that could not be converted, by stored field (they became null)."""

    lost: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)
    python_pages: int = 0

    def add(self, other: ConversionStats) -> None:
        """Accumulate another page's counts."""
        for name, count in other.lost.items():
            self.lost[name] = self.lost.get(name, 0) + count
        for name, example in other.examples.items():
            self.examples.setdefault(name, example)
        self.python_pages += other.python_pages

    @property
    def total(self) -> int:
        """Number of values set to null."""
        return sum(self.lost.values())

    def describe(self) -> str:
        """One line per field, for warnings."""
        return "; ".join(
            f"{name}: {count} (e.g. {self.examples.get(name, '?')!r})"
            for name, count in sorted(self.lost.items())
        )


@dataclass
class Page:
    """One parsed search-result page."""

    frame: pl.DataFrame
    last_sort: list[Any] | None
    meta: dict[str, Any]
    stats: ConversionStats


def _wrap_multi(raw: bytes, multi: Iterable[str]) -> bytes:
    """Turn single-string values of list-or-scalar fields into one-element lists."""
    for name in multi:
        bare = name.rsplit(".", 1)[-1].encode()
        if bare + b'":"' not in raw:  # every value is already a list (the common case)
            continue
        raw = raw.replace(bare + b'":"none"', bare + b'":["none"]')  # ElastiFlow's only scalar
        if bare + b'":"' not in raw:
            continue
        # a literal start keeps the search fast; a key merely ending in the same name would be
        # wrapped too, which only matters for fields that are read, where the first item is taken
        pattern = re.escape(bare) + rb'":("(?:[^"\\]|\\.)*")'
        raw = re.sub(pattern, bare + rb'":[\1]', raw)
    return raw


def _read_lines(lines: bytes) -> pl.DataFrame:
    """NDJSON -> frame, typed over *all* lines (a field seen late is never dropped).

    Arrow's reader, as one block so that its type inference sees every line;
    it refuses a field whose type changes, then Polars (which widens to a
    common type) reads with a full-length inference.
    """
    try:
        options = pj.ReadOptions(block_size=len(lines) + 1, use_threads=False)
        table = pj.read_json(io.BytesIO(lines), read_options=options)
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return pl.read_ndjson(io.BytesIO(lines), infer_schema_length=None)


def _flatten(frame: pl.DataFrame, prefix: str = "") -> list[pl.Series]:
    out: list[pl.Series] = []
    for series in frame.get_columns():
        name = f"{prefix}{series.name}"
        if isinstance(series.dtype, pl.Struct):
            if not series.dtype.fields:
                continue
            out.extend(_flatten(series.struct.unnest(), prefix=f"{name}."))
        else:
            out.append(series.alias(name))
    return out


def _merge_same_names(columns: Sequence[pl.Series]) -> pl.DataFrame:
    by_name: dict[str, list[pl.Series]] = {}
    for s in columns:
        by_name.setdefault(s.name, []).append(s)
    merged: list[pl.Series] = []
    for name, group in by_name.items():
        if len(group) == 1:
            merged.append(group[0])
            continue
        if any(isinstance(s.dtype, pl.List) for s in group):
            group = [
                s.list.eval(pl.element().cast(pl.String))
                if isinstance(s.dtype, pl.List)
                else s.cast(pl.String)
                .to_frame()
                .select(pl.when(pl.first().is_not_null()).then(pl.concat_list(pl.first())))
                .to_series()
                for s in group
            ]
        elif len({s.dtype for s in group}) > 1:
            group = [s.cast(pl.String) for s in group]
        merged.append(pl.select(pl.coalesce(group)).to_series().alias(name))
    return pl.DataFrame(merged)


def parse_page(raw: bytes, *, multi: Iterable[str] = (), fields: Sequence[str] = ()) -> Page:
    """Parse one search response (``filter_path=hits.hits._source,hits.hits.sort,...``).

    Parameters
    ----------
    raw : bytes
        The response body.
    multi : iterable of str
        Fields that may hold a single string where others hold a list.
    fields : sequence of str
        Fields for the plain-Python fallback (all ``_source`` leaves when empty).

    Returns
    -------
    Page
        ``frame`` has one column per stored field (dotted names); ``meta``
        holds the rest of the response (``pit_id``, ``_scroll_id``).
    """
    start = raw.find(_HITS)
    if start < 0:
        meta = orjson.loads(raw) if raw.strip() else {}
        if isinstance(meta.get("hits"), dict) and meta["hits"].get("hits"):
            # not Elasticsearch's compact form (e.g. pretty-printed): normalise and parse again
            return parse_page(orjson.dumps(meta), multi=multi, fields=fields)
        meta.pop("hits", None)
        return Page(pl.DataFrame(), None, meta, ConversionStats())
    begin = start + len(_HITS)
    end = raw.rfind(b"]}")
    meta = orjson.loads(raw[:begin] + raw[end:])
    meta.pop("hits", None)
    body = raw[begin:end].strip()
    if not body:
        return Page(pl.DataFrame(), None, meta, ConversionStats())
    lines = _wrap_multi(body.replace(_BOUNDARY, b'}\n{"_source":'), multi)
    try:
        frame = _read_lines(lines)
        parts: list[pl.Series] = []
        if "_source" in frame.columns and isinstance(frame.schema["_source"], pl.Struct):
            parts = _flatten(frame["_source"].struct.unnest())
        if "sort" in frame.columns:
            parts.append(frame["sort"])
        flat = _merge_same_names(parts) if parts else pl.DataFrame(height=frame.height)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError, ValueError):
        hits = orjson.loads(b"[" + body + b"]")
        stats = ConversionStats(python_pages=1)
        flat = flat_from_hits(hits, fields=fields, multi=multi)
        last = hits[-1].get("sort") if hits else None
        return Page(flat, last, meta, stats)
    last_sort: list[Any] | None = None
    if "sort" in flat.columns:
        last_sort = flat["sort"][-1].to_list() if flat.height else None
        flat = flat.drop("sort")
    return Page(flat, last_sort, meta, ConversionStats())


def _lookup(doc: Mapping[str, Any], path: str) -> Any:
    """A field of a ``_source`` by dotted path, whether stored nested or with dotted keys."""
    if path in doc:
        return doc[path]
    parts = path.split(".")
    for i in range(1, len(parts)):
        node = doc.get(".".join(parts[:i]))
        if isinstance(node, Mapping):
            found = _lookup(node, ".".join(parts[i:]))
            if found is not None:
                return found
    return None


def _leaves(doc: Mapping[str, Any], prefix: str = "") -> Iterable[str]:
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _leaves(value, f"{name}.")
        else:
            yield name


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


def flat_from_hits(
    hits: Sequence[Mapping[str, Any]], *, fields: Sequence[str] = (), multi: Iterable[str] = ()
) -> pl.DataFrame:
    """The plain-Python twin of :func:`parse_page`: hit dicts -> flat frame of strings.

    Examples
    --------
    >>> flat_from_hits([{"_source": {"flow": {"bytes": "10"}, "flow.packets": 1}}]).to_dicts()
    [{'flow.bytes': '10', 'flow.packets': '1'}]
    """
    sources = [h.get("_source") or {} for h in hits]
    names = list(fields)
    if not names:
        for doc in sources:
            names.extend(n for n in _leaves(doc) if n not in names)
    multi_set = set(multi)
    columns: dict[str, pl.Series] = {}
    for name in names:
        values = [_lookup(doc, name) for doc in sources]
        if all(v is None for v in values):
            continue
        if name in multi_set:
            lists = [
                None if v is None else [_text(x) for x in (v if isinstance(v, list) else [v])]
                for v in values
            ]
            columns[name] = pl.Series(name, lists, dtype=pl.List(pl.String))
        else:
            scal = [_text(v[0] if isinstance(v, list) and v else v) for v in values]
            columns[name] = pl.Series(name, scal, dtype=pl.String)
    return pl.DataFrame(list(columns.values()), schema=None) if columns else pl.DataFrame()


# -- conversion to canonical ----------------------------------------------------------------


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


def _to_mac(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    return _scalar(expr, dtype).cast(pl.String).str.to_lowercase().str.replace_all("-", ":")


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
    return col.cast(pl.String)


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
        From :func:`parse_page` or :func:`flat_from_hits`.
    profile : Profile
        The layout of the documents.
    columns : sequence of str, optional
        Canonical columns to return (default all, in canonical order).
    stats : ConversionStats, optional
        Receives the counts of values that could not be converted.
    """
    wanted = list(FLOW_SCHEMA) if columns is None else [c for c in FLOW_SCHEMA if c in columns]
    needed = profile.needed(wanted)
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
            raw_dtype = flat.schema[src.field]
            full = _convert(src, raw_dtype)
            fast = _fast(src, raw_dtype)
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
    if ecn is not None and "tos" in exprs:
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
