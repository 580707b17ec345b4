"""95 % intervals of sampled volumes (flowlab.estimate) and where they appear.

The coverage tests subsample the real unsampled Open vSwitch capture 1-in-N
(tests/subsampling.py: the capture repeated so that 1-in-400 still leaves every
edge some samples) and count how often the interval of every edge holds the
known truth.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

from flowlab import analysis
from flowlab.estimate import (
    LOW_EVIDENCE_SAMPLES,
    add_intervals,
    gamma_quantile,
    miss_probability,
    relative_error,
    volume_interval,
)
from flowlab.exceptions import ConfigError
from flowlab.graph import communication_graph, edge_frame
from flowlab.schema import conform
from tests.subsampling import replicates, subsample, truth_rows

KEYS = ["src_ip", "dst_ip"]


def _named(frame: pl.DataFrame) -> pl.DataFrame:
    """Non-IP rows (ARP) get a name, as the graphs give them."""
    return frame.with_columns(pl.col(KEYS).fill_null("(non-IP)"))


def _truth(copies: int) -> pl.DataFrame:
    return (
        _named(truth_rows())
        .group_by(KEYS)
        .agg(
            (pl.col("bytes").sum() * copies).alias("true_bytes"),
            (pl.col("packets").sum() * copies).alias("true_packets"),
        )
    )


def _coverage(intervals: pl.DataFrame, copies: int) -> tuple[float, float, int]:
    j = intervals.join(_truth(copies), on=KEYS, how="inner")
    assert j.height == intervals.height
    packets = (
        (j["packets_lo"] <= j["true_packets"]) & (j["true_packets"] <= j["packets_hi"])
    ).mean()
    nbytes = ((j["bytes_lo"] <= j["true_bytes"]) & (j["true_bytes"] <= j["bytes_hi"])).mean()
    return float(packets), float(nbytes), j.height


# --- the numbers ---------------------------------------------------------------------


def test_gamma_quantile_matches_scipy():
    shapes = np.concatenate([np.geomspace(0.01, 5000, 400), [1.0, 2.0, 3.0, 399.99, 400.0]])
    for q in (0.0125, 0.025, 0.5, 0.975, 0.9875):
        got = gamma_quantile(q, shapes)
        want = stats.gamma.ppf(q, shapes)
        assert np.max(np.abs(got - want) / want) < 1e-5, q


@pytest.mark.parametrize("c", [1, 2, 5, 9])
def test_small_counts_give_the_exact_garwood_interval(c):
    n = 10**6  # (N-1)/N ~ 1: the binomial factor vanishes
    lo, hi = volume_interval(n * c, (n - 1) * n * c, n, (n - 1) * n, samples=c)
    garwood = (stats.chi2.ppf(0.025, 2 * c) / 2 * n, stats.chi2.ppf(0.975, 2 * c + 2) / 2 * n)
    assert lo == pytest.approx(garwood[0], rel=1e-4) and hi == pytest.approx(garwood[1], rel=1e-4)


def test_the_sflow_rule_of_thumb_bounds_the_interval():
    # with c samples the relative error at 95 % is at most 196 * sqrt(1/c) % (sFlow.org)
    for c in (10, 50, 384, 1000):
        lo, hi = volume_interval(100.0 * c, 99.0 * 100 * c, 100.0, 99.0 * 100, samples=c)
        half = (hi - lo) / 2 / (100.0 * c)
        assert half <= relative_error(c) * 1.05
        assert half >= relative_error(c) * 0.9
    assert relative_error(384) == pytest.approx(0.1, abs=0.001)


def test_unsampled_rows_have_zero_width_and_mixed_groups_add_the_exact_part():
    f = conform(
        pl.DataFrame(
            {
                "src_ip": ["a", "a", "a", "b"],
                "dst_ip": ["s"] * 4,
                "sampling_rate": [1, 100, 100, 1],
                "frame_length": [1000, 1500, 500, 60],
            }
        ).with_columns(
            (pl.col("frame_length") * pl.col("sampling_rate")).alias("bytes"),
            pl.col("sampling_rate").alias("packets"),
        )
    )
    out = add_intervals(f, KEYS)
    b = out.row(1, named=True)
    assert (b["bytes_lo"], b["bytes_hi"], b["packets_lo"], b["packets_hi"]) == (60, 60, 1, 1)
    assert b["samples"] == 1 and b["low_evidence"] is False
    a = out.row(0, named=True)
    assert a["samples"] == 3 and a["low_evidence"] is True
    p_lo, p_hi = volume_interval(200.0, 2 * 99.0 * 100, 100.0, 99.0 * 100, samples=2)
    assert (a["packets_lo"], a["packets_hi"]) == (1 + math.floor(p_lo), 1 + math.ceil(p_hi))
    b_lo, b_hi = volume_interval(
        200_000.0, 0.99 * (150_000.0**2 + 50_000.0**2), 150_000.0, 0.99 * 150_000.0**2, samples=2
    )
    assert (a["bytes_lo"], a["bytes_hi"]) == (1000 + math.floor(b_lo), 1000 + math.ceil(b_hi))


def test_rows_without_a_sampling_rate_make_the_interval_unknown():
    f = conform(
        pl.DataFrame(
            {
                "src_ip": ["a", "a"],
                "dst_ip": ["s", "s"],
                "bytes": [100, 100],
                "packets": [1, 1],
                "sampling_rate": [None, 1],
            }
        )
    )
    row = add_intervals(f, KEYS).row(0, named=True)
    assert row["bytes_lo"] is None and row["packets_hi"] is None and row["low_evidence"] is None


def test_low_evidence_flags_groups_with_few_samples():
    rows = subsample(np.random.default_rng(3), 100, 100)
    out = add_intervals(_named(rows), KEYS)
    assert out["low_evidence"].to_list() == (out["samples"] < LOW_EVIDENCE_SAMPLES).to_list()
    assert out["low_evidence"].any() and not out["low_evidence"].all()


# --- coverage of the truth -------------------------------------------------------------


@pytest.mark.parametrize("n", [10, 100, 400])
def test_coverage_of_the_truth_is_95_percent(n):
    copies = 25 * n  # every edge expects at least 25 samples
    sub = _named(replicates(np.random.default_rng(1000 + n), n, copies, 400))
    out = add_intervals(sub, ["replicate", *KEYS])
    packets, nbytes, count = _coverage(out, copies)
    assert count >= 400 * 13  # every edge in every replicate
    assert 0.93 <= packets <= 0.97, packets
    assert 0.93 <= nbytes <= 0.97, nbytes


def test_mixed_sampling_rates_keep_the_coverage():
    copies, count = 1000, 300
    rng = np.random.default_rng(7)
    rows = _named(truth_rows()).with_row_index("i")
    parts = []
    for n, parity in ((10, 0), (100, 1)):  # every other packet sampled by another exporter
        half = rows.filter(pl.col("i") % 2 == parity).drop("i")
        for r in range(count):
            parts.append(subsample(rng, n, copies, half).with_columns(pl.lit(r).alias("replicate")))
    out = add_intervals(pl.concat(parts), ["replicate", *KEYS])
    packets, nbytes, _ = _coverage(out, copies)
    assert 0.93 <= packets <= 0.97 and 0.93 <= nbytes <= 0.97, (packets, nbytes)


def test_few_samples_are_covered_conservatively():
    # the capture as it is, 1-in-10: most edges keep fewer than 10 samples (exact bounds)
    out = add_intervals(
        _named(replicates(np.random.default_rng(11), 10, 1, 1000)), ["replicate", *KEYS]
    )
    assert out["low_evidence"].mean() > 0.5
    packets, _, _ = _coverage(out, 1)
    assert packets >= 0.95


def test_miss_probability_matches_how_often_an_edge_goes_unseen():
    n, copies, count = 400, 40, 2000  # a 1-packet edge of the capture: 40 packets
    sub = _named(replicates(np.random.default_rng(5), n, copies, count))
    one = _truth(copies).filter(pl.col("true_packets") == copies).row(0, named=True)
    seen = sub.filter((pl.col("src_ip") == one["src_ip"]) & (pl.col("dst_ip") == one["dst_ip"]))
    unseen = 1 - seen["replicate"].n_unique() / count
    p = miss_probability(copies / 60.0, 60.0, n)  # 40 packets over a minute
    assert p == pytest.approx((1 - 1 / n) ** copies)
    assert abs(unseen - p) < 3 * math.sqrt(p * (1 - p) / count)
    expr = pl.select(miss_probability(pl.lit(copies / 60.0), 60.0, n)).item()
    assert expr == pytest.approx(p)
    assert miss_probability(5.0, 60.0, 1) == 0.0


# --- every analysis, the graphs: the same intervals -----------------------------------


@pytest.fixture(scope="module")
def sampled() -> pl.DataFrame:
    return subsample(np.random.default_rng(2), 10, 20)


def test_graph_edges_carry_the_same_intervals(sampled):
    want = add_intervals(_named(sampled), KEYS).rename({"src_ip": "source", "dst_ip": "target"})
    got = edge_frame(sampled, level="ip", orient="src-dst", intervals=True).collect()
    cols = list(want.columns)
    assert got.select(cols).sort("source", "target").equals(want.sort("source", "target"))
    g = communication_graph(sampled, level="ip", orient="src-dst", intervals=True)
    row = want.row(0, named=True)
    attrs = g.edges[row["source"], row["target"]]
    assert {k: attrs[k] for k in cols[2:]} == {k: row[k] for k in cols[2:]}


def test_analyses_carry_the_same_intervals(sampled):
    ref = add_intervals(sampled.filter(pl.col("client_ip").is_not_null()), "client_ip")
    got = analysis.top_clients(sampled, n=None, intervals=True)
    assert got.select("client", *ref.columns[1:]).rows() == ref.rows()
    e = analysis.edges(sampled, by=("client", "server", "service"), intervals=True)
    assert (e["bytes_lo"] < e["bytes"]).all() and (e["bytes"] < e["bytes_hi"]).all()
    ts = analysis.timeseries(sampled, interval="10s", intervals=True)
    assert ts["samples"].sum() == sampled.height
    for frame in (
        analysis.top_servers(sampled, intervals=True),
        analysis.top_services(sampled, intervals=True),
        analysis.top_talkers(sampled, intervals=True),
        analysis.conversations(sampled, intervals=True),
        analysis.peers(sampled, "10.128.2.7", intervals=True),
        analysis.service_breakdown(sampled, "hbase-thrift", intervals=True).pairs,
    ):
        assert {"bytes_lo", "bytes_hi", "packets_lo", "packets_hi", "low_evidence"} <= set(
            frame.columns
        )
        assert (frame["packets_lo"] <= frame["packets"]).all() and (
            frame["packets"] <= frame["packets_hi"]
        ).all()
    plain = analysis.top_clients(sampled)
    assert "bytes_lo" not in plain.columns


def test_error_bars_draw_one_interval_per_row_and_flag_low_evidence(sampled):
    import json

    vlc = pytest.importorskip("vl_convert")
    from flowlab.views import bar_chart
    from flowlab.views.errorbars import error_bars

    frame = analysis.conversations(sampled, intervals=True)
    assert frame["low_evidence"].any() and not frame["low_evidence"].all()
    chart = error_bars(frame, "client", chart=bar_chart(frame, "client"))
    svg = vlc.vegalite_to_svg(json.dumps(chart.to_dict()))
    clients = frame["client"].n_unique()
    assert svg.count("#e8590c") >= 2  # rule and tick of every low-evidence row
    assert svg.count('role="graphics-symbol"') >= clients + 2 * frame.height
    with pytest.raises(ConfigError, match="intervals=True"):
        error_bars(analysis.conversations(sampled), "client")


def test_the_report_shows_error_bars_and_flags_low_evidence(tmp_path):
    from flowlab.report import report

    sparse = subsample(np.random.default_rng(3), 100, 30)
    assert analysis.top_clients(sparse, intervals=True)["low_evidence"].any()
    html = report(sparse, tmp_path / "r.html", title="sampled", level="ip").read_text()
    assert "<th>bytes_lo</th>" in html and "<th>samples</th>" in html
    assert '<span class="low-evidence">few samples</span>' in html
    assert "95 % interval of the sampled estimate" in html
    assert html.count('"rule"') >= 3  # error bars on the client, server and service charts
