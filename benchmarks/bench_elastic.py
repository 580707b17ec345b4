"""Benchmark: flowlab's Elasticsearch loader and push-down against what a notebook author writes.

Against the test server (``eval "$(bash scripts/elasticsearch.sh env)"``), with
ElastiFlow-3.5-layout documents written once by ``write_flows(layout="elastiflow")``
and reused on later runs (``--docs`` sets how many; 1,000,000 by default).

Measured, each in its own subprocess (wall time inside, peak RSS of the process):

* ``load``: ``flowlab.elastic.load_flows`` of the whole window.
* ``baseline``: ``elasticsearch.helpers.scan`` + ``pandas.json_normalize`` (the
  notebook author's code today).
* ``edges``: ``flowlab.elastic.edges(by=(client, server, service))`` pushed down.
* ``pull_group``: ``load_flows`` then ``edges_local`` (pull the rows, group locally).
* ``baseline_group``: ``scan`` + ``json_normalize`` + ``pandas.groupby``.

Prints the figures, the ratios against the baselines measured in the same run,
and whether the pushed-down edges equal the local group-by.

    PYTHONPATH=$PWD python benchmarks/bench_elastic.py            # 1M documents
    PYTHONPATH=$PWD python benchmarks/bench_elastic.py --docs 100000
    PYTHONPATH=$PWD python benchmarks/bench_elastic.py --repeat 3   # medians of 3 interleaved runs
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "flowlab-bench-ef-"
PATTERN = f"{PREFIX}*"


def _client() -> Any:
    import flowlab.elastic as fe

    url = os.environ.get("FLOWLAB_TEST_ES_URL")
    if not url:
        sys.exit('FLOWLAB_TEST_ES_URL is not set: eval "$(bash scripts/elasticsearch.sh env)"')
    return fe.connect(
        url,
        username=os.environ.get("FLOWLAB_TEST_ES_USERNAME"),
        password=os.environ.get("FLOWLAB_TEST_ES_PASSWORD"),
        request_timeout=600,
    )


def _plain_client() -> Any:
    from elasticsearch import Elasticsearch

    return Elasticsearch(
        os.environ["FLOWLAB_TEST_ES_URL"],
        basic_auth=(os.environ["FLOWLAB_TEST_ES_USERNAME"], os.environ["FLOWLAB_TEST_ES_PASSWORD"]),
        request_timeout=600,
    )


def _synthetic() -> Any:
    path = ROOT / "tests" / "elastic" / "synthetic.py"
    spec = importlib.util.spec_from_file_location("_bench_synthetic", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prepare(docs: int) -> int:
    """Make sure the benchmark indices hold exactly `docs` documents; returns the count."""
    import flowlab.elastic as fe

    es = _client()
    have = 0
    if es.indices.exists(index=PATTERN, allow_no_indices=False):
        es.indices.refresh(index=PATTERN)
        have = int(es.count(index=PATTERN)["count"])
    if have == docs and es.indices.exists_alias(name="flowlab-bench-v2", index=PATTERN):
        print(f"reusing {PATTERN}: {have:,} documents", flush=True)
        return have
    es.options(ignore_status=404).indices.delete(index=PATTERN, expand_wildcards="all")
    synthetic = _synthetic()
    chunk = 100_000
    started = time.perf_counter()
    for i, offset in enumerate(range(0, docs, chunk)):
        n = min(chunk, docs - offset)
        # a cluster: 600 client pods, 90 server pods, each client talking to 6 of them
        frame = synthetic.synthetic_flows(
            n, seed=1000 + i, days=7.0, clients=600, servers=90, fanout=6
        )
        result = fe.write_flows(es, frame, PREFIX, layout="elastiflow", chunk_size=5000)
        if result.rejected:
            sys.exit(f"rejected documents while loading: {result.summary()}")
        print(
            f"  indexed {offset + n:,}/{docs:,} ({time.perf_counter() - started:.0f}s)", flush=True
        )
    es.indices.refresh(index=PATTERN)
    es.options(request_timeout=1800).indices.forcemerge(index=PATTERN, max_num_segments=1)
    es.indices.put_alias(index=PATTERN, name="flowlab-bench-v2")  # marks the data generation
    have = int(es.count(index=PATTERN)["count"])
    print(f"indexed {have:,} documents in {time.perf_counter() - started:.0f}s", flush=True)
    return have


# -- workers (run in subprocesses) ------------------------------------------------------------


def work_load(slices: int) -> dict[str, Any]:
    import flowlab.elastic as fe

    es = _client()
    t = time.perf_counter()
    frame = fe.load_flows(es, PATTERN, progress=False, slices=slices)
    return {"seconds": time.perf_counter() - t, "rows": frame.height}


def _scan_normalize() -> Any:
    import pandas as pd
    from elasticsearch import helpers

    es = _plain_client()
    hits = [
        h["_source"] for h in helpers.scan(es, index=PATTERN, query={"query": {"match_all": {}}})
    ]
    return pd.json_normalize(hits)


def work_baseline() -> dict[str, Any]:
    t = time.perf_counter()
    df = _scan_normalize()
    return {"seconds": time.perf_counter() - t, "rows": len(df)}


def work_edges() -> dict[str, Any]:
    import flowlab.elastic as fe

    es = _client()
    t = time.perf_counter()
    edges = fe.edges(es, PATTERN, by=("client", "server", "service"))
    seconds = time.perf_counter() - t
    edges.write_parquet(ROOT / "benchmarks" / ".edges_pushdown.parquet")
    return {"seconds": seconds, "rows": edges.height}


def work_pull_group(slices: int) -> dict[str, Any]:
    import polars as pl
    from polars.testing import assert_frame_equal

    import flowlab.elastic as fe

    es = _client()
    t = time.perf_counter()
    frame = fe.load_flows(es, PATTERN, progress=False, slices=slices)
    edges = fe.edges_local(frame, by=("client", "server", "service"))
    seconds = time.perf_counter() - t
    pushed = pl.read_parquet(ROOT / "benchmarks" / ".edges_pushdown.parquet")
    try:
        assert_frame_equal(pushed, edges)
        equal = True
    except AssertionError:
        equal = False
    return {"seconds": seconds, "rows": edges.height, "equal_to_pushdown": equal}


def work_baseline_group() -> dict[str, Any]:
    t = time.perf_counter()
    df = _scan_normalize()
    grouped = df.groupby(
        ["flow.client_addr", "flow.server_addr", "flow.service_name"], dropna=False
    ).agg(
        bytes=("flow.bytes", "sum"), packets=("flow.packets", "sum"), flows=("flow.bytes", "size")
    )
    return {"seconds": time.perf_counter() - t, "rows": len(grouped)}


WORKERS = {
    "load": work_load,
    "baseline": work_baseline,
    "edges": work_edges,
    "pull_group": work_pull_group,
    "baseline_group": work_baseline_group,
}


def measure(name: str, slices: int) -> dict[str, Any]:
    """Run one worker in a fresh interpreter; it reports its wall time and its peak RSS."""
    cmd = [sys.executable, __file__, "--worker", name, "--slices", str(slices)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, env=env, check=False)
    if proc.returncode:
        sys.exit(f"worker {name} failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    result["peak_rss_mb"] = result.pop("_rss_kb") / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=1_000_000, help="documents to benchmark on")
    parser.add_argument("--slices", type=int, default=2, help="parallel slices for load_flows")
    parser.add_argument(
        "--skip-baseline-group", action="store_true", help="skip scan+pandas groupby"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement (medians)")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        import resource

        fn = WORKERS[args.worker]
        result = fn(args.slices) if args.worker in ("load", "pull_group") else fn()
        result["_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps(result))
        return

    docs = prepare(args.docs)
    names = ["load", "baseline", "edges", "pull_group"]
    if not args.skip_baseline_group:
        names.append("baseline_group")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for repeat in range(args.repeat):
        for name in names:  # interleaved, so that a busy spell of the machine hits all of them
            r = measure(name, args.slices)
            runs[name].append(r)
            print(
                f"[{repeat + 1}/{args.repeat}] {name:15s} {r['seconds']:8.2f} s  "
                f"peak RSS {r['peak_rss_mb']:8.0f} MiB  rows {r['rows']:,}",
                flush=True,
            )

    def med(name: str, key: str) -> float:
        return float(statistics.median(r[key] for r in runs[name]))

    print()
    print(
        f"documents: {docs:,}  (ElastiFlow 3.5 layout, {args.slices} slices, medians of {args.repeat})"
    )
    for name in names:
        print(
            f"  {name:15s} {med(name, 'seconds'):8.2f} s  peak RSS {med(name, 'peak_rss_mb'):8.0f} MiB"
        )
    speed = med("baseline", "seconds") / med("load", "seconds")
    memory = med("load", "peak_rss_mb") / med("baseline", "peak_rss_mb")
    print(
        f"load_flows vs scan+json_normalize: {speed:.1f}x faster (target >= 5x), "
        f"peak memory {memory:.2f} of the baseline's (target <= 0.5)"
    )
    push = med("pull_group", "seconds") / med("edges", "seconds")
    equal = all(r["equal_to_pushdown"] for r in runs["pull_group"])
    print(
        f"edges push-down vs load_flows+edges_local: {push:.1f}x faster (target >= 20x); equal: {equal}"
    )
    if "baseline_group" in runs:
        ratio = med("baseline_group", "seconds") / med("edges", "seconds")
        print(f"edges push-down vs scan+json_normalize+groupby: {ratio:.1f}x faster")
    (ROOT / "benchmarks" / ".edges_pushdown.parquet").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
