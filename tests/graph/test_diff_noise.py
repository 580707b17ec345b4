"""diff_windows(noise=True): changes are reported only beyond the sampling noise of both windows.

Two independent 1-in-N subsamples of the same traffic (tests/subsampling.py: the
real unsampled Open vSwitch capture, repeated) are put in two consecutive windows
of equal length: nothing changed, so almost every diff must say so. A real change
(an edge added, an edge's volume tripled) must be reported.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from flowlab.exceptions import ConfigError
from flowlab.graph import diff_windows
from tests.subsampling import subsample, truth_rows

ROWS = truth_rows()
T0 = ROWS["time"].min()
SPAN = ROWS["time"].max() - T0 + timedelta(seconds=1)
WINDOW_A, WINDOW_B = (T0, T0 + SPAN), (T0 + SPAN, T0 + 2 * SPAN)
DNS = ("10.128.2.7", "10.128.0.5")  # grafana -> dns-default
ETCD = ("10.0.0.4", "10.0.0.3")  # kube-apiserver -> etcd


def _pair(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([a, b.with_columns(pl.col("time") + SPAN)])


def _edge(frame: pl.DataFrame, edge: tuple[str, str]) -> pl.Expr:
    both = (pl.col("client_ip") == edge[0]) & (pl.col("server_ip") == edge[1])
    return both.fill_null(False)


@pytest.mark.parametrize("n", [10, 100, 400])
def test_two_subsamples_of_the_same_traffic_show_no_change(n):
    rng = np.random.default_rng(500 + n)
    count, quiet, tested = 100, 0, 0
    for _ in range(count):
        flows = _pair(subsample(rng, n, n), subsample(rng, n, n))
        d = diff_windows(flows, WINDOW_A, WINDOW_B, level="ip", noise=True, changed=True)
        tested += d.height
        quiet += bool((d["change"] == "within noise").all())
    assert tested >= 8 * count  # the edges were there to be compared
    assert quiet / count >= 0.95, quiet


def test_a_new_client_and_a_tripled_volume_are_reported():
    n = 100
    before = ROWS.filter(~_edge(ROWS, DNS))  # no DNS in window a
    after = pl.concat([ROWS, ROWS.filter(_edge(ROWS, ETCD)), ROWS.filter(_edge(ROWS, ETCD))])
    rng = np.random.default_rng(9)
    found = {"appeared": 0, "grew": 0}
    false = 0
    for _ in range(20):
        flows = _pair(subsample(rng, n, 5 * n, before), subsample(rng, n, 5 * n, after))
        d = diff_windows(flows, WINDOW_A, WINDOW_B, level="ip", noise=True)
        got = {(r["source"], r["target"]): r for r in d.iter_rows(named=True)}
        found["appeared"] += got.get(DNS, {}).get("change") == "appeared"
        found["grew"] += got.get(ETCD, {}).get("change") == "grew"
        false += len(set(got) - {DNS, ETCD})
    assert found == {"appeared": 20, "grew": 20}
    assert false <= 1
    row = got[ETCD]
    # the evidence comes along: both estimates with intervals, samples, z, p
    assert row["bytes_a_lo"] <= row["bytes_a"] <= row["bytes_a_hi"]
    assert row["bytes_b_lo"] > row["bytes_a_hi"]
    assert row["samples_b"] > row["samples_a"] > 0
    assert 2 < row["ratio"] < 4.5 and row["z"] > 3 and row["p_value"] < 1e-6
    assert row["q_value"] >= row["p_value"]
    assert got[DNS]["bytes_a"] is None and got[DNS]["samples_b"] > 0


def test_a_single_sample_is_no_evidence_of_a_new_edge():
    a = subsample(np.random.default_rng(1), 400, 1, ROWS.filter(~_edge(ROWS, DNS)))
    b = (
        ROWS.filter(_edge(ROWS, DNS))
        .head(1)
        .with_columns(
            pl.lit(400, pl.UInt32).alias("sampling_rate"),
            (pl.col("frame_length").cast(pl.UInt64) * 400).alias("bytes"),
            pl.lit(400, pl.UInt64).alias("packets"),
        )
    )
    d = diff_windows(_pair(a, b), WINDOW_A, WINDOW_B, level="ip", noise=True, changed=True)
    row = d.filter((pl.col("source") == DNS[0]) & (pl.col("target") == DNS[1])).row(0, named=True)
    assert row["change"] == "within noise" and row["p_value"] == 1.0
    # the plain diff calls the same edge new
    plain = diff_windows(_pair(a, b), WINDOW_A, WINDOW_B, level="ip")
    assert (DNS[0], DNS[1], "new") in plain.select("source", "target", "change").rows()


def test_unsampled_windows_differ_exactly():
    a = ROWS
    b = pl.concat([ROWS, ROWS.filter(_edge(ROWS, ETCD)).head(1)])
    d = diff_windows(_pair(a, b), WINDOW_A, WINDOW_B, level="ip", noise=True, weight="packets")
    assert d.select("source", "target", "change").rows() == [(*ETCD, "grew")]
    assert d["p_value"][0] == 0.0


def test_windows_of_different_length_compare_rates():
    rng = np.random.default_rng(4)
    a = subsample(rng, 10, 40)
    b = pl.concat(
        [subsample(rng, 10, 40), subsample(rng, 10, 40).with_columns(pl.col("time") + SPAN)]
    )
    flows = pl.concat([a, b.with_columns(pl.col("time") + SPAN)])
    d = diff_windows(
        flows, WINDOW_A, (T0 + SPAN, T0 + 3 * SPAN), level="ip", noise=True, changed=True
    )
    assert (d["change"] == "within noise").all()
    assert d["ratio"].median() == pytest.approx(1.0, abs=0.1)


def test_bad_weight_is_a_config_error():
    with pytest.raises(ConfigError):
        diff_windows(ROWS, WINDOW_A, WINDOW_B, level="ip", noise=True, weight="ports")  # type: ignore[arg-type]
