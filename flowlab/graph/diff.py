"""What changed between two graphs or two time windows: new and vanished edges.

:func:`diff_windows` with ``noise=True`` reports only the changes that exceed
the sampling noise of both windows (``appeared``, ``disappeared``, ``grew``,
``shrank``), with the evidence: both estimates with their 95 % intervals,
the samples, z, the p-value and the Benjamini-Hochberg q-value (see
``docs/intervals.md``).

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

from datetime import datetime, timezone
from typing import Literal

import networkx as nx
import numpy as np
import polars as pl

from flowlab._time import TimeLike, parse_window
from flowlab.estimate import adjust, change_test, with_intervals
from flowlab.exceptions import ConfigError
from flowlab.graph.build import Level, Orient, _edges, _require, _stage1, communication_graph

__all__ = ["diff", "diff_windows"]

#: a time window ``(start, end)``: datetimes, dates, ISO 8601 text or relative text (``"now-1h"``)
Window = tuple[TimeLike, TimeLike]


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


def _bounds(w: Window, name: str, now: datetime) -> tuple[datetime, datetime]:
    """`w` as two UTC datetimes (relative bounds against `now`), or a ConfigError."""
    if not isinstance(w, (tuple, list)) or len(w) != 2:
        msg = f"{name} must be (start, end); got {w!r}"
        raise ConfigError(msg)
    try:
        start, end = parse_window(w[0], w[1], now=now)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from exc
    if start is None or end is None:
        msg = f"{name} must have a start and an end; got {w!r}"
        raise ConfigError(msg)
    return start, end


def _window(flows: pl.LazyFrame, w: tuple[datetime, datetime], name: str) -> pl.LazyFrame:
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
    noise: bool = False,
    alpha: float = 0.01,
) -> pl.DataFrame:
    """:func:`diff` of the graphs of two time windows ``[start, end)`` of the same flows.

    "What started talking to etcd today?" — ``diff_windows(flows, yesterday, today,
    level="workload")`` filtered on ``target`` of the etcd node.

    With ``noise=True``, an edge is reported only when its `weight` (per unit
    of time, if the windows differ in length; ``flows`` is tested like
    ``packets``) changed beyond the sampling noise of both windows: ``change``
    is ``appeared``, ``disappeared``, ``grew`` or ``shrank`` when the
    Benjamini-Hochberg q-value is at most `alpha` over all the edges, else
    ``within noise`` (listed only with ``changed=True``). With the default
    ``alpha=0.01``, a diff of two windows where nothing changed reports
    anything at all with a chance of about 1 %. Columns:
    ``source, target, change``, ``bytes_a, bytes_a_lo, bytes_a_hi``, the same
    for ``bytes_b`` and ``packets_a``/``packets_b``, ``samples_a, samples_b,
    ratio`` (rate in b / rate in a), ``z, p_value, q_value, services``;
    changes first, by q-value.

    Windows take what :func:`flowlab.load` takes: datetimes, ISO 8601 text or
    relative text such as ``("now-2h", "now-1h")``; an empty or inverted
    window is a :class:`~flowlab.exceptions.ConfigError`.
    """
    now = datetime.now(timezone.utc)
    window_a = _bounds(window_a, "window_a", now)
    window_b = _bounds(window_b, "window_b", now)
    if noise:
        return _noise_diff(
            flows.lazy(), window_a, window_b, level, orient, weight, changed=changed, alpha=alpha
        )
    lf = flows.lazy()
    ga = communication_graph(
        _window(lf, window_a, "window_a"), level=level, orient=orient, weight=weight
    )
    gb = communication_graph(
        _window(lf, window_b, "window_b"), level=level, orient=orient, weight=weight
    )
    return diff(ga, gb, changed=changed)


def _evidence_edges(lf: pl.LazyFrame, level: str, orient: str) -> pl.DataFrame:
    """The edges of `lf` with intervals and the evidence behind them."""
    edges = _edges(_stage1(_require(lf, level, None), orient, intervals=True), level, False)
    return with_intervals(edges, keep_evidence=True).collect()


_SIDE = ("bytes", "bytes_lo", "bytes_hi", "packets", "packets_lo", "packets_hi", "samples")


def _named(column: str, window: str) -> str:
    """``bytes_lo`` of window ``a`` is ``bytes_a_lo``."""
    base, _, bound = column.partition("_")
    return f"{base}_{window}_{bound}" if bound else f"{base}_{window}"


def _noise_diff(
    lf: pl.LazyFrame,
    window_a: tuple[datetime, datetime],
    window_b: tuple[datetime, datetime],
    level: str,
    orient: str,
    weight: str,
    *,
    changed: bool,
    alpha: float,
) -> pl.DataFrame:
    if weight not in ("bytes", "packets", "flows"):
        msg = f"unknown weight {weight!r}; expected bytes, packets or flows"
        raise ConfigError(msg)
    a = _evidence_edges(_window(lf, window_a, "window_a"), level, orient)
    b = _evidence_edges(_window(lf, window_b, "window_b"), level, orient)
    t_a = (window_a[1] - window_a[0]).total_seconds()
    t_b = (window_b[1] - window_b[0]).total_seconds()
    y, v = ("bytes", "_ev_bv") if weight == "bytes" else ("packets", "_ev_pv")
    cols = [*_SIDE, v, "services"]
    both = a.select("source", "target", *cols).join(
        b.select("source", "target", *cols),
        on=["source", "target"],
        how="full",
        coalesce=True,
        suffix="_b",
    )
    both = both.rename({c: f"{c}_a" for c in cols})
    get = lambda c: both[c].cast(pl.Float64).fill_null(0.0).to_numpy()  # noqa: E731
    z, p = change_test(
        get(f"{y}_a"), get(f"{v}_a"), get(f"{y}_b"), get(f"{v}_b"), share_b=t_b / (t_a + t_b)
    )
    q = adjust(p)
    ya, yb = get(f"{y}_a"), get(f"{y}_b")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (yb / t_b) / (ya / t_a)
    out = both.with_columns(
        pl.Series("z", z),
        pl.Series("p_value", p),
        pl.Series("q_value", q),
        pl.Series("ratio", ratio),
    )
    present_a, present_b = pl.col(f"{y}_a").is_not_null(), pl.col(f"{y}_b").is_not_null()
    change = (
        pl.when(pl.col("q_value") > alpha)
        .then(pl.lit("within noise"))
        .when(~present_a)
        .then(pl.lit("appeared"))
        .when(~present_b)
        .then(pl.lit("disappeared"))
        .when(pl.col("z") > 0)
        .then(pl.lit("grew"))
        .otherwise(pl.lit("shrank"))
    )
    services = (
        pl.concat_list(pl.col("services_a").fill_null([]), pl.col("services_b").fill_null([]))
        .list.unique()
        .list.sort()
    )
    side = [
        pl.col(f"{c}_{w}").alias(_named(c, w)) for w in ("a", "b") for c in _SIDE if c != "samples"
    ]
    out = out.select(
        pl.col("source").cast(pl.String),
        pl.col("target").cast(pl.String),
        change.alias("change"),
        *side,
        "samples_a",
        "samples_b",
        "ratio",
        "z",
        "p_value",
        "q_value",
        services.alias("services"),
    )
    if not changed:
        out = out.filter(pl.col("change") != "within noise")
    order = pl.col("change") == "within noise"
    return out.sort([order, "q_value", "source", "target"], nulls_last=True)
