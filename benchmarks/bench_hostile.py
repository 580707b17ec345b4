"""Decoder cost per byte of hostile datagrams against real Open vSwitch datagrams (#11 item 10).

The decoder once walked "the k-th sample of every datagram" level by level: a datagram
with thousands of tiny samples made a whole batch pay one level per sample. Now datagrams
over the bounds (``MAX_SAMPLES`` samples, ``MAX_RECORDS`` records per sample) are rejected
as ``implausible_count``. This script measures what crafted datagrams within the bounds
cost, in batches of the decoder's own size (8,192 datagrams, as ``iter_pcap`` and the
collector decode them):

- the *real* batch: Open vSwitch datagrams (tests/data/ovs-default.pcap and
  ovs-sampling1.pcap), as a collector of a cluster gets them: from several agents (nodes),
  each its own sequence stream; its time per byte is the baseline;
- *alone*: a batch of crafted datagrams only (each its own sequence number), about as many
  bytes;
- *half the batch*: every second real datagram replaced by a crafted one; their cost is the
  batch's time less that of the real half alone, per byte of theirs. This is a datagram's
  marginal cost, which the real datagrams' average (carrying the batch's fixed costs)
  flatters: the real datagrams' own marginal cost per byte is printed beside;
- *batch*: the time of that batch against the real batch (the same count of datagrams): what
  a sender mixing them in does to a collector's throughput.

Besides the shapes that cost the walk (empty samples, flow samples without records, empty
records), floods of spoofed addresses, where every row has addresses of its own (a
decoder formats each distinct address once, and a real batch has a few dozen): samples with
a raw header of random sources (what a switch samples of a spoofed-source flood), and 80-byte
samples with a sampled IPv4 record (104-byte ones with a sampled IPv6 record) of random
sources and destinations (the densest a sender can craft), and 80-byte samples of an Ethernet
header of random MACs.

Times are medians of interleaved runs, in several fresh processes (one process's times drift
by up to 20 % with the machine's state), pinned to one core.

Run::

    taskset -c 0 env POLARS_MAX_THREADS=1 python benchmarks/bench_hostile.py
"""

from __future__ import annotations

import argparse
import functools
import json
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "faults"))
from fault_data import ovs_datagrams

from flowlab.decoding import get_decoder
from flowlab.decoding.decoder import batch_datagrams
from flowlab.sflow import records as r
from flowlab.sflow._walk import MAX_RECORDS, MAX_SAMPLES
from flowlab.sflow.decode import decode
from flowlab.sflow.encode import encode_datagram
from flowlab.sflow.packet import raw_header

HEAD = "!IIIIIII"


def header(samples: int) -> bytes:
    return struct.pack(HEAD, 5, 1, 0x0A000001, 0, 1, 100, samples)


def empty_samples(k: int) -> bytes:
    """k samples of an unknown format, each 8 bytes (tag, length 0)."""
    return header(k) + struct.pack("!II", 99, 0) * k


def bare_flow_samples(k: int) -> bytes:
    """k flow samples with no records (32 bytes each): one flow row per 40 bytes."""
    body = struct.pack("!IIIIIIII", 1, 3, 400, 400, 0, 3, 4, 0)
    return header(k) + (struct.pack("!II", 1, len(body)) + body) * k


def empty_records(k: int) -> bytes:
    """One flow sample with k empty records of an unknown format."""
    body = struct.pack("!IIIIIIII", 1, 3, 400, 400, 0, 3, 4, k) + struct.pack("!II", 999, 0) * k
    return header(1) + struct.pack("!II", 1, len(body)) + body


def _address(rng: np.random.Generator) -> str:
    return ".".join(str(b) for b in rng.integers(1, 255, 4))


def spoofed_headers(count: int) -> list[bytes]:
    """`count` datagrams of 7 flow samples, each a raw header (Ethernet, IPv4, TCP) from a random
    source address and port to one server: a spoofed-source flood as a switch samples it."""
    rng = np.random.default_rng(count)
    out = []
    for i in range(count):
        samples = [
            r.FlowSample(1 + 7 * i + j, 3, 400, 400, [raw_header(
                _address(rng), "10.0.0.2", 6, int(rng.integers(1024, 65535)), 80, payload_length=40,
            )])
            for j in range(7)
        ]  # fmt: skip
        out.append(encode_datagram(r.Datagram("10.0.0.1", 1 + i, 1000, samples)))
    return out


