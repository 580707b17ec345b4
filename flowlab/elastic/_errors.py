"""Translate Elasticsearch client errors into :mod:`flowlab.exceptions`, once, at the edge.

Every call flowlab makes to Elasticsearch runs inside :func:`translating`;
nothing above this package sees an ``elasticsearch`` or ``elastic_transport``
exception. Messages name the server by its redacted URL (never credentials)
and say what to do.

Examples
--------
>>> from flowlab.elastic._errors import redact_url
>>> redact_url("https://elastic:s3cret@es.example:9200/")
'https://es.example:9200'
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import elastic_transport
import elasticsearch

from flowlab.exceptions import (
    ElasticAuthError,
    ElasticConnectionError,
    ElasticError,
    IndexNotFoundError,
    UnsupportedServerError,
)

__all__ = ["error_reason", "raise_for_status", "redact_url", "translating"]


def redact_url(url: str) -> str:
    """Return `url` without user info, query or fragment (safe for messages and logs)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def error_reason(body: Any) -> tuple[str, str]:
    """The ``(type, reason)`` of an Elasticsearch error body (best effort, never raises)."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            root = error.get("root_cause")
            first = root[0] if isinstance(root, list) and root and isinstance(root[0], dict) else {}
            etype = str(error.get("type") or first.get("type") or "error")
            reason = str(error.get("reason") or first.get("reason") or "")
            if first.get("reason") and first.get("reason") != reason:
                # e.g. "all shards failed": the root cause says why
                reason = (
                    f"{reason}: {first.get('type')}: {first['reason']}"
                    if reason
                    else str(first["reason"])
                )
            caused = error.get("caused_by")
            if isinstance(caused, dict) and caused.get("reason") and not reason:
                reason = str(caused["reason"])
            return etype, reason
        if isinstance(error, str):
            return "error", error
    return "error", str(body)[:300]


def _index_of(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        index = body["error"].get("index") or body["error"].get("resource.id")
        return str(index) if index else None
    return None


def _for_status(
    status: int, body: Any, *, action: str, url: str, index: str | None
) -> ElasticError:
    etype, reason = error_reason(body)
    where = f"Elasticsearch at {url}"
    if status == 401:
        msg = (
            f"{where} refused the credentials while trying to {action} (HTTP 401: {reason or etype}); "
            "check FLOWLAB_ES_API_KEY, FLOWLAB_ES_USERNAME/FLOWLAB_ES_PASSWORD or "
            "FLOWLAB_ES_BEARER_TOKEN (or the matching connect() arguments)"
        )
        return ElasticAuthError(msg)
    if status == 403:
        msg = (
            f"{where} denied the permission to {action} (HTTP 403: {reason or etype}); "
            "ask for a role with the privileges named above"
        )
        return ElasticAuthError(msg)
    if status == 404 and etype == "index_not_found_exception":
        name = _index_of(body) or index or "?"
        msg = (
            f"no index matches {name!r} on {url} while trying to {action}; "
            "list the indices with es.cat.indices() or pass another index pattern"
        )
        return IndexNotFoundError(msg)
    msg = f"{where} failed to {action} (HTTP {status} {etype}: {reason})"
    return ElasticError(msg)


def raise_for_status(
    status: int, body: Any, *, action: str, url: str, index: str | None = None
) -> None:
    """Raise the flowlab error for a non-2xx raw response; do nothing for 2xx."""
    if 200 <= status < 300:
        return
    raise _for_status(status, body, action=action, url=url, index=index)


@contextlib.contextmanager
def translating(action: str, *, url: str, index: str | None = None) -> Iterator[None]:
    """Run a block of client calls, re-raising client errors as flowlab errors.

    Parameters
    ----------
    action : str
        What was being done, for the message ("load flows from 'elastiflow-*'").
    url : str
        The server, already redacted.
    index : str, optional
        The index or pattern involved.
    """
    try:
        yield
    except elasticsearch.UnsupportedProductError as exc:
        msg = (
            f"the server at {url} does not identify itself as Elasticsearch "
            f"(no 'X-Elastic-Product: Elasticsearch' header) while trying to {action}; "
            "flowlab talks to Elasticsearch 7.10+, 8.x and 9.x only (OpenSearch is not supported)"
        )
        raise UnsupportedServerError(msg) from exc
    except elasticsearch.ApiError as exc:
        raise _for_status(exc.meta.status, exc.body, action=action, url=url, index=index) from exc
    except elastic_transport.TlsError as exc:
        msg = (
            f"TLS handshake with {url} failed while trying to {action}: {_short(exc)}; "
            "pass the server's CA with ca_certs= / FLOWLAB_ES_CA_CERTS "
            "(verification stays on unless verify_certs=False)"
        )
        raise ElasticConnectionError(msg) from exc
    except elastic_transport.ConnectionTimeout as exc:
        msg = (
            f"Elasticsearch at {url} did not answer in time while trying to {action}; "
            "raise request_timeout= or narrow the query"
        )
        raise ElasticConnectionError(msg) from exc
    except elastic_transport.ConnectionError as exc:
        msg = (
            f"cannot reach Elasticsearch at {url} while trying to {action}: {_short(exc)}; "
            "check the URL (FLOWLAB_ES_URL) and that the server is running"
        )
        raise ElasticConnectionError(msg) from exc
    except elastic_transport.SerializationError as exc:
        msg = f"unexpected response from {url} while trying to {action}: {_short(exc)}"
        raise ElasticError(msg) from exc


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."
