"""Push-down edges/timeseries equal the same group-by done locally on the loaded rows."""

from __future__ import annotations

import logging

import polars as pl
import pytest
from elasticsearch import helpers
from polars.testing import assert_frame_equal

import flowlab.elastic as fe
from flowlab.elastic.query import Filter, filter_frame
from flowlab.exceptions import ConfigError, MappingConflictError

pytestmark = pytest.mark.elasticsearch

BY = [
    ("client", "server", "service"),
    ("service",),
    ("src", "dst_port", "protocol"),
    ("exporter", "service_port"),
    ("server", "protocol"),
]


@pytest.fixture(scope="module")
def flowlab_index(es, module_names, make_flows):
    index_name = module_names("flowlab-test-")
    frame = make_flows(4000, seed=21)
    fe.write_flows(es, frame, index_name, refresh=True, replicas=0, shards=2)
    return index_name, frame


@pytest.fixture(scope="module")
def elastiflow_index(es, module_names, make_flows, fixture_docs):
    ef_prefix = module_names("elastiflow-3.5.0-t") + "-"
    frame = make_flows(3000, seed=22)
    es.indices.put_index_template(
        name=ef_prefix.rstrip("-"), **fixture_docs.elastiflow35_template(f"{ef_prefix}*")
    )
    actions = [
        {"_index": fixture_docs.daily_index(ef_prefix, r), "_source": fixture_docs.elastiflow35(r)}
        for r in frame.to_dicts()
    ]
    ok, errors = helpers.bulk(es, actions, raise_on_error=False, refresh=True)
    assert ok == frame.height and not errors
    return f"{ef_prefix}*", fixture_docs.expected(frame, fixture_docs.ELASTIFLOW35_COLUMNS, "sflow")


@pytest.mark.parametrize("by", BY)
def test_edges_equal_local_group_by_over_many_composite_pages(es, flowlab_index, by, caplog):
    index, _ = flowlab_index
    loaded = fe.load_flows(es, index, progress=False)
    with caplog.at_level(logging.INFO, logger="flowlab.elastic"):
        pushed = fe.edges(es, index, by=by, page_size=250)
    local = fe.edges_local(loaded, by=by)
    assert local.height > 0
    assert_frame_equal(pushed, local)
    pages = [r.getMessage() for r in caplog.records if "composite pages" in r.getMessage()]
    if local.height > 250:
        assert pages and int(pages[-1].split(": ")[1].split()[0]) > 1


@pytest.mark.parametrize("by", [("client", "server", "service"), ("service", "protocol"), ("src",)])
def test_edges_on_elastiflow_documents_equal_local(es, elastiflow_index, by):
    index, want_rows = elastiflow_index
    loaded = fe.load_flows(es, index, progress=False)
    pushed = fe.edges(es, index, by=by, metrics=("bytes", "packets", "flows"), page_size=300)
    assert_frame_equal(pushed, fe.edges_local(loaded, by=by))
    assert_frame_equal(pushed, fe.edges_local(want_rows, by=by))
    assert pushed["flows"].sum() == want_rows.height  # missing fields form a null group


@pytest.mark.parametrize(
    ("interval", "by"), [("1h", ("service",)), ("15m", ("client", "server")), ("1d", ("exporter",))]
)
def test_timeseries_equal_local(es, flowlab_index, elastiflow_index, interval, by):
    for index, _ in (flowlab_index, elastiflow_index):
        loaded = fe.load_flows(es, index, progress=False)
        pushed = fe.timeseries(es, index, interval=interval, by=by, page_size=400)
        local = fe.timeseries_local(loaded, interval=interval, by=by)
        assert_frame_equal(pushed, local)
        assert pushed.columns[0] == "time"


def test_push_down_returns_the_frame_of_the_one_local_aggregation(
    es, flowlab_index, elastiflow_index
):
    # same columns, dtypes and order as flowlab.analysis on the loaded rows (most bytes first)
    from flowlab.analysis import edges, timeseries

    for index, _ in (flowlab_index, elastiflow_index):
        loaded = fe.load_flows(es, index, progress=False)
        for by in (("client", "server", "service"), ("exporter",), ("service", "protocol")):
            pushed = fe.edges(es, index, by=by, page_size=300)
            assert_frame_equal(pushed, edges(loaded, by=by))
            assert pushed["bytes"].is_sorted(descending=True)
        pushed = fe.timeseries(es, index, interval="1h", by=("service",), page_size=300)
        assert_frame_equal(pushed, timeseries(loaded, interval="1h", by="service"))


def test_filters_and_window_in_push_down(es, elastiflow_index):
    index, rows = elastiflow_index
    flt = Filter(server="10.130.0.0/16", service=["etcd-client", "TCP/10250"], protocol="tcp")
    pushed = fe.edges(
        es, index, by=("client", "server"), where=flt, start="2021-07-02", end="2021-07-03"
    )
    window = rows.filter(pl.col("time").dt.date().cast(pl.String) == "2021-07-02")
    local = fe.edges_local(filter_frame(window, flt), by=("client", "server"))
    assert local.height > 0
    assert_frame_equal(pushed, local)
    metric_only = fe.edges(es, index, by=("service",), metrics=("flows",), port=2379)
    assert metric_only.columns == ["service", "flows"]
    assert metric_only.rows() == [("etcd-client", filter_frame(rows, Filter(port=2379)).height)]


def test_push_down_on_a_field_with_conflicting_types_is_refused_clearly(
    es, ef_prefix, make_flows, fixture_docs
):
    frame = make_flows(600, seed=23, days=2.0)
    es.indices.put_index_template(
        name=f"{ef_prefix}all", **fixture_docs.elastiflow35_template(f"{ef_prefix}*")
    )
    odd = fixture_docs.elastiflow35_template(
        f"{ef_prefix}2021.07.01", overrides={"service_port": "keyword"}
    )
    es.indices.put_index_template(name=f"{ef_prefix}d1", **{**odd, "priority": 400})
    actions = [
        {"_index": fixture_docs.daily_index(ef_prefix, r), "_source": fixture_docs.elastiflow35(r)}
        for r in frame.to_dicts()
    ]
    helpers.bulk(es, actions, refresh=True)
    with pytest.raises(
        MappingConflictError,
        match=r"flow\.service_port .*keyword.*long|flow\.service_port .*long.*keyword",
    ):
        fe.edges(es, f"{ef_prefix}*", by=("service_port",))
    # other dimensions still push down, and loading still works
    loaded = fe.load_flows(es, f"{ef_prefix}*", progress=False)
    assert_frame_equal(
        fe.edges(es, f"{ef_prefix}*", by=("client", "server")),
        fe.edges_local(loaded, by=("client", "server")),
    )


def test_bad_arguments(es, flowlab_index, index_name, fixture_docs, make_flows):
    index, _ = flowlab_index
    with pytest.raises(ConfigError, match="by= must name distinct dimensions"):
        fe.edges(es, index, by=("client", "pod"))
    with pytest.raises(ConfigError, match="metrics="):
        fe.edges(es, index, metrics=("bits",))
    with pytest.raises(ConfigError, match="interval"):
        fe.timeseries(es, index, interval="1mo")
    ecs_index = index_name + "-ecs"
    helpers.bulk(
        es,
        [{"_index": ecs_index, "_source": fixture_docs.ecs(r)} for r in make_flows(20).to_dicts()],
        refresh=True,
    )
    with pytest.raises(ConfigError, match="stores no 'service' field"):
        fe.edges(es, ecs_index, by=("service",))
    assert fe.edges(es, ecs_index, by=("src", "dst_port"))["flows"].sum() == 20
