"""IP address classification as Polars expressions (CIDR matching: :mod:`flowlab.vocabulary.networks`).

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
from functools import lru_cache

import polars as pl

from flowlab.vocabulary.networks import in_networks, map_distinct, parse_network

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


def ip_scope(column: str | pl.Expr) -> pl.Expr:
    """Expression: the scope of each address in `column` (String)."""
    return map_distinct(column, scope_of, pl.String()).alias("scope")
