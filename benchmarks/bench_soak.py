"""Soak: a live collector at 50k real datagrams/s for 60 s, rolling part files every 5 s.

A sender process replays the real Open vSwitch datagrams of
``tests/data/ovs-default.pcap`` over loopback UDP at a fixed rate, renumbering
their sequence numbers on every pass (so every datagram is new and gaps are
exact). flowlab's :class:`~flowlab.collect.collector.Collector` (receive
process, decode thread, hour-partitioned Parquet with ``roll_seconds=5``)
receives them. Every second the script records the resident memory (RSS) of
the collector and of its receive process; at the end it compares rows in (what
the decoder makes of every datagram sent, computed offline) with rows decoded,
rows stored (read back from the Parquet files) and the kernel's drops.

Run (root not needed)::

    PYTHONPATH=$PWD python benchmarks/bench_soak.py                 # 60 s at 50k/s
    PYTHONPATH=$PWD python benchmarks/bench_soak.py --seconds 10    # shorter

The machine's load matters: the sender, the receive process and the decoder
share its cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "faults"))
from fault_data import ovs_datagrams, renumbered

from flowlab.collect._mmsg import Outbox

BLOCK = 1000  # datagrams laid out once; renumbered by BLOCK on every pass


def _block() -> list[bytes]:
    grams = ovs_datagrams()
    return renumbered([grams[i % len(grams)] for i in range(BLOCK)], 1)


def _sender(port: int, rate: float, seconds: float) -> None:
    block = _block()
    out = Outbox(block)
    seq_at = (out.starts + 16)[:, None] + np.arange(4)  # IPv4 agent: the sequence is word 4
    first = np.arange(1, BLOCK + 1, dtype=np.int64)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", port))
    sent = index = rounds = 0
    t0 = time.perf_counter()
    while (now := time.perf_counter()) < t0 + seconds:
        due = (now - t0) * rate
        if sent >= due:
            time.sleep(0.0002)
            continue
        chunk = max(1, int(min(1024, out.count - index, due - sent)))
        sent += out.send(sock, index, chunk)
        index += chunk
        if index == out.count:
            rounds += 1
            index = 0
            new = ((first + rounds * BLOCK) % (1 << 32)).astype(">u4")
            out.buffer[seq_at] = new.view(np.uint8).reshape(-1, 4)
    sock.close()
    print(json.dumps({"sent": sent, "seconds": time.perf_counter() - t0}))


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _rows_in(sent: int) -> int:
    """Rows the decoder makes of the first `sent` datagrams of the replay (offline)."""
    from flowlab.sflow.decode import decode

    block = _block()
    lens = [len(g) for g in block]
    offs = np.concatenate([[0], np.cumsum(lens[:-1])]).astype(np.int64)
    buf = b"".join(block)
    per = decode(buf, offs, lens, received_ms=0)
    full, rest = divmod(sent, BLOCK)
    tail = decode(buf, offs[:rest], lens[:rest], received_ms=0) if rest else None
    rows = full * (per.stats.flows + per.stats.counters)
    return rows + (tail.stats.flows + tail.stats.counters if tail else 0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=50_000, help="datagrams/s (50000)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to send (60)")
    parser.add_argument("--roll-seconds", type=float, default=5.0, help="part file roll (5)")
    parser.add_argument("--_send", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._send:
        _sender(int(args._send[0]), float(args._send[1]), float(args._send[2]))
        return

    from flowlab.collect.collector import Collector
    from flowlab.store import read_capture

    out = Path(tempfile.mkdtemp(prefix="flowlab-soak-"))
    col = Collector("127.0.0.1:0", out_dir=out, roll_seconds=args.roll_seconds).start()
    child = getattr(getattr(col._listeners[0].receiver, "_proc", None), "pid", None)
    sender = subprocess.Popen(
        [sys.executable, __file__, "--_send", str(col.address[1]), str(args.rate), str(args.seconds)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    samples: list[tuple[float, int, int, int, int]] = []
    t0 = time.monotonic()
    while sender.poll() is None:
        time.sleep(1.0)
        s = col.stats
        samples.append((time.monotonic() - t0, _rss(os.getpid()),
                        _rss(child) if child else 0, s.datagrams, s.files))  # fmt: skip
    report = json.loads(sender.stdout.read() if sender.stdout else "{}")
    stats = col.stop()
    seconds = time.monotonic() - t0
    stored = read_capture(out).height + read_capture(out, kind="counters").height
    rows_in = _rows_in(report["sent"])
    print(f"soak: {report['sent']:,} datagrams sent in {report['seconds']:.1f} s "
          f"({report['sent'] / report['seconds']:,.0f}/s), roll every {args.roll_seconds:g} s, "
          f"receive={col.receive}")  # fmt: skip
    print(f"{'t (s)':>6} {'collector RSS':>14} {'receive RSS':>12} {'datagrams':>11} {'files':>6}")
    step = max(1, math.ceil(len(samples) / 13))
    for t, rss, crss, n, files in samples[::step] + samples[-1:]:
        print(f"{t:>6.0f} {rss / 2**20:>12.0f} M {crss / 2**20:>10.0f} M {n:>11,} {files:>6,}")
    peak = max((r for _, r, *_ in samples), default=0)
    print(f"peak collector RSS {peak / 2**20:.0f} MiB; received {stats.datagrams:,}, "
          f"kernel drops {stats.kernel_drops}, sequence-gap lost {stats.sequence_lost:,}, "
          f"decode errors {stats.errors:,}")  # fmt: skip
    print(f"rows in {rows_in:,}, decoded {stats.flows + stats.counters:,}, written "
          f"{stats.rows_written:,} in {stats.files:,} files, read back {stored:,}, "
          f"unwritten {stats.unwritten_rows:,}; total {seconds:.0f} s")  # fmt: skip
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
