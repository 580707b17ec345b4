"""Connect to Elasticsearch from arguments or ``FLOWLAB_ES_*`` environment variables.

:func:`connect` returns an ordinary :class:`elasticsearch.Elasticsearch`
client (use its whole API), built on :class:`~flowlab.elastic._transport.FlowlabTransport`
and already checked against the server: a wrong password fails here, with
:class:`~flowlab.exceptions.ElasticAuthError`, not later in a notebook cell.

Settings, each an argument or else an environment variable:

================  ===========================  ==========================================
argument          environment                  meaning
================  ===========================  ==========================================
url               FLOWLAB_ES_URL               ``https://host:9200`` (user info in the URL
                                               is taken as username/password)
api_key           FLOWLAB_ES_API_KEY           base64 ``id:key`` (as Kibana shows it)
bearer_token      FLOWLAB_ES_BEARER_TOKEN      OAuth token, e.g. ``oc whoami -t`` for an
                                               OpenShift route behind an OAuth proxy
username          FLOWLAB_ES_USERNAME          basic auth user
password          FLOWLAB_ES_PASSWORD          basic auth password
ca_certs          FLOWLAB_ES_CA_CERTS          PEM file of the CA that signed the server
verify_certs      FLOWLAB_ES_VERIFY_CERTS      ``true`` (default) or ``false``
================  ===========================  ==========================================

When several credentials are set, the API key wins, then the bearer token,
then username/password. Secrets are never logged, never put into error
messages, and do not appear in the client's ``repr``.

Servers: Elasticsearch 7.10+, 8.x and 9.x (tested: 7.17, 8.19, 9.2). Older
7.x servers get media types and product checks adapted and scroll-based
paging, best effort. OpenSearch (and any server that is not Elasticsearch) is
refused with :class:`~flowlab.exceptions.UnsupportedServerError`: the
elasticsearch-py client refuses it, and its point-in-time API differs.

Examples
--------
>>> import flowlab.elastic as fe
>>> es = fe.connect("http://127.0.0.1:1", check=False)
>>> es.transport
<FlowlabTransport http://127.0.0.1:1>
>>> fe.connect("http://127.0.0.1:1", request_timeout=1, max_retries=0)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
flowlab.exceptions.ElasticConnectionError: cannot reach Elasticsearch at http://127.0.0.1:1 ...
"""

from __future__ import annotations

import base64
import logging
import os
from typing import Any
from urllib.parse import unquote, urlsplit

import elasticsearch
from elasticsearch import Elasticsearch

from flowlab.elastic import _json
from flowlab.elastic._errors import raise_for_status, redact_url, translating
from flowlab.elastic._transport import FlowlabTransport, ServerInfo
from flowlab.exceptions import ConfigError, ElasticError, UnsupportedServerError

__all__ = ["connect", "describe", "server_info"]

log = logging.getLogger("flowlab.elastic")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_CLIENT_MAJOR = int(elasticsearch.__versionstr__.partition(".")[0])


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


def _flag(value: bool | str | None, name: str) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    msg = f"{name} must be true or false, found {value!r}"
    raise ConfigError(msg)


def _auth_header(
    api_key: str | tuple[str, str] | None,
    bearer_token: str | None,
    username: str | None,
    password: str | None,
) -> str | None:
    if api_key:
        if isinstance(api_key, tuple):
            api_key = base64.b64encode(f"{api_key[0]}:{api_key[1]}".encode()).decode()
        return f"ApiKey {api_key}"
    if bearer_token:
        return f"Bearer {bearer_token}"
    if username is not None or password is not None:
        if not username or password is None:
            msg = "basic auth needs both a username and a password (FLOWLAB_ES_USERNAME/PASSWORD)"
            raise ConfigError(msg)
        return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    return None


