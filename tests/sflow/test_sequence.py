"""Sequence tracking: the vectorised tracker against a per-datagram implementation of the rules."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowlab.decoding.sequence import REORDER_WINDOW, SequenceTracker
from flowlab.decoding.stats import DecodeStats
from tests.sflow.reference import _sequence

STREAMS = [("10.0.0.1", 0), ("10.0.0.1", 1), ("2001:db8::1", 0)]


@st.composite
def arrivals(draw: st.DrawFn) -> list[tuple[int, int]]:
    """(stream, sequence) in arrival order: mostly +1, with gaps, reorders, duplicates, restarts, wraps."""
    current = [draw(st.integers(1, 2**32 - 1) | st.integers(1, 100)) for _ in STREAMS]
    out = []
    for _ in range(draw(st.integers(1, 120))):
        k = draw(st.integers(0, len(STREAMS) - 1))
        move = draw(st.sampled_from(["next"] * 6 + ["gap", "back", "dup", "restart", "far"]))
        if move == "next":
            current[k] += 1
        elif move == "gap":
            current[k] += draw(st.integers(2, 1000))
        elif move == "back":
            current[k] -= draw(st.integers(1, 2 * REORDER_WINDOW))
        elif move == "restart":
            current[k] = draw(st.integers(1, 3))
        elif move == "far":
            current[k] = draw(st.integers(0, 2**32 - 1))
        current[k] %= 2**32
        out.append((k, current[k]))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(arrivals(), st.lists(st.integers(1, 120), max_size=4))
def test_tracker_matches_per_datagram_rules(items: list[tuple[int, int]], cuts: list[int]) -> None:
    ref = DecodeStats()
    last: dict[tuple[str, int], tuple[int, int]] = {}
    for k, s in items:
        _sequence(ref, last, STREAMS[k], s)
    tracker = SequenceTracker()
    lost: dict[tuple[str, int], int] = {}
    resets: dict[tuple[str, int], int] = {}
    late = dups = 0
    bounds = [0, *sorted(c for c in cuts if c < len(items)), len(items)]
    for a, b in itertools.pairwise(bounds):
        part = items[a:b]
        res = tracker.update(
            STREAMS,
            np.array([k for k, _ in part], dtype=np.int64),
            np.array([s for _, s in part], dtype=np.int64),
        )
        for key, v in res.lost.items():
            lost[key] = lost.get(key, 0) + v
        for key, v in res.resets.items():
            resets[key] = resets.get(key, 0) + v
        late += res.late
        dups += res.duplicates
    assert {k: v for k, v in lost.items() if v} == {
        k: v for k, v in ref.lost_datagrams.items() if v
    }
    assert resets == ref.sequence_resets
    assert (late, dups) == (ref.late_datagrams, ref.duplicate_datagrams)
    assert tracker.last == last


@pytest.mark.parametrize(
    ("seqs", "lost", "resets", "late"),
    [
        ([1, 2, 3, 4], 0, 0, 0),
        ([10, 12, 11, 13], 0, 0, 1),  # reordered: the gap closes again
        ([10, 15], 4, 0, 0),
        ([500, 501, 1, 2, 4], 1, 1, 0),  # agent restart at 1, then one lost
        ([5000, 100], 0, 1, 0),  # far backwards = restart
        ([2**32 - 1, 0, 2], 1, 0, 0),  # wrap-around
    ],
)
def test_rules(seqs: list[int], lost: int, resets: int, late: int) -> None:
    res = SequenceTracker().update(STREAMS[:1], np.zeros(len(seqs), dtype=np.int64), np.array(seqs))
    assert sum(res.lost.values()) == lost
    assert sum(res.resets.values()) == resets
    assert res.late == late


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(-(2**61), 2**61)), min_size=1, max_size=60))
def test_run_cummax_matches_polars(items: list[tuple[bool, int]]) -> None:
    """The numpy per-run running maximum equals Polars' ``cum_max().over(run)``, wide values included."""
    import polars as pl

    from flowlab.decoding.sequence import _run_cummax

    run = np.cumsum([new for new, _ in items], dtype=np.int64)
    run -= run[0]
    values = np.array([v for _, v in items], dtype=np.int64)
    expected = pl.DataFrame({"run": run, "u": values}).select(pl.col("u").cum_max().over("run"))
    assert _run_cummax(run, values).tolist() == expected.to_series().to_list()
