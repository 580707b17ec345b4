"""Shared test data for the k8s, graph, analysis and views tests.

`inventory()` reads the committed ``tests/data/k8s/*.json`` (``oc get -o json``
shape); `flows()` builds a canonical flow frame (``conform`` + ``orient``) of
traffic shaped like the seed's questions, over 2024-05-01 10:00-11:00 UTC.
Every volume comes from ``scale_expr`` (frame length x sampling rate).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl

from flowlab.k8s import Inventory
from flowlab.schema import conform, scale_expr
from flowlab.services import orient_frame

DATA = Path(__file__).parent / "data" / "k8s"
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)

GRAFANA = "10.128.2.7"
PROM0 = "10.129.2.9"
PROM1 = "10.131.0.12"
ALERTMANAGER = "10.128.2.11"
MASTERS = ("10.0.0.3", "10.0.0.4", "10.0.0.5")
WORKERS = ("10.0.0.6", "10.0.0.7", "10.0.0.8")
K8S_API = "172.30.0.1"
DNS_SVC = "172.30.0.10"
FRONTEND, REUSED, REDIS, PAYMENTS = "10.129.2.20", "10.130.0.20", "10.131.0.30", "10.131.0.44"
DNS_PODS = ("10.128.0.5", "10.129.0.5", "10.128.2.5")
PUBLIC, PRIVATE_EXT = "52.1.2.3", "192.168.50.10"


def inventory() -> Inventory:
    return Inventory.from_file(DATA)


def flows(seed: int = 7) -> pl.DataFrame:
    """About 900 sampled-packet rows, both directions of each conversation."""
    rnd = random.Random(seed)
    rows: list[dict] = []

    def conv(
        client: str,
        server: str,
        sport: int,
        n: int,
        *,
        proto: int = 6,
        minute: float | None = None,
        exporter: str = "10.0.0.6",
        rate: int = 400,
    ) -> None:
        for _ in range(n):
            cport = rnd.randint(32768, 60999)
            at = T0 + timedelta(
                seconds=(minute * 60 if minute is not None else rnd.uniform(0, 3599))
            )
            length = rnd.choice([66, 74, 140, 590, 1514])
            forward = rnd.random() < 0.6
            flags = (24 if forward else 16) if proto == 6 else None
            src, dst, sp, dp = (
                (client, server, cport, sport) if forward else (server, client, sport, cport)
            )
            rows.append(
                {
                    "time": at,
                    "exporter": exporter,
                    "src_ip": src,
                    "dst_ip": dst,
                    "src_port": sp,
                    "dst_port": dp,
                    "protocol": proto,
                    "tcp_flags": flags,
                    "frame_length": length,
                    "sampling_rate": rate,
                    "ip_version": 4,
                    "source": "demo",
                }
            )

    conv(GRAFANA, PROM0, 9091, 60)
    conv(GRAFANA, PROM1, 9091, 40)
    conv(GRAFANA, ALERTMANAGER, 9093, 10)
    for client in (PROM0, PROM1, FRONTEND, ALERTMANAGER, *WORKERS):
        conv(client, K8S_API, 443, 15)
    for client in (PROM0, *WORKERS):
        conv(client, MASTERS[0], 6443, 10, exporter=MASTERS[0])
    for api in MASTERS:  # kube-apiservers (host network) -> etcd members
        for etcd in MASTERS:
            conv(api, etcd, 2379, 25, exporter=api, rate=64)
    conv(MASTERS[0], MASTERS[1], 2380, 20, exporter=MASTERS[0], rate=64)
    conv(MASTERS[1], MASTERS[2], 2380, 20, exporter=MASTERS[1], rate=64)
    for client in (FRONTEND, REDIS, PAYMENTS, PROM0):
        conv(client, DNS_SVC, 53, 10, proto=17)
        conv(client, rnd.choice(DNS_PODS), 5353, 8, proto=17)
    conv(FRONTEND, "172.30.100.2", 80, 30)
    conv(FRONTEND, REUSED, 8081, 30, minute=45)
    conv(REUSED, REDIS, 6379, 40, minute=50)
    conv(REUSED, PUBLIC, 443, 12, minute=10)  # the cleanup job (IP's first owner) calls out
    conv(REUSED, PRIVATE_EXT, 8443, 3, minute=30.5)  # in the gap between the two owners
    conv(PAYMENTS, PUBLIC, 443, 15)
    conv(PROM0, "10.0.0.7", 9100, 12, exporter="10.0.0.7")
    for _ in range(10):  # ICMP: no ports, no client/server
        rows.append(
            {
                "time": T0 + timedelta(seconds=rnd.uniform(0, 3599)),
                "exporter": "10.0.0.6",
                "src_ip": FRONTEND,
                "dst_ip": PRIVATE_EXT,
                "protocol": 1,
                "icmp_type": 8,
                "icmp_code": 0,
                "frame_length": 98,
                "sampling_rate": 400,
                "ip_version": 4,
                "source": "demo",
            }
        )
    frame = pl.DataFrame(rows, infer_schema_length=None)
    frame = frame.with_columns(*scale_expr())
    return orient_frame(conform(frame)).sort("time")


def enriched(seed: int = 7) -> pl.DataFrame:
    from flowlab.k8s import enrich

    return enrich(flows(seed), inventory())
