"""IPFIX and NetFlow v5 decode speed on real Open vSwitch captures: flowlab vs nfacctd, goflow2, tshark.

The inputs are built from the real captures of Open vSwitch 3.1's exporters in ``tests/data``
(see ``tests/data/README.md``):

- **IPFIX**: ``ovs-ipfix-ovnk``, ``ovs-ipfix-netobserv`` and ``ovs-ipfix-sampling1`` one after
  the other (348 datagrams: 88 templates and an options template at the start of each, as OVS
  re-sends them every 600 s, then 288 data records, nearly all one per datagram: OVN-Kubernetes
  turns the cache off), the whole repeated x80 and x800 (``--scale``);
- **NetFlow v5**: ``ovs-netflow`` (2 datagrams, 26 records) repeated x800 and x8000
  (``--netflow-scale``; x80 would be 160 datagrams, start-up costs only).

Sequence numbers are renumbered so that the file reads as one exporter's stream without gaps:
IPFIX's counts the data records sent before the message (OVS counts its options data records
too), NetFlow v5's ``flow_sequence`` is OVS's (the index of the datagram's last record).
UDP checksums are zeroed (allowed in IPv4).

Every measurement runs pinned to one core (``taskset -c 0``, ``POLARS_MAX_THREADS=1``) and counts
CPU seconds (user+sys, the kernel's microsecond figures: see ``bench_decode.measure``), so a busy
machine changes the figures less; the load average is printed. flowlab's, nfacctd's and goflow2's
``-format bin`` figures are each the median of ``--runs`` fresh processes (default 5; all five are
printed), run in turns (one of each, then again: the machine's speed drifts by 10 % over minutes,
and this way it drifts under all of them alike). On each file, in the same run:

- flowlab ``read_pcap(protocol=...)``: first call in a fresh process (imports excluded: measured
  inside), then warm (the same call again); ``iter_pcap`` in a fresh process;
- ``nfacctd`` (Debian pmacct) reading the file with ``pcap_savefile``, print plugin aggregating
  by 5-tuple to a CSV, whole process; its packet total is checked against flowlab's;
- goflow2 (``go install github.com/netsampler/goflow2/v2/cmd/goflow2@latest``): it has no pcap
  input, so a small Go program (``benchmarks/goflow2_pcap``, built here with ``go build``) feeds
  the file's UDP payloads to goflow2's own decoder and producer (``netflow.DecodeMessageVersion``
  with one template cache per exporter, ``producer/proto.ProduceMessage``: what its UDP workers
  run per datagram) and formats each flow message as JSON (its default ``-format json``) and,
  separately, as protobuf (``-format bin``, its cheapest); whole process. The verdict uses
  the cheaper;
- ``tshark -T fields`` with the fields flowlab's frame holds, whole process.

Run::

    PYTHONPATH=$PWD python benchmarks/bench_netflow.py              # x80 and x800
    PYTHONPATH=$PWD python benchmarks/bench_netflow.py --scale 8,80 # smaller
    PYTHONPATH=$PWD python benchmarks/bench_netflow.py --live       # the live collectors too
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "faults"))
import bench_decode
from _real_ovs import UDP_PAYLOAD
from bench_decode import interleaved, measure, run_sfacctd
from fault_data import pcap_frames

from flowlab.capture.pcap_write import write_pcap

IPFIX = ("ovs-ipfix-ovnk", "ovs-ipfix-netobserv", "ovs-ipfix-sampling1")
NETFLOW = ("ovs-netflow",)
PORTS = {"ipfix": 4739, "netflow": 2055}


def _records(grams: list[bytes], protocol: str) -> tuple[list[int], list[int], list[int]]:
    """Per datagram: data records as the exporter's sequence counts them, flowlab's rows, and
    the packets of its IP rows (what nfacctd accounts).

    IPFIX's sequence counts: from the next datagram's sequence (OVS counts its options data
    records too), the last one's from its rows (a data datagram). NetFlow v5: the header's count.
    """
    from flowlab.netflow.decode import decode
    from flowlab.netflow.templates import NetFlowState

    state = NetFlowState()
    rows, packets = [], []
    for g in grams:
        flows = decode(g, [0], [len(g)], received_ms=0, peers=["127.0.0.1"], state=state).flows
        rows.append(flows.height)
        packets.append(int(flows.filter(flows["src_ip"].is_not_null())["packets"].sum()))
    if protocol == "netflow":
        return [struct.unpack_from("!H", g, 2)[0] for g in grams], rows, packets
    seqs = [struct.unpack_from("!I", g, 8)[0] for g in grams]
    return [b - a for a, b in itertools.pairwise(seqs)] + rows[-1:], rows, packets


def real_datagrams(protocol: str) -> tuple[list[bytes], list[bytes], dict[str, list[int]]]:
    """(frame headers with UDP checksum 0, payloads, per-datagram counts) of the OVS captures;
    the counts: ``records`` (sequence), ``rows`` (flowlab's), ``ip_packets`` (nfacctd's)."""
    heads, grams = [], []
    counts: dict[str, list[int]] = {"records": [], "rows": [], "ip_packets": []}
    for name in IPFIX if protocol == "ipfix" else NETFLOW:  # per capture: its own sequence
        some = []
        for _s, _u, frame in pcap_frames(name):
            assert frame[12:14] == b"\x08\x00" and frame[14] == 0x45, "IPv4 without options"
            head = bytearray(frame[:UDP_PAYLOAD])
            head[40:42] = b"\x00\x00"
            heads.append(bytes(head))
            some.append(frame[UDP_PAYLOAD:])
        for key, values in zip(counts, _records(some, protocol)):
            counts[key] += values
        grams += some
    return heads, grams, counts


def renumber(grams: list[bytes], records: list[int], protocol: str) -> list[bytes]:
    """The datagrams with gapless sequence numbers: IPFIX records before the message (from 0),
    NetFlow v5 the index of the datagram's last record (Open vSwitch's rule)."""
    out, before = [], 0
    for g, n in zip(grams, records):
        b = bytearray(g)
        if protocol == "ipfix":
            struct.pack_into("!I", b, 8, before & 0xFFFFFFFF)
        else:
            struct.pack_into("!I", b, 16, (before + n - 1) & 0xFFFFFFFF)
        before += n
        out.append(bytes(b))
    return out


def build(path: Path, protocol: str, repeats: int) -> dict[str, int]:
    """Write the real datagrams of `protocol`, repeated `repeats` times and renumbered."""
    heads, grams, counts = real_datagrams(protocol)
    payloads = renumber(grams * repeats, counts["records"] * repeats, protocol)
    t0 = 1_700_000_000
    write_pcap(
        path,
        (((t0 + i * 5 // 1_000_000, i * 5 % 1_000_000), heads[i % len(heads)] + payload)
         for i, payload in enumerate(payloads)),
    )  # fmt: skip
    return {"datagrams": len(payloads), "repeats": repeats, "rows": sum(counts["rows"]) * repeats}


FLOWLAB = textwrap.dedent(
    """
    import gc, json, resource, sys, time
    t0 = time.process_time()
    from flowlab.capture.pcap import iter_pcap, read_pcap
    t1 = time.process_time()
    mode, path, protocol = sys.argv[1:4]
    rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res = {"import_cpu": t1 - t0}
    if mode == "iter":
        rows = lost = 0
        for b in iter_pcap(path, protocol=protocol):
            rows += b.flows.height
            lost += b.stats.lost
        res.update(rows=rows, lost=lost, cpu=time.process_time() - t1, rss_mb=rss())
    else:
        out = read_pcap(path, protocol=protocol)
        t2 = time.process_time()
        res.update(rows=out.flows.height, lost=out.stats.lost, cpu=t2 - t1, rss_mb=rss(),
                   bad=sum(out.stats.datagrams_bad.values()),
                   ip_packets=int(out.flows.filter(out.flows["src_ip"].is_not_null())["packets"].sum()))
        del out
        gc.collect()
        t3 = time.process_time()
        out = read_pcap(path, protocol=protocol)
        res["warm_cpu"] = time.process_time() - t3
    print(json.dumps(res))
    """
)


def _env() -> dict[str, str]:
    """flowlab's processes: one Polars thread, and bytecode cached as an installed package has it
    (without, every fresh process compiles flowlab's modules again: ~20 ms of its first call)."""
    env = dict(os.environ, POLARS_MAX_THREADS="1", OMP_NUM_THREADS="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_flowlab(path: Path, mode: str, protocol: str) -> dict[str, float]:
    env = _env()
    m = measure([sys.executable, "-c", FLOWLAB, mode, str(path), protocol], env=env)
    m.update(json.loads(str(m.pop("stdout")).strip().splitlines()[-1]))
    return m


#: the Go program that runs goflow2's decoder and producer over a pcap's UDP payloads
GOFLOW2_PCAP = Path(__file__).resolve().parent / "goflow2_pcap"


def goflow2_pcap(work: Path) -> Path:
    """Build ``benchmarks/goflow2_pcap`` (needs Go and the goflow2 module from the Go proxy)."""
    exe = work / "goflow2_pcap"
    if not exe.exists():
        subprocess.run(["go", "build", "-o", str(exe), "."], cwd=GOFLOW2_PCAP, check=True)
    return exe


def run_goflow2(path: Path, work: Path, fmt: str = "json") -> dict[str, float]:
    """goflow2's pipeline over the file's payloads, formatting as JSON (its default) or "bin"."""
    m = measure([str(goflow2_pcap(work)), str(path), fmt])
    m.update(json.loads(str(m.pop("stdout")).strip().splitlines()[-1]))
    return m


#: flowlab's columns as tshark fields (those of tests/netflow/test_tshark.py); records counted
#: by ``cflow.packets`` (every record of these captures has one)
TSHARK_FIELDS = ["cflow.packets", "cflow.srcaddr", "cflow.dstaddr", "cflow.srcaddrv6",
                 "cflow.dstaddrv6", "cflow.srcport", "cflow.dstport", "cflow.protocol",
                 "cflow.octets", "cflow.direction", "cflow.inputint", "cflow.outputint"]  # fmt: skip


def run_tshark(path: Path, protocol: str) -> dict[str, float]:
    tshark = shutil.which("tshark")
    assert tshark, "install tshark (Debian package tshark)"
    fields = [x for f in TSHARK_FIELDS for x in ("-e", f)]
    m = measure([tshark, "-n", "-r", str(path), "-o", "cflow.max_template_fields:1000",
                 "-d", f"udp.port=={PORTS[protocol]},cflow", "-T", "fields", "-E", "occurrence=a",
                 *fields])  # fmt: skip
    lines = str(m.pop("stdout")).splitlines()
    m["rows"] = sum(len(x.split("\t")[0].split(",")) for x in lines if x.split("\t")[0])
    return m


#: goflow2's documented throughput settings (as bench_collector's), NetFlow/IPFIX listener
GOFLOW2_LISTEN = "netflow://127.0.0.1:{port}?count=2&workers=4&blocking=false&queue_size=1000000"


def live(rates: list[float], seconds: float, tools: list[str], repeats: int = 20) -> None:
    """The live collectors on real OVS IPFIX datagrams replayed over loopback (bench_collector's
    sender and runners): the highest rate at which each lost nothing."""
    import bench_collector as bc
    import numpy as np

    bc.PMACCT = "nfacctd"
    bc.GOFLOW2_LISTEN = GOFLOW2_LISTEN
    bc.SETTINGS["protocol"] = "ipfix"
    _heads, grams, counts = real_datagrams("ipfix")
    block = renumber(grams * repeats, counts["records"] * repeats, "ipfix")
    rows = np.array(counts["rows"] * repeats, dtype=np.int64)
    ip_packets = np.array(counts["ip_packets"] * repeats, dtype=np.int64)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "datagrams.npz")
        np.savez(
            path,
            data=np.frombuffer(b"".join(block), dtype=np.uint8),
            lengths=np.array([len(g) for g in block]),
            agents=np.zeros(len(block), dtype=np.int64),
            seqs=np.array([struct.unpack_from("!I", g, 8)[0] for g in block], dtype=np.int64),
            seq_offset=8,  # IPFIX: the records before the message, + all records per pass
            seq_step=np.full(len(block), sum(counts["records"]) * repeats, dtype=np.int64),
        )
        print(f"\nlive: replaying {len(block):,} real OVS IPFIX datagrams ({rows.mean():.2f} records, "
              f"{np.mean([len(g) for g in block]):.0f} bytes each on average, templates as captured) "
              f"on loopback, {seconds:g} s per rate; load {os.getloadavg()[0]:.1f}")  # fmt: skip
        header = (
            f"{'tool':<8} {'target':>6} {'sent':>11} {'sent/s':>10} {'received':>11} {'lost':>9} "
            f"{'kdrops':>9} {'seq-gap':>9} {'records (nfacctd: packets) got/sent':>25} "
            f"{'recv/s':>10} {'CPU s':>6} {'send s':>6} {'rcvbuf':>7}"
        )
        print(header)
        best: dict[str, float] = {}  # nothing lost: every datagram read, every record out
        kept: dict[str, float] = {}  # no datagram dropped by the kernel
        runners = {"flowlab": bc.run_flowlab, "nfacctd": bc.run_sfacctd, "goflow2": bc.run_goflow2}
        for tool in tools:
            for rate in rates:
                run = runners[tool](rate, seconds, path, ip_packets if tool == "nfacctd" else rows)
                print(bc._row(run), flush=True)
                if run.lost:
                    break
                kept[tool] = max(kept.get(tool, 0.0), run.rate)
                if run.samples == run.samples_sent:
                    best[tool] = max(best.get(tool, 0.0), run.rate)
        for tool in tools:
            print(f"{tool}: highest lossless rate {best.get(tool, 0):,.0f} datagrams/s "
                  f"({best.get(tool, 0) * rows.mean():,.0f} records/s); highest without kernel "
                  f"drops {kept.get(tool, 0):,.0f} datagrams/s")  # fmt: skip
        for other in ("nfacctd", "goflow2"):
            if best.get("flowlab") and kept.get(other):
                print(f"flowlab lossless / {other} without drops: "
                      f"{best['flowlab'] / kept[other]:.2f}x")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--scale", default="80,800", help="repeats of the IPFIX captures (default 80,800)"
    )
    ap.add_argument("--netflow-scale", default="800,8000",
                    help="repeats of the NetFlow capture (default 800,8000: x80 is 160 datagrams)")  # fmt: skip
    ap.add_argument("--protocols", default="ipfix,netflow")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "flowlab-bench")
    ap.add_argument("--no-tshark-large", action="store_true", help="tshark on the first file only")
    ap.add_argument("--no-goflow2", action="store_true")
    ap.add_argument("--runs", type=int, default=5,
                    help="fresh processes per figure of flowlab, nfacctd and goflow2 -format bin: "
                         "the median is shown (default 5)")  # fmt: skip
    ap.add_argument("--no-pin", action="store_true", help="do not pin to one core (taskset -c 0)")
    ap.add_argument("--live", action="store_true", help="also the live collectors (10 s per rate)")
    ap.add_argument("--live-only", action="store_true", help="only the live collectors")
    ap.add_argument("--rates", default="5000,10000,25000,50000,100000,150000,0",
                    help="datagrams/s for --live, rising (0: as fast as the sender can)")  # fmt: skip
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds per rate (--live)")
    ap.add_argument("--tools", default="flowlab,nfacctd,goflow2", help="for --live")
    args = ap.parse_args()
    rates = [float(x) for x in args.rates.split(",")]
    if args.live_only:
        live(rates, args.seconds, args.tools.split(","))
        return
    if not args.no_pin and shutil.which("taskset"):
        bench_decode.PREFIX[:] = ["taskset", "-c", "0"]
    args.workdir.mkdir(parents=True, exist_ok=True)
    warm = "import flowlab.capture.pcap, flowlab.netflow.decode, flowlab.services"
    subprocess.run([sys.executable, "-c", warm], env=_env(), check=True)  # writes the bytecode
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; "
          f"pinned: {' '.join(bench_decode.PREFIX) or 'no'}, POLARS_MAX_THREADS=1; CPU seconds user+sys")  # fmt: skip
    verdicts = []
    summary = []
    for protocol in args.protocols.split(","):
        scales = args.scale if protocol == "ipfix" else args.netflow_scale
        for k, reps in enumerate(int(x) for x in scales.split(",")):
            path = args.workdir / f"ovs-{protocol}-x{reps}.pcap"
            census_file = path.with_suffix(".json")
            if not (path.exists() and census_file.exists()):
                census_file.write_text(json.dumps(build(path, protocol, reps)))
            census = json.loads(census_file.read_text())
            runs = args.runs
            work = {
                "read": (run_flowlab, (path, "read", protocol), {}),
                "iter": (run_flowlab, (path, "iter", protocol), {}),
                "nfacctd": (run_sfacctd, (path, args.workdir), {"daemon": "nfacctd"}),
            }
            if not args.no_goflow2:
                work["goflow2"] = (run_goflow2, (path, args.workdir, "bin"), {})
            med = interleaved(runs, **work)  # in turns: the machine's drift hits each alike
            read, it, nfa = med["read"], med["iter"], med["nfacctd"]
            n = int(read["rows"])
            print(f"\n== {protocol} x{reps}: {path.name}: {census['datagrams']:,} datagrams, "
                  f"{n:,} records, {path.stat().st_size / 1e6:.1f} MB, load {os.getloadavg()[0]:.1f}")  # fmt: skip
            rows = [
                ("flowlab read_pcap, first call", read["cpu"], read["rows"]),
                ("flowlab read_pcap, warm", read["warm_cpu"], read["rows"]),
                ("flowlab iter_pcap, first call", it["cpu"], it["rows"]),
                ("nfacctd, whole process", nfa["cpu"], nfa["rows"]),
            ]
            gf = None
            if not args.no_goflow2:
                gj = run_goflow2(path, args.workdir)
                gf = med["goflow2"]
                rows.append(("goflow2 pipeline -format json", gj["cpu"], gj["rows"]))
                rows.append(("goflow2 pipeline -format bin", gf["cpu"], gf["rows"]))
                assert int(gj["rows"]) == n, (gj["rows"], n)
            if k == 0 or not args.no_tshark_large:
                tsh = run_tshark(path, protocol)
                rows.append(("tshark, whole process", tsh["cpu"], tsh["rows"]))
            print(f"{'work':36s} {'cpu s':>7s} {'records/s':>11s} {'x nfacctd':>9s} {'rows':>9s}")
            for label, cpu, got in rows:
                print(
                    f"{label:36s} {cpu:7.3f} {n / cpu:11,.0f} {nfa['cpu'] / cpu:9.2f} {int(got):9,}"
                )
            spread = {
                "flowlab read_pcap": read,
                "nfacctd": nfa,
                **({"goflow2 bin": gf} if gf else {}),
            }
            print(f"CPU s of the {runs} runs (median above): " + "; ".join(
                f"{k} " + " ".join(f"{x:.3f}" for x in m["cpu_runs"]) for k, m in spread.items()))  # fmt: skip
            print(f"flowlab import (excluded above): {read['import_cpu']:.3f} s; peak RSS "
                  f"read {read['rss_mb']:.0f} MB, iter {it['rss_mb']:.0f} MB; nfacctd packets "
                  f"{int(nfa['rows']):,} = flowlab's of IP records {read['ip_packets']:,}")  # fmt: skip
            assert read["rows"] == it["rows"], (read["rows"], it["rows"])
            assert read["lost"] == it["lost"] == 0 and read["bad"] == 0
            assert int(nfa["rows"]) == read["ip_packets"], (nfa["rows"], read["ip_packets"])
            if gf:
                assert int(gf["rows"]) == n, (gf["rows"], n)
            name = f"{protocol} x{reps}"
            got = nfa["cpu"] / read["cpu"]
            verdicts.append(f"{name}: read_pcap first call >= 3x nfacctd: {got:.2f}x "
                            f"{'met' if got >= 3 else 'MISSED'}")  # fmt: skip
            summary.append((name, n, read["cpu"], read["warm_cpu"], it["cpu"], nfa["cpu"],
                            gf["cpu"] if gf else float("nan")))  # fmt: skip
            if gf:
                g = gf["cpu"] / read["cpu"]
                verdicts.append(f"{name}: read_pcap first call faster than goflow2 (bin): {g:.2f}x "
                                f"{'met' if g > 1 else 'MISSED'}")  # fmt: skip
    print(f"\n{'file':14s} {'records':>9s} {'read s':>7s} {'warm s':>7s} {'iter s':>7s} "
          f"{'nfacctd s':>9s} {'goflow2 s':>9s} {'x nfacctd':>9s} {'x goflow2':>9s}   (goflow2: -format bin)")  # fmt: skip
    for name, n, r, w, i, nf, gf2 in summary:
        print(f"{name:14s} {n:9,} {r:7.3f} {w:7.3f} {i:7.3f} {nf:9.3f} {gf2:9.3f} "
              f"{nf / r:9.2f} {gf2 / r:9.2f}")  # fmt: skip
    print("\n" + "\n".join(verdicts))
    if args.live:
        live(rates, args.seconds, args.tools.split(","))
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
