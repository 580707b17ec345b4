from __future__ import annotations

from datetime import timedelta

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
    with pytest.raises(ConfigError, match="start < end"):
        diff_windows(cd.enriched(), (cd.T0, cd.T0), (cd.T0, cd.T0 + timedelta(minutes=1)))
