"""Decode speed and memory on real Open vSwitch sFlow: flowlab vs sfacctd vs tshark, same run.

The input is built from the two real captures of Open vSwitch 3.1's sFlow exporter in
``tests/data`` (``ovs-default.pcap``: 1-in-400, and ``ovs-sampling1.pcap``: 1-in-1; see
``tests/data/README.md``): their 64 datagrams (361 flow samples, 23 counter samples with
OVS's 1004/1005/2203/2207 records) repeated until the file holds ``--samples`` flow samples
(default 128,877 ≈ the issue's ×80 file) and ×``--scale`` that (default 10: 1.29M samples),
with the datagram sequence renumbered 1, 2, 3, ... (:func:`fault_data.renumbered`) so that
the file reads as one exporter's stream without gaps. UDP checksums are zeroed (allowed in
IPv4; tcpdump on ``lo`` records unfinished ones anyway).

Every measurement runs pinned to one core (``taskset -c 0``, ``POLARS_MAX_THREADS=1``) and
counts CPU seconds (user+sys, the kernel's microsecond figures: ``bench_decode.measure``), not
wall time, so that a busy machine changes the figures less; the load average is printed with
them. flowlab's and sfacctd's figures are each the median of ``--runs`` fresh processes (default
5, all printed): one run moves by 10-30 % from the next. The runs go in turns (one of each, then
again), so that the machine's drift over minutes hits flowlab and sfacctd alike. Per file:

- ``read_pcap`` first call in a fresh process (imports excluded: measured inside), peak RSS
  right after it, and the frame's ``estimated_size()``;
- ``read_pcap`` warm: the same call again in that process;
- ``iter_pcap`` in a fresh process (first call too), peak RSS;
- ``sfacctd`` (Debian pmacct) reading the file with ``pcap_savefile``, whole process;
- ``tshark -T fields`` with the fields flowlab's frame holds, whole process (``--no-tshark-large``
  skips it on the large file).

Row counts are checked against each other; the targets of issue #12 are printed with
met/missed.

Run::

    PYTHONPATH=$PWD python benchmarks/bench_real.py            # 129k and 1.29M samples
    PYTHONPATH=$PWD python benchmarks/bench_real.py --quick    # 29k and 290k samples, no tshark on the large

The decoder core is printed first: the compiled one (``flowlab._native``, docs/native.md) when
built, and the pure numpy/Polars path's read_pcap rows are shown beside it (``FLOWLAB_NATIVE=0``).
The targets are checked on the default core's rows.
"""

from __future__ import annotations

import argparse
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
import bench_decode
from _real_ovs import real_datagrams, renumbered
from bench_decode import input_files, interleaved, measure, run_sfacctd, run_tshark


def build(path: Path, samples: int) -> dict[str, int]:
    """Write the real datagrams, repeated and renumbered, until `samples` flow samples."""
    heads, grams, flows = real_datagrams()
    per_unit = sum(flows)
    reps = -(-samples // per_unit)
    payloads = renumbered(grams * reps, 1)
    t0 = 1_700_000_000
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        block = []
        for i, payload in enumerate(payloads):
            frame = heads[i % len(heads)] + payload
            usec = i * 5
            block.append(
                struct.pack(
                    "<IIII", t0 + usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)
                )
            )
            block.append(frame)
            if len(block) > 8192:
                f.write(b"".join(block))
                block.clear()
        f.write(b"".join(block))
    return {"datagrams": len(payloads), "flow_samples": per_unit * reps, "repeats": reps}


FLOWLAB = textwrap.dedent(
    """
    import gc, json, resource, sys, time
    t0 = time.process_time()
    from flowlab.capture.pcap import iter_pcap, read_pcap
    t1 = time.process_time()
    mode, path = sys.argv[1], sys.argv[2]
    rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res = {"import_cpu": t1 - t0, "rss_import_mb": rss()}
    if mode == "iter":
        rows = ip = counters = lost = 0
        for b in iter_pcap(path):
            rows += b.flows.height
            ip += int(b.flows["src_ip"].is_not_null().sum())
            counters += b.counters.height
            lost += b.stats.lost
        res.update(rows=rows, ip_rows=ip, counters=counters, lost=lost,
                   cpu=time.process_time() - t1, rss_mb=rss())
    else:
        out = read_pcap(path)
        t2 = time.process_time()
        res.update(rows=out.flows.height, counters=out.counters.height, lost=out.stats.lost,
                   ip_rows=int(out.flows["src_ip"].is_not_null().sum()), cpu=t2 - t1, rss_mb=rss(),
                   frame_mb=(out.flows.estimated_size() + out.counters.estimated_size()) / 2**20)
        del out
        gc.collect()
        t3 = time.process_time()
        out = read_pcap(path)
        res["warm_cpu"] = time.process_time() - t3
    print(json.dumps(res))
    """
)


