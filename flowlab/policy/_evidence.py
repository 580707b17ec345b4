"""The evidence behind a rule or a verdict: samples, flows, volume with its interval, first/last seen,
and the chance that a conversation this rare would have been missed at this sampling.

``samples``, ``bytes_lo`` and ``bytes_hi`` (95 %) are those of
:mod:`flowlab.estimate`, the intervals every analysis gives with
``intervals=True``: evidence sums per group (:func:`flowlab.estimate.evidence`),
merged over coarser groups (:func:`flowlab.estimate.merge_evidence`), turned
into bounds by :func:`flowlab.estimate.with_intervals`. ``miss_chance`` is the
probability that a conversation of the estimated packet count gives no sample
at all (:func:`flowlab.estimate.miss_probability`): ``(1 - 1/N) ** packets``
for sampling 1-in-N, the product over the rates when several rates are mixed
(0 for unsampled rows, N = 1). Records without a sampling rate make the
interval and ``miss_chance`` of their group null (unknown, not zero).

Examples
--------
>>> import polars as pl
>>> from datetime import datetime, timezone
>>> t = datetime(2024, 5, 1, tzinfo=timezone.utc)
>>> f = pl.DataFrame({"__client_ip": ["a", "a"], "client_port": [1, 2], "bytes": [150000] * 2,
...                   "packets": [100] * 2, "sampling_rate": [100] * 2, "time": [t, t]})
>>> ev = finish(aggregate(f.lazy(), ["__client_ip"]).collect())
>>> ev.select("flows", "samples", "bytes", "bytes_lo", "bytes_hi").row(0)
(2, 2, 300000, 36907, 1080004)
>>> round(ev["miss_chance"][0], 3)  # 200 packets at 1-in-100: 0.99 ** 200
0.134
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import polars as pl

from flowlab.estimate import EVIDENCE, evidence, merge_evidence, miss_probability, with_intervals

__all__ = ["EVIDENCE_COLUMNS", "aggregate", "combine", "describe", "finish"]

#: The evidence columns, in order.
EVIDENCE_COLUMNS = (
    "flows",
    "samples",
    "bytes",
    "bytes_lo",
    "bytes_hi",
    "packets",
    "first_seen",
    "last_seen",
    "miss_chance",
)
#: the partial sums :func:`aggregate` leaves for :func:`combine` and :func:`finish`
_PARTIAL = (*EVIDENCE, "__log_miss")


def aggregate(lf: pl.LazyFrame, keys: Sequence[str]) -> pl.LazyFrame:
    """Group `lf` (flow records: bytes, packets, sampling_rate, time) by `keys` into evidence.

    ``flows`` counts distinct client endpoints (``__client_ip``, ``client_port``)
    per key: the connections seen. The result still carries the partial sums
    (the evidence of :func:`flowlab.estimate.evidence`, ``__log_miss``) that
    :func:`combine` needs; :func:`finish` turns them into ``miss_chance`` and
    the bytes interval.
    """
    names = lf.collect_schema().names()
    if "sampling_rate" not in names:  # no rate known: unknown intervals, as for null rates
        lf = lf.with_columns(pl.lit(None, pl.UInt32).alias("sampling_rate"))
    rate = pl.col("sampling_rate").cast(pl.Float64)
    packets = pl.col("packets").cast(pl.Float64).fill_null(0.0)
    miss = cast("pl.Expr", miss_probability(packets, 1.0, rate))
    conn = pl.struct(
        pl.col("__client_ip"),
        pl.col("client_port") if "client_port" in names else pl.lit(None, pl.UInt16),
    )
    return (
        lf.with_columns(miss.log().alias("__log_miss"))
        .group_by(list(keys))
        .agg(
            conn.n_unique().cast(pl.UInt64).alias("flows"),
            pl.col("bytes").sum().cast(pl.UInt64).alias("bytes"),
            pl.col("packets").sum().cast(pl.UInt64).alias("packets"),
            pl.col("time").min().alias("first_seen"),
            pl.col("time").max().alias("last_seen"),
            pl.col("__log_miss").sum(),
            *evidence(),
        )
    )


def combine(frame: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Sum partial evidence (of :func:`aggregate`) over coarser `keys`, then :func:`finish` it."""
    summed = frame.group_by(list(keys), maintain_order=True).agg(
        pl.col("flows", "bytes", "packets", "__log_miss").sum(),
        pl.col("first_seen").min(),
        pl.col("last_seen").max(),
        *merge_evidence(),
    )
    return finish(summed)


def finish(frame: pl.DataFrame) -> pl.DataFrame:
    """Partial sums -> ``bytes_lo``, ``bytes_hi``, ``miss_chance``; columns in :data:`EVIDENCE_COLUMNS` order."""
    keys = [c for c in frame.columns if c not in EVIDENCE_COLUMNS and c not in _PARTIAL]
    unknown = pl.col("_ev_u") > 0
    miss = pl.when(unknown).then(None).otherwise(pl.col("__log_miss").exp()).alias("miss_chance")
    return with_intervals(frame.with_columns(miss)).select(*keys, *EVIDENCE_COLUMNS)


def describe(row: dict[str, Any]) -> str:
    """One line of evidence for an annotation."""

    def stamp(v: object) -> str:
        return v.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(v, "strftime") else "-"

    def known(v: Any, fmt: str) -> str:  # null: no sampling rate known
        return "?" if v is None else format(float(v), fmt)

    return (
        f"flows={row.get('flows')} samples={row.get('samples')} "
        f"bytes={row.get('bytes')} [{known(row.get('bytes_lo'), '.0f')}, "
        f"{known(row.get('bytes_hi'), '.0f')}] 95% "
        f"first={stamp(row.get('first_seen'))} last={stamp(row.get('last_seen'))} "
        f"miss_chance={known(row.get('miss_chance'), '.3g')}"
    )
