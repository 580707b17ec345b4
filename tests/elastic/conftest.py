"""Fixtures for the Elasticsearch tests: the real test server and uniquely named indices.

The server comes from ``FLOWLAB_TEST_ES_URL`` (``eval "$(scripts/elasticsearch.sh env)"``).
Without it, tests marked ``elasticsearch`` skip with the reason, unless ``CI`` is
set: in CI a missing server is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from elasticsearch import Elasticsearch

import flowlab.elastic as fe

_HERE = Path(__file__).parent


def _load(name: str) -> ModuleType:
    """Import a helper module of this directory by path (independent of rootdir/packages)."""
    spec = importlib.util.spec_from_file_location(f"_flowlab_es_tests_{name}", _HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


synthetic = _load("synthetic")
docs = _load("docs")
fakes_module = _load("fakes")


def _require(name: str) -> str:
    value = os.environ.get(name)
    if value:
        return value
    msg = (
        f"{name} is not set: start the test server with "
        '`bash scripts/elasticsearch.sh start && eval "$(bash scripts/elasticsearch.sh env)"`'
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {msg}", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def es_env() -> dict[str, str]:
    """URL and credentials of the test server."""
    return {
        "url": _require("FLOWLAB_TEST_ES_URL"),
        "username": os.environ.get("FLOWLAB_TEST_ES_USERNAME", ""),
        "password": os.environ.get("FLOWLAB_TEST_ES_PASSWORD", ""),
        "reader_username": os.environ.get("FLOWLAB_TEST_ES_READER_USERNAME", ""),
        "reader_password": os.environ.get("FLOWLAB_TEST_ES_READER_PASSWORD", ""),
        "version": os.environ.get("FLOWLAB_TEST_ES_VERSION", ""),
    }


@pytest.fixture(scope="session")
def secured(es_env: dict[str, str]) -> None:
    """Skip when the test server runs without security (integration zips before 7.11 lack it)."""
    if os.environ.get("FLOWLAB_TEST_ES_SECURITY") == "off":
        pytest.skip("the test server runs without security (no users, no 401/403 to test)")


@pytest.fixture(scope="session")
def es(es_env: dict[str, str]) -> Elasticsearch:
    """A flowlab client (fast raw-page path) to the test server, as superuser."""
    return fe.connect(
        es_env["url"], username=es_env["username"] or None, password=es_env["password"] or None
    )


@pytest.fixture(scope="session")
def plain_es(es_env: dict[str, str]) -> Elasticsearch:
    """A plain elasticsearch-py client (what a notebook author builds), version-compatible."""
    info = fe.server_info(
        fe.connect(
            es_env["url"],
            username=es_env["username"] or None,
            password=es_env["password"] or None,
        )
    )
    major = info.version[0]
    auth = (es_env["username"], es_env["password"]) if es_env["username"] else None
    client = Elasticsearch(es_env["url"], basic_auth=auth, request_timeout=60)
    if major < 9:
        pytest.skip(f"a plain elasticsearch-py 9 client cannot talk to Elasticsearch {info}")
    return client


def _unique(request: pytest.FixtureRequest, prefix: str) -> str:
    test = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    return f"{prefix}{test}-{uuid.uuid4().hex[:8]}"


def _cleanup(es: Elasticsearch, name: str) -> None:
    es.options(ignore_status=404).indices.delete(index=f"{name}*", expand_wildcards="all")
    templates = es.options(ignore_status=404).indices.get_index_template(name=f"*{name}*")
    for item in (templates.body or {}).get("index_templates", []):
        es.options(ignore_status=404).indices.delete_index_template(name=item["name"])


@pytest.fixture
def index_name(es: Elasticsearch, request: pytest.FixtureRequest) -> Iterator[str]:
    """A unique index name; every index and template starting with it is deleted afterwards."""
    name = _unique(request, "flowlab-test-")
    yield name
    _cleanup(es, name)


@pytest.fixture
def ef_prefix(es: Elasticsearch, request: pytest.FixtureRequest) -> Iterator[str]:
    """A unique ElastiFlow-style daily index prefix (``elastiflow-3.5.0-t...-``)."""
    name = _unique(request, "elastiflow-3.5.0-t")
    yield name + "-"
    _cleanup(es, name)


@pytest.fixture(scope="module")
def module_names(
    es: Elasticsearch, request: pytest.FixtureRequest
) -> Iterator[Callable[[str], str]]:
    """``module_names(prefix)``: unique names for indices shared by a module's tests, cleaned up after."""
    made: list[str] = []

    def make(prefix: str) -> str:
        name = f"{prefix}{request.module.__name__.rsplit('.', 1)[-1].replace('_', '-')}-{uuid.uuid4().hex[:8]}"
        made.append(name)
        return name

    yield make
    for name in made:
        _cleanup(es, name)


@pytest.fixture(scope="session")
def make_flows() -> Callable[..., Any]:
    """``make_flows(n, seed=0)``: a synthetic canonical flow frame."""
    return synthetic.synthetic_flows


@pytest.fixture(scope="session")
def fixture_docs() -> ModuleType:
    """Builders of ElastiFlow 3.5 / ECS / CODEX documents and their index templates."""
    return docs


@pytest.fixture(scope="session")
def fakes() -> ModuleType:
    """Loopback stand-ins for faults the real server cannot show (see fakes.py)."""
    return fakes_module
