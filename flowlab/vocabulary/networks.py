"""CIDR matching as Polars expressions, once per distinct address.

Examples
--------
>>> import polars as pl
>>> f = pl.DataFrame({"ip": ["10.1.2.3", "8.8.8.8", "fd00::1", "nonsense", None]})
>>> f.select(in_networks("ip", ["10.0.0.0/8", "fd00::/8"])).to_series().to_list()
[True, False, True, False, False]
>>> parse_network("10.1.2.3")
IPv4Network('10.1.2.3/32')
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

import polars as pl

from flowlab.exceptions import ConfigError

__all__ = ["in_networks", "map_distinct", "parse_network"]


def map_distinct(column: str | pl.Expr, fn: Callable[[str], object], dtype: pl.DataType) -> pl.Expr:
    """Expression: `fn` applied once per distinct non-null value of `column` (nulls stay null).

    Flow frames hold few distinct addresses compared with their rows, so
    Python's :mod:`ipaddress` runs per distinct value, never per row.
    """
    expr = pl.col(column) if isinstance(column, str) else column

    def apply(s: pl.Series) -> pl.Series:
        distinct = s.drop_nulls().unique()
        mapping = {v: fn(v) for v in distinct.to_list()}
        return s.replace_strict(mapping, default=None, return_dtype=dtype)

    return expr.map_batches(apply, return_dtype=dtype)


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """Parse ``"10.0.0.0/8"`` (or a bare address, a /32 or /128).

    Raises
    ------
    ConfigError
        With the expected form.
    """
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as exc:
        msg = f"bad network {text!r}: expected CIDR like 10.128.0.0/14 or an IP address"
        raise ConfigError(msg) from exc


def in_networks(column: str | pl.Expr, networks: Iterable[str]) -> pl.Expr:
    """Expression: whether each address lies in any of `networks` (null/unparsable -> False)."""
    nets = tuple(parse_network(n) for n in networks)

    def inside(text: str) -> bool:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            return False
        return any(ip.version == n.version and ip in n for n in nets)

    return map_distinct(column, inside, pl.Boolean()).fill_null(False).alias("in_networks")
