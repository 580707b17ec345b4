"""``flowlab collect --to-elasticsearch``: a slow bulk answer and a restart store every flow once.

Real parts: two ``flowlab collect`` subprocesses in turn (the second is the restart),
real sFlow datagrams over loopback UDP, the real server behind the TCP fault proxy
(tcp_proxy.py), which holds back the answer to the first run's bulk request past
``--es-timeout``: the client re-sends a bulk Elasticsearch already applied.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from elastic_server import es, es_env, index_name, upstream
from elasticsearch import Elasticsearch
from tcp_proxy import FaultProxy

from flowlab.collect._mmsg import Outbox
from flowlab.demo import simulate
from flowlab.store import read_capture

pytestmark = [pytest.mark.faults, pytest.mark.elasticsearch]
__all__ = ["es", "es_env", "index_name"]  # fixtures used by name

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 2.0


def _collect(out: Path, url: str, index: str, layout: str, env: dict[str, str]) -> tuple:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flowlab.cli",
            "collect",
            "--listen",
            "127.0.0.1:0",
            "--out",
            str(out),
            "--to-elasticsearch",
            url,
            "--es-layout",
            layout,
            "--es-index",
            index,
            "--es-timeout",
            str(TIMEOUT),
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    match = re.search(r"listening on udp \[?([0-9a-f.:]+?)\]?:(\d+)", line)
    assert match, line
    return proc, (match.group(1), int(match.group(2)))


def _send(datagrams: list[bytes], address: tuple[str, int]) -> None:
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.connect(address)
    Outbox(datagrams).send(tx)
    tx.close()


@pytest.mark.parametrize("layout", ["flowlab", "elastiflow"])
def test_slow_bulk_and_restart_store_each_flow_once(
    tmp_path: Path, es: Elasticsearch, es_env: dict[str, str], index_name: str, layout: str
) -> None:
    sim = simulate(seconds=120, seed=5)
    grams = [d.data for d in sim.datagrams]
    half = len(grams) // 2
    index = index_name + ("-" if layout == "elastiflow" else "")
    pattern = index + ("*" if layout == "elastiflow" else "")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "FLOWLAB_ES_USERNAME": es_env["username"],
        "FLOWLAB_ES_PASSWORD": es_env["password"],
    }
    captured = 0
    with FaultProxy(upstream(es_env)) as proxy:
        proxy.delay_response(b"/_bulk", TIMEOUT + 2.0)
        for run, part in enumerate((grams[:half], grams[half:])):
            proc, address = _collect(tmp_path / f"cap{run}", proxy.url, index, layout, env)
            _send(part, address)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert es_env["password"] not in err
            captured += read_capture(tmp_path / f"cap{run}").height
        assert proxy.delayed == 1  # the first run's bulk was answered too late, and re-sent
    assert captured == sim.decode().flows.height
    es.indices.refresh(index=pattern)
    stored = int(es.count(index=pattern)["count"])
    print(
        f"\n[reliability] collect restart + delayed bulk ({layout}): {captured} flows, {stored} stored"
    )
    assert stored == captured
