"""The ``flowlab`` command, run as a real subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

import flowlab
from flowlab.collect._mmsg import Outbox
from flowlab.demo import simulate
from flowlab.store import read_capture

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
KEY = [
    "exporter",
    "src_ip",
    "dst_ip",
    "src_port",
    "dst_port",
    "protocol",
    "tcp_flags",
    "frame_length",
    "sequence",
    "sample_sequence",
]


def flowlab_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowlab.cli", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=timeout,
        cwd=ROOT,
    )


def rows(frame: pl.DataFrame) -> Counter[tuple[object, ...]]:
    return Counter(frame.select(KEY).iter_rows())


def popen_collect(
    out: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """``flowlab collect --out OUT ARGS...`` started; returns it and its first stderr line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowlab.cli", "collect", "--out", str(out), *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=ENV if env is None else env,
        cwd=ROOT,
    )
    assert proc.stderr is not None
    return proc, proc.stderr.readline()


def start_collect(
    out: Path, listen: str = "127.0.0.1:0", *extra: str
) -> tuple[subprocess.Popen[str], tuple[str, int]]:
    proc, line = popen_collect(out, "--listen", listen, *extra)
    match = re.search(r"listening on udp \[?([0-9a-f.:]+?)\]?:(\d+),", line)
    assert match, line
    return proc, (match.group(1), int(match.group(2)))


def start_listeners(
    out: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], dict[str, tuple[str, int]]]:
    """``flowlab collect`` with ``--sflow/--ipfix/--netflow`` listeners: protocol -> bound address."""
    proc, line = popen_collect(out, *args, env=env)
    found = re.findall(r"(\w+) on udp ([0-9.]+):(\d+)", line)
    assert found, line
    return proc, {name: (host, int(port)) for name, host, port in found}


def send(sim_datagrams: list[tuple[int, bytes]], address: tuple[str, int]) -> None:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    by_agent: dict[int, list[bytes]] = {}
    for agent, data in sim_datagrams:
        by_agent.setdefault(agent, []).append(data)
    for grams in by_agent.values():
        tx = socket.socket(family, socket.SOCK_DGRAM)
        tx.connect(address)
        Outbox(grams).send(tx)
        tx.close()


@pytest.fixture(scope="module")
def sim():  # type: ignore[no-untyped-def]
    return simulate(seconds=300, seed=3)


@pytest.mark.parametrize(
    ("sig", "listen"),
    [(signal.SIGTERM, "127.0.0.1:0"), (signal.SIGINT, "127.0.0.1:0"), (signal.SIGTERM, "[::1]:0")],
    ids=["sigterm-ipv4", "sigint-ipv4", "sigterm-ipv6"],
)
def test_collect_flushes_everything_on_signal(tmp_path: Path, sim, sig: int, listen: str) -> None:  # type: ignore[no-untyped-def]
    proc, address = start_collect(tmp_path / "cap", listen)
    grams = [(d.agent, d.data) for d in sim.datagrams]
    send(grams, address)
    proc.send_signal(sig)  # at once: datagrams still sit in the socket and the buffers
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    final = err.strip().splitlines()[-1]
    assert f"datagrams {len(grams):,}," in final and "kernel drops 0" in final
    expected = sim.decode()
    flows = read_capture(tmp_path / "cap")
    assert rows(flows) == rows(expected.flows)
    assert read_capture(tmp_path / "cap", kind="counters").height == expected.counters.height
    assert not list((tmp_path / "cap").rglob("*.tmp"))


def test_collect_status_lines_and_rolling_by_size(tmp_path: Path, sim) -> None:  # type: ignore[no-untyped-def]
    proc, address = start_collect(
        tmp_path / "cap", "127.0.0.1:0", "--status-interval", "0.2", "--roll-bytes", "64k"
    )
    grams = [(d.agent, d.data) for d in sim.datagrams]
    third = len(grams) // 3
    for chunk in (grams[:third], grams[third : 2 * third], grams[2 * third :]):
        send(chunk, address)
        time.sleep(0.8)  # longer than a batch lasts: each chunk is decoded and written apart
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = err.strip().splitlines()
    assert sum("flowlab collect: datagrams" in line for line in lines) >= 2  # periodic
    assert lines[-1].startswith("flowlab collect: stopped: datagrams")
    files = list((tmp_path / "cap" / "flows").rglob("part-*.parquet"))
    assert len(files) >= 2  # one per batch at least (batches may merge on a very busy machine)
    assert read_capture(tmp_path / "cap").height == sim.flow_samples


