"""One self-contained HTML report: filters and window, charts, the graph, the top tables.

The file inlines Vega, Vega-Lite and vega-embed (from ``vl-convert-python``),
so it opens offline; every chart is rendered in the browser as SVG, the
communication graph can be zoomed, panned and hovered.

Command line: ``flowlab report SOURCE -o report.html`` (:mod:`flowlab.cli`), which
loads the flows with :func:`flowlab.load` (any source it takes, enriched there).

Examples
--------
>>> import polars as pl, tempfile, os
>>> from flowlab.schema import conform
>>> from flowlab.services import orient_frame
>>> f = orient_frame(conform(pl.DataFrame({"src_ip": ["10.0.0.1"], "dst_ip": ["10.0.0.2"],
...     "src_port": [40000], "dst_port": [443], "protocol": [6], "bytes": [100], "packets": [1]})))
>>> path = report(f, os.path.join(tempfile.mkdtemp(), "r.html"), title="tiny", level="ip")
>>> "tiny" in path.read_text()
True
"""

from __future__ import annotations

import html
import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    import altair as alt

    from flowlab._time import TimeLike
    from flowlab.k8s import Inventory


__all__ = ["report"]

log = logging.getLogger("flowlab.report")

_NICE = [
    ("10s", 10),
    ("30s", 30),
    ("1m", 60),
    ("5m", 300),
    ("15m", 900),
    ("1h", 3600),
    ("6h", 21600),
    ("1d", 86400),
]


def _interval(span: timedelta | None) -> str:
    seconds = span.total_seconds() if span else 0
    for name, size in _NICE:
        if seconds / size <= 90:
            return name
    return "1d"


_BYTES = ("bytes", "bytes_in", "bytes_out", "bytes_sent", "bytes_received", "bytes_lo", "bytes_hi")
#: said under the charts with error bars
_ERROR_NOTE = (
    "Black lines: the 95 % interval of the sampled estimate; orange: fewer than 10 samples "
    "(low evidence). See docs/intervals.md."
)


def _cell(value: Any, column: str) -> str:
    from flowlab.views import human_bytes

    if value is None:
        return ""
    if column == "low_evidence":
        return '<span class="low-evidence">few samples</span>' if value else ""
    if column in _BYTES and isinstance(value, int):
        return f'<span title="{value:,} bytes">{html.escape(human_bytes(value))}</span>'
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list):
        return html.escape(", ".join(str(v) for v in value))
    return html.escape(str(value))


def _stamp(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return "—"


def _named(frame: pl.DataFrame) -> pl.DataFrame:
    """Give rows without a namespace a readable colour key: (node), (external), (service)."""
    if "namespace" not in frame.columns or "kind" not in frame.columns:
        return frame
    return frame.with_columns(
        pl.coalesce("namespace", pl.format("({})", "kind")).alias("namespace")
    )


def _table(frame: pl.DataFrame, caption: str, limit: int = 25) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_cell(v, c)}</td>" for c, v in zip(frame.columns, row)) + "</tr>"
        for row in frame.head(limit).iter_rows()
    )
    more = (
        f'<p class="more">{frame.height - limit} more rows not shown</p>'
        if frame.height > limit
        else ""
    )
    return f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{more}"


