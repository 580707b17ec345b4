"""Replicated 1-in-N subsampling of the real unsampled Open vSwitch capture (a known truth).

``tests/data/ovs-sampling1.pcap`` was taken with ``sampling=1``: every packet that
crossed the bridge is one record, so its volumes are the truth. It holds 282
packets; at 1-in-400 an edge of a few packets would leave no sample at all, so the
truth population is the capture **repeated** K times (K copies of every packet).
Subsampling that population packet by packet at random 1-in-N is drawing, for
each record, how many of its K copies are kept: Binomial(K, 1/N). The kept rows
get ``sampling_rate`` N and their ``bytes``/``packets`` rescaled by
:func:`flowlab.schema.scale_expr`, exactly as an sFlow exporter sampling 1-in-N
would have reported them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import polars as pl

import flowlab
from flowlab.schema import scale_expr

CAPTURE = Path(__file__).parent / "data" / "ovs-sampling1.pcap"


@cache
def truth_rows() -> pl.DataFrame:
    """The capture's flow records (sampling rate 1: the truth)."""
    flows = flowlab.read_pcap(CAPTURE).flows
    assert (flows["sampling_rate"] == 1).all() and flows.height == 282
    return flows


def subsample(
    rng: np.random.Generator, n: int, copies: int, rows: pl.DataFrame | None = None
) -> pl.DataFrame:
    """One random 1-in-`n` subsample of `rows` (default: the capture) repeated `copies` times."""
    pop = truth_rows() if rows is None else rows
    kept = rng.binomial(copies, 1.0 / n, size=pop.height)
    idx = np.repeat(np.arange(pop.height), kept)
    nbytes, npackets = scale_expr()
    return (
        pop[idx]
        .with_columns(pl.lit(n, pl.UInt32).alias("sampling_rate"))
        .with_columns(nbytes, npackets)
    )


def replicates(rng: np.random.Generator, n: int, copies: int, count: int) -> pl.DataFrame:
    """`count` independent subsamples stacked, told apart by a ``replicate`` column."""
    pop = truth_rows()
    kept = rng.binomial(copies, 1.0 / n, size=(count, pop.height))
    rep, row = np.nonzero(kept)
    times = kept[rep, row]
    nbytes, npackets = scale_expr()
    return (
        pop[np.repeat(row, times)]
        .with_columns(
            pl.lit(n, pl.UInt32).alias("sampling_rate"),
            pl.Series("replicate", np.repeat(rep, times)),
        )
        .with_columns(nbytes, npackets)
    )
