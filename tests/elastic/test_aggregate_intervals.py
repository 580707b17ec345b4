"""Push-down intervals: ``edges(..., intervals=True)`` equals the local computation on the loaded rows."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import flowlab.elastic as fe
from flowlab import analysis
from flowlab.estimate import INTERVAL_COLUMNS

pytestmark = pytest.mark.elasticsearch

BOUNDS = ["bytes_lo", "bytes_hi", "packets_lo", "packets_hi"]


def _same(pushed: pl.DataFrame, local: pl.DataFrame) -> None:
    """Equal, except that a bound may differ by 1 (floating-point summation order)."""
    assert pushed.columns == local.columns
    assert_frame_equal(pushed.drop(BOUNDS), local.drop(BOUNDS))
    for c in BOUNDS:
        diff = (pushed[c].cast(pl.Int64) - local[c].cast(pl.Int64)).abs()
        assert diff.max() <= 1, c


@pytest.fixture(scope="module")
def mixed_index(es, module_names, make_flows):
    """Flows with several sampling rates (1-in-1 exact rows among them) in one index."""
    index_name = module_names("flowlab-intervals-")
    frame = make_flows(3000, seed=31)
    assert frame["sampling_rate"].n_unique() > 1 and (frame["sampling_rate"] == 1).any()
    fe.write_flows(es, frame, index_name, refresh=True, replicas=0, shards=2)
    return index_name


@pytest.mark.parametrize("by", [("client", "server", "service"), ("service",), ("src", "protocol")])
def test_pushed_intervals_equal_local_ones(es, mixed_index, by):
    loaded = fe.load_flows(es, mixed_index, progress=False)
    pushed = fe.edges(es, mixed_index, by=by, intervals=True, page_size=200)
    local = fe.edges_local(loaded, by=by, intervals=True)
    assert pushed.height > 1
    assert list(pushed.columns) == [*by, "bytes", "packets", "flows", *INTERVAL_COLUMNS]
    _same(pushed, local)
    # the analysis' edges (the same vocabulary.aggregate) agree too, in the same order
    mine = analysis.edges(loaded, by=by, intervals=True)
    _same(pushed, mine)
    # intervals bracket the estimate, and rows of one unsampled source have zero width
    assert ((pushed["bytes_lo"] <= pushed["bytes"]) & (pushed["bytes"] <= pushed["bytes_hi"])).all()
    assert (pushed["packets_lo"] < pushed["packets_hi"]).any()


def test_pushed_timeseries_intervals_equal_local(es, mixed_index):
    loaded = fe.load_flows(es, mixed_index, progress=False)
    pushed = fe.timeseries(es, mixed_index, interval="1h", by=("service",), intervals=True)
    _same(pushed, fe.timeseries_local(loaded, interval="1h", by=("service",), intervals=True))


def test_unsampled_groups_have_zero_width(es, module_names, make_flows):
    index_name = module_names("flowlab-unsampled-")
    frame = make_flows(500, seed=32).with_columns(
        pl.lit(1, pl.UInt32).alias("sampling_rate"),
        pl.col("frame_length").cast(pl.UInt64).alias("bytes"),
        pl.lit(1, pl.UInt64).alias("packets"),
    )
    fe.write_flows(es, frame, index_name, refresh=True, replicas=0)
    pushed = fe.edges(es, index_name, by=("service",), intervals=True)
    assert (pushed["bytes_lo"] == pushed["bytes"]).all() and (
        pushed["bytes_hi"] == pushed["bytes"]
    ).all()
    assert (pushed["packets_lo"] == pushed["packets"]).all() and not pushed["low_evidence"].any()


def test_elastiflow_documents_give_intervals(es, module_names, make_flows):
    prefix = module_names("elastiflow-iv-")
    frame = make_flows(800, seed=33)
    fe.write_flows(es, frame, prefix, layout="elastiflow", refresh=True, replicas=0)
    index = f"{prefix}*"  # daily indices
    loaded = fe.load_flows(es, index, progress=False)
    assert loaded.height == frame.height
    pushed = fe.edges(es, index, by=("client", "server"), intervals=True)
    assert pushed.height > 1
    _same(pushed, fe.edges_local(loaded, by=("client", "server"), intervals=True))
