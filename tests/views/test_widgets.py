from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from flowlab.exceptions import ConfigError
from flowlab.tables import write_table
from flowlab.views import choices_of, explorer, linked_view


def _flows() -> pl.DataFrame:
    t0 = dt.datetime(2025, 1, 6, 9, tzinfo=dt.timezone.utc)
    return pl.DataFrame(
        {
            "time": [t0 + dt.timedelta(minutes=m) for m in range(6)],
            "client_ip": ["a", "a", "b", "c", "c", "c"],
            "server_ip": ["s1", "s2", "s1", "s2", "s2", "s1"],
            "service_name": ["https", "dns", "https", "dns", "dns", "https"],
            "bytes": [10, 20, 35, 40, 50, 60],
            "packets": [1, 1, 1, 1, 1, 1],
        }
    )


def test_explorer_follows_focus_and_window() -> None:
    flows = _flows()
    ui = explorer(
        flows,
        lambda f, focus: f.filter(pl.col("server_ip") == focus),
        choices=choices_of(flows, "server_ip"),
        steps=6,
    )
    assert ui.focus.value == "s2"  # most bytes first (20 + 40 + 50)
    assert ui.refresh().height == 3
    ui.focus.value = "s1"  # the observer recomputes and replaces the shown answer
    assert "shape: (3," in ui.output.outputs[0]["data"]["text/plain"]
    ui.window.index = (3, 5)  # narrow the window to the last three minutes
    assert "shape: (1," in ui.output.outputs[0]["data"]["text/plain"]
    assert len(ui.output.outputs) == 1


def test_linked_view_aggregates_and_links() -> None:
    chart = linked_view(_flows(), left="client_ip", right="server_ip", top=2)
    spec = chart.to_dict()
    rows = next(iter(spec["datasets"].values()))
    # top 2 clients by bytes are c and b; a is folded into (other); totals are preserved
    assert {r["left"] for r in rows} == {"c", "b", "(other)"}
    assert sum(r["bytes"] for r in rows) == 215
    names = {p["name"] for p in spec["params"]}
    assert {"pick_left", "pick_right", "window"} <= names
    text = json.dumps(spec)
    assert "pick_left" in text and "transform" in text
    with pytest.raises(ConfigError, match="client_workload"):
        linked_view(_flows())


def test_write_table_flattens_for_csv(tmp_path) -> None:
    frame = pl.DataFrame(
        {
            "peer": ["x"],
            "services": [["dns", "https"]],
            "first_seen": [dt.datetime(2025, 1, 6, tzinfo=dt.timezone.utc)],
        }
    )
    csv = write_table(frame, tmp_path / "t.csv").read_text()
    assert "dns, https" in csv and "2025-01-06T00:00:00.000Z" in csv
    back = pl.read_parquet(write_table(frame, tmp_path / "t.parquet"))
    assert back["services"].to_list() == [["dns", "https"]]
    with pytest.raises(ConfigError):
        write_table(frame, tmp_path / "t.xlsx")
