"""NetworkPolicy objects as plain dicts of ``networking.k8s.io/v1``: checked on the way in, YAML on the way out.

flowlab keeps policies as the dicts ``oc get networkpolicy -o json`` prints
(no client library needed); :func:`policies_of` accepts them from an
inventory, a ``List``, YAML/JSON text or files; :func:`to_yaml` writes a
multi-document YAML that ``oc apply -f`` and the ``kubernetes`` client's
``V1NetworkPolicy`` read back unchanged.

Examples
--------
>>> p = network_policy("shop", "allow-web", {"matchLabels": {"app": "web"}}, ingress=[{}])
>>> p["spec"]["policyTypes"]
['Ingress']
>>> [q["metadata"]["name"] for q in policies_of(to_yaml([p]))]
['allow-web']
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from flowlab.exceptions import ConfigError
from flowlab.k8s.inventory import Inventory

__all__ = ["API_VERSION", "network_policy", "policies_of", "policy_types", "to_yaml"]

API_VERSION = "networking.k8s.io/v1"

Policy = dict[str, Any]


def network_policy(
    namespace: str | None,
    name: str,
    pod_selector: Mapping[str, Any],
    *,
    ingress: list[dict[str, Any]] | None = None,
    egress: list[dict[str, Any]] | None = None,
    annotations: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Policy:
    """A NetworkPolicy dict; ``policyTypes`` lists the directions given (``[]`` = deny all)."""
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    spec: dict[str, Any] = {"podSelector": dict(pod_selector), "policyTypes": []}
    if ingress is not None:
        spec["policyTypes"].append("Ingress")
        spec["ingress"] = ingress
    if egress is not None:
        spec["policyTypes"].append("Egress")
        spec["egress"] = egress
    return {"apiVersion": API_VERSION, "kind": "NetworkPolicy", "metadata": meta, "spec": spec}


def policy_types(policy: Mapping[str, Any]) -> set[str]:
    """The directions a policy isolates: ``policyTypes``, or by default Ingress plus Egress when it has egress rules."""
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes")
    if types:
        return {str(t) for t in types}
    return {"Ingress", "Egress"} if spec.get("egress") is not None else {"Ingress"}


def _check(obj: Any, where: str) -> Policy:
    if not isinstance(obj, Mapping):
        msg = f"{where}: a NetworkPolicy must be an object, found {type(obj).__name__}"
        raise ConfigError(msg)
    if obj.get("kind") != "NetworkPolicy":
        msg = f"{where}: kind {obj.get('kind')!r}, expected NetworkPolicy"
        raise ConfigError(msg)
    spec = obj.get("spec")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("podSelector", {}), Mapping):
        msg = f"{where}: NetworkPolicy {(obj.get('metadata') or {}).get('name')!r} has no spec.podSelector object"
        raise ConfigError(msg)
    return dict(obj)


def _documents(text: str, where: str) -> list[Any]:
    import yaml

    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        msg = f"{where} is not YAML or JSON: {exc}"
        raise ConfigError(msg) from exc


def policies_of(source: Any) -> list[Policy]:
    """NetworkPolicies from an Inventory, a list of dicts, a ``List`` dict, YAML/JSON text or a file path.

    Items of other kinds in a ``List`` or a multi-document file are skipped;
    an object given directly must be a NetworkPolicy.

    Raises
    ------
    ConfigError
        Text that is not YAML/JSON, a file that does not exist, a malformed policy.
    """
    if isinstance(source, Inventory):
        return [dict(p) for p in source.policy_objects.network_policies]
    where = "policies"
    if isinstance(source, Path) or (
        isinstance(source, str)
        and "\n" not in source
        and (source.endswith((".yaml", ".yml", ".json")) or Path(source).is_file())
    ):
        path = Path(source)
        try:
            text = path.read_text()
        except OSError as exc:
            msg = f"cannot read NetworkPolicies from {path}: {exc}"
            raise ConfigError(msg) from exc
        return policies_of(_documents(text, str(path)))
    if isinstance(source, str):
        return policies_of(_documents(source, where))
    if isinstance(source, Mapping):
        if "items" in source:
            # a NetworkPolicyList straight from the API leaves `kind` out of its items
            default = "NetworkPolicy" if source.get("kind") == "NetworkPolicyList" else None
            return [
                _check({"kind": default, **i}, f"{where} item {n}")
                for n, i in enumerate(source.get("items") or [])
                if isinstance(i, Mapping) and i.get("kind", default) == "NetworkPolicy"
            ]
        return [_check(source, where)]
    if isinstance(source, Iterable):
        out: list[Policy] = []
        for n, item in enumerate(source):
            if isinstance(item, Mapping) and "items" in item:
                out.extend(policies_of(item))
            elif isinstance(item, Mapping) and item.get("kind") not in (None, "NetworkPolicy"):
                continue
            else:
                out.append(_check(item, f"{where}[{n}]"))
        return out
    msg = f"cannot read NetworkPolicies from a {type(source).__name__}"
    raise ConfigError(msg)


def to_yaml(policies: Iterable[Mapping[str, Any]]) -> str:
    """A multi-document YAML of `policies` (keys in Kubernetes order, no aliases).

    Examples
    --------
    >>> print(to_yaml([network_policy("a", "deny-all", {}, ingress=[])]).strip())
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata:
      name: deny-all
      namespace: a
    spec:
      podSelector: {}
      policyTypes:
      - Ingress
      ingress: []
    """
    import yaml

    class _Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    docs = [json.loads(json.dumps(p)) for p in policies]  # plain types only
    return yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)
