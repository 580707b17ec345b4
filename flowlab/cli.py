"""The ``flowlab`` command: ``demo``, ``collect``, ``read``, ``report``, ``policy`` (thin wrappers).

Exit codes: 0 success, 1 runtime error (one line on stderr, no traceback for
flowlab's own errors), 2 bad usage (argparse's message), 130 interrupted.
Quiet by default: only results, one start line and one final status line.

Extending: other modules add a subcommand by appending a :class:`Command` to
:data:`COMMANDS`, and options that add a collector sink (such as
``--to-elasticsearch``) by appending a :class:`SinkOption` to
:data:`SINK_OPTIONS`.

Start-up stays quick: a subcommand's options are added only when that
subcommand runs (``flowlab --help`` lists the commands without importing
them), and nothing heavy (Polars, Elasticsearch, Altair) is imported before a
command needs it.

Examples
--------
>>> parser = build_parser()
>>> args = parser.parse_args(["collect", "--listen", "[::]:6343", "--out", "cap"])
>>> args.listen, args.roll_bytes
('[::]:6343', 67108864)
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO

from flowlab.exceptions import ConfigError, FlowlabError, SourceError

__all__ = [
    "COMMANDS",
    "SINK_OPTIONS",
    "Command",
    "SinkOption",
    "build_parser",
    "main",
    "module_command",
    "parse_size",
]

log = logging.getLogger("flowlab.cli")


@dataclass(frozen=True)
class Command:
    """A subcommand: its name, one-line help, how to add its arguments, and what it runs."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class SinkOption:
    """Options of ``flowlab collect`` that add a sink (e.g. ``--to-elasticsearch``).

    ``make(args)`` returns the sink (a callable taking each decoded batch) or
    None when the option was not given.
    """

    arguments: Callable[[argparse.ArgumentParser], None]
    make: Callable[[argparse.Namespace], Callable[..., None] | None]


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(text: str) -> int:
    """``64M`` -> 67108864; accepts a plain number of bytes or k/M/G suffixes (powers of 1024).

    Examples
    --------
    >>> parse_size("512k"), parse_size("1G"), parse_size("1000")
    (524288, 1073741824, 1000)
    """
    value = text.strip().lower().removesuffix("b").removesuffix("i")
    unit = value[-1:] if value[-1:] in _UNITS else ""
    number = value[: len(value) - len(unit)]
    try:
        size = int(float(number) * _UNITS[unit])
    except ValueError:
        msg = f"expected a size such as 64M, 1G or 1048576, found {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if size <= 0:
        msg = f"size must be positive, found {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return size


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:  # also refuses nan
        msg = f"expected a positive number of seconds, found {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _listen(text: str) -> str:
    from flowlab.collect.udp import parse_listen

    try:
        parse_listen(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _progress_argument(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"{what} (default: when stderr is a terminal)",
    )


def _progress(args: argparse.Namespace) -> bool:
    """``--progress``, by default whether stderr is a terminal."""
    return sys.stderr.isatty() if args.progress is None else bool(args.progress)


def _status(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- demo ---------------------------------------------------------------------------------------


def _demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out", default="flowlab-demo", help="output directory (default: ./flowlab-demo)"
    )
    p.add_argument(
        "--seconds",
        type=_positive,
        default=3600.0,
        help="simulated duration in seconds (default: 3600)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--send-seconds",
        type=_positive,
        default=None,
        help="wall-clock seconds over which to send (default: 5 for an hour)",
    )
    _progress_argument(p, "progress bar while sending")
    p.add_argument(
        "--send",
        metavar="HOST:PORT",
        type=_listen,
        default=None,
        help="send the datagrams to another collector (sfacctd, a second flowlab collect, ...) "
        "instead of flowlab's own; writes nothing (default: flowlab's collector into --out)",
    )
    p.add_argument(
        "--protocol",
        choices=("sflow", "ipfix", "netflow"),
        default="sflow",
        help="what the nodes' Open vSwitch sends: sflow (default), ipfix, or netflow "
        "(NetFlow v9): the same sampled packets as one flow record each",
    )


def _demo(args: argparse.Namespace) -> int:
    options = {  # what `send` and `run` both take
        "seconds": args.seconds,
        "seed": args.seed,
        "send_seconds": args.send_seconds,
        "progress": _progress(args),
        "protocol": args.protocol,
    }
    if args.send:
        from flowlab.demo.run import send

        sim, took = send(args.send, **options)
        content = (
            f"{sim.flow_samples:,} flow, {sim.counter_samples:,} counter samples"
            if sim.protocol == "sflow"
            else f"{sim.flow_samples:,} flow records"
        )
        print(
            f"flowlab demo: sent {len(sim.datagrams):,} {sim.what} datagrams ({content}; "
            f"{args.seconds:g} s simulated, seed {args.seed}) to udp {args.send} in {took:.1f} s"
        )
        return 0
    from flowlab.demo import run

    result = run(args.out, **options)
    print(result.summary())
    return 0 if result.lost == 0 else 1


# -- collect ------------------------------------------------------------------------------------


# -- collect: --to-elasticsearch (credentials and TLS only from FLOWLAB_ES_*, never argv) -------


def _positive_flows(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        msg = f"expected a positive number of flows, found {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _elastic_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--to-elasticsearch`` and its companions to `parser` (no Elasticsearch import)."""
    group = parser.add_argument_group(
        "Elasticsearch",
        "ship the decoded flows to Elasticsearch too (credentials: FLOWLAB_ES_USERNAME/"
        "FLOWLAB_ES_PASSWORD, FLOWLAB_ES_API_KEY or FLOWLAB_ES_BEARER_TOKEN; TLS: "
        "FLOWLAB_ES_CA_CERTS)",
    )
    group.add_argument(
        "--to-elasticsearch",
        metavar="URL",
        default=None,
        help="Elasticsearch URL to bulk-index the flows into",
    )
    group.add_argument(
        "--es-layout",
        choices=("flowlab", "elastiflow"),
        default="flowlab",
        help="document layout: flowlab (canonical names) or elastiflow (ElastiFlow 3.5 fields "
        "in daily elastiflow-3.5.0-YYYY.MM.dd indices, for its Kibana dashboards)",
    )
    group.add_argument(
        "--es-index",
        default=None,
        help="index (flowlab layout, default flowlab-flows) or daily-index prefix "
        "(elastiflow layout, default elastiflow-3.5.0-)",
    )
    group.add_argument(
        "--es-batch",
        type=_positive_flows,
        default=5000,
        help="flows buffered per bulk write (default 5000)",
    )
    group.add_argument(
        "--es-timeout",
        type=_positive,
        default=60.0,
        metavar="SECONDS",
        help="seconds to wait for each Elasticsearch response (default 60; a timed-out bulk "
        "is re-sent, and never stored twice)",
    )


def _elastic_sink(args: argparse.Namespace) -> Callable[..., None] | None:
    """The :class:`~flowlab.elastic.ElasticSink` for the parsed arguments; None without the option."""
    url = getattr(args, "to_elasticsearch", None)
    if not url:
        return None
    from flowlab.elastic import ElasticSink, connect

    es = connect(url, request_timeout=getattr(args, "es_timeout", 60.0))
    return ElasticSink(es, index=args.es_index, layout=args.es_layout, batch_size=args.es_batch)


#: Options adding collector sinks (``--to-elasticsearch``); other modules may append theirs.
SINK_OPTIONS: list[SinkOption] = [SinkOption(_elastic_arguments, _elastic_sink)]


#: ``flowlab collect`` options that each add a listener: protocol -> its usual port
_LISTENERS = {"sflow": 6343, "ipfix": 4739, "netflow": 2055}


def _collect_arguments(p: argparse.ArgumentParser) -> None:
    sflow = p.add_mutually_exclusive_group()
    sflow.add_argument(
        "--listen",
        type=_listen,
        default=None,
        help="HOST:PORT to receive sFlow on (default 0.0.0.0:6343 when no --sflow/--ipfix/"
        "--netflow is given; IPv6: [::]:6343); the same as --sflow",
    )
    for name, port in _LISTENERS.items():
        what = {"sflow": "sFlow v5", "ipfix": "IPFIX", "netflow": "NetFlow v5/v9"}[name]
        (sflow if name == "sflow" else p).add_argument(
            f"--{name}",
            metavar="HOST:PORT",
            type=_listen,
            default=None,
            help=f"receive {what} on HOST:PORT (usually 0.0.0.0:{port}); --sflow, --ipfix and "
            "--netflow together write into one capture directory",
        )
    p.add_argument("--out", required=True, help="capture directory for the Parquet files")
    p.add_argument(
        "--roll-seconds",
        type=_positive,
        default=300.0,
        help="write a part file at least this often (default 300)",
    )
    p.add_argument(
        "--roll-bytes",
        type=parse_size,
        default=64 << 20,
        help="write a part file when this much data is buffered (default 64M)",
    )
    p.add_argument(
        "--rcvbuf",
        type=parse_size,
        default=64 << 20,
        help="socket receive buffer to ask for (default 64M)",
    )
    p.add_argument(
        "--status-interval",
        type=_positive,
        default=None,
        help="seconds between status lines on stderr (default: 1, updated in place, on a "
        "terminal; 60, one line each, otherwise)",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no periodic status line (the start and final lines are still printed)",
    )
    p.add_argument(
        "--duration",
        type=_positive,
        default=None,
        help="stop after this many seconds (default: until SIGINT/SIGTERM)",
    )
    for option in SINK_OPTIONS:
        option.arguments(p)


def _collect(args: argparse.Namespace) -> int:
    from flowlab.collect.collector import Collector

    listeners = _collect_listeners(args)
    sinks = [s for s in (o.make(args) for o in SINK_OPTIONS) if s is not None]
    collector = Collector(
        listeners,
        out_dir=args.out,
        roll_seconds=args.roll_seconds,
        roll_bytes=args.roll_bytes,
        rcvbuf=args.rcvbuf,
        sinks=sinks,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    shown = [
        (name, f"udp {f'[{host}]' if ':' in host else host}:{port}")
        for name, (host, port) in collector.addresses
    ]
    if _chosen_listeners(args):
        where = "for " + ", ".join(f"{name} on {addr}" for name, addr in shown)
    else:  # --listen alone (sFlow): the line it always was
        where = f"on {shown[0][1]}"
    _status(
        f"flowlab collect: listening {where}, receive buffer "
        f"{collector.rcvbuf / 2**20:.1f} MiB (as the kernel reports it), writing {args.out}"
    )
    status = _StatusLine(sys.stderr)
    interval = args.status_interval or (1.0 if status.in_place else 60.0)
    started = time.monotonic()
    next_status = started + (float("inf") if args.quiet else interval)
    try:
        collector.start()
        while not stop.is_set() and collector.error is None:
            now = time.monotonic()
            if args.duration is not None and now - started >= args.duration:
                break
            if now >= next_status:
                status.show(f"flowlab collect: {collector.stats.status_line()}")
                next_status += interval
            stop.wait(0.2)
        try:
            stats = collector.stop()
        except FlowlabError as exc:
            status.last(f"flowlab collect: stopped: {collector.stats.status_line()}")
            raise exc
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    status.last(f"flowlab collect: stopped: {stats.status_line()}")
    return 0


def _chosen_listeners(args: argparse.Namespace) -> list[tuple[str, str]]:
    return [(n, getattr(args, n)) for n in _LISTENERS if getattr(args, n, None)]


def _collect_listeners(args: argparse.Namespace) -> list[tuple[str, str]]:
    """``[(protocol, HOST:PORT)]`` of ``--listen``/``--sflow``/``--ipfix``/``--netflow``."""
    chosen = _chosen_listeners(args)
    if args.listen or not chosen:
        chosen.insert(0, ("sflow", args.listen or "0.0.0.0:6343"))
    return chosen


class _StatusLine:
    """A status line on `stream`: rewritten in place on a terminal, one line each otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.in_place = stream.isatty()
        self._shown = False

    def show(self, text: str) -> None:
        if self.in_place:
            self.stream.write("\r\033[K" + text)
            self._shown = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def last(self, text: str) -> None:
        if self._shown:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()


# -- read ---------------------------------------------------------------------------------------


def _read_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="pcap or pcapng file of sFlow, IPFIX or NetFlow datagrams")
    p.add_argument(
        "--out",
        default=None,
        help="flows output: FILE.parquet, FILE.csv, or a capture directory "
        "(default: <file stem>.parquet)",
    )
    p.add_argument("--counters", default=None, help="counters output (.parquet or .csv)")
    p.add_argument(
        "--protocol",
        choices=("sflow", "ipfix", "netflow", "auto"),
        default="sflow",
        help="flow protocol of the datagrams (default: sflow; ipfix and netflow both read NetFlow "
        "v5/v9 and IPFIX; auto: all three on ports 6343, 2055 and 4739)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=None,
        help="UDP port of the datagrams (default: the protocol's: sflow 6343, ipfix 4739, "
        "netflow 2055)",
    )
    _progress_argument(p, "progress bar")


def _read(args: argparse.Namespace) -> int:
    from flowlab.convert import convert_pcap

    source = Path(args.file)
    if not source.is_file():
        msg = f"no such file: {source} (give a pcap or pcapng capture of flow datagrams)"
        raise ConfigError(msg)
    out = Path(args.out) if args.out else Path(source.stem + ".parquet")
    report = convert_pcap(
        source,
        out,
        counters=args.counters,
        port=args.port,
        progress=_progress(args),
        protocol=args.protocol,
    )
    print(report)
    if report.stats.datagrams == 0:
        where = f"UDP port {args.port}" if args.port is not None else "its usual port"
        name = {"sflow": "sFlow", "ipfix": "IPFIX", "netflow": "NetFlow"}.get(
            args.protocol, "sFlow, NetFlow or IPFIX"
        )
        msg = (
            f"no {name} datagrams to {where} in {source} "
            f"({report.stats.packets:,} packets read); are the protocol and port right "
            "(--protocol, --port)?"
        )
        raise SourceError(msg)
    return 0


_LEVELS = ("ip", "pod", "workload", "namespace", "node", "service")


def _report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source",
        help="capture directory (flowlab collect/demo), pcap/pcapng file, Parquet file from "
        "flowlab read, 'demo' or 'elasticsearch' (FLOWLAB_ES_*), as flowlab.load takes",
    )
    p.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path("flowlab-report.html"),
        help="HTML file to write (default: flowlab-report.html)",
    )
    p.add_argument(
        "--inventory",
        type=Path,
        help="Kubernetes inventory (oc get -o json file) to name addresses with (default: "
        "inventory.json beside the flows, FLOWLAB_INVENTORY, or the demo's own)",
    )
    p.add_argument("--title", default="flowlab report", help="page title (default: %(default)s)")
    p.add_argument(
        "--start",
        help="window start: ISO 8601 (UTC if no zone) or relative (now-1h, -15m) "
        "(default: the first flow)",
    )
    p.add_argument(
        "--end", help="window end, exclusive; same forms as --start (default: after the last flow)"
    )
    p.add_argument(
        "--level",
        default="workload",
        choices=_LEVELS,
        help="entities of the graph and the top charts on enriched flows (default: %(default)s; "
        "ip without an inventory)",
    )
    p.add_argument(
        "--top", type=int, default=10, help="rows in each top-N chart (default: %(default)s)"
    )
    for key in ("client", "server", "ip"):
        p.add_argument(
            f"--{key}",
            action="append",
            help=f"{key} filter: IP, IP:port, CIDR, ns/, ns/name, name (repeatable; default: all)",
        )
    p.add_argument(
        "--service", action="append", help="service name filter (repeatable; default: all)"
    )
    p.add_argument("--protocol", help="protocol filter: TCP, UDP, 6, ... (default: all)")
    p.add_argument(
        "--index",
        default=None,
        help="Elasticsearch index or pattern for 'elasticsearch' (default: FLOWLAB_ES_INDEX "
        "or elastiflow-*)",
    )


def _report(args: argparse.Namespace) -> int:
    from flowlab.dataset import load, parse_window
    from flowlab.report import report

    start, end = parse_window(args.start, args.end)
    ds = load(args.source, start=start, end=end, inventory=args.inventory, index=args.index)
    filters = {
        k: getattr(args, k)
        for k in ("client", "server", "ip", "service", "protocol")
        if getattr(args, k)
    }
    out = report(
        ds.flows,
        args.out,
        title=args.title,
        inventory=ds.inventory,
        start=start,
        end=end,
        filters=filters,
        level=args.level,
        top=args.top,
    )
    print(out)
    return 0


#: The subcommands; other streams append theirs (e.g. ``report``).
COMMANDS: list[Command] = [
    Command(
        "demo",
        "run the demo: a simulated OpenShift cluster's sFlow, over UDP, into ./flowlab-demo",
        _demo_arguments,
        _demo,
    ),
    Command(
        "collect",
        "receive sFlow, IPFIX and NetFlow on UDP ports and write hour-partitioned Parquet",
        _collect_arguments,
        _collect,
    ),
    Command("read", "decode a pcap/pcapng of sFlow into Parquet or CSV", _read_arguments, _read),
    Command(
        "report",
        "write one self-contained HTML report (charts, graph, top tables) of flows",
        _report_arguments,
        _report,
    ),
]


def _policy_arguments(p: argparse.ArgumentParser) -> None:
    from flowlab.policy._cli import add_arguments

    add_arguments(p)


def _policy(args: argparse.Namespace) -> int:
    from flowlab.policy._cli import run

    return run(args)


# flowlab policy (issue #15): the command lives in flowlab/policy/_cli.py
COMMANDS.append(
    Command(
        "policy",
        "propose NetworkPolicies from observed flows, with evidence; replay them on another window",
        _policy_arguments,
        _policy,
    )
)


def module_command(name: str, help: str, module: str) -> Command | None:
    """A subcommand implemented by `module` (its ``add_arguments(parser)`` and ``run(args)``).

    Returns None when the module is not installed, so optional parts of
    flowlab add their subcommand only where they exist. The module is
    imported when that subcommand's options are built (when it runs).
    """
    if importlib.util.find_spec(module) is None:
        return None

    def arguments(parser: argparse.ArgumentParser) -> None:
        importlib.import_module(module).add_arguments(parser)

    def run(args: argparse.Namespace) -> int:
        return int(importlib.import_module(module).run(args))

    return Command(name, help, arguments, run)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``flowlab`` with every registered subcommand.

    With `command`, only that subcommand gets its options (the others are
    listed with their one-line help; ``""``: none gets them), so that starting
    one command does not import what the others need (``flowlab policy``'s
    options import :mod:`flowlab.policy`).
    """
    from flowlab import __version__

    parser = argparse.ArgumentParser(
        prog="flowlab",
        description="Investigate network flow traffic (sFlow, ElastiFlow) in OpenShift/Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"flowlab {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for c in COMMANDS:
        p = sub.add_parser(c.name, help=c.help, description=c.help)
        if command is None or command == c.name:
            c.arguments(p)
        p.set_defaults(_run=c.run)
    return parser


def _chosen(argv: Sequence[str]) -> str | None:
    """The subcommand named in `argv` (the first argument that is one), if any."""
    # the global options (-v, --version, --help) take no value: the first word is the command
    return next((a for a in argv if not a.startswith("-")), None)


def _warn(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    print(f"flowlab: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``flowlab`` with `argv` (default: the process arguments); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # no subcommand (``flowlab --help``): none of their options, so none of their imports
    parser = build_parser(_chosen(argv) or "")
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("flowlab: %(levelname)s: %(message)s"))
    root = logging.getLogger("flowlab")
    level = root.level
    root.addHandler(handler)
    root.setLevel([logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)])
    show = warnings.showwarning
    warnings.showwarning = _warn
    try:
        return int(args._run(args))
    except FlowlabError as exc:
        print(f"flowlab {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"flowlab {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"flowlab {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = show
        root.removeHandler(handler)
        root.setLevel(level)  # main() may run inside a process that logs on (tests, notebooks)


if __name__ == "__main__":
    sys.exit(main())
