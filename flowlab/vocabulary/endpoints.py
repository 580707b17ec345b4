"""Endpoint identity: what one side of a flow *is* at a level of detail.

The same rule names graph nodes (:mod:`flowlab.graph`), toplist rows
(:mod:`flowlab.analysis`) and chart marks (:mod:`flowlab.views`):

============  ==================  ===================  ==============  ===========
level         pod side            ClusterIP side       node side       external
============  ==================  ===================  ==============  ===========
``ip``        the IP              the IP               the IP          the IP
``pod``       ``ns/pod``          ``ns/service``       ``node/<name>``  the IP
``workload``  ``ns/workload``     ``ns/service``       ``node/<name>``  the IP
``namespace`` ``ns``              ``ns``               ``node/<name>``  the IP
``node``      ``node/<its node>`` ``ns/service``       ``node/<name>``  the IP
``service``   ``ns/service`` (the Service it backs), else ``ns/workload``; others as ``workload``
============  ==================  ===================  ==============  ===========

Examples
--------
>>> import polars as pl
>>> f = pl.DataFrame({"src_ip": ["10.0.0.1", None]})
>>> f.select(endpoint_id("src", "ip")).to_series().to_list()
['10.0.0.1', '(non-IP)']
"""

from __future__ import annotations

import polars as pl

from flowlab.exceptions import ConfigError

__all__ = ["LEVELS", "NO_IP", "endpoint_id"]

#: levels of detail, finest first
LEVELS: tuple[str, ...] = ("ip", "pod", "workload", "namespace", "node", "service")
#: id of an endpoint without an IP address (non-IP frames)
NO_IP = "(non-IP)"


def endpoint_id(side: str, level: str, *, fold_external: bool = False) -> pl.Expr:
    """Expression: the graph node id of one side (``src``, ``dst``, ``client``, ``server``).

    With `fold_external` (enriched flows, levels other than ``ip``) every
    external address becomes one node per scope: ``external/public``,
    ``external/private``, ...
    """
    if level not in LEVELS:
        msg = f"unknown graph level {level!r}; expected one of {', '.join(LEVELS)}"
        raise ConfigError(msg)
    c = lambda f: pl.col(f"{side}_{f}")  # noqa: E731
    ip = c("ip").fill_null(NO_IP)
    if level == "ip":
        return ip
    kind = c("kind")
    svc = pl.format("{}/{}", c("namespace"), c("service"))
    node = pl.format("node/{}", c("node"))
    pod_id = {
        "pod": pl.format("{}/{}", c("namespace"), c("pod")),
        "workload": pl.format("{}/{}", c("namespace"), c("workload")),
        "namespace": c("namespace"),
        "node": node,
        "service": pl.when(c("service").is_not_null())
        .then(svc)
        .otherwise(pl.format("{}/{}", c("namespace"), c("workload"))),
    }[level]
    service_id = c("namespace") if level == "namespace" else svc
    other = pl.format("external/{}", c("scope").fill_null("unknown")) if fold_external else ip
    return (
        pl.when(kind == "pod")
        .then(pod_id)
        .when(kind == "service")
        .then(service_id)
        .when(kind == "node")
        .then(node)
        .otherwise(other)
    )
