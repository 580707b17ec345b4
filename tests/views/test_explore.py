"""The linked explorer and the offline renderer: the logic in Python, the chart in a real Chromium."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import altair as alt
import polars as pl
import pytest

import flowlab.views as fv
from flowlab.exceptions import ConfigError
from flowlab.views import offline
from flowlab.views.explore import (
    chip_filter,
    explorer_spec,
    relative_window,
    suggestions,
)
from flowlab.views.topology import grouped_layout
from tests import clusterdata as cd
from tests.views import browser


@pytest.fixture(scope="module")
def flows() -> pl.DataFrame:
    return cd.enriched()


def _remote(text: str) -> list[str]:
    return re.findall(r"""(?:src|href)=["']?(?:https?:)?//[^"' >]+""", text) + re.findall(
        r"cdn\.jsdelivr|unpkg\.com", text
    )


# --- the renderer ---------------------------------------------------------------------------


def test_importing_views_enables_the_offline_renderer() -> None:
    assert alt.renderers.active == "flowlab"
    chart = alt.Chart(alt.Data(values=[{"a": 1, "b": 2}])).mark_bar().encode(x="a:Q", y="b:Q")
    bundle = chart._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    # JSON that JupyterLab's own Vega draws: no HTML, no script, nothing to load
    assert set(data) == {offline.VEGA_MIME, "text/plain"}
    assert "$schema" in data[offline.VEGA_MIME] and not _remote(json.dumps(data))


def test_another_renderer_chosen_by_the_user_is_kept() -> None:
    before = alt.renderers.active
    try:
        alt.renderers.enable("html")
        assert offline.enable() is False and alt.renderers.active == "html"
        assert offline.enable(force=True) is True
    finally:
        alt.renderers.enable(before)


def test_saved_html_renders_offline_with_selections(flows: pl.DataFrame, tmp_path: Path) -> None:
    path = fv.save(
        fv.linked_view(flows, left="client_workload", right="server_workload"), tmp_path / "l.html"
    )
    page = path.read_text()
    assert not _remote(page) and "vegaEmbed" in page
    dom = browser.dump_dom(path)
    assert 'data-rendered="1"' in dom and "data-render-error" not in dom
    assert len(re.findall(r'<svg[^>]*class="marks"', dom)) == 1


# --- the explorer's logic -------------------------------------------------------------------


def test_chip_filter_matches_where(flows: pl.DataFrame) -> None:
    monitoring = chip_filter(flows, ["namespace:openshift-monitoring"]).collect()
    assert monitoring.height > 0
    assert all(
        "openshift-monitoring" in (c, s)
        for c, s in monitoring.select("src_namespace", "dst_namespace").iter_rows()
    )
    both = chip_filter(flows, ["namespace:openshift-monitoring", "port:9091"]).collect()
    assert 0 < both.height < monitoring.height
    assert set(both["service_port"].to_list()) == {9091}
    for bad in ("openshift-monitoring", "colour:red", "port:https", "ip:"):
        with pytest.raises(ConfigError, match="chip"):
            chip_filter(flows, [bad])


def test_relative_window_ends_at_the_newest_record(flows: pl.DataFrame) -> None:
    newest = flows["time"].max()
    assert isinstance(newest, dt.datetime)
    assert relative_window(flows, "last 15 min") == (newest - dt.timedelta(minutes=15), newest)
    assert relative_window(flows, "all") is None
    with pytest.raises(ConfigError, match="time range"):
        relative_window(flows, "yesterday")


def test_suggestions_name_every_kind_busiest_first(flows: pl.DataFrame) -> None:
    tags = suggestions(flows)
    kinds = {t.split(":", 1)[0] for t in tags}
    assert kinds == {"namespace", "workload", "pod", "service", "node", "ip", "port"}
    # every suggestion is a valid chip that matches some flows
    for tag in [t for t in tags if t.startswith(("pod:", "port:"))][:3]:
        assert chip_filter(flows, [tag]).collect().height > 0
    ns = [t.split(":", 1)[1] for t in tags if t.startswith("namespace:")]
    volume = [
        flows.filter(pl.col("src_namespace") == n)["bytes"].sum()
        + flows.filter(pl.col("dst_namespace") == n)["bytes"].sum()
        for n in ns
    ]
    assert len(ns) == len(set(ns)) >= 3 and volume == sorted(volume, reverse=True)


