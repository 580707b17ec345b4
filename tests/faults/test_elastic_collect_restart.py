"""``flowlab collect --to-elasticsearch``: a slow bulk answer and a restart store every flow once.

Real parts: two ``flowlab collect`` subprocesses in turn (the second is the restart),
real sFlow datagrams over loopback UDP, the real server behind the TCP fault proxy
(tcp_proxy.py), which holds back the answer to the first run's bulk request past
``--es-timeout``: the client re-sends a bulk Elasticsearch already applied.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from elastic_server import es, es_env, index_name, upstream
from elasticsearch import Elasticsearch
from tcp_proxy import FaultProxy

from flowlab.demo import simulate
from flowlab.store import read_capture
from tests.test_cli import ENV, send, start_collect

pytestmark = [pytest.mark.faults, pytest.mark.elasticsearch]
__all__ = ["es", "es_env", "index_name"]  # fixtures used by name

TIMEOUT = 2.0


@pytest.mark.parametrize("layout", ["flowlab", "elastiflow"])
def test_slow_bulk_and_restart_store_each_flow_once(
    tmp_path: Path, es: Elasticsearch, es_env: dict[str, str], index_name: str, layout: str
) -> None:
    sim = simulate(seconds=120, seed=5)
    grams = [(d.agent, d.data) for d in sim.datagrams]
    half = len(grams) // 2
    index = index_name + ("-" if layout == "elastiflow" else "")
    pattern = index + ("*" if layout == "elastiflow" else "")
    captured = 0
    ENV.update(FLOWLAB_ES_USERNAME=es_env["username"], FLOWLAB_ES_PASSWORD=es_env["password"])
    try:
        with FaultProxy(upstream(es_env)) as proxy:
            proxy.delay_response(b"/_bulk", TIMEOUT + 2.0)
            for run, part in enumerate((grams[:half], grams[half:])):
                proc, address = start_collect(
                    tmp_path / f"cap{run}",
                    "127.0.0.1:0",
                    *("--to-elasticsearch", proxy.url, "--es-layout", layout),
                    *("--es-index", index, "--es-timeout", str(TIMEOUT)),
                )
                send(part, address)
                proc.send_signal(signal.SIGTERM)
                _, err = proc.communicate(timeout=120)
                assert proc.returncode == 0, err
                assert es_env["password"] not in err
                captured += read_capture(tmp_path / f"cap{run}").height
            assert proxy.delayed == 1  # the first run's bulk was answered too late, and re-sent
    finally:
        for key in ("FLOWLAB_ES_USERNAME", "FLOWLAB_ES_PASSWORD"):
            ENV.pop(key, None)
    assert captured == sim.decode().flows.height
    es.indices.refresh(index=pattern)
    stored = int(es.count(index=pattern)["count"])
    print(
        f"\n[reliability] collect restart + delayed bulk ({layout}): {captured} flows, {stored} stored"
    )
    assert stored == captured
