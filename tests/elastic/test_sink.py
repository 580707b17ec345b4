"""write_flows / ElasticSink against the real server: mappings, ElastiFlow 3.5 shape, rejections."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import pytest
from elasticsearch import helpers
from polars.testing import assert_frame_equal

import flowlab.elastic as fe
import flowlab.schema as fs
from flowlab.exceptions import ConfigError, DataLossWarning, ElasticAuthError, MappingConflictError

KEY = list(fs.FLOW_SCHEMA)

# Fields the reference ElastiFlow documents carry that no canonical column feeds.
NOT_FROM_CANONICAL = {
    "sflow.drops",
    "sflow.source_id_type",
    "sflow.protocol",
    "sflow.ip_flags",
    "sflow.tcp_window_size",
    "sflow.tcp_urgent_pointer",
}


def _flat(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.elasticsearch
def test_flowlab_layout_has_explicit_mappings(es, index_name, make_flows):
    frame = make_flows(300, seed=31)
    result = fe.write_flows(es, frame, index_name, refresh=True, replicas=0)
    assert result.written == 300 and result.indices == {index_name}
    mapping = es.indices.get_mapping(index=index_name)[index_name]["mappings"]
    assert mapping["dynamic"] == "strict"
    props = mapping["properties"]
    assert props["time"]["type"] == "date"
    assert {
        props[c]["type"] for c in ("exporter", "src_ip", "dst_ip", "client_ip", "server_ip")
    } == {"ip"}
    assert props["service_name"]["type"] == "keyword"
    assert props["bytes"]["type"] == props["tcp_flags"]["type"] == "long"
    template = es.indices.get_index_template(name=f"flowlab-{index_name}")["index_templates"][0]
    assert template["index_template"]["index_patterns"] == [index_name]


@pytest.mark.elasticsearch
def test_elastiflow_layout_writes_what_elastiflow_35_writes(
    es, ef_prefix, make_flows, fixture_docs
):
    frame = make_flows(1500, seed=32)
    result = fe.write_flows(es, frame, ef_prefix, layout="elastiflow", refresh=True)
    assert (result.written, result.rejected) == (1500, 0)
    days = sorted(result.indices)
    assert days == sorted({fixture_docs.daily_index(ef_prefix, r) for r in frame.to_dicts()})
    settings = es.indices.get_settings(index=days[0])[days[0]]["settings"]["index"]
    assert (settings["number_of_shards"], settings["number_of_replicas"]) == ("3", "1")
    assert settings["codec"] == "best_compression"

    # every document equals the reference ElastiFlow 3.5 document of its row, field by field
    reference = {}
    row_of = {}
    for row in frame.to_dicts():
        doc = _flat(fixture_docs.elastiflow35(row))
        ref_key = (
            doc["@timestamp"],
            doc["flow.src_addr"],
            doc.get("flow.src_port"),
            doc["sflow.frame_length"],
            doc["flow.sampling_interval"],
        )
        reference[ref_key], row_of[ref_key] = doc, row
    seen = 0
    for hit in helpers.scan(es, index=f"{ef_prefix}*", query={"query": {"match_all": {}}}):
        ours = _flat(hit["_source"])
        key = (
            ours["@timestamp"],
            ours["flow.src_addr"],
            ours.get("flow.src_port"),
            ours["sflow.frame_length"],
            ours["flow.sampling_interval"],
        )
        want = reference[key]
        # flowlab adds the flow sample's sequence number (the Logstash codec's name), so that
        # the documents identify their sample (deterministic _id when loaded and written again)
        assert set(ours) - {"sflow.sample_seq_number"} <= set(want), set(ours) - set(want)
        assert ours["sflow.sample_seq_number"] == str(row_of[key]["sample_sequence"])
        assert set(want) - set(ours) <= NOT_FROM_CANONICAL
        for name in set(ours) - {"sflow.sample_seq_number"}:
            assert ours[name] == want[name], (name, ours[name], want[name])
            assert type(ours[name]) is type(want[name]), name
        assert hit["_index"] == fixture_docs.daily_index(
            ef_prefix,
            {
                "time": frame.filter(
                    pl.col("time").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ") == ours["@timestamp"]
                )["time"][0]
            },
        )
        seen += 1
    assert seen == 1500

    # and it reads back: the columns the layout carries, client/server recomputed equal
    loaded = fe.load_flows(es, f"{ef_prefix}*", progress=False)
    carried = (*fixture_docs.ELASTIFLOW35_COLUMNS, "sample_sequence")  # + flowlab's addition
    want = fixture_docs.expected(frame, carried, "sflow")
    assert_frame_equal(loaded.sort(KEY), want.sort(KEY))
    assert_frame_equal(
        fe.edges(es, f"{ef_prefix}*", by=("client", "server", "service")),
        fe.edges_local(frame, by=("client", "server", "service")),
    )


@pytest.mark.elasticsearch
def test_rejected_documents_are_counted_and_reported(es, index_name, make_flows):
    frame = make_flows(400, seed=33).with_columns(
        pl.when(pl.int_range(pl.len()) % 100 == 7)
        .then(pl.lit("not-an-ip"))
        .otherwise(pl.col("exporter"))
        .alias("exporter")
    )
    with pytest.warns(DataLossWarning, match="rejected 4 of 400"):
        result = fe.write_flows(es, frame, index_name, refresh=True, replicas=0, chunk_size=150)
    assert (result.written, result.rejected) == (396, 4)
    ((reason, count),) = result.errors.most_common()
    assert count == 4
    assert reason.startswith(("400 document_parsing_exception", "400 mapper_parsing_exception"))
    assert "exporter" in reason and "not-an-ip" in reason
    assert es.count(index=index_name)["count"] == 396


@pytest.mark.elasticsearch
def test_existing_index_with_other_types_is_refused(es, index_name, make_flows):
    es.indices.create(index=index_name, mappings={"properties": {"src_ip": {"type": "long"}}})
    with pytest.raises(MappingConflictError, match=r"src_ip is long .* \(flowlab writes ip\)"):
        fe.write_flows(es, make_flows(10), index_name, install=False)
    assert es.count(index=index_name)["count"] == 0


@pytest.mark.elasticsearch
def test_read_only_user_gets_a_clear_403(secured, es_env, make_flows, index_name):
    reader = fe.connect(
        es_env["url"], username=es_env["reader_username"], password=es_env["reader_password"]
    )
    with pytest.raises(ElasticAuthError, match="HTTP 403"):
        fe.write_flows(reader, make_flows(5), index_name)


def test_bad_arguments_are_config_errors(make_flows):
    es = fe.connect("http://127.0.0.1:1", check=False)
    frame = make_flows(3)
    with pytest.raises(ConfigError, match="not a valid index name"):
        fe.write_flows(es, frame, "Bad Name")
    with pytest.raises(ConfigError, match="layout must be"):
        fe.write_flows(es, frame, layout="kibana")  # type: ignore[arg-type]
    assert fe.write_flows(es, frame.head(0), "empty").written == 0  # nothing to send, no request


def test_bulk_items_rejected_with_429_are_retried(fakes, make_flows):
    # A fake: a real node answers 429 only when overloaded, which no test can cause on demand.
    calls: list[int] = []

    def handler(method: str, path: str, body: bytes):
        if path.startswith("/_bulk"):
            lines = body.splitlines()
            docs = len(lines) // 2
            first = not calls
            calls.append(docs)
            items = [
                {
                    "index": {
                        "status": 429,
                        "error": {
                            "type": "es_rejected_execution_exception",
                            "reason": "queue full",
                        },
                    }
                }
                if first and i < 3
                else {"index": {"status": 201}}
                for i in range(docs)
            ]
            return fakes.json_reply({"errors": first, "items": items})
        if "_field_caps" in path:
            return fakes.json_reply({"indices": [], "fields": {}})
        if path.startswith("/_index_template"):
            return fakes.json_reply({"acknowledged": True})
        return fakes.json_reply(fakes.ES_ROOT)

    with fakes.serve(handler) as url:
        es = fe.connect(url)
        result = fe.write_flows(es, make_flows(50), "retried", initial_backoff=0.01)
    assert calls == [50, 3]
    assert (result.written, result.rejected, result.retried) == (50, 0, 3)


def test_items_still_rejected_after_retries_are_reported(fakes, make_flows):
    # A fake, as above: permanent 429s.
    def handler(method: str, path: str, body: bytes):
        if path.startswith("/_bulk"):
            docs = len(body.splitlines()) // 2
            items = [
                {"index": {"status": 429, "error": {"type": "es_rejected_execution_exception"}}}
            ] * docs
            return fakes.json_reply({"errors": True, "items": items})
        if "_field_caps" in path:
            return fakes.json_reply({"indices": [], "fields": {}})
        return fakes.json_reply({"acknowledged": True} if "template" in path else fakes.ES_ROOT)

    with fakes.serve(handler) as url:
        es = fe.connect(url)
        with pytest.warns(DataLossWarning, match="rejected 20 of 20"):
            result = fe.write_flows(es, make_flows(20), "full", max_retries=2, initial_backoff=0.01)
    assert (result.written, result.rejected, result.retried) == (0, 20, 40)
    assert "still rejected after retries" in result.summary()
    json.dumps(result.summary())
