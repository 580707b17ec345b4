"""``flowlab demo --protocol ipfix|netflow``: the same cluster's traffic as IPFIX / NetFlow v9 flow
records, over real UDP into the real collector, and what the report and notebooks make of it."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from flowlab.demo import simulate
from flowlab.demo.flow_records import exporter_address
from flowlab.exceptions import ConfigError
from flowlab.store import read_capture
from tests.test_cli import flowlab_cli

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
FIVE = ["src_ip", "dst_ip", "protocol", "src_port", "dst_port"]


def _volumes(frame: pl.DataFrame) -> pl.DataFrame:
    return (
        frame.group_by(FIVE)
        .agg(pl.col("bytes").sum(), pl.col("packets").sum(), pl.len().alias("records"))
        .sort(FIVE, nulls_last=True)
    )


@pytest.fixture(scope="module")
def sflow() -> pl.DataFrame:
    return simulate(600, seed=2).decode().flows


@pytest.mark.parametrize(("protocol", "flow_format"), [("ipfix", "ipfix"), ("netflow", "netflow9")])
def test_the_same_traffic_with_the_same_volumes(
    sflow: pl.DataFrame, protocol: str, flow_format: str
) -> None:
    """One record per sampled packet, already scaled as Open vSwitch scales it: per 5-tuple the
    estimated bytes and packets equal the sFlow demo's exactly (the same sampled packets)."""
    sim = simulate(600, seed=2, protocol=protocol)
    decoded = sim.decode()
    flows = decoded.flows
    assert decoded.stats.bad == 0 and decoded.stats.lost == 0
    assert set(flows["flow_format"]) == {flow_format}
    assert flows.height == sflow.height == sim.flow_samples
    assert _volumes(flows).equals(_volumes(sflow))
    # each node is an exporter of its own (its loopback address) and an observation domain
    want = {exporter_address(n): i + 1 for i, n in enumerate(sim.cluster.nodes)}
    got = dict(flows.select("exporter", "observation_domain").unique().iter_rows())
    assert got == want
    # the records keep their own times: within the second their datagram was sent
    lag = (flows["time"] - flows["flow_start"]).dt.total_milliseconds()
    assert lag.min() >= 0 and lag.max() < 1000
    # answers the demo is built around
    assert set(flows.filter(pl.col("service_port") == 2379)["client_ip"]) == {
        "10.0.0.11",
        "10.0.0.12",
        "10.0.0.13",
    }


def test_an_unknown_protocol_is_refused() -> None:
    with pytest.raises(ConfigError, match="the demo sends sflow, ipfix, netflow; found 'nf5'"):
        simulate(60, protocol="nf5")


@pytest.fixture(scope="module")
def ipfix_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ipfix") / "demo"
    r = flowlab_cli(
        "demo", "--protocol", "ipfix", "--seconds", "900", "--seed", "1", "--out", str(out)
    )
    assert r.returncode == 0, r.stderr
    assert "sent as IPFIX over UDP" in r.stdout and "lost 0 " in r.stdout, r.stdout
    assert "etcd-client (TCP 2379) originators: 10.0.0.11, 10.0.0.12, 10.0.0.13" in r.stdout
    return out


def test_demo_ipfix_over_udp_equals_the_in_memory_records(ipfix_demo: Path) -> None:
    flows = read_capture(ipfix_demo)
    memory = simulate(900, seed=1, protocol="ipfix").decode().flows
    cols = [c for c in memory.columns if c != "source"]
    assert Counter(flows.select(cols).iter_rows()) == Counter(memory.select(cols).iter_rows())
    assert (ipfix_demo / ".ipfix-state.json").is_file()  # the templates, next to the capture
    assert read_capture(ipfix_demo, kind="counters").height == 0  # counters are sFlow's


def test_report_builds_on_the_ipfix_demo(ipfix_demo: Path, tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    r = flowlab_cli("report", str(ipfix_demo), "--out", str(html))
    assert r.returncode == 0, r.stderr
    text = html.read_text()
    assert "etcd-client" in text and "openshift-monitoring" in text


@pytest.mark.notebooks
@pytest.mark.slow
def test_a_notebook_runs_unchanged_on_the_ipfix_demo(ipfix_demo: Path, tmp_path: Path) -> None:
    import papermill as pm

    out = tmp_path / "03.ipynb"
    pm.execute_notebook(
        str(ROOT / "notebooks" / "03-etcd-clients.ipynb"),
        str(out),
        parameters={"SOURCE": str(ipfix_demo), "OUT_DIR": str(tmp_path / "o")},
        cwd=str(tmp_path),
        progress_bar=False,
        kernel_name="python3",
        execution_timeout=600,
    )
    nb = json.loads(out.read_text())
    assert not [o for c in nb["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    csv = (tmp_path / "o" / "etcd-originators.csv").read_text().splitlines()
    assert len(csv) - 1 == 3 and all(line.startswith("10.0.0.") for line in csv[1:]), csv
    assert all("openshift-kube-apiserver/kube-apiserver-" in line for line in csv[1:]), csv
