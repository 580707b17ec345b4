"""Push-down aggregations: communication edges and time series computed inside Elasticsearch.

:func:`edges` and :func:`timeseries` run a ``composite`` aggregation (with a
``date_histogram`` source for time series), paged by ``after_key`` with no
cap on the number of buckets, so a graph over a month of stored flows never
pulls the raw documents. Their results are Polars frames **equal** to
:func:`edges_local` / :func:`timeseries_local` on the loaded rows (same
columns, dtypes, order), provided the stored client/server/service fields
agree with flowlab's orientation (they do for ElastiFlow's rules and ports
both tables know).

Dimensions (``by``): ``client``, ``server``, ``service``, ``service_port``,
``src``, ``dst``, ``src_port``, ``dst_port``, ``protocol``, ``exporter``.
Metrics: ``bytes``, ``packets`` (sums) and ``flows`` (document count).
Documents without a dimension's field form a null group, as in Polars.

With ``intervals=True`` the composite aggregation also groups by the sampling
rate and returns, per rate, the sums the estimator needs (packets, bytes,
sum of squared bytes, largest bytes: ``extended_stats``); the frame then has
the 95 % interval columns of :mod:`flowlab.estimate` (``bytes_lo``,
``bytes_hi``, ``packets_lo``, ``packets_hi``, ``samples``, ``low_evidence``),
equal to the local ones up to floating-point summation order.

Examples
--------
>>> import polars as pl
>>> f = pl.DataFrame({"client_ip": ["a", "a", "b"], "server_ip": ["s", "s", "s"],
...                   "bytes": [10, 5, 1], "packets": [1, 1, 1]})
>>> edges_local(f, by=("client", "server"), metrics=("bytes", "flows")).rows()
[('a', 's', 15, 2), ('b', 's', 1, 1)]
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import elasticsearch
import polars as pl
from elasticsearch import Elasticsearch

from flowlab.elastic._convert import _to_int, _to_proto
from flowlab.elastic._errors import translating
from flowlab.elastic._layout import Layout, resolve_profile
from flowlab.elastic.connection import describe, server_info
from flowlab.elastic.profiles import DIMENSIONS, Profile
from flowlab.elastic.query import Filter, TimeLike, build_query
from flowlab.estimate import INTERVAL_COLUMNS, merge_evidence, with_intervals
from flowlab.exceptions import ConfigError, MappingConflictError
from flowlab.schema import FLOW_SCHEMA
from flowlab.vocabulary.keys import METRICS, aggregate, sort_aggregated

__all__ = ["METRICS", "edges", "edges_local", "timeseries", "timeseries_local"]

log = logging.getLogger("flowlab.elastic")

Metric = Literal["bytes", "packets", "flows"]
_INTERVAL = re.compile(r"^[1-9]\d*(ms|s|m|h|d)$")
_DECORATION = re.compile(r" \((?:[A-Za-z0-9.+_-]+|UNKNOWN\(\d+\))/\d+\)$")


def _check(by: Sequence[str], metrics: Sequence[str]) -> tuple[list[str], list[str]]:
    dims = list(by)
    bad = [d for d in dims if d not in DIMENSIONS]
    if bad or len(set(dims)) != len(dims):
        msg = f"by= must name distinct dimensions among {list(DIMENSIONS)}, found {list(by)}"
        raise ConfigError(msg)
    mets = list(metrics)
    badm = [m for m in mets if m not in METRICS]
    if badm or not mets:
        msg = f"metrics= must be among {list(METRICS)}, found {list(metrics)}"
        raise ConfigError(msg)
    return dims, mets


def _check_interval(interval: str) -> str:
    if not _INTERVAL.match(interval):
        msg = (
            f"interval must be a fixed duration like '30s', '1m', '1h' or '1d' "
            f"(units ms, s, m, h, d), found {interval!r}"
        )
        raise ConfigError(msg)
    return interval


def _result_schema(dims: Sequence[str], mets: Sequence[str], time: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {"time": FLOW_SCHEMA["time"]} if time else {}
    schema.update({d: FLOW_SCHEMA[DIMENSIONS[d]] for d in dims})
    schema.update({m: pl.UInt64 for m in mets})
    return schema


def _finish(
    frame: pl.LazyFrame,
    dims: list[str],
    mets: list[str],
    time: bool,
    evidence: Sequence[pl.Expr] = (),
) -> pl.DataFrame:
    """Sum the buckets' metrics again (undecorated service names may meet), in the one order.

    With evidence aggregations (:func:`flowlab.estimate.merge_evidence`), merge
    the per-rate evidence of the buckets and add the interval columns.
    """
    keys = (["time"] if time else []) + dims
    aggs = [pl.col(m).sum().cast(pl.UInt64) for m in mets] + list(evidence)
    out = frame.group_by(keys).agg(aggs) if keys else frame.select(aggs)
    if evidence:
        out = with_intervals(out).select(*keys, *mets, *INTERVAL_COLUMNS)
    return sort_aggregated(out, dims, mets, time=time).collect()


def edges_local(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    by: Sequence[str] = ("client", "server", "service"),
    metrics: Sequence[str] = METRICS,
    intervals: bool = False,
) -> pl.DataFrame:
    """The local twin of :func:`edges`: group a canonical frame by dimensions.

    Parameters
    ----------
    frame : polars.DataFrame or LazyFrame
        Canonical flow frame (at least the columns the dimensions and metrics need).
    by : sequence of str
        Dimensions (see the module docs).
    metrics : sequence of str
        ``bytes``, ``packets``, ``flows``.
    intervals : bool
        Add the 95 % interval columns (:mod:`flowlab.estimate`).
    """
    dims, mets = _check(by, metrics)
    out = aggregate(frame, dims, mets, intervals=intervals)
    return out.cast(_result_schema(dims, mets, False))  # type: ignore[arg-type]


def timeseries_local(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    interval: str = "1m",
    by: Sequence[str] = ("service",),
    metrics: Sequence[str] = METRICS,
    intervals: bool = False,
) -> pl.DataFrame:
    """The local twin of :func:`timeseries`: bucket ``time`` by `interval` (UTC), group, sum."""
    dims, mets = _check(by, metrics)
    every = _check_interval(interval)
    out = aggregate(frame, dims, mets, every=every, intervals=intervals)
    return out.cast(_result_schema(dims, mets, True))  # type: ignore[arg-type]


def _stored_fields(
    profile: Profile, layout: Layout, dims: Sequence[str], mets: Sequence[str], index: str
) -> tuple[dict[str, str], dict[str, str]]:
    fields: dict[str, str] = {}
    for dim in dims:
        name = profile.dimensions.get(dim)
        if not name or name not in layout.types:
            msg = (
                f"the {profile.name} layout stores no {dim!r} field for Elasticsearch to group "
                f"by in {index!r}; use load_flows(...) and edges_local(...) instead"
            )
            raise ConfigError(msg)
        group = layout.group_field(name)
        if group is None and len(layout.families(name)) < 2:
            msg = (
                f"{name} cannot be aggregated in {index!r} (mapped as "
                f"{'/'.join(sorted(layout.types[name]))} without a keyword sub-field); map it as "
                "keyword or ip, or use load_flows(...) and edges_local(...)"
            )
            raise ConfigError(msg)
        fields[dim] = group or name
    metric_fields = {m: profile.metrics[m] for m in mets if m != "flows" and m in profile.metrics}
    missing = [m for m in mets if m != "flows" and m not in metric_fields]
    if missing:
        msg = f"the {profile.name} layout has no stored field for metrics {missing}"
        raise ConfigError(msg)
    for name in [*fields.values(), *metric_fields.values()]:
        fams = layout.families(name)
        if len(fams) > 1:
            detail = "; ".join(
                f"{t} in {', '.join(ix) if ix else 'some indices'}"
                for t, ix in layout.types[name].items()
            )
            msg = (
                f"{name} is mapped with different types across {index!r} ({detail}); "
                "Elasticsearch cannot aggregate across them. Narrow the index pattern to "
                "indices of one type, reindex, or use load_flows(...) then edges_local(...)"
            )
            raise MappingConflictError(msg)
    return fields, metric_fields


def _run(
    es: Elasticsearch,
    index: str,
    profile: Profile,
    layout: Layout,
    query: dict[str, Any],
    dims: list[str],
    mets: list[str],
    *,
    interval: str | None,
    page_size: int,
    intervals: bool = False,
) -> pl.DataFrame:
    fields, metric_fields = _stored_fields(profile, layout, dims, mets, index)
    sources: list[dict[str, Any]] = []
    stats: dict[str, Any] = {}
    if intervals:
        rate, stats = _interval_fields(profile, layout, index)
    if interval is not None:
        key = "fixed_interval" if server_info(es).has_fixed_interval else "interval"
        sources.append({"time": {"date_histogram": {"field": profile.time_field, key: interval}}})
    for dim in dims:
        sources.append({dim: {"terms": {"field": fields[dim], "missing_bucket": True}}})
    if intervals:
        sources.append({"_rate": {"terms": {"field": rate, "missing_bucket": True}}})
    # counts as the exporter sent them: per sampling rate, scaled once the buckets are in
    rates = _rate_sources(profile, layout) if metric_fields else []
    for i, (name, _) in enumerate(rates):
        sources.append({f"_r{i}": {"terms": {"field": name, "missing_bucket": True}}})
    sub = {m: {"sum": {"field": f}} for m, f in metric_fields.items()}
    sub.update(stats)
    keys = (["time"] if interval is not None else []) + dims
    ev = list(_ES_EVIDENCE) if intervals else []
    by_rate = [f"_r{i}" for i in range(len(rates))]
    columns: dict[str, list[Any]] = {k: [] for k in [*keys, *by_rate, *mets, *ev]}
    after: dict[str, Any] | None = None
    pages = 0
    url = describe(es)
    while True:
        comp: dict[str, Any] = {"size": page_size, "sources": sources}
        if after is not None:
            comp["after"] = after
        agg: dict[str, Any] = {"composite": comp}
        if sub:
            agg["aggs"] = sub
        with translating(f"aggregate flows in {index!r}", url=url, index=index):
            try:
                resp = es.search(
                    index=index,
                    size=0,
                    query=query,
                    aggregations={"g": agg},
                    track_total_hits=False,
                )
            except elasticsearch.ApiError as exc:
                # servers before 7.9 allow 10,000 buckets per response (search.max_buckets)
                if "too_many_buckets" not in str(exc.body) or page_size <= 500:
                    raise
                page_size //= 2
                log.info("too many buckets per page for %s: asking for %d", url, page_size)
                continue
        body = resp.body.get("aggregations", {}).get("g", {})
        buckets = body.get("buckets") or []
        pages += 1
        for b in buckets:
            for k in [*keys, *by_rate]:
                columns[k].append(b["key"].get(k))
            for m in mets:
                columns[m].append(b["doc_count"] if m == "flows" else (b[m]["value"] or 0))
            if intervals:
                _bucket_evidence(b, columns)
        after = body.get("after_key")
        if not buckets or after is None:
            break
    log.info("aggregated %s: %d composite pages, %d buckets", index, pages, len(columns[mets[0]]))
    data = [pl.Series(k, columns[k], strict=False) for k in keys]
    data += [
        pl.Series(m, columns[m], dtype=pl.Int64 if m == "flows" else pl.Float64, strict=False)
        for m in mets
    ]
    data += [pl.Series(c, columns[c], dtype=pl.Float64, strict=False) for c in ev]
    data += [pl.Series(c, columns[c], strict=False) for c in by_rate]
    raw = pl.DataFrame(data)
    if rates:
        raw = _scaled(raw, rates, mets)
    return _translate(raw, profile, dims, mets, interval is not None, intervals)


#: the per-rate values a bucket gives (see :func:`_bucket_evidence`)
_ES_EVIDENCE = ("_rate", "_p", "_b", "_b2", "_bmax", "_docs")


def _rate_sources(profile: Profile, layout: Layout) -> list[tuple[str, str]]:
    """``(field, kind)`` of the numeric sampling fields of a layout whose counts are as sent."""
    if not profile.counts_as_sent:
        return []
    return [
        (layout.group_field(src.field) or src.field, src.kind)
        for src in profile.sources("sampling_rate")
        if src.kind in ("rate", "v5_sampling")
        and src.field in layout.types
        and layout.families(src.field) == {"number"}
    ]


def _scaled(raw: pl.DataFrame, rates: list[tuple[str, str]], mets: list[str]) -> pl.DataFrame:
    """Bucket sums of counts as sent x the rate of their bucket (the first rate field > 0, else
    NetFlow v5's header word, low 14 bits, 0 = unsampled; else 1: the counts as sent).

    With ``intervals=True`` the bucket's evidence (``_p``, ``_b``, ``_bmax``; ``_b2`` by the
    square) is scaled too, and ``_rate`` becomes that rate (null where none is known), so the
    intervals are those of the loaded rows."""
    found = []
    for i, (_, kind) in enumerate(rates):
        value = pl.col(f"_r{i}").cast(pl.Int64, strict=False)
        if kind == "v5_sampling":
            value = pl.when(value.is_not_null()).then(pl.max_horizontal(value % 16384, 1))
        found.append(pl.when(value > 0).then(value))
    known = pl.coalesce(found)
    rate = known.fill_null(1)
    scaled = [(pl.col(m) * rate).alias(m) for m in mets if m != "flows"]
    if "_rate" in raw.columns:  # intervals: the evidence of the bucket, scaled the same way
        scaled += [(pl.col(c) * rate).alias(c) for c in ("_p", "_b", "_bmax")]
        scaled += [(pl.col("_b2") * rate * rate).alias("_b2"), known.alias("_rate")]
    return raw.with_columns(scaled)


def _interval_fields(profile: Profile, layout: Layout, index: str) -> tuple[str, dict[str, Any]]:
    """The stored sampling-rate field and the sub-aggregations intervals need."""
    rates = [s.field for s in profile.sources("sampling_rate") if s.field in layout.types]
    missing = [m for m in ("bytes", "packets") if m not in profile.metrics]
    if not rates or missing:
        msg = (
            f"the {profile.name} layout stores no sampling rate or bytes/packets in {index!r}: "
            "intervals=True needs them (use load_flows(...) and edges_local(...))"
        )
        raise ConfigError(msg)
    rate = layout.group_field(rates[0]) or rates[0]
    stats = {
        "_p": {"sum": {"field": profile.metrics["packets"]}},
        "_bs": {"extended_stats": {"field": profile.metrics["bytes"]}},
    }
    return rate, stats


def _bucket_evidence(bucket: dict[str, Any], columns: dict[str, list[Any]]) -> None:
    bs = bucket["_bs"]
    columns["_rate"].append(bucket["key"].get("_rate"))
    columns["_p"].append(bucket["_p"]["value"] or 0)
    columns["_b"].append(bs.get("sum") or 0)
    columns["_b2"].append(bs.get("sum_of_squares") or 0)
    columns["_bmax"].append(bs.get("max") or 0)
    columns["_docs"].append(bucket["doc_count"])


def _evidence_of_buckets() -> list[pl.Expr]:
    """The evidence columns (:func:`flowlab.estimate.evidence`) of one (group, rate) bucket."""
    n = pl.col("_rate").cast(pl.Float64, strict=False)
    p, b = pl.col("_p"), pl.col("_b")
    sampled = n > 1

    def over(x: pl.Expr) -> pl.Expr:
        return pl.when(sampled).then(x).otherwise(0.0)

    return [
        pl.when(n > 0).then(p / n).otherwise(0.0).alias("samples"),
        over(p / n).alias("_ev_s"),
        over(p).alias("_ev_p"),
        over((n - 1) * p).alias("_ev_pv"),
        over(n).alias("_ev_n"),
        over(b).alias("_ev_b"),
        over((n - 1) / n * pl.col("_b2")).alias("_ev_bv"),
        over(pl.col("_bmax")).alias("_ev_bw"),
        pl.when(n == 1).then(p).otherwise(0.0).alias("_ev_xp"),
        pl.when(n == 1).then(b).otherwise(0.0).alias("_ev_xb"),
        pl.when(n.is_null() | (n <= 0)).then(pl.col("_docs")).otherwise(0).alias("_ev_u"),
    ]


def _translate(
    raw: pl.DataFrame,
    profile: Profile,
    dims: list[str],
    mets: list[str],
    time: bool,
    intervals: bool = False,
) -> pl.DataFrame:
    schema = _result_schema(dims, mets, time)
    exprs: list[pl.Expr] = []
    if time:
        exprs.append(pl.col("time").cast(pl.Int64).cast(FLOW_SCHEMA["time"]))
    for dim in dims:
        column = DIMENSIONS[dim]
        dtype = raw.schema[dim]
        col = pl.col(dim)
        if dim == "service" and profile.decorated_services:
            expr = col.cast(pl.String).str.replace(_DECORATION.pattern, "")
        elif dim == "protocol":
            expr = _to_proto(col, dtype)
        elif schema[dim] == pl.String:
            expr = col.cast(pl.String)
        else:
            expr = _to_int(col, dtype)
        exprs.append(expr.cast(FLOW_SCHEMA[column], strict=False).alias(dim))
    exprs += [pl.col(m).round(0).cast(pl.UInt64).alias(m) for m in mets]
    evidence: list[pl.Expr] = []
    if intervals:
        exprs += _evidence_of_buckets()
        evidence = [
            e.round(0).cast(pl.UInt64) if e.meta.output_name() in ("samples", "_ev_u") else e
            for e in merge_evidence()
        ]
    out = _finish(raw.lazy().select(exprs), dims, mets, time, evidence)
    return out.cast(schema)  # type: ignore[arg-type]


def edges(
    es: Elasticsearch,
    index: str = "elastiflow-*",
    *,
    by: Sequence[str] = ("client", "server", "service"),
    metrics: Sequence[str] = METRICS,
    start: TimeLike = None,
    end: TimeLike = None,
    where: Filter | None = None,
    profile: str | Profile = "auto",
    field_map: Mapping[str, str] | None = None,
    page_size: int = 10_000,
    intervals: bool = False,
    **filters: Any,
) -> pl.DataFrame:
    """Communication edges (one row per distinct `by` tuple) computed by Elasticsearch.

    Parameters
    ----------
    es : elasticsearch.Elasticsearch
        A client.
    index : str
        Index name or pattern.
    by : sequence of str
        Dimensions to group by (default client, server, service).
    metrics : sequence of str
        ``bytes``, ``packets``, ``flows``.
    start, end, where, profile, field_map, **filters
        As for :func:`flowlab.elastic.load_flows`; filters use the stored
        client/server/service fields.
    page_size : int
        Buckets per composite page (all pages are read).
    intervals : bool
        Add 95 % intervals from the aggregated sample counts (see the module docs).

    Returns
    -------
    polars.DataFrame
        Columns `by` then `metrics` (then the interval columns), the most bytes
        first, then by `by` (nulls last); equal to ``edges_local(load_flows(...),
        by=by, metrics=metrics)`` and to :func:`flowlab.analysis.edges` on the same rows.

    Raises
    ------
    ConfigError
        Unknown dimension, or one the layout does not store.
    MappingConflictError
        A dimension or metric field has incompatible types across the indices.
    """
    dims, mets = _check(by, metrics)
    flt = (where or Filter()).merged(**filters)
    prof, layout = resolve_profile(es, index, profile, field_map)
    query = build_query(prof, start=start, end=end, where=flt, exact=True, types=layout.types)
    opts: dict[str, Any] = {"page_size": page_size, "intervals": intervals}
    return _run(es, index, prof, layout, query, dims, mets, interval=None, **opts)


def timeseries(
    es: Elasticsearch,
    index: str = "elastiflow-*",
    *,
    interval: str = "1m",
    by: Sequence[str] = ("service",),
    metrics: Sequence[str] = METRICS,
    start: TimeLike = None,
    end: TimeLike = None,
    where: Filter | None = None,
    profile: str | Profile = "auto",
    field_map: Mapping[str, str] | None = None,
    page_size: int = 10_000,
    intervals: bool = False,
    **filters: Any,
) -> pl.DataFrame:
    """Per-interval sums by dimension, computed by Elasticsearch (``date_histogram`` in UTC).

    Returns a frame with ``time`` (bucket start), the `by` columns and the
    metrics, sorted by time then `by` (nulls last); equal to
    ``timeseries_local(load_flows(...), ...)`` and :func:`flowlab.analysis.timeseries`.
    Empty buckets are absent, as in the local group-by.
    """
    dims, mets = _check(by, metrics)
    every = _check_interval(interval)
    flt = (where or Filter()).merged(**filters)
    prof, layout = resolve_profile(es, index, profile, field_map)
    query = build_query(prof, start=start, end=end, where=flt, exact=True, types=layout.types)
    opts: dict[str, Any] = {"page_size": page_size, "intervals": intervals}
    return _run(es, index, prof, layout, query, dims, mets, interval=every, **opts)