def spoofed_sampled(count: int) -> list[bytes]:
    """`count` datagrams of 16 flow samples of one sampled IPv4 record each (80 bytes a row), of
    random sources and destinations: as many distinct addresses as a sender can pack."""
    rng = np.random.default_rng(count)
    out = []
    for i in range(count):
        samples = [
            r.FlowSample(1 + 16 * i + j, 3, 400, 400, [r.SampledIPv4(
                60, 6, _address(rng), _address(rng), int(rng.integers(1024, 65535)), 80,
            )])
            for j in range(16)
        ]  # fmt: skip
        out.append(encode_datagram(r.Datagram("10.0.0.1", 1 + i, 1000, samples)))
    return out


def spoofed_sampled6(count: int) -> list[bytes]:
    """`count` datagrams of 12 flow samples of one sampled IPv6 record each (104 bytes a row), of
    random sources and destinations."""
    rng = np.random.default_rng(count)
    out = []
    for i in range(count):
        hextets = rng.integers(0, 2**16, (12, 2, 8)).tolist()
        samples = [
            r.FlowSample(1 + 12 * i + j, 3, 400, 400, [r.SampledIPv6(
                60, 6, ":".join(f"{h:x}" for h in src), ":".join(f"{h:x}" for h in dst),
                int(rng.integers(1024, 65535)), 80,
            )])
            for j, (src, dst) in enumerate(hextets)
        ]  # fmt: skip
        out.append(encode_datagram(r.Datagram("10.0.0.1", 1 + i, 1000, samples)))
    return out


def spoofed_macs(count: int) -> list[bytes]:
    """`count` datagrams of 16 flow samples of a 14-byte raw header each (80 bytes a row): an
    Ethernet header of random MACs and no IP."""
    rng = np.random.default_rng(count)
    out = []
    for i in range(count):
        macs = rng.integers(0, 256, (16, 12), dtype=np.uint8)
        samples = [
            r.FlowSample(1 + 16 * i + j, 3, 400, 400, [r.RawPacketHeader(60, m.tobytes() + b"\x08\x06")])
            for j, m in enumerate(macs)
        ]  # fmt: skip
        out.append(encode_datagram(r.Datagram("10.0.0.1", 1 + i, 1000, samples)))
    return out


def _arrays(grams: list[bytes]) -> tuple[bytes, np.ndarray, np.ndarray]:
    lens = np.array([len(g) for g in grams], dtype=np.int64)
    offs = np.concatenate([[0], np.cumsum(lens[:-1])]).astype(np.int64)
    return b"".join(grams), offs, lens


