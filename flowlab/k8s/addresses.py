"""IP address classification and CIDR matching as Polars expressions.

Both work on the *distinct* addresses of a column (Python's :mod:`ipaddress`
runs once per distinct value, never per row) and map the answers back with a
vectorised ``replace_strict``; flow frames have few distinct addresses
compared with their rows.

Scopes: ``private`` (RFC 1918, 100.64/10 shared, fc00::/7 unique-local),
``loopback``, ``link-local``, ``multicast``, ``unspecified``, ``reserved``
(other special-purpose ranges) and ``public``. Unparsable text gives null.

Examples
--------
>>> import polars as pl
>>> f = pl.DataFrame({"ip": ["10.1.2.3", "8.8.8.8", "fd00::1", "nonsense"]})
>>> f.select(ip_scope("ip")).to_series().to_list()
['private', 'public', 'private', None]
>>> f.select(in_networks("ip", ["10.0.0.0/8", "fd00::/8"])).to_series().to_list()
[True, False, True, False]
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from functools import lru_cache

import polars as pl

from flowlab.exceptions import ConfigError

__all__ = ["SCOPES", "in_networks", "ip_scope", "parse_network", "scope_of"]

SCOPES = ("private", "public", "loopback", "link-local", "multicast", "unspecified", "reserved")
_SHARED = ipaddress.ip_network("100.64.0.0/10")


@lru_cache(maxsize=65536)
def scope_of(text: str) -> str | None:
    """Scope of one address (see module docstring); None if `text` is not an IP address.

    Examples
    --------
    >>> scope_of("172.30.0.1"), scope_of("169.254.0.1"), scope_of("2001:4860::1")
    ('private', 'link-local', 'public')
    """
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified:
        return "unspecified"
    if ip in _SHARED or _rfc_private(ip):
        return "private"
    return "public" if ip.is_global else "reserved"


_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


def _rfc_private(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(ip.version == n.version and ip in n for n in _PRIVATE)


def _per_distinct(
    column: str | pl.Expr, fn: Callable[[str], object], dtype: pl.DataType
) -> pl.Expr:
    expr = pl.col(column) if isinstance(column, str) else column

    def apply(s: pl.Series) -> pl.Series:
        distinct = s.drop_nulls().unique()
        mapping = {v: fn(v) for v in distinct.to_list()}
        return s.replace_strict(mapping, default=None, return_dtype=dtype)

    return expr.map_batches(apply, return_dtype=dtype)


def ip_scope(column: str | pl.Expr) -> pl.Expr:
    """Expression: the scope of each address in `column` (String)."""
    return _per_distinct(column, scope_of, pl.String()).alias("scope")


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

    return _per_distinct(column, inside, pl.Boolean()).fill_null(False).alias("in_networks")
