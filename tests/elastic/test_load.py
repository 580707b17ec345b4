"""load_flows against the real test server: every layout, filters, paging methods, bad inputs."""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from elasticsearch import Elasticsearch, helpers
from polars.testing import assert_frame_equal

import flowlab.elastic as fe
import flowlab.schema as fs
from flowlab.elastic.query import Filter, filter_frame
from flowlab.exceptions import (
    ConfigError,
    DataLossWarning,
    IndexNotFoundError,
    UnknownLayoutError,
)

pytestmark = pytest.mark.elasticsearch

KEY = list(fs.FLOW_SCHEMA)


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(KEY, nulls_last=True)


def _index_docs(es: Elasticsearch, actions: list[dict[str, Any]]) -> None:
    ok, errors = helpers.bulk(es, actions, raise_on_error=False, refresh=True)
    assert not errors, errors[:2]
    assert ok == len(actions)


def _put_template(es: Elasticsearch, name: str, body: dict[str, Any]) -> None:
    es.indices.put_index_template(name=name, **body)


def test_flowlab_layout_round_trip_equals_frame(es, index_name, make_flows):
    frame = make_flows(3000, seed=1)
    result = fe.write_flows(es, frame, index_name, refresh=True, replicas=0)
    assert (result.written, result.rejected) == (3000, 0)
    loaded = fe.load_flows(es, index_name, progress=False)
    fs.validate(loaded)
    assert loaded["time"].is_sorted()
    assert_frame_equal(_sorted(loaded), _sorted(frame))


def test_elastiflow35_documents_load_with_the_same_answers(es, ef_prefix, make_flows, fixture_docs):
    frame = make_flows(2500, seed=2)
    _put_template(es, ef_prefix.rstrip("-"), fixture_docs.elastiflow35_template(f"{ef_prefix}*"))
    rows = frame.to_dicts()
    actions = [
        {"_index": fixture_docs.daily_index(ef_prefix, r), "_source": fixture_docs.elastiflow35(r)}
        for r in rows
    ]
    _index_docs(es, actions)
    days = {a["_index"] for a in actions}
    assert len(days) >= 3  # daily indices, as ElastiFlow writes them

    loaded = fe.load_flows(es, f"{ef_prefix}*", progress=False)
    want = fixture_docs.expected(frame, fixture_docs.ELASTIFLOW35_COLUMNS, "sflow")
    assert_frame_equal(_sorted(loaded), _sorted(want))

    # flowlab's orientation equals what ElastiFlow stored (same multiset of answers)
    def undecorate(name: str | None) -> str | None:
        return None if name is None else re.sub(r" \([A-Za-z0-9-]+/\d+\)$", "", name)

    stored = Counter(
        (f.get("client_addr"), f.get("server_addr"), undecorate(f.get("service_name")))
        for f in (
            h["_source"]["flow"]
            for h in helpers.scan(es, index=f"{ef_prefix}*", query={"query": {"match_all": {}}})
        )
    )
    ours = Counter(loaded.select("client_ip", "server_ip", "service_name").rows())
    assert sum(stored.values()) == frame.height
    assert stored == ours
    assert loaded["server_ip"].null_count() == frame["src_port"].null_count() > 0


def test_ecs_documents_load(es, index_name, make_flows, fixture_docs):
    frame = make_flows(1500, seed=3)
    _index_docs(
        es, [{"_index": index_name, "_source": fixture_docs.ecs(r)} for r in frame.to_dicts()]
    )
    loaded = fe.load_flows(es, index_name, progress=False)
    want = fixture_docs.expected(frame, fixture_docs.ECS_COLUMNS, "elasticsearch")
    assert_frame_equal(_sorted(loaded), _sorted(want))


def test_codex_documents_with_dotted_keys_load(es, index_name, make_flows, fixture_docs):
    frame = make_flows(1500, seed=4)
    _index_docs(
        es, [{"_index": index_name, "_source": fixture_docs.codex(r)} for r in frame.to_dicts()]
    )
    loaded = fe.load_flows(es, index_name, progress=False, profile="auto")
    want = fixture_docs.expected(frame, fixture_docs.CODEX_COLUMNS, "elasticsearch")
    assert_frame_equal(_sorted(loaded), _sorted(want))


def test_time_window_and_empty_window(es, index_name, make_flows):
    frame = make_flows(2000, seed=5)
    fe.write_flows(es, frame, index_name, refresh=True, replicas=0)
    start = dt.datetime(2021, 7, 2, tzinfo=dt.timezone.utc)
    end = dt.datetime(2021, 7, 2, 12, tzinfo=dt.timezone.utc)
    window = fe.load_flows(es, index_name, start=start, end=end, progress=False)
    want = frame.filter((pl.col("time") >= start) & (pl.col("time") < end))
    assert 0 < window.height < frame.height
    assert_frame_equal(_sorted(window), _sorted(want))
    # ISO strings and epoch milliseconds mean the same window
    iso = fe.load_flows(
        es, index_name, start="2021-07-02T00:00:00Z", end=1625227200000, progress=False
    )
    assert_frame_equal(_sorted(iso), _sorted(want))

    empty = fe.load_flows(es, index_name, start="2030-01-01", end="2030-01-02", progress=False)
    assert empty.height == 0
    fs.validate(empty)


