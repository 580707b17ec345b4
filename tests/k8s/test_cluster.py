"""Inventory.from_cluster through the real `kubernetes` client over real HTTP on loopback.

No Kubernetes API server can be installed here (Debian ships only kubectl and etcd;
no registry package ships kube-apiserver, and Docker does not run). So this test
serves the API's list endpoints itself — a stand-in for the API server only — from
the committed `oc get -o json` fixtures, with the API's paging (`limit`/`continue`),
bearer-token auth and 403s. Everything on flowlab's side (kubeconfig loading, the
client's requests, paging, item kinds, error translation) runs for real.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from flowlab.exceptions import KubernetesError
from flowlab.k8s import Inventory
from tests.clusterdata import DATA, inventory

TOKEN = "sha256~s3cr3t-token-value"
PATHS = {
    "/api/v1/pods": "Pod",
    "/api/v1/nodes": "Node",
    "/api/v1/services": "Service",
    "/apis/discovery.k8s.io/v1/endpointslices": "EndpointSlice",
    "/apis/apps/v1/replicasets": "ReplicaSet",
    "/apis/apps/v1/deployments": "Deployment",
    "/apis/apps/v1/statefulsets": "StatefulSet",
    "/apis/apps/v1/daemonsets": "DaemonSet",
    "/api/v1/replicationcontrollers": "ReplicationController",
    "/apis/batch/v1/jobs": "Job",
    "/apis/batch/v1/cronjobs": "CronJob",
}


class _Api:
    def __init__(self) -> None:
        self.objects: dict[str, list[dict]] = {}
        for f in DATA.glob("*.json"):
            for item in json.loads(f.read_text())["items"]:
                self.objects.setdefault(item["kind"], []).append(item)
        self.forbidden: set[str] = set()
        self.requests: list[str] = []


def _handler(api: _Api) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            api.requests.append(self.path)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(
                    401,
                    {"kind": "Status", "status": "Failure", "reason": "Unauthorized", "code": 401},
                )
                return
            path, ns = url.path, None
            parts = path.split("/")
            if "namespaces" in parts:  # /api/v1/namespaces/<ns>/pods
                i = parts.index("namespaces")
                ns = parts[i + 1]
                path = "/".join(parts[:i] + parts[i + 2 :])
            kind = PATHS.get(path)
            if kind is None:
                self._send(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
                return
            if kind in api.forbidden:
                self._send(403, {"kind": "Status", "code": 403, "reason": "Forbidden"})
                return
            q = parse_qs(url.query)
            limit = int(q.get("limit", ["500"])[0])
            start = int(q.get("continue", ["0"])[0])
            items = [
                o
                for o in api.objects.get(kind, [])
                if ns is None or o["metadata"].get("namespace") == ns
            ]
            page = [
                {k: v for k, v in o.items() if k not in ("kind", "apiVersion")}
                for o in items[start : start + limit]
            ]
            meta = {"resourceVersion": "12345"}
            if start + limit < len(items):
                meta["continue"] = str(start + limit)
            self._send(
                200, {"kind": f"{kind}List", "apiVersion": "v1", "metadata": meta, "items": page}
            )

    return Handler


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[_Api, Path]]:
    state = _Api()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    host = f"http://127.0.0.1:{server.server_address[1]}"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "test",
                "clusters": [{"name": "c", "cluster": {"server": host}}],
                "users": [{"name": "u", "user": {"token": TOKEN}}],
                "contexts": [{"name": "test", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    try:
        yield state, kubeconfig
    finally:
        server.shutdown()
        server.server_close()


def test_from_cluster_equals_from_files(api: tuple[_Api, Path]) -> None:
    state, kubeconfig = api
    inv = Inventory.from_cluster(kubeconfig=kubeconfig, in_cluster=False, page_size=4)
    ref = inventory()
    for name in ("addresses", "host_ports", "service_ports", "membership"):
        assert (
            getattr(inv, name)
            .sort(getattr(inv, name).columns)
            .equals(getattr(ref, name).sort(getattr(ref, name).columns))
        ), name
    assert inv.skipped == ()
    # paging really happened: pods (29 of them) in pages of 4
    assert sum("/api/v1/pods" in r for r in state.requests) == -(-len(state.objects["Pod"]) // 4)


def test_forbidden_kinds_are_skipped_and_named(api: tuple[_Api, Path]) -> None:
    state, kubeconfig = api
    state.forbidden = {"Node", "ReplicaSet"}
    inv = Inventory.from_cluster(kubeconfig=kubeconfig, in_cluster=False)
    assert inv.skipped == ("Node", "ReplicaSet")
    assert inv.nodes.is_empty()
    # grafana's ReplicaSet is gone: the pod-template-hash rule still finds the Deployment
    assert inv.lookup("10.128.2.7")["workload"] == "grafana"


def test_namespaced_listing(api: tuple[_Api, Path]) -> None:
    _, kubeconfig = api
    inv = Inventory.from_cluster(kubeconfig=kubeconfig, in_cluster=False, namespaces=["shop"])
    assert set(inv.pods["namespace"]) == {"shop"}
    assert not inv.nodes.is_empty()  # nodes are cluster-scoped and allowed here


def test_pods_forbidden_is_an_error(api: tuple[_Api, Path]) -> None:
    state, kubeconfig = api
    state.forbidden = {"Pod"}
    with pytest.raises(KubernetesError, match=r"HTTP 403.*docs/rbac\.yaml"):
        Inventory.from_cluster(kubeconfig=kubeconfig, in_cluster=False)


def test_bad_token_is_an_error_without_the_token(api: tuple[_Api, Path]) -> None:
    _, kubeconfig = api
    kubeconfig.write_text(kubeconfig.read_text().replace(TOKEN, "sha256~wrong-token"))
    with pytest.raises(KubernetesError, match="401") as err:
        Inventory.from_cluster(kubeconfig=kubeconfig, in_cluster=False)
    assert "wrong-token" not in str(err.value) and TOKEN not in str(err.value)


def test_unreachable_server(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "x",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": TOKEN}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    with pytest.raises(KubernetesError, match="cannot reach") as err:
        Inventory.from_cluster(kubeconfig=kubeconfig, in_cluster=False, timeout=2)
    assert TOKEN not in str(err.value)


def test_missing_kubeconfig(tmp_path: Path) -> None:
    from flowlab.exceptions import ConfigError

    with pytest.raises(ConfigError, match="kubeconfig"):
        Inventory.from_cluster(kubeconfig=tmp_path / "nope", in_cluster=False)
