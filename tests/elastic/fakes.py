"""Loopback HTTP(S) servers standing in for faults a real Elasticsearch cannot show on demand.

Used only where the real test server cannot produce the condition:
a non-Elasticsearch product (OpenSearch is not in this project's registries), a
server behind a TLS certificate the client does not trust (the test server
speaks plain HTTP on loopback), and bulk items rejected with HTTP 429 (a real
node does that only under overload no test can produce deterministically).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Handler = Callable[[str, str, bytes], tuple[int, dict[str, str], bytes]]

ES_ROOT = {
    "name": "fake",
    "cluster_name": "fake",
    "version": {"number": "9.2.8", "build_flavor": "default"},
    "tagline": "You Know, for Search",
}


def json_reply(
    body: Any, status: int = 200, product: bool = True
) -> tuple[int, dict[str, str], bytes]:
    headers = {"content-type": "application/json"}
    if product:
        headers["x-elastic-product"] = "Elasticsearch"
    return status, headers, json.dumps(body).encode()


@contextmanager
def serve(
    handler: Handler,
    *,
    tls: tuple[Path, Path] | None = None,
    requests: list[tuple[str, str, dict[str, str]]] | None = None,
) -> Iterator[str]:
    """Run `handler(method, path, body)` on 127.0.0.1:<free port>; yields the base URL.

    `requests`, if given, receives ``(method, path, headers)`` of every request.
    """

    class _H(BaseHTTPRequestHandler):
        def _do(self) -> None:
            size = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(size) if size else b""
            if requests is not None:
                requests.append(
                    (self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                )
            status, headers, payload = handler(self.command, self.path, body)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _do

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
    scheme = "http"
    if tls is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 made with the openssl CLI: (cert, key)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    command = [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=127.0.0.1",
    ]
    command += ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
    )
    return cert, key
