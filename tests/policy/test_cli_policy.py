"""``flowlab policy`` on the demo, as a user runs it (a real subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def flowlab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "flowlab.cli", "policy", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_policy_on_the_demo(tmp_path: Path) -> None:
    run = flowlab(
        "demo", "--namespace", "payments", "-o", "policies.yaml", "--evidence", "evidence.csv",
        "--end", "2025-01-06T09:30:00Z", "--replay-start", "2025-01-06T09:30:00Z",
        cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    docs = list(yaml.safe_load_all((tmp_path / "policies.yaml").read_text()))
    assert {d["metadata"]["name"] for d in docs} == {"flowlab-payments-api", "flowlab-postgres"}
    assert all(
        d["kind"] == "NetworkPolicy" and d["metadata"]["namespace"] == "payments" for d in docs
    )
    assert "2 NetworkPolicies, 3 rules" in run.stdout
    denied = [line for line in run.stdout.splitlines() if line.strip().startswith("DENIED")]
    assert denied and all(line.strip().startswith("DENIED shop/frontend -> ") for line in denied)
    csv = (tmp_path / "evidence.csv").read_text().splitlines()
    assert csv[0].startswith(
        "namespace,policy,direction,rule,peer,ports,flows,samples,bytes,bytes_lo"
    )
    assert len(csv) == 4


def test_policy_errors(tmp_path: Path) -> None:
    run = flowlab("demo", "--namespace", "no-such-namespace", cwd=tmp_path)
    assert run.returncode == 1
    assert "nothing to propose" in run.stderr and "Traceback" not in run.stderr
    run = flowlab(str(tmp_path / "missing"), cwd=tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    run = flowlab(cwd=tmp_path)
    assert run.returncode == 2
