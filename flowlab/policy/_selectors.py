"""The matching pieces of NetworkPolicy semantics: label selectors, ipBlocks, ports.

Examples
--------
>>> matches_labels({"matchLabels": {"app": "db"}}, {"app": "db", "tier": "x"})
True
>>> matches_labels({}, {"anything": "goes"})
True
>>> in_ip_block({"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}, "10.1.2.3")
False
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from flowlab.exceptions import ConfigError
from flowlab.k8s.networkpolicy import PROTOCOLS

__all__ = ["in_ip_block", "matches_labels", "port_matches"]


def matches_labels(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A ``LabelSelector`` (matchLabels AND matchExpressions) against `labels`; ``{}`` selects all."""
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != str(value):
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key"), expr.get("operator")
        values = [str(v) for v in expr.get("values") or []]
        if op == "In":
            ok = key in labels and labels[key] in values
        elif op == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif op == "Exists":
            ok = key in labels
        elif op == "DoesNotExist":
            ok = key not in labels
        else:
            msg = f"label selector operator {op!r} is not In, NotIn, Exists or DoesNotExist"
            raise ConfigError(msg)
        if not ok:
            return False
    return True


@lru_cache(maxsize=4096)
def _net(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError as exc:
        msg = f"ipBlock cidr {cidr!r} is not a CIDR such as 10.0.0.0/24"
        raise ConfigError(msg) from exc


def in_ip_block(block: Mapping[str, Any], ip: str | None) -> bool:
    """Whether `ip` is inside ``block.cidr`` and outside every ``block.except``."""
    if not ip:
        return False
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    net = _net(str(block.get("cidr")))
    if addr.version != net.version or addr not in net:
        return False
    return not any(
        addr in n
        for n in (_net(str(e)) for e in block.get("except") or [])
        if n.version == addr.version
    )


def port_matches(
    ports: list[Mapping[str, Any]] | None,
    port: int | None,
    protocol: int | None,
    named: Mapping[tuple[str, int], int],
) -> bool:
    """Whether a rule's ``ports`` admit (`port`, `protocol`) on the destination.

    A missing or empty list admits every port; an entry without ``port``
    admits every port of its protocol (TCP by default); ``endPort`` makes a
    range; a named port is resolved against the destination pod's container
    ports, `named` = ``{(name, protocol): port}``.
    """
    if not ports:
        return True
    if protocol is None:
        return False
    for p in ports:
        proto = PROTOCOLS.get(str(p.get("protocol") or "TCP").upper())
        if proto != protocol:
            continue
        want = p.get("port")
        if want is None:
            return True
        if port is None:
            continue
        if isinstance(want, str) and not want.isdigit():
            if named.get((want, protocol)) == port:
                return True
            continue
        low = int(want)
        high = int(p.get("endPort") or low)
        if low <= port <= high:
            return True
    return False
