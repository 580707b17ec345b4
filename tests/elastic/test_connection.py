"""connect(): settings, credentials, TLS verification, errors, and secrets kept out of sight."""

from __future__ import annotations

import base64
import logging
import socket
import types
from collections.abc import Iterator, Mapping

import pytest

import flowlab.elastic as fe
from flowlab.exceptions import (
    ConfigError,
    ElasticAuthError,
    ElasticConnectionError,
    UnsupportedServerError,
)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_url_is_a_config_error(monkeypatch):
    monkeypatch.delenv("FLOWLAB_ES_URL", raising=False)
    with pytest.raises(ConfigError, match="FLOWLAB_ES_URL"):
        fe.connect()
    with pytest.raises(ConfigError, match="https://host:9200"):
        fe.connect("ftp://example")
    with pytest.raises(ConfigError, match="both a username and a password"):
        fe.connect("http://127.0.0.1:1", username="u", check=False)
    monkeypatch.setenv("FLOWLAB_ES_VERIFY_CERTS", "maybe")
    with pytest.raises(ConfigError, match="FLOWLAB_ES_VERIFY_CERTS"):
        fe.connect("https://127.0.0.1:1", check=False)


def test_unreachable_host():
    port = _closed_port()
    with pytest.raises(
        ElasticConnectionError, match=f"cannot reach Elasticsearch at http://127.0.0.1:{port}"
    ):
        fe.connect(f"http://127.0.0.1:{port}", request_timeout=2)


@pytest.mark.elasticsearch
def test_connect_from_environment_and_version(es_env, monkeypatch):
    monkeypatch.setenv("FLOWLAB_ES_URL", es_env["url"])
    monkeypatch.setenv("FLOWLAB_ES_USERNAME", es_env["username"])
    monkeypatch.setenv("FLOWLAB_ES_PASSWORD", es_env["password"])
    es = fe.connect()
    info = fe.server_info(es)
    assert info.distribution == "elasticsearch"
    if es_env["version"]:
        assert ".".join(map(str, info.version)) == es_env["version"]
    assert es.cluster.health()["status"] in ("green", "yellow")


@pytest.mark.elasticsearch
def test_wrong_password_is_a_real_401(secured, es_env):
    with pytest.raises(ElasticAuthError, match="HTTP 401") as err:
        fe.connect(es_env["url"], username=es_env["username"], password="definitely-wrong-pw")
    assert "definitely-wrong-pw" not in str(err.value)
    with pytest.raises(ElasticAuthError, match="HTTP 401"):
        fe.connect(es_env["url"], bearer_token="not-a-valid-token-xyz")
    with pytest.raises(ElasticAuthError, match="HTTP 401"):
        fe.connect(es_env["url"], api_key=base64.b64encode(b"nope:nope").decode())
    with pytest.raises(ElasticAuthError, match="HTTP 401"):
        fe.connect(es_env["url"])  # no credentials at all on a secured server


def test_credentials_become_the_authorization_header():
    # The test server (integration-test distribution) cannot issue API keys: its security
    # index needs the analysis-common module it lacks. The wrong-key 401 above is real; the
    # header a valid key produces is checked here.
    from flowlab.elastic.connection import _auth_header

    assert _auth_header("abc==", None, "u", "p") == "ApiKey abc=="
    assert (
        _auth_header(("id", "key"), None, None, None)
        == "ApiKey " + base64.b64encode(b"id:key").decode()
    )
    assert _auth_header(None, "tok", "u", "p") == "Bearer tok"
    assert _auth_header(None, None, "u", "p") == "Basic " + base64.b64encode(b"u:p").decode()
    assert _auth_header(None, None, None, None) is None


@pytest.mark.elasticsearch
def test_secrets_never_in_repr_logs_or_errors(secured, es_env, index_name, make_flows, caplog):
    secret = es_env["password"]
    wrong = "Wr0ng-" + secret[::-1]
    caplog.set_level(logging.DEBUG)
    host = es_env["url"].split("://", 1)[1]
    es = fe.connect(f"http://{es_env['username']}:{secret}@{host}")
    fe.write_flows(es, make_flows(50), index_name, refresh=True, replicas=0)
    fe.load_flows(es, index_name, progress=False)
    texts = [repr(es), repr(es.transport), str(fe.server_info(es))]
    with pytest.raises(ElasticAuthError) as err:
        fe.connect(es_env["url"], username=es_env["username"], password=wrong)
    texts.append(str(err.value))
    reader = fe.connect(
        es_env["url"], username=es_env["reader_username"], password=es_env["reader_password"]
    )
    with pytest.raises(ElasticAuthError, match="HTTP 403") as err403:
        fe.write_flows(reader, make_flows(5), index_name + "-denied")
    texts.append(str(err403.value))
    texts.append(caplog.text)
    encoded = base64.b64encode(f"{es_env['username']}:{secret}".encode()).decode()
    for text in texts:
        for needle in (secret, wrong, encoded, es_env["reader_password"]):
            assert needle not in text
    assert "connected to" in caplog.text  # the log did record the session


