"""Readable tables: names first, human bytes and rates, protocol names, every row counted and shown."""

from __future__ import annotations

import datetime as dt
import re
from functools import cache

import polars as pl
import pytest

import flowlab
from flowlab import analysis as fa
from flowlab.tables import human_rate, human_window, readable, show

UTC = dt.timezone.utc


@cache
def _ds() -> flowlab.Dataset:
    return flowlab.load("demo", seconds=300)


def test_every_row_is_shown_and_counted() -> None:
    ds = _ds()
    conv = fa.conversations(ds.flows, by="pod")
    assert conv.height > 100  # more than any default preview
    t = show(conv, "conversations", window=ds.window)
    text, page = repr(t), t._repr_html_()
    assert text.splitlines()[0] == f"conversations: {conv.height:,} rows"
    assert len(text.splitlines()) == conv.height + 2  # count line, header, every row
    assert page.count("<tr>") == conv.height + 1
    assert "…" not in text and "…" not in page
    assert "overflow:auto" in page  # scrollable, not cut


def test_limit_says_what_it_shows() -> None:
    frame = pl.DataFrame({"client": [f"c{i}" for i in range(30)], "bytes": list(range(30))})
    t = show(frame, limit=5)
    assert t._repr_html_().count("<tr>") == 6
    assert repr(t).splitlines()[0] == "30 rows (showing the first 5)"


def test_names_first_human_bytes_rates_protocol_names() -> None:
    ds = _ds()
    servers = fa.top_servers(ds.flows, by="workload", n=None)
    r = readable(servers, window=ds.window)
    assert r.columns[0] == "server"
    assert r.columns.index("namespace") < r.columns.index("bytes")
    assert r.columns[r.columns.index("bytes") + 1] == "bits/s"
    seconds = (ds.window[1] - ds.window[0]).total_seconds()  # type: ignore[operator]
    top = servers.row(0, named=True)
    assert r["bits/s"][0] == human_rate(top["bytes"] * 8 / seconds)
    assert re.fullmatch(r"\d+\.\d (KiB|MiB|GiB)", r["bytes"][0])
    assert r["packets"][0] == f"{top['packets']:,}"
    conv = readable(fa.conversations(ds.flows))
    assert set(conv["protocol"].drop_nulls()) <= {"TCP", "UDP", "ICMP"}
    records = readable(fa.flow_records(ds.flows, limit=50))
    assert records["protocol"].dtype == pl.String and "TCP" in records["protocol"].to_list()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{3})? UTC", records["time"][0])


def test_unknown_protocol_number_kept_as_number() -> None:
    r = readable(pl.DataFrame({"protocol": [6, 253], "protocols": [[17, 254], [1]]}))
    assert r.rows() == [("TCP", "UDP, 254"), ("253", "ICMP")]


def test_no_window_no_rate() -> None:
    assert "bits/s" not in readable(pl.DataFrame({"bytes": [1]})).columns


@pytest.mark.parametrize(
    ("start", "end", "text"),
    [
        (dt.datetime(2025, 1, 6, 9, tzinfo=UTC), dt.datetime(2025, 1, 6, 9, 0, 30, tzinfo=UTC),
         "2025-01-06 09:00:00 → 09:00:30 UTC (30 s)"),
        (dt.datetime(2025, 1, 6, 23, tzinfo=UTC), dt.datetime(2025, 1, 7, 1, tzinfo=UTC),
         "2025-01-06 23:00:00 → 2025-01-07 01:00:00 UTC (2.0 h)"),
    ],
)  # fmt: skip
def test_human_window(start: dt.datetime, end: dt.datetime, text: str) -> None:
    assert human_window(start, end) == text


def test_dataset_summary_repr() -> None:
    ds = _ds()
    text = repr(ds)
    assert text.startswith("Dataset\n  source: demo\n")
    assert f"rows: {ds.flows.height:,} flow records" in text
    exporters = ds.flows["exporter"].n_unique()
    assert f"exporters: {exporters}: " in text
    rates = sorted(ds.flows["sampling_rate"].unique().to_list())
    assert "sampling: " + ", ".join(f"1 in {r:,}" for r in rates) in text
    assert "% of rows have a cluster name" in text
    assert "[" not in text and "datetime" not in text  # no Python reprs
    page = ds._repr_html_()
    assert "<table>" in page and "flow records" in page
    raw = flowlab.Dataset(flows=ds.flows.head(0), inventory=None, source="x.pcap")
    assert "not enriched" in repr(raw) and "no time window" in repr(raw)


def test_breakdown_displays_its_four_tables() -> None:
    b = fa.service_breakdown(_ds().flows, "etcd-client", by="workload")
    text = repr(b)
    for caption, frame in (("clients", b.clients), ("servers", b.servers), ("pairs", b.pairs)):
        n = frame.height
        assert f"{caption}: {n} row{'' if n == 1 else 's'}" in text
    assert b._repr_html_().count("<table>") == 4
    assert "MiB" in text and "TCP" in text
