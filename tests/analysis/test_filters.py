from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from flowlab.analysis import describe, where
from flowlab.exceptions import ConfigError
from tests import clusterdata as cd


def _count(frame: pl.DataFrame, **kw: object) -> int:
    return where(frame, **kw).collect().height  # type: ignore[arg-type]


def test_endpoint_specs() -> None:
    e = cd.enriched()
    n = lambda expr: e.filter(expr).height  # noqa: E731
    assert _count(e, server=cd.PROM0) == n(pl.col("server_ip") == cd.PROM0)
    assert _count(e, server=f"{cd.PROM0}:9091") == n(
        (pl.col("server_ip") == cd.PROM0) & (pl.col("service_port") == 9091)
    )
    assert _count(e, client="10.0.0.0/24") == n(pl.col("client_ip").str.starts_with("10.0.0."))
    assert _count(e, server="openshift-etcd/") == n(pl.col("server_namespace") == "openshift-etcd")
    assert _count(e, client="shop/frontend") == n(pl.col("client_workload") == "frontend")
    assert _count(e, client="node/master-0") == n(pl.col("client_ip") == "10.0.0.3")
    assert _count(e, ip=cd.GRAFANA) == n(
        (pl.col("src_ip") == cd.GRAFANA) | (pl.col("dst_ip") == cd.GRAFANA)
    )
    assert _count(e, server=["etcd-client", "etcd-server"]) == n(
        pl.col("service_name").str.starts_with("etcd")
    )
    assert _count(e, protocol="udp") == n(pl.col("protocol") == 17)
    assert _count(e, port=[53, 5353]) == n(pl.col("service_port").is_in([53, 5353]))
    assert _count(e, exporter="10.0.0.3") == n(pl.col("exporter") == "10.0.0.3")
    assert _count(e, service="dns-default") == n(pl.col("server_service") == "dns-default")
    assert _count(e, start=cd.T0 + timedelta(minutes=30)) == n(
        pl.col("time") >= cd.T0 + timedelta(minutes=30)
    )


def test_names_need_enrichment_and_bad_specs() -> None:
    raw = cd.flows()
    with pytest.raises(ConfigError, match="enrich"):
        where(raw, server="openshift-etcd/")
    with pytest.raises(ConfigError, match="enriched"):
        where(raw, client="grafana")
    assert _count(raw, server="etcd-client") > 0  # service names work without enrichment
    with pytest.raises(ConfigError, match="protocol"):
        where(raw, protocol="bogus")
    with pytest.raises(ConfigError, match="cannot read the time 'yesterday'"):
        where(raw, start="yesterday")  # ISO 8601 and now-1h / -15m are read; this is neither
    assert describe(server="x", start=None, port=[1, 2]) == "server=x, port=1|2"
