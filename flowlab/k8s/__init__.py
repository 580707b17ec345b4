"""Kubernetes enrichment: the cluster inventory and the joins that name every flow's ends.

- :class:`Inventory` — IP -> pod / node / Service tables, time-aware, from
  ``oc get -o json`` files or a live cluster (:mod:`flowlab.k8s.inventory`);
- :func:`enrich` — adds ``src_/dst_/client_/server_`` namespace, pod, workload,
  kind, node, service and scope columns (:mod:`flowlab.k8s.enrich`);
- :func:`ip_scope`, :func:`in_networks` — address classification and CIDR
  matching expressions (:mod:`flowlab.k8s.addresses`).
"""

from __future__ import annotations

from flowlab.k8s.addresses import in_networks, ip_scope
from flowlab.k8s.enrich import ENRICHED_COLUMNS, ENRICHED_SCHEMA, enrich
from flowlab.k8s.inventory import Inventory

__all__ = ["ENRICHED_COLUMNS", "ENRICHED_SCHEMA", "Inventory", "enrich", "in_networks", "ip_scope"]
