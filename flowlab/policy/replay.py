"""Replay observed flows against NetworkPolicies: which connections would be denied, and why.

Kubernetes semantics (https://kubernetes.io/docs/concepts/services-networking/network-policies/),
as :func:`replay` implements them:

1. **Per-direction isolation.** A pod is isolated for ingress (egress) only
   if some policy in its namespace selects it and has ``Ingress``
   (``Egress``) in ``policyTypes``; without ``policyTypes`` a policy is
   Ingress, plus Egress when it has an ``egress`` section. A non-isolated
   direction allows everything.
2. **Union of allows.** Policies never deny: an isolated direction admits a
   connection when any rule of any policy selecting the pod admits it.
3. **Both ends.** A connection between two pods needs the client's egress
   and the server's ingress to allow it; replies are implied.
4. **Peers.** A missing or empty ``from``/``to`` admits every peer; a
   ``podSelector`` alone means pods of the policy's namespace, a
   ``namespaceSelector`` alone every pod of the selected namespaces, both in
   one element the pods matching both; namespaces always carry
   ``kubernetes.io/metadata.name``.
5. **ipBlock** admits addresses in ``cidr`` and in none of ``except``; it is
   matched against the address the flow shows.
6. **Ports.** A missing list admits every port; an entry without ``port``
   every port of its protocol (TCP by default); ``endPort`` a range; a
   named port is the destination pod's container port of that name and
   protocol.
7. **Host network.** Following the documentation's "most common case",
   host-network pods are neither selected by policies nor matched by
   ``podSelector``/``namespaceSelector`` peers: traffic to and from them is
   node traffic, matched by ``ipBlock`` of the node address only.
8. **Resident node.** A pod cannot block traffic from its own node (kubelet
   probes; on OVN-Kubernetes they come from the node's management port).
9. **Services.** Traffic to a ClusterIP is judged at the backend pods
   (after the load balancer), on their endpoint port; a connection is
   denied when it would be denied at any backend.

Flows are evaluated per connection key (client, server, server port,
protocol); a policy proposed from a bare capture (no inventory) selects
the pod by its ``flowlab.io/pod-ip`` annotation.

Examples
--------
>>> import polars as pl
>>> from flowlab.schema import conform
>>> from flowlab.services import orient_frame
>>> from flowlab.policy import network_policy
>>> flows = orient_frame(conform(pl.DataFrame({"src_ip": ["10.0.0.9", "10.0.0.8"],
...     "dst_ip": ["10.1.0.5", "10.1.0.5"], "src_port": [40000, 40001], "dst_port": [8080, 8080],
...     "protocol": [6, 6], "bytes": [100, 100], "packets": [1, 1]})))
>>> pol = network_policy(None, "web", {}, annotations={"flowlab.io/pod-ip": "10.1.0.5"},
...     ingress=[{"from": [{"ipBlock": {"cidr": "10.0.0.8/32"}}]}])
>>> replay(flows, [pol]).select("client", "allowed").sort("client").rows()
[('10.0.0.8', True), ('10.0.0.9', False)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from flowlab.k8s.inventory import Inventory
from flowlab.policy import _evidence
from flowlab.policy._endpoints import ClusterView, Endpoint, connections
from flowlab.policy._model import Policy, policies_of, policy_types
from flowlab.policy._selectors import in_ip_block, matches_labels, port_matches
from flowlab.services import protocol_name

__all__ = ["POD_IP_ANNOTATION", "VERDICT_COLUMNS", "newly_denied", "replay", "summary"]

#: selects the pod at this address in a policy proposed without an inventory.
POD_IP_ANNOTATION = "flowlab.io/pod-ip"

#: The verdict columns of :func:`replay` (before the evidence columns).
VERDICT_COLUMNS = (
    "client",
    "server",
    "port",
    "protocol",
    "allowed",
    "denied_at",
    "policies",
    "reason",
)


def _name(p: Mapping[str, Any]) -> str:
    meta = p.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))


def selects(policy: Mapping[str, Any], ep: Endpoint) -> bool:
    """Whether `policy` selects the pod `ep` (rules 1 and 7)."""
    meta = policy.get("metadata") or {}
    pinned = (meta.get("annotations") or {}).get(POD_IP_ANNOTATION)
    if pinned is not None:
        return ep.ip == pinned and not ep.host_network
    if not ep.pod_network or ep.namespace != meta.get("namespace"):
        return False
    return matches_labels((policy.get("spec") or {}).get("podSelector") or {}, ep.labels)


def _peer_matches(
    peer: Mapping[str, Any], namespace: str | None, ep: Endpoint, view: ClusterView
) -> bool:
    if "ipBlock" in peer:
        return in_ip_block(peer["ipBlock"], ep.ip)
    if not ep.pod_network:
        return False
    ns_sel = peer.get("namespaceSelector")
    if ns_sel is None:
        ns_ok = ep.namespace == namespace
    else:
        ns_ok = matches_labels(ns_sel, view.namespace_labels(ep.namespace))
    return ns_ok and matches_labels(peer.get("podSelector") or {}, ep.labels)


def _admits(
    policies: Sequence[Policy],
    direction: str,
    subject: Endpoint,
    peer: Endpoint,
    port: int | None,
    protocol: int | None,
    named: Mapping[tuple[str, int], int],
    view: ClusterView,
) -> tuple[bool, list[str]]:
    """(allowed, isolating policies) for one direction of one connection."""
    isolating = [
        p for p in policies if direction.capitalize() in policy_types(p) and selects(p, subject)
    ]
    if not isolating:
        return True, []
    key, peers_key = ("ingress", "from") if direction == "ingress" else ("egress", "to")
    for p in isolating:
        ns = (p.get("metadata") or {}).get("namespace")
        for rule in (p.get("spec") or {}).get(key) or []:
            peers = rule.get(peers_key)
            if peers and not any(_peer_matches(x, ns, peer, view) for x in peers):
                continue
            if port_matches(rule.get("ports"), port, protocol, named):
                return True, [_name(q) for q in isolating]
    return False, [_name(q) for q in isolating]


def _verdict(
    client: Endpoint,
    server: Endpoint,
    port: int | None,
    protocol: int | None,
    policies: Sequence[Policy],
    view: ClusterView,
) -> tuple[bool, str | None, list[str], str]:
    proto = protocol_name(protocol) or "?"
    what = f"{port}/{proto}" if port is not None else proto
    ok, names = _admits(policies, "egress", client, server, port, protocol, server.named, view)
    if not ok:
        reason = f"egress of {client.text()} is isolated by {', '.join(names)}; no egress rule admits {server.text()} on {what}"
        return False, "egress", names, reason
    if view.resident(client, server):
        return True, None, names, "from the pod's own node (always allowed)"
    ok, in_names = _admits(policies, "ingress", server, client, port, protocol, server.named, view)
    if not ok:
        reason = f"ingress of {server.text()} is isolated by {', '.join(in_names)}; no ingress rule admits {client.text()} on {what}"
        return False, "ingress", in_names, reason
    isolated = names + in_names
    return True, None, isolated, "admitted" if isolated else "not isolated"


def _judge(
    row: Mapping[str, Any], policies: Sequence[Policy], view: ClusterView
) -> tuple[bool, str | None, list[str], str]:
    client, server = view.endpoint(row, "client"), view.endpoint(row, "server")
    port, protocol = row["port"], row["protocol"]
    if server.kind != "service" or server.namespace is None or server.service is None:
        return _verdict(client, server, port, protocol, policies, view)
    backends, ports = view.service_backends(server.namespace, server.service)
    if not backends:
        return _verdict(client, server, port, protocol, policies, view)
    candidates = [ports[0]] if len(ports) == 1 else ([port] if port in ports else ports or [port])
    for b in backends:
        results = [_verdict(client, b, p, protocol, policies, view) for p in candidates]
        if not any(r[0] for r in results):
            return results[0]
    return True, None, [], f"admitted at every backend of {server.text()}"


def replay(
    flows: pl.DataFrame | pl.LazyFrame,
    policies: Any,
    inventory: Inventory | None = None,
    *,
    records: bool = False,
) -> pl.DataFrame:
    """Evaluate every observed connection against `policies`.

    Parameters
    ----------
    flows : DataFrame or LazyFrame
        Flow records, enriched with Kubernetes names (:func:`flowlab.k8s.enrich`)
        for pod-level answers; bare flows are judged by address only.
    policies : list of dict, Inventory, YAML text, path or Proposal
        The NetworkPolicies (``networking.k8s.io/v1`` dicts): the cluster's own
        (``inventory`` read from ``oc get networkpolicy,... -o json``) and/or
        proposed ones (:func:`flowlab.policy.propose`).
    inventory : Inventory, optional
        Labels, namespaces, named ports and Service backends; required for
        policies with selectors to select anything.
    records : bool
        Return the flow records with the verdict columns joined instead of
        one row per connection.

    Returns
    -------
    polars.DataFrame
        One row per connection (client, server, server port, protocol):
        :data:`VERDICT_COLUMNS` — ``allowed``, ``denied_at`` (``ingress`` or
        ``egress``), the isolating ``policies`` and a one-line ``reason``
        naming the missing rule — then the names of both ends and the
        evidence (flows, samples, bytes with interval, first/last seen,
        miss_chance). Denied first, then by bytes.
    """
    pols = policies.policies if hasattr(policies, "policies") else policies_of(policies)
    view = ClusterView(inventory)
    conns = connections(flows, inventory)
    verdicts = [_judge(row, pols, view) for row in conns.iter_rows(named=True)]
    names = [
        (view.endpoint(r, "client").text(), view.endpoint(r, "server").text())
        for r in conns.iter_rows(named=True)
    ]
    frame = _evidence.finish(conns).with_columns(
        pl.Series("client", [n[0] for n in names], pl.String),
        pl.Series("server", [n[1] for n in names], pl.String),
        pl.Series("allowed", [v[0] for v in verdicts], pl.Boolean),
        pl.Series("denied_at", [v[1] for v in verdicts], pl.String),
        pl.Series("policies", [v[2] for v in verdicts], pl.List(pl.String)),
        pl.Series("reason", [v[3] for v in verdicts], pl.String),
    )
    rest = [c for c in frame.columns if c not in VERDICT_COLUMNS]
    frame = frame.select(*VERDICT_COLUMNS, *rest).rename(
        {"__client_ip": "client_ip", "__server_ip": "server_ip"}
    )
    frame = frame.sort(["allowed", "bytes"], descending=[False, True], nulls_last=True)
    if not records:
        return frame
    keys = ["client_ip", "server_ip", "port", "protocol"]
    verdict = frame.select(*keys, "allowed", "denied_at", "reason").unique(keys, keep="first")
    lf = flows.lazy()
    cols = lf.collect_schema().names()
    server_port = "service_port" if "service_port" in cols else "dst_port"
    oriented = pl.col("server_ip").is_not_null() if "server_ip" in cols else pl.lit(False)
    joined = lf.with_columns(
        (pl.coalesce("client_ip", "src_ip") if "client_ip" in cols else pl.col("src_ip"))
        .cast(pl.String)
        .alias("__c"),
        (pl.coalesce("server_ip", "dst_ip") if "server_ip" in cols else pl.col("dst_ip"))
        .cast(pl.String)
        .alias("__s"),
        pl.when(oriented).then(pl.col(server_port)).otherwise(None).cast(pl.UInt16).alias("__p"),
        pl.col("protocol").cast(pl.UInt8).alias("__proto"),
    ).join(
        verdict.lazy().rename(
            {"client_ip": "__c", "server_ip": "__s", "port": "__p", "protocol": "__proto"}
        ),
        on=["__c", "__s", "__p", "__proto"],
        how="left",
        nulls_equal=True,
        maintain_order="left",
    )
    return joined.drop("__c", "__s", "__p", "__proto").collect()


def newly_denied(
    flows: pl.DataFrame | pl.LazyFrame,
    proposed: Any,
    inventory: Inventory | None = None,
    *,
    current: Any = None,
) -> pl.DataFrame:
    """The connections of `flows` that `proposed` policies would newly deny ("would this break anything").

    Replays `flows` against the `current` policies (default: the inventory's
    own NetworkPolicies, none without an inventory) and against current plus
    proposed, and keeps the connections allowed now and denied then.

    Returns
    -------
    polars.DataFrame
        The :func:`replay` rows (of the proposed replay) that change from
        allowed to denied.
    """
    if current is None:
        current = policies_of(inventory) if inventory is not None else []
    now = policies_of(current) if not isinstance(current, list) else current
    new = proposed.policies if hasattr(proposed, "policies") else policies_of(proposed)
    before = replay(flows, now, inventory)
    after = replay(flows, [*now, *new], inventory)
    keys = ["client_ip", "server_ip", "port", "protocol"]
    was_allowed = before.filter(pl.col("allowed")).select(keys)
    return after.filter(~pl.col("allowed")).join(was_allowed, on=keys, how="semi", nulls_equal=True)


def summary(verdicts: pl.DataFrame) -> pl.DataFrame:
    """:func:`replay` rows folded to one per (client, server, port, protocol) name, e.g. workload to workload.

    Columns: the verdict columns, then ``connections`` (address pairs folded),
    flows, samples, bytes, first_seen, last_seen; denied first, then by bytes.
    """
    keys = ["client", "server", "port", "protocol", "allowed", "denied_at", "reason"]
    return (
        verdicts.group_by(keys, maintain_order=True)
        .agg(
            pl.len().alias("connections"),
            pl.col("flows", "samples", "bytes").sum(),
            pl.col("first_seen").min(),
            pl.col("last_seen").max(),
        )
        .sort(["allowed", "bytes"], descending=[False, True], nulls_last=True)
    )
