"""``import flowlab`` and ``flowlab --help`` stay light (issue #10 part 7, #13 item 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
HEAVY = ("polars", "pyarrow", "pandas", "numpy", "networkx", "elasticsearch", "altair")
COMMANDS = ("demo", "collect", "read", "report")


def _modules(code: str) -> set[str]:
    r = subprocess.run(
        [sys.executable, "-c", code + "\nimport json, sys; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
        check=True,
    )
    return set(json.loads(r.stdout.strip().splitlines()[-1]))


def test_import_flowlab_imports_nothing_heavy() -> None:
    loaded = _modules("import flowlab")
    assert not {m for m in HEAVY if m in loaded}
    # _lazy: the package's __getattr__ (importlib only)
    assert {m for m in loaded if m.startswith("flowlab")} == {
        "flowlab",
        "flowlab._lazy",
        "flowlab.exceptions",
    }


def test_top_level_names_and_subpackages_load_on_first_use() -> None:
    loaded = _modules("import flowlab\nflowlab.FlowlabError\nflowlab.__version__")
    assert "polars" not in loaded
    loaded = _modules("import flowlab\nassert callable(flowlab.read_pcap)")
    assert "flowlab.capture.pcap" in loaded and "elasticsearch" not in loaded
    loaded = _modules("import flowlab\nflowlab.analysis.peers")
    assert "polars" in loaded and "elasticsearch" not in loaded


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_imports_nothing_heavy(command: str | None) -> None:
    args = ["--help"] if command is None else [command, "--help"]
    code = (
        "import sys\nfrom flowlab.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass"
    )
    loaded = _modules(code)
    assert not {m for m in HEAVY if m in loaded}


def _fastest(argv: list[str], runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, capture_output=True, env=ENV, timeout=60, check=True)
        best = min(best, time.perf_counter() - t)
    return best


def test_help_answers_quickly() -> None:
    """Under 0.5 s on an idle machine; measured against a bare interpreter on a busy one."""
    bare = _fastest([sys.executable, "-c", "pass"])
    for command in (None, *COMMANDS):
        args = ["--help"] if command is None else [command, "--help"]
        took = _fastest([sys.executable, "-m", "flowlab.cli", *args])
        assert took - bare < 0.3, (command, took, bare)
        assert took < 0.5 + bare, (command, took, bare)


def test_the_receive_process_runs_the_real_package_without_polars() -> None:
    """The child is started by path with the package root; no fake package, nothing heavy."""
    if sys.platform != "linux":
        pytest.skip("the receive process is Linux-only")
    code = """
import os, subprocess, time
from flowlab.collect import Collector
c = Collector("127.0.0.1:0", receive="process")
c.start()
time.sleep(0.5)
children = subprocess.run(["pgrep", "-P", str(os.getpid())], capture_output=True, text=True)
pid = children.stdout.split()[0]
maps = open(f"/proc/{pid}/maps").read()
cmd = open(f"/proc/{pid}/cmdline").read().split("\\0")
c.stop()
print("polars" in maps, "numpy" in maps, cmd[1].endswith("_receive_main.py"))
"""
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "True", "True"]
