"""Benchmark: enrichment throughput and flows -> workload-level graph, flowlab vs pandas.

A synthetic cluster (namespaces, workloads, pods on nodes, ClusterIP services,
a few reused pod IPs) and N flow rows between its pods, nodes, services and
external addresses are generated with numpy (seeded). Then, in the same run:

1. ``enrich``: flowlab.k8s.enrich on the canonical rows (time-aware), fully
   collected -> rows/s (and the same with ``time_aware=False``);
2. graph: from the enriched rows to a workload-level ``networkx.DiGraph``:
   - flowlab ``communication_graph(level="workload")`` (Polars aggregation:
     bytes, packets, flows, services/ports/protocols lists, first/last seen,
     node attributes), vs
   - pandas: the same node ids with vectorised string ops, ``groupby`` with
     sum/sum/count/min/max (fewer aggregates than flowlab), then
     ``nx.from_pandas_edgelist``.
   Both graphs are checked to have the same edges and byte totals.

Usage::

    python benchmarks/bench_graph.py            # 10M rows
    python benchmarks/bench_graph.py --rows 1000000 --enrich-rows 1000000
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowlab.graph import communication_graph
from flowlab.k8s import Inventory, enrich
from flowlab.services import orient

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)
NEEDED = [
    "time",
    "src_ip",
    "dst_ip",
    "src_port",
    "dst_port",
    "protocol",
    "tcp_flags",
    "bytes",
    "packets",
]


def cluster(
    namespaces: int = 12, workloads: int = 8, replicas: int = 4, nodes: int = 24
) -> tuple[list[dict], dict]:
    """Kubernetes objects of a synthetic cluster and the address pools flows are drawn from."""
    items: list[dict] = []
    node_ips = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(nodes)]
    for i, ip in enumerate(node_ips):
        items.append(
            {
                "kind": "Node",
                "metadata": {"name": f"node-{i}", "creationTimestamp": "2025-01-01T00:00:00Z"},
                "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
            }
        )
    pod_ips, svc_ips, svc_ports, pod_ports = [], [], [], []
    n = 0
    for ns in range(namespaces):
        for w in range(workloads):
            name, port = f"app-{w}", 8000 + w
            items.append(
                {
                    "kind": "ReplicaSet",
                    "metadata": {
                        "name": f"{name}-abc{w}",
                        "namespace": f"ns-{ns}",
                        "ownerReferences": [
                            {"kind": "Deployment", "name": name, "controller": True}
                        ],
                    },
                }
            )
            svc_ip = f"172.30.{ns}.{w + 1}"
            items.append(
                {
                    "kind": "Service",
                    "metadata": {"name": name, "namespace": f"ns-{ns}"},
                    "spec": {
                        "clusterIP": svc_ip,
                        "ports": [{"port": 80, "targetPort": port, "protocol": "TCP"}],
                    },
                }
            )
            eps = []
            for r in range(replicas):
                ip = f"10.{128 + n // 65000}.{(n // 250) % 256}.{n % 250 + 2}"
                n += 1
                pod = f"{name}-abc{w}-{r:05d}"
                items.append(
                    {
                        "kind": "Pod",
                        "metadata": {
                            "name": pod,
                            "namespace": f"ns-{ns}",
                            "creationTimestamp": "2025-01-01T00:00:00Z",
                            "ownerReferences": [
                                {"kind": "ReplicaSet", "name": f"{name}-abc{w}", "controller": True}
                            ],
                        },
                        "spec": {"nodeName": f"node-{n % nodes}"},
                        "status": {"podIP": ip},
                    }
                )
                eps.append(
                    {
                        "addresses": [ip],
                        "targetRef": {"kind": "Pod", "name": pod, "namespace": f"ns-{ns}"},
                    }
                )
                pod_ips.append(ip)
                pod_ports.append(port)
            items.append(
                {
                    "kind": "EndpointSlice",
                    "metadata": {
                        "name": f"{name}-x",
                        "namespace": f"ns-{ns}",
                        "labels": {"kubernetes.io/service-name": name},
                    },
                    "endpoints": eps,
                    "ports": [{"port": port, "protocol": "TCP"}],
                }
            )
            svc_ips.append(svc_ip)
            svc_ports.append(80)
    # IP reuse: the first 50 pod IPs had an earlier owner (a Job pod) during the first 10 minutes
    for i, ip in enumerate(pod_ips[:50]):
        items.append(
            {
                "kind": "Pod",
                "metadata": {
                    "name": f"old-{i}",
                    "namespace": "ns-0",
                    "creationTimestamp": "2025-01-06T08:00:00Z",
                    "deletionTimestamp": "2025-01-06T09:10:00Z",
                    "ownerReferences": [{"kind": "Job", "name": f"old-{i}", "controller": True}],
                },
                "spec": {"nodeName": "node-0"},
                "status": {"podIP": ip},
            }
        )
    for item in items:
        if item["kind"] == "Pod" and item["metadata"]["name"].startswith("app-"):
            item["metadata"]["creationTimestamp"] = (
                "2025-01-06T09:10:00Z"
                if item["status"]["podIP"] in pod_ips[:50]
                else "2025-01-01T00:00:00Z"
            )
    pools = {
        "pod": np.array(pod_ips),
        "pod_port": np.array(pod_ports),
        "svc": np.array(svc_ips),
        "node": np.array(node_ips),
        "ext": np.array([f"203.0.113.{i}" for i in range(1, 200)]),
    }
    return items, pools


def flows(rows: int, pools: dict, seed: int = 0) -> pl.DataFrame:
    """`rows` canonical flow rows (the columns enrich needs), client/server oriented."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(
        4, size=rows, p=[0.6, 0.2, 0.1, 0.1]
    )  # pod->pod, pod->svc, node->pod, pod->ext
    # skewed popularity, so that some edges are heavy
    ci = np.minimum(rng.zipf(1.3, rows) - 1, len(pools["pod"]) - 1)
    si = rng.integers(0, len(pools["pod"]), rows)
    client = np.where(kind == 2, pools["node"][si % len(pools["node"])], pools["pod"][ci])
    server = np.select(
        [kind == 1, kind == 3],
        [pools["svc"][si % len(pools["svc"])], pools["ext"][si % len(pools["ext"])]],
        pools["pod"][si],
    )
    sport = np.select([kind == 1, kind == 3], [80, 443], pools["pod_port"][si]).astype(np.uint16)
    cport = rng.integers(32768, 61000, rows).astype(np.uint16)
    forward = rng.random(rows) < 0.6
    frame = pl.DataFrame(
        {
            "time": pl.Series(np.sort(rng.integers(0, 3_600_000, rows))).cast(pl.Int64) * 1,
            "src_ip": np.where(forward, client, server),
            "dst_ip": np.where(forward, server, client),
            "src_port": np.where(forward, cport, sport),
            "dst_port": np.where(forward, sport, cport),
            "protocol": np.full(rows, 6, np.uint8),
            "tcp_flags": np.full(rows, 24, np.uint16),
            "bytes": rng.choice([66, 590, 1514], rows).astype(np.uint64) * 400,
            "packets": np.full(rows, 400, np.uint64),
        }
    )
    start_ms = int(T0.timestamp() * 1000)
    frame = frame.with_columns((pl.col("time") + start_ms).cast(pl.Datetime("ms", "UTC")))
    return orient(frame.lazy()).collect()


