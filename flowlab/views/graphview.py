"""Drawing a communication graph with Altair: static (PNG/SVG) or zoomable HTML.

:func:`graph_chart` lays the graph out with NetworkX (seeded spring layout)
and draws edges as rules whose width is the edge's bytes, an arrowhead near
each target, nodes as circles sized by their total bytes and coloured by
namespace (or kind), labels for the biggest nodes, and tooltips everywhere.
``interactive=True`` binds zoom and pan to the scales. :func:`save` writes a
chart as PNG/SVG (vl-convert) or as one offline HTML file (Vega, Vega-Lite
and vega-embed inlined).

Examples
--------
>>> import networkx as nx
>>> g = nx.DiGraph()
>>> g.add_edge("a", "b", bytes=10, packets=1, flows=1)
>>> spec = graph_chart(g).to_dict()
>>> len(spec["layer"])
4
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import altair as alt
import networkx as nx
import polars as pl

from flowlab.exceptions import ConfigError

__all__ = ["graph_chart", "graph_frames", "save"]


def _layout(h: nx.DiGraph, seed: int) -> dict[Any, tuple[float, float]]:
    """Spring layout (unweighted: bytes would pull heavy pairs together), then each axis
    half-spread by rank so that dense clusters open up and every label gets room."""
    if len(h) == 0:
        return {}
    raw = nx.spring_layout(h, seed=seed, k=2.0 / math.sqrt(len(h)), weight=None, iterations=300)
    nodes = list(raw)
    out: dict[Any, list[float]] = {n: [0.0, 0.0] for n in nodes}
    for axis in (0, 1):
        values = [float(raw[n][axis]) for n in nodes]
        lo, hi = min(values), max(values)
        order = sorted(range(len(nodes)), key=lambda i: values[i])
        for rank, i in enumerate(order):
            linear = (values[i] - lo) / (hi - lo) if hi > lo else 0.5
            spread = rank / (len(nodes) - 1) if len(nodes) > 1 else 0.5
            out[nodes[i]][axis] = 0.5 * linear + 0.5 * spread
    return {n: (xy[0], xy[1]) for n, xy in out.items()}


def graph_frames(
    g: nx.DiGraph, *, max_edges: int | None = 150, seed: int = 0, weight: str = "bytes"
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(nodes, edges) frames with layout positions; keeps the `max_edges` heaviest edges."""
    edges = sorted(
        g.edges(data=True), key=lambda e: (-(e[2].get(weight) or 0), str(e[0]), str(e[1]))
    )
    if max_edges is not None:
        edges = edges[:max_edges]
    h = nx.DiGraph()
    if max_edges is None:
        h.add_nodes_from(g.nodes(data=True))
    h.add_edges_from((s, t, d) for s, t, d in edges)
    for n in h:
        h.nodes[n].update(g.nodes[n])
    pos = _layout(h, seed)
    volume = dict.fromkeys(h, 0)
    for s, t, d in h.edges(data=True):
        volume[s] += d.get(weight) or 0
        if s != t:
            volume[t] += d.get(weight) or 0

    def kind(d: dict[str, Any]) -> str:  # the true kind, or all of them (graph.build's rule)
        return str(d.get("kind") or "+".join(d.get("kinds", [])) or "ip")

    def namespace(d: dict[str, Any]) -> str:
        if d.get("namespace"):
            return str(d["namespace"])
        return "(several namespaces)" if d.get("namespaces") else f"({kind(d)})"

    nodes = pl.DataFrame(
        [
            {
                "id": str(n),
                "label": str(d.get("label", n)),
                "kind": kind(d),
                "namespace": namespace(d),
                "ips": ", ".join(d.get("ips", [])),
                "x": float(pos[n][0]),
                "y": float(pos[n][1]),
                weight: int(volume[n]),
            }
            for n, d in h.nodes(data=True)
        ],
        schema={
            "id": pl.String,
            "label": pl.String,
            "kind": pl.String,
            "namespace": pl.String,
            "ips": pl.String,
            "x": pl.Float64,
            "y": pl.Float64,
            weight: pl.UInt64,
        },
    )
    rows = []
    for s, t, d in h.edges(data=True):
        (x, y), (x2, y2) = pos[s], pos[t]
        dx, dy = x2 - x, y2 - y
        rows.append(
            {
                "source": str(s),
                "target": str(t),
                "x": float(x),
                "y": float(y),
                "x2": float(x2),
                "y2": float(y2),
                "ax": float(x + 0.82 * dx),
                "ay": float(y + 0.82 * dy),
                "angle": (math.degrees(math.atan2(dx, dy)) + 360) % 360,
                "bytes": int(d.get("bytes") or 0),
                "packets": int(d.get("packets") or 0),
                "flows": int(d.get("flows") or 0),
                "port_names": ", ".join(str(v) for v in d.get("port_names", [])[:6]),
                "services": ", ".join(str(v) for v in d.get("services", [])[:6]),
                "ports": ", ".join(str(v) for v in d.get("ports", [])[:6]),
            }
        )
    edge_schema = {
        "source": pl.String,
        "target": pl.String,
        "x": pl.Float64,
        "y": pl.Float64,
        "x2": pl.Float64,
        "y2": pl.Float64,
        "ax": pl.Float64,
        "ay": pl.Float64,
        "angle": pl.Float64,
        "bytes": pl.UInt64,
        "packets": pl.UInt64,
        "flows": pl.UInt64,
        "port_names": pl.String,
        "services": pl.String,
        "ports": pl.String,
    }
    return nodes, pl.DataFrame(rows, schema=edge_schema)


