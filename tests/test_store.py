"""The Parquet capture store: partitioning, rolling, atomic visibility, reading back."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flowlab.exceptions import CollectorError, ConfigError, SchemaError
from flowlab.schema import COUNTER_SCHEMA, FLOW_SCHEMA, conform
from flowlab.store import CaptureWriter, read_capture, scan_capture

UTC = dt.timezone.utc


def flows(n: int, start: dt.datetime, step_ms: int = 1000, offset: int = 0) -> pl.DataFrame:
    times = [start + dt.timedelta(milliseconds=step_ms * i) for i in range(n)]
    return conform(
        pl.DataFrame(
            {
                "time": times,
                "exporter": ["10.0.0.21"] * n,
                "src_ip": [f"10.128.{(i + offset) // 250}.{(i + offset) % 250}" for i in range(n)],
                "dst_ip": ["10.129.2.9"] * n,
                "src_port": [40000 + (i + offset) % 20000 for i in range(n)],
                "dst_port": [9091] * n,
                "protocol": [6] * n,
                "bytes": [1000 * (i + offset) for i in range(n)],
                "sequence": [i + offset for i in range(n)],
                "source": ["sflow"] * n,
            }
        )
    )


def counters(n: int, start: dt.datetime) -> pl.DataFrame:
    return conform(
        pl.DataFrame(
            {
                "time": [start + dt.timedelta(seconds=30 * i) for i in range(n)],
                "exporter": ["10.0.0.22"] * n,
                "if_index": list(range(n)),
                "in_octets": [10**12 + i for i in range(n)],
            }
        ),
        counters=True,
    )


def parts(root: Path, kind: str = "flows") -> list[Path]:
    return sorted((root / kind).rglob("*.parquet"))


T0 = dt.datetime(2025, 1, 6, 9, 58, tzinfo=UTC)


def test_round_trip_flows_and_counters(tmp_path: Path) -> None:
    f, c = flows(500, T0), counters(40, T0)
    with CaptureWriter(tmp_path) as w:
        w.write(flows=f, counters=c)
    assert_frame_equal(read_capture(tmp_path).sort("sequence"), f.sort("sequence"))
    assert_frame_equal(read_capture(tmp_path, kind="counters").sort("if_index"), c)
    assert scan_capture(tmp_path).collect_schema() == FLOW_SCHEMA
    assert scan_capture(tmp_path, kind="counters").collect_schema() == COUNTER_SCHEMA


def test_rows_are_split_by_utc_hour_and_partitions_do_not_leak(tmp_path: Path) -> None:
    f = flows(600, T0, step_ms=1000)  # 09:58:00 .. 10:07:59 -> hours 09 and 10
    with CaptureWriter(tmp_path) as w:
        w.write(flows=f)
    dirs = sorted({p.parent.relative_to(tmp_path / "flows").as_posix() for p in parts(tmp_path)})
    assert dirs == ["date=2025-01-06/hour=09", "date=2025-01-06/hour=10"]
    back = read_capture(tmp_path)
    assert "date" not in back.columns and "hour" not in back.columns
    for p in parts(tmp_path):
        hours = pl.read_parquet(p)["time"].dt.hour().unique().to_list()
        assert hours == [int(p.parent.name.split("=")[1])]
    assert back.height == 600


def test_roll_by_size_writes_several_files_and_keeps_every_row(tmp_path: Path) -> None:
    with CaptureWriter(tmp_path, roll_bytes=10_000) as w:
        for k in range(10):
            w.write(flows=flows(100, T0 + dt.timedelta(seconds=k), offset=100 * k))
        assert w.stats.files >= 5
    files = parts(tmp_path)
    assert len(files) >= 5
    assert read_capture(tmp_path)["sequence"].sort().to_list() == list(range(1000))


def test_roll_by_time(tmp_path: Path) -> None:
    # The clock is injected so the test controls time (no sleeping, no timing assertion).
    now = [100.0]
    w = CaptureWriter(tmp_path, roll_seconds=10, clock=lambda: now[0])
    w.write(flows=flows(10, T0))
    assert parts(tmp_path) == []
    assert w.pending().height == 10
    now[0] += 9.9
    assert w.roll() == []
    now[0] += 0.2
    written = w.roll()
    assert len(written) == 1 and written[0].exists()
    assert w.pending().height == 0
    w.write(flows=flows(5, T0, offset=10))
    w.close()
    assert len(parts(tmp_path)) == 2
    assert read_capture(tmp_path).height == 15


def test_snapshot_sees_written_and_pending_rows(tmp_path: Path) -> None:
    w = CaptureWriter(tmp_path, roll_bytes=10_000)
    w.write(flows=flows(300, T0))
    w.write(flows=flows(3, T0, offset=300))
    assert w.stats.files >= 1 and w.pending().height > 0
    snap = w.snapshot()
    assert sorted(snap["sequence"].to_list()) == list(range(303))
    w.close()


def test_no_partial_file_is_ever_visible(tmp_path: Path) -> None:
    seen: list[int] = []
    problems: list[str] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            for p in parts(tmp_path):
                try:
                    seen.append(pl.read_parquet(p).height)
                except FileNotFoundError:
                    continue  # cannot happen (no deletes), but not a partial file either
                except Exception as exc:  # a half-written file would land here
                    problems.append(f"{p.name}: {exc}")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        with CaptureWriter(tmp_path, roll_bytes=50_000) as w:
            for k in range(40):
                w.write(flows=flows(400, T0 + dt.timedelta(seconds=k), offset=400 * k))
    finally:
        done.set()
        thread.join()
    assert problems == []
    assert seen and min(seen) > 0
    assert not list(tmp_path.rglob("*.tmp"))
    assert read_capture(tmp_path).height == 16_000


def test_output_failure_raises_a_clear_error_and_keeps_rows_pending(tmp_path: Path) -> None:
    # A file where the partition directory must go: the real mkdir fails (works as root too).
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "date=2025-01-06").write_text("not a directory")
    w = CaptureWriter(tmp_path)
    w.write(flows=flows(10, T0))
    with pytest.raises(CollectorError, match=r"cannot write .*10 rows of flows stay unwritten"):
        w.flush()
    assert w.stats.pending_rows["flows"] == 10


def test_non_canonical_frames_are_refused(tmp_path: Path) -> None:
    with CaptureWriter(tmp_path) as w, pytest.raises(SchemaError, match="missing columns"):
        w.write(flows=pl.DataFrame({"src_ip": ["10.0.0.1"]}))


def test_closed_writer_refuses_writes(tmp_path: Path) -> None:
    w = CaptureWriter(tmp_path)
    w.close()
    with pytest.raises(CollectorError, match="closed"):
        w.write(flows=flows(1, T0))


@pytest.mark.parametrize(("roll_seconds", "roll_bytes"), [(0, 10), (10, 0)])
def test_bad_roll_settings(tmp_path: Path, roll_seconds: float, roll_bytes: int) -> None:
    with pytest.raises(ConfigError, match="must be > 0"):
        CaptureWriter(tmp_path, roll_seconds=roll_seconds, roll_bytes=roll_bytes)


def test_scan_capture_paths(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        scan_capture(tmp_path / "nope")
    assert read_capture(tmp_path).height == 0  # empty directory: empty frame
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match="not a capture directory"):
        scan_capture(tmp_path)
    with pytest.raises(ConfigError, match="kind must be one of"):
        scan_capture(tmp_path, kind="packets")  # type: ignore[arg-type]
    cap = tmp_path / "cap"
    with CaptureWriter(cap) as w:
        w.write(flows=flows(7, T0))
    assert read_capture(cap / "flows").height == 7  # the kind directory itself works too
    assert read_capture(cap, kind="counters").height == 0
