"""Filters, time bounds and the queries they become (no server needed)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from flowlab.elastic.profiles import PROFILES
from flowlab.elastic.query import Filter, build_query, filter_frame, service_ports, time_bound
from flowlab.exceptions import ConfigError

EF = PROFILES["elastiflow3"]


def test_filter_normalises_and_validates():
    f = Filter(
        client="10.0.0.1", server=["10.128.0.0/14", "fd01::/16"], port=2379, protocol=["TCP", 17]
    )
    assert f.client == ("10.0.0.1",) and f.port == (2379,) and f.protocol == (6, 17)
    assert not Filter() and bool(f)
    assert Filter().merged(service="dns", port=None).service == ("dns",)
    with pytest.raises(ConfigError, match="IP addresses or CIDRs"):
        Filter(client="10.0.0.300")
    with pytest.raises(ConfigError, match=r"0\.\.65535"):
        Filter(port=70000)
    with pytest.raises(ConfigError, match="unknown IP protocol"):
        Filter(protocol="tcpx")
    with pytest.raises(ConfigError, match="unknown filter 'pod'"):
        Filter().merged(pod="x")


def test_time_bounds():
    naive = dt.datetime(2021, 7, 1, 12, 0, 0, 512000)
    assert time_bound(naive) == "2021-07-01T12:00:00.512Z"  # naive means UTC
    cest = dt.datetime(2021, 7, 1, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert time_bound(cest) == "2021-07-01T12:00:00.000Z"
    assert time_bound(dt.date(2021, 7, 1)) == "2021-07-01"
    assert time_bound("now-1h") == "now-1h" and time_bound(5) == 5 and time_bound(None) is None
    with pytest.raises(ConfigError):
        time_bound(True)
    with pytest.raises(ConfigError):
        time_bound(" ")


def test_superset_query_uses_raw_endpoints_and_exact_query_uses_stored_fields():
    f = Filter(server="10.130.0.0/16", service="etcd-client", protocol="tcp")
    loose = build_query(EF, start="2021-07-01", end="2021-07-02", where=f)
    clauses = loose["bool"]["filter"]
    assert clauses[0] == {
        "range": {
            "@timestamp": {
                "gte": "2021-07-01",
                "lt": "2021-07-02",
                "format": "strict_date_optional_time||epoch_millis",
            }
        }
    }
    server = clauses[1]["bool"]["should"]
    assert {next(iter(c["term"])) for c in server} == {"flow.src_addr", "flow.dst_addr"}
    ports = clauses[2]["bool"]["should"][0]
    assert 2379 in ports["term"].values() or 2379 in next(iter(ports.values()))["flow.src_port"]
    exact = build_query(EF, start=None, end=None, where=f, exact=True)["bool"]["filter"]
    assert exact[0] == {"term": {"flow.server_addr": "10.130.0.0/16"}}
    assert exact[1]["bool"]["should"] == [
        {"term": {"flow.service_name": "etcd-client"}},
        {"prefix": {"flow.service_name": "etcd-client ("}},
    ]
    proto = exact[2]["terms"]["flow.ip_protocol"]
    assert "TCP" in proto and "tcp" in proto
    assert build_query(EF, start=None, end=None) == {"match_all": {}}


def test_protocol_values_follow_the_mapped_type():
    f = Filter(protocol="udp")
    numeric = build_query(
        PROFILES["flowlab"], start=None, end=None, where=f, types={"protocol": {"long": ()}}
    )
    assert numeric["bool"]["filter"] == [{"term": {"protocol": 17}}]
    mixed = build_query(
        PROFILES["flowlab"],
        start=None,
        end=None,
        where=f,
        types={"protocol": {"long": (), "keyword": ()}},
    )
    assert mixed["bool"]["filter"] == [{"term": {"protocol": "17"}}]


def test_layouts_without_a_field_say_so():
    with pytest.raises(ConfigError, match="stores no client field"):
        build_query(
            PROFILES["ecs"],
            start=None,
            end=None,
            where=Filter(client="10.0.0.1"),
            exact=True,
            types={"source.ip": ["ip"], "destination.ip": ["ip"]},
        )


def test_service_ports_from_the_table():
    ports = service_ports(["etcd-client", "TCP/10250", "no-such-service"])
    assert ports["etcd-client"] == {2379}
    assert ports["TCP/10250"] == {10250}
    assert ports["no-such-service"] == set()


def test_filter_frame_exact_with_cidrs_and_ipv6():
    frame = pl.DataFrame(
        {
            "client_ip": ["10.128.1.5", "fd01::1", "192.168.0.1", None],
            "server_ip": ["10.130.0.1", "fd02::1", "10.130.9.9", "10.130.0.2"],
            "src_ip": ["10.128.1.5", "fd02::1", "192.168.0.1", "1.1.1.1"],
            "dst_ip": ["10.130.0.1", "fd01::1", "10.130.9.9", "10.130.0.2"],
            "exporter": ["10.0.0.5"] * 4,
            "service_name": ["etcd-client", "https", "etcd-client", None],
            "service_port": [2379, 443, 2379, None],
            "protocol": [6, 6, 6, 1],
        }
    )
    assert filter_frame(frame, Filter(client="fd01::/16"))["client_ip"].to_list() == ["fd01::1"]
    assert filter_frame(frame, Filter(ip="fd01::/16")).height == 1
    assert filter_frame(frame, Filter(server="10.130.0.0/16", service="etcd-client")).height == 2
    assert filter_frame(frame, Filter(protocol="icmp"))["dst_ip"].to_list() == ["10.130.0.2"]
    assert filter_frame(frame, Filter(port=443, exporter="10.0.0.0/24")).height == 1
    assert filter_frame(frame, Filter()).height == 4
