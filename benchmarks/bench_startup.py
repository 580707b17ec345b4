"""Benchmark: start-up of ``import flowlab`` and ``flowlab [COMMAND] --help``.

For each command, the fastest of N runs of wall-clock and CPU (user + sys) seconds, warm
(bytecode cached) and cold (an empty ``PYTHONPYCACHEPREFIX`` per run: no cached bytecode
for any module, the standard library included), and the number of modules loaded.
``ROOT`` is the directory holding the ``flowlab`` package to measure (``PYTHONPATH``), so
two trees can be compared in the same run (e.g. ``git archive 269ae44 flowlab | tar -x -C /tmp/old``).

Usage::

    python benchmarks/bench_startup.py                 # this tree, 5 runs each
    python benchmarks/bench_startup.py --root /tmp/old --runs 5
    python -X importtime -c "import flowlab"           # per-module import times
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = [
    ["-c", "pass"],
    ["-c", "import flowlab"],
    ["-m", "flowlab.cli", "--help"],
    *(["-m", "flowlab.cli", c, "--help"] for c in ("demo", "collect", "read", "report")),
]

_COUNT = """
import runpy, sys
if {cli}:
    sys.argv = ["flowlab", *{args!r}]
    try:
        runpy.run_module("flowlab.cli", run_name="__main__")
    except SystemExit:
        pass
{extra}
print(len(sys.modules))
"""


def _run(root: str, args: list[str], cold: bool) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": root}
    env.pop("PYTHONPYCACHEPREFIX", None)
    if cold:
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="flowlab-bench-")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], env=env, capture_output=True, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _modules(root: str, args: list[str]) -> int:
    code = _COUNT.format(
        cli=args[0] == "-m",
        args=args[2:],
        extra="import flowlab" if args == ["-c", "import flowlab"] else "",
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": root},
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.split()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
    p.add_argument("--runs", type=int, default=5)
    a = p.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs, root {a.root}")
    print("| command | warm: wall / CPU s | cold: wall / CPU s | modules |")
    print("|---|---|---|---|")
    for args in COMMANDS:
        cells = []
        for cold in (False, True):
            runs = [_run(a.root, args, cold) for _ in range(a.runs)]
            cells.append(f"{min(w for w, _ in runs):.2f} / {min(c for _, c in runs):.2f}")
        print(
            f"| `python3 {' '.join(args)}` | {cells[0]} | {cells[1]} | {_modules(a.root, args)} |"
        )


if __name__ == "__main__":
    main()