class _Page:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.specs: list[tuple[str, dict[str, Any]]] = []

    def chart(self, name: str, chart: alt.TopLevelMixin, note: str = "") -> None:
        div = f"chart-{name}"
        self.specs.append((div, chart.to_dict()))
        extra = f'<p class="note">{html.escape(note)}</p>' if note else ""
        self.parts.append(f'<div class="chart" id="{div}" data-chart="{name}"></div>{extra}')

    def section(self, title: str, anchor: str) -> None:
        self.parts.append(f'<h2 id="{anchor}">{html.escape(title)}</h2>')

    def raw(self, text: str) -> None:
        self.parts.append(text)


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1a202c;background:#f7fafc}
header{background:#1a365d;color:#fff;padding:18px 32px}header h1{margin:0 0 6px;font-size:24px}
header p{margin:2px 0;opacity:.9;font-size:14px}main{padding:8px 32px 40px;max-width:1400px}
h2{border-bottom:2px solid #cbd5e0;padding-bottom:4px;margin-top:34px;font-size:19px}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:10px;margin:16px 0}
.fact{background:#fff;border:1px solid #e2e8f0;border-radius:6px;padding:10px 14px}
.fact b{display:block;font-size:20px}.fact span{font-size:12px;color:#4a5568}
.row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
.chart{background:#fff;border:1px solid #e2e8f0;border-radius:6px;padding:8px;margin:8px 0;overflow-x:auto}
table{border-collapse:collapse;background:#fff;font-size:12.5px;margin:8px 0}caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border:1px solid #e2e8f0;padding:3px 8px;text-align:left}th{background:#edf2f7}
td:nth-last-child(-n+3){text-align:right}.note,.more{font-size:12px;color:#4a5568}
nav a{color:#bee3f8;margin-right:14px;font-size:13px}code{background:#edf2f7;padding:1px 4px;border-radius:3px}
"""


def report(
    flows: pl.DataFrame | pl.LazyFrame,
    path: str | Path,
    *,
    title: str = "flowlab report",
    inventory: Inventory | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
    filters: dict[str, Any] | None = None,
    level: str = "workload",
    top: int = 10,
    interval: str | None = None,
    max_graph_edges: int = 120,
) -> Path:
    """Write the report of `flows` to `path` (one HTML file); returns the path.

    Parameters
    ----------
    flows : DataFrame or LazyFrame
        Canonical flows, enriched or not (:func:`flowlab.load` enriches where it loads).
    inventory : Inventory, optional
        The Kubernetes inventory (:attr:`flowlab.Dataset.inventory`): flows not yet
        enriched are enriched with it, and it adds the NetworkPolicy section.
    start, end : datetime, str, optional
        The window (``start <= time < end``): ISO 8601 or relative (``"now-1h"``).
    filters : dict, optional
        Keyword filters of :func:`flowlab.analysis.where` (``server=``, ``service=``, ...).
    level : str
        Graph level and the level of the client/server charts when the flows are
        enriched (``ip`` otherwise).
    top : int
        Rows in each top-N chart.
    interval : str, optional
        Time-series bucket; by default about 60-90 buckets over the window.
    """
    # imported here so that `flowlab --help` and the other subcommands stay quick
    from flowlab import analysis
    from flowlab.dataset import parse_window
    from flowlab.graph import communication_graph
    from flowlab.views import (
        bar_chart,
        error_bars,
        flow_diagram,
        graph_chart,
        heatmap,
        human_bytes,
        timeseries_chart,
    )

    start, end = parse_window(start, end)  # an inverted window is an error, not a header
    filters = dict(filters or {})
    frame = analysis.where(flows, start=start, end=end, **filters).collect()
    if inventory is not None and "src_kind" not in frame.columns:
        from flowlab.k8s import enrich

        frame = enrich(frame, inventory)
    enriched = "src_kind" in frame.columns
    by = level if enriched else "ip"
    page = _Page()
    t_min, t_max = (frame["time"].min(), frame["time"].max()) if frame.height else (None, None)
    span = (t_max - t_min) if isinstance(t_min, datetime) and isinstance(t_max, datetime) else None
    bucket = interval or _interval(span)
    window = f"{_stamp(start or t_min)} → {_stamp(end or t_max)}"
    facts = [
        (f"{frame.height:,}", "flow records"),
        (human_bytes(float(frame["bytes"].sum()) if frame.height else 0), "bytes (estimated)"),
        (f"{(frame['packets'].sum() if frame.height else 0):,}", "packets (estimated)"),
        (f"{frame['exporter'].n_unique() if frame.height else 0}", "exporters"),
        (f"{frame['client_ip'].n_unique() if frame.height else 0}", "distinct client IPs"),
        (f"{frame['service_name'].n_unique() if frame.height else 0}", "services"),
    ]
    page.raw(
        '<div class="facts">'
        + "".join(
            f"<div class='fact'><b>{html.escape(v)}</b><span>{k}</span></div>" for v, k in facts
        )
        + "</div>"
    )
    if frame.height == 0:
        page.raw("<p><b>No flow records match the window and filters.</b></p>")
    else:
        page.section("Traffic over time", "time")
        from flowlab.analysis.toplists import service_label

        labelled = frame.with_columns(service_label(frame.columns))
        ts = analysis.timeseries(labelled, interval=bucket, by="service_label")
        page.chart(
            "timeseries",
            timeseries_chart(ts, by="service_label", title=f"bytes per {bucket} by service"),
        )
        page.section("Top talkers", "talkers")
        talk = _named(analysis.top_talkers(frame, n=top, by=by))
        page.chart(
            "talkers",
            bar_chart(
                talk,
                "talker",
                title=f"top {top} talkers ({by}), bytes sent + received",
                color="namespace" if enriched else None,
            ),
        )
        page.section("Clients, servers and services", "clientserver")
        sure = {"intervals": True}
        clients = _named(analysis.top_clients(frame, n=top, by=by, **sure))
        servers = _named(analysis.top_servers(frame, n=top, by=by, **sure))
        services = analysis.top_services(frame, n=top, **sure)
        colour = "namespace" if enriched else None
        for name, table, key in (("clients", clients, "client"), ("servers", servers, "server")):
            heading = f"top {top} {name} ({by})"
            bars = bar_chart(table, key, title=heading, color=colour)
            page.chart(name, error_bars(table, key, chart=bars))
        named = services
        if "port_names" in services.columns:  # the cluster's names first: "etcd (2379)"
            names = pl.col("port_names").list.join(", ")
            ports = pl.col("ports").cast(pl.List(pl.String)).list.join(", ")
            label = pl.when(names != "").then(pl.format("{} ({})", names, ports))
            named = services.with_columns(label.otherwise(pl.col("service")).alias("service"))
        page.chart(
            "services",
            error_bars(
                named,
                "service",
                chart=bar_chart(named, "service", title=f"top {top} services"),
            ),
            _ERROR_NOTE,
        )
        clients, servers, services = (
            t.drop("packets_lo", "packets_hi") for t in (clients, servers, services)
        )
        page.raw(
            '<div class="row">'
            + _table(clients, "top clients")
            + _table(servers, "top servers")
            + _table(services, "top services")
            + "</div>"
        )
        conv = analysis.conversations(frame, by=by)
        page.section("Client → server flows (by bytes)", "flows")
        page.chart(
            "flowdiagram",
            flow_diagram(conv, top=15),
            "Ribbon thickness is bytes; clients left, servers right. Rows without ports are drawn src → dst.",
        )
        if enriched:
            page.section("Namespace × namespace", "heatmap")
            page.chart("heatmap", heatmap(frame, level="namespace", top=25))
        page.section(f"Communication graph ({level if enriched else 'ip'} level)", "graph")
        g = communication_graph(frame, level=by, fold_external=by != "ip")  # type: ignore[arg-type]
        page.chart(
            "graph",
            graph_chart(g, max_edges=max_graph_edges),
            "Drag to pan, scroll to zoom, hover nodes and edges for details. Edge width is bytes.",
        )
        page.raw(
            f'<p class="note" id="graph-size" data-nodes="{g.number_of_nodes()}" data-edges="{g.number_of_edges()}">'
            f"{g.number_of_nodes()} nodes, {g.number_of_edges()} edges.</p>"
        )
        page.section("Conversations", "conversations")
        page.raw(_table(conv, f"conversations ({by}), by bytes", limit=30))
        if enriched and inventory is not None:
            _policy_section(page, frame, inventory)
    return _write(Path(path), page, title, window, analysis.describe(**filters), bucket, by)


def _policy_section(page: _Page, frame: pl.DataFrame, inventory: Inventory) -> None:
    """NetworkPolicies proposed from the window (their rules and evidence), and the cluster's own replayed."""
    from flowlab.policy import propose, replay, summary

    proposal = propose(frame, inventory)
    page.section("NetworkPolicy proposal", "policy")
    page.raw(
        f'<p class="note" id="policy-size" data-policies="{len(proposal.policies)}" '
        f'data-rules="{proposal.evidence.height}">{len(proposal.policies)} NetworkPolicies '
        f"(one per workload that served connections), {proposal.evidence.height} ingress rules, "
        "each with its evidence; <code>flowlab policy SOURCE --namespace NS -o policies.yaml</code> "
        "writes them. miss_chance: the chance a conversation this rare would go unsampled.</p>"
    )
    cols = ["namespace", "policy", "peer", "ports", "samples", "bytes", "last_seen", "miss_chance"]
    page.raw(_table(proposal.evidence.sort("samples").select(cols), "rules, rarest first", 30))
    own = inventory.policy_objects.network_policies
    if own:
        denied = summary(replay(frame, list(own), inventory)).filter(~pl.col("allowed"))
        page.raw(
            f"<p>The cluster's own {len(own)} NetworkPolicies, replayed on this window, "
            f"deny {denied.height} observed connection(s).</p>"
        )
        if denied.height:
            keep = ["client", "server", "port", "samples", "reason"]
            page.raw(_table(denied.select(keep), "denied by the cluster's policies"))


def _write(
    path: Path, page: _Page, title: str, window: str, filters: str, bucket: str, by: str
) -> Path:
    from flowlab.views.offline import javascript_bundle

    specs = json.dumps([{"div": d, "spec": s} for d, s in page.specs]).replace("</", "<\\/")
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(
        f'<a href="#{a}">{n}</a>'
        for a, n in (
            ("time", "time"),
            ("talkers", "talkers"),
            ("clientserver", "clients/servers"),
            ("flows", "flows"),
            ("heatmap", "heatmap"),
            ("graph", "graph"),
            ("conversations", "conversations"),
        )
    )
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style>
<script type="text/javascript">{javascript_bundle()}</script></head>
<body><header><h1>{html.escape(title)}</h1>
<p id="window"><b>Window:</b> {html.escape(window)}</p>
<p id="filters"><b>Filters:</b> {html.escape(filters)} · <b>bucket:</b> {html.escape(bucket)} · <b>entities:</b> {html.escape(by)}</p>
<p>Generated {now} by flowlab. Volumes are estimated totals (sampled frame length × sampling rate); flows = record count.</p>
<nav>{nav}</nav></header>
<main>{"".join(page.parts)}</main>
<script type="text/javascript">
const charts = {specs};
Promise.all(charts.map(c => vegaEmbed('#' + c.div, c.spec, {{renderer: 'svg', actions: false}})))
  .then(() => {{ document.body.dataset.rendered = String(charts.length); }})
  .catch(err => {{ document.body.dataset.renderError = String(err); console.error(err); }});
</script></body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, encoding="utf-8")
    log.info("report written to %s (%d charts)", path, len(page.specs))
    return path


if __name__ == "__main__":  # pragma: no cover
    # ``python -m flowlab.report ARGS`` is ``flowlab report ARGS`` (a program, not an import:
    # flowlab.report itself never imports the cli)
    import sys

    from flowlab.cli import main

    sys.exit(main(["report", *sys.argv[1:]]))