def test_collect_duration_and_quiet_stdout(tmp_path: Path) -> None:
    r = flowlab_cli(
        "collect", "--listen", "127.0.0.1:0", "--out", str(tmp_path / "c"), "--duration", "0.3"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 2  # the start line and the final status


def test_demo_command(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    r = flowlab_cli("demo", "--out", str(out), "--seconds", "120", "--seed", "5")
    assert r.returncode == 0, r.stderr
    assert "lost 0" in r.stdout
    assert "grafana 10.128.2.7 talks to 3 peers: 10.129.2.9" in r.stdout
    assert "etcd-client (TCP 2379) originators: 10.0.0.11, 10.0.0.12, 10.0.0.13" in r.stdout
    doc = json.loads((out / "inventory.json").read_text())
    assert doc["kind"] == "List" and any(i["kind"] == "Pod" for i in doc["items"])
    assert read_capture(out).height > 0 and read_capture(out, kind="counters").height > 0
    again = flowlab_cli("demo", "--out", str(out), "--seconds", "60", "--seed", "5")
    assert again.returncode == 0, again.stderr  # a previous demo is replaced
    assert read_capture(out)["sequence"].n_unique() > 0


def test_version() -> None:
    r = flowlab_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"flowlab {flowlab.__version__}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "required"),
        (("collect",), "--out"),
        (("collect", "--listen", "bad", "--out", "x"), "HOST:PORT"),
        (("collect", "--listen", "[::1]:99999", "--out", "x"), "HOST:PORT"),
        (("collect", "--out", "x", "--roll-bytes", "lots"), "expected a size"),
        (("demo", "--seconds", "-5"), "positive"),
        (("frobnicate",), "invalid choice"),
    ],
)
def test_bad_usage_exits_2(args: tuple[str, ...], message: str) -> None:
    r = flowlab_cli(*args)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_runtime_errors_exit_1_with_one_line(tmp_path: Path) -> None:
    r = flowlab_cli("read", str(tmp_path / "missing.pcap"))
    assert r.returncode == 1
    assert (
        r.stderr.strip()
        == f"flowlab read: error: no such file: {tmp_path / 'missing.pcap'} (give a pcap or pcapng capture of flow datagrams)"
    )
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    r = flowlab_cli("demo", "--out", str(tmp_path / "mine"), "--seconds", "10")
    assert r.returncode == 1 and "not empty" in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"
    (tmp_path / "blocked").write_text("a file where the capture directory should be")
    r = flowlab_cli("collect", "--listen", "127.0.0.1:0", "--out", str(tmp_path / "blocked"))
    assert r.returncode == 1
    assert "cannot create capture directory" in r.stderr and "Traceback" not in r.stderr
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", 0))
    try:
        port = busy.getsockname()[1]
        r = flowlab_cli("collect", "--listen", f"127.0.0.1:{port}", "--out", str(tmp_path / "c"))
    finally:
        busy.close()
    assert r.returncode == 1
    assert "in use" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def write_pcap(path: Path, payloads: list[tuple[int, bytes]]) -> None:
    """A classic pcap (Ethernet) of UDP packets to the given ports, with these payloads."""
    import struct

    records = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i, (port, payload) in enumerate(payloads):
        udp = struct.pack(">HHHH", 50000, port, 8 + len(payload), 0) + payload
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                         bytes([10, 0, 0, 21]), bytes([10, 0, 0, 99]))  # fmt: skip
        total = 0
        for (word,) in struct.iter_unpack(">H", ip):
            total += word
        total = (total & 0xFFFF) + (total >> 16)
        ip = ip[:10] + struct.pack(">H", ~total & 0xFFFF) + ip[12:]
        frame = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + udp
        records.append(
            struct.pack("<IIII", 1_736_154_000 + i // 100, (i % 100) * 1000, len(frame), len(frame))
        )
        records.append(frame)
    path.write_bytes(b"".join(records))


@pytest.fixture
def capture(tmp_path: Path, sim) -> Path:  # type: ignore[no-untyped-def]
    payloads = [(6343, d.data) for d in sim.datagrams[:400]] + [(53, b"\x00" * 30)] * 3
    path = tmp_path / "sflow.pcap"
    write_pcap(path, payloads)
    return path


def test_read_pcap_to_parquet_csv_and_capture_dir(tmp_path: Path, capture: Path, sim) -> None:  # type: ignore[no-untyped-def]
    grams = sim.datagrams[:400]
    want = sum(g.flow_samples for g in grams)
    r = flowlab_cli("read", str(capture), "--out", str(tmp_path / "f.parquet"),
                    "--counters", str(tmp_path / "c.csv"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "400 sFlow datagrams" in r.stdout and "other_port 3" in r.stdout
    flows = pl.read_parquet(tmp_path / "f.parquet")
    assert flows.height == want
    assert pl.read_csv(tmp_path / "c.csv").height == sum(g.counter_samples for g in grams)
    r = flowlab_cli("read", str(capture), "--out", str(tmp_path / "f.csv"))
    assert r.returncode == 0, r.stderr
    assert pl.read_csv(tmp_path / "f.csv").height == want
    r = flowlab_cli("read", str(capture), "--out", str(tmp_path / "cap"))
    assert r.returncode == 0, r.stderr
    assert rows(read_capture(tmp_path / "cap")) == rows(flows)


def test_read_refuses_what_is_not_a_capture(tmp_path: Path, capture: Path) -> None:
    bogus = tmp_path / "notes.pcap"
    bogus.write_text("hello, not a capture\n" * 10)
    r = flowlab_cli("read", str(bogus), "--out", str(tmp_path / "x.parquet"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "pcap" in r.stderr.lower()
    assert not (tmp_path / "x.parquet").exists() and not list(tmp_path.glob(".*.tmp"))
    r = flowlab_cli("read", str(capture), "--out", str(tmp_path / "x.json"), "--counters", "y.csv")
    assert r.returncode == 1 and ".parquet or .csv" in r.stderr


def test_a_module_can_add_a_subcommand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from flowlab import cli

    (tmp_path / "flowlab_test_extra.py").write_text(
        "def add_arguments(p):\n    p.add_argument('--name', required=True)\n\n"
        "def run(args):\n    print('hello', args.name)\n    return 0\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cli.module_command("nope", "x", "flowlab_no_such_module") is None
    command = cli.module_command("hello", "say hello", "flowlab_test_extra")
    assert command is not None
    monkeypatch.setattr(cli, "COMMANDS", [*cli.COMMANDS, command])
    assert cli.main(["hello", "--name", "grafana"]) == 0
    assert capsys.readouterr().out == "hello grafana\n"
    with pytest.raises(SystemExit) as exc:
        cli.main(["hello"])
    assert exc.value.code == 2


# -- one way in, honest errors (issue #10 parts 5-7) ----------------------------------------------


def test_read_that_finds_no_datagram_on_the_port_says_so_and_exits_1(
    tmp_path: Path, capture: Path
) -> None:
    r = flowlab_cli("read", str(capture), "--port", "9999", "--out", str(tmp_path / "f.parquet"))
    assert r.returncode == 1, r.stdout
    assert "Traceback" not in r.stderr
    assert "no sFlow datagrams to UDP port 9999" in r.stderr and "--port" in r.stderr


def test_read_takes_the_protocol_of_a_real_ovs_ipfix_capture(tmp_path: Path) -> None:
    # the real Open vSwitch IPFIX capture (tests/data/README.md): as read_pcap reads it
    pcap = Path(__file__).parent / "data" / "ovs-ipfix-sampling1.pcap"
    out = tmp_path / "ipfix.parquet"
    r = flowlab_cli("read", str(pcap), "--protocol", "ipfix", "--out", str(out))
    assert r.returncode == 0, r.stderr
    expected = flowlab.read_pcap(pcap, protocol="ipfix").flows
    got = pl.read_parquet(out)
    assert got.height == expected.height > 0
    assert set(got["flow_format"]) == {"ipfix"}
    assert got.select("src_ip", "dst_ip", "packets", "bytes").equals(
        expected.select("src_ip", "dst_ip", "packets", "bytes")
    )
    # as sFlow (the default), nothing is on its port: said, and exit 1
    r = flowlab_cli("read", str(pcap), "--out", str(tmp_path / "none.parquet"))
    assert r.returncode == 1 and "no sFlow datagrams to its usual port" in r.stderr, r.stderr


def test_report_takes_what_load_takes_and_refuses_the_rest(tmp_path: Path, capture: Path) -> None:
    parquet = tmp_path / "flows.parquet"
    assert flowlab_cli("read", str(capture), "--out", str(parquet)).returncode == 0
    for source in (capture, parquet):  # a pcap file, and the Parquet file `flowlab read` wrote
        out = tmp_path / f"{source.suffix[1:]}.html"
        r = flowlab_cli("report", str(source), "-o", str(out))
        assert r.returncode == 0, r.stderr
        assert out.stat().st_size > 10_000 and "Traceback" not in r.stderr
    notes = tmp_path / "notes.txt"
    notes.write_text("not flows\n")
    several = tmp_path / "several"
    several.mkdir()
    for name in ("a.pcap", "b.pcap"):
        (several / name).write_bytes(capture.read_bytes())
    for source, said in (
        (notes, "neither a pcap/pcapng nor a Parquet file"),
        (several, "holds several captures (a.pcap, b.pcap)"),
        (tmp_path / "missing", "does not exist"),
    ):
        r = flowlab_cli("report", str(source), "-o", str(tmp_path / "x.html"))
        assert r.returncode == 1, r.stdout
        assert said in r.stderr
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = flowlab_cli("report", str(capture), "--start", "2025-01-06T10:30Z", "--end", "09:00")
    assert r.returncode == 1 and "cannot read the time '09:00'" in r.stderr
    r = flowlab_cli(
        "report", str(capture), "--start", "2025-01-06T10:30Z", "--end", "2025-01-06T09:00Z"
    )
    assert r.returncode == 1 and "the window ends before it starts" in r.stderr
    assert not (tmp_path / "x.html").exists()


def test_report_window_outside_the_data_warns_with_the_span(tmp_path: Path, capture: Path) -> None:
    r = flowlab_cli("report", str(capture), "-o", str(tmp_path / "r.html"), "--start", "now-1h")
    assert r.returncode == 0, r.stderr
    assert "flowlab: warning: no flows in the window" in r.stderr
    assert "the data spans 2025-01-06" in r.stderr
    r = flowlab_cli(
        "report", str(capture), "-o", str(tmp_path / "r.html"), "--service", "etcd-clinet"
    )
    assert r.returncode == 0, r.stderr
    assert (
        "flowlab: warning: service='etcd-clinet' matches no flow; did you mean 'etcd-client'"
        in (r.stderr)
    )


def test_report_help_documents_every_option_with_its_default() -> None:
    r = flowlab_cli("report", "--help")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    for said in (
        "(default: flowlab-report.html)",
        "(default: workload;",
        "(default: 10)",
        "(default: flowlab report)",
        "(default: the first flow)",
        "now-1h",
        "'demo' or 'elasticsearch'",
    ):
        assert said in text, said


def test_demo_send_reaches_another_collector(tmp_path: Path) -> None:
    proc, address = start_collect(tmp_path / "other")
    host, port = address
    r = flowlab_cli("demo", "--send", f"{host}:{port}", "--seconds", "120", "--send-seconds", "1")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert r.returncode == 0, r.stderr
    sim = simulate(seconds=120, seed=0)
    assert f"sent {len(sim.datagrams):,} sFlow datagrams" in r.stdout
    assert f"datagrams {len(sim.datagrams):,}," in err.strip().splitlines()[-1]
    assert rows(read_capture(tmp_path / "other")) == rows(sim.decode().flows)


def test_collect_status_line_is_rewritten_in_place_on_a_terminal(tmp_path: Path) -> None:
    import pty

    leader, follower = pty.openpty()
    args = ["collect", "--listen", "127.0.0.1:0", "--out", str(tmp_path / "c"), "--duration", "3.5"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowlab.cli", *args],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=ENV,
        cwd=ROOT,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        seen += chunk
    proc.wait(timeout=30)
    os.close(leader)
    text = seen.decode()
    assert proc.returncode == 0, text
    updates = text.count("\r\x1b[Kflowlab collect: datagrams")
    assert updates >= 2, text  # by default, every second, on the same line
    assert text.rstrip().splitlines()[-1].endswith("files 0") and "stopped:" in text


@pytest.mark.elasticsearch
def test_report_from_elasticsearch(tmp_path: Path) -> None:
    """``flowlab report elasticsearch --index X``: the same loader, credentials from FLOWLAB_ES_*."""
    url = os.environ.get("FLOWLAB_TEST_ES_URL")
    if not url:
        pytest.skip("FLOWLAB_TEST_ES_URL is not set (bash scripts/elasticsearch.sh start)")
    import flowlab.elastic as fe

    user = os.environ.get("FLOWLAB_TEST_ES_USERNAME") or None
    password = os.environ.get("FLOWLAB_TEST_ES_PASSWORD") or None
    es = fe.connect(url, username=user, password=password)
    index = f"flowlab-test-loader-report-{os.getpid()}"
    flows = flowlab.demo.load(seconds=120).flows  # canonical, not enriched: the report enriches
    try:
        fe.write_flows(es, flows, index, refresh=True, replicas=0)
        env = {**ENV, "FLOWLAB_ES_URL": url}
        env.update({"FLOWLAB_ES_USERNAME": user or "", "FLOWLAB_ES_PASSWORD": password or ""})
        env["FLOWLAB_INVENTORY"] = str(tmp_path / "inventory.json")
        from flowlab.demo import build_cluster, inventory

        (tmp_path / "inventory.json").write_text(json.dumps(inventory(build_cluster(0))))
        out = tmp_path / "es.html"
        args = ["report", "elasticsearch", "--index", index, "-o", str(out)]
        args += ["--start", "2025-01-06T09:00Z", "--end", "2025-01-06T10:00Z"]
        r = subprocess.run(
            [sys.executable, "-m", "flowlab.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            cwd=ROOT,
        )
        assert r.returncode == 0, r.stderr
        page = out.read_text()
        assert f"{flows.height:,}" in page and "openshift-monitoring/grafana" in page
    finally:
        es.indices.delete(index=index, ignore_unavailable=True)
