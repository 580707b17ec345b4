"""NetworkPolicy from observed flows, with evidence, and replay of flows against policies.

- :func:`propose` — one ``networking.k8s.io/v1`` NetworkPolicy per workload
  from the connections it served (and made), each rule with its evidence
  (:mod:`flowlab.policy.propose`);
- :func:`replay` — which observed connections a set of policies would deny,
  and by the absence of which rule; :func:`newly_denied` — what proposed
  policies would break on another window; :func:`summary` folds the
  verdicts to workload pairs (:mod:`flowlab.policy.replay`);
- :func:`policies_of`, :func:`to_yaml`, :func:`network_policy` — policies as
  plain dicts, read from an inventory/YAML/JSON and written as YAML.
"""

from __future__ import annotations

from flowlab.policy._model import network_policy, policies_of, to_yaml
from flowlab.policy.propose import Proposal, propose
from flowlab.policy.replay import newly_denied, replay, summary

__all__ = [
    "Proposal",
    "network_policy",
    "newly_denied",
    "policies_of",
    "propose",
    "replay",
    "summary",
    "to_yaml",
]
