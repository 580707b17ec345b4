"""``flowlab collect --to-elasticsearch URL``: the collector sink option.

:func:`add_arguments` adds the options to the ``collect`` subcommand's parser,
:func:`make_sink` builds the :class:`~flowlab.elastic.ElasticSink` from the
parsed arguments (``None`` when the option was not given). Credentials and TLS
settings come from the ``FLOWLAB_ES_*`` environment variables (never from the
command line, where ``ps`` would show them).

Examples
--------
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_arguments(parser)
>>> args = parser.parse_args(["--to-elasticsearch", "https://es:9200", "--es-layout", "elastiflow"])
>>> args.to_elasticsearch, args.es_layout, args.es_index, args.es_batch
('https://es:9200', 'elastiflow', None, 5000)
>>> make_sink(parser.parse_args([])) is None
True
"""

from __future__ import annotations

import argparse

from flowlab.elastic.connection import connect
from flowlab.elastic.sink import ElasticSink

__all__ = ["add_arguments", "make_sink"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        msg = f"expected a positive number of flows, found {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--to-elasticsearch`` and its companions to `parser`."""
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
        type=_positive_int,
        default=5000,
        help="flows buffered per bulk write (default 5000)",
    )


def make_sink(args: argparse.Namespace) -> ElasticSink | None:
    """The sink for the parsed arguments, connected and checked; None without the option."""
    url = getattr(args, "to_elasticsearch", None)
    if not url:
        return None
    es = connect(url)
    return ElasticSink(es, index=args.es_index, layout=args.es_layout, batch_size=args.es_batch)