#: first-use costs on a small file: the parts a first read_pcap pays, then the calls themselves
FIRST_USE = textwrap.dedent(
    """
    import json, sys, time
    T = time.process_time
    from flowlab.capture.pcap import read_pcap
    t0 = T(); import flowlab.sflow.decode
    t1 = T(); from flowlab.services import default_table; default_table()
    t2 = T(); default_table().ports()
    t3 = T(); read_pcap(sys.argv[1])
    t4 = T(); read_pcap(sys.argv[1])
    t5 = T()
    print(json.dumps({"decoder import": t1 - t0, "service table": t2 - t1, "service ports": t3 - t2,
                      "rest of first call": t4 - t3, "second call": t5 - t4}))
    """
)


def compiled() -> str:
    """Byte-compile flowlab (as ``pip install`` does), so that a source checkout run with
    ``PYTHONDONTWRITEBYTECODE`` set does not count compiling the decoder as its first use."""
    import compileall

    import flowlab

    root = Path(flowlab.__file__).resolve().parent
    ok = compileall.compile_dir(str(root), quiet=1)
    return f"{root} byte-compiled" if ok else f"{root}: byte-compiling failed (figures include it)"


def run_flowlab(path: Path, mode: str, *, pure: bool = False) -> dict[str, float]:
    env = dict(os.environ, POLARS_MAX_THREADS="1", OMP_NUM_THREADS="1")
    if pure:  # the pure numpy/Polars path, as where no compiled core is built
        env["FLOWLAB_NATIVE"] = "0"
    m = measure([sys.executable, "-c", FLOWLAB, mode, str(path)], env=env)
    m.update(json.loads(str(m.pop("stdout")).strip().splitlines()[-1]))
    return m


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="29k and 290k samples")
    ap.add_argument("--samples", type=int, help="flow samples in the base file (default 128,877)")
    ap.add_argument("--scale", type=int, default=10, help="large file = x base (default 10)")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "flowlab-bench")
    ap.add_argument("--no-tshark-large", action="store_true", help="tshark on the base file only")
    ap.add_argument("--runs", type=int, default=5,
                    help="fresh processes per flowlab and sfacctd figure: the median is shown")  # fmt: skip
    ap.add_argument("--no-pin", action="store_true", help="do not pin to one core (taskset -c 0)")
    args = ap.parse_args()
    if not args.no_pin and shutil.which("taskset"):
        bench_decode.PREFIX[:] = ["taskset", "-c", "0"]
    base = args.samples or (28_880 if args.quick else 128_877)
    args.workdir.mkdir(parents=True, exist_ok=True)
    files = input_files(args.workdir, "ovs-real", base, args.scale, build)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; "
          f"pinned: {' '.join(bench_decode.PREFIX) or 'no'}, POLARS_MAX_THREADS=1; CPU seconds user+sys")  # fmt: skip
    print(compiled())
    core = subprocess.run(
        [sys.executable, "-c", "from flowlab import _accel; print(_accel.native())"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    print(f"decoder core: {core} (the pure path's rows are marked: FLOWLAB_NATIVE=0)")
    if core == "None":
        print("  no compiled core here: the figures below are the pure path's (docs/native.md)")
    summary = Summary()
    # start-up: whole-process CPU of a bare interpreter, `import flowlab`, `flowlab --help`
    bare = measure([sys.executable, "-c", "pass"])["cpu"]
    imp = measure([sys.executable, "-c", "import flowlab"])["cpu"]
    cli = measure([sys.executable, "-c", "import sys; from flowlab.cli import main; sys.argv[1:] = ['--help']; main()"])["cpu"]  # fmt: skip
    print(f"start-up, whole process CPU s: python {bare:.3f}, import flowlab {imp:.3f} "
          f"({imp - bare:.3f} above python), flowlab --help {cli:.3f}")  # fmt: skip
    summary.at_most("start-up: import flowlab, CPU s", imp, 0.3)
    summary.at_most("start-up: flowlab --help, CPU s", cli, 0.5)
    small = Path(__file__).resolve().parents[1] / "tests" / "data" / "ovs-default.pcap"
    env = dict(os.environ, POLARS_MAX_THREADS="1")
    first = json.loads(
        str(measure([sys.executable, "-c", FIRST_USE, str(small)], env=env)["stdout"])
    )
    extra = first["rest of first call"] - first["second call"]
    print("first read_pcap on tests/data/ovs-default.pcap, CPU ms: "
          + ", ".join(f"{k} {v * 1000:.0f}" for k, v in first.items()))  # fmt: skip
    worst = max([first["decoder import"], first["service table"], first["service ports"], extra])
    summary.at_most("start-up: largest first-use cost in read_pcap, ms", worst * 1000, 20)
    for name, (path, census) in files.items():
        n = census["flow_samples"]
        print(f"\n== {name}: {path.name}: {census['datagrams']:,} datagrams (real OVS x"
              f"{census['repeats']}), {n:,} flow samples, {path.stat().st_size / 1e6:.0f} MB, "
              f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
        med = interleaved(  # in turns: the machine's drift hits each alike
            args.runs,
            read=(run_flowlab, (path, "read"), {}),
            iter=(run_flowlab, (path, "iter"), {}),
            sfacctd=(run_sfacctd, (path, args.workdir), {}),
        )
        read, it, sfa = med["read"], med["iter"], med["sfacctd"]
        pure = run_flowlab(path, "read", pure=True)
        tsh = None
        if name == "base" or not args.no_tshark_large:
            tsh = run_tshark(path)
        rows = [
            ("flowlab read_pcap, first call", read["cpu"], read["rss_mb"]),
            ("flowlab read_pcap, warm", read["warm_cpu"], float("nan")),
            ("flowlab iter_pcap, first call", it["cpu"], it["rss_mb"]),
            ("pure path read_pcap, first call", pure["cpu"], pure["rss_mb"]),
            ("pure path read_pcap, warm", pure["warm_cpu"], float("nan")),
            ("sfacctd, whole process", sfa["cpu"], sfa["rss_mb"]),
        ]
        if tsh:
            rows.append(("tshark, whole process", tsh["cpu"], tsh["rss_mb"]))
        print(f"{'work':32s} {'cpu s':>7s} {'samples/s':>11s} {'x sfacctd':>9s} {'peak MB':>8s}")
        for label, cpu, mb in rows:
            print(f"{label:32s} {cpu:7.3f} {n / cpu:11,.0f} {sfa['cpu'] / cpu:9.2f} {mb:8.0f}")
        print(f"CPU s of the {args.runs} runs (median above): " + "; ".join(
            f"{k} " + " ".join(f"{x:.3f}" for x in m["cpu_runs"])
            for k, m in (("flowlab read_pcap", read), ("iter_pcap", it), ("sfacctd", sfa))))  # fmt: skip
        print(f"flowlab import (excluded above): {read['import_cpu']:.3f} s CPU, "
              f"{read['rss_import_mb']:.0f} MB; frame estimated_size {read['frame_mb']:.0f} MB; "
              f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
        assert read["rows"] == it["rows"] == pure["rows"] == n, (read["rows"], it["rows"], n)
        assert read["lost"] == it["lost"] == 0
        assert int(sfa["rows"]) == read["ip_rows"], (sfa["rows"], read["ip_rows"])
        if tsh:
            assert int(tsh["rows"]) == n, tsh["rows"]
        summary.at_least(f"{name}: read_pcap first call, x sfacctd", sfa["cpu"] / read["cpu"], 3)
        if tsh:
            summary.at_least(
                f"{name}: read_pcap first call, x tshark", tsh["cpu"] / read["cpu"], 30
            )
        summary.at_least(f"{name}: read_pcap warm, x sfacctd", sfa["cpu"] / read["warm_cpu"], 4)
        summary.at_least(f"{name}: iter_pcap, x sfacctd", sfa["cpu"] / it["cpu"], 4)
        limit = 1.5 * read["frame_mb"] + 100
        summary.at_most(f"{name}: read_pcap peak RSS MB (1.5 x frame + 100)", read["rss_mb"], limit)
        summary.at_most(f"{name}: iter_pcap peak RSS MB", it["rss_mb"], 300)
    summary.show()
    print(
        f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
        "(on a loaded machine the ratios move: the lead's quiet-machine run decides)"
    )


class Summary:
    """The issue's targets, measured: printed as one table at the end of the run."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, str, bool, str]] = []

    def at_least(self, label: str, got: float, want: float) -> None:
        gap = f"{want / got:.2f}x short" if got < want else f"{got / want:.2f}x margin"
        self.rows.append((label, got, f">= {want:g}", got >= want, gap))

    def at_most(self, label: str, got: float, limit: float) -> None:
        gap = f"{got / limit:.2f}x over" if got > limit else f"{limit / got:.2f}x margin"
        self.rows.append((label, got, f"<= {limit:,.3g}", got <= limit, gap))

    def show(self) -> None:
        print(f"\n{'target (issue #12)':54s} {'measured':>9s} {'required':>10s}  verdict")
        for label, got, want, met, gap in self.rows:
            print(f"{label:54s} {got:9.2f} {want:>10s}  {'met' if met else 'MISSED'} ({gap})")


if __name__ == "__main__":
    main()
