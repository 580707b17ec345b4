"""The real tshark as a field-by-field oracle for the decoders' tests (sFlow, NetFlow/IPFIX)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path


def tshark_fields(
    path: str | Path,
    fields: list[str],
    *,
    port: int,
    dissector: str,
    options: Sequence[str] = (),
    timeout: float = 300,
) -> list[dict[str, list[str]]]:
    """tshark's dissection of `path` (UDP `port` decoded as `dissector`): one dict per packet,
    every occurrence of each field."""
    tshark = shutil.which("tshark")
    assert tshark, "tshark is required (Debian package tshark, see scripts/apt-packages.txt)"
    cmd = [tshark, "-r", str(path), "-n", "-d", f"udp.port=={port},{dissector}", *options,
           "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,"]  # fmt: skip
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout).stdout
    rows = []
    for line in out.splitlines():
        values = line.split("|")
        rows.append({f: (v.split(",") if v else []) for f, v in zip(fields, values)})
    return rows