def pandas_graph(pdf: pd.DataFrame) -> nx.DiGraph:
    """The pandas way: node ids with vectorised string ops, groupby, from_pandas_edgelist."""

    def ident(side: str) -> pd.Series:
        kind = pdf[f"{side}_kind"]
        ns = pdf[f"{side}_namespace"].fillna("")
        wl = ns + "/" + pdf[f"{side}_workload"].fillna("")
        svc = ns + "/" + pdf[f"{side}_service"].fillna("")
        node = "node/" + pdf[f"{side}_node"].fillna("")
        out = np.where(
            kind == "pod",
            wl,
            np.where(kind == "service", svc, np.where(kind == "node", node, pdf[f"{side}_ip"])),
        )
        return pd.Series(out, index=pdf.index)

    has = pdf["client_ip"].notna()
    src = pd.Series(np.where(has, ident("client"), ident("src")), index=pdf.index)
    dst = pd.Series(np.where(has, ident("server"), ident("dst")), index=pdf.index)
    work = pd.DataFrame(
        {
            "source": src,
            "target": dst,
            "bytes": pdf["bytes"],
            "packets": pdf["packets"],
            "time": pdf["time"],
        }
    )
    agg = (
        work.groupby(["source", "target"], sort=False)
        .agg(
            bytes=("bytes", "sum"),
            packets=("packets", "sum"),
            flows=("bytes", "size"),
            first_seen=("time", "min"),
            last_seen=("time", "max"),
        )
        .reset_index()
    )
    return nx.from_pandas_edgelist(
        agg,
        "source",
        "target",
        edge_attr=["bytes", "packets", "flows", "first_seen", "last_seen"],
        create_using=nx.DiGraph,
    )


