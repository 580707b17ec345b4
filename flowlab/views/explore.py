"""The linked explorer: time picker, filter chips, topology, services, time series, flow table.

:func:`explore` is what Kibana's ElastiFlow dashboards and the NetObserv console give,
in a notebook:

- a **time picker** with relative ranges (``last 15 min`` of the data, ...) and a slider;
- **filter chips** with autocomplete: ``namespace:…``, ``workload:ns/…``, ``pod:ns/…``,
  ``service:ns/…``, ``node:…``, ``ip:…``, ``port:…`` (every chip must hold);
- a **topology** at a chosen level (node, namespace, workload, pod) with one box per
  namespace; ctrl+wheel (or a pinch) zooms, drag pans (the plain wheel scrolls the
  notebook), double-click
  or *reset* resets;
- **drill-down**: clicking a node or an edge of the topology, a service bar, or brushing
  the time series filters the paged, sortable flow table and the other views;
- **export**: the current view as an offline HTML report section.

The controls are ipywidgets and recompute in Python (:func:`chip_filter`,
:func:`relative_window`); the linked views are one Vega-Lite chart
(:func:`explorer_chart`), so clicks filter in the browser, offline, and the chart still
draws when a saved notebook is reopened (:mod:`flowlab.views.offline`).

Examples
--------
>>> import datetime as dt, polars as pl
>>> f = pl.DataFrame({"time": [dt.datetime(2025, 1, 1, 9, m, tzinfo=dt.timezone.utc) for m in (0, 30)],
...     "client_ip": ["10.0.0.1", "10.0.0.2"], "server_ip": ["10.0.0.9", "10.0.0.9"],
...     "src_ip": ["10.0.0.1", "10.0.0.2"], "dst_ip": ["10.0.0.9", "10.0.0.9"],
...     "service_port": [443, 443], "service_name": ["https", "https"], "protocol": [6, 6],
...     "bytes": [100, 50], "packets": [1, 1]})
>>> chip_filter(f, ["ip:10.0.0.2", "port:443"]).collect()["bytes"].to_list()
[50]
>>> [f"{t:%H:%M}" for t in relative_window(f, "last 15 min")]
['09:15', '09:30']
>>> spec = explorer_chart(f, level="ip").to_dict()
>>> sorted(p["name"] for p in spec["params"])[:3]
['order', 'page', 'pick_edge']
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import altair as alt
import polars as pl

from flowlab.exceptions import ConfigError
from flowlab.graph.build import endpoint_id
from flowlab.views.charts import human_bytes
from flowlab.views.graphview import zoom_pan
from flowlab.views.linked import _bucket
from flowlab.views.offline import html_page, renderer
from flowlab.views.topology import grouped_layout
from flowlab.vocabulary.filters import where

if TYPE_CHECKING:
    from flowlab.dataset import Dataset

__all__ = [
    "CHIP_KINDS",
    "LEVELS",
    "RANGES",
    "Explorer",
    "chip_filter",
    "explore",
    "explorer_chart",
    "explorer_spec",
    "relative_window",
    "suggestions",
]

LEVELS: tuple[str, ...] = ("node", "namespace", "workload", "pod")
"""Topology levels the explorer offers (``ip`` too, for flows without Kubernetes names)."""
CHIP_KINDS: tuple[str, ...] = ("namespace", "workload", "pod", "service", "node", "ip", "port")
RANGES: dict[str, dt.timedelta | None] = {
    "all": None,
    "last 5 min": dt.timedelta(minutes=5),
    "last 15 min": dt.timedelta(minutes=15),
    "last 30 min": dt.timedelta(minutes=30),
    "last 1 h": dt.timedelta(hours=1),
    "last 6 h": dt.timedelta(hours=6),
    "last 24 h": dt.timedelta(hours=24),
    "last 7 days": dt.timedelta(days=7),
}
"""Relative ranges of the time picker, ending at the newest record."""
PAGE_ROWS = 15
_SORTS = ("bytes", "packets", "flows", "client", "server", "service", "port")


# --- filters ------------------------------------------------------------------------------


def _spec_of(chip: str) -> tuple[str, Any]:
    kind, sep, value = chip.partition(":")
    kind, value = kind.strip(), value.strip()
    if not sep or kind not in CHIP_KINDS or not value:
        msg = f"filter chip {chip!r} is not KIND:VALUE with KIND one of {', '.join(CHIP_KINDS)}"
        raise ConfigError(msg)
    if kind == "port":
        if not value.isdigit():
            msg = f"filter chip {chip!r}: a port is a number"
            raise ConfigError(msg)
        return "port", int(value)
    if kind == "namespace":
        return "ip", value.rstrip("/") + "/"
    if kind == "node":
        return "ip", value if value.startswith("node/") else f"node/{value}"
    return "ip", value


def chip_filter(flows: pl.DataFrame | pl.LazyFrame, chips: Sequence[str]) -> pl.LazyFrame:
    """The flows every chip holds for (``kind:value``; either end of a flow may match).

    ``namespace:ns`` is anything in namespace ``ns``; ``workload:ns/w``, ``pod:ns/p`` and
    ``service:ns/s`` name one object; ``node:n`` is the node's own address; ``ip:`` takes an
    IP, ``IP:port`` or CIDR; ``port:443`` is the server port. See :func:`flowlab.analysis.where`.
    """
    lf = flows.lazy()
    for chip in chips:
        key, value = _spec_of(chip)
        lf = where(lf, **{key: value})
    return lf


def relative_window(
    flows: pl.DataFrame | pl.LazyFrame, name: str
) -> tuple[dt.datetime, dt.datetime] | None:
    """``(start, end)`` of a relative range (:data:`RANGES`) ending at the newest record.

    ``None`` for ``"all"`` or when there are no records.
    """
    if name not in RANGES:
        msg = f"unknown time range {name!r}; expected one of {', '.join(RANGES)}"
        raise ConfigError(msg)
    span = RANGES[name]
    end = flows.lazy().select(pl.col("time").max()).collect().item()
    if span is None or not isinstance(end, dt.datetime):
        return None
    return end - span, end


def suggestions(flows: pl.DataFrame | pl.LazyFrame, *, per_kind: int = 200) -> list[str]:
    """Chip values for autocomplete: the busiest names and addresses of each kind."""
    lf = flows.lazy()
    names = set(lf.collect_schema().names())
    out: list[str] = []

    def top(kind: str, values: list[pl.Expr]) -> None:
        frame = (
            pl.concat([lf.select(v.cast(pl.String).alias("v"), pl.col("bytes")) for v in values])
            .filter(pl.col("v").is_not_null())
            .group_by("v")
            .agg(pl.col("bytes").sum())
            .sort("bytes", "v", descending=[True, False])
            .head(per_kind)
            .collect()
        )
        out.extend(f"{kind}:{v}" for v in frame["v"].to_list())

    def named(side: str, kind: str) -> pl.Expr:
        col = pl.col(f"{side}_{kind}").cast(pl.String)
        if kind in ("namespace", "node"):
            return col
        return pl.format("{}/{}", pl.col(f"{side}_namespace").cast(pl.String), col)

    if "src_kind" in names:
        for kind in ("namespace", "workload", "pod", "service", "node"):
            top(kind, [named("src", kind), named("dst", kind)])
    top("ip", [pl.col("src_ip"), pl.col("dst_ip")])
    if "service_port" in names:
        top("port", [pl.col("service_port")])
    return out


# --- the linked chart ---------------------------------------------------------------------


def _ends(lf: pl.LazyFrame, level: str) -> pl.LazyFrame:
    """``client``/``server`` node ids at `level` (src/dst for rows without a client)."""
    oriented = pl.col("client_ip").is_not_null()
    fold = level != "ip"
    return lf.with_columns(
        pl.when(oriented)
        .then(endpoint_id("client", level, fold_external=fold))
        .otherwise(endpoint_id("src", level, fold_external=fold))
        .alias("client"),
        pl.when(oriented)
        .then(endpoint_id("server", level, fold_external=fold))
        .otherwise(endpoint_id("dst", level, fold_external=fold))
        .alias("server"),
    )


def _group(node: str, level: str) -> str:
    """The box a node is drawn in: its namespace (node ids are named as in flowlab.graph)."""
    if level == "ip":
        return "(addresses)"
    if node.startswith("node/"):
        return "(nodes)"
    if node.startswith("external/"):
        return "(external)"
    if level == "namespace":
        return node
    head, sep, _ = node.partition("/")
    return head if sep else "(addresses)"


def _short(node: str) -> str:
    return node.rsplit("/", 1)[-1] if "/" in node and not node[0].isdigit() else node


@dataclass
class _Frames:
    rows: list[dict[str, Any]]
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    boxes: list[dict[str, Any]]
    conversations: int
    every: str


def _frames(flows: pl.DataFrame | pl.LazyFrame, level: str, max_edges: int) -> _Frames:
    lf = flows.lazy()
    if level != "ip" and "src_kind" not in lf.collect_schema().names():
        msg = f"level {level!r} needs Kubernetes names: enrich the flows (or use level='ip')"
        raise ConfigError(msg)
    base = _ends(lf, level).select(
        "time",
        "client",
        "server",
        pl.col("service_name").cast(pl.String).fill_null("(none)").alias("service"),
        pl.col("service_port").cast(pl.Int64).alias("port"),
        "bytes",
        "packets",
    )
    frame = base.collect()
    every = _bucket(frame, None)
    rows = (
        frame.group_by(pl.col("time").dt.truncate(every), "client", "server", "service", "port")
        .agg(
            pl.col("bytes").sum().cast(pl.Int64),
            pl.col("packets").sum().cast(pl.Int64),
            pl.len().cast(pl.Int64).alias("flows"),
        )
        .with_columns(
            pl.col("time").dt.epoch("ms").alias("t"),
            *(
                pl.col(c).rank("dense").cast(pl.Int64).alias(f"{c}_rank")
                for c in ("client", "server", "service")
            ),
        )
        .drop("time")
        .sort("t", "client", "server", "service", "port")
    )
    pairs = (
        rows.group_by("client", "server")
        .agg(pl.col("bytes", "packets", "flows").sum())
        .sort("bytes", "client", "server", descending=[True, False, False])
        .head(max_edges)
    )
    conversations = rows.select(pl.struct("client", "server", "service", "port").n_unique()).item()
    volume: dict[str, int] = {}
    for s, t, b in pairs.select("client", "server", "bytes").iter_rows():
        volume[s] = volume.get(s, 0) + b
        if s != t:
            volume[t] = volume.get(t, 0) + b
    groups = {n: _group(n, level) for n in volume}
    pos, discs = grouped_layout(groups, list(zip(pairs["client"], pairs["server"], strict=True)))
    ranked = sorted(volume, key=lambda n: (-volume[n], n))
    labelled = set(ranked[:30])
    nodes = [
        {
            "id": n,
            "label": _short(n),
            "group": groups[n],
            "x": round(pos[n][0], 5),
            "y": round(pos[n][1], 5),
            "bytes": volume[n],
            "volume": human_bytes(volume[n]),
            "labelled": n in labelled,
        }
        for n in ranked
    ]
    edges = [
        {
            "pair": f"{s}\u2192{t}",
            "x": round(pos[s][0], 5),
            "y": round(pos[s][1], 5),
            "x2": round(pos[t][0], 5),
            "y2": round(pos[t][1], 5),
        }
        for s, t in zip(pairs["client"], pairs["server"], strict=True)
    ]
    boxes = [
        {"group": g, "x": x - r, "x2": x + r, "y": y - r, "y2": y + r, "ly": y + r}
        for g, (x, y, r) in sorted(discs.items())
    ]
    return _Frames(
        rows.with_columns(pl.format("{}\u2192{}", "client", "server").alias("pair")).to_dicts(),
        nodes,
        edges,
        boxes,
        int(conversations),
        every,
    )


# selection tests usable in any view's filter: a row passes when nothing is picked, or
# when one of its ends is a picked node (its pair a picked edge)
_NODE = (
    "(!length(data('pick_node_store'))"
    " || vlSelectionTest('pick_node_store', {id: datum.client})"
    " || vlSelectionTest('pick_node_store', {id: datum.server}))"
)
_CLICK = "click[event.item && event.item.datum && event.item.datum.{}]"
_EDGE = "(!length(data('pick_edge_store')) || vlSelectionTest('pick_edge_store', datum))"


def explorer_chart(
    flows: pl.DataFrame | pl.LazyFrame,
    *,
    level: str = "workload",
    max_edges: int = 80,
    title: str | None = None,
) -> alt.VConcatChart:
    """The explorer's linked views as one chart (topology, services, time series, flow table).

    Click a node or an edge (shift-click for several) or a service bar, or brush the
    time series: the table and the other views follow; double-click clears. The table
    is paged (*page* slider) and sorted by the *sort by* and *order* controls.
    """
    spec = explorer_spec(flows, level=level, max_edges=max_edges, title=title)
    return alt.VConcatChart.from_dict(spec, validate=False)


def explorer_spec(
    flows: pl.DataFrame | pl.LazyFrame,
    *,
    level: str = "workload",
    max_edges: int = 80,
    title: str | None = None,
) -> dict[str, Any]:
    """:func:`explorer_chart` as a Vega-Lite dict, built fast (the data is not validated)."""
    chart, datasets = _chart(flows, level=level, max_edges=max_edges, title=title)
    spec = chart.to_dict()
    # Altair lifts the params of a layer's views onto every view with params; each
    # selection belongs to one view (two on one view would clash: "Duplicate signal")
    for param in spec["params"]:
        if param["name"] in _OWNER:
            owner = _OWNER[param["name"]]
            param["views"] = [v for v in param["views"] if v.startswith(owner)][:1]
    spec["datasets"] = {**spec.get("datasets", {}), **datasets}
    return spec


_OWNER = {"zoom": "topology_boxes", "pick_node": "topology_nodes", "pick_edge": "topology_edges"}


def _chart(
    flows: pl.DataFrame | pl.LazyFrame,
    *,
    level: str,
    max_edges: int,
    title: str | None,
    width: int = 640,
    height: int = 440,
) -> tuple[alt.VConcatChart, dict[str, list[dict[str, Any]]]]:
    if level not in (*LEVELS, "ip"):
        msg = f"unknown topology level {level!r}; expected one of {', '.join(LEVELS)} or 'ip'"
        raise ConfigError(msg)
    fr = _frames(flows, level, max_edges)
    rows = alt.NamedData(name="rows")
    # the topology's layers share one scope: a click picks a node only on a node, an edge
    # only on an edge (else the other selection would store a null and match nothing)
    pick_node = alt.selection_point(
        name="pick_node", fields=["id"], on=_CLICK.format("id"), clear="dblclick"
    )
    pick_edge = alt.selection_point(
        name="pick_edge", fields=["pair"], on=_CLICK.format("pair"), clear="dblclick"
    )
    pick_service = alt.selection_point(
        name="pick_service", fields=["service"], on="click", clear="dblclick"
    )
    window = alt.selection_interval(name="window", encodings=["x"])
    zoom = zoom_pan("zoom")
    xs = [b["x"] for b in fr.boxes] + [b["x2"] for b in fr.boxes] or [0.0, 1.0]
    ys = [b["y"] for b in fr.boxes] + [b["y2"] for b in fr.boxes] or [0.0, 1.0]
    pad = 0.04
    x = alt.X("x:Q", axis=None, scale=alt.Scale(domain=[min(xs) - pad, max(xs) + pad]))
    y = alt.Y("y:Q", axis=None, scale=alt.Scale(domain=[min(ys) - pad, max(ys) + pad + 0.05]))
    colour = alt.Color("group:N", title="namespace", legend=alt.Legend(orient="right"))

    boxes = (
        alt.Chart(alt.NamedData(name="boxes"))
        .mark_rect(cornerRadius=14, opacity=0.07, stroke="#4a5568", strokeOpacity=0.35)
        .encode(x=x, y=y, x2="x2:Q", y2="y2:Q", color=colour.legend(None), tooltip=["group:N"])
        .add_params(zoom)
        .properties(name=_OWNER["zoom"])
    )
    box_labels = (
        alt.Chart(alt.NamedData(name="boxes"))
        .mark_text(dy=-6, fontSize=10, fontWeight="bold", color="#2d3748")
        .encode(x=alt.X("x:Q", axis=None), y=alt.Y("ly:Q", axis=None), text="group:N")
    )
    edge_rows = (
        alt.Chart(rows)
        .transform_filter(pick_service)
        .transform_filter(window)
        .transform_aggregate(
            bytes="sum(bytes)",
            flows="sum(flows)",
            groupby=["pair", "client", "server"],
        )
        .transform_lookup(
            lookup="pair",
            from_=alt.LookupData(
                data=alt.NamedData(name="edges"), key="pair", fields=["x", "y", "x2", "y2"]
            ),
        )
        .transform_filter("isValid(datum.x)")
    )
    edge_tips = [
        "client:N",
        "server:N",
        alt.Tooltip("bytes:Q", format=",", title="bytes"),
        alt.Tooltip("flows:Q", format=","),
    ]
    edges = edge_rows.mark_rule(color="#4a5568").encode(
        x=x,
        y=y,
        x2="x2:Q",
        y2="y2:Q",
        strokeWidth=alt.StrokeWidth(
            "bytes:Q", scale=alt.Scale(type="sqrt", range=[0.8, 8]), legend=None
        ),
        opacity=alt.condition(f"{_NODE} && {_EDGE}", alt.value(0.7), alt.value(0.12)),
        tooltip=edge_tips,
    )
    # a wide transparent rule over each edge, so that an edge is easy to click
    edge_hits = (
        edge_rows.mark_rule(opacity=0.001, strokeWidth=12)
        .encode(x=x, y=y, x2="x2:Q", y2="y2:Q", tooltip=edge_tips)
        .add_params(pick_edge)
        .properties(name=_OWNER["pick_edge"])
    )
    nodes = (
        alt.Chart(alt.NamedData(name="nodes"))
        .mark_circle(stroke="white", strokeWidth=1.2)
        .encode(
            x=x,
            y=y,
            size=alt.Size("bytes:Q", scale=alt.Scale(type="sqrt", range=[40, 900]), legend=None),
            color=colour,
            opacity=alt.condition(pick_node, alt.value(0.95), alt.value(0.25)),
            tooltip=["id:N", "group:N", alt.Tooltip("volume:N", title="bytes")],
        )
        .add_params(pick_node)
        .properties(name=_OWNER["pick_node"])
    )
    labels = (
        alt.Chart(alt.NamedData(name="nodes"))
        .transform_filter("datum.labelled")
        .mark_text(dy=-11, fontSize=9, color="#1a202c")
        .encode(x=x, y=y, text="label:N")
    )
    topology = alt.layer(boxes, box_labels, edges, edge_hits, nodes, labels).properties(
        width=width,
        height=height,
        title=f"topology ({level}; click a node or an edge, ctrl+wheel zooms, double-click resets)",
    )

    filtered = alt.Chart(rows).transform_filter(_NODE).transform_filter(_EDGE)
    services = (
        filtered.transform_filter(window)
        .transform_aggregate(bytes="sum(bytes)", groupby=["service"])
        .transform_window(rank="row_number()", sort=[alt.SortField("bytes", order="descending")])
        .transform_filter("datum.rank <= 14")
        .mark_bar()
        .encode(
            y=alt.Y("service:N", sort="-x", title=None),
            x=alt.X("bytes:Q", title="bytes", axis=alt.Axis(format="~s")),
            color=alt.value("#3182ce"),
            opacity=alt.condition(pick_service, alt.value(1.0), alt.value(0.35)),
            tooltip=["service:N", alt.Tooltip("bytes:Q", format=",")],
        )
        .add_params(pick_service)
        .properties(width=260, height=height - 40, title="services (click to filter)")
    )
    series = (
        filtered.transform_filter(pick_service)
        .mark_area(color="#2b6cb0", opacity=0.8)
        .encode(
            x=alt.X("t:T", title=None),
            y=alt.Y("sum(bytes):Q", title="bytes", axis=alt.Axis(format="~s")),
            tooltip=[alt.Tooltip("t:T", title="time"), alt.Tooltip("sum(bytes):Q", format=",")],
        )
        .add_params(window)
        .properties(width=width + 300, height=110, title=f"bytes per {fr.every} (drag to narrow)")
    )
    table = _table(filtered.transform_filter(pick_service).transform_filter(window), fr)
    chart = alt.vconcat(alt.hconcat(topology, services), series, table).resolve_scale(
        color="independent"
    )
    if title:
        chart = chart.properties(title=title)
    # the data once, by name (Altair would copy and validate inline values in every view)
    return chart, {"rows": fr.rows, "nodes": fr.nodes, "edges": fr.edges, "boxes": fr.boxes}


def _table(base: alt.Chart, fr: _Frames) -> alt.LayerChart:
    pages = max(1, math.ceil(fr.conversations / PAGE_ROWS))
    sort_by = alt.param(
        name="sort_by",
        value="bytes",
        bind=alt.binding_select(options=list(_SORTS), name="sort by "),
    )
    order = alt.param(
        name="order",
        value="descending",
        bind=alt.binding_radio(options=["descending", "ascending"], name=" order "),
    )
    page = alt.param(
        name="page", value=1, bind=alt.binding_range(min=1, max=pages, step=1, name=" page ")
    )
    value = " : ".join(
        f"sort_by == '{s}' ? datum.{s}{'_rank' if s in ('client', 'server', 'service') else ''}"
        for s in _SORTS[:-1]
    )
    key = f"(order == 'descending' ? -1 : 1) * ({value} : datum.port)"
    body = (
        base.transform_aggregate(
            bytes="sum(bytes)",
            packets="sum(packets)",
            flows="sum(flows)",
            groupby=[
                "client",
                "server",
                "service",
                "port",
                "client_rank",
                "server_rank",
                "service_rank",
            ],
        )
        .transform_calculate(key=key)
        .transform_window(
            row="row_number()",
            sort=[
                alt.SortField("key", order="ascending"),
                alt.SortField("client", order="ascending"),
                alt.SortField("server", order="ascending"),
            ],
        )
        .transform_joinaggregate(total="count()")
        .transform_calculate(line=f"datum.row - (page - 1) * {PAGE_ROWS}")
        .transform_filter(f"datum.line >= 1 && datum.line <= {PAGE_ROWS}")
    )
    yrow = alt.Y("line:O", axis=None, scale=alt.Scale(domain=list(range(PAGE_ROWS + 2))))
    columns: list[tuple[str, str, int, Literal["left", "right"]]] = [
        ("client", "datum.client", 0, "left"),
        ("server", "datum.server", 230, "left"),
        ("service", "datum.service", 460, "left"),
        ("port", "datum.port", 590, "right"),
        ("bytes", "format(datum.bytes, '.3~s') + 'B'", 680, "right"),
        ("packets", "format(datum.packets, ',')", 770, "right"),
        ("flows", "format(datum.flows, ',')", 850, "right"),
    ]
    layers: list[alt.Chart] = []
    for name, expr, px, align in columns:
        layers.append(
            body.transform_calculate(**{f"cell_{name}": expr})
            .mark_text(align=align, baseline="middle", fontSize=11, limit=220)
            .encode(
                x=alt.value(px),
                y=yrow,
                text=f"cell_{name}:N",
                tooltip=["client:N", "server:N", "service:N", "port:Q"],
            )
        )
    header = [
        alt.Chart(alt.InlineData(values=[{"label": name, "line": 0}]))
        .mark_text(align=align, baseline="middle", fontSize=11, fontWeight="bold")
        .encode(x=alt.value(px), y=yrow, text="label:N")
        for name, _expr, px, align in columns
    ]
    footer = (
        body.transform_aggregate(total="max(total)", first="min(row)", last="max(row)")
        .transform_calculate(
            text="'rows ' + datum.first + '–' + datum.last + ' of ' + datum.total"
            " + ' conversations (page ' + page + ')'",
            line=f"{PAGE_ROWS + 1}",
        )
        .mark_text(align="left", fontSize=11, color="#4a5568", baseline="middle")
        .encode(x=alt.value(0), y=yrow, text="text:N")
    )
    return (
        alt.layer(*header, *layers, footer)
        .add_params(sort_by, order, page)
        .properties(
            width=900, height=18 * (PAGE_ROWS + 2), title="flows (filtered by the views above)"
        )
    )


# --- the widget ---------------------------------------------------------------------------


@dataclass
class Explorer:
    """The explorer's state and widgets; a notebook displays it (see :func:`explore`)."""

    flows: pl.DataFrame
    level: str = "workload"
    range: str = "all"
    window: tuple[dt.datetime, dt.datetime] | None = None
    chips: list[str] = field(default_factory=list)
    title: str = "flowlab explorer"
    widgets: dict[str, Any] = field(default_factory=dict, repr=False)
    _spec: dict[str, Any] | None = field(default=None, repr=False)
    _bundle: tuple[dict[str, Any], dict[str, Any]] | None = field(default=None, repr=False)

    def current(self) -> pl.DataFrame:
        """The flows in the chosen window that every chip holds for."""
        lf = chip_filter(self.flows, self.chips)
        if self.window is not None:
            lo, hi = self.window
            lf = lf.filter(pl.col("time").is_between(lo, hi, closed="both"))
        return lf.collect()

    def describe(self) -> str:
        """The window, chips and level, in words."""
        if self.window is None:
            when = "all times"
        else:
            lo, hi = self.window
            when = f"{lo:%Y-%m-%d %H:%M:%S} → {hi:%H:%M:%S} UTC"
        chips = ", ".join(self.chips) or "no filters"
        return f"{when} · {chips} · {self.level} level"

    def spec(self) -> dict[str, Any]:
        """The Vega-Lite spec of the current view (recomputed when the controls change)."""
        if self._spec is None:
            self._spec = explorer_spec(self.current(), level=self.level, title=self.describe())
        return self._spec

    def chart(self) -> alt.TopLevelMixin:
        """The current view as an Altair chart (see :func:`explorer_chart`)."""
        return explorer_chart(self.current(), level=self.level, title=self.describe())

    def mimebundle(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The current view as the offline Vega output a notebook shows."""
        if self._bundle is None:
            self._bundle = renderer(self.spec())
        return self._bundle

    def set(
        self,
        *,
        level: str | None = None,
        range: str | None = None,
        chips: Sequence[str] | None = None,
    ) -> Explorer:
        """Change the level, the relative range or the chips (as the controls do); returns self."""
        if level is not None:
            if level not in (*LEVELS, "ip"):
                msg = f"unknown topology level {level!r}; expected one of {', '.join(LEVELS)}"
                raise ConfigError(msg)
            self.level = level
        if range is not None:
            self.window = relative_window(self.flows, range)
            self.range = range
        if chips is not None:
            for chip in chips:
                _spec_of(chip)
            self.chips = list(chips)
        self._spec = self._bundle = None
        self._sync()
        return self

    def reset(self) -> Explorer:
        """All times, no chips; redraws (clears clicks, brushes and zoom)."""
        return self.set(range="all", chips=[])

    def section(self) -> str:
        """The current view as an HTML report section (chart placeholder + the top flows)."""
        top = (
            self.current()
            .pipe(lambda f: _ends(f.lazy(), self.level).collect())
            .group_by("client", "server", pl.col("service_name").alias("service"))
            .agg(pl.col("bytes").sum(), pl.len().alias("flows"))
            .sort("bytes", descending=True)
            .head(15)
        )
        rows = "".join(
            f"<tr><td>{html.escape(str(c))}</td><td>{html.escape(str(s))}</td>"
            f"<td>{html.escape(str(v))}</td><td>{human_bytes(b)}</td><td>{n:,}</td></tr>"
            for c, s, v, b, n in top.iter_rows()
        )
        return (
            f'<section class="explorer"><h2>{html.escape(self.title)}</h2>'
            f'<p class="filters">{html.escape(self.describe())}</p>'
            '<div class="chart" id="flowlab-chart-0"></div>'
            "<table><thead><tr><th>client</th><th>server</th><th>service</th><th>bytes</th>"
            f"<th>flows</th></tr></thead><tbody>{rows}</tbody></table></section>"
        )

    def export(self, path: str | Path) -> Path:
        """Write the current view as one offline HTML file (a report section); returns the path."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        page = html_page([self.spec()], title=self.title, body=self.section())
        p.write_text(page, encoding="utf-8")
        return p

    # -- widgets --

    def _sync(self) -> None:
        w = self.widgets
        if not w:
            return
        w["busy"] = True
        try:
            w["range"].value = self.range
            w["chips"].value = list(self.chips)
            w["level"].value = self.level
        finally:
            w["busy"] = False
        self.refresh()

    def refresh(self) -> None:
        """Redraw the chart and the status line in the widget (no-op without widgets)."""
        w = self.widgets
        if not w:
            return
        frame_rows = self.current().height
        w["status"].value = html.escape(f"{frame_rows:,} flow records · {self.describe()}")
        out = w["out"]
        data, meta = self.mimebundle()
        out.outputs = ({"output_type": "display_data", "data": data, "metadata": meta},)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widgets["box"]._repr_mimebundle_(**kwargs) if self.widgets else {}
        data, meta = self.mimebundle()
        if isinstance(bundle, tuple):
            bundle, extra = bundle
            meta = {**extra, **meta}
        # the Vega chart is what a reopened notebook shows when the widget's kernel is gone
        return {**data, **bundle}, meta


def explore(
    data: Dataset | pl.DataFrame | pl.LazyFrame,
    *,
    level: str | None = None,
    range: str = "all",
    chips: Sequence[str] = (),
    export_dir: str | Path = "flowlab-out",
) -> Explorer:
    """The linked explorer of `data` (a :class:`flowlab.Dataset` or enriched flows).

    Parameters
    ----------
    data : Dataset or DataFrame
        What to explore; flows without Kubernetes names are explored at IP level.
    level : {"node", "namespace", "workload", "pod"}, optional
        Topology level (default ``workload`` with Kubernetes names, else ``ip``).
    range : str
        Initial relative time range (:data:`RANGES`).
    chips : sequence of str
        Initial filter chips (``"namespace:openshift-monitoring"``, ``"port:9091"``...).
    export_dir : path
        Where the *export* button writes the report section.
    """
    flows = data if isinstance(data, pl.DataFrame | pl.LazyFrame) else data.flows
    frame = flows.collect() if isinstance(flows, pl.LazyFrame) else flows
    enriched = "src_kind" in frame.columns
    ui = Explorer(frame, level=level or ("workload" if enriched else "ip"))
    ui.set(range=range, chips=chips)
    _widgets(ui, suggestions(frame), Path(export_dir), enriched)
    return ui


def _widgets(ui: Explorer, tags: list[str], export_dir: Path, enriched: bool) -> None:
    try:
        import ipywidgets as w
    except ImportError:  # pragma: no cover - the chart alone still displays
        return
    range_w = w.Dropdown(
        options=list(RANGES), value=ui.range, description="time", layout=w.Layout(width="220px")
    )
    # type a chip (autocompleted from the data's names, addresses and ports) and press enter;
    # the chips show below it, each removable
    search_w = w.Combobox(
        options=tags,
        ensure_option=False,
        continuous_update=False,
        placeholder="namespace:…, workload:ns/…, pod:ns/…, service:ns/…, node:…, ip:…, port:…",
        layout=w.Layout(width="420px"),
    )
    chips_w = w.TagsInput(value=list(ui.chips), allow_duplicates=False)
    levels = list(LEVELS) if enriched else ["ip"]
    level_w = w.ToggleButtons(
        options=levels, value=ui.level, description="topology", style={"button_width": "100px"}
    )
    reset_w = w.Button(description="reset", icon="undo", tooltip="all times, no filters, no zoom")
    export_w = w.Button(
        description="export section", icon="file", tooltip="write the current view as HTML"
    )
    status = w.HTML()
    out = w.Output(layout=w.Layout(overflow="auto"))
    box = w.VBox(
        [
            w.HBox([range_w, level_w, reset_w, export_w]),
            w.HBox([w.Label("filters"), search_w, chips_w]),
            status,
            out,
        ]
    )
    ui.widgets.update(
        box=box,
        range=range_w,
        chips=chips_w,
        search=search_w,
        level=level_w,
        status=status,
        out=out,
        busy=False,
    )

    def changed(name: str) -> Any:
        def handler(change: dict[str, Any]) -> None:
            if ui.widgets["busy"]:
                return
            try:
                ui.set(**{name: change["new"]})
            except ConfigError as exc:
                status.value = f"<b>{html.escape(str(exc))}</b>"

        return handler

    range_w.observe(changed("range"), names="value")
    chips_w.observe(changed("chips"), names="value")
    level_w.observe(changed("level"), names="value")
    reset_w.on_click(lambda _b: ui.reset())

    def add_chip(change: dict[str, Any]) -> None:
        chip = str(change["new"]).strip()
        if not chip:
            return
        search_w.value = ""
        if chip not in chips_w.value:
            chips_w.value = [*chips_w.value, chip]

    search_w.observe(add_chip, names="value")

    def export(_b: Any) -> None:
        path = ui.export(export_dir / "explorer-section.html")
        status.value = f"exported to <code>{html.escape(str(path))}</code>"

    export_w.on_click(export)
    ui.refresh()