def test_filters_become_queries_and_match_local_filtering(es, index_name, make_flows):
    frame = make_flows(3000, seed=6)
    fe.write_flows(es, frame, index_name, refresh=True, replicas=0)
    cases = [
        Filter(server="10.130.0.0/16", service="etcd-client"),
        Filter(client=["10.128.1.0/24", "fd01:0:0:1::/64"]),
        Filter(port=[6443, 53], protocol=["tcp", "udp"]),
        Filter(exporter="10.0.0.6", ip="10.130.2.0/24"),
        Filter(protocol="icmp"),
        Filter(service="TCP/10250"),
    ]
    for flt in cases:
        got = fe.load_flows(es, index_name, where=flt, progress=False)
        want = filter_frame(frame, flt)
        assert want.height > 0, flt
        assert_frame_equal(_sorted(got), _sorted(want))
    kw = fe.load_flows(es, index_name, server="10.130.0.0/16", port=2379, progress=False)
    assert_frame_equal(
        _sorted(kw), _sorted(filter_frame(frame, Filter(server="10.130.0.0/16", port=2379)))
    )


def test_filters_on_elastiflow_docs_use_raw_fields(es, ef_prefix, make_flows, fixture_docs):
    frame = make_flows(1500, seed=7)
    _put_template(es, ef_prefix.rstrip("-"), fixture_docs.elastiflow35_template(f"{ef_prefix}*"))
    _index_docs(
        es,
        [
            {
                "_index": fixture_docs.daily_index(ef_prefix, r),
                "_source": fixture_docs.elastiflow35(r),
            }
            for r in frame.to_dicts()
        ],
    )
    flt = Filter(client="10.128.2.0/24", service=["kubernetes-api", "etcd-client"])
    got = fe.load_flows(es, f"{ef_prefix}*", where=flt, progress=False)
    want = filter_frame(
        fixture_docs.expected(frame, fixture_docs.ELASTIFLOW35_COLUMNS, "sflow"), flt
    )
    assert want.height > 0
    assert_frame_equal(_sorted(got), _sorted(want))


def test_columns_subset(es, index_name, make_flows):
    frame = make_flows(800, seed=8)
    fe.write_flows(es, frame, index_name, refresh=True, replicas=0)
    got = fe.load_flows(es, index_name, columns=["server_ip", "time", "bytes"], progress=False)
    assert got.columns == ["time", "bytes", "server_ip"]
    assert got.schema == pl.Schema({c: fs.FLOW_SCHEMA[c] for c in got.columns})
    assert_frame_equal(got.sort(got.columns), frame.select(got.columns).sort(got.columns))


@pytest.mark.parametrize(
    ("method", "slices", "page_size"), [("pit", 1, 97), ("pit", 3, 500), ("scroll", 2, 333)]
)
def test_paging_methods_and_slices_agree(es, index_name, make_flows, method, slices, page_size):
    frame = make_flows(2000, seed=9)
    fe.write_flows(es, frame, index_name, refresh=True, replicas=0, shards=2)
    if method == "pit" and not fe.server_info(es).has_pit:
        with pytest.raises(ConfigError, match=r"7\.12\+"):
            fe.load_flows(es, index_name, method=method, progress=False)
        return
    got = fe.load_flows(
        es, index_name, method=method, slices=slices, page_size=page_size, progress=False
    )
    assert_frame_equal(_sorted(got), _sorted(frame))


def test_plain_client_gives_the_same_frame(es, plain_es, index_name, make_flows):
    frame = make_flows(1200, seed=10)
    fe.write_flows(es, frame, index_name, refresh=True, replicas=0)
    got = fe.load_flows(plain_es, index_name, progress=False, page_size=400)
    assert_frame_equal(_sorted(got), _sorted(frame))


def test_streaming_to_parquet(es, index_name, make_flows, tmp_path: Path):
    frame = make_flows(2500, seed=11)
    fe.write_flows(es, frame, index_name, refresh=True, replicas=0)
    path = tmp_path / "flows.parquet"
    rows = fe.load_flows_to_parquet(
        es, path, index_name, page_size=300, row_group_size=700, progress=False
    )
    assert rows == 2500
    back = pl.read_parquet(path)
    assert_frame_equal(_sorted(back), _sorted(frame))
    assert not list(tmp_path.glob(".*tmp"))
    empty = tmp_path / "empty.parquet"
    assert fe.load_flows_to_parquet(es, empty, index_name, start="2030-01-01", progress=False) == 0
    assert pl.read_parquet(empty).schema == fs.FLOW_SCHEMA


