"""What changed between two graphs or two time windows: new and vanished edges.

Examples
--------
>>> import networkx as nx
>>> a, b = nx.DiGraph(), nx.DiGraph()
>>> a.add_edge("api", "etcd", bytes=5)
>>> b.add_edge("api", "etcd", bytes=7); b.add_edge("debug", "etcd", bytes=1)
>>> diff(a, b).select("source", "target", "change").rows()
[('debug', 'etcd', 'new')]
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import networkx as nx
import polars as pl

from flowlab.exceptions import ConfigError
from flowlab.graph.build import Level, Orient, communication_graph

__all__ = ["diff", "diff_windows"]

Window = tuple[datetime, datetime]


def diff(a: nx.DiGraph, b: nx.DiGraph, *, changed: bool = False) -> pl.DataFrame:
    """Edges of `b` not in `a` (``new``) and of `a` not in `b` (``vanished``).

    Columns: ``source, target, change, bytes_a, bytes_b, services`` (the
    services seen on the edge in whichever graph has it), new first, then by
    bytes. With ``changed=True`` the edges in both are listed too (``kept``).
    """
    rows = []
    for s, t, d in b.edges(data=True):
        if not a.has_edge(s, t):
            rows.append((str(s), str(t), "new", None, d.get("bytes"), list(d.get("services", []))))
        elif changed:
            rows.append(
                (
                    str(s),
                    str(t),
                    "kept",
                    a.edges[s, t].get("bytes"),
                    d.get("bytes"),
                    list(d.get("services", [])),
                )
            )
    for s, t, d in a.edges(data=True):
        if not b.has_edge(s, t):
            rows.append(
                (str(s), str(t), "vanished", d.get("bytes"), None, list(d.get("services", [])))
            )
    schema = pl.Schema(
        {
            "source": pl.String(),
            "target": pl.String(),
            "change": pl.String(),
            "bytes_a": pl.UInt64(),
            "bytes_b": pl.UInt64(),
            "services": pl.List(pl.String),
        }
    )
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    order = pl.col("change").replace_strict(
        {"new": 0, "vanished": 1, "kept": 2}, return_dtype=pl.UInt8
    )
    vol = pl.max_horizontal(pl.col("bytes_a").fill_null(0), pl.col("bytes_b").fill_null(0))
    return frame.sort([order, vol, "source", "target"], descending=[False, True, False, False])


def _window(flows: pl.LazyFrame, w: Window, name: str) -> pl.LazyFrame:
    if len(w) != 2 or w[0] >= w[1]:
        msg = f"{name} must be (start, end) with start < end; got {w!r}"
        raise ConfigError(msg)
    return flows.filter((pl.col("time") >= w[0]) & (pl.col("time") < w[1]))


def diff_windows(
    flows: pl.DataFrame | pl.LazyFrame,
    window_a: Window,
    window_b: Window,
    *,
    level: Level = "workload",
    orient: Orient = "client-server",
    weight: Literal["bytes", "packets", "flows"] = "bytes",
    changed: bool = False,
) -> pl.DataFrame:
    """:func:`diff` of the graphs of two time windows ``[start, end)`` of the same flows.

    "What started talking to etcd today?" — ``diff_windows(flows, yesterday, today,
    level="workload")`` filtered on ``target`` of the etcd node.
    """
    lf = flows.lazy()
    ga = communication_graph(
        _window(lf, window_a, "window_a"), level=level, orient=orient, weight=weight
    )
    gb = communication_graph(
        _window(lf, window_b, "window_b"), level=level, orient=orient, weight=weight
    )
    return diff(ga, gb, changed=changed)