def _dump(obj: object, depth: int = 0, seen: set[int] | None = None) -> Iterator[str]:
    """What a variable dump or a debugger's variable view shows: reprs, attributes, items."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 7 or isinstance(obj, (type, types.ModuleType)):
        return
    seen.add(id(obj))
    if callable(obj) and not hasattr(obj, "__dict__") and not hasattr(obj, "__slots__"):
        return
    yield repr(obj)
    if isinstance(obj, (str, bytes, int, float)):
        return
    children: list[object] = []
    if isinstance(obj, Mapping):
        children += [*obj.keys(), *obj.values()]
    elif isinstance(obj, (list, tuple, set, frozenset)):
        children += list(obj)
    if hasattr(obj, "__dict__") and not isinstance(obj, types.FunctionType):
        children += list(vars(obj).values())
    for klass in type(obj).__mro__:
        for slot in getattr(klass, "__slots__", ()):
            if isinstance(slot, str) and hasattr(obj, slot):
                children.append(getattr(obj, slot))
    for child in children:
        yield from _dump(child, depth + 1, seen)


@pytest.mark.elasticsearch
def test_credential_is_masked_in_variable_dumps(secured, es_env):
    """Issue #11 item 11: the credential is not a plain dict entry on the transport."""
    es = fe.connect(es_env["url"], username=es_env["username"], password=es_env["password"])
    encoded = base64.b64encode(f"{es_env['username']}:{es_env['password']}".encode()).decode()
    for root in (es, es.transport, vars(es.transport), es.options(request_timeout=5)):
        for text in _dump(root):
            assert encoded not in text and es_env["password"] not in text, text[:200]
    assert "Secret('***')" in repr(vars(es.transport))
    assert fe.server_info(es).version >= (7, 0, 0)  # and the client still authenticates


def test_tls_verification_is_on_by_default(tmp_path, caplog, fakes):
    cert, key = fakes.self_signed(tmp_path)

    def handler(method, path, body):
        return fakes.json_reply(fakes.ES_ROOT)

    with fakes.serve(handler, tls=(cert, key)) as url:
        with pytest.raises(ElasticConnectionError, match=r"TLS|certificate|SSL") as err:
            fe.connect(url, request_timeout=5, max_retries=0)
        assert "ca_certs" in str(err.value) or "FLOWLAB_ES_CA_CERTS" in str(err.value)
        trusted = fe.connect(url, ca_certs=str(cert))
        assert fe.server_info(trusted).version == (9, 2, 8)
        with caplog.at_level(logging.WARNING, logger="flowlab.elastic"):
            insecure = fe.connect(url, verify_certs=False)
        assert fe.server_info(insecure).version == (9, 2, 8)
        assert "verification is OFF" in caplog.text
    with pytest.raises(ConfigError, match="does not exist"):
        fe.connect("https://127.0.0.1:1", ca_certs=str(tmp_path / "missing.pem"), check=False)


def test_servers_that_are_not_elasticsearch_are_refused(fakes):
    opensearch = {
        "version": {"number": "2.11.0", "distribution": "opensearch"},
        "tagline": "The OpenSearch Project",
    }

    with (
        fakes.serve(lambda m, p, b: fakes.json_reply(opensearch, product=False)) as url,
        pytest.raises(UnsupportedServerError, match=r"OpenSearch 2\.11\.0"),
    ):
        fe.connect(url)
    other = {"hello": "world"}
    with (
        fakes.serve(lambda m, p, b: fakes.json_reply(other, product=False)) as url,
        pytest.raises(UnsupportedServerError, match="does not identify itself as Elasticsearch"),
    ):
        fe.connect(url)
    old = {**fakes.ES_ROOT, "version": {"number": "6.8.23"}}
    with (
        fakes.serve(lambda m, p, b: fakes.json_reply(old, product=False)) as url,
        pytest.raises(UnsupportedServerError, match=r"6\.8\.23"),
    ):
        fe.connect(url)


@pytest.mark.elasticsearch
def test_unprobed_client_probes_on_first_use(es_env, index_name, make_flows, es):
    lazy = fe.connect(
        es_env["url"],
        username=es_env["username"] or None,
        password=es_env["password"] or None,
        check=False,
    )
    assert "elasticsearch" not in repr(lazy.transport)  # nothing known yet
    fe.write_flows(es, make_flows(30), index_name, refresh=True, replicas=0)
    assert fe.load_flows(lazy, index_name, progress=False).height == 30
    assert fe.server_info(lazy) == fe.server_info(es)
