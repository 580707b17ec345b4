"""`flowlab.demo.run`: the demo over real UDP into the real collector."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from flowlab.demo import run, simulate
from flowlab.exceptions import ConfigError
from flowlab.store import read_capture

KEY = [
    "exporter",
    "src_ip",
    "dst_ip",
    "src_port",
    "dst_port",
    "protocol",
    "tcp_flags",
    "frame_length",
    "sampling_rate",
    "in_if",
    "out_if",
    "sequence",
    "sample_sequence",
]


def multiset(frame: pl.DataFrame) -> Counter[tuple[object, ...]]:
    return Counter(frame.select(KEY).iter_rows())


def test_run_sends_over_udp_and_loses_nothing(tmp_path: Path) -> None:
    result = run(tmp_path / "demo", seconds=600, seed=4)
    c = result.collector
    assert result.lost == 0 and c.kernel_drops == 0 and c.sequence_lost == 0 and c.errors == 0
    assert c.datagrams == result.datagrams_sent
    assert (
        c.flow_samples == result.flow_samples_sent
        and c.counter_samples == result.counter_samples_sent
    )
    flows = read_capture(tmp_path / "demo")
    assert flows.height == result.flow_samples_sent
    assert read_capture(tmp_path / "demo", kind="counters").height == result.counter_samples_sent
    # the same samples as the in-memory path, for the same seed
    memory = simulate(seconds=600, seed=4).decode().flows
    assert multiset(flows) == multiset(memory)
    # receive times are stamped on the simulated clock: the capture spans the simulated window
    lo, hi = flows["time"].min(), flows["time"].max()
    assert lo >= memory["time"].min() - dt.timedelta(seconds=30)
    assert dt.timedelta(seconds=480) <= hi - lo <= dt.timedelta(seconds=700)
    assert len(result.grafana_peers) == 3 and result.grafana_peers[0].startswith("10.129.2.9 ")
    assert result.etcd_client_originators == ["10.0.0.11", "10.0.0.12", "10.0.0.13"]
    assert result.api_clients >= 15
    assert result.top_talkers.height == 5
    text = result.summary()
    assert "lost 0" in text and "talks to 3 peers" in text
    assert (tmp_path / "demo" / "inventory.json").exists()


def test_run_refuses_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not empty"):
        run(tmp_path, seconds=10)
    (tmp_path / "notes.txt").unlink()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        run(tmp_path / "file", seconds=10)
