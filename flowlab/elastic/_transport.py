"""The HTTP transport flowlab's clients use: version-aware media types and raw page reads.

The elasticsearch-py 8/9 clients ask for ``compatible-with=<client major>``
responses, which older servers reject (Elasticsearch 8.x answers HTTP 400 to
``compatible-with=9``). :class:`FlowlabTransport` rewrites the media types to
what the server speaks, once :func:`flowlab.elastic.connect` has probed it, and
serves :func:`raw_request`: the bytes of a response, for the loaders that
parse result pages straight into Polars columns instead of Python dicts.

The credential lives only in the transport, in a :class:`Secret` (masked in
reprs, variable dumps and debuggers; not a plain dict): the client's own
header dictionaries never hold it, it is added to each request as it leaves.

Every request has a bounded timeout: the client's ``request_timeout``, never
``None``. A server that stops answering fails within ``request_timeout x
(max_retries + 1)`` plus the short pauses between retries.

Examples
--------
>>> media_types(ServerInfo(version=(8, 19, 21)), client_major=9)
('application/vnd.elasticsearch+json; compatible-with=8', 'application/vnd.elasticsearch+x-ndjson; compatible-with=8')
>>> media_types(ServerInfo(version=(7, 10, 2)), client_major=9)
('application/json', 'application/x-ndjson')
>>> Secret("Basic czNjcmV0")
Secret('***')
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import elastic_transport
from elastic_transport import HttpHeaders, Transport, TransportApiResponse
from elastic_transport.client_utils import DEFAULT

__all__ = ["FlowlabTransport", "Secret", "ServerInfo", "media_types", "raw_request"]

_RETRY_STATUS = (429, 502, 503, 504)
_CONNECTION_RETRY_PAUSE = 0.25  # seconds between retries after a refused/reset connection


class Secret:
    """A credential that never shows itself: masked in ``repr``/``str``, no attributes to dump.

    The value is kept in a closure (not an attribute), so ``vars()``, ``dir()``,
    debuggers' variable views and pickling do not reveal it; :meth:`reveal`
    returns it.
    """

    __slots__ = ("reveal",)
    reveal: Callable[[], str]

    def __init__(self, value: str) -> None:
        def reveal() -> str:
            """The secret value (for the request that needs it, nothing else)."""
            return value

        object.__setattr__(self, "reveal", reveal)

    def __setattr__(self, name: str, value: object) -> None:
        msg = "Secret is read-only"
        raise AttributeError(msg)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        msg = "a Secret cannot be pickled"
        raise TypeError(msg)


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
        self._flowlab_media_headers: dict[str, str] = {}
        self._flowlab_auth: Secret | None = None
        self.flowlab_probe_timeout: float = 10.0
        # the client's request_timeout (elasticsearch-py keeps it in the client and passes it
        # with each API call; the nodes' own default is 10 s): raw requests use it too
        self.flowlab_request_timeout: float | None = None

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
        stamp_product: bool,
    ) -> None:
        """Remember the server and the media types for raw reads."""
        self.flowlab_info = info
        self.flowlab_url = url
        media = media_types(info, client_major=client_major)
        current = info.version[0] >= client_major or info.version == (0, 0, 0)
        self._flowlab_media = None if current else media
        self._flowlab_stamp_product = stamp_product
        self._flowlab_media_headers = {"accept": media[0], "content-type": media[0]}

    def flowlab_set_auth(self, authorization: str | None) -> None:
        """Keep the ``Authorization`` header value (masked) to add to every request."""
        self._flowlab_auth = Secret(authorization) if authorization else None

    def flowlab_headers(self, extra: Mapping[str, str] | None = None) -> HttpHeaders:
        """Headers for a node-level request: media types (once probed), `extra`, credential."""
        headers = HttpHeaders(self._flowlab_media_headers)
        if extra:
            headers.update(extra)
        if self._flowlab_auth is not None:
            headers["authorization"] = self._flowlab_auth.reveal()
        return headers

    def perform_request(
        self, method: str, target: str, *, headers: Any = DEFAULT, **kwargs: Any
    ) -> TransportApiResponse:
        """Send a request, with media types the server accepts and the credential."""
        if self._flowlab_auth is not None:
            headers = HttpHeaders(headers if isinstance(headers, Mapping) else {})
            headers.setdefault("authorization", self._flowlab_auth.reveal())
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
    max_retries: int | None = None,
) -> tuple[int, bytes]:
    """Send a request and return ``(status, raw body bytes)``, retrying like the client.

    Retries (``max_retries``, default the client's) on refused or reset
    connections, on timeouts when the client retries them, and on HTTP
    429/502/503/504 (with exponential back-off). Each attempt waits at most
    `request_timeout` seconds (default the client's ``request_timeout``; never
    unbounded). Only for transports configured by :func:`flowlab.elastic.connect`;
    raises :class:`TypeError` otherwise. Connection errors propagate as
    ``elastic_transport`` errors (callers translate them).
    """
    if not isinstance(transport, FlowlabTransport) or transport.flowlab_info is None:
        msg = "raw_request needs a client made by flowlab.elastic.connect()"
        raise TypeError(msg)
    if request_timeout is None:
        request_timeout = transport.flowlab_request_timeout
    timeout: Any = DEFAULT if request_timeout is None else request_timeout
    retries = transport.max_retries if max_retries is None else max_retries
    headers = transport.flowlab_headers()
    attempt = 0
    while True:
        node = transport.node_pool.get()
        pause = _CONNECTION_RETRY_PAUSE
        try:
            resp = node.perform_request(
                method, target, body=body, headers=headers, request_timeout=timeout
            )
        except elastic_transport.TlsError:
            raise  # a certificate problem does not go away on retry
        except elastic_transport.ConnectionTimeout:
            if attempt >= retries or not transport.retry_on_timeout:
                raise
            pause = 0.0  # the timeout already waited
        except elastic_transport.ConnectionError:
            if attempt >= retries:
                raise
        else:
            if resp.meta.status not in _RETRY_STATUS or attempt >= retries:
                return resp.meta.status, bytes(resp.body)
            pause = min(0.5 * 2 ** (attempt + 1), 10.0)
        attempt += 1
        time.sleep(pause)
