"""Elasticsearch that stops answering, resets or goes away mid-load: a bounded, clear failure.

Real faults: a TCP proxy (tcp_proxy.py) between flowlab and the real test server
stalls (stops forwarding), resets (TCP RST) or refuses connections once the first
pages went through; ``silent_server`` accepts connections and never answers.
"Elasticsearch stopped mid-load" is simulated by the proxy closing every
connection and its listening socket (connections are then refused, as from a
stopped server): the shared test server on 9200 is not stopped, and a second
server would not fit the CI machine's memory.

The promise: ``ElasticConnectionError`` within ``request_timeout x (max_retries + 1)``
plus a small margin, no partial frame, no partial Parquet file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from elastic_server import bounded_call, client, es, es_env, index_name, synthetic_flows, upstream
from elasticsearch import Elasticsearch
from tcp_proxy import FaultProxy, silent_server

import flowlab.elastic as fe
from flowlab.exceptions import ElasticConnectionError

pytestmark = [pytest.mark.faults, pytest.mark.elasticsearch]
__all__ = ["es", "es_env", "index_name"]  # fixtures used by name

ROWS = 40_000
PAGE = 1_000
TIMEOUT = 2.0
RETRIES = 1
BOUND = TIMEOUT * (RETRIES + 1)
MARGIN = 3.0  # thread hand-over, one short pause between retries, a slow CI machine
FIRST_PAGES = 400_000  # bytes from the server before the fault: a few pages of each slice


@pytest.fixture(scope="module")
def loaded_index(es_env: dict[str, str]) -> Any:
    es = client(es_env["url"], es_env)
    name = "flowlab-faults-load-" + __import__("uuid").uuid4().hex[:8]
    result = fe.write_flows(es, synthetic_flows(ROWS, seed=11), name, refresh=True)
    assert result.written + getattr(result, "existing", 0) == ROWS
    yield name
    es.options(ignore_status=404).indices.delete(index=name)
    es.options(ignore_status=404).indices.delete_index_template(name=f"flowlab-{name}")


def _load(kind: str, es: Elasticsearch, index: str, tmp_path: Path) -> Any:
    kw: dict[str, Any] = {"progress": False, "page_size": PAGE, "slices": 2}
    if kind == "load_flows":
        return fe.load_flows(es, index, **kw)
    if kind == "iter_flows":
        return [f.height for f in fe.iter_flows(es, index, **kw)]
    return fe.load_flows_to_parquet(es, tmp_path / "out.parquet", index, **kw)


def _no_output(kind: str, tmp_path: Path) -> None:
    if kind == "load_flows_to_parquet":
        assert list(tmp_path.iterdir()) == [], "a partial Parquet file was left behind"


@pytest.mark.parametrize("kind", ["load_flows", "iter_flows", "load_flows_to_parquet"])
def test_stall_mid_load_fails_within_the_bound(
    es_env: dict[str, str], loaded_index: str, tmp_path: Path, kind: str
) -> None:
    with FaultProxy(upstream(es_env), stall_after_bytes=FIRST_PAGES) as proxy:
        es = client(proxy.url, es_env, request_timeout=TIMEOUT, max_retries=RETRIES)
        out = bounded_call(lambda: _load(kind, es, loaded_index, tmp_path), limit=60)
        assert proxy.fault_at is not None, "the load finished before the stall"
        assert out.finished, f"{kind} still blocked 60 s after the server stopped answering"
        assert isinstance(out.error, ElasticConnectionError), out.error
        assert "did not answer in time" in str(out.error)
        assert out.value is None  # no partial frame
        after_fault = out.ended - proxy.fault_at
        print(f"\n[reliability] stall mid-{kind}: {after_fault:.1f} s after the fault: {out.error}")
        assert after_fault <= BOUND + MARGIN, (after_fault, out.seconds)
    _no_output(kind, tmp_path)


@pytest.mark.parametrize("fault", ["reset", "stopped"])
def test_reset_or_stopped_server_mid_load(
    es_env: dict[str, str], loaded_index: str, tmp_path: Path, fault: str
) -> None:
    after = {"reset_after_bytes": FIRST_PAGES} if fault == "reset" else {}
    after |= {"stop_after_bytes": FIRST_PAGES} if fault == "stopped" else {}
    with FaultProxy(upstream(es_env), **after) as proxy:
        es = client(proxy.url, es_env, request_timeout=TIMEOUT, max_retries=RETRIES)
        out = bounded_call(
            lambda: _load("load_flows_to_parquet", es, loaded_index, tmp_path), limit=60
        )
        assert proxy.fault_at is not None
        assert out.finished and isinstance(out.error, ElasticConnectionError), out.error
        assert "cannot reach Elasticsearch" in str(out.error)  # names the cause, not a timeout
        after_fault = out.ended - proxy.fault_at
        print(f"\n[reliability] {fault} mid-load: {after_fault:.1f} s after the fault: {out.error}")
        assert after_fault <= BOUND + MARGIN, (after_fault, out.seconds)
    _no_output("load_flows_to_parquet", tmp_path)


def test_load_through_a_healthy_proxy_is_complete(
    es_env: dict[str, str], loaded_index: str
) -> None:
    """The proxy itself loses nothing: the fault tests above fail because of the fault."""
    with FaultProxy(upstream(es_env)) as proxy:
        es = client(proxy.url, es_env, request_timeout=TIMEOUT * 10, max_retries=RETRIES)
        flows = fe.load_flows(es, loaded_index, progress=False, page_size=PAGE, slices=2)
    assert flows.height == ROWS
    assert flows.select(pl.struct(pl.all()).is_unique().all()).item()


@pytest.mark.parametrize(("kwargs", "limit"), [({}, 10.0), ({"connect_timeout": 1.0}, 1.0)])
def test_connect_to_a_silent_server_is_bounded(kwargs: dict[str, Any], limit: float) -> None:
    """Accepts TCP connections, never answers: connect() gives up after connect_timeout."""
    with silent_server() as url:
        out = bounded_call(lambda: fe.connect(url, **kwargs), limit=limit + 30)
    assert out.finished, "connect() still waiting 30 s after its bound"
    assert isinstance(out.error, ElasticConnectionError), out.error
    assert url in str(out.error) and "did not answer in time" in str(out.error)
    print(f"\n[reliability] connect() to a silent server {kwargs}: {out.seconds:.1f} s")
    assert out.seconds <= limit + 2.0, out.seconds


def test_every_request_times_out_on_a_silent_server(es_env: dict[str, str]) -> None:
    """After a good connect, a server that never answers bounds count, paging and writes alike."""
    with FaultProxy(upstream(es_env)) as proxy:
        es = client(proxy.url, es_env, request_timeout=TIMEOUT, max_retries=RETRIES)
        proxy.stall()
        for call in (
            lambda: fe.load_flows(es, "flowlab-faults-none", progress=False),
            lambda: fe.write_flows(es, synthetic_flows(10), "flowlab-faults-none"),
            lambda: fe.edges(es, "flowlab-faults-none"),
        ):
            out = bounded_call(call, limit=60)
            print(f"\n[reliability] silent server after connect: {out.seconds:.1f} s: {out.error}")
            assert out.finished and isinstance(out.error, ElasticConnectionError), out.error
            assert out.seconds <= BOUND + MARGIN, out.seconds