def medians(batches: dict[str, list[bytes]], reps: int) -> dict[str, float]:
    """Median decode time of each batch, runs interleaved (a fresh state each)."""
    prepared = {k: _arrays(g) for k, g in batches.items()}
    t0 = time.perf_counter()
    for args in prepared.values():  # warm: imports, the core's output buffers
        decode(*args, received_ms=0)
    rounds = max(5, min(reps, int(10 / (time.perf_counter() - t0))))  # ~10 s at most
    times: dict[str, list[float]] = {k: [] for k in prepared}
    for _ in range(rounds):
        for k, args in prepared.items():
            t0 = time.perf_counter()
            decode(*args, received_ms=0)
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def cluster(grams: list[bytes], count: int, agents: int) -> list[bytes]:
    """`count` datagrams cycling through `grams`, sent by `agents` agents (10.1.0.1, ...),
    each numbered as its own stream."""
    out = []
    for i in range(count):
        g = bytearray(grams[i % len(grams)])
        assert struct.unpack_from("!I", g, 4)[0] == 1  # an IPv4 agent address
        struct.pack_into("!II", g, 8, 0x0A010001 + i % agents, 0)
        struct.pack_into("!I", g, 16, 1 + i // agents)
        out.append(bytes(g))
    return out


def numbered(gram: bytes, count: int) -> list[bytes]:
    """`count` copies of a crafted datagram, sequence numbers 1, 2, ... (agent 10.0.0.1)."""
    return [gram[:16] + struct.pack("!I", 1 + i) + gram[20:] for i in range(count)]


def _cases() -> dict[str, Callable[[int], list[bytes]]]:
    """Each crafted shape: `count` datagrams of it (sequence numbers 1, 2, ...)."""
    fixed = (
        {f"{k} empty samples": empty_samples(k) for k in (8, 64, 512, MAX_SAMPLES)}
        | {f"{k} bare flow samples": bare_flow_samples(k) for k in (8, 64, 512, MAX_SAMPLES)}
        | {f"{k} empty records": empty_records(k) for k in (8, 64, MAX_RECORDS)}
    )
    cases: dict[str, Callable[[int], list[bytes]]] = {
        name: functools.partial(numbered, gram) for name, gram in fixed.items()
    }
    return cases | {
        "spoofed sources, headers": spoofed_headers,
        "spoofed, sampled IPv4": spoofed_sampled,
        "spoofed, sampled IPv6": spoofed_sampled6,
        "spoofed MACs, no IP": spoofed_macs,
    }


def _size(case: str) -> int:
    """Bytes of one datagram of `case`."""
    return len(_cases()[case](1)[0])


def measure(case: str, what: str, n: int, agents: int, reps: int) -> dict[str, float]:
    """The medians of one group of batches (run in a process of its own: a group leaves the
    allocators and the core's buffers in a state that changes the next group's times)."""
    source = ovs_datagrams("ovs-default") + ovs_datagrams("ovs-sampling1")
    real = cluster(source, n, agents)
    keep = real[1::2]
    if what == "base":
        return medians({"real": real, "keep": keep, "one agent": cluster(source, n, 1)}, reps)
    make = _cases()[case]
    if what == "alone":
        copies = max(1, sum(map(len, real)) // _size(case))
        return medians({"alone": make(copies)}, reps)
    mixed = list(real)
    mixed[::2] = make(len(mixed[::2]))  # half of the datagrams crafted
    return medians({"real": real, "keep": keep, "mixed": mixed}, reps)


def _measured(args: argparse.Namespace, case: str, what: str) -> dict[str, float]:
    """:func:`measure` in `args.processes` fresh processes: the median of each batch's times
    (one process's times drift by up to 20 % with the machine's state)."""
    cmd = [sys.executable, __file__, "--measure", case, what, "--batch", str(args.batch)]
    cmd += ["--agents", str(args.agents), "--reps", str(args.reps)]
    runs = []
    for _ in range(args.processes):
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        runs.append(json.loads(out.splitlines()[-1]))
    return {k: float(np.median([r[k] for r in runs])) for k in runs[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=batch_datagrams(get_decoder("sflow")))
    ap.add_argument("--agents", type=int, default=4, help="agents of the real traffic")
    ap.add_argument("--reps", type=int, default=31, help="runs of each batch in a process")
    ap.add_argument("--processes", type=int, default=5, help="processes per figure")
    ap.add_argument("--only", default="", help="the shapes whose name holds this text")
    ap.add_argument("--measure", nargs=2, metavar=("CASE", "WHAT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    n = args.batch
    if args.measure:
        print(json.dumps(measure(*args.measure, n, args.agents, args.reps)))
        return
    source = ovs_datagrams("ovs-default") + ovs_datagrams("ovs-sampling1")
    real = cluster(source, n, args.agents)
    real_bytes = sum(map(len, real))
    half_real = sum(map(len, real[::2]))
    base = _measured(args, "", "base")
    per_byte = base["real"] / real_bytes
    own = (base["real"] - base["keep"]) / half_real
    print(f"real OVS: {n:,} datagrams from {args.agents} agents, {real_bytes:,} bytes, "
          f"{base['real'] * 1e3:.2f} ms: {per_byte * 1e9:.2f} ns/byte on average, "
          f"{own * 1e9:.2f} ns/byte marginal (from one agent: {base['one agent'] * 1e3:.2f} ms); "
          f"bounds: {MAX_SAMPLES} samples, {MAX_RECORDS} records")  # fmt: skip
    print(f"{'crafted datagram':<26} {'bytes':>6} {'alone':>7} {'half the batch':>15} "
          f"{'batch':>7}")  # fmt: skip
    worst = 0.0
    for name in [k for k in _cases() if args.only in k]:
        size = _size(name)
        copies = max(1, real_bytes // size)
        by_itself = _measured(args, name, "alone")["alone"]
        t = _measured(args, name, "mixed")
        alone = by_itself / (copies * size) / (t["real"] / real_bytes)
        half = len(real[::2]) * size
        many = (t["mixed"] - t["keep"]) / half / (t["real"] / real_bytes)
        slower = t["mixed"] / t["real"]
        worst = max(worst, many)
        print(f"{name:<26} {size:>6,} {alone:>6.2f}x {many:>14.2f}x {slower:>6.2f}x")
    over = empty_samples(MAX_SAMPLES + 1)
    rejected = decode(over, [0], [len(over)], received_ms=0).stats.datagrams_bad
    print(
        f"over the bound ({MAX_SAMPLES + 1} samples): {rejected}; worst cost per byte of a "
        f"crafted datagram among real ones: {worst:.2f}x the real datagrams' average"
    )


if __name__ == "__main__":
    main()
