"""``flowlab collect --to-elasticsearch``: a live sFlow capture shipped into the real server,
as a subprocess receiving real datagrams over loopback UDP, flushed on SIGTERM."""

from __future__ import annotations

import signal
import sys
import uuid
from pathlib import Path

import pytest

import flowlab.elastic as fe
from flowlab.demo import simulate
from flowlab.store import read_capture
from tests.test_cli import ENV, rows, send, start_collect

pytestmark = pytest.mark.elasticsearch


@pytest.mark.parametrize("layout", ["flowlab", "elastiflow"])
def test_collect_ships_every_flow(tmp_path: Path, es, es_env: dict[str, str], layout: str) -> None:
    sim = simulate(seconds=120, seed=5)
    index = f"flowlab-collect-{uuid.uuid4().hex[:8]}" + ("-" if layout == "elastiflow" else "")
    ENV.update(FLOWLAB_ES_USERNAME=es_env["username"], FLOWLAB_ES_PASSWORD=es_env["password"])
    try:
        proc, address = start_collect(
            tmp_path / "cap",
            "127.0.0.1:0",
            "--to-elasticsearch",
            es_env["url"],
            "--es-layout",
            layout,
            "--es-index",
            index,
        )
        send([(d.agent, d.data) for d in sim.datagrams], address)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        for key in ("FLOWLAB_ES_USERNAME", "FLOWLAB_ES_PASSWORD"):
            ENV.pop(key, None)
    assert proc.returncode == 0, err
    assert es_env["password"] not in err
    captured = read_capture(tmp_path / "cap")
    assert rows(captured) == rows(sim.decode().flows)
    pattern = index + ("*" if layout == "elastiflow" else "")
    es.indices.refresh(index=pattern)
    try:
        loaded = fe.load_flows(es, pattern, progress=False)
        assert loaded.height == captured.height
        key = ["src_ip", "dst_ip", "src_port", "dst_port", "protocol", "bytes", "packets"]
        assert loaded.select(key).sort(key).equals(captured.select(key).sort(key))
        assert loaded["service_name"].drop_nulls().len() > 0
    finally:
        es.indices.delete(index=pattern, ignore_unavailable=True)


def test_unreachable_elasticsearch_fails_fast(tmp_path: Path) -> None:
    import subprocess

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "flowlab.cli",
            "collect",
            "--listen",
            "127.0.0.1:0",
            "--out",
            str(tmp_path / "cap"),
            "--to-elasticsearch",
            "http://127.0.0.1:9",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and "127.0.0.1:9" in out.stderr
