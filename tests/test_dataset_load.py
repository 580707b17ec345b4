"""``flowlab.load``: one way into flows, honest empties and short errors (issue #10 parts 5-6)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import flowlab
from flowlab import analysis as fa
from flowlab.capture.pcap_write import sflow_packets, write_pcap
from flowlab.dataset import parse_time, parse_window
from flowlab.demo import simulate
from flowlab.exceptions import ConfigError, FlowlabWarning, SourceError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sim():  # type: ignore[no-untyped-def]
    return simulate(seconds=120, seed=1)


@pytest.fixture
def pcap(tmp_path: Path, sim) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "capture.pcap"
    # start_s: the demo's own window, so that "now-1h" is outside it
    write_pcap(path, sflow_packets([d.data for d in sim.datagrams], start_s=1_736_154_000.0))
    return path


def test_every_source_gives_the_same_flows(tmp_path: Path, pcap: Path, sim) -> None:  # type: ignore[no-untyped-def]
    from flowlab.convert import convert_pcap

    want = sim.flow_samples
    parquet = tmp_path / "flows.parquet"
    convert_pcap(pcap, parquet)  # what `flowlab read` writes (refused by load before)
    capture = tmp_path / "cap"
    convert_pcap(pcap, capture)
    no_ext = tmp_path / "capture-without-suffix"  # recognised by content, not by name
    no_ext.write_bytes(pcap.read_bytes())
    frames = {p: flowlab.load(p).flows for p in (pcap, parquet, capture, no_ext)}
    key = ["exporter", "src_ip", "dst_ip", "src_port", "dst_port", "bytes", "sequence"]
    first = frames[pcap].select(key).sort(key)
    assert first.height == want
    for path, frame in frames.items():
        assert frame.select(key).sort(key).equals(first), path
    # a directory holding exactly one capture loads it
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "x.pcap").write_bytes(pcap.read_bytes())
    assert flowlab.load(tmp_path / "one").flows.height == want


def test_what_is_not_a_capture_is_a_clear_source_error(tmp_path: Path, pcap: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    with pytest.raises(SourceError, match=r"neither a pcap/pcapng nor a Parquet file.*expected"):
        flowlab.load(notes)
    other = tmp_path / "other.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(other)
    with pytest.raises(SourceError, match=r"Parquet file but not of flows: it lacks time"):
        flowlab.load(other)
    several = tmp_path / "several"
    several.mkdir()
    for name in ("a.pcap", "b.pcapng"):
        (several / name).write_bytes(pcap.read_bytes())
    with pytest.raises(SourceError, match=r"several captures \(a.pcap, b.pcapng\)"):
        flowlab.load(several)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "readme.md").write_text("x")
    with pytest.raises(SourceError, match=r"not a capture directory \(it holds readme.md\)"):
        flowlab.load(junk)
    with pytest.raises(ConfigError, match=r"does not exist"):
        flowlab.load(tmp_path / "missing.pcap")
    with pytest.raises(ConfigError, match=r"did you mean 'demo'"):
        flowlab.load("deom")


def test_relative_and_inverted_windows() -> None:
    now = dt.datetime(2025, 1, 6, 10, 0, tzinfo=dt.timezone.utc)
    assert parse_time("now-1h", now=now) == dt.datetime(2025, 1, 6, 9, tzinfo=dt.timezone.utc)
    assert parse_time("-15m", now=now) == dt.datetime(2025, 1, 6, 9, 45, tzinfo=dt.timezone.utc)
    assert parse_time("now", now=now) == now
    assert parse_time("NOW - 2d", now=now) == now - dt.timedelta(days=2)
    got = parse_time("-1h")
    assert got is not None
    assert abs(got - (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))) < dt.timedelta(
        seconds=5
    )
    with pytest.raises(ConfigError, match="ends before it starts"):
        parse_window("2025-01-06T10:30Z", "2025-01-06T09:00Z")
    with pytest.raises(ConfigError, match="ends before it starts"):
        flowlab.load("demo", seconds=60, start="2025-01-06T10:30Z", end="2025-01-06T09:00Z")
    with pytest.raises(ConfigError, match="now-1h"):
        parse_time("an hour ago")
    # a window outside the data warns, naming what was asked and where the data is
    with pytest.warns(
        FlowlabWarning, match=r"no flows in the window .*the data spans 2025-01-06 09:00"
    ):
        ds = flowlab.load("demo", seconds=60, start="now-1h")
    assert ds.flows.is_empty()
    ds = flowlab.load("demo", seconds=120, start="2025-01-06T09:01Z", end="2025-01-06T09:02Z")
    assert ds.flows["time"].min() >= dt.datetime(2025, 1, 6, 9, 1, tzinfo=dt.timezone.utc)
    # the analyses take the same windows
    flows = flowlab.load("demo", seconds=120).flows
    assert fa.where(flows, start="-1h").collect().is_empty()  # the demo is in 2025
    assert fa.where(flows, start="2025-01-06T09:01Z").collect().height < flows.height
    with pytest.raises(ConfigError, match="ends before it starts"):
        fa.where(flows, start="2025-01-06T10:30Z", end="2025-01-06T09:00Z")


def test_unknown_names_warn_with_the_nearest() -> None:
    flows = flowlab.load("demo", seconds=120).flows
    with pytest.warns(FlowlabWarning, match=r"'ns/typo' matches no flow"):
        assert fa.peers(flows, "ns/typo").is_empty()
    with pytest.warns(FlowlabWarning, match=r"did you mean 'openshift-monitoring/grafana'"):
        fa.peers(flows, "openshift-monitoring/grafna")
    with pytest.warns(
        FlowlabWarning, match=r"server='kubernetes-apii'.*did you mean 'kubernetes-api'"
    ):
        assert fa.top_clients(flows, server="kubernetes-apii").is_empty()
    with pytest.warns(FlowlabWarning, match=r"service='etcd-clinet'.*did you mean 'etcd-client'"):
        fa.flow_records(flows, service="etcd-clinet")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # names that exist: no warning
        assert fa.peers(flows, "openshift-monitoring/grafana").height > 0


def test_enrichment_happens_once_where_flows_are_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flowlab.dataset
    import flowlab.k8s

    ds = flowlab.load("demo", seconds=60)
    calls = []
    real = flowlab.k8s.enrich
    monkeypatch.setattr(flowlab.k8s, "enrich", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(flowlab.dataset, "enrich", flowlab.k8s.enrich)
    from flowlab.graph import communication_graph

    communication_graph(ds.flows, level="workload", inventory=ds.inventory)
    saved = tmp_path / "enriched.parquet"
    ds.flows.write_parquet(saved)
    again = flowlab.load(saved, inventory=ds.inventory)
    assert again.flows.columns == ds.flows.columns
    assert calls == []  # already enriched: neither the graph nor load enrich again


def test_an_elasticsearch_url_without_port_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWLAB_ES_URL", "localhost9200")
    with pytest.raises(ConfigError, match=r"https://host:9200.*found 'localhost9200'"):
        flowlab.load("elasticsearch")


def test_a_flowlab_error_in_a_notebook_is_its_message_not_the_client_frames(tmp_path: Path) -> None:
    """A real Jupyter kernel (nbclient) runs a cell that cannot reach Elasticsearch."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    import os

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import flowlab\nds = flowlab.load('elasticsearch')  # nothing listens on port 1"
        )
    ]
    env = {"FLOWLAB_ES_URL": "http://127.0.0.1:1", "PYTHONPATH": str(ROOT)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True)
        client.execute(cwd=str(tmp_path))
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    errors = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert len(errors) == 1, nb.cells[0].outputs
    error = errors[0]
    assert error.ename == "ElasticConnectionError" and "127.0.0.1:1" in error.evalue
    assert len(error.traceback) <= 3, error.traceback  # the message and the cell's line
    assert "flowlab.load('elasticsearch')" in "\n".join(error.traceback)


def test_python_m_flowlab_report_is_the_cli(tmp_path: Path, pcap: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "flowlab.report", str(pcap), "-o", str(tmp_path / "r.html")],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "r.html").stat().st_size > 10_000