def graph_chart(
    g: nx.DiGraph,
    *,
    color: str = "namespace",
    max_edges: int | None = 150,
    labels: int = 25,
    seed: int = 0,
    width: int = 760,
    height: int = 560,
    interactive: bool = True,
    title: str | None = None,
) -> alt.LayerChart:
    """Draw `g` (see the module docstring). `labels` = how many of the biggest nodes get a text label."""
    if color not in ("namespace", "kind"):
        msg = f"color must be 'namespace' or 'kind', not {color!r}"
        raise ConfigError(msg)
    nodes, edges = graph_frames(g, max_edges=max_edges, seed=seed)
    nodes = nodes.with_columns(
        (pl.col("bytes").rank("ordinal", descending=True) <= labels).alias("labelled")
    )
    pad = 0.15
    xs = nodes["x"].to_list() or [0.0]
    ys = nodes["y"].to_list() or [0.0]
    sx = alt.Scale(domain=[min(xs) - pad, max(xs) + pad])
    sy = alt.Scale(domain=[min(ys) - pad, max(ys) + pad])
    x = alt.X("x:Q", axis=None, scale=sx)
    y = alt.Y("y:Q", axis=None, scale=sy)
    edge_tips: list[Any] = [
        "source:N",
        "target:N",
        alt.Tooltip("bytes:Q", format=","),
        alt.Tooltip("packets:Q", format=","),
        alt.Tooltip("flows:Q", format=","),
        alt.Tooltip("port_names:N", title="ports (cluster names)"),
        "services:N",
        "ports:N",
    ]
    width_scale = alt.Scale(type="sqrt", range=[0.6, 9])
    rules = (
        alt.Chart(edges)
        .mark_rule(opacity=0.45, color="#718096")
        .encode(
            x=x,
            y=y,
            x2="x2:Q",
            y2="y2:Q",
            strokeWidth=alt.StrokeWidth("bytes:Q", scale=width_scale, legend=None),
            tooltip=edge_tips,
        )
        .properties(name="edges")
    )
    arrows = (
        alt.Chart(edges)
        .mark_point(shape="triangle-up", filled=True, color="#4a5568", opacity=0.8)
        .encode(
            x=alt.X("ax:Q", axis=None, scale=sx),
            y=alt.Y("ay:Q", axis=None, scale=sy),
            angle=alt.Angle("angle:Q", scale=None),
            size=alt.value(60),
            tooltip=edge_tips,
        )
        .properties(name="arrows")
    )
    points = (
        alt.Chart(nodes)
        .mark_circle(stroke="white", strokeWidth=1.2, opacity=0.95)
        .encode(
            x=x,
            y=y,
            size=alt.Size("bytes:Q", scale=alt.Scale(type="sqrt", range=[60, 1400]), legend=None),
            color=alt.Color(
                f"{color}:N", legend=alt.Legend(orient="right", labelLimit=240, title=color)
            ),
            tooltip=[
                "label:N",
                "id:N",
                "kind:N",
                "namespace:N",
                "ips:N",
                alt.Tooltip("bytes:Q", format=","),
            ],
        )
        .properties(name="nodes")
    )
    text = (
        alt.Chart(nodes)
        .transform_filter("datum.labelled")
        .mark_text(dy=-13, fontSize=10, color="#1a202c")
        .encode(x=x, y=y, text="label:N")
        .properties(name="labels")
    )
    level = g.graph.get("level", "")
    chart = (rules + arrows + points + text).properties(
        width=width,
        height=height,
        title=title
        or f"communication graph ({level} level, {g.number_of_nodes()} nodes, {g.number_of_edges()} edges"
        + (f"; {edges.height} heaviest drawn)" if edges.height < g.number_of_edges() else ")"),
    )
    return chart.interactive() if interactive else chart


def save(chart: alt.TopLevelMixin, path: str | Path, *, scale: float = 1.0) -> Path:
    """Write `chart` as ``.png``/``.svg`` (vl-convert) or ``.html`` (one offline file, JS inlined)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".png", ".svg"):
        import vl_convert as vlc

        spec = chart.to_json()
        if suffix == ".png":
            p.write_bytes(vlc.vegalite_to_png(spec, scale=scale))
        else:
            p.write_text(vlc.vegalite_to_svg(spec))
    elif suffix == ".html":
        chart.save(str(p), format="html", inline=True)
    else:
        msg = f"cannot save a chart as {suffix!r}; use .png, .svg or .html"
        raise ConfigError(msg)
    return p
