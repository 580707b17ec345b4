"""Headless Chromium for the browser tests (Debian's `chromium`, run as root without sandbox)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (scripts/apt-packages.txt lists it)")
        pytest.skip("chromium is not installed; apt-get install chromium")
    return exe


def run(page: Path, *args: str, budget_ms: int = 30000) -> subprocess.CompletedProcess[str]:
    """Run Chromium on `page` offline (no network flags needed: the page loads nothing remote)."""
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                chromium(),
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={budget_ms}",
                *args,
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )


def dump_dom(page: Path) -> str:
    out = run(page, "--dump-dom")
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def screenshot(page: Path, name: str, size: str = "1400,5200") -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / name
    out = run(page, f"--screenshot={target}", f"--window-size={size}")
    assert out.returncode == 0 and target.is_file(), out.stderr[-2000:]
    return target
