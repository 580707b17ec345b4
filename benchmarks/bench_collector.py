"""Collector throughput: flowlab's live collector vs pmacct's sfacctd over loopback UDP.

A sender in a separate process replays real encoded sFlow datagrams (the
demo cluster's, six agents, a few flow samples each, counters every 30 s) on
loopback at a controlled rate for a fixed time, renumbering the datagram
sequences on every pass so that sequence accounting stays exact. The
receiver is either flowlab's :class:`~flowlab.collect.collector.Collector`
(receive, decode, write hour-partitioned Parquet) or ``sfacctd`` (print
plugin writing CSV, aggregated by 5-tuple, no renormalisation, so the sum of
its ``packets`` column counts the flow samples it accounted). For each rate the
table shows what was sent, what arrived, the kernel's receive drops
(``/proc/net/udp``), flowlab's sequence-gap losses, samples accounted, CPU
seconds of the receiver (flowlab: its process plus its receive process) and
of the sender while sending. The highest rate without loss is reported per
tool. The ``receive`` rows measure flowlab's receive loop alone (batches are
dropped instead of decoded), the ``flowlab`` rows the whole collector.

Run::

    PYTHONPATH=$PWD python benchmarks/bench_collector.py            # 10 s per rate
    PYTHONPATH=$PWD python benchmarks/bench_collector.py --quick    # 2 s per rate, fewer rates

Real Open vSwitch datagrams (``tests/data``'s two OVS 3.1 captures, 5.64 flow samples and
1,143 bytes per datagram, counter datagrams with OVS's 1004/1005/2203/2207 records) instead of
the demo's, and goflow2 beside sfacctd::

    go install github.com/netsampler/goflow2/v2/cmd/goflow2@latest   # once; into ~/go/bin
    PYTHONPATH=$PWD python benchmarks/bench_collector.py --real --goflow2 --tools flowlab,sfacctd,goflow2

goflow2 runs with its throughput settings (``GOFLOW2_LISTEN``: 2 SO_REUSEPORT sockets,
4 workers, non-blocking with a 1M queue), JSON to a file; it sets no socket buffer, so it
gets ``net.core.rmem_default``.

Needs ``sfacctd`` (Debian package ``pmacct``) for the comparison; without it
only flowlab is measured. The figures depend on the machine's load: the
sender and the receiver share its cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flowlab.collect._mmsg import Outbox

_SEQ_OFFSET = 16  # IPv4 agent: version, address type, address, sub-agent id, then the sequence


@dataclass
class Run:
    tool: str
    target: float
    sent: int
    seconds: float
    received: int
    kernel_drops: int
    sequence_lost: int | None
    samples_sent: int
    samples: int
    cpu: float
    rcvbuf: int
    sender_cpu: float = 0.0

    @property
    def lost(self) -> int:
        return self.sent - self.received

    @property
    def rate(self) -> float:
        return self.received / self.seconds if self.seconds else 0.0


# -- the sender (separate process) --------------------------------------------------------------


def _sender(port: int, rate: float, seconds: float, path: str) -> None:
    z = np.load(path)
    blob, lengths, agents, seqs = z["data"], z["lengths"], z["agents"], z["seqs"]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    datagrams = [bytes(blob[s : s + n]) for s, n in zip(starts, lengths)]
    out = Outbox(datagrams)
    # sequence step per pass: sFlow counts datagrams per agent; others give theirs ("seq_step",
    # with the sequence's offset "seq_offset": IPFIX counts records)
    per_agent = z["seq_step"] if "seq_step" in z else np.bincount(agents)[agents].astype(np.int64)
    seq_at = int(z["seq_offset"]) if "seq_offset" in z else _SEQ_OFFSET
    pos = (out.starts + seq_at)[:, None] + np.arange(4)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", port))
    use = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = use.ru_utime + use.ru_stime  # set-up excluded: the sender's CPU while sending
    sent = 0
    index = 0
    rounds = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        now = time.perf_counter()
        if now >= deadline:
            break
        due = math.inf if rate <= 0 else (now - t0) * rate
        if sent >= due:
            time.sleep(0.0002)
            continue
        chunk = int(min(1024, out.count - index, due - sent if rate > 0 else 1024))
        chunk = max(chunk, 1)
        sent += out.send(sock, index, chunk)
        index += chunk
        if index == out.count:  # next pass: renumber every agent's sequences onward
            rounds += 1
            index = 0
            new = ((seqs + rounds * per_agent) % (1 << 32)).astype(">u4")
            out.buffer[pos] = new.view(np.uint8).reshape(-1, 4)
    elapsed = time.perf_counter() - t0
    sock.close()
    use = resource.getrusage(resource.RUSAGE_SELF)
    total = use.ru_utime + use.ru_stime
    print(json.dumps({"sent": sent, "seconds": elapsed, "rounds": rounds, "cpu": total - cpu0,
                      "sender_total": total}))  # fmt: skip


def _start_sender(port: int, rate: float, seconds: float, path: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--_send", str(port), str(rate), str(seconds), path],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def _samples_sent(sent: int, per_datagram: np.ndarray) -> int:
    full, rest = divmod(sent, len(per_datagram))
    return int(full * per_datagram.sum() + per_datagram[:rest].sum())


# -- flowlab ------------------------------------------------------------------------------------


#: what flowlab asks for (root gets it: SO_RCVBUFFORCE): --rcvbuf; where its receive loop runs: --receive
SETTINGS: dict[str, Any] = {"rcvbuf": 64 << 20, "receive": "auto", "protocol": "sflow"}
#: the pmacct daemon of the protocol (``sfacctd``; ``nfacctd`` for NetFlow/IPFIX)
PMACCT = "sfacctd"


def run_flowlab(rate: float, seconds: float, path: str, flow_samples: np.ndarray) -> Run:
    from flowlab.collect.collector import Collector

    out = tempfile.mkdtemp(prefix="bench-flowlab-")
    try:
        cpu0 = _cpu_self_and_children()
        col = Collector(
            "127.0.0.1:0",
            out_dir=out,
            roll_seconds=5,
            rcvbuf=SETTINGS["rcvbuf"],
            receive=SETTINGS["receive"],
            protocol=SETTINGS["protocol"],
        ).start()
        sender = _start_sender(col.address[1], rate, seconds, path)
        report = json.loads(sender.communicate()[0])
        stats = col.stop()
        cpu1 = _cpu_self_and_children()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return Run(
        "flowlab",
        rate,
        report["sent"],
        report["seconds"],
        stats.datagrams,
        stats.kernel_drops or 0,
        stats.sequence_lost,
        _samples_sent(report["sent"], flow_samples),
        stats.flow_samples if SETTINGS["protocol"] == "sflow" else stats.flows,
        cpu1 - cpu0 - report["sender_total"],  # this process + the receive process
        stats.rcvbuf,
        report["cpu"],
    )


def _cpu_self_and_children() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def run_receive_only(rate: float, seconds: float, path: str, flow_samples: np.ndarray) -> Run:
    """flowlab's receive loop alone (batches are handed over and dropped, not decoded)."""
    import queue
    import threading

    from flowlab.collect.receiver import Batch, Receiver
    from flowlab.collect.udp import open_socket

    sock, granted = open_socket("127.0.0.1:0", rcvbuf=SETTINGS["rcvbuf"])
    batches: queue.Queue[Batch | None] = queue.Queue()
    receiver = Receiver(sock, batches)

    def discard() -> None:
        while (batch := batches.get()) is not None:
            receiver.release(batch)

    drain = threading.Thread(target=discard)
    drain.start()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    receiver.start()
    sender = _start_sender(sock.getsockname()[1], rate, seconds, path)
    report = json.loads(sender.communicate()[0])
    receiver.stop()
    drain.join()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    got = receiver.stats.datagrams
    return Run("receive", rate, report["sent"], report["seconds"], got, receiver.final_drops or 0,
               None, _samples_sent(report["sent"], flow_samples), _samples_sent(got, flow_samples),
               (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime), granted,
               report["cpu"])  # fmt: skip


