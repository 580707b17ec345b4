"""flowlab's decoder on the captures of a real Open vSwitch (``tests/data/ovs-*.pcap``).

No root needed: the datagrams come from the committed pcaps, the expected
values from the ``.expected.json`` written when they were made (the pods'
own captures, and a census by the independent walker in ``ovs_truth``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import ovs_expect as expect
import ovs_truth as truth
import polars as pl
import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
OVS_COUNTER_RECORDS = (1004, 1005, 2203, 2207)


def _decode(name: str) -> tuple[Any, dict[str, Any], truth.Census]:
    from flowlab.sflow.decode import decode

    info = json.loads((DATA / f"{name}.expected.json").read_text())
    port = int(info["collector"].rsplit(":", 1)[1])
    grams = truth.udp_payloads(DATA / f"{name}.pcap", port)
    lengths = np.array([len(g) for g in grams], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    received = 1_700_000_000_000 + np.arange(len(grams), dtype=np.int64)
    decoded = decode(b"".join(grams), offsets, lengths, received_ms=received, source="pcap")
    return decoded, info, truth.sflow_census(grams)


@pytest.mark.parametrize("name", ["ovs-sampling1", "ovs-default"])
def test_counts_match_the_census(name: str) -> None:
    decoded, info, census = _decode(name)
    s = decoded.stats
    assert census.as_dict() == info["census"]  # the pcap is the one the JSON describes
    assert s.datagrams == s.datagrams_ok == census.datagrams and not s.datagrams_bad
    assert s.samples.get("flow", 0) == census.samples["flow"] == decoded.flows.height
    assert s.samples.get("counters", 0) == census.samples["counters"]
    assert sum(s.lost_datagrams.values()) == 0
    for fmt in OVS_COUNTER_RECORDS:  # Open vSwitch's own counter records: skipped, counted
        assert s.records_skipped.get((0, fmt), 0) == census.counter_records[fmt] > 0
    rate = 1 if name == "ovs-sampling1" else 400
    assert decoded.flows["sampling_rate"].unique().to_list() == [rate]
    assert (decoded.flows["packets"] == rate).all()


@pytest.mark.parametrize("name", ["ovs-sampling1", "ovs-default"])
def test_flows_match_the_pods_captures(name: str) -> None:
    decoded, info, _ = _decode(name)
    lab_ips = [ip for p in info["pods"] for ip in (p["ip"], p["ip6"]) if ip]
    got = (
        expect.lab_ip_frames(decoded.flows, lab_ips)
        .group_by(expect.KEY)
        .agg(
            samples=pl.len().cast(pl.Int64),
            frames=pl.col("frame_length").cast(pl.Int64).sum(),
            est_bytes=pl.col("bytes").cast(pl.Int64).sum(),
        )
    )
    want = pl.DataFrame(
        info["flows"], schema_overrides={"src_port": pl.UInt16, "dst_port": pl.UInt16}
    )
    want = want.with_columns(pl.col("protocol").cast(pl.UInt8)).filter(pl.col("samples") > 0)
    both = want.join(got, on=expect.KEY, how="full", coalesce=True, nulls_equal=True)
    bad = both.filter(
        (pl.col("samples") != pl.col("samples_right")).fill_null(True)
        | (pl.col("sampled_frame_bytes") != pl.col("frames")).fill_null(True)
    )
    assert bad.is_empty(), bad
    rate = 1 if name == "ovs-sampling1" else 400
    assert (both["est_bytes"] == both["frames"] * rate).all()
    if name == "ovs-sampling1":  # every frame a pod sent is one sample
        assert (both["samples"] == both["packets"]).all()
        assert (both["frames"] == both["frame_bytes"]).all()


def test_counters_of_every_port() -> None:
    decoded, info, _ = _decode("ovs-sampling1")
    ports = {p["ifindex"] for p in info["pods"]}
    c = decoded.counters.filter(pl.col("if_index").is_in(list(ports)))
    assert set(c["if_index"].unique()) == ports
    assert (c["if_speed"] == 10_000_000_000).all() and (c["if_status"] == 3).all()
    # cumulative: never decreasing per port
    mono = c.sort("sequence").group_by("if_index").agg((pl.col("in_octets").diff() >= 0).all())
    assert mono["in_octets"].all()
