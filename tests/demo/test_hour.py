"""The demo's capture and ``load("demo")`` are the same flows at the same times (issue #10 part 5).

Before, the collector stamped receive times on a sped-up wall clock: the capture ended at
10:00:16 in an ``hour=10`` partition, and a scheduling hiccup while sending showed as a
dip and a spike (09:38-09:40 in one run) that ``load("demo")`` does not have.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

import flowlab
from flowlab import analysis as fa
from flowlab.demo import run


def test_the_demo_hour_is_the_hour_and_both_paths_give_the_same_series(tmp_path: Path) -> None:
    run(tmp_path / "demo", seconds=3600, seed=0)
    capture = flowlab.load(tmp_path / "demo").flows
    memory = flowlab.load("demo", seconds=3600, seed=0).flows
    nine, ten = (dt.datetime(2025, 1, 6, h, tzinfo=dt.timezone.utc) for h in (9, 10))
    assert nine <= capture["time"].min() and capture["time"].max() < ten
    hours = sorted(p.name for p in (tmp_path / "demo" / "flows").rglob("hour=*"))
    assert hours == ["hour=09"]
    for interval in ("1s", "1m"):
        a = fa.timeseries(capture, interval=interval).sort("time")
        b = fa.timeseries(memory, interval=interval).sort("time")
        assert a.equals(b), interval
    key = ["time", "exporter", "src_ip", "dst_ip", "src_port", "dst_port", "bytes", "sequence"]
    assert capture.select(key).sort(key).equals(memory.select(key).sort(key))
    assert capture.height == memory.height and pl.Series(capture.columns).equals(
        pl.Series(memory.columns)
    )
