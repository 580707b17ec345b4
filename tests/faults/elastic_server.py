"""Fixtures of the Elasticsearch fault tests: the real test server, unique indices, a timer.

Import the fixtures into a test module (``from elastic_server import es, es_env, ...``).
The server comes from ``FLOWLAB_TEST_ES_URL`` as in ``tests/elastic/conftest.py``:
without it the tests skip, unless ``CI`` is set (then they fail).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from elasticsearch import Elasticsearch

import flowlab.elastic as fe

_ELASTIC_TESTS = Path(__file__).resolve().parents[1] / "elastic"


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        f"_flowlab_faults_{name}", _ELASTIC_TESTS / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


synthetic_flows = _load("synthetic").synthetic_flows


@pytest.fixture(scope="session")
def es_env() -> dict[str, str]:
    """URL and credentials of the test server."""
    url = os.environ.get("FLOWLAB_TEST_ES_URL")
    if not url:
        msg = (
            "FLOWLAB_TEST_ES_URL is not set: start the test server with "
            '`bash scripts/elasticsearch.sh start && eval "$(bash scripts/elasticsearch.sh env)"`'
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {msg}", pytrace=False)
        pytest.skip(msg)
    return {
        "url": url,
        "username": os.environ.get("FLOWLAB_TEST_ES_USERNAME", ""),
        "password": os.environ.get("FLOWLAB_TEST_ES_PASSWORD", ""),
    }


def upstream(es_env: dict[str, str]) -> tuple[str, int]:
    """``(host, port)`` of the test server, for a proxy in front of it."""
    parts = urlsplit(es_env["url"])
    return parts.hostname or "127.0.0.1", parts.port or 9200


def client(url: str, es_env: dict[str, str], **kwargs: Any) -> Elasticsearch:
    """A flowlab client to `url` (the server or a proxy) with the test credentials."""
    return fe.connect(
        url,
        username=es_env["username"] or None,
        password=es_env["password"] or None,
        **kwargs,
    )


@pytest.fixture(scope="session")
def es(es_env: dict[str, str]) -> Elasticsearch:
    """A flowlab client straight to the test server (no proxy)."""
    return client(es_env["url"], es_env)


@pytest.fixture
def index_name(es: Elasticsearch) -> Iterator[str]:
    """A unique index name (also usable as a daily-index prefix); deleted afterwards."""
    name = f"flowlab-faults-{uuid.uuid4().hex[:10]}"
    yield name
    es.options(ignore_status=404).indices.delete(index=f"{name}*", expand_wildcards="all")
    templates = es.options(ignore_status=404).indices.get_index_template(name=f"*{name}*")
    for item in (templates.body or {}).get("index_templates", []):
        es.options(ignore_status=404).indices.delete_index_template(name=item["name"])


@dataclass
class Outcome:
    """What a call run by :func:`bounded_call` did."""

    finished: bool
    seconds: float
    ended: float  # time.monotonic() when the call returned (or when waiting gave up)
    value: Any = None
    error: BaseException | None = None
    warnings: list[Any] = field(default_factory=list)


def bounded_call(fn: Callable[[], Any], *, limit: float) -> Outcome:
    """Run `fn` in a daemon thread; give up waiting after `limit` seconds (a hang fails, not blocks)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # the test inspects it
            box["error"] = exc
        box["ended"] = time.monotonic()

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True, name="bounded-call")
    thread.start()
    thread.join(limit)
    ended = box.get("ended", time.monotonic())
    return Outcome(
        finished=not thread.is_alive(),
        seconds=ended - started,
        ended=ended,
        value=box.get("value"),
        error=box.get("error"),
    )
