"""The live collector over real loopback UDP: real encoded datagrams from several agents."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from flowlab.collect import _mmsg, receive_process
from flowlab.collect.collector import Collector, CollectorStats
from flowlab.decoding import Datagrams
from flowlab.exceptions import CollectorError
from flowlab.schema import validate, validate_counters
from flowlab.sflow.decode import Decoded
from flowlab.sflow.encode import encode_datagram
from flowlab.sflow.packet import raw_header
from flowlab.sflow.records import (
    CounterSample,
    Datagram,
    EthernetCounters,
    FlowSample,
    GenericInterfaceCounters,
    UnknownRecord,
)
from flowlab.store import read_capture

AGENTS_V4 = ["10.0.0.11", "10.0.0.21", "10.0.0.22"]
AGENTS_V6 = ["fd00::11", "fd00::21"]


FlowKey = tuple[str, str, str, int, int]
#: what each datagram made by make_datagrams carries: (agent, src, dst, sport, dport) per flow sample
SENT: dict[int, list[FlowKey]] = {}


def make_datagrams(
    agents: list[str], per_agent: int, *, samples: int = 4, start_seq: int = 1
) -> list[Datagram]:
    grams = []
    for a, agent in enumerate(agents):
        for k in range(per_agent):
            flows, keys = [], []
            for j in range(samples):
                src = f"10.128.{a}.{(k * samples + j) % 250 + 1}"
                sport = 40000 + (k * samples + j) % 20000
                rec = raw_header(src, "10.129.2.9", 6, sport, 9091, payload_length=100 + j)
                keys.append((agent, src, "10.129.2.9", sport, 9091))
                flows.append(
                    FlowSample(
                        sequence=k * samples + j + 1,
                        source_id=3,
                        sampling_rate=400,
                        sample_pool=400 * (k + 1),
                        records=[rec],
                        input_if=3,
                        output_if=1,
                    )
                )
            counters = CounterSample(
                sequence=k + 1,
                source_id=3,
                records=[
                    GenericInterfaceCounters(if_index=3, in_octets=k),
                    EthernetCounters(),
                    UnknownRecord(1005, b"\x00\x00\x00\x04eth0"),
                ],
            )
            d = Datagram(agent, start_seq + k, 1000 * k, [*flows, counters])
            SENT[id(d)] = keys
            grams.append(d)
    return grams


def send_all(grams: list[Datagram], address: tuple[str, int], family: int) -> None:
    by_agent: dict[str, list[bytes]] = {}
    for d in grams:
        by_agent.setdefault(d.agent, []).append(encode_datagram(d))
    for data in by_agent.values():  # one socket per agent, as real exporters
        tx = socket.socket(family, socket.SOCK_DGRAM)
        tx.connect(address)
        _mmsg.Outbox(data).send(tx)
        tx.close()


def expected(grams: list[Datagram]) -> Counter[FlowKey]:
    return Counter(t for d in grams for t in SENT[id(d)])


def got(frame: pl.DataFrame) -> Counter[FlowKey]:
    rows = frame.select("exporter", "src_ip", "dst_ip", "src_port", "dst_port").iter_rows()
    return Counter(rows)


@pytest.mark.parametrize("multi", [True, False], ids=["recvmmsg", "recvfrom"])
@pytest.mark.parametrize(
    ("listen", "family", "agents"),
    [
        ("127.0.0.1:0", socket.AF_INET, AGENTS_V4),
        ("[::1]:0", socket.AF_INET6, AGENTS_V6 + AGENTS_V4),
    ],
    ids=["ipv4", "ipv6"],
)
def test_everything_sent_is_decoded_in_memory(
    listen: str, family: int, agents: list[str], multi: bool
) -> None:
    grams = make_datagrams(agents, 300)
    with Collector(listen, multi=multi) as col:
        send_all(grams, col.address, family)
        flows, counters = col.flows(), col.counters()  # no wait: flows() drains and decodes
        stats = col.stats
    validate(flows)
    validate_counters(counters)
    assert got(flows) == expected(grams)
    assert counters.height == len(grams)
    assert set(counters["exporter"].unique()) == set(agents)
    assert stats.datagrams == len(grams) and stats.errors == 0
    assert stats.flow_samples == 4 * len(grams) and stats.counter_samples == len(grams)
    assert stats.sequence_lost == 0 and stats.kernel_drops == 0
    assert stats.decode.records_skipped == {(0, 1005): len(grams)}
    assert (flows["source"] == "sflow").all()
    assert flows["service_name"].unique().to_list() == ["xmltec-xmlmail"]


def test_parquet_output_and_flows_before_and_after_stop(tmp_path: Path) -> None:
    grams = make_datagrams(AGENTS_V4, 200)
    col = Collector("127.0.0.1:0", out_dir=tmp_path, roll_bytes=200_000).start()
    send_all(grams[:300], col.address, socket.AF_INET)
    early = col.flows()  # part files and the rows still buffered
    assert got(early) == expected(grams[:300])
    send_all(grams[300:], col.address, socket.AF_INET)
    stats = col.stop()
    assert stats.files >= 2
    on_disk = read_capture(tmp_path)
    assert got(on_disk) == expected(grams)
    assert read_capture(tmp_path, kind="counters").height == len(grams)
    assert got(col.flows()) == expected(grams)  # still readable after stop
    assert stats.rows_written == on_disk.height + len(grams)


def test_decoded_rows_do_not_alias_the_receive_buffers() -> None:
    # Small buffers, reused many times: rows decoded earlier must stay intact.
    first = make_datagrams(["10.0.0.11"], 50)
    later = make_datagrams(["10.0.0.12"], 2000, start_seq=1)
    with Collector("127.0.0.1:0", batch_bytes=256 << 10, max_pending_bytes=512 << 10) as col:
        send_all(first, col.address, socket.AF_INET)
        before = col.flows()
        send_all(later, col.address, socket.AF_INET)
        after = col.flows()
    assert got(after.filter(pl.col("exporter") == "10.0.0.11")) == got(before) == expected(first)


def test_malformed_datagrams_are_counted_and_do_not_stop_the_collector() -> None:
    good = make_datagrams(["10.0.0.21"], 20)
    data = [encode_datagram(d) for d in good]
    bad = [
        b"",
        b"\x00\x00\x00\x04" + b"\x00" * 40,  # sFlow version 4
        data[0][:20],  # cut inside the header
        data[1][:-7],  # cut inside a sample
        b"\xff" * 300,
    ]
    with Collector("127.0.0.1:0") as col:
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx.connect(col.address)
        for payload in [*bad, *data[2:]]:
            tx.send(payload)
        tx.close()
        flows = col.flows()
        stats = col.stats
    assert stats.datagrams == len(bad) + len(data) - 2
    assert stats.errors == len(bad)
    assert sum(stats.errors_by_reason.values()) == len(bad)
    assert "wrong_version" in stats.errors_by_reason
    assert got(flows) == expected(good[2:])


def test_sequence_gaps_are_counted_per_agent() -> None:
    a = make_datagrams(["10.0.0.11"], 10)  # sequences 1..10
    b = make_datagrams(["10.0.0.12"], 10)
    sent = [d for d in a if d.sequence not in (4, 5, 6)] + [d for d in b if d.sequence != 9]
    with Collector("127.0.0.1:0") as col:
        send_all(sent, col.address, socket.AF_INET)
        col.flush()
        stats = col.stats
    assert stats.sequence_lost == 4
    assert stats.decode.lost_datagrams == {("10.0.0.11", 0): 3, ("10.0.0.12", 0): 1}
    assert "sequence-gap lost 4" in stats.status_line()


def test_gap_across_batches_is_seen() -> None:
    grams = make_datagrams(["10.0.0.11"], 10)
    with Collector("127.0.0.1:0") as col:
        send_all(grams[:5], col.address, socket.AF_INET)
        col.flush()  # the next datagrams land in another batch
        send_all(grams[7:], col.address, socket.AF_INET)
        col.flush()
        assert col.stats.sequence_lost == 2


def test_kernel_drops_are_part_of_the_stats() -> None:
    with Collector("127.0.0.1:0") as col:
        stats = col.stats
    assert isinstance(stats, CollectorStats)
    assert stats.kernel_drops == 0
    assert stats.rcvbuf > 0
    assert "kernel drops 0" in stats.status_line()


class Recorder:
    def __init__(self) -> None:
        self.batches: list[Decoded] = []
        self.closed = 0

    def __call__(self, decoded: Decoded) -> None:
        self.batches.append(decoded)

    def close(self) -> None:
        self.closed += 1


def test_sinks_get_every_batch_and_a_failing_sink_is_counted(tmp_path: Path) -> None:
    grams = make_datagrams(AGENTS_V4, 100)
    rec = Recorder()
    calls = []

    def broken(decoded: Decoded) -> None:
        calls.append(1)
        raise RuntimeError("index is read-only")

    col = Collector("127.0.0.1:0", out_dir=tmp_path, sinks=[rec, broken]).start()
    send_all(grams, col.address, socket.AF_INET)
    stats = col.stop()
    assert rec.closed == 1
    assert got(pl.concat([b.flows for b in rec.batches])) == expected(grams)
    assert stats.sink_errors == len(calls) > 0
    assert got(read_capture(tmp_path)) == expected(grams)  # the store is not affected


def test_output_failure_is_retried_and_unwritten_rows_fail_the_stop(tmp_path: Path) -> None:
    # The real filesystem refuses: a file sits where a partition directory must go.
    grams = make_datagrams(["10.0.0.11"], 5)
    col = Collector("127.0.0.1:0", out_dir=tmp_path, roll_bytes=1).start()
    for path in (tmp_path / "flows").glob("*"):
        path.unlink()
    (tmp_path / "flows").rmdir()
    (tmp_path / "flows").write_text("in the way")
    send_all(grams, col.address, socket.AF_INET)
    col.flush()
    running = col.stats
    assert col.error is None and col.running  # a failing output does not stop receiving
    assert running.write_fault is not None and "Not a directory" in running.write_fault
    assert running.held_rows == running.flows + running.counters > 0
    assert "WRITING FAILS" in running.status_line()
    with pytest.raises(
        CollectorError, match=r"rows were not written: cannot write .*Not a directory"
    ):
        col.stop()
    stats = col.stats
    assert stats.unwritten_rows == stats.flows == 20  # the counters directory still worked
    assert "UNWRITTEN" in stats.status_line()
    assert not list(tmp_path.rglob("*.tmp"))


def test_restart_and_repr() -> None:
    col = Collector("127.0.0.1:0")
    assert "new" in repr(col)
    col.start()
    assert "running" in repr(col)
    with pytest.raises(CollectorError, match="already started"):
        col.start()
    col.stop()
    col.stop()  # idempotent
    assert "stopped" in repr(col)


def test_a_collector_never_started_releases_its_port() -> None:
    col = Collector("127.0.0.1:0")
    port = col.address[1]
    col.stop()
    again = Collector(f"127.0.0.1:{port}")
    again.stop()


def test_an_internal_failure_stops_the_collector_with_a_collector_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A fake decoder failure: no real input makes the decoder raise, so the fault is injected
    # through the decoder interface (a protocol whose first batch fails).
    from flowlab.sflow.decode import DECODER

    calls = {"n": 0}

    class Flaky:
        name, port = "flaky-sflow", 6343

        def decode(self, datagrams: Datagrams, **kwargs: Any) -> Decoded:
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("injected")
            return DECODER.decode(datagrams, **kwargs)

    first = make_datagrams(["10.0.0.11"], 7)
    second = make_datagrams(["10.0.0.12"], 5)
    col = Collector("127.0.0.1:0", protocol=Flaky()).start()
    send_all(first, col.address, socket.AF_INET)
    col.flush()
    assert not col.running and col.error is not None
    send_all(second, col.address, socket.AF_INET)
    with pytest.raises(CollectorError, match=r"decode thread failed .*RuntimeError: injected"):
        col.stop()
    stats = col.stats
    # every datagram is counted: none decoded after the failure, none silently gone
    assert stats.errors_by_reason == {"internal_error": stats.datagrams} and stats.errors == 12
    assert calls["n"] == 1
    assert "injected" in caplog.text


def test_flows_answers_while_datagrams_keep_coming() -> None:
    import threading
    import time

    grams = [encode_datagram(d) for d in make_datagrams(["10.0.0.11"], 500)]
    stop = threading.Event()
    with Collector("127.0.0.1:0") as col:
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx.connect(col.address)
        out = _mmsg.Outbox(grams)

        def flood() -> None:
            while not stop.is_set():
                out.send(tx)
                time.sleep(0.01)  # about 50k datagrams/s

        sender = threading.Thread(target=flood)
        sender.start()
        try:
            time.sleep(0.3)
            first = col.flows().height  # must not wait for the stream to pause
            time.sleep(0.3)
            second = col.flows().height
        finally:
            stop.set()
            sender.join()
            tx.close()
    assert 0 < first < second


_SENDER = """
import socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
payload = open(sys.argv[3], "rb").read()
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
tx.connect(("127.0.0.1", port))
print("ready", flush=True)
sys.stdin.readline()
for i in range(count):  # about 50k datagrams/s: what matters is that nobody reads meanwhile
    tx.send(payload)
    if i % 100 == 99:
        time.sleep(0.002)
