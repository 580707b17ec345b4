"""Read-only listing of a live cluster's objects with the ``kubernetes`` client.

Objects come back as the API's JSON (``_preload_content=False``), so they have
exactly the shape ``oc get -o json`` writes and go through the same parser as
inventory files. Pages follow the API's ``continue`` token. The minimal RBAC
is in ``docs/rbac.yaml`` (a ClusterRole with ``list`` on pods, nodes,
services, endpointslices, replicasets, replicationcontrollers, deployments, statefulsets, daemonsets,
jobs, cronjobs).

Examples
--------
>>> [r.kind for r in RESOURCES][:4]
['Pod', 'Node', 'Service', 'EndpointSlice']
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowlab.exceptions import ConfigError, KubernetesError

__all__ = ["RESOURCES", "Resource", "connect", "list_objects"]

log = logging.getLogger("flowlab.k8s.cluster")


@dataclass(frozen=True)
class Resource:
    """One listable kind: API group class, cluster-wide and per-namespace list methods."""

    kind: str
    api: str
    all_namespaces: str
    namespaced: str | None
    required: bool = False


RESOURCES: tuple[Resource, ...] = (
    Resource("Pod", "CoreV1Api", "list_pod_for_all_namespaces", "list_namespaced_pod", True),
    Resource("Node", "CoreV1Api", "list_node", None),
    Resource("Service", "CoreV1Api", "list_service_for_all_namespaces", "list_namespaced_service"),
    Resource(
        "EndpointSlice",
        "DiscoveryV1Api",
        "list_endpoint_slice_for_all_namespaces",
        "list_namespaced_endpoint_slice",
    ),
    Resource(
        "ReplicaSet",
        "AppsV1Api",
        "list_replica_set_for_all_namespaces",
        "list_namespaced_replica_set",
    ),
    Resource(
        "Deployment",
        "AppsV1Api",
        "list_deployment_for_all_namespaces",
        "list_namespaced_deployment",
    ),
    Resource(
        "StatefulSet",
        "AppsV1Api",
        "list_stateful_set_for_all_namespaces",
        "list_namespaced_stateful_set",
    ),
    Resource(
        "DaemonSet", "AppsV1Api", "list_daemon_set_for_all_namespaces", "list_namespaced_daemon_set"
    ),
    Resource(
        "ReplicationController",
        "CoreV1Api",
        "list_replication_controller_for_all_namespaces",
        "list_namespaced_replication_controller",
    ),
    Resource("Job", "BatchV1Api", "list_job_for_all_namespaces", "list_namespaced_job"),
    Resource(
        "CronJob", "BatchV1Api", "list_cron_job_for_all_namespaces", "list_namespaced_cron_job"
    ),
)

_SA_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


def connect(
    kubeconfig: str | Path | None = None, context: str | None = None, in_cluster: bool | None = None
) -> Any:
    """A ``kubernetes`` API client (a context manager: it closes on exit).

    From the pod's service account (`in_cluster`), else a kubeconfig file and
    context; see :meth:`flowlab.k8s.Inventory.from_cluster` for the arguments.

    Raises
    ------
    ConfigError
        No kubernetes client, or no usable configuration.
    """
    try:
        from kubernetes import client, config
    except ImportError as exc:  # pragma: no cover - the [k8s] extra is part of [dev]
        msg = "Inventory.from_cluster needs the kubernetes client: pip install 'flowlab[k8s]'"
        raise ConfigError(msg) from exc
    if in_cluster is None:
        in_cluster = (
            kubeconfig is None
            and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
            and _SA_TOKEN.exists()
        )
    try:
        if in_cluster:
            config.load_incluster_config()
            return client.ApiClient()
        return config.new_client_from_config(
            config_file=str(kubeconfig) if kubeconfig else None, context=context
        )
    except config.ConfigException as exc:
        where = (
            "the pod's service account" if in_cluster else f"kubeconfig {kubeconfig or '(default)'}"
        )
        msg = f"cannot configure the Kubernetes client from {where}: {exc}; pass kubeconfig=... or in_cluster=True"
        raise ConfigError(msg) from exc


def _list(
    api: Any, method: str, kind: str, page_size: int, timeout: float, **kw: Any
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        args: dict[str, Any] = {
            "limit": page_size,
            "_preload_content": False,
            "_request_timeout": timeout,
        }
        if token:
            args["_continue"] = token
        resp = getattr(api, method)(**kw, **args)
        try:
            doc = json.loads(resp.data)
        except (ValueError, TypeError) as exc:
            msg = f"the API answered {method} with something that is not JSON: {exc}"
            raise KubernetesError(msg) from exc
        for item in doc.get("items") or []:
            item.setdefault("kind", kind)
            items.append(item)
        token = (doc.get("metadata") or {}).get("continue")
        if not token:
            return items


def list_objects(
    api_client: Any,
    *,
    namespaces: Sequence[str] | None = None,
    page_size: int = 500,
    timeout: float = 30.0,
) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """List every kind in :data:`RESOURCES` through `api_client` (from :func:`connect`).

    Returns (objects, kinds skipped as forbidden/absent).

    Raises
    ------
    KubernetesError
        The API cannot be reached, refuses the credentials, or forbids listing pods.
    """
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    items: list[dict[str, Any]] = []
    skipped: list[str] = []
    for res in RESOURCES:
        api = getattr(client, res.api)(api_client)
        try:
            if namespaces and res.namespaced:
                for ns in namespaces:
                    items += _list(api, res.namespaced, res.kind, page_size, timeout, namespace=ns)
            else:
                items += _list(api, res.all_namespaces, res.kind, page_size, timeout)
        except ApiException as exc:
            if exc.status == 401:
                msg = "the Kubernetes API refused the credentials (HTTP 401); log in again (oc login) or check the token"
                raise KubernetesError(msg) from None
            if exc.status in (403, 404) and not res.required:
                log.warning(
                    "cannot list %s (HTTP %s); skipped — see docs/rbac.yaml",
                    res.kind,
                    exc.status,
                )
                skipped.append(res.kind)
                continue
            msg = f"listing {res.kind} failed with HTTP {exc.status} {exc.reason}; the account needs `list` on it (docs/rbac.yaml)"
            raise KubernetesError(msg) from None
        except OSError as exc:
            msg = f"cannot reach the Kubernetes API at {api_client.configuration.host}: {exc}"
            raise KubernetesError(msg) from exc
        except Exception as exc:  # urllib3 errors do not all derive from OSError
            if type(exc).__module__.startswith("urllib3"):
                msg = f"cannot reach the Kubernetes API at {api_client.configuration.host}: {type(exc).__name__}"
                raise KubernetesError(msg) from exc
            raise
    log.info(
        "listed %d objects from the cluster (skipped: %s)", len(items), ", ".join(skipped) or "none"
    )
    return items, tuple(skipped)
