"""Chart specs carry the numbers they draw (bytes, not record counts)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from flowlab.analysis import conversations, timeseries, top_clients
from flowlab.exceptions import ConfigError
from flowlab.graph import communication_graph
from flowlab.views import (
    bar_chart,
    flow_diagram,
    graph_chart,
    graph_frames,
    heatmap,
    save,
    timeseries_chart,
)
from tests import clusterdata as cd


@pytest.fixture(scope="module")
def flows() -> pl.DataFrame:
    return cd.enriched()


def _values(spec: dict, dataset: int | None = None) -> list[dict]:
    datasets = list(spec["datasets"].values())
    return datasets[dataset or 0]


def test_bar_chart_uses_bytes(flows: pl.DataFrame) -> None:
    top = top_clients(flows, n=5)
    spec = bar_chart(top, "client", color="namespace").to_dict()
    assert spec["encoding"]["x"]["field"] == "bytes"
    assert [r["bytes"] for r in _values(spec)] == top["bytes"].to_list()
    with pytest.raises(ConfigError, match="needs columns"):
        bar_chart(top, "server")


def test_timeseries_chart_folds_the_rest_into_other(flows: pl.DataFrame) -> None:
    ts = timeseries(flows, interval="10m", by="service")
    spec = timeseries_chart(ts, by="service", top=3).to_dict()
    rows = _values(spec)
    assert len({r["service"] for r in rows}) == 4 and "other" in {r["service"] for r in rows}
    assert sum(r["bytes"] for r in rows) == flows["bytes"].sum()


def test_heatmap_cells_are_namespace_bytes(flows: pl.DataFrame) -> None:
    spec = heatmap(flows, top=50).to_dict()
    cells = {(r["client"], r["server"]): r["bytes"] for r in _values(spec)}
    want = flows.filter(
        (pl.col("client_namespace") == "shop") & (pl.col("server_namespace") == "openshift-dns")
    )
    assert cells[("shop", "openshift-dns")] == want["bytes"].sum()


def test_flow_diagram_ribbons_are_as_thick_as_their_bytes(flows: pl.DataFrame) -> None:
    conv = conversations(flows, by="workload")
    chart = flow_diagram(conv, top=8)
    spec = chart.to_dict()
    ribbons = next(v for v in spec["datasets"].values() if v and "link" in v[0])
    pair_bytes = conv.group_by("client", "server").agg(pl.col("bytes").sum())
    for r in ribbons:
        assert abs((r["y"] - r["y2"]) - r["bytes"]) < 1e-6 * max(r["bytes"], 1)
    drawn = {(r["client"], r["server"]): r["bytes"] for r in ribbons}
    assert len(drawn) == 8
    for (c, s), b in drawn.items():
        assert pair_bytes.filter((pl.col("client") == c) & (pl.col("server") == s))["bytes"][0] == b
    # the heaviest pairs are the ones drawn
    assert min(drawn.values()) >= sorted(pair_bytes["bytes"].to_list(), reverse=True)[7]


def test_graph_chart_draws_every_node_and_is_zoomable(flows: pl.DataFrame) -> None:
    g = communication_graph(flows, level="workload")
    spec = graph_chart(g).to_dict()
    names = [layer.get("name") for layer in spec["layer"]]
    assert names == ["edges", "arrows", "nodes", "labels"]
    assert any(p.get("bind") == "scales" for p in spec.get("params", []))  # zoom + pan
    nodes, edges = graph_frames(g)
    assert nodes.height == g.number_of_nodes() and edges.height == g.number_of_edges()
    assert edges["bytes"].sum() == flows["bytes"].sum()
    _, few = graph_frames(g, max_edges=5)
    assert (
        few.height == 5
        and few["bytes"].min()
        >= sorted((d["bytes"] for *_, d in g.edges(data=True)), reverse=True)[4]
    )


def test_static_exports(flows: pl.DataFrame, tmp_path: Path) -> None:
    chart = graph_chart(communication_graph(flows, level="namespace"), interactive=False)
    png = save(chart, tmp_path / "g.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = save(chart, tmp_path / "g.svg").read_text()
    assert svg.startswith("<svg") and svg.count("<path") > 10
    page = save(
        graph_chart(communication_graph(flows, level="namespace")), tmp_path / "g.html"
    ).read_text()
    assert (
        "vegaEmbed" in page
        and "cdn.jsdelivr" not in page
        and "https://" not in page.split("<body")[0][:200]
    )
    with pytest.raises(ConfigError, match=r"\.png"):
        save(chart, tmp_path / "g.pdf")