print("sent", flush=True)
"""


def _hold_the_gil(seconds: float) -> None:
    """Keep the GIL for about `seconds` inside one C call (as a long NumPy/pandas step can)."""
    n = 1_000_000
    start = time.perf_counter()
    sum(range(n))
    per = (time.perf_counter() - start) / n
    sum(range(int(seconds / per)))


@pytest.mark.skipif(not receive_process.AVAILABLE, reason="the receive process is Linux-only")
@pytest.mark.parametrize("receive", ["process", "thread"])
def test_a_busy_interpreter_loses_nothing_with_the_receive_process(
    receive: str, tmp_path: Path
) -> None:
    # A notebook's kernel busy in a long C call holds the GIL: a receive *thread* cannot run,
    # the kernel buffer (small for unprivileged pods) overflows. The receive *process* keeps
    # reading. Real datagrams from a real sender process, a real 1 MiB socket buffer.
    gram = encode_datagram(make_datagrams(AGENTS_V4[:1], 1)[0])
    (tmp_path / "gram").write_bytes(gram)
    count = 20_000  # ~10 MB: far more than the socket buffer holds
    with Collector(
        "127.0.0.1:0", receive=receive, rcvbuf=1 << 20, batch_bytes=4 << 20,
        max_pending_bytes=64 << 20,
    ) as col:  # fmt: skip
        assert col.receive == receive
        sender = subprocess.Popen(
            [sys.executable, "-c", _SENDER, str(col.address[1]), str(count), str(tmp_path / "gram")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert sender.stdout is not None and sender.stdin is not None
        assert sender.stdout.readline().strip() == "ready"
        sender.stdin.write("go\n")
        sender.stdin.flush()
        _hold_the_gil(1.5)  # the sender sends everything meanwhile
        assert sender.stdout.readline().strip() == "sent"
        sender.wait(timeout=30)
        stats = col.stop()
    if receive == "process":
        assert stats.kernel_drops == 0
        assert stats.datagrams == count and stats.flow_samples == 4 * count
    else:  # the hazard the process removes is real: the thread lost most of them, counted
        assert stats.kernel_drops and stats.kernel_drops > count // 2
        assert stats.datagrams + stats.kernel_drops == count


@pytest.mark.skipif(not receive_process.AVAILABLE, reason="the receive process is Linux-only")
def test_a_killed_receive_process_is_a_clear_error() -> None:
    col = Collector("127.0.0.1:0", receive="process").start()
    proc = col._listeners[0].receiver._proc
    assert proc is not None
    proc.kill()
    deadline = time.monotonic() + 10
    while col.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not col.running
    with pytest.raises(CollectorError, match="receive process exited unexpectedly"):
        col.stop()


_ORPHAN = """
import sys
sys.path[:0] = [sys.argv[1]]
from flowlab.collect.collector import Collector
col = Collector("127.0.0.1:0", receive="process").start()
print(col._listeners[0].receiver._proc.pid, flush=True)
sys.stdin.readline()
"""


@pytest.mark.skipif(not receive_process.AVAILABLE, reason="the receive process is Linux-only")
def test_the_receive_process_ends_with_its_parent() -> None:
    root = str(Path(__file__).resolve().parents[2])
    parent = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN, root], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.kill()  # no clean stop: SIGKILL
    parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for whoever reaps orphans here does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not receive_process.AVAILABLE, reason="the receive process is Linux-only")
def test_no_shared_memory_means_a_receive_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # A sandbox that refuses memfd_create (seccomp) cannot be made here: the refusal is faked.
    def refuse(*_: object) -> int:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(receive_process.os, "memfd_create", refuse)
    grams = [encode_datagram(d) for d in make_datagrams(AGENTS_V4[:1], 3)]
    with Collector("127.0.0.1:0") as col:
        assert col.receive == "thread"
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for g in grams:
            tx.sendto(g, col.address)
        assert col.flows().height == 12
        tx.close()
    with pytest.raises(CollectorError, match=r"shared memory: .*Operation not permitted"):
        Collector("127.0.0.1:0", receive="process")
