"""The ``flowlab`` command: ``demo``, ``collect``, ``read`` (thin wrappers over the public API).

Exit codes: 0 success, 1 runtime error (one line on stderr, no traceback for
flowlab's own errors), 2 bad usage (argparse's message), 130 interrupted.
Quiet by default: only results, one start line and one final status line.

Extending: other modules add a subcommand by appending a :class:`Command` to
:data:`COMMANDS`, and options that add a collector sink (such as
``--to-elasticsearch``) by appending a :class:`SinkOption` to
:data:`SINK_OPTIONS`.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from flowlab.exceptions import ConfigError, FlowlabError

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
    if value <= 0:
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
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar while sending (default: when stderr is a terminal)",
    )


def _demo(args: argparse.Namespace) -> int:
    from flowlab.demo import run

    progress = sys.stderr.isatty() if args.progress is None else args.progress
    result = run(
        args.out,
        seconds=args.seconds,
        seed=args.seed,
        send_seconds=args.send_seconds,
        progress=progress,
    )
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


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        msg = f"expected a positive number of seconds, found {text!r}"
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
        type=_positive_seconds,
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


def _collect_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--listen",
        type=_listen,
        default="0.0.0.0:6343",
        help="HOST:PORT to receive sFlow on (default 0.0.0.0:6343; IPv6: [::]:6343)",
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
        help="print a status line on stderr every this many seconds",
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

    sinks = [s for s in (o.make(args) for o in SINK_OPTIONS) if s is not None]
    collector = Collector(
        args.listen,
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
    host, port = collector.address
    shown = f"[{host}]" if ":" in host else host
    _status(
        f"flowlab collect: listening on udp {shown}:{port}, receive buffer "
        f"{collector.rcvbuf / 2**20:.1f} MiB (as the kernel reports it), writing {args.out}"
    )
    started = time.monotonic()
    next_status = started + (args.status_interval or float("inf"))
    try:
        collector.start()
        while not stop.is_set() and collector.error is None:
            now = time.monotonic()
            if args.duration is not None and now - started >= args.duration:
                break
            if now >= next_status:
                _status(f"flowlab collect: {collector.stats.status_line()}")
                next_status += args.status_interval
            stop.wait(0.2)
        try:
            stats = collector.stop()
        except FlowlabError as exc:
            _status(f"flowlab collect: stopped: {collector.stats.status_line()}")
            raise exc
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    _status(f"flowlab collect: stopped: {stats.status_line()}")
    return 0


# -- read ---------------------------------------------------------------------------------------


def _read_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="pcap or pcapng file of sFlow datagrams")
    p.add_argument(
        "--out",
        default=None,
        help="flows output: FILE.parquet, FILE.csv, or a capture directory "
        "(default: <file stem>.parquet)",
    )
    p.add_argument("--counters", default=None, help="counters output (.parquet or .csv)")
    p.add_argument("--port", type=int, default=6343, help="UDP port of the sFlow datagrams (6343)")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when stderr is a terminal)",
    )


def _read(args: argparse.Namespace) -> int:
    from flowlab.convert import convert_pcap

    source = Path(args.file)
    if not source.is_file():
        msg = f"no such file: {source} (give a pcap or pcapng capture of sFlow datagrams)"
        raise ConfigError(msg)
    out = Path(args.out) if args.out else Path(source.stem + ".parquet")
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    report = convert_pcap(source, out, counters=args.counters, port=args.port, progress=progress)
    print(report)
    return 0


def _report_arguments(p: argparse.ArgumentParser) -> None:
    from flowlab.report import add_arguments  # the report stack is imported only when used

    add_arguments(p)


def _report(args: argparse.Namespace) -> int:
    from flowlab.report import run

    return run(args)


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
        "receive sFlow on a UDP port and write hour-partitioned Parquet",
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
    imported when the parser is built.
    """
    if importlib.util.find_spec(module) is None:
        return None

    def arguments(parser: argparse.ArgumentParser) -> None:
        importlib.import_module(module).add_arguments(parser)

    def run(args: argparse.Namespace) -> int:
        return int(importlib.import_module(module).run(args))

    return Command(name, help, arguments, run)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``flowlab`` with every registered subcommand."""
    from flowlab import __version__

    parser = argparse.ArgumentParser(
        prog="flowlab",
        description="Investigate network flow traffic (sFlow, ElastiFlow) in OpenShift/Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"flowlab {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.arguments(p)
        p.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``flowlab`` with `argv` (default: the process arguments); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("flowlab: %(levelname)s: %(message)s"))
    root = logging.getLogger("flowlab")
    root.addHandler(handler)
    root.setLevel([logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)])
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
        root.removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
