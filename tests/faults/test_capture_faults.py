"""Hostile capture files and corrupt capture directories (#11 items 4, 5, 12).

Real files: the Open vSwitch capture of tests/data rewritten as pcapng, with
short blocks or impossible timestamps appended; Parquet part files written by
flowlab's own CaptureWriter, then corrupted on disk.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import polars as pl
import pytest
from fault_data import expected_rows, needs_tmpfs, ovs_datagrams, pcap_frames

from flowlab.capture.pcap import iter_pcap, read_pcap
from flowlab.capture.pcap_write import write_pcapng
from flowlab.cli import main
from flowlab.exceptions import DataLossWarning, DecodeError
from flowlab.store import CaptureWriter, read_capture


def block(btype: int, body: bytes) -> bytes:
    """A pcapng block (little-endian), its length as given by its body (no minimum)."""
    n = len(body) + 12
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def ovs_pcapng(path: Path, *, tsresol: int = 6) -> None:
    packets = [((sec * 10**6 + usec, 0), frame) for sec, usec, frame in pcap_frames()]
    if tsresol != 6:
        packets = [((sec, 0), frame) for sec, _u, frame in pcap_frames()]
    write_pcapng(path, packets, interfaces=[("ethernet", tsresol)])


SHORT_BLOCKS = {
    "interface block of 16 bytes": block(1, struct.pack("<HH", 1, 0)),
    "enhanced packet block of 28 bytes": block(6, struct.pack("<IIII", 0, 0, 0, 1500)),
    "obsolete packet block of 24 bytes": block(2, struct.pack("<HHII", 0, 0, 0, 0)),
    "simple packet block of 12 bytes": block(3, b""),
}


@pytest.mark.parametrize("name", sorted(SHORT_BLOCKS))
def test_a_short_pcapng_block_at_the_end_of_the_file_is_a_counted_skip(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "short.pcapng"
    ovs_pcapng(path)
    with open(path, "ab") as f:
        f.write(SHORT_BLOCKS[name])
    out = read_pcap(path)
    flows, counters = expected_rows(ovs_datagrams())
    assert (out.stats.flows, out.stats.counters) == (flows, counters)  # nothing before it lost
    assert out.stats.packets_skipped == {"short_block": 1}
    assert main(["read", str(path), "--out", str(tmp_path / "out.parquet")]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "struct.error" not in err
    assert pl.read_parquet(tmp_path / "out.parquet").height == flows


@pytest.mark.parametrize("name", sorted(SHORT_BLOCKS))
def test_a_short_pcapng_block_at_the_end_of_a_read_chunk_is_a_counted_skip(
    tmp_path: Path, name: str
) -> None:
    # The short block sits between two packets; every chunk size puts some chunk's end right
    # behind it (the reader reads past a block only as far as the chunk goes).
    path = tmp_path / "short.pcapng"
    ovs_pcapng(path)
    raw = path.read_bytes()
    flows, _ = expected_rows(ovs_datagrams())
    bounds, pos = [], 0
    while pos < len(raw):
        bounds.append(pos)
        pos += struct.unpack_from("<I", raw, pos + 4)[0]
    pos = bounds[-1]  # insert before the last packet
    path.write_bytes(raw[:pos] + SHORT_BLOCKS[name] + raw[pos:])
    end_of_short = pos + len(SHORT_BLOCKS[name])
    for chunk in (end_of_short, end_of_short + 4, 4096):
        stats = [b.stats for b in iter_pcap(path, chunk_bytes=chunk)]
        assert sum(s.flows for s in stats) == flows
        assert sum(s.packets_skipped.get("short_block", 0) for s in stats) == 1


def test_a_huge_timestamp_in_seconds_is_a_counted_skip(tmp_path: Path) -> None:
    # if_tsresol=0: timestamps count seconds; a 64-bit one is far past the year 9999
    path = tmp_path / "seconds.pcapng"
    frames = pcap_frames()
    packets = [((sec, 0), frame) for sec, _u, frame in frames[:-1]]
    packets.append(((2**63 + 12345, 0), frames[-1][2]))
    write_pcapng(path, packets, interfaces=[("ethernet", 0)])
    out = read_pcap(path)
    grams = ovs_datagrams()
    assert (out.stats.flows, out.stats.counters) == expected_rows(grams[:-1])
    assert out.stats.packets_skipped == {"bad_timestamp": 1}
    assert out.flows["time"].dt.year().unique().to_list() == [2026]  # the capture's own year


def _capture_dir(tmp_path: Path, files: int = 3) -> tuple[Path, list[Path], int]:
    from flowlab.sflow.decode import decode

    grams = ovs_datagrams()
    root = tmp_path / "cap"
    per = len(grams) // files
    total = 0
    with CaptureWriter(root) as w:
        for i in range(files):
            part = grams[i * per : (i + 1) * per]
            buf = b"".join(part)
            offs = [sum(len(g) for g in part[:k]) for k in range(len(part))]
            out = decode(buf, offs, [len(g) for g in part], received_ms=1_733_300_000_000 + i)
            w.write(flows=out.flows)
            w.flush()
            total += out.flows.height
    return root, sorted(root.rglob("part-*.parquet")), total


def test_a_corrupt_part_file_is_named_or_skipped_with_a_count(tmp_path: Path) -> None:
    root, parts, total = _capture_dir(tmp_path)
    assert len(parts) == 3 and read_capture(root).height == total
    victim = parts[1]
    lost = pl.read_parquet(victim).height
    raw = bytearray(victim.read_bytes())
    raw[8:200] = b"\xff" * 192  # the first column chunk's pages: garbage, footer intact
    victim.write_bytes(bytes(raw))
    with pytest.raises(DecodeError, match=rf"{victim.name} is not readable Parquet .*1 of 3"):
        read_capture(root)
    with pytest.warns(DataLossWarning, match=rf"skipped 1 corrupt part files of 3 \({lost} rows"):
        frame = read_capture(root, skip_corrupt=True)
    assert frame.height == total - lost


def test_a_truncated_part_file_is_named(tmp_path: Path) -> None:
    root, parts, total = _capture_dir(tmp_path)
    victim = parts[0]
    victim.write_bytes(victim.read_bytes()[:100])  # footer gone: rows unknown
    with pytest.raises(DecodeError, match=victim.name):
        read_capture(root)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        frame = read_capture(root, skip_corrupt=True)
    assert [w.category for w in seen] == [DataLossWarning]
    assert victim.name in str(seen[0].message)
    assert 0 < frame.height < total


@needs_tmpfs
@pytest.mark.parametrize("out", ["out.parquet", "out.csv", "capdir"])
def test_flowlab_read_onto_a_full_disk_exits_1_naming_the_cause(tmp_path: Path, out: str) -> None:
    import os
    import subprocess
    import sys

    mount = tmp_path / "disk"
    mount.mkdir()
    capture = Path(__file__).resolve().parents[1] / "data" / "ovs-sampling1.pcap"
    script = (
        'mount -t tmpfs -o size=8k flowlab-fault "$1" || exit 97; '
        '"$2" -m flowlab.cli read "$3" --out "$1/$4"; rc=$?; '
        'find "$1" -type f -name "*.*"; exit $rc'
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
         str(mount), sys.executable, str(capture), out],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "No space left on device" in done.stderr and "Traceback" not in done.stderr
    assert f"cannot write {mount}/{out}" in done.stderr
    assert done.stdout == ""  # no file, visible or temporary, left on the disk