def best(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--rows", type=int, default=10_000_000, help="rows for the graph benchmark (default 10M)"
    )
    ap.add_argument(
        "--enrich-rows",
        type=int,
        default=None,
        help="rows for the enrichment benchmark (default: --rows)",
    )
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, polars {pl.__version__}, pandas {pd.__version__}, "
        f"networkx {nx.__version__}, POLARS_MAX_THREADS={os.environ.get('POLARS_MAX_THREADS', '(all)')}"
    )
    items, pools = cluster()
    inv = Inventory.from_objects(items)
    print(f"inventory: {inv}")
    t = time.perf_counter()
    base = flows(args.rows, pools)
    print(f"generated {base.height:,} canonical rows in {time.perf_counter() - t:.1f} s")

    n_enrich = min(args.enrich_rows or args.rows, base.height)
    sub = base.head(n_enrich)
    for aware in (True, False):
        secs, out = best(lambda aware=aware: enrich(sub, inv, time_aware=aware), args.repeat)
        assert out.height == n_enrich  # type: ignore[attr-defined]
        print(
            f"enrich (time_aware={aware}): {n_enrich:,} rows in {secs:.2f} s = {n_enrich / secs / 1e6:.2f} M rows/s "
            f"({len(out.columns) - len(sub.columns)} columns added)"
        )  # type: ignore[attr-defined]
        del out
    gc.collect()

    cols = [
        f"{s}_{f}"
        for s in ("src", "dst", "client", "server")
        for f in ("kind", "namespace", "workload", "service", "node")
    ]
    t = time.perf_counter()
    enriched = enrich(base, inv).select(
        "time",
        "src_ip",
        "dst_ip",
        "client_ip",
        "server_ip",
        "bytes",
        "packets",
        "protocol",
        "service_name",
        "service_port",
        *cols,
    )
    secs = time.perf_counter() - t
    print(
        f"enrich (time_aware=True) of all {enriched.height:,} rows: {secs:.1f} s = {enriched.height / secs / 1e6:.2f} M rows/s"
    )
    del base
    gc.collect()

    secs_fl, g = best(lambda: communication_graph(enriched, level="workload"), args.repeat)
    t = time.perf_counter()
    # pandas gets plain string columns (flowlab's enriched columns are Categorical)
    pdf = enriched.with_columns(pl.col(pl.Categorical).cast(pl.String)).to_pandas()
    convert = time.perf_counter() - t
    secs_pd, h = best(lambda: pandas_graph(pdf), args.repeat)
    assert isinstance(g, nx.DiGraph) and isinstance(h, nx.DiGraph)
    assert set(g.edges) == set(h.edges), "flowlab and pandas graphs differ"
    assert sum(d["bytes"] for *_, d in g.edges(data=True)) == sum(
        int(d["bytes"]) for *_, d in h.edges(data=True)
    )
    print(
        f"graph ({g.number_of_nodes()} nodes, {g.number_of_edges()} edges) from {enriched.height:,} rows:"
    )
    print(f"  flowlab communication_graph : {secs_fl:7.2f} s")
    print(
        f"  pandas groupby + from_pandas_edgelist : {secs_pd:7.2f} s  (to_pandas conversion {convert:.1f} s not counted)"
    )
    print(f"  speed-up: {secs_pd / secs_fl:.1f}x (target >= 3x)")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
