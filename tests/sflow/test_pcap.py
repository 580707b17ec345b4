"""pcap/pcapng reader: every format variant and link type, real tcpdump captures, bad files."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sflow_helpers import decode_many, tshark_fields

from flowlab.capture.pcap import iter_pcap, read_pcap
from flowlab.capture.pcap_write import sflow_packets, udp_frame, write_pcap, write_pcapng
from flowlab.exceptions import PcapError
from flowlab.sflow import records as r
from flowlab.sflow.decode import Decoded
from flowlab.sflow.encode import encode_datagram
from flowlab.sflow.packet import raw_header

T0 = 1_700_000_000


def datagrams(n: int = 12, agent: str = "192.0.2.1", per: int = 5) -> list[bytes]:
    out = []
    for i in range(n):
        samples: list[r.Sample] = [
            r.FlowSample(
                i * per + k,
                3,
                400,
                400,
                [
                    raw_header(
                        f"10.128.{i % 256}.{k + 1}",
                        "10.129.2.9",
                        6 if k % 2 else 17,
                        40000 + k,
                        9090 if k % 2 else 53,
                        payload_length=300 + k,
                    )
                ],
            )
            for k in range(per)
        ]
        samples.append(r.CounterSample(i, 3, [r.GenericInterfaceCounters(3, in_octets=1000 * i)]))
        out.append(encode_datagram(r.Datagram(agent, i + 1, 1000 * i, samples)))
    return out


def expected(data: list[bytes]) -> Decoded:
    return decode_many(data)


def same_rows(got: Decoded, want: Decoded) -> None:
    cols = [c for c in got.flows.columns if c not in ("time", "source")]
    assert_frame_equal(got.flows.select(cols), want.flows.select(cols))
    ccols = [c for c in got.counters.columns if c not in ("time", "source")]
    assert_frame_equal(got.counters.select(ccols), want.counters.select(ccols))


@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("nanoseconds", [False, True])
def test_classic_pcap_byte_orders_and_resolutions(
    tmp_path: Path, core: str, byteorder: str, nanoseconds: bool
) -> None:
    data = datagrams()
    path = tmp_path / "x.pcap"
    packets = sflow_packets(data, start_s=T0 + 0.125, interval_s=0.25)
    write_pcap(path, packets, byteorder=byteorder, nanoseconds=nanoseconds)  # type: ignore[arg-type]
    out = read_pcap(path)
    same_rows(out, expected(data))
    assert out.flows["source"].unique().to_list() == ["pcap"]
    times = out.counters["time"].dt.epoch("ms").to_list()
    assert times == [T0 * 1000 + 125 + 250 * i for i in range(len(data))]
    assert out.stats.packets == len(data) and out.stats.packets_skipped == {}


@pytest.mark.parametrize("link", ["ethernet", "vlan", "linux_sll", "linux_sll2", "raw", "null"])
@pytest.mark.parametrize("agent", ["192.0.2.1", "2001:db8::1"])
def test_link_types_and_ip_versions(tmp_path: Path, link: str, agent: str) -> None:
    data = datagrams(4, agent=agent)
    path = tmp_path / "x.pcap"
    write_pcap(path, sflow_packets(data, agent=agent, link=link), link=link)  # type: ignore[arg-type]
    out = read_pcap(path)
    same_rows(out, expected(data))
    assert out.flows["exporter"].unique().to_list() == [agent.replace("2001:db8::1", "2001:db8::1")]


def test_pcapng_interfaces_resolutions_and_sections(tmp_path: Path) -> None:
    data = datagrams(6)
    a = udp_frame(data[0], "192.0.2.1", "192.0.2.9", 1, 6343)
    b = udp_frame(data[1], "192.0.2.1", "192.0.2.9", 1, 6343, link="linux_sll2")
    c = udp_frame(data[2], "192.0.2.1", "192.0.2.9", 1, 6343, link="raw")
    path = tmp_path / "x.pcapng"
    write_pcapng(
        path,
        [
            (T0 + 0.5, a, 0),
            (((T0 + 1) * 10**9 + 250_000_000, 0), b, 1),
            ((T0 * 1024 + 512, 0), c, 2),
        ],
        interfaces=[("ethernet", 6), ("linux_sll2", 9), ("raw", 0x80 | 10)],
        byteorder=">",
    )
    out = read_pcap(path)
    same_rows(out, expected(data[:3]))
    assert out.counters["time"].dt.epoch("ms").to_list() == [
        T0 * 1000 + 500, T0 * 1000 + 1250, T0 * 1000 + 500,
    ]  # fmt: skip
    # a second section (new byte order, new interfaces) appended to the same file
    second = tmp_path / "y.pcapng"
    write_pcapng(second, [(T0 + 2.0, udp_frame(data[3], "192.0.2.1", "192.0.2.9", 1, 6343))])
    joined = tmp_path / "joined.pcapng"
    joined.write_bytes(path.read_bytes() + second.read_bytes())
    both = read_pcap(joined)
    same_rows(both, expected(data[:4]))


def test_pcapng_simple_packet_blocks(tmp_path: Path) -> None:
    data = datagrams(3)
    path = tmp_path / "s.pcapng"
    write_pcapng(path, sflow_packets(data), simple=True)
    same_rows(read_pcap(path), expected(data))


def test_non_sflow_packets_are_counted_not_errors(tmp_path: Path) -> None:
    data = datagrams(3)
    frames = [f for _, f in sflow_packets(data)]
    other_port = udp_frame(data[0], "192.0.2.1", "192.0.2.9", 1, 2055)
    tcp = bytearray(frames[0])
    tcp[23] = 6  # IPv4 protocol: TCP
    frag = bytearray(frames[1])
    frag[20] |= 0x20  # IPv4 more-fragments
    arp = bytes(12) + b"\x08\x06" + bytes(28)
    short = frames[2][:30]
    packets = [
        (T0 + i, f)
        for i, f in enumerate(
            [frames[0], other_port, bytes(tcp), bytes(frag), arp, short, frames[2]]
        )
    ]
    path = tmp_path / "mixed.pcap"
    write_pcap(path, packets)
    out = read_pcap(path)
    assert out.stats.packets == 7
    assert out.stats.packets_skipped == {
        "other_port": 1, "not_udp": 1, "fragment": 1, "not_ip": 1, "truncated_packet": 1,
    }  # fmt: skip
    assert out.stats.datagrams == out.stats.datagrams_ok == 2
    assert read_pcap(path, port=2055).stats.datagrams == 1


def test_truncated_files_decode_what_is_there(tmp_path: Path, core: str) -> None:
    data = datagrams(8)
    path = tmp_path / "full.pcap"
    write_pcap(path, sflow_packets(data))
    raw = path.read_bytes()
    sizes = [
        24 + sum(16 + len(f) for _, f in sflow_packets(data)[:k]) for k in range(len(data) + 1)
    ]
    for cut in (25, sizes[3] + 5, sizes[3] + 20, sizes[5] - 1, len(raw) - 1):
        part = tmp_path / f"cut{cut}.pcap"
        part.write_bytes(raw[:cut])
        out = read_pcap(part)
        whole = max(k for k, s in enumerate(sizes) if s <= cut)
        assert out.stats.datagrams_ok == whole, cut
        assert out.stats.packets_skipped == {"truncated_file": 1}
    ng = tmp_path / "full.pcapng"
    write_pcapng(ng, sflow_packets(data))
    cut_ng = tmp_path / "cut.pcapng"
    cut_ng.write_bytes(ng.read_bytes()[:-7])
    out = read_pcap(cut_ng)
    assert out.stats.datagrams_ok == len(data) - 1
    assert out.stats.packets_skipped == {"truncated_file": 1}


def test_files_that_are_not_captures_raise_pcap_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello, this is not a capture\n")
    with pytest.raises(PcapError, match=r"not a pcap or pcapng capture.*68 65 6c 6c"):
        read_pcap(bad)
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    with pytest.raises(PcapError, match="an empty file"):
        read_pcap(empty)
    with pytest.raises(PcapError, match="cannot open"):
        read_pcap(tmp_path / "missing.pcap")
    short = tmp_path / "short.pcap"
    short.write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00")
    with pytest.raises(PcapError, match="truncated"):
        read_pcap(short)


def test_corrupt_record_length_stops_cleanly(tmp_path: Path, core: str) -> None:
    data = datagrams(3)
    path = tmp_path / "c.pcap"
    write_pcap(path, sflow_packets(data))
    raw = bytearray(path.read_bytes())
    second = 24 + 16 + len(sflow_packets(data)[0][1])
    raw[second + 8 : second + 12] = (0x7FFFFFFF).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    out = read_pcap(path)
    assert out.stats.datagrams_ok == 1 and out.stats.packets_skipped == {"corrupt_record": 1}


def test_iter_pcap_batches_in_bounded_chunks(tmp_path: Path, core: str) -> None:
    data = datagrams(300, per=3)
    path = tmp_path / "big.pcap"
    write_pcap(path, sflow_packets(data))
    batches = list(iter_pcap(path, batch_datagrams=50, chunk_bytes=64 << 10))
    assert len(batches) >= 300 // 50
    assert all(b.stats.datagrams <= 50 for b in batches)
    whole = Decoded.concat(batches)
    same_rows(whole, expected(data))
    assert whole.stats.lost == 0 and whole.stats.packets == 300
    assert_frame_equal(read_pcap(path).flows, whole.flows)


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_records_larger_than_the_read_buffer(tmp_path: Path, core: str, kind: str) -> None:
    data = datagrams(5)
    path = tmp_path / f"x.{kind}"
    (write_pcap if kind == "pcap" else write_pcapng)(path, sflow_packets(data))
    out = Decoded.concat(iter_pcap(path, chunk_bytes=256))
    same_rows(out, expected(data))
    assert out.stats.packets_skipped == {}


def test_tshark_reads_the_same_fields(tmp_path: Path) -> None:
    data = datagrams(10)
    path = tmp_path / "t.pcapng"
    write_pcapng(path, sflow_packets(data))
    out = read_pcap(path)
    rows = tshark_fields(
        str(path),
        ["sflow_245.sequence_number", "sflow.flow_sample.sequence_number", "sflow_245.header.frame_length",
         "ip.src", "udp.srcport", "tcp.dstport", "sflow_245.ifinoct"],
    )  # fmt: skip
    assert [int(p["sflow_245.sequence_number"][0]) for p in rows] == list(range(1, 11))
    for p, (_, f) in zip(rows, out.flows.group_by("sequence", maintain_order=True)):
        assert [int(x) for x in p["sflow.flow_sample.sequence_number"]] == f[
            "sample_sequence"
        ].to_list()
        assert [int(x) for x in p["sflow_245.header.frame_length"]] == f["frame_length"].to_list()
        assert p["ip.src"][1:] == f["src_ip"].to_list()
        assert Counter(p["udp.srcport"][1:]) == Counter(
            str(x) for x in f.filter(pl.col("protocol") == 17)["src_port"]
        )
        assert [int(x) for x in p["tcp.dstport"]] == f.filter(pl.col("protocol") == 6)[
            "dst_port"
        ].to_list()
    assert [int(p["sflow_245.ifinoct"][0]) for p in rows] == out.counters["in_octets"].to_list()


def _capture_live(
    tmp_path: Path, args: list[str], data: list[bytes], name: str
) -> tuple[Path, int]:
    """Send `data` over a real UDP socket on loopback while the real tcpdump writes a capture.

    tcpdump says "listening" a moment before its socket sees packets, so probes go to a
    second port until the capture file shows one; the reader then counts them as other_port.
    """
    tcpdump = shutil.which("tcpdump")
    assert tcpdump, "tcpdump is required (Debian package tcpdump)"
    if os.geteuid() != 0:
        pytest.skip("capturing on lo needs root")
    sink, probe_sink = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    sink.bind(("127.0.0.1", 0))
    probe_sink.bind(("127.0.0.1", 0))
    port, probe_port = sink.getsockname()[1], probe_sink.getsockname()[1]
    path = tmp_path / name
    # immediate mode uses one ring slot per snaplen: a small snaplen keeps many slots
    cmd = [tcpdump, "-U", "--immediate-mode", "-s", "2048", "-B", "8192", "-n", *args, "-w", str(path),
           f"udp and (dst port {port} or dst port {probe_port})"]  # fmt: skip
    err = (tmp_path / "tcpdump.err").open("w")  # closed in the finally below
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        deadline = time.monotonic() + 15
        while not (path.exists() and path.stat().st_size > 24):
            assert time.monotonic() < deadline and proc.poll() is None, "tcpdump did not start"
            tx.sendto(b"probe", ("127.0.0.1", probe_port))
            time.sleep(0.05)
        for d in data:
            tx.sendto(d, ("127.0.0.1", port))
        sink.settimeout(5)
        for _ in data:
            sink.recv(65535)
        size = -1
        while size != path.stat().st_size and time.monotonic() < deadline:  # until written out
            size = path.stat().st_size
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        for s in (sink, probe_sink, tx):
            s.close()
        err.close()
    return path, port


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["-i", "lo"], "lo.pcap"),
        (["-i", "lo", "--time-stamp-precision=nano"], "lo-nano.pcap"),
        (["-i", "any"], "any.pcap"),
    ],
)
def test_real_tcpdump_capture_on_loopback(tmp_path: Path, args: list[str], name: str) -> None:
    data = datagrams(20)
    before = time.time()
    path, port = _capture_live(tmp_path, args, data, name)
    out = read_pcap(path, port=port)
    assert out.stats.datagrams == out.stats.datagrams_ok == 20
    assert set(out.stats.packets_skipped) <= {"other_port"}  # the probes
    same_rows(out, expected(data))
    t = out.flows["time"].dt.epoch("ms")
    assert before * 1000 - 1000 <= t.min() <= t.max() <= time.time() * 1000 + 1000
