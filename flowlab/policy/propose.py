"""Propose NetworkPolicies from observed flows, each rule with the evidence that justifies it.

:func:`propose` turns the server side of observed connections, at workload
level, into one ``networking.k8s.io/v1`` NetworkPolicy per selected
workload:

- ``podSelector``: the labels every pod of the workload carries (pod-specific
  ones such as ``pod-template-hash`` left out);
- ingress rules, one per peer: a pod peer by ``podSelector`` (plus a
  ``namespaceSelector`` on ``kubernetes.io/metadata.name`` when it lives in
  another namespace); a node or host-network peer, and an external one, by
  an ``ipBlock`` of its address (``/32``, ``/128``); ports by name where the
  workload's containers name them. Probes from the pod's own node need no
  rule (a pod cannot block them) and get none;
- with ``egress=True``, egress rules the same way, except two an operator
  writes by habit: DNS (the cluster DNS pods' namespace and labels, 53 and
  5353 over UDP and TCP, whatever subset was seen) and the Kubernetes API
  (``ipBlock`` of every API endpoint on 6443 and of the ``kubernetes``
  Service address on 443);
- without an inventory (a bare capture) one policy per server address,
  selecting the pod by the ``flowlab.io/pod-ip`` annotation (set the
  ``podSelector`` before applying it), with ``ipBlock`` rules per client
  address and port.

Every rule's evidence is an annotation of its policy
(``flowlab.io/evidence.ingress.0``: flows, samples, bytes with its 95 %
interval, first and last seen, miss chance) and a row of
:attr:`Proposal.evidence`. ICMP and other portless traffic cannot be named
by a NetworkPolicy rule with ports and is left out (counted in
:attr:`Proposal.skipped`).

Examples
--------
>>> from flowlab import demo
>>> from flowlab.k8s import Inventory, enrich
>>> data = demo.load(seconds=300)
>>> inv = Inventory.from_objects([data.inventory])
>>> p = propose(enrich(data.flows, inv), inv, namespaces=["payments"])
>>> sorted(q["metadata"]["name"] for q in p.policies)
['flowlab-payments-api', 'flowlab-postgres']
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from flowlab.k8s.inventory import Inventory
from flowlab.k8s.networkpolicy import PROTOCOLS
from flowlab.policy import _evidence
from flowlab.policy._endpoints import ClusterView, Endpoint, connections
from flowlab.policy._model import Policy, network_policy, to_yaml
from flowlab.policy.replay import POD_IP_ANNOTATION

__all__ = ["EVIDENCE_SCHEMA_KEYS", "Proposal", "propose"]

#: The key columns of :attr:`Proposal.evidence`, before the evidence columns.
EVIDENCE_SCHEMA_KEYS = ("namespace", "policy", "direction", "rule", "peer", "ports")

_DNS = {("openshift-dns", "dns-default"), ("kube-system", "coredns"), ("kube-system", "kube-dns")}
_DNS_PORTS = [
    {"port": 53, "protocol": "UDP"},
    {"port": 53, "protocol": "TCP"},
    {"port": 5353, "protocol": "UDP"},
    {"port": 5353, "protocol": "TCP"},
]
_PROTO = {number: name for name, number in PROTOCOLS.items()}
_ANNOTATION = "flowlab.io/evidence.{direction}.{index}"


@dataclass
class Proposal:
    """Proposed NetworkPolicies and the evidence of each of their rules.

    Attributes
    ----------
    policies : list of dict
        ``networking.k8s.io/v1`` NetworkPolicies (plain dicts).
    evidence : polars.DataFrame
        One row per rule: namespace, policy, direction, rule (index in the
        policy's ingress/egress list), peer, ports, then flows, samples,
        bytes, bytes_lo, bytes_hi (95 %), packets, first_seen, last_seen and
        miss_chance (the chance a conversation this rare goes unsampled).
    skipped : dict
        Connections left out, by reason.
    """

    policies: list[Policy]
    evidence: pl.DataFrame
    skipped: dict[str, int] = field(default_factory=dict)

    def to_yaml(self) -> str:
        """The policies as multi-document YAML (``oc apply -f``)."""
        return to_yaml(self.policies)

    def write(self, path: str | Path) -> Path:
        """Write :meth:`to_yaml` to `path`; returns it."""
        out = Path(path)
        out.write_text(self.to_yaml())
        return out

    def __repr__(self) -> str:
        rules = self.evidence.height
        return f"Proposal(policies={len(self.policies)}, rules={rules}, skipped={self.skipped})"


def _cidr(ip: str) -> str:
    return f"{ip}/{ipaddress.ip_address(ip).max_prefixlen}"


def _port(port: int, protocol: int, names: Mapping[tuple[int, int], str]) -> dict[str, Any]:
    name = names.get((port, protocol))
    return {"port": name if name else port, "protocol": _PROTO[protocol]}


class _Builder:
    """Collects rules per (policy, direction, peer) and the connections behind each."""

    def __init__(self, view: ClusterView) -> None:
        self.view = view
        self.subjects: dict[tuple[str | None, str], dict[str, Any]] = {}
        self.rules: dict[tuple[tuple[str | None, str], str, str], dict[str, Any]] = {}
        self.links: list[tuple[int, tuple[str | None, str], str, str]] = []
        self.skipped: dict[str, int] = {}

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def subject(self, key: tuple[str | None, str], selector: dict[str, Any], **extra: Any) -> None:
        self.subjects.setdefault(key, {"selector": selector, **extra})

    def add(
        self,
        row: int,
        subject: tuple[str | None, str],
        direction: str,
        peer: Any,
        peer_text: str,
        ports: list[dict[str, Any]],
        fixed: bool = False,
    ) -> None:
        key = json.dumps([fixed and peer_text, peer], sort_keys=True)  # DNS/API rules stand apart
        rule = self.rules.setdefault(
            (subject, direction, key), {"peer": peer, "text": peer_text, "ports": []}
        )
        if fixed:
            rule["ports"] = ports
        else:
            for p in ports:
                if p not in rule["ports"]:
                    rule["ports"].append(p)
        self.links.append((row, subject, direction, key))


def _peer(ep: Endpoint, namespace: str | None, view: ClusterView) -> tuple[Any, str]:
    """The NetworkPolicy peer of an endpoint, seen from a policy in `namespace`."""
    if ep.pod_network and ep.namespace is not None:
        labels = view.workload_labels(ep.namespace, ep.workload or "")
        peer: dict[str, Any] = {"podSelector": {"matchLabels": labels} if labels else {}}
        if ep.namespace != namespace:
            ns = {"matchLabels": {"kubernetes.io/metadata.name": ep.namespace}}
            peer = {"namespaceSelector": ns, **peer}
        return [peer], f"{ep.namespace}/{ep.workload}"
    text = ep.text() if ep.kind == "node" else f"{ep.text()} ({ep.kind})"
    if ep.kind == "pod":  # host network: its node's address
        text = f"{ep.namespace}/{ep.workload} (host network, node {ep.node or ep.ip})"
    return [{"ipBlock": {"cidr": _cidr(str(ep.ip))}}], text


def _api(view: ClusterView) -> tuple[list[str], list[str]]:
    """Endpoint addresses and Service addresses of ``default/kubernetes``."""
    inv = view.inventory
    if inv is None:
        return [], []
    eps = inv.membership.filter(
        (pl.col("namespace") == "default") & (pl.col("service") == "kubernetes")
    )
    ips = sorted({k[3:] for k in eps["key"].to_list() if k.startswith("ip:")})
    svc = inv.service_ports.filter(
        (pl.col("namespace") == "default") & (pl.col("service") == "kubernetes")
    )
    return ips, sorted(set(svc["ip"].to_list()))


def _is_api(server: Endpoint, port: int | None, api_ips: list[str], svc_ips: list[str]) -> bool:
    if server.kind == "service":
        return (server.namespace, server.service) == ("default", "kubernetes")
    if server.ip in svc_ips:
        return True
    if port == 6443 and server.ip in api_ips:
        return True
    return server.namespace == "openshift-kube-apiserver" and port == 6443


def _is_dns(server: Endpoint, port: int | None) -> bool:
    if port not in (53, 5353):
        return False
    key = (server.namespace, server.service if server.kind == "service" else server.workload)
    return key in _DNS


def _dns_labels(view: ClusterView, namespace: str) -> dict[str, str]:
    """The pod labels of the cluster DNS workload in `namespace` ({} when unknown)."""
    for (ns, _pod), wl in sorted(view.workload_of.items()):
        if ns == namespace and (ns, wl) in _DNS:
            return view.workload_labels(ns, wl)
    return {}


def _server_backends(
    server: Endpoint, port: int | None, view: ClusterView
) -> list[tuple[Endpoint, int | None]]:
    """The pods a connection reached: the server, or a Service's backends on their endpoint port."""
    if server.kind != "service" or server.namespace is None or server.service is None:
        return [(server, port)]
    pods, ports = view.service_backends(server.namespace, server.service)
    if len(ports) == 1:
        target: int | None = ports[0]
    elif port in ports:
        target = port
    else:
        return []
    return [(p, target) for p in pods]


def propose(
    flows: pl.DataFrame | pl.LazyFrame,
    inventory: Inventory | None = None,
    *,
    namespaces: Iterable[str] | str | None = None,
    egress: bool = False,
) -> Proposal:
    """Propose NetworkPolicies that admit exactly the observed connections (see the module docs).

    Parameters
    ----------
    flows : DataFrame or LazyFrame
        Flow records, enriched with Kubernetes names (:func:`flowlab.k8s.enrich`
        with `inventory`); bare flows give address-only policies.
    inventory : Inventory, optional
        Labels, named ports, Service backends and the API endpoints.
    namespaces : str or list of str, optional
        Propose policies for the workloads of these namespaces (default: every
        namespace seen). Ignored without an inventory.
    egress : bool
        Add egress rules (and ``Egress`` to ``policyTypes``).

    Returns
    -------
    Proposal
    """
    if isinstance(namespaces, str):
        namespaces = [namespaces]
    wanted = set(namespaces) if namespaces is not None else None
    view = ClusterView(inventory)
    conns = connections(flows, inventory)
    enriched = inventory is not None and conns["server_kind"].drop_nulls().len() > 0
    b = _Builder(view)
    api_ips, svc_ips = _api(view)
    for i, row in enumerate(conns.iter_rows(named=True)):
        port, protocol = row["port"], row["protocol"]
        if port is None or protocol not in _PROTO:
            b.skip("no ports (ICMP and other protocols)")
            continue
        client, server = view.endpoint(row, "client"), view.endpoint(row, "server")
        key: tuple[str | None, str]
        if not enriched:
            key = (None, str(server.ip))
            b.subject(key, {}, pinned=str(server.ip))
            b.add(i, key, "ingress", [{"ipBlock": {"cidr": _cidr(str(client.ip))}}],
                  str(client.ip), [_port(port, protocol, {})])  # fmt: skip
            continue
        for target, tport in _server_backends(server, port, view):
            if not target.pod_network or target.namespace is None or tport is None:
                continue
            if wanted is not None and target.namespace not in wanted:
                continue
            if view.resident(client, target):
                b.skip("from the pod's own node (always allowed)")
                continue
            ns, wl = target.namespace, target.workload or str(target.pod)
            key = (ns, wl)
            b.subject(key, {"matchLabels": view.workload_labels(ns, wl)})
            peer, text = _peer(client, ns, view)
            b.add(
                i, key, "ingress", peer, text, [_port(tport, protocol, view.workload_ports(ns, wl))]
            )
        if not egress or not client.pod_network or client.namespace is None:
            continue
        if wanted is not None and client.namespace not in wanted:
            continue
        ns, wl = client.namespace, client.workload or str(client.pod)
        key = (ns, wl)
        b.subject(key, {"matchLabels": view.workload_labels(ns, wl)})
        if _is_dns(server, port):
            dns_ns = server.namespace or "openshift-dns"
            labels = _dns_labels(view, dns_ns)
            peer = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": dns_ns}},
                     "podSelector": {"matchLabels": labels} if labels else {}}]  # fmt: skip
            b.add(i, key, "egress", peer, f"DNS ({dns_ns})", list(_DNS_PORTS), fixed=True)
        elif _is_api(server, port, api_ips, svc_ips):
            blocks = [{"ipBlock": {"cidr": _cidr(ip)}} for ip in api_ips or [str(server.ip)]]
            ports = [{"port": 6443, "protocol": "TCP"}]
            if svc_ips:
                blocks += [{"ipBlock": {"cidr": _cidr(ip)}} for ip in svc_ips]
                ports.append({"port": 443, "protocol": "TCP"})
            b.add(i, key, "egress", blocks, "Kubernetes API", ports, fixed=True)
        else:
            for target, tport in _server_backends(server, port, view):
                if tport is None:
                    continue
                peer, text = _peer(target, ns, view)
                names = (
                    view.workload_ports(target.namespace, target.workload or "")
                    if target.pod_network and target.namespace
                    else {}
                )
                b.add(i, key, "egress", peer, text, [_port(tport, protocol, names)])
    return _assemble(b, conns, egress)


