"""Decoder cost per byte of hostile datagrams against real Open vSwitch datagrams (#11 item 10).

The decoder walks "the k-th sample of every datagram" level by level; a datagram
with thousands of tiny samples once made a whole batch pay one level per
sample. Now datagrams over the bounds (``MAX_SAMPLES`` samples,
``MAX_RECORDS`` records per sample) are rejected as ``implausible_count``,
and the last few datagrams (or samples) still walking are finished one by one.
This script measures the decode time per byte of crafted datagrams within
the bounds, two ways:

- *alone*: a batch made only of copies of the crafted datagram, against a batch
  of real OVS datagrams (tests/data/ovs-default.pcap, renumbered) of about the
  same number of bytes;
- *100 in a batch*: a hundred copies replacing every tenth real datagram of a batch of 1,000:
  their extra time (median of 7 paired runs) divided by their bytes;
- *one in a batch*: one crafted datagram replacing a real one in a batch of 1,000:
  the extra time (median of 11 paired runs; the absolute figure is shown too) divided by its
  size. For a small datagram this is a fixed cost of the batch (its first rows with nulls, its
  first unknown records), paid once however many such datagrams come, which the 100 column shows.

Each figure is the best of several runs, as a multiple of the real datagrams'
time per byte (the issue asks for at most 2x).

Run::

    PYTHONPATH=$PWD python benchmarks/bench_hostile.py
"""

from __future__ import annotations

import struct
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "faults"))
from fault_data import ovs_datagrams, renumbered

from flowlab.sflow._walk import MAX_RECORDS, MAX_SAMPLES
from flowlab.sflow.decode import decode

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


def best(grams: list[bytes], reps: int = 9) -> float:
    buf = b"".join(grams)
    lens = [len(g) for g in grams]
    offs = np.concatenate([[0], np.cumsum(lens[:-1])]).astype(np.int64)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        decode(buf, offs, lens, received_ms=0)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    real = renumbered([ovs_datagrams()[i % 20] for i in range(1000)], 1)
    real_bytes = sum(len(g) for g in real)
    best(real)  # warm up
    base = best(real)
    per_byte = base / real_bytes
    print(f"real OVS: 1,000 datagrams, {real_bytes:,} bytes, {base * 1e3:.1f} ms, "
          f"{per_byte * 1e9:.1f} ns/byte (bounds: {MAX_SAMPLES} samples, {MAX_RECORDS} records)")  # fmt: skip
    print(f"{'crafted datagram':<34} {'bytes':>7} {'alone':>7} {'100 in batch':>13} "
          f"{'1 in batch':>11} {'(extra)':>9}")  # fmt: skip
    cases = (
        [(f"{k} empty samples", empty_samples(k)) for k in (8, 64, 512, MAX_SAMPLES)]
        + [(f"{k} bare flow samples", bare_flow_samples(k)) for k in (8, 64, 512, MAX_SAMPLES)]
        + [(f"{k} empty records", empty_records(k)) for k in (8, 64, MAX_RECORDS)]
    )
    worst = 0.0
    for name, gram in cases:
        copies = max(1, real_bytes // len(gram))
        alone = best([gram] * copies) / (copies * len(gram)) / per_byte
        diffs = sorted(best([*real[:-1], gram], 3) - best(real, 3) for _ in range(11))
        extra_s = diffs[len(diffs) // 2] + base / len(real)  # median of paired runs
        extra = extra_s / len(gram) / per_byte
        # a hundred of them in place of a hundred real ones: what they cost per byte in a batch
        mixed = [gram if i % 10 == 0 else g for i, g in enumerate(real)]
        diffs = sorted(best(mixed, 3) - best(real, 3) for _ in range(7))
        many_s = diffs[len(diffs) // 2] + base * 100 / len(real)
        many = many_s / (100 * len(gram)) / per_byte
        worst = max(worst, alone, many)
        print(f"{name:<34} {len(gram):>7,} {alone:>6.2f}x {many:>12.2f}x {extra:>10.2f}x "
              f"{extra_s * 1e6:>6.0f} us")  # fmt: skip
    over = empty_samples(MAX_SAMPLES + 1)
    rejected = decode(over, [0], [len(over)], received_ms=0).stats.datagrams_bad
    print(f"over the bound ({MAX_SAMPLES + 1} samples): {rejected}; worst ratio alone or 100 in "
          f"a batch: {worst:.2f}x (target 2x). One crafted datagram in a batch adds the '(extra)' "
          "once per batch (the batch's first nulls or unknown records), however many come")  # fmt: skip


if __name__ == "__main__":
    main()
