"""A real JupyterLab 4 and a real Chromium driving it, with the network cut off.

:func:`start_lab` serves a directory with JupyterLab (token auth, loopback only, kernels
import this checkout). :class:`OfflineBrowser` is Playwright driving Debian's Chromium
(no Playwright browser download) with every request outside loopback refused three
times over: a dead proxy for every host but loopback, a resolver that maps every other
name to nothing, and a route that aborts and records any non-loopback request.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.views.browser import chromium

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    base: str
    token: str
    root: Path

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}?token={self.token}"

    def shutdown_kernels(self) -> None:
        """End every kernel the lab started (each opened notebook starts one)."""
        for kernel in self.get("/api/kernels"):
            req = urllib.request.Request(
                f"{self.base}/api/kernels/{kernel['id']}",
                method="DELETE",
                headers={"Authorization": f"token {self.token}"},
            )
            urllib.request.urlopen(req, timeout=30).close()

    def get(self, path: str) -> Any:
        req = urllib.request.Request(
            self.base + path, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())


@contextmanager
def start_lab(root: Path, home: Path) -> Iterator[Lab]:
    """JupyterLab serving `root` on loopback until the block ends."""
    port, token = free_port(), secrets.token_hex(16)
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    )
    # no "what's new" or update checks: JupyterLab must not even try to go out
    settings = home / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "lab.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.user_settings_dir={home / 'config' / 'lab' / 'user-settings'}",
            f"--LabApp.workspaces_dir={home / 'workspaces'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    lab = Lab(f"http://127.0.0.1:{port}", token, root)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                lab.get("/api/status")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        "JupyterLab did not start:\n" + (home / "lab.log").read_text()[-3000:]
                    )
                time.sleep(0.5)
        yield lab
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _loopback(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "file"):
        return True
    host = parts.hostname or ""
    return host in LOOPBACK or host.startswith("127.")


@dataclass
class OfflineBrowser:
    """A Playwright page in Chromium that can reach loopback only; it records what it saw."""

    page: Any
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    kernel_frames: int = 0

    def wait_for_kernel(self, timeout: float = 120) -> None:
        """Until the page's kernel websocket has received a message (JupyterLab drops
        "Run All" requested before the connection)."""
        deadline = time.monotonic() + timeout
        while self.kernel_frames == 0:
            if time.monotonic() > deadline:
                pytest.fail("the page never connected to its kernel")
            self.page.wait_for_timeout(250)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        target = ARTIFACTS / name
        self.page.screenshot(path=str(target), full_page=False)
        return target


# messages JupyterLab itself logs as errors that are about the lab, not about the notebook
_LAB_NOISE = ("Failed to load resource: the server responded with a status of 404",)


@contextmanager
def offline_browser(width: int = 1400, height: int = 1000) -> Iterator[OfflineBrowser]:
    """Chromium with nothing reachable but loopback (see the module docstring)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    exe = chromium()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=exe,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
                # every non-loopback connection goes to a proxy that does not exist
                "--proxy-server=http://127.0.0.1:9",
                "--proxy-bypass-list=127.0.0.1;localhost;[::1]",
                # and no name but localhost resolves
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
            ],
        )
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            seen = OfflineBrowser(page)

            def route(r: Any) -> None:
                if _loopback(r.request.url):
                    r.continue_()
                else:
                    seen.blocked.append(r.request.url)
                    r.abort("internetdisconnected")

            context.route("**/*", route)
            page.on(
                "console",
                lambda m: (
                    seen.errors.append(m.text)
                    if m.type == "error" and not any(n in m.text for n in _LAB_NOISE)
                    else None
                ),
            )
            page.on("pageerror", lambda e: seen.errors.append(f"page error: {e}"))

            def socket(ws: Any) -> None:
                if "/api/kernels/" in ws.url:

                    def frame(_payload: Any) -> None:
                        seen.kernel_frames += 1

                    ws.on("framereceived", frame)

            page.on("websocket", socket)
            yield seen
        finally:
            browser.close()
