"""The seed's answers on the demo cluster (flowlab.demo, collector stream), enriched by flowlab.k8s.

Skipped, with the reason, on a branch where the demo or the sFlow decoder it uses
is not merged yet; the lead's merged main runs them.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

try:
    from flowlab import demo

    demo.load  # noqa: B018 - an empty namespace package has no load
except (ImportError, AttributeError) as exc:  # pragma: no cover - depends on what is merged
    pytest.skip(f"flowlab.demo is not usable on this branch yet: {exc}", allow_module_level=True)

from flowlab.analysis import peers, service_breakdown, top_clients
from flowlab.graph import LEVELS, communication_graph
from flowlab.k8s import Inventory, enrich
from flowlab.report import report
from tests.views import browser

GRAFANA, PROM0 = "10.128.2.7", "10.129.2.9"


@pytest.fixture(scope="module")
def data() -> tuple[pl.DataFrame, Inventory]:
    flows, doc = demo.load(seconds=600, seed=0)
    inv = Inventory.from_objects([json.loads(json.dumps(doc))])
    return enrich(flows, inv), inv


def test_inventory_names_every_pod_and_node(data: tuple[pl.DataFrame, Inventory]) -> None:
    flows, inv = data
    assert inv.lookup(GRAFANA)["workload"] == "grafana"
    assert inv.lookup(PROM0)["name"] == "prometheus-k8s-0"
    # every in-cluster address of the demo resolves; only the outside world is external
    ext = flows.filter(pl.col("src_kind") == "external")["src_scope"].unique().to_list()
    assert set(ext) <= {"public", "private", "reserved"}  # 203.0.113.0/24 is documentation space


def test_grafana_has_three_peers_including_prometheus_k8s_0(
    data: tuple[pl.DataFrame, Inventory],
) -> None:
    flows, _ = data
    p = peers(flows, GRAFANA)
    assert p.height == 3
    row = p.filter(pl.col("peer") == PROM0).row(0, named=True)
    assert row["pod"] == "prometheus-k8s-0" and row["role"] == "server" and row["bytes"] > 0


def test_kubernetes_api_clients(data: tuple[pl.DataFrame, Inventory]) -> None:
    flows, _ = data
    clients = top_clients(flows, server=["172.30.0.1:443", "kubernetes-api"], n=None)
    want = flows.filter(
        ((pl.col("server_ip") == "172.30.0.1") & (pl.col("service_port") == 443))
        | (pl.col("service_name") == "kubernetes-api")
    )
    assert set(clients["client"]) == set(want["client_ip"].unique())
    assert clients["bytes"].sum() == want["bytes"].sum()
    assert len(set(clients["namespace"].drop_nulls())) >= 3  # pods across namespaces
    assert "node" in set(clients["kind"])  # and nodes (kubelets)
    # by Kubernetes names: the `kubernetes` Service and the apiserver pods behind it
    named = top_clients(flows, server=["default/kubernetes", "openshift-kube-apiserver/"], n=None)
    assert set(named["client"]) == set(clients["client"])


def test_the_apiservers_originate_etcd_client(data: tuple[pl.DataFrame, Inventory]) -> None:
    flows, inv = data
    apiservers = set(inv.host_ports.filter(pl.col("workload") == "kube-apiserver")["ip"])
    b = service_breakdown(flows, "etcd-client")
    assert set(b.clients["client"]) == apiservers
    assert set(b.servers["workload"]) == {"etcd"} and b.totals["ports"][0].to_list() == [2379]


@pytest.mark.parametrize("level", LEVELS)
def test_graph_totals_on_demo(data: tuple[pl.DataFrame, Inventory], level: str) -> None:
    flows, _ = data
    for orient in ("client-server", "src-dst"):
        g = communication_graph(flows, level=level, orient=orient)  # type: ignore[arg-type]
        assert sum(d["bytes"] for *_, d in g.edges(data=True)) == flows["bytes"].sum()
        assert sum(d["flows"] for *_, d in g.edges(data=True)) == flows.height


@pytest.mark.browser
def test_demo_report_in_chromium(data: tuple[pl.DataFrame, Inventory], tmp_path: Path) -> None:
    flows, _ = data
    path = report(flows, tmp_path / "demo.html", title="flowlab demo cluster")
    dom = browser.dump_dom(path)
    assert 'data-rendered="8"' in dom
    browser.screenshot(path, "demo-report.png")


@pytest.mark.browser
def test_flowlab_demo_then_flowlab_report(tmp_path: Path) -> None:
    """End to end through the CLI: real sFlow over loopback UDP into the collector, then the report."""
    import subprocess
    import sys

    out = tmp_path / "demo"
    env = {**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    run = subprocess.run(
        [sys.executable, "-m", "flowlab.cli", "demo", "--out", str(out), "--seconds", "120"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    html = tmp_path / "report.html"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "flowlab.cli",
            "report",
            str(out),
            "-o",
            str(html),
            "--title",
            "flowlab demo (UDP)",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    page = html.read_text()
    assert "openshift-monitoring/grafana" in page  # enriched from the demo's inventory.json
    dom = browser.dump_dom(html)
    assert 'data-rendered="8"' in dom
    bad = subprocess.run(
        [sys.executable, "-m", "flowlab.cli", "report", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert bad.returncode == 1 and "does not exist" in bad.stderr
