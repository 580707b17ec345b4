"""Idempotent writes: retries, repeated writes and restarts never store a flow twice.

Real faults: the TCP proxy (tcp_proxy.py) forwards a ``_bulk`` request to the real
server at once but holds its response back past ``request_timeout``; the client
times out and re-sends the bulk, which Elasticsearch had already applied.
"""

from __future__ import annotations

import warnings
from typing import Any

import polars as pl
import pytest
from elastic_server import client, es, es_env, index_name, synthetic_flows, upstream
from elasticsearch import Elasticsearch
from tcp_proxy import FaultProxy

import flowlab.elastic as fe
from flowlab.elastic.sink import WriteResult
from flowlab.exceptions import DataLossWarning

pytestmark = [pytest.mark.faults, pytest.mark.elasticsearch]
__all__ = ["es", "es_env", "index_name"]  # fixtures used by name

ROWS = 2_820
TIMEOUT = 2.0


def _target(layout: str, index_name: str) -> tuple[str, str]:
    """(index argument, pattern to count) of a layout."""
    if layout == "elastiflow":
        return index_name + "-", index_name + "-*"
    return index_name, index_name


def _stored(es: Elasticsearch, pattern: str) -> int:
    es.indices.refresh(index=pattern)
    return int(es.count(index=pattern)["count"])


def _accounted(result: WriteResult) -> int:
    return result.written + result.existing


@pytest.mark.parametrize("layout", ["flowlab", "elastiflow"])
def test_bulk_answered_after_the_timeout_is_not_stored_twice(
    es: Elasticsearch, es_env: dict[str, str], index_name: str, layout: Any
) -> None:
    frame = synthetic_flows(ROWS, seed=21, days=0.5)
    target, pattern = _target(layout, index_name)
    with FaultProxy(upstream(es_env)) as proxy:
        slow = client(proxy.url, es_env, request_timeout=TIMEOUT, max_retries=3)
        proxy.delay_response(b"/_bulk", TIMEOUT + 2.0)
        result = fe.write_flows(slow, frame, target, layout=layout, chunk_size=ROWS)
        assert proxy.delayed == 1  # the fault did strike: one bulk answered too late
    stored = _stored(es, pattern)
    print(f"\n[reliability] delayed bulk ({layout}): {ROWS} rows, {stored} stored, {result}")
    assert stored == ROWS  # was 5,640 for 2,820 rows
    # the re-sent bulk finds the first one's documents (existing); on a loaded server the two may
    # interleave, which changes the split, never the sum
    assert result.rejected == 0 and _accounted(result) == ROWS, result


@pytest.mark.parametrize("layout", ["flowlab", "elastiflow"])
def test_writing_the_same_frame_twice_stores_it_once(
    es: Elasticsearch, index_name: str, layout: Any
) -> None:
    frame = synthetic_flows(1_500, seed=22)
    target, pattern = _target(layout, index_name)
    first = fe.write_flows(es, frame, target, layout=layout, refresh=True)
    again = fe.write_flows(es, frame, target, layout=layout, refresh=True)
    assert (first.written, first.existing) == (frame.height, 0)
    assert (again.written, again.existing, again.rejected) == (0, frame.height, 0)
    stored = _stored(es, pattern)
    print(f"\n[reliability] same frame twice ({layout}): {frame.height} rows, {stored} stored")
    assert stored == frame.height


@pytest.mark.parametrize("layout", ["flowlab", "elastiflow"])
def test_loaded_rows_written_back_keep_their_identity(
    es: Elasticsearch, index_name: str, layout: Any
) -> None:
    """Rows loaded from Elasticsearch and written again (to the same index) are not doubled."""
    frame = synthetic_flows(800, seed=23)
    target, pattern = _target(layout, index_name)
    fe.write_flows(es, frame, target, layout=layout, refresh=True)
    loaded = fe.load_flows(es, pattern, progress=False)
    assert loaded.height == frame.height
    result = fe.write_flows(es, loaded, target, layout=layout, refresh=True)
    assert (result.written, result.existing) == (0, frame.height)
    assert _stored(es, pattern) == frame.height


def test_rows_without_the_sflow_identity_are_kept_and_idempotent(
    es: Elasticsearch, index_name: str
) -> None:
    """No sample sequence (as in Logstash-made ElastiFlow documents): identical rows all stay."""
    frame = synthetic_flows(300, seed=24).with_columns(
        pl.lit(None, dtype=pl.UInt32).alias("sample_sequence")
    )
    twice = pl.concat([frame, frame.head(10)])  # ten rows really occur twice
    assert fe.write_flows(es, twice, index_name, refresh=True).written == 310
    assert fe.write_flows(es, twice, index_name, refresh=True).existing == 310
    assert _stored(es, index_name) == 310


def test_elastiflow_row_without_time_is_a_counted_rejection(
    es: Elasticsearch, index_name: str
) -> None:
    """Issue #11 item 7: was a TypeError after installing the template."""
    frame = synthetic_flows(50, seed=25)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(None).otherwise(pl.col("time")).alias("time")
    )
    with pytest.warns(DataLossWarning, match=r"rejected 3 of 50 flows.*no time"):
        result = fe.write_flows(es, frame, index_name + "-", layout="elastiflow", refresh=True)
    assert (result.written, result.rejected) == (47, 3)
    assert _stored(es, index_name + "-*") == 47
    with warnings.catch_warnings(), pytest.warns(DataLossWarning, match="rejected 1 of 1"):
        empty = fe.write_flows(es, frame.head(1), index_name + "-", layout="elastiflow")
    assert (empty.written, empty.rejected) == (0, 1)
