#!/usr/bin/env python3
"""Build flowlab/data/services.csv, the port -> service-name table.

Source: the IANA "Service Name and Transport Protocol Port Number Registry",
either as IANA's own CSV (service-names-port-numbers.csv) or as a file in
services(5) format derived from it (Wireshark ships one as
/usr/share/wireshark/services; Debian package ``wireshark-common``).

The first name IANA lists for a (protocol, port) wins, as in ElastiFlow's
dictionaries. Then the overrides below are applied: the names ElastiFlow 3.x
uses for cloud-native ports, so that flowlab's service names match the seed's
Kibana dashboards.

Usage: python scripts/build_services.py [SOURCE] > flowlab/data/services.csv
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

PROTOCOLS = ("tcp", "udp", "sctp", "dccp")

# ElastiFlow 3.5 dictionary values that differ from IANA's first name.
OVERRIDES: dict[tuple[str, int], str] = {
    ("tcp", 53): "dns",
    ("udp", 53): "dns",
    ("tcp", 2379): "etcd-client",
    ("tcp", 2380): "etcd-server",
    ("tcp", 3000): "grafana",
    ("tcp", 5601): "kibana",
    ("tcp", 6443): "kubernetes-api",
    ("tcp", 9090): "hbase-thrift",
    ("tcp", 9200): "elasticsearch",
    ("tcp", 9300): "es-transport",
}


def parse_services(text: str) -> dict[tuple[str, int], str]:
    table: dict[tuple[str, int], str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 2 or "/" not in parts[1]:
            continue
        port_s, *protos = parts[1].split("/")
        if "-" in port_s or not port_s.isdigit():
            continue
        for proto in protos:
            if proto in PROTOCOLS:
                table.setdefault((proto, int(port_s)), parts[0])
    return table


def parse_iana_csv(text: str) -> dict[tuple[str, int], str]:
    table: dict[tuple[str, int], str] = {}
    for row in csv.DictReader(text.splitlines()):
        name = (row.get("Service Name") or "").strip()
        proto = (row.get("Transport Protocol") or "").strip().lower()
        port = (row.get("Port Number") or "").strip()
        if not name or proto not in PROTOCOLS or not port:
            continue
        lo, _, hi = port.partition("-")
        for p in range(int(lo), int(hi or lo) + 1):
            table.setdefault((proto, p), name)
    return table


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/wireshark/services")
    text = src.read_text(encoding="utf-8", errors="replace")
    table = parse_iana_csv(text) if src.suffix == ".csv" else parse_services(text)
    table.update(OVERRIDES)
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["protocol", "port", "name"])
    for (proto, port), name in sorted(
        table.items(), key=lambda kv: (PROTOCOLS.index(kv[0][0]), kv[0][1])
    ):
        out.writerow([proto, port, name])


if __name__ == "__main__":
    main()
