"""Version-aware media types, product-header stamping for old servers, error translation."""

from __future__ import annotations

import json

import pytest

import flowlab.elastic as fe
from flowlab.elastic._errors import error_reason, redact_url
from flowlab.elastic._transport import ServerInfo, media_types, raw_request


@pytest.mark.parametrize(
    ("version", "accept"),
    [
        ((9, 2, 8), "application/vnd.elasticsearch+json; compatible-with=9"),
        ((8, 19, 21), "application/vnd.elasticsearch+json; compatible-with=8"),
        ((7, 17, 29), "application/vnd.elasticsearch+json; compatible-with=7"),
        ((7, 10, 2), "application/json"),
    ],
)
def test_media_types(version, accept):
    assert media_types(ServerInfo(version=version), client_major=9)[0] == accept


def test_old_server_gets_plain_json_and_passes_the_product_check(fakes):
    # A fake 7.10 server: it answers without the product header, as Elasticsearch did before 7.14.
    root = {**fakes.ES_ROOT, "version": {"number": "7.10.2", "build_flavor": "oss"}}

    def handler(method, path, body):
        if path.startswith("/_cluster/health"):
            return fakes.json_reply({"status": "green"}, product=False)
        return fakes.json_reply(root, product=False)

    seen: list[tuple[str, str, dict[str, str]]] = []
    with fakes.serve(handler, requests=seen) as url:
        es = fe.connect(url)
        assert fe.server_info(es) == ServerInfo(version=(7, 10, 2), build_flavor="oss")
        assert es.cluster.health()["status"] == "green"
        status, raw = raw_request(es.transport, "GET", "/_cluster/health", None)
        assert status == 200 and json.loads(raw)["status"] == "green"
    health = [h["accept"] for _, path, h in seen if path.startswith("/_cluster/health")]
    assert health == ["application/json", "application/json"]
    assert fe.server_info(es).has_pit is False and fe.server_info(es).has_composable_templates


def test_raw_request_needs_a_flowlab_client():
    from elasticsearch import Elasticsearch

    with pytest.raises(TypeError, match=r"flowlab\.elastic\.connect"):
        raw_request(Elasticsearch("http://127.0.0.1:1").transport, "GET", "/", None)


def test_error_helpers():
    assert redact_url("https://u:p@[::1]:9200/base/?x=1#f") == "https://[::1]:9200/base"
    body = {
        "error": {
            "root_cause": [
                {"type": "illegal_argument_exception", "reason": "Fielddata is disabled"}
            ],
            "type": "search_phase_execution_exception",
            "reason": "all shards failed",
        }
    }
    assert error_reason(body) == (
        "search_phase_execution_exception",
        "all shards failed: illegal_argument_exception: Fielddata is disabled",
    )
    assert error_reason({"error": "plain"}) == ("error", "plain")
    assert error_reason("text")[1] == "text"