# -- sfacctd ------------------------------------------------------------------------------------


def _free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def _proc_udp(port: int) -> tuple[int, int] | None:
    """(drops, receive-queue bytes) of the UDP socket bound to 127.0.0.1:port."""
    local = f"0100007F:{port:04X}"
    found = None
    with open("/proc/net/udp") as fh:  # summed over the sockets sharing it (SO_REUSEPORT)
        for line in fh:
            f = line.split()
            if len(f) > 12 and f[1] == local:
                d, q = found or (0, 0)
                found = (d + int(f[-1]), q + int(f[4].split(":")[1], 16))
    return found


def _cpu_of_tree(pid: int) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(entry) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _send_when_bound(port: int, rate: float, seconds: float, path: str) -> dict[str, Any]:
    """Wait (up to 10 s) for a receiver's socket on `port`, then run the sender; its report."""
    deadline = time.monotonic() + 10
    while _proc_udp(port) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    sender = _start_sender(port, rate, seconds, path)
    report: dict[str, Any] = json.loads(sender.communicate()[0])
    return report


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Interrupt a receiver (SIGINT: it flushes), kill it if it does not exit within 10 s."""
    proc.send_signal(2)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def run_sfacctd(rate: float, seconds: float, path: str, flow_samples: np.ndarray) -> Run:
    work = Path(tempfile.mkdtemp(prefix="bench-sfacctd-"))
    port = _free_port()
    (work / "sfacctd.conf").write_text(
        "\n".join(
            [
                "daemonize: false",
                f"{PMACCT}_ip: 127.0.0.1",
                f"{PMACCT}_port: {port}",
                f"{PMACCT}_pipe_size: {64 << 20}",
                f"{PMACCT}_renormalize: false",
                "plugins: print[bench]",
                "aggregate[bench]: src_host, dst_host, src_port, dst_port, proto",
                "print_output[bench]: csv",
                f"print_output_file[bench]: {work}/out.csv",
                "print_output_file_append[bench]: true",
                "print_refresh_time[bench]: 1",
                f"plugin_pipe_size[bench]: {256 << 20}",
                f"plugin_buffer_size[bench]: {1 << 20}",
                f"logfile: {work}/{PMACCT}.log",
                "",
            ]
        )
    )
    proc = subprocess.Popen([PMACCT, "-f", str(work / "sfacctd.conf")])
    try:
        report = _send_when_bound(port, rate, seconds, path)
        while True:  # let it read what waits in its socket
            state = _proc_udp(port)
            if state is None or state[1] == 0:
                break
            time.sleep(0.1)
        time.sleep(2.5)  # two print refreshes
        drops = (state or (0, 0))[0]
        cpu = _cpu_of_tree(proc.pid)
        log = (work / f"{PMACCT}.log").read_text() if (work / f"{PMACCT}.log").exists() else ""
    finally:
        _stop(proc)
    samples = 0
    if (work / "out.csv").exists():
        with open(work / "out.csv") as fh:
            for row in csv.reader(fh):
                if row and row[-1].isdigit() and row[-2].isdigit():
                    samples += int(row[-2])  # PACKETS (BYTES is last)
    granted = 0
    for line in log.splitlines():
        if f"{PMACCT}_pipe_size: obtained=" in line:
            granted = int(line.split("obtained=")[1].split()[0])
    shutil.rmtree(work, ignore_errors=True)
    return Run(PMACCT, rate, report["sent"], report["seconds"], report["sent"] - drops, drops,
               None, _samples_sent(report["sent"], flow_samples), samples, cpu, granted,
               report["cpu"])  # fmt: skip


#: goflow2's documented throughput settings: several SO_REUSEPORT sockets, more workers,
#: non-blocking mode with a large queue
GOFLOW2_LISTEN = "sflow://127.0.0.1:{port}?count=2&workers=4&blocking=false&queue_size=1000000"


def run_goflow2(rate: float, seconds: float, path: str, flow_samples: np.ndarray) -> Run:
    """goflow2 (``go install github.com/netsampler/goflow2/v2/cmd/goflow2@latest``), JSON to a file."""
    exe = shutil.which("goflow2") or str(Path.home() / "go" / "bin" / "goflow2")
    work = Path(tempfile.mkdtemp(prefix="bench-goflow2-"))
    port = _free_port()
    out = work / "flows.json"
    cmd = [exe, "-listen", GOFLOW2_LISTEN.format(port=port), "-format", "json",
           "-transport", "file", "-transport.file", str(out), "-addr", "127.0.0.1:0",
           "-loglevel", "error"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    try:
        report = _send_when_bound(port, rate, seconds, path)
        while (state := _proc_udp(port)) is not None and state[1]:
            time.sleep(0.1)
        time.sleep(2.0)  # its queue and file writer
        drops = (state or (0, 0))[0]
        cpu = _cpu_of_tree(proc.pid)
    finally:
        _stop(proc)
    samples = 0
    if out.exists():  # one JSON line per flow sample (counter samples are not written)
        with out.open("rb") as fh:
            samples = sum(1 for line in fh if line.strip())
    shutil.rmtree(work, ignore_errors=True)
    rcvbuf = int(Path("/proc/sys/net/core/rmem_default").read_text())  # goflow2 sets none
    return Run("goflow2", rate, report["sent"], report["seconds"], report["sent"] - drops, drops,
               None, _samples_sent(report["sent"], flow_samples), samples, cpu, rcvbuf,
               report["cpu"])  # fmt: skip


# -- driver -------------------------------------------------------------------------------------


def _datagrams(path: str, seconds: float) -> tuple[np.ndarray, float]:
    from flowlab.demo import simulate

    sim = simulate(seconds=seconds, seed=0)
    grams = sim.datagrams
    data = np.frombuffer(b"".join(g.data for g in grams), dtype=np.uint8)
    np.savez(
        path,
        data=data,
        lengths=np.array([len(g.data) for g in grams]),
        agents=np.array([g.agent for g in grams]),
        seqs=np.array([g.sequence for g in grams], dtype=np.int64),
    )
    per = np.array([g.flow_samples for g in grams], dtype=np.int64)
    return per, float(np.mean([len(g.data) for g in grams]))


def _real(path: str, count: int = 6400) -> tuple[np.ndarray, np.ndarray, float]:
    """Real Open vSwitch datagrams (tests/data, one agent), repeated and renumbered 1..count."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _real_ovs import flow_samples, real_datagrams, renumbered

    _heads, grams, flows = real_datagrams()
    ip = [flow_samples(g, ip_only=True) for g in grams]
    block = renumbered([grams[i % len(grams)] for i in range(count)], 1)
    np.savez(
        path,
        data=np.frombuffer(b"".join(block), dtype=np.uint8),
        lengths=np.array([len(g) for g in block]),
        agents=np.zeros(count, dtype=np.int64),
        seqs=np.arange(1, count + 1, dtype=np.int64),
    )
    per = np.array([flows[i % len(flows)] for i in range(count)], dtype=np.int64)
    per_ip = np.array([ip[i % len(ip)] for i in range(count)], dtype=np.int64)
    return per, per_ip, float(np.mean([len(g) for g in block]))


