"""The HTTP transport flowlab's clients use: version-aware media types and raw page reads.

The elasticsearch-py 8/9 clients ask for ``compatible-with=<client major>``
responses, which older servers reject (Elasticsearch 8.x answers HTTP 400 to
``compatible-with=9``). :class:`FlowlabTransport` rewrites the media types to
what the server speaks, once :func:`flowlab.elastic.connect` has probed it, and
serves :func:`raw_request`: the bytes of a response, for the loaders that
parse result pages straight into Polars columns instead of Python dicts.

Examples
--------
>>> media_types(ServerInfo(version=(8, 19, 21)), client_major=9)
('application/vnd.elasticsearch+json; compatible-with=8', 'application/vnd.elasticsearch+x-ndjson; compatible-with=8')
>>> media_types(ServerInfo(version=(7, 10, 2)), client_major=9)
('application/json', 'application/x-ndjson')
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import elastic_transport
from elastic_transport import HttpHeaders, Transport, TransportApiResponse
from elastic_transport.client_utils import DEFAULT

__all__ = ["FlowlabTransport", "ServerInfo", "media_types", "raw_request"]

_RETRY_STATUS = (429, 502, 503, 504)


@dataclass(frozen=True)
class ServerInfo:
    """What :func:`flowlab.elastic.connect` learned about the server.

    Attributes
    ----------
    version : tuple of int
        ``(major, minor, patch)``; ``(0, 0, 0)`` when it could not be read.
    distribution : str
        ``"elasticsearch"`` (or ``"opensearch"``, which connect refuses).
    build_flavor : str
        ``"default"``, ``"oss"`` or ``""``.
    """

    version: tuple[int, int, int] = (0, 0, 0)
    distribution: str = "elasticsearch"
    build_flavor: str = ""

    @property
    def has_pit(self) -> bool:
        """Point-in-time with ``_shard_doc`` paging (7.12+)."""
        return self.version >= (7, 12, 0)

    @property
    def has_fixed_interval(self) -> bool:
        """``fixed_interval`` in date histograms (7.2+)."""
        return self.version >= (7, 2, 0)

    @property
    def has_composable_templates(self) -> bool:
        """``_index_template`` (7.8+); older servers use legacy ``_template``."""
        return self.version >= (7, 8, 0)

    def __str__(self) -> str:
        return f"{self.distribution} {'.'.join(map(str, self.version))}"


def media_types(info: ServerInfo, *, client_major: int) -> tuple[str, str]:
    """The JSON and NDJSON media types to send to a server of version `info`."""
    major = info.version[0]
    if major >= client_major or major == 0:
        return (
            f"application/vnd.elasticsearch+json; compatible-with={client_major}",
            f"application/vnd.elasticsearch+x-ndjson; compatible-with={client_major}",
        )
    if info.version >= (7, 11, 0):
        return (
            f"application/vnd.elasticsearch+json; compatible-with={major}",
            f"application/vnd.elasticsearch+x-ndjson; compatible-with={major}",
        )
    return ("application/json", "application/x-ndjson")


def _rewrite(value: str, json_type: str, ndjson_type: str) -> str:
    base = value.partition(";")[0].strip().lower()
    if base.endswith("x-ndjson"):
        return ndjson_type
    if base.endswith("json"):
        return json_type
    return value


class FlowlabTransport(Transport):
    """An :class:`elastic_transport.Transport` that adapts requests to the server it probed.

    Set by :func:`flowlab.elastic.connect`; not meant to be built directly.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flowlab_info: ServerInfo | None = None
        self.flowlab_url: str = ""
        self._flowlab_media: tuple[str, str] | None = None
        self._flowlab_stamp_product = False
        self._flowlab_headers: dict[str, str] = {}

    def __repr__(self) -> str:  # never shows headers (credentials)
        info = self.flowlab_info
        known = f" {info}" if info is not None and info.version != (0, 0, 0) else ""
        return f"<FlowlabTransport {self.flowlab_url or '?'}{known}>"

    def flowlab_configure(
        self,
        info: ServerInfo,
        *,
        url: str,
        client_major: int,
        headers: Mapping[str, str],
        stamp_product: bool,
    ) -> None:
        """Remember the server and the request headers (auth) for raw reads."""
        self.flowlab_info = info
        self.flowlab_url = url
        media = media_types(info, client_major=client_major)
        current = info.version[0] >= client_major or info.version == (0, 0, 0)
        self._flowlab_media = None if current else media
        self._flowlab_stamp_product = stamp_product
        self._flowlab_headers = dict(headers)
        self._flowlab_headers["accept"] = media[0]
        self._flowlab_headers["content-type"] = media[0]

    def perform_request(
        self, method: str, target: str, *, headers: Any = DEFAULT, **kwargs: Any
    ) -> TransportApiResponse:
        """Send a request, with media types the server accepts."""
        if self._flowlab_media is not None and isinstance(headers, Mapping):
            json_type, ndjson_type = self._flowlab_media
            fixed = HttpHeaders(headers)
            for name in ("accept", "content-type"):
                if name in fixed:
                    fixed[name] = _rewrite(fixed[name], json_type, ndjson_type)
            headers = fixed
        resp = super().perform_request(method, target, headers=headers, **kwargs)
        if self._flowlab_stamp_product and "x-elastic-product" not in resp.meta.headers:
            # Elasticsearch before 7.14 sends no product header; connect() verified the server.
            stamped = HttpHeaders(resp.meta.headers)
            stamped["x-elastic-product"] = "Elasticsearch"
            resp = TransportApiResponse(replace(resp.meta, headers=stamped), resp.body)
        return resp


def raw_request(
    transport: Transport,
    method: str,
    target: str,
    body: bytes | None,
    *,
    request_timeout: float | None = None,
    max_retries: int = 3,
) -> tuple[int, bytes]:
    """Send a request and return ``(status, raw body bytes)``, retrying on 429/5xx.

    Only for transports configured by :func:`flowlab.elastic.connect`; raises
    :class:`TypeError` otherwise. Connection errors propagate as
    ``elastic_transport`` errors (callers translate them).
    """
    if not isinstance(transport, FlowlabTransport) or transport.flowlab_info is None:
        msg = "raw_request needs a client made by flowlab.elastic.connect()"
        raise TypeError(msg)
    headers = HttpHeaders(transport._flowlab_headers)
    attempt = 0
    while True:
        node = transport.node_pool.get()
        try:
            resp = node.perform_request(
                method, target, body=body, headers=headers, request_timeout=request_timeout
            )
        except elastic_transport.ConnectionError:
            if attempt >= max_retries:
                raise
        else:
            if resp.meta.status not in _RETRY_STATUS or attempt >= max_retries:
                return resp.meta.status, bytes(resp.body)
        attempt += 1
        time.sleep(min(0.5 * 2**attempt, 10.0))
