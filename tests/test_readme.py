"""The README works as written: a fresh virtual environment, its install command, its
Quickstart block verbatim, then ``flowlab report`` (issue #10 part 5).

The environment is made with ``python -m venv`` (no ``--system-site-packages``): it sees only
what the README's install command installed, from PyPI (about a minute with a warm pip
cache). The repository's tracked files are copied first, so the install builds nothing in
the working tree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _install_command() -> str:
    """The first command of the Set-up block (``pip install ...``), without its comment."""
    block = re.search(r"## Set-up.*?```sh\n(.*?)```", README, re.S)
    assert block, "README.md has no Set-up sh block"
    line = block.group(1).splitlines()[0].split("#")[0].strip()
    assert line.startswith("pip install"), line
    return line


def _quickstart() -> str:
    block = re.search(r"## Quickstart \(Python\)\s*```python\n(.*?)```", README, re.S)
    assert block, "README.md has no Quickstart python block"
    return block.group(1)


def _report_command() -> str:
    found = re.search(r"`(flowlab report \./flowlab-demo[^`]*)`", README)
    assert found, "README.md names no `flowlab report ./flowlab-demo ...` command"
    return found.group(1)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_readme_install_quickstart_and_report_in_a_fresh_venv(tmp_path: Path) -> None:
    repo = tmp_path / "flowlab"
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            (repo / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, repo / name.decode())
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)

    def sh(command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            ["bash", "-c", command],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert r.returncode == 0, f"{command}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        return r

    install = sh(_install_command(), timeout=600)  # e.g. `pip install -e . && flowlab demo`
    if "flowlab demo" in _install_command():
        assert "lost 0" in install.stdout and (repo / "flowlab-demo" / "inventory.json").exists()
    where = sh("python -c 'import flowlab, sys; print(flowlab.__file__, sys.prefix)'", 60)
    assert str(repo) in where.stdout and str(venv) in where.stdout  # the venv, not the host

    (repo / "quickstart.py").write_text(_quickstart())
    sh("python quickstart.py", timeout=300)
    assert (repo / "workloads.graphml").stat().st_size > 1000
    html = (repo / "workloads.html").read_text()
    assert "cdn.jsdelivr" not in html and "vega" in html  # offline: Vega inlined

    if not (repo / "flowlab-demo").exists():
        sh("flowlab demo", timeout=300)
    command = _report_command()
    sh(command, timeout=300)
    out = command.split("-o", 1)[1].split()[0] if " -o " in command else "flowlab-report.html"
    page = (repo / out).read_text()
    assert "openshift-monitoring/grafana" in page and "cdn.jsdelivr" not in page
