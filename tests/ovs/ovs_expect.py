"""Expected values for the OVS lab: what crossed the bridge, and how close sampled estimates must be.

Where OVS samples: Open vSwitch has one sFlow sampler per bridge (data source
``2:1000``, an entPhysicalEntry standing for the bridge) and applies it when a
packet enters the datapath, i.e. on ingress of its input port. A packet
crossing the bridge from pod A to pod B is therefore a candidate for sampling
exactly once (``input`` = A's port ifIndex, ``output`` = B's), never again on
egress. With ``sampling=1`` every such packet becomes one flow sample; this
module's truth for a 5-tuple is the number of frames the sending pod put on
its veth (its capture, direction "out"), and the test also checks that the
receiving pod got the same number (direction "in"), i.e. nothing was lost
inside the bridge.

sFlow ``frame_length`` counts the frame as on the wire *including* the 4-byte
Ethernet FCS (OVS reports ``stripped = 4``), so a frame tcpdump sees as ``L``
bytes is reported as ``L + 4``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import polars as pl
from scipy import stats

KEY = ["src_ip", "dst_ip", "protocol", "src_port", "dst_port"]
FCS = 4
ICMP_ECHO = (0, 8, 128, 129)


def lab_ip_frames(frames: pl.DataFrame, lab_ips: Iterable[str]) -> pl.DataFrame:
    """Frames between two lab addresses: TCP, UDP, and ICMP/ICMPv6 echo (ARP/ND/MLD dropped)."""
    ips = list(lab_ips)
    return frames.filter(
        pl.col("src_ip").is_in(ips)
        & pl.col("dst_ip").is_in(ips)
        & (pl.col("protocol").is_in([6, 17]) | pl.col("icmp_type").is_in(list(ICMP_ECHO)))
    )


def flow_truth(frames: pl.DataFrame, lab_ips: Iterable[str]) -> pl.DataFrame:
    """Per 5-tuple: frames and bytes the sender sent ("out") and the receiver got ("in").

    Columns: the :data:`KEY` columns, ``packets`` (sent), ``bytes`` (sent,
    tcpdump lengths, without FCS), ``frame_bytes`` (= bytes + 4 per frame, the
    sFlow ``frame_length`` convention), ``packets_in``, and ``lengths`` (every
    sent frame's length incl. FCS, for :func:`bytes_range`).
    """
    f = lab_ip_frames(frames, lab_ips)
    out = (
        f.filter(pl.col("dir") == "out")
        .group_by(KEY)
        .agg(
            packets=pl.len().cast(pl.Int64),
            bytes=pl.col("wire_len").cast(pl.Int64).sum(),
            frame_bytes=(pl.col("wire_len").cast(pl.Int64) + FCS).sum(),
            lengths=(pl.col("wire_len").cast(pl.Int64) + FCS),
        )
    )
    inn = f.filter(pl.col("dir") == "in").group_by(KEY).agg(packets_in=pl.len().cast(pl.Int64))
    return (
        out.join(inn, on=KEY, how="full", coalesce=True, nulls_equal=True)
        .with_columns(pl.col("packets", "packets_in", "bytes", "frame_bytes").fill_null(0))
        .sort(KEY, nulls_last=True)
    )


def binomial_interval(n_low: int, n_high: int, rate: int, alpha: float) -> tuple[int, int]:
    """Range of sample counts consistent with 1-in-`rate` Bernoulli sampling of n packets.

    The population is only known to lie in ``[n_low, n_high]`` (sent vs
    received); the interval is the union of the two-sided ``1 - alpha``
    binomial intervals at both ends.
    """
    p = 1.0 / rate
    lo = int(stats.binom.ppf(alpha / 2, n_low, p))
    hi = int(stats.binom.isf(alpha / 2, n_high, p))
    return lo, hi + 1


def bytes_range(lengths: Sequence[int], k_low: int, k_high: int) -> tuple[int, int]:
    """Range of ``sum(sampled frame lengths)`` when between `k_low` and `k_high` frames are sampled.

    Exact, given the count range: the sum of the `k_low` shortest frames up to
    the sum of the `k_high` longest. (A normal approximation is wrong here:
    at 1-in-400 a 5-packet conversation is sampled 0 or 1 times.)
    """
    ordered = sorted(lengths)
    k_low, k_high = max(0, k_low), min(len(ordered), k_high)
    return sum(ordered[:k_low]), sum(ordered[len(ordered) - k_high :]) if k_high else 0
