"""Error bars for sampled volumes: the 95 % intervals of :mod:`flowlab.estimate` on a chart.

Examples
--------
>>> import polars as pl
>>> f = pl.DataFrame({"client": ["a", "b"], "bytes": [300, 100], "bytes_lo": [200, 10],
...                   "bytes_hi": [420, 390], "low_evidence": [False, True]})
>>> spec = error_bars(f, "client").to_dict()
>>> [layer["mark"]["type"] for layer in spec["layer"]]
['rule', 'tick']
"""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

from flowlab.exceptions import ConfigError
from flowlab.tables import plain

__all__ = ["error_bars"]


def error_bars(
    frame: pl.DataFrame,
    label: str,
    value: str = "bytes",
    *,
    chart: alt.Chart | None = None,
) -> alt.LayerChart:
    """Horizontal error bars ``value_lo`` .. ``value_hi`` per `label`, low-evidence rows in orange.

    Parameters
    ----------
    frame : polars.DataFrame
        A frame computed with ``intervals=True`` (``bytes_lo``/``bytes_hi`` or
        ``packets_lo``/``packets_hi``, optionally ``low_evidence``).
    label, value : str
        As for :func:`flowlab.views.bar_chart`; bars are ordered by `value`, largest on top.
    chart : altair.Chart, optional
        A chart to draw the bars over, e.g. ``bar_chart(frame, label, value)``.
    """
    lo, hi = f"{value}_lo", f"{value}_hi"
    missing = [c for c in (label, value, lo, hi) if c not in frame.columns]
    if missing:
        msg = f"error_bars needs columns {missing} (compute with intervals=True); the frame has {frame.columns}"
        raise ConfigError(msg)
    data = plain(
        frame.with_columns(pl.col("low_evidence").fill_null(False))
        if "low_evidence" in frame.columns
        else frame.with_columns(pl.lit(False).alias("low_evidence"))
    )
    order = alt.EncodingSortField(field=value, order="descending")
    y = alt.Y(f"{label}:N", sort=order, title=None, axis=alt.Axis(labelLimit=320))
    colour = alt.condition("datum.low_evidence", alt.value("#e8590c"), alt.value("#212529"))
    tips: list[Any] = [
        f"{label}:N",
        alt.Tooltip(f"{value}:Q", format=","),
        alt.Tooltip(f"{lo}:Q", format=","),
        alt.Tooltip(f"{hi}:Q", format=","),
        "low_evidence:N",
    ]
    base = alt.Chart(data).encode(y=y, tooltip=tips)
    rule = base.mark_rule(strokeWidth=2).encode(
        x=alt.X(f"{lo}:Q", title=value), x2=f"{hi}:Q", color=colour
    )
    tick = base.mark_tick(thickness=2, size=12).encode(x=f"{value}:Q", color=colour)
    layers = [rule, tick] if chart is None else [chart, rule, tick]
    return alt.LayerChart(layer=layers)