def connect(
    url: str | None = None,
    *,
    api_key: str | tuple[str, str] | None = None,
    bearer_token: str | None = None,
    username: str | None = None,
    password: str | None = None,
    ca_certs: str | None = None,
    verify_certs: bool | None = None,
    request_timeout: float = 60.0,
    max_retries: int = 3,
    connect_timeout: float = 10.0,
    check: bool = True,
) -> Elasticsearch:
    """Open a client to Elasticsearch and check that it answers and accepts the credentials.

    Parameters
    ----------
    url : str, optional
        Server URL; default ``FLOWLAB_ES_URL``.
    api_key, bearer_token, username, password : optional
        Credentials (see the module docs for the environment variables).
    ca_certs : str, optional
        CA bundle (PEM) to verify the server's certificate.
    verify_certs : bool, optional
        Verify TLS certificates (default true; ``FLOWLAB_ES_VERIFY_CERTS``).
    request_timeout : float
        Seconds to wait for one response (every request flowlab makes has
        this bound). A server that stops answering gives
        :class:`~flowlab.exceptions.ElasticConnectionError` after at most
        ``request_timeout x (max_retries + 1)`` seconds plus short pauses.
    max_retries : int
        Retries on connection errors, timeouts and HTTP 429/502/503/504.
    connect_timeout : float
        Seconds the probe waits for the server's answer (at most
        `request_timeout`; no retries): a server that accepts connections
        but never answers fails here within this bound.
    check : bool
        Probe the server now (version, credentials). Without the probe the
        client assumes a server of the client's own major version.

    Returns
    -------
    elasticsearch.Elasticsearch

    Raises
    ------
    ConfigError
        No URL, or contradictory settings.
    ElasticConnectionError, ElasticAuthError, UnsupportedServerError
        From the probe.
    """
    url = url or _env("FLOWLAB_ES_URL")
    if not url:
        msg = "no Elasticsearch URL: pass url= or set FLOWLAB_ES_URL (e.g. https://es.example:9200)"
        raise ConfigError(msg)
    parts = urlsplit(url if "://" in url else f"http://{url}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else None)
    except ValueError:  # a port that is not a number
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        msg = (
            "Elasticsearch URL must look like https://host:9200 (scheme, host and port), "
            f"found {redact_url(url)!r}"
        )
        raise ConfigError(msg)
    if parts.username and username is None and password is None:
        username, password = unquote(parts.username), unquote(parts.password or "")
    safe_url = redact_url(parts.geturl())
    api_key = api_key or _env("FLOWLAB_ES_API_KEY")
    bearer_token = bearer_token or _env("FLOWLAB_ES_BEARER_TOKEN")
    if username is None and password is None:
        username, password = _env("FLOWLAB_ES_USERNAME"), _env("FLOWLAB_ES_PASSWORD")
    ca_certs = ca_certs or _env("FLOWLAB_ES_CA_CERTS")
    verify = _flag(
        verify_certs if verify_certs is not None else _env("FLOWLAB_ES_VERIFY_CERTS"),
        "FLOWLAB_ES_VERIFY_CERTS",
    )
    auth = _auth_header(api_key, bearer_token, username, password)
    if parts.scheme == "https" and not verify:
        log.warning("TLS certificate verification is OFF for %s (verify_certs=False)", safe_url)
    kwargs: dict[str, Any] = {}
    if parts.scheme == "https":
        kwargs.update(verify_certs=verify, ssl_show_warn=False)
        if ca_certs:
            if not os.path.isfile(ca_certs):
                msg = f"CA bundle {ca_certs!r} (FLOWLAB_ES_CA_CERTS) does not exist"
                raise ConfigError(msg)
            kwargs["ca_certs"] = ca_certs
    if not request_timeout > 0 or not connect_timeout > 0:
        msg = (
            f"request_timeout and connect_timeout must be positive seconds, found "
            f"{request_timeout!r} and {connect_timeout!r}"
        )
        raise ConfigError(msg)
    es = Elasticsearch(
        safe_url,
        request_timeout=request_timeout,
        max_retries=max_retries,
        retry_on_status=(429, 502, 503, 504),
        retry_on_timeout=True,
        connections_per_node=16,
        transport_class=FlowlabTransport,
        **kwargs,
    )
    transport = es.transport
    assert isinstance(transport, FlowlabTransport)
    transport.flowlab_set_auth(auth)  # the only place the credential is kept (masked)
    del auth
    transport.flowlab_probe_timeout = min(connect_timeout, request_timeout)
    transport.flowlab_request_timeout = request_timeout
    # elasticsearch-py passes its retry settings with each API call; raw reads use the same
    transport.max_retries = max_retries
    transport.retry_on_timeout = True
    info = _probe(transport, safe_url) if check else ServerInfo()
    stamp = info.version < (7, 14, 0) and info.version != (0, 0, 0)
    transport.flowlab_configure(info, url=safe_url, client_major=_CLIENT_MAJOR, stamp_product=stamp)
    if check:
        log.info("connected to %s (%s)", safe_url, info)
        if info.version < (7, 10, 0):
            log.warning(
                "%s is older than 7.10: flowlab reads it with scroll paging, best effort", info
            )
    return es


def _probe(transport: FlowlabTransport, url: str) -> ServerInfo:
    """Ask the server who it is (root endpoint, else the local node's info).

    Each of its (at most two) requests waits ``transport.flowlab_probe_timeout`` seconds.
    """
    req = transport.flowlab_headers({"accept": "application/json"})
    timeout = transport.flowlab_probe_timeout
    with translating("connect", url=url):
        node = transport.node_pool.get()
        resp = node.perform_request("GET", "/", headers=req, request_timeout=timeout)
        body = _json_object(resp.body)
        status = resp.meta.status
        if status in (404, 405, 410) or (status == 403 and "version" not in body):
            # The integration-test distribution has no root endpoint: ask the node instead.
            resp = node.perform_request(
                "GET",
                "/_nodes/_local?filter_path=nodes.*.version,nodes.*.build_flavor",
                headers=req,
                request_timeout=timeout,
            )
            status, nbody = resp.meta.status, _json_object(resp.body)
            if status == 403:
                return ServerInfo(version=(_CLIENT_MAJOR, 0, 0))
            raise_for_status(status, nbody, action="connect", url=url)
            nodes = list((nbody.get("nodes") or {}).values())
            first = nodes[0] if nodes else {}
            body = {"version": {"number": first.get("version", ""), "build_flavor": ""}}
            body["version"]["build_flavor"] = first.get("build_flavor", "")
            product = resp.meta.headers.get("x-elastic-product", "")
        else:
            raise_for_status(status, body, action="connect", url=url)
            product = resp.meta.headers.get("x-elastic-product", "")
    found = body.get("version")
    version: dict[str, Any] = found if isinstance(found, dict) else {}
    distribution = str(version.get("distribution") or "elasticsearch")
    number = str(version.get("number") or "")
    if distribution.lower() == "opensearch":
        msg = (
            f"{url} is OpenSearch {number}, which flowlab does not support (the elasticsearch-py "
            "client refuses it and its point-in-time API differs); use an Elasticsearch 7.10+ "
            "server, or export the flows to Parquet on the OpenSearch side"
        )
        raise UnsupportedServerError(msg)
    if product != "Elasticsearch" and body.get("tagline") != "You Know, for Search":
        msg = (
            f"the server at {url} does not identify itself as Elasticsearch; "
            "flowlab talks to Elasticsearch 7.10+, 8.x and 9.x"
        )
        raise UnsupportedServerError(msg)
    parsed = _version(number)
    if parsed < (7, 0, 0):
        msg = f"{url} runs Elasticsearch {number}; flowlab needs 7.10 or newer (7.x best effort)"
        raise UnsupportedServerError(msg)
    return ServerInfo(
        version=parsed, distribution="elasticsearch", build_flavor=str(version.get("build_flavor"))
    )


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = _json.loads(raw) if raw else {}
    except _json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _version(number: str) -> tuple[int, int, int]:
    digits: list[int] = []
    for part in number.split("-")[0].split(".")[:3]:
        try:
            digits.append(int(part))
        except ValueError:
            break
    while len(digits) < 3:
        digits.append(0)
    return (digits[0], digits[1], digits[2])


def server_info(es: Elasticsearch) -> ServerInfo:
    """What flowlab knows about the server behind `es` (probing clients it did not make).

    Examples
    --------
    >>> import flowlab.elastic as fe
    >>> es = fe.connect("http://127.0.0.1:1", check=False)   # not probed yet
    >>> fe.server_info(es)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    flowlab.exceptions.ElasticConnectionError: cannot reach Elasticsearch at http://127.0.0.1:1 ...
    """
    transport = es.transport
    if isinstance(transport, FlowlabTransport) and transport.flowlab_info is not None:
        info = transport.flowlab_info
        if info.version != (0, 0, 0):
            return info
        # connect(check=False): probe now, once, and adapt the transport
        info = _probe(transport, transport.flowlab_url)
        stamp = info.version < (7, 14, 0)
        transport.flowlab_configure(
            info, url=transport.flowlab_url, client_major=_CLIENT_MAJOR, stamp_product=stamp
        )
        return info
    url = describe(es)
    with translating("read the server version", url=url):
        try:
            number = str(es.info()["version"]["number"])
        except elasticsearch.ApiError as exc:
            if exc.meta.status not in (404, 405):
                raise
            nodes = es.nodes.info(node_id="_local", filter_path="nodes.*.version")
            number = str(next(iter(nodes["nodes"].values()))["version"])
    return ServerInfo(version=_version(number))


def describe(es: Elasticsearch) -> str:
    """The server's redacted URL, for messages."""
    transport = es.transport
    if isinstance(transport, FlowlabTransport) and transport.flowlab_url:
        return transport.flowlab_url
    try:
        return redact_url(transport.node_pool.all()[0].base_url)
    except (IndexError, AttributeError, ElasticError):
        return "Elasticsearch"
