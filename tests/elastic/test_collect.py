"""ElasticSink and flowlab collect's --to-elasticsearch option, against the real server."""

from __future__ import annotations

import argparse

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import flowlab.elastic as fe
import flowlab.schema as fs
from flowlab.cli import SINK_OPTIONS
from flowlab.exceptions import ConfigError, ElasticAuthError

pytestmark = pytest.mark.elasticsearch

KEY = list(fs.FLOW_SCHEMA)


def test_elastic_sink_for_the_collector(es, index_name, make_flows):
    frames = [make_flows(n, seed=40 + n) for n in (120, 1, 300, 80)]
    frames[1] = frames[1].head(0)  # an empty batch is fine

    class Decoded:  # what the live collector hands its sinks: an object with .flows
        def __init__(self, flows: pl.DataFrame) -> None:
            self.flows = flows

    with fe.ElasticSink(es, index=index_name, batch_size=250, replicas=0) as sink:
        sink(frames[0])
        sink(Decoded(frames[1]))
        sink(Decoded(frames[2]))
        sink(frames[3])
        assert sink.result.written == 420  # 120 + 0 + 300 flushed at 250 rows, 80 buffered
    assert sink.result.written == 500 and sink.result.rejected == 0
    assert repr(sink) == f"<ElasticSink {index_name} (flowlab) written=500 existing=0 rejected=0>"
    with pytest.raises(ConfigError, match="closed"):
        sink(frames[0])
    es.indices.refresh(index=index_name)
    assert_frame_equal(
        fe.load_flows(es, index_name, progress=False).sort(KEY), pl.concat(frames).sort(KEY)
    )


def test_to_elasticsearch_option_builds_a_checked_sink(
    secured, es, es_env, index_name, make_flows, monkeypatch
):
    (option,) = SINK_OPTIONS
    add_arguments, make_sink = option.arguments, option.make
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert make_sink(parser.parse_args([])) is None
    monkeypatch.setenv("FLOWLAB_ES_USERNAME", es_env["username"])
    monkeypatch.setenv("FLOWLAB_ES_PASSWORD", es_env["password"])
    args = parser.parse_args(
        ["--to-elasticsearch", es_env["url"], "--es-index", index_name, "--es-batch", "100"]
    )
    sink = make_sink(args)
    assert isinstance(sink, fe.ElasticSink) and sink.batch_size == 100 and sink.layout == "flowlab"
    frame = make_flows(250, seed=61)
    sink(frame)
    result = sink.close()
    assert (result.written, result.rejected) == (250, 0)
    es.indices.refresh(index=index_name)
    assert es.count(index=index_name)["count"] == 250
    monkeypatch.setenv("FLOWLAB_ES_PASSWORD", "wrong-password")
    with pytest.raises(ElasticAuthError, match="HTTP 401"):
        make_sink(args)
    with pytest.raises(SystemExit):
        parser.parse_args(["--to-elasticsearch", es_env["url"], "--es-batch", "0"])
