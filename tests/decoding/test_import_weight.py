"""Reading a capture stays light: no pandas on the decode path (issue #12)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_read_pcap_imports_no_pandas() -> None:
    code = (
        "import json, sys\n"
        "from flowlab.capture.pcap import read_pcap\n"
        "out = read_pcap(sys.argv[1])\n"
        "print(json.dumps([out.flows.height, 'pandas' in sys.modules]))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "tests" / "data" / "ovs-default.pcap")],
        capture_output=True, text=True, env=env, check=True, timeout=120,
    )  # fmt: skip
    flows, pandas_loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert flows == 79
    assert not pandas_loaded, "decoding a capture imported pandas"
