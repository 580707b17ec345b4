"""Decode speed: flowlab vs tshark vs pmacct's sfacctd on the same OVS-like pcap.

Builds (once, cached) an OVS-like capture: several agents, 6 flow samples per
datagram with 128-byte headers and an extended-switch record (what Open
vSwitch sends with OVN-Kubernetes defaults), occasional counter datagrams with
OVS's extra records. Then, on the same file and in the same run:

- flowlab ``iter_pcap`` (streaming, Polars frames with IPs as text), one core
  (``POLARS_MAX_THREADS=1``), in a fresh process: CPU seconds, peak RSS;
- flowlab ``read_pcap`` (the whole file as one frame), for comparison;
- ``tshark -T fields`` with the fields flowlab's frame holds (agent, sampling rate,
  interfaces, frame length, MACs, VLAN, IPs, protocol, TTL, DSCP, ports, TCP flags);
- ``sfacctd`` reading the file with ``pcap_savefile``, print plugin
  aggregating by 5-tuple; its packet total is checked against flowlab's.

Every tool's process total is reported and, next to it, minus the same tool's
start-up cost measured on a one-packet file. A 10x larger file shows whether
time stays linear and memory bounded; every tool runs on both files (tshark
takes about 30 s on the large one; ``--no-tshark-large`` skips that).

Run::

    PYTHONPATH=$PWD python benchmarks/bench_decode.py            # 130k and 1.3M samples
    PYTHONPATH=$PWD python benchmarks/bench_decode.py --quick    # 20k and 200k samples
"""

from __future__ import annotations

import argparse
import csv
import ipaddress
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowlab.capture.pcap_write import udp_frame
from flowlab.sflow import records as r
from flowlab.sflow.encode import encode_datagram
from flowlab.sflow.packet import raw_header

PER_DATAGRAM = 6
AGENTS = [f"10.0.0.{i}" for i in range(1, 9)]
SERVICES = [(6, 443), (6, 6443), (6, 2379), (6, 2380), (17, 53), (6, 9090), (6, 9091), (6, 3000),
            (6, 8080), (6, 10250), (17, 6081), (6, 5432)]  # fmt: skip


def _pool(n: int, seed: int = 7) -> list[tuple[int, bytes]]:
    """n distinct datagrams (agent index, UDP frame) with realistic cluster traffic."""
    rng = random.Random(seed)
    pods = [str(ipaddress.IPv4Address(0x0A800000 + rng.randrange(1 << 18))) for _ in range(600)]
    out = []
    seq = 0
    for i in range(n):
        agent = i % len(AGENTS)
        if i % 97 == 96:  # counter polling: one datagram with per-port counters (+ OVS records)
            samples: list[r.Sample] = [
                r.CounterSample(
                    seq + k,
                    k + 1,
                    [
                        r.EthernetCounters(),
                        r.GenericInterfaceCounters(k + 1, in_octets=rng.randrange(1 << 40)),
                        r.UnknownRecord(r.COUNTERS_OPENFLOW_PORT, bytes(12)),
                        r.UnknownRecord(r.COUNTERS_PORT_NAME, b"\x00\x00\x00\x0bveth1234567\x00"),
                    ],
                )
                for k in range(4)
            ]
        else:
            samples = []
            for _ in range(PER_DATAGRAM):
                seq += 1
                proto, port = rng.choice(SERVICES)
                src, dst = rng.sample(pods, 2)
                size = rng.choice([0, 0, 0, 100, 500, 1448])
                head = raw_header(src, dst, proto, rng.randrange(32768, 61000), port,
                                  tcp_flags=rng.choice([0x10, 0x18, 0x02, 0x11]), payload_length=size,
                                  padding=b"\x45\x00")  # fmt: skip
                if rng.random() < 0.5:  # replies: server -> client
                    head = raw_header(
                        dst, src, proto, port, rng.randrange(32768, 61000), payload_length=size
                    )
                samples.append(r.FlowSample(seq, 0x3E8, 400, seq * 400, [head, r.ExtendedSwitch()],
                                            input_if=rng.randrange(1, 60), output_if=rng.randrange(1, 60),
                                            source_id_type=2))  # fmt: skip
        d = encode_datagram(r.Datagram(AGENTS[agent], 0, 1000 + i, samples))
        frame = bytearray(udp_frame(d, AGENTS[agent], "10.0.0.100", 6343, 6343))
        frame[40:42] = b"\x00\x00"  # UDP checksum 0 (allowed in IPv4): frames get patched below
        out.append((agent, bytes(frame)))
    return out


