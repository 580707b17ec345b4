"""The HTML report: one offline file, rendered by a real headless Chromium."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from flowlab.cli import main as cli_main
from flowlab.graph import communication_graph
from flowlab.report import report
from tests import clusterdata as cd
from tests.views import browser


def _remote_refs(page: str) -> list[str]:
    # src=/href= pointing off the machine; the inlined bundles mention URLs in comments and strings only
    return re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(?:https?:)?//[^"]+"', page)


@pytest.mark.browser
def test_report_renders_offline_in_chromium(tmp_path: Path) -> None:
    flows = cd.enriched()
    path = report(
        flows,
        tmp_path / "report.html",
        title="fixture cluster",
        level="workload",
        filters={"protocol": ["TCP", "UDP", "ICMP"]},
    )
    page = path.read_text()
    assert not _remote_refs(page)
    dom = browser.dump_dom(path)
    # every chart embedded and rendered to SVG, no render error
    n_charts = page.count('class="chart"')
    assert n_charts == 8
    assert f'data-rendered="{n_charts}"' in dom, dom[-3000:]
    assert "data-render-error" not in dom
    assert len(re.findall(r'<svg[^>]*class="marks"', dom)) == n_charts
    # the graph view drew one symbol per graph node
    g = communication_graph(flows, level="workload", fold_external=True)
    assert f'data-nodes="{g.number_of_nodes()}"' in dom
    graph_div = dom[dom.index('id="chart-graph"') :]
    nodes = re.search(r'class="mark-symbol role-mark nodes_marks"[^>]*>(.*?)</g>', graph_div, re.S)
    assert nodes is not None
    assert nodes.group(1).count("<path") == g.number_of_nodes() == 21
    # bars drawn for the top-N charts, ribbons for the flow diagram
    clients_div = dom[dom.index('id="chart-clients"') : dom.index('id="chart-servers"')]
    assert clients_div.count('role="graphics-symbol"') >= 10
    flow_div = dom[dom.index('id="chart-flowdiagram"') : dom.index('id="heatmap"')]
    assert flow_div.count('class="mark-area') >= 1
    # filters and window are stated
    assert "protocol=TCP|UDP|ICMP" in dom and "2024-05-01 10:00:00 UTC" in dom
    shot = browser.screenshot(path, "report.png")
    assert shot.stat().st_size > 50_000


@pytest.mark.browser
def test_graph_html_view_renders(tmp_path: Path) -> None:
    from flowlab.views import graph_chart, save

    g = communication_graph(cd.enriched(), level="pod")
    path = save(graph_chart(g, title="pods"), tmp_path / "graph.html")
    assert not _remote_refs(path.read_text())
    dom = browser.dump_dom(path)
    nodes = re.search(r'class="mark-symbol role-mark nodes_marks"[^>]*>(.*?)</g>', dom, re.S)
    assert nodes is not None and nodes.group(1).count("<path") == g.number_of_nodes()
    browser.screenshot(path, "graph-pods.png", size="1000,700")


def test_report_empty_window_and_unenriched(tmp_path: Path) -> None:
    flows = cd.flows()
    late = cd.T0 + timedelta(days=1)
    page = report(
        flows, tmp_path / "empty.html", start=late, end=late + timedelta(hours=1)
    ).read_text()
    assert "No flow records match" in page and page.count('class="chart"') == 0
    plain = report(
        flows, tmp_path / "plain.html", level="workload"
    ).read_text()  # no inventory: ip level
    assert "entities:</b> ip" in plain and 'id="chart-heatmap"' not in plain


def main(argv: list[str]) -> int:
    return cli_main(["report", *argv])


def test_cli_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo = tmp_path / "demo"
    (demo / "flows").mkdir(parents=True)
    cd.flows().write_parquet(demo / "flows" / "part-0.parquet")
    items = [i for f in cd.DATA.glob("*.json") for i in json.loads(f.read_text())["items"]]
    (demo / "inventory.json").write_text(
        json.dumps({"kind": "List", "apiVersion": "v1", "items": items})
    )
    out = tmp_path / "r.html"
    assert (
        main([str(demo), "-o", str(out), "--server", "kubernetes-api", "--title", "api clients"])
        == 0
    )
    text = out.read_text()
    assert "server=kubernetes-api" in text and "openshift-kube-apiserver/kube-apiserver" in text
    assert capsys.readouterr().out.strip() == str(out)
    assert main([str(tmp_path / "missing"), "-o", str(out)]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main([str(demo), "--start", "yesterday"]) == 1
    with pytest.raises(SystemExit) as exc:
        main(["--level", "galaxy", str(demo)])
    assert exc.value.code == 2


def test_report_labels_ports_by_their_cluster_names(tmp_path: Path) -> None:
    """The service chart and series say 'etcd (2379)', not only ElastiFlow's IANA 'etcd-client'."""
    import flowlab

    ds = flowlab.load("demo", seconds=120)
    page = report(ds.flows, tmp_path / "r.html", level="workload").read_text()
    specs = page[page.index("<script") :]
    assert "etcd (2379)" in specs and "kubelet-https-metrics (10250)" in specs
