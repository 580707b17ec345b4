"""The compiled core's packaging (issue #12, docs/native.md), with real installs.

flowlab must install from a git URL on a machine without a C compiler, and then run the pure
path; and the project's own wheel (scripts/wheel) must carry the compiled core, which gives the
same frames as the pure path. Each install goes into a fresh virtual environment made with
``--system-site-packages`` (flowlab's dependencies come from this interpreter, nothing is
downloaded) and ``pip install --no-deps --no-build-isolation`` (this interpreter's setuptools
and wheel); each run is from a temporary directory with no PYTHONPATH, and checks that it
imported the installed flowlab, not this checkout.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import flowlab
from flowlab import _accel
from tests.cores import require_native, use_core

ROOT = Path(__file__).resolve().parents[1]
PCAP = ROOT / "tests" / "data" / "ovs-default.pcap"

#: run by the venv's python: decode the capture, keep frames and stats, say what was imported
READ = """
import json, pickle, sys
from dataclasses import asdict
from pathlib import Path

import flowlab
from flowlab import _accel

out = flowlab.read_pcap(sys.argv[1])
dest = Path(sys.argv[2])
out.flows.write_ipc(dest / "flows.arrow")
out.counters.write_ipc(dest / "counters.arrow")
(dest / "stats.pickle").write_bytes(pickle.dumps(asdict(out.stats)))
native = _accel.native()
print(json.dumps({"flowlab": flowlab.__file__, "native": native and native.__file__}))
"""

pytestmark = pytest.mark.timeout(300)


def _env(**extra: str) -> dict[str, str]:
    """This environment without what would import this checkout or pick a core."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FLOWLAB_NATIVE")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", **extra)
    return env


def _run(args: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        args, cwd=cwd, env=_env(**extra), capture_output=True, text=True, timeout=240
    )
    assert r.returncode == 0, f"{args} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def _venv(path: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(path)], check=True, timeout=120
    )
    return path / "bin" / "python"


def _pip_install(python: Path, target: str, cwd: Path, **extra: str) -> None:
    _run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", target],
        cwd,
        **extra,
    )


def _decode_in(python: Path, venv: Path, run: Path, **extra: str) -> dict[str, Any]:
    """Decode PCAP with the venv's flowlab (from `run`, a fresh directory); frames, stats, files."""
    run.mkdir()
    r = _run([str(python), "-c", READ, str(PCAP), str(run)], run, **extra)
    seen = json.loads(r.stdout.splitlines()[-1])
    assert Path(seen["flowlab"]).is_relative_to(venv), f"imported {seen['flowlab']}, not the venv's"
    return {
        "flows": pl.read_ipc(run / "flows.arrow"),
        "counters": pl.read_ipc(run / "counters.arrow"),
        "stats": pickle.loads((run / "stats.pickle").read_bytes()),
        "native": seen["native"],
    }


def _assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert want["flows"].height > 0
    assert_frame_equal(got["flows"], want["flows"])
    assert_frame_equal(got["counters"], want["counters"])
    assert got["stats"] == want["stats"]


def _here() -> dict[str, Any]:
    """The capture decoded in this process (this checkout, the pure path)."""
    with use_core("pure"):
        out = flowlab.read_pcap(PCAP)
    return {"flows": out.flows, "counters": out.counters, "stats": asdict(out.stats)}


def test_compiled_core_runs_here() -> None:
    """The suite's own flowlab has its compiled core: skipped without it, failed in CI (which
    has a C compiler) unless FLOWLAB_NATIVE=0 turned it off on purpose (tests/cores.py)."""
    require_native()
    module = _accel.native()
    assert module is not None and module.__name__ == "flowlab._native"
    assert Path(str(module.__file__)).parent == Path(flowlab.__file__).parent


@pytest.mark.slow  # a venv and a real install: 5-8 s
def test_git_install_without_a_compiler_runs_the_pure_path(tmp_path: Path) -> None:
    """pip install from a git URL (a fresh clone of HEAD: nothing uncommitted) with no working
    C compiler succeeds, and the installed flowlab decodes with the pure path, as here."""
    python = _venv(tmp_path / "venv")
    # CC/CXX: setuptools' compiler command (and its linker, derived from it) is /bin/false
    _pip_install(python, f"git+file://{ROOT}", tmp_path, CC="/bin/false", CXX="/bin/false")
    installed = list((tmp_path / "venv").glob("lib/python*/site-packages/flowlab"))
    assert len(installed) == 1 and not list(installed[0].glob("_native*")), installed
    got = _decode_in(python, tmp_path / "venv", tmp_path / "run")
    assert got["native"] is None
    _assert_same(got, _here())


@pytest.mark.slow  # a venv and a real install: 5-8 s
def test_wheel_carries_the_compiled_core_with_the_same_results(tmp_path: Path) -> None:
    """scripts/wheel (in a fresh clone, offline: --no-isolation) gives a manylinux wheel with
    flowlab/_native, py.typed and flowlab/data/; installed in a fresh venv, its compiled core
    runs and decodes the same frames as the pure path of the same install (FLOWLAB_NATIVE=0)."""
    clone = tmp_path / "clone"
    _run(["git", "clone", "--quiet", str(ROOT), str(clone)], tmp_path)
    r = _run(["bash", "scripts/wheel", "--no-isolation"], clone)
    wheels = [
        line.split(": ", 1)[1] for line in r.stdout.splitlines() if line.startswith("wheel: ")
    ]
    assert len(wheels) == 1 and "manylinux" in wheels[0], r.stdout
    wheel = clone / wheels[0]
    names = subprocess.run(
        [sys.executable, "-m", "zipfile", "-l", str(wheel)], capture_output=True, text=True
    ).stdout
    assert "flowlab/py.typed" in names and "flowlab/data/services.csv" in names
    python = _venv(tmp_path / "venv")
    _pip_install(python, str(wheel), tmp_path)
    native = _decode_in(python, tmp_path / "venv", tmp_path / "native")
    assert native["native"] is not None
    assert Path(native["native"]).is_relative_to(tmp_path / "venv"), native["native"]
    pure = _decode_in(python, tmp_path / "venv", tmp_path / "pure", FLOWLAB_NATIVE="0")
    assert pure["native"] is None
    _assert_same(native, pure)
    _assert_same(pure, _here())
