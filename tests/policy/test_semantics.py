"""NetworkPolicy semantics, one case per rule, written from the Kubernetes documentation
(https://kubernetes.io/docs/concepts/services-networking/network-policies/).

Each case replays one observed connection (a request and its reply, through the real
conform -> orient -> enrich pipeline) against a set of policies and states the verdict the
documentation gives. The rule numbers are those of :mod:`flowlab.policy.replay`.
"""

from __future__ import annotations

from typing import Any

import pytest

from flowlab.k8s import Inventory
from flowlab.policy import network_policy, replay
from tests.policy.smallcluster import flows

TCP, UDP = 6, 17


def pol(ns: str, selector: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    return network_policy(ns, f"p{abs(hash(repr(kw))) % 10_000}", selector or {}, **kw)


def only(app: str) -> dict[str, Any]:
    return {"matchLabels": {"app": app}}


def peers(*elements: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"from": list(elements)}]


# (rule, what the docs say, policies, (client, server, port, protocol), allowed, denied_at)
CASES: list[tuple[str, str, list[dict[str, Any]], tuple[str, str, int, int], bool, str | None]] = [
    ("1 default allow", "a pod no policy selects is not isolated",
     [pol("b", only("web"), ingress=[])], ("b/client", "a/web", 8080, TCP), True, None),
    ("1 ingress isolation", "a policy with policyTypes Ingress and no rules denies all ingress",
     [pol("a", only("web"), ingress=[])], ("b/client", "a/web", 8080, TCP), False, "ingress"),
    ("1 per direction", "ingress isolation leaves the pod's egress alone",
     [pol("a", only("web"), ingress=[])], ("a/web", "b/web", 8080, TCP), True, None),
    ("1 egress isolation", "policyTypes Egress with no rules denies all egress",
     [pol("b", only("client"), egress=[])], ("b/client", "a/web", 8080, TCP), False, "egress"),
    ("1 default policyTypes", "without policyTypes, an egress section makes the policy Egress too",
     [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
       "metadata": {"name": "e", "namespace": "b"},
       "spec": {"podSelector": only("client"), "egress": [{"to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]}]}}],
     ("b/client", "a/web", 8080, TCP), False, "egress"),
    ("1 default policyTypes ingress", "without policyTypes and egress, a policy is Ingress only",
     [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
       "metadata": {"name": "i", "namespace": "b"}, "spec": {"podSelector": only("client")}}],
     ("b/client", "a/web", 8080, TCP), True, None),
    ("2 union", "policies are additive: one admitting the peer is enough",
     [pol("a", only("web"), ingress=peers({"podSelector": only("batch")})),
      pol("a", only("web"), ingress=peers({"namespaceSelector": {"matchLabels": {"team": "beta"}}}))],
     ("b/client", "a/web", 8080, TCP), True, None),
    ("3 both ends", "the client's egress must allow the connection too",
     [pol("a", only("web"), ingress=[{}]), pol("b", only("client"), egress=[])],
     ("b/client", "a/web", 8080, TCP), False, "egress"),
    ("4 empty from", "a rule without from admits every source",
     [pol("a", only("web"), ingress=[{"ports": [{"port": 8080}]}])],
     ("c/client", "a/web", 8080, TCP), True, None),
    ("4 podSelector alone", "a podSelector alone selects pods of the policy's namespace only",
     [pol("a", only("web"), ingress=peers({"podSelector": only("client")}))],
     ("b/client", "a/web", 8080, TCP), False, "ingress"),
    ("4 namespaceSelector alone", "a namespaceSelector alone admits every pod of those namespaces",
     [pol("a", only("web"), ingress=peers({"namespaceSelector": {"matchLabels": {"team": "beta"}}}))],
     ("b/client", "a/web", 8080, TCP), True, None),
    ("4 metadata.name", "namespaces carry kubernetes.io/metadata.name",
     [pol("a", only("web"), ingress=peers(
         {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "c"}}}))],
     ("c/client", "a/web", 8080, TCP), True, None),
    ("4 AND in one element", "namespaceSelector and podSelector in one element must both match",
     [pol("a", only("web"), ingress=peers(
         {"namespaceSelector": {"matchLabels": {"team": "beta"}}, "podSelector": only("web")}))],
     ("b/client", "a/web", 8080, TCP), False, "ingress"),
    ("4 OR of elements", "two elements admit a peer matching either",
     [pol("a", only("web"), ingress=peers(
         {"namespaceSelector": {"matchLabels": {"team": "nobody"}}}, {"podSelector": only("batch")}))],
     ("a/batch", "a/web", 8080, TCP), True, None),
    ("4 matchExpressions", "set-based requirements: NotIn excludes",
     [pol("a", only("web"), ingress=peers({"namespaceSelector": {"matchExpressions": [
         {"key": "team", "operator": "NotIn", "values": ["gamma"]}]}}))],
     ("c/client", "a/web", 8080, TCP), False, "ingress"),
    ("5 ipBlock", "an ipBlock admits addresses in its cidr",
     [pol("a", only("db"), ingress=peers({"ipBlock": {"cidr": "192.0.2.0/24"}}))],
     ("192.0.2.7", "a/db", 5432, TCP), True, None),
    ("5 ipBlock except", "addresses in except are not admitted",
     [pol("a", only("db"), ingress=peers(
         {"ipBlock": {"cidr": "192.0.2.0/24", "except": ["192.0.2.0/29"]}}))],
     ("192.0.2.7", "a/db", 5432, TCP), False, "ingress"),
    ("6 port", "a numeric port admits only that port",
     [pol("a", only("db"), ingress=[{"ports": [{"port": 5433}]}])],
     ("a/web", "a/db", 5432, TCP), False, "ingress"),
    ("6 protocol defaults to TCP", "a port without protocol is TCP",
     [pol("a", only("db"), ingress=[{"ports": [{"port": 53}]}])],
     ("a/web", "a/db", 53, UDP), False, "ingress"),
    ("6 endPort", "port..endPort is a range",
     [pol("a", only("db"), ingress=[{"ports": [{"port": 5000, "endPort": 6000, "protocol": "TCP"}]}])],
     ("a/web", "a/db", 5432, TCP), True, None),
    ("6 named port", "a named port is the destination's container port of that name",
     [pol("a", only("db"), ingress=[{"ports": [{"port": "pg"}]}])],
     ("a/web", "a/db", 5432, TCP), True, None),
    ("6 named port protocol", "a named port matches with its protocol",
     [pol("a", only("db"), ingress=[{"ports": [{"port": "dns", "protocol": "TCP"}]}])],
     ("a/web", "a/db", 53, TCP), False, "ingress"),
    ("6 named port egress", "in egress rules the name resolves on the destination pod",
     [pol("a", only("web"), egress=[{"ports": [{"port": "pg"}]}])],
     ("a/web", "a/db", 5432, TCP), True, None),
    ("7 host-network server", "host-network pods are not selected by policies",
     [pol("a", only("web"), ingress=[])], ("a/batch", "a/agent", 9100, TCP), True, None),
    ("7 host-network peer by podSelector", "a host-network client is node traffic, not a pod",
     [pol("a", only("batch"), ingress=peers({"podSelector": only("web")}))],
     ("a/agent", "a/batch", 8000, TCP), False, "ingress"),
    ("7 host-network peer by ipBlock", "a host-network client matches an ipBlock of its node IP",
     [pol("a", only("batch"), ingress=peers({"ipBlock": {"cidr": "10.0.0.2/32"}}))],
     ("a/agent", "a/batch", 8000, TCP), True, None),
    ("8 resident node", "a pod cannot block traffic from its own node (kubelet probes)",
     [pol("a", only("web"), ingress=[])], ("10.128.0.2", "a/web", 8080, TCP), True, None),
    ("8 other node", "the node exception is only for the pod's own node",
     [pol("a", only("db"), ingress=[])], ("10.128.0.2", "a/db", 5432, TCP), False, "ingress"),
    ("9 service", "traffic to a ClusterIP is judged at the backend pod, on the endpoint port",
     [pol("a", only("web"), ingress=[{"ports": [{"port": "http"}]}])],
     ("b/client", "172.30.0.5", 80, TCP), True, None),
    ("9 service denied", "... and denied there when the backend's ingress admits nothing",
     [pol("a", only("web"), ingress=[{"ports": [{"port": 80}]}])],
     ("b/client", "172.30.0.5", 80, TCP), False, "ingress"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("policies", "conn", "allowed", "where"),
    [pytest.param(p, c, a, w, id=rule) for rule, _doc, p, c, a, w in CASES],
)
def test_semantics(
    small_inventory: Inventory,
    policies: list[dict[str, Any]],
    conn: tuple[str, str, int, int],
    allowed: bool,
    where: str | None,
) -> None:
    out = replay(flows([conn], small_inventory), policies, small_inventory)
    assert out.height == 1 or (conn[1] == "172.30.0.5" and out.height >= 1), out
    assert out["allowed"].to_list() == [allowed] * out.height, out["reason"].to_list()
    assert out["denied_at"].to_list() == [where] * out.height
    if not allowed:
        assert "no " + str(where) + " rule admits" in out["reason"][0]


def test_reason_names_the_isolating_policy(small_inventory: Inventory) -> None:
    p = network_policy(
        "a", "web-from-batch", only("web"), ingress=peers({"podSelector": only("batch")})
    )
    out = replay(flows([("b/client", "a/web", 8080, TCP)], small_inventory), [p], small_inventory)
    assert out["policies"].to_list() == [["a/web-from-batch"]]
    assert out["reason"][0] == (
        "ingress of a/web is isolated by a/web-from-batch; no ingress rule admits b/client on 8080/TCP"
    )


def test_records_carry_the_verdict(small_inventory: Inventory) -> None:
    f = flows([("b/client", "a/web", 8080, TCP), ("a/batch", "a/web", 8080, TCP)], small_inventory)
    p = network_policy("a", "x", only("web"), ingress=peers({"podSelector": only("batch")}))
    out = replay(f, [p], small_inventory, records=True)
    assert out.height == f.height  # every record, none lost or doubled
    by_client = dict(zip(out["client_ip"].to_list(), out["allowed"].to_list()))
    assert by_client == {"10.128.0.21": False, "10.128.0.12": True}
