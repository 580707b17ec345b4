from __future__ import annotations

import polars as pl
import pytest

from flowlab.exceptions import ConfigError
from flowlab.k8s.addresses import in_networks, ip_scope


def test_scopes() -> None:
    ips = [
        "10.128.2.7",
        "172.30.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "8.8.8.8",
        "127.0.0.1",
        "169.254.169.254",
        "224.0.0.251",
        "0.0.0.0",
        "240.0.0.1",
        "fd00::1",
        "fe80::1",
        "2001:4860:4860::8888",
        "::ffff:10.0.0.1",
        None,
        "garbage",
    ]
    got = pl.DataFrame({"ip": ips}).select(ip_scope("ip")).to_series().to_list()
    assert got == [
        "private",
        "private",
        "private",
        "private",
        "public",
        "loopback",
        "link-local",
        "multicast",
        "unspecified",
        "reserved",
        "private",
        "link-local",
        "public",
        "private",
        None,
        None,
    ]


def test_in_networks_lazy_and_mixed_families() -> None:
    lf = pl.LazyFrame({"ip": ["10.128.2.7", "10.132.0.1", "fd00::5", None]})
    got = (
        lf.select(in_networks("ip", ["10.128.0.0/14", "fd00::/8"])).collect().to_series().to_list()
    )
    assert got == [True, False, True, False]


def test_bad_network() -> None:
    with pytest.raises(ConfigError, match="expected CIDR"):
        in_networks("ip", ["10.0.0.0/33"])
