"""``flowlab policy SOURCE --namespace NS -o policies.yaml``: propose NetworkPolicies, optionally
replay them on a second window.

Prints one line per rule (policy, direction, peer, ports, samples, miss chance)
and, with ``--replay-start``/``--replay-end``, the connections of that window
the proposal would newly deny. Exit status 0 when the policies were written,
1 on an error (bad source, window or inventory).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``flowlab policy`` arguments."""
    p.add_argument(
        "source",
        help="'demo', 'elasticsearch' (FLOWLAB_ES_* variables), a capture directory or a pcap file",
    )
    p.add_argument(
        "-n",
        "--namespace",
        action="append",
        help="propose policies for the workloads of this namespace (repeatable; default: all)",
    )
    p.add_argument(
        "-o", "--out", type=Path, help="YAML file to write (default: print the YAML on stdout)"
    )
    p.add_argument("--inventory", help="oc get ... -o json file (default: the source's own)")
    p.add_argument("--index", help="Elasticsearch index pattern")
    p.add_argument("--start", help="training window start, ISO 8601 (UTC if no zone)")
    p.add_argument("--end", help="training window end (exclusive)")
    p.add_argument("--egress", action="store_true", help="also propose egress rules")
    p.add_argument("--evidence", type=Path, help="write the evidence table (.csv/.parquet/.json)")
    p.add_argument("--replay-start", help="replay the proposal on a second window from this time")
    p.add_argument("--replay-end", help="... to this time (exclusive)")


def run(args: argparse.Namespace) -> int:
    """Propose, write, and optionally replay; returns the exit status."""
    import polars as pl

    from flowlab.dataset import load, parse_time
    from flowlab.exceptions import ConfigError
    from flowlab.policy import newly_denied, propose, summary
    from flowlab.tables import write_table

    start, end = parse_time(args.start), parse_time(args.end)
    r_start, r_end = parse_time(args.replay_start), parse_time(args.replay_end)
    replaying = r_start is not None or r_end is not None
    if replaying and r_start is not None and end is not None and r_start < end:
        msg = f"--replay-start {args.replay_start} is before --end {args.end}: the windows overlap"
        raise ConfigError(msg)
    ds = load(
        args.source,
        start=start,
        end=r_end if replaying else end,
        inventory=args.inventory,
        index=args.index,
    )
    flows = ds.flows
    train = flows.filter(pl.col("time") < end) if end is not None else flows
    if replaying and end is None and r_start is not None:
        train = flows.filter(pl.col("time") < r_start)
    proposal = propose(train, ds.inventory, namespaces=args.namespace, egress=args.egress)
    if not proposal.policies:
        where = ", ".join(args.namespace) if args.namespace else "any namespace"
        msg = f"no server-side connections of {where} in {ds.source}: nothing to propose"
        raise ConfigError(msg)
    text = proposal.to_yaml()
    if args.out:
        proposal.write(args.out)
    else:
        sys.stdout.write(text)
    if args.evidence:
        write_table(proposal.evidence, args.evidence)
    log = sys.stderr if not args.out else sys.stdout
    ev = proposal.evidence
    print(
        f"{len(proposal.policies)} NetworkPolicies, {ev.height} rules from {train.height:,} flow "
        f"records of {ds.source}" + (f", written to {args.out}" if args.out else ""),
        file=log,
    )
    for row in ev.iter_rows(named=True):
        print(
            f"  {row['namespace'] or '-'}/{row['policy']} {row['direction']}[{row['rule']}]: "
            f"{row['peer']} on {row['ports']} — {row['samples']} samples, "
            f"miss chance {row['miss_chance']:.2g}",
            file=log,
        )
    if replaying:
        test = flows.filter(pl.col("time") >= r_start) if r_start is not None else flows
        broken = summary(newly_denied(test, proposal, ds.inventory))
        print(
            f"replayed on {test.height:,} records: {broken['connections'].sum() or 0} connections "
            "would newly be denied",
            file=log,
        )
        for row in broken.iter_rows(named=True):
            print(
                f"  DENIED {row['client']} -> {row['server']} port {row['port']} "
                f"({row['samples']} samples): {row['reason']}",
                file=log,
            )
    return 0
