"""Altair charts for the analyses: top-N bars, time series, heatmap, client -> server flow diagram.

Every function takes the frame an analysis returned (or flows, for the
heatmap) and returns an ``altair`` chart; nothing is displayed or saved. Volume
is **bytes** unless ``value=`` says otherwise.

Examples
--------
>>> import polars as pl
>>> frame = pl.DataFrame({"client": ["a", "b"], "bytes": [300, 100]})
>>> bar_chart(frame, "client").to_dict()["mark"]["type"]
'bar'
"""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

from flowlab.exceptions import ConfigError
from flowlab.graph.build import edge_frame
from flowlab.tables import human_bytes, plain

__all__ = ["bar_chart", "flow_diagram", "heatmap", "human_bytes", "timeseries_chart"]

_FMT_BYTES = "~s"


def _need(frame: pl.DataFrame, cols: list[str], what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        msg = f"{what} needs columns {missing}; the frame has {frame.columns}"
        raise ConfigError(msg)


def bar_chart(
    frame: pl.DataFrame,
    label: str,
    value: str = "bytes",
    *,
    title: str | None = None,
    color: str | None = None,
    tooltip: list[str] | None = None,
) -> alt.Chart:
    """Horizontal top-N bars of `value` per `label`, largest on top."""
    _need(frame, [label, value], "bar_chart")
    data = plain(frame)
    tips = tooltip or [c for c in data.columns if data.schema[c] != pl.Null][:8]
    enc: dict[str, Any] = {
        "y": alt.Y(f"{label}:N", sort="-x", title=None, axis=alt.Axis(labelLimit=320)),
        "x": alt.X(f"{value}:Q", title=value, axis=alt.Axis(format=_FMT_BYTES)),
        "tooltip": tips,
    }
    if color:
        enc["color"] = alt.Color(f"{color}:N", legend=alt.Legend(orient="bottom"))
    return (
        alt.Chart(data, title=title or f"{value} by {label}")
        .mark_bar(cornerRadiusEnd=2)
        .encode(**enc)
        .properties(width=520, height=alt.Step(18))
    )


def timeseries_chart(
    frame: pl.DataFrame,
    *,
    by: str | None = None,
    value: str = "bytes",
    top: int = 8,
    title: str | None = None,
) -> alt.Chart:
    """Stacked area of `value` over ``time``, one colour per `by` (the top `top` keys; rest -> "other")."""
    _need(frame, ["time", value] + ([by] if by else []), "timeseries_chart")
    data = frame
    if by:
        keep = (
            frame.group_by(by)
            .agg(pl.col(value).sum())
            .sort([value, by], descending=[True, False])
            .head(top)[by]
        )
        key = (
            pl.when(pl.col(by).is_in(keep.implode()))
            .then(pl.col(by).cast(pl.String))
            .otherwise(pl.lit("other"))
        )
        data = (
            frame.with_columns(key.fill_null("(none)").alias(by))
            .group_by("time", by)
            .agg(pl.col(value).sum())
        )
    data = plain(data.sort("time"))
    enc: dict[str, Any] = {
        "x": alt.X("time:T", title=None),
        "y": alt.Y(f"sum({value}):Q", title=value, axis=alt.Axis(format=_FMT_BYTES), stack=True),
        "tooltip": [
            "time:T",
            *([f"{by}:N"] if by else []),
            alt.Tooltip(f"sum({value}):Q", format=","),
        ],
    }
    if by:
        enc["color"] = alt.Color(f"{by}:N", legend=alt.Legend(orient="right", labelLimit=260))
    return (
        alt.Chart(data, title=title or f"{value} over time" + (f" by {by}" if by else ""))
        .mark_area(interpolate="step-after", opacity=0.85)
        .encode(**enc)
        .properties(width=620, height=220)
    )


def heatmap(
    flows: pl.DataFrame | pl.LazyFrame,
    *,
    level: str = "namespace",
    value: str = "bytes",
    top: int = 20,
    title: str | None = None,
) -> alt.Chart:
    """Client (rows) x server (columns) heatmap of `value` at `level` (enriched flows)."""
    edges = (
        edge_frame(flows, level=level, fold_external=level != "ip")  # type: ignore[arg-type]
        .select("source", "target", value)
        .collect()
    )
    totals = pl.concat([edges.select(n="source", v=value), edges.select(n="target", v=value)])
    keep = (
        totals.group_by("n")
        .agg(pl.col("v").sum())
        .sort(["v", "n"], descending=[True, False])
        .head(top)["n"]
    )
    data = edges.filter(
        pl.col("source").is_in(keep.implode()) & pl.col("target").is_in(keep.implode())
    )
    return (
        alt.Chart(
            data.rename({"source": "client", "target": "server"}),
            title=title or f"{value}: client {level} → server {level}",
        )
        .mark_rect()
        .encode(
            y=alt.Y("client:N", title=f"client {level}", sort="-x", axis=alt.Axis(labelLimit=240)),
            x=alt.X(
                "server:N", title=f"server {level}", axis=alt.Axis(labelAngle=-40, labelLimit=200)
            ),
            color=alt.Color(
                f"{value}:Q",
                scale=alt.Scale(scheme="blues", type="log"),
                legend=alt.Legend(format=_FMT_BYTES),
            ),
            tooltip=["client:N", "server:N", alt.Tooltip(f"{value}:Q", format=",")],
        )
        .properties(width=alt.Step(22), height=alt.Step(18))
    )


def flow_diagram(
    frame: pl.DataFrame,
    *,
    source: str = "client",
    target: str = "server",
    value: str = "bytes",
    top: int = 15,
    title: str | None = None,
    steps: int = 24,
) -> alt.LayerChart:
    """A sankey-like client -> server diagram: ribbons whose thickness is `value` (bytes).

    Clients are stacked on the left and servers on the right, each band as tall
    as its total `value`; every (client, server) pair is a ribbon of the pair's
    `value`, drawn as an area between the two bands (smoothstep curve). Only the
    `top` pairs by `value` are drawn; the title says how much that covers.
    """
    _need(frame, [source, target, value], "flow_diagram")
    pairs = (
        frame.group_by(source, target)
        .agg(pl.col(value).sum())
        .rename({source: "s", target: "t", value: "v"})
    )
    total = float(pairs["v"].sum() or 0)
    pairs = pairs.sort(["v", "s", "t"], descending=[True, False, False]).head(top)
    shown = float(pairs["v"].sum() or 0)
    gap = 0.02 * shown if shown else 1.0

    def bands(col: str, other: str) -> pl.DataFrame:
        tot = (
            pairs.group_by(col)
            .agg(pl.col("v").sum().alias("tot"))
            .sort(["tot", col], descending=[True, False])
        )
        tot = tot.with_columns(
            (pl.col("tot").cum_sum() - pl.col("tot") + pl.int_range(pl.len()) * gap).alias("start")
        )
        link = pairs.join(tot, on=col).sort([col, "v", other], descending=[False, True, False])
        return link.with_columns(
            (pl.col("start") + pl.col("v").cum_sum().over(col) - pl.col("v")).alias(f"{col}0")
        ).select("s", "t", f"{col}0", "tot", "start")

    left, right = bands("s", "t"), bands("t", "s")
    links = pairs.join(left.select("s", "t", "s0"), on=["s", "t"]).join(
        right.select("s", "t", "t0"), on=["s", "t"]
    )
    xs = pl.DataFrame({"x": [i / (steps - 1) for i in range(steps)]})
    smooth = pl.col("x") * pl.col("x") * (3 - 2 * pl.col("x"))
    ribbon = (
        links.join(xs, how="cross")
        .with_columns(
            (-(pl.col("s0") + (pl.col("t0") - pl.col("s0")) * smooth)).alias("y"),
        )
        .with_columns(
            (pl.col("y") - pl.col("v")).alias("y2"), pl.format("{} → {}", "s", "t").alias("link")
        )
    )
    ribbon = ribbon.rename({"s": source, "t": target, "v": value})
    nodes = pl.concat(
        [
            left.unique("s").select(
                name="s", start="start", tot="tot", x=pl.lit(0.0), side=pl.lit(source)
            ),
            right.unique("t").select(
                name="t", start="start", tot="tot", x=pl.lit(1.0), side=pl.lit(target)
            ),
        ]
    ).with_columns((-pl.col("start")).alias("y"), (-(pl.col("start") + pl.col("tot"))).alias("y2"))
    y_axis = alt.Axis(labels=False, ticks=False, grid=False, domain=False, title=None)
    x_scale = alt.Scale(domain=[-0.45, 1.45])
    base_x = alt.X("x:Q", scale=x_scale, axis=None)
    ribbons = (
        alt.Chart(ribbon)
        .mark_area(opacity=0.45, interpolate="linear")
        .encode(
            x=base_x,
            y=alt.Y("y:Q", axis=y_axis),
            y2="y2:Q",
            detail="link:N",
            color=alt.Color(f"{source}:N", legend=None),
            tooltip=[f"{source}:N", f"{target}:N", alt.Tooltip(f"{value}:Q", format=",")],
        )
    )
    bars = (
        alt.Chart(nodes)
        .mark_bar(width=10, color="#4a5568")
        .encode(
            x=base_x,
            y="y:Q",
            y2="y2:Q",
            tooltip=["name:N", "side:N", alt.Tooltip("tot:Q", title=value, format=",")],
        )
    )
    label = (
        alt.Chart(nodes)
        .transform_calculate(mid="(datum.y + datum.y2) / 2")
        .encode(y="mid:Q", text="name:N", x=base_x)
    )
    labels = label.transform_filter("datum.x == 0").mark_text(
        align="right", dx=-10, fontSize=11
    ) + label.transform_filter("datum.x == 1").mark_text(align="left", dx=10, fontSize=11)
    pct = f"{100 * shown / total:.0f}%" if total else "0%"
    return (ribbons + bars + labels).properties(
        width=620,
        height=max(260, 22 * max(left["s"].n_unique(), right["t"].n_unique())),
        title=title
        or f"{source} → {target} by {value} (top {pairs.height} pairs, {pct} of {value})",
    )
