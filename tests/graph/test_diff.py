from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from flowlab.exceptions import ConfigError
from flowlab.graph import communication_graph, diff, diff_windows
from tests import clusterdata as cd


def test_diff_windows_finds_new_and_vanished_edges() -> None:
    flows = cd.enriched()
    first = (cd.T0, cd.T0 + timedelta(minutes=30))
    second = (cd.T0 + timedelta(minutes=30), cd.T0 + timedelta(minutes=60))
    d = diff_windows(flows, first, second, level="workload")
    new = set(
        zip(
            d.filter(pl.col("change") == "new")["source"],
            d.filter(pl.col("change") == "new")["target"],
        )
    )
    gone = set(
        zip(
            d.filter(pl.col("change") == "vanished")["source"],
            d.filter(pl.col("change") == "vanished")["target"],
        )
    )
    # the cart pod only exists from 10:31: its edges are new; the cleanup job ran at 10:10: vanished
    assert ("shop/cart", "shop/redis") in new
    assert (
        "shop/frontend",
        "shop/cart",
    ) not in new  # frontend already reached cart's ClusterIP before
    assert ("shop/cleanup", "52.1.2.3") in gone
    # exactly the edges present in one window only
    ga = communication_graph(flows.filter(pl.col("time") < first[1]), level="workload")
    gb = communication_graph(flows.filter(pl.col("time") >= second[0]), level="workload")
    assert new == set(gb.edges) - set(ga.edges)
    assert gone == set(ga.edges) - set(gb.edges)
    assert d.filter(pl.col("change") == "new")["bytes_a"].null_count() == len(new)


def test_diff_changed_and_same_graph() -> None:
    g = communication_graph(cd.enriched(), level="namespace")
    assert diff(g, g).is_empty()
    kept = diff(g, g, changed=True)
    assert kept.height == g.number_of_edges() and set(kept["change"]) == {"kept"}


def test_bad_window() -> None:
    with pytest.raises(ConfigError, match="window_a: the window is empty"):
        diff_windows(cd.enriched(), (cd.T0, cd.T0), (cd.T0, cd.T0 + timedelta(minutes=1)))
    with pytest.raises(ConfigError, match="window_b: the window ends before it starts"):
        diff_windows(cd.enriched(), ("now-2h", "now-1h"), ("now", "now-1h"))
    with pytest.raises(ConfigError, match="must have a start and an end"):
        diff_windows(cd.enriched(), (None, cd.T0), (cd.T0, "now"))


def test_diff_windows_takes_relative_windows() -> None:
    # the cluster's hour moved so that it ends a minute ago: "the last hour, half against half"
    flows = cd.enriched()
    now = datetime.now(timezone.utc)
    shift = now - timedelta(minutes=1) - (cd.T0 + timedelta(minutes=60))
    moved = flows.with_columns(pl.col("time") + shift)
    d = diff_windows(moved, ("now-61m", "now-31m"), ("now-31m", "now-1m"), level="workload")
    new = set(zip(*d.filter(pl.col("change") == "new").select("source", "target")))
    gone = set(zip(*d.filter(pl.col("change") == "vanished").select("source", "target")))
    assert ("shop/cart", "shop/redis") in new
    assert ("shop/cleanup", "52.1.2.3") in gone