def build(path: Path, samples: int) -> dict[str, int]:
    """Write an OVS-like pcap with at least `samples` flow samples; return its census."""
    pool = _pool(4000)
    seqs = [0] * len(AGENTS)
    flows = datagrams = counters = 0
    t0 = 1_700_000_000
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        i = 0
        block: list[bytes] = []
        while flows < samples:
            agent, frame = pool[i % len(pool)]
            seqs[agent] += 1
            fr = bytearray(frame)
            fr[42 + 16 : 42 + 20] = struct.pack(">I", seqs[agent])  # datagram sequence number
            usec = i * 50
            block.append(
                struct.pack("<IIII", t0 + usec // 1_000_000, usec % 1_000_000, len(fr), len(fr))
            )
            block.append(bytes(fr))
            kind = struct.unpack_from(">I", frame, 42 + 28)[0]
            if kind == r.SAMPLE_FLOW:
                flows += PER_DATAGRAM
            else:
                counters += 4
            datagrams += 1
            i += 1
            if len(block) > 4096:
                f.write(b"".join(block))
                block.clear()
        f.write(b"".join(block))
    return {"datagrams": datagrams, "flow_samples": flows, "counter_samples": counters}


#: prepended to every measured command (``["taskset", "-c", "0"]`` pins them to one core)
PREFIX: list[str] = []


def measure(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run `cmd`: wall seconds, user+sys CPU seconds and peak RSS (MB) of its process tree.

    The CPU time is the kernel's own (``wait4``'s rusage, in microseconds), not GNU time's
    ``%U``/``%S``, which truncate to hundredths: on a 20 ms run that understated a peer by up
    to half. It counts the children the process waited for, as GNU time does.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen([*PREFIX, *cmd], stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            sys.stderr.write(err.read().decode(errors="replace")[-2000:])
            msg = f"{cmd[0]} failed with exit code {proc.returncode}"
            raise RuntimeError(msg)
        stdout = out.read().decode(errors="replace")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
            "stdout": stdout}  # type: ignore[dict-item]  # fmt: skip


def interleaved(
    runs: int, **work: tuple[Callable[..., dict[str, float]], tuple[Any, ...], dict[str, Any]]
) -> dict[str, dict[str, float]]:
    """Each ``work[name] = (run, args, kwargs)`` `runs` times (fresh processes), in turns (one
    run of each, then again), and per name the run of median CPU time, with ``cpu_runs``, all
    the CPU times, sorted.

    One run of a few tens of milliseconds moves by 10-30 % from one process to the next on this
    machine; the median of five moves by a few. In turns, so that flowlab and the tools it is
    compared with meet the same machine: its speed drifts by 10 % over minutes, and five runs of
    one program then five of the next put the drift into their ratio."""
    got: dict[str, list[dict[str, float]]] = {name: [] for name in work}
    for _ in range(max(1, runs)):
        for name, (run, args, kwargs) in work.items():
            got[name].append(run(*args, **kwargs))
    out = {}
    for name, results in got.items():
        results.sort(key=lambda m: m["cpu"])
        mid = dict(results[len(results) // 2])
        mid["cpu_runs"] = [m["cpu"] for m in results]  # type: ignore[assignment]
        out[name] = mid
    return out


FLOWLAB = textwrap.dedent(
    """
    import json, resource, sys, time
    t0 = time.process_time()
    from flowlab.capture.pcap import iter_pcap, read_pcap
    t1 = time.process_time()
    mode, path = sys.argv[1], sys.argv[2]
    rows = ip_rows = counters = lost = 0
    if mode == "stream":
        for b in iter_pcap(path):
            rows += b.flows.height
            ip_rows += b.flows["src_ip"].is_not_null().sum()
            counters += b.counters.height
            lost += b.stats.lost
    else:
        out = read_pcap(path)
        rows, counters, lost = out.flows.height, out.counters.height, out.stats.lost
        ip_rows = out.flows["src_ip"].is_not_null().sum()
    t2 = time.process_time()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "ip_rows": int(ip_rows), "counters": counters, "lost": lost,
                      "import_cpu": t1 - t0, "decode_cpu": t2 - t1, "rss_mb": rss}))
    """
)


def run_flowlab(path: Path, mode: str, threads: int) -> dict[str, float]:
    env = dict(os.environ, POLARS_MAX_THREADS=str(threads), OMP_NUM_THREADS="1")
    m = measure([sys.executable, "-c", FLOWLAB, mode, str(path)], env=env)
    m.update(json.loads(str(m.pop("stdout")).strip().splitlines()[-1]))
    return m


#: what flowlab's frame holds, as tshark fields (the sample sequence first: it counts the samples)
TSHARK_FIELDS = [
    "sflow.flow_sample.sequence_number", "sflow_245.agent", "sflow.flow_sample.sampling_rate",
    "sflow.flow_sample.input_interface", "sflow.flow_sample.output_interface",
    "sflow_245.header.frame_length", "eth.src", "eth.dst", "vlan.id", "ip.src", "ip.dst",
    "ip.proto", "ip.ttl", "ip.dsfield", "tcp.srcport", "tcp.dstport", "tcp.flags", "udp.srcport",
    "udp.dstport",
]  # fmt: skip


def run_tshark(path: Path) -> dict[str, float]:
    tshark = shutil.which("tshark")
    assert tshark, "install tshark (Debian package tshark)"
    fields = [x for f in TSHARK_FIELDS for x in ("-e", f)]
    m = measure([tshark, "-n", "-r", str(path), "-T", "fields", *fields])
    lines = str(m.pop("stdout")).splitlines()
    m["rows"] = sum(len(x.split("\t")[0].split(",")) for x in lines if x.split("\t")[0])
    return m


def run_sfacctd(path: Path, work: Path, daemon: str = "sfacctd") -> dict[str, float]:
    """pmacct's `daemon` (``sfacctd``; ``nfacctd`` for NetFlow/IPFIX) reading the pcap: rows = its packets."""
    sfacctd = shutil.which(daemon)
    assert sfacctd, "install pmacct (Debian package pmacct)"
    out = work / f"{daemon}-{path.stem}.csv"
    out.unlink(missing_ok=True)
    conf = work / f"{daemon}-{path.stem}.conf"
    conf.write_text(
        f"daemonize: false\npcap_savefile: {path}\nplugins: print[bench]\n"
        "aggregate[bench]: src_host, dst_host, src_port, dst_port, proto\n"
        f"print_output[bench]: csv\nprint_output_file[bench]: {out}\nprint_refresh_time[bench]: 3600\n"
        f"logfile: {work / (daemon + '.log')}\n"
    )
    m = measure([sfacctd, "-f", str(conf)])
    m.pop("stdout")
    with out.open() as f:
        m["rows"] = sum(int(row["PACKETS"]) for row in csv.DictReader(f)) if out.exists() else 0
    return m


def input_files(
    workdir: Path, stem: str, base: int, scale: int, make: Callable[[Path, int], dict[str, int]]
) -> dict[str, tuple[Path, dict[str, int]]]:
    """The base and large (x `scale`) input files, built once by `make` and cached with a census."""
    files = {}
    for name, n in (("base", base), ("large", base * scale)):
        path = workdir / f"{stem}-{n}.pcap"
        census_file = path.with_suffix(".json")
        if not (path.exists() and census_file.exists()):
            t = time.perf_counter()
            census_file.write_text(json.dumps(make(path, n)))
            print(f"built {path} in {time.perf_counter() - t:.1f} s", flush=True)
        files[name] = (path, json.loads(census_file.read_text()))
    return files


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--quick", action="store_true", help="20k and 200k samples instead of 130k and 1.3M"
    )
    ap.add_argument("--samples", type=int, help="flow samples in the base file")
    ap.add_argument(
        "--scale", type=int, default=10, help="size of the large file, x base (default 10)"
    )
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "flowlab-bench")
    ap.add_argument(
        "--threads", type=int, default=1, help="POLARS_MAX_THREADS for flowlab (default 1)"
    )
    ap.add_argument(
        "--no-tshark-large",
        action="store_true",
        help="run tshark on the base file only (it takes ~30 s on the large one)",
    )
    args = ap.parse_args()
    base = args.samples or (20_000 if args.quick else 130_000)
    args.workdir.mkdir(parents=True, exist_ok=True)
    files = input_files(args.workdir, "ovs-like", base, args.scale, build)
    tiny = args.workdir / "one-packet.pcap"
    with tiny.open("wb") as f, files["base"][0].open("rb") as src:
        head = src.read(24)
        rec = src.read(16)
        f.write(head + rec + src.read(struct.unpack("<I", rec[8:12])[0]))

    print(f"\nmachine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start "
          "(shared with other work: figures are CPU seconds, not wall time)")  # fmt: skip
    startup = {
        "flowlab": run_flowlab(tiny, "stream", args.threads),
        "tshark": run_tshark(tiny),
        "sfacctd": run_sfacctd(tiny, args.workdir),
    }
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, (path, census) in files.items():
        n = census["flow_samples"]
        print(f"\n== {name}: {path.name}: {census['datagrams']} datagrams, {n} flow samples, "
              f"{census['counter_samples']} counter samples, {path.stat().st_size / 1e6:.0f} MB")  # fmt: skip
        res: dict[str, dict[str, float]] = {}
        res["flowlab stream"] = run_flowlab(path, "stream", args.threads)
        if name == "base":
            res["flowlab read_pcap"] = run_flowlab(path, "read", args.threads)
        if name == "base" or not args.no_tshark_large:
            res["tshark"] = run_tshark(path)
        res["sfacctd"] = run_sfacctd(path, args.workdir)
        print(f"{'tool':18s} {'rows':>9s} {'cpu s':>7s} {'-start':>7s} {'samples/s':>11s} "
              f"{'wall s':>7s} {'peak MB':>8s}")  # fmt: skip
        for tool, m in res.items():
            key = tool.split()[0]
            work = m["cpu"] - startup[key]["cpu"]
            if key == "flowlab":  # measured inside the process: imports excluded
                work = m["decode_cpu"] - startup[key]["decode_cpu"]
            m["work_cpu"] = work
            m["rate"] = n / work if work > 0 else float("inf")
            print(f"{tool:18s} {int(m['rows']):9d} {m['cpu']:7.2f} {work:7.2f} {m['rate']:11,.0f} "
                  f"{m['wall']:7.2f} {m['rss_mb']:8.0f}")  # fmt: skip
        f = res["flowlab stream"]
        assert int(f["rows"]) == n, f"flowlab decoded {f['rows']} flow samples of {n}"
        assert int(res["sfacctd"]["rows"]) == int(f["ip_rows"]), (
            f"sfacctd counted {res['sfacctd']['rows']} sampled packets, flowlab {f['ip_rows']} IP rows"
        )
        if "tshark" in res:
            assert int(res["tshark"]["rows"]) == n, f"tshark saw {res['tshark']['rows']} samples"
        assert f["lost"] == 0
        print(f"flowlab/sfacctd: {f['rate'] / res['sfacctd']['rate']:.1f}x   ", end="")
        if "tshark" in res:
            print(f"flowlab/tshark: {f['rate'] / res['tshark']['rate']:.1f}x", end="")
        print(f"   (flowlab process total incl. imports: {n / f['cpu']:,.0f} samples/s)")
        results[name] = res
    b, big = results["base"]["flowlab stream"], results["large"]["flowlab stream"]
    print(f"\nscaling x{args.scale}: flowlab decode CPU {big['work_cpu'] / b['work_cpu']:.1f}x, "
          f"peak RSS {b['rss_mb']:.0f} -> {big['rss_mb']:.0f} MB; "
          f"sfacctd CPU {results['large']['sfacctd']['work_cpu'] / results['base']['sfacctd']['work_cpu']:.1f}x")  # fmt: skip
    print(f"targets: >= 1M samples/s ({b['rate'] / 1e6:.2f}M), >= 3x sfacctd, >= 30x tshark, "
          f"<= 300 MB peak streaming {base * args.scale:,} samples ({big['rss_mb']:.0f} MB)")  # fmt: skip


if __name__ == "__main__":
    main()