def test_grouped_layout_puts_members_in_their_disc() -> None:
    groups = {f"ns{i % 3}/w{i}": f"ns{i % 3}" for i in range(12)}
    edges = [(a, b) for a in groups for b in groups if a < b and hash((a, b)) % 4 == 0]
    pos, discs = grouped_layout(groups, edges, seed=1)
    for node, group in groups.items():
        x, y, r = discs[group]
        assert (pos[node][0] - x) ** 2 + (pos[node][1] - y) ** 2 <= r * r + 1e-9
    names = sorted(discs)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            (ax, ay, ar), (bx, by, br) = discs[a], discs[b]
            assert ((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5 >= ar + br  # no overlap


def test_explorer_spec_links_every_view(flows: pl.DataFrame) -> None:
    spec = explorer_spec(flows, level="namespace")
    params = {p["name"]: p for p in spec["params"]}
    assert {"pick_node", "pick_edge", "pick_service", "window", "zoom"} <= set(params)
    assert {"sort_by", "order", "page"} <= set(params)
    # each selection belongs to exactly one view (two would clash in Vega)
    assert all(len(p["views"]) == 1 for n, p in params.items() if n.startswith(("pick", "zoom")))
    # zooming takes ctrl+wheel only: the plain wheel keeps scrolling the notebook
    assert "ctrlKey" in json.dumps(params["zoom"])
    rows = spec["datasets"]["rows"]
    assert sum(r["bytes"] for r in rows) == flows["bytes"].sum()
    assert {n["group"] for n in spec["datasets"]["nodes"]} >= {"openshift-monitoring", "(nodes)"}
    text = json.dumps(spec)
    assert text.count("pick_node_store") >= 3  # the table, the bars and the series follow


def test_explorer_state_section_and_export(flows: pl.DataFrame, tmp_path: Path) -> None:
    ui = fv.explore(flows, export_dir=tmp_path)
    assert ui.level == "workload" and ui.widgets  # ipywidgets controls
    everything = ui.current().height
    ui.set(chips=["namespace:openshift-monitoring"], range="last 15 min", level="pod")
    narrowed = ui.current()
    assert 0 < narrowed.height < everything
    assert "namespace:openshift-monitoring" in ui.describe() and "pod level" in ui.describe()
    assert ui.widgets["chips"].value == ["namespace:openshift-monitoring"]
    # the widget's output area holds the offline chart of the current state
    shown = ui.widgets["out"].outputs[0]["data"]
    assert offline.VEGA_MIME in shown and "openshift-monitoring" in json.dumps(shown)
    # the notebook output carries the chart too: what a reopened notebook shows without kernel
    bundle, _meta = ui._repr_mimebundle_()
    assert offline.VEGA_MIME in bundle and "application/vnd.jupyter.widget-view+json" in bundle
    with pytest.raises(ConfigError):
        ui.set(level="galaxy")
    ui.widgets["search"].value = "port:9091"  # typed (autocompleted) and entered: a new chip
    assert ui.chips == ["namespace:openshift-monitoring", "port:9091"]
    assert set(ui.current()["service_port"].to_list()) == {9091}
    ui.widgets["search"].value = "bogus"  # a bad chip typed in the widget: a message, no raise
    assert "chip" in ui.widgets["status"].value and ui.chips[-1] == "port:9091"
    ui.set(chips=["namespace:openshift-monitoring"])
    path = ui.export(tmp_path / "section.html")
    page = path.read_text()
    assert not _remote(page) and "openshift-monitoring" in page
    dom = browser.dump_dom(path)
    assert 'data-rendered="1"' in dom and "data-render-error" not in dom
    assert re.search(r'class="explorer".*<svg[^>]*class="marks"', dom, re.S)
    ui.reset()
    assert ui.current().height == everything and ui.widgets["range"].value == "all"


def test_explorer_at_ip_level_without_names() -> None:
    plain = cd.enriched().select(
        "time",
        "src_ip",
        "dst_ip",
        "client_ip",
        "server_ip",
        "service_port",
        "service_name",
        "protocol",
        "bytes",
        "packets",
    )
    ui = fv.explore(plain)
    assert ui.level == "ip"
    assert {n["group"] for n in ui.spec()["datasets"]["nodes"]} == {"(addresses)"}
    with pytest.raises(ConfigError, match="Kubernetes names"):
        fv.explorer_chart(plain, level="workload")
