"""JupyterLab 4 itself starts with the notebooks, serves them over its REST API, and a kernel
started through that API imports flowlab (what an OpenShift Data Science workbench does)."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from tests.notebooks.lab import ROOT, Lab, start_lab

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with start_lab(ROOT, tmp_path_factory.mktemp("jupyter-home")) as server:
        yield server.base, server.token


def _get(base: str, path: str, token: str) -> dict:
    return dict(Lab(base, token, ROOT).get(path))


def _post(base: str, path: str, token: str, body: dict) -> dict:
    req = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_lab_serves_the_notebooks(lab: tuple[str, str]) -> None:
    base, token = lab
    listing = _get(base, "/api/contents/notebooks", token)
    names = {item["name"] for item in listing["content"]}
    expected = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert expected and expected <= names
    nb = _get(base, "/api/contents/notebooks/00-quickstart.ipynb", token)
    assert nb["type"] == "notebook" and nb["content"]["nbformat"] == 4
    # the lab UI itself is served (JupyterLab 4 front end), not only the REST API
    req = urllib.request.Request(base + "/lab", headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert b"JupyterLab" in resp.read()


def _execute(lab: tuple[str, str], code: str) -> str:
    """Run `code` in a kernel that JupyterLab starts for a notebook; returns what it printed."""
    from tornado import httpclient, ioloop, websocket

    base, token = lab
    session = _post(
        base,
        "/api/sessions",
        token,
        {
            "path": "notebooks/00-quickstart.ipynb",
            "type": "notebook",
            "kernel": {"name": "python3"},
        },
    )
    kernel_id = session["kernel"]["id"]
    msg_id = uuid.uuid4().hex
    request = {
        "header": {
            "msg_id": msg_id,
            "username": "test",
            "session": uuid.uuid4().hex,
            "msg_type": "execute_request",
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "channel": "shell",
        "content": {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
    }

    async def run() -> str:
        url = base.replace("http", "ws") + f"/api/kernels/{kernel_id}/channels"
        conn = await websocket.websocket_connect(
            httpclient.HTTPRequest(
                url, headers={"Authorization": f"token {token}"}, request_timeout=60
            )
        )
        await conn.write_message(json.dumps(request))
        out = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            raw = await conn.read_message()
            if raw is None:
                break
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            if msg["msg_type"] == "error":
                out.append("ERROR " + msg["content"]["ename"] + ": " + msg["content"]["evalue"])
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle" and out:
                break
        conn.close()
        return "".join(out)

    return str(ioloop.IOLoop.current().run_sync(run, timeout=180))


def test_kernel_started_by_lab_imports_flowlab(lab: tuple[str, str]) -> None:
    text = _execute(lab, "import flowlab, polars; print('flowlab', flowlab.__version__)")
    import flowlab

    assert f"flowlab {flowlab.__version__}" in text, text


_COLLECT = """
import socket
from flowlab.collect import Collector
from flowlab.sflow import Datagram, FlowSample, encode_datagram, raw_header
rec = raw_header("10.128.2.7", "10.129.2.9", 6, 51000, 9091, payload_length=500)
with Collector("127.0.0.1:0") as col:
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for seq in range(1, 51):
        tx.sendto(encode_datagram(Datagram("10.0.0.21", seq, seq, [
            FlowSample(seq, 3, 400, 400, [rec]) for _ in range(4)])), col.address)
    flows = col.flows()
    print("receive", col.receive, "flows", flows.height, "server", flows["server_ip"][0])
print("stopped", col.stats.datagrams, col.stats.kernel_drops)
"""


def test_a_collector_runs_in_a_notebook_kernel(lab: tuple[str, str]) -> None:
    # the collector's receive process is spawned from the kernel JupyterLab started
    text = _execute(lab, _COLLECT)
    assert "receive process flows 200 server 10.129.2.9" in text, text
    assert "stopped 50 0" in text, text