def test_missing_index(es):
    with pytest.raises(IndexNotFoundError, match="no-such-flowlab-index"):
        fe.load_flows(es, "no-such-flowlab-index", progress=False)
    with pytest.raises(IndexNotFoundError):
        fe.load_flows(es, "no-such-flowlab-pattern-*", progress=False)


def test_unknown_layout_lists_fields_and_field_map_reads_it(es, index_name):
    docs = [
        {"ts": "2021-07-01T00:00:00Z", "sa": "10.0.0.1", "da": "10.0.0.2", "sp": 51000, "dp": 443,
         "proto": "TCP", "octets": 1500 * (i + 1), "fancy": "x"}
        for i in range(5)
    ]  # fmt: skip
    _index_docs(es, [{"_index": index_name, "_source": d} for d in docs])
    with pytest.raises(UnknownLayoutError) as err:
        fe.load_flows(es, index_name, progress=False)
    text = str(err.value)
    assert "fancy" in text and "octets" in text and "field_map" in text
    mapping = {"time": "ts", "src_ip": "sa", "dst_ip": "da", "src_port": "sp", "dst_port": "dp",
               "protocol": "proto", "bytes": "octets"}  # fmt: skip
    got = fe.load_flows(es, index_name, field_map=mapping, progress=False)
    assert got["bytes"].to_list() == [1500, 3000, 4500, 6000, 7500]
    assert set(got["service_name"]) == {"https"}
    assert set(got["server_ip"]) == {"10.0.0.2"}


def test_mapping_conflict_across_daily_indices_does_not_break_the_load(
    es, ef_prefix, make_flows, fixture_docs
):
    frame = make_flows(1200, seed=12, days=2.0)
    day1 = f"{ef_prefix}2021.07.01"
    # day 1: service_port and src_port mapped as keyword; later days as ElastiFlow maps them
    _put_template(es, f"{ef_prefix}all", fixture_docs.elastiflow35_template(f"{ef_prefix}*"))
    odd = fixture_docs.elastiflow35_template(
        day1, overrides={"service_port": "keyword", "src_port": "keyword"}
    )
    _put_template(es, f"{ef_prefix}d1", {**odd, "priority": 400})
    actions = [
        {"_index": fixture_docs.daily_index(ef_prefix, r), "_source": fixture_docs.elastiflow35(r)}
        for r in frame.to_dicts()
    ]
    _index_docs(es, actions)
    layout = fe.inspect_layout(es, f"{ef_prefix}*")
    conflicts = layout.conflicts()
    assert set(conflicts["flow.service_port"]) == {"keyword", "long"}
    assert set(conflicts["flow.src_port"]) == {"keyword", "long"}
    loaded = fe.load_flows(es, f"{ef_prefix}*", progress=False)
    want = fixture_docs.expected(frame, fixture_docs.ELASTIFLOW35_COLUMNS, "sflow")
    assert_frame_equal(_sorted(loaded), _sorted(want))
    got = fe.load_flows(es, f"{ef_prefix}*", port=2379, progress=False)
    assert_frame_equal(_sorted(got), _sorted(filter_frame(want, Filter(port=2379))))


def test_unconvertible_values_are_counted_not_silently_dropped(
    es, ef_prefix, make_flows, fixture_docs
):
    frame = make_flows(300, seed=13, days=0.5)
    es.indices.put_index_template(
        name=ef_prefix.rstrip("-"),
        **fixture_docs.elastiflow35_template(f"{ef_prefix}*", overrides={"src_port": "keyword"}),
    )
    rows = frame.filter(pl.col("src_port").is_not_null()).head(100).to_dicts()
    actions = []
    for i, r in enumerate(rows):
        doc = fixture_docs.elastiflow35(r)
        if i < 3:
            doc["flow"]["src_port"] = "not-a-port"
        actions.append({"_index": fixture_docs.daily_index(ef_prefix, r), "_source": doc})
    _index_docs(es, actions)
    with pytest.warns(
        DataLossWarning, match=r"3 stored values .*flow\.src_port: 3 \(e\.g\. 'not-a-port'\)"
    ):
        loaded = fe.load_flows(es, f"{ef_prefix}*", progress=False)
    assert loaded.height == 100
    assert loaded["src_port"].null_count() == 3


def test_no_warning_when_everything_converts(es, index_name, make_flows):
    fe.write_flows(es, make_flows(200, seed=14), index_name, refresh=True, replicas=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fe.load_flows(es, index_name, progress=False).height == 200
