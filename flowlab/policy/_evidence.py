"""The evidence behind a rule or a verdict: samples, flows, volume with its interval, first/last seen,
and the chance that a conversation this rare would have been missed at this sampling.

``miss_chance`` is the probability that a conversation of the estimated
packet count gives no sample at all: ``(1 - 1/N) ** packets`` for sampling
1-in-N, the product over the rates when several rates are mixed (0 for
unsampled rows, N = 1).

The 95 % interval of the bytes is a private stand-in (:func:`_bytes_interval`):
exact-ish Poisson bounds on the sample count (Wilson-Hilferty chi-square
quantiles) scaled by the bytes per sample. It is isolated here so that the
shared interval functions of flowlab (issue #15 part 1) can replace it.

Examples
--------
>>> import polars as pl
>>> lo, hi = _poisson_bounds(pl.lit(10.0))  # exact (Garwood): 4.80, 18.39
>>> [round(v, 2) for v in pl.select(lo.alias("lo"), hi.alias("hi")).row(0)]
[4.79, 18.39]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import polars as pl

__all__ = ["EVIDENCE_COLUMNS", "aggregate", "combine", "describe", "finish"]

_Z = 1.959963984540054  # 95 %

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


def _chi2_quantile(p_z: float, k: pl.Expr) -> pl.Expr:
    """Wilson-Hilferty approximation of the chi-square quantile with `k` degrees of freedom."""
    a = 2.0 / (9.0 * k)
    return k * (1.0 - a + p_z * a.sqrt()).clip(lower_bound=0.0).pow(3)


def _poisson_bounds(count: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """95 % bounds on the mean of a Poisson count (0 -> [0, 3.69])."""
    lo = pl.when(count > 0).then(_chi2_quantile(-_Z, 2.0 * count) / 2.0).otherwise(0.0)
    hi = _chi2_quantile(_Z, 2.0 * count + 2.0) / 2.0
    return lo, hi


def _bytes_interval(samples: pl.Expr, total: pl.Expr, exact: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Private stand-in for the shared interval helper: bytes scaled by the sample-count bounds.

    `exact` is true where every row was unsampled (rate 1): a zero-width interval.
    """
    lo, hi = _poisson_bounds(samples.cast(pl.Float64))
    per = total.cast(pl.Float64) / samples.cast(pl.Float64)
    return (
        pl.when(exact).then(total.cast(pl.Float64)).otherwise(lo * per),
        pl.when(exact).then(total.cast(pl.Float64)).otherwise(hi * per),
    )


def aggregate(lf: pl.LazyFrame, keys: Sequence[str]) -> pl.LazyFrame:
    """Group `lf` (flow records: bytes, packets, sampling_rate, time) by `keys` into evidence.

    ``flows`` counts distinct client endpoints (``__client_ip``, ``client_port``)
    per key: the connections seen. The result still carries the partial sums
    (``__log_miss``, ``__exact``) that :func:`combine` needs; :func:`finish`
    turns them into ``miss_chance`` and the bytes interval.
    """
    names = lf.collect_schema().names()
    rate = (
        pl.col("sampling_rate").cast(pl.Float64).fill_null(1.0).clip(lower_bound=1.0)
        if "sampling_rate" in names
        else pl.lit(1.0)
    )
    log_miss = pl.col("packets").cast(pl.Float64).fill_null(0.0) * (1.0 - 1.0 / rate).log()
    conn = pl.struct(
        pl.col("__client_ip"),
        pl.col("client_port") if "client_port" in names else pl.lit(None, pl.UInt16),
    )
    return (
        lf.with_columns(
            pl.when(rate > 1.0).then(log_miss).otherwise(-math.inf).alias("__log_miss"),
            (rate <= 1.0).alias("__exact"),
        )
        .group_by(list(keys))
        .agg(
            conn.n_unique().cast(pl.UInt64).alias("flows"),
            pl.len().cast(pl.UInt64).alias("samples"),
            pl.col("bytes").sum().cast(pl.UInt64).alias("bytes"),
            pl.col("packets").sum().cast(pl.UInt64).alias("packets"),
            pl.col("time").min().alias("first_seen"),
            pl.col("time").max().alias("last_seen"),
            pl.col("__log_miss").sum(),
            pl.col("__exact").all(),
        )
    )


def combine(frame: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Sum partial evidence (of :func:`aggregate`) over coarser `keys`, then :func:`finish` it."""
    summed = frame.group_by(list(keys), maintain_order=True).agg(
        pl.col("flows", "samples", "bytes", "packets", "__log_miss").sum(),
        pl.col("first_seen").min(),
        pl.col("last_seen").max(),
        pl.col("__exact").all(),
    )
    return finish(summed)


def finish(frame: pl.DataFrame) -> pl.DataFrame:
    """Partial sums -> ``bytes_lo``, ``bytes_hi``, ``miss_chance``; columns in :data:`EVIDENCE_COLUMNS` order."""
    lo, hi = _bytes_interval(pl.col("samples"), pl.col("bytes"), pl.col("__exact"))
    partial = ("__log_miss", "__exact")
    keys = [c for c in frame.columns if c not in EVIDENCE_COLUMNS and c not in partial]
    return frame.with_columns(
        lo.alias("bytes_lo"),
        hi.alias("bytes_hi"),
        pl.col("__log_miss").exp().alias("miss_chance"),
    ).select(*keys, *EVIDENCE_COLUMNS)


def describe(row: dict[str, Any]) -> str:
    """One line of evidence for an annotation."""

    def stamp(v: object) -> str:
        return v.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(v, "strftime") else "-"

    miss = row.get("miss_chance")
    return (
        f"flows={row.get('flows')} samples={row.get('samples')} "
        f"bytes={row.get('bytes')} [{float(row.get('bytes_lo') or 0):.0f}, {float(row.get('bytes_hi') or 0):.0f}] 95% "
        f"first={stamp(row.get('first_seen'))} last={stamp(row.get('last_seen'))} "
        f"miss_chance={float(miss) if miss is not None else 0.0:.3g}"
    )
