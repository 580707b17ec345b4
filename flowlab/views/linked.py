"""Linked, dashboard-like Altair views: click a bar or brush a time range and the rest follows.

The Kibana dashboards filter every panel when a slice is clicked; here an
Altair selection does the same inside one chart object. Data is aggregated in
Polars first (time bucket x left x right), so the chart stays small whatever
the number of flow records.

Examples
--------
>>> import datetime as dt, polars as pl
>>> f = pl.DataFrame({"time": [dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)] * 2,
...                   "client_ip": ["a", "b"], "server_ip": ["s", "s"],
...                   "service_name": ["https", "https"], "bytes": [10, 20],
...                   "packets": [1, 2]})
>>> chart = linked_view(f, left="client_ip", right="server_ip")
>>> sorted(p.name for p in chart.params)
['pick_left', 'pick_right', 'window']
"""

from __future__ import annotations

import datetime as dt

import altair as alt
import polars as pl

from flowlab.exceptions import ConfigError

__all__ = ["linked_view"]


def _bucket(frame: pl.DataFrame, interval: str | None) -> str:
    if interval:
        return interval
    lo, hi = frame["time"].min(), frame["time"].max()
    span = 0.0
    if isinstance(lo, dt.datetime) and isinstance(hi, dt.datetime):
        span = (hi - lo).total_seconds()
    for seconds, name in ((60, "1s"), (3600, "1m"), (6 * 3600, "5m"), (86400, "30m")):
        if span <= seconds:
            return name
    return "1h"


def linked_view(
    flows: pl.DataFrame | pl.LazyFrame,
    *,
    left: str = "client_workload",
    right: str = "server_workload",
    color: str = "service_name",
    value: str = "bytes",
    top: int = 15,
    interval: str | None = None,
    title: str | None = None,
) -> alt.VConcatChart:
    """Top-`left` and top-`right` bars, a time series and a table, all linked.

    Click a bar on either side (shift-click for several) to filter the other
    side, the time series and the table; drag over the time series to narrow
    the window for the bars and the table. Double-click clears.

    Parameters
    ----------
    flows : DataFrame or LazyFrame
        Canonical (optionally enriched) flows.
    left, right : str
        Columns for the two bar charts (e.g. ``client_ip``/``server_ip``, or
        ``client_workload``/``server_workload`` on enriched flows).
    color : str
        Column that colours the bars and series (e.g. ``service_name``).
    value : str
        ``bytes`` or ``packets`` (estimated totals) or ``flows`` (records).
    top : int
        Keys kept per side; the rest are folded into ``(other)``.
    interval : str, optional
        Time bucket (``"1m"``, ``"5m"``...); about 60 buckets by default.
    """
    lf = flows.lazy() if isinstance(flows, pl.DataFrame) else flows
    names = lf.collect_schema().names()
    missing = [c for c in ("time", left, right, color) if c not in names]
    if missing:
        msg = f"linked_view needs columns {missing}; enrich the flows or pick other columns"
        raise ConfigError(msg)
    metric = pl.len() if value == "flows" else pl.col(value).sum()
    base = lf.select("time", left, right, color, *([] if value == "flows" else [value]))
    base = base.with_columns(pl.col(left, right, color).cast(pl.String).fill_null("(none)"))
    frame = base.collect()
    every = _bucket(frame, interval)

    def keep(col: str) -> pl.Expr:
        tops = frame.group_by(col).agg(metric.alias("v")).sort("v", descending=True).head(top)[col]
        return (
            pl.when(pl.col(col).is_in(tops.implode()))
            .then(pl.col(col))
            .otherwise(pl.lit("(other)"))
        )

    agg = (
        frame.lazy()
        .with_columns(
            keep(left).alias("left"), keep(right).alias("right"), pl.col(color).alias("color")
        )
        .group_by(pl.col("time").dt.truncate(every), "left", "right", "color")
        .agg(metric.alias(value))
        .sort("time")
        .with_columns(pl.col("time").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        .collect()
    )
    pick_left = alt.selection_point(name="pick_left", fields=["left"], on="click", clear="dblclick")
    pick_right = alt.selection_point(
        name="pick_right", fields=["right"], on="click", clear="dblclick"
    )
    window = alt.selection_interval(name="window", encodings=["x"])
    base_chart = alt.Chart(agg.to_pandas())
    colour = alt.Color("color:N", title=color, legend=alt.Legend(orient="bottom", columns=4))

    def bars(side: str, pick: alt.Parameter, other: alt.Parameter, label: str) -> alt.Chart:
        return (
            base_chart.mark_bar()
            .encode(
                y=alt.Y(f"{side}:N", sort="-x", title=label),
                x=alt.X(f"sum({value}):Q", title=value),
                color=colour,
                opacity=alt.condition(pick, alt.value(1.0), alt.value(0.35)),
                tooltip=[
                    alt.Tooltip(f"{side}:N", title=label),
                    "color:N",
                    alt.Tooltip(f"sum({value}):Q", format=","),
                ],
            )
            .add_params(pick)
            .transform_filter(other)
            .transform_filter(window)
            .properties(width=330, height=22 * min(top + 1, 16), title=f"{label} ({value})")
        )

    series = (
        base_chart.mark_area()
        .encode(
            x=alt.X("time:T", title="time"), y=alt.Y(f"sum({value}):Q", title=value), color=colour
        )
        .add_params(window)
        .transform_filter(pick_left)
        .transform_filter(pick_right)
        .properties(width=720, height=150, title=f"{value} over time ({every} buckets)")
    )
    table = (
        base_chart.transform_filter(pick_left)
        .transform_filter(pick_right)
        .transform_filter(window)
        .transform_aggregate(total=f"sum({value})", groupby=["left", "right", "color"])
        .transform_window(rank="rank()", sort=[alt.SortField("total", order="descending")])
        .transform_filter(alt.datum.rank <= 12)
        .transform_calculate(
            row=f"datum.left + '  →  ' + datum.right + '   ' + datum.color"
            f" + '   ' + format(datum.total, ',') + ' {value}'"
        )
        .mark_text(align="left", fontSize=11)
        .encode(y=alt.Y("rank:O", axis=None), text="row:N")
        .properties(width=720, height=12 * 18, title="top conversations (filtered)")
    )
    chart = alt.vconcat(
        alt.hconcat(
            bars("left", pick_left, pick_right, left), bars("right", pick_right, pick_left, right)
        ),
        series,
        table,
    )
    return chart.properties(title=title or "") if title else chart