def _assemble(b: _Builder, conns: pl.DataFrame, egress: bool) -> Proposal:
    link = pl.DataFrame(
        {
            "__row": [r[0] for r in b.links],
            "__subject": [json.dumps(list(r[1])) for r in b.links],
            "direction": [r[2] for r in b.links],
            "__peer": [r[3] for r in b.links],
        },
        schema={
            "__row": pl.UInt32,
            "__subject": pl.String,
            "direction": pl.String,
            "__peer": pl.String,
        },
    ).unique()
    parts = conns.with_row_index("__row").join(link, on="__row")
    ev = _evidence.combine(parts.sort("__row"), ["__subject", "direction", "__peer"]).sort(
        ["__subject", "direction", "bytes"], descending=[False, False, True]
    )
    policies: list[Policy] = []
    rows: list[dict[str, Any]] = []
    for key in sorted(b.subjects, key=lambda k: (k[0] or "", k[1])):
        subject = b.subjects[key]
        skey = json.dumps(list(key))
        mine = ev.filter(pl.col("__subject") == skey)
        lists: dict[str, list[dict[str, Any]]] = {"ingress": [], "egress": []}
        notes: dict[str, str] = {}
        for rec in mine.iter_rows(named=True):
            d = rec["direction"]
            rule = b.rules[(key, d, rec["__peer"])]
            ports = sorted(rule["ports"], key=lambda p: (p["protocol"], str(p["port"])))
            index = len(lists[d])
            lists[d].append({"from" if d == "ingress" else "to": rule["peer"], "ports": ports})
            notes[_ANNOTATION.format(direction=d, index=index)] = _evidence.describe(rec)
            rows.append(
                {
                    "namespace": key[0],
                    "policy": "",
                    "direction": d,
                    "rule": index,
                    "peer": rule["text"],
                    "ports": ", ".join(f"{p['port']}/{p['protocol']}" for p in ports),
                }
                | {c: rec[c] for c in _evidence.EVIDENCE_COLUMNS}
            )
        name = "flowlab-" + (
            key[1] if key[0] is not None else "ip-" + key[1].replace(".", "-").replace(":", "-")
        )
        for r in rows:
            if r["policy"] == "":
                r["policy"] = name
        annotations = {"flowlab.io/generated-by": "flowlab.policy.propose", **notes}
        if "pinned" in subject:
            annotations[POD_IP_ANNOTATION] = subject["pinned"]
        policies.append(
            network_policy(
                key[0],
                name,
                subject["selector"],
                ingress=lists["ingress"],
                egress=lists["egress"] if egress else None,
                annotations=annotations,
            )
        )
    schema = {
        "namespace": pl.String,
        "policy": pl.String,
        "direction": pl.String,
        "rule": pl.UInt32,
        "peer": pl.String,
        "ports": pl.String,
    } | {c: ev.schema[c] for c in _evidence.EVIDENCE_COLUMNS}
    evidence = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    return Proposal(policies, evidence, dict(b.skipped))