def _row(r: Run) -> str:
    target = "max" if r.target <= 0 else f"{r.target / 1000:.0f}k"
    seq = "-" if r.sequence_lost is None else f"{r.sequence_lost:,}"
    return (
        f"{r.tool:<8} {target:>6} {r.sent:>11,} {r.sent / r.seconds:>10,.0f} {r.received:>11,} "
        f"{r.lost:>9,} {r.kernel_drops:>9,} {seq:>9} {r.samples:>12,}/{r.samples_sent:<12,} "
        f"{r.rate:>10,.0f} {r.cpu:>6.1f} {r.sender_cpu:>6.1f} {r.rcvbuf / 2**20:>6.1f}M"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2 s per rate and fewer rates")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per rate (default 10)")
    parser.add_argument(
        "--rates", default=None, help="comma-separated datagrams/s (0 = as fast as possible)"
    )
    parser.add_argument("--no-sfacctd", action="store_true", help="measure flowlab only")
    parser.add_argument(
        "--tools", default=None, help="comma-separated subset of receive,flowlab,sfacctd,goflow2"
    )
    parser.add_argument("--rcvbuf", type=int, default=SETTINGS["rcvbuf"],
                        help="receive buffer flowlab asks for, bytes (sfacctd gets net.core.rmem_max)")  # fmt: skip
    parser.add_argument("--receive", choices=["auto", "process", "thread"], default="auto",
                        help="where flowlab's receive loop runs (Collector(receive=...))")  # fmt: skip
    parser.add_argument("--goflow2", action="store_true",
                        help="also measure goflow2 (go install github.com/netsampler/goflow2/v2/cmd/goflow2@latest)")  # fmt: skip
    parser.add_argument("--real", action="store_true",
                        help="replay the real Open vSwitch datagrams of tests/data instead of the demo's")  # fmt: skip
    parser.add_argument("--_send", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._send:
        port, rate, secs, path = args._send
        _sender(int(port), float(rate), float(secs), path)
        return
    SETTINGS["rcvbuf"] = args.rcvbuf
    SETTINGS["receive"] = args.receive
    seconds = args.seconds or (2.0 if args.quick else 10.0)
    default = "100000,200000,0" if args.quick else "50000,100000,150000,200000,250000,0"
    rates = [float(x) for x in (args.rates or default).split(",")]
    tools = ["receive", "flowlab"]
    if not args.no_sfacctd:
        if shutil.which("sfacctd"):
            tools.append("sfacctd")
        else:
            print("sfacctd not found (apt-get install pmacct): measuring flowlab only")
    if args.goflow2:
        tools.append("goflow2")
    if args.tools:
        tools = [t for t in tools if t in args.tools.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "datagrams.npz")
        if args.real:  # sfacctd accounts IP samples only: the captures' ARP/ND samples are not
            per, per_ip, size = _real(path)
        else:
            per, size = _datagrams(path, 600)
            per_ip = per
        what = "real Open vSwitch datagrams (1 agent" if args.real else "demo datagrams (6 agents"
        print(f"replaying {len(per):,} {what}, {per.mean():.2f} flow samples and "
              f"{size:.0f} bytes each on average), {seconds:g} s per rate; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
        header = (
            f"{'tool':<8} {'target':>6} {'sent':>11} {'sent/s':>10} {'received':>11} {'lost':>9} "
            f"{'kdrops':>9} {'seq-gap':>9} {'flow samples got/sent':>25} {'recv/s':>10} {'CPU s':>6} "
            f"{'send s':>6} {'rcvbuf':>7}"
        )
        print(header)
        print("-" * len(header))
        best: dict[str, float] = {}
        sender_max: dict[str, float] = {}
        for tool in tools:
            runner = {"receive": run_receive_only, "flowlab": run_flowlab, "sfacctd": run_sfacctd,
                      "goflow2": run_goflow2}[tool]  # fmt: skip
            for rate in rates:
                r = runner(rate, seconds, path, per_ip if tool == "sfacctd" else per)
                print(_row(r), flush=True)
                sender_max[tool] = max(sender_max.get(tool, 0.0), r.sent / r.seconds)
                if r.lost == 0 and r.samples == r.samples_sent:
                    best[tool] = max(best.get(tool, 0.0), r.rate)
                elif rate > 0:
                    rates_left = [x for x in rates if x <= 0]
                    for extra in rates_left:
                        r = runner(extra, seconds, path, per_ip if tool == "sfacctd" else per)
                        print(_row(r), flush=True)
                        sender_max[tool] = max(sender_max[tool], r.sent / r.seconds)
                    break
        print()
        for tool in tools:
            print(f"{tool}: highest rate with nothing lost: {best.get(tool, 0):,.0f} datagrams/s")
            if tool in best and best[tool] >= max(sender_max.get(tool, 0.0), 1.0) * 0.98:
                print(
                    f"  (= the most the sender reached: {tool} kept up with everything it was sent)"
                )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process (flowlab's collector ran in it): {peak:,.0f} MiB")
        if best.get("flowlab") and best.get("sfacctd"):
            print(f"ratio flowlab/sfacctd: {best['flowlab'] / best['sfacctd']:.2f}")


if __name__ == "__main__":
    main()
