"""Shared data and helpers of the collector/capture/decoder fault tests (tests/faults)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


def pcap_frames(name: str = "ovs-default") -> list[tuple[int, int, bytes]]:
    """(seconds, microseconds, Ethernet frame) of each packet of a classic little-endian pcap."""
    raw = (DATA / f"{name}.pcap").read_bytes()
    assert raw[:4] == b"\xd4\xc3\xb2\xa1"
    out, pos = [], 24
    while pos + 16 <= len(raw):
        sec, usec, incl, _orig = struct.unpack_from("<IIII", raw, pos)
        out.append((sec, usec, raw[pos + 16 : pos + 16 + incl]))
        pos += 16 + incl
    return out


def ovs_datagrams(name: str = "ovs-default") -> list[bytes]:
    """The sFlow datagrams (UDP payloads) Open vSwitch sent in a capture of ``tests/data``."""
    grams = []
    for _s, _u, frame in pcap_frames(name):
        assert frame[12:14] == b"\x08\x00"  # IPv4, as captured on lo
        ihl = (frame[14] & 0x0F) * 4
        udp = 14 + ihl
        grams.append(frame[udp + 8 : udp + struct.unpack_from("!H", frame, udp + 4)[0]])
    return grams


def renumbered(grams: Sequence[bytes], start: int) -> list[bytes]:
    """The datagrams with datagram sequence numbers ``start, start+1, ...`` per agent stream."""
    out = []
    for i, g in enumerate(grams):
        seq_at = 16 if struct.unpack_from("!I", g, 4)[0] == 1 else 28
        b = bytearray(g)
        struct.pack_into("!I", b, seq_at, (start + i) & 0xFFFFFFFF)
        out.append(bytes(b))
    return out


def replay(grams: Iterable[bytes], address: tuple[str, int], *, per_second: float = 20_000) -> int:
    """Send datagrams over loopback UDP, paced; returns how many were sent."""
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    n = 0
    t0 = time.monotonic()
    try:
        for g in grams:
            tx.sendto(g, address)
            n += 1
            ahead = n / per_second - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
    finally:
        tx.close()
    return n


def expected_rows(grams: Sequence[bytes]) -> tuple[int, int]:
    """(flows, counters) the decoder makes of these datagrams."""
    from flowlab.sflow.decode import decode

    buf = b"".join(grams)
    offsets, pos = [], 0
    for g in grams:
        offsets.append(pos)
        pos += len(g)
    out = decode(buf, offsets, [len(g) for g in grams], received_ms=1_700_000_000_000)
    return out.stats.flows, out.stats.counters


def can_mount_tmpfs() -> bool:
    """Whether this machine lets us mount a tmpfs in a private mount namespace (root, util-linux)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         "mount -t tmpfs -o size=64k flowlab-probe /mnt && umount /mnt"],
        capture_output=True, check=False,
    )  # fmt: skip
    return probe.returncode == 0


needs_tmpfs = pytest.mark.skipif(
    not can_mount_tmpfs(), reason="needs root and unshare/nsenter to mount a private tmpfs"
)


def free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


_HOLDER = r"""
if [ -n "$4" ]; then mount -t tmpfs -o "size=$4" flowlab-fault "$1" || exit 97; fi
shift 4
"$@" &
echo "$!"
wait "$!"
echo "$?"
read _ || true
"""


class CollectCommand:
    """``flowlab collect`` as a real process; with `tmpfs`, writing into a tmpfs of that size
    mounted at `out` in a private mount namespace (``unshare -m``) that only it sees.

    A shell holds the namespace (and so the tmpfs) until :meth:`close`, so the
    files can be read (through ``/proc/PID/root``) after the collector exits.
    """

    def __init__(
        self, out: Path, log: Path, *, tmpfs: str | None = None, args: Sequence[str] = ()
    ) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out, self.log = out, log
        self.port = free_port()
        self.address = ("127.0.0.1", self.port)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        command = [
            "sh", "-c", f'exec "$0" -m flowlab.cli collect "$@" 2>>{log}',
            os.environ.get("PYTHON", __import__("sys").executable),
            "--listen", f"127.0.0.1:{self.port}", "--out", str(out), *args,
        ]  # fmt: skip
        prefix = ["unshare", "-m", "--propagation", "private"] if tmpfs else []
        self.proc = subprocess.Popen(
            [*prefix, "sh", "-c", _HOLDER, "holder", str(out), "", "", tmpfs or "", *command],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.strip():
            self.proc.wait()
            pytest.fail(f"the collector did not start (holder exit {self.proc.returncode})")
        self.pid = int(line)
        self.returncode: int | None = None
        self.wait_for("flowlab collect: datagrams", timeout=60)  # started: a first status line

    @property
    def root(self) -> Path:
        """The capture directory as the collector's mount namespace sees it."""
        return Path(f"/proc/{self.proc.pid}/root") / self.out.relative_to("/")

    def stderr(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            err = self.stderr()
            if text in err:
                return err
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail(f"no {text!r} from the collector within {timeout} s; stderr:\n{self.stderr()}")

    def wait_files(self, timeout: float = 30.0) -> None:
        """Wait until a status line reports part files written."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(r"files [1-9]", self.stderr()):
                return
            time.sleep(0.1)
        pytest.fail(f"no part file within {timeout} s; stderr:\n{self.stderr()}")

    def mount(self, options: str) -> None:
        """Remount the tmpfs (``size=16m``, ``ro``, ``rw``) from inside the namespace."""
        subprocess.run(
            ["nsenter", "-t", str(self.proc.pid), "-m", "mount", "-o", f"remount,{options}",
             str(self.out)],
            check=True, capture_output=True,
        )  # fmt: skip

    def stop(self, sig: int | None = 15) -> int:
        """Send `sig` to the collector (None: none, it ends on its own); its exit status."""
        if self.returncode is not None:
            return self.returncode
        if sig is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until the collector exits
        self.returncode = int(line) if line.strip() else -1
        return self.returncode

    def children(self) -> list[int]:
        """Process ids of the collector's children (its receive process)."""
        try:
            tasks = Path(f"/proc/{self.pid}/task").iterdir()
            return [int(c) for t in tasks for c in (t / "children").read_text().split()]
        except OSError:
            return []

    def close(self) -> None:
        if self.returncode is None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, 9)
            assert self.proc.stdout is not None
            self.proc.stdout.readline()
        if self.proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def status(stderr: str) -> dict[str, int]:
    """Figures of the collector's last status line (``datagrams``, ``kernel drops``, ``UNWRITTEN rows``)."""
    line = [x for x in stderr.splitlines() if "flowlab collect: stopped:" in x][-1]
    return {k: int(v.replace(",", "")) for v, k in ((m[1], m[0]) for m in re.findall(
        r"(datagrams|kernel drops|UNWRITTEN rows|files) ([\d,]+)", line))}  # fmt: skip
